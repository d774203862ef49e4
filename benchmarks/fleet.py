"""B7 (issue 19 item 5): a fleet of clusters of 3 local hosts each (100 clusters: 300 hosts) - deploy (first run
and rerun) and info - against Ansible's floor (one ansible.builtin.ping task over the same hosts) at forks 10 and
50, in the same run, with the controller's peak memory, so that the cost per host at 10 and 100 clusters can be
compared.

Two ways to run a fleet, BENCH_B7_MODE:
  plays (default) - one ansible-playbook run that imports the playbook once per cluster group
                    (import_playbook with conductor_group=<cluster>): what today's one-cluster playbooks allow;
  key             - one ansible-playbook run of the playbook over the parent group, each host naming its cluster
                    in the host variable conductor_cluster_name (issue 19 item 1, the multi-cluster key).
BENCH_B7_TREE=<commit>: measure that commit of the collection (git archive into a temporary directory) instead
of the working tree, which other sessions may be editing during the run.
Run alone: BENCH_ONLY=b7 make bench (BENCH_B7_CLUSTERS=10,100 BENCH_B7_FORKS=10,50 BENCH_B7_REPEAT=1), or
.venv/bin/python benchmarks/fleet.py (the same knobs; writes results.json and RESULTS.md through bench.py).
"""

import glob
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import time

import bench

B7_CLUSTERS = [int(n) for n in os.environ.get("BENCH_B7_CLUSTERS", "10,100").split(",") if n]
B7_FORKS = [int(n) for n in os.environ.get("BENCH_B7_FORKS", "10,50").split(",") if n]
B7_REPEAT = int(os.environ.get("BENCH_B7_REPEAT", "1"))
B7_MODE = os.environ.get("BENCH_B7_MODE", "plays")
B7_TREE = os.environ.get("BENCH_B7_TREE", "")  # a commit to measure; empty: the working tree
B7_GOAL = 3.0  # issue 19: deploy and info <= 3x the floor; the cost per host must not grow with the clusters
HOSTS_PER_CLUSTER = 3
PARENT = "fleet"
SAMPLE_SECONDS = 0.2


def _cluster_name(number):
    return "c%03d" % number


def write_inventory(root, clusters):
    """``clusters`` groups of 3 local hosts under the parent group ``fleet``; every node's state under ``root``.
    Consensus addresses are distinct across the fleet (nothing listens on them: deploy and info read files)."""
    lines = ["all:", "  children:", "    %s:" % PARENT, "      children:"]
    for number in range(1, clusters + 1):
        name = _cluster_name(number)
        lines += ["        %s:" % name, "          hosts:"]
        for member in range(1, HOSTS_PER_CLUSTER + 1):
            port = 20000 + number * 10 + member
            lines.append("            %s-%d: {conductor_raft_address: '127.0.0.1:%d'}" % (name, member, port))
        lines += ["          vars:", "            conductor_cluster_name: %s" % name,
                  "            conductor_network: chain-%s" % name, "            conductor_initial_leader: %s-1" % name]
    lines += ["  vars:", "    ansible_connection: local", "    ansible_python_interpreter: %s" % bench.PYTHON,
              "    conductor_storage_dir: '%s/nodes/{{ inventory_hostname }}/raft'" % root]
    path = os.path.join(root, "hosts.yml")
    with open(path, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


def write_playbooks(root, clusters):
    """The floor (one ping over the whole fleet) and, in plays mode, one playbook per operation that imports the
    collection's playbook once per cluster."""
    books = {"floor": os.path.join(root, "floor.yml")}
    with open(books["floor"], "w") as handle:
        handle.write(bench._FLOOR_PLAYBOOK % PARENT)
    for operation in ("deploy", "info"):
        if B7_MODE == "key":
            books[operation] = ["opstack.conductor.%s" % operation, "-e", "conductor_group=%s" % PARENT]
            continue
        path = os.path.join(root, "%s.yml" % operation)
        with open(path, "w") as handle:
            handle.write("---\n")
            for number in range(1, clusters + 1):
                handle.write("- name: %s of %s\n  ansible.builtin.import_playbook: opstack.conductor.%s\n"
                             "  vars:\n    conductor_group: %s\n" % (operation, _cluster_name(number), operation,
                                                                     _cluster_name(number)))
        books[operation] = [path]
    return {key: value if isinstance(value, list) else [value] for key, value in books.items()}


def _tree_pss_kib(pid):
    """Proportional set size (Pss, /proc/<pid>/smaps_rollup: shared pages split among the processes sharing them,
    so forked workers' copy-on-write pages are not counted once per worker) of ``pid`` alone and of ``pid`` with
    every descendant (forked workers, and the modules they run: the hosts are local), in KiB; processes that ended
    meanwhile count nothing."""
    total, own, pending = 0, 0, [pid]
    while pending:
        current = pending.pop()
        try:
            with open("/proc/%d/smaps_rollup" % current) as handle:
                pss = next((int(line.split()[1]) for line in handle if line.startswith("Pss:")), 0)
            with open("/proc/%d/task/%d/children" % (current, current)) as handle:
                pending.extend(int(child) for child in handle.read().split())
        except (OSError, ValueError):
            continue
        total += pss
        own = pss if current == pid else own
    return total, own


def collections_path(root):
    """Where Ansible finds opstack.conductor: the working tree (make collection-link), or B7_TREE's commit
    unpacked once under ``root``."""
    if not B7_TREE:
        return os.path.join(bench.REPO, ".cache", "collections")
    path = os.path.join(root, "collections")
    tree = os.path.join(path, "ansible_collections", "opstack", "conductor")
    if not os.path.isdir(tree):
        os.makedirs(tree)
        archive = subprocess.run(["git", "-C", bench.REPO, "archive", B7_TREE], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", tree], input=archive.stdout, check=True)
    return path


def measured_tree():
    """The commit measured, as the report names it (the working tree: HEAD plus whatever was uncommitted)."""
    head = subprocess.run(["git", "-C", bench.REPO, "rev-parse", "--short", B7_TREE or "HEAD"], capture_output=True,
                          text=True, check=False).stdout.strip()
    if B7_TREE:
        return head
    status = subprocess.run(["git", "-C", bench.REPO, "status", "--porcelain", "--", ".", ":!benchmarks/RESULTS.md",
                             ":!benchmarks/results.json"], capture_output=True, text=True, check=False).stdout
    # The result files a benchmark run itself rewrites are not edits to the code measured.
    return "working tree at %s (with uncommitted edits)" % head if status.strip() else head


def play_sampled(args, root, forks):
    """bench.play with the controller's memory sampled every 0.2 s: (seconds, recap, peak Pss MiB of the
    ansible-playbook process alone, peak Pss MiB of its whole process tree)."""
    import re

    command = [os.path.join(os.path.dirname(bench.PYTHON), "ansible-playbook"), "--forks", str(forks)] + args
    env = dict(bench._ansible_env(root), ANSIBLE_COLLECTIONS_PATH=collections_path(root))
    with tempfile.TemporaryFile(mode="w+") as out, tempfile.TemporaryFile(mode="w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=err, env=env, cwd=root, text=True,
                                start_new_session=True)
        peak_tree = peak_main = 0
        try:
            while proc.poll() is None:
                tree, main = _tree_pss_kib(proc.pid)
                peak_tree, peak_main = max(peak_tree, tree), max(peak_main, main)
                time.sleep(SAMPLE_SECONDS)
        except BaseException:  # stopped (Ctrl-C): no ansible-playbook, worker or module is left running
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait()
            raise
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise RuntimeError("%s failed:\n%s%s" % (" ".join(command), stdout[-3000:], stderr[-2000:]))
    recap = {m["host"]: {k: int(m[k]) for k in ("ok", "changed", "failed", "skipped")}
             for m in re.finditer(bench._RECAP_RE, stdout, re.MULTILINE)}
    return seconds, recap, peak_main / 1024, peak_tree / 1024


def _record(runs, case, sampled):
    seconds, recap, main_mib, tree_mib = sampled
    entry = runs.setdefault(case, {"times": [], "main_mib": [], "tree_mib": []})
    entry["times"].append(seconds)
    entry["main_mib"].append(main_mib)
    entry["tree_mib"].append(tree_mib)
    if recap:
        entry["tasks"] = bench._tasks(recap)
    print("    %-14s %8.1f s  controller %6.0f MiB, tree %6.0f MiB" % (case, seconds, main_mib, tree_mib),
          flush=True)


def _summary(runs, hosts):
    floor = statistics.median(runs["floor"]["times"])
    out = {"hosts": hosts, "floor": bench.stats(runs["floor"]["times"]),
           "floor_per_host_ms": floor / hosts * 1000, "cases": {}}
    for case, run in runs.items():
        median = statistics.median(run["times"])
        out["cases"][case] = {"time": bench.stats(run["times"]), "ratio": median / floor,
                              "per_host_ms": median / hosts * 1000, "tasks": run.get("tasks"),
                              "peak_controller_mib": max(run["main_mib"]), "peak_tree_mib": max(run["tree_mib"]),
                              "goal": None if case == "floor" else B7_GOAL}
    return out


def _check_deployed(root, hosts):
    """The deploy really wrote every host's node (a run that skipped clusters would time less work)."""
    written = glob.glob(os.path.join(root, "nodes", "*", "raft", "*", "raft-log.db"))
    if len(written) != hosts:
        raise RuntimeError("deploy wrote %d of %d nodes under %s" % (len(written), hosts, root))


def b7(case):
    """``clusters`` x 3 local hosts: per forks value, the floor, deploy into empty state, a deploy rerun and
    info, in that order, B7_REPEAT rounds; the state lives in a temporary directory removed afterwards."""
    clusters, forks = case
    root = tempfile.mkdtemp(prefix="b7-%d-%d-" % (clusters, forks), dir=bench.DATA)
    try:
        books = write_playbooks(root, clusters)
        book = ["-i", write_inventory(root, clusters)]
        runs, stopped = {}, False
        try:
            for _round in range(B7_REPEAT):
                shutil.rmtree(os.path.join(root, "nodes"), ignore_errors=True)
                for case, operation in (("floor", "floor"), ("deploy_first", "deploy"), ("deploy_rerun", "deploy"),
                                        ("info", "info")):
                    _record(runs, case, play_sampled(book + books[operation], root, forks))
                    if case == "deploy_first":
                        _check_deployed(root, clusters * HOSTS_PER_CLUSTER)
        except KeyboardInterrupt:  # keep what was measured (a fleet of 100 clusters takes long): marked stopped
            if "floor" not in runs:
                raise
            stopped = True
        return dict(_summary(runs, clusters * HOSTS_PER_CLUSTER), mode=B7_MODE, clusters=clusters, forks=forks,
                    repeat=B7_REPEAT, tree=measured_tree(), stopped=stopped)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def b7_cases():
    """Smallest fleet first (a run stopped later keeps it), every forks value at each size; the mode is in the
    label, so a run of one mode keeps the other's figures."""
    return {"%d clusters, forks %d, %s" % (clusters, forks, B7_MODE): (clusters, forks)
            for clusters in B7_CLUSTERS for forks in B7_FORKS}


def _case_order(case):
    """Rows in the order a round runs them (results.json sorts its keys)."""
    order = ("floor", "deploy_first", "deploy_rerun", "info")
    return order.index(case) if case in order else len(order)


def _per_host_growth(b7_results):
    """Cost per host at the largest fleet over the smallest, per case and forks (1.0: flat)."""
    by_forks = {}
    for r in b7_results.values():
        if isinstance(r, dict) and "cases" in r:
            by_forks.setdefault((r.get("mode"), r["forks"]), {})[r["clusters"]] = r
    lines = []
    for (mode, forks), sizes in sorted(by_forks.items()):
        if len(sizes) < 2:
            continue
        small, large = sizes[min(sizes)], sizes[max(sizes)]
        cells = ["%s %.2f" % (case.replace("_", " "), large["cases"][case]["per_host_ms"] /
                              small["cases"][case]["per_host_ms"])
                 for case in sorted(large["cases"], key=_case_order) if case in small["cases"]]
        lines.append("* %s mode, forks %d: cost per host at %d clusters over %d clusters: %s." % (
            mode, forks, max(sizes), min(sizes), ", ".join(cells)))
    return lines


def b7_report(results):
    b7_results = results.get("b7", {})
    if not b7_results:
        return []
    out = ["", "## B7 a fleet of 3-host clusters against Ansible's floor (issue 19 item 5)", "",
           bench.measured(results, "b7")]
    run = results.get("runs", {}).get("b7", {})
    if run.get("note"):
        out += ["", "Machine during the latest run: %s" % run["note"]]
    out += ["", "Clusters of 3 local hosts (`ansible_connection: local`, state in a temporary directory). Per "
            "fleet size and forks value, each round runs the floor (one `ansible.builtin.ping` task over all the "
            "fleet's hosts), deploy into empty state, a deploy rerun and info. Mode `plays`: one ansible-playbook "
            "run importing the collection's playbook once per cluster group (what the one-cluster playbooks allow); "
            "mode `key`: one run over the parent group, clusters named by `conductor_cluster_name`. Peak memory: "
            "proportional set size (Pss: shared pages split among the processes sharing them) of the ansible-playbook "
            "process alone, and of its whole process tree (forked workers and the modules they run), sampled every "
            "0.2 s. Goal (issue 19): ≤ 3× the floor; measured, not asserted. Each row gives the load average when its "
            "case started; with one round per case on a shared machine whose load moves during a case, a ratio "
            "mixes the playbook's cost with the load's swing (a no-op rerun slower than the first run is the "
            "load, not the rerun).", "",
            "| clusters (hosts) | mode | forks | run | time | ratio | ms per host | peak controller / tree MiB | "
            "tasks per host | measured (load), tree |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in b7_results.values():
        if not isinstance(r, dict) or "cases" not in r:
            continue
        for case, c in sorted(r["cases"].items(), key=lambda item: _case_order(item[0])):
            ratio = "1" if case == "floor" else bench._ratio_cell(c)
            out.append("| %d (%d) | %s | %d | %s | %s | %s | %.0f | %.0f / %.0f | %s | %s (%s), %s |" % (
                r["clusters"], r["hosts"], r.get("mode", "?"), r["forks"], case.replace("_", " "),
                bench.span(c["time"]), ratio, c["per_host_ms"], c["peak_controller_mib"], c["peak_tree_mib"],
                bench._tasks_cell(c["tasks"]), r.get("measured", "?"), r.get("load", "?"), r.get("tree", "?")
                + (", run stopped after this" if r.get("stopped") else "")))
    growth = _per_host_growth(b7_results)
    if growth:
        out += ["", "Cost per host, largest fleet over smallest (1.00: flat):", ""] + growth
    return out


if __name__ == "__main__":
    os.environ.setdefault("BENCH_ONLY", "b7")
    bench.main()
