"""Start-up imports of the module_utils entry points, as ours.py imports them (issue 14 item 6), measured so that a
busy shared machine disturbs the figure as little as possible.

    .venv/bin/python benchmarks/import_time.py [RUNS] [COLLECTIONS_ROOT ...]

For each operation (summary/verify: _node_state; backup: _backup; generate: _cluster and _fs) and each root (a
directory holding ansible_collections/; default .cache/collections, the working tree), RUNS fresh processes
(default 15, plus one that warms the bytecode cache, kept in a private PYTHONPYCACHEPREFIX) run
`python -X importtime -c "import ..."`. Per module, the median of its own ("self") time over the runs; per
operation, the modules it imports beyond `python -c "import sys"` and the sum of those medians. Roots are
measured interleaved, so two trees compared side by side see the same load. Prints one JSON line per root and
operation, then the modules each later root no longer imports. Bounded: RUNS * operations * roots processes,
each with a 60 s timeout.
"""

import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
OPERATIONS = {"summary/verify": ["_node_state"], "backup": ["_backup"], "generate": ["_cluster", "_fs"]}
PACKAGE = "ansible_collections.opstack.conductor.plugins.module_utils."


def self_times(code, env):
    """{module: microseconds of its own import time} for one fresh process running code."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", code], env=env, capture_output=True, text=True,
                          timeout=60, check=True)
    found = {}
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            own, _cumulative, name = line[len("import time:"):].split("|")
            if own.strip().isdigit():
                found[name.strip()] = int(own)
    return found


def importer(root, modules):
    return "import sys\nsys.path.insert(0, %r)\n" % root + "".join("import %s%s\n" % (PACKAGE, m) for m in modules)


def measure(runs, roots, env):
    series = {(root, op): collections.defaultdict(list) for root in roots for op in OPERATIONS}
    for run in range(runs + 1):
        for op, modules in OPERATIONS.items():
            for root in roots:
                found = self_times(importer(root, modules), env)
                for name, micros in found.items() if run else ():  # run 0 only warms the bytecode cache
                    series[root, op][name].append(micros)
    return series


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    roots = [os.path.abspath(root) for root in sys.argv[2:]] or [os.path.join(os.path.dirname(HERE), ".cache",
                                                                              "collections")]
    with tempfile.TemporaryDirectory(prefix="import-time-") as cache:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = cache
        interpreter = set(self_times("import sys", env))
        series = measure(runs, roots, env)
    imported = {}
    for (root, op), per_module in series.items():
        medians = {name: statistics.median(times) for name, times in per_module.items() if name not in interpreter}
        imported[root, op] = set(medians)
        print(json.dumps({"root": root, "operation": op, "runs": runs, "modules": len(medians),
                          "import_ms": round(sum(medians.values()) / 1000, 1),
                          "load_average": os.getloadavg()[0]}))
    for op in OPERATIONS:
        for root in roots[1:]:
            print(json.dumps({"operation": op, "root": root,
                              "no_longer_imports": sorted(imported[roots[0], op] - imported[root, op]),
                              "newly_imports": sorted(imported[root, op] - imported[roots[0], op])}))


if __name__ == "__main__":
    main()
