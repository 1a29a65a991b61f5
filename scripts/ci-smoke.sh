#!/usr/bin/env bash
# Real-data smoke test: fetch MNIST (verified by SHA-256) and score the embedded model's
# all-17 schedule on the test split; fail unless its accuracy is at least 95 %.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release --quiet -- fetch
out=$(cargo run --release --quiet -- eval --schedule all-17 --split test --json)
echo "$out"
python3 - "$out" <<'PY'
import json, sys
doc = json.loads(sys.argv[1])
rows = doc if isinstance(doc, list) else doc.get("results", [doc])
acc = rows[0]["accuracy"]
print(f"all-17 test accuracy: {acc:.4f}")
sys.exit(0 if acc >= 0.95 else 1)
PY
