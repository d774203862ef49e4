# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``raft.RecoverCluster`` for one op-conductor node directory, offline: the decision behind raft_recover and the
new state it swaps in.

What hashicorp/raft v1.7.x ``api.go: RecoverCluster`` leaves with op-conductor's FSM and snapshot store
(``/work/shared/reference/day2-operations.md`` b.1): the newest snapshot that restores, every entry after it applied
(all of them become committed), one new snapshot ``<term>-<index>-<ms>`` holding the head as the FSM's Persist
writes it and the new configuration at ConfigurationIndex 1, the old snapshot reaped (op-conductor retains one),
the whole log range deleted, and ``raft-stable.db`` untouched (here: byte for byte; Go rewrites a bbolt meta page
of it with the same content). Go writes in place; here the new state is built beside the node and swapped in
whole (``_fs.replace_directory``), so the node holds the complete old or the complete new state at every instant
and the old directory is kept.

Kept free of AnsibleModule so every branch is unit-tested directly.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.opstack.conductor.plugins.module_utils import _bbolt as bolt
from ansible_collections.opstack.conductor.plugins.module_utils import _cluster as cluster
from ansible_collections.opstack.conductor.plugins.module_utils import _fs as fs
from ansible_collections.opstack.conductor.plugins.module_utils import _fsm as fsm
from ansible_collections.opstack.conductor.plugins.module_utils import _node_dir as nodes
from ansible_collections.opstack.conductor.plugins.module_utils import _node_state as node_state
from ansible_collections.opstack.conductor.plugins.module_utils import _payload as payload
from ansible_collections.opstack.conductor.plugins.module_utils import _raft as raft
from ansible_collections.opstack.conductor.plugins.module_utils._errors import OpstackError
from ansible_collections.opstack.conductor.plugins.module_utils._servers import SpecError, server_text

RECOVER = "recover"  # write the recovered state
UNCHANGED = "unchanged"  # the node already holds exactly what a recovery to this configuration leaves

SNAPSHOT_VERSION = 1  # getSnapshotVersion(ProtocolVersion 3): the only version FileSnapshotStore.Create accepts
CONFIGURATION_INDEX = 1  # RecoverCluster places the configuration "as if it was committed at index 1"
SNAPSHOT_DIR_MODE = 0o755  # FileSnapshotStore: os.MkdirAll(path, 0o755) for snapshots/ and each snapshot
SNAPSHOT_FILE_MODE = 0o600
META_FILE = "meta.json"
STATE_FILE = "state.bin"
RESEED = ("use a re-seed instead: fresh state from the inventory (raft_state with force=true, or the recover "
          "playbook's reseed mode), then start the sequencer at the highest op-node unsafe head")


class RecoverRefused(OpstackError):
    """A node directory raft_recover must not (or cannot) recover; nothing was written."""


@dataclass
class NewSnapshot:
    """The snapshot RecoverCluster creates: its position, configuration and the FSM's persisted bytes."""
    term: int
    index: int
    configuration: raft.Configuration
    state: bytes

    def name(self, millis: int) -> str:
        return "%d-%d-%d" % (self.term, self.index, millis)  # file_snapshot.go snapshotName

    def meta_json(self, snapshot_id: str) -> bytes:
        return go_json(snapshot_meta(self, snapshot_id)) + b"\n"  # json.Encoder.Encode ends with a newline


@dataclass
class RecoverPlan:
    action: str
    reason: str
    current: node_state.NodeState
    configuration: raft.Configuration
    replay: Any  # _fsm.FsmReplay
    snapshot: NewSnapshot
    warnings: List[str] = field(default_factory=list)

    @property
    def writes(self) -> bool:
        return self.action == RECOVER

    def head(self) -> Dict[str, Any]:
        head = self.replay.head
        return {"block_number": head.block_number, "block_hash": head.block_hash, "index": head.index,
                "term": head.term, "source": head.source}


# ================================================================================================================
# snapshots/<id>/meta.json as raft writes it
# ================================================================================================================


def encode_peers(configuration: raft.Configuration) -> bytes:
    """configuration.go encodePeers with the TCP transport (EncodePeer is []byte(address)): the voters' addresses
    as a msgpack array of raw strings, as go-msgpack's MsgpackHandle writes []byte."""
    raft.require_msgpack()
    addresses = [server.address.encode("utf-8", "surrogateescape") for server in configuration.voters]
    return raft.msgpack.packb(addresses, use_bin_type=False)


def snapshot_meta(snapshot: NewSnapshot, snapshot_id: str) -> Dict[str, Any]:
    """fileSnapshotMeta, its fields in Go's struct order (SnapshotMeta embedded, then CRC)."""
    return {
        "Version": SNAPSHOT_VERSION, "ID": snapshot_id, "Index": snapshot.index, "Term": snapshot.term,
        "Peers": base64.b64encode(encode_peers(snapshot.configuration)).decode("ascii"),
        "Configuration": {"Servers": [{"Suffrage": raft.SUFFRAGE_VALUES[server.suffrage], "ID": server.id,
                                       "Address": server.address} for server in snapshot.configuration.servers]},
        "ConfigurationIndex": CONFIGURATION_INDEX, "Size": len(snapshot.state),
        "CRC": base64.b64encode(raft.crc64_ecma([snapshot.state])).decode("ascii"),
    }


def go_json(document: Any) -> bytes:
    """encoding/json's bytes: no spaces, UTF-8 kept, and <, >, &, U+2028, U+2029 escaped as Go's HTML-safe
    encoder does (a server ID or address may hold them)."""
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                          ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text.encode("utf-8", "surrogateescape")


# ================================================================================================================
# The decision
# ================================================================================================================


def validate_configuration(servers: Any, server_id: str) -> raft.Configuration:
    """The new configuration as RecoverCluster's checkConfiguration wants it (unique non-empty IDs and addresses,
    a voter), and holding this node: a node recovered out of its own configuration could never be elected."""
    spec, _warnings = cluster.validate_cluster(servers)
    if not any(server.id == server_id for server in spec.servers):
        raise SpecError("servers", [server.id for server in spec.servers],
                        "does not hold this node's server_id %r; recovering a node to a configuration without "
                        "it leaves a node that is never elected nor replicated to" % server_id)
    return spec.configuration


def has_existing_state(state: node_state.NodeState) -> bool:
    """api.go HasExistingState: a CurrentTerm above 0, a log entry or a snapshot."""
    return bool(state.current_term) or state.last_index > 0 or bool(state.snapshots)


def damage(state: node_state.NodeState) -> List[str]:
    """What is wrong with the files RecoverCluster reads, other than what recovery itself fixes or skips: the
    membership (replaced here) and damaged snapshots (skipped for an older one, as Go does)."""
    skipped = {snapshot.problem for snapshot in state.snapshots if snapshot.problem}
    return [problem for problem in state.integrity.problems
            if problem not in skipped and "checkConfiguration rejects" not in problem
            and not problem.startswith("no cluster configuration")]


def _read(node_dir: str) -> node_state.NodeState:
    if not fs.is_directory(node_dir):
        raise RecoverRefused("%s: no Raft state here (no node directory); raft.RecoverCluster refuses a node "
                             "without existing state, and so does this module" % node_dir)
    state = node_state.read_node_state(node_dir, verify=True)
    if not has_existing_state(state):
        raise RecoverRefused("%s: no existing Raft state (no term, no log entry, no snapshot); raft.RecoverCluster "
                             "refuses it as an operator error. Start the node fresh with raft_state instead"
                             % node_dir)
    problems = damage(state)
    if problems:
        raise RecoverRefused("%s: the Raft state is damaged, so what recovery would keep cannot be known: %s"
                             % (node_dir, "; ".join(problems[:5])))
    return state


def _replay(node_dir: str) -> Any:
    replay = fsm.replay_fsm(node_dir)
    if replay.head is None or replay.envelope is None:
        raise RecoverRefused("%s: op-conductor's FSM is empty here (no snapshot and no log entry holds an unsafe "
                             "payload), and raft.RecoverCluster cannot snapshot an empty FSM (op-conductor's Persist "
                             "dereferences the missing head); %s" % (node_dir, RESEED))
    return replay


def already_recovered(state: node_state.NodeState, snapshot: NewSnapshot) -> bool:
    """The node holds what a recovery to this configuration leaves: no log, one snapshot of this head at this
    position with this configuration at index 1. A node that has run since has log entries again."""
    if state.entries or state.last_index or len(state.snapshots) != 1:
        return False
    only = state.snapshots[0]
    return (only.problem is None and only.configuration_index == CONFIGURATION_INDEX
            and _members(only.configuration) == _members(snapshot.configuration)  # the order is no difference
            and (only.term, only.index, only.size) == (snapshot.term, snapshot.index, len(snapshot.state))
            and _state_bytes(state.path, only.id) == snapshot.state)


def _members(configuration: Optional[raft.Configuration]) -> frozenset:
    return frozenset((server.id, server.address, server.suffrage) for server in configuration.servers) \
        if configuration is not None else frozenset()


def _state_bytes(node_dir: str, snapshot_id: str) -> Optional[bytes]:
    path = os.path.join(node_dir, raft.SNAPSHOT_DIR, snapshot_id, STATE_FILE)
    handle = fs.open_or_none(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    if handle is None:
        return None
    with os.fdopen(handle, "rb") as stream:
        return stream.read()


def plan_recover(node_dir: str, servers: Any, server_id: str) -> RecoverPlan:
    """The decision for ``node_dir`` (leftovers of an interrupted run already put right by the caller).
    RecoverRefused, SpecError or NodeUnreadable when it must not be recovered."""
    configuration = validate_configuration(servers, server_id)
    nodes.check_node_path(node_dir)
    state = _read(node_dir)
    replay = _replay(node_dir)
    try:
        persisted = payload.persisted_bytes(replay.envelope)
    except payload.PayloadError as exc:  # Go's Persist returns the same error and leaves a .tmp snapshot
        raise RecoverRefused("%s: op-conductor's FSM cannot persist the head (%s); %s" % (node_dir, exc, RESEED))
    snapshot = NewSnapshot(replay.last_term, replay.last_index, configuration, persisted)
    warnings = list(replay.skipped)
    if already_recovered(state, snapshot):
        return RecoverPlan(UNCHANGED, "the node already holds the state a recovery to this configuration leaves",
                           state, configuration, replay, snapshot, warnings)
    return RecoverPlan(RECOVER, "recover to %s" % members_text(configuration), state, configuration, replay,
                       snapshot, warnings)


def members_text(configuration: raft.Configuration) -> str:
    return "[%s]" % ", ".join(server_text(server) for server in configuration.servers)


def describe_before(plan: RecoverPlan) -> Dict[str, Any]:
    """The decoded view of the node as it is (diff): membership, head, log position, snapshots."""
    state = plan.current
    latest = state.latest_configuration
    return {"servers": [server_text(server) for server in latest.configuration.servers] if latest else None,
            "configuration_index": latest.index if latest else None, "head": plan.head(),
            "first_index": state.first_index, "last_index": state.last_index, "last_log_term": state.last_log_term,
            "snapshots": [snapshot.id for snapshot in state.snapshots], "current_term": state.current_term}


def describe_after(plan: RecoverPlan, snapshot_id: Optional[str]) -> Dict[str, Any]:
    snapshot = plan.snapshot
    return {"servers": [server_text(server) for server in plan.configuration.servers], "configuration_index":
            CONFIGURATION_INDEX, "head": plan.head(), "first_index": 0, "last_index": 0, "last_log_term": 0,
            "snapshots": [snapshot_id or "%d-%d-<ms>" % (snapshot.term, snapshot.index)],
            "snapshot_position": {"index": snapshot.index, "term": snapshot.term},
            "current_term": plan.current.current_term}


# ================================================================================================================
# The new state, built beside the node and swapped in
# ================================================================================================================


def _owned_like(info: os.stat_result) -> fs.Ownership:
    return fs.Ownership(info.st_uid, info.st_gid)


def _copy_file(source: str, target: str) -> None:
    """A byte-for-byte copy with the source's mode and owner, fsynced (O_NOFOLLOW on both ends)."""
    info = os.lstat(source)
    fs.copy_file(source, target, stat.S_IMODE(info.st_mode), _owned_like(info), checksum=False)


def empty_log_buckets(log_path: str) -> Dict[bytes, Dict[bytes, bytes]]:
    """raft-log.db's buckets after DeleteRange(FirstIndex, LastIndex): ``logs`` emptied, every other bucket
    (raft-boltdb's ``conf``) as it is. A nested bucket is no raft-boltdb layout: refused."""
    buckets = {}  # type: Dict[bytes, Dict[bytes, bytes]]
    with bolt.BoltReader(log_path) as reader:
        for name, value, is_bucket in reader.root().items():
            if not is_bucket:
                raise RecoverRefused("%s: top-level key %r is not a bucket; not a raft-boltdb log" % (log_path, name))
            buckets[bytes(name)] = {} if name == raft.BUCKET_LOGS else _flat_bucket(reader, log_path, name, value)
    buckets.setdefault(raft.BUCKET_LOGS, {})
    return buckets


def _flat_bucket(reader: bolt.BoltReader, log_path: str, name: bytes, value: memoryview) -> Dict[bytes, bytes]:
    content = {}
    for key, item, nested in bolt.Bucket.from_value(reader, value, "bucket %r" % name).items():
        if nested:
            raise RecoverRefused("%s: bucket %r holds a nested bucket; not a raft-boltdb log" % (log_path, name))
        content[bytes(key)] = bytes(item)
    return content


def _write_log(node_dir: str, staging: str, page_size: int) -> None:
    source = os.path.join(node_dir, raft.LOG_FILE)
    info = os.lstat(source)
    image = bolt.build_database(empty_log_buckets(source), page_size)
    fs.write_new_file(os.path.join(staging, raft.LOG_FILE), image, stat.S_IMODE(info.st_mode), _owned_like(info))


def _write_snapshot(node_dir: str, staging: str, snapshot: NewSnapshot, snapshot_id: str) -> None:
    """snapshots/<id>/{state.bin,meta.json}; snapshots/ keeps the mode and owner of the old one (raft's 0755 and
    the node's owner when there was none), the snapshot gets raft's 0755."""
    old = fs.lstat_or_none(os.path.join(node_dir, raft.SNAPSHOT_DIR))
    base = old if old is not None and stat.S_ISDIR(old.st_mode) else os.lstat(node_dir)
    owner = _owned_like(base)
    snapshots = os.path.join(staging, raft.SNAPSHOT_DIR)
    target = os.path.join(snapshots, snapshot_id)
    os.mkdir(snapshots, 0o700)
    os.mkdir(target, 0o700)
    fs.write_new_file(os.path.join(target, STATE_FILE), snapshot.state, SNAPSHOT_FILE_MODE, owner)
    fs.write_new_file(os.path.join(target, META_FILE), snapshot.meta_json(snapshot_id), SNAPSHOT_FILE_MODE, owner)
    for directory, mode in ((target, SNAPSHOT_DIR_MODE),
                            (snapshots, stat.S_IMODE(old.st_mode) if base is old else SNAPSHOT_DIR_MODE)):
        os.chmod(directory, mode)
        owner.apply(directory)
        fs.fsync_dir(directory)


def build_recovered(node_dir: str, plan: RecoverPlan, millis: Optional[int] = None) -> Tuple[str, str]:
    """The recovered node directory, complete and fsynced, beside ``node_dir`` (a staging name the leftover
    recovery removes should the run die); returns (staging path, new snapshot ID). The caller swaps it in."""
    fs.verify_parent(node_dir)
    info = os.lstat(node_dir)
    snapshot_id = plan.snapshot.name(int(time.time() * 1000) if millis is None else millis)
    staging = fs.staging_path(node_dir)
    os.mkdir(staging, 0o700)
    try:
        _copy_file(os.path.join(node_dir, raft.STABLE_FILE), os.path.join(staging, raft.STABLE_FILE))
        _write_log(node_dir, staging, plan.current.page_size or bolt.DEFAULT_PAGE_SIZE)
        _write_snapshot(node_dir, staging, plan.snapshot, snapshot_id)
        os.chmod(staging, stat.S_IMODE(info.st_mode))  # last: a 0500 node directory stays 0500
        _owned_like(info).apply(staging)
        fs.fsync_dir(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staging, snapshot_id


def recover(node_dir: str, plan: RecoverPlan, keep_old: bool) -> Tuple[Optional[str], str]:
    """Build the recovered state and swap it in under the swap guard (no op-conductor may start on the old state
    or a mix); returns (where the old node directory was kept, or None; the new snapshot ID)."""
    staging, snapshot_id = build_recovered(node_dir, plan)
    try:
        with nodes.swap_guard(node_dir, staging):
            return fs.replace_directory(node_dir, staging, keep_old=keep_old), snapshot_id
    finally:
        if os.path.lexists(staging):
            fs.remove_tree(staging)
