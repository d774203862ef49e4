# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cluster key (issue 19 items 1 and 2): which cluster each host of a run belongs to, what refuses a cluster
before anything is touched, and the line each cluster gets at the end of the run.

A host's cluster is its ``conductor_cluster_name`` when set, else the play's ``conductor_group``: an inventory
without the variable is one cluster named after its group, as before. A cluster's members are ALL hosts of the
group with that key (hosts outside the batch or --limit count, as the member list always did); a run covers every
cluster with a host in the play. A refusal names the clusters it stops, and only those stop.

Controller side only (the roles call it through the filters in plugins/filter/clusters.py).
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ansible.errors import AnsibleError
from jinja2 import TemplateError

from ansible_collections.opstack.conductor.plugins.module_utils import _servers as server_rules

CLUSTER_KEY = "conductor_cluster_name"

# Settings that must be the same on every host of one cluster, beyond the initial leader and term (which the member
# list itself checks, plugins/filter/cluster.py): (inventory variable, role default). The storage layout: one
# cluster is one op-conductor build, so mixed bbolt page sizes mean two inventories were merged. The chain
# (conductor_network, issue 19 item 4): unset on every host agrees.
CLUSTER_WIDE = (("conductor_page_size", "4096"), ("conductor_network", ""))


class Problem:
    """A refusal and the clusters it stops."""

    __slots__ = ("text", "clusters")

    def __init__(self, text: str, clusters: Sequence[str]):
        self.text = text
        self.clusters = tuple(clusters)


def read_var(host_vars: Mapping, name: str, default: str) -> Tuple[str, Optional[str]]:
    """(value as text, None) or (default, problem): unset or empty gives the default; a value that cannot be
    templated (an undefined variable in it) is a problem of the host, not an error of the run."""
    try:
        value = host_vars.get(name)
        return (str(value) if value not in (None, "") else default), None
    except (AnsibleError, TemplateError) as exc:
        return default, "%s cannot be resolved: %s" % (name, exc)


def cluster_name(host_vars: Mapping, group: Any) -> str:
    """The cluster key of one host: its conductor_cluster_name, else the play's conductor_group."""
    return read_var(host_vars, CLUSTER_KEY, str(group))[0]


def _keys(hostvars: Mapping, hosts: Sequence[str], group: str) -> Tuple[Dict[str, str], List[Problem]]:
    keys = {}
    problems = []
    for host in hosts:
        keys[host], problem = read_var(hostvars[host], CLUSTER_KEY, group)
        if problem:
            problems.append(Problem("host %s: %s" % (host, problem), [keys[host]]))
    return keys, problems


def _ordered(values: Sequence[str]) -> List[str]:
    return list(dict.fromkeys(values))


def _listed_elsewhere(groups: Mapping, group: str, keys: Mapping[str, str], names: Sequence[str]) -> List[Problem]:
    """A host listed in the inventory group of another cluster of this run (a group named like the cluster): the
    host's variables resolve to one conductor_cluster_name by Ansible's precedence, so the inventory's second
    membership would otherwise be dropped without a word."""
    problems = []
    for name in names:
        if name == group or name not in groups:
            continue
        for host in groups[name]:
            if host in keys and keys[host] != name:
                problems.append(Problem(
                    "host %s is listed in group %s (cluster %s of this run) but its %s is %r: a host belongs to "
                    "exactly one cluster; remove it from one of the two" % (host, name, name, CLUSTER_KEY, keys[host]),
                    [name, keys[host]]))
    return problems


def _unnamed_beside_named(group: str, keys: Mapping[str, str], hosts: Sequence[str]) -> List[Problem]:
    """Hosts without a key in a group whose other hosts name their clusters: a parent group (``-e
    conductor_group=sequencers``) over clusters of which one forgot its key would make that one a cluster named
    after the parent group. Setting the key to the group's name says it is meant."""
    unnamed = [host for host in hosts if keys[host] == group]
    named = _ordered([keys[host] for host in hosts if keys[host] != group])
    if not unnamed or not named:
        return []
    return [Problem("hosts %s set no %s, so they form cluster %s (the group), while the group's other hosts name "
                    "their clusters (%s): set %s on them (to %s if that is meant)"
                    % (", ".join(unnamed), CLUSTER_KEY, group, ", ".join(named), CLUSTER_KEY, group), [group])]


def _settings(hostvars: Mapping, members: Sequence[str], name: str) -> List[Problem]:
    """CLUSTER_WIDE settings must agree between the hosts of one cluster."""
    problems = []
    for variable, default in CLUSTER_WIDE:
        seen = {}  # type: Dict[str, List[str]]
        for host in members:
            value, problem = read_var(hostvars[host], variable, default)
            if problem:
                problems.append(Problem("host %s: %s" % (host, problem), [name]))
            seen.setdefault(value, []).append(host)
        if len(seen) > 1:
            problems.append(Problem("cluster %s: %s differs between its hosts (%s); it is cluster-wide" % (
                name, variable, "; ".join("%s on %s" % ("%s=%s" % (variable, value) if value else "unset",
                                                        ", ".join(hosts)) for value, hosts in seen.items())), [name]))
    return problems


def _shared(kind: str, values: Mapping[str, Tuple[str, str, str]], key, host: str, name: str,
            value: str) -> Optional[Problem]:
    """``values``: key(value) -> (value, host, cluster) seen so far; a problem when another cluster has it."""
    seen = values.setdefault(key(value), (value, host, name))
    if seen[2] == name:
        return None
    return Problem("host %s of cluster %s: %s %r is also host %s's %r in cluster %s; every node of the fleet needs "
                   "its own" % (host, name, kind, value, seen[1], seen[0], seen[2]), [seen[2], name])


def _across_clusters(members: Mapping[str, Sequence[Mapping[str, str]]]) -> List[Problem]:
    """The same server ID (case and Unicode normalisation folded, as inside a cluster) or consensus address in two
    clusters. ``members``: cluster -> [{host, id, address}]."""
    ids = {}  # type: Dict[str, Tuple[str, str, str]]
    addresses = {}  # type: Dict[str, Tuple[str, str, str]]
    problems = []
    for name, entries in members.items():
        for entry in entries:
            if not entry.get("id") or not entry.get("address"):
                continue  # an unusable value is the member list's problem already
            found = [_shared("server ID", ids, server_rules.server_id_key, entry["host"], name, entry["id"]),
                     _shared("consensus address", addresses, server_rules.address_key, entry["host"], name,
                             entry["address"])]
            problems.extend(problem for problem in found if problem)
    return problems


def partition(hostvars: Mapping, groups: Mapping, group: Any, play_hosts: Sequence[str]) -> Dict[str, Any]:
    """The clusters of this run: ``of`` {host: cluster} (group hosts and play hosts), ``clusters`` {name: {hosts
    (every member, inventory order), play_hosts}} in the play's order, and ``problems`` [Problem] that involve
    more than one host's variables (the member list of each cluster judges the rest)."""
    group = str(group)
    group_hosts = [str(host) for host in groups.get(group) or []]
    play_hosts = [str(host) for host in play_hosts or []]
    strays = [host for host in play_hosts if host not in set(group_hosts)]
    keys, problems = _keys(hostvars, group_hosts + strays, group)
    names = _ordered([keys[host] for host in play_hosts])
    clusters = {name: {"hosts": [host for host in group_hosts if keys[host] == name],
                       "play_hosts": [host for host in play_hosts if keys[host] == name]} for name in names}
    problems += _listed_elsewhere(groups, group, {host: keys[host] for host in group_hosts}, names)
    problems += _unnamed_beside_named(group, keys, [host for host in group_hosts if keys[host] in clusters])
    for name in names:
        problems += _settings(hostvars, clusters[name]["hosts"], name)
    return {"group": group, "of": keys, "clusters": clusters, "problems": problems}


def cross_cluster_problems(member_lists: Mapping[str, Mapping[str, Any]]) -> List[Problem]:
    """The refusals between clusters once each cluster's member list is built (``members`` of cluster_members)."""
    return _across_clusters({name: spec.get("members", []) for name, spec in member_lists.items()})


# The end of the run: one line per cluster.

def _one_line(message: Any, limit: int = 400) -> str:
    text = " ".join(str(part) for part in message) if isinstance(message, (list, tuple)) else str(message)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _result(host_vars: Mapping, name: str) -> Mapping:
    try:
        result = host_vars.get(name)
    except (AnsibleError, TemplateError):
        return {}
    return result if isinstance(result, Mapping) else {}


def _why(hostvars: Mapping, hosts: Sequence[str], results: Sequence[str]) -> str:
    """The first failed result a host of the cluster registered, in the order of ``results`` (the playbook's
    checks, then its writes)."""
    for name in results:
        for host in hosts:
            result = _result(hostvars[host], name)
            if result.get("failed") or result.get("unreachable"):
                return "host %s: %s" % (host, _one_line(result.get("msg", "failed")))
    return "host %s stopped without a recorded result (unreachable, or a task failed before the checks)" % hosts[0]


def summary_lines(hostvars: Mapping, found: Sequence[str], alive: Sequence[str], group: Any,
                  results: Sequence[str] = (), changes: Sequence[str] = ()) -> List[str]:
    """One line per cluster of the hosts the playbook targeted (``found``): failed when any of its hosts is no
    longer in the play (``alive``: the hosts still running), with why; changed when a host's result in ``changes``
    is; else ok."""
    clusters = {}  # type: Dict[str, List[str]]
    for host in found:
        clusters.setdefault(cluster_name(hostvars[host], group), []).append(host)
    alive = set(alive)
    lines = []
    for name, hosts in clusters.items():
        stopped = [host for host in hosts if host not in alive]
        label = "cluster %s (%d host%s): " % (name, len(hosts), "" if len(hosts) == 1 else "s")
        if stopped:
            lines.append(label + "FAILED on %s: %s" % (", ".join(stopped), _why(hostvars, stopped + [
                host for host in hosts if host not in stopped], results)))
        elif any(_result(hostvars[host], variable).get("changed") for host in hosts for variable in changes):
            lines.append(label + "changed")
        else:
            lines.append(label + "ok")
    return lines
