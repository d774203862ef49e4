"""Issue 16 item 3: the recover playbook's rules (module_utils._recovery_plan), each on its own and together."""

import pytest

from ansible_collections.opstack.conductor.plugins.module_utils import _recovery_plan as rp
from ansible_collections.opstack.conductor.plugins.module_utils._cluster import MAX_TERM


def node(host, term=5, index=40, block=100, **kw):
    head = kw.pop("head", rp.Head(block, "0x%064x" % block, index, term, "log") if block is not None else None)
    fields = dict(server_id="id-" + host, exists=True, last_log_term=term, last_index=index, current_term=term,
                  last_vote_term=term, head=head)
    fields.update(kw)
    return rp.NodeReport(host, **fields)


def op(host, number, error=""):
    return rp.OpNodeHead(host, number=number, block_hash="0x%064x" % number if number is not None else "",
                         error=error)


# --- confirmation and mode ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("confirm", [None, "", "yes", True, "sequencer", "Sequencers", " sequencers"])
def test_confirmation_must_name_the_group_exactly(confirm):
    problems = rp.confirmation_problems(confirm, "sequencers")
    assert len(problems) == 1 and "conductor_recover_confirm" in problems[0]
    assert "-e conductor_recover_confirm=sequencers" in problems[0]


def test_confirmation_naming_the_group_passes():
    assert rp.confirmation_problems("sequencers", "sequencers") == []


def test_an_empty_group_cannot_be_confirmed():
    assert rp.confirmation_problems("", "")


# Issue 19: one run over every cluster among the play's hosts; the play's group confirms every cluster of it, a
# comma-separated list confirms the clusters it names (exactly, as the group is named).

def test_the_group_confirms_every_cluster_of_it():
    assert rp.confirmation_problems("sequencers", "sequencers", cluster_name="op_a") == []
    assert rp.confirmation_problems("sequencers", "sequencers", cluster_name="op_b") == []


@pytest.mark.parametrize("confirm", ["op_b", "op_a,op_b", "op_b,op_c", "op_b,op_b"])
def test_a_list_confirms_the_clusters_it_names(confirm):
    assert rp.confirmation_problems(confirm, "sequencers", cluster_name="op_b") == []


@pytest.mark.parametrize("confirm", [None, "", "op_a", "op_a, op_b", "OP_B", "op_b ", "op_", "op_a;op_b", True])
def test_a_cluster_the_list_does_not_name_exactly_is_refused(confirm):
    problems = rp.confirmation_problems(confirm, "sequencers", cluster_name="op_b")
    assert len(problems) == 1 and "cluster op_b is not confirmed" in problems[0], problems
    assert "-e conductor_recover_confirm=sequencers" in problems[0] and "op_b" in problems[0]


def test_a_cluster_named_like_its_group_keeps_the_one_cluster_message():
    problems = rp.confirmation_problems("yes", "sequencers", cluster_name="sequencers")
    assert problems == rp.confirmation_problems("yes", "sequencers")


def test_the_plan_takes_the_cluster_confirmation():
    nodes = [node("a", index=41), node("b")]
    assert rp.recovery_plan("sequencers", "op_b", "survivor", nodes, [op("a", 100)], cluster_name="op_b").problems == []
    refused = rp.recovery_plan("sequencers", "op_a", "survivor", nodes, [op("a", 100)], cluster_name="op_b")
    assert len(refused.problems) == 1 and "cluster op_b is not confirmed" in refused.problems[0]


@pytest.mark.parametrize("mode", ["survivor", "all", "reseed"])
def test_known_modes(mode):
    assert rp.mode_problems(mode) == []


@pytest.mark.parametrize("mode", ["", None, "Survivor", "restore", ["all"]])
def test_unknown_modes_are_named(mode):
    problems = rp.mode_problems(mode)
    assert problems == ["conductor_recover_mode=%r: must be one of survivor, all, reseed" % (mode,)]


# --- nodes must be read and stopped -------------------------------------------------------------------------------

def test_a_locked_node_is_refused_by_host():
    problems = rp.node_problems([node("a"), node("b", locked=True)])
    assert len(problems) == 1 and problems[0].startswith("host b (id-b): op-conductor still holds the lock")


def test_an_unreadable_node_is_refused_with_its_error():
    problems = rp.node_problems([node("a", readable=False, error="Permission denied: /x/raft-log.db")])
    assert problems == ["host a (id-a): its Raft state could not be read: Permission denied: /x/raft-log.db"]


# --- survivor -----------------------------------------------------------------------------------------------------

def test_survivor_by_last_log_term_before_index():
    chosen = rp.choose_survivor([node("a", term=4, index=900), node("b", term=5, index=10), node("c", term=5, index=9)])
    assert chosen.host == "b"


def test_survivor_by_index_at_equal_term():
    assert rp.choose_survivor([node("a", index=40), node("b", index=41), node("c", index=39)]).host == "b"


def test_survivor_by_fsm_head_at_equal_position():
    assert rp.choose_survivor([node("a", block=100), node("b", block=101), node("c", block=99)]).host == "b"


def test_survivor_full_tie_is_the_first_in_inventory_order():
    assert rp.choose_survivor([node("c"), node("a"), node("b")]).host == "c"


def test_a_snapshot_newer_than_the_log_is_the_position():
    # a node recovered or compacted: empty log, snapshot at (6, 50) beats a log ending at (5, 60)
    compacted = node("a", term=0, index=0, snapshots=((6, 50),))
    assert compacted.position == (6, 50)
    assert rp.choose_survivor([node("b", term=5, index=60), compacted]).host == "a"


def test_current_term_does_not_rank():
    # CurrentTerm grows with failed elections on a partitioned node; Raft compares logs, not terms
    chosen = rp.choose_survivor([node("a", current_term=99, last_vote_term=99), node("b", index=41)])
    assert chosen.host == "b"


@pytest.mark.parametrize("bad", [dict(exists=False, head=None), dict(damaged=True), dict(head=None),
                                 dict(readable=False), dict(suffrage="nonvoter")])
def test_missing_damaged_empty_unreadable_and_nonvoter_nodes_never_survive(bad):
    ranked_higher = node("a", term=9, index=999, block=999, **bad)
    assert rp.choose_survivor([ranked_higher, node("b")]).host == "b"
    assert rp.choose_survivor([ranked_higher]) is None


# --- head against op-node ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("heads", [[op("x", 100)], [op("x", 99)], [op("x", 50), op("y", 99)], [op("x", 120)]])
def test_head_at_most_one_block_ahead_of_the_highest_op_node_passes(heads):
    assert rp.head_problems(node("a", block=100), heads, force=False)[0] == []


def test_head_two_blocks_ahead_of_every_op_node_is_refused():
    problems, warnings = rp.head_problems(node("a", block=100), [op("x", 98), op("y", 97)], force=False)
    assert len(problems) == 1 and "2 blocks ahead" in problems[0] and "block 98 on host x" in problems[0]
    assert "ErrUnsafeHeadMismatch" in problems[0] and "conductor_recover_force=true" in problems[0]
    assert warnings == []


def test_head_too_far_ahead_is_a_warning_when_forced():
    problems, warnings = rp.head_problems(node("a", block=100), [op("x", 98)], force=True)
    assert problems == [] and len(warnings) == 1 and warnings[0].endswith("; forced")


def test_no_reachable_op_node_is_refused_unless_forced():
    heads = [op("x", None, error="connection refused")]
    assert "no op-node answered" in rp.head_problems(node("a"), heads, force=False)[0][0]
    assert rp.head_problems(node("a"), heads, force=True)[0] == []


def test_unreachable_op_nodes_are_ignored_but_reported():
    problems, warnings = rp.head_problems(node("a", block=100), [op("x", None, error="timeout"), op("y", 100)],
                                          force=False)
    assert problems == [] and warnings == ["op-node on host x did not answer: timeout"]


def test_head_behind_the_op_nodes_is_a_warning_with_the_count():
    problems, warnings = rp.head_problems(node("a", block=100), [op("x", 103)], force=False)
    assert problems == [] and "3 blocks behind" in warnings[0]


# --- re-seed term -------------------------------------------------------------------------------------------------

def test_reseed_term_is_above_every_term_any_node_had():
    nodes = [node("a", term=3, current_term=7), node("b", term=4, last_vote_term=9),
             node("c", term=2, snapshots=((11, 5),)), node("d", term=1, head=rp.Head(1, "0x", 1, 12, "log"))]
    assert rp.reseed_term(nodes) == 13


def test_reseed_term_of_nodes_with_nothing_is_one():
    assert rp.reseed_term([node("a", term=0, current_term=0, last_vote_term=0, block=None, exists=False)]) == 1


def test_reseed_term_beyond_the_limit_raises():
    with pytest.raises(rp.cluster.SpecError):
        rp.reseed_term([node("a", current_term=MAX_TERM)])


# --- actions and the whole plan ---------------------------------------------------------------------------------

def test_actions_per_mode():
    nodes = [node("a"), node("b", index=41), node("c", exists=False, block=None)]
    survivor = rp.choose_survivor(nodes)
    assert rp.node_actions("survivor", nodes, survivor) == {"a": "wipe", "b": "recover", "c": "wipe"}
    assert rp.node_actions("all", nodes, survivor) == {"a": "recover", "b": "recover", "c": "wipe"}
    assert rp.node_actions("reseed", nodes, None) == {"a": "reseed", "b": "reseed", "c": "reseed"}


def test_plan_survivor_mode():
    nodes = [node("a"), node("b", index=41, block=101), node("c", exists=False, block=None)]
    plan = rp.recovery_plan("seq", "seq", "survivor", nodes, [op("a", 101), op("b", 100)])
    assert plan.problems == [] and plan.survivor.host == "b" and plan.highest_op_node.host == "a"
    assert plan.actions == {"a": "wipe", "b": "recover", "c": "wipe"} and plan.reseed_term is None


def test_plan_reports_every_problem_at_once_and_decides_nothing():
    plan = rp.recovery_plan("seq", None, "bogus", [node("a", locked=True)], [op("a", 1)])
    assert len(plan.problems) == 3 and plan.actions == {} and plan.survivor is None


def test_plan_without_a_usable_node_points_to_reseed():
    plan = rp.recovery_plan("seq", "seq", "survivor", [node("a", block=None)], [op("a", 1)])
    assert len(plan.problems) == 1 and "conductor_recover_mode=reseed" in plan.problems[0]


def test_plan_reseed_needs_an_op_node_head_and_a_term():
    nodes = [node("a", current_term=8), node("b", exists=False, block=None)]
    plan = rp.recovery_plan("seq", "seq", "reseed", nodes, [op("a", 7), op("b", 9)])
    assert plan.problems == [] and plan.reseed_term == 9 and plan.highest_op_node.host == "b"
    assert plan.actions == {"a": "reseed", "b": "reseed"}
    plan = rp.recovery_plan("seq", "seq", "reseed", nodes, [op("a", None, error="down")])
    assert len(plan.problems) == 1 and "no op-node answered" in plan.problems[0]


def test_plan_reseed_term_overflow_is_a_problem_not_a_crash():
    plan = rp.recovery_plan("seq", "seq", "reseed", [node("a", current_term=MAX_TERM)], [op("a", 1)])
    assert len(plan.problems) == 1 and "reseed term" in plan.problems[0]


def test_reseed_leader_is_the_voter_with_the_highest_op_node_head():
    heads = [op("a", 5), op("b", 9), op("c", 7)]
    assert rp.reseed_leader(heads, ["a", "c"]) == "c"
    assert rp.reseed_leader([op("a", None, error="x")], ["a"]) is None


def test_a_dry_run_decides_past_running_nodes_and_says_so():
    nodes = [node("a", locked=True), node("b", index=41)]
    plan = rp.recovery_plan("seq", "seq", "survivor", nodes, [op("a", 100)], dry_run=True)
    assert plan.problems == [] and plan.survivor.host == "b"
    assert plan.warnings == ["check mode: op-conductor runs on host a; a real run stops it first"]
    assert rp.recovery_plan("seq", "seq", "survivor", nodes, [op("a", 100)]).problems


@pytest.mark.parametrize("block, op_head, expected", [(100, 100, "conductor"), (101, 100, "conductor"),
                                                      (99, 100, "admin")])
def test_sequencer_start_by_the_conductor_unless_the_head_is_behind(block, op_head, expected):
    plan = rp.recovery_plan("seq", "seq", "survivor", [node("a", block=block)], [op("a", op_head)])
    assert rp.sequencer_start(plan) == expected


def test_a_reseed_starts_the_sequencer_through_op_node():
    plan = rp.recovery_plan("seq", "seq", "reseed", [node("a")], [op("a", 100)])
    assert rp.sequencer_start(plan) == "admin"


def test_a_live_leader_means_the_quorum_is_not_lost():
    problems = rp.live_leader_problems(["seq-b"], force=False)
    assert len(problems) == 1 and problems[0].startswith("seq-b leads the cluster now")
    assert "membership playbook" in problems[0]
    assert rp.live_leader_problems([], force=False) == []
    assert rp.live_leader_problems(["seq-b"], force=True) == []


def test_unusable_nodes_with_state_are_named_in_the_warnings():
    nodes = [node("a", damaged=True), node("b", head=None), node("c", exists=False, head=None), node("d")]
    warnings = rp.unusable_warnings(nodes)
    assert "host a (id-a)" in warnings[0] and "damaged" in warnings[0]
    assert "host b (id-b)" in warnings[1] and "empty FSM" in warnings[1] and len(warnings) == 2
    plan = rp.recovery_plan("seq", "seq", "survivor", nodes, [op("d", 100)])
    assert plan.survivor.host == "d" and plan.warnings == warnings
