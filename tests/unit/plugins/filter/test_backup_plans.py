"""plugins/plugin_utils/_backup_plans.py (issue 14 item 1, issue 15 item 2): the backup role's plan (was
plan.json.j2), where the restore role looked (was looked.j2), the problems of every host at once, and the records
the report tasks show (were a set_fact per host)."""

from ansible_collections.opstack.conductor.plugins.filter.backup import FilterModule
from ansible_collections.opstack.conductor.plugins.plugin_utils import _backup_plans as plans

SERVICE = {"manage": False, "name": "op-conductor", "stop_command": "", "start_command": ""}
SETTINGS = {"online": False, "keep": 0, "fetch": False, "fetch_dir": "", "service": SERVICE}


def test_a_running_node_is_refused_unless_it_may_be_stopped_or_copied_online():
    running = {"locked": True, "changed": True}
    plan = plans.backup_plan(running, "a", "/n/a", "/b", SETTINGS)
    assert plan["problems"] == ["/n/a: op-conductor is running (it holds the lock on its databases). Set "
                                "conductor_service_manage=true to stop it for the backup and start it again, one "
                                "node at a time, or conductor_backup_online=true for a verified best-effort copy "
                                "while it runs"] and not plan["stop"]
    managed = plans.backup_plan(running, "a", "/n/a", "/b", dict(SETTINGS, service=dict(SERVICE, manage=True)))
    assert (managed["problems"], managed["stop"], managed["locked"]) == ([], True, True)
    online = plans.backup_plan(running, "a", "/n/a", "/b", dict(SETTINGS, online=True, service=dict(SERVICE, manage=True)))
    assert (online["problems"], online["stop"]) == ([], False)
    failed = plans.backup_plan({"failed": True, "msg": "unreadable", "locked": None}, "a", "/n/a", "/b", SETTINGS)
    assert failed["problems"] == ["unreadable"]


def test_where_the_restore_looked_names_each_place_and_why_what_was_there_is_unusable():
    places = [["the controller", "/c/a", {"failed": True, "msg": "/c/a does not exist"}],
              ["the host", "/h/b", {"backups": [{"ok": False, "problems": ["bad digest", "more"]}, {"ok": True}]}],
              ["the host", "", None]]
    assert plans.looked(places) == "in /c/a on the controller nor in /h/b on the host (/c/a does not exist; bad digest)"


def hostvars(**hosts):
    return hosts


def test_every_hosts_problems_at_once_and_an_unchecked_host_says_so():
    hv = hostvars(a={"k": {"plan": {"problems": ["x", "y"]}}}, b={"k": {"plan": {"problems": []}}}, c={})
    assert plans.play_problems(hv, ["a", "b", "c"], "k") == ["host a: x", "host a: y", "host c: no result"]
    assert FilterModule().filters()["backup_play_problems"] is plans.play_problems


def test_backup_records_from_the_registered_results():
    check = {"plan": {"server_id": "a", "stop": True, "problems": []}}
    made = {"backup_path": "/b/x", "removed": ["/b/old"], "msg": "backed up a to /b/x",
            "manifest": {"current_term": 4, "position": {"term": 3, "index": 9}, "cluster": {"id": "c1"}, "online": False}}
    hv = hostvars(a={"conductor_backup_result": made, "__conductor_backup_check": check,
                     "__conductor_backup_fetch": {"fetched": "/c/a/x"}},
                  b={"conductor_backup_result": {"failed": True}, "__conductor_backup_check": check},
                  localhost={"__conductor_backup_done": [{"host": "n1"}]})
    assert plans.play_records(hv, ["a", "b", "localhost"], "backup") == [
        {"host": "a", "server_id": "a", "path": "/b/x", "current_term": 4, "last_log_term": 3, "last_index": 9,
         "cluster": "c1", "online": False, "stopped": True, "removed": ["/b/old"], "fetched": "/c/a/x",
         "msg": "backed up a to /b/x"}, {"host": "n1"}]


def test_restore_records_take_the_result_where_the_restore_ran_and_the_plan_where_it_was_predicted():
    plan = {"node_dir": "/n/a", "backup": "/c/x", "where": "the controller", "last_log_term": 3, "last_index": 9,
            "candidates": 2, "action": "restore", "overridden": [], "lost": {"count": 0}, "caveats": []}
    ran = {"action": "restore", "overridden": ["older"], "lost": {"count": 2}, "caveats": ["c"], "backup_dir": "/n/a.1~"}
    hv = hostvars(a={"conductor_restore_result": ran, "__conductor_restore_staged": {"plan": plan}},
                  b={"conductor_restore_result": {"skipped": True}, "__conductor_restore_staged": {"plan": plan}},
                  c={"conductor_restore_result": {"skipped": True},
                     "__conductor_restore_staged": {"plan": dict(plan, action="unchanged")}})
    a, b, c = plans.play_records(hv, ["a", "b", "c"], "restore")
    assert (a["overridden"], a["lost"], a["previous"], a["predicted"]) == (["older"], {"count": 2}, "/n/a.1~", False)
    assert (b["action"], b["previous"], b["predicted"]) == ("restore", "", True)
    assert (c["action"], c["predicted"], c["host"], c["candidates"]) == ("unchanged", False, "c", 2)


def test_records_of_the_one_task_fetch_and_of_a_node_whose_restore_tasks_were_not_included():
    """Issue 15: the backup task fetches itself when op-conductor was not stopped (its result says fetched, the
    fetch task is skipped); the restore playbook does not include the restore tasks of a node that already holds
    its backup (no conductor_restore_result at all), which is still reported unchanged. A node to restore whose
    tasks never ran (its batch never came) is not reported."""
    check = {"plan": {"server_id": "a", "stop": False, "problems": []}}
    made = {"backup_path": "/b/x", "fetched": "/c/a/x", "manifest": {}}
    hv = hostvars(a={"conductor_backup_result": made, "__conductor_backup_check": check,
                     "__conductor_backup_fetch": {"skipped": True}})
    assert plans.play_records(hv, ["a"], "backup")[0]["fetched"] == "/c/a/x"
    plan = {"node_dir": "/n/a", "backup": "/c/x", "where": "the controller", "last_log_term": 3, "last_index": 9,
            "candidates": 1, "action": "unchanged", "overridden": [], "lost": {"count": 0}, "caveats": []}
    hv = hostvars(a={"__conductor_restore_staged": {"plan": plan}},
                  b={"__conductor_restore_staged": {"plan": dict(plan, action="restore")}})
    (a,) = plans.play_records(hv, ["a", "b"], "restore")
    assert (a["host"], a["action"], a["predicted"], a["previous"]) == ("a", "unchanged", False, "")


MEMBERS = [{"host": h, "suffrage": "voter"} for h in ("a", "b", "c")] + [{"host": "d", "suffrage": "nonvoter"}]


def planned(stop=False, locked=True):
    return {"__conductor_backup_check": {"plan": {"stop": stop, "locked": locked, "problems": []}}}


def test_stopping_voters_keeps_a_quorum_counting_the_voters_that_are_down_already():
    hv = hostvars(a=planned(stop=True), b=planned(stop=True), c=planned(), d=planned(stop=True))
    assert plans.quorum_problems(hv, ["a"], ["a", "b", "c", "d"], MEMBERS, True) == []  # one of three voters
    assert plans.quorum_problems(hv, ["d"], ["a", "b", "c", "d"], MEMBERS, True) == []  # not a voter
    assert plans.quorum_problems(hv, ["a", "b"], ["a", "b", "c", "d"], MEMBERS, True) == [
        "Nothing was stopped: stopping op-conductor on a, b at once would leave fewer than a quorum of the 3 voters "
        "running (the cluster can lose 1). Back up one node at a time (serial 1, the default of the backup "
        "playbook), start the stopped nodes first, or set conductor_service_keep_quorum=false."]
    assert plans.quorum_problems(hv, ["a", "b"], ["a", "b", "c", "d"], MEMBERS, False) == []
    hv["c"] = planned(locked=False)  # c is down already: stopping a alone loses the quorum
    (problem,) = plans.quorum_problems(hv, ["a"], ["a", "b", "c", "d"], MEMBERS, True)
    assert problem.startswith("Nothing was stopped: stopping op-conductor on a at once, with c not running already, "
                              "would leave fewer than a quorum of the 3 voters")
    hv["c"] = {}  # a host without a plan counts as running, as before
    assert plans.quorum_problems(hv, ["a"], ["a", "b", "c", "d"], MEMBERS, True) == []


def test_the_backup_play_goes_one_node_at_a_time_only_where_op_conductor_is_stopped():
    """Issue 15: serial 1 kept one node down at most, and was also paid where nothing is stopped (7 hosts: seven
    batches one after the other)."""
    assert plans.backup_batch_size(hostvars(a=planned(), b=planned(), c={}), ["a", "b", "c"]) == "100%"
    assert plans.backup_batch_size(hostvars(a=planned(), b=planned(stop=True)), ["a", "b"]) == 1
    assert plans.backup_batch_size(hostvars(a=planned(), b=planned(stop=True)), ["a"]) == "100%"  # b not in the play
    assert plans.backup_batch_size(hostvars(a=planned(stop=True)), ["a"], "100%") == "100%"  # the operator chose
    assert plans.backup_batch_size(hostvars(a=planned()), ["a"], 2) == 2
    assert FilterModule().filters()["backup_batch_size"] is plans.backup_batch_size
