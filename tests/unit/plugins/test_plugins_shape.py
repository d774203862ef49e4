"""Shape guards of issue 14's "Done when": no shipped function in plugins/ over ~40 lines, and no block of six or more
lines repeated inside plugins/.

Repetition is looked for in code: each line stripped, blank and comment lines dropped, import statements and the
documentation YAML left out (a module's DOCUMENTATION, EXAMPLES and RETURN, and the doc fragments' strings: what is
shared there is shared through extends_documentation_fragment, and per-module attribute blocks are Ansible's format).
A block found twice (in one file or in two) fails with both places; fold it into a function of module_utils (or a
doc fragment) instead of copying it.
"""

from __future__ import annotations

import ast
import os
from typing import Dict, Iterator, List, Sequence, Set, Tuple

PLUGINS = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "plugins"))
MAX_FUNCTION_LINES = 40
BLOCK = 6
DOC_STRINGS = {"DOCUMENTATION", "EXAMPLES", "RETURN"}


def _sources() -> Iterator[Tuple[str, str]]:
    for folder, dirs, files in os.walk(PLUGINS):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                with open(path, encoding="utf-8") as handle:
                    yield os.path.relpath(path, os.path.dirname(PLUGINS)), handle.read()


def long_functions(source: str, limit: int = MAX_FUNCTION_LINES) -> List[Tuple[str, int, int]]:
    """(name, first line, lines) of every function or method longer than ``limit`` lines, decorators excluded."""
    return [(node.name, node.lineno, node.end_lineno - node.lineno + 1) for node in ast.walk(ast.parse(source))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > limit]


def _lines_of(nodes: Sequence[ast.AST]) -> Set[int]:
    return {line for node in nodes for line in range(node.lineno, node.end_lineno + 1)}


def _skipped_lines(tree: ast.Module) -> Set[int]:
    """Import statements anywhere, documentation strings at module level and in doc fragment classes."""
    skipped = [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]
    bodies = [tree.body] + [node.body for node in tree.body
                            if isinstance(node, ast.ClassDef) and node.name == "ModuleDocFragment"]
    for body in bodies:
        for node in body:
            if not isinstance(node, ast.Assign) or not isinstance(node.value, ast.Constant):
                continue
            names = [target.id for target in node.targets if isinstance(target, ast.Name)]
            if body is not tree.body or any(name in DOC_STRINGS for name in names):
                skipped.append(node)
    return _lines_of(skipped)


def code_lines(source: str) -> List[Tuple[int, str]]:
    """(line number, stripped text) of the lines compared for repetition."""
    skipped = _skipped_lines(ast.parse(source))
    out = []
    for number, line in enumerate(source.splitlines(), 1):
        text = line.strip()
        if text and not text.startswith("#") and number not in skipped:
            out.append((number, text))
    return out


def repeated_blocks(sources: Dict[str, str], size: int = BLOCK) -> List[List[Tuple[str, int]]]:
    """Places ([(file, first line)], two or more) of every run of ``size`` compared lines found more than once."""
    seen = {}  # type: Dict[Tuple[str, ...], List[Tuple[str, int]]]
    for name, source in sorted(sources.items()):
        lines = code_lines(source)
        for start in range(len(lines) - size + 1):
            window = tuple(text for _number, text in lines[start:start + size])
            seen.setdefault(window, []).append((name, lines[start][0]))
    return [places for places in seen.values() if len(places) > 1]


def test_no_function_in_plugins_is_longer_than_40_lines():
    found = ["%s:%d %s() is %d lines" % (path, line, name, length)
             for path, source in _sources() for name, line, length in long_functions(source)]
    assert found == [], "split these functions (issue 14: functions under ~40 lines):\n" + "\n".join(found)


def test_no_block_of_six_lines_is_repeated_in_plugins():
    found = repeated_blocks(dict(_sources()))
    assert found == [], "fold these repeated blocks into one function:\n" + "\n".join(
        " = ".join("%s:%d" % place for place in places) for places in found)


# The guards themselves: they see what they are meant to see, and only that.

_TWICE = '''
import os
import sys
DOCUMENTATION = """
a: 1
b: 2
c: 3
d: 4
e: 5
f: 6
"""


def one(x):
    y = x + 1
    # a comment is not compared
    z = y * 2

    w = z - 3
    v = w / 4
    return v


def two(x):
    y = x + 1
    z = y * 2
    w = z - 3
    v = w / 4
    return v
'''


def test_repetition_guard_finds_a_block_repeated_across_comments_and_blank_lines():
    # The two bodies share five lines ('y = x + 1' .. 'return v'); one more shared line makes a block of six.
    source = _TWICE.replace("    return v\n", "    u = v\n    return v\n")
    places = repeated_blocks({"a.py": source})
    assert places and all(len(p) == 2 for p in places), places
    assert [line for _name, line in places[0]] == [15, 26]  # one() across its comment and blank line; two()


def test_repetition_guard_ignores_imports_documentation_and_short_blocks():
    assert repeated_blocks({"a.py": _TWICE}) == []  # 5 shared lines
    doc = _TWICE.split("\n\ndef one", maxsplit=1)[0]
    assert repeated_blocks({"a.py": doc, "b.py": doc}) == []  # imports and DOCUMENTATION only
    fragment = "class ModuleDocFragment:\n    A = '''\n%s'''\n    B = '''\n%s'''\n" % (("x: 1\n" * 7,) * 2)
    assert repeated_blocks({"f.py": fragment}) == []
    assert repeated_blocks({"a.py": _TWICE, "b.py": _TWICE})  # the same function in two files


def test_length_guard_counts_the_lines_of_the_function():
    body = "".join("    x%d = %d\n" % (n, n) for n in range(39))
    assert long_functions("def short():\n" + body) == []  # 40 lines with the def line
    assert long_functions("def long():\n" + body + "    return x0\n") == [("long", 1, 41)]
