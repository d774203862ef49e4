# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""raft_restore's controller part, in the ansible.posix ``patch`` style (issue 14 item 1, issue 15 item 2).

- O(remote_src=false): O(src) is a backup on the controller. It is pushed to O(staging_dir) on the host (with
  become by ansible's copy, which checks every file's checksum after the transfer; without, by the connection, no
  module run per file) and the module restores from that copy, verifying it again against its manifest; in check
  mode nothing is pushed and the module judges the restore from the backup's manifest (src_manifest).
- O(preflight): the restore role's judgement of one node, before anything is pushed anywhere: the backup that
  raft_backup_info chose (``found``; or ``find``, {controller_path, path}: chosen and verified here by its rules,
  returned as ``found``), one raft_restore check run against the node (refusals, entries lost, a node
  that already holds the backup), and the role's service settings, combined into the node's plan (its
  ``problems`` are reported for every host at once). With ``find`` and a place on the host, that check run also
  lists, chooses and verifies there (O(host_choice)): one module run per node for the whole preflight.
- O(stage): the role's second step, once every node is judged: the planned backup pushed to the host when it is on
  the controller, and the restore checked on the host's copy.
Without these options the module runs alone, as it always did.
"""

from __future__ import annotations

import os
import shlex
from typing import Any, Dict

from ansible.errors import AnsibleError

from ansible_collections.opstack.conductor.plugins.module_utils import _backup as backups
from ansible_collections.opstack.conductor.plugins.plugin_utils import _backup_plans as plans
from ansible_collections.opstack.conductor.plugins.plugin_utils._action import ConductorAction

_JUDGE_ARGS = ("path", "server_id", "expected_servers", "force", "network", "report_info")


class ActionModule(ConductorAction):
    MODULE = "opstack.conductor.raft_restore"
    CONTROLLER_OPTIONS = ("remote_src", "staging_dir", "preflight", "stage")

    def wants_controller(self, task_args):
        return task_args.get("remote_src") is False or any(task_args.get(key) for key in ("preflight", "stage"))

    def on_controller(self, module_args, task_args, task_vars):
        if task_args.get("preflight"):
            return self._preflight(module_args, task_args["preflight"], task_vars)
        if task_args.get("stage"):
            return self._stage(module_args, task_args["stage"], task_args.get("staging_dir"), task_vars)
        return self._from_controller(module_args, task_args.get("staging_dir"), task_vars)

    def _judge_args(self, module_args: Dict[str, Any]) -> Dict[str, Any]:
        return {key: module_args[key] for key in _JUDGE_ARGS if module_args.get(key) is not None}

    def _push(self, src: str, staging_dir: Any, task_vars: Dict[str, Any]) -> Dict[str, Any]:
        """The backup directory ``src`` copied to <staging_dir>/<its name>/ on the host: {path} or {failed, msg}."""
        if not staging_dir:
            return {"failed": True, "msg": "staging_dir is required to push a backup from the controller"}
        if not self._connection.become:
            return self._put_backup(src, staging_dir)
        made = self.run_module({"path": staging_dir, "state": "directory", "mode": "0700"}, task_vars,
                               module="ansible.legacy.file")
        if made.get("failed"):
            return made
        target = os.path.join(staging_dir, os.path.basename(src.rstrip("/")))
        copied = self.run_action("ansible.legacy.copy", {"src": src.rstrip("/") + "/", "dest": target + "/",
                                                         "mode": "preserve", "directory_mode": "0700"}, task_vars)
        if copied.get("failed"):
            return dict(copied, msg="pushing %s to %s failed: %s" % (src, target, copied.get("msg")))
        return {"path": target, "changed": True}

    def _shell(self, command: str) -> str:
        """One shell command on the host, as the connection's user (no module run): '' or why it failed."""
        done = self._low_level_execute_command(command, sudoable=False)
        return "" if done.get("rc") == 0 else "%s: %s" % (command, (done.get("stderr") or done.get("stdout") or "").strip())

    def _put_backup(self, src: str, staging_dir: str) -> Dict[str, Any]:
        """Without become (issue 15): the staging directory made (0700) by one shell command, the backup's manifest
        and the files it names (verified on the controller) put by the connection, then made owner-only: no module
        run per file. Whether the copy is the backup is the check on the host's copy that follows (sha256 and size
        of every file against the manifest, nothing missing or extra, the full integrity check)."""
        staging_dir = self._remote_expand_user(staging_dir, sudoable=False)
        target = os.path.join(staging_dir, os.path.basename(src.rstrip("/")))
        try:
            files = [backups.MANIFEST] + sorted(backups.read_manifest(src)["files"])
        except backups.BackupError as exc:
            return {"failed": True, "msg": str(exc)}
        if any(os.path.isabs(rel) or ".." in rel.split("/") for rel in files):
            return {"failed": True, "msg": "%s: the manifest names a file outside the backup" % src}
        directories = sorted({os.path.dirname(os.path.join(target, rel)) for rel in files})
        failed = self._shell("mkdir -p -- %s && chmod 0700 -- %s && mkdir -p -- %s" % (
            shlex.quote(staging_dir), shlex.quote(staging_dir), " ".join(shlex.quote(d) for d in directories)))
        try:
            for rel in [] if failed else files:
                self._connection.put_file(os.path.join(src, rel), os.path.join(target, rel))
        except AnsibleError as exc:
            failed = str(exc)
        failed = failed or self._shell("chmod -R u=rwX,go= -- %s" % shlex.quote(target))
        if failed:
            return {"failed": True, "msg": "pushing %s to %s failed: %s" % (src, target, failed)}
        return {"path": target, "changed": True}

    def _from_controller(self, module_args, staging_dir, task_vars):
        """patch style: push, then restore from the pushed copy; in check mode judge from the manifest."""
        src = module_args.pop("src", None)
        if not src:
            return {"failed": True, "msg": "src (a backup directory on the controller) is required with remote_src=false"}
        if self._task.check_mode:
            try:
                manifest = backups.read_manifest(src)
            except backups.BackupError as exc:
                return {"failed": True, "msg": str(exc)}
            return self.run_module(dict(module_args, src_manifest=manifest), task_vars)
        pushed = self._push(src, staging_dir, task_vars)
        if pushed.get("failed"):
            return pushed
        return dict(self.run_module(dict(module_args, src=pushed["path"]), task_vars), pushed=pushed["path"])

    def _find(self, module_args, preflight, task_vars):
        """The backup raft_backup_info chose (``found``, from an earlier task), or (``find``: {controller_path,
        path}) chosen here with its rules, in this task. With a place on the host, one module run lists, chooses,
        verifies and judges there (issue 15): (found, that run's judgement of the chosen backup or None, its
        warnings)."""
        if "find" not in preflight:
            return preflight["found"], None, []
        find = preflight["find"] or {}
        args = {key: module_args[key] for key in ("server_id", "expected_servers", "network")
                if module_args.get(key) is not None}
        if find.get("path"):
            args["path"] = find["path"]
        judge_args = self._judge_args(module_args)
        found = plans.find_backup(lambda choice: self.run_module(dict(judge_args, host_choice=choice), task_vars,
                                                                 check_mode=True), args, find.get("controller_path"))
        host_run = found.pop("host_run", None) or {}
        return found, host_run.get("judged"), host_run.get("warnings", [])

    def _preflight(self, module_args, preflight, task_vars):
        found, judged, warnings = self._find(module_args, preflight, task_vars)
        server_id, node_dir = module_args.get("server_id"), module_args["path"]
        problems = plans.found_problems(found, server_id, bool(module_args.get("force")),
                                        bool(preflight.get("default_places")))
        if problems:
            return {"changed": False, "found": found,
                    "plan": {"server_id": server_id, "node_dir": node_dir, "problems": problems}}
        chosen = found["chosen"]
        if judged is None:  # no host run judged it (``found`` given, or no place on the host): judge it now
            judged = self.run_module(dict(self._judge_args(module_args), src_manifest=chosen["manifest"]), task_vars,
                                     check_mode=True)
            warnings = judged.get("warnings", [])
        plan = plans.restore_plan(chosen, server_id, node_dir, {"locked": judged.get("locked")}, judged,
                                  judged.get("action") == backups.RESTORE_UNCHANGED, preflight["service"],
                                  bool(self._task.check_mode))
        return {"changed": False, "found": found, "plan": plan, "warnings": warnings, "info": judged.get("info")}

    def _stage(self, module_args, plan, staging_dir, task_vars):
        """Push the planned backup when it is on the controller (not in check mode), then check the restore on the
        pushed copy (unless op-conductor holds the node: the real run stops it first). A backup already on the host
        is not checked again: the preflight verified it there and judged it from that manifest (found_problems
        refuses a plan without that verification), and the restore verifies it once more before it swaps anything
        (issue 15: the check was a third verification of the same files, a module run on every restored node)."""
        plan = dict(plan)
        if plan["action"] == backups.RESTORE_UNCHANGED:
            return {"changed": False, "plan": plan}
        if plan["where"] == plans.HOST:
            plan.update(host_backup=plan["backup"], pushed=False)
            return {"changed": False, "plan": plan}
        if self._task.check_mode:
            return {"changed": False, "plan": plan}
        pushed = self._push(plan["backup"], staging_dir, task_vars)
        if pushed.get("failed"):
            return {"changed": False, "plan": dict(plan, problems=[pushed.get("msg", "the push failed")])}
        plan.update(host_backup=pushed["path"], pushed=True)
        if not plan["locked"]:
            checked = self.run_module(dict(self._judge_args(module_args), src=pushed["path"]), task_vars,
                                      check_mode=True)
            if checked.get("failed"):
                plan["problems"] = [checked.get("msg") or "the check failed"]
        return {"changed": True, "plan": plan}
