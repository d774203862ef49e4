# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The conductor_cluster role's bring_up decisions, from the cluster view conductor_info reports.

"Formed" is judged by membership: the leader every reachable node names lists every inventory member. Health and
every node answering are not part of it (infra#740: a bootstrap job judged an existing cluster by health and failed
for hours on an already formed cluster with one unhealthy follower). A standby bring_up (conductor_standby=true)
forms the cluster with every conductor paused and no sequencer started, and refuses a cluster that sequences.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Sequence


def _listed(view: Mapping, key: str) -> List[str]:
    return [str(item) for item in view.get(key) or []]


def missing_members(view: Mapping, member_ids: Sequence[str]) -> List[str]:
    """The inventory members the reported (leader's) membership lacks."""
    servers = (view.get("membership") or {}).get("servers") or []
    have = set(str(server.get("id")) for server in servers)
    return [str(i) for i in member_ids if str(i) not in have]


def bring_up_plan(view: Any, member_ids: Sequence[str], standby: bool = False) -> Dict[str, Any]:
    """What bring_up does next: ``settled`` (stop waiting: one leader, and every node answers - or, for a standby
    or already sequencing cluster, it is formed; a first start that would start a sequencer still needs every
    conductor, to resume them all), ``formed``, ``missing``, ``sequencing`` (ids whose op-node sequences),
    ``problem`` (refusal, or ""), and the steps ``pause``, ``transfer``, ``start_sequencer``, ``resume``."""
    view = view if isinstance(view, Mapping) else {}
    missing = missing_members(view, member_ids)
    has_leader = view.get("leader") is not None and len(_listed(view, "leaders_claimed")) == 1
    formed = has_leader and not missing
    sequencing = _listed(view, "sequencers_active")
    problem = ""
    if standby and sequencing:
        problem = ("conductor_standby=true, but %s already sequences: a standby cluster has no active sequencer "
                   "(stop it first, or run bring_up without conductor_standby); nothing was changed"
                   % ", ".join(sequencing))
    first_start = not sequencing and not problem
    relaxed = formed and (standby or bool(sequencing))
    return dict(settled=has_leader and (relaxed or not _listed(view, "unreachable")), formed=formed,
                missing=missing, sequencing=sequencing, problem=problem, pause=first_start,
                transfer=first_start and not standby, start_sequencer=first_start and not standby,
                resume=not standby)


def standby_problems(view: Any, member_ids: Sequence[str]) -> Dict[str, List[str]]:
    """Why a standby cluster is not ready to take over (``problems``) and what is worth saying (``warnings``):
    it needs one leader, every member in its membership, no active sequencer and every answering member paused.
    A member that does not answer is a warning: the cluster is formed without it."""
    view = view if isinstance(view, Mapping) else {}
    unreachable = _listed(view, "unreachable")
    problems = [] if view.get("leader") else ["no leader that every node names"]
    missing = missing_members(view, member_ids)
    if missing:
        problems.append("the leader's membership lacks %s" % ", ".join(missing))
    problems.extend("a sequencer is active on %s" % i for i in _listed(view, "sequencers_active"))
    paused = set(_listed(view, "paused"))
    running = [str(i) for i in member_ids if str(i) not in paused and str(i) not in unreachable]
    if running:
        problems.append("not paused: %s" % ", ".join(running))
    skip = ("unreachable:", "more than one sequencer is active", "no leader elected")
    problems.extend(text for text in _listed(view, "disagreements") if not text.startswith(skip))
    warnings = ["%s does not answer (it is a member: the cluster is formed)" % i for i in unreachable]
    return dict(problems=problems, warnings=warnings)


class FilterModule:
    def filters(self):
        return {"bring_up_plan": bring_up_plan, "standby_problems": standby_problems}
