"""Power loss, by the rules a filesystem guarantees (what kill -9 in the crash suite cannot show, since the page
cache survives it): data reaches the disk only through fsync of the file, and a directory entry (create, rename,
exchange) only through fsync of the directory that holds it.

Every writing module runs in-process with the os calls it makes recorded, by inode. Then:
  1. every file it wrote was fsynced after its last write, before the state it belongs to was published (the
     rename or exchange that gives the new state its final name) and before the module returned;
  2. every directory whose entries it changed was fsynced after the last change, and before the publication when
     it lies inside the published tree.
A run that breaks a rule can lose, on power loss, a state or backup it reported as written. bbolt's dm-flakey test
would show the same on a real disk; there is no device-mapper in this machine's kernel.
"""

import builtins
import os
import re
import stat

import pytest

from ansible_collections.opstack.conductor.plugins.module_utils import _backup as backups
from ansible_collections.opstack.conductor.plugins.module_utils import _fs as fs
from ansible_collections.opstack.conductor.plugins.modules import (
    raft_backup, raft_cluster_state, raft_restore, raft_state)
from ansible_collections.opstack.conductor.tests.support.nodes import SERVERS, has_run

TRANSIENT = re.compile(r"%s|%s|\.partial$" % (re.escape(fs.NEW_MARK), re.escape(fs.OLD_MARK)))
OTHER_SERVERS = [dict(server, address=server["address"].replace("10.0.0", "10.9.9")) for server in SERVERS]


class Recorder:
    """The durability-relevant calls, as (kind, inode, ...) events in order."""

    def __init__(self, monkeypatch):
        self.events = []
        self.fds = {}
        self.locks = set()  # run lock files (fs.RunLock): not state, never needed after a power loss
        self.monkeypatch = monkeypatch
        for name in ("open", "close", "write", "fsync", "fdatasync", "mkdir", "rename", "replace", "fchmod",
                     "fchown", "chmod", "chown", "lchown", "pwrite", "writev", "ftruncate", "truncate", "link",
                     "symlink", "sendfile", "copy_file_range"):
            if hasattr(os, name):
                self._wrap(os, name, getattr(self, "_" + name))
        self._wrap(fs, "exchange", self._exchange)
        self._wrap(builtins, "open", self._builtin_open)

    def _wrap(self, owner, name, hook):
        original = getattr(owner, name)

        def hooked(*args, **kwargs):
            return hook(original, *args, **kwargs)

        self.monkeypatch.setattr(owner, name, hooked)

    @staticmethod
    def _ino(path):
        return os.lstat(path).st_ino

    def _parent(self, path):
        return self._ino(os.path.dirname(os.path.abspath(path)))

    def _open(self, original, path, flags, *args, dir_fd=None, **kwargs):
        if os.fsdecode(path).endswith(fs.LOCK_SUFFIX):
            fd = original(path, flags, *args, dir_fd=dir_fd, **kwargs)
            self.locks.add(fd)
            return fd
        existed = os.path.lexists(path if dir_fd is None else os.path.join("/proc/self/fd/%d" % dir_fd, path))
        fd = original(path, flags, *args, dir_fd=dir_fd, **kwargs)
        self.fds[fd] = os.fstat(fd).st_ino
        if not existed:
            parent = self._parent(path) if dir_fd is None else os.fstat(dir_fd).st_ino
            self.events.append(("entry", parent, path))
        return fd

    def _builtin_open(self, original, file, mode="r", *args, **kwargs):
        handle = original(file, mode, *args, **kwargs)
        if isinstance(file, (str, bytes, os.PathLike)) and any(c in mode for c in "wax+"):
            # A write we cannot follow call by call: counted as one at the open, so only an fsync clears it.
            self.fds[handle.fileno()] = os.fstat(handle.fileno()).st_ino
            self.events.append(("write", self.fds[handle.fileno()]))
        return handle

    def _close(self, original, fd):
        self.fds.pop(fd, None)
        self.locks.discard(fd)
        return original(fd)

    def _write(self, original, fd, data):
        if fd in self.fds:
            self.events.append(("write", self.fds[fd]))
        return original(fd, data)

    def _fd_write(self, original, fd, *args, **kwargs):
        """Data or inode attributes changed through a file descriptor (pwrite, writev, fchmod, fchown, ...)."""
        if fd in self.locks:
            return original(fd, *args, **kwargs)
        if fd not in self.fds:
            raise AssertionError("a write to file descriptor %d, opened before the recording started" % fd)
        self.events.append(("write", self.fds[fd]))
        return original(fd, *args, **kwargs)

    _pwrite = _writev = _ftruncate = _fchmod = _fchown = _fd_write

    def _sendfile(self, original, out_fd, *args, **kwargs):
        return self._fd_write(original, out_fd, *args, **kwargs)

    def _copy_file_range(self, original, src, dst, *args, **kwargs):
        self._fd_write(lambda *a, **k: None, dst)
        return original(src, dst, *args, **kwargs)

    def _path_write(self, original, path, *args, **kwargs):
        """Inode attributes or size changed by path (chmod, chown, truncate)."""
        result = original(path, *args, **kwargs)
        if isinstance(path, int):
            self.events.append(("write", self.fds[path]))
        else:
            self.events.append(("write", os.stat(path, follow_symlinks=kwargs.get("follow_symlinks", True)).st_ino
                                if os.path.lexists(path) else -1))
        return result

    _chmod = _chown = _truncate = _path_write

    def _lchown(self, original, path, *args, **kwargs):
        result = original(path, *args, **kwargs)
        self.events.append(("write", self._ino(path)))
        return result

    def _link(self, original, src, dst, *args, **kwargs):
        result = original(src, dst, *args, **kwargs)
        self.events.append(("entry", self._parent(dst), dst))
        return result

    _symlink = _link

    def _fsync(self, original, fd):
        result = original(fd)
        if fd in self.fds:
            self.events.append(("fsync", self.fds[fd]))
        return result

    _fdatasync = _fsync

    def _mkdir(self, original, path, *args, dir_fd=None, **kwargs):
        result = original(path, *args, dir_fd=dir_fd, **kwargs)
        parent = self._parent(path) if dir_fd is None else os.fstat(dir_fd).st_ino
        self.events.append(("entry", parent, path))
        return result

    def _rename(self, original, src, dst, *args, **kwargs):
        result = original(src, dst, *args, **kwargs)
        src_fd, dst_fd = kwargs.get("src_dir_fd"), kwargs.get("dst_dir_fd")  # renameat: names in those dirs
        self.events.append(("entry", self._parent(src) if src_fd is None else os.fstat(src_fd).st_ino, src))
        self.events.append(("entry", self._parent(dst) if dst_fd is None else os.fstat(dst_fd).st_ino, dst))
        self.events.append(("moved", os.lstat(dst, dir_fd=dst_fd).st_ino, dst))
        return result

    _replace = _rename

    def _exchange(self, original, first, second):
        exchanged = original(first, second)
        if exchanged:
            for path in (first, second):
                self.events.append(("entry", self._parent(path), path))
                self.events.append(("moved", self._ino(path), path))
        return exchanged


def violations(events, published_path, root):
    """Rule breaks, as sentences. ``published_path``: the final name of the state or backup the run made; ``root``:
    a directory holding everything the run touched. An entry that no longer exists at the end counts too, unless
    it is a name meant to go, whose rename a power loss may undo without losing anything (the next run's
    recovery handles it): a build, a set-aside state, a tagged build, an unfinished backup."""
    def synced_after(ino, index, before):
        return any(e == ("fsync", ino) for e in events[index + 1:before])

    directories = {os.lstat(path).st_ino: path for path, _dirs, _files in os.walk(root)}
    published_ino = os.lstat(published_path).st_ino
    publish = max(i for i, e in enumerate(events) if e[0] == "moved" and e[1] == published_ino)
    inside = {os.lstat(os.path.join(top, name)).st_ino
              for top, dirs, files in os.walk(published_path) for name in dirs + files}
    inside.add(published_ino)
    problems = []
    for ino in {e[1] for e in events if e[0] == "write"}:
        last_write = max(i for i, e in enumerate(events) if e == ("write", ino))
        deadline = publish if ino in inside else len(events)
        if not synced_after(ino, last_write, deadline):
            problems.append("a file (inode %d) was not fsynced after its last write%s"
                            % (ino, " before the state was published" if ino in inside else ""))
    final_entries = {}  # directory inode -> index of its last change that must survive
    for index, event in enumerate(events):
        if event[0] != "entry" or event[1] not in directories:
            continue  # a directory that is gone (removed after use)
        name = os.path.basename(event[2])
        if os.path.lexists(os.path.join(directories[event[1]], name)) or not TRANSIENT.search(name):
            final_entries[event[1]] = index
    for ino, index in final_entries.items():
        deadline = publish if ino in inside and index < publish else len(events)
        if not synced_after(ino, index, deadline):
            problems.append("the directory %s was not fsynced after its entries changed%s"
                            % (directories[ino], " before the state was published" if deadline == publish else ""))
    return problems


def state(run_module, node, servers=SERVERS, **extra):
    result = run_module(raft_state.main, dict(path=str(node), server_id="seq-1", servers=servers, **extra))
    assert not result.get("failed"), result
    return result


@pytest.fixture(params=["exchange", "two-renames"])
def recorder(request, monkeypatch):
    if request.param == "two-renames":
        monkeypatch.setattr(fs, "_RENAMEAT2", None)
    return lambda: Recorder(monkeypatch)


@pytest.mark.parametrize("case", ["create-with-parents", "replace-keep-backup", "replace-drop-old"])
def test_raft_state_writes_durably(tmp_path, run_module, recorder, case):
    node = tmp_path / "new" / "storage" / "seq-1"
    if case != "create-with-parents":
        state(run_module, node)
        has_run(str(node), SERVERS)
    log = recorder()
    # mode 0640: Ansible's attribute handling changes the staged files after they were written
    result = state(run_module, node, servers=OTHER_SERVERS, force=True, backup=case == "replace-keep-backup",
                   mode="0640")
    assert result["changed"]
    assert violations(log.events, str(node), str(tmp_path)) == []


def test_raft_backup_writes_durably(tmp_path, run_module, recorder):
    node = tmp_path / "seq-1"
    state(run_module, node)
    has_run(str(node), SERVERS)
    log = recorder()
    made = run_module(raft_backup.main, dict(path=str(node), dest=str(tmp_path / "new" / "backups")))
    assert made["changed"], made
    assert violations(log.events, made["backup_path"], str(tmp_path)) == []


def test_raft_restore_writes_durably(tmp_path, run_module, recorder):
    node = tmp_path / "seq-1"
    state(run_module, node)
    has_run(str(node), SERVERS)
    made = run_module(raft_backup.main, dict(path=str(node), dest=str(tmp_path / "b")))
    state(run_module, node, servers=OTHER_SERVERS, force=True, backup=False)
    log = recorder()
    restored = run_module(raft_restore.main, dict(src=made["backup_path"], path=str(node), force=True))
    assert restored["changed"], restored
    assert violations(log.events, str(node), str(tmp_path)) == []


def test_the_audit_sees_a_file_not_fsynced_after_its_owner_changed(tmp_path, monkeypatch, run_module):
    """The file rule can fail: an owner set after the fsync (as raft_restore did before the audit saw attribute
    changes) breaks it."""
    node = tmp_path / "seq-1"
    state(run_module, node)
    made = run_module(raft_backup.main, dict(path=str(node), dest=str(tmp_path / "b")))
    state(run_module, node, servers=OTHER_SERVERS, force=True, backup=False)
    real_copy_state = backups.copy_state

    def chown_after_fsync(source_dir, target_dir, files, *args, **kwargs):
        listing = real_copy_state(source_dir, target_dir, files, *args, **kwargs)
        for name in files:
            os.chown(os.path.join(target_dir, name), os.getuid(), os.getgid())
        return listing

    monkeypatch.setattr(backups, "copy_state", chown_after_fsync)
    log = Recorder(monkeypatch)
    restored = run_module(raft_restore.main, dict(src=made["backup_path"], path=str(node), force=True))
    assert restored["changed"], restored
    found = violations(log.events, str(node), str(tmp_path))
    assert found and all("was not fsynced after its last write before the state was published" in p
                         for p in found), found


def test_the_audit_sees_a_missing_fsync(tmp_path, monkeypatch, run_module):
    """The rules can fail: without the directory fsyncs the same run breaks them."""
    log = Recorder(monkeypatch)
    monkeypatch.setattr(fs, "fsync_dir", lambda path: None)
    node = tmp_path / "storage" / "seq-1"
    state(run_module, node)
    found = violations(log.events, str(node), str(tmp_path))
    assert "the directory %s was not fsynced after its entries changed before the state was published" % node \
        in found, found
    assert "the directory %s was not fsynced after its entries changed" % (tmp_path / "storage") in found, found
    assert stat.S_ISDIR(os.lstat(str(node)).st_mode)


def generate(run_module, out, network=1, **extra):
    """raft_cluster_state (the generate playbook's one module run) over three nodes at 127.0.0.<network>."""
    ids = ["seq-1", "seq-2", "seq-3"]
    result = run_module(raft_cluster_state.main, dict(
        dict(output_dir=str(out), server_ids=ids, initial_leader="seq-1",
             nodes=["127.0.0.%d:%d" % (network, 50001 + n) for n in range(3)]),
        **extra))
    assert not result.get("failed"), result
    return result


@pytest.mark.parametrize("case", ["create-with-parents", "replace-keep-backup", "replace-drop-old"])
def test_raft_cluster_state_writes_durably(tmp_path, run_module, recorder, case):
    """Every node generate publishes (and the backups it keeps) by the same rules; each node's own files must be
    durable before its rename publishes it."""
    out = tmp_path / "new" / "storage"
    if case != "create-with-parents":
        generate(run_module, out)
    log = recorder()
    result = generate(run_module, out, network=2, force=True, backup=case == "replace-keep-backup")
    assert result["changed"]
    assert [violations(log.events, node["path"], str(tmp_path)) for node in result["nodes"]] == [[]] * 3
    assert all(bool(node.get("backup_dir")) == (case == "replace-keep-backup") for node in result["nodes"])


@pytest.mark.parametrize("synced", [True, False])
def test_the_audit_sees_generate_not_fsyncing_its_kept_backups(tmp_path, run_module, monkeypatch, synced):
    """generate leaves the backup renames to one fsync of the storage directory at the end of its swaps (issue 15):
    without it the audit names that directory."""
    out = tmp_path / "storage"
    generate(run_module, out)
    record = (out / "cluster.json").read_bytes()
    generate(run_module, out, network=2, force=True)
    (out / "cluster.json").write_bytes(record)  # a changed cluster.json is fsynced into the storage directory too
    if not synced:
        monkeypatch.setattr(raft_cluster_state, "_sync_storage", lambda output_dir: None)
    log = Recorder(monkeypatch)
    result = generate(run_module, out, force=True)
    assert all(node.get("backup_dir") for node in result["nodes"]) and not result["cluster_json"]["changed"]
    found = violations(log.events, str(out / "seq-1"), str(tmp_path))
    assert found == ([] if synced else ["the directory %s was not fsynced after its entries changed" % out]), found
