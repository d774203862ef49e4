"""_servers: the one server vocabulary, validation and drift comparison (issue 14 item 3)."""

import pytest

from ansible_collections.opstack.conductor.plugins.module_utils import _cluster as cluster
from ansible_collections.opstack.conductor.plugins.module_utils import _raft as raft
from ansible_collections.opstack.conductor.plugins.module_utils import _servers as servers
from ansible_collections.opstack.conductor.plugins.module_utils._errors import OpstackError


def test_one_server_type_and_vocabulary_for_every_layer():
    assert raft.Server is servers.Server and cluster.SpecError is servers.SpecError
    assert raft.SUFFRAGES == servers.SUFFRAGES == {0: "voter", 1: "nonvoter", 2: "staging"}
    assert issubclass(servers.SpecError, OpstackError)


@pytest.mark.parametrize("entry, field", [
    ({"id": "a" * 201, "address": "10.0.0.1:50050"}, "servers[0].id"),
    ({"id": "seq\u200b1", "address": "10.0.0.1:50050"}, "servers[0].id"),
    ({"id": "seq-1", "address": "10.0.0.1:0080"}, "servers[0].address"),
])
def test_refusals_name_the_field(entry, field):
    with pytest.raises(servers.SpecError) as raised:
        servers.parse_servers([entry])
    assert raised.value.field == field


def test_drift_keeps_both_documented_shapes():
    want = [servers.Server("a", "h1:1"), servers.Server("b", "h2:1", "nonvoter"), servers.Server("c", "h3:1")]
    have = [dict(id="b", address="h2:1", suffrage="voter"), dict(id="a", address="h1:1", suffrage="voter"),
            dict(id="d", address="h4:1", suffrage="voter")]
    live = servers.drift(want, have)  # conductor_membership / conductor_info: have/want, address+suffrage
    assert live == dict(in_sync=False, missing=["c"], extra=["d"], changed=[dict(
        id="b", want=dict(address="h2:1", suffrage="nonvoter"), have=dict(address="h2:1", suffrage="voter"))])
    stored = servers.drift(want, [servers.Server(**entry) for entry in have], labels=("expected", "actual"),
                           fields=("id", "address", "suffrage"))  # raft_state_info
    assert stored["changed"] == [dict(id="b", expected=dict(id="b", address="h2:1", suffrage="nonvoter"),
                                      actual=dict(id="b", address="h2:1", suffrage="voter"))]
    assert servers.drift(want, want)["in_sync"] is True
