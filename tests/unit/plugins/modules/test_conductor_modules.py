"""The live modules validate their server lists (through _servers, like the raft_* modules) before any RPC: a bad
entry fails naming the entry and the value, and no node is contacted (the nodes' URLs point at a closed loopback
port, so a module that did connect would fail with "cannot reach" instead)."""

from ansible_collections.opstack.conductor.plugins.modules import conductor_info, conductor_membership

NODES = [{"id": "a", "url": "http://127.0.0.1:9"}]


def test_conductor_info_refuses_a_bad_expected_server_before_any_rpc(run_module):
    result = run_module(conductor_info.main, dict(nodes=NODES, expected_servers=[
        dict(id="a", address="10.0.0.1:50050"), dict(id="b\u200b", address="10.0.0.2:50050")]))
    assert result["failed"]
    assert result["msg"].startswith("expected_servers[1].id='b\\u200b': contains the non-printable")


def test_conductor_membership_refuses_a_bad_server_before_any_rpc(run_module):
    result = run_module(conductor_membership.main, dict(nodes=NODES, timeout=1, poll_interval=0.5, servers=[
        dict(id="a", address="10.0.0.1:0080")]))
    assert result["failed"] and result["msg"].startswith("servers[0].address='10.0.0.1:0080': port must be")
    duplicate = run_module(conductor_membership.main, dict(nodes=NODES, timeout=1, poll_interval=0.5, servers=[
        dict(id="a", address="10.0.0.1:50050"), dict(id="A", address="10.0.0.2:50050")]))
    assert duplicate["failed"] and "servers[1].id='A': duplicates a" in duplicate["msg"]


def test_conductor_info_reports_an_unreachable_node_and_fails_on_it_when_asked(run_module):
    result = run_module(conductor_info.main, dict(nodes=NODES, request_timeout=2))
    assert not result.get("failed") and result["changed"] is False
    assert result["nodes"][0]["reachable"] is False and result["cluster"]["unreachable"] == ["a"]
    assert result["table"][-1].startswith("leader: none; DISAGREEMENT: unreachable: a")
    strict = run_module(conductor_info.main, dict(nodes=NODES, request_timeout=2, fail_on_disagreement=True))
    assert strict["failed"] and strict["msg"] == "the cluster does not agree: unreachable: a"
    assert strict["cluster"]["unreachable"] == ["a"] and len(strict["table"]) == 3


def test_live_modules_check_their_options_before_connecting(run_module):
    empty = run_module(conductor_membership.main, dict(nodes=[], servers=[dict(id="a", address="h:1")]))
    assert empty == dict(failed=True, msg="nodes may not be empty", invocation=empty["invocation"])
    negative = run_module(conductor_membership.main, dict(nodes=NODES, timeout=-1, servers=[
        dict(id="a", address="h:1")]))
    assert negative["failed"] and negative["msg"] == "timeout and poll_interval must be positive"
