"""Issue 17 item 1 against the real op-conductor v1.19.0: break-glass sequencing (the override playbook) and the way
back, with exactly one active sequencer at every step the stub can observe (its producer counts the active sequencers
every 0.1 s: max_active_seen, double_active), and the faults: a conductor that stays unpaused and a conductor that
does not answer refuse the run with nothing changed. A rerun after each changes nothing.

The stub op-node's admin_overrideLeader works as op-node's: the node then leads without asking its conductor and
commits nothing to it, until the op-node restart hook (l2stub.py --control URL stub_restart ID) clears it.
"""

from __future__ import annotations

import json
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness import HERE, IDS, ConductorCluster, wait_until
from l2stub import rpc_call
from playbook_runs import playbook, write_inventory

CONFIRM = "conductor_override_confirm=sequencers"


def override_inventory(c: ConductorCluster, workdir, host_vars=None):
    restart = f"{sys.executable} {HERE / 'l2stub.py'} --control {c.stubs.node_url(IDS[0])} stub_restart " \
              "{{ conductor_server_id }}"
    return write_inventory(c, workdir, host_vars=host_vars,
                           group_vars={"conductor_op_node_restart_command": restart, "conductor_override_timeout": 30})


@pytest.fixture
def sequencing(make_cluster):
    """Three real conductors from our state, the elected leader's op-node sequencing through its conductor, every
    conductor resumed (what bring_up leaves; done here by hand so that this test depends on the override playbook
    only)."""
    c = make_cluster()
    leader = c.wait_leader()
    head = c.stubs.chain.head()["hash"]
    rpc_call(c.stubs.node_url(leader), "admin_startSequencer", [head])
    for sid in [s for s in IDS if s != leader] + [leader]:
        c.rpc(sid, "conductor_resume")
    wait_until(lambda: committed(c, leader), 30, what="a block committed through the leader's conductor")
    assert c.stubs.active() == [leader] and c.wait_leader() == leader
    return c, leader, next(s for s in reversed(IDS) if s != leader)


def committed(c: ConductorCluster, node: str, since: int = 0) -> list:
    return [x for x in c.stubs.calls("conductor_commitUnsafePayload", node=node, since=since) if "result" in x]


def state(c: ConductorCluster) -> dict:
    return {sid: (c.rpc(sid, "conductor_paused"), c.rpc(sid, "conductor_leaderOverridden")) for sid in IDS}


def admin_calls(c: ConductorCluster, since: int) -> list:
    changing = ("admin_stopSequencer", "admin_startSequencer", "admin_overrideLeader", "<restart>")
    return [(x["node"], x["method"]) for x in c.stubs.calls(lambda m: m in changing, since=since)]


def test_break_glass_then_the_way_back_with_one_sequencer_at_every_step(sequencing, workdir):
    c, first_leader, chosen = sequencing
    inventory = override_inventory(c, workdir)
    running = {sid: (False, False) for sid in IDS}
    mark = c.stubs.mark()

    refused = playbook(workdir, "override", inventory, "-e", f"conductor_override_leader={chosen}")
    assert refused.rc != 0 and "-e conductor_override_confirm=sequencers" in refused.out, refused
    checked = playbook(workdir, "override", inventory, "-e", CONFIRM, "-e", f"conductor_override_leader={chosen}",
                       "--check")
    assert checked.rc == 0 and f"stop the sequencer of {first_leader}" in checked.out, checked
    assert state(c) == running and admin_calls(c, mark) == [] and c.stubs.active() == [first_leader]

    run = playbook(workdir, "override", inventory, "-e", CONFIRM, "-e", f"conductor_override_leader={chosen}")
    assert run.rc == 0, run
    assert f"start_sequencer {chosen} at 0x" in run.out and f"(active after it: {chosen})" in run.out, run
    assert state(c) == {sid: (True, sid == chosen) for sid in IDS}
    assert c.stubs.active() == [chosen] and c.stubs.nodes[chosen].override
    assert admin_calls(c, mark) == [(chosen, "admin_overrideLeader"), (first_leader, "admin_stopSequencer"),
                                    (chosen, "admin_startSequencer")]
    stopped = c.stubs.calls("admin_stopSequencer", since=mark)[0]["result"]
    assert c.stubs.calls("admin_startSequencer", since=mark)[0]["params"] == [stopped]
    glass = c.stubs.mark()
    wait_until(lambda: c.stubs.chain.head()["producer"] == chosen, 20, what=f"{chosen} to build a block")
    assert c.stubs.calls("conductor_commitUnsafePayload", node=chosen, since=glass) == []  # the override: no commit
    again = playbook(workdir, "override", inventory, "-e", CONFIRM, "-e", f"conductor_override_leader={chosen}")
    assert again.rc == 0 and again.changed == 0, again
    assert c.stubs.active() == [chosen]

    back_mark = c.stubs.mark()
    planned = playbook(workdir, "override", inventory, "-e", CONFIRM, "-e", "conductor_override_state=absent", "--check")
    assert planned.rc == 0 and f"restart the op-node of {chosen}" in planned.out, planned
    assert admin_calls(c, back_mark) == [] and c.stubs.active() == [chosen]
    assert state(c) == {sid: (True, sid == chosen) for sid in IDS}
    back = playbook(workdir, "override", inventory, "-e", CONFIRM, "-e", "conductor_override_state=absent")
    assert back.rc == 0, back
    leader = c.wait_leader()
    assert state(c) == running and c.stubs.active() == [leader]
    assert not c.stubs.nodes[chosen].override and c.stubs.nodes[chosen].restarts == 1
    assert admin_calls(c, back_mark) == [(chosen, "admin_stopSequencer"), (chosen, "<restart>"),
                                         (leader, "admin_startSequencer")]
    wait_until(lambda: committed(c, leader, since=back_mark), 30, what="the Raft leader to commit blocks again")
    resumed = playbook(workdir, "override", inventory, "-e", CONFIRM, "-e", "conductor_override_state=absent")
    assert resumed.rc == 0 and resumed.changed == 0, resumed
    assert c.stubs.nodes[chosen].restarts == 1 and c.stubs.active() == [leader]

    # exactly one active sequencer whenever the stub looked (every 0.1 s), from bring_up to here
    assert c.stubs.max_active_seen == 1 and c.stubs.double_active == []


class SwallowPause:
    """A JSON-RPC proxy in front of one op-conductor that answers conductor_pause with success and does nothing:
    the conductor keeps running unpaused (as one restarted without --paused between the pause and the check)."""

    def __init__(self, target: str):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, fmt, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                request = json.loads(body)
                if request.get("method") == "conductor_pause":
                    proxy.swallowed += 1
                    reply = json.dumps({"jsonrpc": "2.0", "id": request.get("id"), "result": None}).encode()
                else:
                    forward = urllib.request.Request(target, data=body, headers={"Content-Type": "application/json"})
                    with urllib.request.urlopen(forward, timeout=10) as resp:  # noqa: S310 (loopback)
                        reply = resp.read()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        self.swallowed = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
        self.thread.start()
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def test_break_glass_is_refused_while_a_conductor_stays_unpaused_or_does_not_answer(sequencing, workdir):
    c, first_leader, chosen = sequencing
    stubborn = next(s for s in IDS if s not in (first_leader, chosen))
    proxy = SwallowPause(c.nodes[stubborn].rpc_url)
    try:
        inventory = override_inventory(c, workdir, host_vars={stubborn: {"conductor_rpc_url": proxy.url}})
        running = {sid: (False, False) for sid in IDS}
        mark = c.stubs.mark()
        run = playbook(workdir, "override", inventory, "-e", CONFIRM, "-e", f"conductor_override_leader={chosen}")
        assert run.rc != 0 and proxy.swallowed == 1, run
        assert f"{stubborn} reports conductor_paused=False" in run.out, run
        assert "the conductors this run paused were resumed again" in run.out, run
        assert "no sequencer was stopped or started" in run.out, run
        assert state(c) == running and admin_calls(c, mark) == [] and c.stubs.active() == [first_leader]
    finally:
        proxy.close()

    inventory = override_inventory(c, workdir)
    c.stop(stubborn)
    run = playbook(workdir, "override", inventory, "-e", CONFIRM, "-e", f"conductor_override_leader={chosen}")
    assert run.rc != 0 and f"{stubborn}: conductor: cannot reach {c.nodes[stubborn].rpc_url}" in run.out, run
    assert "nothing was changed" in run.out, run
    assert all(c.rpc(s, "conductor_paused") is False for s in IDS if s != stubborn) and admin_calls(c, mark) == []
    assert c.stubs.active() == [first_leader] and c.stubs.max_active_seen == 1
