"""Free TCP ports on the loopback network (tests bind 127.0.0.0/8 only)."""

import contextlib
import socket
from typing import List


def free_ports(count: int, host: str = "127.0.0.1") -> List[int]:
    """Distinct ports the kernel just handed out on host (all bound at once so they differ, then released)."""
    with contextlib.ExitStack() as stack:
        sockets = []
        for _index in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((host, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]


def free_port(host: str = "127.0.0.1") -> int:
    return free_ports(1, host)[0]
