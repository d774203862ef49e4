# opstack.conductor: one entry point for development, CI and the demo.
#   make demo   run the collection on the bundled example inventory (local hosts, no SSH)
#   make check  the fast tier (a few minutes, no Go): unit tests, Python 3.8 compatibility, ansible-test sanity,
#               ansible-lint
#   make test   install everything into .venv and run every test suite, the real Go stack included
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export GOTOOLCHAIN := local
export GOFLAGS := -mod=readonly
export PYTHONDONTWRITEBYTECODE := 1
TEST_SUITES :=

.PHONY: help venv oracle compat check test test-unit test-interop test-sanity test-ansible-units demo clean

help:
	@echo "make demo  - generate, deploy and verify Raft state for the example inventory"
	@echo "make check - the fast tier: unit tests, Python 3.8 compatibility, ansible-test sanity, ansible-lint"
	@echo "make test  - every test suite (creates .venv, downloads Go modules, builds the Go oracle)"

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip
	$(VPY) -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(STAMP)

oracle: $(STAMP)
	$(VPY) tests/interop/oracle.py build

# Managed hosts may run Python 3.8: hold the code that runs there to it.
compat: $(STAMP)
	$(VENV)/bin/vermin --target=3.8- --no-tips --violations --eval-annotations plugins/

test-unit: $(STAMP)
	$(VPY) -m pytest -p no:cacheprovider tests/unit

test-interop: oracle
	$(VPY) -m pytest -p no:cacheprovider tests/interop

# ansible-test without docker (tests/ansible_test.sh): sanity (incl. validate-modules, pylint, import) and units.
test-sanity: $(STAMP)
	command -v shellcheck >/dev/null || { apt-get update -qq && apt-get install -y -qq shellcheck >/dev/null; }
	tests/ansible_test.sh sanity

test-ansible-units: $(STAMP)
	tests/ansible_test.sh units

# The fast tier before a push: no Go build, no Raft cluster, no playbook run (a few minutes). test-lint comes from
# mk/ansible.mk.
check: compat test-unit test-sanity test-lint

# Every suite; the included mk/*.mk files add theirs to TEST_SUITES.
test: compat oracle op-conductor  # op-conductor: also the Go helpers tests/interop runs (fsmoracle, raftrecover)
	$(VPY) -m pytest -p no:cacheprovider tests/unit tests/interop
	$(MAKE) test-sanity test-ansible-units $(TEST_SUITES)

clean:
	rm -rf $(VENV) .cache tests/output

# Roles/playbooks/molecule/lint/packaging (ansible.mk), reliability, e2e: each file adds its suites.
include $(sort $(wildcard mk/*.mk))
