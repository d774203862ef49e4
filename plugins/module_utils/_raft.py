# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""hashicorp/raft semantics on top of the bbolt layer: log entries, configurations, the stable store and the
file snapshot store, exactly as raft-boltdb (v1 and v2) and raft's FileSnapshotStore keep them on disk.

Encoding follows go-msgpack's raft-boltdb handle byte for byte: structs as maps with keys sorted by field name,
strings and []byte in the legacy "raw" str family (fixstr/str16/str32, never str8 or bin: raft-boltdb v1's
decoder rejects bin, and v2's time decoder only accepts a fixstr), smallest unsigned integers, nil as c0.
msgpack-python packs exactly that with ``use_bin_type=False``.
"""

from __future__ import annotations

import base64
import datetime
import errno
import json
import os
import stat
import struct
from dataclasses import dataclass
from typing import Any, Dict, List, NamedTuple, Optional, Tuple
from ansible_collections.opstack.conductor.plugins.module_utils._errors import OpstackError
from ansible_collections.opstack.conductor.plugins.module_utils._lookup import (
    NodeUnreadable, listdir_or_none, lstat_or_none)
from ansible_collections.opstack.conductor.plugins.module_utils._servers import (  # noqa: F401 (re-exported)
    SUFFRAGE_VALUES, SUFFRAGES, Server)

try:
    import msgpack
except ImportError:  # pragma: no cover - reported by the modules through missing_required_lib
    import traceback

    msgpack = None
    MSGPACK_IMPORT_ERROR = traceback.format_exc()  # type: Optional[str]
else:
    MSGPACK_IMPORT_ERROR = None

# --- raft log.go / configuration.go enums ----------------------------------------------------------------------
LOG_TYPES = {0: "LogCommand", 1: "LogNoop", 2: "LogAddPeerDeprecated", 3: "LogRemovePeerDeprecated",
             4: "LogBarrier", 5: "LogConfiguration"}
LOG_COMMAND = 0
LOG_CONFIGURATION = 5

# --- raft-boltdb layout -----------------------------------------------------------------------------------------
LOG_FILE = "raft-log.db"
STABLE_FILE = "raft-stable.db"
DATABASE_FILES = (LOG_FILE, STABLE_FILE)
SNAPSHOT_DIR = "snapshots"
BUCKET_LOGS = b"logs"
BUCKET_CONF = b"conf"
KEY_CURRENT_TERM = b"CurrentTerm"
KEY_LAST_VOTE_TERM = b"LastVoteTerm"
KEY_LAST_VOTE_CAND = b"LastVoteCand"
U64 = struct.Struct(">Q")  # log keys and stable uint64 values are big-endian

# --- Go time.Time MarshalBinary (version 1): version u8 | seconds since 0001-01-01 i64 | nanos i32 | zone i16 --
GO_TIME_V1 = struct.Struct(">bqih")
GO_ZERO_TIME = GO_TIME_V1.pack(1, 0, 0, -1)  # what raft-boltdb stores for an unset AppendedAt
UNIX_TO_GO_SECONDS = 62135596800  # seconds from 0001-01-01 to 1970-01-01


def require_msgpack() -> None:
    if msgpack is None:
        raise RuntimeError(MSGPACK_IMPORT_ERROR)


def uint64_key(index: int) -> bytes:
    return U64.pack(index)


# ================================================================================================================
# Time
# ================================================================================================================


def go_time_to_text(raw: Optional[bytes]) -> Optional[str]:
    """A Go time (MarshalBinary bytes, or raft-boltdb v2's new-format timestamp) as RFC 3339 UTC text.
    None for the zero time or an absent value."""
    if raw is None or raw == GO_ZERO_TIME:
        return None
    if len(raw) in (15, 16) and raw[0] in (1, 2):
        seconds, nanos = GO_TIME_V1.unpack_from(raw, 0)[1:3]
        unix = seconds - UNIX_TO_GO_SECONDS
    elif len(raw) == 4:
        unix, nanos = struct.unpack(">I", raw)[0], 0
    elif len(raw) == 8:
        value = struct.unpack(">Q", raw)[0]
        unix, nanos = value & ((1 << 34) - 1), value >> 34
    elif len(raw) == 12:
        nanos, unix = struct.unpack(">Iq", raw)
    else:
        return "invalid time (%d bytes)" % len(raw)
    try:
        moment = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=unix)
    except OverflowError:
        return "time out of range (%d s)" % unix
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (".%09dZ" % nanos if nanos else "Z")


def go_time_from_unix(unix_seconds: int, nanos: int = 0) -> bytes:
    """MarshalBinary bytes of a UTC Go time."""
    return GO_TIME_V1.pack(1, unix_seconds + UNIX_TO_GO_SECONDS, nanos, -1)


# ================================================================================================================
# Configuration
# ================================================================================================================


@dataclass(frozen=True)
class Configuration:
    servers: Tuple[Server, ...]

    @property
    def voters(self) -> List[Server]:
        return [server for server in self.servers if server.suffrage == "voter"]

    def to_list(self) -> List[Dict[str, str]]:
        return [server.to_dict() for server in self.servers]


def _packer():
    require_msgpack()
    return msgpack.Packer(use_bin_type=False, autoreset=True)


def _text(value: str) -> bytes:
    return value.encode("utf-8", "surrogateescape")


def encode_configuration(configuration: Configuration) -> bytes:
    """raft.EncodeConfiguration: {"Servers": [{"Address", "ID", "Suffrage"}]}, keys sorted by name."""
    servers = [
        {b"Address": _text(server.address), b"ID": _text(server.id),
         b"Suffrage": SUFFRAGE_VALUES[server.suffrage]}
        for server in configuration.servers
    ]
    return _packer().pack({b"Servers": servers})


class DecodeError(OpstackError, ValueError):
    """Bytes that raft (or one of the raft-boltdb versions op-conductor shipped) would not decode."""


def _unpack(raw: bytes) -> Any:
    require_msgpack()
    try:
        return msgpack.unpackb(raw, raw=True, strict_map_key=False, timestamp=0)
    except Exception as exc:  # msgpack raises several unrelated types for malformed input
        raise DecodeError("not valid msgpack: %s" % exc)


def _field(value: Any, name: str) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    raise DecodeError("%s is %s, expected a string" % (name, type(value).__name__))


def decode_configuration(raw: bytes) -> Configuration:
    """raft.DecodeConfiguration, strictly: anything Go would reject or silently misread is an error."""
    document = _unpack(raw)
    if not isinstance(document, dict):
        raise DecodeError("configuration is %s, expected a map" % type(document).__name__)
    servers = document.get(b"Servers")
    if servers is None:
        servers = []
    if not isinstance(servers, list):
        raise DecodeError("configuration Servers is %s, expected an array" % type(servers).__name__)
    decoded = []
    for position, entry in enumerate(servers):
        if not isinstance(entry, dict):
            raise DecodeError("configuration server %d is not a map" % position)
        suffrage = entry.get(b"Suffrage", 0)
        if suffrage not in SUFFRAGES:
            raise DecodeError("configuration server %d has suffrage %r" % (position, suffrage))
        decoded.append(Server(
            id=_field(entry.get(b"ID", b""), "server %d ID" % position).decode("utf-8", "surrogateescape"),
            address=_field(entry.get(b"Address", b""), "server %d Address" % position)
            .decode("utf-8", "surrogateescape"),
            suffrage=SUFFRAGES[suffrage]))
    return Configuration(tuple(decoded))


# ================================================================================================================
# Log entries
# ================================================================================================================


class Log(NamedTuple):
    """A raft.Log. A named tuple, not a dataclass: a full verify builds one per entry, millions on a live node."""

    index: int
    term: int
    type: int
    data: Optional[bytes] = None
    extensions: Optional[bytes] = None
    appended_at: bytes = GO_ZERO_TIME  # the Go time exactly as stored (MarshalBinary, or v2's new format)

    @property
    def type_name(self) -> str:
        return LOG_TYPES.get(self.type, "LogType(%d)" % self.type)


def encode_log(log: Log) -> bytes:
    """raft-boltdb's encodeMsgPack(raft.Log) with its default handle (v1, and v2 without the new time format)."""
    return _packer().pack({
        b"AppendedAt": log.appended_at,
        b"Data": log.data,
        b"Extensions": log.extensions,
        b"Index": log.index,
        b"Term": log.term,
        b"Type": log.type,
    })


_LOG_FIELDS_IN_STRUCT_ORDER = (b"Index", b"Term", b"Type", b"Data", b"Extensions", b"AppendedAt")


def decode_log(raw: bytes) -> Log:
    """Decode a stored raft.Log the way raft-boltdb does, refusing what either of its decoders refuses.

    Canonical bytes (what Go writes) take the fast path. Anything else is looked at descriptor by descriptor:
    bin-typed keys break raft-boltdb v1; an AppendedAt wrapped in str8 or bin breaks v2; a time in an ext or in
    v2's new format breaks v1; mis-cased or missing fields would silently give Go a zero Log.
    """
    document = _unpack(raw)
    if isinstance(document, list):
        if len(document) != len(_LOG_FIELDS_IN_STRUCT_ORDER):
            raise DecodeError("log entry is an array of %d, expected 6 fields" % len(document))
        document = dict(zip(_LOG_FIELDS_IN_STRUCT_ORDER, document))
    if not isinstance(document, dict):
        raise DecodeError("log entry is %s, expected a map" % type(document).__name__)
    get = document.get
    index, term, log_type, data, extensions, appended_at = (
        get(b"Index"), get(b"Term"), get(b"Type"), get(b"Data"), get(b"Extensions"), get(b"AppendedAt"))
    # One cheap test for the common case; the detailed messages below only run when it fails. (msgpack gives
    # bool only for true/false, which Go would not take as an integer either.)
    if not (isinstance(index, int) and isinstance(term, int) and isinstance(log_type, int)
            and not isinstance(index, bool) and not isinstance(term, bool) and not isinstance(log_type, bool)
            and index >= 0 and term >= 0 and 0 <= log_type <= 0xFF
            and (data is None or isinstance(data, bytes)) and (extensions is None or isinstance(extensions, bytes))):
        _explain_fields(index, term, log_type, data, extensions)
    if appended_at is None:
        appended_at = GO_ZERO_TIME
    elif not isinstance(appended_at, bytes) or len(appended_at) not in (15, 16) or appended_at[0] not in (1, 2):
        _explain_time(appended_at)
    log = Log(index, term, log_type, data, extensions, appended_at)
    if encode_log(log) != raw:
        _check_descriptors(raw)
    return log


def _explain_fields(index: Any, term: Any, log_type: Any, data: Any, extensions: Any) -> None:
    for name, value in (("Index", index), ("Term", term), ("Type", log_type)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise DecodeError("log field %s is %r, expected an unsigned integer" % (name, value))
    if log_type > 0xFF:
        raise DecodeError("log Type %d does not fit a uint8" % log_type)
    for name, value in (("Data", data), ("Extensions", extensions)):
        if value is not None and not isinstance(value, bytes):
            raise DecodeError("log field %s is %s, expected bytes" % (name, type(value).__name__))


def _explain_time(appended_at: Any) -> None:
    if not isinstance(appended_at, bytes):
        raise DecodeError("log AppendedAt is %s, which raft-boltdb v1 cannot decode" % type(appended_at).__name__)
    if len(appended_at) in (4, 8, 12):
        raise DecodeError("log AppendedAt uses raft-boltdb v2's new time format, which raft-boltdb v1 rejects")
    raise DecodeError("log AppendedAt holds %d bytes that are no Go time" % len(appended_at))


def _check_descriptors(raw: bytes) -> None:
    """Walk the top-level map of a non-canonical entry and refuse encodings a supported Go decoder rejects."""
    unpacker = msgpack.Unpacker(raw=True, strict_map_key=False, timestamp=0)
    unpacker.feed(raw)
    if raw[:1] and 0x90 <= raw[0] <= 0x9F or raw[:1] in (b"\xdc", b"\xdd"):
        return  # struct-as-array: both decoders accept it (fields in struct order)
    count = unpacker.read_map_header()
    for _entry in range(count):
        key_at = unpacker.tell()
        key = unpacker.unpack()
        if 0xC4 <= raw[key_at] <= 0xC6:
            raise DecodeError("log key %r is msgpack bin, which raft-boltdb v1 rejects" % key)
        value_at = unpacker.tell()
        unpacker.skip()
        if key == b"AppendedAt":
            descriptor = raw[value_at]
            if descriptor in (0xC4, 0xC5, 0xC6, 0xD9):
                raise DecodeError("log AppendedAt is wrapped in 0x%02x; raft-boltdb v2 only decodes a time "
                                  "from a fixstr" % descriptor)
            if descriptor in (0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xC7, 0xC8, 0xC9):
                raise DecodeError("log AppendedAt is a msgpack ext timestamp, which raft-boltdb v1 rejects")
        elif key.lower() in (b"index", b"term", b"type", b"data", b"extensions", b"appendedat") and \
                key not in _LOG_FIELDS_IN_STRUCT_ORDER:
            raise DecodeError("log key %r is mis-cased; Go would ignore it and read a zero field" % key)


# ================================================================================================================
# Snapshots (raft file_snapshot.go)
# ================================================================================================================

_CRC64_XZ_POLY = 0xC96C5795D7870F42
_CRC64_TABLE = []  # type: List[int]


def _crc64_table() -> List[int]:
    if not _CRC64_TABLE:
        for byte in range(256):
            crc = byte
            for _bit in range(8):
                crc = (crc >> 1) ^ _CRC64_XZ_POLY if crc & 1 else crc >> 1
            _CRC64_TABLE.append(crc)
    return _CRC64_TABLE


def crc64_ecma(chunks) -> bytes:
    """Go's crc64.New(crc64.MakeTable(crc64.ECMA)).Sum(nil): CRC-64/XZ, big-endian."""
    table = _crc64_table()
    crc = 0xFFFFFFFFFFFFFFFF
    for chunk in chunks:
        for byte in chunk:
            crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return U64.pack(crc ^ 0xFFFFFFFFFFFFFFFF)


def _file_chunks(path: str, size: int = 1 << 20):
    with open(path, "rb") as handle:
        while True:
            chunk = handle.read(size)
            if not chunk:
                return
            yield chunk


@dataclass
class Snapshot:
    id: str
    term: int
    index: int
    size: int
    configuration_index: int
    configuration: Optional[Configuration]
    crc_ok: Optional[bool]
    problem: Optional[str] = None

    def summary(self) -> Dict[str, Any]:
        return {"id": self.id, "term": self.term, "index": self.index, "size": self.size,
                "configuration_index": self.configuration_index, "crc_ok": self.crc_ok,
                "problem": self.problem}


def last_entry(log_end: Tuple[int, int], newest_snapshot: Optional[Tuple[int, int]]) -> Tuple[int, int]:
    """Raft's getLastEntry as (term, index): the log's last entry, or the newest snapshot's when the log ends
    before it (empty, or compacted behind it)."""
    if newest_snapshot is not None and newest_snapshot[1] > log_end[1]:
        return newest_snapshot
    return log_end


def read_snapshots(node_dir: str, verify: bool = True) -> List[Snapshot]:
    """Snapshots as FileSnapshotStore.List sees them, newest first; damaged ones are kept with a problem. None
    unless ``snapshots`` is a real directory (the caller reports anything else there); NodeUnreadable for what
    cannot be looked at (anything but "does not exist")."""
    base = os.path.join(node_dir, SNAPSHOT_DIR)
    info = lstat_or_none(base)
    if info is None or not stat.S_ISDIR(info.st_mode):
        return []
    found = []
    for name in sorted(listdir_or_none(base) or ()):
        path = os.path.join(base, name)
        entry = lstat_or_none(path)
        # List uses os.ReadDir's IsDir (a symlink is not a directory there) and skips "*.tmp" (in progress)
        if name.endswith(".tmp") or entry is None or not stat.S_ISDIR(entry.st_mode):
            continue
        found.append(_read_snapshot(path, name, verify))
    found.sort(key=lambda snap: (snap.term, snap.index, snap.id), reverse=True)
    return found


def _regular(path: str) -> str:
    """``path``, when it is a regular file or missing (then opening it says so): reading a FIFO would block
    forever, and we read no state through a symlink (raft would follow it; a backup would not copy it)."""
    info = lstat_or_none(path)
    if info is not None and stat.S_ISLNK(info.st_mode):
        raise ValueError("%s is a symlink (to %r), not a regular file" % (os.path.basename(path), os.readlink(path)))
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise ValueError("%s is not a regular file" % os.path.basename(path))
    return path


def _json_field(value: Any, kind: type, name: str) -> Any:
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ValueError("%s is %r, expected %s" % (name, value, kind.__name__))
    return value


def _json_uint(value: Any, name: str) -> int:
    """A uint64 field; 2^63 and up is corruption (raft adds 1 to indexes and terms: they would wrap)."""
    if not 0 <= _json_field(value, int, name) < 1 << 63:
        raise ValueError("%s is %d, outside 0..2^63-1" % (name, value))
    return value


def _apply_meta(snapshot: Snapshot, meta: Dict[str, Any]) -> None:
    """meta.json's fields into ``snapshot``, typed as Go's json.Unmarshal into fileSnapshotMeta types them: a
    field it cannot decode makes raft skip the snapshot (List ignores it), and then the log alone must reach back
    to index 1. ValueError (or KeyError, TypeError) for such a field."""
    snapshot.id = _json_field(meta["ID"], str, "ID")
    snapshot.term = _json_uint(meta["Term"], "Term")
    snapshot.index = _json_uint(meta["Index"], "Index")
    snapshot.size = _json_uint(meta["Size"], "Size")
    snapshot.configuration_index = _json_uint(meta.get("ConfigurationIndex") or 0, "ConfigurationIndex")
    for key in ("Peers", "CRC"):  # []byte: strict standard base64
        if meta.get(key) is not None:
            base64.b64decode(_json_field(meta[key], str, key), validate=True)
    snapshot.configuration = Configuration(tuple(
        Server(_json_field(server["ID"], str, "server ID"), _json_field(server["Address"], str, "Address"),
               SUFFRAGES[_json_uint(server.get("Suffrage", 0), "Suffrage")])
        for server in (meta.get("Configuration") or {}).get("Servers") or []))


def _read_snapshot(path: str, name: str, verify: bool) -> Snapshot:
    snapshot = Snapshot(id=name, term=0, index=0, size=0, configuration_index=0, configuration=None, crc_ok=None)
    try:
        with open(_regular(os.path.join(path, "meta.json")), "rb") as handle:
            meta = json.loads(handle.read().decode("utf-8"))
        _apply_meta(snapshot, meta)
        if snapshot.id != name:  # FileSnapshotStore.Open looks the snapshot up by this ID (found by fuzzing)
            snapshot.problem = "snapshot %s: meta.json says ID %r; raft opens it by that ID and fails" % (
                name, snapshot.id)
        if meta.get("Version") != 1:
            # raft reads 0 (also what Go makes of a missing field) too, but then takes the configuration from Peers
            # (addresses as IDs) and never elects; 1 is what it writes
            snapshot.problem = "snapshot %s: version %r; raft writes 1 (0 makes it ignore the Configuration)" % (
                name, meta.get("Version"))
        state = _regular(os.path.join(path, "state.bin"))
        actual_size = os.path.getsize(state)
        if actual_size != snapshot.size:
            snapshot.problem = "snapshot %s: state.bin has %d bytes, meta.json says %d" % (
                name, actual_size, snapshot.size)
        if verify:
            expected = base64.b64decode(meta.get("CRC") or "")
            snapshot.crc_ok = crc64_ecma(_file_chunks(state)) == expected
            if not snapshot.crc_ok:
                snapshot.problem = "snapshot %s: CRC mismatch" % name
    except OSError as exc:
        if exc.errno not in (errno.ENOENT, errno.ENOTDIR):  # a file we cannot read is not a damaged one
            raise NodeUnreadable(exc.filename or path, exc)
        snapshot.problem = "snapshot %s: unreadable (%s)" % (name, exc)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        snapshot.problem = "snapshot %s: unreadable (%s)" % (name, exc)
    return snapshot
