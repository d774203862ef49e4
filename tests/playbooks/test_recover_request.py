"""The recover playbook (issue 16 item 3) refuses a request that is not confirmed, names an unknown mode or comes
with an invalid inventory before anything is stopped: the stop hook never runs, no node directory appears. (The
whole recovery runs against real op-conductors in tests/e2e/test_recover.py.)"""

from __future__ import annotations

import json
import re

import pytest

from ansible_collections.opstack.conductor.tests.support.net import free_port
from ansible_collections.opstack.conductor.tests.support.playbooks import local_inventory, run_playbook


def inventory(tmp_path, duplicate_address=False):
    closed = free_port("127.0.0.1")  # nothing listens: every conductor and op-node is unreachable, fast
    hosts = {h: {"conductor_raft_address": "127.0.0.1:%d" % (57371 if duplicate_address else 57370 + i),
                 "conductor_rpc_url": "http://127.0.0.1:%d" % closed,
                 "conductor_node_rpc_url": "http://127.0.0.1:%d" % closed}
             for i, h in enumerate(["seq-a", "seq-b", "seq-c"])}
    hook = "touch %s/{{ inventory_hostname }}.$CONDUCTOR_ACTION" % tmp_path
    return local_inventory(tmp_path / "hosts.yml", hosts, {
        "conductor_storage_dir": str(tmp_path / "raft") + "/{{ inventory_hostname }}",
        "conductor_service_stop_command": hook, "conductor_service_start_command": hook,
        "conductor_request_timeout": 2})


def assert_nothing_touched(tmp_path):
    assert not list(tmp_path.glob("*.stop")) and not list(tmp_path.glob("*.start"))
    assert not (tmp_path / "raft").exists()


@pytest.mark.parametrize("extra, expected", [
    ([], "conductor_recover_confirm is unset"),
    (["-e", "conductor_recover_confirm=yes"], "conductor_recover_confirm is 'yes'"),
])
def test_refused_before_anything_is_stopped(tmp_path, extra, expected):
    run = run_playbook(tmp_path, "-i", inventory(tmp_path), "opstack.conductor.recover", *extra)
    assert run.rc != 0 and expected in run.out and "Nothing was stopped or changed" in run.out, run
    assert_nothing_touched(tmp_path)


def test_an_unknown_mode_is_refused_by_the_argument_spec(tmp_path):
    run = run_playbook(tmp_path, "-i", inventory(tmp_path), "opstack.conductor.recover",
                       "-e", "conductor_recover_confirm=sequencers", "-e", "conductor_recover_mode=everything")
    assert run.rc != 0 and "conductor_recover_mode" in run.out and "everything" in run.out, run
    assert_nothing_touched(tmp_path)


def test_an_invalid_inventory_is_refused_before_anything_is_stopped(tmp_path):
    run = run_playbook(tmp_path, "-i", inventory(tmp_path, duplicate_address=True), "opstack.conductor.recover",
                       "-e", "conductor_recover_confirm=sequencers")
    assert run.rc != 0 and "is also host seq-a's address" in run.out, run
    assert_nothing_touched(tmp_path)


def test_confirmed_it_stops_every_conductor_then_refuses_a_cluster_without_usable_state(tmp_path):
    # The control for the tests above: confirmed, the stop hook runs on every host; no node holds state and no
    # op-node answers, so the plan refuses (survivor mode needs a usable node) and nothing is written.
    run = run_playbook(tmp_path, "-i", inventory(tmp_path), "opstack.conductor.recover",
                       "-e", "conductor_recover_confirm=sequencers", timeout=300)
    assert run.rc != 0 and "only conductor_recover_mode=reseed can bring this cluster back" in run.out, run
    assert sorted(p.name for p in tmp_path.glob("*.stop")) == ["seq-a.stop", "seq-b.stop", "seq-c.stop"]
    assert not list(tmp_path.glob("*.start")) and not (tmp_path / "raft").exists()


# Issue 19: one run over every cluster among the play's hosts. Two clusters under sequencers (conductor_cluster_name
# per child group); the confirmation names the play's group (every cluster) or lists the clusters to recover.
TWO = {"op_a": ["a-1", "a-2", "a-3"], "op_b": ["b-1", "b-2", "b-3"]}


def fleet_inventory(tmp_path, extra=None):
    closed = free_port("127.0.0.1")
    hook = "touch %s/{{ inventory_hostname }}.$CONDUCTOR_ACTION" % tmp_path
    children, port = {}, 57390
    for cluster, hosts in TWO.items():
        members = {}
        for host in hosts:
            port += 1
            members[host] = {"conductor_raft_address": "127.0.0.1:%d" % port,
                             "conductor_rpc_url": "http://127.0.0.1:%d" % closed,
                             "conductor_node_rpc_url": "http://127.0.0.1:%d" % closed, **(extra or {}).get(host, {})}
        children[cluster] = {"vars": {"conductor_cluster_name": cluster}, "hosts": members}
    base = {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
            "conductor_storage_dir": str(tmp_path / "raft") + "/{{ inventory_hostname }}",
            "conductor_service_stop_command": hook, "conductor_service_start_command": hook,
            "conductor_request_timeout": 2}
    path = tmp_path / "fleet.yml"
    path.write_text(json.dumps({"all": {"vars": base, "children": {"sequencers": {"children": children}}}}))
    return str(path)


def failed_hosts(run):
    return sorted(host for host, counts in run.recap.items() if counts["failed"] or counts["unreachable"])


def stopped(tmp_path):
    return sorted(p.name[:-len(".stop")] for p in tmp_path.glob("*.stop"))


@pytest.mark.parametrize("confirm", ["sequencers", "op_a,op_b"])
def test_the_group_or_a_list_of_clusters_confirms_every_cluster_it_names(tmp_path, confirm):
    # Both clusters go on past the request (every conductor of both is stopped), each then refused by its own plan
    # (no node holds state, no op-node answers), nothing written; one line per cluster.
    run = run_playbook(tmp_path, "-i", fleet_inventory(tmp_path), "opstack.conductor.recover",
                       "-e", "conductor_recover_confirm=" + confirm, timeout=300)
    assert run.rc != 0 and "form 2 clusters" not in run.out, run
    assert stopped(tmp_path) == TWO["op_a"] + TWO["op_b"], run
    assert not list(tmp_path.glob("*.start")) and not (tmp_path / "raft").exists()
    # Every cluster failed, so Ansible runs no further play (no summary lines): each cluster's refusal is its own.
    assert failed_hosts(run) == TWO["op_a"] + TWO["op_b"], run
    for cluster in TWO:
        assert re.search(r"cluster %s: every conductor is stopped; no Raft state was changed\..*only "
                         r"conductor_recover_mode=reseed can bring this cluster back" % cluster, run.out, re.S), run


def test_a_cluster_not_confirmed_is_refused_before_anything_of_it_is_stopped(tmp_path):
    # op_a is confirmed and goes on (its conductors stopped, then its own plan refuses); op_b is not named: none of
    # its conductors is stopped and the run says why in op_b's line.
    run = run_playbook(tmp_path, "-i", fleet_inventory(tmp_path), "opstack.conductor.recover",
                       "-e", "conductor_recover_confirm=op_a", timeout=300)
    assert run.rc != 0, run
    assert stopped(tmp_path) == TWO["op_a"], run
    assert not list(tmp_path.glob("*.start")) and not (tmp_path / "raft").exists()
    assert failed_hosts(run) == TWO["op_a"] + TWO["op_b"], run
    assert "cluster op_a: every conductor is stopped" in run.out and "cluster op_b: every conductor" not in run.out, run
    assert re.search(r"cluster op_b: Nothing was stopped or changed:.*conductor_recover_confirm is 'op_a': cluster op_b "
                     r"is not confirmed", run.out, re.S) and "cluster op_a: Nothing was stopped" not in run.out, run


def test_a_host_that_fails_to_stop_stops_its_cluster_only_before_anything_of_it_is_read(tmp_path):
    # b-2's stop hook fails: op_b stops right there (b-1 and b-3 by the guard, before any node of op_b is read or
    # judged), while op_a goes on to its own plan (refused: no node holds state). The play has no any_errors_fatal.
    fail_b2 = {"b-2": {"conductor_service_stop_command": "exit 3"}}
    run = run_playbook(tmp_path, "-i", fleet_inventory(tmp_path, fail_b2), "opstack.conductor.recover",
                       "-e", "conductor_recover_confirm=sequencers", timeout=300)
    assert run.rc != 0, run
    assert stopped(tmp_path) == TWO["op_a"] + ["b-1", "b-3"], run
    assert "cluster op_b stopped: host b-2 failed to stop its conductor" in run.out, run
    assert "cluster op_a: every conductor is stopped" in run.out and "cluster op_b: every conductor" not in run.out, run
    assert "Recovery of cluster op_a" in run.out and "Recovery of cluster op_b" not in run.out, run
    assert failed_hosts(run) == TWO["op_a"] + TWO["op_b"] and not (tmp_path / "raft").exists(), run
