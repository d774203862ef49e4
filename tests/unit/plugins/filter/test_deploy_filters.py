"""The raft_state role's reports after the preflight and the write (opstack.conductor.preflight_failures,
kept_directories) and the live roles' node list (opstack.conductor.live_cluster): Jinja loops over hostvars once,
now filters with unit tests (issue 14 item 1). The sentences are the ones the roles printed before."""

import importlib

import pytest
from ansible.module_utils import _internal as module_internal


@pytest.fixture(scope="module")
def plugin():
    # Importing the filter imports Ansible's controller; put the controller flag back (see test_cluster_filter.py).
    was_controller = module_internal.is_controller
    try:
        return importlib.import_module("ansible_collections.opstack.conductor.plugins.filter.cluster")
    finally:
        module_internal.is_controller = was_controller


MSGPACK = "Failed to import the required Python library (msgpack (on the managed host)) on a's Python"


def test_preflight_failures_name_every_failed_or_missing_host(plugin):
    hostvars = {
        "a": {"__conductor_preflight": {"changed": False, "action": "write"}},
        "b": {"__conductor_preflight": {"failed": True, "msg": "/x/b: refusing to replace it without force=true"}},
        "c": {},  # the preflight never ran there (unreachable, or the run stopped)
    }
    assert plugin.preflight_failures(hostvars, ["a", "b", "c"]) == [
        "host b: /x/b: refusing to replace it without force=true", "host c: no result"]
    assert plugin.preflight_failures(hostvars, ["a"]) == []


def test_preflight_failures_say_what_to_do_about_msgpack(plugin):
    failed = {"failed": True, "msg": MSGPACK}
    hostvars = {
        "plain": {"__conductor_preflight": failed, "ansible_python_interpreter": "/usr/bin/python3"},
        "found": {"__conductor_preflight": failed, "ansible_facts": {"discovered_interpreter_python": "/opt/py"}},
        "own": {"__conductor_preflight": failed, "conductor_install_msgpack": "yes"},
    }
    lines = plugin.preflight_failures(hostvars, ["plain", "found", "own"])
    assert lines[0] == ("host plain: the Python library msgpack is not importable by /usr/bin/python3; install "
                        "python3-msgpack (or pip install msgpack) for it, or set conductor_install_msgpack=true")
    assert lines[1].startswith("host found: the Python library msgpack is not importable by /opt/py; install")
    assert lines[2] == ("host own: the Python library msgpack is not importable by the Python Ansible uses; "
                        "conductor_install_msgpack=true did not make it importable")
    checked = plugin.preflight_failures(hostvars, ["plain"], check_mode=True, install_msgpack=True)
    assert checked == ["host plain: the Python library msgpack is not importable by /usr/bin/python3; check mode "
                       "cannot install it, so this node could not be checked (the real run installs it: "
                       "conductor_install_msgpack=true)"]


def test_kept_directories(plugin):
    hostvars = {"a": {"conductor_raft_state": {"backup_dir": "/s/a.1.2~", "removed_backups": ["/s/a.0.1~"]}},
                "b": {"conductor_raft_state": {"backup_dir": "/s/b.1.2~", "removed_backups": []}},
                "c": {"conductor_raft_state": {"changed": False}}, "d": {}}
    assert plugin.kept_directories(hostvars, ["a", "b", "c", "d"]) == [
        "host a: the replaced state was kept as /s/a.1.2~ (older kept directories removed: /s/a.0.1~)",
        "host b: the replaced state was kept as /s/b.1.2~"]


def test_raft_info_inventory_inputs_classify_every_member():
    was_controller = module_internal.is_controller
    try:
        raft_info = importlib.import_module("ansible_collections.opstack.conductor.plugins.filter.raft_info")
    finally:
        module_internal.is_controller = was_controller
    members = [{"host": h, "id": "id-" + h} for h in ("ok", "absent", "failed", "unread", "outside")]
    hostvars = {  # raft_state_info results with allow_missing (issue 15: no stat task before it)
        "ok": {"__conductor_info_result": {"exists": True, "node_directory": True}, "conductor_storage_dir": "/own"},
        "absent": {"__conductor_info_result": {"exists": False, "node_directory": False}},
        "failed": {"__conductor_info_result": {"failed": True, "msg": "x"}},
        "unread": {},  # no result: the host failed before it (unreachable)
        "outside": {},
    }
    inputs = raft_info.inventory_inputs(members, hostvars, ["ok", "absent", "failed", "unread"], "/var/raft")
    assert [(i["host"], i["status"], i["path"]) for i in inputs] == [
        ("ok", "checked", "/own/id-ok"), ("absent", "absent", "/var/raft/id-absent"),
        ("failed", "error", "/var/raft/id-failed"), ("unread", "error", "/var/raft/id-unread"),
        ("outside", "not_checked", "-")]
    assert inputs[0]["result"] == {"exists": True, "node_directory": True} and inputs[0]["server_id"] == "id-ok"


def test_after_a_restore_a_skipped_read_takes_what_raft_restore_read_and_nothing_stale():
    """The restore playbook skips raft_info's read of a node raft_restore read itself (report_info, issue 15): the
    report takes that reading, from the preflight for a node that held its backup, from the restore otherwise;
    never a reading from an earlier restore, a failed one, or none at all (then the read was not skipped)."""
    was_controller = module_internal.is_controller
    try:
        raft_info = importlib.import_module("ansible_collections.opstack.conductor.plugins.filter.raft_info")
    finally:
        module_internal.is_controller = was_controller
    restored_info, held_info = {"exists": True, "msg": "restored"}, {"exists": True, "msg": "held"}

    def judged(action, info=None):
        return {"plan": {"action": action}, "info": info}

    skipped = {"skipped": True, "changed": False}
    hostvars = {
        "held": {"__conductor_info_result": skipped, "__conductor_restore_judged": judged("unchanged", held_info),
                 "conductor_restore_result": {"info": {"msg": "an earlier restore of this run"}}},
        "restored": {"__conductor_info_result": skipped, "__conductor_restore_judged": judged("restore"),
                     "conductor_restore_result": {"changed": True, "info": restored_info}},
        "failed": {"__conductor_info_result": skipped, "__conductor_restore_judged": judged("restore"),
                   "conductor_restore_result": {"failed": True, "msg": "x", "info": restored_info}},
        "unread": {"__conductor_info_result": skipped, "__conductor_restore_judged": judged("unchanged")},
        "read": {"__conductor_info_result": {"exists": True, "msg": "read"},
                 "__conductor_restore_judged": judged("unchanged", held_info)},
    }
    members = [{"host": host, "id": host} for host in hostvars]
    inputs = raft_info.inventory_inputs(members, hostvars, list(hostvars), "/var/raft")
    assert [(i["host"], i["status"], i["result"].get("msg")) for i in inputs] == [
        ("held", "checked", "held"), ("restored", "checked", "restored"), ("failed", "error", None),
        ("unread", "error", None), ("read", "checked", "read")]


def test_live_cluster_reads_every_host_with_the_role_defaults(plugin):
    hostvars = {
        "s1": {"conductor_rpc_url": "https://10.0.0.1:8547", "conductor_server_id": "sequencer-1"},
        "s2": {"conductor_suffrage": "nonvoter", "conductor_raft_address": "10.0.0.2:50050"},
        "s3": {"conductor_member": "false"},
        "s4": {"conductor_member": True, "conductor_node_rpc_url": ""},
    }
    live = plugin.live_cluster(hostvars, ["s1", "s2", "s3", "s4"], ["s1", "s2", "s3", "s4"], "sequencers")
    assert live["nodes"] == [
        {"id": "sequencer-1", "url": "https://10.0.0.1:8547", "node_rpc_url": "http://s1:9545"},
        {"id": "s2", "url": "http://s2:8547", "node_rpc_url": "http://s2:9545"},
        {"id": "s3", "url": "http://s3:8547", "node_rpc_url": "http://s3:9545"},
        {"id": "s4", "url": "http://s4:8547", "node_rpc_url": "http://s4:9545"}]
    assert live["servers"] == [{"id": "sequencer-1", "address": "s1:50050", "suffrage": "voter"},
                               {"id": "s2", "address": "10.0.0.2:50050", "suffrage": "nonvoter"},
                               {"id": "s4", "address": "s4:50050", "suffrage": "voter"}]
    assert live["member_ids"] == ["sequencer-1", "s2", "s4"] and live["leader_id"] == "sequencer-1"
    assert live["problem"] == ""
    assert plugin.live_cluster(hostvars, ["s2", "s4"], ["s2", "s4"], "g", initial_leader="s4")["leader_id"] == "s4"
    assert plugin.live_cluster(hostvars, ["s2"], ["s2"], "g")["leader_id"] == ""  # no voting member


def test_live_cluster_needs_every_host_of_the_group_in_the_play(plugin):
    hostvars = {"s1": {}, "s2": {}, "s3": {}}
    assert plugin.live_cluster(hostvars, ["s1", "s2", "s3"], ["s1"], "seq")["problem"] == (
        "hosts of seq missing from this play (--limit?): s2, s3; live operations need every node")
    assert plugin.live_cluster(hostvars, [], ["s1"], "seq")["problem"] == (
        "hosts of seq missing from this play (--limit?): the group is empty; live operations need every node")
