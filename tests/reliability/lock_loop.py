"""Our modules in a bounded loop against one node directory, for the lock-safety test (a real Raft node is
started and stopped on the same directory meanwhile).

    lock_loop.py NODE_DIR SERVERS.json OUT.jsonl STOP_FILE MAX_SECONDS

SERVERS.json holds two server lists (the same node on two loopback ports): every forced raft_state switches to
the other one, so it is a real replacement whenever the node is not running (the same membership would be left
alone as live state).

Each run is one JSON line: module, options, start/end on CLOCK_MONOTONIC (comparable with the test process),
and what it reported (failed, changed, action, locked, msg). Runs, in turn: raft_state_info (full verify and
summary), raft_state force=true (the other membership, backup=false) in check mode and for real,
raft_backup offline. Stops at the stop file or after MAX_SECONDS.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# common makes ansible_collections importable
import common  # noqa: E402,F401  pylint: disable=unused-import
from ansible.module_utils.testing import patch_module_args  # noqa: E402

from ansible_collections.opstack.conductor.plugins.modules import (  # noqa: E402
    raft_backup, raft_state, raft_state_info)


def run(module, args, check_mode=False):
    out = io.StringIO()
    try:
        with patch_module_args(dict(args, _ansible_check_mode=check_mode)), contextlib.redirect_stdout(out):
            module.main()
    except SystemExit:
        pass
    return json.loads(out.getvalue())


def main() -> int:
    node, servers_path, out_path, stop_file, max_seconds = sys.argv[1:6]
    with open(servers_path) as handle:
        memberships = json.load(handle)
    deadline = time.monotonic() + float(max_seconds)
    state_args = dict(path=node, server_id=os.path.basename(node), force=True, backup=False)
    switch = [1]
    steps = [
        ("raft_state_info", raft_state_info, lambda: dict(path=node), False),
        ("raft_state_info", raft_state_info, lambda: dict(path=node, verify=False), False),
        ("raft_state", raft_state, lambda: dict(state_args, servers=memberships[switch[0] % 2]), True),
        ("raft_state", raft_state, lambda: dict(state_args, servers=memberships[switch[0] % 2]), False),
        ("raft_backup", raft_backup, lambda: dict(path=node, dest=node + ".backups", keep=2), False),
    ]
    with open(out_path, "w") as out:
        number = 0
        while time.monotonic() < deadline and not os.path.exists(stop_file):
            name, module, make_args, check_mode = steps[number % len(steps)]
            number += 1
            options = make_args()
            started = time.monotonic()
            result = run(module, options, check_mode)
            ended = time.monotonic()
            # Only a replacement that happened switches: a refused one (changed, failed: the node was starting)
            # left the old membership, and switching then would ask for that one from now on, never replacing.
            if name == "raft_state" and not check_mode and result.get("changed") and not result.get("failed"):
                switch[0] += 1
            out.write(json.dumps({"module": name, "check_mode": check_mode, "start": started, "end": ended,
                                  "failed": bool(result.get("failed")), "changed": bool(result.get("changed")),
                                  "action": result.get("action"), "locked": result.get("locked"),
                                  "ok": (result.get("integrity") or {}).get("ok"),
                                  "msg": str(result.get("msg", ""))[:300]}) + "\n")
            out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
