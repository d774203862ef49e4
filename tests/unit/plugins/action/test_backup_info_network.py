"""raft_backup_info's controller side with ``network`` (issue 19 item 4): a backup on the controller of another chain
has a mismatch naming both chains and is not usable, as on the host.

The action plugin is imported inside the fixture and the controller flag put back afterwards (see
test_backup_actions: importing Ansible's controller code changes module.warn() for later module tests)."""

import importlib
import os

import pytest
from ansible.module_utils import _internal as module_internal

from ansible_collections.opstack.conductor.plugins.modules import raft_backup, raft_state
from ansible_collections.opstack.conductor.tests.support.modules import ModuleRun
from ansible_collections.opstack.conductor.tests.support.nodes import SERVERS


@pytest.fixture
def action():
    """plugin_utils/_backup_plans: the controller side raft_backup_info's action plugin (and restore's) calls."""
    was = module_internal.is_controller
    try:
        yield importlib.import_module("ansible_collections.opstack.conductor.plugins.plugin_utils._backup_plans")
    finally:
        module_internal.is_controller = was


def test_a_controller_backup_of_another_chain_is_not_usable(tmp_path, capsys, action):
    run_module = ModuleRun(capsys)
    node = os.path.join(str(tmp_path), "raft", "seq-1")
    assert run_module(raft_state.main, dict(path=node, server_id="seq-1", servers=SERVERS))["changed"]
    run_module(raft_backup.main, dict(path=node, dest=str(tmp_path / "controller"), network="chain-a"))
    other = action.controller_listing(str(tmp_path / "controller"), "seq-1", True, None, "chain-b")
    assert other["newest"] is None
    assert other["backups"][0]["mismatches"] == ["the backup is of network 'chain-a', the node's network is 'chain-b'"]
    same = action.controller_listing(str(tmp_path / "controller"), "seq-1", True, None, "chain-a")
    assert same["newest"] == other["backups"][0]["path"]
