"""raft_backup_info: verifies and lists backups, ranks them by term and index, and never writes."""

import json
import os
import shutil

import pytest

from ansible_collections.opstack.conductor.plugins.module_utils import _backup as backups
from ansible_collections.opstack.conductor.plugins.module_utils import _raft as raft
from ansible_collections.opstack.conductor.plugins.modules import raft_backup, raft_backup_info, raft_state
from ansible_collections.opstack.conductor.tests.support.fs import tree
from ansible_collections.opstack.conductor.tests.support.nodes import SERVERS


def backed_up(run_module, root, server_id="seq-1", term=1):
    """A backup in <root>/b of a node generated (or forced) at ``term``."""
    node = os.path.join(str(root), "raft", server_id)
    written = run_module(raft_state.main, dict(path=node, server_id=server_id, servers=SERVERS, term=term,
                                               force=True, backup=False))
    assert not written.get("failed"), written
    made = run_module(raft_backup.main, dict(path=node, dest=str(root / "b")))
    assert made["changed"], made
    return made["backup_path"]


def flip_a_byte(path):
    with open(path, "r+b") as handle:
        handle.seek(5000)
        byte = handle.read(1)
        handle.seek(5000)
        handle.write(bytes([byte[0] ^ 0xFF]))


def info(run_module, path, **extra):
    return run_module(raft_backup_info.main, dict(path=str(path), **extra))


def test_one_backup_verifies_and_is_usable(tmp_path, run_module):
    path = backed_up(run_module, tmp_path)
    result = info(run_module, path, server_id="seq-1", expected_servers=SERVERS)
    assert not result["changed"] and result["newest"] == path and result["partials"] == []
    [report] = result["backups"]
    assert report["ok"] and report["usable"] and report["verified"] and not report["problems"]
    assert report["manifest"]["server_id"] == "seq-1" and report["manifest"]["current_term"] == 1


def test_mismatches_make_a_good_backup_unusable(tmp_path, run_module):
    path = backed_up(run_module, tmp_path)
    bigger = SERVERS + [{"id": "seq-4", "address": "10.0.0.4:50050"}]
    result = info(run_module, path, server_id="seq-2", expected_servers=bigger)
    [report] = result["backups"]
    assert report["ok"] and not report["usable"] and result["newest"] is None
    assert report["mismatches"][0] == "the backup is of server 'seq-1', the node is 'seq-2'"
    assert "differs from the expected" in report["mismatches"][1] and "seq-4" in report["mismatches"][1]


def test_a_directory_of_backups_is_ranked_and_damage_is_reported(tmp_path, run_module):
    older = backed_up(run_module, tmp_path, term=1)
    newer = backed_up(run_module, tmp_path, term=5)
    backed_up(run_module, tmp_path, server_id="seq-2", term=9)
    partial = os.path.join(str(tmp_path / "b"), os.path.basename(newer) + ".partial")
    shutil.copytree(newer, partial)
    flip_a_byte(os.path.join(newer, raft.LOG_FILE))
    before = tree(tmp_path)

    result = info(run_module, tmp_path / "b", server_id="seq-1")
    assert [r["path"] for r in result["backups"]] == [newer, older]  # by term, whatever the names say
    damaged, intact = result["backups"]
    assert not damaged["ok"] and not damaged["usable"] and "sha256" in damaged["problems"][0]
    assert damaged["manifest"]["current_term"] == 5  # still shown, so the operator sees what was lost
    assert intact["usable"] and result["newest"] == older and result["partials"] == [partial]

    everything = info(run_module, tmp_path / "b")
    assert [r["manifest"]["current_term"] for r in everything["backups"]] == [9, 5, 1]
    assert "-seq-2-" in os.path.basename(everything["newest"])  # any server's without server_id

    manifests_only = info(run_module, tmp_path / "b", server_id="seq-1", verify=False)
    assert manifests_only["newest"] == newer and not manifests_only["backups"][0]["verified"]
    assert tree(tmp_path) == before


def test_unreadable_manifest_ranks_last_and_partial_alone_is_not_usable(tmp_path, run_module):
    path = backed_up(run_module, tmp_path)
    broken = path + "-copy"
    shutil.copytree(path, broken)
    with open(os.path.join(broken, "manifest.json"), "w") as handle:
        handle.write("{")
    result = info(run_module, tmp_path / "b")
    assert [r["path"] for r in result["backups"]] == [path, broken]
    assert "no readable manifest.json" in result["backups"][1]["problems"][0]
    partial = path + ".partial"
    os.rename(path, partial)
    alone = info(run_module, partial)
    assert not alone["backups"][0]["ok"] and "unfinished backup" in alone["backups"][0]["problems"][0]


def test_bad_input_fails_and_writes_nothing(tmp_path, run_module):
    missing = info(run_module, tmp_path / "nope")
    assert missing["failed"] and "does not exist" in missing["msg"] and not (tmp_path / "nope").exists()
    backed_up(run_module, tmp_path)
    before = tree(tmp_path)
    bad_id = info(run_module, tmp_path / "b", server_id="../x")
    assert bad_id["failed"] and "server_id" in bad_id["msg"] and "'../x'" in bad_id["msg"]
    bad_servers = info(run_module, tmp_path / "b", expected_servers=[{"id": "a", "address": "nope"}])
    assert bad_servers["failed"] and "expected_servers" in bad_servers["msg"]
    assert tree(tmp_path) == before


def test_server_filter_is_exact_also_by_name(tmp_path, run_module):
    """A prefix or part of an ID matches nothing: "seq" is not seq-1 (names hold dashes, IDs may too)."""
    path = backed_up(run_module, tmp_path)
    os.remove(os.path.join(path, "manifest.json"))  # judged by its name from now on
    shutil.copytree(path, path + ".partial")
    for other in ("seq", "1", "seq-1-x"):
        result = info(run_module, tmp_path / "b", server_id=other)
        assert result["backups"] == [] and result["partials"] == [], other
    mine = info(run_module, tmp_path / "b", server_id="seq-1")
    assert [r["path"] for r in mine["backups"]] == [path] and mine["partials"] == [path + ".partial"]
    assert not mine["backups"][0]["ok"] and mine["newest"] is None


@pytest.mark.parametrize("field, value", [("current_term", "2"), ("last_index", 1.5), ("created_utc", 7),
                                          ("membership", [{"id": 1}]), ("membership_hash", None),
                                          ("files", {"raft-log.db": "sha"})])
def test_mistyped_manifest_is_a_problem_not_a_crash(tmp_path, run_module, field, value):
    good = backed_up(run_module, tmp_path, term=1)
    bad = backed_up(run_module, tmp_path, term=2)
    manifest_path = os.path.join(bad, "manifest.json")
    with open(manifest_path) as handle:
        manifest = json.load(handle)
    manifest[field] = value
    with open(manifest_path, "w") as handle:
        json.dump(backups.seal(manifest), handle)  # a digest that matches: the type checks still hold
    for verify in (True, False):
        result = info(run_module, tmp_path / "b", verify=verify)
        assert [r["path"] for r in result["backups"]] == [good, bad], result
        assert "wrong type (%s)" % field in result["backups"][1]["problems"][0]
        assert result["newest"] == good


def test_partial_or_manifestless_backup_as_path(tmp_path, run_module):
    path = backed_up(run_module, tmp_path)
    partial = path + ".partial"
    shutil.copytree(path, partial)  # a run killed between the manifest and the rename
    for verify in (True, False):
        alone = info(run_module, partial, verify=verify)
        assert not alone["backups"][0]["usable"] and alone["newest"] is None, verify
        assert "unfinished backup" in alone["backups"][0]["problems"][0]
    os.remove(os.path.join(path, "manifest.json"))
    lost = info(run_module, path)
    assert len(lost["backups"]) == 1 and "no readable manifest.json" in lost["backups"][0]["problems"][0]


def test_a_directory_of_backups_may_be_named_like_one(tmp_path, run_module):
    node = tmp_path / "raft" / "seq-1"
    run_module(raft_state.main, dict(path=str(node), server_id="seq-1", servers=SERVERS))
    for dest in ("raft-backup-seq-1", "raft-backup-20260101T000000.000000Z-store-00000000"):
        made = run_module(raft_backup.main, dict(path=str(node), dest=str(tmp_path / dest)))
        result = info(run_module, tmp_path / dest)
        assert [r["path"] for r in result["backups"]] == [made["backup_path"]] and result["newest"], dest
