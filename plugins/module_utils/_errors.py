# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one root of every error this collection raises on purpose (a leaf: imports nothing of ours).

A module catches ``OpstackError`` to turn a refusal or a bad input into a failed result with its message, and lets
everything else (a bug) surface as a traceback. Subclasses keep their older bases (``ValueError`` for the input
errors) so existing callers keep working.
"""

from __future__ import annotations


class OpstackError(Exception):
    """A failure this collection detected and can explain: the message names the path, field or value."""
