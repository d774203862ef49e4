"""The RPC layer on its own: JSON-RPC error handling, version detection, cluster views, membership plans."""

import json

import pytest

from ansible_collections.opstack.conductor.plugins.module_utils import _cluster_view as view
from ansible_collections.opstack.conductor.plugins.module_utils import _conductor_rpc as rpc
from ansible_collections.opstack.conductor.plugins.module_utils import _membership as membership
from ansible_collections.opstack.conductor.plugins.module_utils import _runner as runner
from ansible_collections.opstack.conductor.plugins.module_utils._errors import OpstackError


def transport(replies):
    """A fake transport answering each method from ``replies`` (a value, an error dict, or an exception)."""
    sent = []

    def post(url, body, timeout):
        req = json.loads(body)
        sent.append((url, req["method"], req["params"]))
        reply = replies[req["method"]]
        if isinstance(reply, Exception):
            raise reply
        if isinstance(reply, dict) and "__error__" in reply:
            return json.dumps({"jsonrpc": "2.0", "id": req["id"], "error": reply["__error__"]}).encode()
        return json.dumps({"jsonrpc": "2.0", "id": req["id"], "result": reply}).encode()

    post.sent = sent
    return post


def conductor(replies):
    t = transport(replies)
    return rpc.Conductor("n1", "http://127.0.0.1:1", transport=t), t


def test_error_with_http_200_is_a_failure_with_the_server_message():
    error = {"__error__": {"code": -32000, "message": "leadership transfer timeout"}}
    c, _t = conductor({"conductor_transferLeaderToServer": error})
    with pytest.raises(rpc.RPCError) as exc:
        c.transfer_leader_to("n2", "10.0.0.2:50050")
    assert "leadership transfer timeout" in exc.value.message and exc.value.code == -32000
    assert rpc.is_transfer_maybe(exc.value)


def test_method_not_found_names_the_missing_feature():
    c, _t = conductor({"conductor_demoteVoter": {"__error__": {
        "code": -32601, "message": "the method conductor_demoteVoter does not exist/is not available"}}})
    with pytest.raises(rpc.MethodMissing) as exc:
        c.demote_voter("n2", 0)
    assert "PR #18700" in exc.value.message and "does not exist" in exc.value.message


def test_membership_without_version_parameter_is_refused():
    c, _t = conductor({"conductor_addServerAsVoter": {"__error__": {
        "code": -32602, "message": "too many arguments, want at most 2"}}})
    with pytest.raises(rpc.Unsupported) as exc:
        c.add_voter("n4", "10.0.0.4:50050", 0)
    assert "#10823" in exc.value.message


def test_membership_shapes_old_and_new():
    new = rpc.normalize_membership({"servers": [{"id": "a", "addr": "h:1", "suffrage": 0},
                                                {"id": "b", "addr": "h:2", "suffrage": 1}], "version": 7})
    assert new == {"servers": [{"id": "a", "address": "h:1", "suffrage": "voter"},
                               {"id": "b", "address": "h:2", "suffrage": "nonvoter"}], "version": 7}
    old = rpc.normalize_membership([{"id": "a", "addr": "h:1", "suffrage": 0}])
    assert old["version"] is None and old["servers"][0]["id"] == "a"
    assert rpc.normalize_membership({"servers": None, "version": 0})["servers"] == []


def test_status_reports_missing_methods_and_unreachable():
    missing = {"__error__": {"code": -32601, "message": "the method conductor_leaderOverridden does not exist"}}
    c, _t = conductor({"conductor_leader": True, "conductor_leaderWithID": {"id": "n1", "addr": "h:1"},
                       "conductor_clusterMembership": {"servers": [{"id": "n1", "addr": "h:1", "suffrage": 0}],
                                                       "version": 0},
                       "conductor_paused": False, "conductor_stopped": False, "conductor_active": True,
                       "conductor_sequencerHealthy": True, "conductor_leaderOverridden": missing})
    s = c.status()
    assert s["reachable"] and s["leader"] and s["leader_overridden"] is None and len(s["missing"]) == 1
    down, _t = conductor({"conductor_leader": rpc.Unreachable("cannot reach")})
    assert down.status()["reachable"] is False


def test_non_boolean_answers_are_refused():
    c, _t = conductor({"conductor_paused": "yes"})
    with pytest.raises(rpc.Unsupported):
        c.paused()


def status(sid, leader_id, claims=False, members=("a", "b", "c"), reachable=True, version=0):
    if not reachable:
        return {"id": sid, "reachable": False, "error": "down", "missing": []}
    return {"id": sid, "reachable": True, "error": None, "missing": [], "leader": claims,
            "leader_with_id": {"id": leader_id, "address": "h:%s" % leader_id},
            "membership": {"servers": [{"id": m, "address": "h:%s" % m, "suffrage": "voter"} for m in members],
                           "version": version},
            "paused": True, "stopped": False, "active": False, "sequencer_healthy": True, "leader_overridden": False}


def test_cluster_view_agreement_and_disagreement():
    agree = view.cluster_view([status("a", "a", True), status("b", "a"), status("c", "a")])
    assert agree["agree"] and agree["leader"] == {"id": "a", "address": "h:a"}
    split = view.cluster_view([status("a", "a", True), status("b", "b", True), status("c", "a")])
    assert not split["agree"] and split["leader"] is None
    assert any("more than one node claims" in d for d in split["disagreements"])
    assert any("disagree on the leader" in d for d in split["disagreements"])
    members = view.cluster_view([status("a", "a", True), status("b", "a"), status("c", "a", members="abcd")])
    assert any("disagree on membership" in d for d in members["disagreements"])
    expected = servers(("a", "voter"), ("b", "voter"))
    removed = view.cluster_view([status("a", "a", True, members="ab"), status("b", "a", members="ab"),
                                status("c", "", members="ab")], expected_servers=expected)
    assert removed["not_members"] == ["c"] and removed["agree"]
    down = view.cluster_view([status("a", "a", True), status("b", "a"), status("c", None, reachable=False)])
    assert down["unreachable"] == ["c"] and not down["agree"] and down["leader"]["id"] == "a"
    drift = view.cluster_view([status("a", "a", True)], expected_servers=[{"id": "a", "address": "h:a",
                                                                          "suffrage": "voter"}])
    assert drift["drift"]["extra"] == ["b", "c"]


def test_settled_leader_ignores_nodes_outside_the_configuration():
    fresh = status("d", "", members=())
    assert view.settled_leader([status("a", "a", True), status("b", "a"), status("c", "a"), fresh]) == "a"
    assert view.settled_leader([status("a", "a", True), status("b", "b"), status("c", "a")]) is None
    down = [status("a", "a", True), status("b", "a"), status("c", None, reachable=False)]
    assert view.settled_leader(down) is None and view.settled_leader(down, require_all=False) == "a"


def servers(*spec):
    return [{"id": i, "address": "h:%s" % i, "suffrage": s} for i, s in spec]


def test_plan_orders_adds_changes_removes_and_the_leader_last():
    current = servers(("a", "voter"), ("b", "voter"), ("c", "voter"), ("x", "nonvoter"))
    desired = servers(("b", "voter"), ("c", "nonvoter"), ("d", "voter"), ("x", "voter"))
    plan = membership.plan_membership(current, desired, leader_id="a")
    assert [(s["op"], s["id"]) for s in plan] == [("add_voter", "d"), ("demote", "c"), ("add_voter", "x"),
                                                  ("remove", "a")]
    assert membership.plan_membership(current, current, "a") == []


def test_quorum_checks():
    three = servers(("a", "voter"), ("b", "voter"), ("c", "voter"))
    add = {"op": "add_voter", "id": "d", "address": "h:d"}
    assert membership.check_step(three, add, live={"a", "b", "c"}, leader_id="a") is None
    assert "lose quorum" in membership.check_step(three, add, live={"a", "b"}, leader_id="a")
    remove_live = {"op": "remove", "id": "b", "address": "h:b"}
    assert "lose quorum" in membership.check_step(three, remove_live, live={"a", "b"}, leader_id="a")
    remove_dead = {"op": "remove", "id": "c", "address": "h:c"}
    assert membership.check_step(three, remove_dead, live={"a", "b"}, leader_id="a") is None
    assert "current leader" in membership.check_step(three, {"op": "remove", "id": "a", "address": "h:a"},
                                                     {"a", "b", "c"}, "a")
    one = servers(("a", "voter"))
    assert "without voters" in membership.check_step(one, {"op": "remove", "id": "a", "address": "h:a"}, {"a"}, "b")


def test_poll_is_bounded_in_time_and_iterations():
    clock = [0.0]
    calls = []

    def probe():
        calls.append(1)
        return False

    value, elapsed = rpc.poll(probe, timeout=5, interval=1, clock=lambda: clock[0],
                              sleep=lambda s: clock.__setitem__(0, clock[0] + s))
    assert value is False and elapsed >= 5 and len(calls) <= 7
    calls.clear()
    rpc.poll(probe, timeout=1000, interval=1, clock=lambda: 0.0, sleep=lambda s: None, max_iterations=4)
    assert len(calls) == 4


def test_check_nodes():
    assert rpc.check_nodes([]) == "nodes may not be empty"
    assert "more than once" in rpc.check_nodes([{"id": "a", "url": "http://x"}, {"id": "a", "url": "http://y"}])
    assert "http://" in rpc.check_nodes([{"id": "a", "url": "ftp://x"}])
    assert rpc.check_nodes([{"id": "a", "url": "https://x"}]) is None


class FakeModule:
    """What runner.run and live_work use of an AnsibleModule; fail_json and exit_json raise like the real ones."""

    class Failed(Exception):
        pass

    class Exited(Exception):
        pass

    def __init__(self, **params):
        self.params = dict(params)
        self.failed = None
        self.exited = None

    def fail_json(self, **result):
        self.failed = result
        raise FakeModule.Failed(result["msg"])

    def exit_json(self, **result):
        self.exited = result
        raise FakeModule.Exited()


NODES = [{"id": "a", "url": "http://127.0.0.1:1"}, {"id": "b", "url": "http://127.0.0.1:2"}]


def run_live(module, work, **kwargs):
    """main()'s body in every live module: the one runner with the live checks; the result it ended with."""
    with pytest.raises((FakeModule.Failed, FakeModule.Exited)):
        runner.run(module, rpc.live_work(work, **kwargs))
    return module.failed if module.failed is not None else module.exited


def test_live_work_connects_and_the_runner_exits_with_the_work_result():
    seen = {}

    def work(module, conductors, partial):
        seen.update(module=module, conductors=conductors)
        return dict(changed=True, diff=dict(before="x", after="y"))

    m = FakeModule(nodes=NODES, request_timeout=3)
    assert run_live(m, work) == dict(changed=True, diff=dict(before="x", after="y")) and m.failed is None
    assert list(seen["conductors"]) == ["a", "b"]
    assert seen["conductors"]["b"].url == "http://127.0.0.1:2" and seen["conductors"]["b"].rpc.timeout == 3


def test_live_work_checks_nodes_and_positive_options_before_any_work():
    def work(module, conductors, partial):
        raise AssertionError("work must not run")

    m = FakeModule(nodes=[])
    assert run_live(m, work) == dict(msg="nodes may not be empty")
    m = FakeModule(nodes=NODES, attempts=3, timeout=0.0, poll_interval=0.5)
    assert run_live(m, work, positive=("attempts", "timeout", "poll_interval")) == dict(
        msg="attempts, timeout and poll_interval must be positive")
    m = FakeModule(nodes=NODES, timeout=1.0, poll_interval=-1)
    assert run_live(m, work, positive=("timeout", "poll_interval")) == dict(
        msg="timeout and poll_interval must be positive")


def test_live_work_without_cluster_neither_checks_nor_connects_nodes():
    m = FakeModule(nodes=[])
    result = run_live(m, lambda module, conductors, partial: dict(conductors=conductors), cluster=False)
    assert result == dict(conductors={}) and m.failed is None


def test_live_errors_become_the_runners_failed_results():
    def rpc_error(module, conductors, partial):
        partial["nodes"] = {"a": "read"}
        raise rpc.Unreachable("cannot reach http://127.0.0.1:1: refused")

    m = FakeModule(nodes=NODES)
    assert run_live(m, rpc_error) == dict(msg="cannot reach http://127.0.0.1:1: refused", nodes={"a": "read"})

    def failure(module, conductors, partial):
        partial.update(nodes={"a": "read"}, changed=False)
        try:
            raise rpc.MethodMissing("no such method")
        except rpc.ConductorError as exc:
            raise rpc.Failure("refusing", changed=True, plan=[1]) from exc

    # The one failure shape (runner.failure_result): the Failure's keys on top of what the work filled in so far.
    m = FakeModule(nodes=NODES)
    assert run_live(m, failure) == dict(msg="refusing", changed=True, plan=[1], nodes={"a": "read"})
    assert not isinstance(rpc.Failure("x"), rpc.ConductorError)


def test_live_modules_fail_only_through_the_runner():
    # One failure path: _conductor_rpc has no fail_json or exit_json of its own (it had a second runner).
    import inspect
    source = inspect.getsource(rpc)
    assert "fail_json" not in source and "exit_json" not in source and not hasattr(rpc, "run_module")


def test_argument_specs_keep_the_shared_options():
    conn = rpc.connection_argument_spec()
    assert sorted(conn) == ["ca_path", "client_cert", "client_key", "headers", "request_timeout", "validate_certs"]
    assert conn["request_timeout"] == dict(type="float", default=10) and conn["client_key"]["no_log"] is False
    spec = rpc.rpc_argument_spec()
    assert sorted(spec) == sorted(list(conn) + ["nodes"])
    assert spec["nodes"]["required"] is True and spec["nodes"]["options"]["url"]["required"] is True


def test_live_work_fails_on_any_refusal_of_ours_with_the_partial_result():
    def bad_input(module, conductors, partial):
        partial["nodes"] = {"a": "read"}
        raise OpstackError("servers[0].id='a/b': contains a path separator")

    m = FakeModule(nodes=NODES)
    assert run_live(m, bad_input) == dict(msg="servers[0].id='a/b': contains a path separator", nodes={"a": "read"})
