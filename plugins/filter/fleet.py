# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet view (issue 19 item 3) as filters: the records of every node of every cluster, their table, JSON and
Prometheus textfile. The layout lives in plugins/plugin_utils/_fleet.py; the info and status playbooks only call
these filters, and write the texts with opstack.conductor.conductor_report_file."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence

from ansible.errors import AnsibleFilterError

from ansible_collections.opstack.conductor.plugins.filter.cluster import live_cluster
from ansible_collections.opstack.conductor.plugins.plugin_utils import _clusters
from ansible_collections.opstack.conductor.plugins.plugin_utils import _fleet as fleet


def fleet_cluster(host_vars: Mapping, group: Any) -> str:
    """The cluster a host belongs to: its ``conductor_cluster_name``, else the group named by conductor_group (the
    rule of issue 19 item 1, plugin_utils/_clusters.cluster_name)."""
    return _clusters.cluster_name(host_vars, group)


def fleet_live_clusters(hostvars: Mapping, groups: Mapping, group: Any, play_hosts: Sequence[str],
                        initial_leader: Any = "") -> List[Dict[str, Any]]:
    """Every cluster among the play's hosts as conductor_info takes it (status reads each on its own):
    ``[{name, hosts, nodes, servers, problem}]``; ``problem`` is live_cluster's (hosts of the cluster outside the
    play: live operations need every node)."""
    plan = _clusters.partition(hostvars, groups, group, play_hosts)
    found = []
    for name, cluster in plan["clusters"].items():
        live = live_cluster(hostvars, cluster["hosts"], play_hosts, name, initial_leader=initial_leader)
        found.append({"name": name, "hosts": list(cluster["hosts"]), "nodes": live["nodes"],
                      "servers": live["servers"], "problem": live["problem"]})
    return found


def fleet_status(results: Sequence[Mapping]) -> Dict[str, Any]:
    """status's fleet view from its conductor_info loop over fleet_live_clusters (each result's ``item`` is the
    cluster): ``records`` of every node and ``notes``, one line per cluster."""
    read = [result for result in results if not result.get("skipped")]
    records = fleet.merge(*[fleet.live_records(result["item"]["name"], result, result["item"]["hosts"])
                            for result in read])
    return {"records": records, "notes": [fleet.live_summary(result["item"]["name"], result) for result in read]}


def fleet_info_records(inputs: Sequence[Mapping], report: Mapping, cluster: str) -> List[Dict[str, Any]]:
    return fleet.info_records(cluster, inputs, report)


def fleet_live_records(status: Mapping, cluster: str, hosts: Sequence[str] = ()) -> List[Dict[str, Any]]:
    return fleet.live_records(cluster, status, list(hosts or ()))


def fleet_live_summary(status: Mapping, cluster: str) -> str:
    return fleet.live_summary(cluster, status)


def fleet_merge(groups: Sequence[Sequence[Mapping]]) -> List[Dict[str, Any]]:
    return fleet.merge(*groups)


def fleet_table(records: Sequence[Mapping], notes: Sequence[str] = ()) -> List[str]:
    return fleet.table(records, list(notes or ()))


def fleet_json(records: Sequence[Mapping], timestamp: Optional[float] = None) -> str:
    return fleet.to_json(records, timestamp)


def fleet_textfile(records: Sequence[Mapping], timestamp: Optional[float] = None) -> str:
    return fleet.textfile(records, timestamp)


def fleet_report_files(records: Sequence[Mapping], host: str, first_host: bool, paths: Mapping[str, Any],
                       timestamp: Optional[float] = None) -> List[Dict[str, Any]]:
    try:
        return fleet.report_files(records, host, first_host, paths, timestamp)
    except fleet.ReportPathError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule:
    def filters(self):
        return {"fleet_cluster": fleet_cluster, "fleet_info_records": fleet_info_records,
                "fleet_live_records": fleet_live_records, "fleet_live_summary": fleet_live_summary,
                "fleet_live_clusters": fleet_live_clusters, "fleet_status": fleet_status,
                "fleet_merge": fleet_merge, "fleet_table": fleet_table,
                "fleet_json": fleet_json, "fleet_textfile": fleet_textfile, "fleet_report_files": fleet_report_files}
