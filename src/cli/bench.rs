//! `cellwise bench`: built-in benchmarks that report medians and same-run ratios.

use std::fmt::Write;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::Context;
use cellwise::cost::{self, CostOptions};
use cellwise::data;
use cellwise::model::Weights;
use cellwise::oracle::{Candidates, Oracle, OracleConfig, matmul};
use cellwise::problem::{DEFAULT_PROBLEM, Problem};
use cellwise::schedule::{Approx, Schedule};
use cellwise::search::{Constraints, SearchContext, StrategyConfig};
use rayon::prelude::*;
use serde_json::json;

/// Arguments of `cellwise bench`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(clap::Subcommand)]
enum What {
    /// The accuracy oracle: full evaluations, DFS child decisions (first-level children and
    /// the paper's DFS itself), GEMM peak, numpy.
    Oracle(OracleArgs),
}

#[derive(clap::Args)]
struct OracleArgs {
    /// Timed repetitions (the median is reported), 1 to 1,000.
    #[arg(long, default_value_t = 15)]
    repeats: usize,
    /// Judgements of the paper's DFS run (validation split), 1 to 1,000,000.
    #[arg(long, default_value_t = 10_000)]
    dfs_judgements: usize,
    /// Skip the numpy baseline.
    #[arg(long)]
    no_numpy: bool,
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

/// The median (NaN for no values; the flags' checks make sure there is one).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn time<R>(repeats: usize, mut f: impl FnMut() -> R) -> f64 {
    f(); // warm-up
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
    let problem = Problem::load(DEFAULT_PROBLEM)?;
    let dir = args.data_dir.unwrap_or_else(data::default_data_dir);
    data::ensure_mnist(&dir).with_context(|| format!("data directory {}", dir.display()))?;
    let splits = data::load_splits(&problem, &dir)?;
    let weights = Weights::embedded_default();
    let candidates = Candidates::for_model(&problem, &weights, &splits.train)?;
    let threads = rayon::current_num_threads();

    // GEMM peak of the oracle's shape: [10000 x 32] x [32 x 32], f32, split over the threads
    // as the oracle does (one single-threaded product per chunk).
    let (m, k, n) = (10_000usize, 32usize, 32usize);
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

    // Full evaluation of all-17 on the test split, cold (no memo), without and with storing
    // the prefix states that later schedules can resume from.
    let no_store = OracleConfig {
        cache_mb: 0,
        ..OracleConfig::default()
    };
    let test = Oracle::new(&weights, &splits.test, &candidates, &no_store)?;
    let all17 = test.space().top();
    let full_s = time(args.repeats, || {
        test.clear_caches();
        test.evaluate(&all17).map(|e| e.correct)
    });
    let storing = Oracle::new(
        &weights,
        &splits.test,
        &candidates,
        &OracleConfig::default(),
    )?;
    let store_s = time(args.repeats, || {
        storing.clear_caches();
        storing.evaluate(&all17).map(|e| e.correct)
    });
    let h = problem.model.hidden;
    let flops = 2.0 * (splits.test.len() * problem.steps() * h * h) as f64;
    let full_gflops = flops / full_s / 1e9;

    // DFS-like workload on the validation split: all children of a cached all-17 parent
    // (one cell lowered to each smaller degree), judged against "within 2 points".
    let val = Oracle::new(&weights, &splits.val, &candidates, &OracleConfig::default())?;
    let space = val.space().clone();
    let children: Vec<Schedule> = (0..space.positions())
        .flat_map(|i| space.degrees_at(i)[1..].iter().map(move |&d| (i, d)))
        .map(|(i, d)| all17.with_entry(i, Approx::Degree(d)))
        .collect();
    let mut accepted = 0;
    let dfs_s = time(args.repeats.div_ceil(3), || {
        val.clear_caches();
        let parent = val.evaluate(&all17).map(|e| e.correct).unwrap_or(0);
        let threshold = parent.saturating_sub(splits.val.len() / 50);
        let t = Instant::now();
        accepted = children
            .iter()
            .filter(|c| val.accepts(c, threshold, false).unwrap_or(false))
            .count();
        t.elapsed().as_secs_f64()
    });
    // `time` measured parent + children; re-measure the children alone for the rate.
    let child_s = median(
        (0..args.repeats.div_ceil(3))
            .map(|_| {
                val.clear_caches();
                let parent = val.evaluate(&all17).map(|e| e.correct).unwrap_or(0);
                let threshold = parent.saturating_sub(splits.val.len() / 50);
                let t = Instant::now();
                for c in &children {
                    let _ = val.accepts(c, threshold, false);
                }
                t.elapsed().as_secs_f64()
            })
            .collect(),
    );
    let decisions_per_s = children.len() as f64 / child_s;

    // The paper's DFS itself (strategies/dfs.toml, depth cost) for a fixed number of
    // judgements on a fresh oracle: what `cellwise search --strategy dfs` does, prefix
    // reuse across the tree included.
    let depth = cost::for_candidates("depth", &problem, &candidates, &CostOptions::default())?;
    let dfs_runs: Vec<(f64, usize, usize)> = (0..args.repeats.div_ceil(5))
        .map(|_| -> anyhow::Result<(f64, usize, usize)> {
            let oracle = Oracle::new(&weights, &splits.val, &candidates, &OracleConfig::default())?;
            let ctx = SearchContext::new(
                &problem,
                &oracle,
                depth.as_ref(),
                Constraints {
                    min_accuracy: 0.0,
                    max_cost: f64::INFINITY,
                    batch_safe: false,
                },
                args.dfs_judgements,
                1,
            )?;
            let mut dfs = StrategyConfig::load("dfs")?.build();
            let t = Instant::now();
            let outcome = ctx.run(dfs.as_mut())?;
            let s = t.elapsed().as_secs_f64();
            let decisions = outcome
                .records
                .iter()
                .filter(|r| r.accepted.is_some())
                .count();
            Ok((s, decisions, outcome.judgements))
        })
        .collect::<anyhow::Result<_>>()?;
    let dfs_run_s = median(dfs_runs.iter().map(|r| r.0).collect());
    let &(_, dfs_decisions, dfs_judgements) = dfs_runs.first().context("no DFS run was timed")?;

    let numpy = if args.no_numpy {
        None
    } else {
        numpy_baseline(&dir)
    };
    let ours_per_s = 1.0 / full_s;
    let report = json!({
        "threads": threads,
        "gemm_10000x32x32_gflops": gemm_gflops,
        "full_eval_test_ms": full_s * 1e3,
        "full_eval_gflops": full_gflops,
        "full_eval_fraction_of_gemm_peak": full_gflops / gemm_gflops,
        "full_eval_storing_prefixes_test_ms": store_s * 1e3,
        "dfs_children": children.len(),
        "dfs_children_accepted": accepted,
        "dfs_parent_plus_children_ms": dfs_s * 1e3,
        "dfs_decisions_per_s": decisions_per_s,
        "dfs_run_judgements": dfs_judgements,
        "dfs_run_decisions": dfs_decisions,
        "dfs_run_s": dfs_run_s,
        "dfs_run_decisions_per_s": dfs_decisions as f64 / dfs_run_s,
        "dfs_run_judgements_per_s": dfs_judgements as f64 / dfs_run_s,
        "schedules_per_s": ours_per_s,
        "numpy_f64_schedules_per_s": numpy,
        "speedup_vs_numpy": numpy.map(|n| ours_per_s / n),
    });
    if args.json {
        return super::print(&format!("{}\n", serde_json::to_string_pretty(&report)?));
    }
    let mut out = String::new();
    writeln!(out, "oracle benchmark ({threads} threads, medians)")?;
    writeln!(
        out,
        "  GEMM 10000x32x32 f32 peak      {gemm_gflops:8.1} GFLOP/s"
    )?;
    writeln!(
        out,
        "  full evaluation, test 10k      {:8.2} ms  ({full_gflops:.1} GFLOP/s, {:.0} % of GEMM peak)",
        full_s * 1e3,
        100.0 * full_gflops / gemm_gflops
    )?;
    writeln!(
        out,
        "  the same, storing prefix states {:8.2} ms",
        store_s * 1e3
    )?;
    writeln!(
        out,
        "  DFS children of all-17, cold   {decisions_per_s:8.0} /s  ({} children, {accepted} accepted)",
        children.len()
    )?;
    writeln!(
        out,
        "  paper's DFS, {dfs_judgements} judgements  {:8.0} decisions/s  ({dfs_decisions} decisions, {:.0} judgements/s, {dfs_run_s:.2} s)",
        dfs_decisions as f64 / dfs_run_s,
        dfs_judgements as f64 / dfs_run_s
    )?;
    match numpy {
        Some(n) => writeln!(
            out,
            "  numpy f64 forward pass         {n:8.2} schedules/s; cellwise {ours_per_s:.1}/s = {:.0}x",
            ours_per_s / n
        )?,
        None => writeln!(
            out,
            "  numpy baseline skipped (python3 with numpy not available)"
        )?,
    }
    super::print(&out)
}

/// Schedules per second of scripts/numpy-oracle-baseline.py, if python3 and numpy run.
fn numpy_baseline(dir: &std::path::Path) -> Option<f64> {
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/numpy-oracle-baseline.py");
    let out = Command::new("python3").arg(script).arg(dir).output().ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}
