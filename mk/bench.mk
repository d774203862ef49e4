# make bench: benchmarks against baselines measured in the same run (benchmarks/README.md).
# BENCH_SIZES_MIB=64,256,1024 (raft-log.db sizes), BENCH_REPEAT=5, BENCH_ONLY=b1,b2,b3,b4,b5.
.PHONY: bench
bench: $(STAMP) oracle
	$(MAKE) collection-link
	$(VPY) -m pip install --quiet -r requirements-ansible.txt
	$(VPY) benchmarks/bench.py
