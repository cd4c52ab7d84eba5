"""Smoke runs of the benchmark workloads (one call each, tiny sizes): no timing assertions."""

import pytest

from benchmarks import workloads

SMALL = {
    "w1_seed_mlp": {},
    "w2_mnist_mlp": {"batch": 4, "sizes": (12, 8, 8, 3)},
    "w3_per_op": {"n_ops": 30, "size": 4},
    "w4_small_cnn": {"batch": 2},
    "w5_lstm": {"batch": 2, "seq": 3, "features": 4, "hidden": 5},
}


@pytest.mark.parametrize("builder", sorted(SMALL))
def test_workload_runs_in_every_contender(builder, torch):
    contenders = getattr(workloads, builder)(torch, **SMALL[builder])
    assert "ember" in contenders and "torch" in contenders
    for step in contenders.values():
        step()
        step()


def test_run_all_quick_prints_a_table(capsys):
    from benchmarks import run_all

    results = run_all.main(["--quick", "--only", "W3"])
    assert "W3 1000 small ops" in results
    assert "ember/torch" in capsys.readouterr().out
