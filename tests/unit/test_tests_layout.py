"""Layout guards of issue 14 item 5 for the test tree: no test file imports another test file (shared helpers live in
tests/support/ or in a suite's own non-test module, such as tests/e2e/harness.py), and no test patches sys.path."""

from __future__ import annotations

import ast
import os
import subprocess
from typing import Dict, List, Set

TESTS = os.path.normpath(os.path.join(os.path.dirname(__file__), ".."))


def _test_sources(root: str = TESTS) -> Dict[str, str]:
    found = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in ("__pycache__", "output"))
        for name in sorted(files):
            if name.startswith("test_") and name.endswith(".py"):
                path = os.path.join(folder, name)
                with open(path, encoding="utf-8") as handle:
                    found[os.path.relpath(path, root)] = handle.read()
    return found


def imported_test_modules(source: str) -> List[str]:
    """The modules named test_* that ``source`` imports (absolute, relative or dotted)."""
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names.append(node.module or "")
            names += ["%s.%s" % (node.module, alias.name) if node.module else alias.name for alias in node.names]
    return sorted({name for name in names if name.rsplit(".", 1)[-1].startswith("test_")})


def patches_sys_path(source: str) -> bool:
    return any(isinstance(node, ast.Attribute) and node.attr == "path" and isinstance(node.value, ast.Name)
               and node.value.id == "sys" for node in ast.walk(ast.parse(source)))


def test_the_guards_see_what_they_look_for():
    assert imported_test_modules("from test_playbooks import playbook\nimport os\n") == ["test_playbooks"]
    relative = "from .test_x import y\nfrom ..support import test_tools\n"
    assert imported_test_modules(relative) == ["support.test_tools", "test_x"]
    assert imported_test_modules("from harness import run\nfrom playbook_runs import playbook\n") == []
    assert patches_sys_path("import sys\nsys.path.insert(0, 'x')\n")
    assert not patches_sys_path("import sys\nprint(sys.argv)\n")


def test_no_test_file_imports_another_test_file():
    offenders = {path: imported_test_modules(source) for path, source in _test_sources().items()}
    assert {path: names for path, names in offenders.items() if names} == {}


def test_no_test_file_patches_sys_path():
    # A child process's script inside a string (tests/support/locks.py) is not the test's own sys.path.
    assert sorted(path for path, source in _test_sources().items() if patches_sys_path(source)) == []


def _pytest_runs(dry_run: str) -> List[List[str]]:
    """The arguments of every pytest that a dry run of make (``make -n``) prints, continuation lines joined."""
    runs = []
    for line in dry_run.replace("\\\n", " ").splitlines():
        words = line.split()
        if "pytest" in words:
            runs.append(words[words.index("pytest") + 1:])
    return runs


def _covered(runs: List[List[str]], tests: Set[str]) -> Set[str]:
    """Those of ``tests`` (tests/...) that the pytest runs collect: their paths, less their --ignore=s."""
    covered = set()
    for args in runs:
        paths = [os.path.normpath(a) for a in args if not a.startswith("-") and a.startswith("tests")]
        ignored = {os.path.normpath(a.split("=", 1)[1]) for a in args if a.startswith("--ignore=")}
        covered |= {path for path in tests - ignored if any(path == p or path.startswith(p + os.sep) for p in paths)}
    return covered


def test_make_test_runs_every_test_file():
    """`make test` (what .ci/run runs) must collect every test_*.py of tests/: a test CI skips is a test that failed.
    Read from a dry run (`make -n test`, which runs nothing but prints the recipes of every suite it would run)."""
    dry_run = subprocess.run(["make", "-n", "--no-print-directory", "test"], cwd=os.path.dirname(TESTS),
                             capture_output=True, text=True, check=True, timeout=120).stdout
    every = {os.path.join("tests", test) for test in _test_sources()}
    assert sorted(every - _covered(_pytest_runs(dry_run), every)) == []
