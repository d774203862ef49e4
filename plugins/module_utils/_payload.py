# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The SSZ ``ExecutionPayloadEnvelope`` op-conductor's FSM holds, as op-service's eth package reads and writes it.

Source: optimism v1.19.0 ``op-service/eth/ssz.go`` (``UnmarshalSSZ``/``MarshalSSZ``) and
``op-conductor/consensus/raft_fsm.go`` (``Apply``/``Restore`` decode as BlockV4, then as BlockV3; ``Persist`` writes
``MarshalSSZ``). The envelope is the 32-byte parent beacon block root followed by the payload; the payload's fixed
part holds offsets to its three variable parts (extra data, transactions, withdrawals). Every check Go makes is
made here, so an input Go rejects is rejected, and ``marshal_envelope`` writes the bytes Go writes (it re-infers the
version from the fields: a V4 payload whose withdrawals root is the empty-withdrawals hash is written as V3).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import List, Optional, Tuple

from ansible_collections.opstack.conductor.plugins.module_utils._errors import OpstackError

# BlockVersion (ssz.go: BlockV1 .. BlockV4 = iota 0..3); here named by their number.
V1, V2, V3, V4 = 1, 2, 3, 4

_V1_FIXED = 32 + 20 + 32 + 32 + 256 + 32 + 8 + 8 + 8 + 8 + 4 + 32 + 32 + 4  # 508: offsets to extra data, txs
FIXED_PART = {V1: _V1_FIXED, V2: _V1_FIXED + 4, V3: _V1_FIXED + 4 + 16, V4: _V1_FIXED + 4 + 16 + 32}
HASH_LENGTH = 32
WITHDRAWAL_SIZE = 8 + 8 + 20 + 8
MAX_TRANSACTIONS = 1 << 20  # MAX_TRANSACTIONS_PER_PAYLOAD
MAX_WITHDRAWALS = 1 << 4  # MAX_WITHDRAWALS_PER_PAYLOAD
MAX_EXTRA_DATA = 32
# go-ethereum core/types.EmptyWithdrawalsHash (the root of an empty withdrawals trie)
EMPTY_WITHDRAWALS_HASH = bytes.fromhex("56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421")

# Byte offsets inside the payload (not the envelope: add 32 for those).
HEADER_SIZE = 436  # ParentHash .. Timestamp, copied as they are
BLOCK_NUMBER_AT = 404
EXTRA_DATA_OFFSET_AT = 436
BASE_FEE_AT = 440
BLOCK_HASH_AT = 472
TRANSACTIONS_OFFSET_AT = 504
WITHDRAWALS_OFFSET_AT = 508
BLOB_GAS_AT = 512
WITHDRAWALS_ROOT_AT = 528

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


class PayloadError(OpstackError, ValueError):
    """Bytes op-service's eth package does not decode as an execution payload (envelope), or a payload it cannot
    encode; the message says which field and value."""


@dataclass(frozen=True)
class ExecutionPayload:
    """eth.ExecutionPayload; the fields the FSM never looks at are kept as the bytes Go copies."""

    header: bytes  # ParentHash, FeeRecipient, StateRoot, ReceiptsRoot, LogsBloom, PrevRandao, numbers: 436 bytes
    base_fee_per_gas: bytes  # 32 bytes, little-endian
    block_hash: bytes
    extra_data: bytes
    transactions: Tuple[bytes, ...]
    withdrawals: Optional[Tuple[bytes, ...]] = None  # each 44 bytes as stored; None before V2 (Shanghai)
    blob_gas_used: Optional[int] = None  # V3 (Ecotone) and later
    excess_blob_gas: Optional[int] = None
    withdrawals_root: Optional[bytes] = None  # V4 (Isthmus)

    @property
    def block_number(self) -> int:
        return _U64.unpack_from(self.header, BLOCK_NUMBER_AT)[0]

    @property
    def parent_hash(self) -> bytes:
        return self.header[:32]


@dataclass(frozen=True)
class Envelope:
    """eth.ExecutionPayloadEnvelope, with the version it was decoded as."""

    parent_beacon_block_root: bytes
    payload: ExecutionPayload
    version: int

    @property
    def block_number(self) -> int:
        return self.payload.block_number

    @property
    def block_hash(self) -> bytes:
        return self.payload.block_hash

    @property
    def block_hash_hex(self) -> str:
        return "0x" + self.payload.block_hash.hex()


# ================================================================================================================
# Decoding (ExecutionPayload.UnmarshalSSZ, ExecutionPayloadEnvelope.UnmarshalSSZ)
# ================================================================================================================


def unmarshal_payload(version: int, data: bytes) -> ExecutionPayload:
    """ExecutionPayload.UnmarshalSSZ(version, scope=len(data)): every check of ssz.go, in its order."""
    fixed = FIXED_PART[version]
    scope = len(data)
    if scope < fixed:
        raise PayloadError("%d bytes, too small for the %d-byte fixed part of a V%d payload" % (scope, fixed, version))
    extra_at = _U32.unpack_from(data, EXTRA_DATA_OFFSET_AT)[0]
    if extra_at != fixed:
        raise PayloadError("extra data offset is %d, expected %d (the V%d fixed part)" % (extra_at, fixed, version))
    transactions_at = _U32.unpack_from(data, TRANSACTIONS_OFFSET_AT)[0]
    if transactions_at < extra_at:
        raise PayloadError("transactions offset %d is below the extra data offset %d" % (transactions_at, extra_at))
    withdrawals_at = _withdrawals_offset(version, data, transactions_at)
    if transactions_at > extra_at + MAX_EXTRA_DATA or transactions_at > scope:
        raise PayloadError("extra data is %d bytes (transactions offset %d), more than %d or beyond the end (%d)"
                           % (transactions_at - extra_at, transactions_at, MAX_EXTRA_DATA, scope))
    blob_gas_used = excess_blob_gas = withdrawals_root = None
    if version >= V3:
        blob_gas_used, excess_blob_gas = struct.unpack_from("<QQ", data, BLOB_GAS_AT)
    if version >= V4:
        withdrawals_root = bytes(data[WITHDRAWALS_ROOT_AT:WITHDRAWALS_ROOT_AT + 32])
    return ExecutionPayload(
        header=bytes(data[:HEADER_SIZE]), base_fee_per_gas=bytes(data[BASE_FEE_AT:BASE_FEE_AT + 32]),
        block_hash=bytes(data[BLOCK_HASH_AT:BLOCK_HASH_AT + 32]), extra_data=bytes(data[extra_at:transactions_at]),
        transactions=unmarshal_transactions(data[transactions_at:withdrawals_at]),
        withdrawals=unmarshal_withdrawals(data[withdrawals_at:]) if version >= V2 else None,
        blob_gas_used=blob_gas_used, excess_blob_gas=excess_blob_gas, withdrawals_root=withdrawals_root)


def _withdrawals_offset(version: int, data: bytes, transactions_at: int) -> int:
    """Where the withdrawals start: the end for V1 (which has none)."""
    if version == V1:
        return len(data)
    withdrawals_at = _U32.unpack_from(data, WITHDRAWALS_OFFSET_AT)[0]
    if withdrawals_at < transactions_at:
        raise PayloadError("withdrawals offset %d is below the transactions offset %d"
                           % (withdrawals_at, transactions_at))
    if withdrawals_at > len(data):
        raise PayloadError("withdrawals offset %d is beyond the end (%d)" % (withdrawals_at, len(data)))
    return withdrawals_at


def unmarshal_transactions(data: bytes) -> Tuple[bytes, ...]:
    """ssz.go unmarshalTransactions: a list of offsets (the first says how many), then the transactions."""
    scope = len(data)
    if scope == 0:
        return ()
    if scope < 4:
        raise PayloadError("transactions: %d bytes, too few for the first offset" % scope)
    first = _U32.unpack_from(data, 0)[0]
    if first % 4 != 0:
        raise PayloadError("transactions: first offset %d is not a multiple of 4" % first)
    if first > scope:
        raise PayloadError("transactions: first offset %d is beyond the list's %d bytes" % (first, scope))
    count = first // 4
    if count == 0:
        raise PayloadError("transactions: first offset 0 while the list holds %d bytes" % scope)
    if count > MAX_TRANSACTIONS:
        raise PayloadError("transactions: %d, more than %d" % (count, MAX_TRANSACTIONS))
    transactions = []  # type: List[bytes]
    current = first
    for position in range(count):
        following = _U32.unpack_from(data, 4 * (position + 1))[0] if position + 1 < count else scope
        if following < current or following > scope:
            raise PayloadError("transaction %d ends at offset %d, before its start %d or beyond the list's %d bytes"
                               % (position, following, current, scope))
        transactions.append(bytes(data[current:following]))
        current = following
    return tuple(transactions)


def unmarshal_withdrawals(data: bytes) -> Tuple[bytes, ...]:
    """ssz.go unmarshalWithdrawals: 44-byte records (index, validator, address, amount), at most 16."""
    if len(data) % WITHDRAWAL_SIZE != 0:
        raise PayloadError("withdrawals: %d bytes, not a multiple of %d" % (len(data), WITHDRAWAL_SIZE))
    count = len(data) // WITHDRAWAL_SIZE
    if count > MAX_WITHDRAWALS:
        raise PayloadError("withdrawals: %d, more than %d" % (count, MAX_WITHDRAWALS))
    return tuple(bytes(data[at:at + WITHDRAWAL_SIZE]) for at in range(0, len(data), WITHDRAWAL_SIZE))


def unmarshal_envelope(version: int, data: bytes) -> Envelope:
    """ExecutionPayloadEnvelope.UnmarshalSSZ(version, scope=len(data))."""
    if len(data) < HASH_LENGTH:
        raise PayloadError("%d bytes, too small for the 32-byte parent beacon block root" % len(data))
    payload = unmarshal_payload(version, memoryview(data)[HASH_LENGTH:])
    return Envelope(bytes(data[:HASH_LENGTH]), payload, version)


def decode_fsm_envelope(data: bytes) -> Envelope:
    """What op-conductor's FSM Apply (and Restore) makes of a log entry's data (a snapshot's state.bin): empty is
    refused, then the envelope is decoded as V4 and, if that fails, as V3. V1 and V2 envelopes are refused."""
    if len(data) == 0:
        raise PayloadError("empty: the FSM refuses empty log data")
    data = data[:len(data) & 0xFFFFFFFF]  # Go passes uint32(len) as the scope and reads only that far
    try:
        return unmarshal_envelope(V4, data)
    except PayloadError as as_v4:
        try:
            return unmarshal_envelope(V3, data)
        except PayloadError as as_v3:
            reasons = str(as_v3) if str(as_v3) == str(as_v4) else "as V4, %s; as V3, %s" % (as_v4, as_v3)
            raise PayloadError("not an execution payload envelope op-conductor's FSM decodes (%d bytes): %s"
                               % (len(data), reasons))


# ================================================================================================================
# Encoding (ExecutionPayload.MarshalSSZ, ExecutionPayloadEnvelope.MarshalSSZ)
# ================================================================================================================


def infer_version(payload: ExecutionPayload) -> int:
    """ExecutionPayload.inferVersion: from which fields are set, not from how the payload was decoded."""
    if payload.withdrawals_root is not None and payload.withdrawals_root != EMPTY_WITHDRAWALS_HASH:
        return V4
    if payload.excess_blob_gas is not None and payload.blob_gas_used is not None:
        return V3
    if payload.withdrawals is not None:
        return V2
    return V1


def marshal_payload(payload: ExecutionPayload) -> bytes:
    """ExecutionPayload.MarshalSSZ. PayloadError where Go returns an error or panics (field combinations no
    decoded payload has)."""
    version = infer_version(payload)
    fixed = FIXED_PART[version]
    _check_marshallable(payload, version)
    transactions = marshal_transactions(payload.transactions)
    withdrawals = b"".join(payload.withdrawals or ())
    parts = [payload.header, _U32.pack(fixed), payload.base_fee_per_gas, payload.block_hash,
             _U32.pack(fixed + len(payload.extra_data))]
    if payload.withdrawals is not None:
        parts.append(_U32.pack(fixed + len(payload.extra_data) + len(transactions)))
    if version >= V3:
        parts.append(_U64.pack(payload.blob_gas_used) + _U64.pack(payload.excess_blob_gas))
    if version == V4:
        parts.append(payload.withdrawals_root)
    encoded = b"".join(parts + [payload.extra_data, transactions, withdrawals])
    if len(encoded) > 0xFFFFFFFF:
        raise PayloadError("payload of %d bytes does not fit SSZ's 32-bit offsets" % len(encoded))
    return encoded


def _check_marshallable(payload: ExecutionPayload, version: int) -> None:
    sizes = (("header", payload.header, HEADER_SIZE), ("base_fee_per_gas", payload.base_fee_per_gas, 32),
             ("block_hash", payload.block_hash, 32))
    for name, value, size in sizes:
        if len(value) != size:
            raise PayloadError("%s is %d bytes, expected %d" % (name, len(value), size))
    if len(payload.extra_data) > MAX_EXTRA_DATA:
        raise PayloadError("extra_data is %d bytes, more than %d" % (len(payload.extra_data), MAX_EXTRA_DATA))
    if any(len(withdrawal) != WITHDRAWAL_SIZE for withdrawal in payload.withdrawals or ()):
        raise PayloadError("a withdrawal is not %d bytes" % WITHDRAWAL_SIZE)
    if version >= V3 and (payload.blob_gas_used is None or payload.excess_blob_gas is None):
        raise PayloadError("a V%d payload without blob gas fields (Go: cannot encode ecotone payload without dencun "
                           "header attributes)" % version)
    if version >= V2 and payload.withdrawals is None:  # Go panics: "fixed part size is inconsistent"
        raise PayloadError("a V%d payload without withdrawals: Go's MarshalSSZ panics on it" % version)


def marshal_transactions(transactions: Tuple[bytes, ...]) -> bytes:
    offsets, at = [], 4 * len(transactions)
    for transaction in transactions:
        offsets.append(_U32.pack(at))
        at += len(transaction)
    return b"".join(offsets) + b"".join(transactions)


def marshal_envelope(envelope: Envelope) -> bytes:
    """ExecutionPayloadEnvelope.MarshalSSZ: the parent beacon block root, then the payload."""
    if len(envelope.parent_beacon_block_root) != HASH_LENGTH:
        raise PayloadError("parent_beacon_block_root is %d bytes, expected 32" % len(envelope.parent_beacon_block_root))
    return envelope.parent_beacon_block_root + marshal_payload(envelope.payload)


def persisted_bytes(envelope: Envelope) -> bytes:
    """The bytes op-conductor's FSM Persist writes for this head (state.bin of a snapshot): MarshalSSZ, which
    re-infers the version, so a V4 head whose withdrawals root is the empty-withdrawals hash is written as V3,
    32 bytes shorter; any other decoded envelope is written back byte for byte."""
    return marshal_envelope(envelope)
