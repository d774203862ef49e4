# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# PRIVATE to this collection: may change at any time; do not use from other collections.
"""The live gates of a rolling restart (conductor_roll; issue 17 item 2, the docs' "post-conductor launch
deployments"): is the cluster whole and healthy, may this node be stopped, has a restarted node caught up, does
the canary leader hold.

The role sequences (followers one at a time, then the canary transfer, the old leader last) and runs the service
hooks and the backup on each host; every decision is here:

* :func:`cluster_problems` judges one :class:`Observation` of every node (conductor RPC, op-node sequencer state and
  unsafe head): ``hard`` problems (a node not answering or not a member, no agreed leader, two sequencers) are never
  forced past once nodes are being stopped, because stopping one more node could lose the quorum; ``soft`` ones
  (unhealthy, paused, lagging, no sequencer) are what ``force`` overrides when the roll starts.
* :class:`Roll` runs one step: ``check`` (the plan and the refusal of a degraded cluster), ``stop_gate`` (right
  before a node is stopped), ``rejoin`` (wait until a restarted node is a member, healthy and within ``max_lag``
  blocks of the leader's unsafe head, then resume it) and ``canary`` (leadership to an upgraded node through
  :class:`_leadership.LeaderMover`, a hold of ``grace`` seconds, and the way back when it does not hold).

Every wait is bounded in time and in polls, on the clock the caller passes (:data:`_conductor_rpc.CLOCK`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional

from ansible_collections.opstack.conductor.plugins.module_utils import _cluster_view as view
from ansible_collections.opstack.conductor.plugins.module_utils import _conductor_rpc as rpc
from ansible_collections.opstack.conductor.plugins.module_utils._leadership import LeaderMover


@dataclass
class Observation:
    """One look at every node: conductor statuses, the cluster view, each op-node's sequencer flag and unsafe head
    number (None where it could not be read; ``errors`` says why)."""

    statuses: List[dict]
    view: dict
    sequencers: Dict[str, Optional[bool]]
    heads: Dict[str, Optional[int]]
    errors: Dict[str, str] = field(default_factory=dict)

    def status(self, node_id):
        return next((s for s in self.statuses if s["id"] == node_id), {"id": node_id, "reachable": False})

    def leader(self):
        """The leader every reachable member names (a node that stopped answering cannot veto it), or None."""
        return view.settled_leader(self.statuses, require_all=False)

    def member_ids(self):
        membership = self.view.get("membership") or {"servers": []}
        return [s["id"] for s in membership["servers"]]

    def lag(self, node_id):
        """Blocks ``node_id``'s unsafe head is behind the leader's (negative: ahead), or None when unknown."""
        leader = self.leader()
        if leader is None or self.heads.get(leader) is None or self.heads.get(node_id) is None:
            return None
        return self.heads[leader] - self.heads[node_id]


def read_heads(nodes, params):
    """({id: op-node unsafe head number}, {id: error}) for the nodes with a node_rpc_url."""
    args = rpc.endpoint_args(params)
    heads, errors = {}, {}
    for node in nodes:
        heads[node["id"]] = None
        if not node.get("node_rpc_url"):
            continue
        try:
            heads[node["id"]] = rpc.OpNode(node["node_rpc_url"], **args).unsafe_head()["number"]
        except rpc.ConductorError as exc:
            errors[node["id"]] = exc.message
    return heads, errors


def observe(conductors, nodes, params):
    statuses = rpc.gather(conductors)
    sequencers, errors = rpc.sequencer_states(nodes, params)
    heads, head_errors = read_heads(nodes, params)
    for node_id, text in head_errors.items():
        errors.setdefault(node_id, text)
    return Observation(statuses, view.cluster_view(statuses), sequencers, heads, errors)


def _reach_problems(obs, expected, ignore):
    """Members that do not answer, or that the leader's configuration lacks (hard: stopping one more node may cost
    the quorum)."""
    found = []
    members = obs.member_ids()
    for node_id in expected:
        if node_id in ignore:
            continue
        status = obs.status(node_id)
        if not status.get("reachable"):
            found.append("%s does not answer (%s)" % (node_id, status.get("error") or "unreachable"))
        elif members and node_id not in members:
            found.append("%s is not a member of the leader's configuration" % node_id)
    return found


def _leader_problems(obs):
    leader = obs.leader()
    found = []
    if leader is None:
        found.append("no leader that every reachable node agrees on (%s)" % (
            "; ".join(obs.view["disagreements"]) or "no node claims leadership"))
    if obs.view["leader_overridden"]:
        found.append("the leader override is set on %s" % ", ".join(obs.view["leader_overridden"]))
    active = sorted(i for i, on in obs.sequencers.items() if on)
    if len(active) > 1:
        found.append("more than one sequencer is active: %s" % ", ".join(active))
    return found


def _soft_problems(obs, expected, ignore, max_lag):
    """Unhealthy, paused or stopped conductors, nodes behind the leader, no active sequencer: the cluster runs, but
    a roll should start only from a clean state unless forced."""
    found = []
    for node_id in expected:
        status = obs.status(node_id)
        if node_id in ignore or not status.get("reachable"):
            continue
        flags = [name for name, bad in (("unhealthy", status.get("sequencer_healthy") is False),
                                        ("paused", status.get("paused")), ("stopped", status.get("stopped")))
                 if bad]
        lag = obs.lag(node_id)
        if lag is not None and lag > max_lag:
            flags.append("%d blocks behind the leader (max_lag %d)" % (lag, max_lag))
        if flags:
            found.append("%s is %s" % (node_id, ", ".join(flags)))
    known = [on for on in obs.sequencers.values() if on is not None]
    if known and not any(known):
        found.append("no op-node sequencer is active")
    return found


def cluster_problems(obs, expected, max_lag, ignore=()):
    """(hard, soft) problems of the cluster ``expected`` (member ids) in one observation; ``ignore``: the node the
    roll is working on, whose absence is expected."""
    hard = _reach_problems(obs, expected, ignore) + _leader_problems(obs)
    return hard, _soft_problems(obs, expected, ignore, max_lag)


def roll_plan(leader, member_ids, roll_ids, canary=None):
    """The order (followers first in inventory order, the leader last) and the canary: the node leadership moves to
    before the leader restarts (``canary`` if given, else the first follower restarted by this roll, else the first
    other member). Only nodes of ``roll_ids`` restart; no canary when the leader does not."""
    followers = [i for i in member_ids if i in roll_ids and i != leader]
    order = followers + ([leader] if leader in roll_ids else [])
    if leader not in roll_ids:
        return dict(leader=leader, order=order, canary=None)
    others = [i for i in member_ids if i != leader]
    choice = canary or next(iter(followers), None) or next(iter(others), None)
    return dict(leader=leader, order=order, canary=choice)


def table(obs):
    """The cluster table of conductor_info plus each op-node's unsafe head, for the role to print."""
    for status in obs.statuses:
        status["sequencer_active"] = obs.sequencers.get(status["id"])
    lines = view.status_table(obs.statuses, obs.view)
    return lines[:1] + ["%s head=%s" % (line, obs.heads.get(status["id"]))
                        for line, status in zip(lines[1:], obs.statuses)] + lines[len(obs.statuses) + 1:]


class Roll:
    """One step of the roll. ``params``: the module's options; ``warn`` reports a warning; ``clock`` is what
    every wait reads and sleeps on. Refusals raise :class:`_conductor_rpc.Failure` with the observation."""

    def __init__(self, conductors, params, check_mode=False, warn=None, clock=rpc.CLOCK):
        self.params = params
        self.members = params["members"] or [n["id"] for n in params["nodes"]]
        self.conductors = conductors
        self.obs = None  # the last observation, reported with every result and refusal
        self.check_mode = check_mode
        self.warn = warn or (lambda text: None)
        self.clock = clock
        self.started = clock.monotonic()

    def elapsed(self):
        return round(self.clock.monotonic() - self.started, 2)

    def look(self):
        self.obs = observe(self.conductors, self.params["nodes"], self.params)
        return self.obs

    def report(self, **extra):
        obs = self.obs
        out = dict(leader=obs.leader() if obs else None, table=table(obs) if obs else [], elapsed=self.elapsed(),
                   sequencers_active=sorted(i for i, on in (obs.sequencers if obs else {}).items() if on))
        out.update(extra)
        return out

    def fail(self, msg, **extra):
        raise rpc.Failure(msg, **self.report(**extra))

    def wait(self, probe, timeout):
        """poll ``probe`` (truthy ends the wait) on this step's clock; bounded by ``timeout`` and by polls."""
        value, _elapsed = rpc.poll(probe, timeout, self.params["poll_interval"], clock=self.clock.monotonic,
                                   sleep=self.clock.sleep)
        return value

    def _require_node(self):
        node = self.params["node"]
        if node not in self.conductors:
            self.fail("node %s is not one of nodes (%s)" % (node, ", ".join(self.conductors)))
        return node

    # --- check: the plan, and the refusal of a degraded cluster ---------------------------------------------

    def step_check(self):
        obs = self.look()
        hard, soft = cluster_problems(obs, self.members, self.params["max_lag"])
        unknown = [i for i in self.params["roll"] if i not in self.members]
        if unknown:
            self.fail("roll names %s, which %s not among the members (%s)" % (
                ", ".join(unknown), "is" if len(unknown) == 1 else "are", ", ".join(self.members)))
        plan = roll_plan(obs.leader(), self.members, self.params["roll"], self.params["canary"])
        if plan["canary"] is not None and plan["canary"] not in self.members:
            self.fail("canary %s is not a member (%s)" % (plan["canary"], ", ".join(self.members)), plan=plan)
        if (hard or soft) and not self.params["force"]:
            self.fail("the cluster is degraded, so the roll does not start (nothing was stopped; force=true starts "
                      "it anyway, one node at a time): %s" % "; ".join(hard + soft), problems=hard + soft, plan=plan)
        for text in hard + soft:
            self.warn("forced past: %s" % text)
        return self.report(changed=False, plan=plan, problems=hard + soft)

    # --- stop_gate: right before a node is stopped ---------------------------------------------------------

    def step_stop_gate(self):
        """Never more than one node down: every other member answers and is a member, one leader that is not this
        node, at most one sequencer. The soft problems only stop the roll without force."""
        node = self._require_node()
        obs = self.look()
        hard, soft = cluster_problems(obs, self.members, self.params["max_lag"], ignore=(node,))
        if not obs.status(node).get("reachable"):
            # it was up when the roll started (the plan checked): something else took it down; look first
            soft.append("%s itself does not answer: it went down outside the roll (force=true restarts it)" % node)
        if obs.leader() == node and not (self.check_mode and self.params["canary"]):
            # in check mode the canary step only planned its transfer: the node still leads, as the plan says
            hard.append("%s leads; leadership moves to the canary first" % node)
        problems = hard + ([] if self.params["force"] else soft)
        if problems:
            self.fail("not stopping %s, so that no second node goes down and nothing is stopped on a degraded "
                      "cluster: %s" % (node, "; ".join(problems)), problems=problems)
        for text in soft:
            self.warn("forced past: %s" % text)
        return self.report(changed=False, problems=hard + soft)

    # --- rejoin: a restarted node is a member, healthy and caught up, then resumed ------------------------------

    def rejoin_problem(self, node):
        """Why ``node`` has not rejoined yet (None: it has): it answers, it is a member (in the leader's
        configuration and in its own), a leader is agreed, its sequencer is healthy, its op-node's unsafe head is at
        most ``max_lag`` blocks behind the leader's."""
        obs = self.look()
        status = obs.status(node)
        lag = obs.lag(node)
        checks = [
            (not status.get("reachable"), "it does not answer (%s)" % status.get("error")),
            (node not in obs.member_ids() or not view.is_member(status), "it is not a member of the cluster yet"),
            (obs.leader() is None, "no leader that every reachable node agrees on"),
            (status.get("sequencer_healthy") is not True, "its conductor reports the sequencer unhealthy"),
            (lag is None, "its unsafe head or the leader's cannot be read (%s)" % ("; ".join(
                "%s: %s" % kv for kv in sorted(obs.errors.items())) or "no leader")),
            (lag is not None and lag > self.params["max_lag"],
             "its unsafe head is %s blocks behind the leader's (max_lag %d)" % (lag, self.params["max_lag"])),
        ]
        return next((text for bad, text in checks if bad), None)

    def _keep_paused(self, node):
        """A restarted node must come back paused (it may not start a sequencer before it caught up): if the
        service started it unpaused, pause it now and say so."""
        try:
            paused = self.conductors[node].paused()
        except rpc.ConductorError:
            return False  # not up yet: the wait below reports it
        if not paused and not self.check_mode:
            self.warn("%s came back unpaused: its service does not start op-conductor with --paused; paused it "
                      "until it has caught up" % node)
            self.conductors[node].pause()
        return True

    def step_rejoin(self):
        node = self._require_node()
        self.wait(lambda: self._keep_paused(node), self.params["timeout"])
        why = []

        def rejoined():
            why[:] = [self.rejoin_problem(node)]
            return why[0] is None

        if not self.wait(rejoined, self.params["timeout"]):
            self.fail("%s did not rejoin within %ss, so the roll stops here with it paused: %s" % (
                node, self.params["timeout"], why[0] if why else "not observed"), node=node)
        paused = self.obs.status(node).get("paused")
        if paused and not self.check_mode:
            self.conductors[node].resume()
            if self.conductors[node].paused():
                self.fail("%s still reports paused after conductor_resume" % node, node=node)
        return self.report(changed=bool(paused), node=node, lag=self.obs.lag(node), resumed=bool(paused))

    # --- canary: leadership to an upgraded node, held for the grace period, or given back ---------------------

    def move(self, target, require_healthy=True):
        """conductor_leader's state machine (the one implementation of a transfer), with this step's clock."""
        options = dict(leader=target, timeout=self.params["transfer_timeout"], attempts=3, require_all=True,
                       poll_interval=self.params["poll_interval"], require_healthy=require_healthy)
        return LeaderMover(self.conductors, options, check_mode=self.check_mode, warn=self.warn,
                           clock=self.clock).run()

    def hold_problem(self, target):
        """Why ``target`` does not hold (None: it does): it leads, agreed by every reachable node, its conductor
        reports the sequencer healthy, and no op-node but its own sequences."""
        obs = self.look()
        leader = obs.leader()
        others = sorted(i for i, on in obs.sequencers.items() if on and i != target)
        checks = [
            (leader != target, "it no longer leads (leader now: %s)" % (leader or "none agreed")),
            (obs.status(target).get("sequencer_healthy") is not True, "its conductor reports the sequencer unhealthy"),
            (bool(others), "another op-node sequences: %s" % ", ".join(others)),
        ]
        return next((text for bad, text in checks if bad), None)

    def hold(self, target):
        """Watch ``target`` for ``grace`` seconds (each poll must pass :meth:`hold_problem`); at the end its own
        op-node must sequence. Returns the first problem seen, or None."""
        grace, interval = self.params["grace"], self.params["poll_interval"]
        end = self.clock.monotonic() + grace
        for _poll in range(int(grace / interval) + 2):
            problem = self.hold_problem(target)
            if problem is not None:
                return problem
            if self.clock.monotonic() >= end:
                break
            self.clock.sleep(min(interval, max(0.0, end - self.clock.monotonic())))
        if self.obs.sequencers.get(target) is False:
            return "its op-node does not sequence at the end of the grace period"
        return None

    def _canary_start(self):
        target = self.params["canary"]
        if target not in self.conductors:
            self.fail("canary %s is not one of nodes (%s)" % (target, ", ".join(self.conductors)))
        obs = self.look()
        hard, _soft = cluster_problems(obs, self.members, self.params["max_lag"])
        if hard:
            self.fail("not moving leadership to the canary %s on a degraded cluster: %s" % (target, "; ".join(hard)),
                      problems=hard)
        return target, self.params["previous_leader"] or obs.leader()

    def step_canary(self):
        target, previous = self._canary_start()
        moved = self.move(target)
        if self.check_mode:
            return self.report(changed=moved["changed"], canary=target, previous_leader=previous, verdict=None,
                               transfer=moved)
        problem = self.hold(target)
        if problem is None:
            return self.report(changed=moved["changed"], canary=target, previous_leader=previous, verdict="held",
                               transfer=moved)
        try:
            back = self.move(previous)
            went_back = "leadership went back to %s" % back["leader"]["id"]
        except rpc.Failure as exc:
            back, went_back = exc.result, "moving leadership back to %s failed too: %s" % (previous, exc)
        self.fail("the canary %s did not hold leadership for the grace period of %ss: %s; %s. The roll stops: %s is "
                  "not restarted." % (target, self.params["grace"], problem, went_back, previous),
                  changed=True, canary=target, previous_leader=previous, verdict=problem, transfer=moved,
                  transfer_back=back)

    def run(self):
        return getattr(self, "step_" + self.params["step"])()
