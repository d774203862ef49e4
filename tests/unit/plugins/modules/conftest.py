import subprocess
import sys

import pytest

from ansible_collections.opstack.conductor.tests.support.locks import RunLockHolder
from ansible_collections.opstack.conductor.tests.support.modules import ModuleRun


@pytest.fixture
def run_module(capsys):
    return ModuleRun(capsys)


@pytest.fixture
def holder():
    """``holder(lock_path, owner_of=None)``: a second process holds that run lock until released or the test ends."""
    made = []

    def hold(lock_path, owner_of=None):
        made.append(RunLockHolder(lock_path, owner_of))
        return made[-1]

    yield hold
    for one in made:
        one.release_if_held()


_FLOCK_HOLDER = r"""
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
print("held", flush=True)
sys.stdin.read()  # until the test closes our stdin
"""


@pytest.fixture
def held_lock():
    """``held_lock(path)``: another process holds an exclusive flock on ``path`` (as op-conductor's bbolt does on
    its databases) until the test ends."""
    holders = []

    def hold(path):
        holder = subprocess.Popen([sys.executable, "-c", _FLOCK_HOLDER, str(path)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE)
        holders.append(holder)
        assert holder.stdout.readline().strip() == b"held"
        return holder

    yield hold
    for holder in holders:
        holder.stdin.close()
        holder.wait(timeout=30)
