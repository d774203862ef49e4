"""_backup directly, without AnsibleModule: the plan (what a backup of a node directory takes, and what it refuses),
the verification of a finished backup (files against the manifest, the manifest against the state), and the ranking
of backups (Raft's "newer log": last log term, then last index; never CurrentTerm, never the name)."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.opstack.conductor.plugins.module_utils import _backup as backups
from ansible_collections.opstack.conductor.plugins.module_utils import _cluster as cluster
from ansible_collections.opstack.conductor.plugins.module_utils import _raft as raft
from ansible_collections.opstack.conductor.tests.support.fs import tree
from ansible_collections.opstack.conductor.tests.support.nodes import SERVERS, has_run, write_node

Position = backups.LogPosition


def node_at(root, term=1, ran=None):
    """seq-1 seeded at term; ran=(term, entries): then made to look as if it has run (no snapshot)."""
    node = os.path.join(str(root), "seq-1")
    write_node(node, cluster.validate_cluster(SERVERS, "seq-1", term)[0], "seq-1")
    if ran:
        has_run(node, SERVERS, term=ran[0], entries=ran[1], snapshot=False)
    return node


def backed_up(node, dest):
    return backups.make_backup(node, str(dest), backups.plan_backup(node), online=False)


# ================================================================================================================
# plan
# ================================================================================================================

def test_plan_names_the_files_their_sizes_and_the_server(tmp_path):
    node = node_at(tmp_path)
    has_run(node, SERVERS)  # a snapshot too
    before = tree(tmp_path)
    plan = backups.plan_backup(node)
    assert tree(tmp_path) == before  # planning reads only
    assert plan.server_id == "seq-1" and not plan.locked
    assert raft.LOG_FILE in plan.files and raft.STABLE_FILE in plan.files
    assert any(name.startswith(raft.SNAPSHOT_DIR + "/") and name.endswith("state.bin") for name in plan.files)
    assert plan.sizes == {rel: os.path.getsize(os.path.join(node, rel)) for rel in plan.files}
    assert plan.state.last_index == 40


def test_plan_refuses_a_directory_without_a_complete_state(tmp_path):
    with pytest.raises(backups.BackupError, match="does not exist or is not a directory"):
        backups.plan_backup(str(tmp_path / "nowhere"))
    node = node_at(tmp_path)
    os.unlink(os.path.join(node, raft.STABLE_FILE))
    with pytest.raises(backups.BackupError, match="no complete Raft state .raft-stable.db missing"):
        backups.plan_backup(node)


# ================================================================================================================
# verify
# ================================================================================================================

def test_a_fresh_backup_verifies_and_its_manifest_states_the_position(tmp_path):
    made = backed_up(node_at(tmp_path, ran=(3, 30)), tmp_path / "b")
    assert backups.server_id_of_name(made.path) == "seq-1"
    verified, state = backups.verify_backup(made.path)
    assert verified.manifest == made.manifest and state.last_index == 30
    assert verified.log_position == Position(3, 30)
    assert made.manifest["digest"] == backups.manifest_digest(made.manifest)


def test_verify_refuses_a_changed_file(tmp_path):
    made = backed_up(node_at(tmp_path), tmp_path / "b")
    with open(os.path.join(made.path, raft.LOG_FILE), "r+b") as handle:
        handle.seek(4096 * 2 + 100)
        handle.write(b"\xff")
    with pytest.raises(backups.BackupError, match="raft-log.db: sha256 .* manifest says"):
        backups.verify_backup(made.path)


def test_verify_refuses_a_missing_or_an_extra_file(tmp_path):
    made = backed_up(node_at(tmp_path), tmp_path / "b")
    os.rename(os.path.join(made.path, raft.STABLE_FILE), os.path.join(made.path, "elsewhere"))
    with pytest.raises(backups.BackupError, match="raft-stable.db is listed in the manifest but missing"):
        backups.verify_backup(made.path)


def test_verify_refuses_an_edited_manifest(tmp_path):
    made = backed_up(node_at(tmp_path), tmp_path / "b")
    path = os.path.join(made.path, backups.MANIFEST)
    with open(path) as handle:
        manifest = json.load(handle)
    manifest["server_id"] = "seq-2"
    with open(path, "w") as handle:
        json.dump(manifest, handle)
    with pytest.raises(backups.BackupError, match=made.path):
        backups.verify_backup(made.path)


def test_verify_refuses_an_unfinished_backup(tmp_path):
    made = backed_up(node_at(tmp_path), tmp_path / "b")
    partial = made.path + backups.PARTIAL
    os.rename(made.path, partial)
    with pytest.raises(backups.BackupError, match="unfinished backup"):
        backups.verify_backup(partial)


# ================================================================================================================
# rank
# ================================================================================================================

def test_backups_rank_by_last_log_term_then_index_not_by_current_term_or_time(tmp_path):
    dest = tmp_path / "b"
    made = {}
    # made in this order; the newest by time is the oldest by log
    for label, term, ran in (("term3-index30", 1, (3, 30)), ("term3-index20", 1, (3, 20)),
                             ("term2-index90", 1, (2, 90)), ("seed-at-term9", 9, None)):
        made[label] = backed_up(node_at(tmp_path / label, term=term, ran=ran), dest).path
    ranked, partials = backups.list_backups(str(dest), "seq-1")
    assert partials == []
    assert [backup.path for backup in ranked] == [made["seed-at-term9"], made["term3-index30"],
                                                  made["term3-index20"], made["term2-index90"]]
    assert [backup.log_position for backup in ranked] == [Position(9, 1), Position(3, 30), Position(3, 20),
                                                          Position(2, 90)]


def test_ranking_keeps_other_servers_and_unfinished_copies_apart(tmp_path):
    dest = tmp_path / "b"
    mine = backed_up(node_at(tmp_path / "a"), dest).path
    other = os.path.join(str(tmp_path / "c"), "seq-2")
    write_node(other, cluster.validate_cluster(SERVERS, "seq-1", 1)[0], "seq-2")
    theirs = backed_up(other, dest).path
    os.mkdir(os.path.join(str(dest), os.path.basename(mine) + "x" + backups.PARTIAL))
    assert [b.path for b in backups.list_backups(str(dest), "seq-1")[0]] == [mine]
    assert [b.path for b in backups.list_backups(str(dest), "seq-2")[0]] == [theirs]
    assert len(backups.list_backups(str(dest))[1]) == 1


@pytest.mark.parametrize("manifest, position", [
    ({"position": {"term": 4, "index": 7}}, Position(4, 7)),
    ({"last_log_term": 2, "last_index": 9, "snapshots": []}, Position(2, 9)),  # format 1
    ({"last_log_term": 2, "last_index": 9, "snapshots": ["3-20-1795682304108"]}, Position(3, 20)),
    ({"last_log_term": 2, "last_index": 0, "snapshots": []}, Position(0, 0)),
    ({"snapshots": ["not-a-snapshot-name"]}, None),
])
def test_manifest_position(manifest, position):
    assert backups.manifest_position(manifest) == position


def test_a_backup_that_records_no_position_ranks_last():
    unknown = backups.Backup("u", {"created_utc": "2026-12-31T00:00:00.000000Z"})
    oldest = backups.Backup("o", {"position": {"term": 0, "index": 0}, "created_utc": "2020-01-01T00:00:00.000000Z"})
    assert sorted([unknown, oldest], key=lambda b: b.position, reverse=True) == [oldest, unknown]


@pytest.mark.parametrize("node, backup, lost", [
    (Position(3, 30), Position(3, 20), (10, 21, 30)),
    (Position(3, 20), Position(3, 20), (0, None, None)),
    (Position(3, 10), Position(2, 20), (0, None, None)),
])
def test_entries_lost(node, backup, lost):
    found = backups.entries_lost(node, backup)
    assert (found.count, found.first, found.last) == lost


@pytest.mark.parametrize("name, server_id", [
    ("raft-backup-20261203T074200.123456Z-seq-1-0a1b2c3d", "seq-1"),
    ("raft-backup-20261203T074200.123456Z-seq-1-0a1b2c3d.partial", "seq-1"),
    ("raft-backup-20261203T074200.123456Z-a-b-c-0a1b2c3d", "a-b-c"),
    ("raft-backup-20261203T074200Z-seq-1-0a1b2c3d", None),
    ("raft-backup-20261203T074200.123456Z-seq-1-XYZ", None),
    ("backup-seq-1", None),
])
def test_server_id_of_name(name, server_id):
    assert backups.server_id_of_name("/some/dest/" + name) == server_id
