# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cluster as the inventory describes it, judged on the controller by the same rules the modules apply.

The roles used to rebuild these rules in Jinja, and the two copies drifted apart (a 201-byte ID, an ID holding
U+200B and the port 0080 passed the role and were refused later by a module). Here every rule is a call into
module_utils (``_servers``, ``_cluster``); this file only maps inventory variables to fields and back, so every
problem names the host and the inventory variable, and all of them are reported at once.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ansible.errors import AnsibleError
from ansible.module_utils.parsing.convert_bool import boolean
from jinja2 import TemplateError

from ansible_collections.opstack.conductor.plugins.module_utils import _cluster as cluster
from ansible_collections.opstack.conductor.plugins.module_utils import _servers as server_rules
from ansible_collections.opstack.conductor.plugins.plugin_utils import _clusters as cluster_keys

# The per-host variables and their role defaults (defaults/main.yml), repeated because role defaults are not
# visible in the hostvars of other hosts: (server field, inventory variable, default for a host name).
PER_HOST = (
    ("id", "conductor_server_id", lambda host: host),
    ("address", "conductor_raft_address", lambda host: host + ":50050"),
    ("suffrage", "conductor_suffrage", lambda host: "voter"),
)
VARIABLE = {field: variable for field, variable, _default in PER_HOST}


def _read(host_vars: Mapping, name: str, default: str) -> Tuple[Optional[str], Optional[str]]:
    """(value, None) or (None, problem). Unset or empty gives the default (the roles' ``default(x, true)``); a value
    that cannot be templated (an undefined variable in it) is a problem of this host, not an error of the run."""
    try:
        value = host_vars.get(name)
        # Ansible 2.19 returns a marker for an undefined part, which raises when used (here, by bool or str).
        return (str(value) if value else default), None
    except (AnsibleError, TemplateError) as exc:
        return None, "%s: cannot be resolved: %s" % (name, exc)


def _describe(host: str, host_vars: Mapping) -> Tuple[Dict[str, str], List[str]]:
    """One host's member entry, and the problems of its own variables (each validated as the modules do)."""
    member = {"host": host}
    problems = []
    for field, variable, default in PER_HOST:
        value, problem = _read(host_vars, variable, default(host))
        if problem:
            problems.append("host %s: %s" % (host, problem))
            value = ""
        member[field] = value
        if problem is None:
            problems.extend("host %s: %s" % (host, p) for p in _field_problems(field, variable, value))
    return member, problems


def _field_problems(field: str, variable: str, value: str) -> List[str]:
    try:
        if field == "id":
            server_rules.validate_server_id(value, variable)
        elif field == "address":
            server_rules.validate_address(value, variable)
        else:
            # parse_servers owns the suffrage vocabulary; a lone entry checks nothing else here.
            server_rules.parse_servers([{"id": "x", "address": "x:1", "suffrage": value}], variable)
    except server_rules.SpecError as exc:
        return ["%s=%r: %s" % (variable, value, exc.reason)]
    return []


def _clash(field: str, earlier: Dict[str, str], later: Dict[str, str]) -> Optional[str]:
    """parse_servers' rule for two servers that may not share ``field`` (IDs fold case and Unicode normalisation,
    addresses case), asked about that field alone: the other field gets distinct placeholders."""
    placeholder = {"id": ("a", "b"), "address": ("a:1", "b:1")}
    other = "address" if field == "id" else "id"
    pair = [{field: earlier[field], other: placeholder[other][0]}, {field: later[field], other: placeholder[other][1]}]
    try:
        server_rules.parse_servers(pair)
    except server_rules.SpecError as exc:
        return exc.reason
    return None


def _duplicates(members: Sequence[Dict[str, str]], valid: Sequence[bool]) -> List[str]:
    problems = []
    for position, later in enumerate(members):
        for earlier, ok in zip(members[:position], valid[:position]):
            if not (ok and valid[position]):
                continue  # an unusable value is already reported; comparing it would only repeat that
            if _clash("id", earlier, later):
                case = "" if earlier["id"] == later["id"] else (
                    " (they differ only in case or Unicode normalisation, which collide on case- or "
                    "normalisation-insensitive filesystems)")
                problems.append("host %s: conductor_server_id=%r duplicates host %s's %r%s; every node needs its own "
                                "ID (and its own directory)" % (later["host"], later["id"], earlier["host"],
                                                                earlier["id"], case))
            if _clash("address", earlier, later):
                problems.append("host %s: conductor_raft_address=%r is also host %s's address"
                                % (later["host"], later["address"], earlier["host"]))
    return problems


def _term(value: Any) -> Tuple[Optional[int], Optional[str]]:
    """The initial term as an integer (extra vars arrive as strings), validated as the modules validate it."""
    text = str(value).strip()
    term = int(text) if text.isdigit() and text.isascii() else value
    try:
        return cluster.validate_term(term, "conductor_initial_term"), None
    except server_rules.SpecError as exc:
        return None, "conductor_initial_term=%s: %s" % (value, exc.reason)


def _leader(members: Sequence[Dict[str, str]], wanted: str, group: str) -> Tuple[Optional[Dict[str, str]], List[str]]:
    """The initial leader: a server ID, else an inventory host name of the group; empty: the first voter."""
    voters = [m for m in members if m["suffrage"] == "voter"]
    if wanted == "":
        return (voters[0] if voters else None), []
    found = [m for m in members if m["id"] == wanted] or [m for m in members if m["host"] == wanted]
    if not found:
        if not members:
            return None, []
        return None, ["conductor_initial_leader=%r: neither the server ID nor the host name of a host of group %s "
                      "(server IDs: %s)" % (wanted, group, ", ".join(m["id"] for m in members))]
    if found[0]["suffrage"] != "voter":
        return found[0], ["conductor_initial_leader=%r: host %s is a nonvoter; only a voter can be the initial leader"
                          % (wanted, found[0]["host"])]
    return found[0], []


def _cluster_wide(hostvars: Mapping, hosts: Sequence[str], settings: Mapping[str, str], reference_host: str,
                  group: str) -> List[str]:
    """Cluster-wide variables must not differ between the hosts' inventory variables."""
    problems = []
    for host in hosts:
        for name, here in settings.items():
            there, problem = _read(hostvars[host], name, here)
            if problem:
                problems.append("host %s: %s" % (host, problem))
            elif there != here:
                problems.append("host %s: %s=%r, but this run uses %r (from host %s); it is cluster-wide and must be "
                                "the same on every host of group %s" % (host, name, there, here, reference_host,
                                                                        group))
    return problems


def _group_problems(group: str, hosts: Sequence[str], members: Sequence[Dict[str, str]]) -> List[str]:
    if not hosts:
        return ["conductor_group=%r: no such inventory group, or it has no hosts" % group]
    if not any(m["suffrage"] == "voter" for m in members):
        return ["group %s: no host has conductor_suffrage=voter; a cluster needs at least one voter" % group]
    return []


def _whole_cluster(servers: List[Dict[str, str]], leader: Optional[str], term: int,
                   group: str) -> Tuple[List[str], List[str]]:
    """The modules' own whole-cluster check, on a list the checks above passed: (problems, warnings)."""
    try:
        _spec, warnings = cluster.validate_cluster(servers, leader, term)
    except server_rules.SpecError as exc:
        return ["group %s: %s" % (group, exc)], []
    return [], ["group %s: %s" % (group, warning) for warning in warnings]


def cluster_members(hostvars: Mapping, hosts: Sequence[str], group: str, initial_leader: Any = "",
                    term: Any = 1, reference_host: str = "") -> Dict[str, Any]:
    """The member list built from every host of the group (hosts outside the batch or --limit included), with every
    problem found in it, each naming the host and the inventory variable."""
    group = str(group)
    hosts = [str(host) for host in hosts or []]
    described = [_describe(host, hostvars[host]) for host in hosts]
    members = [member for member, _problems in described]
    problems = [p for _member, host_problems in described for p in host_problems]
    problems += _duplicates(members, [not host_problems for _member, host_problems in described])
    problems += _group_problems(group, hosts, members)
    wanted = str(initial_leader or "")
    leader, leader_problems = _leader(members, wanted, group)
    problems += leader_problems
    term_value, term_problem = _term(term if term not in (None, "") else 1)
    problems += [term_problem] if term_problem else []
    settings = {"conductor_initial_leader": wanted, "conductor_initial_term": str(term)}
    problems += _cluster_wide(hostvars, hosts, settings, reference_host, group)
    servers = [{key: member[key] for key in ("id", "address", "suffrage")} for member in members]
    warnings = []  # type: List[str]
    if not problems:
        more, warnings = _whole_cluster(servers, leader["id"] if leader else None, term_value, group)
        problems += more
    return {
        "group": group, "members": members, "servers": servers,
        "initial_leader": leader["id"] if leader else None, "initial_leader_host": leader["host"] if leader else None,
        "term": term_value if term_value is not None else term,
        "voters": [m["id"] for m in members if m["suffrage"] == "voter"],
        "problems": problems, "warnings": warnings,
    }


def cluster_self_check(conductor_cluster: Mapping, host: str, server_id: Any, raft_address: Any,
                       suffrage: Any) -> List[str]:
    """This host's own view of its variables against the member list built from hostvars: play vars or role
    parameters are visible to the host itself only, so the two can differ."""
    mine = [m for m in conductor_cluster.get("members", []) if m["host"] == host]
    if not mine:
        return ["host %s is not in group %s; run the play on the hosts of conductor_group only."
                % (host, conductor_cluster.get("group"))]
    me = mine[0]
    seen = (str(server_id), str(raft_address), str(suffrage))
    if seen == (me["id"], me["address"], me["suffrage"]):
        return []
    return ["host %s: this play sees conductor_server_id=%s, conductor_raft_address=%s, conductor_suffrage=%s, but "
            "the member list built from the inventory has %s, %s, %s; set these per-host variables in the inventory "
            "(host_vars, group_vars) or as extra vars, not as play vars or role parameters, so that every host sees "
            "the same member list." % ((host,) + seen + (me["id"], me["address"], me["suffrage"]))]


# The live roles (conductor_cluster): how to reach every node, and who is a member. The role defaults, repeated
# for the same reason as PER_HOST: (field, inventory variable, default for a host name).
LIVE_PER_HOST = PER_HOST + (
    ("url", "conductor_rpc_url", lambda host: "http://%s:8547" % host),
    ("node_rpc_url", "conductor_node_rpc_url", lambda host: "http://%s:9545" % host),
    ("member", "conductor_member", lambda host: "true"),
)


def _live_node(host: str, host_vars: Mapping) -> Dict[str, Any]:
    node = {}  # type: Dict[str, Any]
    for field, variable, default in LIVE_PER_HOST:
        value = host_vars.get(variable)
        node[field] = value if value not in (None, "") else default(host)
    node["member"] = boolean(node["member"], strict=False)
    return {key: node[key] if key == "member" else str(node[key]) for key in node}


def spans_clusters(hostvars: Mapping, hosts: Sequence[str], group: Any) -> str:
    """For a playbook that handles one cluster per run: a group whose hosts name several clusters
    (conductor_cluster_name) is refused rather than driven as one cluster."""
    clusters = {}  # type: Dict[str, List[str]]
    for host in hosts:
        clusters.setdefault(cluster_keys.cluster_name(hostvars[host], group), []).append(host)
    if len(clusters) < 2:
        return ""
    return ("the hosts of %s form %d clusters (%s); this playbook handles one cluster per run: run it once per cluster "
            "with -e conductor_group=<the cluster's group>" % (group, len(clusters), "; ".join(
                "%s: %s" % (name, ", ".join(members)) for name, members in clusters.items())))


def live_cluster(hostvars: Mapping, hosts: Sequence[str], play_hosts: Sequence[str], group: str,
                 initial_leader: Any = "") -> Dict[str, Any]:
    """Every host of the group as the live modules take it: ``nodes`` [{id, url, node_rpc_url}] (all hosts),
    ``servers`` [{id, address, suffrage}] and ``member_ids`` (hosts with conductor_member true), ``leader_id``
    (``initial_leader``, else the first voting member) and ``problem`` (hosts of the group outside the play, or
    an empty group: live operations need every node), empty when there is none."""
    hosts = [str(host) for host in hosts or []]
    described = [_live_node(host, hostvars[host]) for host in hosts]
    members = [node for node in described if node["member"]]
    missing = [host for host in hosts if host not in play_hosts]
    voters = [node["id"] for node in members if node["suffrage"] == "voter"]
    problem = spans_clusters(hostvars, hosts, group)
    if missing or not hosts:
        problem = ("hosts of %s missing from this play (--limit?): %s; live operations need every node"
                   % (group, ", ".join(missing) or "the group is empty"))
    return {
        "nodes": [{key: node[key] for key in ("id", "url", "node_rpc_url")} for node in described],
        "servers": [{key: node[key] for key in ("id", "address", "suffrage")} for node in members],
        "member_ids": [node["id"] for node in members],
        "leader_id": str(initial_leader) if initial_leader else (voters[0] if voters else ""),
        "problem": problem,
    }


# The raft_state role after its preflight: what stops the run, and what a forced write kept.

MSGPACK_MISSING = "Python library (msgpack"


def _interpreter(host_vars: Mapping) -> str:
    facts = host_vars.get("ansible_facts") or {}
    return str(host_vars.get("ansible_python_interpreter") or facts.get("discovered_interpreter_python")
               or "the Python Ansible uses")


def _msgpack_advice(host_vars: Mapping, check_mode: bool, install_msgpack: Any) -> str:
    """What to do about msgpack missing on a host: check mode cannot install it; a real run that did has failed."""
    wanted = host_vars.get("conductor_install_msgpack", install_msgpack)
    if not boolean(wanted, strict=False):
        return "; install python3-msgpack (or pip install msgpack) for it, or set conductor_install_msgpack=true"
    if check_mode:
        return ("; check mode cannot install it, so this node could not be checked (the real run installs it: "
                "conductor_install_msgpack=true)")
    return "; conductor_install_msgpack=true did not make it importable"


def preflight_failures(hostvars: Mapping, hosts: Sequence[str], check_mode: Any = False,
                       install_msgpack: Any = False) -> List[str]:
    """One sentence per host of ``hosts`` whose preflight (the registered ``__conductor_preflight``) failed or did
    not run; ``install_msgpack`` is the role's conductor_install_msgpack, for hosts that do not set their own."""
    out = []
    for host in hosts:
        host_vars = hostvars[host]
        result = host_vars.get("__conductor_preflight") or {}
        if result and not result.get("failed") and not result.get("unreachable"):
            continue
        msg = str(result.get("msg", "no result"))
        if MSGPACK_MISSING in msg:
            msg = "the Python library msgpack is not importable by %s%s" % (
                _interpreter(host_vars), _msgpack_advice(host_vars, boolean(check_mode, strict=False),
                                                         install_msgpack))
        out.append("host %s: %s" % (host, msg))
    return out


def kept_directories(hostvars: Mapping, hosts: Sequence[str]) -> List[str]:
    """One sentence per host of ``hosts`` whose write (the registered ``conductor_raft_state``) kept the replaced
    state, naming the kept directory and the older ones retention removed."""
    out = []
    for host in hosts:
        result = hostvars[host].get("conductor_raft_state") or {}
        if result.get("backup_dir"):
            removed = result.get("removed_backups") or []
            out.append("host %s: the replaced state was kept as %s%s" % (
                host, result["backup_dir"],
                " (older kept directories removed: %s)" % ", ".join(removed) if removed else ""))
    return out


class FilterModule:
    def filters(self):
        return {
            "cluster_members": cluster_members,
            "cluster_self_check": cluster_self_check,
            "preflight_failures": preflight_failures,
            "kept_directories": kept_directories,
            "live_cluster": live_cluster,
        }
