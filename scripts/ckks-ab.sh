#!/usr/bin/env bash
# Interleaved A/B timing of the CKKS engine: a base revision against the current checkout, in
# one run, by `cellwise ckks roofline`.
#
#     scripts/ckks-ab.sh BASE_REV [ROUNDS] [FLAG...]
#
# Builds BASE_REV in a temporary git worktree (its own target directory, target/ckks-ab; the
# worktree is removed afterwards) and the current checkout (uncommitted changes included),
# then runs `cellwise ckks roofline --json FLAG...` with the base binary, the current binary
# and, where the current binary has `--kernels`, the current binary with `--kernels
# portable`, alternately, ROUNDS times each (default 3; order base, current, portable, base,
# ...; CKKS_AB_PORTABLE=0 leaves the portable runs out). Default flags: --preset fgb-like-12
# --levels 12 --samples 3 --bootstrap-samples 1.
# Prints, per operation and level, each side's median measured milliseconds over the rounds
# with its spread (min-max), the ratios current/base and portable/base, and the geometric mean
# of the ratios. Needs python3 (standard library only). Nothing else should run meanwhile.
set -euo pipefail

usage() {
    echo "usage: scripts/ckks-ab.sh BASE_REV [ROUNDS] [FLAG...]" >&2
    exit 2
}
[[ $# -ge 1 ]] || usage
base_rev=$1
shift
rounds=3
if [[ $# -ge 1 && $1 != -* ]]; then
    rounds=$1
    shift
fi
[[ $rounds =~ ^[0-9]+$ ]] && ((rounds >= 1 && rounds <= 50)) || {
    echo "error: ROUNDS '$rounds' is out of range: give 1 to 50" >&2
    exit 2
}
flags=("$@")
if [[ ${#flags[@]} -eq 0 ]]; then
    flags=(--preset fgb-like-12 --levels 12 --samples 3 --bootstrap-samples 1)
fi

root=$(git rev-parse --show-toplevel)
cd "$root"
base_sha=$(git rev-parse --verify --quiet "$base_rev^{commit}") || {
    echo "error: '$base_rev' is not a commit of this repository" >&2
    exit 2
}
ab_dir=$root/target/ckks-ab
mkdir -p "$ab_dir"

# shellcheck source=scripts/ab-binaries.sh
source "$root/scripts/ab-binaries.sh"
ab_binaries "$root" "$ab_dir" "$base_sha"

sides=(base current)
if [[ ${CKKS_AB_PORTABLE:-1} != 0 ]] && "$new_bin" ckks roofline --help | grep -q -- --kernels; then
    sides+=(portable)
fi

out=$ab_dir/run.$$
mkdir -p "$out"
trap 'rm -rf "$out"' EXIT
for ((i = 1; i <= rounds; i++)); do
    for side in "${sides[@]}"; do
        echo "round $i/$rounds: $side" >&2
        case $side in
            base) "$base_bin" ckks roofline --json "${flags[@]}" >"$out/$side.$i.json" ;;
            current) "$new_bin" ckks roofline --json "${flags[@]}" >"$out/$side.$i.json" ;;
            portable) "$new_bin" ckks roofline --json --kernels portable "${flags[@]}" >"$out/$side.$i.json" ;;
        esac
    done
done

cpu=$(grep -m1 '^model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)
echo "ckks-ab: base ${base_sha:0:12} vs current $(git rev-parse --short=12 HEAD)$(git diff --quiet HEAD || echo ' (with uncommitted changes)'), $rounds rounds each (${sides[*]} alternating), $(nproc) cores${cpu:+, $cpu}, $(date -u +%Y-%m-%d)"
echo "flags: ${flags[*]}"
python3 - "$out" "$rounds" "${sides[@]}" <<'PY'
import json, math, sys
out, rounds, sides = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
times = {}  # (op, level) -> side -> [ms]
order = []
for side in sides:
    for i in range(1, rounds + 1):
        run = json.load(open(f"{out}/{side}.{i}.json"))
        for row in run["roofline"]["rows"]:
            key = (row["op"], row["level"])
            if key not in times:
                times[key] = {}
                order.append(key)
            times[key].setdefault(side, []).append(row["measured_ms"])
def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]  # the upper middle of an even count, as cellwise's medians
head = f"{'operation':<26} {'level':>5}"
for side in sides:
    head += f" {side + ' ms (min-max)':>30}"
for side in sides[1:]:
    head += f" {side + '/base':>14}"
print(head)
logs = {side: [] for side in sides[1:]}
for key in order:
    t = times[key]
    if any(side not in t for side in sides):
        continue
    line = f"{key[0]:<26} {key[1]:>5}"
    for side in sides:
        xs = t[side]
        line += f" {f'{median(xs):.1f} ({min(xs):.1f}-{max(xs):.1f})':>30}"
    for side in sides[1:]:
        r = median(t[side]) / median(t["base"])
        logs[side].append(math.log(r))
        line += f" {r:>14.3f}"
    print(line)
for side in sides[1:]:
    if logs[side]:
        print(f"geometric mean {side}/base over {len(logs[side])} rows: {math.exp(sum(logs[side]) / len(logs[side])):.3f}")
PY
