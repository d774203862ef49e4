"""The generate playbook (op-conductor-init generate): parameters from -e or OP_CONDUCTOR_INIT_*, all-or-nothing
refusal of existing different state, force with backups, idempotence, and files that raft_state_info verifies."""

from __future__ import annotations

import json
import os

from ansible_collections.opstack.conductor.tests.support.fs import tree
from ansible_collections.opstack.conductor.tests.support.playbooks import run_playbook

NODES = "127.0.0.1:57161,127.0.0.1:57162,127.0.0.1:57163"
IDS = "seq-a,seq-b,seq-c"

# Reads every node back with raft_state_info and checks it against what generate was asked for.
VERIFY = """
- name: Verify generated state
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Read each node
      opstack.conductor.raft_state_info:
        path: "{{ out }}/{{ item.id }}"
        expected_servers: "{{ servers }}"
      loop: "{{ servers }}"
      register: info
    - name: Check each node
      ansible.builtin.assert:
        that:
          - r.exists and r.integrity.ok and r.integrity.checked
          - r.drift.in_sync
          - r.current_term == term | int
          - r.first_index == 1 and r.last_index == 1
          - r.latest_configuration.servers == servers
          - r.last_vote_candidate == (r.item.id if r.item.id == leader else none)
          - r.last_vote_term == (term | int if r.item.id == leader else none)
      loop: "{{ info.results }}"
      loop_control:
        loop_var: r
"""


def servers(ids=IDS, nodes=NODES):
    return [{"id": i, "address": a, "suffrage": "voter"} for i, a in zip(ids.split(","), nodes.split(","))]


def verify(tmp_path, out, leader, term=1, ids=IDS, nodes=NODES):
    book = tmp_path / "verify.yml"
    book.write_text(VERIFY)
    extra = json.dumps({"out": str(out), "servers": servers(ids, nodes), "leader": leader, "term": term})
    run = run_playbook(tmp_path, str(book), "-e", extra)
    assert run.rc == 0, run


def generate(tmp_path, *extra_args, env=None, cwd=None):
    return run_playbook(tmp_path, "opstack.conductor.generate", *extra_args, env_extra=env, cwd=cwd)


def test_extra_vars_writes_every_node_and_rerun_is_unchanged(tmp_path):
    out = tmp_path / "out"
    args = ("-e", "nodes=" + NODES, "-e", "server_ids=" + IDS, "-e", "initial_leader=seq-b",
            "-e", "output_dir=" + str(out), "-e", "network=op-sepolia")
    run = generate(tmp_path, *args)
    assert run.rc == 0, run
    assert run.recap["localhost"]["changed"] == 2, run  # the state task (3 nodes) and cluster.json
    # Two tasks: the module checks the parameters itself (a Jinja assert before it cost 0.1 s at 101 nodes).
    assert run.recap["localhost"]["ok"] == 2, run
    assert sorted(os.listdir(out)) == ["cluster.json", "seq-a", "seq-b", "seq-c"]
    for node in IDS.split(","):
        assert sorted(os.listdir(out / node)) == ["raft-log.db", "raft-stable.db"]
    meta = json.loads((out / "cluster.json").read_text())
    assert meta == {"format": 1, "generated_by": "opstack.conductor.generate", "network": "op-sepolia",
                    "initial_leader": "seq-b", "initial_term": 1, "servers": servers()}
    verify(tmp_path, out, "seq-b")

    before = tree(out)
    again = generate(tmp_path, *args)
    assert again.rc == 0 and again.recap["localhost"]["changed"] == 0, again
    assert tree(out) == before


def test_environment_variables_and_relative_output_dir(tmp_path):
    env = {"OP_CONDUCTOR_INIT_NODES": " 127.0.0.1:57171 , 127.0.0.1:57172,127.0.0.1:57173 ",
           "OP_CONDUCTOR_INIT_SERVER_IDS": "n1,n2,n3", "OP_CONDUCTOR_INIT_INITIAL_LEADER": "n3",
           "OP_CONDUCTOR_INIT_OUTPUT_DIR": "state", "OP_CONDUCTOR_INIT_INITIAL_TERM": "7"}
    work = tmp_path / "work"
    work.mkdir()
    run = generate(tmp_path, env=env, cwd=work)
    assert run.rc == 0, run
    meta = json.loads((work / "state" / "cluster.json").read_text())  # relative to the current directory
    assert meta["network"] is None and meta["initial_term"] == 7 and meta["initial_leader"] == "n3"
    verify(tmp_path, work / "state", "n3", term=7, ids="n1,n2,n3",
           nodes="127.0.0.1:57171,127.0.0.1:57172,127.0.0.1:57173")
    # -e wins over the environment
    out = tmp_path / "override"
    run = generate(tmp_path, "-e", "output_dir=" + str(out), "-e", "initial_leader=n1", env=env, cwd=work)
    assert run.rc == 0, run
    assert json.loads((out / "cluster.json").read_text())["initial_leader"] == "n1"


def test_mismatched_counts_fail_before_anything_is_written(tmp_path):
    out = tmp_path / "out"
    run = generate(tmp_path, "-e", "nodes=" + NODES, "-e", "server_ids=seq-a,seq-b", "-e", "initial_leader=seq-a",
                   "-e", "output_dir=" + str(out))
    assert run.rc != 0, run
    assert "nodes has 3 address(es) but server_ids has 2 ID(s)" in run.out
    assert not out.exists()


def test_unknown_leader_and_missing_parameters_fail(tmp_path):
    out = tmp_path / "out"
    run = generate(tmp_path, "-e", "nodes=" + NODES, "-e", "server_ids=" + IDS, "-e", "initial_leader=seq-x",
                   "-e", "output_dir=" + str(out))
    assert run.rc != 0, run
    assert "initial_leader='seq-x': is not one of server_ids (seq-a, seq-b, seq-c)" in run.out
    run = generate(tmp_path, "-e", "output_dir=" + str(out))
    assert run.rc != 0 and "nodes is required" in run.out, run
    assert not out.exists()


def test_existing_different_state_is_refused_then_replaced_with_force(tmp_path):
    out = tmp_path / "out"
    first = generate(tmp_path, "-e", "nodes=" + NODES, "-e", "server_ids=" + IDS, "-e", "initial_leader=seq-a",
                     "-e", "output_dir=" + str(out))
    assert first.rc == 0, first
    before = tree(out)

    # Another cluster into the same directory (a list this time): refused, and nothing at all is written.
    other = {"nodes": ["127.0.0.1:57181", "127.0.0.1:57182", "127.0.0.1:57183"], "server_ids": IDS.split(","),
             "initial_leader": "seq-c", "output_dir": str(out)}
    refused = generate(tmp_path, "-e", json.dumps(other))
    assert refused.rc != 0, refused
    assert "Nothing was written to %s" % out in refused.out
    assert "refusing to replace it without force=true" in refused.out
    assert tree(out) == before

    forced = generate(tmp_path, "-e", json.dumps(other), env={"OP_CONDUCTOR_INIT_FORCE": "true"})
    assert forced.rc == 0, forced
    backups = sorted(name for name in os.listdir(out) if name.endswith("~"))
    assert [name.split(".")[0] for name in backups] == ["seq-a", "seq-b", "seq-c"], backups
    after = tree(out)
    for name in backups:  # the old cluster's state is kept whole, byte for byte
        node = name.split(".")[0]
        assert sorted(os.listdir(out / name)) == ["raft-log.db", "raft-stable.db"]
        for db in ("raft-log.db", "raft-stable.db"):
            assert after[os.path.join(name, db)].digest == before[os.path.join(node, db)].digest
    assert json.loads((out / "cluster.json").read_text())["servers"] == servers(nodes=",".join(other["nodes"]))
    verify(tmp_path, out, "seq-c", nodes=",".join(other["nodes"]))

    again = generate(tmp_path, "-e", json.dumps(other), "-e", "force=true")
    assert again.rc == 0 and again.recap["localhost"]["changed"] == 0, again
