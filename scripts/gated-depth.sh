#!/usr/bin/env bash
# Per-step depth and the fewest bootstraps of each cell's encrypted circuit at uniform degrees
# and with single slots lowered (results/encrypted-gated.md, "Depth and bootstraps").
# Usage: scripts/gated-depth.sh [path/to/cellwise]
set -euo pipefail
C=${1:-target/release/cellwise}
total() { "$C" cost "$@" 2>&1 | tail -1 | sed -E 's/^total: ([0-9.]+).*/\1/'; }
echo "| problem | schedule | depth (levels, step graph) | bootstraps at 9 levels | bootstraps at 12 levels |"
echo "|---|---|---|---|---|"
row() {
    local p=$1 s=$2
    echo "| $p | \`$s\` | $(total --problem "$p" --model depth --schedule "$s") | $(total --problem "$p" --model bootstraps --levels 9 --schedule "$s") | $(total --problem "$p" --model bootstraps --levels 12 --schedule "$s") |"
}
for p in mnist-rnn32 mnist-gru32 mnist-lstm32; do
    for d in 3 7 17; do row "$p" "all-$d"; done
done
for s in "17 except z:3@*" "17 except r:3@*" "17 except n:3@*"; do row mnist-gru32 "$s"; done
for s in "17 except i:3@*" "17 except f:3@*" "17 except g:3@*" "17 except o:3@*" "17 except c:3@*" "17 except i:3@* f:3@* o:3@*"; do
    row mnist-lstm32 "$s"
done
