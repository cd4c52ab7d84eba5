"""Smoke run of benchmarks/distributed_bench.py (1 and 2 processes; no timing assertions)."""

from tests.distributed._mpirun import require_mpi


def test_distributed_bench_quick_prints_a_table(capsys):
    require_mpi()
    from benchmarks import distributed_bench

    results = distributed_bench.main(["--quick", "--no-bandwidth"])
    assert results["two"]["world_size"] == 2 and results["two"]["w2_ddp"] > 0
    assert "2 processes x 1 thread(s), DDP" in capsys.readouterr().out
