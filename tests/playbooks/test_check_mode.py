"""`ansible-playbook opstack.conductor.deploy --check --diff` is a true dry run: nothing changes on disk (not even
directories on a fresh host), and it reports exactly the hosts the real run then changes."""

from __future__ import annotations

import os

from ansible_collections.opstack.conductor.tests.support.fs import tree
from ansible_collections.opstack.conductor.tests.support.playbooks import local_inventory, run_playbook

HOSTS = {"seq-a": {"conductor_raft_address": "127.0.0.1:57261"},
         "seq-b": {"conductor_raft_address": "127.0.0.1:57262"},
         "seq-c": {"conductor_raft_address": "127.0.0.1:57263", "conductor_suffrage": "nonvoter"}}


def test_check_mode_is_a_dry_run_that_predicts_the_real_run(tmp_path):
    root = tmp_path / "hosts"
    root.mkdir()
    inventory = local_inventory(tmp_path / "hosts.yml", HOSTS,
                                {"conductor_storage_dir": str(root) + "/{{ inventory_hostname }}/raft"})

    def deploy(*args):
        return run_playbook(tmp_path, "-i", inventory, "opstack.conductor.deploy", *args)

    def check_then_apply(expected_changed, *args):
        before = tree(root)
        dry = deploy("--check", "--diff", *args)
        assert dry.rc == 0, dry
        assert tree(root) == before, "check mode changed the disk"
        assert dry.changed_hosts == expected_changed, dry
        real = deploy("--diff", *args)
        assert real.rc == 0, real
        assert real.changed_hosts == dry.changed_hosts, real
        return dry

    # Fresh hosts: the storage directories do not exist yet, check mode must neither fail nor create them.
    dry = check_then_apply(["seq-a", "seq-b", "seq-c"])
    assert dry.out.count("(decoded Raft state)") == 6  # a before and an after header per host
    assert sorted(os.listdir(root)) == ["seq-a", "seq-b", "seq-c"]

    # Nothing to do: both report no change.
    check_then_apply([])

    # One node lost its state: only that host changes.
    node = root / "seq-b" / "raft" / "seq-b"
    for name in os.listdir(node):
        os.unlink(node / name)
    os.rmdir(node)
    check_then_apply(["seq-b"])

    # A new term with force: every node is replaced, and only the real run keeps backups.
    dry = check_then_apply(["seq-a", "seq-b", "seq-c"], "-e", "conductor_initial_term=2",
                           "-e", "conductor_force=true")
    assert '+    "current_term": 2,' in dry.out
    for host in HOSTS:
        assert len([n for n in os.listdir(root / host / "raft") if n.endswith("~")]) == 1

    # A mode change on one file is predicted and applied like content changes.
    os.chmod(root / "seq-c" / "raft" / "seq-c" / "raft-log.db", 0o644)
    check_then_apply(["seq-c"], "-e", "conductor_initial_term=2")


def test_refusal_in_check_mode_fails_like_the_real_run_and_touches_nothing(tmp_path):
    root = tmp_path / "hosts"
    root.mkdir()
    inventory = local_inventory(tmp_path / "hosts.yml", HOSTS,
                                {"conductor_storage_dir": str(root) + "/{{ inventory_hostname }}/raft"})
    assert run_playbook(tmp_path, "-i", inventory, "opstack.conductor.deploy").rc == 0
    before = tree(root)
    for extra in (["--check"], []):
        run = run_playbook(tmp_path, "-i", inventory, "opstack.conductor.deploy", "-e", "conductor_initial_term=5",
                           *extra)
        assert run.rc != 0, run
        assert "Nothing was written, because these nodes would fail" in run.out
        assert tree(root) == before
