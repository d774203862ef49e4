"""Break-glass sequencing (_override.BreakGlass) against a fake cluster of conductors and op-nodes that answers as
op-conductor and op-node v1.19.0 do: a conductor's override makes conductor_leader true and conductor_leaderWithID
"N/A (Leader overridden)"; op-node's admin_startSequencer asks its conductor (or its own override) whether it leads
and refuses a hash that is not its unsafe head; op-node's override is cleared only by a restart."""

import json

import pytest

from ansible_collections.opstack.conductor.plugins.module_utils import _conductor_rpc as rpc
from ansible_collections.opstack.conductor.plugins.module_utils import _override as override
from ansible_collections.opstack.conductor.tests.support.live import FakeClock

IDS = ["a", "b", "c"]


class FakeStack:
    def __init__(self, leader="a", active="a", heads=None):
        self.leader = leader
        self.paused = dict((i, False) for i in IDS)
        self.overridden = dict((i, False) for i in IDS)
        self.node_override = dict((i, False) for i in IDS)
        self.active = set([active] if active else [])
        self.heads = dict(heads or dict((i, 10) for i in IDS))
        self.down = set()          # conductors that do not answer
        self.ignore_pause = set()  # conductors that accept conductor_pause and stay unpaused
        self.sent = []             # (node, method) of every call that changes something
        self.max_active = len(self.active)
        self.later = []

    def tick(self):
        for event in list(self.later):
            event()

    def conductor_answer(self, node, method, params):
        reads = {
            "conductor_leader": lambda: self.overridden[node] or node == self.leader,
            "conductor_leaderWithID": lambda: (dict(id="N/A (Leader overridden)", addr="N/A") if self.overridden[node]
                                               else dict(id=self.leader or "", addr="")),
            "conductor_clusterMembership": lambda: dict(servers=[dict(id=i, addr=i + ":50050", suffrage=0)
                                                                 for i in IDS], version=1),
            "conductor_paused": lambda: self.paused[node],
            "conductor_stopped": lambda: False,
            "conductor_active": lambda: not self.paused[node],
            "conductor_sequencerHealthy": lambda: True,
            "conductor_leaderOverridden": lambda: self.overridden[node],
        }
        if method in reads:
            return reads[method]()
        self.sent.append((node, method))
        if method == "conductor_pause" and node not in self.ignore_pause:
            self.paused[node] = True
        elif method == "conductor_resume":
            self.paused[node] = False
        elif method == "conductor_overrideLeader":
            self.overridden[node] = params[0]
        return None

    def head_hash(self, node):
        return "0x%064x" % self.heads[node]

    def start(self, node, params):
        if not (self.node_override[node] or self.overridden[node] or node == self.leader):
            raise RuntimeError("sequencer is not the leader, aborting")
        if node in self.active:
            raise RuntimeError("sequencer already running")
        if params[0] != self.head_hash(node):
            raise RuntimeError("block hash does not match: head %s, received %s" % (self.head_hash(node), params[0]))
        self.active.add(node)
        self.max_active = max(self.max_active, len(self.active))

    def node_answer(self, node, method, params):
        if method == "admin_sequencerActive":
            return node in self.active
        if method == "optimism_syncStatus":
            return dict(unsafe_l2=dict(hash=self.head_hash(node), number=self.heads[node]))
        self.sent.append((node, method))
        if method == "admin_overrideLeader":
            self.node_override[node] = True
        elif method == "admin_stopSequencer":
            if node not in self.active:
                raise RuntimeError("sequencer not running")
            self.active.discard(node)
            return self.head_hash(node)
        elif method == "admin_startSequencer":
            self.start(node, params)
        return None

    def restart_op_node(self, node):
        self.node_override[node] = False
        self.active.discard(node)

    def transport(self, node, answer, down):
        def post(url, body, timeout):
            request = json.loads(body)
            if node in down:
                raise rpc.Unreachable("cannot reach %s: connection refused" % url, url=url)
            try:
                reply = {"result": answer(node, request["method"], request["params"])}
            except RuntimeError as exc:
                reply = {"error": {"code": -32000, "message": str(exc)}}
            return json.dumps(dict(reply, jsonrpc="2.0", id=request["id"])).encode()
        return post

    def run(self, check_mode=False, **params):
        options = dict(state="present", stage="release", leader=None, timeout=10.0, poll_interval=1.0)
        options.update(params)
        conductors = dict((i, rpc.Conductor(i, "http://10.0.0.%d:8547" % n,
                                            transport=self.transport(i, self.conductor_answer, self.down)))
                          for n, i in enumerate(IDS, 1))
        op_nodes = dict((i, rpc.OpNode("http://10.0.0.%d:9545" % n,
                                       transport=self.transport(i, self.node_answer, ())))
                        for n, i in enumerate(IDS, 1))
        partial = {}
        work = override.BreakGlass(conductors, op_nodes, options, partial=partial, check_mode=check_mode,
                                   clock=FakeClock(self))
        try:
            return work.run()
        except rpc.Failure as exc:
            return dict(partial, failed=True, msg=exc.msg, **exc.result)


def test_break_glass_stops_the_active_sequencer_and_starts_the_chosen_one_at_its_hash():
    stack = FakeStack(leader="a", active="a", heads=dict(a=12, b=11, c=11))
    stack.later.append(lambda: stack.heads.update(b=stack.heads["a"]))  # gossip: b receives a's last block
    result = stack.run(leader="b")
    assert not result.get("failed"), result["msg"]
    assert result["changed"] and result["leader"] == "b" and result["chosen_by"] == "the leader option"
    assert [s["step"] for s in result["steps"]] == ["pause", "override", "stop_sequencer", "start_sequencer"]
    assert [s["active"] for s in result["steps"]] == [["a"], ["a"], [], ["b"]]
    assert stack.max_active == 1 and stack.active == {"b"}
    assert all(stack.paused.values()) and stack.overridden == dict(a=False, b=True, c=False)
    assert stack.node_override["b"] and not stack.node_override["a"]
    assert result["steps"][2]["block_hash"] == stack.head_hash("a") == stack.head_hash("b")
    # op-node's override first (the conductor's marks it), then the start: op-node refuses to start otherwise
    assert stack.sent.index(("b", "admin_overrideLeader")) < stack.sent.index(("b", "conductor_overrideLeader"))
    assert stack.sent.index(("b", "conductor_overrideLeader")) < stack.sent.index(("b", "admin_startSequencer"))


def test_with_no_active_sequencer_the_highest_unsafe_head_is_chosen_and_started_at_its_head():
    stack = FakeStack(leader=None, active=None, heads=dict(a=10, b=12, c=11))
    result = stack.run()
    assert not result.get("failed"), result["msg"]
    assert result["leader"] == "b" and result["chosen_by"] == "the highest unsafe head"
    assert [(s["step"], s["active"]) for s in result["steps"]] == [
        ("pause", []), ("override", []), ("start_sequencer", ["b"])]
    assert result["steps"][-1]["block_hash"] == stack.head_hash("b") and stack.active == {"b"}


def test_a_chosen_node_behind_with_none_active_is_started_at_the_highest_head_once_it_holds_it():
    stack = FakeStack(leader=None, active=None, heads=dict(a=10, b=12, c=11))
    stack.later.append(lambda: stack.heads.update(a=12))  # gossip
    result = stack.run(leader="a")
    assert not result.get("failed"), result["msg"]
    assert result["steps"][-1]["block_hash"] == stack.head_hash("b") and stack.active == {"a"}


def test_a_chosen_op_node_that_never_reaches_the_stopped_head_is_not_started():
    stack = FakeStack(leader="a", active="a", heads=dict(a=12, b=11, c=11))
    result = stack.run(leader="b")
    assert result["failed"] and "the op-node of b did not reach the head %s" % stack.head_hash("a") in result["msg"]
    assert stack.active == set() and ("b", "admin_startSequencer") not in stack.sent


def test_break_glass_rerun_changes_nothing_and_check_mode_sends_nothing():
    stack = FakeStack(leader="a", active="a")
    assert stack.run(leader="c")["changed"]
    before = len(stack.sent)
    again = stack.run(leader="c")
    assert again["changed"] is False and again["plan"] == [] and again["steps"] == [], again
    assert stack.sent[before:] == [("c", "admin_overrideLeader")]  # re-sent (unreadable), not a change

    fresh = FakeStack(leader="a", active="a")
    planned = fresh.run(check_mode=True, leader="c")
    assert planned["changed"] and fresh.sent == [] and fresh.active == {"a"}
    assert planned["plan"] == ["pause a", "pause b", "pause c", "override the leader on c (op-node, then conductor)",
                               "stop the sequencer of a", "start the sequencer of c at the stopped head"]


def test_a_conductor_that_stays_unpaused_is_refused_and_the_pauses_are_undone():
    stack = FakeStack(leader="a", active="a")
    stack.ignore_pause.add("b")
    result = stack.run(leader="c")
    assert result["failed"] and "b reports conductor_paused=False" in result["msg"], result["msg"]
    assert "resumed again: a, b, c" in result["msg"] and "no sequencer was stopped or started" in result["msg"]
    assert not any(stack.paused.values()) and stack.active == {"a"} and not any(stack.overridden.values())
    assert [m for _n, m in stack.sent if m.startswith("admin_")] == []


def test_an_unreachable_conductor_is_refused_before_anything_is_sent():
    stack = FakeStack(leader="a", active="a")
    stack.down.add("c")
    result = stack.run()
    assert result["failed"] and "c: conductor: cannot reach http://10.0.0.3:8547" in result["msg"], result["msg"]
    assert "nothing was changed" in result["msg"] and stack.sent == []


@pytest.mark.parametrize("setup, expected", [
    (lambda s: s.active.add("b"), "more than one sequencer is active (a, b)"),
    (lambda s: s.overridden.update(b=True), "the leader override is set on b, not on the chosen c"),
    (lambda s: None, "leader x is not one of nodes (a, b, c)"),
])
def test_break_glass_refusals_change_nothing(setup, expected):
    stack = FakeStack(leader="a", active="a")
    setup(stack)
    result = stack.run(leader="x" if "x is not" in expected else "c")
    assert result["failed"] and expected in result["msg"] and "nothing was changed" in result["msg"], result["msg"]
    assert stack.sent == []


def test_the_way_back_release_restart_restore_then_reruns_change_nothing():
    stack = FakeStack(leader="a", active="a")
    assert not stack.run(leader="c").get("failed")
    released = stack.run(state="absent", stage="release")
    assert not released.get("failed"), released["msg"]
    assert released["restart"] == ["c"] and [s["step"] for s in released["steps"]] == ["stop_sequencer"]
    assert stack.active == set() and stack.overridden["c"]  # the conductor's override marks the op-node to restart
    stack.restart_op_node("c")
    restored = stack.run(state="absent", stage="restore")
    assert not restored.get("failed"), restored["msg"]
    assert [s["step"] for s in restored["steps"]] == ["clear_override", "start_sequencer", "resume"]
    assert [s["active"] for s in restored["steps"]] == [[], ["a"], ["a"]]
    assert restored["leader"] == "a" and stack.active == {"a"} and stack.max_active == 1
    assert not any(stack.paused.values()) and not any(stack.overridden.values())
    resumed = [n for n, m in stack.sent if m == "conductor_resume"]
    assert resumed[-1] == "a"  # the leader last
    before = len(stack.sent)
    assert stack.run(state="absent", stage="release")["changed"] is False
    assert stack.run(state="absent", stage="restore")["changed"] is False
    assert stack.sent[before:] == []


def test_release_is_refused_while_the_raft_cluster_has_no_leader():
    stack = FakeStack(leader="a", active="a")
    assert not stack.run(leader="c").get("failed")
    stack.leader = None
    before = len(stack.sent)
    result = stack.run(state="absent", stage="release")
    assert result["failed"] and "do not agree on a Raft leader" in result["msg"], result["msg"]
    assert "nothing was changed" in result["msg"] and stack.sent[before:] == [] and stack.active == {"c"}


def test_restore_in_check_mode_sends_nothing():
    stack = FakeStack(leader="a", active="a")
    stack.run(leader="c")
    stack.run(state="absent", stage="release")
    stack.restart_op_node("c")
    before = len(stack.sent)
    planned = stack.run(check_mode=True, state="absent", stage="restore")
    assert planned["changed"] and stack.sent[before:] == []
    assert planned["plan"][0] == "clear the conductor overrides on c"


def test_missing_node_rpc_url_is_refused_naming_the_node():
    with pytest.raises(rpc.Failure) as exc:
        override.make_op_nodes([dict(id="a", url="http://x", node_rpc_url="http://y"), dict(id="b", url="http://z")],
                               dict(request_timeout=1))
    assert "missing on b" in exc.value.msg
