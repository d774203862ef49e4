"""Every module that reads or writes a node directory warns when it sits on a network filesystem."""

import json

from ansible_collections.opstack.conductor.plugins.module_utils import _fs as fs
from ansible_collections.opstack.conductor.plugins.modules import raft_backup, raft_restore, raft_state, raft_state_info
from ansible_collections.opstack.conductor.tests.support.nodes import SERVERS


def test_modules_warn_about_nfs_and_still_work(tmp_path, run_module, monkeypatch):
    nfs = str(tmp_path / "nfs")
    monkeypatch.setattr(fs, "filesystem_type", lambda path: "nfs4" if path.startswith(nfs) else "ext4")
    node, local_node = nfs + "/raft/seq-1", str(tmp_path / "local" / "seq-1")

    def warned(result, path):  # warnings are structured events in ansible-core 2.19 (and gather in-process)
        return ("%s is on a network filesystem (nfs4)" % path) in json.dumps(result.get("warnings", []))

    created = run_module(raft_state.main, dict(path=node, server_id="seq-1", servers=SERVERS))
    assert created["changed"] and warned(created, node)
    local = run_module(raft_state.main, dict(path=local_node, server_id="seq-1", servers=SERVERS))
    assert local["changed"] and not warned(local, local_node)
    assert warned(run_module(raft_state_info.main, dict(path=node)), node)
    made = run_module(raft_backup.main, dict(path=node, dest=str(tmp_path / "backups")))
    assert made["changed"] and warned(made, node)
    # Backups are plain files, fine on a network filesystem: no warning for them.
    to_nfs = run_module(raft_backup.main, dict(path=local_node, dest=nfs + "/backups"))
    assert to_nfs["changed"] and not warned(to_nfs, nfs + "/backups") and not warned(to_nfs, local_node)
    restored = run_module(raft_restore.main, dict(src=to_nfs["backup_path"], path=node, force=True))
    assert restored["action"] == "unchanged" and warned(restored, node)
    assert not warned(restored, to_nfs["backup_path"])
