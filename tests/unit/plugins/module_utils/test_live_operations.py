"""Leadership transfers and membership changes against a fake op-conductor cluster, through the
``Endpoint(transport=...)`` seam: no Go, no sockets, no real time (a clock that only counts), milliseconds each.

The fake answers every ``conductor_*`` method a live module calls from one shared state (leader, membership,
version), the way op-conductor does: a membership change carries the version it was planned against and is refused
when the configuration moved on since; a leadership transfer is only accepted by the leader.
"""

import pytest

from ansible_collections.opstack.conductor.plugins.module_utils import _conductor_rpc as rpc
from ansible_collections.opstack.conductor.plugins.module_utils import _membership as membership
from ansible_collections.opstack.conductor.plugins.module_utils._errors import OpstackError
from ansible_collections.opstack.conductor.tests.support.live import (
    THREE, FakeClock, FakeCluster, mover, reconciler, refusal)


# --- leadership ---------------------------------------------------------------------------------------------


def test_transfer_moves_the_leader_and_reports_the_previous_one():
    cluster = FakeCluster(THREE, leader="a")
    move, warnings, _clock = mover(cluster, "b")
    result = move.run()
    assert result["changed"] and result["leader"]["id"] == "b" and result["previous_leader"]["id"] == "a"
    assert [t[0] for t in cluster.transfers()] == ["a"] and result["transfers"][0]["outcome"] == "accepted"
    assert result["diff"] == dict(before=dict(leader="a"), after=dict(leader="b")) and warnings == []


def test_transfer_that_times_out_is_polled_and_succeeds_when_the_leader_moves_later():
    cluster = FakeCluster(THREE, leader="a")

    def times_out_but_completes(target):
        cluster.later.append(lambda: setattr(cluster, "leader", target))
        raise RuntimeError("leadership transfer timeout")

    cluster.on_transfer = times_out_but_completes
    move, warnings, clock = mover(cluster, "b")
    result = move.run()
    assert result["changed"] and result["leader"]["id"] == "b"
    assert result["transfers"][0]["outcome"] == "error: conductor_transferLeaderToServer failed on " \
        "http://127.0.0.1:9545: leadership transfer timeout"
    assert "polling b anyway" in warnings[0] and clock.sleeps >= 1  # it polled before trusting anything
    assert len(cluster.transfers()) == 1


def test_transfer_that_times_out_and_never_completes_is_not_trusted():
    cluster = FakeCluster(THREE, leader="a")

    def times_out(target):
        raise RuntimeError("context deadline exceeded")

    cluster.on_transfer = times_out
    move, warnings, _clock = mover(cluster, "b", attempts=2)
    failed = refusal(move.run)
    assert "b did not become the leader every node agrees on within 20.0s (leader now: a" in failed.msg
    assert failed.result["previous_leader"]["id"] == "a" and len(failed.result["transfers"]) == 2
    assert len(cluster.transfers()) == 2 and cluster.leader == "a" and len(warnings) == 2


def test_transfer_error_that_is_not_a_timeout_is_recorded_and_retried():
    cluster = FakeCluster(THREE, leader="a")
    tries = []

    def refuses_once(target):
        tries.append(target)
        if len(tries) == 1:
            raise RuntimeError("cannot transfer: log replication in progress")
        cluster.leader = target

    cluster.on_transfer = refuses_once
    move, warnings, _clock = mover(cluster, "c")
    result = move.run()
    assert result["leader"]["id"] == "c" and [t["outcome"][:6] for t in result["transfers"]] == ["error:", "accept"]
    assert warnings == []


def test_transfer_to_a_node_that_is_not_a_voter_is_refused_before_anything_is_sent():
    cluster = FakeCluster([("a", "voter"), ("b", "voter"), ("c", "voter"), ("x", "nonvoter")], leader="a")
    move, _warnings, _clock = mover(cluster, "x")
    failed = refusal(move.run)
    assert "x is not a voter of the cluster (members: a(voter), b(voter), c(voter), x(nonvoter))" in failed.msg
    assert cluster.transfers() == [] and failed.result["previous_leader"]["id"] == "a"


def test_transfer_to_a_node_outside_the_nodes_option_is_refused():
    cluster = FakeCluster(THREE, leader="a")
    move, _warnings, _clock = mover(cluster, "z")
    assert "leader z is not one of nodes (a, b, c)" in refusal(move.run).msg and cluster.transfers() == []


def test_unreachable_node_stops_the_transfer_with_require_all_and_is_a_warning_without():
    cluster = FakeCluster(THREE, leader="a")
    cluster.down.add("c")
    move, _warnings, _clock = mover(cluster, "b")
    failed = refusal(move.run)
    assert failed.msg.startswith("cannot ensure the leader while nodes are unreachable: c (cannot reach")
    assert cluster.transfers() == []
    move, warnings, _clock = mover(cluster, "b", require_all=False)
    assert move.run()["leader"]["id"] == "b" and warnings[0].startswith("unreachable: c")


def test_target_that_stops_answering_during_the_transfer_is_reported_not_waited_for():
    cluster = FakeCluster(THREE, leader="a")

    def target_dies(target):
        cluster.down.add(target)
        raise RuntimeError("leadership transfer timeout")

    cluster.on_transfer = target_dies
    move, _warnings, clock = mover(cluster, "b", timeout=600.0)
    failed = refusal(move.run)
    assert "b stopped answering during the leadership transfer" in failed.msg
    assert clock.now < 60  # gave up after a few polls, not the whole timeout


def test_target_leads_but_another_node_stops_answering_fails_with_require_all():
    cluster = FakeCluster(THREE, leader="a")

    def moves_and_c_dies(target):
        cluster.leader = target
        cluster.down.add("c")

    cluster.on_transfer = moves_and_c_dies
    move, _warnings, clock = mover(cluster, "b", timeout=600.0)
    failed = refusal(move.run)
    assert failed.msg == ("b now leads and every reachable node agrees, but c stopped answering, so not every node "
                          "agrees (require_all)")
    assert failed.result["leader"]["id"] == "b" and clock.now < 60


def test_quorum_of_voters_must_answer_before_a_transfer():
    cluster = FakeCluster(THREE, leader="a")
    cluster.down.update(["b", "c"])
    move, _warnings, _clock = mover(cluster, "a", require_all=False)
    failed = refusal(move.run)
    assert "no leader that every node agrees on" in failed.msg or "only 1 of 3 voters answer" in failed.msg
    assert cluster.transfers() == []


def test_node_reporting_a_different_leader_means_no_agreed_leader():
    cluster = FakeCluster(THREE, leader="a")
    cluster.sees["c"] = "b"
    move, _warnings, clock = mover(cluster, "b", timeout=5.0)
    failed = refusal(move.run)
    assert failed.msg.startswith("no leader that every node agrees on within 5.0s (nodes disagree on the leader: ")
    assert "c -> b" in failed.msg and cluster.transfers() == [] and clock.now >= 5.0


def test_already_the_leader_and_check_mode_send_nothing():
    cluster = FakeCluster(THREE, leader="a")
    move, _warnings, _clock = mover(cluster, "a")
    result = move.run()
    assert not result["changed"] and result["plan"] is None and result["leader"]["id"] == "a"
    move, _warnings, _clock = mover(cluster, "b", check_mode=True)
    result = move.run()
    assert result["changed"] and result["plan"]["to"] == "b" and cluster.transfers() == []


def test_unhealthy_target_is_refused_unless_allowed():
    cluster = FakeCluster(THREE, leader="a")
    cluster.healthy["b"] = False
    move, _warnings, _clock = mover(cluster, "b")
    assert "b reports its sequencer unhealthy" in refusal(move.run).msg and cluster.transfers() == []
    move, _warnings, _clock = mover(cluster, "b", require_healthy=False)
    assert move.run()["leader"]["id"] == "b"


# --- membership ---------------------------------------------------------------------------------------------


def test_adding_a_voter_passes_the_membership_version():
    cluster = FakeCluster(THREE, leader="a")
    work, _warnings = reconciler(cluster, THREE + [("d", "voter")])
    result = work.run()
    assert cluster.sent == [("a", "conductor_addServerAsVoter", ["d", "10.0.1.100:50050", 10])]
    assert result["changed"] and result["applied"][0]["version"] == 10 and result["after"]["version"] == 11


def test_concurrent_change_between_plan_and_step_stops_before_anything_is_sent():
    cluster = FakeCluster(THREE, leader="a")
    work, _warnings = reconciler(cluster, THREE + [("d", "voter")])
    plan = work.simulate

    def plan_then_other_operator_removes_c(*args):
        planned = plan(*args)
        cluster.servers = [s for s in cluster.servers if s["id"] != "c"]
        cluster.version += 1
        return planned

    work.simulate = plan_then_other_operator_removes_c
    failed = refusal(work.run)
    assert failed.msg.startswith("the membership changed while this module worked (now: a 10.0.0.1:50050 voter, "
                                 "b 10.0.0.2:50050 voter; expected: a ")
    assert cluster.changes() == [] and failed.result["applied"] == [] and failed.result["now"]["version"] == 11


def test_concurrent_change_after_the_check_is_refused_by_the_version():
    cluster = FakeCluster(THREE, leader="a")

    def other_operator_first(method, params):
        cluster.on_change = None
        cluster.version += 1  # e.g. the same server re-added by another run: same list, newer configuration

    cluster.on_change = other_operator_first
    work, _warnings = reconciler(cluster, THREE + [("d", "voter")])
    failed = refusal(work.run)
    assert failed.msg == ("add_voter d failed on the leader a: conductor_addServerAsVoter failed on "
                          "http://127.0.0.1:9545: configuration changed since 10 (latest is 11)")
    assert failed.result["failed_step"]["id"] == "d" and failed.result["applied"] == []
    assert [s["id"] for s in cluster.servers] == ["a", "b", "c"]


def test_removing_a_voter_that_would_lose_quorum_is_refused_before_anything_is_sent():
    cluster = FakeCluster(THREE, leader="a")
    cluster.down.add("c")
    work, _warnings = reconciler(cluster, [("a", "voter"), ("c", "voter")])
    failed = refusal(work.run)
    assert failed.msg == ("refusing the membership change: remove b would lose quorum: 1 of the 2 voters after "
                          "the change are known to be up (a), a majority needs 2")
    assert failed.result["plan"] == [dict(op="remove", id="b", address="10.0.0.2:50050",
                                          reason="not in the desired list")]
    assert cluster.changes() == []


def test_removing_the_leader_without_a_transfer_is_refused():
    cluster = FakeCluster(THREE, leader="a")
    work, _warnings = reconciler(cluster, [("b", "voter"), ("c", "voter")])
    failed = refusal(work.run)
    assert failed.msg.startswith("refusing to remove a: it is the current leader; transfer leadership first")
    assert cluster.sent == []


def test_removing_the_leader_with_a_transfer_moves_leadership_first():
    cluster = FakeCluster(THREE, leader="a")
    work, _warnings = reconciler(cluster, [("b", "voter"), ("c", "voter")], transfer_leadership=True)
    result = work.run()
    assert [s["op"] for s in result["plan"]] == ["transfer_leader", "remove"]
    assert cluster.sent == [("a", "conductor_transferLeaderToServer", ["b", "10.0.0.2:50050"]),
                            ("b", "conductor_removeServer", ["a", 10])]
    assert result["leader"] == "b" and [s["id"] for s in result["after"]["servers"]] == ["b", "c"]


def test_removing_the_leader_when_no_other_voter_is_up_is_refused():
    cluster = FakeCluster(THREE + [("x", "nonvoter")], leader="a")
    cluster.down.update(["b", "c"])
    work, _warnings = reconciler(cluster, [("b", "voter"), ("c", "voter"), ("x", "nonvoter")],
                                 transfer_leadership=True)
    failed = refusal(work.run)
    assert failed.msg == "refusing to remove the leader a: no other voter of servers is up to take over"
    assert cluster.sent == []


def test_transfer_to_a_preferred_leader_that_is_not_a_voter_is_refused():
    cluster = FakeCluster(THREE + [("x", "nonvoter")], leader="a")
    work, _warnings = reconciler(cluster, [("b", "voter"), ("c", "voter"), ("x", "nonvoter")],
                                 transfer_leadership=True, preferred_leader="x")
    failed = refusal(work.run)
    assert failed.msg == ("refusing to remove the leader a: no other voter of servers is up to take over "
                          "(preferred_leader x is not an up voter)")
    assert cluster.sent == []


def test_leader_transfer_that_times_out_during_membership_is_polled():
    cluster = FakeCluster(THREE, leader="a")

    def times_out_but_completes(target):
        cluster.later.append(lambda: setattr(cluster, "leader", target))
        raise RuntimeError("i/o timeout")

    cluster.on_transfer = times_out_but_completes
    work, warnings = reconciler(cluster, [("b", "voter"), ("c", "voter")], transfer_leadership=True)
    result = work.run()
    assert result["leader"] == "b" and "polling anyway" in warnings[0]
    assert cluster.changes() == [("conductor_removeServer", "a")]


def test_leader_transfer_that_never_completes_removes_nothing():
    cluster = FakeCluster(THREE, leader="a")

    def times_out(target):
        raise RuntimeError("leadership transfer timeout")

    cluster.on_transfer = times_out
    work, _warnings = reconciler(cluster, [("b", "voter"), ("c", "voter")], transfer_leadership=True)
    failed = refusal(work.run)
    assert failed.msg == "leadership did not move to b within 10.0s; nothing removed"
    assert cluster.changes() == [] and cluster.leader == "a"


def test_a_voter_wanted_as_nonvoter_is_demoted_not_added_again():
    cluster = FakeCluster(THREE + [("d", "voter")], leader="a")
    work, _warnings = reconciler(cluster, THREE + [("d", "nonvoter")])
    result = work.run()
    assert [(s["op"], s["id"]) for s in result["plan"]] == [("demote", "d")]
    assert cluster.changes() == [("conductor_demoteVoter", "d")]
    assert [s["suffrage"] for s in result["after"]["servers"] if s["id"] == "d"] == ["nonvoter"]
    # hashicorp/raft: AddNonvoter leaves an existing voter a voter, so it is never the step for this
    step = dict(op="add_nonvoter", id="d", address="10.0.0.4:50050")
    assert [s["suffrage"] for s in membership.apply_step(work.before["servers"], step) if s["id"] == "d"] == \
        ["voter"]


def test_unreachable_follower_does_not_block_a_safe_change_but_an_unreachable_leader_does():
    cluster = FakeCluster(THREE, leader="a")
    cluster.down.add("c")
    work, _warnings = reconciler(cluster, THREE + [("d", "nonvoter")])
    assert work.run()["applied"][0]["op"] == "add_nonvoter"
    cluster = FakeCluster(THREE, leader="a")
    cluster.down.add("a")
    work, _warnings = reconciler(cluster, THREE + [("d", "nonvoter")])
    failed = refusal(work.run)
    assert failed.msg.startswith("no leader that every reachable node agrees on within 10.0s (a: cannot reach")
    assert cluster.sent == []


def test_node_reporting_a_different_leader_stops_a_membership_change():
    cluster = FakeCluster(THREE, leader="a")
    cluster.sees["b"] = "c"
    work, _warnings = reconciler(cluster, THREE + [("d", "voter")])
    failed = refusal(work.run)
    assert failed.msg == ("no leader that every reachable node agrees on within 10.0s (a: leader=a; b: leader=c; "
                          "c: leader=a)")
    assert cluster.sent == []


def test_check_mode_plans_and_sends_nothing():
    cluster = FakeCluster(THREE, leader="a")
    work, _warnings = reconciler(cluster, [("a", "voter"), ("b", "voter"), ("d", "voter")], check_mode=True)
    result = work.run()
    assert [(s["op"], s["id"]) for s in result["plan"]] == [("add_voter", "d"), ("remove", "c")]
    assert result["changed"] and result["after"]["version"] is None and cluster.sent == []


def test_servers_are_validated_before_any_rpc():
    cluster = FakeCluster(THREE, leader="a")
    options = dict(servers=[dict(id="a", address="10.0.0.1:50050"), dict(id="b", address="10.0.0.2:0080")],
                   transfer_leadership=False, preferred_leader=None, timeout=10.0, poll_interval=1.0)
    calls = []
    conductors = cluster.conductors(["a", "b", "c"])
    for conductor in conductors.values():
        conductor.rpc._transport = lambda url, body, timeout: calls.append(body)
    with pytest.raises(OpstackError) as exc:
        membership.Reconciler(conductors, options, clock=FakeClock(cluster)).run()
    assert str(exc.value).startswith("servers[1].address='10.0.0.2:0080': port must be a number")
    assert calls == []


def test_conductor_control_pauses_followers_first_and_reads_every_node_back():
    from types import SimpleNamespace

    from ansible_collections.opstack.conductor.plugins.modules import conductor_control

    cluster = FakeCluster(THREE, leader="b")
    cluster.paused["c"] = True
    module = SimpleNamespace(params=dict(paused=True, override_leader=None, order="followers_first"),
                             check_mode=False)
    partial = {}
    result = conductor_control.ensure(module, cluster.conductors(["a", "b", "c"]), partial)
    assert cluster.sent == [("a", "conductor_pause", []), ("b", "conductor_pause", [])]
    assert result["changed_nodes"] == ["a", "b"] and result["nodes"]["c"]["calls"] == []
    assert all(node["after"] == {"paused": True} for node in result["nodes"].values())
    assert result["diff"]["after"] == "a {'paused': True}\nb {'paused': True}\nc {'paused': True}\n"
    cluster.missing.add("conductor_resume")
    module.params["paused"] = False
    with pytest.raises(rpc.Failure) as exc:
        conductor_control.ensure(module, cluster.conductors(["a", "b", "c"]), {})
    assert exc.value.msg.startswith("conductor_resume on a failed: http://127.0.0.1:9545 does not have")
    assert exc.value.result["changed"] is False and exc.value.result["changed_nodes"] == []
