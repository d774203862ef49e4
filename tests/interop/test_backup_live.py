"""Backup and restore of live state made by a real Raft cluster: nothing committed is lost."""

import os
import shutil

from ansible_collections.opstack.conductor.plugins.module_utils import _node_state as node_state
from ansible_collections.opstack.conductor.plugins.modules import raft_backup, raft_restore, raft_state


def test_round_trip_of_a_grown_cluster(oracle, tmp_path, ports, run_module):
    servers = [{"id": "b%d" % i, "address": "127.0.0.1:%d" % port} for i, port in enumerate(ports(3), 1)]
    nodes = {}
    for server in servers:
        nodes[server["id"]] = str(tmp_path / "raft" / server["id"])
        assert run_module(raft_state.main, dict(path=nodes[server["id"]], server_id=server["id"],
                                                servers=servers))["changed"]
    grown = oracle.run("v2_3_1", "grow", *oracle.node_args(nodes), "--entries", "800", "--size", "2000",
                       "--snapshot-every", "300", "--trailing-logs", "100", "--timeout", "120", timeout=300)
    assert grown["ok"], grown
    before = {server_id: node_state.read_node_state(node) for server_id, node in nodes.items()}
    assert all(state.snapshots and state.first_index > 1 for state in before.values())

    # Offline backups of the stopped nodes, and online ones while a real cluster runs on the same files.
    offline = {sid: run_module(raft_backup.main, dict(path=node, dest=str(tmp_path / "offline")))
               for sid, node in nodes.items()}
    with oracle.ClusterHold("v2_3_1", nodes, "--apply", "0"):
        online = {sid: run_module(raft_backup.main, dict(path=node, dest=str(tmp_path / "online"), online=True))
                  for sid, node in nodes.items()}
    for result in list(offline.values()) + list(online.values()):
        assert result["changed"] and result["manifest"]["snapshots"], result
    assert all(result["manifest"]["online"] and result["locked"] for result in online.values())

    # Wipe every node, restore from the offline backups, and start the cluster again.
    shutil.rmtree(str(tmp_path / "raft"))
    for sid, node in nodes.items():
        restored = run_module(raft_restore.main, dict(src=offline[sid]["backup_path"], path=node,
                                                      expected_servers=servers))
        assert restored["changed"] and restored["state"]["last_index"] == before[sid].last_index
        assert restored["state"]["snapshots"][0]["id"] == before[sid].snapshots[0].id
    result = oracle.run("v2_3_1", "cluster", *oracle.node_args(nodes), "--apply", "5", "--timeout", "90",
                        timeout=240)
    assert result["ok"], result["problems"]
    for node_result in result["nodes"]:
        # every command the grown cluster committed is applied again (from the snapshot plus the log)
        assert node_result["applied"] >= 800 + 5, node_result

    # The online backups restore and run too.
    shutil.rmtree(str(tmp_path / "raft"))
    for sid, node in nodes.items():
        assert run_module(raft_restore.main, dict(src=online[sid]["backup_path"], path=node))["changed"]
    assert oracle.run("v2_3_1", "cluster", *oracle.node_args(nodes), "--apply", "1", "--timeout", "90",
                      timeout=240)["ok"]
    assert os.path.isdir(nodes["b1"])
