//! Training is deterministic (across thread counts and across a resume) and learns.

use cellwise::data::load_fixture_splits;
use cellwise::model::train::{TrainState, float_accuracy, train};
use cellwise::problem::{DEFAULT_PROBLEM, Problem};

fn problem(epochs: usize) -> Problem {
    let mut p = Problem::load(DEFAULT_PROBLEM).unwrap();
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
