#!/usr/bin/env python3
"""Independent numpy implementation of the SimpleRNN(tanh) + Dense forward pass.

Reads weights from a .npz in cellwise's Keras layout (wx, wh, b, wd, bd) and the raw MNIST
IDX test files of a directory, and writes the predicted class and logits of every image as
JSON. The Rust test `reference_predictions` checks cellwise against the committed output:

    python3 scripts/numpy-reference.py tests/fixtures/model.npz tests/fixtures/mnist-mini \
        > tests/fixtures/reference-predictions.json
"""
import json
import sys

import os

import numpy as np


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mnist_idx import read_idx  # noqa: E402


def main():
    weights, data_dir = sys.argv[1], sys.argv[2]
    w = np.load(weights)
    wx, wh, b, wd, bd = (w[k].astype(np.float64) for k in ("wx", "wh", "b", "wd", "bd"))
    images = read_idx(f"{data_dir}/t10k-images.idx3-ubyte").astype(np.float64) / 255.0
    h = np.zeros((images.shape[0], wh.shape[0]))
    for t in range(images.shape[1]):
        h = np.tanh(images[:, t, :] @ wx + h @ wh + b)
    logits = h @ wd + bd
    json.dump(
        {
            "weights": weights,
            "images": int(images.shape[0]),
            "predictions": logits.argmax(axis=1).tolist(),
            "logits": np.round(logits, 6).tolist(),
        },
        sys.stdout,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
