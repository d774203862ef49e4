"""Shared plumbing of the reliability suite's stress scripts: imports (the helpers live in tests/support).

Importable from pytest (tests/interop, tests/unit) and from the stress scripts that `make fuzz` / `make crash` run;
nothing here depends on pytest.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
RESULTS = REPO / "tests" / "output" / "reliability"


def _link_collection() -> None:
    """What tests/conftest.py does for pytest: the checkout importable as ansible_collections.opstack.conductor."""
    spec = importlib.util.spec_from_file_location("_opstack_collection_link", str(REPO / "tests" / "conftest.py"))
    spec.loader.exec_module(importlib.util.module_from_spec(spec))


_link_collection()
for _path in (str(REPO / "tests" / "interop"),):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import oracle as go  # noqa: E402  (tests/interop/oracle.py)
from ansible_collections.opstack.conductor.plugins.module_utils import _bbolt as bolt  # noqa: E402
from ansible_collections.opstack.conductor.plugins.module_utils import _cluster as cluster  # noqa: E402
from ansible_collections.opstack.conductor.plugins.module_utils import _node_state as node_state  # noqa: E402
from ansible_collections.opstack.conductor.plugins.module_utils import _raft as raft  # noqa: E402
from ansible_collections.opstack.conductor.tests.support.fs import state_digest, tree  # noqa: E402
from ansible_collections.opstack.conductor.tests.support.net import free_port  # noqa: E402
from ansible_collections.opstack.conductor.tests.support.nodes import loopback_spec, write_node  # noqa: E402

__all__ = ["REPO", "RESULTS", "go", "bolt", "cluster", "node_state", "raft", "tree", "state_digest", "free_port",
           "write_node", "loopback_spec"]
