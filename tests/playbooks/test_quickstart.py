"""docs/quickstart.md and its example inventory stay true: the SSH inventory parses into a 3-host group the
playbooks target, and every conductor_* variable they name is one the roles document (meta/argument_specs.yml)."""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess

from ansible_collections.opstack.conductor.tests.support.playbooks import REPO, ansible_env, run_playbook, tool

EXAMPLE = os.path.join(REPO, "examples", "inventory", "ssh-hosts.yml.example")
QUICKSTART = os.path.join(REPO, "docs", "quickstart.md")


def _example(tmp_path) -> str:
    path = tmp_path / "hosts.yml"  # the .example suffix keeps linters away; Ansible's yaml plugin wants .yml
    shutil.copyfile(EXAMPLE, path)
    return str(path)


def test_example_inventory_parses_into_three_ssh_hosts_with_become(tmp_path):
    proc = subprocess.run([tool("ansible-inventory"), "-i", _example(tmp_path), "--list"], capture_output=True,
                          text=True, timeout=120, check=False, env=ansible_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    inventory = json.loads(proc.stdout)
    assert sorted(inventory["sequencers"]["hosts"]) == ["sequencer-1", "sequencer-2", "sequencer-3"]
    hostvars = inventory["_meta"]["hostvars"]
    addresses = [hostvars[h]["conductor_raft_address"] for h in sorted(hostvars)]
    assert len(set(addresses)) == 3 and all(re.match(r"^[0-9.]+:[0-9]+$", a) for a in addresses), addresses
    for host, values in hostvars.items():
        assert values["ansible_become"] is True and values["ansible_user"] and "ansible_connection" not in values
        assert values["ansible_python_interpreter"].startswith("/"), host
        assert values["conductor_owner"] == values["conductor_group_owner"] == "op-conductor"
        assert values["conductor_initial_leader"] in hostvars


def test_the_playbooks_target_the_example_group(tmp_path):
    run = run_playbook(tmp_path, "-i", _example(tmp_path), "opstack.conductor.deploy", "--list-hosts")
    assert run.rc == 0, run
    deploy = run.out[run.out.index("Deploy pre-generated op-conductor Raft state"):]
    assert "hosts (3):" in deploy and all(h in deploy for h in ("sequencer-1", "sequencer-2", "sequencer-3")), run


def test_every_variable_named_exists():
    documented = set()
    for spec in glob.glob(os.path.join(REPO, "roles", "*", "meta", "argument_specs.yml")):
        with open(spec) as handle:
            documented.update(re.findall(r"^ {6}(conductor_[a-z_]+):", handle.read(), re.MULTILINE))
    named = set()
    for path in (EXAMPLE, QUICKSTART):
        with open(path) as handle:
            named.update(re.findall(r"\bconductor_[a-z_]+[a-z]", handle.read()))
    assert named, "nothing found to check"
    assert sorted(named - documented) == []
