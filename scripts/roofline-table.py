#!/usr/bin/env python3
"""Prints the table of results/ckks-roofline.md from the JSON of `cellwise ckks roofline --out F`.

Usage: scripts/roofline-table.py ROOFLINE.json

One row per (operation, level) in the run's order: measured and achievable milliseconds, their
ratio (the fraction of the achievable), the achievable time split by primitive (NTT + inverse
NTT, modular multiplication, multiply-accumulate, addition + permutation, seeded keys' mask
draws), and the fraction without the draws (as runs before the draw was timed counted). Then a
summary line: rows at or above 0.6, median and range of the fractions. Runs made before the
draw was timed have six primitives: their draw columns read 0."""

import json
import statistics
import sys


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        run = json.load(f)
    roof = run["roofline"]
    ms = roof["primitive_ms"]  # ntt, intt, modmul, mac, add, permute[, draw]
    ms = ms + [0.0] * (7 - len(ms))
    print("| operation | level | measured ms | achievable ms | fraction | NTT + iNTT | modmul | mac "
          "| add + permute | draw | fraction without draws |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    fractions = []
    for r in roof["rows"]:
        counts = r["counts"] + [0] * (7 - len(r["counts"]))
        parts = [c * t for c, t in zip(counts, ms)]
        total = sum(parts) or 1.0
        split = [parts[0] + parts[1], parts[2], parts[3], parts[4] + parts[5], parts[6]]
        share = " | ".join(f"{100 * p / total:.0f} %" for p in split)
        without = r["fraction"] * (total - parts[6]) / total
        fractions.append(r["fraction"])
        print(f"| `{r['op']}` | {r['level']} | {r['measured_ms']:,.1f} | {r['achievable_ms']:,.1f} "
              f"| {r['fraction']:.2f} | {share} | {without:.2f} |")
    at_least = sum(f >= 0.6 for f in fractions)
    print()
    print(f"rows at >= 0.6: {at_least} of {len(fractions)}; median "
          f"{statistics.median(fractions):.2f}, range {min(fractions):.2f}-{max(fractions):.2f}; "
          f"primitives (ms per limb): " + ", ".join(f"{t:.4f}" for t in ms))


if __name__ == "__main__":
    main()
