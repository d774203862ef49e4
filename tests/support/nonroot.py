"""Run a module as an unprivileged user, the way a deploy user without ``become`` runs it on a managed host.

The tests run as root, and root's home (which holds .venv) is not reachable by other users, so a module runs under
``/usr/bin/python3`` with a PYTHONPATH of where this process finds ansible, msgpack and the collection, switched to the user
with ``setpriv``. Users are system users named ``opstack-t-<x>-<pid>``, created for one test and always deleted; the
PID keeps two sessions running the same test from deleting each other's users.

    with test_users("deploy", "opc") as (deploy, opc), reachable_tmpdir() as top:
        ...
        result = run_module_as(deploy, "raft_state", dict(path=..., ...))

The pytest fixtures ``nonroot_users`` (a factory) and ``shared_tmp`` do the same with teardown; tests/conftest.py
registers this module as a pytest plugin, so every test can ask for them by name.
"""

import contextlib
import grp
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Sequence

import pytest

PYTHON = "/usr/bin/python3"
PREFIX = "opstack-t-"
MODULES = "ansible_collections.opstack.conductor.plugins.modules."

# Runs inside the child: the module's main() with its arguments, as tests/support/modules.py runs it in-process.
_RUNNER = r"""
import importlib, json, sys
from ansible.module_utils.testing import patch_module_args
with open(sys.argv[2]) as handle:
    args = json.load(handle)
module = importlib.import_module(sys.argv[1])
with patch_module_args(args):
    try:
        module.main()
    except SystemExit:
        pass
"""


@dataclass(frozen=True)
class TestUser:
    __test__ = False  # not a test class, whatever its name
    name: str
    uid: int
    gid: int

    @property
    def group(self) -> str:
        return grp.getgrgid(self.gid).gr_name


class NonRootRunError(AssertionError):
    """The child printed no JSON result (an import error, a traceback): its output, for the test report."""


def user_name(short_name: str) -> str:
    name = "%s%s-%d" % (PREFIX, short_name, os.getpid())
    if len(name) > 32:  # useradd's limit
        raise ValueError("test user name %r is longer than 32 characters: use a shorter short name" % name)
    return name


def create_user(short_name: str, groups: Sequence[str] = ()) -> TestUser:
    """A system user ``opstack-t-<short_name>-<pid>`` with its own group (and ``groups`` as supplementary
    groups)."""
    name = user_name(short_name)
    command = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group"]
    if groups:
        command += ["--groups", ",".join(groups)]
    subprocess.run(command + [name], check=True, capture_output=True, timeout=60)
    entry = pwd.getpwnam(name)
    return TestUser(name, entry.pw_uid, entry.pw_gid)


def remove_user(user: TestUser) -> None:
    """Delete the user and its group (userdel keeps a group that still has members; groupdel drops it anyway)."""
    subprocess.run(["userdel", user.name], capture_output=True, timeout=60, check=False)
    with contextlib.suppress(KeyError):
        grp.getgrnam(user.name)
        subprocess.run(["groupdel", user.name], capture_output=True, timeout=60, check=False)


def _remove_stale(short_name: str) -> None:
    """Users of that short name left by a killed run (teardown never ran): those whose PID is gone, and ours."""
    stem = PREFIX + short_name + "-"
    for entry in pwd.getpwall():
        pid = entry.pw_name[len(stem):] if entry.pw_name.startswith(stem) else ""
        if pid.isdigit() and (int(pid) == os.getpid() or not os.path.exists("/proc/%s" % pid)):
            remove_user(TestUser(entry.pw_name, entry.pw_uid, entry.pw_gid))


@contextlib.contextmanager
def test_users(*short_names: str) -> Iterator[List[TestUser]]:
    """Users created in order and removed, all of them, whatever happens in the block."""
    created = []  # type: List[TestUser]
    try:
        for short_name in short_names:
            _remove_stale(short_name)
            created.append(create_user(short_name))
        yield created
    finally:
        for user in reversed(created):
            remove_user(user)


test_users.__test__ = False


@contextlib.contextmanager
def reachable_tmpdir() -> Iterator[str]:
    """A directory every user can reach (pytest's tmp_path lives under a 0700 directory), removed afterwards."""
    top = tempfile.mkdtemp(prefix="opstack-nonroot-", dir="/tmp")
    try:
        os.chmod(top, 0o755)
        yield top
    finally:
        shutil.rmtree(top, ignore_errors=True)


def add_to_group(user: TestUser, group: str) -> None:
    subprocess.run(["usermod", "--append", "--groups", group, user.name], check=True, capture_output=True,
                   timeout=60)


def child_import_path() -> List[str]:
    """Where the child finds ansible, msgpack and this collection: the directories this process imports them from,
    symlinks resolved, each one the user can reach."""
    import ansible  # pylint: disable=import-outside-toplevel  # only to locate them
    import msgpack  # pylint: disable=import-outside-toplevel

    collections = [os.path.abspath(entry) for entry in sys.path
                   if entry and os.path.isdir(os.path.join(entry, "ansible_collections", "opstack", "conductor"))]
    return list(dict.fromkeys(collections + [_reachable_root(module, collections) for module in (ansible, msgpack)]))


def _reachable_root(package, collections: List[str]) -> str:
    """The directory holding ``package``. `ansible-test units` imports ansible from a private (0700) temporary
    directory; then the venv ansible-test runs from is used: tests/ansible_test.sh copies the collection to
    <repo>/.cache/ansible-test/run.*/, and the venv is <repo>/.venv."""
    root = os.path.dirname(os.path.dirname(os.path.realpath(package.__file__)))
    if _searchable_by_all(root):
        return root
    for entry in collections:
        repo, marker, _rest = entry.partition(os.sep + os.path.join(".cache", "ansible-test") + os.sep)
        venv = os.path.join(repo, ".venv", "lib", "python%d.%d" % sys.version_info[:2], "site-packages")
        if marker and os.path.isdir(os.path.join(venv, package.__name__)):
            return venv
    return root


def _searchable_by_all(path: str) -> bool:
    while True:
        if not os.stat(path).st_mode & 0o001:
            return False
        parent = os.path.dirname(path)
        if parent == path:
            return True
        path = parent


def run_module_as(user: TestUser, module: str, args: Dict, check_mode: bool = False, diff: bool = False,
                  timeout: float = 300, workdir: Optional[str] = None) -> Dict:
    """The JSON result of ``plugins/modules/<module>.py``'s main() run as ``user`` (with its groups)."""
    args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    with reachable_tmpdir() as scratch:
        args_file = os.path.join(scratch, "args.json")
        with open(args_file, "w") as handle:
            json.dump(args, handle)
        os.chmod(args_file, 0o644)
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": scratch,
               "PYTHONPATH": os.pathsep.join(child_import_path()), "PYTHONDONTWRITEBYTECODE": "1"}
        command = ["setpriv", "--reuid=%d" % user.uid, "--regid=%d" % user.gid, "--init-groups",
                   PYTHON, "-c", _RUNNER, MODULES + module, args_file]
        done = subprocess.run(command, capture_output=True, timeout=timeout, env=env, cwd=workdir or scratch, check=False)
    try:
        return json.loads(done.stdout.decode())
    except ValueError:
        raise NonRootRunError("%s as %s printed no JSON result (rc %d, PYTHONPATH %s)\nstdout: %s\nstderr: %s"
                              % (module, user.name, done.returncode, env["PYTHONPATH"], done.stdout.decode(errors="replace"),
                                 done.stderr.decode(errors="replace")))


@pytest.fixture
def nonroot_users():
    """A factory: ``nonroot_users("deploy", "opc")`` returns the created users; all are deleted at teardown."""
    stack = contextlib.ExitStack()

    def make(*short_names: str) -> List[TestUser]:
        return stack.enter_context(test_users(*short_names))

    with stack:
        yield make


@pytest.fixture
def shared_tmp():
    """A directory (mode 0755) under /tmp that the test users can reach; removed at teardown."""
    with reachable_tmpdir() as top:
        yield top
