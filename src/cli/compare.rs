//! `cellwise compare`: several strategies on equal judgement budgets. A strategy whose
//! choices depend on the seed runs once per seed and is summarised by the median and the
//! range (min-max) over the seeds; a deterministic one runs once. Every row reports the
//! judgements it used and, if it ended before its budget, why.

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
        default_value = "dfs,genetic,dp,dp-levels,greedy,anneal,random",
        value_delimiter = ','
    )]
    strategies: Vec<String>,
    /// Judgements per strategy and seed.
    #[arg(long, default_value_t = 5000)]
    budget: usize,
    /// Seeds 1..=K for the strategies that use a seed (genetic, anneal, random); the
    /// deterministic ones run once.
    #[arg(long, default_value_t = 5)]
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
    /// Use the committed MNIST fixture (a few hundred images) instead of the data
    /// directory (tests).
    #[arg(long, hide = true)]
    fixture: bool,
}

/// Median, minimum and maximum of some numbers (none for an empty list).
fn spread(mut values: Vec<f64>) -> Option<(f64, f64, f64)> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let median = (values[(n - 1) / 2] + values[n / 2]) / 2.0;
    Some((median, values[0], values[n - 1]))
}

/// The summary of one strategy's runs: per figure the median, min and max over the seeds.
fn summarise(name: &str, seeded: bool, runs: &[serde_json::Value]) -> serde_json::Value {
    let figure = |key: &str| {
        let values: Vec<f64> = runs.iter().filter_map(|r| r[key].as_f64()).collect();
        spread(values).map(|(median, min, max)| json!({ "median": median, "min": min, "max": max }))
    };
    let early: Vec<&str> = runs.iter().filter_map(|r| r["stopped"].as_str()).collect();
    json!({
        "strategy": name,
        "seeded": seeded,
        "runs": runs.len(),
        "judgements": figure("judgements"),
        "stopped_early": early.len(),
        "stop_reason": early.first(),
        "seconds": figure("seconds"),
        "hypervolume": figure("hypervolume"),
        "best_val_accuracy": figure("best_val_accuracy"),
        "best_test_accuracy": figure("best_test_accuracy"),
    })
}

/// A summary figure as "median (min-max)", or the single value of one run; `scale` and
/// `digits` format it.
fn cell(figure: &serde_json::Value, scale: f64, digits: usize, unit: &str) -> String {
    let get = |k: &str| figure[k].as_f64().map(|x| x * scale);
    match (get("median"), get("min"), get("max")) {
        (Some(m), Some(lo), Some(hi)) if lo == hi => format!("{m:.digits$}{unit}"),
        (Some(m), Some(lo), Some(hi)) => {
            format!("{m:.digits$}{unit} ({lo:.digits$}-{hi:.digits$})")
        }
        _ => "-".to_string(),
    }
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
    let splits = if args.fixture {
        cellwise::data::load_fixture_splits(&problem)?
    } else {
        splits_for(&problem, args.data_dir)?
    };
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
    let mut summaries = Vec::new();
    // Seed 1 of every strategy, for the overlaid plots.
    let mut fronts = Vec::new();
    let mut progress = Vec::new();
    for (name, preset) in args.strategies.iter().zip(&presets) {
        let seeds = if preset.is_seeded() { args.seeds } else { 1 };
        let first_row = rows.len();
        for seed in 1..=seeds {
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
                "{name} seed {seed}: {} judgements in {:.1} s, hypervolume {hv:.4}{}",
                outcome.judgements,
                outcome.seconds,
                outcome
                    .stopped
                    .as_ref()
                    .map_or(String::new(), |why| format!("; stopped early: {why}"))
            ));
            rows.push(json!({
                "strategy": name,
                "seed": preset.is_seeded().then_some(seed),
                "judgements": outcome.judgements,
                "budget_exhausted": outcome.budget_exhausted,
                "stopped": outcome.stopped,
                "seconds": outcome.seconds,
                "cpu_seconds": outcome.cpu_seconds,
                "hypervolume": hv,
                "best_under_limit": best.map(|(_, r)| r.schedule.to_string()),
                "best_val_accuracy": best.map(|(a, _)| a),
                "best_test_accuracy": test_eval.as_ref().map(|e| e.accuracy),
                "best_test_interval": test_eval.as_ref().map(|e| e.interval),
            }));
        }
        summaries.push(summarise(name, preset.is_seeded(), &rows[first_row..]));
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
        "summary": summaries,
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
        "# Strategy comparison\n\nProblem `{}`, cost model `{}`, a budget of {} judgements per run; strategies that use a seed run with seeds 1..={} and show the median (min-max) over them, deterministic ones run once. Hypervolume of the validation front against (accuracy 0, cost of {} = {reference}), normalised; best = highest validation accuracy at cost <= {limit:.2}.\n\n| strategy | runs | judgements used | stopped early | seconds | hypervolume | best val | best test |\n|---|---|---|---|---|---|---|---|\n",
        problem.name, args.cost, args.budget, args.seeds, all_top
    );
    for s in &summaries {
        let early = match (s["stopped_early"].as_u64(), s["stop_reason"].as_str()) {
            (Some(k), Some(why)) if s["seeded"] == true => {
                format!("{k} of {}: {why}", s["runs"])
            }
            (_, Some(why)) => why.to_string(),
            _ => "no".to_string(),
        };
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            s["strategy"].as_str().unwrap_or(""),
            s["runs"],
            cell(&s["judgements"], 1.0, 0, ""),
            early,
            cell(&s["seconds"], 1.0, 1, ""),
            cell(&s["hypervolume"], 1.0, 4, ""),
            cell(&s["best_val_accuracy"], 100.0, 2, " %"),
            cell(&s["best_test_accuracy"], 100.0, 2, " %"),
        ));
    }
    md.push_str(
        "\nEvery run:\n\n| strategy | seed | judgements | seconds | hypervolume | best under limit | val | test (95 % interval) |\n|---|---|---|---|---|---|---|---|\n",
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
        let early = if r["stopped"].is_string() {
            " (stopped early)"
        } else {
            ""
        };
        md.push_str(&format!(
            "| {} | {} | {}{early} | {:.1} | {:.4} | `{}` | {} | {}{} |\n",
            r["strategy"].as_str().unwrap_or(""),
            r["seed"]
                .as_u64()
                .map_or("-".to_string(), |s| s.to_string()),
            r["judgements"],
            r["seconds"].as_f64().unwrap_or(0.0),
            r["hypervolume"].as_f64().unwrap_or(0.0),
            r["best_under_limit"].as_str().unwrap_or("-"),
            pct(&r["best_val_accuracy"]),
            pct(&r["best_test_accuracy"]),
            interval
        ));
    }
    let per_seed: f64 = summaries
        .iter()
        .filter_map(|s| s["seconds"]["median"].as_f64())
        .sum();
    md.push_str(&format!(
        "\nWall time of all {} strategies, one run each (median over the seeds): {per_seed:.1} s.\n",
        args.strategies.len(),
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
