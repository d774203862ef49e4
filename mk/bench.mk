# make bench: benchmarks against baselines measured in the same run (benchmarks/README.md).
# BENCH_SIZES_MIB=64,256,1024 (raft-log.db sizes), BENCH_REPEAT=5, BENCH_ONLY=b1,b2,b3,b4,b5,b6,b7.
# B6 alone: BENCH_ONLY=b6 make bench (BENCH_B6_HOSTS=3,7, BENCH_B6_NODES=3,9,101, BENCH_B6_REPEAT=BENCH_REPEAT,
# BENCH_MACHINE_NOTE="what else ran on the machine", recorded with the results).
# B7 alone: BENCH_ONLY=b7 make bench (BENCH_B7_CLUSTERS=10,100, BENCH_B7_FORKS=10,50, BENCH_B7_REPEAT=1,
# BENCH_B7_MODE=plays|key, BENCH_B7_TREE=<commit> to measure a commit instead of the working tree).
.PHONY: bench
bench: $(STAMP) oracle
	$(MAKE) collection-link
	$(VPY) -m pip install --quiet -r requirements-ansible.txt
	$(VPY) benchmarks/bench.py
