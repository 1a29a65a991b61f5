//! `cellwise bench`: built-in benchmarks that report medians and same-run ratios.
//!
//! `bench oracle` times the accuracy oracle on each problem given (one per cell kind by
//! default) with the problem's embedded model and its own candidates: full evaluations of
//! the top schedule, DFS child decisions, the paper's DFS itself, and the numpy f64 forward
//! pass of the same cell. Ratios are taken against `mnist-rnn32` timed in the same run; the
//! full evaluations of all problems are interleaved round by round, so a drift of the
//! machine's speed touches every problem alike.

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use cellwise::cost::{self, CostOptions};
use cellwise::data::{self, Splits};
use cellwise::model::Weights;
use cellwise::oracle::{Candidates, Oracle, OracleConfig, matmul};
use cellwise::problem::{DEFAULT_PROBLEM, DataSpec, Problem};
use cellwise::recurrence::CellKind;
use cellwise::schedule::{Approx, Schedule};
use cellwise::search::{Constraints, SearchContext, StrategyConfig};
use cellwise::sysinfo;
use rayon::prelude::*;
use serde::Serialize;

/// Arguments of `cellwise bench`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(clap::Subcommand)]
enum What {
    /// The accuracy oracle per problem: full evaluations, DFS child decisions (first-level
    /// children and the paper's DFS itself), GEMM peak, numpy; ratios against mnist-rnn32
    /// in the same run.
    Oracle(OracleArgs),
}

#[derive(clap::Args)]
struct OracleArgs {
    /// A problem to benchmark with its embedded model (repeatable; default: mnist-rnn32,
    /// mnist-gru32, mnist-lstm32). mnist-rnn32, the baseline of the ratios, is always timed.
    #[arg(long = "problem", value_name = "P")]
    problems: Vec<String>,
    /// Timed repetitions (the median is reported), 1 to 1,000.
    #[arg(long, default_value_t = 15)]
    repeats: usize,
    /// Judgements of the paper's DFS run (validation split), 1 to 1,000,000.
    #[arg(long, default_value_t = 10_000)]
    dfs_judgements: usize,
    /// Skip the numpy baseline.
    #[arg(long)]
    no_numpy: bool,
    /// Python interpreter with numpy for the baseline (default: $CELLWISE_PYTHON, else
    /// python3).
    #[arg(long, value_name = "PATH")]
    python: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Data directory (default: $CELLWISE_DATA_DIR, else ./data); fetched if missing.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

/// Runs `cellwise bench`.
pub fn run(args: Args) -> anyhow::Result<()> {
    match args.what {
        What::Oracle(a) => bench_oracle(a),
    }
}

/// The most timed repetitions: a full evaluation of the test split takes tens of
/// milliseconds and the DFS run seconds, so 1,000 repetitions are already hours of
/// benchmarking; a median needs no more.
const MAX_REPEATS: usize = 1_000;

/// The most judgements of the benchmark's DFS run: the paper's run has 10,000, and its record
/// of judgements grows with the count.
const MAX_DFS_JUDGEMENTS: usize = 1_000_000;

/// The problem every ratio is taken against; always timed, in the same run.
const BASELINE: &str = DEFAULT_PROBLEM;

/// The problems of `bench oracle` without `--problem`: one per cell kind.
const DEFAULT_PROBLEMS: [&str; 3] = ["mnist-rnn32", "mnist-gru32", "mnist-lstm32"];

/// The speedup over the numpy f64 forward pass the oracle is meant to reach.
const NUMPY_SPEEDUP_TARGET: f64 = 100.0;

/// The environment variable naming the Python of the numpy baseline.
const PYTHON_ENV: &str = "CELLWISE_PYTHON";

/// The median (NaN for no values; the flags' checks make sure there is one).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// `f` once as a warm-up, then the median of `repeats` timed calls, in seconds.
fn time<R>(repeats: usize, mut f: impl FnMut() -> R) -> f64 {
    f();
    median(
        (0..repeats.max(1))
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(f());
                t.elapsed().as_secs_f64()
            })
            .collect(),
    )
}

/// `a / b`, or `None` when it is not a finite number (no decisions, nothing timed).
fn rate(a: f64, b: f64) -> Option<f64> {
    Some(a / b).filter(|r| r.is_finite())
}

/// One problem under test: its preset, embedded model, splits and candidates.
struct Subject {
    problem: Problem,
    weights: Weights,
    splits: Arc<Splits>,
    candidates: Candidates,
}

impl Subject {
    /// Gate blocks of the cell (1, 3 or 4).
    fn gates(&self) -> usize {
        self.problem.cell().cell().gates.len()
    }

    /// FLOPs of one image's input and recurrent projections over all steps,
    /// 2 (W + H) G H per step: the theoretical work of the cell, whose ratio between cells
    /// of 32 units is the gate count (GRU 3x, LSTM 4x a SimpleRNN).
    fn projection_flops(&self) -> f64 {
        let h = self.problem.model.hidden;
        let per_step = 2 * (self.problem.input_width() + h) * self.gates() * h;
        (self.problem.steps() * per_step) as f64
    }

    /// FLOPs of one image's recurrent products over all steps, 2 H G H per step: what a full
    /// evaluation multiplies (the input projections are computed when the oracle is built).
    fn recurrent_flops(&self) -> f64 {
        let h = self.problem.model.hidden;
        (self.problem.steps() * 2 * h * self.gates() * h) as f64
    }
}

/// The problems named (in order, each once), with the baseline first if it was not named.
fn problems(names: &[String]) -> anyhow::Result<Vec<Problem>> {
    let mut problems: Vec<Problem> = Vec::new();
    for name in names {
        let p = Problem::load(name)?;
        if !problems.iter().any(|q| q.name == p.name) {
            problems.push(p);
        }
    }
    if !problems.iter().any(|p| p.name == BASELINE) {
        problems.insert(0, Problem::load(BASELINE)?);
    }
    Ok(problems)
}

/// Each problem with its embedded model, splits (loaded once per data setting) and
/// candidates.
fn subjects(problems: Vec<Problem>, dir: &Path) -> anyhow::Result<Vec<Subject>> {
    let mut loaded: Vec<(DataSpec, Arc<Splits>)> = Vec::new();
    let mut out = Vec::with_capacity(problems.len());
    for problem in problems {
        let weights = Weights::embedded_for(&problem).with_context(|| {
            format!(
                "problem {} has no embedded model to benchmark (bench uses the embedded models only)",
                problem.name
            )
        })?;
        weights
            .check_against(&problem)
            .with_context(|| format!("the embedded model of problem {}", problem.name))?;
        let splits = match loaded.iter().find(|(d, _)| *d == problem.data) {
            Some((_, s)) => Arc::clone(s),
            None => {
                let s = Arc::new(data::load_splits(&problem, dir)?);
                loaded.push((problem.data.clone(), Arc::clone(&s)));
                s
            }
        };
        let candidates = Candidates::for_model(&problem, &weights, &splits.train)
            .with_context(|| format!("the candidates of problem {}", problem.name))?;
        out.push(Subject {
            problem,
            weights,
            splits,
            candidates,
        });
    }
    Ok(out)
}

/// Each problem's median full evaluation of its top schedule on the test split, cold (no
/// prefix cache, memo cleared), in seconds, with the images it classified right. One warm-up
/// round, then `repeats` rounds that time every problem once each, in turn.
fn full_evaluations(subjects: &[Subject], repeats: usize) -> anyhow::Result<Vec<(f64, usize)>> {
    let cold = OracleConfig {
        cache_mb: 0,
        ..OracleConfig::default()
    };
    let tests = subjects
        .iter()
        .map(|s| {
            let o = Oracle::new(&s.weights, &s.splits.test, &s.candidates, &cold)?;
            let top = o.space().top();
            Ok((o, top))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut correct = Vec::with_capacity(tests.len());
    for (o, top) in &tests {
        o.clear_caches();
        correct.push(o.evaluate(top)?.correct);
    }
    let mut samples = vec![Vec::with_capacity(repeats); tests.len()];
    for _ in 0..repeats {
        for ((o, top), s) in tests.iter().zip(&mut samples) {
            o.clear_caches();
            let t = Instant::now();
            std::hint::black_box(o.evaluate(top)?);
            s.push(t.elapsed().as_secs_f64());
        }
    }
    Ok(samples.into_iter().map(median).zip(correct).collect())
}

/// What `bench oracle` measured on one problem (the JSON record; the text report prints the
/// same values).
#[derive(Serialize)]
struct ProblemReport {
    problem: String,
    cell: CellKind,
    hidden: usize,
    steps: usize,
    slots: usize,
    /// The schedule of the full evaluations and the DFS's root: every slot at its highest
    /// candidate degree.
    top_schedule: String,
    test_images: usize,
    top_test_accuracy: f64,
    full_eval_test_ms: f64,
    /// Against the baseline's full evaluation in this run.
    full_eval_ratio_to_baseline: f64,
    /// Projection FLOPs (input and recurrent) per image against the baseline's.
    flop_ratio_to_baseline: f64,
    /// The target: a full evaluation costs at most the FLOP ratio (none for the baseline).
    full_eval_ratio_target_max: Option<f64>,
    meets_full_eval_ratio_target: Option<bool>,
    /// The recurrent product of a full evaluation, [test images x H] x [H x G H].
    gemm_shape: String,
    /// f32 GEMM of that shape split over the threads as the oracle splits its work.
    gemm_gflops: f64,
    /// Recurrent-product FLOPs of a full evaluation per second.
    full_eval_gflops: f64,
    full_eval_fraction_of_gemm_peak: f64,
    full_eval_storing_prefixes_test_ms: f64,
    dfs_children: usize,
    dfs_children_accepted: usize,
    dfs_parent_plus_children_ms: f64,
    /// Decisions on the top schedule's children per second (none without children).
    dfs_decisions_per_s: Option<f64>,
    dfs_run_judgements: usize,
    dfs_run_decisions: usize,
    dfs_run_s: f64,
    dfs_run_decisions_per_s: Option<f64>,
    dfs_run_judgements_per_s: f64,
    /// The paper's DFS to depth 2 on the test split, run to completion: judgements, early
    /// exits (of the first run) and median seconds (SimpleRNN problems only).
    dfs_depth2_test_judgements: Option<usize>,
    dfs_depth2_test_early_exits: Option<u64>,
    dfs_depth2_test_s: Option<f64>,
    /// Full evaluations per second (1 / `full_eval_test_ms`).
    schedules_per_s: f64,
    numpy_f64_schedules_per_s: Option<f64>,
    speedup_vs_numpy: Option<f64>,
    meets_numpy_target: Option<bool>,
}

/// The measurements of one problem after its full evaluations: prefix storing, GEMM peak,
/// DFS children and the paper's DFS.
fn measure(
    s: &Subject,
    (full_s, correct): (f64, usize),
    args: &OracleArgs,
) -> anyhow::Result<ProblemReport> {
    let problem = &s.problem;
    let test_images = s.splits.test.len();
    let storing = Oracle::new(
        &s.weights,
        &s.splits.test,
        &s.candidates,
        &OracleConfig::default(),
    )?;
    let top = storing.space().top();
    let store_s = time(args.repeats, || {
        storing.clear_caches();
        storing.evaluate(&top).map(|e| e.correct)
    });
    drop(storing);

    // GEMM peak of the evaluation's recurrent product, f32, split over the threads as the
    // oracle does (one single-threaded product per chunk).
    let threads = rayon::current_num_threads();
    let (m, k, n) = (
        test_images,
        problem.model.hidden,
        s.gates() * problem.model.hidden,
    );
    let lhs: Vec<f32> = (0..m * k).map(|i| (i % 97) as f32 * 0.01).collect();
    let rhs: Vec<f32> = (0..k * n).map(|i| (i % 31) as f32 * 0.03).collect();
    let mut dst = vec![0f32; m * n];
    let rows = m.div_ceil(threads);
    let gemm_s = time(args.repeats * 4, || {
        dst.par_chunks_mut(rows * n)
            .zip(lhs.par_chunks(rows * k))
            .for_each(|(d, l)| matmul(d, l, &rhs, (l.len() / k, k, n), false));
    });
    let gemm_gflops = 2.0 * (m * k * n) as f64 / gemm_s / 1e9;
    let full_gflops = s.recurrent_flops() * test_images as f64 / full_s / 1e9;

    // DFS-like workload on the validation split: all children of a freshly evaluated top
    // parent (one position lowered to each smaller degree), judged against "within 2
    // points". One warm-up round, then parent and children timed apart in each round.
    let val = Oracle::new(
        &s.weights,
        &s.splits.val,
        &s.candidates,
        &OracleConfig::default(),
    )?;
    let space = val.space().clone();
    let children: Vec<Schedule> = (0..space.positions())
        .flat_map(|i| space.degrees_at(i)[1..].iter().map(move |&d| (i, d)))
        .map(|(i, d)| top.with_entry(i, Approx::Degree(d)))
        .collect();
    let mut accepted = 0;
    let mut rounds = Vec::new();
    for round in 0..=args.repeats.div_ceil(3) {
        val.clear_caches();
        let t = Instant::now();
        let parent = val.evaluate(&top)?.correct;
        let parent_s = t.elapsed().as_secs_f64();
        let threshold = parent.saturating_sub(s.splits.val.len() / 50);
        let t = Instant::now();
        accepted = 0;
        for c in &children {
            accepted += usize::from(val.accepts(c, threshold, false)?);
        }
        let children_s = t.elapsed().as_secs_f64();
        if round > 0 {
            rounds.push((parent_s + children_s, children_s));
        }
    }
    drop(val);
    let family_s = median(rounds.iter().map(|r| r.0).collect());
    let children_s = median(rounds.iter().map(|r| r.1).collect());

    // The paper's DFS itself (strategies/dfs.toml, depth cost model) for a fixed number of
    // judgements on a fresh oracle: what `cellwise search --strategy dfs` does, prefix reuse
    // across the tree included.
    let dfs = StrategyConfig::load("dfs")?;
    let runs = args.repeats.div_ceil(5);
    let paper = time_dfs(s, &s.splits.val, &dfs, args.dfs_judgements, runs)?;
    // The reference workload of the paper's problem: its DFS to depth 2 (at most two
    // replacements) on the test split, run to completion. SimpleRNN only: with one slot per
    // step its tree has about 2,000 nodes, a gated cell's (3 or 5 slots per step) tens of
    // thousands.
    let depth2 = if s.gates() == 1 {
        let mut depth2 = dfs;
        if let StrategyConfig::Dfs(c) = &mut depth2 {
            c.max_replacements = Some(2);
        }
        Some(time_dfs(s, &s.splits.test, &depth2, usize::MAX, runs)?)
    } else {
        None
    };

    Ok(ProblemReport {
        problem: problem.name.clone(),
        cell: problem.cell(),
        hidden: problem.model.hidden,
        steps: problem.steps(),
        slots: space.slots(),
        top_schedule: top.to_string(),
        test_images,
        top_test_accuracy: correct as f64 / test_images as f64,
        full_eval_test_ms: full_s * 1e3,
        // Filled in against the baseline by the caller.
        full_eval_ratio_to_baseline: f64::NAN,
        flop_ratio_to_baseline: f64::NAN,
        full_eval_ratio_target_max: None,
        meets_full_eval_ratio_target: None,
        gemm_shape: format!("{m}x{k}x{n}"),
        gemm_gflops,
        full_eval_gflops: full_gflops,
        full_eval_fraction_of_gemm_peak: full_gflops / gemm_gflops,
        full_eval_storing_prefixes_test_ms: store_s * 1e3,
        dfs_children: children.len(),
        dfs_children_accepted: accepted,
        dfs_parent_plus_children_ms: family_s * 1e3,
        dfs_decisions_per_s: rate(children.len() as f64, children_s).filter(|r| *r > 0.0),
        dfs_run_judgements: paper.judgements,
        dfs_run_decisions: paper.decisions,
        dfs_run_s: paper.seconds,
        dfs_run_decisions_per_s: rate(paper.decisions as f64, paper.seconds).filter(|r| *r > 0.0),
        dfs_run_judgements_per_s: paper.judgements as f64 / paper.seconds,
        dfs_depth2_test_judgements: depth2.as_ref().map(|d| d.judgements),
        dfs_depth2_test_early_exits: depth2.as_ref().map(|d| d.early_exits),
        dfs_depth2_test_s: depth2.map(|d| d.seconds),
        schedules_per_s: 1.0 / full_s,
        numpy_f64_schedules_per_s: None,
        speedup_vs_numpy: None,
        meets_numpy_target: None,
    })
}

/// One timed DFS workload: the median of its runs' seconds and the first run's counts.
struct DfsTiming {
    seconds: f64,
    judgements: usize,
    decisions: usize,
    early_exits: u64,
}

/// Runs `config` (depth cost model, no constraints) `runs` times with at most `budget`
/// judgements, each on a fresh oracle of `split`.
fn time_dfs(
    s: &Subject,
    split: &cellwise::data::Split,
    config: &StrategyConfig,
    budget: usize,
    runs: usize,
) -> anyhow::Result<DfsTiming> {
    let problem = &s.problem;
    let depth = cost::for_candidates("depth", problem, &s.candidates, &CostOptions::default())?;
    let mut seconds = Vec::with_capacity(runs);
    let mut first = None;
    for _ in 0..runs {
        let oracle = Oracle::new(&s.weights, split, &s.candidates, &OracleConfig::default())?;
        let ctx = SearchContext::new(
            problem,
            &oracle,
            depth.as_ref(),
            Constraints {
                min_accuracy: 0.0,
                max_cost: f64::INFINITY,
                batch_safe: false,
            },
            budget,
            1,
        )?;
        let mut strategy = config.build();
        let t = Instant::now();
        let outcome = ctx.run(strategy.as_mut())?;
        seconds.push(t.elapsed().as_secs_f64());
        let decisions = outcome
            .records
            .iter()
            .filter(|r| r.accepted.is_some())
            .count();
        first.get_or_insert(DfsTiming {
            seconds: 0.0,
            judgements: outcome.judgements,
            decisions,
            early_exits: oracle.stats().early_exits,
        });
    }
    let mut timing = first.context("no DFS run was timed")?;
    timing.seconds = median(seconds);
    Ok(timing)
}

/// The numpy baseline's interpreter, script and the numpy version it has.
struct Numpy {
    python: PathBuf,
    script: PathBuf,
    version: String,
}

/// The numpy baseline if `python` runs and has numpy; otherwise one line on stderr saying
/// why not, and `None`.
fn numpy_setup(python: PathBuf) -> Option<Numpy> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/numpy-oracle-baseline.py");
    if !script.is_file() {
        super::note(&format!(
            "numpy baseline skipped: {} is missing (the baseline runs from the source tree)",
            script.display()
        ));
        return None;
    }
    let probe = Command::new(&python)
        .args(["-c", "import numpy; print(numpy.__version__)"])
        .output();
    match probe {
        Err(e) => {
            super::note(&format!(
                "numpy baseline skipped: cannot run {}: {e} (pass --python PATH or set {PYTHON_ENV})",
                python.display()
            ));
            None
        }
        Ok(out) if !out.status.success() => {
            super::note(&format!(
                "numpy baseline skipped: {} has no numpy (pass --python PATH or set {PYTHON_ENV})",
                python.display()
            ));
            None
        }
        Ok(out) => Some(Numpy {
            python,
            script,
            version: String::from_utf8_lossy(&out.stdout).trim().to_string(),
        }),
    }
}

/// The script's `--cell` value for a cell kind.
fn numpy_cell(kind: CellKind) -> &'static str {
    match kind {
        CellKind::SimpleRnn => "rnn",
        CellKind::Gru => "gru",
        CellKind::Lstm => "lstm",
    }
}

impl Numpy {
    /// Schedules per second of scripts/numpy-oracle-baseline.py for the problem's cell and
    /// hidden size, `degree` in every slot, on the 10k test split; a one-line reason
    /// otherwise.
    fn run(&self, problem: &Problem, degree: usize, dir: &Path) -> Result<f64, String> {
        if problem.data.dataset != "mnist" || problem.steps() != 28 || problem.input_width() != 28 {
            return Err(format!(
                "the script reads 28 x 28 MNIST rows, problem {} has {} steps of {}",
                problem.name,
                problem.steps(),
                problem.input_width()
            ));
        }
        let out = Command::new(&self.python)
            .arg(&self.script)
            .arg(dir)
            .args(["--cell", numpy_cell(problem.cell())])
            .args(["--hidden", &problem.model.hidden.to_string()])
            .args(["--degree", &degree.to_string()])
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.python.display()))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
            return Err(format!(
                "the script failed ({}): {}",
                out.status,
                last.unwrap_or("no message").trim()
            ));
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        stdout
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|r| r.is_finite() && *r > 0.0)
            .ok_or_else(|| format!("the script printed '{}', not a rate", stdout.trim()))
    }
}

fn bench_oracle(args: OracleArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=MAX_REPEATS).contains(&args.repeats),
        "--repeats {} is out of range: give 1 to {MAX_REPEATS} timed repetitions",
        args.repeats
    );
    anyhow::ensure!(
        (1..=MAX_DFS_JUDGEMENTS).contains(&args.dfs_judgements),
        "--dfs-judgements {} is out of range: give 1 to {MAX_DFS_JUDGEMENTS}",
        args.dfs_judgements
    );
    let names: Vec<String> = if args.problems.is_empty() {
        DEFAULT_PROBLEMS.iter().map(|s| s.to_string()).collect()
    } else {
        args.problems.clone()
    };
    let problems = problems(&names)?;
    let dir = args.data_dir.clone().unwrap_or_else(data::default_data_dir);
    for problem in &problems {
        super::common::ensure_data(problem, &dir)?;
    }
    let subjects = subjects(problems, &dir)?;
    // Whether the numpy baseline can run: said before minutes of timing, after any error of
    // the problems or the data (which is one line on its own).
    let numpy = if args.no_numpy {
        None
    } else {
        let python = args
            .python
            .clone()
            .or_else(|| {
                std::env::var_os(PYTHON_ENV)
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
            })
            .unwrap_or_else(|| PathBuf::from("python3"));
        numpy_setup(python)
    };
    let threads = rayon::current_num_threads();

    let full = full_evaluations(&subjects, args.repeats)?;
    let mut reports = subjects
        .iter()
        .zip(&full)
        .map(|(s, &f)| measure(s, f, &args))
        .collect::<anyhow::Result<Vec<_>>>()?;

    // Ratios against the baseline of this run.
    let base = subjects
        .iter()
        .position(|s| s.problem.name == BASELINE)
        .context("the baseline problem was not timed")?;
    let (base_s, base_flops) = (full[base].0, subjects[base].projection_flops());
    for ((r, s), &(full_s, _)) in reports.iter_mut().zip(&subjects).zip(&full) {
        r.full_eval_ratio_to_baseline = full_s / base_s;
        r.flop_ratio_to_baseline = s.projection_flops() / base_flops;
        if s.problem.name != BASELINE {
            r.full_eval_ratio_target_max = Some(r.flop_ratio_to_baseline);
            r.meets_full_eval_ratio_target =
                Some(r.full_eval_ratio_to_baseline <= r.flop_ratio_to_baseline);
        }
    }

    // numpy last, so that Python's work and memory do not touch the oracle's timings; once
    // per distinct (cell, hidden size, degree): the top schedule's highest degree in every
    // slot (the fit intervals do not change the work).
    if let Some(numpy) = &numpy {
        let mut done: Vec<((CellKind, usize, usize), Option<f64>)> = Vec::new();
        for (r, s) in reports.iter_mut().zip(&subjects) {
            let degree = s
                .candidates
                .space(s.problem.steps())
                .all_degrees()
                .first()
                .copied()
                .unwrap_or(17);
            let key = (s.problem.cell(), s.problem.model.hidden, degree);
            let rate = match done.iter().find(|(k, _)| *k == key) {
                Some((_, rate)) => *rate,
                None => {
                    let rate = numpy.run(&s.problem, degree, &dir).map_or_else(
                        |why| {
                            super::note(&format!(
                                "numpy baseline for {} skipped: {why}",
                                s.problem.name
                            ));
                            None
                        },
                        Some,
                    );
                    done.push((key, rate));
                    rate
                }
            };
            r.numpy_f64_schedules_per_s = rate;
            r.speedup_vs_numpy = rate.map(|n| r.schedules_per_s / n);
            r.meets_numpy_target = r.speedup_vs_numpy.map(|x| x >= NUMPY_SPEEDUP_TARGET);
        }
    }

    let cpu = sysinfo::cpu_model();
    if args.json {
        let report = Report {
            machine: Machine {
                threads,
                cpu: (cpu != "unknown").then_some(cpu.as_str()),
                date: sysinfo::utc_date(),
                git: env!("CELLWISE_GIT_HASH"),
            },
            settings: Settings {
                repeats: args.repeats,
                dfs_child_rounds: args.repeats.div_ceil(3),
                dfs_runs: args.repeats.div_ceil(5),
                dfs_judgements: args.dfs_judgements,
                numpy_python: numpy.as_ref().map(|n| n.python.display().to_string()),
                numpy_version: numpy.as_ref().map(|n| n.version.as_str()),
            },
            baseline: BASELINE,
            targets: Targets {
                full_eval_ratio: "at most the FLOP ratio to the baseline (GRU-32 3x, LSTM-32 4x)",
                speedup_vs_numpy_min: NUMPY_SPEEDUP_TARGET,
            },
            problems: &reports,
        };
        return super::print(&format!("{}\n", serde_json::to_string_pretty(&report)?));
    }
    super::print(&text_report(&reports, &args, threads, &cpu)?)
}

/// `bench oracle --json`: the machine, the settings, the targets and each problem's record.
#[derive(Serialize)]
struct Report<'a> {
    machine: Machine<'a>,
    settings: Settings<'a>,
    /// The problem the ratios are taken against.
    baseline: &'static str,
    targets: Targets,
    problems: &'a [ProblemReport],
}

/// Where the measurements were taken.
#[derive(Serialize)]
struct Machine<'a> {
    /// rayon threads.
    threads: usize,
    /// The CPU model from /proc/cpuinfo, if available.
    cpu: Option<&'a str>,
    /// UTC date.
    date: String,
    /// The commit the binary was built from.
    git: &'static str,
}

/// How much was timed.
#[derive(Serialize)]
struct Settings<'a> {
    repeats: usize,
    dfs_child_rounds: usize,
    dfs_runs: usize,
    dfs_judgements: usize,
    numpy_python: Option<String>,
    numpy_version: Option<&'a str>,
}

/// What the numbers are meant to reach.
#[derive(Serialize)]
struct Targets {
    full_eval_ratio: &'static str,
    speedup_vs_numpy_min: f64,
}

/// "ok" or "MISSED" for a target; "-" without one.
fn verdict(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "ok",
        Some(false) => "MISSED",
        None => "-",
    }
}

/// The human-readable report: each problem's measurements, then a summary against the
/// targets.
fn text_report(
    reports: &[ProblemReport],
    args: &OracleArgs,
    threads: usize,
    cpu: &str,
) -> anyhow::Result<String> {
    let opt = |v: Option<f64>, digits: usize| match v {
        Some(v) => format!("{v:.digits$}"),
        None => "n/a".to_string(),
    };
    let mut out = String::new();
    writeln!(
        out,
        "oracle benchmark: {threads} threads, {cpu}; medians of {} (DFS children {}, DFS runs {}); ratios against {BASELINE} in this run",
        args.repeats,
        args.repeats.div_ceil(3),
        args.repeats.div_ceil(5)
    )?;
    for r in reports {
        writeln!(out)?;
        writeln!(
            out,
            "{} ({}, {} units, {} steps x {} slot{}; top {}, test accuracy {:.2} %)",
            r.problem,
            r.cell,
            r.hidden,
            r.steps,
            r.slots,
            if r.slots == 1 { "" } else { "s" },
            r.top_schedule,
            100.0 * r.top_test_accuracy
        )?;
        writeln!(
            out,
            "  full evaluation, test {:>5}       {:9.2} ms  ({:.1} GFLOP/s, {:.0} % of the {} GEMM peak {:.1} GFLOP/s)",
            r.test_images,
            r.full_eval_test_ms,
            r.full_eval_gflops,
            100.0 * r.full_eval_fraction_of_gemm_peak,
            r.gemm_shape,
            r.gemm_gflops
        )?;
        writeln!(
            out,
            "  the same, storing prefix states   {:9.2} ms",
            r.full_eval_storing_prefixes_test_ms
        )?;
        writeln!(
            out,
            "  DFS children of the top, cold     {:>9} /s  ({} children, {} accepted)",
            opt(r.dfs_decisions_per_s, 0),
            r.dfs_children,
            r.dfs_children_accepted
        )?;
        writeln!(
            out,
            "  paper's DFS, {:>7} judgements   {:>9} decisions/s  ({} decisions, {:.0} judgements/s, {:.2} s)",
            r.dfs_run_judgements,
            opt(r.dfs_run_decisions_per_s, 0),
            r.dfs_run_decisions,
            r.dfs_run_judgements_per_s,
            r.dfs_run_s
        )?;
        if let (Some(secs), Some(judgements), Some(exits)) = (
            r.dfs_depth2_test_s,
            r.dfs_depth2_test_judgements,
            r.dfs_depth2_test_early_exits,
        ) {
            writeln!(
                out,
                "  paper's DFS to depth 2, test      {secs:9.2} s  ({judgements} judgements, {exits} early exits)",
            )?;
        }
        writeln!(
            out,
            "  numpy f64 forward pass            {:>9} schedules/s",
            opt(r.numpy_f64_schedules_per_s, 2)
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "targets: full evaluation at most the FLOP ratio to {BASELINE} (GRU-32 3x, LSTM-32 4x); at least {NUMPY_SPEEDUP_TARGET:.0}x numpy"
    )?;
    writeln!(
        out,
        "{:<20} {:>10} {:>8} {:>7} {:>7} {:>11} {:>11} {:>10} {:>8} {:>7}",
        "problem",
        "full ms",
        "ratio",
        "FLOPs",
        "target",
        "children/s",
        "DFS dec/s",
        "numpy /s",
        "x numpy",
        "target"
    )?;
    for r in reports {
        writeln!(
            out,
            "{:<20} {:>10.2} {:>7.2}x {:>6.2}x {:>7} {:>11} {:>11} {:>10} {:>8} {:>7}",
            r.problem,
            r.full_eval_test_ms,
            r.full_eval_ratio_to_baseline,
            r.flop_ratio_to_baseline,
            verdict(r.meets_full_eval_ratio_target),
            opt(r.dfs_decisions_per_s, 0),
            opt(r.dfs_run_decisions_per_s, 0),
            opt(r.numpy_f64_schedules_per_s, 2),
            r.speedup_vs_numpy
                .map_or("n/a".into(), |x| format!("{x:.0}x")),
            verdict(r.meets_numpy_target)
        )?;
    }
    Ok(out)
}
