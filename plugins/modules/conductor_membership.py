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

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.opstack.conductor.plugins.module_utils import _conductor_rpc as rpc
from ansible_collections.opstack.conductor.plugins.module_utils import _module_common as common


def server_key(servers):
    return sorted((s["id"], s["address"], s["suffrage"]) for s in servers)


def diff_text(servers):
    return "".join("%s %s %s\n" % (s["id"], s["address"], s["suffrage"]) for s in sorted(servers, key=lambda x: x["id"]))


class Reconciler(object):
    def __init__(self, module, conductors):
        self.module = module
        self.p = module.params
        self.conductors = conductors
        self.desired = rpc.servers_from_params(self.p["servers"])
        self.started = time.monotonic()
        self.applied = []
        self.plan = []
        self.before = None

    def fail(self, msg, **extra):
        extra.setdefault("plan", self.plan)
        extra.setdefault("applied", self.applied)
        extra.setdefault("before", self.before)
        raise rpc.Failure(msg, elapsed=round(time.monotonic() - self.started, 2), **extra)

    def settled_leader(self):
        statuses = rpc.gather(self.conductors)
        return rpc.settled_leader(statuses, require_all=False), statuses

    def wait_leader(self, want=None):
        found = {}

        def probe():
            leader, statuses = self.settled_leader()
            found["statuses"] = statuses
            return leader if leader and (want is None or leader == want) else None

        leader, _elapsed = rpc.poll(probe, self.p["timeout"], self.p["poll_interval"])
        return leader, found.get("statuses", [])

    def leader_membership(self, leader):
        try:
            return self.conductors[leader].membership()
        except rpc.ConductorError as exc:
            self.fail("cannot read the membership from the leader %s: %s" % (leader, exc.message))

    def simulate(self, current, leader, live):
        """The full plan with transfers inserted, checked step by step; fails on the first unsafe step."""
        steps = rpc.plan_membership(current, self.desired, leader)
        out = []
        servers = current
        desired_voters = [s["id"] for s in self.desired if s["suffrage"] == rpc.VOTER]
        for step in steps:
            if step["id"] == leader and step["op"] in ("remove", "demote"):
                if not self.p["transfer_leadership"]:
                    self.fail("refusing to %s %s: it is the current leader; transfer leadership first "
                              "(opstack.conductor.conductor_leader) or set transfer_leadership=true"
                              % ("remove" if step["op"] == "remove" else "demote", leader),
                              plan=out + [step])
                candidates = [self.p["preferred_leader"]] if self.p["preferred_leader"] else desired_voters
                member_voters = [s["id"] for s in servers if s["suffrage"] == rpc.VOTER]
                target = next((c for c in candidates if c != leader and c in member_voters and c in live), None)
                if target is None:
                    self.fail("refusing to %s the leader %s: no other voter of servers is up to take over%s"
                              % (step["op"], leader, (" (preferred_leader %s is not an up voter)"
                                                      % self.p["preferred_leader"]) if self.p["preferred_leader"]
                                 else ""), plan=out + [step])
                address = next(s["address"] for s in servers if s["id"] == target)
                verb = "removed" if step["op"] == "remove" else "demoted"
                out.append(dict(op="transfer_leader", id=target, address=address,
                                reason="%s is the leader and is to be %s" % (leader, verb)))
                leader = target
            problem = rpc.check_step(servers, step, live, leader)
            if problem:
                self.fail("refusing the membership change: %s" % problem, plan=out + [step])
            out.append(step)
            servers = rpc.apply_step(servers, step)
        return out, servers

    def wait_members(self, want_servers, leader, exclude):
        want = server_key(want_servers)

        def probe():
            for sid, c in self.conductors.items():
                if sid in exclude:
                    continue
                try:
                    got = c.membership()
                except rpc.Unreachable:
                    if sid == leader:
                        return False
                    continue
                except rpc.ConductorError:
                    return False
                if server_key(got["servers"]) != want and (sid == leader or sid in [s["id"] for s in want_servers]):
                    return False
            return True

        ok, elapsed = rpc.poll(probe, self.p["timeout"], self.p["poll_interval"])
        return ok, elapsed

    def run(self):
        if self.p["preferred_leader"] and self.p["preferred_leader"] not in [s["id"] for s in self.desired]:
            self.fail("preferred_leader %s is not in servers" % self.p["preferred_leader"])
        ids = [s["id"] for s in self.desired]
        dup = sorted(set(i for i in ids if ids.count(i) > 1))
        if dup:
            self.fail("servers lists these ids more than once: %s" % ", ".join(dup))
        addrs = [s["address"] for s in self.desired]
        dup = sorted(set(a for a in addrs if addrs.count(a) > 1))
        if dup:
            self.fail("servers lists these addresses more than once: %s" % ", ".join(dup))
        if not any(s["suffrage"] == rpc.VOTER for s in self.desired):
            self.fail("servers must contain at least one voter")
        leader, statuses = self.wait_leader()
        if leader is None:
            self.fail("no leader that every reachable node agrees on within %ss (%s)" % (
                self.p["timeout"], "; ".join("%s: %s" % (s["id"], s.get("error") or "leader=%s" % (
                    (s.get("leader_with_id") or {}).get("id") or "none")) for s in statuses)))
        live = set(s["id"] for s in statuses if s.get("reachable"))
        self.before = self.leader_membership(leader)
        current = self.before["servers"]
        self.plan, planned_after = self.simulate(current, leader, live)
        after = dict(servers=planned_after, version=None)
        diff = dict(before=diff_text(current), after=diff_text(planned_after))
        if not self.plan:
            return dict(changed=False, plan=[], applied=[], before=self.before, after=self.before,
                        leader=leader, diff=diff)
        if self.module.check_mode:
            return dict(changed=True, plan=self.plan, applied=[], before=self.before, after=after,
                        leader=leader, diff=diff)
        expected = current
        for step in self.plan:
            t0 = time.monotonic()
            if step["op"] == "transfer_leader":
                self.transfer(leader, step)
                leader, _st = self.wait_leader(want=step["id"])
                if leader != step["id"]:
                    self.fail("leadership did not move to %s within %ss; nothing removed" % (step["id"],
                                                                                             self.p["timeout"]))
                self.applied.append(dict(step, seconds=round(time.monotonic() - t0, 2)))
                continue
            leader, _st = self.wait_leader()
            if leader is None:
                self.fail("lost the leader before %s %s" % (step["op"], step["id"]))
            now = self.leader_membership(leader)
            if server_key(now["servers"]) != server_key(expected):
                self.fail("the membership changed while this module worked (now: %s; expected: %s); nothing more "
                          "was changed" % (diff_text(now["servers"]).strip().replace("\n", ", "),
                                           diff_text(expected).strip().replace("\n", ", ")), now=now)
            version = now["version"] if now["version"] is not None else 0
            c = self.conductors[leader]
            try:
                if step["op"] == "add_voter":
                    c.add_voter(step["id"], step["address"], version)
                elif step["op"] == "add_nonvoter":
                    c.add_nonvoter(step["id"], step["address"], version)
                elif step["op"] == "demote":
                    try:
                        c.demote_voter(step["id"], version)
                    except rpc.MethodMissing as exc:
                        self.fail("%s; demote %s by removing it and adding it back as a non-voter in two runs"
                                  % (exc.message, step["id"]))
                elif step["op"] == "remove":
                    c.remove_server(step["id"], version)
            except rpc.ConductorError as exc:
                self.fail("%s %s failed on the leader %s: %s" % (step["op"], step["id"], leader, exc.message),
                          failed_step=step)
            expected = rpc.apply_step(expected, step)
            exclude = set([step["id"]]) if step["op"] == "remove" else set()
            ok, _elapsed = self.wait_members(expected, leader, exclude)
            if not ok:
                self.fail("%s %s was sent but not every node reports it within %ss"
                          % (step["op"], step["id"], self.p["timeout"]), failed_step=step)
            self.applied.append(dict(step, version=version, leader=leader, seconds=round(time.monotonic() - t0, 2)))
        leader, _st = self.wait_leader()
        final = self.leader_membership(leader) if leader else dict(servers=expected, version=None)
        return dict(changed=True, plan=self.plan, applied=self.applied, before=self.before, after=final,
                    leader=leader, diff=diff, elapsed=round(time.monotonic() - self.started, 2))

    def transfer(self, leader, step):
        try:
            self.conductors[leader].transfer_leader_to(step["id"], step["address"])
        except rpc.MethodMissing as exc:
            self.fail(exc.message)
        except rpc.ConductorError as exc:
            if not rpc.is_transfer_maybe(exc):
                self.fail("transferring leadership from %s to %s failed: %s" % (leader, step["id"], exc.message))
            self.module.warn("transfer to %s reported '%s'; polling anyway" % (step["id"], exc.message))


def ensure(module, conductors, _partial):
    return Reconciler(module, conductors).run()


def main():
    spec = rpc.rpc_argument_spec()
    spec.update(
        servers=common.server_list_spec(required=True),
        transfer_leadership=dict(type="bool", default=False),
        preferred_leader=dict(type="str"),
        timeout=dict(type="float", default=60),
        poll_interval=dict(type="float", default=0.5),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    module.exit_json(**rpc.run_module(module, ensure, positive=("timeout", "poll_interval")))


if __name__ == "__main__":
    main()
