"""The rolling_restart playbook over two op-conductor clusters in one inventory (issue 19 items 1 and 2): one run rolls
every cluster, the clusters side by side in waves (wave k restarts the k-th node of every cluster), each cluster as
one roll always went (followers first, the canary, the old leader last, one node down at a time); a degraded cluster
is refused while the other rolls completely, and the run is red with one summary line per cluster.

Two clusters of three real op-conductors: three is the smallest cluster a roll keeps quorate through (a stopped
node of three leaves two voters), and the degraded cluster is the realistic one - still leading and sequencing, one
conductor down, so one more stop would cost its quorum. The conductors are started and stopped through the role's
command hooks (conductorctl.py); each hook call is appended to an events file before it runs, so the order of stops
and starts per cluster and across the fleet is read from the records, not from clocks.
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest
import yaml

from harness import HERE, ConductorCluster, Node, wait_until
from playbook_runs import playbook
from ansible_collections.opstack.conductor.tests.support.playbooks import cluster_summary

CLUSTERS = {"op_a": ["a-1", "a-2", "a-3"], "op_b": ["b-1", "b-2", "b-3"]}
LEADERS = {"op_a": "a-2", "op_b": "b-2"}  # conductor_initial_leader of each cluster


def cluster_of(sid: str) -> str:
    return next(name for name, ids in CLUSTERS.items() if sid in ids)


def fleet_inventory(clusters: dict, workdir: Path, events: Path) -> Path:
    """sequencers over one child group per cluster (conductor_cluster_name in its vars), every node a local host;
    the hooks record '<action> <server id>' in ``events`` and then run conductorctl.py for the node's cluster."""
    hook = f"{sys.executable} {HERE / 'conductorctl.py'}"
    children = {}
    for name, c in clusters.items():
        spec = c.write_spec(workdir / f"{name}.json")

        def command(action, spec=spec):
            return (f"echo {action} {{{{ conductor_server_id }}}} >> {shlex.quote(str(events))} && "
                    f"{hook} {action} --spec {spec} --node {{{{ conductor_server_id }}}}")

        hosts = {sid: {"conductor_raft_address": n.raft_address, "conductor_rpc_url": n.rpc_url,
                       "conductor_node_rpc_url": c.stubs.node_url(sid), "conductor_storage_dir": str(n.storage),
                       "conductor_roll_backup_dest": str(workdir / "backups" / sid)}
                 for sid, n in c.nodes.items()}
        children[name] = {"hosts": hosts, "vars": {
            "conductor_cluster_name": name, "conductor_initial_leader": LEADERS[name],
            "conductor_service_start_command": command("start"), "conductor_service_stop_command": command("stop")}}
    inventory = {"all": {"children": {"sequencers": {"children": children, "vars": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        "conductor_wait_timeout": 60, "conductor_transfer_timeout": 30, "conductor_service_wait_timeout": 30,
        "conductor_roll_grace": 6, "conductor_roll_poll_interval": 0.5}}}}}
    path = workdir / "fleet.yml"
    path.write_text(yaml.safe_dump(inventory, sort_keys=False))
    return path


@pytest.fixture
def fleet(op_conductor, workdir):
    """Both clusters brought up by the bring_up playbook, one cluster group at a time (through the hooks), each leader
    sequencing. Each cluster's nodes get their own loopback addresses (127.0.0.11-13 and 127.0.0.14-16)."""
    clusters = {}
    for offset, (name, ids) in enumerate(CLUSTERS.items()):
        c = ConductorCluster(op_conductor, workdir / name, ids, health_interval=1, unsafe_interval=300)
        c.nodes = {sid: Node(offset * len(ids) + i, sid, c.root) for i, sid in enumerate(ids, 1)}
        clusters[name] = c
    events = workdir / "hook-events"
    try:
        for c in clusters.values():
            c.start_stubs()
        inventory = fleet_inventory(clusters, workdir, events)
        for name, c in clusters.items():
            run = playbook(workdir, "bring_up", inventory, "-e", f"conductor_group={name}")
            assert run.rc == 0, run
            c.adopt()
            assert c.wait_leader() == LEADERS[name]
            wait_until(lambda c=c: len(commits(c)) >= 2, 60, what=f"two blocks committed in {name}")
        yield clusters, workdir, inventory, events
    finally:
        for c in clusters.values():
            c.close()


def commits(c: ConductorCluster, since: int = 0) -> list[dict]:
    return [x for x in c.stubs.calls("conductor_commitUnsafePayload", since=since) if "error" not in x]


def hook_calls(events: Path, since: int = 0) -> list[tuple[str, str]]:
    """(action, server id) of every hook call, in the order they ran, from line ``since`` on."""
    lines = events.read_text().splitlines() if events.exists() else []
    return [tuple(line.split()) for line in lines[since:]]


def most_down(calls: list[tuple[str, str]], ids: list[str]) -> int:
    """The most nodes of ``ids`` stopped at once: a node is down from its stop hook until its start hook."""
    down, most = set(), 0
    for action, sid in calls:
        if sid in ids:
            (down.add if action == "stop" else down.discard)(sid)
            most = max(most, len(down))
    return most


def planned(run) -> dict:
    """{cluster: [server id]}: each cluster's roll order as its plan showed it (followers first, in inventory order,
    the leader last; its first is the canary). Read from the run, not assumed: a loaded machine may move leadership
    by election between the bring-up and the roll."""
    shown = re.findall(r'"cluster (\S+)",(?:\s*"(?:[^"\\]|\\.)*",)*?\s*"roll order: ([^"]*)"', run.out)
    return {name: order.split(", ") for name, order in shown}


def summary(run) -> dict:
    """The end-of-run lines of _cluster_summary.yml, {cluster: line}."""
    return cluster_summary(run.out)


def transfers(c: ConductorCluster, since: int) -> list[tuple[str, str]]:
    """Every change of the op-node whose blocks were committed (a leadership change), from the stub's records."""
    done = commits(c, since)
    return [(a["node"], b["node"]) for a, b in zip(done, done[1:]) if a["node"] != b["node"]]


def assert_rolled(c: ConductorCluster, name: str, mark: int, order: list[str]) -> None:
    """The cluster rolled as one roll always did: leadership moved once, from the old leader (the last of ``order``)
    to the canary (the first), which leads and sequences now; nothing paused; every node holds the marker and a
    backup; one chain, no gap in it."""
    canary, leader = order[0], order[-1]
    assert sorted(order) == sorted(c.nodes), (name, order)
    c.adopt()
    assert c.wait_leader() == canary and c.stubs.active() == [canary], name
    assert not any(c.rpc(sid, "conductor_paused") for sid in c.nodes), name
    assert all(c.nodes[sid].storage.joinpath(".conductor-roll").read_text() == "v2\n" for sid in c.nodes), name
    assert all(any((c.root.parent / "backups" / sid).iterdir()) for sid in c.nodes), name
    wait_until(lambda: commits(c, mark)[-1]["node"] == canary, 30, what=f"the canary of {name} committing")
    assert transfers(c, mark) == [(leader, canary)], (name, transfers(c, mark))
    assert c.stubs.max_active_seen <= 2 and all(set(s["active"]) <= {leader, canary} for s in c.stubs.double_active)
    numbers = [x["params"][0] for x in commits(c, mark)]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), name
    blocks = c.stubs.chain.blocks
    assert all(b["parent"] == a["hash"] for a, b in zip(blocks, blocks[1:])), name


def test_one_run_rolls_both_clusters_side_by_side_and_a_rerun_restarts_nothing(fleet):
    clusters, workdir, inventory, events = fleet
    marks = {name: c.stubs.mark() for name, c in clusters.items()}
    since = len(hook_calls(events))
    run = playbook(workdir, "rolling_restart", inventory, "-e", "conductor_roll_marker=v2", timeout=900)
    assert run.rc == 0 and run.failed == 0, run
    calls, orders = hook_calls(events, since), planned(run)
    for name, ids in CLUSTERS.items():
        mine = [call for call in calls if call[1] in ids]
        # one node at a time: each node stopped, then started again, before the next one of its cluster is stopped
        assert mine == [(action, sid) for sid in orders[name] for action in ("stop", "start")], (name, calls, run)
        assert most_down(calls, ids) == 1, (name, calls)
        assert_rolled(clusters[name], name, marks[name], orders[name])
    # the clusters rolled side by side: wave k stopped the k-th node of both before starting either again
    assert most_down(calls, [sid for ids in CLUSTERS.values() for sid in ids]) == 2, calls
    assert summary(run) == {"op_a": "cluster op_a (3 hosts): changed", "op_b": "cluster op_b (3 hosts): changed"}, run

    since = len(hook_calls(events))
    again = playbook(workdir, "rolling_restart", inventory, "-e", "conductor_roll_marker=v2")
    assert again.rc == 0 and again.changed == 0, again
    assert hook_calls(events, since) == [], again
    assert summary(again) == {"op_a": "cluster op_a (3 hosts): ok", "op_b": "cluster op_b (3 hosts): ok"}, again

    # clusters of different lengths (op_a two followers, op_b one): op_b's only wave is reported though op_a's second
    # wave runs after it (what a host registered in its own wave outlives the later waves)
    since = len(hook_calls(events))
    some = playbook(workdir, "rolling_restart", inventory, "-e", "conductor_roll_hosts=a-2,a-3,b-3", timeout=900)
    assert some.rc == 0 and some.failed == 0, some
    calls, orders = hook_calls(events, since), planned(some)
    assert orders == {"op_a": ["a-2", "a-3"], "op_b": ["b-3"]}, some  # followers only: leadership stays
    # wave 0 stops a-2 and b-3 (in either order) before starting either again; wave 1 is a-3 alone
    assert sorted(calls[:2]) == [("stop", "a-2"), ("stop", "b-3")], calls
    assert sorted(calls[2:4]) == [("start", "a-2"), ("start", "b-3")], calls
    assert calls[4:] == [("stop", "a-3"), ("start", "a-3")], calls
    assert summary(some) == {"op_a": "cluster op_a (3 hosts): changed", "op_b": "cluster op_b (3 hosts): changed"}, some


def test_a_degraded_cluster_is_refused_while_the_other_rolls_completely(fleet):
    clusters, workdir, inventory, events = fleet
    clusters["op_b"].stop("b-3")  # op_b still leads and sequences on two conductors: degraded, not down
    marks = {name: c.stubs.mark() for name, c in clusters.items()}
    since = len(hook_calls(events))
    run = playbook(workdir, "rolling_restart", inventory, "-e", "conductor_roll_marker=v2", timeout=900)
    assert run.rc != 0, run
    assert "the cluster is degraded, so the roll does not start" in run.out and "b-3 does not answer" in run.out, run
    calls, orders = hook_calls(events, since), planned(run)
    assert list(orders) == ["op_a"], run  # op_b was refused before its plan was shown
    assert calls == [(action, sid) for sid in orders["op_a"] for action in ("stop", "start")], (calls, run)
    assert_rolled(clusters["op_a"], "op_a", marks["op_a"], orders["op_a"])
    b = clusters["op_b"]
    assert not any(b.nodes[sid].storage.joinpath(".conductor-roll").exists() for sid in CLUSTERS["op_b"])
    assert b.wait_leader(ids=["b-1", "b-2"]) == LEADERS["op_b"] and transfers(b, marks["op_b"]) == []
    assert all(run.recap[sid]["failed"] == 1 for sid in CLUSTERS["op_b"]), run
    lines = summary(run)
    assert lines["op_a"] == "cluster op_a (3 hosts): changed", lines
    assert lines["op_b"].startswith("cluster op_b (3 hosts): FAILED on b-1, b-2, b-3: host b-1: "), lines
    assert "b-3 does not answer" in lines["op_b"], lines


def test_a_failure_mid_roll_stops_its_cluster_while_the_other_completes(fleet):
    clusters, workdir, inventory, events = fleet
    # b-3's start hook fails from now on (after recording the call): op_b's second wave fails with b-3 down
    fleet_vars = yaml.safe_load(inventory.read_text())
    b3 = fleet_vars["all"]["children"]["sequencers"]["children"]["op_b"]["hosts"]["b-3"]
    b3["conductor_service_start_command"] = f"echo start b-3 >> {shlex.quote(str(events))} && false"
    inventory.write_text(yaml.safe_dump(fleet_vars, sort_keys=False))
    marks = {name: c.stubs.mark() for name, c in clusters.items()}
    since = len(hook_calls(events))
    run = playbook(workdir, "rolling_restart", inventory, "-e", "conductor_roll_marker=v2", timeout=900)
    assert run.rc != 0, run
    calls, orders = hook_calls(events, since), planned(run)
    assert [call for call in calls if call[1] in CLUSTERS["op_a"]] == [
        (action, sid) for sid in orders["op_a"] for action in ("stop", "start")], (calls, run)
    assert_rolled(clusters["op_a"], "op_a", marks["op_a"], orders["op_a"])
    # op_b: its first follower rolled, the second failed to start, so its later wave (the leader) never stopped
    first, failed, leader = orders["op_b"]
    assert [call for call in calls if call[1] in CLUSTERS["op_b"]] == [
        ("stop", first), ("start", first), ("stop", failed), ("start", failed)], (calls, run)
    assert failed == "b-3", orders  # the follower whose hook fails: the second in inventory order
    b = clusters["op_b"]
    b.adopt()
    assert b.wait_leader() == leader and b.stubs.active() == [leader] and transfers(b, marks["op_b"]) == []
    assert [b.nodes[sid].storage.joinpath(".conductor-roll").exists() for sid in (first, failed, leader)] == [
        True, False, False]
    assert all(run.recap[sid]["failed"] == 1 for sid in CLUSTERS["op_b"]), run
    lines = summary(run)
    assert lines["op_a"] == "cluster op_a (3 hosts): changed", lines
    assert lines["op_b"].startswith("cluster op_b (3 hosts): FAILED on b-1, b-2, b-3: host b-3: cluster op_b: "
                                    "the roll stopped at b-3 (Start op-conductor with the start command)"), lines
