"""Lock safety against the real thing: while our modules run in a bounded loop on a node directory (another
process, tests/reliability/lock_loop.py), a real Raft node (oracle `cluster --hold`, 1 node on 127.0.0.1) is
started and stopped on it again and again.

  * the node never waits on us: bbolt retries a held flock every 50 ms and raft-boltdb waits forever, so the
    time NewBoltStore takes on both files (the oracle's open_ms) must stay within one retry;
  * our tools never call a locked node writable: every run that lies wholly inside a window where the node was
    up says locked and writes nothing, and the directory and files the node has open are never swapped away
    while it runs (same inodes when it comes up and when it goes down), though replacements do happen between;
  * every start of the node works on whatever state is there (ours or its own), and the end state verifies.
"""

import json
import os
import random
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "reliability"))

from common import node_state, state_digest  # noqa: E402

LOOP = os.path.join(os.path.dirname(HERE), "reliability", "lock_loop.py")
CYCLES = 8
ONE_RETRY_MS = 50 + 75  # one 50 ms flock retry, plus the initialize transaction's own I/O on a loaded machine


def _identity(node):
    return [(os.stat(path).st_dev, os.stat(path).st_ino) for path in
            (node, os.path.join(node, "raft-log.db"), os.path.join(node, "raft-stable.db"))]


def test_real_node_never_waits_on_us_and_we_never_write_under_it(oracle, run_module, ports, tmp_path):
    from ansible_collections.opstack.conductor.plugins.modules import raft_state

    first, second = ports(2)
    memberships = [[{"id": "n1", "address": "127.0.0.1:%d" % port}] for port in (first, second)]
    node = str(tmp_path / "n1")
    assert run_module(raft_state.main, dict(path=node, server_id="n1", servers=memberships[0]))["changed"]
    (tmp_path / "servers.json").write_text(json.dumps(memberships))
    stop, out = str(tmp_path / "stop"), str(tmp_path / "runs.jsonl")
    loop = subprocess.Popen([sys.executable, LOOP, node, str(tmp_path / "servers.json"), out, stop, "120"])
    windows, opens, results = [], [], []
    rng = random.Random(7)
    try:
        time.sleep(0.5)  # let the loop get going
        for cycle in range(CYCLES):
            hold = oracle.ClusterHold(("v2_3_1", "v1")[cycle % 2], {"n1": node}, "--apply", 2, hold=60,
                                      ready_timeout=60)
            with hold as ready:
                up = time.monotonic()  # from here until `down` the node holds its flocks
                files_up = _identity(node)
                assert ready["ready"], ready
                opens.append(ready["nodes"][0]["open_ms"])
                time.sleep(rng.uniform(0.3, 0.8))
                files_down = _identity(node)
                down = time.monotonic()
            windows.append((up, down))
            # the directory and files the running node had open were never swapped away under it
            assert files_up == files_down, "node %s replaced while it ran" % node
            results.append(hold.result)
            time.sleep(rng.uniform(0.0, 0.4))
    finally:
        open(stop, "w").close()
        loop.wait(timeout=60)
    runs = [json.loads(line) for line in open(out)]

    assert all(result["ok"] for result in results), [r["problems"] for r in results]
    assert max(opens) < ONE_RETRY_MS, opens

    def inside(run):
        return any(up <= run["start"] and run["end"] <= down for up, down in windows)

    held = [run for run in runs if inside(run)]
    assert len(held) >= CYCLES, "the loop hardly ran while the node was up: %d runs" % len(held)
    for run in held:
        assert run["locked"] is True, run
        if run["module"] == "raft_state":  # refused, or the asked-for membership is the live one: left alone
            assert not run["changed"], run
            assert (run["failed"] and "op-conductor is running" in run["msg"]) or run["action"] == "live", run
        if run["module"] == "raft_backup":
            assert run["failed"] and "op-conductor is running" in run["msg"], run
        if run["module"] == "raft_state_info":
            assert not run["failed"], run
    writes = [run for run in runs if run["module"] == "raft_state" and not run["check_mode"] and run["changed"]]
    assert writes, "no replacement happened between the node's runs"
    assert all(not run["failed"] for run in runs if run["module"] == "raft_state_info"), runs

    final = node_state.read_node_state(node, verify=True)
    assert final.integrity.ok, final.integrity.problems
    for name in ("raft-log.db", "raft-stable.db"):
        assert oracle.check("v2_3_1", os.path.join(node, name))["ok"]
    assert not [entry for entry in os.listdir(str(tmp_path)) if "opstack" in entry]
    assert state_digest(node)
    print("open_ms per start:", opens, "runs:", len(runs), "inside windows:", len(held), "replacements:", len(writes))
