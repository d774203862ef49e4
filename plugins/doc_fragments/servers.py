# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The member list, shared by every module that writes or compares a cluster configuration.
    DOCUMENTATION = r"""
options:
  servers:
    description:
      - The cluster members, in the order they appear in the initial configuration entry.
      - Each O(servers[].id) is also a directory name (op-conductor appends it to C(--raft.storage.dir)), so it
        may not contain V(/) or V(\\), control or non-printable characters, start with a dot, begin or end with a
        space, or be longer than 200 bytes (the staging and backup names written beside the node directory need
        the rest of the 255 a directory name may have).
      - IDs may not repeat (also not in a different case), nor may addresses.
    type: list
    elements: dict
    required: true
    suboptions:
      id:
        description: The server ID (op-conductor's C(--raft.server.id)).
        type: str
        required: true
      address:
        description:
          - The C(host:port) peers dial; it must be what this node's op-conductor advertises
            (C(--consensus.advertised), or C(--consensus.addr):C(--consensus.port) on old versions).
          - IPv6 literals go in brackets, for example V([2001:db8::1]:50050).
        type: str
        required: true
      suffrage:
        description: Whether the server votes.
        type: str
        choices: [voter, nonvoter]
        default: voter
"""

    # The membership a node's state is compared with (raft_state_info, raft_restore).
    EXPECTED = r"""
options:
  expected_servers:
    description:
      - The membership the node's state should have, for example the inventory's; same shape as the
        O(opstack.conductor.raft_state#module:servers) option.
    type: list
    elements: dict
    suboptions:
      id:
        description: Server ID.
        type: str
        required: true
      address:
        description: Raft address, C(host:port).
        type: str
        required: true
      suffrage:
        description: Whether the server votes.
        type: str
        choices: [voter, nonvoter]
        default: voter
"""

    # The raft_* modules read or write Raft state on the managed host (msgpack decodes it).
    MSGPACK = r"""
options: {}
requirements:
  - msgpack >= 1.0 (Python library) on the managed host
"""
