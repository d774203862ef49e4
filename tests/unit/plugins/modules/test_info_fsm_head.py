"""raft_state_info reports op-conductor's FSM head (issue 16 item 1): the unsafe payload its FSM holds after raft
replays the node's snapshot and log; entries the FSM does not decode are warnings; files raft cannot replay leave
the head unknown (fsm_error). The info table's HEAD column is in tests/unit/roles/test_raft_info_report.py."""

import os

from ansible_collections.opstack.conductor.plugins.module_utils import _raft as raft
from ansible_collections.opstack.conductor.plugins.modules import raft_state, raft_state_info
from ansible_collections.opstack.conductor.tests.support.nodes import args
from ansible_collections.opstack.conductor.tests.support.payloads import (
    command, envelope_bytes, make_envelope, write_fsm_node)


def _info(run_module, node):
    return run_module(raft_state_info.main, dict(path=str(node), server_id="n1"))


def test_a_seeded_node_has_an_empty_fsm(tmp_path, run_module):
    assert run_module(raft_state.main, args(tmp_path / "seq-1"))["changed"]
    info = run_module(raft_state_info.main, dict(path=str(tmp_path / "seq-1")))
    assert info["fsm_head"] is None and "fsm_error" not in info
    assert info["integrity"]["warnings"] == []


def test_the_head_is_the_highest_block_of_the_log(tmp_path, run_module):
    node = write_fsm_node(tmp_path / "n1", [command(2, 2, envelope_bytes(4, 10)), command(3, 2, envelope_bytes(3, 12)),
                                            command(4, 3, envelope_bytes(4, 11))])
    info = _info(run_module, node)
    assert info["fsm_head"] == {"block_number": 12, "block_hash": make_envelope(3, 12).block_hash_hex, "index": 3,
                                "term": 2, "source": "log"}
    assert info["integrity"]["ok"] and info["integrity"]["warnings"] == []


def test_a_snapshot_head_and_skipped_entries_are_reported(tmp_path, run_module):
    entries = [command(index, 4, b"junk %d" % index) for index in range(21, 35)] + [command(35, 4, envelope_bytes(4, 5))]
    node = write_fsm_node(tmp_path / "n1", entries, snapshot=(4, 20, envelope_bytes(4, 50)))
    info = _info(run_module, node)
    assert info["fsm_head"] == {"block_number": 50, "block_hash": make_envelope(4, 50).block_hash_hex, "index": 20,
                                "term": 4, "source": "snapshot"}
    fsm_warnings = [w for w in info["integrity"]["warnings"] if "FSM does not apply" in w]
    assert len(fsm_warnings) == 11  # ten entries, then how many more
    assert fsm_warnings[0].startswith("raft-log.db: entry 21 (term 4): op-conductor's FSM does not apply it")
    assert fsm_warnings[-1] == "... and 4 more log entries op-conductor's FSM does not apply"


def test_files_raft_cannot_replay_leave_the_head_unknown(tmp_path, run_module):
    node = write_fsm_node(tmp_path / "n1", [command(21, 4, envelope_bytes(4, 5))],
                          snapshot=(4, 20, b"not an envelope" * 40))
    info = _info(run_module, node)
    assert info["fsm_head"] is None and "FSM cannot restore state.bin" in info["fsm_error"]
    assert any(w.startswith("fsm_head unknown: snapshot 4-20-") for w in info["integrity"]["warnings"])
    assert not info.get("failed")


def test_an_unreadable_snapshot_fails_the_info(tmp_path, run_module, monkeypatch):
    node = write_fsm_node(tmp_path / "n1", [], snapshot=(4, 20, envelope_bytes(4, 50)))
    real_open = open

    def denied(path, *rest, **kwargs):
        if str(path).endswith("state.bin"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *rest, **kwargs)

    import builtins
    monkeypatch.setattr(builtins, "open", denied)
    # verify=false: only the FSM replay opens state.bin
    failed = run_module(raft_state_info.main, dict(path=str(node), server_id="n1", verify=False))
    assert failed["failed"] and "cannot be examined" in failed["msg"] and "state.bin" in failed["msg"]
    assert os.path.exists(os.path.join(node, raft.SNAPSHOT_DIR))
