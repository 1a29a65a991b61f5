#!/usr/bin/env python3
"""Baseline for `cellwise bench oracle`: a numpy f64 forward pass of the embedded model over
the 10k MNIST test split with the degree-17 least-squares tanh fit in every cell (the
straightforward way to score a schedule). Prints schedules per second (median of 5).

    python3 scripts/numpy-oracle-baseline.py DATA_DIR [--cell rnn|gru|lstm]

--cell gru / lstm: the same pass for GRU(32) (Keras reset_after equations) or LSTM(32) (Keras),
random weights of Keras's shapes, every activation replaced by its degree-17 least-squares fit
on [-8, 8]: the tanh fit in tanh slots (LSTM: also tanh of the cell state), the sigmoid fit in
sigmoid slots.
"""
import sys
import time

import os

import numpy as np
from numpy.polynomial import chebyshev as C


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mnist_idx import read_idx  # noqa: E402


def gated(x, cell):
    """Schedules per second for the GRU or LSTM pass (median of 5 after a warm-up)."""
    rng = np.random.default_rng(0)
    hid = 32
    gates = 3 if cell == "gru" else 4
    # Keras's shapes; the values do not change the work done.
    k, u = rng.normal(0, 0.2, (28, gates * hid)), rng.normal(0, 0.2, (hid, gates * hid))
    b = np.zeros((2, gates * hid)) if cell == "gru" else np.zeros(gates * hid)
    wd, bd = rng.normal(0, 0.2, (hid, 10)), np.zeros(10)
    grid = np.linspace(-8, 8, 100001)
    tanh_c = C.chebfit(grid / 8, np.tanh(grid), 17)
    sig_c = C.chebfit(grid / 8, 1.0 / (1.0 + np.exp(-grid)), 17)
    tanh = lambda v: C.chebval(v / 8, tanh_c)  # noqa: E731
    sig = lambda v: C.chebval(v / 8, sig_c)  # noqa: E731
    times = []
    for _ in range(6):
        t0 = time.perf_counter()
        h = np.zeros((x.shape[0], hid))
        c = np.zeros_like(h)
        for t in range(28):
            if cell == "gru":
                gx, gh = x[:, t, :] @ k + b[0], h @ u + b[1]
                z = sig(gx[:, :hid] + gh[:, :hid])
                r = sig(gx[:, hid : 2 * hid] + gh[:, hid : 2 * hid])
                hh = tanh(gx[:, 2 * hid :] + r * gh[:, 2 * hid :])
                h = z * h + (1 - z) * hh
            else:
                g = x[:, t, :] @ k + h @ u + b
                i, f = sig(g[:, :hid]), sig(g[:, hid : 2 * hid])
                gg, o = tanh(g[:, 2 * hid : 3 * hid]), sig(g[:, 3 * hid :])
                c = f * c + i * gg
                h = o * tanh(c)
        (h @ wd + bd).argmax(axis=1)
        times.append(time.perf_counter() - t0)
    return 1.0 / float(np.median(times[1:]))


def main():
    args = [a for a in sys.argv[1:]]
    cell = "rnn"
    if "--cell" in args:
        i = args.index("--cell")
        cell = args[i + 1]
        del args[i : i + 2]
    if cell not in ("rnn", "gru", "lstm") or len(args) != 1:
        sys.exit("usage: numpy-oracle-baseline.py DATA_DIR [--cell rnn|gru|lstm]")
    data_dir = args[0]
    x = read_idx(f"{data_dir}/t10k-images.idx3-ubyte").astype(np.float64) / 255.0
    if cell != "rnn":
        print(gated(x, cell))
        return
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
