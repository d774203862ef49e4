"""One operation of the collection's module_utils per process, for the benchmarks (whole-process timing).

    ours.py summary NODEDIR          term, vote, first/last index, newest configuration (raft_state_info verify=false)
    ours.py verify NODEDIR           the full integrity check (raft_state_info verify=true)
    ours.py backup NODEDIR DEST      copy, fsync, verify, manifest, rename (raft_backup)
    ours.py generate SPEC.json OUT   every node's two files, written as raft_state writes them (fsync, rename)
    ours.py startup OPERATION        only the interpreter and OPERATION's imports: the fixed cost in its whole-process time

Prints one JSON line: the operation's own time in milliseconds (in-process, after its imports) and its result.
"""

import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), ".cache", "collections"))

import importlib  # noqa: E402

# Each operation imports only what it uses, as a module would; the imports are not part of its in-process time.
MODULES = {"summary": ["_node_state"], "verify": ["_node_state"], "backup": ["_backup"],
           "generate": ["_cluster", "_fs"]}
PACKAGE = "ansible_collections.opstack.conductor.plugins.module_utils."
node_state = backups = cluster = fs = None


def summary(node_dir):
    state = node_state.read_node_state(node_dir)
    return {"last_index": state.last_index, "ok": state.integrity.ok}


def verify(node_dir):
    state = node_state.read_node_state(node_dir, verify=True)
    return {"entries": state.entries, "ok": state.integrity.ok, "problems": state.integrity.problems[:3]}


def backup(node_dir, dest):
    made = backups.make_backup(node_dir, dest, backups.plan_backup(node_dir), online=False)
    return {"path": made.path}


def generate(spec_file, out):
    with open(spec_file) as handle:
        spec_doc = json.load(handle)
    spec = cluster.validate_cluster(spec_doc["servers"], spec_doc.get("initial_leader"), spec_doc.get("term", 1))[0]
    os.makedirs(out, exist_ok=True)
    for server in spec.servers:
        staging = fs.build_directory(os.path.join(out, server.id), cluster.node_databases(spec, server.id), 0o600,
                                     0o750, fs.Ownership())
        fs.replace_directory(os.path.join(out, server.id), staging, keep_old=True)
    return {"nodes": len(spec.servers)}


def startup(_name):
    return {}


def main():
    name = sys.argv[1]
    operation = {"summary": summary, "verify": verify, "backup": backup, "generate": generate,
                 "startup": startup}[name]
    if name == "startup":
        name = sys.argv[2]
    aliases = {"_node_state": "node_state", "_backup": "backups", "_cluster": "cluster", "_fs": "fs"}
    for module in MODULES[name]:
        globals()[aliases[module]] = importlib.import_module(PACKAGE + module)
    started = time.perf_counter()
    result = operation(*sys.argv[2:])
    result["ms"] = (time.perf_counter() - started) * 1000
    print(json.dumps(result))


if __name__ == "__main__":
    main()
