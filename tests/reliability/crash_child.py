"""Run one module's main() in this process, with a crash injected; the crash harness (crash.py) starts it.

    crash_child.py MODULE ARGS.json TRACE.json

MODULE is raft_state, raft_backup or raft_restore; ARGS.json its arguments. Environment:
  OPSTACK_CRASH_AT=before:N | after:N   os._exit(137) just before / just after the Nth fault point
  OPSTACK_CRASH_DELAY=SECONDS            SIGKILL this process that long after main() starts
  OPSTACK_NO_EXCHANGE=1                  no renameat2(RENAME_EXCHANGE): the two-rename fallback path
  OPSTACK_FSIZE_LIMIT=BYTES              RLIMIT_FSIZE (writes past it fail with EFBIG): a full disk where
                                         mounting a small tmpfs is not permitted
Without a crash the trace of fault points (every call that changes the filesystem: open for writing, write,
fsync, mkdir, rename, exchange, unlink, rmdir, chmod, chown, ...) is written to TRACE.json, so the harness can
enumerate every point. Nothing in plugins/ is changed for this: the hooks wrap the os functions the modules call.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import json
import os
import resource
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# common makes ansible_collections importable
import common  # noqa: E402,F401  pylint: disable=unused-import
from ansible.module_utils.testing import patch_module_args  # noqa: E402

from ansible_collections.opstack.conductor.plugins.module_utils import _fs as fs  # noqa: E402

CRASH_EXIT = 137
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


class Injector:
    def __init__(self, plan: str):
        self.when, _colon, number = plan.partition(":")
        self.target = int(number) if number else 0
        self.count = 0
        self.trace = []
        self.active = False

    def point(self, name: str, detail: str):
        self.count += 1
        self.trace.append("%s %s" % (name, detail))
        if self.when == "before" and self.count == self.target:
            os._exit(CRASH_EXIT)
        return self.count

    def after(self, number: int) -> None:
        if self.when == "after" and number == self.target:
            os._exit(CRASH_EXIT)

    def wrap(self, owner, attr: str, counts=lambda *args, **kwargs: True) -> None:
        original = getattr(owner, attr)
        injector = self

        def hooked(*args, **kwargs):
            if not injector.active or not counts(*args, **kwargs):
                return original(*args, **kwargs)
            first = args[0] if args else ""
            number = injector.point(attr, first if isinstance(first, str) else type(first).__name__)
            result = original(*args, **kwargs)
            injector.after(number)
            return result

        setattr(owner, attr, hooked)


def install(injector: Injector) -> None:
    injector.wrap(os, "open", lambda path, flags, *a, **k: bool(flags & _WRITE_FLAGS))
    injector.wrap(builtins, "open", lambda file, mode="r", *a, **k: any(c in mode for c in "wax+"))
    for name in ("write", "fsync", "fdatasync", "rename", "replace", "mkdir", "rmdir", "unlink", "remove",
                 "chmod", "fchmod", "chown", "lchown", "fchown", "link", "symlink", "truncate", "ftruncate",
                 "utime"):
        if hasattr(os, name):
            injector.wrap(os, name)
    injector.wrap(fs, "exchange")


def main() -> int:
    module_name, args_path, trace_path = sys.argv[1:4]
    with open(args_path) as handle:
        args = json.load(handle)
    injector = Injector(os.environ.get("OPSTACK_CRASH_AT", ""))
    install(injector)
    if os.environ.get("OPSTACK_FSIZE_LIMIT"):
        limit = int(os.environ["OPSTACK_FSIZE_LIMIT"])
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of death, as ENOSPC would be
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    if os.environ.get("OPSTACK_NO_EXCHANGE") == "1":
        fs._RENAMEAT2 = None  # what a kernel or filesystem without RENAME_EXCHANGE gives
    module = __import__("ansible_collections.opstack.conductor.plugins.modules." + module_name,
                        fromlist=["main"])
    delay = os.environ.get("OPSTACK_CRASH_DELAY")
    if delay is not None:
        timer = threading.Timer(float(delay), os.kill, (os.getpid(), signal.SIGKILL))
        timer.daemon = True
        timer.start()
    out = io.StringIO()
    injector.active = True
    started = time.monotonic()
    try:
        with patch_module_args(args), contextlib.redirect_stdout(out):
            module.main()
    except SystemExit:
        pass
    finally:
        injector.active = False
        if delay is not None:
            timer.cancel()  # too late to kill: the run is over
    main_seconds = time.monotonic() - started
    with open(trace_path + ".tmp", "w") as handle:
        json.dump({"points": injector.count, "trace": injector.trace, "main_seconds": main_seconds,
                   "result": json.loads(out.getvalue() or "{}")}, handle)
    os.rename(trace_path + ".tmp", trace_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
