"""The fleet view (issue 19 item 3): every node of every cluster as one record (from raft_info's report and from
conductor_info's live result), laid out as the table, JSON and a Prometheus textfile for node_exporter. The textfile
is read back with prometheus_client's own parser, as node_exporter would read it."""

import json

import pytest
from ansible.errors import AnsibleFilterError

from prometheus_client.parser import text_string_to_metric_families

from ansible_collections.opstack.conductor.plugins.filter.fleet import (
    FilterModule, fleet_cluster, fleet_info_records, fleet_json, fleet_live_clusters, fleet_live_records,
    fleet_live_summary, fleet_merge, fleet_report_files, fleet_status, fleet_table, fleet_textfile)
from ansible_collections.opstack.conductor.plugins.filter.raft_info import raft_info_report

SERVERS = [{"id": name, "address": "%s:50050" % name, "suffrage": "voter"} for name in ("a", "b", "c")]
HASH = "0x" + "ab" * 32


def checked(host, term=3, index=7, locked=False, head=None, vote=None, in_sync=True, cluster_id="x1"):
    result = {"exists": True, "current_term": term, "last_vote_candidate": vote, "last_vote_term": term if vote else 0,
              "last_index": index, "locked": locked, "integrity": {"ok": True, "checked": True, "problems": []},
              "latest_configuration": {"index": 1, "term": 1, "source": "log", "servers": SERVERS},
              "drift": {"in_sync": in_sync}, "cluster_identity": {"id": cluster_id}, "fsm_head": head}
    return {"host": host, "server_id": host, "path": "/raft/" + host, "status": "checked", "result": result}


def info(cluster, *inputs):
    return fleet_info_records(list(inputs), raft_info_report(list(inputs)), cluster)


def live_node(node_id, leader=False, reachable=True, servers=SERVERS, sequencing=None):
    if not reachable:
        return {"id": node_id, "reachable": False, "error": "connection refused", "sequencer_active": sequencing}
    return {"id": node_id, "reachable": True, "leader": leader, "leader_with_id": {"id": "a", "address": "a:50050"},
            "membership": {"servers": servers, "version": 3}, "paused": False, "stopped": False, "active": True,
            "sequencer_healthy": True, "leader_overridden": False, "sequencer_active": sequencing}


def status(*nodes, agree=True, drift=None):
    return {"nodes": list(nodes), "cluster": {"leader": {"id": "a", "address": "a:50050"}, "agree": agree,
                                              "disagreements": [] if agree else ["unreachable: c"],
                                              "membership": {"servers": SERVERS, "version": 3}, "drift": drift}}


def two_clusters():
    head = {"block_number": 42, "block_hash": HASH}
    mainnet = info("mainnet", checked("a", vote="a", locked=True, head=head), checked("b", head=head),
                   checked("c", head=None))
    testnet = info("testnet", checked("t1", term=9, index=100),
                   {"host": "t2", "server_id": "t2", "path": "/raft/t2", "status": "absent", "result": {}})
    return fleet_merge([testnet, mainnet])


def families(text):
    return {family.name: family for family in text_string_to_metric_families(text)}


def samples(text):
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def test_records_of_two_clusters_are_sorted_by_cluster_and_server_and_typed():
    records = two_clusters()
    assert [(r["cluster"], r["server"]) for r in records] == [
        ("mainnet", "a"), ("mainnet", "b"), ("mainnet", "c"), ("testnet", "t1"), ("testnet", "t2")]
    a, c, t2 = records[0], records[2], records[4]
    assert (a["term"], a["vote_candidate"], a["vote_term"], a["last_index"]) == (3, "a", 3, 7)
    assert (a["running"], a["members_in_sync"], a["integrity_ok"], a["head_block"], a["head_hash"]) == (
        True, True, True, 42, HASH)
    assert (c["head"], c["head_block"]) == ("empty", None)
    assert (t2["state_present"], t2["members_in_sync"], t2["term"], t2["members"]) == (False, False, None, "NO STATE")
    assert a["up"] is None and a["leader"] is None  # info reads no RPC


def test_the_table_has_one_line_per_node_of_every_cluster_and_no_live_columns_in_info():
    lines = fleet_table(two_clusters(), ["t2: no Raft state at /raft/t2"])
    assert lines[0].split() == ["CLUSTER", "HOST", "SERVER", "ID", "TERM", "VOTE", "LAST", "INDEX", "HEAD", "MEMBERS",
                                "INTEGRITY", "RUNNING"]
    assert lines[2].split() == ["mainnet", "a", "a", "3", "a@3", "7", "42", HASH[:10], "in", "sync", "ok", "yes",
                                "(locked)"]
    assert lines[6].split() == ["testnet", "t2", "t2", "-", "-", "-", "-", "NO", "STATE", "absent", "-"]
    assert lines[-2:] == ["", "t2: no Raft state at /raft/t2"] and len(lines) == 2 + 5 + 2


def test_the_textfile_parses_as_one_gauge_per_node_and_field_labelled_by_cluster_and_server():
    text = fleet_textfile(two_clusters())
    found = families(text)
    assert all(family.type == "gauge" and family.documentation for family in found.values())
    got = samples(text)
    assert got[("opstack_conductor_raft_term", (("cluster", "mainnet"), ("server", "a")))] == 3
    assert got[("opstack_conductor_raft_last_index", (("cluster", "testnet"), ("server", "t1")))] == 100
    assert got[("opstack_conductor_raft_running", (("cluster", "mainnet"), ("server", "a")))] == 1
    assert got[("opstack_conductor_raft_running", (("cluster", "mainnet"), ("server", "b")))] == 0
    assert got[("opstack_conductor_fsm_head_block_number", (("cluster", "mainnet"), ("server", "a")))] == 42
    assert got[("opstack_conductor_raft_state_present", (("cluster", "testnet"), ("server", "t2")))] == 0
    assert got[("opstack_conductor_raft_vote_info", (("candidate", "a"), ("cluster", "mainnet"), ("server", "a")))] == 1
    # Not known is no sample (c has an empty FSM, t2 no state): never a made-up 0.
    assert ("opstack_conductor_fsm_head_block_number", (("cluster", "mainnet"), ("server", "c"))) not in got
    assert ("opstack_conductor_raft_term", (("cluster", "testnet"), ("server", "t2"))) not in got
    assert not any(name.startswith("opstack_conductor_up") for name, _labels in got)  # no live data in info
    # Every series once, every family's samples together after its HELP and TYPE (node_exporter refuses repeats).
    series = [line.split(" ")[0] for line in text.splitlines() if not line.startswith("#")]
    assert len(series) == len(set(series)) == len(got)
    assert text.endswith("\n") and "timestamp" not in text


def test_label_values_are_escaped_and_read_back_unchanged():
    odd = 'chain "x"\\y\nz'
    text = fleet_textfile(info(odd, checked("a")))
    assert {dict(labels)["cluster"] for _name, labels in samples(text)} == {odd}


def test_the_same_state_gives_the_same_bytes_and_a_timestamp_only_when_asked():
    assert fleet_textfile(two_clusters()) == fleet_textfile(two_clusters())
    assert fleet_json(two_clusters()) == fleet_json(two_clusters())
    stamped = samples(fleet_textfile(two_clusters(), timestamp=1767225600.7))
    assert stamped[("opstack_conductor_report_timestamp_seconds", ())] == 1767225600
    assert json.loads(fleet_json(two_clusters(), timestamp=1767225600.7))["timestamp"] == 1767225600


def test_json_carries_every_field_of_every_node():
    document = json.loads(fleet_json(two_clusters()))
    assert document["format"] == 1 and document["clusters"] == ["mainnet", "testnet"]
    assert [node["server"] for node in document["nodes"]] == ["a", "b", "c", "t1", "t2"]
    assert document["nodes"][0]["head_hash"] == HASH and document["nodes"][4]["term"] is None


def test_live_records_give_leader_up_and_membership_and_merge_with_the_offline_ones():
    read = status(live_node("a", leader=True, sequencing=True), live_node("b", sequencing=False),
                  live_node("c", reachable=False), agree=False, drift={"in_sync": True})
    live = fleet_live_records(read, "mainnet", ["host-a", "host-b", "host-c"])
    assert [(r["host"], r["up"], r["leader"], r["leader_seen"]) for r in live] == [
        ("host-a", True, True, "a"), ("host-b", True, False, "a"), ("host-c", False, None, None)]
    assert [r["live_members_in_sync"] for r in live] == [True, True, None]
    merged = fleet_merge([info("mainnet", checked("a"), checked("b"), checked("c")), live])
    assert [(r["term"], r["up"]) for r in merged] == [(3, True), (3, True), (3, False)]
    got = samples(fleet_textfile(merged))
    assert got[("opstack_conductor_leader", (("cluster", "mainnet"), ("server", "a")))] == 1
    assert got[("opstack_conductor_up", (("cluster", "mainnet"), ("server", "c")))] == 0
    assert got[("opstack_conductor_sequencer_active", (("cluster", "mainnet"), ("server", "b")))] == 0
    assert ("opstack_conductor_leader", (("cluster", "mainnet"), ("server", "c"))) not in got
    lines = fleet_table(merged, [fleet_live_summary(read, "mainnet")])
    assert "LEADER" in lines[0].split() and "UP" in lines[0].split() and "TERM" in lines[0].split()
    assert lines[-1] == "cluster mainnet, leader: a; DISAGREEMENT: unreachable: c"


def test_a_node_reporting_another_membership_is_not_in_sync():
    other = [dict(server, address="10.0.0.9:1") if server["id"] == "c" else server for server in SERVERS]
    live = fleet_live_records(status(live_node("a"), live_node("b"), live_node("c", servers=other)), "m")
    assert [r["live_members_in_sync"] for r in live] == [True, True, False]
    drifted = fleet_live_records(status(live_node("a"), drift={"in_sync": False}), "m")
    assert drifted[0]["live_members_in_sync"] is False


def test_status_without_the_offline_report_has_no_raft_columns():
    lines = fleet_table(fleet_live_records(status(live_node("a", leader=True)), "m"))
    assert "TERM" not in lines[0] and "HEAD" not in lines[0]
    assert lines[0].split()[:4] == ["CLUSTER", "HOST", "SERVER", "ID"]


def test_the_cluster_is_the_group_unless_the_host_names_one():
    assert fleet_cluster({}, "sequencers") == "sequencers"
    assert fleet_cluster({"conductor_cluster_name": "op-mainnet"}, "sequencers") == "op-mainnet"
    assert fleet_cluster({"conductor_cluster_name": ""}, "sequencers") == "sequencers"


def test_every_filter_is_registered():
    assert set(FilterModule().filters()) == {
        "fleet_cluster", "fleet_info_records", "fleet_live_records", "fleet_live_summary", "fleet_merge", "fleet_table",
        "fleet_json", "fleet_textfile", "fleet_report_files", "fleet_live_clusters", "fleet_status"}


PATHS = {"conductor_report_json": "/var/lib/opstack/conductor.json",
         "conductor_report_textfile": "/var/lib/node_exporter/textfile/conductor.prom",
         "conductor_report_fleet_json": "fleet.json", "conductor_report_fleet_textfile": ""}


def test_each_host_writes_its_own_nodes_and_the_first_host_the_fleet_on_the_controller(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    records = two_clusters()
    own = fleet_report_files(records, "t1", False, PATHS)
    assert [(f["path"], f["controller"]) for f in own] == [(PATHS["conductor_report_json"], False),
                                                           (PATHS["conductor_report_textfile"], False)]
    assert [node["server"] for node in json.loads(own[0]["content"])["nodes"]] == ["t1"]
    assert {dict(labels)["server"] for _name, labels in samples(own[1]["content"])} == {"t1"}
    first = fleet_report_files(records, "a", True, PATHS)
    fleet = [f for f in first if f["controller"]]
    assert [f["path"] for f in fleet] == [str(tmp_path / "fleet.json")]  # relative to where ansible-playbook runs
    assert len(json.loads(fleet[0]["content"])["nodes"]) == 5
    assert fleet_report_files(records, "a", True, dict.fromkeys(PATHS, "")) == []


def test_a_relative_path_on_the_host_is_refused_naming_the_variable():
    with pytest.raises(AnsibleFilterError, match="conductor_report_textfile='conductor.prom': must be an absolute"):
        fleet_report_files(two_clusters(), "a", False, dict(PATHS, conductor_report_textfile="conductor.prom"))


def test_status_reads_every_cluster_on_its_own_and_lays_them_out_in_one_table():
    hostvars = {"m1": {"conductor_cluster_name": "mainnet"}, "m2": {"conductor_cluster_name": "mainnet"},
                "t1": {"conductor_cluster_name": "testnet", "conductor_server_id": "tn-1"}}
    groups = {"fleet": ["m1", "m2", "t1"]}
    clusters = fleet_live_clusters(hostvars, groups, "fleet", ["m1", "m2", "t1"])
    assert [(c["name"], c["hosts"], [n["id"] for n in c["nodes"]], c["problem"]) for c in clusters] == [
        ("mainnet", ["m1", "m2"], ["m1", "m2"], ""), ("testnet", ["t1"], ["tn-1"], "")]
    limited = fleet_live_clusters(hostvars, groups, "fleet", ["m1", "t1"])
    assert "m2" in limited[0]["problem"] and "mainnet" in limited[0]["problem"] and not limited[1]["problem"]

    def read(cluster, *nodes, agree=True):
        return dict(status(*nodes, agree=agree), item=cluster)

    view = fleet_status([read(clusters[1], live_node("tn-1", leader=True)),
                         read(clusters[0], live_node("m1", leader=True), live_node("m2", reachable=False),
                              agree=False)])
    assert [(r["cluster"], r["host"], r["server"], r["up"]) for r in view["records"]] == [
        ("mainnet", "m1", "m1", True), ("mainnet", "m2", "m2", False), ("testnet", "t1", "tn-1", True)]
    assert view["notes"] == ["cluster testnet, leader: a; all nodes agree",
                             "cluster mainnet, leader: a; DISAGREEMENT: unreachable: c"]
