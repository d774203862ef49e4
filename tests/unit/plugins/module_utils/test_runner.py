"""_runner: the one module body (issue 14 item 2): what a module returns on success and on failure."""

import pytest

from ansible_collections.opstack.conductor.plugins.module_utils import _runner as runner
from ansible_collections.opstack.conductor.plugins.module_utils._errors import OpstackError


class Ended(Exception):
    pass


class FakeModule:
    """Records how the module ended; like AnsibleModule, exit_json and fail_json never return."""

    def __init__(self):
        self.ended = None

    def exit_json(self, **result):
        self.ended = ("exit", result)
        raise Ended()

    def fail_json(self, **result):
        self.ended = ("fail", result)
        raise Ended()


class Lock:
    def __init__(self):
        self.released = 0

    def release(self):
        self.released += 1


def run(work, result=None):
    module = FakeModule()
    with pytest.raises(Ended):
        runner.run(module, work, result)
    return module.ended


def test_success_exits_with_what_the_work_returns_or_the_partial_result():
    assert run(lambda module, result: dict(result, done=True), dict(changed=False)) == (
        "exit", dict(changed=False, done=True))
    assert run(lambda module, result: result.update(changed=True), dict(changed=False)) == (
        "exit", dict(changed=True))


def test_a_refusal_fails_with_the_partial_result_and_its_message():
    def work(module, result):
        result.update(changed=True, locked=False)
        raise OpstackError("seq-1: refused")
    assert run(work, dict(changed=False)) == ("fail", dict(changed=True, locked=False, msg="seq-1: refused"))


def test_a_failure_adds_and_overrides_result_keys():
    def work(module, result):
        result["removed"] = ["x"]
        raise runner.Failure("moving it aside failed", changed=False, action="refuse")
    assert run(work, dict(changed=True)) == (
        "fail", dict(changed=False, removed=["x"], action="refuse", msg="moving it aside failed"))


def test_a_bug_is_not_a_refusal():
    def work(module, result):
        raise ValueError("a bug")
    module = FakeModule()
    with pytest.raises(ValueError):
        runner.run(module, work, {})
    assert module.ended is None


@pytest.mark.parametrize("outcome", [None, OpstackError("refused"), KeyError("bug")])
def test_held_locks_are_released_however_the_run_ends(outcome):
    locks = [Lock(), Lock()]

    def work(module, result):
        for lock in locks:
            runner.hold(lock)
        if outcome is not None:
            raise outcome
    module = FakeModule()
    with pytest.raises((Ended, KeyError)):
        runner.run(module, work, {})
    assert [lock.released for lock in locks] == [1, 1] and runner.held() == []


def test_releases_held_wraps_a_main_not_on_run():
    lock = Lock()

    @runner.releases_held
    def main():
        runner.hold(lock)
        raise SystemExit(0)
    with pytest.raises(SystemExit):
        main()
    assert lock.released == 1 and main.__name__ == "main"
