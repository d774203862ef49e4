"""Run a module's main() in-process (ansible-core 2.19's patch_module_args) and return its JSON result."""

import json

import pytest
from ansible.module_utils.common import warnings as ansible_warnings
from ansible.module_utils.testing import patch_module_args


class ModuleRun:
    def __init__(self, capsys):
        self.capsys = capsys

    def __call__(self, main, args, check_mode=False, diff=False):
        args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
        _forget_earlier_warnings()
        with patch_module_args(args):
            with pytest.raises(SystemExit):
                main()
        return json.loads(self.capsys.readouterr().out)


def _forget_earlier_warnings():
    """A real module run is a fresh process; here, ansible-core's process-global warning and deprecation records
    would carry one run's warnings into the next run's result."""
    ansible_warnings._global_warnings.clear()  # pylint: disable=protected-access
    ansible_warnings._global_deprecations.clear()  # pylint: disable=protected-access
