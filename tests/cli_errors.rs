//! Bad input ends in one line on stderr and a non-zero exit, never a panic.

use std::path::Path;
use std::process::Command;

use cellwise::model::{Weights, save_weights, to_safetensors};

fn cellwise(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cellwise"))
        .args(args)
        .env_remove("CELLWISE_DATA_DIR")
        .output()
        .expect("the binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Asserts a one-line error that mentions `needle`.
fn fails_with(args: &[&str], needle: &str) {
    let (ok, stderr) = cellwise(args);
    assert!(!ok, "{args:?} succeeded");
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.contains(needle),
        "{args:?}: {stderr}"
    );
}

fn write_mnist_like(dir: &Path, corrupt: impl Fn(&mut Vec<u8>)) {
    for f in cellwise::data::MNIST_FILES {
        let mut bytes = std::fs::read(cellwise::data::fixture_dir().join(f.name)).unwrap();
        corrupt(&mut bytes);
        std::fs::write(dir.join(f.name), bytes).unwrap();
    }
}

#[test]
fn corrupt_and_truncated_data_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    write_mnist_like(dir.path(), |b| b[0] = 0x42);
    fails_with(
        &["eval", "--data-dir", d, "--schedule", "all-17"],
        "SHA-256",
    );
    write_mnist_like(dir.path(), |b| b.truncate(b.len() / 2));
    fails_with(&["train", "--data-dir", d], "does not match the expected");
}

#[test]
fn bad_weight_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = Weights::embedded_default();
    w.recurrent_kernel[[3, 4]] = f32::NAN;
    save_weights(&w, &dir.path().join("nan")).unwrap();
    let nan = dir.path().join("nan.npz");
    fails_with(&["eval", "--weights", nan.to_str().unwrap()], "non-finite");

    let mut w = Weights::embedded_default();
    w.bias = ndarray::Array1::zeros(31);
    std::fs::write(
        dir.path().join("shape.safetensors"),
        to_safetensors(&w).unwrap(),
    )
    .unwrap();
    let shape = dir.path().join("shape.safetensors");
    fails_with(
        &["eval", "--weights", shape.to_str().unwrap()],
        "bias has shape [31]",
    );

    let small = cellwise::model::init::keras_init(
        28,
        8,
        10,
        &mut <rand::rngs::ChaCha20Rng as rand::SeedableRng>::seed_from_u64(1),
    );
    save_weights(&small, &dir.path().join("small")).unwrap();
    let small = dir.path().join("small.npz");
    fails_with(
        &["eval", "--weights", small.to_str().unwrap()],
        "the weights have 8 hidden units, problem mnist-rnn32 needs 32",
    );

    let garbage = dir.path().join("garbage.npz");
    std::fs::write(&garbage, b"not a zip").unwrap();
    fails_with(&["eval", "--weights", garbage.to_str().unwrap()], "npz");
    let missing = dir.path().join("missing.safetensors");
    let view =
        safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![1], &[0u8; 4]).unwrap();
    std::fs::write(
        &missing,
        safetensors::serialize([("wx", view)], None).unwrap(),
    )
    .unwrap();
    fails_with(
        &["eval", "--weights", missing.to_str().unwrap()],
        "missing arrays: wh, b, wd, bd",
    );
    fails_with(
        &["export", "--weights", "weights.txt", "--out", "x"],
        "unknown weight file type",
    );
}

#[test]
fn bad_schedules_problems_and_fits() {
    fails_with(
        &["eval", "--schedule", "17,17,x"],
        "bad token 'x' at position 6",
    );
    fails_with(
        &["eval", "--schedule", "17,17,17"],
        "schedule has 3 steps, the problem has 28 steps",
    );
    fails_with(
        &["eval", "--schedule", "all-5"],
        "unknown degree 5 at slot h step 0",
    );
    fails_with(&["eval", "--schedule", "17 except 7@3,40"], "out of range");
    fails_with(
        &["eval", "--problem", "nope"],
        "unknown problem preset 'nope'",
    );
    fails_with(&["approx", "--interval=8,-8"], "bad interval [8, -8]");
    fails_with(&["approx", "--interval=-8"], "expected LO,HI");
    fails_with(&["approx", "--fn", "relu"], "unknown function 'relu'");
    fails_with(&["approx", "--degrees", "0"], "bad degree 0");
}

#[test]
fn bad_search_configurations() {
    fails_with(
        &["search", "--strategy", "simplex"],
        "unknown strategy 'simplex'",
    );
    fails_with(&["search", "--cost", "speed"], "unknown cost model 'speed'");
    fails_with(
        &["search", "--threads", "0"],
        "--threads must be at least 1",
    );
    fails_with(&["compare", "--seeds", "0"], "--seeds must be at least 1");
    fails_with(
        &["compare", "--strategies", "dfs,nope"],
        "unknown strategy 'nope'",
    );
    fails_with(
        &["compare", "--cost-limits", "0.6,2"],
        "--cost-limits 2 is not a fraction of the all-highest cost: give numbers in (0, 1]",
    );
    fails_with(
        &["compare", "--cost-limits", "-0.5"],
        "--cost-limits -0.5 is not a fraction",
    );
    fails_with(
        &[
            "compare",
            "--true-front",
            "/nonexistent/front.csv",
            "--fixture",
            "--out",
            "/tmp/cellwise-cli-errors-cmp",
        ],
        "/nonexistent/front.csv",
    );
}

/// `train --resume` refuses a checkpoint of another problem, or of another cell under the
/// same problem name, before reading any data.
#[test]
fn resuming_another_cells_checkpoint() {
    use cellwise::model::train::{TrainState, train};
    use cellwise::problem::Problem;
    let dir = tempfile::tempdir().unwrap();
    let stem = dir.path().join("m");
    let mut gru = Problem::load("mnist-gru32").unwrap();
    gru.training.max_epochs = 1;
    let splits = cellwise::data::load_fixture_splits(&gru).unwrap();
    let checkpoint = stem.with_extension("checkpoint.json");
    train(&gru, &splits, TrainState::new(&gru, 42), Some(&checkpoint)).unwrap();
    let out = stem.to_str().unwrap();
    fails_with(
        &[
            "train",
            "--problem",
            "mnist-lstm32",
            "--resume",
            "--out",
            out,
        ],
        "belongs to problem mnist-gru32 seed 42, not mnist-lstm32 seed 42",
    );
    let renamed = dir.path().join("lstm-named-gru.toml");
    let lstm = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("problems/mnist-lstm32.toml"),
    )
    .unwrap()
    .replace("name = \"mnist-lstm32\"", "name = \"mnist-gru32\"");
    std::fs::write(&renamed, lstm).unwrap();
    fails_with(
        &[
            "train",
            "--problem",
            renamed.to_str().unwrap(),
            "--resume",
            "--out",
            out,
        ],
        "its weights belong to cell gru, problem mnist-gru32 has cell lstm",
    );
}

#[test]
fn bad_gated_input() {
    // A schedule naming a slot the cell does not have, and a slot degree not among its
    // candidates.
    fails_with(
        &[
            "eval",
            "--problem",
            "mnist-gru32",
            "--schedule",
            "17 except q:7@0",
        ],
        "unknown slot; a gru step has slots z, r, n",
    );
    fails_with(
        &[
            "eval",
            "--problem",
            "mnist-lstm32",
            "--schedule",
            "17 except f:5@2",
        ],
        "unknown degree 5 at slot f step 2",
    );
    // An empty sigmoid interval.
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut toml = std::fs::read_to_string(root.join("problems/mnist-gru32.toml")).unwrap();
    toml.push_str("\n[approximation.slots.z]\ninterval = [2.0, 2.0]\n");
    let empty = dir.path().join("empty.toml");
    std::fs::write(&empty, toml).unwrap();
    fails_with(
        &["eval", "--problem", empty.to_str().unwrap()],
        "approximation.slots.z.interval [2, 2] must be finite with lo < hi",
    );
    // A GRU's weights given to an LSTM problem, and NaN in a gated model.
    let gru = root.join("models/mnist-gru32.safetensors");
    fails_with(
        &[
            "eval",
            "--problem",
            "mnist-lstm32",
            "--weights",
            gru.to_str().unwrap(),
        ],
        "the weights are a gru, problem mnist-lstm32 needs an lstm",
    );
    let problem = cellwise::problem::Problem::load("mnist-gru32").unwrap();
    let mut w = Weights::embedded_for(&problem).unwrap();
    w.recurrent_kernel[[3, 40]] = f32::NAN;
    let nan = dir.path().join("nan.safetensors");
    std::fs::write(&nan, to_safetensors(&w).unwrap()).unwrap();
    fails_with(
        &[
            "eval",
            "--problem",
            "mnist-gru32",
            "--weights",
            nan.to_str().unwrap(),
        ],
        "non-finite",
    );
}
