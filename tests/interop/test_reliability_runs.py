"""Two runs of ours on one node at once (issue 13 item 3): every raft_state/raft_restore run first recovers the
leftovers of interrupted runs, and without a run lock that scan, landing inside another run's swap, deleted its
build or moved its live state aside; two raft_backup runs removed each other's .partial; a backup that ran beside
a swap copied the old raft-log.db and the new raft-stable.db.

Each side is a real, separate process (tests/reliability/run_worker.py, started once, running the module's main()
on command) with a slow-disk model (0-2 ms pauses around every rename, mkdir, unlink, tree removal, exchange),
as the issue reproduced it. Both sides get their command at once and one of them, at random, starts up to 40 ms
later (about one run's length), so that the second run's start falls on every step of the first. Every bound is a
count; the per-run timeout only guards against a hang.

The two states differ in both files: state A is membership [n1 @ port a] at term 3, state B [n1 @ port b] at
term 7, so a node or backup made of A's raft-log.db and B's raft-stable.db is told apart from either state.
"""

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

pytestmark = pytest.mark.reliability  # `make test-reliability` selects these by marker

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(os.path.dirname(HERE), "reliability", "run_worker.py")
BUSY = "is busy: another run of raft_state, raft_restore, raft_recover or raft_backup"
SPREAD = 0.04  # the latest start of the later side, in seconds: about one run's length here
HANG_GUARD = 300  # seconds one run may take before the test calls it hung (not a performance bound)
PAIRS = {  # at least 500 in total over every pairing of the two writers
    ("raft_state", "raft_state"): 170,
    ("raft_state", "raft_restore"): 170,
    ("raft_restore", "raft_restore"): 170,
}
TERMS = {"A": 3, "B": 7}


class Worker:
    def __init__(self, seed):
        self.proc = subprocess.Popen([sys.executable, WORKER, "--slow-disk", str(seed)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.lines = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def send(self, module, args, jitter=0.0, check_mode=False):
        command = dict(module=module, args=args, jitter=jitter, check_mode=check_mode)
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()

    def receive(self):
        line = self.lines.get(timeout=HANG_GUARD)
        assert line is not None, "worker %d exited" % self.proc.pid
        return json.loads(line)["result"]

    def close(self):
        try:
            self.proc.stdin.write("\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def workers():
    made = [Worker(seed) for seed in (1, 2)]
    try:
        yield made
    finally:
        for worker in made:
            worker.close()


def signature(path):
    """(addresses in the log's configuration, the log's last term, raft-stable.db's CurrentTerm), or the
    problems that make it no state at all."""
    state = node_state.read_node_state(path, verify=True)
    missing = [name for name, db in state.files.items() if not db.exists]
    if missing or not state.integrity.ok or state.latest_configuration is None:
        return ("broken", tuple(missing), tuple(state.integrity.problems[:3]))
    addresses = tuple(server["address"] for server in state.latest_configuration.configuration.to_list())
    return (addresses, state.last_log_term, state.current_term)


def offsets(rng):
    """Start delays for the two sides: one starts at once, the other somewhere within one run's length."""
    later = rng.uniform(0, SPREAD)
    return (0.0, later) if rng.random() < 0.5 else (later, 0.0)


def state_args(node, servers, term):
    return dict(path=node, server_id="n1", servers=servers, term=term, force=True, backup=False)


@pytest.fixture
def two_states(run_module, ports, tmp_path):
    """The node directory, its parent, and for A and B: the raft_state options, a backup, and the signature."""
    from ansible_collections.opstack.conductor.plugins.modules import raft_backup, raft_state

    storage = tmp_path / "storage"
    node = str(storage / "n1")
    states = {}
    for name, port in zip(("A", "B"), ports(2)):
        servers = [{"id": "n1", "address": "127.0.0.1:%d" % port}]
        args = state_args(node, servers, TERMS[name])
        assert not run_module(raft_state.main, args).get("failed")
        made = run_module(raft_backup.main, dict(path=node, dest=str(tmp_path / "backups" / name)))
        assert not made.get("failed"), made
        states[name] = dict(args=args, backup=made["backup_path"], signature=signature(node))
    assert states["A"]["signature"] != states["B"]["signature"]
    shutil.rmtree(node)
    return node, str(storage), states


def command(module, states, name):
    if module == "raft_state":
        return states[name]["args"]
    return dict(src=states[name]["backup"], path=states[name]["args"]["path"], server_id="n1", force=True)


def tidy(storage):
    """Between iterations, with no run under way: the kept copies (restores always keep the old state) go."""
    for entry in os.listdir(storage):
        if entry.endswith("~"):
            shutil.rmtree(os.path.join(storage, entry))


def test_two_writers_at_once_leave_one_complete_state(workers, two_states):
    node, storage, states = two_states
    rng = random.Random(20261203)
    valid = {states[name]["signature"] for name in states}
    broken, bad_runs, busy, both_ok = [], [], 0, 0
    for (first, second), count in PAIRS.items():
        for iteration in range(count):
            names = ("A", "B") if iteration % 2 else ("B", "A")
            for worker, module, name, jitter in zip(workers, (first, second), names, offsets(rng)):
                worker.send(module, command(module, states, name), jitter=jitter)
            results = [worker.receive() for worker in workers]
            found = signature(node) if os.path.isdir(node) else ("broken", "node directory missing")
            leftovers = sorted(e for e in os.listdir(storage) if ".opstack-" in e)
            if found not in valid or leftovers:
                broken.append((first, second, iteration, found, leftovers, [r.get("msg") for r in results]))
            for module, result in zip((first, second), results):
                if result.get("failed") and BUSY not in str(result.get("msg")):
                    bad_runs.append((module, iteration, result.get("msg")))
            busy += sum(BUSY in str(result.get("msg")) for result in results)
            both_ok += all(not result.get("failed") for result in results)
            tidy(storage)
            if not os.path.isdir(node):  # a broken pairing must not decide the next one: start from A again
                shutil.copytree(states["A"]["backup"], node)
                os.unlink(os.path.join(node, "manifest.json"))
    total = sum(PAIRS.values())
    print("pairs:", total, "refused as busy:", busy, "both succeeded:", both_ok, "broken:", len(broken),
          "failed otherwise:", len(bad_runs))
    assert not broken, "%d of %d pairs left the node incomplete, mixed or with leftovers; first: %s" % (
        len(broken), total, broken[:3])
    assert not bad_runs, "%d runs failed without the busy message; first: %s" % (len(bad_runs), bad_runs[:3])
    # The runs did overlap: a test whose two sides never met would prove nothing.
    assert busy >= total // 10, "only %d of %d pairs overlapped" % (busy, total)


def backup_signature(path):
    from ansible_collections.opstack.conductor.plugins.module_utils import _backup as backups

    try:
        backups.verify_backup(path)
    except Exception as exc:  # pylint: disable=broad-except  # any refusal is the finding
        return ("broken", str(exc)[:200])
    return signature(path)


def test_two_backups_into_one_directory_are_each_complete_or_refused(workers, two_states, tmp_path):
    """Same node twice (the node's run lock), and two storage directories holding a node of the same server ID
    into one destination (the destination's per-server lock): no run removes another's .partial."""
    node, storage, states = two_states
    other = str(tmp_path / "other-storage" / "n1")
    shutil.copytree(states["B"]["backup"], other)
    os.unlink(os.path.join(other, "manifest.json"))
    shutil.copytree(states["A"]["backup"], node)
    os.unlink(os.path.join(node, "manifest.json"))
    dest = str(tmp_path / "shared-backups")
    rng = random.Random(7)
    made, broken, bad_runs, busy = 0, [], [], 0
    for iteration in range(60):
        sources = (node, node) if iteration % 2 else (node, other)
        for worker, source, jitter in zip(workers, sources, offsets(rng)):
            worker.send("raft_backup", dict(path=source, dest=dest), jitter=jitter)
        for source, result in zip(sources, [worker.receive() for worker in workers]):
            if result.get("failed"):
                busy += BUSY in str(result.get("msg"))
                if BUSY not in str(result.get("msg")):
                    bad_runs.append((iteration, result.get("msg")))
                continue
            made += 1
            found = backup_signature(result["backup_path"])
            expected = states["A" if source == node else "B"]["signature"]
            if found != expected:
                broken.append((iteration, result["backup_path"], found))
    print("backups reported:", made, "refused as busy:", busy, "broken:", len(broken))
    assert not broken, "%d reported backups are incomplete or not of the node's state; first: %s" % (
        len(broken), broken[:3])
    assert not bad_runs, bad_runs[:3]
    assert busy >= 6, "only %d of 60 pairs overlapped" % busy


def test_backup_beside_a_swap_is_of_one_state(workers, two_states):
    """raft_backup (offline) while raft_state swaps the node between A and B: every backup reported as made
    holds one state, never A's log with B's stable store (each file verifies alone, so verify cannot tell)."""
    node, storage, states = two_states
    shutil.copytree(states["A"]["backup"], node)
    os.unlink(os.path.join(node, "manifest.json"))
    dest = os.path.join(os.path.dirname(storage), "beside-swaps")
    valid = {states[name]["signature"] for name in states}
    rng = random.Random(11)
    made, mixed, bad_runs, busy = 0, [], [], 0
    for iteration in range(120):
        name = "AB"[iteration % 2]
        swap_jitter, backup_jitter = offsets(rng)
        workers[0].send("raft_state", states[name]["args"], jitter=swap_jitter)
        workers[1].send("raft_backup", dict(path=node, dest=dest, keep=2), jitter=backup_jitter)
        swap, backup = workers[0].receive(), workers[1].receive()
        for module, result in (("raft_state", swap), ("raft_backup", backup)):
            if result.get("failed"):
                busy += BUSY in str(result.get("msg"))
                if BUSY not in str(result.get("msg")):
                    bad_runs.append((module, iteration, result.get("msg")))
        if not backup.get("failed"):
            made += 1
            found = backup_signature(backup["backup_path"])
            if found not in valid:
                mixed.append((iteration, backup["backup_path"], found))
        tidy(storage)
    print("backups reported:", made, "refused as busy:", busy, "mixed or broken:", len(mixed))
    assert not mixed, "%d of %d reported backups are not of one state; first: %s" % (len(mixed), made, mixed[:3])
    assert not bad_runs, bad_runs[:3]
    assert busy >= 12, "only %d of 120 pairs overlapped" % busy


# ------------------------------------------------------------------------- a real Raft node beside the swaps

STARTS = 24  # real Raft node starts beside the swaps


def open_databases(pid):
    """(st_dev, st_ino) of the raft-log.db and raft-stable.db the process has open read-write."""
    found = {}
    base = "/proc/%d/fd" % pid
    for descriptor in os.listdir(base):
        try:
            target = os.readlink(os.path.join(base, descriptor))
            info = os.stat(os.path.join(base, descriptor))
            with open("/proc/%d/fdinfo/%s" % (pid, descriptor)) as handle:
                flags = int(handle.read().split("flags:")[1].split()[0], 8)
        except (OSError, IndexError):
            continue
        name = os.path.basename(target.replace(" (deleted)", ""))
        if name in ("raft-log.db", "raft-stable.db") and flags & 3 != os.O_RDONLY:
            found[name] = (info.st_dev, info.st_ino)
    return found


def live_databases(node):
    found = {}
    for name in ("raft-log.db", "raft-stable.db"):
        info = os.stat(os.path.join(node, name))
        found[name] = (info.st_dev, info.st_ino)
    return found


class Swapper:
    """raft_state between A and B, back to back, in a worker process, until stopped; every result kept."""

    def __init__(self, worker, states):
        self.worker, self.states, self.results = worker, states, []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        for number in range(100000):
            if self.stop.is_set():
                return
            self.worker.send("raft_state", self.states["AB"[number % 2]]["args"])
            self.results.append(self.worker.receive())
            if self.results[-1].get("failed"):
                time.sleep(0.005)  # the node is up: no need to spin on refusals

    def finish(self):
        self.stop.set()
        self.thread.join(timeout=HANG_GUARD)
        assert not self.thread.is_alive()
        return self.results


def test_a_real_raft_node_starting_beside_swaps_never_runs_on_the_old_state_or_a_mix_unnoticed(
        oracle, workers, two_states):
    """The real Raft node (hashicorp/raft + raft-boltdb + bbolt, oracle `cluster --hold`) is started again and
    again on the node directory while raft_state swaps it between A and B. Each time the node is up, the
    database files it has open are compared with the node directory's: a start on anything else (the replaced
    state, or one file of each) must have been reported by the swap it raced, naming its PID. Before the swap
    guard, 1 of 24 starts ran unnoticed on the old raft-log.db beside the new raft-stable.db (with the oracle
    opening its stores as op-conductor does: bbolt's flock retries on the descriptor it opened first)."""
    node, storage, states = two_states
    shutil.copytree(states["A"]["backup"], node)
    os.unlink(os.path.join(node, "manifest.json"))
    swapper = Swapper(workers[0], states)
    rng = random.Random(5)
    starts, off_live, unreported = [], [], []
    try:
        for _start in range(STARTS):
            hold = oracle.ClusterHold("v2_3_1", {"n1": node}, "--apply", 1, "--timeout", 20, hold=60,
                                      ready_timeout=120)
            try:
                with hold as ready:
                    before = live_databases(node)
                    opened = open_databases(hold.proc.pid)
                    after = live_databases(node)
                    starts.append((hold.proc.pid, ready.get("ready"), ready["nodes"][0].get("lock_waits")))
                    if opened not in (before, after):
                        off_live.append((hold.proc.pid, opened, after))
            except oracle.OracleError as exc:  # it could not start at all (not running on anything)
                starts.append((None, False, str(exc)[:200]))
            time.sleep(rng.uniform(0.05, 0.5))  # down for a while: swaps happen, and the next start races one
    finally:
        results = swapper.finish()
    for pid, opened, live in off_live:
        told = [r["msg"] for r in results if r.get("failed") and "process %d " % pid in str(r.get("msg"))
                and "Stop that process" in str(r.get("msg"))]
        if not told:
            unreported.append((pid, opened, live))
    swaps = sum(1 for r in results if r.get("changed") and not r.get("failed"))
    raced = sum(1 for _pid, _ready, waits in starts if waits)
    print("starts:", len(starts), "started:", sum(1 for s in starts if s[1]), "waited on a lock:", raced,
          "swaps:", swaps, "swaps refused:", sum(1 for r in results if r.get("failed")),
          "swaps stopped by a starting node:", sum("op-conductor is starting" in str(r.get("msg")) for r in results),
          "off the live state:", len(off_live), "of them unreported:", len(unreported))
    assert not unreported, "%d starts ran on the replaced state or a mix and no run said so: %s" % (
        len(unreported), unreported[:3])
    assert swaps >= STARTS, "the swaps hardly ran: %d" % swaps
    assert sum(1 for s in starts if s[1]) >= STARTS // 2, starts
