# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Looking at a node's paths without ever taking "cannot look" for "not there".

``os.path.exists``, ``isdir``, ``isfile``, ``islink`` and ``lexists`` answer False for every OSError, so a node
directory the running user cannot search (EACCES), a symlink loop (ELOOP) or a failing disk (EIO) looked absent and
unlocked, and a running node was replaced (issue 13, item 1). Here only "does not exist" means absent; anything
else raises NodeUnreadable, which stops the run with the path, the errno and what to do.

A leaf (imports only ``_errors``), so the readers below ``_fs`` (``_raft``, ``_node_state``) use it too; ``_fs``
re-exports it for the layers above.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import List, Optional

from ansible_collections.opstack.conductor.plugins.module_utils._errors import OpstackError

# A path that cannot exist: it, or a directory on the way to it, is missing or is not a directory.
_ABSENT = (errno.ENOENT, errno.ENOTDIR)


class NodeUnreadable(OpstackError):
    """A node directory, one of its files, snapshots or locks could not be examined: its state is unknown, so
    nothing may be decided on it (it is neither absent nor unlocked)."""

    def __init__(self, path: str, exc: OSError):
        self.path, self.errno = path, exc.errno
        code = errno.errorcode.get(exc.errno, "errno %s" % exc.errno)
        super().__init__(
            "%s: cannot be examined as uid %d (%s: %s), so whether a node exists there, what it holds and whether "
            "op-conductor is running on it are unknown; nothing was changed. Run the task with become (as root or "
            "as the user op-conductor runs as), or give this user read and search access to the node directory"
            % (path, os.geteuid(), code, exc.strerror or os.strerror(exc.errno or 0)))


def lstat_or_none(path: str) -> Optional[os.stat_result]:
    """``os.lstat(path)``, or None when the path does not exist; NodeUnreadable for any other error."""
    return _stat_or_none(os.lstat, path)


def stat_or_none(path: str) -> Optional[os.stat_result]:
    """``os.stat(path)`` (symlinks followed), or None when it does not exist or its symlink dangles."""
    return _stat_or_none(os.stat, path)


def _stat_or_none(stat_function, path: str) -> Optional[os.stat_result]:
    try:
        return stat_function(path)
    except OSError as exc:
        if exc.errno in _ABSENT:
            return None
        raise NodeUnreadable(path, exc)


def listdir_or_none(path: str) -> Optional[List[str]]:
    """The entries of the directory ``path``, or None when it does not exist. A path that exists but is not a
    directory (ENOTDIR on the last component) is not "absent": it raises like any other error."""
    try:
        return os.listdir(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise NodeUnreadable(path, exc)


def open_or_none(path: str, flags: int) -> Optional[int]:
    """``os.open(path, flags)``, or None when the path does not exist (a symlink to nothing included)."""
    try:
        return os.open(path, flags)
    except OSError as exc:
        if exc.errno in _ABSENT:
            return None
        raise NodeUnreadable(path, exc)


def is_directory(path: str) -> bool:
    """A real directory (not a symlink to one); False when absent; NodeUnreadable when it cannot be looked at."""
    info = lstat_or_none(path)
    return info is not None and stat.S_ISDIR(info.st_mode)


def holds_exactly(path: str, data: bytes) -> bool:
    """True only when ``path`` is a regular file (not a symlink, FIFO or device) whose content is ``data``. Any
    other answer, an error included, is False: this is a shortcut's test, and a caller that needs to know why
    looks the long way (which raises NodeUnreadable where that is the answer)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return False
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size != len(data):
            return False
        with os.fdopen(os.dup(fd), "rb") as handle:
            return handle.read(len(data) + 1) == data
    except OSError:
        return False
    finally:
        os.close(fd)
