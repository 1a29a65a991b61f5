#!/usr/bin/env python3
"""Where do low degrees hurt? For each problem, every single lowering of all-17: the accuracy of
`17 except D@t` for D in 3, 7 and every step t (a complete sweep, 2 x steps schedules), on the
validation and the test split, from `cellwise eval --json`. Prints a markdown summary and writes
the raw numbers as JSON.

usage: scripts/transfer-steps.py BINARY OUT.json PROBLEM...   (CELLWISE_DATA_DIR as for eval)
"""
import json
import subprocess
import sys


def sweep(binary, problem, split):
    base = json.loads(subprocess.run(
        [binary, "eval", "--problem", problem, "--split", split, "--json",
         "--schedule", "all-17"], check=True, capture_output=True, text=True).stdout)[0]
    steps = len(base["out_of_domain_per_step"])
    schedules = [f"17 except {d}@{t}" for d in (3, 7) for t in range(steps)]
    args = [binary, "eval", "--problem", problem, "--split", split, "--json"]
    for s in schedules:
        args += ["--schedule", s]
    rows = json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)
    acc = {r["schedule"]: r["accuracy"] for r in rows}
    return {
        "all17": base["accuracy"],
        "images": base["total"],
        "steps": steps,
        "loss": {str(d): [100 * (base["accuracy"] - acc[f"17 except {d}@{t}"])
                          for t in range(steps)] for d in (3, 7)},
    }


def thirds(losses):
    n = len(losses)
    cuts = [0, n // 3, 2 * n // 3, n]
    return [sum(losses[a:b]) / (b - a) for a, b in zip(cuts, cuts[1:])]


def main():
    binary, out, problems = sys.argv[1], sys.argv[2], sys.argv[3:]
    result = {}
    for p in problems:
        result[p] = {split: sweep(binary, p, split) for split in ("val", "test")}
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
    print("| problem | split (images) | all-17 | mean loss, degree 3 at a step of the first / middle / last third (points) | steps where degree 3 costs <= 0.5 points | mean loss, degree 7 (first / middle / last) | steps where degree 7 costs <= 0.1 points |")
    print("|---|---|---|---|---|---|---|")
    for p, splits in result.items():
        for split, r in splits.items():
            l3, l7 = r["loss"]["3"], r["loss"]["7"]
            ok3 = [t for t, v in enumerate(l3) if v <= 0.5]
            ok7 = [t for t, v in enumerate(l7) if v <= 0.1]
            fmt = lambda xs: " / ".join(f"{x:.2f}" for x in xs)
            print(f"| {p} | {split} ({r['images']}) | {100 * r['all17']:.2f} % | {fmt(thirds(l3))} | "
                  f"{','.join(map(str, ok3)) or '-'} ({len(ok3)} of {r['steps']}) | {fmt(thirds(l7))} | "
                  f"{','.join(map(str, ok7)) or '-'} ({len(ok7)} of {r['steps']}) |")


if __name__ == "__main__":
    main()
