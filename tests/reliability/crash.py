"""Crash injection: kill a module mid-run at every fault point, then check what is on disk and that the next run
recovers and converges.

Scenarios (each run through crash_child.py in a subprocess):
  create            raft_state on an absent node directory
  replace           raft_state force=true backup=true over a live state of another membership
  replace-nobackup  the same with backup=false
  repair            raft_state on a half-written node (raft-stable.db missing)
  restore           raft_restore of a grown backup over a fresh node
  backup            raft_backup of a grown node
each with renameat2(RENAME_EXCHANGE) and, for the writers, with the two-rename fallback.

A trial kills the child just before or just after fault point N (os._exit(137), for every N of the scenario's
trace), or with SIGKILL at a random delay after main() starts. Then:
  1. right after the kill: the node directory holds the complete old or the complete new state (byte-identical to
     one of them, both verified once by our reader and every oracle cell); with the fallback path it may instead
     be absent with the old state complete in one ``.opstack-old-*`` leftover; the old state is never lost: it
     is in place or complete in a leftover or backup;
  2. the same module runs again, without a crash: it succeeds, reports what it recovered, and converges (the node
     holds the new state, no ``.opstack-*`` or ``.partial`` leftovers remain);
  3. every backup directory (``<path>.<pid>.<time>~``, pre-restore backups, raft-backup-*) is complete (equal to
     the old state, or verifying with its manifest), and the old state of a replace/repair/restore is in one;
  4. the final node verifies clean with our reader and through the oracle (check of both files, read).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import multiprocessing
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from typing import Dict, List, Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import RESULTS, go, node_state, state_digest, write_node, loopback_spec  # noqa: E402

from ansible.module_utils.testing import patch_module_args  # noqa: E402

CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "crash_child.py")
LEFTOVER_MARKS = (".opstack-new-", ".opstack-old-", ".partial")


# ================================================================================================================
# Fixtures of a scenario: the initial layout, the module call, the expected old and new states
# ================================================================================================================


@dataclass
class Scenario:
    name: str
    module: str
    template: str  # a directory holding the initial layout: node/ (maybe absent) and backups/
    args: Dict
    old: Optional[str]  # state digest of the node before, None when absent
    new: str  # state digest of the node after a successful run
    keeps_old: bool  # the old state must survive in a backup
    exchange: bool = True

    @property
    def label(self) -> str:
        return self.name + ("" if self.exchange else "/fallback")


def prepare(root: str, quick: bool = False) -> List[Scenario]:
    """Build the states every scenario starts from (with real Go-grown live states) and check them once."""
    from ansible_collections.opstack.conductor.plugins.modules import raft_backup

    spec_a = loopback_spec(("n1",))
    spec_b = loopback_spec(("n1",))  # same ID, another port: another membership
    fresh_a = write_node(os.path.join(root, "states", "fresh-a", "n1"), spec_a, "n1")
    grown = {}
    for label, spec in (("a", spec_a), ("b", spec_b)):
        node = write_node(os.path.join(root, "states", "grown-" + label, "n1"), spec, "n1")
        result = go.run("v2_3_1", "grow", "--node", "n1=" + node, "--entries", 260, "--size", 3000,
                        "--snapshot-every", 100, "--trailing-logs", 40, "--timeout", 60, timeout=300)
        assert result["ok"], result
        grown[label] = node
    for node in [fresh_a] + list(grown.values()):  # the old and new states every trial compares against
        problems = verify_node(node, cells=go.CELLS)
        assert not problems, (node, problems)
    # A finished backup of grown-a, made by the module itself.
    backups = os.path.join(root, "states", "backups")
    made = _run_inprocess(raft_backup, dict(path=grown["a"], dest=backups))
    assert made.get("changed") and not made.get("failed"), made
    backup_path = made["backup_path"]

    def template(name: str, node_from: Optional[str], drop: Optional[str] = None, with_backups: bool = False) -> str:
        directory = os.path.join(root, "templates", name)
        os.makedirs(directory)
        if node_from:
            shutil.copytree(node_from, os.path.join(directory, "n1"))
            if drop:
                os.unlink(os.path.join(directory, "n1", drop))
        if with_backups:
            shutil.copytree(backups, os.path.join(directory, "backups"))
        return directory

    servers_a = [server.to_dict() for server in spec_a.servers]
    for server in servers_a:
        server.pop("suffrage")
    state_args = dict(server_id="n1", servers=servers_a, initial_leader="n1")
    scenarios = []
    for exchange in (True, False):
        scenarios += [
            Scenario("create", "raft_state", template("create-%d" % int(exchange), None), state_args, None,
                     state_digest(fresh_a), False, exchange),
            Scenario("replace", "raft_state", template("replace-%d" % int(exchange), grown["b"]),
                     dict(state_args, force=True), state_digest(grown["b"]), state_digest(fresh_a), True, exchange),
            Scenario("replace-nobackup", "raft_state", template("replace-nb-%d" % int(exchange), grown["b"]),
                     dict(state_args, force=True, backup=False), state_digest(grown["b"]), state_digest(fresh_a),
                     False, exchange),
            Scenario("repair", "raft_state", template("repair-%d" % int(exchange), fresh_a, drop="raft-stable.db"),
                     state_args, _digest_without(fresh_a, "raft-stable.db"), state_digest(fresh_a), True,
                     exchange),
            Scenario("restore", "raft_restore", template("restore-%d" % int(exchange), fresh_a, with_backups=True),
                     dict(src=os.path.join("@", "backups", os.path.basename(backup_path))),
                     state_digest(fresh_a), state_digest(grown["a"]), True, exchange),
        ]
    scenarios.append(Scenario("backup", "raft_backup", template("backup", grown["a"]),
                              dict(dest=os.path.join("@", "dest")), state_digest(grown["a"]),
                              state_digest(grown["a"]), True))
    if quick:
        scenarios = [s for s in scenarios if s.exchange or s.name == "replace"]
    return scenarios


def _digest_without(node: str, name: str) -> str:
    with tempfile.TemporaryDirectory() as scratch:
        copy = os.path.join(scratch, "n1")
        shutil.copytree(node, copy)
        os.unlink(os.path.join(copy, name))
        return state_digest(copy)


def _run_inprocess(module, args: Dict) -> Dict:
    out = io.StringIO()
    try:
        with patch_module_args(dict(args, _ansible_check_mode=False)), contextlib.redirect_stdout(out):
            module.main()
    except SystemExit:
        pass
    return json.loads(out.getvalue())


def verify_node(node: str, cells=("v2_3_1",)) -> List[str]:
    """Problems found by our reader and by the oracle (check of both files, read through raft-boltdb)."""
    problems = []
    state = node_state.read_node_state(node, verify=True)
    problems += ["ours: " + p for p in state.integrity.problems]
    for cell in cells:
        out = subprocess.run([str(go.build(cell)), "checkmany"], capture_output=True, timeout=120, check=False,
                             input=("%s/raft-log.db\t%s\n%s/raft-stable.db\n" % (node, node, node)).encode())
        lines = [json.loads(line) for line in out.stdout.splitlines() if b'"begin"' not in line]
        if out.returncode != 0 or len(lines) != 2:
            problems.append("%s: oracle exited %d: %s" % (cell, out.returncode, out.stderr.decode()[-300:]))
            continue
        for line in lines:
            if not line["check"]["ok"]:
                problems.append("%s check: %s" % (cell, line["check"]["errors"][:2]))
        read = lines[0]["read"]
        if "open_error" in read or read.get("stable_error") or read.get("log_error") or read.get("nerrors"):
            problems.append("%s read: %s" % (cell, {k: read.get(k) for k in ("open_error", "stable_error",
                                                                             "log_error", "errors")}))
    return problems


# ================================================================================================================
# One trial
# ================================================================================================================


def _materialize(scenario: Scenario, trial_dir: str) -> Dict:
    shutil.copytree(scenario.template, trial_dir)
    args = {}
    for key, value in scenario.args.items():
        args[key] = value.replace("@", trial_dir, 1) if isinstance(value, str) and value.startswith("@") else value
    args["path"] = os.path.join(trial_dir, "n1")
    return args


def run_child(scenario: Scenario, args: Dict, trial_dir: str, crash_at: str = "", delay: Optional[float] = None,
              timeout: float = 120) -> Dict:
    args_path = os.path.join(trial_dir + ".args.json")
    trace_path = os.path.join(trial_dir + ".trace.json")
    with open(args_path, "w") as handle:
        json.dump(args, handle)
    env = dict(os.environ, OPSTACK_CRASH_AT=crash_at, PYTHONDONTWRITEBYTECODE="1")
    env.pop("OPSTACK_CRASH_DELAY", None)
    if delay is not None:
        env["OPSTACK_CRASH_DELAY"] = "%.4f" % delay
    if not scenario.exchange:
        env["OPSTACK_NO_EXCHANGE"] = "1"
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, CHILD, scenario.module, args_path, trace_path], env=env,
                          capture_output=True, timeout=timeout, check=False)
    out = {"returncode": proc.returncode, "seconds": time.perf_counter() - started,
           "stderr": proc.stderr.decode(errors="replace")[-2000:]}
    if os.path.exists(trace_path):  # written (atomically) only when the run was not killed
        with open(trace_path) as handle:
            out.update(json.load(handle))
        os.unlink(trace_path)
    if os.path.exists(trace_path + ".tmp"):
        os.unlink(trace_path + ".tmp")
    os.unlink(args_path)
    return out


def _siblings(trial_dir: str) -> List[str]:
    return sorted(os.path.join(trial_dir, entry) for entry in os.listdir(trial_dir))


def _all_dirs(trial_dir: str) -> List[str]:
    found = []
    for directory, dirs, _files in os.walk(trial_dir):
        found += [os.path.join(directory, name) for name in dirs]
    return found


def check_after_crash(scenario: Scenario, trial_dir: str, node: str) -> List[str]:
    problems = []
    digest = state_digest(node)
    leftovers_old = [path for path in _siblings(trial_dir) if ".opstack-old-" in os.path.basename(path)]
    if scenario.module == "raft_backup":
        if digest != scenario.old:
            problems.append("the backed-up node changed")
        dest = os.path.join(trial_dir, "dest")
        for entry in sorted(os.listdir(dest)) if os.path.isdir(dest) else []:
            if entry.startswith("raft-backup-") and not entry.endswith(".partial"):
                problems += _check_backup(os.path.join(dest, entry))
        return problems
    allowed = {scenario.new} | ({scenario.old} if scenario.old else {None})
    if digest not in allowed:
        fallback_gap = (not scenario.exchange and digest is None and len(leftovers_old) == 1 and
                        state_digest(leftovers_old[0]) == scenario.old)
        if not fallback_gap:
            problems.append("node is neither the complete old nor the complete new state (digest %s, leftovers %s)"
                            % (digest, [os.path.basename(p) for p in _siblings(trial_dir)]))
    if scenario.old and digest != scenario.old and (scenario.keeps_old or digest != scenario.new):
        # (backup=false drops the old state on request once the new one is in place)
        holders = [path for path in _all_dirs(trial_dir) if state_digest(path) == scenario.old]
        if not holders:
            problems.append("the old state is nowhere complete on disk")
    return problems


def _check_backup(path: str) -> List[str]:
    from ansible_collections.opstack.conductor.plugins.module_utils import _backup as backup

    try:
        backup.verify_backup(path)
    except Exception as exc:  # noqa: BLE001
        return ["finished backup %s does not verify: %s" % (os.path.basename(path), exc)]
    return []


def recover_and_check(scenario: Scenario, args: Dict, trial_dir: str, node: str, cells) -> Dict:
    """The next run of the same module (no crash): succeeds, converges, leaves no leftovers, loses nothing."""
    module = __import__("ansible_collections.opstack.conductor.plugins.modules." + scenario.module,
                        fromlist=["main"])
    from ansible_collections.opstack.conductor.plugins.module_utils import _fs as fs

    saved = fs._RENAMEAT2
    if not scenario.exchange:
        fs._RENAMEAT2 = None
    try:
        result = _run_inprocess(module, args)
    finally:
        fs._RENAMEAT2 = saved
    problems = []
    if result.get("failed"):
        problems.append("the next run failed: %s" % result.get("msg"))
    leftovers = [path for path in _all_dirs(trial_dir) if any(mark in os.path.basename(path)
                                                              for mark in LEFTOVER_MARKS)]
    if leftovers:
        problems.append("leftovers after the next run: %s" % [os.path.relpath(p, trial_dir) for p in leftovers])
    if scenario.module == "raft_backup":
        if state_digest(node) != scenario.old:
            problems.append("the backed-up node changed")
        finished = [os.path.join(trial_dir, "dest", e) for e in os.listdir(os.path.join(trial_dir, "dest"))]
        for path in finished:
            problems += _check_backup(path)
        if not finished:
            problems.append("no backup after the next run")
    else:
        if state_digest(node) != scenario.new:
            problems.append("the next run did not converge to the new state")
        backups = [path for path in _siblings(trial_dir) if path.endswith("~")]
        for path in backups:
            if state_digest(path) not in (scenario.old,):
                problems.append("backup %s is not a complete copy of the old state" % os.path.basename(path))
        if scenario.keeps_old and scenario.old not in [state_digest(path) for path in backups]:
            problems.append("the old state is in no backup")
        if not scenario.keeps_old and scenario.old is None and backups:
            problems.append("backups of nothing: %s" % backups)
    problems += ["final: " + p for p in verify_node(node if scenario.module != "raft_backup" else node, cells)]
    recovered = result.get("recovered") or {}
    return {"problems": problems, "recovered": {k: bool(v) for k, v in recovered.items()},
            "removed_partials": bool(result.get("removed")) if scenario.module == "raft_backup" else False}


def trial(job) -> Dict:
    scenario, kind, value, work, cells, number = job
    trial_dir = os.path.join(work, "%d-%s-%s-%s" % (number, scenario.label.replace("/", "-"), kind, value))
    out = {"scenario": scenario.label, "kind": kind, "value": value, "problems": []}
    try:
        args = _materialize(scenario, trial_dir)
        node = args["path"]
        if kind == "delay":
            child = run_child(scenario, args, trial_dir, delay=value)
        else:
            child = run_child(scenario, args, trial_dir, crash_at="%s:%d" % (kind, value))
        out["killed"] = child["returncode"] in (137, -9)
        if not out["killed"] and (child["returncode"] != 0 or child.get("result", {}).get("failed")):
            out["problems"].append("uninjected failure: rc %s %s %s" % (
                child["returncode"], child["stderr"][-500:], child.get("result", {}).get("msg")))
        out["problems"] += check_after_crash(scenario, trial_dir, node)
        out["state_after_crash"] = ("old" if state_digest(node) == scenario.old else
                                    "new" if state_digest(node) == scenario.new else "absent")
        recovered = recover_and_check(scenario, args, trial_dir, node, cells)
        out["problems"] += recovered["problems"]
        out["recovered"] = recovered["recovered"]
        out["removed_partials"] = recovered["removed_partials"]
    except Exception:  # noqa: BLE001
        out["problems"].append("harness: " + traceback.format_exc()[-1500:])
    finally:
        shutil.rmtree(trial_dir, ignore_errors=True)
    return out


# ================================================================================================================
# The run
# ================================================================================================================


def plan_trials(scenarios: List[Scenario], work: str, delays_per_scenario: int, seed: str, every: int = 1,
                kinds=("before", "after")) -> List[tuple]:
    """Every fault point (before and after it) of each scenario, plus SIGKILLs at random delays."""
    jobs = []
    rng = random.Random("crash/" + seed)
    for scenario in scenarios:
        probe_dir = os.path.join(work, "probe-" + scenario.label.replace("/", "-"))
        args = _materialize(scenario, probe_dir)
        clean = run_child(scenario, args, probe_dir)
        assert clean["returncode"] == 0 and not clean["result"].get("failed"), (scenario.label, clean)
        shutil.rmtree(probe_dir)
        points = clean["points"]
        scenario_points = list(range(1, points + 1, every))
        for number in scenario_points:
            for kind in kinds:
                jobs.append((scenario, kind, number))
        # SIGKILL after a random delay into main() (imports done): uniform over the module's run time.
        for _delay in range(delays_per_scenario):
            jobs.append((scenario, "delay", round(rng.uniform(0, clean["main_seconds"]), 4)))
    return jobs


def run(scenarios, work, delays_per_scenario=10, seed="0", every=1, processes=2, cells=("v2_3_1",), log=print,
        kinds=("before", "after")):
    return run_jobs(plan_trials(scenarios, work, delays_per_scenario, seed, every, kinds), work, processes, cells, log)


def run_jobs(jobs, work, processes=2, cells=("v2_3_1",), log=print) -> List[Dict]:
    os.makedirs(work, exist_ok=True)
    log("crash: %d trials over %d scenarios" % (len(jobs), len({job[0].label for job in jobs})))
    results = []
    context = multiprocessing.get_context("fork")
    with context.Pool(processes) as pool:
        tasks = [job + (work, cells, number) for number, job in enumerate(jobs)]
        for number, result in enumerate(pool.imap_unordered(trial, tasks), 1):
            results.append(result)
            if number % 100 == 0:
                log("  %d/%d trials, %d with problems" % (number, len(jobs), sum(1 for r in results if r["problems"])))
    return results


def tally(results: List[Dict]) -> Dict:
    by_scenario = collections.defaultdict(collections.Counter)
    failures = []
    for result in results:
        counter = by_scenario[result["scenario"]]
        counter["trials"] += 1
        counter["killed"] += bool(result.get("killed"))
        counter["after_crash_" + result.get("state_after_crash", "?")] += 1
        for key, value in (result.get("recovered") or {}).items():
            counter["recovered_" + key] += bool(value)
        counter["removed_partials"] += bool(result.get("removed_partials"))
        if result["problems"]:
            counter["failed"] += 1
            failures.append(result)
    return {"trials": len(results), "killed": sum(c["killed"] for c in by_scenario.values()),
            "failed": len(failures), "by_scenario": {k: dict(v) for k, v in sorted(by_scenario.items())},
            "failures": failures[:40]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--delays", type=int, default=60, help="random-delay SIGKILL trials per scenario")
    parser.add_argument("--seed", default=None)
    parser.add_argument("--processes", type=int, default=max(1, min(4, os.cpu_count() or 1)))
    parser.add_argument("--cells", default="v2_3_1,v1")
    parser.add_argument("--out", default=str(RESULTS / "crash.json"))
    args = parser.parse_args(argv)
    seed = args.seed or time.strftime("%Y%m%d%H%M%S")
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="opstack-crash-") as work:
        scenarios = prepare(os.path.join(work, "prepare"))
        results = run(scenarios, os.path.join(work, "trials"), args.delays, seed, processes=args.processes,
                      cells=tuple(args.cells.split(",")))
    report = tally(results)
    report.update(seed=seed, command="make crash CRASH_SEED=%s" % seed, wall_seconds=round(time.time() - started, 1),
                  started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)))
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as handle:
        json.dump(report, handle, indent=1, sort_keys=True)
    print(json.dumps({k: report[k] for k in ("trials", "killed", "failed", "wall_seconds")}))
    for name, counts in report["by_scenario"].items():
        print("  %-26s %s" % (name, counts))
    for failure in report["failures"][:15]:
        print("FAILURE", json.dumps(failure)[:1200])
    print("results: %s" % args.out)
    return 1 if report["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
