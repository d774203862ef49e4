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
