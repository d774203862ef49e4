"""The cluster key (issue 19 items 1 and 2): opstack.conductor.cluster_partition, cluster_batch and cluster_summary
(plugins/filter/clusters.py over plugins/plugin_utils/_clusters.py). Every refusal names the hosts and values and
stops only the clusters it involves; an inventory without conductor_cluster_name is one cluster named after its
group, judged exactly as before."""

import importlib

import pytest
from ansible.module_utils import _internal as module_internal


@pytest.fixture(scope="module")
def plugin():
    # The filter imports Ansible's controller (ansible.errors); put the module-side flag back (see
    # tests/unit/plugins/filter/test_cluster_filter.py).
    was_controller = module_internal.is_controller
    try:
        module = importlib.import_module("ansible_collections.opstack.conductor.plugins.filter.clusters")
        from ansible.errors import AnsibleUndefinedVariable
    finally:
        module_internal.is_controller = was_controller
    module.AnsibleUndefinedVariable = AnsibleUndefinedVariable
    return module


UNRESOLVED = object()


class HostVars(dict):
    def __init__(self, error, **values):
        super().__init__(values)
        self.error = error

    def get(self, name, default=None):
        value = super().get(name, default)
        if value is UNRESOLVED:
            raise self.error("'no_such_variable' is undefined")
        return value


def fleet(plugin, clusters, port=50000):
    """{group: {host: vars}} -> (hostvars, groups) with every host also in group sequencers, and a cluster key per
    group unless the host sets its own (None: no key at all)."""
    hostvars, groups = {}, {"sequencers": []}
    for group, hosts in clusters.items():
        if group != "sequencers":
            groups[group] = list(hosts)
        for host, values in hosts.items():
            port += 1
            values = dict({"conductor_raft_address": "10.0.%d.1:%d" % (len(groups), port)}, **values)
            if group != "sequencers" and "conductor_cluster_name" not in values:
                values["conductor_cluster_name"] = group
            values = {k: v for k, v in values.items() if v is not None}
            if host in hostvars:
                continue  # listed in a second group: Ansible resolves one set of variables
            hostvars[host] = HostVars(plugin.AnsibleUndefinedVariable, **values)
            groups["sequencers"].append(host)
    return hostvars, groups


def partition(plugin, clusters, play_hosts=None, **kwargs):
    hostvars, groups = fleet(plugin, clusters)
    return plugin.cluster_partition(hostvars, groups, "sequencers", play_hosts or groups["sequencers"], **kwargs)


def three(prefix, **extra):
    return {"%s-%d" % (prefix, n): dict(extra) for n in (1, 2, 3)}


def test_an_inventory_without_the_key_is_one_cluster_named_after_its_group(plugin):
    result = partition(plugin, {"sequencers": three("seq")})
    assert list(result["clusters"]) == ["sequencers"] and result["problems"] == []
    spec = result["clusters"]["sequencers"]
    assert spec["name"] == spec["group"] == "sequencers"
    assert [m["host"] for m in spec["members"]] == ["seq-1", "seq-2", "seq-3"]
    assert spec["initial_leader"] == "seq-1" and spec["term"] == 1
    assert result["of"] == {"seq-1": "sequencers", "seq-2": "sequencers", "seq-3": "sequencers"}


def test_three_clusters_each_get_their_own_member_list_leader_and_term(plugin):
    result = partition(plugin, {"op_a": three("a"), "op_b": three("b", conductor_initial_term=7),
                                "op_c": three("c", conductor_initial_leader="c-3")})
    assert result["problems"] == []
    assert {name: [m["id"] for m in spec["members"]] for name, spec in result["clusters"].items()} == {
        "op_a": ["a-1", "a-2", "a-3"], "op_b": ["b-1", "b-2", "b-3"], "op_c": ["c-1", "c-2", "c-3"]}
    assert [result["clusters"][n]["term"] for n in ("op_a", "op_b", "op_c")] == [1, 7, 1]
    assert [result["clusters"][n]["initial_leader"] for n in ("op_a", "op_b", "op_c")] == ["a-1", "b-1", "c-3"]
    assert result["clusters"]["op_b"]["play_hosts"] == ["b-1", "b-2", "b-3"]


def test_only_clusters_with_a_host_in_the_play_are_in_the_run_but_members_outside_it_count(plugin):
    result = partition(plugin, {"op_a": three("a"), "op_b": three("b")}, play_hosts=["b-2"])
    assert list(result["clusters"]) == ["op_b"]
    assert [m["host"] for m in result["clusters"]["op_b"]["members"]] == ["b-1", "b-2", "b-3"]
    assert result["clusters"]["op_b"]["play_hosts"] == ["b-2"]


def test_a_host_listed_in_two_cluster_groups_stops_both_clusters_and_no_other(plugin):
    clusters = {"op_a": three("a"), "op_b": three("b"), "op_c": three("c")}
    clusters["op_b"]["a-2"] = {}  # a-2 is listed in op_a and in op_b; its variables say op_a
    result = partition(plugin, clusters)
    expected = ("host a-2 is listed in group op_b (cluster op_b of this run) but its conductor_cluster_name is "
                "'op_a': a host belongs to exactly one cluster; remove it from one of the two")
    assert result["clusters"]["op_a"]["problems"] == [expected]
    assert result["clusters"]["op_b"]["problems"] == [expected]
    assert result["clusters"]["op_c"]["problems"] == []
    assert result["problems"] == [expected]


def test_the_same_server_id_or_address_in_two_clusters_stops_both(plugin):
    clusters = {"op_a": three("a"), "op_b": three("b"), "op_c": three("c")}
    clusters["op_b"]["b-1"] = {"conductor_server_id": "A-1"}  # folds to a-1's ID
    clusters["op_b"]["b-2"] = {"conductor_raft_address": "10.0.2.1:50002"}  # a-2's address
    result = partition(plugin, clusters)
    same_id = ("host b-1 of cluster op_b: server ID 'A-1' is also host a-1's 'a-1' in cluster op_a; every node of "
               "the fleet needs its own")
    same_address = ("host b-2 of cluster op_b: consensus address '10.0.2.1:50002' is also host a-2's "
                    "'10.0.2.1:50002' in cluster op_a; every node of the fleet needs its own")
    assert result["clusters"]["op_a"]["problems"] == [same_id, same_address]
    assert result["clusters"]["op_b"]["problems"] == [same_id, same_address]
    assert result["clusters"]["op_c"]["problems"] == []


def test_a_cluster_wide_setting_that_differs_inside_a_cluster_stops_that_cluster(plugin):
    clusters = {"op_a": three("a"), "op_b": three("b")}
    clusters["op_b"]["b-3"] = {"conductor_page_size": 16384, "conductor_network": "op-sepolia"}
    clusters["op_a"]["a-2"] = {"conductor_initial_term": 5}
    result = partition(plugin, clusters)
    assert result["clusters"]["op_b"]["problems"] == [
        "cluster op_b: conductor_page_size differs between its hosts (conductor_page_size=4096 on b-1, b-2; "
        "conductor_page_size=16384 on b-3); it is cluster-wide",
        "cluster op_b: conductor_network differs between its hosts (unset on b-1, b-2; "
        "conductor_network=op-sepolia on b-3); it is cluster-wide"]
    assert result["clusters"]["op_a"]["problems"] == [
        "host a-2: conductor_initial_term='5', but this run uses '1' (from host a-1); it is cluster-wide and must be "
        "the same on every host of group op_a"]


def test_hosts_without_a_key_beside_hosts_with_one_stop_the_unnamed_cluster(plugin):
    clusters = {"op_a": three("a"), "sequencers": three("s")}
    result = partition(plugin, clusters)
    assert result["clusters"]["sequencers"]["problems"] == [
        "hosts s-1, s-2, s-3 set no conductor_cluster_name, so they form cluster sequencers (the group), while the "
        "group's other hosts name their clusters (op_a): set conductor_cluster_name on them (to sequencers if that "
        "is meant)"]
    assert result["clusters"]["op_a"]["problems"] == []


def test_an_unresolvable_key_is_a_problem_of_the_host(plugin):
    clusters = {"op_a": three("a")}
    clusters["op_a"]["a-3"] = {"conductor_cluster_name": UNRESOLVED}
    result = partition(plugin, clusters)
    assert any(p.startswith("host a-3: conductor_cluster_name cannot be resolved:") and "no_such_variable" in p
               for p in result["problems"]), result["problems"]


def test_cluster_batch_adds_the_hosts_that_failed_and_leaves_other_clusters_out(plugin):
    cluster = {"play_hosts": ["b-1", "b-2", "b-3"]}
    # b-2 failed earlier (not in ansible_play_hosts), b-3 is in a later batch; a-1 is another cluster.
    assert plugin.cluster_batch(cluster, ["a-1", "b-1"], ["a-1", "b-1", "b-3"]) == ["b-1", "b-2"]


def test_the_summary_says_ok_changed_or_failed_and_why_per_cluster(plugin):
    hostvars, _groups = fleet(plugin, {"op_a": three("a"), "op_b": three("b"), "op_c": three("c")})
    hostvars["a-1"]["conductor_raft_state"] = {"changed": True}
    hostvars["b-1"]["__conductor_cluster_verdict"] = {"failed": False}
    hostvars["b-1"]["__conductor_preflight_verdict"] = {"failed": True, "msg": ["Nothing was written,", "because x"]}
    found = sorted(hostvars)
    alive = [host for host in found if not host.startswith("b-")]
    lines = plugin.cluster_summary(hostvars, found, alive + ["localhost"], "sequencers",
                                   ["__conductor_cluster_verdict", "__conductor_preflight_verdict"],
                                   ["conductor_raft_state"])
    assert lines == ["cluster op_a (3 hosts): changed",
                     "cluster op_b (3 hosts): FAILED on b-1, b-2, b-3: host b-1: Nothing was written, because x",
                     "cluster op_c (3 hosts): ok"]
    hostvars["c-2"]["__conductor_preflight_verdict"] = {"unreachable": True, "msg": "ssh: no route"}
    assert plugin.cluster_summary(hostvars, ["c-1", "c-2"], ["c-1"], "sequencers",
                                  ["__conductor_preflight_verdict"]) == [
        "cluster op_c (2 hosts): FAILED on c-2: host c-2: ssh: no route"]
    assert plugin.cluster_summary(hostvars, ["c-3"], [], "sequencers") == [
        "cluster op_c (1 host): FAILED on c-3: host c-3 stopped without a recorded result (unreachable, or a task "
        "failed before the checks)"]


def test_a_node_unreachable_at_its_preflight_stops_its_cluster(plugin):
    """cluster_batch now hands the preflight gate the hosts that went unreachable; their registered preflight result
    holds unreachable, not failed, and must count as a failure (the dry run did not run there)."""
    was_controller = module_internal.is_controller
    try:
        members_filter = importlib.import_module("ansible_collections.opstack.conductor.plugins.filter.cluster")
    finally:
        module_internal.is_controller = was_controller
    hostvars = {"b-1": {"__conductor_preflight": {"changed": False, "action": "create"}},
                "b-2": {"__conductor_preflight": {"unreachable": True, "changed": False,
                                                  "msg": "Failed to connect to the host via ssh"}}}
    assert members_filter.preflight_failures(hostvars, ["b-1", "b-2"]) == [
        "host b-2: Failed to connect to the host via ssh"]


def test_the_live_playbooks_refuse_a_group_that_spans_clusters(plugin):
    """bring_up, status, membership and recover (conductor_cluster nodes.yml, filter live_cluster) still handle one
    cluster per run: over a parent group they would treat two chains' conductors as one cluster."""
    was_controller = module_internal.is_controller
    try:
        members_filter = importlib.import_module("ansible_collections.opstack.conductor.plugins.filter.cluster")
    finally:
        module_internal.is_controller = was_controller
    hostvars, groups = fleet(plugin, {"op_a": three("a"), "op_b": three("b")})
    hosts = groups["sequencers"]
    live = members_filter.live_cluster(hostvars, hosts, hosts, "sequencers")
    assert live["problem"] == (
        "the hosts of sequencers form 2 clusters (op_a: a-1, a-2, a-3; op_b: b-1, b-2, b-3); this playbook handles "
        "one cluster per run: run it once per cluster with -e conductor_group=<the cluster's group>")
    one = members_filter.live_cluster(hostvars, groups["op_a"], groups["op_a"], "op_a")
    assert one["problem"] == "" and one["member_ids"] == ["a-1", "a-2", "a-3"]


def test_the_live_playbooks_take_each_cluster_on_its_own(plugin):
    """live_partition (conductor_cluster nodes.yml): every cluster of a parent group with its own nodes, servers,
    initial leader and lead host; a host of one cluster missing from the play stops that cluster only; a playbook
    that handles one cluster per run (one_cluster) still refuses the spanning group, in every cluster."""
    hostvars, groups = fleet(plugin, {"op_a": three("a"), "op_b": three("b")})
    hostvars["b-1"]["conductor_initial_leader"] = "b-2"
    hosts = groups["sequencers"]
    live = plugin.live_partition(hostvars, groups, "sequencers", hosts)
    assert live["of"] == {host: "op_" + host[0] for host in hosts}
    a, b = live["clusters"]["op_a"], live["clusters"]["op_b"]
    assert [n["id"] for n in a["nodes"]] == ["a-1", "a-2", "a-3"] and b["member_ids"] == ["b-1", "b-2", "b-3"]
    assert (a["leader_id"], b["leader_id"]) == ("a-1", "b-2")
    assert (a["lead"], b["lead"], a["problem"], b["problem"]) == ("a-1", "b-1", "", "")
    limited = plugin.live_partition(hostvars, groups, "sequencers", ["a-2", "a-3", "b-1", "b-2", "b-3"])
    assert limited["clusters"]["op_a"]["problem"] == (
        "hosts of op_a missing from this play (--limit?): a-1; live operations need every node")
    assert (limited["clusters"]["op_a"]["lead"], limited["clusters"]["op_b"]["problem"]) == ("a-2", "")
    single = plugin.live_partition(hostvars, groups, "sequencers", hosts, one_cluster=True)
    for name in ("op_a", "op_b"):
        assert single["clusters"][name]["problem"].startswith(
            "the hosts of sequencers form 2 clusters (op_a: a-1, a-2, a-3; op_b: b-1, b-2, b-3)")
    assert plugin.live_partition(hostvars, groups, "op_a", groups["op_a"], one_cluster=True)["clusters"]["op_a"][
        "problem"] == ""
