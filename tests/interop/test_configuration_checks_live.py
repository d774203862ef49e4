"""Issue 13 item 16 with the real Go code: configurations hashicorp/raft's checkConfiguration rejects, stored the way
raft-boltdb stores them, are read back by raft-boltdb unchanged (raft does not check at start) and reported by
raft_state_info as integrity problems. Where the oracle's op-conductor-init path (`write`) can write the
configuration it does (empty or duplicate address, no voter); it refuses empty and duplicate IDs (they are
directory names there), so those are encoded by raft.EncodeConfiguration and StoreLog (`encode`)."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.opstack.conductor.plugins.module_utils import _bbolt as bolt
from ansible_collections.opstack.conductor.plugins.module_utils import _raft as raft
from ansible_collections.opstack.conductor.plugins.modules import raft_state_info
from oracle import b64

CELL = "v2_3_1"  # raft v1.7.3, raft-boltdb/v2 v2.3.1: op-conductor-init's libraries
CASES = {
    "duplicate-id": ("encode", [("s1", "127.0.0.1:1", 0), ("s1", "127.0.0.1:2", 0), ("s3", "127.0.0.1:3", 0)],
                     "server ID 's1' is listed twice (servers 1 and 2)"),
    "empty-id": ("encode", [("", "127.0.0.1:1", 0), ("s2", "127.0.0.1:2", 0)], "server 1 has an empty ID"),
    "empty-address": ("write", [("s1", "", 0), ("s2", "127.0.0.1:2", 0)], "server 's1' has an empty address"),
    "duplicate-address": ("write", [("s1", "127.0.0.1:1", 0), ("s2", "127.0.0.1:1", 0)],
                          "address '127.0.0.1:1' is listed twice (server 's1' and server 's2')"),
    "no-voter": ("write", [("s1", "127.0.0.1:1", 1), ("s2", "127.0.0.1:2", 1)], "has no voter"),
}


def go_encoded_node(oracle, node, servers):
    """raft-log.db holding the entry raft-boltdb's StoreLog wrote for raft.EncodeConfiguration(servers)."""
    go_servers = [{"ID": i, "Address": a, "Suffrage": s} for i, a, s in servers]
    data = bytes.fromhex(oracle.run(CELL, "encode", stdin=json.dumps(
        {"logs": [], "configurations": [{"Servers": go_servers}]}))["configurations"][0])
    raw = bytes.fromhex(oracle.run(CELL, "encode", stdin=json.dumps({"logs": [
        {"Index": 1, "Term": 1, "Type": raft.LOG_CONFIGURATION, "Data": b64(data), "Extensions": None,
         "AppendedAt": None}]}))["logs"][0])
    os.makedirs(node)
    with open(os.path.join(node, raft.LOG_FILE), "wb") as handle:
        handle.write(bolt.build_database({raft.BUCKET_CONF: {}, raft.BUCKET_LOGS: {raft.uint64_key(1): raw}}))
    with open(os.path.join(node, raft.STABLE_FILE), "wb") as handle:
        handle.write(bolt.build_database({raft.BUCKET_CONF: {raft.KEY_CURRENT_TERM: raft.U64.pack(1)},
                                          raft.BUCKET_LOGS: {}}))
    return node


def go_written_node(oracle, root, servers):
    spec = root / "spec.json"
    spec.write_text(json.dumps({"servers": [{"id": i, "address": a, "suffrage": ("voter", "nonvoter")[s]}
                                            for i, a, s in servers], "initial_leader": "", "term": 1}))
    return oracle.run(CELL, "write", "--spec", str(spec), "--out", str(root / "out"))["nodes"][servers[0][0]]


@pytest.mark.parametrize("case", sorted(CASES))
def test_configurations_raft_rejects_are_reported(oracle, tmp_path, run_module, case):
    how, servers, needle = CASES[case]
    node = go_encoded_node(oracle, str(tmp_path / "n"), servers) if how == "encode" else \
        go_written_node(oracle, tmp_path, servers)
    go_read = oracle.run(CELL, "read", node)  # raft-boltdb reads it: raft itself does not check at start
    (entry,) = go_read["log"]["entries"]
    assert [(s["ID"], s["Address"], s["Suffrage"]) for s in entry["Configuration"]["Servers"]] == servers
    result = run_module(raft_state_info.main, dict(path=node, server_id="s2"))
    assert not result["integrity"]["ok"], result["integrity"]
    found = [problem for problem in result["integrity"]["problems"] if needle in problem]
    assert len(found) == 1 and "checkConfiguration" in found[0], result["integrity"]["problems"]
