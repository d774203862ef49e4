"""raft_recover against the real raft.RecoverCluster (issue 16, item 2).

The node directories are made by a real Raft node running op-conductor's own FSM (the ``raftrecover`` harness,
tests/e2e/opconductor/cmd/raftrecover, built against the pinned optimism v1.19.0: hashicorp/raft v1.7.3,
raft-boltdb v2, FileSnapshotStore retaining one snapshot, the TCP transport) applying SSZ execution payload
envelopes: log only, snapshot + log, snapshot only, a compacted log, V4 heads op-conductor persists as V3. Two
copies of each: our module recovers one, Go's RecoverCluster the other, with the same configuration (non-voters
included). The results must be logically identical: one snapshot each, meta.json equal but for the ID's time,
state.bin byte for byte, an empty log, our raft-stable.db byte-identical to the original (Go's with the same
content). Then a real Raft node with op-conductor's FSM starts from ours, elects itself and holds the head.
"""

import json
import os
import shutil

import pytest

from ansible_collections.opstack.conductor.plugins.module_utils import _bbolt as bolt
from ansible_collections.opstack.conductor.plugins.module_utils import _raft as raft
from ansible_collections.opstack.conductor.plugins.modules import raft_recover
from ansible_collections.opstack.conductor.tests.support import nodes
from ansible_collections.opstack.conductor.tests.support import recovery as rec
from ansible_collections.opstack.conductor.tests.support.fs import tree
from ansible_collections.opstack.conductor.tests.support.net import free_port

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def harness():
    return rec.harness_binary()


def produce(harness, work, numbers, snapshot_after=0, trailing_logs=10240, **envelope_args):
    """n1, seeded as raft_state seeds a one-voter cluster, after a real run that applied these blocks."""
    port = free_port()
    spec = nodes.loopback_spec(ids=("n1",), ports=[port])
    node = nodes.write_node(os.path.join(work, "made", "n1"), spec, "n1")
    apply = rec.write_json(os.path.join(work, "apply.json"),
                           rec.b64_list([rec.envelope(number, **envelope_args) for number in numbers]))
    code, out, err = rec.run_harness(harness, "elect", "--dir", node, "--id", "n1", "--bind", "127.0.0.1:%d" % port,
                                     "--apply", apply, "--snapshot-after", snapshot_after,
                                     "--trailing-logs", trailing_logs)
    assert code == 0, err[-2000:]
    assert (out["head"] or {}).get("block_number") == (max(numbers) if numbers else None)
    return node, "127.0.0.1:%d" % port


def copies(node, work):
    made = {}
    for side in ("ours", "go"):
        made[side] = os.path.join(work, side, "n1")
        shutil.copytree(node, made[side])
    return made


def go_recover(harness, node, servers, work):
    config = rec.write_json(os.path.join(work, "config.json"), servers)
    return rec.run_harness(harness, "recover", "--dir", node, "--id", "n1", "--config", config)


def only_snapshot(node):
    (name,) = os.listdir(os.path.join(node, raft.SNAPSHOT_DIR))
    directory = os.path.join(node, raft.SNAPSHOT_DIR, name)
    with open(os.path.join(directory, "meta.json"), "rb") as handle:
        meta = handle.read()
    with open(os.path.join(directory, "state.bin"), "rb") as handle:
        return name, meta, handle.read()


def assert_same_recovery(original, ours, go):
    our_name, our_meta, our_state = only_snapshot(ours)
    go_name, go_meta, go_state = only_snapshot(go)
    assert our_name.rsplit("-", 1)[0] == go_name.rsplit("-", 1)[0]  # <term>-<index>, the time aside
    assert our_meta.replace(our_name.encode(), b"ID") == go_meta.replace(go_name.encode(), b"ID")  # byte for byte
    assert our_state == go_state
    for node in (ours, go):
        assert bolt.read_database(os.path.join(node, raft.LOG_FILE))[raft.BUCKET_LOGS] == {}
    with open(os.path.join(original, raft.STABLE_FILE), "rb") as before, \
            open(os.path.join(ours, raft.STABLE_FILE), "rb") as after:
        assert before.read() == after.read()
    assert bolt.read_database(os.path.join(go, raft.STABLE_FILE)) == \
        bolt.read_database(os.path.join(original, raft.STABLE_FILE))
    return json.loads(our_meta), our_state


def elect(harness, node, address):
    code, out, err = rec.run_harness(harness, "elect", "--dir", node, "--id", "n1", "--bind", address)
    assert code == 0, err[-2000:]
    assert out["leader"] == "n1"
    return out


# (label, blocks applied, snapshot after the k-th, TrailingLogs, envelope arguments)
CASES = [
    ("log-only", (1, 2, 3, 5, 4, 5), 0, 10240, {}),
    ("snapshot-and-log", (1, 2, 3, 4, 6, 5, 7), 4, 10240, {}),
    ("snapshot-only", (1, 2, 3, 4), 4, 0, {}),
    ("compacted", tuple(range(1, 13)), 8, 3, {}),
    ("v4-as-v3", (3, 4, 5), 2, 10240, {"empty_withdrawals_root": True}),
]


@pytest.mark.parametrize("label, numbers, snapshot_after, trailing, envelope_args", CASES, ids=[c[0] for c in CASES])
def test_ours_and_recover_cluster_leave_the_same_state(harness, run_module, tmp_path, label, numbers,
                                                       snapshot_after, trailing, envelope_args):
    work = str(tmp_path)
    original, address = produce(harness, work, numbers, snapshot_after, trailing, **envelope_args)
    made = copies(original, work)
    servers = [{"id": "n1", "address": address, "suffrage": "voter"},
               {"id": "n2", "address": "127.0.0.1:%d" % free_port(), "suffrage": "nonvoter"}]
    result = run_module(raft_recover.main, dict(path=made["ours"], servers=servers, backup=False))
    assert result["changed"] and result["action"] == "recover", result
    code, _out, err = go_recover(harness, made["go"], servers, work)
    assert code == 0, err[-2000:]
    meta, state = assert_same_recovery(original, made["ours"], made["go"])
    assert meta["Configuration"]["Servers"][1] == {"Suffrage": 1, "ID": "n2", "Address": servers[1]["address"]}
    assert (meta["Index"], meta["Term"]) == (result["last_index"], result["last_term"])
    expected = rec.envelope(max(numbers), **envelope_args)
    assert result["head"]["block_number"] == max(numbers)
    assert result["head"]["block_hash"] == rec.block_hash_hex(expected)
    assert len(state) == len(expected) - (32 if envelope_args else 0)  # V4 with the empty root: persisted as V3
    ran = elect(harness, made["ours"], address)
    assert ran["head"] == {"block_number": max(numbers), "block_hash": rec.block_hash_hex(expected)}
    assert ran["servers"] == servers
    assert ran["last_index"] > meta["Index"]  # it appended after the snapshot: the cluster runs on


def test_a_recovered_node_is_recovered_again_identically(harness, run_module, tmp_path):
    """Recovering the result once more (another configuration) matches Go doing the same to Go's result."""
    work = str(tmp_path)
    original, address = produce(harness, work, (1, 2, 3), 2)
    made = copies(original, work)
    first = [{"id": "n1", "address": address}]
    assert run_module(raft_recover.main, dict(path=made["ours"], servers=first, backup=False))["changed"]
    assert go_recover(harness, made["go"], first, work)[0] == 0
    # the Go result is already recovered to this configuration for us too
    assert run_module(raft_recover.main, dict(path=made["go"], servers=first))["action"] == "unchanged"
    second = first + [{"id": "n3", "address": "127.0.0.1:%d" % free_port(), "suffrage": "nonvoter"}]
    assert run_module(raft_recover.main, dict(path=made["ours"], servers=second, backup=False))["changed"]
    assert go_recover(harness, made["go"], second, work)[0] == 0
    assert_same_recovery(original, made["ours"], made["go"])


def test_an_empty_fsm_panics_go_and_is_refused_by_us(harness, run_module, tmp_path):
    """Go's RecoverCluster on a node whose FSM holds no head: Persist panics and a .tmp snapshot stays behind.
    Ours refuses first and leaves the node as it was."""
    work = str(tmp_path)
    original, address = produce(harness, work, (), 0)
    made = copies(original, work)
    servers = [{"id": "n1", "address": address}]
    before = tree(made["ours"])
    result = run_module(raft_recover.main, dict(path=made["ours"], servers=servers))
    assert result["failed"] and "FSM is empty" in result["msg"] and "re-seed" in result["msg"]
    assert tree(made["ours"]) == before
    code, out, _err = go_recover(harness, made["go"], servers, work)
    assert code == 2 and "nil pointer" in out["panic"]
    assert [name for name in os.listdir(os.path.join(made["go"], raft.SNAPSHOT_DIR)) if name.endswith(".tmp")]


def test_no_state_is_refused_by_both(harness, run_module, tmp_path):
    """Go creates empty stores before it refuses; ours refuses and creates nothing."""
    work = str(tmp_path)
    made = {side: os.path.join(work, side, "n1") for side in ("ours", "go")}
    for node in made.values():
        os.makedirs(node)
    servers = [{"id": "n1", "address": "127.0.0.1:%d" % free_port()}]
    result = run_module(raft_recover.main, dict(path=made["ours"], servers=servers))
    assert result["failed"] and "no existing Raft state" in result["msg"]
    assert os.listdir(made["ours"]) == []
    code, _out, err = go_recover(harness, made["go"], servers, work)
    assert code == 1 and "refused to recover cluster with no initial state" in err
    assert sorted(os.listdir(made["go"])) == ["raft-log.db", "raft-stable.db", "snapshots"]


def test_a_three_node_cluster_recovered_on_both_survivors_runs_again(harness, run_module, tmp_path):
    """Mode ``all``: a real three-node cluster sequences (a snapshot on every node midway), n3 is lost for good;
    n1 and n2 are recovered to [n1, n2] by us (and copies by Go, which must agree), and start as a cluster again:
    one leader, both holding the last head."""
    work = str(tmp_path)
    ports = [free_port() for _port in range(3)]
    spec = nodes.loopback_spec(ids=("n1", "n2", "n3"), ports=ports)
    made = nodes.write_cluster(os.path.join(work, "made"), spec)
    addresses = {server.id: server.address for server in spec.servers}
    numbers = (1, 2, 3, 4, 6, 5)
    apply = rec.write_json(os.path.join(work, "apply.json"), rec.b64_list([rec.envelope(n) for n in numbers]))
    members = ["--node=%s=%s@%s" % (sid, made[sid], addresses[sid]) for sid in ("n1", "n2", "n3")]
    code, out, err = rec.run_harness(harness, "cluster", *members, "--apply", apply, "--snapshot-after", 3)
    assert code == 0, err[-2000:]
    assert all(node["head"]["block_number"] == 6 for node in out["nodes"]), out
    servers = [{"id": sid, "address": addresses[sid], "suffrage": "voter"} for sid in ("n1", "n2")]
    ours = {}
    for sid in ("n1", "n2"):
        both = {side: os.path.join(work, side, sid) for side in ("ours", "go")}
        for path in both.values():
            shutil.copytree(made[sid], path)
        assert run_module(raft_recover.main, dict(path=both["ours"], servers=servers, backup=False))["changed"]
        code, _out, err = rec.run_harness(harness, "recover", "--dir", both["go"], "--id", sid, "--config",
                                          rec.write_json(os.path.join(work, "config.json"), servers))
        assert code == 0, err[-2000:]
        assert_same_recovery(made[sid], both["ours"], both["go"])
        ours[sid] = both["ours"]
    assert only_snapshot(ours["n1"])[2] == only_snapshot(ours["n2"])[2]  # the same head on both
    members = ["--node=%s=%s@%s" % (sid, ours[sid], addresses[sid]) for sid in ("n1", "n2")]
    code, out, err = rec.run_harness(harness, "cluster", *members)
    assert code == 0, err[-2000:]
    assert out["leader"] in ("n1", "n2")
    expected = {"block_number": 6, "block_hash": rec.block_hash_hex(rec.envelope(6))}
    assert [node["head"] for node in out["nodes"]] == [expected, expected]


def test_a_node_a_real_raft_runs_on_is_refused_and_untouched(oracle, harness, run_module, tmp_path):
    """A real Raft node (the oracle's, raft-boltdb holding the bbolt locks as op-conductor does) runs on the
    directory: raft_recover refuses at once, in check mode too, and changes nothing."""
    work = str(tmp_path)
    node, address = produce(harness, work, (1, 2), 0)
    with oracle.ClusterHold("v2_3_1", {"n1": node}, "--apply", "0") as ready:
        assert ready["ready"] and ready["leader"] == "n1"
        before = tree(os.path.dirname(node))
        for check_mode in (True, False):
            result = run_module(raft_recover.main, dict(path=node, servers=[{"id": "n1", "address": address}]),
                                check_mode=check_mode)
            assert result["failed"] and result["locked"] and result["action"] == "refuse", result
            assert "op-conductor is running on this node" in result["msg"]
        assert tree(os.path.dirname(node)) == before
