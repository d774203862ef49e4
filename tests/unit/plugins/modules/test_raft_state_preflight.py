"""raft_state preflight (issue 13 item 4): the dry run before any node of a cluster is written proves that this
node can be written, by making and removing a probe beside it (check mode, which never writes, asks os.access and
statvfs only). Run as root against an immutable storage directory and as unprivileged users."""

import os

from ansible_collections.opstack.conductor.plugins.modules import raft_state
from ansible_collections.opstack.conductor.tests.support.nonroot import add_to_group, run_module_as
from ansible_collections.opstack.conductor.tests.support.nodes import args
from ansible_collections.opstack.conductor.tests.support.fs import immutable


def test_preflight_probes_and_leaves_nothing(tmp_path, run_module):
    storage = tmp_path / "raft"
    storage.mkdir()
    result = run_module(raft_state.main, args(storage / "seq-1", preflight=True))
    assert not result.get("failed") and result["action"] == "create" and result["changed"]
    assert result["probe"]["method"] == "probe" and result["probe"]["directory"] == str(storage)
    assert result["probe"]["free_bytes"] >= result["probe"]["needed_bytes"] > 2 * 16384
    assert os.listdir(str(storage)) == []
    # Nothing to write: nothing to probe.
    run_module(raft_state.main, args(storage / "seq-1"))
    unchanged = run_module(raft_state.main, args(storage / "seq-1", preflight=True))
    assert unchanged["action"] == "unchanged" and "probe" not in unchanged
    assert os.listdir(str(storage)) == ["seq-1"]


def test_an_immutable_storage_directory_fails_the_preflight_even_as_root(tmp_path, run_module):
    storage = tmp_path / "raft"
    storage.mkdir()
    with immutable(storage):
        real = run_module(raft_state.main, args(storage / "seq-1"))
        assert real["failed"] and "Operation not permitted" in real["msg"]  # what the dry run has to predict
        preflight = run_module(raft_state.main, args(storage / "seq-1", preflight=True))
        assert preflight["failed"] and preflight["action"] == "create", preflight
        assert "cannot write in %s: [Errno 1] Operation not permitted" % storage in preflight["msg"]
        assert "nothing was written" in preflight["msg"]
        for extra in ({}, dict(preflight=True)):  # under --check the role's preflight runs in check mode too
            checked = run_module(raft_state.main, args(storage / "seq-1", **extra), check_mode=True)
            assert checked["failed"] and "(os.access; check mode makes no probe)" in checked["msg"]
            assert checked["probe"]["method"] == "access"
    assert os.listdir(str(storage)) == []


def test_a_storage_path_under_a_regular_file_fails_the_preflight(tmp_path, run_module):
    (tmp_path / "srv").write_text("not a directory")
    node = tmp_path / "srv" / "raft" / "seq-1"
    real = run_module(raft_state.main, args(node))
    assert real["failed"]
    for extra in (dict(preflight=True), {}):
        result = run_module(raft_state.main, args(node, **extra), check_mode=not extra)
        # Whichever check sees it first (the node's read or the probe), the run stops naming the path.
        assert result["failed"] and "not a directory" in result["msg"].lower(), result
        assert str(tmp_path / "srv") in result["msg"], result
    assert os.listdir(str(tmp_path)) == ["srv"]


def test_a_read_only_storage_directory_fails_the_preflight_as_its_user(nonroot_users, shared_tmp):
    (deploy,) = nonroot_users("pfdeploy")
    storage = os.path.join(shared_tmp, "raft")
    os.mkdir(storage)
    os.chown(storage, deploy.uid, deploy.gid)
    os.chmod(storage, 0o500)
    node = os.path.join(storage, "seq-1")
    real = run_module_as(deploy, "raft_state", args(node))
    assert real["failed"] and "Permission denied" in real["msg"], real
    preflight = run_module_as(deploy, "raft_state", args(node, preflight=True))
    assert preflight["failed"] and "cannot write in %s: [Errno 13] Permission denied" % storage in preflight["msg"]
    checked = run_module_as(deploy, "raft_state", args(node), check_mode=True)
    assert checked["failed"] and "is not writable by uid %d" % deploy.uid in checked["msg"], checked
    assert os.listdir(storage) == []


def test_the_probe_sees_a_chown_the_real_run_could_not_make(nonroot_users, shared_tmp):
    """os.access says yes (the storage directory is group-writable for the deploy user), but the new files are
    owned like the storage directory, by another user, and an unprivileged chown fails: only the probe sees it."""
    deploy, opc = nonroot_users("pfdeploy", "pfopc")
    add_to_group(deploy, opc.group)
    storage = os.path.join(shared_tmp, "raft")
    os.mkdir(storage)
    os.chown(storage, opc.uid, opc.gid)
    os.chmod(storage, 0o770)
    node = os.path.join(storage, "seq-1")
    checked = run_module_as(deploy, "raft_state", args(node), check_mode=True)
    assert not checked.get("failed") and checked["probe"]["method"] == "access", checked
    preflight = run_module_as(deploy, "raft_state", args(node, preflight=True))
    assert preflight["failed"] and "Operation not permitted" in preflight["msg"], preflight
    real = run_module_as(deploy, "raft_state", args(node))
    assert real["failed"] and "Operation not permitted" in real["msg"], real
    assert os.listdir(storage) == []
