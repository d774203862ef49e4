"""Shared fixtures for the interop suite: the Go oracle (built once per session) and loopback ports."""

import contextlib
import os
import socket
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import oracle as go  # noqa: E402  (tests/interop/oracle.py, the wrapper around the Go programs)


@pytest.fixture(scope="session")
def oracle():
    """Every matrix cell compiled; a missing Go toolchain fails the suite (it never skips)."""
    for cell in go.CELLS:
        go.build(cell)
    return go


def free_ports(count):
    """Distinct free TCP ports on 127.0.0.1 (held open together so they differ, then released)."""
    with contextlib.ExitStack() as stack:
        sockets = []
        for _index in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]


@pytest.fixture(scope="session")
def ports():
    return free_ports


@pytest.fixture
def run_module(capsys):
    from ansible_collections.opstack.conductor.tests.support.modules import ModuleRun

    return ModuleRun(capsys)
