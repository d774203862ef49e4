"""opstack.conductor.recovery_plan (issue 16 item 3): the registered Ansible results mapped to the rules of
module_utils._recovery_plan and the plan back to plain data (what the recover role formats)."""

from ansible_collections.opstack.conductor.plugins.filter.recovery import (FilterModule, node_report, op_node_head,
                                                                           recovery_plan, recovery_request)

MEMBERS = [{"host": h, "id": "seq-" + h, "address": "10.0.0.%d:50050" % i, "suffrage": "voter"}
           for i, h in enumerate(["a", "b", "c"], 1)]


def info(term=5, index=40, block=100, **kw):
    result = {"changed": False, "exists": True, "locked": False, "current_term": term, "last_vote_term": term,
              "last_log_term": term, "last_index": index, "snapshots": [], "integrity": {"ok": True, "problems": []},
              "fsm_head": {"block_number": block, "block_hash": "0x%02x" % block, "index": index, "term": term,
                           "source": "log"} if block is not None else None}
    result.update(kw)
    return result


def sync(number, status=200):
    return {"status": status, "json": {"jsonrpc": "2.0", "id": 1,
                                       "result": {"unsafe_l2": {"number": number, "hash": "0x%02x" % number}}}}


def hostvars(infos, syncs):
    return {h: {"__conductor_recover_info": i, "__conductor_recover_sync": s}
            for h, i, s in zip(["a", "b", "c"], infos, syncs)}


def test_registered_as_filters():
    assert FilterModule().filters() == {"recovery_plan": recovery_plan, "recovery_request": recovery_request}


def test_the_request_is_checked_alone_before_anything_runs():
    assert recovery_request("seq", "seq", "all") == []
    assert len(recovery_request("seq", "", "survivors")) == 2


def test_the_request_and_the_plan_are_confirmed_per_cluster():
    """Issue 19: the play's group confirms every cluster of it; a comma-separated list the clusters it names."""
    assert recovery_request("seq", "seq", "survivor", cluster="op_b") == []
    assert recovery_request("seq", "op_a,op_b", "survivor", cluster="op_b") == []
    refused = recovery_request("seq", "op_a", "survivor", cluster="op_b")
    assert len(refused) == 1 and "cluster op_b is not confirmed" in refused[0]
    hv = hostvars([info(), info(), info()], [sync(100)] * 3)
    assert recovery_plan(hv, MEMBERS, "seq", confirm="op_b", mode="survivor", cluster="op_b")["ok"]
    plan = recovery_plan(hv, MEMBERS, "seq", confirm="op_a", mode="survivor", cluster="op_b")
    assert not plan["ok"] and "cluster op_b is not confirmed" in plan["problems"][0]


def test_the_request_is_refused_while_a_conductor_leads():
    live = {"failed": False, "cluster": {"leaders_claimed": ["seq-b"], "unreachable": ["seq-a"]}}
    problems = recovery_request("seq", "seq", "survivor", live=live)
    assert len(problems) == 1 and "seq-b leads the cluster now" in problems[0]
    assert recovery_request("seq", "seq", "survivor", live=live, force=True) == []
    assert recovery_request("seq", "seq", "survivor", live={"failed": True, "msg": "every node unreachable"}) == []


def test_survivor_plan_with_its_one_voter_configuration():
    hv = hostvars([info(), info(index=41, block=101), {"failed": False, "exists": False, "locked": False}],
                  [sync(100), sync(101), sync(101)])
    plan = recovery_plan(hv, MEMBERS, "seq", confirm="seq", mode="survivor")
    assert plan["ok"] and plan["problems"] == []
    assert plan["survivor"]["host"] == "b" and plan["survivor"]["head"]["block_number"] == 101
    assert plan["survivor"]["position"] == {"term": 5, "index": 41}
    assert plan["servers"] == [{"id": "seq-b", "address": "10.0.0.2:50050", "suffrage": "voter"}]
    assert plan["actions"] == {"a": "wipe", "b": "recover", "c": "wipe"}
    assert (plan["leader_host"], plan["leader_id"]) == ("b", "seq-b")
    assert plan["highest_op_node"] == {"host": "b", "number": 101, "hash": "0x65"}


def test_all_mode_recovers_every_usable_node_to_the_inventory():
    hv = hostvars([info(), info(index=41), info(block=None)], [sync(100)] * 3)
    plan = recovery_plan(hv, MEMBERS, "seq", confirm="seq", mode="all")
    assert plan["actions"] == {"a": "recover", "b": "recover", "c": "wipe"}
    assert [s["id"] for s in plan["servers"]] == ["seq-a", "seq-b", "seq-c"]


def test_reseed_leads_with_the_highest_op_node():
    hv = hostvars([info(term=3), info(term=7), info(term=2)], [sync(10), sync(12), sync(11)])
    plan = recovery_plan(hv, MEMBERS, "seq", confirm="seq", mode="reseed")
    assert plan["ok"] and plan["reseed_term"] == 8 and plan["leader_host"] == "b" and plan["survivor"] is None


def test_a_refused_plan_has_no_servers_and_no_leader():
    hv = hostvars([info(locked=True), info(), info()], [sync(100)] * 3)
    plan = recovery_plan(hv, MEMBERS, "seq", confirm="other", mode="survivor")
    assert not plan["ok"] and len(plan["problems"]) == 2 and plan["servers"] == [] and plan["leader_host"] is None


def test_head_far_ahead_refused_then_forced():
    hv = hostvars([info(block=100), info(), info()], [sync(90), sync(97), {"failed": True, "msg": "refused"}])
    refused = recovery_plan(hv, MEMBERS, "seq", confirm="seq", mode="survivor")
    assert not refused["ok"] and "3 blocks ahead" in refused["problems"][0]
    forced = recovery_plan(hv, MEMBERS, "seq", confirm="seq", mode="survivor", force=True)
    assert forced["ok"] and forced["warnings"][0].endswith("; forced")
    assert forced["op_node_heads"][2] == {"host": "c", "number": None, "hash": "", "error": "refused"}


def test_node_report_from_a_failed_or_missing_info():
    member = MEMBERS[0]
    failed = node_report(member, {"failed": True, "msg": "Permission denied"})
    assert not failed.readable and failed.error == "Permission denied"
    assert not node_report(member, None).readable
    absent = node_report(member, {"skipped": True, "changed": False, "false_condition": "stat.exists"})
    assert absent.readable and not absent.exists and not absent.usable


def test_node_report_keeps_only_usable_snapshots_and_reads_damage():
    snaps = [{"term": 9, "index": 50, "crc_ok": False, "problem": "CRC"}, {"term": 6, "index": 45, "crc_ok": True,
                                                                           "problem": None}]
    report = node_report(MEMBERS[0], info(snapshots=snaps, integrity={"ok": False, "problems": ["x"]}))
    assert report.snapshots == ((6, 45),) and report.damaged and not report.usable


def test_a_head_raft_cannot_replay_is_never_the_survivor():
    # raft_state_info: fsm_error when raft itself cannot replay the files (the head is unknown)
    report = node_report(MEMBERS[0], info(fsm_head=None, fsm_error="snapshot 5-40-1 does not restore"))
    assert report.damaged and not report.usable
    hv = hostvars([info(index=99, fsm_error="gap in the log"), info(), info(block=None)], [sync(100)] * 3)
    plan = recovery_plan(hv, MEMBERS, "seq", confirm="seq", mode="survivor")
    assert plan["survivor"]["host"] == "b" and plan["actions"] == {"a": "wipe", "b": "recover", "c": "wipe"}


def test_op_node_head_from_uri_results():
    assert op_node_head("a", sync(7)).number == 7
    assert op_node_head("a", sync(7, status=503)).error == "HTTP status 503"
    assert op_node_head("a", {"status": 200, "json": {"error": {"code": -32601}}}).number is None
    assert op_node_head("a", {"status": 200, "json": {"result": {"unsafe_l2": {"number": True}}}}).number is None
    assert op_node_head("a", None).error == "not asked"
