#!/usr/bin/env bash
# Side-by-side training speed: Keras (tensorflow-cpu, 2 threads) and `cellwise train` on the
# same data, split, model, optimiser, batch and epoch count, one after the other in one run.
# Writes results/keras-vs-cellwise.md (CELL rnn) or results/keras-vs-cellwise-CELL.md.
#
#   scripts/train-compare.sh [EPOCHS] [CELL]   (default 10 rnn; needs python3 and PyPI access)
#
# CELL rnn|gru|lstm: Keras gets `--cell CELL`, cellwise gets `--problem mnist-CELL32` (rnn: no
# --problem, the default problem mnist-rnn32, as before).
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${1:-10}
cell=${2:-rnn}
case "$cell" in
  rnn) problem=(); suffix= ;;
  gru|lstm) problem=(--problem "mnist-${cell}32"); suffix=-$cell ;;
  *) echo "CELL must be rnn, gru or lstm, not '$cell'" >&2; exit 2 ;;
esac
data=${CELLWISE_DATA_DIR:-data}
venv=${CELLWISE_VENVS:-target/venvs}/tf
work=target/train-compare
mkdir -p "$work"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q tensorflow-cpu numpy
fi
cargo build --release --quiet
./target/release/cellwise fetch --data-dir "$data"
load=$(cut -d' ' -f1-3 /proc/loadavg)
"$venv/bin/python" scripts/keras-compare.py "$data" --cell "$cell" --epochs "$epochs" --threads 2 --out "$work/keras$suffix.json" > "$work/keras$suffix.log" 2>&1
./target/release/cellwise train "${problem[@]}" --data-dir "$data" --max-epochs "$epochs" --out "$work/cellwise$suffix" > "$work/cellwise$suffix.log" 2>&1
python3 - "$work/keras$suffix.json" "$work/cellwise$suffix.json" "$epochs" "$load" "$cell" > "results/keras-vs-cellwise$suffix.md" <<'PY'
import json, platform, statistics, sys
k = json.load(open(sys.argv[1])); c = json.load(open(sys.argv[2]))
cell = sys.argv[5]
layer = {"rnn": "SimpleRNN(32)", "gru": "GRU(32, reset_after)", "lstm": "LSTM(32)"}[cell]
cs = [h["seconds"] for h in c["history"]]
ks = k["epoch_seconds"]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
km, cm = statistics.median(ks), statistics.median(cs)
print(f"# Training speed: Keras vs cellwise" + ("" if cell == "rnn" else f" ({cell.upper()})") + "\n")
print(f"Same data, split (55,000 / 5,000 / 10,000), model ({layer} + Dense(10)), Adam lr 1e-3, batch 128, {sys.argv[3]} epochs each, run one after the other on {cpu} (2 cores; load average before the run: {sys.argv[4]}).\n")
print("| engine | median s/epoch | val accuracy | test accuracy |")
print("|---|---|---|---|")
print(f"| {k['engine']}, 2 threads | {km:.2f} | {100*k['val_accuracy']:.2f} % | {100*k['test_accuracy']:.2f} % |")
print(f"| cellwise (hand-written BPTT, 2 threads) | {cm:.2f} | {100*c['val_accuracy']:.2f} % | {100*c['test_accuracy']:.2f} % |")
print(f"\ncellwise / Keras seconds per epoch: **{cm/km:.2f}** (below 1 means cellwise is faster).\n")
print("Command: `scripts/train-compare.sh " + sys.argv[3] + ("" if cell == "rnn" else " " + cell) + "`")
PY
cat "results/keras-vs-cellwise$suffix.md"
