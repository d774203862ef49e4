"""The recover playbook (issue 16 item 3) refuses a request that is not confirmed, names an unknown mode or comes
with an invalid inventory before anything is stopped: the stop hook never runs, no node directory appears. (The
whole recovery runs against real op-conductors in tests/e2e/test_recover.py.)"""

from __future__ import annotations

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
