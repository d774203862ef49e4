"""Network filesystem detection (reliability checklist #29) from a mountinfo table."""

import os

import pytest

from ansible_collections.opstack.conductor.plugins.module_utils import _fs as fs

MOUNTINFO = """\
22 1 252:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
40 22 0:38 / /var/lib/op\\040conductor rw,relatime shared:20 - nfs4 filer:/export rw,vers=4.2
41 40 252:2 / /var/lib/op\\040conductor/local rw,relatime shared:21 - xfs /dev/vdb1 rw
42 22 0:39 / /mnt/share rw,relatime shared:22 - cifs //nas/share rw
43 22 0:40 / /mnt/share rw,relatime shared:23 - tmpfs tmpfs rw
44 22 0:41 / /srv/sshfs rw,relatime shared:24 - fuse.sshfs me@host:/ rw
45 22 0:42 / /data/x rw,relatime shared:25 - nfs4 filer:/x rw
46 22 0:43 / /data rw,relatime shared:26 - tmpfs tmpfs rw
47 22 0:44 / /back\\134slash rw,relatime shared:27 - 9p share rw
a line that is not a mount
48 22 0:45 / /torn rw -
"""


@pytest.fixture
def table(tmp_path, monkeypatch):
    """The table above, for paths resolved as written and on no device of this machine (matched by path)."""
    path = tmp_path / "mountinfo"
    path.write_text(MOUNTINFO)
    monkeypatch.setattr(fs.os.path, "realpath", lambda p: p)
    monkeypatch.setattr(fs, "_device_id", lambda p: None)
    return str(path)


@pytest.mark.parametrize("path, expected", [
    ("/var/lib/op conductor/raft/seq-1", "nfs4"),  # the escaped space
    ("/var/lib/op conductor/local/raft", "xfs"),  # a local disk mounted below the NFS mount
    ("/var/lib/op conductorx", "ext4"),  # a prefix of the mount point's name is not inside it
    ("/mnt/share/raft", "tmpfs"),  # the later of two mounts on one point hides the earlier
    ("/data/x/raft", "tmpfs"),  # a later mount on a parent hides the NFS mount below it
    ("/srv/sshfs/a", "fuse.sshfs"),
    ("/back\\slash/a", "9p"),  # the escaped backslash
    ("/torn/a", "ext4"),  # a line without a type is skipped, not an IndexError
    ("/", "ext4"),
])
def test_by_path_the_last_mount_holding_it_wins(table, path, expected):
    assert fs.filesystem_type(path, table) == expected


def test_by_device_first(table, monkeypatch):
    """A path reached through a bind mount or a symlink is judged by the device it is really on."""
    monkeypatch.setattr(fs, "_device_id", lambda p: "0:38")
    assert fs.filesystem_type("/somewhere/else", table) == "nfs4"


def test_symlink_into_a_network_mount_is_followed(tmp_path, monkeypatch):
    table = tmp_path / "mountinfo"
    table.write_text("22 1 252:1 / / rw - ext4 /dev/vda1 rw\n40 22 0:38 / %s rw - nfs4 filer:/e rw\n"
                     % (tmp_path / "nfs"))
    (tmp_path / "nfs").mkdir()
    os.symlink(str(tmp_path / "nfs"), str(tmp_path / "link"))
    monkeypatch.setattr(fs, "_device_id", lambda p: None)
    assert fs.filesystem_type(str(tmp_path / "link" / "raft" / "n1"), str(table)) == "nfs4"


def test_warning_names_path_and_kind(monkeypatch):
    monkeypatch.setattr(fs, "filesystem_type", lambda path: {"/nfs/n1": "nfs4"}.get(path, "ext4"))
    assert fs.network_filesystem_warning("/local/n1") is None
    warning = fs.network_filesystem_warning("/nfs/n1")
    assert warning.startswith("/nfs/n1 is on a network filesystem (nfs4)") and "local disk" in warning


def test_this_machine_and_an_unreadable_table(tmp_path):
    kind = fs.filesystem_type(str(tmp_path / "not" / "yet"))  # the real /proc/self/mountinfo and device
    assert kind is not None and kind not in fs.NETWORK_FILESYSTEMS
    assert fs.network_filesystem_warning(str(tmp_path)) is None
    assert fs.filesystem_type(str(tmp_path), str(tmp_path / "missing")) is None
