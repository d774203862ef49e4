# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""raft_backup's controller part, in the ansible.posix ``patch`` style (issue 14 item 1, issue 15 item 2).

- O(fetch_dest): after the module made the backup on the host (or, with O(fetch_src), one made earlier: the role
  fetches once op-conductor runs again), every file of it is fetched into
  <fetch_dest>/.<name>.unverified on the controller (fetch checks each file's checksum after the transfer),
  verified there against its manifest with ``_backup``'s full verification (sha256 and size of every file, no
  file missing or extra, the integrity check of both databases and the snapshots, the server), and only then
  renamed to <fetch_dest>/<name>. A copy that does not verify is left under its .unverified name.
- O(preflight): the backup role's check of one node: the module in check mode (online, only to learn whether
  op-conductor runs) and the role's settings combined into the node's plan (stop op-conductor or not; its
  ``problems`` are reported for every host at once). Never fails the task; problems are in the plan.
Without these options the module runs alone, as it always did.
"""

from __future__ import annotations

import os
from typing import Any, Dict

from ansible.errors import AnsibleError

from ansible_collections.opstack.conductor.plugins.module_utils import _backup as backups
from ansible_collections.opstack.conductor.plugins.plugin_utils import _backup_plans as plans
from ansible_collections.opstack.conductor.plugins.plugin_utils._action import ConductorAction


class ActionModule(ConductorAction):
    MODULE = "opstack.conductor.raft_backup"
    CONTROLLER_OPTIONS = ("fetch_dest", "fetch_src", "preflight")

    def on_controller(self, module_args, task_args, task_vars):
        if task_args.get("preflight"):
            return self._preflight(module_args, task_args["preflight"], task_vars)
        if not task_args.get("fetch_dest"):
            return {"failed": True, "msg": "fetch_src needs fetch_dest (the directory on the controller)"}
        if task_args.get("fetch_src"):  # a backup made earlier (the role fetches once op-conductor runs again)
            made = {"changed": False, "backup_path": task_args["fetch_src"]}
        else:
            made = self.run_module(module_args, task_vars)
        if made.get("failed") or self._task.check_mode or not made.get("backup_path"):
            return made
        server_id = module_args.get("server_id") or os.path.basename(module_args["path"].rstrip("/"))
        fetched = self._fetch(made["backup_path"], server_id, task_args["fetch_dest"], task_vars)
        if fetched.get("failed"):
            return dict(made, failed=True, msg=fetched["msg"])
        return dict(made, fetched=fetched["path"])

    def _preflight(self, module_args, settings, task_vars):
        check_args = {key: module_args[key] for key in ("path", "dest", "server_id") if module_args.get(key)}
        # online only to learn whether op-conductor runs; what happens to a running node is the plan's to say
        check = self.run_module(dict(check_args, online=True), task_vars, check_mode=True)
        server_id = module_args.get("server_id") or os.path.basename(module_args["path"].rstrip("/"))
        plan = plans.backup_plan(check, server_id, module_args["path"], module_args["dest"], settings)
        return {"changed": False, "locked": check.get("locked"), "plan": plan}

    def _fetch_file(self, source: str, rel: str, target: str, task_vars: Dict[str, Any]) -> None:
        """One file of the backup into ``target``. Without become the connection transfers it as it is (no module
        run per file; issue 15): the copy is checked against the manifest as a whole before it gets its name, which
        any damage in transit fails. With become the files are the become user's: ansible's fetch reads them
        through it (slurp), as before."""
        if os.path.isabs(rel) or ".." in rel.split("/"):
            raise backups.BackupError("%s: the manifest names the file %r outside the backup" % (source, rel))
        remote, local = "%s/%s" % (source, rel), os.path.join(target, rel)
        if not self._connection.become:
            os.makedirs(os.path.dirname(local), mode=0o700, exist_ok=True)
            try:
                self._connection.fetch_file(remote, local)
            except AnsibleError as exc:
                raise backups.BackupError("fetching %s to %s failed: %s" % (remote, target, exc)) from exc
            return
        got = self.run_action("ansible.legacy.fetch", {"src": remote, "flat": True, "dest": local,
                                                       "validate_checksum": True}, task_vars)
        if got.get("failed"):
            raise backups.BackupError("fetching %s/%s to %s failed: %s" % (source, rel, target, got.get("msg")))

    def _fetch(self, source: str, server_id: str, fetch_dest: str, task_vars: Dict[str, Any]) -> Dict[str, Any]:
        """The backup ``source`` on the host copied to the controller and verified there before it gets its
        name: {path} or {failed, msg}."""
        name = os.path.basename(source.rstrip("/"))
        root = os.path.realpath(os.path.expanduser(fetch_dest))
        unverified, final = os.path.join(root, ".%s.unverified" % name), os.path.join(root, name)
        try:
            os.makedirs(root, mode=0o700, exist_ok=True)
            self._fetch_file(source, backups.MANIFEST, unverified, task_vars)
            for rel in sorted(backups.read_manifest(unverified)["files"]):
                self._fetch_file(source, rel, unverified, task_vars)
        except (backups.BackupError, OSError) as exc:
            return {"failed": True, "msg": str(exc)}
        report = backups.describe_backup(unverified, True, server_id)
        if not report["usable"]:
            return {"failed": True, "msg": "The copy of %s fetched to %s does not verify (it is left there for "
                                           "inspection; the backup on the host is intact): %s"
                                           % (source, unverified, "; ".join(report["problems"] + report["mismatches"]))}
        os.rename(unverified, final)  # a fresh name (time and random tag): nothing is there to replace
        return {"path": final}
