# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What raft_state_info reports about one node directory: the state Raft would read, its integrity, op-conductor's
FSM head, the drift from an expected membership, the lock and a one-line verdict. raft_restore returns the same
report for the node it restored or left as it was (O(report_info)), so the restore playbook shows the cluster
without reading every node again (issue 15)."""

from __future__ import annotations

import os
import stat
from typing import Any, Dict, List, Optional

from ansible_collections.opstack.conductor.plugins.module_utils import _fs as fs
from ansible_collections.opstack.conductor.plugins.module_utils import _fsm as fsm
from ansible_collections.opstack.conductor.plugins.module_utils import _node_dir as nodes
from ansible_collections.opstack.conductor.plugins.module_utils import _node_state as node_state
from ansible_collections.opstack.conductor.plugins.module_utils import _runner as runner
from ansible_collections.opstack.conductor.plugins.module_utils import _servers as servers


def inspect_node(path: str, allow_missing: bool = False, verify: bool = True, server_id: Optional[str] = None,
                 expected_servers: Optional[List[Any]] = None,
                 state: Optional[node_state.NodeState] = None) -> Dict[str, Any]:
    """raft_state_info's result for the node directory ``path`` (without ``changed``); a runner.Failure when it
    is no directory (or missing, unless ``allow_missing``), fs.NodeUnreadable when it cannot be looked at.
    ``state``: the node as this run already read it from ``path`` with ``verify`` (raft_restore's judgement of a
    node that holds its backup), so a multi-GiB log is not verified twice; the membership notes are added to it."""
    result = {"node_directory": _require_directory(path, allow_missing)}  # type: Dict[str, Any]
    expected = None if expected_servers is None else servers.parse_servers(expected_servers, "expected_servers")
    locked = nodes.node_locked(path)
    if state is None:
        state = node_state.read_node_state(path, verify=verify)
    name = nodes.node_server_id(path, server_id)
    node_state.check_membership(state, name)
    if state.latest_configuration is not None:
        state.integrity.warnings.extend(servers.configuration_warnings(state.latest_configuration.configuration))
    result.update(state.summary())
    result.update(locked=locked, cluster_identity=_cluster_identity(path) if state.exists else None)
    result["fsm_head"] = _fsm_head(path, result)
    if locked:
        _report_locked_read(result, state)
    if expected is not None:
        result["drift"] = drift(expected, state.latest_configuration.configuration
                                if state.latest_configuration else None)
    result["msg"] = verdict(name, state, result)
    return result


def has_problems(report: Dict[str, Any]) -> bool:
    """No Raft state, an integrity problem, or a membership that differs from the expected one."""
    return (not report["exists"] or not report["integrity"]["ok"]
            or not report.get("drift", {}).get("in_sync", True))


def verdict(name, state, result):
    """One line an operator reads first (an ad hoc run printed SUCCESS with the verdict nested in
    integrity.ok=false): ok with term, last index and voters; DAMAGED with the first problem; or no state."""
    problems = state.integrity.problems  # uncapped, unlike result["integrity"]["problems"]
    if not state.exists and not state.snapshots:
        line = "%s: no Raft state in %s" % (name, state.path)
    elif problems:
        more = " (+%d more)" % (len(problems) - 1) if len(problems) > 1 else ""
        line = "%s: DAMAGED: %s%s" % (name, problems[0], more)
    else:
        servers = state.latest_configuration.configuration.servers if state.latest_configuration else ()
        voters = sum(1 for server in servers if server.suffrage == "voter")
        line = "%s: ok, term %s, last index %d, %s" % (
            name, state.current_term, state.last_index, _count(voters, "voter"))
        if len(servers) > voters:
            line += ", " + _count(len(servers) - voters, "nonvoter")
    differs = result.get("drift")
    if differs and not differs["in_sync"]:
        parts = [("missing", differs["missing"]), ("extra", differs["extra"]),
                 ("changed", [change["id"] for change in differs["changed"]])]
        line += "; membership differs from expected_servers (%s)" % "; ".join(
            "%s: %s" % (what, ", ".join(ids)) for what, ids in parts if ids)
    if result.get("locked"):
        line += " (read while op-conductor runs)"
    return line


def _count(number, noun):
    return "%d %s%s" % (number, noun, "" if number == 1 else "s")


def drift(expected, configuration):
    """The membership drift in this module's documented shape (expected/actual, whole servers)."""
    return servers.drift(expected, configuration.servers if configuration else (), labels=("expected", "actual"),
                         fields=("id", "address", "suffrage"))


def _require_directory(path, allow_missing):
    """Whether the node directory exists; a Failure when it is no directory (or missing, unless allowed)."""
    # Followed: reading through a symlinked node directory writes nothing. Any error but "does not exist"
    # raises NodeUnreadable: such a node is neither absent nor unlocked.
    info = fs.stat_or_none(path)
    if info is None and allow_missing:
        return False  # read as a directory without Raft state: exists=false, "no Raft state in <path>"
    if info is None or not stat.S_ISDIR(info.st_mode):
        raise runner.Failure("%s does not exist or is not a directory" % path)
    return True


def _report_locked_read(result, state):
    note = "read while op-conductor holds the lock: best effort, the files may change during the read"
    result["integrity"]["warnings"].insert(0, note)
    if not state.integrity.ok:
        result["integrity"]["problems"].append("these problems may be an inconsistent read of a running node; "
                                               "verify again with op-conductor stopped")


def _cluster_identity(path):
    try:
        return node_state.cluster_identity(path)
    except OSError as exc:
        raise fs.NodeUnreadable(os.path.join(path, "raft-log.db"), exc)


_MAX_SKIPPED_SHOWN = 10


def _fsm_head(path, result):
    """op-conductor's FSM head after raft replays the node (null when empty). Entries the FSM does not decode are
    warnings (raft ignores them too); files raft cannot replay leave the head unknown: fsm_error and a warning,
    not a failure, so that a damaged node is still reported."""
    try:
        replay = fsm.replay_fsm(path)
    except fsm.FsmError as exc:
        result["fsm_error"] = str(exc)
        result["integrity"]["warnings"].append("fsm_head unknown: %s" % exc)
        return None
    skipped = replay.skipped
    result["integrity"]["warnings"].extend(skipped[:_MAX_SKIPPED_SHOWN])
    if len(skipped) > _MAX_SKIPPED_SHOWN:
        result["integrity"]["warnings"].append("... and %d more log entries op-conductor's FSM does not apply"
                                               % (len(skipped) - _MAX_SKIPPED_SHOWN))
    return replay.head.summary() if replay.head else None
