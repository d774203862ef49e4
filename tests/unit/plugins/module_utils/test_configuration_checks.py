"""Issue 13 item 16: every configuration hashicorp/raft's checkConfiguration (configuration.go) rejects is an
integrity problem: an empty ID, an empty address, a duplicate ID (as op-conductor-init v0.1.6 writes for
--server-ids s1,s1,s3), a duplicate address, no voter. Checked for every configuration Raft reads at start: the
newest snapshot's and each configuration entry after it (all of them with verify, the newest in summary mode).
Files written by our writer with the validation bypassed; tests/interop/test_configuration_checks_live.py does the
same with configurations encoded by the real Go code."""

import pytest

from ansible_collections.opstack.conductor.plugins.module_utils import _node_state as node_state
from ansible_collections.opstack.conductor.tests.support.nodes import (REJECTED, configuration, write_configuration_node,
                                                                       write_snapshot)

GOOD = [("s1", "h:1", "voter"), ("s2", "h:2", "voter"), ("s3", "h:3", "voter")]


def problems_about(state, needle):
    return [problem for problem in state.integrity.problems if needle in problem]


@pytest.mark.parametrize("verify", [True, False], ids=["verify", "summary"])
@pytest.mark.parametrize("case", sorted(REJECTED))
def test_each_rejected_configuration_is_a_problem(tmp_path, case, verify):
    servers, needle = REJECTED[case]
    node = write_configuration_node(tmp_path / "n", [(1, configuration(servers))])
    state = node_state.read_node_state(node, verify=verify)
    found = problems_about(state, needle)
    assert len(found) == 1, state.integrity.problems
    assert "index 1" in found[0] and "checkConfiguration" in found[0]
    assert not state.integrity.ok


def test_a_valid_configuration_has_no_problem(tmp_path):
    node = write_configuration_node(tmp_path / "n", [(1, configuration(GOOD))])
    for verify in (True, False):
        assert node_state.read_node_state(node, verify=verify).integrity.problems == []


def test_every_case_is_reported_not_only_the_first(tmp_path):
    servers = [("", "h:1", "nonvoter"), ("s2", "", "nonvoter"), ("s3", "h:3", "nonvoter"), ("s3", "h:3", "nonvoter")]
    state = node_state.read_node_state(write_configuration_node(tmp_path / "n", [(1, configuration(servers))]), verify=True)
    text = "\n".join(state.integrity.problems)
    for needle in ("server 1 has an empty ID", "server 's2' has an empty address", "server ID 's3' is listed twice",
                   "address 'h:3' is listed twice", "has no voter"):
        assert needle in text, text


def test_older_configurations_raft_replays_are_checked_with_verify(tmp_path):
    """Raft replays every configuration entry after the newest snapshot at start (the older becomes the committed
    configuration): a bad one there is a problem even when a good one follows."""
    bad, _needle = REJECTED["duplicate-id"]
    node = write_configuration_node(tmp_path / "n", [(1, configuration(bad)), (2, None), (3, configuration(GOOD))])
    found = problems_about(node_state.read_node_state(node, verify=True), "server ID 's1' is listed twice")
    assert len(found) == 1 and "index 1" in found[0]
    assert node_state.read_node_state(node, verify=False).integrity.problems == []  # summary reads only the newest


def test_configurations_before_the_snapshot_are_not_read_by_raft(tmp_path):
    bad, _needle = REJECTED["duplicate-id"]
    node = write_configuration_node(tmp_path / "n", [(1, configuration(bad))] + [(index, None) for index in range(2, 31)], term=3)
    write_snapshot(node, [{"id": s[0], "address": s[1]} for s in GOOD], 3, 20)
    state = node_state.read_node_state(node, verify=True)
    assert not problems_about(state, "twice"), state.integrity.problems


@pytest.mark.parametrize("verify", [True, False], ids=["verify", "summary"])
def test_the_snapshot_configuration_is_checked(tmp_path, verify):
    node = write_configuration_node(tmp_path / "n", [(index, None) for index in range(18, 31)], term=3)
    write_snapshot(node, [{"id": "s1", "address": "h:1"}, {"id": "s1", "address": "h:2"}], 3, 20)
    state = node_state.read_node_state(node, verify=verify)
    found = problems_about(state, "server ID 's1' is listed twice")
    assert len(found) == 1 and "snapshot" in found[0], state.integrity.problems
