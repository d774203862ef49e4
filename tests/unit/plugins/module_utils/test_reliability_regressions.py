"""Defects the reliability suite (tests/reliability: differential fuzzing, crash injection) found, each pinned by
a small deterministic test of the fix."""

import base64
import json
import os
import shutil

import pytest

from ansible_collections.opstack.conductor.plugins.module_utils import _bbolt as bolt
from ansible_collections.opstack.conductor.plugins.module_utils import _cluster as cluster
from ansible_collections.opstack.conductor.plugins.module_utils import _fs as fs
from ansible_collections.opstack.conductor.plugins.module_utils import _node_dir as nodes
from ansible_collections.opstack.conductor.plugins.module_utils import _node_state as node_state
from ansible_collections.opstack.conductor.plugins.module_utils import _raft as raft

pytestmark = pytest.mark.reliability  # `make test-reliability` selects these by marker

SPEC = cluster.validate_cluster([{"id": "n1", "address": "127.0.0.1:7001"}, {"id": "n2", "address": "127.0.0.1:7002"},
                                 {"id": "n3", "address": "127.0.0.1:7003"}], "n1")[0]


def write(node, server_id="n1"):
    os.makedirs(str(node), exist_ok=True)
    for name, data in cluster.node_databases(SPEC, server_id).items():
        (node / name).write_bytes(data)
    return node


def _value_offset(path, bucket_name):
    """File offset of a root-level bucket's value (the inline bucket: 16-byte header, then its page)."""
    with bolt.BoltReader(str(path)) as reader:
        node = reader.node(reader.meta.root)
        index = node.keys.index(bucket_name)
        at = bolt.PAGE_HEADER_SIZE + index * bolt.ELEMENT_SIZE
        _flags, pos, ksize, _vsize = bolt.LEAF_ELEMENT.unpack_from(node.buf, at)
        return reader.meta.root * reader.page_size + at + pos + ksize


def test_damaged_unused_inline_bucket_is_a_problem_not_an_exception(tmp_path):
    """fuzz: a bit flip in the page flags of raft-stable.db's (empty, unused) inline `logs` bucket made
    read_node_state(verify=True) raise BoltError from the emptiness check."""
    node = write(tmp_path / "n1")
    path = node / raft.STABLE_FILE
    data = bytearray(path.read_bytes())
    flags_at = _value_offset(path, raft.BUCKET_LOGS) + bolt.BUCKET_HEADER_SIZE + 8  # page header: id u64, flags
    data[flags_at] = 0x12
    path.write_bytes(bytes(data))
    state = node_state.read_node_state(str(node), verify=True)  # must not raise
    assert not state.integrity.ok
    assert any("bucket 'logs' (inline): invalid type" in p for p in state.integrity.problems), state.integrity.problems
    node_state.read_node_state(str(node)).summary()


def _set_txid(path, pgid, txid):
    data = bytearray(path.read_bytes())
    with bolt.BoltReader(str(path)) as reader:
        meta = reader.metas[pgid].meta
    page = bolt.Meta(meta.magic, meta.version, meta.page_size, meta.flags, meta.root, meta.sequence, meta.freelist,
                     meta.pgid, txid, 0).to_page(meta.page_size)
    data[pgid * meta.page_size:(pgid + 1) * meta.page_size] = page
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("txid", [(1 << 64) - 1, (1 << 64) - 3, (1 << 63) + 1])
def test_transaction_id_near_the_wrap_is_corruption(tmp_path, txid):
    """fuzz + a real Raft start: a meta page with a valid checksum and a txid near 2^64 passed every check, but
    bbolt wraps the counter within a few commits and Raft then panics ("page 3 already freed")."""
    node = write(tmp_path / "n1")
    _set_txid(node / raft.LOG_FILE, 1, txid)
    report = bolt.check_file(str(node / raft.LOG_FILE))
    assert not report.ok and "transaction id past 2^63" in report.problems[0]
    assert not node_state.read_node_state(str(node), verify=True).integrity.ok
    _set_txid(node / raft.LOG_FILE, 1, (1 << 40) + 1)  # large but plausible: fine
    assert bolt.check_file(str(node / raft.LOG_FILE)).ok


class Crash(BaseException):
    """Stands in for kill -9 between two steps (nothing after it runs, no cleanup handler of ours catches it)."""


def _staging(tmp_path, node):
    return fs.build_directory(str(node), cluster.node_databases(SPEC, "n1"), 0o600, 0o750, fs.Ownership())


def test_crash_right_after_the_exchange_keeps_the_old_state(tmp_path, monkeypatch):
    """crash injection: killed between renameat2(RENAME_EXCHANGE) and the rename of the build's name (which then
    holds the old live state), the next run's recovery deleted the old state as an unfinished build."""
    node = write(tmp_path / "n1", "n2")  # the old, live state: another node's files
    old = {name: (node / name).read_bytes() for name in os.listdir(str(node))}
    staging = _staging(tmp_path, node)
    real_rename = os.rename

    def rename(source, target, **dir_fds):
        if fs.INODE_MARK in os.path.basename(source) and fs.OLD_MARK in os.path.basename(target):
            raise Crash()
        return real_rename(source, target, **dir_fds)

    (tmp_path / "probe-a").mkdir()
    (tmp_path / "probe-b").mkdir()
    if not fs.exchange(str(tmp_path / "probe-a"), str(tmp_path / "probe-b")):
        pytest.skip("no renameat2(RENAME_EXCHANGE) on this filesystem")
    shutil.rmtree(str(tmp_path / "probe-a"))
    shutil.rmtree(str(tmp_path / "probe-b"))
    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(Crash):
        fs.replace_directory(str(node), staging, keep_old=True)
    monkeypatch.setattr(os, "rename", real_rename)
    found = nodes.leftovers(str(node))
    assert found["new"] == [] and len(found["old"]) == 1  # the swapped build name is recognised as the old state
    recovery = nodes.recover_leftovers(str(node))
    assert recovery.removed == [] and len(recovery.kept_as_backup) == 1
    backup = recovery.kept_as_backup[0]
    assert {name: open(os.path.join(backup, name), "rb").read() for name in os.listdir(backup)} == old


def test_a_build_that_never_went_live_is_still_removed(tmp_path, monkeypatch):
    node = write(tmp_path / "n1", "n2")
    staging = _staging(tmp_path, node)
    monkeypatch.setattr(fs, "exchange", lambda first, second: (_item for _item in ()).throw(Crash()))
    with pytest.raises(Crash):
        fs.replace_directory(str(node), staging, keep_old=True)
    found = nodes.leftovers(str(node))
    assert len(found["new"]) == 1 and found["old"] == []  # tagged with its own inode: a build
    assert len(nodes.recover_leftovers(str(node)).removed) == 1
    assert sorted(os.listdir(str(tmp_path))) == ["n1"]


def test_crash_while_dropping_the_old_state_leaves_no_partial_backup(tmp_path, monkeypatch):
    """crash injection: with backup=false, a kill during the removal of the old state left a half-deleted
    `.opstack-old-*` directory that the next run kept as a (partial) backup."""
    node = write(tmp_path / "n1", "n2")
    staging = _staging(tmp_path, node)
    real_rmtree = shutil.rmtree

    def rmtree(path, *args, **kwargs):
        os.unlink(os.path.join(path, raft.LOG_FILE))  # half-way through
        raise Crash()

    monkeypatch.setattr(shutil, "rmtree", rmtree)
    with pytest.raises(Crash):
        fs.replace_directory(str(node), staging, keep_old=False)
    monkeypatch.setattr(shutil, "rmtree", real_rmtree)
    recovery = nodes.recover_leftovers(str(node))
    assert recovery.kept_as_backup == [] and len(recovery.removed) == 1
    assert sorted(os.listdir(str(tmp_path))) == ["n1"]


def test_no_freelist_sync_is_a_problem(tmp_path):
    """fuzz: a meta page saying "freelist not synced" (bbolt's pgidNoFreelist, with a valid checksum) passed with a
    warning; boltdb 1.3.1, the engine of early op-conductor, panics on open ("index out of range")."""
    node = write(tmp_path / "n1")
    path = node / raft.LOG_FILE
    data = bytearray(path.read_bytes())
    with bolt.BoltReader(str(path)) as reader:
        metas = [slot.meta for slot in reader.metas]
    for pgid, meta in enumerate(metas):
        page = bolt.Meta(meta.magic, meta.version, meta.page_size, meta.flags, meta.root, meta.sequence,
                         bolt.NO_FREELIST, meta.pgid, meta.txid, 0).to_page(meta.page_size)
        data[pgid * meta.page_size:(pgid + 1) * meta.page_size] = page
    path.write_bytes(bytes(data))
    report = bolt.check_file(str(path))
    assert not report.ok and "NoFreelistSync" in report.problems[0]


def _relay(path, change):
    content = bolt.read_database(str(path))
    change(content)
    path.write_bytes(bolt.build_database(content))


def test_unknown_log_type_is_a_problem(tmp_path):
    """fuzz + a real Raft start: an entry of type 9 decoded fine, and raft panicked applying it ("unrecognized log
    type")."""
    node = write(tmp_path / "n1")

    def add(content):
        content[raft.BUCKET_LOGS][raft.uint64_key(2)] = raft.encode_log(raft.Log(index=2, term=1, type=9, data=b"x"))

    _relay(node / raft.LOG_FILE, add)
    state = node_state.read_node_state(str(node), verify=True)
    assert any("entry 2 has log type 9" in p for p in state.integrity.problems), state.integrity.problems


def _node_with_snapshot(tmp_path, **changes):
    """A node whose log was compacted away: everything comes from one snapshot (term 1, index 5)."""
    node = write(tmp_path / "n1")
    _relay(node / raft.LOG_FILE, lambda content: content[raft.BUCKET_LOGS].clear())
    snapshot = node / "snapshots" / "1-5-1700000000000"
    snapshot.mkdir(parents=True)
    (snapshot / "state.bin").write_bytes(b"{}")
    meta = {"Version": 1, "ID": snapshot.name, "Index": 5, "Term": 1, "Peers": "",
            "Configuration": {"Servers": [{"Suffrage": 0, "ID": s.id, "Address": s.address} for s in SPEC.servers]},
            "ConfigurationIndex": 1, "Size": 2, "CRC": base64.b64encode(raft.crc64_ecma([b"{}"])).decode()}
    meta.update(changes)
    (snapshot / "meta.json").write_text(json.dumps(meta))
    return node


def test_snapshot_configuration_at_index_0_is_no_configuration(tmp_path):
    """fuzz + a real Raft start: a bit flip in the "ConfigurationIndex" key of a snapshot's meta.json left a
    configuration raft restores at index 0, i.e. ignores ("no known peers"): the node never elects."""
    assert node_state.read_node_state(str(_node_with_snapshot(tmp_path / "a")), verify=True).integrity.ok
    state = node_state.read_node_state(str(_node_with_snapshot(tmp_path / "b", ConfigurationIndex=0)), verify=True)
    assert state.latest_configuration is None
    assert any("ConfigurationIndex is 0" in p for p in state.integrity.problems), state.integrity.problems


def test_snapshot_whose_id_is_not_its_directory_is_a_problem(tmp_path):
    """fuzz: a bit flip in the ID inside meta.json ("2-302-…" → "3-302-…"); raft's FileSnapshotStore lists the
    snapshot, then opens it by that ID, finds nothing, and NewRaft fails ("failed to load any existing
    snapshots")."""
    state = node_state.read_node_state(str(_node_with_snapshot(tmp_path, ID="3-5-1700000000000")), verify=True)
    assert any("meta.json says ID '3-5-1700000000000'" in p for p in state.integrity.problems), state.integrity.problems


@pytest.mark.parametrize("changes,needle", [
    (dict(Peers="ka:xMjcuMC4wLjE="), "unreadable"),  # not base64: Go's json fails, raft's List skips the snapshot
    (dict(Version=0), "version 0"),  # raft then takes the configuration from Peers and never elects
    (dict(Version=None), "version None"),  # a flipped key: Go reads a missing Version as 0
    (dict(Index=(1 << 64) - 1), "Index is"),  # raft restores it and reads index 2^64 → 0: "log not found" panic
    (dict(Index=-1), "Index is"),  # Go cannot unmarshal it into uint64: the snapshot is skipped
    (dict(Term=1.5), "Term is"),
    (dict(Configuration={"Servers": [{"Suffrage": 1, "ID": "n1", "Address": "127.0.0.1:7001"}]}), "has no voter"),
    (dict(Configuration={"Servers": []}), "has no voter"),
])
def test_snapshot_metadata_raft_would_skip_or_misread(tmp_path, changes, needle):
    """fuzz + real Raft starts: snapshot meta.json fields that raft's FileSnapshotStore cannot decode (the snapshot
    is silently skipped, and NewRaft then panics on the compacted log), or decodes into a state that never elects."""
    state = node_state.read_node_state(str(_node_with_snapshot(tmp_path, **changes)), verify=True)
    assert not state.integrity.ok and any(needle in p for p in state.integrity.problems), state.integrity.problems
