#!/usr/bin/env python3
"""Keras side of the training comparison: the same data, split, model, optimiser, batch and
epoch budget as `cellwise train`, timed on this machine.

    python3 -m venv V && V/bin/pip install tensorflow-cpu numpy
    V/bin/python scripts/keras-compare.py DATA_DIR [--epochs N] [--threads 2] [--out F.json]
        [--cell rnn|gru|lstm]

DATA_DIR holds the raw MNIST IDX files (`cellwise fetch`). Split: train = first 55,000 of the
training file, val = last 5,000, test = 10,000. SimpleRNN(32, tanh) + Dense(10), Adam lr 1e-3
(epsilon 1e-7), batch 128, EarlyStopping(val_loss, patience 10, restore best),
ReduceLROnPlateau(val_loss, factor 0.1, patience 5, min_lr 1e-5). Writes a JSON summary and
the trained weights as NPZ in cellwise's layout (scorable with `cellwise eval --weights`).

--cell gru / lstm replaces SimpleRNN(32) by GRU(32) (reset_after=True, recurrent activation
sigmoid) or LSTM(32) (unit_forget_bias=True), everything else the same; their weights are
written under Keras's names (kernel, recurrent_kernel, bias, dense_kernel, dense_bias), the
layout of scripts/frameworks-export.py. The JSON summary names the cell.
"""
import argparse
import json
import os
import sys
import time




def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data_dir")
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", default="keras-compare.json")
    ap.add_argument("--cell", choices=["rnn", "gru", "lstm"], default="rnn")
    args = ap.parse_args()
    os.environ["TF_NUM_INTRAOP_THREADS"] = str(args.threads)
    import numpy as np
    import tensorflow as tf

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from mnist_idx import read_idx

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    tf.keras.utils.set_random_seed(args.seed)
    d = args.data_dir
    x = read_idx(f"{d}/train-images.idx3-ubyte").astype("float32") / 255.0
    y = read_idx(f"{d}/train-labels.idx1-ubyte").astype("int64")
    xt = read_idx(f"{d}/t10k-images.idx3-ubyte").astype("float32") / 255.0
    yt = read_idx(f"{d}/t10k-labels.idx1-ubyte").astype("int64")
    xtr, ytr, xv, yv = x[:55000], y[:55000], x[55000:], y[55000:]
    model = tf.keras.Sequential(
        [
            tf.keras.Input((28, 28)),
            {
                "rnn": lambda: tf.keras.layers.SimpleRNN(32, activation="tanh"),
                "gru": lambda: tf.keras.layers.GRU(32, recurrent_activation="sigmoid", reset_after=True),
                "lstm": lambda: tf.keras.layers.LSTM(32, recurrent_activation="sigmoid", unit_forget_bias=True),
            }[args.cell](),
            tf.keras.layers.Dense(10),
        ]
    )
    model.compile(
        optimizer=tf.keras.optimizers.Adam(1e-3, epsilon=1e-7),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )

    class Timer(tf.keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.times = []

        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self.t0)

    timer = Timer()
    hist = model.fit(
        xtr,
        ytr,
        batch_size=128,
        epochs=args.epochs,
        validation_data=(xv, yv),
        verbose=2,
        callbacks=[
            timer,
            tf.keras.callbacks.EarlyStopping(patience=10, restore_best_weights=True),
            tf.keras.callbacks.ReduceLROnPlateau(factor=0.1, patience=5, min_lr=1e-5),
        ],
    )
    _, val_acc = model.evaluate(xv, yv, verbose=0)
    _, test_acc = model.evaluate(xt, yt, verbose=0)
    rnn, dense = model.layers
    wx, wh, b = rnn.get_weights()
    wd, bd = dense.get_weights()
    stem = os.path.splitext(args.out)[0]
    if args.cell == "rnn":
        np.savez(stem + ".npz", wx=wx, wh=wh, b=b, wd=wd, bd=bd)
    else:
        np.savez(stem + ".npz", kernel=wx, recurrent_kernel=wh, bias=b, dense_kernel=wd, dense_bias=bd)
    summary = {
        "engine": f"keras (tensorflow {tf.__version__})",
        "cell": args.cell,
        "threads": args.threads,
        "epochs": len(timer.times),
        "median_epoch_seconds": float(np.median(timer.times)),
        "epoch_seconds": timer.times,
        "val_accuracy": float(val_acc),
        "test_accuracy": float(test_acc),
        "history": {k: [float(v) for v in vs] for k, vs in hist.history.items()},
        "weights": stem + ".npz",
    }
    with open(args.out, "w") as f:
        json.dump(summary, f, indent=1)
    print(json.dumps({k: summary[k] for k in ("engine", "epochs", "median_epoch_seconds", "val_accuracy", "test_accuracy")}))


if __name__ == "__main__":
    main()
