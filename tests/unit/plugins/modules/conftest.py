import pytest

from ansible_collections.opstack.conductor.tests.support.modules import ModuleRun


@pytest.fixture
def run_module(capsys):
    return ModuleRun(capsys)
