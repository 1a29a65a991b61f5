//! `cellwise eval`: score schedules with the accuracy oracle.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::common::{splits_for, weights_for};
use cellwise::data::{self, Split};
use cellwise::model::Weights;
use cellwise::oracle::{Candidates, Evaluation, NO_PREDICTION, Oracle, OracleConfig, Precision};
use cellwise::problem::{DEFAULT_PROBLEM, Problem};
use cellwise::schedule::Schedule;

/// Arguments of `cellwise eval`.
#[derive(clap::Args)]
pub struct Args {
    /// Weights (.npz or .safetensors; default: the embedded model).
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Problem preset name or path to a .toml file.
    #[arg(long, default_value = DEFAULT_PROBLEM)]
    problem: String,
    /// Schedule(s) to score, e.g. `all-17`, `17 except 7@0,4,24`, `3,7,17,...`
    /// (default: all-exact, all-17, all-7, all-3 with the problem's degrees).
    #[arg(long)]
    schedule: Vec<String>,
    /// Split to score on.
    #[arg(long, default_value = "test", value_parser = ["val", "test"])]
    split: String,
    /// Run the forward pass in f64 instead of f32.
    #[arg(long)]
    f64: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Also write each schedule's predicted class per image (in split order) to FILE, as
    /// JSON (null where no logit is finite).
    #[arg(long, value_name = "FILE")]
    predictions: Option<PathBuf>,
    /// Data directory (default: $CELLWISE_DATA_DIR, else ./data); fetched if missing.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Use the committed MNIST fixture (a few hundred images) instead of the data
    /// directory (tests).
    #[arg(long, hide = true, conflicts_with = "data_dir")]
    fixture: bool,
}

/// Runs `cellwise eval`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let problem = Problem::load(&args.problem)?;
    let space = problem.space();
    let mut texts = args.schedule.clone();
    if texts.is_empty() {
        texts.push("all-exact".into());
        texts.extend(space.uniform_degrees().iter().map(|d| format!("all-{d}")));
    }
    let schedules = texts
        .iter()
        .map(|t| {
            let s = Schedule::parse(t, space.shape())?;
            s.check_degrees(&space)?;
            Ok(s)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let weights = weights_for(&problem, args.weights.as_deref())?;
    let splits = if args.fixture {
        data::load_fixture_splits(&problem)?
    } else {
        splits_for(&problem, args.data_dir)?
    };
    let split = if args.split == "val" {
        &splits.val
    } else {
        &splits.test
    };
    let candidates = Candidates::for_model(&problem, &weights, &splits.train)?;
    let config = OracleConfig {
        precision: if args.f64 {
            Precision::F64
        } else {
            Precision::F32
        },
        ..OracleConfig::default()
    };
    let oracle = Oracle::new(&weights, split, &candidates, &config)?;
    let evals = schedules
        .iter()
        .map(|s| oracle.evaluate(s))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(path) = &args.predictions {
        write_predictions(path, &problem, &weights, split, &evals)
            .with_context(|| format!("writing predictions to {}", path.display()))?;
    }
    if args.json {
        let fingerprint = weights.fingerprint();
        let rows: Vec<serde_json::Value> = evals
            .iter()
            .map(|e| {
                let mut v = serde_json::to_value(&**e).unwrap_or_default();
                v["weights"] = fingerprint.clone().into();
                v["problem"] = problem.name.clone().into();
                v
            })
            .collect();
        return super::print(&format!("{}\n", serde_json::to_string_pretty(&rows)?));
    }
    let mut out = String::new();
    writeln!(
        out,
        "problem {}  weights {}  split {} ({} images)",
        problem.name,
        weights.fingerprint(),
        split.name,
        split.len()
    )?;
    writeln!(
        out,
        "{:<28} {:>9} {:>19} {:>14} {:>11} {:>7}",
        "schedule", "accuracy", "95% interval", "out-of-domain", "peak |t|", "unsafe"
    )?;
    for e in &evals {
        writeln!(
            out,
            "{:<28} {:>8.2}% {:>8.2}% - {:>6.2}% {:>13.4}% {:>11.3} {:>7}",
            e.schedule,
            100.0 * e.accuracy,
            100.0 * e.interval[0],
            100.0 * e.interval[1],
            100.0 * e.out_of_domain_rate,
            e.peak_argument,
            e.unsafe_images.len()
        )?;
    }
    super::print(&out)
}

/// Writes the predictions of every evaluated schedule as JSON: problem, weights fingerprint,
/// split, images, each image's label, and per schedule its accuracy and predicted class per
/// image.
fn write_predictions(
    path: &Path,
    problem: &Problem,
    weights: &Weights,
    split: &Split,
    evals: &[std::sync::Arc<Evaluation>],
) -> anyhow::Result<()> {
    let schedules: Vec<serde_json::Value> = evals
        .iter()
        .map(|e| {
            let predictions: Vec<Option<u8>> = e
                .predictions
                .iter()
                .map(|&p| (p != NO_PREDICTION).then_some(p))
                .collect();
            serde_json::json!({
                "schedule": e.schedule,
                "accuracy": e.accuracy,
                "correct": e.correct,
                "predictions": predictions,
            })
        })
        .collect();
    let out = serde_json::json!({
        "problem": problem.name,
        "cell": weights.cell.name(),
        "weights": weights.fingerprint(),
        "split": split.name,
        "images": split.len(),
        "labels": split.labels,
        "schedules": schedules,
    });
    cellwise::fsutil::write_atomic(path, serde_json::to_string(&out)?.as_bytes())?;
    Ok(())
}
