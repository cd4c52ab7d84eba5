"""Time W1-W5 with each contender in its own process, and write README's benchmark table.

python -m benchmarks.run_all [--rounds 3] [--only W2] [--json out.json] [--write-readme]

Each contender (ember, torch, the hand-written NumPy floor) runs each workload in a fresh
process (benchmarks/contender.py), so one library's spinning pool threads never take a core
from another. Within a round the contenders alternate (the starting one rotates from round
to round); each round runs them with library-default threads and again with one thread each.
A figure is the median over rounds of each process's median: never a best-of. The table, with
the machine it ran on and the date, goes to stdout, and with --write-readme between README's
markers. OpenBLAS picks its kernel from the CPU unless OPENBLAS_CORETYPE says otherwise: for
figures a user would see, leave it and OPENBLAS_L2_SIZE unset for this command only:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
        python -m benchmarks.run_all --compiled --write-readme

--compiled adds ember.compile's step as a fourth contender (a line under the table).

--in-process times all contenders interleaved in this one process instead (for profiling;
its ratios are distorted by the other libraries' threads and never go to README).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys

from benchmarks.contender import BLAS_OVERRIDES, CONTENDERS
from benchmarks.workloads import SMALL, WORKLOADS

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
START, END = "<!-- benchmarks:start -->", "<!-- benchmarks:end -->"
PER_OP = {"W3 1000 small ops": "n_ops"}  # reported per op: its step divided by n_ops ops
LABELS = {"ember": "ember", "torch": "torch", "numpy": "NumPy floor"}


# --- one process per contender ------------------------------------------------------------


def run_contender(workload, contender, threads="default", small=False, timing=(), device="cpu"):
    """The JSON record of `python -m benchmarks.contender ...` run in a fresh process."""
    command = [sys.executable, "-m", "benchmarks.contender", "--workload", workload]
    command += ["--contender", contender, "--device", device, *timing]
    if threads != "default":
        command += ["--threads", str(threads)]
    if small:
        command.append("--small")
    out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(command[1:])} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(
    names,
    rounds=3,
    modes=("default", 1),
    small=False,
    timing=(),
    device="cpu",
    log=None,
    contenders=CONTENDERS,
):
    """All records: for each round, workload and thread mode, each contender in its own process.

    The contenders alternate within a round and the first one rotates between rounds, so a
    slow drift of the machine's load is shared out rather than landing on one contender."""
    records, absent = [], set()
    for r in range(rounds):
        for name in names:
            for mode in modes:
                k = r % len(contenders)
                order = contenders[k:] + contenders[:k]
                for contender in order:
                    if (name, contender) in absent:
                        continue
                    rec = run_contender(name, contender, mode, small, timing, device)
                    rec["round"] = r
                    if "skipped" in rec:
                        absent.add((name, contender))
                        continue
                    records.append(rec)
                    if log:
                        log(
                            f"round {r + 1}/{rounds}  {name:18s} {contender:6s} threads "
                            f"{mode!s:8s} {rec['median_s'] * 1e3:9.3f} ms"
                        )
    return records


def summarize(records):
    """{workload: {threads: {contender: {"median_s", "per_process_s"}}}}: medians of medians."""
    per = {}
    for rec in records:
        cell = per.setdefault(rec["workload"], {}).setdefault(str(rec["threads"]), {})
        cell.setdefault(rec["contender"], []).append(rec["median_s"])
    return {
        name: {
            mode: {
                c: {"median_s": statistics.median(ts), "per_process_s": ts}
                for c, ts in cells.items()
            }
            for mode, cells in modes.items()
        }
        for name, modes in per.items()
    }


# --- the table -----------------------------------------------------------------------------


def _scale(name, small):
    """(factor from seconds per step, unit) for a workload's cells."""
    if name in PER_OP:
        kwargs = SMALL[name] if small else {}
        n_ops = kwargs.get(PER_OP[name], 1000)
        return 1e6 / n_ops, "us per op"
    return 1e3, "ms"


def _ratio(cells, a, b):
    if a in cells and b in cells:
        return f"{cells[a]['median_s'] / cells[b]['median_s']:.2f}x"
    return "-"


_NAMES = {"openblas": "OpenBLAS", "mkl": "MKL", "blis": "BLIS", "flexiblas": "FlexiBLAS"}


def describe_machine(records):
    """One sentence: CPU, cores, NumPy's BLAS and kernel, torch's, threads, versions."""
    by = {}
    for rec in records:
        by.setdefault((rec["contender"], str(rec["threads"])), rec["machine"])
    any_machine = next(iter(by.values()))
    # the floor's process shows NumPy's BLAS as it starts (ember may size its threads per call)
    m = by.get(("numpy", "default")) or by.get(("ember", "default")) or any_machine
    cpu = m["cpu"] + (f" ({m['simd']})" if m.get("simd") else "")
    parts = [f"{cpu}, {m['cores']} cores"]
    pools = m["threadpools"] if isinstance(m["threadpools"], list) else []
    blas = next((p for p in pools if p["user_api"] == "blas"), None)
    numpy = f"NumPy {m['versions'].get('numpy')}"
    if blas:
        numpy += (
            f" on {_NAMES.get(blas['internal_api'], blas['internal_api'])} {blas.get('version')} "
            f"({blas.get('architecture')} kernel, {blas['num_threads']} threads by default)"
        )
    parts.append(numpy)
    t = by.get(("torch", "default"))
    if t and "torch" in t:
        info = t["torch"]
        parts.append(
            f"torch {t['versions'].get('torch')} ({_NAMES.get(info['blas'], info['blas'])}"
            f"{', oneDNN' if info['mkldnn'] else ''}, {info['num_threads']} threads by default)"
        )
    e = by.get(("ember", "default")) or any_machine
    parts.append(f"ember {e['versions'].get('ember')}, Python {m['python']}")
    pinned = {k: v for k, v in m["env"].items() if k in BLAS_OVERRIDES and v is not None}
    if pinned:
        parts.append("with " + ", ".join(f"{k}={v}" for k, v in pinned.items()) + " set")
    return "; ".join(parts)


def section(summary, records, command, rounds, small=False, extras=None):
    """README's benchmark section, between the markers: header, table, extra figures."""
    date = min(rec["machine"]["date"] for rec in records)[:10]
    samples = len(records[0]["samples_s"]) if records else 0
    lines = [
        START,
        f"Generated {date} by `{command}`: each contender runs each workload in a fresh "
        f"process, the contenders alternating, {rounds} round{'s' * (rounds != 1)}; a figure "
        f"is the median over rounds of each process's median of {samples} timed "
        f"sample{'s' * (samples != 1)}. "
        f"Machine: {describe_machine(records)}.",
        "",
        "| workload | ember | torch | NumPy floor | ember/torch | ember/torch, 1 thread each "
        "| ember/floor |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in WORKLOADS:
        if name not in summary:
            continue
        factor, unit = _scale(name, small)
        default, single = summary[name].get("default", {}), summary[name].get("1", {})
        times = [
            f"{default[c]['median_s'] * factor:.2f} {unit}" if c in default else "-"
            for c in CONTENDERS
        ]
        ratios = [
            _ratio(default, "ember", "torch"),
            _ratio(single, "ember", "torch"),
            _ratio(default, "ember", "numpy"),
        ]
        lines.append(f"| {name} | " + " | ".join(times + ratios) + " |")
    for paragraph in (_compiled_line(summary, small), extras):
        if paragraph:
            lines += ["", paragraph]
    lines.append(END)
    return "\n".join(lines)


def _compiled_line(summary, small):
    """A sentence on ember.compile's step where it ran (`--compiled`), or None."""
    parts = []
    for name in WORKLOADS:
        cells = summary.get(name, {}).get("default", {})
        if "compiled" not in cells:
            continue
        factor, unit = _scale(name, small)
        ratios = [
            f"{_ratio(cells, 'compiled', other)} {label}"
            for other, label in (("ember", "eager"), ("torch", "torch"), ("numpy", "floor"))
            if other in cells
        ]
        time = cells["compiled"]["median_s"] * factor
        parts.append(f"{name.split()[0]} {time:.2f} {unit} ({', '.join(ratios)})")
    if not parts:
        return None
    return (
        "`ember.compile`d steps, default threads (ratios compiled/...): " + "; ".join(parts) + "."
    )


def write_readme(text, path=README):
    """Replace the section between the markers in `path`; refuse if they are missing."""
    path = pathlib.Path(path)
    old = path.read_text()
    start, end = old.find(START), old.find(END)
    if start < 0 or end < start:
        raise SystemExit(
            f"{path} has no {START} ... {END} markers: put them around the benchmark table, "
            "then run again"
        )
    path.write_text(old[:start] + text + old[end + len(END) :])


# --- import time and memory ------------------------------------------------------------------


def import_time(module: str) -> float:
    """Median wall time of `import module` in a fresh interpreter (seconds)."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    # as after `pip install`: bytecode is cached (a first run writes it)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([sys.executable, "-c", f"import {module}"], env=env, capture_output=True)
    runs = []
    for _ in range(5):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
        if out.returncode != 0:
            return float("nan")
        runs.append(float(out.stdout))
    return statistics.median(runs)


def extra_figures(records, modules=("ember", "torch", "numpy")):
    """A sentence: import times, and W2's peak memory per contender (each its own process)."""
    t = {m: import_time(m) for m in modules}
    text = (
        f"`import ember` takes {t['ember']:.2f} s (torch {t['torch']:.2f} s, NumPy alone "
        f"{t['numpy']:.2f} s)"
    )
    rss = {}
    for rec in records:
        if rec["workload"] == "W2 MNIST MLP" and rec["threads"] == "default":
            rss.setdefault(rec["contender"], []).append(rec["peak_rss_mb"])
    if rss:
        text += "; W2 peak memory: " + ", ".join(
            f"{LABELS[c]} {statistics.median(rss[c]):.0f} MB" for c in CONTENDERS if c in rss
        )
    return text + "."


# --- the in-process mode (profiling) ---------------------------------------------------------


def in_process(args):
    """All contenders in this process, interleaved (benchmarks._timing.interleaved)."""
    from benchmarks._timing import interleaved, try_import_torch

    rounds, inner = (1, 1) if args.quick else (args.rounds, args.inner)
    torch = try_import_torch()
    print("in-process, interleaved (for profiling: other libraries' threads distort ratios)")
    print(
        f"{'workload':22s} {'ember':>10s} {'torch':>10s} {'numpy':>10s} "
        f"{'ember/torch':>12s} {'ember/numpy':>12s}"
    )
    results = {}
    for name, build in WORKLOADS.items():
        if args.only and args.only not in name:
            continue
        kwargs = SMALL[name] if args.small else {}
        contenders = build(torch, device=args.device, **kwargs)
        times = interleaved(contenders, rounds=rounds, inner=inner, warmup=0 if args.quick else 2)
        factor, unit = _scale(name, args.small)
        cells = [f"{times[k] * factor:9.2f}" if k in times else f"{'-':>9s}" for k in CONTENDERS]
        ratios = [
            f"{times['ember'] / times[k]:11.2f}x" if k in times else f"{'-':>12s}"
            for k in ("torch", "numpy")
        ]
        print(f"{name:22s} " + " ".join(f"{c:>10s}" for c in cells + ratios) + f"  ({unit})")
        results[name] = times
    return results


# --- command line -----------------------------------------------------------------------------


def _public(argv):
    """The arguments worth repeating in the table's header: output paths are left out (they
    name a place on the machine that ran it)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a in ("--json", "--markdown"):
            skip = True
        elif not a.startswith(("--json=", "--markdown=")):
            out.append(a)
    return out


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="processes per contender (3)")
    parser.add_argument("--samples", type=int, default=7, help="timed samples per process (7)")
    parser.add_argument(
        "--min-sample-time", type=float, default=0.1, help="seconds per sample, at least (0.1)"
    )
    parser.add_argument("--inner", type=int, help="calls per sample (default: from the warm-up)")
    parser.add_argument("--only", help="run only workloads whose name contains this")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument(
        "--no-single-thread", action="store_true", help="skip the one-thread-each runs"
    )
    parser.add_argument(
        "--compiled", action="store_true", help="also time ember.compile's step (its own process)"
    )
    parser.add_argument("--small", action="store_true", help="tiny sizes (a smoke run)")
    parser.add_argument(
        "--quick", action="store_true", help="1 round, 1 sample of 1 call, no import/memory line"
    )
    parser.add_argument("--json", help="write every record and the summary to this file")
    parser.add_argument("--markdown", help="write the table section to this file")
    parser.add_argument("--write-readme", action="store_true", help="replace it in README.md")
    parser.add_argument("--readme", default=str(README), help="the file --write-readme edits")
    parser.add_argument(
        "--in-process", action="store_true", help="all contenders in this process (profiling)"
    )
    args = parser.parse_args(argv)
    if args.in_process:
        if args.write_readme or args.markdown or args.json:
            parser.error("--in-process only prints: its ratios do not go to README")
        if args.inner is None:
            args.inner = 10
        return in_process(args)
    if args.write_readme and (args.quick or args.small):
        parser.error("README's table comes from a full run (no --quick, no --small)")
    pinned = [f"{k}={os.environ[k]}" for k in BLAS_OVERRIDES if k in os.environ]
    if pinned:
        print(
            f"note: {', '.join(pinned)} pins NumPy's OpenBLAS to a kernel a user's machine "
            "would not pick; the table says so. For user-like figures: env -u "
            + " -u ".join(BLAS_OVERRIDES)
            + " python -m benchmarks.run_all ...",
            file=sys.stderr,
        )
    rounds = 1 if args.quick else args.rounds
    timing = ["--samples", str(args.samples), "--min-sample-time", str(args.min_sample_time)]
    if args.quick:
        timing = ["--samples", "1", "--inner", "1", "--warmup", "0"]
    elif args.inner:
        timing += ["--inner", str(args.inner)]
    modes = ("default",) if args.no_single_thread or args.device != "cpu" else ("default", 1)
    names = [n for n in WORKLOADS if not args.only or args.only in n]

    def log(line):
        print(line, file=sys.stderr, flush=True)

    contenders = CONTENDERS + (("compiled",) if args.compiled else ())
    records = measure(names, rounds, modes, args.small, timing, args.device, log, contenders)
    if not records:
        raise SystemExit(f"no workload ran (--only {args.only!r}?)")
    summary = summarize(records)
    if rounds > 1:  # how far the processes disagreed: a wide spread means a busy machine
        for name, by_mode in summary.items():
            for mode, cells in by_mode.items():
                spread = [
                    f"{c} {min(v['per_process_s']) * 1e3:.3f}-{max(v['per_process_s']) * 1e3:.3f}"
                    for c, v in cells.items()
                ]
                log(f"spread  {name:18s} threads {mode:8s} " + "  ".join(spread) + " ms")
    extras = None
    if not args.quick and args.device == "cpu":
        extras = extra_figures(records)
    command = "python -m benchmarks.run_all" + "".join(f" {a}" for a in _public(argv))
    text = section(summary, records, command, rounds, args.small, extras)
    print(text)
    if args.json:
        payload = {"command": command, "records": records, "summary": summary, "extras": extras}
        pathlib.Path(args.json).write_text(json.dumps(payload, indent=1) + "\n")
    if args.markdown:
        pathlib.Path(args.markdown).write_text(text + "\n")
    if args.write_readme:
        write_readme(text, args.readme)
        print(f"wrote the table into {args.readme}", file=sys.stderr)
    return summary


if __name__ == "__main__":
    main()
