"""Drive ``fsmoracle`` (tests/e2e/opconductor/cmd/fsmoracle): op-conductor's FSM and op-service's SSZ envelope code
from the pinned optimism module (issue 16 item 1). The verbs are documented in its main.go; the binary is built by
tests/e2e/build_op_conductor.py next to op-conductor (``build_tool("fsmoracle")``).

No pytest dependency here: ``FsmOracle.build()`` is what the session fixture in test_fsm_parity.py calls.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Iterable, Optional

from ansible_collections.opstack.conductor.plugins.module_utils import _payload as payload
from ansible_collections.opstack.conductor.plugins.module_utils import _raft as raft

TOOL = "fsmoracle"


class FsmOracleError(RuntimeError):
    pass


# Where each header field sits in ExecutionPayload.header (ssz.go's order): name, start, size (numbers: uint64 LE).
_HEADER_BYTES = (("parent_hash", 0, 32), ("fee_recipient", 32, 20), ("state_root", 52, 32),
                 ("receipts_root", 84, 32), ("logs_bloom", 116, 256), ("prev_randao", 372, 32))
_HEADER_NUMBERS = (("block_number", 404), ("gas_limit", 412), ("gas_used", 420), ("timestamp", 428))


def spec_of(envelope: payload.Envelope) -> dict:
    """The oracle's field-by-field form of an envelope (every field explicit, none as SSZ)."""
    body = envelope.payload
    spec = {name: body.header[start:start + size].hex() for name, start, size in _HEADER_BYTES}
    spec.update({name: int.from_bytes(body.header[at:at + 8], "little") for name, at in _HEADER_NUMBERS})
    spec.update(beacon_root=envelope.parent_beacon_block_root.hex(), extra_data=body.extra_data.hex(),
                base_fee=body.base_fee_per_gas[::-1].hex(),  # the oracle takes the uint256 big-endian
                block_hash=body.block_hash.hex(), transactions=[tx.hex() for tx in body.transactions],
                withdrawals=None if body.withdrawals is None else [_withdrawal(w) for w in body.withdrawals],
                blob_gas_used=body.blob_gas_used, excess_blob_gas=body.excess_blob_gas,
                withdrawals_root=None if body.withdrawals_root is None else body.withdrawals_root.hex())
    return spec


def _withdrawal(raw: bytes) -> dict:
    return {"index": int.from_bytes(raw[0:8], "little"), "validator": int.from_bytes(raw[8:16], "little"),
            "address": raw[16:36].hex(), "amount": int.from_bytes(raw[36:44], "little")}


class FsmOracle:
    def __init__(self, binary: Path):
        self.binary = Path(binary)

    @classmethod
    def build(cls) -> "FsmOracle":
        from ansible_collections.opstack.conductor.tests.e2e import build_op_conductor  # noqa: PLC0415

        return cls(build_op_conductor.build_tool(TOOL))

    def _run(self, args: list, stdin: Any = None, timeout: float = 300) -> dict:
        proc = subprocess.run([str(self.binary), *map(str, args)], capture_output=True, text=True, timeout=timeout,
                              input=None if stdin is None else json.dumps(stdin), check=False)
        if proc.returncode != 0:
            raise FsmOracleError("fsmoracle %s: exit %d\n%s" % (args[0], proc.returncode, proc.stderr.strip()))
        return json.loads(proc.stdout)

    def marshal(self, envelopes: Iterable[payload.Envelope]) -> list:
        """Go's MarshalSSZ of each envelope: bytes, or the error text."""
        results = self._run(["envelope"], [spec_of(envelope) for envelope in envelopes])["results"]
        return [bytes.fromhex(r["ssz"]) if "ssz" in r else r["error"] for r in results]

    def decode(self, inputs: Iterable[bytes]) -> list:
        """For each input: "versions" {"1".."4": None or error} (UnmarshalSSZ), "apply", "restore" (None or the
        FSM's error), "head" (spec of the FSM's head after Apply, or None), "persisted" (bytes Persist writes)."""
        results = self._run(["decode"], [data.hex() for data in inputs])["results"]
        for result in results:
            if result["persisted"] is not None:
                result["persisted"] = bytes.fromhex(result["persisted"])
        return results

    def head(self, node_dir, recover: bool = False) -> dict:
        """The FSM head Go replays from a copy of node_dir (raft-boltdb opens the databases read-write)."""
        with tempfile.TemporaryDirectory(prefix="fsmoracle-") as scratch:
            copy = Path(scratch) / "node"
            shutil.copytree(str(node_dir), str(copy), symlinks=True)
            return self._run(["head", copy] + (["--recover"] if recover else []))

    def node(self, node_dir, entries: Iterable[raft.Log], snapshot: Optional[tuple] = None,
             servers=(("n1", "127.0.0.1:7001"),)) -> str:
        """A node directory written by the real stores: entries (raft.Log) through StoreLogs, and a snapshot
        (term, index, state bytes) through FileSnapshotStore.Create."""
        spec = {"entries": [{"index": e.index, "term": e.term, "type": e.type, "data": (e.data or b"").hex()}
                            for e in entries],
                "snapshot": None if snapshot is None else {"term": snapshot[0], "index": snapshot[1],
                                                           "state": snapshot[2].hex()},
                "servers": [{"id": i, "address": a} for i, a in servers]}
        self._run(["node", node_dir], spec)
        return str(node_dir)
