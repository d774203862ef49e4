"""A node the module cannot read is never taken for absent or unlocked (issue 13, item 1).

As the role deploys it, op-conductor's node directory is ``0750 opc:opc``, and the deploy user (here without
``become``) can write the storage directory through its group but cannot search the node directory. A real Raft
node (the oracle's ``cluster --hold``) holds the files. Every module run as the deploy user must fail with a clear
message, and the node directory (inode, owner, mode, files) must be exactly as it was, with no ``~`` copy and no
staging leftover beside it.
"""

import json
import os
import stat

import pytest

from ansible_collections.opstack.conductor.tests.support.nonroot import add_to_group, run_module_as


def _snapshot(node):
    """What must not change: the directory's identity, owner and mode, and each entry's identity."""
    info = os.lstat(node)
    entries = {}
    for top, dirs, files in os.walk(node):
        for name in dirs + files:
            path = os.path.join(top, name)
            entry = os.lstat(path)
            entries[os.path.relpath(path, node)] = (entry.st_ino, entry.st_uid, entry.st_gid, entry.st_mode)
    return (info.st_dev, info.st_ino, info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)), entries


def _assert_refused_unreadable(what, result, node):
    assert result.get("failed"), (what, result)
    assert result.get("changed") is False, (what, result)
    assert node in result["msg"] and "Permission denied" in result["msg"] and "EACCES" in result["msg"], (what, result)
    assert "become" in result["msg"], (what, result)  # says what to do about it
    assert result.get("exists") is not False and result.get("locked") is not False, (what, result)
    assert result.get("action") in (None, "refuse"), (what, json.dumps(result)[:2000])


@pytest.mark.parametrize("access", ["no search", "group member"])
def test_unreadable_running_node_is_never_replaced(oracle, run_module, ports, nonroot_users, shared_tmp, access):
    """"no search": the deploy user cannot enter the node directory at all; "group member": it is in opc's group,
    so it can list the directory (0750) but not open the databases (0600, as bbolt makes them)."""
    from ansible_collections.opstack.conductor.plugins.modules import raft_backup, raft_state

    deploy, opc = nonroot_users("deploy", "opc")
    if access == "group member":
        add_to_group(deploy, opc.name)
    storage = os.path.join(shared_tmp, "raft")
    os.mkdir(storage)
    node = os.path.join(storage, "n1")
    first, second = ports(2)
    membership = [{"id": "n1", "address": "127.0.0.1:%d" % first}]
    other = [{"id": "n1", "address": "127.0.0.1:%d" % second}]
    assert run_module(raft_state.main, dict(path=node, server_id="n1", servers=membership))["changed"]
    backups = os.path.join(shared_tmp, "backups")
    made = run_module(raft_backup.main, dict(path=node, dest=backups))
    assert not made.get("failed"), made
    for top, dirs, files in os.walk(backups):  # the deploy user's own backup (taken before the node ran)
        for name in [top] + [os.path.join(top, entry) for entry in dirs + files]:
            os.chown(name, deploy.uid, deploy.gid)

    with oracle.ClusterHold("v2_3_1", {"n1": node}, "--apply", 2, hold=120, ready_timeout=60) as ready:
        assert ready["ready"], ready
        for top, dirs, files in os.walk(node):  # as the role makes it: opc:opc, the directory 0750
            for name in [top] + [os.path.join(top, entry) for entry in dirs + files]:
                os.chown(name, opc.uid, opc.gid)
        os.chmod(node, 0o750)
        os.chown(storage, 0, deploy.gid)  # the deploy user's group may write the storage directory
        os.chmod(storage, 0o770)
        before = _snapshot(node)
        storage_before = sorted(os.listdir(storage))

        runs = {
            "same membership": run_module_as(deploy, "raft_state", dict(path=node, server_id="n1",
                                                                        servers=membership)),
            "other membership": run_module_as(deploy, "raft_state", dict(path=node, server_id="n1",
                                                                         servers=other)),
            "older backup": run_module_as(deploy, "raft_restore", dict(src=made["backup_path"], path=node)),
            "info": run_module_as(deploy, "raft_state_info", dict(path=node)),
            "backup": run_module_as(deploy, "raft_backup", dict(path=node, dest=os.path.join(backups, "more"))),
            "check mode": run_module_as(deploy, "raft_state", dict(path=node, server_id="n1", servers=other),
                                        check_mode=True),
        }
        after = _snapshot(node)
        storage_after = sorted(os.listdir(storage))
    for what, result in runs.items():
        _assert_refused_unreadable(what, result, node)
    assert after == before, "the node directory changed under the running node"
    assert storage_after == storage_before == ["n1"], storage_after  # no '~' copy, no staging leftover
