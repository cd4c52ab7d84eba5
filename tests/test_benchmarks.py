"""The benchmark harness at tiny sizes: workloads, one-contender processes, the table writer.

No timing assertions: only that each piece runs, records what it says, and writes where told.
"""

import json
import subprocess
import sys

import pytest

from benchmarks import contender, run_all, workloads
from benchmarks.workloads import SMALL, WORKLOADS

BUILDERS = {
    "W1 seed MLP": "w1_seed_mlp",
    "W2 MNIST MLP": "w2_mnist_mlp",
    "W3 1000 small ops": "w3_per_op",
    "W4 small CNN": "w4_small_cnn",
    "W5 LSTM": "w5_lstm",
}


@pytest.mark.parametrize("name", sorted(SMALL))
def test_workload_runs_in_every_contender(name, torch):
    contenders = getattr(workloads, BUILDERS[name])(torch, **SMALL[name])
    assert "ember" in contenders and "torch" in contenders
    for step in contenders.values():
        step()
        step()


@pytest.mark.parametrize("name", sorted(SMALL))
def test_only_builds_the_contender_named(name, torch):
    for who in ("ember", "torch", "numpy"):
        built = WORKLOADS[name](torch, only=who, **SMALL[name])
        has_floor = name.split()[0] in ("W1", "W2", "W3")
        assert list(built) == ([who] if who != "numpy" or has_floor else [])


def _child(*args):
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.contender", *args],
        cwd=run_all.ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def test_contender_process_records_the_machine_and_loads_only_its_library():
    rec = _child("--workload", "W3", "--contender", "numpy", "--small", "--samples", "2")
    assert rec["workload"] == "W3 1000 small ops" and rec["contender"] == "numpy"
    assert len(rec["samples_s"]) == 2 and rec["median_s"] > 0 and rec["inner"] >= 1
    m = rec["machine"]
    assert m["cores"] >= 1 and m["cpu"] and m["date"][:2] == "20"
    # the floor's process imported neither ember nor torch
    assert "ember" not in m["versions"] and "torch" not in m["versions"]
    assert "numpy" in m["versions"]
    blas = [p for p in m["threadpools"] if p["user_api"] == "blas"]
    assert blas and blas[0]["internal_api"] and blas[0]["num_threads"] >= 1
    assert set(contender.BLAS_OVERRIDES) <= set(m["env"])


def test_contender_threads_one_reaches_the_blas_pool():
    rec = _child("--workload", "W1", "--contender", "ember", "--small", "--samples", "1")
    one = _child(
        "--workload", "W1", "--contender", "ember", "--small", "--samples", "1", "--threads", "1"
    )
    assert rec["threads"] == "default" and one["threads"] == 1
    assert one["machine"]["env"]["OPENBLAS_NUM_THREADS"] == "1"
    assert [p["num_threads"] for p in one["machine"]["threadpools"]] == [1]
    assert one["machine"]["ember_num_threads"] == 1


def test_contender_without_a_floor_is_skipped():
    rec = _child("--workload", "W4", "--contender", "numpy", "--small")
    assert "skipped" in rec and "median_s" not in rec


def test_compiled_contender_times_ember_compile_step():
    rec = _child("--workload", "W2", "--contender", "compiled", "--small", "--samples", "1")
    assert rec["contender"] == "compiled" and rec["median_s"] > 0
    assert "ember" in rec["machine"]["versions"] and "torch" not in rec["machine"]["versions"]


def test_time_step_takes_the_samples_asked_for():
    calls = []
    times, inner = contender.time_step(lambda: calls.append(1), samples=3, warmup_s=0, inner=2)
    assert len(times) == 3 and inner == 2 and len(calls) == 3 + 3 * 2  # 3 warm-up calls


def _record(name, who, median, threads="default"):
    machine = {
        "date": "2026-12-01T10:00:00+00:00",
        "cpu": "Test CPU",
        "simd": "AVX2",
        "cores": 4,
        "python": "3.11.0",
        "env": {"OPENBLAS_CORETYPE": None, "OPENBLAS_L2_SIZE": None},
        "versions": {"numpy": "2.0", who: "9.9"} if who != "numpy" else {"numpy": "2.0"},
        "threadpools": [
            {"user_api": "blas", "internal_api": "openblas", "version": "0.3", "num_threads": 4}
        ],
    }
    if who == "torch":
        machine["torch"] = {"num_threads": 4, "blas": "mkl", "mkldnn": True}
    return {
        "workload": name,
        "contender": who,
        "threads": threads,
        "median_s": median,
        "samples_s": [median] * 5,
        "peak_rss_mb": 50.0,
        "machine": machine,
    }


def test_table_is_the_median_of_per_process_medians_with_ratios():
    records = [
        _record("W2 MNIST MLP", "ember", t)
        for t in (0.004, 0.100, 0.006)  # 6 ms median
    ] + [
        _record("W2 MNIST MLP", "torch", 0.003),
        _record("W2 MNIST MLP", "numpy", 0.002),
        _record("W2 MNIST MLP", "ember", 0.004, threads=1),
        _record("W2 MNIST MLP", "torch", 0.005, threads=1),
        _record("W3 1000 small ops", "ember", 0.008),
        _record("W3 1000 small ops", "torch", 0.004),
        _record("W4 small CNN", "ember", 0.010),
    ]
    summary = run_all.summarize(records)
    assert summary["W2 MNIST MLP"]["default"]["ember"]["median_s"] == 0.006
    text = run_all.section(summary, records, "python -m benchmarks.run_all", rounds=3)
    lines = text.splitlines()
    assert lines[0] == run_all.START and lines[-1] == run_all.END
    assert "Generated 2026-12-01 by `python -m benchmarks.run_all`" in text
    assert "3 rounds" in text and "Test CPU (AVX2), 4 cores" in text
    assert "OpenBLAS 0.3" in text and "torch 9.9 (MKL, oneDNN, 4 threads" in text
    w2 = next(line for line in lines if line.startswith("| W2"))
    # ember/torch 2.00x (default), 0.80x with one thread each, ember/floor 3.00x
    assert w2 == "| W2 MNIST MLP | 6.00 ms | 3.00 ms | 2.00 ms | 2.00x | 0.80x | 3.00x |"
    w3 = next(line for line in lines if line.startswith("| W3"))
    assert "8.00 us per op | 4.00 us per op | - | 2.00x | - | - |" in w3
    w4 = next(line for line in lines if line.startswith("| W4"))
    assert w4 == "| W4 small CNN | 10.00 ms | - | - | - | - | - |"
    assert not any(line.startswith("| W1") for line in lines)


def test_table_adds_a_line_for_compiled_steps():
    records = [
        _record("W1 seed MLP", "ember", 0.004),
        _record("W1 seed MLP", "compiled", 0.002),
        _record("W1 seed MLP", "numpy", 0.001),
    ]
    text = run_all.section(run_all.summarize(records), records, "cmd", rounds=1)
    assert "| W1 seed MLP | 4.00 ms | - | 1.00 ms | - | - | 4.00x |" in text
    assert "W1 2.00 ms (0.50x eager, 2.00x floor)" in text


def test_table_names_a_pinned_blas_kernel():
    records = [_record("W1 seed MLP", "ember", 0.001)]
    records[0]["machine"]["env"]["OPENBLAS_CORETYPE"] = "Haswell"
    text = run_all.section(run_all.summarize(records), records, "cmd", rounds=1)
    assert "with OPENBLAS_CORETYPE=Haswell set" in text and "1 round;" in text


def test_write_readme_replaces_between_the_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\nbefore\n{run_all.START}\nold table\n{run_all.END}\nafter\n")
    run_all.write_readme(f"{run_all.START}\nnew table\n{run_all.END}", readme)
    assert (
        readme.read_text() == f"# x\n\nbefore\n{run_all.START}\nnew table\n{run_all.END}\nafter\n"
    )


def test_write_readme_without_markers_refuses_and_leaves_the_file(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# x\n| old | table |\n")
    with pytest.raises(SystemExit, match="markers"):
        run_all.write_readme(f"{run_all.START}\nnew\n{run_all.END}", readme)
    assert readme.read_text() == "# x\n| old | table |\n"


def test_run_all_one_round_writes_table_and_records(tmp_path, capsys, torch):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{run_all.START}\n{run_all.END}\n")
    args = ["--quick", "--small", "--only", "W3", "--no-single-thread"]
    args += ["--json", str(tmp_path / "r.json"), "--markdown", str(tmp_path / "t.md")]
    summary = run_all.main(args)
    assert set(summary["W3 1000 small ops"]["default"]) == {"ember", "torch", "numpy"}
    table = (tmp_path / "t.md").read_text()
    assert table.startswith(run_all.START) and "| W3 1000 small ops |" in table
    assert table.strip() in capsys.readouterr().out
    saved = json.loads((tmp_path / "r.json").read_text())
    assert len(saved["records"]) == 3 and {r["contender"] for r in saved["records"]} == {
        "ember",
        "torch",
        "numpy",
    }


def test_run_all_refuses_a_smoke_run_into_readme():
    with pytest.raises(SystemExit):
        run_all.main(["--quick", "--write-readme"])


def test_in_process_mode_still_prints_a_table(capsys):
    results = run_all.main(["--in-process", "--quick", "--small", "--only", "W3"])
    assert "W3 1000 small ops" in results
    out = capsys.readouterr().out
    assert "in-process" in out and "ember/torch" in out
