# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""op-conductor's Raft and health settings from the inventory, the same on every host of a cluster (issue 17 item 5).

op-conductor's RUNBOOK says the reorg-recovery setting "MUST be fleet-uniform" (a mixed setting diverges the Raft FSM
silently, with no detection in the protocol), and the round-robin leader transfer flag's own help says it must be
enabled on all conductors (a mixed cluster bounces leadership). So every setting here is compared across the hosts of
one cluster, and a deploy, bring-up or roll is refused when any differs, naming each host's value.

The environment variable names are the ones the pinned op-conductor reads (``PINNED``; op-conductor/flags/flags.go of
that release: ``OP_CONDUCTOR_`` + the flag's env name). A setting that release does not have is refused, never
written: it has no reorg-recovery flag, and no ``--raft.no-shutdown-on-remove`` (consensus/raft.go hard-codes
``ShutdownOnRemove = false``, so only ``true`` - what it always does - is accepted, and nothing is written for it).
A setting left unset is not written, so op-conductor's own default applies; unset and set are different values here
(forks change the defaults: the base fork snapshots every second).

Used by the filter ``opstack.conductor.fleet_settings`` (plugins/filter/settings.py), which the roles call for the
hosts of one cluster.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ansible.errors import AnsibleError
from jinja2 import TemplateError

from ansible_collections.opstack.conductor.plugins.plugin_utils._clusters import cluster_name

PINNED = "op-conductor v1.19.0"
ENV_FILE_VARIABLE = "conductor_env_file"
_MS = 10 ** 6
_MAX_UINT64 = 2 ** 64 - 1
_MAX_DURATION = 2 ** 63 - 1  # Go's time.Duration is an int64 of nanoseconds


@dataclass(frozen=True)
class Setting:
    """One inventory variable: the environment variable the pinned op-conductor reads (empty: none), how its value
    is read (``duration``, ``count``, ``bool``, ``absent``: refused, ``always_true``: only true, nothing written),
    the smallest value op-conductor (or hashicorp/raft) accepts, and op-conductor's default, for messages."""

    variable: str
    env: str
    kind: str
    default: str
    minimum: int = 0
    maximum: Optional[int] = None


SETTINGS = (
    Setting("conductor_reorg_recovery", "", "absent", "none"),
    Setting("conductor_raft_round_robin_leader_transfer", "OP_CONDUCTOR_RAFT_ROUND_ROBIN_LEADER_TRANSFER", "bool",
            "false"),
    # hashicorp/raft's ValidateConfig: SnapshotInterval and LeaderLeaseTimeout >= 5ms; HeartbeatTimeout >= 5ms and
    # <= ElectionTimeout, which op-conductor leaves at raft.DefaultConfig()'s 1s.
    Setting("conductor_raft_snapshot_interval", "OP_CONDUCTOR_RAFT_SNAPSHOT_INTERVAL", "duration", "120s", 5 * _MS),
    Setting("conductor_raft_snapshot_threshold", "OP_CONDUCTOR_RAFT_SNAPSHOT_THRESHOLD", "count", "8192"),
    Setting("conductor_raft_trailing_logs", "OP_CONDUCTOR_RAFT_TRAILING_LOGS", "count", "10240"),
    Setting("conductor_raft_heartbeat_timeout", "OP_CONDUCTOR_RAFT_HEARTBEAT_TIMEOUT", "duration", "1s", 5 * _MS,
            1000 * _MS),
    Setting("conductor_raft_lease_timeout", "OP_CONDUCTOR_RAFT_LEASE_TIMEOUT", "duration", "500ms", 5 * _MS),
    Setting("conductor_raft_no_shutdown_on_remove", "", "always_true", "true (hard-coded)"),
    # conductor.HealthCheckConfig.Check refuses 0 for the interval, the safe interval and the peer count.
    Setting("conductor_healthcheck_interval", "OP_CONDUCTOR_HEALTHCHECK_INTERVAL", "count", "none (required)", 1),
    Setting("conductor_healthcheck_unsafe_interval", "OP_CONDUCTOR_HEALTHCHECK_UNSAFE_INTERVAL", "count",
            "none (required)"),
    Setting("conductor_healthcheck_safe_enabled", "OP_CONDUCTOR_HEALTHCHECK_SAFE_ENABLED", "bool", "false"),
    Setting("conductor_healthcheck_safe_interval", "OP_CONDUCTOR_HEALTHCHECK_SAFE_INTERVAL", "count", "1200", 1),
    Setting("conductor_healthcheck_min_peer_count", "OP_CONDUCTOR_HEALTHCHECK_MIN_PEER_COUNT", "count",
            "none (required)", 1),
    Setting("conductor_paused_start", "OP_CONDUCTOR_PAUSED", "bool", "false"),
)
BY_VARIABLE = {setting.variable: setting for setting in SETTINGS}
_UNSUPPORTED = {
    "absent": "%s reads no reorg-recovery setting (OP_CONDUCTOR_REORG_RECOVERY_ENABLED is named by a later RUNBOOK, "
              "not by this release's flags), so it cannot be written; unset it" % PINNED,
    "always_true": "%s has no --raft.no-shutdown-on-remove flag: it always keeps a removed node's Raft running "
                   "(ShutdownOnRemove is hard-coded false), so only true is accepted (nothing is written for it)"
                   % PINNED,
}

_UNITS = {"ns": 1, "us": 10 ** 3, "\u00b5s": 10 ** 3, "\u03bcs": 10 ** 3, "ms": _MS, "s": 10 ** 9,
          "m": 60 * 10 ** 9, "h": 3600 * 10 ** 9}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")
_BOOLS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}


class SettingError(ValueError):
    """A value the pinned op-conductor would not accept (the reason, without the variable or the host)."""


def parse_duration(text: str) -> int:
    """Nanoseconds of a Go duration (time.ParseDuration's grammar without a sign: ``120s``, ``1m30s``, ``500ms``)."""
    if text == "0":
        return 0
    position, total = 0, Decimal(0)
    while position < len(text):
        part = _DURATION_PART.match(text, position)
        if part is None:
            raise SettingError("%r is not a Go duration (a number and a unit: 120s, 500ms, 1m30s)" % text)
        total += Decimal(part.group(1)) * _UNITS[part.group(2)]
        position = part.end()
    if not text or total > _MAX_DURATION:
        raise SettingError("%r is not a Go duration (a number and a unit: 120s, 500ms, 1m30s)" % text)
    return int(total)


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _BOOLS:
        return _BOOLS[value.strip().lower()]
    raise SettingError("%r is not a boolean (true or false)" % (value,))


def _as_count(value: Any, setting: Setting) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().isdigit() and value.strip().isascii():
        number = int(value.strip())
    else:
        raise SettingError("%r is not a whole number" % (value,))
    if not setting.minimum <= number <= _MAX_UINT64:
        raise SettingError("%d is out of range (at least %d)" % (number, setting.minimum))
    return number


def _as_duration(value: Any, setting: Setting) -> Tuple[int, str]:
    if not isinstance(value, str):
        raise SettingError("%r is not a Go duration string (a number and a unit: 120s, 500ms, 1m30s)" % (value,))
    text = value.strip()
    nanoseconds = parse_duration(text)
    if nanoseconds < setting.minimum:
        raise SettingError("%s is shorter than hashicorp/raft's minimum of %dms" % (text, setting.minimum // _MS))
    if setting.maximum is not None and nanoseconds > setting.maximum:
        raise SettingError("%s is longer than %dms, the election timeout %s keeps (hashicorp/raft refuses a "
                           "heartbeat timeout above it)" % (text, setting.maximum // _MS, PINNED))
    return nanoseconds, text


def parse_value(setting: Setting, value: Any) -> Tuple[Any, str]:
    """(comparable value, text for the environment file) of a set value, or SettingError."""
    if setting.kind == "bool":
        flag = _as_bool(value)
        return flag, "true" if flag else "false"
    if setting.kind == "count":
        number = _as_count(value, setting)
        return number, str(number)
    if setting.kind == "duration":
        return _as_duration(value, setting)
    if setting.kind == "always_true" and _as_bool(value):
        return True, ""
    raise SettingError("set to %s, but %s" % (_shown(value), _UNSUPPORTED[setting.kind]))


def _raw(host_vars: Mapping, name: str) -> Any:
    """The variable as set for the host; None when unset or empty. A value that cannot be templated raises
    SettingError (Ansible 2.19 hands back a marker for an undefined part, which raises when used)."""
    try:
        value = host_vars.get(name) if isinstance(host_vars, Mapping) else None
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return value
    except (AnsibleError, TemplateError) as exc:
        raise SettingError("cannot be resolved: %s" % exc) from exc


@dataclass
class HostSettings:
    """One host's parsed settings: variable -> (comparable, file text, as written); its problems, each a
    (variable, reason) pair; the environment file path it names."""

    values: Dict[str, Tuple[Any, str, str]]
    problems: List[Tuple[str, str]]
    env_file: str


def read_host(host_vars: Mapping) -> HostSettings:
    """Every setting of one host (its hostvars), parsed; unset ones left out."""
    values, problems = {}, []
    for setting in SETTINGS:
        try:
            raw = _raw(host_vars, setting.variable)
            if raw is not None:
                comparable, text = parse_value(setting, raw)
                values[setting.variable] = (comparable, text, text or _shown(raw))
        except (SettingError, AnsibleError, TemplateError) as exc:
            problems.append((setting.variable, _reason(exc)))
    try:
        env_file = str(_raw(host_vars, ENV_FILE_VARIABLE) or "")
    except (SettingError, AnsibleError, TemplateError) as exc:
        problems.append((ENV_FILE_VARIABLE, _reason(exc)))
        env_file = ""
    problems.extend(_lease_problems(values))
    return HostSettings(values, problems, env_file)


def _reason(exc: Exception) -> str:
    """A refusal's reason; Ansible 2.19 hands back a marker for an undefined part, which raises once it is used."""
    return str(exc) if isinstance(exc, SettingError) else "cannot be resolved: %s" % exc


def _shown(raw: Any) -> str:
    return str(raw).lower() if isinstance(raw, bool) else str(raw)


def _lease_problems(values: Mapping[str, Tuple[Any, str, str]]) -> List[Tuple[str, str]]:
    """hashicorp/raft refuses a leader lease timeout longer than the heartbeat timeout (either may be the default)."""
    lease = values.get("conductor_raft_lease_timeout", (500 * _MS, "", "500ms (default)"))
    heartbeat = values.get("conductor_raft_heartbeat_timeout", (1000 * _MS, "", "1s (default)"))
    if lease[0] <= heartbeat[0]:
        return []
    variable = ("conductor_raft_lease_timeout" if "conductor_raft_lease_timeout" in values
                else "conductor_raft_heartbeat_timeout")
    return [(variable, "the leader lease timeout %s is longer than the heartbeat timeout %s (hashicorp/raft refuses "
                       "LeaderLeaseTimeout > HeartbeatTimeout)" % (lease[2], heartbeat[2]))]


def _grouped(reports: Mapping[str, HostSettings], hosts: Sequence[str]) -> List[str]:
    """Each host's own problems; one line per variable and reason, naming every host that has it."""
    seen = {}  # type: Dict[Tuple[str, str], List[str]]
    for host in hosts:
        for variable, reason in reports[host].problems:
            seen.setdefault((variable, reason), []).append(host)
    return ["%s on %s: %s" % (variable, ", ".join(where), reason) for (variable, reason), where in seen.items()]


def _unset(setting: Setting) -> str:
    return "unset (op-conductor's default: %s)" % setting.default


def differing(reports: Mapping[str, HostSettings], hosts: Sequence[str]) -> List[str]:
    """Every written setting whose value is not the same on every host (unset counts as a value of its own), with
    each host's value. A host whose value is invalid is left out here: that is reported on its own."""
    problems = []
    for setting in SETTINGS:
        if not setting.env:
            continue
        failed = set(host for host in hosts if setting.variable in dict(reports[host].problems)
                     and setting.variable not in reports[host].values)
        values = [(host, reports[host].values.get(setting.variable)) for host in hosts if host not in failed]
        if len(set(value[0] if value else None for _host, value in values)) <= 1:
            continue
        shown = ", ".join("%s=%s" % (host, value[2] if value else _unset(setting)) for host, value in values)
        problems.append("%s (%s) differs across the cluster: %s; set one value on every host of the cluster (or "
                        "leave it unset on all)" % (setting.variable, setting.env, shown))
    return problems


def _without_file(reports: Mapping[str, HostSettings], hosts: Sequence[str]) -> List[str]:
    """Hosts with settings to write but no environment file to write them to, or a path that is not absolute."""
    problems = []
    for host in hosts:
        report = reports[host]
        written = [variable for variable, value in report.values.items() if value[1]]
        if written and not report.env_file:
            problems.append("%s sets %s, but %s is empty: nothing would carry the settings to op-conductor (set it "
                            "to the environment file the service reads)"
                            % (host, ", ".join(written), ENV_FILE_VARIABLE))
        elif report.env_file and not report.env_file.startswith("/"):
            problems.append("%s on %s: %r is not an absolute path" % (ENV_FILE_VARIABLE, host, report.env_file))
    return problems


def env_lines(report: HostSettings) -> Dict[str, str]:
    """The environment variables one host's file holds: the settings that are set, in the table's order."""
    return {setting.env: report.values[setting.variable][1] for setting in SETTINGS
            if setting.env and setting.variable in report.values}


HEADER = ("# op-conductor's Raft and health settings, written by opstack.conductor (role conductor_cluster) from the\n"
          "# inventory. Read by the service (systemd EnvironmentFile=) and by the command hooks (CONDUCTOR_ENV_FILE).\n"
          "# The same on every host of the cluster; a setting not listed is op-conductor's default. A command-line\n"
          "# flag of the same setting overrides this file. Managed file: edit the inventory, not this file.\n")


def env_file_content(variables: Mapping[str, str]) -> str:
    return HEADER + "".join("%s=%s\n" % item for item in variables.items())


def fleet_settings(hostvars: Any, hosts: Sequence[str], cluster_of: Optional[str] = None,
                   group: Any = None) -> Dict[str, Any]:
    """The settings of the hosts of ONE cluster, judged together: ``problems`` (every invalid, unsupported or
    differing setting and every host without an environment file for its settings, all at once; empty means the
    cluster may be deployed, brought up or rolled), ``env`` ({host: {OP_CONDUCTOR_*: value}}) and ``content``
    ({host: the environment file's text}). With ``cluster_of`` (a host), only the hosts of ``hosts`` in that host's
    cluster count (issue 19's key: conductor_cluster_name, else ``group``)."""
    hosts = [str(host) for host in hosts or []]
    if cluster_of is not None:
        mine = cluster_name(hostvars[str(cluster_of)], group)
        hosts = [host for host in hosts if host in hostvars and cluster_name(hostvars[host], group) == mine]
    reports = {}
    for host in hosts:
        host_vars = hostvars[host] if host in hostvars else {}
        reports[host] = read_host(host_vars)
    problems = _grouped(reports, hosts) + differing(reports, hosts) + _without_file(reports, hosts)
    env = {host: env_lines(reports[host]) for host in hosts}
    return dict(problems=problems, env=env, content={host: env_file_content(env[host]) for host in hosts})
