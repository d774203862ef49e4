"""raft_cluster_state (issue 15 item 1): the generate playbook's one module run. Every node decided as raft_state
decides one before anything is written; one refusal, one build failure, one busy node or check mode writes
nothing; departed nodes refused without force and kept aside with it; cluster.json written only when it changes."""

import json
import os
import re

import pytest

from ansible_collections.opstack.conductor.plugins.module_utils import _bbolt as bolt
from ansible_collections.opstack.conductor.plugins.module_utils import _cluster as cluster
from ansible_collections.opstack.conductor.plugins.module_utils import _fs as fs
from ansible_collections.opstack.conductor.plugins.module_utils import _node_state as node_state
from ansible_collections.opstack.conductor.plugins.modules import raft_cluster_state
from ansible_collections.opstack.conductor.tests.support.fs import tree

IDS = ["seq-a", "seq-b", "seq-c"]
NODES = ["127.0.0.1:57201", "127.0.0.1:57202", "127.0.0.1:57203"]


def options(out, **extra):
    return dict(dict(output_dir=str(out), nodes=NODES, server_ids=IDS, initial_leader="seq-b"), **extra)


def write_other_cluster(out, server_id):
    """A node directory holding a different cluster's state (another address for every server)."""
    spec = cluster.validate_cluster([{"id": i, "address": "10.9.9.%d:50050" % n} for n, i in enumerate(IDS, 1)])[0]
    node = out / server_id
    node.mkdir(parents=True)
    for name, data in cluster.node_databases(spec, server_id).items():
        (node / name).write_bytes(data)


def test_writes_every_node_and_cluster_json_then_a_rerun_changes_nothing(tmp_path, run_module):
    out = tmp_path / "out"
    result = run_module(raft_cluster_state.main, options(out, network="op-sepolia"))
    assert result["changed"] and [n["action"] for n in result["nodes"]] == ["create"] * 3, result
    assert sorted(os.listdir(out)) == ["cluster.json"] + IDS  # no lock, staging or probe left behind
    for server_id, address in zip(IDS, NODES):
        state = node_state.read_node_state(str(out / server_id), verify=True)
        assert state.integrity.ok and state.current_term == 1
        assert [s.address for s in state.latest_configuration.configuration.servers] == NODES
        assert state.last_vote_candidate == ("seq-b" if server_id == "seq-b" else None)
    record = json.loads((out / "cluster.json").read_text())
    assert record == {"format": 1, "generated_by": "opstack.conductor.generate", "network": "op-sepolia",
                      "initial_leader": "seq-b", "initial_term": 1,
                      "servers": [{"id": i, "address": a, "suffrage": "voter"} for i, a in zip(IDS, NODES)]}
    assert result["cluster_json"]["changed"]
    before = tree(out)
    again = run_module(raft_cluster_state.main, options(out, network="op-sepolia"))
    assert not again["changed"] and not again["cluster_json"]["changed"], again
    assert [n["action"] for n in again["nodes"]] == ["unchanged"] * 3
    assert tree(out) == before


def test_one_refused_node_means_no_node_is_written(tmp_path, run_module):
    out = tmp_path / "out"
    write_other_cluster(out, "seq-c")  # the last node: the first two would be written by a node-by-node loop
    before = tree(out)
    result = run_module(raft_cluster_state.main, options(out))
    assert result.get("failed"), result
    assert result["msg"].startswith("Nothing was written to %s, because: %s: " % (out, out / "seq-c")), result
    assert "refusing to replace it without force=true" in result["msg"]
    assert tree(out) == before  # not seq-a, not seq-b, not cluster.json

    forced = run_module(raft_cluster_state.main, options(out, force=True))
    assert [n["action"] for n in forced["nodes"]] == ["create", "create", "replace"], forced
    kept = forced["nodes"][2]["backup_dir"]
    assert tree(kept) == {k.split("/", 1)[1]: v for k, v in before.items() if "/" in k}  # the old state, whole


def test_a_build_that_fails_removes_every_build_and_writes_no_node(tmp_path, run_module, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    real_build = fs.build_directory
    calls = []

    def failing_third(*args, **kwargs):
        calls.append(args[0])
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real_build(*args, **kwargs)

    monkeypatch.setattr(fs, "build_directory", failing_third)
    result = run_module(raft_cluster_state.main, options(out))
    assert result.get("failed") and "No space left on device" in result["msg"], result
    assert result["msg"].startswith("Nothing was written to %s" % out)
    assert len(calls) == 3 and os.listdir(out) == [], os.listdir(out)  # the two builds made were removed too


def test_check_mode_writes_nothing_not_even_the_output_directory(tmp_path, run_module):
    out = tmp_path / "out"
    result = run_module(raft_cluster_state.main, options(out), check_mode=True)
    assert result["changed"] and [n["action"] for n in result["nodes"]] == ["create"] * 3, result
    assert result["nodes"][0]["msg"].startswith("would create the Raft state of seq-a")
    assert result["cluster_json"]["changed"] and not out.exists()

    run_module(raft_cluster_state.main, options(out))
    write_other = tree(out)
    result = run_module(raft_cluster_state.main, options(out, server_ids=["seq-a", "seq-b"], nodes=NODES[:2],
                                                         force=True), check_mode=True)
    assert result["changed"] and [r["path"] for r in result["removed"]] == [str(out / "seq-c")], result
    assert tree(out) == write_other


def test_a_node_whose_run_lock_is_held_stops_the_run_before_anything_is_written(tmp_path, run_module, holder):
    out = tmp_path / "out"
    out.mkdir()
    held = holder(fs.run_lock_path(str(out / "seq-b")))
    before = tree(out)
    result = run_module(raft_cluster_state.main, options(out))
    assert result.get("failed") and "is busy: another run" in result["msg"] and str(held.pid) in result["msg"]
    assert tree(out) == before
    held.release()
    assert run_module(raft_cluster_state.main, options(out))["changed"]


def test_a_departed_node_is_refused_without_force_and_kept_aside_with_it(tmp_path, run_module):
    out = tmp_path / "out"
    run_module(raft_cluster_state.main, options(out))
    before = tree(out)
    smaller = options(out, server_ids=IDS[:2], nodes=NODES[:2])
    refused = run_module(raft_cluster_state.main, smaller)
    assert refused.get("failed") and "%s: this node is not in the cluster any more" % (out / "seq-c") \
        in refused["msg"], refused
    assert tree(out) == before
    forced = run_module(raft_cluster_state.main, dict(smaller, force=True))
    assert forced["changed"] and forced["removed"][0]["backup_dir"].startswith(str(out / "seq-c.")), forced
    assert not (out / "seq-c").exists() and json.loads((out / "cluster.json").read_text())["servers"][-1]["id"] \
        == "seq-b"
    again = run_module(raft_cluster_state.main, dict(smaller, force=True))
    assert not again["changed"] and again["removed"] == [], again


def test_a_swap_that_fails_names_the_nodes_already_written_and_leaves_no_build(tmp_path, run_module, monkeypatch):
    out = tmp_path / "out"
    real_replace = fs.replace_directory
    calls = []

    def failing_second(path, staging, keep_old, **kwargs):
        calls.append(path)
        if len(calls) == 2:
            raise fs.NodeBusy("%s: op-conductor is starting on this node" % path)
        return real_replace(path, staging, keep_old, **kwargs)

    monkeypatch.setattr(fs, "replace_directory", failing_second)
    result = run_module(raft_cluster_state.main, options(out))
    assert result.get("failed") and result["changed"], result
    assert "written before it: seq-a; not written: it and the nodes after it" in result["msg"], result
    assert sorted(os.listdir(out)) == ["seq-a"]


@pytest.mark.parametrize("change, message", [
    (dict(server_ids=["seq-a", "seq/b", "seq-c"]), "server_ids: ID 'seq/b': contains a path separator"),
    (dict(nodes=["127.0.0.1:1", "no-port", "127.0.0.1:3"]), "nodes: address 'no-port': must be host:port"),
    (dict(nodes=NODES[:2]), "nodes has 2 address(es) but server_ids has 3 ID(s)"),
    (dict(initial_term=1 << 63), "initial_term=%d: must be between 1 and 2^63-1" % (1 << 63)),
    (dict(initial_leader="seq-x"), "initial_leader='seq-x': is not one of server_ids (seq-a, seq-b, seq-c)"),
    # The generate playbook passes what -e or OP_CONDUCTOR_INIT_* gave, unchecked: empty is refused here, named.
    (dict(nodes=""), "nodes is required: the nodes' Raft addresses (host:port), comma-separated, in the order of "
                     "server_ids (op-conductor-init --nodes, OP_CONDUCTOR_INIT_NODES)"),
    (dict(nodes=" , ", server_ids=""), "nodes is required"),
    (dict(server_ids=[" "]), "server_ids is required: the server IDs, comma-separated, in the order of nodes "
                             "(op-conductor-init --server-ids, OP_CONDUCTOR_INIT_SERVER_IDS)"),
    (dict(initial_leader=""), "initial_leader is required: the server ID that records a vote for itself, one of "
                              "server_ids (op-conductor-init --initial-leader, OP_CONDUCTOR_INIT_INITIAL_LEADER)"),
    (dict(initial_term="seven"), "initial_term"),
    (dict(output_dir=""), "output_dir"),
])
def test_bad_options_are_named_in_op_conductor_init_terms_and_nothing_is_made(tmp_path, run_module, change,
                                                                              message):
    out = tmp_path / "out"
    result = run_module(raft_cluster_state.main, options(out, **change))
    assert result.get("failed") and message in result["msg"] and result["msg"].count(message) == 1, result
    assert not out.exists()


def test_comma_separated_lists_are_trimmed_as_op_conductor_init_reads_them(tmp_path, run_module):
    out = tmp_path / "out"
    result = run_module(raft_cluster_state.main, options(out, nodes=" , ".join(NODES) + ",", server_ids="seq-a, seq-b ,seq-c"))
    assert [node["server_id"] for node in result["nodes"]] == IDS and not result.get("failed"), result
    assert json.loads((out / "cluster.json").read_text())["servers"][2]["address"] == NODES[2]


def recording(real, calls):
    """``real`` (os.listdir, os.fsync), appending its first argument to ``calls`` at each call."""
    def record(*args):
        target = args[0] if args else "."
        calls.append(target if isinstance(target, int) else os.fspath(target))  # a descriptor, or a path
        return real(*args)
    return record


def cluster_of(out, count, network=1, **extra):
    """``count`` nodes seq-000... at 127.0.0.<network>:<port> (another network: every node's state differs)."""
    ids = ["seq-%03d" % number for number in range(count)]
    return dict(dict(output_dir=str(out), server_ids=ids, initial_leader=ids[0],
                     nodes=["127.0.0.%d:%d" % (network, 50000 + number) for number in range(count)]), **extra)


def test_one_listing_of_the_storage_directory_serves_every_node(tmp_path, run_module, monkeypatch):
    """Issue 15: each node's look for leftovers, unfinished deletions and kept directories listed the whole storage
    directory again (N listings of some 2N entries: quadratic, and felt at 101 nodes). The count of listings of the
    storage directory must not grow with the node count, and what the listings are for still works: a stale build
    and an unfinished deletion are cleaned up, kept directories beyond keep_backups pruned."""
    listings, results = {}, {}
    real_listdir = os.listdir
    for count in (4, 16):
        out = tmp_path / str(count)
        run_module(raft_cluster_state.main, cluster_of(out, count))
        (out / ".seq-001.opstack-new-0123456789ab").mkdir()
        (out / ".deleting-seq-002.4242.2026-01-01@00:00:00~").mkdir()
        listed = []
        monkeypatch.setattr(os, "listdir", recording(real_listdir, listed))
        results[count] = [run_module(raft_cluster_state.main, cluster_of(out, count)),
                          run_module(raft_cluster_state.main, cluster_of(out, count, 2, force=True, keep_backups=1)),
                          run_module(raft_cluster_state.main, cluster_of(out, count, 3, force=True, keep_backups=1))]
        monkeypatch.setattr(os, "listdir", real_listdir)
        listings[count] = listed.count(str(out))
        rerun, _first_replace, second_replace = results[count]
        assert rerun["nodes"][1]["recovered"]["removed"] == [str(out / ".seq-001.opstack-new-0123456789ab")], rerun
        assert rerun["nodes"][2]["recovered"]["removed"] == [
            str(out / ".deleting-seq-002.4242.2026-01-01@00:00:00~")], rerun
        assert [len(node["removed_backups"]) for node in second_replace["nodes"]] == [1] * count, second_replace
        assert sorted(name for name in os.listdir(out) if name.endswith("~")) == sorted(
            os.path.basename(node["backup_dir"]) for node in second_replace["nodes"])
    assert listings[4] == listings[16], listings


def fsyncs_per_node(tmp_path, run_module, monkeypatch, **extra):
    """fsync calls one more node costs, create and replace (force, keeping backups): runs of 4 and 8 nodes."""
    per_node = {}
    real_fsync = os.fsync
    for case in ("create", "replace"):
        counts = {}
        for count in (4, 8):
            out = tmp_path / ("%s-%d" % (case, count))
            if case == "replace":
                run_module(raft_cluster_state.main, cluster_of(out, count))
            calls = []
            monkeypatch.setattr(os, "fsync", recording(real_fsync, calls))
            result = run_module(raft_cluster_state.main, cluster_of(out, count, 2, force=True, **extra))
            monkeypatch.setattr(os, "fsync", real_fsync)
            assert [node["action"] for node in result["nodes"]] == [case] * count, result
            counts[count] = len(calls)
        per_node[case] = (counts[8] - counts[4]) / 4
    return per_node


def test_generate_fsyncs_per_node_only_what_the_swap_needs(tmp_path, run_module, monkeypatch):
    """Issue 15: per node, the two database files (data, owner and mode), the build's directory (its entries,
    before the rename publishes it) and the storage directory after the node's rename (inside the swap guard, so
    no op-conductor runs on a node whose name a power loss could take back; test_durability audits the rules).
    The rename of each replaced state to its backup name needs no fsync of its own: the storage directory is
    fsynced once after the last swap, before any backup is reported (a power loss before it leaves an
    opstack-old sibling the next run keeps as a backup). That was one fsync more per replaced node."""
    assert fsyncs_per_node(tmp_path, run_module, monkeypatch) == {"create": 4, "replace": 4}


def counting(real, calls):
    """``real``, appending its arguments to ``calls`` at each call."""
    def count(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)
    return count


def test_per_node_work_is_only_the_node_own(tmp_path, run_module, monkeypatch):
    """Issue 15, generate at 101 nodes: work repeated per node that every node shares. Counted for 4 and 16 nodes:
    - the databases built: every node starts from the same log and the stable files differ only by the leader's
      vote, so a cluster is 3 databases (it was 2 per node);
    - regular expressions compiled: none per node (a kept-directory pattern was compiled for each node);
    - nodes decoded by a rerun: none, their files are byte for byte what the spec builds (each node's two files
      were decoded and checked)."""
    counts = {}
    real_build, real_compile, real_read = bolt.build_database, re.compile, node_state.read_node_state
    for count in (4, 16):
        out, builds, compiled, reads = tmp_path / str(count), [], [], []
        monkeypatch.setattr(bolt, "build_database", counting(real_build, builds))
        monkeypatch.setattr(re, "compile", counting(real_compile, compiled))
        options = cluster_of(out, count, initial_term=424200 + count)  # a term of its own: no database built before
        first = run_module(raft_cluster_state.main, options)
        monkeypatch.setattr(node_state, "read_node_state", counting(real_read, reads))
        rerun = run_module(raft_cluster_state.main, options)
        monkeypatch.undo()
        assert [node["action"] for node in first["nodes"]] == ["create"] * count, first
        assert [node["action"] for node in rerun["nodes"]] == ["unchanged"] * count, rerun
        counts[count] = dict(builds=len(builds), compiled=len(compiled), reads=len(reads))
    assert counts[4] == counts[16] and counts[4]["builds"] == 3 and counts[4]["reads"] == 0, counts
