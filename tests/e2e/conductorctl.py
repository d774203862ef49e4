"""The command hook the playbook tests give the conductor_cluster role (conductor_service_start_command and
conductor_service_stop_command).

    conductorctl.py start --spec SPEC --node ID   start that node's op-conductor in the background, write its PID
    conductorctl.py stop  --spec SPEC --node ID   SIGTERM the PID this hook wrote (and only that one)

SPEC is a JSON file written by the test harness: {node: {"argv": [...], "log": path, "pidfile": path}}.

On start, a CONDUCTOR_ENV_FILE in the hook's environment (the role's conductor_env_file) is loaded into
op-conductor's environment as systemd's EnvironmentFile= does: KEY=VALUE lines, blank lines and lines starting with
# or ; skipped, one pair of surrounding quotes removed; a file that cannot be read fails the start.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys


def environment_file(path: str) -> dict:
    """The variables of a systemd EnvironmentFile= (the subset the role writes, plus quotes and comments)."""
    variables = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith(("#", ";")):
                continue
            key, sep, value = line.partition("=")
            if not sep or not key.strip():
                raise SystemExit(f"{path}:{number}: not KEY=VALUE: {line!r}")
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            variables[key.strip()] = value
    return variables


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("action", choices=["start", "stop"])
    ap.add_argument("--spec", required=True)
    ap.add_argument("--node", required=True)
    args = ap.parse_args()
    with open(args.spec) as f:
        spec = json.load(f)[args.node]
    if args.action == "start":
        env = dict(os.environ)
        loaded = environment_file(os.environ["CONDUCTOR_ENV_FILE"]) if os.environ.get("CONDUCTOR_ENV_FILE") else {}
        env.update(loaded)
        os.makedirs(os.path.dirname(spec["log"]), exist_ok=True)
        with open(spec["log"], "ab") as log:
            shown = "".join(f"{k}={v} " for k, v in sorted(loaded.items()))
            log.write(("\n=== start (hook): " + shown + " ".join(spec["argv"]) + "\n").encode())
            log.flush()
            proc = subprocess.Popen(spec["argv"], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True, close_fds=True, env=env)
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
