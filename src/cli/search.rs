//! `cellwise search`: run one search strategy on the validation split.

use std::path::PathBuf;

use super::common::{splits_for, weights_for};
use anyhow::Context;
use cellwise::cost;
use cellwise::oracle::{Candidates, Oracle, OracleConfig};
use cellwise::problem::{DEFAULT_PROBLEM, Problem};
use cellwise::report::{finalists, write_plots, write_run};
use cellwise::search::{Constraints, SearchContext, StrategyConfig};
use serde_json::json;

/// Arguments of `cellwise search`.
#[derive(clap::Args)]
pub struct Args {
    /// Strategy preset name (dfs, greedy, random, exhaustive) or a path to a .toml preset.
    #[arg(long, default_value = "dfs")]
    strategy: String,
    /// Problem preset name or path to a .toml file.
    #[arg(long, default_value = DEFAULT_PROBLEM)]
    problem: String,
    /// Weights (.npz or .safetensors; default: the embedded model).
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Maximum judgements (evaluations plus threshold decisions).
    #[arg(long, default_value_t = 5000)]
    budget: usize,
    /// Cost model: depth, bootstraps or latency[:PROFILE].
    #[arg(long, default_value = "depth")]
    cost: String,
    /// Minimum validation accuracy of an answer, in [0, 1].
    #[arg(long, default_value_t = 0.0)]
    min_accuracy: f64,
    /// Maximum cost of an answer.
    #[arg(long, default_value_t = f64::INFINITY)]
    max_cost: f64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Run directory for run.json, schedules.csv and pareto.csv.
    #[arg(long, default_value = "runs/search")]
    out: PathBuf,
    /// Worker threads (default: all cores); results do not depend on it.
    #[arg(long)]
    threads: Option<usize>,
    /// Print the run summary as JSON.
    #[arg(long)]
    json: bool,
    /// Data directory (default: $CELLWISE_DATA_DIR, else ./data); fetched if missing.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

/// Runs `cellwise search`.
pub fn run(args: Args) -> anyhow::Result<()> {
    if let Some(n) = args.threads {
        anyhow::ensure!(n > 0, "--threads must be at least 1");
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .context("setting up the thread pool")?;
    }
    let problem = Problem::load(&args.problem)?;
    let config = StrategyConfig::load(&args.strategy)?;
    let cost_model = cost::by_name(&args.cost, &problem)?;
    let weights = weights_for(&problem, args.weights.as_deref())?;
    let constraints = Constraints {
        min_accuracy: args.min_accuracy,
        max_cost: args.max_cost,
    };
    let splits = splits_for(&problem, args.data_dir)?;
    let candidates = Candidates::from_problem(&problem, None)?;
    let val = Oracle::new(&weights, &splits.val, &candidates, &OracleConfig::default())?;
    let ctx = SearchContext::new(
        &problem,
        &val,
        cost_model.as_ref(),
        constraints.clone(),
        args.budget,
        args.seed,
    )?;
    let mut strategy = config.build();
    let outcome = ctx.run(strategy.as_mut())?;
    let no_cache = OracleConfig {
        cache_mb: 0,
        ..OracleConfig::default()
    };
    let test = Oracle::new(&weights, &splits.test, &candidates, &no_cache)?;
    let finals = finalists(&outcome, &test)?;
    let meta = json!({
        "version": env!("CARGO_PKG_VERSION"),
        "problem": problem.name,
        "weights": weights.fingerprint(),
        "config": config,
        "cost_model": args.cost,
        "budget": args.budget,
        "seed": args.seed,
        "oracle": val.stats(),
    });
    write_run(&args.out, meta.clone(), &outcome, &finals)
        .with_context(|| format!("writing {}", args.out.display()))?;
    write_plots(&args.out, &outcome, &constraints, &candidates.degrees())
        .with_context(|| format!("writing plots to {}", args.out.display()))?;
    let decisions = outcome
        .records
        .iter()
        .filter(|r| r.accepted.is_some())
        .count();
    if args.json {
        let mut summary = meta;
        summary["judgements"] = outcome.judgements.into();
        summary["decisions"] = decisions.into();
        summary["seconds"] = outcome.seconds.into();
        summary["details"] = outcome.details.clone();
        summary["finalists"] = serde_json::to_value(&finals)?;
        if let Some(kept) = summary["details"].as_object_mut() {
            kept.remove("kept_schedules");
        }
        println!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(());
    }
    println!(
        "{}: {} judgements ({decisions} threshold decisions) in {:.1} s{}; run directory {}",
        outcome.strategy,
        outcome.judgements,
        outcome.seconds,
        if outcome.budget_exhausted {
            " (budget spent)"
        } else {
            ""
        },
        args.out.display()
    );
    println!(
        "{:<40} {:>10} {:>9} {:>9}",
        "Pareto schedule", "cost", "val", "test"
    );
    for f in &finals {
        println!(
            "{:<40} {:>10.3} {:>8.2}% {:>8.2}%",
            f.schedule,
            f.cost,
            100.0 * f.val_accuracy,
            100.0 * f.test_accuracy
        );
    }
    Ok(())
}
