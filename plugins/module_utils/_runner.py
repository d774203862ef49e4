# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one body every module's main() runs: the failure result shape is set here and nowhere else.

A module's ``main()`` builds its AnsibleModule and calls :func:`run` with a work function. Any
:class:`~._errors.OpstackError` the work raises (a refusal, a bad input, a node that cannot be read) fails the
module with the error's message on top of the partial result the work has filled in so far; :class:`Failure`
adds result keys of its own. Every other exception is a bug and surfaces as a traceback. Run locks handed to
:func:`hold` are released when the module ends, whichever way it ends.

It imports only ``_errors``, so the live modules (which read no Raft state) do not ship the filesystem layer.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Dict, List, Optional

from ansible_collections.opstack.conductor.plugins.module_utils._errors import OpstackError

# What a module run holds until it ends (run locks: issue 13 item 3); anything with release().
_HELD = []  # type: List[Any]


class Failure(OpstackError):
    """Fail the module with ``msg`` and these result keys (they override the partial result's)."""

    def __init__(self, msg: str, **result: Any):
        super().__init__(msg)
        self.msg = msg
        self.result = result


def hold(lock: Any) -> Any:
    """Keep ``lock`` (taken already) until the module ends; returns it."""
    _HELD.append(lock)
    return lock


def held() -> List[Any]:
    """What this run holds now (read-only use: the run locks taken so far)."""
    return list(_HELD)


def failure_result(partial: Dict[str, Any], exc: OpstackError) -> Dict[str, Any]:
    """The result a failed module returns: the partial result, the error's own keys, and its message."""
    result = dict(partial)
    result.update(getattr(exc, "result", None) or {})
    result["msg"] = exc.msg if isinstance(exc, Failure) else str(exc)
    return result


def releases_held(main: Callable[[], None]) -> Callable[[], None]:
    """Wrap a main() that does not use :func:`run` (yet) so what it holds is released when it ends."""
    @functools.wraps(main)
    def wrapped() -> None:
        depth = len(_HELD)
        try:
            main()
        finally:
            _release(depth)
    return wrapped


def run(module, work: Callable[[Any, Dict[str, Any]], Optional[Dict[str, Any]]],
        result: Optional[Dict[str, Any]] = None) -> None:
    """Run ``work(module, result)`` and end the module: exit_json with what it returns (``result`` itself when
    it returns None); fail_json with :func:`failure_result` when it raises an OpstackError. ``result`` is the
    partial result the work fills in as it goes, so a failure reports what was already done."""
    partial = {} if result is None else result
    depth = len(_HELD)
    try:
        try:
            final = work(module, partial)
        except OpstackError as exc:
            module.fail_json(**failure_result(partial, exc))
            return  # not reached: fail_json exits (a test double that returns must not exit_json as well)
        module.exit_json(**(partial if final is None else final))
    finally:
        _release(depth)


def _release(depth: int) -> None:
    while len(_HELD) > depth:
        _HELD.pop().release()
