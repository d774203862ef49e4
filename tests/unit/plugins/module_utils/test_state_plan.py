"""_state_plan.plan() directly, one test per row of its decision table (create, unchanged, live, repair, replace,
refuse), each with what it must never do: plan() only reads, so the node directory is the same tree afterwards."""

from __future__ import annotations

import os

import pytest

from ansible_collections.opstack.conductor.plugins.module_utils import _cluster as cluster
from ansible_collections.opstack.conductor.plugins.module_utils import _errors as errors
from ansible_collections.opstack.conductor.plugins.module_utils import _raft as raft
from ansible_collections.opstack.conductor.plugins.module_utils import _state_plan as state_plan
from ansible_collections.opstack.conductor.tests.support.fs import tree
from ansible_collections.opstack.conductor.tests.support.nodes import OTHER, SERVERS, has_run, seeded, spec, write_node


def decide(node, wanted=None, force=False, server_id="seq-1"):
    """plan() for node, asserting it changed nothing on disk."""
    before = tree(node.parent)
    found = state_plan.plan(str(node), wanted or spec(), server_id, 4096, force=force)
    assert tree(node.parent) == before
    return found


@pytest.mark.parametrize("prepare", ["absent", "empty", "empty-snapshots"])
def test_create_when_there_is_no_state(tmp_path, prepare):
    node = tmp_path / "seq-1"
    if prepare != "absent":
        node.mkdir()
    if prepare == "empty-snapshots":  # op-conductor makes snapshots/ at start; empty, it is no state
        (node / raft.SNAPSHOT_DIR).mkdir()
    found = decide(node)
    assert (found.action, found.writes, found.before, found.differences) == (state_plan.CREATE, True, None, [])
    assert sorted(found.files) == [raft.LOG_FILE, raft.STABLE_FILE]
    assert found.files == cluster.node_databases(spec(), "seq-1", 4096)


def test_unchanged_when_the_node_holds_exactly_the_requested_state(tmp_path):
    node = seeded(tmp_path)
    found = decide(node)
    assert (found.action, found.writes) == (state_plan.UNCHANGED, False)
    assert found.before == found.after and found.differences == []


def test_unchanged_does_not_depend_on_the_page_size_the_files_were_written_with(tmp_path):
    node = tmp_path / "seq-1"
    write_node(node, spec(), "seq-1", page_size=16384)
    assert decide(node).action == state_plan.UNCHANGED


def test_live_when_the_node_has_run_with_the_requested_membership(tmp_path):
    node = seeded(tmp_path)
    has_run(node, SERVERS)
    for force in (False, True):  # force never touches a node that has run in the membership asked for
        found = decide(node, force=force)
        assert (found.action, found.writes) == (state_plan.LIVE, False)
        assert "has run (term 3, last index 40)" in found.reason


@pytest.mark.parametrize("missing", [raft.LOG_FILE, raft.STABLE_FILE])
def test_repair_when_one_file_is_missing_and_the_other_matches(tmp_path, missing):
    node = seeded(tmp_path)
    os.unlink(str(node / missing))
    found = decide(node)
    assert (found.action, found.writes) == (state_plan.REPAIR, True)
    assert found.reason == "half-written state: %s missing, the other file matches" % missing


@pytest.mark.parametrize("missing", [raft.LOG_FILE, raft.STABLE_FILE])
def test_a_lone_file_of_another_state_is_refused_not_repaired(tmp_path, missing):
    node = seeded(tmp_path, term=2)
    os.unlink(str(node / missing))
    found = decide(node)
    assert (found.action, found.writes) == (state_plan.REFUSE, False)
    assert decide(node, force=True).action == state_plan.REPLACE


@pytest.mark.parametrize("force, action", [(False, state_plan.REFUSE), (True, state_plan.REPLACE)])
def test_another_membership(tmp_path, force, action):
    node = seeded(tmp_path, servers=OTHER)
    found = decide(node, force=force)
    assert (found.action, found.writes) == (action, force)
    assert found.reason == "the existing state belongs to a different membership"
    assert "server seq-4 removed (10.0.0.4:50050, voter)" in found.differences


@pytest.mark.parametrize("force, action", [(False, state_plan.REFUSE), (True, state_plan.REPLACE)])
def test_a_node_that_has_run_in_another_membership_is_not_live(tmp_path, force, action):
    node = seeded(tmp_path, servers=OTHER)
    has_run(node, OTHER)
    found = decide(node, force=force)
    assert found.action == action and found.reason == "the existing state belongs to a different membership"


@pytest.mark.parametrize("force, action", [(False, state_plan.REFUSE), (True, state_plan.REPLACE)])
def test_same_membership_another_seed(tmp_path, force, action):
    node = seeded(tmp_path, term=1)
    found = decide(node, spec(term=4), force=force)
    assert found.action == action and found.reason == "the existing state differs from the requested one"
    assert found.differences == ["term 1 -> 4", "vote seq-1@1 -> seq-1@4"]


@pytest.mark.parametrize("force, action", [(False, state_plan.REFUSE), (True, state_plan.REPLACE)])
def test_damaged_state(tmp_path, force, action):
    node = seeded(tmp_path)
    log = node / raft.LOG_FILE
    log.write_bytes(log.read_bytes()[:4096] + b"\0" * 4096)  # the second meta page zeroed
    found = decide(node, force=force)
    assert found.action == action and found.reason.startswith("the existing state is damaged: ")
    assert found.differences[0].startswith("damaged: ")


@pytest.mark.parametrize("force, action", [(False, state_plan.REFUSE), (True, state_plan.REPLACE)])
def test_stray_entries_without_databases(tmp_path, force, action):
    node = tmp_path / "seq-1"
    node.mkdir()
    (node / "notes.txt").write_text("not Raft")
    found = decide(node, force=force)
    assert found.action == action and found.reason == "%s holds notes.txt but no Raft databases" % node
    assert found.differences == ["unexpected entries: notes.txt"]


def test_a_server_id_outside_the_cluster_is_an_error_naming_it(tmp_path):
    node = tmp_path / "seq-1"
    with pytest.raises(errors.OpstackError, match="seq-9"):
        state_plan.plan(str(node), spec(), "seq-9", 4096, force=False)
    assert not node.exists()


def test_only_create_repair_and_replace_write():
    assert {action for action in (state_plan.CREATE, state_plan.UNCHANGED, state_plan.LIVE, state_plan.REPAIR,
                                  state_plan.REPLACE, state_plan.REFUSE)
            if state_plan.Plan(action, "", None, {}, None, {}).writes} == {
        state_plan.CREATE, state_plan.REPAIR, state_plan.REPLACE}
