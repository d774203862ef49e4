"""Issue 13 item 12 through the playbooks: generate (op-conductor-init's --initial-term) and the deploy role
refuse an initial term above 2^63-1 before anything is written (the cluster could not elect from it)."""

from __future__ import annotations

from ansible_collections.opstack.conductor.tests.support.fs import tree
from ansible_collections.opstack.conductor.tests.support.playbooks import local_inventory, run_playbook

TOO_HIGH = str((1 << 64) - 1)


def test_generate_refuses_a_term_that_cannot_elect(tmp_path):
    out = tmp_path / "out"
    run = run_playbook(tmp_path, "opstack.conductor.generate", "-e", "nodes=127.0.0.1:57171,127.0.0.1:57172",
                       "-e", "server_ids=t1,t2", "-e", "initial_leader=t1", "-e", "initial_term=" + TOO_HIGH,
                       "-e", "output_dir=" + str(out))
    assert run.rc != 0, run
    assert "initial_term=%s" % TOO_HIGH in run.out and "2^63-1" in run.out, run
    assert not out.exists()


def test_deploy_refuses_a_term_that_cannot_elect(tmp_path):
    root = tmp_path / "hosts"
    root.mkdir()
    inventory = local_inventory(tmp_path / "hosts.yml", {"t1": {"conductor_raft_address": "127.0.0.1:57181"}},
                                {"conductor_storage_dir": str(root) + "/{{ inventory_hostname }}/raft"})
    before = tree(root)
    run = run_playbook(tmp_path, "-i", inventory, "opstack.conductor.deploy",
                       "-e", "conductor_initial_term=" + TOO_HIGH)
    assert run.rc != 0, run
    assert "conductor_initial_term=%s" % TOO_HIGH in run.out and "2^63-1" in run.out, run
    assert tree(root) == before
