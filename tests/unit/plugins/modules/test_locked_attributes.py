"""A running (locked) node is only read: not even its files' owner or mode change (issue 13, item 9).

Before: with the lock held, raft_state on a node already holding the requested state applied Ansible's file
attributes (mode 0640, another owner) to the live files and reported changed=true. The lock here is a real flock
held by another process, as op-conductor holds it.
"""

import json
import os
import stat

import pytest

from ansible_collections.opstack.conductor.plugins.module_utils import _node_dir as nodes
from ansible_collections.opstack.conductor.plugins.module_utils import _raft as raft
from ansible_collections.opstack.conductor.plugins.modules import raft_state
from ansible_collections.opstack.conductor.tests.support.fs import tree
from ansible_collections.opstack.conductor.tests.support.nodes import args


def _attributes(node):
    infos = {name: os.stat(str(node / name)) for name in raft.DATABASE_FILES}
    return {name: (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) for name, info in infos.items()}


@pytest.mark.parametrize("extra", [dict(mode="0640"), dict(owner="4242", group="4242"),
                                   dict(mode="0640", owner="4242")], ids=["mode", "owner", "both"])
@pytest.mark.parametrize("check_mode", [False, True], ids=["run", "check"])
def test_attributes_of_a_running_node_are_reported_not_applied(tmp_path, run_module, held_lock, extra, check_mode):
    node = tmp_path / "seq-1"
    assert run_module(raft_state.main, args(node))["changed"]
    held_lock(node / raft.LOG_FILE)
    before, files_before = tree(tmp_path), _attributes(node)
    result = run_module(raft_state.main, args(node, **extra), check_mode=check_mode, diff=True)
    assert not result.get("failed"), result
    assert result["locked"] is True and result["action"] == "unchanged", result
    assert result["changed"] is False and result["attributes_applied"] is False, result
    warnings = json.dumps(result.get("warnings"))  # ansible-core 2.19 returns them as structured events
    assert "were not applied" in warnings and "op-conductor is running" in warnings, warnings
    assert _attributes(node) == files_before and tree(tmp_path) == before


def test_matching_attributes_of_a_running_node_need_no_warning(tmp_path, run_module, held_lock):
    node = tmp_path / "seq-1"
    assert run_module(raft_state.main, args(node))["changed"]
    held_lock(node / raft.STABLE_FILE)
    result = run_module(raft_state.main, args(node, mode="0600"))
    assert result["changed"] is False and result["attributes_applied"] is True and result["locked"] is True
    # (in-process runs may carry warnings of earlier tests' runs: only this node's would be ours)
    assert "%s:" % node not in json.dumps(result.get("warnings")), result["warnings"]


def test_stopped_node_still_gets_its_attributes(tmp_path, run_module):
    node = tmp_path / "seq-1"
    assert run_module(raft_state.main, args(node))["changed"]
    result = run_module(raft_state.main, args(node, mode="0640"))
    assert result["changed"] and result["locked"] is False
    assert stat.S_IMODE(os.stat(str(node / raft.LOG_FILE)).st_mode) == 0o640


def test_a_conductor_that_starts_after_the_probe_still_gets_no_attribute_change(tmp_path, run_module, held_lock,
                                                                                monkeypatch):
    """The lock probe said "not running", then op-conductor started (its lock is held) before the attributes were
    applied: they are applied only under our own exclusive locks, so they are reported, not applied."""
    from ansible_collections.opstack.conductor.plugins.module_utils import _fs as fs

    node = tmp_path / "seq-1"
    assert run_module(raft_state.main, args(node))["changed"]
    held_lock(node / raft.LOG_FILE)
    files_before = _attributes(node)
    monkeypatch.setattr(nodes, "node_locked", lambda node_dir: False)  # the probe ran before the start
    result = run_module(raft_state.main, args(node, mode="0640", owner="4242"))
    assert not result.get("failed") and result["changed"] is False, result
    assert result["attributes_applied"] is False and result["locked"] is True, result
    assert _attributes(node) == files_before
