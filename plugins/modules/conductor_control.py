#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: conductor_control
short_description: Pause, resume, or override the leader of op-conductor nodes
version_added: 0.1.0
description:
  - Ensures, on every node in O(nodes), that the conductor is paused or resumed (C(conductor_pause),
    C(conductor_resume)) and that the leader override is set or cleared (C(conductor_overrideLeader)).
  - Reads the current state first (C(conductor_paused), C(conductor_leaderOverridden)) and changes only nodes
    that differ, then reads it again to confirm; C(changed=false) when every node already is as asked.
  - A paused conductor still takes part in leader election and health checks, but never starts or stops its
    sequencer. Resuming makes op-conductor ask its op-node whether the sequencer is active
    (C(admin_sequencerActive)) and fails when op-node does not answer.
  - The leader override makes a node claim leadership to op-node and the batcher without Raft; it is for
    disaster recovery only and does not change Raft.
author:
  - opstack.conductor developers (@opstack)
options:
  paused:
    description: V(true) to pause, V(false) to resume; omit to leave as is.
    type: bool
  override_leader:
    description: V(true) to set the leader override, V(false) to clear it; omit to leave as is.
    type: bool
  order:
    description:
      - The order in which nodes are changed. V(given) follows O(nodes); V(followers_first) changes the nodes
        that do not lead first and the leader last (safest when resuming, so the leader starts sequencing when
        everybody else already watches).
    type: str
    choices: [given, followers_first]
    default: followers_first
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
      - The diff shows paused and override per node, before and after.
seealso:
  - module: opstack.conductor.conductor_info
"""

EXAMPLES = r"""
- name: Resume every conductor, followers first
  opstack.conductor.conductor_control:
    nodes: "{{ conductor_nodes }}"
    paused: false
  run_once: true
  delegate_to: localhost

- name: Disaster recovery - pause all, then force sequencer-2 to act as leader
  opstack.conductor.conductor_control:
    nodes: "{{ conductor_nodes }}"
    paused: true
  run_once: true
  delegate_to: localhost
- name: Override on one node
  opstack.conductor.conductor_control:
    nodes: "{{ conductor_nodes | selectattr('id', 'eq', 'sequencer-2') | list }}"
    override_leader: true
  run_once: true
  delegate_to: localhost
"""

RETURN = r"""
nodes:
  description: Per node, C(before) and C(after) (C(paused), C(override_leader)) and the calls made.
  returned: always
  type: dict
  sample: {sequencer-1: {before: {paused: true, override_leader: false}, after: {paused: false,
           override_leader: false}, calls: [conductor_resume]}}
changed_nodes:
  description: The nodes that were (or, in check mode, would be) changed.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.opstack.conductor.plugins.module_utils import _conductor_rpc as rpc
from ansible_collections.opstack.conductor.plugins.module_utils import _runner as runner


def read(conductor, want_paused, want_override):
    state = {}
    if want_paused is not None:
        state["paused"] = conductor.paused()
    if want_override is not None:
        state["override_leader"] = conductor.leader_overridden()
    return state


def node_order(conductors, order):
    """The nodes in the order to change them: with followers_first, the node(s) claiming leadership last."""
    if order != "followers_first":
        return list(conductors)
    leaders = [node_id for node_id, conductor in conductors.items() if conductor.leader()]
    return [node_id for node_id in conductors if node_id not in leaders] + leaders


def calls_for(conductor, before, want_paused, want_override):
    """[(method name, call)] that bring one node from ``before`` to what is wanted."""
    calls = []
    if want_override is not None and before["override_leader"] != want_override:
        calls.append(("conductor_overrideLeader", lambda: conductor.override_leader(want_override)))
    if want_paused is not None and before["paused"] != want_paused:
        calls.append(("conductor_pause", conductor.pause) if want_paused else ("conductor_resume", conductor.resume))
    return calls


def wanted_state(before, want_paused, want_override):
    after = dict(before)
    if want_paused is not None:
        after["paused"] = want_paused
    if want_override is not None:
        after["override_leader"] = want_override
    return after


def change_node(node_id, conductor, calls, report, changed_nodes, want_paused, want_override):
    """Make the calls, read the node back and fail unless it reports what was wanted."""
    for index, (name, call) in enumerate(calls):
        try:
            call()
        except rpc.ConductorError as exc:
            raise rpc.Failure("%s on %s failed: %s" % (name, node_id, exc.message), nodes=report,
                              changed=len(changed_nodes) > 1 or index > 0, changed_nodes=changed_nodes[:-1])
    try:
        report[node_id]["after"] = after = read(conductor, want_paused, want_override)
    except rpc.ConductorError as exc:
        raise rpc.Failure("cannot confirm %s: %s" % (node_id, exc.message), nodes=report, changed=True,
                          changed_nodes=changed_nodes)
    mismatch = [k for k, v in (("paused", want_paused), ("override_leader", want_override))
                if v is not None and after[k] != v]
    if mismatch:
        raise rpc.Failure("%s still reports %s after the call" % (node_id, ", ".join(
            "%s=%s" % (k, after[k]) for k in mismatch)), nodes=report, changed=True, changed_nodes=changed_nodes)


def ensure(module, conductors, partial):
    want_paused, want_override = module.params["paused"], module.params["override_leader"]
    report = partial["nodes"] = {}
    for node_id, conductor in conductors.items():
        report[node_id] = dict(before=read(conductor, want_paused, want_override), calls=[])
    changed_nodes = []
    for node_id in node_order(conductors, module.params["order"]):
        before = report[node_id]["before"]
        calls = calls_for(conductors[node_id], before, want_paused, want_override)
        if not calls:
            report[node_id]["after"] = dict(before)
            continue
        changed_nodes.append(node_id)
        report[node_id]["calls"] = [name for name, _call in calls]
        if module.check_mode:
            report[node_id]["after"] = wanted_state(before, want_paused, want_override)
        else:
            change_node(node_id, conductors[node_id], calls, report, changed_nodes, want_paused, want_override)
    diff = dict(before="".join("%s %s\n" % (i, r["before"]) for i, r in sorted(report.items())),
                after="".join("%s %s\n" % (i, r["after"]) for i, r in sorted(report.items())))
    return dict(changed=bool(changed_nodes), nodes=report, changed_nodes=changed_nodes, diff=diff)


def main():
    spec = rpc.rpc_argument_spec()
    spec.update(
        paused=dict(type="bool"),
        override_leader=dict(type="bool"),
        order=dict(type="str", choices=["given", "followers_first"], default="followers_first"),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           required_one_of=[("paused", "override_leader")])
    runner.run(module, rpc.live_work(ensure))


if __name__ == "__main__":
    main()
