//! `cellwise search`: run one search strategy on the validation split.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use super::common::{set_threads, split_holdout, splits_for, weights_for};
use super::scaleout;
use anyhow::Context;
use cellwise::cost::{self, CostOptions};
use cellwise::data;
use cellwise::oracle::{Candidates, Oracle, OracleConfig};
use cellwise::problem::{DEFAULT_PROBLEM, Problem};
use cellwise::report::selection::{self, Selection};
use cellwise::report::{
    Finalist, Reference, RunLock, finalists, front_hypervolumes, write_plots, write_run,
};
use cellwise::schedule::Schedule;
use cellwise::search::{
    Checkpoint, Constraints, Record, SearchContext, StrategyConfig, verify_records,
};
use cellwise::store::StudySpec;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Arguments of `cellwise search`.
#[derive(clap::Args)]
pub struct Args {
    /// Strategy preset name (dfs, dfs-bfs, dfs-best, dfs-cap4, genetic, genetic-lhs, dp (the
    /// sensitivity knapsack baseline), dp-levels (level- and bootstrap-aware DP), greedy,
    /// anneal, random, exhaustive) or a path to a .toml preset.
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
    /// Cost model: depth, bootstraps or latency[:PROFILE]. Default: latency:cellwise-fgb-like-12
    /// (predicted seconds on the project's engine at fgb-like-12) where that profile prices
    /// the problem's circuit, else depth, with a note naming the operation the profile lacks
    /// (mnist-6x6's 8 units were not profiled). results/dfs-safe and other runs made before
    /// this default used --cost depth.
    #[arg(long)]
    cost: Option<String>,
    /// Minimum validation accuracy of an answer, in [0, 1]; also the accuracy of the
    /// hypervolume's reference point.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    min_accuracy: f64,
    /// Maximum cost of an answer: a positive number, or inf for no limit.
    #[arg(long, default_value_t = f64::INFINITY, allow_negative_numbers = true)]
    max_cost: f64,
    /// Accept only schedules that leave no validation image unsafe for batched CKKS (a
    /// pre-activation beyond 1.25 half-widths of the fit interval spoils its ciphertext).
    #[arg(long)]
    batch_safe: bool,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Keep the last N validation images out of the search; after it, score every finalist
    /// and the all-highest schedule on them and select the cheapest finalist that is
    /// non-inferior there (`selection.csv`, `selection` in run.json). 0: search on the whole
    /// validation split.
    #[arg(long, default_value_t = 0)]
    holdout: usize,
    /// Non-inferiority margin of the held-out selection, in accuracy (0.01: one point): a
    /// finalist passes when its paired accuracy difference to all-highest, minus 1.645
    /// standard errors, is at least -margin.
    #[arg(long, default_value_t = 0.01)]
    margin: f64,
    /// Run directory for run.json, schedules.csv and pareto.csv; locked while the run
    /// lasts (a second run on it is refused).
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
    /// Write `checkpoint.json` into the run directory after every N judgements (0: never),
    /// skipping one while the last write took over 50 ms and more than a tenth of the time since.
    #[arg(long, default_value_t = 500)]
    checkpoint_every: usize,
    /// Resume the interrupted run in this directory from its checkpoint (its settings are
    /// taken from the checkpoint; the final outputs equal those of an uninterrupted run).
    #[arg(long, conflicts_with_all = ["strategy", "problem", "weights", "budget", "cost", "min_accuracy", "max_cost", "batch_safe", "seed", "holdout", "margin", "out", "fixture"])]
    resume: Option<PathBuf>,
    /// Use the committed MNIST fixture (a few hundred images) instead of the data
    /// directory (tests).
    #[arg(long, hide = true)]
    fixture: bool,
    /// Judge in K local worker processes (`cellwise worker`) through the study store
    /// (default store: sqlite:RUN_DIR/study.sqlite); the outputs equal an in-process run's.
    #[arg(long)]
    workers: Option<usize>,
    /// Study store: sqlite:PATH or postgres://USER@HOST:PORT/DB. Without --workers the
    /// run only files batches, for workers started elsewhere (`cellwise worker`, Slurm,
    /// Kubernetes).
    #[arg(long)]
    store: Option<String>,
    /// The study's name in the store (default: the strategy and a digest of the settings
    /// and model, so the same run restarted finds its study again).
    #[arg(long)]
    study: Option<String>,
    /// Seconds of judging a filed batch should hold.
    #[arg(long, default_value_t = 0.1)]
    batch_seconds: f64,
    /// Seconds a local worker's claim on a batch lasts without renewal (a killed worker's
    /// batch goes to another worker after this).
    #[arg(long, default_value_t = 30.0)]
    lease_seconds: f64,
}

/// What defines a run's results (stored in checkpoints).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Settings {
    strategy: String,
    problem: String,
    weights: Option<PathBuf>,
    budget: usize,
    /// The cost model's spec; `None` until the default is resolved (a checkpoint always holds
    /// the resolved one).
    cost: Option<String>,
    min_accuracy: f64,
    /// `None` for no limit (JSON has no infinity).
    max_cost: Option<f64>,
    #[serde(default)]
    batch_safe: bool,
    seed: u64,
    /// Validation images kept out of the search for selection (0: none).
    #[serde(default, skip_serializing_if = "is_zero")]
    holdout: usize,
    /// Non-inferiority margin of the held-out selection.
    #[serde(default = "default_margin", skip_serializing_if = "is_default_margin")]
    margin: f64,
    /// The committed fixture instead of the data directory.
    #[serde(default)]
    fixture: bool,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn default_margin() -> f64 {
    0.01
}

fn is_default_margin(m: &f64) -> bool {
    *m == default_margin()
}

impl Settings {
    fn from_args(a: &Args) -> Self {
        Settings {
            strategy: a.strategy.clone(),
            problem: a.problem.clone(),
            weights: a.weights.clone(),
            budget: a.budget,
            cost: a.cost.clone(),
            min_accuracy: a.min_accuracy,
            max_cost: a.max_cost.is_finite().then_some(a.max_cost),
            batch_safe: a.batch_safe,
            seed: a.seed,
            holdout: a.holdout,
            margin: a.margin,
            fixture: a.fixture,
        }
    }

    /// Refuses limits that are not numbers in range (NaN would otherwise read as "no
    /// limit" and compare false everywhere). `what` says where they come from.
    fn check_limits(&self, what: &str) -> anyhow::Result<()> {
        anyhow::ensure!(
            (0.0..=1.0).contains(&self.min_accuracy),
            "{what}min-accuracy {} is not an accuracy: give a number in [0, 1]",
            self.min_accuracy
        );
        anyhow::ensure!(
            self.margin >= 0.0 && self.margin < 1.0,
            "{what}margin {} is not an accuracy margin: give a number in [0, 1)",
            self.margin
        );
        if let Some(c) = self.max_cost {
            anyhow::ensure!(
                c > 0.0 && c.is_finite(),
                "{what}max-cost {c} is not a cost limit: give a positive number, or inf for no limit"
            );
        }
        Ok(())
    }
}

/// The settings and recorded judgements of the checkpoint in `dir` (digest checked).
fn load_checkpoint(dir: &Path) -> anyhow::Result<(Settings, Vec<Record>)> {
    let path = dir.join(CHECKPOINT_FILE);
    let cp = Checkpoint::read(&path)?;
    let settings: Settings = serde_json::from_value(cp.header)
        .with_context(|| format!("checkpoint {} has no usable settings", path.display()))?;
    settings.check_limits(&format!("checkpoint {}: ", path.display()))?;
    Ok((settings, cp.records))
}

const CHECKPOINT_FILE: &str = "checkpoint.json";

/// The default study store of a run with local workers, in its run directory.
const STORE_FILE: &str = "study.sqlite";

/// Runs `cellwise search`.
pub fn run(args: Args) -> anyhow::Result<()> {
    set_threads(args.threads)?;
    // Checked here because `Settings` keeps an infinite limit as "none" (JSON has no
    // infinity), which NaN and -inf must not become.
    anyhow::ensure!(
        args.max_cost > 0.0,
        "--max-cost {} is not a cost limit: give a positive number, or inf for no limit",
        args.max_cost
    );
    let (mut settings, out, replay) = match &args.resume {
        Some(dir) => {
            let (settings, records) = load_checkpoint(dir)?;
            (settings, dir.clone(), records)
        }
        None => {
            let settings = Settings::from_args(&args);
            settings.check_limits("--")?;
            (settings, args.out.clone(), Vec::new())
        }
    };
    // The presets first (bad ones are refused without touching the directory), then the
    // lock, before any real work: a second run on the same directory is refused at once.
    let problem = Problem::load(&settings.problem)?;
    let config = StrategyConfig::load(&settings.strategy)?;
    let cost_spec = settings
        .cost
        .as_deref()
        .map(|spec| cost::Spec::parse(spec, &problem, &CostOptions::default()))
        .transpose()?;
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let lock = RunLock::acquire(&out)?;
    if let Some(pid) = lock.stale_owner() {
        super::note(&format!(
            "run directory {} was locked by pid {pid}, which ended without releasing it; taking the lock over",
            out.display()
        ));
    }
    let weights = weights_for(&problem, settings.weights.as_deref())?;
    let constraints = Constraints {
        min_accuracy: settings.min_accuracy,
        max_cost: settings.max_cost.unwrap_or(f64::INFINITY),
        batch_safe: settings.batch_safe,
    };
    let splits = if settings.fixture {
        data::load_fixture_splits(&problem)?
    } else {
        splits_for(&problem, args.data_dir.clone())?
    };
    let candidates = Candidates::for_model(&problem, &weights, &splits.train)?;
    let (searched, held_out) = split_holdout(splits.val, settings.holdout)?;
    let cost_model = match cost_spec {
        Some(spec) => spec.build(&problem, Some(&candidates))?,
        None => {
            let (model, fallback) = cost::default_for_search(&problem, Some(&candidates))?;
            if let Some(why) = fallback {
                super::note(&format!(
                    "cost model depth (the default {} cannot price problem {}: {why}; choose one with --cost)",
                    cost::default_search_cost(&problem),
                    problem.name
                ));
            }
            settings.cost = Some(model.name().to_string());
            model
        }
    };
    let val = Oracle::new(&weights, &searched, &candidates, &config.oracle_config())?;
    let top = val.space().top();
    let reference = Reference::new(settings.min_accuracy, cost_model.cost(&top)?)
        .map_err(anyhow::Error::msg)?;
    let mut ctx = SearchContext::new(
        &problem,
        &val,
        cost_model.as_ref(),
        constraints.clone(),
        settings.budget,
        settings.seed,
    )?;
    verify_records(&replay, &val, cost_model.as_ref())
        .with_context(|| format!("resuming {}", out.display()))?;
    ctx.checkpoint_every(
        out.join(CHECKPOINT_FILE),
        args.checkpoint_every,
        serde_json::to_value(&settings)?,
    );
    ctx.resume_from(replay)?;
    ctx.show_progress(&settings.strategy);
    let distributed = match (&args.store, args.workers) {
        (None, None) => None,
        (url, workers) => {
            let url = url
                .clone()
                .unwrap_or_else(|| format!("sqlite:{}", out.join(STORE_FILE).display()));
            let spec = StudySpec {
                name: String::new(),
                problem: settings.problem.clone(),
                problem_name: problem.name.clone(),
                weights: settings.weights.as_ref().map(|p| p.display().to_string()),
                fingerprint: weights.fingerprint(),
                fixture: settings.fixture,
                split: scaleout::split_key(&val, settings.fixture),
                cache_stride: config.oracle_config().cache_stride,
                memoise: config.oracle_config().memoise,
                slots: val.space().slots(),
                settings: serde_json::to_value(&settings)?,
            };
            let driver = scaleout::Driver::start(
                &url,
                spec,
                args.study.clone(),
                workers,
                &scaleout::LocalWorkers {
                    threads: args.threads,
                    lease_seconds: args.lease_seconds,
                    data_dir: args.data_dir.clone(),
                },
            )?;
            ctx.answer_with(driver.executor(args.batch_seconds)?);
            Some(driver)
        }
    };
    let mut strategy = config.build();
    let outcome = match ctx.run(strategy.as_mut()) {
        Ok(outcome) => outcome,
        Err(e) => {
            if let Some(driver) = distributed {
                driver.abandon();
            }
            return Err(e.into());
        }
    };
    let no_cache = OracleConfig {
        cache_mb: 0,
        ..OracleConfig::default()
    };
    let test = Oracle::new(&weights, &splits.test, &candidates, &no_cache)?;
    let finals = finalists(&outcome, &test)?;
    let (hv_val, hv_test) = front_hypervolumes(&finals, &reference);
    let selection = match &held_out {
        Some(split) => {
            let rule = selection::Rule {
                margin: settings.margin,
                z: selection::Z95,
            };
            let front: Vec<_> = outcome
                .pareto
                .iter()
                .map(|&i| (&outcome.records[i].schedule, outcome.records[i].cost))
                .collect();
            let held = Oracle::new(&weights, split, &candidates, &no_cache)?;
            Some(select_on(&held, &split.labels, rule, &top, &front)?)
        }
        None => None,
    };
    let mut meta = json!({
        "version": env!("CARGO_PKG_VERSION"),
        "git": env!("CELLWISE_GIT_HASH"),
        "problem": problem.name,
        "weights": weights.fingerprint(),
        "config": config,
        "cost_model": settings.cost,
        "budget": settings.budget,
        "seed": settings.seed,
        "min_accuracy": settings.min_accuracy,
        "max_cost": settings.max_cost,
        "batch_safe": settings.batch_safe,
        "metrics": {
            "reference": { "schedule": top.to_string(), "accuracy": reference.accuracy, "cost": reference.cost },
            "hypervolume": { "validation": hv_val, "test": hv_test },
        },
    });
    if let Some(s) = &selection {
        meta["holdout"] = settings.holdout.into();
        meta["selection"] = serde_json::to_value(s)?;
    }
    let mut timing = json!({ "oracle": val.stats(), "resumed": args.resume.is_some() });
    if let Some(driver) = &distributed {
        timing["store"] = driver.timing();
    }
    write_run(&out, meta.clone(), timing, &outcome, &finals)
        .with_context(|| format!("writing {}", out.display()))?;
    if let Some(s) = &selection {
        write_selection(&out, s, &finals)?;
    }
    if let Some(driver) = distributed {
        driver.finish(&out)?;
    }
    write_plots(
        &out,
        &outcome,
        constraints.batch_safe,
        &reference,
        val.space(),
    )
    .with_context(|| format!("writing plots to {}", out.display()))?;
    // The run is complete: its outputs supersede the checkpoint.
    let cp = out.join(CHECKPOINT_FILE);
    if cp.exists() {
        std::fs::remove_file(&cp).with_context(|| format!("removing {}", cp.display()))?;
    }
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
        return super::print(&format!("{}\n", serde_json::to_string_pretty(&summary)?));
    }
    let mut text = String::new();
    writeln!(
        text,
        "{}: {} judgements ({decisions} threshold decisions) in {:.1} s{}; run directory {}",
        outcome.strategy,
        outcome.judgements,
        outcome.seconds,
        match &outcome.stopped {
            None => " (budget spent)".to_string(),
            Some(why) => format!(" (stopped early: {why})"),
        },
        out.display()
    )?;
    writeln!(
        text,
        "cost model {}; hypervolume of the front: validation {hv_val:.4}, test {hv_test:.4} (share of the box cost <= {} (`{top}`), accuracy >= {:.2} %)",
        cost_model.name(),
        cellwise::report::fmt_cost(reference.cost),
        100.0 * reference.accuracy
    )?;
    writeln!(
        text,
        "{:<40} {:>10} {:>9} {:>9}",
        "Pareto schedule", "cost", "val", "test"
    )?;
    for f in &finals {
        writeln!(
            text,
            "{:<40} {:>10.3} {:>8.2}% {:>8.2}%",
            f.schedule,
            f.cost,
            100.0 * f.val_accuracy,
            100.0 * f.test_accuracy
        )?;
    }
    if let Some(s) = &selection {
        writeln!(
            text,
            "held out: {} validation images; all-highest {:.2} % there; {}",
            s.images,
            100.0 * s.reference_accuracy,
            match &s.selected {
                Some(pick) => format!(
                    "selected (cheapest non-inferior at {:.2} points): {pick}",
                    100.0 * s.rule.margin
                ),
                None => format!(
                    "no finalist is non-inferior at {:.2} points",
                    100.0 * s.rule.margin
                ),
            }
        )?;
    }
    super::print(&text)
}

/// Scores the finalists and `reference` with the held-out images' oracle (`labels`: their
/// classes) and selects by `rule`.
fn select_on(
    oracle: &Oracle,
    labels: &[u8],
    rule: selection::Rule,
    reference: &Schedule,
    front: &[(&Schedule, f64)],
) -> anyhow::Result<Selection> {
    let right = |schedule: &Schedule| -> anyhow::Result<Vec<bool>> {
        let e = oracle.evaluate(schedule)?;
        Ok(e.predictions
            .iter()
            .zip(labels)
            .map(|(p, y)| p == y)
            .collect())
    };
    let reference_right = right(reference)?;
    let scored = front
        .iter()
        .map(|&(schedule, cost)| Ok((schedule.to_string(), cost, right(schedule)?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(selection::select(
        rule,
        (&reference.to_string(), &reference_right),
        &scored,
    ))
}

/// Writes `selection.csv`: every finalist's held-out scores, its test accuracy, and which
/// one the rule selected.
fn write_selection(dir: &Path, s: &Selection, finals: &[Finalist]) -> anyhow::Result<()> {
    let mut csv = csv::Writer::from_writer(Vec::new());
    csv.write_record([
        "schedule",
        "cost",
        "holdout_accuracy",
        "difference",
        "standard_error",
        "lower_bound",
        "passes",
        "selected",
        "test_accuracy",
    ])?;
    for h in &s.finalists {
        let test = finals
            .iter()
            .find(|f| f.schedule == h.schedule)
            .map_or(f64::NAN, |f| f.test_accuracy);
        csv.write_record([
            h.schedule.clone(),
            format!("{}", h.cost),
            format!("{:.6}", h.accuracy),
            format!("{:.6}", h.difference),
            format!("{:.6}", h.standard_error),
            format!("{:.6}", h.lower_bound),
            h.passes.to_string(),
            (s.selected.as_deref() == Some(h.schedule.as_str())).to_string(),
            format!("{test:.6}"),
        ])?;
    }
    let path = dir.join("selection.csv");
    cellwise::fsutil::write_atomic(&path, &csv.into_inner()?)
        .with_context(|| format!("writing {}", path.display()))
}
