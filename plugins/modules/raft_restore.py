#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: raft_restore
short_description: Restore the Raft state of one op-conductor node from a verified backup
version_added: 0.1.0
description:
  - Verifies the backup first (every file against the manifest's sha256 and size, then the full integrity check);
    a damaged, partial or lying backup is refused whatever O(force) says.
  - Refuses, unless O(force=true), a backup of another server ID, of a different membership than
    O(expected_servers) or than the node's current state, of another cluster, or one whose log is older than
    the node's. Always refuses while the node's files are locked by a running op-conductor.
  - I(Older) is judged as Raft judges whose log is newer - last log term, then last log index (the newest
    snapshot's when the log ends before it), never C(CurrentTerm), which is only the highest term the node has
    seen. What the restore would drop (the node's entries after the backup's last index) is in RV(lost), the
    message and the diff.
  - I(Another cluster) - the manifests record the cluster the state was seeded as (the term and membership of
    log entry 1, while the log holds it; once compacted, inherited from an earlier backup whose last entry the
    log still holds). Different identities are refused; where either is unknown, logs that hold different terms
    at one index, or a backup with a later term that lacks the node's snapshotted entries, are refused as
    another cluster, and RV(caveats) says that the identities could not be compared.
  - A restore that O(force=true) takes past a refusal lists it in RV(overridden) and as a warning.
  - File modes are taken from the manifest but never wider than C(0600). A manifest must match its digest;
    backups of the earlier manifest format (no digest) are accepted with a warning in RV(caveats).
  - Stages the full node state beside the node directory, fsyncs it, and swaps it in with one atomic rename, so
    the node holds either its old or the restored complete state at every instant. The previous state is kept
    as a pre-restore backup (RV(backup_dir)).
  - Reports C(changed=false) when the node already holds exactly the backup's content.
author:
  - opstack.conductor developers (@opstack)
options:
  src:
    description:
      - A backup directory made by M(opstack.conductor.raft_backup), on the managed host.
      - One of O(src) and O(src_manifest) is required.
    type: path
  src_manifest:
    description:
      - Instead of O(src), only in check mode - the manifest (C(manifest.json), parsed) of a backup that is not on
        this host, for example still on the controller, where it was verified. The restore is judged (refusals,
        RV(lost), RV(overridden), the diff) against the node as with O(src), without the backup's files; a lock
        held by a running op-conductor is then reported in RV(locked) and the message, not a failure. A node whose
        files already are the backup's (sha256 and size of each, as the manifest records them) is reported as
        V(unchanged) in RV(action).
    type: dict
  remote_src:
    description:
      - Whether O(src) is on the managed host. With V(false) it is a backup directory on the controller, pushed to
        O(staging_dir) on the host (every file's checksum checked after the transfer) and restored from that copy,
        which is verified again; in check mode nothing is pushed and the restore is judged from its manifest.
      - V(false) is handled on the controller by the action plugin of the same name; the module alone refuses it.
    type: bool
    default: true
  staging_dir:
    description:
      - With O(remote_src=false) or O(stage) - the directory on the host that receives the pushed backup
        (created C(0700)), as C(<staging_dir>/<backup name>).
      - Handled on the controller by the action plugin of the same name; the module alone refuses it.
    type: path
  preflight:
    description:
      - The C(opstack.conductor.raft_restore) role's judgement of the node before anything is pushed or changed -
        C(found) (the result of M(opstack.conductor.raft_backup_info) with its O(opstack.conductor.raft_backup_info#module:controller_path)),
        or instead C(find) (C(controller_path) and C(path), where to look, as those options of
        M(opstack.conductor.raft_backup_info); the backup is chosen and verified in this task and returned as
        RV(found)), C(service) (C(manage), C(name), C(stop_command), C(start_command)) and C(default_places) (the backups were
        looked for where the backup playbook keeps them). The chosen backup is judged against the node in check
        mode from its manifest and RV(plan) says what happens to the node; the task does not fail, the plan's
        C(problems) say why the node cannot be restored.
      - Handled on the controller by the action plugin of the same name; the module alone refuses it.
    type: dict
  stage:
    description:
      - The role's second step - the RV(plan) of O(preflight). A backup on the controller is pushed to
        O(staging_dir) (not in check mode) and the restore is checked on the host's copy; RV(plan) gains
        C(host_backup) and C(pushed), and C(problems) when the copy does not verify.
      - Handled on the controller by the action plugin of the same name; the module alone refuses it.
    type: dict
  path:
    description: The node directory to restore, C(<raft.storage.dir>/<server id>).
    type: path
    required: true
  server_id:
    description: The node's server ID. Defaults to the last component of O(path).
    type: str
  network:
    description:
      - The chain (OP-stack network) of the node's cluster, such as V(op-mainnet) - the role passes
        C(conductor_network). A backup whose manifest records another chain is refused (naming both) unless
        O(force=true); one that records none (an earlier version, or made without a network) is restored with a
        warning naming this chain, the other checks still apply. Unset - not compared.
    type: str
  force:
    description: Restore past the refusals above (never past a damaged backup or a running node).
    type: bool
    default: false
  owner:
    description: Owner of the restored files; defaults to the owner of the node directory (or of its parent).
    type: str
  group:
    description: Group of the restored files; defaults like O(owner).
    type: str
  directory_mode:
    description:
      - Permissions of the restored node directory.
      - An octal string or a YAML octal number, from V(0700) to V(0775) - rwx for the owner (op-conductor creates
        C(snapshots/) in it), never writable by every user, no setuid/setgid/sticky bits. Checked, like the
        paths, before anything is read or written.
    type: raw
    default: "0750"
  report_info:
    description:
      - Also return RV(info), M(opstack.conductor.raft_state_info)'s report of the node (full verify, against
        O(expected_servers)) as this run leaves it - after a restore, the restored node; when the node already holds
        the backup, the node as it is - read in this run. Not returned for a node op-conductor holds (it changes
        under any earlier read) nor for a restore that is only judged (check mode).
      - The P(opstack.conductor.raft_restore#role) role sets it, so that the report after a restore does not read
        every node again.
    type: bool
    default: false
extends_documentation_fragment:
  - opstack.conductor.backups.HOST_CHOICE
  - opstack.conductor.servers.EXPECTED
  - opstack.conductor.servers.MSGPACK
  - opstack.conductor._attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - The diff shows the decoded state before and after (term, vote, last index, servers).
seealso:
  - module: opstack.conductor.raft_backup
"""

EXAMPLES = r"""
- name: Restore a node from its newest backup (op-conductor stopped)
  opstack.conductor.raft_restore:
    src: "{{ backup.backup_path }}"
    path: /var/lib/op-conductor/raft/sequencer-1
    expected_servers: "{{ conductor_servers }}"
"""

RETURN = r"""
lost:
  description:
    - The node's entries after the backup's last index, which the restore drops (or would drop) - their count
      and the first and last index (null when none).
  returned: when the backup verified
  type: dict
  sample: {"count": 29, "first": 2, "last": 30}
overridden:
  description: The refusals that O(force=true) went past in this restore (also shown as warnings); empty otherwise.
  returned: when the backup verified
  type: list
  elements: str
caveats:
  description:
    - What could not be checked (a manifest of the earlier format without a digest, cluster identities that are
      unknown); also shown as warnings.
  returned: when the backup verified
  type: list
  elements: str
action:
  description: V(restore), V(unchanged), or, when refused, V(refuse).
  returned: always
  type: str
msg:
  description: What was done, or why it was refused (with both sides).
  returned: always
  type: str
refusals:
  description:
    - Every reason to refuse this restore without O(force) (other server, other membership, older backup), also
      when O(force=true) went past them or the node is locked; empty when there is none.
  returned: when the backup verified
  type: list
  elements: str
backup_dir:
  description: The node's previous state, kept as a pre-restore backup.
  returned: when a restore replaced existing state
  type: str
manifest:
  description: The manifest of the restored backup.
  returned: always
  type: dict
info:
  description:
    - With O(report_info) - what M(opstack.conductor.raft_state_info) returns for the node as this run leaves it
      (C(msg), C(integrity), C(fsm_head), C(drift), C(locked)...), or C(failed) and C(msg) when it could not be read.
  returned: with O(report_info) after a restore, or when the node already holds the backup, and op-conductor does not hold the node
  type: dict
state:
  description: The decoded node state after the task (before it, in check mode).
  returned: always
  type: dict
locked:
  description:
    - Whether op-conductor held the lock on the node's files.
    - V(null) when the run stopped before the lock could be probed (bad options, or a node that cannot be read).
  returned: always
  type: bool
plan:
  description:
    - With O(preflight) or O(stage) - what happens to the node (C(action), C(backup), C(where), C(stop),
      C(locked), C(host_backup), C(pushed), C(lost), C(overridden), C(caveats), C(problems) ...).
  returned: with O(preflight) or O(stage)
  type: dict
found:
  description:
    - With O(preflight) - the backup chosen for the node and its verification where it is (C(chosen), C(looked),
      C(backups), C(newest), C(partials)), as M(opstack.conductor.raft_backup_info) with
      O(opstack.conductor.raft_backup_info#module:choose) returns them.
  returned: with O(preflight)
  type: dict
chosen:
  description: With O(host_choice) - the newest of those and O(host_choice.rival) (C(path), C(where), C(manifest)).
  returned: with O(host_choice)
  type: dict
judged:
  description:
    - With O(host_choice) - the chosen backup judged against the node from its manifest (C(action), C(msg),
      C(refusals), C(lost), C(locked) ... as a check run with O(src_manifest) returns them, or C(failed) and C(msg)).
  returned: with O(host_choice) when a backup was chosen
  type: dict
recovered:
  description:
    - Leftovers of an interrupted earlier run (of this module or of M(opstack.conductor.raft_state)) that were
      removed (unfinished builds), put back (a moved-aside state when the node directory was missing) or kept
      as backups (any other moved-aside state).
  returned: always
  type: dict
"""


import functools

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.opstack.conductor.plugins.module_utils import _backup as backups
from ansible_collections.opstack.conductor.plugins.module_utils import _fs as fs
from ansible_collections.opstack.conductor.plugins.module_utils import _module_common as common
from ansible_collections.opstack.conductor.plugins.module_utils import _node_dir as nodes
from ansible_collections.opstack.conductor.plugins.module_utils import _node_info as node_info
from ansible_collections.opstack.conductor.plugins.module_utils import _node_state as node_state
from ansible_collections.opstack.conductor.plugins.module_utils import _options as options
from ansible_collections.opstack.conductor.plugins.module_utils import _runner as runner
from ansible_collections.opstack.conductor.plugins.module_utils import _servers as servers
from ansible_collections.opstack.conductor.plugins.module_utils import _state_plan as state_plan
from ansible_collections.opstack.conductor.plugins.module_utils._errors import OpstackError


def _diff(plan, node_dir):
    """Decoded state before and after, with the log positions Raft compares and the entries the restore drops."""
    before = state_plan.describe(plan.current) or {}
    after = state_plan.describe(plan.backup_state) if plan.backup_state is not None else \
        backups.describe_manifest(plan.backup.manifest)
    if before:
        before["log_position"] = backups.state_position(plan.current).text()
    position = backups.manifest_position(plan.backup.manifest) if plan.backup_state is None else \
        backups.state_position(plan.backup_state)
    after = dict(after or {}, log_position=position.text() if position else None, entries_lost=plan.lost.text())
    if plan.refusals:
        after["overridden" if plan.action == backups.RESTORE else "refused"] = list(plan.refusals)
    return dict(before=before, after=after, before_header="%s (decoded Raft state)" % node_dir,
                after_header="%s (from %s)" % (node_dir, plan.backup.path))


def _plan(module, node_dir, result, manifest):
    """Put right what an interrupted earlier run left, then judge the backup (``manifest``: only its manifest, a
    prediction) against the node as it is."""
    params = module.params
    try:
        nodes.check_node_path(node_dir)
        network = backups.validate_network(params["network"])
        server_id = servers.validate_server_id(nodes.node_server_id(node_dir, params["server_id"]))
        expected = None
        if params["expected_servers"] is not None:
            expected = servers.server_dicts(params["expected_servers"], "expected_servers")
        read_from = common.recover(module, node_dir, result)
        if manifest is not None:
            plan = backups.predict_restore(manifest, "src_manifest", read_from, server_id, expected,
                                           params["force"], network)
        else:
            plan = backups.plan_restore(params["src"], read_from, server_id, expected, params["force"], network)
        result["locked"] = nodes.node_locked(node_dir)
    except OSError as exc:
        raise runner.Failure("%s: could not inspect the node directory: %s" % (node_dir, exc))
    return plan


def _report(module, plan, node_dir, result):
    result.update(action=plan.action, msg=plan.reason, manifest=plan.backup.manifest, refusals=plan.refusals,
                  state=plan.current.summary() if plan.current else None, lost=plan.lost.summary(), overridden=[],
                  caveats=list(plan.warnings))
    if plan.action == backups.RESTORE and plan.refusals:  # force went past them: say so, loudly
        result["overridden"] = list(plan.refusals)
    for warning in plan.warnings + ["force=true overrode: %s" % item for item in result["overridden"]]:
        module.warn(warning)  # in the play output and in the result's warnings
    if module._diff and plan.action != backups.RESTORE_UNCHANGED:
        result["diff"] = _diff(plan, node_dir)


def _refusal(plan, node_dir, locked):
    """Why this run must not restore, or None."""
    if locked:
        msg = nodes.running(node_dir, "nothing was restored. Stop it first.")
        if plan.action == backups.RESTORE_REFUSED:
            msg += " It would also be refused without force=true: %s" % plan.reason
        return msg
    if plan.action == backups.RESTORE_REFUSED:
        return "%s: refusing to restore %s without force=true: %s" % (node_dir, plan.backup.path, plan.reason)
    return None


def _restore(module, plan, node_dir, directory_mode, result):
    params = module.params
    try:
        common.lock_new_parent(module, node_dir, result)  # a storage directory made just now
        ownership = fs.Ownership.for_node(params["owner"], params["group"], node_dir)
        previous = backups.restore(plan, node_dir, directory_mode, ownership)
    except fs.ConductorOnOldState:  # restored, but a process opened the old state: its message says what to do
        raise
    except (OpstackError, OSError) as exc:
        raise runner.Failure("%s: restore failed, the previous state is in place: %s" % (node_dir, exc))
    if previous:
        result["backup_dir"] = previous
    result["state"] = node_state.read_node_state(node_dir).summary()


def restore(module, result, directory_mode, manifest=None):
    """Restore O(src), or judge a backup from its manifest (O(src_manifest), or ``manifest`` for host_choice)."""
    params = module.params
    node_dir = params["path"]
    manifest = params["src_manifest"] if manifest is None else manifest
    if manifest is not None and not module.check_mode:
        raise runner.Failure("src_manifest judges a backup that is not on this host and only predicts: it needs "
                             "check mode (push the backup and give src to restore it)")
    common.warn_network_filesystems(module, node_dir)
    plan = _plan(module, node_dir, result, manifest)
    _report(module, plan, node_dir, result)
    if result["locked"] and manifest is not None:
        result["msg"] = "%s (op-conductor runs on this node now; it must be stopped for the restore)" % plan.reason
        return result  # a prediction: the real run stops it first or fails
    refusal = _refusal(plan, node_dir, result["locked"])
    if refusal:
        raise runner.Failure(refusal)
    if plan.action == backups.RESTORE:
        result["changed"] = True
        if not module.check_mode:
            _restore(module, plan, node_dir, directory_mode, result)
            _node_report(module, node_dir, result)
    elif plan.action == backups.RESTORE_UNCHANGED:
        _node_report(module, node_dir, result, plan.current)
    return result


def _node_report(module, node_dir, result, read=None):
    """O(report_info): raft_state_info's report of the node as this run leaves it. None for a node op-conductor
    holds: it moves on under any earlier read, so the role reads it again when it reports. A read that fails is
    reported in it, never raised: the restore itself is done. ``read``: the node as the judgement read it (fully
    verified), used when it is the node directory itself (not the state a leftover of an earlier run holds)."""
    params = module.params
    if not params["report_info"] or result.get("locked"):
        return
    state = read if read is not None and read.path == node_dir else None
    try:
        result["info"] = node_info.inspect_node(node_dir, server_id=params["server_id"],
                                                expected_servers=params["expected_servers"], state=state)
    except (OpstackError, OSError) as exc:
        result["info"] = {"failed": True, "msg": "%s: %s" % (node_dir, exc)}


def choose_and_judge(module, result, directory_mode):
    """The restore role's preflight of this node in one run (issue 15; O(host_choice), check mode): the host's part
    of the backup choice (listed, chosen against the controller's newest, verified when it is here), then the chosen
    backup judged against the node from its manifest, as with O(src_manifest). A judgement that fails is reported in
    ``judged``, not raised: the choice must still reach the controller, which reports both for every host."""
    params = module.params
    if not module.check_mode:
        raise runner.Failure("host_choice chooses and judges a backup, it restores nothing: it needs check mode")
    expected = None
    if params["expected_servers"] is not None:
        expected = servers.server_dicts(params["expected_servers"], "expected_servers")
    choice = params["host_choice"]
    result.update(backups.choose_on_host(choice["path"], params["server_id"], expected,
                                         backups.validate_network(params["network"]), choice["rival"]))
    if result["chosen"]:
        judged = common.writer_result()
        try:  # judged as in a src_manifest check run (module.params untouched: they go back as the invocation)
            restore(module, judged, directory_mode, manifest=result["chosen"]["manifest"])
        except OpstackError as exc:
            judged = runner.failure_result(dict(judged, failed=True), exc)
        result["judged"] = judged
    return result


def main():
    module = AnsibleModule(argument_spec=dict(
        src=dict(type="path"),
        src_manifest=dict(type="dict"),
        path=dict(type="path", required=True),
        server_id=dict(type="str"),
        network=dict(type="str"),
        force=dict(type="bool", default=False),
        expected_servers=servers.server_list_spec(),
        owner=dict(type="str"),
        group=dict(type="str"),
        directory_mode=dict(type="raw", default="0750"),
        remote_src=dict(type="bool", default=True),
        staging_dir=dict(type="path"),
        preflight=dict(type="dict"),
        stage=dict(type="dict"),
        host_choice=backups.HOST_CHOICE_SPEC,
        report_info=dict(type="bool", default=False),
    ), supports_check_mode=True, required_one_of=[("src", "src_manifest", "host_choice")],
        mutually_exclusive=[("src", "src_manifest", "host_choice")])
    common.refuse_controller_options(module, ["staging_dir", "preflight", "stage"], remote_src=True)
    common.require_msgpack(module)
    # Paths and modes first: nothing, not even the network filesystem probe, may look at a bad path.
    directory_mode = common.validate_options(module, paths=dict(src=options.READ_ROOM, path=options.NODE_ROOM),
                                             directory_modes=["directory_mode"])["directory_mode"]
    work = choose_and_judge if module.params["host_choice"] is not None else restore
    runner.run(module, functools.partial(work, directory_mode=directory_mode), common.writer_result())


if __name__ == "__main__":
    main()
