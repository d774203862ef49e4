"""raft_recover, the module: results, check mode and diff, idempotence, and the refusals that must leave the disk
as it was (a running node, an empty FSM, a configuration without this node or without a voter, a second run at
once)."""

import fcntl
import os

import pytest

from ansible_collections.opstack.conductor.plugins.module_utils import _fs as fs
from ansible_collections.opstack.conductor.plugins.module_utils import _raft as raft
from ansible_collections.opstack.conductor.plugins.modules import raft_recover
from ansible_collections.opstack.conductor.tests.support import nodes
from ansible_collections.opstack.conductor.tests.support import recovery as rec
from ansible_collections.opstack.conductor.tests.support.fs import immutable, tree
from ansible_collections.opstack.conductor.tests.support.nonroot import run_module_as

N1 = {"id": "n1", "address": "127.0.0.1:5001"}
N2 = {"id": "n2", "address": "127.0.0.1:5002", "suffrage": "nonvoter"}


@pytest.fixture
def node(tmp_path):
    """n1 of a three-node cluster that has run: commands for blocks 1, 2, 3, 5, 4 at term 2."""
    spec = nodes.loopback_spec(ids=("n1", "n2", "n3"), ports=[5001, 5002, 5003])
    path = nodes.write_node(tmp_path / "storage" / "n1", spec, "n1")
    rec.append_entries(path, rec.commands(2, 2, [1, 2, 3, 5, 4]), current_term=2)
    return path


def storage(node):
    return os.path.dirname(node)


def test_recover_reports_the_head_and_the_new_snapshot(node, run_module):
    result = run_module(raft_recover.main, dict(path=node, servers=[N1, N2]))
    assert result["changed"] and result["action"] == "recover", result
    assert result["head"]["block_number"] == 5 and result["head"]["source"] == "log"
    assert (result["last_index"], result["last_term"]) == (6, 2)
    assert result["snapshot"].startswith("2-6-") and os.listdir(os.path.join(node, "snapshots")) == [result["snapshot"]]
    assert result["servers"] == [dict(N1, suffrage="voter"), N2]
    assert os.path.isdir(result["backup_dir"]) and result["removed_backups"] == []
    assert result["state"]["entries"] == 0 and result["state"]["latest_configuration"]["index"] == 1
    assert "recovered" in result["msg"] and "keeping head 5" in result["msg"] and result["backup_dir"] in result["msg"]
    again = run_module(raft_recover.main, dict(path=node, servers=[N1, N2]))
    assert not again["changed"] and again["action"] == "unchanged", again
    assert sorted(entry for entry in os.listdir(storage(node)) if not entry.startswith(".")) == \
        sorted(["n1", os.path.basename(result["backup_dir"])])


def test_check_mode_writes_nothing_and_shows_the_diff(node, run_module):
    before = tree(storage(node))
    result = run_module(raft_recover.main, dict(path=node, servers=[N1]), check_mode=True, diff=True)
    assert result["changed"] and result["action"] == "recover" and result["snapshot"] is None
    assert tree(storage(node)) == before
    diff = result["diff"]
    assert diff["before"]["servers"] == ["n1 127.0.0.1:5001 (voter)", "n2 127.0.0.1:5002 (voter)",
                                         "n3 127.0.0.1:5003 (voter)"]
    assert diff["after"]["servers"] == ["n1 127.0.0.1:5001 (voter)"]
    assert diff["before"]["head"] == diff["after"]["head"] and diff["after"]["head"]["block_number"] == 5
    assert (diff["before"]["last_index"], diff["after"]["last_index"]) == (6, 0)
    assert diff["after"]["snapshot_position"] == {"index": 6, "term": 2} and diff["after"]["snapshots"] == ["2-6-<ms>"]
    assert "would recover" in result["msg"]


def test_backup_false_keeps_nothing(node, run_module):
    result = run_module(raft_recover.main, dict(path=node, servers=[N1], backup=False))
    assert result["changed"] and "backup_dir" not in result and "was removed" in result["msg"]
    assert [entry for entry in os.listdir(storage(node)) if not entry.startswith(".")] == ["n1"]


def test_a_running_node_is_refused_and_untouched(node, run_module):
    before = tree(storage(node))
    fd = os.open(os.path.join(node, raft.LOG_FILE), os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as bbolt holds it while op-conductor runs
        result = run_module(raft_recover.main, dict(path=node, servers=[N1]))
    finally:
        os.close(fd)
    assert result["failed"] and result["locked"] and result["action"] == "refuse"
    assert "op-conductor is running on this node" in result["msg"] and "nothing was written" in result["msg"]
    assert tree(storage(node)) == before


@pytest.mark.parametrize("servers, says", [
    ([{"id": "n2", "address": "127.0.0.1:5002"}], "servers=['n2']: does not hold this node's server_id 'n1'"),
    ([dict(N1, suffrage="nonvoter")], "servers=['n1']: at least one server must be a voter"),
])
def test_bad_configurations_fail_naming_the_field(node, run_module, servers, says):
    before = tree(storage(node))
    result = run_module(raft_recover.main, dict(path=node, servers=servers))
    assert result["failed"] and says in result["msg"] and "nothing was written" in result["msg"], result["msg"]
    assert tree(storage(node)) == before


def test_an_empty_fsm_says_reseed(tmp_path, run_module):
    spec = nodes.loopback_spec(ids=("n1",), ports=[5001])
    node = nodes.write_node(tmp_path / "n1", spec, "n1")
    before = tree(tmp_path)
    result = run_module(raft_recover.main, dict(path=node, servers=[N1]))
    assert result["failed"] and result["action"] == "refuse"
    assert "FSM is empty" in result["msg"] and "re-seed" in result["msg"]
    assert tree(tmp_path) == before


def test_no_state_is_refused(tmp_path, run_module):
    result = run_module(raft_recover.main, dict(path=str(tmp_path / "n1"), servers=[N1]))
    assert result["failed"] and "no Raft state" in result["msg"]
    assert os.listdir(tmp_path) == []


def test_server_id_defaults_to_the_directory_name(tmp_path, run_module):
    spec = nodes.loopback_spec(ids=("n1",), ports=[5001])
    node = nodes.write_node(tmp_path / "seq-7", spec, "n1")
    rec.append_entries(node, rec.commands(2, 2, [1]), current_term=2)
    result = run_module(raft_recover.main, dict(path=node, servers=[N1]))
    assert result["failed"] and "server_id 'seq-7'" in result["msg"]
    assert run_module(raft_recover.main, dict(path=node, server_id="n1", servers=[N1]))["changed"]


def test_negative_keep_backups_is_refused(node, run_module):
    result = run_module(raft_recover.main, dict(path=node, servers=[N1], keep_backups=-1))
    assert result["failed"] and "keep_backups=-1" in result["msg"]


def test_a_second_run_at_once_is_refused(node, run_module, holder):
    """Another recovery (a real second process) holds the node's run lock: this one fails at once, naming it."""
    before = tree(storage(node))
    held = holder(fs.run_lock_path(node))
    result = run_module(raft_recover.main, dict(path=node, servers=[N1]))
    held.release()
    assert result["failed"] and "is busy" in result["msg"] and "PID %d" % held.pid in result["msg"]
    assert "raft_recover" in result["msg"]  # the holder may be another recovery: the message names it too
    assert tree(storage(node)) == before
    assert run_module(raft_recover.main, dict(path=node, servers=[N1]))["changed"]  # once it is done


def test_a_node_directory_that_cannot_be_moved_leaves_everything_as_it_was(node, run_module):
    """chattr +i on the node directory: the build succeeds, the swap cannot move the old directory (EPERM, on the
    exchange and on the fallback's rename). The run fails saying the previous state is in place, and nothing is
    left beside the node: no build, tagged or not."""
    before = tree(storage(node))
    with immutable(node):
        result = run_module(raft_recover.main, dict(path=node, servers=[N1]))
    assert result["failed"] and "the previous state is in place" in result["msg"], result["msg"]
    assert tree(storage(node)) == before


def test_an_immutable_storage_directory_fails_before_anything_is_written(node, run_module):
    before = tree(storage(node))
    with immutable(storage(node)):
        result = run_module(raft_recover.main, dict(path=node, servers=[N1]))
    assert result["failed"] and "run lock" in result["msg"], result["msg"]
    assert tree(storage(node)) == before


def _owned_by(path, user):
    for directory, dirs, files in os.walk(path):
        for name in [directory] + [os.path.join(directory, entry) for entry in dirs + files]:
            os.lchown(name, user.uid, user.gid)


def test_run_as_op_conductors_user_keeps_every_file_its_own(nonroot_users, shared_tmp):
    """As the user op-conductor runs as (owner of the storage directory): the recovered state, its snapshot and
    the kept directory all stay that user's; nothing is left root's or another user's."""
    (opc,) = nonroot_users("rco")
    spec = nodes.loopback_spec(ids=("n1",), ports=[5001])
    node = nodes.write_node(os.path.join(shared_tmp, "storage", "n1"), spec, "n1")
    rec.append_entries(node, rec.commands(2, 2, [1, 2]), current_term=2)
    _owned_by(os.path.join(shared_tmp, "storage"), opc)
    result = run_module_as(opc, "raft_recover", dict(path=node, servers=[N1, N2]))
    assert result["changed"] and not result.get("failed"), result
    for path, entry in tree(os.path.join(shared_tmp, "storage")).items():
        assert (entry.uid, entry.gid) == (opc.uid, opc.gid), path


def test_a_user_who_cannot_write_the_storage_directory_changes_nothing(nonroot_users, shared_tmp):
    """A deploy user without become: it may read the node (root's, world-readable here) but not write beside it;
    the run fails at the run lock, naming what to do, and nothing on disk changes."""
    (deploy,) = nonroot_users("rcd")
    spec = nodes.loopback_spec(ids=("n1",), ports=[5001])
    node = nodes.write_node(os.path.join(shared_tmp, "storage", "n1"), spec, "n1")
    rec.append_entries(node, rec.commands(2, 2, [1, 2]), current_term=2)
    for directory, _dirs, files in os.walk(os.path.join(shared_tmp, "storage")):
        os.chmod(directory, 0o755)
        for name in files:
            os.chmod(os.path.join(directory, name), 0o644)
    before = tree(storage(node))
    result = run_module_as(deploy, "raft_recover", dict(path=node, servers=[N1]))
    assert result["failed"] and "run lock" in result["msg"] and "root or as the node's owner" in result["msg"], result
    assert tree(storage(node)) == before
