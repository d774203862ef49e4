"""raft_state's report (issue 13 items 5 and 18): a refusal names what differs in one line, without a dump of
both states; check mode with diff shows the diff of a refusal; where a replaced directory was kept."""

import os

from ansible_collections.opstack.conductor.plugins.modules import raft_state
from ansible_collections.opstack.conductor.tests.support.nodes import SERVERS, args


def test_refusal_is_one_line_naming_the_differences(tmp_path, run_module):
    node = tmp_path / "seq-1"
    run_module(raft_state.main, args(node))
    other = SERVERS + [{"id": "seq-4", "address": "10.0.0.4:50050"}]
    for check_mode in (True, False):
        result = run_module(raft_state.main, args(node, servers=other, term=2), check_mode=check_mode)
        assert result["failed"] and result["action"] == "refuse"
        assert result["differences"] == ["server seq-4 added (10.0.0.4:50050, voter)", "term 1 -> 2",
                                         "vote seq-1@1 -> seq-1@2"]
        assert "\n" not in result["msg"] and len(result["msg"]) < 400, result["msg"]
        assert "server seq-4 added (10.0.0.4:50050, voter); term 1 -> 2" in result["msg"]
        assert "Existing:" not in result["msg"] and "before" not in result and "after" not in result


def test_check_mode_diff_of_a_refusal_shows_the_decoded_diff(tmp_path, run_module):
    node = tmp_path / "seq-1"
    run_module(raft_state.main, args(node))
    result = run_module(raft_state.main, args(node, term=3), check_mode=True, diff=True)
    assert result["failed"] and result["diff"]["before"]["current_term"] == 1
    assert result["diff"]["after"]["current_term"] == 3


def kept_of(parent, name):
    return sorted(entry for entry in os.listdir(str(parent)) if entry.startswith(name + ".") and entry.endswith("~"))


def test_forced_replace_keeps_the_directory_mode_unless_one_is_given(tmp_path, run_module):
    node = tmp_path / "seq-1"
    run_module(raft_state.main, args(node))
    os.chmod(str(node), 0o500)
    replaced = run_module(raft_state.main, args(node, term=2, force=True))
    assert replaced["action"] == "replace" and replaced["changed"]
    assert oct(os.stat(str(node)).st_mode & 0o7777) == "0o500"
    told = run_module(raft_state.main, args(node, term=3, force=True, directory_mode="0700"))
    assert told["action"] == "replace"
    assert oct(os.stat(str(node)).st_mode & 0o7777) == "0o700"
    os.chmod(str(node), 0o777)  # a loose mode is not kept: never a world-writable node directory
    run_module(raft_state.main, args(node, term=4, force=True))
    assert oct(os.stat(str(node)).st_mode & 0o7777) == "0o750"
    fresh = tmp_path / "new" / "seq-1"
    run_module(raft_state.main, args(fresh))
    assert oct(os.stat(str(fresh)).st_mode & 0o7777) == "0o750"


def test_kept_directories_are_reported_and_pruned_to_keep_backups(tmp_path, run_module):
    node = tmp_path / "seq-1"
    run_module(raft_state.main, args(node))
    # A neighbour whose name starts with this node's, with kept directories of its own: never touched.
    neighbour = tmp_path / "seq-1.5"
    run_module(raft_state.main, args(neighbour))
    for term in (2, 3):
        run_module(raft_state.main, args(neighbour, term=term, force=True))
    theirs = kept_of(tmp_path, "seq-1.5")
    assert len(theirs) == 2
    reports = []
    for term in (2, 3, 4, 5, 6):
        result = run_module(raft_state.main, args(node, term=term, force=True, keep_backups=2))
        assert result["backup_dir"] in [str(tmp_path / name) for name in kept_of(tmp_path, "seq-1")]
        reports.append(result)
    mine = [name for name in kept_of(tmp_path, "seq-1") if not name.startswith("seq-1.5.")]
    assert len(mine) == 2 and sorted(os.path.basename(r["backup_dir"]) for r in reports[-2:]) == mine
    assert reports[0].get("removed_backups", []) == [] and reports[1]["removed_backups"] == []
    assert reports[2]["removed_backups"] == [reports[0]["backup_dir"]]
    assert kept_of(tmp_path, "seq-1.5")[-2:] == theirs  # the neighbour's are all there
    assert not [n for n in os.listdir(str(tmp_path)) if n.startswith(".")]


def test_an_interrupted_deletion_is_finished_by_the_next_run(tmp_path, run_module):
    node = tmp_path / "seq-1"
    run_module(raft_state.main, args(node))
    doomed = tmp_path / ".deleting-seq-1.77.2026-11-01@10:00:00~"
    doomed.mkdir()
    (doomed / "raft-log.db").write_bytes(b"half")
    other = tmp_path / ".deleting-seq-10.77.2026-11-01@10:00:00~"
    other.mkdir()
    checked = run_module(raft_state.main, args(node), check_mode=True)
    assert doomed.exists() and checked["recovered"]["removed"] == []  # check mode never writes
    result = run_module(raft_state.main, args(node))
    assert result["action"] == "unchanged" and result["recovered"]["removed"] == [str(doomed)]
    assert not doomed.exists() and other.exists()


def test_the_preflight_says_whether_a_real_run_would_change_anything(tmp_path, run_module):
    """Issue 15: the raft_state role skips the write where the preflight says nothing would change (its task reports
    changed=false, so the role reads would_change): a new node, a mode to apply and a retention left half-done all
    need the write; a node that holds exactly this state does not."""
    node = tmp_path / "seq-1"
    assert run_module(raft_state.main, args(node, preflight=True))["would_change"] is True
    run_module(raft_state.main, args(node))
    unchanged = run_module(raft_state.main, args(node, preflight=True))
    assert unchanged["action"] == "unchanged" and unchanged["would_change"] is False
    assert run_module(raft_state.main, args(node), check_mode=True)["would_change"] is False
    assert run_module(raft_state.main, args(node, preflight=True, mode="0640"))["would_change"] is True
    doomed = tmp_path / ".deleting-seq-1.77.2026-11-01@10:00:00~"
    doomed.mkdir()
    pending = run_module(raft_state.main, args(node, preflight=True))
    assert pending["action"] == "unchanged" and pending["would_change"] is True and doomed.exists()
    assert "would_change" not in run_module(raft_state.main, args(node))  # a real run did it, or not


def test_keep_backups_must_not_be_negative(tmp_path, run_module):
    result = run_module(raft_state.main, args(tmp_path / "seq-1", keep_backups=-1))
    assert result["failed"] and "keep_backups=-1" in result["msg"] and os.listdir(str(tmp_path)) == []


def test_state_absent_keeps_the_node_directory_aside_only_with_force(tmp_path, run_module):
    """Issue 13 item 17: a node that left the cluster (generate shrinking a cluster) is moved aside as a kept
    directory, never deleted, never without force, never while op-conductor holds it."""
    node = tmp_path / "seq-3"
    gone = run_module(raft_state.main, dict(path=str(tmp_path / "seq-9"), state="absent"))
    assert not gone["changed"] and gone["action"] == "absent" and "backup_dir" not in gone
    run_module(raft_state.main, args(node, server_id="seq-3"))
    before = sorted(os.listdir(str(tmp_path)))
    refused = run_module(raft_state.main, dict(path=str(node), state="absent"))
    assert refused["failed"] and "refusing to remove it without force=true" in refused["msg"]
    assert str(node) in refused["msg"] and sorted(os.listdir(str(tmp_path))) == before
    predicted = run_module(raft_state.main, dict(path=str(node), state="absent", force=True), check_mode=True)
    assert predicted["changed"] and predicted["action"] == "remove" and sorted(os.listdir(str(tmp_path))) == before
    removed = run_module(raft_state.main, dict(path=str(node), state="absent", force=True))
    assert removed["changed"] and removed["action"] == "remove" and not node.exists()
    assert sorted(os.listdir(removed["backup_dir"])) == ["raft-log.db", "raft-stable.db"]
    assert kept_of(tmp_path, "seq-3") == [os.path.basename(removed["backup_dir"])]
    assert "kept as %s" % removed["backup_dir"] in removed["msg"]


def test_state_absent_never_moves_a_running_node(tmp_path, run_module):
    import fcntl

    node = tmp_path / "seq-3"
    run_module(raft_state.main, args(node, server_id="seq-3"))
    with open(str(node / "raft-log.db"), "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = run_module(raft_state.main, dict(path=str(node), state="absent", force=True))
    assert result["failed"] and "op-conductor is running" in result["msg"] and node.is_dir()
    assert kept_of(tmp_path, "seq-3") == []


def test_state_present_still_needs_the_cluster(tmp_path, run_module):
    result = run_module(raft_state.main, dict(path=str(tmp_path / "seq-1")))
    assert result["failed"] and "server_id" in result["msg"] and os.listdir(str(tmp_path)) == []
