"""Kept node directories (issue 13 items 4 and 5): retention of this node's ``<path>.<pid>.<time>~`` copies only,
deletion by rename to ``.deleting-*`` (listings skip it, the next run finishes it), and the write probe."""

from __future__ import annotations

import os
import shutil

import pytest

from ansible_collections.opstack.conductor.plugins.module_utils import _fs as fs
from ansible_collections.opstack.conductor.plugins.module_utils import _node_dir as nodes
from ansible_collections.opstack.conductor.tests.support.fs import immutable


def kept(parent, name, stamp, pid=4242, content=b"state"):
    path = parent / ("%s.%d.%s~" % (name, pid, stamp))
    path.mkdir()
    (path / "raft-log.db").write_bytes(content)
    return path


def test_listing_is_this_nodes_kept_directories_newest_first(tmp_path):
    node = tmp_path / "seq-1"
    node.mkdir()
    older = kept(tmp_path, "seq-1", "2026-11-01@10:00:00")
    newer = kept(tmp_path, "seq-1", "2026-11-02@10:00:00")
    tagged = kept(tmp_path, "seq-1", "2026-11-02@10:00:00.a1b2c3")
    # Neighbours whose names start like this node's, a symlink, and an unrelated tilde file: never ours.
    kept(tmp_path, "seq-1.5", "2026-11-03@10:00:00")
    kept(tmp_path, "seq-10", "2026-11-03@10:00:00")
    kept(tmp_path, "seq-1.123", "2026-11-03@10:00:00")
    os.symlink(str(older), str(tmp_path / "seq-1.1.2026-11-04@10:00:00~"))
    (tmp_path / "seq-1.txt~").write_text("x")
    (tmp_path / (nodes.DELETING_MARK + "seq-1.7.2026-11-05@10:00:00~")).mkdir()
    found = nodes.kept_directories(str(node))
    assert found[2:] == [str(older)] and sorted(found[:2]) == sorted([str(newer), str(tagged)])
    assert nodes.kept_directories(str(tmp_path / "seq-1.5")) == [str(tmp_path / "seq-1.5.4242.2026-11-03@10:00:00~")]
    assert nodes.kept_directories(str(tmp_path / "absent" / "seq-1")) == []


def test_retention_deletes_only_this_nodes_oldest(tmp_path):
    stamps = ["2026-11-0%d@10:00:00" % day for day in (1, 2, 3, 4, 5)]
    mine = [kept(tmp_path, "seq-1", stamp) for stamp in stamps]
    neighbour = [kept(tmp_path, "seq-1.5", stamp) for stamp in stamps[:2]]
    neighbour.append(kept(tmp_path, "seq-10", stamps[0]))
    removed = nodes.prune_kept_directories(str(tmp_path / "seq-1"), 3)
    assert removed == [str(mine[1]), str(mine[0])]
    assert all(not path.exists() for path in mine[:2]) and all(path.exists() for path in mine[2:])
    assert all(path.exists() for path in neighbour)
    assert not [name for name in os.listdir(tmp_path) if name.startswith(nodes.DELETING_MARK)]
    assert nodes.prune_kept_directories(str(tmp_path / "seq-1"), 0) == []  # 0: keep all
    assert nodes.prune_kept_directories(str(tmp_path / "seq-1"), 3) == []


def test_a_killed_deletion_is_skipped_by_listings_and_finished_by_the_next_run(tmp_path, monkeypatch):
    old = kept(tmp_path, "seq-1", "2026-11-01@10:00:00")
    (old / "snapshots").mkdir()
    (old / "snapshots" / "s").write_bytes(b"x")
    kept(tmp_path, "seq-1", "2026-11-02@10:00:00")
    real_rmtree = shutil.rmtree

    def killed_halfway(path, *args, **kwargs):
        os.unlink(os.path.join(path, "raft-log.db"))  # part of it went, then the process died
        raise KeyboardInterrupt("kill -9")

    monkeypatch.setattr(shutil, "rmtree", killed_halfway)
    with pytest.raises(KeyboardInterrupt):
        nodes.prune_kept_directories(str(tmp_path / "seq-1"), 1)
    monkeypatch.setattr(shutil, "rmtree", real_rmtree)
    doomed = tmp_path / (nodes.DELETING_MARK + old.name)
    assert doomed.is_dir() and not old.exists()  # renamed whole first, so no half backup under a backup name
    assert nodes.kept_directories(str(tmp_path / "seq-1")) == [str(tmp_path / "seq-1.4242.2026-11-02@10:00:00~")]
    # A neighbour's interrupted deletion is its own business.
    theirs = tmp_path / (nodes.DELETING_MARK + "seq-1.5.1.2026-11-01@10:00:00~")
    theirs.mkdir()
    assert nodes.finish_deletions(str(tmp_path / "seq-1")) == [str(doomed)]
    assert not doomed.exists() and theirs.is_dir()
    assert nodes.finish_deletions(str(tmp_path / "seq-1")) == []


def test_a_left_deleting_directory_of_the_same_name_is_finished_first(tmp_path):
    old = kept(tmp_path, "seq-1", "2026-11-01@10:00:00")
    (tmp_path / (nodes.DELETING_MARK + old.name)).mkdir()
    nodes.delete_directory(str(old))
    assert os.listdir(tmp_path) == []


def test_a_read_only_kept_directory_of_ours_is_deleted(tmp_path):
    old = kept(tmp_path, "seq-1", "2026-11-01@10:00:00")
    os.chmod(old, 0o500)
    nodes.delete_directory(str(old))
    assert os.listdir(tmp_path) == []


def test_probe_proves_a_write_and_leaves_nothing(tmp_path):
    storage = tmp_path / "raft"
    storage.mkdir()
    probe = fs.probe_write(str(storage / "seq-1"), 8192, fs.Ownership(), create=True)
    assert probe.problems == [] and probe.method == "probe" and probe.directory == str(storage)
    assert probe.free_bytes > 8192 and os.listdir(storage) == []
    # A storage directory that does not exist yet: the nearest existing ancestor is where it would be made.
    deeper = fs.probe_write(str(tmp_path / "a" / "b" / "seq-1"), 8192, fs.Ownership(), create=True)
    assert deeper.problems == [] and deeper.directory == str(tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["raft"]


def test_probe_fails_on_an_immutable_storage_directory_even_as_root(tmp_path):
    storage = tmp_path / "raft"
    storage.mkdir()
    with immutable(storage):
        probe = fs.probe_write(str(storage / "seq-1"), 8192, fs.Ownership(), create=True)
        assert len(probe.problems) == 1 and "cannot write in %s" % storage in probe.problems[0], probe
        assert "Operation not permitted" in probe.problems[0]
        access = fs.probe_write(str(storage / "seq-1"), 8192, fs.Ownership(), create=False)
        assert access.method == "access" and "os.access; check mode makes no probe" in access.problems[0]
    assert os.listdir(storage) == []


def test_probe_fails_under_a_regular_file_and_without_space(tmp_path):
    (tmp_path / "file").write_text("x")
    for create in (True, False):
        probe = fs.probe_write(str(tmp_path / "file" / "raft" / "seq-1"), 8192, fs.Ownership(), create=create)
        assert probe.problems == ["%s is not a directory, so %s cannot be created"
                                  % (tmp_path / "file", tmp_path / "file" / "raft" / "seq-1")]
    huge = fs.probe_write(str(tmp_path / "seq-1"), 1 << 62, fs.Ownership(), create=True)
    assert len(huge.problems) == 1 and "the new state needs %d" % (1 << 62) in huge.problems[0]
    assert sorted(os.listdir(tmp_path)) == ["file"]


# Names that share prefixes, contain a kept directory's tail, or a leftover mark (all valid server IDs).
TRICKY = ["seq-1", "seq-1.5", "seq-1.5.77", "n", "n.1.2026-01-01@00:00:00", "a", "a.opstack-new-b", "a.opstack-old-c"]


def tricky_storage(root):
    """Every kind of sibling of ours for each TRICKY node, and entries of nobody's."""
    root.mkdir()
    for number, name in enumerate(TRICKY):
        (root / name).mkdir()
        (root / ("." + name + fs.LOCK_SUFFIX)).write_bytes(b"")
        for mark in (fs.NEW_MARK, fs.OLD_MARK):
            (root / ("." + name + mark + "0123456789ab")).mkdir()
        (root / ("." + name + fs.NEW_MARK + "0123456789ab" + fs.INODE_MARK + "1")).mkdir()
        kept(root, name, "2026-11-0%d@10:00:00" % (number % 9 + 1))
        kept(root, name, "2026-11-02@10:00:00.a1b2c3", pid=7)
        (root / (nodes.DELETING_MARK + "%s.99.2026-10-01@00:00:00~" % name)).mkdir()
    (root / "cluster.json").write_bytes(b"{}")
    (root / "unrelated~").mkdir()
    (root / ".deleting-other").mkdir()


def test_one_listing_gives_each_node_what_its_own_listing_gives(tmp_path):
    """sibling_entries (generate's one listing for a whole cluster, issue 15) hands each node the entries that
    leftovers(), kept_directories() and finish_deletions() take from a full listing, no fewer and no others."""
    tricky_storage(tmp_path / "a1")
    shutil.copytree(str(tmp_path / "a1"), str(tmp_path / "a2"), symlinks=True)
    shared = nodes.sibling_entries(str(tmp_path / "a1"), TRICKY + ["absent"])
    assert shared["absent"] == []
    assert shared["a"] != [] and ".a.opstack-new-b.opstack-new-0123456789ab" in shared["a"]  # a prefix of two nodes
    for name in TRICKY:
        one = str(tmp_path / "a1" / name)
        assert nodes.leftovers(one, shared[name]) == nodes.leftovers(one), name
        assert nodes.kept_directories(one, shared[name]) == nodes.kept_directories(one), name
        assert len(nodes.kept_directories(one)) == 2, name
    for name in TRICKY:  # deletions change the directory: one tree finishes with the shared listing, one without
        one, two = str(tmp_path / "a1" / name), str(tmp_path / "a2" / name)
        finished = nodes.finish_deletions(one, shared[name])
        assert [os.path.basename(path) for path in finished] == [
            os.path.basename(path) for path in nodes.finish_deletions(two)] != [], name
    assert sorted(os.listdir(str(tmp_path / "a1"))) == sorted(os.listdir(str(tmp_path / "a2")))
