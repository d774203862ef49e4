# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""raft_backup_info with O(controller_path) or O(choose): this server's backups on the controller and (O(path)) on
the host, the newest of both chosen by ``_backup``'s ranking, and only that one verified, where it is (issue 14
item 1, issue 15 item 2: the restore role's list, pick and verify in one task). Without them the module runs
alone."""

from __future__ import annotations

from typing import Any, Dict

from ansible_collections.opstack.conductor.plugins.module_utils import _backup as backups
from ansible_collections.opstack.conductor.plugins.module_utils import _servers as servers
from ansible_collections.opstack.conductor.plugins.module_utils._errors import OpstackError
from ansible_collections.opstack.conductor.plugins.plugin_utils import _backup_plans as plans
from ansible_collections.opstack.conductor.plugins.plugin_utils._action import ConductorAction


def controller_listing(root: str, server_id: Any, verify: bool = False, expected: Any = None,
                       network: Any = None) -> Dict[str, Any]:
    """What the module reports for ``root``, read on the controller by the module's own code."""
    try:
        return dict(backups.describe_backups(root, verify, server_id, expected, network), changed=False)
    except (OpstackError, OSError) as exc:
        return {"failed": True, "msg": str(exc)}


class ActionModule(ConductorAction):
    MODULE = "opstack.conductor.raft_backup_info"
    CONTROLLER_OPTIONS = ("controller_path", "choose")

    def wants_controller(self, task_args):
        return bool(task_args.get("controller_path") or task_args.get("choose"))

    def on_controller(self, module_args, task_args, task_vars):
        server_id = module_args.get("server_id")
        try:
            if server_id is not None:
                servers.validate_server_id(server_id)
            backups.validate_network(module_args.get("network"))
            expected = None
            if module_args.get("expected_servers") is not None:
                expected = servers.server_dicts(module_args["expected_servers"], "expected_servers")
        except OpstackError as exc:
            return {"failed": True, "msg": str(exc)}
        places = []
        if task_args.get("controller_path"):
            places.append([plans.CONTROLLER, task_args["controller_path"],
                           controller_listing(task_args["controller_path"], server_id)])
        if module_args.get("path"):
            listing = self.run_module(dict(module_args, verify=False, expected_servers=None), task_vars)
            places.append([plans.HOST, module_args["path"], listing])
        chosen = plans.backup_choice([[where, listing] for where, _root, listing in places])
        result = {"changed": False, "chosen": chosen, "looked": plans.looked(places), "backups": [], "newest": None,
                  "partials": []}
        if chosen:
            result.update(self._verify(chosen, module_args, expected, task_vars))
        return result

    def _verify(self, chosen, module_args, expected, task_vars):
        """The chosen backup verified where it is: every file, the whole state, the server and the membership."""
        if chosen["where"] == plans.CONTROLLER:
            verified = controller_listing(chosen["path"], module_args.get("server_id"), True, expected,
                                          module_args.get("network"))
        else:
            verified = self.run_module(dict(module_args, path=chosen["path"], verify=True), task_vars)
        if verified.get("failed"):
            return {"failed": True, "msg": verified.get("msg") or "the verification failed"}
        return {key: verified.get(key) for key in ("backups", "newest", "partials")}
