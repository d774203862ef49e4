"""The recover playbook over a fleet (issue 19 items 1 and 2): two clusters of real op-conductors in ONE inventory
(sequencers over op_a and op_b, conductor_cluster_name per child group) lose their quorum at once, as in a zone
outage (two of three conductors of each killed and their state destroyed). One recover run brings both back, each
with its own survivor, head check, mode and verification; a cluster that is not confirmed is refused and left
exactly as it was while the other is recovered, the run red, one line per cluster at the end.

The conductors are started and stopped by the playbooks through the command hooks (conductorctl.py), one spec file
per cluster.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from harness import HERE, ConductorCluster, wait_until
from playbook_runs import playbook
from ansible_collections.opstack.conductor.tests.support.playbooks import cluster_summary

CLUSTERS = {"op_a": ["a-1", "a-2", "a-3"], "op_b": ["b-1", "b-2", "b-3"]}
LEADERS = {"op_a": "a-2", "op_b": "b-2"}


def fleet_inventory(fleet: dict, workdir: Path) -> Path:
    """One inventory: sequencers over one child group per cluster, each naming its cluster, its initial leader and
    the hooks that start and stop its own conductors."""
    children = {}
    for name, c in fleet.items():
        spec = c.write_spec(workdir / f"conductors-{name}.json")
        hook = f"{sys.executable} {HERE / 'conductorctl.py'}"
        node = f"--spec {spec} --node {{{{ conductor_server_id }}}}"
        hosts = {sid: {"conductor_raft_address": n.raft_address, "conductor_rpc_url": n.rpc_url,
                       "conductor_node_rpc_url": c.stubs.node_url(sid), "conductor_storage_dir": str(n.storage),
                       "conductor_recover_backup_dest": str(workdir / "backups" / sid)}
                 for sid, n in c.nodes.items()}
        children[name] = {"hosts": hosts, "vars": {
            "conductor_cluster_name": name, "conductor_initial_leader": LEADERS[name],
            "conductor_service_start_command": hook + " start " + node,
            "conductor_service_stop_command": hook + " stop " + node}}
    inv = {"all": {"vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                            "conductor_wait_timeout": 60, "conductor_transfer_timeout": 30,
                            "conductor_service_wait_timeout": 30},
                   "children": {"sequencers": {"children": children}}}}
    path = workdir / "fleet.yml"
    path.write_text(yaml.safe_dump(inv, sort_keys=False))
    return path


def committed_numbers(c: ConductorCluster, since: int = 0) -> list[int]:
    return [x["params"][0] for x in c.stubs.calls("conductor_commitUnsafePayload", since=since) if "error" not in x]


@pytest.fixture
def fleet(op_conductor, workdir):
    """Two clusters of three conductors, each brought up by bring_up (one cluster per run) and sequencing."""
    clusters = {name: ConductorCluster(op_conductor, workdir / name, ids) for name, ids in CLUSTERS.items()}
    try:
        for c in clusters.values():
            c.start_stubs()
        addresses = [n.raft_address for c in clusters.values() for n in c.nodes.values()]
        assert len(set(addresses)) == len(addresses), addresses
        inventory = fleet_inventory(clusters, workdir)
        for name, c in clusters.items():
            run = playbook(workdir, "bring_up", inventory, "-e", f"conductor_group={name}", timeout=400)
            assert run.rc == 0 and not run.failed, run
            c.adopt()
            assert c.wait_leader() == LEADERS[name]
            wait_until(lambda c=c: len(committed_numbers(c)) >= 2, 30, what=f"two blocks committed in {name}")
        yield clusters, workdir, inventory
    finally:
        for c in clusters.values():
            c.close()


def lose_quorum(fleet: dict) -> dict:
    """The zone outage: in every cluster the two followers are SIGKILLed and their node directories deleted.
    Returns {cluster: chain head} once no cluster has a leader and no sequencer runs but the killed ones' op-nodes."""
    for name, c in fleet.items():
        for sid in c.nodes:
            if sid != LEADERS[name]:
                c.kill(sid)
                shutil.rmtree(c.nodes[sid].node_dir)
    heads = {}
    for name, c in fleet.items():
        lost = [sid for sid in c.nodes if sid != LEADERS[name]]
        wait_until(lambda c=c, lost=lost: not c.claimed_leaders() and set(c.stubs.active()) <= set(lost), 30,
                   what=f"no leader in {name}")
        heads[name] = c.stubs.chain.head()["number"]
    return heads


def recovered_heads(out: str) -> dict:
    """{survivor: FSM head} as each cluster's plan printed it."""
    return {sid: int(block) for sid, block in re.findall(r"survivor: (\S+) \(\1\),[^\n]*? head block (\d+) 0x", out)}


def summary(out: str) -> dict:
    """The last lines of the run, {cluster: line} (playbooks/_cluster_summary.yml)."""
    return cluster_summary(out)


def storage_digest(c: ConductorCluster) -> dict:
    """{path: bytes} of every file under every node's storage directory (its node directory and anything beside
    it, such as a directory moved aside); the conductors' own logs are left out: a running one keeps writing."""
    return {str(p): p.read_bytes() for n in c.nodes.values() for p in sorted(n.storage.rglob("*")) if p.is_file()}


def assert_recovered(c: ConductorCluster, lost_at: int, head: int, mark: int) -> str:
    """One leader, every node's membership the inventory's three voters, exactly the leader's op-node sequencing
    again from the kept head, no block number repeated or going backwards."""
    c.adopt()
    leader = c.wait_leader(timeout=60)
    three = sorted((s["id"], s["address"], 0) for s in c.servers())  # 0: Voter
    wait_until(lambda: sorted(c.memberships()) == sorted(c.nodes)
               and all(m[1] == three for m in c.memberships().values()), 60, what="three voters on every node")
    wait_until(lambda: c.stubs.chain.head()["number"] >= head + 2, 60, what="sequencing to resume")
    wait_until(lambda: c.stubs.active() == [leader], 60, what="only the leader's op-node to sequence")
    numbers = [b["number"] for b in c.stubs.chain.blocks]
    assert numbers == list(range(len(numbers))), "the chain reorged"
    after = committed_numbers(c, since=mark)
    assert after and after[0] == max(head, lost_at) + 1 and after == sorted(set(after)), after
    return leader


def kept_head(c: ConductorCluster, lost_at: int, recovered: int) -> None:
    """The recovered head is the chain head at the loss, or one block more: the payload the leader could not commit
    for lack of quorum, still in its log (RecoverCluster replays the whole log; op-conductor posts it to op-node)."""
    failed = [x["params"][0] for x in c.stubs.calls("conductor_commitUnsafePayload") if "error" in x]
    assert recovered == lost_at or (recovered == lost_at + 1 and lost_at + 1 in failed), (recovered, lost_at, failed)


def test_one_run_recovers_every_cluster_that_lost_its_quorum(fleet):
    clusters, workdir, inventory = fleet
    lost_at = lose_quorum(clusters)
    marks = {name: c.stubs.mark() for name, c in clusters.items()}
    run = playbook(workdir, "recover", inventory, "-e", "conductor_recover_confirm=op_a,op_b", timeout=600)
    assert run.rc == 0 and not run.failed, run
    heads = recovered_heads(run.out)
    assert sorted(heads) == sorted(LEADERS.values()), run  # each cluster chose its own survivor
    for name, c in clusters.items():
        kept_head(c, lost_at[name], heads[LEADERS[name]])
        assert assert_recovered(c, lost_at[name], heads[LEADERS[name]], marks[name]) == LEADERS[name]
        assert (workdir / "backups" / LEADERS[name]).is_dir(), "the survivor was not backed up first"
    assert summary(run.out) == {name: f"cluster {name} (3 hosts): changed" for name in clusters}, run


def test_a_cluster_not_confirmed_is_left_as_it_was_while_the_other_is_recovered(fleet):
    clusters, workdir, inventory = fleet
    lost_at = lose_quorum(clusters)
    refused = clusters["op_b"]
    before = storage_digest(refused)
    mark = clusters["op_a"].stubs.mark()
    run = playbook(workdir, "recover", inventory, "-e", "conductor_recover_confirm=op_a", timeout=600)
    assert run.rc != 0, run
    lines = summary(run.out)
    assert lines["op_a"] == "cluster op_a (3 hosts): changed", lines
    assert lines["op_b"].startswith("cluster op_b (3 hosts): FAILED on b-1, b-2, b-3: "), lines
    assert "conductor_recover_confirm is 'op_a': cluster op_b is not confirmed" in lines["op_b"], lines
    # op_b untouched: its surviving conductor still runs (never stopped; a lone follower with pre-vote writes no
    # new term), every file of its nodes' storage the same, nothing backed up; op_a recovered with its own survivor
    # and head.
    assert refused.running() == [LEADERS["op_b"]], "a refused cluster's conductor was stopped"
    assert storage_digest(refused) == before
    assert not any((workdir / "backups" / sid).exists() for sid in CLUSTERS["op_b"])
    heads = recovered_heads(run.out)
    assert list(heads) == [LEADERS["op_a"]], run
    kept_head(clusters["op_a"], lost_at["op_a"], heads[LEADERS["op_a"]])
    assert assert_recovered(clusters["op_a"], lost_at["op_a"], heads[LEADERS["op_a"]], mark) == LEADERS["op_a"]


def test_one_run_reseeds_every_cluster_whose_nodes_all_lost_their_state(fleet):
    """Every node's state of both clusters is gone: one run in mode reseed brings each back from its inventory at
    its own re-seed term, led by the voter whose op-node holds its chain's highest unsafe head (conductor_cluster's
    bring_up per cluster), sequencing again from that head."""
    clusters, workdir, inventory = fleet
    heads = {}
    for name, c in clusters.items():
        for sid in c.nodes:
            c.kill(sid)
            shutil.rmtree(c.nodes[sid].node_dir)
        wait_until(lambda c=c: not c.running(), 10, what=f"every conductor of {name} to exit")
    for name, c in clusters.items():  # op-node's sequencer (the stub's) still runs but cannot commit: the head stays
        heads[name] = c.stubs.chain.head()["number"]
    marks = {name: c.stubs.mark() for name, c in clusters.items()}
    run = playbook(workdir, "recover", inventory, "-e", "conductor_recover_confirm=sequencers",
                   "-e", "conductor_recover_mode=reseed", timeout=600)
    assert run.rc == 0 and not run.failed, run
    assert len(re.findall(r"re-seed term: 1, leader [ab]-1", run.out)) == 2, run
    for name, c in clusters.items():
        assert assert_recovered(c, heads[name], heads[name], marks[name]) == CLUSTERS[name][0]
    assert summary(run.out) == {name: f"cluster {name} (3 hosts): changed" for name in clusters}, run
