"""Item 16's configuration problems are what Raft reads, not damaged files: a node holding such a configuration
(a cluster op-conductor-init v0.1.6 made with --server-ids s1,s1,s3) can still be backed up before it is re-seeded,
and its backup verifies and restores faithfully; raft_state_info and raft_state still report it as a problem."""

import os

from ansible_collections.opstack.conductor.plugins.modules import raft_backup, raft_backup_info, raft_restore
from ansible_collections.opstack.conductor.plugins.modules import raft_state_info
from ansible_collections.opstack.conductor.tests.support.nodes import (REJECTED, configuration,
                                                                       write_configuration_node)


def test_a_node_with_a_configuration_raft_rejects_is_backed_up_and_restored(tmp_path, run_module):
    servers, needle = REJECTED["duplicate-id"]
    node = write_configuration_node(tmp_path / "raft" / "s1", [(1, configuration(servers))])
    made = run_module(raft_backup.main, dict(path=node, dest=str(tmp_path / "backups")))
    assert made.get("changed") and not made.get("failed"), made.get("msg")
    described = run_module(raft_backup_info.main, dict(path=made["backup_path"]))
    assert described["newest"] == made["backup_path"], described
    target = str(tmp_path / "other" / "s1")
    restored = run_module(raft_restore.main, dict(src=made["backup_path"], path=target))
    assert restored.get("changed") and not restored.get("failed"), restored.get("msg")
    for name in ("raft-log.db", "raft-stable.db"):
        with open(os.path.join(node, name), "rb") as a, open(os.path.join(target, name), "rb") as b:
            assert a.read() == b.read()
    info = run_module(raft_state_info.main, dict(path=target))
    assert not info["integrity"]["ok"] and needle in info["msg"], info["msg"]


def test_a_backup_with_damaged_files_still_does_not_verify(tmp_path, run_module):
    servers, _needle = REJECTED["duplicate-id"]
    node = write_configuration_node(tmp_path / "raft" / "s1", [(1, configuration(servers))])
    with open(os.path.join(node, "raft-stable.db"), "r+b") as handle:
        handle.write(b"\xff" * 8192)
    refused = run_module(raft_backup.main, dict(path=node, dest=str(tmp_path / "backups")))
    assert refused.get("failed") and "raft-stable.db" in refused["msg"], refused.get("msg")


def test_a_node_no_one_can_elect_is_still_damage_for_backups(tmp_path, run_module):
    servers, _needle = REJECTED["no-voter"]
    node = write_configuration_node(tmp_path / "raft" / "s1", [(1, configuration(servers))])
    refused = run_module(raft_backup.main, dict(path=node, dest=str(tmp_path / "backups")))
    assert refused.get("failed") and "has no voter" in refused["msg"], refused.get("msg")
