"""raft_restore's report_info (issue 15): the report after a restore takes each node's state from the run that
restored it, or from the preflight's check run for a node that already holds its backup, instead of a
raft_state_info run per host. It must be exactly what raft_state_info reports for that node, read after the
restore, and never stand in for a node op-conductor holds (that one moves on: the role reads it again)."""

import os
import shutil

import pytest

from ansible_collections.opstack.conductor.plugins.module_utils import _node_state as node_state
from ansible_collections.opstack.conductor.plugins.module_utils import _raft as raft
from ansible_collections.opstack.conductor.plugins.modules import raft_backup, raft_restore, raft_state_info
from ansible_collections.opstack.conductor.tests.support.nodes import SERVERS, has_run, write_node, spec

_RUN_KEYS = ("changed", "invocation", "warnings", "deprecations")


def _report(result):
    return {key: value for key, value in result.items() if key not in _RUN_KEYS}


def node_and_backup(run_module, root):
    node = str(root / "raft" / "seq-1")
    write_node(node, spec(), "seq-1")
    has_run(node, SERVERS)  # a log, a snapshot and an FSM head to report
    made = run_module(raft_backup.main, dict(path=node, dest=str(root / "b")))
    assert made.get("changed"), made
    return node, made["backup_path"]


def info_of(run_module, node):
    read = run_module(raft_state_info.main, dict(path=node, expected_servers=SERVERS), check_mode=True)
    assert not read.get("failed"), read
    return _report(read)


@pytest.mark.parametrize("before", ["lost", "damaged"])
def test_a_restore_reports_the_restored_node_as_raft_state_info_reads_it(tmp_path, run_module, before):
    node, made = node_and_backup(run_module, tmp_path)
    if before == "lost":
        shutil.rmtree(node)
    else:
        with open(os.path.join(node, raft.LOG_FILE), "r+b") as handle:
            handle.truncate(8192)
    done = run_module(raft_restore.main, dict(src=made, path=node, expected_servers=SERVERS, force=True,
                                              report_info=True))
    assert done["changed"] and done["action"] == "restore", done
    assert done["info"] == info_of(run_module, node)
    assert done["info"]["integrity"]["checked"] and done["info"]["last_index"] > 3 and "fsm_head" in done["info"]


def test_a_node_that_holds_its_backup_is_reported_by_the_check_run(tmp_path, run_module, monkeypatch):
    """From the judgement's own full read of the node: it is read (and verified) once, not twice."""
    node, made = node_and_backup(run_module, tmp_path)
    reads = []
    real_read = node_state.read_node_state
    monkeypatch.setattr(node_state, "read_node_state", lambda path, verify=False: reads.append(
        (path, verify)) or real_read(path, verify))
    judged = run_module(raft_restore.main, dict(src=made, path=node, expected_servers=SERVERS, report_info=True),
                        check_mode=True)
    assert [read for read in reads if read[0] == node] == [(node, True)], reads
    monkeypatch.undo()
    assert judged["action"] == "unchanged" and judged["info"] == info_of(run_module, node), judged


def test_no_report_without_the_option_for_a_prediction_or_for_a_held_node(tmp_path, run_module, held_lock):
    node, made = node_and_backup(run_module, tmp_path)
    unasked = run_module(raft_restore.main, dict(src=made, path=node), check_mode=True)
    assert unasked["action"] == "unchanged" and "info" not in unasked
    shutil.rmtree(node)
    predicted = run_module(raft_restore.main, dict(src=made, path=node, report_info=True), check_mode=True)
    assert predicted["action"] == "restore" and "info" not in predicted  # nothing was written to read
    assert run_module(raft_restore.main, dict(src=made, path=node))["changed"]
    held_lock(os.path.join(node, raft.LOG_FILE))
    running = run_module(raft_restore.main, dict(src=made, path=node, report_info=True), check_mode=True)
    assert running["locked"] and running["action"] == "unchanged" and "info" not in running, running
