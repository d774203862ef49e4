# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The raft_info role's verdict on every node: corrupt, without state, drifted from the expected membership, or
disagreeing with the other nodes. This judging used to be Jinja in report.json.j2 (out of reach of unit tests);
the template now only lays out the table.

Nodes are also compared with each other, not only with the expected membership: a cluster whose nodes hold
different memberships, were seeded at different initial terms, or carry different cluster identities is mixed (a
partial or forced deploy, a node from another cluster) even when each node alone looks fine. The nodes outside the
largest group (all of them on a tie) are flagged; see ``cluster_details``.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.opstack.conductor.plugins.plugin_utils import _backup_plans as plans

ASPECTS = ("membership", "initial term", "cluster identity")


def _label(item: Mapping) -> str:
    if item.get("label"):
        return item["label"]
    return item["host"] if item["host"] == item["server_id"] else "%s (%s)" % (item["host"], item["server_id"])


def _aspects(result: Mapping) -> Dict[str, Any]:
    """{aspect: (grouping key, shown value)} of one checked node."""
    found = {}
    conf = result.get("latest_configuration")
    if conf:
        key = tuple(sorted(tuple(sorted(server.items())) for server in conf["servers"]))
        found["membership"] = (key, ", ".join(server["id"] for server in conf["servers"]))
        if conf.get("index") == 1 and conf.get("source", "log") == "log":
            # The seed entry is still the newest configuration: its term is the term the node was seeded at.
            found["initial term"] = (str(conf["term"]), str(conf["term"]))
    identity = (result.get("cluster_identity") or {}).get("id")
    if identity:
        found["cluster identity"] = (identity, identity)
    return found


def _group_nodes(inputs: Sequence[Mapping]) -> Dict[str, Dict[Any, Dict[str, Any]]]:
    seen = {aspect: {} for aspect in ASPECTS}  # type: Dict[str, Dict[Any, Dict[str, Any]]]
    for item in inputs:
        result = item.get("result") or {}
        if item.get("status") != "checked" or not result.get("exists"):
            continue
        for aspect, (key, value) in _aspects(result).items():
            seen[aspect].setdefault(key, {"value": value, "nodes": []})["nodes"].append(_label(item))
    return seen


def _in_sync(inputs: Sequence[Mapping]) -> set:
    """Labels of the nodes whose membership matches the expected one (when one was given)."""
    return {_label(item) for item in inputs
            if ((item.get("drift") or (item.get("result") or {}).get("drift")) or {}).get("in_sync")}


def disagreements(inputs: Sequence[Mapping]) -> Tuple[Dict[str, List[str]], List[str]]:
    """({node label: aspects it is outside the largest group in}, one sentence per aspect the nodes disagree on)."""
    odd = {}  # type: Dict[str, List[str]]
    details = []
    reference = _in_sync(inputs)

    def weight(group):
        # Nodes holding the expected membership are the reference when there is one: a node that matches what the
        # operator expects is not outvoted by drifted nodes (their drift is reported on its own).
        return len([node for node in group["nodes"] if node in reference]) if reference else len(group["nodes"])

    for aspect, groups in _group_nodes(inputs).items():
        if len(groups) < 2:
            continue
        sizes = [weight(group) for group in groups.values()]
        largest = max(sizes)
        tie = sizes.count(largest) > 1
        ordered = sorted(groups.values(), key=lambda group: (-weight(group), -len(group["nodes"]),
                                                             group["value"].lower()))
        for group in ordered:
            if tie or weight(group) < largest:
                for label in group["nodes"]:
                    odd.setdefault(label, []).append(aspect)
        parts = "; ".join("%s: %s" % (", ".join(group["nodes"]), group["value"]) for group in ordered)
        details.append("cluster: the nodes disagree on the %s (%s)" % (aspect, parts))
    return odd, details


def _drift_text(drift: Mapping) -> str:
    parts = []
    if drift.get("missing"):
        parts.append("missing " + ", ".join(drift["missing"]))
    if drift.get("extra"):
        parts.append("extra " + ", ".join(drift["extra"]))
    for change in drift.get("changed") or []:
        actual, expected = change["actual"], change["expected"]
        parts.append("%s is %s (%s), expected %s (%s)"
                     % (change["id"], actual["address"], actual["suffrage"], expected["address"], expected["suffrage"]))
    parts.extend(drift.get("notes") or [])
    return "; ".join(parts)


class _Report:
    def __init__(self):
        self.rows, self.corrupt, self.drifted = [], [], []
        self.details, self.corrupt_details, self.drift_details = [], [], []

    def flag(self, kind: str, label: str, detail: str) -> None:
        (self.corrupt if kind == "corrupt" else self.drifted).append(label)
        self.details.append(detail)
        (self.corrupt_details if kind == "corrupt" else self.drift_details).append(detail)


def _members(report: _Report, label: str, drift: Optional[Mapping], disagrees: List[str]) -> str:
    """The MEMBERS cell. A node that holds the expected membership is right about it, whatever the others hold."""
    in_sync = drift is None or bool(drift.get("in_sync"))
    if drift is not None and drift.get("in_sync"):
        disagrees = [aspect for aspect in disagrees if aspect != "membership"]
    if disagrees and in_sync:
        report.flag("drift", label, "%s: differs from the other nodes in its %s" % (label, " and ".join(disagrees)))
        return "DISAGREES"
    if drift is None:
        return "n/a"
    if in_sync:
        return "in sync"
    report.flag("drift", label, "%s: members drifted: %s" % (label, _drift_text(drift)))
    return "DRIFT"


def _head(result: Mapping) -> str:
    """The HEAD cell: op-conductor's FSM head (raft_state_info's fsm_head) as block number and short hash."""
    if result.get("fsm_error"):
        return "UNKNOWN"
    if "fsm_head" not in result:
        return "-"
    head = result["fsm_head"]
    return "%d %s" % (head["block_number"], head["block_hash"][:10]) if head else "empty"


def _checked_row(report: _Report, item: Mapping, label: str, odd: Mapping[str, List[str]]) -> Dict[str, Any]:
    result = item.get("result") or {}
    drift = item.get("drift") or result.get("drift")
    row = {"term": result["current_term"] if result.get("current_term") is not None else "-",
           "vote": "%s@%s" % (result["last_vote_candidate"], result.get("last_vote_term"))
           if result.get("last_vote_candidate") else "-",
           "last_index": result.get("last_index"), "head": _head(result),
           "running": "yes (locked)" if result.get("locked") else "no"}
    if not result.get("exists"):
        report.flag("drift", label, "%s: no Raft databases in %s" % (label, item.get("path")))
        return dict(row, integrity="absent", members="NO STATE")
    integrity = result.get("integrity") or {}
    if integrity.get("ok"):
        row["integrity"] = "ok" if integrity.get("checked") else "ok (ends only)"
    else:
        row["integrity"] = "CORRUPT"
        report.flag("corrupt", label, "%s: corrupt: %s" % (label, "; ".join(integrity.get("problems") or [])))
    row["members"] = _members(report, label, drift, list(odd.get(label, [])))
    return row


def _row(report: _Report, item: Mapping, odd: Mapping[str, List[str]]) -> Dict[str, Any]:
    result = item.get("result") or {}
    label = _label(item)
    row = {"host": item["host"], "server_id": item["server_id"], "term": "-", "vote": "-", "last_index": "-",
           "head": "-", "members": "-", "integrity": "-", "running": "-"}
    status = item.get("status")
    if status == "not_checked":
        return dict(row, integrity="not checked", members="not checked")
    if status == "absent":
        report.flag("drift", label, "%s: no Raft state at %s" % (label, item.get("path")))
        return dict(row, integrity="absent", members="NO STATE")
    if status == "error" or result.get("failed"):
        reason = result.get("msg", "no result")
        report.flag("corrupt", label, "%s: could not read %s: %s" % (label, item.get("path"), reason))
        return dict(row, integrity="ERROR")
    row.update(_checked_row(report, item, label, odd))
    return row


def raft_info_report(inputs: Sequence[Mapping]) -> Dict[str, Any]:
    """One row per node of ``inputs`` (``[{host, server_id, path, status, result, drift?, label?}]``; status is
    checked, absent, error or not_checked; ``drift``, when given, overrides ``result.drift``) and the lists of
    corrupt and drifted nodes with one sentence each. The table lines are laid out by report.json.j2."""
    odd, cluster_details = disagreements(inputs)
    report = _Report()
    report.rows = [_row(report, item, odd) for item in inputs]
    return {"rows": report.rows, "corrupt": report.corrupt, "drifted": report.drifted, "details": report.details,
            "corrupt_details": report.corrupt_details, "drift_details": report.drift_details + cluster_details,
            "cluster_details": cluster_details}


def _membership_key(servers: Sequence[Mapping]) -> Tuple:
    return tuple(sorted(tuple(sorted(server.items())) for server in servers))


def state_dir_inputs(results: Sequence[Mapping], expected: bool, host: str) -> List[Dict[str, Any]]:
    """The report's inputs from raft_state_info's results for the node directories of one local state directory
    (``results`` of the looped task, ``item`` = the directory). With ``expected`` (an expected membership was given)
    each node's own drift counts; without, a node is in sync when its configuration is the one most nodes have.
    A node whose directory name is not a server ID of its own configuration has drifted too."""
    configurations = [((result.get("latest_configuration") or {}).get("servers") or []) for result in results]
    keys = [_membership_key(servers) for servers in configurations]
    counts = {}  # type: Dict[Tuple, int]
    for key in keys:
        if key:
            counts[key] = counts.get(key, 0) + 1
    majority = max(counts.items(), key=lambda entry: entry[1])[0] if counts else ()
    inputs = []
    for result, servers, key in zip(results, configurations, keys):
        node_id = os.path.basename(result["item"])
        ids = [server["id"] for server in servers]
        if expected:
            drift = result.get("drift")
        else:
            differs = len(results) > 1 and key != majority
            drift = {"in_sync": True, "notes": ["configuration (%s) differs from the one most nodes have"
                                                % ", ".join(ids)] if differs else []}
        if drift is not None and servers and node_id not in ids:
            drift = dict(drift, in_sync=False, notes=list(drift.get("notes") or []) + [
                "directory name %r is not a server ID of its configuration (%s)" % (node_id, ", ".join(ids))])
        elif drift is not None and drift.get("notes"):
            drift = dict(drift, in_sync=False)
        inputs.append({"host": host, "server_id": node_id, "label": node_id, "path": result["item"],
                       "status": "error" if result.get("failed") else "checked", "result": result, "drift": drift})
    return inputs


def _node_result(host_vars: Mapping) -> Mapping:
    """The host's raft_state_info result; where the restore playbook skipped that read, what raft_restore read of
    the node itself (report_info, plugin_utils/_backup_plans.restore_node_info)."""
    result = host_vars.get("__conductor_info_result") or {}
    if result.get("skipped"):
        return plans.restore_node_info(host_vars) or result
    return result


def _inventory_status(result: Mapping, checked: bool) -> str:
    if not checked:
        return "not_checked"
    if result.get("node_directory") is False and not result.get("failed"):
        return "absent"  # raft_state_info allow_missing: no node directory at the path
    return "error" if result.get("failed") or result.get("skipped") or not result else "checked"


def inventory_inputs(members: Sequence[Mapping], hostvars: Mapping, play_hosts: Sequence[str],
                     storage_dir: str) -> List[Dict[str, Any]]:
    """The report's inputs for the members of an inventory group: each host's raft_state_info result
    (``__conductor_info_result``, run with allow_missing: node_directory=false is absent). The node directory is the
    host's conductor_storage_dir (``storage_dir``, the role's, when the inventory sets none) and its server ID.
    Hosts outside the play (--limit) are listed as not checked."""
    inputs = []
    for member in members:
        host_vars = hostvars[member["host"]]
        checked = member["host"] in play_hosts
        path = os.path.join(str(host_vars.get("conductor_storage_dir") or storage_dir), member["id"]) if checked else "-"
        result = _node_result(host_vars)
        inputs.append({"host": member["host"], "server_id": member["id"], "path": path,
                       "status": _inventory_status(result, checked), "result": result})
    return inputs


class FilterModule:
    def filters(self):
        return {"raft_info_report": raft_info_report, "raft_info_state_dir_inputs": state_dir_inputs,
                "raft_info_inventory_inputs": inventory_inputs}
