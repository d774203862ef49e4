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

import json
import os
import stat
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.opstack.conductor.plugins.module_utils import _backup as backups
from ansible_collections.opstack.conductor.plugins.module_utils import _servers as servers
from ansible_collections.opstack.conductor.plugins.module_utils._errors import OpstackError

CONTROLLER, HOST = backups.CONTROLLER, backups.HOST
backup_choice = backups.backup_choice  # the ranking is _backup's: the host's part of a choice runs it too
_DEFAULT_PLACES_HINT = ("; the backup playbook keeps backups on each host in conductor_backup_dest, and on the "
                        "controller in conductor_backup_fetch_dir/<host> with conductor_backup_fetch=true; set "
                        "conductor_restore_src (and conductor_restore_remote_src) to restore from elsewhere")


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


def controller_listing(root: str, server_id: Any, verify: bool = False, expected: Any = None,
                       network: Any = None) -> Dict[str, Any]:
    """What raft_backup_info reports for ``root``, read on the controller by the module's own code."""
    try:
        return dict(backups.describe_backups(root, verify, server_id, expected, network), changed=False)
    except (OpstackError, OSError) as exc:
        return {"failed": True, "msg": str(exc)}


def _expected_servers(module_args: Mapping[str, Any]) -> Any:
    """The options the module would refuse, checked before anything is read; the expected servers or None."""
    if module_args.get("server_id") is not None:
        servers.validate_server_id(module_args["server_id"])
    backups.validate_network(module_args.get("network"))
    if module_args.get("expected_servers") is None:
        return None
    return servers.server_dicts(module_args["expected_servers"], "expected_servers")


ModuleRun = Callable[[Dict[str, Any]], Dict[str, Any]]


def _newest_report(listing: Mapping[str, Any]) -> Any:
    """The report of the newest backup of one place's listing (the host's rival), or None."""
    chosen = backup_choice([[CONTROLLER, listing]])
    return next((report for report in listing["backups"] if report["path"] == chosen["path"]), None) if chosen else None


def find_backup(run_find: ModuleRun, module_args: Mapping[str, Any], controller_path: Any) -> Dict[str, Any]:
    """raft_backup_info's choice (its action plugin, and the restore role's preflight in raft_restore's): this
    server's backups on the controller (``controller_path``, read here) and on the host (module_args' path), the
    newest of both by ``_backup``'s ranking, verified where it is: {chosen, looked, backups, newest, partials,
    host_run} or {failed, msg}. The host's part is one module run through ``run_find`` (its ``host_choice``
    option, {path, rival}: the controller's newest as the rival): it lists, chooses and verifies the chosen backup
    when it is there, and for the restore also judges it; ``host_run`` is that run's result when it chose the same
    backup, else {}."""
    try:
        expected = _expected_servers(module_args)
    except OpstackError as exc:
        return {"failed": True, "msg": str(exc)}
    server_id, places, host_run = module_args.get("server_id"), [], {}
    if controller_path:
        places.append([CONTROLLER, controller_path, controller_listing(controller_path, server_id)])
    if module_args.get("path"):
        rival = _newest_report(places[0][2]) if places and not places[0][2].get("failed") else None
        host_run = run_find({"path": module_args["path"], "rival": rival})
        places.append([HOST, module_args["path"], host_run if host_run.get("failed") else host_run.get("listing")])
    chosen = backup_choice([[where, listing] for where, _root, listing in places])
    # The host ranked the same candidates by the same rule; its run is only used for the backup chosen here.
    if (host_run.get("chosen") or {}).get("path") != chosen.get("path"):
        host_run = {}
    result = {"changed": False, "chosen": chosen, "looked": looked(places), "backups": [], "newest": None,
              "partials": [], "host_run": host_run}
    if not chosen:
        return result
    if chosen["where"] == CONTROLLER:
        verified = controller_listing(chosen["path"], server_id, True, expected, module_args.get("network"))
    elif host_run.get("verified"):
        verified = host_run["verified"]
    else:
        verified = {"failed": True, "msg": "%s: the host did not verify it" % chosen["path"]}
    if verified.get("failed"):
        return dict(result, failed=True, msg=verified.get("msg") or "the verification failed")
    return dict(result, **{key: verified.get(key) for key in ("backups", "newest", "partials")})


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


def _registered(host_vars: Mapping[str, Any], key: str) -> Any:
    """host_vars[key] when the host registered it and it did not fail (a failed host is not reported)."""
    result = host_vars.get(key) if key in host_vars else None
    return None if not isinstance(result, Mapping) or result.get("failed") else result


def _done(hostvars: Mapping[str, Any], host: str, key: str) -> Any:
    """hostvars[host][key] when the host registered it and it did not fail."""
    return _registered(hostvars[host], key)


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
    # fetched by the backup task itself, or (op-conductor stopped for the backup) by a later task
    fetched = (_done(hostvars, host, "__conductor_backup_fetch") or {}).get("fetched") or result.get("fetched", "")
    return [{"host": host, "server_id": check["plan"]["server_id"], "path": result.get("backup_path", ""),
             "current_term": manifest.get("current_term"), "last_log_term": position.get("term"),
             "last_index": position.get("index"), "cluster": (manifest.get("cluster") or {}).get("id"),
             "online": manifest.get("online", False), "stopped": check["plan"]["stop"],
             "removed": result.get("removed", []), "fetched": fetched, "msg": result.get("msg", "")}]


def restore_record(hostvars: Mapping[str, Any], host: str) -> List[Dict[str, Any]]:
    """What the restore role reports for one host, from its plan and raft_restore's result (the plan's prediction
    where the restore did not run); [] when the host was not restored (or failed). The local state_dir mode
    records its nodes itself (__conductor_restore_done)."""
    if "__conductor_restore_done" in hostvars[host]:
        return list(hostvars[host]["__conductor_restore_done"])
    result, staged = _done(hostvars, host, "conductor_restore_result"), _done(hostvars, host, "__conductor_restore_staged")
    if result is None and staged is not None and "conductor_restore_result" not in hostvars[host] \
            and staged["plan"].get("action") == backups.RESTORE_UNCHANGED:
        result = {"skipped": True}  # the node already holds the backup: the playbook did not include its restore
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


def restore_node_info(host_vars: Mapping[str, Any]) -> Optional[Mapping[str, Any]]:
    """raft_state_info's report of this host's node as the restore left it, read by raft_restore itself
    (report_info, issue 15): by the preflight's check run for a node that already held its backup (its restore is
    not run), else by the run that restored it. None when neither read it (op-conductor holds the node,
    report_info was off, the restore failed): the raft_info role reads the node itself then."""
    judged = _registered(host_vars, "__conductor_restore_judged")
    if judged is None:
        return None
    if (judged.get("plan") or {}).get("action") == backups.RESTORE_UNCHANGED:
        return judged.get("info")
    restored = _registered(host_vars, "conductor_restore_result")
    return None if restored is None or restored.get("skipped") else restored.get("info")


def play_records(hostvars: Mapping[str, Any], hosts: Sequence[str], kind: str) -> List[Dict[str, Any]]:
    """The records of every host of the play, host after host: ``kind`` 'backup' or 'restore'."""
    record = backup_record if kind == "backup" else restore_record
    return [entry for host in hosts for entry in record(hostvars, host)]


def _backup_plan_of(hostvars: Mapping[str, Any], host: str) -> Mapping[str, Any]:
    return (_done(hostvars, host, "__conductor_backup_check") or {}).get("plan") or {}


def backup_batch_size(hostvars: Mapping[str, Any], play_hosts: Sequence[str], requested: Any = "") -> Any:
    """The backup play's serial (issue 15): ``requested`` (conductor_backup_serial) when given; else one node at a
    time when the preflight plans to stop op-conductor on any host of the play, so at most one node is down for
    its backup, and every host at once when it plans to stop none (nothing is stopped, so going one by one would
    keep nothing safe and only take longer)."""
    if requested not in (None, ""):
        return requested
    return 1 if any(_backup_plan_of(hostvars, host).get("stop") for host in play_hosts) else "100%"


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


# The local state_dir mode (op-conductor-init parity): a directory of node directories on the controller, backed up
# into one raft-backup-<UTC> folder and restored from it. Paths are relative to where ansible-playbook runs.

_DATABASES = ("raft-log.db", "raft-stable.db")


def _local_path(value: Any) -> str:
    return os.path.realpath(os.path.expanduser(str(value))) if value else ""


def _regular_file(path: str) -> bool:
    """Whether ``path`` is a regular file (a symlink is not, as for ansible.builtin.find); an OSError other than
    ENOENT is raised, never taken for absent."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def _with_subdirectories(root: str) -> List[str]:
    """``root`` and its direct subdirectories (not through symlinks), sorted."""
    with os.scandir(root) as entries:
        children = sorted(entry.path for entry in entries if entry.is_dir(follow_symlinks=False))
    return [root] + children


def state_dir_nodes(state_dir: str) -> List[str]:
    """The node directories of ``state_dir``: itself or its subdirectories holding raft-log.db or raft-stable.db,
    except kept old states (<id>.<pid>.<time>~) and staging directories (.<id>...), which are not nodes."""
    return [path for path in _with_subdirectories(state_dir)
            if any(_regular_file(os.path.join(path, name)) for name in _DATABASES)
            and not path.endswith("~") and not os.path.basename(path).startswith(".")]


def _state_dir_backup_problem(state_dir: Any, backup_dir: Any, nodes: Sequence[str]) -> str:
    inside = [node for node in nodes if _inside(_local_path(backup_dir), node)]
    if not nodes:
        return "state_dir=%s: no raft-log.db or raft-stable.db in it or in its subdirectories" % state_dir
    if inside:
        return ("backup_dir=%s is inside the node directory %s; keep backups outside the node directories"
                % (backup_dir, ", ".join(inside)))
    return ""


def state_dir_backup_plan(state_dir: Any, backup_dir: Any) -> Dict[str, Any]:
    """What the backup role's local mode backs up: {state_dir, backup_dir, nodes (node directories), problems}.
    The first problem found stops it: no backup_dir, no state_dir, no node in it, backups inside a node."""
    plan = {"state_dir": _local_path(state_dir), "backup_dir": _local_path(backup_dir), "nodes": [], "problems": []}
    if not backup_dir:
        problem = ("backup_dir (conductor_backup_dir) is required with state_dir: the directory that gets the new "
                   "raft-backup-<UTC> folder")
    elif not os.path.isdir(plan["state_dir"]):
        problem = "state_dir=%s: no such directory" % state_dir
    else:
        try:
            plan["nodes"] = state_dir_nodes(plan["state_dir"])
        except OSError as exc:
            return dict(plan, problems=["state_dir=%s: %s" % (state_dir, exc)])
        problem = _state_dir_backup_problem(state_dir, backup_dir, plan["nodes"])
    return dict(plan, problems=[problem] if problem else [])


def _backup_folder_problem(backup_dir: Any, folder: str) -> str:
    if not backup_dir:
        return "backup_dir (conductor_backup_dir) is required with state_dir: the raft-backup-<UTC> folder to restore"
    if folder.endswith(backups.PARTIAL):
        return ("backup_dir=%s is an unfinished backup folder (.partial): a backup run did not complete, it was "
                "never verified as a whole" % backup_dir)
    if not os.path.isdir(folder):
        return "backup_dir=%s: no such directory" % backup_dir
    return ""


def folder_backups(folder: str) -> List[str]:
    """The node backups of a folder: the folder itself when it is one backup (holds manifest.json), else its
    subdirectories holding one, except unfinished ones (.partial)."""
    if _regular_file(os.path.join(folder, backups.MANIFEST)):
        return [folder]
    return [path for path in _with_subdirectories(folder)[1:]
            if not path.endswith(backups.PARTIAL) and _regular_file(os.path.join(path, backups.MANIFEST))]


def folder_node(path: str) -> Dict[str, Any]:
    """One node backup of a folder as the restore lists it; its log position read as ``_backup`` ranks it."""
    manifest = backups.read_manifest(path)
    position = backups.manifest_position(manifest)
    return {"path": path, "server_id": manifest["server_id"], "membership_hash": manifest.get("membership_hash"),
            "current_term": manifest.get("current_term"),
            "last_index": position.index if position else manifest.get("last_index"),
            "last_log_term": position.term if position else manifest.get("last_log_term", "?")}


def _folder_nodes(folder: str) -> Tuple[List[Dict[str, Any]], List[str]]:
    """The node backups of the folder, and why each backup whose manifest cannot be used cannot be."""
    nodes, unreadable = [], []
    for path in folder_backups(folder):
        try:
            nodes.append(folder_node(path))
        except OpstackError as exc:
            unreadable.append(str(exc))
    return nodes, unreadable


def _json_in(folder: str, name: str) -> Any:
    """The JSON object ``name`` of the folder, None when there is none."""
    path = os.path.join(folder, name)
    if not _regular_file(path):
        return None
    with open(path, encoding="utf-8") as handle:
        document = json.load(handle)
    if not isinstance(document, dict):
        raise ValueError("%s is not a JSON object" % path)
    return document


def _folder_problem(backup_dir: Any, nodes: Sequence[Mapping[str, Any]], index: Mapping[str, Any],
                    force: bool) -> str:
    """Why the folder is not a complete backup of one cluster ('' when it is)."""
    ids = sorted(node["server_id"] for node in nodes)
    indexed = sorted(node["server_id"] for node in index.get("nodes") or [])
    if not ids:
        return ("backup_dir=%s holds no backup (no manifest.json in it or in its raft-backup-* directories)"
                % backup_dir)
    if len(set(ids)) != len(ids):
        return ("backup_dir=%s holds several backups of the same server (%s); point it at one raft-backup-<UTC> "
                "folder" % (backup_dir, ", ".join(ids)))
    if index and ids != indexed:
        return ("the folder is incomplete: backup.json lists %s, the folder holds %s"
                % (", ".join(indexed), ", ".join(ids)))
    if not force and len({node["membership_hash"] for node in nodes}) != 1:
        return ("the node backups in %s have different memberships; set force=true to restore them anyway"
                % backup_dir)
    return ""


def state_dir_restore_plan(backup_dir: Any, state_dir: Any, force: Any) -> Dict[str, Any]:
    """What the restore role's local mode restores: {state_dir, folder, nodes (each backup: path, server_id,
    membership_hash, terms, last_index), index (backup.json), expected (cluster.json's servers), problems}. The
    first problem found stops it: no usable folder, an unreadable manifest, or not a complete backup of one
    cluster (unless force: of one membership)."""
    folder = _local_path(backup_dir)
    plan = {"state_dir": _local_path(state_dir), "folder": folder, "nodes": [], "index": {}, "expected": [],
            "problems": []}
    problem = _backup_folder_problem(backup_dir, folder)
    if problem:
        return dict(plan, problems=[problem])
    try:
        plan["nodes"], unreadable = _folder_nodes(folder)
        plan["index"] = _json_in(folder, "backup.json") or {}
        plan["expected"] = (_json_in(folder, "cluster.json") or {}).get("servers") or []
    except (OSError, ValueError) as exc:
        return dict(plan, problems=["Nothing was restored: %s" % exc])
    if unreadable:
        return dict(plan, problems=["Nothing was restored: %s" % reason for reason in unreadable])
    problem = _folder_problem(backup_dir, plan["nodes"], plan["index"], bool(force))
    return dict(plan, problems=["Nothing was restored: " + problem] if problem else [])


def _manifest_facts(result: Mapping[str, Any]) -> Dict[str, Any]:
    """What the local modes record of a backup raft_backup made (None where it made none)."""
    manifest = result.get("manifest") or {}
    return {"current_term": manifest.get("current_term"), "last_index": manifest.get("last_index"),
            "last_log_term": (manifest.get("position") or {}).get("term"),
            "cluster": (manifest.get("cluster") or {}).get("id"), "online": manifest.get("online", False)}


def state_dir_backup_records(results: Sequence[Mapping[str, Any]], folder: str) -> Dict[str, List[Dict[str, Any]]]:
    """From raft_backup's result for each node directory (``results``, looped over the node directories): the
    nodes of the folder's backup.json (``index``: each backup made, by its name in the folder) and what the role
    reports (``report``: every node, named by its directory; ``path`` in the final ``folder``)."""
    index, report = [], []
    for result in results:
        name, facts = os.path.basename(result["item"]), _manifest_facts(result)
        made = os.path.basename(result["backup_path"]) if "backup_path" in result else ""
        report.append(dict(facts, host=name, server_id=name, path=os.path.join(folder, made) if made else "",
                           stopped=False, removed=[], fetched="", msg=result.get("msg", "")))
        if made and result.get("manifest"):
            index.append(dict(facts, server_id=result["manifest"]["server_id"], backup=made,
                              membership_hash=result["manifest"].get("membership_hash")))
    return {"index": index, "report": report}


def state_dir_restore_records(results: Sequence[Mapping[str, Any]], state_dir: str,
                              check_mode: Any) -> List[Dict[str, Any]]:
    """What the restore role reports for each node backup of a local folder, from raft_restore's result (looped
    over the plan's nodes, ``results``); ``check_mode``: the restores were predicted, not made."""
    return [{"host": result["item"]["server_id"], "node_dir": "%s/%s" % (state_dir, result["item"]["server_id"]),
             "backup": result["item"]["path"], "where": CONTROLLER, "last_log_term": result["item"]["last_log_term"],
             "last_index": result["item"]["last_index"], "action": result.get("action", "?"),
             "previous": result.get("backup_dir", ""), "overridden": result.get("overridden", []),
             "lost": result.get("lost", {}), "caveats": result.get("caveats", []), "predicted": bool(check_mode)}
            for result in results]
