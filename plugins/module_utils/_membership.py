# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# PRIVATE to this collection: may change at any time; do not use from other collections.
"""Changing a live cluster's membership one Raft configuration change at a time (conductor_membership).

:func:`plan_membership`, :func:`apply_step` and :func:`check_step` are pure; :class:`Reconciler` runs a plan
against the nodes: it waits for a leader every reachable node agrees on, checks every step for quorum before the
first is sent, moves leadership off a leader that is to be removed or demoted (only with ``transfer_leadership``),
re-reads the membership before each step (another operator's change stops the run) and passes the membership
version with each change, so op-conductor itself refuses a change made against a stale configuration.
"""

from __future__ import annotations

from ansible_collections.opstack.conductor.plugins.module_utils import _cluster_view as view
from ansible_collections.opstack.conductor.plugins.module_utils import _conductor_rpc as rpc
from ansible_collections.opstack.conductor.plugins.module_utils import _servers as servers
from ansible_collections.opstack.conductor.plugins.module_utils._cluster_view import quorum
from ansible_collections.opstack.conductor.plugins.module_utils._servers import NONVOTER, VOTER


def _suffrage_steps(have, want, can_demote):
    """The steps that make the voter ``have`` the non-voter ``want``.

    Never addServerAsNonvoter on a voter: hashicorp/raft's AddNonvoter only updates an existing voter's address and
    leaves it a voter. It is demoted (conductor_demoteVoter) and then moved if its address changes; where the leader
    lacks conductor_demoteVoter it is removed and added back as a non-voter.
    """
    if can_demote:
        first = dict(op="demote", id=want["id"], address=have["address"], reason="is a voter")
    else:
        first = dict(op="remove", id=want["id"], address=have["address"],
                     reason="is a voter and the leader has no conductor_demoteVoter: removed, then added back")
    if can_demote and have["address"] == want["address"]:
        return [first]
    return [first, dict(op="add_nonvoter", id=want["id"], address=want["address"],
                        reason="to be a non-voter at %s" % want["address"])]


def _change_steps(have, want, can_demote=True):
    """The steps that give the member ``have`` the address and suffrage of ``want`` (none when they match)."""
    if have["suffrage"] == want["suffrage"] and have["address"] == want["address"]:
        return []
    if want["suffrage"] == VOTER:
        return [dict(op="add_voter", id=want["id"], address=want["address"],
                     reason="is %s at %s" % (have["suffrage"], have["address"]))]
    if have["suffrage"] == VOTER:
        return _suffrage_steps(have, want, can_demote)
    return [dict(op="add_nonvoter", id=want["id"], address=want["address"],
                 reason="is %s at %s" % (have["suffrage"], have["address"]))]


def plan_membership(current, desired, leader_id, can_demote=True):
    """The steps that turn ``current`` servers into ``desired``, one Raft configuration change each.

    Order: additions first (the cluster only grows while members are missing), then address and suffrage
    changes, then removals; the steps of a member whose first step removes or demotes the leader go last, in their
    order. ``can_demote``: the leader has conductor_demoteVoter. Returns a list of dicts with ``op`` in
    add_voter / add_nonvoter / demote / remove, plus ``id``, ``address`` and ``reason``.
    """
    have = dict((s["id"], s) for s in current)
    want = dict((s["id"], s) for s in desired)
    adds = [[dict(op="add_voter" if s["suffrage"] == VOTER else "add_nonvoter", id=s["id"], address=s["address"],
                  reason="not a member")] for s in desired if s["id"] not in have]
    changes = [steps for steps in (_change_steps(have[s["id"]], s, can_demote) for s in desired if s["id"] in have)
               if steps]
    removes = [[dict(op="remove", id=s["id"], address=s["address"], reason="not in the desired list")]
               for s in current if s["id"] not in want]
    groups = adds + changes + removes
    groups.sort(key=lambda steps: steps[0]["id"] == leader_id and steps[0]["op"] in ("remove", "demote"))
    return [step for steps in groups for step in steps]


def apply_step(servers, step):
    """The server list after ``step`` (as Raft applies it)."""
    out = [dict(s) for s in servers]
    ids = [s["id"] for s in out]
    if step["op"] in ("add_voter", "add_nonvoter"):
        suffrage = VOTER if step["op"] == "add_voter" else NONVOTER
        if step["id"] in ids:
            i = ids.index(step["id"])
            if step["op"] == "add_nonvoter" and out[i]["suffrage"] == VOTER:
                suffrage = VOTER  # hashicorp/raft: AddNonvoter leaves an existing voter a voter
            out[i].update(address=step["address"], suffrage=suffrage)
        else:
            out.append(dict(id=step["id"], address=step["address"], suffrage=suffrage))
    elif step["op"] == "demote":
        out[ids.index(step["id"])]["suffrage"] = NONVOTER
    elif step["op"] == "remove":
        out = [s for s in out if s["id"] != step["id"]]
    return out


def check_step(servers, step, live, leader_id):
    """Why ``step`` would be unsafe now (a string), or None.

    ``live``: ids of voters known to be up (they answered RPC). A change must leave a voting majority of the new
    configuration up; the leader is never removed or demoted by a step (transfer leadership first).
    """
    after = apply_step(servers, step)
    voters_after = [s["id"] for s in after if s["suffrage"] == VOTER]
    if step["id"] == leader_id and step["op"] in ("remove", "demote"):
        return ("%s is the current leader: transfer leadership to another voter before %s it"
                % (step["id"], "removing" if step["op"] == "remove" else "demoting"))
    if not voters_after:
        return "%s would leave the cluster without voters" % step["op"]
    live_after = [i for i in voters_after if i in live]
    if len(live_after) < quorum(len(voters_after)):
        return ("%s %s would lose quorum: %d of the %d voters after the change are known to be up (%s), "
                "a majority needs %d" % (step["op"], step["id"], len(live_after), len(voters_after),
                                         ", ".join(live_after) or "none", quorum(len(voters_after))))
    return None


def has_demote_voter(conductor):
    """Whether ``conductor`` has conductor_demoteVoter, asked without changing anything: called with no arguments,
    go-ethereum's RPC server answers -32602 (missing value for required argument 0) before calling the method when
    it exists, and -32601 (method not found) when it does not."""
    try:
        conductor.call("conductor_demoteVoter")
    except rpc.MethodMissing:
        return False
    except rpc.RPCError:
        return True
    return True


def server_key(servers):
    return sorted((s["id"], s["address"], s["suffrage"]) for s in servers)


def diff_text(servers):
    return "".join("%s %s %s\n" % (s["id"], s["address"], s["suffrage"])
                   for s in sorted(servers, key=lambda x: x["id"]))


class Reconciler:
    """conductor_membership's work: make the cluster's membership ``params["servers"]``.

    ``params``: the module's options (servers, transfer_leadership, preferred_leader, timeout, poll_interval);
    ``warn`` reports a warning; ``clock`` (:data:`_conductor_rpc.CLOCK`) is what every wait uses. Refusals raise
    :class:`_conductor_rpc.Failure` with the plan, the steps applied so far and the membership found.
    """

    def __init__(self, conductors, params, check_mode=False, warn=None, clock=rpc.CLOCK):
        self.conductors = conductors
        self.params = params
        self.check_mode = check_mode
        self.warn = warn or (lambda text: None)
        self.clock = clock
        self.desired = servers.server_dicts(params["servers"])  # refuses a bad list before any RPC
        self.started = clock.monotonic()
        self.applied = []
        self.plan = []
        self.before = None
        self.unversioned_warned = False

    def elapsed(self):
        return round(self.clock.monotonic() - self.started, 2)

    def fail(self, msg, **extra):
        extra.setdefault("plan", self.plan)
        extra.setdefault("applied", self.applied)
        extra.setdefault("before", self.before)
        raise rpc.Failure(msg, elapsed=self.elapsed(), **extra)

    def poll(self, probe):
        return rpc.poll(probe, self.params["timeout"], self.params["poll_interval"], clock=self.clock.monotonic,
                        sleep=self.clock.sleep)

    def wait_leader(self, want=None):
        """(the leader every reachable node agrees on, or None within the timeout; the last statuses seen)."""
        found = {}

        def probe():
            statuses = rpc.gather(self.conductors)
            leader = view.settled_leader(statuses, require_all=False)
            found["statuses"] = statuses
            return leader if leader and (want is None or leader == want) else None

        leader, _elapsed = self.poll(probe)
        return leader, found.get("statuses", [])

    def leader_membership(self, leader):
        try:
            return self.conductors[leader].membership()
        except rpc.ConductorError as exc:
            self.fail("cannot read the membership from the leader %s: %s" % (leader, exc.message))

    def check_desired(self):
        preferred = self.params["preferred_leader"]
        if preferred and preferred not in [s["id"] for s in self.desired]:
            self.fail("preferred_leader %s is not in servers" % preferred)
        if not any(s["suffrage"] == VOTER for s in self.desired):
            self.fail("servers must contain at least one voter")

    def find_leader(self):
        """(the leader, ids of the nodes that answered); fails when no leader is agreed within the timeout."""
        leader, statuses = self.wait_leader()
        if leader is None:
            self.fail("no leader that every reachable node agrees on within %ss (%s)" % (
                self.params["timeout"], "; ".join("%s: %s" % (s["id"], s.get("error") or "leader=%s" % (
                    (s.get("leader_with_id") or {}).get("id") or "none")) for s in statuses)))
        return leader, set(s["id"] for s in statuses if s.get("reachable"))

    # --- planning ---------------------------------------------------------------------------------------

    def handover(self, step, leader, servers, live, planned):
        """The transfer_leader step that moves leadership off ``leader`` before ``step`` removes or demotes it."""
        preferred = self.params["preferred_leader"]
        if not self.params["transfer_leadership"]:
            self.fail("refusing to %s %s: it is the current leader; transfer leadership first "
                      "(opstack.conductor.conductor_leader) or set transfer_leadership=true"
                      % ("remove" if step["op"] == "remove" else "demote", leader), plan=planned + [step])
        candidates = [preferred] if preferred else [s["id"] for s in self.desired if s["suffrage"] == VOTER]
        member_voters = [s["id"] for s in servers if s["suffrage"] == VOTER]
        target = next((c for c in candidates if c != leader and c in member_voters and c in live), None)
        if target is None:
            self.fail("refusing to %s the leader %s: no other voter of servers is up to take over%s"
                      % (step["op"], leader, (" (preferred_leader %s is not an up voter)" % preferred)
                         if preferred else ""), plan=planned + [step])
        address = next(s["address"] for s in servers if s["id"] == target)
        verb = "removed" if step["op"] == "remove" else "demoted"
        return dict(op="transfer_leader", id=target, address=address,
                    reason="%s is the leader and is to be %s" % (leader, verb))

    def simulate(self, current, leader, live, can_demote=True):
        """The full plan with transfers inserted, checked step by step; fails on the first unsafe step."""
        planned = []
        servers = current
        for step in plan_membership(current, self.desired, leader, can_demote):
            if step["id"] == leader and step["op"] in ("remove", "demote"):
                transfer = self.handover(step, leader, servers, live, planned)
                planned.append(transfer)
                leader = transfer["id"]
            problem = check_step(servers, step, live, leader)
            if problem:
                self.fail("refusing the membership change: %s" % problem, plan=planned + [step])
            planned.append(step)
            servers = apply_step(servers, step)
        return planned, servers

    # --- applying ---------------------------------------------------------------------------------------

    def transfer(self, leader, step):
        try:
            self.conductors[leader].transfer_leader_to(step["id"], step["address"])
        except rpc.MethodMissing as exc:
            self.fail(exc.message)
        except rpc.ConductorError as exc:
            if not rpc.is_transfer_maybe(exc):
                self.fail("transferring leadership from %s to %s failed: %s" % (leader, step["id"], exc.message))
            self.warn("transfer to %s reported '%s'; polling anyway" % (step["id"], exc.message))

    def apply_transfer(self, leader, step):
        """Send the transfer and poll until every reachable node names the new leader (a timed-out request may
        still have worked). Returns the new leader."""
        self.transfer(leader, step)
        leader, _statuses = self.wait_leader(want=step["id"])
        if leader != step["id"]:
            self.fail("leadership did not move to %s within %ss; nothing removed" % (step["id"],
                                                                                     self.params["timeout"]))
        return leader

    def current_version(self, step, expected):
        """(leader, membership version) just before ``step``; fails when the membership is not ``expected``
        (another operator changed it) or the leader is lost."""
        leader, _statuses = self.wait_leader()
        if leader is None:
            self.fail("lost the leader before %s %s" % (step["op"], step["id"]))
        now = self.leader_membership(leader)
        if server_key(now["servers"]) != server_key(expected):
            self.fail("the membership changed while this module worked (now: %s; expected: %s); nothing more "
                      "was changed" % (diff_text(now["servers"]).strip().replace("\n", ", "),
                                       diff_text(expected).strip().replace("\n", ", ")), now=now)
        version = now["version"] if now["version"] is not None else 0
        if not version and not self.unversioned_warned:
            self.unversioned_warned = True
            self.warn("the leader %s reports membership version 0 (op-conductor on hashicorp/raft v1.7 never fills it "
                      "in, nor after a recovery): changes are sent with version 0, which op-conductor does not check "
                      "against concurrent changes; this module re-read the membership just before each change "
                      "instead" % leader)
        return leader, version

    def send(self, leader, step, version):
        conductor = self.conductors[leader]
        try:
            if step["op"] == "add_voter":
                conductor.add_voter(step["id"], step["address"], version)
            elif step["op"] == "add_nonvoter":
                conductor.add_nonvoter(step["id"], step["address"], version)
            elif step["op"] == "demote":
                try:
                    conductor.demote_voter(step["id"], version)
                except rpc.MethodMissing as exc:
                    self.fail("%s; demote %s by removing it and adding it back as a non-voter in two runs"
                              % (exc.message, step["id"]))
            elif step["op"] == "remove":
                conductor.remove_server(step["id"], version)
        except rpc.ConductorError as exc:
            self.fail("%s %s failed on the leader %s: %s" % (step["op"], step["id"], leader, exc.message),
                      failed_step=step)

    def wait_members(self, want_servers, leader, exclude):
        """Whether, within the timeout, the leader and every wanted member that answers reports ``want_servers``."""
        want = server_key(want_servers)
        wanted = [s["id"] for s in want_servers]

        def reports_it(node_id, conductor):
            try:
                got = conductor.membership()
            except rpc.Unreachable:
                return node_id != leader
            except rpc.ConductorError:
                return False
            return server_key(got["servers"]) == want or (node_id != leader and node_id not in wanted)

        def probe():
            return all(reports_it(i, c) for i, c in self.conductors.items() if i not in exclude)

        ok, _elapsed = self.poll(probe)
        return ok

    def apply_change(self, step, expected):
        """Send one configuration change and wait until the nodes report it. Returns the new expected servers."""
        started = self.clock.monotonic()
        leader, version = self.current_version(step, expected)
        self.send(leader, step, version)
        expected = apply_step(expected, step)
        exclude = set([step["id"]]) if step["op"] == "remove" else set()
        if not self.wait_members(expected, leader, exclude):
            self.fail("%s %s was sent but not every node reports it within %ss"
                      % (step["op"], step["id"], self.params["timeout"]), failed_step=step)
        self.applied.append(dict(step, version=version, leader=leader,
                                 seconds=round(self.clock.monotonic() - started, 2)))
        return expected

    def apply_plan(self, leader, current):
        expected = current
        for step in self.plan:
            if step["op"] == "transfer_leader":
                started = self.clock.monotonic()
                leader = self.apply_transfer(leader, step)
                self.applied.append(dict(step, seconds=round(self.clock.monotonic() - started, 2)))
            else:
                expected = self.apply_change(step, expected)
        return expected

    def demote_available(self, leader, current):
        """Whether the leader has conductor_demoteVoter, asked only when a voter is to become a non-voter (then,
        without it, a warning: the voter is removed and added back)."""
        voters = set(s["id"] for s in current if s["suffrage"] == VOTER)
        demoted = [s["id"] for s in self.desired if s["id"] in voters and s["suffrage"] == NONVOTER]
        if not demoted or has_demote_voter(self.conductors[leader]):
            return True
        self.warn("the leader %s has no conductor_demoteVoter (optimism PR #18700): removing %s and adding it back as "
                  "a non-voter; it is not a member in between, and an op-conductor that shuts its Raft down on "
                  "removal (builds before --raft.no-shutdown-on-remove, optimism PR #18699) must be restarted "
                  "before it can be added back" % (leader, " and ".join(demoted)))
        return False

    def run(self):
        self.check_desired()
        leader, live = self.find_leader()
        self.before = self.leader_membership(leader)
        current = self.before["servers"]
        can_demote = self.demote_available(leader, current)
        self.plan, planned_after = self.simulate(current, leader, live, can_demote)
        result = dict(changed=bool(self.plan), plan=self.plan, applied=[], before=self.before, leader=leader,
                      diff=dict(before=diff_text(current), after=diff_text(planned_after)))
        if not self.plan:
            return dict(result, after=self.before)
        if self.check_mode:
            return dict(result, after=dict(servers=planned_after, version=None))
        expected = self.apply_plan(leader, current)
        leader, _statuses = self.wait_leader()
        final = self.leader_membership(leader) if leader else dict(servers=expected, version=None)
        return dict(result, applied=self.applied, after=final, leader=leader, elapsed=self.elapsed())
