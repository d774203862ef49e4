# make bench: benchmarks against baselines measured in the same run (benchmarks/README.md).
# BENCH_SIZES_MIB=64,256,1024 (raft-log.db sizes), BENCH_REPEAT=5, BENCH_ONLY=b1,b2,b3,b4,b5,b6.
# B6 alone: BENCH_ONLY=b6 make bench (BENCH_B6_HOSTS=3,7, BENCH_B6_NODES=3,9,101, BENCH_B6_REPEAT=BENCH_REPEAT,
# BENCH_MACHINE_NOTE="what else ran on the machine", recorded with the results).
.PHONY: bench
bench: $(STAMP) oracle
	$(MAKE) collection-link
	$(VPY) -m pip install --quiet -r requirements-ansible.txt
	$(VPY) benchmarks/bench.py
