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

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.opstack.conductor.plugins.module_utils import _conductor_rpc as rpc


GONE = "<target unreachable>"
PARTIAL = "<target leads, a node does not answer>"


class LeaderMover(object):
    def __init__(self, module, conductors):
        self.module = module
        p = module.params
        self.params = p
        self.target = p["leader"]
        self.conductors = conductors
        self.deadline = time.monotonic() + p["timeout"]
        self.started = time.monotonic()
        self.warnings = []
        self.transfers = []
        self.view = None
        self.target_down = 0
        self.partial = 0

    def warn(self, text):
        self.warnings.append(text)
        self.module.warn(text)

    def remaining(self):
        return max(0.0, self.deadline - time.monotonic())

    def observe(self, members=True):
        statuses = rpc.gather(self.conductors, members=members)
        self.view = rpc.cluster_view(statuses)
        return statuses, self.view

    def settled(self, want=None):
        """The agreed leader id (and ``want`` if given), tolerating unreachable nodes when require_all=false."""
        statuses, _view = self.observe()
        if want is not None and not [s for s in statuses if s["id"] == want and s.get("reachable")]:
            self.target_down += 1
            if self.target_down >= 3:  # the target stopped answering: do not wait for it any longer
                return GONE
        elif want is None and self.params["require_all"] and [s for s in statuses if not s.get("reachable")]:
            self.target_down += 1
            if self.target_down >= 3:  # require_all: a node that stopped answering cannot agree
                return GONE
        else:
            self.target_down = 0
        leader = rpc.settled_leader(statuses, self.params["require_all"])
        if want is not None and leader is None and self.params["require_all"]:
            if rpc.settled_leader(statuses, require_all=False) == want:
                self.partial += 1
                if self.partial >= 3:  # the target leads; a node that stopped answering cannot agree any more
                    return PARTIAL
            else:
                self.partial = 0
        if leader is None or (want is not None and leader != want):
            return None
        return leader

    def wait_settled(self, want=None, limit=None):
        timeout = self.remaining() if limit is None else min(limit, self.remaining())
        value, _elapsed = rpc.poll(lambda: self.settled(want), timeout, self.params["poll_interval"])
        return value

    def fail(self, msg, **extra):
        raise rpc.Failure(msg, transfers=self.transfers, cluster=self.view,
                          elapsed=round(time.monotonic() - self.started, 2), **extra)

    def run(self):
        p = self.params
        if self.target not in self.conductors:
            self.fail("leader %s is not one of nodes (%s)" % (self.target, ", ".join(self.conductors)))
        statuses, view = self.observe()
        if view["unreachable"]:
            down = [s for s in statuses if not s.get("reachable")]
            text = "unreachable: %s" % "; ".join("%s (%s)" % (s["id"], s.get("error")) for s in down)
            if p["require_all"]:
                self.fail("cannot ensure the leader while nodes are %s" % text)
            self.warn(text)
        missing = [m for s in statuses for m in s.get("missing", []) if "leaderWithID" in m or "transferLeader" in m]
        if missing:
            self.fail(missing[0])
        if view["leader_overridden"]:
            self.fail("leader override is set on %s; clear it (conductor_control override_leader=false) first"
                      % ", ".join(view["leader_overridden"]))
        current = self.wait_settled()
        if current == GONE:
            self.fail("cannot ensure the leader while nodes are unreachable: %s" % ", ".join(self.view["unreachable"]))
        if current is None:
            self.fail("no leader that every node agrees on within %ss (%s)" % (
                p["timeout"], "; ".join(self.view["disagreements"]) or "no node claims leadership"))
        _statuses, view = self.observe()
        previous = dict(view["leader"] or {"id": current, "address": None})
        membership = view["membership"] or {"servers": []}
        voters = dict((s["id"], s) for s in membership["servers"] if s["suffrage"] == rpc.VOTER)
        if self.target not in voters:
            self.fail("%s is not a voter of the cluster (members: %s)" % (self.target, ", ".join(
                "%s(%s)" % (s["id"], s["suffrage"]) for s in membership["servers"]) or "none"),
                previous_leader=previous)
        reachable = set(s["id"] for s in statuses if s.get("reachable"))
        live_voters = [i for i in voters if i in reachable]
        if len(live_voters) < rpc.quorum(len(voters)):
            self.fail("only %d of %d voters answer (%s); a majority is needed" % (
                len(live_voters), len(voters), ", ".join(live_voters) or "none"), previous_leader=previous)
        if current == self.target:
            return dict(changed=False, leader=previous, previous_leader=previous, plan=None,
                        transfers=[], cluster=view, elapsed=round(time.monotonic() - self.started, 2),
                        diff=dict(before=dict(leader=current), after=dict(leader=current)))
        target_addr = voters[self.target]["address"]
        plan = {"from": current, "to": self.target, "address": target_addr}
        diff = dict(before=dict(leader=current), after=dict(leader=self.target))
        if p["require_healthy"]:
            try:
                healthy = self.conductors[self.target].sequencer_healthy()
            except rpc.ConductorError as exc:
                self.fail("cannot read the health of %s: %s" % (self.target, exc.message), plan=plan)
            if not healthy:
                self.fail("%s reports its sequencer unhealthy; refusing to make it leader (require_healthy=false "
                          "overrides)" % self.target, plan=plan, previous_leader=previous)
        if self.module.check_mode:
            return dict(changed=True, plan=plan, previous_leader=previous, leader=previous,
                        transfers=[], cluster=view, diff=diff,
                        elapsed=round(time.monotonic() - self.started, 2))
        for attempt in range(1, p["attempts"] + 1):
            if self.remaining() <= 0:
                break
            record = dict(attempt=attempt, sent_to=current, target=self.target, address=target_addr)
            try:
                self.conductors[current].transfer_leader_to(self.target, target_addr)
                record["outcome"] = "accepted"
            except rpc.MethodMissing as exc:
                self.fail(exc.message, plan=plan)
            except rpc.ConductorError as exc:
                record["outcome"] = "error: %s" % exc.message
                if rpc.is_transfer_maybe(exc):
                    self.warn("transfer request to %s reported '%s'; polling %s anyway"
                              % (current, exc.message, self.target))
            self.transfers.append(record)
            # Wait for the target to lead and everybody to agree.
            per_attempt = max(5.0, self.remaining() / max(1, p["attempts"] - attempt + 1))
            done = self.wait_settled(want=self.target, limit=per_attempt)
            if done == GONE:
                self.fail("%s stopped answering during the leadership transfer (%s)" % (
                    self.target, "; ".join(self.view["disagreements"]) or "unreachable"), plan=plan,
                    previous_leader=previous)
            if done == PARTIAL:
                self.fail("%s now leads and every reachable node agrees, but %s stopped answering, so not every node "
                          "agrees (require_all)" % (self.target, ", ".join(self.view["unreachable"])), plan=plan,
                          previous_leader=previous, leader=self.view["leader"])
            if done == self.target:
                _s, view = self.observe()
                return dict(changed=True, leader=view["leader"], previous_leader=previous, plan=plan,
                            transfers=self.transfers, cluster=view,
                            diff=diff, elapsed=round(time.monotonic() - self.started, 2))
            settled = self.wait_settled(limit=min(10.0, self.remaining()))
            if settled is None or settled == GONE:
                break
            current = settled
            if current == self.target:
                _s, view = self.observe()
                return dict(changed=True, leader=view["leader"], previous_leader=previous, plan=plan,
                            transfers=self.transfers, cluster=view,
                            diff=diff, elapsed=round(time.monotonic() - self.started, 2))
        self.observe()
        leader = self.view["leader"]["id"] if self.view["leader"] else "none agreed"
        self.fail("%s did not become the leader every node agrees on within %ss (leader now: %s; %s)"
                  % (self.target, p["timeout"], leader, "; ".join(self.view["disagreements"]) or "no disagreement"),
                  plan=plan, previous_leader=previous)


def ensure(module, conductors, _partial):
    return LeaderMover(module, conductors).run()


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
    module.exit_json(**rpc.run_module(module, ensure, positive=("attempts", "timeout", "poll_interval")))


if __name__ == "__main__":
    main()
