# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build the documentation site (``make docs``): python docs/site/build.py [--out DIR].

Everything on the site is made from the files at build time, nothing is kept twice:
  collections/  antsibull-docs ``collection`` on the installed opstack.conductor (every module, role entry point,
                filter), with --fail-on-error so a page antsibull-docs cannot render fails the build;
  guides/       every docs/*.md, as it is (Sphinx reads Markdown through myst-parser);
  playbooks     one section per playbooks/*.yml: its header comment (the usage text every playbook opens with) and
                what its plays run, read from the YAML (a playbook without a header comment fails the build).
Sphinx then builds <out>/html with warnings as errors. Needs the venv's tools on PATH and ANSIBLE_COLLECTIONS_PATH
pointing at this checkout (mk/docs.mk sets both).
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence

import yaml

SITE = os.path.dirname(os.path.abspath(__file__))
DOCS = os.path.dirname(SITE)
REPO = os.path.dirname(DOCS)
COLLECTION = "opstack.conductor"
# Guides in reading order; any other docs/*.md follows, by name.
GUIDE_ORDER = ("quickstart.md", "bring-up.md", "backup-restore.md", "disaster-recovery.md")
ROLE_CALLS = ("ansible.builtin.include_role", "ansible.builtin.import_role", "include_role", "import_role")
IMPORT_PLAYBOOK = ("ansible.builtin.import_playbook", "import_playbook")
MARKER = ".opstack-conductor-docs-build"
TOOL_TIMEOUT = 600  # seconds; a bound on a hung tool, not a performance check


class DocsError(Exception):
    """The site cannot be built from the files as they are."""


@dataclass
class Play:
    name: str
    hosts: str
    runs: List[str] = field(default_factory=list)  # RST fragments, one per role entry point / module / playbook


@dataclass
class Playbook:
    name: str
    header: List[str]
    plays: List[Play]


def header_comment(text: str, path: str) -> List[str]:
    """The comment lines a playbook opens with (after ``---``), without the ``#``."""
    lines = []
    for line in text.splitlines():
        if line.strip() == "---" and not lines:
            continue
        if not line.startswith("#"):
            break
        lines.append(line[2:] if line.startswith("# ") else line[1:])
    while lines and not lines[-1].strip():
        lines.pop()
    if not any(line.strip() for line in lines):
        raise DocsError("%s: no header comment; every playbook opens with comment lines saying how to run it and what "
                        "it does (they are its page on the docs site)" % os.path.relpath(path, REPO))
    return lines


def entry_points(repo: str = REPO) -> Dict[str, List[str]]:
    """{role: [entry point, ...]} from every roles/*/meta/argument_specs.yml."""
    found = {}
    for spec in sorted(glob.glob(os.path.join(repo, "roles", "*", "meta", "argument_specs.yml"))):
        with open(spec, encoding="utf-8") as handle:
            data = yaml.safe_load(handle) or {}
        role = os.path.basename(os.path.dirname(os.path.dirname(spec)))
        found[role] = sorted((data.get("argument_specs") or {}).keys())
    return found


def _role_ref(fqcn: str, tasks_from: str, roles: Dict[str, List[str]]) -> str:
    role = fqcn.split(".")[-1]
    if not fqcn.startswith(COLLECTION + ".") or role not in roles:
        return "role ``%s``" % fqcn
    entry = tasks_from[:-4] if tasks_from.endswith(".yml") else tasks_from or "main"
    label = "ansible_collections.%s_role" % fqcn
    if entry in roles[role]:
        return ":ref:`%s, entry point %s <%s__entrypoint-%s>`" % (fqcn, entry, label, entry)
    return ":ref:`%s <%s>`, tasks file ``%s`` (no entry point of its own)" % (fqcn, label, tasks_from)


def _task_runs(tasks: Sequence, roles: Dict[str, List[str]], modules: Sequence[str]) -> List[str]:
    runs = []
    for task in tasks or []:
        if not isinstance(task, dict):
            continue
        for key in ("block", "rescue", "always"):
            runs += _task_runs(task.get(key), roles, modules)
        for call in ROLE_CALLS:
            if isinstance(task.get(call), dict):
                runs.append(_role_ref(task[call].get("name", ""), task[call].get("tasks_from", ""), roles))
        for module in modules:
            if module in task:
                runs.append(":ref:`%s <ansible_collections.%s_module>`" % (module, module))
    return runs


def describe_play(play: dict, roles: Dict[str, List[str]], modules: Sequence[str]) -> Play:
    for key in IMPORT_PLAYBOOK:
        if key in play:
            target = os.path.splitext(os.path.basename(str(play[key])))[0]
            return Play(play.get("name", ""), "", ["playbook ``%s`` (imported)" % target])
    runs = []
    for entry in play.get("roles") or []:
        name = entry.get("role", entry.get("name", "")) if isinstance(entry, dict) else str(entry)
        runs.append(_role_ref(name, "", roles))
    for section in ("pre_tasks", "tasks", "post_tasks"):
        runs += _task_runs(play.get(section), roles, modules)
    return Play(play.get("name", ""), " ".join(str(play.get("hosts", "")).split()), list(dict.fromkeys(runs)))


def collection_modules(repo: str = REPO) -> List[str]:
    return sorted("%s.%s" % (COLLECTION, os.path.splitext(os.path.basename(path))[0])
                  for path in glob.glob(os.path.join(repo, "plugins", "modules", "*.py"))
                  if not os.path.basename(path).startswith("_"))


def read_playbooks(repo: str = REPO) -> List[Playbook]:
    """Every playbook users run (playbooks/*.yml; files starting with _ are imported by the others)."""
    roles, modules = entry_points(repo), collection_modules(repo)
    books = []
    for path in sorted(glob.glob(os.path.join(repo, "playbooks", "*.yml"))):
        name = os.path.splitext(os.path.basename(path))[0]
        if name.startswith("_"):
            continue
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        plays = [describe_play(play, roles, modules) for play in yaml.safe_load(text) or []]
        books.append(Playbook(name, header_comment(text, path), plays))
    if not books:
        raise DocsError("no playbooks found under %s/playbooks" % repo)
    return books


def _title(text: str, underline: str) -> List[str]:
    return [text, underline * len(text), ""]


def _play_lines(number: int, play: Play) -> List[str]:
    lines = ["%d. **%s**" % (number, play.name.replace("*", r"\*") or "(unnamed play)")]
    if play.hosts:
        lines += ["", "   hosts: ``%s``" % play.hosts]
    lines += [""] + ["   - %s" % run for run in play.runs] + [""] if play.runs else [""]
    return lines


def render_playbooks(books: Sequence[Playbook]) -> str:
    """The playbooks page (RST)."""
    lines = [".. _opstack_conductor_playbooks:", ""] + _title("Playbooks", "=")
    lines += ["Run each with ``ansible-playbook -i <inventory> %s.<name>``. The text under each name is the "
              "playbook's own header comment; the plays and what they run are read from the playbook itself." %
              COLLECTION, ""]
    for book in books:
        lines += [".. _opstack_conductor_playbook_%s:" % book.name, ""] + _title("%s.%s" % (COLLECTION, book.name), "-")
        lines += ["::", ""] + [("    " + line).rstrip() for line in book.header] + [""]
        lines += ["Plays:", ""]
        for number, play in enumerate(book.plays, 1):
            lines += _play_lines(number, play)
    return "\n".join(lines) + "\n"


def guides(docs: str = DOCS) -> List[str]:
    names = sorted(os.path.basename(path) for path in glob.glob(os.path.join(docs, "*.md")))
    return [name for name in GUIDE_ORDER if name in names] + [name for name in names if name not in GUIDE_ORDER]


def write_guides(src: str, docs: str = DOCS) -> None:
    os.makedirs(os.path.join(src, "guides"))
    names = guides(docs)
    for name in names:
        shutil.copyfile(os.path.join(docs, name), os.path.join(src, "guides", name))
    toctree = [".. _opstack_conductor_guides:", ""] + _title("Guides", "=") + [".. toctree::", "   :maxdepth: 1", ""]
    toctree += ["   %s" % os.path.splitext(name)[0] for name in names]
    with open(os.path.join(src, "guides", "index.rst"), "w", encoding="utf-8") as handle:
        handle.write("\n".join(toctree) + "\n")


def run(argv: Sequence[str], cwd: str, env: Optional[Mapping[str, str]] = None) -> None:
    print("+ " + " ".join(argv), flush=True)
    result = subprocess.run(list(argv), cwd=cwd, env=env, check=False, timeout=TOOL_TIMEOUT)
    if result.returncode:
        raise DocsError("%s exited with %d" % (argv[0], result.returncode))


def _clear_output(out: str) -> None:
    """Remove the previous build; never a directory this script did not make (``--out .`` must not empty the
    checkout)."""
    if not os.path.isdir(out) or not os.listdir(out):
        return
    if not os.path.isfile(os.path.join(out, MARKER)):
        raise DocsError("%s exists and is not a previous docs build (no %s in it); choose another --out"
                        % (out, MARKER))
    shutil.rmtree(out)


def build(out: str, env: Optional[Mapping[str, str]] = None) -> str:
    """Build the site under ``out`` (``env``: the tools' environment, default this one); returns its index.html."""
    src = os.path.join(out, "src")
    books = read_playbooks()  # before anything is removed: a playbook without a header stops here
    _clear_output(out)
    os.makedirs(src)
    with open(os.path.join(out, MARKER), "w", encoding="utf-8") as handle:
        handle.write("made by docs/site/build.py; the whole directory is replaced by the next build\n")
    os.chmod(src, 0o755)  # antsibull-docs wants its dest dir writable by its owner only
    run(["antsibull-docs", "--config-file", os.path.join(SITE, "antsibull-docs.cfg"), "collection",
         "--use-current", "--fail-on-error", "--dest-dir", src, COLLECTION], cwd=out, env=env)
    for name in ("conf.py", "index.rst"):
        shutil.copyfile(os.path.join(SITE, name), os.path.join(src, name))
    with open(os.path.join(src, "playbooks.rst"), "w", encoding="utf-8") as handle:
        handle.write(render_playbooks(books))
    write_guides(src)
    run(["sphinx-build", "-b", "html", "-W", "--keep-going", "-q", "-c", src, src, os.path.join(out, "html")],
        cwd=out, env=env)
    return os.path.join(out, "html", "index.html")


def main(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(DOCS, "_build"), help="output directory (replaced)")
    args = parser.parse_args(list(argv))
    try:
        index = build(os.path.abspath(args.out))
    except DocsError as exc:
        print("docs: %s" % exc, file=sys.stderr)
        return 1
    print("docs: %s" % index)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
