"""opstack.conductor.cluster_members / cluster_self_check (issue 14 item 1): the member list the roles build from
hostvars, judged by module_utils' rules, with every problem at once, each naming the host and the inventory variable.
The inputs the issue lists (a 201-byte ID, an ID holding U+200B, the port 0080) passed the old Jinja and are pinned
here; the playbook test tests/playbooks/test_inventory_rules.py shows that nothing is written for them."""

import importlib

import pytest
from ansible.module_utils import _internal as module_internal


@pytest.fixture(scope="module")
def plugin():
    # The filter imports Ansible's controller (ansible.errors), which marks the process as the controller; module
    # tests running later in the same process would then lose their warnings. Put the flag back.
    was_controller = module_internal.is_controller
    try:
        module = importlib.import_module("ansible_collections.opstack.conductor.plugins.filter.cluster")
        from ansible.errors import AnsibleUndefinedVariable
    finally:
        module_internal.is_controller = was_controller
    module.AnsibleUndefinedVariable = AnsibleUndefinedVariable
    return module


class HostVars(dict):
    """hostvars of one host; a value set to UNRESOLVED raises as Ansible does for an undefined variable in it."""

    def __init__(self, error, **values):
        super().__init__(values)
        self.error = error

    def get(self, name, default=None):
        value = super().get(name, default)
        if value is UNRESOLVED:
            raise self.error("'no_such_variable' is undefined")
        return value


UNRESOLVED = object()


def members(plugin, hosts, **kwargs):
    hostvars = {host: HostVars(plugin.AnsibleUndefinedVariable, **values) for host, values in hosts.items()}
    kwargs.setdefault("reference_host", next(iter(hosts), ""))
    return plugin.cluster_members(hostvars, list(hosts), "sequencers", **kwargs)


def three(**overrides):
    hosts = {name: {"conductor_raft_address": "10.0.0.%d:50050" % number}
             for number, name in enumerate(("seq-a", "seq-b", "seq-c"), start=1)}
    for host, values in overrides.items():
        hosts[host.replace("_", "-")].update(values)
    return hosts


def test_a_valid_cluster_gives_the_member_list_and_the_first_voter_leads(plugin):
    out = members(plugin, three())
    assert out["problems"] == [] and out["warnings"] == []
    assert out["servers"] == [{"id": "seq-a", "address": "10.0.0.1:50050", "suffrage": "voter"},
                              {"id": "seq-b", "address": "10.0.0.2:50050", "suffrage": "voter"},
                              {"id": "seq-c", "address": "10.0.0.3:50050", "suffrage": "voter"}]
    assert out["members"][1] == {"host": "seq-b", "id": "seq-b", "address": "10.0.0.2:50050", "suffrage": "voter"}
    assert (out["initial_leader"], out["initial_leader_host"], out["term"]) == ("seq-a", "seq-a", 1)
    assert out["voters"] == ["seq-a", "seq-b", "seq-c"] and out["group"] == "sequencers"


def test_hosts_without_variables_get_the_role_defaults(plugin):
    out = members(plugin, {"n1": {}, "n2": {"conductor_server_id": "", "conductor_suffrage": None}, "n3": {}})
    assert out["problems"] == []
    assert out["servers"][1] == {"id": "n2", "address": "n2:50050", "suffrage": "voter"}


def test_a_201_byte_id_is_refused_and_200_bytes_are_not(plugin):
    out = members(plugin, three(seq_b={"conductor_server_id": "n" * 201}))
    assert out["problems"] == ["host seq-b: conductor_server_id='%s': longer than 200 bytes" % ("n" * 201)]
    assert members(plugin, three(seq_b={"conductor_server_id": "n" * 200}))["problems"] == []
    # bytes, not characters: 67 three-byte characters are 201 bytes
    assert "longer than 200 bytes" in members(plugin, three(seq_b={"conductor_server_id": "\u20ac" * 67}))[
        "problems"][0]


def test_an_id_holding_a_zero_width_space_is_refused(plugin):
    out = members(plugin, three(seq_c={"conductor_server_id": "seq\u200bc"}))
    assert out["problems"] == ["host seq-c: conductor_server_id='seq\\u200bc': contains the non-printable "
                               "character U+200B"]


@pytest.mark.parametrize("address", ["10.0.0.3:0080", "10.0.0.3:080", "10.0.0.3:65536", "10.0.0.3:0",
                                     "10.0.0.3", "fe80::1:50050", "10.0.0.3: 80"])
def test_addresses_the_modules_refuse_are_refused(plugin, address):
    out = members(plugin, three(seq_c={"conductor_raft_address": address}))
    assert len(out["problems"]) == 1, out["problems"]
    assert out["problems"][0].startswith("host seq-c: conductor_raft_address=%r: " % address)


def test_the_port_80_and_bracketed_ipv6_are_accepted(plugin):
    out = members(plugin, three(seq_b={"conductor_raft_address": "10.0.0.2:80"},
                                seq_c={"conductor_raft_address": "[2001:db8::1]:50050"}))
    assert out["problems"] == []


def test_every_problem_of_every_host_is_reported_at_once(plugin):
    out = members(plugin, three(seq_a={"conductor_server_id": "n" * 201},
                                seq_b={"conductor_server_id": "seq\u200bb", "conductor_suffrage": "observer"},
                                seq_c={"conductor_raft_address": "10.0.0.3:0080"}))
    assert [p.split(":")[0] + ":" + p.split(":")[1].split("=")[0] for p in out["problems"]] == [
        "host seq-a: conductor_server_id", "host seq-b: conductor_server_id", "host seq-b: conductor_suffrage",
        "host seq-c: conductor_raft_address"]
    assert "conductor_suffrage='observer': must be voter or nonvoter" in out["problems"][2]


def test_duplicate_ids_and_addresses_across_hosts_name_both_hosts(plugin):
    out = members(plugin, three(seq_b={"conductor_server_id": "node"},
                                seq_c={"conductor_server_id": "NODE", "conductor_raft_address": "10.0.0.2:50050"}))
    assert out["problems"] == [
        "host seq-c: conductor_server_id='NODE' duplicates host seq-b's 'node' (they differ only in case or Unicode "
        "normalisation, which collide on case- or normalisation-insensitive filesystems); every node needs its own "
        "ID (and its own directory)",
        "host seq-c: conductor_raft_address='10.0.0.2:50050' is also host seq-b's address"]
    # Unicode normalisation, as parse_servers folds it (the old Jinja compared lower() only): fullwidth N is N
    folded = members(plugin, three(seq_b={"conductor_server_id": "node"}, seq_c={"conductor_server_id": "\uff2eode"}))
    assert len(folded["problems"]) == 1 and "duplicates host seq-b's 'node'" in folded["problems"][0]
    exact = members(plugin, three(seq_b={"conductor_server_id": "seq-a"}))
    assert exact["problems"] == ["host seq-b: conductor_server_id='seq-a' duplicates host seq-a's 'seq-a'; every "
                                 "node needs its own ID (and its own directory)"]


def test_variables_that_cannot_be_resolved_are_reported_per_host_and_variable(plugin):
    out = members(plugin, three(seq_a={"conductor_raft_address": UNRESOLVED},
                                seq_c={"conductor_server_id": UNRESOLVED, "conductor_initial_term": UNRESOLVED}))
    assert out["problems"] == [
        "host seq-a: conductor_raft_address: cannot be resolved: 'no_such_variable' is undefined",
        "host seq-c: conductor_server_id: cannot be resolved: 'no_such_variable' is undefined",
        "host seq-c: conductor_initial_term: cannot be resolved: 'no_such_variable' is undefined"]


def test_an_initial_leader_not_in_the_group_is_refused(plugin):
    out = members(plugin, three(), initial_leader="seq-x")
    assert out["problems"] == ["conductor_initial_leader='seq-x': neither the server ID nor the host name of a host "
                               "of group sequencers (server IDs: seq-a, seq-b, seq-c)"]
    assert out["initial_leader"] is None


def test_the_initial_leader_by_server_id_or_host_name_and_never_a_nonvoter(plugin):
    hosts = three(seq_b={"conductor_server_id": "b-id"}, seq_c={"conductor_suffrage": "nonvoter"})
    assert members(plugin, hosts, initial_leader="b-id")["initial_leader_host"] == "seq-b"
    assert members(plugin, hosts, initial_leader="seq-b")["initial_leader"] == "b-id"
    out = members(plugin, hosts, initial_leader="seq-c")
    assert out["problems"] == ["conductor_initial_leader='seq-c': host seq-c is a nonvoter; only a voter can be the "
                               "initial leader"]


def test_an_empty_group_and_a_group_without_voters(plugin):
    assert members(plugin, {})["problems"] == ["conductor_group='sequencers': no such inventory group, or it has no "
                                               "hosts"]
    out = members(plugin, {"n1": {"conductor_suffrage": "nonvoter"}})
    assert out["problems"] == ["group sequencers: no host has conductor_suffrage=voter; a cluster needs at least "
                               "one voter"]


@pytest.mark.parametrize("term, problem", [
    (str((1 << 64) - 1), "must be between 1 and 2^63-1"), (0, "must be between 1"), ("-1", "must be an integer"),
    ("seven", "must be an integer"), (True, "must be an integer")])
def test_initial_terms_the_modules_refuse(plugin, term, problem):
    out = members(plugin, three(), term=term)
    assert len(out["problems"]) == 1 and out["problems"][0].startswith("conductor_initial_term=%s: " % term)
    assert problem in out["problems"][0]


def test_an_initial_term_from_extra_vars_is_an_integer(plugin):
    assert members(plugin, three(), term="7")["term"] == 7
    assert members(plugin, three(), term=str((1 << 63) - 1))["problems"] == []


def test_cluster_wide_settings_must_agree_between_hosts(plugin):
    out = members(plugin, three(seq_b={"conductor_initial_term": 2}, seq_c={"conductor_initial_leader": "seq-c"}),
                  initial_leader="seq-a", term=1)
    assert out["problems"] == [
        "host seq-b: conductor_initial_term='2', but this run uses '1' (from host seq-a); it is cluster-wide and "
        "must be the same on every host of group sequencers",
        "host seq-c: conductor_initial_leader='seq-c', but this run uses 'seq-a' (from host seq-a); it is "
        "cluster-wide and must be the same on every host of group sequencers"]


def test_layout_warnings_come_from_module_utils(plugin):
    out = members(plugin, {"n%d" % i: {} for i in range(4)})
    assert out["problems"] == [] and len(out["warnings"]) == 1
    assert out["warnings"][0].startswith("group sequencers: 4 voters: an even number of voters")


def test_self_check(plugin):
    cluster = members(plugin, three())
    assert plugin.cluster_self_check(cluster, "seq-b", "seq-b", "10.0.0.2:50050", "voter") == []
    assert plugin.cluster_self_check(cluster, "other", "x", "x:1", "voter") == [
        "host other is not in group sequencers; run the play on the hosts of conductor_group only."]
    moved = plugin.cluster_self_check(cluster, "seq-b", "seq-b", "10.0.0.9:50050", "voter")
    assert len(moved) == 1 and "this play sees conductor_server_id=seq-b, conductor_raft_address=10.0.0.9:50050" \
        in moved[0] and "has seq-b, 10.0.0.2:50050, voter" in moved[0]


def test_the_filters_are_registered(plugin):
    assert set(plugin.FilterModule().filters()) >= {"cluster_members", "cluster_self_check"}
