"""Crash injection and a full disk, fast slice (the stress run is `make crash`, tests/reliability/crash.py).

A module run is killed (os._exit(137) at a fault point: before or after an open-for-write, write, fsync, mkdir,
rename, renameat2 exchange, unlink, chmod...; or SIGKILL after a random delay). Then the node directory must hold
the complete old or the complete new state, the old state must be complete somewhere, and the next run must
recover (remove, put back or keep as a backup what the killed run left), converge, and leave a node that our
reader and the oracle verify clean.
"""

import contextlib
import json
import os
import shutil
import subprocess

import pytest

from ansible_collections.opstack.conductor.tests.reliability import crash
from ansible_collections.opstack.conductor.tests.support.fs import tree
from ansible_collections.opstack.conductor.tests.support.nodes import loopback_spec, write_node

pytestmark = pytest.mark.reliability  # `make test-reliability` selects these by marker


@pytest.fixture(scope="module")
def scenarios(oracle, tmp_path_factory):
    return {s.label: s for s in crash.prepare(str(tmp_path_factory.mktemp("crash-prepare")))}


def _points(scenario, work):
    probe = os.path.join(work, "probe-" + scenario.label.replace("/", "-"))
    clean = crash.run_child(scenario, crash._materialize(scenario, probe), probe)
    assert clean["returncode"] == 0 and not clean["result"].get("failed"), clean
    shutil.rmtree(probe)
    return clean["points"], clean["main_seconds"]


def test_kill_at_fault_points(scenarios, tmp_path):
    """Every point of a forced replace (with RENAME_EXCHANGE), before and after; every other point of a
    replace without backup on the two-rename fallback; the swap of a restore on the fallback; every third point
    of a restore and of a backup, every fourth of a create and a repair; and random SIGKILLs. ~100 trials."""
    work = str(tmp_path)
    jobs = []
    # (scenario, every n-th point, or the last n points when negative, kinds, random delays)
    plan = [("replace", 1, ("before", "after"), 3), ("replace-nobackup/fallback", 2, ("after",), 2),
            ("restore", 3, ("before",), 2), ("restore/fallback", -10, ("after",), 0), ("backup", 3, ("after",), 2),
            ("create", 4, ("before",), 1), ("repair/fallback", 4, ("after",), 1)]
    for label, every, kinds, delays in plan:
        scenario = scenarios[label]
        points, seconds = _points(scenario, work)
        numbers = range(points + every + 1, points + 1) if every < 0 else range(1, points + 1, every)
        jobs += [(scenario, kind, number) for number in numbers for kind in kinds]
        jobs += [(scenario, "delay", round(seconds * (index + 0.5) / max(delays, 1), 4)) for index in range(delays)]
    results = crash.run_jobs(jobs, os.path.join(work, "trials"), processes=2, log=lambda *_: None)
    report = crash.tally(results)
    assert report["failed"] == 0, json.dumps(report["failures"], indent=1)[:6000]
    assert report["trials"] == len(jobs) >= 90
    replace = report["by_scenario"]["replace"]
    # the kills landed on both sides of the swap, and recovery had work to do
    assert replace["after_crash_old"] and replace["after_crash_new"] and replace["recovered_removed"]
    assert replace.get("recovered_kept_as_backup")
    assert report["by_scenario"]["restore/fallback"].get("recovered_restored")
    assert report["by_scenario"]["backup"].get("removed_partials")


# ================================================================================================================
# A full disk
# ================================================================================================================


@contextlib.contextmanager
def small_disk(path, size):
    """A tmpfs of ``size`` at ``path`` (root); without mount, RLIMIT_FSIZE of ``size`` in the module's process."""
    os.makedirs(path)
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=%d,mode=0755" % size, "tmpfs", path], capture_output=True,
        check=False).returncode == 0
    try:
        yield {} if mounted else {"OPSTACK_FSIZE_LIMIT": str(size)}
    finally:
        if mounted:
            subprocess.run(["umount", "-l", path], check=True)


def run_child(module, args, work, env):
    scenario = crash.Scenario("disk", module, "", {}, None, "", False)
    trial = os.path.join(work, "disk-run")
    os.environ.update(env)
    try:
        out = crash.run_child(scenario, args, trial)
    finally:
        for key in env:
            os.environ.pop(key)
    assert out["returncode"] == 0, out["stderr"]
    return out["result"]


SERVERS = [{"id": "n1", "address": "127.0.0.1:7101"}]


def test_full_disk_leaves_the_old_state_and_no_staging(scenarios, tmp_path):
    disk = str(tmp_path / "disk")
    with small_disk(disk, 160 * 1024) as env:
        node = os.path.join(disk, "n1")
        spec = loopback_spec(("n1",), ports=[7101])
        write_node(node, spec, "n1")
        before = tree(disk, include_root=True)
        # 64 KiB pages: the new files need 512 KiB; 160 KiB is all there is
        result = run_child("raft_state", dict(path=node, server_id="n1", servers=SERVERS, term=5, force=True,
                                              page_size=65536), str(tmp_path), env)
        assert result["failed"] and "the previous state is in place" in result["msg"], result
        assert "No space left on device" in result["msg"] or "File too large" in result["msg"], result["msg"]
        assert tree(disk, include_root=True) == before  # old state byte-identical, no staging or backup left

        other = os.path.join(disk, "n2")
        result = run_child("raft_state", dict(path=other, server_id="n1", servers=SERVERS, page_size=65536),
                           str(tmp_path), env)
        assert result["failed"] and tree(disk, include_root=True) == before

        # a restore of a 1 MiB grown state onto the small disk: refused by the disk, the fresh state stays
        src = os.path.join(crash_template(scenarios, "restore"), "backups")
        backup = os.path.join(src, os.listdir(src)[0])
        result = run_child("raft_restore", dict(src=backup, path=node, force=True), str(tmp_path), env)
        assert result["failed"] and "the previous state is in place" in result["msg"], result
        assert tree(disk, include_root=True) == before

        # a backup into the small disk: no finished and no partial backup is left
        grown = os.path.join(crash_template(scenarios, "backup"), "n1")
        result = run_child("raft_backup", dict(path=grown, dest=os.path.join(disk, "backups")), str(tmp_path), env)
        assert result["failed"], result
        assert os.listdir(os.path.join(disk, "backups")) == []


def crash_template(scenarios, label):
    return scenarios[label].template
