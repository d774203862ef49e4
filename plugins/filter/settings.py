# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""op-conductor's Raft and health settings, the same on every host of a cluster (issue 17 item 5).

The rule lives in plugins/plugin_utils/_settings.py; the conductor_cluster role's settings.yml (deploy through the
raft_state role, bring_up, membership, rolling_restart) refuses a cluster whose ``problems`` are not empty and writes
each host's ``content`` to its ``conductor_env_file``.
"""

from __future__ import annotations

from ansible_collections.opstack.conductor.plugins.plugin_utils._settings import fleet_settings


class FilterModule:
    def filters(self):
        return {"fleet_settings": fleet_settings}
