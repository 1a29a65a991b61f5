#!/usr/bin/env bash
# A/B timing of the oracle: a base revision against the current checkout, in one run.
#
#     scripts/bench-ab.sh BASE_REV [ROUNDS] [FLAG...]
#
# Builds BASE_REV in a temporary git worktree (its own target directory, target/bench-ab;
# the worktree is removed afterwards) and the current checkout (uncommitted changes
# included), then runs `cellwise bench oracle --json --no-numpy` (with `--problem
# mnist-rnn32` where the binary knows --problem) of the base and of the current binary
# alternately, ROUNDS times each (default 5; order base, current, base, current, ...).
# FLAGs go to both binaries, so give only flags both understand (e.g. --repeats 5
# --dfs-judgements 2000; `bench oracle` has had --repeats, --dfs-judgements, --no-numpy,
# --json and --data-dir since before --problem). The data directory is $CELLWISE_DATA_DIR,
# else ./data. Prints, for the mnist-rnn32 full evaluation (ms), the DFS child decisions/s,
# the paper's DFS decisions/s and the depth-2 DFS on the test split (s; n/a for binaries
# without it), each binary's median over the rounds with its spread
# (min-max) and the ratio new/base. Needs jq or python3 (standard library only).
set -euo pipefail

usage() {
    echo "usage: scripts/bench-ab.sh BASE_REV [ROUNDS] [FLAG...]" >&2
    exit 2
}
[[ $# -ge 1 ]] || usage
base_rev=$1
shift
rounds=5
if [[ $# -ge 1 && $1 != -* ]]; then
    rounds=$1
    shift
fi
[[ $rounds =~ ^[0-9]+$ ]] && ((rounds >= 1 && rounds <= 100)) || {
    echo "error: ROUNDS '$rounds' is out of range: give 1 to 100" >&2
    exit 2
}
flags=("$@")

root=$(git rev-parse --show-toplevel)
cd "$root"
base_sha=$(git rev-parse --verify --quiet "$base_rev^{commit}") || {
    echo "error: '$base_rev' is not a commit of this repository" >&2
    exit 2
}
data_dir=${CELLWISE_DATA_DIR:-$root/data}
ab_dir=$root/target/bench-ab
mkdir -p "$ab_dir"

if command -v jq >/dev/null; then
    json_tool=jq
elif command -v python3 >/dev/null; then
    json_tool=python3
else
    echo "error: bench-ab.sh needs jq or python3 to read the JSON reports" >&2
    exit 1
fi

# shellcheck source=scripts/ab-binaries.sh
source "$root/scripts/ab-binaries.sh"
ab_binaries "$root" "$ab_dir" "$base_sha"

# The flags of one binary: --problem mnist-rnn32 only where it exists.
bench_args() {
    local args=(bench oracle --json --no-numpy --data-dir "$data_dir") help
    help=$("$1" bench oracle --help)
    if [[ $help == *--problem* ]]; then
        args+=(--problem mnist-rnn32)
    fi
    printf '%s\n' "${args[@]}"
}
mapfile -t base_args < <(bench_args "$base_bin")
mapfile -t new_args < <(bench_args "$new_bin")

# Full evaluation ms, child decisions/s, DFS-run decisions/s and the depth-2 DFS on the test
# split (s) of mnist-rnn32 from one
# report: the per-problem record of the current format, or the flat report of before
# --problem. A missing value is "nan".
extract() {
    if [[ $json_tool == jq ]]; then
        jq -r '(if has("problems") then (.problems[] | select(.problem == "mnist-rnn32")) else . end)
               | [.full_eval_test_ms, .dfs_decisions_per_s, .dfs_run_decisions_per_s, .dfs_depth2_test_s]
               | map(if . == null then "nan" else tostring end) | @tsv' "$1"
    else
        python3 - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
if "problems" in r:
    r = next(p for p in r["problems"] if p["problem"] == "mnist-rnn32")
keys = ["full_eval_test_ms", "dfs_decisions_per_s", "dfs_run_decisions_per_s", "dfs_depth2_test_s"]
print("\t".join("nan" if r.get(k) is None else repr(float(r[k])) for k in keys))
PY
    fi
}

results=$ab_dir/results.$$
trap 'rm -f "$results" "$ab_dir"/report.$$.json' EXIT
: >"$results"
for ((i = 1; i <= rounds; i++)); do
    for side in base new; do
        if [[ $side == base ]]; then
            bin=$base_bin
            args=("${base_args[@]}")
        else
            bin=$new_bin
            args=("${new_args[@]}")
        fi
        echo "round $i/$rounds: $side" >&2
        "$bin" "${args[@]}" "${flags[@]}" >"$ab_dir/report.$$.json"
        printf '%s\t%s\n' "$side" "$(extract "$ab_dir/report.$$.json")" >>"$results"
    done
done

cpu=$(grep -m1 '^model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)
echo "bench-ab: base ${base_sha:0:12} vs current $(git rev-parse --short=12 HEAD)$(git diff --quiet HEAD || echo ' (with uncommitted changes)'), mnist-rnn32, $rounds rounds each (base, current alternating), $(nproc) cores${cpu:+, $cpu}"
# Median (the upper middle of an even count, as cellwise's own medians) and min-max of each
# metric per side, then new/base.
awk -F'\t' -v rounds="$rounds" '
function median(side, m,    n, i, j, t, v) {
    n = 0
    for (i = 1; i <= rounds; i++) {
        t = val[side, m, i]
        if (t != "nan") v[++n] = t + 0
    }
    if (n == 0) { lo[side, m] = "nan"; hi[side, m] = "nan"; return "nan" }
    for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
    lo[side, m] = v[1]; hi[side, m] = v[n]
    return v[int(n / 2) + 1]
}
function fmt(x) { return x == "nan" ? "n/a" : sprintf("%.2f", x) }
{ k = ++count[$1]; for (m = 1; m <= 4; m++) val[$1, m, k] = $(m + 1) }
END {
    name[1] = "full evaluation, test (ms)"
    name[2] = "DFS child decisions/s"
    name[3] = "paper'"'"'s DFS decisions/s"
    name[4] = "depth-2 DFS on test (s)"
    printf "%-28s %24s %24s %9s\n", "metric", "base median (min-max)", "new median (min-max)", "new/base"
    for (m = 1; m <= 4; m++) {
        b = median("base", m); n = median("new", m)
        ratio = (b == "nan" || n == "nan" || b == 0) ? "n/a" : sprintf("%.3f", n / b)
        printf "%-28s %24s %24s %9s\n", name[m], \
            fmt(b) " (" fmt(lo["base", m]) "-" fmt(hi["base", m]) ")", \
            fmt(n) " (" fmt(lo["new", m]) "-" fmt(hi["new", m]) ")", ratio
    }
}' "$results"
