"""membership's replace action (issue 17 item 4): which requested members are replaced. A member is replaced only
when it is dead as the cluster sees it (its conductor does not answer, counts itself outside the configuration, or
does not follow the agreed leader); a member that answers and follows the leader is left alone, so a rerun with the
same request changes nothing. Requests naming no member are refused."""

from ansible_collections.opstack.conductor.plugins.filter.replace import FilterModule, replace_targets

IDS = ["s1", "s2", "s3"]


def status(node_id, reachable=True, member=True, follows="s1"):
    out = dict(id=node_id, reachable=reachable)
    if reachable:
        servers = [dict(id=i, address=i + ":1", suffrage="voter") for i in IDS if member or i != node_id]
        out.update(membership=dict(servers=servers, version=0), leader_with_id=dict(id=follows, address="x"))
    return out


def info(*statuses, leader="s1"):
    return dict(nodes=list(statuses), cluster=dict(leader=dict(id=leader, address="x") if leader else None))


def test_registered():
    assert set(FilterModule().filters()) == {"replace_targets"}


def test_nothing_requested_is_nothing():
    assert replace_targets(info(status("s1")), [], IDS) == dict(replace=[], alive=[], problems=[])
    assert replace_targets(info(status("s1")), "", IDS)["replace"] == []


def test_an_unreachable_member_is_replaced():
    found = replace_targets(info(status("s1"), status("s2"), status("s3", reachable=False)), "s3", IDS)
    assert found == dict(replace=["s3"], alive=[], problems=[])


def test_a_member_outside_its_own_configuration_or_following_nobody_is_replaced():
    found = replace_targets(info(status("s1"), status("s2", member=False), status("s3", follows="")),
                            ["s2", "s3"], IDS)
    assert found["replace"] == ["s2", "s3"] and found["problems"] == []


def test_a_member_that_follows_the_leader_is_left_alone():
    found = replace_targets(info(status("s1"), status("s2"), status("s3")), ["s3"], IDS)
    assert found == dict(replace=[], alive=["s3"], problems=[])


def test_requests_naming_no_member_or_the_whole_cluster_are_refused():
    found = replace_targets(info(status("s1"), status("s2"), status("s3")), ["s9"], IDS)
    assert found["problems"] == ["conductor_replace names s9, which is not a member (conductor_member=true) of "
                                 "the group"]
    down = info(status("s1", reachable=False), status("s2", reachable=False), status("s3", reachable=False),
                leader=None)
    assert replace_targets(down, IDS, IDS)["problems"] == [
        "no leader that every reachable node names: a replace needs a working cluster (see the recover playbook)"]


def test_over_a_fleet_an_id_of_another_cluster_is_left_to_that_cluster_and_one_of_none_is_refused():
    """Issue 19: membership runs over every cluster of the play; conductor_replace names IDs of the whole run. Each
    cluster replaces its own, leaves another cluster's alone (no problem, not even a missing leader), and refuses
    an ID that is a member of no cluster."""
    fleet = IDS + ["t1", "t2"]
    healthy = info(status("s1"), status("s2"), status("s3", reachable=False))
    assert replace_targets(healthy, "t2", IDS, fleet_ids=fleet) == dict(replace=[], alive=[], problems=[])
    assert replace_targets(info(leader=None), ["t1"], IDS, fleet_ids=fleet) == dict(replace=[], alive=[], problems=[])
    assert replace_targets(healthy, "t2,s3", IDS, fleet_ids=fleet) == dict(replace=["s3"], alive=[], problems=[])
    refused = replace_targets(healthy, ["t9", "s3"], IDS, fleet_ids=fleet)
    assert refused["replace"] == [] and refused["problems"] == [
        "conductor_replace names t9, which is not a member (conductor_member=true) of the group"]
