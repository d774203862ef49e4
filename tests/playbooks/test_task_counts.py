"""Issue 15 item 2: the tasks each playbook runs per host, pinned (ansible-playbook's recap over three local hosts).

Every task costs Ansible's per-task overhead on every host, so a task that only computes belongs in a filter or a
task's vars, and a check that only computes belongs in a module. The cluster-wide dry run before any write stays:
for deploy that is two module runs per host (the preflight and the write). When a count here goes up, the new task
has to earn its place; when it goes down, lower the pin.

``ok`` counts every task that ran on the host (included files and role argument checks too); tasks that run once
(run_once) count on the first host only, so the first host is pinned apart from the others.
"""

from __future__ import annotations

from ansible_collections.opstack.conductor.tests.support.playbooks import (
    local_inventory, module_runs_per_host, run_playbook)

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
    # deploy per host: the role's argument check, its cluster's verdict with this host's own view of its variables, the
    # settings check (issue 17 item 5: the same op-conductor settings on every host), the preflight, the gate that
    # stops its cluster when a preflight of it failed, the write. The first host also builds every cluster's member
    # list. The gate is per host since issue 19 item 2 (+1 on the others): a run_once assert would stop every
    # cluster of the play; the cluster check and the self check are one task now (-1 on the first host).
    # The write runs only where the preflight found something to change, and where it did not the preflight's
    # result is recorded as conductor_raft_state instead (one task more, skipped on the other run: +1 skipped).
    deploy = {"seq-a": (8, 4), "seq-b": (6, 3), "seq-c": (6, 3)}
    first = run_playbook(tmp_path, "-i", inventory, "opstack.conductor.deploy", "-vvv")
    assert first.rc == 0 and first.changed_hosts == sorted(HOSTS), first
    assert _per_host(first) == deploy, first
    assert module_runs_per_host(first) == {host: 2 for host in HOSTS}, first  # the preflight and the write
    again = run_playbook(tmp_path, "-i", inventory, "opstack.conductor.deploy", "-vvv")
    assert again.rc == 0 and again.changed_hosts == [], again
    assert _per_host(again) == deploy, again
    # Issue 15: a rerun over deployed nodes is one module run per host (it was two: the write ran to say unchanged).
    assert module_runs_per_host(again) == {host: 1 for host in HOSTS}, again
    assert "cluster sequencers (3 hosts): ok" in again.out, again

    # info per host: the role's argument check, the mode's tasks, this host's own view of its variables and
    # raft_state_info (allow_missing: an absent node directory is a verdict, not an error, with no stat task before
    # it since issue 15). The first host judges and reports.
    # Every host skips the fleet view's write (issue 19 item 3) when no conductor_report_* path is set.
    info = run_playbook(tmp_path, "-i", inventory, "opstack.conductor.info")
    assert info.rc == 0, info
    # Issue 19 item 2: the first host's cluster check and self check are one task (-1 on seq-a), and every host
    # asserts on its own cluster's verdict (+1 on the others; a run_once assert would fail every cluster).
    assert _per_host(info) == {"seq-a": (9, 1), "seq-b": (5, 1), "seq-c": (5, 1)}, info


LIVE = {"seq-a": {"conductor_rpc_url": "http://127.0.0.1:9", "conductor_server_id": "n1"},
        "seq-b": {"conductor_rpc_url": "http://127.0.0.1:9", "conductor_member": False},
        "seq-c": {"conductor_rpc_url": "http://127.0.0.1:9", "conductor_suffrage": "nonvoter"}}

PRINT_CLUSTER = """- hosts: sequencers
  gather_facts: false
  tasks:
    - ansible.builtin.include_role: {name: opstack.conductor.conductor_cluster, tasks_from: nodes}
    - ansible.builtin.debug:
        msg: "CLUSTER {{ [conductor_nodes, conductor_servers, conductor_member_ids, conductor_leader_id] | to_json }}"
"""


def test_status_reads_the_cluster_once_and_every_host_sees_it(tmp_path):
    """The live roles' member list (conductor_cluster nodes.yml) is one task for the whole group, not two per host;
    every host of the play gets it. Conductors here do not answer (port 9): status still reports, as before."""
    import json
    inventory = local_inventory(tmp_path / "hosts.yml", LIVE)
    status = run_playbook(tmp_path, "-i", inventory, "opstack.conductor.status")
    assert status.rc == 0 and "unreachable: n1, seq-b, seq-c" in status.out, status
    # (+1 skipped per host: the fleet view's write, issue 19 item 3, with no conductor_report_* path set; the first
    # host runs one task fewer since status reads each cluster on its own: no set_fact of the one group's nodes)
    assert _per_host(status) == {"seq-a": (6, 2), "seq-b": (2, 2), "seq-c": (2, 2)}, status

    (tmp_path / "print.yml").write_text(PRINT_CLUSTER)
    printed = run_playbook(tmp_path, "-i", inventory, str(tmp_path / "print.yml"))
    seen = [json.loads(line.split("CLUSTER ", 1)[1].rstrip('"').replace('\\"', '"'))
            for line in printed.out.splitlines() if '"msg": "CLUSTER ' in line]
    assert len(seen) == 3 and seen[0] == seen[1] == seen[2], printed
    nodes, servers, member_ids, leader = seen[0]
    assert [n["id"] for n in nodes] == ["n1", "seq-b", "seq-c"]
    assert nodes[1] == {"id": "seq-b", "url": "http://127.0.0.1:9", "node_rpc_url": "http://seq-b:9545"}
    assert servers == [{"id": "n1", "address": "seq-a:50050", "suffrage": "voter"},
                       {"id": "seq-c", "address": "seq-c:50050", "suffrage": "nonvoter"}]
    assert member_ids == ["n1", "seq-c"] and leader == "n1"

    limited = run_playbook(tmp_path, "-i", inventory, "opstack.conductor.status", "--limit", "seq-a,seq-b")
    assert limited.rc != 0
    assert "hosts of sequencers missing from this play (--limit?): seq-c; live operations need every node" in limited.out


# Loaded first by every Python process of the run (PYTHONPATH), forked workers included: one line per process that
# imports a module of our plugin_utils through the import system (Python's "import" audit event).
AUDIT_IMPORTS = """import os, sys
def _hook(event, args):
    if event == "import" and str(args[0]).startswith("ansible_collections.opstack.conductor.plugins.plugin_utils"):
        with open(os.environ["OPSTACK_IMPORT_LOG"], "a") as log:
            log.write("%d %s\\n" % (os.getpid(), args[0]))
sys.addaudithook(_hook)
"""


def test_our_filter_and_action_plugins_are_imported_once_per_run(tmp_path):
    """Issue 15: ansible-playbook forks a worker per host and task, and a fresh worker imported every filter file of
    the collection to find one of our filters, and our action plugins when they ran: 24 processes imported our
    plugin_utils in a 7-host deploy. _group_guard.yml's first play calls opstack.conductor.preload in its name,
    which ansible-playbook's own process templates before any worker is forked: one process imports them, once."""
    (tmp_path / "audit").mkdir()
    (tmp_path / "audit" / "sitecustomize.py").write_text(AUDIT_IMPORTS)
    inventory = local_inventory(tmp_path / "hosts.yml", HOSTS, {
        "conductor_storage_dir": str(tmp_path / "hosts") + "/{{ inventory_hostname }}/raft",
        "conductor_backup_dest": str(tmp_path / "hosts") + "/{{ inventory_hostname }}/backups"})
    for playbook in ("deploy", "info", "backup"):  # our filters; raft_backup's action plugin
        log = tmp_path / ("%s.log" % playbook)
        run = run_playbook(tmp_path, "-i", inventory, "opstack.conductor." + playbook, env_extra={
            "PYTHONPATH": str(tmp_path / "audit"), "OPSTACK_IMPORT_LOG": str(log)})
        assert run.rc == 0, run
        lines = log.read_text().splitlines()
        assert any(line.endswith("plugin_utils._action") for line in lines), lines  # the action plugins' base
        assert len({line.split()[0] for line in lines}) == 1, (playbook, lines)
