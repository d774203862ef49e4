"""Issue 14 item 1 at the playbook level: the deploy role's "whole cluster validated before any host is touched"
step applies the modules' own rules (opstack.conductor.cluster_members calls module_utils). A 201-byte server ID,
an ID holding U+200B and the port 0080 used to pass that step and were refused only by a module's preflight; now
the step refuses them, all at once, naming each host and its inventory variable, and nothing is written."""

from __future__ import annotations

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
