"""The backup and restore playbooks (roles raft_backup and raft_restore): every host of an example-like inventory
backed up and fetched to the controller, a wiped node restored from the controller copy, check mode that writes
nothing, a damaged controller copy refused before anything changes, op-conductor stopped and started one node at a
time through the command hooks, and the op-conductor-init style local mode (state_dir / backup_dir) round trip."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys

import pytest

from ansible_collections.opstack.conductor.tests.support.nodes import has_run
from ansible_collections.opstack.conductor.tests.support.fs import tree
from ansible_collections.opstack.conductor.tests.support.playbooks import local_inventory, run_playbook, table

HOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "conductor_hook.py")
HOSTS = {"seq-a": {"conductor_raft_address": "127.0.0.1:57661"},
         "seq-b": {"conductor_raft_address": "127.0.0.1:57662"},
         "seq-c": {"conductor_raft_address": "127.0.0.1:57663"}}
SERVERS = [{"id": host, "address": hostvars["conductor_raft_address"]} for host, hostvars in HOSTS.items()]


def inventory(tmp_path, **extra):
    """Like examples/inventory/hosts.yml: <root>/<host>/raft/<id>/ node directories, <root>/<host>/backups/."""
    root = tmp_path / "hosts"
    group_vars = {"conductor_storage_dir": str(root) + "/{{ inventory_hostname }}/raft",
                  "conductor_backup_dest": str(root) + "/{{ inventory_hostname }}/backups",
                  "conductor_backup_fetch_dir": str(tmp_path / "controller"),
                  "conductor_initial_leader": "seq-a"}
    group_vars.update(extra)
    return root, local_inventory(tmp_path / "hosts.yml", HOSTS, group_vars)


def node(root, host):
    return root / host / "raft" / host


def backups(directory):
    return sorted(p for p in os.listdir(directory) if p.startswith("raft-backup-")) if os.path.isdir(directory) else []


def manifest(path):
    return json.loads((path / "manifest.json").read_text())


def restored_files(entries, host):
    """The node's files (kind, mode, sha256), modes as a restore gives them: never wider than 0600 (issue 13 item 7;
    has_run's snapshot files are 0644)."""
    return {k: (stat.S_IFMT(v.mode), stat.S_IMODE(v.mode) & 0o600, v.digest) for k, v in entries.items()
            if k.startswith(host + "/raft/") and stat.S_ISREG(v.mode)}


def assert_clean_and_in_sync(run, ids):
    rows = table(run)
    assert [row[1] for row in rows] == ids, rows
    for row in rows:
        assert "in" in row and "sync" in row and "ok" in row, rows


def test_backup_fetch_wipe_restore_check_mode_and_a_damaged_copy(tmp_path):
    root, hosts = inventory(tmp_path)
    controller = tmp_path / "controller"
    assert run_playbook(tmp_path, "-i", hosts, "opstack.conductor.deploy").rc == 0
    has_run(node(root, "seq-b"), SERVERS)  # a log at term 3 up to index 40, and a snapshot directory to carry along
    before = tree(root)

    # Check mode: every node would be backed up, nothing is written on the hosts or the controller.
    dry = run_playbook(tmp_path, "-i", hosts, "opstack.conductor.backup", "--check", "-e", "conductor_backup_fetch=true")
    assert dry.rc == 0, dry
    assert dry.changed_hosts == ["seq-a", "seq-b", "seq-c"], dry
    assert tree(root) == before and not controller.exists()

    # Every host backed up and fetched to the controller, where the copy is verified before it gets its name.
    run = run_playbook(tmp_path, "-i", hosts, "opstack.conductor.backup", "-e", "conductor_backup_fetch=true",
                       "-e", "conductor_backup_serial=100%")
    assert run.rc == 0, run
    for host in HOSTS:
        (made,) = backups(root / host / "backups")
        assert os.listdir(controller / host) == [made], "no leftover .unverified copy"
        on_host, fetched = root / host / "backups" / made, controller / host / made
        assert manifest(fetched) == manifest(on_host)
        assert manifest(on_host)["server_id"] == host and manifest(on_host)["consistency"] == "offline"
        files = sorted(manifest(on_host)["files"])
        assert files == ["raft-log.db", "raft-stable.db"] + (
            ["snapshots/3-20-1795682304108/meta.json", "snapshots/3-20-1795682304108/state.bin"] if host == "seq-b" else [])
        for name in files:
            assert (fetched / name).read_bytes() == (on_host / name).read_bytes() == (node(root, host) / name).read_bytes()
        assert "fetched and verified: %s" % fetched in run.out

    # seq-b loses its state; a dry run predicts the restore of seq-b only and writes nothing.
    shutil.rmtree(node(root, "seq-b"))
    wiped = tree(root)
    dry = run_playbook(tmp_path, "-i", hosts, "opstack.conductor.restore", "--check")
    assert dry.rc == 0, dry
    assert dry.changed_hosts == ["seq-b"], dry
    assert "seq-b: %s would be restored from %s" % (node(root, "seq-b"), controller / "seq-b") in dry.out
    assert tree(root) == wiped

    # The real restore pushes the controller copy to seq-b only, restores it, and the cluster is clean and in sync.
    run = run_playbook(tmp_path, "-i", hosts, "opstack.conductor.restore")
    assert run.rc == 0, run
    assert run.changed_hosts == ["seq-b"], run
    assert "on the controller (last log term 3, last index 40)" in run.out
    assert restored_files(tree(root), "seq-b") == restored_files(before, "seq-b")
    assert_clean_and_in_sync(run, ["seq-a", "seq-b", "seq-c"])

    # A controller copy damaged after the fetch is refused before anything is pushed or restored.
    shutil.rmtree(node(root, "seq-b"))
    (copy,) = backups(controller / "seq-b")
    log = controller / "seq-b" / copy / "raft-log.db"
    data = bytearray(log.read_bytes())
    data[5000] ^= 0x01
    log.write_bytes(bytes(data))
    wiped = tree(root)
    bad = run_playbook(tmp_path, "-i", hosts, "opstack.conductor.restore")
    assert bad.rc != 0, bad
    assert "Nothing was restored or pushed, because:" in bad.out
    assert "raft-log.db: sha256" in bad.out and "does not match its manifest" in bad.out
    assert tree(root) == wiped


def hook(action, root, host, log):
    env = dict(os.environ, CONDUCTOR_ACTION=action, CONDUCTOR_SERVER_ID=host, CONDUCTOR_NODE_DIR=str(node(root, host)))
    subprocess.run([sys.executable, HOOK, action, str(log), str(root)], env=env, check=True, timeout=30)


@pytest.fixture
def running(tmp_path):
    """Stand-ins for op-conductor holding each node's lock; stopped at the end whatever happened."""
    started = []

    def start(root, host):
        hook("start", root, host, tmp_path / "setup.log")
        started.append((root, host))
    yield start
    for root, host in started:  # what conductor_hook.py stop does, without a process per node
        try:
            os.kill(int(open(os.path.join(root, host, "raft", ".fake-conductor-%s.pid" % host)).read()), 15)
        except (OSError, ValueError):
            pass


def test_running_nodes_are_stopped_and_started_one_at_a_time_through_the_command_hooks(tmp_path, running):
    log = tmp_path / "hooks.log"
    command = "%s %s %%s %s %s" % (sys.executable, HOOK, log, tmp_path / "hosts")
    root, hosts = inventory(tmp_path, conductor_service_stop_command=command % "stop",
                            conductor_service_start_command=command % "start", conductor_service_wait_timeout=15)
    assert run_playbook(tmp_path, "-i", hosts, "opstack.conductor.deploy").rc == 0
    for host in HOSTS:
        running(root, host)
    before = tree(root)

    # Running nodes without conductor_service_manage: refused on every node, nothing stopped or written.
    refused = run_playbook(tmp_path, "-i", hosts, "opstack.conductor.backup")
    assert refused.rc != 0, refused
    assert "Nothing was stopped or backed up, because:" in refused.out
    for host in HOSTS:
        assert "host %s: %s: op-conductor is running" % (host, node(root, host)) in refused.out
    assert "Set conductor_service_manage=true" in refused.out
    assert tree(root) == before and not log.exists()

    # With it: stop, back up offline, start, and only then the next node; the other two keep running meanwhile.
    run = run_playbook(tmp_path, "-i", hosts, "opstack.conductor.backup", "-e", "conductor_service_manage=true")
    assert run.rc == 0, run
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(c["action"], c["server_id"]) for c in calls] == [
        (action, host) for host in HOSTS for action in ("stop", "start")]
    everyone = sorted(HOSTS)
    for call in calls:
        others = [h for h in everyone if h != call["server_id"]]
        if call["action"] == "stop":
            assert call["running_before"] == everyone and call["running_after"] == others, calls
        else:
            assert call["running_before"] == others and call["running_after"] == everyone, calls
    for host in HOSTS:
        (made,) = backups(root / host / "backups")
        assert manifest(root / host / "backups" / made)["online"] is False
    assert run.out.count("op-conductor stopped and started again") == 3

    # Restore on a running node whose files changed: only that node is stopped, restored and started again.
    log.unlink()
    with open(node(root, "seq-b") / "raft-log.db", "ab") as handle:
        handle.write(b"\0" * 4096)
    run = run_playbook(tmp_path, "-i", hosts, "opstack.conductor.restore", "-e", "conductor_service_manage=true",
                       "-e", "conductor_restore_remote_src=true")
    assert run.rc == 0, run
    assert run.changed_hosts == ["seq-b"], run
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(c["action"], c["server_id"]) for c in calls] == [("stop", "seq-b"), ("start", "seq-b")]
    assert "previous state kept at %s/raft/seq-b." % (root / "seq-b") in run.out
    rows = {row[0]: row for row in table(run)}
    assert all("yes" in rows[h] for h in HOSTS), rows  # all running again


def test_local_state_dir_round_trip_like_op_conductor_init(tmp_path):
    state, folder_parent = tmp_path / "raft-state", tmp_path / "backups"
    gen = run_playbook(tmp_path, "opstack.conductor.generate", "-e", "nodes=127.0.0.1:57671,127.0.0.1:57672",
                       "-e", "server_ids=n1,n2", "-e", "initial_leader=n1", "-e", "output_dir=" + str(state))
    assert gen.rc == 0, gen
    before = tree(state)

    dry = run_playbook(tmp_path, "opstack.conductor.backup", "-e", "state_dir=raft-state", "-e", "backup_dir=backups",
                       "--check")
    assert dry.rc == 0, dry
    assert not folder_parent.exists() and tree(state) == before

    run = run_playbook(tmp_path, "opstack.conductor.backup", "-e", "state_dir=raft-state", "-e", "backup_dir=backups")
    assert run.rc == 0, run
    (folder,) = os.listdir(folder_parent)
    assert folder.startswith("raft-backup-") and folder.endswith("Z") and not folder.endswith(".partial")
    folder = folder_parent / folder
    index = json.loads((folder / "backup.json").read_text())
    assert [n["server_id"] for n in index["nodes"]] == ["n1", "n2"]
    assert sorted(os.listdir(folder)) == sorted(["backup.json", "cluster.json"] + [n["backup"] for n in index["nodes"]])
    assert (folder / "cluster.json").read_bytes() == (state / "cluster.json").read_bytes()

    # n2 wiped: restored from the folder, n1 left alone, and the state directory is clean and in sync.
    shutil.rmtree(state / "n2")
    run = run_playbook(tmp_path, "opstack.conductor.restore", "-e", "backup_dir=" + str(folder),
                       "-e", "state_dir=raft-state")
    assert run.rc == 0, run
    assert "n1: %s unchanged" % (state / "n1") in run.out and "n2: %s restored from" % (state / "n2") in run.out
    assert_clean_and_in_sync(run, ["n1", "n2"])
    assert tree(state) == before


def test_a_default_backup_then_a_default_restore_meet_on_the_host(tmp_path):
    """Issue 13 item 19: the backup playbook keeps backups on the hosts by default; the restore playbook by default
    looks on the controller and then on the host, and says where it looked and what it found."""
    root, hosts = inventory(tmp_path)
    assert run_playbook(tmp_path, "-i", hosts, "opstack.conductor.deploy").rc == 0
    has_run(node(root, "seq-b"), SERVERS)
    before = tree(root)
    assert run_playbook(tmp_path, "-i", hosts, "opstack.conductor.backup", "-e", "conductor_backup_serial=100%").rc == 0
    (made,) = backups(root / "seq-b" / "backups")
    shutil.rmtree(node(root, "seq-b"))
    run = run_playbook(tmp_path, "-i", hosts, "opstack.conductor.restore")
    assert run.rc == 0, run
    assert run.changed_hosts == ["seq-b"], run
    assert "seq-b: %s restored from %s on the host" % (node(root, "seq-b"), root / "seq-b" / "backups" / made) in run.out
    assert restored_files(tree(root), "seq-b") == restored_files(before, "seq-b")
    assert not (tmp_path / "controller").exists()

    # No backup anywhere: the message names both places it looked.
    shutil.rmtree(root / "seq-b" / "backups")
    none = run_playbook(tmp_path, "-i", hosts, "opstack.conductor.restore")
    assert none.rc != 0, none
    assert "host seq-b: no backup of server seq-b in %s on the controller nor in %s on the host" % (
        tmp_path / "controller" / "seq-b", root / "seq-b" / "backups") in none.out, none.out


def test_a_forced_restore_says_what_it_overrode_and_check_mode_shows_the_diff(tmp_path):
    """Issue 13 items 2 and 14: a backup older than the node (by its log) is refused without force; --check --diff
    from a controller backup shows the decoded diff and the entries lost; a forced restore warns and its recap
    names the overridden check."""
    root, hosts = inventory(tmp_path)
    assert run_playbook(tmp_path, "-i", hosts, "opstack.conductor.deploy").rc == 0
    assert run_playbook(tmp_path, "-i", hosts, "opstack.conductor.backup", "-e", "conductor_backup_fetch=true",
                        "-e", "conductor_backup_serial=100%").rc == 0
    has_run(node(root, "seq-b"), SERVERS, snapshot=False)  # the node moves on to term 3, index 40
    before = tree(root)
    refused = run_playbook(tmp_path, "-i", hosts, "opstack.conductor.restore", "--limit", "seq-b")
    assert refused.rc != 0, refused
    assert "is older than the node's log (last log term 3, last index 40): restoring it drops 39 entries (index 2 to " \
        "40)" in refused.out, refused.out
    assert tree(root) == before
    dry = run_playbook(tmp_path, "-i", hosts, "opstack.conductor.restore", "--limit", "seq-b", "--check", "--diff",
                       "-e", "conductor_restore_force=true")
    assert dry.rc == 0, dry
    assert '"entries_lost": "39 entries (index 2 to 40)"' in dry.out, dry.out
    assert '"log_position": "last log term 3, last index 40"' in dry.out
    assert tree(root) == before
    forced = run_playbook(tmp_path, "-i", hosts, "opstack.conductor.restore", "--limit", "seq-b",
                          "-e", "conductor_restore_force=true")
    assert forced.rc == 0, forced
    assert "force=true overrode: the backup (last log term 1, last index 1) is older" in forced.out
    assert "seq-b:   FORCED past: the backup (last log term 1, last index 1) is older" in forced.out, forced.out
    assert "seq-b:   dropped 39 entries (index 2 to 40)" in forced.out
