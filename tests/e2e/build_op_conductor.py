"""Build the real op-conductor from the module proxy, once per pinned version.

The harness module ``tests/e2e/opconductor/go.mod`` requires one released version of
``github.com/ethereum-optimism/optimism``. This script:

1. reads the pin from that go.mod;
2. downloads the pinned module's own go.mod (``go mod download -json``) and reads its
   ``replace github.com/ethereum/go-ethereum => github.com/ethereum-optimism/op-geth …``
   and its ``exclude`` lines;
3. copies the harness to ``<cache>/<pin>/src``, applies them with ``go mod edit``;
4. builds ``github.com/ethereum-optimism/optimism/op-conductor/cmd`` with ``CGO_ENABLED=0``
   into ``<cache>/<pin>/op-conductor``, and writes a stamp (pin, replace, go version,
   timings, sizes). A later run with the same stamp reuses the binary;
5. builds every main package under ``tests/e2e/opconductor/cmd/<name>/`` (Go helpers linking the
   pinned optimism code, e.g. ``fsmoracle``, ``raftrecover``) in the same build copy, into
   ``<cache>/<pin>/cmd/<name>``, each with its own stamp (reused while its sources, go.mod and
   go.sum are unchanged). ``build_tool(name)`` builds one and returns its path.

The cache defaults to ``<repo>/.cache/op-conductor`` (gitignored); ``OPSTACK_E2E_CACHE``
moves it. The module and build caches live inside it (``gomod/``, ``gocache/``), so the
cost of a cold build is measurable and does not depend on the user's Go caches.

Any failure exits non-zero with the command and its output: the e2e tests never skip.

Usage: build_op_conductor.py [--print-path] [--force] [--json] [--tool NAME]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
HARNESS = HERE / "opconductor"
REPO = HERE.parent.parent
OPTIMISM = "github.com/ethereum-optimism/optimism"
GETH = "github.com/ethereum/go-ethereum"
MAIN_PKG = OPTIMISM + "/op-conductor/cmd"
STAMP_FORMAT = 1
CMD_DIR = HARNESS / "cmd"
SHARED_DIR = HARNESS / "internal"  # Go packages the cmd/ helpers share (copied beside cmd/ in the build copy)


class BuildError(RuntimeError):
    pass


def cache_root() -> Path:
    return Path(os.environ.get("OPSTACK_E2E_CACHE") or REPO / ".cache" / "op-conductor").resolve()


def go_env(root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        GOMODCACHE=str(root / "gomod"),
        GOCACHE=str(root / "gocache"),
        GOTOOLCHAIN="local",
        CGO_ENABLED="0",
        GOFLAGS="-mod=mod -modcacherw",
        GOWORK="off",
    )
    return env


def run(cmd: list[str], *, cwd: Path, env: dict[str, str], timeout: float) -> str:
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise BuildError(f"timed out after {timeout:.0f}s: {' '.join(cmd)}") from exc
    except FileNotFoundError as exc:
        raise BuildError(f"cannot run {cmd[0]!r}: {exc} (is Go installed and on PATH?)") from exc
    if proc.returncode != 0:
        detail = (proc.stderr.strip() or proc.stdout.strip())[-4000:]
        raise BuildError(f"command failed (exit {proc.returncode}): {' '.join(cmd)}\n{detail}")
    return proc.stdout


def pinned_version(gomod_text: str) -> str:
    m = re.search(r"^require\s+" + re.escape(OPTIMISM) + r"\s+(v\S+)\s*$", gomod_text, re.M)
    if not m:
        raise BuildError(f"{HARNESS / 'go.mod'}: no 'require {OPTIMISM} vX.Y.Z' line")
    return m.group(1)


def upstream_directives(gomod_text: str) -> tuple[str, list[str]]:
    """The go-ethereum replace target (path@version) and the excludes (path@version) of a go.mod."""
    replace = None
    for line in gomod_text.splitlines():
        line = line.split("//", 1)[0].strip()
        # `replace X [vA] => Y vB` on one line (the optimism go.mod style)
        m = re.match(r"^replace\s+" + re.escape(GETH) + r"(?:\s+v\S+)?\s*=>\s*(\S+)\s+(v\S+)$", line)
        if m:
            if replace is not None:
                raise BuildError("pinned go.mod has more than one go-ethereum replace")
            replace = f"{m.group(1)}@{m.group(2)}"
    if replace is None:
        raise BuildError("pinned optimism go.mod has no 'replace github.com/ethereum/go-ethereum => …' line")
    excludes: list[str] = []
    block = re.search(r"^exclude\s*\((.*?)^\)", gomod_text, re.M | re.S)
    if block:
        for line in block.group(1).splitlines():
            parts = line.split("//", 1)[0].split()
            if len(parts) == 2:
                excludes.append(f"{parts[0]}@{parts[1]}")
    for m in re.finditer(r"^exclude\s+(\S+)\s+(v\S+)", gomod_text, re.M):
        excludes.append(f"{m.group(1)}@{m.group(2)}")
    return replace, excludes


def du(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total


def harness_digest() -> str:
    h = hashlib.sha256()
    for name in ("go.mod", "go.sum"):
        p = HARNESS / name
        h.update(name.encode() + b"\0")
        if p.exists():
            h.update(p.read_bytes())
    return h.hexdigest()


def build(force: bool = False, log=lambda msg: print(msg, file=sys.stderr)) -> dict:
    """op-conductor, then every main package under cmd/; the stamp's "tools" maps each name to its binary."""
    stamp = _build_conductor(force, log)
    stamp["tools"] = {name: str(_build_tool(name, stamp, force, log)) for name in main_packages()}
    return stamp


def main_packages() -> list[str]:
    """The directories under tests/e2e/opconductor/cmd/ that hold Go files (each one main package)."""
    if not CMD_DIR.is_dir():
        return []
    return sorted(entry.name for entry in CMD_DIR.iterdir() if entry.is_dir() and any(entry.glob("*.go")))


def build_tool(name: str, force: bool = False, log=lambda msg: print(msg, file=sys.stderr)) -> Path:
    """The binary of the main package tests/e2e/opconductor/cmd/<name>, built (with op-conductor's build copy of
    the harness module, so against the pinned optimism and its op-geth replace) unless current."""
    if name not in main_packages():
        raise BuildError(f"no main package {CMD_DIR / name} (have: {', '.join(main_packages()) or 'none'})")
    return _build_tool(name, _build_conductor(False, log), force, log)


def tool_digest(name: str) -> str:
    h = hashlib.sha256(harness_digest().encode())
    sources = [p for p in (CMD_DIR / name).rglob("*") if p.is_file()]
    sources += [p for p in SHARED_DIR.rglob("*") if p.is_file()]
    for path in sorted(sources):
        h.update(str(path.relative_to(HARNESS)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


@contextmanager
def _flock(lock: Path, what: str):
    import fcntl  # noqa: PLC0415 (POSIX only; the e2e suite is Linux-only)

    with open(lock, "w") as lockf:
        deadline = time.monotonic() + 3600
        while True:
            try:
                fcntl.flock(lockf, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise BuildError(f"another build holds {lock} for over an hour ({what})") from None
                time.sleep(2)
        yield


def _build_tool(name: str, conductor: dict, force: bool, log) -> Path:
    out = cache_root() / conductor["pin"]
    binary, stamp_path = out / "cmd" / name, out / "cmd" / f"{name}.json"
    digest = tool_digest(name)

    def current() -> bool:
        return (not force and binary.exists() and stamp_path.exists()
                and json.loads(stamp_path.read_text()).get("digest") == digest)

    if current():
        return binary
    binary.parent.mkdir(exist_ok=True)
    env = go_env(cache_root())
    # the op-conductor lock: a rebuild of op-conductor replaces src/ under us otherwise
    with _flock(out / ".lock", f"building {name}"):
        if current():
            return binary
        log(f"op-conductor: compiling cmd/{name}")
        for tree, copy in ((CMD_DIR / name, out / "src" / "cmd" / name), (SHARED_DIR, out / "src" / "internal")):
            if copy.exists():
                shutil.rmtree(copy)
            if tree.is_dir():
                shutil.copytree(tree, copy)
        t0 = time.monotonic()
        tmp_bin = binary.with_name(f"{name}.tmp")
        run(["go", "build", "-trimpath", "-o", str(tmp_bin), f"./cmd/{name}"], cwd=out / "src", env=env,
            timeout=3600)
        os.replace(tmp_bin, binary)
        stamp_path.write_text(json.dumps({"format": STAMP_FORMAT, "name": name, "digest": digest,
                                          "module": conductor["module"], "replace": conductor["replace"],
                                          "seconds": round(time.monotonic() - t0, 1),
                                          "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}) + "\n")
    return binary


def _build_conductor(force: bool, log) -> dict:
    root = cache_root()
    gomod_text = (HARNESS / "go.mod").read_text()
    pin = pinned_version(gomod_text)
    out = root / pin
    binary = out / "op-conductor"
    stamp_path = out / "stamp.json"
    digest = harness_digest()
    if not force and stamp_path.exists() and binary.exists():
        stamp = json.loads(stamp_path.read_text())
        if stamp.get("format") == STAMP_FORMAT and stamp.get("pin") == pin and stamp.get("harness") == digest:
            stamp["reused"] = True
            return stamp

    if shutil.which("go") is None:
        raise BuildError("the 'go' command is not on PATH: op-conductor cannot be built")
    env = go_env(root)
    out.mkdir(parents=True, exist_ok=True)
    with _flock(out / ".lock", "building op-conductor"):
        # another process may have finished the build while we waited
        if not force and stamp_path.exists() and binary.exists():
            stamp = json.loads(stamp_path.read_text())
            if stamp.get("pin") == pin and stamp.get("harness") == digest:
                stamp["reused"] = True
                return stamp
        gomod_before = du(root / "gomod") if (root / "gomod").exists() else 0
        gocache_before = du(root / "gocache") if (root / "gocache").exists() else 0
        go_version = run(["go", "version"], cwd=HERE, env=env, timeout=60).strip()

        t0 = time.monotonic()
        log(f"op-conductor: reading go.mod of {OPTIMISM}@{pin} from the module proxy")
        info = json.loads(run(["go", "mod", "download", "-json", f"{OPTIMISM}@{pin}"], cwd=HERE, env=env, timeout=1800))
        if info.get("Error"):
            raise BuildError(f"go mod download {OPTIMISM}@{pin}: {info['Error']}")
        upstream_gomod = Path(info["GoMod"]).read_text()
        replace, excludes = upstream_directives(upstream_gomod)
        log(f"op-conductor: pinned {OPTIMISM}@{pin}; replace {GETH} => {replace}; {len(excludes)} excludes")

        src = out / "src"
        if src.exists():
            shutil.rmtree(src)
        src.mkdir()
        for name in ("go.mod", "go.sum"):
            if (HARNESS / name).exists():
                shutil.copy2(HARNESS / name, src / name)
        edit = ["go", "mod", "edit", f"-replace={GETH}={replace}"] + [f"-exclude={e}" for e in excludes]
        run(edit, cwd=src, env=env, timeout=60)

        log("op-conductor: downloading the module graph (go mod download)")
        t1 = time.monotonic()
        run(["go", "list", "-deps", "-f", "{{.ImportPath}}", MAIN_PKG], cwd=src, env=env, timeout=3600)
        t2 = time.monotonic()
        log("op-conductor: compiling (CGO_ENABLED=0)")
        tmp_bin = out / "op-conductor.tmp"
        ldflags = f"-X main.Version={pin}"
        run(["go", "build", "-trimpath", "-ldflags", ldflags, "-o", str(tmp_bin), MAIN_PKG], cwd=src, env=env,
            timeout=3600)
        t3 = time.monotonic()
        version_out = run([str(tmp_bin), "--version"], cwd=out, env=env, timeout=60).strip()
        os.replace(tmp_bin, binary)
        # Keep the go.sum the build produced next to the harness, so a checkout pins the hashes.
        if not (HARNESS / "go.sum").exists() and (src / "go.sum").exists():
            shutil.copy2(src / "go.sum", HARNESS / "go.sum")
            digest = harness_digest()
        gomod_after = du(root / "gomod")
        gocache_after = du(root / "gocache")
        stamp = {
            "format": STAMP_FORMAT,
            "pin": pin,
            "module": f"{OPTIMISM}@{pin}",
            "replace": f"{GETH} => {replace}",
            "excludes": excludes,
            "go": go_version,
            "binary": str(binary),
            "binary_bytes": binary.stat().st_size,
            "version_output": version_out,
            "harness": digest,
            "seconds": {
                "resolve_pin": round(t1 - t0, 1),
                "download_graph": round(t2 - t1, 1),
                "compile": round(t3 - t2, 1),
                "total": round(t3 - t0, 1),
            },
            "bytes": {
                "gomodcache_added": gomod_after - gomod_before,
                "gocache_added": gocache_after - gocache_before,
                "gomodcache_total": gomod_after,
                "gocache_total": gocache_after,
            },
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "reused": False,
        }
        stamp_path.write_text(json.dumps(stamp, indent=2) + "\n")
        return stamp


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--force", action="store_true", help="rebuild even when the stamp matches")
    ap.add_argument("--print-path", action="store_true", help="print only the binary path")
    ap.add_argument("--json", action="store_true", help="print the stamp as JSON")
    ap.add_argument("--tool", metavar="NAME", help="build only cmd/NAME (and op-conductor) and print its path")
    args = ap.parse_args()
    try:
        if args.tool:
            print(build_tool(args.tool, force=args.force))
            return 0
        stamp = build(force=args.force)
    except BuildError as exc:
        print(f"op-conductor build FAILED: {exc}", file=sys.stderr)
        return 1
    if args.print_path:
        print(stamp["binary"])
    elif args.json:
        print(json.dumps(stamp, indent=2))
    else:
        s = stamp["seconds"]
        b = stamp["bytes"]
        print(f"op-conductor {stamp['pin']} ({'reused' if stamp.get('reused') else 'built'}): {stamp['binary']}")
        print(f"  {stamp['replace']}")
        print(f"  {stamp['version_output']}")
        print(f"  build seconds: {s}  module cache +{b['gomodcache_added'] / 1e6:.0f} MB,"
              f" build cache +{b['gocache_added'] / 1e6:.0f} MB, binary {stamp['binary_bytes'] / 1e6:.1f} MB")
        for name, path in stamp["tools"].items():
            print(f"  cmd/{name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
