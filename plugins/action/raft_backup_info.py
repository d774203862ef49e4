# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""raft_backup_info with O(controller_path) or O(choose): this server's backups on the controller and (O(path)) on
the host, the newest of both chosen by ``_backup``'s ranking, and only that one verified, where it is (issue 14
item 1, issue 15 item 2: the restore role's list, pick and verify in one task). Without them the module runs
alone."""

from __future__ import annotations

from ansible_collections.opstack.conductor.plugins.plugin_utils import _backup_plans as plans
from ansible_collections.opstack.conductor.plugins.plugin_utils._action import ConductorAction


class ActionModule(ConductorAction):
    MODULE = "opstack.conductor.raft_backup_info"
    CONTROLLER_OPTIONS = ("controller_path", "choose")

    def wants_controller(self, task_args):
        return bool(task_args.get("controller_path") or task_args.get("choose"))

    def on_controller(self, module_args, task_args, task_vars):
        found = plans.find_backup(lambda choice: self.run_module(dict(module_args, host_choice=choice), task_vars),
                                  module_args, task_args.get("controller_path"))
        found.pop("host_run", None)  # the host's listing and verification are in found's own keys
        return found
