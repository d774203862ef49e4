"""Issue 16 item 1, proved against the real Go code of the pinned optimism (v1.19.0): our SSZ envelope codec
(_payload) and FSM replay (_fsm) against op-service's eth package and op-conductor's own FSM
(consensus.NewUnsafeHeadTracker), fed by raft-boltdb v2 and raft's FileSnapshotStore as op-conductor opens them
(tests/e2e/opconductor/cmd/fsmoracle, built by tests/e2e/build_op_conductor.py)."""

import dataclasses
import json
import os
import random

import pytest

import fsm_oracle  # tests/interop/fsm_oracle.py (pytest puts this directory first)
from ansible_collections.opstack.conductor.plugins.module_utils import _fsm as fsm
from ansible_collections.opstack.conductor.plugins.module_utils import _payload as payload
from ansible_collections.opstack.conductor.plugins.module_utils import _raft as raft
from ansible_collections.opstack.conductor.tests.support.nodes import write_snapshot
from ansible_collections.opstack.conductor.tests.support.payloads import (
    command, envelope_bytes, make_envelope, v4_with_empty_withdrawals_root, write_fsm_node)


@pytest.fixture(scope="session")
def go_fsm():
    """fsmoracle compiled against the pinned optimism module (a missing Go toolchain fails: it never skips)."""
    return fsm_oracle.FsmOracle.build()


def _envelopes():
    """V1..V4 envelopes over the shapes the variable parts can take."""
    shapes = [dict(), dict(transactions=(), withdrawals=0, extra=b""), dict(extra=b"x" * 32),
              dict(transactions=tuple(bytes([i]) * (i * 37) for i in range(12)), withdrawals=16),
              dict(transactions=(b"",) * 5, withdrawals=1, extra=b"\0")]
    envelopes = [make_envelope(version, number=1000 * version + i, seed=i, **shape)
                 for version in (1, 2, 3, 4) for i, shape in enumerate(shapes)]
    big = make_envelope(4, number=2 ** 64 - 1, transactions=(os.urandom(70000),))
    return envelopes + [big, make_envelope(4, number=3, root=payload.EMPTY_WITHDRAWALS_HASH),
                        make_envelope(4, number=4, root=bytes(32))]


def test_our_marshalling_is_go_marshal_ssz_for_v1_to_v4(go_fsm):
    envelopes = _envelopes()
    ours = [payload.marshal_envelope(envelope) for envelope in envelopes]
    assert go_fsm.marshal(envelopes) == ours
    # a V4 payload with the empty-withdrawals root: Go writes V3 too (inferVersion)
    assert len(ours[-2]) == len(ours[-1]) - 32


def _compare_decoding(go_fsm, inputs):
    """Every input: accepted by UnmarshalSSZ per version, by the FSM's Apply and Restore, exactly when ours
    accepts it; the head decoded field by field as Go decodes it, and persisted as Persist writes it."""
    mismatches = []
    for data, go in zip(inputs, go_fsm.decode(inputs)):
        for version in (1, 2, 3, 4):
            ours = _accepts(lambda: payload.unmarshal_envelope(version, data))
            if ours != (go["versions"][str(version)] is None):
                mismatches.append((data.hex(), "V%d" % version, ours, go["versions"][str(version)]))
        try:
            envelope = payload.decode_fsm_envelope(data)
        except payload.PayloadError as exc:
            if go["apply"] is None or go["restore"] is None:
                mismatches.append((data.hex(), "fsm", str(exc), go["apply"], go["restore"]))
            continue
        if go["apply"] is not None or go["restore"] is not None:
            mismatches.append((data.hex(), "fsm", "accepted", go["apply"], go["restore"]))
        elif fsm_oracle.spec_of(envelope) != go["head"] or payload.persisted_bytes(envelope) != go["persisted"]:
            mismatches.append((data.hex(), "head or persisted bytes differ"))
    return mismatches


def _accepts(decode):
    try:
        decode()
    except payload.PayloadError:
        return False
    return True


def test_valid_envelopes_decode_and_persist_as_in_go(go_fsm):
    inputs = [payload.marshal_envelope(envelope) for envelope in _envelopes()]
    inputs += [v4_with_empty_withdrawals_root(number=8), v4_with_empty_withdrawals_root(number=9, withdrawals=3)]
    results = go_fsm.decode(inputs)
    assert [r["apply"] is None for r in results] == [e.version >= 3 for e in _envelopes()] + [True, True]
    assert _compare_decoding(go_fsm, inputs) == []
    # The claim, in Go: the FSM persists a V4 head with the empty-withdrawals root as V3, 32 bytes shorter
    assert [len(r["persisted"]) - len(data) for r, data in zip(results[-2:], inputs[-2:])] == [-32, -32]


def _offsets(base, version):
    """The offset fields (extra data, transactions, withdrawals, first and second transaction offsets) set to
    values around every bound the decoder checks."""
    fixed = payload.FIXED_PART[version]
    at = {"extra": payload.EXTRA_DATA_OFFSET_AT, "txs": payload.TRANSACTIONS_OFFSET_AT}
    if version >= 2:
        at["withdrawals"] = payload.WITHDRAWALS_OFFSET_AT
    size = len(base) - payload.HASH_LENGTH
    tx_at = int.from_bytes(base[32 + payload.TRANSACTIONS_OFFSET_AT:][:4], "little")
    at.update(tx0=tx_at, tx1=tx_at + 4)
    values = sorted({0, 1, 3, 4, 7, 8, fixed - 1, fixed, fixed + 1, fixed + 32, fixed + 33, size - 1, size,
                     size + 1, 2 ** 32 - 1} | {tx_at + d for d in (-4, -1, 0, 1, 4, 8)})
    for name, offset in at.items():
        for value in values:
            if offset + 4 <= size and 0 <= value < 2 ** 32:
                mutated = bytearray(base)
                mutated[32 + offset:32 + offset + 4] = value.to_bytes(4, "little")
                yield bytes(mutated)


def _bases():
    """One envelope of each version, and the limits: 16 withdrawals (one more appended is too many), 32 bytes of
    extra data."""
    return [envelope_bytes(version, number=42, transactions=(b"\x02" * 9, b"", b"\x7e" * 3), withdrawals=2)
            for version in (1, 2, 3, 4)] + [v4_with_empty_withdrawals_root(number=5),
                                            envelope_bytes(4, number=6, withdrawals=16, extra=b"e" * 32)]


def test_truncated_inputs_are_accepted_exactly_when_go_accepts_them(go_fsm):
    inputs = [base[:length] for base in _bases() for length in range(len(base) + 1)]
    inputs += [base + bytes(extra) for base in _bases() for extra in (1, 4, 43, 44, 88)]
    assert _compare_decoding(go_fsm, inputs) == []


def test_mutated_offsets_are_accepted_exactly_when_go_accepts_them(go_fsm):
    inputs = [mutated for version, base in zip((1, 2, 3, 4, 4, 4), _bases()) for mutated in _offsets(base, version)]
    assert len(inputs) > 300
    assert _compare_decoding(go_fsm, inputs) == []


def test_random_corruption_is_accepted_exactly_when_go_accepts_it(go_fsm):
    generator = random.Random(16)
    inputs = []
    for _round in range(1500):
        data = bytearray(generator.choice(_bases()))
        for _flip in range(generator.randint(1, 3)):
            # mostly the offsets and the variable part, where a flipped byte changes what is accepted
            at = generator.choice([generator.randrange(len(data)), 32 + generator.randrange(436, 592)])
            data[min(at, len(data) - 1)] = generator.randrange(256)
        inputs.append(bytes(data[:generator.choice([len(data), generator.randrange(len(data) + 1)])]))
    assert _compare_decoding(go_fsm, inputs) == []


# ================================================================================================================
# Node directories: replay_fsm against op-conductor's FSM fed by raft-boltdb v2 and the FileSnapshotStore
# ================================================================================================================


def _log_cases():
    """name -> (entries, snapshot as (term, index, state) or None); entries go to index 2 on after a configuration
    at index 1 unless they start later (a compacted log)."""
    low, high = envelope_bytes(4, 10), envelope_bytes(3, 20)
    return {
        "log-only": ([command(2, 1, low), command(3, 1, high), command(4, 2, envelope_bytes(4, 15))], None),
        "equal-heights": ([command(2, 1, envelope_bytes(4, 30, seed=1)), command(3, 2, envelope_bytes(4, 30, seed=2)),
                           command(4, 2, envelope_bytes(3, 30, seed=3))], None),
        "undecodable-entries": ([command(2, 1, low), command(3, 1, b"junk"), command(4, 1, envelope_bytes(1, 90)),
                                 command(5, 1, envelope_bytes(2, 91)), command(6, 1, b""),
                                 command(7, 1, envelope_bytes(3, 11)), raft.Log(8, 3, 1)], None),
        "v4-empty-withdrawals-root": ([command(2, 1, v4_with_empty_withdrawals_root(number=12))], None),
        "snapshot-and-log": ([command(21, 4, low), command(22, 4, envelope_bytes(4, 55)), raft.Log(23, 5, 1)],
                             (4, 20, envelope_bytes(4, 50))),
        "snapshot-above-log": ([command(21, 4, envelope_bytes(4, 49)), command(22, 4, envelope_bytes(4, 50))],
                               (4, 20, envelope_bytes(3, 50))),
        "snapshot-only": ([], (3, 9, envelope_bytes(4, 77))),
        "snapshot-covers-log": ([command(2, 1, envelope_bytes(4, 99)), command(3, 1, low)],
                                (2, 3, envelope_bytes(4, 5))),
        "empty": ([], None),
        "only-noops": ([raft.Log(2, 1, 1), raft.Log(3, 2, 1)], None),
        "undecodable-snapshot": ([command(21, 4, low)], (4, 20, b"not an envelope" * 40)),
        "v2-snapshot": ([command(21, 4, low)], (4, 20, envelope_bytes(2, 60))),
        "gap-after-snapshot": ([command(22, 4, low)], (4, 20, envelope_bytes(4, 1))),
    }


def _ours(node):
    try:
        replay = fsm.replay_fsm(node)
    except fsm.FsmError as exc:
        return {"error": str(exc)}
    return {"head": replay.head.summary() if replay.head else None, "last_index": replay.last_index,
            "last_term": replay.last_term, "snapshot": replay.snapshot.id if replay.snapshot else None,
            "skipped": [int(warning.split("entry ")[1].split(" ")[0]) for warning in replay.skipped], "error": None}


def _theirs(go_fsm, node):
    go = go_fsm.head(node, recover=True)
    if go["error"] is not None:
        return {"error": go["error"]}, go["recover"]
    return {key: go[key] for key in ("head", "last_index", "last_term", "snapshot", "skipped", "error")}, \
        go["recover"]


def _check_node(go_fsm, node, name):
    ours = _ours(node)
    theirs, recovered = _theirs(go_fsm, node)
    if ours.get("error") is not None or theirs["error"] is not None:
        assert (ours["error"] is None) == (theirs["error"] is None), (name, ours, theirs)
        assert "error" in recovered, (name, recovered)  # RecoverCluster fails on the same files
        return ours
    assert ours == theirs, name
    # raft.RecoverCluster itself, with op-conductor's FSM, ends with the same head (or panics on an empty FSM)
    if ours["head"] is None:
        assert "panic" in recovered, (name, recovered)
    else:
        assert recovered == {"block_number": ours["head"]["block_number"], "block_hash": ours["head"]["block_hash"]}
    return ours


@pytest.mark.parametrize("name", sorted(_log_cases()))
def test_replay_of_a_node_written_by_the_real_stores_equals_go(go_fsm, tmp_path, name):
    entries, snapshot = _log_cases()[name]
    if not entries or entries[0].index == 2:
        entries = [raft.Log(1, entries[0].term if entries else 1, raft.LOG_CONFIGURATION,
                            raft.encode_configuration(raft.Configuration((raft.Server("n1", "127.0.0.1:7001"),))))
                   ] + list(entries)
    node = go_fsm.node(str(tmp_path / "n1"), entries, snapshot)
    ours = _check_node(go_fsm, node, name)
    expected_errors = {"undecodable-snapshot", "v2-snapshot", "gap-after-snapshot"}
    assert (ours.get("error") is not None) == (name in expected_errors), ours


@pytest.mark.parametrize("name", sorted(_log_cases()))
def test_replay_of_a_node_written_in_python_equals_go(go_fsm, tmp_path, name):
    entries, snapshot = _log_cases()[name]
    _check_node(go_fsm, write_fsm_node(tmp_path / "n1", entries, snapshot), name)


def test_raft_does_not_fall_back_to_an_older_snapshot_in_go_either(go_fsm, tmp_path):
    node = write_fsm_node(tmp_path / "n1", [raft.Log(index, 3, 1) for index in range(6, 12)],
                          snapshot=(3, 5, envelope_bytes(4, 50)))
    newer = write_snapshot(node, [{"id": "n1", "address": "127.0.0.1:7001"}], 3, 10, state=envelope_bytes(4, 100))
    assert _check_node(go_fsm, node, "two snapshots")["head"]["block_number"] == 100
    with open(os.path.join(newer, "state.bin"), "r+b") as handle:
        handle.write(b"\xff")  # CRC mismatch in the newest
    assert "raft does not fall back" in _check_node(go_fsm, node, "newest damaged")["error"]
    with open(os.path.join(newer, "meta.json"), "w") as handle:
        handle.write("{torn")  # not listed any more: the older one is the newest
    assert _check_node(go_fsm, node, "newest unlisted")["head"]["block_number"] == 50


def _meta_variants():
    """name -> (how meta.json of the newer snapshot is rewritten, the head block expected: 100 newer, 50 older,
    None when raft fails)."""
    def edit(**fields):
        return lambda meta: json.dumps(dict(meta, **fields))

    def drop(key):
        return lambda meta: json.dumps({k: v for k, v in meta.items() if k != key})

    return {
        "lower-case-keys": (lambda meta: json.dumps({k.lower(): v for k, v in meta.items()}), 100),
        "trailing-data": (lambda meta: json.dumps(meta) + "\n}}} not json", 100),
        "leading-space": (lambda meta: "\n\t " + json.dumps(meta), 100),
        "version-0": (edit(Version=0), 100),
        "version-2": (edit(Version=2), 50),
        "torn": (lambda meta: json.dumps(meta)[:40], 50),
        "null": (lambda meta: "null", 50),
        "array": (lambda meta: "[]", 50),
        "term-as-string": (edit(Term="3"), 50),
        "size-wrong": (edit(Size=1), 100),
        "no-id": (drop("ID"), None),
        "no-crc": (drop("CRC"), None),
        "null-term": (edit(Term=None), 50),  # Term 0: sorts below the older snapshot
    }


@pytest.mark.parametrize("name", sorted(_meta_variants()))
def test_meta_json_is_listed_exactly_as_go_lists_it(go_fsm, tmp_path, name):
    rewrite, expected = _meta_variants()[name]
    node = write_fsm_node(tmp_path / "n1", [raft.Log(index, 3, 1) for index in range(6, 12)],
                          snapshot=(3, 5, envelope_bytes(4, 50)))
    newer = write_snapshot(node, [{"id": "n1", "address": "127.0.0.1:7001"}], 3, 10, state=envelope_bytes(4, 100))
    path = os.path.join(newer, "meta.json")
    with open(path) as handle:
        meta = json.load(handle)
    with open(path, "w") as handle:
        handle.write(rewrite(meta))
    ours = _check_node(go_fsm, node, name)
    assert (ours["head"]["block_number"] if ours.get("head") else None) == expected, ours


def test_persisted_bytes_of_a_replayed_head_are_what_the_go_fsm_persists(go_fsm, tmp_path):
    cases = [v4_with_empty_withdrawals_root(number=7, withdrawals=2), envelope_bytes(4, 7), envelope_bytes(3, 7)]
    for position, data in enumerate(cases):
        node = write_fsm_node(tmp_path / ("n%d" % position), [command(2, 1, data)])
        ours = payload.persisted_bytes(fsm.replay_fsm(node).envelope)
        assert ours == go_fsm.decode([data])[0]["persisted"]
        assert (len(ours) == len(data) - 32) == (position == 0)


def test_the_oracle_sees_a_changed_payload(go_fsm):
    """The differential can fail: a field changed on our side shows."""
    envelope = make_envelope(4, number=5)
    changed = dataclasses.replace(envelope, payload=dataclasses.replace(envelope.payload, block_hash=bytes(32)))
    assert go_fsm.marshal([changed]) != [payload.marshal_envelope(envelope)]
    assert go_fsm.decode([payload.marshal_envelope(envelope)])[0]["head"] != fsm_oracle.spec_of(changed)
