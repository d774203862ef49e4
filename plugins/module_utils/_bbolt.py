# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""bbolt / boltdb on-disk format: read, check and write, in pure Python (stdlib only).

Private to the collection. The layout is the one etcd-io/bbolt (and boltdb/bolt 1.3.1, which shares it) maps
straight onto memory: every integer in a bolt structure is little-endian on the platforms op-conductor runs on.
Each structure is described once below, with its constants beside it.

Readers work on an ``mmap`` of the file, so summarising a multi-GiB database touches only the pages a lookup
needs. Nothing here takes a lock or writes to an existing file: locking and atomic replacement belong to the
filesystem layer above.
"""

from __future__ import annotations

import array
import bisect
import mmap
import os
import stat
import struct
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterator, List, Optional, Tuple, Union
from ansible_collections.opstack.conductor.plugins.module_utils._errors import OpstackError

# --- page header (bbolt page.go `type page`) -------------------------------------------------------------------
# id u64 | flags u16 | count u16 | overflow u32; element data starts right after it.
PAGE_HEADER = struct.Struct("<QHHI")
PAGE_HEADER_SIZE = PAGE_HEADER.size  # 16

BRANCH_PAGE = 0x01
LEAF_PAGE = 0x02
META_PAGE = 0x04
FREELIST_PAGE = 0x10
PAGE_TYPE_NAMES = {BRANCH_PAGE: "branch", LEAF_PAGE: "leaf", META_PAGE: "meta", FREELIST_PAGE: "freelist"}

# --- meta page (bbolt db.go `type meta`), at page offset 16 of pages 0 and 1 ----------------------------------
# magic u32 | version u32 | pageSize u32 | flags u32 | root.root u64 | root.sequence u64 | freelist u64 |
# pgid u64 | txid u64 | checksum u64.  The checksum is FNV-1a 64 over everything before it.
META = struct.Struct("<IIIIQQQQQQ")
META_CHECKSUMMED = META.size - 8  # 56 bytes
MAGIC = 0xED0CDAED
VERSION = 2
NO_FREELIST = 0xFFFFFFFFFFFFFFFF  # bbolt's pgidNoFreelist (NoFreelistSync); boltdb 1.3.1 crashes on it

# --- freelist page body: sorted u64 ids; a count of 0xFFFF means the real count is the first u64 -------------
FREELIST_COUNT_OVERFLOW = 0xFFFF
PGID = struct.Struct("<Q")

# --- leaf element (bbolt page.go `leafPageElement`): flags u32 | pos u32 | ksize u32 | vsize u32 -------------
# pos counts from the start of this element header to its key; keys and values follow the headers back to back.
LEAF_ELEMENT = struct.Struct("<IIII")
BUCKET_LEAF_FLAG = 0x01

# --- branch element (bbolt page.go `branchPageElement`): pos u32 | ksize u32 | pgid u64 ----------------------
BRANCH_ELEMENT = struct.Struct("<IIQ")
ELEMENT_SIZE = 16

# --- bucket value (bbolt bucket.go `type bucket`): root pgid u64 | sequence u64 -------------------------------
# root == 0 marks an inline bucket: a fake leaf page (header + elements) follows the 16 bytes.
BUCKET_HEADER = struct.Struct("<QQ")
BUCKET_HEADER_SIZE = BUCKET_HEADER.size

MAX_KEY_SIZE = 32768
MAX_VALUE_SIZE = (1 << 31) - 2
# bbolt probes for the second meta page at 1 KiB << i when the first one is damaged.
META_PROBE_OFFSETS = tuple(1024 << i for i in range(15))
SUPPORTED_PAGE_SIZES = (1024, 2048, 4096, 8192, 16384, 32768, 65536)
DEFAULT_PAGE_SIZE = 4096
MAX_PLAUSIBLE_TXID = 1 << 63  # a commit per microsecond for 290,000 years
MAX_TREE_DEPTH = 64  # a B+tree deeper than this is a cycle, not data

FNV_OFFSET_BASIS = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
U64_MASK = 0xFFFFFFFFFFFFFFFF


class BoltError(OpstackError):
    """The file is not a readable bolt database; the message names the page or field."""


def fnv1a64(data: bytes) -> int:
    value = FNV_OFFSET_BASIS
    for byte in data:
        value = ((value ^ byte) * FNV_PRIME) & U64_MASK
    return value


# ================================================================================================================
# Meta
# ================================================================================================================


@dataclass(frozen=True)
class Meta:
    magic: int
    version: int
    page_size: int
    flags: int
    root: int
    sequence: int
    freelist: int
    pgid: int
    txid: int
    checksum: int

    @classmethod
    def unpack(cls, page: bytes) -> "Meta":
        return cls(*META.unpack_from(page, PAGE_HEADER_SIZE))

    def computed_checksum(self) -> int:
        return fnv1a64(META.pack(*self._fields())[:META_CHECKSUMMED])

    def _fields(self) -> Tuple[int, ...]:
        return (self.magic, self.version, self.page_size, self.flags, self.root, self.sequence,
                self.freelist, self.pgid, self.txid, self.checksum)

    def problem(self) -> Optional[str]:
        """Why bbolt's meta.validate would refuse this meta, or None. (boltdb 1.3.1 accepts checksum 0; bbolt
        does not, so neither do we.)"""
        if self.magic != MAGIC:
            return "invalid magic 0x%08x" % self.magic
        if self.version != VERSION:
            return "version %d, expected %d" % (self.version, VERSION)
        if self.checksum != self.computed_checksum():
            return "checksum 0x%016x, computed 0x%016x" % (self.checksum, self.computed_checksum())
        return None

    def to_page(self, page_size: int) -> bytes:
        """Page ``txid % 2`` holding this meta, with a correct checksum."""
        body = META.pack(*self._fields()[:-1] + (0,))[:META_CHECKSUMMED]
        page = bytearray(page_size)
        PAGE_HEADER.pack_into(page, 0, self.txid % 2, META_PAGE, 0, 0)
        page[PAGE_HEADER_SIZE:PAGE_HEADER_SIZE + META_CHECKSUMMED] = body
        PGID.pack_into(page, PAGE_HEADER_SIZE + META_CHECKSUMMED, fnv1a64(body))
        return bytes(page)


@dataclass
class MetaSlot:
    """One of the two meta pages as found on disk."""
    pgid: int
    meta: Optional[Meta]
    problem: Optional[str]

    @property
    def valid(self) -> bool:
        return self.meta is not None and self.problem is None


# ================================================================================================================
# Pages
# ================================================================================================================


@dataclass(frozen=True)
class PageHeader:
    id: int
    flags: int
    count: int
    overflow: int

    @property
    def type_name(self) -> str:
        return PAGE_TYPE_NAMES.get(self.flags, "unknown(0x%02x)" % self.flags)


class Node:
    """A leaf or branch page (or an inline bucket's fake page) with bounds-checked element access.

    ``buf`` is a memoryview that starts at the page header and ends at the end of the page's last overflow
    page (or of the inline bucket value), so no element can reach past what its page owns. All element headers
    are decoded at once (one struct call per page, not per element): this is the hot path of a full verify.
    """

    __slots__ = ("pgid", "buf", "flags", "count", "keys", "_starts", "_third", "_fourth", "_where")

    def __init__(self, pgid: int, buf: memoryview, where: str):
        if len(buf) < PAGE_HEADER_SIZE:
            raise BoltError("%s: %d bytes, shorter than a page header" % (where, len(buf)))
        flags, count = PAGE_HEADER.unpack_from(buf, 0)[1:3]
        if flags not in (BRANCH_PAGE, LEAF_PAGE):
            raise BoltError("%s: invalid type %s, expected branch or leaf" % (where, _type_name(flags)))
        if PAGE_HEADER_SIZE + count * ELEMENT_SIZE > len(buf):
            raise BoltError("%s: %d elements do not fit in %d bytes" % (where, count, len(buf)))
        self.pgid = pgid
        self.buf = buf
        self.flags = flags
        self.count = count
        self._where = where
        # Leaf element: flags, pos, ksize, vsize. Branch element: pos, ksize, pgid (two u32 halves).
        words = struct.unpack_from("<%dI" % (4 * count), buf, PAGE_HEADER_SIZE)
        offsets = range(PAGE_HEADER_SIZE, PAGE_HEADER_SIZE + count * ELEMENT_SIZE, ELEMENT_SIZE)
        if flags == LEAF_PAGE:
            self._third, self._fourth = words[0::4], words[3::4]  # element flags, value sizes
            starts = [offset + pos for offset, pos in zip(offsets, words[1::4])]
            sizes = words[2::4]
            ends = [start + ksize + vsize for start, ksize, vsize in zip(starts, sizes, self._fourth)]
        else:
            self._third = words[2::4]
            self._fourth = [low | high << 32 for low, high in zip(words[2::4], words[3::4])]  # child ids
            starts = [offset + pos for offset, pos in zip(offsets, words[0::4])]
            sizes = words[1::4]
            ends = [start + ksize for start, ksize in zip(starts, sizes)]
        if count and max(ends) > len(buf):
            index = next(i for i, end in enumerate(ends) if end > len(buf))
            raise BoltError("%s: element %d ends at byte %d, past the page end %d"
                            % (where, index, ends[index], len(buf)))
        self._starts = starts
        self.keys = [bytes(buf[start:start + ksize]) for start, ksize in zip(starts, sizes)]

    @property
    def is_leaf(self) -> bool:
        return self.flags == LEAF_PAGE

    def value(self, index: int) -> memoryview:
        start = self._starts[index] + len(self.keys[index])
        return self.buf[start:start + self._fourth[index]]

    def has_flagged_elements(self) -> bool:
        """Whether any leaf element carries flags (a sub-bucket, or garbage)."""
        return self.flags == LEAF_PAGE and any(self._third)

    def element_flags(self, index: int) -> int:
        return self._third[index] if self.flags == LEAF_PAGE else 0

    def child(self, index: int) -> int:
        return self._fourth[index]

    def search(self, key: bytes) -> int:
        """bbolt's sort.Search: the first index whose key is >= key (count when none)."""
        return bisect.bisect_left(self.keys, key)


def _type_name(flags: int) -> str:
    return PAGE_TYPE_NAMES.get(flags, "unknown(0x%02x)" % flags)


# ================================================================================================================
# Reader
# ================================================================================================================


class BoltReader:
    """A read-only view of a bolt file. Use as a context manager; never writes and never locks."""

    def __init__(self, path: str):
        self.path = path
        # O_NONBLOCK: a FIFO (or a symlink to one) in place of a database must not block the open forever.
        self._fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        self._map = None  # type: Optional[mmap.mmap]
        try:
            info = os.fstat(self._fd)
            if not stat.S_ISREG(info.st_mode):
                raise BoltError("%s: not a regular file (mode 0o%o), not a bolt database" % (path, info.st_mode))
            self.file_size = info.st_size
            if self.file_size == 0:
                raise BoltError("%s: empty file (0 bytes), not a bolt database" % path)
            self._map = mmap.mmap(self._fd, self.file_size, access=mmap.ACCESS_READ)
            self.data = memoryview(self._map)
            self.page_size = self._discover_page_size()
            if self.file_size < 2 * self.page_size:
                raise BoltError("%s: file size %d is smaller than two %d-byte pages"
                                % (path, self.file_size, self.page_size))
            self.metas = [self._read_meta_slot(0), self._read_meta_slot(1)]
            self.meta = self._current_meta()
        except BaseException:
            self.close()
            raise

    # -- lifecycle --------------------------------------------------------------------------------------------
    def close(self) -> None:
        data = getattr(self, "data", None)
        self.data = None
        if self._map is not None:
            try:
                if data is not None:
                    data.release()
                self._map.close()
            except BufferError:
                pass  # a caller still holds a view of a page; the map closes when the last view is dropped
            self._map = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "BoltReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- meta -------------------------------------------------------------------------------------------------
    def _meta_at(self, offset: int) -> Optional[Meta]:
        if offset + PAGE_HEADER_SIZE + META.size > self.file_size:
            return None
        return Meta.unpack(self.data[offset:offset + PAGE_HEADER_SIZE + META.size])

    def _discover_page_size(self) -> int:
        """bbolt 1.3.9 getPageSize: meta0's page size if it validates, else the first valid meta1 found at
        1 KiB << i. boltdb 1.3.1 would assume the OS page size instead; we refuse to guess."""
        candidates = [self._meta_at(0)] + [self._meta_at(offset) for offset in META_PROBE_OFFSETS]
        for meta in candidates:
            if meta is not None and meta.problem() is None and meta.page_size in SUPPORTED_PAGE_SIZES:
                return meta.page_size
        first = candidates[0]
        detail = first.problem() if first is not None else "file too short"
        raise BoltError("%s: no valid meta page found (meta 0: %s)" % (self.path, detail))

    def _read_meta_slot(self, pgid: int) -> MetaSlot:
        offset = pgid * self.page_size
        meta = self._meta_at(offset)
        if meta is None:
            return MetaSlot(pgid, None, "page %d: beyond the end of the file" % pgid)
        header = PageHeader(*PAGE_HEADER.unpack_from(self.data, offset))
        problem = meta.problem()
        if problem is None and meta.page_size != self.page_size:
            problem = "page size %d differs from %d" % (meta.page_size, self.page_size)
        if problem is None and (header.id != pgid or header.flags != META_PAGE):
            problem = "page header id %d flags 0x%02x, expected id %d meta" % (header.id, header.flags, pgid)
        if problem is None and meta.txid % 2 != pgid:
            problem = "txid %d stored on meta page %d" % (meta.txid, pgid)
        return MetaSlot(pgid, meta, None if problem is None else "meta page %d: %s" % (pgid, problem))

    def _current_meta(self) -> Meta:
        """bbolt DB.meta(): the higher txid if it validates, else the other one."""
        valid = [slot.meta for slot in self.metas if slot.valid]
        if not valid:
            raise BoltError("%s: both meta pages are invalid (%s; %s)"
                            % (self.path, self.metas[0].problem, self.metas[1].problem))
        return max(valid, key=lambda meta: meta.txid)

    # -- pages ------------------------------------------------------------------------------------------------
    def page_header(self, pgid: int) -> PageHeader:
        offset = pgid * self.page_size
        if pgid < 0 or offset + PAGE_HEADER_SIZE > self.file_size:
            raise BoltError("page %d: beyond the end of the file (%d bytes)" % (pgid, self.file_size))
        return PageHeader(*PAGE_HEADER.unpack_from(self.data, offset))

    def page_span(self, pgid: int) -> memoryview:
        """The bytes of page ``pgid`` and its overflow pages, after bbolt's fastCheck (id and type)."""
        header = self.page_header(pgid)
        if header.id != pgid:
            raise BoltError("page %d: header says id %d" % (pgid, header.id))
        if header.flags not in PAGE_TYPE_NAMES:
            raise BoltError("page %d: invalid page flags 0x%02x" % (pgid, header.flags))
        start = pgid * self.page_size
        end = start + (header.overflow + 1) * self.page_size
        if end > self.file_size:
            raise BoltError("page %d: %d overflow pages run past the end of the file" % (pgid, header.overflow))
        return self.data[start:end]

    def node(self, pgid: int) -> Node:
        if pgid < 2 or pgid >= self.meta.pgid:
            raise BoltError("page %d: out of bounds (high water mark %d)" % (pgid, self.meta.pgid))
        return Node(pgid, self.page_span(pgid), "page %d" % pgid)

    def freelist(self) -> List[int]:
        """Free and pending page ids, sorted on read as bbolt does. Empty when not synced."""
        return sorted(self.iter_freelist())

    def iter_freelist(self) -> Iterator[int]:
        """Free and pending page ids in stored order, without holding them all: a grown live log frees hundreds
        of thousands of pages, which as a list of Python ints would make the check's memory grow with the file."""
        if self.meta.freelist == NO_FREELIST:
            return iter(())
        pgid = self.meta.freelist
        if pgid < 2 or pgid >= self.meta.pgid:
            raise BoltError("freelist page %d: out of bounds (high water mark %d)" % (pgid, self.meta.pgid))
        span = self.page_span(pgid)
        header = PageHeader(*PAGE_HEADER.unpack_from(span, 0))
        if header.flags != FREELIST_PAGE:
            raise BoltError("page %d: type %s, expected freelist" % (pgid, header.type_name))
        count, start = header.count, PAGE_HEADER_SIZE
        if count == FREELIST_COUNT_OVERFLOW:
            if len(span) < start + 8:
                raise BoltError("page %d: freelist overflow count missing" % pgid)
            count = PGID.unpack_from(span, start)[0]
            start += 8
        if start + count * 8 > len(span):
            raise BoltError("page %d: freelist of %d ids does not fit in %d bytes" % (pgid, count, len(span)))
        return (pgid for (pgid,) in PGID.iter_unpack(span[start:start + count * 8]))

    # -- buckets ----------------------------------------------------------------------------------------------
    def root(self) -> "Bucket":
        return Bucket(self, self.meta.root, None, "root bucket")

    def bucket(self, name: bytes) -> Optional["Bucket"]:
        return self.root().bucket(name)


class Bucket:
    """A bucket's B+tree: either rooted at a page, or inline (a fake page inside the parent's value)."""

    def __init__(self, reader: BoltReader, root: int, inline: Optional[memoryview], where: str,
                 path: Tuple[bytes, ...] = ()):
        self.reader = reader
        self.root_pgid = root
        self.inline = inline
        self.where = where
        self.path = path  # bucket names from the root, () for the root bucket

    @classmethod
    def from_value(cls, reader: BoltReader, value: memoryview, where: str,
                   path: Tuple[bytes, ...] = ()) -> "Bucket":
        if len(value) < BUCKET_HEADER_SIZE:
            raise BoltError("%s: bucket value of %d bytes is shorter than its header" % (where, len(value)))
        root, _sequence = BUCKET_HEADER.unpack_from(value, 0)
        if root == 0:
            return cls(reader, 0, value[BUCKET_HEADER_SIZE:], where + " (inline)", path)
        return cls(reader, root, None, where, path)

    def node(self, pgid: int) -> Node:
        if self.inline is not None:
            node = Node(0, self.inline, self.where)
            if not node.is_leaf:
                raise BoltError("%s: inline bucket page is not a leaf" % self.where)
            return node
        return self.reader.node(pgid)

    def cursor(self) -> "Cursor":
        return Cursor(self)

    def get(self, key: bytes) -> Optional[bytes]:
        """The value for ``key``; None when absent or when the key names a sub-bucket (as bbolt's Get)."""
        found = self.cursor().seek(key)
        if found is None or found[0] != key or found[2]:
            return None
        return bytes(found[1])

    def bucket(self, name: bytes) -> Optional["Bucket"]:
        found = self.cursor().seek(name)
        if found is None or found[0] != name or not found[2]:
            return None
        return Bucket.from_value(self.reader, found[1], "bucket %r" % name.decode("utf-8", "replace"),
                                 self.path + (name,))

    def items(self) -> Iterator[Tuple[bytes, memoryview, bool]]:
        """(key, value, is_bucket) in key order."""
        cursor = self.cursor()
        item = cursor.first()
        while item is not None:
            yield item
            item = cursor.next()


class Cursor:
    """bbolt's cursor: a stack of (node, index) from the bucket root to a leaf. Items are (key, value, is_bucket)."""

    def __init__(self, bucket: Bucket):
        self.bucket = bucket
        self.stack = []  # type: List[List]

    def _push(self, pgid: int) -> Node:
        if len(self.stack) >= MAX_TREE_DEPTH:
            raise BoltError("%s: tree deeper than %d pages (page cycle?)" % (self.bucket.where, MAX_TREE_DEPTH))
        node = self.bucket.node(pgid)
        self.stack.append([node, 0])
        return node

    def _item(self) -> Optional[Tuple[bytes, memoryview, bool]]:
        node, index = self.stack[-1]
        if index >= node.count:
            return None
        return node.keys[index], node.value(index), bool(node.element_flags(index) & BUCKET_LEAF_FLAG)

    def _descend(self, last: bool) -> None:
        """Follow first (or last) children down to a leaf from the top of the stack."""
        while True:
            node, index = self.stack[-1]
            if node.is_leaf:
                return
            if node.count == 0:
                raise BoltError("page %d: branch page with no elements" % node.pgid)
            child = self._push(node.child(index))
            if last:
                self.stack[-1][1] = max(child.count - 1, 0)

    def first(self):
        self.stack = []
        self._push(self.bucket.root_pgid)
        self._descend(last=False)
        return self._item() if self.stack[-1][0].count else self.next()

    def last(self):
        self.stack = []
        root = self._push(self.bucket.root_pgid)
        self.stack[-1][1] = max(root.count - 1, 0)
        self._descend(last=True)
        node, index = self.stack[-1]
        if node.count == 0:
            return self.prev()
        return self._item()

    def next(self):
        while True:
            # Climb to the deepest level that still has a right sibling.
            while self.stack:
                node, index = self.stack[-1]
                if index + 1 < node.count:
                    break
                self.stack.pop()
            if not self.stack:
                return None
            self.stack[-1][1] += 1
            self._descend(last=False)
            if self.stack[-1][0].count:
                return self._item()

    def prev(self):
        while True:
            while self.stack:
                node, index = self.stack[-1]
                if index > 0:
                    break
                self.stack.pop()
            if not self.stack:
                return None
            self.stack[-1][1] -= 1
            self._descend(last=True)
            node, index = self.stack[-1]
            if node.count:
                return self._item()

    def seek(self, key: bytes):
        """The first item whose key is >= key, or None."""
        self.stack = []
        node = self._push(self.bucket.root_pgid)
        while not node.is_leaf:
            index = node.search(key)
            if index == node.count or node.keys[index] != key:
                index = max(index - 1, 0)
            self.stack[-1][1] = index
            node = self._push(node.child(index))
        self.stack[-1][1] = node.search(key)
        if self.stack[-1][1] >= node.count:
            return self.next()
        return self._item()


# ================================================================================================================
# Structural check (mirrors bbolt tx.Check, plus the fastCheck assertions and inline buckets)
# ================================================================================================================


MAX_PROBLEMS = 200  # a badly damaged file can yield one problem per page; the first ones say enough


@dataclass
class CheckReport:
    ok: bool = True
    problems: List[str] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)
    omitted: int = 0

    def fail(self, message: str) -> None:
        self.ok = False
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(message)
        else:
            self.omitted += 1

    def close(self) -> "CheckReport":
        if self.omitted:
            self.problems.append("... and %d more problems" % self.omitted)
            self.omitted = 0
        return self


def check_file(path: str) -> CheckReport:
    """Full structural check of a bolt file. Never raises for a bad file: every defect becomes a problem."""
    try:
        with BoltReader(path) as reader:
            return check_reader(reader)
    except (BoltError, OSError) as exc:
        report = CheckReport()
        report.fail(str(exc))
        return report


LeafVisitor = Callable[[Tuple[bytes, ...], Node], None]


def check_reader(reader: BoltReader, visit: Optional[LeafVisitor] = None) -> CheckReport:
    """The structural check. ``visit(bucket path, leaf node)`` sees every leaf of every bucket in key order
    as the check walks it, so a caller can inspect values without walking the tree a second time."""
    report = CheckReport()
    try:
        _Checker(reader, report, visit).run()
    except BoltError as exc:
        report.fail(str(exc))
    return report.close()


def _runs(pages: List[int]) -> Iterator[Tuple[int, int]]:
    """Consecutive runs of sorted page ids, as (first, last)."""
    start = previous = None
    for page in pages:
        if previous is not None and page == previous + 1:
            previous = page
            continue
        if start is not None:
            yield start, previous
        start = previous = page
    if start is not None:
        yield start, previous


class _Checker:
    def __init__(self, reader: BoltReader, report: CheckReport, visit: Optional[LeafVisitor] = None):
        self.reader = reader
        self.report = report
        self.visit = visit
        self.high_water = reader.meta.pgid
        # Per page, who references it (an index into self.owners, 0 = nobody) and whether it is free: two flat
        # arrays of 3 bytes a page instead of a dict and a set, so memory stays small on multi-GiB files. They
        # are sized in run(), once the high water mark is known to lie within the file.
        self.owners = ["", "meta"]  # type: List[str]
        self.owner_index = {"meta": 1}  # type: Dict[str, int]
        self.reachable = array.array("H")
        self.freed = bytearray()

    def run(self) -> None:
        reader, report = self.reader, self.report
        for slot in reader.metas:
            if not slot.valid:
                # bbolt reads on with the other meta, but its Check asserts on the damaged page: a panic.
                report.fail(slot.problem)
        meta = reader.meta
        if meta.txid >= MAX_PLAUSIBLE_TXID:
            # bbolt adds 1 per commit: no real file gets here. Near 2^64 the counter wraps, the next commit
            # lands on a meta page bbolt then ignores, and raft panics ("page N already freed"; found by fuzzing).
            report.fail("meta (txid %d): a transaction id past 2^63 is corruption; at 2^64 bbolt wraps it and then "
                        "reads a stale meta page" % meta.txid)
        if meta.root >= meta.pgid or (meta.freelist != NO_FREELIST and meta.freelist >= meta.pgid):
            report.fail("meta (txid %d): root %d or freelist %d not below the high water mark %d"
                        % (meta.txid, meta.root, meta.freelist, meta.pgid))
            return
        if meta.pgid * reader.page_size > reader.file_size:
            report.fail("high water mark %d pages runs past the end of the file (%d bytes)"
                        % (meta.pgid, reader.file_size))
            return
        self.reachable = array.array("H", bytes(2 * meta.pgid))
        self.reachable[0] = self.reachable[1] = 1
        self.freed = bytearray(meta.pgid)
        if meta.freelist == NO_FREELIST:
            # raft-boltdb never sets NoFreelistSync; boltdb 1.3.1 (early op-conductor) panics on such a file.
            report.fail("meta (txid %d): freelist not synced (NoFreelistSync): boltdb 1.3.1 cannot open this file"
                        % meta.txid)
        else:
            self._check_freelist()
        self._check_bucket(Bucket(reader, meta.root, None, "root bucket"), depth=0)
        if meta.freelist == NO_FREELIST:
            return  # bbolt rebuilds the freelist from unreachable pages; nothing can be "unfreed"
        unreachable = [pgid for pgid in range(meta.pgid) if not self.reachable[pgid] and not self.freed[pgid]]
        for first, last in _runs(unreachable):
            report.fail("page %d: unreachable unfreed" % first if first == last else
                        "pages %d..%d: unreachable unfreed" % (first, last))

    def _check_freelist(self) -> None:
        try:
            ids = self.reader.iter_freelist()
        except BoltError as exc:
            self.report.fail(str(exc))
            return
        for pgid in ids:
            if pgid < 2 or pgid >= self.high_water:
                self.report.fail("page %d: freed page outside 2..%d" % (pgid, self.high_water - 1))
            elif self.freed[pgid]:
                self.report.fail("page %d: already freed" % pgid)
            else:
                self.freed[pgid] = 1
        header = self.reader.page_header(self.reader.meta.freelist)
        self._mark(self.reader.meta.freelist, header.overflow, "freelist")

    def _mark(self, pgid: int, overflow: int, what: str) -> bool:
        ok = True
        last = pgid + overflow
        if last >= self.high_water:
            # One message, and no loop over a damaged overflow count (it can claim billions of pages).
            self.report.fail("page %d: out of bounds: %d overflow pages run past the high water mark %d (%s)"
                             % (pgid, overflow, self.high_water, what))
            return False
        owner = self.owner_index.get(what)
        if owner is None:
            owner = min(len(self.owners), 0xFFFF)
            if owner < 0xFFFF:
                self.owners.append(what)
                self.owner_index[what] = owner
        for page in range(pgid, last + 1):
            if self.reachable[page]:
                self.report.fail("page %d: multiple references (%s and %s)"
                                 % (page, self.owners[min(self.reachable[page], len(self.owners) - 1)], what))
                ok = False
                continue
            if self.freed[page]:
                self.report.fail("page %d: reachable freed (%s)" % (page, what))
                ok = False
            self.reachable[page] = owner
        return ok

    def _check_bucket(self, bucket: Bucket, depth: int) -> None:
        if depth > MAX_TREE_DEPTH:
            self.report.fail("%s: buckets nested deeper than %d" % (bucket.where, MAX_TREE_DEPTH))
            return
        if bucket.inline is not None:
            self._check_node(bucket, 0, None, None, depth, tree_depth=0)
        else:
            self._check_node(bucket, bucket.root_pgid, None, None, depth, tree_depth=0)

    def _check_node(self, bucket: Bucket, pgid: int, low: Optional[bytes], high: Optional[bytes],
                    bucket_depth: int, tree_depth: int) -> None:
        where = bucket.where if bucket.inline is not None else "page %d" % pgid
        if tree_depth > MAX_TREE_DEPTH:
            self.report.fail("%s: tree deeper than %d" % (where, MAX_TREE_DEPTH))
            return
        if bucket.inline is None:
            try:
                header = self.reader.page_header(pgid)
            except BoltError as exc:
                self.report.fail(str(exc))
                return
            if header.id != pgid:
                self.report.fail("page %d: header says id %d" % (pgid, header.id))
                return
            if not self._mark(pgid, header.overflow, bucket.where):
                return
            if header.flags not in (BRANCH_PAGE, LEAF_PAGE):
                self.report.fail("page %d: invalid type: %s (%s)" % (pgid, header.type_name, bucket.where))
                return
        try:
            node = bucket.node(pgid)
        except BoltError as exc:
            self.report.fail(str(exc))
            return
        if bucket.inline is not None and not node.is_leaf:
            self.report.fail("%s: inline bucket is not a leaf" % where)
            return
        if bucket.inline is None and pgid == bucket.root_pgid and node.count == 0 and not node.is_leaf:
            self.report.fail("%s: empty branch page" % where)
        self._check_keys(node, where, low, high)
        if node.is_leaf:
            self._check_leaf_elements(bucket, node, where, bucket_depth)
            return
        for index in range(node.count):
            child_high = node.keys[index + 1] if index + 1 < node.count else high
            self._check_node(bucket, node.child(index), node.keys[index], child_high, bucket_depth, tree_depth + 1)

    def _check_keys(self, node: Node, where: str, low: Optional[bytes], high: Optional[bytes]) -> None:
        keys = node.keys
        if node.is_leaf and not all(keys):
            self.report.fail("%s: element %d has an empty key" % (where, keys.index(b"")))
        for index in range(1, len(keys)):
            if keys[index - 1] >= keys[index]:
                self.report.fail("%s: keys out of order at element %d" % (where, index))
                break
        if keys and low is not None and keys[0] < low:
            self.report.fail("%s: first key sorts before the parent's key for it" % where)
        if keys and high is not None and keys[-1] >= high:
            self.report.fail("%s: last key is not below the next sibling's first key" % where)

    def _check_leaf_elements(self, bucket: Bucket, node: Node, where: str, bucket_depth: int) -> None:
        if self.visit is not None:
            self.visit(bucket.path, node)
        if not node.has_flagged_elements():
            return  # plain key/value pairs only: the common case of a log leaf
        for index in range(node.count):
            flags = node.element_flags(index)
            if flags & ~BUCKET_LEAF_FLAG:
                self.report.fail("%s: element %d has unknown flags 0x%x" % (where, index, flags))
            if not flags & BUCKET_LEAF_FLAG:
                continue
            name = node.keys[index]
            try:
                child = Bucket.from_value(self.reader, node.value(index),
                                          "bucket %r" % name.decode("utf-8", "replace"), bucket.path + (name,))
            except BoltError as exc:
                self.report.fail(str(exc))
                continue
            self._check_bucket(child, bucket_depth + 1)


# ================================================================================================================
# Writer: a compact database from a {bucket: {key: value | {sub-bucket}}} description
# ================================================================================================================

BucketContent = Dict[bytes, Union[bytes, "BucketContent"]]


class _PageAllocator:
    """Hands out page ids in order and collects the page images; page 0/1 are metas, 2 the freelist."""

    def __init__(self, page_size: int):
        self.page_size = page_size
        self.pages = {}  # type: Dict[int, bytes]
        self.next_id = 3

    def place(self, build) -> int:
        """``build(pgid)`` returns the page image (any multiple of the page size); returns pgid."""
        pgid = self.next_id
        image = build(pgid)
        self.pages[pgid] = image
        self.next_id += len(image) // self.page_size
        return pgid


def _node_image(pgid: int, flags: int, elements: List[Tuple[int, bytes, bytes]], page_size: int) -> bytes:
    """A page (plus overflow pages) holding leaf elements (flags, key, value) or branch elements
    (0, key, 8-byte child id). Keys and values follow the element headers back to back, as node.write does."""
    count = len(elements)
    head = bytearray()
    body = bytearray()
    for index, (elem_flags, key, value) in enumerate(elements):
        pos = (count - index) * ELEMENT_SIZE + len(body)
        if flags == LEAF_PAGE:
            head += LEAF_ELEMENT.pack(elem_flags, pos, len(key), len(value))
            body += key
            body += value
        else:
            head += BRANCH_ELEMENT.pack(pos, len(key), PGID.unpack(value)[0])
            body += key
    size = PAGE_HEADER_SIZE + len(head) + len(body)
    pages = max(1, -(-size // page_size)) if page_size else 1
    image = bytearray(pages * page_size if page_size else size)
    PAGE_HEADER.pack_into(image, 0, pgid, flags, count, pages - 1 if page_size else 0)
    image[PAGE_HEADER_SIZE:size] = head + body
    return bytes(image)


def _leaf_elements(content: BucketContent, page_size: int, alloc: _PageAllocator) -> List[Tuple[int, bytes, bytes]]:
    elements = []
    for key in sorted(content):
        value = content[key]
        if not isinstance(key, bytes) or not 0 < len(key) <= MAX_KEY_SIZE:
            raise ValueError("bolt key must be 1..%d bytes, got %r" % (MAX_KEY_SIZE, key))
        if isinstance(value, dict):
            elements.append((BUCKET_LEAF_FLAG, key, _bucket_value(value, page_size, alloc)))
        else:
            if len(value) > MAX_VALUE_SIZE:
                raise ValueError("bolt value for key %r is %d bytes, over the limit" % (key, len(value)))
            elements.append((0, key, bytes(value)))
    return elements


def _inlineable(elements: List[Tuple[int, bytes, bytes]], page_size: int) -> bool:
    """bbolt Bucket.inlineable: no sub-buckets, and the leaf's size fits in a quarter page."""
    if any(element[0] & BUCKET_LEAF_FLAG for element in elements):
        return False
    size = PAGE_HEADER_SIZE + sum(ELEMENT_SIZE + len(element[1]) + len(element[2]) for element in elements)
    return size <= page_size // 4


def _bucket_value(content: BucketContent, page_size: int, alloc: _PageAllocator) -> bytes:
    elements = _leaf_elements(content, page_size, alloc)
    if _inlineable(elements, page_size):
        return BUCKET_HEADER.pack(0, 0) + _node_image(0, LEAF_PAGE, elements, 0)
    return BUCKET_HEADER.pack(_write_tree(elements, page_size, alloc), 0)


def _split(elements: List[Tuple[int, bytes, bytes]], page_size: int) -> List[List[Tuple[int, bytes, bytes]]]:
    """Fill pages up to the page size; an element too big for a page gets a page (with overflow) of its own."""
    groups = [[]]  # type: List[List[Tuple[int, bytes, bytes]]]
    size = PAGE_HEADER_SIZE
    for element in elements:
        element_size = ELEMENT_SIZE + len(element[1]) + len(element[2])
        if groups[-1] and size + element_size > page_size:
            groups.append([])
            size = PAGE_HEADER_SIZE
        groups[-1].append(element)
        size += element_size
    return groups


def _write_tree(elements: List[Tuple[int, bytes, bytes]], page_size: int, alloc: _PageAllocator) -> int:
    """Write a B+tree for sorted leaf elements bottom-up; returns its root page id."""
    level = [(group[0][1] if group else b"",
              alloc.place(lambda pgid, g=group: _node_image(pgid, LEAF_PAGE, g, page_size)))
             for group in _split(elements, page_size)]
    while len(level) > 1:
        branch_elements = [(0, key, PGID.pack(child)) for key, child in level]
        level = [(group[0][1], alloc.place(lambda pgid, g=group: _node_image(pgid, BRANCH_PAGE, g, page_size)))
                 for group in _split(branch_elements, page_size)]
    return level[0][1]


def build_database(buckets: BucketContent, page_size: int = DEFAULT_PAGE_SIZE) -> bytes:
    """The bytes of a compact, valid bolt file holding ``buckets`` (top-level names → contents).

    Layout: meta pages 0 (txid 0) and 1 (txid 1), both valid and identical but for the txid, so a damaged one
    never leaves the file unreadable; page 2 an empty freelist; page 3 onwards the bucket trees, the root
    bucket's leaf last. The file ends at the high water mark, which bbolt accepts and grows on its first write.
    Deterministic: the same description gives the same bytes.
    """
    if page_size not in SUPPORTED_PAGE_SIZES:
        raise ValueError("page_size must be one of %s, got %r" % (", ".join(map(str, SUPPORTED_PAGE_SIZES)),
                                                                  page_size))
    for name, content in buckets.items():
        if not isinstance(content, dict):
            raise ValueError("top-level entry %r must be a bucket (dict)" % (name,))
    alloc = _PageAllocator(page_size)
    root_elements = _leaf_elements(buckets, page_size, alloc)
    root = _write_tree(root_elements, page_size, alloc)
    high_water = alloc.next_id
    freelist = bytearray(page_size)
    PAGE_HEADER.pack_into(freelist, 0, 2, FREELIST_PAGE, 0, 0)
    out = bytearray()
    for txid in (0, 1):
        out += Meta(MAGIC, VERSION, page_size, 0, root, 0, 2, high_water, txid, 0).to_page(page_size)
    out += freelist
    for pgid in sorted(alloc.pages):
        out += alloc.pages[pgid]
    if len(out) != high_water * page_size:
        raise AssertionError("page layout mismatch: %d bytes for %d pages" % (len(out), high_water))
    return bytes(out)


def read_database(path: str) -> BucketContent:
    """Every bucket, key and value of a file, nested; the inverse of build_database (for tests and small files)."""
    with BoltReader(path) as reader:
        return _read_bucket(reader.root())


def _read_bucket(bucket: Bucket) -> BucketContent:
    out = {}  # type: BucketContent
    for key, value, is_bucket in bucket.items():
        if is_bucket:
            out[key] = _read_bucket(Bucket.from_value(bucket.reader, value, "bucket %r" % key))
        else:
            out[key] = bytes(value)
    return out
