import pytest

from ansible_collections.opstack.conductor.tests.module_runner import ModuleRun


@pytest.fixture
def run_module(capsys):
    return ModuleRun(capsys)
