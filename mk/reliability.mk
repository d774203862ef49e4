# Reliability and security suite (tests/reliability/, docs/reliability.md). Included from the Makefile, which
# defines VPY, STAMP and the oracle target. The fast slices live in tests/unit and tests/interop and already run
# in `make test`; these targets are the stress runs and a shortcut to the slices.
#   make fuzz              differential fuzzing against the Go oracle, FUZZ_MUTANTS (>= 10000) mutants and
#                          FUZZ_RAFT real Raft starts -> tests/output/reliability/fuzz.json (FUZZ_SEED to replay)
#   make crash             crash injection, every fault point of every scenario before and after it plus
#                          CRASH_DELAYS random SIGKILLs per scenario (>= 1000 trials) -> tests/output/reliability/crash.json
#   make test-reliability  the fast slices, plus the property tests that need hypothesis (pytest marker `reliability`)
#   make test-properties   the property tests alone (tests/reliability, a few seconds); part of `make test`, since the
#                          slices already run there and a test CI skips is a test that failed

FUZZ_MUTANTS ?= 10000
FUZZ_RAFT ?= 160
FUZZ_SEED ?= $(shell date -u +%Y%m%d%H%M%S)
CRASH_DELAYS ?= 60
CRASH_SEED ?= $(shell date -u +%Y%m%d%H%M%S)
RELIABILITY_OUT := tests/output/reliability
RELIABILITY_STAMP := $(VENV)/.installed-reliability

.PHONY: fuzz crash test-reliability test-properties

$(RELIABILITY_STAMP): $(STAMP) requirements-reliability.txt
	$(VPY) -m pip install --quiet -r requirements-reliability.txt
	touch $@

fuzz: oracle
	$(VPY) tests/reliability/fuzz.py --mutants $(FUZZ_MUTANTS) --raft $(FUZZ_RAFT) --seed $(FUZZ_SEED) \
		--out $(RELIABILITY_OUT)/fuzz.json

crash: oracle
	$(VPY) tests/reliability/crash.py --delays $(CRASH_DELAYS) --seed $(CRASH_SEED) --out $(RELIABILITY_OUT)/crash.json

test-reliability: oracle $(RELIABILITY_STAMP)
	$(VPY) -m pytest -p no:cacheprovider -m reliability tests/unit tests/interop tests/reliability

test-properties: $(RELIABILITY_STAMP)
	$(VPY) -m pytest -p no:cacheprovider tests/reliability

TEST_SUITES += test-properties
