//! Training is deterministic (across thread counts and across a resume) and learns.

use cellwise::data::load_fixture_splits;
use cellwise::model::train::{TrainState, float_accuracy, train};
use cellwise::problem::{DEFAULT_PROBLEM, Problem};
use cellwise::recurrence::CellKind;

fn problem(epochs: usize) -> Problem {
    preset(DEFAULT_PROBLEM, epochs)
}

fn preset(name: &str, epochs: usize) -> Problem {
    let mut p = Problem::load(name).unwrap();
    p.training.max_epochs = epochs;
    p.training.batch_size = 100;
    p
}

fn in_pool<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

#[test]
fn same_seed_same_weights_on_one_and_two_threads() {
    let p = problem(3);
    let splits = load_fixture_splits(&p).unwrap();
    let one = in_pool(1, || {
        train(&p, &splits, TrainState::new(&p, 7), None).unwrap()
    });
    let two = in_pool(2, || {
        train(&p, &splits, TrainState::new(&p, 7), None).unwrap()
    });
    assert_eq!(one.best_weights, two.best_weights);
    let other = train(&p, &splits, TrainState::new(&p, 8), None).unwrap();
    assert_ne!(one.best_weights, other.best_weights);
}

#[test]
fn resuming_a_checkpoint_equals_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("state.json");
    let full = problem(4);
    let splits = load_fixture_splits(&full).unwrap();
    let straight = train(&full, &splits, TrainState::new(&full, 3), None).unwrap();
    let half = problem(2);
    train(&half, &splits, TrainState::new(&half, 3), Some(&ckpt)).unwrap();
    let mut resumed = TrainState::load(&ckpt, &full, 3).unwrap();
    resumed.finished = false; // the shorter run ended at its own epoch limit
    let resumed = train(&full, &splits, resumed, None).unwrap();
    assert_eq!(straight.best_weights, resumed.best_weights);
    assert_eq!(straight.history.len(), resumed.history.len());
    assert!(
        TrainState::load(&ckpt, &full, 4).is_err(),
        "a checkpoint of another seed is refused"
    );
}

#[test]
fn training_learns_the_fixture() {
    let p = problem(15);
    let splits = load_fixture_splits(&p).unwrap();
    let state = train(&p, &splits, TrainState::new(&p, 1), None).unwrap();
    let before = float_accuracy(&TrainState::new(&p, 1).weights, &splits.train);
    let after = float_accuracy(&state.best_weights, &splits.train);
    assert!(after > before + 0.3, "train accuracy {before} -> {after}");
}

/// GRU and LSTM training: the same bits on one and two threads, the same bits again for the
/// same seed, other bits for another seed, and a resumed run equals an uninterrupted one.
#[test]
fn gated_cells_train_deterministically() {
    for name in ["mnist-gru32", "mnist-lstm32"] {
        let p = preset(name, 2);
        let splits = load_fixture_splits(&p).unwrap();
        let one = in_pool(1, || {
            train(&p, &splits, TrainState::new(&p, 7), None).unwrap()
        });
        let two = in_pool(2, || {
            train(&p, &splits, TrainState::new(&p, 7), None).unwrap()
        });
        assert_eq!(one.best_weights.cell, p.cell());
        assert_eq!(one.best_weights, two.best_weights, "{name}");
        let losses = |s: &TrainState| -> Vec<(f64, f64)> {
            s.history
                .iter()
                .map(|r| (r.train_loss, r.val_loss))
                .collect()
        };
        assert_eq!(losses(&one), losses(&two), "{name}");
        let other = train(&p, &splits, TrainState::new(&p, 8), None).unwrap();
        assert_ne!(one.best_weights, other.best_weights, "{name}");

        let dir = tempfile::tempdir().unwrap();
        let ckpt = dir.path().join("state.json");
        let half = preset(name, 1);
        train(&half, &splits, TrainState::new(&half, 7), Some(&ckpt)).unwrap();
        let mut resumed = TrainState::load(&ckpt, &p, 7).unwrap();
        resumed.finished = false;
        let resumed = train(&p, &splits, resumed, None).unwrap();
        assert_eq!(one.best_weights, resumed.best_weights, "{name}");
    }
}

/// A checkpoint of another cell (or with the wrong shapes) is refused in one line, even
/// under the same problem name.
#[test]
fn a_checkpoint_of_another_cell_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("state.json");
    let gru = preset("mnist-gru32", 1);
    let splits = load_fixture_splits(&gru).unwrap();
    train(&gru, &splits, TrainState::new(&gru, 3), Some(&ckpt)).unwrap();
    let mut lstm = preset("mnist-lstm32", 1);
    lstm.name = gru.name.clone();
    let err = TrainState::load(&ckpt, &lstm, 3).unwrap_err().to_string();
    assert!(
        err.contains("its weights belong to cell gru, problem mnist-gru32 has cell lstm"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    let mut wider = gru.clone();
    wider.model.hidden = 16;
    let err = TrainState::load(&ckpt, &wider, 3).unwrap_err().to_string();
    assert!(err.contains("hidden"), "{err}");
    assert!(TrainState::load(&ckpt, &gru, 3).is_ok());
    assert_eq!(
        TrainState::new(&Problem::load("mnist-lstm32").unwrap(), 1)
            .weights
            .cell,
        CellKind::Lstm
    );
}
