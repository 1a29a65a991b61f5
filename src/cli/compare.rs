//! `cellwise compare`: several strategies on equal judgement budgets. A strategy whose
//! choices depend on the seed runs once per seed and is summarised by the median and the
//! range (min-max) over the seeds; a deterministic one runs once. Every row reports the
//! judgements it used and, if it ended before its budget, why; the hypervolumes of its
//! validation and test fronts; the test accuracy of its best schedule under each cost limit;
//! and, given the true front, its regret.

use std::path::PathBuf;

use anyhow::Context;
use cellwise::cost::{self, CostModel, CostOptions};
use cellwise::oracle::{Candidates, Oracle, OracleConfig};
use cellwise::problem::{DEFAULT_PROBLEM, Problem};
use cellwise::report::metrics::{self, TrueFront};
use cellwise::report::{self, Reference, svg};
use cellwise::search::{Constraints, SearchContext, StrategyConfig};
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
    /// Cost model: depth, bootstraps or latency[:PROFILE]. Default: latency:cellwise-fgb-like-12
    /// where that profile prices the problem's circuit, else depth, with a note naming the
    /// operation the profile lacks (mnist-6x6's 8 units were not profiled).
    #[arg(long)]
    cost: Option<String>,
    /// Cost limits for "best schedule under a cost limit", as fractions of the all-highest
    /// schedule's cost, each in (0, 1]. The default covers mnist-rnn32 from the paper's four
    /// degree-7 cells (0.94 of all-17 under the default latency model, 0.95 in depth) down to
    /// 0.8 (all-3 costs 0.53, 0.50 in depth).
    #[arg(
        long,
        default_value = "0.8,0.85,0.9,0.95",
        value_delimiter = ',',
        allow_negative_numbers = true
    )]
    cost_limits: Vec<f64>,
    /// Minimum accepted validation accuracy, in [0, 1]: passed to the strategies (anneal and
    /// greedy use it) and the accuracy of the hypervolume's reference point.
    #[arg(long, default_value_t = 0.9, allow_negative_numbers = true)]
    min_accuracy: f64,
    /// The problem's true validation front, to measure regret against: a CSV with columns
    /// schedule, cost and accuracy (or val_accuracy), such as an exhaustive search's
    /// pareto.csv or schedules.csv made with the same problem, weights, data and cost model
    /// (checked).
    #[arg(long)]
    true_front: Option<PathBuf>,
    /// Accept only schedules that leave no validation image unsafe for batched CKKS.
    #[arg(long)]
    batch_safe: bool,
    #[arg(long, default_value = DEFAULT_PROBLEM)]
    problem: String,
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Output directory (README.md table, compare.json and plots); locked while the
    /// comparison runs (a second run on it is refused).
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

/// A [`Spread`] as JSON (null when there is none).
fn spread_json(values: impl IntoIterator<Item = f64>) -> serde_json::Value {
    metrics::spread(values).map_or(serde_json::Value::Null, |s| json!(s))
}

/// One run's hypervolume of the front found within the first `k` judgements (index
/// `k - 1`), and when each judgement was made.
struct Trace {
    hv: Vec<f64>,
    elapsed: Vec<f64>,
}

impl Trace {
    /// Hypervolume after `k` judgements (all of them beyond the run's end).
    fn at_count(&self, k: usize) -> f64 {
        match k.min(self.hv.len()) {
            0 => 0.0,
            k => self.hv[k - 1],
        }
    }

    /// Hypervolume of what was judged within `t` seconds.
    fn at_seconds(&self, t: f64) -> f64 {
        self.at_count(self.elapsed.partition_point(|&e| e <= t))
    }
}

/// Per x of `xs`, the median, min and max over `traces` of `value(trace, x)`.
fn band(name: &str, traces: &[Trace], xs: &[f64], value: impl Fn(&Trace, f64) -> f64) -> svg::Band {
    svg::Band {
        name: name.to_string(),
        points: xs
            .iter()
            .filter_map(|&x| {
                metrics::spread(traces.iter().map(|t| value(t, x)))
                    .map(|s| (x, s.median, s.min, s.max))
            })
            .collect(),
    }
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

/// A strategy's figure under cost limit `i` (in %, or points), saying how many of its runs
/// had a schedule under the limit when some had none.
fn limit_cell(summary: &serde_json::Value, i: usize, key: &str, unit: &str) -> String {
    let limit = &summary["under_limits"][i];
    let text = cell(&limit[key], 100.0, 2, unit);
    match (
        limit["runs_with_schedule"].as_u64(),
        summary["runs"].as_u64(),
    ) {
        (Some(k), Some(n)) if k > 0 && k < n => format!("{text} [{k} of {n} runs]"),
        _ => text,
    }
}

/// The strategies with the highest median of `figure` (a summary's spread), with it.
fn winners(
    summaries: &[serde_json::Value],
    figure: impl Fn(&serde_json::Value) -> &serde_json::Value,
    scale: f64,
    digits: usize,
    unit: &str,
) -> String {
    let best = summaries
        .iter()
        .filter_map(|s| figure(s)["median"].as_f64())
        .max_by(f64::total_cmp);
    let Some(best) = best else {
        return "-".into();
    };
    summaries
        .iter()
        .filter(|s| figure(s)["median"].as_f64() == Some(best))
        .map(|s| {
            format!(
                "{} {}",
                s["strategy"].as_str().unwrap_or(""),
                cell(figure(s), scale, digits, unit)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The cost model the comparison prices with: the one named, or the default for searches.
fn cost_model_for(
    spec: Option<cost::Spec>,
    problem: &Problem,
    candidates: &Candidates,
) -> anyhow::Result<Box<dyn CostModel>> {
    Ok(match spec {
        Some(spec) => spec.build(problem, Some(candidates))?,
        None => {
            let (model, fallback) = cost::default_for_search(problem, Some(candidates))?;
            if let Some(why) = fallback {
                super::note(&format!(
                    "cost model depth (the default {} cannot price problem {}: {why}; choose one with --cost)",
                    cost::default_search_cost(problem),
                    problem.name
                ));
            }
            model
        }
    })
}

/// Runs `cellwise compare`.
pub fn run(args: Args) -> anyhow::Result<()> {
    set_threads(args.threads)?;
    anyhow::ensure!(args.seeds > 0, "--seeds must be at least 1");
    let mut fractions = args.cost_limits.clone();
    for &f in &fractions {
        anyhow::ensure!(
            f > 0.0 && f <= 1.0,
            "--cost-limits {f} is not a fraction of the all-highest cost: give numbers in (0, 1]"
        );
    }
    fractions.sort_by(f64::total_cmp);
    fractions.dedup();
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
    let cost_spec = args
        .cost
        .as_deref()
        .map(|spec| cost::Spec::parse(spec, &problem, &CostOptions::default()))
        .transpose()?;
    let mut truth = args
        .true_front
        .as_deref()
        .map(|path| TrueFront::read(path, problem.shape()))
        .transpose()?;
    // The presets and the true front first (bad ones are refused without touching the
    // directory), then the lock, before any real work: a second comparison into the
    // directory is refused at once.
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
        splits_for(&problem, args.data_dir.clone())?
    };
    let candidates = Candidates::for_model(&problem, &weights, &splits.train)?;
    let cost_model = cost_model_for(cost_spec, &problem, &candidates)?;
    let cost_name = cost_model.name().to_string();
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
    let reference = Reference::new(args.min_accuracy, cost_model.cost(&all_top)?)
        .map_err(anyhow::Error::msg)?;
    let top_accuracy = val.evaluate(&all_top)?.accuracy;
    if top_accuracy <= reference.accuracy {
        super::note(&format!(
            "{all_top} scores {:.2} % on validation, not above --min-accuracy {:.2} %: only a cheaper schedule that is more accurate can add hypervolume",
            100.0 * top_accuracy,
            100.0 * reference.accuracy
        ));
    }
    if let Some(front) = &mut truth {
        front.verify(&val, cost_model.as_ref())?;
    }
    let limits: Vec<f64> = fractions.iter().map(|f| f * reference.cost).collect();
    let mut rows = Vec::new();
    let mut summaries = Vec::new();
    // Seed 1 of every strategy's front, and every run's progress, for the plots.
    let mut fronts = Vec::new();
    let mut traces: Vec<(String, Vec<Trace>)> = Vec::new();
    for (name, preset) in args.strategies.iter().zip(&presets) {
        let seeds = if preset.is_seeded() { args.seeds } else { 1 };
        let first_row = rows.len();
        let mut strategy_traces = Vec::new();
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
            let finals = report::finalists(&outcome, &test)?;
            let (hv_val, hv_test) = report::front_hypervolumes(&finals, &reference);
            if seed == 1 {
                fronts.push(svg::Series {
                    name: name.clone(),
                    points: report::front_points(&outcome),
                });
            }
            let counts: Vec<usize> = (1..=outcome.records.len()).collect();
            strategy_traces.push(Trace {
                hv: metrics::hypervolume_at(&outcome.records, args.batch_safe, &reference, &counts),
                elapsed: outcome.elapsed.clone(),
            });
            let mut picks = Vec::new();
            let mut best_val = Vec::new();
            for (&fraction, &limit) in fractions.iter().zip(&limits) {
                let best = metrics::best_under(&outcome.records, limit, args.batch_safe);
                let eval = best.map(|r| test.evaluate(&r.schedule)).transpose()?;
                best_val.push(best.and_then(|r| r.accuracy));
                picks.push(json!({
                    "fraction": fraction,
                    "cost_limit": limit,
                    "schedule": best.map(|r| r.schedule.to_string()),
                    "cost": best.map(|r| r.cost),
                    "val_accuracy": best.and_then(|r| r.accuracy),
                    "test_accuracy": eval.as_ref().map(|e| e.accuracy),
                    "test_interval": eval.as_ref().map(|e| e.interval),
                }));
            }
            let regret = truth
                .as_ref()
                .map(|t| metrics::regret(t, &reference, hv_val, &limits, &best_val));
            if let (Some(r), Some(t)) = (&regret, &truth)
                && r.hypervolume < 0.0
            {
                super::note(&format!(
                    "{name} seed {seed} beats the true front {} (regret {:.3e}): it is not this problem's whole front (made with other constraints, such as --batch-safe?)",
                    t.source, r.hypervolume
                ));
            }
            super::status(&format!(
                "{name} seed {seed}: {} judgements in {:.1} s, hypervolume validation {hv_val:.4} test {hv_test:.4}{}{}",
                outcome.judgements,
                outcome.seconds,
                regret
                    .as_ref()
                    .map_or(String::new(), |r| format!(", regret {:.4}", r.hypervolume)),
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
                "hypervolume": hv_val,
                "hypervolume_test": hv_test,
                "front": finals,
                "under_limits": picks,
                "regret": regret,
            }));
        }
        summaries.push(summarise(
            name,
            preset.is_seeded(),
            &rows[first_row..],
            fractions.len(),
        ));
        traces.push((name.clone(), strategy_traces));
    }
    let doc = json!({
        "problem": problem.name,
        "git": env!("CELLWISE_GIT_HASH"),
        "date": cellwise::sysinfo::utc_date(),
        "machine": { "cpu": cellwise::sysinfo::cpu_model(), "threads": rayon::current_num_threads() },
        "weights": weights.fingerprint(),
        "cost_model": cost_name,
        "min_accuracy": args.min_accuracy,
        "batch_safe": args.batch_safe,
        "reference": { "schedule": all_top.to_string(), "accuracy": reference.accuracy, "cost": reference.cost, "val_accuracy": top_accuracy },
        "cost_limits": fractions.iter().zip(&limits).map(|(f, l)| json!({ "fraction": f, "cost": l })).collect::<Vec<_>>(),
        "true_front": truth.as_ref().map(|t| json!({
            "source": t.source,
            "points": t.points,
            "hypervolume": t.hypervolume(&reference),
        })),
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
    let md = readme(&doc, &summaries, &fractions, &reference, truth.is_some());
    write_plots(
        &args,
        &cost_name,
        &reference,
        &fronts,
        &traces,
        truth.as_ref().map(|t| t.hypervolume(&reference)),
    )?;
    cellwise::fsutil::write_atomic(&args.out.join("README.md"), md.as_bytes())?;
    super::print(&md)
}

/// The summary of one strategy's runs: per figure the median, min and max over the seeds.
fn summarise(
    name: &str,
    seeded: bool,
    runs: &[serde_json::Value],
    limits: usize,
) -> serde_json::Value {
    let figure =
        |get: &dyn Fn(&serde_json::Value) -> Option<f64>| spread_json(runs.iter().filter_map(get));
    let key = |k: &'static str| move |r: &serde_json::Value| r[k].as_f64();
    let early: Vec<&str> = runs.iter().filter_map(|r| r["stopped"].as_str()).collect();
    let under: Vec<serde_json::Value> = (0..limits)
        .map(|i| {
            let pick = |r: &serde_json::Value, k: &str| r["under_limits"][i][k].as_f64();
            json!({
                "fraction": runs.first().map(|r| r["under_limits"][i]["fraction"].clone()),
                "runs_with_schedule": runs.iter().filter(|r| r["under_limits"][i]["schedule"].is_string()).count(),
                "val_accuracy": figure(&|r| pick(r, "val_accuracy")),
                "test_accuracy": figure(&|r| pick(r, "test_accuracy")),
                "accuracy_gap": figure(&|r| r["regret"]["accuracy_gaps"][i].as_f64()),
            })
        })
        .collect();
    json!({
        "strategy": name,
        "seeded": seeded,
        "runs": runs.len(),
        "judgements": figure(&key("judgements")),
        "stopped_early": early.len(),
        "stop_reason": early.first(),
        "seconds": figure(&key("seconds")),
        "hypervolume": figure(&key("hypervolume")),
        "hypervolume_test": figure(&key("hypervolume_test")),
        "regret": figure(&|r| r["regret"]["hypervolume"].as_f64()),
        "under_limits": under,
    })
}

/// `README.md` of a comparison: the definitions, the summary table, the winners, the
/// regret table (with a true front) and every run.
fn readme(
    doc: &serde_json::Value,
    summaries: &[serde_json::Value],
    fractions: &[f64],
    reference: &Reference,
    regret: bool,
) -> String {
    let limit_heads: String = fractions
        .iter()
        .map(|f| format!(" test <= {f} |"))
        .collect();
    let rule: String = "---|".repeat(fractions.len());
    let mut md = format!(
        "# Strategy comparison\n\nProblem `{}`, cost model `{}`, a budget of {} judgements per run; strategies that use a seed run with seeds 1..={} and show the median (min-max) over them, deterministic ones run once.\n\n\
         - Hypervolume: the share of the box cost <= {} (the cost of `{}`), validation accuracy >= {:.2} % (`--min-accuracy`) that the front dominates (0 to 1; a schedule outside the box adds nothing). Validation: the strategy's validation front; test: the same schedules scored on test.\n\
         - test <= f: the test accuracy of the strategy's best schedule under the cost limit f x {}: the highest validation accuracy among its judged schedules of cost <= the limit (\"-\": none; \"[k of n runs]\": the median and range are over the k runs that had one).\n\n\
         | strategy | runs | judgements used | stopped early | seconds | hypervolume val | hypervolume test |{limit_heads}\n|---|---|---|---|---|---|---|{rule}\n",
        doc["problem"].as_str().unwrap_or(""),
        doc["cost_model"].as_str().unwrap_or(""),
        doc["budget"],
        doc["seeds"],
        report::fmt_cost(reference.cost),
        doc["reference"]["schedule"].as_str().unwrap_or(""),
        100.0 * reference.accuracy,
        report::fmt_cost(reference.cost),
    );
    for s in summaries {
        let early = match (s["stopped_early"].as_u64(), s["stop_reason"].as_str()) {
            (Some(k), Some(why)) if s["seeded"] == true => {
                format!("{k} of {}: {why}", s["runs"])
            }
            (_, Some(why)) => why.to_string(),
            _ => "no".to_string(),
        };
        let limits: String = (0..fractions.len())
            .map(|i| format!(" {} |", limit_cell(s, i, "test_accuracy", " %")))
            .collect();
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |{limits}\n",
            s["strategy"].as_str().unwrap_or(""),
            s["runs"],
            cell(&s["judgements"], 1.0, 0, ""),
            early,
            cell(&s["seconds"], 1.0, 1, ""),
            cell(&s["hypervolume"], 1.0, 4, ""),
            cell(&s["hypervolume_test"], 1.0, 4, ""),
        ));
    }
    md.push_str("\nHighest median (spread over seeds in parentheses):\n\n");
    md.push_str(&format!(
        "- test hypervolume: {}\n",
        winners(summaries, |s| &s["hypervolume_test"], 1.0, 4, "")
    ));
    for (i, f) in fractions.iter().enumerate() {
        md.push_str(&format!(
            "- test accuracy under {f} x the all-highest cost: {}\n",
            winners(
                summaries,
                |s| &s["under_limits"][i]["test_accuracy"],
                100.0,
                2,
                " %"
            )
        ));
    }
    if regret {
        let truth = &doc["true_front"];
        let gap_heads: String = fractions.iter().map(|f| format!(" gap <= {f} |")).collect();
        md.push_str(&format!(
            "\nRegret against the true front (`{}`: {} points, validation hypervolume {:.4}): the true front's hypervolume minus the strategy's, and per cost limit the true front's best validation accuracy under it minus the strategy's (points; 0 is optimal; \"-\": the strategy judged no schedule under the limit).\n\n| strategy | regret |{gap_heads}\n|---|---|{rule}\n",
            truth["source"].as_str().unwrap_or(""),
            truth["points"].as_array().map_or(0, Vec::len),
            truth["hypervolume"].as_f64().unwrap_or(f64::NAN),
        ));
        for s in summaries {
            let gaps: String = (0..fractions.len())
                .map(|i| format!(" {} |", limit_cell(s, i, "accuracy_gap", "")))
                .collect();
            md.push_str(&format!(
                "| {} | {} |{gaps}\n",
                s["strategy"].as_str().unwrap_or(""),
                cell(&s["regret"], 1.0, 4, ""),
            ));
        }
    }
    let regret_head = if regret { " regret |" } else { "" };
    let regret_rule = if regret { "---|" } else { "" };
    let val_test: String = fractions
        .iter()
        .map(|f| format!(" val / test <= {f} |"))
        .collect();
    md.push_str(&format!(
        "\nEvery run (the schedules are in `compare.json`):\n\n| strategy | seed | judgements | seconds | hypervolume val | hypervolume test |{regret_head}{val_test}\n|---|---|---|---|---|---|{regret_rule}{rule}\n",
    ));
    let pct = |v: &serde_json::Value| {
        v.as_f64()
            .map_or("-".to_string(), |x| format!("{:.2}", 100.0 * x))
    };
    for r in doc["runs"].as_array().into_iter().flatten() {
        let early = if r["stopped"].is_string() {
            " (stopped early)"
        } else {
            ""
        };
        let regret_cell = if regret {
            format!(
                " {:.4} |",
                r["regret"]["hypervolume"].as_f64().unwrap_or(f64::NAN)
            )
        } else {
            String::new()
        };
        let picks: String = r["under_limits"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                format!(
                    " {} / {} |",
                    pct(&p["val_accuracy"]),
                    pct(&p["test_accuracy"])
                )
            })
            .collect();
        md.push_str(&format!(
            "| {} | {} | {}{early} | {:.1} | {:.4} | {:.4} |{regret_cell}{picks}\n",
            r["strategy"].as_str().unwrap_or(""),
            r["seed"]
                .as_u64()
                .map_or("-".to_string(), |s| s.to_string()),
            r["judgements"],
            r["seconds"].as_f64().unwrap_or(0.0),
            r["hypervolume"].as_f64().unwrap_or(0.0),
            r["hypervolume_test"].as_f64().unwrap_or(0.0),
        ));
    }
    let per_seed: f64 = summaries
        .iter()
        .filter_map(|s| s["seconds"]["median"].as_f64())
        .sum();
    md.push_str(&format!(
        "\nWall time of all {} strategies, one run each (median over the seeds): {per_seed:.1} s; {} ({} threads), {}.\n",
        summaries.len(),
        doc["machine"]["cpu"].as_str().unwrap_or("unknown CPU"),
        doc["machine"]["threads"],
        doc["date"].as_str().unwrap_or(""),
    ));
    md.push_str(&format!(
        "\nCommand (at {}): `{}`\n",
        doc["git"].as_str().unwrap_or(""),
        doc["command"].as_str().unwrap_or("")
    ));
    md.push_str(
        "\nPlots: `pareto.svg` (validation fronts of seed 1, overlaid), `progress.svg` and `progress-seconds.svg` (validation hypervolume of the front found so far against judgements and against wall seconds: per strategy the median over its runs, shaded from the minimum to the maximum).\n",
    );
    md
}

/// `pareto.svg`, `progress.svg` (hypervolume against judgements) and
/// `progress-seconds.svg` (against wall seconds), per strategy the median over its runs and
/// the min-max band.
fn write_plots(
    args: &Args,
    cost_name: &str,
    reference: &Reference,
    fronts: &[svg::Series],
    traces: &[(String, Vec<Trace>)],
    truth: Option<f64>,
) -> anyhow::Result<()> {
    let level = truth.map(|hv| ("true front", hv));
    let y_label = report::hypervolume_label(reference);
    let counts: Vec<f64> = report::progress_counts(args.budget)
        .into_iter()
        .map(|k| k as f64)
        .collect();
    let by_count: Vec<svg::Band> = traces
        .iter()
        .map(|(name, t)| band(name, t, &counts, |t, k| t.at_count(k as usize)))
        .collect();
    let by_seconds: Vec<svg::Band> = traces
        .iter()
        .map(|(name, t)| {
            let end = t
                .iter()
                .filter_map(|t| t.elapsed.last().copied())
                .fold(0.0, f64::max);
            let xs: Vec<f64> = (0..=100).map(|i| end * i as f64 / 100.0).collect();
            band(name, t, &xs, Trace::at_seconds)
        })
        .collect();
    for (file, text) in [
        (
            "pareto.svg",
            svg::chart(
                "validation Pareto fronts (seed 1)",
                &format!("cost ({cost_name})"),
                "validation accuracy (%)",
                fronts,
                true,
            ),
        ),
        (
            "progress.svg",
            svg::band_chart(
                "validation hypervolume against judgements (median, min-max over seeds)",
                "judgements",
                &y_label,
                &by_count,
                level,
            ),
        ),
        (
            "progress-seconds.svg",
            svg::band_chart(
                "validation hypervolume against wall time (median, min-max over seeds)",
                "wall seconds",
                &y_label,
                &by_seconds,
                level,
            ),
        ),
    ] {
        cellwise::fsutil::write_atomic(&args.out.join(file), text.as_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traces_hold_their_last_value_and_start_at_zero() {
        let t = Trace {
            hv: vec![0.1, 0.2, 0.5],
            elapsed: vec![1.0, 2.0, 3.0],
        };
        assert_eq!(t.at_count(0), 0.0);
        assert_eq!(t.at_count(2), 0.2);
        assert_eq!(t.at_count(9), 0.5);
        assert_eq!(t.at_seconds(0.5), 0.0);
        assert_eq!(t.at_seconds(2.0), 0.2);
        assert_eq!(t.at_seconds(2.5), 0.2);
        assert_eq!(t.at_seconds(99.0), 0.5);
        let other = Trace {
            hv: vec![0.3],
            elapsed: vec![0.5],
        };
        let b = band("x", &[t, other], &[1.0, 3.0], Trace::at_seconds);
        assert_eq!(b.points, [(1.0, 0.2, 0.1, 0.3), (3.0, 0.4, 0.3, 0.5)]);
    }
}
