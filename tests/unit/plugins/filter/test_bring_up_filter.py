"""bring_up's decisions (issue 17 item 3, standby clusters): "formed" is judged by the leader's membership (every
inventory member in it), not by health or by every node answering (infra#740: a health-based check kept a
bootstrap job failing for hours on an already formed cluster); a standby bring_up pauses every conductor, starts no
sequencer and resumes nothing, and refuses a cluster that already sequences."""

from ansible_collections.opstack.conductor.plugins.filter.bring_up import FilterModule, bring_up_plan, standby_problems

IDS = ("s1", "s2", "s3")


def view(leader="s2", members=IDS, unreachable=(), claimed=None, active=(), paused=(), extra=(), drift=True):
    return dict(
        leader=dict(id=leader, address="x") if leader else None,
        leaders_claimed=[leader] if claimed is None and leader else list(claimed or []),
        membership=dict(servers=[dict(id=i, address=i + ":1", suffrage="voter") for i in members], version=0),
        unreachable=list(unreachable), sequencers_active=list(active), paused=list(paused),
        disagreements=(["unreachable: %s" % ", ".join(unreachable)] if unreachable else []) + list(extra),
        drift=dict(in_sync=drift, missing=[], extra=[], changed=[]),
    )


def test_filters_are_registered():
    assert set(FilterModule().filters()) == {"bring_up_plan", "standby_problems"}


def test_a_formed_standby_or_sequencing_cluster_with_an_unreachable_follower_is_settled_not_waited_for():
    plan = bring_up_plan(view(unreachable=["s3"]), IDS, standby=True)
    assert plan["formed"] and plan["settled"] and plan["missing"] == []
    assert bring_up_plan(view(unreachable=["s3"], active=["s2"]), IDS)["settled"]


def test_a_first_start_still_waits_for_every_conductor():
    # starting the sequencer and then failing to resume a conductor that does not answer would leave it sequencing
    # without failover: the first start needs every conductor, formed or not
    plan = bring_up_plan(view(unreachable=["s3"]), IDS)
    assert plan["formed"] and not plan["settled"]


def test_not_formed_and_a_node_unreachable_is_not_settled():
    plan = bring_up_plan(view(members=["s1", "s2"], unreachable=["s3"]), IDS)
    assert not plan["formed"] and not plan["settled"] and plan["missing"] == ["s3"]


def test_every_node_answering_with_one_leader_is_settled_even_before_membership_is_complete():
    plan = bring_up_plan(view(members=["s1", "s2"]), IDS)
    assert plan["settled"] and not plan["formed"]


def test_no_leader_or_two_claims_is_never_settled():
    assert not bring_up_plan(view(leader=None), IDS)["settled"]
    assert not bring_up_plan(view(claimed=["s1", "s2"]), IDS)["settled"]
    assert not bring_up_plan(None, IDS)["settled"]


def test_first_start_pauses_transfers_starts_and_resumes():
    plan = bring_up_plan(view(), IDS)
    assert (plan["pause"], plan["transfer"], plan["start_sequencer"], plan["resume"]) == (True, True, True, True)
    assert plan["problem"] == ""


def test_a_sequencing_cluster_is_only_resumed():
    plan = bring_up_plan(view(active=["s2"]), IDS)
    assert (plan["pause"], plan["transfer"], plan["start_sequencer"], plan["resume"]) == (False, False, False, True)


def test_standby_pauses_and_nothing_else():
    plan = bring_up_plan(view(), IDS, standby=True)
    assert (plan["pause"], plan["transfer"], plan["start_sequencer"], plan["resume"]) == (True, False, False, False)
    assert plan["problem"] == ""


def test_standby_refuses_a_cluster_that_sequences():
    plan = bring_up_plan(view(active=["s2"]), IDS, standby=True)
    assert plan["problem"].startswith("conductor_standby=true, but s2 already sequences")
    assert not plan["pause"]


def test_standby_problems_none_when_all_paused_and_no_sequencer():
    assert standby_problems(view(paused=IDS), IDS) == dict(problems=[], warnings=[])


def test_standby_problems_an_unreachable_follower_of_a_formed_cluster_is_a_warning():
    found = standby_problems(view(paused=["s1", "s2"], unreachable=["s3"]), IDS)
    assert found["problems"] == [] and found["warnings"] == ["s3 does not answer (it is a member: the cluster is "
                                                             "formed)"]


def test_standby_problems_name_each_broken_promise():
    found = standby_problems(view(members=["s1", "s2"], paused=["s1"], active=["s1"], drift=False,
                                  extra=["more than one node claims leadership: s1, s2"]), IDS)
    assert found["problems"] == [
        "the leader's membership lacks s3",
        "a sequencer is active on s1",
        "not paused: s2, s3",
        "more than one node claims leadership: s1, s2",
    ]
    assert standby_problems(view(leader=None, paused=IDS), IDS)["problems"][0] == "no leader that every node names"
