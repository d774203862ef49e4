"""_state_plan's shortcut (issue 15): a node whose two files are byte for byte what the spec builds, beside nothing
but an empty snapshots/, is UNCHANGED without being decoded. On every kind of node the shortcut must decide
exactly what the full read decides (action, reason, diff views, differences, decoded state), and it must skip the
decoding only where the bytes prove the state."""

from __future__ import annotations

import os

import pytest

from ansible_collections.opstack.conductor.plugins.module_utils import _node_state as node_state
from ansible_collections.opstack.conductor.plugins.module_utils._lookup import NodeUnreadable
from ansible_collections.opstack.conductor.plugins.module_utils import _raft as raft
from ansible_collections.opstack.conductor.plugins.module_utils import _state_plan as state_plan
from ansible_collections.opstack.conductor.tests.support.nodes import OTHER, SERVERS, has_run, seeded, spec, write_node


def _flip_last_byte(path):
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


def _fifo_log(node):
    os.unlink(str(node / raft.LOG_FILE))
    os.mkfifo(str(node / raft.LOG_FILE))


# Each prepares the node seq-1 of spec() (leader seq-1) in its own way; True where the bytes prove the state. (A
# symlinked file never gets this far: check_node_path refuses it first.)
NODES = {
    "ours": (lambda node: None, True),
    "ours, empty snapshots/": (lambda node: (node / raft.SNAPSHOT_DIR).mkdir(), True),
    "ours, files 0644": (lambda node: [os.chmod(str(node / name), 0o644) for name in raft.DATABASE_FILES], True),
    "ours, another page size": (lambda node: write_node(node, spec(), "seq-1", page_size=16384), False),
    "ours, snapshots/ holding a file": (lambda node: ((node / raft.SNAPSHOT_DIR).mkdir(),
                                                      (node / raft.SNAPSHOT_DIR / "x").write_text("x")), False),
    "ours, a stray file beside": (lambda node: (node / "notes.txt").write_text("x"), False),
    "ours, a FIFO as the log": (_fifo_log, False),
    "ours, a byte appended": (lambda node: open(str(node / raft.LOG_FILE), "ab").write(b"\0"), False),
    "ours, the last byte flipped": (lambda node: _flip_last_byte(node / raft.STABLE_FILE), False),
    "ours, the stable file missing": (lambda node: os.unlink(str(node / raft.STABLE_FILE)), False),
    "a follower's files": (lambda node: write_node(node, spec(), "seq-2"), False),
    "another term": (lambda node: write_node(node, spec(term=2), "seq-1"), False),
    "another membership": (lambda node: write_node(node, spec(OTHER), "seq-1"), False),
    "has run": (lambda node: has_run(node, SERVERS), False),
}


def _view(plan):
    """Everything a caller gets from a plan; ``current`` is read now when the decision did not read it."""
    return dict(action=plan.action, reason=plan.reason, before=plan.before, after=plan.after,
                differences=plan.differences, files=plan.files, state=plan.current.summary(),
                integrity=plan.current.integrity.summary())


@pytest.mark.parametrize("force", [False, True])
@pytest.mark.parametrize("name", sorted(NODES))
def test_the_shortcut_decides_what_the_full_read_decides(tmp_path, monkeypatch, name, force):
    node = seeded(tmp_path)
    prepare, proven = NODES[name]
    prepare(node)
    reads = []
    real_read = node_state.read_node_state
    monkeypatch.setattr(node_state, "read_node_state", lambda *args, **kwargs: reads.append(args) or
                        real_read(*args, **kwargs))
    decided = state_plan.plan(str(node), spec(), "seq-1", 4096, force=force)
    assert len(reads) == (0 if proven else 1), name  # the shortcut decodes nothing, and only where bytes prove it
    shortcut = _view(decided)
    monkeypatch.setattr(state_plan, "_holds_exactly", lambda path, files: False, raising=False)
    assert shortcut == _view(state_plan.plan(str(node), spec(), "seq-1", 4096, force=force)), name
    assert (decided.action == state_plan.UNCHANGED) >= proven


def test_an_unreadable_node_still_stops_the_run_naming_it(tmp_path, monkeypatch):
    """The shortcut swallows errors (it then says "no"); the full read after it still raises NodeUnreadable."""
    node = seeded(tmp_path)
    real_listdir = os.listdir

    def refused(path):
        if os.fspath(path) == str(node):
            raise PermissionError(13, "Permission denied", str(node))
        return real_listdir(path)

    monkeypatch.setattr(os, "listdir", refused)
    with pytest.raises(NodeUnreadable, match="seq-1"):
        state_plan.plan(str(node), spec(), "seq-1", 4096, force=False)
