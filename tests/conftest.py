"""Make the checkout importable as ansible_collections.opstack.conductor, for plain `pytest` runs too."""

import os
import sys

import pytest
from ansible.module_utils import _internal as module_internal

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS_ROOT = os.path.join(REPO, ".cache", "collections")


def _link_collection() -> None:
    namespace_dir = os.path.join(COLLECTIONS_ROOT, "ansible_collections", "opstack")
    link = os.path.join(namespace_dir, "conductor")
    os.makedirs(namespace_dir, exist_ok=True)
    if os.path.realpath(link) != REPO:
        if os.path.islink(link):
            os.unlink(link)
        os.symlink(REPO, link)


_link_collection()
if COLLECTIONS_ROOT not in sys.path:
    sys.path.insert(0, COLLECTIONS_ROOT)

# Fixtures shared by every suite (nonroot_users, shared_tmp): tests use them by name, without importing them.
pytest_plugins = ["ansible_collections.opstack.conductor.tests.support.nonroot"]


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long-running interop tests (still run by make test)")
    config.addinivalue_line("markers", "reliability: the reliability and security suite's slices "
                                       "(docs/reliability.md); `make test-reliability` runs them")


# Importing Ansible's controller code (ansible.errors, ansible.template, ...) sets this process-wide flag, after which
# AnsibleModule.warn() stops returning warnings to the in-process module tests. A test file that imports a filter at
# its top flips it while pytest collects, before any test runs, so a per-file save/restore is not enough: every test
# starts with the value the process had before any collection.
MODULE_SIDE = module_internal.is_controller


@pytest.fixture(autouse=True)
def _module_side_flag():
    module_internal.is_controller = MODULE_SIDE
    yield
    module_internal.is_controller = MODULE_SIDE
