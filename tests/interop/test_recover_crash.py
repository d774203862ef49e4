"""raft_recover killed at every filesystem step (issue 16, item 2), with and without RENAME_EXCHANGE.

A run is killed just before or just after each fault point its clean run passes (every open for writing, write,
fsync, mkdir, rename, exchange, unlink, chmod, chown, ...: tests/reliability/crash_child.py), and by SIGKILL at a
few delays. Then the node directory holds the complete old state or the complete recovered one (the fallback may
leave it absent for an instant, with the old state complete in one ``.opstack-old-*``), the old state is complete
somewhere, and the next run succeeds and converges: the recovered state in place, no leftovers, every kept
directory a complete copy of the old state, the node clean for our reader and for raft-boltdb.

The recovered state is compared without its one moving part, the time in the new snapshot's ID.
"""

import hashlib
import os
import re
import shutil

import pytest

from ansible_collections.opstack.conductor.plugins.module_utils import _fs as fs
from ansible_collections.opstack.conductor.plugins.modules import raft_recover
from ansible_collections.opstack.conductor.tests.reliability import crash
from ansible_collections.opstack.conductor.tests.support import nodes
from ansible_collections.opstack.conductor.tests.support import recovery as rec
from ansible_collections.opstack.conductor.tests.support.fs import state_digest, tree

pytestmark = pytest.mark.reliability

SERVERS = [{"id": "n1", "address": "127.0.0.1:7201"}, {"id": "n2", "address": "127.0.0.1:7202", "suffrage": "nonvoter"}]
_SNAPSHOT_TIME = re.compile(r"^(snapshots/\d+-\d+)-\d+")
_META_ID = re.compile(rb'"ID":"\d+-\d+-\d+"')


def recovered_digest(node):
    """state_digest() with the new snapshot's time taken out of its directory name and its meta.json ID."""
    if not os.path.isdir(node):
        return None
    digest = hashlib.sha256()
    for rel, entry in sorted(tree(node).items()):
        content = entry.digest
        if rel.endswith("/meta.json"):
            with open(os.path.join(node, rel), "rb") as handle:
                content = hashlib.sha256(_META_ID.sub(b'"ID":"-"', handle.read())).hexdigest()
        digest.update(_SNAPSHOT_TIME.sub(r"\1-ms", rel).encode() + b"\0" + str(content).encode() + b"\0")
    return digest.hexdigest()


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A node that ran: a snapshot at index 4 (block 3), then blocks 6, 5, 7 at term 3; and what it recovers to."""
    root = str(tmp_path_factory.mktemp("recover-crash"))
    spec = nodes.loopback_spec(ids=("n1", "n2", "n3"), ports=[7201, 7202, 7203])
    node = nodes.write_node(os.path.join(root, "template", "n1"), spec, "n1")
    rec.append_entries(node, rec.commands(2, 2, [1, 2, 3]), current_term=2)
    nodes.write_snapshot(node, SERVERS[:1], 2, 4, state=rec.envelope(3))
    rec.append_entries(node, rec.commands(5, 3, [6, 5, 7]), current_term=3)
    rec.drop_entries(node, 2)
    done = os.path.join(root, "done", "n1")
    shutil.copytree(node, done)
    result = crash._run_inprocess(raft_recover, dict(path=done, servers=SERVERS))
    assert result.get("changed") and not result.get("failed"), result
    assert not crash.verify_node(done)
    return {"dir": os.path.dirname(node), "old": state_digest(node), "new": recovered_digest(done)}


def after_crash(template, trial_dir, node, exchange):
    problems = []
    if state_digest(node) != template["old"] and recovered_digest(node) != template["new"]:
        aside = [path for path in crash._siblings(trial_dir) if fs.OLD_MARK in os.path.basename(path)]
        gap = not exchange and not os.path.lexists(node) and len(aside) == 1 and \
            state_digest(aside[0]) == template["old"]
        if not gap:
            problems.append("the node is neither the old nor the recovered state: %s"
                            % sorted(os.listdir(trial_dir)))
    if not any(state_digest(path) == template["old"] for path in [node] + crash._all_dirs(trial_dir)):
        problems.append("the old state is nowhere complete")
    return problems


def next_run(template, args, trial_dir, node, exchange):
    saved = fs._RENAMEAT2
    if not exchange:
        fs._RENAMEAT2 = None
    try:
        result = crash._run_inprocess(raft_recover, args)
    finally:
        fs._RENAMEAT2 = saved
    problems = ["the next run failed: %s" % result["msg"]] if result.get("failed") else []
    if recovered_digest(node) != template["new"]:
        problems.append("the next run did not converge: %s" % result.get("msg"))
    leftovers = [path for path in crash._all_dirs(trial_dir)
                 if any(mark in os.path.basename(path) for mark in crash.LEFTOVER_MARKS)]
    problems += ["leftover %s" % os.path.relpath(path, trial_dir) for path in leftovers]
    kept = [path for path in crash._siblings(trial_dir) if path.endswith("~")]
    problems += ["kept %s is not the old state" % path for path in kept if state_digest(path) != template["old"]]
    if not kept:
        problems.append("the old state was not kept")
    problems += crash.verify_node(node)
    return problems, result.get("recovered") or {}


def trial(template, work, exchange, crash_at="", delay=None):
    scenario = crash.Scenario("recover", "raft_recover", template["dir"], dict(servers=SERVERS), template["old"], "",
                              True, exchange)
    trial_dir = os.path.join(work, "%s-%s-%s" % (int(exchange), crash_at.replace(":", "-"), delay))
    args = crash._materialize(scenario, trial_dir)
    child = crash.run_child(scenario, args, trial_dir, crash_at=crash_at, delay=delay)
    killed = child["returncode"] in (137, -9)
    # not killed: a delay past the end, or "after" a call that raised (the run lock's first open finds no file)
    problems = [] if killed or child["returncode"] == 0 else ["failed on its own: %s" % child.get("stderr")]
    problems += after_crash(template, trial_dir, args["path"], exchange)
    more, recovered = next_run(template, args, trial_dir, args["path"], exchange)
    shutil.rmtree(trial_dir)
    return {"problems": problems + more, "killed": killed, "recovered": recovered, "child": child}


@pytest.mark.parametrize("exchange", [True, False], ids=["exchange", "fallback"])
def test_kill_at_every_step(oracle, template, tmp_path, exchange):
    clean = trial(template, str(tmp_path), exchange)
    assert clean["child"]["returncode"] == 0 and not clean["problems"], clean
    points = clean["child"]["points"]
    assert points >= 20, clean["child"]["trace"]
    failures, counts = [], {"killed before": 0, "removed": 0, "kept": 0, "restored": 0}
    delays = [round(clean["child"]["main_seconds"] * share, 4) for share in (0.3, 0.6, 0.9)]
    every = 1 if exchange else 2  # the fallback differs only in the swap: every other step of it
    jobs = [("%s:%d" % (kind, number), None) for number in range(1, points + 1, every) for kind in ("before", "after")]
    for crash_at, delay in jobs + [("", delay) for delay in delays]:
        out = trial(template, str(tmp_path), exchange, crash_at, delay)
        counts["killed before"] += out["killed"] and crash_at.startswith("before")
        for key, name in (("removed", "removed"), ("kept", "kept_as_backup"), ("restored", "restored")):
            counts[key] += bool(out["recovered"].get(name))
        if out["problems"]:
            failures.append((crash_at, delay, out["problems"]))
    assert not failures, (points, failures[:10])
    assert counts["killed before"] == len(range(1, points + 1, every))  # every fault point was reached
    assert counts["removed"] and counts["kept"]  # kills landed before and after the swap: recovery had work
    if not exchange:
        assert counts["restored"]  # the window between the two renames was hit and put right
