"""raft_state's report (issue 13 items 5 and 18): a refusal names what differs in one line, without a dump of
both states; check mode with diff shows the diff of a refusal; where a replaced directory was kept."""

import os

from ansible_collections.opstack.conductor.plugins.modules import raft_state

SERVERS = [{"id": "seq-%d" % i, "address": "10.0.0.%d:50050" % i} for i in (1, 2, 3)]


def args(path, **extra):
    base = dict(path=str(path), server_id="seq-1", servers=SERVERS, initial_leader="seq-1")
    base.update(extra)
    return base


def test_refusal_is_one_line_naming_the_differences(tmp_path, run_module):
    node = tmp_path / "seq-1"
    run_module(raft_state.main, args(node))
    other = SERVERS + [{"id": "seq-4", "address": "10.0.0.4:50050"}]
    for check_mode in (True, False):
        result = run_module(raft_state.main, args(node, servers=other, term=2), check_mode=check_mode)
        assert result["failed"] and result["action"] == "refuse"
        assert result["differences"] == ["server seq-4 added (10.0.0.4:50050, voter)", "term 1 -> 2",
                                         "vote seq-1@1 -> seq-1@2"]
        assert "\n" not in result["msg"] and len(result["msg"]) < 400, result["msg"]
        assert "server seq-4 added (10.0.0.4:50050, voter); term 1 -> 2" in result["msg"]
        assert "Existing:" not in result["msg"] and "before" not in result and "after" not in result


def test_check_mode_diff_of_a_refusal_shows_the_decoded_diff(tmp_path, run_module):
    node = tmp_path / "seq-1"
    run_module(raft_state.main, args(node))
    result = run_module(raft_state.main, args(node, term=3), check_mode=True, diff=True)
    assert result["failed"] and result["diff"]["before"]["current_term"] == 1
    assert result["diff"]["after"]["current_term"] == 3
