# Live-operation tests against the REAL op-conductor; included from the Makefile (VPY, STAMP defined there).
#   make op-conductor   build op-conductor from the pinned optimism release via the Go module proxy
#                       (once per pin; reused from .cache/op-conductor/<pin>/ while the stamp matches), and every
#                       Go helper under tests/e2e/opconductor/cmd/ against it (.cache/op-conductor/<pin>/cmd/)
#   make test-e2e       build it if needed, then the e2e suite (real op-conductor processes on 127.0.0.x,
#                       op-node/op-geth stubs, the conductor_* modules and the bring_up/status/membership playbooks)
# OPSTACK_E2E_CACHE moves the build cache (module cache, build cache, binary) out of the checkout.

.PHONY: op-conductor test-e2e

op-conductor:
	python3 tests/e2e/build_op_conductor.py

test-e2e: $(STAMP) op-conductor
	$(VPY) -m pytest -p no:cacheprovider tests/e2e
TEST_SUITES += test-e2e
