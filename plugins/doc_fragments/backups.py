# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The host's part of choosing a backup, shared by raft_backup_info and raft_restore (issue 15: the listing, the
    # choice, the verification and, for a restore, the judgement in one module run).
    HOST_CHOICE = r"""
options:
  host_choice:
    description:
      - Internal - set by the action plugins of M(opstack.conductor.raft_backup_info) and
        M(opstack.conductor.raft_restore) when they choose a backup. This server's backups in C(path) on the host
        are listed from their manifests, the newest of them and of C(rival) (the newest on the controller, a
        report of RV(opstack.conductor.raft_backup_info#module:backups); ahead on a full tie) is chosen, and
        verified when it is on the host. The result holds C(listing) (the host's backups, from their manifests),
        C(chosen) and C(verified) (the chosen backup's verification when it is on the host, else null).
    type: dict
    suboptions:
      path:
        description: A backup or a directory of backups on the managed host.
        type: path
        required: true
      rival:
        description: The controller's newest backup, or null.
        type: dict
"""
