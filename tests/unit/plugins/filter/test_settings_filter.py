"""Fleet-uniform op-conductor settings (issue 17 item 5): the rule of plugins/plugin_utils/_settings.py behind the
filter opstack.conductor.fleet_settings. Every problem of a cluster is reported at once, naming the variable, the
hosts and each host's value; the environment variable names are those op-conductor v1.19.0 reads; unset settings are
not written; a setting v1.19.0 does not have is refused, never written."""

import os
import re

import pytest

from ansible_collections.opstack.conductor.plugins.filter.settings import FilterModule
from ansible_collections.opstack.conductor.plugins.plugin_utils import _settings as settings
from ansible_collections.opstack.conductor.plugins.plugin_utils._settings import fleet_settings, parse_duration

HOSTS = ["seq-a", "seq-b", "seq-c"]
FILE = {"conductor_env_file": "/etc/op-conductor/settings.env"}
FLAGS_IN_CACHE = os.path.join("gomod", "github.com", "ethereum-optimism", "optimism@v1.19.0", "op-conductor", "flags",
                              "flags.go")


def pinned_flags() -> str:
    """flags.go of the pinned op-conductor in the e2e build cache (tests/e2e/build_op_conductor.py: OPSTACK_E2E_CACHE,
    else <repo>/.cache/op-conductor). Looked for in every ancestor: ansible-test units runs a copy of the collection
    under <repo>/.cache/ansible-test/, where the repository's cache is an ancestor, not a sibling."""
    if os.environ.get("OPSTACK_E2E_CACHE"):
        return os.path.join(os.environ["OPSTACK_E2E_CACHE"], FLAGS_IN_CACHE)
    here = os.path.dirname(os.path.abspath(__file__))
    while os.path.dirname(here) != here:
        candidate = os.path.join(here, ".cache", "op-conductor", FLAGS_IN_CACHE)
        if os.path.exists(candidate):
            return candidate
        here = os.path.dirname(here)
    return candidate


PINNED_FLAGS = pinned_flags()


def same(**values):
    """The same variables on every host (with the environment file)."""
    return {host: dict(FILE, **values) for host in HOSTS}


def test_the_filter_is_registered():
    assert FilterModule().filters() == {"fleet_settings": fleet_settings}


def test_no_settings_no_problem_and_an_empty_file_body():
    result = fleet_settings({host: {} for host in HOSTS}, HOSTS)
    assert result["problems"] == []
    assert result["env"] == {host: {} for host in HOSTS}
    assert result["content"]["seq-a"] == settings.HEADER


def test_uniform_settings_are_rendered_with_the_names_op_conductor_reads_and_unset_ones_are_left_out():
    hostvars = same(conductor_raft_snapshot_interval="30s", conductor_raft_snapshot_threshold=4096,
                    conductor_raft_trailing_logs="2048", conductor_raft_heartbeat_timeout="500ms",
                    conductor_raft_lease_timeout="250ms", conductor_raft_round_robin_leader_transfer=True,
                    conductor_healthcheck_interval=2, conductor_healthcheck_unsafe_interval=10,
                    conductor_healthcheck_safe_enabled="false", conductor_healthcheck_safe_interval=600,
                    conductor_healthcheck_min_peer_count=1, conductor_paused_start=True)
    result = fleet_settings(hostvars, HOSTS)
    assert result["problems"] == []
    assert result["env"]["seq-b"] == {
        "OP_CONDUCTOR_RAFT_ROUND_ROBIN_LEADER_TRANSFER": "true", "OP_CONDUCTOR_RAFT_SNAPSHOT_INTERVAL": "30s",
        "OP_CONDUCTOR_RAFT_SNAPSHOT_THRESHOLD": "4096", "OP_CONDUCTOR_RAFT_TRAILING_LOGS": "2048",
        "OP_CONDUCTOR_RAFT_HEARTBEAT_TIMEOUT": "500ms", "OP_CONDUCTOR_RAFT_LEASE_TIMEOUT": "250ms",
        "OP_CONDUCTOR_HEALTHCHECK_INTERVAL": "2", "OP_CONDUCTOR_HEALTHCHECK_UNSAFE_INTERVAL": "10",
        "OP_CONDUCTOR_HEALTHCHECK_SAFE_ENABLED": "false", "OP_CONDUCTOR_HEALTHCHECK_SAFE_INTERVAL": "600",
        "OP_CONDUCTOR_HEALTHCHECK_MIN_PEER_COUNT": "1", "OP_CONDUCTOR_PAUSED": "true"}
    assert result["content"]["seq-a"] == result["content"]["seq-c"]
    assert result["content"]["seq-a"].endswith("OP_CONDUCTOR_HEALTHCHECK_MIN_PEER_COUNT=1\nOP_CONDUCTOR_PAUSED=true\n")
    only = fleet_settings(same(conductor_raft_trailing_logs=0), HOSTS)
    assert only["problems"] == [] and only["env"]["seq-a"] == {"OP_CONDUCTOR_RAFT_TRAILING_LOGS": "0"}


@pytest.mark.skipif(not os.path.exists(PINNED_FLAGS), reason="the pinned op-conductor source is not in the cache")
def test_every_written_name_is_an_env_var_of_the_pinned_op_conductor():
    with open(PINNED_FLAGS, encoding="utf-8") as handle:
        flags = handle.read()
    names = set("OP_CONDUCTOR_" + name for name in re.findall(r'PrefixEnvVar\(EnvVarPrefix, "([A-Z0-9_]+)"\)', flags))
    written = [setting.env for setting in settings.SETTINGS if setting.env]
    assert len(written) == 12 and set(written) <= names
    assert not any("REORG" in name or "SHUTDOWN" in name for name in names)  # refused below, for this reason


def test_every_differing_setting_is_named_with_each_hosts_value_all_at_once():
    hostvars = same(conductor_raft_round_robin_leader_transfer=True, conductor_raft_snapshot_interval="120s",
                    conductor_paused_start=True)
    hostvars["seq-b"]["conductor_raft_round_robin_leader_transfer"] = False
    hostvars["seq-c"]["conductor_raft_snapshot_interval"] = "60s"
    del hostvars["seq-c"]["conductor_paused_start"]
    assert fleet_settings(hostvars, HOSTS)["problems"] == [
        "conductor_raft_round_robin_leader_transfer (OP_CONDUCTOR_RAFT_ROUND_ROBIN_LEADER_TRANSFER) differs across "
        "the cluster: seq-a=true, seq-b=false, seq-c=true; set one value on every host of the cluster (or leave it "
        "unset on all)",
        "conductor_raft_snapshot_interval (OP_CONDUCTOR_RAFT_SNAPSHOT_INTERVAL) differs across the cluster: "
        "seq-a=120s, seq-b=120s, seq-c=60s; set one value on every host of the cluster (or leave it unset on all)",
        "conductor_paused_start (OP_CONDUCTOR_PAUSED) differs across the cluster: seq-a=true, seq-b=true, "
        "seq-c=unset (op-conductor's default: false); set one value on every host of the cluster (or leave it "
        "unset on all)"]


def test_the_same_value_written_two_ways_is_the_same_setting():
    hostvars = same(conductor_raft_heartbeat_timeout="1s", conductor_paused_start="yes",
                    conductor_raft_snapshot_threshold=8192)
    hostvars["seq-b"].update(conductor_raft_heartbeat_timeout="1000ms", conductor_paused_start=True,
                             conductor_raft_snapshot_threshold="8192")
    assert fleet_settings(hostvars, HOSTS)["problems"] == []


def test_only_the_hosts_of_the_given_cluster_are_compared():
    hostvars = same(conductor_raft_trailing_logs=100)
    hostvars["other"] = dict(FILE, conductor_raft_trailing_logs=5)
    assert fleet_settings(hostvars, HOSTS)["problems"] == []
    assert len(fleet_settings(hostvars, HOSTS + ["other"])["problems"]) == 1


def test_invalid_values_are_named_with_the_host_and_left_out_of_the_comparison():
    hostvars = same(conductor_raft_snapshot_interval="120s", conductor_healthcheck_interval=1)
    hostvars["seq-a"]["conductor_raft_snapshot_interval"] = "soon"
    hostvars["seq-b"]["conductor_raft_snapshot_interval"] = 120  # a number has no unit: Go refuses "120"
    hostvars["seq-c"]["conductor_healthcheck_interval"] = 0  # op-conductor: "missing health check interval"
    problems = fleet_settings(hostvars, HOSTS)["problems"]
    assert problems == [
        "conductor_raft_snapshot_interval on seq-a: 'soon' is not a Go duration (a number and a unit: 120s, 500ms, "
        "1m30s)",
        "conductor_raft_snapshot_interval on seq-b: 120 is not a Go duration string (a number and a unit: 120s, "
        "500ms, 1m30s)",
        "conductor_healthcheck_interval on seq-c: 0 is out of range (at least 1)"]


@pytest.mark.parametrize("variable, value, reason", [
    ("conductor_raft_heartbeat_timeout", "2s", "longer than 1000ms, the election timeout"),
    ("conductor_raft_heartbeat_timeout", "1ms", "shorter than hashicorp/raft's minimum of 5ms"),
    ("conductor_raft_snapshot_interval", "4ms", "shorter than hashicorp/raft's minimum of 5ms"),
    ("conductor_raft_lease_timeout", "1500ms",
     "the leader lease timeout 1500ms is longer than the heartbeat timeout 1s (default)"),
    ("conductor_raft_snapshot_threshold", -1, "-1 is out of range"),
    ("conductor_raft_snapshot_threshold", 2 ** 64, "out of range"),
    ("conductor_raft_trailing_logs", True, "True is not a whole number"),
    ("conductor_raft_trailing_logs", "1e3", "'1e3' is not a whole number"),
    ("conductor_healthcheck_min_peer_count", 0, "0 is out of range (at least 1)"),
    ("conductor_paused_start", "maybe", "'maybe' is not a boolean"),
    ("conductor_raft_round_robin_leader_transfer", 1, "1 is not a boolean"),
])
def test_values_op_conductor_would_refuse_are_refused(variable, value, reason):
    problems = fleet_settings(same(**{variable: value}), HOSTS)["problems"]
    assert len(problems) == 1 and problems[0].startswith(variable + " on seq-a, seq-b, seq-c: "), problems
    assert reason in problems[0]


def test_a_lease_longer_than_a_set_heartbeat_names_both_values():
    problems = fleet_settings(same(conductor_raft_heartbeat_timeout="300ms"), HOSTS)["problems"]
    assert problems == ["conductor_raft_heartbeat_timeout on seq-a, seq-b, seq-c: the leader lease timeout 500ms "
                        "(default) is longer than the heartbeat timeout 300ms (hashicorp/raft refuses "
                        "LeaderLeaseTimeout > HeartbeatTimeout)"]


def test_settings_the_pinned_op_conductor_does_not_have_are_refused_never_written():
    hostvars = same(conductor_reorg_recovery=True)
    hostvars["seq-c"]["conductor_reorg_recovery"] = False
    result = fleet_settings(hostvars, HOSTS)
    assert result["problems"][0].startswith("conductor_reorg_recovery on seq-a, seq-b: set to true, but "
                                            "op-conductor v1.19.0 reads no reorg-recovery setting")
    assert result["problems"][1].startswith("conductor_reorg_recovery on seq-c: set to false, but")
    assert len(result["problems"]) == 2 and result["env"]["seq-a"] == {}
    refused = fleet_settings(same(conductor_raft_no_shutdown_on_remove=False), HOSTS)["problems"]
    assert refused == ["conductor_raft_no_shutdown_on_remove on seq-a, seq-b, seq-c: set to false, but op-conductor "
                       "v1.19.0 has no --raft.no-shutdown-on-remove flag: it always keeps a removed node's Raft "
                       "running (ShutdownOnRemove is hard-coded false), so only true is accepted (nothing is written "
                       "for it)"]
    accepted = fleet_settings(same(conductor_raft_no_shutdown_on_remove=True), HOSTS)
    assert accepted["problems"] == [] and accepted["env"]["seq-a"] == {}


def test_settings_without_an_environment_file_are_refused():
    hostvars = {host: {"conductor_raft_trailing_logs": 10} for host in HOSTS}
    hostvars["seq-c"]["conductor_env_file"] = "relative.env"
    assert fleet_settings(hostvars, HOSTS)["problems"] == [
        "seq-a sets conductor_raft_trailing_logs, but conductor_env_file is empty: nothing would carry the settings "
        "to op-conductor (set it to the environment file the service reads)",
        "seq-b sets conductor_raft_trailing_logs, but conductor_env_file is empty: nothing would carry the settings "
        "to op-conductor (set it to the environment file the service reads)",
        "conductor_env_file on seq-c: 'relative.env' is not an absolute path"]
    unset = {host: {"conductor_raft_trailing_logs": "", "conductor_paused_start": None} for host in HOSTS}
    assert fleet_settings(unset, HOSTS) == fleet_settings({host: {} for host in HOSTS}, HOSTS)


def test_all_problems_at_once():
    hostvars = same(conductor_raft_trailing_logs=10, conductor_reorg_recovery=True)
    hostvars["seq-b"]["conductor_raft_trailing_logs"] = 11
    hostvars["seq-c"].update(conductor_healthcheck_interval="x", conductor_env_file="")
    problems = fleet_settings(hostvars, HOSTS)["problems"]
    assert [p.split(" ")[0] for p in problems] == ["conductor_reorg_recovery", "conductor_healthcheck_interval",
                                                   "conductor_raft_trailing_logs", "seq-c"], problems
    assert "seq-a=10, seq-b=11, seq-c=10" in problems[2]


def test_a_host_missing_from_hostvars_counts_as_unset():
    hostvars = same(conductor_raft_trailing_logs=10)
    del hostvars["seq-c"]
    assert "seq-c=unset (op-conductor's default: 10240)" in fleet_settings(hostvars, HOSTS)["problems"][0]


@pytest.mark.parametrize("text, nanoseconds", [("0", 0), ("120s", 120 * 10 ** 9), ("1m30s", 90 * 10 ** 9),
                                               ("1.5h", 5400 * 10 ** 9), ("500ms", 5 * 10 ** 8), (".5s", 5 * 10 ** 8),
                                               ("1us", 1000), ("1\u00b5s", 1000), ("7ns", 7)])
def test_go_durations(text, nanoseconds):
    assert parse_duration(text) == nanoseconds


@pytest.mark.parametrize("text", ["", "1", "s", "1 s", "1sec", "-1s", "1d", "1.s.", "9999999999h"])
def test_not_go_durations(text):
    with pytest.raises(settings.SettingError):
        parse_duration(text)


def test_cluster_of_compares_only_the_hosts_of_that_hosts_cluster():
    # issue 19's cluster key: conductor_cluster_name, else the group. Two clusters in one group may differ; the hosts
    # of one cluster may not.
    hostvars = {"a1": dict(FILE, conductor_cluster_name="one", conductor_raft_trailing_logs=10),
                "a2": dict(FILE, conductor_cluster_name="one", conductor_raft_trailing_logs=10),
                "b1": dict(FILE, conductor_cluster_name="two", conductor_raft_trailing_logs=20),
                "b2": dict(FILE, conductor_cluster_name="two", conductor_raft_trailing_logs=21)}
    hosts = list(hostvars)
    one = fleet_settings(hostvars, hosts, cluster_of="a2", group="sequencers")
    assert one["problems"] == [] and sorted(one["env"]) == ["a1", "a2"]
    two = fleet_settings(hostvars, hosts, cluster_of="b1", group="sequencers")
    assert two["problems"] == ["conductor_raft_trailing_logs (OP_CONDUCTOR_RAFT_TRAILING_LOGS) differs across the "
                               "cluster: b1=20, b2=21; set one value on every host of the cluster (or leave it unset "
                               "on all)"]
    unnamed = {host: dict(values, conductor_cluster_name="") for host, values in hostvars.items()}
    assert len(fleet_settings(unnamed, hosts, cluster_of="a1", group="sequencers")["env"]) == 4  # one cluster: the group
