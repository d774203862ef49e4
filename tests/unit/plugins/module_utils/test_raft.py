"""Raft encoding rules and decoder strictness that do not need Go to state (Go parity is in tests/interop)."""

import msgpack
import pytest

from ansible_collections.opstack.conductor.plugins.module_utils import _raft as raft

SERVERS = tuple(raft.Server("sequencer-%d" % i, "sequencer-%d:50050" % i) for i in (1, 2, 3))


def descriptors(raw):
    """Every msgpack type byte in ``raw`` (walking the structure with msgpack's own unpacker)."""
    found = []

    def walk(unpacker, data):
        at = unpacker.tell()
        byte = data[at]
        found.append(byte)
        if 0x80 <= byte <= 0x8F or byte in (0xDE, 0xDF):
            for _pair in range(unpacker.read_map_header()):
                walk(unpacker, data)
                walk(unpacker, data)
        elif 0x90 <= byte <= 0x9F or byte in (0xDC, 0xDD):
            for _item in range(unpacker.read_array_header()):
                walk(unpacker, data)
        else:
            unpacker.skip()

    unpacker = msgpack.Unpacker(raw=True)
    unpacker.feed(raw)
    walk(unpacker, raw)
    return found


@pytest.mark.parametrize("length", [0, 1, 31, 32, 255, 256, 65535, 65536])
def test_strings_use_the_legacy_raw_family_only(length):
    entry = raft.Log(index=1, term=1, type=raft.LOG_COMMAND, data=b"x" * length, extensions=b"e" * length)
    found = descriptors(raft.encode_log(entry))
    assert not {0xD9, 0xC4, 0xC5, 0xC6} & set(found)
    expected = 0xA0 | length if length < 32 else 0xDA if length < 65536 else 0xDB
    assert expected in found


@pytest.mark.parametrize("value,prefix", [(0, "00"), (127, "7f"), (128, "cc80"), (255, "ccff"), (256, "cd0100"),
                                          (65536, "ce00010000"), (1 << 32, "cf0000000100000000"),
                                          ((1 << 64) - 1, "cfffffffffffffffff")])
def test_unsigned_integers_are_smallest(value, prefix):
    encoded = raft.encode_log(raft.Log(index=value, term=1, type=0)).hex()
    assert "a5496e646578" + prefix + "a4" in encoded


def test_map_keys_are_sorted_by_name_and_nil_is_c0():
    raw = raft.encode_log(raft.Log(index=1, term=2, type=5))
    document = msgpack.unpackb(raw, raw=True)
    assert list(document) == [b"AppendedAt", b"Data", b"Extensions", b"Index", b"Term", b"Type"]
    assert raw[0] == 0x86
    assert "a444617461c0" in raw.hex() and "aa457874656e73696f6e73c0" in raw.hex()


def test_zero_appended_at_is_the_marshal_binary_form_in_a_fixstr():
    raw = raft.encode_log(raft.Log(index=1, term=1, type=5))
    assert raw.hex().startswith("86aa417070656e6465644174af01000000000000000000000000ffff")


def test_configuration_layout():
    raw = raft.encode_configuration(raft.Configuration(SERVERS))
    assert msgpack.unpackb(raw, raw=True) == {b"Servers": [
        {b"Address": s.address.encode(), b"ID": s.id.encode(), b"Suffrage": 0} for s in SERVERS]}
    assert raft.decode_configuration(raw) == raft.Configuration(SERVERS)


def test_round_trip():
    entry = raft.Log(index=42, term=7, type=0, data=b"\x00\xff" * 40, extensions=b"",
                     appended_at=raft.go_time_from_unix(1752237296, 789000000))
    assert raft.decode_log(raft.encode_log(entry)) == entry
    assert raft.go_time_to_text(entry.appended_at) == "2025-07-11T12:34:56.789000000Z"


def _variant(**replace):
    fields = {b"AppendedAt": raft.GO_ZERO_TIME, b"Data": b"d", b"Extensions": None, b"Index": 1, b"Term": 1,
              b"Type": 0}
    fields.update(replace)
    return msgpack.packb(fields, use_bin_type=False)


def test_accepts_what_both_go_decoders_accept():
    # missing optional fields, AppendedAt nil, keys in any order, map16 header, wide ints, struct as array
    assert raft.decode_log(msgpack.packb({b"Index": 3, b"Term": 1, b"Type": 0}, use_bin_type=False)).index == 3
    assert raft.decode_log(_variant(AppendedAt=None)).appended_at == raft.GO_ZERO_TIME
    reordered = msgpack.packb(dict(reversed(list(msgpack.unpackb(_variant(), raw=True).items()))),
                              use_bin_type=False)
    assert raft.decode_log(reordered).data == b"d"
    raw = _variant()
    assert raft.decode_log(b"\xde\x00\x06" + raw[1:]).index == 1
    assert raft.decode_log(raw.replace(b"\xa5Index\x01", b"\xa5Index\xcf" + (1).to_bytes(8, "big"))).index == 1
    as_array = msgpack.packb([5, 2, 0, b"d", None, raft.GO_ZERO_TIME], use_bin_type=False)
    assert raft.decode_log(as_array).index == 5
    # str8 keys are read by both decoders
    str8 = _variant().replace(b"\xa4Data", b"\xd9\x04Data")
    assert raft.decode_log(str8).data == b"d"


@pytest.mark.parametrize("mutate,reason", [
    (lambda raw: raw.replace(b"\xa4Data", b"\xc4\x04Data"), "bin"),
    (lambda raw: raw.replace(b"\xaf\x01", b"\xd9\x0f\x01", 1), "fixstr"),
    (lambda raw: raw.replace(b"\xaf\x01", b"\xc4\x0f\x01", 1), "fixstr"),
    (lambda raw: raw.replace(b"\xa5Index", b"\xa5index"), "Index"),
    (lambda raw: _variant(AppendedAt=b"\x68\x71\x04\xf0"), "new time format"),
    (lambda raw: _variant(AppendedAt=msgpack.Timestamp(1, 0)), "v1 cannot decode"),
    (lambda raw: _variant(Index=-1), "unsigned"),
    (lambda raw: _variant(Type=256), "uint8"),
    (lambda raw: raw[:-3], "not valid msgpack"),
    (lambda raw: b"\x01", "expected a map"),
])
def test_refuses_what_a_go_decoder_refuses_or_misreads(mutate, reason):
    with pytest.raises(raft.DecodeError, match=reason):
        raft.decode_log(mutate(_variant()))


def test_configuration_decode_errors():
    with pytest.raises(raft.DecodeError):
        raft.decode_configuration(b"\x81\xa7Servers\x91\x83\xa7Address\x01\xa2ID\xa1a\xa8Suffrage\x00")
    with pytest.raises(raft.DecodeError, match="suffrage"):
        raft.decode_configuration(msgpack.packb({b"Servers": [{b"ID": b"a", b"Address": b"b", b"Suffrage": 9}]}))
    assert raft.decode_configuration(b"\x81\xa7Servers\xc0") == raft.Configuration(())


def test_crc64_is_crc64_xz():
    assert raft.crc64_ecma([b"123456789"]).hex() == "995dc9bbdf1939fa"  # the published CRC-64/XZ check value
    assert raft.crc64_ecma([b"1234", b"56789"]) == raft.crc64_ecma([b"123456789"])
