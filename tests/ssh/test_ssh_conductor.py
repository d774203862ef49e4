"""Issue 18 over SSH with the REAL op-conductor (conductors.py): the bring_up, status and membership playbooks run as
an operator runs them -- a deploy user that becomes root over SSH -- and the role's command hooks start and stop
op-conductor as its own unprivileged user; then a network partition (partition.py: iptables rules dropping the Raft
traffic between one host and the others) that the status playbook must show, the leader-transfer and membership
modules must refuse (they wait for a leader every node that answers agrees on, and the cut-off node answers but
names none), and after which, healed, everything agrees again.

One cluster serves the module (starting op-conductor is what costs time); the tests run in file order, and each
later one brings the cluster up itself when the first did not (so ``-k`` can pick one). Pipelining: on for the
first bring_up, off for its rerun and for the membership changes, so the hooks and the deploy run both ways.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys

import pytest

from ansible_collections.opstack.conductor.tests.ssh import partition
from ansible_collections.opstack.conductor.tests.ssh.conductors import LiveCluster, wait_for
from ansible_collections.opstack.conductor.tests.ssh.testbed import HOST_NAMES, SPARE
from ansible_collections.opstack.conductor.tests.support.playbooks import WORKTREE_COLLECTIONS, run_playbook, table_records

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LEADER = HOST_NAMES[0]  # conductor_initial_leader of the bed's inventory


@pytest.fixture(scope="module")
def live(bed):
    """Empty storage on the three hosts (owned by the op-conductor user, 0750, as the quick start makes it), none
    on the spare (the membership playbook makes it for a joining host), the binary and the hook copied onto the
    bed, the stubs running; no op-conductor yet."""
    bed.fresh_state()
    shutil.rmtree(bed.start_spare().storage, ignore_errors=True)
    cluster = LiveCluster.start(bed)
    cluster.brought_up = False
    try:
        yield cluster
    finally:
        cluster.close()
        bed.end_control_masters()
        bed.fresh_state()


def play(live, tmp_path, inventory, playbook, *args, pipelining=True):
    run = run_playbook(tmp_path, "-i", inventory, "opstack.conductor." + playbook, *args,
                       env_extra=live.bed.ansible_env(pipelining), timeout=420)
    return run


def changed_tasks(run):
    """["TASK [...] changed: [host]", ...]: what a run reports as changed, for assertion messages."""
    found, task = [], ""
    for line in run.out.splitlines():
        if line.startswith("TASK ["):
            task = line.rstrip(" *")
        elif line.startswith("changed: ["):
            found.append("%s %s" % (task, line.split(" =>")[0]))
    return found


def assert_unchanged(run):
    assert run.rc == 0 and run.changed_hosts == [], "%r\nchanged: %s" % (run, changed_tasks(run))


def three(live, tmp_path, name="hosts.yml", **group_vars):
    return live.inventory(str(tmp_path / name), list(HOST_NAMES), **group_vars)


def ensure_up(live, tmp_path):
    """Bring the cluster up when test_bring_up did not (run alone, or it failed)."""
    if live.brought_up:
        return
    run = play(live, tmp_path, three(live, tmp_path), "bring_up")
    assert run.rc == 0, run
    live.brought_up = True


def table_rows(run):
    """{server ID: (up, leader as seen, leads)} from the status fleet table the role printed last."""
    return {row["SERVER ID"]: (row["UP"], row["LEADER"], row["LEADS"]) for row in table_records(run)}


def summary_line(run):
    """The last "leader: ...; ..." line: status prints it per cluster ("cluster <name>, leader: ..."), bring_up
    alone."""
    return '"%s"' % re.findall(r'"(?:cluster [^",]+, )?(leader: [^"]*)"', run.out)[-1]


def run_module(module, args, timeout=300):
    """One of the collection's modules run on the controller as Ansible runs it (a process reading
    ANSIBLE_MODULE_ARGS): the RPC modules run there (conductor_rpc_delegate: localhost)."""
    env = dict(os.environ, PYTHONPATH=WORKTREE_COLLECTIONS, PYTHONDONTWRITEBYTECODE="1")
    done = subprocess.run([sys.executable, os.path.join(REPO, "plugins", "modules", module + ".py"),
                           json.dumps({"ANSIBLE_MODULE_ARGS": args})], capture_output=True, text=True,
                          timeout=timeout, env=env, check=False)
    try:
        return json.loads(done.stdout)
    except ValueError:
        raise AssertionError("%s printed no JSON (rc %d): %s %s" % (module, done.returncode, done.stdout, done.stderr))


def module_nodes(live, hosts):
    return [{"id": h.name, "url": live.rpc_url(h), "node_rpc_url": live.stubs.node_url(h.name)} for h in hosts]


def assert_runs_as_conductor(live, host):
    pid = wait_for(lambda: live.pid(host), "%s's op-conductor (the PID its start hook wrote)" % host.name)
    creds = live.credentials(pid)
    opc = live.bed.conductor
    assert creds["Uid"] == [opc.uid] * 4 and creds["Gid"] == [opc.gid] * 4, (host.name, creds)
    assert host.group.gid in creds["Groups"], (host.name, creds)
    return pid


def assert_owned_by_conductor(live, host, deployed=True):
    """Every file and directory under the node directory belongs to the op-conductor user; what the deploy wrote
    has the documented modes (node directory 0750, databases 0600)."""
    opc = live.bed.conductor
    for root, dirs, files in os.walk(host.node):
        for path in [root] + [os.path.join(root, name) for name in dirs + files]:
            info = os.lstat(path)
            assert (info.st_uid, info.st_gid) == (opc.uid, opc.gid), (path, info.st_uid, info.st_gid)
    if deployed:
        assert stat.S_IMODE(os.stat(host.node).st_mode) == 0o750, oct(os.stat(host.node).st_mode)
        for name in ("raft-log.db", "raft-stable.db"):
            assert stat.S_IMODE(os.stat(os.path.join(host.node, name)).st_mode) == 0o600, name


def wait_agreed(live, hosts, leader=None):
    """Every host names the same leader (``leader`` if given); bounded polls."""
    def agreed():
        seen = live.leaders_seen(hosts)
        values = set(seen.values())
        return len(values) == 1 and values != {""} and (leader is None or values == {leader}) and values.pop()
    return wait_for(agreed, "one leader every node names")


def test_bring_up_starts_op_conductor_as_its_user_over_ssh(live, tmp_path):
    bed = live.bed
    inventory = three(live, tmp_path)
    assert not any(live.pid(host) for host in bed.hosts)
    run = play(live, tmp_path, inventory, "bring_up", pipelining=True)
    assert run.rc == 0, "%r\n%s" % (run, live.log_tail())
    live.brought_up = True
    assert run.changed_hosts == list(HOST_NAMES), run
    pids = {}
    for host in bed.hosts:
        pids[host.name] = assert_runs_as_conductor(live, host)
        assert_owned_by_conductor(live, host)
        with open(live.log_path(host)) as handle:
            log = handle.read()
        assert "=== start (hook, uid %d)" % bed.conductor.uid in log and "--raft.bootstrap=false" in log
        assert "initial configuration: index=1" in log, "op-conductor did not load the deployed state"
    assert "leader: %s; all nodes agree" % LEADER in run.out, run
    assert wait_agreed(live, bed.hosts) == LEADER
    wait_for(lambda: live.stubs.active() == [LEADER], "the leader's op-node to sequence")

    # Again, pipelining off: nothing to start or deploy, the same processes.
    again = play(live, tmp_path, inventory, "bring_up", pipelining=False)
    assert_unchanged(again)
    assert {host.name: live.pid(host) for host in bed.hosts} == pids


def test_status_over_ssh(live, tmp_path):
    ensure_up(live, tmp_path)
    leader = wait_agreed(live, live.bed.hosts)
    run = play(live, tmp_path, three(live, tmp_path), "status")
    assert run.rc == 0 and run.changed_hosts == [], run
    assert summary_line(run) == '"leader: %s; all nodes agree"' % leader, run
    rows = table_rows(run)
    assert {name: rows[name][:2] for name in HOST_NAMES} == {name: ("yes", leader) for name in HOST_NAMES}, run


def test_membership_adds_a_host_and_retires_it_over_ssh(live, tmp_path):
    """The spare host joins (the role makes its storage directory, for the op-conductor user; the hook starts
    op-conductor as that user; the leader adds it), then is retired (removed, and stopped by the stop hook)."""
    ensure_up(live, tmp_path)
    bed = live.bed
    spare = bed.host(SPARE[0])
    assert not os.path.exists(spare.storage)
    four = list(HOST_NAMES) + [spare.name]
    inventory = live.inventory(str(tmp_path / "four.yml"), four)
    check = play(live, tmp_path, inventory, "membership", "--check", "--diff", pipelining=False)
    assert check.rc == 0 and "+%s %s:%d voter" % (spare.name, spare.address, spare.raft_port) in check.out, check
    assert live.pid(spare) is None and not os.path.exists(spare.storage), "check mode started or made something"
    assert all(live.members(host) == sorted(HOST_NAMES) for host in bed.hosts)
    run = play(live, tmp_path, inventory, "membership", pipelining=False)
    assert run.rc == 0, "%r\n%s" % (run, live.log_tail())
    assert_runs_as_conductor(live, spare)
    info = os.stat(spare.storage)  # the role made it; op-conductor, not root, must be able to write in it
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (bed.conductor.uid, bed.conductor.gid, 0o750)
    for host in bed.hosts + [spare]:
        wait_for(lambda h=host: live.members(h) == sorted(four), "%s to report four members" % host.name)
    assert_owned_by_conductor(live, spare, deployed=False)  # op-conductor made it, as its user
    again = play(live, tmp_path, inventory, "membership", pipelining=False)
    assert_unchanged(again)

    retire = live.inventory(str(tmp_path / "retire.yml"), four, retired=[spare.name])
    run = play(live, tmp_path, retire, "membership", "-e", "conductor_stop_retired=true", pipelining=False)
    assert run.rc == 0, "%r\n%s" % (run, live.log_tail())
    assert live.pid(spare) is None, "the stop hook returns once op-conductor has exited"
    for host in bed.hosts:
        wait_for(lambda h=host: live.members(h) == sorted(HOST_NAMES), "%s to report three members" % host.name)
    # Then the host leaves the inventory (docs/quickstart.md section 6): nothing more to do.
    again = play(live, tmp_path, three(live, tmp_path), "membership", pipelining=False)
    assert_unchanged(again)


def test_partition_minority_node_is_named_and_live_changes_wait_for_it(live, tmp_path):
    ensure_up(live, tmp_path)
    bed = live.bed
    leader = wait_agreed(live, bed.hosts)
    cut_off = next(h for h in reversed(bed.hosts) if h.name != leader)
    majority = [h for h in bed.hosts if h is not cut_off]
    others = [h for h in majority if h.name != leader]
    inventory = three(live, tmp_path)
    before = {host.name: live.members(host) for host in bed.hosts}
    with partition.partition(cut_off, majority) as chain:
        wait_for(lambda: live.leaders_seen([cut_off]) == {cut_off.name: ""},
                 "%s (cut off) to lose its leader" % cut_off.name)
        assert wait_agreed(live, majority) == leader, "the majority keeps its leader"
        assert partition.dropped_packets(chain) > 0, partition.rules()

        # The status playbook names the cut-off node; it fails nothing (conductor_status_fail_on_disagreement).
        status = play(live, tmp_path, inventory, "status")
        assert status.rc == 0, status
        rows, summary = table_rows(status), summary_line(status)
        seen = (rows, summary, live.leaders_seen(bed.hosts))
        assert rows[cut_off.name][:2] == ("yes", "-"), seen
        assert all(rows[h.name][:2] == ("yes", leader) for h in majority), seen
        assert "nodes disagree on the leader" in summary and "%s -> (none)" % cut_off.name in summary, seen

        # conductor_leader waits for a leader every node agrees on, which the cut-off node never names: it
        # fails within its timeout, naming that node, and leadership stays where it was.
        moved = run_module("conductor_leader", dict(nodes=module_nodes(live, bed.hosts), leader=others[0].name,
                                                    timeout=6, poll_interval=0.5))
        assert moved.get("failed") and not moved.get("transfers"), json.dumps(moved, indent=1)
        assert "no leader that every node agrees on" in moved["msg"], moved
        assert "%s -> (none)" % cut_off.name in moved["msg"], moved
        assert wait_agreed(live, majority) == leader

        # Retiring the cut-off node (the membership playbook) refuses for the same reason; nothing is removed
        # and nothing is stopped.
        retire = live.inventory(str(tmp_path / "retire.yml"), list(HOST_NAMES), retired=[cut_off.name],
                                conductor_transfer_timeout=6)
        run = play(live, tmp_path, retire, "membership", "-e", "conductor_stop_retired=true")
        assert run.rc != 0, run
        assert "no leader that every reachable node agrees on" in run.out, run
        assert "%s: leader=none" % cut_off.name in run.out, run
        assert {h.name: live.members(h) for h in bed.hosts} == before
        assert live.pid(cut_off) is not None
    partition.assert_removed(chain)

    # Healed: the cut-off node follows the leader again, the status agrees, and leadership can move to it.
    wait_agreed(live, bed.hosts)
    status = play(live, tmp_path, inventory, "status")
    assert status.rc == 0 and "all nodes agree" in summary_line(status), status
    moved = run_module("conductor_leader", dict(nodes=module_nodes(live, bed.hosts), leader=cut_off.name,
                                                timeout=60, poll_interval=0.5))
    assert not moved.get("failed") and moved["changed"], moved
    assert wait_agreed(live, bed.hosts) == cut_off.name
    assert {h.name: live.members(h) for h in bed.hosts} == before
