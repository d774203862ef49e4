"""``snapshots`` must be what raft's FileSnapshotStore can use (issue 13, item 8).

hashicorp/raft v1.7.3 file_snapshot.go: NewFileSnapshotStoreWithLogger runs ``os.MkdirAll(base/snapshots, 0755)``
and fails unless that is a directory (a regular file, FIFO or socket there gives ENOTDIR, so op-conductor does not
start); getSnapshots lists it with os.ReadDir and skips entries that are not directories by their own type (a
symlink is not) and ``*.tmp`` ones; readMeta opens ``<id>/meta.json`` and Open ``<id>/state.bin``, following
symlinks. Before: a regular file named ``snapshots`` was reported healthy and raft_state called the node unchanged.
"""

import os
import socket

import pytest

from ansible_collections.opstack.conductor.plugins.module_utils import _raft as raft
from ansible_collections.opstack.conductor.plugins.modules import raft_state, raft_state_info
from ansible_collections.opstack.conductor.tests.support.nodes import SERVERS, args, write_snapshot
from ansible_collections.opstack.conductor.tests.support.fs import tree


def _unix_socket(path):
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    sock.close()


NOT_A_DIRECTORY = {
    "regular file": (lambda path: path.write_bytes(b"not a directory"), "a regular file"),
    "empty file": (lambda path: path.write_bytes(b""), "a regular file"),
    "fifo": (lambda path: os.mkfifo(str(path)), "a FIFO"),
    "socket": (_unix_socket, "a socket"),
}


@pytest.mark.parametrize("kind", sorted(NOT_A_DIRECTORY))
def test_snapshots_that_is_not_a_directory_is_a_problem(tmp_path, run_module, kind):
    node = tmp_path / "seq-1"
    assert run_module(raft_state.main, args(node))["changed"]
    make, described = NOT_A_DIRECTORY[kind]
    make(node / raft.SNAPSHOT_DIR)
    before = tree(tmp_path)
    info = run_module(raft_state_info.main, dict(path=str(node)))
    assert not info.get("failed") and not info["integrity"]["ok"], info["integrity"]
    assert any(problem.startswith("snapshots: not a directory (%s)" % described) and "FileSnapshotStore" in problem
               for problem in info["integrity"]["problems"]), info["integrity"]["problems"]
    for check_mode in (True, False):  # the same state otherwise: damaged, so refused, not "unchanged"
        refused = run_module(raft_state.main, args(node), check_mode=check_mode)
        assert refused["failed"] and refused["action"] == "refuse" and "snapshots: not a directory" in refused["msg"]
    assert tree(tmp_path) == before
    replaced = run_module(raft_state.main, args(node, force=True))
    assert replaced["changed"] and replaced["state"]["integrity"]["ok"], replaced
    assert not os.path.lexists(str(node / raft.SNAPSHOT_DIR))
    assert os.path.lexists(os.path.join(replaced["backup_dir"], raft.SNAPSHOT_DIR))  # kept, as it was


def _meta_symlink(snapshot):
    os.rename(os.path.join(snapshot, "meta.json"), os.path.join(snapshot, "..", "..", "meta.json"))
    os.symlink(os.path.join(snapshot, "..", "..", "meta.json"), os.path.join(snapshot, "meta.json"))


SNAPSHOT_DAMAGE = {
    "meta.json missing": (lambda s: os.unlink(os.path.join(s, "meta.json")), "unreadable"),
    "meta.json a directory": (lambda s: (os.unlink(os.path.join(s, "meta.json")),
                                         os.mkdir(os.path.join(s, "meta.json"))), "meta.json is not a regular file"),
    "meta.json a symlink": (_meta_symlink, "meta.json is a symlink"),
    "state.bin missing": (lambda s: os.unlink(os.path.join(s, "state.bin")), "unreadable"),
    "state.bin a directory": (lambda s: (os.unlink(os.path.join(s, "state.bin")),
                                         os.mkdir(os.path.join(s, "state.bin"))), "state.bin is not a regular file"),
    "state.bin a fifo": (lambda s: (os.unlink(os.path.join(s, "state.bin")),
                                    os.mkfifo(os.path.join(s, "state.bin"))), "state.bin is not a regular file"),
}


@pytest.mark.parametrize("damage", sorted(SNAPSHOT_DAMAGE))
def test_every_file_raft_reads_in_a_snapshot_is_checked(tmp_path, run_module, damage):
    node = tmp_path / "seq-1"
    assert run_module(raft_state.main, args(node))["changed"]
    snapshot = write_snapshot(node, SERVERS, term=1, index=1)
    make, needle = SNAPSHOT_DAMAGE[damage]
    make(snapshot)
    info = run_module(raft_state_info.main, dict(path=str(node)))
    problems = info["integrity"]["problems"]
    assert any(p.startswith("snapshot %s" % os.path.basename(snapshot)) and needle in p for p in problems), problems


def test_what_raft_ignores_in_snapshots_is_ignored(tmp_path, run_module):
    """In-progress ``*.tmp`` snapshots, stray files and symlinks to directories: os.ReadDir's IsDir is false for
    the last two, so raft never reads them, and neither do we."""
    node = tmp_path / "seq-1"
    assert run_module(raft_state.main, args(node))["changed"]
    (node / raft.SNAPSHOT_DIR).mkdir()
    (node / raft.SNAPSHOT_DIR / "1-2-3.tmp").mkdir()
    (node / raft.SNAPSHOT_DIR / "stray").write_text("x")
    (tmp_path / "elsewhere").mkdir()
    os.symlink(str(tmp_path / "elsewhere"), str(node / raft.SNAPSHOT_DIR / "1-9-1"))
    info = run_module(raft_state_info.main, dict(path=str(node)))
    assert info["integrity"]["ok"] and info["snapshots"] == [], info["integrity"]
