"""What raft_state_info calls a problem in ``snapshots`` is what stops a real Raft node (issue 13, item 8).

hashicorp/raft's NewFileSnapshotStore runs MkdirAll(<node>/snapshots): a regular file there fails it, and the
node never starts. Our reader used to call such a node healthy.
"""

import os

import pytest

from ansible_collections.opstack.conductor.plugins.modules import raft_state, raft_state_info


@pytest.mark.parametrize("kind", ["regular file", "fifo"])
def test_a_snapshots_entry_that_is_not_a_directory_stops_a_real_node_and_is_reported(oracle, run_module, ports,
                                                                                     tmp_path, kind):
    (port,) = ports(1)
    node = str(tmp_path / "n1")
    servers = [{"id": "n1", "address": "127.0.0.1:%d" % port}]
    assert run_module(raft_state.main, dict(path=node, server_id="n1", servers=servers))["changed"]
    snapshots = os.path.join(node, "snapshots")
    if kind == "fifo":
        os.mkfifo(snapshots)
    else:
        with open(snapshots, "wb") as handle:
            handle.write(b"not a directory")
    info = run_module(raft_state_info.main, dict(path=node))
    assert not info["integrity"]["ok"]
    assert any(problem.startswith("snapshots: not a directory") for problem in info["integrity"]["problems"])
    with pytest.raises(oracle.OracleError) as failed:
        with oracle.ClusterHold("v2_3_1", {"n1": node}, hold=30, ready_timeout=60, exit_timeout=30):
            pass
    said = str(failed.value) + (getattr(failed.value, "stderr", "") or "")
    assert "snapshot path not accessible" in said and "not a directory" in said, said  # FileSnapshotStore's MkdirAll
