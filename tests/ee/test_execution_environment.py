"""Execution environment (make test-ee): `ansible-builder create` on tests/ee/execution-environment.yml with the
checkout's collection tarball makes a build context that installs opstack.conductor, and the context's own
introspection (what its builder stage runs) finds msgpack through the collection's meta/execution-environment.yml.
No container engine here, so the image itself is not built."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile

import pytest
import yaml

from ansible_collections.opstack.conductor.tests.support.playbooks import REPO, ansible_env, tool

EE_DEFINITION = os.path.join(REPO, "tests", "ee", "execution-environment.yml")
TOOL_TIMEOUT = 300  # seconds: a bound on a hung tool, not a speed check


def _run(argv, cwd, env):
    result = subprocess.run(argv, cwd=str(cwd), env=env, capture_output=True, text=True, check=False,
                            timeout=TOOL_TIMEOUT)
    assert result.returncode == 0, "%s\n%s%s" % (" ".join(argv), result.stdout[-3000:], result.stderr[-3000:])
    return result.stdout


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    """(build context directory, environment) made from the checkout's tarball."""
    tmp = tmp_path_factory.mktemp("ee")
    env = ansible_env(tmp)
    _run([tool("ansible-galaxy"), "collection", "build", REPO, "--output-path", str(tmp / "dist")], tmp, env)
    (tarball,) = os.listdir(tmp / "dist")
    shutil.copy(EE_DEFINITION, tmp / "execution-environment.yml")
    shutil.copy(tmp / "dist" / tarball, tmp / "opstack-conductor.tar.gz")
    _run([tool("ansible-builder"), "create", "-f", "execution-environment.yml", "-c", "context",
          "--output-filename", "Containerfile"], tmp, env)
    return tmp / "context", env


def test_context_installs_the_collection_from_its_tarball(context):
    directory, _env = context
    with open(directory / "_build" / "requirements.yml", encoding="utf-8") as handle:
        galaxy = yaml.safe_load(handle)
    (entry,) = galaxy["collections"]
    assert entry["type"] == "file"
    tarball = directory / "_build" / entry["name"]  # the galaxy stage runs in /build, the context's _build/
    with tarfile.open(tarball) as archive:
        manifest = yaml.safe_load(archive.extractfile("MANIFEST.json"))
        shipped = set(archive.getnames())
        ee_meta = yaml.safe_load(archive.extractfile("meta/execution-environment.yml"))
        python_requirements = archive.extractfile(ee_meta["dependencies"]["python"]).read().decode()
    assert (manifest["collection_info"]["namespace"], manifest["collection_info"]["name"]) == ("opstack", "conductor")
    assert {"meta/execution-environment.yml", "requirements.txt", "bindep.txt"} <= shipped
    assert any(line.startswith("msgpack") for line in python_requirements.splitlines()), python_requirements
    containerfile = (directory / "Containerfile").read_text(encoding="utf-8")
    assert "ansible-galaxy collection install" in containerfile and "-r requirements.yml" in containerfile
    assert "introspect.py introspect" in containerfile


def test_context_introspection_names_msgpack_for_the_collection(context, tmp_path):
    """What the builder stage does: install the context's requirements.yml (from /build), then introspect."""
    directory, _env = context
    env = ansible_env(tmp_path, collections_path=str(tmp_path / "collections"))  # not the checkout's link
    _run([tool("ansible-galaxy"), "collection", "install", "-r", "requirements.yml", "--collections-path",
          str(tmp_path / "collections")], directory / "_build", env)
    _run([tool("python"), str(directory / "_build" / "scripts" / "introspect.py"), "introspect",
          str(tmp_path / "collections"), "--write-pip", str(tmp_path / "requirements.txt"),
          "--write-bindep", str(tmp_path / "bindep.txt")], tmp_path, env)
    written = tmp_path / "requirements.txt"  # introspect writes it only when some collection names a requirement
    pip_lines = written.read_text(encoding="utf-8").splitlines() if written.exists() else []
    msgpack = [line for line in pip_lines if line.startswith("msgpack")]
    assert msgpack and "opstack.conductor" in msgpack[0], pip_lines
    with open(os.path.join(REPO, "requirements.txt"), encoding="utf-8") as handle:
        wanted = [line.strip() for line in handle if line.strip().startswith("msgpack")]
    assert msgpack[0].split("#")[0].strip() == wanted[0]
    bindep = (tmp_path / "bindep.txt").read_text(encoding="utf-8")
    assert "python3-msgpack" in bindep and "managed" in bindep  # the managed hosts' profile, not the EE's
