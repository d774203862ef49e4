"""Bad inputs through the public interface (reliability.md §5), extending test_raft_state.py: every option that
can be wrong fails with the field and the value in the message and nothing on disk changes (the whole tree is
hashed before and after, check mode too); damaged, foreign and odd files are reported, never followed to write
outside the node directory, never hang; huge clusters, odd Unicode and large page sizes behave."""

import fcntl
import os
import shutil
import stat

import pytest

from ansible_collections.opstack.conductor.plugins.module_utils import _bbolt as bolt
from ansible_collections.opstack.conductor.plugins.module_utils import _cluster as cluster
from ansible_collections.opstack.conductor.plugins.module_utils import _raft as raft
from ansible_collections.opstack.conductor.plugins.modules import raft_state, raft_state_info
from ansible_collections.opstack.conductor.tests.support.nodes import SERVERS, args
from ansible_collections.opstack.conductor.tests.support.fs import tree

pytestmark = pytest.mark.reliability  # `make test-reliability` selects these by marker


# ================================================================================================================
# Options
# ================================================================================================================

NFD_E = "e\u0301"  # "é" decomposed

BAD_OPTIONS = [
    (dict(server_id="/abs"), "server_id='/abs'"),
    (dict(server_id="a/b"), "server_id='a/b'"),
    (dict(server_id="."), "server_id='.'"),
    (dict(server_id=".."), "server_id='..'"),
    (dict(server_id=".hidden"), "server_id='.hidden'"),
    (dict(server_id="nul\x00byte"), "server_id='nul\\x00byte'"),
    (dict(server_id=" lead"), "server_id=' lead'"),
    (dict(server_id="tab\tid"), "server_id='tab\\tid'"),
    (dict(server_id="zero\u200bwidth"), "U+200B"),
    (dict(server_id="rtl\u202eid"), "U+202E"),
    (dict(server_id="x" * 201), "longer than 200 bytes"),
    (dict(path_name="y" * 201), "longer than 200 bytes"),
    (dict(server_id="\u00e9" * 101), "longer than 200 bytes"),  # 101 characters, 202 bytes of UTF-8
    (dict(servers=SERVERS[:1] + [{"id": "a/b", "address": "h:1"}]), "servers[1].id='a/b'"),
    (dict(servers=SERVERS + [dict(SERVERS[0])]), "servers[3].id='seq-1': duplicates seq-1"),
    (dict(servers=[{"id": "s\u00e9q", "address": "h:1"}, {"id": "s%sq" % NFD_E, "address": "h:2"}], server_id="s\u00e9q",
          initial_leader=None), "servers[1].id='s%sq': duplicates" % NFD_E),
    (dict(servers=SERVERS + [{"id": "seq-4", "address": "10.0.0.1:50050".upper()}]), "already used by seq-1"),
    (dict(servers=[{"id": "seq-1", "address": "h:1", "suffrage": "nonvoter"}], initial_leader=None),
     "at least one server must be a voter"),
    (dict(servers=SERVERS[:2] + [{"id": "seq-3", "address": "h:3", "suffrage": "nonvoter"}],
          initial_leader="seq-3"), "initial_leader='seq-3': is a nonvoter"),
    (dict(servers=[]), "servers=[]"),
    (dict(servers=SERVERS[:2] + [{"id": "seq-3", "address": "h:0"}]), "servers[2].address='h:0'"),
    (dict(servers=SERVERS[:2] + [{"id": "seq-3", "address": "h:65536"}]), "servers[2].address='h:65536'"),
    (dict(servers=SERVERS[:2] + [{"id": "seq-3", "address": "h:0050"}]), "servers[2].address='h:0050'"),
    (dict(servers=SERVERS[:2] + [{"id": "seq-3", "address": "::1:50050"}]), "in brackets"),
    (dict(servers=SERVERS[:2] + [{"id": "seq-3", "address": "[::1]"}]), "servers[2].address='[::1]'"),
    (dict(servers=SERVERS[:2] + [{"id": "seq-3", "address": "[zz]:1"}]), "'zz' is not an IPv6 address"),
    (dict(servers=SERVERS[:2] + [{"id": "seq-3", "address": "tcp://h:1"}]), "servers[2].address='tcp://h:1'"),
    (dict(servers=SERVERS[:2] + [{"id": "seq-3", "address": "h :1"}]), "servers[2].address='h :1'"),
    (dict(servers=SERVERS[:2] + [{"id": "seq-3", "address": "h" * 1100 + ":1"}]), "longer than 1024 bytes"),
    (dict(term=-1), "term=-1"),
    (dict(term=1 << 64), "term=18446744073709551616"),
    (dict(page_size=1234), "page_size"),
    (dict(directory_mode="abc"), "directory_mode='abc'"),
    (dict(mode="0999"), "mode='0999'"),
    (dict(owner="no-such-user-0x4242"), "owner 'no-such-user-0x4242'"),
    (dict(group="no-such-group-0x4242"), "group 'no-such-group-0x4242'"),
]


@pytest.mark.parametrize("check_mode", [False, True], ids=["run", "check"])
@pytest.mark.parametrize("bad,needle", BAD_OPTIONS, ids=[str(i) for i in range(len(BAD_OPTIONS))])
def test_bad_option_fails_naming_it_and_changes_nothing(tmp_path, run_module, bad, needle, check_mode):
    """Under a parent that does not exist yet: a failure must not even create it."""
    (tmp_path / "raft").mkdir()
    before = tree(tmp_path)
    bad = dict(bad)
    node = tmp_path / "raft" / "missing" / bad.pop("path_name", "seq-1")
    result = run_module(raft_state.main, args(node, **bad), check_mode=check_mode)
    assert result.get("failed") and needle in result["msg"], result.get("msg")
    assert tree(tmp_path) == before


def test_bad_options_on_an_existing_node_change_nothing(tmp_path, run_module):
    node = tmp_path / "seq-1"
    assert run_module(raft_state.main, args(node))["changed"]
    before = tree(tmp_path)
    for bad, needle in BAD_OPTIONS:
        if "path_name" in bad:
            continue
        result = run_module(raft_state.main, args(node, force=True, **bad))
        assert result.get("failed") and needle in result["msg"], (bad, result.get("msg"))
    assert tree(tmp_path) == before


def test_bad_expected_servers_of_info(tmp_path, run_module):
    node = tmp_path / "seq-1"
    run_module(raft_state.main, args(node))
    result = run_module(raft_state_info.main, dict(path=str(node), expected_servers=[{"id": "../x", "address": "h:1"}]))
    assert result["failed"] and "expected_servers[0].id='../x'" in result["msg"]


def test_ids_that_render_alike_are_one_id_but_other_unicode_is_fine(tmp_path, run_module):
    """Printable non-ASCII IDs are opaque bytes to raft and a valid directory name: they round-trip. IDs equal
    after NFKC normalisation and case folding are refused (one directory on macOS or case-insensitive mounts)."""
    servers = [{"id": "s\u00e9quenceur-1", "address": "10.0.0.1:1"}, {"id": "\u30ce\u30fc\u30c9-2", "address": "10.0.0.2:1"},
               {"id": "n\u00f8de-3", "address": "10.0.0.3:1"}]
    node = tmp_path / servers[0]["id"]
    result = run_module(raft_state.main, dict(path=str(node), server_id=servers[0]["id"], servers=servers,
                                              initial_leader=servers[0]["id"]))
    assert result["changed"] and result["state"]["integrity"]["ok"]
    info = run_module(raft_state_info.main, dict(path=str(node), expected_servers=servers))
    assert info["drift"]["in_sync"] and info["last_vote_candidate"] == servers[0]["id"]
    for alike in ("S\u00c9QUENCEUR-1", "se\u0301quenceur-1", "s\u00e9quenceur\uff0d1"):  # case, NFD, fullwidth '-'
        clash = servers + [{"id": alike, "address": "10.0.0.4:1"}]
        failed = run_module(raft_state.main, dict(path=str(node), server_id=servers[0]["id"], servers=clash))
        assert failed["failed"] and "servers[3].id=%r: duplicates" % alike in failed["msg"]


def test_surrogate_escaped_ids_are_refused_by_the_validators():
    """Non-UTF-8 bytes reach Python as surrogate escapes. ansible-core itself refuses such module arguments
    (AnsibleModule logs every parameter as UTF-8), so the validators are the layer that sees them directly."""
    for value in ("n\udcff", "\udc80\udc81"):
        with pytest.raises(cluster.SpecError, match="non-printable character U\\+DC"):
            cluster.validate_server_id(value)


def test_non_utf8_ids_read_from_disk_come_back_escaped(tmp_path, run_module):
    spec = cluster.ClusterSpec((raft.Server("n\udcff", "127.0.0.1:1"), raft.Server("n1", "127.0.0.1:2")), "n1", 1)
    node = tmp_path / "n1"
    node.mkdir()
    for name, data in cluster.node_databases(spec, "n1").items():
        (node / name).write_bytes(data)
    info = run_module(raft_state_info.main, dict(path=str(node)))
    assert info["integrity"]["ok"] and info["latest_configuration"]["servers"][0]["id"] == "n\udcff"
    before = tree(tmp_path)
    refused = run_module(raft_state.main, dict(path=str(node), server_id="n1", servers=[{"id": "n1", "address": "h:1"}]))
    assert refused["failed"] and "different membership" in refused["msg"] and tree(tmp_path) == before


def test_huge_cluster_and_huge_ids(tmp_path, run_module):
    """No member cap (raft has none): 10,000 members write a 450 KB configuration entry (overflow pages) and
    read back; IDs up to 200 bytes and addresses up to 1024 bytes. (How long that takes is a benchmark's question,
    not this test's: a time bound here would fail on a busy machine.)"""
    servers = [{"id": "n%05d" % i, "address": "10.%d.%d.%d:50050" % (i >> 16, (i >> 8) & 255, i & 255)}
               for i in range(1, 10001)]
    node = tmp_path / "n00001"
    result = run_module(raft_state.main, dict(path=str(node), server_id="n00001", servers=servers))
    assert result["changed"] and result["state"]["integrity"]["ok"]
    assert len(result["state"]["latest_configuration"]["servers"]) == 10000
    assert not run_module(raft_state.main, dict(path=str(node), server_id="n00001", servers=servers))["changed"]
    assert bolt.check_file(str(node / raft.LOG_FILE)).ok
    long_id, long_address = "i" * 200, "h" * 1018 + ":50050"
    servers = [{"id": long_id, "address": long_address}, {"id": "\u00e9" * 100, "address": "h:2"}]
    node = tmp_path / long_id
    result = run_module(raft_state.main, dict(path=str(node), server_id=long_id, servers=servers,
                                              initial_leader=long_id))
    assert result["changed"] and result["state"]["latest_configuration"]["servers"] == [
        dict(s, suffrage="voter") for s in servers]


@pytest.mark.parametrize("page_size", [16384, 65536])
def test_large_page_sizes(tmp_path, run_module, page_size):
    node = tmp_path / "seq-1"
    result = run_module(raft_state.main, args(node, page_size=page_size))
    assert result["changed"] and result["state"]["page_size"] == page_size
    assert os.path.getsize(str(node / raft.LOG_FILE)) == 4 * page_size
    info = run_module(raft_state_info.main, dict(path=str(node)))
    assert info["integrity"]["ok"] and info["files"][raft.LOG_FILE]["page_size"] == page_size
    before = tree(tmp_path)
    again = run_module(raft_state.main, args(node))  # page_size 4096 asked: existing files keep theirs
    assert not again["changed"] and again["action"] == "unchanged" and tree(tmp_path) == before


# ================================================================================================================
# Damaged, foreign and odd files
# ================================================================================================================


def _flip(path, offset):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x10
    path.write_bytes(bytes(data))


def _replace(path, data):
    path.unlink()
    path.write_bytes(data)


DAMAGE = {
    "log-empty": (lambda n: _replace(n / raft.LOG_FILE, b""), "raft-log.db: ", "empty file"),
    "stable-empty": (lambda n: _replace(n / raft.STABLE_FILE, b""), "raft-stable.db: ", "empty file"),
    "log-one-page": (lambda n: _replace(n / raft.LOG_FILE, (n / raft.LOG_FILE).read_bytes()[:4096]),
                     "raft-log.db: ", "smaller than two"),
    "log-hwm-minus-a-page": (lambda n: _replace(n / raft.LOG_FILE, (n / raft.LOG_FILE).read_bytes()[:3 * 4096]),
                             "raft-log.db: ", "high water mark"),
    "log-minus-one-byte": (lambda n: _replace(n / raft.LOG_FILE, (n / raft.LOG_FILE).read_bytes()[:-1]),
                           "raft-log.db: ", "high water mark"),
    "meta0-flip": (lambda n: _flip(n / raft.LOG_FILE, 40), "raft-log.db: ", "meta page 0"),
    "both-metas-flip": (lambda n: (_flip(n / raft.LOG_FILE, 40), _flip(n / raft.LOG_FILE, 4096 + 40)),
                        "raft-log.db: ", "no valid meta page found"),
    "leaf-flip": (lambda n: _flip(n / raft.STABLE_FILE, 3 * 4096 + 8), "raft-stable.db: ", "page 3"),
    "text": (lambda n: _replace(n / raft.LOG_FILE, b"not a database\n" * 1000), "raft-log.db: ", "no valid meta"),
    "png": (lambda n: _replace(n / raft.STABLE_FILE, b"\x89PNG\r\n\x1a\n" + bytes(9000)), "raft-stable.db: ",
            "no valid meta"),
    "big-endian": (lambda n: _replace(n / raft.LOG_FILE, _big_endian((n / raft.LOG_FILE).read_bytes())),
                   "raft-log.db: ", "invalid magic 0xedda0ced"),
    "foreign-bolt": (lambda n: _replace(n / raft.LOG_FILE, bolt.build_database({b"widgets": {b"k": b"v"}})),
                     "raft-log.db: ", "bucket logs missing"),
    "stable-as-log": (lambda n: _replace(n / raft.LOG_FILE, (n / raft.STABLE_FILE).read_bytes()), "", "configuration"),
    "directory": (lambda n: ((n / raft.LOG_FILE).unlink(), (n / raft.LOG_FILE).mkdir()), "raft-log.db: ", ""),
    "fifo": (lambda n: ((n / raft.LOG_FILE).unlink(), os.mkfifo(str(n / raft.LOG_FILE))), "raft-log.db: ",
             "not a regular file"),
    "snapshot-fifo": (lambda n: ((n / "snapshots" / "1-5-1").mkdir(parents=True),
                                 os.mkfifo(str(n / "snapshots" / "1-5-1" / "meta.json"))),
                      "snapshot 1-5-1: ", "not a regular file"),
}


def _big_endian(data):
    out = bytearray(data)
    for pgid in (0, 1):
        at = pgid * 4096 + bolt.PAGE_HEADER_SIZE
        import struct

        struct.pack_into(">IIIIQQQQQQ", out, at, *bolt.META.unpack_from(data, at))
    return bytes(out)


# A symlinked Raft file is reported by raft_state_info and refused outright by the writers, force or not
# (issue 13, item 10; more in test_symlinked_state.py).
SYMLINKED = {
    "symlink-loop": (lambda n: ((n / raft.STABLE_FILE).unlink(), os.symlink(raft.STABLE_FILE, str(n / raft.STABLE_FILE))),
                     raft.STABLE_FILE),
    "symlink-to-fifo": (lambda n: ((n / raft.LOG_FILE).unlink(), os.mkfifo(str(n.parent / "fifo")),
                                   os.symlink(str(n.parent / "fifo"), str(n / raft.LOG_FILE))),
                        raft.LOG_FILE),
}


@pytest.mark.parametrize("odd", sorted(SYMLINKED))
def test_odd_symlinks_are_reported_refused_and_never_hang(tmp_path, run_module, odd):
    node = tmp_path / "seq-1"
    assert run_module(raft_state.main, args(node))["changed"]
    make, name = SYMLINKED[odd]
    make(node)
    before = tree(tmp_path)
    info = run_module(raft_state_info.main, dict(path=str(node)))
    assert not info["integrity"]["ok"] and info["locked"] is False
    assert any(p.startswith("%s: a symlink" % name) for p in info["integrity"]["problems"]), info["integrity"]
    for check_mode, force in ((True, False), (False, False), (True, True), (False, True)):
        refused = run_module(raft_state.main, args(node, force=force), check_mode=check_mode)
        assert refused["failed"] and "is a symlink" in refused["msg"] and name in refused["msg"], refused["msg"]
    assert tree(tmp_path) == before


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_or_odd_files_are_reported_refused_and_never_hang(tmp_path, run_module, damage):
    node = tmp_path / "seq-1"
    assert run_module(raft_state.main, args(node))["changed"]
    make, file_prefix, needle = DAMAGE[damage]
    make(node)
    before = tree(tmp_path)
    info = run_module(raft_state_info.main, dict(path=str(node)))
    assert not info["integrity"]["ok"]
    assert any(p.startswith(file_prefix) and needle in p for p in info["integrity"]["problems"]), \
        info["integrity"]["problems"]
    for check_mode in (True, False):
        refused = run_module(raft_state.main, args(node), check_mode=check_mode)
        assert refused["failed"] and "damaged" in refused["msg"] and needle in refused["msg"], refused["msg"]
    assert tree(tmp_path) == before
    predicted = run_module(raft_state.main, args(node, force=True), check_mode=True)
    assert predicted["changed"] and predicted["action"] == "replace" and tree(tmp_path) == before
    replaced = run_module(raft_state.main, args(node, force=True))
    assert replaced["changed"] and replaced["state"]["integrity"]["ok"], replaced
    damaged = {rel[len("seq-1/"):]: entry for rel, entry in before.items() if rel.startswith("seq-1/")}
    assert tree(replaced["backup_dir"]) == damaged  # the damaged directory, kept as it was


# ================================================================================================================
# Symlinks inside the node directory, owners and modes
# ================================================================================================================


def test_symlinked_database_is_reported_and_never_written_through(tmp_path, run_module):
    """Before issue 13 (item 10) it was read through and left alone; but Ansible's attribute handling chmod-ed the
    link's target. Now it is a problem for raft_state_info and a refusal for every writer, force or not."""
    node = tmp_path / "seq-1"
    run_module(raft_state.main, args(node))
    outside = tmp_path / "elsewhere" / "raft-log.db"
    outside.parent.mkdir()
    os.rename(str(node / raft.LOG_FILE), str(outside))
    os.chmod(str(outside), 0o644)
    os.symlink(str(outside), str(node / raft.LOG_FILE))
    before = tree(tmp_path)
    info = run_module(raft_state_info.main, dict(path=str(node)))
    assert not info["integrity"]["ok"] and not info["locked"]
    assert any(p.startswith("raft-log.db: a symlink") for p in info["integrity"]["problems"]), info["integrity"]
    for extra in (dict(), dict(mode="0600"), dict(owner="4242", group="4242"), dict(term=3, force=True)):
        result = run_module(raft_state.main, args(node, **extra))
        assert result["failed"] and "is a symlink" in result["msg"] and not result["changed"], result
    assert tree(tmp_path) == before


def test_a_lock_on_a_symlinked_database_is_seen(tmp_path, run_module):
    """op-conductor locks the file the symlink points to: the probe follows the link, so the node is reported
    locked and never replaced."""
    node = tmp_path / "seq-1"
    run_module(raft_state.main, args(node))
    outside = tmp_path / "elsewhere.db"
    os.rename(str(node / raft.LOG_FILE), str(outside))
    os.symlink(str(outside), str(node / raft.LOG_FILE))
    before = tree(tmp_path)
    fd = os.open(str(outside), os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert run_module(raft_state_info.main, dict(path=str(node)))["locked"]
        result = run_module(raft_state.main, args(node, term=4, force=True))
        assert result["failed"] and "is a symlink" in result["msg"]  # refused before anything else
    finally:
        os.close(fd)
    assert tree(tmp_path) == before


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to hand files to other owners")
def test_foreign_owner_and_loose_modes(tmp_path, run_module):
    node = tmp_path / "seq-1"
    run_module(raft_state.main, args(node))
    for path in [node] + [node / name for name in (raft.LOG_FILE, raft.STABLE_FILE)]:
        os.chown(str(path), 4242, 4242)
        os.chmod(str(path), 0o777 if path == node else 0o666)
    result = run_module(raft_state.main, args(node))
    assert result["changed"] and result["action"] == "unchanged"  # content equal; the modes are put right
    for name in (raft.LOG_FILE, raft.STABLE_FILE):
        info = os.stat(str(node / name))
        assert stat.S_IMODE(info.st_mode) == 0o600 and (info.st_uid, info.st_gid) == (4242, 4242)
    result = run_module(raft_state.main, args(node, owner="4343", group="4343"))
    assert result["changed"] and os.stat(str(node / raft.LOG_FILE)).st_uid == 4343
    # a replaced node keeps the directory's owner, so the user op-conductor runs as can still open it
    replaced = run_module(raft_state.main, args(node, term=2, force=True))
    assert replaced["changed"] and os.stat(str(node / raft.LOG_FILE)).st_uid == 4242
    assert stat.S_IMODE(os.stat(str(node)).st_mode) == 0o750
    shutil.rmtree(replaced["backup_dir"])
