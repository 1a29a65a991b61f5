#!/usr/bin/env python3
"""Baseline for `cellwise bench oracle`: a numpy f64 forward pass over the 10k MNIST test split
(28 steps of 28 pixels) with a least-squares polynomial fit in every activation (the
straightforward way to score a schedule). Prints schedules per second (median of 5 after a
warm-up).

    python3 scripts/numpy-oracle-baseline.py DATA_DIR [--cell rnn|gru|lstm] [--hidden H]
                                             [--degree D]

--cell rnn: SimpleRNN(H); gru: GRU(H) (Keras reset_after equations); lstm: LSTM(H) (Keras).
Random weights of Keras's shapes (the values do not change the work done) and Dense(10); every
activation replaced by its degree-D least-squares fit on [-8, 8], evaluated in the Chebyshev
basis: the tanh fit in tanh slots (LSTM: also tanh of the cell state), the sigmoid fit in
sigmoid slots. Defaults: H = 32, D = 17 (the all-17 schedule of the 32-unit problems).
"""
import argparse
import os
import struct
import sys
import time

import numpy as np
from numpy.polynomial import chebyshev as C

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mnist_idx import read_idx  # noqa: E402

GATES = {"rnn": 1, "gru": 3, "lstm": 4}


def fits(degree):
    """tanh and sigmoid as degree-`degree` Chebyshev least-squares fits on [-8, 8]."""
    grid = np.linspace(-8, 8, 100001)
    tanh_c = C.chebfit(grid / 8, np.tanh(grid), degree)
    sig_c = C.chebfit(grid / 8, 1.0 / (1.0 + np.exp(-grid)), degree)
    tanh = lambda v: C.chebval(v / 8, tanh_c)  # noqa: E731
    sig = lambda v: C.chebval(v / 8, sig_c)  # noqa: E731
    return tanh, sig


def schedules_per_second(x, cell, hid, degree):
    """Schedules per second of the forward pass (median of 5 after a warm-up)."""
    rng = np.random.default_rng(0)
    gates = GATES[cell]
    steps, width = x.shape[1], x.shape[2]
    # Keras's shapes; the values do not change the work done.
    k = rng.normal(0, 0.2, (width, gates * hid))
    u = rng.normal(0, 0.2, (hid, gates * hid))
    b = np.zeros((2, gates * hid)) if cell == "gru" else np.zeros(gates * hid)
    wd, bd = rng.normal(0, 0.2, (hid, 10)), np.zeros(10)
    tanh, sig = fits(degree)
    times = []
    for _ in range(6):
        t0 = time.perf_counter()
        h = np.zeros((x.shape[0], hid))
        c = np.zeros_like(h)
        for t in range(steps):
            if cell == "rnn":
                h = tanh(x[:, t, :] @ k + h @ u + b)
            elif cell == "gru":
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
    parser = argparse.ArgumentParser(description="numpy f64 baseline of cellwise bench oracle")
    parser.add_argument("data_dir", help="directory holding t10k-images.idx3-ubyte")
    parser.add_argument("--cell", choices=sorted(GATES), default="rnn")
    parser.add_argument("--hidden", type=int, default=32, help="hidden units (default 32)")
    parser.add_argument("--degree", type=int, default=17, help="fit degree (default 17)")
    args = parser.parse_args()
    if not 1 <= args.hidden <= 4096:
        parser.error(f"--hidden {args.hidden} is out of range: give 1 to 4096")
    if not 1 <= args.degree <= 64:
        parser.error(f"--degree {args.degree} is out of range: give 1 to 64")
    path = os.path.join(args.data_dir, "t10k-images.idx3-ubyte")
    try:
        x = read_idx(path).astype(np.float64) / 255.0
    except (OSError, ValueError, IndexError, struct.error) as e:
        sys.exit(f"error: {path}: {e}")
    print(schedules_per_second(x, args.cell, args.hidden, args.degree))


if __name__ == "__main__":
    main()
