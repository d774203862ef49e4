"""Fixtures for the e2e suite: the real op-conductor (built once per pinned version), clusters of it on
127.0.0.x from our pre-generated state, and the op-node/op-geth stubs.

A build failure fails every test that needs op-conductor (it is an error, never a skip).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

import build_op_conductor  # tests/e2e/ (pytest puts this directory first)
from harness import IDS, ConductorCluster, run_module


@pytest.fixture(scope="session")
def op_conductor():
    """Path of the op-conductor binary; builds it (or reuses the stamped build)."""
    try:
        stamp = build_op_conductor.build(log=lambda msg: print(msg, file=sys.stderr))
    except build_op_conductor.BuildError as exc:
        raise RuntimeError(f"op-conductor could not be built, so the e2e suite cannot run:\n{exc}") from None
    return stamp["binary"]


@pytest.fixture
def workdir():
    """A short temporary directory (outside the repo), removed after the test unless it failed."""
    path = Path(tempfile.mkdtemp(prefix="opc-e2e-"))
    yield path
    if not os.environ.get("OPSTACK_E2E_KEEP"):
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def make_cluster(op_conductor, workdir, request):
    """``make_cluster(ids=IDS, deploy=True, start=True, **kw)`` → a running ConductorCluster; closed after."""
    clusters = []

    def make(ids=None, deploy=True, start=True, **kw):
        c = ConductorCluster(op_conductor, workdir / f"c{len(clusters)}", list(ids or IDS), **kw)
        clusters.append(c)
        if deploy:
            c.deploy_state()
        if start:
            c.start_all()
            c.wait_leader()
        return c

    yield make
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    for c in clusters:
        if failed:
            for sid in c.nodes:
                sys.stderr.write(f"\n--- {sid} log tail ---\n{c.log_tail(sid, 25)}\n")
        c.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture
def module():
    return run_module


ELECTION_WON = re.compile(r"election won: term=(\d+)")


class LeaderWatch:
    """Samples which running nodes claim leadership, every ``interval`` s, in a thread (bounded)."""

    def __init__(self, cluster, interval=0.05, limit=600.0):
        self.cluster = cluster
        self.interval = interval
        self.limit = limit
        self.samples = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        end = time.monotonic() + self.limit
        while not self._stop.is_set() and time.monotonic() < end:
            self.samples.append((time.monotonic(), self.cluster.claimed_leaders()))
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=10)

    def max_leaders(self):
        return max((len(s) for _t, s in self.samples), default=0)

    def elections(self):
        """``{term: [server ids]}``: who logged hashicorp/raft's "election won: term=N" in each term, from every
        node's op-conductor log (a leadership transfer ends in such an election too)."""
        winners = {}
        for sid, node in self.cluster.nodes.items():
            try:
                text = node.log_path.read_text(errors="replace")
            except OSError:
                continue
            for term in ELECTION_WON.findall(text):
                winners.setdefault(int(term), []).append(sid)
        return winners

    def assert_one_leader_per_term(self):
        """Raft's safety property, counted instead of timed: a deposed leader may still claim leadership for a
        moment after its successor won (the samples show it), but never two winners of one term."""
        winners = self.elections()
        assert winners, "no 'election won' in any node's log: has op-conductor's log format changed?"
        assert all(len(ids) == 1 for ids in winners.values()), winners


@pytest.fixture
def leader_watch():
    return LeaderWatch
