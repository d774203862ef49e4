# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The nodes of a live cluster; shared by the conductor_* modules (after CONNECTION below, which they also use).
    DOCUMENTATION = r"""
options:
  nodes:
    description:
      - The op-conductor nodes of the cluster and their RPC endpoints, usually one per inventory host.
      - The module talks to every node from where it runs (typically the controller, with C(run_once)), so
        every O(nodes[].url) must be reachable from there.
    type: list
    elements: dict
    required: true
    suboptions:
      id:
        description: The node's Raft server ID (C(--raft.server.id)).
        type: str
        required: true
      url:
        description: The node's op-conductor RPC URL (C(--rpc.addr)/C(--rpc.port)), for example V(http://10.0.0.1:8547).
        type: str
        required: true
      node_rpc_url:
        description:
          - The node's op-node RPC URL, with the admin API enabled. Used to read (and, where a module says so,
            change) whether its sequencer is active.
        type: str
notes:
  - op-conductor built with hashicorp/raft v1.7 always reports membership C(version) V(0)
    (C(raft.GetConfiguration) does not fill the index), which makes every membership change unconditional.
    The modules therefore re-read the membership from the leader right before each change and refuse to go on
    when it is not what they planned from.
"""

    # How to reach an RPC endpoint (op-conductor's or op-node's); shared by every module that makes RPC calls.
    CONNECTION = r"""
options:
  request_timeout:
    description: Seconds each single RPC request may take.
    type: float
    default: 10
  validate_certs:
    description: Verify TLS certificates of V(https) endpoints.
    type: bool
    default: true
  ca_path:
    description: A CA bundle for V(https) endpoints.
    type: path
  client_cert:
    description: A client certificate (PEM) for V(https) endpoints that require one.
    type: path
  client_key:
    description: The key of O(client_cert).
    type: path
  headers:
    description: Extra HTTP headers for every request, for example an authorization header of a proxy.
    type: dict
notes:
  - JSON-RPC errors come back with HTTP status 200 and an C(error) member; the module fails with the server's
    message. A method the server does not have (C(-32601)) fails naming what it lacks (the op-conductor feature
    and the version that added it, or op-node's admin API).
"""
