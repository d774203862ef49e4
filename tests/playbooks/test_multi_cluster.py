"""Issue 19 items 1 and 2 at the playbook level: several clusters in one inventory, one deploy run.

A parent group (sequencers) over one child group per cluster, each setting conductor_cluster_name. One run deploys
every cluster with its own membership (before the key, the run built one cluster out of all of them); a refusal in
one cluster leaves the others deployed, says so in one line per cluster at the end, and the run is red; a host
listed in two cluster groups is refused before anything of those two clusters is written."""

from __future__ import annotations

import json
import os
import shutil

from ansible_collections.opstack.conductor.plugins.module_utils._node_state import read_node_state
from ansible_collections.opstack.conductor.tests.support.fs import tree
from ansible_collections.opstack.conductor.tests.support.playbooks import cluster_summary, run_playbook, table


def inventory(tmp_path, clusters, name="hosts.yml", extra=None):
    """{cluster: [host, ...]} -> a YAML inventory: sequencers with one child group per cluster (the cluster key in
    its group vars), local hosts, state under tmp_path/hosts/<host>, backups under tmp_path/backups/<host>.
    ``extra``: {host: {var: value}}."""
    lines = ["all:", "  vars:", "    ansible_connection: local",
             '    ansible_python_interpreter: "{{ ansible_playbook_python }}"',
             '    conductor_storage_dir: "%s/hosts/{{ inventory_hostname }}"' % tmp_path,
             '    conductor_backup_dest: "%s/backups/{{ inventory_hostname }}"' % tmp_path,
             "  children:", "    sequencers:", "      children:"]
    port = 57700
    for cluster, hosts in clusters.items():
        lines += ["        %s:" % cluster, "          vars: {conductor_cluster_name: %s}" % cluster, "          hosts:"]
        for host in hosts:
            port += 1
            values = dict({"conductor_raft_address": "127.0.0.1:%d" % port}, **(extra or {}).get(host, {}))
            lines.append("            %s: %s" % (host, json.dumps(values)))
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def members(tmp_path, host):
    state = read_node_state(str(tmp_path / "hosts" / host / host))
    return sorted(server["id"] for server in state.latest_configuration.configuration.to_list())


def summary(run):
    """The end-of-run lines, {cluster: line}."""
    return cluster_summary(run.out)


TWO = {"op_a": ["a-1", "a-2", "a-3"], "op_b": ["b-1", "b-2", "b-3"]}
THREE = dict(TWO, op_c=["c-1", "c-2", "c-3"])


def test_one_run_deploys_two_clusters_each_with_its_own_membership(tmp_path):
    first = run_playbook(tmp_path, "-i", inventory(tmp_path, TWO), "opstack.conductor.deploy",
                         "-e", "conductor_group=sequencers")
    assert first.rc == 0, first
    for cluster, hosts in TWO.items():
        for host in hosts:
            assert members(tmp_path, host) == hosts, (host, first)
    assert summary(first) == {"op_a": "cluster op_a (3 hosts): changed", "op_b": "cluster op_b (3 hosts): changed"}
    again = run_playbook(tmp_path, "-i", inventory(tmp_path, TWO), "opstack.conductor.deploy")
    assert again.rc == 0 and again.changed_hosts == [], again
    assert summary(again) == {"op_a": "cluster op_a (3 hosts): ok", "op_b": "cluster op_b (3 hosts): ok"}


def test_a_refusal_in_one_cluster_leaves_the_others_deployed_and_the_run_red(tmp_path):
    # b-2's node directory is a file: its preflight fails, so nothing of op_b is written; op_a and op_c go on.
    (tmp_path / "hosts" / "b-2").mkdir(parents=True)
    (tmp_path / "hosts" / "b-2" / "b-2").write_text("not a node directory")
    run = run_playbook(tmp_path, "-i", inventory(tmp_path, THREE), "opstack.conductor.deploy")
    assert run.rc != 0, run
    for host in THREE["op_a"] + THREE["op_c"]:
        assert members(tmp_path, host) in (THREE["op_a"], THREE["op_c"]), (host, run)
    assert tree(tmp_path / "hosts" / "b-1") == {} and tree(tmp_path / "hosts" / "b-3") == {}, run
    assert run.recap["b-1"]["failed"] == run.recap["b-2"]["failed"] == run.recap["b-3"]["failed"] == 1, run
    assert all(run.recap[host]["failed"] == 0 and run.recap[host]["changed"] == 1
               for host in THREE["op_a"] + THREE["op_c"]), run
    lines = summary(run)
    assert lines["op_a"] == "cluster op_a (3 hosts): changed" and lines["op_c"] == "cluster op_c (3 hosts): changed"
    assert lines["op_b"].startswith("cluster op_b (3 hosts): FAILED on b-1, b-2, b-3: host b-1: Nothing was "
                                    "written, because these nodes would fail: host b-2: "), lines


def test_an_inventory_refusal_in_one_cluster_stops_that_cluster_only(tmp_path):
    extra = {"c-3": {"conductor_initial_term": 9}}
    run = run_playbook(tmp_path, "-i", inventory(tmp_path, THREE, extra=extra), "opstack.conductor.deploy")
    assert run.rc != 0, run
    assert not (tmp_path / "hosts" / "c-1").exists() and not (tmp_path / "hosts" / "c-3").exists(), run
    assert members(tmp_path, "a-1") == THREE["op_a"] and members(tmp_path, "b-3") == THREE["op_b"], run
    line = summary(run)["op_c"]
    assert line.startswith("cluster op_c (3 hosts): FAILED on c-1, c-2, c-3: host c-1: The inventory does not "
                           "describe a valid cluster (nothing was touched): cluster op_c host c-3: "
                           "conductor_initial_term='9', but this run uses '1' (from host c-1)"), line


def test_a_host_in_two_clusters_is_refused_before_any_write_of_either(tmp_path):
    path = inventory(tmp_path, THREE)
    text = open(path).read().replace("            b-1:", "            a-2: {}\n            b-1:", 1)
    open(path, "w").write(text)  # a-2 is listed in op_a and in op_b; its variables resolve to one cluster key
    run = run_playbook(tmp_path, "-i", path, "opstack.conductor.deploy")
    assert run.rc != 0, run
    for host in THREE["op_a"] + THREE["op_b"]:
        assert not (tmp_path / "hosts" / host).exists(), (host, run)
    assert [members(tmp_path, host) for host in THREE["op_c"]] == [THREE["op_c"]] * 3, run
    refusal = "host a-2 is listed in group op_a (cluster op_a of this run) but its conductor_cluster_name is 'op_b'"
    assert refusal in summary(run)["op_a"] and refusal in summary(run)["op_b"], run
    assert summary(run)["op_c"] == "cluster op_c (3 hosts): changed", run


def test_info_judges_each_cluster_on_its_own_and_a_damaged_one_fails_alone(tmp_path):
    path = inventory(tmp_path, TWO)
    assert run_playbook(tmp_path, "-i", path, "opstack.conductor.deploy").rc == 0
    info = run_playbook(tmp_path, "-i", path, "opstack.conductor.info")
    assert info.rc == 0, info  # each node in sync with its own cluster's membership, none with the other's
    rows = table(info, with_cluster=True)
    assert sorted((row[0], row[1]) for row in rows) == sorted(
        (cluster, host) for cluster, hosts in TWO.items() for host in hosts), rows
    assert summary(info) == {"op_a": "cluster op_a (3 hosts): ok", "op_b": "cluster op_b (3 hosts): ok"}, info

    (tmp_path / "hosts" / "b-2" / "b-2" / "raft-log.db").write_bytes(b"\0" * 4096)
    damaged = run_playbook(tmp_path, "-i", path, "opstack.conductor.info")
    assert damaged.rc != 0, damaged
    assert all(damaged.recap[host]["failed"] == 0 for host in TWO["op_a"]), damaged
    assert all(damaged.recap[host]["failed"] == 1 for host in TWO["op_b"]), damaged
    lines = summary(damaged)
    assert lines["op_a"] == "cluster op_a (3 hosts): ok", lines
    assert lines["op_b"].startswith("cluster op_b (3 hosts): FAILED on b-1, b-2, b-3: host b-1: corrupt or "
                                    "unreadable: b-2"), lines


def test_backup_and_restore_per_cluster_and_a_refused_restore_stops_its_cluster_only(tmp_path):
    path = inventory(tmp_path, TWO)
    assert run_playbook(tmp_path, "-i", path, "opstack.conductor.deploy").rc == 0
    backup = run_playbook(tmp_path, "-i", path, "opstack.conductor.backup", "-e", "conductor_backup_serial=100%")
    assert backup.rc == 0, backup
    assert summary(backup) == {"op_a": "cluster op_a (3 hosts): changed", "op_b": "cluster op_b (3 hosts): changed"}
    for cluster, hosts in TWO.items():
        for host in hosts:
            (made,) = os.listdir(tmp_path / "backups" / host)
            manifest = json.loads((tmp_path / "backups" / host / made / "manifest.json").read_text())
            assert sorted(member["id"] for member in manifest["membership"]) == hosts, (host, manifest)

    # a-1 and b-1 lost their state; b-2 has no backup, so op_b is refused as a whole and op_a is restored.
    shutil.rmtree(tmp_path / "hosts" / "a-1" / "a-1")
    shutil.rmtree(tmp_path / "hosts" / "b-1" / "b-1")
    shutil.rmtree(tmp_path / "backups" / "b-2")
    restore = run_playbook(tmp_path, "-i", path, "opstack.conductor.restore")
    assert restore.rc != 0, restore
    assert members(tmp_path, "a-1") == TWO["op_a"], restore
    assert not (tmp_path / "hosts" / "b-1" / "b-1").exists(), restore
    assert restore.changed_hosts == ["a-1"], restore
    lines = summary(restore)
    assert lines["op_a"] == "cluster op_a (3 hosts): changed", lines
    assert lines["op_b"].startswith("cluster op_b (3 hosts): FAILED on b-1, b-2, b-3: host b-1: Nothing was restored "
                                    "or pushed, because: host b-2: no backup of server b-2"), lines


def test_bring_up_over_the_parent_group_judges_and_starts_each_cluster_on_its_own(tmp_path):
    """bring_up over the parent group once drove both chains' conductors as one six-member cluster, then refused the
    group ("this playbook handles one cluster per run"); now (issue 19) it takes each cluster on its own. op_a's
    inventory is refused (a-3's address): none of op_a's conductors is started; op_b's pass the check and reach their
    start hooks (the hook leaves a mark; the RPC never answers here, so op_b fails later, waiting for it). State is
    already deployed, so the deploy role does not run. (Every host failed, so Ansible ends the run before the
    summary; test_fleet_live.py in tests/e2e shows the lines with a cluster that comes up.)"""
    marks = tmp_path / "started"
    marks.mkdir()
    extra = {host: {"conductor_rpc_url": "http://127.0.0.1:9/" + host, "conductor_wait_timeout": 2,
                    "conductor_request_timeout": 1,
                    "conductor_service_start_command": "touch %s/{{ inventory_hostname }}" % marks}
             for hosts in TWO.values() for host in hosts}
    extra["a-3"]["conductor_raft_address"] = "127.0.0.1:0080"
    path = inventory(tmp_path, TWO, extra=extra)
    for host in TWO["op_a"] + TWO["op_b"]:
        (tmp_path / "hosts" / host / host).mkdir(parents=True)
        (tmp_path / "hosts" / host / host / "raft-log.db").write_bytes(b"")
    run = run_playbook(tmp_path, "-i", path, "opstack.conductor.bring_up")
    assert run.rc != 0 and "form 2 clusters" not in run.out, run
    assert sorted(os.listdir(marks)) == TWO["op_b"], run
    assert "The inventory does not describe a valid cluster (nothing was touched): cluster op_a" in run.out, run
    assert "host a-3: conductor_raft_address='127.0.0.1:0080': port must be a number" in run.out, run
    assert "cluster op_b" not in run.out.split("Wait for op-conductor's RPC")[0], run  # op_b was not refused
    assert run.recap["b-1"]["failed"] == 1 and "Wait for op-conductor's RPC" in run.out, run
