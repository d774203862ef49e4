"""Raft node directories for the tests (tests/unit and tests/integration): a deployed node made to look like one that
has run, and snapshot directories as hashicorp/raft's FileSnapshotStore writes them. Servers are given as the modules
take them: dicts with "id" and "address"."""

import base64
import json
import os

from ansible_collections.opstack.conductor.plugins.module_utils import _bbolt as bolt
from ansible_collections.opstack.conductor.plugins.module_utils import _raft as raft


def write_snapshot(node_dir, servers, term, index, state=b"fsm-state", crc=None):
    """<node_dir>/snapshots/<term>-<index>-1795682304108/: state.bin and its meta.json (crc: one to write instead of
    the right one). Returns the snapshot directory."""
    name = "%d-%d-1795682304108" % (term, index)
    directory = os.path.join(str(node_dir), raft.SNAPSHOT_DIR, name)
    os.makedirs(directory)
    with open(os.path.join(directory, "state.bin"), "wb") as handle:
        handle.write(state)
    meta = {"Version": 1, "ID": name, "Index": index, "Term": term, "Peers": "",
            "Configuration": {"Servers": [{"Suffrage": 0, "ID": s["id"], "Address": s["address"]} for s in servers]},
            "ConfigurationIndex": 1, "Size": len(state),
            "CRC": base64.b64encode(crc or raft.crc64_ecma([state])).decode()}
    with open(os.path.join(directory, "meta.json"), "w") as handle:
        handle.write(json.dumps(meta) + "\n")
    return directory


def has_run(node_dir, servers, term=3, entries=40, snapshot=True, data=None):
    """Make a deployed node look like one that has run: log entries 2 to `entries` at `term` (each with `data`, or
    300 random bytes), current term `term`, and unless snapshot is false a snapshot at index 20."""
    log_path = os.path.join(str(node_dir), raft.LOG_FILE)
    content = bolt.read_database(log_path)
    for index in range(2, entries + 1):
        content[raft.BUCKET_LOGS][raft.uint64_key(index)] = raft.encode_log(
            raft.Log(index=index, term=term, type=raft.LOG_COMMAND, data=os.urandom(300) if data is None else data))
    with open(log_path, "wb") as handle:
        handle.write(bolt.build_database(content))
    stable_path = os.path.join(str(node_dir), raft.STABLE_FILE)
    stable = bolt.read_database(stable_path)
    stable[raft.BUCKET_CONF][raft.KEY_CURRENT_TERM] = raft.U64.pack(term)
    with open(stable_path, "wb") as handle:
        handle.write(bolt.build_database(stable))
    if snapshot:
        write_snapshot(node_dir, servers, term, 20, state=b"fsm" * 100)
