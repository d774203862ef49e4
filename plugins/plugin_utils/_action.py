# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The base of the collection's action plugins, in the ansible.posix ``patch`` style (issue 14 item 1).

An action plugin named like its module wraps it: without the plugin's own (controller) options the task runs the
module on the host exactly as before; with them the plugin does the controller's part (find, verify, transfer,
fetch, rename) with module_utils' rules and runs the module with ``_execute_module``, removing the remote tmpdir
in a ``finally``. The controller options are documented with the module; the module refuses them when it is run
without the plugin.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, Optional

from ansible.plugins.action import ActionBase
from ansible.utils.vars import merge_hash


class ConductorAction(ActionBase):
    """Subclasses set MODULE and CONTROLLER_OPTIONS and implement ``on_controller(args, task_vars)``."""

    _supports_check_mode = True
    _supports_async = True
    MODULE = ""
    CONTROLLER_OPTIONS = ()  # type: Iterable[str]

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_args = dict(self._task.args)
        module_args = {key: value for key, value in task_args.items() if key not in self.CONTROLLER_OPTIONS}
        wrap_async = bool(self._task.async_val) and not self._connection.has_native_async
        try:
            if not self.wants_controller(task_args):
                return merge_hash(result, self._execute_module(module_name=self.MODULE, module_args=module_args,
                                                               task_vars=task_vars, wrap_async=wrap_async))
            return merge_hash(result, self.on_controller(module_args, task_args, task_vars))
        finally:
            if not wrap_async:
                self._remove_tmp_path(self._connection._shell.tmpdir)

    def wants_controller(self, task_args: Dict[str, Any]) -> bool:
        """Whether the task uses a controller option (else the module runs alone, as it always did)."""
        return any(task_args.get(option) is not None for option in self.CONTROLLER_OPTIONS)

    def on_controller(self, module_args: Dict[str, Any], task_args: Dict[str, Any],
                      task_vars: Dict[str, Any]) -> Dict[str, Any]:
        raise NotImplementedError

    def run_module(self, module_args: Dict[str, Any], task_vars: Dict[str, Any], check_mode: Optional[bool] = None,
                   module: Optional[str] = None) -> Dict[str, Any]:
        """One module run on the host; ``check_mode`` True forces a check whatever the play says."""
        saved = self._task.check_mode
        if check_mode is not None:
            self._task.check_mode = check_mode
        try:
            return self._execute_module(module_name=module or self.MODULE, module_args=dict(module_args),
                                        task_vars=task_vars)
        finally:
            self._task.check_mode = saved

    def run_action(self, action: str, args: Dict[str, Any], task_vars: Dict[str, Any]) -> Dict[str, Any]:
        """Another action plugin (ansible.legacy.copy, fetch) for this task's host, as the template action runs
        copy: become, checksums and the remote tmpdir are its business."""
        task = self._task.copy()
        task.args = dict(args)
        plugin = self._shared_loader_obj.action_loader.get(
            action, task=task, connection=self._connection, play_context=self._play_context, loader=self._loader,
            templar=self._templar, shared_loader_obj=self._shared_loader_obj)
        return plugin.run(task_vars=task_vars)
