#!/usr/bin/env python3
"""Selects a searched schedule by a paired non-inferiority test on validation.

usage: noninferior.py CELLWISE PROBLEM REFERENCE MARGIN_POINTS PARETO.csv...

For every finalist in the `pareto.csv` files (search fronts), its per-image correctness on the
validation split is compared with REFERENCE's (e.g. all-17) on the same images:
d = mean(c_f - c_r), SE = sd(c_f - c_r) / sqrt(n). A finalist passes when the one-sided 95 %
lower bound d - 1.645 SE is at least -MARGIN_POINTS / 100: the validation data show with 95 %
confidence that it loses less than the margin. The cheapest passing finalist (predicted cost,
as in pareto.csv) is selected; only then is its test accuracy (from pareto.csv) printed.
Output: a Markdown table of the finalists cheaper than or equal to the selection, then the
selection as JSON on the last line.
"""
import csv
import json
import math
import os
import subprocess
import sys
import tempfile

Z95 = 1.645


def val_predictions(cellwise, problem, schedules):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "p.json")
        cmd = [cellwise, "eval", "--problem", problem, "--split", "val", "--predictions", out]
        for s in schedules:
            cmd += ["--schedule", s]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        with open(out) as f:
            return json.load(f)


def main():
    if len(sys.argv) < 6:
        sys.exit(__doc__)
    cellwise, problem, reference, margin = sys.argv[1:5]
    margin = float(margin) / 100.0
    finalists = {}
    for path in sys.argv[5:]:
        source = os.path.basename(os.path.dirname(os.path.abspath(path)))
        with open(path) as f:
            for row in csv.DictReader(f):
                s, cost = row["schedule"], float(row["cost"])
                if s not in finalists or cost < finalists[s]["cost"]:
                    finalists[s] = {"cost": cost, "source": source,
                                    "test": float(row["test_accuracy"])}
    order = sorted(finalists, key=lambda s: (finalists[s]["cost"], s))
    run = val_predictions(cellwise, problem, [reference] + order)
    labels = run["labels"]
    n = len(labels)
    right = {e["schedule"]: [p == y for p, y in zip(e["predictions"], labels)]
             for e in run["schedules"]}
    ref = right[reference]
    print(f"reference `{reference}`: validation {sum(ref) / n:.4f} on {n} images; "
          f"margin {margin * 100:.2f} points, one-sided 95 % (z = {Z95})\n")
    print("| finalist (cheapest first) | from | predicted cost | val diff (points) | SE | lower bound | passes |")
    print("|---|---|---:|---:|---:|---:|---|")
    chosen = None
    for s in order:
        diffs = [int(a) - int(b) for a, b in zip(right[s], ref)]
        d = sum(diffs) / n
        var = sum((x - d) ** 2 for x in diffs) / (n - 1)
        se = math.sqrt(var / n)
        low = d - Z95 * se
        ok = low >= -margin
        f = finalists[s]
        print(f"| `{s}` | {f['source']} | {f['cost']:.2f} | {d * 100:+.2f} | {se * 100:.2f} | "
              f"{low * 100:+.2f} | {'yes' if ok else 'no'} |")
        if ok:
            chosen = {"schedule": s, "cost": f["cost"], "source": f["source"],
                      "val_diff_points": d * 100, "lower_bound_points": low * 100,
                      "test_accuracy": f["test"]}
            break
    print()
    print(json.dumps(chosen))


if __name__ == "__main__":
    main()
