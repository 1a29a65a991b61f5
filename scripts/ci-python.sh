#!/usr/bin/env bash
# The Python bindings in CI: build the wheel with maturin in a fresh venv (under a temporary
# directory, removed at exit), install it with numpy, pymoo and pytest, and run the pytest
# suite of cellwise-py/tests against this checkout's CLI on real MNIST (fetched by
# scripts/ci-smoke.sh, or here if missing). Needs python3 with venv, and network for pip.
# pytest's exit code 5 ("no tests collected") is a failure here: the suite must run.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
python=${CELLWISE_CI_PYTHON:-python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$python" -m venv "$tmp/venv"
pip() { "$tmp/venv/bin/python" -m pip --disable-pip-version-check --quiet "$@"; }
pip install maturin==1.16.0 numpy pymoo pytest
"$tmp/venv/bin/maturin" build --release --quiet -m cellwise-py/Cargo.toml --out "$tmp/wheels"
pip install "$tmp"/wheels/cellwise-*.whl
"$tmp/venv/bin/python" -c 'import cellwise; print("cellwise", cellwise.__version__, "from", cellwise.__file__)'

# The CLI the tests compare against: this checkout's release build.
cargo build --release --quiet --bin cellwise
target_dir=$(cargo metadata --format-version 1 --no-deps | "$tmp/venv/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
export CELLWISE_BIN="$target_dir/release/cellwise"
"$CELLWISE_BIN" fetch >/dev/null

set +e
"$tmp/venv/bin/python" -m pytest -q -p no:cacheprovider cellwise-py/tests
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests (exit 5): the suite in cellwise-py/tests did not run" >&2
    exit 1
fi
echo "python bindings: $((SECONDS - start)) s"
exit "$status"
