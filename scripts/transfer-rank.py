#!/usr/bin/env python3
"""Strategy rankings of several `cellwise compare` runs side by side: per run, the strategies
ordered by median test hypervolume (ties share a rank), and Kendall's tau-b of each ranking
against the first run's (the reference, e.g. MNIST). Prints markdown.

usage: scripts/transfer-rank.py COMPARE_DIR...   (each holding a compare.json)
"""
import itertools
import json
import os
import sys


def medians(path, key):
    d = json.load(open(os.path.join(path, "compare.json")))
    return d, {s["strategy"]: s[key]["median"] for s in d["summary"]}


def tau_b(a, b):
    names = sorted(set(a) & set(b))
    conc = disc = ta = tb = 0
    for x, y in itertools.combinations(names, 2):
        da, db = a[x] - a[y], b[x] - b[y]
        if da == 0 and db == 0:
            continue
        if da == 0:
            ta += 1
        elif db == 0:
            tb += 1
        elif (da > 0) == (db > 0):
            conc += 1
        else:
            disc += 1
    denom = ((conc + disc + ta) * (conc + disc + tb)) ** 0.5
    return (conc - disc) / denom if denom else float("nan")


def order(values):
    ranked = sorted(values.items(), key=lambda kv: -kv[1])
    return ", ".join(f"{k} {v:.4f}" for k, v in ranked)


def main():
    dirs = sys.argv[1:]
    _, ref_test = medians(dirs[0], "hypervolume_test")
    _, ref_val = medians(dirs[0], "hypervolume")
    print("| run | problem | cost model | min accuracy | strategies by median test hypervolume | tau-b vs the first (test) | tau-b vs the first (val) |")
    print("|---|---|---|---|---|---|---|")
    for d in dirs:
        meta, test = medians(d, "hypervolume_test")
        _, val = medians(d, "hypervolume")
        print(f"| `{d}` | {meta['problem']} | {meta['cost_model']} | {meta['min_accuracy']:.2f} | "
              f"{order(test)} | {tau_b(ref_test, test):.2f} | {tau_b(ref_val, val):.2f} |")


if __name__ == "__main__":
    main()
