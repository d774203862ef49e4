#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: raft_backup_info
short_description: Verify and list backups of op-conductor Raft state without restoring anything
version_added: 0.1.0
description:
  - Reads one backup made by M(opstack.conductor.raft_backup), or every backup in a directory of backups, and
    verifies it as M(opstack.conductor.raft_restore) does before a restore (every file against the manifest's
    sha256 and size, no file missing or extra, the full integrity check of both databases and the snapshots, the
    manifest's facts against the content).
  - A damaged backup is reported (RV(backups[].ok=false) with its problems), not an error; the module fails only
    on bad options (a missing O(path), an invalid O(server_id) or O(expected_servers)) or without msgpack.
  - Never writes, creates or deletes anything.
author:
  - opstack.conductor developers (@opstack)
options:
  path:
    description:
      - A backup directory (it holds C(manifest.json)), or a directory of backups (the O(opstack.conductor.raft_backup#module:dest)
        of M(opstack.conductor.raft_backup)), on the managed host.
      - One of O(path) and O(controller_path) is required.
    type: path
  choose:
    description:
      - List the manifests only, choose this server's newest backup in O(path) (and O(controller_path)) and verify
        only that one (RV(chosen), RV(backups) holds its report). Implied by O(controller_path).
      - Handled on the controller by the action plugin of the same name; the module alone refuses it.
    type: bool
    default: false
  controller_path:
    description:
      - A backup or a directory of backups on the controller. This server's (O(server_id)) backups there and in
        O(path) on the host (when given) are listed from their manifests, the newest of both places is chosen (last
        log term, then last index, then the time made; the controller's on a tie) and only that one is verified,
        where it is (RV(backups) holds its report, RV(chosen) says which and where, RV(looked) where the backups
        were looked for).
      - Handled on the controller by the action plugin of the same name; the module alone refuses it.
    type: path
  server_id:
    description:
      - The server the backups should be of. In a directory of backups, only this server's backups (by their
        manifests, or by their names where a manifest is unreadable) are read and reported; a single backup
        of another server is reported with a mismatch.
    type: str
  network:
    description:
      - The chain (OP-stack network) the backups should be of, such as V(op-mainnet). A backup whose manifest
        records another chain has a mismatch naming both (so it is not RV(backups[].usable)); one recording none
        is usable, with a warning. Unset - not compared.
    type: str
  verify:
    description:
      - Verify every file and the whole state. Without it only the manifests are read (fast, but a damaged file
        is not noticed).
    type: bool
    default: true
extends_documentation_fragment:
  - opstack.conductor.backups.HOST_CHOICE
  - opstack.conductor.servers.EXPECTED
  - opstack.conductor.servers.MSGPACK
  - opstack.conductor._attributes
  - opstack.conductor._attributes.INFO_MODULE
seealso:
  - module: opstack.conductor.raft_backup
  - module: opstack.conductor.raft_restore
"""

EXAMPLES = r"""
- name: Find the newest usable backup of this node
  opstack.conductor.raft_backup_info:
    path: /var/backups/op-conductor
    server_id: sequencer-1
    expected_servers: "{{ conductor_servers }}"
  register: found

- name: Restore it
  opstack.conductor.raft_restore:
    src: "{{ found.newest }}"
    path: /var/lib/op-conductor/raft/sequencer-1
  when: found.newest is not none
"""

RETURN = r"""
backups:
  description: The backups found, newest first (by last log term, then last index - the snapshot's when the log
    ends before it - as the manifests say, never by CurrentTerm; then by the time made); backups whose
    manifest cannot be read come last.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The backup directory.
      type: str
    ok:
      description: Whether it verified (or, with O(verify=false), whether its manifest is readable).
      type: bool
    verified:
      description: Whether the files and the state were verified (the value of O(verify)).
      type: bool
    problems:
      description: Why it did not verify.
      type: list
      elements: str
    mismatches:
      description: How it differs from O(server_id), O(expected_servers) and O(network).
      type: list
      elements: str
    usable:
      description:
        - C(ok), finished, and no mismatch with O(server_id), O(expected_servers) and O(network) (when given).
        - M(opstack.conductor.raft_restore) also compares with the node it restores to (refusing, without force,
          a backup older than the node's state or of another membership than the node's current one), which this
          module does not see.
      type: bool
    position:
      description: The log position Raft compares (C(term), C(index)), from the manifest; null when unreadable.
      type: dict
    cluster_id:
      description: The cluster identity the manifest records; null when unknown or not recorded (earlier format).
      type: str
    warnings:
      description: What could not be checked, such as a manifest of the earlier format without a digest.
      type: list
      elements: str
    manifest:
      description: The backup's manifest (server ID, membership, term, first and last index, files), when readable.
      type: dict
newest:
  description: The path of the newest usable backup, or null. Without O(server_id) it may be of any server.
  returned: always
  type: str
chosen:
  description:
    - With O(controller_path) - the newest backup of both places (C(path), C(where) - V(the controller) or
      V(the host), C(manifest), C(candidates) - how many were ranked); empty when there is none.
  returned: with O(controller_path), O(choose) or O(host_choice)
  type: dict
looked:
  description: With O(controller_path) - where the backups were looked for, and why what was there is unusable.
  returned: with O(controller_path) or O(choose)
  type: str
partials:
  description:
    - Unfinished C(.partial) backups in a directory of backups (of O(server_id) when given), left by an
      interrupted run; never verified, never used. A C(.partial) given as O(path) is reported in RV(backups)
      instead, with a problem.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.opstack.conductor.plugins.module_utils import _backup as backups
from ansible_collections.opstack.conductor.plugins.module_utils import _module_common as common
from ansible_collections.opstack.conductor.plugins.module_utils import _servers as servers


def inspect(module, result):
    params = module.params
    server_id = params["server_id"]
    if server_id is not None:
        servers.validate_server_id(server_id)
    expected = None
    if params["expected_servers"] is not None:
        expected = servers.server_dicts(params["expected_servers"], "expected_servers")
    network = backups.validate_network(params["network"])
    choice = params["host_choice"]
    if choice is not None:  # the action plugin's choice, its host part in this one run
        return dict(result, **backups.choose_on_host(choice["path"], server_id, expected, network, choice["rival"]))
    return dict(result, **backups.describe_backups(params["path"], params["verify"], server_id, expected, network))


def main():
    module = AnsibleModule(argument_spec=dict(
        path=dict(type="path"),
        controller_path=dict(type="path"),
        choose=dict(type="bool", default=False),
        server_id=dict(type="str"),
        verify=dict(type="bool", default=True),
        network=dict(type="str"),
        expected_servers=servers.server_list_spec(),
        host_choice=backups.HOST_CHOICE_SPEC,
    ), supports_check_mode=True, required_one_of=[("path", "controller_path", "host_choice")])
    common.refuse_controller_options(module, ["controller_path"], choose=False)
    common.run_reader(module, inspect)


if __name__ == "__main__":
    main()
