"""The live gates of the rolling restart (_roll, issue 17 item 2) against the fake op-conductor cluster of
tests/support/live.py and fake op-nodes (sequencer flag and unsafe head per node): the plan and the refusal of a
degraded cluster, the gate before a stop (never a second node down, even forced), the rejoin wait (member, healthy,
caught up, then resumed) and the canary verdict (held, or leadership moved back)."""

import pytest

from ansible_collections.opstack.conductor.plugins.module_utils import _conductor_rpc as rpc
from ansible_collections.opstack.conductor.plugins.module_utils import _roll as roll
from ansible_collections.opstack.conductor.tests.support.live import THREE, FakeClock, FakeCluster, refusal


class FakeOpNodes:
    """op-nodes of the fake cluster: the leader's sequences (unless ``stopped``), heads per node."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.heads = {"a": 100, "b": 100, "c": 100}
        self.down = set()
        self.extra_active = set()

    def factory(self):
        fakes = self

        class OpNode:
            def __init__(self, url, **_args):
                self.id = url.rsplit("/", 1)[1]
                self.url = url

            def _check(self):
                if self.id in fakes.down:
                    raise rpc.Unreachable("cannot reach %s" % self.url, url=self.url)

            def sequencer_active(self):
                self._check()
                return self.id == fakes.cluster.leader or self.id in fakes.extra_active

            def unsafe_head(self):
                self._check()
                return dict(hash="0x%02x" % fakes.heads[self.id], number=fakes.heads[self.id], timestamp=0)
        return OpNode


@pytest.fixture
def cluster(monkeypatch):
    fake = FakeCluster(THREE, leader="b")
    fake.op_nodes = FakeOpNodes(fake)
    monkeypatch.setattr(rpc, "OpNode", fake.op_nodes.factory())
    return fake


def step(cluster, name, check_mode=False, **params):
    ids = [s["id"] for s in cluster.servers]
    conductors = cluster.conductors(ids)
    options = dict(step=name, nodes=[dict(id=i, url=c.url, node_rpc_url="fake://op-node/" + i)
                                     for i, c in conductors.items()],
                   members=ids, roll=[], node=None, canary=None, previous_leader=None, force=False, max_lag=2,
                   grace=5.0, timeout=10.0, transfer_timeout=10.0, poll_interval=1.0)
    options.update(params)
    warnings = []
    clock = FakeClock(cluster)
    work = roll.Roll(conductors, options, check_mode=check_mode, warn=warnings.append, clock=clock)
    return work, warnings, clock


# --- the plan ----------------------------------------------------------------------------------------------


def test_the_plan_restarts_followers_first_the_leader_last_with_the_first_follower_as_canary(cluster):
    work, warnings, _clock = step(cluster, "check", roll=["a", "b", "c"])
    result = work.run()
    assert result["plan"] == dict(leader="b", order=["a", "c", "b"], canary="a")
    assert result["problems"] == [] and warnings == [] and cluster.sent == []
    assert result["sequencers_active"] == ["b"] and result["leader"] == "b"


def test_plan_without_the_leader_has_no_canary_and_a_named_canary_wins():
    assert roll.roll_plan("b", ["a", "b", "c"], ["c"]) == dict(leader="b", order=["c"], canary=None)
    assert roll.roll_plan("b", ["a", "b", "c"], ["b", "c"], canary="a") == dict(leader="b", order=["c", "b"],
                                                                                canary="a")
    # only the leader restarts (the followers were rolled before): leadership still moves first, to a follower
    assert roll.roll_plan("b", ["a", "b", "c"], ["b"])["canary"] == "a"


@pytest.mark.parametrize("fault, named", [
    (lambda c: c.down.add("c"), "c does not answer"),
    (lambda c: c.healthy.update(a=False), "a is unhealthy"),
    (lambda c: c.paused.update(c=True), "c is paused"),
    (lambda c: c.op_nodes.heads.update(a=90), "a is 10 blocks behind the leader (max_lag 2)"),
    (lambda c: c.op_nodes.extra_active.add("c"), "more than one sequencer is active: b, c"),
    (lambda c: c.sees.update(a="c"), "no leader that every reachable node agrees on"),
])
def test_a_degraded_cluster_is_refused_before_anything_is_stopped_unless_forced(cluster, fault, named):
    fault(cluster)
    work, _warnings, _clock = step(cluster, "check", roll=["a", "b", "c"])
    failure = refusal(work.run)
    assert "the cluster is degraded, so the roll does not start" in failure.msg and named in failure.msg, failure.msg
    assert named in " ".join(failure.result["problems"]) and cluster.sent == []
    forced, warnings, _clock = step(cluster, "check", roll=["a", "b", "c"], force=True)
    assert forced.run()["problems"] and any(named in w for w in warnings), warnings


def test_check_refuses_a_roll_of_unknown_members_or_canary(cluster):
    work, _warnings, _clock = step(cluster, "check", roll=["a", "x"])
    assert "roll names x, which is not among the members (a, b, c)" in refusal(work.run).msg
    work, _warnings, _clock = step(cluster, "check", roll=["b"], canary="z")
    assert "canary z is not a member" in refusal(work.run).msg


# --- the gate before a stop --------------------------------------------------------------------------------


def test_stop_gate_passes_on_a_whole_cluster_and_restarts_a_node_that_died_only_forced(cluster):
    work, _warnings, _clock = step(cluster, "stop_gate", node="a")
    assert work.run()["problems"] == []
    # the node to restart died outside the roll: a fault to look at first (the e2e roll restarted it silently);
    # forced, restarting it takes no second node down
    cluster.down.add("a")
    work, _warnings, _clock = step(cluster, "stop_gate", node="a")
    assert "a itself does not answer: it went down outside the roll" in refusal(work.run).msg
    work, warnings, _clock = step(cluster, "stop_gate", node="a", force=True)
    assert work.run()["problems"] and "a itself does not answer" in warnings[0]


def test_stop_gate_never_stops_a_second_node_even_forced(cluster):
    cluster.down.add("c")
    for force in (False, True):
        work, _warnings, _clock = step(cluster, "stop_gate", node="a", force=force)
        failure = refusal(work.run)
        assert "not stopping a, so that no second node goes down" in failure.msg and "c does not answer" in failure.msg


def test_stop_gate_refuses_the_leader_and_soft_problems_unless_forced(cluster):
    work, _warnings, _clock = step(cluster, "stop_gate", node="b")
    assert "b leads; leadership moves to the canary first" in refusal(work.run).msg
    cluster.healthy["c"] = False
    work, _warnings, _clock = step(cluster, "stop_gate", node="a")
    assert "c is unhealthy" in refusal(work.run).msg
    work, warnings, _clock = step(cluster, "stop_gate", node="a", force=True)
    assert work.run()["problems"] == ["c is unhealthy"] and warnings == ["forced past: c is unhealthy"]


# --- rejoin ------------------------------------------------------------------------------------------------


def _comes_back(cluster, node, polls_down, heads):
    """``node`` answers after ``polls_down`` polls, paused, and its head catches up one step per poll."""
    state = dict(polls=0)
    cluster.down.add(node)
    cluster.paused[node] = True

    def tick():
        state["polls"] += 1
        if state["polls"] >= polls_down:
            cluster.down.discard(node)
            if heads:
                cluster.op_nodes.heads[node] = heads.pop(0)
    cluster.later.append(tick)


def test_rejoin_waits_until_the_node_answers_and_caught_up_then_resumes_it(cluster):
    cluster.op_nodes.heads["a"] = 80
    _comes_back(cluster, "a", 2, [85, 95, 99])
    work, warnings, clock = step(cluster, "rejoin", node="a")
    result = work.run()
    assert result["resumed"] is True and result["changed"] is True and result["lag"] == 1
    assert cluster.paused["a"] is False and [s[1] for s in cluster.sent] == ["conductor_resume"]
    assert clock.sleeps >= 4 and warnings == []


def test_rejoin_gives_up_with_the_reason_and_leaves_the_node_paused(cluster):
    cluster.paused["a"] = True
    cluster.healthy["a"] = False
    work, _warnings, _clock = step(cluster, "rejoin", node="a", timeout=5.0)
    failure = refusal(work.run)
    assert "a did not rejoin within 5.0s, so the roll stops here with it paused" in failure.msg
    assert "its conductor reports the sequencer unhealthy" in failure.msg
    assert cluster.paused["a"] is True and cluster.sent == []


def test_rejoin_pauses_a_node_that_came_back_unpaused_and_check_mode_does_not_resume(cluster):
    work, warnings, _clock = step(cluster, "rejoin", node="a")
    assert work.run()["resumed"] is True
    assert [s[1] for s in cluster.sent] == ["conductor_pause", "conductor_resume"]
    assert "a came back unpaused" in warnings[0]
    cluster.sent.clear()
    cluster.paused["c"] = True
    work, warnings, _clock = step(cluster, "rejoin", node="c", check_mode=True)
    assert work.run()["changed"] is True and cluster.sent == [] and cluster.paused["c"] is True


# --- the canary --------------------------------------------------------------------------------------------


def test_the_canary_takes_leadership_and_holds_for_the_grace_period(cluster):
    work, _warnings, clock = step(cluster, "canary", canary="a")
    result = work.run()
    assert result["verdict"] == "held" and result["leader"] == "a" and result["previous_leader"] == "b"
    assert [(s[0], s[2][0]) for s in cluster.transfers()] == [("b", "a")]
    assert clock.now >= 5.0  # the whole grace period was watched


def test_a_canary_that_turns_unhealthy_gives_leadership_back_and_fails(cluster):
    seen = dict(polls=0)

    def turns_unhealthy():
        if cluster.leader == "a":
            seen["polls"] += 1
            if seen["polls"] == 2:
                cluster.healthy["a"] = False
    cluster.later.append(turns_unhealthy)
    work, _warnings, _clock = step(cluster, "canary", canary="a", grace=30.0)
    failure = refusal(work.run)
    assert "the canary a did not hold leadership for the grace period of 30.0s" in failure.msg
    assert "its conductor reports the sequencer unhealthy" in failure.msg
    assert "leadership went back to b. The roll stops: b is not restarted." in failure.msg
    assert [(s[0], s[2][0]) for s in cluster.transfers()] == [("b", "a"), ("a", "b")]
    assert cluster.leader == "b" and failure.result["transfer_back"]["leader"]["id"] == "b"


def test_a_canary_that_loses_leadership_by_itself_is_a_failed_verdict(cluster):
    def steps_down():
        if cluster.leader == "a":
            cluster.leader = "c"
    cluster.later.append(steps_down)
    work, _warnings, _clock = step(cluster, "canary", canary="a", previous_leader="b")
    failure = refusal(work.run)
    assert "it no longer leads (leader now: c)" in failure.msg and cluster.leader == "b"


def test_the_canary_is_not_moved_on_a_degraded_cluster_or_in_check_mode(cluster):
    work, _warnings, _clock = step(cluster, "canary", canary="a", check_mode=True)
    result = work.run()
    assert result["changed"] is True and result["verdict"] is None and cluster.transfers() == []
    cluster.down.add("c")
    work, _warnings, _clock = step(cluster, "canary", canary="a")
    assert "not moving leadership to the canary a on a degraded cluster" in refusal(work.run).msg
    assert cluster.transfers() == []


def test_in_check_mode_the_leader_passes_the_stop_gate_when_a_canary_is_planned(cluster):
    work, _warnings, _clock = step(cluster, "stop_gate", node="b", canary="a", check_mode=True)
    assert work.run()["problems"] == []
    work, _warnings, _clock = step(cluster, "stop_gate", node="b", canary="a")
    assert "b leads" in refusal(work.run).msg
