"""No op-conductor may run on the replaced state or on a mix unnoticed (issue 13 item 3).

bbolt opens a database ONCE and then retries flock(LOCK_EX|LOCK_NB) on that descriptor every 50 ms; Raft opens
raft-log.db and then raft-stable.db, by path. A conductor that opened raft-log.db while our swap held its lock
therefore locks the OLD log once we let go, and then opens the NEW raft-stable.db: a mix, each file valid alone.
The child below does exactly what bbolt does (tests/reliability has the real Raft node beside swaps); the test
decides deterministically when it opens: before our swap started, or between our check and the exchange.
"""

import json
import os
import subprocess
import sys

import pytest

from ansible_collections.opstack.conductor.plugins.module_utils import _fs as fs
from ansible_collections.opstack.conductor.plugins.module_utils import _raft as raft
from ansible_collections.opstack.conductor.plugins.modules import raft_state
from ansible_collections.opstack.conductor.tests.support.nonroot import run_module_as
from ansible_collections.opstack.conductor.tests.support.nodes import SERVERS

OTHER = [dict(server, address=server["address"].replace("10.0.0", "10.9.9")) for server in SERVERS]
# bbolt's open of both stores, one after the other: open by path, then flock retries on that descriptor.
_CONDUCTOR = r"""
import fcntl, json, os, sys, time
node = sys.argv[1]
sys.stdin.readline()                               # the test says when to start
opened = {}
for name in ("raft-log.db", "raft-stable.db"):
    fd = os.open(os.path.join(node, name), os.O_RDWR)
    if name == "raft-log.db":
        print("opened", flush=True)
    for attempt in range(2400):                    # bbolt retries for ever; 2 minutes bound the test
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            time.sleep(0.05)
    opened[name] = os.fstat(fd).st_ino
print(json.dumps(opened), flush=True)
sys.stdin.readline()
"""


class Conductor:
    def __init__(self, node):
        self.proc = subprocess.Popen([sys.executable, "-c", _CONDUCTOR, node], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)

    def open_log(self):
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline() == "opened\n"

    def files(self):
        return json.loads(self.proc.stdout.readline())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=60)


@pytest.fixture
def conductor():
    made = []

    def start(node):
        made.append(Conductor(node))
        return made[-1]

    yield start
    for one in made:
        one.stop()


def inodes(node):
    return {name: os.stat(os.path.join(node, name)).st_ino for name in raft.DATABASE_FILES}


def test_a_conductor_waiting_for_our_lock_stops_the_swap(tmp_path, run_module, conductor, monkeypatch):
    """It opened raft-log.db (read-write, as bbolt does) once the swap held the lock, and waits for it: nothing is
    written, and it then runs on the state it opened, which is still the live one."""
    node = str(tmp_path / "seq-1")
    run_module(raft_state.main, dict(path=node, server_id="seq-1", servers=SERVERS))
    before = inodes(node)
    child = conductor(node)
    look = fs._written_elsewhere  # pylint: disable=protected-access  # the moment the guard first looks

    def look_once_the_conductor_opened(fds):
        if not getattr(child, "started", False):
            child.started = True
            child.open_log()
        return look(fds)

    monkeypatch.setattr(fs, "_written_elsewhere", look_once_the_conductor_opened)
    result = run_module(raft_state.main, dict(path=node, server_id="seq-1", servers=OTHER, force=True))
    assert result["failed"] and "op-conductor is starting on this node" in result["msg"], result
    assert "process %d" % child.proc.pid in result["msg"] and "nothing was written" in result["msg"]
    assert inodes(node) == before and child.files() == before


def test_a_conductor_opening_the_old_state_during_the_exchange_is_reported(tmp_path, run_module, conductor,
                                                                           monkeypatch):
    """It opens raft-log.db after our check and before the exchange: the swap cannot be undone without the same
    race in reverse, so the run fails loudly, naming the process, saying to stop it and that a rerun is safe;
    the new state is complete. The child shows what it would have run on: the old log and the new stable store."""
    node = str(tmp_path / "seq-1")
    run_module(raft_state.main, dict(path=node, server_id="seq-1", servers=SERVERS))
    old = inodes(node)
    child = conductor(node)
    exchange = fs.exchange

    def exchange_after_the_conductor_opened(first, second):
        child.open_log()
        return exchange(first, second)

    monkeypatch.setattr(fs, "exchange", exchange_after_the_conductor_opened)
    result = run_module(raft_state.main, dict(path=node, server_id="seq-1", servers=OTHER, force=True))
    new = inodes(node)
    assert result["failed"] and "process %d" % child.proc.pid in result["msg"], result
    assert "Stop that process" in result["msg"] and "rerunning this task is safe" in result["msg"]
    assert "the new state is in place and complete" in result["msg"]
    ran_on = child.files()
    assert ran_on == {raft.LOG_FILE: old[raft.LOG_FILE], raft.STABLE_FILE: new[raft.STABLE_FILE]}  # the mix


def test_our_own_readers_are_not_taken_for_a_conductor(tmp_path, run_module):
    node = str(tmp_path / "seq-1")
    run_module(raft_state.main, dict(path=node, server_id="seq-1", servers=SERVERS))
    reader = subprocess.Popen([sys.executable, "-c", "import sys; f = open(sys.argv[1], 'rb'); sys.stdin.read()",
                               os.path.join(node, raft.LOG_FILE)], stdin=subprocess.PIPE)
    try:
        result = run_module(raft_state.main, dict(path=node, server_id="seq-1", servers=OTHER, force=True))
        assert result["changed"] and not result.get("failed"), result
    finally:
        reader.stdin.close()
        reader.wait(timeout=60)


def test_as_the_nodes_user_a_conductor_it_cannot_see_in_proc_still_stops_the_swap(nonroot_users, shared_tmp,
                                                                                  run_module):
    """Run as the node's (non-root) owner, the swap cannot list another user's /proc/<pid>/fd; a read lease,
    which the kernel refuses while any process has the file open for writing, still tells."""
    (opc,) = nonroot_users("guardopc")
    node = os.path.join(shared_tmp, "raft", "seq-1")
    run_module(raft_state.main, dict(path=node, server_id="seq-1", servers=SERVERS))
    for directory, _dirs, files in os.walk(os.path.join(shared_tmp, "raft")):
        for name in [directory] + [os.path.join(directory, f) for f in files]:
            os.chown(name, opc.uid, opc.gid)
    before = inodes(node)
    opener = subprocess.Popen([sys.executable, "-c", "import os, sys; fd = os.open(sys.argv[1], os.O_RDWR); "
                               "print('opened', flush=True); sys.stdin.read()", os.path.join(node, raft.LOG_FILE)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert opener.stdout.readline() == "opened\n"
        result = run_module_as(opc, "raft_state", dict(path=node, server_id="seq-1", servers=OTHER, force=True,
                                                       backup=False))
    finally:
        opener.stdin.close()
        opener.wait(timeout=60)
    assert result["failed"] and "op-conductor is starting on this node" in result["msg"], result
    assert "a process of another user" in result["msg"] and inodes(node) == before
