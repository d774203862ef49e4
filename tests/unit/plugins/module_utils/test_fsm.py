"""op-conductor's FSM head offline (issue 16 item 1), without Go: the newest listed snapshot restored unconditionally,
then every LogCommand after it, a head replaced only by a strictly higher block. tests/interop/test_fsm_parity.py
compares the same node shapes with op-conductor's own FSM fed by hashicorp/raft."""

import base64
import builtins
import errno
import json
import os
import shutil

import pytest

from ansible_collections.opstack.conductor.plugins.module_utils import _bbolt as bolt
from ansible_collections.opstack.conductor.plugins.module_utils import _fsm as fsm
from ansible_collections.opstack.conductor.plugins.module_utils import _lookup as lookup
from ansible_collections.opstack.conductor.plugins.module_utils import _payload as payload
from ansible_collections.opstack.conductor.plugins.module_utils import _raft as raft
from ansible_collections.opstack.conductor.tests.support.nodes import write_snapshot
from ansible_collections.opstack.conductor.tests.support.payloads import (
    command, envelope_bytes, make_envelope, write_fsm_node)

SERVERS = [{"id": "n1", "address": "127.0.0.1:7001"}]


def block_hash(number, version=4):
    return make_envelope(version, number).block_hash_hex


def noop(index, term):
    return raft.Log(index=index, term=term, type=1)


def test_a_missing_or_empty_directory_holds_an_empty_fsm(tmp_path):
    assert fsm.replay_fsm(str(tmp_path / "absent")) == fsm.FsmReplay(None, None, 0, 0, None, [])
    assert fsm.replay_fsm(str(tmp_path)) == fsm.FsmReplay(None, None, 0, 0, None, [])


def test_a_log_of_only_a_configuration_holds_an_empty_fsm(tmp_path):
    replay = fsm.replay_fsm(write_fsm_node(tmp_path / "n1", []))
    assert (replay.head, replay.last_index, replay.last_term, replay.skipped) == (None, 1, 1, [])


def test_log_only_keeps_the_highest_block_and_at_equal_height_the_earlier_payload(tmp_path):
    entries = [command(2, 2, envelope_bytes(4, 10)), command(3, 2, envelope_bytes(3, 12)),
               command(4, 3, envelope_bytes(4, 11)),
               command(5, 3, envelope_bytes(4, 12, seed=99)),  # same height, other payload: ignored
               noop(6, 4)]
    replay = fsm.replay_fsm(write_fsm_node(tmp_path / "n1", entries))
    assert replay.head == fsm.FsmHead(12, block_hash(12, 3), 3, 2, "log")
    assert replay.envelope == make_envelope(3, 12)
    assert (replay.last_index, replay.last_term, replay.snapshot, replay.skipped) == (6, 4, None, [])
    assert replay.head.summary() == {"block_number": 12, "block_hash": block_hash(12, 3), "index": 3, "term": 2,
                                     "source": "log"}


def test_an_entry_the_fsm_does_not_decode_is_skipped_with_a_warning(tmp_path):
    entries = [command(2, 2, envelope_bytes(4, 10)), command(3, 2, b"not ssz"), command(4, 2, envelope_bytes(2, 50)),
               command(5, 2, b""), command(6, 2, envelope_bytes(4, 11))]
    replay = fsm.replay_fsm(write_fsm_node(tmp_path / "n1", entries))
    assert replay.head == fsm.FsmHead(11, block_hash(11), 6, 2, "log")
    assert [warning.split(":")[1] for warning in replay.skipped] == [" entry 3 (term 2)", " entry 4 (term 2)",
                                                                     " entry 5 (term 2)"]
    assert "extra data offset is 512, expected 560" in replay.skipped[1]
    assert "empty" in replay.skipped[2]


def test_a_snapshot_replaces_the_head_unconditionally_and_later_entries_only_when_higher(tmp_path):
    entries = [command(2, 2, envelope_bytes(4, 90)),  # covered by the snapshot: raft never applies it again
               command(3, 2, b"garbage before the snapshot is never read"),
               command(4, 2, envelope_bytes(4, 30)), command(5, 3, envelope_bytes(4, 40)), noop(6, 3)]
    node = write_fsm_node(tmp_path / "n1", entries, snapshot=(2, 3, envelope_bytes(4, 35)))
    replay = fsm.replay_fsm(node)
    assert replay.head == fsm.FsmHead(40, block_hash(40), 5, 3, "log")
    assert (replay.last_index, replay.last_term, replay.snapshot.id, replay.skipped) == (6, 3, "2-3-1795682304108", [])


def test_a_snapshot_above_every_later_entry_stays_the_head(tmp_path):
    node = write_fsm_node(tmp_path / "n1", [command(21, 4, envelope_bytes(4, 5)), command(22, 4, b"x")],
                          snapshot=(4, 20, envelope_bytes(3, 500)))
    replay = fsm.replay_fsm(node)
    assert replay.head == fsm.FsmHead(500, block_hash(500, 3), 20, 4, "snapshot")
    assert replay.envelope == make_envelope(3, 500)
    assert (replay.last_index, replay.last_term, len(replay.skipped)) == (22, 4, 1)


def test_snapshot_only_reports_the_snapshot_index_and_term(tmp_path):
    node = write_fsm_node(tmp_path / "n1", [command(7, 2, envelope_bytes(4, 1))], snapshot=(3, 9, envelope_bytes(4, 8)))
    replay = fsm.replay_fsm(node)
    assert replay.head == fsm.FsmHead(8, block_hash(8), 9, 3, "snapshot")
    assert (replay.last_index, replay.last_term) == (9, 3)
    os.remove(os.path.join(node, raft.LOG_FILE))
    assert fsm.replay_fsm(node).head == replay.head


def _two_snapshots(tmp_path):
    entries = [noop(index, 3) for index in range(6, 11)] + [command(11, 3, envelope_bytes(4, 1))]
    node = write_fsm_node(tmp_path / "n1", entries, snapshot=(3, 5, envelope_bytes(4, 50)))
    newer = write_snapshot(node, SERVERS, 3, 10, state=envelope_bytes(4, 100))
    return node, newer


def test_the_newest_snapshot_is_restored(tmp_path):
    node, _newer = _two_snapshots(tmp_path)
    assert fsm.replay_fsm(node).head == fsm.FsmHead(100, block_hash(100), 10, 3, "snapshot")


@pytest.mark.parametrize("damage, message", [
    (lambda newer: _write(os.path.join(newer, "state.bin"), envelope_bytes(4, 101)), "CRC mismatch"),
    (lambda newer: os.remove(os.path.join(newer, "state.bin")), "state.bin is missing"),
    (lambda newer: _rewrite_state(newer, b"x" * 600), "FSM cannot restore state.bin"),
    (lambda newer: _rewrite_state(newer, envelope_bytes(2, 100)), "extra data offset is 512"),
])
def test_raft_does_not_fall_back_to_an_older_snapshot(tmp_path, damage, message):
    node, newer = _two_snapshots(tmp_path)
    damage(newer)
    with pytest.raises(fsm.FsmError, match=message) as raised:
        fsm.replay_fsm(node)
    assert "raft does not fall back to an older one" in str(raised.value)


@pytest.mark.parametrize("damage", [
    lambda newer: _write(os.path.join(newer, "meta.json"), b"{torn"),
    lambda newer: os.remove(os.path.join(newer, "meta.json")),
    lambda newer: _edit_meta(newer, Version=2),
    lambda newer: _edit_meta(newer, Term="3"),
    lambda newer: os.rename(newer, newer + ".tmp"),
])
def test_a_snapshot_raft_does_not_list_is_passed_over(tmp_path, damage):
    node, newer = _two_snapshots(tmp_path)
    damage(newer)
    replay = fsm.replay_fsm(node)
    assert replay.head == fsm.FsmHead(50, block_hash(50), 5, 3, "snapshot")
    assert replay.last_index == 11


def test_meta_json_is_read_as_go_reads_it(tmp_path):
    node, newer = _two_snapshots(tmp_path)
    with open(os.path.join(newer, "meta.json")) as handle:
        meta = json.load(handle)
    meta = {key.lower(): value for key, value in meta.items()}  # encoding/json matches keys case-insensitively
    _write(os.path.join(newer, "meta.json"), (json.dumps(meta) + "\ntrailing data Decode never reads").encode())
    assert fsm.replay_fsm(node).head.block_number == 100


def test_raft_opens_a_snapshot_by_the_id_in_its_meta(tmp_path):
    node, newer = _two_snapshots(tmp_path)
    _edit_meta(newer, ID="3-5-1795682304108")  # lists as 3-10 (its Index), opens the other directory
    replay = fsm.replay_fsm(node)
    assert (replay.head.block_number, replay.head.index) == (50, 10)
    _edit_meta(newer, ID="../n1")
    with pytest.raises(fsm.FsmError, match="names no snapshot directory"):
        fsm.replay_fsm(node)


@pytest.mark.parametrize("entries, snapshot, missing", [
    ([command(1, 1, b"a"), command(2, 1, b"a"), command(4, 1, b"b")], None, 3),  # a gap
    ([command(5, 1, b"a")], (1, 3, envelope_bytes(4, 1)), 4),  # the log starts after the snapshot's next entry
    ([command(5, 1, b"a")], None, 1),  # compacted without a snapshot
])
def test_an_entry_raft_cannot_read_fails_the_replay(tmp_path, entries, snapshot, missing):
    node = str(tmp_path / "n1")
    write_fsm_node(node, [], snapshot=snapshot)
    _set_log(node, {entry.index: raft.encode_log(entry) for entry in entries})
    with pytest.raises(fsm.FsmError, match="entry %d is missing" % missing):
        fsm.replay_fsm(node)


def test_an_undecodable_log_entry_fails_only_after_the_snapshot(tmp_path):
    node = write_fsm_node(tmp_path / "n1", [], snapshot=(1, 3, envelope_bytes(4, 1)))
    _set_log(node, {2: b"\xc1", 3: b"\xc1", 4: raft.encode_log(command(4, 1, envelope_bytes(4, 2)))})
    assert fsm.replay_fsm(node).head.block_number == 2
    _set_log(node, {4: raft.encode_log(command(4, 1, envelope_bytes(4, 2))), 5: b"\xc1"})
    with pytest.raises(fsm.FsmError, match="entry 5: not valid msgpack"):
        fsm.replay_fsm(node)


def test_state_is_never_read_through_a_symlink(tmp_path):
    node, newer = _two_snapshots(tmp_path)
    target = str(tmp_path / "elsewhere.bin")
    shutil.move(os.path.join(newer, "state.bin"), target)
    os.symlink(target, os.path.join(newer, "state.bin"))
    with pytest.raises(fsm.FsmError, match="symlink"):
        fsm.replay_fsm(node)


def test_a_snapshots_symlink_or_file_is_refused(tmp_path):
    node = write_fsm_node(tmp_path / "n1", [], snapshot=(1, 3, envelope_bytes(4, 1)))
    os.rename(os.path.join(node, raft.SNAPSHOT_DIR), str(tmp_path / "elsewhere"))
    os.symlink(str(tmp_path / "elsewhere"), os.path.join(node, raft.SNAPSHOT_DIR))
    with pytest.raises(fsm.FsmError, match="snapshots: a symlink"):
        fsm.replay_fsm(node)
    os.remove(os.path.join(node, raft.SNAPSHOT_DIR))
    _write(os.path.join(node, raft.SNAPSHOT_DIR), b"")
    with pytest.raises(fsm.FsmError, match="snapshots: not a directory"):
        fsm.replay_fsm(node)


def test_a_file_that_cannot_be_read_is_unreadable_not_damaged(tmp_path, monkeypatch):
    node, newer = _two_snapshots(tmp_path)
    real_open = builtins.open

    def denied(path, *args, **kwargs):
        if str(path).endswith("state.bin"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", denied)
    with pytest.raises(lookup.NodeUnreadable, match="state.bin"):
        fsm.replay_fsm(node)


def test_a_damaged_log_database_fails_the_replay(tmp_path):
    node = write_fsm_node(tmp_path / "n1", [command(2, 1, envelope_bytes(4, 1))])
    _write(os.path.join(node, raft.LOG_FILE), b"\0" * 8192)
    with pytest.raises(fsm.FsmError, match=raft.LOG_FILE):
        fsm.replay_fsm(node)


def test_the_replayed_head_is_persisted_as_op_conductor_persists_it(tmp_path):
    node = write_fsm_node(tmp_path / "n1", [command(2, 1, envelope_bytes(4, 7, transactions=(b"t" * 9,) * 3))])
    replay = fsm.replay_fsm(node)
    assert payload.persisted_bytes(replay.envelope) == envelope_bytes(4, 7, transactions=(b"t" * 9,) * 3)


def _write(path, data):
    with open(path, "wb") as handle:
        handle.write(data)


def _rewrite_state(directory, state):
    """A state.bin with a matching CRC and Size."""
    _write(os.path.join(directory, "state.bin"), state)
    _edit_meta(directory, Size=len(state), CRC=base64.b64encode(raft.crc64_ecma([state])).decode())


def _edit_meta(directory, **fields):
    path = os.path.join(directory, "meta.json")
    with open(path) as handle:
        meta = json.load(handle)
    meta.update(fields)
    _write(path, json.dumps(meta).encode())


def _set_log(node, entries):
    logs = {raft.uint64_key(index): data for index, data in entries.items()}
    _write(os.path.join(node, raft.LOG_FILE), bolt.build_database({raft.BUCKET_CONF: {}, raft.BUCKET_LOGS: logs}))
