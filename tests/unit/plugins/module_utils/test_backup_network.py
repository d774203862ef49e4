"""Issue 19 item 4: the chain (``network``) in a backup's cluster identity. A backup of one chain is refused on a node
of another (naming both chains) unless forced, and a forced restore keeps the node's state; a backup that records
no chain (an earlier manifest, or made without a network) is accepted with a warning naming the node's chain."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.opstack.conductor.plugins.module_utils import _backup as backups
from ansible_collections.opstack.conductor.plugins.module_utils import _cluster as cluster
from ansible_collections.opstack.conductor.plugins.module_utils import _fs as fs
from ansible_collections.opstack.conductor.plugins.module_utils import _servers as servers
from ansible_collections.opstack.conductor.tests.support.fs import tree
from ansible_collections.opstack.conductor.tests.support.nodes import SERVERS, has_run, write_node

MEMBERS = [dict(server, suffrage="voter") for server in SERVERS]  # the expected membership, as the role passes it


def node_at(root, name="seq-1"):
    node = os.path.join(str(root), name)
    write_node(node, cluster.validate_cluster(SERVERS, "seq-1", 1)[0], "seq-1")
    has_run(node, SERVERS, term=2, entries=20, snapshot=False)
    return node


def backed_up(node, dest, network=None):
    return backups.make_backup(node, str(dest), backups.plan_backup(node, network=network), online=False)


def resealed(made, change):
    """The backup's manifest changed by ``change`` and sealed again, as an earlier version would have written it."""
    manifest = dict(made.manifest)
    change(manifest)
    manifest = backups.seal(manifest) if manifest["format"] >= 2 else manifest
    with open(os.path.join(made.path, backups.MANIFEST), "w") as handle:
        json.dump(manifest, handle)
    return manifest


def test_the_manifest_records_the_chain_and_it_verifies(tmp_path):
    made = backed_up(node_at(tmp_path / "n"), tmp_path / "b", network="op-mainnet")
    assert made.manifest["cluster"]["network"] == "op-mainnet"
    assert made.manifest["cluster"]["id"] is not None  # the seeding identity is still there
    assert backups.verify_backup(made.path)[0].manifest["cluster"]["network"] == "op-mainnet"


def test_a_backup_made_without_a_network_records_none(tmp_path):
    made = backed_up(node_at(tmp_path / "n"), tmp_path / "b")
    assert "network" not in made.manifest["cluster"]


def test_a_backup_of_chain_a_is_refused_on_chain_b_and_nothing_changes(tmp_path):
    node = node_at(tmp_path / "n")
    made = backed_up(node, tmp_path / "b", network="chain-a")
    before = tree(tmp_path)
    plan = backups.plan_restore(made.path, node, "seq-1", MEMBERS, force=False, network="chain-b")
    assert plan.action == backups.RESTORE_REFUSED
    assert "the backup is of network 'chain-a', the node's network is 'chain-b'" in plan.reason
    predicted = backups.predict_restore(made.manifest, "src_manifest", node, "seq-1", MEMBERS, force=False,
                                        network="chain-b")
    assert predicted.action == backups.RESTORE_REFUSED and "'chain-a'" in predicted.reason
    assert tree(tmp_path) == before


def test_the_same_chain_is_not_refused(tmp_path):
    node = node_at(tmp_path / "n")
    made = backed_up(node, tmp_path / "b", network="chain-a")
    plan = backups.plan_restore(made.path, node, "seq-1", MEMBERS, force=False, network="chain-a")
    assert plan.action == backups.RESTORE_UNCHANGED and plan.refusals == [] and plan.warnings == []


def test_forced_across_chains_the_node_state_is_kept_first(tmp_path):
    other = node_at(tmp_path / "other")
    made = backed_up(other, tmp_path / "b", network="chain-a")
    node = os.path.join(str(tmp_path / "n"), "seq-1")
    write_node(node, cluster.validate_cluster(SERVERS, "seq-1", 1)[0], "seq-1")  # chain B's node: only seeded
    before = tree(tmp_path / "n")
    plan = backups.plan_restore(made.path, node, "seq-1", MEMBERS, force=True, network="chain-b")
    assert plan.action == backups.RESTORE
    assert "forced past: the backup is of network 'chain-a', the node's network is 'chain-b'" in plan.reason
    kept = backups.restore(plan, node, 0o700, fs.Ownership())
    assert kept and os.path.isdir(kept)  # the node's previous state, kept beside it
    assert dict(tree(kept)) == {
        rel[len("seq-1/"):]: entry for rel, entry in before.items() if rel.startswith("seq-1/")}


@pytest.mark.parametrize("old", ["format 2 without network", "format 1"])
def test_a_backup_that_records_no_chain_is_accepted_with_a_warning(tmp_path, old):
    node = node_at(tmp_path / "n")
    made = backed_up(node, tmp_path / "b")
    if old == "format 1":
        resealed(made, lambda m: [m.pop(key) for key in ("digest", "position", "cluster")] and m.update(format=1))
    plan = backups.plan_restore(made.path, node, "seq-1", MEMBERS, force=False, network="chain-b")
    assert plan.action == backups.RESTORE_UNCHANGED and plan.refusals == []
    assert any("records no network" in w and "'chain-b'" in w for w in plan.warnings), plan.warnings


def test_an_inventory_without_a_network_does_not_check_it_but_says_the_backups(tmp_path):
    node = node_at(tmp_path / "n")
    made = backed_up(node, tmp_path / "b", network="chain-a")
    plan = backups.plan_restore(made.path, node, "seq-1", MEMBERS, force=False)
    assert plan.refusals == []
    assert any("'chain-a'" in w and "no network was given" in w for w in plan.warnings), plan.warnings


def test_backup_info_does_not_call_another_chains_backup_usable(tmp_path):
    made = backed_up(node_at(tmp_path / "n"), tmp_path / "b", network="chain-a")
    report = backups.describe_backup(made.path, True, "seq-1", MEMBERS, network="chain-b")
    assert not report["usable"] and report["mismatches"] == [
        "the backup is of network 'chain-a', the node's network is 'chain-b'"]
    assert backups.describe_backup(made.path, True, "seq-1", MEMBERS, network="chain-a")["usable"]


def test_a_manifest_whose_network_is_not_a_string_is_refused(tmp_path):
    made = backed_up(node_at(tmp_path / "n"), tmp_path / "b", network="chain-a")
    resealed(made, lambda m: m.update(cluster=dict(m["cluster"], network=7)))
    with pytest.raises(backups.BackupError, match=r"fields of the wrong type \(cluster\)"):
        backups.read_manifest(made.path)


@pytest.mark.parametrize("value", ["", " chain", "chain/a", "a" * 65, 7, "chain\n"])
def test_a_bad_network_is_refused_naming_it_before_anything_is_written(tmp_path, value):
    node = node_at(tmp_path / "n")
    before = tree(tmp_path)
    with pytest.raises(servers.SpecError, match=r"network=") as raised:
        backups.plan_backup(node, network=value)
    assert repr(value) in str(raised.value)
    assert tree(tmp_path) == before
