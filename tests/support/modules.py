"""Run a module's main() in-process (ansible-core 2.19's patch_module_args) and return its JSON result."""

import json

import pytest
from ansible.module_utils.testing import patch_module_args


class ModuleRun:
    def __init__(self, capsys):
        self.capsys = capsys

    def __call__(self, main, args, check_mode=False, diff=False):
        args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
        with patch_module_args(args):
            with pytest.raises(SystemExit):
                main()
        return json.loads(self.capsys.readouterr().out)
