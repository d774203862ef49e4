"""Backups are ranked and judged "older" the way Raft judges whose log is newer (last log term, then last log index,
the snapshot's when the log ends before it), never by CurrentTerm, and never across clusters (issue 13 item 2)."""

import json
import os

import pytest

from ansible_collections.opstack.conductor.plugins.module_utils import _backup as backups
from ansible_collections.opstack.conductor.plugins.module_utils import _bbolt as bolt
from ansible_collections.opstack.conductor.plugins.module_utils import _raft as raft
from ansible_collections.opstack.conductor.plugins.modules import raft_backup, raft_backup_info, raft_restore, raft_state
from ansible_collections.opstack.conductor.tests.support.nodes import SERVERS, has_run
from ansible_collections.opstack.conductor.tests.support.fs import tree


def generated(run_module, root, term=1, server_id="seq-1"):
    node = os.path.join(str(root), "raft", server_id)
    written = run_module(raft_state.main, dict(path=node, server_id=server_id, servers=SERVERS, term=term))
    assert not written.get("failed"), written
    return node


def set_current_term(node, term):
    """CurrentTerm only: a node that has seen (voted in) later terms without appending anything."""
    path = os.path.join(node, raft.STABLE_FILE)
    stable = bolt.read_database(path)
    stable[raft.BUCKET_CONF][raft.KEY_CURRENT_TERM] = raft.U64.pack(term)
    with open(path, "wb") as handle:
        handle.write(bolt.build_database(stable))


def stale_node(run_module, root):
    """Last log term 1, last index 1, CurrentTerm 5 (it saw four elections it did not win)."""
    node = generated(run_module, root)
    set_current_term(node, 5)
    return node


def advanced_node(run_module, root, term=3, entries=30):
    """Last log term 3, last index 30, CurrentTerm 3."""
    node = generated(run_module, root)
    has_run(node, SERVERS, term=term, entries=entries, snapshot=False)
    return node


def backup(run_module, node, dest, **extra):
    made = run_module(raft_backup.main, dict(path=node, dest=str(dest), **extra))
    assert made.get("changed") and not made.get("failed"), made
    return made["backup_path"]


def test_backup_info_ranks_by_the_log_not_by_current_term(tmp_path, run_module):
    stale = backup(run_module, stale_node(run_module, tmp_path / "s"), tmp_path / "b")
    advanced = backup(run_module, advanced_node(run_module, tmp_path / "a"), tmp_path / "b")
    found = run_module(raft_backup_info.main, dict(path=str(tmp_path / "b"), server_id="seq-1"))
    assert found["newest"] == advanced, found
    assert [report["path"] for report in found["backups"]] == [advanced, stale]


def test_restore_of_a_backup_with_a_shorter_log_is_refused_and_names_what_would_be_lost(tmp_path, run_module):
    stale = backup(run_module, stale_node(run_module, tmp_path / "s"), tmp_path / "b")
    node = advanced_node(run_module, tmp_path / "n")
    before = tree(os.path.dirname(node))
    refused = run_module(raft_restore.main, dict(src=stale, path=node), diff=True)
    assert refused.get("failed"), refused
    assert tree(os.path.dirname(node)) == before
    assert "older than the node's log" in refused["msg"], refused["msg"]
    assert refused["lost"] == {"count": 29, "first": 2, "last": 30}
    assert "29 entries (index 2 to 30)" in refused["msg"]
    assert refused["diff"]["after"]["entries_lost"] == "29 entries (index 2 to 30)"
    # With force it goes ahead, and says what it overrode and lost.
    forced = run_module(raft_restore.main, dict(src=stale, path=node, force=True))
    assert forced["changed"] and forced["state"]["last_index"] == 1
    assert forced["lost"] == {"count": 29, "first": 2, "last": 30}
    assert any("older than the node's log" in item for item in forced["overridden"]), forced


def test_a_longer_log_at_a_lower_current_term_is_not_older(tmp_path, run_module):
    advanced = backup(run_module, advanced_node(run_module, tmp_path / "a"), tmp_path / "b")
    node = stale_node(run_module, tmp_path / "n")  # CurrentTerm 5, but its log ends at (1, 1)
    restored = run_module(raft_restore.main, dict(src=advanced, path=node))
    assert restored.get("changed") and not restored.get("failed"), restored
    assert restored["lost"] == {"count": 0, "first": None, "last": None}
    assert restored["state"]["last_index"] == 30


def test_a_backup_of_a_reseeded_cluster_does_not_replace_a_node_without_force(tmp_path, run_module):
    reseeded = backup(run_module, generated(run_module, tmp_path / "r", term=50), tmp_path / "b")
    node = advanced_node(run_module, tmp_path / "n", term=2, entries=22)
    before = tree(os.path.dirname(node))
    refused = run_module(raft_restore.main, dict(src=reseeded, path=node))
    assert refused.get("failed"), refused
    assert "another cluster" in refused["msg"], refused["msg"]
    assert tree(os.path.dirname(node)) == before


def test_retention_keeps_the_advanced_backup(tmp_path, run_module):
    advanced = backup(run_module, advanced_node(run_module, tmp_path / "a"), tmp_path / "b")
    stale = stale_node(run_module, tmp_path / "s")
    first_stale = backup(run_module, stale, tmp_path / "b")
    last = run_module(raft_backup.main, dict(path=stale, dest=str(tmp_path / "b"), keep=2))
    assert sorted(os.listdir(str(tmp_path / "b"))) == sorted(
        os.path.basename(path) for path in (advanced, last["backup_path"]))
    assert last["removed"] == [first_stale]


def test_retention_is_per_cluster(tmp_path, run_module):
    old_cluster = backup(run_module, advanced_node(run_module, tmp_path / "a"), tmp_path / "b")
    reseeded = generated(run_module, tmp_path / "r", term=50)
    made = [backup(run_module, reseeded, tmp_path / "b", keep=1) for _round in range(2)]
    assert sorted(os.listdir(str(tmp_path / "b"))) == sorted(os.path.basename(p) for p in (old_cluster, made[-1]))


def test_every_manifest_records_the_cluster_and_the_log_position(tmp_path, run_module):
    node = advanced_node(run_module, tmp_path / "a")
    made = run_module(raft_backup.main, dict(path=node, dest=str(tmp_path / "b")))
    manifest = made["manifest"]
    assert manifest["position"] == {"term": 3, "index": 30}
    assert manifest["cluster"]["initial_term"] == 1 and manifest["cluster"]["id"]
    reseeded = run_module(raft_backup.main, dict(path=generated(run_module, tmp_path / "r", term=50),
                                                 dest=str(tmp_path / "b")))
    assert reseeded["manifest"]["cluster"]["id"] != manifest["cluster"]["id"]
    with open(os.path.join(made["backup_path"], "manifest.json")) as handle:
        assert json.load(handle)["cluster"] == manifest["cluster"]


# ---------------------------------------------------------------------------------------------------------------
# Item 7: the manifest is covered by a digest, and no manifest widens a restored file's mode
# ---------------------------------------------------------------------------------------------------------------


def edit_manifest(backup_path, edit, reseal=False):
    path = os.path.join(backup_path, "manifest.json")
    with open(path) as handle:
        manifest = json.load(handle)
    edit(manifest)
    if reseal:
        manifest = backups.seal(manifest)
    os.chmod(path, 0o600)
    with open(path, "w") as handle:
        json.dump(manifest, handle)


def world_writable(manifest):
    for entry in manifest["files"].values():
        entry["mode"] = "0666"


def restored_modes(node):
    return {os.path.relpath(os.path.join(d, n), node): os.stat(os.path.join(d, n)).st_mode & 0o7777
            for d, _dirs, files in os.walk(node) for n in files}


def test_an_edited_manifest_is_refused_even_with_force(tmp_path, run_module):
    src = backup(run_module, advanced_node(run_module, tmp_path / "a"), tmp_path / "b")
    edit_manifest(src, world_writable)
    node = os.path.join(str(tmp_path), "target", "seq-1")
    refused = run_module(raft_restore.main, dict(src=src, path=node, force=True))
    assert refused.get("failed") and "does not match its digest" in refused["msg"], refused
    assert not os.path.exists(node)
    listed = run_module(raft_backup_info.main, dict(path=src, verify=False))
    assert not listed["backups"][0]["ok"] and "digest" in listed["backups"][0]["problems"][0]


def test_a_resealed_manifest_still_cannot_widen_modes(tmp_path, run_module):
    src = backup(run_module, advanced_node(run_module, tmp_path / "a"), tmp_path / "b")
    edit_manifest(src, world_writable, reseal=True)  # whoever can write the backup can recompute a digest
    node = os.path.join(str(tmp_path), "target", "seq-1")
    restored = run_module(raft_restore.main, dict(src=src, path=node))
    assert restored.get("changed"), restored
    assert set(restored_modes(node).values()) == {0o600}


def old_format(manifest):
    """What the previous version of this collection wrote: format 1, no position, cluster or digest."""
    for key in ("position", "cluster", "digest"):
        manifest.pop(key)
    manifest["format"] = 1


def test_old_format_backups_are_read_ranked_and_restored_with_a_warning(tmp_path, run_module):
    stale = backup(run_module, stale_node(run_module, tmp_path / "s"), tmp_path / "b")
    advanced = backup(run_module, advanced_node(run_module, tmp_path / "a"), tmp_path / "b")
    edit_manifest(stale, old_format)
    edit_manifest(advanced, lambda manifest: world_writable(manifest) or old_format(manifest))
    found = run_module(raft_backup_info.main, dict(path=str(tmp_path / "b"), server_id="seq-1"))
    assert found["newest"] == advanced and [r["path"] for r in found["backups"]] == [advanced, stale], found
    assert all("manifest format 1" in report["warnings"][0] for report in found["backups"])
    node = stale_node(run_module, tmp_path / "n")
    restored = run_module(raft_restore.main, dict(src=advanced, path=node))
    assert restored.get("changed"), restored
    assert any("manifest format 1" in caveat for caveat in restored["caveats"])
    assert any("manifest format 1" in str(warning) for warning in restored["warnings"])  # in the play output too
    assert set(restored_modes(node).values()) == {0o600}
    refused = run_module(raft_restore.main, dict(src=stale, path=node))
    assert refused.get("failed") and "older than the node's log" in refused["msg"], refused


# ---------------------------------------------------------------------------------------------------------------
# Item 11: raft_backup validates every option before it touches disk
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("options, needle", [
    (dict(server_id="../x"), "server_id='../x'"),
    (dict(server_id="a/b"), "server_id='a/b'"),
    (dict(server_id=".hidden"), "server_id='.hidden'"),
    (dict(server_id=""), "server_id=''"),
    (dict(keep=0), "keep=0"),
    (dict(attempts=0), "attempts=0"),
])
def test_backup_options_are_validated_before_anything_is_created(tmp_path, run_module, options, needle):
    node = advanced_node(run_module, tmp_path / "a")
    before = tree(str(tmp_path))
    dest = tmp_path / "new" / "backups"
    failed = run_module(raft_backup.main, dict(path=node, dest=str(dest), **options))
    assert failed.get("failed") and needle in failed["msg"], failed
    assert tree(str(tmp_path)) == before and not (tmp_path / "new").exists()


def test_a_node_directory_name_that_is_no_server_id_is_refused_before_the_backup(tmp_path, run_module):
    node = advanced_node(run_module, tmp_path / "a")
    hidden = os.path.join(os.path.dirname(node), ".seq-1")
    os.rename(node, hidden)
    failed = run_module(raft_backup.main, dict(path=hidden, dest=str(tmp_path / "new")))
    assert failed.get("failed") and "server_id (the last component of path, its default)='.seq-1'" in failed["msg"]
    assert not (tmp_path / "new").exists()


# ---------------------------------------------------------------------------------------------------------------
# Item 14: a forced restore says which check it overrode; a prediction from a manifest shows its diff
# ---------------------------------------------------------------------------------------------------------------


def test_a_forced_restore_onto_another_server_says_what_it_overrode(tmp_path, run_module):
    src = backup(run_module, advanced_node(run_module, tmp_path / "a"), tmp_path / "b")
    node = generated(run_module, tmp_path / "n", server_id="seq-2")
    forced = run_module(raft_restore.main, dict(src=src, path=node, force=True), diff=True)
    assert forced.get("changed"), forced
    assert forced["overridden"] == ["the backup is of server 'seq-1', the node is 'seq-2'"]
    assert any("force=true overrode: the backup is of server 'seq-1'" in str(w) for w in forced["warnings"])
    assert forced["diff"]["after"]["overridden"] == forced["overridden"]
    again = run_module(raft_restore.main, dict(src=src, path=node, force=True))  # nothing done, nothing overridden
    assert again["action"] == "unchanged" and again["overridden"] == [] and again["refusals"]


def test_a_prediction_from_a_manifest_judges_and_diffs_without_the_files(tmp_path, run_module):
    src = backup(run_module, stale_node(run_module, tmp_path / "s"), tmp_path / "b")
    with open(os.path.join(src, "manifest.json")) as handle:
        manifest = json.load(handle)
    node = advanced_node(run_module, tmp_path / "n")
    before = tree(str(tmp_path / "n"))
    refused = run_module(raft_restore.main, dict(src_manifest=manifest, path=node), check_mode=True, diff=True)
    assert refused.get("failed") and "older than the node's log" in refused["msg"], refused
    assert refused["lost"] == {"count": 29, "first": 2, "last": 30}
    forced = run_module(raft_restore.main, dict(src_manifest=manifest, path=node, force=True),
                        check_mode=True, diff=True)
    assert forced["changed"] and forced["diff"]["after"]["log_position"] == "last log term 1, last index 1"
    assert forced["diff"]["before"]["log_position"] == "last log term 3, last index 30"
    assert forced["diff"]["after"]["entries_lost"] == "29 entries (index 2 to 30)"
    assert tree(str(tmp_path / "n")) == before
    assert run_module(raft_restore.main, dict(src_manifest=manifest, path=node, force=True))["failed"]
    manifest["files"][raft.LOG_FILE]["mode"] = "0666"
    edited = run_module(raft_restore.main, dict(src_manifest=manifest, path=node, force=True), check_mode=True)
    assert edited.get("failed") and "does not match its digest" in edited["msg"]


# ---------------------------------------------------------------------------------------------------------------
# The cluster identity once the log is compacted past index 1 (as op-conductor's snapshots do within minutes)
# ---------------------------------------------------------------------------------------------------------------


def compact(node, through):
    """Drop log entries 1..through, as Raft does after a snapshot (which has_run puts at index 20)."""
    path = os.path.join(node, raft.LOG_FILE)
    content = bolt.read_database(path)
    for index in range(1, through + 1):
        content[raft.BUCKET_LOGS].pop(raft.uint64_key(index), None)
    with open(path, "wb") as handle:
        handle.write(bolt.build_database(content))


def grow(node, term, upto):
    """More entries at ``term`` up to index ``upto`` (CurrentTerm follows)."""
    path = os.path.join(node, raft.LOG_FILE)
    content = bolt.read_database(path)
    start = max(raft.U64.unpack(key)[0] for key in content[raft.BUCKET_LOGS]) + 1
    for index in range(start, upto + 1):
        content[raft.BUCKET_LOGS][raft.uint64_key(index)] = raft.encode_log(
            raft.Log(index=index, term=term, type=raft.LOG_COMMAND, data=b"x" * 50))
    with open(path, "wb") as handle:
        handle.write(bolt.build_database(content))
    set_current_term(node, term)


def test_a_compacted_node_inherits_the_identity_of_a_backup_its_log_continues(tmp_path, run_module):
    node = generated(run_module, tmp_path / "n")
    has_run(node, SERVERS, term=3, entries=30)  # snapshot at 20
    first = run_module(raft_backup.main, dict(path=node, dest=str(tmp_path / "b")))["manifest"]
    assert first["cluster"]["source"] == "log entry 1"
    compact(node, 19)
    grow(node, 4, 45)
    second = run_module(raft_backup.main, dict(path=node, dest=str(tmp_path / "b")))["manifest"]
    assert second["cluster"]["id"] == first["cluster"]["id"], second["cluster"]
    assert second["cluster"]["source"].startswith("inherited from raft-backup-")
    # Without an earlier backup whose last entry the log still holds, the identity is unknown, and says why.
    lone = run_module(raft_backup.main, dict(path=node, dest=str(tmp_path / "other")))["manifest"]
    assert lone["cluster"]["id"] is None and "compacted" in lone["cluster"]["reason"]


def test_unknown_identities_still_catch_another_cluster_by_the_logs(tmp_path, run_module):
    node = generated(run_module, tmp_path / "n")
    has_run(node, SERVERS, term=3, entries=30)  # snapshot at (3, 20)
    compact(node, 19)  # the node's identity is now unknown
    # Re-seeded at term 50: a later last term, but its log ends before the node's snapshot.
    reseeded = backup(run_module, generated(run_module, tmp_path / "r", term=50), tmp_path / "b")
    refused = run_module(raft_restore.main, dict(src=reseeded, path=node))
    assert refused.get("failed") and "another cluster" in refused["msg"], refused["msg"]
    assert "before the node's snapshot at 20" in refused["msg"]
    # Another history at the same index: term 2 at index 25 in the backup, term 3 on the node.
    other = generated(run_module, tmp_path / "o")
    has_run(other, SERVERS, term=2, entries=25, snapshot=False)
    diverged = run_module(raft_restore.main, dict(src=backup(run_module, other, tmp_path / "b2"), path=node))
    assert diverged.get("failed") and "differ at index 25 (term 2 in the backup, 3 on the node)" in diverged["msg"]
    # A node of the same history that is behind: restored, with a caveat that the clusters could not be compared.
    behind = generated(run_module, tmp_path / "behind")
    has_run(behind, SERVERS, term=3, entries=24)
    compact(behind, 19)
    restored = run_module(raft_restore.main, dict(src=backup(run_module, node, tmp_path / "b3"), path=behind))
    assert restored.get("changed"), restored
    assert any("the cluster could not be compared" in caveat for caveat in restored["caveats"])


@pytest.mark.parametrize("inside", ["", "backups", "snapshots/b"])
def test_a_destination_inside_the_node_directory_is_refused_before_anything_is_created(tmp_path, run_module, inside):
    node = advanced_node(run_module, tmp_path / "a")
    before = tree(str(tmp_path))
    failed = run_module(raft_backup.main, dict(path=node, dest=os.path.join(node, inside)))
    assert failed.get("failed") and "dest=" in failed["msg"] and "inside the node directory" in failed["msg"], failed
    assert tree(str(tmp_path)) == before


def test_a_log_that_cannot_be_opened_is_an_error_not_an_unknown_cluster(tmp_path):
    """Only 'does not exist' is absent; ELOOP here stands for any other OSError (EACCES as non-root)."""
    os.symlink(raft.LOG_FILE, str(tmp_path / raft.LOG_FILE))  # a link to itself
    with pytest.raises(backups.BackupError, match="cannot read raft-log.db to find the cluster identity"):
        backups.cluster_identity(str(tmp_path))
    assert backups.cluster_identity(str(tmp_path / "absent"))["id"] is None
