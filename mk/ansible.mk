# Roles, playbooks, molecule, lint and packaging targets; included from the Makefile, which defines
# VENV, VPY and STAMP (.venv with requirements-dev.txt installed).
#   make demo            deploy the bundled example inventory, then show and verify it (run it twice: changed=0)
#   make test-molecule   molecule scenarios (local hosts, no containers; starts a real Raft cluster)
#   make test-lint       ansible-lint, production profile, plus antsibull-changelog lint
#   make test-playbooks  pytest on tests/playbooks: every playbook run on local hosts (generate, deploy and its
#                        check mode, info, inventory rules), except packaging and backup/restore (own targets)
#   make test-packaging  pytest: build, install and run the collection from the tarball
#   make test-ansible    all of the above except demo

ANSIBLE_STAMP := $(VENV)/.installed-ansible
COLLECTIONS := $(CURDIR)/.cache/collections
COLLECTION_LINK := $(COLLECTIONS)/ansible_collections/opstack/conductor
ORACLE_V2_3_1 := .cache/oracle/v2_3_1/oracle
DEMO_INVENTORY := examples/inventory/hosts.yml
# The venv first on PATH: molecule and ansible-lint call ansible-* by name (ansible.md pitfall 1).
ANSIBLE_ENV := PATH="$(CURDIR)/$(VENV)/bin:$$PATH" ANSIBLE_COLLECTIONS_PATH="$(COLLECTIONS)"

.PHONY: collection-link oracle-bin test-molecule test-lint test-playbooks test-packaging test-ansible

$(ANSIBLE_STAMP): $(STAMP) requirements-ansible.txt
	$(VPY) -m pip install --quiet -r requirements-ansible.txt
	touch $@

# The checkout as ansible_collections/opstack/conductor, so every tool uses the working tree.
collection-link:
	@mkdir -p "$(dir $(COLLECTION_LINK))"
	@if [ "$$(readlink -f "$(COLLECTION_LINK)")" != "$$(readlink -f "$(CURDIR)")" ]; then \
		rm -f "$(COLLECTION_LINK)" && ln -s "$(CURDIR)" "$(COLLECTION_LINK)"; fi

# The Go oracle that starts a real Raft cluster (molecule verify); rebuilt only when its sources change.
oracle-bin:
	@$(VPY) tests/interop/oracle.py build >/dev/null
	@test -x $(ORACLE_V2_3_1)

demo: $(STAMP) collection-link
	$(ANSIBLE_ENV) ansible-playbook -i $(DEMO_INVENTORY) opstack.conductor.deploy
	$(ANSIBLE_ENV) ansible-playbook -i $(DEMO_INVENTORY) opstack.conductor.info

test-molecule: $(ANSIBLE_STAMP) collection-link oracle-bin
	$(ANSIBLE_ENV) molecule test --all

test-lint: $(ANSIBLE_STAMP) collection-link
	$(ANSIBLE_ENV) ansible-lint --profile production
	$(ANSIBLE_ENV) antsibull-changelog lint

test-playbooks: $(ANSIBLE_STAMP) collection-link
	$(ANSIBLE_ENV) $(VPY) -m pytest -p no:cacheprovider tests/playbooks \
		--ignore=tests/playbooks/test_packaging.py --ignore=tests/playbooks/test_backup_restore.py

test-packaging: $(ANSIBLE_STAMP) collection-link
	$(ANSIBLE_ENV) $(VPY) -m pytest -p no:cacheprovider tests/playbooks/test_packaging.py

test-ansible: test-lint test-playbooks test-packaging test-molecule

TEST_SUITES += test-ansible
