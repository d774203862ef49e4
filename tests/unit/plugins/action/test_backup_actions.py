"""The action plugins raft_backup, raft_backup_info and raft_restore (issue 14 item 1, issue 15 item 2): the
controller parts of the backup and restore roles (find, verify, push; fetch, verify, rename; the plans) with
module_utils' rules, the modules run on "the host" (here: in-process, through the same main() Ansible would ship).

Importing Ansible's controller code marks the process as the controller (module.warn() then displays instead of
returning warnings, for every later module test in this process): the plugins are imported inside the fixture and
the flag is put back after each test."""

import importlib
import json
import os
import shutil
import stat
import subprocess
from unittest import mock

import pytest
from ansible.module_utils import _internal as module_internal

from ansible_collections.opstack.conductor.plugins.module_utils import _raft as raft
from ansible_collections.opstack.conductor.plugins.modules import raft_backup, raft_backup_info, raft_restore, raft_state
from ansible_collections.opstack.conductor.tests.support.fs import tree
from ansible_collections.opstack.conductor.tests.support.modules import ModuleRun
from ansible_collections.opstack.conductor.tests.support.nodes import SERVERS, has_run

MAINS = {"opstack.conductor.raft_backup": raft_backup.main, "opstack.conductor.raft_backup_info": raft_backup_info.main,
         "opstack.conductor.raft_restore": raft_restore.main}
SERVICE = {"manage": False, "name": "op-conductor", "stop_command": "", "start_command": ""}


@pytest.fixture
def run_module(capsys):
    return ModuleRun(capsys)


@pytest.fixture
def plugins():
    was = module_internal.is_controller
    try:
        yield lambda name: importlib.import_module("ansible_collections.opstack.conductor.plugins.action." + name)
    finally:
        module_internal.is_controller = was


class Host:
    """What the action plugins reach on the host: module runs (in-process main()), copy and fetch, all recorded."""

    def __init__(self, run_module):
        self.run_module = run_module
        self.calls = []
        self.corrupt_fetched = None

    def execute_module(self, action):
        def _execute(module_name=None, module_args=None, task_vars=None, wrap_async=False):
            check = bool(action._task.check_mode)
            self.calls.append((module_name, dict(module_args), check))
            if module_name == "ansible.legacy.file":
                os.makedirs(module_args["path"], mode=0o700, exist_ok=True)
                return {"changed": True}
            return self.run_module(MAINS[module_name], module_args, check_mode=check)
        return _execute

    def run_action(self, action_name, args, task_vars):
        self.calls.append((action_name, dict(args), None))
        if action_name == "ansible.legacy.copy":
            shutil.copytree(args["src"], args["dest"])
        else:  # fetch
            os.makedirs(os.path.dirname(args["dest"]), exist_ok=True)
            shutil.copyfile(args["src"], args["dest"])
            if self.corrupt_fetched and args["dest"].endswith(self.corrupt_fetched):
                data = bytearray(open(args["dest"], "rb").read())
                data[5000] ^= 1
                open(args["dest"], "wb").write(bytes(data))
        return {"changed": True}

    def modules(self):
        return [(name, check) for name, _args, check in self.calls]


def action(plugins, host, name, args, check_mode=False):
    task = mock.MagicMock(args=args, check_mode=check_mode, diff=False, async_val=0)
    connection = mock.MagicMock(has_native_async=False)
    connection._shell.tmpdir = None
    plugin = plugins(name).ActionModule(task, connection, mock.MagicMock(), mock.MagicMock(), mock.MagicMock(), None)
    plugin._execute_module = host.execute_module(plugin)
    plugin._remove_tmp_path = mock.MagicMock()
    plugin.run_action = host.run_action
    return plugin


def node(run_module, root, server_id="seq-1"):
    path = os.path.join(str(root), server_id)
    assert not run_module(raft_state.main, dict(path=path, server_id=server_id, servers=SERVERS)).get("failed")
    return path


def backup(run_module, path, dest):
    made = run_module(raft_backup.main, dict(path=path, dest=str(dest)))
    assert made.get("changed"), made
    return made["backup_path"]


def test_without_controller_options_the_modules_run_alone(plugins, run_module, tmp_path):
    host = Host(run_module)
    made = backup(run_module, node(run_module, tmp_path / "n"), tmp_path / "b")
    args = dict(path=str(tmp_path / "b"), server_id="seq-1")
    result = action(plugins, host, "raft_backup_info", dict(args)).run(task_vars={})
    assert host.calls == [("opstack.conductor.raft_backup_info", args, False)]
    assert result["newest"] == made and [r["path"] for r in result["backups"]] == [made]
    restore = action(plugins, host, "raft_restore", dict(src=made, path=str(tmp_path / "n" / "seq-1"), remote_src=True))
    assert restore.run(task_vars={})["action"] == "unchanged"
    assert host.calls[-1] == ("opstack.conductor.raft_restore", dict(src=made, path=str(tmp_path / "n" / "seq-1")),
                              False)  # remote_src (the plugin's) is not passed on


def test_the_modules_alone_refuse_the_controller_options(run_module, tmp_path):
    refused = run_module(raft_restore.main, dict(src=str(tmp_path), path=str(tmp_path / "n"), remote_src=False))
    assert refused["failed"] and refused["msg"].startswith("remote_src: handled on the controller by the action")
    refused = run_module(raft_backup_info.main, dict(controller_path=str(tmp_path)))
    assert refused["failed"] and "controller_path: handled on the controller" in refused["msg"]
    refused = run_module(raft_backup.main, dict(path=str(tmp_path / "n"), dest=str(tmp_path / "b"),
                                                fetch_dest=str(tmp_path / "c")))
    assert refused["failed"] and "fetch_dest: handled on the controller" in refused["msg"]
    assert not os.path.exists(tmp_path / "b")


def test_choose_takes_the_newest_of_both_places_and_verifies_only_it_where_it_is(plugins, run_module, tmp_path):
    path = node(run_module, tmp_path / "n")
    old = backup(run_module, path, tmp_path / "controller")
    has_run(path, SERVERS, snapshot=False)
    new = backup(run_module, path, tmp_path / "host")
    host = Host(run_module)
    found = action(plugins, host, "raft_backup_info", dict(controller_path=str(tmp_path / "controller"),
                                                           path=str(tmp_path / "host"), server_id="seq-1",
                                                           choose=True, expected_servers=SERVERS)).run(task_vars={})
    assert (found["chosen"]["path"], found["chosen"]["where"], found["chosen"]["candidates"]) == (new, "the host", 2)
    assert [r["path"] for r in found["backups"]] == [new] and found["backups"][0]["usable"] and found["newest"] == new
    # One module run on the host (issue 15): it lists, ranks against the controller's newest and verifies its own.
    ((name, args, _check),) = host.calls
    assert (name, args["host_choice"]["path"], args["host_choice"]["rival"]["path"]) == (
        "opstack.conductor.raft_backup_info", str(tmp_path / "host"), old)
    assert old not in json.dumps(found["backups"]) and "host_run" not in found


def test_a_damaged_controller_backup_is_chosen_and_reported_and_none_says_where_it_looked(plugins, run_module, tmp_path):
    made = backup(run_module, node(run_module, tmp_path / "n"), tmp_path / "controller")
    log = os.path.join(made, raft.LOG_FILE)
    data = bytearray(open(log, "rb").read())
    data[5000] ^= 1
    open(log, "wb").write(bytes(data))
    host = Host(run_module)
    args = dict(controller_path=str(tmp_path / "controller"), server_id="seq-1")
    found = action(plugins, host, "raft_backup_info", dict(args)).run(task_vars={})
    assert found["chosen"]["where"] == "the controller" and host.calls == []  # read on the controller
    (report,) = found["backups"]
    assert not report["ok"] and "raft-log.db: sha256" in report["problems"][0]
    missing = dict(args, controller_path=str(tmp_path / "nothing"), path=str(tmp_path / "empty"))
    os.makedirs(tmp_path / "empty")
    none = action(plugins, host, "raft_backup_info", missing).run(task_vars={})
    assert none["chosen"] == {} and none["looked"] == "in %s on the controller nor in %s on the host (%s does not " \
        "exist or is not a directory)" % (tmp_path / "nothing", tmp_path / "empty", tmp_path / "nothing")


def preflight(plugins, host, path, found, check_mode=False, force=False):
    args = dict(path=path, server_id="seq-1", expected_servers=SERVERS, force=force,
                preflight=dict(found=found, service=SERVICE, default_places=True))
    return action(plugins, host, "raft_restore", args, check_mode=check_mode).run(task_vars={})["plan"]


def found_in(plugins, host, directory):
    return action(plugins, host, "raft_backup_info", dict(controller_path=str(directory), server_id="seq-1",
                                                          expected_servers=SERVERS)).run(task_vars={})


def test_the_restore_preflight_judges_each_node_in_one_check_run(plugins, run_module, tmp_path):
    path = node(run_module, tmp_path / "n")
    backup(run_module, path, tmp_path / "controller")
    host = Host(run_module)
    found = found_in(plugins, host, tmp_path / "controller")
    plan = preflight(plugins, host, path, found)
    assert (plan["action"], plan["problems"], plan["where"], plan["stop"]) == ("unchanged", [], "the controller", False)
    assert host.modules() == [("opstack.conductor.raft_restore", True)]  # one check run, on the host
    has_run(path, SERVERS, snapshot=False)  # the node moves on: the backup is older
    plan = preflight(plugins, host, path, found)
    assert len(plan["problems"]) == 1 and "is older than the node's log" in plan["problems"][0]
    forced = preflight(plugins, host, path, found, force=True)
    assert (forced["action"], forced["problems"], forced["lost"]["count"]) == ("restore", [], 39)
    shutil.rmtree(path)
    plan = preflight(plugins, host, path, found, check_mode=True)
    assert (plan["action"], plan["problems"], plan["predicted"]) == ("restore", [], True)


def test_the_restore_preflight_reports_a_missing_or_damaged_backup_without_judging(plugins, run_module, tmp_path):
    host = Host(run_module)
    plan = preflight(plugins, host, str(tmp_path / "n"), {"chosen": {}, "looked": "in /x on the controller"})
    assert plan["problems"] == ["no backup of server seq-1 in /x on the controller; the backup playbook keeps "
                                "backups on each host in conductor_backup_dest, and on the controller in "
                                "conductor_backup_fetch_dir/<host> with conductor_backup_fetch=true; set "
                                "conductor_restore_src (and conductor_restore_remote_src) to restore from elsewhere"]
    report = {"path": "/c/b", "problems": ["raft-log.db: sha256 x"], "mismatches": ["membership y"]}
    plan = preflight(plugins, host, str(tmp_path / "n"), {"chosen": {"path": "/c/b"}, "backups": [report]}, force=True)
    assert plan["problems"] == ["/c/b: raft-log.db: sha256 x"]
    assert host.calls == []


def lost_node_with_a_controller_backup(plugins, run_module, tmp_path, path):
    """The node at ``path`` backed up to the controller, then lost, and judged by the preflight: (the backup, the
    host, the stage step's arguments, which push it to tmp_path/staging)."""
    made = backup(run_module, path, tmp_path / "controller")
    shutil.rmtree(path)
    host = Host(run_module)
    plan = preflight(plugins, host, path, found_in(plugins, host, tmp_path / "controller"))
    return made, host, dict(path=path, server_id="seq-1", expected_servers=SERVERS,
                            staging_dir=str(tmp_path / "staging"), stage=plan)


def test_stage_pushes_a_controller_backup_and_checks_the_restore_on_the_copy(plugins, run_module, tmp_path):
    path = node(run_module, tmp_path / "n")
    made, host, args = lost_node_with_a_controller_backup(plugins, run_module, tmp_path, path)
    before = tree(str(tmp_path))
    dry = action(plugins, host, "raft_restore", dict(args), check_mode=True).run(task_vars={})
    assert (dry["changed"], dry["plan"]["host_backup"], dry["plan"]["pushed"]) == (False, "", False)
    assert tree(str(tmp_path)) == before
    host.calls.clear()
    staged = action(plugins, host, "raft_restore", dict(args)).run(task_vars={})
    copy = str(tmp_path / "staging" / os.path.basename(made))
    assert (staged["changed"], staged["plan"]["host_backup"], staged["plan"]["pushed"]) == (True, copy, True)
    assert staged["plan"]["problems"] == [] and not os.path.exists(path)  # checked, not restored
    assert host.modules() == [("ansible.legacy.file", False), ("ansible.legacy.copy", None),
                              ("opstack.conductor.raft_restore", True)]


def test_stage_takes_a_host_backup_as_the_preflight_verified_it_and_the_restore_verifies_it_again(
        plugins, run_module, tmp_path):
    """A backup already on the host was verified there by the preflight; the stage step does not run a third
    verification of it (issue 15), and a copy damaged after the preflight is still refused by the restore itself,
    before anything of the node changes."""
    path = node(run_module, tmp_path / "n")
    made = backup(run_module, path, tmp_path / "host")
    shutil.rmtree(path)
    host = Host(run_module)
    plan = restore_preflight(plugins, host, path, tmp_path)["plan"]
    assert (plan["where"], plan["action"], plan["problems"]) == ("the host", "restore", [])
    host.calls.clear()
    args = dict(path=path, server_id="seq-1", expected_servers=SERVERS, staging_dir=str(tmp_path / "staging"),
                stage=plan)
    staged = action(plugins, host, "raft_restore", args).run(task_vars={})
    assert (staged["changed"], staged["plan"]["host_backup"], staged["plan"]["pushed"]) == (False, made, False)
    assert staged["plan"]["problems"] == [] and host.calls == [] and not os.path.exists(tmp_path / "staging")
    with open(os.path.join(made, raft.LOG_FILE), "ab") as handle:
        handle.write(b"\0")  # damaged between the preflight and the restore
    refused = run_module(raft_restore.main, dict(src=made, path=path, server_id="seq-1", expected_servers=SERVERS))
    assert refused.get("failed") and "raft-log.db" in refused["msg"] and not os.path.exists(path), refused


def test_remote_src_false_pushes_then_restores_and_only_judges_in_check_mode(plugins, run_module, tmp_path):
    path = node(run_module, tmp_path / "n")
    made = backup(run_module, path, tmp_path / "controller")
    shutil.rmtree(path)
    host = Host(run_module)
    args = dict(src=made, remote_src=False, path=path, staging_dir=str(tmp_path / "staging"))
    dry = action(plugins, host, "raft_restore", dict(args), check_mode=True).run(task_vars={})
    assert dry["changed"] and not os.path.exists(tmp_path / "staging") and not os.path.exists(path)
    assert "src_manifest" in host.calls[-1][1] and "src" not in host.calls[-1][1]
    done = action(plugins, host, "raft_restore", dict(args)).run(task_vars={})
    assert done["changed"] and done["action"] == "restore" and os.path.isdir(path), done
    assert host.calls[-1][1]["src"] == done["pushed"] == str(tmp_path / "staging" / os.path.basename(made))


def test_backup_fetch_verifies_on_the_controller_before_the_rename(plugins, run_module, tmp_path):
    path = node(run_module, tmp_path / "n")
    has_run(path, SERVERS)  # with a snapshot directory to carry along
    host = Host(run_module)
    args = dict(path=path, dest=str(tmp_path / "b"), server_id="seq-1", fetch_dest=str(tmp_path / "c" / "seq-1"))
    made = action(plugins, host, "raft_backup", dict(args)).run(task_vars={})
    name = os.path.basename(made["backup_path"])
    assert made["fetched"] == str(tmp_path / "c" / "seq-1" / name) and os.listdir(tmp_path / "c" / "seq-1") == [name]
    fetched = sorted(args["src"][len(made["backup_path"]) + 1:] for action_name, args, _result in host.calls
                     if action_name == "ansible.legacy.fetch")
    assert fetched == sorted(["manifest.json"] + list(made["manifest"]["files"]))
    assert {k: v.digest for k, v in tree(made["fetched"]).items()} == \
        {k: v.digest for k, v in tree(made["backup_path"]).items()}
    host.corrupt_fetched = raft.LOG_FILE
    again = action(plugins, host, "raft_backup", dict(args, fetch_src=made["backup_path"])).run(task_vars={})
    assert again["failed"] and "does not verify (it is left there for inspection" in again["msg"], again
    assert os.path.isdir(tmp_path / "c" / "seq-1" / (".%s.unverified" % name))
    dry = action(plugins, host, "raft_backup", dict(args), check_mode=True).run(task_vars={})
    assert dry["changed"] and "fetched" not in dry and len(os.listdir(tmp_path / "b")) == 1


def test_backup_preflight_plans_every_node_without_failing_the_task(plugins, run_module, tmp_path):
    path = node(run_module, tmp_path / "n")
    host = Host(run_module)
    settings = dict(online=False, keep=0, fetch=False, fetch_dir="", service=SERVICE)
    args = dict(path=path, dest=str(tmp_path / "b"), server_id="seq-1", preflight=settings)
    result = action(plugins, host, "raft_backup", dict(args)).run(task_vars={})
    assert result["plan"] == {"server_id": "seq-1", "node_dir": path, "locked": False, "stop": False, "problems": []}
    assert host.calls == [("opstack.conductor.raft_backup", dict(path=path, dest=str(tmp_path / "b"),
                                                                 server_id="seq-1", online=True), True)]
    bad = dict(settings, keep=-1, fetch=True, service=dict(SERVICE, manage=True, stop_command="stop"))
    inside = dict(args, dest=os.path.join(path, "backups"), preflight=bad)
    problems = action(plugins, host, "raft_backup", inside).run(task_vars={})["plan"]["problems"]
    assert problems[1:] == [
        "conductor_backup_dest=%s/backups is inside the node directory %s; keep backups outside it" % (path, path),
        "set both conductor_service_stop_command and conductor_service_start_command, or neither (systemd unit "
        "op-conductor)", "conductor_backup_keep=-1: must be 0 (keep every backup) or more",
        "conductor_backup_fetch=true needs conductor_backup_fetch_dir"]
    assert "inside the node directory" in problems[0]  # the module's own refusal of the check run
    assert not os.path.exists(tmp_path / "b")


class Connection:
    """The host's end of a connection without become (issue 15): files move by fetch_file/put_file, shell commands
    run here; both recorded. ``corrupt``: a file name whose transferred copy gets one bit flipped."""

    def __init__(self, corrupt=None):
        self.become, self.corrupt, self.transfers, self.commands = None, corrupt, [], []
        self.has_native_async = False
        self._shell = mock.MagicMock(tmpdir=None)

    def _copy(self, source, target):
        self.transfers.append((source, target))
        shutil.copyfile(source, target)
        if self.corrupt and target.endswith("/" + self.corrupt):
            data = bytearray(open(target, "rb").read())
            data[5000] ^= 1
            open(target, "wb").write(bytes(data))

    fetch_file = put_file = _copy


def plain_action(plugins, host, connection, name, args, check_mode=False):
    """``action`` over a connection without become: low-level shell commands run for real."""
    plugin = action(plugins, host, name, args, check_mode)
    plugin._connection = connection

    def low_level(cmd, sudoable=True, **_kwargs):
        connection.commands.append(cmd)
        done = subprocess.run(["/bin/sh", "-c", cmd], capture_output=True, text=True, check=False, timeout=60)
        return {"rc": done.returncode, "stdout": done.stdout, "stderr": done.stderr}
    plugin._low_level_execute_command = low_level
    return plugin


def test_backup_fetch_without_become_runs_no_module_per_file_and_still_verifies(plugins, run_module, tmp_path):
    path = node(run_module, tmp_path / "n")
    has_run(path, SERVERS)  # with a snapshot directory to carry along
    host, connection = Host(run_module), Connection()
    args = dict(path=path, dest=str(tmp_path / "b"), server_id="seq-1", fetch_dest=str(tmp_path / "c" / "seq-1"))
    made = plain_action(plugins, host, connection, "raft_backup", dict(args)).run(task_vars={})
    name = os.path.basename(made["backup_path"])
    assert made["fetched"] == str(tmp_path / "c" / "seq-1" / name) and os.listdir(tmp_path / "c" / "seq-1") == [name]
    assert host.modules() == [("opstack.conductor.raft_backup", False)]  # the backup; no stat/slurp per file
    assert sorted(source[len(made["backup_path"]) + 1:] for source, _target in connection.transfers) == \
        sorted(["manifest.json"] + list(made["manifest"]["files"]))
    assert {k: v.digest for k, v in tree(made["fetched"]).items()} == \
        {k: v.digest for k, v in tree(made["backup_path"]).items()}
    damaged = Connection(corrupt=raft.LOG_FILE)
    again = plain_action(plugins, host, damaged, "raft_backup", dict(args, fetch_src=made["backup_path"]))
    again = again.run(task_vars={})
    assert again["failed"] and "does not verify (it is left there for inspection" in again["msg"], again
    assert "raft-log.db" in again["msg"]
    assert sorted(os.listdir(tmp_path / "c" / "seq-1")) == sorted([name, ".%s.unverified" % name])


def test_stage_without_become_puts_the_files_and_checks_the_copy_with_one_module_run(plugins, run_module, tmp_path):
    path = node(run_module, tmp_path / "n")
    has_run(path, SERVERS)  # with a snapshot directory to carry along
    made, host, args = lost_node_with_a_controller_backup(plugins, run_module, tmp_path, path)
    host.calls.clear()
    staged = plain_action(plugins, host, Connection(), "raft_restore", dict(args)).run(task_vars={})
    copy = str(tmp_path / "staging" / os.path.basename(made))
    assert (staged["changed"], staged["plan"]["host_backup"], staged["plan"]["pushed"]) == (True, copy, True)
    assert staged["plan"]["problems"] == [] and not os.path.exists(path)  # checked, not restored
    assert host.modules() == [("opstack.conductor.raft_restore", True)]  # the check; no file/stat/copy module
    assert {k: v.digest for k, v in tree(copy).items()} == {k: v.digest for k, v in tree(made).items()}
    modes = {os.path.relpath(os.path.join(d, n), copy): os.stat(os.path.join(d, n)).st_mode & 0o777
             for d, dirs, files in os.walk(copy) for n in dirs + files}
    assert stat.S_IMODE(os.stat(tmp_path / "staging").st_mode) == 0o700
    assert modes and all(mode == (0o700 if os.path.isdir(os.path.join(copy, rel)) else 0o600)
                         for rel, mode in modes.items()), modes
    shutil.rmtree(tmp_path / "staging")
    damaged = plain_action(plugins, host, Connection(corrupt=raft.LOG_FILE), "raft_restore", dict(args))
    problems = damaged.run(task_vars={})["plan"]["problems"]  # damaged in transit: the check on the host refuses it
    assert len(problems) == 1 and "raft-log.db: sha256" in problems[0] and not os.path.exists(path), problems


def restore_preflight(plugins, host, path, tmp_path, **extra):
    args = dict(path=path, server_id="seq-1", expected_servers=SERVERS,
                preflight=dict(find=dict(controller_path=str(tmp_path / "controller"), path=str(tmp_path / "host")),
                               service=SERVICE, default_places=True), **extra)
    return action(plugins, host, "raft_restore", args).run(task_vars={})


def test_the_one_host_run_judges_whichever_backup_is_newest_and_reports_what_it_could_not_do(plugins, run_module,
                                                                                             tmp_path):
    path = node(run_module, tmp_path / "n")
    on_host = backup(run_module, path, tmp_path / "host")
    has_run(path, SERVERS, snapshot=False)
    newest = backup(run_module, path, tmp_path / "controller")
    shutil.rmtree(path)  # a lost node: both backups could be restored, the controller's is newer
    host = Host(run_module)
    result = restore_preflight(plugins, host, path, tmp_path)
    assert (result["found"]["chosen"]["where"], result["plan"]["backup"], result["plan"]["problems"]) == (
        "the controller", newest, [])
    assert result["plan"]["action"] == "restore" and result["plan"]["last_index"] > 3
    assert host.modules() == [("opstack.conductor.raft_restore", True)]  # judged in the host's one run
    assert host.calls[0][1]["host_choice"]["rival"]["path"] == newest

    log = os.path.join(newest, raft.LOG_FILE)  # damaged on the controller: reported, never judged past
    data = bytearray(open(log, "rb").read())
    data[5000] ^= 1
    open(log, "wb").write(bytes(data))
    plan = restore_preflight(plugins, Host(run_module), path, tmp_path)["plan"]
    assert len(plan["problems"]) == 1 and plan["problems"][0].startswith(newest + ": ") and \
        "raft-log.db: sha256" in plan["problems"][0], plan

    shutil.rmtree(tmp_path / "controller")
    open(path, "w").close()  # the node directory is a file: the judgement fails, the choice is still reported
    result = restore_preflight(plugins, Host(run_module), path, tmp_path)
    assert (result["found"]["chosen"]["path"], result["found"]["backups"][0]["usable"]) == (on_host, True)
    assert len(result["plan"]["problems"]) == 1 and path in result["plan"]["problems"][0], result["plan"]


def test_the_preflight_reports_a_node_that_holds_its_backup_as_raft_state_info_would(plugins, run_module, tmp_path):
    """report_info (issue 15): the node the restore will leave as it is is read in the preflight's one host run,
    so the report after the restore does not read it again."""
    path = node(run_module, tmp_path / "n")
    backup(run_module, path, tmp_path / "host")
    host = Host(run_module)
    result = restore_preflight(plugins, host, path, tmp_path, report_info=True)
    assert result["plan"]["action"] == "unchanged" and host.modules() == [("opstack.conductor.raft_restore", True)]
    assert result["info"]["msg"] == "seq-1: ok, term 1, last index 1, 3 voters" and result["info"]["integrity"]["ok"]
    assert restore_preflight(plugins, Host(run_module), path, tmp_path)["info"] is None  # not asked


def test_the_restore_preflight_finds_verifies_and_judges_in_one_task(plugins, run_module, tmp_path):
    path = node(run_module, tmp_path / "n")
    made = backup(run_module, path, tmp_path / "host")
    has_run(path, SERVERS, snapshot=False)  # the node moves on: the backup is older
    host = Host(run_module)
    args = dict(path=path, server_id="seq-1", expected_servers=SERVERS,
                preflight=dict(find=dict(controller_path=str(tmp_path / "controller"), path=str(tmp_path / "host")),
                               service=SERVICE, default_places=True))
    result = action(plugins, host, "raft_restore", dict(args)).run(task_vars={})
    assert (result["found"]["chosen"]["path"], result["found"]["chosen"]["where"]) == (made, "the host")
    assert [r["path"] for r in result["found"]["backups"]] == [made] and result["found"]["backups"][0]["usable"]
    assert len(result["plan"]["problems"]) == 1 and "is older than the node's log" in result["plan"]["problems"][0]
    # One module run on the host (issue 15; it was a listing, a verification and a judgement): check mode.
    assert host.modules() == [("opstack.conductor.raft_restore", True)]
    assert host.calls[0][1]["host_choice"] == {"path": str(tmp_path / "host"), "rival": None}
    forced = action(plugins, host, "raft_restore", dict(args, force=True)).run(task_vars={})["plan"]
    assert (forced["action"], forced["problems"], forced["backup"]) == ("restore", [], made)
    nothing = dict(args, preflight=dict(args["preflight"], find=dict(controller_path=str(tmp_path / "none"), path="")))
    plan = action(plugins, host, "raft_restore", nothing).run(task_vars={})["plan"]
    assert plan["problems"] == ["no backup of server seq-1 in %s on the controller (%s does not exist or is not a "
                                "directory); the backup playbook keeps backups on each host in conductor_backup_dest, "
                                "and on the controller in conductor_backup_fetch_dir/<host> with "
                                "conductor_backup_fetch=true; set conductor_restore_src (and "
                                "conductor_restore_remote_src) to restore from elsewhere"
                                % (tmp_path / "none", tmp_path / "none")]


def test_host_choice_only_judges_and_needs_check_mode(run_module, tmp_path):
    path = node(run_module, tmp_path / "n")
    backup(run_module, path, tmp_path / "host")
    args = dict(path=path, server_id="seq-1", host_choice={"path": str(tmp_path / "host")})
    refused = run_module(raft_restore.main, dict(args))
    assert refused["failed"] and "it needs check mode" in refused["msg"], refused
    judged = run_module(raft_restore.main, dict(args), check_mode=True)
    outcome = (judged["chosen"]["where"], judged["judged"]["action"], judged["changed"])
    assert outcome == ("the host", "unchanged", False), judged
    # The chosen manifest is judged without being written into the module's parameters: they go back to the
    # controller as the invocation, which carried a second copy of the manifest (every file's digest) per host.
    assert judged["invocation"]["module_args"]["src_manifest"] is None, judged["invocation"]
