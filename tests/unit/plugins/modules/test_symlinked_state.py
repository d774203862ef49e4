"""Raft state is never read, locked, chmod-ed or replaced through a symlink, and a storage directory swapped for a
symlink during a run stops the swap (issue 13, item 10).

Before: raft_state on a node whose raft-log.db was a symlink chmod-ed the link's target (Ansible's attribute
handling follows it) and reported changed=false; a storage directory replaced by a symlink while a run was in
progress got the build and the swap in the symlink's target.
"""

import os
import stat

import pytest

from ansible_collections.opstack.conductor.plugins.module_utils import _fs as fs
from ansible_collections.opstack.conductor.plugins.module_utils import _raft as raft
from ansible_collections.opstack.conductor.plugins.modules import raft_backup, raft_restore, raft_state, raft_state_info
from ansible_collections.opstack.conductor.tests.support.nodes import SERVERS, args, has_run
from ansible_collections.opstack.conductor.tests.support.fs import tree

OTHER = [dict(server, address=server["address"].replace("10.0.0", "10.9.9")) for server in SERVERS]


def _outside(tmp_path, node, name):
    """Move the node's ``name`` out to tmp_path/outside/ and leave a symlink to it in its place."""
    target = tmp_path / "outside" / name
    target.parent.mkdir(exist_ok=True)
    if not (node / name).exists():
        (node / name).mkdir()
    os.rename(str(node / name), str(target))
    os.symlink(str(target), str(node / name))
    return target


@pytest.mark.parametrize("name", [raft.LOG_FILE, raft.STABLE_FILE, raft.SNAPSHOT_DIR])
def test_symlinked_raft_entries_are_refused_everywhere(tmp_path, run_module, name):
    node = tmp_path / "storage" / "seq-1"
    assert run_module(raft_state.main, args(node))["changed"]
    backup = run_module(raft_backup.main, dict(path=str(node), dest=str(tmp_path / "backups")))["backup_path"]
    target = _outside(tmp_path, node, name)
    os.chmod(str(target), 0o644 if name != raft.SNAPSHOT_DIR else 0o755)
    before = tree(tmp_path)
    info = run_module(raft_state_info.main, dict(path=str(node)))
    assert not info.get("failed") and info["locked"] is False
    assert any(problem.startswith("%s: a symlink" % name) for problem in info["integrity"]["problems"]), info
    runs = {
        "same state": run_module(raft_state.main, args(node)),
        "mode": run_module(raft_state.main, args(node, mode="0640")),
        "owner": run_module(raft_state.main, args(node, owner="4242", group="4242")),
        "forced": run_module(raft_state.main, args(node, servers=OTHER, force=True)),
        "check mode": run_module(raft_state.main, args(node, force=True), check_mode=True),
        "restore": run_module(raft_restore.main, dict(src=backup, path=str(node), force=True)),
        "backup": run_module(raft_backup.main, dict(path=str(node), dest=str(tmp_path / "more"))),
    }
    for what, result in runs.items():
        assert result.get("failed") and "symlink" in result["msg"] and str(node / name) in result["msg"], (what, result)
        assert result["changed"] is False, (what, result)
    assert tree(tmp_path) == before  # the link's target kept its mode: nothing followed the link
    assert stat.S_IMODE(os.stat(str(target)).st_mode) == (0o644 if name != raft.SNAPSHOT_DIR else 0o755)


def _swap_storage_for_symlink(storage, elsewhere):
    """What an attacker (or a confused operator) does mid-run: the storage directory moves away, and a symlink to
    another directory takes its name."""
    os.rename(str(storage), str(storage) + ".real")
    os.symlink(str(elsewhere), str(storage))


@pytest.mark.parametrize("when", ["before the build", "before the swap"])
def test_storage_directory_swapped_mid_run_is_refused(tmp_path, run_module, monkeypatch, when):
    storage = tmp_path / "storage"
    node = storage / "seq-1"
    assert run_module(raft_state.main, args(node))["changed"]
    has_run(str(node), SERVERS)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "seq-1").mkdir()  # a decoy node directory the swap would otherwise exchange with
    decoy_before = tree(elsewhere)
    step = "build_directory" if when == "before the build" else "replace_directory"
    original = getattr(fs, step)

    def swap_first(*call_args, **kwargs):
        _swap_storage_for_symlink(storage, elsewhere)
        return original(*call_args, **kwargs)

    monkeypatch.setattr(fs, step, swap_first)
    node_before = tree(node)
    result = run_module(raft_state.main, args(node, servers=OTHER, force=True))
    assert result["failed"] and "storage directory was replaced during this run" in result["msg"], result
    assert "symlink" in result["msg"] and str(storage) in result["msg"]
    assert tree(elsewhere) == decoy_before  # nothing written where the symlink points
    real = tmp_path / "storage.real"
    assert tree(real / "seq-1") == node_before  # the node itself untouched
    assert not [entry for entry in os.listdir(str(real)) if entry.endswith("~")]


def test_restore_refuses_a_storage_directory_swapped_mid_run(tmp_path, run_module, monkeypatch):
    storage = tmp_path / "storage"
    node = storage / "seq-1"
    assert run_module(raft_state.main, args(node))["changed"]
    backup = run_module(raft_backup.main, dict(path=str(node), dest=str(tmp_path / "backups")))["backup_path"]
    has_run(str(node), SERVERS)
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "seq-1").mkdir(parents=True)
    decoy_before = tree(elsewhere)
    original_replace = fs.replace_directory

    def swap_then_replace(path, staging, *rest, **kwargs):
        _swap_storage_for_symlink(storage, elsewhere)
        return original_replace(path, staging, *rest, **kwargs)

    monkeypatch.setattr(fs, "replace_directory", swap_then_replace)
    result = run_module(raft_restore.main, dict(src=backup, path=str(node), force=True))
    assert result["failed"] and "storage directory was replaced during this run" in result["msg"], result
    assert tree(elsewhere) == decoy_before


def test_a_storage_directory_swapped_just_before_the_exchange_is_refused(tmp_path, run_module, monkeypatch):
    """The last moment: the build is tagged (renamed by path) and the storage directory is swapped for a symlink
    to a directory that holds both names the exchange uses. A path-based exchange would swap there and report
    success; the exchange runs relative to a descriptor of the directory it checks against the pinned one."""
    storage = tmp_path / "storage"
    node = storage / "seq-1"
    assert run_module(raft_state.main, args(node))["changed"]
    has_run(str(node), SERVERS)
    node_before = tree(node)
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "seq-1").mkdir(parents=True)
    real_rename = os.rename
    swapped = []

    def rename_then_swap(src, dst, *rest, **kwargs):
        outcome = real_rename(src, dst, *rest, **kwargs)
        if not swapped and fs.INODE_MARK in os.path.basename(str(dst)):
            swapped.append(dst)
            _swap_storage_for_symlink(storage, elsewhere)
            (elsewhere / os.path.basename(str(dst))).mkdir()  # the decoy holds the tagged name too
        return outcome

    monkeypatch.setattr(os, "rename", rename_then_swap)
    result = run_module(raft_state.main, args(node, servers=OTHER, force=True))
    monkeypatch.undo()
    assert swapped, "the run never reached the exchange"
    assert result["failed"] and "storage directory was replaced during this run" in result["msg"], result
    # the decoy's two empty directories: neither swapped, renamed nor removed
    assert sorted(os.listdir(str(elsewhere))) == sorted(["seq-1", os.path.basename(str(swapped[0]))])
    assert os.listdir(str(elsewhere / "seq-1")) == []
    assert tree(tmp_path / "storage.real" / "seq-1") == node_before


def test_restore_builds_nothing_in_a_storage_directory_that_replaced_ours(tmp_path, run_module, monkeypatch):
    """Swapped after the decision, before the restore stages the backup: nothing is copied into the target."""
    from ansible_collections.opstack.conductor.plugins.module_utils import _backup as backups

    storage = tmp_path / "storage"
    node = storage / "seq-1"
    assert run_module(raft_state.main, args(node))["changed"]
    backup = run_module(raft_backup.main, dict(path=str(node), dest=str(tmp_path / "backups")))["backup_path"]
    has_run(str(node), SERVERS)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    original = backups.restore

    def swap_then_restore(*call_args, **kwargs):
        _swap_storage_for_symlink(storage, elsewhere)
        return original(*call_args, **kwargs)

    made_there = []  # directories created in the symlink's target, even if removed again afterwards
    real_mkdir = os.mkdir

    def recording_mkdir(path, *rest, **kwargs):
        real_mkdir(path, *rest, **kwargs)
        if os.path.realpath(str(path)).startswith(str(elsewhere) + os.sep):
            made_there.append(path)

    monkeypatch.setattr(backups, "restore", swap_then_restore)
    monkeypatch.setattr(os, "mkdir", recording_mkdir)
    result = run_module(raft_restore.main, dict(src=backup, path=str(node), force=True))
    monkeypatch.undo()
    assert result["failed"] and "storage directory was replaced during this run" in result["msg"], result
    assert made_there == [] and os.listdir(str(elsewhere)) == []  # no staging copy of the backup landed there
