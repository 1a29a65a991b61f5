#!/usr/bin/env python3
"""Baseline for `cellwise bench oracle`: a numpy f64 forward pass of the embedded model over
the 10k MNIST test split with the degree-17 least-squares tanh fit in every cell (the
straightforward way to score a schedule). Prints schedules per second (median of 5).

    python3 scripts/numpy-oracle-baseline.py DATA_DIR
"""
import sys
import time

import os

import numpy as np
from numpy.polynomial import chebyshev as C


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mnist_idx import read_idx  # noqa: E402


def main():
    data_dir = sys.argv[1]
    x = read_idx(f"{data_dir}/t10k-images.idx3-ubyte").astype(np.float64) / 255.0
    rng = np.random.default_rng(0)
    # Same shapes as the embedded model; the values do not change the work done.
    wx, wh, b = rng.normal(0, 0.2, (28, 32)), rng.normal(0, 0.2, (32, 32)), np.zeros(32)
    wd, bd = rng.normal(0, 0.2, (32, 10)), np.zeros(10)
    grid = np.linspace(-8, 8, 100001)
    coeffs = C.chebfit(grid / 8, np.tanh(grid), 17)
    times = []
    for _ in range(6):
        t0 = time.perf_counter()
        h = np.zeros((x.shape[0], 32))
        for t in range(28):
            h = C.chebval((x[:, t, :] @ wx + h @ wh + b) / 8, coeffs)
        (h @ wd + bd).argmax(axis=1)
        times.append(time.perf_counter() - t0)
    print(1.0 / float(np.median(times[1:])))


if __name__ == "__main__":
    main()
