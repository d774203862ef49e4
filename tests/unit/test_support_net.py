"""tests/support/net.py hands out ports no outgoing connection can take between their release and the test's own
bind: below the kernel's ephemeral range (the e2e suites start real op-conductors on them while Go dials out)."""

import socket

from ansible_collections.opstack.conductor.tests.support import net
from ansible_collections.opstack.conductor.tests.support.net import ephemeral_range, free_ports


def test_free_ports_are_distinct_free_and_below_the_ephemeral_range():
    low, _high = ephemeral_range()
    ports = free_ports(20)
    assert len(set(ports)) == 20 and all(port < low for port in ports), (low, ports)
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", port))  # released: free for the test that asked for it


def test_without_room_below_the_ephemeral_range_the_kernel_chooses(monkeypatch):
    low, high = ephemeral_range()
    monkeypatch.setattr(net, "ephemeral_range", lambda: (net._LOWEST, high))  # pylint: disable=protected-access
    ports = free_ports(3)
    assert len(set(ports)) == 3 and all(low <= port <= high for port in ports), ports
