# Sourced by the A/B scripts (bench-ab.sh, ckks-ab.sh): builds the two binaries they compare.
#
#     ab_binaries ROOT AB_DIR BASE_SHA
#
# Sets base_bin (BASE_SHA built once in a temporary git worktree with its own target
# directory AB_DIR/target, kept as AB_DIR/cellwise-SHA12; the worktree is removed afterwards)
# and new_bin (the current checkout, uncommitted changes included, built in
# $CARGO_TARGET_DIR or ROOT/target and copied to AB_DIR/cellwise-current).
ab_binaries() {
    local root=$1 ab_dir=$2 base_sha=$3
    base_bin=$ab_dir/cellwise-${base_sha:0:12}
    if [[ ! -x $base_bin ]]; then
        ab_tree=$(mktemp -d "${TMPDIR:-/tmp}/cellwise-ab.XXXXXX")
        ab_cleanup() {
            git -C "$root" worktree remove --force "$ab_tree" 2>/dev/null || true
            rm -rf "$ab_tree"
        }
        trap ab_cleanup EXIT
        echo "building base ${base_sha:0:12} in $ab_tree ..." >&2
        git -C "$root" worktree add --quiet --detach "$ab_tree" "$base_sha"
        (cd "$ab_tree" && CARGO_TARGET_DIR=$ab_dir/target cargo build --release --quiet --bin cellwise)
        cp "$ab_dir/target/release/cellwise" "$base_bin.tmp"
        mv "$base_bin.tmp" "$base_bin"
        ab_cleanup
        trap - EXIT
    fi
    echo "building the current checkout ..." >&2
    (cd "$root" && cargo build --release --quiet --bin cellwise)
    new_bin=$ab_dir/cellwise-current
    cp "${CARGO_TARGET_DIR:-$root/target}/release/cellwise" "$new_bin.tmp"
    mv "$new_bin.tmp" "$new_bin"
}
