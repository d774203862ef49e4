"""The op-conductor stand-in the backup/restore playbook tests drive through the roles' command hooks
(conductor_hook.py): its stop is bounded. It polled, without end, for the stand-in to exit after SIGTERM: a
stand-in that did not exit hung the playbook's stop hook (and the run) until some outer timeout."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time

HOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "conductor_hook.py")
# A stand-in that ignores SIGTERM (its argv is the real one's, so the hook takes it for its own): flock, PID file.
DEAF = """import fcntl, os, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
node_dir, pid = sys.argv[3], sys.argv[4]
handle = open(os.path.join(node_dir, "raft-log.db"), "rb")
fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
open(pid + ".tmp", "w").write(str(os.getpid()))
os.rename(pid + ".tmp", pid)
for _second in range(600):
    time.sleep(1)
"""


def stop_with_few_polls(node_dir):
    """The hook's stop() with STOP_POLLS=5, in its own process (bounded by the subprocess timeout)."""
    code = ("import sys; sys.path.insert(0, %r); import conductor_hook; conductor_hook.STOP_POLLS = 5; "
            "conductor_hook.stop(%r)" % (os.path.dirname(HOOK), node_dir))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)


def test_stop_ends_a_stand_in_that_ignores_sigterm_with_sigkill(tmp_path):
    node_dir = tmp_path / "raft" / "seq-1"
    node_dir.mkdir(parents=True)
    for name in ("raft-log.db", "raft-stable.db"):
        (node_dir / name).write_bytes(b"")
    pid_path = os.path.join(str(tmp_path / "raft"), ".fake-conductor-seq-1.pid")
    deaf = subprocess.Popen([sys.executable, "-c", DEAF, HOOK, "hold", str(node_dir), pid_path],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _poll in range(500):
            if os.path.exists(pid_path) or deaf.poll() is not None:
                break
            time.sleep(0.02)
        assert os.path.exists(pid_path), "the stand-in never took the lock"
        try:
            done = stop_with_few_polls(str(node_dir))
        except subprocess.TimeoutExpired:
            raise AssertionError("stop() never returned on a stand-in that ignores SIGTERM") from None
        assert done.returncode == 0, done.stderr
        assert deaf.wait(timeout=30) == -signal.SIGKILL
        assert not os.path.exists(pid_path)
        with open(str(node_dir / "raft-log.db"), "rb") as handle:  # the lock went with it
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        if deaf.poll() is None:
            deaf.kill()
            deaf.wait(timeout=30)


def test_stop_leaves_a_process_that_is_not_a_stand_in_alone(tmp_path):
    """A PID file naming some other process (a stale one whose PID was reused) is no stand-in: not signalled."""
    node_dir = tmp_path / "raft" / "seq-1"
    node_dir.mkdir(parents=True)
    other = subprocess.Popen(["sleep", "300"])
    try:
        with open(os.path.join(str(tmp_path / "raft"), ".fake-conductor-seq-1.pid"), "w") as handle:
            handle.write(str(other.pid))
        done = stop_with_few_polls(str(node_dir))
        assert done.returncode == 0, done.stderr
        assert other.poll() is None
    finally:
        other.kill()
        other.wait(timeout=30)
