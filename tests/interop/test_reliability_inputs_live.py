"""Bad-input matrix, the parts that need the real Go stack: what raft_state accepts at the edges (10,000 members,
200-byte IDs, 1 KiB addresses, 16 KiB and 64 KiB pages, non-ASCII IDs) is what every cell checks and reads back,
and a real Raft node starts on the large-page and non-ASCII states."""

import base64
import os

import pytest

from ansible_collections.opstack.conductor.plugins.modules import raft_state

pytestmark = pytest.mark.reliability  # `make test-reliability` selects these by marker

CELLS = ["v1", "v2_3_0", "v2_3_1", "bbolt_1_4"]


def _go_servers(read):
    entry = read["log"]["entries"][-1]
    return [{"id": s["ID"], "address": s["Address"], "suffrage": ("voter", "nonvoter", "staging")[s["Suffrage"]]}
            for s in entry["Configuration"]["Servers"]]


def _check_everywhere(oracle, node, servers, server_id):
    for cell in CELLS:
        for name in ("raft-log.db", "raft-stable.db"):
            assert oracle.check(cell, os.path.join(node, name))["ok"], (cell, name)
        read = oracle.run(cell, "read", node)
        assert _go_servers(read) == [dict(s, suffrage="voter") for s in servers], cell
        assert read["stable"]["CurrentTerm"] == 1
        candidate = read["stable"]["LastVoteCand"]
        assert candidate is None or base64.b64decode(candidate).decode() == server_id


def test_edges_of_what_we_accept_are_what_go_reads(oracle, run_module, tmp_path):
    huge = [{"id": "n%05d" % i, "address": "10.%d.%d.%d:50050" % (i >> 16, (i >> 8) & 255, i & 255)}
            for i in range(1, 10001)]
    long_ids = [{"id": "i" * 200, "address": "h" * 1018 + ":50050"}, {"id": "\u00e9" * 100, "address": "h:2"}]
    for servers in (huge, long_ids):
        server_id = servers[0]["id"]
        node = str(tmp_path / server_id)
        result = run_module(raft_state.main, dict(path=node, server_id=server_id, servers=servers,
                                                  initial_leader=server_id))
        assert result["changed"] and result["state"]["integrity"]["ok"]
        _check_everywhere(oracle, node, servers, server_id)


@pytest.mark.parametrize("page_size", [16384, 65536])
def test_large_pages_and_unicode_ids_start_a_real_node(oracle, run_module, ports, tmp_path, page_size):
    servers = [{"id": "s\u00e9quenceur-\u00fc", "address": "127.0.0.1:%d" % ports(1)[0]}]
    node = str(tmp_path / servers[0]["id"])
    result = run_module(raft_state.main, dict(path=node, server_id=servers[0]["id"], servers=servers,
                                              page_size=page_size))
    assert result["changed"] and result["state"]["page_size"] == page_size
    _check_everywhere(oracle, node, servers, servers[0]["id"])
    started = oracle.run("v2_3_1", "cluster", "--node", "%s=%s" % (servers[0]["id"], node), "--apply", 3,
                         "--restart", "--timeout", 30, timeout=120)
    assert started["ok"], started["problems"]
    assert oracle.check("v2_3_1", os.path.join(node, "raft-log.db"))["page_size"] == page_size
    again = run_module(raft_state.main, dict(path=node, server_id=servers[0]["id"], servers=servers))
    assert not again["changed"] and again["action"] == "live"
