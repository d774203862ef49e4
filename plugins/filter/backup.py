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


class FilterModule:
    def filters(self):
        return {"backup_choice": backup_choice}
