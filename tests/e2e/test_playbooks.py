"""The bring_up, status and membership playbooks against real op-conductor processes.

The conductors are started by the playbooks themselves, through the role's command hook
(conductor_service_start_command, conductorctl.py), from the state the bring_up playbook deployed.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness import IDS, ConductorCluster, wait_until
from playbook_runs import LEADER, playbook, write_inventory


@pytest.fixture(scope="module")
def brought_up(op_conductor, tmp_path_factory):
    """One cluster for the whole module: stubs up, no state, no conductor running; bring_up runs in the first test."""
    workdir = tmp_path_factory.mktemp("playbooks")
    c = ConductorCluster(op_conductor, workdir / "cluster", IDS)
    c.start_stubs()  # the stubs come first: op-conductor dials them at start-up
    try:
        yield c, workdir
    finally:
        c.close()


def test_bring_up_from_nothing_then_rerun_is_unchanged(brought_up):
    c, workdir = brought_up
    inventory = write_inventory(c, workdir)
    assert not any(n.node_dir.exists() for n in c.nodes.values())
    run = playbook(workdir, "bring_up", inventory)
    started = c.adopt()
    assert run.rc == 0, run
    assert sorted(started) == sorted(IDS)
    # deployed by the raft_state role, then started by the hook with our flags (no bootstrap, paused)
    for sid, n in c.nodes.items():
        assert (n.node_dir / "raft-log.db").exists() and (n.node_dir / "raft-stable.db").exists()
        log = n.log_path.read_text()
        assert "=== start (hook)" in log and "--raft.bootstrap=false" in log and "--paused=true" in log
        assert "initial configuration: index=1" in log
    assert c.wait_leader() == LEADER
    assert all(c.rpc(sid, "conductor_active") for sid in IDS)
    wait_until(lambda: c.stubs.chain.head()["number"] >= 1, 60, what="the leader to sequence")
    assert c.stubs.active() == [LEADER]

    # The calls, in order, on the right nodes (the stubs' logs).
    calls = c.stubs.calls(lambda m: m in ("admin_conductorEnabled", "admin_sequencerActive", "admin_startSequencer",
                                          "admin_stopSequencer", "optimism_syncStatus"))
    start = [x for x in calls if x["method"] == "admin_startSequencer"]
    assert [(x["node"], x["client"], "error" in x) for x in start] == [(LEADER, "ansible", False)]
    t_start = start[0]["seq"]
    assert start[0]["params"] == [c.stubs.chain.blocks[0]["hash"]]  # the unsafe head op-node reported
    for sid in IDS:  # every conductor started (its init calls) before the sequencer was started
        init = [x for x in calls if x["node"] == sid and x["method"] == "admin_conductorEnabled"]
        assert init and init[0]["client"] == "op-conductor" and init[0]["seq"] < t_start
    # the start checked that no other sequencer runs and read the head on the leader's op-node
    before = [(x["node"], x["method"]) for x in calls if x["client"] == "ansible" and x["seq"] < t_start]
    assert (LEADER, "optimism_syncStatus") == before[-1]
    assert {n for n, m in before if m == "admin_sequencerActive"} == set(IDS)
    # resume (followers first, the leader last): each conductor asks its op-node whether it sequences
    resumed = [x["node"] for x in calls if x["client"] == "op-conductor" and x["method"] == "admin_sequencerActive"
               and x["seq"] > t_start]
    assert sorted(resumed) == sorted(IDS) and resumed[-1] == LEADER, resumed
    assert not [x for x in calls if x["method"] == "admin_stopSequencer"]
    assert "leader: sequencer-2; all nodes agree" in run.out

    mark = c.stubs.mark()
    rerun = playbook(workdir, "bring_up", inventory)
    assert rerun.rc == 0 and rerun.changed == 0, rerun
    assert not c.adopt()  # nothing was started again
    assert not c.stubs.calls(lambda m: m in ("admin_startSequencer", "admin_stopSequencer"), since=mark)
    assert c.wait_leader() == LEADER and c.stubs.active() == [LEADER]

    check = playbook(workdir, "bring_up", inventory, "--check", "--diff")
    assert check.rc == 0 and check.changed == 0, check


def test_status_playbook(brought_up):
    c, workdir = brought_up
    inventory = workdir / "hosts.yml"
    run = playbook(workdir, "status", inventory)
    assert run.rc == 0 and run.changed == 0, run
    assert "leader: sequencer-2; all nodes agree" in run.out
    for sid in IDS:
        assert re.search(rf"{sid}\s+yes\s+sequencer-2", run.out), run
    offline = playbook(workdir, "status", inventory, "-e", "conductor_status_offline=true")
    assert offline.rc == 0, offline
    assert "raft_info" in offline.out or "Raft state" in offline.out


def test_status_writes_the_fleet_view_of_the_running_cluster(brought_up):
    """Issue 19 item 3: status's fleet view of real op-conductors as a node_exporter textfile, parsed with
    prometheus_client's parser: every node up, one leader, one sequencer; a rerun over the same live state changes
    nothing. With the offline report merged in, the JSON has every node's Raft position and FSM head."""
    c, workdir = brought_up
    inventory = workdir / "hosts.yml"
    c.wait_leader()
    prom, document = workdir / "fleet.prom", workdir / "fleet.json"
    run = playbook(workdir, "status", inventory, "-e", f"conductor_report_fleet_textfile={prom}")
    assert run.rc == 0 and run.changed == 1, run
    text = prom.read_text()
    got = {(s.name, s.labels["server"]): s.value for f in text_string_to_metric_families(text) for s in f.samples}
    assert {sid: got[("opstack_conductor_up", sid)] for sid in IDS} == dict.fromkeys(IDS, 1), text
    assert {sid: got[("opstack_conductor_leader", sid)] for sid in IDS} == {sid: int(sid == LEADER) for sid in IDS}
    assert {sid: got[("opstack_conductor_sequencer_active", sid)] for sid in IDS} == {
        sid: int(sid == LEADER) for sid in IDS}, text
    assert {sid: got[("opstack_conductor_members_in_sync", sid)] for sid in IDS} == dict.fromkeys(IDS, 1), text
    again = playbook(workdir, "status", inventory, "-e", f"conductor_report_fleet_textfile={prom}")
    assert again.rc == 0 and again.changed == 0 and prom.read_text() == text, again

    offline = playbook(workdir, "status", inventory, "-e", "conductor_status_offline=true",
                       "-e", f"conductor_report_fleet_json={document}")
    assert offline.rc == 0, offline
    nodes = {node["server"]: node for node in json.loads(document.read_text())["nodes"]}
    assert sorted(nodes) == sorted(IDS), nodes
    for sid, node in nodes.items():
        assert node["up"] and node["running"] and node["term"] >= 1 and node["last_index"] >= 1, node
        assert node["leader"] == (sid == LEADER) and node["head_block"] is not None, node


def test_membership_playbook_adds_and_retires(brought_up):
    c, workdir = brought_up
    c.add_node("sequencer-4")  # a new host: empty storage, started by the playbook's hook
    inventory = write_inventory(c, workdir)
    check = playbook(workdir, "membership", inventory, "--check", "--diff")
    assert check.rc == 0, check
    assert "sequencer-4" in check.out and not c.nodes["sequencer-4"].alive()
    assert len(c.memberships(IDS)["sequencer-1"][1]) == 3
    run = playbook(workdir, "membership", inventory)
    assert run.rc == 0, run
    assert c.adopt() == ["sequencer-4"]
    four = sorted((s["id"], s["address"], 0) for s in c.servers())
    wait_until(lambda: all(m[1] == four for m in c.memberships().values()), 60, what="four members everywhere")
    again = playbook(workdir, "membership", inventory)
    assert again.rc == 0 and again.changed == 0, again

    # Retire the leader: leadership moves (to another voter), then it is removed; the new leader's conductor
    # takes over sequencing (real failover, the stubs commit payloads).
    leader = c.wait_leader()
    inventory = write_inventory(c, workdir, members={leader: False})
    run = playbook(workdir, "membership", inventory, "-e", "conductor_stop_retired=true")
    assert run.rc == 0, run
    rest = [s for s in c.nodes if s != leader]
    new_leader = c.wait_leader(ids=rest)
    assert new_leader != leader
    three = sorted((s["id"], s["address"], 0) for s in c.servers(rest))
    assert all(c.memberships(rest)[sid][1] == three for sid in rest)
    wait_until(lambda: not c.nodes[leader].alive(), 60, what="the retired conductor to stop")
    wait_until(lambda: c.stubs.active() == [new_leader], 60, what="the new leader to sequence")
    again = playbook(workdir, "membership", inventory)
    assert again.rc == 0 and again.changed == 0, again
    time.sleep(0.5)
    json.dumps(c.stubs.state())
