"""Node directories holding op-conductor's FSM state, for the raft_recover tests: SSZ execution payload envelopes,
log entries and snapshots carrying them, and the Go harness ``raftrecover`` (tests/e2e/opconductor/cmd/raftrecover:
the real raft.RecoverCluster and real Raft nodes with op-conductor's own FSM from the pinned optimism module)."""

import base64
import json
import os
import subprocess
from pathlib import Path

from ansible_collections.opstack.conductor.plugins.module_utils import _bbolt as bolt
from ansible_collections.opstack.conductor.plugins.module_utils import _payload as payload
from ansible_collections.opstack.conductor.plugins.module_utils import _raft as raft
from ansible_collections.opstack.conductor.tests.support import payloads

HARNESS_CMD = "raftrecover"


# ================================================================================================================
# Envelopes
# ================================================================================================================


def envelope(number, version=payload.V4, empty_withdrawals_root=False):
    """The SSZ bytes of an ExecutionPayloadEnvelope for block ``number`` (tests/support/payloads.py builds it).
    ``empty_withdrawals_root``: a V4 envelope whose withdrawals root is the empty-withdrawals hash, which
    op-conductor's FSM decodes as V4 and persists as V3."""
    if empty_withdrawals_root:
        return payloads.v4_with_empty_withdrawals_root(number)
    return payloads.envelope_bytes(version, number)


def block_hash_hex(data):
    """The block hash of an envelope's bytes, 0x hex (as the FSM reports it)."""
    at = payload.HASH_LENGTH + payload.BLOCK_HASH_AT
    return "0x" + data[at:at + 32].hex()


# ================================================================================================================
# Node directories written in Python
# ================================================================================================================


def append_entries(node_dir, entries, current_term=None):
    """Add log entries [(index, term, type, data)] to a node's raft-log.db (and raise CurrentTerm to
    ``current_term``)."""
    log_path = os.path.join(str(node_dir), raft.LOG_FILE)
    content = bolt.read_database(log_path)
    for index, term, kind, data in entries:
        content[raft.BUCKET_LOGS][raft.uint64_key(index)] = raft.encode_log(
            raft.Log(index=index, term=term, type=kind, data=data))
    _rewrite(log_path, content)
    if current_term is not None:
        stable_path = os.path.join(str(node_dir), raft.STABLE_FILE)
        stable = bolt.read_database(stable_path)
        stable[raft.BUCKET_CONF][raft.KEY_CURRENT_TERM] = raft.U64.pack(current_term)
        _rewrite(stable_path, stable)


def drop_entries(node_dir, up_to):
    """Compaction: remove log entries 1..up_to (a snapshot covers them)."""
    log_path = os.path.join(str(node_dir), raft.LOG_FILE)
    content = bolt.read_database(log_path)
    for index in range(1, up_to + 1):
        content[raft.BUCKET_LOGS].pop(raft.uint64_key(index), None)
    _rewrite(log_path, content)


def _rewrite(path, content):
    with bolt.BoltReader(path) as reader:
        page_size = reader.page_size
    with open(path, "wb") as handle:
        handle.write(bolt.build_database(content, page_size))


def commands(first_index, term, numbers, **kwargs):
    """LogCommand entries from ``first_index`` carrying envelopes of these block numbers."""
    return [(first_index + offset, term, raft.LOG_COMMAND, envelope(number, **kwargs))
            for offset, number in enumerate(numbers)]


# ================================================================================================================
# The Go harness
# ================================================================================================================


def harness_binary():
    """raftrecover built (or reused) by the e2e builder against the pinned optimism module op-conductor is built
    from (tests/e2e/build_op_conductor.py builds every cmd/ package)."""
    from ansible_collections.opstack.conductor.tests.e2e import build_op_conductor  # noqa: PLC0415

    return build_op_conductor.build_tool(HARNESS_CMD)


def run_harness(binary, verb, *args, timeout=120):
    """One verb of raftrecover: (exit code, its JSON object or None, stderr)."""
    proc = subprocess.run([str(binary), verb, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          check=False)
    out = proc.stdout.strip()
    return proc.returncode, json.loads(out) if out else None, proc.stderr


def write_json(path, document):
    Path(path).write_text(json.dumps(document))
    return str(path)


def b64_list(items):
    return [base64.b64encode(item).decode() for item in items]
