"""Issue 15 item 2: the tasks each playbook runs per host, pinned (ansible-playbook's recap over three local hosts).

Every task costs Ansible's per-task overhead on every host, so a task that only computes belongs in a filter or a
task's vars, and a check that only computes belongs in a module. The cluster-wide dry run before any write stays:
for deploy that is two module runs per host (the preflight and the write). When a count here goes up, the new task
has to earn its place; when it goes down, lower the pin.

``ok`` counts every task that ran on the host (included files and role argument checks too); tasks that run once
(run_once) count on the first host only, so the first host is pinned apart from the others.
"""

from __future__ import annotations

from ansible_collections.opstack.conductor.tests.support.playbooks import local_inventory, run_playbook

HOSTS = {"seq-a": {"conductor_raft_address": "127.0.0.1:57471"},
         "seq-b": {"conductor_raft_address": "127.0.0.1:57472"},
         "seq-c": {"conductor_raft_address": "127.0.0.1:57473"}}


def _per_host(run):
    """{host: (ok, skipped)} of the cluster's hosts (localhost, where _group_guard checks, left out)."""
    skipped = {}
    for line in run.out.splitlines():
        if "skipped=" in line and line.split()[0] in HOSTS:
            skipped[line.split()[0]] = int(line.split("skipped=")[1].split()[0])
    return {host: (run.recap[host]["ok"], skipped[host]) for host in HOSTS}


def test_deploy_and_info_run_only_the_tasks_they_need(tmp_path):
    inventory = local_inventory(tmp_path / "hosts.yml", HOSTS,
                                {"conductor_storage_dir": str(tmp_path / "hosts") + "/{{ inventory_hostname }}"})
    # deploy per host: the role's argument check, this host's own view of its variables, the preflight, the write.
    # The first host also builds and judges the member list and stops the run when any preflight failed.
    deploy = {"seq-a": (8, 3), "seq-b": (4, 2), "seq-c": (4, 2)}
    first = run_playbook(tmp_path, "-i", inventory, "opstack.conductor.deploy")
    assert first.rc == 0 and first.changed_hosts == sorted(HOSTS), first
    assert _per_host(first) == deploy, first
    again = run_playbook(tmp_path, "-i", inventory, "opstack.conductor.deploy")
    assert again.rc == 0 and again.changed_hosts == [], again
    assert _per_host(again) == deploy, again

    # info per host: the role's argument check, the mode's tasks, this host's own view of its variables, a stat of the
    # node directory (absent is a verdict, not an error) and raft_state_info. The first host judges and reports.
    info = run_playbook(tmp_path, "-i", inventory, "opstack.conductor.info")
    assert info.rc == 0, info
    assert _per_host(info) == {"seq-a": (12, 0), "seq-b": (5, 0), "seq-c": (5, 0)}, info
