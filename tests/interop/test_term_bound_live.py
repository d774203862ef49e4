"""Issue 13 item 12 against real Raft: a cluster seeded at the highest initial term we accept (cluster.MAX_TERM,
2^63-1) elects a leader, commits and goes on to a higher term. (Seeded at 2^64-1, the next election wraps the
uint64 term to 0 and the same cluster never elects, which is why the bound exists.)"""

from __future__ import annotations

from ansible_collections.opstack.conductor.plugins.module_utils import _cluster as cluster
from ansible_collections.opstack.conductor.plugins.module_utils import _node_state as node_state
from ansible_collections.opstack.conductor.tests.support.nodes import write_cluster


def test_a_cluster_seeded_at_the_highest_accepted_term_elects(oracle, tmp_path, ports):
    spec = cluster.validate_cluster([{"id": "m%d" % i, "address": "127.0.0.1:%d" % port}
                                     for i, port in enumerate(ports(3), 1)], "m1", cluster.MAX_TERM)[0]
    nodes = write_cluster(tmp_path, spec)
    args = [arg for server_id, node in nodes.items() for arg in ("--node", "%s=%s" % (server_id, node))]
    result = oracle.run("v2_3_1", "cluster", *args, "--apply", "5", "--timeout", "90", timeout=240)
    assert result["ok"], result["problems"]
    assert result["leader"] in nodes and cluster.MAX_TERM < result["term"] < 1 << 64
    for node in nodes.values():
        state = node_state.read_node_state(node, verify=True)
        assert state.integrity.ok, state.integrity.problems
        assert state.current_term > cluster.MAX_TERM and state.last_index >= 6
