# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Raft state of one op-conductor node directory, read the way hashicorp/raft reads it at start-up.

Two depths: the summary reads a handful of pages (cursor at each end of the log, the stable keys, the newest
configuration), so it stays fast on multi-GiB live files; ``verify`` walks everything and reports each defect
that would make bbolt's check fail, raft-boltdb fail to decode, or raft panic at start.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Tuple

from ansible_collections.opstack.conductor.plugins.module_utils import _bbolt as bolt
from ansible_collections.opstack.conductor.plugins.module_utils import _lookup as lookup
from ansible_collections.opstack.conductor.plugins.module_utils import _raft as raft

# A canonical entry ends with fixstr "Type" and a positive fixint: read the type without decoding the entry.
_TYPE_SUFFIX = b"\xa4Type"


@dataclass
class ConfigurationEntry:
    index: int
    term: int
    configuration: raft.Configuration
    source: str  # "log" or "snapshot"

    def summary(self) -> Dict[str, Any]:
        return {"index": self.index, "term": self.term, "source": self.source,
                "servers": self.configuration.to_list()}


@dataclass
class Integrity:
    checked: bool = False
    problems: List[str] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)
    rejected_configurations: List[str] = field(default_factory=list)  # those of ``problems`` (see files_ok)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def files_ok(self) -> bool:
        """No problem but configurations raft's checkConfiguration rejects (other than no voter): the files are
        exactly what Raft reads and runs on, so a copy of them is faithful. A node op-conductor-init v0.1.6 made
        with duplicate IDs must still be backed up before it is re-seeded, and its backup restored."""
        return all(problem in self.rejected_configurations for problem in self.problems)

    def summary(self) -> Dict[str, Any]:
        return {"ok": self.ok, "checked": self.checked, "problems": _capped(self.problems),
                "warnings": _capped(self.warnings)}


def _capped(messages: List[str]) -> List[str]:
    """At most bolt.MAX_PROBLEMS messages (every entry of a damaged log could add one), then a count."""
    if len(messages) <= bolt.MAX_PROBLEMS:
        return list(messages)
    return messages[:bolt.MAX_PROBLEMS] + ["... and %d more" % (len(messages) - bolt.MAX_PROBLEMS)]


@dataclass
class DatabaseFile:
    name: str
    exists: bool = False
    size: int = 0
    page_size: Optional[int] = None
    txid: Optional[int] = None

    def summary(self) -> Dict[str, Any]:
        return {"exists": self.exists, "size": self.size, "page_size": self.page_size, "txid": self.txid}


@dataclass
class NodeState:
    path: str
    files: Dict[str, DatabaseFile]
    current_term: Optional[int] = None
    last_vote_term: Optional[int] = None
    last_vote_candidate: Optional[str] = None
    first_index: int = 0
    last_index: int = 0
    last_log_term: int = 0
    entries: int = 0
    latest_configuration: Optional[ConfigurationEntry] = None
    snapshots: List[raft.Snapshot] = field(default_factory=list)
    integrity: Integrity = field(default_factory=Integrity)

    @property
    def exists(self) -> bool:
        return any(db.exists for db in self.files.values())

    @property
    def page_size(self) -> Optional[int]:
        return self.files[raft.LOG_FILE].page_size

    @property
    def snapshot_index(self) -> int:
        usable = [snap for snap in self.snapshots if snap.problem is None]
        return usable[0].index if usable else 0

    def summary(self) -> Dict[str, Any]:
        return {
            "exists": self.exists,
            "page_size": self.page_size,
            "files": {name: db.summary() for name, db in self.files.items()},
            "current_term": self.current_term,
            "last_vote_term": self.last_vote_term,
            "last_vote_candidate": self.last_vote_candidate,
            "first_index": self.first_index,
            "last_index": self.last_index,
            "last_log_term": self.last_log_term,
            "entries": self.entries,
            "latest_configuration": self.latest_configuration.summary() if self.latest_configuration else None,
            "snapshots": [snap.summary() for snap in self.snapshots],
            "integrity": self.integrity.summary(),
        }


# ================================================================================================================
# Reading
# ================================================================================================================


def read_node_state(path: str, verify: bool = False) -> NodeState:
    """Never raises for a damaged node: what is damaged becomes an integrity problem. A node, file or snapshot
    that cannot be looked at (EACCES, ELOOP, EIO: anything but "does not exist") raises lookup.NodeUnreadable,
    since its state is unknown, not absent."""
    state = NodeState(path=path, files={name: DatabaseFile(name) for name in (raft.LOG_FILE, raft.STABLE_FILE)})
    state.integrity.checked = verify
    _read_snapshots(state, verify)
    _read_stable(state, verify)
    _check_vote(state)
    _read_log(state, verify)
    _check_snapshot_configuration(state)
    if verify:
        _cross_checks(state)
    return state


def _read_snapshots(state: NodeState, verify: bool) -> None:
    """``snapshots`` as FileSnapshotStore needs it: absent (raft creates it) or a real directory. A file there
    makes its MkdirAll fail, so op-conductor cannot start; a symlink we refuse to read or write through."""
    path = os.path.join(state.path, raft.SNAPSHOT_DIR)
    info = lookup.lstat_or_none(path)
    if info is None:
        return
    if stat.S_ISLNK(info.st_mode):
        state.integrity.problems.append("%s: a symlink (to %r), not a directory; the collection neither reads nor "
                                        "replaces state through symlinks: make it a real directory"
                                        % (raft.SNAPSHOT_DIR, os.readlink(path)))
        return
    if not stat.S_ISDIR(info.st_mode):
        state.integrity.problems.append("%s: not a directory (%s); raft's FileSnapshotStore cannot create or list "
                                        "snapshots there, so op-conductor fails to start"
                                        % (raft.SNAPSHOT_DIR, _file_kind(info.st_mode)))
        return
    state.snapshots = raft.read_snapshots(state.path, verify=verify)
    for snapshot in state.snapshots:
        if snapshot.problem:
            state.integrity.problems.append(snapshot.problem)


def _file_kind(mode: int) -> str:
    kinds = ((stat.S_ISREG, "a regular file"), (stat.S_ISDIR, "a directory"), (stat.S_ISLNK, "a symlink"),
             (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"))
    return next((name for test, name in kinds if test(mode)), "mode 0o%o" % mode)


def _open(state: NodeState, name: str, verify: bool, visit: Optional[bolt.LeafVisitor] = None
          ) -> Optional[bolt.BoltReader]:
    db = state.files[name]
    path = os.path.join(state.path, name)
    info = lookup.lstat_or_none(path)
    if info is not None and stat.S_ISLNK(info.st_mode):
        # op-conductor would open the target; we refuse to read or replace state through a symlink (issue 13 #10)
        db.exists = True
        state.integrity.problems.append("%s: a symlink (to %r), not a regular file; the collection neither reads "
                                        "nor replaces state through symlinks: put the real file there"
                                        % (name, os.readlink(path)))
        return None
    try:
        reader = bolt.BoltReader(path)
    except (FileNotFoundError, NotADirectoryError):
        if verify and lookup.is_directory(state.path):
            state.integrity.problems.append("%s: missing" % name)
        return None
    except bolt.BoltError as exc:
        db.exists, db.size = True, info.st_size if info is not None and stat.S_ISREG(info.st_mode) else 0
        state.integrity.problems.append("%s: %s" % (name, exc))
        return None
    except OSError as exc:  # not "missing": unknown (EACCES, ELOOP, EIO), so nothing may be decided on it
        raise lookup.NodeUnreadable(path, exc)
    db.exists, db.size = True, reader.file_size
    db.page_size, db.txid = reader.page_size, reader.meta.txid
    if verify:
        reader_report = bolt.check_reader(reader, visit)
        state.integrity.problems.extend("%s: %s" % (name, problem) for problem in reader_report.problems)
        state.integrity.warnings.extend("%s: %s" % (name, warning) for warning in reader_report.warnings)
    return reader


def _bucket(reader: bolt.BoltReader, state: NodeState, name: str, bucket_name: bytes) -> Optional[bolt.Bucket]:
    try:
        bucket = reader.bucket(bucket_name)
    except bolt.BoltError as exc:
        state.integrity.problems.append("%s: %s" % (name, exc))
        return None
    if bucket is None:
        state.integrity.problems.append("%s: bucket %s missing; not a raft-boltdb database"
                                        % (name, bucket_name.decode()))
    return bucket


def _read_stable(state: NodeState, verify: bool) -> None:
    reader = _open(state, raft.STABLE_FILE, verify)
    if reader is None:
        return
    with reader:
        conf = _bucket(reader, state, raft.STABLE_FILE, raft.BUCKET_CONF)
        if conf is None:
            return
        try:
            state.current_term = _uint64(state, conf, raft.KEY_CURRENT_TERM)
            state.last_vote_term = _uint64(state, conf, raft.KEY_LAST_VOTE_TERM)
            candidate = conf.get(raft.KEY_LAST_VOTE_CAND)
        except bolt.BoltError as exc:
            state.integrity.problems.append("%s: %s" % (raft.STABLE_FILE, exc))
            return
        if candidate is not None:
            state.last_vote_candidate = candidate.decode("utf-8", "surrogateescape")
        if verify:
            _expect_empty(reader, state, raft.STABLE_FILE, raft.BUCKET_LOGS)


def _check_vote(state: NodeState) -> None:
    if None not in (state.last_vote_term, state.current_term) and state.last_vote_term > state.current_term:
        # raft stores the vote after the term it was cast in, so this comes from edited or mixed files; the node
        # would still refuse other candidates in term LastVoteTerm.
        state.integrity.warnings.append("%s: LastVoteTerm %d is above CurrentTerm %d, which raft never writes "
                                        "(edited or mixed files?)"
                                        % (raft.STABLE_FILE, state.last_vote_term, state.current_term))


def _uint64(state: NodeState, bucket: bolt.Bucket, key: bytes) -> Optional[int]:
    value = bucket.get(key)
    if value is None:
        return None
    if len(value) != 8:
        # raft-boltdb's GetUint64 reads 8 bytes big-endian: a shorter value panics, a longer one is misread.
        state.integrity.problems.append("%s: %s holds %d bytes, expected 8"
                                        % (raft.STABLE_FILE, key.decode(), len(value)))
        return None
    return raft.U64.unpack(value)[0]


def _expect_empty(reader: bolt.BoltReader, state: NodeState, name: str, bucket_name: bytes) -> None:
    bucket = _bucket(reader, state, name, bucket_name)
    try:
        empty = bucket is None or bucket.cursor().first() is None
    except bolt.BoltError as exc:  # a damaged bucket raft never reads there is still damage
        state.integrity.problems.append("%s: %s" % (name, exc))
        return
    if not empty:
        state.integrity.warnings.append("%s: bucket %s is not empty; raft never reads it there"
                                        % (name, bucket_name.decode()))


def _read_log(state: NodeState, verify: bool) -> None:
    walker = _LogWalker(state) if verify else None
    reader = _open(state, raft.LOG_FILE, verify, walker.visit if walker else None)
    if reader is None:
        return
    with reader:
        logs = _bucket(reader, state, raft.LOG_FILE, raft.BUCKET_LOGS)
        if logs is None:
            return
        try:
            if walker is None:
                _summarise_log(state, logs)
            else:
                _expect_empty(reader, state, raft.LOG_FILE, raft.BUCKET_CONF)
                if not walker.visited:
                    # The check stopped before the logs tree (a damaged meta or root): walk it with a cursor.
                    for key, value, is_bucket in logs.items():
                        walker.entry(key, value, is_bucket)
                walker.finish()
        except bolt.BoltError as exc:
            state.integrity.problems.append("%s: %s" % (raft.LOG_FILE, exc))
    if state.latest_configuration is None:
        _configuration_from_snapshot(state)


def _index_of(key: bytes) -> int:
    if len(key) != 8:
        raise bolt.BoltError("log key %s is %d bytes, expected an 8-byte index" % (key.hex(), len(key)))
    return raft.U64.unpack(key)[0]


def _entry_type(raw: bytes) -> int:
    if raw[-6:-1] == _TYPE_SUFFIX and raw[-1] < 0x80:
        return raw[-1]
    return raft.decode_log(raw).type


def _summarise_log(state: NodeState, logs: bolt.Bucket) -> None:
    first = logs.cursor().first()
    cursor = logs.cursor()
    last = cursor.last()
    if first is None or last is None:
        return
    state.first_index, state.last_index = _index_of(first[0]), _index_of(last[0])
    state.entries = state.last_index - state.first_index + 1
    try:
        state.last_log_term = raft.decode_log(bytes(last[1])).term
    except raft.DecodeError as exc:
        state.integrity.problems.append("%s: entry %d: %s" % (raft.LOG_FILE, state.last_index, exc))
    # Newest configuration: walk back from the end, but no further than the newest snapshot, which carries
    # the configuration committed up to its index. Raft keeps that stretch short (trailing logs).
    stop_at = state.snapshot_index
    item = last
    while item is not None:
        index = _index_of(item[0])
        if index <= stop_at:
            return
        raw = bytes(item[1])
        try:
            if _entry_type(raw) == raft.LOG_CONFIGURATION:
                _set_configuration(state, raft.decode_log(raw))
                return
        except raft.DecodeError as exc:
            state.integrity.problems.append("%s: entry %d: %s" % (raft.LOG_FILE, index, exc))
            return
        item = cursor.prev()


def _set_configuration(state: NodeState, log: raft.Log) -> None:
    try:
        configuration = raft.decode_configuration(log.data or b"")
    except raft.DecodeError as exc:
        state.integrity.problems.append("%s: entry %d: configuration: %s" % (raft.LOG_FILE, log.index, exc))
        return
    state.latest_configuration = ConfigurationEntry(log.index, log.term, configuration, "log")
    if log.index > state.snapshot_index:  # raft replays every configuration entry after its snapshot at start
        _report_configuration(state, "%s: configuration at index %d" % (raft.LOG_FILE, log.index), configuration)


def _check_snapshot_configuration(state: NodeState) -> None:
    """The configuration of the snapshot raft restores at start (the newest usable one), unless raft ignores it
    (ConfigurationIndex 0, reported by _configuration_from_snapshot)."""
    usable = [snap for snap in state.snapshots if snap.problem is None]
    if usable and usable[0].configuration is not None and usable[0].configuration_index != 0:
        _report_configuration(state, "snapshot %s: configuration at index %d"
                              % (usable[0].id, usable[0].configuration_index), usable[0].configuration)


def _report_configuration(state: NodeState, where: str, configuration: raft.Configuration) -> None:
    for problem in configuration_problems(configuration):
        message = ("%s: %s; raft's checkConfiguration rejects such a configuration, so no membership change can be "
                   "made from it" % (where, problem))
        state.integrity.problems.append(message)
        if problem != _NO_VOTER:  # a node no one can elect is damage, as before: never backed up or restored
            state.integrity.rejected_configurations.append(message)


def configuration_problems(configuration: raft.Configuration) -> List[str]:
    """Every case hashicorp/raft's checkConfiguration (configuration.go) rejects, not only the first: an empty ID
    or address, an ID or address listed twice (exact bytes, as raft compares them), no voter. Raft does not run it
    on what it reads at start, but on every membership change (nextConfiguration), bootstrap, recovery and
    peers.json; op-conductor-init v0.1.6 wrote duplicate IDs for --server-ids s1,s1,s3."""
    problems = []
    ids = {}  # type: Dict[str, int]
    addresses = {}  # type: Dict[str, str]
    for position, server in enumerate(configuration.servers, 1):
        name = "server %d" % position if server.id == "" else "server %r" % server.id
        if server.id == "":
            problems.append("server %d has an empty ID" % position)
        elif server.id in ids:
            problems.append("server ID %r is listed twice (servers %d and %d)" % (server.id, ids[server.id], position))
        else:
            ids[server.id] = position
        if server.address == "":
            problems.append("%s has an empty address" % name)
        elif server.address in addresses:
            problems.append("address %r is listed twice (%s and %s)"
                            % (server.address, addresses[server.address], name))
        else:
            addresses[server.address] = name
    if not configuration.voters:
        problems.append(_NO_VOTER)
    return problems


_NO_VOTER = "it has no voter: no node can be elected"


def _configuration_from_snapshot(state: NodeState) -> None:
    for snapshot in state.snapshots:
        if snapshot.problem is None and snapshot.configuration is not None:
            if snapshot.configuration_index == 0:
                # raft restores it as configuration index 0, which it treats as "no known peers": the node never
                # starts an election (found by fuzzing: a flipped bit in the "ConfigurationIndex" key).
                state.integrity.problems.append("snapshot %s: ConfigurationIndex is 0 (or missing), so raft ignores "
                                                "its configuration" % snapshot.id)
                return
            state.latest_configuration = ConfigurationEntry(
                snapshot.configuration_index, snapshot.term, snapshot.configuration, "snapshot")
            return


class _LogWalker:
    """Every entry, in key order, as the structural check passes the leaves of ``logs``: each decodes, its
    Index equals its key, and the log is contiguous where raft will read it at start."""

    def __init__(self, state: NodeState):
        self.state = state
        self.snapshot_index = state.snapshot_index
        self.previous = None  # type: Optional[int]
        self.visited = False

    def visit(self, path: Tuple[bytes, ...], node: bolt.Node) -> None:
        if path != (raft.BUCKET_LOGS,):
            return
        self.visited = True
        for index, key in enumerate(node.keys):
            self.entry(key, node.value(index), bool(node.element_flags(index) & bolt.BUCKET_LEAF_FLAG))

    def entry(self, key: bytes, value: memoryview, is_bucket: bool) -> None:
        state, problems = self.state, self.state.integrity.problems
        if is_bucket:
            problems.append("%s: key %s is a bucket, not a log entry" % (raft.LOG_FILE, key.hex()))
            return
        try:
            index = _index_of(key)
        except bolt.BoltError as exc:
            problems.append("%s: %s" % (raft.LOG_FILE, exc))
            return
        if self.previous is None:
            state.first_index = index
        elif index != self.previous + 1:
            message = "%s: entries %d..%d are missing" % (raft.LOG_FILE, self.previous + 1, index - 1)
            if index - 1 > self.snapshot_index:
                problems.append(message + " (raft panics when it reads them at start)")
            else:
                state.integrity.warnings.append(message + " (before the snapshot, raft does not read them)")
        self.previous = index
        state.entries += 1
        try:
            log = raft.decode_log(bytes(value))
        except raft.DecodeError as exc:
            problems.append("%s: entry %d: %s" % (raft.LOG_FILE, index, exc))
            return
        if log.index != index:
            problems.append("%s: entry under key %d says Index %d" % (raft.LOG_FILE, index, log.index))
        if log.type not in raft.LOG_TYPES:  # raft's processLog panics on it ("unrecognized log type")
            problems.append("%s: entry %d has log type %d, which raft panics on when it applies it"
                            % (raft.LOG_FILE, index, log.type))
        state.last_log_term = log.term
        if log.type == raft.LOG_CONFIGURATION:
            _set_configuration(state, log)

    def finish(self) -> None:
        state = self.state
        state.last_index = self.previous or 0
        if state.first_index > self.snapshot_index + 1:
            state.integrity.problems.append(
                "%s: log starts at %d but the newest snapshot covers only up to %d; raft panics on the missing "
                "entries" % (raft.LOG_FILE, state.first_index, self.snapshot_index))


def _cross_checks(state: NodeState) -> None:
    problems = state.integrity.problems
    if state.latest_configuration is None and not any("configuration" in p for p in problems):
        problems.append("no cluster configuration in the log or a snapshot: the node cannot join or elect")
    terms = [state.last_log_term] + [snap.term for snap in state.snapshots if snap.problem is None]
    if state.current_term is None:
        if state.exists and max(terms) > 0:
            problems.append("%s: CurrentTerm missing while the log has entries of term %d"
                            % (raft.STABLE_FILE, max(terms)))
    elif state.current_term < max(terms):
        problems.append("%s: CurrentTerm %d is below the term %d of the newest entry or snapshot"
                        % (raft.STABLE_FILE, state.current_term, max(terms)))
    if (state.last_vote_candidate is None) != (state.last_vote_term is None):
        state.integrity.warnings.append("%s: LastVoteTerm and LastVoteCand are not both set" % raft.STABLE_FILE)


def check_membership(state: NodeState, server_id: str) -> None:
    """Warns when ``server_id`` is not in the node's newest configuration: op-conductor started with that ID
    would never vote, be elected or be sent entries. A warning, not a problem: a node just removed from the
    cluster holds exactly that."""
    latest = state.latest_configuration
    if latest is None or any(server.id == server_id for server in latest.configuration.servers):
        return
    state.integrity.warnings.append(
        "server ID %r is not in the newest configuration (index %d, from the %s): op-conductor started with "
        "this ID would never vote, be elected or receive entries" % (server_id, latest.index, latest.source))


def iter_log_entries(path: str) -> Iterator[Tuple[int, raft.Log]]:
    """(key index, decoded entry) for every entry of a raft-log.db; raises on the first undecodable one."""
    with bolt.BoltReader(path) as reader:
        logs = reader.bucket(raft.BUCKET_LOGS)
        if logs is None:
            return
        for key, value, _is_bucket in logs.items():
            yield _index_of(key), raft.decode_log(bytes(value))


# ================================================================================================================
# Which cluster a node belongs to
# ================================================================================================================


def _sha256_hex(data: bytes) -> str:
    # Imported here: hashlib loads OpenSSL (15-30 ms of start-up), and only the identity checks hash.
    import hashlib  # pylint: disable=import-outside-toplevel
    return hashlib.sha256(data).hexdigest()


def membership_hash(members: List[Dict[str, str]]) -> str:
    canonical = json.dumps(sorted((m["id"], m["address"], m["suffrage"]) for m in members), separators=(",", ":"))
    return _sha256_hex(canonical.encode("utf-8", "surrogateescape"))


def cluster_identity(node_dir: str) -> Dict[str, Any]:
    """What makes a cluster this one and not a re-seeded one: the configuration it was seeded with and the term
    it was seeded at, i.e. log entry 1 (raft_state and op-conductor-init write it; a bootstrap writes it). It is
    in the log only until the first compaction; after that the node's files cannot tell, and the identity is
    unknown ({"id": None, "reason": ...}) unless make_backup inherits it from an earlier backup. An OSError other than "no such file" propagates:
    a log we may not read never makes a node without an identity."""
    try:
        with bolt.BoltReader(os.path.join(node_dir, raft.LOG_FILE)) as reader:
            logs = reader.bucket(raft.BUCKET_LOGS)
            raw = logs.get(raft.uint64_key(1)) if logs is not None else None
            first = raft.decode_log(bytes(raw)) if raw is not None else None
            configuration = raft.decode_configuration(first.data or b"") \
                if first is not None and first.type == raft.LOG_CONFIGURATION else None
    except FileNotFoundError:
        return {"id": None, "reason": "there is no %s" % raft.LOG_FILE}
    except (bolt.BoltError, raft.DecodeError) as exc:
        return {"id": None, "reason": "log entry 1 cannot be decoded (%s)" % exc}
    if configuration is None:
        return {"id": None, "reason": "the log no longer holds the seeding configuration at index 1 (compacted)"
                if first is None else "log entry 1 is not a configuration"}
    members_hash = membership_hash(configuration.to_list())
    identity = _sha256_hex(("%d:%s" % (first.term, members_hash)).encode("ascii"))[:16]
    return {"id": identity, "initial_term": first.term, "initial_membership_hash": members_hash,
            "source": "log entry 1"}
