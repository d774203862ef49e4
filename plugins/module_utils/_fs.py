# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filesystem safety for node directories: lock probes that never wait, and whole-directory replacement that
leaves either the complete old or the complete new state in place at every instant.

A node's state is one unit (raft-log.db, raft-stable.db, snapshots/): replacing the two files one by one could
leave a new log beside an old stable store after a crash. So a new state is built complete in a sibling
directory, fsynced, and swapped in with one renameat2(RENAME_EXCHANGE); the old directory then becomes the backup
(or is removed). Where the kernel or filesystem cannot exchange, two renames are used and the window between them
is covered by the leftover recovery (``_node_dir.recover_leftovers``).

A leaf below the Raft layers (imports only ``_errors`` and ``_lookup``): it knows directories, files and locks,
not which files a node holds; ``_node_dir`` applies these primitives to a node directory. ``write_new_file`` is the
one routine that writes a file's bytes (the PID note in a run lock aside), ``staging_path`` the one name of a
build beside a directory.

Leftovers are named ``.<node>.opstack-new-<tag>`` (a build that never went live: safe to delete) and
``.<node>.opstack-old-<tag>`` (state that was live: never deleted, only moved back or kept as a backup).
"""

from __future__ import annotations

import errno
import fcntl
import grp
import os
import pwd
import shutil
import stat
import time
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Tuple, Union

from ansible_collections.opstack.conductor.plugins.module_utils._errors import OpstackError
# Every look at a node, its files, snapshots and locks goes through these: only "does not exist" means absent.
from ansible_collections.opstack.conductor.plugins.module_utils._lookup import (  # noqa: F401 pylint: disable=unused-import
    NodeUnreadable, holds_exactly, is_directory, listdir_or_none, lstat_or_none, open_or_none, stat_or_none)

NEW_MARK = ".opstack-new-"
OLD_MARK = ".opstack-old-"
INODE_MARK = ".ino"  # a build renamed to carry its inode number just before it is swapped in
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


class NodeBusy(OpstackError):
    """Another process (a running op-conductor) holds a lock on the node's files."""


class UnsafePath(OpstackError):
    """A path that would make us write somewhere other than the node directory."""


class UnknownAccount(OpstackError, ValueError):
    """An owner or group (the modules' owner/group options) that this host does not know."""


# ================================================================================================================
# Locks
# ================================================================================================================


def locked_by_other(path: str) -> bool:
    """True when another process holds an exclusive flock on ``path`` (bbolt's read-write lock).

    Takes a shared lock without waiting and drops it at once, so a starting op-conductor, which retries every
    50 ms, is never held up by us for longer than this call. False only when the file does not exist: a file we
    cannot open (EACCES, ELOOP, EIO) raises NodeUnreadable, as it may well be locked.
    """
    # Follows a symlinked database to the file op-conductor would lock; O_NONBLOCK so a FIFO cannot hang us.
    try:
        fd = open_or_none(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except NodeUnreadable as exc:
        if exc.errno == errno.ELOOP and stat.S_ISLNK(_lstat_mode(path)):
            return False  # the database itself is a symlink loop: no file, so nobody can hold its lock
        raise
    if fd is None:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return True
        raise
    finally:
        os.close(fd)
    return False


def _is_file(path: str) -> bool:
    info = stat_or_none(path)
    return info is not None and stat.S_ISREG(info.st_mode)


class ExclusiveLocks:
    """Exclusive, non-blocking flocks on the existing database files of a node, held only while we replace it."""

    def __init__(self, paths: List[str]):
        # Regular files, symlinked ones included: a lock on the target is what a running op-conductor holds.
        self.paths = [path for path in paths if _is_file(path)]
        self.fds = []  # type: List[int]

    def __enter__(self) -> "ExclusiveLocks":
        try:
            for path in self.paths:
                fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
                self.fds.append(fd)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError as exc:
                    if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                        raise NodeBusy("%s is locked by another process: op-conductor is running on this node"
                                       % path)
                    raise
        except BaseException:
            self.release()
            raise
        return self

    def release(self) -> None:
        for fd in self.fds:
            os.close(fd)  # closing drops the flock
        self.fds = []

    def __exit__(self, *exc) -> None:
        self.release()


# ================================================================================================================
# Run locks: one run of ours at a time per node (and per server in a backup destination)
# ================================================================================================================
#
# Every writer starts by recovering the leftovers of an interrupted run; a second run doing that inside a first
# run's swap deletes its build or moves its live state aside. So each run of raft_state, raft_restore and
# raft_backup holds a lock file beside the node, ``<storage>/.<node>.opstack-lock``, from before that scan until
# the module returns. It is a flock (per open file description, like bbolt's own, so it works on a file opened
# read-only and is not dropped when some other descriptor of the file is closed), taken without waiting. The
# holder's PID comes from /proc/locks (the kernel's record of the flock holder), else from the PID the holder
# writes into the file. The holder removes the file, while still holding it, when it is done; a run that locked
# a file no longer under that name (removed by the holder before it) tries again, so at most one run holds the
# lock that is under the name. A file a killed run left is simply taken over.

LOCK_SUFFIX = ".opstack-lock"
_LOCK_ATTEMPTS = 20  # each retry means a holder released (and removed) the file between our open and our lock


class RunLockError(OpstackError):
    """A run lock that could not be taken (not a regular file, a symlink, or not openable)."""


class RunLocked(RunLockError):
    """Another run of ours holds the run lock: the node (or backup destination) is busy; nothing was done."""


def run_lock_path(node_dir: str) -> str:
    """The node's lock file: beside the node directory (op-conductor opens only ``<storage>/<id>/``), a dot
    name no leftover, kept-directory or server-ID pattern matches (server IDs cannot start with a dot)."""
    parent, name = os.path.split(os.path.abspath(node_dir))
    return os.path.join(parent, "." + name + LOCK_SUFFIX)


class RunLock:
    """A run lock held by this process (``fd``) or, in check mode, only probed (``fd`` None)."""

    def __init__(self, path: str, what: str):
        self.path, self.what = path, what
        self.fd = None  # type: Optional[int]

    def acquire(self, create: bool = True, owner_of: Optional[str] = None) -> "RunLock":
        """Lock without waiting. With ``create`` (a real run) the file is made if missing (0600, owned like
        ``owner_of`` when we are root) and held; without it (check mode) an existing file is only probed and a
        missing one is no obstacle. RunLocked names the holder."""
        for _attempt in range(_LOCK_ATTEMPTS):
            fd = _open_lock_file(self.path, create, owner_of)
            if fd is None:
                return self  # check mode, no lock file: no run of ours is under way
            if fd < 0:
                continue  # made by another run between our two opens
            try:
                fcntl.flock(fd, (fcntl.LOCK_EX if create else fcntl.LOCK_SH) | fcntl.LOCK_NB)
            except OSError as exc:
                holder = _lock_holder_pid(fd) if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN) else None
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise RunLocked(self.busy_message(holder))
                raise
            if _names_this_file(self.path, fd):
                if create:
                    self.fd = fd
                    _record_pid(fd)
                else:
                    os.close(fd)
                return self
            os.close(fd)  # its holder was done and removed it: lock the file under the name now
        raise RunLockError("%s: the lock file kept being replaced while we tried to lock it" % self.path)

    def busy_message(self, holder: Optional[int]) -> str:
        who = "PID %d" % holder if holder else "a process whose PID could not be read"
        return ("%s is busy: another run of raft_state, raft_restore, raft_recover or raft_backup (%s) holds its "
                "run lock %s; nothing was done. Let that run finish, then run this again."
                % (self.what, who, self.path))

    def release(self) -> None:
        """Remove the lock file (ours, still held, so no other run can have taken it) and drop the lock."""
        if self.fd is None:
            return
        try:
            if _names_this_file(self.path, self.fd):
                os.unlink(self.path)
        except OSError:
            pass  # a lock file left behind is harmless: the next run takes it over
        finally:
            os.close(self.fd)
            self.fd = None


def _open_lock_file(path: str, create: bool, owner_of: Optional[str]) -> Optional[int]:
    """An fd on the lock file; None when it does not exist and ``create`` is false, -1 when another run made it
    between our two opens. Read-write where we may (to record our PID), else read-only: flock needs neither."""
    flags = os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        try:
            fd = os.open(path, os.O_RDWR | flags)
        except PermissionError:  # another user's (a root run killed before it removed it): a read-only fd locks too
            fd = os.open(path, os.O_RDONLY | flags)
    except FileNotFoundError:
        if not create:
            return None
        fd = _create_lock_file(path, flags, owner_of)
        if fd < 0:
            return fd
    except OSError as exc:
        raise RunLockError(_lock_open_problem(path, exc))
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise RunLockError("%s is not a regular file; refusing to use it as a lock (remove it)" % path)
    return fd


def _create_lock_file(path: str, flags: int, owner_of: Optional[str]) -> int:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | flags, 0o600)
    except FileExistsError:
        return -1
    except OSError as exc:
        raise RunLockError("cannot create the run lock %s: %s (this user must be able to write the directory "
                           "that holds it: run as root or as the node's owner)" % (path, exc.strerror))
    try:
        _own_lock_file(fd, owner_of)
    except BaseException:
        os.close(fd)  # left in place: another run may have opened it already, and a stale one is harmless
        raise
    return fd


def _lock_open_problem(path: str, exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "%s is a symlink; refusing to follow it for a lock (remove it)" % path
    if exc.errno == errno.EISDIR:
        return "%s is not a regular file; refusing to use it as a lock (remove it)" % path
    return "cannot open the run lock %s: %s (run as root or as the node's owner)" % (path, exc.strerror)


def _own_lock_file(fd: int, owner_of: Optional[str]) -> None:
    """0600 whatever the umask; as root, owned like the node directory (the user op-conductor runs as), so a
    later run as that user can take it over should this run be killed before removing it."""
    os.fchmod(fd, 0o600)
    if os.geteuid() == 0 and owner_of is not None:
        Ownership.for_node(None, None, owner_of).apply_fd(fd)


def _names_this_file(path: str, fd: int) -> bool:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (info.st_dev, info.st_ino) == (mine.st_dev, mine.st_ino)


def _record_pid(fd: int) -> None:
    """For a reader without /proc/locks. Best effort: a read-only fd (another user's file) records nothing."""
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, b"%d\n" % os.getpid(), 0)
    except OSError:
        pass


def _lock_holder_pid(fd: int) -> Optional[int]:
    """The PID holding a flock on the file of ``fd``: /proc/locks first, else the PID written in the file."""
    inode = os.fstat(fd).st_ino
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as handle:
            for line in handle:
                fields = line.split()
                # "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"; "1: -> FLOCK ..." is a waiter
                if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5].rsplit(":", 1)[-1] == str(inode):
                    if fields[4].isdigit() and int(fields[4]) > 0:
                        return int(fields[4])
    except OSError:
        pass
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() and int(text) > 0 else None


# ================================================================================================================
# Swap guard: no op-conductor may start on the replaced state or on a mix of old and new files
# ================================================================================================================
#
# Raft opens raft-log.db and raft-stable.db one after the other, by path, and bbolt opens each file ONCE and then
# retries flock(LOCK_EX|LOCK_NB) on that descriptor every 50 ms. A conductor that opened the old raft-log.db while
# we held its lock keeps that descriptor: when we let go after the swap it locks the OLD log and then opens the
# NEW raft-stable.db by path. No lock of ours can close that window (the descriptor predates the exchange), so:
#   * before the exchange (our locks held), a process with a current database open read-write is a conductor
#     waiting for our lock: the swap is refused, nothing written (NodeBusy);
#   * exclusive locks on the NEW staged files are taken before the exchange and held until after the check, so a
#     conductor that opens the new files after the exchange waits until the swap is complete and checked;
#   * after the exchange, still holding every lock, a process with an old database open read-write opened the
#     replaced state in between: ConductorOnOldState says which process to stop, and that a rerun is safe.
# Our own readers (raft_state_info, the lock probes) open read-only and do not count. Who has a file open comes
# from /proc/*/fd (with the PID to name) and from a read lease on our descriptor (the kernel refuses it while any
# process has the file open for writing), which also sees processes of users whose /proc we may not read.
# Locks on the new pair are no such sign: a conductor starting on the new state locks raft-log.db, then
# raft-stable.db, so one of the two locked is the normal midpoint of a good start; the old files tell.


class ConductorOnOldState(OpstackError):
    """A process (a starting op-conductor) opened the replaced state while it was swapped; the new one is live."""


@dataclass
class Opener:
    pid: int
    command: str
    file: str  # which database (raft-log.db, raft-stable.db)
    now_at: str  # where the open file is now (/proc/<pid>/fd/<n>)


def read_write_openers(files: Dict[tuple, str]) -> List[Opener]:
    """Other processes with one of ``files`` ({(st_dev, st_ino): name}) open for writing, from /proc/*/fd;
    processes whose descriptors we may not list (other users' when we are not root) are not seen."""
    found = []  # type: List[Opener]
    try:
        pids = [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]
    except OSError:
        return found
    for pid in pids:
        if pid != os.getpid():
            found.extend(_openers_in(pid, files))
    return found


def _openers_in(pid: int, files: Dict[tuple, str]) -> List[Opener]:
    base = "/proc/%d/fd" % pid
    try:
        descriptors = os.listdir(base)
    except OSError:  # gone, or not ours to see
        return []
    found = []
    for descriptor in descriptors:
        link = os.path.join(base, descriptor)
        try:
            info = os.stat(link)
            name = files.get((info.st_dev, info.st_ino))
            if name is None or not _opened_for_writing(pid, descriptor):
                continue
            found.append(Opener(pid, _command(pid), name, os.readlink(link)))
        except OSError:  # closed meanwhile
            continue
    return found


def _opened_for_writing(pid: int, descriptor: str) -> bool:
    with open("/proc/%d/fdinfo/%s" % (pid, descriptor), encoding="ascii", errors="replace") as handle:
        for line in handle:
            if line.startswith("flags:"):
                return int(line.split()[1], 8) & getattr(os, "O_ACCMODE", 3) != os.O_RDONLY
    return False


def _command(pid: int) -> str:
    try:
        with open("/proc/%d/comm" % pid, encoding="utf-8", errors="replace") as handle:
            return handle.read().strip()
    except OSError:
        return "?"


class SwapGuard:
    """Held around replace_directory() in place of ExclusiveLocks on the node's databases: also locks the staged
    new ones, and checks for processes opening the old state before and after the exchange (see above)."""

    def __init__(self, node_dir: str, staging: str, names: Tuple[str, ...]):
        self.node_dir = node_dir
        self.old = ExclusiveLocks([os.path.join(node_dir, name) for name in names])
        self.new = ExclusiveLocks([os.path.join(staging, name) for name in names])
        self.old_files = {}  # type: Dict[tuple, str]

    def __enter__(self) -> "SwapGuard":
        self.old.__enter__()
        try:
            self.new.__enter__()
            for path, fd in zip(self.old.paths, self.old.fds):
                info = os.fstat(fd)
                self.old_files[(info.st_dev, info.st_ino)] = os.path.basename(path)
            waiting = _openers_of(self.old_files, self.old.fds)
            if waiting is not None:
                raise NodeBusy("%s: %s; op-conductor is starting on this node (waiting for the lock we hold). "
                               "Stop it first" % (self.node_dir, _describe(waiting)))
        except BaseException:
            self.new.release()
            self.old.release()
            raise
        return self

    def __exit__(self, exc_type, *exc) -> None:
        raced = None
        try:
            if exc_type is None and self.old_files:
                raced = _openers_of(self.old_files, self.old.fds)
        finally:
            self.new.release()
            self.old.release()
        if raced is not None:
            raise ConductorOnOldState(
                "%s: the new state is in place and complete, but %s: it opened the replaced state while it was "
                "swapped and will run on the old state or on a mix of old and new files. Stop that process now "
                "and start op-conductor again (it then opens the new state); rerunning this task is safe"
                % (self.node_dir, _describe(raced)))


def _describe(openers: List[Opener]) -> str:
    if not openers:  # seen by the lease probe only: the process belongs to a user whose /proc we may not read
        return ("a process of another user (run as root to see its PID) has raft-log.db or raft-stable.db open "
                "read-write")
    return "; ".join("process %d (%s) has %s open read-write (now %s)" % (o.pid, o.command, o.file, o.now_at)
                     for o in openers)


_F_SETLEASE = getattr(fcntl, "F_SETLEASE", 1024)  # Linux: F_LINUX_SPECIFIC_BASE + 0


def _openers_of(files: Dict[tuple, str], fds: List[int]) -> Optional[List[Opener]]:
    """None when no other process has one of ``files`` (our read-only ``fds``) open for writing; else those
    /proc names (an empty list: seen by the lease only). /proc/*/fd is walked only when the lease says someone
    has, or cannot tell: a walk costs about 20 us per open descriptor on the host."""
    written = _written_elsewhere(fds)
    if written is False:
        return None
    openers = read_write_openers(files)
    return openers if openers or written else None


def _written_elsewhere(fds: List[int]) -> Optional[bool]:
    """Whether any process has the file of one of our read-only ``fds`` open for writing, whoever it runs as:
    the kernel refuses a read lease (EAGAIN) exactly then, which also sees what /proc/*/fd hides from a non-root
    run. None where leases cannot tell (not the file's owner without CAP_LEASE, leases disabled or unsupported
    by the filesystem)."""
    for fd in fds:
        try:
            fcntl.fcntl(fd, _F_SETLEASE, fcntl.F_RDLCK)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                return True
            return None
        fcntl.fcntl(fd, _F_SETLEASE, fcntl.F_UNLCK)
    return False


# ================================================================================================================
# Network filesystems
# ================================================================================================================

# Filesystem types (as /proc/self/mountinfo names them) where bbolt's mmap and flock do not behave as on a local
# disk: NFS emulates flock with byte-range locks, and consul#4188 is a raft.db on NFS failing to open.
NETWORK_FILESYSTEMS = frozenset((
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "ceph", "fuse.ceph-fuse", "glusterfs", "fuse.glusterfs", "lustre",
    "gpfs", "beegfs", "afs", "fuse.sshfs", "fuse.s3fs", "fuse.gcsfuse", "fuse.rclone", "fuse.juicefs"))


def filesystem_type(path: str, mountinfo: str = "/proc/self/mountinfo") -> Optional[str]:
    """The type of the filesystem holding ``path``, which need not exist yet; None where unknown.

    First by device: the mount whose major:minor is that of the nearest existing directory (right through bind
    mounts and mounts hidden by a later mount on a parent). Else (btrfs subvolumes report their own device) by
    path: the last mount in mount order whose mount point holds the path, since a later mount hides what was
    mounted at or below its mount point before."""
    target = os.path.realpath(path)
    device = _device_id(target)
    by_device = by_path = None
    try:
        with open(mountinfo, encoding="utf-8", errors="surrogateescape") as handle:
            for line in handle:
                fields, _sep, rest = line.partition(" - ")
                fields, rest = fields.split(), rest.split()
                if len(fields) < 5 or not rest:
                    continue  # not a mountinfo line
                mount_point = _unescape_mount_path(fields[4])
                if fields[2] == device:
                    by_device = rest[0]
                if target == mount_point or target.startswith(mount_point.rstrip("/") + "/"):
                    by_path = rest[0]
    except OSError:
        return None
    return by_device or by_path


def _device_id(path: str) -> Optional[str]:
    """``major:minor`` of the filesystem holding ``path`` or, when it does not exist yet, its nearest parent."""
    while True:
        try:
            device = os.stat(path).st_dev
            break
        except (FileNotFoundError, NotADirectoryError):
            if os.path.dirname(path) == path:
                return None
            path = os.path.dirname(path)
        except OSError:  # not readable (EACCES, ELOOP): a parent's device could be another filesystem's
            return None
    return "%d:%d" % (os.major(device), os.minor(device))


def _unescape_mount_path(field: str) -> str:
    # The kernel writes space, tab, newline and backslash in mount paths as three-digit octal escapes.
    for code in ("040", "011", "012", "134"):
        field = field.replace("\\" + code, chr(int(code, 8)))
    return field


def network_filesystem_warning(path: str) -> Optional[str]:
    kind = filesystem_type(path)
    if kind not in NETWORK_FILESYSTEMS:
        return None
    return ("%s is on a network filesystem (%s): bbolt's mmap and flock are not reliable there, so op-conductor may "
            "fail to open its state and a running op-conductor may not be seen by the lock probe. Keep the Raft "
            "state on a local disk." % (path, kind))


# ================================================================================================================
# Durable writes
# ================================================================================================================


def fsync_dir(path: Union[str, int]) -> None:
    """fsync a directory, given by path or by an open descriptor (which is not closed)."""
    if isinstance(path, int):
        os.fsync(path)
        return
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: str) -> None:
    """fsync an existing file of ours again, after its attributes changed (they are inode data too)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_directories(path: str, mode: int) -> None:
    """``os.makedirs``, durable: each directory created is fsynced into its parent, or a power loss could take
    away, with its directory, a state or backup we reported as written (found by tests/unit/.../test_durability).
    Every directory created, intermediate ones too, gets exactly ``mode``."""
    path = os.path.abspath(path)
    missing = []
    while not _is_directory_or_link_to_one(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, mode)
            os.chmod(directory, mode)  # ours: the mode asked for, not narrowed by the umask (nor made wider)
        except FileExistsError:  # made meanwhile by someone else; makedirs(exist_ok=True) would not mind either
            if not _is_directory_or_link_to_one(directory):
                raise
        fsync_dir(os.path.dirname(directory))


def _is_directory_or_link_to_one(path: str) -> bool:
    """A storage directory's parents may be symlinks (/var/lib -> /data/var/lib); a node directory may not."""
    info = stat_or_none(path)
    return info is not None and stat.S_ISDIR(info.st_mode)


def write_new_file(path: str, data: Union[bytes, Iterable[bytes]], mode: int,
                   ownership: Optional["Ownership"] = None, checksum: bool = True) -> Tuple[Optional[str], int]:
    """The one routine that writes a file for this collection: create ``path`` (which must not exist), write
    ``data`` (bytes, or chunks of them), set its owner and mode, and fsync it all (an owner set after the fsync
    may not survive a power loss, leaving files op-conductor cannot open); O_EXCL|O_NOFOLLOW refuse symlink
    tricks. Returns the sha256 (hex; None without ``checksum``) and size of what was written."""
    # hashlib loads OpenSSL (15-30 ms of start-up here): only the writers that record a digest import it.
    digest = _sha256() if checksum else None
    size = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), mode)
    try:
        for chunk in (data,) if isinstance(data, (bytes, bytearray, memoryview)) else data:
            if digest is not None:
                digest.update(chunk)
            size += len(chunk)
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view):]
        if ownership is not None:
            ownership.apply_fd(fd)
        os.fchmod(fd, mode)  # the umask must not loosen or tighten what was asked for
        os.fsync(fd)
    finally:
        os.close(fd)
    return (digest.hexdigest() if digest is not None else None), size


def copy_file(source: str, target: str, mode: int, ownership: Optional["Ownership"] = None,
              checksum: bool = True) -> Tuple[Optional[str], int]:
    """A byte-for-byte copy of ``source`` into the new file ``target`` through write_new_file (owner and ``mode``
    set before the fsync), O_NOFOLLOW on both ends; returns what write_new_file returns."""
    fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    try:
        return write_new_file(target, iter(lambda: os.read(fd, 1 << 20), b""), mode, ownership, checksum)
    finally:
        os.close(fd)


def _sha256():
    import hashlib  # pylint: disable=import-outside-toplevel
    return hashlib.sha256()


@dataclass
class Ownership:
    uid: int = -1
    gid: int = -1

    @classmethod
    def resolve(cls, owner: Optional[str], group: Optional[str]) -> "Ownership":
        return cls(_resolve_id(owner, pwd.getpwnam, "owner"), _resolve_id(group, grp.getgrnam, "group"))

    @classmethod
    def for_node(cls, owner: Optional[str], group: Optional[str], node_dir: str) -> "Ownership":
        """Explicit owner/group, else those of the node directory (or of its parent when it is about to be
        created), so the user op-conductor runs as keeps access to what we write."""
        ownership = cls.resolve(owner, group)
        info = lstat_or_none(node_dir)
        if info is None or not stat.S_ISDIR(info.st_mode):
            info = stat_or_none(os.path.dirname(os.path.abspath(node_dir)))
        if info is not None and stat.S_ISDIR(info.st_mode):
            ownership.uid = info.st_uid if ownership.uid == -1 else ownership.uid
            ownership.gid = info.st_gid if ownership.gid == -1 else ownership.gid
        return ownership

    def apply(self, path: str) -> None:
        if self.uid != -1 or self.gid != -1:
            os.chown(path, self.uid, self.gid, follow_symlinks=False)

    def apply_fd(self, fd: int) -> None:
        if self.uid != -1 or self.gid != -1:
            os.fchown(fd, self.uid, self.gid)


def _resolve_id(name: Optional[str], lookup, what: str) -> int:
    if name is None or name == "":
        return -1
    if str(name).isdigit():
        return int(name)
    try:
        return lookup(name)[2]
    except KeyError:
        raise UnknownAccount("%s %r does not exist on this host" % (what, name))


# ================================================================================================================
# Node directory replacement
# ================================================================================================================


def _renameat2():
    """libc's renameat2, looked up on first use (None where libc lacks it). CDLL(None) is the process's own
    symbol table, which holds libc: no ctypes.util.find_library, which runs ldconfig on every import."""
    global _RENAMEAT2  # pylint: disable=global-statement
    if _RENAMEAT2 is _NOT_LOOKED_UP:
        import ctypes  # here, not at the top: only a directory exchange needs it (about 2 ms to import)

        try:
            function = ctypes.CDLL(None, use_errno=True).renameat2
            function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
            function.restype = ctypes.c_int
        except (OSError, AttributeError):
            function = None
        _RENAMEAT2 = function
    return _RENAMEAT2


_NOT_LOOKED_UP = object()
_RENAMEAT2 = _NOT_LOOKED_UP


def exchange(first: str, second: str) -> bool:
    """Atomically swap two paths. False when the kernel or filesystem cannot (then nothing happened).

    Two siblings are swapped relative to a descriptor of their directory, opened once and checked against the
    storage directory this run pinned (check_node_path): a parent replaced by a symlink up to the last moment
    cannot redirect the swap that makes a new state live."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    parent = os.path.dirname(os.path.abspath(second))
    if os.path.dirname(os.path.abspath(first)) != parent:
        return _exchange_at(renameat2, _AT_FDCWD, os.fsencode(first), os.fsencode(second), first)
    fd = os.open(parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        _verify_parent_fd(parent, fd)
        return _exchange_at(renameat2, fd, os.fsencode(os.path.basename(first)),
                            os.fsencode(os.path.basename(second)), first)
    finally:
        os.close(fd)


def _verify_parent_fd(parent: str, fd: int) -> None:
    """The directory open at ``fd`` is the storage directory this run pinned (when it pinned one)."""
    pinned = _PINNED_PARENTS.get(parent)
    info = os.fstat(fd)
    if pinned is not None and (info.st_dev, info.st_ino) != pinned:
        raise UnsafePath("%s: the storage directory was replaced during this run: it was device/inode %d:%d, now "
                         "%d:%d. Refusing to swap the node there; find out who replaced it, then rerun"
                         % (parent, pinned[0], pinned[1], info.st_dev, info.st_ino))


def _exchange_at(renameat2, dir_fd: int, first: bytes, second: bytes, name: str) -> bool:
    if renameat2(dir_fd, first, dir_fd, second, _RENAME_EXCHANGE) == 0:
        return True
    import ctypes  # already loaded by _renameat2(), which found renameat2

    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM):
        return False
    raise OSError(code, os.strerror(code), name)


# The storage directory (a node directory's parent) as this run first saw it, by path: (st_dev, st_ino). A parent
# replaced during the run (by a symlink, or renamed) would make the build and the swap land in another directory;
# build_directory(), replace_directory() and recover_leftovers() refuse that (issue 13, item 10). One module run
# is one process, so the pins of one run are never seen by another.
_PINNED_PARENTS = {}  # type: Dict[str, Tuple[int, int]]


def pin_parent(parent: str, info: Optional[os.stat_result]) -> None:
    if info is None:
        _PINNED_PARENTS.pop(parent, None)  # made later in this run (make_directories): pinned when first used
    else:
        _PINNED_PARENTS[parent] = (info.st_dev, info.st_ino)


def verify_parent(path: str) -> None:
    """Refuse to write beside ``path`` when its parent is no longer the directory check_node_path() saw."""
    parent = os.path.dirname(os.path.abspath(path))
    info = stat_or_none(parent)
    pinned = _PINNED_PARENTS.get(parent)
    if pinned is None:
        pin_parent(parent, info)
        return
    if info is None or (info.st_dev, info.st_ino) != pinned:
        now = "gone" if info is None else "device/inode %d:%d" % (info.st_dev, info.st_ino)
        link = " (now a symlink to %r)" % os.readlink(parent) if stat.S_ISLNK(_lstat_mode(parent)) else ""
        raise UnsafePath("%s: the storage directory was replaced during this run%s: it was device/inode %d:%d, "
                         "now %s. Refusing to write there; the node was not swapped. Find out who replaced it, "
                         "then rerun" % (parent, link, pinned[0], pinned[1], now))


def _lstat_mode(path: str) -> int:
    info = lstat_or_none(path)
    return info.st_mode if info is not None else 0


def random_tag(length: int) -> str:
    """``length`` hex digits that keep sibling names unique (os.urandom: uuid costs an import per run)."""
    return os.urandom((length + 1) // 2).hex()[:length]


def staging_path(path: str) -> str:
    """A new sibling name for a build of ``path`` (``.<name>.opstack-new-<tag>``): what leftovers() takes for an
    unfinished build of ours, safe to delete."""
    parent, name = os.path.split(os.path.abspath(path))
    return os.path.join(parent, "." + name + NEW_MARK + random_tag(12))


def backup_name(path: str, dir_fd: Optional[int] = None) -> str:
    """Ansible's backup naming (``<path>.<pid>.<YYYY-MM-DD@HH:MM:SS>~``), unique within the directory (the one
    open at ``dir_fd`` when given)."""
    stamp = time.strftime("%Y-%m-%d@%H:%M:%S", time.localtime())
    candidate = "%s.%d.%s~" % (os.path.abspath(path), os.getpid(), stamp)
    while (lstat_or_none(candidate) if dir_fd is None else _lstat_at(os.path.basename(candidate), dir_fd)) is not None:
        candidate = "%s.%d.%s.%s~" % (os.path.abspath(path), os.getpid(), stamp, random_tag(6))
    return candidate


def build_directory(path: str, files: Dict[str, bytes], file_mode: int, dir_mode: int,
                    ownership: Ownership) -> str:
    """A complete, fsynced sibling of ``path`` holding ``files``; the caller swaps it in."""
    verify_parent(path)
    staging = staging_path(path)
    os.mkdir(staging, 0o700)
    try:
        for file_name in sorted(files):
            write_new_file(os.path.join(staging, file_name), files[file_name], file_mode, ownership, checksum=False)
        os.chmod(staging, dir_mode)
        ownership.apply(staging)
        fsync_dir(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staging


def replace_directory(path: str, staging: str, keep_old: bool, sync_backup: bool = True) -> Optional[str]:
    """Put ``staging`` in place of ``path``. The old directory (if any) becomes a backup when ``keep_old``, and is
    removed otherwise; returns the backup path. At every instant ``path`` is the old or the new complete state,
    except on filesystems without RENAME_EXCHANGE, where a crash between two renames leaves the old state in an
    ``opstack-old`` sibling that recover_leftovers() puts back. The swap is durable on return; with
    ``sync_backup`` false the rename to the backup name is not: the caller fsyncs the parent before it reports
    the backup (generate, once for all its nodes). A power loss before that leaves the old state under its
    ``opstack-old`` name, which the next run keeps as a backup.

    Every step is relative to one descriptor of the storage directory, checked against the one this run looked
    at (check_node_path): a parent replaced by a symlink during the swap cannot redirect any of it."""
    parent = os.path.dirname(os.path.abspath(path))
    dir_fd = _open_pinned_parent(path)
    try:
        backup = _replace_at(dir_fd, path, os.path.basename(staging), keep_old, sync_backup)
    finally:
        os.close(dir_fd)
    return None if backup is None else os.path.join(parent, backup)


def _open_pinned_parent(path: str) -> int:
    verify_parent(path)  # pins it when this run has not looked at it before (a parent made just now)
    parent = os.path.dirname(os.path.abspath(path))
    fd = os.open(parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        _verify_parent_fd(parent, fd)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _replace_at(dir_fd: int, path: str, staged: str, keep_old: bool, sync_backup: bool = True) -> Optional[str]:
    """replace_directory() within the directory open at ``dir_fd``; names are entries of it. Returns the name
    the old state was kept under, if any."""
    def rename(source: str, target: str) -> None:
        os.rename(source, target, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)

    name = os.path.basename(os.path.abspath(path))
    if _lstat_at(name, dir_fd) is None:
        rename(staged, name)
        fsync_dir(dir_fd)
        return None
    aside = "." + name + OLD_MARK + random_tag(12)
    # After the exchange the build's name holds the old state until the next rename. Tagging the build with its
    # inode first lets leftovers() tell a crash in that window apart from an unfinished build.
    tagged = "%s%s%d" % (staged, INODE_MARK, os.lstat(staged, dir_fd=dir_fd).st_ino)
    rename(staged, tagged)
    try:
        exchanged = exchange(os.path.join(os.path.dirname(os.path.abspath(path)), tagged), path)
        if not exchanged:
            rename(name, aside)  # the fallback's first rename; when it fails (EPERM: chattr +i) nothing moved
    except BaseException:
        try:
            rename(tagged, staged)  # back under the staging name the caller removes
        except OSError:
            pass  # left as a tagged build: the next run's recovery removes it
        raise
    if exchanged:
        rename(tagged, aside)  # the tagged name held the old state
    else:
        rename(tagged, name)
    fsync_dir(dir_fd)
    return _dispose_old(dir_fd, path, aside, keep_old, sync_backup)


def _dispose_old(dir_fd: int, path: str, aside: str, keep_old: bool, sync_backup: bool = True) -> Optional[str]:
    """The old state, set aside as ``aside`` in the directory at ``dir_fd``: kept under the backup name
    (returned), or removed."""
    if keep_old:
        backup = os.path.basename(backup_name(path, dir_fd))
        os.rename(aside, backup, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        if sync_backup:
            fsync_dir(dir_fd)
        return backup
    # Dropped on request: renamed as a build first, so a crash during the removal leaves a leftover that is
    # deleted, not kept as a partial backup. (shutil.rmtree takes no dir_fd before Python 3.11: by path.)
    trash = os.path.basename(staging_path(path))
    os.rename(aside, trash, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    shutil.rmtree(os.path.join(os.path.dirname(os.path.abspath(path)), trash))
    return None


def _lstat_at(name: str, dir_fd: int) -> Optional[os.stat_result]:
    try:
        return os.lstat(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise NodeUnreadable(name, exc)


def remove_tree(path: str) -> None:
    """Remove one of our own staging directories (never a node directory)."""
    if NEW_MARK not in os.path.basename(path):
        raise UnsafePath("refusing to remove %s: not a staging directory" % path)
    shutil.rmtree(path)


# ================================================================================================================
# Write probes
# ================================================================================================================

PROBE_MARK = ".opstack-probe-"
_PROBE_FILE = "probe"  # any name: the probe proves a directory and a file of the state's size can be made


@dataclass
class WriteProbe:
    """Whether a new state could be written beside the node: where we looked, how, and what was found."""
    directory: str  # the nearest existing ancestor of the node directory's parent: where the build would go
    method: str  # "probe": a directory and a file made and removed there; "access": os.access + statvfs only
    needed_bytes: int
    free_bytes: Optional[int] = None
    problems: List[str] = field(default_factory=list)


def probe_write(path: str, needed_bytes: int, ownership: Ownership, create: bool) -> WriteProbe:
    """Prove that a new state of ``needed_bytes`` can be built beside ``path`` and owned by ``ownership``.
    With ``create`` a directory and a file are made (owner applied), fsynced and removed in the nearest existing
    ancestor of the parent, so permissions, ACLs, immutable flags, read-only mounts, quotas and refused chowns
    all show; without it (check mode) only os.access() and statvfs(), which cannot see all of those."""
    directory = _nearest_existing(os.path.dirname(os.path.abspath(path)))
    probe = WriteProbe(directory, "probe" if create else "access", needed_bytes)
    if not os.path.isdir(directory):
        probe.problems.append("%s is not a directory, so %s cannot be created" % (directory, path))
        return probe
    _check_free_space(probe)
    if not create:
        if not os.access(directory, os.W_OK | os.X_OK):
            probe.problems.append("%s is not writable by uid %d (os.access; check mode makes no probe)"
                                  % (directory, os.geteuid()))
        return probe
    name = "." + os.path.basename(os.path.abspath(path)) + PROBE_MARK + random_tag(12)
    try:
        _make_and_remove_probe(os.path.join(directory, name), ownership)
    except OSError as exc:
        probe.problems.append("cannot write in %s: %s" % (directory, exc))
    return probe


def _nearest_existing(path: str) -> str:
    while True:
        try:
            os.lstat(path)
            return path
        except (FileNotFoundError, NotADirectoryError):  # under a regular file: probe_write names that file
            if os.path.dirname(path) == path:
                return path
            path = os.path.dirname(path)


def _check_free_space(probe: WriteProbe) -> None:
    info = os.statvfs(probe.directory)
    # Root may use the reserved blocks, anyone else only what is available to unprivileged users.
    blocks = info.f_bfree if os.geteuid() == 0 else info.f_bavail
    probe.free_bytes = blocks * info.f_frsize
    if probe.free_bytes < probe.needed_bytes:
        probe.problems.append("%s has %d bytes free, the new state needs %d"
                              % (probe.directory, probe.free_bytes, probe.needed_bytes))
    if info.f_files and (info.f_ffree if os.geteuid() == 0 else info.f_favail) < 8:
        probe.problems.append("%s has no free inodes left" % probe.directory)


def _make_and_remove_probe(probe_dir: str, ownership: Ownership) -> None:
    os.mkdir(probe_dir, 0o700)
    try:
        write_new_file(os.path.join(probe_dir, _PROBE_FILE), b"\0" * 4096, 0o600, ownership, checksum=False)
        ownership.apply(probe_dir)
        fsync_dir(probe_dir)
    finally:  # the probe leaves nothing, whether it proved the write or failed half-way
        if os.path.lexists(os.path.join(probe_dir, _PROBE_FILE)):
            os.unlink(os.path.join(probe_dir, _PROBE_FILE))
        os.rmdir(probe_dir)
        fsync_dir(os.path.dirname(probe_dir))
