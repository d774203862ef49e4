"""Issue 14 item 1 at the playbook level: the deploy role's "whole cluster validated before any host is touched"
step applies the modules' own rules (opstack.conductor.cluster_members calls module_utils). A 201-byte server ID,
an ID holding U+200B and the port 0080 used to pass that step and were refused only by a module's preflight; now
the step refuses them, all at once, naming each host and its inventory variable, and nothing is written."""

from __future__ import annotations

import os

from ansible_collections.opstack.conductor.tests.support.fs import tree
from ansible_collections.opstack.conductor.tests.support.playbooks import local_inventory, run_playbook

VALIDATION = "The inventory does not describe a valid cluster (nothing was touched)"


def deploy(tmp_path, hosts, *extra):
    root = tmp_path / "hosts"
    root.mkdir()
    inventory = local_inventory(tmp_path / "hosts.yml", hosts,
                                {"conductor_storage_dir": str(root) + "/{{ inventory_hostname }}"})
    before = tree(root)
    run = run_playbook(tmp_path, "-i", inventory, "opstack.conductor.deploy", *extra)
    assert tree(root) == before, "a host was written although the inventory is not a valid cluster"
    assert run.changed_hosts == [], run
    return run


def test_ids_and_ports_the_modules_refuse_are_refused_before_any_host_is_touched(tmp_path):
    long_id = "n" * 201
    run = deploy(tmp_path, {
        "seq-a": {"conductor_raft_address": "127.0.0.1:57301", "conductor_server_id": long_id},
        "seq-b": {"conductor_raft_address": "127.0.0.1:57302", "conductor_server_id": "seq\u200bb"},
        "seq-c": {"conductor_raft_address": "127.0.0.1:0080"},
    })
    assert run.rc != 0, run
    assert VALIDATION in run.out, run
    assert "Nothing was written, because these nodes would fail" not in run.out, run  # refused before the preflight
    assert "host seq-a: conductor_server_id='%s': longer than 200 bytes" % long_id in run.out, run
    assert "host seq-b: conductor_server_id=" in run.out and "U+200B" in run.out, run
    assert "host seq-c: conductor_raft_address='127.0.0.1:0080': port must be a number from 1 to 65535" in run.out, run


def test_duplicates_unresolvable_variables_and_a_foreign_leader_are_reported_together(tmp_path):
    run = deploy(tmp_path, {
        "seq-a": {"conductor_raft_address": "127.0.0.1:57311", "conductor_server_id": "node"},
        "seq-b": {"conductor_raft_address": "127.0.0.1:57312", "conductor_server_id": "NODE"},
        "seq-c": {"conductor_raft_address": "127.0.0.1:{{ no_such_port_variable }}"},
    }, "-e", "conductor_initial_leader=elsewhere")
    assert run.rc != 0, run
    assert VALIDATION in run.out, run
    assert "host seq-b: conductor_server_id='NODE' duplicates host seq-a's 'node'" in run.out, run
    assert "host seq-c: conductor_raft_address: cannot be resolved" in run.out, run
    assert "no_such_port_variable" in run.out, run
    assert "conductor_initial_leader='elsewhere': neither the server ID nor the host name" in run.out, run


def test_bring_up_checks_the_cluster_before_it_starts_any_conductor(tmp_path):
    # State already deployed (so bring_up does not run the deploy role, which would judge the inventory itself):
    # the old bring_up checked only the initial leader and started every conductor with an address the modules
    # refuse. The start hook leaves a mark; with the check, no hook runs.
    root = tmp_path / "hosts"
    marks = tmp_path / "started"
    marks.mkdir()
    hosts = {"seq-a": {"conductor_raft_address": "127.0.0.1:57321"},
             "seq-b": {"conductor_raft_address": "127.0.0.1:57322"},
             "seq-c": {"conductor_raft_address": "127.0.0.1:0080"}}
    for host in hosts:
        (root / host / host).mkdir(parents=True)
        (root / host / host / "raft-log.db").write_bytes(b"")
    inventory = local_inventory(tmp_path / "hosts.yml", hosts, {
        "conductor_storage_dir": str(root) + "/{{ inventory_hostname }}",
        "conductor_rpc_url": "http://127.0.0.1:9/{{ inventory_hostname }}",
        "conductor_service_start_command": "touch %s/{{ inventory_hostname }}" % marks,
        "conductor_wait_timeout": 2, "conductor_request_timeout": 1})
    run = run_playbook(tmp_path, "-i", inventory, "opstack.conductor.bring_up")
    assert run.rc != 0, run
    assert VALIDATION in run.out, run
    assert "host seq-c: conductor_raft_address='127.0.0.1:0080': port must be a number from 1 to 65535" in run.out, run
    assert sorted(os.listdir(marks)) == [], "a conductor was started although the inventory is not a valid cluster"

    # The same inventory with a valid address passes the check and reaches the start hooks (the RPC never answers
    # here, so the run fails later, waiting for it).
    hosts["seq-c"]["conductor_raft_address"] = "127.0.0.1:57323"
    inventory = local_inventory(tmp_path / "hosts.yml", hosts, {
        "conductor_storage_dir": str(root) + "/{{ inventory_hostname }}",
        "conductor_rpc_url": "http://127.0.0.1:9/{{ inventory_hostname }}",
        "conductor_service_start_command": "touch %s/{{ inventory_hostname }}" % marks,
        "conductor_wait_timeout": 2, "conductor_request_timeout": 1})
    started = run_playbook(tmp_path, "-i", inventory, "opstack.conductor.bring_up")
    assert VALIDATION not in started.out and sorted(os.listdir(marks)) == sorted(hosts), started
