# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validation of the path and mode options every Raft module takes, done in full before anything touches disk.

A leaf (imports only ``_errors``), so every module and helper can call it first. Found by an adversarial run
(issue 13, item 6): ``directory_mode: "-1"`` became 07777, a huge mode raised OverflowError after the parents were
made, a NUL byte in a path gave a traceback, and a 5000-byte path made 2039 nested directories before failing.

The modes a Raft state may get (documented in each module's options):

- database files (``mode``): read-write for the owner (bbolt opens them O_RDWR), nothing executable, not
  writable by others, no setuid/setgid/sticky: at most 0664, at least 0600;
- node directories (``directory_mode``): rwx for the owner (op-conductor creates ``snapshots/`` and its files
  there), not writable by others, no setuid/setgid/sticky: at most 0775, at least 0700.
"""

from __future__ import annotations

import os
from typing import Any

from ansible_collections.opstack.conductor.plugins.module_utils._errors import OpstackError

# Bytes the modules add to a node directory's path: the staging sibling ``.<name>.opstack-new-<12 hex>.ino<inode>``
# (+40), the kept copy ``<path>.<pid>.<date>.<6 hex>~`` (+36), and inside it ``snapshots/<term>-<index>-<ms>.tmp/
# state.bin`` (+80). Checked up front so that a path that fits alone cannot fail halfway through a write.
NODE_ROOM = 160
# A backup destination gets ``raft-backup-<UTC time>-<server id ≤ 200>-<8 hex>.partial`` (+254) and the node's
# files below it (+80).
BACKUP_DEST_ROOM = 350
# A path that is only read (a backup to restore or describe, a node to report on): its files are at most
# ``snapshots/<term>-<index>-<ms>/state.bin`` below it.
READ_ROOM = 80

FILE_MODE_MAX = 0o664
FILE_MODE_MIN = 0o600
DIRECTORY_MODE_MAX = 0o775
DIRECTORY_MODE_MIN = 0o700
_SPECIAL_BITS = 0o7000
_SHOWN_BYTES = 120  # a value longer than this is cut in messages (a 5000-byte path would drown the reason)


class OptionError(OpstackError, ValueError):
    """A module option that must not be used; the message names the option and the (shortened) value."""

    def __init__(self, field: str, value: Any, reason: str):
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__("%s=%s: %s" % (field, shown(value), reason))


def shown(value: Any) -> str:
    """repr() of ``value``, cut to about _SHOWN_BYTES characters with its full length said."""
    text = repr(value)
    if len(text) <= _SHOWN_BYTES:
        return text
    size = len(os.fsencode(value)) if isinstance(value, str) and "\x00" not in value else len(text)
    return "%s...%s (%d %s)" % (text[:_SHOWN_BYTES // 2], text[-20:], size,
                                "bytes" if isinstance(value, str) else "characters")


# ================================================================================================================
# Modes
# ================================================================================================================


def parse_mode(field: str, value: Any) -> int:
    """An octal string ("0640", "640") or an int (YAML 0640 is read as 416) from 0 to 0o7777."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise OptionError(field, value, "must be an octal mode such as \"0640\" (a quoted string or a YAML octal "
                                        "number)")
    if isinstance(value, str):
        digits = value.strip()
        if not digits or len(digits) > 5 or any(char not in "01234567" for char in digits):
            raise OptionError(field, value, "must be an octal mode of up to four digits such as \"0640\"; "
                                            "symbolic modes and signs are not accepted")
        value_int = int(digits, 8)
    else:
        value_int = value
    if not 0 <= value_int <= 0o7777:
        raise OptionError(field, value, "must be a mode from 0000 to 7777 (octal)")
    return value_int


def _bounded_mode(field: str, value: Any, least: int, most: int, what: str) -> int:
    mode = parse_mode(field, value)
    if mode & _SPECIAL_BITS:
        raise OptionError(field, value, "%04o sets setuid, setgid or sticky bits, which %s never need" % (mode, what))
    if mode & 0o002:
        raise OptionError(field, value, "%04o is writable by every user; %s must not be" % (mode, what))
    if mode & least != least:
        raise OptionError(field, value, "%04o lacks %04o, which %s need for op-conductor to work" % (mode, least, what))
    if mode & ~most:
        raise OptionError(field, value, "%04o is wider than %04o, the most %s may get" % (mode, most, what))
    return mode


def file_mode(field: str, value: Any) -> int:
    """The mode of raft-log.db / raft-stable.db: 0600 to 0664 (see the module docstring)."""
    return _bounded_mode(field, value, FILE_MODE_MIN, FILE_MODE_MAX, "Raft database files")


def directory_mode(field: str, value: Any) -> int:
    """The mode of a node directory: 0700 to 0775 (see the module docstring)."""
    return _bounded_mode(field, value, DIRECTORY_MODE_MIN, DIRECTORY_MODE_MAX, "node directories")


# ================================================================================================================
# Paths
# ================================================================================================================


def _limit(name: str, default: int) -> int:
    try:
        return os.pathconf("/", name)
    except (OSError, ValueError):  # no such limit on this system: the Linux values
        return default


def check_path(field: str, value: Any, room: int = 0) -> str:
    """``value`` made absolute, or OptionError: empty, a NUL byte, a component longer than NAME_MAX, or a path
    that with ``room`` more bytes (what the module writes below or beside it) would not fit in PATH_MAX.
    Nothing is looked up on disk."""
    if not isinstance(value, str) or value == "":
        raise OptionError(field, value, "must be a non-empty path")
    if "\x00" in value:
        raise OptionError(field, value, "contains a NUL byte, which no path can hold")
    try:
        absolute = os.path.abspath(value)
    except OSError as exc:  # a relative path while the working directory is gone
        raise OptionError(field, value, "is relative and the working directory cannot be resolved (%s); give "
                                        "an absolute path" % exc.strerror)
    try:
        os.fsencode(absolute)
    except UnicodeEncodeError:  # a lone surrogate from JSON: no file name can hold it
        raise OptionError(field, value, "cannot be encoded as a file name (a lone UTF-16 surrogate)")
    name_max = _limit("PC_NAME_MAX", 255)
    for component in absolute.split("/"):
        if len(os.fsencode(component)) > name_max:
            raise OptionError(field, value, "has a component of %d bytes (%s); a file name holds at most %d"
                                            % (len(os.fsencode(component)), shown(component), name_max))
    path_max = _limit("PC_PATH_MAX", 4096) - 1  # PATH_MAX counts the terminating NUL
    if len(os.fsencode(absolute)) + room > path_max:
        raise OptionError(field, value, "is %d bytes long; with the %d bytes written below or beside it, it must "
                                        "fit in PATH_MAX (%d bytes)" % (len(os.fsencode(absolute)), room,
                                                                        path_max))
    return absolute
