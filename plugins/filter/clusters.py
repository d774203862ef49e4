# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every cluster of a run from one inventory (issue 19 items 1 and 2), as filters.

The cluster key and the refusals between hosts and between clusters live in plugins/plugin_utils/_clusters.py; each
cluster's member list is judged by ``cluster_members`` (plugins/filter/cluster.py), the rule one cluster always had.
The roles compute ``cluster_partition`` once (run_once set_fact, which never fails) and every host asserts on its own
cluster's entry, so a refusal stops that cluster's hosts only. ``cluster_batch`` names the hosts of one cluster a
cross-host check looks at; ``cluster_summary`` is the last line of every playbook, one per cluster.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Sequence

from ansible_collections.opstack.conductor.plugins.filter.cluster import cluster_members, live_cluster, spans_clusters
from ansible_collections.opstack.conductor.plugins.filter.raft_info import inventory_inputs, raft_info_report
from ansible_collections.opstack.conductor.plugins.plugin_utils import _fleet as fleet
from ansible_collections.opstack.conductor.plugins.plugin_utils import _clusters
from ansible_collections.opstack.conductor.plugins.plugin_utils._clusters import summary_lines


def _setting(hostvars: Mapping, hosts: Sequence[str], name: str, default: Any) -> Any:
    """A cluster-wide setting as the cluster's first host has it in the inventory, else the run's value (role default,
    play var): cluster_members then holds every other host of the cluster to it."""
    if hosts:
        value, problem = _clusters.read_var(hostvars[hosts[0]], name, "")
        if value and not problem:
            return value
    return default


def _member_list(hostvars: Mapping, name: str, cluster: Mapping, initial_leader: Any, term: Any) -> Dict[str, Any]:
    hosts = cluster["hosts"]
    spec = cluster_members(hostvars, hosts, name,
                           initial_leader=_setting(hostvars, hosts, "conductor_initial_leader", initial_leader),
                           term=_setting(hostvars, hosts, "conductor_initial_term", term),
                           reference_host=hosts[0] if hosts else "")
    spec.update(name=name, play_hosts=list(cluster["play_hosts"]))
    return spec


def cluster_partition(hostvars: Mapping, groups: Mapping, group: Any, play_hosts: Sequence[str],
                      initial_leader: Any = "", term: Any = 1) -> Dict[str, Any]:
    """``clusters`` {name: cluster_members' member list + name, play_hosts}, ``of`` {host: cluster}, ``problems``
    (every problem of the run, once). A refusal between hosts or clusters is in the ``problems`` of every cluster it
    stops, before the cluster's own."""
    plan = _clusters.partition(hostvars, groups, group, play_hosts)
    lists = {name: _member_list(hostvars, name, cluster, initial_leader, term)
             for name, cluster in plan["clusters"].items()}
    refusals = plan["problems"] + _clusters.cross_cluster_problems(lists)
    for name, spec in lists.items():
        spec["problems"] = [p.text for p in refusals if name in p.clusters] + spec["problems"]
    every = [problem for spec in lists.values() for problem in spec["problems"]]
    return {"group": plan["group"], "of": plan["of"], "clusters": lists, "problems": list(dict.fromkeys(every))}


def _live_entry(hostvars: Mapping, name: str, cluster: Mapping, play_hosts: Sequence[str], initial_leader: Any,
                refusals: Sequence[str]) -> Dict[str, Any]:
    hosts = cluster["hosts"]
    live = live_cluster(hostvars, hosts, play_hosts, name,
                        initial_leader=_setting(hostvars, hosts, "conductor_initial_leader", initial_leader))
    problems = list(refusals) + ([live["problem"]] if live["problem"] else [])
    live.update(name=name, hosts=list(hosts), lead=(list(cluster["play_hosts"]) or [""])[0],
                problem="; ".join(problems))
    return live


def live_partition(hostvars: Mapping, groups: Mapping, group: Any, play_hosts: Sequence[str],
                   initial_leader: Any = "", one_cluster: Any = False) -> Dict[str, Any]:
    """The live playbooks' view of every cluster among the play's hosts: ``of`` {host: cluster} and ``clusters``
    {name: live_cluster's nodes, servers, member_ids, leader_id + name, hosts, ``lead`` (the cluster's first play
    host, which runs its cross-host steps from the controller) and ``problem`` (the refusals that stop it, joined;
    empty when there is none)}. ``one_cluster``: a playbook not yet converted to fleets refuses a group whose hosts
    form several clusters, in every cluster. Never fails: each host asserts on its own cluster's problem."""
    plan = _clusters.partition(hostvars, groups, group, play_hosts)
    spanning = spans_clusters(hostvars, [host for name in plan["clusters"]
                                         for host in plan["clusters"][name]["hosts"]], plan["group"])
    clusters = {}
    for name, cluster in plan["clusters"].items():
        refusals = [problem.text for problem in plan["problems"] if name in problem.clusters]
        if one_cluster and spanning:
            refusals.append(spanning)
        clusters[name] = _live_entry(hostvars, name, cluster, play_hosts, initial_leader, refusals)
    return {"group": plan["group"], "of": plan["of"], "clusters": clusters}


def cluster_batch(cluster: Mapping, batch: Sequence[str], active: Sequence[str]) -> List[str]:
    """The hosts of ``cluster`` (a cluster_partition entry) a cross-host check of this batch looks at: those of the
    batch, and those that have failed (``active`` is ansible_play_hosts, which drops them) — a node that failed or
    went unreachable before its dry run stops its cluster, never another."""
    batch = set(batch)
    active = set(active)
    return [host for host in cluster.get("play_hosts", []) if host in batch or host not in active]


def _info_of(name: str, spec: Mapping, hostvars: Mapping, play_hosts: Sequence[str], storage_dir: str,
             named: bool) -> Dict[str, Any]:
    """One cluster judged as raft_info judges one (its nodes against its own membership and against each other)."""
    inputs = inventory_inputs(spec.get("members", []), hostvars, play_hosts, storage_dir)
    judged = raft_info_report(inputs)
    if named:  # several clusters in one table: say which one disagrees
        for key in ("cluster_details", "drift_details"):
            judged[key] = [("cluster %s:%s" % (name, line[len("cluster:"):])) if line.startswith("cluster:") else line
                           for line in judged[key]]
    judged["records"] = fleet.info_records(name, inputs, judged)
    return judged


def cluster_info_report(partition: Mapping, hostvars: Mapping, play_hosts: Sequence[str],
                        storage_dir: str) -> Dict[str, Any]:
    """raft_info's report over every cluster of cluster_partition: each cluster judged on its own (``clusters``
    {name: report}), and the union of their rows, lists and records (one fleet table)."""
    clusters = partition.get("clusters", {})
    reports = {name: _info_of(name, spec, hostvars, play_hosts, storage_dir, len(clusters) > 1)
               for name, spec in clusters.items()}
    merged = {key: [item for report in reports.values() for item in report[key]]
              for key in ("rows", "corrupt", "drifted", "details", "corrupt_details", "drift_details",
                          "cluster_details", "records")}
    merged["clusters"] = reports
    return merged


def cluster_summary(hostvars: Mapping, found: Sequence[str], alive: Sequence[str], group: Any,
                    results: Sequence[str] = (), changes: Sequence[str] = ()) -> List[str]:
    """One line per cluster (see plugin_utils/_clusters.summary_lines)."""
    return summary_lines(hostvars, found, alive, group, results, changes)


class FilterModule:
    def filters(self):
        return {"cluster_partition": cluster_partition, "cluster_batch": cluster_batch, "live_partition": live_partition,
                "cluster_summary": cluster_summary, "cluster_info_report": cluster_info_report}
