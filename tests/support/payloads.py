"""Execution payload envelopes for the tests (issue 16): built field by field and encoded with our marshaller, and
node directories whose log entries and snapshot hold them (the shapes op-conductor's FSM replays)."""

import os

from ansible_collections.opstack.conductor.plugins.module_utils import _bbolt as bolt
from ansible_collections.opstack.conductor.plugins.module_utils import _payload as payload
from ansible_collections.opstack.conductor.plugins.module_utils import _raft as raft
from ansible_collections.opstack.conductor.tests.support.nodes import configuration, write_snapshot

NON_EMPTY_ROOT = bytes(range(32))


def make_payload(version=payload.V4, number=1, transactions=(b"\x02tx-a", b""), withdrawals=1, extra=b"extra",
                 root=NON_EMPTY_ROOT, seed=7):
    """A payload of ``version`` (1..4) with block number ``number``; every other field distinct and derived from
    seed and number, so two payloads differ everywhere. ``withdrawals``: how many (V2 and later)."""
    def filler(size, salt):
        return bytes((seed * 31 + number * 7 + salt + i) % 256 for i in range(size))

    header = filler(404, 1) + number.to_bytes(8, "little") + filler(24, 2)  # ..., gas limit/used, timestamp
    return payload.ExecutionPayload(
        header=header, base_fee_per_gas=filler(32, 3), block_hash=filler(32, 4 + number), extra_data=extra,
        transactions=tuple(transactions),
        withdrawals=tuple(filler(payload.WITHDRAWAL_SIZE, 10 + i) for i in range(withdrawals))
        if version >= payload.V2 else None,
        blob_gas_used=(131072 + number) % 2 ** 64 if version >= payload.V3 else None,
        excess_blob_gas=number * 3 % 2 ** 64 if version >= payload.V3 else None,
        withdrawals_root=root if version >= payload.V4 else None)


def make_envelope(version=payload.V4, number=1, beacon_root=None, **fields):
    return payload.Envelope(beacon_root or bytes([number % 256]) * 32, make_payload(version, number, **fields),
                            version)


def envelope_bytes(version=payload.V4, number=1, **fields):
    return payload.marshal_envelope(make_envelope(version, number, **fields))


def v4_with_empty_withdrawals_root(number=1, **fields):
    """A V4 envelope whose withdrawals root is the empty-withdrawals hash. No MarshalSSZ writes one (it infers V3
    from that root, and op-conductor commits MarshalSSZ output), so the root is patched into a V4 encoding."""
    data = bytearray(envelope_bytes(payload.V4, number, **fields))
    at = payload.HASH_LENGTH + payload.WITHDRAWALS_ROOT_AT
    data[at:at + 32] = payload.EMPTY_WITHDRAWALS_HASH
    return bytes(data)


def command(index, term, data):
    return raft.Log(index=index, term=term, type=raft.LOG_COMMAND, data=data,
                    appended_at=raft.go_time_from_unix(1795682304 + index))


def write_fsm_node(node_dir, entries, snapshot=None, servers=(("n1", "127.0.0.1:7001", "voter"),)):
    """A node directory: a configuration at index 1 (term of the first entry) unless the first entry given is at a
    higher index, then ``entries`` ([raft.Log]); ``snapshot``: (term, index, state.bin bytes) or None."""
    os.makedirs(str(node_dir), exist_ok=True)
    entries = list(entries)
    if not entries or entries[0].index == 2:
        term = entries[0].term if entries else 1
        entries.insert(0, raft.Log(index=1, term=term, type=raft.LOG_CONFIGURATION, data=configuration(servers)))
    logs = {raft.uint64_key(entry.index): raft.encode_log(entry) for entry in entries}
    with open(os.path.join(str(node_dir), raft.LOG_FILE), "wb") as handle:
        handle.write(bolt.build_database({raft.BUCKET_CONF: {}, raft.BUCKET_LOGS: logs}))
    term = max([entry.term for entry in entries] + [snapshot[0] if snapshot else 0])
    with open(os.path.join(str(node_dir), raft.STABLE_FILE), "wb") as handle:
        handle.write(bolt.build_database({raft.BUCKET_CONF: {raft.KEY_CURRENT_TERM: raft.U64.pack(term)},
                                          raft.BUCKET_LOGS: {}}))
    if snapshot is not None:
        write_snapshot(node_dir, [{"id": s[0], "address": s[1]} for s in servers], snapshot[0], snapshot[1],
                       state=snapshot[2])
    return str(node_dir)
