# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sphinx configuration of the docs site (docs/site/build.py copies it next to the generated sources).

From `antsibull-docs sphinx-init` 2.28.0, changed so that the build works offline and stays strict: no
intersphinx inventories (they are downloaded; the build machines reach no documentation site), myst-parser for the
Markdown guides, and nitpicky references (build.py runs sphinx-build with -W: a broken reference fails the build).
"""

project = 'opstack.conductor'
copyright = 'opstack.conductor contributors'  # pylint: disable=redefined-builtin

title = 'opstack.conductor documentation'
html_short_title = 'opstack.conductor'

extensions = ['sphinx_antsibull_ext', 'myst_parser']
source_suffix = {'.rst': 'restructuredtext', '.md': 'markdown'}
myst_heading_anchors = 3

pygments_style = 'ansible'
highlight_language = 'YAML+Jinja'

html_theme = 'sphinx_ansible_theme'
html_show_sphinx = False
display_version = False
html_use_smartypants = True
html_use_modindex = False
html_use_index = False
html_copy_source = False

default_role = 'any'
nitpicky = True

# Labels of the Ansible docsite that antsibull-docs' pages refer to. Without intersphinx (offline builds) they are
# linked to the published pages here, so that a misspelt label of our own still fails the build.
ANSIBLE_DOCS = 'https://docs.ansible.com/projects/ansible/latest/'
ANSIBLE_LABELS = {
    'common_return_values': ('reference_appendices/common_return_values.html', 'Common return values'),
    'ansible_configuration_settings': ('reference_appendices/config.html', 'Ansible configuration settings'),
    'action_plugins': ('plugins/action.html', 'Action plugins'),
}


def _ansible_docsite_reference(app, env, node, contnode):  # pylint: disable=unused-argument
    """Sphinx missing-reference hook: the Ansible docsite labels above become links to the published pages."""
    from docutils import nodes  # pylint: disable=import-outside-toplevel

    target = ANSIBLE_LABELS.get(node.get('reftarget'))
    if node.get('refdomain') != 'std' or target is None:
        return None
    path, title = target
    reference = nodes.reference('', '', internal=False, refuri=ANSIBLE_DOCS + path)
    reference += contnode if node.get('refexplicit') else nodes.inline(title, title)
    return reference


def setup(app):
    app.connect('missing-reference', _ansible_docsite_reference)
