#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: raft_cluster_state
short_description: Generate the Raft state of every node of a cluster in one run (op-conductor-init generate)
version_added: 0.2.0
description:
  - Writes C(<output_dir>/<server id>/{raft-log.db,raft-stable.db}) for every node of a cluster, and
    C(<output_dir>/cluster.json), on the host it runs on (the C(opstack.conductor.generate) playbook runs it on
    the controller). The options are those of C(op-conductor-init generate).
  - All or nothing. Every node is first decided exactly as M(opstack.conductor.raft_state) decides one (create,
    unchanged, repair, a node that has run with the same membership left alone, replace with O(force), refuse
    without), and node directories in O(output_dir) whose ID is not in O(server_ids) are refused without
    O(force) and moved aside with it. If any node would be refused, nothing is written and the task fails
    naming every refusal. Then every new node state is built complete (fsynced) beside its node, and only
    then swapped in, one atomic rename per node; a build that fails removes every build and writes nothing.
  - A swap that fails after others succeeded (op-conductor started on that node during the run) stops the run,
    naming the nodes already written; those hold the new state, the others their old state.
  - Each node's run lock is held from its decision to the end of the run, as M(opstack.conductor.raft_state)
    holds it; a node whose op-conductor holds its database lock is only read.
  - Check mode decides and reports everything and writes nothing (not even a lock file or a probe).
author:
  - opstack.conductor developers (@opstack)
options:
  output_dir:
    description:
      - The directory that receives one node directory per server, and C(cluster.json). Created when missing.
      - Point each node's C(--raft.storage.dir) at (a copy of) this directory; op-conductor appends the server ID.
    type: path
    required: true
  nodes:
    description:
      - The Raft addresses (C(host:port)) of the nodes, in the order of O(server_ids) (C(--nodes)).
      - IPv6 literals go in brackets. Addresses may not repeat.
      - A comma-separated string is a list too. Entries are trimmed and empty ones dropped, as op-conductor-init
        reads the flag; none left is refused naming the option.
    type: list
    elements: str
    required: true
  server_ids:
    description:
      - The server IDs, in the order of O(nodes) (C(--server-ids)); each is also a directory name, so it may
        not contain V(/), NUL or control characters, start with a dot, or exceed 200 bytes. IDs may not repeat
        (also not in a different case).
      - A comma-separated string is a list too. Entries are trimmed and empty ones dropped; none left is refused
        naming the option.
    type: list
    elements: str
    required: true
  initial_leader:
    description:
      - The server that records a vote for itself in the initial term (C(--initial-leader)).
      - Required, as by op-conductor-init; an empty value is refused naming it.
    type: str
    required: true
  initial_term:
    description:
      - The initial term, from 1 to 2^63-1 (C(--initial-term)); see O(opstack.conductor.raft_state#module:term).
    type: int
    default: 1
  network:
    description: Recorded in C(cluster.json) only (C(--network)); V(null) there when not given.
    type: str
  force:
    description:
      - Replace existing different or damaged state (the old node directory is kept as
        C(<output_dir>/<id>.<pid>.<timestamp>~) when O(backup=true)), and move the directories of nodes not in
        O(server_ids) aside the same way.
      - Never overrides the lock check; a running node is never written.
    type: bool
    default: false
  backup:
    description: Keep each node directory that O(force=true) replaces as C(<path>.<pid>.<timestamp>~).
    type: bool
    default: true
  keep_backups:
    description:
      - How many kept directories of each node remain after a replacement, as
        O(opstack.conductor.raft_state#module:keep_backups); V(0) keeps all.
    type: int
    default: 3
  page_size:
    description: The bbolt page size of newly written files.
    type: int
    default: 4096
    choices: [4096, 8192, 16384, 32768, 65536]
extends_documentation_fragment:
  - opstack.conductor.servers.MSGPACK
  - opstack.conductor._attributes
  - opstack.conductor._attributes.FILES
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - The diff shows each written node's decoded state (term, vote, servers, last index), never bytes.
  safe_file_operations:
    support: full
seealso:
  - module: opstack.conductor.raft_state
  - module: opstack.conductor.raft_state_info
notes:
  - The node databases are written 0600 in node directories 0750 (a replaced directory keeps its own mode),
    owned like O(output_dir); C(cluster.json) is written 0644, replaced atomically, and only when its content
    changes.
"""

EXAMPLES = r"""
- name: Generate a three-node cluster on the controller
  opstack.conductor.raft_cluster_state:
    output_dir: ./raft-state
    nodes: [sequencer-1:50050, sequencer-2:50050, sequencer-3:50050]
    server_ids: [sequencer-1, sequencer-2, sequencer-3]
    initial_leader: sequencer-1
    network: op-sepolia
  delegate_to: localhost
"""

RETURN = r"""
msg:
  description: What was done (in check mode, what would be), or why nothing was written.
  returned: always
  type: str
  sample: "3 nodes: 3 created; cluster.json written"
nodes:
  description: One entry per server, in the order of O(server_ids).
  returned: when every node could be decided
  type: list
  elements: dict
  contains:
    server_id:
      description: The server ID.
      type: str
    path:
      description: The node directory.
      type: str
    action:
      description: As RV(opstack.conductor.raft_state#module:action).
      type: str
      choices: [create, unchanged, live, repair, replace]
    msg:
      description: What was (or would be) done to this node.
      type: str
    differences:
      description: What the new state changes, one short line each (replacements).
      type: list
      elements: str
    backup_dir:
      description: Where the replaced node directory was kept.
      type: str
    recovered:
      description: Leftovers of an interrupted earlier run that were cleaned up or put back.
      type: dict
removed:
  description: Node directories in O(output_dir) whose ID is not in O(server_ids), moved aside (with O(force)).
  returned: when every node could be decided
  type: list
  elements: dict
  contains:
    path:
      description: The node directory.
      type: str
    backup_dir:
      description: Where it was kept (not in check mode).
      type: str
failures:
  description: Every reason nothing was written, one line each (the RV(msg) of a failed run joins them).
  returned: when the run was refused
  type: list
  elements: str
cluster_json:
  description: The cluster record C(<output_dir>/cluster.json) and whether it was (or would be) written.
  returned: when every node could be decided
  type: dict
  contains:
    path:
      description: Its path.
      type: str
    changed:
      description: Whether its content changed.
      type: bool
"""

import json
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
from ansible_collections.opstack.conductor.plugins.module_utils import _state_plan as state_plan
from ansible_collections.opstack.conductor.plugins.module_utils._errors import OpstackError

CLUSTER_JSON = "cluster.json"
FILE_MODE = 0o600


def argument_spec():
    return dict(
        output_dir=dict(type="path", required=True),
        nodes=dict(type="list", elements="str", required=True),
        server_ids=dict(type="list", elements="str", required=True),
        initial_leader=dict(type="str", required=True),
        initial_term=dict(type="int", default=1),
        network=dict(type="str"),
        force=dict(type="bool", default=False),
        backup=dict(type="bool", default=True),
        keep_backups=dict(type="int", default=3),
        page_size=dict(type="int", default=4096, choices=[4096, 8192, 16384, 32768, 65536]),
    )


class Refused(OpstackError):
    """The run writes nothing: ``failures`` says why, one line each."""

    def __init__(self, failures):
        self.failures = failures
        super().__init__("; ".join(failures))


class PartlyWritten(OpstackError):
    """A swap failed after earlier nodes were swapped in (op-conductor started on the node meanwhile)."""


# ================================================================================================================
# Options, in op-conductor-init's names
# ================================================================================================================


def _spec_message(exc: cluster.SpecError) -> str:
    """A spec problem in this module's (op-conductor-init's) option names: the checks are shared with raft_state,
    whose options are servers[].id / servers[].address / term."""
    field = exc.field
    if field.startswith("servers[") and field.endswith("].id"):
        return "server_ids: ID %r: %s" % (exc.value, exc.reason)
    if field.startswith("servers[") and field.endswith("].address"):
        return "nodes: address %r: %s" % (exc.value, exc.reason)
    if field == "term":
        return "initial_term=%r: %s" % (exc.value, exc.reason)
    if field == "initial_leader":
        return "initial_leader=%r: %s" % (exc.value, exc.reason.replace("the servers", "server_ids"))
    return str(exc)


# What each required option is, for the message when it is missing or empty: op-conductor-init's flag and variable.
_REQUIRED = (
    ("nodes", "the nodes' Raft addresses (host:port), comma-separated, in the order of server_ids", "--nodes"),
    ("server_ids", "the server IDs, comma-separated, in the order of nodes", "--server-ids"),
    ("initial_leader", "the server ID that records a vote for itself, one of server_ids", "--initial-leader"),
)


def _required(params):
    """Refused naming the first required option that is empty (op-conductor-init's order of checks). The lists'
    entries are trimmed and empty ones dropped, as op-conductor-init reads a comma-separated flag: the generate
    playbook passes -e values and OP_CONDUCTOR_INIT_* variables as they came, AnsibleModule splits them."""
    for name in ("nodes", "server_ids"):
        params[name] = [entry.strip() for entry in params[name] or () if entry.strip()]
    for name, what, flag in _REQUIRED:
        if not params[name]:
            raise Refused(["%s is required: %s (op-conductor-init %s, OP_CONDUCTOR_INIT_%s)"
                           % (name, what, flag, name.upper())])


def _cluster_spec(params):
    """The spec and its warnings; Refused (in option names) for the first problem."""
    _required(params)
    try:
        servers = cluster.servers_from_lists(params["nodes"], params["server_ids"])
    except cluster.SpecError:
        raise Refused(["nodes has %d address(es) but server_ids has %d ID(s); they pair up by position, so the "
                       "counts must match" % (len(params["nodes"]), len(params["server_ids"]))])
    try:
        return cluster.validate_cluster(servers, params["initial_leader"], params["initial_term"])
    except cluster.SpecError as exc:
        raise Refused([_spec_message(exc)])


# ================================================================================================================
# Deciding: every node, as raft_state decides one, before anything is written
# ================================================================================================================


def _lock(module, entry, node_dir):
    """Check the node's path and take its run lock (held until the module returns; check mode only probes it)."""
    nodes.check_node_path(node_dir)
    common.lock_node(module, node_dir, entry)
    return entry


def _look(entry, siblings):
    """An earlier run's leftovers, from the one listing of the storage directory (taken with every run lock
    held). Returns the path the decision reads: the moved-aside state a real run puts back first."""
    node_dir = entry["path"]
    entry["siblings"] = siblings[os.path.basename(node_dir)]
    found = entry["leftovers"] = nodes.leftovers(node_dir, entry["siblings"])
    if found["old"] and fs.lstat_or_none(node_dir) is None:
        return found["old"][0]
    return node_dir


def _decide_node(module, spec, entry, siblings, node_dir):
    """One member: its entry (plan, lock state), or Refused with raft_state's own message."""
    server_id = entry["server_id"]
    read_from = _look(entry, siblings)
    plan = state_plan.plan(read_from, spec, server_id, module.params["page_size"], module.params["force"])
    entry.update(plan=plan, locked=nodes.node_locked(node_dir), action=plan.action, differences=plan.differences)
    if entry["locked"] and plan.action not in (state_plan.UNCHANGED, state_plan.LIVE):
        raise Refused([nodes.running(node_dir, "nothing was written. Stop it first. What was read while it runs: "
                                               "%s" % plan.reason)])
    if plan.action == state_plan.REFUSE:
        raise Refused(["%s: %s; refusing to replace it without force=true. Differs: %s"
                       % (node_dir, plan.reason, "; ".join(plan.differences) or "see the diff")])
    return entry


def _departed_nodes(output_dir, server_ids):
    """Node directories in output_dir (a directory holding a Raft database file) whose ID is not in server_ids.
    Kept copies (~), our hidden staging and lock entries, and symlinks are not nodes."""
    found = []
    for name in sorted(fs.listdir_or_none(output_dir) or ()):
        path = os.path.join(output_dir, name)
        if name in server_ids or name.startswith(".") or name.endswith("~"):
            continue
        info = fs.lstat_or_none(path)
        if info is None or not stat.S_ISDIR(info.st_mode):
            continue
        if any(_is_regular(os.path.join(path, db)) for db in raft.DATABASE_FILES):
            found.append(path)
    return found


def _is_regular(path):
    info = fs.lstat_or_none(path)
    return info is not None and stat.S_ISREG(info.st_mode)


def _decide_departed(module, entry, siblings, node_dir):
    """A node that left the cluster, as raft_state state=absent decides it."""
    read_from = _look(entry, siblings)
    node_state.read_node_state(read_from)
    entry["locked"] = nodes.node_locked(node_dir)
    if entry["locked"]:
        raise Refused([nodes.running(node_dir, "nothing was moved. Stop it first.")])
    if not module.params["force"]:
        raise Refused(["%s: this node is not in the cluster any more; refusing to remove it without force=true "
                       "(it would be kept as %s.<pid>.<time>~)" % (node_dir, node_dir)])
    return entry


def _collect(decide, *args):
    """Run one decision; a refusal or an unreadable node becomes failure lines instead of stopping the others."""
    try:
        return decide(*args), []
    except Refused as exc:
        return None, exc.failures
    except (OpstackError, ValueError) as exc:
        return None, [str(exc)]
    except OSError as exc:
        return None, ["%s: could not inspect the node directory: %s" % (args[-1], exc)]


def _decide_all(module, spec, output_dir):
    """Every member and every departed node decided; Refused naming each problem (once) if any. Every run lock
    is taken first, then the storage directory is listed once for all of them: a listing per node was N
    listings of some 2N entries (issue 15), and a listing taken before a node's lock could show another run's
    build or moved-aside state as a leftover."""
    ids = [server.id for server in spec.servers]
    members = [dict(server_id=server_id, path=os.path.join(output_dir, server_id), locked=None) for server_id in ids]
    departed = [dict(path=node_dir, locked=None) for node_dir in _departed_nodes(output_dir, ids)]
    problems = [_collect(_lock, module, entry, entry["path"])[1] for entry in members + departed]
    siblings = nodes.sibling_entries(output_dir, [os.path.basename(entry["path"]) for entry in members + departed])
    for entry, found in zip(members, problems):
        if not found:
            found.extend(_collect(_decide_node, module, spec, entry, siblings, entry["path"])[1])
    for entry, found in zip(departed, problems[len(members):]):
        if not found:
            found.extend(_collect(_decide_departed, module, entry, siblings, entry["path"])[1])
    failures = [problem for found in problems for problem in found]  # in node order, as decided
    if not failures and module.check_mode:
        failures.extend(_probe(module, output_dir, members))
    if failures:
        raise Refused(list(dict.fromkeys(failures)))  # a problem shared by every node is said once
    return members, departed


def _probe(module, output_dir, members):
    """Check mode, which writes nothing: could the new states be written (os.access, free space)?"""
    needed = sum(sum(len(data) for data in entry["plan"].files.values()) + 4 * 4096
                 for entry in members if entry["plan"].writes)
    if not needed:
        return []
    probe = fs.probe_write(os.path.join(output_dir, members[0]["server_id"]), needed, fs.Ownership(), create=False)
    return ["%s: the new state could not be written (%s)" % (output_dir, "; ".join(probe.problems))] \
        if probe.problems else []


# ================================================================================================================
# Writing: builds first (all or none), then one swap per node
# ================================================================================================================


def _directory_mode(node_dir):
    """A replaced node directory keeps its own mode unless world-writable or setuid/setgid/sticky (as raft_state)."""
    info = fs.lstat_or_none(node_dir)
    if info is None:
        return 0o750
    mode = stat.S_IMODE(info.st_mode)
    return 0o750 if mode & (0o002 | 0o7000) else mode


def _recover(module, entry):
    """Put back or clean what an interrupted earlier run left for this node (check mode: report it only)."""
    found = entry.pop("leftovers")
    recovered = dict(removed=list(found["new"]), restored=None, kept_as_backup=list(found["old"]))
    if found["new"] or found["old"]:
        if module.check_mode:
            if found["old"] and fs.lstat_or_none(entry["path"]) is None:
                recovered.update(restored=found["old"][0], kept_as_backup=found["old"][1:])
        else:
            recovery = nodes.recover_leftovers(entry["path"])
            recovered = dict(removed=recovery.removed, restored=recovery.restored,
                             kept_as_backup=recovery.kept_as_backup)
    siblings = entry.pop("siblings")  # the decision's listing: recover_leftovers() makes no .deleting- entry
    if not module.check_mode:
        recovered["removed"].extend(nodes.finish_deletions(entry["path"], siblings))
    entry["recovered"] = recovered
    return bool(recovered["removed"] or recovered["restored"] or recovered["kept_as_backup"])


def _build_all(module, output_dir, members):
    """Every new node state built complete beside its node. Any failure removes every build: nothing written."""
    fs.make_directories(output_dir, 0o755)
    staged = []
    try:
        for entry in members:
            # A no-op when the lock is held already (the storage directory existed when the node was decided).
            common.lock_new_parent(module, entry["path"], dict(changed=False, server_id=entry["server_id"]))
            if entry["plan"].writes:
                ownership = fs.Ownership.for_node(None, None, entry["path"])
                entry["staging"] = fs.build_directory(entry["path"], entry["plan"].files, FILE_MODE,
                                                      _directory_mode(entry["path"]), ownership)
                staged.append(entry)
    except BaseException:
        for entry in staged:
            fs.remove_tree(entry.pop("staging"))
        raise


def _swap_all(module, output_dir, members):
    """One atomic swap per node, in order; a failure stops the run naming what was already written. Each swap is
    durable before its node's locks are released; the renames to backup names become durable with one fsync
    of the storage directory after the last swap (or the failed one), before anything is reported."""
    try:
        _swap_each(module, members)
    finally:
        if any(entry.get("backup_dir") for entry in members):
            _sync_storage(output_dir)


def _sync_storage(output_dir):
    fs.fsync_dir(output_dir)


def _swap_each(module, members):
    written = []
    for position, entry in enumerate(members):
        if "staging" not in entry:
            continue
        try:
            with nodes.swap_guard(entry["path"], entry["staging"]):
                keep_old = not (entry["action"] == state_plan.REPLACE and not module.params["backup"])
                backup = fs.replace_directory(entry["path"], entry["staging"], keep_old=keep_old, sync_backup=False)
        except (OpstackError, OSError) as exc:
            for rest in members[position:]:
                if "staging" in rest and os.path.lexists(rest["staging"]):
                    fs.remove_tree(rest["staging"])
            raise PartlyWritten("%s; written before it: %s; not written: it and the nodes after it. Rerun once "
                                "the node is stopped" % (exc, ", ".join(written) or "none"))
        del entry["staging"]
        written.append(entry["server_id"])
        if backup:
            entry["backup_dir"] = backup


def _prune_all(module, output_dir, entries):
    """Retention for every node whose old state this run kept, from one listing of the storage directory taken
    after the last swap (a listing per node was quadratic, issue 15). A failure is a warning: the new states
    are in place."""
    kept = [entry for entry in entries if entry.get("backup_dir")]
    names = [os.path.basename(entry["path"]) for entry in kept]
    try:
        siblings = nodes.sibling_entries(output_dir, names) if kept and module.params["keep_backups"] > 0 else {}
    except (OSError, OpstackError) as exc:
        _prune_failed(module, output_dir, exc)
        siblings = None
    for entry, name in zip(kept, names):
        entry["removed_backups"] = [] if siblings is None else _prune(module, entry["path"], siblings.get(name))


def _prune(module, node_dir, siblings):
    try:
        return nodes.prune_kept_directories(node_dir, module.params["keep_backups"], siblings)
    except (OSError, OpstackError) as exc:
        _prune_failed(module, node_dir, exc)
        return []


def _prune_failed(module, where, exc):
    module.warn("%s: the new state is in place, but removing kept directories beyond keep_backups=%d failed: "
                "%s" % (where, module.params["keep_backups"], exc))


def _fix_modes(module, entry):
    """An unchanged node whose database files are not 0600 gets 0600 (raft_state's default mode), under our
    exclusive locks on them; a running node is only reported."""
    paths = [os.path.join(entry["path"], name) for name in raft.DATABASE_FILES]
    if all(stat.S_IMODE(os.lstat(path).st_mode) == FILE_MODE for path in paths):
        return False
    if entry["locked"]:
        module.warn("%s: the Raft files' mode differs from 0600 and was not applied, because op-conductor is "
                    "running on this node. Rerun with op-conductor stopped to apply it." % entry["path"])
        return False
    if not module.check_mode:
        with fs.ExclusiveLocks(paths):
            for path in paths:
                os.chmod(path, FILE_MODE, follow_symlinks=False)
                fs.fsync_file(path)
    return True


def _move_aside(module, entry):
    """A departed node's directory, kept whole under its backup name (one rename, under its database locks)."""
    node_dir = entry["path"]
    if module.check_mode:
        return
    with fs.ExclusiveLocks([os.path.join(node_dir, name) for name in raft.DATABASE_FILES]):
        kept = fs.backup_name(node_dir)
        os.rename(node_dir, kept)
        fs.fsync_dir(os.path.dirname(os.path.abspath(node_dir)))
    entry["backup_dir"] = kept


def _cluster_record(params, spec):
    record = dict(format=1, generated_by="opstack.conductor.generate", network=params["network"] or None,
                  initial_leader=spec.initial_leader, initial_term=spec.term,
                  servers=[server.to_dict() for server in spec.servers])
    return (json.dumps(record, indent=2) + "\n").encode("utf-8")


def _write_cluster_json(module, output_dir, content):
    """cluster.json, replaced atomically (a new file fsynced, then renamed over it) only when it differs."""
    path = os.path.join(output_dir, CLUSTER_JSON)
    info = fs.lstat_or_none(path)
    if info is not None and stat.S_ISREG(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o644:
        with open(path, "rb") as handle:
            if handle.read() == content:
                return dict(path=path, changed=False)
    if not module.check_mode:
        staged = os.path.join(output_dir, "." + CLUSTER_JSON + fs.NEW_MARK + fs.random_tag(12))
        try:
            fs.write_new_file(staged, content, 0o644, checksum=False)
            os.rename(staged, path)
        finally:
            if os.path.lexists(staged):
                os.unlink(staged)
        fs.fsync_dir(output_dir)
    return dict(path=path, changed=True)


# ================================================================================================================
# Results
# ================================================================================================================

_VERBS = {state_plan.CREATE: ("would create", "created"), state_plan.REPAIR: ("would repair", "repaired"),
          state_plan.REPLACE: ("would replace", "replaced")}


def _node_message(entry, spec, check_mode):
    plan = entry["plan"]
    where = "%s at %s (%d servers, term %d)" % (entry["server_id"], entry["path"], len(spec.servers), spec.term)
    if plan.action in _VERBS:
        done = "%s the Raft state of %s" % (_VERBS[plan.action][0 if check_mode else 1], where)
        if plan.action != state_plan.REPLACE:
            return done
        if check_mode:
            kept = "would be kept as a backup" if entry["backup"] else "would be removed (backup=false)"
        else:
            kept = "is kept at %s" % entry["backup_dir"] if entry.get("backup_dir") else "was removed (backup=false)"
        return "%s; the previous state %s: %s" % (done, kept, plan.reason)
    if plan.action == state_plan.UNCHANGED:
        return "%s already holds exactly this state" % where
    return "%s: %s" % (where, plan.reason)  # LIVE


def _node_result(entry, spec, check_mode, backup):
    shown = {key: entry[key] for key in ("server_id", "path", "action", "differences", "locked", "recovered",
                                         "backup_dir", "removed_backups") if key in entry}
    shown["msg"] = _node_message(dict(entry, backup=backup), spec, check_mode)
    return shown


def _summary(members, departed, record, check_mode):
    counts = {}
    for entry in members:
        counts[entry["action"]] = counts.get(entry["action"], 0) + 1
    parts = ["%d %s" % (count, action) for action, count in sorted(counts.items())]
    if departed:
        parts.append("%d %s aside" % (len(departed), "would be kept" if check_mode else "kept"))
    written = "would be written" if check_mode else "written"
    return "%d nodes: %s; cluster.json %s" % (len(members), ", ".join(parts),
                                              written if record["changed"] else "unchanged")


def _diff(members):
    return [dict(before=entry["plan"].before or {}, after=entry["plan"].after,
                 before_header="%s (decoded Raft state)" % entry["path"],
                 after_header="%s (decoded Raft state)" % entry["path"])
            for entry in members if entry["plan"].writes]


# ================================================================================================================
# main
# ================================================================================================================


def _run(module, output_dir, spec):
    """Decide every node, then write (unless check mode); returns the result. Refused: nothing was written."""
    members, departed = _decide_all(module, spec, output_dir)
    changed = False
    for entry in members + departed:
        changed = _recover(module, entry) or changed
    writes = any(entry["plan"].writes for entry in members)
    if not module.check_mode and writes:
        _build_all(module, output_dir, members)
        _swap_all(module, output_dir, members)
    try:
        for entry in members:
            if entry["action"] == state_plan.UNCHANGED:
                changed = _fix_modes(module, entry) or changed
        for entry in departed:
            _move_aside(module, entry)
        _prune_all(module, output_dir, members + departed)
        if not module.check_mode:
            fs.make_directories(output_dir, 0o755)
        record = _write_cluster_json(module, output_dir, _cluster_record(module.params, spec))
    except (OpstackError, OSError) as exc:
        if module.check_mode or not (writes or changed):
            raise
        raise PartlyWritten("%s (after the node states were written; rerun to finish)" % exc)
    changed = changed or record["changed"] or bool(departed) or any(entry["plan"].writes for entry in members)
    result = dict(changed=changed, cluster_json=record, msg=_summary(members, departed, record, module.check_mode),
                  nodes=[_node_result(entry, spec, module.check_mode, module.params["backup"]) for entry in members],
                  removed=[{key: entry[key] for key in ("path", "backup_dir", "removed_backups", "recovered")
                            if key in entry} for entry in departed])
    if module._diff:
        result["diff"] = _diff(members)
    return result


def _nothing_written(output_dir, exc):
    return "Nothing was written to %s, because: %s" % (output_dir, exc)


def _generate(module, output_dir):
    """The work of one run (runner.run ends the module with what this returns, or fails it on a Failure)."""
    if module.params["keep_backups"] < 0:
        raise runner.Failure("keep_backups=%d: must be 0 (keep every kept directory) or more"
                             % module.params["keep_backups"])
    try:
        spec, warnings = _cluster_spec(module.params)
    except Refused as exc:
        raise runner.Failure(_nothing_written(output_dir, exc))
    common.warn_network_filesystems(module, output_dir)
    for warning in warnings:
        module.warn(warning)
    try:
        return _run(module, output_dir, spec)
    except Refused as exc:
        raise runner.Failure(_nothing_written(output_dir, exc), failures=exc.failures)
    except PartlyWritten as exc:
        raise runner.Failure(str(exc), changed=True)
    except (OpstackError, OSError, ValueError) as exc:  # before the first swap: builds removed, nothing written
        raise runner.Failure(_nothing_written(output_dir, exc))


@common.releases_run_locks  # the run locks common.lock_node takes
def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    common.require_msgpack(module)
    # Paths first: nothing may look at a bad path. Room for a server ID and raft_state's siblings below it.
    checked = common.validate_options(module, paths=dict(output_dir=options.NODE_ROOM + cluster.MAX_SERVER_ID_BYTES))
    runner.run(module, lambda module, _result: _generate(module, checked["output_dir"]), dict(changed=False))


if __name__ == "__main__":
    main()
