# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Import this collection's controller-side plugins once, in ansible-playbook's own process (issue 15).

Ansible runs every task of every host in a worker forked from ansible-playbook's process. To find one filter of a
collection, ansible-core's Jinja2 loader imports every filter file of that collection (Jinja2Loader.get_with_context
walks the whole filter package), and an action plugin is imported when its task runs; a fresh worker has none of
them, so each host paid 50-70 ms of imports in every task that called one of our filters or ran our action plugins
(7 local hosts: 0.4 s per such task). The loader reuses what ``sys.modules`` already holds. A play's name is
templated in ansible-playbook's process before any worker is forked, and playbooks/_group_guard.yml's first play
calls this filter in its name: every later worker inherits the imports.
"""

from __future__ import annotations

import importlib
import pkgutil

from typing import Any

_ACTION_PACKAGE = "ansible_collections.opstack.conductor.plugins.action"


def _import_action_plugins() -> None:
    package = importlib.import_module(_ACTION_PACKAGE)
    for module in pkgutil.iter_modules(package.__path__):
        try:
            importlib.import_module("%s.%s" % (_ACTION_PACKAGE, module.name))
        except Exception:  # pylint: disable=broad-except
            # Not ours to report here: the task that uses the plugin loads it again and shows the error in context.
            continue


def preload(value: Any) -> Any:
    """``value`` unchanged; calling it (any filter of ours would do for the filters) imports the action plugins."""
    _import_action_plugins()
    return value


class FilterModule:
    def filters(self):
        return {"preload": preload}
