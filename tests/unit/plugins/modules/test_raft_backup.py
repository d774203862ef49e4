"""raft_backup and raft_restore: complete, verified, atomic; every refusal leaves the disk as it was."""

import fcntl
import json
import os

import pytest

from ansible_collections.opstack.conductor.plugins.module_utils import _backup as backups
from ansible_collections.opstack.conductor.plugins.module_utils import _raft as raft
from ansible_collections.opstack.conductor.plugins.modules import raft_backup, raft_restore, raft_state
from ansible_collections.opstack.conductor.tests.support.nodes import SERVERS, has_run
from ansible_collections.opstack.conductor.tests.support.fs import files_only, tree


def make_node(run_module, root, server_id="seq-1", servers=SERVERS, entries=40, term=3, snapshot=True):
    """A node that has run: more entries, a later term, a snapshot."""
    node = os.path.join(str(root), "raft", server_id)
    assert run_module(raft_state.main, dict(path=node, server_id=server_id, servers=servers))["changed"]
    has_run(node, servers, term=term, entries=entries, snapshot=snapshot)
    return node


def backup(run_module, node, dest, check_mode=False, **extra):
    return run_module(raft_backup.main, dict(path=node, dest=str(dest), **extra), check_mode=check_mode)


def test_backup_is_complete_verified_and_private(tmp_path, run_module):
    node = make_node(run_module, tmp_path)
    predicted = backup(run_module, node, tmp_path / "backups", check_mode=True)
    assert predicted["changed"] and not (tmp_path / "backups").exists()
    assert sorted(predicted["files"]) == [raft.LOG_FILE, raft.STABLE_FILE, "snapshots/3-20-1795682304108/meta.json",
                                          "snapshots/3-20-1795682304108/state.bin"]
    result = backup(run_module, node, tmp_path / "backups")
    assert result["changed"] and os.path.isdir(result["backup_path"])
    manifest = result["manifest"]
    assert manifest["server_id"] == "seq-1" and manifest["current_term"] == 3 and manifest["last_index"] == 40
    assert manifest["snapshots"] == ["3-20-1795682304108"] and not manifest["online"]
    assert [m["id"] for m in manifest["membership"]] == ["seq-1", "seq-2", "seq-3"]
    for directory, dirs, files in os.walk(result["backup_path"]):
        assert os.stat(directory).st_mode & 0o777 == 0o700
        for name in files:
            assert os.stat(os.path.join(directory, name)).st_mode & 0o777 == 0o600
    assert os.path.basename(result["backup_path"]).startswith("raft-backup-") and \
        "-seq-1-" in result["backup_path"]
    assert not [n for n in os.listdir(str(tmp_path / "backups")) if n.endswith(".partial")]


def test_retention_keeps_the_newest_by_term_and_index_never_the_new_one(tmp_path, run_module):
    node = make_node(run_module, tmp_path)
    made = [backup(run_module, node, tmp_path / "b", keep=2)["backup_path"] for _round in range(3)]
    remaining = sorted(os.path.join(str(tmp_path / "b"), n) for n in os.listdir(str(tmp_path / "b")))
    assert len(remaining) == 2 and made[-1] in remaining
    other = make_node(run_module, tmp_path, "seq-2")
    backup(run_module, other, tmp_path / "b", keep=1)
    assert len(os.listdir(str(tmp_path / "b"))) == 3  # another server's backups are not ours to prune
    assert backup(run_module, node, tmp_path / "b", keep=0)["failed"]


def test_locked_node_needs_online_and_offline_backup_refuses(tmp_path, run_module):
    node = make_node(run_module, tmp_path)
    fd = os.open(os.path.join(node, raft.LOG_FILE), os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        refused = backup(run_module, node, tmp_path / "b")
        assert refused["failed"] and refused["locked"] and "online=true" in refused["msg"]
        assert not (tmp_path / "b").exists()
        online = backup(run_module, node, tmp_path / "b", online=True)
        assert online["changed"] and online["manifest"]["online"]
    finally:
        os.close(fd)


def test_partial_leftover_is_removed_by_the_next_backup(tmp_path, run_module):
    node = make_node(run_module, tmp_path)
    leftover = tmp_path / "b" / "raft-backup-20260101T000000.000000Z-seq-1-deadbeef.partial"
    leftover.mkdir(parents=True)
    # Another server's leftover stays, even when this server's ID is a part of its name ("seq" in "seq-1").
    others = [tmp_path / "b" / ("raft-backup-20260101T000000.000000Z-%s-deadbeef.partial" % other)
              for other in ("seq-10", "x-seq-1", "seq-1-2")]
    for other in others:
        other.mkdir()
    result = backup(run_module, node, tmp_path / "b")
    assert result["removed"] == [str(leftover)] and not leftover.exists()
    short = make_node(run_module, tmp_path / "short", "seq", servers=[{"id": "seq", "address": "10.0.0.9:1"}])
    assert backup(run_module, short, tmp_path / "b")["removed"] == []
    assert all(other.exists() for other in others)


def test_restore_round_trip_and_idempotence(tmp_path, run_module):
    node = make_node(run_module, tmp_path)
    made = backup(run_module, node, tmp_path / "b")
    original = tree(node)
    make_node(run_module, tmp_path / "other", "seq-1")  # unrelated, just to have a second tree
    # wipe the node: a restore into an absent directory
    os.rename(node, node + ".gone")
    restored = run_module(raft_restore.main, dict(src=made["backup_path"], path=node), diff=True)
    assert restored["changed"] and restored["action"] == "restore" and "backup_dir" not in restored
    # Same content; modes as the node had them, never wider than 0600 (the snapshot files here were 0644).
    capped = {path: entry._replace(mode=(entry.mode & ~0o777) | (entry.mode & 0o600))
              for path, entry in original.items()}
    assert files_only(tree(node)) == files_only(capped)
    assert restored["diff"]["after"]["last_index"] == 40
    again = run_module(raft_restore.main, dict(src=made["backup_path"], path=node), diff=True)
    assert not again["changed"] and again["action"] == "unchanged" and "diff" not in again


def test_restore_keeps_the_previous_state_and_check_mode_changes_nothing(tmp_path, run_module):
    node = make_node(run_module, tmp_path, entries=30)
    made = backup(run_module, node, tmp_path / "b")
    make_node(run_module, tmp_path / "x")  # noise elsewhere
    newer = make_node(run_module, tmp_path / "newer", entries=60, term=4)
    before = tree(newer)
    refused = run_module(raft_restore.main, dict(src=made["backup_path"], path=newer, server_id="seq-1"))
    assert refused["failed"] and "older than the node's log" in refused["msg"]
    assert "last log term 3, last index 30" in refused["msg"] and "last log term 4, last index 60" in refused["msg"]
    assert "drops 30 entries (index 31 to 60)" in refused["msg"]
    predicted = run_module(raft_restore.main, dict(src=made["backup_path"], path=newer, force=True),
                           check_mode=True)
    assert predicted["changed"] and tree(newer) == before
    forced = run_module(raft_restore.main, dict(src=made["backup_path"], path=newer, force=True))
    assert forced["changed"] and tree(forced["backup_dir"]) == before
    assert forced["state"]["last_index"] == 30


@pytest.fixture
def made(tmp_path, run_module):
    node = make_node(run_module, tmp_path)
    return node, backup(run_module, node, tmp_path / "b")["backup_path"]


def restore_refused(run_module, src, node, needle, **extra):
    before = tree(os.path.dirname(node))
    result = run_module(raft_restore.main, dict(src=src, path=node, **extra))
    assert result.get("failed"), result
    assert needle in result["msg"], result["msg"]
    assert tree(os.path.dirname(node)) == before
    return result


@pytest.mark.parametrize("damage,needle", [
    ("truncate-log", "does not match its manifest"),
    ("flip-log", "does not match its manifest"),
    ("drop-snapshot", "listed in the manifest but missing"),
    ("drop-snapshots-dir", "listed in the manifest but missing"),
    ("extra-file", "not listed in the manifest"),
    ("lying-manifest", "manifest does not describe"),
    ("no-manifest", "not a finished backup"),
    ("partial", "unfinished backup"),
])
def test_damaged_backups_are_refused_even_with_force(tmp_path, run_module, made, damage, needle):
    node, src = made
    log = os.path.join(src, raft.LOG_FILE)
    manifest_path = os.path.join(src, "manifest.json")
    snapshot_dir = os.path.join(src, raft.SNAPSHOT_DIR)
    if damage == "truncate-log":
        with open(log, "r+b") as handle:
            handle.truncate(os.path.getsize(log) - 1)
    elif damage == "flip-log":
        with open(log, "r+b") as handle:
            handle.seek(5000)
            byte = handle.read(1)
            handle.seek(5000)
            handle.write(bytes([byte[0] ^ 0x10]))
    elif damage == "drop-snapshot":
        snap = os.path.join(snapshot_dir, os.listdir(snapshot_dir)[0])
        os.unlink(os.path.join(snap, "state.bin"))
    elif damage == "drop-snapshots-dir":
        __import__("shutil").rmtree(snapshot_dir)
    elif damage == "extra-file":
        with open(os.path.join(src, raft.SNAPSHOT_DIR, os.listdir(snapshot_dir)[0], "stray"), "wb") as handle:
            handle.write(b"x")
    elif damage == "lying-manifest":
        manifest = json.load(open(manifest_path))
        manifest["last_index"] = 99
        os.chmod(manifest_path, 0o600)
        with open(manifest_path, "w") as handle:
            json.dump(backups.seal(manifest), handle)  # the digest matches: the content check catches the lie
    elif damage == "no-manifest":
        os.unlink(manifest_path)
    elif damage == "partial":
        os.rename(src, src + ".partial")
        src = src + ".partial"
    restore_refused(run_module, src, node, needle, force=True)


def test_backup_of_another_node_or_cluster_is_refused_without_force(tmp_path, run_module, made):
    node, src = made
    other_node = make_node(run_module, tmp_path / "two", "seq-2")
    result = restore_refused(run_module, src, other_node, "the backup is of server 'seq-1', the node is 'seq-2'")
    assert result["refusals"] == ["the backup is of server 'seq-1', the node is 'seq-2'"]
    forced = run_module(raft_restore.main, dict(src=src, path=node, server_id="seq-2", force=True))
    assert forced["action"] == "unchanged" and forced["refusals"] == [  # the node already holds this backup
        "the backup is of server 'seq-1', the node is 'seq-2'"]
    bigger = SERVERS + [{"id": "seq-4", "address": "10.0.0.4:50050"}]
    restore_refused(run_module, src, node, "differs from the expected", expected_servers=bigger)
    other_cluster = make_node(run_module, tmp_path / "c2", "seq-1",
                              servers=[dict(s, address=s["address"].replace("10.0.0", "10.9.9")) for s in SERVERS])
    restore_refused(run_module, src, other_cluster, "differs from the node's current")


def test_locked_target_is_refused_even_with_force(tmp_path, run_module, made):
    node, src = made
    make_node(run_module, tmp_path / "noise")
    fd = os.open(os.path.join(node, raft.STABLE_FILE), os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        restore_refused(run_module, src, node, "op-conductor is running", force=True)
        # Without force the refusal is not hidden behind the lock: both are in the message and in refusals.
        other = make_node(run_module, tmp_path / "two", "seq-2")
        other_fd = os.open(os.path.join(other, raft.STABLE_FILE), os.O_RDONLY)
        try:
            fcntl.flock(other_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            both = restore_refused(run_module, src, other, "op-conductor is running")
            assert "would also be refused without force=true: the backup is of server 'seq-1'" in both["msg"]
            assert both["refusals"] == ["the backup is of server 'seq-1', the node is 'seq-2'"]
        finally:
            os.close(other_fd)
    finally:
        os.close(fd)
