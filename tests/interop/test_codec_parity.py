"""Our pure-Python codec against the real Go libraries of every op-conductor release (the oracle's matrix).

Vectors come from the oracle at test time; nothing Go produced is pasted here.
"""

import base64
import json
import os
import shutil

import pytest

from ansible_collections.opstack.conductor.plugins.module_utils import _bbolt as bolt
from ansible_collections.opstack.conductor.plugins.module_utils import _cluster as cluster
from ansible_collections.opstack.conductor.plugins.module_utils import _node_state as node_state
from ansible_collections.opstack.conductor.plugins.module_utils import _raft as raft
from ansible_collections.opstack.conductor.tests.support.nodes import write_cluster

CELLS = ["v1", "v2_3_0", "v2_3_1", "bbolt_1_4"]
SIZES = [1, 31, 32, 255, 300]


def b64(data):
    return None if data is None else base64.b64encode(data).decode()


def unb64(text):
    return None if text is None else base64.b64decode(text)


def configurations():
    """Specs of 1–9 servers, IDs and addresses of 1, 31, 32, 255 and 300 bytes, both suffrages."""
    found = []
    for count in range(1, 10):
        found.append(tuple(raft.Server("sequencer-%d" % i, "sequencer-%d:50050" % i,
                                       "nonvoter" if i == count and count > 2 else "voter")
                           for i in range(1, count + 1)))
    for size in SIZES:
        found.append(tuple(raft.Server(("i%d" % n).ljust(size, "x")[:size], ("a%d" % n).ljust(size, "y")[:size])
                           for n in range(3)))
    found.append((raft.Server("sëquencer-ü", "[2001:db8::1]:50050"),))
    return [raft.Configuration(servers) for servers in found]


def logs():
    found = []
    for term in (1, 127, 128, 255, 256, 65535, 65536, 2 ** 32, 2 ** 63):
        found.append(raft.Log(index=term, term=term, type=raft.LOG_CONFIGURATION,
                              data=raft.encode_configuration(configurations()[2])))
    for size in (0, 1, 31, 32, 255, 256, 65535, 65536, 100000):
        found.append(raft.Log(index=1000 + size, term=3, type=raft.LOG_COMMAND, data=bytes(range(256)) * (size // 256)
                              + bytes(size % 256), extensions=b"ext" if size % 2 else None,
                              appended_at=raft.go_time_from_unix(1752237296, 789000000)))
    found.append(raft.Log(index=7, term=7, type=1, data=None, extensions=b""))
    found.append(raft.Log(index=8, term=7, type=4, appended_at=raft.go_time_from_unix(0)))
    return found


def go_log(entry):
    return {"Index": entry.index, "Term": entry.term, "Type": entry.type, "Data": b64(entry.data),
            "Extensions": b64(entry.extensions), "AppendedAt": raft.go_time_to_text(entry.appended_at)}


def go_configuration(configuration):
    return {"Servers": [{"ID": s.id, "Address": s.address, "Suffrage": raft.SUFFRAGE_VALUES[s.suffrage]}
                        for s in configuration.servers]}


@pytest.mark.parametrize("cell", CELLS)
def test_log_and_configuration_bytes_equal_go(oracle, cell):
    entries, configs = logs(), configurations()
    vectors = oracle.run(cell, "encode", stdin=json.dumps({
        "logs": [go_log(entry) for entry in entries],
        "configurations": [go_configuration(c) for c in configs]}))
    for entry, expected in zip(entries, vectors["logs"]):
        assert raft.encode_log(entry).hex() == expected, entry
        assert raft.decode_log(bytes.fromhex(expected)) == entry
    for configuration, expected in zip(configs, vectors["configurations"]):
        assert raft.encode_configuration(configuration).hex() == expected
        assert raft.decode_configuration(bytes.fromhex(expected)) == configuration
    assert len(vectors["logs"]) == len(entries) and len(vectors["configurations"]) == len(configs)


def assert_go_reads_spec(go_read, spec, server_id):
    stable, log = go_read["stable"], go_read["log"]
    assert stable["CurrentTerm"] == spec.term
    leader = spec.initial_leader == server_id
    assert stable["LastVoteTerm"] == (spec.term if leader else None)
    assert unb64(stable["LastVoteCand"]) == (server_id.encode() if leader else None)
    assert (log["first_index"], log["last_index"]) == (1, 1)
    (entry,) = log["entries"]
    assert (entry["Index"], entry["Term"], entry["Type"]) == (1, spec.term, raft.LOG_CONFIGURATION)
    assert entry["AppendedAtZero"] and entry["Extensions"] is None
    assert entry["Configuration"] == go_configuration(spec.configuration)


@pytest.mark.parametrize("page_size", [4096, 16384, 65536])
@pytest.mark.parametrize("cell", CELLS)
def test_our_files_check_clean_read_back_and_survive_a_write(oracle, tmp_path, cell, page_size):
    members = [{"id": "sequencer-%d" % i, "address": "10.1.0.%d:50050" % i,
                "suffrage": "nonvoter" if i == 4 else "voter"} for i in range(1, 5)]
    spec = cluster.validate_cluster(members, "sequencer-2", 3)[0]
    nodes = write_cluster(tmp_path, spec, page_size)
    for server_id, node in nodes.items():
        for name in (raft.LOG_FILE, raft.STABLE_FILE):
            verdict = oracle.check(cell, os.path.join(node, name))
            assert verdict["ok"], (name, verdict)
            assert verdict["page_size"] == page_size
        assert_go_reads_spec(oracle.run(cell, "read", node), spec, server_id)
    # A read-write open through raft-boltdb (what op-conductor does) plus an appended entry.
    node = nodes["sequencer-2"]
    oracle.run(cell, "append", node, "--count", "3", "--size", "5000")
    for name in (raft.LOG_FILE, raft.STABLE_FILE):
        assert oracle.check(cell, os.path.join(node, name))["ok"]
        assert bolt.check_file(os.path.join(node, name)).ok
    after = oracle.run(cell, "read", node)
    assert after["log"]["last_index"] == 4
    ours = node_state.read_node_state(node, verify=True)
    assert ours.integrity.ok, ours.integrity.problems
    assert (ours.first_index, ours.last_index, ours.current_term) == (1, 4, 3)
    assert_entries_equal(node, after["log"]["entries"])


def assert_entries_equal(node, go_entries):
    ours = list(node_state.iter_log_entries(os.path.join(node, raft.LOG_FILE)))
    assert len(ours) == len(go_entries)
    for (index, entry), go_entry in zip(ours, go_entries):
        assert "error" not in go_entry, go_entry
        assert (index, entry.index, entry.term, entry.type) == (go_entry["Index"],) * 2 + (
            go_entry["Term"], go_entry["Type"])
        assert entry.data == unb64(go_entry["Data"])
        assert entry.extensions == unb64(go_entry["Extensions"])
        if go_entry["AppendedAtZero"]:
            assert raft.go_time_to_text(entry.appended_at) is None
        else:
            assert raft.go_time_to_text(entry.appended_at).rstrip("Z").rstrip("0").rstrip(".") == \
                go_entry["AppendedAt"].rstrip("Z").rstrip("0").rstrip(".")


@pytest.mark.parametrize("writer", CELLS)
def test_go_written_seed_state_reads_the_same_and_equals_ours(oracle, tmp_path, writer):
    servers = [{"id": "sequencer-%d" % i, "address": "sequencer-%d:50050" % i} for i in (1, 2, 3)]
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps({"servers": [dict(s, suffrage="voter") for s in servers],
                                     "initial_leader": "sequencer-1", "term": 1}))
    oracle.run(writer, "write", "--spec", str(spec_file), "--out", str(tmp_path / "go"))
    spec = cluster.validate_cluster(servers, "sequencer-1", 1)[0]
    ours_root = tmp_path / "ours"
    write_cluster(ours_root, spec)
    for server in spec.servers:
        go_node = str(tmp_path / "go" / server.id)
        theirs = node_state.read_node_state(go_node, verify=True)
        mine = node_state.read_node_state(str(ours_root / server.id), verify=True)
        assert theirs.integrity.ok, theirs.integrity.problems
        assert without_files(theirs.summary()) == without_files(mine.summary())
        # Go grew its files to 32 KiB and wrote more transactions; the content is what counts.
        for name in (raft.LOG_FILE, raft.STABLE_FILE):
            assert bolt.read_database(os.path.join(go_node, name)) == \
                bolt.read_database(str(ours_root / server.id / name))


def without_files(summary):
    return {key: value for key, value in summary.items() if key != "files"}


@pytest.mark.parametrize("size", [3, 5, 7])
def test_a_real_cluster_forms_from_our_files_and_survives_a_restart(oracle, tmp_path, ports, size):
    cell = {3: "v1", 5: "v2_3_0", 7: "v2_3_1"}[size]
    spec = cluster.validate_cluster([{"id": "node-%d" % i, "address": "127.0.0.1:%d" % port}
                                     for i, port in enumerate(ports(size), 1)], "node-1", 1)[0]
    nodes = write_cluster(tmp_path, spec)
    args = []
    for server_id, node in nodes.items():
        args += ["--node", "%s=%s" % (server_id, node)]
    result = oracle.run(cell, "cluster", *args, "--apply", "20", "--restart", "--timeout", "90", timeout=240)
    assert result["ok"], result["problems"]
    assert result["leader"] in nodes and result["term"] >= 2
    assert len(result["nodes"]) == size and result["restart"] is not None
    for node in nodes.values():
        state = node_state.read_node_state(node, verify=True)
        assert state.integrity.ok, state.integrity.problems
        assert state.last_index >= 40 and state.latest_configuration.configuration == spec.configuration


def test_a_bbolt_1_4_cluster_forms_from_our_16k_page_files(oracle, tmp_path, ports):
    spec = cluster.validate_cluster([{"id": "n%d" % i, "address": "127.0.0.1:%d" % port}
                                     for i, port in enumerate(ports(3), 1)], None, 7)[0]
    nodes = write_cluster(tmp_path, spec, page_size=16384)
    args = [arg for server_id, node in nodes.items() for arg in ("--node", "%s=%s" % (server_id, node))]
    result = oracle.run("bbolt_1_4", "cluster", *args, "--apply", "10", "--timeout", "90", timeout=240)
    assert result["ok"], result["problems"]
    assert result["term"] > 7


@pytest.fixture(scope="module")
def grown(oracle, tmp_path_factory, ports):
    """A live-like 3-node cluster state: many entries over several pages, overflow entries, snapshots,
    compaction (a freelist), non-zero AppendedAt."""
    root = tmp_path_factory.mktemp("grown")
    spec = cluster.validate_cluster([{"id": "g%d" % i, "address": "127.0.0.1:%d" % port}
                                     for i, port in enumerate(ports(3), 1)])[0]
    nodes = write_cluster(root, spec)
    args = [arg for server_id, node in nodes.items() for arg in ("--node", "%s=%s" % (server_id, node))]
    oracle.run("v2_3_1", "grow", *args, "--entries", "1500", "--size", "5000", "--snapshot-every", "400",
               "--trailing-logs", "200", "--timeout", "120", timeout=300)
    return spec, nodes


@pytest.mark.parametrize("cell", CELLS)
def test_our_reader_equals_raft_boltdb_on_grown_live_files(oracle, grown, cell):
    spec, nodes = grown
    for node in nodes.values():
        go_read = oracle.run(cell, "read", node)
        state = node_state.read_node_state(node, verify=True)
        assert state.integrity.ok, state.integrity.problems
        assert (state.first_index, state.last_index) == (go_read["log"]["first_index"], go_read["log"]["last_index"])
        assert state.first_index > 1 and state.snapshots
        assert state.current_term == go_read["stable"]["CurrentTerm"]
        assert state.last_vote_term == go_read["stable"]["LastVoteTerm"]
        candidate = unb64(go_read["stable"]["LastVoteCand"])
        assert state.last_vote_candidate == (candidate.decode() if candidate is not None else None)
        assert [(s.id, s.index, s.term, s.crc_ok) for s in state.snapshots] == \
            [(s["ID"], s["Index"], s["Term"], s["crc_ok"]) for s in go_read["snapshots"]]
        assert state.latest_configuration.configuration == spec.configuration
        assert_entries_equal(node, go_read["log"]["entries"])
        summary = node_state.read_node_state(node)
        assert (summary.first_index, summary.last_index, summary.current_term) == \
            (state.first_index, state.last_index, state.current_term)
        for name in (raft.LOG_FILE, raft.STABLE_FILE):
            assert oracle.check(cell, os.path.join(node, name))["ok"]


def test_grown_files_have_the_shapes_a_live_node_has(grown):
    """Guard for the test above: the grown log really has branch pages, overflow pages and free pages."""
    _spec, nodes = grown
    with bolt.BoltReader(os.path.join(next(iter(nodes.values())), raft.LOG_FILE)) as reader:
        assert len(reader.freelist()) > 10
        flags = set()
        overflow = False
        for pgid in range(2, reader.meta.pgid):
            header = reader.page_header(pgid)
            if header.id == pgid:
                flags.add(header.flags)
                overflow = overflow or (header.flags == bolt.LEAF_PAGE and header.overflow > 0)
        assert bolt.BRANCH_PAGE in flags and overflow


def _node_with_raw_entry(root, raw_entry):
    node = os.path.join(str(root), "quirk")
    os.makedirs(node)
    spec = cluster.validate_cluster([{"id": "q", "address": "127.0.0.1:1"}])[0]
    logs = {raft.uint64_key(1): raft.encode_log(cluster.bootstrap_entry(spec)), raft.uint64_key(2): raw_entry}
    with open(os.path.join(node, raft.LOG_FILE), "wb") as handle:
        handle.write(bolt.build_database({raft.BUCKET_CONF: {}, raft.BUCKET_LOGS: logs}))
    with open(os.path.join(node, raft.STABLE_FILE), "wb") as handle:
        handle.write(bolt.build_database({raft.BUCKET_CONF: cluster.stable_values(spec, "q"), raft.BUCKET_LOGS: {}}))
    return node


GOOD = raft.encode_log(raft.Log(index=2, term=1, type=0, data=b"payload",
                                appended_at=raft.go_time_from_unix(1752237296)))
QUIRKS = {
    # name: (bytes, the cells whose raft-boltdb cannot decode it)
    "canonical": (GOOD, set()),
    "AppendedAt in str8": (GOOD.replace(b"\xaf\x01", b"\xd9\x0f\x01", 1), {"v2_3_0", "v2_3_1", "bbolt_1_4"}),
    "AppendedAt in bin8": (GOOD.replace(b"\xaf\x01", b"\xc4\x0f\x01", 1), {"v2_3_0", "v2_3_1", "bbolt_1_4"}),
    "keys in bin8": (GOOD.replace(b"\xa4Data", b"\xc4\x04Data"), {"v1"}),
    "str8 keys": (GOOD.replace(b"\xa4Data", b"\xd9\x04Data"), set()),
}


@pytest.mark.parametrize("quirk", sorted(QUIRKS))
def test_decoder_quirks_why_str8_and_bin_are_never_written(oracle, tmp_path, quirk):
    raw, failing_cells = QUIRKS[quirk]
    node = _node_with_raw_entry(tmp_path, raw)
    failed = set()
    for cell in CELLS:
        entry = oracle.run(cell, "read", node)["log"]["entries"][1]
        if "error" in entry:
            failed.add(cell)
    assert failed == failing_cells
    ours = node_state.read_node_state(node, verify=True)
    # We refuse exactly what some supported raft-boltdb refuses, and accept what all of them accept.
    assert ours.integrity.ok == (not failing_cells), ours.integrity.problems
    shutil.rmtree(node)
