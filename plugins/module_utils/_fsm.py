# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""op-conductor's FSM head, offline: the unsafe payload its FSM holds after hashicorp/raft replays a node directory.

hashicorp/raft v1.7.3 (``RecoverCluster``, and ``NewRaft`` followed by applying every committed entry) restores the
newest snapshot the ``FileSnapshotStore`` lists, then applies every ``LogCommand`` entry after its index.
op-conductor opens its store with ``retain=1`` (consensus/raft.go), and ``List`` stops after ``retain`` snapshots: only
the newest snapshot whose ``meta.json`` decodes is ever tried. When it cannot be opened (CRC) or restored, raft does
not fall back to an older one: ``NewRaft`` fails ("failed to load any existing snapshots") and so does
``RecoverCluster``; so does a log entry after the snapshot that is missing or does not decode. Those raise
``FsmError``. The FSM (consensus/raft_fsm.go) replaces its head on ``Restore`` unconditionally, and on ``Apply`` only
with a strictly higher block number; an entry it cannot decode is ignored by raft (the Apply result is dropped), so
it is skipped here with a warning. Read-only.
"""

from __future__ import annotations

import base64
import json
import os
import stat
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.opstack.conductor.plugins.module_utils import _bbolt as bolt
from ansible_collections.opstack.conductor.plugins.module_utils import _lookup as lookup
from ansible_collections.opstack.conductor.plugins.module_utils import _payload as payload
from ansible_collections.opstack.conductor.plugins.module_utils import _raft as raft
from ansible_collections.opstack.conductor.plugins.module_utils._errors import OpstackError

SNAPSHOT_RETAIN = 1  # op-conductor: raft.NewFileSnapshotStoreWithLogger(baseDir, 1, ...)
_SNAPSHOT_VERSIONS = (0, 1)  # raft SnapshotVersionMin .. SnapshotVersionMax; List skips any other


class FsmError(OpstackError):
    """raft cannot replay this node's files (it fails to start on them): the FSM head is unknown."""


@dataclass(frozen=True)
class FsmHead:
    block_number: int
    block_hash: str  # 0x-prefixed hex
    index: int  # of the log entry, or of the snapshot, the head came from
    term: int
    source: str  # "snapshot" or "log"

    def summary(self) -> Dict[str, Any]:
        return {"block_number": self.block_number, "block_hash": self.block_hash, "index": self.index,
                "term": self.term, "source": self.source}


@dataclass(frozen=True)
class FsmReplay:
    head: Optional[FsmHead]  # None: the FSM is empty (no snapshot, no decodable command)
    envelope: Optional[payload.Envelope]  # the head as decoded, for payload.persisted_bytes
    last_index: int  # of the last log entry of any type after the snapshot, else the snapshot's (0: neither)
    last_term: int
    snapshot: Optional[raft.Snapshot]  # the one restored
    skipped: List[str] = field(default_factory=list)  # a warning for each command entry the FSM does not decode


@dataclass(frozen=True)
class _Meta:
    snapshot: raft.Snapshot
    crc: bytes
    version: int


# ================================================================================================================
# The snapshot raft restores (FileSnapshotStore.List with retain 1, Open, FSM.Restore)
# ================================================================================================================


def _read_meta(directory: str) -> Optional[_Meta]:
    """FileSnapshotStore.readMeta: None where Go's fails (missing meta.json, a document json.Decoder cannot decode
    into fileSnapshotMeta), so List skips the snapshot; NodeUnreadable where we cannot look."""
    path = os.path.join(directory, "meta.json")
    try:
        with open(_regular(path), "rb") as handle:
            text = handle.read().decode("utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise lookup.NodeUnreadable(path, exc)
    except UnicodeDecodeError:
        return None
    snapshot = raft.Snapshot(id="", term=0, index=0, size=0, configuration_index=0, configuration=None,
                             crc_ok=None)
    try:
        # json.Decoder.Decode reads the first value and leaves whatever follows it unread
        document, _end = json.JSONDecoder().raw_decode(text.lstrip(" \t\r\n"))
        meta = _go_fields(document)
        # the typing of each field as Go's json.Unmarshal types it, shared with _raft's snapshot reader
        raft._apply_meta(snapshot, meta)  # pylint: disable=protected-access
        crc = base64.b64decode(meta.get("CRC") or "", validate=True)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    version = meta.get("Version")
    if not isinstance(version, int) or isinstance(version, bool):
        return None
    return _Meta(snapshot, crc, version)


_META_FIELDS = ("Version", "ID", "Index", "Term", "Peers", "Configuration", "ConfigurationIndex", "Size", "CRC")


def _go_fields(document: Any) -> Dict[str, Any]:
    """The top-level fields as encoding/json assigns them: keys matched case-insensitively (the last one wins),
    absent fields zero, null decoding to the zero struct."""
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ValueError("meta.json is not an object")
    canonical = {name.lower(): name for name in _META_FIELDS}
    fields = {"Version": 0, "ID": "", "Index": 0, "Term": 0, "Size": 0}  # type: Dict[str, Any]
    for key, value in document.items():
        if key.lower() in canonical and value is not None:
            fields[canonical[key.lower()]] = value
    return fields


def _regular(path: str) -> str:
    """``path`` unless it is a symlink or not a regular file: we read no state through a symlink (raft would follow
    it) and never open a FIFO."""
    info = lookup.lstat_or_none(path)
    if info is not None and stat.S_ISLNK(info.st_mode):
        raise FsmError("%s: a symlink (to %r); the collection reads no state through symlinks"
                       % (path, os.readlink(path)))
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise FsmError("%s: not a regular file" % path)
    return path


def listed_snapshots(node_dir: str) -> List[_Meta]:
    """FileSnapshotStore.List for op-conductor: directories (not symlinks, not ``*.tmp``) whose meta.json decodes
    with a supported version, newest (Term, Index, ID) first, at most SNAPSHOT_RETAIN."""
    base = os.path.join(node_dir, raft.SNAPSHOT_DIR)
    info = lookup.lstat_or_none(base)
    if info is None:
        return []
    if stat.S_ISLNK(info.st_mode):
        raise FsmError("%s: a symlink; the collection reads no state through symlinks" % base)
    if not stat.S_ISDIR(info.st_mode):
        raise FsmError("%s: not a directory; raft's FileSnapshotStore cannot open it, so op-conductor does not start"
                       % base)
    listed = []
    for name in sorted(lookup.listdir_or_none(base) or ()):
        entry = lookup.lstat_or_none(os.path.join(base, name))
        if name.endswith(".tmp") or entry is None or not stat.S_ISDIR(entry.st_mode):
            continue
        meta = _read_meta(os.path.join(base, name))
        if meta is not None and meta.version in _SNAPSHOT_VERSIONS:
            listed.append(meta)
    listed.sort(key=lambda meta: (meta.snapshot.term, meta.snapshot.index, meta.snapshot.id), reverse=True)
    return listed[:SNAPSHOT_RETAIN]


def _restore(node_dir: str, listed: _Meta) -> payload.Envelope:
    """FileSnapshotStore.Open(ID) (meta.json re-read from the directory named by the ID, state.bin CRC-checked),
    then the FSM's Restore; FsmError where raft fails."""
    snapshot_id = listed.snapshot.id
    where = "snapshot %s" % snapshot_id
    if snapshot_id in ("", ".", "..") or "/" in snapshot_id or "\0" in snapshot_id:
        raise FsmError("%s: raft opens a snapshot by the ID in its meta.json, and %r names no snapshot directory"
                       % (where, snapshot_id))
    directory = os.path.join(node_dir, raft.SNAPSHOT_DIR, snapshot_id)
    opened = _read_meta(directory)
    if opened is None:
        raise FsmError("%s: raft opens it by its ID and cannot read %s/meta.json" % (where, directory))
    path = os.path.join(directory, "state.bin")
    try:
        with open(_regular(path), "rb") as handle:
            state = handle.read()
    except FileNotFoundError:
        raise FsmError("%s: state.bin is missing" % where)
    except OSError as exc:
        raise lookup.NodeUnreadable(path, exc)
    if raft.crc64_ecma([state]) != opened.crc:
        raise FsmError("%s: CRC mismatch in state.bin" % where)
    try:
        return payload.decode_fsm_envelope(state)
    except payload.PayloadError as exc:
        raise FsmError("%s: op-conductor's FSM cannot restore state.bin: %s" % (where, exc))


def _newest_snapshot(node_dir: str) -> Tuple[Optional[raft.Snapshot], Optional[payload.Envelope]]:
    listed = listed_snapshots(node_dir)
    if not listed:
        return None, None
    try:
        return listed[0].snapshot, _restore(node_dir, listed[0])
    except FsmError as exc:
        raise FsmError("%s; op-conductor keeps one snapshot and raft does not fall back to an older one, so it "
                       "fails to start on these files (failed to load any existing snapshots)" % exc)


# ================================================================================================================
# The log after the snapshot (RecoverCluster: GetLog for every index up to LastIndex, Apply for LogCommand)
# ================================================================================================================


class _Replay:
    """The FSM and raft's (lastIndex, lastTerm) while entries are applied in index order."""

    def __init__(self, snapshot: Optional[raft.Snapshot], envelope: Optional[payload.Envelope]):
        self.snapshot, self.envelope = snapshot, envelope
        self.head = None  # type: Optional[FsmHead]
        self.last_index = self.last_term = 0
        if snapshot is not None:
            self.last_index, self.last_term = snapshot.index, snapshot.term
            self.head = _head(envelope, snapshot.index, snapshot.term, "snapshot")
        self.skipped = []  # type: List[str]

    def apply(self, log: raft.Log) -> None:
        self.last_index, self.last_term = log.index, log.term
        if log.type != raft.LOG_COMMAND:
            return
        try:
            envelope = payload.decode_fsm_envelope(log.data or b"")
        except payload.PayloadError as exc:
            self.skipped.append("%s: entry %d (term %d): op-conductor's FSM does not apply it (raft ignores the "
                                "error, the head stays): %s" % (raft.LOG_FILE, log.index, log.term, exc))
            return
        if self.envelope is None or envelope.block_number > self.envelope.block_number:
            self.envelope = envelope
            self.head = _head(envelope, log.index, log.term, "log")

    def result(self) -> FsmReplay:
        return FsmReplay(self.head, self.envelope, self.last_index, self.last_term, self.snapshot, self.skipped)


def _head(envelope: payload.Envelope, index: int, term: int, source: str) -> FsmHead:
    return FsmHead(envelope.block_number, envelope.block_hash_hex, index, term, source)


def _log_key_index(key: bytes, where: str) -> int:
    if len(key) != 8:  # raft-boltdb's bytesToUint64 panics on fewer bytes and misreads more
        raise FsmError("%s: log key %s is not an 8-byte index; raft-boltdb cannot read it" % (where, key.hex()))
    return raft.U64.unpack(key)[0]


def _apply_log(path: str, replay: _Replay) -> None:
    """Every entry from the snapshot's index + 1 to the last one, in order: a missing one (a gap, or a log that
    starts too late) or one raft-boltdb cannot decode makes raft fail, so FsmError."""
    try:
        reader = bolt.BoltReader(path)
    except FileNotFoundError:
        return
    except bolt.BoltError as exc:
        raise FsmError("%s: %s" % (path, exc))
    except OSError as exc:
        raise lookup.NodeUnreadable(path, exc)
    with reader:
        try:
            _walk_log(path, reader, replay)
        except bolt.BoltError as exc:
            raise FsmError("%s: %s" % (path, exc))


def _walk_log(path: str, reader: bolt.BoltReader, replay: _Replay) -> None:
    logs = reader.bucket(raft.BUCKET_LOGS)
    last = logs.cursor().last() if logs is not None else None
    if last is None:
        return
    last_index = _log_key_index(last[0], path)
    expected = replay.last_index + 1  # 1 without a snapshot
    cursor = logs.cursor()
    item = cursor.seek(raft.uint64_key(expected)) if expected <= last_index else None
    while expected <= last_index:
        if item is None or item[2] or _log_key_index(item[0], path) != expected:
            raise FsmError("%s: entry %d is missing (the log holds entries up to %d); raft fails to read it"
                           % (path, expected, last_index))
        try:
            replay.apply(raft.decode_log(bytes(item[1])))
        except raft.DecodeError as exc:
            raise FsmError("%s: entry %d: %s; raft fails to read it" % (path, expected, exc))
        expected += 1
        item = cursor.next()


def replay_fsm(node_dir: str) -> FsmReplay:
    """The FSM op-conductor holds after raft replays ``node_dir`` (see the module docstring). Read-only.
    FsmError when raft fails on these files; NodeUnreadable when a path cannot be looked at."""
    lookup.lstat_or_none(node_dir)  # "cannot look" is never "empty"
    snapshot, envelope = _newest_snapshot(node_dir)
    replay = _Replay(snapshot, envelope)
    _apply_log(os.path.join(node_dir, raft.LOG_FILE), replay)
    return replay.result()
