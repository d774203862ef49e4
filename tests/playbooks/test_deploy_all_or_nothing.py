"""Issue 13 items 4, 5 and 18 at the playbook level: deploy writes every node or none (the dry run proves each
storage directory can be written), info flags a cluster whose nodes disagree, a refusal after an inventory change
says what differs in one line per host (and --check --diff shows the diff without force), and a forced deploy
reports where the replaced state was kept and keeps only conductor_keep_backups of them.

The unwritable storage directory is made immutable (chattr +i): we run as root, and root ignores permission bits,
but not the immutable flag, so the real write fails exactly as it does for a non-root user on a 0500 directory,
and only a dry run that really creates something beside the node (the probe) sees it. os.access in check mode sees
it too (the kernel checks the flag there); the unit tests cover the non-root and the chown cases."""

from __future__ import annotations

import os

from ansible_collections.opstack.conductor.tests.support.fs import immutable, tree
from ansible_collections.opstack.conductor.tests.support.playbooks import local_inventory, run_playbook, table

FIVE = {"seq-%s" % name: {"conductor_raft_address": "127.0.0.1:5760%d" % port}
        for port, name in enumerate("abcde", start=1)}


def inventory_for(tmp_path, hosts, root, name="hosts.yml"):
    return local_inventory(tmp_path / name, hosts, {"conductor_storage_dir": str(root) + "/{{ inventory_hostname }}"})


def test_no_host_is_written_when_one_cannot_be(tmp_path):
    root = tmp_path / "hosts"
    root.mkdir()
    inventory = inventory_for(tmp_path, FIVE, root)
    locked_storage = root / "seq-e"
    locked_storage.mkdir()
    with immutable(locked_storage):
        before = tree(root)
        run = run_playbook(tmp_path, "-i", inventory, "opstack.conductor.deploy")
        assert run.rc != 0, run
        assert "Nothing was written, because these nodes would fail" in run.out, run
        assert "host seq-e: %s: the new state could not be written (cannot write in %s" % (
            locked_storage / "seq-e", locked_storage) in run.out, run
        assert tree(root) == before, "a host was written although seq-e could not be"
        assert run.changed_hosts == [], run
    assert run_playbook(tmp_path, "-i", inventory, "opstack.conductor.deploy").rc == 0

    # With force, over an existing cluster: still nothing at all, so the cluster never ends up mixed.
    with immutable(locked_storage):
        before = tree(root)
        forced = run_playbook(tmp_path, "-i", inventory, "opstack.conductor.deploy", "-e", "conductor_initial_term=2",
                              "-e", "conductor_force=true")
        assert forced.rc != 0 and "host seq-e:" in forced.out and "cannot write in" in forced.out, forced
        assert tree(root) == before
        checked = run_playbook(tmp_path, "-i", inventory, "opstack.conductor.deploy", "--check",
                               "-e", "conductor_initial_term=2", "-e", "conductor_force=true")
        assert checked.rc != 0 and "(os.access; check mode makes no probe)" in checked.out, checked
        assert tree(root) == before


def test_info_flags_a_mixed_cluster(tmp_path):
    root = tmp_path / "hosts"
    hosts = {name: FIVE[name] for name in ("seq-a", "seq-b", "seq-c")}
    inventory = inventory_for(tmp_path, hosts, root)
    assert run_playbook(tmp_path, "-i", inventory, "opstack.conductor.deploy").rc == 0
    ok = run_playbook(tmp_path, "-i", inventory, "opstack.conductor.info")
    assert ok.rc == 0 and "disagree" not in ok.out, ok
    # A forced deploy that reached only two of the three nodes: every node alone is fine and in sync with the
    # inventory's membership, but the cluster is mixed (seq-c was seeded at another term).
    partial = run_playbook(tmp_path, "-i", inventory, "opstack.conductor.deploy", "--limit", "seq-a,seq-b",
                           "-e", "conductor_initial_term=2", "-e", "conductor_force=true")
    assert partial.rc == 0, partial
    mixed = run_playbook(tmp_path, "-i", inventory, "opstack.conductor.info")
    assert mixed.rc != 0, mixed
    assert "cluster: the nodes disagree on the initial term (seq-a, seq-b: 2; seq-c: 1)" in mixed.out, mixed
    assert "seq-c: differs from the other nodes in its initial term" in mixed.out, mixed
    rows = {row[0]: row for row in table(mixed)}
    assert "DISAGREES" in rows["seq-c"] and "DISAGREES" not in rows["seq-a"], rows


def test_refusal_names_differences_per_host_and_force_reports_kept_directories(tmp_path):
    root = tmp_path / "hosts"
    six = dict(FIVE, **{"seq-f": {"conductor_raft_address": "127.0.0.1:57606"}})
    inventory = inventory_for(tmp_path, six, root)
    assert run_playbook(tmp_path, "-i", inventory, "opstack.conductor.deploy").rc == 0
    changed = dict(six, **{"seq-g": {"conductor_raft_address": "127.0.0.1:57607"}})
    changed["seq-f"] = dict(six["seq-f"], conductor_suffrage="nonvoter")
    new_inventory = inventory_for(tmp_path, changed, root, "changed.yml")
    before = tree(root)
    refused = run_playbook(tmp_path, "-i", new_inventory, "opstack.conductor.deploy", "--limit", ",".join(six))
    assert refused.rc != 0 and tree(root) == before, refused
    summary = refused.out[refused.out.index("Nothing was written, because these nodes would fail"):]
    for host in six:
        lines = [line for line in summary.splitlines() if '"host %s: ' % host in line]
        assert len(lines) == 1, (host, summary)
        assert "Differs: server seq-f: voter -> nonvoter; server seq-g added (127.0.0.1:57607, voter)" in lines[0]
    # No dump of the existing and requested states (46 KB for 6 hosts before); Ansible itself still shows each
    # failed preflight result once (its msg and its differences) besides the summary.
    assert "Existing: {" not in refused.out and "Requested: {" not in refused.out, refused
    assert len(refused.out) < 25000, len(refused.out)

    dry = run_playbook(tmp_path, "-i", new_inventory, "opstack.conductor.deploy", "--limit", ",".join(six),
                       "--check", "--diff")
    assert dry.rc != 0 and tree(root) == before, dry
    assert dry.out.count('+        "seq-g 127.0.0.1:57607 (voter)"') == len(six), dry
    assert dry.out.count('-        "seq-f 127.0.0.1:57606 (voter)"') == len(six), dry
    assert dry.out.count('+        "seq-f 127.0.0.1:57606 (nonvoter)",') == len(six), dry

    # Forced, four times with conductor_keep_backups=2: each run names where it kept each host's state.
    kept_reports = []
    for term in (2, 3, 4, 5):
        forced = run_playbook(tmp_path, "-i", inventory, "opstack.conductor.deploy", "-e", "conductor_force=true",
                              "-e", "conductor_initial_term=%d" % term, "-e", "conductor_keep_backups=2")
        assert forced.rc == 0, forced
        kept_reports.append(forced.out)
    for host in six:
        storage = root / host
        kept = sorted(name for name in os.listdir(storage) if name.endswith("~"))
        assert len(kept) == 2 and all(name.startswith(host + ".") for name in kept), kept
        for name in kept:
            assert any("host %s: the replaced state was kept as %s" % (host, storage / name) in out
                       for out in kept_reports[-2:]), name
        assert "older kept directories removed" in kept_reports[-1]
