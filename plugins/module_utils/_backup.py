# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backups of a node's whole Raft state (raft-log.db, raft-stable.db, snapshots/) that are complete, verified and
atomic, and restores that never leave a node half-restored.

A backup is a directory ``<dest>/raft-backup-<UTC>-<server id>-<suffix>/`` holding a copy of the node directory
and a ``manifest.json``. It is assembled in ``<name>.partial/``, fsynced, verified with the full integrity check,
and only then renamed to its final name; a ``.partial`` directory is never a backup.
"""

from __future__ import annotations

import collections.abc
import datetime
import hashlib
import json
import os
import re
import shutil
import stat
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.opstack.conductor.plugins.module_utils import _bbolt as bolt
from ansible_collections.opstack.conductor.plugins.module_utils import _fs as fs
from ansible_collections.opstack.conductor.plugins.module_utils import _node_dir as nodes
from ansible_collections.opstack.conductor.plugins.module_utils import _node_state as node_state
from ansible_collections.opstack.conductor.plugins.module_utils import _raft as raft
from ansible_collections.opstack.conductor.plugins.module_utils import _servers as servers
from ansible_collections.opstack.conductor.plugins.module_utils._errors import OpstackError

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 2  # 2: position, cluster and digest; 1 (no digest) is still read, with a warning
READABLE_FORMATS = (1, 2)
DIGEST_PREFIX = "sha256:"
MAX_FILE_MODE = 0o600  # never wider from a manifest, whatever it records (it is not signed)
PREFIX = "raft-backup-"
PARTIAL = ".partial"
COLLECTION_VERSION = "0.1.0"
CHUNK = 1 << 20
# What to do about a running node before a backup (raft_backup and make_backup refuse with it).
OFFLINE_OR_ONLINE = "stop it for a consistent backup, or set online=true for a verified best-effort copy"
# The chain (OP-stack network) a cluster serves, as the inventory names it (conductor_network): a chain's name or ID.
_NETWORK = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")


class BackupError(OpstackError):
    """A backup that cannot be made, or one that must not be trusted; nothing was changed."""


# ================================================================================================================
# What a node directory holds
# ================================================================================================================


def state_files(node_dir: str) -> List[str]:
    """Relative paths of the node's state: the two databases and every finished snapshot's files. In-progress
    snapshots (``*.tmp``) are not state; symlinks are refused rather than followed. What cannot be looked at
    raises fs.NodeUnreadable (never "not there")."""
    found = []
    for name in (raft.LOG_FILE, raft.STABLE_FILE, raft.SNAPSHOT_DIR):
        info = fs.lstat_or_none(os.path.join(node_dir, name))
        if info is not None and stat.S_ISLNK(info.st_mode):
            raise BackupError("%s is a symlink; refusing to follow it" % os.path.join(node_dir, name))
        if info is not None and stat.S_ISREG(info.st_mode) and name != raft.SNAPSHOT_DIR:
            found.append(name)
    snapshots = os.path.join(node_dir, raft.SNAPSHOT_DIR)
    for snapshot in sorted(fs.listdir_or_none(snapshots) or ()) if fs.is_directory(snapshots) else ():
        directory = os.path.join(snapshots, snapshot)
        if snapshot.endswith(".tmp") or not fs.is_directory(directory):
            continue
        for name in sorted(fs.listdir_or_none(directory) or ()):
            info = fs.lstat_or_none(os.path.join(directory, name))
            if info is not None and stat.S_ISREG(info.st_mode):
                found.append(os.path.join(raft.SNAPSHOT_DIR, snapshot, name))
    return found


def membership_of(state: node_state.NodeState) -> List[Dict[str, str]]:
    configuration = state.latest_configuration
    return configuration.configuration.to_list() if configuration else []


membership_hash = node_state.membership_hash


# ================================================================================================================
# Whose log is newer, and of which cluster
# ================================================================================================================


@dataclass(frozen=True, order=True)
class LogPosition:
    """The last entry of a node's state, as Raft compares candidates' logs: last term, then last index. CurrentTerm
    (the highest term a node has *seen*) says nothing about how far its log goes."""
    term: int
    index: int

    def text(self) -> str:
        return "last log term %d, last index %d" % (self.term, self.index)


def state_position(state: node_state.NodeState) -> LogPosition:
    """Raft's getLastEntry: the log's last entry, or the newest snapshot's when the log ends before it (empty or
    compacted behind it)."""
    log_end = (state.last_log_term, state.last_index) if state.last_index else (0, 0)
    usable = [(snap.term, snap.index) for snap in state.snapshots if snap.problem is None]
    return LogPosition(*raft.last_entry(log_end, usable[0] if usable else None))


def _snapshot_position(snapshot_id: Any) -> Optional[LogPosition]:
    """FileSnapshotStore names a snapshot ``<term>-<index>-<ms>``; old manifests record only these names."""
    parts = snapshot_id.split("-") if isinstance(snapshot_id, str) else []
    if len(parts) == 3 and parts[0].isdigit() and parts[1].isdigit():
        return LogPosition(int(parts[0]), int(parts[1]))
    return None


def manifest_position(manifest: Dict[str, Any]) -> Optional[LogPosition]:
    """The backup's position as its manifest records it: ``position`` (format 2), else from the last log term and
    index and the snapshot names that format 1 records; None when it records neither (not rankable)."""
    recorded = manifest.get("position")
    if isinstance(recorded, dict):
        return LogPosition(recorded["term"], recorded["index"])
    position = None
    if _integer(manifest.get("last_log_term")) and _integer(manifest.get("last_index")):
        position = LogPosition(manifest["last_log_term"], manifest["last_index"]) if manifest["last_index"] \
            else LogPosition(0, 0)
    snapshots = [p for p in (_snapshot_position(s) for s in manifest.get("snapshots") or []) if p is not None]
    if snapshots:
        newest = max(snapshots, key=lambda p: p.index)
        if position is None or newest.index > position.index:
            position = newest
    return position


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def entry_term(node_dir: str, index: int) -> Optional[int]:
    """The term of the entry at ``index`` in the node's log, or of a snapshot ending there; None when the node holds
    neither (compacted, or beyond its end)."""
    for snapshot in raft.read_snapshots(node_dir, verify=False):
        if snapshot.problem is None and snapshot.index == index:
            return snapshot.term
    try:
        with bolt.BoltReader(os.path.join(node_dir, raft.LOG_FILE)) as reader:
            logs = reader.bucket(raft.BUCKET_LOGS)
            raw = logs.get(raft.uint64_key(index)) if logs is not None else None
            return raft.decode_log(bytes(raw)).term if raw is not None else None
    except FileNotFoundError:
        return None
    except (bolt.BoltError, raft.DecodeError) as exc:
        raise BackupError("%s: cannot read log entry %d: %s" % (node_dir, index, exc))


def cluster_identity(node_dir: str) -> Dict[str, Any]:
    """node_state.cluster_identity; a log we may not read is an error, never a node without an identity."""
    try:
        return node_state.cluster_identity(node_dir)
    except OSError as exc:
        raise BackupError("%s: cannot read %s to find the cluster identity: %s" % (node_dir, raft.LOG_FILE, exc))


def inherit_identity(copy_dir: str, identity: Dict[str, Any], earlier: List["Backup"]) -> Dict[str, Any]:
    """An unknown identity taken over from an earlier backup of the same server whose last entry the copy's log
    still holds with the same term: by Raft's Log Matching property the two logs are then one history, so one
    cluster."""
    if identity.get("id") is not None:
        return identity
    for backup in earlier:
        known, position = backup.cluster_id, backup.log_position
        if known is None or position is None or position.index == 0:
            continue
        if entry_term(copy_dir, position.index) == position.term:
            inherited = {key: value for key, value in backup.manifest["cluster"].items() if key != "source"}
            inherited["source"] = "inherited from %s (the log holds its last entry, %s)" % (
                os.path.basename(backup.path), position.text())
            return inherited
    return identity


def validate_network(value: Any, field: str = "network") -> Optional[str]:
    """The chain's name as the cluster identity records it (None: not given). A name, not a path or free text: it
    is compared byte for byte and shown in refusals."""
    if value is None or (isinstance(value, str) and _NETWORK.match(value)):
        return value
    raise servers.SpecError(field, value, "must be 1-64 characters, letters, digits, '.', '_' or '-', starting with "
                                          "a letter or digit (the chain's name or ID, e.g. op-mainnet)")


def with_network(identity: Dict[str, Any], network: Optional[str]) -> Dict[str, Any]:
    """The identity with the chain the backup was made for; without one, the chain stays as inherited (an earlier
    backup of the same history names the same cluster, so the same chain), else unrecorded."""
    return dict(identity, network=network) if network is not None else identity


def _meta_txids(node_dir: str) -> Tuple[Optional[int], ...]:
    """The current transaction id of each database: unchanged across a copy means no commit happened during it."""
    txids = []
    for name in (raft.LOG_FILE, raft.STABLE_FILE):
        try:
            with bolt.BoltReader(os.path.join(node_dir, name)) as reader:
                txids.append(reader.meta.txid)
        except (OSError, bolt.BoltError):
            txids.append(None)
    return tuple(txids)


def copy_state(source_dir: str, target_dir: str, files: List[str], dir_mode: int = 0o700,
               modes: Optional[Dict[str, int]] = None,
               ownership: Optional[fs.Ownership] = None) -> Dict[str, Dict[str, Any]]:
    """Copy ``files`` (relative) into the new directory ``target_dir``; every file and directory gets its owner
    and mode before it is fsynced. The listing records each file's sha256, size and source mode; the copies get
    ``modes[rel]`` (0600 when not given)."""
    os.mkdir(target_dir, dir_mode)
    listing = {}
    for rel in files:
        fs.make_directories(os.path.dirname(os.path.join(target_dir, rel)), dir_mode)
        source = os.path.join(source_dir, rel)
        source_mode = stat.S_IMODE(os.lstat(source).st_mode)
        digest, size = fs.copy_file(source, os.path.join(target_dir, rel), (modes or {}).get(rel, 0o600), ownership)
        listing[rel] = {"sha256": digest, "size": size, "mode": "%04o" % source_mode}
    # Owner and mode of every directory (target_dir itself was made under the umask), deepest first, then fsync.
    directories = [root for root, _dirs, _files in os.walk(target_dir)]
    for directory in sorted(directories, key=len, reverse=True):
        if ownership is not None:
            ownership.apply(directory)
        os.chmod(directory, dir_mode)
        fs.fsync_dir(directory)
    return listing


def hash_file(path: str) -> Tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while True:
            chunk = handle.read(CHUNK)
            if not chunk:
                return digest.hexdigest(), size
            digest.update(chunk)
            size += len(chunk)


# ================================================================================================================
# Manifests and verification
# ================================================================================================================


@dataclass
class Backup:
    path: str
    manifest: Dict[str, Any]

    @property
    def server_id(self) -> str:
        return self.manifest["server_id"]

    @property
    def log_position(self) -> Optional[LogPosition]:
        return manifest_position(self.manifest)

    @property
    def position(self) -> Tuple[int, int, int, str]:
        """What "newer" means, as Raft judges logs: last log term, then last index (the snapshot's when the log
        ends before it); then the time made. Never CurrentTerm, never the name or mtime. A manifest that records
        no position ranks last."""
        position = self.log_position
        if position is None:
            return (0, -1, -1, self.manifest.get("created_utc") or "")
        return (1, position.term, position.index, self.manifest.get("created_utc") or "")

    @property
    def cluster_id(self) -> Optional[str]:
        cluster = self.manifest.get("cluster")
        return cluster.get("id") if isinstance(cluster, dict) else None

    @property
    def warnings(self) -> List[str]:
        if self.manifest.get("format") == 1:
            return ["%s: written by an earlier version of this collection (manifest format 1): its manifest has no "
                    "digest, so an edit of it is not detected; its files are still checked against it, restored "
                    "file modes are capped at %04o, and it has no cluster identity" % (self.path, MAX_FILE_MODE)]
        return []


def build_manifest(server_id: str, state: node_state.NodeState, files: Dict[str, Dict[str, Any]], online: bool,
                   source: str, created: str) -> Dict[str, Any]:
    members = membership_of(state)
    position = state_position(state)
    return {
        "format": MANIFEST_FORMAT,
        "position": {"term": position.term, "index": position.index},
        "cluster": cluster_identity(state.path),
        "server_id": server_id,
        "membership": members,
        "membership_hash": membership_hash(members),
        "current_term": state.current_term,
        "last_vote_term": state.last_vote_term,
        "last_vote_candidate": state.last_vote_candidate,
        "first_index": state.first_index,
        "last_index": state.last_index,
        "last_log_term": state.last_log_term,
        "snapshots": [snap.id for snap in state.snapshots],
        "files": files,
        "created_utc": created,
        "collection_version": COLLECTION_VERSION,
        "online": online,
        "consistency": "best_effort_verified" if online else "offline",
        "source": source,
    }


def manifest_digest(manifest: Dict[str, Any]) -> str:
    """sha256 of the manifest's canonical JSON without its own ``digest``: an edit of any field (a file mode, the
    server, a checksum) no longer matches."""
    body = {key: value for key, value in manifest.items() if key != "digest"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return DIGEST_PREFIX + hashlib.sha256(canonical.encode("ascii")).hexdigest()


def seal(manifest: Dict[str, Any]) -> Dict[str, Any]:
    return dict(manifest, digest=manifest_digest(manifest))


def _write_json(path: str, document: Dict[str, Any]) -> None:
    fs.write_new_file(path, (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8"), 0o600)


def read_manifest(path: str) -> Dict[str, Any]:
    try:
        with open(os.path.join(path, MANIFEST), "rb") as handle:
            manifest = json.loads(handle.read().decode("utf-8"))
    except (OSError, ValueError) as exc:
        raise BackupError("%s: no readable %s (%s); not a finished backup" % (path, MANIFEST, exc))
    return check_manifest(manifest, path)


def check_manifest(manifest: Any, where: str) -> Dict[str, Any]:
    """A manifest this collection wrote, unedited (format 2: its digest matches) and with the types the code that
    ranks, compares and restores relies on; BackupError naming ``where`` otherwise."""
    if not isinstance(manifest, dict) or not _integer(manifest.get("format")) or \
            manifest["format"] not in READABLE_FORMATS or \
            not isinstance(manifest.get("files"), dict) or not isinstance(manifest.get("server_id"), str):
        raise BackupError("%s: %s is not a manifest this collection wrote" % (where, MANIFEST))
    if manifest["format"] >= 2 and manifest.get("digest") != manifest_digest(manifest):
        raise BackupError("%s: %s does not match its digest; it was edited or damaged after the backup was made"
                          % (where, MANIFEST))
    wrong = _mistyped_manifest_fields(manifest)
    if wrong:
        raise BackupError("%s: %s has fields of the wrong type (%s); it was edited or damaged"
                          % (where, MANIFEST, ", ".join(wrong)))
    return manifest


def _permission_bits(mode: Any) -> bool:
    """A file mode as the manifest records it: octal permission bits only ("0640"), never setuid/setgid/sticky,
    which a restore would otherwise apply as written."""
    return isinstance(mode, str) and 1 <= len(mode) <= 4 and all(c in "01234567" for c in mode) and \
        int(mode, 8) & ~0o777 == 0


def _mistyped_manifest_fields(manifest: Dict[str, Any]) -> List[str]:
    """What the code that ranks, compares and verifies backups relies on, by type (JSON gives any type)."""
    wrong = [key for key in ("current_term", "last_index", "last_log_term", "first_index")
             if not (manifest.get(key) is None or _integer(manifest[key]))]
    if not isinstance(manifest.get("created_utc", ""), str):
        wrong.append("created_utc")
    if not isinstance(manifest.get("membership_hash"), str):
        wrong.append("membership_hash")
    if manifest["format"] >= 2:
        position, cluster = manifest.get("position"), manifest.get("cluster")
        if not (isinstance(position, dict) and _integer(position.get("term")) and _integer(position.get("index"))):
            wrong.append("position")
        if not (isinstance(cluster, dict) and all(cluster.get(key) is None or isinstance(cluster.get(key), str)
                                                  for key in ("id", "network"))):
            wrong.append("cluster")
    members = manifest.get("membership")
    if not isinstance(members, list) or not all(
            isinstance(m, dict) and isinstance(m.get("id"), str) and isinstance(m.get("address"), str)
            for m in members):
        wrong.append("membership")
    if not all(isinstance(entry, dict) and isinstance(entry.get("sha256"), str) and _integer(entry.get("size"))
               and _permission_bits(entry.get("mode", "0600")) for entry in manifest["files"].values()):
        wrong.append("files")
    return wrong


def _refuse_unfinished(path: str) -> None:
    if path.rstrip("/").endswith(PARTIAL):
        raise BackupError("%s is an unfinished backup (.partial); it was never verified" % path)


def verify_backup(path: str) -> Tuple[Backup, node_state.NodeState]:
    """Manifest checksums, no missing or extra file, and the full integrity check. Raises BackupError."""
    _refuse_unfinished(path)
    if not os.path.isdir(path):
        raise BackupError("%s does not exist or is not a directory" % path)
    manifest = read_manifest(path)
    present = set(state_files(path))
    listed = set(manifest["files"])
    problems = []
    for rel in sorted(listed - present):
        problems.append("%s is listed in the manifest but missing" % rel)
    for rel in sorted(present - listed):
        problems.append("%s is not listed in the manifest" % rel)
    for rel in sorted(listed & present):
        digest, size = hash_file(os.path.join(path, rel))
        expected = manifest["files"][rel]
        if size != expected.get("size") or digest != expected.get("sha256"):
            problems.append("%s: sha256 %s (%d bytes), manifest says %s (%s bytes)"
                            % (rel, digest[:16], size, str(expected.get("sha256"))[:16], expected.get("size")))
    if problems:
        raise BackupError("%s: the backup does not match its manifest: %s" % (path, "; ".join(problems)))
    state = node_state.read_node_state(path, verify=True)
    if not state.integrity.files_ok:  # a configuration raft rejects is backed up and restored as it is
        raise BackupError("%s: the backed-up state is damaged: %s" % (path, "; ".join(state.integrity.problems[:5])))
    facts = {"current_term": state.current_term, "last_index": state.last_index,
             "membership_hash": membership_hash(membership_of(state))}
    if manifest["format"] >= 2:
        position = state_position(state)
        facts["position"] = {"term": position.term, "index": position.index}
        seeded = cluster_identity(path)
        if seeded["id"] is not None:  # the backup's own log proves its cluster; an inherited one cannot be re-proven
            facts["cluster"] = dict(manifest["cluster"], **seeded) if isinstance(manifest.get("cluster"), dict) \
                else seeded
    lies = ["%s is %r, manifest says %r" % (key, value, manifest.get(key)) for key, value in facts.items()
            if manifest.get(key) != value]
    if lies:
        raise BackupError("%s: the manifest does not describe the backed-up state: %s" % (path, "; ".join(lies)))
    return Backup(path, manifest), state


# ================================================================================================================
# Making a backup
# ================================================================================================================


def backup_name(server_id: str, now: datetime.datetime) -> str:
    return "%s%s-%s-%s" % (PREFIX, now.strftime("%Y%m%dT%H%M%S.%fZ"), server_id, fs.random_tag(8))


@dataclass
class BackupPlan:
    server_id: str
    files: List[str]
    sizes: Dict[str, int]
    locked: bool
    state: node_state.NodeState
    network: Optional[str] = None  # the chain, recorded in the manifest's cluster identity


def plan_backup(node_dir: str, server_id: Optional[str] = None, network: Optional[str] = None) -> BackupPlan:
    validate_network(network)  # before anything is read
    if not fs.is_directory(node_dir):
        raise BackupError("%s does not exist or is not a directory" % node_dir)
    files = state_files(node_dir)
    if raft.LOG_FILE not in files or raft.STABLE_FILE not in files:
        raise BackupError("%s holds no complete Raft state (%s missing)"
                          % (node_dir, ", ".join(n for n in (raft.LOG_FILE, raft.STABLE_FILE) if n not in files)))
    locked = nodes.node_locked(node_dir)
    sizes = {rel: os.path.getsize(os.path.join(node_dir, rel)) for rel in files}
    server_id = nodes.node_server_id(node_dir, server_id)
    return BackupPlan(server_id, files, sizes, locked, node_state.read_node_state(node_dir), network)


def make_backup(node_dir: str, dest: str, plan: BackupPlan, online: bool, attempts: int = 5,
                pause: float = 0.2) -> Backup:
    """Copy, verify, describe, then rename into place. An online copy (op-conductor running) is retried when a
    commit happened during it or the copy does not verify, a bounded number of times."""
    if plan.locked and not online:
        raise fs.NodeBusy(nodes.running(node_dir, OFFLINE_OR_ONLINE))
    fs.make_directories(os.path.abspath(dest), 0o700)
    last_problem = None
    for attempt in range(1, attempts + 1):
        now = datetime.datetime.now(datetime.timezone.utc)
        name = backup_name(plan.server_id, now)
        partial = os.path.join(dest, name + PARTIAL)
        before = _meta_txids(node_dir)
        files = state_files(node_dir)
        try:
            return _copy_once(node_dir, dest, plan, online, before, files, name, now)
        except BackupError as exc:
            last_problem = exc
            shutil.rmtree(partial, ignore_errors=True)
            if not online:
                raise BackupError("%s: %s" % (node_dir, exc))
            time.sleep(pause * attempt)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
    raise BackupError("%s: no consistent online copy after %d attempts (%s); stop op-conductor and back up offline"
                      % (node_dir, attempts, last_problem))


def _copy_once(node_dir: str, dest: str, plan: BackupPlan, online: bool, before: Any, files: List[str],
               name: str, now: datetime.datetime) -> Backup:
    """One attempt: copy ``files`` into ``<name>.partial``, verify, seal the manifest, rename to ``name``;
    ``before`` is the databases' meta txids before the copy (an online copy must see them unchanged after it).
    BackupError when the copy is not consistent (the caller removes the .partial and may retry)."""
    partial = os.path.join(dest, name + PARTIAL)
    listing = copy_state(node_dir, partial, files)
    if online and _meta_txids(node_dir) != before:
        raise BackupError("a commit happened during the copy")
    state = node_state.read_node_state(partial, verify=True)
    if not state.integrity.files_ok:  # a configuration raft rejects is copied as it is
        raise BackupError("the copy does not verify: %s" % "; ".join(state.integrity.problems[:3]))
    manifest = build_manifest(plan.server_id, state, listing, online, os.path.abspath(node_dir),
                              now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    manifest["cluster"] = with_network(
        inherit_identity(partial, manifest["cluster"], list_backups(dest, plan.server_id)[0]), plan.network)
    manifest = seal(manifest)
    _write_json(os.path.join(partial, MANIFEST), manifest)
    fs.fsync_dir(partial)
    final = os.path.join(dest, name)
    os.rename(partial, final)
    fs.fsync_dir(dest)
    return Backup(final, manifest)


def describe_backup(path: str, verify: bool, server_id: Optional[str] = None,
                    expected: Optional[List[Dict[str, str]]] = None, network: Optional[str] = None) -> Dict[str, Any]:
    """What raft_backup_info reports for one backup directory; a bad backup gives problems, never an exception.
    ``usable``: it verified (or, without ``verify``, has a sound manifest), is finished, and is of ``server_id``,
    ``expected`` and ``network``."""
    report = {"path": path, "ok": False, "verified": verify, "problems": [], "mismatches": [], "usable": False,
              "manifest": None, "warnings": [], "position": None, "cluster_id": None}
    try:
        if verify:
            manifest = verify_backup(path)[0].manifest
        else:
            _refuse_unfinished(path)  # a manifest alone must not make a .partial usable
            manifest = read_manifest(path)
    except (BackupError, OSError) as exc:  # OSError: a file we may not read (not root), or vanishing under us
        report["problems"].append(str(exc))
        try:
            report["manifest"] = read_manifest(path)
        except BackupError:
            pass
        return report
    backup = Backup(path, manifest)
    position = backup.log_position
    report.update(ok=True, manifest=manifest, mismatches=identity_mismatches(manifest, server_id, expected, network),
                  warnings=backup.warnings + network_warnings(manifest, network), cluster_id=backup.cluster_id,
                  position={"term": position.term, "index": position.index} if position else None)
    report["usable"] = not report["mismatches"]
    return report


def _report_position(report: Dict[str, Any]) -> Tuple[Any, ...]:
    manifest = report["manifest"]
    if manifest is None:
        return (0, -1, -1, "")
    return (1,) + Backup(report["path"], manifest).position


def _server_of(path: str) -> Optional[str]:
    """The server a backup directory belongs to: its manifest's, else its name's (cheap: nothing is hashed)."""
    try:
        return read_manifest(path)["server_id"]
    except BackupError:
        return server_id_of_name(path)


def _candidates(path: str, server_id: Optional[str]) -> Tuple[List[str], List[str]]:
    """The backup directories to describe and the unfinished ones. One backup when it has a manifest or a
    backup's full name (a damaged one may have lost its manifest); a directory of backups may be called
    raft-backup-something too."""
    single = os.path.exists(os.path.join(path, MANIFEST)) or (
        server_id_of_name(path) is not None and not any(backup_dirs(path)))
    candidates, partials = ([path], []) if single else backup_dirs(path)
    if not single and server_id is not None:
        candidates = [candidate for candidate in candidates if _server_of(candidate) == server_id]
        partials = [partial for partial in partials if server_id_of_name(partial) == server_id]
    return candidates, partials


def describe_backups(path: str, verify: bool, server_id: Optional[str] = None,
                     expected: Optional[List[Dict[str, str]]] = None, network: Optional[str] = None) -> Dict[str, Any]:
    """raft_backup_info's answer for a backup or a directory of backups (on the host, or on the controller for
    its action plugin): the reports newest first, the newest usable one, the unfinished leftovers."""
    if not os.path.isdir(path):
        raise BackupError("%s does not exist or is not a directory" % path)
    candidates, partials = _candidates(path, server_id)
    reports = [describe_backup(candidate, verify, server_id, expected, network) for candidate in candidates]
    reports.sort(key=_report_position, reverse=True)
    newest = next((report["path"] for report in reports if report["usable"]), None)
    return dict(backups=reports, newest=newest, partials=partials)


# Where a chosen backup is: a listing's place, as the choice and the restore report name it.
CONTROLLER = "the controller"
HOST = "the host"


def _rankable(listing: Any) -> List[Dict[str, Any]]:
    """The reports of a listing that ran and found a readable manifest with a log position."""
    if not isinstance(listing, collections.abc.Mapping) or listing.get("skipped") or listing.get("failed"):
        return []
    return [report for report in listing.get("backups") or [] if report.get("ok") and report.get("position")]


def backup_choice(listings: List[List[Any]]) -> Dict[str, Any]:
    """The newest backup of ``listings`` (``[[where, describe_backups result], ...]``) by last log term, then last
    index (as Raft compares logs; never CurrentTerm, the name or the time but as the last tie-breaker), then the
    time made; on a full tie (the same backup, fetched) the earlier place. {} when there is none."""
    ranked = []
    for preference, (where, listing) in enumerate(listings):
        for report in _rankable(listing):
            rank = Backup(report["path"], report["manifest"]).position + (-preference,)
            ranked.append((rank, {"path": report["path"], "manifest": report["manifest"], "where": where}))
    if not ranked:
        return {}
    rank, chosen = max(ranked, key=lambda entry: entry[0])
    return dict(chosen, key=list(rank), candidates=len(ranked))


# The modules' internal option for it (doc fragment backups.HOST_CHOICE).
HOST_CHOICE_SPEC = dict(type="dict", options=dict(path=dict(type="path", required=True), rival=dict(type="dict")))


def choose_on_host(root: str, server_id: Optional[str], expected: Optional[List[Dict[str, str]]],
                   network: Optional[str], rival: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """The host's part of choosing this server's backup, in the run that needs it (issue 15: one module run, not a
    listing and then a verification): its backups in ``root`` listed from their manifests, the newest of them and
    of ``rival`` (the controller's newest, a describe_backups report, ahead of the host's on a full tie) chosen,
    and the chosen one verified only when it is here. {listing, chosen, verified}; a listing or a verification that
    cannot run is reported in it ({failed, msg}), never raised."""
    try:
        listing = dict(describe_backups(root, False, server_id), changed=False)
    except (BackupError, OSError) as exc:
        listing = {"failed": True, "msg": str(exc)}
    chosen = backup_choice([[CONTROLLER, {"backups": [rival] if rival else []}], [HOST, listing]])
    verified = None
    if chosen.get("where") == HOST:
        try:
            verified = describe_backups(chosen["path"], True, server_id, expected, network)
        except (BackupError, OSError) as exc:
            verified = {"failed": True, "msg": str(exc)}
    return {"listing": listing, "chosen": chosen, "verified": verified}


def server_id_of_name(path: str) -> Optional[str]:
    """The server ID in a backup's name, ``raft-backup-<UTC time>-<server id>-<tag>[.partial]`` as backup_name()
    makes it, or None for any other name."""
    name = os.path.basename(path.rstrip("/"))
    if name.endswith(PARTIAL):
        name = name[:-len(PARTIAL)]
    if not name.startswith(PREFIX):
        return None
    stamp, _dash, rest = name[len(PREFIX):].partition("-")
    server_id, _dash, tag = rest.rpartition("-")
    if not (_BACKUP_STAMP.match(stamp) and _BACKUP_TAG.match(tag) and server_id):
        return None
    return server_id


_BACKUP_STAMP = re.compile(r"\d{8}T\d{6}\.\d{6}Z\Z")
_BACKUP_TAG = re.compile(r"[0-9a-f]{8}\Z")


def backup_dirs(dest: str) -> Tuple[List[str], List[str]]:
    """The backup directories in ``dest`` (by name, not yet judged) and the unfinished ``.partial`` ones."""
    finished, partials = [], []
    if not os.path.isdir(dest):
        return finished, partials
    for entry in sorted(os.listdir(dest)):
        path = os.path.join(dest, entry)
        if entry.startswith(PREFIX) and os.path.isdir(path) and not os.path.islink(path):
            (partials if entry.endswith(PARTIAL) else finished).append(path)
    return finished, partials


def list_backups(dest: str, server_id: Optional[str] = None) -> Tuple[List[Backup], List[str]]:
    """Finished backups (newest first, by term and last index) and the unfinished ``.partial`` leftovers."""
    backups = []
    finished, partials = backup_dirs(dest)
    for path in finished:
        try:
            backup = Backup(path, read_manifest(path))
        except BackupError:
            continue  # not ours to judge or delete
        if server_id is None or backup.server_id == server_id:
            backups.append(backup)
    backups.sort(key=lambda backup: backup.position, reverse=True)
    return backups, partials


def prune(dest: str, server_id: str, keep: int, protect: Backup) -> List[str]:
    """Delete finished backups of this server and of the cluster of ``protect`` (the one just made, never deleted)
    beyond the newest ``keep``: a re-seeded cluster's backups never push out the previous cluster's, nor the other
    way round. Backups whose cluster is unknown count as one cluster of their own."""
    backups, _partials = list_backups(dest, server_id)
    removed = []
    kept = 0
    for backup in backups:
        if backup.cluster_id != protect.cluster_id:
            continue
        if backup.path == protect.path or kept < keep:
            kept += 1
            continue
        shutil.rmtree(backup.path)
        removed.append(backup.path)
    if removed:
        fs.fsync_dir(dest)
    return removed


def remove_partials(dest: str, server_id: str) -> List[str]:
    """Unfinished backups of this server left by an interrupted run; they were never verified, so never used."""
    _backups, partials = list_backups(dest)
    removed = [path for path in partials if server_id_of_name(path) == server_id]
    for path in removed:
        shutil.rmtree(path)
    return removed


# ================================================================================================================
# Restoring
# ================================================================================================================

RESTORE_UNCHANGED = "unchanged"
RESTORE = "restore"
RESTORE_REFUSED = "refuse"


@dataclass
class RestorePlan:
    action: str
    reason: str
    backup: Backup
    backup_state: Optional[node_state.NodeState]  # None when judged from the manifest alone (predict_restore)
    current: Optional[node_state.NodeState]
    refusals: List[str] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)
    lost: "Loss" = field(default_factory=lambda: Loss(0, None, None))


@dataclass
class Loss:
    """The node's entries after the backup's last index: what a restore drops (committed ones included)."""
    count: int
    first: Optional[int]
    last: Optional[int]

    def text(self) -> str:
        return "%d entries (index %d to %d)" % (self.count, self.first, self.last) if self.count else "none"

    def summary(self) -> Dict[str, Any]:
        return {"count": self.count, "first": self.first, "last": self.last}


def entries_lost(node: LogPosition, backup: LogPosition) -> Loss:
    if node.index <= backup.index:
        return Loss(0, None, None)
    return Loss(node.index - backup.index, backup.index + 1, node.index)


@dataclass
class Judgement:
    refusals: List[str]
    warnings: List[str]
    lost: Loss


def judge_against_node(manifest: Dict[str, Any], there: LogPosition, backup_dir: Optional[str],
                       current: node_state.NodeState) -> Judgement:
    """What a restore of the backup (its manifest, its position, its files when ``backup_dir`` is given) would do
    to the existing node: refusals (another membership, another cluster, an older log) and what would be lost."""
    refusals, warnings = [], []
    current_members = membership_of(current)
    if current_members and membership_hash(current_members) != manifest["membership_hash"]:
        refusals.append("the backup's membership %s differs from the node's current %s"
                        % (_members_text(manifest["membership"]), _members_text(current_members)))
    here = state_position(current)
    mine = cluster_identity(current.path)  # read once: the checks below all compare it
    other_cluster = _other_cluster(manifest, there, backup_dir, current, here, mine)
    if other_cluster:
        refusals.append(other_cluster)
    elif manifest.get("cluster", {}).get("id") is None or mine["id"] is None:
        warnings.append("the cluster could not be compared: %s; only the logs were compared where they overlap"
                        % "; ".join(_unknown_identities(manifest, mine)))
    lost = entries_lost(here, there)
    if here > there:
        refusals.append("the backup (%s) is older than the node's log (%s): restoring it drops %s"
                        % (there.text(), here.text(), lost.text()))
    return Judgement(refusals, warnings, lost)


def _unknown_identities(manifest: Dict[str, Any], node: Dict[str, Any]) -> List[str]:
    reasons = []
    if manifest.get("cluster", {}).get("id") is None:
        reasons.append("the backup's: %s" % manifest.get("cluster", {}).get(
            "reason", "not recorded (an earlier manifest format)"))
    if node["id"] is None:
        reasons.append("the node's: %s" % node["reason"])
    return reasons


def _other_cluster(manifest: Dict[str, Any], there: LogPosition, backup_dir: Optional[str],
                   current: node_state.NodeState, here: LogPosition, mine: Dict[str, Any]) -> Optional[str]:
    """Why the backup cannot be of the node's cluster, or None: different seeding (both known), logs that hold a
    different term at the same index (Log Matching), or a later last term that lacks the node's snapshotted (so
    committed) entries, which no log of one cluster can (Leader Completeness)."""
    theirs = manifest.get("cluster") or {}
    if mine["id"] is not None and theirs.get("id") is not None and mine["id"] != theirs["id"]:
        return ("the backup is of another cluster (seeded at term %s, cluster id %s); the node's cluster was seeded "
                "at term %s (cluster id %s)" % (theirs.get("initial_term"), theirs["id"], mine["initial_term"],
                                                mine["id"]))
    if there.index and there.index <= here.index:
        theirs_term, mine_term = there.term, entry_term(current.path, there.index)
        index = there.index
    elif here.index and backup_dir is not None:
        theirs_term, mine_term = entry_term(backup_dir, here.index), here.term
        index = here.index
    else:
        theirs_term = mine_term = index = None
    if None not in (theirs_term, mine_term) and theirs_term != mine_term:
        return ("the backup's log and the node's differ at index %d (term %d in the backup, %d on the node): the "
                "backup is of another cluster or of a history that was replaced" % (index, theirs_term, mine_term))
    snapshot = current.snapshot_index
    if there > here and there.index < snapshot:
        return ("the backup's log has a later term (%d) but ends at index %d, before the node's snapshot at %d: "
                "no log of the node's cluster can, so it is of another cluster" % (there.term, there.index, snapshot))
    return None


def _same_content(node_dir: str, manifest: Dict[str, Any]) -> bool:
    try:
        present = set(state_files(node_dir))
    except BackupError:
        return False
    if present != set(manifest["files"]):
        return False
    for rel, expected in manifest["files"].items():
        if hash_file(os.path.join(node_dir, rel)) != (expected["sha256"], expected["size"]):
            return False
    return True


def identity_mismatches(manifest: Dict[str, Any], server_id: Optional[str],
                        expected: Optional[List[Dict[str, str]]], network: Optional[str] = None) -> List[str]:
    """Why a backup is not of the given server, membership or chain (each may be None: not checked; a backup that
    records no chain is not refused for it, see network_warnings)."""
    mismatches = []
    recorded = backup_network(manifest)
    if network is not None and recorded is not None and recorded != network:
        mismatches.append("the backup is of network %r, the node's network is %r" % (recorded, network))
    if server_id is not None and manifest["server_id"] != server_id:
        mismatches.append("the backup is of server %r, the node is %r" % (manifest["server_id"], server_id))
    if expected is not None and membership_hash(expected) != manifest.get("membership_hash"):
        mismatches.append("the backup's membership %s differs from the expected %s"
                          % (_members_text(manifest.get("membership") or []), _members_text(expected)))
    return mismatches


def backup_network(manifest: Dict[str, Any]) -> Optional[str]:
    cluster = manifest.get("cluster")
    return cluster.get("network") if isinstance(cluster, dict) else None


def network_warnings(manifest: Dict[str, Any], network: Optional[str]) -> List[str]:
    """A chain that could not be compared. A backup recording none (made before chains were recorded, or without
    one) is accepted with this warning rather than refused: forcing would also override every other check, and
    the server, membership and cluster checks still compare it."""
    recorded = backup_network(manifest)
    if network is not None and recorded is None:
        return ["the backup records no network (made by an earlier version or without one), so it could not be "
                "checked against the node's network %r; the server, membership and cluster checks still apply"
                % network]
    if network is None and recorded is not None:
        return ["the backup is of network %r; no network was given for the node, so it was not compared"
                % recorded]
    return []


def plan_restore(src: str, node_dir: str, server_id: str, expected: Optional[List[Dict[str, str]]],
                 force: bool, network: Optional[str] = None) -> RestorePlan:
    backup, backup_state = verify_backup(src)  # a bad backup is refused whatever force says
    current = node_state.read_node_state(node_dir, verify=True) if fs.is_directory(node_dir) else None
    refusals = identity_mismatches(backup.manifest, server_id, expected, network)
    judgement = Judgement([], [], Loss(0, None, None))
    if current is not None and current.exists:
        judgement = judge_against_node(backup.manifest, state_position(backup_state), src, current)
    refusals += judgement.refusals
    warnings = backup.warnings + network_warnings(backup.manifest, network) + judgement.warnings

    def decide(action: str, reason: str) -> RestorePlan:
        return RestorePlan(action, reason, backup, backup_state, current, refusals, warnings, judgement.lost)

    if refusals and not force:
        return decide(RESTORE_REFUSED, "; ".join(refusals))
    if current is not None and _same_content(node_dir, backup.manifest):
        return decide(RESTORE_UNCHANGED, "the node already holds exactly this backup")
    forced = " (forced past: %s)" % "; ".join(refusals) if refusals else ""
    return decide(RESTORE, "restore %s%s" % (backup.path, forced))


def predict_restore(manifest: Any, where: str, node_dir: str, server_id: str,
                    expected: Optional[List[Dict[str, str]]], force: bool,
                    network: Optional[str] = None) -> RestorePlan:
    """plan_restore for a backup that is not on this host (it stays on the controller, where it was verified, until
    the real run pushes it): the same refusals and losses from its manifest, the node and its log. The check of
    the backup's log at the node's last index needs its files and is done by the real run."""
    manifest = check_manifest(manifest, where)
    there = manifest_position(manifest)
    if there is None:
        raise BackupError("%s: the manifest records no log position; judge it on the host (remote src)" % where)
    backup = Backup("%s (the backup of %s made %s)" % (where, manifest["server_id"], manifest.get("created_utc") or "?"),
                    manifest)
    current = node_state.read_node_state(node_dir, verify=True) if fs.is_directory(node_dir) else None
    refusals = identity_mismatches(manifest, server_id, expected, network)
    judgement = Judgement([], [], Loss(0, None, None))
    if current is not None and current.exists:
        judgement = judge_against_node(manifest, there, None, current)
    refusals += judgement.refusals
    if refusals and not force:
        action, reason = RESTORE_REFUSED, "; ".join(refusals)
    elif current is not None and _same_content(node_dir, manifest):  # as plan_restore: the files' sha256 and size
        action, reason = RESTORE_UNCHANGED, "the node already holds exactly this backup"
    else:
        action = RESTORE
        reason = "restore %s" % backup.path + (" (forced past: %s)" % "; ".join(refusals) if refusals else "")
    return RestorePlan(action, reason, backup, None, current, refusals,
                       backup.warnings + network_warnings(manifest, network) + judgement.warnings, judgement.lost)


def describe_manifest(manifest: Dict[str, Any]) -> Dict[str, Any]:
    """The diff view of a backup known only by its manifest (state_plan.describe's keys, as far as it records)."""
    return {
        "current_term": manifest.get("current_term"),
        "last_vote": None if manifest.get("last_vote_candidate") is None else
        {"term": manifest.get("last_vote_term"), "candidate": manifest.get("last_vote_candidate")},
        "first_index": manifest.get("first_index"),
        "last_index": manifest.get("last_index"),
        "servers": [servers.server_text(member) for member in manifest.get("membership") or []],
    }


def _members_text(members: List[Dict[str, str]]) -> str:
    return "[%s]" % ", ".join(servers.server_text(member) for member in members)


def restore(plan: RestorePlan, node_dir: str, dir_mode: int, ownership: fs.Ownership) -> Optional[str]:
    """Stage the backup's state beside the node directory, check it once more, and swap it in; the node's
    previous state becomes the returned pre-restore backup."""
    fs.make_directories(os.path.dirname(os.path.abspath(node_dir)), 0o755)
    fs.verify_parent(node_dir)  # the storage directory this run looked at, not one that replaced it since
    staging = fs.staging_path(node_dir)
    try:
        files = plan.backup.manifest["files"]
        # The manifest may be edited (format 1 has no digest): never wider than owner read/write from it.
        modes = {rel: int(entry.get("mode") or "0600", 8) & MAX_FILE_MODE for rel, entry in files.items()}
        listing = copy_state(plan.backup.path, staging, sorted(files), dir_mode, modes, ownership)
        if any((listing[rel]["sha256"], listing[rel]["size"]) != (entry["sha256"], entry["size"])
               for rel, entry in files.items()):
            raise BackupError("the staged copy differs from the manifest; the backup changed while it was read")
        with nodes.swap_guard(node_dir, staging):  # also fails loudly if op-conductor opened the old state meanwhile
            return fs.replace_directory(node_dir, staging, keep_old=True)
    finally:
        if os.path.lexists(staging):
            fs.remove_tree(staging)
