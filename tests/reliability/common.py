"""Shared plumbing of the reliability suite: imports, tree hashes, seed node directories.

Importable from pytest (tests/interop, tests/unit) and from the stress scripts that `make fuzz` / `make crash` run;
nothing here depends on pytest.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import socket
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
RESULTS = REPO / "tests" / "output" / "reliability"


def _link_collection() -> None:
    """What tests/conftest.py does for pytest: the checkout importable as ansible_collections.opstack.conductor."""
    spec = importlib.util.spec_from_file_location("_opstack_collection_link", str(REPO / "tests" / "conftest.py"))
    spec.loader.exec_module(importlib.util.module_from_spec(spec))


_link_collection()
for _path in (str(REPO / "tests" / "interop"),):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import oracle as go  # noqa: E402  (tests/interop/oracle.py)
from ansible_collections.opstack.conductor.plugins.module_utils import _bbolt as bolt  # noqa: E402
from ansible_collections.opstack.conductor.plugins.module_utils import _cluster as cluster  # noqa: E402
from ansible_collections.opstack.conductor.plugins.module_utils import _node_state as node_state  # noqa: E402
from ansible_collections.opstack.conductor.plugins.module_utils import _raft as raft  # noqa: E402

__all__ = ["REPO", "RESULTS", "go", "bolt", "cluster", "node_state", "raft", "tree", "free_port", "write_node",
           "loopback_spec"]


def tree(root, content: bool = True) -> dict:
    """Every path under root (root itself included) → (type, mode, uid, gid, sha256 or link target).
    Equal trees mean nothing on disk changed (mtimes of directories excluded: reading never changes them,
    and a tree equal in names, modes and bytes is the promise)."""
    root = os.fspath(root)
    found = {}
    if not os.path.lexists(root):
        return found
    paths = [root]
    for directory, dirs, files in os.walk(root):
        paths += [os.path.join(directory, name) for name in sorted(dirs) + sorted(files)]
    for full in paths:
        info = os.lstat(full)
        if os.path.islink(full):
            detail = "-> " + os.readlink(full)
        elif os.path.isfile(full) and content:
            with open(full, "rb") as handle:
                detail = hashlib.sha256(handle.read()).hexdigest()
        else:
            detail = None
        found[os.path.relpath(full, root)] = (info.st_mode, info.st_uid, info.st_gid, detail)
    return found


def state_digest(node_dir) -> str | None:
    """Hash of a node's Raft state (names and bytes of the databases and snapshots), None when absent."""
    node_dir = os.fspath(node_dir)
    if not os.path.isdir(node_dir):
        return None
    h = hashlib.sha256()
    for rel, (_mode, _uid, _gid, detail) in sorted(tree(node_dir).items()):
        if rel == ".":
            continue
        h.update(rel.encode("utf-8", "surrogateescape") + b"\0" + str(detail).encode() + b"\0")
    return h.hexdigest()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def loopback_spec(ids=("n1",), leader="n1", term=1, ports=None):
    ports = ports or [free_port() for _id in ids]
    servers = [{"id": node_id, "address": "127.0.0.1:%d" % port} for node_id, port in zip(ids, ports)]
    return cluster.validate_cluster(servers, leader, term)[0]


def write_node(node_dir, spec, server_id: str, page_size: int = 4096) -> str:
    node_dir = os.fspath(node_dir)
    os.makedirs(node_dir, exist_ok=True)
    for name, data in cluster.node_databases(spec, server_id, page_size).items():
        with open(os.path.join(node_dir, name), "wb") as handle:
            handle.write(data)
    return node_dir


def copy_node(source, target) -> str:
    shutil.copytree(os.fspath(source), os.fspath(target), symlinks=True)
    return os.fspath(target)
