"""Issue 14 item 6: an operation imports only what it needs. hashlib costs 15-30 ms of start-up on the loaded
test machine (it loads OpenSSL's libcrypto through _hashlib), so the entries that hash nothing keep it out: the
summary/verify entry (_node_state), generate (_cluster, _fs) and deploy's planning (_state_plan). Under Ansible,
ansible.module_utils.basic imports hashlib itself; the gain is for the module_utils used as a library (the
benchmarks' ours.py, which B2/B5 compare with Go). Each check runs in a fresh interpreter."""

import os
import subprocess
import sys

import pytest

from ansible_collections.opstack.conductor.plugins.module_utils import _fs as fs

PACKAGE = "ansible_collections.opstack.conductor.plugins.module_utils."
ROOT = os.path.normpath(os.path.join(os.path.dirname(fs.__file__), "..", "..", "..", "..", ".."))


def _imported(modules):
    code = "import sys\n%s\nprint(','.join(sorted(m for m in ('hashlib', '_hashlib') if m in sys.modules)))" % (
        "\n".join("import %s%s" % (PACKAGE, name) for name in modules))
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True,
                         timeout=120)
    return out.stdout.strip()


@pytest.mark.parametrize("modules", [["_node_state"], ["_cluster", "_fs"], ["_state_plan"]],
                         ids=["summary-verify", "generate", "deploy-plan"])
def test_entries_that_hash_nothing_do_not_import_hashlib(modules):
    assert _imported(modules) == ""


def test_write_new_file_hashes_only_when_asked(tmp_path):
    digest, size = fs.write_new_file(str(tmp_path / "a"), [b"ab", b"c"], 0o600)
    assert (digest, size) == ("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", 3)
    assert fs.write_new_file(str(tmp_path / "b"), b"abc", 0o600, checksum=False) == (None, 3)
    assert (tmp_path / "b").read_bytes() == b"abc"
