//! `cellwise worker`: judge a study's batches until the study ends.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use cellwise::store::worker::{self, Options};
use cellwise::store::{Store, Study};

use super::common::set_threads;
use super::scaleout::study_oracle;

/// Arguments of `cellwise worker`.
#[derive(clap::Args)]
pub struct Args {
    /// Study store: sqlite:PATH or postgres://USER@HOST:PORT/DB.
    #[arg(long)]
    store: String,
    /// The study to serve (default: the oldest running study of the store).
    #[arg(long)]
    study: Option<String>,
    /// Weights (default: the path the study recorded, else the embedded model); their
    /// fingerprint must be the study's.
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Data directory (default: $CELLWISE_DATA_DIR, else ./data).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Worker threads of the oracle (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Seconds a claim lasts without renewal.
    #[arg(long, default_value_t = 30.0)]
    lease_seconds: f64,
    /// Seconds to wait for the study to appear in the store (a worker may start before its
    /// driver).
    #[arg(long, default_value_t = 600.0)]
    wait_seconds: f64,
    /// Exit after this many seconds without work while the study runs (default: wait for
    /// the study to end).
    #[arg(long)]
    idle_exit: Option<f64>,
    /// The worker's name in the store (default: from SLURM_ARRAY_TASK_ID or
    /// JOB_COMPLETION_INDEX, the host and the process id).
    #[arg(long)]
    name: Option<String>,
    /// Exit when this process is no longer the parent (set by `search --workers`).
    #[arg(long, hide = true)]
    parent: Option<u32>,
}

/// Test hook: milliseconds added to every judgement, so a test can kill a worker mid-batch.
const DELAY_VAR: &str = "CELLWISE_WORKER_DELAY_MS";

/// Runs `cellwise worker`.
pub fn run(args: Args) -> anyhow::Result<()> {
    set_threads(args.threads)?;
    for (what, x) in [
        ("--lease-seconds", args.lease_seconds),
        ("--wait-seconds", args.wait_seconds),
        ("--idle-exit", args.idle_exit.unwrap_or(1.0)),
    ] {
        anyhow::ensure!(
            x.is_finite() && x > 0.0,
            "{what} {x} must be a positive number of seconds"
        );
    }
    let mut store = Store::open(&args.store)?;
    let study = find_study(&mut store, args.study.as_deref(), args.wait_seconds)?;
    let oracle = study_oracle(&study.spec, args.weights.as_deref(), args.data_dir.clone())
        .with_context(|| format!("study {}", study.spec.name))?;
    let delay = match std::env::var(DELAY_VAR) {
        Ok(ms) => Duration::from_millis(
            ms.parse()
                .with_context(|| format!("{DELAY_VAR}={ms} is not a number of milliseconds"))?,
        ),
        Err(_) => Duration::ZERO,
    };
    let name = args.name.unwrap_or_else(default_name);
    let parent = args.parent;
    let options = Options {
        name: name.clone(),
        lease: args.lease_seconds,
        idle_exit: args.idle_exit.map(Duration::from_secs_f64),
        alive: Box::new(move || parent.is_none_or(|p| std::os::unix::process::parent_id() == p)),
        delay,
    };
    let report = worker::serve(&mut store, &study, &oracle, &options)
        .with_context(|| format!("worker {name}"))?;
    super::print(&format!(
        "worker {name}: {} batches, {} judgements, {:.1} s judging; stopped: {}\n",
        report.batches, report.judgements, report.seconds, report.ended
    ))
}

/// The study to serve: `name`, or the oldest running one, waiting up to `wait` seconds for
/// it to appear.
fn find_study(store: &mut Store, name: Option<&str>, wait: f64) -> anyhow::Result<Study> {
    let start = Instant::now();
    loop {
        let found = match name {
            Some(n) => store.studies()?.into_iter().find(|s| s.spec.name == n),
            None => store.studies()?.into_iter().find(|s| s.state == "running"),
        };
        if let Some(study) = found {
            return Ok(study);
        }
        anyhow::ensure!(
            start.elapsed().as_secs_f64() < wait,
            "store {} has {} after {wait} s",
            store.url(),
            match name {
                Some(n) => format!("no study '{n}'"),
                None => "no running study".into(),
            }
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// `slurm-JOB-TASK`, `k8s-INDEX` or `worker`, then the host and the process id.
fn default_name() -> String {
    let base = match (
        std::env::var("SLURM_ARRAY_JOB_ID"),
        std::env::var("SLURM_ARRAY_TASK_ID"),
        std::env::var("JOB_COMPLETION_INDEX"),
    ) {
        (Ok(job), Ok(task), _) => format!("slurm-{job}-{task}"),
        (_, Ok(task), _) => format!("slurm-{task}"),
        (_, _, Ok(index)) => format!("k8s-{index}"),
        _ => "worker".into(),
    };
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host".into());
    format!("{base}-{host}-{}", std::process::id())
}
