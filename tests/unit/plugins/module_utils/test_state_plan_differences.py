"""Issue 13 item 18: a refusal names what differs, one short line per difference, computed in _state_plan."""

from __future__ import annotations

from ansible_collections.opstack.conductor.plugins.module_utils import _cluster as cluster
from ansible_collections.opstack.conductor.plugins.module_utils import _fs as fs
from ansible_collections.opstack.conductor.plugins.module_utils import _state_plan as state_plan
from ansible_collections.opstack.conductor.tests.support.nodes import SERVERS, has_run


def spec(servers=None, leader="seq-1", term=1):
    return cluster.validate_cluster(servers or SERVERS, leader, term)[0]


def deploy(node, servers=None, leader="seq-1", term=1, server_id="seq-1"):
    wanted = spec(servers, leader, term)
    plan = state_plan.plan(str(node), wanted, server_id, 4096, force=False)
    assert plan.action == state_plan.CREATE
    node.mkdir(parents=True, exist_ok=True)
    for name, data in plan.files.items():
        fs.write_new_file(str(node / name), data, 0o600)


def differences(node, servers=None, leader="seq-1", term=1, force=False):
    plan = state_plan.plan(str(node), spec(servers, leader, term), "seq-1", 4096, force=force)
    return plan


def test_added_server_suffrage_and_address_changes_are_named(tmp_path):
    node = tmp_path / "seq-1"
    deploy(node)
    other = [dict(SERVERS[0], address="10.0.0.1:60060"), dict(SERVERS[1], suffrage="nonvoter"), SERVERS[2],
             {"id": "seq-4", "address": "10.0.0.4:50050"}]
    plan = differences(node, other)
    assert plan.action == state_plan.REFUSE
    assert plan.differences == [
        "server seq-1: address 10.0.0.1:50050 -> 10.0.0.1:60060",
        "server seq-2: voter -> nonvoter",
        "server seq-4 added (10.0.0.4:50050, voter)",
    ]


def test_removed_server_and_term_and_vote(tmp_path):
    node = tmp_path / "seq-1"
    deploy(node)
    plan = differences(node, SERVERS[:2] + [{"id": "seq-9", "address": "10.0.0.9:50050"}], leader="seq-2", term=5)
    assert plan.action == state_plan.REFUSE
    assert plan.differences == [
        "server seq-3 removed (10.0.0.3:50050, voter)",
        "server seq-9 added (10.0.0.9:50050, voter)",
        "term 1 -> 5",
        "vote seq-1@1 -> none",
    ]
    forced = differences(node, SERVERS, term=5, force=True)
    assert forced.action == state_plan.REPLACE and forced.differences == ["term 1 -> 5", "vote seq-1@1 -> seq-1@5"]


def test_a_node_that_has_run_says_so(tmp_path):
    node = tmp_path / "seq-1"
    deploy(node)
    has_run(node, SERVERS, term=3, entries=12, snapshot=False, data=b"x")
    plan = differences(node, SERVERS + [{"id": "seq-4", "address": "10.0.0.4:50050"}])
    assert plan.action == state_plan.REFUSE
    assert plan.differences == ["server seq-4 added (10.0.0.4:50050, voter)",
                                "the node has run: term 3, last index 12 (the requested state is term 1, index 1)"]


def test_damage_and_stray_files_are_differences_too(tmp_path):
    node = tmp_path / "seq-1"
    node.mkdir()
    (node / "notes.txt").write_text("x")
    plan = differences(node)
    assert plan.action == state_plan.REFUSE and plan.differences == ["unexpected entries: notes.txt"]
    deploy(tmp_path / "seq-x")
    (tmp_path / "seq-x" / "raft-log.db").write_bytes(b"\0" * 8192)
    damaged = state_plan.plan(str(tmp_path / "seq-x"), spec(), "seq-1", 4096, force=False)
    assert damaged.action == state_plan.REFUSE
    assert len(damaged.differences) == 1 and damaged.differences[0].startswith("damaged: ")


def test_nothing_differs_when_nothing_is_refused(tmp_path):
    node = tmp_path / "seq-1"
    assert differences(node).differences == []
    deploy(node)
    assert differences(node).differences == []
