"""A long-lived process that runs our modules' main() on command, for the concurrent-run tests
(tests/interop/test_run_lock_races.py): one interpreter start per side instead of one per run, while each run
still happens in its own process and holds its own locks, as two ansible-playbook runs on one host would.

    run_worker.py [--slow-disk SEED]

stdin: one JSON command per line, {"module": "raft_state", "args": {...}, "check_mode": false, "jitter": 0.001};
stdout: one JSON line per command, {"pid": ..., "result": <the module's JSON result>}. An empty line ends it.

--slow-disk: a model of a slow disk (the issue's reproduction): every rename, mkdir, rmdir, unlink, tree removal
and directory exchange pauses 0-2 ms before and after, so that two runs interleave at every step of a swap.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import random
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402,F401  pylint: disable=unused-import  # makes ansible_collections importable
from ansible.module_utils.testing import patch_module_args  # noqa: E402

from ansible_collections.opstack.conductor.plugins.module_utils import _fs as fs  # noqa: E402

MODULES = "ansible_collections.opstack.conductor.plugins.modules."


def _slow(function, rng):
    def paused(*args, **kwargs):
        time.sleep(rng.uniform(0, 0.002))
        try:
            return function(*args, **kwargs)
        finally:
            time.sleep(rng.uniform(0, 0.002))
    return paused


def slow_disk(seed: int) -> None:
    rng = random.Random(seed)
    for name in ("rename", "mkdir", "rmdir", "unlink"):
        setattr(os, name, _slow(getattr(os, name), rng))
    shutil.rmtree = _slow(shutil.rmtree, rng)
    fs.exchange = _slow(fs.exchange, rng)


def run(module_name: str, args: dict, check_mode: bool) -> dict:
    module = importlib.import_module(MODULES + module_name)
    out = io.StringIO()
    with patch_module_args(dict(args, _ansible_check_mode=check_mode)), contextlib.redirect_stdout(out):
        try:
            module.main()
        except SystemExit:
            pass
    text = out.getvalue()
    try:
        return json.loads(text)
    except ValueError:
        return {"failed": True, "msg": "no JSON result: %r" % text[-2000:], "traceback": True}


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--slow-disk":
        slow_disk(int(sys.argv[2]))
    for line in sys.stdin:
        if not line.strip():
            break
        command = json.loads(line)
        time.sleep(command.get("jitter", 0))  # spreads the two sides' starts over each other's steps
        try:
            result = run(command["module"], command["args"], command.get("check_mode", False))
        except Exception as exc:  # pylint: disable=broad-except  # a traceback is a finding, reported as such
            result = {"failed": True, "msg": "%s: %s" % (type(exc).__name__, exc), "traceback": True}
        sys.stdout.write(json.dumps({"pid": os.getpid(), "result": result}) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
