"""The SSZ execution payload envelope (issue 16 item 1), without Go: round trips, the FSM's V4-then-V3 decoding, every
check of op-service's UnmarshalSSZ, and the bytes Persist writes. tests/interop/test_fsm_parity.py holds the same
decoder to the real Go code."""

import struct

import pytest

from ansible_collections.opstack.conductor.plugins.module_utils import _payload as payload
from ansible_collections.opstack.conductor.plugins.module_utils._errors import OpstackError
from ansible_collections.opstack.conductor.tests.support.payloads import (
    envelope_bytes, make_envelope, v4_with_empty_withdrawals_root)

ENVELOPE = 32  # the parent beacon block root before the payload


@pytest.mark.parametrize("version", [1, 2, 3, 4])
def test_every_version_round_trips(version):
    envelope = make_envelope(version, number=12345, transactions=(b"a" * 100, b"", b"bc"), withdrawals=3)
    data = payload.marshal_envelope(envelope)
    assert len(data) == ENVELOPE + payload.FIXED_PART[version] + 5 + (4 * 3 + 102) + (44 * 3 if version > 1 else 0)
    assert payload.unmarshal_envelope(version, data) == envelope
    assert payload.infer_version(envelope.payload) == version


def test_block_number_and_hash_sit_where_the_issue_says():
    data = envelope_bytes(4, number=0x0102030405060708)
    envelope = payload.decode_fsm_envelope(data)
    assert data[436:444] == struct.pack("<Q", 0x0102030405060708)  # envelope offset 436 = payload 404
    assert data[504:536] == envelope.block_hash  # payload offset 472
    assert envelope.block_hash_hex == "0x" + data[504:536].hex()
    assert envelope.parent_beacon_block_root == data[:32]


@pytest.mark.parametrize("version", [3, 4])
def test_the_fsm_decodes_v4_then_v3(version):
    envelope = make_envelope(version, number=77)
    assert payload.decode_fsm_envelope(payload.marshal_envelope(envelope)) == envelope


@pytest.mark.parametrize("version", [1, 2])
def test_the_fsm_refuses_v1_and_v2(version):
    with pytest.raises(payload.PayloadError, match="extra data offset is %d, expected 560" % payload.FIXED_PART[version]):
        payload.decode_fsm_envelope(envelope_bytes(version, number=5, transactions=(b"t" * 100,)))


def test_empty_data_is_refused_and_the_error_is_an_opstack_error():
    with pytest.raises(OpstackError, match="empty"):
        payload.decode_fsm_envelope(b"")
    assert issubclass(payload.PayloadError, ValueError)


def test_persist_writes_a_v4_payload_with_the_empty_withdrawals_root_as_v3():
    # op-conductor never commits such an entry (CommitUnsafePayload writes MarshalSSZ, already V3), but a V4 entry
    # with that root decodes as V4, and Persist then writes V3
    assert envelope_bytes(4, number=9, root=payload.EMPTY_WITHDRAWALS_HASH) == envelope_bytes(3, number=9)
    envelope = payload.decode_fsm_envelope(v4_with_empty_withdrawals_root(number=9))
    assert envelope.version == 4
    persisted = payload.persisted_bytes(envelope)
    assert len(persisted) == len(payload.marshal_envelope(envelope)) == len(envelope_bytes(3, number=9)) \
        == len(envelope_bytes(4, number=9)) - 32
    again = payload.decode_fsm_envelope(persisted)
    assert (again.version, again.block_number, again.block_hash) == (3, 9, envelope.block_hash)
    assert again.payload.withdrawals_root is None and again.payload.withdrawals == envelope.payload.withdrawals


@pytest.mark.parametrize("version, root", [(4, bytes(32)), (4, b"\x56" + bytes(31)), (3, None)])
def test_persist_writes_any_other_decoded_envelope_back_byte_for_byte(version, root):
    data = envelope_bytes(version, number=3, root=root, transactions=(b"x" * 10,) * 4)
    assert payload.persisted_bytes(payload.decode_fsm_envelope(data)) == data


def _v4(**fields):
    return bytearray(envelope_bytes(4, number=1, **fields))


def _at(data, offset, value, fmt="<I"):
    data = bytearray(data)
    struct.pack_into(fmt, data, ENVELOPE + offset, value)
    return bytes(data)


def _rejections():
    """(name, bytes, what the V4 error says): one for each check of UnmarshalSSZ."""
    base = _v4(transactions=(b"tx-1", b"tx-22"), withdrawals=2, extra=b"12345")
    fixed = payload.FIXED_PART[4]
    tx_at, wd_at = fixed + 5, fixed + 5 + 8 + 9
    return [
        ("short-root", bytes(base[:31]), "too small for the 32-byte parent beacon block root"),
        ("short-fixed", bytes(base[:ENVELOPE + fixed - 1]), "too small for the 560-byte fixed part"),
        ("extra-offset", _at(base, payload.EXTRA_DATA_OFFSET_AT, fixed + 1), "extra data offset is 561"),
        ("tx-below-extra", _at(base, payload.TRANSACTIONS_OFFSET_AT, fixed - 1), "below the extra data offset"),
        ("wd-below-tx", _at(base, payload.WITHDRAWALS_OFFSET_AT, tx_at - 1), "below the transactions offset"),
        ("wd-beyond-end", _at(base, payload.WITHDRAWALS_OFFSET_AT, len(base) - ENVELOPE + 1), "is beyond the end"),
        ("extra-too-long", _at(_at(base, payload.TRANSACTIONS_OFFSET_AT, fixed + 33), payload.WITHDRAWALS_OFFSET_AT,
                               fixed + 33), "extra data is 33 bytes"),
        ("tx-first-unaligned", _at(base, tx_at, 7), "not a multiple of 4"),
        ("tx-first-beyond", _at(base, tx_at, 400), "beyond the list's"),
        ("tx-first-zero", _at(base, tx_at, 0), "first offset 0"),
        ("tx-next-backwards", _at(base, tx_at + 4, 7), "transaction 0 ends at offset 7"),
        ("tx-next-beyond", _at(base, tx_at + 4, 18), "transaction 0 ends at offset 18"),
        ("tx-list-too-short", _at(_at(base, payload.TRANSACTIONS_OFFSET_AT, tx_at - 2), payload.WITHDRAWALS_OFFSET_AT,
                                  tx_at), "too few for the first offset"),
        ("wd-not-multiple", bytes(base[:-1]), "not a multiple of 44"),
        ("wd-too-many", bytes(_v4(withdrawals=17)), "withdrawals: 17, more than 16"),
    ]


@pytest.mark.parametrize("name, data, message", _rejections(), ids=[r[0] for r in _rejections()])
def test_every_check_of_unmarshal_ssz_refuses(name, data, message):
    with pytest.raises(payload.PayloadError) as raised:
        payload.unmarshal_envelope(4, data)
    assert message in str(raised.value)
    with pytest.raises(payload.PayloadError, match="FSM decodes"):
        payload.decode_fsm_envelope(data)


def test_what_the_checks_allow_is_accepted():
    sixteen = _v4(withdrawals=16, transactions=(), extra=b"")
    assert len(payload.decode_fsm_envelope(bytes(sixteen)).payload.withdrawals) == 16
    limit = _v4(extra=b"e" * 32, transactions=(b"", b"", b""))
    assert payload.decode_fsm_envelope(bytes(limit)).payload.extra_data == b"e" * 32
    # a V3 envelope with trailing bytes that happen to be whole withdrawals
    v3 = envelope_bytes(3, number=4, withdrawals=0) + bytes(44)
    assert len(payload.decode_fsm_envelope(v3).payload.withdrawals) == 1


def test_marshalling_refuses_what_go_cannot_encode():
    good = make_envelope(4, number=1)
    with pytest.raises(payload.PayloadError, match="extra_data is 33 bytes"):
        payload.marshal_envelope(make_envelope(4, extra=b"x" * 33))
    with pytest.raises(payload.PayloadError, match="without withdrawals"):
        payload.marshal_payload(payload.ExecutionPayload(good.payload.header, bytes(32), bytes(32), b"", (),
                                                         None, 1, 2, None))
    with pytest.raises(payload.PayloadError, match="without blob gas"):
        payload.marshal_payload(payload.ExecutionPayload(good.payload.header, bytes(32), bytes(32), b"", (),
                                                         (), None, None, bytes([1]) * 32))
    with pytest.raises(payload.PayloadError, match="parent_beacon_block_root is 3 bytes"):
        payload.marshal_envelope(payload.Envelope(b"abc", good.payload, 4))
