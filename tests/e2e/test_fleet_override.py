"""Issue 19 items 1 and 2 for the override playbook, against the real op-conductor v1.19.0: two clusters of real
conductors in ONE inventory (group sequencers, a child group per cluster naming it with conductor_cluster_name).
One run breaks glass in both, each on its own (its own pauses, its own chosen op-node, exactly one active sequencer
in each), and one run of the way back brings both back; a cluster that is not confirmed, or whose conductor does not
answer, is refused with nothing changed in it while the other cluster is overridden, and a cluster whose op-node
restart fails on the way back stops before its restore while the other goes back: the run red, one summary line per
cluster.

Two conductors per cluster where that is enough (a follower to choose, the Raft leader the way back needs); three in
the cluster with a stopped conductor, which keeps its quorum that way.
"""

from __future__ import annotations

import sys

import yaml

from harness import HERE, ConductorCluster, wait_until
from l2stub import rpc_call
from playbook_runs import playbook

CHAINS = {"chain_a": ["a-seq-1", "a-seq-2"], "chain_b": ["b-seq-1", "b-seq-2"]}


def fleet_inventory(clusters: dict, workdir, cluster_vars: dict | None = None,
                    filename: str = "fleet.yml"):
    """hosts.yml: group sequencers with one child group per cluster (named like it, conductor_cluster_name set);
    each cluster's op-node restart hook drives its own stub cluster."""
    children = {}
    for name, c in clusters.items():
        restart = f"{sys.executable} {HERE / 'l2stub.py'} --control {c.stubs.node_url(next(iter(c.nodes)))} " \
                  "stub_restart {{ conductor_server_id }}"
        hosts = {sid: {"conductor_raft_address": n.raft_address, "conductor_rpc_url": n.rpc_url,
                       "conductor_node_rpc_url": c.stubs.node_url(sid)} for sid, n in c.nodes.items()}
        children[name] = {"hosts": hosts, "vars": {"conductor_cluster_name": name,
                                                   "conductor_op_node_restart_command": restart,
                                                   **(cluster_vars or {}).get(name, {})}}
    inv = {"all": {"children": {"sequencers": {"children": children, "vars": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        "conductor_override_timeout": 30, "conductor_wait_timeout": 60}}}}}
    path = workdir / filename
    path.write_text(yaml.safe_dump(inv, sort_keys=False))
    return path


def start_sequencing(c: ConductorCluster) -> str:
    """The elected leader's op-node sequencing through its conductor, every conductor resumed (what bring_up
    leaves)."""
    leader = c.wait_leader()
    rpc_call(c.stubs.node_url(leader), "admin_startSequencer", [c.stubs.chain.head()["hash"]])
    for sid in [s for s in c.nodes if s != leader] + [leader]:
        c.rpc(sid, "conductor_resume")
    wait_until(lambda: committed(c, leader), 30, what="a block committed through the leader's conductor")
    assert c.stubs.active() == [leader] and c.wait_leader() == leader
    return leader


def make_fleet(make_cluster, chains: dict) -> dict:
    """{cluster name: (ConductorCluster, its sequencing leader)}."""
    clusters = {name: make_cluster(ids=ids) for name, ids in chains.items()}
    return {name: (c, start_sequencing(c)) for name, c in clusters.items()}


def committed(c: ConductorCluster, node: str, since: int = 0) -> list:
    return [x for x in c.stubs.calls("conductor_commitUnsafePayload", node=node, since=since) if "result" in x]


def state(c: ConductorCluster) -> dict:
    """{node: (conductor_paused, conductor_leaderOverridden)} of the running conductors."""
    return {sid: (c.rpc(sid, "conductor_paused"), c.rpc(sid, "conductor_leaderOverridden")) for sid in c.running()}


def admin_calls(c: ConductorCluster, since: int) -> list:
    changing = ("admin_stopSequencer", "admin_startSequencer", "admin_overrideLeader", "<restart>")
    return [(x["node"], x["method"]) for x in c.stubs.calls(lambda m: m in changing, since=since)]


def summary(run, name: str) -> str:
    """The summary line of cluster ``name`` (from _cluster_summary.yml)."""
    lines = [line.strip().strip('",') for line in run.out.splitlines() if f'"cluster {name} (' in line]
    assert len(lines) == 1, run
    return lines[0]


def test_one_run_breaks_glass_in_every_cluster_and_one_run_goes_back(make_cluster, workdir):
    fleet = make_fleet(make_cluster, CHAINS)
    (a, a_leader), (b, b_leader) = fleet["chain_a"], fleet["chain_b"]
    a_chosen = next(s for s in a.nodes if s != a_leader)
    # chain_a names its node in its own group vars; chain_b's op-nodes share one head, so the tie goes to the node
    # that sequences now (nothing moves there).
    inventory = fleet_inventory({"chain_a": a, "chain_b": b}, workdir,
                                {"chain_a": {"conductor_override_leader": a_chosen}})
    running = {name: {sid: (False, False) for sid in c.nodes} for name, (c, _leader) in fleet.items()}
    marks = {name: c.stubs.mark() for name, (c, _leader) in fleet.items()}

    # Only chain_a confirmed (check mode): chain_a's plan, chain_b refused; nothing sent to either.
    checked = playbook(workdir, "override", inventory, "-e", "conductor_override_confirm=chain_a", "--check")
    assert checked.rc != 0 and f"stop the sequencer of {a_leader}" in checked.out, checked
    assert "cluster chain_b: nothing was changed" in checked.out, checked
    assert "-e conductor_override_confirm=chain_b" in checked.out, checked
    assert "FAILED" not in summary(checked, "chain_a") and "FAILED" in summary(checked, "chain_b"), checked
    assert {name: state(c) for name, (c, _l) in fleet.items()} == running
    assert all(admin_calls(c, marks[name]) == [] for name, (c, _l) in fleet.items())

    run = playbook(workdir, "override", inventory, "-e", '{"conductor_override_confirm": "chain_a, chain_b"}')
    assert run.rc == 0, run
    assert summary(run, "chain_a").endswith(": changed") and summary(run, "chain_b").endswith(": changed"), run
    assert f"start_sequencer {a_chosen} at 0x" in run.out and f"(active after it: {a_chosen})" in run.out, run
    for c, chosen in ((a, a_chosen), (b, b_leader)):
        assert state(c) == {sid: (True, sid == chosen) for sid in c.nodes}
        assert c.stubs.active() == [chosen] and c.stubs.nodes[chosen].override
    assert admin_calls(a, marks["chain_a"]) == [(a_chosen, "admin_overrideLeader"), (a_leader, "admin_stopSequencer"),
                                                (a_chosen, "admin_startSequencer")]
    assert admin_calls(b, marks["chain_b"]) == [(b_leader, "admin_overrideLeader")]
    for c, chosen in ((a, a_chosen), (b, b_leader)):  # the override: the break-glass sequencer commits nothing
        glass, height = c.stubs.mark(), c.stubs.chain.head()["number"]
        wait_until(lambda c=c, chosen=chosen, height=height: c.stubs.chain.head()["number"] > height
                   and c.stubs.chain.head()["producer"] == chosen, 20, what=f"{chosen} to build a block")
        assert c.stubs.calls("conductor_commitUnsafePayload", node=chosen, since=glass) == []
    again = playbook(workdir, "override", inventory, "-e", "conductor_override_confirm=sequencers")
    assert again.rc == 0 and again.changed == 0, again

    # The way back with chain_b's op-node restart hook failing: chain_a goes back, chain_b stops before its restore
    # (released: every conductor paused, its break-glass sequencer stopped, none active), the run red.
    back_marks = {name: c.stubs.mark() for name, (c, _l) in fleet.items()}
    broken = fleet_inventory({"chain_a": a, "chain_b": b}, workdir, {
        "chain_a": {"conductor_override_leader": a_chosen}, "chain_b": {"conductor_op_node_restart_command": "false"}},
        filename="broken-hook.yml")
    half = playbook(workdir, "override", broken, "-e", "conductor_override_confirm=sequencers",
                    "-e", "conductor_override_state=absent")
    assert half.rc != 0 and summary(half, "chain_a").endswith(": changed"), half
    assert f"FAILED on b-seq-1, b-seq-2: host {b_leader}: non-zero return code" in summary(half, "chain_b"), half
    assert "stopped before the restore" in half.out, half
    a_leader_back = a.wait_leader()
    assert state(a) == running["chain_a"] and a.stubs.active() == [a_leader_back]
    assert state(b) == {sid: (True, sid == b_leader) for sid in b.nodes} and b.stubs.active() == []
    assert admin_calls(b, back_marks["chain_b"]) == [(b_leader, "admin_stopSequencer")]

    back = playbook(workdir, "override", inventory, "-e", "conductor_override_confirm=sequencers",
                    "-e", "conductor_override_state=absent")
    assert back.rc == 0, back
    assert summary(back, "chain_a").endswith(": ok") and summary(back, "chain_b").endswith(": changed"), back
    for name, (c, _l), chosen in (("chain_a", fleet["chain_a"], a_chosen), ("chain_b", fleet["chain_b"], b_leader)):
        leader = c.wait_leader()
        assert state(c) == running[name] and c.stubs.active() == [leader]
        assert not c.stubs.nodes[chosen].override and c.stubs.nodes[chosen].restarts == 1
        wait_until(lambda c=c, leader=leader, name=name: committed(c, leader, since=back_marks[name]), 30,
                   what=f"{name}'s Raft leader to commit blocks again")
    assert admin_calls(a, back_marks["chain_a"]) == [(a_chosen, "admin_stopSequencer"), (a_chosen, "<restart>"),
                                                     (a_leader_back, "admin_startSequencer")]
    b_leader_back = b.wait_leader()
    assert admin_calls(b, back_marks["chain_b"]) == [(b_leader, "admin_stopSequencer"), (b_leader, "<restart>"),
                                                     (b_leader_back, "admin_startSequencer")]
    resumed = playbook(workdir, "override", inventory, "-e", "conductor_override_confirm=sequencers",
                       "-e", "conductor_override_state=absent")
    assert resumed.rc == 0 and resumed.changed == 0, resumed

    # exactly one active sequencer in each cluster whenever its stub looked (every 0.1 s)
    for c in (a, b):
        assert c.stubs.max_active_seen == 1 and c.stubs.double_active == []


def test_a_cluster_whose_conductor_does_not_answer_is_refused_while_the_other_breaks_glass(make_cluster, workdir):
    # chain_b has three conductors: with one stopped it keeps its Raft quorum (two of two would lose it, and its
    # leader's conductor would stop its own sequencer), so all that happens to it is the playbook's doing
    fleet = make_fleet(make_cluster, dict(CHAINS, chain_b=CHAINS["chain_b"] + ["b-seq-3"]))
    (a, a_leader), (b, b_leader) = fleet["chain_a"], fleet["chain_b"]
    a_chosen = next(s for s in a.nodes if s != a_leader)
    stopped = next(s for s in b.nodes if s != b_leader)
    inventory = fleet_inventory({"chain_a": a, "chain_b": b}, workdir,
                                {"chain_a": {"conductor_override_leader": a_chosen}})
    marks = {name: c.stubs.mark() for name, (c, _leader) in fleet.items()}
    b.stop(stopped)

    run = playbook(workdir, "override", inventory, "-e", "conductor_override_confirm=sequencers")
    assert run.rc != 0, run
    assert summary(run, "chain_a").endswith(": changed"), run
    line = summary(run, "chain_b")
    assert "FAILED on " in line and f"{stopped}: conductor: cannot reach {b.nodes[stopped].rpc_url}" in line, run
    assert "nothing was changed" in line, run
    # chain_b: its running conductor unpaused (no pause left behind), nothing sent to its op-nodes
    assert state(b) == {sid: (False, False) for sid in b.nodes if sid != stopped}
    assert admin_calls(b, marks["chain_b"]) == []
    assert b.stubs.active() == [b_leader]
    # chain_a: broken glass onto its chosen node
    assert state(a) == {sid: (True, sid == a_chosen) for sid in a.nodes}
    assert a.stubs.active() == [a_chosen] and a.stubs.nodes[a_chosen].override
    assert admin_calls(a, marks["chain_a"]) == [(a_chosen, "admin_overrideLeader"), (a_leader, "admin_stopSequencer"),
                                                (a_chosen, "admin_startSequencer")]
    for c in (a, b):
        assert c.stubs.max_active_seen == 1 and c.stubs.double_active == []
