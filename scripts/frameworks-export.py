#!/usr/bin/env python3
"""Reference recurrent models trained in Keras or PyTorch, exported for cellwise's importer.

    python3 -m venv V && V/bin/pip install tensorflow-cpu numpy safetensors      (Keras)
    python3 -m venv V && V/bin/pip install torch numpy safetensors               (PyTorch)
    V/bin/python scripts/frameworks-export.py --framework keras|torch --cell rnn|gru|lstm \
        --hidden H --epochs E --data-dir D --out STEM [--images N] [--seed S] [--threads 2]
        [--train-images M] [--eval-dir D2] [--reset-before] [--weights-only]

Trains `cell(H)` over 28 time steps of 28 pixels (/ 255, row by row) followed by a dense
layer of 10 logits (Adam lr 1e-3, batch 128, E epochs, cross-entropy from logits, no early
stopping) on the first 55,000 images of D's training file (or the first M of them), then
scores the first N images of the test file in D2 (default D) in the framework itself.

Writes STEM.npz and STEM.safetensors (float32) and STEM.predictions.json.
- Keras: `kernel` [28, G*H], `recurrent_kernel` [H, G*H], `bias` ([G*H]; GRU with
  reset_after: [2, 3H], row 0 input bias, row 1 recurrent bias), `dense_kernel` [H, 10],
  `dense_bias` [10]: the layers' get_weights() arrays, Keras gate order (GRU z, r, h;
  LSTM i, f, c, o).
- PyTorch: the model's state_dict() unchanged (`rnn.weight_ih_l0` [G*H, 28],
  `rnn.weight_hh_l0` [G*H, H], `rnn.bias_ih_l0`, `rnn.bias_hh_l0` [G*H], `fc.weight` [10, H],
  `fc.bias` [10]), PyTorch gate order (GRU r, z, n; LSTM i, f, g, o); logits = fc(h_T).
The JSON has the predictions (argmax per image) and, for N <= 256, the logits, written as
the shortest decimals that read back to the same float32 values.

Each run also recomputes the logits in numpy (f64, Keras's equations; torch weights converted
to Keras's layout first) and records the largest difference as `numpy_check`.

--reset-before builds a Keras GRU with reset_after=False (bias [3H]); --weights-only writes
STEM.npz alone.
"""
import argparse
import datetime
import json
import os
import platform
import shlex
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mnist_idx import read_idx  # noqa: E402

CLASSES = 10


def load(args):
    d, e = args.data_dir, args.eval_dir or args.data_dir
    x = read_idx(f"{d}/train-images.idx3-ubyte")[:55000]
    y = read_idx(f"{d}/train-labels.idx1-ubyte")[:55000]
    if args.train_images:
        x, y = x[: args.train_images], y[: args.train_images]
    xt = read_idx(f"{e}/t10k-images.idx3-ubyte")
    yt = read_idx(f"{e}/t10k-labels.idx1-ubyte")
    n = args.images or len(xt)
    if n > len(xt):
        sys.exit(f"--images {n}: the test file has {len(xt)} images")
    xt, yt = xt[:n], yt[:n]
    f32 = lambda a: (a.astype(np.float32) / np.float32(255.0)).reshape(-1, 28, 28)  # noqa: E731
    return f32(x), y.astype(np.int64), f32(xt), yt.astype(np.int64)


def keras_run(args, x, y, xt):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ["TF_NUM_INTRAOP_THREADS"] = str(args.threads)
    os.environ["TF_NUM_INTEROP_THREADS"] = str(args.threads)
    import tensorflow as tf

    keras = tf.keras
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    keras.utils.set_random_seed(args.seed)
    tf.config.experimental.enable_op_determinism()
    if args.cell == "rnn":
        cell = keras.layers.SimpleRNN(args.hidden, activation="tanh")
    elif args.cell == "gru":
        cell = keras.layers.GRU(
            args.hidden, activation="tanh", recurrent_activation="sigmoid", reset_after=not args.reset_before
        )
    else:
        cell = keras.layers.LSTM(
            args.hidden, activation="tanh", recurrent_activation="sigmoid", unit_forget_bias=True
        )
    model = keras.Sequential([keras.Input((28, 28)), cell, keras.layers.Dense(CLASSES)])
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    if args.epochs:
        model.fit(x, y, batch_size=128, epochs=args.epochs, shuffle=True, verbose=2)
    logits = model.predict(xt, batch_size=500, verbose=0).astype(np.float32)
    rnn, dense = model.layers
    w = rnn.get_weights()
    names = ["kernel", "recurrent_kernel", "bias"]
    if len(w) != 3:
        sys.exit(f"unexpected {type(rnn).__name__} weights: {[a.shape for a in w]}")
    tensors = dict(zip(names, w))
    tensors["dense_kernel"], tensors["dense_bias"] = dense.get_weights()
    version = f"keras {keras.__version__} (tensorflow {tf.__version__})"
    return tensors, logits, version


def torch_run(args, x, y, xt):
    import torch
    from torch import nn

    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(args.threads)
    except RuntimeError:
        pass
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    if args.reset_before:
        sys.exit("--reset-before is a Keras GRU option")

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            kind = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}[args.cell]
            extra = {"nonlinearity": "tanh"} if args.cell == "rnn" else {}
            self.rnn = kind(28, args.hidden, num_layers=1, batch_first=True, **extra)
            self.fc = nn.Linear(args.hidden, CLASSES)

        def forward(self, v):
            _, h = self.rnn(v)
            if isinstance(h, tuple):  # LSTM: (h_n, c_n)
                h = h[0]
            return self.fc(h[-1])

    model = Model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    xs, ys = torch.from_numpy(x), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(args.seed)
    for epoch in range(args.epochs):
        t0 = time.perf_counter()
        model.train()
        order = torch.randperm(len(xs), generator=gen)
        total, correct, seen = 0.0, 0, 0
        for i in range(0, len(xs), 128):
            idx = order[i : i + 128]
            out = model(xs[idx])
            loss = loss_fn(out, ys[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            correct += int((out.argmax(1) == ys[idx]).sum())
            seen += len(idx)
        print(
            f"Epoch {epoch + 1}/{args.epochs} - {time.perf_counter() - t0:.1f}s - loss: {total / seen:.4f} - accuracy: {correct / seen:.4f}",
            file=sys.stderr,
        )
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(torch.from_numpy(xt[i : i + 500])) for i in range(0, len(xt), 500)]).numpy()
    tensors = {k: v.detach().contiguous().numpy() for k, v in model.state_dict().items()}
    return tensors, logits.astype(np.float32), f"torch {torch.__version__}"


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def keras_layout(framework, cell, t):
    """The tensors in Keras's layout (torch: transposed, GRU gates reordered r, z, n -> z, r, h,
    RNN and LSTM biases summed): the conversion the importer does, checked here in numpy."""
    if framework == "keras":
        return {k: v.astype(np.float64) for k, v in t.items()}
    f = lambda k: t[k].astype(np.float64)  # noqa: E731
    wi, wh, bi, bh = f("rnn.weight_ih_l0").T, f("rnn.weight_hh_l0").T, f("rnn.bias_ih_l0"), f("rnn.bias_hh_l0")
    out = {"dense_kernel": f("fc.weight").T, "dense_bias": f("fc.bias")}
    if cell == "gru":
        h = wh.shape[0]
        perm = np.r_[h : 2 * h, 0:h, 2 * h : 3 * h]  # torch r, z, n -> keras z, r, h
        out.update(kernel=wi[:, perm], recurrent_kernel=wh[:, perm], bias=np.stack([bi[perm], bh[perm]]))
    else:
        out.update(kernel=wi, recurrent_kernel=wh, bias=bi + bh)
    return out


def numpy_logits(cell, w, x):
    """f64 forward pass with Keras's equations over x [N, 28, 28]."""
    k, u, b = w["kernel"], w["recurrent_kernel"], w["bias"]
    hid = u.shape[0]
    h = np.zeros((x.shape[0], hid))
    c = np.zeros_like(h)
    for t in range(x.shape[1]):
        xt = x[:, t, :].astype(np.float64)
        if cell == "rnn":
            h = np.tanh(xt @ k + h @ u + b)
        elif cell == "gru" and b.ndim == 2:  # reset_after
            gx, gh = xt @ k + b[0], h @ u + b[1]
            z = sigmoid(gx[:, :hid] + gh[:, :hid])
            r = sigmoid(gx[:, hid : 2 * hid] + gh[:, hid : 2 * hid])
            hh = np.tanh(gx[:, 2 * hid :] + r * gh[:, 2 * hid :])
            h = z * h + (1 - z) * hh
        elif cell == "gru":  # reset_before
            gx = xt @ k + b
            z = sigmoid(gx[:, :hid] + h @ u[:, :hid])
            r = sigmoid(gx[:, hid : 2 * hid] + h @ u[:, hid : 2 * hid])
            hh = np.tanh(gx[:, 2 * hid :] + (r * h) @ u[:, 2 * hid :])
            h = z * h + (1 - z) * hh
        else:
            g = xt @ k + h @ u + b
            i, f, o = sigmoid(g[:, :hid]), sigmoid(g[:, hid : 2 * hid]), sigmoid(g[:, 3 * hid :])
            c = f * c + i * np.tanh(g[:, 2 * hid : 3 * hid])
            h = o * np.tanh(c)
    return h @ w["dense_kernel"] + w["dense_bias"]


def machine():
    cpu = platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), cpu)
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--framework", choices=["keras", "torch"], required=True)
    ap.add_argument("--cell", choices=["rnn", "gru", "lstm"], required=True)
    ap.add_argument("--hidden", type=int, required=True)
    ap.add_argument("--epochs", type=int, required=True)
    ap.add_argument("--data-dir", required=True, help="MNIST IDX files to train on")
    ap.add_argument("--out", required=True, help="output stem: STEM.npz, STEM.safetensors, STEM.predictions.json")
    ap.add_argument("--images", type=int, default=0, help="test images scored (default: all of the test file)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--train-images", type=int, default=0, help="train on the first M of the 55,000 (default all)")
    ap.add_argument("--eval-dir", default=None, help="directory whose t10k-* files are scored (default --data-dir)")
    ap.add_argument("--reset-before", action="store_true", help="Keras GRU with reset_after=False")
    ap.add_argument("--weights-only", action="store_true", help="write STEM.npz only")
    args = ap.parse_args()
    if args.reset_before and args.cell != "gru":
        sys.exit("--reset-before needs --cell gru")
    os.environ["OMP_NUM_THREADS"] = str(args.threads)

    x, y, xt, yt = load(args)
    run = keras_run if args.framework == "keras" else torch_run
    tensors, logits, version = run(args, x, y, xt)
    tensors = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()}
    stem = args.out
    os.makedirs(os.path.dirname(os.path.abspath(stem)), exist_ok=True)
    np.savez(stem + ".npz", **tensors)
    ref = numpy_logits(args.cell, keras_layout(args.framework, args.cell, tensors), xt)
    check = {
        "max_abs_logit_diff": float(np.abs(ref - logits).max()),
        "argmax_agreement": float((ref.argmax(axis=1) == logits.argmax(axis=1)).mean()),
    }
    print("numpy f64 re-computation (Keras equations) vs the framework:", json.dumps(check), file=sys.stderr)
    if args.weights_only:
        print(json.dumps({k: list(v.shape) for k, v in tensors.items()}))
        return
    if args.framework == "torch":  # the state_dict's tensors, as safetensors.torch writes them
        import torch
        from safetensors.torch import save_file

        save_file({k: torch.from_numpy(v) for k, v in tensors.items()}, stem + ".safetensors")
    else:
        from safetensors.numpy import save_file

        save_file(tensors, stem + ".safetensors")
    pred = logits.argmax(axis=1)
    acc = float((pred == yt).mean())
    summary = {
        "framework": args.framework,
        "framework_version": version,
        "cell": args.cell,
        "hidden": args.hidden,
        "epochs": args.epochs,
        "seed": args.seed,
        "images": int(len(xt)),
        "split": "test",
        "accuracy": acc,
        "predictions": [int(p) for p in pred],
    }
    if len(xt) <= 256:
        # str of a float32 is its shortest round-trip decimal: parsing it as f32 gives it back.
        summary["logits"] = [[float(str(v)) for v in row] for row in logits]
    summary.update(
        {
            "train_images": int(len(x)),
            "numpy_check": check,
            "command": shlex.join(["python3", os.path.relpath(os.path.abspath(sys.argv[0]))] + sys.argv[1:]),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": machine(),
            "tensors": {k: list(v.shape) for k, v in tensors.items()},
        }
    )
    with open(stem + ".predictions.json", "w") as f:
        json.dump(summary, f, separators=(",", ":"))
        f.write("\n")
    print(json.dumps({k: summary[k] for k in ("framework_version", "cell", "hidden", "images", "accuracy")}))


if __name__ == "__main__":
    main()
