# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup and restore roles' controller-side rules as filters (issue 14 item 1).

The rules live in plugins/plugin_utils/_backup_plans.py, shared with the action plugins raft_backup,
raft_backup_info and raft_restore, which use them to return each node's plan. The roles use the filters only to
report the plans and the results of every host at once (``play_problems``, ``play_records``) and to keep the
cluster's quorum while op-conductor is stopped (``quorum_problems``, and ``backup_batch_size``, the backup play's
serial); ``backup_choice`` and ``restore_plan`` stay available. The local state_dir mode takes its node directories
and node backups, and its refusals, from ``backup_state_dir_plan`` and ``restore_state_dir_plan``, and its records
from ``backup_state_dir_records`` and ``restore_state_dir_records``.
"""

from __future__ import annotations

from ansible_collections.opstack.conductor.plugins.plugin_utils._backup_plans import (  # noqa: F401 (re-exported)
    backup_batch_size, backup_choice, play_problems, play_records, quorum_problems, restore_node_info, restore_plan,
    state_dir_backup_plan, state_dir_backup_records, state_dir_restore_plan, state_dir_restore_records)


class FilterModule:
    def filters(self):
        return {"backup_batch_size": backup_batch_size, "backup_choice": backup_choice, "restore_plan": restore_plan,
                "backup_play_problems": play_problems,
                "backup_play_records": play_records, "backup_quorum_problems": quorum_problems,
                "restore_node_info": restore_node_info,
                "backup_state_dir_plan": state_dir_backup_plan, "restore_state_dir_plan": state_dir_restore_plan,
                "backup_state_dir_records": state_dir_backup_records,
                "restore_state_dir_records": state_dir_restore_records}
