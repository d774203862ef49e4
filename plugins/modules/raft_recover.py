#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: raft_recover
short_description: Recover one stopped op-conductor node to a new configuration after a lost quorum, keeping its head
version_added: 0.1.0
description:
  - Does offline what C(raft.RecoverCluster) (the peers.json recovery of Consul, Nomad and Vault) does with
    op-conductor's FSM and snapshot store, which op-conductor itself never offers. The newest snapshot that
    op-conductor's FSM restores is taken, every log entry after it is applied (so every entry in the log counts
    as committed), and the node is left with one new snapshot C(<term>-<index>-<ms>) holding the unsafe head
    exactly as op-conductor's FSM persists it and the new configuration (O(servers)) at configuration index 1;
    the old snapshot and the whole log are gone and C(raft-stable.db) is left byte for byte as it was.
    On its next start the node restores that head and runs elections among the new voters.
  - Use it only when the cluster's quorum is lost for good (with a leader, change membership through
    M(opstack.conductor.conductor_membership)), with every op-conductor of the cluster stopped, and only once; the
    C(recover) playbook does the whole procedure (backups, the survivor, the head against op-node).
  - The recovered state is built complete beside the node directory, fsynced, and swapped in with one atomic
    rename, so the node holds either the complete old or the complete recovered state at every instant. The old
    node directory is kept as C(<path>.<pid>.<timestamp>~) (O(backup)).
  - Refuses, writing nothing, a node op-conductor runs on (always; there is no C(force)), a node without Raft
    state, a damaged one, one whose FSM is empty (there is no head to keep, re-seed instead), and a configuration
    without a voter or without this node.
  - A node that already holds exactly what a recovery to this configuration leaves (no log, one snapshot of
    its head with this configuration at index 1) is left alone, C(changed=false). Once it has run, its log holds
    entries again, and a new run recovers it again.
  - One run per node at a time; a second one fails at once, naming the first one's PID.
  - Unlike C(raft.RecoverCluster), which works in place, the recovered node directory holds only C(raft-log.db),
    C(raft-stable.db) and the new snapshot; anything else that was there (unfinished C(*.tmp) snapshots, snapshots
    raft cannot read, stray files) stays in the kept directory only.
author:
  - opstack.conductor developers (@opstack)
options:
  path:
    description:
      - The node directory, C(<raft.storage.dir>/<server id>). It may not be a symlink.
    type: path
    required: true
  server_id:
    description:
      - The ID of the server this node directory belongs to; it must be one of O(servers[].id).
      - Defaults to the node directory's name (op-conductor keeps its state in C(<raft.storage.dir>/<server id>)).
    type: str
  servers:
    description:
      - The new configuration, written as the recovered node's only membership (what peers.json holds for
        C(raft.RecoverCluster)). At least one voter, and this node among them.
      - Recover every node that is kept with the same O(servers), or recover one node alone and add the others
        back with fresh state.
  backup:
    description:
      - Keep the replaced node directory as C(<path>.<pid>.<timestamp>~). Recovery deletes the log and the old
        snapshot, which cannot be undone otherwise.
    type: bool
    default: true
  keep_backups:
    description:
      - How many kept node directories of this node remain after a recovery; older ones are deleted, newest kept
        by the time in their name. V(0) keeps all. The same directories as M(opstack.conductor.raft_state) keeps.
    type: int
    default: 3
extends_documentation_fragment:
  - opstack.conductor.servers
  - opstack.conductor.servers.MSGPACK
  - opstack.conductor._attributes
  - opstack.conductor._attributes.FILES
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - The diff shows membership, FSM head, log position and snapshots before and after, decoded.
  safe_file_operations:
    support: full
seealso:
  - module: opstack.conductor.raft_state_info
  - module: opstack.conductor.raft_backup
  - module: opstack.conductor.conductor_membership
notes:
  - op-conductor on hashicorp/raft v1.7.3 reports membership version 0 after a start from the recovered state
    (its GetConfiguration does not set the index until the next membership change).
"""

EXAMPLES = r"""
- name: Recover the surviving sequencer alone, to a one-voter cluster (op-conductor stopped on every node)
  opstack.conductor.raft_recover:
    path: /var/lib/op-conductor/raft/sequencer-1
    servers:
      - {id: sequencer-1, address: "sequencer-1.internal:50050"}

- name: See what a recovery to the full membership would keep, without writing
  opstack.conductor.raft_recover:
    path: /var/lib/op-conductor/raft/sequencer-2
    server_id: sequencer-2
    servers: "{{ conductor_servers }}"
  check_mode: true
  diff: true
"""

RETURN = r"""
action:
  description: What was (or, in check mode, would be) done; V(refuse) on a refusal.
  returned: always
  type: str
  choices: [recover, unchanged, refuse]
  sample: recover
msg:
  description: What was done, or why nothing was.
  returned: always
  type: str
  sample: recovered sequencer-1 at /var/lib/op-conductor/raft/sequencer-1 to [sequencer-1 (10.0.0.1:50050, voter)]
head:
  description: The unsafe head op-conductor's FSM holds after the recovery (the one it held before).
  returned: when the node could be read and its FSM is not empty
  type: dict
  contains:
    block_number:
      description: The payload's block number.
      type: int
    block_hash:
      description: The payload's block hash, 0x-prefixed hex.
      type: str
    index:
      description: The log index of the entry (or snapshot) the head came from.
      type: int
    term:
      description: The term of that entry (or snapshot).
      type: int
    source:
      description: V(snapshot) or V(log).
      type: str
last_index:
  description: The index of the new snapshot (the last log entry, or the old snapshot's when none follows it).
  returned: when the node could be read and its FSM is not empty
  type: int
last_term:
  description: The term of the new snapshot.
  returned: when the node could be read and its FSM is not empty
  type: int
snapshot:
  description: The new snapshot's ID (V(null) in check mode, where its time is not known).
  returned: when the node could be read and its FSM is not empty
  type: str
  sample: 4-1207-1764756000123
servers:
  description: The configuration written (as O(servers), normalised).
  returned: when the options are valid
  type: list
  elements: dict
locked:
  description: Whether op-conductor held the node's database lock (then nothing was written).
  returned: always
  type: bool
state:
  description:
    - The decoded node state after the task (before it, in check mode and on a refusal), as
      M(opstack.conductor.raft_state_info) returns it.
  returned: when the node could be read
  type: dict
backup_dir:
  description: Where the replaced node directory was kept.
  returned: when a recovery was written and O(backup=true)
  type: str
removed_backups:
  description: Kept directories of this node that O(keep_backups) deleted after the recovery.
  returned: when a recovery kept a backup
  type: list
  elements: str
recovered:
  description: Leftovers of an interrupted earlier run that were cleaned up or put back.
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.opstack.conductor.plugins.module_utils import _fs as fs
from ansible_collections.opstack.conductor.plugins.module_utils import _module_common as common
from ansible_collections.opstack.conductor.plugins.module_utils import _node_dir as nodes
from ansible_collections.opstack.conductor.plugins.module_utils import _node_state as node_state
from ansible_collections.opstack.conductor.plugins.module_utils import _options as options
from ansible_collections.opstack.conductor.plugins.module_utils import _recover as recovery
from ansible_collections.opstack.conductor.plugins.module_utils import _runner as runner
from ansible_collections.opstack.conductor.plugins.module_utils import _servers as servers
from ansible_collections.opstack.conductor.plugins.module_utils._errors import OpstackError


def _plan(module, node_dir, result):
    """Leftovers of an interrupted run put right, the lock probed, then the decision on the node as it is."""
    params = module.params
    try:
        nodes.check_node_path(node_dir)
        server_id = servers.validate_server_id(nodes.node_server_id(node_dir, params["server_id"]))
        result["servers"] = recovery.validate_configuration(params["servers"], server_id).to_list()
        read_from = common.recover(module, node_dir, result)
        if not module.check_mode:  # retention killed half-way: finish it before anything lists backups
            result["recovered"]["removed"].extend(nodes.finish_deletions(node_dir))
        result["locked"] = nodes.node_locked(node_dir)
        if result["locked"]:
            raise runner.Failure(nodes.running(node_dir, "nothing was written. Stop every op-conductor of the "
                                                         "cluster first."), action="refuse")
        return recovery.plan_recover(read_from, params["servers"], server_id)
    except OSError as exc:
        raise runner.Failure("%s: could not inspect the node directory: %s" % (node_dir, exc), action="refuse")
    except runner.Failure:
        raise
    except OpstackError as exc:
        raise runner.Failure("%s; nothing was written" % exc, action="refuse")


def _report(module, plan, node_dir, result):
    result.update(action=plan.action, head=plan.head(), last_index=plan.snapshot.index,
                  last_term=plan.snapshot.term, snapshot=None, state=plan.current.summary())
    for warning in plan.warnings:
        module.warn(warning)
    if module._diff and plan.writes:
        members = recovery.members_text(plan.configuration)
        result["diff"] = dict(before=recovery.describe_before(plan), after=recovery.describe_after(plan, None),
                              before_header="%s (decoded Raft state)" % node_dir,
                              after_header="%s (recovered to %s)" % (node_dir, members))


def _write(module, plan, node_dir, result):
    try:
        kept, result["snapshot"] = recovery.recover(node_dir, plan, keep_old=module.params["backup"])
    except fs.ConductorOnOldState:  # written, but a process opened the old state: its message says what to do
        raise
    except (fs.NodeBusy, fs.NodeUnreadable, fs.UnsafePath) as exc:
        raise runner.Failure("%s; nothing was written" % exc)
    except (OpstackError, OSError) as exc:
        raise runner.Failure("%s: recovering failed, the previous state is in place: %s" % (node_dir, exc))
    if kept:
        result["backup_dir"] = kept
        try:
            result["removed_backups"] = nodes.prune_kept_directories(node_dir, module.params["keep_backups"])
        except (OSError, fs.UnsafePath) as exc:  # the recovery is in place: retention failing is only a warning
            module.warn("%s: recovered, but removing kept directories beyond keep_backups=%d failed: %s"
                        % (node_dir, module.params["keep_backups"], exc))
    result["state"] = node_state.read_node_state(node_dir).summary()


def _message(plan, node_dir, result, check_mode):
    head = plan.head()
    what = "%s to %s, keeping head %d (%s) at index %d, term %d" % (
        node_dir, recovery.members_text(plan.configuration), head["block_number"], head["block_hash"],
        plan.snapshot.index, plan.snapshot.term)
    if plan.action == recovery.UNCHANGED:
        return "%s: %s" % (node_dir, plan.reason)
    if check_mode:
        return "would recover %s" % what
    kept = "; the previous state is kept at %s" % result["backup_dir"] if result.get("backup_dir") else \
        " (backup=false: the previous state was removed)"
    return "recovered %s%s" % (what, kept)


def converge(module, result):
    params = module.params
    node_dir = params["path"]
    if params["keep_backups"] < 0:
        raise runner.Failure("keep_backups=%d: must be 0 (keep every kept directory) or more" % params["keep_backups"])
    common.warn_network_filesystems(module, node_dir)
    plan = _plan(module, node_dir, result)
    _report(module, plan, node_dir, result)
    if plan.writes:
        result["changed"] = True
        if not module.check_mode:
            _write(module, plan, node_dir, result)
    result["msg"] = _message(plan, node_dir, result, module.check_mode)
    return result


def main():
    module = AnsibleModule(argument_spec=dict(
        path=dict(type="path", required=True),
        server_id=dict(type="str"),
        servers=servers.server_list_spec(required=True),
        backup=dict(type="bool", default=True),
        keep_backups=dict(type="int", default=3),
    ), supports_check_mode=True)
    common.require_msgpack(module)
    common.validate_options(module, paths=dict(path=options.NODE_ROOM))  # nothing may look at a bad path first
    runner.run(module, converge, common.writer_result())


if __name__ == "__main__":
    main()
