"""A stand-in for op-conductor's service, driven by the roles' command hooks (conductor_service_stop_command /
conductor_service_start_command): `start` runs a process that holds bbolt's exclusive flock on the node's two
databases, as a running op-conductor does, and returns once it holds them; `stop` ends that process and returns once
it is gone. Every call is appended to the log as one JSON line: action, server ID, and which nodes of the cluster
held their lock at that moment (to show that one node at a time is down).

    conductor_hook.py start|stop LOG STATE_ROOT     (CONDUCTOR_SERVER_ID / CONDUCTOR_NODE_DIR from the role)
    conductor_hook.py hold NODE_DIR PIDFILE         (the long-running "op-conductor")
"""

from __future__ import annotations

import errno
import fcntl
import glob
import json
import os
import signal
import subprocess
import sys
import time

DATABASES = ("raft-log.db", "raft-stable.db")


def pidfile(node_dir: str) -> str:
    return os.path.join(os.path.dirname(node_dir.rstrip("/")), ".fake-conductor-%s.pid" % os.path.basename(node_dir))


def locked(node_dir: str) -> bool:
    try:
        fd = os.open(os.path.join(node_dir, DATABASES[0]), os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except OSError as exc:
        return exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN)
    finally:
        os.close(fd)


def running_nodes(state_root: str):
    """Server IDs whose databases are locked, for every node directory under STATE_ROOT/<host>/raft/<id>."""
    return sorted(os.path.basename(d) for d in glob.glob(os.path.join(state_root, "*", "raft", "*"))
                  if os.path.isdir(d) and locked(d))


def start(node_dir: str) -> None:
    pid = pidfile(node_dir)
    subprocess.Popen([sys.executable, os.path.abspath(__file__), "hold", node_dir, pid], stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)
    deadline = time.monotonic() + 20
    while not os.path.exists(pid):
        if time.monotonic() > deadline:
            sys.exit("the stand-in did not take the lock on %s" % node_dir)
        time.sleep(0.02)


STOP_POLLS = 1000  # 0.02 s apart: 20 s for the stand-in to exit after SIGTERM, then as long after SIGKILL


def _stand_in(number: int) -> bool:
    """Whether ``number`` is a live stand-in of ours (``conductor_hook.py hold``): a PID file left by a killed run
    may name a process that has nothing to do with us since; a zombie has exited."""
    try:
        with open("/proc/%d/stat" % number) as handle:
            if handle.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                return False
        with open("/proc/%d/cmdline" % number, "rb") as handle:
            argv = handle.read().split(b"\0")
    except OSError:
        return False
    return b"hold" in argv and any(arg.endswith(b"conductor_hook.py") for arg in argv)


def stop(node_dir: str) -> None:
    """SIGTERM the stand-in and return once it is gone; SIGKILL when it has not exited after STOP_POLLS polls;
    exit with a message when even that did not end it (bounded: a hook that never returns hangs the playbook)."""
    pid = pidfile(node_dir)
    try:
        with open(pid) as handle:
            number = int(handle.read())
    except (OSError, ValueError):
        return  # not running
    for signum in (signal.SIGTERM, signal.SIGKILL):
        if not _stand_in(number):
            break
        os.kill(number, signum)
        for _poll in range(STOP_POLLS):  # our child's child: poll until it is gone
            if not _stand_in(number):
                break
            time.sleep(0.02)
    else:
        if _stand_in(number):
            sys.exit("the stand-in %d holding %s did not exit after SIGKILL" % (number, node_dir))
    if os.path.exists(pid):
        os.unlink(pid)


def hold(node_dir: str, pid: str) -> None:
    def terminate(_signum, _frame):
        if os.path.exists(pid):
            os.unlink(pid)
        sys.exit(0)

    signal.signal(signal.SIGTERM, terminate)
    handles = [open(os.path.join(node_dir, name), "rb") for name in DATABASES]
    for handle in handles:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
    tmp = pid + ".tmp"
    with open(tmp, "w") as out:
        out.write(str(os.getpid()))
    os.rename(tmp, pid)  # the pid file appears once the locks are held
    while True:
        time.sleep(60)


def main() -> None:
    action = sys.argv[1]
    if action == "hold":
        hold(sys.argv[2], sys.argv[3])
        return
    log, state_root = sys.argv[2], sys.argv[3]
    node_dir = os.environ["CONDUCTOR_NODE_DIR"]
    assert os.environ["CONDUCTOR_ACTION"] == action, os.environ["CONDUCTOR_ACTION"]
    before = running_nodes(state_root)
    (start if action == "start" else stop)(node_dir)
    with open(log, "a") as out:
        out.write(json.dumps({"action": action, "server_id": os.environ["CONDUCTOR_SERVER_ID"], "running_before": before,
                              "running_after": running_nodes(state_root)}) + "\n")


if __name__ == "__main__":
    main()
