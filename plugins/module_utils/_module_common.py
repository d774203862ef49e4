# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options and checks shared by the modules (documented once in the ``servers`` doc fragment)."""

from __future__ import annotations

import os
from typing import Any, Dict, Optional, Sequence

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.opstack.conductor.plugins.module_utils import _fs as fs
from ansible_collections.opstack.conductor.plugins.module_utils import _node_dir as nodes
from ansible_collections.opstack.conductor.plugins.module_utils import _options as options
from ansible_collections.opstack.conductor.plugins.module_utils import _runner as runner
from ansible_collections.opstack.conductor.plugins.module_utils import _raft as raft
from ansible_collections.opstack.conductor.plugins.module_utils._errors import OpstackError


def require_msgpack(module) -> None:
    if raft.MSGPACK_IMPORT_ERROR is not None:
        module.fail_json(msg=missing_required_lib("msgpack (on the managed host)"),
                         exception=raft.MSGPACK_IMPORT_ERROR)


def validate_options(module, paths: Optional[Dict[str, int]] = None, file_modes: Sequence[str] = (),
                     directory_modes: Sequence[str] = ()) -> Dict[str, Any]:
    """Every path and mode option, checked in full before anything looks at or touches disk (issue 13 item 6):
    ``paths`` maps an option to the bytes the module writes below or beside it (options.NODE_ROOM...). Fails the
    module naming the first bad option; returns {option: absolute path or int mode} for those that are set."""
    checked = {}  # type: Dict[str, Any]
    try:
        for name, room in (paths or {}).items():
            if module.params.get(name) is not None:
                checked[name] = options.check_path(name, module.params[name], room)
        for name in file_modes:
            checked[name] = options.file_mode(name, module.params[name])
        for name in directory_modes:
            checked[name] = options.directory_mode(name, module.params[name])
    except options.OptionError as exc:
        module.fail_json(msg=str(exc))
    return checked


def run_reader(module, work) -> None:
    """The body of a module that only reads the node or backup directory ``path`` (raft_state_info,
    raft_backup_info): msgpack present and ``path`` checked before anything looks at it, then ``work`` through
    runner.run with a result that changes nothing."""
    require_msgpack(module)
    validate_options(module, paths=dict(path=options.READ_ROOM))
    runner.run(module, work, dict(changed=False))


def writer_result() -> dict:
    """The result a writing module starts from (raft_state, raft_restore): nothing changed, nothing recovered."""
    # locked: None until the lock was probed; a run that stops earlier never claims the node is unlocked.
    return dict(changed=False, locked=None, recovered=dict(removed=[], restored=None, kept_as_backup=[]))


def recover(module, node_dir: str, result: dict) -> str:
    """Leftovers of an interrupted run go first, so the decision sees the node as it really is; what was done
    goes to result["recovered"] (a writer_result()). In check mode nothing moves: returns the path a real run
    would read (the moved-aside state it would put back). The node's run lock is taken first and held until the
    module returns (releases_run_locks): another run's build or moved-aside state is not a leftover."""
    lock_node(module, node_dir, result)
    found = nodes.leftovers(node_dir)
    if not (found["new"] or found["old"]):
        return node_dir
    result["changed"] = True
    if module.check_mode:
        result["recovered"] = dict(removed=found["new"], restored=None, kept_as_backup=[])
        if found["old"] and fs.lstat_or_none(node_dir) is None:
            result["recovered"]["restored"] = found["old"][0]
            result["recovered"]["kept_as_backup"] = found["old"][1:]
            return found["old"][0]
        result["recovered"]["kept_as_backup"] = found["old"]
        return node_dir
    recovery = nodes.recover_leftovers(node_dir)
    result["recovered"] = dict(removed=recovery.removed, restored=recovery.restored,
                               kept_as_backup=recovery.kept_as_backup)
    return node_dir


def warn_network_filesystems(module, *paths: str) -> None:
    """One warning per node directory that lives on NFS, CIFS or another network filesystem (reliability
    checklist #29). Backups may live there: they are plain files, read and written without mmap or locks."""
    for path in paths:
        warning = fs.network_filesystem_warning(path)
        if warning:
            module.warn(warning)


# Run locks (issue 13 item 3): taken by lock_node/lock_backup_dest/lock_new_parent and held by _runner, which
# releases them when the module ends (runner.run, or @releases_run_locks around a main() not on it yet).
releases_run_locks = runner.releases_held


def _hold(module, lock: "fs.RunLock", result: dict, owner_of: str) -> None:
    try:
        runner.hold(lock.acquire(create=not module.check_mode, owner_of=owner_of))
    except fs.RunLockError as exc:
        module.fail_json(**dict(result, msg=str(exc)))
    except OSError as exc:  # EIO, EACCES on the way: the lock's state is unknown, so the run stops
        module.fail_json(**dict(result, msg="cannot take the run lock %s: %s" % (lock.path, exc)))


def lock_node(module, node_dir: str, result: dict) -> None:
    """Hold the node's run lock (check mode: only see that no other run holds it). A storage directory that does
    not exist yet holds nothing to protect; lock_new_parent() locks the node once the directory is made."""
    try:
        storage_exists = _exists(os.path.dirname(os.path.abspath(node_dir)), follow_symlinks=True)
    except OSError as exc:
        module.fail_json(**dict(result, msg="%s: cannot look at its storage directory for the run lock: %s"
                                            % (node_dir, exc)))
    if not storage_exists:
        return
    _hold(module, fs.RunLock(fs.run_lock_path(node_dir), node_dir), result, owner_of=node_dir)


def lock_new_parent(module, node_dir: str, result: dict) -> None:
    """Before the first write of a run that found no storage directory: make it, take the run lock, and make
    sure no other run created the node meanwhile (this run planned for an absent node)."""
    lock_path = fs.run_lock_path(node_dir)
    if any(held.path == lock_path and held.fd is not None for held in runner.held()):
        return
    fs.make_directories(os.path.dirname(os.path.abspath(node_dir)), 0o755)
    _hold(module, fs.RunLock(lock_path, node_dir), result, owner_of=node_dir)
    if _exists(node_dir, follow_symlinks=False):
        module.fail_json(**dict(result, msg="%s was created by another run while this one was planning; nothing "
                                            "was written. Run this again to see it as it is now." % node_dir))


def _exists(path: str, follow_symlinks: bool) -> bool:
    """Only "does not exist" is absence; any other error (EACCES, ELOOP, EIO) stops the run."""
    try:
        os.stat(path, follow_symlinks=follow_symlinks)
    except FileNotFoundError:
        return False
    return True


def lock_backup_dest(module, dest: str, server_id: str, result: dict) -> None:
    """Hold this server's run lock in the backup destination (made first): no other run removes this run's
    .partial or prunes the backup it is making."""
    try:
        path = nodes.backup_lock_path(dest, server_id)
    except OpstackError as exc:
        module.fail_json(**dict(result, msg=str(exc)))
    fs.make_directories(os.path.abspath(dest), 0o700)
    _hold(module, fs.RunLock(path, "backup destination %s (server %s)" % (dest, server_id)), result,
          owner_of=dest)


def refuse_controller_options(module, names: Sequence[str], **defaults: Any) -> None:
    """Options that the action plugin of the module's name handles on the controller and removes before the
    module runs (issue 14 item 1): set here, the module ran without its plugin, so they would be ignored."""
    given = [name for name in names if module.params.get(name) is not None]
    given += [name for name, default in defaults.items() if module.params.get(name) != default]
    if given:
        module.fail_json(msg="%s: handled on the controller by the action plugin of %s, which did not run"
                         % (", ".join(given), module._name))
