"""A small stand-in for op-node and op-geth JSON-RPC: what op-conductor needs to start, run its
health checks and drive the sequencer, with per-node state and a log of every call.

One :class:`StubCluster` serves, per sequencer node, an op-node endpoint and an op-geth endpoint
(HTTP JSON-RPC on 127.0.0.1, free ports). The nodes share one L2 chain, as gossip would make them.

op-node side (answers shaped like op-node v1.19's):

* ``admin_conductorEnabled`` → true; ``admin_sequencerActive`` → the node's flag;
* ``admin_startSequencer [hash]`` → like op-node's ``Sequencer.Start``: asks the node's conductor
  ``conductor_leader`` first ("sequencer is not the leader, aborting"), refuses "sequencer already
  running", refuses a hash that is not the unsafe head ("block hash does not match: …");
* ``admin_stopSequencer`` → the head hash, or "sequencer not running";
* ``admin_postUnsafePayload [envelope]`` → appends the payload when it extends the head (as op-node inserts what
  op-conductor posts); ``admin_overrideLeader`` → null, and from then on the node leads without asking its
  conductor and commits nothing to it, as op-node's ConductorClient does, until ``stub_restart`` (op-node
  restarted: the override gone, the sequencer as ``restart_active`` says, stopped by default);
* ``optimism_syncStatus`` → the chain head as unsafe/safe/finalized L2 refs (plain JSON integers);
* ``opp2p_peerStats`` → ``connected`` = the node's peer count;
* ``optimism_rollupConfig``/``optimism_version`` → minimal.

op-geth side: ``eth_getBlockByNumber`` (latest/number; a post-merge header whose hash is the chain
head's), ``eth_chainId``, ``net_peerCount``, ``admin_peers``, ``eth_blockNumber``.

The clock: while a node's sequencer is active, it builds one block per ``block_time`` seconds on
the head, at timestamp ``parent + block_time`` (never ahead of the wall clock), and — like op-node's
conductor hook — commits it to its conductor with ``conductor_commitUnsafePayload`` (a valid Isthmus
``ExecutionPayloadEnvelope``, SSZ-encodable by op-conductor) before it becomes the head. A commit
the conductor refuses (not the leader) drops the block, as op-node does. Without a conductor URL
(``commit_payloads=False``) blocks are appended directly.

Per-node fault modes: ``healthy``; ``stalled`` (sync status reports an unsafe head an hour old);
``down`` (every call answers HTTP 503); ``peers`` (the connected peer count); ``fail`` (a dict
``method -> message`` answered as JSON-RPC errors).

Every call is logged: ``(seq, time, node, side, method, params, outcome)``; see :meth:`StubCluster.calls`.

Run standalone: ``python l2stub.py --nodes 3`` prints the endpoints as JSON and serves until killed;
``stub_*`` control methods on every op-node port (``stub_calls``, ``stub_state``, ``stub_set``,
``stub_setConductor``) drive it from outside.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

EMPTY_UNCLES = "0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347"
EMPTY_ROOT = "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421"
ZERO32 = "0x" + "00" * 32
BLOOM = "0x" + "00" * 256
FEE_RECIPIENT = "0x4200000000000000000000000000000000000011"
L1_HASH = "0x" + "11" * 32
STALL_SECONDS = 3600


def _h(*parts: Any) -> str:
    return "0x" + hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()


# --- keccak-256 and RLP: op-conductor recomputes the header hash of eth_getBlockByNumber -------------------
_RC = [0x0000000000000001, 0x0000000000008082, 0x800000000000808A, 0x8000000080008000, 0x000000000000808B,
       0x0000000080000001, 0x8000000080008081, 0x8000000000008009, 0x000000000000008A, 0x0000000000000088,
       0x0000000080008009, 0x000000008000000A, 0x000000008000808B, 0x800000000000008B, 0x8000000000008089,
       0x8000000000008003, 0x8000000000008002, 0x8000000000000080, 0x000000000000800A, 0x800000008000000A,
       0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008]
_ROT = [[0, 36, 3, 41, 18], [1, 44, 10, 45, 2], [62, 6, 43, 15, 61], [28, 55, 25, 21, 56], [27, 20, 39, 8, 14]]
_M = (1 << 64) - 1


def _rol(v: int, n: int) -> int:
    return ((v << n) | (v >> (64 - n))) & _M if n else v


def _keccak_f(a: list) -> None:
    for rc in _RC:
        c = [a[x][0] ^ a[x][1] ^ a[x][2] ^ a[x][3] ^ a[x][4] for x in range(5)]
        d = [c[(x - 1) % 5] ^ _rol(c[(x + 1) % 5], 1) for x in range(5)]
        for x in range(5):
            for y in range(5):
                a[x][y] ^= d[x]
        b = [[0] * 5 for _row in range(5)]
        for x in range(5):
            for y in range(5):
                b[y][(2 * x + 3 * y) % 5] = _rol(a[x][y], _ROT[x][y])
        for x in range(5):
            for y in range(5):
                a[x][y] = b[x][y] ^ ((~b[(x + 1) % 5][y]) & b[(x + 2) % 5][y])
        a[0][0] ^= rc


def keccak256(data: bytes) -> bytes:
    """Ethereum's keccak-256 (original Keccak padding, not NIST SHA3)."""
    rate = 136
    pad = rate - len(data) % rate
    msg = bytearray(data) + (b"\x81" if pad == 1 else b"\x01" + b"\x00" * (pad - 2) + b"\x80")
    a = [[0] * 5 for _row in range(5)]
    for off in range(0, len(msg), rate):
        block = msg[off:off + rate]
        for i in range(rate // 8):
            a[i % 5][i // 5] ^= int.from_bytes(block[8 * i:8 * i + 8], "little")
        _keccak_f(a)
    out = b"".join(a[i % 5][i // 5].to_bytes(8, "little") for i in range(4))
    return out


def _rlp(item: Any) -> bytes:
    if isinstance(item, list):
        body = b"".join(_rlp(x) for x in item)
        return _rlp_len(len(body), 0xC0) + body
    if isinstance(item, int):
        item = item.to_bytes((item.bit_length() + 7) // 8, "big") if item else b""
    if len(item) == 1 and item[0] < 0x80:
        return bytes(item)
    return _rlp_len(len(item), 0x80) + bytes(item)


def _rlp_len(n: int, base: int) -> bytes:
    if n < 56:
        return bytes([base + n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([base + 55 + len(b)]) + b


def _b(hexstr: str) -> bytes:
    return bytes.fromhex(hexstr[2:])


class RPCError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class Chain:
    """The L2 chain every node sees (gossip is instant here)."""

    def __init__(self, block_time: int, genesis_time: int | None = None):
        self.block_time = block_time
        self.lock = threading.Lock()
        ts = int(genesis_time if genesis_time is not None else time.time())
        genesis = dict(number=0, parent=ZERO32, timestamp=ts, producer="genesis")
        genesis["hash"] = block_hash(genesis)
        self.blocks = [genesis]
        self.reorgs = 0

    def head(self) -> dict:
        with self.lock:
            return dict(self.blocks[-1])

    def block(self, number: int) -> dict | None:
        with self.lock:
            return dict(self.blocks[number]) if 0 <= number < len(self.blocks) else None

    def next_block(self, producer: str) -> dict | None:
        """The block ``producer`` would build now, or None when it is not yet time."""
        head = self.head()
        ts = head["timestamp"] + self.block_time
        if ts > time.time():
            return None
        number = head["number"] + 1
        block = dict(number=number, parent=head["hash"], timestamp=ts, producer=producer)
        block["hash"] = block_hash(block)
        return block

    def append(self, block: dict) -> bool:
        with self.lock:
            if block["parent"] != self.blocks[-1]["hash"]:
                return False
            self.blocks.append(block)
            return True


def envelope(block: dict) -> dict:
    """An Isthmus ExecutionPayloadEnvelope (BlockV4) for op-conductor's conductor_commitUnsafePayload."""
    f = _fields(block)
    return {
        "parentBeaconBlockRoot": f["beacon"],
        "executionPayload": {
            "parentHash": block["parent"],
            "feeRecipient": FEE_RECIPIENT,
            "stateRoot": f["state"],
            "receiptsRoot": EMPTY_ROOT,
            "logsBloom": BLOOM,
            "prevRandao": f["randao"],
            "blockNumber": hex(block["number"]),
            "gasLimit": hex(60_000_000),
            "gasUsed": "0x0",
            "timestamp": hex(block["timestamp"]),
            "extraData": "0x",
            "baseFeePerGas": hex(1_000_000),
            "blockHash": block["hash"],
            "transactions": [],
            "withdrawals": [],
            "blobGasUsed": "0x0",
            "excessBlobGas": "0x0",
            "withdrawalsRoot": f["withdrawals"],
        },
    }


def _fields(block: dict) -> dict:
    return {"state": _h("state", block["parent"], block["number"]), "withdrawals": _h("withdrawals-root", block["number"]),
            "beacon": _h("beacon", block["number"]), "requests": _h("requests"), "randao": _h("randao", block["number"])}


def block_hash(block: dict) -> str:
    """keccak256(rlp(header)) exactly as geth's types.Header.Hash() for the header :func:`header` serves."""
    f = _fields(block)
    items = [_b(block["parent"]), _b(EMPTY_UNCLES), _b(FEE_RECIPIENT), _b(f["state"]), _b(EMPTY_ROOT), _b(EMPTY_ROOT),
             bytes(256), 0, block["number"], 60_000_000, 0, block["timestamp"], b"", _b(f["randao"]), bytes(8),
             1_000_000, _b(f["withdrawals"]), 0, 0, _b(f["beacon"]), _b(f["requests"])]
    return "0x" + keccak256(_rlp(items)).hex()


def header(block: dict) -> dict:
    f = _fields(block)
    return {
        "parentHash": block["parent"], "sha3Uncles": EMPTY_UNCLES, "miner": FEE_RECIPIENT,
        "stateRoot": f["state"], "transactionsRoot": EMPTY_ROOT, "receiptsRoot": EMPTY_ROOT,
        "logsBloom": BLOOM, "difficulty": "0x0", "number": hex(block["number"]), "gasLimit": hex(60_000_000),
        "gasUsed": "0x0", "timestamp": hex(block["timestamp"]), "extraData": "0x", "mixHash": f["randao"],
        "nonce": "0x0000000000000000", "baseFeePerGas": hex(1_000_000),
        "withdrawalsRoot": f["withdrawals"], "blobGasUsed": "0x0", "excessBlobGas": "0x0",
        "parentBeaconBlockRoot": f["beacon"], "requestsHash": f["requests"],
        "hash": block["hash"], "size": "0x200", "transactions": [], "uncles": [], "withdrawals": [],
    }


def rpc_call(url: str, method: str, params: list | None = None, timeout: float = 5.0) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (loopback test URL)
        reply = json.loads(resp.read())
    if reply.get("error"):
        raise RPCError(reply["error"].get("code", -32000), reply["error"].get("message", ""))
    return reply.get("result")


class NodeStub:
    """One sequencer host: its op-node and op-geth."""

    def __init__(self, name: str, cluster: "StubCluster"):
        self.name = name
        self.cluster = cluster
        self.chain = cluster.chain
        self.lock = threading.RLock()
        self.sequencer_active = False
        self.mode = "healthy"
        self.peers = 3
        self.conductor_enabled = True
        self.conductor_url: str | None = None
        self.fail: dict[str, str] = {}
        self.commit_errors = 0
        self.blocks_built = 0
        self.override = False  # admin_overrideLeader: leads without its conductor, commits nothing (until restart)
        self.restart_active = False  # the sequencer state op-node comes back with (--sequencer.stopped: False)
        self.restarts = 0
        self.servers: dict[str, ThreadingHTTPServer] = {}

    # --- op-node -----------------------------------------------------------------------------
    def _ref(self, block: dict, stalled: bool) -> dict:
        ts = block["timestamp"] - (STALL_SECONDS if stalled else 0)
        return {"hash": block["hash"], "number": block["number"], "parentHash": block["parent"], "timestamp": ts,
                "l1origin": {"hash": L1_HASH, "number": 1}, "sequenceNumber": 0}

    def sync_status(self) -> dict:
        head = self.chain.head()
        stalled = self.mode == "stalled"
        l1 = {"hash": L1_HASH, "number": 1, "parentHash": ZERO32, "timestamp": int(time.time()) - 12}
        ref = self._ref(head, stalled)
        return {
            "current_l1": l1, "current_l1_finalized": l1, "head_l1": l1, "safe_l1": l1, "finalized_l1": l1,
            "unsafe_l2": ref, "safe_l2": ref, "finalized_l2": ref, "pending_safe_l2": ref,
            "cross_unsafe_l2": ref, "local_safe_l2": ref, "cross_safe_l2": ref,
        }

    def start_sequencer(self, params: list) -> None:
        want = (params or [None])[0]
        if self.conductor_url and not self.override:
            # op-node's Sequencer.Start: must be leading to activate (the override counts as leading)
            try:
                leader = rpc_call(self.conductor_url, "conductor_leader", [], timeout=5)
            except (OSError, RPCError) as exc:
                raise RPCError(-32000, f"sequencer leader check failed: {exc}") from None
            if not leader:
                raise RPCError(-32000, "sequencer is not the leader, aborting")
        with self.lock:
            if self.sequencer_active:
                raise RPCError(-32000, "sequencer already running")
            head = self.chain.head()
            if want != head["hash"]:
                raise RPCError(-32000, f"block hash does not match: head {head['hash']}:{head['number']}, "
                                       f"received {want}")
            self.sequencer_active = True

    def post_unsafe_payload(self, params: list) -> None:
        """op-node inserts a payload op-conductor posts (its startSequencer does so when its head is one block
        ahead): here the block is appended when it extends the head and its hash is the hash of that header."""
        payload = (params or [{}])[0].get("executionPayload") or {}
        block = dict(number=int(payload.get("blockNumber", "0x0"), 16), parent=payload.get("parentHash"),
                     timestamp=int(payload.get("timestamp", "0x0"), 16), producer="posted")
        block["hash"] = block_hash(block)
        if block["hash"] != payload.get("blockHash"):
            raise RPCError(-32000, f"payload hash mismatch: computed {block['hash']}, got {payload.get('blockHash')}")
        self.chain.append(block)  # a payload that does not extend the head is ignored, as a stale gossip block

    def restart(self) -> None:
        """op-node restarted: its override is gone, its sequencer as its flags say (``restart_active``)."""
        with self.lock:
            self.override = False
            self.sequencer_active = self.restart_active
            self.restarts += 1

    def stop_sequencer(self) -> str:
        with self.lock:
            if not self.sequencer_active:
                raise RPCError(-32000, "sequencer not running")
            self.sequencer_active = False
            return self.chain.head()["hash"]

    def handle(self, side: str, method: str, params: list) -> Any:
        if method in self.fail:
            raise RPCError(-32000, self.fail[method])
        if side == "node":
            if method == "admin_conductorEnabled":
                return self.conductor_enabled
            if method == "admin_sequencerActive":
                return self.sequencer_active
            if method == "admin_startSequencer":
                self.start_sequencer(params)
                return None
            if method == "admin_stopSequencer":
                return self.stop_sequencer()
            if method == "admin_postUnsafePayload":
                self.post_unsafe_payload(params)
                return None
            if method == "admin_overrideLeader":
                self.override = True  # op-node v1.19.0 ConductorClient.OverrideLeader: set only, never cleared by RPC
                return None
            if method == "admin_setRecoverMode":
                return None
            if method == "optimism_syncStatus":
                return self.sync_status()
            if method == "opp2p_peerStats":
                n = self.peers
                return {"connected": n, "table": n, "blocksTopic": n, "blocksTopicV2": n, "blocksTopicV3": n,
                        "blocksTopicV4": n, "banned": 0, "known": n}
            if method == "optimism_version":
                return "v0.0.0-l2stub"
            if method.startswith("stub_"):
                return self.cluster.control(self, method, params)
        else:
            if method == "eth_getBlockByNumber":
                tag = (params or ["latest"])[0]
                if tag in ("latest", "pending", "safe", "finalized"):
                    block = self.chain.head()
                else:
                    block = self.chain.block(int(tag, 16))
                return header(block) if block else None
            if method == "eth_blockNumber":
                return hex(self.chain.head()["number"])
            if method == "eth_chainId":
                return hex(11155420)
            if method == "net_peerCount":
                return hex(self.peers)
            if method == "admin_peers":
                return []
        raise RPCError(-32601, f"the method {method} does not exist/is not available")

    # --- sequencing ----------------------------------------------------------------------------
    def tick(self) -> None:
        if not self.sequencer_active or self.mode == "down":
            return
        block = self.chain.next_block(self.name)
        if block is None:
            return
        if self.conductor_url and self.cluster.commit_payloads and not self.override:
            try:
                rpc_call(self.conductor_url, "conductor_commitUnsafePayload", [envelope(block)], timeout=10)
            except (OSError, RPCError) as exc:
                self.commit_errors += 1
                self.cluster.record(self.name, "hook", "conductor_commitUnsafePayload", [block["number"]],
                                    {"error": str(exc), "client": "op-node"})
                return
            self.cluster.record(self.name, "hook", "conductor_commitUnsafePayload", [block["number"]],
                                {"result": block["hash"], "client": "op-node"})
        if self.chain.append(block):
            self.blocks_built += 1


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class StubCluster:
    def __init__(self, names: list[str], block_time: int = 2, commit_payloads: bool = True,
                 host: str = "127.0.0.1"):
        self.host = host
        self.chain = Chain(block_time)
        self.commit_payloads = commit_payloads
        self.nodes: dict[str, NodeStub] = {}
        self._log: list[dict] = []
        self._log_lock = threading.Lock()
        self._seq = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.max_active_seen = 0
        self.double_active: list[dict] = []
        for name in names:
            self.add_node(name)

    # --- lifecycle -----------------------------------------------------------------------------
    def add_node(self, name: str) -> NodeStub:
        node = NodeStub(name, self)
        self.nodes[name] = node
        if self._threads:  # already started
            self._serve(node)
        return node

    def _serve(self, node: NodeStub) -> None:
        for side in ("node", "geth"):
            server = ThreadingHTTPServer((self.host, 0), _handler(self, node, side))
            server.daemon_threads = True
            node.servers[side] = server
            t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                                 name=f"l2stub-{node.name}-{side}", daemon=True)
            t.start()
            self._threads.append(t)

    def start(self) -> "StubCluster":
        for node in self.nodes.values():
            self._serve(node)
        t = threading.Thread(target=self._producer, name="l2stub-producer", daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def stop(self) -> None:
        self._stop.set()
        for node in self.nodes.values():
            for server in node.servers.values():
                server.shutdown()
                server.server_close()
        for t in self._threads:
            t.join(timeout=5)

    def __enter__(self) -> "StubCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _producer(self) -> None:
        while not self._stop.wait(0.1):
            active = [n.name for n in self.nodes.values() if n.sequencer_active]
            self.max_active_seen = max(self.max_active_seen, len(active))
            if len(active) > 1:
                self.double_active.append({"time": time.time(), "active": active})
            for node in list(self.nodes.values()):
                try:
                    node.tick()
                except Exception as exc:  # keep the producer alive; the log shows it
                    self.record(node.name, "hook", "tick", [], {"error": repr(exc), "client": "op-node"})

    # --- endpoints and state -------------------------------------------------------------------
    def url(self, name: str, side: str) -> str:
        host, port = self.nodes[name].servers[side].server_address[:2]
        return f"http://{host}:{port}"

    def node_url(self, name: str) -> str:
        return self.url(name, "node")

    def geth_url(self, name: str) -> str:
        return self.url(name, "geth")

    def set_conductor(self, name: str, url: str | None) -> None:
        self.nodes[name].conductor_url = url

    def active(self) -> list[str]:
        return [n.name for n in self.nodes.values() if n.sequencer_active]

    # --- call log ------------------------------------------------------------------------------
    def record(self, node: str, side: str, method: str, params: Any, outcome: dict) -> None:
        with self._log_lock:
            self._seq += 1
            self._log.append(dict(seq=self._seq, time=time.time(), node=node, side=side, method=method,
                                  params=params, **outcome))

    def calls(self, method: str | Callable[[str], bool] | None = None, node: str | None = None,
              since: int = 0) -> list[dict]:
        with self._log_lock:
            out = list(self._log)
        if method is not None:
            match = method if callable(method) else (lambda m: m == method)
            out = [c for c in out if match(c["method"])]
        if node is not None:
            out = [c for c in out if c["node"] == node]
        return [c for c in out if c["seq"] > since]

    def mark(self) -> int:
        with self._log_lock:
            return self._seq

    def control(self, node: NodeStub, method: str, params: list) -> Any:
        if method == "stub_calls":
            since = int(params[0]) if params else 0
            return self.calls(since=since)
        if method == "stub_state":
            return self.state()
        if method == "stub_set":
            target, key, value = params
            setattr(self.nodes[target], key, value)
            return True
        if method == "stub_setConductor":
            self.set_conductor(params[0], params[1])
            return True
        if method == "stub_restart":
            self.nodes[params[0]].restart()
            self.record(params[0], "node", "<restart>", [], {"result": None, "client": "hook"})
            return True
        raise RPCError(-32601, f"the method {method} does not exist/is not available")

    def state(self) -> dict:
        head = self.chain.head()
        return {"head": head, "nodes": {n.name: {"sequencer_active": n.sequencer_active, "mode": n.mode,
                                                 "peers": n.peers, "blocks_built": n.blocks_built,
                                                 "commit_errors": n.commit_errors, "override": n.override,
                                                 "restarts": n.restarts,
                                                 "node_rpc": self.node_url(n.name), "geth_rpc": self.geth_url(n.name)}
                                        for n in self.nodes.values()}}


def _handler(cluster: StubCluster, node: NodeStub, side: str):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # quiet
            pass

        def _send(self, status: int, payload: Any) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):  # health probes
            self._send(200, {"ok": True})

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if node.mode == "down":
                cluster.record(node.name, side, "<down>", None, {"error": "HTTP 503", "client": "?"})
                self._send(503, {"error": "stub node is down"})
                return
            try:
                request = json.loads(raw)
            except ValueError:
                self._send(200, {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}})
                return
            batch = isinstance(request, list)
            replies = [self._one(r) for r in (request if batch else [request])]
            self._send(200, replies if batch else replies[0])

        def _one(self, req: dict) -> dict:
            method = req.get("method", "")
            params = req.get("params") or []
            rid = req.get("id")
            agent = self.headers.get("User-Agent", "")
            # op-conductor is a Go client; our modules and ansible.builtin.uri are Python.
            who = {"client": "op-conductor" if agent.startswith("Go-http-client") else "ansible", "agent": agent}
            try:
                result = node.handle(side, method, params)
            except RPCError as exc:
                if not method.startswith("stub_"):
                    cluster.record(node.name, side, method, params, dict(who, error=exc.message))
                return {"jsonrpc": "2.0", "id": rid, "error": {"code": exc.code, "message": exc.message}}
            if not method.startswith("stub_"):
                logged = result if method not in ("optimism_syncStatus", "eth_getBlockByNumber") else "…"
                cluster.record(node.name, side, method, params, dict(who, result=logged))
            return {"jsonrpc": "2.0", "id": rid, "result": result}

    return Handler


def main() -> int:
    ap = argparse.ArgumentParser(description="op-node/op-geth JSON-RPC stub for op-conductor tests")
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--prefix", default="sequencer-")
    ap.add_argument("--block-time", type=int, default=2)
    ap.add_argument("--no-commit", action="store_true", help="do not commit payloads to the conductors")
    ap.add_argument("--control", nargs="+", metavar=("URL", "METHOD"),
                    help="call a stub_* control method of a running stub (URL METHOD [ARG ...]) and exit, e.g. "
                         "the op-node restart hook: --control URL stub_restart sequencer-1")
    args = ap.parse_args()
    if args.control:
        print(json.dumps(rpc_call(args.control[0], args.control[1], list(args.control[2:]))))
        return 0
    names = [f"{args.prefix}{i}" for i in range(1, args.nodes + 1)]
    cluster = StubCluster(names, block_time=args.block_time, commit_payloads=not args.no_commit).start()
    print(json.dumps({n: {"node_rpc": cluster.node_url(n), "geth_rpc": cluster.geth_url(n)} for n in names}),
          flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
