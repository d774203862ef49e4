"""make bench: the collection against real baselines measured in the same run, as ratios.

B1 info summary, B2 full verify, B3 backup + verify, B4 deploy playbook, B5 generate, B6 every playbook against
Ansible's floor with task counts and module payload sizes, B7 a fleet of 3-host clusters against the floor
(benchmarks/fleet.py; see benchmarks/README.md).
Data (live-like raft-log.db files grown by a real Go Raft cluster) is made once under benchmarks/data/.
Writes benchmarks/RESULTS.md and benchmarks/results.json.
"""

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DATA = os.path.join(HERE, "data")
sys.path.insert(0, os.path.join(REPO, "tests", "interop"))
sys.path.insert(0, os.path.join(REPO, ".cache", "collections"))

import oracle  # noqa: E402  (tests/interop/oracle.py)
from ansible_collections.opstack.conductor.tests.support.net import free_ports  # noqa: E402

PYTHON = sys.executable
OURS = [PYTHON, os.path.join(HERE, "ours.py")]
CELL = "v2_3_1"
ENTRY_SIZE = 48 * 1024  # an unsafe payload of a busy chain; a few KiB on a quiet one
SIZES_MIB = [int(size) for size in os.environ.get("BENCH_SIZES_MIB", "64,256,1024").split(",")]
REPEAT = int(os.environ.get("BENCH_REPEAT", "5"))
# Bytecode caching on, as for an installed tool (make exports PYTHONDONTWRITEBYTECODE for the tests).
ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


def timed(command, repeat=REPEAT, before=None, env=None):
    """Wall times (s) of ``command`` run ``repeat`` times; ``before()`` runs untimed before each."""
    times, outputs = [], []
    for _round in range(repeat):
        if before:
            before()
        started = time.perf_counter()
        proc = subprocess.run(command, capture_output=True, text=True, env=env or ENV, check=False)
        times.append(time.perf_counter() - started)
        if proc.returncode != 0:
            raise RuntimeError("%s failed: %s %s" % (" ".join(command), proc.stdout[-2000:], proc.stderr[-2000:]))
        outputs.append(proc.stdout)
    return times, outputs


def peak_memory_mib(command):
    """Peak memory of one run of ``command``: (resident set, anonymous part) in MiB, sampled every 5 ms from
    /proc. The resident set counts the pages of the mmapped databases the verify touched (page cache the kernel
    can drop at any time); the anonymous part is the process's own heap, the memory a backup really costs."""
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    peak_rss = peak_anon = 0
    while proc.poll() is None:
        try:
            with open("/proc/%d/status" % proc.pid) as handle:
                fields = dict(line.split(":", 1) for line in handle if ":" in line)
            peak_rss = max(peak_rss, int(fields["VmRSS"].split()[0]))
            peak_anon = max(peak_anon, int(fields["RssAnon"].split()[0]))
        except (OSError, KeyError, ValueError):
            pass
        time.sleep(0.005)
    if proc.returncode != 0:
        raise RuntimeError("%s failed" % " ".join(command))
    return peak_rss / 1024, peak_anon / 1024


def stats(times):
    return {"median": statistics.median(times), "min": min(times), "max": max(times), "runs": len(times)}


# ================================================================================================================
# Data
# ================================================================================================================


def grown_node(size_mib):
    """A node directory whose raft-log.db is about ``size_mib`` MiB, grown by a real 3-node Go Raft cluster
    with snapshots and compaction (trailing logs and snapshot interval scaled to the size)."""
    root = os.path.join(DATA, "grown-%dmib" % size_mib)
    node = os.path.join(root, "n1")
    if os.path.exists(os.path.join(root, "done")):
        return node
    shutil.rmtree(root, ignore_errors=True)
    live = max(64, size_mib * 1024 * 1024 // ENTRY_SIZE)
    spec = [{"id": "n%d" % i, "address": "127.0.0.1:%d" % port} for i, port in enumerate(free_ports(3), 1)]
    nodes = {}
    for server in spec:
        path = os.path.join(root, server["id"])
        out = subprocess.run(OURS[:1] + ["-c", _WRITE_NODE, path, server["id"], json.dumps(spec)],
                             capture_output=True, text=True, env=ENV, check=False)
        if out.returncode:
            raise RuntimeError(out.stderr)
        nodes[server["id"]] = path
    print("growing %d MiB (%d entries of %d KiB)..." % (size_mib, live * 3 // 2, ENTRY_SIZE // 1024), flush=True)
    result = oracle.run(CELL, "grow", *oracle.node_args(nodes), "--entries", str(live * 3 // 2), "--size",
                        str(ENTRY_SIZE), "--snapshot-every", str(live // 2), "--trailing-logs", str(live // 2),
                        "--timeout", "1800", timeout=3600)
    if not result.get("ok"):
        raise RuntimeError("grow failed: %s" % result)
    with open(os.path.join(root, "done"), "w") as handle:
        json.dump(result, handle)
    return node


_WRITE_NODE = """
import json, os, sys
sys.path.insert(0, os.path.join(%r, ".cache", "collections"))
from ansible_collections.opstack.conductor.plugins.module_utils import _cluster as cluster
path, server_id, servers = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
spec = cluster.validate_cluster(servers)[0]
os.makedirs(path)
for name, data in cluster.node_databases(spec, server_id).items():
    with open(os.path.join(path, name), "wb") as handle:
        handle.write(data)
""" % REPO


def log_size(node):
    return os.path.getsize(os.path.join(node, "raft-log.db"))


def tree_size(node):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _dirs, files in os.walk(node) for f in files)


# ================================================================================================================
# Benchmarks
# ================================================================================================================


def evict_from_page_cache(node):
    """Drop the node's file pages from the guest's page cache (fdatasync, then POSIX_FADV_DONTNEED, which skips
    dirty pages), as after a reboot or on a node whose op-conductor has been stopped for a while. On a virtual
    machine the host may still cache the disk, so "cold" here is the guest's view."""
    for directory, _dirs, files in os.walk(node):
        for name in files:
            fd = os.open(os.path.join(directory, name), os.O_RDONLY)
            try:
                os.fdatasync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def resident_bytes(path):
    """Bytes of ``path`` in the page cache (util-linux fincore), or None where fincore is missing."""
    try:
        out = subprocess.run(["fincore", "--bytes", "--noheadings", "--output", "RES", path], capture_output=True,
                             text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return int(out.split()[0])


def b1_summary(node):
    ours, outputs = timed(OURS + ["summary", node])
    in_process = [json.loads(out)["ms"] / 1000 for out in outputs]
    go = timed([str(oracle.build(CELL)), "read", node, "--summary"])[0]
    ours_cold, cold_outputs = timed(OURS + ["summary", node], before=lambda: evict_from_page_cache(node))
    cold = [json.loads(out)["ms"] / 1000 for out in cold_outputs]
    go_cold = timed([str(oracle.build(CELL)), "read", node, "--summary"],
                    before=lambda: evict_from_page_cache(node))[0]
    evict_from_page_cache(node)
    log = os.path.join(node, "raft-log.db")
    return {"log_resident_after_eviction": resident_bytes(log),
            "ours_process": stats(ours), "ours_in_process": stats(in_process), "go_process": stats(go),
            "ours_in_process_cold": stats(cold), "ours_process_cold": stats(ours_cold),
            "go_process_cold": stats(go_cold), "ratio": statistics.median(ours) / statistics.median(go),
            "goal": "in-process <= 50 ms at 1 GiB and flat in file size; ratio reported"}


def whole_process_and_work(ours_cmd, go_cmd, operation, before=None):
    """Whole-process times of both sides, and of the work alone: each round runs our operation, our start-up
    (``ours.py startup``: interpreter plus the operation's imports), Go's operation and Go's start-up (``oracle
    info``) back to back, and the work of a round is its whole-process time minus its own start-up (paired, so
    the machine's drift between rounds cancels). Then medians."""
    runs = {"ours": [], "ours_startup": [], "go": [], "go_startup": [], "interpreter": []}
    commands = [("ours", ours_cmd, before), ("ours_startup", OURS + ["startup", operation], None),
                ("go", go_cmd, before), ("go_startup", [str(oracle.build(CELL)), "info"], None),
                ("interpreter", [PYTHON, "-c", "pass"], None)]
    for _round in range(REPEAT):
        for key, command, prepare in commands:
            runs[key] += timed(command, repeat=1, before=prepare)[0]
    ours_work = [whole - start for whole, start in zip(runs["ours"], runs["ours_startup"])]
    go_work = [whole - start for whole, start in zip(runs["go"], runs["go_startup"])]
    result = {"ours_process": stats(runs["ours"]), "go_process": stats(runs["go"]),
              "ours_startup": stats(runs["ours_startup"]), "go_startup": stats(runs["go_startup"]),
              "interpreter": stats(runs["interpreter"]), "ours_work": stats(ours_work), "go_work": stats(go_work),
              "ratio": statistics.median(runs["ours"]) / statistics.median(runs["go"])}
    # Below a millisecond of Go work the difference is noise: no ratio rather than a made-up one.
    go_work_median = statistics.median(go_work)
    result["work_ratio"] = statistics.median(ours_work) / go_work_median if go_work_median >= 0.001 else None
    return result


def b2_verify(node):
    outputs = timed(OURS + ["verify", node], repeat=1)[1]
    assert json.loads(outputs[0])["ok"], outputs[0]
    result = whole_process_and_work(OURS + ["verify", node], [str(oracle.build(CELL)), "verify", node], "verify")
    result["goal"] = "ratio <= 1.5"
    return result


def b3_backup(node):
    dest = os.path.join(DATA, "backups")
    copy_to = os.path.join(DATA, "cp-copy")

    def clean():
        shutil.rmtree(dest, ignore_errors=True)
        shutil.rmtree(copy_to, ignore_errors=True)

    ours = timed(OURS + ["backup", node, dest], repeat=max(3, REPEAT // 2), before=clean)[0]
    baseline_cmd = ["sh", "-c", 'cp -r "$0" "$1" && cd "$1" && find . -type f -exec sha256sum {} + >/dev/null',
                    node, copy_to]
    base = timed(baseline_cmd, repeat=max(3, REPEAT // 2), before=clean)[0]
    clean()
    rss, anonymous = peak_memory_mib(OURS + ["backup", node, dest])
    clean()
    size = tree_size(node)
    return {"bytes": size, "ours": stats(ours), "baseline": stats(base),
            "ours_mib_s": size / statistics.median(ours) / 2 ** 20,
            "baseline_mib_s": size / statistics.median(base) / 2 ** 20,
            "ratio": statistics.median(base) / statistics.median(ours), "peak_rss_mib": rss,
            "peak_anon_mib": anonymous,
            "goal": "throughput ratio >= 0.8; peak memory flat in file size"}


def b5_generate(count):
    spec_file = os.path.join(DATA, "spec-%d.json" % count)
    servers = [{"id": "sequencer-%03d" % i, "address": "sequencer-%03d.example:50050" % i, "suffrage": "voter"}
               for i in range(1, count + 1)]
    with open(spec_file, "w") as handle:
        json.dump({"servers": servers, "initial_leader": "sequencer-001", "term": 1}, handle)
    out = os.path.join(DATA, "generated")

    def clean():
        shutil.rmtree(out, ignore_errors=True)

    result = whole_process_and_work(OURS + ["generate", spec_file, out],
                                    [str(oracle.build(CELL)), "write", "--spec", spec_file, "--out", out],
                                    "generate", before=clean)
    clean()
    result["goal"] = "ratio <= 1.0"
    return result


def b4_deploy(hosts):
    root = os.path.join(DATA, "deploy-%d" % hosts)
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    ports = free_ports(hosts)
    inventory = os.path.join(root, "hosts.yml")
    lines = ["all:", "  children:", "    sequencers:", "      hosts:"]
    for i in range(1, hosts + 1):
        lines.append("        seq-%d: {conductor_raft_address: '127.0.0.1:%d'}" % (i, ports[i - 1]))
    lines += ["      vars:", "        ansible_connection: local",
              "        ansible_python_interpreter: %s" % PYTHON,
              "        conductor_storage_dir: '%s/{{ inventory_hostname }}/raft'" % root]
    with open(inventory, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    env = dict(ENV, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".cache", "collections"))
    playbook = os.path.join(os.path.dirname(PYTHON), "ansible-playbook")

    def wipe():
        for i in range(1, hosts + 1):
            shutil.rmtree(os.path.join(root, "seq-%d" % i), ignore_errors=True)

    repeat = max(3, REPEAT // 2)
    first = timed([playbook, "-i", inventory, "opstack.conductor.deploy"], repeat=repeat, before=wipe, env=env)[0]
    rerun = timed([playbook, "-i", inventory, "opstack.conductor.deploy"], repeat=repeat, env=env)[0]
    # Baseline: the same files, made beforehand, pushed with ansible.builtin.copy.
    premade = os.path.join(root, "premade")
    shutil.rmtree(premade, ignore_errors=True)
    shutil.copytree(root, premade, ignore=shutil.ignore_patterns("hosts.yml", "premade"))
    baseline = os.path.join(root, "copy.yml")
    with open(baseline, "w") as handle:
        handle.write(_COPY_PLAYBOOK % premade)
    base_first = timed([playbook, "-i", inventory, baseline], repeat=repeat, before=wipe, env=env)[0]
    base_rerun = timed([playbook, "-i", inventory, baseline], repeat=repeat, env=env)[0]
    return {"first": stats(first), "rerun": stats(rerun), "copy_first": stats(base_first),
            "copy_rerun": stats(base_rerun),
            "ratio_first": statistics.median(first) / statistics.median(base_first),
            "ratio_rerun": statistics.median(rerun) / statistics.median(base_rerun),
            "goal": "first <= 1.2, rerun <= 1.1"}


_COPY_PLAYBOOK = """- name: Baseline, push pre-made Raft state files
  hosts: sequencers
  gather_facts: false
  tasks:
    - name: Node directory
      ansible.builtin.file:
        path: "{{ conductor_storage_dir }}/{{ inventory_hostname }}"
        state: directory
        mode: "0750"
    - name: Files
      ansible.builtin.copy:
        src: "%s/{{ inventory_hostname }}/raft/{{ inventory_hostname }}/{{ item }}"
        dest: "{{ conductor_storage_dir }}/{{ inventory_hostname }}/{{ item }}"
        mode: "0600"
      loop: [raft-log.db, raft-stable.db]
"""


# ================================================================================================================
# B6: every playbook against Ansible's floor (one ping task over the same hosts), measured in the same run
# ================================================================================================================

B6_HOSTS = [int(n) for n in os.environ.get("BENCH_B6_HOSTS", "3,7").split(",") if n]
B6_NODES = [int(n) for n in os.environ.get("BENCH_B6_NODES", "3,9,101").split(",") if n]
B6_REPEAT = int(os.environ.get("BENCH_B6_REPEAT", str(REPEAT)))
# Goals of issue 15, judged on the ratio of medians (playbook / floor, both measured in the same rounds).
B6_GOALS = {"generate": 1.5, "deploy": 3.0, "info": 3.0, "backup": 4.0, "backup_fetch": 4.0, "restore": 4.0}
_RECAP_RE = (r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=\d+\s+"
             r"failed=(?P<failed>\d+)\s+skipped=(?P<skipped>\d+)")
_FLOOR_PLAYBOOK = """- name: Ansible's floor, one ping task over the same hosts
  hosts: %s
  gather_facts: false
  tasks:
    - name: Ping
      ansible.builtin.ping:
"""


def _ansible_env(root):
    return dict(ENV, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".cache", "collections"), ANSIBLE_NOCOLOR="1",
                ANSIBLE_FORCE_COLOR="0", ANSIBLE_RETRY_FILES_ENABLED="0",
                ANSIBLE_LOCAL_TEMP=os.path.join(root, ".ansible-tmp"))


def play(args, root, before=None):
    """One ansible-playbook run: (seconds, {host: {ok, changed, failed, skipped}} from its recap). The recap's ok
    counts every task that ran on the host (changed ones included, a loop once); skipped ones are apart."""
    import re

    if before:
        before()
        # What ``before`` removed is flushed before the clock starts: on this ext4 (mounted with discard) a removed
        # tree's journal commit and discards otherwise land in the playbook's first fsyncs, charging a first run
        # with the previous round's deletion (up to 0.4 s at 101 nodes). The floor pays no such cost.
        os.sync()
    command = [os.path.join(os.path.dirname(PYTHON), "ansible-playbook")] + args
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, env=_ansible_env(root), cwd=root, check=False)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError("%s failed:\n%s%s" % (" ".join(command), proc.stdout[-3000:], proc.stderr[-2000:]))
    recap = {m["host"]: {k: int(m[k]) for k in ("ok", "changed", "failed", "skipped")}
             for m in re.finditer(_RECAP_RE, proc.stdout, re.MULTILINE)}
    return seconds, recap


def _tasks(recap):
    """Tasks run per host (the recap's ok plus failed), min–max over the hosts, skipped ones apart. The
    controller's own play (localhost, the playbooks' host-pattern guard) is counted apart when other hosts ran."""
    hosts = {host: counts for host, counts in recap.items() if host != "localhost"} or recap
    ran = [counts["ok"] + counts["failed"] for counts in hosts.values()]
    skipped = [counts["skipped"] for counts in hosts.values()]
    controller = recap["localhost"]["ok"] if "localhost" in recap and hosts is not recap else None
    return {"per_host_min": min(ran), "per_host_max": max(ran), "skipped_max": max(skipped),
            "total": sum(ran), "hosts": len(hosts), "controller": controller}


def _b6_summary(runs, goal):
    floor = statistics.median(runs["floor"]["times"])
    out = {"floor": stats(runs["floor"]["times"]), "floor_tasks": runs["floor"]["tasks"], "cases": {}}
    for case, run in runs.items():
        if case == "floor":
            continue
        median = statistics.median(run["times"])
        out["cases"][case] = {"time": stats(run["times"]), "ratio": median / floor, "tasks": run.get("tasks"),
                              "goal": goal(case)}
        line = "  %-20s %8.0f ms  %.2f x floor  tasks per host: %s" % (
            case, median * 1000, median / floor, _tasks_cell(run.get("tasks")))
        print(line, flush=True)
    return out


def _record(runs, case, result):
    seconds, recap = result
    entry = runs.setdefault(case, {"times": []})
    entry["times"].append(seconds)
    if recap:
        entry["tasks"] = _tasks(recap)


def b6_generate(count):
    """generate on the controller for ``count`` nodes (first run into an empty directory, then a rerun) against
    the floor on localhost, and the Go oracle's write (op-conductor-init's seed) for reference."""
    root = os.path.join(DATA, "b6-generate-%d" % count)
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    out = os.path.join(root, "raft-state")
    ids = ["sequencer-%03d" % i for i in range(1, count + 1)]
    nodes = ["127.0.0.1:%d" % (40000 + i) for i in range(1, count + 1)]
    spec_file = os.path.join(root, "spec.json")
    with open(spec_file, "w") as handle:
        json.dump({"servers": [{"id": i, "address": a, "suffrage": "voter"} for i, a in zip(ids, nodes)],
                   "initial_leader": ids[0],
                   "term": 1}, handle)
    floor = os.path.join(root, "floor.yml")
    with open(floor, "w") as handle:
        handle.write(_FLOOR_PLAYBOOK % "localhost")
    args = ["opstack.conductor.generate", "-e", "nodes=" + ",".join(nodes), "-e", "server_ids=" + ",".join(ids),
            "-e", "initial_leader=" + ids[0], "-e", "output_dir=" + out]
    go_out = os.path.join(root, "go-state")
    runs = {}
    for _round in range(B6_REPEAT):
        _record(runs, "floor", play([floor], root))
        _record(runs, "first", play(args, root, before=lambda: shutil.rmtree(out, ignore_errors=True)))
        _record(runs, "rerun", play(args, root))
        shutil.rmtree(go_out, ignore_errors=True)
        go = timed([str(oracle.build(CELL)), "write", "--spec", spec_file, "--out", go_out], repeat=1)[0][0]
        runs.setdefault("go_write", {"times": []})["times"].append(go)
    shutil.rmtree(root, ignore_errors=True)
    return _b6_summary(runs, lambda case: None if case == "go_write" else B6_GOALS["generate"])


def _b6_inventory(root, hosts):
    ports = free_ports(hosts)
    lines = ["all:", "  children:", "    sequencers:", "      hosts:"]
    for i in range(1, hosts + 1):
        lines.append("        seq-%d: {conductor_raft_address: '127.0.0.1:%d'}" % (i, ports[i - 1]))
    lines += ["      vars:", "        ansible_connection: local", "        ansible_python_interpreter: %s" % PYTHON,
              "        conductor_storage_dir: '%s/{{ inventory_hostname }}/raft'" % root,
              "        conductor_backup_dest: '%s/{{ inventory_hostname }}/backups'" % root,
              "        conductor_backup_fetch_dir: '%s/controller'" % root,
              "        conductor_initial_leader: seq-1"]
    inventory = os.path.join(root, "hosts.yml")
    with open(inventory, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    return inventory


def b6_hosts(hosts):
    """deploy, info, backup (kept on the hosts, and fetched), restore of one node, over ``hosts`` local hosts,
    first run and rerun, each round against the floor over the same inventory."""
    root = os.path.join(DATA, "b6-hosts-%d" % hosts)
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    inventory = _b6_inventory(root, hosts)
    floor = os.path.join(root, "floor.yml")
    with open(floor, "w") as handle:
        handle.write(_FLOOR_PLAYBOOK % "sequencers")
    node_one = os.path.join(root, "seq-1", "raft", "seq-1")

    def wipe():
        for entry in os.listdir(root):
            if entry.startswith("seq-") or entry == "controller":
                shutil.rmtree(os.path.join(root, entry))

    book = ["-i", inventory]
    fetch = ["-e", "conductor_backup_fetch=true"]
    runs = {}
    for _round in range(B6_REPEAT):
        _record(runs, "floor", play(book + [floor], root))
        _record(runs, "deploy_first", play(book + ["opstack.conductor.deploy"], root, before=wipe))
        _record(runs, "deploy_rerun", play(book + ["opstack.conductor.deploy"], root))
        _record(runs, "info", play(book + ["opstack.conductor.info"], root))
        _record(runs, "backup_first", play(book + ["opstack.conductor.backup"], root))
        _record(runs, "backup_rerun", play(book + ["opstack.conductor.backup"], root))
        _record(runs, "backup_fetch_first", play(book + ["opstack.conductor.backup"] + fetch, root))
        _record(runs, "backup_fetch_rerun", play(book + ["opstack.conductor.backup"] + fetch, root))
        _record(runs, "restore_first", play(book + ["opstack.conductor.restore"], root,
                                            before=lambda: shutil.rmtree(node_one)))
        _record(runs, "restore_rerun", play(book + ["opstack.conductor.restore"], root))
    shutil.rmtree(root, ignore_errors=True)
    return _b6_summary(runs, lambda case: B6_GOALS[case.rsplit("_", 1)[0] if case != "info" else "info"])


IMPORT_ROOTS = [root for root in os.environ.get("BENCH_IMPORT_ROOTS", "").split(",") if root] or [
    os.path.join(REPO, ".cache", "collections")]


def import_times(roots):
    """Issue 14 item 6: what each ours.py entry imports, per tree (benchmarks/import_time.py, 15 fresh processes
    per entry and tree, interleaved); the first root is the reference the later ones are compared with."""
    out = subprocess.run([PYTHON, os.path.join(HERE, "import_time.py"), "15"] + list(roots), capture_output=True,
                         text=True, env=ENV, check=False, timeout=1800)
    if out.returncode:
        raise RuntimeError("import_time.py failed: %s" % out.stderr[-2000:])
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    return {"roots": list(roots), "entries": [line for line in lines if "runs" in line],
            "changes": [line for line in lines if "runs" not in line]}


def reruns_report(results):
    """B2 and B5 re-run on a loaded machine (BENCH_AS_RERUN=1), shown beside the quiet run rather than over it."""
    reruns = results.get("reruns", {})
    out = []
    for key, title, unit in (("b2", "B2 full verify", "raft-log.db"), ("b5", "B5 generate", "nodes")):
        rows = reruns.get(key)
        if not rows:
            continue
        run = reruns.get("runs", {}).get(key, {})
        out += ["", "### %s, re-run" % title, "",
                "Measured %s, load average %s at its start: %s" % (
                    run.get("date", "?"), ", ".join("%.2f" % x for x in run.get("load", [])),
                    run.get("note") or "no note."), "",
                "| %s | ours | Go | ratio | start-up ours (python alone) / Go | work ours / Go | work ratio |" % unit,
                "|---|---|---|---|---|---|---|"]
        for label, r in rows.items():
            out.append("| %s | %s | %s | %.2f | %s |" % (
                label, span(r["ours_process"]), span(r["go_process"]), r["ratio"], startup_cells(r)))
    return (["", "## Re-runs on a loaded machine (issue 14 item 6)"] + out) if out else []


def imports_report(results):
    r = results.get("imports", {}).get("trees")
    if not r:
        return []
    names = {root: os.path.basename(root.rstrip("/")) or root for root in r["roots"]}
    note = results.get("runs", {}).get("imports", {}).get("note")
    out = ["", "## Start-up imports (issue 14 item 6)", "",
           measured(results, "imports") + (" Machine: %s" % note if note else ""), "",
           "`benchmarks/import_time.py`: per `ours.py` entry, the modules imported beyond `python -c \"import sys\"` "
           "and the sum of each module's median `-X importtime` self time over 15 fresh processes, the trees "
           "measured interleaved. The module lists are exact; on a shared, loaded machine the milliseconds move by "
           "tens of percent from round to round (benchmarks/README.md).", "",
           "| entry | tree | modules | ms | load |", "|---|---|---|---|---|"]
    for e in r["entries"]:
        out.append("| %s | %s | %d | %.1f | %.1f |" % (
            e["operation"], names[e["root"]], e["modules"], e["import_ms"], e["load_average"]))

    def short(mods):
        return ", ".join(m.rsplit(".", 1)[-1] for m in mods) or "none"

    for c in r["changes"]:
        out.append("")
        out.append("%s, %s against %s: no longer imports %s; newly imports %s." % (
            c["operation"], names[c["root"]], names[r["roots"][0]], short(c["no_longer_imports"]),
            short(c["newly_imports"])))
    return out


def b6(case):
    kind, size = case
    return {"generate": b6_generate, "hosts": b6_hosts, "payloads": lambda _size: b6_payloads()}[kind](size)


def b6_cases():
    # Hosts first (the playbooks issue 15 item 2 cut), in the order given; BENCH_B6_NODES= (empty) skips generate,
    # BENCH_B6_HOSTS= (empty) the playbooks over hosts.
    cases = {"hosts %d" % n: ("hosts", n) for n in B6_HOSTS}
    cases.update({"generate %d" % n: ("generate", n) for n in B6_NODES})
    cases["payloads"] = ("payloads", None)
    return cases


def b6_payloads():
    """Issue 15 item 4: each module's AnsiballZ payload as Ansible builds it (benchmarks/payload.py)."""
    out = subprocess.run([PYTHON, os.path.join(HERE, "payload.py"), os.path.join(REPO, ".cache", "collections")],
                         capture_output=True, text=True, env=ENV, check=False)
    if out.returncode:
        raise RuntimeError("payload.py failed: %s" % out.stderr[-2000:])
    return json.loads(out.stdout)


# ================================================================================================================
# Report
# ================================================================================================================


def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    go = subprocess.run(["go", "version"], capture_output=True, text=True, check=False).stdout.strip()
    ansible = subprocess.run([os.path.join(os.path.dirname(PYTHON), "ansible"), "--version"], capture_output=True,
                             text=True, check=False).stdout.splitlines()[:1]
    import msgpack
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(memory, 1),
            "kernel": platform.release(), "python": platform.python_version(), "go": go,
            "ansible": ansible[0] if ansible else "?", "msgpack": ".".join(map(str, msgpack.version)),
            "go_cell": CELL, "go_modules": oracle.run(CELL, "info")["modules"],
            "load_average_at_start": os.getloadavg()}


def ms(value):
    return "%.1f" % (value * 1000)


def span(s):
    return "%s (%s–%s)" % (ms(s["median"]), ms(s["min"]), ms(s["max"]))


def verdict(ok):
    return "met" if ok else "**missed**"


STARTUP_NOTE = (
    "Each round runs, back to back: our operation, `ours.py startup` (the interpreter plus the operation's imports, "
    "nothing else), Go's operation, `oracle info` (the Go binary's start) and `python -c pass`. Work = a round's "
    "whole-process time minus that round's start-up; medians over the rounds. The work ratio is ours over Go, left "
    "out where Go's work is under 1 ms. The goal is judged on the whole-process ratio.")


def startup_cells(r):
    if "ours_work" not in r:
        return "– | – | –"
    ratio = "%.2f" % r["work_ratio"] if r.get("work_ratio") is not None else "n/a"
    return "%s (%s) / %s | %s / %s | %s" % (
        ms(r["ours_startup"]["median"]), ms(r["interpreter"]["median"]), ms(r["go_startup"]["median"]),
        ms(r["ours_work"]["median"]), ms(r["go_work"]["median"]), ratio)


NOTES = [
    "B1 cold, Go: the oracle's summary walks back from the last entry to the newest configuration entry through "
    "raft-boltdb GetLog without stopping at the newest snapshot (ours stops there); in these grown logs the only "
    "configuration entry was compacted away, so cold it reads every retained entry. Its warm figure is the fairer "
    "comparison.",
    "B2 and B5 at small sizes miss their whole-process goals by start-up: the interpreter alone takes about as long "
    "as the Go binary's whole 3-node generate, and the imports three to four times that. The work columns show the "
    "rest; benchmarks/README.md has the analysis.",
    "B3 peak memory: the resident set counts the mmapped files' pages the verify touched (page cache the kernel can "
    "drop at any time); the anonymous part is the process's own memory.",
    "B6 on a loaded machine: when the floor itself (one ping task) takes several seconds, every playbook's min–max "
    "span is wide and a ratio near a goal (1.51 against 1.5) is within the noise; the verdicts are the run's, not a "
    "promise. Rerun `BENCH_ONLY=b6 make bench` on a quiet machine before judging a goal.",
    "B6 generate is two tasks: one raft_cluster_state run for the whole cluster, which also checks the "
    "parameters (a Jinja assert over the node lists did, 0.1 s at 101 nodes), and a report (controller only); "
    "before issue 15 it was 2 x N + 3 module runs (issue 15 measured 3.9–4.5x the floor at 3 nodes and 7.9–8.3x "
    "at 9). At 101 nodes the module's own work shows in a first run: it builds and fsyncs 2 files and 2 "
    "directories per node (about 400 fsyncs) before swapping. A rerun decodes no node whose files are byte for "
    "byte what the spec builds.",
    "B6 restore makes one module run per node that already holds its backup (the preflight, which also reads it "
    "for the report) and three on the wiped node (the preflight, the check of the copy pushed from the controller, "
    "where B6's fetched backup is taken on a tie, and the restore, which reads the restored node for the report); "
    "before the last cut they were two and four (raft_info read every node again, issue 15).",
    "B6 payloads: Ansible's own module_utils (basic.py and what it imports) weigh more than ours in every payload; "
    "ours are what each module imports, transitively, as Ansible's dependency finder sees it.",
]


def measured(results, key):
    run = results.get("runs", {}).get(key)
    if not run:
        return "Measured: unknown (before per-benchmark dates were recorded)."
    return "Measured %s, load average %s at its start." % (run["date"], ", ".join("%.2f" % x for x in run["load"]))


def _tasks_cell(tasks):
    if not tasks:
        return "–"
    ran = "%d" % tasks["per_host_min"] if tasks["per_host_min"] == tasks["per_host_max"] else "%d–%d" % (
        tasks["per_host_min"], tasks["per_host_max"])
    cell = "%s (+%d skipped)" % (ran, tasks["skipped_max"]) if tasks["skipped_max"] else ran
    return cell + (" + %d on localhost" % tasks["controller"] if tasks.get("controller") else "")


def _ratio_cell(case):
    goal = case.get("goal")
    if goal is None:
        return "%.2f" % case["ratio"]
    return "%.2f %s" % (case["ratio"], verdict(case["ratio"] <= goal))


def b6_report(results):
    b6 = results.get("b6", {})
    if not b6:
        return []
    run = results.get("runs", {}).get("b6", {})
    out = ["", "## B6 playbooks against Ansible's floor", "", measured(results, "b6")]
    dated = ["%s: %s (load %s)" % (label, r["measured"], r.get("load", "?")) for label, r in b6.items()
             if isinstance(r, dict) and r.get("measured")]
    if dated:
        out += ["", "Cases measured at different times (a later run measures only the cases it names and keeps the "
                "others): " + "; ".join(dated) + "."]
    if run.get("note"):
        out += ["", "Machine during the latest run: %s" % run["note"]]
    out += ["", "Each round runs the floor (`ansible.builtin.ping`, one task, over the same hosts: localhost for "
            "generate, the inventory's hosts otherwise) and then every playbook of the table, so a ratio compares "
            "medians measured in the same rounds (%s rounds). Times are whole `ansible-playbook` runs. Tasks: the "
            "tasks that ran per host (the recap's ok, changed ones included; a loop counts once), min–max over the "
            "hosts, skipped ones apart. Goals (issue 15): generate ≤ 1.5× the floor, deploy and info ≤ 3×, backup "
            "and restore ≤ 4×; measured, not asserted in tests." % run.get("repeat", "?"), "",
            "### generate (controller, one module run)", "",
            "| nodes | floor | first run | ratio | rerun | ratio | tasks first / rerun | Go write (seed, reference) |",
            "|---|---|---|---|---|---|---|---|"]
    for label, r in b6.items():
        if not label.startswith("generate"):
            continue
        c = r["cases"]
        out.append("| %s | %s | %s | %s | %s | %s | %s / %s | %s |" % (
            label.split()[1], span(r["floor"]), span(c["first"]["time"]), _ratio_cell(c["first"]),
            span(c["rerun"]["time"]), _ratio_cell(c["rerun"]), _tasks_cell(c["first"]["tasks"]),
            _tasks_cell(c["rerun"]["tasks"]), span(c["go_write"]["time"])))
    out += ["", "### Playbooks over local hosts", "",
            "Backups are kept on the hosts (the default) or also fetched to the controller "
            "(`conductor_backup_fetch=true`); restore: one node's directory removed, the default restore over all "
            "hosts (the others are unchanged), then a rerun.", "",
            "| hosts | floor (tasks) | playbook | time | ratio | tasks per host |", "|---|---|---|---|---|---|"]
    for label, r in b6.items():
        if not label.startswith("hosts"):
            continue
        for case, c in r["cases"].items():
            out.append("| %s | %s (%s) | %s | %s | %s | %s |" % (
                label.split()[1], ms(r["floor"]["median"]), _tasks_cell(r["floor_tasks"]), case.replace("_", " "),
                span(c["time"]), _ratio_cell(c), _tasks_cell(c["tasks"])))
    payloads = b6.get("payloads")
    if payloads:
        out += ["", "### What each module ships (issue 15 item 4)", "",
                "The AnsiballZ payload of each module as ansible-core's `module_common.modify_module` builds it "
                "(ZIP_DEFLATED), opened and counted (benchmarks/payload.py): our module_utils files and their "
                "bytes (uncompressed), Ansible's module_utils bytes, and the compressed zip. Measured on the tree "
                "as it was during the run; W2-B/W2-C are restructuring module_utils to cut it.", "",
                "| module | zip bytes | our module_utils bytes | our module_utils | Ansible module_utils bytes |",
                "|---|---|---|---|---|"]
        for name, p in sorted(payloads.items()):
            files = ", ".join(f[:-3] for f in p["ours_files"])
            out.append("| %s | %d | %d | %s | %d |" % (
                name, p["zip_bytes"], p["ours_bytes"], files, p["ansible_module_utils_bytes"]))
    return out


def write_report(results):
    with open(os.path.join(HERE, "results.json"), "w") as handle:
        json.dump(results, handle, indent=2, sort_keys=True)
    m = results["machine"]
    out = ["# Benchmark results", "",
           "Produced by `make bench` (benchmarks/bench.py) on %s. Times are wall-clock milliseconds, median "
           "(min–max) of the runs given; every ratio compares with a baseline measured in the same run." %
           results["date"], "",
           "Machine: %s, %d cores, %s GiB, Linux %s; Python %s, msgpack %s; %s; %s; Go cell %s (%s)." % (
               m["cpu"], m["cores"], m["memory_gib"], m["kernel"], m["python"], m["msgpack"], m["go"],
               m["ansible"], m["go_cell"], ", ".join("%s %s" % kv for kv in sorted(m["go_modules"].items()))),
           "The machine is shared; ratios against baselines measured in the same run are the figures to trust. "
           "Each benchmark says when it was measured.", ""]
    out += ["## B1 info summary (term, vote, first/last index, newest configuration)", "", measured(results, "b1"),
            "",
            "Warm: the files' pages in the page cache (as on a running node). Cold: dropped from the page cache "
            "before each run (fdatasync + POSIX_FADV_DONTNEED), so the pages a summary touches are read from the "
            "virtual disk (the host may still cache it). The goal is judged on the cold in-process median. "
            "Bytes of raft-log.db left in the page cache after an eviction (fincore): %s." % ", ".join(
                "%s" % r.get("log_resident_after_eviction", "not measured") for r in results.get("b1", {}).values()),
            "",
            "| raft-log.db | ours in-process warm | ours in-process cold | ours whole process warm / cold | "
            "Go read --summary warm / cold | ratio (whole process, warm) | goal |",
            "|---|---|---|---|---|---|---|"]
    for label, r in results.get("b1", {}).items():
        cold = r.get("ours_in_process_cold", r["ours_in_process"])
        out.append("| %s | %s | %s | %s / %s | %s / %s | %.2f | in-process ≤ 50 ms: %s |" % (
            label, span(r["ours_in_process"]), span(cold), ms(r["ours_process"]["median"]),
            ms(r["ours_process_cold"]["median"]) if "ours_process_cold" in r else "–",
            ms(r["go_process"]["median"]), ms(r["go_process_cold"]["median"]) if "go_process_cold" in r else "–",
            r["ratio"], verdict(cold["median"] <= 0.05)))
    out += ["", "## B2 full verify", "", measured(results, "b2"), "",
            "Ours: bbolt structural check of both files, every entry decoded and checked, snapshot CRCs. Go: the "
            "oracle's `verify` (tx.Check on both files, every entry through raft-boltdb GetLog, snapshots opened).",
            "", STARTUP_NOTE, "",
            "| raft-log.db | ours (process) | Go (process) | ratio | goal ≤ 1.5 | start-up ours (python alone) / Go | "
            "work ours / Go | work ratio |", "|---|---|---|---|---|---|---|---|"]
    for label, r in results.get("b2", {}).items():
        out.append("| %s | %s | %s | %.2f | %s | %s |" % (
            label, span(r["ours_process"]), span(r["go_process"]), r["ratio"], verdict(r["ratio"] <= 1.5),
            startup_cells(r)))
    out += ["", "## B3 backup + verify", "", measured(results, "b3"), "",
            "Ours: raft_backup's copy (fsync), full verify of the copy, manifest, rename. Baseline: `cp -r` plus "
            "`sha256sum` of the same files (no fsync, no verify). Ratio = baseline time / our time.", "",
            "| node state | ours | baseline | ours MiB/s | baseline MiB/s | ratio | goal ≥ 0.8 | peak RSS | "
            "of which anonymous (heap) |",
            "|---|---|---|---|---|---|---|---|---|"]
    for label, r in results.get("b3", {}).items():
        out.append("| %s (%.0f MiB) | %s | %s | %.0f | %.0f | %.2f | %s | %.1f MiB | %.1f MiB |" % (
            label, r["bytes"] / 2 ** 20, span(r["ours"]), span(r["baseline"]), r["ours_mib_s"],
            r["baseline_mib_s"], r["ratio"], verdict(r["ratio"] >= 0.8), r["peak_rss_mib"],
            r.get("peak_anon_mib", float("nan"))))
    out += ["", "## B4 deploy playbook", "", measured(results, "b4"), "",
            "`ansible-playbook opstack.conductor.deploy` over N local hosts (fresh, then a no-op rerun) against a "
            "baseline playbook that pushes the same pre-made files with `ansible.builtin.copy`.", "",
            "| hosts | deploy first | copy first | ratio (≤ 1.2) | deploy rerun | copy rerun | ratio (≤ 1.1) |",
            "|---|---|---|---|---|---|---|"]
    for label, r in results.get("b4", {}).items():
        out.append("| %s | %s | %s | %.2f %s | %s | %s | %.2f %s |" % (
            label, span(r["first"]), span(r["copy_first"]), r["ratio_first"], verdict(r["ratio_first"] <= 1.2),
            span(r["rerun"]), span(r["copy_rerun"]), r["ratio_rerun"], verdict(r["ratio_rerun"] <= 1.1)))
    out += ["", "## B5 generate", "", measured(results, "b5"), "",
            "Whole process: our module_utils (validate, build both databases per node, fsync, atomic rename) "
            "against the Go oracle's `write` (raft-boltdb NewBoltStore + StoreLog/SetUint64, what "
            "op-conductor-init does).", "", STARTUP_NOTE, "",
            "| nodes | ours | Go | ratio | goal ≤ 1.0 | start-up ours (python alone) / Go | work ours / Go | "
            "work ratio |", "|---|---|---|---|---|---|---|---|"]
    for label, r in results.get("b5", {}).items():
        out.append("| %s | %s | %s | %.2f | %s | %s |" % (
            label, span(r["ours_process"]), span(r["go_process"]), r["ratio"], verdict(r["ratio"] <= 1.0),
            startup_cells(r)))
    out += reruns_report(results)
    out += b6_report(results)
    out += imports_report(results)
    out += _fleet().b7_report(results)
    out += ["", "## Notes", ""] + ["* " + note for note in NOTES]
    with open(os.path.join(HERE, "RESULTS.md"), "w") as handle:
        handle.write("\n".join(out) + "\n")


def _fleet():
    """B7 lives in benchmarks/fleet.py, which imports this module (its helpers)."""
    import fleet

    return fleet


def main():
    os.makedirs(DATA, exist_ok=True)
    only = set(os.environ.get("BENCH_ONLY", "b1,b2,b3,b4,b5,b6,b7,imports").split(","))
    previous = {}
    if os.path.exists(os.path.join(HERE, "results.json")):
        with open(os.path.join(HERE, "results.json")) as handle:
            previous = json.load(handle)
    results = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(),
               "runs": dict(previous.get("runs", {})), "reruns": dict(previous.get("reruns", {}))}
    # Every benchmark this run does not measure keeps its figures, also in the reports written after each case.
    results.update({key: value for key, value in previous.items() if key not in results})
    nodes = {}
    for size in SIZES_MIB if only & {"b1", "b2", "b3"} else ():  # grown data only for the benchmarks reading it
        node = grown_node(size)
        nodes["%d MiB" % round(log_size(node) / 2 ** 20)] = node
    for key, function, cases in (("b1", b1_summary, nodes), ("b2", b2_verify, nodes), ("b3", b3_backup, nodes),
                                 ("b5", b5_generate, {"%d" % n: n for n in (3, 9, 101)}),
                                 ("b4", b4_deploy, {"%d" % n: n for n in (3, 5, 7)}),
                                 ("b6", b6, b6_cases()), ("b7", _fleet().b7, _fleet().b7_cases()),
                                 ("imports", import_times, {"trees": IMPORT_ROOTS})):
        if key not in only:
            results[key] = previous.get(key, {})
            continue
        if os.environ.get("BENCH_AS_RERUN") and key in ("b2", "b5"):
            # A re-run under load goes beside the quiet run (reruns_report), not over it.
            reruns = results.setdefault("reruns", dict(previous.get("reruns", {})))
            reruns.setdefault("runs", {})[key] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                                  "load": list(os.getloadavg()),
                                                  "note": os.environ.get("BENCH_MACHINE_NOTE", "")}
            results[key] = previous.get(key, {})
            reruns[key] = {label: function(case) for label, case in cases.items()}
            write_report(results)
            continue
        # B6 and B7 keep the cases this run does not measure (each says when it was measured); the others start
        # afresh.
        results[key] = dict(previous.get(key, {})) if key in ("b6", "b7") else {}
        earlier = previous.get("runs", {}).get(key, {})
        for kept in results[key].values():
            if isinstance(kept, dict) and "cases" in kept and "measured" not in kept:
                kept.update(measured=earlier.get("date", "?"), load=round((earlier.get("load") or [0])[0], 1))
        results["runs"][key] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                "load": list(os.getloadavg())}
        if key == "b6":
            results["runs"][key].update(repeat=B6_REPEAT)
        if key in ("b6", "b7", "imports"):
            results["runs"][key].update(note=os.environ.get("BENCH_MACHINE_NOTE", ""))
        for label, case in cases.items():
            print("%s %s..." % (key, label), flush=True)
            started = {"measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                       "load": round(os.getloadavg()[0], 1)}
            results[key][label] = dict(function(case), **started) if key in ("b6", "b7") and label != "payloads" \
                else function(case)
            write_report(results)  # after each case, so a run stopped later keeps what was measured
    write_report(results)
    print(open(os.path.join(HERE, "RESULTS.md")).read())


if __name__ == "__main__":
    main()
