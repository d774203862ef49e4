"""Issue 17 items 3 and 4 against the real op-conductor v1.19.0: a standby bring_up (every conductor paused, no
sequencer started, rerun unchanged, the takeover by a plain bring_up, a standby run on a sequencing cluster refused)
and a voter demoted through conductor_demoteVoter (rerun unchanged)."""

from __future__ import annotations

import json

from harness import IDS, ConductorCluster, wait_until
from playbook_runs import LEADER, playbook, write_inventory

VOTER, NONVOTER = 0, 1


def test_demote_a_voter_through_demote_voter_then_rerun_is_unchanged(make_cluster, module):
    c = make_cluster()
    leader = c.wait_leader()
    follower = [s for s in IDS if s != leader][-1]
    want = [dict(s, suffrage="nonvoter") if s["id"] == follower else s for s in c.servers()]
    r = module("conductor_membership", dict(nodes=c.module_nodes(), servers=want))
    assert not r.get("failed"), r.get("msg")
    # the probe (conductor_demoteVoter with no arguments) found the method on v1.19.0: one demote, nothing else
    assert [(s["op"], s["id"]) for s in r["plan"]] == [("demote", follower)]
    assert [(s["op"], s["version"]) for s in r["applied"]] == [("demote", 0)]  # v1.19.0 reports version 0
    warned = json.dumps(r.get("warnings", []))  # ansible-core 2.19 returns warning events, not strings
    assert "reports membership version 0" in warned and "conductor_demoteVoter" not in warned, warned
    expected = sorted((s["id"], s["address"], NONVOTER if s["id"] == follower else VOTER) for s in c.servers())
    wait_until(lambda: all(m[1] == expected for m in c.memberships().values()), 60,
               what=f"{follower} a non-voter on every node")
    assert c.wait_leader() == leader
    again = module("conductor_membership", dict(nodes=c.module_nodes(), servers=want))
    assert again["changed"] is False and again["plan"] == [] and not again.get("failed"), again

    # Promoted back (addServerAsVoter): every node, the promoted one too, sees three voters, and it can lead (the
    # PR #18700 review saw a promoted node keep thinking it was a non-voter until restarted).
    back = module("conductor_membership", dict(nodes=c.module_nodes(), servers=c.servers()))
    assert not back.get("failed") and [(s["op"], s["id"]) for s in back["plan"]] == [("add_voter", follower)], back
    three = sorted((s["id"], s["address"], VOTER) for s in c.servers())
    wait_until(lambda: all(m[1] == three for m in c.memberships().values()), 60, what="three voters on every node")
    moved = module("conductor_leader", dict(nodes=c.module_nodes(), leader=follower))
    assert not moved.get("failed"), moved.get("msg")
    assert c.wait_leader() == follower


def test_standby_bring_up_all_paused_no_sequencer_then_takeover(op_conductor, workdir):
    c = ConductorCluster(op_conductor, workdir / "cluster", IDS)
    c.start_stubs()
    try:
        inventory = write_inventory(c, workdir)
        run = playbook(workdir, "bring_up", inventory, "-e", "conductor_standby=true")
        assert sorted(c.adopt()) == sorted(IDS)
        assert run.rc == 0, run
        leader = c.wait_leader()
        assert all(c.rpc(s, "conductor_paused") is True for s in IDS)
        assert c.stubs.active() == [] and c.stubs.calls("admin_startSequencer") == []
        three = sorted((n.server()["id"], n.server()["address"], VOTER) for n in c.nodes.values())
        assert all(m[1] == three for m in c.memberships().values())

        again = playbook(workdir, "bring_up", inventory, "-e", "conductor_standby=true")
        assert again.rc == 0 and again.changed == 0, again
        assert all(c.rpc(s, "conductor_paused") is True for s in IDS) and c.stubs.active() == []
        assert c.wait_leader() == leader

        takeover = playbook(workdir, "bring_up", inventory)
        assert takeover.rc == 0, takeover
        assert c.stubs.active() == [LEADER] and not any(c.rpc(s, "conductor_paused") for s in IDS)
        wait_until(lambda: c.stubs.chain.head()["number"] >= 1, 60, what="the new leader to sequence")

        refused = playbook(workdir, "bring_up", inventory, "-e", "conductor_standby=true")
        assert refused.rc != 0 and f"conductor_standby=true, but {LEADER} already sequences" in refused.out, refused
        assert c.stubs.active() == [LEADER] and not any(c.rpc(s, "conductor_paused") for s in IDS)
    finally:
        c.close()


def test_replace_a_dead_member_then_rerun_is_unchanged(op_conductor, workdir):
    c = ConductorCluster(op_conductor, workdir / "cluster", IDS)
    c.start_stubs()
    try:
        inventory = write_inventory(c, workdir)
        run = playbook(workdir, "bring_up", inventory)
        c.adopt()
        assert run.rc == 0, run
        alive = playbook(workdir, "membership", inventory, "-e", f"conductor_replace={LEADER}")
        assert alive.rc == 0 and alive.changed == 0, alive  # the leader answers and leads: left alone
        dead = [s for s in IDS if s != LEADER][-1]
        c.kill(dead)

        run = playbook(workdir, "membership", inventory, "-e", f"conductor_replace={dead}")
        assert run.rc == 0, run
        assert c.adopt() == [dead]
        kept = list(c.nodes[dead].node_dir.parent.glob(f"{dead}.replaced-*~"))
        assert len(kept) == 1 and (kept[0] / "raft-log.db").exists()
        assert (c.nodes[dead].node_dir / "raft-log.db").exists()  # the new, empty start wrote its own
        three = sorted((n.server()["id"], n.server()["address"], VOTER) for n in c.nodes.values())
        wait_until(lambda: all(m[1] == three for m in c.memberships().values()), 60, what="three voters everywhere")
        assert c.wait_leader() == LEADER and c.stubs.active() == [LEADER]
        log = c.nodes[dead].log_path.read_text()
        assert log.count("=== start (hook)") == 2

        again = playbook(workdir, "membership", inventory, "-e", f"conductor_replace={dead}")
        assert again.rc == 0 and again.changed == 0, again
        assert len(list(c.nodes[dead].node_dir.parent.glob(f"{dead}.replaced-*~"))) == 1
    finally:
        c.close()
