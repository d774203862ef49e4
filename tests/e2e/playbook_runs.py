"""Running the collection's playbooks against the e2e conductors: the inventory the tests share (the conductors
started and stopped by conductorctl.py through the role's command hooks), ansible-playbook in a clean environment,
and its recap parsed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from harness import COLLECTIONS, HERE, ConductorCluster

BIN = Path(sys.executable).parent
RECAP = re.compile(r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
                   r"\s+failed=(?P<failed>\d+)", re.MULTILINE)
LEADER = "sequencer-2"


class Run:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.out = proc.stdout + proc.stderr
        self.recap = {m["host"]: {k: int(m[k]) for k in ("ok", "changed", "unreachable", "failed")}
                      for m in RECAP.finditer(self.out)}

    @property
    def changed(self):
        return sum(c["changed"] for c in self.recap.values())

    @property
    def failed(self):
        """Hosts' failed and unreachable counts together (a recap row of either is a failure of the run)."""
        return sum(c["failed"] + c["unreachable"] for c in self.recap.values())

    def __repr__(self):
        return f"rc={self.rc}\n{self.out[-8000:]}"


def playbook(workdir: Path, name: str, inventory: Path, *extra: str, timeout: int = 240) -> Run:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
               ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="0", ANSIBLE_HOME=str(workdir / ".ansible-home"),
               ANSIBLE_LOCAL_TEMP=str(workdir / ".ansible-tmp"), PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory), f"opstack.conductor.{name}", *extra],
                          cwd=str(workdir), capture_output=True, text=True, timeout=timeout, env=env, check=False)
    return Run(proc)


def write_inventory(c: ConductorCluster, workdir: Path, members: dict | None = None, host_vars: dict | None = None,
                    group_vars: dict | None = None) -> Path:
    """hosts.yml for the cluster: every node a local host of group sequencers, started and stopped by conductorctl.py
    through the role's command hooks; ``host_vars`` (per server ID) and ``group_vars`` add to the defaults."""
    spec = c.write_spec(workdir / "conductors.json")
    hook = f"{sys.executable} {HERE / 'conductorctl.py'}"
    node = f"--spec {spec} --node {{{{ conductor_server_id }}}}"
    hosts = {}
    for sid, n in c.nodes.items():
        hosts[sid] = {
            "conductor_raft_address": n.raft_address,
            "conductor_rpc_url": n.rpc_url,
            "conductor_node_rpc_url": c.stubs.node_url(sid),
            "conductor_storage_dir": str(n.storage),
            "conductor_member": (members or {}).get(sid, True),
            **(host_vars or {}).get(sid, {}),
        }
    inv = {"all": {"children": {"sequencers": {"hosts": hosts, "vars": {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "conductor_initial_leader": LEADER,
        "conductor_service_start_command": hook + " start " + node,
        "conductor_service_stop_command": hook + " stop " + node,
        "conductor_wait_timeout": 60,
        "conductor_transfer_timeout": 30,
        **(group_vars or {}),
    }}}}}
    path = workdir / "hosts.yml"
    path.write_text(yaml.safe_dump(inv, sort_keys=False))
    return path
