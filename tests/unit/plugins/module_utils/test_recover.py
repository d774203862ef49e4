"""_recover: raft.RecoverCluster offline, without Go. What the recovered node holds (one snapshot with the head as
op-conductor's FSM persists it, the new configuration at index 1, no log, raft-stable.db byte for byte), where its
position comes from, and every refusal. The Go differential (tests/interop/test_recover_differential.py) holds the
same results to the real RecoverCluster."""

import base64
import json
import os

import pytest

from ansible_collections.opstack.conductor.plugins.module_utils import _bbolt as bolt
from ansible_collections.opstack.conductor.plugins.module_utils import _node_state as node_state
from ansible_collections.opstack.conductor.plugins.module_utils import _payload as payload
from ansible_collections.opstack.conductor.plugins.module_utils import _raft as raft
from ansible_collections.opstack.conductor.plugins.module_utils import _recover as recovery
from ansible_collections.opstack.conductor.plugins.module_utils._fsm import FsmError
from ansible_collections.opstack.conductor.plugins.module_utils._servers import SpecError
from ansible_collections.opstack.conductor.tests.support import nodes
from ansible_collections.opstack.conductor.tests.support import recovery as rec
from ansible_collections.opstack.conductor.tests.support.fs import tree

N1 = {"id": "n1", "address": "127.0.0.1:5001"}
N2 = {"id": "n2", "address": "127.0.0.1:5002"}
N3 = {"id": "n3", "address": "127.0.0.1:5003"}


def seeded(tmp_path, ids=("n1", "n2", "n3")):
    """n1 of a three-node cluster as raft_state seeds it (configuration at index 1, term 1)."""
    spec = nodes.loopback_spec(ids=ids, ports=[5001 + i for i in range(len(ids))])
    return nodes.write_node(tmp_path / "n1", spec, "n1")


def ran(tmp_path, numbers=(1, 2, 3, 5, 4), term=2):
    """n1 after running: commands carrying these block numbers from index 2 at ``term``."""
    node = seeded(tmp_path)
    rec.append_entries(node, rec.commands(2, term, numbers), current_term=term)
    return node


def snapshot_dirs(node):
    return sorted(os.listdir(os.path.join(node, raft.SNAPSHOT_DIR)))


def read_snapshot(node):
    (only,) = snapshot_dirs(node)
    directory = os.path.join(node, raft.SNAPSHOT_DIR, only)
    with open(os.path.join(directory, "meta.json"), "rb") as handle:
        meta = handle.read()
    with open(os.path.join(directory, "state.bin"), "rb") as handle:
        return only, meta, handle.read()


def test_log_only_keeps_the_highest_block_and_leaves_what_recover_cluster_leaves(tmp_path):
    node = ran(tmp_path)
    stable_before = open(os.path.join(node, raft.STABLE_FILE), "rb").read()
    old = tree(node)
    plan = recovery.plan_recover(node, [N1, dict(N2, suffrage="nonvoter")], "n1")
    assert plan.action == recovery.RECOVER
    assert plan.head()["block_number"] == 5 and plan.head()["index"] == 5 and plan.head()["source"] == "log"
    assert (plan.snapshot.index, plan.snapshot.term) == (6, 2)  # the last entry, whatever its block
    kept, snapshot_id = recovery.recover(node, plan, keep_old=True)
    assert tree(kept) == old  # the old directory, whole
    name, meta, state = read_snapshot(node)
    assert name == snapshot_id and name.startswith("2-6-")
    assert state == rec.envelope(5)
    document = json.loads(meta)
    assert meta.endswith(b"}\n") and b" " not in meta  # json.Encoder: compact, one newline
    assert list(document) == ["Version", "ID", "Index", "Term", "Peers", "Configuration", "ConfigurationIndex",
                              "Size", "CRC"]
    assert document["Version"] == 1 and document["ID"] == name and document["ConfigurationIndex"] == 1
    assert document["Configuration"] == {"Servers": [{"Suffrage": 0, "ID": "n1", "Address": N1["address"]},
                                                     {"Suffrage": 1, "ID": "n2", "Address": N2["address"]}]}
    assert document["Size"] == len(state)
    assert base64.b64decode(document["CRC"]) == raft.crc64_ecma([state])
    # Peers: the voters' addresses only, msgpack raw strings (what the Go run in the differential writes too)
    assert base64.b64decode(document["Peers"]) == b"\x91\xae" + N1["address"].encode()
    assert open(os.path.join(node, raft.STABLE_FILE), "rb").read() == stable_before
    content = bolt.read_database(os.path.join(node, raft.LOG_FILE))
    assert content == {raft.BUCKET_CONF: {}, raft.BUCKET_LOGS: {}}


def test_the_recovered_node_reads_as_raft_reads_it(tmp_path):
    node = ran(tmp_path)
    recovery.recover(node, recovery.plan_recover(node, [N1, N2], "n1"), keep_old=False)
    state = node_state.read_node_state(node, verify=True)
    assert state.integrity.ok, state.integrity.problems
    assert state.entries == 0 and state.current_term == 2
    assert state.latest_configuration.index == 1 and state.latest_configuration.source == "snapshot"
    assert [server.id for server in state.latest_configuration.configuration.servers] == ["n1", "n2"]
    assert not [entry for entry in os.listdir(tmp_path) if entry != "n1"]  # backup=false keeps nothing


def test_v4_head_with_the_empty_withdrawals_root_is_persisted_as_v3(tmp_path):
    node = seeded(tmp_path)
    rec.append_entries(node, rec.commands(2, 2, [7], empty_withdrawals_root=True), current_term=2)
    recovery.recover(node, recovery.plan_recover(node, [N1], "n1"), keep_old=False)
    _name, _meta, state = read_snapshot(node)
    entry = rec.envelope(7, empty_withdrawals_root=True)
    assert len(state) == len(entry) - 32
    assert payload.decode_fsm_envelope(state).version == payload.V3
    assert payload.decode_fsm_envelope(state).block_number == 7


def test_snapshot_and_log(tmp_path):
    """The snapshot restores unconditionally, entries after it replace the head only when strictly higher."""
    node = ran(tmp_path, numbers=(1, 2, 3))  # entries 2..4
    nodes.write_snapshot(node, [N1, N2, N3], 2, 4, state=rec.envelope(9))
    rec.append_entries(node, rec.commands(5, 3, [8, 10, 10]) + [(8, 3, 1, b"")], current_term=3)  # noop last
    plan = recovery.plan_recover(node, [N1], "n1")
    assert plan.head() == {"block_number": 10, "block_hash": rec.block_hash_hex(rec.envelope(10)), "index": 6,
                           "term": 3, "source": "log"}  # the earlier of the two at height 10
    assert (plan.snapshot.index, plan.snapshot.term) == (8, 3)  # the noop: the last entry of any type
    recovery.recover(node, plan, keep_old=False)
    name, _meta, state = read_snapshot(node)
    assert name.startswith("3-8-") and state == rec.envelope(10)


def test_snapshot_only_takes_the_snapshot_position(tmp_path):
    node = ran(tmp_path, numbers=(1, 2, 3))
    nodes.write_snapshot(node, [N1, N2, N3], 2, 4, state=rec.envelope(3))
    rec.drop_entries(node, 4)  # compacted: nothing after the snapshot
    plan = recovery.plan_recover(node, [N1], "n1")
    assert (plan.snapshot.index, plan.snapshot.term) == (4, 2) and plan.head()["source"] == "snapshot"
    recovery.recover(node, plan, keep_old=False)
    name, _meta, state = read_snapshot(node)
    assert name.startswith("2-4-") and state == rec.envelope(3)


def test_compacted_log_before_the_snapshot(tmp_path):
    node = ran(tmp_path, numbers=range(1, 12))  # entries 2..12
    nodes.write_snapshot(node, [N1, N2, N3], 2, 10, state=rec.envelope(9))
    rec.drop_entries(node, 7)  # trailing logs 8..12 stay
    plan = recovery.plan_recover(node, [N1, N2], "n1")
    assert plan.head()["block_number"] == 11 and (plan.snapshot.index, plan.snapshot.term) == (12, 2)


def test_already_recovered_to_this_configuration_is_unchanged(tmp_path):
    node = ran(tmp_path)
    recovery.recover(node, recovery.plan_recover(node, [N1, N2], "n1"), keep_old=False)
    again = recovery.plan_recover(node, [N1, N2], "n1")
    assert again.action == recovery.UNCHANGED and not again.writes
    assert recovery.plan_recover(node, [N2, N1], "n1").action == recovery.UNCHANGED  # same members, other order
    other = recovery.plan_recover(node, [N1], "n1")
    assert other.action == recovery.RECOVER
    rec.append_entries(node, [(7, 3, raft.LOG_COMMAND, rec.envelope(6))], current_term=3)  # it ran since
    assert recovery.plan_recover(node, [N1, N2], "n1").action == recovery.RECOVER


def test_a_node_whose_membership_has_no_voter_can_be_recovered(tmp_path):
    """The configuration is what recovery replaces: one raft's checkConfiguration rejects is no refusal."""
    node = ran(tmp_path)
    bad = nodes.configuration([("n1", N1["address"], "nonvoter"), ("n2", N2["address"], "nonvoter")])
    rec.append_entries(node, [(7, 2, raft.LOG_CONFIGURATION, bad)])
    assert not node_state.read_node_state(node, verify=True).integrity.ok
    assert recovery.plan_recover(node, [N1], "n1").action == recovery.RECOVER


@pytest.mark.parametrize("servers, field", [
    ([N2, N3], "does not hold this node's server_id 'n1'"),
    ([dict(N1, suffrage="nonvoter")], "at least one server must be a voter"),
    ([N1, dict(N2, address=N1["address"])], "address"),
    ([], "servers"),
])
def test_bad_configurations_are_refused_before_the_node_is_read(tmp_path, servers, field):
    node = ran(tmp_path)
    before = tree(tmp_path)
    with pytest.raises(SpecError) as raised:
        recovery.plan_recover(node, servers, "n1")
    assert field in str(raised.value) and "servers" in str(raised.value)
    assert tree(tmp_path) == before


def test_empty_fsm_is_refused_with_the_reseed_advice(tmp_path):
    node = seeded(tmp_path)  # a configuration entry, no command: nothing to keep
    with pytest.raises(recovery.RecoverRefused, match="FSM is empty.*re-seed"):
        recovery.plan_recover(node, [N1], "n1")


def test_undecodable_commands_only_leave_an_empty_fsm(tmp_path):
    node = seeded(tmp_path)
    rec.append_entries(node, [(2, 2, raft.LOG_COMMAND, b"not ssz")], current_term=2)
    with pytest.raises(recovery.RecoverRefused, match="FSM is empty"):
        recovery.plan_recover(node, [N1], "n1")


def test_skipped_entries_are_warnings(tmp_path):
    node = ran(tmp_path)
    rec.append_entries(node, [(7, 2, raft.LOG_COMMAND, b"not ssz")])
    plan = recovery.plan_recover(node, [N1], "n1")
    assert plan.head()["block_number"] == 5 and (plan.snapshot.index, plan.snapshot.term) == (7, 2)
    assert len(plan.warnings) == 1 and "7" in plan.warnings[0]


@pytest.mark.parametrize("make", ["missing", "empty", "no-term"])
def test_no_existing_state_is_refused(tmp_path, make):
    node = str(tmp_path / "n1")
    if make != "missing":
        os.mkdir(node)
    if make == "no-term":  # both files, but no term, no entry, no snapshot
        for name in raft.DATABASE_FILES:
            with open(os.path.join(node, name), "wb") as handle:
                handle.write(bolt.build_database({raft.BUCKET_CONF: {}, raft.BUCKET_LOGS: {}}))
    before = tree(tmp_path)
    with pytest.raises(recovery.RecoverRefused, match="no existing Raft state|no Raft state here"):
        recovery.plan_recover(node, [N1], "n1")
    assert tree(tmp_path) == before


def test_a_damaged_log_is_refused(tmp_path):
    node = ran(tmp_path)
    path = os.path.join(node, raft.LOG_FILE)
    with open(path, "r+b") as handle:  # both meta pages: bbolt cannot open the file
        handle.write(b"\xff" * 8192)
    with pytest.raises(recovery.RecoverRefused, match="damaged"):
        recovery.plan_recover(node, [N1], "n1")


def test_a_snapshot_raft_cannot_restore_is_refused_as_go_fails(tmp_path):
    node = ran(tmp_path)
    nodes.write_snapshot(node, [N1], 2, 4, state=rec.envelope(3), crc=b"\0" * 8)
    with pytest.raises(FsmError, match="CRC"):
        recovery.plan_recover(node, [N1], "n1")


def test_a_failed_build_leaves_nothing_beside_the_node(tmp_path, monkeypatch):
    node = ran(tmp_path)
    before = tree(tmp_path)
    plan = recovery.plan_recover(node, [N1], "n1")

    def fail(*_args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(recovery, "_write_snapshot", fail)
    with pytest.raises(OSError):
        recovery.recover(node, plan, keep_old=True)
    assert tree(tmp_path) == before


def test_modes_and_owners_follow_the_node(tmp_path):
    node = ran(tmp_path)
    os.chmod(node, 0o750)
    os.chmod(os.path.join(node, raft.LOG_FILE), 0o640)
    os.chmod(os.path.join(node, raft.STABLE_FILE), 0o600)
    recovery.recover(node, recovery.plan_recover(node, [N1], "n1"), keep_old=False)
    assert os.stat(node).st_mode & 0o7777 == 0o750
    assert os.stat(os.path.join(node, raft.LOG_FILE)).st_mode & 0o7777 == 0o640
    assert os.stat(os.path.join(node, raft.STABLE_FILE)).st_mode & 0o7777 == 0o600
    snapshots = os.path.join(node, raft.SNAPSHOT_DIR)
    assert os.stat(snapshots).st_mode & 0o7777 == 0o755
    (only,) = os.listdir(snapshots)
    assert os.stat(os.path.join(snapshots, only)).st_mode & 0o7777 == 0o755


def test_go_json_escapes_as_encoding_json():
    assert recovery.go_json({"a": "<&>\u2028é"}) == '{"a":"\\u003c\\u0026\\u003e\\u2028é"}'.encode()


def test_the_page_size_of_the_log_is_kept(tmp_path):
    spec = nodes.loopback_spec(ids=("n1",), ports=[5001])
    node = nodes.write_node(tmp_path / "n1", spec, "n1", page_size=16384)
    rec.append_entries(node, rec.commands(2, 2, [1]), current_term=2)
    recovery.recover(node, recovery.plan_recover(node, [N1], "n1"), keep_old=False)
    assert node_state.read_node_state(node).page_size == 16384
