"""Issue 17 item 5 against the real op-conductor v1.19.0: a setting from the inventory reaches op-conductor through
the environment file the role writes and the start hook loads (as systemd's EnvironmentFile= would). The observable
is the paused start: the hook's command line carries no --paused (op-conductor's default is unpaused, shown by a
start without the file), and after the membership playbook started every conductor with conductor_paused_start=true
in the file, every conductor_paused answers true. The other settings in the file are accepted by op-conductor (it
starts). A rerun changes nothing."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

from harness import HERE, IDS, ConductorCluster
from playbook_runs import playbook, write_inventory

SETTINGS = {"conductor_paused_start": True, "conductor_raft_snapshot_interval": "30s",
            "conductor_raft_trailing_logs": 512, "conductor_raft_round_robin_leader_transfer": True,
            "conductor_healthcheck_safe_interval": 600}


def without_paused_flag(spec_path):
    """The start hook's command lines without --paused: op-conductor takes the paused start from its environment
    (a flag would override the file)."""
    spec = json.loads(spec_path.read_text())
    for entry in spec.values():
        entry["argv"] = [arg for arg in entry["argv"] if not arg.startswith("--paused")]
    spec_path.write_text(json.dumps(spec, indent=1))


def hook(action, spec_path, sid, env_file=""):
    env = dict(os.environ, CONDUCTOR_ACTION=action, CONDUCTOR_SERVER_ID=sid, CONDUCTOR_ENV_FILE=env_file)
    subprocess.run([sys.executable, str(HERE / "conductorctl.py"), action, "--spec", str(spec_path), "--node", sid],
                   check=True, env=env, capture_output=True, timeout=30)


def test_the_paused_start_setting_reaches_op_conductor_through_the_env_file_and_the_hook(op_conductor, workdir):
    c = ConductorCluster(op_conductor, workdir / "cluster", IDS)
    c.deploy_state()
    c.start_stubs()
    try:
        env_files = workdir / "etc"
        env_files.mkdir()
        inventory = write_inventory(c, workdir, group_vars=dict(
            SETTINGS, conductor_env_file=str(env_files) + "/{{ inventory_hostname }}.env"))
        spec = workdir / "conductors.json"
        without_paused_flag(spec)

        # Control: the same command line started by the hook without the file runs unpaused (the default).
        hook("start", spec, IDS[0])
        c.adopt()
        c.wait_rpc(IDS[0])
        assert c.rpc(IDS[0], "conductor_paused") is False
        c.stop(IDS[0])

        run = playbook(workdir, "membership", inventory)
        assert sorted(c.adopt()) == sorted(IDS)
        assert run.rc == 0, run
        for sid in IDS:
            path = env_files / f"{sid}.env"
            lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
            assert lines == ["OP_CONDUCTOR_RAFT_ROUND_ROBIN_LEADER_TRANSFER=true",
                             "OP_CONDUCTOR_RAFT_SNAPSHOT_INTERVAL=30s", "OP_CONDUCTOR_RAFT_TRAILING_LOGS=512",
                             "OP_CONDUCTOR_HEALTHCHECK_SAFE_INTERVAL=600", "OP_CONDUCTOR_PAUSED=true"], lines
            assert stat.S_IMODE(path.stat().st_mode) == 0o644
            assert "OP_CONDUCTOR_PAUSED=true" in c.nodes[sid].log_path.read_text()  # the hook loaded the file
            assert c.rpc(sid, "conductor_paused") is True, c.log_tail(sid)
        c.wait_leader()

        again = playbook(workdir, "membership", inventory)
        assert again.rc == 0 and again.changed == 0, again
        assert all(c.rpc(sid, "conductor_paused") is True for sid in IDS)
    finally:
        c.close()
