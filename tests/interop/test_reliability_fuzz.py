"""Differential fuzzing against the real Go stack, fast slice (the stress run is `make fuzz`, tests/reliability/).

A fixed seed, so this slice is the same ~240 mutants every run: enumerated truncations and zeroed pages, then
random mutants of every class, over fresh files we write (4 KiB and 64 KiB pages, a laid-out multi-page log) and a
live state a real Raft node grew. Each gets our verdict, the four oracle cells' verdicts (bolt check + read
through raft-boltdb), and a few get a real Raft node started on them.
"""

import os

import pytest

from ansible_collections.opstack.conductor.tests.reliability import fuzz

pytestmark = pytest.mark.reliability  # `make test-reliability` selects these by marker

SEED = "pytest-1"
MUTANTS = 240


@pytest.fixture(scope="module")
def slice_report(oracle, tmp_path_factory):
    work = str(tmp_path_factory.mktemp("fuzz"))
    seeds = fuzz.build_seeds(os.path.join(work, "seeds"), quick=True)
    mutants = fuzz.generate(seeds, MUTANTS, SEED, enum_cap=12)
    tally = fuzz.run(seeds, mutants, work, raft_budget=4, processes=2, master_seed=SEED, log=lambda *_: None)
    return tally.to_json()


def test_our_reader_never_crashes_or_hangs(slice_report):
    assert slice_report["mutants"] == MUTANTS
    assert slice_report["crashes"] == 0 and slice_report["hangs"] == 0, slice_report["defects"]


def test_never_healthy_where_go_or_raft_rejects(slice_report):
    """`unsafe`: we call it healthy, a Go cell's check or read (or a real Raft start) rejects it. `content`: both
    call it healthy but read different terms, votes, indexes, entries or snapshots."""
    assert slice_report["disagreements"]["unsafe"] == 0, slice_report["defects"]
    assert slice_report["disagreements"]["content"] == 0, slice_report["defects"]


def test_the_slice_covers_what_it_claims(slice_report):
    families = {cls.split(":")[0] for cls in slice_report["by_class"]}
    assert families >= {"flip", "byte", "trunc", "zero", "swap", "pagesize", "metafield", "header", "garbage",
                        "semantic", "snap"}, families
    regions = {cls.split(":", 1)[1] for cls in slice_report["by_class"] if cls.startswith("flip:")}
    assert regions >= {"meta0", "meta1", "freelist-ids", "branch-elements", "leaf-elements", "overflow",
                       "inline-bucket", "log-value"}, regions
    outcomes = slice_report["outcomes"]
    assert outcomes.get("agree-accept") and outcomes.get("agree-reject") and outcomes.get("stricter")
    # Go engines crash on many of these files; each crash was attributed to its mutant (markers), and the first
    # of each kind reproduced when run alone.
    assert slice_report["go_engine_failures"] and slice_report["go_failures_rerun_alone"].get("reproduced alone")
    assert sum(slice_report["raft_starts"].values()) == 4
