#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: conductor_leader
short_description: Ensure a given op-conductor server leads the cluster
version_added: 0.1.0
description:
  - Makes O(leader) the Raft leader of a running op-conductor cluster and waits until every node agrees.
  - Finds the current leader, takes O(leader)'s address from the leader's C(conductor_clusterMembership) and calls
    C(conductor_transferLeaderToServer) on the current leader. A transfer may report a timeout and still complete
    (optimism pull request 22925), so the module always polls the target and every node until they agree, within
    O(timeout), and retries from whoever leads then, up to O(attempts) times.
  - Does nothing (C(changed=false)) when O(leader) already leads and every node agrees.
  - In check mode it reports the planned transfer and changes nothing.
  - Transfer errors after which the transfer completed anyway, and unreachable nodes, are reported as warnings.
author:
  - opstack.conductor developers (@opstack)
options:
  leader:
    description: The server ID that should lead; it must be a voter.
    type: str
    required: true
  timeout:
    description: Seconds to wait, in all, for a settled leader before the transfer and for agreement after it.
    type: float
    default: 60
  poll_interval:
    description: Seconds between polls.
    type: float
    default: 0.5
  attempts:
    description: How many transfer requests to send at most (a new one only when leadership settled elsewhere).
    type: int
    default: 3
  require_all:
    description:
      - Require every node in O(nodes) to answer and agree. When false, unreachable nodes are reported in
        warnings and only the reachable ones must agree (they must still be a majority of the voters).
    type: bool
    default: true
  require_healthy:
    description: Refuse to transfer to a target whose conductor reports its sequencer unhealthy.
    type: bool
    default: true
extends_documentation_fragment:
  - opstack.conductor.conductor_rpc.CONNECTION
  - opstack.conductor.conductor_rpc
  - opstack.conductor._attributes
  - opstack.conductor._attributes.IDEMPOTENT
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - The diff shows the leader before and after.
seealso:
  - module: opstack.conductor.conductor_info
  - module: opstack.conductor.conductor_membership
"""

EXAMPLES = r"""
- name: Move leadership to sequencer-1
  opstack.conductor.conductor_leader:
    leader: sequencer-1
    nodes:
      - {id: sequencer-1, url: "http://10.0.0.1:8547"}
      - {id: sequencer-2, url: "http://10.0.0.2:8547"}
      - {id: sequencer-3, url: "http://10.0.0.3:8547"}
  run_once: true
  delegate_to: localhost
"""

RETURN = r"""
leader:
  description: The leader every node agrees on at the end (C(id), C(address)).
  returned: success
  type: dict
  sample: {id: sequencer-1, address: "10.0.0.1:50050"}
previous_leader:
  description: The leader before the module acted (C(id), C(address)).
  returned: always
  type: dict
plan:
  description: The transfer (C(from), C(to), C(address)), or null when none is needed.
  returned: always
  type: dict
transfers:
  description: Transfer requests sent, each with the node it went to and its outcome.
  returned: always
  type: list
  elements: dict
elapsed:
  description: Seconds spent.
  returned: always
  type: float
cluster:
  description: The final cluster view (as in M(opstack.conductor.conductor_info)).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.opstack.conductor.plugins.module_utils import _conductor_rpc as rpc
from ansible_collections.opstack.conductor.plugins.module_utils import _runner as runner
from ansible_collections.opstack.conductor.plugins.module_utils._leadership import LeaderMover


def ensure(module, conductors, _partial):
    return LeaderMover(conductors, module.params, check_mode=module.check_mode, warn=module.warn).run()


def main():
    spec = rpc.rpc_argument_spec()
    spec.update(
        leader=dict(type="str", required=True),
        timeout=dict(type="float", default=60),
        poll_interval=dict(type="float", default=0.5),
        attempts=dict(type="int", default=3),
        require_all=dict(type="bool", default=True),
        require_healthy=dict(type="bool", default=True),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    runner.run(module, rpc.live_work(ensure, positive=("attempts", "timeout", "poll_interval")))


if __name__ == "__main__":
    main()
