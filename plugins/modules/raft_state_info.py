#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: raft_state_info
short_description: Read and verify the Raft state of one op-conductor node
version_added: 0.1.0
description:
  - Reads C(raft-log.db), C(raft-stable.db) and C(snapshots/) of an op-conductor node directory the way
    hashicorp/raft reads them at start-up, and reports term, vote, log range, the newest cluster configuration
    and snapshots.
  - With O(verify=true) it also checks everything that would make bbolt's check fail, raft-boltdb fail to
    decode an entry, or raft panic at start (missing entries after the newest snapshot, undecodable
    configurations, a term below the log's).
  - Never writes, never creates a file and never takes a lock that could make a starting op-conductor wait.
    Files locked by a running op-conductor are read anyway and reported with RV(locked=true); such a read is
    best effort, because the files may change while they are read.
  - A node directory, file, snapshot or lock that cannot be looked at (permission denied, a symlink loop, an I/O
    error; anything but "does not exist") fails the task with the path and the error; such a node is never
    reported as absent or unlocked. Run it with C(become) (as root or as op-conductor's user).
  - C(snapshots) must be a real directory (raft's file snapshot store cannot use anything else), and
    C(raft-log.db), C(raft-stable.db) and C(snapshots) may not be symlinks; both are reported as problems.
author:
  - opstack.conductor developers (@opstack)
options:
  path:
    description: The node directory, C(<raft.storage.dir>/<server id>). It must exist, unless O(allow_missing=true).
    type: path
    required: true
  allow_missing:
    description:
      - Report a O(path) that does not exist as a node without Raft state (RV(node_directory=false),
        RV(exists=false)) instead of failing. Any other error looking at it (permission denied, a regular file
        there) still fails the task.
      - The P(opstack.conductor.raft_info#role) role reads every host's node in one task this way; a missing node
        directory is its verdict C(NO STATE), not an error.
    type: bool
    default: false
  verify:
    description:
      - Walk every page and every log entry (full integrity check). Without it only the ends of the log are
        read for the integrity summary, which stays fast on multi-GiB files; RV(fsm_head) still reads the log
        entries after the newest snapshot (those raft replays at start; op-conductor takes a snapshot every
        8192 entries by default).
    type: bool
    default: true
  server_id:
    description:
      - The Raft server ID of the node, checked against the newest configuration (a warning when it is not a
        member).
      - Defaults to the name of O(path), as op-conductor keeps its state in C(<raft.storage.dir>/<server id>).
    type: str
  fail_on_problems:
    description:
      - Fail the task when the node holds no Raft state, has an integrity problem (RV(integrity.ok=false)), or,
        with O(expected_servers), a membership that differs from it (RV(drift.in_sync=false)). The result, with
        its one-line RV(msg), is returned either way.
      - Off by default, as an info module that reports rather than judges, so that a registered result can be
        shown for every node (the P(opstack.conductor.raft_info#role) role reads every node, then fails itself). Turn
        it on for ad hoc checks (C(ansible -m opstack.conductor.raft_state_info -a "path=... fail_on_problems=true"))
        and for tasks that must stop on damage.
    type: bool
    default: false
extends_documentation_fragment:
  - opstack.conductor.servers.EXPECTED
  - opstack.conductor.servers.MSGPACK
  - opstack.conductor._attributes
  - opstack.conductor._attributes.INFO_MODULE
seealso:
  - module: opstack.conductor.raft_state
"""

EXAMPLES = r"""
- name: Verify a node and compare it with the inventory
  opstack.conductor.raft_state_info:
    path: /var/lib/op-conductor/raft/sequencer-1
    expected_servers: "{{ conductor_servers }}"
  register: raft

- name: Fail on damage or drift
  ansible.builtin.assert:
    that:
      - raft.integrity.ok
      - raft.drift.in_sync

- name: The same in one task; msg is the one-line verdict either way
  opstack.conductor.raft_state_info:
    path: /var/lib/op-conductor/raft/sequencer-1
    expected_servers: "{{ conductor_servers }}"
    fail_on_problems: true
"""

RETURN = r"""
msg:
  description:
    - "The verdict in one line, with the node's server ID first: C(<id>: ok, term <t>, last index <i>, <n> voters),
      C(<id>: DAMAGED: <first problem> (+<n> more)) or C(<id>: no Raft state in <path>), followed by how the
      membership differs from O(expected_servers) when it does, and whether op-conductor was running."
  returned: always
  type: str
  sample: "sequencer-1: ok, term 3, last index 30, 3 voters"
exists:
  description: Whether any Raft database exists in the directory.
  returned: always
  type: bool
node_directory:
  description: Whether O(path) exists (as a directory); false only with O(allow_missing=true).
  returned: always
  type: bool
locked:
  description: Whether a running process (op-conductor) holds the lock on the node's files.
  returned: always
  type: bool
page_size:
  description: bbolt page size of C(raft-log.db).
  returned: always
  type: int
  sample: 4096
files:
  description: Per database file, whether it exists, its size, page size and transaction id.
  returned: always
  type: dict
current_term:
  description: C(CurrentTerm) from the stable store.
  returned: always
  type: int
last_vote_term:
  description: C(LastVoteTerm) from the stable store.
  returned: always
  type: int
last_vote_candidate:
  description: C(LastVoteCand) from the stable store.
  returned: always
  type: str
first_index:
  description: The first log index.
  returned: always
  type: int
last_index:
  description: The last log index.
  returned: always
  type: int
last_log_term:
  description: The term of the last log entry.
  returned: always
  type: int
entries:
  description: Number of log entries (counted with O(verify=true), else last minus first plus one).
  returned: always
  type: int
latest_configuration:
  description: The newest cluster configuration, from the log or from the newest snapshot.
  returned: always
  type: dict
  contains:
    index:
      description: Log index of the configuration.
      type: int
    term:
      description: Its term.
      type: int
    source:
      description: V(log) or V(snapshot).
      type: str
    servers:
      description: Members with id, address and suffrage.
      type: list
      elements: dict
snapshots:
  description: Snapshots, newest first, with term, index, size and whether the CRC matched.
  returned: always
  type: list
  elements: dict
integrity:
  description: The verdict; RV(integrity.problems) name pages, entries or files.
  returned: always
  type: dict
  contains:
    ok:
      description: No problem found.
      type: bool
    checked:
      description: Whether the full check ran (O(verify)).
      type: bool
    problems:
      description:
        - Defects that make bbolt, raft-boltdb or raft refuse the state.
        - Also every case raft's C(checkConfiguration) rejects (an empty or duplicate server ID, an empty or
          duplicate address, no voter) in the newest configuration and, with O(verify), in every configuration
          raft replays at start (the newest snapshot's and each configuration entry after it). Raft reads such a
          configuration but refuses every membership change made from it.
      type: list
      elements: str
    warnings:
      description: Oddities that do not stop op-conductor.
      type: list
      elements: str
cluster_identity:
  description:
    - Which cluster the node belongs to, from log entry 1 (the seeding configuration and term) while the log still
      holds it; the same ID as in backup manifests. The C(info) playbook compares it across nodes, so nodes seeded
      as different clusters are flagged even where their memberships agree.
    - C(id) is null, with a C(reason), once log entry 1 has been compacted away or cannot be decoded.
  returned: when the node has Raft state
  type: dict
  sample: {"id": "3f2a9c0d1e4b5a67", "initial_term": 1, "initial_membership_hash": "9b1c...", "source": "log entry 1"}
fsm_head:
  description:
    - The unsafe payload op-conductor's FSM holds after a start from these files, as hashicorp/raft replays them
      (RecoverCluster's order) into op-conductor's FSM - the newest snapshot raft lists (op-conductor keeps one;
      raft does not fall back to an older one), whose C(state.bin) replaces the head, then every command entry
      after it, which replaces the head only with a strictly higher block number.
    - Null when the FSM is empty (no snapshot and no command entry the FSM decodes), and when the files cannot be
      replayed (see RV(fsm_error)). An entry the FSM cannot decode is skipped, as Raft ignores the FSM's error, and
      named in RV(integrity.warnings) (the first ten, then a count).
  returned: always
  type: dict
  sample: {"block_number": 1234567, "block_hash": "0x5e1f...", "index": 8812, "term": 4, "source": "log"}
  contains:
    block_number:
      description: The payload's block number.
      type: int
    block_hash:
      description: The payload's block hash, 0x-prefixed hex.
      type: str
    index:
      description: Log index of the entry the head came from, or the index of the snapshot.
      type: int
    term:
      description: The term of that entry or snapshot.
      type: int
    source:
      description: V(log) or V(snapshot).
      type: str
fsm_error:
  description:
    - Why the FSM head is unknown - raft would fail to start on these files - the newest snapshot does not open (CRC)
      or op-conductor's FSM cannot restore it, or a log entry after it is missing or undecodable. Also added to
      RV(integrity.warnings).
  returned: when the files cannot be replayed
  type: str
drift:
  description: Differences from O(expected_servers).
  returned: when O(expected_servers) is given
  type: dict
  contains:
    in_sync:
      description: No difference.
      type: bool
    missing:
      description: Expected IDs not in the configuration.
      type: list
      elements: str
    extra:
      description: Configured IDs not expected.
      type: list
      elements: str
    changed:
      description: IDs whose address or suffrage differ, with both values.
      type: list
      elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.opstack.conductor.plugins.module_utils import _module_common as common
from ansible_collections.opstack.conductor.plugins.module_utils import _node_info as node_info
from ansible_collections.opstack.conductor.plugins.module_utils import _runner as runner
from ansible_collections.opstack.conductor.plugins.module_utils import _servers as servers


def inspect(module, result):
    params = module.params
    common.warn_network_filesystems(module, params["path"])
    result.update(node_info.inspect_node(params["path"], params["allow_missing"], params["verify"],
                                         params["server_id"], params["expected_servers"]), changed=False)
    if params["fail_on_problems"] and node_info.has_problems(result):
        raise runner.Failure(result["msg"])
    return result


def main():
    module = AnsibleModule(argument_spec=dict(
        path=dict(type="path", required=True),
        allow_missing=dict(type="bool", default=False),
        verify=dict(type="bool", default=True),
        server_id=dict(type="str"),
        expected_servers=servers.server_list_spec(),
        fail_on_problems=dict(type="bool", default=False),
    ), supports_check_mode=True)
    common.run_reader(module, inspect)


if __name__ == "__main__":
    main()
