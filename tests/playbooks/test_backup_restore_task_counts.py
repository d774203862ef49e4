"""Issue 15 item 2: the backup and restore playbooks run the tasks they need per host and no more (the preflight's
listing, choice, verification, hashing and judgement folded into the action plugins of raft_backup_info and
raft_restore; fetch, verify and rename one task). Counted as the benchmark (B6) counts: the recap's ok plus
failed per inventory host, skipped tasks apart, the busiest host (the one run_once tasks ran on).

Before the cut (3 local hosts): backup with fetch 20-27 per host, restore of one wiped node 29-44; after it 5-12
and 11-24. The bounds below are the counts after it; a task added back to either playbook fails this test."""

import os
import re
import shutil

from ansible_collections.opstack.conductor.tests.support.nodes import has_run
from ansible_collections.opstack.conductor.tests.support.playbooks import local_inventory, run_playbook

HOSTS = {"seq-a": {"conductor_raft_address": "127.0.0.1:57681"},
         "seq-b": {"conductor_raft_address": "127.0.0.1:57682"},
         "seq-c": {"conductor_raft_address": "127.0.0.1:57683"}}
SERVERS = [{"id": host, "address": hostvars["conductor_raft_address"]} for host, hostvars in HOSTS.items()]
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=\d+\s+unreachable=\d+\s+failed=(\d+)", re.MULTILINE)
MOST_TASKS = {"backup fetch": 12, "restore": 24}


def tasks_per_host(run):
    return {host: int(ok) + int(failed) for host, ok, failed in RECAP.findall(run.out) if host != "localhost"}


def test_backup_and_restore_run_no_more_tasks_per_host_than_they_need(tmp_path):
    root = tmp_path / "hosts"
    hosts = local_inventory(tmp_path / "hosts.yml", HOSTS, {
        "conductor_storage_dir": str(root) + "/{{ inventory_hostname }}/raft",
        "conductor_backup_dest": str(root) + "/{{ inventory_hostname }}/backups",
        "conductor_backup_fetch_dir": str(tmp_path / "controller"), "conductor_initial_leader": "seq-a"})
    assert run_playbook(tmp_path, "-i", hosts, "opstack.conductor.deploy").rc == 0
    has_run(root / "seq-b" / "raft" / "seq-b", SERVERS)
    counted = {}
    backup = run_playbook(tmp_path, "-i", hosts, "opstack.conductor.backup", "-e", "conductor_backup_fetch=true",
                          "-e", "conductor_backup_serial=100%")
    assert backup.rc == 0, backup
    counted["backup fetch"] = tasks_per_host(backup)
    shutil.rmtree(root / "seq-b" / "raft" / "seq-b")
    restore = run_playbook(tmp_path, "-i", hosts, "opstack.conductor.restore")
    assert restore.rc == 0 and os.path.isdir(root / "seq-b" / "raft" / "seq-b"), restore
    counted["restore"] = tasks_per_host(restore)
    for playbook, per_host in counted.items():
        assert sorted(per_host) == sorted(HOSTS), (playbook, per_host)
        assert max(per_host.values()) <= MOST_TASKS[playbook], (playbook, per_host)
