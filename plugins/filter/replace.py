# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The conductor_cluster role's replace action (membership entry point, ``-e conductor_replace=<id>``): which of the
requested members are dead and get replaced. Dead as the cluster sees it: the member's conductor does not answer,
counts itself outside its own configuration (e.g. started on an empty directory), or does not follow the leader
every reachable node names. A member that answers and follows the leader is left alone, so a rerun of the same
request changes nothing.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Sequence


def _requested(value: Any) -> List[str]:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return [str(part) for part in value or []]


def _alive(status: Mapping, leader_id: str) -> bool:
    if not status.get("reachable"):
        return False
    servers = (status.get("membership") or {}).get("servers") or []
    if not any(server.get("id") == status.get("id") for server in servers):
        return False
    return (status.get("leader_with_id") or {}).get("id") == leader_id


def replace_targets(info: Any, requested: Any, member_ids: Sequence[str],
                    fleet_ids: Sequence[str] = ()) -> Dict[str, List[str]]:
    """``replace`` (dead members to replace), ``alive`` (requested but healthy: left alone) and ``problems``, from
    a conductor_info result, the requested server IDs (a list or a comma-separated string) and the member IDs.
    ``fleet_ids``: the member IDs of every cluster of the run; a requested member of another cluster is that
    cluster's to replace (neither a target nor a problem here)."""
    info = info if isinstance(info, Mapping) else {}
    elsewhere = set(str(i) for i in fleet_ids or []) - set(member_ids)
    wanted = [i for i in _requested(requested) if i not in elsewhere]
    out = dict(replace=[], alive=[], problems=[])
    if not wanted:
        return out
    out["problems"] = ["conductor_replace names %s, which is not a member (conductor_member=true) of the group" % i
                       for i in wanted if i not in member_ids]
    leader = ((info.get("cluster") or {}).get("leader") or {}).get("id")
    if not leader:
        out["problems"].append("no leader that every reachable node names: a replace needs a working cluster "
                               "(see the recover playbook)")
    if out["problems"]:
        return out
    statuses = dict((s.get("id"), s) for s in info.get("nodes") or [])
    for node_id in wanted:
        out["alive" if _alive(statuses.get(node_id) or {}, leader) else "replace"].append(node_id)
    return out


class FilterModule:
    def filters(self):
        return {"replace_targets": replace_targets}
