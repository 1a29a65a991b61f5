#!/usr/bin/env python3
"""Side by side on the 10,000 MNIST test images: each framework's own predictions (Keras,
PyTorch; results/frameworks/*.predictions.json) against cellwise's exact forward pass on the
weights the framework exported, image by image. Standard library only.

    cargo build --release
    python3 scripts/frameworks-compare.py [--data-dir DIR] [--cellwise BIN] [--out FILE]

For each model it runs, for the .npz and the .safetensors export,

    cellwise eval --problem P --weights FILE --schedule all-exact --split test --predictions F

with P = mnist-rnn32, mnist-gru32 or mnist-lstm32 by the model's cell, and writes a Markdown report (default
results/gated-import.md): accuracy by the framework and by cellwise (both from the test
labels), the number of images whose prediction differs and which. Acceptance: at most 1
image differs per model, and the two formats agree; the exit code is 1 otherwise.
"""
import argparse
import datetime
import json
import os
import platform
import struct
import subprocess
import sys
import tempfile

MODELS = ["keras-gru-32", "keras-lstm-32", "torch-rnn-32", "torch-gru-32", "torch-lstm-32"]
PROBLEMS = {"rnn": "mnist-rnn32", "gru": "mnist-gru32", "lstm": "mnist-lstm32"}
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read_labels(path):
    """The labels of an IDX file of unsigned bytes, rank 1."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x00\x00\x08\x01":
        sys.exit(f"{path}: not an IDX label file")
    (n,) = struct.unpack(">I", data[4:8])
    if len(data) != 8 + n:
        sys.exit(f"{path}: {n} labels announced, {len(data) - 8} present")
    return list(data[8:])


def accuracy(predictions, labels):
    return sum(p == y for p, y in zip(predictions, labels)) / len(labels)


def run_eval(cellwise, problem, weights, data_dir, out):
    cmd = [cellwise, "eval", "--problem", problem, "--weights", weights, "--schedule",
           "all-exact", "--split", "test", "--data-dir", data_dir, "--predictions", out]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)}: {r.stderr.strip()}")
    with open(out) as f:
        return json.load(f)


def machine():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    except OSError:
        return platform.machine()
    info = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    get = lambda k: info.get(k, "?").strip()
    return (f"{get('Model name')}, {get('CPU(s)')} CPUs ({get('Thread(s) per core')} thread(s) "
            f"per core)")


def git(*args):
    r = subprocess.run(["git", "-C", ROOT, *args], capture_output=True, text=True)
    return r.stdout.strip()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", default=os.environ.get("CELLWISE_DATA_DIR", "data"))
    ap.add_argument("--cellwise", default=os.path.join(ROOT, "target", "release", "cellwise"))
    ap.add_argument("--out", default=os.path.join(ROOT, "results", "gated-import.md"))
    args = ap.parse_args()
    if not os.path.exists(args.cellwise):
        sys.exit(f"{args.cellwise} is missing (run `cargo build --release`)")
    labels = read_labels(os.path.join(args.data_dir, "t10k-labels.idx1-ubyte"))
    rows, ok = [], True
    with tempfile.TemporaryDirectory() as tmp:
        for stem in MODELS:
            with open(os.path.join(ROOT, "results", "frameworks", f"{stem}.predictions.json")) as f:
                ref = json.load(f)
            if len(ref["predictions"]) != len(labels):
                sys.exit(f"{stem}: {len(ref['predictions'])} predictions, {len(labels)} labels")
            problem = PROBLEMS[ref["cell"]]
            problem_note = f"preset `{problem}`"
            runs = {}
            for ext in ["npz", "safetensors"]:
                weights = os.path.join(ROOT, "results", "frameworks", f"{stem}.{ext}")
                runs[ext] = run_eval(args.cellwise, problem, weights, args.data_dir,
                                     os.path.join(tmp, f"{stem}.{ext}.json"))
            ours = runs["npz"]["schedules"][0]["predictions"]
            same_formats = ours == runs["safetensors"]["schedules"][0]["predictions"]
            differ = [i for i, (a, b) in enumerate(zip(ref["predictions"], ours)) if a != b]
            fw_acc = accuracy(ref["predictions"], labels)
            good = len(differ) <= 1 and same_formats and abs(fw_acc - ref["accuracy"]) < 1e-9
            ok &= good
            rows.append({
                "stem": stem, "framework": ref["framework_version"], "cell": ref["cell"],
                "problem": problem_note, "fingerprint": runs["npz"]["weights"],
                "framework_accuracy": fw_acc, "cellwise_accuracy": accuracy(ours, labels),
                "differ": differ, "same_formats": same_formats, "ok": good,
                "differ_detail": [(i, labels[i], ref["predictions"][i], ours[i]) for i in differ],
            })
            print(f"{stem}: framework {100 * fw_acc:.2f} %, cellwise "
                  f"{100 * rows[-1]['cellwise_accuracy']:.2f} %, {len(differ)} differ, "
                  f"npz = safetensors: {same_formats}")
    write_report(args, rows, ok)
    print(f"wrote {os.path.relpath(args.out, ROOT)}: {'PASS' if ok else 'FAIL'}")
    sys.exit(0 if ok else 1)


def write_report(args, rows, ok):
    dirty = " (with uncommitted changes)" if git("status", "--porcelain", "--untracked-files=no") else ""
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Framework models imported: Keras and PyTorch vs cellwise, 10,000 test images",
        "",
        "Each framework's own predictions (`results/frameworks/*.predictions.json`, see its README)",
        "against `cellwise eval --schedule all-exact --split test` on the weights that framework",
        "exported (Keras names, or the PyTorch `state_dict` converted on import: matrices",
        "transposed, GRU gates r, z, n reordered to z, r, h, biases summed for RNN and LSTM and",
        "kept apart for the GRU). Accuracies are both computed from the test labels. The .npz and",
        "the .safetensors export of each model were scored and give the same predictions.",
        "",
        f"- commit: {git('rev-parse', 'HEAD')}{dirty}",
        f"- date: {date}",
        f"- machine: {machine()}",
        "- command: `cargo build --release && python3 scripts/frameworks-compare.py"
        f" --data-dir {args.data_dir}`",
        "",
        "| model | framework | cell | weights | framework accuracy | cellwise accuracy | images differing | npz = safetensors |",
        "|---|---|---|---|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| `{r['stem']}` | {r['framework']} | {r['cell']} | {r['fingerprint']} | "
            f"{100 * r['framework_accuracy']:.2f} % | {100 * r['cellwise_accuracy']:.2f} % | "
            f"{len(r['differ'])} | {'yes' if r['same_formats'] else 'NO'} |")
    lines += ["", "Problems: " + "; ".join(sorted({r["problem"] for r in rows})) + "."]
    detail = [d for r in rows for d in [(r["stem"], *x) for x in r["differ_detail"]]]
    if detail:
        lines += ["", "Images whose predictions differ (index, label, framework, cellwise):", ""]
        lines += [f"- `{s}`: image {i}, label {y}, framework {a}, cellwise {b}"
                  for s, i, y, a, b in detail]
    lines += ["", f"Acceptance (at most 1 image differs per model, formats agree): "
              f"{'passed' if ok else 'FAILED'}.", ""]
    with open(args.out, "w") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    main()
