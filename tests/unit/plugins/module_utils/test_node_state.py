"""Node state: the summary reads only the ends of the log; verify finds what makes raft or bbolt refuse."""

import os

import pytest

from ansible_collections.opstack.conductor.plugins.module_utils import _bbolt as bolt
from ansible_collections.opstack.conductor.plugins.module_utils import _cluster as cluster
from ansible_collections.opstack.conductor.plugins.module_utils import _node_state as node_state
from ansible_collections.opstack.conductor.plugins.module_utils import _raft as raft
from ansible_collections.opstack.conductor.tests.support.nodes import write_snapshot

SPEC = cluster.validate_cluster(
    [{"id": "n%d" % i, "address": "127.0.0.1:%d" % (7000 + i)} for i in (1, 2, 3)], "n1", 2)[0]
SERVERS = [s.to_dict() for s in SPEC.servers]


def config_entry(index, term, spec=SPEC):
    return raft.Log(index=index, term=term, type=raft.LOG_CONFIGURATION,
                    data=raft.encode_configuration(spec.configuration))


def write_node(path, entries, stable=None, snapshot=None):
    os.makedirs(str(path), exist_ok=True)
    logs = {raft.uint64_key(entry.index): raft.encode_log(entry) for entry in entries}
    (path / raft.LOG_FILE).write_bytes(bolt.build_database({raft.BUCKET_CONF: {}, raft.BUCKET_LOGS: logs}))
    stable = stable if stable is not None else {raft.KEY_CURRENT_TERM: raft.U64.pack(max(e.term for e in entries))}
    (path / raft.STABLE_FILE).write_bytes(bolt.build_database({raft.BUCKET_CONF: stable, raft.BUCKET_LOGS: {}}))
    if snapshot:
        write_snapshot(path, SERVERS, *snapshot)
    return str(path)


def commands(first, last, term, size=200):
    return [raft.Log(index=i, term=term, type=raft.LOG_COMMAND, data=bytes([i % 251]) * size,
                     appended_at=raft.go_time_from_unix(1752237296 + i)) for i in range(first, last + 1)]


def test_live_like_node_summary_equals_verify(tmp_path):
    entries = commands(500, 1999, 4)
    path = write_node(tmp_path / "n1", entries, snapshot=(4, 1000))
    quick = node_state.read_node_state(path)
    full = node_state.read_node_state(path, verify=True)
    assert full.integrity.ok, full.integrity.problems
    for state in (quick, full):
        assert (state.first_index, state.last_index, state.last_log_term, state.current_term) == (500, 1999, 4, 4)
        assert state.latest_configuration.source == "snapshot"
        assert state.latest_configuration.configuration == SPEC.configuration
        assert state.snapshots[0].index == 1000
    assert full.entries == 1500 and full.snapshots[0].crc_ok


def test_summary_touches_only_a_few_pages(tmp_path, monkeypatch):
    path = write_node(tmp_path / "n1", [config_entry(1, 1)] + commands(2, 20000, 1, size=100))
    visited = []
    original = bolt.BoltReader.node
    monkeypatch.setattr(bolt.BoltReader, "node", lambda self, pgid: visited.append(pgid) or original(self, pgid))
    state = node_state.read_node_state(path)
    assert state.last_index == 20000
    # No snapshot: the newest configuration is at index 1, so this walk is the worst case the summary has.
    assert state.latest_configuration.index == 1
    visited.clear()
    write_snapshot(tmp_path / "n1", SERVERS, 1, 19000)
    state = node_state.read_node_state(path)
    assert state.latest_configuration.source == "snapshot"
    with bolt.BoltReader(os.path.join(path, raft.LOG_FILE)) as reader:
        leaves = reader.meta.pgid
    assert len(visited) < 60, "summary visited %d of %d pages" % (len(visited), leaves)


def test_newest_configuration_in_the_log_wins(tmp_path):
    members = [s.to_dict() for s in SPEC.servers] + [{"id": "n4", "address": "127.0.0.1:7004",
                                                     "suffrage": "nonvoter"}]
    grown = cluster.validate_cluster(members)[0]
    entries = [config_entry(1, 1)] + commands(2, 50, 1) + [config_entry(51, 2, grown)] + commands(52, 60, 2)
    path = write_node(tmp_path / "n1", entries)
    for verify in (False, True):
        state = node_state.read_node_state(path, verify=verify)
        assert state.latest_configuration.index == 51
        assert [s.id for s in state.latest_configuration.configuration.servers] == ["n1", "n2", "n3", "n4"]


def problems_of(path):
    return " | ".join(node_state.read_node_state(str(path), verify=True).integrity.problems)


def test_gap_after_the_snapshot_is_a_problem_before_it_a_warning(tmp_path):
    entries = [config_entry(1, 1)] + commands(2, 10, 1) + commands(20, 30, 1)
    path = write_node(tmp_path / "gap", entries)
    assert "entries 11..19 are missing" in problems_of(path)
    path = write_node(tmp_path / "old-gap", entries, snapshot=(1, 25))
    state = node_state.read_node_state(path, verify=True)
    assert state.integrity.ok and "11..19" in state.integrity.warnings[0]


def test_log_starting_after_the_snapshot_is_a_problem(tmp_path):
    path = write_node(tmp_path / "n", commands(100, 120, 1), snapshot=(1, 50))
    assert "log starts at 100" in problems_of(path)


def test_current_term_below_the_log_is_a_problem(tmp_path):
    path = write_node(tmp_path / "n", [config_entry(1, 5)], stable={raft.KEY_CURRENT_TERM: raft.U64.pack(4)})
    assert "CurrentTerm 4 is below" in problems_of(path)
    path = write_node(tmp_path / "m", [config_entry(1, 5)], stable={raft.KEY_CURRENT_TERM: b"\x01"})
    assert "CurrentTerm holds 1 bytes" in problems_of(path)


@pytest.mark.parametrize("verify", [False, True])
def test_last_vote_term_above_current_term_is_a_warning(tmp_path, verify):
    stable = {raft.KEY_CURRENT_TERM: raft.U64.pack(5), raft.KEY_LAST_VOTE_TERM: raft.U64.pack(7),
              raft.KEY_LAST_VOTE_CAND: b"n2"}
    state = node_state.read_node_state(write_node(tmp_path / "n", [config_entry(1, 5)], stable=stable), verify)
    assert state.integrity.ok
    assert state.integrity.warnings == ["raft-stable.db: LastVoteTerm 7 is above CurrentTerm 5, which raft never "
                                        "writes (edited or mixed files?)"]
    stable[raft.KEY_LAST_VOTE_TERM] = raft.U64.pack(5)
    state = node_state.read_node_state(write_node(tmp_path / "m", [config_entry(1, 5)], stable=stable), verify)
    assert not state.integrity.warnings


@pytest.mark.parametrize("verify", [False, True])
def test_a_server_id_missing_from_its_own_configuration_is_a_warning(tmp_path, verify):
    state = node_state.read_node_state(write_node(tmp_path / "n9", [config_entry(1, 2)]), verify=verify)
    node_state.check_membership(state, "n2")
    assert not state.integrity.warnings
    node_state.check_membership(state, "n9")
    assert state.integrity.ok and state.integrity.warnings == [
        "server ID 'n9' is not in the newest configuration (index 1, from the log): op-conductor started with "
        "this ID would never vote, be elected or receive entries"]


def test_index_mismatch_and_undecodable_entry(tmp_path):
    path = write_node(tmp_path / "n", [config_entry(1, 1)])
    logs = {raft.uint64_key(1): raft.encode_log(config_entry(1, 1)),
            raft.uint64_key(2): raft.encode_log(raft.Log(index=3, term=1, type=0)),
            raft.uint64_key(3): b"\xc1garbage"}
    (tmp_path / "n" / raft.LOG_FILE).write_bytes(bolt.build_database({raft.BUCKET_CONF: {}, raft.BUCKET_LOGS: logs}))
    found = problems_of(path)
    assert "entry under key 2 says Index 3" in found and "entry 3: not valid msgpack" in found


def test_bad_snapshot_crc(tmp_path):
    path = write_node(tmp_path / "n", commands(1, 10, 1), snapshot=(1, 5))
    state_file = next((tmp_path / "n" / "snapshots").iterdir()) / "state.bin"
    state_file.write_bytes(b"fsm-statX")
    assert "CRC mismatch" in problems_of(path)


def test_missing_pieces(tmp_path):
    path = write_node(tmp_path / "n", [config_entry(1, 1)])
    os.unlink(os.path.join(path, raft.STABLE_FILE))
    assert "raft-stable.db: missing" in problems_of(path)
    (tmp_path / "n" / raft.STABLE_FILE).write_bytes(bolt.build_database({b"other": {}}))
    assert "bucket conf missing" in problems_of(path)
    empty = tmp_path / "empty"
    empty.mkdir()
    state = node_state.read_node_state(str(empty))
    assert not state.exists and state.integrity.ok


@pytest.mark.parametrize("damage", ["zero", "truncate", "flip-meta", "garbage"])
def test_damaged_files_give_problems_not_exceptions(tmp_path, damage):
    path = write_node(tmp_path / "n", [config_entry(1, 1)])
    log_file = os.path.join(path, raft.LOG_FILE)
    data = open(log_file, "rb").read()
    damaged = {"zero": b"", "truncate": data[:5000], "flip-meta": data[:20] + b"\xff" + data[21:],
               "garbage": os.urandom(len(data))}[damage]
    with open(log_file, "wb") as handle:
        handle.write(damaged)
    for verify in (False, True):
        state = node_state.read_node_state(path, verify=verify)
        if verify or damage != "flip-meta":
            assert not state.integrity.ok, damage
