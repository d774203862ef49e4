# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A node directory as op-conductor lays it out (``<raft.storage.dir>/<server id>/`` holding raft-log.db,
raft-stable.db and snapshots/), on top of the filesystem primitives of ``_fs``: whether op-conductor holds it,
whether its path and entries are safe to write through, what a crashed run of ours left beside it (and putting
that right), and the kept directories a forced replace leaves (retention).

``_fs`` knows nothing of Raft or server IDs; this layer knows the names (``_raft``'s database files, ``_servers``'
ID limit) and applies the primitives to them.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Set

from ansible_collections.opstack.conductor.plugins.module_utils import _fs as fs
from ansible_collections.opstack.conductor.plugins.module_utils import _raft as raft
from ansible_collections.opstack.conductor.plugins.module_utils import _servers as servers

# ================================================================================================================
# Locks
# ================================================================================================================


def node_locked(node_dir: str) -> bool:
    """Whether a running op-conductor holds the lock on either database of the node directory."""
    return any(fs.locked_by_other(os.path.join(node_dir, name)) for name in raft.DATABASE_FILES)


def backup_lock_path(dest: str, server_id: str) -> str:
    """One server's lock in a backup destination: its .partial clean-up and retention touch only its backups."""
    servers.validate_server_id(server_id)
    return os.path.join(os.path.abspath(dest), ".raft-backup-" + server_id + fs.LOCK_SUFFIX)


def running(node_dir: str, consequence: str) -> str:
    """The one sentence for a node whose database lock op-conductor holds, then what that means for this run
    (``consequence``: "nothing was written. Stop it first." and the like)."""
    return "%s: op-conductor is running on this node (its database lock is held); %s" % (node_dir, consequence)


def database_locks(node_dir: str) -> fs.ExclusiveLocks:
    """fs.ExclusiveLocks over the node's two databases: held, op-conductor cannot start on them (it waits)."""
    return fs.ExclusiveLocks([os.path.join(node_dir, name) for name in raft.DATABASE_FILES])


def swap_guard(node_dir: str, staging: str) -> fs.SwapGuard:
    """fs.SwapGuard over the node's two databases (the files op-conductor locks) in ``node_dir`` and ``staging``."""
    return fs.SwapGuard(node_dir, staging, raft.DATABASE_FILES)


# ================================================================================================================
# The node directory's path and entries
# ================================================================================================================


def node_server_id(node_dir: str, given: Optional[str] = None) -> str:
    """The server ID of a node directory: ``given``, else the directory's name (op-conductor keeps its state in
    ``<raft.storage.dir>/<server id>``)."""
    return given or os.path.basename(os.path.abspath(node_dir))


def check_node_path(path: str) -> None:
    """The node directory itself may not be a symlink (we would write wherever it points). NodeUnreadable when
    the node directory or its parent cannot be looked at."""
    info = fs.lstat_or_none(path)
    if info is not None and stat.S_ISLNK(info.st_mode):
        raise fs.UnsafePath("%s is a symlink; refusing to write through it (point path at the real directory)" % path)
    if len(os.fsencode(os.path.basename(os.path.abspath(path)))) > servers.MAX_SERVER_ID_BYTES:
        raise fs.UnsafePath("%s: a directory name longer than %d bytes leaves no room for the staging and backup "
                            "directories written beside it" % (path, servers.MAX_SERVER_ID_BYTES))
    parent = os.path.dirname(os.path.abspath(path))
    if info is not None and not stat.S_ISDIR(info.st_mode):
        raise fs.UnsafePath("%s exists and is not a directory" % path)
    parent_info = fs.stat_or_none(parent)
    if parent_info is not None and not stat.S_ISDIR(parent_info.st_mode):
        raise fs.UnsafePath("%s is not a directory" % parent)
    fs.pin_parent(parent, parent_info)
    if info is not None:
        check_state_entries(path)


def check_state_entries(path: str) -> None:
    """Raft's own entries in a node directory may not be symlinks: op-conductor would open the targets, and a
    lock probe, chmod or copy would act on whatever they point to (issue 13, item 10)."""
    for name in raft.DATABASE_FILES + (raft.SNAPSHOT_DIR,):
        entry = os.path.join(path, name)
        info = fs.lstat_or_none(entry)
        if info is not None and stat.S_ISLNK(info.st_mode):
            raise fs.UnsafePath("%s is a symlink (to %r); refusing to read, lock or replace Raft state through it. "
                                "Put the real %s there (op-conductor keeps it in the node directory)"
                                % (entry, os.readlink(entry), "directory" if name == raft.SNAPSHOT_DIR else "file"))


# ================================================================================================================
# Leftovers of an interrupted run
# ================================================================================================================


def leftovers(path: str, entries: Optional[List[str]] = None) -> Dict[str, List[str]]:
    """Sibling directories a crashed run of ours left behind for this node: {"new": [...], "old": [...]}.
    ``entries``: this node's names from sibling_entries() (one listing shared by a whole cluster), else the
    parent is listed here."""
    parent, name = os.path.split(os.path.abspath(path))
    found = {"new": [], "old": []}  # type: Dict[str, List[str]]
    if entries is None:
        entries = sorted(fs.listdir_or_none(parent) or ())  # an unlistable parent raises: it may hold leftovers
    for entry in entries:
        if entry.startswith("." + name + fs.NEW_MARK) and not _swapped(os.path.join(parent, entry)):
            found["new"].append(os.path.join(parent, entry))
        elif entry.startswith(("." + name + fs.NEW_MARK, "." + name + fs.OLD_MARK)):
            found["old"].append(os.path.join(parent, entry))
    return found


def _swapped(path: str) -> bool:
    """A build tagged with its inode whose name now holds another directory: a crash came right after the
    exchange, so this is the state that was live, not a build (replace_directory)."""
    _head, mark, number = os.path.basename(path).rpartition(fs.INODE_MARK)
    if not (mark and number.isdigit()):
        return False
    info = fs.lstat_or_none(path)
    return info is not None and info.st_ino != int(number)


@dataclass
class Recovery:
    removed: List[str] = field(default_factory=list)
    restored: Optional[str] = None
    kept_as_backup: List[str] = field(default_factory=list)

    @property
    def happened(self) -> bool:
        return bool(self.removed or self.restored or self.kept_as_backup)


def recover_leftovers(path: str) -> Recovery:
    """Finish what a crashed run left: drop unfinished builds; put back a live state that was moved aside but
    not replaced; keep any other moved-aside state as a backup (renamed to the backup convention)."""
    recovery = Recovery()
    fs.verify_parent(path)
    found = leftovers(path)
    for new in found["new"]:
        shutil.rmtree(new)
        recovery.removed.append(new)
    for old in found["old"]:
        if fs.lstat_or_none(path) is None and recovery.restored is None:
            os.rename(old, path)
            recovery.restored = old
        else:
            backup = fs.backup_name(path)
            os.rename(old, backup)
            recovery.kept_as_backup.append(backup)
    if recovery.happened:
        fs.fsync_dir(os.path.dirname(os.path.abspath(path)))
    return recovery


# ================================================================================================================
# Kept directories (the node directories a forced replace kept): retention, deletion by rename, write probes
# ================================================================================================================

DELETING_MARK = ".deleting-"  # a kept directory being deleted; listings skip it, the next run finishes it
# fs.backup_name()'s ``<pid>.<YYYY-MM-DD@HH:MM:SS>[.<6 hex>]~`` after the node's name: matched whole, so another
# node whose name merely starts with this one's (seq-1 and seq-1.5) never matches.
_KEPT_TAIL = r"\.[0-9]+\.([0-9]{4}-[0-9]{2}-[0-9]{2}@[0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.[0-9a-f]{6})?~"


_KEPT_TAIL_ONLY = re.compile(_KEPT_TAIL + r"\Z")


def _kept_stamp(path: str, entry: str) -> Optional[str]:
    """The time in ``entry`` when it is one of this node's kept directory names, else None. The node's name is
    compared as a plain prefix and only the tail is a pattern, compiled once: a pattern per node cost generate
    a regex compilation per node (40-60 ms of its run at 101 nodes, issue 15)."""
    name = os.path.basename(os.path.abspath(path))
    match = _KEPT_TAIL_ONLY.match(entry, len(name)) if entry.startswith(name) else None
    return match.group(1) if match else None


def _entries(directory: str) -> List[str]:
    """The names in ``directory``; none when it does not exist, any other error stops the run."""
    try:
        return sorted(os.listdir(directory))
    except FileNotFoundError:
        return []


def kept_directories(path: str, entries: Optional[List[str]] = None) -> List[str]:
    """This node's kept directories (``<path>.<pid>.<time>~``), newest first: by the time in the name, then by
    the inode change time (set by the rename that kept it). Symlinks and ``.deleting-*`` names are skipped.
    ``entries``: as for leftovers()."""
    parent = os.path.dirname(os.path.abspath(path))
    found = []
    for entry in _entries(parent) if entries is None else entries:
        stamp = _kept_stamp(path, entry)
        if stamp is None:
            continue
        info = os.lstat(os.path.join(parent, entry))
        if stat.S_ISDIR(info.st_mode):
            found.append((stamp, info.st_ctime_ns, os.path.join(parent, entry)))
    return [full for _stamp, _ctime, full in sorted(found, reverse=True)]


def prune_kept_directories(path: str, keep: int, entries: Optional[List[str]] = None) -> List[str]:
    """Delete all but the newest ``keep`` kept directories of this node (``keep`` 0: keep all); returns them.
    ``entries``: as for leftovers()."""
    if keep <= 0:
        return []
    doomed = kept_directories(path, entries)[keep:]
    for kept in doomed:
        delete_directory(kept)
    return doomed


def delete_directory(path: str) -> None:
    """Delete a kept directory so that a kill at any moment leaves either the whole directory under its name or
    a ``.deleting-<name>`` that no listing takes for a backup: renamed first (and the rename made durable),
    then removed; finish_deletions() completes an interrupted one."""
    parent, name = os.path.split(os.path.abspath(path))
    doomed = os.path.join(parent, DELETING_MARK + name)
    if os.path.lexists(doomed):  # an earlier deletion of this very name was interrupted
        _remove_doomed(doomed)
    os.rename(path, doomed)
    fs.fsync_dir(parent)
    _remove_doomed(doomed)
    fs.fsync_dir(parent)


def pending_deletions(path: str, entries: Optional[List[str]] = None) -> List[str]:
    """This node's ``.deleting-*`` directories that a run killed during retention left behind (the next writing
    run removes them). ``entries``: as for leftovers()."""
    parent = os.path.dirname(os.path.abspath(path))
    return [os.path.join(parent, entry) for entry in (_entries(parent) if entries is None else entries)
            if entry.startswith(DELETING_MARK) and _kept_stamp(path, entry[len(DELETING_MARK):]) is not None]


def finish_deletions(path: str, entries: Optional[List[str]] = None) -> List[str]:
    """Remove pending_deletions(path, entries)."""
    parent = os.path.dirname(os.path.abspath(path))
    finished = pending_deletions(path, entries)
    for doomed in finished:
        _remove_doomed(doomed)
    if finished:
        fs.fsync_dir(parent)
    return finished


def _remove_doomed(doomed: str) -> None:
    if os.path.islink(doomed) or not os.path.isdir(doomed):
        raise fs.UnsafePath("refusing to remove %s: not a directory of ours" % doomed)
    # A kept node directory may be 0500; its owner (us) may still make it removable.
    for directory, _dirs, _files in os.walk(doomed):
        info = os.lstat(directory)
        if info.st_uid == os.geteuid() and stat.S_IMODE(info.st_mode) & 0o700 != 0o700:
            os.chmod(directory, stat.S_IMODE(info.st_mode) | 0o700)
    shutil.rmtree(doomed)


# ================================================================================================================
# One listing for a whole cluster (generate decides every node of a storage directory in one run)
# ================================================================================================================

# A kept directory's name, the node's name captured: the tail (``.<pid>.<time>[.<6 hex>]~``, anchored at the end)
# can start at one place only (the pid is the digits after the last dot before the time), so the name is unique.
_ANY_KEPT = re.compile(r"(.+)" + _KEPT_TAIL + r"\Z", re.DOTALL)


def sibling_entries(parent: str, names: List[str]) -> Dict[str, List[str]]:
    """One listing of the storage directory ``parent`` for its nodes ``names``: each name's sorted entries that
    leftovers(), kept_directories() and finish_deletions() may take for that node (they filter them exactly as
    they filter a whole listing). Each entry names its node, so one pass assigns it: N nodes cost one listing
    instead of N listings of N entries each. Take it with every node's run lock held, as a single-node listing."""
    wanted = set(names)
    found = {name: [] for name in wanted}  # type: Dict[str, List[str]]
    for entry in sorted(fs.listdir_or_none(parent) or ()):  # an unlistable parent raises: it may hold leftovers
        for name in _owners(entry) & wanted:
            found[name].append(entry)
    return found


def _owners(entry: str) -> Set[str]:
    """Every node name ``entry`` could be ours for: ``.<name>`` before each opstack-new/old mark (the prefixes
    leftovers() tests), and ``<name>`` of a kept directory, also behind ``.deleting-``."""
    owners = set()
    if entry.startswith("."):
        for mark in (fs.NEW_MARK, fs.OLD_MARK):
            at = entry.find(mark, 1)
            while at != -1:
                owners.add(entry[1:at])
                at = entry.find(mark, at + 1)
    for name in (entry, entry[len(DELETING_MARK):] if entry.startswith(DELETING_MARK) else None):
        kept = _ANY_KEPT.match(name) if name else None
        if kept:
            owners.add(kept.group(1))
    return owners
