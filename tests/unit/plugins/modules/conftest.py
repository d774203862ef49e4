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
