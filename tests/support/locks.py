"""A second process holding one of our run locks (as a second ansible run would), for the tests of refusals."""

import os
import subprocess
import sys

# The directory that holds ansible_collections/ (this file is ansible_collections/opstack/conductor/tests/support/).
COLLECTIONS_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", ".."))

_HOLDER = r"""
import sys
sys.path.insert(0, sys.argv[1])
from ansible_collections.opstack.conductor.plugins.module_utils import _fs as fs
lock = fs.RunLock(sys.argv[2], "held by the test").acquire(owner_of=sys.argv[3] if len(sys.argv) > 3 else None)
print("held", flush=True)
sys.stdin.read()
lock.release()
"""


class RunLockHolder:
    """Holds ``fs.RunLock(lock_path)`` in a separate process from construction until ``release()``."""

    def __init__(self, lock_path, owner_of=None):
        extra = [owner_of] if owner_of else []
        self.proc = subprocess.Popen([sys.executable, "-c", _HOLDER, COLLECTIONS_ROOT, lock_path] + extra,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline() == "held\n"
        self.pid = self.proc.pid

    def release(self):
        self.proc.stdin.close()
        assert self.proc.wait(timeout=60) == 0

    def release_if_held(self):
        if self.proc.poll() is None:
            self.release()
