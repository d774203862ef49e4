# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lost-quorum recovery, decided on the controller: is it confirmed, which node survives, is its head safe, what
happens to every node, and the term a re-seed starts from.

The rules come from raft.RecoverCluster's users (Consul, Nomad, Vault, kubespray) and from op-conductor itself
(``/work/shared/reference/day2-operations.md`` b.3): recovery is a one-shot action the operator confirms by naming
the cluster; every node is stopped first; the survivor is the node with the most up-to-date log, as Raft's
election restriction compares logs (last log term, then last index), then the higher FSM head; its head may be at
most one block ahead of an op-node's unsafe head, because op-conductor only closes a gap of one block by posting
the payload to op-node and otherwise wedges on ErrUnsafeHeadMismatch.

Everything here is pure data in, data out; the filter ``opstack.conductor.recovery_plan`` maps Ansible results
to these types, and the role only formats what comes back.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ansible_collections.opstack.conductor.plugins.module_utils import _cluster as cluster
from ansible_collections.opstack.conductor.plugins.module_utils import _raft as raft

MODES = ("survivor", "all", "reseed")
# op-conductor's startSequencer posts its payload to op-node when the FSM is exactly one block ahead; any other
# difference between the two heads is ErrUnsafeHeadMismatch and the leader never sequences.
MAX_BLOCKS_AHEAD = 1


@dataclass(frozen=True)
class Head:
    """The unsafe payload a node's FSM holds after a start from its files (raft_state_info's fsm_head)."""
    block_number: int
    block_hash: str
    index: int = 0
    term: int = 0
    source: str = ""


@dataclass(frozen=True)
class NodeReport:
    """One node as raft_state_info read it while op-conductor was stopped."""
    host: str
    server_id: str
    suffrage: str = "voter"
    exists: bool = False
    locked: bool = False
    readable: bool = True       # False: raft_state_info failed (unreadable files, permissions)
    damaged: bool = False       # integrity problems
    last_log_term: int = 0
    last_index: int = 0
    current_term: int = 0
    last_vote_term: int = 0
    snapshots: Tuple[Tuple[int, int], ...] = ()  # (term, index) of every usable snapshot, newest first
    head: Optional[Head] = None
    error: str = ""

    @property
    def position(self) -> Tuple[int, int]:
        """(term, index) of the node's last entry as Raft sees it: the log's, or the newest snapshot's when the log
        ends before it (an empty log after compaction or a recovery)."""
        return raft.last_entry((self.last_log_term, self.last_index), self.snapshots[0] if self.snapshots else None)

    @property
    def usable(self) -> bool:
        """Holds a state a recovery can start from: readable, complete, not damaged, with an unsafe head."""
        return self.readable and self.exists and not self.damaged and self.head is not None

    def terms(self) -> List[int]:
        found = [self.current_term, self.last_vote_term, self.last_log_term]
        found += [term for term, _index in self.snapshots]
        found += [self.head.term] if self.head else []
        return found


@dataclass(frozen=True)
class OpNodeHead:
    """One op-node's unsafe head (optimism_syncStatus unsafe_l2), or why it could not be read."""
    host: str
    number: Optional[int] = None
    block_hash: str = ""
    error: str = ""


@dataclass
class Plan:
    mode: str
    survivor: Optional[NodeReport] = None
    highest_op_node: Optional[OpNodeHead] = None
    reseed_term: Optional[int] = None
    actions: Dict[str, str] = field(default_factory=dict)  # host -> recover | wipe | reseed
    problems: List[str] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)


# ================================================================================================================
# The rules, each on its own
# ================================================================================================================


def confirmation_problems(confirm: Any, group: str, cluster_name: Optional[str] = None) -> List[str]:
    """Recovery commits entries no quorum committed and drops the others' state: the operator must name the group,
    as an answer to "which cluster?", not a yes that a copied command line carries to the wrong inventory. Over
    several clusters (issue 19) the play's group confirms every cluster of it, and a comma-separated list confirms
    each cluster it names; names are compared exactly, as the group is."""
    text = str(confirm) if confirm is not None and not isinstance(confirm, bool) else ""
    if text and (text == str(group) or (cluster_name and str(cluster_name) in text.split(","))):
        return []
    shown = "unset" if confirm in (None, "") else "%r" % (confirm,)
    if not cluster_name or str(cluster_name) == str(group):
        return ["conductor_recover_confirm is %s: a recovery is one-shot and drops state, so confirm it by naming "
                "the cluster's inventory group: -e conductor_recover_confirm=%s" % (shown, group)]
    return ["conductor_recover_confirm is %s: cluster %s is not confirmed, and nothing of it is touched; a recovery is "
            "one-shot and drops state, so name the clusters to recover, comma-separated without spaces "
            "(-e conductor_recover_confirm=%s), or the play's group for every cluster of it "
            "(-e conductor_recover_confirm=%s)" % (shown, cluster_name, cluster_name, group)]


def live_leader_problems(leaders_claimed: Sequence[str], force: bool) -> List[str]:
    """A conductor that claims leadership holds a quorum (a leader that lost it steps down within its lease): the
    cluster is not lost, and a recovery would throw away what that leader commits. Fix it through the leader
    (membership playbook) instead; checked before any conductor is stopped."""
    if not leaders_claimed or force:
        return []
    return ["%s leads the cluster now (conductor_leader), so its quorum is not lost: replace or remove the failed "
            "members through it with the membership playbook instead (conductor_recover_force=true recovers anyway)"
            % ", ".join(leaders_claimed)]


def mode_problems(mode: Any) -> List[str]:
    if mode in MODES:
        return []
    return ["conductor_recover_mode=%r: must be one of %s" % (mode, ", ".join(MODES))]


def node_problems(nodes: Sequence[NodeReport]) -> List[str]:
    """Every node must have been read, and none may run: a recovery beside a live conductor splits the cluster."""
    problems = []
    for node in nodes:
        if not node.readable:
            problems.append("host %s (%s): its Raft state could not be read: %s"
                            % (node.host, node.server_id, node.error or "unknown error"))
        elif node.locked:
            problems.append("host %s (%s): op-conductor still holds the lock on its Raft state; every conductor "
                            "must be stopped before a recovery" % (node.host, node.server_id))
    return problems


def _rank(node: NodeReport) -> Tuple[int, int, int]:
    """Raft's election restriction (last log term, then last index), then the FSM head's block number."""
    term, index = node.position
    return term, index, node.head.block_number if node.head else -1


def choose_survivor(nodes: Sequence[NodeReport]) -> Optional[NodeReport]:
    """The usable voter ranked highest; on a full tie the first in inventory order (their logs are the same by
    Raft's log matching property, so the choice does not matter but must not depend on anything else)."""
    best = None
    for node in nodes:
        if node.usable and node.suffrage == "voter" and (best is None or _rank(node) > _rank(best)):
            best = node
    return best


def highest_op_node(heads: Sequence[OpNodeHead]) -> Optional[OpNodeHead]:
    best = None
    for head in heads:
        if head.number is not None and (best is None or head.number > best.number):
            best = head
    return best


def head_problems(survivor: NodeReport, heads: Sequence[OpNodeHead], force: bool) -> Tuple[List[str], List[str]]:
    """(problems, warnings) of the survivor's head against every reachable op-node's unsafe head."""
    highest = highest_op_node(heads)
    skipped = " (conductor_recover_force=true skips this check)"
    if highest is None:
        reason = "no op-node answered optimism_syncStatus, so the survivor's head cannot be checked against them"
        return ([] if force else [reason + skipped]), ([reason + "; forced"] if force else [])
    ahead = survivor.head.block_number - highest.number
    if ahead > MAX_BLOCKS_AHEAD:
        reason = ("host %s: the recovered head, block %d (%s), is %d blocks ahead of the highest op-node unsafe head, "
                  "block %d on host %s; op-conductor would refuse to sequence (ErrUnsafeHeadMismatch)"
                  % (survivor.host, survivor.head.block_number, survivor.head.block_hash, ahead, highest.number,
                     highest.host))
        return ([] if force else [reason + skipped]), ([reason + "; forced"] if force else [])
    warnings = ["op-node on host %s did not answer: %s" % (h.host, h.error) for h in heads if h.number is None]
    if ahead < 0:
        warnings.append("host %s: the recovered head, block %d, is %d blocks behind the highest op-node unsafe head "
                        "(block %d on host %s): those blocks were committed only on lost nodes; the sequencer is "
                        "started at the op-node head" % (survivor.host, survivor.head.block_number, -ahead,
                                                         highest.number, highest.host))
    return [], warnings


def reseed_term(nodes: Sequence[NodeReport]) -> int:
    """One above every term any node ever had (current, voted, logged, snapshotted): a stale node that comes back
    can then neither win an election nor have its requests accepted by the new cluster."""
    seen = [term for node in nodes if node.readable for term in node.terms() if term]
    return cluster.validate_term(max(seen, default=0) + 1, "reseed term")


def node_actions(mode: str, nodes: Sequence[NodeReport], survivor: Optional[NodeReport]) -> Dict[str, str]:
    """survivor: the survivor is recovered to itself alone, every other node is wiped and re-added; all: every
    usable node is recovered to the inventory's configuration, the rest wiped; reseed: every node re-seeded."""
    if mode == "reseed":
        return {node.host: "reseed" for node in nodes}
    if mode == "survivor":
        return {node.host: "recover" if node is survivor else "wipe" for node in nodes}
    return {node.host: "recover" if node.usable else "wipe" for node in nodes}


def unusable_warnings(nodes: Sequence[NodeReport]) -> List[str]:
    """Nodes that hold state no recovery can start from: said aloud, since survivor and all modes move them aside
    (after the backup of every node that can be backed up)."""
    reasons = [(n, "damaged" if n.damaged else "without an unsafe head (empty FSM)") for n in nodes
               if n.readable and n.exists and not n.usable]
    return ["host %s (%s): its Raft state is %s; it cannot be recovered from and will be moved aside"
            % (n.host, n.server_id, reason) for n, reason in reasons]


def _survivor_part(plan: Plan, nodes: Sequence[NodeReport], heads: Sequence[OpNodeHead], force: bool) -> None:
    plan.warnings += unusable_warnings(nodes)
    plan.survivor = choose_survivor(nodes)
    if plan.survivor is None:
        plan.problems.append("no voter holds a usable Raft state with an unsafe head (every node is missing, "
                             "damaged or has an empty FSM); only conductor_recover_mode=reseed can bring this "
                             "cluster back")
        return
    problems, warnings = head_problems(plan.survivor, heads, force)
    plan.problems += problems
    plan.warnings += warnings


def recovery_plan(group: str, confirm: Any, mode: Any, nodes: Sequence[NodeReport], heads: Sequence[OpNodeHead],
                  force: bool = False, dry_run: bool = False, cluster_name: Optional[str] = None) -> Plan:
    """The whole decision for one cluster (``cluster_name``, of the play's ``group``). ``problems`` empty means
    go; every problem is reported at once. A dry run (check mode, where no conductor was stopped) reports running
    nodes as warnings and decides as if they had stopped."""
    plan = Plan(mode=str(mode))
    plan.problems += confirmation_problems(confirm, group, cluster_name)
    plan.problems += mode_problems(mode)
    plan.problems += node_problems([replace(n, locked=False) for n in nodes] if dry_run else nodes)
    plan.warnings += ["check mode: op-conductor runs on host %s; a real run stops it first" % n.host
                      for n in nodes if dry_run and n.locked]
    if not nodes:
        plan.problems.append("group %s: no node to recover" % group)
    if plan.problems:
        return plan
    plan.highest_op_node = highest_op_node(heads)
    if mode == "reseed":
        try:
            plan.reseed_term = reseed_term(nodes)
        except cluster.SpecError as exc:
            plan.problems.append("a re-seed needs a term above every term the nodes had: %s" % exc)
        if plan.highest_op_node is None:
            plan.problems.append("no op-node answered optimism_syncStatus: a re-seeded cluster must start its "
                                 "sequencer at the highest op-node unsafe head, and none is known")
    else:
        _survivor_part(plan, nodes, heads, force)
    plan.actions = node_actions(plan.mode, nodes, plan.survivor)
    return plan


def reseed_leader(heads: Sequence[OpNodeHead], voter_hosts: Sequence[str]) -> Optional[str]:
    """The voter whose op-node holds the highest unsafe head: admin_startSequencer must be called on an op-node at
    its own head, and starting from the highest one loses no block any op-node has."""
    best = highest_op_node([head for head in heads if head.host in voter_hosts])
    return best.host if best else None


def sequencer_start(plan: Plan) -> str:
    """Who starts the sequencer after the recovery: ``conductor`` when the recovered head equals the op-node head or
    is one block ahead (op-conductor's own start posts that block to op-node first), ``admin`` through op-node's
    admin_startSequencer at its unsafe head when the FSM holds no usable head for that: a re-seed (empty FSM), or a
    recovered head behind the op-node (op-conductor would wedge on ErrUnsafeHeadMismatch; the first block op-node
    commits is higher, so the FSM takes it)."""
    if plan.mode == "reseed":
        return "admin"
    highest = plan.highest_op_node
    if plan.survivor is not None and highest is not None and plan.survivor.head.block_number < highest.number:
        return "admin"
    return "conductor"
