"""conductor_roll checks its options before any RPC: a step without the member it works on, or a negative max_lag or
grace, fails naming the option, and no node is contacted (the URL points at a closed loopback port, so a module that
did connect would fail with "cannot reach" instead)."""

from ansible_collections.opstack.conductor.plugins.modules import conductor_roll

NODES = [{"id": "a", "url": "http://127.0.0.1:9", "node_rpc_url": "http://127.0.0.1:9"}]


def test_each_step_needs_its_member_before_any_rpc(run_module):
    for step, needed in (("rejoin", "node"), ("stop_gate", "node"), ("canary", "canary")):
        result = run_module(conductor_roll.main, dict(nodes=NODES, step=step))
        assert result["failed"] and result["msg"] == "step=%s needs %s" % (step, needed), result


def test_negative_lag_grace_or_timeouts_are_refused_before_any_rpc(run_module):
    result = run_module(conductor_roll.main, dict(nodes=NODES, step="check", max_lag=-1))
    assert result["failed"] and result["msg"] == "max_lag and grace may not be negative (max_lag=-1, grace=30.0)"
    result = run_module(conductor_roll.main, dict(nodes=NODES, step="check", poll_interval=0))
    assert result["failed"] and "poll_interval must be positive" in result["msg"], result


def test_an_unreachable_cluster_is_a_refusal_naming_the_node(run_module):
    result = run_module(conductor_roll.main, dict(nodes=NODES, step="check", request_timeout=2))
    assert result["failed"] and "the cluster is degraded, so the roll does not start" in result["msg"], result
    assert "a does not answer (cannot reach http://127.0.0.1:9" in result["msg"], result
