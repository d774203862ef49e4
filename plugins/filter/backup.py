# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which backup the raft_restore role restores, chosen on the controller by ``_backup``'s own ranking.

The role lists this server's backups where they may be (raft_backup_info on the controller and on the host; the
module matches the server exactly, by the manifest) and this filter picks the newest. It used to be a Jinja sort
that restated the ranking; now there is one: ``_backup.Backup.position``.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Sequence

from ansible_collections.opstack.conductor.plugins.module_utils import _backup as backups


def _usable(listing: Any) -> List[Mapping]:
    """The reports of a listing that ran and found a readable manifest with a log position."""
    if not isinstance(listing, Mapping) or listing.get("skipped") or listing.get("failed"):
        return []
    return [report for report in listing.get("backups") or [] if report.get("ok") and report.get("position")]


def backup_choice(listings: Sequence[Sequence[Any]]) -> Dict[str, Any]:
    """The newest backup of ``listings`` (``[[where, raft_backup_info result], ...]``) by last log term, then last
    index (as Raft compares logs; never CurrentTerm, the name or the time but as the last tie-breaker), then the
    time made; on a full tie (the same backup, fetched) the earlier place. {} when there is none."""
    ranked = []
    for preference, (where, listing) in enumerate(listings):
        for report in _usable(listing):
            rank = backups.Backup(report["path"], report["manifest"]).position + (-preference,)
            ranked.append((rank, {"path": report["path"], "manifest": report["manifest"], "where": where}))
    if not ranked:
        return {}
    rank, chosen = max(ranked, key=lambda entry: entry[0])
    return dict(chosen, key=list(rank), candidates=len(ranked))


def _service_problems(node_dir: str, locked: bool, service: Mapping[str, Any]) -> List[str]:
    problems = []
    if locked and not service["manage"]:
        problems.append("%s: op-conductor is running (it holds the lock on its databases). Stop it, or set "
                        "conductor_service_manage=true to have it stopped for the restore" % node_dir)
    if service["manage"] and bool(service.get("stop_command")) != bool(service.get("start_command")):
        problems.append("set both conductor_service_stop_command and conductor_service_start_command, or neither "
                        "(systemd unit %s)" % service.get("name"))
    return problems


def restore_plan(choice: Mapping[str, Any], server_id: str, node_dir: str, current: Mapping[str, Any],
                 judged: Mapping[str, Any], unchanged: bool, service: Mapping[str, Any],
                 check_mode: bool) -> Dict[str, Any]:
    """What happens to one node: nothing when its files are exactly the backup's (``unchanged``, from their
    sha256); else what raft_restore judged from the backup's manifest against the node (``judged``: refusals,
    overridden checks, entries lost). ``service``: {manage, name, stop_command, start_command}. host_backup and
    pushed are filled in once the backup is on the host."""
    locked = bool((current or {}).get("locked"))
    problems = _service_problems(node_dir, locked, service)
    verdict = {"action": "restore", "reason": "", "overridden": [], "caveats": [], "lost": {"count": 0}}
    if unchanged:
        problems = []
        verdict.update(action="unchanged", reason="the node already holds exactly this backup")
    elif (judged or {}).get("failed"):
        problems.append(judged.get("msg", "the judgement of the restore failed"))
    else:
        verdict.update(action=judged.get("action"), reason=judged.get("msg", ""),
                       overridden=judged.get("overridden", []), caveats=judged.get("caveats", []),
                       lost=judged.get("lost", {"count": 0}))
    manifest = choice["manifest"]
    recorded = {"term": manifest.get("last_log_term", "?"), "index": manifest.get("last_index", "?")}
    position = manifest.get("position") or recorded
    return dict(verdict, server_id=server_id, node_dir=node_dir, backup=choice["path"], where=choice["where"],
                candidates=choice.get("candidates", 1), host_backup="", pushed=False,
                last_log_term=position["term"], last_index=position["index"], locked=locked,
                stop=locked and bool(service["manage"]) and verdict["action"] != "unchanged",
                predicted=bool(check_mode), problems=problems)


class FilterModule:
    def filters(self):
        return {"backup_choice": backup_choice, "restore_plan": restore_plan}
