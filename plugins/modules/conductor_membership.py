#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: conductor_membership
short_description: Ensure the voters and non-voters of a running op-conductor cluster
version_added: 0.1.0
description:
  - Makes the Raft membership of a running op-conductor cluster equal O(servers) (usually built from the
    inventory), one configuration change at a time, on the leader, with C(conductor_addServerAsVoter),
    C(conductor_addServerAsNonvoter), C(conductor_demoteVoter) and C(conductor_removeServer).
  - Order - additions first, then address and suffrage changes, then removals. Before each change it re-reads
    the membership from the leader, passes its C(version) (optimistic concurrency), and refuses to go on when the
    membership is not what it planned from (a concurrent change). After each change it waits until the leader
    and every reachable remaining node report the new membership.
  - op-conductor v1.19.0 (hashicorp/raft v1.7) always reports C(version) 0, which it does not check; the module then
    warns and relies on its own re-read before each change.
  - A voter that is to become a non-voter is demoted with C(conductor_demoteVoter) (then moved, if its address
    changes); C(conductor_addServerAsNonvoter) is never sent for a voter (hashicorp/raft would only change its
    address). Where the leader lacks C(conductor_demoteVoter) (asked without changing anything) the voter is
    removed and added back as a non-voter, with a warning; both steps are checked for quorum first.
  - A removed node's op-conductor keeps running (v1.19.0 hard-codes C(ShutdownOnRemove=false); older builds shut
    its Raft down but keep the process); stop it, e.g. with the P(opstack.conductor.conductor_cluster#role)
    role's C(membership) entry point, which stops retired hosts through the service hooks.
  - Refuses, before changing anything, a plan in which any step would leave fewer voters up than a majority of
    the new configuration (a voter counts as up when its node in O(nodes) answers RPC), would leave no voter, or
    would remove or demote the current leader; with O(transfer_leadership=true) leadership is moved to another
    voter of O(servers) first.
  - In check mode, and with diff, it shows the plan and the membership before and after; nothing changes.
author:
  - opstack.conductor developers (@opstack)
options:
  servers:
    description:
      - The complete desired membership. Members not listed are removed.
      - Each address is what the node advertises (C(--consensus.advertised)); the leader dials it before adding
        the server, so the new node's op-conductor must already run.
  transfer_leadership:
    description:
      - When the plan removes or demotes the current leader, first transfer leadership to O(preferred_leader), or
        else to the first voter of O(servers) that answers and stays a voter. Without it such a plan is refused.
    type: bool
    default: false
  preferred_leader:
    description: The voter to move leadership to when O(transfer_leadership=true) needs to.
    type: str
  timeout:
    description: Seconds to wait for each change (and each leadership transfer) to be seen by every node.
    type: float
    default: 60
  poll_interval:
    description: Seconds between polls.
    type: float
    default: 0.5
extends_documentation_fragment:
  - opstack.conductor.conductor_rpc.CONNECTION
  - opstack.conductor.conductor_rpc
  - opstack.conductor.servers
  - opstack.conductor._attributes
  - opstack.conductor._attributes.IDEMPOTENT
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - The diff shows the members (id, address, suffrage) before and after.
seealso:
  - module: opstack.conductor.conductor_info
  - module: opstack.conductor.conductor_leader
"""

EXAMPLES = r"""
- name: Add sequencer-4 as a voter (its op-conductor must run, with any state)
  opstack.conductor.conductor_membership:
    nodes:
      - {id: sequencer-1, url: "http://10.0.0.1:8547"}
      - {id: sequencer-2, url: "http://10.0.0.2:8547"}
      - {id: sequencer-3, url: "http://10.0.0.3:8547"}
      - {id: sequencer-4, url: "http://10.0.0.4:8547"}
    servers:
      - {id: sequencer-1, address: "10.0.0.1:50050"}
      - {id: sequencer-2, address: "10.0.0.2:50050"}
      - {id: sequencer-3, address: "10.0.0.3:50050"}
      - {id: sequencer-4, address: "10.0.0.4:50050"}
  run_once: true
  delegate_to: localhost

- name: Retire sequencer-1, moving leadership away from it if it leads
  opstack.conductor.conductor_membership:
    nodes: "{{ conductor_nodes }}"
    servers: "{{ conductor_servers | rejectattr('id', 'eq', 'sequencer-1') | list }}"
    transfer_leadership: true
  run_once: true
  delegate_to: localhost
"""

RETURN = r"""
plan:
  description: The steps, in order; each with C(op) (transfer_leader, add_voter, add_nonvoter, demote, remove), C(id),
    C(address) and C(reason).
  returned: always
  type: list
  elements: dict
applied:
  description: The steps carried out, each with the membership version it was sent with and the seconds it took.
  returned: always
  type: list
  elements: dict
before:
  description: The membership (C(servers), C(version)) as the leader reported it first.
  returned: always
  type: dict
after:
  description: The membership at the end (planned, in check mode).
  returned: always
  type: dict
leader:
  description: The leader at the end.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.opstack.conductor.plugins.module_utils import _conductor_rpc as rpc
from ansible_collections.opstack.conductor.plugins.module_utils import _runner as runner
from ansible_collections.opstack.conductor.plugins.module_utils import _servers as servers
from ansible_collections.opstack.conductor.plugins.module_utils._membership import Reconciler


def ensure(module, conductors, _partial):
    return Reconciler(conductors, module.params, check_mode=module.check_mode, warn=module.warn).run()


def main():
    spec = rpc.rpc_argument_spec()
    spec.update(
        servers=servers.server_list_spec(required=True),
        transfer_leadership=dict(type="bool", default=False),
        preferred_leader=dict(type="str"),
        timeout=dict(type="float", default=60),
        poll_interval=dict(type="float", default=0.5),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    runner.run(module, rpc.live_work(ensure, positive=("timeout", "poll_interval")))


if __name__ == "__main__":
    main()
