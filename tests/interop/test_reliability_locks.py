"""Lock safety against the real thing: while our modules run in a bounded loop on a node directory (another
process, tests/reliability/lock_loop.py), a real Raft node (oracle `cluster --hold`, 1 node on 127.0.0.1) is
started and stopped on it again and again.

  * the node never waits on a lock we left behind: bbolt retries a held flock every 50 ms and raft-boltdb waits
    forever. The oracle opens each file with a flock timeout so short that a held lock is an error, records each
    such attempt (CLOCK_MONOTONIC around it, the PIDs /proc/locks names) and retries; every attempt that found a
    file locked must lie inside one of our runs, and only our loop may hold the lock. Counted, not timed: how
    long the open took (open_ms) depends on how busy the machine is and is only printed;
  * our tools never call a locked node writable: every run that lies wholly inside a window where the node was
    up says locked and writes nothing, and the directory and files the node has open are never swapped away
    while it runs (same inodes when it comes up and when it goes down), though replacements do happen between;
  * every start of the node works on whatever state is there (ours or its own), and the end state verifies.
"""

import fcntl
import json
import os
import queue
import random
import shutil
import subprocess
import sys
import threading
import time

import pytest

from ansible_collections.opstack.conductor.plugins.module_utils import _node_state as node_state
from ansible_collections.opstack.conductor.tests.support.fs import state_digest

pytestmark = pytest.mark.reliability  # `make test-reliability` selects these by marker

HERE = os.path.dirname(os.path.abspath(__file__))
LOOP = os.path.join(os.path.dirname(HERE), "reliability", "lock_loop.py")
CYCLES = 8
HANG_GUARD = 300  # seconds; only stops a hung run, never decides a result


def _wait_for_run(loop, out, what, predicate):
    """Until the loop has recorded a run for which predicate holds (counting runs, not waiting a fixed time)."""
    deadline = time.monotonic() + HANG_GUARD
    while True:
        if os.path.exists(out):
            with open(out) as handle:
                if any(predicate(json.loads(line)) for line in handle if line.endswith("\n")):
                    return
        assert loop.poll() is None, "the loop exited (rc %s) before it recorded a %s" % (loop.returncode, what)
        assert time.monotonic() < deadline, "hang guard: the loop recorded no %s in %d s" % (what, HANG_GUARD)
        time.sleep(0.02)


def _identity(node):
    return [(os.stat(path).st_dev, os.stat(path).st_ino) for path in
            (node, os.path.join(node, "raft-log.db"), os.path.join(node, "raft-stable.db"))]


def test_real_node_never_waits_on_us_and_we_never_write_under_it(oracle, run_module, ports, tmp_path):
    from ansible_collections.opstack.conductor.plugins.modules import raft_state

    first, second = ports(2)
    memberships = [[{"id": "n1", "address": "127.0.0.1:%d" % port}] for port in (first, second)]
    node = str(tmp_path / "n1")
    assert run_module(raft_state.main, dict(path=node, server_id="n1", servers=memberships[0]))["changed"]
    (tmp_path / "servers.json").write_text(json.dumps(memberships))
    stop, out = str(tmp_path / "stop"), str(tmp_path / "runs.jsonl")
    loop = subprocess.Popen([sys.executable, LOOP, node, str(tmp_path / "servers.json"), out, stop, "1800"])
    windows, opens, waits, results = [], [], [], []
    rng = random.Random(7)
    try:
        _wait_for_run(loop, out, "run at all", lambda run: True)  # the loop got going
        for cycle in range(CYCLES):
            hold = oracle.ClusterHold(("v2_3_1", "v1")[cycle % 2], {"n1": node}, "--apply", 2, hold=3600,
                                      ready_timeout=HANG_GUARD)
            with hold as ready:
                up = time.monotonic()  # from here until `down` the node holds its flocks
                files_up = _identity(node)
                assert ready["ready"], ready
                opens.append(ready["nodes"][0]["open_ms"])
                waits.extend(ready["nodes"][0]["lock_waits"])
                time.sleep(rng.uniform(0.3, 0.8))  # varies where the loop is when the node goes down
                # at least one run of ours lies wholly inside this window, however slow the machine is
                _wait_for_run(loop, out, "run while the node was up", lambda run: run["start"] >= up)
                files_down = _identity(node)
                down = time.monotonic()
            windows.append((up, down))
            # the directory and files the running node had open were never swapped away under it
            assert files_up == files_down, "node %s replaced while it ran" % node
            results.append(hold.result)
            time.sleep(rng.uniform(0.0, 0.4))  # varies where the loop is when the node starts
            # and a real replacement happened while the node was down
            _wait_for_run(loop, out, "replacement while the node was down", lambda run: run["start"] >= down and run[
                "module"] == "raft_state" and not run["check_mode"] and run["changed"])
    finally:
        open(stop, "w").close()
        loop.wait(timeout=60)
    runs = [json.loads(line) for line in open(out)]

    assert all(result["ok"] for result in results), [r["problems"] for r in results]
    # Every time the starting node found a file locked, one of our runs was under way (ours hold flocks only
    # inside a run: a probe, or a swap), and nobody but the loop held it: nothing of ours outlives its run.
    for wait in waits:
        assert set(wait["holders"]) <= {loop.pid}, (wait, loop.pid)
        assert any(run["start"] <= wait["end"] and wait["start"] <= run["end"] for run in runs), wait

    def inside(run):
        return any(up <= run["start"] and run["end"] <= down for up, down in windows)

    held = [run for run in runs if inside(run)]
    assert len(held) >= CYCLES, "the loop hardly ran while the node was up: %d runs" % len(held)
    for run in held:
        assert run["locked"] is True, run
        if run["module"] == "raft_state":  # refused, or the asked-for membership is the live one: left alone
            assert not run["changed"], run
            assert (run["failed"] and "op-conductor is running" in run["msg"]) or run["action"] == "live", run
        if run["module"] == "raft_backup":
            assert run["failed"] and "op-conductor is running" in run["msg"], run
        if run["module"] == "raft_state_info":
            assert not run["failed"], run
    writes = [run for run in runs if run["module"] == "raft_state" and not run["check_mode"] and run["changed"]]
    assert writes, "no replacement happened between the node's runs"
    assert all(not run["failed"] for run in runs if run["module"] == "raft_state_info"), runs

    final = node_state.read_node_state(node, verify=True)
    assert final.integrity.ok, final.integrity.problems
    for name in ("raft-log.db", "raft-stable.db"):
        assert oracle.check("v2_3_1", os.path.join(node, name))["ok"]
    assert not [entry for entry in os.listdir(str(tmp_path)) if "opstack" in entry]
    assert state_digest(node)
    print("open_ms per start:", opens, "lock waits:", len(waits), "runs:", len(runs), "inside windows:", len(held),
          "replacements:", len(writes))


def _lines(stream):
    """A queue fed with the lines of stream by a thread (None at EOF), so that each read can be bounded."""
    lines = queue.Queue()

    def pump():
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _open_inodes(pid):
    """(st_dev, st_ino) of every file process pid has open."""
    found = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            info = os.stat("/proc/%d/fd/%s" % (pid, fd))
        except OSError:  # closed meanwhile
            continue
        found.add((info.st_dev, info.st_ino))
    return found


def test_oracle_counts_every_open_attempt_that_finds_a_file_locked(oracle, run_module, ports, tmp_path):
    """The counter the test above relies on: a flock held by this process on raft-stable.db makes the starting
    node report lock waits (on that file, naming this PID, inside the time it was held), and it starts once the
    lock is dropped. The lock is dropped when the oracle says it found it held, not after some time.

    And the oracle waits the way bbolt does: bbolt opens the file once and retries the flock on that descriptor,
    so a file renamed over the path while it waits is not the one it gets. The oracle must keep to that (it
    retries on the inode it first opened), or it would hide a conductor opening replaced state."""
    from ansible_collections.opstack.conductor.plugins.modules import raft_state

    port = ports(1)[0]
    for cell in ("v2_3_1", "v1"):
        node = str(tmp_path / cell / "n1")
        servers = [{"id": "n1", "address": "127.0.0.1:%d" % port}]
        assert run_module(raft_state.main, dict(path=node, server_id="n1", servers=servers))["changed"]
        stable = os.path.join(node, "raft-stable.db")
        with open(stable, "rb") as held:
            fcntl.flock(held, fcntl.LOCK_EX)
            first = os.fstat(held.fileno())
            locked_at = time.monotonic()
            proc = subprocess.Popen([str(oracle.build(cell)), "cluster", "--node", "n1=" + node, "--apply", "1",
                                     "--hold", "600"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
            try:
                errors = _lines(proc.stderr)
                line = errors.get(timeout=HANG_GUARD)  # a hang guard, not a bound on how fast the oracle is
                assert line is not None and line.startswith("lock wait: ") and "raft-stable.db" in line, line
                # A copy renamed over the path while the node waits: a new inode there, the old one still locked.
                shutil.copyfile(stable, stable + ".new")
                os.rename(stable + ".new", stable)
                unlocked_at = time.monotonic()
                fcntl.flock(held, fcntl.LOCK_UN)
                ready = json.loads(_lines(proc.stdout).get(timeout=HANG_GUARD))
                open_now = _open_inodes(proc.pid)
                proc.stdin.close()
                assert proc.wait(timeout=HANG_GUARD) == 0
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        assert ready["ready"], ready
        replaced = os.stat(stable)
        assert (first.st_dev, first.st_ino) in open_now, "the node did not keep the file it first opened"
        assert (replaced.st_dev, replaced.st_ino) not in open_now, "the node reopened the path while it waited"
        waits = ready["nodes"][0]["lock_waits"]
        assert waits, ready
        for wait in waits:
            assert wait["file"] == stable, wait
            assert locked_at <= wait["start"] <= wait["end"], (locked_at, wait)
            assert wait["start"] <= unlocked_at, (unlocked_at, wait)
            assert set(wait["holders"]) <= {os.getpid()}, wait
        assert os.getpid() in waits[0]["holders"], waits  # the first attempt certainly found our lock
        # Without anyone holding a lock, the same start records no wait.
        with oracle.ClusterHold(cell, {"n1": node}, "--apply", 1, hold=600, ready_timeout=HANG_GUARD) as again:
            assert again["nodes"][0]["lock_waits"] == [], again
