# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What to do with a node directory given the state it should start from: the decision behind raft_state.

Kept free of AnsibleModule so every branch is unit-tested directly. Equality is decided on decoded content
(term, vote, entries, configuration), never on mtimes: a file op-conductor-init wrote for the same cluster is
equal to ours. Bytes decide one case only, the one that needs no decoding: files identical to what the spec
builds (_holds_exactly).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ansible_collections.opstack.conductor.plugins.module_utils import _cluster as cluster
from ansible_collections.opstack.conductor.plugins.module_utils import _fs as fs
from ansible_collections.opstack.conductor.plugins.module_utils import _node_dir as nodes
from ansible_collections.opstack.conductor.plugins.module_utils import _node_state as node_state
from ansible_collections.opstack.conductor.plugins.module_utils import _raft as raft
from ansible_collections.opstack.conductor.plugins.module_utils._errors import OpstackError
from ansible_collections.opstack.conductor.plugins.module_utils._servers import server_text

CREATE = "create"  # nothing there: write it
UNCHANGED = "unchanged"  # already exactly the state we would write
LIVE = "live"  # the node has run and its membership is the one asked for: leave it alone
REPAIR = "repair"  # half-written (one file missing) and consistent with the spec: write it whole
REPLACE = "replace"  # different or damaged, and force was given: back up and replace the whole node
REFUSE = "refuse"  # different or damaged, no force
ALREADY_THERE = "the node already holds exactly this state"


@dataclass
class Plan:
    action: str
    reason: str
    before: Optional[Dict[str, Any]]
    after: Dict[str, Any]
    path: str
    files: Dict[str, bytes]
    # What the requested state changes, one short line each (refusals and replacements; else empty).
    differences: List[str] = field(default_factory=list)
    # The node's decoded state; None when the node was decided without decoding it (see _holds_exactly).
    decoded: Optional[node_state.NodeState] = field(default=None, repr=False)

    @property
    def writes(self) -> bool:
        return self.action in (CREATE, REPAIR, REPLACE)

    @property
    def current(self) -> node_state.NodeState:
        """The node's decoded state, read now when the decision did not need it (raft_state's summary)."""
        if self.decoded is None:
            self.decoded = node_state.read_node_state(self.path, verify=True)
        return self.decoded


def membership(servers: Sequence[raft.Server]) -> frozenset:
    return frozenset((server.id, server.address, server.suffrage) for server in servers)


def describe(state: Optional[node_state.NodeState]) -> Optional[Dict[str, Any]]:
    """The decoded, human-readable view used for diffs and messages (never bytes)."""
    if state is None or not state.exists:
        return None
    configuration = state.latest_configuration
    return {
        "current_term": state.current_term,
        "last_vote": None if state.last_vote_candidate is None else
        {"term": state.last_vote_term, "candidate": state.last_vote_candidate},
        "first_index": state.first_index,
        "last_index": state.last_index,
        "configuration_index": configuration.index if configuration else None,
        "servers": [server_text(server) for server in configuration.configuration.servers]
        if configuration else None,
        "snapshots": [snap.id for snap in state.snapshots],
        "integrity": "ok" if state.integrity.ok else state.integrity.problems,
    }


def desired_view(spec: cluster.ClusterSpec, server_id: str) -> Dict[str, Any]:
    leader = spec.initial_leader == server_id
    return {
        "current_term": spec.term,
        "last_vote": {"term": spec.term, "candidate": server_id} if leader else None,
        "first_index": 1,
        "last_index": 1,
        "configuration_index": 1,
        "servers": list(_server_texts(spec)),
        "snapshots": [],
        "integrity": "ok",
    }


@functools.lru_cache(maxsize=4)
def _server_texts(spec: cluster.ClusterSpec) -> Tuple[str, ...]:
    """Every node of a cluster wants the same servers: their text once per spec, not once per node (generate
    decides every node in one run: at 101 nodes, 10,000 texts, issue 15)."""
    return tuple(server_text(server) for server in spec.servers)


def _pristine(state: node_state.NodeState) -> bool:
    """Exactly one configuration entry at index 1 and nothing since: the node has never run."""
    configuration = state.latest_configuration
    return (state.first_index == state.last_index == 1 and not state.snapshots and configuration is not None
            and configuration.index == 1 and configuration.source == "log"
            and state.current_term == configuration.term)


def _equal(state: node_state.NodeState, spec: cluster.ClusterSpec, before: Optional[Dict[str, Any]],
           after: Dict[str, Any]) -> bool:
    """``before`` and ``after``: describe(state) and desired_view(spec, <the node>), computed once by plan()."""
    if not (state.integrity.ok and _pristine(state)):
        return False
    configuration = state.latest_configuration
    return (configuration.configuration.servers == spec.servers and configuration.term == spec.term
            and before == after)


def _holds_exactly(path: str, files: Dict[str, bytes]) -> bool:
    """The node directory holds exactly ``files`` (the bytes this spec builds) and nothing else but an empty
    snapshots/. Those bytes decode to the desired state and pass every check, so the node is UNCHANGED without
    decoding it: a generate rerun of 101 nodes decoded and checked 202 files to learn that (0.3 s, issue 15).
    A node op-conductor has opened differs (bbolt rewrites its meta pages), and so does a file another tool
    wrote for the same cluster; those, and any doubt (another entry, a symlink, an unreadable file), take the
    full read, which decides on decoded content."""
    try:
        entries = fs.listdir_or_none(path)
        snapshots = os.path.join(path, raft.SNAPSHOT_DIR)
        return (entries is not None and sorted(set(entries) - {raft.SNAPSHOT_DIR}) == sorted(files)
                and (raft.SNAPSHOT_DIR not in entries or (fs.is_directory(snapshots) and not os.listdir(snapshots)))
                and all(fs.holds_exactly(os.path.join(path, name), data) for name, data in files.items()))
    except (OSError, OpstackError):
        return False


def _lone_file_matches(state: node_state.NodeState, spec: cluster.ClusterSpec, server_id: str) -> bool:
    """One of the two files is missing; does the other hold exactly its part of the desired state?"""
    present = [name for name, db in state.files.items() if db.exists]
    if len(present) != 1 or state.snapshots:
        return False
    problems = [p for p in state.integrity.problems if not p.endswith(": missing") and "CurrentTerm" not in p
                and "no cluster configuration" not in p]
    if problems:
        return False
    if present == [raft.LOG_FILE]:
        configuration = state.latest_configuration
        return (_pristine_log(state) and configuration is not None
                and configuration.configuration.servers == spec.servers and configuration.term == spec.term)
    desired_vote = spec.initial_leader == server_id
    return (state.current_term == spec.term and state.last_index == 0
            and (state.last_vote_candidate == server_id if desired_vote else state.last_vote_candidate is None)
            and (state.last_vote_term == spec.term if desired_vote else state.last_vote_term is None))


def _pristine_log(state: node_state.NodeState) -> bool:
    configuration = state.latest_configuration
    return state.first_index == state.last_index == 1 and configuration is not None and configuration.index == 1


def plan(path: str, spec: cluster.ClusterSpec, server_id: str, page_size: int, force: bool) -> Plan:
    """The decision for the node directory at ``path`` (the caller has already put back any moved-aside state
    of an interrupted run, or, in check mode, passes the path it would put back)."""
    spec.server(server_id)
    nodes.check_node_path(path)
    files = cluster.node_databases(spec, server_id, page_size)
    after = desired_view(spec, server_id)
    if _holds_exactly(path, files):
        return Plan(UNCHANGED, ALREADY_THERE, desired_view(spec, server_id), after, path, files)
    current = node_state.read_node_state(path, verify=True) if fs.is_directory(path) else \
        node_state.NodeState(path=path, files={name: node_state.DatabaseFile(name) for name in files})
    before = describe(current)

    def decide(action: str, reason: str) -> Plan:
        found = differences(current, spec, server_id, stray) if action in (REPLACE, REFUSE) else []
        return Plan(action, reason, before, after, path, files, found, current)

    stray = _stray_entries(path)
    if not current.exists and not current.snapshots:
        if stray:
            return decide(REPLACE if force else REFUSE,
                          "%s holds %s but no Raft databases" % (path, ", ".join(stray)))
        return decide(CREATE, "no Raft state at %s" % path)
    if _equal(current, spec, before, after):
        return decide(UNCHANGED, ALREADY_THERE)
    if _lone_file_matches(current, spec, server_id):
        missing = [name for name, db in current.files.items() if not db.exists]
        return decide(REPAIR, "half-written state: %s missing, the other file matches" % ", ".join(missing))
    if current.integrity.ok and current.latest_configuration is not None and not _pristine(current) and \
            membership(current.latest_configuration.configuration.servers) == membership(spec.servers):
        return decide(LIVE, "the node is already initialised and has run (term %s, last index %d); its "
                            "membership matches, so its running state was left alone"
                      % (current.current_term, current.last_index))
    return decide(REPLACE if force else REFUSE, _mismatch(current, spec))


def _mismatch(current: node_state.NodeState, spec: cluster.ClusterSpec) -> str:
    """Why a node that is neither absent, equal, half-written nor live must be replaced."""
    if not current.integrity.ok:
        return "the existing state is damaged: %s" % "; ".join(current.integrity.problems[:5])
    if current.latest_configuration is not None and \
            membership(current.latest_configuration.configuration.servers) != membership(spec.servers):
        return "the existing state belongs to a different membership"
    return "the existing state differs from the requested one"


def differences(state: node_state.NodeState, spec: cluster.ClusterSpec, server_id: str,
                stray: Sequence[str] = ()) -> List[str]:
    """What the requested state would change on this node, one short line each: servers added or removed,
    address and suffrage changes, the term, the vote, a node that has run, damage, stray entries. Computed
    here rather than in a template, so a refusal can name it in one line per host."""
    found = ["unexpected entries: %s" % ", ".join(stray)] if stray and not state.exists else []
    if state.exists and not state.integrity.ok:
        found.append("damaged: %s" % "; ".join(state.integrity.problems[:3]))
    configuration = state.latest_configuration
    if configuration is not None:
        found.extend(_server_differences(configuration.configuration.servers, spec.servers))
        if configuration.term != spec.term:
            found.append("term %s -> %s" % (configuration.term, spec.term))
    if state.current_term is not None and _pristine_enough(state):
        found.extend(_vote_difference(state, spec, server_id))
    elif state.exists and state.integrity.ok:
        found.append("the node has run: term %s, last index %d (the requested state is term %d, index 1)"
                     % (state.current_term, state.last_index, spec.term))
    return found


def _pristine_enough(state: node_state.NodeState) -> bool:
    """A node whose log is still only the seed entry: its vote is a seed value worth comparing."""
    return state.integrity.ok and _pristine_log(state) and not state.snapshots


def _server_differences(existing: Sequence[raft.Server], requested: Sequence[raft.Server]) -> List[str]:
    old = {server.id: server for server in existing}
    new = {server.id: server for server in requested}
    found = []
    for server in existing:
        if server.id not in new:
            found.append("server %s removed (%s, %s)" % (server.id, server.address, server.suffrage))
            continue
        wanted = new[server.id]
        if wanted.address != server.address:
            found.append("server %s: address %s -> %s" % (server.id, server.address, wanted.address))
        if wanted.suffrage != server.suffrage:
            found.append("server %s: %s -> %s" % (server.id, server.suffrage, wanted.suffrage))
    found.extend("server %s added (%s, %s)" % (server.id, server.address, server.suffrage)
                 for server in requested if server.id not in old)
    return found


def _vote_difference(state: node_state.NodeState, spec: cluster.ClusterSpec, server_id: str) -> List[str]:
    def vote(candidate: Optional[str], term: Optional[int]) -> str:
        return "none" if candidate is None else "%s@%s" % (candidate, term)

    existing = vote(state.last_vote_candidate, state.last_vote_term)
    wanted = vote(server_id, spec.term) if spec.initial_leader == server_id else "none"
    return [] if existing == wanted else ["vote %s -> %s" % (existing, wanted)]


def _stray_entries(path: str) -> List[str]:
    """Entries other than the databases; an empty snapshots/ (op-conductor creates it at start) is not one. A
    directory that cannot be listed raises fs.NodeUnreadable (it may hold anything)."""
    entries = fs.listdir_or_none(path) or []
    snapshots = os.path.join(path, raft.SNAPSHOT_DIR)
    return sorted(entry for entry in entries if entry not in (raft.LOG_FILE, raft.STABLE_FILE) and not (
        entry == raft.SNAPSHOT_DIR and fs.is_directory(snapshots) and not fs.listdir_or_none(snapshots)))
