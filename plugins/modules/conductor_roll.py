#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: conductor_roll
short_description: The live gates of a rolling restart of an op-conductor cluster
version_added: 0.1.0
description:
  - One step of a rolling restart or upgrade (the C(opstack.conductor.rolling_restart) playbook runs them; the
    op-conductor docs' "post-conductor launch deployments"). Every step reads every node in O(nodes) (conductor RPC,
    op-node C(admin_sequencerActive) and the unsafe head of C(optimism_syncStatus)).
  - O(step=check) plans the roll (followers first, the leader last, the canary) and refuses a degraded cluster (a
    member that does not answer or is not in the configuration, no agreed leader, a leader override, more than one
    or no active sequencer, an unhealthy, paused or stopped conductor, an op-node more than O(max_lag) blocks behind
    the leader's) unless O(force=true).
  - O(step=stop_gate) runs right before O(node) is stopped. It refuses when any other member does not answer or is
    not a member, when no leader is agreed or O(node) leads, or more than one sequencer runs - even with
    O(force=true), so that a roll never takes a second node down; the other problems of O(step=check) refuse
    unless O(force=true).
  - O(step=rejoin) runs after O(node) was started again. It pauses the node if it came back unpaused, waits (up to
    O(timeout)) until it answers, is a member in the leader's configuration and its own, a leader is agreed, its
    conductor reports the sequencer healthy and its op-node's unsafe head is at most O(max_lag) blocks behind the
    leader's, then resumes it (C(conductor_resume)).
  - O(step=canary) moves leadership to O(canary) with the state machine of M(opstack.conductor.conductor_leader),
    then watches it for O(grace) seconds - it must lead, agreed by every node, report a healthy sequencer, be the
    only op-node sequencing, and sequence at the end. When it does not hold, leadership is moved back to
    O(previous_leader) and the step fails with the reason.
  - Check mode reads only - no pause, resume or transfer; O(step=canary) reports the planned transfer.
author:
  - opstack.conductor developers (@opstack)
options:
  step:
    description: The step to run.
    type: str
    choices: [check, stop_gate, rejoin, canary]
    required: true
  members:
    description: The server IDs of the cluster's members (the inventory's); by default every id in O(nodes).
    type: list
    elements: str
    default: []
  roll:
    description: With O(step=check), the members to restart (others are only checked).
    type: list
    elements: str
    default: []
  node:
    description: With O(step=stop_gate) or O(step=rejoin), the member being restarted.
    type: str
  canary:
    description:
      - With O(step=check), the member to move leadership to before the leader restarts (default - the first follower
        restarted by this roll).
      - With O(step=canary), the member leadership moves to.
      - With O(step=stop_gate) in check mode, the planned canary - the leader may then pass the gate, since the canary
        step only planned its transfer.
    type: str
  previous_leader:
    description: With O(step=canary), where leadership goes back when the canary does not hold (default - the leader).
    type: str
  force:
    description: Start the roll on a degraded cluster, and pass the gates' unhealthy, paused or lagging problems.
    type: bool
    default: false
  max_lag:
    description: Blocks a node's unsafe head may be behind the leader's and still count as caught up.
    type: int
    default: 5
  grace:
    description: Seconds the canary must hold leadership and stay healthy.
    type: float
    default: 30
  timeout:
    description: Seconds O(step=rejoin) waits for the node.
    type: float
    default: 120
  transfer_timeout:
    description: Seconds for each leadership transfer (there and, when needed, back).
    type: float
    default: 60
  poll_interval:
    description: Seconds between polls.
    type: float
    default: 1
extends_documentation_fragment:
  - opstack.conductor.conductor_rpc.CONNECTION
  - opstack.conductor.conductor_rpc
  - opstack.conductor._attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    description: Running it again with the same options changes nothing.
    support: partial
    details:
      - O(step=check) and O(step=stop_gate) only read. O(step=rejoin) resumes a paused node once. O(step=canary) moves
        leadership only when the canary does not lead already, but always watches it for O(grace) seconds.
seealso:
  - module: opstack.conductor.conductor_leader
  - module: opstack.conductor.conductor_info
  - module: opstack.conductor.conductor_control
"""

EXAMPLES = r"""
- name: Plan the roll; refuse a degraded cluster
  opstack.conductor.conductor_roll:
    step: check
    nodes: "{{ conductor_nodes }}"
    members: "{{ conductor_member_ids }}"
    roll: [sequencer-1, sequencer-2, sequencer-3]
  run_once: true
  delegate_to: localhost
  register: roll

- name: Move leadership to the canary and hold it for 30 s (or move it back and fail)
  opstack.conductor.conductor_roll:
    step: canary
    nodes: "{{ conductor_nodes }}"
    canary: "{{ roll.plan.canary }}"
    previous_leader: "{{ roll.plan.leader }}"
  delegate_to: localhost
"""

RETURN = r"""
leader:
  description: The leader every reachable node agrees on at the end, or null.
  returned: always
  type: str
plan:
  description: With O(step=check), C(leader), C(order) (the members to restart, followers first) and C(canary).
  returned: success and O(step=check)
  type: dict
problems:
  description: With O(step=check) and O(step=stop_gate), what is wrong with the cluster (forced past, or the refusal).
  returned: when found
  type: list
  elements: str
resumed:
  description: With O(step=rejoin), whether the node was resumed.
  returned: success and O(step=rejoin)
  type: bool
lag:
  description: With O(step=rejoin), blocks the node's unsafe head is behind the leader's.
  returned: success and O(step=rejoin)
  type: int
canary:
  description: With O(step=canary), the canary.
  returned: O(step=canary)
  type: str
previous_leader:
  description: With O(step=canary), where leadership goes back when the canary fails.
  returned: O(step=canary)
  type: str
verdict:
  description: With O(step=canary), C(held), or why the canary did not hold (null in check mode).
  returned: O(step=canary)
  type: str
transfer:
  description: With O(step=canary), the result of the transfer to the canary (as M(opstack.conductor.conductor_leader)).
  returned: O(step=canary)
  type: dict
transfer_back:
  description: With O(step=canary), the result of the transfer back when the canary did not hold.
  returned: when the canary did not hold
  type: dict
sequencers_active:
  description: The nodes whose op-node sequencer is active at the end.
  returned: always
  type: list
  elements: str
table:
  description: The cluster table (as M(opstack.conductor.conductor_info)'s) with each op-node's unsafe head.
  returned: always
  type: list
  elements: str
elapsed:
  description: Seconds spent.
  returned: always
  type: float
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.opstack.conductor.plugins.module_utils import _conductor_rpc as rpc
from ansible_collections.opstack.conductor.plugins.module_utils import _runner as runner
from ansible_collections.opstack.conductor.plugins.module_utils._roll import Roll

NEEDS = {"stop_gate": "node", "rejoin": "node", "canary": "canary"}


def step(module, conductors, _partial):
    needed = NEEDS.get(module.params["step"])
    if needed and not module.params[needed]:
        raise rpc.Failure("step=%s needs %s" % (module.params["step"], needed))
    if module.params["max_lag"] < 0 or module.params["grace"] < 0:
        raise rpc.Failure("max_lag and grace may not be negative (max_lag=%s, grace=%s)"
                          % (module.params["max_lag"], module.params["grace"]))
    return Roll(conductors, module.params, check_mode=module.check_mode, warn=module.warn).run()


def main():
    spec = rpc.rpc_argument_spec()
    spec.update(
        step=dict(type="str", choices=["check", "stop_gate", "rejoin", "canary"], required=True),
        members=dict(type="list", elements="str", default=[]),
        roll=dict(type="list", elements="str", default=[]),
        node=dict(type="str"),
        canary=dict(type="str"),
        previous_leader=dict(type="str"),
        force=dict(type="bool", default=False),
        max_lag=dict(type="int", default=5),
        grace=dict(type="float", default=30),
        timeout=dict(type="float", default=120),
        transfer_timeout=dict(type="float", default=60),
        poll_interval=dict(type="float", default=1),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    runner.run(module, rpc.live_work(step, positive=("timeout", "transfer_timeout", "poll_interval")))


if __name__ == "__main__":
    main()
