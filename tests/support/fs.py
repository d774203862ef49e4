"""Snapshots of a directory tree, for "nothing on disk changed" asserts: ``assert tree(root) == before``."""

import contextlib
import hashlib
import os
import stat
import subprocess
from typing import Dict, Iterator, NamedTuple, Optional


class Entry(NamedTuple):
    """One path: its full st_mode (type and permission bits), owner, and sha256 of a file's bytes (``-> target`` for a
    symbolic link, None for anything else). Directory mtimes are left out: equal names, modes, owners and bytes is
    the promise."""

    mode: int
    uid: int
    gid: int
    digest: Optional[str]


def tree(root, include_root: bool = False) -> Dict[str, Entry]:
    """Every path under root (and root itself as "." with include_root), relative path -> Entry; {} when root does
    not exist."""
    root = os.fspath(root)
    if not os.path.lexists(root):
        return {}
    paths = [root] if include_root else []
    for directory, dirs, files in os.walk(root):
        paths += [os.path.join(directory, name) for name in sorted(dirs) + sorted(files)]
    return {os.path.relpath(path, root): _entry(path) for path in paths}


def _entry(path: str) -> Entry:
    info = os.lstat(path)
    digest = None
    if stat.S_ISLNK(info.st_mode):
        digest = "-> " + os.readlink(path)
    elif stat.S_ISREG(info.st_mode):
        with open(path, "rb") as handle:
            digest = hashlib.sha256(handle.read()).hexdigest()
    return Entry(info.st_mode, info.st_uid, info.st_gid, digest)


def files_only(found: Dict[str, Entry]) -> Dict[str, Entry]:
    """The regular files of a tree() (their paths and entries)."""
    return {path: entry for path, entry in found.items() if stat.S_ISREG(entry.mode)}


def state_digest(node_dir) -> Optional[str]:
    """Hash of a node's Raft state (names and bytes of the databases and snapshots), None when it is no directory."""
    node_dir = os.fspath(node_dir)
    if not os.path.isdir(node_dir):
        return None
    h = hashlib.sha256()
    for rel, entry in sorted(tree(node_dir).items()):
        h.update(rel.encode("utf-8", "surrogateescape") + b"\0" + str(entry.digest).encode() + b"\0")
    return h.hexdigest()


@contextlib.contextmanager
def immutable(path) -> Iterator[str]:
    """chattr +i for the block: even root can neither create nor remove entries in ``path`` (root ignores permission
    bits, not this flag, so a write fails as it does for a user without access); always undone."""
    subprocess.run(["chattr", "+i", str(path)], check=True, capture_output=True, timeout=30)
    try:
        yield path
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True, capture_output=True, timeout=30)
