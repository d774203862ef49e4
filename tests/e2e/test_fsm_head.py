"""raft_state_info's fsm_head on node directories the real op-conductor wrote (issue 16 item 1): after the stub's
op-node committed blocks through the leader (conductor_commitUnsafePayload, Isthmus envelopes), the FSM head read
offline from every stopped node is the last payload op-conductor committed; with raft snapshots taken every few
entries, also through the state.bin op-conductor's FSM persisted. fsmoracle (op-conductor's FSM fed by raft-boltdb
and the FileSnapshotStore) replays the same directories to the same head."""

import pytest

from harness import IDS, wait_until

from ansible_collections.opstack.conductor.tests.interop.fsm_oracle import FsmOracle


@pytest.mark.parametrize("snapshots", [False, True], ids=["log-only", "snapshots-and-log"])
def test_fsm_head_offline_is_the_last_payload_op_conductor_committed(make_cluster, module, snapshots):
    extra = ("--raft.snapshot-threshold=3", "--raft.snapshot-interval=1s", "--raft.trailing-logs=1") if snapshots \
        else ()
    # The leader must keep leading while it commits (its paused conductor never moves the sequencer: a leadership
    # change would stall the chain, not test the FSM); op-conductor's default Raft timings, not the harness's
    # 500ms/250ms, so that a loaded machine's scheduling delays do not expire the lease (as tests/ssh does).
    c = make_cluster(extra_args=extra, heartbeat="1s", lease="500ms")
    nodes = c.module_nodes()
    leader = c.wait_leader()
    sequencer = dict(node_rpc_url=c.stubs.node_url(leader), conductor_url=c.nodes[leader].rpc_url, nodes=nodes)
    assert module("op_node_sequencer", dict(sequencer, state="active"))["changed"]
    wait_until(lambda: c.stubs.chain.head()["number"] >= 8, 60, what="eight blocks committed through the leader")
    assert module("op_node_sequencer", dict(sequencer, state="stopped"))["changed"]
    committed = [call for call in c.stubs.calls("conductor_commitUnsafePayload") if "result" in call]
    last = max(committed, key=lambda call: call["params"][0])
    assert not [call for call in c.stubs.calls("conductor_commitUnsafePayload") if "error" in call]
    for sid in IDS:
        c.stop(sid)
    infos = {sid: module("raft_state_info", dict(path=str(c.nodes[sid].node_dir))) for sid in IDS}
    heads = {sid: info["fsm_head"] for sid, info in infos.items()}
    expected = {"block_number": last["params"][0], "block_hash": last["result"]}
    assert {key: heads[leader][key] for key in expected} == expected, heads
    assert c.stubs.chain.block(expected["block_number"])["hash"] == expected["block_hash"]
    # a majority holds the last committed entry; no node holds a block the leader did not commit
    assert sum({key: head[key] for key in expected} == expected for head in heads.values()) >= 2, heads
    assert all(head["block_number"] <= expected["block_number"] for head in heads.values()), heads
    for info in infos.values():
        assert info["integrity"]["ok"] and not [w for w in info["integrity"]["warnings"] if "FSM" in w], info
        assert "fsm_error" not in info
    # op-conductor's own FSM, fed by raft-boltdb and the snapshot store from copies of the same directories
    oracle = FsmOracle.build()
    for sid in IDS:
        go = oracle.head(c.nodes[sid].node_dir)
        assert go["error"] is None and go["head"] == heads[sid] and go["skipped"] == [], (sid, go, heads[sid])
    if snapshots:
        assert all(info["snapshots"] for info in infos.values()), infos
        assert all(info["first_index"] > 1 for info in infos.values())  # compacted: the log alone cannot tell
