"""raft_backup, raft_backup_info and raft_restore with ``network`` (issue 19 item 4): the chain is recorded in the
manifest, another chain's backup is refused naming both chains (nothing changes), and a bad name is refused before
anything is read or written."""

import os

import pytest

from ansible_collections.opstack.conductor.plugins.modules import raft_backup, raft_backup_info, raft_restore
from ansible_collections.opstack.conductor.plugins.modules import raft_state
from ansible_collections.opstack.conductor.tests.support.fs import tree
from ansible_collections.opstack.conductor.tests.support.nodes import SERVERS, has_run


def chain_node(run_module, root, entries=20):
    node = os.path.join(str(root), "raft", "seq-1")
    assert run_module(raft_state.main, dict(path=node, server_id="seq-1", servers=SERVERS))["changed"]
    has_run(node, SERVERS, term=2, entries=entries, snapshot=False)
    return node


def test_another_chains_backup_is_refused_naming_both_and_nothing_changes(tmp_path, run_module):
    node = chain_node(run_module, tmp_path)
    made = run_module(raft_backup.main, dict(path=node, dest=str(tmp_path / "b"), network="base-mainnet"))
    assert made["manifest"]["cluster"]["network"] == "base-mainnet"
    has_run(node, SERVERS, term=2, entries=10, snapshot=False)  # the node moved back: a restore would change it
    before = tree(tmp_path)
    options = dict(src=made["backup_path"], path=node, expected_servers=SERVERS, network="op-mainnet")
    refused = run_module(raft_restore.main, options)
    assert refused["failed"], refused
    assert "the backup is of network 'base-mainnet', the node's network is 'op-mainnet'" in refused["msg"]
    assert tree(tmp_path) == before
    listed = run_module(raft_backup_info.main, dict(path=str(tmp_path / "b"), server_id="seq-1",
                                                    network="op-mainnet"))
    assert listed["newest"] is None and listed["backups"][0]["mismatches"] == [
        "the backup is of network 'base-mainnet', the node's network is 'op-mainnet'"]


def test_forced_it_restores_and_keeps_the_node_state(tmp_path, run_module):
    node = chain_node(run_module, tmp_path)
    made = run_module(raft_backup.main, dict(path=node, dest=str(tmp_path / "b"), network="base-mainnet"))
    has_run(node, SERVERS, term=2, entries=10, snapshot=False)
    forced = run_module(raft_restore.main, dict(src=made["backup_path"], path=node, expected_servers=SERVERS,
                                                network="op-mainnet", force=True))
    assert forced["changed"] and os.path.isdir(forced["backup_dir"]), forced
    assert any("force=true overrode: the backup is of network 'base-mainnet'" in str(w) for w in forced["warnings"]), \
        (forced["warnings"], forced["msg"])


@pytest.mark.parametrize("module", ["raft_backup", "raft_restore", "raft_backup_info"])
def test_a_bad_network_is_refused_naming_it_and_nothing_changes(tmp_path, run_module, module):
    node = chain_node(run_module, tmp_path)
    made = run_module(raft_backup.main, dict(path=node, dest=str(tmp_path / "b")))
    before = tree(tmp_path)
    args = {"raft_backup": dict(path=node, dest=str(tmp_path / "b")),
            "raft_restore": dict(src=made["backup_path"], path=node),
            "raft_backup_info": dict(path=str(tmp_path / "b"))}[module]
    main = {"raft_backup": raft_backup.main, "raft_restore": raft_restore.main,
            "raft_backup_info": raft_backup_info.main}[module]
    refused = run_module(main, dict(args, network="op mainnet"))
    assert refused["failed"] and "network='op mainnet'" in refused["msg"], refused
    assert tree(tmp_path) == before
