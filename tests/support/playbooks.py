"""Running ansible-playbook (the venv's) in the playbook tests (tests/playbooks, tests/ssh): on the working tree or an
installed copy, with a clean Ansible environment; the recap and the raft_info table parsed; local inventories."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, List, Optional

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
WORKTREE_COLLECTIONS = os.path.join(REPO, ".cache", "collections")  # tests/conftest.py links the checkout there
BIN = os.path.dirname(sys.executable)
RECAP = re.compile(r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
                   r"\s+failed=(?P<failed>\d+)", re.MULTILINE)


@dataclass
class Run:
    rc: int
    out: str
    recap: Dict[str, Dict[str, int]] = field(default_factory=dict)

    @property
    def changed_hosts(self) -> List[str]:
        return sorted(host for host, counts in self.recap.items() if counts["changed"])

    def __repr__(self) -> str:  # shown by pytest when an assertion on a Run fails
        return "rc=%d\n%s" % (self.rc, self.out[-6000:])


def tool(name: str) -> str:
    return os.path.join(BIN, name)


def ansible_env(tmp_path, collections_path: str = WORKTREE_COLLECTIONS, extra: Optional[Dict[str, str]] = None):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OP_CONDUCTOR_INIT_", "ANSIBLE_", "MOLECULE_"))}
    env.update(
        PATH=BIN + os.pathsep + env.get("PATH", ""),
        ANSIBLE_COLLECTIONS_PATH=collections_path,
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_RETRY_FILES_ENABLED="0",
        ANSIBLE_LOCAL_TEMP=str(tmp_path / ".ansible-tmp"),
        ANSIBLE_HOME=str(tmp_path / ".ansible-home"),
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(extra or {})
    return env


# A bound, not a speed goal: a 3-host restore took over 120 s at load 32 on 2 shared cores (CI runs everything at
# once); a hung run still ends here.
PLAYBOOK_TIMEOUT = 600


def run_playbook(tmp_path, *args: str, env_extra: Optional[Dict[str, str]] = None, cwd=None,
                 collections_path: str = WORKTREE_COLLECTIONS, timeout: int = PLAYBOOK_TIMEOUT) -> Run:
    proc = subprocess.run([tool("ansible-playbook"), *args], cwd=str(cwd or tmp_path), check=False, capture_output=True,
                          text=True, timeout=timeout, env=ansible_env(tmp_path, collections_path, env_extra))
    out = proc.stdout + proc.stderr
    recap = {m["host"]: {k: int(m[k]) for k in ("ok", "changed", "unreachable", "failed")} for m in RECAP.finditer(out)}
    return Run(proc.returncode, out, recap)


# A module run in a -vvv log: the interpreter started on the AnsiballZ wrapper (not the chmod before it).
MODULE_RUN = re.compile(r"^<([^>]+)> EXEC /bin/sh -c '\S*python\S* \S+/AnsiballZ_\w+\.py && sleep 0'$", re.MULTILINE)


def module_runs_per_host(run: Run) -> Dict[str, int]:
    """{host: AnsiballZ module runs} of a run made with -vvv."""
    return dict(Counter(MODULE_RUN.findall(run.out)))


def table(run: Run, with_cluster: bool = False) -> List[List[str]]:
    """The rows (lists of cells) of the last node table that the raft_info role printed: the fleet view's (issue 19
    item 3), without its first cell (CLUSTER) unless ``with_cluster``."""
    start = re.search(r'(?s).*("CLUSTER +HOST )', run.out).start(1)
    rows = []
    for line in run.out[start:].splitlines()[2:]:
        line = line.strip().rstrip(",").strip('"')
        if not line or line.startswith("]"):
            break
        rows.append(line.split()[0 if with_cluster else 1:])
    return rows


def table_records(run: Run) -> List[Dict[str, str]]:
    """The rows of the last fleet table a playbook printed, each as {column title: cell}: columns found by title,
    cells split on the two or more spaces that separate them (a cell may hold one space, and the Raft columns come
    before UP when status merges the offline report)."""
    lines = re.findall(r'"([^"\n]*)"', run.out)
    start = max(number for number, line in enumerate(lines) if line.startswith("CLUSTER") and " HOST " in line)
    titles = re.split(r"\s{2,}", lines[start].strip())
    records = []
    for line in lines[start + 2:]:
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) != len(titles):
            break
        records.append(dict(zip(titles, cells)))
    return records


def cluster_summary(out: str) -> Dict[str, str]:
    """The last lines of a run (playbooks/_cluster_summary.yml), {cluster: line}."""
    start = out.rindex("TASK [Show the outcome of every cluster]")
    found = {}
    for line in out[start:].splitlines():
        line = line.strip().rstrip(",").strip('"')
        if line.startswith("cluster "):
            found[line.split()[1]] = line
    return found


def local_inventory(path, hosts: Dict[str, Dict[str, str]], group_vars: Optional[Dict[str, object]] = None) -> str:
    """A YAML inventory of local-connection hosts in group sequencers."""
    lines = ["all:", "  children:", "    sequencers:", "      hosts:"]
    for host, hostvars in hosts.items():
        lines.append("        %s: %s" % (host, json.dumps(hostvars)))
    lines.append("      vars:")
    base = {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}
    base.update(group_vars or {})
    for key, value in base.items():
        lines.append("        %s: %s" % (key, json.dumps(value)))
    path.write_text("\n".join(lines) + "\n")
    return str(path)
