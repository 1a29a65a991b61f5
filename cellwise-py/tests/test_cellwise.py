"""The Python bindings against the CLI of the same checkout, on real MNIST."""

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import cellwise
from conftest import REPO, cli_json, run_cli

# One-slot schedules in every text form, exact included.
SCHEDULES = [
    "all-17",
    "all-3",
    "all-exact",
    "17 except 7@0,4,24 3@9",
    ",".join(["3", "7", "17", "exact"] * 7),
]


def schedule_args(texts):
    return [arg for t in texts for arg in ("--schedule", t)]


@pytest.mark.parametrize("split", ["val", "test"])
def test_scores_equal_the_cli(problem, split):
    oracle = cellwise.Oracle(problem, split)
    rows = cli_json("eval", "--split", split, "--json", *schedule_args(SCHEDULES))
    assert len(rows) == len(SCHEDULES)
    for text, row in zip(SCHEDULES, rows):
        assert oracle.evaluate(text) == row, text


def test_gated_scores_equal_the_cli():
    texts = ["all-7", "17 except z:7@* n:3@0-9"]
    oracle = cellwise.Oracle("mnist-gru32", "val")
    rows = cli_json("eval", "--problem", "mnist-gru32", "--split", "val", "--json",
                    *schedule_args(texts))
    for text, row in zip(texts, rows):
        assert oracle.evaluate(text) == row, text
    # The same schedule as an index array (slots, steps).
    s = oracle.problem.parse(texts[1])
    assert s.indices().shape == (3, 28)
    assert oracle.evaluate(s.indices()) == rows[1]


def test_weights_files_and_weighted_fits_score_as_the_cli(tmp_path):
    # A weights file (the embedded GRU exported as .npz) and a problem whose fits are
    # measured on the training split with those weights.
    run_cli("export", "--out", tmp_path / "gru", "--weights", "models/mnist-gru32.safetensors")
    weights = tmp_path / "gru.npz"
    problem = cellwise.Problem.load("mnist-gru32-safe")
    oracle = cellwise.Oracle(problem, "val", weights=weights)
    rows = cli_json("eval", "--problem", "mnist-gru32-safe", "--weights", weights, "--split",
                    "val", "--json", "--schedule", "all-7")
    assert oracle.evaluate("all-7") == rows[0]
    with pytest.raises(OSError, match="missing.npz"):
        cellwise.Oracle(problem, "val", weights=tmp_path / "missing.npz")
    cli = run_cli("eval", "--weights", weights, "--split", "val", check=False)
    with pytest.raises(ValueError) as err:
        cellwise.Oracle("mnist-rnn32", "val", weights=weights)
    assert str(err.value) == cli.stderr.strip().removeprefix("error: ")
    assert "the weights are a gru" in str(err.value)


def test_a_batch_equals_single_calls(problem, val):
    rng = np.random.default_rng(2026)
    batch = rng.integers(0, 3, size=(1000, 1, 28))
    batch[500] = batch[3]  # a repeat is scored alike
    batch[7] = 0  # all-17
    accuracy, correct, unsafe = val.evaluate_batch(batch)
    assert accuracy.dtype == np.float64 and correct.dtype == np.int64 and unsafe.dtype == np.int64
    assert accuracy.shape == correct.shape == unsafe.shape == (1000,)
    single = cellwise.Oracle(problem, "val", memoise=False)
    for k in range(len(batch)):
        e = single.evaluate(batch[k])
        assert (accuracy[k], correct[k], unsafe[k]) == (
            e["accuracy"], e["correct"], len(e["unsafe_images"])), k
    assert accuracy[7] == single.evaluate("all-17")["accuracy"]
    # Other integer dtypes and nested lists read the same.
    head = batch[:20]
    for other in (head.astype(np.uint8), head.astype(np.int32), head.tolist()):
        assert np.array_equal(val.evaluate_batch(other)[1], correct[:20])
    assert val.evaluate_batch(np.zeros((0, 1, 28), dtype=np.int64))[0].shape == (0,)


def test_schedules_round_trip_through_text_and_indices(problem):
    rng = np.random.default_rng(5)
    for indices in rng.integers(0, 3, size=(50, 1, 28)):
        s = problem.schedule_from_indices(indices)
        assert problem.parse(str(s)) == s
        assert np.array_equal(s.indices(), indices)
        assert s.degrees == [[problem.degrees[0][i] for i in indices[0]]]
    assert str(problem.top()) == "all-17" and str(problem.bottom()) == "all-3"
    with pytest.raises(ValueError, match="exact entries have no degree index"):
        problem.parse("all-exact").indices()


@pytest.mark.parametrize("text", ["all-5", "17 except 7@30", "17,17", "seventeen", ""])
def test_bad_schedules_raise_value_error_with_the_cli_message(val, text):
    cli = run_cli("eval", "--split", "val", "--schedule", text, check=False)
    assert cli.returncode != 0
    message = cli.stderr.strip().splitlines()[-1].removeprefix("error: ")
    with pytest.raises(ValueError) as err:
        val.evaluate(text)
    assert str(err.value) == message


@pytest.mark.parametrize(
    "batch, message",
    [
        (np.zeros((4, 28), dtype=np.int64), r"got shape \(4, 28\)"),
        (np.zeros((4, 2, 28), dtype=np.int64), r"got shape \(4, 2, 28\)"),
        (np.zeros((4, 1, 27), dtype=np.int64), r"got shape \(4, 1, 27\)"),
        (np.zeros((1, 4, 1, 28), dtype=np.int64), r"got shape \(1, 4, 1, 28\)"),
        (np.zeros((4, 1, 28)), "got dtype float64"),
        (np.zeros((4, 1, 28), dtype=bool), "got dtype bool"),
        (np.full((4, 1, 28), "17"), "got dtype <U2"),
    ],
)
def test_arrays_of_the_wrong_shape_or_dtype_raise_value_error(val, batch, message):
    with pytest.raises(ValueError, match=r"^evaluate_batch: expected an integer array of "
                                         r"shape \(n, 1, 28\) \(schedules, slots, steps\)"):
        val.evaluate_batch(batch)
    with pytest.raises(ValueError, match=message):
        val.evaluate_batch(batch)


def test_indices_out_of_range_raise_before_anything_runs(val):
    runs = val.stats()["runs"]
    batch = np.zeros((10, 1, 28), dtype=np.int64)
    batch[5, 0, 4] = 3
    with pytest.raises(ValueError) as err:
        val.evaluate_batch(batch)
    assert str(err.value) == (
        "evaluate_batch: schedule 5 of the batch: schedule: degree index 3 at step 4 is out "
        "of range: slot h has the candidates 17, 7, 3 (indices 0 to 2)")
    batch[5, 0, 4] = -1
    with pytest.raises(ValueError, match="degree index -1 at step 4"):
        val.evaluate_batch(batch)
    assert val.stats()["runs"] == runs


def test_keyboard_interrupt_stops_a_long_batch_promptly(problem):
    oracle = cellwise.Oracle(problem, "val", memoise=False)
    # About a minute of distinct schedules on 2 cores: the batch must not run to its end.
    batch = np.random.default_rng(7).integers(0, 3, size=(20_000, 1, 28))
    fired = {}

    def interrupt():
        fired["at"] = time.perf_counter()
        os.kill(os.getpid(), signal.SIGINT)

    timer = threading.Timer(0.5, interrupt)
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        oracle.evaluate_batch(batch)
    stopped = time.perf_counter()
    timer.join()
    assert stopped - fired["at"] < 1.0, f"took {stopped - fired['at']:.2f} s after SIGINT"
    assert oracle.stats()["runs"] < len(batch)


def test_a_batch_releases_the_gil(problem):
    oracle = cellwise.Oracle(problem, "val", memoise=False)
    batch = np.random.default_rng(8).integers(0, 3, size=(100, 1, 28))
    ticks, stop = [0], threading.Event()

    def spin():
        while not stop.is_set():
            ticks[0] += 1

    spinner = threading.Thread(target=spin)
    spinner.start()
    try:
        before = ticks[0]
        oracle.evaluate_batch(batch)
        during = ticks[0] - before
    finally:
        stop.set()
        spinner.join()
    # Holding the GIL for the whole batch would leave the spinner at most one switch
    # interval's worth of ticks; released, it counts all along.
    assert during > 100_000, during


def test_accepts_agrees_with_evaluate(val):
    for text in ["all-17", "all-7", "17 except 3@0,1,2"]:
        correct = val.evaluate(text)["correct"]
        assert val.accepts(text, correct) and not val.accepts(text, correct + 1)
    with pytest.raises(ValueError, match="min_correct -1"):
        val.accepts("all-17", -1)


@pytest.mark.parametrize("model", ["latency", "depth", "bootstraps"])
def test_costs_equal_the_cli(problem, model):
    cm = cellwise.CostModel(model, problem)
    for text in ["all-17", "17 except 7@0,4,24 3@9"]:
        row = cli_json("cost", "--model", model, "--schedule", text, "--json")
        assert cm.breakdown(text) == row
        assert cm.cost(text) == row["total"]


def test_weighted_fits_are_priced_as_the_cli():
    safe = cellwise.Oracle("mnist-rnn32-safe", "val")
    cm = cellwise.CostModel("latency", oracle=safe)
    text = "17 except 7@0,4,24 3@9"
    row = cli_json("cost", "--problem", "mnist-rnn32-safe", "--model", "latency", "--schedule",
                   text, "--json")
    assert cm.breakdown(text) == row
    # Without an oracle the fits come from the embedded model on the training split.
    assert cellwise.CostModel("latency", "mnist-rnn32-safe").cost(text) == row["total"]


def test_cost_batches_and_the_search_default(problem, val):
    cm = cellwise.CostModel(oracle=val)
    assert cm.name == "latency:cellwise-fgb-like-12" and cm.unit == "s" and cm.note is None
    batch = np.random.default_rng(3).integers(0, 3, size=(50, 1, 28))
    assert list(cm.cost_batch(batch)) == [cm.cost(b) for b in batch]
    # Gated cells default to the profile with their circuits' operations.
    gated = cellwise.CostModel(None, "mnist-gru32")
    assert gated.name == "latency:cellwise-gated-fgb-like-12" and gated.note is None
    # Where the default profile cannot price the circuit, depth, saying why.
    small = cellwise.CostModel(None, "mnist-6x6")
    assert small.name == "depth" and "matvec_16" in small.note
    message = run_cli("cost", "--model", "nope", "--schedule", "all-17",
                      check=False).stderr.strip().removeprefix("error: ")
    with pytest.raises(ValueError) as err:
        cellwise.CostModel("nope", problem)
    # The CLI says what it was doing first ("building the cost model: ...").
    assert message.endswith(": " + str(err.value))
    with pytest.raises(ValueError, match="exact activation"):
        cm.cost("all-exact")


def test_search_equals_the_cli(tmp_path, problem):
    settings = dict(budget=300, seed=2, min_accuracy=0.9)
    run = cellwise.search_run("genetic", problem=problem, **settings)
    cli = cli_json("search", "--strategy", "genetic", "--budget", 300, "--seed", 2,
                   "--min-accuracy", 0.9, "--out", tmp_path / "run", "--json")
    assert run["front"] == cli["finalists"]
    assert run["hypervolume"] == cli["metrics"]["hypervolume"]
    assert run["reference"] == cli["metrics"]["reference"]
    assert run["judgements"] == cli["judgements"] == len(run["records"])
    assert run["cost_model"] == cli["cost_model"]
    # The project's hypervolume of the front, from Python.
    ref = run["reference"]
    for split, key in [("validation", "val_accuracy"), ("test", "test_accuracy")]:
        points = [(f["cost"], f[key]) for f in run["front"]]
        assert cellwise.hypervolume(points, ref["accuracy"], ref["cost"]) == \
            run["hypervolume"][split]
    assert cellwise.search("genetic", **settings) == run["front"]


def test_search_settings_are_checked():
    with pytest.raises(TypeError, match="unexpected keyword argument 'budgit'"):
        cellwise.search("genetic", budgit=10)
    with pytest.raises(ValueError, match="unknown strategy 'simplex'"):
        cellwise.search("simplex", budget=10)
    with pytest.raises(ValueError, match="min_accuracy 2"):
        cellwise.search("genetic", min_accuracy=2.0)
    with pytest.raises(ValueError, match="budget must be at least 1"):
        cellwise.search("greedy", budget=0)
    with pytest.raises(ValueError, match=r"the reference cost .* must be a positive"):
        cellwise.hypervolume([(1.0, 0.95)], 0.9, 0.0)
    assert "genetic" in cellwise.strategies()


def test_search_as_a_data_frame():
    try:
        import pandas  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="needs pandas"):
            cellwise.search("greedy", frame=True, budget=20)
        return
    df = cellwise.search("greedy", frame=True, budget=20)
    assert list(df.columns)[:4] == ["schedule", "cost", "val_accuracy", "test_accuracy"]


def test_the_pymoo_example_runs():
    pytest.importorskip("pymoo")
    script = REPO / "cellwise-py" / "demos" / "pymoo_nsga2.py"
    out = subprocess.run([sys.executable, script, "--budget", "200", "--seed", "1"],
                         capture_output=True, text=True, check=True).stdout
    assert out.startswith("200 evaluations") and "hypervolume validation" in out


def public(names):
    """Names without a leading underscore, and the dunders a user calls."""
    return {n for n in names if not n.startswith("_") or n in ("__version__", "__len__")}


def test_the_stubs_name_exactly_the_public_api():
    import ast
    import pathlib

    stub = pathlib.Path(cellwise.__file__).with_name("__init__.pyi")
    assert (stub.parent / "py.typed").exists()
    tree = ast.parse(stub.read_text())
    in_stub = {n.name for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
    in_stub |= {n.target.id for n in tree.body if isinstance(n, ast.AnnAssign)}
    # The module's own submodule (the extension inside the package) is not API.
    assert in_stub == public(dir(cellwise)) - {"cellwise"}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            methods = public(n.name for n in node.body if isinstance(n, ast.FunctionDef))
            assert methods == public(dir(getattr(cellwise, node.name))), node.name
