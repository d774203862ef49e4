"""conductor_override checks its options before any RPC, and refuses, with nothing changed, when a node cannot be
read (the URLs point at a closed loopback port)."""

from ansible_collections.opstack.conductor.plugins.modules import conductor_override

NODES = [{"id": "a", "url": "http://127.0.0.1:9", "node_rpc_url": "http://127.0.0.1:9"},
         {"id": "b", "url": "http://127.0.0.1:9"}]


def test_every_node_needs_its_op_node_url(run_module):
    result = run_module(conductor_override.main, dict(nodes=NODES, request_timeout=1))
    assert result["failed"] and "node_rpc_url is required" in result["msg"] and "missing on b" in result["msg"]


def test_options_are_checked_before_connecting(run_module):
    result = run_module(conductor_override.main, dict(nodes=NODES[:1], timeout=0))
    assert result["failed"] and result["msg"] == "timeout and poll_interval must be positive"


def test_a_node_that_cannot_be_read_refuses_the_run_with_nothing_changed(run_module):
    result = run_module(conductor_override.main, dict(nodes=NODES[:1], request_timeout=1, state="absent",
                                                      stage="restore"))
    assert result["failed"] and result["changed"] is False and result["steps"] == []
    assert result["msg"].startswith("cannot read every node, so no step can be proven safe (a: conductor: cannot "
                                    "reach http://127.0.0.1:9")
    assert result["msg"].endswith("; nothing was changed")
