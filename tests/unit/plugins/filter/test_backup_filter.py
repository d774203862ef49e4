"""opstack.conductor.backup_choice (issue 14 item 1): raft_restore's choice of backup is _backup's ranking (last log
term, then last index, then the time made), not a Jinja sort; on a full tie the first place listed (the
controller) wins, and listings that did not run or failed add nothing."""

from ansible_collections.opstack.conductor.plugins.filter.backup import FilterModule, backup_choice


def report(path, term, index, created="20260101T000000Z", current_term=None, ok=True):
    manifest = {"server_id": "seq-a", "created_utc": created, "position": {"term": term, "index": index},
                "current_term": current_term if current_term is not None else term}
    return {"path": path, "ok": ok, "manifest": manifest, "position": {"term": term, "index": index} if ok else None}


def listing(*reports):
    return {"changed": False, "backups": list(reports)}


def test_the_newest_by_last_log_term_then_index_never_current_term_or_time():
    controller = listing(report("/c/old-term-long-log", 2, 900, created="20260301T000000Z", current_term=50),
                         report("/c/new-term", 3, 10, created="20260101T000000Z"))
    host = listing(report("/h/new-term-longer", 3, 11, created="20250101T000000Z"))
    chosen = backup_choice([["the controller", controller], ["the host", host]])
    assert (chosen["path"], chosen["where"], chosen["candidates"]) == ("/h/new-term-longer", "the host", 3)
    assert chosen["manifest"]["position"] == {"term": 3, "index": 11}


def test_the_time_made_breaks_a_tie_of_positions():
    chosen = backup_choice([["the host", listing(report("/h/a", 3, 10, created="20260102T000000Z"),
                                                 report("/h/b", 3, 10, created="20260101T000000Z"))]])
    assert chosen["path"] == "/h/a"


def test_on_a_full_tie_the_first_place_wins():
    same = report("/c/x", 3, 10)
    chosen = backup_choice([["the controller", listing(same)], ["the host", listing(dict(same, path="/h/x"))]])
    assert (chosen["path"], chosen["where"]) == ("/c/x", "the controller")
    chosen = backup_choice([["the host", listing(dict(same, path="/h/x"))], ["the controller", listing(same)]])
    assert chosen["where"] == "the host"


def test_skipped_failed_and_unreadable_listings_add_nothing():
    assert backup_choice([["the controller", {"skipped": True}], ["the host", {"failed": True, "msg": "x"}]]) == {}
    assert backup_choice([["the host", listing(report("/h/bad", 9, 9, ok=False))]]) == {}
    assert backup_choice([["the controller", None], ["the host", listing()]]) == {}


def test_the_filter_is_registered():
    assert FilterModule().filters()["backup_choice"] is backup_choice
