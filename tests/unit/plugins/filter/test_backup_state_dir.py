"""plugins/plugin_utils/_backup_plans.py, the local state_dir mode (issue 14 item 1): which directories of a state
directory are nodes and where their backups may go (was Jinja in roles/raft_backup/tasks/state_dir_preflight.yml),
which node backups a raft-backup-<UTC> folder holds and whether they are a complete backup of one cluster (was Jinja
in roles/raft_restore/tasks/state_dir_preflight.yml). Messages word for word as the roles showed them."""

from __future__ import annotations

import json
import os

from ansible_collections.opstack.conductor.plugins.filter.backup import FilterModule
from ansible_collections.opstack.conductor.plugins.module_utils import _backup as backups
from ansible_collections.opstack.conductor.plugins.plugin_utils import _backup_plans as plans
from ansible_collections.opstack.conductor.tests.support.nodes import loopback_spec, write_cluster

BACKUP_DIR_REQUIRED = ("backup_dir (conductor_backup_dir) is required with state_dir: the directory that gets the new "
                       "raft-backup-<UTC> folder")


def touch(path):
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(str(path), "wb"):
        pass


def test_node_directories_are_those_with_a_raft_database_but_not_kept_or_staging_ones(tmp_path):
    for name in ("n1/raft-log.db", "n2/raft-stable.db", "n3.12.2026~/raft-log.db", ".n4.staging/raft-log.db",
                 "other/notes.txt", "n5/snapshots/raft-log.db"):
        touch(tmp_path / "state" / name)
    os.symlink(str(tmp_path / "state" / "n1" / "raft-log.db"), str(tmp_path / "state" / "other" / "raft-log.db"))
    plan = plans.state_dir_backup_plan(str(tmp_path / "state"), str(tmp_path / "backups"))
    root = os.path.realpath(str(tmp_path / "state"))
    assert plan == {"state_dir": root, "backup_dir": os.path.realpath(str(tmp_path / "backups")),
                    "nodes": [root + "/n1", root + "/n2"], "problems": []}
    assert FilterModule().filters()["backup_state_dir_plan"] is plans.state_dir_backup_plan


def test_one_node_directory_is_its_own_node(tmp_path):
    touch(tmp_path / "n1" / "raft-log.db")
    plan = plans.state_dir_backup_plan(str(tmp_path / "n1"), str(tmp_path / "b"))
    assert plan["nodes"] == [os.path.realpath(str(tmp_path / "n1"))] and plan["problems"] == []


def test_the_backup_refusals_come_one_at_a_time_in_order(tmp_path):
    assert plans.state_dir_backup_plan("nowhere", "")["problems"] == [BACKUP_DIR_REQUIRED]
    assert plans.state_dir_backup_plan(str(tmp_path / "nowhere"), "b")["problems"] == [
        "state_dir=%s: no such directory" % (tmp_path / "nowhere")]
    (tmp_path / "empty").mkdir()
    assert plans.state_dir_backup_plan(str(tmp_path / "empty"), "b")["problems"] == [
        "state_dir=%s: no raft-log.db or raft-stable.db in it or in its subdirectories" % (tmp_path / "empty")]
    touch(tmp_path / "s" / "n1" / "raft-log.db")
    inside = str(tmp_path / "s" / "n1" / "backups")
    assert plans.state_dir_backup_plan(str(tmp_path / "s"), inside)["problems"] == [
        "backup_dir=%s is inside the node directory %s; keep backups outside the node directories"
        % (inside, os.path.realpath(str(tmp_path / "s" / "n1")))]
    beside = str(tmp_path / "s" / "n1-backups")
    assert plans.state_dir_backup_plan(str(tmp_path / "s"), beside)["problems"] == []


def backed_up_cluster(root, folder, ids=("n1", "n2"), term=1):
    """A generated cluster under root/<id> and a backup of each node in folder; returns the backup paths."""
    nodes = write_cluster(str(root), loopback_spec(ids, ids[0], term, ports=[57600 + i for i in range(len(ids))]))
    os.makedirs(str(folder), exist_ok=True)
    return [backups.make_backup(nodes[i], str(folder), backups.plan_backup(nodes[i]), online=False).path
            for i in ids]


def test_a_folder_lists_its_node_backups_with_their_manifest_positions(tmp_path):
    paths = backed_up_cluster(tmp_path / "state", tmp_path / "folder")
    os.makedirs(str(tmp_path / "folder" / "raft-backup-x.partial"))
    touch(tmp_path / "folder" / "raft-backup-x.partial" / "manifest.json")
    (tmp_path / "folder" / "cluster.json").write_text(json.dumps({"servers": [{"id": "n1"}]}))
    plan = plans.state_dir_restore_plan(str(tmp_path / "folder"), str(tmp_path / "state"), False)
    assert plan["problems"] == [] and plan["index"] == {} and plan["expected"] == [{"id": "n1"}]
    assert [node["path"] for node in plan["nodes"]] == sorted(paths)
    manifest = backups.read_manifest(paths[0])
    assert plan["nodes"][0] == {"path": paths[0], "server_id": "n1", "membership_hash": manifest["membership_hash"],
                                "current_term": manifest["current_term"], "last_index": manifest["position"]["index"],
                                "last_log_term": manifest["position"]["term"]}
    one = plans.state_dir_restore_plan(paths[1], str(tmp_path / "state"), False)
    assert [node["server_id"] for node in one["nodes"]] == ["n2"] and one["problems"] == []
    assert FilterModule().filters()["restore_state_dir_plan"] is plans.state_dir_restore_plan


def test_the_folder_parameter_refusals(tmp_path):
    assert plans.state_dir_restore_plan("", "s", False)["problems"] == [
        "backup_dir (conductor_backup_dir) is required with state_dir: the raft-backup-<UTC> folder to restore"]
    (tmp_path / "raft-backup-1.partial").mkdir()
    partial = str(tmp_path / "raft-backup-1.partial")
    assert plans.state_dir_restore_plan(partial, "s", False)["problems"] == [
        "backup_dir=%s is an unfinished backup folder (.partial): a backup run did not complete, it was never "
        "verified as a whole" % partial]
    assert plans.state_dir_restore_plan(str(tmp_path / "none"), "s", False)["problems"] == [
        "backup_dir=%s: no such directory" % (tmp_path / "none")]


def test_a_folder_must_hold_a_complete_backup_of_one_cluster(tmp_path):
    folder = tmp_path / "folder"
    folder.mkdir()
    assert plans.state_dir_restore_plan(str(folder), "s", False)["problems"] == [
        "Nothing was restored: backup_dir=%s holds no backup (no manifest.json in it or in its raft-backup-* "
        "directories)" % folder]
    backed_up_cluster(tmp_path / "a", folder)
    (folder / "backup.json").write_text(json.dumps({"nodes": [{"server_id": "n1"}, {"server_id": "n2"},
                                                              {"server_id": "n3"}]}))
    assert plans.state_dir_restore_plan(str(folder), "s", False)["problems"] == [
        "Nothing was restored: the folder is incomplete: backup.json lists n1, n2, n3, the folder holds n1, n2"]
    os.remove(str(folder / "backup.json"))
    backed_up_cluster(tmp_path / "b", folder, ids=("n3", "n4"), term=2)
    assert plans.state_dir_restore_plan(str(folder), "s", False)["problems"] == [
        "Nothing was restored: the node backups in %s have different memberships; set force=true to restore them "
        "anyway" % folder]
    assert plans.state_dir_restore_plan(str(folder), "s", True)["problems"] == []
    backed_up_cluster(tmp_path / "c", folder, ids=("n1",))
    assert plans.state_dir_restore_plan(str(folder), "s", True)["problems"] == [
        "Nothing was restored: backup_dir=%s holds several backups of the same server (n1, n1, n2, n3, n4); point it "
        "at one raft-backup-<UTC> folder" % folder]


def test_every_unusable_manifest_stops_the_restore_naming_it(tmp_path):
    paths = backed_up_cluster(tmp_path / "state", tmp_path / "folder", ids=("n1", "n2", "n3"))
    with open(os.path.join(paths[0], "manifest.json"), "a", encoding="utf-8") as handle:
        handle.write("garbage")
    manifest = backups.read_manifest(paths[2])
    with open(os.path.join(paths[2], "manifest.json"), "w", encoding="utf-8") as handle:
        json.dump(dict(manifest, server_id="n9"), handle)
    first, third = plans.state_dir_restore_plan(str(tmp_path / "folder"), "s", False)["problems"]
    assert first.startswith("Nothing was restored: %s: no readable manifest.json" % paths[0])
    assert third == ("Nothing was restored: %s: manifest.json does not match its digest; it was edited or damaged "
                     "after the backup was made" % paths[2])


def test_the_backup_records_index_each_backup_made_and_report_every_node(tmp_path):
    manifest = {"server_id": "n1", "current_term": 4, "last_index": 9, "position": {"term": 3, "index": 9},
                "cluster": {"id": "c1"}, "membership_hash": "h", "online": False}
    results = [{"item": "/s/n1", "backup_path": "/b/f.partial/raft-backup-1-n1-x", "manifest": manifest, "msg": "ok"},
               {"item": "/s/n2", "skipped": True}]
    records = FilterModule().filters()["backup_state_dir_records"](results, "/b/f")
    assert records["index"] == [{"server_id": "n1", "backup": "raft-backup-1-n1-x", "current_term": 4, "last_index": 9,
                                 "last_log_term": 3, "cluster": "c1", "membership_hash": "h", "online": False}]
    assert records["report"] == [
        {"host": "n1", "server_id": "n1", "path": "/b/f/raft-backup-1-n1-x", "current_term": 4, "last_index": 9,
         "last_log_term": 3, "cluster": "c1", "online": False, "stopped": False, "removed": [], "fetched": "",
         "msg": "ok"},
        {"host": "n2", "server_id": "n2", "path": "", "current_term": None, "last_index": None, "last_log_term": None,
         "cluster": None, "online": False, "stopped": False, "removed": [], "fetched": "", "msg": ""}]


def test_the_restore_records_name_each_node_and_say_whether_it_was_predicted():
    item = {"server_id": "n1", "path": "/f/b1", "last_log_term": 3, "last_index": 9}
    results = [{"item": item, "action": "restore", "backup_dir": "/s/n1.1.2~", "lost": {"count": 0}},
               {"item": dict(item, server_id="n2", path="/f/b2")}]
    records = FilterModule().filters()["restore_state_dir_records"](results, "/s", True)
    assert records == [
        {"host": "n1", "node_dir": "/s/n1", "backup": "/f/b1", "where": "the controller", "last_log_term": 3,
         "last_index": 9, "action": "restore", "previous": "/s/n1.1.2~", "overridden": [], "lost": {"count": 0},
         "caveats": [], "predicted": True},
        {"host": "n2", "node_dir": "/s/n2", "backup": "/f/b2", "where": "the controller", "last_log_term": 3,
         "last_index": 9, "action": "?", "previous": "", "overridden": [], "lost": {}, "caveats": [],
         "predicted": True}]
