"""The documentation site (make docs, docs/site/build.py): made from the files (every module with every documented
option, every role entry point, every playbook, every guide), no page carrying an error marker, and headless
Chromium rendering the index and a module page (screenshots kept in tests/output/docs/).

make test-docs builds the site first and passes it in DOCS_SITE; without it the site is built here into a temporary
directory (the tools of requirements-docs.txt must be installed)."""

from __future__ import annotations

import ast
import glob
import html
import importlib.util
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib

import pytest
import yaml

from ansible_collections.opstack.conductor.tests.support.playbooks import REPO, ansible_env

OUTPUT = os.path.join(REPO, "tests", "output", "docs")
COLLECTION_PAGES = ("collections", "opstack", "conductor")
ERROR_MARKERS = ("was malformed", "The errors were", 'class="problematic"', 'class="system-message"',
                 "ERROR while parsing", "Traceback (most recent call last)")
CHROMIUM_TIMEOUT = 180  # seconds: a bound on a hung browser, not a speed check


def _load_builder():
    spec = importlib.util.spec_from_file_location("opstack_conductor_docs_site_build",
                                                  os.path.join(REPO, "docs", "site", "build.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


BUILDER = _load_builder()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The html directory of the built site."""
    given = os.environ.get("DOCS_SITE")
    if given:
        assert os.path.isfile(os.path.join(given, "index.html")), "DOCS_SITE=%s holds no index.html" % given
        return given
    out = tmp_path_factory.mktemp("site")
    BUILDER.build(str(out), env=ansible_env(out))
    return str(out / "html")


def _page(site, *parts):
    path = os.path.join(site, *parts)
    assert os.path.isfile(path), "the site has no %s" % os.path.relpath(path, site)
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def _module_options(path):
    """The top-level option names of a module's DOCUMENTATION, read from the file without importing it."""
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "DOCUMENTATION" for t in node.targets):
            return sorted((yaml.safe_load(node.value.value).get("options") or {}).keys())
    raise AssertionError("%s has no DOCUMENTATION" % path)


def _modules():
    return sorted(path for path in glob.glob(os.path.join(REPO, "plugins", "modules", "*.py"))
                  if not os.path.basename(path).startswith("_"))


# --- the playbooks page, from the playbooks -------------------------------------------------------------------

def test_every_playbook_has_its_header_and_plays_on_the_page():
    books = BUILDER.read_playbooks()
    page = BUILDER.render_playbooks(books)
    names = sorted(os.path.splitext(os.path.basename(p))[0] for p in glob.glob(os.path.join(REPO, "playbooks", "*.yml"))
                   if not os.path.basename(p).startswith("_"))
    assert [book.name for book in books] == names
    for book in books:
        with open(os.path.join(REPO, "playbooks", book.name + ".yml"), encoding="utf-8") as handle:
            plays = yaml.safe_load(handle)
        first = next(line for line in book.header if line.strip())
        assert "opstack.conductor.%s\n" % book.name in page
        assert first.rstrip() in page
        for play in plays:
            assert play["name"].replace("*", r"\*") in page


def test_playbook_page_links_the_role_entry_points_the_plays_run():
    page = BUILDER.render_playbooks(BUILDER.read_playbooks())
    assert "<ansible_collections.opstack.conductor.conductor_cluster_role__entrypoint-bring_up>" in page
    assert "<ansible_collections.opstack.conductor.raft_state_role__entrypoint-main>" in page
    assert "<ansible_collections.opstack.conductor.raft_backup_role__entrypoint-preflight>" in page
    assert "<ansible_collections.opstack.conductor.raft_cluster_state_module>" in page  # generate runs the module


def test_a_playbook_without_a_header_comment_stops_the_build(tmp_path):
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "playbooks" / "bare.yml").write_text("---\n- name: A play\n  hosts: all\n  tasks: []\n")
    with pytest.raises(BUILDER.DocsError, match=r"playbooks/bare\.yml: no header comment"):
        BUILDER.read_playbooks(str(tmp_path))


def test_header_comment_keeps_the_usage_text_and_stops_at_the_first_play():
    text = "---\n# ansible-playbook x.yml\n#   indented\n#\n- name: play\n  hosts: all\n# not header\n"
    assert BUILDER.header_comment(text, "x.yml") == ["ansible-playbook x.yml", "  indented"]


def test_the_readme_links_every_guide():
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as handle:
        readme = handle.read()
    unlinked = [name for name in BUILDER.guides() if "](docs/%s)" % name not in readme]
    assert not unlinked, "README.md does not link %s" % unlinked


# --- the built site ---------------------------------------------------------------------------------------------

def test_every_module_page_shows_every_documented_option(site):
    for path in _modules():
        name = os.path.splitext(os.path.basename(path))[0]
        page = _page(site, *COLLECTION_PAGES, name + "_module.html")
        missing = [option for option in _module_options(path) if 'id="parameter-%s"' % option not in page]
        assert not missing, "%s page lacks options %s" % (name, missing)


def test_every_role_entry_point_has_its_section(site):
    for role, entries in BUILDER.entry_points().items():
        page = _page(site, *COLLECTION_PAGES, role + "_role.html")
        for entry in entries:
            anchor = "ansible-collections-opstack-conductor-%s-role-entrypoint-%s" % (role.replace("_", "-"),
                                                                                      entry.replace("_", "-"))
            assert 'id="%s"' % anchor in page, "%s role page lacks entry point %s" % (role, entry)


def test_every_guide_and_playbook_is_on_the_site(site):
    index = _page(site, "index.html")
    for name in BUILDER.guides():
        _page(site, "guides", os.path.splitext(name)[0] + ".html")
    playbooks = html.unescape(_page(site, "playbooks.html"))
    for book in BUILDER.read_playbooks():
        assert "opstack.conductor.%s" % book.name in playbooks
    for link in ("guides/index.html", "playbooks.html", "collections/index.html"):
        assert 'href="%s' % link in index


def test_no_page_carries_an_error_marker(site):
    bad = []
    for path in glob.glob(os.path.join(site, "**", "*.html"), recursive=True):
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        bad += ["%s: %s" % (os.path.relpath(path, site), marker) for marker in ERROR_MARKERS if marker in text]
    assert not bad, "\n".join(bad)


# --- headless Chromium --------------------------------------------------------------------------------------------

def _chromium(tmp_path, *args):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser, "chromium is not installed (make chromium installs Debian's package)"
    argv = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
            "--user-data-dir=%s" % (tmp_path / "chromium-profile"), "--window-size=1280,1600", *args]
    result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=CHROMIUM_TIMEOUT)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def _png_rows(path):
    """(width, height, distinct row bytes) of an 8-bit PNG: enough to tell a rendered page from a blank one."""
    with open(path, "rb") as handle:
        data = handle.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "%s is not a PNG" % path
    width, height = struct.unpack(">II", data[16:24])
    idat, offset = b"", 8
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        if kind == b"IDAT":
            idat += data[offset + 8:offset + 8 + length]
        offset += 12 + length
    raw = zlib.decompress(idat)
    stride = len(raw) // height
    return width, height, len({raw[row * stride + 1:(row + 1) * stride] for row in range(height)})


@pytest.mark.parametrize("page", ["index.html", "/".join(COLLECTION_PAGES + ("raft_state_module.html",))])
def test_chromium_screenshot_shows_a_rendered_page(site, tmp_path, page):
    os.makedirs(OUTPUT, exist_ok=True)
    shot = os.path.join(OUTPUT, page.replace("/", "_").replace(".html", ".png"))
    if os.path.exists(shot):
        os.unlink(shot)
    _chromium(tmp_path, "--screenshot=%s" % shot, "file://" + os.path.join(site, page))
    width, height, distinct_rows = _png_rows(shot)
    assert (width, height) == (1280, 1600)
    assert distinct_rows > 100, "the screenshot is (nearly) blank: %d distinct rows" % distinct_rows


def test_chromium_renders_the_module_page_with_its_option_table(site, tmp_path):
    dom = _chromium(tmp_path, "--dump-dom", "file://" + os.path.join(site, *COLLECTION_PAGES, "raft_state_module.html"))
    text = html.unescape(re.sub(r"<[^>]+>", " ", dom))
    assert "opstack.conductor.raft_state module" in text
    tables = re.findall(r'<table[^>]*class="[^"]*ansible-option-table', dom)
    assert len(tables) >= 2, "expected the Parameters and Return Values tables, found %d" % len(tables)
    options = _module_options(os.path.join(REPO, "plugins", "modules", "raft_state.py"))
    shown = set(re.findall(r'id="parameter-([A-Za-z0-9_]+)"', dom))
    assert set(options) <= shown, sorted(set(options) - shown)
    for marker in ERROR_MARKERS:
        assert marker not in dom


def test_chromium_renders_the_index_with_every_section(site, tmp_path):
    dom = _chromium(tmp_path, "--dump-dom", "file://" + os.path.join(site, "index.html"))
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", dom)).split())
    for caption in ("Guides", "Playbooks", "Modules, roles and filters", "Index of all Modules", "Index of all Roles"):
        assert caption in text
    for marker in ERROR_MARKERS:
        assert marker not in dom


def test_the_build_never_replaces_a_directory_it_did_not_make(tmp_path):
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(BUILDER.DocsError, match="not a previous docs build"):
        BUILDER.build(str(tmp_path))
    assert (tmp_path / "precious.txt").read_text() == "keep me"
