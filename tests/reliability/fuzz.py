"""Differential fuzzing of our Raft/bbolt reader against the real Go stack (the oracle's four matrix cells).

Seeds are valid node directories: fresh ones we write (cluster.node_databases, at 4096/16384/65536-byte pages, a
larger log we lay out with branch and overflow pages) and live ones a real Raft node grew through the oracle
(`grow`: snapshots, compaction, a freelist, overflow pages), by bbolt 1.3.9 and by boltdb 1.3.1. Every seed is a
1-node cluster on 127.0.0.1, so a real Raft node can be started on a mutant.

A mutant is a seed with one edit: bit flips in a chosen region (meta, freelist, branch, leaf, overflow, inline
bucket bodies, msgpack values, free pages, slack), bytes set to edge values, truncation at every page boundary
and inside pages, zeroed and swapped pages, page-size and meta-field rewrites with a valid checksum, page header
edits, garbage and foreign files, semantic edits of the Raft content re-laid out with our writer (log gaps, index
mismatches, junk configurations, short stable values), and snapshot damage. Mutant ``i`` of seed ``S`` is
``random.Random("S/i")``: any mutant is reproduced alone with ``--seed S --only i --reuse-seeds DIR`` (the seed files of
a run are kept beside its results, in ``<out>-seeds/``: a grown seed differs on every run).

Verdicts, per mutant:
  ours   read_node_state(verify=True).integrity (and the summary read, which must not raise either) plus
         _bbolt.check_file of the mutated file; run in a worker process under a 20 s alarm: an exception is a
         crash, the alarm a hang.
  go     per cell, the oracle's `checkmany`: bolt tx.Check of the mutated file (an engine panic, SIGBUS, memory
         watchdog abort or timeout counts as "Go rejects", attributed by re-running the case alone), and a read
         of the node directory through raft-boltdb (every index first..last, configurations decoded, snapshots
         opened). A read failure counts where Raft would hit it: at start NewRaft reads LastIndex, restores the
         newest snapshot that opens, and GetLogs every index after it (panicking on a missing one).
  raft   for a sample, a real Raft node started on a copy (oracle `cluster`, 1 node, v2_3_1 or v1).

Outcomes: ``unsafe`` (ours healthy, Go or Raft rejects), ``content`` (both healthy, different decoded content),
``crash``/``hang`` (ours) are defects; ``stricter`` (we reject, every cell accepts) is tallied by class and by our
reason; ``agree-*`` otherwise.
"""

from __future__ import annotations

import argparse
import base64
import collections
import hashlib
import json
import multiprocessing
import os
import queue
import random
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import RESULTS, bolt, cluster, go, node_state, raft, free_port, write_node  # noqa: E402

LOG, STABLE = raft.LOG_FILE, raft.STABLE_FILE
OUR_TIMEOUT = 20  # seconds for our verdict on one mutant: anything longer is a hang
GO_CASE_TIMEOUT = 10  # seconds per case part in checkmany: longer is a hang
RAFT_CELLS = ("v2_3_1", "v1")
CONFIRM_PER_SIGNATURE = 5


# ================================================================================================================
# Seeds
# ================================================================================================================


@dataclass
class Seed:
    name: str
    dir: str
    port: int
    files: Dict[str, bytes] = field(default_factory=dict)
    regions: Dict[str, Dict[str, List[Tuple[int, int]]]] = field(default_factory=dict)
    kinds: Dict[str, Dict[int, str]] = field(default_factory=dict)
    page_size: Dict[str, int] = field(default_factory=dict)
    high_water: Dict[str, int] = field(default_factory=dict)
    snapshots: Dict[str, bytes] = field(default_factory=dict)  # relpath -> bytes
    snapshot_index: int = 0

    def load(self) -> "Seed":
        for name in (LOG, STABLE):
            path = os.path.join(self.dir, name)
            with open(path, "rb") as handle:
                self.files[name] = handle.read()
            self.regions[name], self.kinds[name], self.page_size[name], self.high_water[name] = region_map(path)
        base = os.path.join(self.dir, raft.SNAPSHOT_DIR)
        if os.path.isdir(base):
            for directory, _dirs, files in os.walk(base):
                for name in files:
                    full = os.path.join(directory, name)
                    with open(full, "rb") as handle:
                        self.snapshots[os.path.relpath(full, self.dir)] = handle.read()
        state = node_state.read_node_state(self.dir, verify=True)
        assert state.integrity.ok, (self.name, state.integrity.problems)
        self.snapshot_index = state.snapshot_index
        return self


def _fresh(root: str, name: str, page_size: int, port: int) -> Seed:
    spec = cluster.validate_cluster([{"id": "n1", "address": "127.0.0.1:%d" % port}], "n1", 1)[0]
    node = write_node(os.path.join(root, name), spec, "n1", page_size)
    return Seed(name, node, port)


def _written_big(root: str, name: str, port: int, entries: int, rng: random.Random) -> Seed:
    """A log we lay out ourselves with a non-inline logs bucket, branch pages and overflow entries."""
    seed = _fresh(root, name, 4096, port)
    log_path = os.path.join(seed.dir, LOG)
    content = bolt.read_database(log_path)
    term = 1
    for index in range(2, entries + 2):
        if rng.random() < 0.02:
            term += 1
        size = rng.choice([0, 10, 100, 1000, 3000, 5000, 9000]) if rng.random() < 0.3 else rng.randrange(200)
        content[raft.BUCKET_LOGS][raft.uint64_key(index)] = raft.encode_log(raft.Log(
            index=index, term=term, type=raft.LOG_COMMAND, data=bytes(rng.randrange(256) for _byte in range(size)),
            appended_at=raft.go_time_from_unix(1700000000 + index, index)))
    with open(log_path, "wb") as handle:
        handle.write(bolt.build_database(content))
    stable_path = os.path.join(seed.dir, STABLE)
    stable = bolt.read_database(stable_path)
    stable[raft.BUCKET_CONF][raft.KEY_CURRENT_TERM] = raft.U64.pack(term)
    stable[raft.BUCKET_CONF][raft.KEY_LAST_VOTE_TERM] = raft.U64.pack(term)
    with open(stable_path, "wb") as handle:
        handle.write(bolt.build_database(stable))
    return seed


def _grown(root: str, name: str, cell: str, port: int, entries: int) -> Seed:
    seed = _fresh(root, name, 4096, port)
    # snapshots every 100 applies and 50 trailing logs: a compacted log with a big freelist, overflow entries
    # (5000-byte payloads), and entries after the newest snapshot, which Raft reads at start.
    result = go.run(cell, "grow", "--node", "n1=" + seed.dir, "--entries", entries, "--size", 5000,
                    "--snapshot-every", 100, "--trailing-logs", 50, "--timeout", 60, timeout=300)
    assert result["ok"], result
    return seed


def build_seeds(root: str, quick: bool) -> List[Seed]:
    rng = random.Random("seeds")
    seeds = [_fresh(root, "fresh-4k", 4096, free_port()), _fresh(root, "fresh-64k", 65536, free_port()),
             _written_big(root, "written-big", free_port(), 120 if quick else 400, rng),
             _grown(root, "grown-bbolt", "v2_3_1", free_port(), 340)]
    if not quick:
        seeds += [_fresh(root, "fresh-16k", 16384, free_port()),
                  _grown(root, "grown-boltdb", "v1", free_port(), 440)]
        spec = cluster.validate_cluster([{"id": "n1", "address": "127.0.0.1:%d" % free_port()},
                                         {"id": "n2", "address": "127.0.0.1:%d" % free_port()}], None, 7)[0]
        follower = write_node(os.path.join(root, "fresh-follower"), spec, "n1")
        seeds.append(Seed("fresh-follower", follower, 0))  # no vote keys, 2 voters: not startable alone
    return [seed.load() for seed in seeds]


SEED_ORDER = ("fresh-4k", "fresh-64k", "written-big", "grown-bbolt", "fresh-16k", "grown-boltdb", "fresh-follower")


def save_seeds(seeds: List[Seed], directory: str) -> None:
    """Keep the seed node directories (a grown one differs on every run: timing, timestamps, ports), so that a
    run can be replayed byte for byte with --reuse-seeds."""
    shutil.rmtree(directory, ignore_errors=True)
    for seed in seeds:
        shutil.copytree(seed.dir, os.path.join(directory, seed.name))


def load_seeds(directory: str) -> List[Seed]:
    seeds = []
    for name in SEED_ORDER:
        node = os.path.join(directory, name)
        if os.path.isdir(node):
            servers = node_state.read_node_state(node).latest_configuration.configuration.servers
            port = int(servers[0].address.rpartition(":")[2]) if len(servers) == 1 else 0
            seeds.append(Seed(name, node, port).load())
    return seeds


# ================================================================================================================
# Where things are in a bolt file
# ================================================================================================================


def region_map(path: str):
    """Byte ranges of every kind of structure in a valid bolt file, and the kind of every page."""
    regions = collections.defaultdict(list)
    kinds = {}
    with bolt.BoltReader(path) as reader:
        size, high = reader.page_size, reader.meta.pgid
        meta_end = bolt.PAGE_HEADER_SIZE + bolt.META.size
        for pgid in (0, 1):
            regions["meta%d" % pgid].append((pgid * size, pgid * size + meta_end))
            regions["slack"].append((pgid * size + meta_end, (pgid + 1) * size))
            kinds[pgid] = "meta"
        if reader.meta.freelist != bolt.NO_FREELIST:
            start = reader.meta.freelist * size
            header = reader.page_header(reader.meta.freelist)
            count = len(reader.freelist())
            body = 8 * count + (8 if header.count == bolt.FREELIST_COUNT_OVERFLOW else 0)
            regions["freelist-header"].append((start, start + bolt.PAGE_HEADER_SIZE))
            if count:
                regions["freelist-ids"].append((start + bolt.PAGE_HEADER_SIZE, start + bolt.PAGE_HEADER_SIZE + body))
            for pgid in range(reader.meta.freelist, reader.meta.freelist + header.overflow + 1):
                kinds[pgid] = "freelist"
            for pgid in reader.freelist():
                kinds[pgid] = "free"
                regions["free"].append((pgid * size, (pgid + 1) * size))

        def leaf_elements(node: bolt.Node, name: bytes, base: int) -> None:
            for index in range(node.count):
                key_start, value_start = _offset(node, index)
                value = node.value(index)
                if node.element_flags(index) & bolt.BUCKET_LEAF_FLAG:
                    child = bolt.Bucket.from_value(reader, value, "bucket")
                    if child.inline is not None:  # the whole inline bucket: header, fake page, its elements
                        regions["inline-bucket"].append((base + value_start, base + value_start + len(value)))
                    else:
                        regions["bucket-header"].append((base + value_start, base + value_start + 16))
                        walk_page(child.root_pgid, node.keys[index])
                    continue
                kind = {raft.BUCKET_LOGS: "log-value", raft.BUCKET_CONF: "stable-value"}.get(name, "value")
                regions["leaf-keys"].append((base + key_start, base + value_start))
                if len(value):
                    regions[kind].append((base + value_start, base + value_start + len(value)))

        def walk_page(pgid: int, name: bytes) -> None:
            header = reader.page_header(pgid)
            start = pgid * size
            node = reader.node(pgid)
            kind = "leaf" if node.is_leaf else "branch"
            kinds[pgid] = kind
            for extra in range(pgid + 1, pgid + header.overflow + 1):
                kinds[extra] = "overflow"
                regions["overflow"].append((extra * size, (extra + 1) * size))
            regions[kind + "-header"].append((start, start + bolt.PAGE_HEADER_SIZE))
            if node.count:
                regions[kind + "-elements"].append(
                    (start + bolt.PAGE_HEADER_SIZE, start + bolt.PAGE_HEADER_SIZE + bolt.ELEMENT_SIZE * node.count))
            if node.is_leaf:
                leaf_elements(node, name, start)
                return
            for index in range(node.count):
                key_start = _offset(node, index)[0]
                regions["branch-keys"].append((start + key_start, start + key_start + len(node.keys[index])))
                walk_page(node.child(index), name)

        walk_page(reader.meta.root, b"")
        for pgid in range(high, reader.file_size // size):
            kinds[pgid] = "beyond-hwm"
        if reader.file_size > high * size:
            regions["beyond-hwm"].append((high * size, reader.file_size))
        for pgid in range(2, high):
            kinds.setdefault(pgid, "unknown")
        return dict(regions), kinds, size, high


def _offset(node: bolt.Node, index: int) -> Tuple[int, int]:
    """(key start, value start) of element ``index``, relative to the page start."""
    at = bolt.PAGE_HEADER_SIZE + index * bolt.ELEMENT_SIZE
    if node.is_leaf:
        _flags, pos, ksize, _vsize = bolt.LEAF_ELEMENT.unpack_from(node.buf, at)
    else:
        pos, ksize, _child = bolt.BRANCH_ELEMENT.unpack_from(node.buf, at)
    return at + pos, at + pos + ksize


# ================================================================================================================
# Mutators: each returns (class, detail, {relpath: bytes | None}); None deletes the file
# ================================================================================================================

Edit = Dict[str, Optional[bytes]]


def _flip(data: bytearray, offset: int, bit: int) -> None:
    data[offset] ^= 1 << bit


def _pick_region(rng, seed: Seed, name: str, classes=None):
    regions = seed.regions[name]
    choices = sorted(c for c in regions if regions[c] and (classes is None or c in classes))
    cls = rng.choice(choices)
    start, end = rng.choice(regions[cls])
    return cls, start, end


def _target(rng, seed: Seed) -> str:
    return LOG if rng.random() < 0.7 else STABLE


def m_flip(rng, seed: Seed, name: Optional[str] = None, region: Optional[str] = None):
    name = name or _target(rng, seed)
    data = bytearray(seed.files[name])
    cls, start, end = _pick_region(rng, seed, name, None if region is None else {region})
    flips = 1 if rng.random() < 0.75 else rng.randint(2, 4)
    where = []
    for _round in range(flips):
        offset, bit = rng.randrange(start, end), rng.randrange(8)
        _flip(data, offset, bit)
        where.append("%d.%d" % (offset, bit))
    return "flip:" + cls, "%s flip %s" % (name, ",".join(where)), {name: bytes(data)}


def m_byte(rng, seed: Seed):
    name = _target(rng, seed)
    data = bytearray(seed.files[name])
    cls, start, end = _pick_region(rng, seed, name)
    offset = rng.randrange(start, end)
    value = rng.choice([0x00, 0xFF, 0x7F, 0x80, rng.randrange(256)])
    data[offset] = value
    return "byte:" + cls, "%s byte %d=0x%02x" % (name, offset, value), {name: bytes(data)}


def m_multiflip(rng, seed: Seed):
    name = _target(rng, seed)
    data = bytearray(seed.files[name])
    end = seed.high_water[name] * seed.page_size[name]
    count = rng.randint(2, 16)
    for _round in range(count):
        _flip(data, rng.randrange(end), rng.randrange(8))
    return "multiflip", "%s %d random flips" % (name, count), {name: bytes(data)}


def m_trunc_inside(rng, seed: Seed):
    name = _target(rng, seed)
    size, pages = seed.page_size[name], len(seed.files[name]) // seed.page_size[name]
    cut = rng.randrange(pages) * size + rng.randrange(1, size)
    return "trunc:inside-page", "%s truncated to %d" % (name, cut), {name: seed.files[name][:cut]}


def m_zero(rng, seed: Seed):
    name = _target(rng, seed)
    size = seed.page_size[name]
    pgid = rng.randrange(seed.high_water[name])
    data = bytearray(seed.files[name])
    data[pgid * size:(pgid + 1) * size] = bytes(size)
    return "zero:" + seed.kinds[name].get(pgid, "?"), "%s page %d zeroed" % (name, pgid), {name: bytes(data)}


def m_swap(rng, seed: Seed):
    name = _target(rng, seed)
    size, high = seed.page_size[name], seed.high_water[name]
    first, second = rng.sample(range(high), 2) if high > 1 else (0, 1)
    data = bytearray(seed.files[name])
    a, b = data[first * size:(first + 1) * size], data[second * size:(second + 1) * size]
    data[first * size:(first + 1) * size], data[second * size:(second + 1) * size] = b, a
    kinds = sorted((seed.kinds[name].get(first, "?"), seed.kinds[name].get(second, "?")))
    return "swap:%s-%s" % tuple(kinds), "%s pages %d<->%d" % (name, first, second), {name: bytes(data)}


def _rewrite_meta(data: bytearray, psize: int, which: int, **changes) -> None:
    offset = which * psize + bolt.PAGE_HEADER_SIZE
    fields = list(bolt.META.unpack_from(data, offset))
    names = ["magic", "version", "page_size", "flags", "root", "sequence", "freelist", "pgid", "txid", "checksum"]
    for key, value in changes.items():
        fields[names.index(key)] = value
    body = bolt.META.pack(*fields[:-1] + [0])[:bolt.META_CHECKSUMMED]
    fields[-1] = bolt.fnv1a64(body)
    bolt.META.pack_into(data, offset, *fields)


def m_pagesize(rng, seed: Seed):
    name = _target(rng, seed)
    size = seed.page_size[name]
    value = rng.choice([0, 512, 1024, 2048, 3000, 8192, 16384, 32768, 65536, 1 << 20, size * 2, size // 2])
    which = rng.choice(["both", "meta0", "meta1"])
    data = bytearray(seed.files[name])
    for pgid in ((0, 1) if which == "both" else (int(which[-1]),)):
        _rewrite_meta(data, size, pgid, page_size=value)
    return "pagesize:" + which, "%s %s page_size=%d (checksum fixed)" % (name, which, value), {name: bytes(data)}


META_FIELDS = ("root", "freelist", "pgid", "txid", "flags", "version", "magic", "sequence")


def m_metafield(rng, seed: Seed):
    name = _target(rng, seed)
    size, high = seed.page_size[name], seed.high_water[name]
    data = bytearray(seed.files[name])
    fieldname = rng.choice(META_FIELDS)
    edges = [0, 1, 2, 3, high - 1, high, high + 1, rng.randrange(high), 1 << 32, (1 << 63) + 5, (1 << 64) - 1]
    if fieldname in ("flags", "version", "magic"):
        edges = [0, 1, 2, 3, 0xED0CDAED, 0xEDDA0CED, (1 << 32) - 1, rng.randrange(1 << 32)]
    value = rng.choice(edges)
    which = rng.choice(["both", "meta0", "meta1"])
    for pgid in ((0, 1) if which == "both" else (int(which[-1]),)):
        _rewrite_meta(data, size, pgid, **{fieldname: value})
    return ("metafield:" + fieldname, "%s %s %s=%d (checksum fixed)" % (name, which, fieldname, value),
            {name: bytes(data)})


def m_header(rng, seed: Seed):
    name = _target(rng, seed)
    size = seed.page_size[name]
    pages = [pgid for pgid, kind in seed.kinds[name].items()
             if kind in ("leaf", "branch", "freelist", "free") and pgid < seed.high_water[name]]
    pgid = rng.choice(pages)
    kind = seed.kinds[name][pgid]
    data = bytearray(seed.files[name])
    offset = pgid * size
    pid, flags, count, overflow = bolt.PAGE_HEADER.unpack_from(data, offset)
    fieldname = rng.choice(["id", "flags", "count", "overflow"])
    if fieldname == "id":
        pid = rng.choice([0, 1, pgid + 1, pgid - 1, rng.randrange(seed.high_water[name]), (1 << 64) - 1])
        value = pid
    elif fieldname == "flags":
        flags = value = rng.choice([0, 0x01, 0x02, 0x04, 0x10, 0x03, 0x20, 0xFFFF])
    elif fieldname == "count":
        count = value = rng.choice([0, 1, count + 1, count - 1 if count else 2, 0xFFFF, rng.randrange(0x10000)])
    else:
        overflow = value = rng.choice([0, 1, overflow + 1, 0xFFFF, 0xFFFFFFFF, rng.randrange(1 << 32)])
    bolt.PAGE_HEADER.pack_into(data, offset, pid, flags, count, overflow)
    return ("header:%s.%s" % (kind, fieldname), "%s page %d header %s=%d" % (name, pgid, fieldname, value),
            {name: bytes(data)})


def m_garbage(rng, seed: Seed):
    name = _target(rng, seed)
    size = seed.page_size[name]
    kind = rng.choice(["random", "text", "big-endian", "foreign-bolt", "other-file", "ones", "zeros", "meta-only"])
    if kind == "random":
        data = bytes(rng.randrange(256) for _byte in range(rng.choice([1, 15, 100, size, 2 * size, 3 * size + 7])))
    elif kind == "text":
        data = ("%s is not a database\n" % name).encode() * rng.randint(1, 500)
    elif kind == "big-endian":
        data = bytearray(seed.files[name])
        for pgid in (0, 1):
            offset = pgid * size + bolt.PAGE_HEADER_SIZE
            fields = bolt.META.unpack_from(data, offset)
            struct.pack_into(">IIIIQQQQQQ", data, offset, *fields)
        data = bytes(data)
    elif kind == "foreign-bolt":
        data = bolt.build_database({b"widgets": {b"k%d" % i: b"v" * i for i in range(1, 30)}}, size)
    elif kind == "other-file":
        data = seed.files[STABLE if name == LOG else LOG]
    elif kind == "ones":
        data = b"\xff" * len(seed.files[name])
    elif kind == "zeros":
        data = bytes(len(seed.files[name]))
    else:
        data = seed.files[name][:2 * size]
    return "garbage:" + kind, "%s replaced by %s (%d bytes)" % (name, kind, len(data)), {name: bytes(data)}


def _relayout(seed: Seed, name: str, change: Callable[[dict], None]) -> bytes:
    """The file's content changed by ``change`` and written again by our writer (valid bolt, Raft-level edit)."""
    with tempfile.NamedTemporaryFile() as handle:
        handle.write(seed.files[name])
        handle.flush()
        content = bolt.read_database(handle.name)
    change(content)
    return bolt.build_database(content, seed.page_size[name])


def m_semantic(rng, seed: Seed):
    with tempfile.NamedTemporaryFile() as handle:
        handle.write(seed.files[LOG])
        handle.flush()
        logs = sorted(bolt.read_database(handle.name)[raft.BUCKET_LOGS])
    after = [key for key in logs if raft.U64.unpack(key)[0] > seed.snapshot_index]
    before = [key for key in logs if raft.U64.unpack(key)[0] <= seed.snapshot_index]
    kind = rng.choice(["gap-after-snapshot", "gap-before-snapshot", "index-mismatch", "term-above-current",
                       "config-junk", "value-junk", "short-key", "no-logs-bucket", "logs-empty", "value-is-bucket",
                       "stable-short", "stable-long", "stable-missing-term", "stable-zero-term", "vote-above-term",
                       "no-conf-bucket", "type-unknown", "drop-last"])
    name = STABLE if kind.startswith(("stable", "vote", "no-conf")) else LOG
    key = rng.choice(logs)

    def change(content):
        bucket = content.get(raft.BUCKET_LOGS, {}) if name == LOG else content.get(raft.BUCKET_CONF, {})
        if kind == "gap-after-snapshot":
            middle = list(after[:-1]) or after
            if middle:
                del bucket[rng.choice(middle)]
        elif kind == "gap-before-snapshot":
            inner = before[1:] or before
            if inner:
                del bucket[rng.choice(inner)]
        elif kind == "drop-last":
            del bucket[logs[-1]]
        elif kind in ("index-mismatch", "term-above-current", "config-junk", "type-unknown"):
            log = raft.decode_log(bucket[key])
            fields = dict(index=log.index, term=log.term, type=log.type, data=log.data, extensions=log.extensions,
                          appended_at=log.appended_at)
            if kind == "index-mismatch":
                fields["index"] += rng.choice([1, -1, 1000])
            elif kind == "term-above-current":
                fields["term"] += 1000
            elif kind == "config-junk":
                fields.update(type=raft.LOG_CONFIGURATION, data=bytes(rng.randrange(256) for _byte in range(20)))
            else:
                fields["type"] = rng.choice([6, 9, 200])
            bucket[key] = raft.encode_log(raft.Log(**fields))
        elif kind == "value-junk":
            bucket[key] = bytes(rng.randrange(256) for _byte in range(rng.randint(1, 40)))
        elif kind == "short-key":
            bucket[key[:rng.randint(1, 7)]] = bucket.pop(key)
        elif kind == "no-logs-bucket":
            content.pop(raft.BUCKET_LOGS)
        elif kind == "logs-empty":
            bucket.clear()
        elif kind == "value-is-bucket":
            bucket[key] = {b"x": b"y"}
        elif kind == "stable-short":
            bucket[raft.KEY_CURRENT_TERM] = bucket[raft.KEY_CURRENT_TERM][:rng.randint(0, 7)] or b"\x01"
        elif kind == "stable-long":
            bucket[raft.KEY_CURRENT_TERM] = bucket[raft.KEY_CURRENT_TERM] + b"\x00"
        elif kind == "stable-missing-term":
            bucket.pop(raft.KEY_CURRENT_TERM)
        elif kind == "stable-zero-term":
            bucket[raft.KEY_CURRENT_TERM] = raft.U64.pack(0)
        elif kind == "vote-above-term":
            bucket[raft.KEY_LAST_VOTE_TERM] = raft.U64.pack(raft.U64.unpack(bucket[raft.KEY_CURRENT_TERM])[0] + 5)
        elif kind == "no-conf-bucket":
            content.pop(raft.BUCKET_CONF)

    described = "%s %s (key %s), re-laid out" % (name, kind, key.hex())
    return "semantic:" + kind, described, {name: _relayout(seed, name, change)}


def m_snapshot(rng, seed: Seed):
    if not seed.snapshots:
        return m_flip(rng, seed)
    rel = rng.choice(sorted(seed.snapshots))
    data = bytearray(seed.snapshots[rel])
    kind = rng.choice(["flip", "truncate", "delete", "delete-dir", "field", "field", "field"])
    if kind == "field":  # one meta.json field set to an edge value, re-encoded the way Go writes it
        rel = next(r for r in sorted(seed.snapshots) if r.endswith("meta.json"))
        meta = json.loads(seed.snapshots[rel])
        name = rng.choice(["ID", "Index", "Term", "Size", "CRC", "Version", "ConfigurationIndex", "Configuration",
                           "Peers"])
        index, term = meta["Index"], meta["Term"]
        value = rng.choice({
            "ID": ["%d-%d-1" % (term, index), "", meta["ID"] + "x"],
            "Index": [0, 1, index - 1, index + 1, index + 1000, (1 << 64) - 1],
            "Term": [0, term + 1, term + 1000],
            "Size": [0, meta["Size"] + 1, meta["Size"] - 1],
            "CRC": ["AAAAAAAAAAA=", None, ""],
            "Version": [0, 2, -1],
            "ConfigurationIndex": [0, index + 1, (1 << 64) - 1],
            "Configuration": [{"Servers": []}, None,
                              {"Servers": [dict(server, Suffrage=1) for server in meta["Configuration"]["Servers"]]},
                              {"Servers": [dict(server, Suffrage=7) for server in meta["Configuration"]["Servers"]]},
                              {"Servers": meta["Configuration"]["Servers"] * 2}],
            "Peers": ["", "AAAA", None],
        }[name])
        meta[name] = value
        return ("snap:field-" + name, "%s %s=%s" % (rel, name, json.dumps(value)[:80]),
                {rel: (json.dumps(meta, separators=(",", ":")) + "\n").encode()})
    if kind == "flip" and data:
        offset = rng.randrange(len(data))
        _flip(data, offset, rng.randrange(8))
        return "snap:flip-" + os.path.basename(rel), "%s flip at %d" % (rel, offset), {rel: bytes(data)}
    if kind == "truncate" and data:
        cut = rng.randrange(len(data))
        return "snap:truncate-" + os.path.basename(rel), "%s truncated to %d" % (rel, cut), {rel: bytes(data[:cut])}
    if kind == "delete-dir":
        snapshot_dir = os.path.dirname(rel)
        removed = {r: None for r in seed.snapshots if os.path.dirname(r) == snapshot_dir}
        return "snap:delete-dir", "%s removed" % snapshot_dir, removed
    return "snap:delete-" + os.path.basename(rel), "%s removed" % rel, {rel: None}


MUTATORS = [(m_flip, 40), (m_byte, 8), (m_multiflip, 4), (m_trunc_inside, 4), (m_zero, 5), (m_swap, 5),
            (m_pagesize, 3), (m_metafield, 7), (m_header, 10), (m_garbage, 3), (m_semantic, 8), (m_snapshot, 6)]


@dataclass
class Mutant:
    id: str
    seed: Seed
    cls: str
    detail: str
    edits: Edit

    @property
    def checked_file(self) -> Optional[str]:
        """The database file the mutation touched (checked with tx.Check), if any and if it still exists."""
        for name in (LOG, STABLE):
            if name in self.edits and self.edits[name] is not None:
                return name
        return None


def enumerated(seed: Seed, cap: int) -> List[Tuple[str, str, Edit]]:
    """Deterministic mutants: truncation at every page boundary (0 = empty file) and one byte short, and every
    page zeroed (evenly sampled down to ``cap`` per file)."""
    out = []
    for name in (LOG, STABLE):
        data, size = seed.files[name], seed.page_size[name]
        pages = len(data) // size
        cuts = list(range(0, pages)) + [pages - 1] if pages <= cap else \
            sorted(set([0, 1, 2, seed.high_water[name] - 1, seed.high_water[name]] +
                       [round(i * (pages - 1) / (cap - 1)) for i in range(cap)]))
        for k in cuts:
            if k * size < len(data):
                out.append(("trunc:page-boundary" if k else "trunc:empty", "%s truncated to %d pages" % (name, k),
                            {name: data[:k * size]}))
        out.append(("trunc:minus-1-byte", "%s one byte short" % name, {name: data[:-1]}))
        high = seed.high_water[name]
        zeros = range(high) if high <= cap else sorted(set(round(i * (high - 1) / (cap - 1)) for i in range(cap)))
        for pgid in zeros:
            mutated = bytearray(data)
            mutated[pgid * size:(pgid + 1) * size] = bytes(size)
            out.append(("zero:" + seed.kinds[name].get(pgid, "?"), "%s page %d zeroed" % (name, pgid),
                        {name: bytes(mutated)}))
    return out


def _random_mutant(seed: Seed, master_seed: str, number: int) -> Mutant:
    mutant_id = "%s/r%d" % (seed.name, number)
    rng = random.Random("%s/%s" % (master_seed, mutant_id))
    function = rng.choices([f for f, _w in MUTATORS], [w for _f, w in MUTATORS])[0]
    cls, detail, edits = function(rng, seed)
    return Mutant(mutant_id, seed, cls, detail, edits)


def coverage(seed: Seed) -> List[tuple]:
    """One mutant of every mutator, then one bit flip in each kind of region of each file, whatever the dice say."""
    return [(function,) for function, _weight in MUTATORS] + \
        [(m_flip, name, region) for name in (LOG, STABLE) for region in sorted(seed.regions[name])]


def _coverage_mutant(seed: Seed, master_seed: str, number: int) -> Mutant:
    mutant_id = "%s/c%d" % (seed.name, number)
    function, *where = coverage(seed)[number]
    cls, detail, edits = function(random.Random("%s/%s" % (master_seed, mutant_id)), seed, *where)
    return Mutant(mutant_id, seed, cls, detail, edits)


def generate(seeds: List[Seed], count: int, master_seed: str, enum_cap: int, only=None) -> List[Mutant]:
    """``count`` mutants: the enumerated ones of every seed (at most a third), one flip per region class of every
    file (at most another third), then random ones, round-robin over seeds.
    ``only``: the listed ids (``<seed>/e<n>``, ``<seed>/c<n>`` or ``<seed>/r<n>``) and nothing else."""
    by_name = {seed.name: seed for seed in seeds}
    if only is not None:
        picked = []
        for mutant_id in only:
            name, _slash, number = mutant_id.rpartition("/")
            if number.startswith("e"):
                cls, detail, edits = enumerated(by_name[name], enum_cap)[int(number[1:])]
                picked.append(Mutant(mutant_id, by_name[name], cls, detail, edits))
            elif number.startswith("c"):
                picked.append(_coverage_mutant(by_name[name], master_seed, int(number[1:])))
            else:
                picked.append(_random_mutant(by_name[name], master_seed, int(number[1:])))
        return picked
    mutants = []
    for seed in seeds:
        for index, (cls, detail, edits) in enumerate(enumerated(seed, enum_cap)):
            mutants.append(Mutant("%s/e%d" % (seed.name, index), seed, cls, detail, edits))
    mutants = mutants[:count // 3]  # enumerations take at most a third of the budget
    # coverage round-robin over seeds, so a short budget still covers every mutator and region on some seed
    todo = [(seed, number) for seed in seeds for number in range(len(coverage(seed)))]
    todo.sort(key=lambda item: item[1])
    mutants += [_coverage_mutant(seed, master_seed, number) for seed, number in todo[:count // 3]]
    number = 0
    while len(mutants) < count:
        seed = seeds[number % len(seeds)]
        mutants.append(_random_mutant(seed, master_seed, number // len(seeds)))
        number += 1
    return mutants


def materialize(mutant: Mutant, root: str) -> str:
    """The mutant as a node directory: unchanged files hard-linked from the seed, changed ones written anew."""
    node = os.path.join(root, mutant.id.replace("/", "_"))
    shutil.copytree(mutant.seed.dir, node, copy_function=os.link)
    for rel, data in mutant.edits.items():
        path = os.path.join(node, rel)
        os.unlink(path)  # never write through a hard link into the seed
        if data is not None:
            with open(path, "wb") as handle:
                handle.write(data)
    for directory in set(os.path.dirname(rel) for rel, data in mutant.edits.items() if data is None):
        full = os.path.join(node, directory)
        if directory.startswith(raft.SNAPSHOT_DIR + os.sep) and os.path.isdir(full) and not os.listdir(full):
            os.rmdir(full)
    return node


# ================================================================================================================
# Our verdict (in worker processes, under an alarm)
# ================================================================================================================


class _Hang(Exception):
    pass


def _alarm(_signum, _frame):
    raise _Hang()


def _worker_init():
    signal.signal(signal.SIGALRM, _alarm)


def our_content(node: str, state) -> dict:
    digest = hashlib.sha256()
    entries = 0
    for _key, log in node_state.iter_log_entries(os.path.join(node, LOG)):
        entries += 1
        digest.update(struct.pack(">QQB", log.index, log.term, log.type))
        for blob in (log.data or b"", log.extensions or b""):
            digest.update(struct.pack(">I", len(blob)) + blob)
    candidate = state.last_vote_candidate
    return {"first": state.first_index, "last": state.last_index, "CurrentTerm": state.current_term,
            "LastVoteTerm": state.last_vote_term,
            "LastVoteCand": None if candidate is None else candidate.encode("utf-8", "surrogateescape"),
            "entries": entries, "digest": digest.hexdigest(),
            "snapshots": [(snap.id, snap.index, snap.term) for snap in state.snapshots]}


def our_verdict(job: Tuple[str, Optional[str]]) -> dict:
    node, checked = job
    started = time.perf_counter()
    signal.alarm(OUR_TIMEOUT)
    try:
        state = node_state.read_node_state(node, verify=True)
        node_state.read_node_state(node, verify=False).summary()  # the summary read must not raise either
        check = bolt.check_file(os.path.join(node, checked)) if checked else None
        out = {"ok": state.integrity.ok, "problems": state.integrity.problems[:3],
               "check_ok": None if check is None else check.ok,
               "check_problems": [] if check is None else check.problems[:3]}
        if state.integrity.ok:
            out["content"] = our_content(node, state)
    except _Hang:
        out = {"error": "hang", "detail": "no verdict within %d s" % OUR_TIMEOUT}
    except BaseException as exc:  # noqa: BLE001 - every escape is the defect we look for
        out = {"error": "crash", "detail": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))}
    finally:
        signal.alarm(0)
    out["seconds"] = time.perf_counter() - started
    return out


# ================================================================================================================
# The Go verdict: checkmany per cell, crash isolation
# ================================================================================================================


def _crash_reason(returncode: Optional[int], stderr: str) -> str:
    for pattern in (r"panic: .*", r"fatal error: .*", r"unexpected fault address.*", r"aborted: heap.*",
                    r"signal [A-Z]+.*"):
        found = re.search(pattern, stderr)
        if found:
            return found.group(0)[:200]
    return "exit %s: %s" % (returncode, stderr.strip()[-200:])


class CheckMany:
    """One cell's `checkmany` over a list of (file, node dir) cases, restarted after each crash.

    The oracle writes a marker line before each part of a case, so a process that dies (engine panic in its
    check goroutine, SIGBUS, memory watchdog) or stops answering (GO_CASE_TIMEOUT) is attributed to that case and
    part. The first CONFIRM_PER_SIGNATURE crashes of each kind (part + normalised message) are confirmed by
    running the case again alone (the markers already attribute the rest); a hang is not re-run.
    """

    def __init__(self, cell: str):
        self.cell = cell
        self.binary = str(go.build(cell))
        self.confirmed = collections.Counter()  # crash signatures already confirmed by a run alone
        self.env = dict(os.environ, ORACLE_MEMORY_LIMIT_MB="64")  # legit use is a few MiB: abort runaways fast

    def _start(self, lines: List[str]):
        errfile = tempfile.TemporaryFile()
        proc = subprocess.Popen([self.binary, "checkmany"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=errfile, env=self.env)
        out = queue.Queue()

        def feed():
            try:
                proc.stdin.write("".join(line + "\n" for line in lines).encode("utf-8", "surrogateescape"))
                proc.stdin.close()
            except OSError:
                pass  # it died; the reader side notices

        def pump():
            for line in proc.stdout:
                out.put(line)
            out.put(None)

        threading.Thread(target=feed, daemon=True).start()
        threading.Thread(target=pump, daemon=True).start()
        return proc, out, errfile

    @staticmethod
    def _finish(proc, errfile, kill: bool) -> Tuple[Optional[int], str]:
        if kill:
            proc.kill()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        errfile.seek(0)
        stderr = errfile.read().decode(errors="replace")
        errfile.close()
        return proc.returncode, stderr

    def run(self, cases: List[Tuple[str, str]], confirm: bool = True) -> List[dict]:
        results = [None] * len(cases)  # type: List[Optional[dict]]
        start = 0
        while start < len(cases):
            proc, out, errfile = self._start(["%s\t%s" % case for case in cases[start:]])
            index, part, failure = start, None, None
            while index < len(cases):
                try:
                    line = out.get(timeout=GO_CASE_TIMEOUT)
                except queue.Empty:
                    failure = ("hang",) + self._finish(proc, errfile, kill=True)
                    break
                if line is None:
                    failure = ("crash",) + self._finish(proc, errfile, kill=False)
                    break
                try:
                    document = json.loads(line)
                except ValueError:  # a line cut short: the process died while writing it
                    failure = ("crash",) + self._finish(proc, errfile, kill=True)
                    break
                if "begin" in document:
                    part = document["begin"]
                    continue
                results[index] = document
                index += 1
                part = None
            else:
                self._finish(proc, errfile, kill=False)
            if failure is None:
                break
            kind, returncode, stderr = failure
            part = part or ("check" if cases[index][0] else "read")  # died before its first marker
            crash = {"kind": kind, "returncode": returncode, "reason": _crash_reason(returncode, stderr),
                     "part": part}
            signature = (part, _normalise(crash["reason"]))
            if confirm and kind == "crash" and self.confirmed[signature] < CONFIRM_PER_SIGNATURE:
                self.confirmed[signature] += 1
                results[index] = self.settle(cases[index], crash)
            else:  # attributed by the markers alone
                results[index] = {"check": None, "read": None, "batch_failure": crash, part: {"crash": crash}}
            start = index + 1
        return results

    def settle(self, case: Tuple[str, str], crash: dict, attempts: int = 3) -> dict:
        """Run a case that killed (or stalled) a batch alone, up to ``attempts`` times. A failure that comes back
        is the mutant's; one that never does came from the batch (the state a long-lived process carries from
        earlier files, e.g. garbage the memory watchdog counts) and the case's own result stands."""
        for _attempt in range(attempts):
            alone = self.run([case], confirm=False)[0]
            if "batch_failure" in alone:
                crash["confirmed_alone"] = True
                part = alone["batch_failure"]["part"]
                return {"check": alone.get("check"), "read": alone.get("read"), "batch_failure": crash,
                        part: {"crash": alone["batch_failure"]}}
        crash["confirmed_alone"] = False
        return {"check": alone.get("check"), "read": alone.get("read"), "batch_failure": crash}


def go_read_verdict(read: Optional[dict]) -> Tuple[bool, str]:
    """Would Raft start on this node (as far as reading it through raft-boltdb tells)? (ok, reason)."""
    if read is None:
        return True, ""
    if "crash" in read:
        return False, "read crashed: " + read["crash"]["reason"]
    if "open_error" in read:
        return False, "open: " + read["open_error"]
    if read.get("stable_error"):
        return False, "stable: " + read["stable_error"]
    if read.get("snapshots_error"):
        return False, "snapshots: " + read["snapshots_error"]
    if read.get("log_error"):
        return False, "log: " + read["log_error"]
    snapshots = read.get("snapshots") or []
    usable = [snap for snap in snapshots if not snap.get("error") and snap.get("crc_ok")]
    if snapshots and not usable:
        return False, "no snapshot opens: " + "; ".join(snap.get("error", "") for snap in snapshots)
    snapshot_index = usable[0]["Index"] if usable else 0
    first, last = read["first"], read["last"]
    if last > 0 and first > snapshot_index + 1:
        return False, "log starts at %d, snapshot covers %d: GetLog(%d) fails in NewRaft" % (
            first, snapshot_index, snapshot_index + 1)
    if read["nerrors"] and (read["max_error_index"] > snapshot_index or
                            any(error["index"] == last for error in read["errors"])):
        error = read["errors"][-1] if read["errors"] else {}
        return False, "GetLog: %s (at %s; %d errors, last at %d, snapshot %d)" % (
            error.get("error"), error.get("index"), read["nerrors"], read["max_error_index"], snapshot_index)
    return True, ""


def go_check_verdict(check: Optional[dict]) -> Tuple[bool, str]:
    if check is None:
        return True, ""
    if "crash" in check:
        return False, "check crashed (%s): %s" % (check["crash"]["kind"], check["crash"]["reason"])
    if check.get("operational"):
        return False, "operational: " + check["operational"]
    if not check["ok"]:
        return False, "; ".join(check["errors"][:2])
    return True, ""


def content_differences(ours: dict, read: dict) -> List[str]:
    differences = []
    stable = read.get("stable") or {}
    candidate = stable.get("LastVoteCand")
    theirs = {"first": read.get("first"), "last": read.get("last"), "CurrentTerm": stable.get("CurrentTerm"),
              "LastVoteTerm": stable.get("LastVoteTerm"),
              "LastVoteCand": None if candidate is None else base64.b64decode(candidate),
              "entries": read.get("entries"), "digest": read.get("digest"),
              "snapshots": [(snap["ID"], snap["Index"], snap["Term"]) for snap in read.get("snapshots") or []]}
    for key, value in theirs.items():
        if key == "entries" and read.get("nerrors"):
            continue  # missing indexes below the snapshot: counted by Go as errors, absent for us
        if ours.get(key) != value:
            differences.append("%s: ours %r, raft-boltdb %r" % (key, ours.get(key), value))
    return differences


# ================================================================================================================
# Raft start (sample)
# ================================================================================================================

HARNESS_REFUSALS = ("is not on 127.0.0.0/8", "not in its own latest configuration", "address already in use",
                    "no configuration in log or snapshots", "cannot assign requested address",
                    "missing port in address", "too many colons", "invalid port", "unknown port")


def raft_start(cell: str, node: str, copy_root: str) -> dict:
    """Start a real 1-node Raft cluster on a copy of ``node``: elect, apply three commands (three bbolt commits
    on each file), stop."""
    copy = os.path.join(copy_root, "raft-" + os.path.basename(node))
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(node, copy)
    try:
        result = go.run(cell, "cluster", "--node", "n1=" + copy, "--apply", 3, "--timeout", 8, timeout=60)
    except go.OracleError as exc:
        text = str(exc)
        if exc.returncode is None and "timed out" in text:
            return {"started": False, "harness": False, "reason": "timeout (hang): " + text[:200]}
        harness = exc.returncode == go.EXIT_OPERATIONAL and any(marker in text for marker in HARNESS_REFUSALS)
        return {"started": False, "harness": harness, "reason": _crash_reason(exc.returncode, exc.stderr)
                if exc.returncode != go.EXIT_OPERATIONAL else text.splitlines()[-1][:300]}
    finally:
        shutil.rmtree(copy, ignore_errors=True)
    # The harness re-reads every index first..last after shutdown; a gap below the snapshot (which Raft never
    # reads: it sends the snapshot instead) shows there, not as a failure of Raft.
    problems = [p for p in result["problems"] if not re.search(r"GetLog\(\d+\): log not found|indexes missing", p)]
    if problems or not result.get("leader"):
        return {"started": False, "harness": False, "reason": "; ".join(problems)[:300]}
    return {"started": True, "harness": False, "reason": ""}


# ================================================================================================================
# The run
# ================================================================================================================


def _normalise(message: str) -> str:
    message = re.sub(r"/\S+/", "", message)
    message = re.sub(r"0x[0-9a-f]+", "X", message)
    message = re.sub(r"\b\d+\b", "N", message)
    message = re.sub(r"'[^']*'|\"[^\"]*\"", "S", message)
    return message[:140]


@dataclass
class Tally:
    seed: str
    mutants: int = 0
    by_outcome: collections.Counter = field(default_factory=collections.Counter)
    by_class: Dict[str, collections.Counter] = field(default_factory=lambda: collections.defaultdict(collections.Counter))
    stricter_reasons: Dict[str, collections.Counter] = field(
        default_factory=lambda: collections.defaultdict(collections.Counter))
    go_crashes: Dict[str, collections.Counter] = field(default_factory=lambda: collections.defaultdict(collections.Counter))
    go_confirmed: collections.Counter = field(default_factory=collections.Counter)
    raft: collections.Counter = field(default_factory=collections.Counter)
    raft_stricter: collections.Counter = field(default_factory=collections.Counter)
    raft_healthy_not_started: List[dict] = field(default_factory=list)  # with the reason, to judge each one
    defects: List[dict] = field(default_factory=list)
    examples: Dict[str, str] = field(default_factory=dict)  # first mutant id seen per tallied reason
    our_seconds: float = 0.0
    our_max_seconds: float = 0.0
    go_seconds: float = 0.0
    raft_seconds: float = 0.0

    def to_json(self) -> dict:
        return {
            "seed": self.seed, "mutants": self.mutants, "outcomes": dict(self.by_outcome),
            "crashes": self.by_outcome.get("crash", 0), "hangs": self.by_outcome.get("hang", 0),
            "disagreements": {"unsafe": self.by_outcome.get("unsafe", 0), "content": self.by_outcome.get("content", 0),
                              "stricter": self.by_outcome.get("stricter", 0)},
            "by_class": {cls: dict(counter) for cls, counter in sorted(self.by_class.items())},
            "stricter_reasons": {cls: dict(counter.most_common(8)) for cls, counter in sorted(self.stricter_reasons.items())},
            "go_engine_failures": {cell: dict(counter) for cell, counter in sorted(self.go_crashes.items())},
            "go_failures_rerun_alone": dict(self.go_confirmed),
            "raft_starts": dict(self.raft), "raft_starts_where_we_are_stricter": dict(self.raft_stricter),
            "raft_healthy_not_started": self.raft_healthy_not_started,
            "defects": self.defects[:50], "examples": dict(sorted(self.examples.items())),
            "seconds": {"ours_total": round(self.our_seconds, 1), "ours_max_per_mutant": round(self.our_max_seconds, 3),
                        "go": round(self.go_seconds, 1), "raft": round(self.raft_seconds, 1)},
        }


def classify(mutant: Mutant, ours: dict, go_results: Dict[str, dict], tally: Tally) -> str:
    if "error" in ours:
        tally.defects.append({"mutant": mutant.id, "class": mutant.cls, "detail": mutant.detail,
                              "outcome": ours["error"], "trace": ours["detail"][-2000:]})
        return ours["error"]
    rejections = []
    for cell, result in go_results.items():
        for part, verdict in (("check", go_check_verdict(result.get("check"))),
                              ("read", go_read_verdict(result.get("read")))):
            if not verdict[0]:
                rejections.append("%s %s: %s" % (cell, part, verdict[1]))
        failure = result.get("batch_failure")
        if failure:
            reason = "%s in %s: %s" % (failure["kind"], failure["part"], _normalise(failure["reason"])[:80])
            tally.go_crashes[cell][reason] += 1
            if "confirmed_alone" in failure:
                tally.go_confirmed["reproduced alone" if failure["confirmed_alone"] else
                                   "batch only (not the mutant's: its own result used)"] += 1
                if not failure["confirmed_alone"]:
                    tally.examples.setdefault("not reproduced alone: %s %s" % (cell, reason), mutant.id)
            tally.examples.setdefault("%s %s" % (cell, reason), "%s (%s)" % (mutant.id, mutant.detail))
    ours_ok = ours["ok"] and ours["check_ok"] is not False
    if ours["check_ok"] is False and ours["ok"]:
        rejections.append("ours: check_file and read_node_state disagree")
    if ours_ok and rejections:
        tally.defects.append({"mutant": mutant.id, "class": mutant.cls, "detail": mutant.detail, "outcome": "unsafe",
                              "go": rejections[:4]})
        return "unsafe"
    if ours_ok:
        for cell, result in go_results.items():
            differences = content_differences(ours["content"], result["read"]) if result.get("read") else []
            if differences:
                tally.defects.append({"mutant": mutant.id, "class": mutant.cls, "detail": mutant.detail,
                                      "outcome": "content", "cell": cell, "differences": differences[:4]})
                return "content"
        return "agree-accept"
    if not rejections:
        reason = _normalise((ours["problems"] or ours["check_problems"] or ["?"])[0])
        tally.stricter_reasons[mutant.cls][reason] += 1
        tally.examples.setdefault("stricter %s: %s" % (mutant.cls, reason), "%s (%s)" % (mutant.id, mutant.detail))
        return "stricter"
    return "agree-reject"


def run(seeds: List[Seed], mutants: List[Mutant], work: str, cells=None, raft_budget: int = 0, batch: int = 400,
        processes: int = 2, log=print, master_seed: str = "") -> Tally:
    cells = list(cells or go.CELLS)
    tally = Tally(master_seed)
    rng = random.Random("raft-sample/" + master_seed)
    raft_candidates = []  # (priority, mutant, node)
    pool = multiprocessing.get_context("fork").Pool(processes, initializer=_worker_init)
    runners = {cell: CheckMany(cell) for cell in cells}
    keep = os.path.join(work, "raft-candidates")
    os.makedirs(keep, exist_ok=True)
    try:
        for offset in range(0, len(mutants), batch):
            chunk = mutants[offset:offset + batch]
            batch_dir = os.path.join(work, "batch")
            shutil.rmtree(batch_dir, ignore_errors=True)
            os.makedirs(batch_dir)
            nodes = [materialize(mutant, batch_dir) for mutant in chunk]
            # Each cell reads its own hard-linked copy: raft's FileSnapshotStore probes the snapshots directory
            # with a permTest file, and cells running at once would trip over each other's.
            cases = {cell: [] for cell in cells}
            for mutant, node in zip(chunk, nodes):
                for cell in cells:
                    copy = "%s.%s" % (node, cell)
                    shutil.copytree(node, copy, copy_function=os.link)
                    cases[cell].append((os.path.join(copy, mutant.checked_file) if mutant.checked_file else "",
                                        copy))
            go_out = {}
            started = time.perf_counter()

            def go_cell(cell):
                go_out[cell] = runners[cell].run(cases[cell])

            threads = [threading.Thread(target=go_cell, args=(cell,)) for cell in cells]
            for thread in threads:
                thread.start()
            ours_all = pool.map(our_verdict, [(node, mutant.checked_file) for mutant, node in zip(chunk, nodes)],
                                chunksize=8)
            for thread in threads:
                thread.join()
            # Where we call a mutant healthy, every Go failure that would contradict us must be the mutant's own:
            # those only attributed by the markers (or a hang) are run alone before they count.
            for index, ours in enumerate(ours_all):
                if "error" in ours or not ours["ok"] or ours["check_ok"] is False:
                    continue
                for cell in cells:
                    failure = go_out[cell][index].get("batch_failure")
                    if failure and "confirmed_alone" not in failure:
                        go_out[cell][index] = runners[cell].settle(cases[cell][index], failure)
            tally.go_seconds += time.perf_counter() - started
            for index, (mutant, node, ours) in enumerate(zip(chunk, nodes, ours_all)):
                tally.mutants += 1
                tally.our_seconds += ours["seconds"]
                tally.our_max_seconds = max(tally.our_max_seconds, ours["seconds"])
                outcome = classify(mutant, ours, {cell: go_out[cell][index] for cell in cells}, tally)
                tally.by_outcome[outcome] += 1
                tally.by_class[mutant.cls][outcome] += 1
                if raft_budget and mutant.seed.port and outcome in ("agree-accept", "stricter"):
                    changed = any(data != mutant.seed.files.get(rel, mutant.seed.snapshots.get(rel))
                                  for rel, data in mutant.edits.items())
                    if changed:
                        kept = os.path.join(keep, os.path.basename(node))
                        if not os.path.exists(kept):
                            shutil.copytree(node, kept)
                        raft_candidates.append((outcome, mutant, kept))
            shutil.rmtree(batch_dir, ignore_errors=True)
            log("  %d/%d mutants: %s" % (tally.mutants, len(mutants), dict(tally.by_outcome)))
    finally:
        pool.terminate()
        pool.join()
    if raft_budget:
        _raft_sample(raft_candidates, raft_budget, rng, work, tally, log)
    return tally


def _raft_sample(candidates, budget, rng, work, tally, log):
    """Half the budget on mutants we call healthy (Raft must start), half on mutants only we reject, spread
    over their classes (does Raft start? if not, our strictness is a catch)."""
    started = time.perf_counter()
    by_outcome = collections.defaultdict(lambda: collections.defaultdict(list))
    for outcome, mutant, node in candidates:
        by_outcome[outcome][mutant.cls].append((mutant, node))
    chosen = []
    for outcome in ("agree-accept", "stricter"):
        classes = by_outcome[outcome]
        quota = budget // 2
        order = sorted(classes)
        rng.shuffle(order)
        picked = 0
        while picked < quota and any(classes[cls] for cls in order):
            for cls in order:
                if classes[cls] and picked < quota:
                    chosen.append((outcome, *classes[cls].pop(rng.randrange(len(classes[cls])))))
                    picked += 1
    copy_root = os.path.join(work, "raft-copies")
    os.makedirs(copy_root, exist_ok=True)
    for number, (outcome, mutant, node) in enumerate(chosen):
        cell = RAFT_CELLS[number % len(RAFT_CELLS)]
        result = raft_start(cell, node, copy_root)
        verdict = "started" if result["started"] else "harness-refused" if result["harness"] else "raft-refused"
        tally.raft["%s/%s" % (outcome, verdict)] += 1
        if outcome == "agree-accept" and verdict != "started":
            tally.raft_healthy_not_started.append({"mutant": mutant.id, "class": mutant.cls, "verdict": verdict,
                                                   "cell": cell, "reason": result["reason"]})
        if outcome == "agree-accept" and verdict == "raft-refused":
            tally.by_outcome["unsafe"] += 1
            tally.defects.append({"mutant": mutant.id, "class": mutant.cls, "detail": mutant.detail,
                                  "outcome": "unsafe", "raft": "%s: %s" % (cell, result["reason"])})
        if outcome == "stricter":
            tally.raft_stricter["%s: %s" % (mutant.cls, verdict)] += 1
    tally.raft_seconds += time.perf_counter() - started
    log("  raft starts: %s" % dict(tally.raft))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--mutants", type=int, default=10000)
    parser.add_argument("--seed", default=None, help="master seed (default: time-based, recorded in the results)")
    parser.add_argument("--raft", type=int, default=160, help="real Raft starts on sampled mutants")
    parser.add_argument("--cells", default=",".join(go.CELLS))
    parser.add_argument("--quick", action="store_true", help="the small seed set of the pytest slice")
    parser.add_argument("--only", default=None, help="comma-separated mutant ids to re-run (e.g. grown-bbolt/r17)")
    parser.add_argument("--out", default=str(RESULTS / "fuzz.json"))
    parser.add_argument("--processes", type=int, default=max(1, min(4, os.cpu_count() or 1)))
    parser.add_argument("--reuse-seeds", metavar="DIR", default=None,
                        help="replay on the seed files a previous run kept (<out>-seeds/) instead of building new ones")
    args = parser.parse_args(argv)
    master_seed = args.seed or time.strftime("%Y%m%d%H%M%S")
    only = set(args.only.split(",")) if args.only else None
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="opstack-fuzz-") as work:
        print("fuzz: seed %s, %d mutants, cells %s; building seeds" % (master_seed, args.mutants, args.cells))
        kept = os.path.splitext(args.out)[0] + "-seeds"
        if args.reuse_seeds:
            seeds = load_seeds(shutil.copytree(args.reuse_seeds, os.path.join(work, "seeds")))
        else:
            seeds = build_seeds(os.path.join(work, "seeds"), quick=args.quick)
            save_seeds(seeds, kept)
        mutants = generate(seeds, args.mutants if only is None else 10 ** 7, master_seed, 24 if args.quick else 64,
                           only=only)
        tally = run(seeds, mutants, work, cells=args.cells.split(","), raft_budget=args.raft,
                    processes=args.processes, master_seed=master_seed)
    report = tally.to_json()
    report.update(command="make fuzz FUZZ_SEED=%s FUZZ_MUTANTS=%d" % (master_seed, args.mutants),
                  replay=".venv/bin/python tests/reliability/fuzz.py --seed %s --mutants %d --reuse-seeds %s "
                  "--out /tmp/replay.json [--only ID,...]" % (master_seed, args.mutants, kept),
                  seeds=[seed.name for seed in seeds], cells=args.cells.split(","),
                  wall_seconds=round(time.time() - started, 1),
                  started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)))
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as handle:
        json.dump(report, handle, indent=1, sort_keys=True, default=str)
    print(json.dumps({key: report[key] for key in ("mutants", "outcomes", "crashes", "hangs", "disagreements",
                                                   "raft_starts", "wall_seconds")}, indent=1))
    print("results: %s" % args.out)
    bad = report["crashes"] + report["hangs"] + report["disagreements"]["unsafe"] + report["disagreements"]["content"]
    for defect in report["defects"][:20]:
        print("DEFECT", json.dumps(defect)[:1500])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
