"""The run lock (issue 13 item 3): one run of raft_state, raft_restore or raft_backup per node at a time, and one
raft_backup per server in a backup destination. Its semantics, and that the modules hold it from before the
leftover scan to the end, in check mode only look, and that nothing else mistakes the lock file for anything.

The other process holding a lock is a real one (a small Python child), as a second ansible run would be.
"""

import os
import stat

import pytest

from ansible_collections.opstack.conductor.plugins.module_utils import _backup as backups
from ansible_collections.opstack.conductor.plugins.module_utils import _fs as fs
from ansible_collections.opstack.conductor.plugins.module_utils import _node_dir as nodes
from ansible_collections.opstack.conductor.plugins.modules import (
    raft_backup, raft_backup_info, raft_restore, raft_state, raft_state_info)
from ansible_collections.opstack.conductor.tests.support.nonroot import run_module_as
from ansible_collections.opstack.conductor.tests.support.fs import tree
from ansible_collections.opstack.conductor.tests.support.nodes import SERVERS

BUSY = "is busy: another run of raft_state, raft_restore, raft_recover or raft_backup (PID %d)"


@pytest.fixture
def node(tmp_path, run_module):
    path = str(tmp_path / "raft" / "seq-1")
    assert run_module(raft_state.main, dict(path=path, server_id="seq-1", servers=SERVERS))["changed"]
    return path


# ---------------------------------------------------------------------------------------------- the lock itself


def test_a_second_run_fails_at_once_naming_the_holder_and_the_lock_goes_with_it(node, holder):
    lock_path = fs.run_lock_path(node)
    assert lock_path == os.path.join(os.path.dirname(node), ".seq-1.opstack-lock")
    held = holder(lock_path)
    with pytest.raises(fs.RunLocked) as refused:
        fs.RunLock(lock_path, node).acquire()
    assert BUSY % held.pid in str(refused.value) and lock_path in str(refused.value)
    held.release()
    assert not os.path.lexists(lock_path)  # removed by its holder, which still held it
    lock = fs.RunLock(lock_path, node).acquire()
    assert open(lock_path).read() == "%d\n" % os.getpid()
    lock.release()
    assert not os.path.lexists(lock_path)


def test_two_locks_in_one_process_exclude_each_other(node):
    """flock belongs to the open file description: an in-process second run (the unit runner) is refused too,
    and closing some other descriptor of the file drops nothing (a POSIX lock would be dropped)."""
    lock_path = fs.run_lock_path(node)
    first = fs.RunLock(lock_path, node).acquire()
    os.close(os.open(lock_path, os.O_RDONLY))
    with pytest.raises(fs.RunLocked, match="PID %d" % os.getpid()):
        fs.RunLock(lock_path, node).acquire()
    first.release()


def test_a_lock_file_a_killed_run_left_is_taken_over(node):
    lock_path = fs.run_lock_path(node)
    with open(lock_path, "w") as handle:
        handle.write("999999\n")
    lock = fs.RunLock(lock_path, node).acquire()
    assert open(lock_path).read() == "%d\n" % os.getpid()
    lock.release()
    assert not os.path.lexists(lock_path)


def test_check_mode_only_looks(node, holder):
    lock_path = fs.run_lock_path(node)
    fs.RunLock(lock_path, node).acquire(create=False).release()
    assert not os.path.lexists(lock_path)  # check mode never writes, not even a lock file
    with open(lock_path, "w") as handle:
        handle.write("999999\n")
    before = os.stat(lock_path)
    fs.RunLock(lock_path, node).acquire(create=False).release()  # a stale file is no obstacle, and is left alone
    assert (os.stat(lock_path).st_ino, os.stat(lock_path).st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    os.unlink(lock_path)
    held = holder(lock_path)
    with pytest.raises(fs.RunLocked, match="PID %d" % held.pid):
        fs.RunLock(lock_path, node).acquire(create=False)


@pytest.mark.parametrize("kind", ["symlink", "directory", "fifo"])
def test_a_lock_path_that_is_not_a_plain_file_is_refused(node, tmp_path, kind):
    lock_path = fs.run_lock_path(node)
    target = str(tmp_path / "elsewhere")
    if kind == "symlink":
        os.symlink(target, lock_path)
    elif kind == "directory":
        os.mkdir(lock_path)
    else:
        os.mkfifo(lock_path)  # O_NONBLOCK: opening it must not hang
    for create in (True, False):
        with pytest.raises(fs.RunLockError, match="symlink" if kind == "symlink" else "not a regular file"):
            fs.RunLock(lock_path, node).acquire(create=create)
    assert not os.path.lexists(target)


def test_the_lock_file_is_0600_and_owned_like_the_node(node):
    os.chown(node, 4321, 4322)
    old = os.umask(0)
    try:
        lock = fs.RunLock(fs.run_lock_path(node), node).acquire(owner_of=node)
    finally:
        os.umask(old)
    info = os.lstat(fs.run_lock_path(node))
    assert stat.S_IMODE(info.st_mode) == 0o600 and (info.st_uid, info.st_gid) == (4321, 4322)
    lock.release()


def test_the_lock_file_is_no_leftover_and_no_kept_directory(node):
    lock_path = fs.run_lock_path(node)
    open(lock_path, "w").close()
    assert nodes.leftovers(node) == {"new": [], "old": []}
    assert not nodes.recover_leftovers(node).happened and os.path.exists(lock_path)
    assert nodes.kept_directories(node) == []
    # Nor another node's: a node named like the lock file's prefix sees no leftovers in it either.
    assert nodes.leftovers(os.path.join(os.path.dirname(node), "seq")) == {"new": [], "old": []}


def test_backup_lock_names_a_valid_server_only(tmp_path):
    assert nodes.backup_lock_path(str(tmp_path), "seq-1") == str(tmp_path / ".raft-backup-seq-1.opstack-lock")
    with pytest.raises(Exception, match="server_id"):
        nodes.backup_lock_path(str(tmp_path), "../x")


# ---------------------------------------------------------------------------------------------- the modules


def _build_of_the_holder(node):
    """What a first run, in the middle of its swap, has beside the node: its staged build."""
    staging = os.path.join(os.path.dirname(node), ".seq-1" + fs.NEW_MARK + "0123456789ab")
    os.mkdir(staging)
    return staging


@pytest.mark.parametrize("check_mode", [False, True])
def test_raft_state_leaves_another_runs_build_alone_and_fails_naming_it(node, holder, run_module, check_mode):
    staging = _build_of_the_holder(node)
    held = holder(fs.run_lock_path(node))
    before = tree(os.path.dirname(node))
    other = [dict(SERVERS[0], address="10.0.0.9:50050")] + SERVERS[1:]
    result = run_module(raft_state.main, dict(path=node, server_id="seq-1", servers=other, force=True),
                        check_mode=check_mode)
    assert result["failed"] and BUSY % held.pid in result["msg"], result
    assert tree(os.path.dirname(node)) == before and os.path.isdir(staging)


def test_raft_restore_leaves_another_runs_build_alone(node, holder, run_module, tmp_path):
    backup = run_module(raft_backup.main, dict(path=node, dest=str(tmp_path / "b")))["backup_path"]
    staging = _build_of_the_holder(node)
    held = holder(fs.run_lock_path(node))
    before = tree(os.path.dirname(node))
    result = run_module(raft_restore.main, dict(src=backup, path=node, force=True))
    assert result["failed"] and BUSY % held.pid in result["msg"], result
    assert tree(os.path.dirname(node)) == before and os.path.isdir(staging)


def test_raft_backup_holds_the_node_and_the_destination(node, holder, run_module, tmp_path):
    dest = tmp_path / "b"
    held = holder(fs.run_lock_path(node))
    result = run_module(raft_backup.main, dict(path=node, dest=str(dest)))
    assert result["failed"] and BUSY % held.pid in result["msg"] and not dest.exists(), result
    held.release()
    # Another run of this server (say, of a node of the same ID elsewhere) is writing into the destination:
    # its .partial is not this run's leftover to remove.
    dest.mkdir()
    partial = dest / ("raft-backup-20260101T000000.000000Z-seq-1-0123abcd" + backups.PARTIAL)
    partial.mkdir()
    held = holder(nodes.backup_lock_path(str(dest), "seq-1"))
    result = run_module(raft_backup.main, dict(path=node, dest=str(dest)))
    assert result["failed"] and BUSY % held.pid in result["msg"] and partial.is_dir(), result
    assert sorted(os.listdir(str(dest))) == sorted([partial.name, ".raft-backup-seq-1.opstack-lock"])
    held.release()
    made = run_module(raft_backup.main, dict(path=node, dest=str(dest)))
    assert not made.get("failed") and made["removed"] == [str(partial)], made
    assert [entry for entry in os.listdir(str(dest)) if "opstack-lock" in entry] == []


def test_every_run_removes_its_lock_and_check_mode_writes_none(tmp_path, run_module):
    """Also into a storage directory that does not exist yet (locked once made) and after a refusal."""
    node = str(tmp_path / "new" / "raft" / "seq-1")
    for check_mode in (True, False):
        result = run_module(raft_state.main, dict(path=node, server_id="seq-1", servers=SERVERS),
                            check_mode=check_mode)
        assert result["changed"] and not result.get("failed"), result
    assert os.listdir(os.path.dirname(node)) == ["seq-1"]
    other = [dict(SERVERS[0], address="10.0.0.9:50050")] + SERVERS[1:]
    refused = run_module(raft_state.main, dict(path=node, server_id="seq-1", servers=other))
    assert refused["failed"] and os.listdir(os.path.dirname(node)) == ["seq-1"]
    before = tree(str(tmp_path))
    assert not run_module(raft_backup.main, dict(path=node, dest=str(tmp_path / "b")), check_mode=True).get("failed")
    assert tree(str(tmp_path)) == before


def test_info_modules_ignore_lock_files(node, holder, run_module, tmp_path):
    dest = tmp_path / "b"
    made = run_module(raft_backup.main, dict(path=node, dest=str(dest)))["backup_path"]
    holder(fs.run_lock_path(node))
    holder(nodes.backup_lock_path(str(dest), "seq-1"))
    state = run_module(raft_state_info.main, dict(path=node))
    assert not state.get("failed") and state["integrity"]["ok"], state
    assert "opstack-lock" not in str(state)
    listing = run_module(raft_backup_info.main, dict(path=str(dest)))
    assert not listing.get("failed") and [b["path"] for b in listing["backups"]] == [made], listing
    assert listing["partials"] == [] and "opstack-lock" not in str(listing)


# ---------------------------------------------------------------------------------------------- not as root


@pytest.fixture
def owned_node(nonroot_users, shared_tmp, run_module):
    """A node and its storage directory owned by a non-root user (op-conductor's, who runs the module)."""
    (opc,) = nonroot_users("lockopc")
    storage = os.path.join(shared_tmp, "raft")
    path = os.path.join(storage, "seq-1")
    assert run_module(raft_state.main, dict(path=path, server_id="seq-1", servers=SERVERS))["changed"]
    for directory, _dirs, files in os.walk(storage):
        for name in [directory] + [os.path.join(directory, f) for f in files]:
            os.chown(name, opc.uid, opc.gid)
    return opc, path


def _replace_as(user, path):
    other = [dict(SERVERS[0], address="10.0.0.9:50050")] + SERVERS[1:]
    return run_module_as(user, "raft_state", dict(path=path, server_id="seq-1", servers=other, force=True,
                                                  backup=False))


def test_as_the_nodes_user_a_root_runs_lock_names_it_and_is_taken_over_once_it_died(owned_node, holder):
    """A root run chowns its lock file to the node's owner, so the owner's run can open it: busy while the root
    run lives (its PID from /proc/locks), taken over once it was killed (the file left behind)."""
    opc, path = owned_node
    lock_path = fs.run_lock_path(path)
    held = holder(lock_path, owner_of=path)
    assert (os.lstat(lock_path).st_uid, stat.S_IMODE(os.lstat(lock_path).st_mode)) == (opc.uid, 0o600)
    before = tree(os.path.dirname(path))
    result = _replace_as(opc, path)
    assert result["failed"] and BUSY % held.pid in result["msg"] and tree(os.path.dirname(path)) == before, result
    held.proc.kill()
    held.proc.wait(timeout=60)
    assert os.path.exists(lock_path)  # killed: it never removed it
    result = _replace_as(opc, path)
    assert result["changed"] and not result.get("failed"), result
    assert not os.path.lexists(lock_path)


def test_as_another_user_a_lock_file_readable_only_still_locks(owned_node):
    """A lock file of root's that the user may only read: flock needs no write access, so the run goes on (and
    removes it: the directory is the user's)."""
    opc, path = owned_node
    lock_path = fs.run_lock_path(path)
    with open(lock_path, "w") as handle:
        handle.write("1\n")
    os.chmod(lock_path, 0o644)
    result = _replace_as(opc, path)
    assert result["changed"] and not result.get("failed"), result
    assert not os.path.lexists(lock_path)


def test_as_another_user_a_lock_file_it_cannot_open_stops_the_run(owned_node):
    opc, path = owned_node
    lock_path = fs.run_lock_path(path)
    open(lock_path, "w").close()
    os.chmod(lock_path, 0o600)
    before = tree(os.path.dirname(path))
    result = _replace_as(opc, path)
    assert result["failed"] and "cannot open the run lock %s: Permission denied" % lock_path in result["msg"], result
    assert tree(os.path.dirname(path)) == before


def test_as_a_user_who_may_read_the_node_but_not_write_beside_it_the_backup_says_why(nonroot_users, shared_tmp,
                                                                                     run_module):
    """raft_backup holds the node's run lock, which lives in the storage directory: a user who cannot create it
    gets a clear refusal naming the lock file, not a traceback, and nothing is written anywhere."""
    (reader,) = nonroot_users("lockreader")
    storage = os.path.join(shared_tmp, "raft")
    path = os.path.join(storage, "seq-1")
    assert run_module(raft_state.main, dict(path=path, server_id="seq-1", servers=SERVERS))["changed"]
    for directory, _dirs, files in os.walk(path):
        for name in [directory] + [os.path.join(directory, f) for f in files]:
            os.chown(name, reader.uid, reader.gid)
    os.chmod(storage, 0o755)  # root's, not writable by the reader
    dest = os.path.join(shared_tmp, "backups")
    os.mkdir(dest)
    os.chown(dest, reader.uid, reader.gid)
    before = tree(shared_tmp)
    result = run_module_as(reader, "raft_backup", dict(path=path, dest=dest))
    assert result["failed"] and "cannot create the run lock %s: Permission denied" % fs.run_lock_path(path) \
        in result["msg"], result
    assert tree(shared_tmp) == before


@pytest.mark.parametrize("module", ["raft_state", "raft_backup"])
def test_an_error_looking_at_the_lock_stops_the_run_with_its_path(node, run_module, monkeypatch, tmp_path, module):
    """EIO (or anything but "does not exist") on the lock: its state is unknown, so the run stops and says so."""
    import errno
    import fcntl

    real_flock = fcntl.flock

    def failing_flock(fd, operation):
        if os.readlink("/proc/self/fd/%d" % fd).endswith(fs.LOCK_SUFFIX):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real_flock(fd, operation)

    monkeypatch.setattr(fcntl, "flock", failing_flock)
    before = tree(str(tmp_path))
    args = dict(path=node, dest=str(tmp_path / "b")) if module == "raft_backup" else \
        dict(path=node, server_id="seq-1", servers=[dict(SERVERS[0], address="10.0.0.9:50050")] + SERVERS[1:],
             force=True)
    result = run_module((raft_backup if module == "raft_backup" else raft_state).main, args)
    assert result["failed"] and fs.run_lock_path(node) in result["msg"] and "Input/output error" in result["msg"]
    monkeypatch.undo()
    after = tree(str(tmp_path))
    assert {k: after.get(k) for k in before} == before
    # At most the lock file it made and could not lock (left: another run may have opened it; taken over later).
    assert set(after) - set(before) <= {os.path.relpath(fs.run_lock_path(node), str(tmp_path))}
