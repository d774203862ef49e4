"""raft_state_info reports the cluster identity (issue 13 item 4): the info playbook compares it across nodes, so
two nodes seeded as different clusters are told apart even after they have run, when their memberships agree."""

import os

from ansible_collections.opstack.conductor.plugins.module_utils import _backup as backups
from ansible_collections.opstack.conductor.plugins.modules import raft_state, raft_state_info
from ansible_collections.opstack.conductor.tests.support.nodes import args


def _node(run_module, path, term):
    assert run_module(raft_state.main, args(str(path), term=term))["changed"]
    return run_module(raft_state_info.main, dict(path=str(path), server_id="seq-1"))


def test_nodes_seeded_as_different_clusters_have_different_identities(tmp_path, run_module):
    first, again, reseeded = (_node(run_module, tmp_path / name / "seq-1", term)
                              for name, term in (("a", 1), ("b", 1), ("c", 50)))
    assert first["cluster_identity"]["id"] and first["cluster_identity"]["initial_term"] == 1
    assert first["cluster_identity"]["id"] == again["cluster_identity"]["id"]
    assert reseeded["cluster_identity"]["id"] != first["cluster_identity"]["id"]
    # the same ID a backup manifest records
    assert first["cluster_identity"] == backups.cluster_identity(str(tmp_path / "a" / "seq-1"))


def test_a_node_without_state_has_no_identity(tmp_path, run_module):
    os.mkdir(str(tmp_path / "seq-1"))
    assert run_module(raft_state_info.main, dict(path=str(tmp_path / "seq-1")))["cluster_identity"] is None


def test_an_unreadable_log_fails_the_info_instead_of_an_unknown_identity(tmp_path, run_module, monkeypatch):
    node = tmp_path / "seq-1"
    _node(run_module, node, 1)
    from ansible_collections.opstack.conductor.plugins.module_utils import _node_state as node_state

    def denied(path):
        raise PermissionError(13, "Permission denied", path)
    monkeypatch.setattr(node_state, "cluster_identity", denied)
    failed = run_module(raft_state_info.main, dict(path=str(node)))
    assert failed["failed"] and "cannot be examined" in failed["msg"] and "EACCES" in failed["msg"], failed
