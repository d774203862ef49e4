"""The chain in the backup and restore playbooks (issue 19 item 4): backups made with conductor_network record it,
and a restore on an inventory of another chain is refused before anything is pushed or changed, naming both
chains; the same restore with the backup's chain goes through."""

from __future__ import annotations

import json
import os
import shutil

from ansible_collections.opstack.conductor.tests.support.fs import tree
from ansible_collections.opstack.conductor.tests.support.nodes import has_run
from ansible_collections.opstack.conductor.tests.support.playbooks import local_inventory, run_playbook

HOSTS = {"seq-a": {"conductor_raft_address": "127.0.0.1:57761"},
         "seq-b": {"conductor_raft_address": "127.0.0.1:57762"},
         "seq-c": {"conductor_raft_address": "127.0.0.1:57763"}}
SERVERS = [{"id": host, "address": hostvars["conductor_raft_address"]} for host, hostvars in HOSTS.items()]


def test_a_backup_of_one_chain_is_refused_on_another_and_nothing_changes(tmp_path):
    root = tmp_path / "hosts"
    hosts = local_inventory(tmp_path / "hosts.yml", HOSTS, {
        "conductor_storage_dir": str(root) + "/{{ inventory_hostname }}/raft",
        "conductor_backup_dest": str(root) + "/{{ inventory_hostname }}/backups",
        "conductor_backup_fetch_dir": str(tmp_path / "controller"),
        "conductor_initial_leader": "seq-a", "conductor_network": "chain-a"})
    assert run_playbook(tmp_path, "-i", hosts, "opstack.conductor.deploy").rc == 0
    node_b = root / "seq-b" / "raft" / "seq-b"
    has_run(str(node_b), SERVERS)
    made = run_playbook(tmp_path, "-i", hosts, "opstack.conductor.backup", "-e", "conductor_backup_serial=100%")
    assert made.rc == 0, made
    (backup,) = [name for name in os.listdir(root / "seq-b" / "backups") if name.startswith("raft-backup-")]
    recorded = json.loads((root / "seq-b" / "backups" / backup / "manifest.json").read_text())
    assert recorded["cluster"]["network"] == "chain-a"

    shutil.rmtree(node_b)  # seq-b lost its state: a restore would write it
    before = tree(tmp_path)
    refused = run_playbook(tmp_path, "-i", hosts, "opstack.conductor.restore", "-e", "conductor_network=chain-b")
    assert refused.rc != 0, refused
    assert "Nothing was restored or pushed, because:" in refused.out, refused
    assert "the backup is of network 'chain-a', the node's network is 'chain-b'" in refused.out, refused
    assert tree(tmp_path) == before

    restored = run_playbook(tmp_path, "-i", hosts, "opstack.conductor.restore")  # the inventory's chain-a
    assert restored.rc == 0, restored
    assert restored.changed_hosts == ["seq-b"], restored
