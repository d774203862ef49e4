# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# PRIVATE to this collection: may change at any time; do not use from other collections.
"""What a set of op-conductor nodes says together: the leader they agree on, membership, disagreements.

Pure functions over the per-node statuses of :meth:`_conductor_rpc.Conductor.status` (dicts), so every case is
unit-testable without a server. Used by conductor_info (the report), conductor_leader and conductor_membership
(waiting for a leader every node agrees on).
"""

from __future__ import annotations

from ansible_collections.opstack.conductor.plugins.module_utils import _conductor_rpc as rpc
from ansible_collections.opstack.conductor.plugins.module_utils import _servers as servers


def quorum(voters):
    """The votes a Raft configuration with ``voters`` voters needs to commit anything (a strict majority)."""
    return voters // 2 + 1


def _member_key(servers):
    return tuple(sorted((s["id"], s["address"], s["suffrage"]) for s in servers or []))


def is_member(status):
    """Whether a node counts itself in its own configuration (a fresh node that was never added does not)."""
    membership = status.get("membership")
    if membership is None:
        return True  # unknown (older API or error): treat as a member
    return any(s["id"] == status["id"] for s in membership["servers"])


def settled_leader(statuses, require_all=True):
    """The leader id when exactly one reachable member claims leadership and every reachable member of its
    configuration names it; else None. Nodes outside the leader's configuration are ignored."""
    reachable = [s for s in statuses if s.get("reachable")]
    if require_all and len(reachable) != len(statuses):
        return None
    claimed = [s for s in reachable if s.get("leader") and not s.get("leader_overridden")]
    if len(claimed) != 1:
        return None
    leader = claimed[0]
    members = None
    if leader.get("membership") is not None:
        members = set(x["id"] for x in leader["membership"]["servers"])
    for status in reachable:
        if members is not None and status["id"] not in members:
            continue
        if members is None and not is_member(status):
            continue
        if (status.get("leader_with_id") or {}).get("id") != leader["id"]:
            return None
    return leader["id"]


def _leaders_seen(reachable):
    """{leader id each node names: [node ids]} (the id is "" when a node knows no leader)."""
    seen = {}
    for status in reachable:
        named = status.get("leader_with_id")
        if named is not None:
            seen.setdefault(named.get("id", ""), []).append(status["id"])
    return seen


def _memberships_seen(reachable):
    """{(version, servers): [node ids]}: the distinct configurations the nodes report."""
    seen = {}
    for status in reachable:
        membership = status.get("membership")
        if membership is not None:
            seen.setdefault((membership.get("version"), _member_key(membership["servers"])), []).append(status["id"])
    return seen


def _disagreements(unreachable, leaders_claimed, leaders_seen, memberships_seen):
    found = []
    if unreachable:
        found.append("unreachable: %s" % ", ".join(unreachable))
    if len(leaders_claimed) > 1:
        found.append("more than one node claims leadership: %s" % ", ".join(leaders_claimed))
    if len(leaders_seen) > 1:
        found.append("nodes disagree on the leader: %s" % "; ".join(
            "%s -> %s" % (", ".join(ids), leader or "(none)") for leader, ids in sorted(leaders_seen.items())))
    elif leaders_seen and "" in leaders_seen:
        found.append("no leader elected")
    if len(memberships_seen) > 1:
        found.append("nodes disagree on membership: %s" % "; ".join(
            "%s see version %s with %s" % (", ".join(ids), key[0], ", ".join(
                "%s(%s)" % (m[0], m[2]) for m in key[1])) for key, ids in sorted(
                memberships_seen.items(), key=lambda kv: str(kv[0]))))
    return found


def _agreed_leader(reachable, leaders_seen):
    """(id, address, status) of the one real leader every node names, or (None, None, None)."""
    real = [k for k in leaders_seen if k and not k.startswith("N/A")]
    leader_id = real[0] if len(real) == 1 and len(leaders_seen) == 1 else None
    address = status_of_leader = None
    for status in reachable:
        if leader_id and status.get("leader_with_id", {}) and status["leader_with_id"].get("id") == leader_id:
            address = status["leader_with_id"].get("address")
        if leader_id and status["id"] == leader_id:
            status_of_leader = status
    return leader_id, address, status_of_leader


def _reported_membership(leader_status, memberships_seen, reachable):
    """The membership as the leader sees it, else the most common view (None when nobody reports one)."""
    if leader_status is not None and leader_status.get("membership") is not None:
        return leader_status["membership"]
    if memberships_seen:
        key = max(memberships_seen, key=lambda k: len(memberships_seen[k]))
        return next(s["membership"] for s in reachable if s["id"] == memberships_seen[key][0])
    return None


def _expected_problems(membership, outsiders, expected_servers):
    """(drift, disagreements) against the expected servers (drift None without both)."""
    drift, found = None, []
    if expected_servers is not None and membership is not None:
        drift = servers.drift(expected_servers, membership["servers"])
        if not drift["in_sync"]:
            found.append("membership differs from the expected servers: %s" % drift_text(drift))
    if outsiders and expected_servers is not None:
        wanted = set(x["id"] for x in expected_servers)
        found.extend("%s runs but is not a member of the cluster" % i for i in outsiders if i in wanted)
    return drift, found


def cluster_view(statuses, expected_servers=None):
    """Summarise per-node statuses: the leader, agreement, membership, disagreements."""
    outsiders = [s["id"] for s in statuses if s.get("reachable") and not is_member(s)]
    reachable = [s for s in statuses if s.get("reachable") and s["id"] not in outsiders]
    unreachable = [s["id"] for s in statuses if not s.get("reachable")]
    leaders_claimed = [s["id"] for s in reachable if s.get("leader") and not s.get("leader_overridden")]
    leaders_seen, memberships_seen = _leaders_seen(reachable), _memberships_seen(reachable)
    disagreements = _disagreements(unreachable, leaders_claimed, leaders_seen, memberships_seen)
    leader_id, leader_address, leader_status = _agreed_leader(reachable, leaders_seen)
    membership = _reported_membership(leader_status, memberships_seen, reachable)
    drift, problems = _expected_problems(membership, outsiders, expected_servers)
    disagreements.extend(problems)
    return dict(
        leader=dict(id=leader_id, address=leader_address) if leader_id else None,
        not_members=outsiders,
        leaders_claimed=leaders_claimed,
        leader_overridden=[s["id"] for s in reachable if s.get("leader_overridden")],
        membership=membership,
        agree=not disagreements,
        disagreements=disagreements,
        unreachable=unreachable,
        drift=drift,
        paused=[s["id"] for s in reachable if s.get("paused")],
        stopped=[s["id"] for s in reachable if s.get("stopped")],
        active=[s["id"] for s in reachable if s.get("active")],
        unhealthy=[s["id"] for s in reachable if s.get("sequencer_healthy") is False],
    )


def drift_text(drift):
    parts = []
    if drift["missing"]:
        parts.append("missing " + ", ".join(drift["missing"]))
    if drift["extra"]:
        parts.append("extra " + ", ".join(drift["extra"]))
    for change in drift["changed"]:
        have, want = change["have"], change["want"]
        values = (change["id"], have["suffrage"], have["address"], want["suffrage"], want["address"])
        parts.append("%s is %s %s, want %s %s" % values)
    return "; ".join(parts) or "none"


# --- conductor_info's report ------------------------------------------------------------------------------


def _flag(value):
    return "-" if value is None else ("yes" if value else "no")


def status_table(statuses, view):
    """A fixed-width table of the nodes, one line each, and a last line with the leader and disagreements."""
    row = "%-20s %-6s %-20s %-7s %-7s %-6s %-8s %-10s %s"
    lines = [row % ("node", "up", "leader (as seen)", "leads", "paused", "active", "healthy", "sequencing",
                    "membership")]
    for status in statuses:
        membership = status.get("membership")
        members = "-" if not membership else "v%s %s" % (membership.get("version"), ",".join(
            "%s%s" % (x["id"], "" if x["suffrage"] == "voter" else "(nv)") for x in membership["servers"]))
        named = status.get("leader_with_id") or {}
        lines.append(row % (
            status["id"][:20], _flag(status.get("reachable")), (named.get("id") or "-")[:20],
            _flag(status.get("leader")), _flag(status.get("paused")), _flag(status.get("active")),
            _flag(status.get("sequencer_healthy")), _flag(status.get("sequencer_active")), members))
    leader = view["leader"]["id"] if view["leader"] else "none"
    lines.append("leader: %s; %s" % (leader, "all nodes agree" if view["agree"] else
                                     "DISAGREEMENT: " + " | ".join(view["disagreements"])))
    return lines


def cluster_report(conductors, nodes, params, expected_servers=None):
    """conductor_info's result: every node's status (with its op-node's sequencer state), the view, the table."""
    statuses = rpc.gather(conductors)
    active, errors = rpc.sequencer_states(nodes, params)
    for status in statuses:
        status["sequencer_active"] = active.get(status["id"])
        if status["id"] in errors:
            status["sequencer_error"] = errors[status["id"]]
    view = cluster_view(statuses, expected_servers)
    view["sequencers_active"] = [i for i, value in active.items() if value]
    if len(view["sequencers_active"]) > 1:
        view["disagreements"].append("more than one sequencer is active: %s" % ", ".join(view["sequencers_active"]))
        view["agree"] = False
    return dict(changed=False, nodes=statuses, cluster=view, table=status_table(statuses, view))
