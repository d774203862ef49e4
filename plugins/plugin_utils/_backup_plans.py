# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the backup and restore roles do to each node, decided on the controller (issue 14 item 1).

Used by the action plugins raft_backup, raft_backup_info and raft_restore and by the filters of plugins/filter/backup.py.
The rules about backups themselves (ranking, verification, judging a restore) are ``_backup``'s, run by the modules
or, for a backup on the controller, here; this file only combines their results with the role's settings (whether
op-conductor may be stopped, where backups go) into a plan whose ``problems`` the role reports for every host at once.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Sequence

from ansible_collections.opstack.conductor.plugins.module_utils import _backup as backups

CONTROLLER = "the controller"
HOST = "the host"
_DEFAULT_PLACES_HINT = ("; the backup playbook keeps backups on each host in conductor_backup_dest, and on the "
                        "controller in conductor_backup_fetch_dir/<host> with conductor_backup_fetch=true; set "
                        "conductor_restore_src (and conductor_restore_remote_src) to restore from elsewhere")


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


def looked(places: Sequence[Sequence[Any]]) -> str:
    """Where a server's backups were looked for (``[[where, root, listing], ...]``, empty roots left out) and why
    what was there could not be used, for the message when no backup was found."""
    seen, reasons = [], []
    for where, root, listing in places:
        if not root:
            continue
        seen.append("in %s on %s" % (root, where))
        if isinstance(listing, Mapping) and listing.get("failed"):
            reasons.append(listing.get("msg") or "not readable")
            continue
        for report in (listing or {}).get("backups") or []:
            if not report.get("ok"):
                reasons.extend(report.get("problems", [])[:1])
    return " nor ".join(seen) + (" (%s)" % "; ".join(reasons) if reasons else "")


def found_problems(found: Mapping[str, Any], server_id: str, force: bool, default_places: bool) -> List[str]:
    """Why the backup raft_backup_info chose for this server (``found``) cannot be restored: none was found (where
    it was looked for; ``default_places``: where the backup playbook keeps them, so say where else to look), it
    does not verify, or (without force) it is of another server or membership."""
    if found.get("failed"):
        return [found.get("msg") or "the verification failed"]
    if not found.get("chosen"):
        hint = _DEFAULT_PLACES_HINT if default_places else ""
        return ["no backup of server %s %s%s" % (server_id, found.get("looked") or "anywhere", hint)]
    report = (found.get("backups") or [None])[0]
    if report is None:
        return ["no verification result"]
    reasons = list(report["problems"]) + ([] if force else list(report["mismatches"]))
    return ["%s: %s" % (report["path"], "; ".join(reasons))] if reasons else []


def _running(node_dir: str, advice: str) -> str:
    return "%s: op-conductor is running (it holds the lock on its databases). %s" % (node_dir, advice)


def _hooks_problems(service: Mapping[str, Any]) -> List[str]:
    """Stopping op-conductor with one command hook and starting it with systemd (or the other way round) would
    leave it stopped or running twice."""
    if service["manage"] and bool(service.get("stop_command")) != bool(service.get("start_command")):
        return ["set both conductor_service_stop_command and conductor_service_start_command, or neither "
                "(systemd unit %s)" % service.get("name")]
    return []


_RESTORE_RUNNING = "Stop it, or set conductor_service_manage=true to have it stopped for the restore"


def restore_plan(choice: Mapping[str, Any], server_id: str, node_dir: str, current: Mapping[str, Any],
                 judged: Mapping[str, Any], unchanged: bool, service: Mapping[str, Any],
                 check_mode: bool) -> Dict[str, Any]:
    """What happens to one node: nothing when its files are exactly the backup's (``unchanged``, from their
    sha256); else what raft_restore judged from the backup's manifest against the node (``judged``: refusals,
    overridden checks, entries lost). ``service``: {manage, name, stop_command, start_command}. host_backup and
    pushed are filled in once the backup is on the host."""
    locked = bool((current or {}).get("locked"))
    problems = ([_running(node_dir, _RESTORE_RUNNING)] if locked and not service["manage"] else [])
    problems += _hooks_problems(service)
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


_BACKUP_RUNNING = ("Set conductor_service_manage=true to stop it for the backup and start it again, one node at a "
                   "time, or conductor_backup_online=true for a verified best-effort copy while it runs")


def _inside(path: str, directory: str) -> bool:
    return (path.rstrip("/") + "/").startswith(directory.rstrip("/") + "/")


def backup_plan(check: Mapping[str, Any], server_id: str, node_dir: str, dest: str,
                settings: Mapping[str, Any]) -> Dict[str, Any]:
    """What happens to one node in a backup, from raft_backup's check-mode result (``check``, run with online=true
    to learn whether op-conductor runs) and the role's ``settings`` (online, keep, fetch, fetch_dir, service)."""
    service = settings["service"]
    locked = bool(check.get("locked"))
    online, manage = bool(settings["online"]), bool(service["manage"])
    if check.get("failed"):
        problems = [check.get("msg") or "the check failed"]
    else:
        problems = [_running(node_dir, _BACKUP_RUNNING)] if locked and not online and not manage else []
    if _inside(dest, node_dir):
        problems.append("conductor_backup_dest=%s is inside the node directory %s; keep backups outside it"
                        % (dest, node_dir))
    problems += _hooks_problems(dict(service, manage=manage))
    if int(settings["keep"]) < 0:
        problems.append("conductor_backup_keep=%s: must be 0 (keep every backup) or more" % settings["keep"])
    if settings["fetch"] and not settings.get("fetch_dir"):
        problems.append("conductor_backup_fetch=true needs conductor_backup_fetch_dir")
    return {"server_id": server_id, "node_dir": node_dir, "locked": locked, "stop": locked and manage and not online,
            "problems": problems}


def play_problems(hostvars: Mapping[str, Any], hosts: Sequence[str], key: str) -> List[str]:
    """``host <name>: <problem>`` for every problem of every host's plan (hostvars[host][key].plan); a host that
    has none was not checked: 'no result'."""
    out = []
    for host in hosts:
        result = hostvars[host].get(key) if key in hostvars[host] else None
        plan = (result or {}).get("plan") or {"problems": ["no result"]}
        out.extend("host %s: %s" % (host, problem) for problem in plan["problems"])
    return out


def _done(hostvars: Mapping[str, Any], host: str, key: str) -> Any:
    """hostvars[host][key] when the host registered it and it did not fail (a failed host is not reported)."""
    result = hostvars[host].get(key) if key in hostvars[host] else None
    return None if not isinstance(result, Mapping) or result.get("failed") else result


def backup_record(hostvars: Mapping[str, Any], host: str) -> List[Dict[str, Any]]:
    """What the backup role reports for one host: [{host, server_id, path, terms, cluster, ...}], or [] when the
    host made none (or failed). The local state_dir mode records its nodes itself (__conductor_backup_done)."""
    if "__conductor_backup_done" in hostvars[host]:
        return list(hostvars[host]["__conductor_backup_done"])
    result, check = _done(hostvars, host, "conductor_backup_result"), _done(hostvars, host, "__conductor_backup_check")
    if result is None or check is None:
        return []
    manifest = result.get("manifest") or {}
    position = manifest.get("position") or {}
    fetched = _done(hostvars, host, "__conductor_backup_fetch") or {}
    return [{"host": host, "server_id": check["plan"]["server_id"], "path": result.get("backup_path", ""),
             "current_term": manifest.get("current_term"), "last_log_term": position.get("term"),
             "last_index": position.get("index"), "cluster": (manifest.get("cluster") or {}).get("id"),
             "online": manifest.get("online", False), "stopped": check["plan"]["stop"],
             "removed": result.get("removed", []), "fetched": fetched.get("fetched", ""), "msg": result.get("msg", "")}]


def restore_record(hostvars: Mapping[str, Any], host: str) -> List[Dict[str, Any]]:
    """What the restore role reports for one host, from its plan and raft_restore's result (the plan's prediction
    where the restore did not run); [] when the host was not restored (or failed). The local state_dir mode
    records its nodes itself (__conductor_restore_done)."""
    if "__conductor_restore_done" in hostvars[host]:
        return list(hostvars[host]["__conductor_restore_done"])
    result, staged = _done(hostvars, host, "conductor_restore_result"), _done(hostvars, host, "__conductor_restore_staged")
    if result is None or staged is None:
        return []
    plan = staged["plan"]
    ran = not result.get("skipped")
    outcome = {key: result[key] if ran and key in result else plan[key]
               for key in ("action", "overridden", "lost", "caveats")}
    return [dict(outcome, host=host, node_dir=plan["node_dir"], backup=plan["backup"], where=plan["where"],
                 last_log_term=plan["last_log_term"], last_index=plan["last_index"], candidates=plan["candidates"],
                 previous=result.get("backup_dir", "") if ran else "",
                 predicted=plan["action"] != "unchanged" and not ran)]


def play_records(hostvars: Mapping[str, Any], hosts: Sequence[str], kind: str) -> List[Dict[str, Any]]:
    """The records of every host of the play, host after host: ``kind`` 'backup' or 'restore'."""
    record = backup_record if kind == "backup" else restore_record
    return [entry for host in hosts for entry in record(hostvars, host)]


def _backup_plan_of(hostvars: Mapping[str, Any], host: str) -> Mapping[str, Any]:
    return (_done(hostvars, host, "__conductor_backup_check") or {}).get("plan") or {}


def quorum_problems(hostvars: Mapping[str, Any], batch: Sequence[str], play_hosts: Sequence[str],
                    members: Sequence[Mapping[str, Any]], keep_quorum: bool) -> List[str]:
    """Why stopping op-conductor on the voters of this batch (their plans say stop) would leave fewer than a
    quorum of the cluster's voters running, counting the voters of the play that are down already (not locked);
    [] when it would not, or when the operator said the quorum need not be kept."""
    voters = [member["host"] for member in members if member.get("suffrage") == "voter"]
    stopping = [host for host in batch if host in voters and _backup_plan_of(hostvars, host).get("stop")]
    down = [host for host in play_hosts if host in voters and not _backup_plan_of(hostvars, host).get("locked", True)]
    tolerance = (len(voters) - 1) // 2
    if not stopping or not keep_quorum or len(stopping) + len(down) <= tolerance:
        return []
    already = ", with %s not running already," % ", ".join(down) if down else ""
    return ["Nothing was stopped: stopping op-conductor on %s at once%s would leave fewer than a quorum of the %d "
            "voters running (the cluster can lose %d). Back up one node at a time (serial 1, the default of the "
            "backup playbook), start the stopped nodes first, or set conductor_service_keep_quorum=false."
            % (", ".join(stopping), already, len(voters), tolerance)]
