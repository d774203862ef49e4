"""opstack.conductor.backup_choice (issue 14 item 1): raft_restore's choice of backup is _backup's ranking (last log
term, then last index, then the time made), not a Jinja sort; on a full tie the first place listed (the
controller) wins, and listings that did not run or failed add nothing."""

from ansible_collections.opstack.conductor.plugins.filter.backup import FilterModule, backup_choice, restore_plan


def report(path, term, index, created="20260101T000000Z", current_term=None, ok=True):
    manifest = {"server_id": "seq-a", "created_utc": created, "position": {"term": term, "index": index},
                "current_term": current_term if current_term is not None else term}
    return {"path": path, "ok": ok, "manifest": manifest, "position": {"term": term, "index": index} if ok else None}


def listing(*reports):
    return {"changed": False, "backups": list(reports)}


def test_the_newest_by_last_log_term_then_index_never_current_term_or_time():
    controller = listing(report("/c/old-term-long-log", 2, 900, created="20260301T000000Z", current_term=50),
                         report("/c/new-term", 3, 10, created="20260101T000000Z"))
    host = listing(report("/h/new-term-longer", 3, 11, created="20250101T000000Z"))
    chosen = backup_choice([["the controller", controller], ["the host", host]])
    assert (chosen["path"], chosen["where"], chosen["candidates"]) == ("/h/new-term-longer", "the host", 3)
    assert chosen["manifest"]["position"] == {"term": 3, "index": 11}


def test_the_time_made_breaks_a_tie_of_positions():
    chosen = backup_choice([["the host", listing(report("/h/a", 3, 10, created="20260102T000000Z"),
                                                 report("/h/b", 3, 10, created="20260101T000000Z"))]])
    assert chosen["path"] == "/h/a"


def test_on_a_full_tie_the_first_place_wins():
    same = report("/c/x", 3, 10)
    chosen = backup_choice([["the controller", listing(same)], ["the host", listing(dict(same, path="/h/x"))]])
    assert (chosen["path"], chosen["where"]) == ("/c/x", "the controller")
    chosen = backup_choice([["the host", listing(dict(same, path="/h/x"))], ["the controller", listing(same)]])
    assert chosen["where"] == "the host"


def test_skipped_failed_and_unreadable_listings_add_nothing():
    assert backup_choice([["the controller", {"skipped": True}], ["the host", {"failed": True, "msg": "x"}]]) == {}
    assert backup_choice([["the host", listing(report("/h/bad", 9, 9, ok=False))]]) == {}
    assert backup_choice([["the controller", None], ["the host", listing()]]) == {}


def test_the_filter_is_registered():
    assert FilterModule().filters()["backup_choice"] is backup_choice


SERVICE = {"manage": False, "name": "op-conductor", "stop_command": "", "start_command": ""}
CHOICE = {"path": "/b/raft-backup-x", "where": "the host", "candidates": 2,
          "manifest": {"position": {"term": 3, "index": 9}}}


def test_a_restore_plan_from_the_judgement():
    judged = {"action": "restore", "msg": "restore", "overridden": ["membership"], "caveats": ["c"],
              "lost": {"count": 2, "first": 8, "last": 9}}
    plan = restore_plan(CHOICE, "seq-a", "/n/seq-a", {"locked": False}, judged, False, SERVICE, False)
    assert plan == {"server_id": "seq-a", "node_dir": "/n/seq-a", "backup": "/b/raft-backup-x", "where": "the host",
                    "candidates": 2, "host_backup": "", "pushed": False, "last_log_term": 3, "last_index": 9,
                    "locked": False, "stop": False, "action": "restore", "reason": "restore",
                    "overridden": ["membership"], "caveats": ["c"], "lost": judged["lost"], "predicted": False,
                    "problems": []}


def test_a_running_node_needs_the_service_managed_and_both_commands_or_neither():
    judged = {"action": "restore"}
    plan = restore_plan(CHOICE, "seq-a", "/n/seq-a", {"locked": True}, judged, False, SERVICE, True)
    assert plan["problems"] == ["/n/seq-a: op-conductor is running (it holds the lock on its databases). Stop it, "
                                "or set conductor_service_manage=true to have it stopped for the restore"]
    managed = dict(SERVICE, manage=True, stop_command="stop it")
    plan = restore_plan(CHOICE, "seq-a", "/n/seq-a", {"locked": True}, judged, False, managed, True)
    assert plan["problems"] == ["set both conductor_service_stop_command and conductor_service_start_command, or "
                                "neither (systemd unit op-conductor)"]
    plan = restore_plan(CHOICE, "seq-a", "/n/seq-a", {"locked": True}, judged, False, dict(managed, start_command="go"),
                        True)
    assert plan["problems"] == [] and plan["stop"] and plan["predicted"]


def test_a_node_holding_the_backup_is_left_alone_and_a_refusal_is_a_problem():
    plan = restore_plan(CHOICE, "seq-a", "/n/seq-a", {"locked": True}, {"skipped": True}, True, SERVICE, False)
    assert (plan["action"], plan["stop"], plan["problems"]) == ("unchanged", False, [])
    refused = restore_plan(CHOICE, "seq-a", "/n/seq-a", {}, {"failed": True, "msg": "no"}, False, SERVICE, False)
    assert refused["problems"] == ["no"]
    old_manifest = dict(CHOICE, manifest={"last_log_term": 2, "last_index": 7})
    plan = restore_plan(old_manifest, "seq-a", "/n/seq-a", {}, {"action": "restore"}, False, SERVICE, False)
    assert (plan["last_log_term"], plan["last_index"]) == (2, 7)
