#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: raft_backup
short_description: Back up the whole Raft state of one op-conductor node, verified and atomically
version_added: 0.1.0
description:
  - Copies C(raft-log.db), C(raft-stable.db) and C(snapshots/) of a node directory into
    C(<dest>/raft-backup-<UTC time>-<server id>-<suffix>/). Raft panics at start when the log after the newest
    snapshot is incomplete, so the three are backed up as one unit.
  - The copy is assembled in a C(.partial) directory, fsynced, verified with the full integrity check (both
    databases, snapshot CRCs, log contiguity), described in a C(manifest.json) (server ID, membership and its
    hash, term, last index, snapshots, sha256 and size of every file, UTC time, collection version), and only
    then renamed to its final name. Files are C(0600), directories C(0700).
  - The manifest (format 2) also records the log position Raft compares (C(position), last log term and index,
    the snapshot's when the log ends before it), the cluster identity (C(cluster) - the term and membership the
    state was seeded with, from log entry 1, or inherited from an earlier backup in O(dest) whose last entry the
    log still holds, else unknown with the reason), and a C(digest) of the manifest itself.
  - Every option, O(server_id) included (a safe directory name, as op-conductor uses it), is checked before
    anything is read or written.
  - A node whose files are locked by a running op-conductor is refused unless O(online=true).
author:
  - opstack.conductor developers (@opstack)
options:
  path:
    description: The node directory, C(<raft.storage.dir>/<server id>).
    type: path
    required: true
  dest:
    description: The directory that holds the backups; created C(0700) when missing. Never inside O(path).
    type: path
    required: true
  server_id:
    description: The server ID recorded in the manifest. Defaults to the last component of O(path).
    type: str
  keep:
    description:
      - Keep this many finished backups of this server and of this cluster in O(dest) (newest by last log term,
        then last index, never by CurrentTerm, name or time), deleting older ones. Backups of another cluster (a
        re-seeded one) are not counted or deleted. The backup just made is never deleted. Unset keeps everything.
    type: int
  network:
    description:
      - The chain (OP-stack network) this node's cluster serves, such as V(op-mainnet) - the role passes
        C(conductor_network). Recorded in the manifest's cluster identity (C(cluster.network)), so that
        M(opstack.conductor.raft_restore) refuses the backup on a node of another chain.
      - 1-64 letters, digits, C(.), C(_) or C(-), starting with a letter or digit; checked before anything is read.
      - Unset - none is recorded, unless an earlier backup in O(dest) that this one's cluster identity is inherited
        from recorded one.
    type: str
  online:
    description:
      - Copy while op-conductor runs. The copy is retried (O(attempts) times) until no commit happened during it
        and it verifies; the manifest records C(online=true). Stopping op-conductor for the backup is safer.
    type: bool
    default: false
  attempts:
    description: How many times an online copy is tried.
    type: int
    default: 5
  fetch_dest:
    description:
      - A directory on the controller. After the backup is made, every file of it is fetched into
        C(<fetch_dest>/.<backup name>.unverified), checked there against the manifest (sha256 and size of every
        file, no file missing or extra, the full integrity check, the server ID) and only then renamed to
        C(<fetch_dest>/<backup name>) (RV(fetched)). A copy that does not verify fails the task and is left under
        its C(.unverified) name; the backup on the host is intact. Nothing is fetched in check mode.
      - Handled on the controller by the action plugin of the same name; the module alone refuses it.
    type: path
  fetch_src:
    description:
      - With O(fetch_dest) - fetch this backup directory on the host (made earlier, for example RV(backup_path) of a
        previous task) instead of making a new one.
      - Handled on the controller by the action plugin of the same name; the module alone refuses it.
    type: path
  preflight:
    description:
      - The C(opstack.conductor.raft_backup) role's check of the node before any node is stopped or backed up -
        C(online), C(keep), C(fetch), C(fetch_dir) and C(service) (C(manage), C(name), C(stop_command),
        C(start_command)), the role's variables. The node is checked in check mode (online, only to learn whether
        op-conductor runs) and RV(plan) says what happens to it; the task does not fail, the plan's C(problems)
        say why the node cannot be backed up.
      - Handled on the controller by the action plugin of the same name; the module alone refuses it.
    type: dict
extends_documentation_fragment:
  - opstack.conductor.servers.MSGPACK
  - opstack.conductor._attributes
attributes:
  check_mode:
    support: full
    details:
      - Reports what would be backed up and writes nothing.
  diff_mode:
    support: none
seealso:
  - module: opstack.conductor.raft_restore
"""

EXAMPLES = r"""
- name: Back up a stopped node, keeping the 5 newest backups
  opstack.conductor.raft_backup:
    path: /var/lib/op-conductor/raft/sequencer-1
    dest: /var/backups/op-conductor
    keep: 5
  register: backup

- name: Show where it went
  ansible.builtin.debug:
    msg: "{{ backup.backup_path }} (term {{ backup.manifest.current_term }}, index {{ backup.manifest.last_index }})"
"""

RETURN = r"""
backup_path:
  description: The finished backup directory.
  returned: when a backup was made
  type: str
  sample: /var/backups/op-conductor/raft-backup-20261126T093000.123456Z-sequencer-1-1a2b3c4d
manifest:
  description: The manifest written with the backup.
  returned: when a backup was made
  type: dict
files:
  description: The files that are (or, in check mode, would be) backed up, with their sizes.
  returned: always
  type: dict
locked:
  description: Whether op-conductor held the lock on the node's files.
  returned: always
  type: bool
removed:
  description: Older backups deleted by O(keep), and unfinished C(.partial) leftovers of this server.
  returned: always
  type: list
  elements: str
fetched:
  description: The verified copy on the controller.
  returned: with O(fetch_dest), when a backup was made
  type: str
plan:
  description:
    - With O(preflight) - C(server_id), C(node_dir), C(locked), C(stop) (op-conductor is stopped for the backup)
      and C(problems) (empty when the node can be backed up).
  returned: with O(preflight)
  type: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.opstack.conductor.plugins.module_utils import _backup as backups
from ansible_collections.opstack.conductor.plugins.module_utils import _module_common as common
from ansible_collections.opstack.conductor.plugins.module_utils import _node_dir as nodes
from ansible_collections.opstack.conductor.plugins.module_utils import _options as options
from ansible_collections.opstack.conductor.plugins.module_utils import _runner as runner
from ansible_collections.opstack.conductor.plugins.module_utils import _servers as servers
from ansible_collections.opstack.conductor.plugins.module_utils._errors import OpstackError


def _refuse_dest_inside_node(dest, node_dir):
    """Backups inside the node directory sit among Raft's files (a restore or replace moves them away with the old
    state), and one under snapshots/ is a directory Raft's snapshot store tries to open as a snapshot."""
    node = os.path.realpath(node_dir)
    if os.path.realpath(dest) == node or os.path.realpath(dest).startswith(node.rstrip("/") + "/"):
        raise servers.SpecError("dest", dest, "is inside the node directory %s; keep backups outside it" % node_dir)


def _check_inputs(params):
    """Everything the options alone can refuse, before anything looks at or touches disk."""
    if params["keep"] is not None and params["keep"] < 1:
        raise runner.Failure("keep=%r: must be at least 1 (the backup just made is always kept)" % params["keep"])
    if params["attempts"] < 1:
        raise runner.Failure("attempts=%r: must be at least 1" % params["attempts"])
    # The ID names the backup directory beside the others: "../x" would put it elsewhere. Checked, like the
    # directory name it defaults to.
    backups.validate_network(params["network"])
    if params["server_id"] is not None:
        servers.validate_server_id(params["server_id"])
    else:
        servers.validate_server_id(nodes.node_server_id(params["path"]),
                                   "server_id (the last component of path, its default)")
    _refuse_dest_inside_node(params["dest"], params["path"])


def _make(module, plan, result):
    """Take the destination's lock, clear this server's unfinished backups, back up, prune; what was removed is
    the only change a failure leaves."""
    params = module.params
    try:
        common.lock_backup_dest(module, params["dest"], plan.server_id, result)
        result["removed"] += backups.remove_partials(params["dest"], plan.server_id)
        made = backups.make_backup(params["path"], params["dest"], plan, params["online"], params["attempts"])
        if params["keep"] is not None:
            result["removed"] += backups.prune(params["dest"], plan.server_id, params["keep"], made)
    except OpstackError:
        result["changed"] = bool(result["removed"])
        raise
    except OSError as exc:
        raise runner.Failure("%s: backup to %s failed, nothing was kept: %s" % (params["path"], params["dest"], exc),
                             changed=bool(result["removed"]))
    return made


def back_up(module, result):
    params = module.params
    common.warn_network_filesystems(module, params["path"])
    _check_inputs(params)
    common.lock_node(module, params["path"], result)  # held to the end: the backup is of one node state
    plan = backups.plan_backup(params["path"], params["server_id"], params["network"])
    result.update(locked=plan.locked, files=plan.sizes)
    if plan.locked and not params["online"]:
        raise runner.Failure(nodes.running(params["path"], backups.OFFLINE_OR_ONLINE))
    result["changed"] = True
    if module.check_mode:
        result["msg"] = "would back up %d files (%d bytes) of %s" % (
            len(plan.files), sum(plan.sizes.values()), plan.server_id)
        return result
    made = _make(module, plan, result)
    result.update(backup_path=made.path, manifest=made.manifest,
                  msg="backed up %s to %s" % (plan.server_id, made.path))
    return result


def main():
    module = AnsibleModule(argument_spec=dict(
        path=dict(type="path", required=True),
        dest=dict(type="path", required=True),
        server_id=dict(type="str"),
        network=dict(type="str"),
        keep=dict(type="int"),
        online=dict(type="bool", default=False),
        attempts=dict(type="int", default=5),
        fetch_dest=dict(type="path"),
        fetch_src=dict(type="path"),
        preflight=dict(type="dict"),
    ), supports_check_mode=True)
    common.refuse_controller_options(module, ["fetch_dest", "fetch_src", "preflight"])
    common.require_msgpack(module)
    # Paths first: nothing, not even the network filesystem probe, may look at a bad path.
    common.validate_options(module, paths=dict(path=options.READ_ROOM, dest=options.BACKUP_DEST_ROOM))
    runner.run(module, back_up, dict(changed=False, locked=None, removed=[], files={}))  # locked None: not probed


if __name__ == "__main__":
    main()
