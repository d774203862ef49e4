"""Issue 13 item 15: raft_state_info says its verdict in one line (msg) and fails on problems when asked
(fail_on_problems); raft_state's success messages say what was done, not what was found ("no Raft state at")."""

import os

import pytest

from ansible_collections.opstack.conductor.plugins.module_utils import _raft as raft
from ansible_collections.opstack.conductor.plugins.modules import raft_state, raft_state_info
from ansible_collections.opstack.conductor.tests.support.nodes import SERVERS, args


@pytest.fixture
def node(tmp_path, run_module):
    path = tmp_path / "raft" / "seq-1"
    assert run_module(raft_state.main, args(path, term=3))["changed"]
    return path


def info(run_module, path, **extra):
    return run_module(raft_state_info.main, dict(path=str(path), **extra))


def damage(path):
    """Both meta pages of raft-log.db overwritten."""
    with open(str(path / raft.LOG_FILE), "r+b") as handle:
        handle.write(b"\xff" * 8192)


@pytest.mark.parametrize("fail_on_problems", [False, True])
def test_a_healthy_node_in_one_line(node, run_module, fail_on_problems):
    result = info(run_module, node, fail_on_problems=fail_on_problems)
    assert not result.get("failed") and result["msg"] == "seq-1: ok, term 3, last index 1, 3 voters", result["msg"]


def test_a_damaged_node_says_so_first_and_fails_when_asked(node, run_module):
    damage(node)
    result = info(run_module, node)
    problems = result["integrity"]["problems"]
    assert not result.get("failed") and not result["integrity"]["ok"]  # the default keeps registered results
    more = " (+%d more)" % (len(problems) - 1) if len(problems) > 1 else ""
    assert result["msg"] == "seq-1: DAMAGED: %s%s" % (problems[0], more)
    failed = info(run_module, node, fail_on_problems=True)
    assert failed["failed"] and failed["msg"] == result["msg"] and failed["integrity"] == result["integrity"]


def test_a_configuration_raft_rejects_fails_when_asked(tmp_path, run_module):
    """As op-conductor-init v0.1.6 writes --server-ids s1,s1,s3 (written here by our writer, validation bypassed)."""
    from ansible_collections.opstack.conductor.tests.support.nodes import (REJECTED, configuration,
                                                                           write_configuration_node)
    path = write_configuration_node(tmp_path / "s1", [(1, configuration(REJECTED["duplicate-id"][0]))])
    failed = info(run_module, path, fail_on_problems=True)
    assert failed["failed"] and failed["msg"].startswith("s1: DAMAGED: raft-log.db: configuration at index 1: "
                                                         "server ID 's1' is listed twice"), failed["msg"]


def test_drift_from_expected_servers_is_in_the_line_and_fails_when_asked(node, run_module):
    expected = SERVERS[:2] + [{"id": "seq-4", "address": "10.0.0.4:50050"}]
    result = info(run_module, node, expected_servers=expected)
    assert not result.get("failed")
    assert result["msg"] == ("seq-1: ok, term 3, last index 1, 3 voters; membership differs from expected_servers "
                             "(missing: seq-4; extra: seq-3)"), result["msg"]
    assert info(run_module, node, expected_servers=expected, fail_on_problems=True)["failed"]
    assert not info(run_module, node, expected_servers=SERVERS, fail_on_problems=True).get("failed")


def test_an_empty_node_directory(tmp_path, run_module):
    (tmp_path / "seq-2").mkdir()
    for verify in (True, False):
        result = info(run_module, tmp_path / "seq-2", verify=verify)
        assert result["msg"] == "seq-2: no Raft state in %s" % (tmp_path / "seq-2"), result["msg"]
        assert info(run_module, tmp_path / "seq-2", verify=verify, fail_on_problems=True)["failed"]


def test_a_missing_node_directory_is_no_state_only_when_allowed(tmp_path, run_module, node):
    """allow_missing (issue 15: the raft_info role's stat task folded into its one raft_state_info task): a path
    that does not exist reads as a node without Raft state; a regular file there is still an error."""
    missing = tmp_path / "raft" / "seq-3"
    refused = info(run_module, missing)
    assert refused["failed"] and refused["msg"] == "%s does not exist or is not a directory" % missing, refused
    allowed = info(run_module, missing, allow_missing=True)
    assert not allowed.get("failed") and allowed["node_directory"] is False and allowed["exists"] is False, allowed
    assert allowed["msg"] == "seq-3: no Raft state in %s" % missing and allowed["locked"] is False
    assert info(run_module, missing, allow_missing=True, fail_on_problems=True)["failed"]
    assert not missing.exists()
    missing.write_bytes(b"not a node")
    assert info(run_module, missing, allow_missing=True)["msg"] == "%s does not exist or is not a directory" % missing
    present = info(run_module, node, allow_missing=True)
    assert present["node_directory"] is True and present["exists"] and present["msg"].startswith("seq-1: ok")


def test_raft_state_says_what_it_did(tmp_path, run_module):
    path = tmp_path / "raft" / "seq-1"
    predicted = run_module(raft_state.main, args(path), check_mode=True)
    assert predicted["msg"] == "would create the Raft state of seq-1 at %s (3 voters, term 1)" % path
    created = run_module(raft_state.main, args(path))
    assert created["msg"] == "created the Raft state of seq-1 at %s (3 voters, term 1)" % path, created["msg"]
    again = run_module(raft_state.main, args(path))
    assert again["msg"] == "seq-1 at %s already holds exactly this state (3 voters, term 1)" % path, again["msg"]
    os.unlink(str(path / raft.STABLE_FILE))
    repaired = run_module(raft_state.main, args(path))
    assert repaired["action"] == "repair"
    assert repaired["msg"] == ("repaired the half-written Raft state of seq-1 at %s: wrote the missing %s "
                               "(3 voters, term 1)" % (path, raft.STABLE_FILE)), repaired["msg"]
    replaced = run_module(raft_state.main, args(path, term=2, force=True))
    assert replaced["msg"].startswith("replaced the Raft state of seq-1 at %s (3 voters, term 2); the previous "
                                      "state is kept at %s: " % (path, replaced["backup_dir"])), replaced["msg"]
    dropped = run_module(raft_state.main, args(path, term=3, force=True, backup=False))
    assert dropped["msg"].startswith("replaced the Raft state of seq-1 at %s (3 voters, term 3); the previous "
                                     "state was removed (backup=false): " % path), dropped["msg"]


def test_counts_read_right_with_one_voter_and_nonvoters(tmp_path, run_module):
    servers = [{"id": "a", "address": "h:1"}, {"id": "b", "address": "h:2", "suffrage": "nonvoter"}]
    path = tmp_path / "a"
    created = run_module(raft_state.main, dict(path=str(path), server_id="a", servers=servers))
    assert created["msg"] == "created the Raft state of a at %s (1 voter, 1 nonvoter, term 1)" % path, created["msg"]
    assert info(run_module, path)["msg"] == "a: ok, term 1, last index 1, 1 voter, 1 nonvoter"
