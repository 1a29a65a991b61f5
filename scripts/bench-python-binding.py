#!/usr/bin/env python3
"""Binding overhead: `Oracle.evaluate_batch` of N schedules from Python against the same
work through the Rust API (a plain loop of `Oracle::evaluate` in Rust, timed inside Rust by
`cellwise._time_rust_evaluate`), side by side in one process.

Each round clears the oracle's memo and prefix cache before each of the two measurements and
alternates which goes first; both score the same N random schedules (seeded) cold. Reports
per-round seconds, the medians and the ratio of medians (target: <= 1.1), and writes a
markdown record with commit, date, machine and command when --out is given.

    python scripts/bench-python-binding.py --rounds 9 --out results/python-binding.md
"""

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

import cellwise

TARGET = 1.1


def machine():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f
                         if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{model}, {os.cpu_count()} logical cores, {platform.system()}"


def git(*args):
    try:
        return subprocess.run(["git", *args], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--problem", default="mnist-rnn32")
    ap.add_argument("--split", default="val", choices=["val", "test"])
    ap.add_argument("--schedules", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", help="write a markdown record here")
    args = ap.parse_args()

    problem = cellwise.Problem.load(args.problem)
    oracle = cellwise.Oracle(problem, args.split)
    rng = np.random.default_rng(args.seed)
    highs = np.array([len(d) for d in problem.degrees])[:, None]
    batch = rng.integers(0, highs, size=(args.schedules, *problem.shape))

    def python_side():
        oracle.clear_caches()
        start = time.perf_counter()
        oracle.evaluate_batch(batch)
        return time.perf_counter() - start

    def rust_side():
        oracle.clear_caches()
        return cellwise._time_rust_evaluate(oracle, batch)

    python_side()  # warm-up: thread pool, page faults
    load_before = os.getloadavg()[0]
    rows = []
    for r in range(args.rounds):
        if r % 2 == 0:
            py, rs = python_side(), rust_side()
        else:
            rs, py = rust_side(), python_side()
        rows.append((py, rs))
        print(f"round {r + 1}: evaluate_batch {py:.3f} s, Rust loop {rs:.3f} s, "
              f"ratio {py / rs:.3f}", file=sys.stderr)
    load_after = os.getloadavg()[0]
    py_med = statistics.median(p for p, _ in rows)
    rs_med = statistics.median(r for _, r in rows)
    ratios = [p / r for p, r in rows]
    ratio = py_med / rs_med
    verdict = "meets" if ratio <= TARGET else "misses"
    summary = (f"evaluate_batch of {args.schedules} schedules on {args.split} "
               f"({len(oracle)} images): median {py_med:.3f} s; Rust loop {rs_med:.3f} s; "
               f"ratio of medians {ratio:.3f} (median of the per-round ratios "
               f"{statistics.median(ratios):.3f}, range {min(ratios):.3f}-{max(ratios):.3f}), "
               f"{verdict} the target <= {TARGET}")
    print(summary)
    # The binding's own cost, with the evaluations taken out: every schedule a memo hit.
    oracle.evaluate_batch(batch)
    hits = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        oracle.evaluate_batch(batch)
        hits.append((time.perf_counter() - start, cellwise._time_rust_evaluate(oracle, batch)))
    hit_py = statistics.median(p for p, _ in hits)
    hit_rs = statistics.median(r for _, r in hits)
    fixed = (f"with every schedule a memo hit (no evaluation), evaluate_batch takes "
             f"{1e3 * hit_py:.2f} ms and the Rust loop {1e3 * hit_rs:.2f} ms (medians of "
             f"{args.rounds}): the binding's own cost is {1e3 * (hit_py - hit_rs):.2f} ms per "
             f"{args.schedules} schedules, {100 * (hit_py - hit_rs) / rs_med:.2f} % of the "
             "cold Rust loop")
    print(fixed)
    if args.out:
        lines = [
            "# Python binding overhead",
            "",
            f"`Oracle.evaluate_batch` of {args.schedules} random schedules (seed {args.seed}) "
            f"of `{args.problem}` on the {args.split} split ({len(oracle)} images) against "
            "the same work through the Rust API: a loop of `Oracle::evaluate` over the same "
            "schedules, keeping each accuracy, correct count and unsafe count, timed inside "
            "Rust (`cellwise._time_rust_evaluate`; the schedules are read and checked before "
            "its clock starts, while `evaluate_batch` is timed from Python around the whole "
            "call: reading the numpy array, checking every schedule, releasing and retaking "
            "the GIL every 50 ms, building the result arrays). Both run in one process, "
            "cold (memo and prefix cache cleared before each), alternating which goes first.",
            "",
            f"**{summary}.**",
            "",
            f"Rounds vary with the other work on the shared machine (see the load below); "
            f"{fixed}.",
            "",
            "| round | evaluate_batch (s) | Rust loop (s) | ratio |",
            "|---|---|---|---|",
        ]
        lines += [f"| {i + 1} | {p:.3f} | {r:.3f} | {p / r:.3f} |"
                  for i, (p, r) in enumerate(rows)]
        lines += [
            "",
            f"Commit {git('rev-parse', '--short=12', 'HEAD')}, "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {machine()}, "
            f"Python {platform.python_version()}, numpy {np.__version__}, "
            f"cellwise {cellwise.__version__} (wheel built by maturin, release profile); "
            f"1-minute load average {load_before:.2f} before the rounds, {load_after:.2f} "
            "after (other work on the machine slows both sides alike, round by round).",
            "",
            "Command: `python scripts/bench-python-binding.py "
            + " ".join(sys.argv[1:]) + "`",
            "",
        ]
        with open(args.out, "w") as f:
            f.write("\n".join(lines))


if __name__ == "__main__":
    main()
