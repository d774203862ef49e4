"""A multi-host test bed of real parts (issue 18 item 1): three "hosts", each its own sshd from Debian's
openssh-server on its own 127.0.0.x address and a free port, with its own host key and config file; a deploy user
that logs in with a key pair made for the run and becomes root with sudo (a sudoers.d drop-in made for the run); a
system user like op-conductor's that owns each host's storage directory; and one host whose Python (a venv made
for the run, without msgpack) lacks msgpack. Each host also has Raft and RPC ports of its own for op-conductor and
a group of its own that its op-conductor runs with (conductors.py, partition.py); a fourth host (SPARE) is started
on demand for the tests that add a member.

Nothing outside the run directory ``/tmp/opstack-ssh-<pid>`` is touched except the two users, the hosts' groups
(``opstack-t-net<N>-<pid>``), the sudoers drop-in ``/etc/sudoers.d/opstack-t-<pid>``, the iptables chain of a
partition (``opstack-t-<pid>``, removed by the partition itself) and the packages installed when missing
(openssh-server, sudo, iptables, python3-msgpack for /usr/bin/python3), and every one of those (packages aside) is removed by
``TestBed.close``, which also runs after a failed setup. What a killed run left behind (its users, groups, sudoers
file, iptables chain, sshd processes) is removed by the next run (``remove_stale``).

Ansible reaches the hosts with the ``ssh`` connection plugin, StrictHostKeyChecking against a known_hosts file made
for the run, and its control masters in the run directory (ended with ``ssh -O exit`` at teardown)."""

from __future__ import annotations

import contextlib
import glob
import grp
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from ansible_collections.opstack.conductor.tests.support.net import free_ports
from ansible_collections.opstack.conductor.tests.support.nonroot import PREFIX, TestUser, remove_user, user_name
from ansible_collections.opstack.conductor.tests.ssh import partition

SSHD = "/usr/sbin/sshd"
SYSTEM_PYTHON = "/usr/bin/python3"
SUDOERS_DIR = "/etc/sudoers.d"
RUN_PREFIX = "/tmp/opstack-ssh-"
HOST_NAMES = ("sequencer-1", "sequencer-2", "sequencer-3")
ADDRESSES = ("127.0.0.21", "127.0.0.22", "127.0.0.23")
SPARE = ("sequencer-4", "127.0.0.24")  # a fourth host, started only for the tests that add a member
NO_MSGPACK_HOST = "sequencer-3"  # its ansible_python_interpreter is a venv without msgpack
PACKAGES = {"openssh-server": SSHD, "sudo": "/usr/bin/sudo",
            "iptables": "/usr/sbin/iptables"}  # the partition (partition.py); a fresh Debian image lacks it


def _run(command: List[str], timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, check=True, capture_output=True, text=True, timeout=timeout, **kwargs)


def _system_python_has_msgpack() -> bool:
    return subprocess.run([SYSTEM_PYTHON, "-c", "import msgpack"], capture_output=True, timeout=60,
                          check=False).returncode == 0


def install_dependencies() -> None:
    """openssh-server, sudo and iptables, and msgpack for /usr/bin/python3 (the hosts that have it), from Debian's
    packages when missing, as `make test-sanity` installs shellcheck. The package's own sshd service is never started: the
    image's policy-rc.d refuses it, and this runs with RUNLEVEL=1 besides."""
    wanted = [name for name, path in PACKAGES.items() if not os.path.exists(path)]
    if not _system_python_has_msgpack():
        wanted.append("python3-msgpack")
    if not wanted:
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive", RUNLEVEL="1")
    _run(["apt-get", "update", "-qq"], timeout=600, env=env)
    _run(["apt-get", "install", "-y", "-qq", "--no-install-recommends"] + wanted, timeout=900, env=env)


def _children(pid: int) -> List[int]:
    found = []
    for stat_file in glob.glob("/proc/[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            with open(stat_file) as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(stat_file.split("/")[2]))
    return found


def descendants(pid: int) -> List[int]:
    """Every process below pid (sshd's per-connection children and the sessions they run)."""
    out, todo = [], [pid]
    for _step in range(10000):  # bounded walk
        if not todo:
            break
        children = _children(todo.pop())
        out.extend(children)
        todo.extend(children)
    return out


def _kill(pids: List[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@dataclass(frozen=True)
class TestGroup:
    __test__ = False
    name: str
    gid: int


@dataclass
class Host:
    name: str
    address: str
    port: int
    root: str  # <run>/hosts/<name>
    python: str = SYSTEM_PYTHON
    process: Optional[subprocess.Popen] = None
    # op-conductor's Raft (consensus) and RPC ports on the host's address, picked when the host is made
    raft_port: int = 0
    rpc_port: int = 0
    # a group of this host's own, which its op-conductor runs with (partition.py tells hosts apart by it)
    group: Optional[TestGroup] = None

    @property
    def storage(self) -> str:
        return os.path.join(self.root, "raft")

    @property
    def node(self) -> str:
        return os.path.join(self.storage, self.name)

    @property
    def backups(self) -> str:
        return os.path.join(self.root, "backups")

    @property
    def host_key(self) -> str:
        return os.path.join(self.root, "ssh_host_ed25519_key")

    @property
    def log(self) -> str:
        return os.path.join(self.root, "sshd.log")


@dataclass
class TestBed:
    __test__ = False
    run_dir: str
    deploy: Optional[TestUser] = None
    conductor: Optional[TestUser] = None
    hosts: List[Host] = field(default_factory=list)
    spares: List[Host] = field(default_factory=list)  # hosts beyond the three (SPARE), not in inventory()
    groups: List[TestGroup] = field(default_factory=list)
    sudoers: Optional[str] = None

    # --- paths of the run -------------------------------------------------------------------------------------
    @property
    def client_key(self) -> str:
        return os.path.join(self.run_dir, "client", "id_ed25519")

    @property
    def known_hosts(self) -> str:
        return os.path.join(self.run_dir, "client", "known_hosts")

    @property
    def control_dir(self) -> str:
        return os.path.join(self.run_dir, "client", "cp")

    @property
    def venv(self) -> str:
        return os.path.join(self.run_dir, "venv-without-msgpack")

    @property
    def home(self) -> str:
        return os.path.join(self.run_dir, "home", self.deploy.name)

    def host(self, name: str) -> Host:
        return next(h for h in self.hosts + self.spares if h.name == name)

    # --- setup --------------------------------------------------------------------------------------------------
    def start(self) -> None:
        os.makedirs(os.path.join(self.run_dir, "client", "cp"), mode=0o700)
        os.makedirs(os.path.join(self.run_dir, "home"))
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "opstack-ssh-test", "-f", self.client_key])
        self.conductor = self._user("opc", ["--shell", "/usr/sbin/nologin", "--no-create-home"])
        home = os.path.join(self.run_dir, "home", user_name("deploy"))
        self.deploy = self._user("deploy", ["--shell", "/bin/bash", "--create-home", "--home-dir", home])
        self._authorize()
        self._sudoers()
        for name, address in zip(HOST_NAMES, ADDRESSES):
            self.hosts.append(self._new_host(name, address))
        self.make_venv()
        self.host(NO_MSGPACK_HOST).python = os.path.join(self.venv, "bin", "python")
        self._known_hosts()

    def _new_host(self, name: str, address: str) -> Host:
        ssh_port, raft_port, rpc_port = sorted(free_ports(3, address))  # distinct: bound at once
        host = Host(name, address, ssh_port, os.path.join(self.run_dir, "hosts", name), raft_port=raft_port,
                    rpc_port=rpc_port, group=self._group("net%s" % name.rsplit("-", 1)[-1]))
        os.makedirs(host.root)
        os.chmod(host.root, 0o755)
        self._start_sshd(host)
        return host

    def start_spare(self) -> Host:
        """The fourth host (its own sshd, address and ports), added to known_hosts; once per bed."""
        if not self.spares:
            self.spares.append(self._new_host(*SPARE))
            self._known_hosts()
        return self.spares[0]

    def _group(self, short: str) -> TestGroup:
        name = user_name(short)
        _run(["groupadd", "--system", name])
        group = TestGroup(name, grp.getgrnam(name).gr_gid)
        self.groups.append(group)
        return group

    def _user(self, short: str, options: List[str]) -> TestUser:
        name = user_name(short)
        # "*": no password, but not a locked account ("!"), which sshd refuses even for keys (UsePAM no).
        _run(["useradd", "--system", "--user-group", "--password", "*"] + options + [name])
        entry = pwd.getpwnam(name)
        return TestUser(name, entry.pw_uid, entry.pw_gid)

    def _authorize(self) -> None:
        ssh_dir = os.path.join(self.home, ".ssh")
        os.makedirs(ssh_dir, mode=0o700, exist_ok=True)
        shutil.copyfile(self.client_key + ".pub", os.path.join(ssh_dir, "authorized_keys"))
        os.chmod(os.path.join(ssh_dir, "authorized_keys"), 0o600)
        for path in (self.home, ssh_dir, os.path.join(ssh_dir, "authorized_keys")):
            os.chown(path, self.deploy.uid, self.deploy.gid)
        os.chmod(self.home, 0o755)

    def _sudoers(self) -> None:
        path = os.path.join(SUDOERS_DIR, "%s%d" % (PREFIX, os.getpid()))  # no dot: sudo skips names with one
        staged = os.path.join(self.run_dir, "sudoers")
        with open(staged, "w") as handle:
            handle.write("%s ALL=(ALL:ALL) NOPASSWD: ALL\n" % self.deploy.name)
        os.chmod(staged, 0o440)
        _run(["visudo", "-c", "-q", "-f", staged])
        os.makedirs(SUDOERS_DIR, mode=0o750, exist_ok=True)
        shutil.copyfile(staged, path)
        os.chmod(path, 0o440)
        self.sudoers = path

    def _sshd_config(self, host: Host) -> str:
        config = os.path.join(host.root, "sshd_config")
        with open(config, "w") as handle:
            handle.write("\n".join([
                "ListenAddress %s:%d" % (host.address, host.port),
                "HostKey %s" % host.host_key,
                "PidFile %s" % os.path.join(host.root, "sshd.pid"),
                "AuthorizedKeysFile .ssh/authorized_keys",
                "AllowUsers %s" % self.deploy.name,
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PermitRootLogin no",
                "UsePAM no",
                "StrictModes yes",
                "X11Forwarding no",
                "AllowTcpForwarding no",
                "PrintMotd no",
                "LogLevel VERBOSE",
                "Subsystem sftp /usr/lib/openssh/sftp-server",
                "",
            ]))
        return config

    def _start_sshd(self, host: Host) -> None:
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", host.name, "-f", host.host_key])
        config = self._sshd_config(host)
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation directory
        _run([SSHD, "-t", "-f", config])
        host.process = subprocess.Popen([SSHD, "-D", "-f", config, "-E", host.log], stdin=subprocess.DEVNULL,
                                        start_new_session=True)
        self._wait_listening(host)

    @staticmethod
    def _wait_listening(host: Host) -> None:
        for _attempt in range(200):  # bounded in count; each try waits at most 0.1 s
            if host.process.poll() is not None:
                with open(host.log) as log:
                    raise RuntimeError("sshd for %s exited with %s: %s"
                                       % (host.name, host.process.returncode, log.read()))
            with socket.socket() as probe:
                probe.settimeout(0.1)
                if probe.connect_ex((host.address, host.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("sshd for %s does not listen on %s:%d" % (host.name, host.address, host.port))

    def _known_hosts(self) -> None:
        with open(self.known_hosts, "w") as handle:
            for host in self.hosts + self.spares:
                with open(host.host_key + ".pub") as key:
                    algorithm, blob = key.read().split()[:2]
                handle.write("[%s]:%d %s %s\n" % (host.address, host.port, algorithm, blob))

    def make_venv(self) -> None:
        """A Python without msgpack (its own site-packages, not the system's) that the deploy user can run."""
        shutil.rmtree(self.venv, ignore_errors=True)
        _run([SYSTEM_PYTHON, "-m", "venv", self.venv], timeout=300)
        assert not self.has_msgpack(os.path.join(self.venv, "bin", "python"))

    @staticmethod
    def has_msgpack(python: str) -> bool:
        return subprocess.run([python, "-c", "import msgpack"], capture_output=True, timeout=60,
                              check=False).returncode == 0

    # --- per test -----------------------------------------------------------------------------------------------
    def fresh_state(self) -> None:
        """Each host's storage directory empty, owned by the op-conductor user (0750, as docs/quickstart.md makes
        it), and no backups."""
        for host in self.hosts:
            for path in (host.storage, host.backups):
                shutil.rmtree(path, ignore_errors=True)
            os.makedirs(host.storage)
            os.chown(host.storage, self.conductor.uid, self.conductor.gid)
            os.chmod(host.storage, 0o750)

    def inventory(self, path: str, fetch_dir: str, **group_vars) -> str:
        hosts = {}
        for host in self.hosts:
            hosts[host.name] = {
                "ansible_host": host.address, "ansible_port": host.port, "ansible_python_interpreter": host.python,
                "conductor_raft_address": "%s:%d" % (host.address, host.raft_port),
                "conductor_storage_dir": host.storage, "conductor_backup_dest": host.backups}
        common_args = "-F /dev/null -o UserKnownHostsFile=%s -o GlobalKnownHostsFile=/dev/null " \
                      "-o StrictHostKeyChecking=yes -o IdentitiesOnly=yes -o BatchMode=yes" % self.known_hosts
        base = {"ansible_connection": "ssh", "ansible_user": self.deploy.name, "ansible_become": True,
                "ansible_ssh_private_key_file": self.client_key, "ansible_ssh_common_args": common_args,
                "conductor_owner": self.conductor.name, "conductor_group_owner": self.conductor.name,
                "conductor_initial_leader": HOST_NAMES[0], "conductor_install_msgpack": True,
                "conductor_backup_fetch_dir": fetch_dir}
        base.update(group_vars)
        document = {"all": {"children": {"sequencers": {"hosts": hosts, "vars": base}}}}
        with open(path, "w") as handle:
            json.dump(document, handle, indent=1)  # JSON is YAML
        return path

    def ansible_env(self, pipelining: bool) -> Dict[str, str]:
        return {"ANSIBLE_PIPELINING": "true" if pipelining else "false",
                "ANSIBLE_SSH_CONTROL_PATH_DIR": self.control_dir,
                "ANSIBLE_HOST_KEY_CHECKING": "true",
                "ANSIBLE_TIMEOUT": "30"}

    # --- teardown -----------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Everything this run made, whatever state setup reached."""
        self.end_control_masters()
        partition.remove_chain(partition.chain_name())
        for host in self.hosts + self.spares:
            if host.process is not None:
                _kill(descendants(host.process.pid))
                host.process.kill()
                host.process.wait(timeout=30)
        if self.sudoers:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.sudoers)
        for user in (self.deploy, self.conductor):
            if user is not None:
                _kill(_processes_of(user.uid))
                remove_user(user)
        for group in self.groups:
            _remove_group(group.name)
        shutil.rmtree(self.run_dir, ignore_errors=True)

    def end_control_masters(self) -> None:
        for socket_path in glob.glob(os.path.join(self.control_dir, "*")):
            subprocess.run(["ssh", "-F", "/dev/null", "-o", "ControlPath=" + socket_path, "-O", "exit", "x"],
                           capture_output=True, timeout=30, check=False)


def _processes_of(uid: int) -> List[int]:
    found = []
    for status in glob.glob("/proc/[0-9]*/status"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            with open(status) as handle:
                for line in handle:
                    if line.startswith("Uid:") and int(line.split()[1]) == uid:
                        found.append(int(status.split("/")[2]))
    return found


def _remove_group(name: str) -> None:
    subprocess.run(["groupdel", name], capture_output=True, timeout=60, check=False)


def remove_stale() -> None:
    """What a killed run (its PID gone) left: sshd processes, the run directory, the sudoers drop-in, the users,
    the hosts' groups, the iptables chain of a partition."""
    partition.remove_stale()
    for run_dir in glob.glob(RUN_PREFIX + "*"):
        pid = run_dir[len(RUN_PREFIX):]
        if not pid.isdigit() or os.path.exists("/proc/%s" % pid):
            continue
        for pid_file in glob.glob(os.path.join(run_dir, "hosts", "*", "sshd.pid")):
            with contextlib.suppress(OSError, ValueError):
                listener = int(open(pid_file).read().strip())
                if os.readlink("/proc/%d/exe" % listener) == SSHD:
                    _kill(descendants(listener) + [listener])
        shutil.rmtree(run_dir, ignore_errors=True)
    for path in glob.glob(os.path.join(SUDOERS_DIR, PREFIX + "*")):
        pid = path[len(os.path.join(SUDOERS_DIR, PREFIX)):]
        if pid.isdigit() and not os.path.exists("/proc/%s" % pid):
            os.unlink(path)
    for short in ("deploy", "opc"):
        stem = PREFIX + short + "-"
        for entry in pwd.getpwall():
            pid = entry.pw_name[len(stem):] if entry.pw_name.startswith(stem) else ""
            if pid.isdigit() and (int(pid) == os.getpid() or not os.path.exists("/proc/%s" % pid)):
                _kill(_processes_of(entry.pw_uid))
                remove_user(TestUser(entry.pw_name, entry.pw_uid, entry.pw_gid))
    stem = PREFIX + "net"
    for group in grp.getgrall():
        pid = group.gr_name.rsplit("-", 1)[-1] if group.gr_name.startswith(stem) else ""
        if pid.isdigit() and (int(pid) == os.getpid() or not os.path.exists("/proc/%s" % pid)):
            _remove_group(group.gr_name)


@contextlib.contextmanager
def testbed():
    install_dependencies()
    remove_stale()
    bed = TestBed(RUN_PREFIX + str(os.getpid()))
    shutil.rmtree(bed.run_dir, ignore_errors=True)
    os.makedirs(bed.run_dir)
    os.chmod(bed.run_dir, 0o755)
    try:
        bed.start()
        yield bed
    finally:
        bed.close()


testbed.__test__ = False
