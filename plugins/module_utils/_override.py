# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# PRIVATE to this collection: may change at any time; do not use from other collections.
"""Break-glass sequencing (conductor_override): op-conductor's RUNBOOK "Disaster recovery" steps 1-5, and the way
back.

``present`` (break glass)::

    observe -> pause every conductor, prove all paused -> override the chosen node (op-node's admin_overrideLeader,
    then its conductor's conductor_overrideLeader) -> stop the active sequencer (admin_stopSequencer, its hash kept)
    -> wait for the chosen op-node to hold that head -> admin_startSequencer(hash) on it -> verify

The start needs the override first: op-node's Sequencer.Start asks its conductor (or its own override) whether it
leads (op-node v1.19.0 op-node/rollup/sequencing/sequencer.go). op-node's override is an in-memory flag that no RPC
reads or clears (op-node/node/conductor.go): the conductor's override is set after it, so the conductor's override
marks a node whose op-node is (or was, until a restart) overridden. Every step reads admin_sequencerActive on every
op-node and fails when more than one sequencer is active.

``absent`` (the way back) runs in two stages around an op-node restart the role does through its hooks:

* ``release``: refused unless the conductors without an override agree on a Raft leader; pause all (proven), stop
  the break-glass sequencer; returns the nodes whose op-node must restart (their conductors' overrides stay set).
* ``restore``: clear the conductor overrides, wait for the Raft leader every node agrees on, start its sequencer at
  its op-node's unsafe head (its blocks are committed to Raft from then on, so the Raft head catches up before the
  conductors act), resume every conductor (the leader last), verify one leader and one active sequencer.

A refusal before the first change changes nothing. When not every conductor can be proven paused, the pauses this
run made are undone (those conductors were running before) and the run fails.
"""

from __future__ import annotations

from ansible_collections.opstack.conductor.plugins.module_utils import _cluster_view as view
from ansible_collections.opstack.conductor.plugins.module_utils import _conductor_rpc as rpc


def _ids(ids):
    return ", ".join(ids) or "none"


def active_ids(states):
    """The nodes whose op-node reports an active sequencer, in node order."""
    return [i for i, s in states.items() if s["sequencer_active"]]


def highest_head(states):
    """The node whose op-node holds the highest unsafe head; a tie goes to the active sequencer, then node order."""
    def rank(item):
        index, (node_id, state) = item
        return (state["unsafe_head"].get("number") or 0, state["sequencer_active"], -index)
    return max(enumerate(states.items()), key=rank)[1][0]


def agreed_leader(states, ignore_overridden=False):
    """The Raft leader every node names (conductor_leaderWithID), or None; an overridden conductor names
    "N/A (Leader overridden)", so ``ignore_overridden`` leaves those nodes out of the vote."""
    named = set((s.get("leader_with_id") or {}).get("id") or "" for s in states.values()
                if not (ignore_overridden and s.get("leader_overridden")))
    if len(named) != 1:
        return None
    leader = named.pop()
    return leader if leader and not leader.startswith("N/A") else None


def make_op_nodes(nodes, params):
    """{id: OpNode} for every node; a node without node_rpc_url is refused (every op-node must be checked)."""
    missing = [n["id"] for n in nodes if not n.get("node_rpc_url")]
    if missing:
        raise rpc.Failure("nodes[].node_rpc_url is required for break-glass sequencing (every op-node is checked "
                          "for an active sequencer); missing on %s" % _ids(missing))
    args = rpc.endpoint_args(params)
    return dict((n["id"], rpc.OpNode(n["node_rpc_url"], **args)) for n in nodes)


class BreakGlass:
    """One conductor_override run. ``params``: the module's options (state, stage, leader, timeout,
    poll_interval); ``partial``: the module's partial result (steps so far, so a failure reports them)."""

    def __init__(self, conductors, op_nodes, params, partial=None, check_mode=False, warn=None, clock=rpc.CLOCK):
        self.conductors = conductors
        self.op_nodes = op_nodes
        self.params = params
        self.check_mode = check_mode
        self.warn = warn or (lambda text: None)
        self.clock = clock
        self.partial = {} if partial is None else partial
        self.partial.update(changed=False, steps=[])
        self.steps = self.partial["steps"]

    # --- reading ----------------------------------------------------------------------------------------

    def fail(self, msg, **extra):
        raise rpc.Failure(msg, changed=self.partial["changed"], steps=self.steps, **extra)

    def _read_op_node(self, node_id, state, problems):
        try:
            state["sequencer_active"] = self.op_nodes[node_id].sequencer_active()
            state["unsafe_head"] = self.op_nodes[node_id].unsafe_head()
        except rpc.ConductorError as exc:
            problems.append("%s: op-node: %s" % (node_id, exc.message))

    def observe(self):
        """{id: conductor status + sequencer_active + unsafe_head}; fails naming every node that cannot be read."""
        states, problems = {}, []
        for status in rpc.gather(self.conductors):
            node_id = status["id"]
            if not status["reachable"] or status.get("error") or status.get("missing"):
                problems.append("%s: conductor: %s" % (node_id, status.get("error") or "; ".join(status["missing"])))
                continue
            states[node_id] = status
            self._read_op_node(node_id, status, problems)
        if problems:
            self.fail("cannot read every node, so no step can be proven safe (%s)%s" % (
                "; ".join(problems), "" if self.partial["changed"] else "; nothing was changed"))
        return states

    def sequencers(self, step):
        """admin_sequencerActive on every op-node after ``step``: fails when more than one is active."""
        active = []
        for node_id, op_node in self.op_nodes.items():
            try:
                if op_node.sequencer_active():
                    active.append(node_id)
            except rpc.ConductorError as exc:
                self.fail("after %s, cannot read the sequencer of %s: %s" % (step, node_id, exc.message))
        if len(active) > 1:
            self.fail("after %s, more than one sequencer is active: %s" % (step, _ids(active)))
        return active

    def record(self, step, nodes, **extra):
        """A step that changed something, with the active sequencers every op-node reports after it."""
        self.partial["changed"] = True
        self.steps.append(dict(step=step, nodes=list(nodes), active=self.sequencers(step), **extra))

    # --- pausing and resuming ---------------------------------------------------------------------------

    def _not_paused(self, want=True):
        """Every node that does not report conductor_paused == ``want`` (or cannot be read), as text."""
        found = []
        for node_id, conductor in self.conductors.items():
            try:
                if conductor.paused() != want:
                    found.append("%s reports conductor_paused=%s" % (node_id, not want))
            except rpc.ConductorError as exc:
                found.append("%s: %s" % (node_id, exc.message))
        return found

    def _undo_pauses(self, paused_now):
        failed = []
        for node_id in paused_now:
            try:
                self.conductors[node_id].resume()
            except rpc.ConductorError as exc:
                failed.append("%s (%s)" % (node_id, exc.message))
        undone = "the conductors this run paused were resumed again: %s" % _ids(paused_now)
        return undone + ("; could NOT resume %s" % "; ".join(failed) if failed else "")

    def pause_all(self, states):
        """Pause every conductor that is not, and prove every one paused; otherwise undo this run's pauses, fail."""
        paused_now, problems = [], []
        for node_id in [i for i, s in states.items() if not s["paused"]]:
            try:
                self.conductors[node_id].pause()
            except rpc.ConductorError as exc:
                problems.append("conductor_pause on %s failed: %s" % (node_id, exc.message))
                break
            paused_now.append(node_id)
        problems = problems or self._not_paused()
        if problems:
            undone = self._undo_pauses(paused_now) if paused_now else "no conductor was paused by this run"
            self.fail("refused: not every conductor is proven paused (%s); %s; no sequencer was stopped or started"
                      % ("; ".join(problems), undone))
        if paused_now:
            self.record("pause", paused_now)

    def resume_all(self, leader):
        """Resume every conductor, followers first and the leader last, and prove none is paused."""
        order = [i for i in self.conductors if i != leader] + [leader]
        resumed = []
        for node_id in order:
            try:
                if self.conductors[node_id].paused():
                    self.conductors[node_id].resume()
                    resumed.append(node_id)
            except rpc.ConductorError as exc:
                self.fail("conductor_resume on %s failed: %s (resumed so far: %s)"
                          % (node_id, exc.message, _ids(resumed)))
        still = self._not_paused(want=False)
        if still:
            self.fail("after conductor_resume, %s" % "; ".join(still))
        if resumed:
            self.record("resume", resumed)

    # --- sequencers -------------------------------------------------------------------------------------

    def stop(self, node_id):
        """admin_stopSequencer on ``node_id``; returns the hash it stopped at (the next sequencer starts there)."""
        try:
            block_hash = self.op_nodes[node_id].stop_sequencer()
        except rpc.ConductorError as exc:
            self.fail("admin_stopSequencer on %s failed: %s" % (node_id, exc.message))
        self.record("stop_sequencer", [node_id], block_hash=block_hash)
        if node_id in self.steps[-1]["active"]:
            self.fail("%s still reports its sequencer active after admin_stopSequencer" % node_id)
        return block_hash

    def _head_is(self, node_id, block_hash):
        try:
            return self.op_nodes[node_id].unsafe_head()["hash"] == block_hash
        except rpc.ConductorError:
            return False

    def start(self, node_id, block_hash):
        """Wait until ``node_id``'s op-node holds ``block_hash`` as its unsafe head, then admin_startSequencer."""
        found, _elapsed = rpc.poll(lambda: self._head_is(node_id, block_hash), self.params["timeout"],
                                   self.params["poll_interval"], clock=self.clock.monotonic, sleep=self.clock.sleep)
        if not found:
            self.fail("the op-node of %s did not reach the head %s within %ss, so no sequencer was started (none is "
                      "active now)" % (node_id, block_hash, self.params["timeout"]))
        try:
            self.op_nodes[node_id].start_sequencer(block_hash)
        except rpc.ConductorError as exc:
            self.fail("admin_startSequencer(%s) on %s failed: %s (no sequencer is active now)"
                      % (block_hash, node_id, exc.message))
        self.record("start_sequencer", [node_id], block_hash=block_hash)
        if self.steps[-1]["active"] != [node_id]:
            self.fail("after admin_startSequencer on %s, the active sequencers are: %s"
                      % (node_id, _ids(self.steps[-1]["active"])))

    def hand_over(self, states, target):
        """Make ``target`` the one active sequencer: stop the active one (its hash kept) and start the target there;
        with none active, at the highest unsafe head any op-node holds (a lower start would drop those blocks)."""
        active = active_ids(states)
        if active == [target]:
            return
        block_hash = self.stop(active[0]) if active else states[highest_head(states)]["unsafe_head"]["hash"]
        self.start(target, block_hash)

    # --- overrides --------------------------------------------------------------------------------------

    def set_override(self, target, states):
        """op-node's override first, then the conductor's (the conductor's marks the op-node's as set)."""
        try:
            self.op_nodes[target].override_leader()
        except rpc.ConductorError as exc:
            self.fail("admin_overrideLeader on the op-node of %s failed: %s" % (target, exc.message))
        if states[target]["leader_overridden"]:
            return  # re-sent: op-node's override cannot be read, and a restart clears it; not a change
        self._conductor_override(target, True)

    def _conductor_override(self, node_id, value):
        try:
            self.conductors[node_id].override_leader(value)
            now = self.conductors[node_id].leader_overridden()
        except rpc.ConductorError as exc:
            self.fail("conductor_overrideLeader(%s) on %s failed: %s" % (str(value).lower(), node_id, exc.message))
        if now != value:
            self.fail("%s reports conductor_leaderOverridden=%s after conductor_overrideLeader(%s)"
                      % (node_id, str(now).lower(), str(value).lower()))
        self.record("override" if value else "clear_override", [node_id])

    # --- break glass (state=present) --------------------------------------------------------------------

    def choose(self, states):
        """(target, why): the ``leader`` option, else the op-node with the highest unsafe head."""
        wanted = self.params.get("leader")
        if wanted:
            if wanted not in states:
                self.fail("leader %s is not one of nodes (%s); nothing was changed" % (wanted, _ids(states)))
            return wanted, "the leader option"
        return highest_head(states), "the highest unsafe head"

    def _refuse_present(self, states, target):
        active = active_ids(states)
        if len(active) > 1:
            self.fail("more than one sequencer is active (%s); stop the wrong one by hand (admin_stopSequencer) "
                      "first; nothing was changed" % _ids(active))
        elsewhere = [i for i, s in states.items() if s["leader_overridden"] and i != target]
        if elsewhere:
            self.fail("the leader override is set on %s, not on the chosen %s; go back first (state=absent: its "
                      "op-node needs a restart) or choose %s; nothing was changed" % (
                          _ids(elsewhere), target, elsewhere[0]))

    def plan_present(self, states, target):
        """The steps still needed, as text (empty when the break-glass state already holds)."""
        plan = ["pause %s" % i for i, s in states.items() if not s["paused"]]
        if not states[target]["leader_overridden"]:
            plan.append("override the leader on %s (op-node, then conductor)" % target)
        active = active_ids(states)
        if active != [target]:
            plan.extend(["stop the sequencer of %s" % i for i in active])
            plan.append("start the sequencer of %s at %s" % (target, "the stopped head" if active else
                                                             states[highest_head(states)]["unsafe_head"]["hash"]))
        return plan

    def present(self):
        states = self.observe()
        target, why = self.choose(states)
        self._refuse_present(states, target)
        self.partial.update(leader=target, chosen_by=why, plan=self.plan_present(states, target))
        if self.check_mode or not self.partial["plan"]:
            if not self.check_mode:
                self.set_override(target, states)  # re-sent: a restarted op-node lost it
            return self.result(states, changed=bool(self.partial["plan"]))
        self.pause_all(states)
        self.set_override(target, states)
        self.hand_over(states, target)
        final = self.observe()
        problems = self.present_problems(final, target)
        if problems:
            self.fail("the break-glass state does not hold at the end: %s" % "; ".join(problems))
        return self.result(final, changed=True)

    @staticmethod
    def present_problems(states, target):
        problems = ["%s is not paused" % i for i, s in states.items() if not s["paused"]]
        problems.extend("%s has the leader override" % i for i, s in states.items()
                        if s["leader_overridden"] != (i == target))
        if active_ids(states) != [target]:
            problems.append("active sequencers: %s, want %s" % (_ids(active_ids(states)), target))
        return problems

    # --- the way back (state=absent) --------------------------------------------------------------------

    def release(self):
        """Stage 1: pause all, stop the break-glass sequencer; ``restart`` lists the op-nodes to restart."""
        states = self.observe()
        overridden = [i for i, s in states.items() if s["leader_overridden"]]
        self.partial.update(restart=overridden, plan=[])
        if not overridden:
            return self.result(states, changed=False)
        self._refuse_release(states, overridden)
        plan = ["pause %s" % i for i, s in states.items() if not s["paused"]]
        plan.extend("stop the sequencer of %s" % i for i in active_ids(states))
        self.partial["plan"] = plan + ["restart the op-node of %s" % i for i in overridden]
        if self.check_mode:
            return self.result(states, changed=True)
        self.pause_all(states)
        for node_id in active_ids(states):
            self.stop(node_id)
        return self.result(self.observe(), changed=self.partial["changed"])

    def _refuse_release(self, states, overridden):
        active = active_ids(states)
        if len(active) > 1:
            self.fail("more than one sequencer is active (%s); nothing was changed" % _ids(active))
        others = dict((i, s) for i, s in states.items() if i not in overridden)
        if others and agreed_leader(others) is None:
            self.fail("the conductors without the override (%s) do not agree on a Raft leader, so the cluster could "
                      "not take over; nothing was changed and the break-glass sequencer keeps running (bring the "
                      "cluster back first, e.g. opstack.conductor.recover)" % _ids(others))

    def is_back(self, states):
        leader = agreed_leader(states)
        return (leader is not None and active_ids(states) == [leader]
                and not any(s["paused"] or s["leader_overridden"] for s in states.values()))

    def restore(self):
        """Stage 2 (after the op-node restarts): clear the overrides, sequence on the Raft leader, resume all."""
        states = self.observe()
        back = self.is_back(states)
        self.partial["plan"] = [] if back else ["clear the conductor overrides on %s" % _ids(
            [i for i, s in states.items() if s["leader_overridden"]]), "start the Raft leader's sequencer",
            "resume every conductor"]
        if back or self.check_mode:
            self.partial["leader"] = agreed_leader(states, ignore_overridden=True)
            return self.result(states, changed=not back)
        self.pause_all(states)
        for node_id in [i for i, s in states.items() if s["leader_overridden"]]:
            self._conductor_override(node_id, False)
        leader = self.partial["leader"] = self.wait_leader()
        self.hand_over(self.observe(), leader)
        self.resume_all(leader)
        return self.result(self.wait_back(), changed=True)

    def _poll(self, probe):
        value, _elapsed = rpc.poll(probe, self.params["timeout"], self.params["poll_interval"],
                                   clock=self.clock.monotonic, sleep=self.clock.sleep)
        return value

    def wait_leader(self):
        leader = self._poll(lambda: view.settled_leader(rpc.gather(self.conductors)))
        if leader is None:
            self.fail("no Raft leader every conductor agrees on within %ss after the overrides were cleared; the "
                      "conductors stay paused and no sequencer is active" % self.params["timeout"])
        return leader

    def wait_back(self):
        seen = []

        def back():
            seen[:] = [self.observe()]
            return self.is_back(seen[0])
        if not self._poll(back):
            states = seen[0]
            self.fail("not back to one leader with one active sequencer within %ss (leader %s, active %s, paused "
                      "%s)" % (self.params["timeout"], agreed_leader(states), _ids(active_ids(states)),
                               _ids([i for i, s in states.items() if s["paused"]])))
        return seen[0]

    # --- the result -------------------------------------------------------------------------------------

    def result(self, states, changed):
        nodes = dict((i, dict(paused=s["paused"], leader_overridden=s["leader_overridden"],
                              sequencer_active=s["sequencer_active"], unsafe_head=s["unsafe_head"],
                              leader_seen=(s.get("leader_with_id") or {}).get("id")))
                     for i, s in states.items())
        self.partial.update(changed=changed, nodes=nodes, active=active_ids(states))
        return dict(self.partial, diff=dict(before="", after="".join("%s\n" % p for p in self.partial["plan"])))

    def run(self):
        if self.params["state"] == "present":
            return self.present()
        return self.release() if self.params["stage"] == "release" else self.restore()
