//! `cellwise compare`: several strategies on equal judgement budgets and several seeds.

use std::path::PathBuf;

use anyhow::Context;
use cellwise::cost::{self, CostOptions};
use cellwise::oracle::{Candidates, Oracle, OracleConfig};
use cellwise::problem::{DEFAULT_PROBLEM, Problem};
use cellwise::report::{self, svg};
use cellwise::search::{Constraints, SearchContext, StrategyConfig, hypervolume};
use serde_json::json;

use super::common::{set_threads, splits_for, weights_for};

/// Arguments of `cellwise compare`.
#[derive(clap::Args)]
pub struct Args {
    /// Comma-separated strategy presets.
    #[arg(
        long,
        default_value = "dfs,genetic,dp,greedy,anneal,random",
        value_delimiter = ','
    )]
    strategies: Vec<String>,
    /// Judgements per strategy and seed.
    #[arg(long, default_value_t = 5000)]
    budget: usize,
    /// Number of seeds (1..=K).
    #[arg(long, default_value_t = 3)]
    seeds: u64,
    /// Cost model: depth, bootstraps or latency[:PROFILE].
    #[arg(long, default_value = "depth")]
    cost: String,
    /// Cost limit for "best accuracy under a cost limit", as a fraction of all-highest's cost.
    #[arg(long, default_value_t = 0.95)]
    cost_fraction: f64,
    /// Minimum validation accuracy passed to the strategies (anneal, greedy use it), in
    /// [0, 1].
    #[arg(long, default_value_t = 0.9, allow_negative_numbers = true)]
    min_accuracy: f64,
    /// Accept only schedules that leave no validation image unsafe for batched CKKS.
    #[arg(long)]
    batch_safe: bool,
    #[arg(long, default_value = DEFAULT_PROBLEM)]
    problem: String,
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Output directory (README.md table and compare.json); locked while the comparison
    /// runs (a second run on it is refused).
    #[arg(long, default_value = "results/compare-default")]
    out: PathBuf,
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Worker threads (default: all cores); results do not depend on it.
    #[arg(long)]
    threads: Option<usize>,
}

/// Runs `cellwise compare`.
pub fn run(args: Args) -> anyhow::Result<()> {
    set_threads(args.threads)?;
    anyhow::ensure!(args.seeds > 0, "--seeds must be at least 1");
    anyhow::ensure!(
        args.cost_fraction > 0.0 && args.cost_fraction <= 1.0,
        "--cost-fraction must be in (0, 1]"
    );
    anyhow::ensure!(
        (0.0..=1.0).contains(&args.min_accuracy),
        "--min-accuracy {} is not an accuracy: give a number in [0, 1]",
        args.min_accuracy
    );
    let problem = Problem::load(&args.problem)?;
    let presets = args
        .strategies
        .iter()
        .map(|s| StrategyConfig::load(s))
        .collect::<Result<Vec<_>, _>>()?;
    let cost_spec = cost::Spec::parse(&args.cost, &problem, &CostOptions::default())?;
    // The presets first (bad ones are refused without touching the directory), then the
    // lock, before any real work: a second comparison into the directory is refused at once.
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let lock = report::RunLock::acquire(&args.out)?;
    if let Some(pid) = lock.stale_owner() {
        super::note(&format!(
            "output directory {} was locked by pid {pid}, which ended without releasing it; taking the lock over",
            args.out.display()
        ));
    }
    let weights = weights_for(&problem, args.weights.as_deref())?;
    let splits = splits_for(&problem, args.data_dir)?;
    let candidates = Candidates::for_model(&problem, &weights, &splits.train)?;
    let cost_model = cost_spec.build(&problem, Some(&candidates))?;
    let val = Oracle::new(&weights, &splits.val, &candidates, &OracleConfig::default())?;
    let no_cache = OracleConfig {
        cache_mb: 0,
        ..OracleConfig::default()
    };
    let test = Oracle::new(&weights, &splits.test, &candidates, &no_cache)?;
    let constraints = Constraints {
        min_accuracy: args.min_accuracy,
        max_cost: f64::INFINITY,
        batch_safe: args.batch_safe,
    };
    let all_top = val.space().top();
    let reference = cost_model.cost(&all_top)?;
    let limit = args.cost_fraction * reference;
    let mut rows = Vec::new();
    // Seed 1 of every strategy, for the overlaid plots.
    let mut fronts = Vec::new();
    let mut progress = Vec::new();
    for (name, preset) in args.strategies.iter().zip(&presets) {
        for seed in 1..=args.seeds {
            val.clear_caches();
            let ctx = SearchContext::new(
                &problem,
                &val,
                cost_model.as_ref(),
                constraints.clone(),
                args.budget,
                seed,
            )?;
            let outcome = ctx.run(preset.build().as_mut())?;
            let all = cellwise::search::pareto_front(
                &outcome.records,
                &Constraints {
                    min_accuracy: 0.0,
                    max_cost: f64::INFINITY,
                    batch_safe: args.batch_safe,
                },
            );
            let hv = hypervolume(&outcome.records, &all, reference);
            if seed == 1 {
                let everything = Constraints {
                    min_accuracy: 0.0,
                    max_cost: f64::INFINITY,
                    batch_safe: args.batch_safe,
                };
                fronts.push(svg::Series {
                    name: name.clone(),
                    points: report::front_points(&outcome),
                });
                progress.push(svg::Series {
                    name: name.clone(),
                    points: report::progress_points(&outcome, &everything, reference),
                });
            }
            let best = outcome
                .records
                .iter()
                .filter(|r| r.cost <= limit)
                .filter_map(|r| r.accuracy.map(|a| (a, r)))
                .max_by(|x, y| x.0.total_cmp(&y.0));
            let test_eval = match best {
                Some((_, r)) => Some(test.evaluate(&r.schedule)?),
                None => None,
            };
            super::status(&format!(
                "{name} seed {seed}: {} judgements in {:.1} s, hypervolume {hv:.4}",
                outcome.judgements, outcome.seconds
            ));
            rows.push(json!({
                "strategy": name,
                "seed": seed,
                "judgements": outcome.judgements,
                "seconds": outcome.seconds,
                "cpu_seconds": outcome.cpu_seconds,
                "hypervolume": hv,
                "best_under_limit": best.map(|(_, r)| r.schedule.to_string()),
                "best_val_accuracy": best.map(|(a, _)| a),
                "best_test_accuracy": test_eval.as_ref().map(|e| e.accuracy),
                "best_test_interval": test_eval.as_ref().map(|e| e.interval),
            }));
        }
    }
    let doc = json!({
        "problem": problem.name,
        "git": env!("CELLWISE_GIT_HASH"),
        "weights": weights.fingerprint(),
        "cost_model": args.cost,
        "reference_cost": reference,
        "cost_limit": limit,
        "budget": args.budget,
        "seeds": args.seeds,
        "command": std::iter::once("cellwise".to_string())
            .chain(std::env::args().skip(1))
            .collect::<Vec<_>>()
            .join(" "),
        "runs": rows,
    });
    cellwise::fsutil::write_atomic(
        &args.out.join("compare.json"),
        serde_json::to_string_pretty(&doc)?.as_bytes(),
    )?;
    let mut md = format!(
        "# Strategy comparison\n\nProblem `{}`, cost model `{}`, {} judgements per strategy and seed, seeds 1..={}; hypervolume of the validation front against (accuracy 0, cost of {} = {reference}), normalised; best = highest validation accuracy at cost <= {limit:.2}.\n\n| strategy | seed | judgements | seconds | hypervolume | best under limit | val | test (95 % interval) |\n|---|---|---|---|---|---|---|---|\n",
        problem.name, args.cost, args.budget, args.seeds, all_top
    );
    for r in doc["runs"].as_array().into_iter().flatten() {
        let pct = |v: &serde_json::Value| {
            v.as_f64()
                .map_or("-".to_string(), |x| format!("{:.2} %", 100.0 * x))
        };
        let interval = r["best_test_interval"]
            .as_array()
            .map_or("".to_string(), |i| {
                format!(
                    " ({:.2}-{:.2})",
                    100.0 * i[0].as_f64().unwrap_or(0.0),
                    100.0 * i[1].as_f64().unwrap_or(0.0)
                )
            });
        md.push_str(&format!(
            "| {} | {} | {} | {:.1} | {:.4} | `{}` | {} | {}{} |\n",
            r["strategy"].as_str().unwrap_or(""),
            r["seed"],
            r["judgements"],
            r["seconds"].as_f64().unwrap_or(0.0),
            r["hypervolume"].as_f64().unwrap_or(0.0),
            r["best_under_limit"].as_str().unwrap_or("-"),
            pct(&r["best_val_accuracy"]),
            pct(&r["best_test_accuracy"]),
            interval
        ));
    }
    let per_seed: f64 = doc["runs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["seconds"].as_f64())
        .sum::<f64>()
        / args.seeds as f64;
    md.push_str(&format!(
        "\nWall time of all {} strategies at {} judgements each, one seed: {per_seed:.1} s (mean over the seeds).\n",
        args.strategies.len(),
        args.budget
    ));
    md.push_str(&format!(
        "\nCommand: `{}`\n",
        doc["command"].as_str().unwrap_or("")
    ));
    md.push_str(
        "\nPlots (seed 1 of each strategy): `pareto.svg` (validation fronts overlaid), \
         `progress.svg` (hypervolume of the front found so far against judgements).\n",
    );
    cellwise::fsutil::write_atomic(
        &args.out.join("pareto.svg"),
        svg::chart(
            "validation Pareto fronts (seed 1)",
            &format!("cost ({})", args.cost),
            "validation accuracy (%)",
            &fronts,
            true,
        )
        .as_bytes(),
    )?;
    cellwise::fsutil::write_atomic(
        &args.out.join("progress.svg"),
        svg::chart(
            "hypervolume of the front so far (seed 1)",
            "judgements",
            "hypervolume (accuracy %)",
            &progress,
            true,
        )
        .as_bytes(),
    )?;
    cellwise::fsutil::write_atomic(&args.out.join("README.md"), md.as_bytes())?;
    super::print(&md)
}
