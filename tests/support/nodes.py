"""Raft node directories for the tests: a deployed node made to look like one that has run, and snapshot directories
as hashicorp/raft's FileSnapshotStore writes them. Servers are given as the modules take them: dicts with "id" and
"address". SERVERS and args() are the three-node cluster and the raft_state arguments most module tests use."""

import base64
import json
import os

from ansible_collections.opstack.conductor.plugins.module_utils import _bbolt as bolt
from ansible_collections.opstack.conductor.plugins.module_utils import _cluster as cluster
from ansible_collections.opstack.conductor.plugins.module_utils import _raft as raft
from ansible_collections.opstack.conductor.tests.support.net import free_port

SERVERS = [{"id": "seq-%d" % i, "address": "10.0.0.%d:50050" % i} for i in (1, 2, 3)]
OTHER = SERVERS[:2] + [{"id": "seq-4", "address": "10.0.0.4:50050"}]  # SERVERS with seq-3 replaced


def spec(servers=None, leader="seq-1", term=1):
    """The validated cluster spec of servers (SERVERS unless given)."""
    return cluster.validate_cluster(servers or SERVERS, leader, term)[0]


def seeded(tmp_path, servers=None, term=1, leader="seq-1"):
    """A node seq-1 as our writer seeds it for that cluster (never run), at tmp_path/seq-1."""
    node = tmp_path / "seq-1"
    write_node(node, spec(servers, leader, term), "seq-1")
    return node


def args(path, **extra):
    """raft_state's arguments for node seq-1 of SERVERS at path, plus extra."""
    base = dict(path=str(path), server_id="seq-1", servers=SERVERS, initial_leader="seq-1")
    base.update(extra)
    return base


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


# Configurations hashicorp/raft's checkConfiguration rejects: (servers, what the problem must say).
REJECTED = {
    "duplicate-id": ([("s1", "h:1", "voter"), ("s1", "h:2", "voter"), ("s3", "h:3", "voter")],
                     "server ID 's1' is listed twice (servers 1 and 2)"),
    "empty-id": ([("", "h:1", "voter"), ("s2", "h:2", "voter")], "server 1 has an empty ID"),
    "empty-address": ([("s1", "", "voter"), ("s2", "h:2", "voter")], "server 's1' has an empty address"),
    "duplicate-address": ([("s1", "h:1", "voter"), ("s2", "h:1", "voter")],
                          "address 'h:1' is listed twice (server 's1' and server 's2')"),
    "no-voter": ([("s1", "h:1", "nonvoter"), ("s2", "h:2", "nonvoter")], "has no voter"),
}


def configuration(servers):
    return raft.encode_configuration(raft.Configuration(tuple(raft.Server(*server) for server in servers)))


def write_configuration_node(node, entries, term=1):
    """A node whose log holds entries: [(index, configuration bytes or None for a command)], at term."""
    os.makedirs(str(node), exist_ok=True)
    logs = {raft.uint64_key(index): raft.encode_log(raft.Log(
        index=index, term=term, type=raft.LOG_CONFIGURATION if data is not None else raft.LOG_COMMAND,
        data=data if data is not None else b"cmd")) for index, data in entries}
    with open(os.path.join(str(node), raft.LOG_FILE), "wb") as handle:
        handle.write(bolt.build_database({raft.BUCKET_CONF: {}, raft.BUCKET_LOGS: logs}))
    with open(os.path.join(str(node), raft.STABLE_FILE), "wb") as handle:
        handle.write(bolt.build_database({raft.BUCKET_CONF: {raft.KEY_CURRENT_TERM: raft.U64.pack(term)},
                                          raft.BUCKET_LOGS: {}}))
    return str(node)


def write_node(node_dir, spec, server_id, page_size=4096):
    """The databases our writer makes for server_id of a validated cluster spec, in node_dir (created if needed)."""
    node_dir = os.fspath(node_dir)
    os.makedirs(node_dir, exist_ok=True)
    for name, data in cluster.node_databases(spec, server_id, page_size).items():
        with open(os.path.join(node_dir, name), "wb") as handle:
            handle.write(data)
    return node_dir


def write_cluster(root, spec, page_size=4096):
    """Every node of spec under root/<id> (each directory new); returns {id: node directory}."""
    nodes = {}
    for server in spec.servers:
        os.makedirs(os.path.join(str(root), server.id))
        nodes[server.id] = write_node(os.path.join(str(root), server.id), spec, server.id, page_size)
    return nodes


def loopback_spec(ids=("n1",), leader="n1", term=1, ports=None):
    """A validated cluster spec whose servers listen on 127.0.0.1 (free ports unless given)."""
    ports = ports or [free_port() for _id in ids]
    servers = [{"id": node_id, "address": "127.0.0.1:%d" % port} for node_id, port in zip(ids, ports)]
    return cluster.validate_cluster(servers, leader, term)[0]
