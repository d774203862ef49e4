# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A cluster spec (servers, initial leader, term): validation, and the Raft state each node starts from.

The state is what op-conductor-init writes and what raft.BootstrapCluster writes, with every server listed:
CurrentTerm = term on every node; LastVoteTerm and LastVoteCand = the initial leader on its own node only; one
LogConfiguration entry at index 1 with the given term and the servers in the given order.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ansible_collections.opstack.conductor.plugins.module_utils import _bbolt as bolt
from ansible_collections.opstack.conductor.plugins.module_utils import _raft as raft
from ansible_collections.opstack.conductor.plugins.module_utils._servers import (  # noqa: F401 pylint: disable=unused-import
    MAX_ADDRESS_BYTES, MAX_SERVER_ID_BYTES, SpecError, configuration_warnings, parse_servers, server_dicts,
    validate_address, validate_server_id)

MAX_ADVISED_VOTERS = 9  # more is accepted, with a warning
# The highest initial term a cluster can still elect from, with margin. hashicorp/raft keeps the term as a uint64 and
# adds 1 on every election (runCandidate, electSelf and preElectSelf: getCurrentTerm() + 1; raft.go v1.7.3): seeded
# at 2^64-1, the first election wraps to term 0, every vote request is older than every node's term, and the cluster
# never elects (issue 13 item 12). 2^63-1 leaves 2^63 elections (one a millisecond for 290 million years) and keeps
# the term inside a signed 64-bit integer for whatever reads it as one (Go int64, JSON tools, metrics).
MAX_TERM = (1 << 63) - 1


@dataclass(frozen=True)
class ClusterSpec:
    servers: Tuple[raft.Server, ...]
    initial_leader: Optional[str]
    term: int

    @property
    def configuration(self) -> raft.Configuration:
        return raft.Configuration(self.servers)

    def server(self, server_id: str) -> raft.Server:
        for server in self.servers:
            if server.id == server_id:
                return server
        raise SpecError("server_id", server_id, "not among the servers (%s)" % ", ".join(s.id for s in self.servers))


def validate_term(value: Any, field: str = "term") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(field, value, "must be an integer")
    if not 1 <= value <= MAX_TERM:
        raise SpecError(field, value, "must be between 1 and 2^63-1 (%d); Raft adds 1 to the term on every "
                                      "election, and a higher initial term leaves too few elections before the "
                                      "64-bit term wraps" % MAX_TERM)
    return value


def validate_cluster(servers: Any, initial_leader: Any = None, term: Any = 1) -> Tuple[ClusterSpec, List[str]]:
    """The spec and its warnings, or SpecError for the first problem found."""
    parsed = parse_servers(servers)
    validate_term(term)
    voters = [server for server in parsed if server.suffrage == "voter"]
    if not voters:
        raise SpecError("servers", [s.id for s in parsed], "at least one server must be a voter")
    if initial_leader not in (None, ""):
        leader = [server for server in parsed if server.id == initial_leader]
        if not leader:
            raise SpecError("initial_leader", initial_leader, "is not one of the servers (%s)"
                            % ", ".join(s.id for s in parsed))
        if leader[0].suffrage != "voter":
            raise SpecError("initial_leader", initial_leader, "is a nonvoter; only a voter can lead")
    else:
        initial_leader = None
    warnings = []
    if len(voters) % 2 == 0:
        warnings.append("%d voters: an even number of voters tolerates no more failures than %d would, and needs "
                        "a larger quorum" % (len(voters), len(voters) - 1))
    if len(voters) > MAX_ADVISED_VOTERS:
        # raft has no limit (10 000 members are tested), but each commit and election waits on a majority of them.
        warnings.append("%d voters: every commit and every election waits for %d of them; sequencer clusters run "
                        "3 or 5 (nonvoters do not slow commits)" % (len(voters), len(voters) // 2 + 1))
    return ClusterSpec(parsed, initial_leader, term), warnings


# ================================================================================================================
# The state of one node
# ================================================================================================================


def bootstrap_entry(spec: ClusterSpec) -> raft.Log:
    return raft.Log(index=1, term=spec.term, type=raft.LOG_CONFIGURATION,
                    data=raft.encode_configuration(spec.configuration))


def stable_values(spec: ClusterSpec, server_id: str) -> Dict[bytes, bytes]:
    return _stable_values(spec.term, spec.initial_leader if spec.initial_leader == server_id else None)


def _stable_values(term: int, vote: Optional[str]) -> Dict[bytes, bytes]:
    """CurrentTerm, and the vote for ``vote`` in that term when given (the initial leader's own node)."""
    values = {raft.KEY_CURRENT_TERM: raft.U64.pack(term)}
    if vote is not None:
        values[raft.KEY_LAST_VOTE_TERM] = raft.U64.pack(term)
        values[raft.KEY_LAST_VOTE_CAND] = vote.encode("utf-8", "surrogateescape")
    return values


def node_databases(spec: ClusterSpec, server_id: str, page_size: int = bolt.DEFAULT_PAGE_SIZE) -> Dict[str, bytes]:
    """{file name: bytes} of raft-log.db and raft-stable.db for ``server_id``. Both files carry both buckets,
    as raft-boltdb's initialize() creates them."""
    spec.server(server_id)
    vote = spec.initial_leader if spec.initial_leader == server_id else None
    return {raft.LOG_FILE: _log_database(spec, page_size),
            raft.STABLE_FILE: _stable_database(spec.term, vote, page_size)}


# Every node of a cluster starts from the same log (its one configuration entry), and the stable files differ
# only by the initial leader's vote: a cluster of N nodes is three databases, built once each instead of 2N
# times (generate decides and writes every node in one run: 40 ms of it at 101 nodes, issue 15). The bytes are
# immutable, so sharing them is safe.
@functools.lru_cache(maxsize=4)
def _log_database(spec: ClusterSpec, page_size: int) -> bytes:
    entry = bootstrap_entry(spec)
    return bolt.build_database({
        raft.BUCKET_CONF: {},
        raft.BUCKET_LOGS: {raft.uint64_key(entry.index): raft.encode_log(entry)},
    }, page_size)


@functools.lru_cache(maxsize=8)
def _stable_database(term: int, vote: Optional[str], page_size: int) -> bytes:
    return bolt.build_database({
        raft.BUCKET_CONF: _stable_values(term, vote),
        raft.BUCKET_LOGS: {},
    }, page_size)


def servers_from_lists(addresses: Sequence[str], server_ids: Sequence[str]) -> List[Dict[str, str]]:
    """op-conductor-init's --nodes / --server-ids pairing (same order, same count)."""
    if len(addresses) != len(server_ids):
        raise SpecError("nodes", list(addresses), "%d addresses for %d server IDs; the counts must match"
                        % (len(addresses), len(server_ids)))
    return [{"id": server_id, "address": address} for server_id, address in zip(server_ids, addresses)]
