"""The bbolt layer on its own: writer/reader round trips, cursors, and the structural check's verdicts."""

import collections
import os
import struct

import pytest

from ansible_collections.opstack.conductor.plugins.module_utils import _bbolt as bolt


def key(index):
    return struct.pack(">Q", index)


def write(tmp_path, content, page_size=4096, name="db"):
    path = tmp_path / name
    path.write_bytes(bolt.build_database(content, page_size))
    return str(path)


def patch(path, offset, data):
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(data)


SHAPES = {
    "empty buckets": {b"conf": {}, b"logs": {}},
    "inline": {b"conf": {b"CurrentTerm": key(7)}, b"logs": {key(1): b"x" * 200}},
    "exactly a quarter page stays inline": {b"a": {b"k": b"v" * (1024 - 16 - 16 - 1)}},
    "one byte more is a page": {b"a": {b"k": b"v" * (1024 - 16 - 16)}},
    "overflow value": {b"logs": {key(1): os.urandom(9000)}},
    "branch pages": {b"logs": {key(i): os.urandom(300) for i in range(1, 3000)}},
    "nested buckets": {b"outer": {b"inner": {b"k": b"v"}, b"plain": b"1"}, b"z": {}},
    "many top-level buckets": {("bucket-%04d" % i).encode(): {b"k": b"v"} for i in range(400)},
}


@pytest.mark.parametrize("page_size", [4096, 16384, 65536])
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_round_trip_and_clean_check(tmp_path, shape, page_size):
    content = SHAPES[shape]
    path = write(tmp_path, content, page_size)
    report = bolt.check_file(path)
    assert report.ok, report.problems
    assert bolt.read_database(path) == content
    with bolt.BoltReader(path) as reader:
        assert reader.page_size == page_size
        assert [slot.valid for slot in reader.metas] == [True, True]
        assert os.path.getsize(path) == reader.meta.pgid * page_size


def test_inline_rule_matches_bbolt(tmp_path):
    def root_value(content):
        path = write(tmp_path, content, name="inline")
        with bolt.BoltReader(path) as reader:
            return bytes(reader.root().cursor().first()[1])

    inline = root_value(SHAPES["exactly a quarter page stays inline"])
    paged = root_value(SHAPES["one byte more is a page"])
    assert bolt.BUCKET_HEADER.unpack_from(inline)[0] == 0 and len(inline) > 16
    assert bolt.BUCKET_HEADER.unpack_from(paged)[0] != 0 and len(paged) == 16


def test_deterministic(tmp_path):
    content = SHAPES["branch pages"]
    assert bolt.build_database(content) == bolt.build_database(dict(reversed(list(content.items()))))


def test_cursor_walks_both_ways_and_seeks(tmp_path):
    content = {b"logs": {key(i): b"v%d" % i for i in range(10, 4000, 3)}}
    path = write(tmp_path, content)
    keys = sorted(content[b"logs"])
    with bolt.BoltReader(path) as reader:
        bucket = reader.bucket(b"logs")
        assert bolt.BUCKET_HEADER.unpack_from(bytes(reader.root().cursor().first()[1]))[0] != 0
        cursor = bucket.cursor()
        forward, item = [], cursor.first()
        while item:
            forward.append(item[0])
            item = cursor.next()
        backward, item = [], cursor.last()
        while item:
            backward.append(item[0])
            item = cursor.prev()
        assert forward == keys and backward == keys[::-1]
        assert cursor.seek(key(11))[0] == key(13)
        assert cursor.seek(key(13))[0] == key(13)
        assert cursor.seek(key(0))[0] == keys[0]
        assert cursor.seek(key(10 ** 9)) is None
        assert bucket.get(key(13)) == b"v13" and bucket.get(key(14)) is None
        assert reader.bucket(b"missing") is None


def test_page_size_is_read_from_the_file_even_when_meta0_is_damaged(tmp_path):
    path = write(tmp_path, SHAPES["inline"], page_size=16384)
    patch(path, 16, b"\0" * 4)  # meta 0 magic
    with bolt.BoltReader(path) as reader:
        assert reader.page_size == 16384
        assert reader.meta.txid == 1
        assert not reader.metas[0].valid
    report = bolt.check_file(path)
    assert not report.ok and "meta page 0" in report.problems[0]


def test_higher_valid_txid_wins(tmp_path):
    path = write(tmp_path, SHAPES["inline"])
    with bolt.BoltReader(path) as reader:
        assert reader.meta.txid == 1
    meta = bolt.Meta.unpack(open(path, "rb").read(4096))
    bumped = bolt.Meta(*(meta._fields()[:8] + (4, 0)))
    patch(path, 0, bumped.to_page(4096))
    with bolt.BoltReader(path) as reader:
        assert reader.meta.txid == 4 and reader.meta.pgid == meta.pgid
    patch(path, 0x48, b"\xff")  # break txid 4's checksum: txid 1 takes over
    with bolt.BoltReader(path) as reader:
        assert reader.meta.txid == 1


def test_zero_checksum_is_refused_like_bbolt(tmp_path):
    path = write(tmp_path, SHAPES["inline"])
    patch(path, 0x48, b"\0" * 8)
    patch(path, 4096 + 0x48, b"\0" * 8)
    with pytest.raises(bolt.BoltError, match="no valid meta page"):
        bolt.BoltReader(path)


def test_freelist_count_overflow(tmp_path):
    """More than 0xFFFF free pages: count 0xFFFF, real count in the first u64 (sparse 1 KiB-page file)."""
    page_size = 1024
    base = bolt.build_database({b"a": {b"k": b"v"}}, page_size)
    used = len(base) // page_size
    free_ids = [2] + list(range(used, used + 70000))  # page 2, the old freelist, is free now
    body = struct.pack("<Q", len(free_ids)) + struct.pack("<%dQ" % len(free_ids), *free_ids)
    freelist_pages = -(-(16 + len(body)) // page_size)
    freelist_id = used + len(free_ids) - 1
    high_water = freelist_id + freelist_pages
    path = str(tmp_path / "free")
    with open(path, "wb") as handle:
        handle.write(base)
        handle.truncate(high_water * page_size)
        handle.seek(freelist_id * page_size)
        handle.write(bolt.PAGE_HEADER.pack(freelist_id, bolt.FREELIST_PAGE, 0xFFFF, freelist_pages - 1) + body)
        meta = bolt.Meta.unpack(base[:page_size])
        for txid in (2, 3):
            fields = meta._fields()
            new = bolt.Meta(*(fields[:6] + (freelist_id, high_water, txid, 0)))
            handle.seek((txid % 2) * page_size)
            handle.write(new.to_page(page_size))
    with bolt.BoltReader(path) as reader:
        assert reader.freelist() == free_ids
    report = bolt.check_file(path)
    assert report.ok, report.problems[:3]
    # ...and the check notices when one free page is also counted twice.
    with open(path, "r+b") as handle:
        handle.seek(freelist_id * page_size + 16 + 8)
        handle.write(struct.pack("<Q", free_ids[1]))
    assert "page %d: already freed" % free_ids[1] in bolt.check_file(path).problems


def _leaf_page_of(path, bucket_name):
    with bolt.BoltReader(path) as reader:
        for name, value, _is_bucket in reader.root().items():
            if name == bucket_name:
                return bolt.BUCKET_HEADER.unpack_from(bytes(value))[0]
    raise AssertionError(bucket_name)


Paged = collections.namedtuple("Paged", "path logs_root high_water")


@pytest.fixture
def paged(tmp_path):
    content = {b"logs": {key(i): os.urandom(300) for i in range(1, 200)}}
    path = write(tmp_path, content)
    with bolt.BoltReader(path) as reader:
        logs_root = _leaf_page_of(path, b"logs")
        high_water = reader.meta.pgid
    return Paged(path, logs_root, high_water)


def test_check_finds_unreachable_unfreed(paged):
    path, high_water = paged.path, paged.high_water
    meta = bolt.Meta.unpack(open(path, "rb").read(4096))
    with open(path, "ab") as handle:
        handle.write(b"\0" * 4096)
    grown = bolt.Meta(*(meta._fields()[:7] + (high_water + 1, 3, 0)))
    patch(path, 4096, grown.to_page(4096))
    assert "page %d: unreachable unfreed" % high_water in bolt.check_file(path).problems


def test_check_finds_reachable_freed(paged):
    path, logs_root = paged.path, paged.logs_root
    patch(path, 2 * 4096, bolt.PAGE_HEADER.pack(2, bolt.FREELIST_PAGE, 1, 0) + struct.pack("<Q", logs_root + 1))
    problems = bolt.check_file(path).problems
    assert any("page %d: reachable freed" % (logs_root + 1) in problem for problem in problems)


def test_check_finds_wrong_page_type_and_header_id(paged):
    path, logs_root = paged.path, paged.logs_root
    patch(path, logs_root * 4096 + 8, struct.pack("<H", bolt.FREELIST_PAGE))
    assert any("invalid type" in problem for problem in bolt.check_file(path).problems)
    patch(path, logs_root * 4096 + 8, struct.pack("<H", bolt.BRANCH_PAGE))
    patch(path, (logs_root + 1) * 4096, struct.pack("<Q", 99))
    assert any("header says id 99" in problem for problem in bolt.check_file(path).problems)


def test_check_finds_unsorted_keys_and_multiple_references(paged, tmp_path):
    path, logs_root = paged.path, paged.logs_root
    # Swap the child pointers of the branch root: keys no longer match their children's ranges.
    with bolt.BoltReader(path) as reader:
        branch = reader.node(logs_root)
        assert not branch.is_leaf and branch.count >= 2
        first_child, second_child = branch.child(0), branch.child(1)
    patch(path, logs_root * 4096 + 16 + 8, struct.pack("<Q", second_child))
    patch(path, logs_root * 4096 + 32 + 8, struct.pack("<Q", first_child))
    problems = bolt.check_file(path).problems
    assert any("sorts before" in problem or "not below" in problem for problem in problems), problems
    patch(path, logs_root * 4096 + 16 + 8, struct.pack("<Q", first_child))  # now both point to one page
    problems = bolt.check_file(path).problems
    assert any("multiple references" in problem for problem in problems), problems
    assert any("unreachable unfreed" in problem for problem in problems), problems


def test_check_finds_out_of_bounds_child(paged):
    path, logs_root, high_water = paged
    patch(path, logs_root * 4096 + 16 + 8, struct.pack("<Q", high_water + 5))
    problems = bolt.check_file(path).problems
    assert any("beyond the end of the file" in problem or "out of bounds" in problem for problem in problems)


def test_cycle_does_not_hang(paged):
    path, logs_root = paged.path, paged.logs_root
    patch(path, logs_root * 4096 + 16 + 8, struct.pack("<Q", logs_root))  # branch points to itself
    assert not bolt.check_file(path).ok
    with bolt.BoltReader(path) as reader:
        with pytest.raises(bolt.BoltError):
            reader.bucket(b"logs").cursor().first()


@pytest.mark.parametrize("size", [0, 1, 100, 4095, 4096, 8191])
def test_truncated_and_empty_files_are_errors_not_crashes(tmp_path, size):
    full = bolt.build_database(SHAPES["inline"])
    path = tmp_path / "cut"
    path.write_bytes(full[:size])
    assert not bolt.check_file(str(path)).ok


def test_garbage_is_an_error(tmp_path):
    path = tmp_path / "garbage"
    path.write_bytes(os.urandom(32768))
    report = bolt.check_file(str(path))
    assert not report.ok and "no valid meta page" in report.problems[0]


def test_missing_file_is_not_created(tmp_path):
    path = tmp_path / "absent.db"
    assert not bolt.check_file(str(path)).ok
    assert not path.exists()


@pytest.mark.parametrize("bad", [{b"": {}}, {b"a": {b"": b"v"}}, {b"a": b"not a bucket"}])
def test_writer_refuses_invalid_descriptions(bad):
    with pytest.raises(ValueError):
        bolt.build_database(bad)


def test_writer_refuses_unknown_page_size():
    with pytest.raises(ValueError, match="page_size"):
        bolt.build_database({b"a": {}}, 5000)


def test_fnv1a64_reference_values():
    # Published FNV-1a 64 test vectors.
    assert bolt.fnv1a64(b"") == 0xCBF29CE484222325
    assert bolt.fnv1a64(b"a") == 0xAF63DC4C8601EC8C
    assert bolt.fnv1a64(b"foobar") == 0x85944171F73967E8


def test_a_damaged_overflow_count_is_one_problem_not_a_hang(paged):
    path, logs_root = paged.path, paged.logs_root
    with bolt.BoltReader(path) as reader:
        child = reader.node(logs_root).child(1)
    patch(path, child * 4096 + 12, struct.pack("<I", 0xFFFFFFFF))
    report = bolt.check_file(path)
    assert any("page %d: out of bounds: 4294967295 overflow pages" % child in p for p in report.problems)
    assert len(report.problems) < 10, report.problems


def test_problem_lists_are_capped_and_runs_grouped(paged):
    path, high_water = paged.path, paged.high_water
    meta = bolt.Meta.unpack(open(path, "rb").read(4096))
    with open(path, "ab") as handle:
        handle.write(b"\0" * 4096 * 500)
    patch(path, 4096, bolt.Meta(*(meta._fields()[:7] + (high_water + 500, 3, 0))).to_page(4096))
    report = bolt.check_file(path)
    assert report.problems == ["pages %d..%d: unreachable unfreed" % (high_water, high_water + 499)]
