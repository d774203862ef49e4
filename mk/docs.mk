# Documentation site and execution environment (issue 18 items 3 and 4). Included from the Makefile (VPY, STAMP
# there; ANSIBLE_STAMP, ANSIBLE_ENV and collection-link from mk/ansible.mk).
#   make docs       build the site into docs/_build/html (docs/site/build.py: antsibull-docs pages of every module,
#                   role entry point and filter, the guides docs/*.md, a playbooks page made from playbooks/*.yml;
#                   Sphinx with warnings as errors)
#   make test-docs  antsibull-docs lint-collection-docs (plugin docs, RST and semantic markup, references), then
#                   tests/docs: the site built from the files, every page without error markers, and headless
#                   Chromium (Debian's chromium, installed with apt-get when missing) renders the index and a module
#                   page, screenshots in tests/output/docs/
#   make test-ee    tests/ee: ansible-builder create on tests/ee/execution-environment.yml (a temporary context;
#                   no container engine here, so no image), the context checked for the collection and msgpack

DOCS_STAMP := $(VENV)/.installed-docs
DOCS_OUT := docs/_build

.PHONY: docs docs-lint chromium test-docs test-ee

$(DOCS_STAMP): $(ANSIBLE_STAMP) requirements-docs.txt
	$(VPY) -m pip install --quiet -r requirements-docs.txt
	touch $@

docs: $(DOCS_STAMP) collection-link
	$(ANSIBLE_ENV) $(VPY) docs/site/build.py --out $(DOCS_OUT)

docs-lint: $(DOCS_STAMP) collection-link
	$(ANSIBLE_ENV) antsibull-docs lint-collection-docs --plugin-docs --check-extra-docs-refs \
		--validate-collection-refs all --disallow-unknown-collection-refs .

chromium:
	command -v chromium >/dev/null || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

test-docs: docs-lint docs chromium
	$(ANSIBLE_ENV) DOCS_SITE=$(CURDIR)/$(DOCS_OUT)/html $(VPY) -m pytest -p no:cacheprovider tests/docs

test-ee: $(DOCS_STAMP) collection-link
	$(ANSIBLE_ENV) $(VPY) -m pytest -p no:cacheprovider tests/ee

clean: clean-docs
.PHONY: clean-docs
clean-docs:
	rm -rf $(DOCS_OUT)

TEST_SUITES += test-docs test-ee
