#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: conductor_override
short_description: Break-glass sequencing on an op-conductor cluster, and the way back
version_added: 0.1.0
description:
  - O(state=present) follows op-conductor's RUNBOOK "Disaster recovery" steps 1-5 - pauses every conductor and
    proves all paused (C(conductor_paused) on every node), sets the leader override on the chosen node (op-node's
    C(admin_overrideLeader), then its conductor's C(conductor_overrideLeader)), stops the active sequencer
    (C(admin_stopSequencer), keeping the hash it returns) and starts the chosen one at that hash
    (C(admin_startSequencer)) once its op-node holds that head.
  - The chosen node is O(leader), or else the node whose op-node reports the highest unsafe head.
  - After every step C(admin_sequencerActive) is read on every op-node; the module fails when more than one
    sequencer is active. A run is refused, with nothing changed, when a conductor or op-node cannot be read, when
    more than one sequencer is active, or when another node has the override. When not every conductor can be
    proven paused, the pauses this run made are undone and the run fails before any sequencer is touched.
  - O(state=absent) is the way back, in two stages around an op-node restart that the caller does (op-node's
    override is an in-memory flag no RPC clears or reads - op-node v1.19.0). O(stage=release) - refused unless the
    conductors without an override agree on a Raft leader - pauses every conductor and stops the break-glass
    sequencer, and returns in RV(restart) the nodes whose op-node must now restart. O(stage=restore) clears the
    conductor overrides, waits for the Raft leader every node agrees on, starts its sequencer at its op-node's
    unsafe head, resumes every conductor (the leader last) and waits for one leader with one active sequencer.
  - C(changed=false) when the asked state already holds. With O(state=present) op-node's override is re-sent on
    every run (it cannot be read, and a restart of op-node clears it); that alone is not reported as a change.
author:
  - opstack.conductor developers (@opstack)
options:
  state:
    description: V(present) to break glass, V(absent) to go back.
    type: str
    choices: [present, absent]
    default: present
  stage:
    description: With O(state=absent), which stage to run (see the description); ignored with O(state=present).
    type: str
    choices: [release, restore]
    default: release
  leader:
    description: The server ID to sequence with O(state=present); default the one with the highest unsafe head.
    type: str
  timeout:
    description:
      - Seconds to wait for the chosen op-node to reach the stopped head, for a Raft leader, and for the cluster to
        settle on the way back.
    type: float
    default: 60
  poll_interval:
    description: Seconds between polls.
    type: float
    default: 0.5
extends_documentation_fragment:
  - opstack.conductor.conductor_rpc.CONNECTION
  - opstack.conductor.conductor_rpc
  - opstack.conductor._attributes
  - opstack.conductor._attributes.IDEMPOTENT
attributes:
  check_mode:
    support: full
    details:
      - Reads only; RV(plan) lists the steps a run would take.
  diff_mode:
    support: full
    details:
      - The diff lists the planned steps.
notes:
  - Every node needs O(nodes[].node_rpc_url) (op-node with the admin API enabled).
seealso:
  - module: opstack.conductor.conductor_control
  - module: opstack.conductor.op_node_sequencer
"""

EXAMPLES = r"""
- name: Break glass - sequence on the node with the highest unsafe head, every conductor paused
  opstack.conductor.conductor_override:
    nodes: "{{ conductor_nodes }}"
  run_once: true
  delegate_to: localhost

- name: The way back, stage 1 - stop the break-glass sequencer
  opstack.conductor.conductor_override:
    nodes: "{{ conductor_nodes }}"
    state: absent
    stage: release
  register: released
  run_once: true
  delegate_to: localhost
# ... restart the op-node of every host in released.restart, then stage: restore
"""

RETURN = r"""
leader:
  description: The chosen node (O(state=present)), or the Raft leader on the way back.
  returned: when known
  type: str
chosen_by:
  description: Why that node (V(the leader option) or V(the highest unsafe head)).
  returned: with O(state=present)
  type: str
plan:
  description: The steps still needed when the run started (in check mode, the steps a run would take).
  returned: always
  type: list
  elements: str
steps:
  description: The steps taken, each with C(step), C(nodes), and C(active) - the active sequencers every op-node
    reported right after it (never more than one).
  returned: always
  type: list
  elements: dict
restart:
  description: With O(stage=release), the nodes whose op-node must restart to clear op-node's override.
  returned: with O(stage=release)
  type: list
  elements: str
nodes:
  description: Per node at the end - C(paused), C(leader_overridden), C(sequencer_active), C(unsafe_head),
    C(leader_seen).
  returned: success
  type: dict
active:
  description: The nodes whose sequencer is active at the end.
  returned: success
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.opstack.conductor.plugins.module_utils import _conductor_rpc as rpc
from ansible_collections.opstack.conductor.plugins.module_utils import _override as override
from ansible_collections.opstack.conductor.plugins.module_utils import _runner as runner


def ensure(module, conductors, partial):
    op_nodes = override.make_op_nodes(module.params["nodes"], module.params)
    return override.BreakGlass(conductors, op_nodes, module.params, partial=partial, check_mode=module.check_mode,
                               warn=module.warn).run()


def main():
    spec = rpc.rpc_argument_spec()
    spec.update(
        timeout=dict(type="float", default=60),
        poll_interval=dict(type="float", default=0.5),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        stage=dict(type="str", choices=["release", "restore"], default="release"),
        leader=dict(type="str"),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    runner.run(module, rpc.live_work(ensure, positive=("timeout", "poll_interval")))


if __name__ == "__main__":
    main()
