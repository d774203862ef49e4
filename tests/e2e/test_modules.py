"""The live modules against real op-conductor processes started from our pre-generated Raft state."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from harness import COLLECTIONS, IDS, REPO, wait_until

MUTATING_NODE_CALLS = ("admin_startSequencer", "admin_stopSequencer", "admin_postUnsafePayload")


def force_leader(c, sid):
    """Make ``sid`` lead with a raw RPC call (not our module), to set up an initial winner."""
    for _attempt in range(5):
        leader = c.wait_leader()
        if leader == sid:
            return
        try:
            c.rpc(leader, "conductor_transferLeaderToServer", sid, c.nodes[sid].raft_address, timeout=15)
        except Exception:  # noqa: BLE001 (a timeout may still complete; the wait decides)
            pass
        try:
            wait_until(lambda: c.wait_leader(timeout=5) == sid, 10, what=f"{sid} to lead")
            return
        except (TimeoutError, AssertionError):
            continue
    raise AssertionError(f"could not make {sid} lead")


def live_state(c):
    return dict(leaders=c.leaders(), memberships=c.memberships(),
                paused={s: c.rpc(s, "conductor_paused") for s in c.running()},
                overridden={s: c.rpc(s, "conductor_leaderOverridden") for s in c.running()},
                sequencers=c.stubs.active())


def test_cluster_forms_without_bootstrap_node_from_our_state(make_cluster, module):
    c = make_cluster()
    # Every node was started with --raft.bootstrap=false --paused from the state raft_state wrote.
    for sid in IDS:
        assert "--raft.bootstrap=false" in c.command(sid) and "--paused=true" in c.command(sid)
        text = c.nodes[sid].log_path.read_text()
        assert "initial configuration: index=1" in text and "bootstrap" not in text.lower().replace(
            "raft.bootstrap=false", "")
    want = sorted((s["id"], s["address"], 0) for s in c.servers())
    assert {sid: m[1] for sid, m in c.memberships().items()} == {sid: want for sid in IDS}
    leader = c.wait_leader()
    assert c.claimed_leaders() == [leader]
    info = module("conductor_info", dict(nodes=c.module_nodes(), expected_servers=c.servers(),
                                         fail_on_disagreement=True))
    assert not info.get("failed"), info.get("msg")
    view = info["cluster"]
    assert view["agree"] and view["leader"]["id"] == leader and view["drift"]["in_sync"]
    assert view["leader"]["address"] == c.nodes[leader].raft_address
    assert sorted(view["paused"]) == sorted(IDS) and view["active"] == [] and view["sequencers_active"] == []
    assert all(n["reachable"] and n["missing"] == [] for n in info["nodes"])
    assert len(info["table"]) == len(IDS) + 2 and "all nodes agree" in info["table"][-1]
    # What op-conductor asked the stubs at start-up, per node; a paused cluster never drives a sequencer.
    for sid in IDS:
        names = [x["method"] for x in c.stubs.calls(node=sid)]
        assert names[:2] == ["admin_conductorEnabled", "admin_sequencerActive"], names
    assert not c.stubs.calls(lambda m: m in MUTATING_NODE_CALLS)


def test_info_flags_disagreement_and_unreachable(make_cluster, module):
    c = make_cluster()
    victim = [s for s in IDS if s != c.wait_leader()][0]
    c.kill(victim)
    info = module("conductor_info", dict(nodes=c.module_nodes(), expected_servers=c.servers()))
    assert not info["failed"] if "failed" in info else True
    assert info["cluster"]["unreachable"] == [victim] and not info["cluster"]["agree"]
    assert any(victim in d for d in info["cluster"]["disagreements"])
    strict = module("conductor_info", dict(nodes=c.module_nodes(), fail_on_disagreement=True))
    assert strict["failed"] and victim in strict["msg"]
    missing = module("conductor_info", dict(nodes=c.module_nodes(), expected_servers=c.servers()[:2]))
    assert missing["cluster"]["drift"]["extra"] == [IDS[2]]


def test_leader_lands_on_chosen_node_from_every_initial_winner(make_cluster, module):
    c = make_cluster()
    nodes = c.module_nodes()
    for initial in IDS:
        for chosen in IDS:
            force_leader(c, initial)
            before = live_state(c)
            plan = module("conductor_leader", dict(nodes=nodes, leader=chosen), check_mode=True)
            assert not plan.get("failed"), plan.get("msg")
            assert plan["changed"] == (initial != chosen)
            assert live_state(c) == before, "check mode changed the cluster"
            if initial != chosen:
                assert plan["plan"] == {"from": initial, "to": chosen, "address": c.nodes[chosen].raft_address}
            res = module("conductor_leader", dict(nodes=nodes, leader=chosen))
            assert not res.get("failed"), res.get("msg")
            assert res["changed"] == (initial != chosen) and res["leader"]["id"] == chosen
            assert set(c.leaders().values()) == {chosen} and c.claimed_leaders() == [chosen]
            again = module("conductor_leader", dict(nodes=nodes, leader=chosen))
            assert again["changed"] is False and again["leader"]["id"] == chosen


def test_leader_refuses_what_it_cannot_do(make_cluster, module):
    c = make_cluster()
    nodes = c.module_nodes()
    r = module("conductor_leader", dict(nodes=nodes, leader="nobody"))
    assert r["failed"] and "not one of nodes" in r["msg"]
    # a non-voter cannot lead
    r = module("conductor_membership", dict(nodes=nodes, servers=c.servers()[:2] + [
        dict(c.servers()[2], suffrage="nonvoter")], transfer_leadership=True))
    assert not r.get("failed"), r.get("msg")
    r = module("conductor_leader", dict(nodes=nodes, leader=IDS[2]))
    assert r["failed"] and "not a voter" in r["msg"]
    # an unhealthy target is refused unless require_healthy=false
    c2 = make_cluster(ids=["seq-a", "seq-b", "seq-c"], health_interval=1, unsafe_interval=3600)
    target = [s for s in c2.nodes if s != c2.wait_leader()][0]
    c2.stubs.nodes[target].peers = 0  # below --healthcheck.min-peer-count
    wait_until(lambda: c2.rpc(target, "conductor_sequencerHealthy") is False, 20, what="unhealthy target")
    r = module("conductor_leader", dict(nodes=c2.module_nodes(), leader=target))
    assert r["failed"] and "unhealthy" in r["msg"]
    assert c2.wait_leader() != target


def test_check_mode_changes_nothing_on_the_live_cluster(make_cluster, module):
    c = make_cluster()
    c.add_node("sequencer-4")
    c.start("sequencer-4")
    leader = c.wait_leader()
    other = [s for s in IDS if s != leader][0]
    before = live_state(c)
    mark = c.stubs.mark()
    nodes = c.module_nodes()
    results = [
        module("conductor_leader", dict(nodes=nodes[:3], leader=other), check_mode=True),
        module("conductor_membership", dict(nodes=nodes, servers=c.servers()), check_mode=True),
        module("conductor_membership", dict(nodes=nodes, servers=c.servers(IDS[1:] + ["sequencer-4"]),
                                            transfer_leadership=True), check_mode=True),
        module("conductor_control", dict(nodes=nodes[:3], paused=False, override_leader=True), check_mode=True),
        module("op_node_sequencer", dict(node_rpc_url=c.stubs.node_url(leader), conductor_url=c.nodes[leader].rpc_url,
                                         nodes=nodes[:3], state="active"), check_mode=True),
    ]
    for r in results:
        assert not r.get("failed"), r.get("msg")
        assert r["changed"] is True
    assert results[1]["plan"] == [dict(op="add_voter", id="sequencer-4", address=c.nodes["sequencer-4"].raft_address,
                                       reason="not a member")]
    assert "sequencer-4" in results[1]["diff"]["after"] and "sequencer-4" not in results[1]["diff"]["before"]
    time.sleep(1)
    assert live_state(c) == before
    assert not c.stubs.calls(lambda m: m in MUTATING_NODE_CALLS, since=mark)


def test_membership_add_and_retire_a_fourth_node_without_losing_quorum(make_cluster, module, leader_watch):
    c = make_cluster()
    new = c.add_node("sequencer-4")  # starts with an empty storage dir: it joins when the leader adds it
    c.start("sequencer-4")
    four = c.servers(IDS + ["sequencer-4"])
    with leader_watch(c) as watch:
        r = module("conductor_membership", dict(nodes=c.module_nodes(), servers=four))
        assert not r.get("failed"), r.get("msg")
        assert [s["op"] for s in r["applied"]] == ["add_voter"] and r["applied"][0]["id"] == "sequencer-4"
        want = sorted((s["id"], s["address"], 0) for s in four)
        assert {sid: m[1] for sid, m in c.memberships().items()} == {sid: want for sid in c.nodes}
        assert module("conductor_membership", dict(nodes=c.module_nodes(), servers=four))["changed"] is False
        info = module("conductor_info", dict(nodes=c.module_nodes(), expected_servers=four,
                                             fail_on_disagreement=True))
        assert not info.get("failed"), info.get("msg")
        # retire the original leader: refused without a transfer, done with one
        leader = c.wait_leader()
        retired = [s for s in four if s["id"] != leader]
        refused = module("conductor_membership", dict(nodes=c.module_nodes(), servers=retired))
        assert refused["failed"] and "current leader" in refused["msg"] and c.wait_leader() == leader
        r = module("conductor_membership", dict(nodes=c.module_nodes(), servers=retired, transfer_leadership=True,
                                                preferred_leader="sequencer-4"))
        assert not r.get("failed"), r.get("msg")
        assert [s["op"] for s in r["applied"]] == ["transfer_leader", "remove"]
        assert c.wait_leader() == "sequencer-4"
        # and back to the three original members: add the retired node again, remove sequencer-4
        r = module("conductor_membership", dict(nodes=c.module_nodes(), servers=c.servers(IDS),
                                                transfer_leadership=True))
        assert not r.get("failed"), r.get("msg")
        assert [s["op"] for s in r["applied"]] == ["add_voter", "transfer_leader", "remove"]
    assert new.alive()
    want = sorted((s["id"], s["address"], 0) for s in c.servers(IDS))
    assert {sid: c.memberships()[sid][1] for sid in IDS} == {sid: want for sid in IDS}
    assert c.wait_leader() in IDS
    watch.assert_one_leader_per_term()


def test_membership_refuses_to_lose_quorum(make_cluster, module):
    c = make_cluster()
    leader = c.wait_leader()
    down = [s for s in IDS if s != leader][0]
    c.kill(down)
    nodes = c.module_nodes()
    ghost = {"id": "sequencer-9", "address": "127.0.0.99:1"}
    before = c.memberships()
    # 3 voters, 2 up: adding a voter that is not up makes 2 of 4 (quorum 3)
    r = module("conductor_membership", dict(nodes=nodes, servers=c.servers() + [ghost]))
    assert r["failed"] and "lose quorum" in r["msg"], r.get("msg")
    # removing a live voter leaves 1 of 2 up
    alive_follower = [s for s in IDS if s not in (leader, down)][0]
    r = module("conductor_membership", dict(nodes=nodes, servers=c.servers([leader, down])))
    assert r["failed"] and "lose quorum" in r["msg"] and alive_follower in r["msg"], r.get("msg")
    assert c.memberships() == before
    # removing the dead voter keeps 2 of 2
    r = module("conductor_membership", dict(nodes=nodes, servers=c.servers([s for s in IDS if s != down])))
    assert not r.get("failed"), r.get("msg")
    assert [s["op"] for s in r["applied"]] == ["remove"]


def _background(module_name, args):
    """Run a module in a subprocess without waiting; returns (Popen, reader) where reader() → result."""
    env_path = str(COLLECTIONS)
    proc = subprocess.Popen([sys.executable, str(REPO / "plugins" / "modules" / f"{module_name}.py"),
                             json.dumps({"ANSIBLE_MODULE_ARGS": args})], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"})

    def result():
        out, err = proc.communicate(timeout=180)
        return json.loads(out) if out.strip() else {"failed": True, "msg": err}

    return proc, result


def kill_when_logged(c, watch_sid, needle, victim, timeout=20.0):
    """SIGKILL ``victim`` as soon as ``needle`` appears in ``watch_sid``'s op-conductor log (bounded)."""
    path = c.nodes[watch_sid].log_path
    start = len(path.read_bytes())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if needle.encode() in path.read_bytes()[start:]:
            c.kill(victim)
            return True
        time.sleep(0.005)
    c.kill(victim)
    return False


@pytest.mark.parametrize("victim", ["target", "leader"])
@pytest.mark.parametrize("moment", ["start", "transfer"])
def test_node_killed_during_leader_transfer(make_cluster, leader_watch, victim, moment):
    c = make_cluster()
    leader = c.wait_leader()
    target = [s for s in IDS if s != leader][0]
    kill = target if victim == "target" else leader
    with leader_watch(c) as watch:
        proc, result = _background("conductor_leader", dict(nodes=c.module_nodes(), leader=target, timeout=20))
        if moment == "start":
            time.sleep(0.15)
            c.kill(kill)
        else:  # right when the leader starts the transfer (hashicorp/raft logs it)
            assert kill_when_logged(c, leader, "starting leadership transfer", kill)
        res = result()
        print(f"killed {victim} at {moment}: module {'failed: ' + res['msg'] if res.get('failed') else 'converged'}")
        survivors_leader = c.wait_leader(timeout=30)
    if res.get("failed"):
        assert kill in res["msg"] or target in res["msg"], res["msg"]
    else:
        assert res["leader"]["id"] == target
    assert survivors_leader in c.running() and len(c.claimed_leaders()) == 1
    watch.assert_one_leader_per_term()
    # the survivors converge on what the module is asked again (when the target still lives)
    if c.nodes[target].alive():
        again = __import__("harness").run_module("conductor_leader", dict(
            nodes=c.module_nodes(c.running()), leader=target))
        assert not again.get("failed"), again.get("msg")
        assert c.wait_leader() == target


def test_node_killed_during_membership_change(make_cluster, module, leader_watch):
    c = make_cluster()
    c.add_node("sequencer-4")
    c.start("sequencer-4")
    leader = c.wait_leader()
    follower = [s for s in IDS if s != leader][0]
    four = c.servers(IDS + ["sequencer-4"])
    with leader_watch(c) as watch:
        proc, result = _background("conductor_membership", dict(nodes=c.module_nodes(), servers=four, timeout=20))
        assert kill_when_logged(c, leader, "updating configuration", follower)
        res = result()
        print(f"killed follower during add: module {'failed: ' + res['msg'] if res.get('failed') else 'converged'}")
        c.wait_leader(timeout=30)
    if res.get("failed"):
        assert res["msg"], res
    views = {sid: m for sid, m in c.memberships().items() if sid in c.members()}
    assert len({json.dumps(v) for v in views.values()}) == 1, views  # the live members agree
    assert len(c.claimed_leaders()) == 1
    watch.assert_one_leader_per_term()
    # Rerunning with the dead node listed converges (2 of 3 old voters up; 3 of 4 after the add).
    again = module("conductor_membership", dict(nodes=c.module_nodes(), servers=four))
    assert not again.get("failed"), again.get("msg")
    assert ("sequencer-4", c.nodes["sequencer-4"].raft_address, 0) in c.memberships()[c.wait_leader()][1]


def test_control_pause_resume_override_idempotent(make_cluster, module):
    c = make_cluster()
    nodes = c.module_nodes()
    r = module("conductor_control", dict(nodes=nodes, paused=True))
    assert r["changed"] is False and r["changed_nodes"] == []
    leader = c.wait_leader()
    # resume needs the sequencer started on the leader first (empty FSM: it cannot start it itself)
    s = module("op_node_sequencer", dict(node_rpc_url=c.stubs.node_url(leader), conductor_url=c.nodes[leader].rpc_url,
                                         nodes=nodes, state="active"))
    assert s["changed"] and not s.get("failed"), s.get("msg")
    assert module("op_node_sequencer", dict(node_rpc_url=c.stubs.node_url(leader), state="active"))["changed"] is False
    r = module("conductor_control", dict(nodes=nodes, paused=False))
    assert r["changed"] and r["changed_nodes"][-1] == leader and sorted(r["changed_nodes"]) == sorted(IDS)
    assert all(c.rpc(sid, "conductor_active") for sid in IDS)
    assert module("conductor_control", dict(nodes=nodes, paused=False))["changed"] is False
    one = [n for n in nodes if n["id"] == leader]
    r = module("conductor_control", dict(nodes=one, override_leader=True))
    assert r["changed"] and c.rpc(leader, "conductor_leaderOverridden") is True
    assert module("conductor_control", dict(nodes=one, override_leader=True))["changed"] is False
    info = module("conductor_info", dict(nodes=nodes))
    assert info["cluster"]["leader_overridden"] == [leader]
    assert module("conductor_control", dict(nodes=one, override_leader=False))["changed"] is True
    r = module("conductor_control", dict(nodes=nodes, paused=True))
    assert r["changed"] and all(c.rpc(sid, "conductor_paused") for sid in IDS)


def test_resumed_leader_sequences_and_fails_over(make_cluster, module, leader_watch):
    """The stub's op-node commits every block to its conductor (conductor_commitUnsafePayload, Isthmus
    envelope); after resume, moving leadership makes the real op-conductor stop the old sequencer and start the
    new one from the Raft FSM's unsafe head."""
    c = make_cluster()
    nodes = c.module_nodes()
    leader = c.wait_leader()
    assert module("op_node_sequencer", dict(node_rpc_url=c.stubs.node_url(leader), conductor_url=c.nodes[leader].rpc_url,
                                            nodes=nodes, state="active"))["changed"]
    wait_until(lambda: c.stubs.chain.head()["number"] >= 2, 60, what="two blocks committed through the leader")
    assert module("conductor_control", dict(nodes=nodes, paused=False))["changed"]
    target = [s for s in IDS if s != leader][0]
    mark = c.stubs.mark()
    r = module("conductor_leader", dict(nodes=nodes, leader=target))
    assert not r.get("failed"), r.get("msg")
    wait_until(lambda: c.stubs.active() == [target], 30, what="the new leader's sequencer to take over")
    head_before = c.stubs.chain.head()["number"]
    wait_until(lambda: c.stubs.chain.head()["number"] > head_before and c.stubs.chain.head()["producer"] == target,
               60, what="blocks from the new leader")
    calls = [(x["node"], x["method"]) for x in c.stubs.calls(lambda m: m in ("admin_startSequencer",
                                                                             "admin_stopSequencer"), since=mark)
             if "error" not in x]
    assert calls == [(leader, "admin_stopSequencer"), (target, "admin_startSequencer")] or calls == [
        (target, "admin_startSequencer"), (leader, "admin_stopSequencer")], calls
    # Only the Raft leader's blocks are committed: once the new leader committed, the old one never does.
    commits = [x for x in c.stubs.calls("conductor_commitUnsafePayload", since=mark) if "result" in x]
    first_new = next(x["seq"] for x in commits if x["node"] == target)
    assert not [x for x in commits if x["node"] == leader and x["seq"] > first_new]
    blocks = c.stubs.chain.blocks
    assert all(b["parent"] == a["hash"] for a, b in zip(blocks, blocks[1:]))
    # Both op-nodes may report an active sequencer for the moment between the new leader starting and the old
    # one being stopped (each op-conductor reacts to the leadership change in its own loop; on a loaded machine
    # the old one may come second by seconds): it never lasts (the wait for [target] above) and none of the old
    # sequencer's blocks was committed meanwhile. How long "a moment" took is not asserted (a wall-clock bound
    # fails on a busy machine, not on a bug); only that no third op-node ever sequenced.
    assert c.stubs.active() == [target]
    assert {name for sample in c.stubs.double_active for name in sample["active"]} <= {leader, target}, \
        c.stubs.double_active
