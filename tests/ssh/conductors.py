"""The real op-conductor on the SSH test bed (issue 18): the binary tests/e2e builds (build_op_conductor.py), copied
into the run directory where the op-conductor user can execute it (the checkout under /root is 0700), started and
stopped ONLY by the conductor_cluster role's command hooks (conductor_hook.py, run over SSH with become, which
starts it as the op-conductor user), with the op-node/op-geth stubs of tests/e2e (l2stub.py, in this process).

Per host: op-conductor listens on the host's own address (Raft and RPC ports picked by the bed), keeps its Raft
state in the host's storage directory (conductor_storage_dir), logs to ``<host>/op-conductor.log`` and runs with
the host's own supplementary group (partition.py cuts hosts apart by it). Everything here is torn down by
``close``: the conductors it knows of are stopped by PID (only while /proc shows they run the copied binary), the
stubs stopped; the bed's teardown then kills whatever the op-conductor user still runs.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from typing import Dict, List, Optional

from ansible_collections.opstack.conductor.tests.e2e import build_op_conductor
from ansible_collections.opstack.conductor.tests.e2e.l2stub import RPCError, StubCluster, rpc_call
from ansible_collections.opstack.conductor.tests.ssh.testbed import HOST_NAMES, SYSTEM_PYTHON, SPARE, Host, TestBed

HOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "conductor_hook.py")
HEARTBEAT, LEASE = "1s", "500ms"  # looser than e2e's 500ms/250ms: 2 shared cores, many sessions


def wait_for(probe, what: str, polls: int = 300, interval: float = 0.2):
    """Poll ``probe`` until it returns something truthy: at most ``polls`` times, ``interval`` apart (bounded in
    count, hence in time). Raises AssertionError naming ``what`` and the last value seen."""
    last = None
    for _poll in range(polls):
        try:
            last = probe()
        except (OSError, RPCError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError("%s: not seen in %d polls; last: %r" % (what, polls, last))


class LiveCluster:
    """op-conductor on the bed's hosts (and the spare), reached by the role over SSH."""

    def __init__(self, bed: TestBed, binary: str):
        self.bed = bed
        self.binary = binary
        self.hook = os.path.join(bed.run_dir, "bin", "conductor_hook.py")
        self.stubs = StubCluster(list(HOST_NAMES) + [SPARE[0]])

    # --- setup ----------------------------------------------------------------------------------------------
    @classmethod
    def start(cls, bed: TestBed) -> "LiveCluster":
        stamp = build_op_conductor.build()  # reuses the stamped build of tests/e2e (make op-conductor)
        bin_dir = os.path.join(bed.run_dir, "bin")
        os.makedirs(bin_dir, mode=0o755, exist_ok=True)
        binary = os.path.join(bin_dir, "op-conductor")
        shutil.copyfile(stamp["binary"], binary)
        os.chmod(binary, 0o755)
        cluster = cls(bed, binary)
        shutil.copyfile(HOOK, cluster.hook)
        os.chmod(cluster.hook, 0o644)
        cluster.stubs.start()  # op-conductor dials its op-node and op-geth when it starts
        return cluster

    def hosts(self) -> List[Host]:
        return self.bed.hosts + self.bed.spares

    def rpc_url(self, host: Host) -> str:
        return "http://%s:%d" % (host.address, host.rpc_port)

    def spec_path(self, host: Host) -> str:
        return os.path.join(host.root, "conductor.json")

    def log_path(self, host: Host) -> str:
        return os.path.join(host.root, "op-conductor.log")

    def pid_path(self, host: Host) -> str:
        return os.path.join(host.root, "op-conductor.pid")

    def argv(self, host: Host) -> List[str]:
        raft = "%s:%d" % (host.address, host.raft_port)
        return [self.binary, "--node.rpc=" + self.stubs.node_url(host.name),
                "--execution.rpc=" + self.stubs.geth_url(host.name), "--network=op-sepolia",
                "--healthcheck.interval=3600", "--healthcheck.unsafe-interval=3600", "--healthcheck.min-peer-count=1",
                "--raft.server.id=" + host.name, "--raft.storage.dir=" + host.storage, "--raft.bootstrap=false",
                "--raft.heartbeat-timeout=" + HEARTBEAT, "--raft.lease-timeout=" + LEASE,
                "--consensus.addr=" + host.address, "--consensus.port=%d" % host.raft_port,
                "--consensus.advertised=" + raft, "--rpc.addr=" + host.address, "--rpc.port=%d" % host.rpc_port,
                "--rpc.enable-proxy=false", "--paused=true", "--log.level=info", "--log.format=logfmt"]

    def write_spec(self, host: Host) -> None:
        conductor = self.bed.conductor
        spec = {"argv": self.argv(host), "uid": conductor.uid, "gid": conductor.gid,
                "groups": [conductor.gid, host.group.gid], "log": self.log_path(host), "pidfile": self.pid_path(host)}
        with open(self.spec_path(host), "w") as handle:
            json.dump(spec, handle, indent=1)
        self.stubs.set_conductor(host.name, self.rpc_url(host))

    def inventory(self, path: str, names: List[str], retired=(), **group_vars) -> str:
        """The bed's inventory (become, the op-conductor owner) for ``names``, with the live-operation variables:
        each host's Raft address and RPC URL, its op-node stub, the start and stop hooks; hosts in ``retired``
        have conductor_member=false. Every host runs /usr/bin/python3 (python3-msgpack)."""
        group_vars.setdefault("conductor_install_msgpack", False)
        group_vars.setdefault("conductor_wait_timeout", 60)
        group_vars.setdefault("conductor_transfer_timeout", 30)
        self.bed.inventory(path, os.path.join(os.path.dirname(path), "raft-backups"), **group_vars)
        with open(path) as handle:
            document = json.load(handle)
        group = document["all"]["children"]["sequencers"]
        group["hosts"] = {}
        for name in names:
            host = self.bed.host(name)
            self.write_spec(host)
            hook = "%s %s %%s %s" % (SYSTEM_PYTHON, self.hook, self.spec_path(host))
            group["hosts"][name] = {
                "ansible_host": host.address, "ansible_port": host.port, "ansible_python_interpreter": SYSTEM_PYTHON,
                "conductor_raft_address": "%s:%d" % (host.address, host.raft_port),
                "conductor_rpc_url": self.rpc_url(host), "conductor_node_rpc_url": self.stubs.node_url(host.name),
                "conductor_storage_dir": host.storage, "conductor_backup_dest": host.backups,
                "conductor_member": name not in retired,
                "conductor_service_start_command": hook % "start",
                "conductor_service_stop_command": hook % "stop"}
        with open(path, "w") as handle:
            json.dump(document, handle, indent=1)
        return path

    # --- looking at the processes ------------------------------------------------------------------------
    def pid(self, host: Host) -> Optional[int]:
        """The PID the hook recorded, while it runs the copied binary."""
        try:
            with open(self.pid_path(host)) as handle:
                pid = int(handle.read().strip())
            with open("/proc/%d/stat" % pid) as handle:
                if handle.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                    return None
            return pid if os.readlink("/proc/%d/exe" % pid) == self.binary else None
        except (OSError, ValueError, IndexError):
            return None

    @staticmethod
    def credentials(pid: int) -> Dict[str, List[int]]:
        """Real/effective uids and gids and the supplementary groups of a process (from /proc/<pid>/status)."""
        found = {}
        with open("/proc/%d/status" % pid) as handle:
            for line in handle:
                key, _colon, value = line.partition(":")
                if key in ("Uid", "Gid", "Groups"):
                    found[key] = [int(x) for x in value.split()]
        return found

    def rpc(self, host: Host, method: str, *params, timeout: float = 5):
        return rpc_call(self.rpc_url(host), method, list(params), timeout=timeout)

    def leaders_seen(self, hosts: List[Host]) -> Dict[str, str]:
        """{host: the leader id it names ("" when none)}; an RPC error is shown as such."""
        seen = {}
        for host in hosts:
            try:
                seen[host.name] = (self.rpc(host, "conductor_leaderWithID") or {}).get("id") or ""
            except (OSError, RPCError) as exc:
                seen[host.name] = "error: %s" % exc
        return seen

    def members(self, host: Host) -> List[str]:
        return sorted(s["id"] for s in self.rpc(host, "conductor_clusterMembership")["servers"] or [])

    def log_tail(self, lines: int = 30) -> str:
        out = []
        for host in self.hosts():
            try:
                with open(self.log_path(host), errors="replace") as handle:
                    text = handle.read().splitlines()[-lines:]
            except OSError:
                continue
            out.append("--- %s op-conductor log ---\n%s" % (host.name, "\n".join(text)))
        return "\n".join(out)

    # --- teardown -----------------------------------------------------------------------------------------
    def close(self) -> None:
        for host in self.hosts():
            pid = self.pid(host)
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
        self.stubs.stop()
