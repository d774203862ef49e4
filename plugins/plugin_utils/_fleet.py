# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet view (issue 19 item 3): every node of every cluster of a run as one record, laid out once here as the
table the info and status playbooks print, as JSON and as a Prometheus textfile for node_exporter's textfile
collector. The roles only call the filters of plugins/filter/fleet.py; nothing is judged here: the verdicts come from
raft_info_report (offline state) and conductor_info (live RPC), this file only carries them into one shape.

A record holds typed values (None: not known in this run, e.g. no live RPC in info, no Raft state read in status);
a value that is not known is left out of the textfile (Prometheus' convention for a missing sample) and is null in
JSON. Nothing in the output depends on the time of the run unless asked (``timestamp``): a rerun over unchanged
state writes the same bytes, so the file writes report changed=0.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.opstack.conductor.plugins.module_utils._errors import OpstackError

PREFIX = "opstack_conductor_"
JSON_FORMAT = 1

# The record's fields, in the order of JSON and of the table; None everywhere when not known.
FIELDS = ("cluster", "host", "server", "term", "vote_candidate", "vote_term", "last_index", "head_block",
          "head_hash", "head", "members", "members_in_sync", "integrity", "integrity_ok", "state_present", "running",
          "up", "leader", "leader_seen", "live_members_in_sync", "paused", "active", "sequencer_healthy",
          "sequencer_active")

# (record field, gauge name without the prefix, HELP text); booleans are 1/0.
GAUGES = (
    ("state_present", "raft_state_present", "1 when the node directory holds Raft state, 0 when it has none"),
    ("integrity_ok", "raft_integrity_ok", "1 when the Raft state passed verification, 0 when it is corrupt or "
                                          "unreadable"),
    ("term", "raft_term", "Raft CurrentTerm of the node (raft-stable.db)"),
    ("vote_term", "raft_last_vote_term", "Raft LastVoteTerm of the node (raft-stable.db)"),
    ("last_index", "raft_last_index", "Index of the node's last Raft log entry (or newest snapshot)"),
    ("members_in_sync", "raft_members_in_sync", "1 when the membership in the node's Raft state is the expected one "
                                                "and agrees with the other nodes of its cluster"),
    ("running", "raft_running", "1 when op-conductor holds the node's Raft state (its lock is taken)"),
    ("head_block", "fsm_head_block_number", "Block number of op-conductor's FSM head (the last unsafe payload "
                                            "committed through Raft)"),
    ("up", "up", "1 when the node's op-conductor RPC answered"),
    ("leader", "leader", "1 when the node's op-conductor says it is the Raft leader (conductor_leader)"),
    ("live_members_in_sync", "members_in_sync", "1 when the membership the node reports over RPC is the cluster's "
                                                "and the expected one"),
    ("paused", "paused", "1 when the node's op-conductor is paused (conductor_paused)"),
    ("active", "active", "1 when the node's op-conductor is active (conductor_active)"),
    ("sequencer_healthy", "sequencer_healthy", "1 when op-conductor reports its sequencer healthy"),
    ("sequencer_active", "sequencer_active", "1 when the node's op-node sequencer is active (admin_sequencerActive)"),
)
TIMESTAMP_GAUGE = PREFIX + "report_timestamp_seconds"

# Table columns: (record field, title); a column no record has a value for is left out (info has no live columns,
# status without its offline report no Raft columns).
COLUMNS = (("cluster", "CLUSTER"), ("host", "HOST"), ("server", "SERVER ID"), ("term", "TERM"), ("vote", "VOTE"),
           ("last_index", "LAST INDEX"), ("head", "HEAD"), ("members", "MEMBERS"), ("integrity", "INTEGRITY"),
           ("running", "RUNNING"), ("up", "UP"), ("leader_seen", "LEADER"), ("leader", "LEADS"),
           ("paused", "PAUSED"), ("active", "ACTIVE"), ("sequencer_healthy", "HEALTHY"),
           ("sequencer_active", "SEQUENCING"), ("live_members", "LIVE MEMBERS"))


def empty_record(cluster: str, host: str, server: str) -> Dict[str, Any]:
    return dict(dict.fromkeys(FIELDS), cluster=str(cluster), host=str(host), server=str(server))


def _int_or_none(value: Any) -> Optional[int]:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _head_fields(result: Mapping) -> Dict[str, Any]:
    if result.get("fsm_error"):
        return {"head": "UNKNOWN"}
    if "fsm_head" not in result:
        return {}
    head = result["fsm_head"]
    if not head:
        return {"head": "empty"}
    return {"head": "%d %s" % (head["block_number"], head["block_hash"][:10]), "head_block": head["block_number"],
            "head_hash": head["block_hash"]}


def _state_fields(item: Mapping, row: Mapping) -> Dict[str, Any]:
    """What raft_info_report said about a node (its row's verdicts) and read (its raft_state_info result)."""
    status, result = item.get("status"), item.get("result") or {}
    fields = {"members": row.get("members"), "integrity": row.get("integrity")}
    if status == "absent" or (status == "checked" and not result.get("exists")):
        return dict(fields, state_present=False, members_in_sync=False)
    if status == "error" or (status == "checked" and result.get("failed")):
        return dict(fields, integrity_ok=False)
    if status != "checked":
        return fields  # not checked (outside --limit): the row says so
    fields.update(_head_fields(result), state_present=True, running=bool(result.get("locked")),
                  integrity_ok=row.get("integrity") in ("ok", "ok (ends only)"),
                  members_in_sync=row.get("members") in ("in sync", "n/a"), term=_int_or_none(result.get("current_term")),
                  last_index=_int_or_none(result.get("last_index")))
    if result.get("last_vote_candidate"):
        fields.update(vote_candidate=str(result["last_vote_candidate"]),
                      vote_term=_int_or_none(result.get("last_vote_term")))
    return fields


def info_records(cluster: str, inputs: Sequence[Mapping], report: Mapping) -> List[Dict[str, Any]]:
    """One record per node of one cluster's raft_info report: ``inputs`` as given to raft_info_report and its
    ``report`` (the rows are in the order of the inputs)."""
    records = []
    for item, row in zip(inputs, report["rows"]):
        record = empty_record(cluster, item["host"], item.get("label") or item["server_id"])
        record.update(_state_fields(item, row))
        records.append(record)
    return records


def _member_key(membership: Optional[Mapping]) -> Optional[Tuple]:
    if not membership:
        return None
    return tuple(sorted((s["id"], s["address"], s["suffrage"]) for s in membership.get("servers") or []))


def _live_members_in_sync(node: Mapping, cluster: Mapping) -> Optional[bool]:
    """The node's membership is the one its cluster reports, and that one is the expected one (when known)."""
    if not node.get("reachable") or node.get("membership") is None:
        return None
    drift = cluster.get("drift")
    return (_member_key(node["membership"]) == _member_key(cluster.get("membership"))
            and (drift is None or bool(drift.get("in_sync"))))


def _optional_bool(value: Any) -> Optional[bool]:
    return None if value is None else bool(value)


def live_records(cluster: str, status: Mapping, hosts: Sequence[str] = ()) -> List[Dict[str, Any]]:
    """One record per node of one cluster's conductor_info result (``status``); ``hosts`` are the inventory hosts
    of its nodes, in their order (conductor_info keeps the order of its ``nodes``; the server ID stands in for a
    host not given)."""
    view = status.get("cluster") or {}
    records = []
    for number, node in enumerate(status.get("nodes") or []):
        record = empty_record(cluster, hosts[number] if number < len(hosts) else node["id"], node["id"])
        record["up"] = bool(node.get("reachable"))
        if record["up"]:
            record.update({name: _optional_bool(node.get(name)) for name in (
                "leader", "paused", "active", "sequencer_healthy")})
            record["leader_seen"] = (node.get("leader_with_id") or {}).get("id") or None
            record["live_members_in_sync"] = _live_members_in_sync(node, view)
        record["sequencer_active"] = _optional_bool(node.get("sequencer_active"))
        records.append(record)
    return records


def merge(*groups: Iterable[Mapping]) -> List[Dict[str, Any]]:
    """Records of the same (cluster, server) merged, a later group's known values over an earlier's, sorted by
    cluster and server ID so that the output does not depend on the order hosts finished in."""
    merged = {}  # type: Dict[Tuple[str, str], Dict[str, Any]]
    for group in groups:
        for record in group or []:
            key = (record["cluster"], record["server"])
            into = merged.setdefault(key, empty_record(key[0], record["host"], key[1]))
            into.update({name: value for name, value in record.items() if value is not None})
    return [merged[key] for key in sorted(merged)]


def live_summary(cluster: str, status: Mapping) -> str:
    """The line under the table for one cluster read live: its leader and whether every node agrees."""
    view = status.get("cluster") or {}
    leader = (view.get("leader") or {}).get("id") or "none"
    verdict = ("all nodes agree" if view.get("agree") else
               "DISAGREEMENT: " + " | ".join(view.get("disagreements") or ["unknown"]))
    # "leader: <id>; all nodes agree" as conductor_info's own table ends (runbooks and tests grep for it).
    return "cluster %s, leader: %s; %s" % (cluster, leader, verdict)


# --- the table -------------------------------------------------------------------------------------------------

_RAFT_COLUMNS = ("term", "vote", "last_index", "head", "members", "integrity", "running")
_LIVE_COLUMNS = ("up", "leader_seen", "leader", "paused", "active", "sequencer_healthy", "sequencer_active",
                 "live_members")


def _yes_no(value: Optional[bool]) -> str:
    return "-" if value is None else ("yes" if value else "no")


def _cell(record: Mapping, column: str) -> str:
    value = record.get(column)
    if column == "vote":
        return "%s@%s" % (record["vote_candidate"], record["vote_term"]) if record.get("vote_candidate") else "-"
    if column == "running":
        return "-" if value is None else ("yes (locked)" if value else "no")
    if column == "live_members":
        in_sync = record.get("live_members_in_sync")
        return "-" if in_sync is None else ("in sync" if in_sync else "DRIFT")
    if column in _LIVE_COLUMNS and column != "leader_seen":
        return _yes_no(value)
    return "-" if value is None else str(value)


def _columns(records: Sequence[Mapping]) -> List[Tuple[str, str]]:
    """Every column, less the Raft ones when no node's state was read and the live ones when no RPC was asked."""
    raft = any(record.get("integrity") is not None or record.get("state_present") is not None for record in records)
    live = any(record.get("up") is not None for record in records)
    return [(key, title) for key, title in COLUMNS
            if (key not in _RAFT_COLUMNS or raft) and (key not in _LIVE_COLUMNS or live)]


def table(records: Sequence[Mapping], notes: Sequence[str] = ()) -> List[str]:
    """The fixed-width table of every node of every cluster (header, rule, one line a node), then ``notes``."""
    columns = _columns(records)
    cells = [[_cell(record, key) for key, _title in columns] for record in records]
    widths = [max([len(title)] + [len(row[number]) for row in cells]) for number, (_key, title) in
              enumerate(columns)]
    lines = ["  ".join(title.ljust(width) for (_key, title), width in zip(columns, widths)).rstrip(),
             "  ".join("-" * width for width in widths)]
    lines.extend("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in cells)
    if notes:
        lines.append("")
        lines.extend(notes)
    return lines


# --- JSON ------------------------------------------------------------------------------------------------------


def to_json(records: Sequence[Mapping], timestamp: Optional[float] = None) -> str:
    """The records as a JSON document (``format``, ``clusters``, ``nodes``; ``timestamp`` only when given), keys in
    a fixed order and a final newline, so that unchanged state gives the same bytes."""
    document = {"format": JSON_FORMAT, "clusters": sorted({record["cluster"] for record in records}),
                "nodes": [{name: record.get(name) for name in FIELDS} for record in records]}
    if timestamp is not None:
        document["timestamp"] = int(timestamp)
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


# --- the Prometheus textfile -----------------------------------------------------------------------------------


def _label_value(value: str) -> str:
    # The text exposition format escapes backslash, double quote and line feed in label values.
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(record: Mapping, **extra: str) -> str:
    pairs = [("cluster", record["cluster"]), ("server", record["server"])] + sorted(extra.items())
    return "{%s}" % ",".join('%s="%s"' % (name, _label_value(str(value))) for name, value in pairs)


def _number(value: Any) -> str:
    return str(int(value)) if isinstance(value, bool) else str(value)


def _family(name: str, help_text: str, samples: Sequence[Tuple[str, Any]]) -> List[str]:
    if not samples:
        return []  # a family with no sample says nothing; node_exporter does not need it
    lines = ["# HELP %s %s" % (name, help_text.replace("\\", "\\\\").replace("\n", "\\n")), "# TYPE %s gauge" % name]
    lines.extend("%s%s %s" % (name, labels, _number(value)) for labels, value in samples)
    return lines


def textfile(records: Sequence[Mapping], timestamp: Optional[float] = None) -> str:
    """node_exporter's textfile collector format: one gauge per node and field, labelled by cluster and server
    (booleans 1/0; a value not known is no sample), the vote as an info gauge labelled by its candidate, and the
    time of the run only when ``timestamp`` is given (then every run changes the file)."""
    lines = []
    for field, name, help_text in GAUGES:
        lines.extend(_family(PREFIX + name, help_text, [
            (_labels(record), record[field]) for record in records if record.get(field) is not None]))
    votes = [(_labels(record, candidate=record["vote_candidate"]), 1) for record in records
             if record.get("vote_candidate")]
    lines.extend(_family(PREFIX + "raft_vote_info", "1 for the candidate the node last voted for (raft-stable.db "
                                                    "LastVoteCand)", votes))
    if timestamp is not None:
        lines.extend(_family(TIMESTAMP_GAUGE, "Unix time of the run that wrote this file", [("", int(timestamp))]))
    return "\n".join(lines) + "\n" if lines else ""


# --- the files a run writes ------------------------------------------------------------------------------------

# Role variable of each file: (variable, format, written on the controller with every node of the run).
REPORT_FILES = (("conductor_report_json", "json", False), ("conductor_report_textfile", "textfile", False),
                ("conductor_report_fleet_json", "json", True), ("conductor_report_fleet_textfile", "textfile", True))


class ReportPathError(OpstackError):
    """A report path the run cannot write to as given."""


def _path(variable: str, value: Any, on_controller: bool) -> str:
    if not isinstance(value, str):
        raise ReportPathError("%s=%r: must be a path (a string)" % (variable, value))
    if on_controller:
        # Relative to the directory ansible-playbook runs in, like conductor_state_dir.
        return os.path.abspath(os.path.expanduser(value))
    if not os.path.isabs(value):
        raise ReportPathError("%s=%r: must be an absolute path on the host (a relative one would be relative to "
                              "wherever the module happens to run)" % (variable, value))
    return value


def report_files(records: Sequence[Mapping], host: str, first_host: bool, paths: Mapping[str, Any],
                 timestamp: Optional[float] = None) -> List[Dict[str, Any]]:
    """What one host of the play writes: ``[{path, content, controller}]``. Its own nodes' records to the per-host
    files (``conductor_report_json``, ``conductor_report_textfile``: node_exporter runs on each host and exports
    what is in its own textfile directory); the first host of the play also every record of the run to the fleet
    files on the controller (``conductor_report_fleet_json``, ``conductor_report_fleet_textfile``). ``paths`` maps
    those variables to paths; unset or empty is not written."""
    files = []
    own = [record for record in records if record["host"] == host]
    for variable, kind, on_controller in REPORT_FILES:
        value = paths.get(variable)
        if value in (None, "") or (on_controller and not first_host):
            continue
        chosen = records if on_controller else own
        content = to_json(chosen, timestamp) if kind == "json" else textfile(chosen, timestamp)
        files.append({"path": _path(variable, value, on_controller), "content": content, "controller": on_controller,
                      "variable": variable})
    return files
