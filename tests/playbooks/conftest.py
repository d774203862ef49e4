"""Fixtures of the playbook tests. Their helpers live in tests/support/playbooks.py (and tree() in tests/support/fs.py);
the names below stay importable from here only for tests written before the move: import them from tests.support."""

from __future__ import annotations

import pytest

from ansible_collections.opstack.conductor.tests.support.fs import tree
from ansible_collections.opstack.conductor.tests.support.playbooks import (
    REPO, WORKTREE_COLLECTIONS, Run, ansible_env, local_inventory, run_playbook, table, tool)

__all__ = ["REPO", "WORKTREE_COLLECTIONS", "Run", "ansible_env", "local_inventory", "playbook", "run_playbook", "table",
           "tool", "tree"]


@pytest.fixture
def playbook(tmp_path):
    def _run(*args, **kwargs):
        return run_playbook(tmp_path, *args, **kwargs)
    return _run
