"""Issue 19 items 1 and 2 for the live playbooks (bring_up, membership) against real op-conductor processes: two
clusters in ONE inventory (a parent group, one child group per cluster setting conductor_cluster_name), driven in
one run each. Every cluster gets its own leader, its own active sequencer and its own membership (never one cluster
of all the hosts); a refusal in one cluster leaves it untouched while the other is brought up, the run is red and
ends with one line per cluster; a membership change in one cluster leaves the other unchanged.

Two conductors per cluster are enough for the point (a third joins one cluster in the membership test)."""

from __future__ import annotations

import pytest
import yaml

from harness import ConductorCluster, wait_until
from playbook_runs import playbook, write_inventory
from ansible_collections.opstack.conductor.tests.support.playbooks import cluster_summary

A, B = ["a-1", "a-2"], ["b-1", "b-2"]
LEADERS = {"op_a": "a-2", "op_b": "b-1"}


def fleet_inventory(workdir, clusters, leaders, members=None, host_vars=None):
    """One inventory for every cluster: group sequencers with one child group per cluster, each child as
    playbook_runs.write_inventory writes a single cluster (its own start/stop hooks; ``members`` and ``host_vars``
    per server ID), plus its cluster key and initial leader."""
    children = {}
    for name, c in clusters.items():
        part = workdir / name
        part.mkdir(exist_ok=True)
        path = write_inventory(c, part, members=members, host_vars=host_vars, group_vars={
            "conductor_cluster_name": name, "conductor_initial_leader": leaders[name]})
        children[name] = yaml.safe_load(path.read_text())["all"]["children"]["sequencers"]
    inventory = workdir / "fleet.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {"sequencers": {"children": children}}}},
                                        sort_keys=False))
    return inventory


def summary(run):
    """The end-of-run lines, {cluster: line}."""
    return cluster_summary(run.out)


def own_membership(c, ids):
    """Every node of the cluster lists exactly the cluster's voters."""
    want = sorted((n.server()["id"], n.server()["address"], 0) for sid, n in c.nodes.items() if sid in ids)
    wait_until(lambda: all(m[1] == want for m in c.memberships(ids).values()), 60,
               what=f"{ids} to list exactly themselves")
    return want


def changed_on(run, hosts):
    return sum(run.recap[host]["changed"] for host in hosts)


@pytest.fixture(scope="module")
def fleet(op_conductor, tmp_path_factory):
    """Two clusters for the module: stubs up, no state, no conductor running; bring_up runs in the first test."""
    workdir = tmp_path_factory.mktemp("fleet")
    clusters = {"op_a": ConductorCluster(op_conductor, workdir / "op_a-nodes", A),
                "op_b": ConductorCluster(op_conductor, workdir / "op_b-nodes", B)}
    try:
        for c in clusters.values():
            c.start_stubs()
        yield clusters, workdir
    finally:
        for c in clusters.values():
            c.close()


def test_one_bring_up_run_brings_up_every_cluster_then_rerun_is_unchanged(fleet):
    clusters, workdir = fleet
    inventory = fleet_inventory(workdir, clusters, LEADERS)
    run = playbook(workdir, "bring_up", inventory)
    started = {name: sorted(c.adopt()) for name, c in clusters.items()}
    assert run.rc == 0, run
    assert started == {"op_a": A, "op_b": B}, run
    for name, c in clusters.items():
        ids = list(c.nodes)
        own_membership(c, ids)  # two members each: never one cluster of four
        assert c.wait_leader(ids=ids) == LEADERS[name]
        wait_until(lambda c=c: c.stubs.chain.head()["number"] >= 1, 60, what=f"{name}'s leader to sequence")
        assert c.stubs.active() == [LEADERS[name]]
        assert not any(c.rpc(sid, "conductor_paused") for sid in ids)
    assert summary(run) == {"op_a": "cluster op_a (2 hosts): changed", "op_b": "cluster op_b (2 hosts): changed"}

    rerun = playbook(workdir, "bring_up", inventory)
    assert rerun.rc == 0 and rerun.changed == 0, rerun
    assert not any(c.adopt() for c in clusters.values())
    assert summary(rerun) == {"op_a": "cluster op_a (2 hosts): ok", "op_b": "cluster op_b (2 hosts): ok"}
    for name, c in clusters.items():
        assert c.wait_leader(ids=list(c.nodes)) == LEADERS[name] and c.stubs.active() == [LEADERS[name]]


def test_membership_changes_one_cluster_and_leaves_the_other_unchanged(fleet):
    clusters, workdir = fleet
    a, b = clusters["op_a"], clusters["op_b"]
    a.add_node("a-3")  # a new host of op_a: empty storage, started by the playbook's hook, added by op_a's leader
    inventory = fleet_inventory(workdir, clusters, LEADERS)
    b_before = b.memberships(B)
    run = playbook(workdir, "membership", inventory)
    assert run.rc == 0, run
    assert a.adopt() == ["a-3"] and b.adopt() == []
    own_membership(a, A + ["a-3"])
    assert b.memberships(B) == b_before and changed_on(run, B) == 0, run
    assert summary(run) == {"op_a": "cluster op_a (3 hosts): changed", "op_b": "cluster op_b (2 hosts): ok"}
    assert a.wait_leader(ids=A + ["a-3"]) == LEADERS["op_a"] and b.wait_leader(ids=B) == LEADERS["op_b"]

    again = playbook(workdir, "membership", inventory)
    assert again.rc == 0 and again.changed == 0, again

    # a-1, op_a's first host (the one that led op_a's steps), dies with its machine and is retired: its conductor is
    # gone and the host no longer answers (SSH to a closed port). op_a's next host leads the removal, as run_once
    # chose the first host still running; op_b is again unchanged. The run is red: a-1 was unreachable.
    a.kill("a-1")
    dead = {"a-1": {"ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": 9}}
    inventory = fleet_inventory(workdir, clusters, LEADERS, members={"a-1": False}, host_vars=dead)
    retired = playbook(workdir, "membership", inventory)
    assert retired.rc != 0 and retired.recap["a-1"]["unreachable"] == 1, retired
    own_membership(a, ["a-2", "a-3"])
    assert b.memberships(B) == b_before and changed_on(retired, B) == 0, retired
    lines = summary(retired)
    assert lines["op_a"].startswith("cluster op_a (3 hosts): FAILED on a-1: "), lines
    assert lines["op_b"] == "cluster op_b (2 hosts): ok", lines


def test_a_refusal_in_one_cluster_leaves_it_untouched_and_the_other_brought_up(op_conductor, tmp_path):
    """op_d names a host of op_c as its initial leader (not one of its own members): op_d is refused before any of
    its state is written or any of its conductors started; op_c is brought up in the same run; the run is red."""
    clusters = {"op_c": ConductorCluster(op_conductor, tmp_path / "op_c-nodes", ["c-1", "c-2"]),
                "op_d": ConductorCluster(op_conductor, tmp_path / "op_d-nodes", ["d-1", "d-2"])}
    try:
        for c in clusters.values():
            c.start_stubs()
        inventory = fleet_inventory(tmp_path, clusters, {"op_c": "c-1", "op_d": "c-2"})
        run = playbook(tmp_path, "bring_up", inventory)
        assert run.rc != 0, run
        c, d = clusters["op_c"], clusters["op_d"]
        assert sorted(c.adopt()) == ["c-1", "c-2"] and d.adopt() == [], run
        own_membership(c, ["c-1", "c-2"])
        assert c.wait_leader(ids=["c-1", "c-2"]) == "c-1" and c.stubs.active() == ["c-1"]
        assert not any(n.node_dir.exists() for n in d.nodes.values()), "state was written in the refused cluster"
        assert d.stubs.calls() == [] and d.stubs.active() == []
        lines = summary(run)
        assert lines["op_c"] == "cluster op_c (2 hosts): changed", lines
        assert lines["op_d"].startswith("cluster op_d (2 hosts): FAILED on d-1, d-2: "), lines
        assert "conductor_initial_leader='c-2'" in lines["op_d"], lines
    finally:
        for c in clusters.values():
            c.close()
