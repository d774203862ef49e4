"""The command hook the playbook tests give the conductor_cluster role (conductor_service_start_command and
conductor_service_stop_command).

    conductorctl.py start --spec SPEC --node ID   start that node's op-conductor in the background, write its PID
    conductorctl.py stop  --spec SPEC --node ID   SIGTERM the PID this hook wrote (and only that one)

SPEC is a JSON file written by the test harness: {node: {"argv": [...], "log": path, "pidfile": path}}.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("action", choices=["start", "stop"])
    ap.add_argument("--spec", required=True)
    ap.add_argument("--node", required=True)
    args = ap.parse_args()
    with open(args.spec) as f:
        spec = json.load(f)[args.node]
    if args.action == "start":
        os.makedirs(os.path.dirname(spec["log"]), exist_ok=True)
        with open(spec["log"], "ab") as log:
            log.write(("\n=== start (hook): " + " ".join(spec["argv"]) + "\n").encode())
            log.flush()
            proc = subprocess.Popen(spec["argv"], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True, close_fds=True)
        with open(spec["pidfile"], "w") as f:
            f.write(str(proc.pid))
        print(f"started {args.node} pid {proc.pid}")
        return 0
    try:
        with open(spec["pidfile"]) as f:
            pid = int(f.read().strip())
    except (OSError, ValueError):
        print(f"{args.node}: no pidfile")
        return 0
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if spec["argv"][0].encode() not in f.read():
                print(f"{args.node}: pid {pid} is not our op-conductor")
                return 0
        os.kill(pid, signal.SIGTERM)
        print(f"stopped {args.node} pid {pid}")
    except (OSError, ProcessLookupError):
        print(f"{args.node}: not running")
    return 0


if __name__ == "__main__":
    sys.exit(main())
