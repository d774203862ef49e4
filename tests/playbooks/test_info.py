"""The info playbook (raft_info role): one table for the cluster, failing on corrupt or drifted nodes, for an
inventory group and for a local directory of node directories (op-conductor-init info --state-dir)."""

from __future__ import annotations

import json
import os
import shutil

from ansible_collections.opstack.conductor.tests.support.playbooks import local_inventory, run_playbook, table

HOSTS = {"seq-a": {"conductor_raft_address": "127.0.0.1:57461"},
         "seq-b": {"conductor_raft_address": "127.0.0.1:57462"},
         "seq-c": {"conductor_raft_address": "127.0.0.1:57463"}}


def test_inventory_mode_reports_and_fails_on_corrupt_and_missing_nodes(tmp_path):
    root = tmp_path / "hosts"
    inventory = local_inventory(tmp_path / "hosts.yml", HOSTS,
                                {"conductor_storage_dir": str(root) + "/{{ inventory_hostname }}"})
    assert run_playbook(tmp_path, "-i", inventory, "opstack.conductor.deploy").rc == 0
    ok = run_playbook(tmp_path, "-i", inventory, "opstack.conductor.info", "--limit", "seq-a,seq-b")
    assert ok.rc == 0, ok
    rows = table(ok)
    assert rows[0][:7] == ["seq-a", "seq-a", "1", "seq-a@1", "1", "empty", "in"], rows  # HEAD: a seeded FSM is empty
    assert rows[2][:2] == ["seq-c", "seq-c"] and "not" in rows[2], rows  # outside --limit: listed, not checked

    log = root / "seq-b" / "seq-b" / "raft-log.db"
    data = bytearray(log.read_bytes())
    data[3 * 4096 + 16:3 * 4096 + 64] = b"\xff" * 48  # the leaf page holding the configuration entry
    log.write_bytes(bytes(data))
    shutil.rmtree(root / "seq-c" / "seq-c")
    bad = run_playbook(tmp_path, "-i", inventory, "opstack.conductor.info")
    assert bad.rc != 0, bad
    assert "corrupt or unreadable: seq-b" in bad.out
    assert "drifted from the expected membership, or without state: seq-b, seq-c" in bad.out
    assert "seq-c: no Raft state at %s" % (root / "seq-c" / "seq-c") in bad.out
    rows = {row[0]: row for row in table(bad)}
    assert "CORRUPT" in rows["seq-b"] and "NO" in rows["seq-c"] and "absent" in rows["seq-c"], rows

    tolerant = run_playbook(tmp_path, "-i", inventory, "opstack.conductor.info",
                            "-e", "conductor_info_fail_on_corrupt=false", "-e", "conductor_info_fail_on_drift=false")
    assert tolerant.rc == 0, tolerant


def test_state_dir_mode_uses_cluster_json_then_the_majority(tmp_path):
    out, other = tmp_path / "out", tmp_path / "other"
    for target, port in ((out, 5747), (other, 5748)):
        nodes = ",".join("127.0.0.1:%d%d" % (port, i) for i in (1, 2, 3))
        run = run_playbook(tmp_path, "opstack.conductor.generate", "-e", "nodes=" + nodes, "-e",
                           "server_ids=n1,n2,n3", "-e", "initial_leader=n1", "-e", "output_dir=" + str(target))
        assert run.rc == 0, run
    ok = run_playbook(tmp_path, "opstack.conductor.info", "-e", "conductor_state_dir=" + str(out))
    assert ok.rc == 0, ok
    assert [row[1] for row in table(ok)] == ["n1", "n2", "n3"]
    one = run_playbook(tmp_path, "opstack.conductor.info", "-e", "conductor_state_dir=" + str(out / "n2"))
    assert one.rc == 0 and [row[1] for row in table(one)] == ["n2"], one

    # n2 from another cluster: drift against cluster.json, and (without it) against the other nodes.
    shutil.rmtree(out / "n2")
    shutil.copytree(other / "n2", out / "n2")
    drift = run_playbook(tmp_path, "opstack.conductor.info", "-e", "conductor_state_dir=" + str(out))
    assert drift.rc != 0 and "n2: members drifted: n1 is 127.0.0.1:57481 (voter), expected 127.0.0.1:57471" \
        in drift.out, drift
    os.unlink(out / "cluster.json")
    majority = run_playbook(tmp_path, "opstack.conductor.info", "-e", "conductor_state_dir=" + str(out))
    assert majority.rc != 0 and "differs from the one most nodes have" in majority.out, majority
    assert "without state: n2" in majority.out, majority

    expected = [{"id": i, "address": "127.0.0.1:5748%d" % n} for n, i in ((1, "n1"), (2, "n2"), (3, "n3"))]
    explicit = run_playbook(tmp_path, "opstack.conductor.info", "-e", json.dumps(
        {"conductor_state_dir": str(out), "conductor_info_expected_servers": expected}))
    assert explicit.rc != 0 and "drifted from the expected membership, or without state: n1, n3" in explicit.out, \
        explicit
