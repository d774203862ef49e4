"""Free TCP ports on the loopback network (tests bind 127.0.0.0/8 only).

The ports come from below the kernel's ephemeral range (ip_local_port_range). A port the kernel hands out for
bind(0) is one it also hands out as the source port of outgoing connections (the Go module proxy, RPC clients,
the conductors' own dials): between the moment a test releases it and the moment op-conductor binds it, any
connect() on the machine could take it. Below that range only another listener can, and the bind check sees one
that is there already."""

import contextlib
import random
import socket
from typing import List, Tuple

_FALLBACK_EPHEMERAL = (32768, 60999)  # Linux's default
_LOWEST = 10000  # above the well-known and most registered service ports
_ATTEMPTS_PER_PORT = 200


def ephemeral_range() -> Tuple[int, int]:
    """The kernel's range of ports for bind(0) and outgoing connections."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as handle:
            low, high = (int(field) for field in handle.read().split())
        return low, high
    except (OSError, ValueError):
        return _FALLBACK_EPHEMERAL


def _bind_below(sock: socket.socket, host: str, highest: int, rng: random.Random) -> bool:
    """Bind ``sock`` to a random free port from _LOWEST to ``highest``; False when none was found in time."""
    if highest <= _LOWEST:
        return False
    for _attempt in range(_ATTEMPTS_PER_PORT):
        try:
            sock.bind((host, rng.randint(_LOWEST, highest)))
            return True
        except OSError:
            continue
    return False


def free_ports(count: int, host: str = "127.0.0.1") -> List[int]:
    """Distinct free ports on host (all bound at once so they differ, then released), below the ephemeral range
    when possible (else the kernel's choice)."""
    rng, highest = random.SystemRandom(), ephemeral_range()[0] - 1
    with contextlib.ExitStack() as stack:
        sockets = []
        for _index in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            if not _bind_below(sock, host, highest, rng):
                sock.bind((host, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]


def free_port(host: str = "127.0.0.1") -> int:
    return free_ports(1, host)[0]
