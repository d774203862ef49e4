"""conductor_report_file (issue 19 item 3): the fleet view's JSON and textfile are written as node_exporter's
textfile collector needs (a new file in the same directory, not named *.prom, renamed over the old one), only when
they changed, never in check mode, and never through a symlink."""

import os
import stat

from ansible_collections.opstack.conductor.plugins.modules import conductor_report_file

TEXT = "# HELP opstack_conductor_raft_term t\n# TYPE opstack_conductor_raft_term gauge\n" \
       'opstack_conductor_raft_term{cluster="c",server="a"} 3\n'


def write(run_module, path, content=TEXT, **extra):
    return run_module(conductor_report_file.main, dict(path=str(path), content=content, **extra))


def test_written_then_a_rerun_changes_nothing(run_module, tmp_path):
    target = tmp_path / "conductor.prom"
    first = write(run_module, target)
    assert first["changed"] and target.read_text() == TEXT and first["size"] == len(TEXT)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    inode, mtime = target.stat().st_ino, target.stat().st_mtime_ns
    again = write(run_module, target)
    assert not again["changed"] and (target.stat().st_ino, target.stat().st_mtime_ns) == (inode, mtime)
    assert sorted(os.listdir(tmp_path)) == ["conductor.prom"]


def test_the_new_text_is_renamed_over_the_old_from_the_same_directory_never_a_prom_name(
        run_module, tmp_path, monkeypatch):
    target = tmp_path / "conductor.prom"
    target.write_text("old\n")
    seen = []
    real_replace = os.replace

    def replace(source, destination):
        # What a reader (node_exporter) sees at the moment of the rename: the whole old file, and no other .prom.
        seen.append((os.path.dirname(source), os.path.basename(source), target.read_text(),
                     [name for name in os.listdir(tmp_path) if name.endswith(".prom")]))
        real_replace(source, destination)

    monkeypatch.setattr(conductor_report_file.os, "replace", replace)
    assert write(run_module, target)["changed"]
    assert len(seen) == 1
    directory, name, visible, prom_files = seen[0]
    assert directory == str(tmp_path) and name.startswith(".conductor.prom.opstack-new-")
    assert not name.endswith(".prom") and visible == "old\n" and prom_files == ["conductor.prom"]
    assert target.read_text() == TEXT and sorted(os.listdir(tmp_path)) == ["conductor.prom"]


def test_check_mode_and_diff_write_nothing(run_module, tmp_path):
    target = tmp_path / "fleet.json"
    target.write_text("{}\n")
    result = run_module(conductor_report_file.main, dict(path=str(target), content="{\"a\": 1}\n"), check_mode=True,
                        diff=True)
    assert result["changed"] and result["diff"]["before"] == "{}\n" and result["diff"]["after"] == "{\"a\": 1}\n"
    assert target.read_text() == "{}\n" and sorted(os.listdir(tmp_path)) == ["fleet.json"]


def test_only_the_mode_differs(run_module, tmp_path):
    target = tmp_path / "conductor.prom"
    target.write_text(TEXT)
    os.chmod(target, 0o600)
    inode = target.stat().st_ino
    assert write(run_module, target, mode="0640")["changed"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o640 and target.stat().st_ino == inode


def test_refusals_name_the_path_and_write_nothing(run_module, tmp_path):
    elsewhere = tmp_path / "elsewhere.prom"
    elsewhere.write_text("theirs\n")
    link = tmp_path / "conductor.prom"
    link.symlink_to(elsewhere)
    refused = write(run_module, link)
    assert refused["failed"] and "symlink" in refused["msg"] and str(link) in refused["msg"]
    assert elsewhere.read_text() == "theirs\n" and os.path.islink(link)
    missing = write(run_module, tmp_path / "no-such-dir" / "conductor.prom")
    assert missing["failed"] and "does not exist" in missing["msg"] and "no-such-dir" in missing["msg"]
    (tmp_path / "a-dir.prom").mkdir()
    directory = write(run_module, tmp_path / "a-dir.prom")
    assert directory["failed"] and "not a regular file" in directory["msg"]
    wide = write(run_module, tmp_path / "wide.prom", mode="0666")
    assert wide["failed"] and "mode='0666'" in wide["msg"] and not (tmp_path / "wide.prom").exists()
    assert sorted(os.listdir(tmp_path)) == ["a-dir.prom", "conductor.prom", "elsewhere.prom"]
