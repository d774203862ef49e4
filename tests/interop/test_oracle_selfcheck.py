"""Self-check of the Go interop oracle: every cell builds, links the pinned
library versions, writes op-conductor-init state that the real libraries check,
read, extend and run a real raft cluster on, and every cell accepts every other
cell's files. Nothing is skipped: without Go these tests fail.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

import oracle  # tests/interop/oracle.py (pytest puts this directory first)
from ansible_collections.opstack.conductor.tests.support.net import free_ports

IDS = ["sequencer-1", "sequencer-2", "sequencer-3"]
FILES = ["raft-log.db", "raft-stable.db"]

# The state files op-conductor-init would write, with a nonvoter and a term > 1
# so that suffrage and term handling are visible.
REFERENCE_SPEC = {
    "servers": [
        {"id": "sequencer-1", "address": "sequencer-1:50050", "suffrage": "voter"},
        {"id": "sequencer-2", "address": "sequencer-2:50050", "suffrage": "voter"},
        {"id": "sequencer-3", "address": "sequencer-3:50050", "suffrage": "nonvoter"},
    ],
    "initial_leader": "sequencer-1",
    "term": 5,
}


def loopback_spec() -> dict:
    ports = free_ports(len(IDS))
    return {
        "servers": [{"id": i, "address": f"127.0.0.1:{p}", "suffrage": "voter"} for i, p in zip(IDS, ports)],
        "initial_leader": IDS[0],
        "term": 1,
    }


def write(cell: str, spec: dict, out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    spec_file = out / "spec.json"
    spec_file.write_text(json.dumps(spec))
    res = oracle.run(cell, "write", "--spec", spec_file, "--out", out / "state")
    assert sorted(res["nodes"]) == sorted(s["id"] for s in spec["servers"])
    return {i: Path(d) for i, d in res["nodes"].items()}


def assert_clean(reader: str, nodes: dict[str, Path]) -> None:
    for node_dir in nodes.values():
        for f in FILES:
            res = oracle.check(reader, node_dir / f)
            assert res["ok"], (reader, node_dir / f, res)
            assert res["page_size"] == 4096


def expected_servers(spec: dict) -> list[dict]:
    return [{"Suffrage": 0 if s["suffrage"] == "voter" else 1, "ID": s["id"], "Address": s["address"]}
            for s in spec["servers"]]


def assert_read_matches_spec(got: dict, spec: dict, node_id: str) -> None:
    leader = node_id == spec["initial_leader"]
    assert got["stable"] == {
        "CurrentTerm": spec["term"],
        "LastVoteTerm": spec["term"] if leader else None,
        "LastVoteCand": oracle.b64(node_id.encode()) if leader else None,
    }
    log = got["log"]
    assert (log["first_index"], log["last_index"]) == (1, 1)
    [entry] = log["entries"]
    assert entry["Index"] == 1 and entry["Term"] == spec["term"] and entry["Type"] == 5
    assert entry["Extensions"] is None and entry["AppendedAtZero"] is True
    assert entry["Configuration"] == {"Servers": expected_servers(spec)}
    assert got["snapshots"] == []


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def cells() -> dict[str, Path]:
    """Build every cell once (a missing Go toolchain is an error, not a skip)."""
    return {cell: oracle.build(cell) for cell in oracle.CELLS}


@pytest.fixture(scope="module")
def written(cells, tmp_path_factory) -> dict[str, dict[str, Path]]:
    """REFERENCE_SPEC written by each cell: cell -> {node id -> node dir}."""
    return {cell: write(cell, REFERENCE_SPEC, tmp_path_factory.mktemp(f"written-{cell}")) for cell in cells}


@pytest.fixture(scope="module")
def grown(cells, tmp_path_factory) -> dict[str, tuple[dict[str, Path], dict]]:
    """Per cell: a 3-node cluster grown through snapshots and log compaction."""
    out = {}
    for cell in cells:
        nodes = write(cell, loopback_spec(), tmp_path_factory.mktemp(f"grown-{cell}"))
        res = oracle.run(cell, "grow", *oracle.node_args(nodes), "--entries", 300, "--size", 5000,
                         "--snapshot-every", 100, "--trailing-logs", 20, "--timeout", 60, timeout=180)
        out[cell] = (nodes, res)
    return out


# ---------------------------------------------------------------- per cell


@pytest.mark.parametrize("cell", oracle.CELLS)
def test_info_reports_pinned_versions(cells, cell):
    info = oracle.run(cell, "info")
    assert info["cell"] == cell
    for module, version in oracle.EXPECTED_MODULES[cell].items():
        assert info["modules"].get(module) == version, (module, info["modules"])


def digests(nodes: dict[str, Path]) -> dict[Path, tuple[str, int]]:
    return {p: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for d in nodes.values() for p in sorted(d.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("cell", oracle.CELLS)
def test_write_check_read(written, cell):
    nodes = written[cell]
    before = digests(nodes)
    assert_clean(cell, nodes)
    for node_id, node_dir in nodes.items():
        assert_read_matches_spec(oracle.run(cell, "read", node_dir), REFERENCE_SPEC, node_id)
        assert set(oracle.run(cell, "dump", node_dir / "raft-stable.db")["buckets"]) == {"conf", "logs"}
    assert digests(nodes) == before  # check, read and dump never write


@pytest.mark.parametrize("cell", oracle.CELLS)
def test_cluster_refuses_non_loopback_addresses(written, cell):
    before = digests(written[cell])
    with pytest.raises(oracle.OracleError) as exc:
        oracle.run(cell, "cluster", *oracle.node_args(written[cell]), "--timeout", 5)
    assert exc.value.returncode == 1 and "127.0.0.0/8" in exc.value.stderr
    assert digests(written[cell]) == before  # refused before any read-write open


@pytest.mark.parametrize("cell", oracle.CELLS)
def test_append_after_write(cell, cells, tmp_path):
    nodes = write(cell, REFERENCE_SPEC, tmp_path)
    node = nodes["sequencer-2"]
    assert oracle.run(cell, "append", node, "--count", 3, "--size", 100) == {"first_index": 2, "last_index": 4}
    assert oracle.run(cell, "append", node, "--count", 1) == {"first_index": 5, "last_index": 5}
    assert_clean(cell, {"n": node})
    got = oracle.run(cell, "read", node)
    entries = got["log"]["entries"]
    assert [e["Index"] for e in entries] == [1, 2, 3, 4, 5]
    assert [e["Type"] for e in entries] == [5, 0, 0, 0, 0]
    assert {e["Term"] for e in entries} == {REFERENCE_SPEC["term"]}
    assert [len(oracle.unb64(e["Data"])) for e in entries[1:]] == [100, 100, 100, 64]
    assert got["stable"]["CurrentTerm"] == REFERENCE_SPEC["term"]
    summary = oracle.run(cell, "read", node, "--summary")
    assert "entries" not in summary["log"] and summary["log"]["last_entry"]["Index"] == 5
    assert summary["newest_configuration"]["Index"] == 1
    assert summary["newest_configuration"]["Configuration"] == {"Servers": expected_servers(REFERENCE_SPEC)}


@pytest.mark.parametrize("cell", oracle.CELLS)
def test_encode_matches_stored_bytes(written, cell):
    node = written[cell]["sequencer-1"]
    entry = oracle.run(cell, "read", node)["log"]["entries"][0]
    stored = oracle.run(cell, "dump", node / "raft-log.db")["buckets"]["logs"]["0000000000000001"]
    cfg = {"Servers": expected_servers(REFERENCE_SPEC)}
    res = oracle.run(cell, "encode", stdin={
        "logs": [{"Index": 1, "Term": REFERENCE_SPEC["term"], "Type": 5, "Data": entry["Data"],
                  "Extensions": None, "AppendedAt": None}],
        "configurations": [cfg],
    })
    assert res["logs"] == [stored]
    assert bytes.fromhex(res["configurations"][0]) == base64.b64decode(entry["Data"])


ENCODE_VECTORS = {
    "logs": [
        {"Index": 1, "Term": 1, "Type": 0, "Data": None, "Extensions": None, "AppendedAt": None},
        {"Index": 1, "Term": 2, "Type": 0, "Data": "", "Extensions": "", "AppendedAt": "2025-07-11T12:34:56.789Z"},
        {"Index": 2**40, "Term": 2**33, "Type": 4, "Data": oracle.b64(bytes(range(256)) * 300),
         "Extensions": "AQ==", "AppendedAt": "2025-07-11T14:34:56+02:00"},
    ],
    "configurations": [{"Servers": None}, {"Servers": []},
                       {"Servers": [{"Suffrage": 2, "ID": "x", "Address": "127.0.0.1:1"}]}],
}


def test_encode_agrees_across_cells(cells):
    results = {cell: oracle.run(cell, "encode", stdin=ENCODE_VECTORS) for cell in cells}
    first = results[oracle.CELLS[0]]
    assert len(first["logs"]) == 3 and len(first["configurations"]) == 3
    assert len(set(first["logs"])) == 3  # Data nil vs "" and the two index-1 logs differ
    for cell, res in results.items():
        assert res == first, cell


@pytest.mark.parametrize("cell", oracle.CELLS)
def test_cluster_forms_and_restarts(cell, cells, tmp_path):
    spec = loopback_spec()
    nodes = write(cell, spec, tmp_path)
    res = oracle.run(cell, "cluster", *oracle.node_args(nodes), "--apply", 5, "--restart", "--timeout", 60,
                     timeout=180)
    assert res["ok"], res["problems"]
    assert res["leader"] in IDS and res["term"] >= 2
    first = [n["applied"] for n in res["nodes"]]
    assert len(set(first)) == 1 and first[0] >= 5, first  # >=: see test_grow_compacts_and_snapshots
    again = res["restart"]
    assert again["leader"] in IDS and again["term"] > res["term"]
    second = [n["applied"] for n in again["nodes"]]
    assert len(set(second)) == 1 and second[0] >= first[0] + 5, second
    assert_clean(cell, nodes)
    for node_dir in nodes.values():
        got = oracle.run(cell, "read", node_dir)
        assert got["stable"]["CurrentTerm"] == again["term"]
        assert [e.get("error") for e in got["log"]["entries"]] == [None] * got["log"]["last_index"]
        assert sum(e["Type"] == 0 for e in got["log"]["entries"]) == 10


@pytest.mark.parametrize("cell", oracle.CELLS)
def test_cluster_hold_keeps_files_locked(cell, cells, tmp_path):
    nodes = write(cell, loopback_spec(), tmp_path)
    hold = oracle.ClusterHold(cell, nodes, "--apply", 2, "--timeout", 60)
    with hold as ready:
        assert ready["ready"] is True and ready["leader"] in IDS
        # A running raft holds bolt's exclusive lock: a read-only open times out (exit 1).
        with pytest.raises(oracle.OracleError) as exc:
            oracle.check(cell, nodes[IDS[0]] / "raft-log.db")
        assert exc.value.returncode == 1 and "timeout" in exc.value.stderr
    assert hold.result["ok"], hold.result["problems"]
    assert hold.result["leader"] == ready["leader"]
    assert_clean(cell, nodes)


@pytest.mark.parametrize("cell", oracle.CELLS)
def test_grow_compacts_and_snapshots(grown, cell):
    nodes, res = grown[cell]
    assert res["ok"], res["problems"]
    applied = [n["applied"] for n in res["nodes"]]
    # Every node applied the same commands, at least the 300 asked for: when leadership changes mid-batch (a
    # stall past the 1 s heartbeat on a loaded machine) the oracle re-applies the batch on the new leader, and
    # raft cannot say whether a command whose leader was lost got committed, so a few may be applied twice.
    assert len(set(applied)) == 1 and applied[0] >= 300, applied
    assert_clean(cell, nodes)
    for node in res["nodes"]:
        assert node["first_index"] > 1 and node["snapshots"], node
        assert node["log_size"] > 20 * 5000  # the trailing 5000-byte entries live in overflow pages
        got = oracle.run(cell, "read", nodes[node["id"]])
        log = got["log"]
        assert (log["first_index"], log["last_index"]) == (node["first_index"], node["last_index"])
        assert all("error" not in e for e in log["entries"])
        [snap] = got["snapshots"]
        assert snap["crc_ok"] and snap["ID"] == node["snapshots"][0] and snap["Index"] >= log["first_index"] - 1
        assert [s["ID"] for s in snap["Configuration"]["Servers"]] == IDS
        summary = oracle.run(cell, "read", nodes[node["id"]], "--summary")
        assert summary["newest_configuration"]["Configuration"] == snap["Configuration"]


@pytest.mark.parametrize("cell", oracle.CELLS)
def test_check_reports_corruption(cell, written, tmp_path):
    good = (written[cell]["sequencer-1"] / "raft-log.db").read_bytes()
    zeroed = tmp_path / "zeroed.db"  # root leaf page zeroed: every engine panics or faults
    zeroed.write_bytes(good[:8192] + bytes(4096) + good[12288:])
    res = oracle.check(cell, zeroed)
    assert res["ok"] is False and res["panic"], res
    garbage = tmp_path / "garbage.db"  # no valid meta page: the engine refuses to open it
    garbage.write_bytes(b"\x42" * len(good))
    res = oracle.check(cell, garbage)
    assert res["ok"] is False and res["errors"][0].startswith("open:"), res
    with pytest.raises(oracle.OracleError):
        oracle.check(cell, tmp_path / "missing.db")
    assert not (tmp_path / "missing.db").exists()


# ---------------------------------------------------------------- across cells


def test_written_files_identical_across_cells(written):
    """op-conductor-init's writes are byte-identical whichever library stack made them."""
    for node_id in IDS:
        for f in FILES:
            blobs = {cell: (nodes[node_id] / f).read_bytes() for cell, nodes in written.items()}
            assert len(set(blobs.values())) == 1, (node_id, f, {c: len(b) for c, b in blobs.items()})


@pytest.mark.parametrize("writer", oracle.CELLS)
@pytest.mark.parametrize("reader", oracle.CELLS)
def test_every_cell_reads_every_cells_files(writer, reader, written, grown):
    assert_clean(reader, written[writer])
    for node_id, node_dir in written[writer].items():
        assert_read_matches_spec(oracle.run(reader, "read", node_dir), REFERENCE_SPEC, node_id)
    nodes = grown[writer][0]
    assert_clean(reader, nodes)
    for node_dir in nodes.values():
        assert oracle.run(reader, "read", node_dir) == oracle.run(writer, "read", node_dir)
