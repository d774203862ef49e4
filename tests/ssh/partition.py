"""A network partition between test-bed hosts, made with iptables (nf_tables backend) and always removed.

The hosts share the loopback interface, and a connection to 127.0.0.x leaves from 127.0.0.1 whoever makes it
(`ip route get 127.0.0.21` says ``src 127.0.0.1``; hashicorp/raft's TCP transport does not bind a source
address), so a packet's source address does not tell which host sent it. What does: the destination (a host's
address and its Raft port) and the socket's owner, because each host's op-conductor runs with a supplementary
group of its own (``Host.group``, given by the start hook). The owner alone is not enough: a socket its process
has closed still sends what was queued on it (an AppendEntries the leader gave up on), and such an orphaned
socket has no owner any more -- seen here: a cut-off follower got a heartbeat that way and named the leader
again for a while. So a packet from one host's socket to another host's Raft port is dropped and marks its
connection (conntrack), every later packet of a marked connection is dropped (both ways, also after the socket
was closed), and so is any ownerless packet to the cut-off host's Raft port (a connection conntrack did not
track: it picks up connections that were open before the rules mid-stream, and calls packets outside the TCP
window it tracks invalid). Cutting host C off from host O, in the OUTPUT path of ``lo`` (every loopback packet
passes it):

    to C's address and Raft port, from a socket of O's group: mark the connection, DROP   (O cannot reach C)
    to O's address and Raft port, from a socket of C's group: mark the connection, DROP   (C cannot reach O)
    any packet of a marked connection: DROP
    to C's address and Raft port, from no socket (orphaned): DROP

They live in a chain of their own, ``opstack-t-<pid>`` (one jump from OUTPUT), so removing the partition is
"delete the jump, flush and delete the chain", and a killed run's chain is found by name (``remove_stale``).
Nothing else is matched: the op-node stubs, the RPC ports and the SSH connections stay reachable, as in a
partition of the hosts' Raft network only.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from typing import Iterator, List, Sequence

from ansible_collections.opstack.conductor.tests.support.nonroot import PREFIX

IPTABLES = "iptables"
MARK = "0x7f5a1818"  # the connection mark of the partition's connections (no other user of marks here)
CHAIN_RE = re.compile(r"^-N (%s(\d+))$" % re.escape(PREFIX), re.MULTILINE)


def chain_name(pid: int = 0) -> str:
    return "%s%d" % (PREFIX, pid or os.getpid())  # at most 28 characters: iptables' limit for a chain name


def _iptables(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([IPTABLES, "-w", "30"] + list(args), capture_output=True, text=True, timeout=60, check=check)


def rules() -> str:
    """The whole filter table as iptables -S prints it."""
    return _iptables("-S").stdout


def remove_chain(chain: str) -> None:
    """The jump to ``chain`` (every copy) and the chain itself; no error when they do not exist."""
    for _copy in range(100):  # bounded: one jump is made per partition
        if _iptables("-D", "OUTPUT", "-j", chain, check=False).returncode != 0:
            break
    _iptables("-F", chain, check=False)
    _iptables("-X", chain, check=False)


def remove_stale() -> None:
    """Chains a killed run left (its PID gone), and this process's own."""
    for chain, pid in CHAIN_RE.findall(rules()):
        if int(pid) == os.getpid() or not os.path.exists("/proc/%s" % pid):
            remove_chain(chain)


def assert_removed(chain: str) -> None:
    left = [line for line in rules().splitlines() if chain in line.split()]
    assert not left, "iptables rules of %s are still there: %s" % (chain, left)


def _cut(chain: str, address: str, port: int, from_gid: int, comment: str) -> List[List[str]]:
    """The rules that keep sockets of group ``from_gid`` from reaching ``address:port`` (mark, then drop)."""
    match = ["-o", "lo", "-p", "tcp", "-d", address, "--dport", str(port), "-m", "owner", "--gid-owner",
             str(from_gid), "--suppl-groups", "-m", "comment", "--comment", comment]
    return [["-A", chain] + match + ["-j", "CONNMARK", "--set-mark", MARK], ["-A", chain] + match + ["-j", "DROP"]]


def dropped_packets(chain: str) -> int:
    """Packets the chain's DROP rules dropped so far (iptables -L -v -x counters)."""
    listing = _iptables("-L", chain, "-v", "-x", "-n").stdout.splitlines()[2:]
    return sum(int(line.split()[0]) for line in listing if line.split()[2:3] == ["DROP"])


@contextlib.contextmanager
def partition(cut_off, others: Sequence, chain: str = "") -> Iterator[str]:
    """Host ``cut_off`` cannot exchange Raft traffic with any of ``others`` (both directions) inside the block;
    the rules are removed on the way out, whatever happened, and their removal is checked."""
    chain = chain or chain_name()
    remove_chain(chain)
    try:
        _iptables("-N", chain)
        for other in others:
            for rule in _cut(chain, cut_off.address, cut_off.raft_port, other.group.gid,
                             "%s -> %s" % (other.name, cut_off.name)) + \
                    _cut(chain, other.address, other.raft_port, cut_off.group.gid,
                         "%s -> %s" % (cut_off.name, other.name)):
                _iptables(*rule)
        _iptables("-A", chain, "-o", "lo", "-p", "tcp", "-m", "connmark", "--mark", MARK, "-j", "DROP")
        _iptables("-A", chain, "-o", "lo", "-p", "tcp", "-d", cut_off.address, "--dport", str(cut_off.raft_port),
                  "-m", "owner", "!", "--socket-exists", "-m", "comment", "--comment", "orphaned -> " + cut_off.name,
                  "-j", "DROP")
        _iptables("-I", "OUTPUT", "1", "-j", chain)
        yield chain
    finally:
        remove_chain(chain)
        assert_removed(chain)
