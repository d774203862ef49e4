"""The modules against real Go Raft nodes: a running node is never written or waited on, and what
raft_state_info reports on live files is what raft-boltdb reads."""

import contextlib
import fcntl
import os
import time

from ansible_collections.opstack.conductor.plugins.module_utils import _raft as raft
from ansible_collections.opstack.conductor.plugins.modules import raft_state, raft_state_info


def deploy(run_module, root, servers):
    nodes = {}
    for server in servers:
        path = os.path.join(str(root), server["id"])
        result = run_module(raft_state.main, dict(path=path, server_id=server["id"], servers=servers,
                                                  initial_leader=servers[0]["id"]))
        assert result["changed"] and result["action"] == "create"
        nodes[server["id"]] = path
    return nodes


@contextlib.contextmanager
def waits_recorded(monkeypatch):
    """Every flock call (its flags) and every sleep while the block runs: the only ways our code could wait."""
    calls = {"flock": [], "sleep": []}
    real_flock = fcntl.flock

    def flock(fd, operation):
        calls["flock"].append(operation)
        return real_flock(fd, operation)

    with monkeypatch.context() as patch:
        patch.setattr(fcntl, "flock", flock)
        patch.setattr(time, "sleep", calls["sleep"].append)
        yield calls


def test_running_node_locks_us_out_and_is_never_held_up(oracle, tmp_path, ports, run_module, monkeypatch):
    servers = [{"id": "n%d" % i, "address": "127.0.0.1:%d" % port} for i, port in enumerate(ports(3), 1)]
    nodes = deploy(run_module, tmp_path, servers)
    hold = oracle.ClusterHold("v2_3_1", nodes, "--apply", "5")
    with hold as ready:
        assert ready["ready"] and ready["leader"] in nodes
        node = nodes["n2"]
        grown = servers + [{"id": "n4", "address": "127.0.0.1:1"}]
        with waits_recorded(monkeypatch) as calls:
            refused = run_module(raft_state.main, dict(path=node, server_id="n2", servers=grown, force=True))
        # never held up: every flock tried without blocking, and nothing slept (counted, not timed)
        assert calls["flock"] and all(op & fcntl.LOCK_NB for op in calls["flock"]), calls
        assert calls["sleep"] == [], calls
        assert refused["failed"] and refused["locked"] and "op-conductor is running" in refused["msg"]
        assert not [entry for entry in os.listdir(str(tmp_path)) if "opstack" in entry or entry.endswith("~")]
        same = run_module(raft_state.main, dict(path=node, server_id="n2", servers=servers))
        assert not same["changed"] and same["locked"] and same["action"] == "live"
        info = run_module(raft_state_info.main, dict(path=node, expected_servers=servers))
        assert info["locked"] and info["drift"]["in_sync"] and info["last_index"] >= 6
        assert "best effort" in info["integrity"]["warnings"][0]
    # The cluster kept working while we looked, and shut down cleanly.
    assert hold.result["ok"], hold.result
    after = run_module(raft_state_info.main, dict(path=nodes["n2"]))
    assert not after["locked"] and after["integrity"]["ok"]


def test_info_module_on_go_written_live_files_equals_raft_boltdb(oracle, tmp_path, ports, run_module):
    servers = [{"id": "g%d" % i, "address": "127.0.0.1:%d" % port} for i, port in enumerate(ports(3), 1)]
    nodes = deploy(run_module, tmp_path, servers)
    oracle.run("v2_3_0", "grow", *oracle.node_args(nodes), "--entries", "600", "--size", "3000",
               "--snapshot-every", "250", "--trailing-logs", "50", "--timeout", "120", timeout=300)
    for node in nodes.values():
        go_read = oracle.run("v2_3_0", "read", node, "--summary")
        for verify in (True, False):
            info = run_module(raft_state_info.main, dict(path=node, verify=verify, expected_servers=servers))
            assert info["integrity"]["ok"], info["integrity"]["problems"]
            assert (info["first_index"], info["last_index"]) == (go_read["log"]["first_index"],
                                                                 go_read["log"]["last_index"])
            assert info["current_term"] == go_read["stable"]["CurrentTerm"]
            assert info["last_log_term"] == go_read["log"]["last_entry"]["Term"]
            assert [s["id"] for s in info["snapshots"]] == [s["ID"] for s in go_read["snapshots"]]
            newest = go_read["newest_configuration"]
            assert info["latest_configuration"]["index"] == newest["Index"]
            assert info["latest_configuration"]["source"] == newest["source"]
            assert info["drift"]["in_sync"]
        # And raft_state sees a node that has run with the same membership: left alone.
        again = run_module(raft_state.main, dict(path=node, server_id=os.path.basename(node), servers=servers))
        assert not again["changed"] and again["action"] == "live"
    assert os.path.isdir(os.path.join(nodes["g1"], raft.SNAPSHOT_DIR))
