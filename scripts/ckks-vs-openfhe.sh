#!/usr/bin/env bash
# Runs the cellwise engine's profile and OpenFHE's in the same run on this machine (2 threads
# each, one after the other, never concurrently) and writes results/ckks-vs-openfhe.md.
# Usage: scripts/ckks-vs-openfhe.sh [--samples K] [--bootstrap]
#   --bootstrap also measures OpenFHE's bootstrap (needs about 16 GB).
# $PYTHON (default python3) is the interpreter with openfhe-python; its wheels are built for
# one Python version each (1.6.1.0.22.4: CPython 3.10).
set -euo pipefail
cd "$(dirname "$0")/.."
samples=5
python=${PYTHON:-python3}
bootstrap=0
while [ $# -gt 0 ]; do
  case "$1" in
    --samples) samples="$2"; shift 2 ;;
    --bootstrap) bootstrap=1; shift ;;
    *) echo "usage: $0 [--samples K] [--bootstrap]" >&2; exit 2 ;;
  esac
done
mkdir -p results/profiles
cargo build --release --quiet
./target/release/cellwise ckks profile --preset fgb-like --threads 2 --samples "$samples" \
  --out results/profiles/cellwise-fgb-like.json
export OMP_NUM_THREADS=2
"$python" scripts/bench-openfhe.py --threads 2 --samples "$samples" --phase leveled \
  --out results/profiles/openfhe-fgb-like.json
if [ "$bootstrap" = 1 ]; then
  "$python" scripts/bench-openfhe.py --threads 2 --bootstrap-samples 3 --phase bootstrap \
    --out results/profiles/openfhe-fgb-like.json
fi
python3 scripts/ckks-vs-openfhe.py results/profiles/cellwise-fgb-like.json \
  results/profiles/openfhe-fgb-like.json results/ckks-vs-openfhe.md \
  --commit "$(git rev-parse --short=12 HEAD)$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock || echo -dirty)" \
  --command "scripts/ckks-vs-openfhe.sh --samples $samples$([ "$bootstrap" = 1 ] && echo ' --bootstrap')"
echo "wrote results/ckks-vs-openfhe.md"
