"""Build and drive the Go interop oracle (tests/interop/oracle/).

The oracle is a small Go CLI compiled once per "cell": a combination of the
real hashicorp/raft, raft-boltdb and bolt engine versions that some
op-conductor release uses. The collection's pure-Python state writer is held
to what these real libraries write, read, check and accept.

Every verb prints one JSON object on stdout (``cluster --hold`` prints two
lines); byte strings are standard padded base64 unless a field says hex.
The verbs are documented in ``oracle/core/main.go``.

No pytest dependency here: the module is usable from scripts and benchmarks.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any, Iterable, Mapping

HERE = Path(__file__).resolve().parent
ORACLE_SRC = HERE / "oracle"
REPO = HERE.parent.parent
CACHE = REPO / ".cache" / "oracle"

#: Matrix cells, oldest first, with the op-conductor releases each stands for.
CELLS: list[str] = ["v1", "v2_3_0", "v2_3_1", "bbolt_1_4"]
CELL_DESCRIPTIONS: dict[str, str] = {
    "v1": "early op-conductor (optimism 14bd9fbee3, 2023-12 .. op-conductor/v0.0.1-rc.4): "
          "raft v1.6.0, raft-boltdb v1 module, boltdb/bolt v1.3.1, go-msgpack v0.5.5",
    "v2_3_0": "upstream op-conductor 2024 (optimism 9ff9b98961 .. v0.1.0-rc.1): "
              "raft v1.7.1, raft-boltdb/v2 v2.3.0, bbolt v1.3.5",
    "v2_3_1": "op-conductor-init and the base/okx forks: raft v1.7.3, raft-boltdb/v2 v2.3.1, bbolt v1.3.9",
    "bbolt_1_4": "forward check: raft v1.7.3, raft-boltdb/v2 v2.3.1, newest bbolt 1.4.x",
}

#: The library versions `oracle info` must report for each cell (linked modules).
EXPECTED_MODULES: dict[str, dict[str, str]] = {
    "v1": {
        "github.com/hashicorp/raft": "v1.6.0",
        "github.com/hashicorp/raft-boltdb": "v0.0.0-20231211162105-6c830fa4535e",
        "github.com/boltdb/bolt": "v1.3.1",
        "github.com/hashicorp/go-msgpack": "v0.5.5",
    },
    "v2_3_0": {
        "github.com/hashicorp/raft": "v1.7.1",
        "github.com/hashicorp/raft-boltdb/v2": "v2.3.0",
        "go.etcd.io/bbolt": "v1.3.5",
    },
    "v2_3_1": {
        "github.com/hashicorp/raft": "v1.7.3",
        "github.com/hashicorp/raft-boltdb/v2": "v2.3.1",
        "go.etcd.io/bbolt": "v1.3.9",
    },
    "bbolt_1_4": {
        "github.com/hashicorp/raft": "v1.7.3",
        "github.com/hashicorp/raft-boltdb/v2": "v2.3.1",
        "go.etcd.io/bbolt": "v1.4.3",
    },
}

# Exit codes: 0 verb ran, 1 operational error (message on stderr), 2 Go panic or
# usage error, 3 memory watchdog abort, <0 killed by a signal (e.g. SIGBUS).
EXIT_OPERATIONAL = 1


class OracleError(RuntimeError):
    """The oracle did not produce a result (exit status != 0, timeout, bad output)."""

    def __init__(self, message: str, *, returncode: int | None = None, stderr: str = ""):
        super().__init__(f"{message}\n{stderr}".rstrip())
        self.returncode = returncode
        self.stderr = stderr


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(GOTOOLCHAIN="local", CGO_ENABLED="0")
    return env


def _source_hash(go: str) -> str:
    """Hash of every Go source, go.mod and go.sum of the oracle plus the Go version."""
    h = hashlib.sha256()
    h.update(subprocess.run([go, "version"], capture_output=True, text=True, check=True).stdout.encode())
    for path in sorted(ORACLE_SRC.rglob("*")):
        if path.is_file() and (path.suffix == ".go" or path.name in ("go.mod", "go.sum")):
            h.update(str(path.relative_to(ORACLE_SRC)).encode() + b"\0")
            h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


_built: dict[str, Path] = {}


def binary_path(cell: str) -> Path:
    return CACHE / cell / "oracle"


def build(cell: str) -> Path:
    """Compile the cell's oracle unless the cached binary matches the sources.

    Raises OracleError when Go is missing or the build fails (tests must fail,
    not skip, without Go). Safe against concurrent builders (file lock).
    """
    if cell not in CELLS:
        raise ValueError(f"unknown cell {cell!r}; cells: {CELLS}")
    if cell in _built:
        return _built[cell]
    go = shutil.which("go")
    if go is None:
        raise OracleError("the Go toolchain (go) is not on PATH; it is required to build the interop oracle")
    out = binary_path(cell)
    out.parent.mkdir(parents=True, exist_ok=True)
    stamp = out.parent / "stamp"
    with open(out.parent / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        digest = _source_hash(go)
        if not (out.exists() and stamp.exists() and stamp.read_text() == digest):
            tmp = out.with_name("oracle.tmp")
            proc = subprocess.run(
                [go, "build", "-trimpath", "-buildvcs=false", "-mod=readonly", "-o", str(tmp), "."],
                cwd=ORACLE_SRC / "cells" / cell, env=_go_env(), capture_output=True, text=True, timeout=900,
                check=False,  # the return code is examined below, with the compiler's output
            )
            if proc.returncode != 0:
                raise OracleError(f"go build of oracle cell {cell} failed", returncode=proc.returncode,
                                  stderr=proc.stderr)
            os.replace(tmp, out)
            stamp.write_text(digest)
            modules = _run(out, ["info"], None, 60)["modules"]
            wrong = {k: (modules.get(k), v) for k, v in EXPECTED_MODULES[cell].items() if modules.get(k) != v}
            if wrong:
                stamp.unlink()
                raise OracleError(f"oracle cell {cell} linked unexpected versions (got, want): {wrong}")
    _built[cell] = out
    return out


def _run(binary: Path, args: list[str], stdin: Any, timeout: float) -> dict:
    if isinstance(stdin, (dict, list)):
        stdin = json.dumps(stdin)
    if isinstance(stdin, str):
        stdin = stdin.encode()
    try:
        proc = subprocess.run([str(binary), *args], input=stdin if stdin is not None else b"",
                              capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        err = (exc.stderr or b"").decode(errors="replace")
        raise OracleError(f"oracle {' '.join(args)} timed out after {timeout}s", stderr=err) from None
    stderr = proc.stderr.decode(errors="replace")
    if proc.returncode != 0:
        raise OracleError(f"oracle {' '.join(args)} exited with {proc.returncode}",
                          returncode=proc.returncode, stderr=stderr)
    try:
        return json.loads(proc.stdout)
    except ValueError as exc:
        raise OracleError(f"oracle {' '.join(args)} printed no JSON object: {exc}", stderr=stderr) from None


def run(cell: str, verb: str, *args: Any, stdin: Any = None, timeout: float = 120) -> dict:
    """Run one oracle verb and return its JSON object.

    stdin may be bytes, str or a JSON-serialisable dict. Raises OracleError with
    the oracle's stderr when it exits non-zero or times out.
    """
    return _run(build(cell), [verb, *map(str, args)], stdin, timeout)


def check(cell: str, path: os.PathLike | str, timeout: float = 120) -> dict:
    """bolt Check of one file, with engine crashes mapped to a verdict.

    The engines panic (or die of SIGBUS, or exhaust memory) on some corrupt
    pages instead of reporting an error; that is returned as
    {"ok": False, "panic": "<stderr>"}. A missing file or a lock held by a
    running process (exit 1) still raises OracleError.
    """
    try:
        return run(cell, "check", path, timeout=timeout)
    except OracleError as exc:
        if exc.returncode == EXIT_OPERATIONAL:
            raise
        return {"ok": False, "errors": [], "panic": exc.stderr or str(exc)}


def b64(data: bytes | None) -> str | None:
    """Encode bytes the way the oracle expects them in JSON."""
    return None if data is None else base64.b64encode(data).decode()


def unb64(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)


def node_args(nodes: Mapping[str, os.PathLike | str] | Iterable[tuple[str, os.PathLike | str]]) -> list[str]:
    """--node ID=DIR arguments for `cluster` and `grow`."""
    items = nodes.items() if isinstance(nodes, Mapping) else nodes
    args: list[str] = []
    for node_id, node_dir in items:
        args += ["--node", f"{node_id}={node_dir}"]
    return args


class ClusterHold:
    """Keep a real raft cluster running (``cluster --hold``) inside a with-block.

    with ClusterHold("v2_3_1", {"n1": dir1, ...}, "--apply", 3) as ready:
        ...  # ready == {"ready": True, "leader": ..., "term": ..., "nodes": [...]}
    hold.result  # the final JSON object, available after the block

    Leaving the block closes the oracle's stdin, which makes it shut the
    cluster down and print the final object. Every wait is bounded.
    """

    def __init__(self, cell: str, nodes, *extra_args: Any, hold: float = 600,
                 ready_timeout: float = 90, exit_timeout: float = 60):
        self.cmd = [str(build(cell)), "cluster", *node_args(nodes), *map(str, extra_args), "--hold", str(hold)]
        self.ready_timeout, self.exit_timeout = ready_timeout, exit_timeout
        self.result: dict | None = None
        self.ready: dict | None = None
        self._lines: queue.Queue = queue.Queue()

    def _stderr(self) -> str:
        self._errfile.seek(0)
        return self._errfile.read().decode(errors="replace")

    def __enter__(self) -> dict:
        self._errfile = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._errfile)

        def pump() -> None:  # a thread, so that waiting for a line can time out
            for line in self.proc.stdout:
                self._lines.put(line)
            self._lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        try:
            line = self._lines.get(timeout=self.ready_timeout)
        except queue.Empty:
            self._kill()
            raise OracleError(f"cluster not ready within {self.ready_timeout}s", stderr=self._stderr()) from None
        if line is None:
            self.proc.wait(timeout=self.exit_timeout)
            raise OracleError("cluster exited before it was ready", returncode=self.proc.returncode,
                              stderr=self._stderr())
        self.ready = json.loads(line)
        return self.ready

    def _kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self._errfile.close()

    def __exit__(self, *exc_info) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            line = self._lines.get(timeout=self.exit_timeout)
            self.proc.wait(timeout=self.exit_timeout)
        except (queue.Empty, subprocess.TimeoutExpired):
            self._kill()
            if exc_info[0] is None:
                raise OracleError(f"cluster did not stop within {self.exit_timeout}s") from None
            return
        stderr = self._stderr()
        self._errfile.close()
        if exc_info[0] is not None:
            return  # do not mask the with-block's own exception
        if self.proc.returncode != 0 or line is None:
            raise OracleError("cluster --hold failed", returncode=self.proc.returncode, stderr=stderr)
        self.result = json.loads(line)


if __name__ == "__main__":
    import sys

    if sys.argv[1:] != ["build"]:
        sys.exit("usage: oracle.py build   (compiles every matrix cell into .cache/oracle/)")
    for _cell in CELLS:
        print(f"{_cell}: {build(_cell)}")
