"""Issue 17 item 5 at the playbook level: op-conductor's Raft and health settings come from the inventory, must be the
same on every host of the cluster, and are written to an environment file the service reads. A deploy, a bring-up
(and a membership run) with settings that differ is refused before anything is written - no Raft state, no
environment file, no conductor started - and the failure names every differing setting with each host's value. The
settings entry point writes the file idempotently, with its owner and mode, and only shows the change in check mode."""

from __future__ import annotations

import json
import os
import stat

from ansible_collections.opstack.conductor.tests.support.fs import tree
from ansible_collections.opstack.conductor.tests.support.playbooks import local_inventory, run_playbook

REFUSED = "op-conductor settings refused (nothing was written)"
HOSTS = {"seq-a": {"conductor_raft_address": "127.0.0.1:57481"},
         "seq-b": {"conductor_raft_address": "127.0.0.1:57482"},
         "seq-c": {"conductor_raft_address": "127.0.0.1:57483"}}
SETTINGS_PLAY = """- hosts: sequencers
  gather_facts: false
  tasks:
    - ansible.builtin.include_role: {name: opstack.conductor.conductor_cluster, tasks_from: settings}
"""


def mixed_hosts():
    """Every host sets the same settings but seq-b (round-robin off) and seq-c (another snapshot interval, and no
    paused start)."""
    hosts = {host: dict(values, conductor_raft_round_robin_leader_transfer=True, conductor_paused_start=True,
                        conductor_raft_snapshot_interval="120s") for host, values in HOSTS.items()}
    hosts["seq-b"]["conductor_raft_round_robin_leader_transfer"] = False
    hosts["seq-c"]["conductor_raft_snapshot_interval"] = "60s"
    del hosts["seq-c"]["conductor_paused_start"]
    return hosts


def inventory(tmp_path, hosts, **group_vars):
    root = tmp_path / "hosts"
    root.mkdir(exist_ok=True)
    for host in hosts:
        (root / host / "etc").mkdir(parents=True, exist_ok=True)
    base = {"conductor_storage_dir": str(root) + "/{{ inventory_hostname }}/raft",
            "conductor_env_file": str(root) + "/{{ inventory_hostname }}/etc/op-conductor.env"}
    base.update(group_vars)
    return local_inventory(tmp_path / "hosts.yml", hosts, base), root


def assert_names_every_difference(run):
    assert run.rc != 0, run
    assert REFUSED in run.out, run
    assert ("conductor_raft_round_robin_leader_transfer (OP_CONDUCTOR_RAFT_ROUND_ROBIN_LEADER_TRANSFER) differs "
            "across the cluster: seq-a=true, seq-b=false, seq-c=true") in run.out, run
    assert ("conductor_raft_snapshot_interval (OP_CONDUCTOR_RAFT_SNAPSHOT_INTERVAL) differs across the cluster: "
            "seq-a=120s, seq-b=120s, seq-c=60s") in run.out, run
    assert ("conductor_paused_start (OP_CONDUCTOR_PAUSED) differs across the cluster: seq-a=true, seq-b=true, "
            "seq-c=unset (op-conductor's default: false)") in run.out, run


def test_deploy_with_settings_that_differ_is_refused_before_anything_is_written(tmp_path):
    hosts_yml, root = inventory(tmp_path, mixed_hosts())
    before = tree(root)
    run = run_playbook(tmp_path, "-i", hosts_yml, "opstack.conductor.deploy")
    assert_names_every_difference(run)
    assert "Nothing was written, because these nodes would fail" not in run.out, run  # refused before the preflight
    assert tree(root) == before, "a host was written although its settings differ from the others'"
    assert run.changed_hosts == [], run


def test_bring_up_with_settings_that_differ_starts_nothing_and_writes_no_file(tmp_path):
    # State already deployed, so bring_up does not run the deploy role (which judges the settings itself): the
    # refusal comes from the conductor_cluster role before the settings file is written or a start hook runs.
    marks = tmp_path / "started"
    marks.mkdir()
    hosts_yml, root = inventory(tmp_path, mixed_hosts(), **{
        "conductor_rpc_url": "http://127.0.0.1:9/{{ inventory_hostname }}",
        "conductor_service_start_command": "touch %s/{{ inventory_hostname }}" % marks,
        "conductor_wait_timeout": 2, "conductor_request_timeout": 1})
    for host in HOSTS:
        (root / host / "raft" / host).mkdir(parents=True)
        (root / host / "raft" / host / "raft-log.db").write_bytes(b"")
    before = tree(root)
    run = run_playbook(tmp_path, "-i", hosts_yml, "opstack.conductor.bring_up")
    assert_names_every_difference(run)
    assert tree(root) == before, "a settings file was written although the settings differ"
    assert sorted(os.listdir(marks)) == [], "a conductor was started although the settings differ"


def test_the_settings_file_is_written_with_its_owner_and_mode_idempotently_and_not_in_check_mode(tmp_path):
    hosts = {host: dict(values, conductor_raft_snapshot_interval="30s", conductor_raft_trailing_logs=2048,
                        conductor_paused_start=True) for host, values in HOSTS.items()}
    hosts["seq-b"]["conductor_raft_snapshot_interval"] = "30000ms"  # the same duration, written another way
    hosts_yml, root = inventory(tmp_path, hosts, conductor_env_file_mode="0640")
    (tmp_path / "settings.yml").write_text(SETTINGS_PLAY)
    play = str(tmp_path / "settings.yml")

    dry = run_playbook(tmp_path, "-i", hosts_yml, play, "--check", "--diff")
    assert dry.rc == 0 and dry.changed_hosts == sorted(HOSTS), dry
    assert "+OP_CONDUCTOR_RAFT_SNAPSHOT_INTERVAL=30s" in dry.out, dry
    assert not any((root / host / "etc" / "op-conductor.env").exists() for host in HOSTS), "check mode wrote"

    first = run_playbook(tmp_path, "-i", hosts_yml, play)
    assert first.rc == 0 and first.changed_hosts == sorted(HOSTS), first
    text = (root / "seq-a" / "etc" / "op-conductor.env").read_text()
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert lines == ["OP_CONDUCTOR_RAFT_SNAPSHOT_INTERVAL=30s", "OP_CONDUCTOR_RAFT_TRAILING_LOGS=2048",
                     "OP_CONDUCTOR_PAUSED=true"]
    assert "OP_CONDUCTOR_RAFT_SNAPSHOT_INTERVAL=30000ms" in (root / "seq-b" / "etc" / "op-conductor.env").read_text()
    info = os.stat(root / "seq-c" / "etc" / "op-conductor.env")
    assert stat.S_IMODE(info.st_mode) == 0o640 and info.st_uid == 0 and info.st_gid == 0

    again = run_playbook(tmp_path, "-i", hosts_yml, play)
    assert again.rc == 0 and again.changed_hosts == [], again


def test_settings_without_a_file_or_unknown_to_the_pinned_op_conductor_are_refused(tmp_path):
    hosts = {host: dict(values, conductor_reorg_recovery=True) for host, values in HOSTS.items()}
    hosts["seq-c"]["conductor_healthcheck_interval"] = 5
    hosts["seq-b"]["conductor_raft_trailing_logs"] = "{{ no_such_variable }}"
    hosts_yml, root = inventory(tmp_path, hosts, conductor_env_file="")
    (tmp_path / "settings.yml").write_text(SETTINGS_PLAY)
    before = tree(root)
    run = run_playbook(tmp_path, "-i", hosts_yml, str(tmp_path / "settings.yml"))
    assert run.rc != 0 and REFUSED in run.out, run
    assert "conductor_reorg_recovery on seq-a, seq-b, seq-c: set to true, but op-conductor v1.19.0 reads no" in run.out
    assert "seq-c sets conductor_healthcheck_interval, but conductor_env_file is empty" in run.out, run
    assert "conductor_raft_trailing_logs on seq-b: cannot be resolved" in run.out and "no_such_variable" in run.out
    assert tree(root) == before


def two_clusters(tmp_path, extra):
    """sequencers with a child group per cluster (issue 19's key, conductor_cluster_name, in its group vars); local
    hosts, state and settings file under tmp_path/hosts/<host>. ``extra``: {host: {var: value}}."""
    root = tmp_path / "hosts"
    lines = ["all:", "  vars:", "    ansible_connection: local",
             '    ansible_python_interpreter: "{{ ansible_playbook_python }}"',
             '    conductor_storage_dir: "%s/{{ inventory_hostname }}/raft"' % root,
             '    conductor_env_file: "%s/{{ inventory_hostname }}/etc/op-conductor.env"' % root,
             "  children:", "    sequencers:", "      children:"]
    for number, (cluster, hosts) in enumerate({"op_a": ["a-1", "a-2", "a-3"], "op_b": ["b-1", "b-2", "b-3"]}.items()):
        lines += ["        %s:" % cluster, "          vars: {conductor_cluster_name: %s}" % cluster, "          hosts:"]
        for index, host in enumerate(hosts):
            (root / host / "etc").mkdir(parents=True)
            values = dict({"conductor_raft_address": "127.0.0.1:%d" % (57490 + 3 * number + index)}, **extra[host])
            lines.append("            %s: %s" % (host, json.dumps(values)))
    (tmp_path / "hosts.yml").write_text("\n".join(lines) + "\n")
    return str(tmp_path / "hosts.yml"), root


def test_settings_are_judged_per_cluster_and_a_refused_cluster_stops_only_itself(tmp_path):
    # op_a is uniform (10), op_b is not (b-2 has 21); the clusters differ from each other, which is allowed.
    extra = {host: {"conductor_raft_trailing_logs": 10} for host in ("a-1", "a-2", "a-3")}
    extra.update({"b-1": {"conductor_raft_trailing_logs": 20}, "b-2": {"conductor_raft_trailing_logs": 21},
                  "b-3": {"conductor_raft_trailing_logs": 20}})
    hosts_yml, root = two_clusters(tmp_path, extra)
    run = run_playbook(tmp_path, "-i", hosts_yml, "opstack.conductor.deploy", "-e", "conductor_group=sequencers")
    assert run.rc != 0, run
    assert ("conductor_raft_trailing_logs (OP_CONDUCTOR_RAFT_TRAILING_LOGS) differs across the cluster: b-1=20, "
            "b-2=21, b-3=20") in run.out, run
    assert "a-1=10" not in run.out, run
    assert all((root / host / "raft" / host / "raft-log.db").exists() for host in ("a-1", "a-2", "a-3")), run
    assert not any((root / host / "raft").exists() for host in ("b-1", "b-2", "b-3")), run

    (tmp_path / "settings.yml").write_text(SETTINGS_PLAY)
    written = run_playbook(tmp_path, "-i", hosts_yml, str(tmp_path / "settings.yml"))
    assert written.rc != 0 and written.changed_hosts == ["a-1", "a-2", "a-3"], written
    assert "OP_CONDUCTOR_RAFT_TRAILING_LOGS=10\n" in (root / "a-3" / "etc" / "op-conductor.env").read_text()
    assert not any((root / host / "etc" / "op-conductor.env").exists() for host in ("b-1", "b-2", "b-3"))
