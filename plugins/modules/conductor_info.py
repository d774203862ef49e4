#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: conductor_info
short_description: Report the live state of an op-conductor cluster over its RPC
version_added: 0.1.0
description:
  - Asks every node of a running op-conductor cluster for its view (C(conductor_leader), C(conductor_leaderWithID),
    C(conductor_clusterMembership), C(conductor_paused), C(conductor_stopped), C(conductor_active),
    C(conductor_sequencerHealthy), C(conductor_leaderOverridden)) and, where O(nodes[].node_rpc_url) is given,
    op-node's C(admin_sequencerActive).
  - Summarises them as a cluster view that names the leader and flags every disagreement between nodes (leader,
    membership, more than one node claiming leadership or sequencing, unreachable nodes, drift from
    O(expected_servers)).
  - Never changes anything. An unreachable node is reported, not a failure, unless O(fail_on_disagreement=true).
author:
  - opstack.conductor developers (@opstack)
options:
  expected_servers:
    description:
      - The membership the cluster should have (usually built from the inventory); differences are reported in
        RV(cluster.drift) and RV(cluster.disagreements).
  fail_on_disagreement:
    description: Fail when RV(cluster.agree) is false (the result is still returned).
    type: bool
    default: false
extends_documentation_fragment:
  - opstack.conductor.conductor_rpc.CONNECTION
  - opstack.conductor.conductor_rpc
  - opstack.conductor.servers.EXPECTED
  - opstack.conductor._attributes
  - opstack.conductor._attributes.INFO_MODULE
seealso:
  - module: opstack.conductor.conductor_leader
  - module: opstack.conductor.conductor_membership
  - module: opstack.conductor.raft_state_info
"""

EXAMPLES = r"""
- name: Read the cluster from the controller (conductor_nodes as built by the conductor_cluster role)
  opstack.conductor.conductor_info:
    nodes: "{{ conductor_nodes }}"
  run_once: true
  delegate_to: localhost
  register: conductor

- name: Show it
  ansible.builtin.debug:
    msg: "{{ conductor.table }}"

- name: Require one leader that every node agrees on
  opstack.conductor.conductor_info:
    nodes:
      - {id: sequencer-1, url: "http://10.0.0.1:8547", node_rpc_url: "http://10.0.0.1:9545"}
      - {id: sequencer-2, url: "http://10.0.0.2:8547", node_rpc_url: "http://10.0.0.2:9545"}
      - {id: sequencer-3, url: "http://10.0.0.3:8547", node_rpc_url: "http://10.0.0.3:9545"}
    expected_servers:
      - {id: sequencer-1, address: "10.0.0.1:50050"}
      - {id: sequencer-2, address: "10.0.0.2:50050"}
      - {id: sequencer-3, address: "10.0.0.3:50050"}
    fail_on_disagreement: true
"""

RETURN = r"""
nodes:
  description: What each node reports, in the order of O(nodes).
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The node's server ID.
      type: str
    url:
      description: Its RPC URL.
      type: str
    reachable:
      description: Whether it answered.
      type: bool
    error:
      description: The last error, or null.
      type: str
    leader:
      description: C(conductor_leader) (true also when the leader is overridden).
      type: bool
    leader_with_id:
      description: The leader this node knows (C(id), C(address)); empty strings when it knows none.
      type: dict
    membership:
      description: This node's configuration, C(servers) (id, address, suffrage) and C(version).
      type: dict
    paused:
      description: C(conductor_paused).
      type: bool
    stopped:
      description: C(conductor_stopped).
      type: bool
    active:
      description: C(conductor_active) (neither paused nor stopped).
      type: bool
    sequencer_healthy:
      description: C(conductor_sequencerHealthy).
      type: bool
    leader_overridden:
      description: C(conductor_leaderOverridden).
      type: bool
    sequencer_active:
      description: op-node's C(admin_sequencerActive); null without O(nodes[].node_rpc_url).
      type: bool
    missing:
      description: Methods this node's op-conductor lacks, each naming the feature.
      type: list
      elements: str
cluster:
  description: The cluster view.
  returned: always
  type: dict
  contains:
    leader:
      description: The leader every reachable node agrees on (C(id), C(address)), or null.
      type: dict
    leaders_claimed:
      description: Nodes whose C(conductor_leader) is true without an override.
      type: list
      elements: str
    leader_overridden:
      description: Nodes with a leader override set.
      type: list
      elements: str
    membership:
      description: The membership as the leader sees it (else the most common view).
      type: dict
    agree:
      description: No disagreement and nothing unreachable.
      type: bool
    disagreements:
      description: Every disagreement found, as text.
      type: list
      elements: str
    unreachable:
      description: Nodes that did not answer.
      type: list
      elements: str
    drift:
      description: Difference between the membership and O(expected_servers) (C(in_sync), C(missing), C(extra), C(changed)).
      type: dict
    paused:
      description: Paused nodes.
      type: list
      elements: str
    stopped:
      description: Stopped nodes.
      type: list
      elements: str
    active:
      description: Nodes whose conductor is active.
      type: list
      elements: str
    unhealthy:
      description: Nodes whose conductor reports the sequencer unhealthy.
      type: list
      elements: str
    sequencers_active:
      description: Nodes whose op-node sequencer is active.
      type: list
      elements: str
table:
  description: A fixed-width table of the nodes, one line each, for display.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.opstack.conductor.plugins.module_utils import _cluster_view as view
from ansible_collections.opstack.conductor.plugins.module_utils import _conductor_rpc as rpc
from ansible_collections.opstack.conductor.plugins.module_utils import _runner as runner
from ansible_collections.opstack.conductor.plugins.module_utils import _servers as servers


def report(module, conductors, _partial):
    params = module.params
    expected = None
    if params["expected_servers"] is not None:
        expected = servers.server_dicts(params["expected_servers"], "expected_servers")
    result = view.cluster_report(conductors, params["nodes"], params, expected)
    if params["fail_on_disagreement"] and not result["cluster"]["agree"]:
        raise rpc.Failure("the cluster does not agree: %s" % "; ".join(result["cluster"]["disagreements"]), **result)
    return result


def main():
    spec = rpc.rpc_argument_spec()
    spec.update(
        expected_servers=servers.server_list_spec(),
        fail_on_disagreement=dict(type="bool", default=False),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    runner.run(module, rpc.live_work(report))


if __name__ == "__main__":
    main()
