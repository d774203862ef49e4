"""The fleet view of the info playbook (issue 19 item 3): the table has a CLUSTER column, and with
conductor_report_json / conductor_report_textfile (per host, that host's own nodes) and conductor_report_fleet_json /
conductor_report_fleet_textfile (on the controller, every node) the same data is written as JSON and as a Prometheus
textfile that prometheus_client's parser reads; a rerun over unchanged state changes nothing, check mode writes
nothing."""

from __future__ import annotations

import json

from prometheus_client.parser import text_string_to_metric_families

from ansible_collections.opstack.conductor.tests.support.playbooks import local_inventory, run_playbook, table, table_records


def hosts(tmp_path):
    return {name: {"conductor_raft_address": "127.0.0.1:5749%d" % number,
                   # Local hosts share this machine: each host's own files get their own paths.
                   "conductor_report_json": str(tmp_path / "textfile" / ("%s.json" % name)),
                   "conductor_report_textfile": str(tmp_path / "textfile" / ("%s.prom" % name))}
            for number, name in enumerate(("seq-a", "seq-b", "seq-c"), start=1)}


def samples(text):
    return {(sample.name, sample.labels["cluster"], sample.labels["server"]): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def snapshot(directory):
    return {path.name: (path.read_bytes(), path.stat().st_mtime_ns, path.stat().st_ino)
            for path in sorted(directory.iterdir())}


def test_info_writes_the_fleet_view_and_a_rerun_changes_nothing(tmp_path):
    (tmp_path / "textfile").mkdir()
    inventory = local_inventory(tmp_path / "hosts.yml", hosts(tmp_path),
                                {"conductor_storage_dir": str(tmp_path / "hosts") + "/{{ inventory_hostname }}"})
    assert run_playbook(tmp_path, "-i", inventory, "opstack.conductor.deploy").rc == 0
    fleet = ["-e", "conductor_report_fleet_json=fleet/fleet.json", "-e", "conductor_report_fleet_textfile="
             + str(tmp_path / "fleet" / "fleet.prom")]
    (tmp_path / "fleet").mkdir()

    dry = run_playbook(tmp_path, "-i", inventory, "opstack.conductor.info", "--check", *fleet)
    assert dry.rc == 0 and dry.changed_hosts == sorted(hosts(tmp_path)), dry
    assert list((tmp_path / "textfile").iterdir()) == [] and list((tmp_path / "fleet").iterdir()) == []

    first = run_playbook(tmp_path, "-i", inventory, "opstack.conductor.info", *fleet)
    assert first.rc == 0 and first.changed_hosts == sorted(hosts(tmp_path)), first
    rows = table(first, with_cluster=True)
    assert [row[:3] for row in rows] == [["sequencers", "seq-a", "seq-a"], ["sequencers", "seq-b", "seq-b"],
                                         ["sequencers", "seq-c", "seq-c"]], first
    own = samples((tmp_path / "textfile" / "seq-b.prom").read_text())
    assert own[("opstack_conductor_raft_term", "sequencers", "seq-b")] == 1
    assert own[("opstack_conductor_raft_members_in_sync", "sequencers", "seq-b")] == 1
    assert {server for _name, _cluster, server in own} == {"seq-b"}  # each host exports its own node only
    every = samples((tmp_path / "fleet" / "fleet.prom").read_text())
    assert {server for name, _cluster, server in every if name == "opstack_conductor_raft_last_index"} == {
        "seq-a", "seq-b", "seq-c"}
    document = json.loads((tmp_path / "fleet" / "fleet.json").read_text())  # relative to where the playbook ran
    assert document["clusters"] == ["sequencers"] and [node["server"] for node in document["nodes"]] == [
        "seq-a", "seq-b", "seq-c"]
    assert json.loads((tmp_path / "textfile" / "seq-a.json").read_text())["nodes"][0]["term"] == 1

    written = snapshot(tmp_path / "textfile"), snapshot(tmp_path / "fleet")
    again = run_playbook(tmp_path, "-i", inventory, "opstack.conductor.info", *fleet)
    assert again.rc == 0 and again.changed_hosts == [], again
    assert (snapshot(tmp_path / "textfile"), snapshot(tmp_path / "fleet")) == written
    # Only the report files, no leftovers of the atomic writes.
    assert sorted(path.name for path in (tmp_path / "textfile").iterdir()) == [
        "seq-a.json", "seq-a.prom", "seq-b.json", "seq-b.prom", "seq-c.json", "seq-c.prom"]


def test_status_prints_and_writes_the_live_fleet_view_of_unanswering_conductors(tmp_path):
    """Conductors that do not answer (port 9) are up=0 in the fleet view, with no made-up leader; a rerun changes
    nothing. (Against answering conductors this is not tested yet: no e2e test of the fleet view.)"""
    live = {name: {"conductor_rpc_url": "http://127.0.0.1:9"} for name in ("seq-a", "seq-b")}
    inventory = local_inventory(tmp_path / "hosts.yml", live)
    (tmp_path / "fleet").mkdir()
    out = tmp_path / "fleet" / "fleet.prom"
    status = run_playbook(tmp_path, "-i", inventory, "opstack.conductor.status",
                          "-e", "conductor_report_fleet_textfile=" + str(out))
    assert status.rc == 0 and "cluster sequencers, leader: none; DISAGREEMENT: unreachable: seq-a, seq-b" in status.out
    rows = table(status, with_cluster=True)
    assert [row[:4] for row in rows] == [["sequencers", "seq-a", "seq-a", "no"], ["sequencers", "seq-b", "seq-b", "no"]]
    by_title = table_records(status)  # the reader the SSH tests use, by column title
    assert [(r["CLUSTER"], r["HOST"], r["SERVER ID"], r["UP"]) for r in by_title] == [tuple(row[:4]) for row in rows]
    got = samples(out.read_text())
    assert got == {("opstack_conductor_up", "sequencers", "seq-a"): 0, ("opstack_conductor_up", "sequencers", "seq-b"): 0}
    before = snapshot(tmp_path / "fleet")
    again = run_playbook(tmp_path, "-i", inventory, "opstack.conductor.status",
                         "-e", "conductor_report_fleet_textfile=" + str(out))
    assert again.rc == 0 and again.changed_hosts == [] and snapshot(tmp_path / "fleet") == before, again


def two_clusters(tmp_path):
    """sequencers over two child groups, op_a (a-1, a-2) and op_b (b-1, b-2), each naming its conductor_cluster_name;
    local hosts whose own report files are tmp_path/textfile/<host>.prom."""
    lines = ["all:", "  vars:", "    ansible_connection: local",
             '    ansible_python_interpreter: "{{ ansible_playbook_python }}"',
             '    conductor_storage_dir: "%s/hosts/{{ inventory_hostname }}"' % tmp_path,
             '    conductor_report_textfile: "%s/textfile/{{ inventory_hostname }}.prom"' % tmp_path,
             '    conductor_rpc_url: "http://127.0.0.1:9"', "  children:", "    sequencers:", "      children:"]
    port = 57760
    for cluster in ("op_a", "op_b"):
        lines += ["        %s:" % cluster, "          vars: {conductor_cluster_name: %s}" % cluster, "          hosts:"]
        for number in (1, 2):
            port += 1
            lines.append('            %s-%d: {conductor_raft_address: "127.0.0.1:%d"}' % (cluster[-1], number, port))
    (tmp_path / "hosts.yml").write_text("\n".join(lines) + "\n")
    return str(tmp_path / "hosts.yml")


def test_two_clusters_in_one_table_one_json_and_each_host_its_own_textfile(tmp_path):
    (tmp_path / "textfile").mkdir()
    inventory = two_clusters(tmp_path)
    assert run_playbook(tmp_path, "-i", inventory, "opstack.conductor.deploy").rc == 0
    info = run_playbook(tmp_path, "-i", inventory, "opstack.conductor.info", "-e", "conductor_report_fleet_json=fleet.json")
    assert info.rc == 0, info
    assert [row[:3] for row in table(info, with_cluster=True)] == [
        ["op_a", "a-1", "a-1"], ["op_a", "a-2", "a-2"], ["op_b", "b-1", "b-1"], ["op_b", "b-2", "b-2"]], info
    document = json.loads((tmp_path / "fleet.json").read_text())
    assert document["clusters"] == ["op_a", "op_b"]
    assert [(node["cluster"], node["server"], node["members_in_sync"]) for node in document["nodes"]] == [
        ("op_a", "a-1", True), ("op_a", "a-2", True), ("op_b", "b-1", True), ("op_b", "b-2", True)]
    own = samples((tmp_path / "textfile" / "b-2.prom").read_text())
    assert {(cluster, server) for _name, cluster, server in own} == {("op_b", "b-2")}
    again = run_playbook(tmp_path, "-i", inventory, "opstack.conductor.info", "-e", "conductor_report_fleet_json=fleet.json")
    assert again.rc == 0 and again.changed_hosts == [], again

    # status reads each cluster on its own (before, one conductor_info over all four nodes as one cluster).
    status = run_playbook(tmp_path, "-i", inventory, "opstack.conductor.status",
                          "-e", "conductor_report_fleet_textfile=" + str(tmp_path / "live.prom"))
    assert status.rc == 0, status
    assert "cluster op_a, leader: none; DISAGREEMENT: unreachable: a-1, a-2" in status.out, status
    assert "cluster op_b, leader: none; DISAGREEMENT: unreachable: b-1, b-2" in status.out, status
    live = samples((tmp_path / "live.prom").read_text())
    assert live == {("opstack_conductor_up", cluster, host): 0
                    for cluster, host in (("op_a", "a-1"), ("op_a", "a-2"), ("op_b", "b-1"), ("op_b", "b-2"))}


def test_a_corrupt_node_is_written_before_the_run_fails_on_it(tmp_path):
    (tmp_path / "textfile").mkdir()
    inventory = local_inventory(tmp_path / "hosts.yml", hosts(tmp_path),
                                {"conductor_storage_dir": str(tmp_path / "hosts") + "/{{ inventory_hostname }}"})
    assert run_playbook(tmp_path, "-i", inventory, "opstack.conductor.deploy").rc == 0
    log = tmp_path / "hosts" / "seq-b" / "seq-b" / "raft-log.db"
    data = bytearray(log.read_bytes())
    data[3 * 4096 + 16:3 * 4096 + 64] = b"\xff" * 48  # the leaf page holding the configuration entry
    log.write_bytes(bytes(data))
    bad = run_playbook(tmp_path, "-i", inventory, "opstack.conductor.info")
    assert bad.rc != 0 and "corrupt or unreadable: seq-b" in bad.out, bad
    own = samples((tmp_path / "textfile" / "seq-b.prom").read_text())
    assert own[("opstack_conductor_raft_integrity_ok", "sequencers", "seq-b")] == 0
    assert samples((tmp_path / "textfile" / "seq-a.prom").read_text())[
        ("opstack_conductor_raft_integrity_ok", "sequencers", "seq-a")] == 1
