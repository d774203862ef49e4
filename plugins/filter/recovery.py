# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""opstack.conductor.recovery_plan: the recover role's decisions (confirmation, mode, survivor, head check, what
happens to each node, the re-seed term), made by module_utils._recovery_plan. This file only maps the Ansible
results the role registered (raft_state_info per host, op-node's optimism_syncStatus per host) to its types and
the plan back to plain data; the role's templates only format it."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence

from ansible_collections.opstack.conductor.plugins.module_utils import _recovery_plan as rules

INFO_VAR = "__conductor_recover_info"
SYNC_VAR = "__conductor_recover_sync"


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _head(value: Any) -> Optional[rules.Head]:
    if not isinstance(value, Mapping) or not isinstance(value.get("block_number"), int):
        return None
    return rules.Head(block_number=value["block_number"], block_hash=str(value.get("block_hash") or ""),
                      index=_int(value.get("index")), term=_int(value.get("term")), source=str(value.get("source", "")))


def _snapshots(value: Any) -> tuple:
    usable = [snap for snap in value or [] if isinstance(snap, Mapping) and not snap.get("problem")
              and snap.get("crc_ok") is not False]
    return tuple((_int(snap.get("term")), _int(snap.get("index"))) for snap in usable)


def node_report(member: Mapping, info: Any) -> rules.NodeReport:
    """One host's raft_state_info result (registered as __conductor_recover_info) as a NodeReport."""
    base = dict(host=str(member["host"]), server_id=str(member["id"]), suffrage=str(member.get("suffrage", "voter")))
    if not isinstance(info, Mapping):
        return rules.NodeReport(readable=False, error="raft_state_info did not run on this host", **base)
    if info.get("skipped"):  # the role reads no node whose directory does not exist
        return rules.NodeReport(exists=False, **base)
    if info.get("failed"):
        return rules.NodeReport(readable=False, error=str(info.get("msg") or "raft_state_info failed"), **base)
    return rules.NodeReport(
        exists=bool(info.get("exists")), locked=bool(info.get("locked")),
        # fsm_error: Raft itself could not replay these files (a snapshot that does not restore, a gap in the log),
        # so the head is unknown and RecoverCluster would fail on them too.
        damaged=not (info.get("integrity") or {}).get("ok", True) or bool(info.get("fsm_error")),
        last_log_term=_int(info.get("last_log_term")), last_index=_int(info.get("last_index")),
        current_term=_int(info.get("current_term")), last_vote_term=_int(info.get("last_vote_term")),
        snapshots=_snapshots(info.get("snapshots")), head=_head(info.get("fsm_head")), **base)


def op_node_head(host: str, sync: Any) -> rules.OpNodeHead:
    """One host's optimism_syncStatus answer (an ansible.builtin.uri result) as an OpNodeHead."""
    if not isinstance(sync, Mapping):
        return rules.OpNodeHead(host, error="not asked")
    body = sync.get("json") if isinstance(sync.get("json"), Mapping) else {}
    if sync.get("failed") or sync.get("status") != 200 or "error" in body:
        reason = body.get("error") or sync.get("msg") or "HTTP status %s" % sync.get("status")
        return rules.OpNodeHead(host, error=str(reason))
    unsafe = (body.get("result") or {}).get("unsafe_l2") or {}
    if not isinstance(unsafe.get("number"), int) or isinstance(unsafe.get("number"), bool):
        return rules.OpNodeHead(host, error="optimism_syncStatus has no unsafe_l2.number")
    return rules.OpNodeHead(host, number=unsafe["number"], block_hash=str(unsafe.get("hash") or ""))


def _survivor(node: Optional[rules.NodeReport]) -> Optional[Dict[str, Any]]:
    if node is None:
        return None
    head = node.head
    return {"host": node.host, "id": node.server_id, "position": {"term": node.position[0], "index": node.position[1]},
            "head": {"block_number": head.block_number, "block_hash": head.block_hash, "index": head.index,
                     "term": head.term, "source": head.source}}


def _servers(plan: rules.Plan, members: Sequence[Mapping]) -> List[Dict[str, str]]:
    """The configuration raft_recover writes: the survivor alone as a voter, or the whole inventory."""
    if plan.mode == "survivor" and plan.survivor is not None:
        mine = [m for m in members if m["host"] == plan.survivor.host][0]
        return [{"id": mine["id"], "address": mine["address"], "suffrage": "voter"}]
    return [{"id": m["id"], "address": m["address"], "suffrage": m["suffrage"]} for m in members]


def _leader(plan: rules.Plan, heads: Sequence[rules.OpNodeHead], members: Sequence[Mapping]) -> Optional[str]:
    if plan.mode == "reseed":
        return rules.reseed_leader(heads, [m["host"] for m in members if m["suffrage"] == "voter"])
    return plan.survivor.host if plan.survivor else None


def recovery_plan(hostvars: Mapping, members: Sequence[Mapping], group: Any, confirm: Any = None,
                  mode: Any = "survivor", force: Any = False, check_mode: Any = False,
                  cluster: Any = None) -> Dict[str, Any]:
    """The plan for the hosts of ``members`` (one cluster's member list, ``cluster`` its name), from the results
    each host registered."""
    members = list(members or [])
    nodes = [node_report(m, hostvars[m["host"]].get(INFO_VAR)) for m in members]
    heads = [op_node_head(m["host"], hostvars[m["host"]].get(SYNC_VAR)) for m in members]
    plan = rules.recovery_plan(str(group), confirm, mode, nodes, heads, force=bool(force),
                               dry_run=bool(check_mode), cluster_name=str(cluster) if cluster else None)
    highest = plan.highest_op_node
    leader = _leader(plan, heads, members) if not plan.problems else None
    return {
        "ok": not plan.problems, "problems": plan.problems, "warnings": plan.warnings, "mode": plan.mode,
        "survivor": _survivor(plan.survivor), "reseed_term": plan.reseed_term, "actions": plan.actions,
        "highest_op_node": {"host": highest.host, "number": highest.number, "hash": highest.block_hash}
        if highest else None,
        "servers": _servers(plan, members) if not plan.problems else [],
        "leader_host": leader, "sequencer_start": rules.sequencer_start(plan),
        "leader_id": {m["host"]: m["id"] for m in members}[leader] if leader else None,
        "op_node_heads": [{"host": h.host, "number": h.number, "hash": h.block_hash, "error": h.error} for h in heads],
    }


def recovery_request(group: Any, confirm: Any = None, mode: Any = "survivor", live: Any = None,
                     force: Any = False, cluster: Any = None) -> List[str]:
    """The problems of the request itself (confirmation of ``cluster`` of the play's ``group``, mode) and of the live
    cluster (``live``: a conductor_info result; a conductor that leads means the quorum is not lost), checked
    before anything is stopped or read."""
    view = (live or {}).get("cluster") if isinstance(live, Mapping) else None
    claimed = [str(sid) for sid in (view or {}).get("leaders_claimed") or []]
    return (rules.confirmation_problems(confirm, str(group), str(cluster) if cluster else None)
            + rules.mode_problems(mode) + rules.live_leader_problems(claimed, bool(force)))


class FilterModule:
    def filters(self):
        return {"recovery_plan": recovery_plan, "recovery_request": recovery_request}
