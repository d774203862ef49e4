# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options and checks shared by the modules (documented once in the ``servers`` doc fragment)."""

from __future__ import annotations

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.opstack.conductor.plugins.module_utils import _raft as raft


def server_list_spec(required: bool = False) -> dict:
    return dict(type="list", elements="dict", required=required, options=dict(
        id=dict(type="str", required=True),
        address=dict(type="str", required=True),
        suffrage=dict(type="str", choices=["voter", "nonvoter"], default="voter"),
    ))


def require_msgpack(module) -> None:
    if raft.MSGPACK_IMPORT_ERROR is not None:
        module.fail_json(msg=missing_required_lib("msgpack (on the managed host)"),
                         exception=raft.MSGPACK_IMPORT_ERROR)
