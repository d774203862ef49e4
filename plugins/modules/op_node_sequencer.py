#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: op_node_sequencer
short_description: Start or stop the sequencer of one op-node through its admin API
version_added: 0.1.0
description:
  - Ensures the sequencer of one op-node is active or not, with op-node's admin API (C(admin_sequencerActive),
    C(admin_startSequencer), C(admin_stopSequencer)); C(changed=false) when it already is.
  - This is the manual first start of a fresh op-conductor cluster - the Raft state holds no unsafe head yet, so
    the leader's conductor cannot start its sequencer by itself. Start it on the leader while every conductor is
    paused; op-node then commits each new block to the conductor, and the conductors can be resumed.
  - Starting takes the block hash op-node must start from; by default the unsafe head from C(optimism_syncStatus).
  - With O(conductor_url), starting refuses unless that op-conductor is the Raft leader, and, with O(nodes),
    unless no other node's sequencer is active (never two sequencers at once).
author:
  - opstack.conductor developers (@opstack)
options:
  node_rpc_url:
    description: The op-node RPC URL, with the admin API enabled.
    type: str
    required: true
  state:
    description: V(active) to start the sequencer, V(stopped) to stop it.
    type: str
    choices: [active, stopped]
    required: true
  block_hash:
    description: The unsafe head to start from; by default op-node's current unsafe head.
    type: str
  conductor_url:
    description: The op-conductor RPC URL of the same node; starting requires that it leads.
    type: str
  nodes:
    description:
      - The other nodes of the cluster; starting refuses while any of their op-nodes (O(nodes[].node_rpc_url))
        reports an active sequencer.
    type: list
    elements: dict
    default: []
    suboptions:
      id:
        description: The node's server ID.
        type: str
        required: true
      url:
        description: The node's op-conductor RPC URL (not used here; accepted so the same list fits every module).
        type: str
      node_rpc_url:
        description: The node's op-node RPC URL.
        type: str
extends_documentation_fragment:
  - opstack.conductor.conductor_rpc.CONNECTION
  - opstack.conductor._attributes
  - opstack.conductor._attributes.IDEMPOTENT
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - The diff shows whether the sequencer is active before and after.
seealso:
  - module: opstack.conductor.conductor_control
  - module: opstack.conductor.conductor_info
"""

EXAMPLES = r"""
- name: Start sequencing on the leader (first start of a cluster; conductors paused)
  opstack.conductor.op_node_sequencer:
    node_rpc_url: "http://10.0.0.1:9545"
    conductor_url: "http://10.0.0.1:8547"
    nodes: "{{ conductor_nodes }}"
    state: active
  run_once: true
  delegate_to: localhost
"""

RETURN = r"""
active:
  description: Whether the sequencer is active at the end (planned, in check mode).
  returned: always
  type: bool
was_active:
  description: Whether it was active before.
  returned: always
  type: bool
block_hash:
  description: The hash the sequencer was started from, or the head it stopped at.
  returned: when changed
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.opstack.conductor.plugins.module_utils import _conductor_rpc as rpc
from ansible_collections.opstack.conductor.plugins.module_utils import _runner as runner


def ensure(module, _conductors, partial):
    p = module.params
    args = rpc.endpoint_args(p)
    node = rpc.OpNode(p["node_rpc_url"], **args)
    want = p["state"] == "active"
    was = node.sequencer_active()
    partial.update(active=was, was_active=was)
    diff = dict(before=dict(active=was), after=dict(active=want))
    if was == want:
        return dict(changed=False, active=was, was_active=was, diff=dict(before=diff["before"], after=diff["before"]))
    result = dict(changed=True, active=want, was_active=was, diff=diff)
    if want:
        if p["conductor_url"]:
            if not rpc.Conductor("self", p["conductor_url"], **args).leader():
                raise rpc.Failure("refusing to start the sequencer: the op-conductor at %s is not the leader"
                                  % p["conductor_url"], **partial)
        others = [n for n in p["nodes"] if n.get("node_rpc_url") and n["node_rpc_url"] != p["node_rpc_url"]]
        busy = []
        for n in others:
            if rpc.OpNode(n["node_rpc_url"], **args).sequencer_active():
                busy.append(n["id"])
        if busy:
            raise rpc.Failure("refusing to start a second sequencer: already active on %s" % ", ".join(busy),
                              **partial)
        block_hash = p["block_hash"] or node.unsafe_head()["hash"]
        result["block_hash"] = block_hash
        if module.check_mode:
            return result
        node.start_sequencer(block_hash)
    else:
        if module.check_mode:
            return result
        result["block_hash"] = node.stop_sequencer()
    now = node.sequencer_active()
    if now != want:
        result["active"] = now
        raise rpc.Failure("op-node still reports sequencer active=%s" % now, **result)
    return result


def main():
    spec = rpc.connection_argument_spec()
    spec.update(
        node_rpc_url=dict(type="str", required=True),
        state=dict(type="str", choices=["active", "stopped"], required=True),
        block_hash=dict(type="str"),
        conductor_url=dict(type="str"),
        nodes=dict(type="list", elements="dict", default=[], options=dict(
            id=dict(type="str", required=True),
            url=dict(type="str"),
            node_rpc_url=dict(type="str"),
        )),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    runner.run(module, rpc.live_work(ensure, cluster=False))


if __name__ == "__main__":
    main()
