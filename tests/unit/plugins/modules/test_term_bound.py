"""Issue 13 item 12: an initial term a real cluster can still elect from. hashicorp/raft adds 1 to the uint64
CurrentTerm on every election (runCandidate, electSelf, preElectSelf: getCurrentTerm() + 1), so a state seeded at
2^64-1 wraps to 0 on the first election and never elects. The bound, 2^63-1, leaves 2^63 elections."""

import os

import pytest

from ansible_collections.opstack.conductor.plugins.module_utils import _cluster as cluster
from ansible_collections.opstack.conductor.plugins.modules import raft_state
from ansible_collections.opstack.conductor.tests.support.nodes import SERVERS

SERVER = [{"id": "a", "address": "h:1"}]


def test_the_bound_leaves_room_for_elections():
    assert cluster.MAX_TERM == (1 << 63) - 1
    assert cluster.validate_cluster(SERVER, None, cluster.MAX_TERM)[0].term == cluster.MAX_TERM
    for term in (cluster.MAX_TERM + 1, (1 << 64) - 2, (1 << 64) - 1):
        with pytest.raises(cluster.SpecError, match=r"term=%d: .*2\^63-1.*election" % term):
            cluster.validate_cluster(SERVER, None, term)


@pytest.mark.parametrize("term", [(1 << 64) - 1, 1 << 63])
def test_raft_state_refuses_a_term_that_cannot_elect_and_writes_nothing(tmp_path, run_module, term):
    node = tmp_path / "raft" / "seq-1"
    result = run_module(raft_state.main, dict(path=str(node), server_id="seq-1", servers=SERVERS, term=term))
    assert result.get("failed") and result["msg"].startswith("term=%d:" % term), result
    assert not os.path.exists(str(tmp_path / "raft"))


def test_raft_state_writes_the_largest_accepted_term(tmp_path, run_module):
    node = tmp_path / "seq-1"
    result = run_module(raft_state.main, dict(path=str(node), server_id="seq-1", servers=SERVERS,
                                              term=cluster.MAX_TERM))
    assert result["changed"] and result["state"]["current_term"] == cluster.MAX_TERM, result
