"""raft_info's report (issue 13 item 4): nodes that disagree with each other (membership, seed term, cluster
identity) are flagged, not only nodes that drift from the expected membership. Judged by the filter
opstack.conductor.raft_info_report (issue 14 item 1: it was Jinja in report.json.j2) and laid out by the fleet
view's table (opstack.conductor.fleet_table, issue 19 item 3), on result dicts shaped as raft_state_info returns them."""

from ansible_collections.opstack.conductor.plugins.filter.fleet import fleet_info_records, fleet_table
from ansible_collections.opstack.conductor.plugins.filter.raft_info import raft_info_report, state_dir_inputs

SERVERS = [{"id": name, "address": "%s:50050" % name, "suffrage": "voter"} for name in ("a", "b", "c")]


def node(host, term=1, index=1, servers=SERVERS, identity=None, in_sync=True):
    result = {"exists": True, "current_term": term, "last_vote_candidate": None, "last_index": index,
              "locked": False, "integrity": {"ok": True, "checked": True, "problems": []},
              "latest_configuration": {"index": index, "term": term, "source": "log", "servers": servers},
              "drift": {"in_sync": in_sync}}
    if identity:
        result["cluster_identity"] = {"id": identity}
    return {"host": host, "server_id": host, "path": "/raft/" + host, "status": "checked", "result": result}


def report(*inputs):
    # The role's report task: the verdict, then the fleet view's records and table (issue 19 item 3; the table was
    # report.json.j2 before, and gained the CLUSTER column).
    judged = raft_info_report(list(inputs))
    records = fleet_info_records(list(inputs), judged, "sequencers")
    return dict(judged, lines=fleet_table(records, judged["details"] + judged["cluster_details"]))


def members(out):
    return {row["host"]: row["members"] for row in out["rows"]}


def test_an_agreeing_cluster_is_in_sync():
    out = report(node("a"), node("b"), node("c"))
    assert out["drifted"] == [] and out["cluster_details"] == [] and set(members(out).values()) == {"in sync"}


def test_a_node_seeded_at_another_term_is_flagged():
    out = report(node("a", term=2), node("b", term=2), node("c", term=1))
    assert out["drifted"] == ["c"] and members(out) == {"a": "in sync", "b": "in sync", "c": "DISAGREES"}
    assert out["cluster_details"] == ["cluster: the nodes disagree on the initial term (a, b: 2; c: 1)"]
    assert "c: differs from the other nodes in its initial term" in out["drift_details"]


def test_a_tie_flags_every_node_and_run_nodes_compare_by_identity():
    tie = report(node("a", term=1), node("b", term=2))
    assert tie["drifted"] == ["a", "b"]
    # Nodes that have run (configuration past index 1) carry no seed term to compare: the identity decides.
    ran = report(node("a", term=4, index=9, identity="x1"), node("b", term=4, index=9, identity="x1"),
                 node("c", term=4, index=9, identity="x2"))
    assert ran["drifted"] == ["c"] and "cluster identity (a, b: x1; c: x2)" in ran["cluster_details"][0]


def test_the_node_holding_the_expected_membership_is_not_blamed_for_it():
    other = [dict(server, address=server["address"].replace("50050", "60060")) for server in SERVERS]
    out = report(node("a", servers=other, in_sync=False), node("b", servers=other, in_sync=False), node("c"))
    assert members(out) == {"a": "DRIFT", "b": "DRIFT", "c": "in sync"}
    assert out["cluster_details"][0].startswith("cluster: the nodes disagree on the membership")


def test_rows_of_nodes_not_checked_absent_unreadable_or_corrupt():
    unreadable = dict(node("b"), result={"failed": True, "msg": "permission denied"})
    corrupt = node("c")
    corrupt["result"]["integrity"] = {"ok": False, "checked": True, "problems": ["page 3: bad checksum"]}
    out = report(dict(node("a"), status="not_checked"), unreadable, corrupt, dict(node("d"), status="absent"))
    assert [(row["integrity"], row["members"]) for row in out["rows"]] == [
        ("not checked", "not checked"), ("ERROR", "-"), ("CORRUPT", "in sync"), ("absent", "NO STATE")]
    assert out["corrupt"] == ["b", "c"] and out["drifted"] == ["d"]
    assert out["corrupt_details"] == ["b: could not read /raft/b: permission denied",
                                      "c: corrupt: page 3: bad checksum"]
    assert out["drift_details"] == ["d: no Raft state at /raft/d"]
    assert out["lines"][0].split() == ["CLUSTER", "HOST", "SERVER", "ID", "TERM", "VOTE", "LAST", "INDEX", "HEAD", "MEMBERS",
                                       "INTEGRITY", "RUNNING"]
    assert out["lines"][-4:] == ["", "b: could not read /raft/b: permission denied",
                                 "c: corrupt: page 3: bad checksum", "d: no Raft state at /raft/d"]


def test_drift_from_the_expected_membership_is_spelled_out():
    drift = {"in_sync": False, "missing": ["d"], "extra": ["c"], "notes": ["one more thing"],
             "changed": [{"id": "b", "actual": {"address": "b:1", "suffrage": "voter"},
                          "expected": {"address": "b:2", "suffrage": "nonvoter"}}]}
    out = report(node("a"), dict(node("b"), drift=drift))
    assert members(out) == {"a": "in sync", "b": "DRIFT"}
    assert out["drift_details"] == ["b: members drifted: missing d; extra c; b is b:1 (voter), expected b:2 "
                                    "(nonvoter); one more thing"]


def directory(name, servers=SERVERS, drift=None, failed=False):
    result = {"item": "/state/" + name, "latest_configuration": {"index": 1, "term": 1, "servers": servers}}
    if drift is not None:
        result["drift"] = drift
    if failed:
        result["failed"] = True
    return result


def test_state_dir_nodes_are_judged_against_the_majority_without_an_expected_membership():
    other = SERVERS[:2]
    inputs = state_dir_inputs([directory("a"), directory("b"), directory("c", servers=other)], False, "localhost")
    assert [(i["server_id"], i["status"], i["drift"]) for i in inputs] == [
        ("a", "checked", {"in_sync": True, "notes": []}), ("b", "checked", {"in_sync": True, "notes": []}),
        ("c", "checked", {"in_sync": False, "notes": ["configuration (a, b) differs from the one most nodes have",
                                                      "directory name 'c' is not a server ID of its configuration "
                                                      "(a, b)"]})]


def test_state_dir_nodes_with_an_expected_membership_keep_their_own_drift():
    inputs = state_dir_inputs([directory("a", drift={"in_sync": True}), directory("x", drift={"in_sync": True}),
                               directory("b", failed=True)], True, "localhost")
    assert inputs[0]["drift"] == {"in_sync": True} and inputs[2]["status"] == "error"
    assert inputs[1]["drift"] == {"in_sync": False, "notes": [
        "directory name 'x' is not a server ID of its configuration (a, b, c)"]}


def test_a_node_holding_the_expected_membership_is_not_outvoted_by_drifted_nodes_on_identity():
    out = report(node("a", identity="x", in_sync=False), node("b", identity="x", in_sync=False),
                 node("c", identity="y"))
    assert members(out) == {"a": "DRIFT", "b": "DRIFT", "c": "in sync"}
    assert out["drifted"] == ["a", "b"]
    assert "cluster: the nodes disagree on the cluster identity (c: y; a, b: x)" in out["cluster_details"]


def test_nodes_holding_the_expected_membership_still_disagree_on_identity():
    out = report(node("a", identity="x"), node("b", identity="x"), node("c", identity="y"))
    assert members(out) == {"a": "in sync", "b": "in sync", "c": "DISAGREES"} and out["drifted"] == ["c"]


def test_the_head_column_shows_the_fsm_head_block_and_short_hash():
    """Issue 16 item 1: HEAD is op-conductor's FSM head (raft_state_info's fsm_head): block number and the start of
    its hash; empty for an empty FSM, UNKNOWN when raft cannot replay the files, - when not read."""
    head = node("a")
    head["result"]["fsm_head"] = {"block_number": 1234567, "block_hash": "0x5e1f0a2b" + "7" * 56, "index": 40,
                                  "term": 3, "source": "log"}
    empty, unknown, older = node("b"), node("c"), node("d")
    empty["result"]["fsm_head"] = None
    unknown["result"].update(fsm_head=None, fsm_error="snapshot 3-20-1: CRC mismatch in state.bin")
    out = report(head, empty, unknown, older, dict(node("e"), status="absent"))
    assert [row["head"] for row in out["rows"]] == ["1234567 0x5e1f0a2b", "empty", "UNKNOWN", "-", "-"]
    header, rule, first = out["lines"][:3]
    assert header.index("HEAD") == first.index("1234567") and header.index("HEAD") > header.index("LAST INDEX")
    assert rule.split()[6] == "-" * len("1234567 0x5e1f0a2b")  # the seventh column is as wide as its widest cell
    assert out["corrupt"] == [] and out["drifted"] == ["e"]  # the head column judges nothing
