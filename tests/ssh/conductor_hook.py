"""The command hook the SSH test bed gives the conductor_cluster role (conductor_service_start_command and
conductor_service_stop_command), copied onto the "host" (the run directory) and run there by Ansible's shell
module as root (become), as an operator's wrapper around their service manager would be.

    conductor_hook.py start SPEC   start this host's op-conductor AS its user (setpriv drops root: the spec's uid,
                                   gid and groups, and the environment of that user), in the background, its output
                                   appended to the log; write its PID
    conductor_hook.py stop SPEC    SIGTERM the PID this hook wrote, only while /proc shows it runs the spec's binary,
                                   and wait (bounded) until it has exited

SPEC is a JSON file the test writes per host: {"argv": [...], "uid": N, "gid": N, "groups": [N, ...], "log": path,
"pidfile": path}. Standard library only, Python 3.8 (it runs with the host's /usr/bin/python3).
"""

import json
import os
import signal
import subprocess
import sys
import time

STOP_POLLS = 300  # 0.1 s each: op-conductor stops in well under a second
EXIT_STATES = ("Z", "X")


def running(spec):
    """The PID of the spec's op-conductor when it runs, else None."""
    try:
        with open(spec["pidfile"]) as handle:
            pid = int(handle.read().strip())
        with open("/proc/%d/stat" % pid) as handle:
            if handle.read().rsplit(")", 1)[1].split()[0] in EXIT_STATES:
                return None
        if os.readlink("/proc/%d/exe" % pid) != os.path.realpath(spec["argv"][0]):
            return None
    except (OSError, ValueError, IndexError):
        return None
    return pid


def start(spec):
    pid = running(spec)
    if pid is not None:
        print("already running: pid %d" % pid)
        return 0
    command = ["setpriv", "--reuid=%d" % spec["uid"], "--regid=%d" % spec["gid"],
               "--groups=%s" % ",".join(str(gid) for gid in spec["groups"]), "--reset-env", "--"] + spec["argv"]
    with open(spec["log"], "ab") as log:
        log.write(("\n=== start (hook, uid %d): %s\n" % (spec["uid"], " ".join(spec["argv"]))).encode())
        log.flush()
        child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 start_new_session=True, close_fds=True, cwd="/")
    with open(spec["pidfile"], "w") as handle:
        handle.write("%d\n" % child.pid)
    print("started pid %d as uid %d" % (child.pid, spec["uid"]))
    return 0


def stop(spec):
    pid = running(spec)
    if pid is None:
        print("not running")
        return 0
    os.kill(pid, signal.SIGTERM)
    for _poll in range(STOP_POLLS):
        if running(spec) is None:
            print("stopped pid %d" % pid)
            return 0
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    print("killed pid %d (it did not stop on SIGTERM)" % pid)
    return 1


def main(argv):
    if len(argv) != 3 or argv[1] not in ("start", "stop"):
        sys.stderr.write("usage: conductor_hook.py start|stop SPEC\n")
        return 2
    with open(argv[2]) as handle:
        spec = json.load(handle)
    return start(spec) if argv[1] == "start" else stop(spec)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
