"""Every playbook that runs on an inventory group fails, saying how to name the group, when conductor_group matches
no host (a typo, or conductor_group set in the inventory, which a play's hosts: line cannot see), instead of
skipping every play with rc 0. The local modes (a state directory on the controller, no group) keep working."""

from __future__ import annotations

import os
import sys

import pytest

from ansible_collections.opstack.conductor.tests.support.playbooks import REPO, local_inventory, run_playbook

HOSTS = {"seq-a": {"conductor_raft_address": "127.0.0.1:57361"},
         "seq-b": {"conductor_raft_address": "127.0.0.1:57362"}}
GROUP_PLAYBOOKS = ["backup", "bring_up", "deploy", "info", "membership", "override", "recover", "restore",
                   "rolling_restart", "status"]
HOW = "-e conductor_group=<group>"


def test_every_group_playbook_is_covered():
    # A new playbook must either import _group_guard.yml or be a controller-only one like generate.
    names = sorted(n[:-4] for n in os.listdir(os.path.join(REPO, "playbooks"))
                   if n.endswith(".yml") and not n.startswith("_"))
    assert names == sorted(GROUP_PLAYBOOKS + ["generate"])
    for name in GROUP_PLAYBOOKS:
        with open(os.path.join(REPO, "playbooks", name + ".yml")) as handle:
            text = handle.read()
        plays = [line for line in text.splitlines() if line.startswith("- ")]
        # the guard is the first entry, so that nothing runs before it
        assert plays[0] == "- name: Stop unless the plays below target at least one host", (name, plays)
        assert "  ansible.builtin.import_playbook: _group_guard.yml\n" in text, name


@pytest.mark.parametrize("name", GROUP_PLAYBOOKS)
def test_a_group_that_matches_no_host_fails_with_how_to_name_it(tmp_path, name):
    root = tmp_path / "hosts"
    inventory = local_inventory(tmp_path / "hosts.yml", HOSTS,
                                {"conductor_storage_dir": str(root) + "/{{ inventory_hostname }}"})
    run = run_playbook(tmp_path, "-i", inventory, "opstack.conductor." + name, "-e", "conductor_group=sequencer")
    assert run.rc != 0, run
    assert "sequencer matches no host, so nothing would be deployed, changed or checked" in run.out, run
    assert HOW in run.out and "Groups in this inventory: sequencers." in run.out, run
    assert not root.exists(), "a play ran on some host"


def test_conductor_group_set_in_the_inventory_is_named_with_the_fix(tmp_path):
    # The operator put conductor_group in group_vars: the plays still look for 'sequencers', which does not exist.
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all:\n  vars:\n    conductor_group: conductors\n  children:\n    conductors:\n      hosts:\n"
                         "        seq-a: {ansible_connection: local}\n")
    run = run_playbook(tmp_path, "-i", str(inventory), "opstack.conductor.deploy", "--check")
    assert run.rc != 0, run
    assert "sequencers matches no host" in run.out, run
    assert "conductor_group is set in the inventory (conductors), but an inventory variable cannot choose a " \
           "play's hosts" in run.out, run
    assert "Pass -e conductor_group=conductors." in run.out, run


def test_an_inventory_conductor_group_other_than_the_plays_group_fails(tmp_path):
    # 'sequencers' exists, so the plays have hosts, but the roles would build the cluster from 'conductors'.
    root = tmp_path / "hosts"
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all:\n  vars:\n    conductor_group: conductors\n    ansible_connection: local\n"
                         "    conductor_storage_dir: %s/{{ inventory_hostname }}\n  children:\n"
                         "    sequencers:\n      hosts:\n        seq-a: {conductor_raft_address: '127.0.0.1:57363'}\n"
                         "    conductors:\n      hosts:\n        seq-a:\n        seq-b: {conductor_raft_address: "
                         "'127.0.0.1:57364'}\n" % root)
    run = run_playbook(tmp_path, "-i", str(inventory), "opstack.conductor.deploy")
    assert run.rc != 0, run
    assert "The plays run on sequencers, but the inventory sets conductor_group=conductors on some of those " \
           "hosts" in run.out, run
    assert "Pass -e conductor_group=conductors." in run.out, run
    assert not root.exists(), "a play ran on some host"
    ok = run_playbook(tmp_path, "-i", str(inventory), "opstack.conductor.deploy", "--check",
                      "-e", "conductor_group=conductors", "-e", "ansible_python_interpreter=" + sys.executable)
    assert ok.rc == 0 and ok.changed_hosts == ["seq-a", "seq-b"], ok


def test_a_limit_outside_the_group_fails_too(tmp_path):
    inventory = local_inventory(tmp_path / "hosts.yml", HOSTS)
    (tmp_path / "other.yml").write_text("all:\n  children:\n    others:\n      hosts:\n        elsewhere: {}\n")
    run = run_playbook(tmp_path, "-i", inventory, "-i", str(tmp_path / "other.yml"), "opstack.conductor.info",
                       "--limit", "elsewhere")
    assert run.rc != 0, run
    assert "sequencers matches no host within --limit elsewhere" in run.out, run


def test_local_modes_need_no_group(tmp_path):
    # No inventory at all, and a conductor_group that matches nothing: the local modes run on the controller.
    state = tmp_path / "raft-state"
    gen = run_playbook(tmp_path, "opstack.conductor.generate", "-e", "nodes=127.0.0.1:57371,127.0.0.1:57372",
                       "-e", "server_ids=n1,n2", "-e", "initial_leader=n1", "-e", "output_dir=" + str(state))
    assert gen.rc == 0, gen
    typo = ("-e", "conductor_group=no-such-group")
    info = run_playbook(tmp_path, "opstack.conductor.info", "-e", "conductor_state_dir=" + str(state), *typo)
    assert info.rc == 0, info
    backup = run_playbook(tmp_path, "opstack.conductor.backup", "-e", "state_dir=" + str(state),
                          "-e", "backup_dir=" + str(tmp_path / "backups"), *typo)
    assert backup.rc == 0, backup
    (folder,) = os.listdir(tmp_path / "backups")
    restore = run_playbook(tmp_path, "opstack.conductor.restore", "-e", "state_dir=" + str(state),
                           "-e", "backup_dir=" + str(tmp_path / "backups" / folder), *typo)
    assert restore.rc == 0, restore
    assert "matches no host" not in info.out + backup.out + restore.out
