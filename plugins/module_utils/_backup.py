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
from ansible_collections.opstack.conductor.plugins.module_utils import _node_state as node_state
from ansible_collections.opstack.conductor.plugins.module_utils import _raft as raft
from ansible_collections.opstack.conductor.plugins.module_utils._errors import OpstackError

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
PREFIX = "raft-backup-"
PARTIAL = ".partial"
COLLECTION_VERSION = "0.1.0"
CHUNK = 1 << 20


class BackupError(OpstackError):
    """A backup that cannot be made, or one that must not be trusted; nothing was changed."""


# ================================================================================================================
# What a node directory holds
# ================================================================================================================


def state_files(node_dir: str) -> List[str]:
    """Relative paths of the node's state: the two databases and every finished snapshot's files. In-progress
    snapshots (``*.tmp``) are not state; symlinks are refused rather than followed."""
    found = []
    for name in (raft.LOG_FILE, raft.STABLE_FILE):
        path = os.path.join(node_dir, name)
        if os.path.islink(path):
            raise BackupError("%s is a symlink; refusing to follow it" % path)
        if os.path.isfile(path):
            found.append(name)
    snapshots = os.path.join(node_dir, raft.SNAPSHOT_DIR)
    if os.path.isdir(snapshots) and not os.path.islink(snapshots):
        for snapshot in sorted(os.listdir(snapshots)):
            directory = os.path.join(snapshots, snapshot)
            if snapshot.endswith(".tmp") or not os.path.isdir(directory) or os.path.islink(directory):
                continue
            for name in sorted(os.listdir(directory)):
                if os.path.isfile(os.path.join(directory, name)) and not os.path.islink(os.path.join(directory, name)):
                    found.append(os.path.join(raft.SNAPSHOT_DIR, snapshot, name))
    return found


def membership_of(state: node_state.NodeState) -> List[Dict[str, str]]:
    configuration = state.latest_configuration
    return configuration.configuration.to_list() if configuration else []


def membership_hash(members: List[Dict[str, str]]) -> str:
    canonical = json.dumps(sorted((m["id"], m["address"], m["suffrage"]) for m in members), separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8", "surrogateescape")).hexdigest()


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


def _copy_file(source: str, target: str, mode: int = 0o600,
               ownership: Optional[fs.Ownership] = None) -> Tuple[str, int]:
    """Copy with O_NOFOLLOW on both ends; owner and ``mode`` set before the fsync; returns (sha256, size)."""
    digest = hashlib.sha256()
    size = 0
    src = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    try:
        dst = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0),
                      0o600)
        try:
            while True:
                chunk = os.read(src, CHUNK)
                if not chunk:
                    break
                digest.update(chunk)
                size += len(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(dst, view):]
            if ownership is not None:
                ownership.apply_fd(dst)
            os.fchmod(dst, mode)
            os.fsync(dst)
        finally:
            os.close(dst)
    finally:
        os.close(src)
    return digest.hexdigest(), size


def copy_state(source_dir: str, target_dir: str, files: List[str], dir_mode: int = 0o700,
               modes: Optional[Dict[str, int]] = None,
               ownership: Optional[fs.Ownership] = None) -> Dict[str, Dict[str, Any]]:
    """Copy ``files`` (relative) into the new directory ``target_dir``; every file and directory gets its owner
    and mode before it is fsynced. The listing records each file's sha256, size and source mode; the copies get
    ``modes[rel]`` (0600 when not given)."""
    os.mkdir(target_dir, dir_mode)
    listing = {}
    for rel in files:
        parent = os.path.dirname(os.path.join(target_dir, rel))
        if not os.path.isdir(parent):
            os.makedirs(parent, dir_mode)
        source = os.path.join(source_dir, rel)
        source_mode = stat.S_IMODE(os.lstat(source).st_mode)
        digest, size = _copy_file(source, os.path.join(target_dir, rel), (modes or {}).get(rel, 0o600), ownership)
        listing[rel] = {"sha256": digest, "size": size, "mode": "%04o" % source_mode}
    # makedirs gives intermediate directories the default mode: set every one, deepest first, then fsync.
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
    def position(self) -> Tuple[int, int, str]:
        """What "newer" means: term, then last index (never the name or mtime)."""
        return (self.manifest.get("current_term") or 0, self.manifest.get("last_index") or 0,
                self.manifest.get("created_utc") or "")


def build_manifest(server_id: str, state: node_state.NodeState, files: Dict[str, Dict[str, Any]], online: bool,
                   source: str, created: str) -> Dict[str, Any]:
    members = membership_of(state)
    return {
        "format": MANIFEST_FORMAT,
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


def _write_json(path: str, document: Dict[str, Any]) -> None:
    fs.write_new_file(path, (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8"), 0o600)


def read_manifest(path: str) -> Dict[str, Any]:
    try:
        with open(os.path.join(path, MANIFEST), "rb") as handle:
            manifest = json.loads(handle.read().decode("utf-8"))
    except (OSError, ValueError) as exc:
        raise BackupError("%s: no readable %s (%s); not a finished backup" % (path, MANIFEST, exc))
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT or \
            not isinstance(manifest.get("files"), dict) or not isinstance(manifest.get("server_id"), str):
        raise BackupError("%s: %s is not a manifest this collection wrote" % (path, MANIFEST))
    wrong = _mistyped_manifest_fields(manifest)
    if wrong:
        raise BackupError("%s: %s has fields of the wrong type (%s); it was edited or damaged"
                          % (path, MANIFEST, ", ".join(wrong)))
    return manifest


def _permission_bits(mode: Any) -> bool:
    """A file mode as the manifest records it: octal permission bits only ("0640"), never setuid/setgid/sticky,
    which a restore would otherwise apply as written."""
    return isinstance(mode, str) and 1 <= len(mode) <= 4 and all(c in "01234567" for c in mode) and \
        int(mode, 8) & ~0o777 == 0


def _mistyped_manifest_fields(manifest: Dict[str, Any]) -> List[str]:
    """What the code that ranks, compares and verifies backups relies on, by type (JSON gives any type)."""
    def integer(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    wrong = [key for key in ("current_term", "last_index")
             if not (manifest.get(key) is None or integer(manifest[key]))]
    if not isinstance(manifest.get("created_utc", ""), str):
        wrong.append("created_utc")
    if not isinstance(manifest.get("membership_hash"), str):
        wrong.append("membership_hash")
    members = manifest.get("membership")
    if not isinstance(members, list) or not all(
            isinstance(m, dict) and isinstance(m.get("id"), str) and isinstance(m.get("address"), str)
            for m in members):
        wrong.append("membership")
    if not all(isinstance(entry, dict) and isinstance(entry.get("sha256"), str) and integer(entry.get("size"))
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
    if not state.integrity.ok:
        raise BackupError("%s: the backed-up state is damaged: %s" % (path, "; ".join(state.integrity.problems[:5])))
    facts = {"current_term": state.current_term, "last_index": state.last_index,
             "membership_hash": membership_hash(membership_of(state))}
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


def plan_backup(node_dir: str, server_id: Optional[str] = None) -> BackupPlan:
    if not os.path.isdir(node_dir) or os.path.islink(node_dir):
        raise BackupError("%s does not exist or is not a directory" % node_dir)
    files = state_files(node_dir)
    if raft.LOG_FILE not in files or raft.STABLE_FILE not in files:
        raise BackupError("%s holds no complete Raft state (%s missing)"
                          % (node_dir, ", ".join(n for n in (raft.LOG_FILE, raft.STABLE_FILE) if n not in files)))
    locked = fs.node_locked(node_dir)
    sizes = {rel: os.path.getsize(os.path.join(node_dir, rel)) for rel in files}
    server_id = fs.node_server_id(node_dir, server_id)
    return BackupPlan(server_id, files, sizes, locked, node_state.read_node_state(node_dir))


def make_backup(node_dir: str, dest: str, plan: BackupPlan, online: bool, attempts: int = 5,
                pause: float = 0.2) -> Backup:
    """Copy, verify, describe, then rename into place. An online copy (op-conductor running) is retried when a
    commit happened during it or the copy does not verify, a bounded number of times."""
    if plan.locked and not online:
        raise fs.NodeBusy("%s: op-conductor is running (its database lock is held); stop it for a consistent "
                          "backup, or set online=true for a verified best-effort copy" % node_dir)
    fs.make_directories(os.path.abspath(dest), 0o700)
    last_problem = None
    for attempt in range(1, attempts + 1):
        now = datetime.datetime.now(datetime.timezone.utc)
        name = backup_name(plan.server_id, now)
        partial = os.path.join(dest, name + PARTIAL)
        before = _meta_txids(node_dir)
        files = state_files(node_dir)
        try:
            listing = copy_state(node_dir, partial, files)
            if online and _meta_txids(node_dir) != before:
                raise BackupError("a commit happened during the copy")
            state = node_state.read_node_state(partial, verify=True)
            if not state.integrity.ok:
                raise BackupError("the copy does not verify: %s" % "; ".join(state.integrity.problems[:3]))
            manifest = build_manifest(plan.server_id, state, listing, online, os.path.abspath(node_dir),
                                      now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
            _write_json(os.path.join(partial, MANIFEST), manifest)
            fs.fsync_dir(partial)
            final = os.path.join(dest, name)
            os.rename(partial, final)
            fs.fsync_dir(dest)
            return Backup(final, manifest)
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


def describe_backup(path: str, verify: bool, server_id: Optional[str] = None,
                    expected: Optional[List[Dict[str, str]]] = None) -> Dict[str, Any]:
    """What raft_backup_info reports for one backup directory; a bad backup gives problems, never an exception.
    ``usable``: it verified (or, without ``verify``, has a sound manifest), is finished, and is of ``server_id``
    and ``expected``."""
    report = {"path": path, "ok": False, "verified": verify, "problems": [], "mismatches": [], "usable": False,
              "manifest": None}
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
    report.update(ok=True, manifest=manifest, mismatches=identity_mismatches(manifest, server_id, expected))
    report["usable"] = not report["mismatches"]
    return report


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


def prune(dest: str, server_id: str, keep: int, protect: str) -> List[str]:
    """Delete finished backups of this server beyond the newest ``keep``, never ``protect`` (the one just made)."""
    backups, _partials = list_backups(dest, server_id)
    removed = []
    kept = 0
    for backup in backups:
        if backup.path == protect or kept < keep:
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
    backup_state: node_state.NodeState
    current: Optional[node_state.NodeState]
    refusals: List[str] = field(default_factory=list)


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
                        expected: Optional[List[Dict[str, str]]]) -> List[str]:
    """Why a backup is not of the given server or membership (either may be None: not checked)."""
    mismatches = []
    if server_id is not None and manifest["server_id"] != server_id:
        mismatches.append("the backup is of server %r, the node is %r" % (manifest["server_id"], server_id))
    if expected is not None and membership_hash(expected) != manifest.get("membership_hash"):
        mismatches.append("the backup's membership %s differs from the expected %s"
                          % (_members_text(manifest.get("membership") or []), _members_text(expected)))
    return mismatches


def plan_restore(src: str, node_dir: str, server_id: str, expected: Optional[List[Dict[str, str]]],
                 force: bool) -> RestorePlan:
    backup, backup_state = verify_backup(src)  # a bad backup is refused whatever force says
    current = node_state.read_node_state(node_dir, verify=True) if os.path.isdir(node_dir) else None
    refusals = identity_mismatches(backup.manifest, server_id, expected)
    if current is not None and current.exists:
        current_members = membership_of(current)
        if current_members and membership_hash(current_members) != backup.manifest["membership_hash"]:
            refusals.append("the backup's membership %s differs from the node's current %s"
                            % (_members_text(backup.manifest["membership"]), _members_text(current_members)))
        here = (current.current_term or 0, current.last_index)
        there = (backup.manifest.get("current_term") or 0, backup.manifest.get("last_index") or 0)
        if there < here:
            refusals.append("the backup (term %d, last index %d) is older than the node's state (term %d, last "
                            "index %d)" % (there + here))
    if refusals and not force:
        return RestorePlan(RESTORE_REFUSED, "; ".join(refusals), backup, backup_state, current, refusals)
    if current is not None and _same_content(node_dir, backup.manifest):
        return RestorePlan(RESTORE_UNCHANGED, "the node already holds exactly this backup", backup, backup_state,
                           current, refusals)
    reason = "restore %s" % backup.path + (" (forced past: %s)" % "; ".join(refusals) if refusals else "")
    return RestorePlan(RESTORE, reason, backup, backup_state, current, refusals)


def _members_text(members: List[Dict[str, str]]) -> str:
    described = ["%s %s (%s)" % (m["id"], m["address"], m.get("suffrage", "voter")) for m in members]
    return "[%s]" % ", ".join(described)


def restore(plan: RestorePlan, node_dir: str, dir_mode: int, ownership: fs.Ownership) -> Optional[str]:
    """Stage the backup's state beside the node directory, check it once more, and swap it in; the node's
    previous state becomes the returned pre-restore backup."""
    parent, name = os.path.split(os.path.abspath(node_dir))
    fs.make_directories(parent, 0o755)
    staging = os.path.join(parent, "." + name + fs.NEW_MARK + fs.random_tag(12))
    try:
        files = plan.backup.manifest["files"]
        modes = {rel: int(entry.get("mode") or "0600", 8) for rel, entry in files.items()}
        listing = copy_state(plan.backup.path, staging, sorted(files), dir_mode, modes, ownership)
        if any((listing[rel]["sha256"], listing[rel]["size"]) != (entry["sha256"], entry["size"])
               for rel, entry in files.items()):
            raise BackupError("the staged copy differs from the manifest; the backup changed while it was read")
        with fs.ExclusiveLocks([os.path.join(node_dir, name) for name in raft.DATABASE_FILES]):
            return fs.replace_directory(node_dir, staging, keep_old=True)
    finally:
        if os.path.lexists(staging):
            fs.remove_tree(staging)
