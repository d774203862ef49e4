"""The layering guard (issue 14 item 3): plugins/module_utils imports only downward, and has no cycle.

LAYERS is the graph written in README.md's "Layout" section, bottom first. A module_utils file may import only
files of a lower layer; a new file must be placed in a layer here (and in the README) before it can be imported.
"""

import ast
import os

import pytest

MODULE_UTILS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "plugins", "module_utils")
PACKAGE = "ansible_collections.opstack.conductor.plugins.module_utils"

LAYERS = [
    ["_errors"],                                      # the one exception root
    ["_lookup", "_servers", "_options", "_runner"],   # leaves: path look-ups, servers, option checks, module body
    ["_fs", "_bbolt", "_raft", "_payload", "_conductor_rpc"],  # filesystem primitives, formats, RPC endpoints
    ["_cluster", "_node_state", "_fsm", "_node_dir", "_cluster_view"],
    ["_state_plan", "_backup", "_membership", "_recovery_plan", "_recover", "_override", "_node_info"],
    ["_module_common", "_leadership"],
    ["_roll"],                                        # rolling restart gates (uses _leadership's transfers)
]


def _files():
    return sorted(name[:-3] for name in os.listdir(MODULE_UTILS) if name.endswith(".py") and name != "__init__.py")


def imports_of(source):
    """The module_utils names a source imports, and whether it imports AnsibleModule."""
    names, ansible_module = set(), False
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ImportFrom):
            if isinstance(node, ast.Import):
                names |= {alias.name[len(PACKAGE) + 1:].split(".")[0] for alias in node.names
                          if alias.name.startswith(PACKAGE + ".")}
            continue
        module = node.module or ""
        if node.level:  # from . import _fs / from ._fs import X
            names |= {alias.name for alias in node.names} if not module else {module.split(".")[0]}
        elif module == PACKAGE:
            names |= {alias.name for alias in node.names}
        elif module.startswith(PACKAGE + "."):
            names.add(module[len(PACKAGE) + 1:].split(".")[0])
        ansible_module = ansible_module or any(alias.name == "AnsibleModule" for alias in node.names)
    return names, ansible_module


def graph():
    edges = {}
    for name in _files():
        with open(os.path.join(MODULE_UTILS, name + ".py"), encoding="utf-8") as handle:
            edges[name] = imports_of(handle.read())
    return edges


def layer_problems(edges, layers):
    level = {name: position for position, names in enumerate(layers) for name in names}
    problems = ["%s is in no layer (place it in LAYERS and the README's layout)" % name
                for name in edges if name not in level]
    for name, (imported, ansible_module) in sorted(edges.items()):
        if ansible_module:
            problems.append("%s imports AnsibleModule (only plugins/modules may)" % name)
        for target in sorted(imported):
            if name in level and target in level and level[target] >= level[name]:
                problems.append("%s (layer %d) imports %s (layer %d): not downward"
                                % (name, level[name], target, level[target]))
    return problems


def cycles(edges):
    """Every import cycle, as the path that closes it (depth-first, bounded by the number of files)."""
    found, state = [], {}

    def visit(name, path):
        state[name] = "open"
        for target in sorted(edges.get(name, ((), False))[0]):
            if state.get(target) == "open":
                found.append(path[path.index(target):] + [target])
            elif target not in state and target in edges:
                visit(target, path + [target])
        state[name] = "done"

    for name in sorted(edges):
        if name not in state:
            visit(name, [name])
    return found


def test_module_utils_imports_only_downward_and_has_no_cycle():
    edges = graph()
    assert layer_problems(edges, LAYERS) == []
    assert cycles(edges) == []


@pytest.mark.parametrize("edges, expected", [
    ({"_fs": ({"_raft"}, False), "_raft": (set(), False)}, ["_fs (layer 2) imports _raft (layer 2): not downward"]),
    ({"_fs": ({"_cluster"}, False), "_cluster": (set(), False)},
     ["_fs (layer 2) imports _cluster (layer 3): not downward"]),
    ({"_new": (set(), False)}, ["_new is in no layer (place it in LAYERS and the README's layout)"]),
    ({"_fs": (set(), True)}, ["_fs imports AnsibleModule (only plugins/modules may)"]),
])
def test_the_guard_sees_an_upward_import(edges, expected):
    assert layer_problems(edges, LAYERS) == expected


def test_the_guard_sees_a_cycle():
    edges = {"_a": ({"_b"}, False), "_b": ({"_c"}, False), "_c": ({"_a"}, False), "_d": ({"_a"}, False)}
    assert cycles(edges) == [["_a", "_b", "_c", "_a"]]


def test_imports_are_read_in_every_spelling():
    source = ("from %s import _fs as fs\nfrom %s._raft import Server\nfrom . import _bbolt\nfrom ._node_state "
              "import x\nimport %s._cluster\nfrom ansible.module_utils.basic import AnsibleModule\n"
              % (PACKAGE, PACKAGE, PACKAGE))
    assert imports_of(source) == ({"_fs", "_raft", "_bbolt", "_node_state", "_cluster"}, True)
