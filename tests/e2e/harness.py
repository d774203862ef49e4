"""Run real op-conductor processes on 127.0.0.x from our pre-generated Raft state.

Each node ``i`` (1-based) gets its own loopback address ``127.0.0.<10+i>`` (distinct hosts, like real
sequencer hosts), a free consensus port and a free RPC port picked at runtime, its own storage directory, and
the op-node/op-geth endpoints of an :class:`l2stub.StubCluster`. Conductors start ``--paused`` with
``--raft.bootstrap=false``, ``--rpc.enable-proxy=false`` and ``--network=op-sepolia``.

Only processes started here are ever signalled, by their PID. Every wait is bounded.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ansible_collections.opstack.conductor.tests.support.net import free_port
from l2stub import RPCError, StubCluster, rpc_call  # tests/e2e/ (pytest puts this directory first)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
COLLECTIONS = REPO / ".cache" / "collections"
IDS = ["sequencer-1", "sequencer-2", "sequencer-3"]


def wait_until(probe, timeout: float, interval: float = 0.2, what: str = "condition"):
    """Poll ``probe`` until truthy; bounded by time and iterations. Raises TimeoutError naming ``what``."""
    deadline = time.monotonic() + timeout
    last = None
    for _attempt in range(int(timeout / interval) + 2):
        try:
            last = probe()
        except Exception as exc:  # noqa: BLE001 (report the last failure)
            last = exc
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            break
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")


def run_module(module: str, args: dict, check_mode: bool = False, timeout: float = 180) -> dict:
    """Run one of our modules as Ansible would (a subprocess reading ANSIBLE_MODULE_ARGS)."""
    args = dict(args, _ansible_check_mode=check_mode)
    path = REPO / "plugins" / "modules" / f"{module}.py"
    env = dict(os.environ, PYTHONPATH=str(COLLECTIONS), PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run([sys.executable, str(path), json.dumps({"ANSIBLE_MODULE_ARGS": args})],
                          capture_output=True, text=True, timeout=timeout, env=env, check=False)
    try:
        return json.loads(proc.stdout)
    except ValueError:
        raise AssertionError(f"{module} printed no JSON (rc={proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


class PidProc:
    """A process this suite started through a hook (not our child): the subset of Popen the harness uses.

    Signals go only to the PID the hook recorded, and only while /proc shows it still runs our binary.
    """

    def __init__(self, pid: int, binary: str):
        self.pid = pid
        self.binary = binary
        self.returncode = None

    def _ours(self) -> bool:
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                    return False
            with open(f"/proc/{self.pid}/cmdline", "rb") as f:
                return self.binary.encode() in f.read()
        except OSError:
            return False

    def poll(self):
        if self.returncode is None and not self._ours():
            self.returncode = -1
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def wait(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout)
            time.sleep(0.05)
        return self.returncode


class Node:
    def __init__(self, index: int, server_id: str, root: Path):
        self.index = index
        self.id = server_id
        self.host = f"127.0.0.{10 + index}"
        self.raft_port = free_port(self.host)
        self.rpc_port = free_port(self.host)
        self.storage = root / server_id / "raft"
        self.log_path = root / server_id / "op-conductor.log"
        self.proc: subprocess.Popen | PidProc | None = None
        self.pidfile = root / server_id / "op-conductor.pid"
        self.starts = 0

    @property
    def raft_address(self) -> str:
        return f"{self.host}:{self.raft_port}"

    @property
    def rpc_url(self) -> str:
        return f"http://{self.host}:{self.rpc_port}"

    @property
    def node_dir(self) -> Path:
        return self.storage / self.id

    def server(self, suffrage: str = "voter") -> dict:
        return {"id": self.id, "address": self.raft_address, "suffrage": suffrage}

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class ConductorCluster:
    """op-conductor processes plus their stubs. ``ids`` are the Raft server IDs (= inventory hosts)."""

    def __init__(self, binary: str, root: Path, ids: list[str], *, health_interval: int = 3600,
                 unsafe_interval: int = 3600, heartbeat: str = "500ms", lease: str = "250ms",
                 commit_payloads: bool = True, stubs: StubCluster | None = None, extra_args: tuple = ()):
        self.binary = binary
        self.extra_args = list(extra_args)  # more op-conductor flags, e.g. the raft snapshot settings
        self.root = Path(root)
        self.health_interval = health_interval
        self.unsafe_interval = unsafe_interval
        self.heartbeat = heartbeat
        self.lease = lease
        self.nodes: dict[str, Node] = {}
        self.stubs = stubs or StubCluster(list(ids), commit_payloads=commit_payloads)
        self._own_stubs = stubs is None
        self._stubs_started = False
        for i, sid in enumerate(ids, 1):
            self.nodes[sid] = Node(i, sid, self.root)

    # --- state ---------------------------------------------------------------------------------
    def servers(self, ids: list[str] | None = None) -> list[dict]:
        return [self.nodes[i].server() for i in (ids or list(self.nodes))]

    def deploy_state(self, ids: list[str] | None = None, members: list[dict] | None = None) -> None:
        """Write each node's state with opstack.conductor.raft_state (what the deploy playbook runs)."""
        members = members or self.servers(ids)
        for sid in ids or list(self.nodes):
            node = self.nodes[sid]
            node.storage.mkdir(parents=True, exist_ok=True)
            res = run_module("raft_state", dict(path=str(node.node_dir), server_id=sid, servers=members))
            assert not res.get("failed") and res.get("action") in ("create", "unchanged"), res

    def add_node(self, server_id: str) -> Node:
        node = Node(len(self.nodes) + 1, server_id, self.root)
        self.nodes[server_id] = node
        self.stubs.add_node(server_id)
        return node

    # --- processes -----------------------------------------------------------------------------
    def start_stubs(self) -> None:
        if not self._stubs_started:
            if self._own_stubs:
                self.stubs.start()
            self._stubs_started = True

    def command(self, sid: str, paused: bool = True) -> list[str]:
        node = self.nodes[sid]
        return [
            self.binary,
            f"--node.rpc={self.stubs.node_url(sid)}",
            f"--execution.rpc={self.stubs.geth_url(sid)}",
            "--network=op-sepolia",
            f"--healthcheck.interval={self.health_interval}",
            f"--healthcheck.unsafe-interval={self.unsafe_interval}",
            "--healthcheck.min-peer-count=1",
            f"--raft.server.id={sid}",
            f"--raft.storage.dir={node.storage}",
            "--raft.bootstrap=false",
            f"--raft.heartbeat-timeout={self.heartbeat}",
            f"--raft.lease-timeout={self.lease}",
            f"--consensus.addr={node.host}",
            f"--consensus.port={node.raft_port}",
            f"--consensus.advertised={node.raft_address}",
            f"--rpc.addr={node.host}",
            f"--rpc.port={node.rpc_port}",
            "--rpc.enable-proxy=false",
            f"--paused={'true' if paused else 'false'}",
            "--log.level=info",
            "--log.format=logfmt",
        ] + self.extra_args

    def start(self, sid: str, paused: bool = True, wait: bool = True) -> Node:
        """Start the stubs (first), then this node's op-conductor."""
        self.start_stubs()
        node = self.nodes[sid]
        assert not node.alive(), f"{sid} already runs"
        node.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.stubs.set_conductor(sid, node.rpc_url)
        log = open(node.log_path, "ab")
        log.write(f"\n=== start {node.starts + 1}: {' '.join(self.command(sid, paused))}\n".encode())
        log.flush()
        node.proc = subprocess.Popen(self.command(sid, paused), stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        node.starts += 1
        if wait:
            self.wait_rpc(sid)
        return node

    def start_all(self, ids: list[str] | None = None, paused: bool = True) -> None:
        ids = ids or list(self.nodes)
        for sid in ids:
            self.start(sid, paused=paused, wait=False)
        for sid in ids:
            self.wait_rpc(sid)

    def wait_rpc(self, sid: str, timeout: float = 60) -> None:
        node = self.nodes[sid]

        def up():
            if not node.alive():
                raise AssertionError(f"op-conductor {sid} exited with {node.proc.returncode}:\n{self.log_tail(sid)}")
            try:
                rpc_call(node.rpc_url, "conductor_paused", timeout=2)
                return True
            except (OSError, RPCError):
                return False

        try:
            wait_until(up, timeout, what=f"{sid} RPC at {node.rpc_url}")
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\n{self.log_tail(sid)}") from None

    def write_spec(self, path: Path, paused: bool = True) -> Path:
        """The spec conductorctl.py (the playbooks' start hook) reads."""
        spec = {sid: {"argv": self.command(sid, paused), "log": str(n.log_path), "pidfile": str(n.pidfile)}
                for sid, n in self.nodes.items()}
        for sid, n in self.nodes.items():
            self.stubs.set_conductor(sid, n.rpc_url)
        path.write_text(json.dumps(spec, indent=1))
        return path

    def adopt(self) -> list[str]:
        """Track the op-conductor processes the start hook launched (by the PIDs it wrote)."""
        adopted = []
        for sid, n in self.nodes.items():
            if n.alive() or not n.pidfile.exists():
                continue
            n.proc = PidProc(int(n.pidfile.read_text().strip()), self.binary)
            n.starts += 1
            adopted.append(sid)
        return adopted

    def stop(self, sid: str, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        node = self.nodes[sid]
        if node.proc is None:
            return
        if node.proc.poll() is None:
            node.proc.send_signal(sig)
            try:
                node.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                node.proc.kill()
                node.proc.wait(timeout=10)
        node.proc = None

    def kill(self, sid: str) -> None:
        self.stop(sid, sig=signal.SIGKILL)

    def close(self) -> None:
        self.adopt()
        for sid in list(self.nodes):
            try:
                self.stop(sid)
            except Exception:  # noqa: BLE001
                pass
        if self._own_stubs and self._stubs_started:
            self.stubs.stop()

    def __enter__(self) -> "ConductorCluster":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def log_tail(self, sid: str, lines: int = 40) -> str:
        try:
            text = self.nodes[sid].log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(text[-lines:])

    # --- RPC -----------------------------------------------------------------------------------
    def rpc(self, sid: str, method: str, *params: Any, timeout: float = 10) -> Any:
        return rpc_call(self.nodes[sid].rpc_url, method, list(params), timeout=timeout)

    def running(self) -> list[str]:
        return [sid for sid, n in self.nodes.items() if n.alive()]

    def module_nodes(self, ids: list[str] | None = None) -> list[dict]:
        """The ``nodes`` option of our conductor_* modules."""
        return [{"id": sid, "url": self.nodes[sid].rpc_url, "node_rpc_url": self.stubs.node_url(sid)}
                for sid in (ids or list(self.nodes))]

    def leaders(self, ids: list[str] | None = None) -> dict:
        """``{node: leaderWithID.id}`` for the running nodes (None where RPC fails)."""
        out = {}
        for sid in ids or self.running():
            try:
                out[sid] = self.rpc(sid, "conductor_leaderWithID", timeout=3).get("id") or None
            except (OSError, RPCError):
                out[sid] = None
        return out

    def claimed_leaders(self) -> list[str]:
        out = []
        for sid in self.running():
            try:
                if self.rpc(sid, "conductor_leader", timeout=3):
                    out.append(sid)
            except (OSError, RPCError):
                pass
        return out

    def wait_leader(self, timeout: float = 30, ids: list[str] | None = None) -> str:
        """Wait until every running node (or ``ids``) names the same leader and it claims leadership."""

        def agreed():
            seen = self.leaders(ids or self.members())
            values = set(seen.values())
            if len(values) == 1 and None not in values:
                leader = values.pop()
                if leader in self.nodes and self.nodes[leader].alive() and self.rpc(leader, "conductor_leader"):
                    return leader
            return None

        return wait_until(agreed, timeout, what="one agreed leader")

    def members(self) -> list[str]:
        """Running nodes that count themselves in their own configuration."""
        out = []
        for sid in self.running():
            try:
                m = self.rpc(sid, "conductor_clusterMembership", timeout=3)
            except (OSError, RPCError):
                continue
            if any(s["id"] == sid for s in m.get("servers") or []):
                out.append(sid)
        return out

    def memberships(self, ids: list[str] | None = None) -> dict:
        out = {}
        for sid in ids or self.running():
            try:
                m = self.rpc(sid, "conductor_clusterMembership", timeout=3)
                out[sid] = (m["version"], sorted((s["id"], s["addr"], s["suffrage"]) for s in m["servers"] or []))
            except (OSError, RPCError) as exc:
                out[sid] = repr(exc)
        return out
