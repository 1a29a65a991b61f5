#!/usr/bin/env bash
# Real-data smoke test: fetch MNIST (verified by SHA-256) and score the embedded model on the
# test split; fail unless float accuracy >= 96 %, all-17 >= 95 % and all-17 within 1 point
# of float.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release --quiet -- fetch
out=$(cargo run --release --quiet -- eval --schedule all-exact --schedule all-17 --split test --json)
python3 - "$out" <<'PY'
import json, sys
rows = {r["schedule"]: r["accuracy"] for r in json.loads(sys.argv[1])}
exact, all17 = rows["all-exact"], rows["all-17"]
print(f"test accuracy: exact {exact:.4f}, all-17 {all17:.4f}")
ok = exact >= 0.96 and all17 >= 0.95 and exact - all17 <= 0.01
print("smoke: 1 passed, 0 failed" if ok else "smoke: 0 passed, 1 failed")
sys.exit(0 if ok else 1)
PY
