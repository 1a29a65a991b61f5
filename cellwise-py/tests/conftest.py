"""Shared fixtures: the `cellwise` CLI of this checkout and oracles built once per session.

The tests read MNIST from $CELLWISE_DATA_DIR (else ./data; fetched if missing), as the CLI
does. The CLI is `cargo run --release --quiet --` at the repository root unless
$CELLWISE_BIN names a built binary.
"""

import json
import os
import pathlib
import shlex
import subprocess

import pytest

import cellwise

REPO = pathlib.Path(__file__).resolve().parents[2]


def cli_command():
    """The command that runs the CLI, as a list."""
    binary = os.environ.get("CELLWISE_BIN")
    if binary:
        return [binary]
    return ["cargo", "run", "--release", "--quiet", "--"]


def run_cli(*args, check=True):
    """Runs `cellwise ARGS` at the repository root; returns the completed process."""
    cmd = cli_command() + [str(a) for a in args]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"{shlex.join(cmd)} failed: {proc.stderr.strip()}")
    return proc


def cli_json(*args):
    """The JSON `cellwise ARGS` prints."""
    return json.loads(run_cli(*args).stdout)


@pytest.fixture(scope="session")
def problem():
    return cellwise.Problem.load("mnist-rnn32")


@pytest.fixture(scope="session")
def val(problem):
    return cellwise.Oracle(problem, "val")
