"""Safe membership changes (issue 17 item 4) against the fake op-conductor cluster of tests/support/live.py: a voter
becomes a non-voter through conductor_demoteVoter where the leader has it, else by remove-then-add with a warning;
addServerAsNonvoter is never sent for a server that is a voter (hashicorp/raft would only change its address); the
membership version is passed as reported, and version 0 (op-conductor v1.19.0 on hashicorp/raft v1.7.3 always
reports 0) is sent with a warning.
"""

from ansible_collections.opstack.conductor.tests.support.live import (
    THREE, FakeCluster, refusal, reconciler)

FOUR_VOTERS = THREE + [("d", "voter")]
D_NONVOTER = THREE + [("d", "nonvoter")]


def ops(plan):
    return [(s["op"], s["id"]) for s in plan]


def suffrage(result, node_id):
    return [(s["suffrage"], s["address"]) for s in result["after"]["servers"] if s["id"] == node_id]


def never_nonvoter_add_on_a_voter(cluster, before):
    """Replays the changes sent and checks no addServerAsNonvoter went to a server that was a voter then."""
    voters = set(s["id"] for s in before if s["suffrage"] == 0)
    for method, node_id in cluster.changes():
        assert not (method == "conductor_addServerAsNonvoter" and node_id in voters), cluster.changes()
        if method in ("conductor_demoteVoter", "conductor_removeServer"):
            voters.discard(node_id)
        elif method == "conductor_addServerAsVoter":
            voters.add(node_id)


def test_demote_voter_is_used_where_the_leader_has_it_and_the_probe_changes_nothing():
    cluster = FakeCluster(FOUR_VOTERS, leader="a")
    work, warnings = reconciler(cluster, D_NONVOTER)
    result = work.run()
    assert ops(result["plan"]) == [("demote", "d")]
    assert cluster.changes() == [("conductor_demoteVoter", "d")] and cluster.version == 11
    assert suffrage(result, "d") == [("nonvoter", "10.0.0.4:50050")]
    assert not [w for w in warnings if "demoteVoter" in w]


def test_without_demote_voter_the_voter_is_removed_then_added_back_as_nonvoter_with_a_warning():
    cluster = FakeCluster(FOUR_VOTERS, leader="a")
    cluster.missing.add("conductor_demoteVoter")
    work, warnings = reconciler(cluster, D_NONVOTER)
    result = work.run()
    assert ops(result["plan"]) == [("remove", "d"), ("add_nonvoter", "d")]
    assert cluster.changes() == [("conductor_removeServer", "d"), ("conductor_addServerAsNonvoter", "d")]
    assert suffrage(result, "d") == [("nonvoter", "10.0.0.4:50050")]
    warned = [w for w in warnings if "conductor_demoteVoter" in w]
    assert len(warned) == 1 and "removing d and adding it back as a non-voter" in warned[0]
    assert "no-shutdown-on-remove" in warned[0]


def test_without_demote_voter_check_mode_shows_remove_then_add_and_sends_nothing():
    cluster = FakeCluster(FOUR_VOTERS, leader="a")
    cluster.missing.add("conductor_demoteVoter")
    work, warnings = reconciler(cluster, D_NONVOTER, check_mode=True)
    result = work.run()
    assert ops(result["plan"]) == [("remove", "d"), ("add_nonvoter", "d")] and cluster.sent == []
    assert [s["suffrage"] for s in result["after"]["servers"] if s["id"] == "d"] == ["nonvoter"]
    assert [w for w in warnings if "conductor_demoteVoter" in w]


def test_a_voter_wanted_as_nonvoter_at_a_new_address_is_demoted_then_moved():
    cluster = FakeCluster(FOUR_VOTERS, leader="a")
    before = [dict(s, suffrage=s["suffrage"]) for s in cluster.servers]
    work, _warnings = reconciler(cluster, D_NONVOTER)
    work.params["servers"][3]["address"] = "10.0.9.4:50050"
    work.desired[3]["address"] = "10.0.9.4:50050"
    result = work.run()
    assert ops(result["plan"]) == [("demote", "d"), ("add_nonvoter", "d")]
    assert suffrage(result, "d") == [("nonvoter", "10.0.9.4:50050")]
    never_nonvoter_add_on_a_voter(cluster, before)


def test_the_leader_wanted_as_nonvoter_at_a_new_address_hands_over_then_demotes_then_moves():
    cluster = FakeCluster(FOUR_VOTERS, leader="a")
    before = list(cluster.servers)
    work, _warnings = reconciler(cluster, [("a", "nonvoter")] + FOUR_VOTERS[1:], transfer_leadership=True)
    work.desired[0]["address"] = "10.0.9.1:50050"
    result = work.run()
    assert ops(result["plan"]) == [("transfer_leader", "b"), ("demote", "a"), ("add_nonvoter", "a")]
    assert suffrage(result, "a") == [("nonvoter", "10.0.9.1:50050")] and result["leader"] == "b"
    never_nonvoter_add_on_a_voter(cluster, before)


def test_without_demote_voter_the_leader_is_handed_over_before_it_is_removed_and_added_back():
    cluster = FakeCluster(FOUR_VOTERS, leader="a")
    cluster.missing.add("conductor_demoteVoter")
    work, _warnings = reconciler(cluster, [("a", "nonvoter")] + FOUR_VOTERS[1:], transfer_leadership=True)
    result = work.run()
    assert ops(result["plan"]) == [("transfer_leader", "b"), ("remove", "a"), ("add_nonvoter", "a")]
    assert suffrage(result, "a") == [("nonvoter", "10.0.0.1:50050")]


def test_the_fallback_removal_is_checked_for_quorum_before_anything_is_sent():
    cluster = FakeCluster(THREE, leader="a")
    cluster.missing.add("conductor_demoteVoter")
    cluster.down.add("c")
    work, _warnings = reconciler(cluster, [("a", "voter"), ("b", "nonvoter"), ("c", "voter")])
    failed = refusal(work.run)
    assert failed.msg.startswith("refusing the membership change: remove b would lose quorum")
    assert cluster.sent == [] and [s["suffrage"] for s in cluster.servers] == [0, 0, 0]


class LosesDemoteAfterTheProbe(FakeCluster):
    """The leader answers the probe as a build with conductor_demoteVoter, then lacks it (replaced mid-run)."""

    def answer(self, node_id, method, params):
        if method == "conductor_demoteVoter" and not params:
            self.missing.add(method)
        return super().answer(node_id, method, params)


def test_demote_voter_gone_between_the_probe_and_the_change_stops_with_nothing_changed():
    cluster = LosesDemoteAfterTheProbe(FOUR_VOTERS, leader="a")
    work, _warnings = reconciler(cluster, D_NONVOTER)
    failed = refusal(work.run)
    assert "PR #18700" in failed.msg and "demote d by removing it and adding it back as a non-voter" in failed.msg
    assert [s["suffrage"] for s in cluster.servers] == [0, 0, 0, 0] and failed.result["applied"] == []


def test_membership_version_is_passed_as_reported():
    cluster = FakeCluster(FOUR_VOTERS, leader="a")
    cluster.version = 7
    work, warnings = reconciler(cluster, D_NONVOTER)
    result = work.run()
    assert [s[2] for s in cluster.sent] == [["d", 7]] and result["applied"][0]["version"] == 7
    assert not [w for w in warnings if "version 0" in w]


def test_membership_version_0_is_sent_as_0_with_one_warning():
    cluster = FakeCluster(THREE, leader="a")
    cluster.version = 0
    work, warnings = reconciler(cluster, THREE + [("d", "voter"), ("e", "nonvoter")])
    result = work.run()
    assert [s[2][-1] for s in cluster.sent] == [0, 1]  # the fake counts on; op-conductor v1.19.0 stays at 0
    assert [s["version"] for s in result["applied"]] == [0, 1]
    warned = [w for w in warnings if "version 0" in w]
    assert len(warned) == 1 and "re-read" in warned[0]
