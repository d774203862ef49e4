"""raft_state through AnsibleModule: every branch of the decision, check mode, diff, and what stays on disk."""

import fcntl
import json
import os

import pytest

from ansible_collections.opstack.conductor.plugins.module_utils import _bbolt as bolt
from ansible_collections.opstack.conductor.plugins.module_utils import _raft as raft
from ansible_collections.opstack.conductor.plugins.modules import raft_state, raft_state_info
from ansible_collections.opstack.conductor.tests.support.fs import tree
from ansible_collections.opstack.conductor.tests.support.nodes import SERVERS, args, has_run


def test_create_then_unchanged(tmp_path, run_module):
    node = tmp_path / "raft" / "seq-1"
    first = run_module(raft_state.main, args(node))
    assert first["changed"] and first["action"] == "create"
    assert first["state"]["latest_configuration"]["servers"][0]["id"] == "seq-1"
    assert first["state"]["last_vote_candidate"] == "seq-1"
    for name in (raft.LOG_FILE, raft.STABLE_FILE):
        assert oct(os.stat(str(node / name)).st_mode & 0o777) == "0o600"
        assert bolt.check_file(str(node / name)).ok
    assert oct(os.stat(str(node)).st_mode & 0o777) == "0o750"
    again = run_module(raft_state.main, args(node), diff=True)
    assert not again["changed"] and again["action"] == "unchanged" and "diff" not in again
    assert os.listdir(str(tmp_path / "raft")) == ["seq-1"]


def test_check_mode_writes_nothing_and_predicts(tmp_path, run_module):
    (tmp_path / "keep").mkdir()
    before = tree(tmp_path)
    result = run_module(raft_state.main, args(tmp_path / "missing" / "parent" / "seq-1"), check_mode=True, diff=True)
    assert result["changed"] and result["action"] == "create"
    assert result["diff"]["before"] == {} and result["diff"]["after"]["servers"][0] == "seq-1 10.0.0.1:50050 (voter)"
    assert tree(tmp_path) == before


def test_check_mode_on_existing_different_state_refuses_like_the_real_run(tmp_path, run_module):
    node = tmp_path / "seq-1"
    run_module(raft_state.main, args(node))
    before = tree(tmp_path)
    other = [dict(s, address=s["address"].replace("50050", "60060")) for s in SERVERS]
    for check_mode in (True, False):
        result = run_module(raft_state.main, args(node, servers=other), check_mode=check_mode)
        assert result["failed"] and "different membership" in result["msg"]
        assert "10.0.0.1:50050" in result["msg"] and "10.0.0.1:60060" in result["msg"]
    assert tree(tmp_path) == before
    predicted = run_module(raft_state.main, args(node, servers=other, force=True), check_mode=True)
    assert predicted["changed"] and predicted["action"] == "replace" and tree(tmp_path) == before


def test_force_keeps_a_backup_and_leaves_no_stale_state(tmp_path, run_module):
    node = tmp_path / "seq-1"
    run_module(raft_state.main, args(node))
    (node / "snapshots" / "1-5-123").mkdir(parents=True)
    (node / "snapshots" / "1-5-123" / "meta.json").write_text("{}")
    old = tree(node)
    other = SERVERS + [{"id": "seq-4", "address": "10.0.0.4:50050"}]
    result = run_module(raft_state.main, args(node, servers=other, force=True), diff=True)
    assert result["changed"] and result["action"] == "replace"
    assert tree(result["backup_dir"]) == old
    assert sorted(os.listdir(str(node))) == [raft.LOG_FILE, raft.STABLE_FILE]
    assert len(result["state"]["latest_configuration"]["servers"]) == 4
    assert "seq-4 10.0.0.4:50050 (voter)" in result["diff"]["after"]["servers"]
    leftovers = [n for n in os.listdir(str(tmp_path)) if "opstack" in n]
    assert leftovers == []


def test_force_without_backup(tmp_path, run_module):
    node = tmp_path / "seq-1"
    run_module(raft_state.main, args(node))
    result = run_module(raft_state.main, args(node, term=5, force=True, backup=False))
    assert result["changed"] and "backup_dir" not in result
    assert os.listdir(str(tmp_path)) == ["seq-1"]
    assert result["state"]["current_term"] == 5


def _make_live(node):
    """What a node looks like after it ran: a new term and more entries, same membership."""
    has_run(node, SERVERS, term=3, entries=39, snapshot=False, data=b"x" * 100)


def test_live_state_with_same_membership_is_left_alone(tmp_path, run_module):
    node = tmp_path / "seq-1"
    run_module(raft_state.main, args(node))
    _make_live(node)
    before = tree(tmp_path)
    result = run_module(raft_state.main, args(node, mode="0640"))
    assert not result["changed"] and result["action"] == "live"
    assert "already initialised" in result["msg"] and "left alone" in result["msg"]
    assert tree(tmp_path) == before
    reordered = list(reversed(SERVERS))
    assert run_module(raft_state.main, args(node, servers=reordered))["action"] == "live"


def test_half_written_state_is_repaired_or_refused(tmp_path, run_module):
    node = tmp_path / "seq-1"
    run_module(raft_state.main, args(node))
    os.unlink(str(node / raft.STABLE_FILE))
    result = run_module(raft_state.main, args(node))
    assert result["changed"] and result["action"] == "repair"
    assert result["state"]["current_term"] == 1 and "backup_dir" in result
    os.unlink(str(node / raft.LOG_FILE))
    other = run_module(raft_state.main, args(node, term=2))  # the lone stable file says term 1
    assert other["failed"] and not (node / raft.LOG_FILE).exists()


def test_leftovers_of_an_interrupted_run_are_cleaned(tmp_path, run_module):
    node = tmp_path / "seq-1"
    run_module(raft_state.main, args(node))
    staging = tmp_path / ".seq-1.opstack-new-abc"
    staging.mkdir()
    (staging / raft.LOG_FILE).write_bytes(b"partial")
    predicted = run_module(raft_state.main, args(node), check_mode=True)
    assert predicted["changed"] and predicted["action"] == "unchanged" and staging.exists()
    assert predicted["recovered"]["removed"] == [str(staging)]
    result = run_module(raft_state.main, args(node))
    assert result["changed"] and result["recovered"]["removed"] == [str(staging)]
    assert not staging.exists()
    assert not run_module(raft_state.main, args(node))["changed"]


def test_moved_aside_live_state_is_put_back(tmp_path, run_module):
    node = tmp_path / "seq-1"
    run_module(raft_state.main, args(node))
    _make_live(node)
    aside = tmp_path / ".seq-1.opstack-old-abc"
    os.rename(str(node), str(aside))  # a crash between the two renames of the fallback path
    result = run_module(raft_state.main, args(node), check_mode=True)
    assert result["changed"] and result["action"] == "live" and aside.exists() and not node.exists()
    result = run_module(raft_state.main, args(node))
    assert result["changed"] and result["action"] == "live"
    assert result["recovered"]["restored"] == str(aside)
    assert result["state"]["last_index"] == 39  # the live state, not a fresh one


def test_locked_node_is_never_written(tmp_path, run_module):
    node = tmp_path / "seq-1"
    run_module(raft_state.main, args(node))
    before = tree(tmp_path)
    fd = os.open(str(node / raft.LOG_FILE), os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = run_module(raft_state.main, args(node, term=9, force=True))
        assert result["failed"] and "op-conductor is running" in result["msg"] and result["locked"]
        same = run_module(raft_state.main, args(node))
        assert not same["changed"] and same["locked"]
        info = run_module(raft_state_info.main, dict(path=str(node)))
        assert info["locked"] and "best effort" in info["integrity"]["warnings"][0]
    finally:
        os.close(fd)
    assert tree(tmp_path) == before


@pytest.mark.parametrize("bad,needle", [
    (dict(server_id="../etc"), "server_id='../etc'"),
    (dict(server_id="seq-9"), "server_id='seq-9'"),
    (dict(initial_leader="nobody"), "initial_leader='nobody'"),
    (dict(term=0), "term=0"),
    (dict(servers=SERVERS + [{"id": "SEQ-1", "address": "h:1"}]), "duplicates"),
    (dict(servers=SERVERS + [{"id": "seq-4", "address": "10.0.0.1:50050"}]), "already used by seq-1"),
    (dict(servers=[{"id": "seq-1", "address": "no-port"}]), "servers[0].address='no-port'"),
])
def test_bad_input_names_field_and_value_and_touches_nothing(tmp_path, run_module, bad, needle):
    before = tree(tmp_path)
    result = run_module(raft_state.main, args(tmp_path / "seq-1", **bad))
    assert result["failed"] and needle in result["msg"]
    assert tree(tmp_path) == before


def test_symlinked_node_directory_is_refused(tmp_path, run_module):
    (tmp_path / "elsewhere").mkdir()
    os.symlink(str(tmp_path / "elsewhere"), str(tmp_path / "seq-1"))
    result = run_module(raft_state.main, args(tmp_path / "seq-1"))
    assert result["failed"] and "symlink" in result["msg"]
    assert os.listdir(str(tmp_path / "elsewhere")) == []


def test_even_cluster_warns(tmp_path, run_module):
    result = run_module(raft_state.main, args(tmp_path / "seq-1", servers=SERVERS[:2]))
    assert result["changed"] and "even number of voters" in json.dumps(result["warnings"])


def test_damaged_state_is_refused_then_replaced_with_force(tmp_path, run_module):
    node = tmp_path / "seq-1"
    run_module(raft_state.main, args(node))
    with open(str(node / raft.LOG_FILE), "r+b") as handle:
        handle.truncate(100)
    result = run_module(raft_state.main, args(node))
    assert result["failed"] and "damaged" in result["msg"]
    result = run_module(raft_state.main, args(node, force=True))
    assert result["changed"] and result["state"]["integrity"]["ok"]
    assert os.path.getsize(os.path.join(result["backup_dir"], raft.LOG_FILE)) == 100


def test_mode_change_on_equal_state_is_reported_and_applied(tmp_path, run_module):
    node = tmp_path / "seq-1"
    run_module(raft_state.main, args(node))
    predicted = run_module(raft_state.main, args(node, mode="0640"), check_mode=True, diff=True)
    assert predicted["changed"] and oct(os.stat(str(node / raft.LOG_FILE)).st_mode & 0o777) == "0o600"
    result = run_module(raft_state.main, args(node, mode="0640"))
    assert result["changed"] and oct(os.stat(str(node / raft.LOG_FILE)).st_mode & 0o777) == "0o640"
    assert not run_module(raft_state.main, args(node, mode="0640"))["changed"]


def test_info_reports_drift_and_refuses_missing_path(tmp_path, run_module):
    node = tmp_path / "seq-1"
    run_module(raft_state.main, args(node))
    expected = SERVERS[:2] + [{"id": "seq-3", "address": "10.0.0.3:50051"}, {"id": "seq-4", "address": "h:1"}]
    info = run_module(raft_state_info.main, dict(path=str(node), expected_servers=expected))
    assert not info["changed"] and info["integrity"]["ok"] and not info["locked"]
    assert info["drift"]["missing"] == ["seq-4"] and info["drift"]["changed"][0]["id"] == "seq-3"
    assert not info["drift"]["in_sync"]
    assert run_module(raft_state_info.main, dict(path=str(node), expected_servers=SERVERS))["drift"]["in_sync"]
    missing = run_module(raft_state_info.main, dict(path=str(tmp_path / "nope")))
    assert missing["failed"] and not (tmp_path / "nope").exists()


def test_info_warns_when_the_node_is_not_in_its_own_configuration(tmp_path, run_module):
    run_module(raft_state.main, args(tmp_path / "seq-1"))
    assert not run_module(raft_state_info.main, dict(path=str(tmp_path / "seq-1")))["integrity"]["warnings"]
    os.rename(str(tmp_path / "seq-1"), str(tmp_path / "seq-9"))
    for params in (dict(path=str(tmp_path / "seq-9")), dict(path=str(tmp_path / "seq-9"), server_id="seq-7")):
        info = run_module(raft_state_info.main, params)
        assert info["integrity"]["ok"] and "is not in the newest configuration" in info["integrity"]["warnings"][0]
        assert repr(params.get("server_id", "seq-9")) in info["integrity"]["warnings"][0]
    info = run_module(raft_state_info.main, dict(path=str(tmp_path / "seq-9"), server_id="seq-2"))
    assert not info["integrity"]["warnings"]


def test_info_warns_about_an_address_the_others_cannot_dial(tmp_path, run_module):
    """Found by fuzzing: a changed byte dropped a port; bbolt, raft-boltdb and our decoder all read the entry."""
    node = tmp_path / "seq-1"
    run_module(raft_state.main, args(node))
    log_path = str(node / raft.LOG_FILE)
    content = bolt.read_database(log_path)
    entry = raft.decode_log(content[raft.BUCKET_LOGS][raft.uint64_key(1)])
    broken = raft.Configuration((raft.Server("seq-1", "10.0.0.1"),) + raft.decode_configuration(entry.data).servers[1:])
    content[raft.BUCKET_LOGS][raft.uint64_key(1)] = raft.encode_log(entry._replace(
        data=raft.encode_configuration(broken)))
    os.remove(log_path)
    with open(log_path, "wb") as handle:
        handle.write(bolt.build_database(content))
    info = run_module(raft_state_info.main, dict(path=str(node)))
    assert info["integrity"]["ok"] and info["integrity"]["warnings"] == [
        "configuration server 'seq-1': address '10.0.0.1': must be host:port (as raft's TCP transport dials "
        "it); the other nodes may not reach it"]
