"""Issue 13 item 6: every path and mode option of every Raft module is validated in full before anything touches
disk. Each bad input the adversarial run found, in each module that takes such an option: the run fails with a
message naming the option (and a shortened value), and the whole tmp tree (names, modes, owners, bytes) is the
same before and after, in check mode too."""

import os

import pytest

from ansible_collections.opstack.conductor.plugins.module_utils import _options as options
from ansible_collections.opstack.conductor.plugins.modules import (raft_backup, raft_backup_info, raft_restore,
                                                                   raft_state, raft_state_info)
from ansible_collections.opstack.conductor.tests.support.nodes import SERVERS
from ansible_collections.opstack.conductor.tests.support.fs import tree

DEEP = "/".join(["x"] * 2500)  # 5000 bytes: it once made 2039 nested directories before failing
LONG_NAME = "y" * 300  # one component past NAME_MAX

BAD_MODES = [
    ("-1", "0-1"),  # became 07777
    ("7" * 30, "huge-str"),  # raised OverflowError
    (1 << 70, "huge-int"),
    (-1, "negative-int"),
    ("u=rwx", "symbolic"),
    ("4750", "setuid"),
    ("0777", "world-writable"),
    (True, "bool"),
]
BAD_DIRECTORY_MODES = BAD_MODES + [("0600", "no-owner-x"), ("0500", "no-owner-w")]
BAD_FILE_MODES = BAD_MODES + [("0400", "read-only"), ("0700", "executable"), ("0666", "world-writable-file")]
BAD_PATHS = [("a\x00b", "nul"), (DEEP, "5000-bytes"), (LONG_NAME + "/seq-1", "long-component")]


@pytest.fixture
def backup_src(tmp_path, run_module):
    """A real node and a verified backup of it, so that only the option under test can be wrong."""
    node = str(tmp_path / "raft" / "seq-1")
    assert run_module(raft_state.main, dict(path=node, server_id="seq-1", servers=SERVERS))["changed"]
    made = run_module(raft_backup.main, dict(path=node, dest=str(tmp_path / "backups")))
    assert made["changed"], made
    return node, made["backup_path"]


def fails_naming(run_module, tmp_path, main, args, field, check_mode=False):
    before = tree(tmp_path)
    result = run_module(main, args, check_mode=check_mode)
    assert result.get("failed"), result
    assert result["msg"].startswith(field + "="), result["msg"]
    assert len(result["msg"]) < 700, "a huge value must be cut in the message"
    assert tree(tmp_path) == before
    return result


def under(tmp_path, relative):
    return str(tmp_path / "missing-parent") + "/" + relative


@pytest.mark.parametrize("check_mode", [False, True], ids=["run", "check"])
@pytest.mark.parametrize("value", [v for v, _id in BAD_DIRECTORY_MODES], ids=[i for _value, i in BAD_DIRECTORY_MODES])
def test_raft_state_directory_mode(tmp_path, run_module, value, check_mode):
    args = dict(path=under(tmp_path, "seq-1"), server_id="seq-1", servers=SERVERS, directory_mode=value)
    fails_naming(run_module, tmp_path, raft_state.main, args, "directory_mode", check_mode)


@pytest.mark.parametrize("check_mode", [False, True], ids=["run", "check"])
@pytest.mark.parametrize("value", [v for v, _id in BAD_FILE_MODES], ids=[i for _value, i in BAD_FILE_MODES])
def test_raft_state_mode(tmp_path, run_module, value, check_mode):
    args = dict(path=under(tmp_path, "seq-1"), server_id="seq-1", servers=SERVERS, mode=value)
    fails_naming(run_module, tmp_path, raft_state.main, args, "mode", check_mode)


@pytest.mark.parametrize("value", [v for v, _id in BAD_PATHS] + [""], ids=[i for _value, i in BAD_PATHS] + ["empty"])
def test_raft_state_path(tmp_path, run_module, monkeypatch, value):
    # path="" once resolved to the working directory and raft_state tried to swap it: keep that inside tmp_path.
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    path = under(tmp_path, value) if value else value
    args = dict(path=path, server_id="seq-1", servers=SERVERS)
    fails_naming(run_module, tmp_path, raft_state.main, args, "path")


def test_raft_state_on_an_existing_node_with_a_bad_mode_changes_nothing(tmp_path, run_module):
    node = str(tmp_path / "seq-1")
    assert run_module(raft_state.main, dict(path=node, server_id="seq-1", servers=SERVERS))["changed"]
    for field, value in (("mode", "-1"), ("mode", "0666"), ("directory_mode", "-1"), ("directory_mode", "0777")):
        args = dict(path=node, server_id="seq-1", servers=SERVERS, force=True, **{field: value})
        fails_naming(run_module, tmp_path, raft_state.main, args, field)


@pytest.mark.parametrize("value", [v for v, _id in BAD_DIRECTORY_MODES], ids=[i for _value, i in BAD_DIRECTORY_MODES])
def test_raft_restore_directory_mode(tmp_path, run_module, backup_src, value):
    _node, src = backup_src
    args = dict(src=src, path=under(tmp_path, "seq-1"), directory_mode=value)
    fails_naming(run_module, tmp_path, raft_restore.main, args, "directory_mode")


@pytest.mark.parametrize("field", ["src", "path"])
@pytest.mark.parametrize("value", [v for v, _id in BAD_PATHS], ids=[i for _value, i in BAD_PATHS])
def test_raft_restore_paths(tmp_path, run_module, backup_src, field, value):
    _node, src = backup_src
    args = dict(src=src, path=under(tmp_path, "seq-1"), server_id="seq-1")
    args[field] = under(tmp_path, value)
    fails_naming(run_module, tmp_path, raft_restore.main, args, field)


@pytest.mark.parametrize("field", ["path", "dest"])
@pytest.mark.parametrize("value", [v for v, _id in BAD_PATHS], ids=[i for _value, i in BAD_PATHS])
def test_raft_backup_paths(tmp_path, run_module, backup_src, field, value):
    node, _src = backup_src
    args = dict(path=node, dest=under(tmp_path, "backups"))
    args[field] = under(tmp_path, value)
    fails_naming(run_module, tmp_path, raft_backup.main, args, field)


@pytest.mark.parametrize("main", [raft_state_info.main, raft_backup_info.main], ids=["state_info", "backup_info"])
@pytest.mark.parametrize("value", [v for v, _id in BAD_PATHS], ids=[i for _value, i in BAD_PATHS])
def test_info_modules_paths(tmp_path, run_module, main, value):
    fails_naming(run_module, tmp_path, main, dict(path=under(tmp_path, value)), "path")


def test_good_modes_as_strings_and_yaml_octal_ints(tmp_path, run_module):
    """YAML reads an unquoted 0750 as the int 488: taken as that mode, like ansible.builtin.file does."""
    node = str(tmp_path / "a" / "seq-1")
    result = run_module(raft_state.main, dict(path=node, server_id="seq-1", servers=SERVERS, mode=0o640,
                                              directory_mode=0o710))
    assert result["changed"], result
    assert os.stat(node).st_mode & 0o7777 == 0o710
    assert os.stat(os.path.join(node, "raft-log.db")).st_mode & 0o7777 == 0o640
    node = str(tmp_path / "b" / "seq-1")
    result = run_module(raft_state.main, dict(path=node, server_id="seq-1", servers=SERVERS, mode="664",
                                              directory_mode="0775"))
    assert result["changed"], result
    assert os.stat(node).st_mode & 0o7777 == 0o775


# ================================================================================================================
# The helper alone
# ================================================================================================================


@pytest.mark.parametrize("value,mode", [("0600", 0o600), ("600", 0o600), ("00640", 0o640), (0o664, 0o664)])
def test_file_mode_accepts(value, mode):
    assert options.file_mode("mode", value) == mode


@pytest.mark.parametrize("value,mode", [("0700", 0o700), ("0750", 0o750), (0o775, 0o775)])
def test_directory_mode_accepts(value, mode):
    assert options.directory_mode("directory_mode", value) == mode


def test_path_limits_count_bytes_and_room():
    name_max = os.pathconf("/", "PC_NAME_MAX")
    path_max = os.pathconf("/", "PC_PATH_MAX") - 1
    assert options.check_path("p", "/" + "z" * name_max) == "/" + "z" * name_max
    with pytest.raises(options.OptionError, match="component of %d bytes" % (name_max + 1)):
        options.check_path("p", "/" + "z" * (name_max + 1))
    with pytest.raises(options.OptionError, match="component of %d bytes" % (2 * 128)):
        options.check_path("p", "/" + "\u00e9" * 128)  # 128 characters, 256 bytes of UTF-8
    fits = "/" + "/".join(["d" * 100] * 50)
    fits = fits[:path_max - 11] + "e"  # not ending in "/", which abspath would drop
    assert options.check_path("p", fits, room=10)
    with pytest.raises(options.OptionError, match="PATH_MAX"):
        options.check_path("p", fits, room=11)
    assert options.check_path("p", "relative/x") == os.path.join(os.getcwd(), "relative/x")


def test_messages_cut_huge_values():
    with pytest.raises(options.OptionError) as caught:
        options.check_path("dest", "/" + "/".join(["x"] * 2500))
    assert str(caught.value).startswith("dest='/x/x/x") and "(5000 bytes)" in str(caught.value)
    assert len(str(caught.value)) < 400
