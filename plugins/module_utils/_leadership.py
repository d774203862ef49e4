# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# PRIVATE to this collection: may change at any time; do not use from other collections.
"""Moving Raft leadership to a chosen voter (conductor_leader), as a small explicit state machine.

The states, each a method returning the next state (or the result)::

    observe ──> plan ──> transfer ──> settle ──> (done)
                 │          ▲            │
                 │          └────────────┘  the old or another leader still leads: send again
                 └──> (done: already the leader, or check mode)
                                   transfer (attempts used up) / settle (no leader) ──> give_up (fail)

A transfer request that errors with a timeout is not trusted either way: op-conductor may still complete it
(optimism PR #22925), so ``settle`` polls the nodes until they agree on a leader. Success is only ever the target
leading with every (reachable, without ``require_all``) member naming it.
"""

from __future__ import annotations

import enum

from ansible_collections.opstack.conductor.plugins.module_utils import _cluster_view as view
from ansible_collections.opstack.conductor.plugins.module_utils import _conductor_rpc as rpc

#: Polls in a row that see the same stall before the wait gives up on it (a node can miss one poll).
STALL_POLLS = 3


class Stall(enum.Enum):
    """Why waiting for an agreed leader stopped early (truthy, so :func:`_conductor_rpc.poll` ends on it)."""

    TARGET_GONE = "the target (or, with require_all, any node) stopped answering"
    PARTIAL = "the target leads, but a node that stopped answering cannot agree"


class LeaderMover:
    """Make ``params["leader"]`` the leader every node agrees on.

    ``params``: the module's options (leader, timeout, poll_interval, attempts, require_all, require_healthy);
    ``warn`` reports a warning; ``clock`` (:data:`_conductor_rpc.CLOCK`) is what every wait uses. Refusals raise
    :class:`_conductor_rpc.Failure` with the transfers sent, the last cluster view and the elapsed time.
    """

    def __init__(self, conductors, params, check_mode=False, warn=None, clock=rpc.CLOCK):
        self.params = params
        self.target = params["leader"]
        self.conductors = conductors
        self.check_mode = check_mode
        self.warn = warn or (lambda text: None)
        self.clock = clock
        self.started = clock.monotonic()
        self.deadline = self.started + params["timeout"]
        self.transfers = []
        self.view = None
        self.target_down = 0
        self.partial = 0
        # filled in by the states
        self.current = None
        self.previous = None
        self.plan = None
        self.diff = None
        self.attempt = 0

    # --- observing --------------------------------------------------------------------------------------

    def remaining(self):
        return max(0.0, self.deadline - self.clock.monotonic())

    def elapsed(self):
        return round(self.clock.monotonic() - self.started, 2)

    def observe(self, members=True):
        statuses = rpc.gather(self.conductors, members=members)
        self.view = view.cluster_view(statuses)
        return statuses, self.view

    def _count_down(self, statuses, want):
        """Whether the node(s) that must answer have stopped answering for STALL_POLLS polls in a row."""
        down = [s for s in statuses if not s.get("reachable")]
        if want is not None:
            must_answer_down = not [s for s in statuses if s["id"] == want and s.get("reachable")]
        else:
            must_answer_down = bool(self.params["require_all"] and down)
        self.target_down = self.target_down + 1 if must_answer_down else 0
        return self.target_down >= STALL_POLLS

    def _count_partial(self, statuses, want, leader):
        """Whether ``want`` has led, agreed by every reachable node but not by all, for STALL_POLLS polls."""
        if want is None or leader is not None or not self.params["require_all"]:
            return False
        if view.settled_leader(statuses, require_all=False) == want:
            self.partial += 1
            return self.partial >= STALL_POLLS
        self.partial = 0
        return False

    def settled(self, want=None):
        """The agreed leader id (only ``want`` if given), a :class:`Stall`, or None (not settled yet)."""
        statuses, _view = self.observe()
        if self._count_down(statuses, want):
            return Stall.TARGET_GONE
        leader = view.settled_leader(statuses, self.params["require_all"])
        if self._count_partial(statuses, want, leader):
            return Stall.PARTIAL
        if leader is None or (want is not None and leader != want):
            return None
        return leader

    def wait_settled(self, want=None, limit=None):
        timeout = self.remaining() if limit is None else min(limit, self.remaining())
        value, _elapsed = rpc.poll(lambda: self.settled(want), timeout, self.params["poll_interval"],
                                   clock=self.clock.monotonic, sleep=self.clock.sleep)
        return value

    def fail(self, msg, **extra):
        raise rpc.Failure(msg, transfers=self.transfers, cluster=self.view, elapsed=self.elapsed(), **extra)

    def result(self, changed, leader, transfers, cluster):
        return dict(changed=changed, leader=leader, previous_leader=self.previous, plan=self.plan,
                    transfers=transfers, cluster=cluster, diff=self.diff, elapsed=self.elapsed())

    # --- the states -------------------------------------------------------------------------------------

    def run(self):
        state = self.state_observe
        for _transition in range(4 + 2 * self.params["attempts"]):  # observe, plan, 2 per attempt, give_up
            state = state()
            if isinstance(state, dict):
                return state
        raise AssertionError("conductor_leader: the state machine did not finish")  # pragma: no cover

    def _refuse_unsafe_start(self, statuses, cluster):
        if cluster["unreachable"]:
            down = [s for s in statuses if not s.get("reachable")]
            text = "unreachable: %s" % "; ".join("%s (%s)" % (s["id"], s.get("error")) for s in down)
            if self.params["require_all"]:
                self.fail("cannot ensure the leader while nodes are %s" % text)
            self.warn(text)
        missing = [m for s in statuses for m in s.get("missing", []) if "leaderWithID" in m or "transferLeader" in m]
        if missing:
            self.fail(missing[0])
        if cluster["leader_overridden"]:
            self.fail("leader override is set on %s; clear it (conductor_control override_leader=false) first"
                      % ", ".join(cluster["leader_overridden"]))

    def state_observe(self):
        """Refuse what cannot be done safely, then wait for a leader every node agrees on."""
        if self.target not in self.conductors:
            self.fail("leader %s is not one of nodes (%s)" % (self.target, ", ".join(self.conductors)))
        self._refuse_unsafe_start(*self.observe())
        self.current = self.wait_settled()
        if self.current == Stall.TARGET_GONE:
            self.fail("cannot ensure the leader while nodes are unreachable: %s" % ", ".join(self.view["unreachable"]))
        if self.current is None:
            self.fail("no leader that every node agrees on within %ss (%s)" % (
                self.params["timeout"], "; ".join(self.view["disagreements"]) or "no node claims leadership"))
        return self.state_plan

    def _target_voter(self, statuses, cluster):
        """The target's membership entry; fails unless it is a voter and a majority of the voters answer."""
        membership = cluster["membership"] or {"servers": []}
        voters = dict((s["id"], s) for s in membership["servers"] if s["suffrage"] == rpc.VOTER)
        if self.target not in voters:
            self.fail("%s is not a voter of the cluster (members: %s)" % (self.target, ", ".join(
                "%s(%s)" % (s["id"], s["suffrage"]) for s in membership["servers"]) or "none"),
                previous_leader=self.previous)
        reachable = set(s["id"] for s in statuses if s.get("reachable"))
        live_voters = [i for i in voters if i in reachable]
        if len(live_voters) < view.quorum(len(voters)):
            self.fail("only %d of %d voters answer (%s); a majority is needed" % (
                len(live_voters), len(voters), ", ".join(live_voters) or "none"), previous_leader=self.previous)
        return voters[self.target]

    def _require_healthy_target(self):
        try:
            healthy = self.conductors[self.target].sequencer_healthy()
        except rpc.ConductorError as exc:
            self.fail("cannot read the health of %s: %s" % (self.target, exc.message), plan=self.plan)
        if not healthy:
            self.fail("%s reports its sequencer unhealthy; refusing to make it leader (require_healthy=false "
                      "overrides)" % self.target, plan=self.plan, previous_leader=self.previous)

    def state_plan(self):
        """Check the target can lead; done when it already does (or in check mode), else transfer."""
        statuses, cluster = self.observe()
        self.previous = dict(cluster["leader"] or {"id": self.current, "address": None})
        target = self._target_voter(statuses, cluster)
        if self.current == self.target:
            self.diff = dict(before=dict(leader=self.current), after=dict(leader=self.current))
            return self.result(False, self.previous, [], cluster)
        self.plan = {"from": self.current, "to": self.target, "address": target["address"]}
        self.diff = dict(before=dict(leader=self.current), after=dict(leader=self.target))
        if self.params["require_healthy"]:
            self._require_healthy_target()
        if self.check_mode:
            return self.result(True, self.previous, [], cluster)
        return self.state_transfer

    def state_transfer(self):
        """Ask the current leader to hand over (a timeout is reported and polled, never trusted)."""
        if self.attempt >= self.params["attempts"] or self.remaining() <= 0:
            return self.state_give_up
        self.attempt += 1
        record = dict(attempt=self.attempt, sent_to=self.current, target=self.target, address=self.plan["address"])
        try:
            self.conductors[self.current].transfer_leader_to(self.target, self.plan["address"])
            record["outcome"] = "accepted"
        except rpc.MethodMissing as exc:
            self.fail(exc.message, plan=self.plan)
        except rpc.ConductorError as exc:
            record["outcome"] = "error: %s" % exc.message
            if rpc.is_transfer_maybe(exc):
                self.warn("transfer request to %s reported '%s'; polling %s anyway"
                          % (self.current, exc.message, self.target))
        self.transfers.append(record)
        return self.state_settle

    def _fail_stalled(self, stall):
        if stall == Stall.TARGET_GONE:
            self.fail("%s stopped answering during the leadership transfer (%s)" % (
                self.target, "; ".join(self.view["disagreements"]) or "unreachable"), plan=self.plan,
                previous_leader=self.previous)
        self.fail("%s now leads and every reachable node agrees, but %s stopped answering, so not every node "
                  "agrees (require_all)" % (self.target, ", ".join(self.view["unreachable"])), plan=self.plan,
                  previous_leader=self.previous, leader=self.view["leader"])

    def state_settle(self):
        """Wait for the target to lead and everybody to agree; else find who leads now and send again."""
        per_attempt = max(5.0, self.remaining() / max(1, self.params["attempts"] - self.attempt + 1))
        done = self.wait_settled(want=self.target, limit=per_attempt)
        if isinstance(done, Stall):
            self._fail_stalled(done)
        if done != self.target:
            settled = self.wait_settled(limit=min(10.0, self.remaining()))
            if settled is None or settled == Stall.TARGET_GONE:
                return self.state_give_up
            self.current = settled
            if self.current != self.target:
                return self.state_transfer
        _statuses, cluster = self.observe()
        return self.result(True, cluster["leader"], self.transfers, cluster)

    def state_give_up(self):
        self.observe()
        leader = self.view["leader"]["id"] if self.view["leader"] else "none agreed"
        self.fail("%s did not become the leader every node agrees on within %ss (leader now: %s; %s)"
                  % (self.target, self.params["timeout"], leader,
                     "; ".join(self.view["disagreements"]) or "no disagreement"),
                  plan=self.plan, previous_leader=self.previous)
