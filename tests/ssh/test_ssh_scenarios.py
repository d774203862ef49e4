"""Issue 18 item 2 over SSH (the test bed of testbed.py): the quick start (docs/quickstart.md) as an operator runs it
-- deploy (check, real, rerun changed=0), info, backup fetched to the controller, restore of one node -- with
pipelining on and off, as a deploy user that becomes root, onto storage owned by an op-conductor-like user, one
host's Python lacking msgpack until conductor_install_msgpack installs it; and a deploy user without become that
cannot read or write a node's directory gets a clear error and nothing changes anywhere (issue 13 item 1)."""

from __future__ import annotations

import json
import os
import stat

import shutil
import subprocess

import pytest

from ansible_collections.opstack.conductor.tests.support.fs import tree
from ansible_collections.opstack.conductor.tests.support.playbooks import run_playbook, table
from ansible_collections.opstack.conductor.tests.ssh.testbed import HOST_NAMES, NO_MSGPACK_HOST


def play(bed, tmp_path, inventory, playbook, *args, pipelining=True):
    return run_playbook(tmp_path, "-i", inventory, "opstack.conductor." + playbook, *args,
                        env_extra=bed.ansible_env(pipelining), timeout=300)


def trees(bed):
    """Every host's storage and backups (kind, mode, sha256 of each entry), and the owner and mode of the storage
    directory itself: equal trees mean nothing changed."""
    return {host.name: (owner_and_mode(host.storage), tree(host.storage),
                        tree(host.backups) if os.path.isdir(host.backups) else None) for host in bed.hosts}


def owner_and_mode(path):
    info = os.lstat(path)
    return info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)


def assert_owned_by_conductor(bed, node_dir, file_mode_at_most=0o600, dir_mode=0o750):
    opc = (bed.conductor.uid, bed.conductor.gid)
    uid, gid, mode = owner_and_mode(node_dir)
    assert ((uid, gid), mode) == (opc, dir_mode), (node_dir, uid, gid, oct(mode))
    for name in ("raft-log.db", "raft-stable.db"):
        uid, gid, mode = owner_and_mode(os.path.join(node_dir, name))
        assert (uid, gid) == opc and mode & ~file_mode_at_most == 0 and mode & 0o600 == 0o600, (name, oct(mode))


def backups(directory):
    return sorted(p for p in os.listdir(directory) if p.startswith("raft-backup-")) if os.path.isdir(directory) else []


def assert_in_sync(run):
    rows = table(run)
    assert [row[0] for row in rows] == list(HOST_NAMES), rows
    for row in rows:
        assert "in" in row and "sync" in row and "ok" in row, rows


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelining", "no-pipelining"])
def test_quick_start_over_ssh(fresh, tmp_path, pipelining):
    bed = fresh
    bed.make_venv()  # sequencer-3's Python has no msgpack, in both runs
    fetch_dir = tmp_path / "raft-backups"
    inventory = bed.inventory(str(tmp_path / "hosts.yml"), str(fetch_dir))
    no_msgpack = bed.host(NO_MSGPACK_HOST)
    before = trees(bed)

    # The dry run writes nothing on any host (and installs nothing).
    # (It fails: check mode cannot install msgpack, so sequencer-3 cannot be checked; see
    # test_dry_run_does_not_ask_for_conductor_install_msgpack_when_it_is_set.)
    dry = play(bed, tmp_path, inventory, "deploy", "--check", "--diff", pipelining=pipelining)
    assert dry.changed_hosts == [] or dry.changed_hosts == [NO_MSGPACK_HOST], dry  # pip's "would install"
    assert trees(bed) == before, dry
    assert not bed.has_msgpack(no_msgpack.python)

    # The real deploy installs msgpack for sequencer-3's Python (with become), then writes every node.
    run = play(bed, tmp_path, inventory, "deploy", pipelining=pipelining)
    assert run.rc == 0, run
    assert run.changed_hosts == list(HOST_NAMES), run
    assert bed.has_msgpack(no_msgpack.python), "conductor_install_msgpack installed nothing for " + no_msgpack.python
    for host in bed.hosts:
        assert_owned_by_conductor(bed, host.node)
        assert sorted(os.listdir(host.storage)) == [host.name], "only the node directory is left in the storage"

    # Again: nothing to do anywhere.
    again = play(bed, tmp_path, inventory, "deploy", pipelining=pipelining)
    assert again.rc == 0 and again.changed_hosts == [], again
    deployed = trees(bed)

    info = play(bed, tmp_path, inventory, "info", pipelining=pipelining)
    assert info.rc == 0, info
    assert_in_sync(info)
    assert trees(bed) == deployed, "info changed a host"

    # Backup on every host, fetched to the controller and verified there.
    backup = play(bed, tmp_path, inventory, "backup", "-e", "conductor_backup_fetch=true", pipelining=pipelining)
    assert backup.rc == 0, backup
    for host in bed.hosts:
        (made,) = backups(host.backups)
        on_host, fetched = os.path.join(host.backups, made), fetch_dir / host.name / made
        assert os.listdir(fetch_dir / host.name) == [made], "no leftover .unverified copy"
        assert "fetched and verified: %s" % fetched in backup.out, backup
        with open(os.path.join(on_host, "manifest.json")) as handle:
            manifest = json.load(handle)
        assert manifest["server_id"] == host.name and manifest["consistency"] == "offline"
        assert owner_and_mode(on_host)[2] == 0o700, oct(owner_and_mode(on_host)[2])
        for name in manifest["files"]:
            assert owner_and_mode(os.path.join(on_host, name))[2] == 0o600, name
            with open(os.path.join(on_host, name), "rb") as a, open(fetched / name, "rb") as b, \
                    open(os.path.join(host.node, name), "rb") as c:
                assert a.read() == b.read() == c.read(), name

    # sequencer-2 loses its state; the dry run restores nothing, the real one only sequencer-2, from the controller.
    victim = bed.host("sequencer-2")
    saved = tree(victim.node)
    shutil.rmtree(victim.node)
    wiped = trees(bed)
    dry = play(bed, tmp_path, inventory, "restore", "--limit", "sequencer-2", "--check", pipelining=pipelining)
    assert dry.rc == 0 and dry.changed_hosts == ["sequencer-2"], dry
    assert "sequencer-2: %s would be restored from %s" % (victim.node, fetch_dir / "sequencer-2") in dry.out, dry
    assert trees(bed) == wiped
    restore = play(bed, tmp_path, inventory, "restore", "--limit", "sequencer-2", pipelining=pipelining)
    assert restore.rc == 0, restore
    assert restore.changed_hosts == ["sequencer-2"], restore
    assert_owned_by_conductor(bed, victim.node)
    assert {k: v.digest for k, v in tree(victim.node).items()} == {k: v.digest for k, v in saved.items()}
    after = play(bed, tmp_path, inventory, "info", pipelining=pipelining)
    assert after.rc == 0, after
    assert_in_sync(after)


def _without_become(bed, tmp_path, name, **group_vars):
    """The inventory as a deploy user without become runs it: every host on /usr/bin/python3 (msgpack from
    python3-msgpack; nothing can be installed without become), and no owner to give the files (only root can)."""
    group_vars.setdefault("ansible_become", False)
    group_vars.setdefault("conductor_owner", "")
    group_vars.setdefault("conductor_group_owner", "")
    group_vars.setdefault("conductor_install_msgpack", False)
    inventory = bed.inventory(str(tmp_path / name), str(tmp_path / "raft-backups"), **group_vars)
    with open(inventory) as handle:
        document = json.load(handle)
    for hostvars in document["all"]["children"]["sequencers"]["hosts"].values():
        hostvars["ansible_python_interpreter"] = "/usr/bin/python3"
    with open(inventory, "w") as handle:
        json.dump(document, handle, indent=1)
    return inventory


@pytest.mark.parametrize("pipelining", [True], ids=["pipelining"])
def test_without_become_a_storage_directory_the_deploy_user_cannot_write_stops_every_host(fresh, tmp_path, pipelining):
    """Issue 18's report: without become, two hosts whose storage the deploy user owns were written and the third
    (its storage op-conductor's, 0750) failed after its preflight said ok. Now nothing is written anywhere."""
    bed = fresh
    for host in bed.hosts[:2]:
        os.chown(host.storage, bed.deploy.uid, bed.deploy.gid)
    locked = bed.host("sequencer-3")
    inventory = _without_become(bed, tmp_path, "no-become.yml")
    before = trees(bed)
    run = play(bed, tmp_path, inventory, "deploy", pipelining=pipelining)
    assert run.rc != 0, run
    assert trees(bed) == before, "a host was written although sequencer-3 could not be"
    assert run.changed_hosts == [], run
    summary = run.out[run.out.index("Nothing was written, because these nodes would fail"):]
    assert "host sequencer-3: %s: cannot be examined as uid %d (EACCES: Permission denied)" % (
        locked.node, bed.deploy.uid) in summary, run
    assert "Run the task with become" in summary, run
    assert "host sequencer-1:" not in summary and "host sequencer-2:" not in summary, run


@pytest.mark.parametrize("pipelining", [False], ids=["no-pipelining"])
def test_without_become_a_node_the_deploy_user_cannot_read_is_a_clear_error(fresh, tmp_path, pipelining):
    """Issue 13 item 1 over SSH: nodes deployed (with become) belong to the op-conductor user, 0750 / 0600. The
    same deploy and info without become cannot look at them: a clear error naming the node, never 'absent' (which
    would write a new node over it), and nothing changes."""
    bed = fresh
    inventory = bed.inventory(str(tmp_path / "hosts.yml"), str(tmp_path / "raft-backups"))
    deployed = play(bed, tmp_path, inventory, "deploy", pipelining=pipelining)
    assert deployed.rc == 0, deployed
    # The deploy user can enter the storage directories (op-conductor's group), not the node directories.
    subprocess_run(["usermod", "--append", "--groups", bed.conductor.name, bed.deploy.name])
    try:
        bed.end_control_masters()  # new logins pick up the new group
        before = trees(bed)
        inventory = _without_become(bed, tmp_path, "no-become.yml")
        run = play(bed, tmp_path, inventory, "deploy", pipelining=pipelining)
        assert run.rc != 0, run
        assert trees(bed) == before, run
        assert run.changed_hosts == [], run
        summary = run.out[run.out.index("Nothing was written, because these nodes would fail"):].split("', '")
        for host in bed.hosts:  # it can list the node directory (op-conductor's group), not open all in it
            (line,) = [line for line in summary if line.startswith("host %s: %s" % (host.name, host.node))]
            assert "cannot be examined as uid %d (EACCES: Permission denied)" % bed.deploy.uid in line, line
            assert "Run the task with become" in line, line
        info = play(bed, tmp_path, inventory, "info", pipelining=pipelining)
        assert info.rc != 0, info
        assert trees(bed) == before, info
        assert "corrupt or unreadable: sequencer-1, sequencer-2, sequencer-3" in info.out, info
        rows = _rows(info)
        assert [row[0] for row in rows] == list(HOST_NAMES), info
        for row in rows:
            assert "ERROR" in row and "absent" not in row, info
    finally:
        subprocess_run(["gpasswd", "--delete", bed.deploy.name, bed.conductor.name])
        bed.end_control_masters()


def _rows(run):
    try:
        return table(run)
    except ValueError:  # no table printed: the run stopped before it
        return []


def subprocess_run(command):
    subprocess.run(command, check=True, capture_output=True, timeout=60)


def test_dry_run_does_not_ask_for_conductor_install_msgpack_when_it_is_set(fresh, tmp_path):
    """A dry run cannot install msgpack, so it cannot check sequencer-3; but its summary must not tell the
    operator to set conductor_install_msgpack=true, which is already set (it says what the real run would do)."""
    bed = fresh
    bed.make_venv()
    inventory = bed.inventory(str(tmp_path / "hosts.yml"), str(tmp_path / "raft-backups"))
    before = trees(bed)
    dry = play(bed, tmp_path, inventory, "deploy", "--check")
    assert trees(bed) == before and not bed.has_msgpack(bed.host(NO_MSGPACK_HOST).python), dry
    summary = [line for line in dry.out.splitlines() if "host %s:" % NO_MSGPACK_HOST in line]
    assert summary, dry
    assert not any("or set conductor_install_msgpack=true" in line for line in summary), summary
    assert all("check mode cannot install it" in line for line in summary), summary
