"""Shared fixtures for the interop suite: the Go oracle (built once per session) and loopback ports."""

import pytest

import oracle as go  # tests/interop/oracle.py, the wrapper around the Go programs (pytest puts this directory first)
from ansible_collections.opstack.conductor.tests.support.net import free_ports


@pytest.fixture(scope="session")
def oracle():
    """Every matrix cell compiled; a missing Go toolchain fails the suite (it never skips)."""
    for cell in go.CELLS:
        go.build(cell)
    return go


@pytest.fixture(scope="session")
def ports():
    return free_ports


@pytest.fixture
def run_module(capsys):
    from ansible_collections.opstack.conductor.tests.support.modules import ModuleRun

    return ModuleRun(capsys)
