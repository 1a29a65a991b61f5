//! `cellwise train`: train the float model of a problem preset.

use std::path::PathBuf;

use super::common::splits_for;
use anyhow::Context;
use cellwise::model::save_weights;
use cellwise::model::train::{TrainState, float_accuracy, max_abs_preactivation, train};
use cellwise::problem::{DEFAULT_PROBLEM, Problem};
use serde_json::json;

/// Arguments of `cellwise train`.
#[derive(clap::Args)]
pub struct Args {
    /// Problem preset name or path to a .toml file.
    #[arg(long, default_value = DEFAULT_PROBLEM)]
    problem: String,
    /// Seed (default: the preset's).
    #[arg(long)]
    seed: Option<u64>,
    /// Output stem: writes STEM.safetensors, STEM.npz and STEM.json (the training record).
    #[arg(long, default_value = "runs/train/model")]
    out: PathBuf,
    /// Override the preset's epoch limit (e.g. for timing comparisons).
    #[arg(long)]
    max_epochs: Option<usize>,
    /// Continue from STEM.checkpoint.json.
    #[arg(long)]
    resume: bool,
    /// Data directory (default: $CELLWISE_DATA_DIR, else ./data).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

/// Runs `cellwise train`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let mut problem = Problem::load(&args.problem)?;
    if let Some(n) = args.max_epochs {
        anyhow::ensure!(n > 0, "--max-epochs must be at least 1");
        problem.training.max_epochs = n;
    }
    let seed = args.seed.unwrap_or(problem.training.seed);
    // The checkpoint is checked before the data is read, so a wrong one fails at once.
    let checkpoint = args.out.with_extension("checkpoint.json");
    let state = if args.resume {
        TrainState::load(&checkpoint, &problem, seed)?
    } else {
        TrainState::new(&problem, seed)
    };
    let splits = splits_for(&problem, args.data_dir)?;
    if let Some(parent) = args.out.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let start = std::time::Instant::now();
    let state = train(&problem, &splits, state, Some(&checkpoint))?;
    let seconds = start.elapsed().as_secs_f64();
    let best = &state.best_weights;
    let test_accuracy = float_accuracy(best, &splits.test);
    let val_accuracy = float_accuracy(best, &splits.val);
    let epoch_seconds: Vec<f64> = state.history.iter().map(|r| r.seconds).collect();
    let record = json!({
        "problem": problem.name,
        "seed": seed,
        "epochs": state.history.len(),
        "best_epoch": state.best_epoch,
        "val_accuracy": val_accuracy,
        "test_accuracy": test_accuracy,
        "max_abs_preactivation_test": max_abs_preactivation(best, &splits.test),
        "median_epoch_seconds": median(&epoch_seconds),
        "train_seconds_this_run": seconds,
        "parameters": best.parameter_count(),
        "fingerprint": best.fingerprint(),
        "command": std::env::args().collect::<Vec<_>>().join(" "),
        "history": state.history,
    });
    save_weights(best, &args.out)?;
    let record_path = args.out.with_extension("json");
    cellwise::fsutil::write_atomic(
        &record_path,
        serde_json::to_string_pretty(&record)?.as_bytes(),
    )
    .with_context(|| format!("writing {}", record_path.display()))?;
    super::print(&format!(
        "{}: {} epochs (best {}), val {:.4}, test {:.4}, weights {}\n",
        problem.name,
        state.history.len(),
        state.best_epoch,
        val_accuracy,
        test_accuracy,
        args.out.with_extension("safetensors").display()
    ))
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() { 0.0 } else { v[v.len() / 2] }
}
