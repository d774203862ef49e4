#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: raft_state
short_description: Ensure the pre-generated Raft state of one op-conductor node
version_added: 0.1.0
description:
  - Writes C(raft-log.db) and C(raft-stable.db) into an op-conductor node directory
    (C(<raft.storage.dir>/<server id>)) so that every node of a sequencer cluster starts as an equal member of
    the given configuration, without a bootstrap node. The content is what C(op-conductor-init) and
    C(raft.BootstrapCluster) write, with all servers listed.
  - Absent state is created. State that already holds exactly this content, and state of a node that has run
    with the same membership, are left alone. Anything else (another membership, another cluster, damaged or
    unreadable files) is refused unless O(force=true), which first keeps the whole old node directory as a
    backup and then replaces it, so no stale log entries or snapshots survive.
  - The new state is built complete beside the node directory and swapped in with one atomic rename, so the
    node directory holds either the complete old or the complete new state at every instant.
  - Never writes while another process (a running op-conductor) holds the bbolt lock, and never waits for it.
    On such a node, file owner, group or mode that differ from those requested are reported
    (RV(attributes_applied)), not applied.
  - A node directory, file, snapshot or lock that cannot be looked at (permission denied, a symlink loop, an I/O
    error; anything but "does not exist") stops the task with the path and the error; it is never taken for
    absent or unlocked. Run it with C(become) (as root or as op-conductor's user).
  - A symlinked C(raft-log.db), C(raft-stable.db) or C(snapshots) is refused, with or without O(force). A storage
    directory replaced during the run (for example by a symlink) stops it before anything is swapped.
author:
  - opstack.conductor developers (@opstack)
options:
  path:
    description:
      - The node directory, C(<raft.storage.dir>/<server id>). It is created, with its parents, when missing.
      - It may not be a symlink or a mount point (the state is replaced by renaming the directory).
    type: path
    required: true
  server_id:
    description:
      - The ID of the server this node directory belongs to; one of O(servers[].id). Required with O(state=present).
    type: str
  servers:
    required: false  # the rest comes from the servers doc fragment; required with state=present
  state:
    description:
      - V(present) ensures the node's state (O(server_id) and O(servers) are required).
      - V(absent) is for a node that left the cluster (the C(generate) playbook shrinking a cluster). An existing
        node directory is moved aside whole, as a kept directory C(<path>.<pid>.<timestamp>~) (never deleted
        here; O(keep_backups) applies), and only with O(force=true); never while op-conductor holds its files.
    type: str
    choices: [present, absent]
    default: present
  initial_leader:
    description:
      - A voter whose node records a vote for itself in the initial term, as C(op-conductor-init --initial-leader)
        does. It does not decide who leads; Raft elects a leader when the nodes start.
    type: str
  term:
    description:
      - The initial term (C(CurrentTerm) and the term of the configuration entry).
      - From 1 to 2^63-1 (9223372036854775807). Raft keeps the term as an unsigned 64-bit number and adds 1 on
        every election, so a higher initial term leaves too few elections before it wraps (at 2^64-1 the first
        election wraps to 0 and the cluster never elects); 2^63-1 leaves 2^63 elections and stays within a signed
        64-bit integer.
    type: int
    default: 1
  page_size:
    description:
      - The bbolt page size of newly written files. Existing files keep theirs.
    type: int
    default: 4096
    choices: [4096, 8192, 16384, 32768, 65536]
  force:
    description:
      - Replace state that differs from the requested one or is damaged. The old node directory is kept as a
        backup first when O(backup=true).
      - Never overrides the lock check; a running node is never written.
    type: bool
    default: false
  backup:
    description: Keep the whole node directory that O(force=true) replaces as C(<path>.<pid>.<timestamp>~).
    type: bool
    default: true
  mode:
    description:
      - Permissions of the two database files; bbolt itself uses V(0600).
      - An octal string such as V("0640") or a YAML octal number (an unquoted V(0640)). From V(0600) to V(0664),
        read-write for the owner (op-conductor opens them read-write), nothing executable, never writable by
        every user, no setuid/setgid/sticky bits; symbolic modes are not accepted. Checked before anything is
        written.
      - O(owner) and O(group) default to those of the node directory, or of its parent when it is created, so
        the user op-conductor runs as keeps access.
    type: raw
    default: "0600"
  directory_mode:
    description:
      - Permissions of a node directory this module creates or replaces. When not given, a replaced node
        directory keeps its own mode (and, like O(owner) and O(group), its owner), and a new one gets V(0750).
      - An octal string or a YAML octal number, from V(0700) to V(0775), rwx for the owner (op-conductor creates
        C(snapshots/) in it), never writable by every user, no setuid/setgid/sticky bits. Checked before anything
        is written.
    type: raw
  keep_backups:
    description:
      - How many kept node directories (C(<path>.<pid>.<timestamp>~), see O(backup)) of this node remain after
        a replacement; older ones are deleted, newest kept by the time in their name. V(0) keeps all.
      - Only this node's kept directories count, matched by their whole name; another node's whose name starts
        with this one's is never touched.
      - A directory is deleted by renaming it to C(.deleting-<name>) first, so a run killed during the deletion
        leaves no partial backup under a backup's name; the next run that writes finishes it.
    type: int
    default: 3
  preflight:
    description:
      - Decide and report as check mode does, writing nothing to the node, and prove that a predicted write
        could be made. A directory and a file with the owner and group the new state would get are created,
        fsynced and removed beside the node (in the nearest existing parent), and the free space is checked
        against the new state's size (the kept backup is the old directory renamed and takes no new space).
        Fails naming the directory and the reason when the write would fail.
      - The role C(opstack.conductor.raft_state) runs this on every host before any host is written. In check
        mode, which never writes, only C(os.access) and C(statvfs) are asked, which cannot see a refused chown,
        a quota or a security module; see RV(probe.method).
    type: bool
    default: false
extends_documentation_fragment:
  - opstack.conductor.servers.MSGPACK
  - ansible.builtin.files
  - opstack.conductor.servers
  - opstack.conductor._attributes
  - opstack.conductor._attributes.FILES
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - The diff shows the decoded state (term, vote, servers, last index), never bytes.
  safe_file_operations:
    support: full
seealso:
  - module: opstack.conductor.raft_state_info
notes:
  - Does not follow a symlinked node directory and creates files with O_EXCL|O_NOFOLLOW.
"""

EXAMPLES = r"""
- name: Pre-generate the Raft state of this sequencer's op-conductor
  opstack.conductor.raft_state:
    path: /var/lib/op-conductor/raft/sequencer-1
    server_id: sequencer-1
    initial_leader: sequencer-1
    servers:
      - {id: sequencer-1, address: "sequencer-1.internal:50050"}
      - {id: sequencer-2, address: "sequencer-2.internal:50050"}
      - {id: sequencer-3, address: "sequencer-3.internal:50050"}
    owner: op-conductor
    group: op-conductor

- name: Re-seed a node of a rebuilt cluster (keeps the old directory as a backup)
  opstack.conductor.raft_state:
    path: /var/lib/op-conductor/raft/sequencer-2
    server_id: sequencer-2
    servers: "{{ conductor_servers }}"
    force: true
"""

RETURN = r"""
action:
  description: What was (or, in check mode, would be) done.
  returned: always
  type: str
  sample: create
  choices: [create, unchanged, live, repair, replace, refuse, absent, remove]
msg:
  description:
    - What was done (in check mode, what would be), in one line with the node and the state written, or why
      nothing was or could be written.
  returned: always
  type: str
  sample: created the Raft state of sequencer-1 at /var/lib/op-conductor/raft/sequencer-1 (3 voters, term 1)
state:
  description: The decoded node state after the task (before it, in check mode), as raft_state_info returns it.
  returned: always
  type: dict
backup_dir:
  description: Where the replaced node directory was kept.
  returned: when O(force=true) replaced existing state and O(backup=true)
  type: str
  sample: /var/lib/op-conductor/raft/sequencer-2.4242.2026-11-26@09:30:00~
removed_backups:
  description: Kept directories of this node that O(keep_backups) deleted after this replacement.
  returned: when a replacement kept a backup
  type: list
  elements: str
would_change:
  description:
    - Whether a real run would change anything on this node (its state, file attributes, or leftovers of an
      interrupted run to put right). The raft_state role writes only the nodes whose preflight says so; its preflight
      task reports C(changed=false) to keep the recap honest, so the role reads this instead.
  returned: with O(state=present), when O(preflight=true) or in check mode
  type: bool
  sample: false
probe:
  description:
    - Whether the predicted write could be made (O(preflight) or check mode, when the state would be written).
  returned: when O(preflight=true) or in check mode, and the state would be written
  type: dict
  contains:
    directory:
      description: Where the new state would be built (the nearest existing parent of the node directory).
      type: str
    method:
      description: V(probe) (a directory and a file made and removed) or V(access) (check mode; os.access only).
      type: str
    needed_bytes:
      description: The new state's size plus a few blocks.
      type: int
    free_bytes:
      description: Free space there (what an unprivileged user may use, unless running as root).
      type: int
    problems:
      description: Why the write would fail; empty when it would not.
      type: list
      elements: str
differences:
  description:
    - What the requested state changes on this node, one short line each (servers added or removed, address
      and suffrage changes, the term, the vote, a node that has run, damage). Empty unless the existing state
      is replaced or refused. A refusal's RV(msg) names them too; the decoded states are in the diff.
  returned: when the node could be read
  type: list
  elements: str
  sample: ["server seq-4 added (10.0.0.4:50050, voter)", "term 1 -> 2"]
locked:
  description:
    - Whether a running process held the lock on the node's files.
    - V(null) when the run stopped before the lock could be probed (bad options, or a node that cannot be read).
  returned: always
  type: bool
attributes_applied:
  description:
    - V(false) when the node already holds the requested state but its files' owner, group or mode differ and
      were left as they are because op-conductor is running on it (a warning says so); V(true) when they match.
  returned: when the state is unchanged and the node is locked
  type: bool
recovered:
  description: Leftovers of an interrupted earlier run that were cleaned up or put back.
  returned: always
  type: dict
"""

import os
import stat

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.opstack.conductor.plugins.module_utils import _cluster as cluster
from ansible_collections.opstack.conductor.plugins.module_utils import _fs as fs
from ansible_collections.opstack.conductor.plugins.module_utils import _module_common as common
from ansible_collections.opstack.conductor.plugins.module_utils import _node_dir as nodes
from ansible_collections.opstack.conductor.plugins.module_utils import _node_state as node_state
from ansible_collections.opstack.conductor.plugins.module_utils import _options as options
from ansible_collections.opstack.conductor.plugins.module_utils import _raft as raft
from ansible_collections.opstack.conductor.plugins.module_utils import _runner as runner
from ansible_collections.opstack.conductor.plugins.module_utils import _servers as servers
from ansible_collections.opstack.conductor.plugins.module_utils import _state_plan as state_plan
from ansible_collections.opstack.conductor.plugins.module_utils._errors import OpstackError


def argument_spec():
    return dict(
        path=dict(type="path", required=True),
        server_id=dict(type="str"),
        servers=servers.server_list_spec(),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        initial_leader=dict(type="str"),
        term=dict(type="int", default=1),
        page_size=dict(type="int", default=4096, choices=[4096, 8192, 16384, 32768, 65536]),
        force=dict(type="bool", default=False),
        backup=dict(type="bool", default=True),
        mode=dict(type="raw", default="0600"),
        directory_mode=dict(type="raw"),
        keep_backups=dict(type="int", default=3),
        preflight=dict(type="bool", default=False),
    )


def _file_args(module, path):
    args = module.load_file_common_arguments(module.params, path=path)
    return args


def _apply_file_attributes(module, node_dir, diff):
    changed = False
    for name in (raft.LOG_FILE, raft.STABLE_FILE):
        target = os.path.join(node_dir, name)
        attr_diff = dict(before=dict(path=target), after=dict(path=target))
        changed = module.set_fs_attributes_if_different(_file_args(module, target), changed, diff=attr_diff) \
            or changed
        if len(attr_diff["before"]) > 1:
            diff.append(attr_diff)
    return changed


def _report_attributes_not_applied(module, node_dir, result):
    """On a running node: compare the files' owner, group, mode (and the other file attributes) with those asked
    for, and say so when they differ, without changing anything. set_fs_attributes_if_different only compares in
    check mode, so it runs in check mode here whatever the task's mode is."""
    check_mode = module.check_mode
    module.check_mode = True
    try:
        differ = _apply_file_attributes(module, node_dir, [])
    finally:
        module.check_mode = check_mode
    result["attributes_applied"] = not differ
    if differ:
        module.warn(nodes.running(node_dir, "the Raft files' attributes (owner, group, mode) differ from those "
                                            "requested and were not applied: a running node is only read. Rerun with "
                                            "op-conductor stopped to apply them."))


def _apply_attributes_unless_running(module, node_dir, diff, result):
    """The requested owner, group and mode, applied under our exclusive locks on the databases: an op-conductor
    that started after the lock probe holds them (we report, and change nothing), and one starting now waits the
    few milliseconds this takes. Check mode takes no lock and only compares."""
    if module.check_mode:
        result["changed"] = _apply_file_attributes(module, node_dir, diff) or result["changed"]
        return
    try:
        with nodes.database_locks(node_dir):
            result["changed"] = _apply_file_attributes(module, node_dir, diff) or result["changed"]
    except fs.NodeBusy:
        result["locked"] = True
        _report_attributes_not_applied(module, node_dir, result)


def _write(module, plan, node_dir, result):
    parent = os.path.dirname(os.path.abspath(node_dir))
    fs.make_directories(parent, 0o755)
    common.lock_new_parent(module, node_dir, result)  # a storage directory made just now
    directory_mode = _directory_mode(module, node_dir)
    ownership = fs.Ownership.for_node(module.params["owner"], module.params["group"], node_dir)
    staging = fs.build_directory(node_dir, plan.files, 0o600, directory_mode, ownership)
    try:
        for name in plan.files:
            module.set_fs_attributes_if_different(_file_args(module, os.path.join(staging, name)), False)
            fs.fsync_file(os.path.join(staging, name))  # the attributes just set must survive a power loss too
        with nodes.swap_guard(node_dir, staging):  # also fails loudly if op-conductor opened the old state meanwhile
            # Only an explicit force with backup=false may drop what was there; anything else is kept.
            keep_old = not (plan.action == state_plan.REPLACE and not module.params["backup"])
            backup = fs.replace_directory(node_dir, staging, keep_old=keep_old)
    finally:
        if os.path.lexists(staging):
            fs.remove_tree(staging)
    if backup:
        result["backup_dir"] = backup
        _prune_kept(module, node_dir, result)


def _directory_mode(module, node_dir):
    """The mode asked for, else the replaced node directory's own (an operator's 0500 stays 0500), else 0750.
    A world-writable or setuid/setgid/sticky directory is not carried over: it gets 0750, as a new one would."""
    if module.params["directory_mode"] is not None:
        return options.directory_mode("directory_mode", module.params["directory_mode"])
    try:
        mode = stat.S_IMODE(os.lstat(node_dir).st_mode)
    except FileNotFoundError:
        return 0o750
    return 0o750 if mode & (0o002 | 0o7000) else mode


def _prune_kept(module, node_dir, result):
    """Retention of this node's kept directories, after the new state is in place: a failure here is a warning
    (the write succeeded), and a kill during it leaves a .deleting-* directory the next run removes."""
    try:
        result["removed_backups"] = nodes.prune_kept_directories(node_dir, module.params["keep_backups"])
    except (OSError, fs.UnsafePath) as exc:
        module.warn("%s: the new state is in place, but removing kept directories beyond keep_backups=%d failed: "
                    "%s" % (node_dir, module.params["keep_backups"], exc))


def _remove(module, node_dir, result):
    """state=absent: a node that left the cluster. Its directory is moved aside whole as a kept directory
    (never deleted here), only with force, never while op-conductor holds its files."""
    try:
        nodes.check_node_path(node_dir)
        common.recover(module, node_dir, result)
        try:
            os.lstat(node_dir)
        except FileNotFoundError:
            return dict(result, action="absent", msg="%s does not exist" % node_dir)
        current = node_state.read_node_state(node_dir)
        result.update(locked=nodes.node_locked(node_dir), state=current.summary())
    except OSError as exc:
        raise runner.Failure("%s: could not inspect the node directory: %s" % (node_dir, exc))
    if result["locked"]:
        raise runner.Failure(nodes.running(node_dir, "nothing was moved. Stop it first."))
    if not module.params["force"]:
        raise runner.Failure("%s: this node is not in the cluster any more; refusing to remove it without "
                             "force=true (it would be kept as %s.<pid>.<time>~)" % (node_dir, node_dir),
                             action="refuse")
    result.update(changed=True, action="remove", msg="%s would be kept as %s.<pid>.<time>~" % (node_dir, node_dir))
    if not module.check_mode:
        _move_aside(module, node_dir, result)
    return result


def _move_aside(module, node_dir, result):
    try:
        with nodes.database_locks(node_dir):
            # One rename: the directory is whole under its old or its kept name at every instant.
            kept = fs.backup_name(node_dir)
            os.rename(node_dir, kept)
            fs.fsync_dir(os.path.dirname(os.path.abspath(node_dir)))
    except (fs.NodeBusy, OSError) as exc:
        raise runner.Failure("%s: moving it aside failed: %s" % (node_dir, exc), changed=False)
    result["backup_dir"] = kept
    result["msg"] = "%s: not in the cluster any more, kept as %s" % (node_dir, result["backup_dir"])
    _prune_kept(module, node_dir, result)


def _probe(module, plan, node_dir, result):
    """Before a predicted write (check mode, preflight): could it be written? preflight makes and removes a
    probe beside the node; check mode, which never writes, only asks os.access() and statvfs()."""
    ownership = fs.Ownership.for_node(module.params["owner"], module.params["group"], node_dir)
    # The new state's bytes plus a few blocks for the directories; the kept backup is the old directory renamed
    # and takes no new space.
    needed = sum(len(data) for data in plan.files.values()) + 4 * 4096
    probe = fs.probe_write(node_dir, needed, ownership, create=module.params["preflight"])
    result["probe"] = dict(directory=probe.directory, method=probe.method, needed_bytes=probe.needed_bytes,
                           free_bytes=probe.free_bytes, problems=probe.problems)
    if probe.problems:
        raise runner.Failure("%s: the new state could not be written (%s); nothing was written" % (
            node_dir, "; ".join(probe.problems)))


def _done_message(plan, spec, params, node_dir, result, check_mode):
    """What was done (in check mode: what would be), in one line. A create used to report what it found ("no
    Raft state at <path>"), which reads like an error (issue 13 item 15); refusals and failures say why elsewhere."""
    voters = len(spec.configuration.voters)
    nonvoters = len(spec.servers) - voters
    detail = "(%d voter%s%s, term %d)" % (voters, "" if voters == 1 else "s", ", %d nonvoter%s" % (
        nonvoters, "" if nonvoters == 1 else "s") if nonvoters else "", spec.term)
    where = "%s at %s" % (params["server_id"], node_dir)
    if plan.action == state_plan.CREATE:
        return "%s the Raft state of %s %s" % ("would create" if check_mode else "created", where, detail)
    if plan.action == state_plan.REPAIR:
        missing = ", ".join(name for name, db in plan.current.files.items() if not db.exists)
        return "%s the half-written Raft state of %s: %s the missing %s %s" % (
            "would repair" if check_mode else "repaired", where, "would write" if check_mode else "wrote",
            missing, detail)
    if plan.action == state_plan.REPLACE:
        if check_mode:
            kept = "kept as a backup" if params["backup"] else "removed (backup=false)"
            return "would replace the Raft state of %s %s; the previous state would be %s: %s" % (
                where, detail, kept, plan.reason)
        kept = "is kept at %s" % result["backup_dir"] if result.get("backup_dir") else "was removed (backup=false)"
        return "replaced the Raft state of %s %s; the previous state %s: %s" % (where, detail, kept, plan.reason)
    if plan.action == state_plan.UNCHANGED:
        return "%s already holds exactly this state %s" % (where, detail)
    return "%s: %s" % (where, plan.reason)  # LIVE: the plan says what it left alone and why


def _settle_modes(module):
    params = module.params
    if params["keep_backups"] < 0:
        raise runner.Failure("keep_backups=%d: must be 0 (keep every kept directory) or more"
                             % params["keep_backups"])
    if params["preflight"] and module.check_mode:
        params["preflight"] = False  # check mode never writes, not even a probe: os.access and statvfs only
    if params["preflight"]:
        module.check_mode = True  # decide and report as check mode does; only the probe writes, and removes it


def _plan(module, node_dir, result):
    """Every option checked (before a parent directory is created), an interrupted run put right, then the
    decision on the node as it is."""
    params = module.params
    try:
        servers.validate_server_id(params["server_id"])
        spec, warnings = cluster.validate_cluster(params["servers"], params["initial_leader"], params["term"])
        spec.server(params["server_id"])
        fs.Ownership.resolve(params["owner"], params["group"])
        nodes.check_node_path(node_dir)
        read_from = common.recover(module, node_dir, result)
        if not module.check_mode:  # retention killed half-way: finish it before anything lists backups
            result["recovered"]["removed"].extend(nodes.finish_deletions(node_dir))
        plan = state_plan.plan(read_from, spec, params["server_id"], params["page_size"], params["force"])
        result["locked"] = nodes.node_locked(node_dir)
    except OSError as exc:
        raise runner.Failure("%s: could not inspect the node directory: %s" % (node_dir, exc))
    for warning in warnings:
        module.warn(warning)
    return spec, plan


def _judge(module, plan, node_dir, result):
    """The plan into the result, and the diff to show; raises when this run must not write."""
    result.update(action=plan.action, msg=plan.reason, state=plan.current.summary(), differences=plan.differences)
    diff = []
    if plan.writes or plan.action == state_plan.REFUSE:
        diff.append(dict(before=plan.before or {}, after=plan.after,
                         before_header="%s (decoded Raft state)" % node_dir,
                         after_header="%s (decoded Raft state)" % node_dir))
    if result["locked"] and plan.action not in (state_plan.UNCHANGED, state_plan.LIVE):
        raise runner.Failure(nodes.running(node_dir, "nothing was written. Stop it first. What was read while it "
                                                     "runs: %s" % plan.reason))
    if plan.action == state_plan.REFUSE:
        if module._diff and diff:
            result["diff"] = diff[0]  # --check --diff shows what force would change
        # One line naming what differs (not a dump of both states); the decoded states go to the diff.
        raise runner.Failure("%s: %s; refusing to replace it without force=true. Differs: %s"
                             % (node_dir, plan.reason, "; ".join(plan.differences) or "see the diff"))
    return diff


def _write_or_fail(module, plan, node_dir, result):
    try:
        _write(module, plan, node_dir, result)
    except fs.ConductorOnOldState:  # written, but a process opened the old state: its message says what to do
        raise
    except (fs.NodeBusy, fs.NodeUnreadable, fs.UnsafePath) as exc:
        raise runner.Failure("%s; nothing was written" % exc)
    except (OpstackError, OSError) as exc:
        raise runner.Failure("%s: writing the Raft state failed, the previous state is in place: %s"
                             % (node_dir, exc))
    result["state"] = node_state.read_node_state(node_dir).summary()


def _apply(module, plan, node_dir, diff, result):
    if plan.writes:
        result["changed"] = True
        if module.check_mode:
            _probe(module, plan, node_dir, result)
        else:
            _write_or_fail(module, plan, node_dir, result)
    elif plan.action == state_plan.UNCHANGED and result["locked"]:
        _report_attributes_not_applied(module, node_dir, result)  # a running node is only read
    elif plan.action == state_plan.UNCHANGED:
        _apply_attributes_unless_running(module, node_dir, diff, result)


def converge(module, result):
    params = module.params
    node_dir = params["path"]
    _settle_modes(module)
    common.warn_network_filesystems(module, node_dir)  # first: a network filesystem may be why reading fails
    if params["state"] == "absent":
        return _remove(module, node_dir, result)
    spec, plan = _plan(module, node_dir, result)
    diff = _judge(module, plan, node_dir, result)
    _apply(module, plan, node_dir, diff, result)
    result["msg"] = _done_message(plan, spec, params, node_dir, result, module.check_mode)
    if module.check_mode:
        result["would_change"] = bool(result["changed"] or nodes.pending_deletions(node_dir))
    if module._diff and diff:
        result["diff"] = diff if len(diff) > 1 else diff[0]
    return result


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True, add_file_common_args=True,
                           required_if=[("state", "present", ("server_id", "servers"))])
    common.require_msgpack(module)
    # Paths and modes first: nothing, not even the network filesystem probe, may look at a bad path.
    common.validate_options(module, paths=dict(path=options.NODE_ROOM), file_modes=["mode"],
                            directory_modes=[] if module.params["directory_mode"] is None else ["directory_mode"])
    runner.run(module, converge, common.writer_result())


if __name__ == "__main__":
    main()
