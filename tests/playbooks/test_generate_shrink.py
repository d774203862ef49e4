"""Issue 13 item 17: generate on a smaller cluster refuses (without force) or keeps aside (with force) the
directories of the nodes that left, so the next info does not find a stray node; and a bad ID or address is
reported once, in the playbook's variable names, not once per node in the module's internal ones."""

from __future__ import annotations

import json
import os

from ansible_collections.opstack.conductor.tests.support.fs import tree
from ansible_collections.opstack.conductor.tests.support.playbooks import run_playbook, table

NODES = "127.0.0.1:57191,127.0.0.1:57192,127.0.0.1:57193"


def generate(tmp_path, out, ids, nodes, *extra):
    return run_playbook(tmp_path, "opstack.conductor.generate", "-e", "nodes=" + nodes, "-e", "server_ids=" + ids,
                        "-e", "initial_leader=seq-a", "-e", "output_dir=" + str(out), *extra)


def summary(run):
    """The refusal as the playbook's assert reports it (Ansible prints it twice: its error line and the result)."""
    return run.out[run.out.index("Nothing was written to"):].splitlines()[0]


def test_shrinking_refuses_without_force_and_keeps_the_removed_node_aside_with_force(tmp_path):
    out = tmp_path / "out"
    assert generate(tmp_path, out, "seq-a,seq-b,seq-c", NODES).rc == 0
    before = tree(out)
    two = ",".join(NODES.split(",")[:2])
    refused = generate(tmp_path, out, "seq-a,seq-b", two)
    assert refused.rc != 0 and tree(out) == before, refused
    assert "%s: this node is not in the cluster any more; refusing to remove it without force=true" % (
        out / "seq-c") in summary(refused), refused

    forced = generate(tmp_path, out, "seq-a,seq-b", two, "-e", "force=true")
    assert forced.rc == 0, forced
    names = sorted(os.listdir(out))
    kept_aside = [n.split(".")[0] for n in names if n.endswith("~")]
    assert "seq-c" not in names and kept_aside == ["seq-a", "seq-b", "seq-c"], names
    kept_c = [n for n in names if n.startswith("seq-c.")][0]
    after = tree(out)
    for db in ("raft-log.db", "raft-stable.db"):  # kept whole, byte for byte
        assert after[os.path.join(kept_c, db)].digest == before[os.path.join("seq-c", db)].digest
    assert json.loads((out / "cluster.json").read_text())["servers"][-1]["id"] == "seq-b"
    info = run_playbook(tmp_path, "opstack.conductor.info", "-e", "conductor_state_dir=" + str(out))
    assert info.rc == 0, info
    assert [row[1] for row in table(info)] == ["seq-a", "seq-b"]

    again = generate(tmp_path, out, "seq-a,seq-b", two, "-e", "force=true")
    assert again.rc == 0 and again.recap["localhost"]["changed"] == 0, again


def test_a_bad_id_or_address_is_named_once_by_the_playbook_variable(tmp_path):
    out = tmp_path / "out"
    bad_id = generate(tmp_path, out, "seq-a,seq/b,seq-c", NODES)
    assert bad_id.rc != 0 and not out.exists(), bad_id
    text = summary(bad_id)
    assert text.count("contains a path separator") == 1, text
    assert "server_ids: ID 'seq/b': contains a path separator" in text and "servers[" not in text, text

    bad_address = generate(tmp_path, out, "seq-a,seq-b,seq-c", "127.0.0.1:57191,no-port,127.0.0.1:57193")
    assert bad_address.rc != 0 and not out.exists(), bad_address
    text = summary(bad_address)
    assert text.count("no-port") == 1 and "nodes: address 'no-port'" in text and "servers[" not in text, text
