"""Issue 13 item 15 as an operator runs it: an ad hoc raft_state_info on a damaged node shows the one-line verdict,
and fails (non-zero exit) with fail_on_problems=true."""

from __future__ import annotations

import json
import subprocess
import sys

from ansible_collections.opstack.conductor.tests.support.playbooks import ansible_env, tool


def adhoc(tmp_path, module_args):
    return subprocess.run([tool("ansible"), "localhost", "-c", "local", "-e",
                           "ansible_python_interpreter=" + sys.executable, "-m", "opstack.conductor.raft_state_info",
                           "-a", json.dumps(module_args)], cwd=str(tmp_path), capture_output=True, text=True,
                          timeout=120, env=ansible_env(tmp_path), check=False)


def test_adhoc_verdict_on_a_damaged_node(tmp_path):
    from ansible_collections.opstack.conductor.plugins.module_utils import _cluster as cluster

    spec = cluster.validate_cluster([{"id": "s1", "address": "127.0.0.1:1"}], None, 1)[0]
    node = tmp_path / "s1"
    node.mkdir()
    for name, data in cluster.node_databases(spec, "s1").items():
        (node / name).write_bytes(data)
    healthy = adhoc(tmp_path, {"path": str(node), "fail_on_problems": True})
    assert healthy.returncode == 0 and "s1: ok, term 1, last index 1, 1 voter" in healthy.stdout, healthy.stdout
    with open(str(node / "raft-log.db"), "r+b") as handle:
        handle.write(b"\xff" * 8192)  # both meta pages
    reported = adhoc(tmp_path, {"path": str(node)})
    assert reported.returncode == 0 and '"msg": "s1: DAMAGED: raft-log.db: ' in reported.stdout, reported.stdout
    failed = adhoc(tmp_path, {"path": str(node), "fail_on_problems": True})
    assert failed.returncode != 0 and "FAILED" in failed.stdout and "s1: DAMAGED: " in failed.stdout, failed.stdout
