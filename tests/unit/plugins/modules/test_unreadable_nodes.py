"""A node that cannot be looked at is never taken for absent or unlocked (issue 13, item 1).

We run as root, so EACCES, ELOOP and EIO are simulated: every look-up below the node directory (stat, lstat, open,
listdir, scandir, builtin open) fails with that errno, as it does for a user who cannot search the node directory
(mode 0750, another owner), for a symlink loop on the way, or for a failing disk. Every module must then fail with
a message naming the path and the errno, and nothing on disk may change. The real thing, as a non-root user
against a running Raft node: tests/interop/test_nonroot_live.py.
"""

import builtins
import errno
import os

import pytest

from ansible_collections.opstack.conductor.plugins.module_utils import _fs as fs
from ansible_collections.opstack.conductor.plugins.module_utils import _node_dir as nodes
from ansible_collections.opstack.conductor.plugins.module_utils import _node_state as node_state
from ansible_collections.opstack.conductor.plugins.module_utils import _raft as raft
from ansible_collections.opstack.conductor.plugins.module_utils import _state_plan as state_plan
from ansible_collections.opstack.conductor.plugins.modules import (
    raft_backup, raft_restore, raft_state, raft_state_info)
from ansible_collections.opstack.conductor.tests.support.nodes import SERVERS, args, has_run
from ansible_collections.opstack.conductor.tests.support.fs import tree

ERRORS = [errno.EACCES, errno.ELOOP, errno.EIO]
OTHER = [dict(server, address=server["address"].replace("10.0.0", "10.9.9")) for server in SERVERS]


class Unreadable:
    """Every look-up strictly below ``root`` (and the listing of ``root`` itself) fails with ``code``."""

    def __init__(self, monkeypatch, root, code, list_root=True):
        self.root, self.code, self.list_root = os.path.abspath(str(root)), code, list_root
        self.hits = 0
        for name in ("stat", "lstat", "open", "listdir", "scandir"):
            self._wrap(monkeypatch, os, name)
        self._wrap(monkeypatch, builtins, "open")

    def denied(self, name, path, kwargs):
        if kwargs.get("dir_fd") is not None or isinstance(path, int) or path is None:
            return False
        path = os.path.abspath(os.fsdecode(path))
        below = path.startswith(self.root + os.sep)
        return below or (path == self.root and self.list_root and name in ("listdir", "scandir"))

    def _wrap(self, monkeypatch, owner, name):
        original = getattr(owner, name)

        def hooked(path=None, *rest, **kwargs):
            if self.denied(name, path, kwargs):
                self.hits += 1
                raise OSError(self.code, os.strerror(self.code), path)
            return original(*(() if path is None else (path,)), *rest, **kwargs)

        monkeypatch.setattr(owner, name, hooked)


def _expect_refusal(result, node, code):
    assert result.get("failed"), result
    assert result.get("changed") is False, result
    assert str(node) in result["msg"] and errno.errorcode[code] in result["msg"], result["msg"]
    assert "become" in result["msg"], result["msg"]
    assert result.get("exists") is not False and result.get("locked") is not False, result
    assert result.get("action") in (None, "refuse"), result


@pytest.fixture
def live_node(tmp_path, run_module):
    node = tmp_path / "raft" / "seq-1"
    assert run_module(raft_state.main, args(node))["changed"]
    has_run(str(node), SERVERS)
    backups = tmp_path / "backups"
    made = run_module(raft_backup.main, dict(path=str(node), dest=str(backups)))
    assert not made.get("failed"), made
    return node, made["backup_path"]


@pytest.mark.parametrize("code", ERRORS, ids=[errno.errorcode[c] for c in ERRORS])
@pytest.mark.parametrize("run", ["same membership", "other membership", "other membership forced", "check mode",
                                 "restore", "restore forced", "info", "info allow_missing", "backup"])
def test_every_module_stops_on_a_node_it_cannot_read(tmp_path, run_module, monkeypatch, live_node, run, code):
    node, backup = live_node
    before = tree(tmp_path)
    calls = {
        "same membership": lambda: run_module(raft_state.main, args(node)),
        "other membership": lambda: run_module(raft_state.main, args(node, servers=OTHER)),
        "other membership forced": lambda: run_module(raft_state.main, args(node, servers=OTHER, force=True)),
        "check mode": lambda: run_module(raft_state.main, args(node, servers=OTHER), check_mode=True),
        "restore": lambda: run_module(raft_restore.main, dict(src=backup, path=str(node))),
        "restore forced": lambda: run_module(raft_restore.main, dict(src=backup, path=str(node), force=True)),
        "info": lambda: run_module(raft_state_info.main, dict(path=str(node))),
        "info allow_missing": lambda: run_module(raft_state_info.main, dict(path=str(node), allow_missing=True)),
        "backup": lambda: run_module(raft_backup.main, dict(path=str(node), dest=str(tmp_path / "more"))),
    }
    with monkeypatch.context() as patch:
        denial = Unreadable(patch, node, code)
        result = calls[run]()
    assert denial.hits, "the simulated error was never met"
    _expect_refusal(result, node, code)
    assert tree(tmp_path) == before


@pytest.mark.parametrize("code", ERRORS, ids=[errno.errorcode[c] for c in ERRORS])
def test_lock_probe_never_says_unlocked_when_it_cannot_look(tmp_path, run_module, monkeypatch, code):
    node = tmp_path / "seq-1"
    run_module(raft_state.main, args(node))
    with monkeypatch.context() as patch:
        Unreadable(patch, node, code)
        with pytest.raises(fs.NodeUnreadable, match=errno.errorcode[code]):
            fs.locked_by_other(str(node / raft.LOG_FILE))
        with pytest.raises(fs.NodeUnreadable):
            nodes.node_locked(str(node))
        with pytest.raises(fs.NodeUnreadable):
            fs.ExclusiveLocks([str(node / raft.LOG_FILE)])
    assert fs.locked_by_other(str(node / "absent.db")) is False  # ENOENT: no file, so no lock


@pytest.mark.parametrize("code", ERRORS, ids=[errno.errorcode[c] for c in ERRORS])
def test_every_look_up_raises_instead_of_answering(tmp_path, run_module, monkeypatch, code):
    node = tmp_path / "raft" / "seq-1"
    run_module(raft_state.main, args(node))
    os.mkdir(str(tmp_path / "raft" / (".seq-1" + fs.NEW_MARK + "0123456789ab")))
    with monkeypatch.context() as patch:
        Unreadable(patch, node, code)
        for look in (lambda: node_state.read_node_state(str(node), verify=True),
                     lambda: node_state.read_node_state(str(node), verify=False),
                     lambda: raft.read_snapshots(str(node)),
                     lambda: state_plan._stray_entries(str(node)),
                     lambda: nodes.check_node_path(str(node)),
                     lambda: fs.Ownership.for_node(None, None, str(node / "x"))):
            with pytest.raises(fs.NodeUnreadable, match=errno.errorcode[code]):
                look()
    with monkeypatch.context() as patch:  # the storage directory itself cannot be listed or looked into
        Unreadable(patch, tmp_path / "raft", code)
        with pytest.raises(fs.NodeUnreadable, match=errno.errorcode[code]):
            nodes.leftovers(str(node))
        with pytest.raises(fs.NodeUnreadable):
            nodes.recover_leftovers(str(node))
        with pytest.raises(fs.NodeUnreadable):
            nodes.check_node_path(str(node))
        with pytest.raises(fs.NodeUnreadable):
            fs.Ownership.for_node(None, None, str(node))


def test_only_does_not_exist_means_absent(tmp_path):
    assert fs.lstat_or_none(str(tmp_path / "missing")) is None
    assert fs.lstat_or_none(str(tmp_path / "missing" / "below")) is None
    (tmp_path / "file").write_text("x")
    assert fs.lstat_or_none(str(tmp_path / "file" / "below")) is None  # ENOTDIR: cannot exist
    assert fs.listdir_or_none(str(tmp_path / "missing")) is None
    with pytest.raises(fs.NodeUnreadable, match="ENOTDIR"):
        fs.listdir_or_none(str(tmp_path / "file"))  # there, but not a directory: not "empty"
    os.symlink("loop", str(tmp_path / "loop"))
    with pytest.raises(fs.NodeUnreadable, match="ELOOP"):
        fs.stat_or_none(str(tmp_path / "loop"))
    assert fs.lstat_or_none(str(tmp_path / "loop")) is not None
    assert isinstance(fs.NodeUnreadable("p", OSError(errno.EIO, "x")), fs.OpstackError)
