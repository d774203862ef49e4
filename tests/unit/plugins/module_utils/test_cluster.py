"""Cluster spec validation: every refusal names the field and the value."""

import pytest

from ansible_collections.opstack.conductor.plugins.module_utils import _cluster as cluster
from ansible_collections.opstack.conductor.plugins.module_utils import _node_state as node_state


def servers(*ids, **suffrage):
    return [{"id": i, "address": "%s:50050" % i, "suffrage": suffrage.get(i.replace("-", "_"), "voter")}
            for i in ids]


def test_valid_spec_and_even_warning():
    spec, warnings = cluster.validate_cluster(servers("a", "b", "c"), "a", 3)
    assert [s.id for s in spec.servers] == ["a", "b", "c"] and spec.term == 3 and warnings == []
    warnings = cluster.validate_cluster(servers("a", "b"), None, 1)[1]
    assert warnings and "even" in warnings[0]


def test_more_than_nine_voters_warn_nonvoters_do_not_count():
    names = ["n%d" % i for i in range(1, 14)]
    nine_and_four = cluster.validate_cluster(servers(*names, n10="nonvoter", n11="nonvoter", n12="nonvoter",
                                                     n13="nonvoter"))[1]
    assert nine_and_four == []
    ten = cluster.validate_cluster(servers(*names[:10]))[1]
    assert len(ten) == 2 and "even number" in ten[0] and ten[1].startswith("10 voters: every commit")
    eleven = cluster.validate_cluster(servers(*names[:11]))[1]
    assert eleven == ["11 voters: every commit and every election waits for 6 of them; sequencer clusters run 3 "
                      "or 5 (nonvoters do not slow commits)"]


@pytest.mark.parametrize("bad_id", ["", "a/b", "..", ".hidden", "a\x00b", "tab\there", "x" * 256, "new\nline",
                                    " padded", "bidi\u202e"])
def test_unsafe_server_ids(bad_id):
    with pytest.raises(cluster.SpecError) as error:
        cluster.validate_cluster([{"id": bad_id, "address": "h:1"}])
    assert "servers[0].id" in str(error.value) and repr(bad_id) in str(error.value)


@pytest.mark.parametrize("address", ["h", "h:", ":1", "h:0", "h:65536", "h:port", "::1:50050", "[::1]",
                                     "[nothex]:1", "h :1", "h:+1", "h:01"])
def test_malformed_addresses(address):
    with pytest.raises(cluster.SpecError, match=r"servers\[0\]\.address"):
        cluster.validate_cluster([{"id": "a", "address": address}])


@pytest.mark.parametrize("address", ["h:1", "10.0.0.1:65535", "[::1]:50050", "[fe80::1%eth0]:50050",
                                     "seq.ns.svc.cluster.local:50050"])
def test_good_addresses(address):
    cluster.validate_cluster([{"id": "a", "address": address}])


def test_duplicates_including_case_and_address():
    with pytest.raises(cluster.SpecError, match="duplicates"):
        cluster.validate_cluster(servers("a", "A"))
    with pytest.raises(cluster.SpecError, match="already used by a"):
        cluster.validate_cluster([{"id": "a", "address": "h:1"}, {"id": "b", "address": "H:1"}])


def test_leader_term_and_voters():
    with pytest.raises(cluster.SpecError, match="initial_leader='z'"):
        cluster.validate_cluster(servers("a", "b", "c"), "z")
    with pytest.raises(cluster.SpecError, match="nonvoter"):
        cluster.validate_cluster(servers("a", "b", "c", c="nonvoter"), "c")
    with pytest.raises(cluster.SpecError, match="term=0"):
        cluster.validate_cluster(servers("a"), None, 0)
    with pytest.raises(cluster.SpecError, match="term"):
        cluster.validate_cluster(servers("a"), None, 1 << 64)
    with pytest.raises(cluster.SpecError, match="at least one server must be a voter"):
        cluster.validate_cluster(servers("a", a="nonvoter"))
    with pytest.raises(cluster.SpecError, match="suffrage"):
        cluster.validate_cluster(servers("a", a="staging"))
    with pytest.raises(cluster.SpecError, match="unknown keys"):
        cluster.validate_cluster([{"id": "a", "address": "h:1", "port": 1}])


def test_counts_must_match_like_op_conductor_init():
    with pytest.raises(cluster.SpecError, match="2 addresses for 3 server IDs"):
        cluster.servers_from_lists(["a:1", "b:1"], ["a", "b", "c"])


@pytest.mark.parametrize("page_size", [4096, 16384, 65536])
def test_node_databases_hold_the_op_conductor_init_content(tmp_path, page_size):
    spec = cluster.validate_cluster(servers("a", "b", "c", c="nonvoter"), "a", 9)[0]
    for server_id in ("a", "b", "c"):
        node = tmp_path / server_id
        node.mkdir()
        for name, data in cluster.node_databases(spec, server_id, page_size).items():
            (node / name).write_bytes(data)
        state = node_state.read_node_state(str(node), verify=True)
        assert state.integrity.ok, state.integrity.problems
        assert state.integrity.warnings == []
        assert (state.current_term, state.first_index, state.last_index, state.last_log_term) == (9, 1, 1, 9)
        assert state.page_size == page_size
        leader = server_id == "a"
        assert state.last_vote_term == (9 if leader else None)
        assert state.last_vote_candidate == ("a" if leader else None)
        assert state.latest_configuration.configuration == spec.configuration
        assert state.latest_configuration.index == 1


def test_node_databases_are_deterministic():
    spec = cluster.validate_cluster(servers("a", "b", "c"), "a", 1)[0]
    assert cluster.node_databases(spec, "b") == cluster.node_databases(spec, "b")
    with pytest.raises(cluster.SpecError, match="server_id='z'"):
        cluster.node_databases(spec, "z")


def test_configuration_warnings_name_undialable_addresses():
    from ansible_collections.opstack.conductor.plugins.module_utils import _raft as raft
    configuration = raft.Configuration((raft.Server("n1", "10.0.0.1:50050"), raft.Server("n2", "10.0.0.2"),
                                        raft.Server("n3", "::1:7"), raft.Server("n4", "[::1]:7")))
    assert cluster.configuration_warnings(configuration) == [
        "configuration server 'n2': address '10.0.0.2': must be host:port (as raft's TCP transport dials "
        "it); the other nodes may not reach it",
        "configuration server 'n3': address '::1:7': IPv6 addresses must be written in brackets, as [addr]:port "
        "(as raft's TCP transport dials it); the other nodes may not reach it"]
