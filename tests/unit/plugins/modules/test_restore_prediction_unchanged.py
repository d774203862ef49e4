"""raft_restore's prediction from a manifest (src_manifest, check mode) also says when the node already holds exactly
the backup (issue 15 item 2: the restore role's preflight no longer hashes the node with find and compares the sums
in Jinja; one raft_restore check run reads, hashes, compares and judges)."""

import json
import os

from ansible_collections.opstack.conductor.plugins.modules import raft_backup, raft_restore, raft_state
from ansible_collections.opstack.conductor.tests.support.fs import tree
from ansible_collections.opstack.conductor.tests.support.nodes import SERVERS, has_run


def node_and_backup(run_module, root):
    node = os.path.join(str(root), "raft", "seq-1")
    assert not run_module(raft_state.main, dict(path=node, server_id="seq-1", servers=SERVERS)).get("failed")
    made = run_module(raft_backup.main, dict(path=node, dest=str(root / "b")))
    assert made.get("changed"), made
    with open(os.path.join(made["backup_path"], "manifest.json")) as handle:
        return node, json.load(handle)


def test_a_node_holding_exactly_the_backup_is_predicted_unchanged(tmp_path, run_module):
    node, manifest = node_and_backup(run_module, tmp_path)
    before = tree(str(tmp_path))
    predicted = run_module(raft_restore.main, dict(src_manifest=manifest, path=node, expected_servers=SERVERS),
                           check_mode=True)
    assert predicted["action"] == "unchanged" and not predicted["changed"], predicted
    assert predicted["msg"] == "the node already holds exactly this backup"
    assert tree(str(tmp_path)) == before


def test_a_node_that_moved_on_or_is_gone_is_still_predicted_restored(tmp_path, run_module):
    node, manifest = node_and_backup(run_module, tmp_path)
    has_run(node, SERVERS, snapshot=False)  # newer than the backup: refused without force
    refused = run_module(raft_restore.main, dict(src_manifest=manifest, path=node), check_mode=True)
    assert refused.get("failed") and "older than the node's log" in refused["msg"], refused
    forced = run_module(raft_restore.main, dict(src_manifest=manifest, path=node, force=True), check_mode=True)
    assert forced["action"] == "restore" and forced["changed"], forced
    os.rename(node, node + ".gone")
    wiped = run_module(raft_restore.main, dict(src_manifest=manifest, path=node), check_mode=True)
    assert wiped["action"] == "restore" and wiped["changed"], wiped
