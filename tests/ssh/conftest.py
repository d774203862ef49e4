"""Fixtures of the SSH test bed (testbed.py): one bed per session (users, three sshd, keys), fresh storage per
test; playbooks run with the venv's ansible-playbook as tests/integration does."""

from __future__ import annotations

import pytest

from ansible_collections.opstack.conductor.tests.ssh.testbed import testbed


@pytest.fixture(scope="session")
def bed():
    with testbed() as made:
        yield made


@pytest.fixture
def fresh(bed):
    bed.fresh_state()
    yield bed
    bed.end_control_masters()
