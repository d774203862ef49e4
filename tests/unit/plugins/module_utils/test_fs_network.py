"""Network filesystem detection (reliability checklist #29) from a mountinfo table."""

import pytest

from ansible_collections.opstack.conductor.plugins.module_utils import _fs as fs

MOUNTINFO = """\
22 1 252:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
40 22 0:38 / /var/lib/op\\040conductor rw,relatime shared:20 - nfs4 filer:/export rw,vers=4.2
41 40 252:2 / /var/lib/op\\040conductor/local rw,relatime shared:21 - xfs /dev/vdb1 rw
42 22 0:39 / /mnt/share rw,relatime shared:22 - cifs //nas/share rw
43 22 0:40 / /mnt/share rw,relatime shared:23 - tmpfs tmpfs rw
44 22 0:41 / /srv/sshfs rw,relatime shared:24 - fuse.sshfs me@host:/ rw
"""


@pytest.mark.parametrize("path, expected", [
    ("/var/lib/op conductor/raft/seq-1", "nfs4"),  # the escaped space, and a path that does not exist yet
    ("/var/lib/op conductor/local/raft", "xfs"),  # a local disk mounted below the NFS mount
    ("/var/lib/op conductorx", "ext4"),  # a prefix of the mount point's name is not inside it
    ("/mnt/share/raft", "tmpfs"),  # the later of two mounts on one point hides the earlier
    ("/srv/sshfs/a", "fuse.sshfs"),
    ("/", "ext4"),
])
def test_filesystem_type_is_the_longest_mount_containing_the_path(tmp_path, path, expected):
    table = tmp_path / "mountinfo"
    table.write_text(MOUNTINFO)
    assert fs.filesystem_type(path, str(table)) == expected


def test_warning_names_path_and_kind(tmp_path, monkeypatch):
    monkeypatch.setattr(fs, "filesystem_type", lambda path: {"/nfs/n1": "nfs4"}.get(path, "ext4"))
    assert fs.network_filesystem_warning("/local/n1") is None
    warning = fs.network_filesystem_warning("/nfs/n1")
    assert warning.startswith("/nfs/n1 is on a network filesystem (nfs4)") and "local disk" in warning


def test_this_machine_and_an_unreadable_table(tmp_path):
    assert fs.filesystem_type(str(tmp_path)) not in (None, "nfs", "nfs4")  # the real /proc/self/mountinfo
    assert fs.network_filesystem_warning(str(tmp_path)) is None
    assert fs.filesystem_type(str(tmp_path), str(tmp_path / "missing")) is None
