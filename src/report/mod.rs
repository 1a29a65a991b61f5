//! Run outputs: a run directory with `run.json`, `schedules.csv`, `pareto.csv` and SVG
//! plots ([`svg`]), each written atomically, the figures of merit ([`metrics`]), and the lock
//! ([`RunLock`]) that keeps two runs out of one directory.

pub mod metrics;
pub mod selection;
pub mod svg;

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::fsutil::write_atomic;
use crate::oracle::Oracle;
use crate::schedule::{Approx, Schedule, Space};
use crate::search::SearchOutcome;

pub use metrics::Reference;

/// Errors raised while writing outputs.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Format(String),
    /// Another live process holds the run directory's lock.
    #[error(
        "run directory {dir} is in use by another cellwise run (pid {pid}); wait for it to finish or choose another directory"
    )]
    Locked {
        /// The run directory.
        dir: String,
        /// The owner's pid as its lock file says (`unknown` if it says nothing usable).
        pid: String,
    },
}

/// Name of the lock file in a run directory.
pub const LOCK_FILE: &str = ".cellwise.lock";

/// Exclusive use of a run directory by this process, held until dropped.
///
/// The lock is an advisory `flock` on `DIR/.cellwise.lock`, taken without waiting: the
/// kernel makes taking it atomic and releases it when its owner exits in any way, so a run
/// killed by SIGKILL never leaves a lock that blocks the next run. The file holds the
/// owner's pid, which a refused run names. A file that still names a pid while nobody holds
/// its lock was left by a run that ended without cleaning up (killed, crashed): the lock is
/// taken over, and [`RunLock::stale_owner`] names that pid so the caller can say so. The
/// owner removes the file when it drops the lock; a run that locked a file being removed
/// notices (the path no longer leads to its file) and starts again.
#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
    /// Holds the lock until the value is dropped.
    _file: File,
    stale_owner: Option<String>,
}

impl RunLock {
    /// Locks the existing directory `dir`, or fails with [`ReportError::Locked`] naming the
    /// directory and the owner's pid.
    pub fn acquire(dir: &Path) -> Result<Self, ReportError> {
        let path = dir.join(LOCK_FILE);
        let io = |source| ReportError::Io {
            path: path.display().to_string(),
            source,
        };
        // A few rounds at most: each retry means the previous owner removed the file
        // between our opening and locking it.
        for _ in 0..100 {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(io)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    return Err(ReportError::Locked {
                        dir: dir.display().to_string(),
                        pid: owner_pid(&mut file),
                    });
                }
                Err(TryLockError::Error(e)) => return Err(io(e)),
            }
            if !same_file(&file, &path) {
                continue;
            }
            let mut previous = String::new();
            file.read_to_string(&mut previous).map_err(io)?;
            file.set_len(0).map_err(io)?;
            file.rewind().map_err(io)?;
            writeln!(file, "{}", std::process::id()).map_err(io)?;
            let previous = previous.trim();
            return Ok(Self {
                path,
                _file: file,
                stale_owner: (!previous.is_empty()).then(|| sanitize_pid(previous)),
            });
        }
        Err(io(std::io::Error::other(
            "the lock file keeps being replaced",
        )))
    }

    /// The pid a lock file left by a run that ended without releasing it named, if the lock
    /// was taken over from such a run.
    pub fn stale_owner(&self) -> Option<&str> {
        self.stale_owner.as_deref()
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Removed while still locked (the file closes after this), so a run waiting on the
        // old file sees that it is gone.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The pid a locked file names; its owner writes it right after locking, so an empty file
/// is read again for a moment.
fn owner_pid(file: &mut File) -> String {
    for _ in 0..20 {
        let mut text = String::new();
        if file.rewind().is_ok()
            && file.read_to_string(&mut text).is_ok()
            && !text.trim().is_empty()
        {
            return sanitize_pid(text.trim());
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    "unknown".into()
}

/// A pid as a lock file states it, or `unknown` for anything that is not one (the text goes
/// into a one-line message).
fn sanitize_pid(text: &str) -> String {
    text.parse::<u32>()
        .map_or_else(|_| "unknown".into(), |pid| pid.to_string())
}

/// True if `path` still leads to the open `file`.
fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// A finalist (Pareto point) scored on the test split.
#[derive(Clone, Debug, Serialize)]
pub struct Finalist {
    pub schedule: String,
    pub cost: f64,
    pub val_accuracy: f64,
    pub test_accuracy: f64,
    pub test_interval: [f64; 2],
    /// Test images the schedule leaves unsafe for batched CKKS.
    pub test_unsafe_images: usize,
}

/// Scores the outcome's Pareto points on the test oracle.
pub fn finalists(
    outcome: &SearchOutcome,
    test: &Oracle,
) -> Result<Vec<Finalist>, crate::oracle::OracleError> {
    outcome
        .pareto
        .iter()
        .map(|&i| {
            let r = &outcome.records[i];
            let e = test.evaluate(&r.schedule)?;
            Ok(Finalist {
                schedule: r.schedule.to_string(),
                cost: r.cost,
                val_accuracy: r.accuracy.unwrap_or(f64::NAN),
                test_accuracy: e.accuracy,
                test_interval: e.interval,
                test_unsafe_images: e.unsafe_images.len(),
            })
        })
        .collect()
}

/// Hypervolumes of the validation front (the finalists' validation accuracies) and of the
/// test front (the same schedules' test accuracies) against `r`.
pub fn front_hypervolumes(finalists: &[Finalist], r: &Reference) -> (f64, f64) {
    (
        metrics::hypervolume(finalists.iter().map(|f| (f.cost, f.val_accuracy)), r),
        metrics::hypervolume(finalists.iter().map(|f| (f.cost, f.test_accuracy)), r),
    )
}

/// The wall seconds of the search after every `stride`-th judgement and after the last
/// (`stride` keeps it to at most about 200 entries), as `[judgements, seconds]`.
pub fn elapsed_samples(outcome: &SearchOutcome) -> Vec<(usize, f64)> {
    let n = outcome.elapsed.len();
    let stride = n.div_ceil(200).max(1);
    (1..=n)
        .filter(|k| k % stride == 0 || *k == n)
        .map(|k| (k, outcome.elapsed[k - 1]))
        .collect()
}

/// Writes `run.json` (the given metadata plus statistics and finalists), `schedules.csv`
/// (every judgement) and `pareto.csv` (the finalists) into `dir`, which depend only on the
/// settings and the seed, and `timing.json` (wall time plus `timing`: whatever depends on
/// the machine or on an interruption, such as the oracle's cache counters, and `elapsed`:
/// [`elapsed_samples`]).
pub fn write_run(
    dir: &Path,
    meta: serde_json::Value,
    mut timing: serde_json::Value,
    outcome: &SearchOutcome,
    finalists: &[Finalist],
) -> Result<(), ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let write = |name: &str, bytes: Vec<u8>| {
        let path = dir.join(name);
        write_atomic(&path, &bytes).map_err(|source| ReportError::Io {
            path: path.display().to_string(),
            source,
        })
    };
    let mut run = meta;
    run["strategy"] = outcome.strategy.clone().into();
    run["judgements"] = outcome.judgements.into();
    run["budget_exhausted"] = outcome.budget_exhausted.into();
    run["details"] = outcome.details.clone();
    timing["seconds"] = outcome.seconds.into();
    timing["cpu_seconds"] = outcome.cpu_seconds.into();
    timing["elapsed"] = serde_json::to_value(elapsed_samples(outcome))
        .map_err(|e| ReportError::Format(e.to_string()))?;
    write(
        "timing.json",
        serde_json::to_vec_pretty(&timing).map_err(|e| ReportError::Format(e.to_string()))?,
    )?;
    run["finalists"] =
        serde_json::to_value(finalists).map_err(|e| ReportError::Format(e.to_string()))?;
    write(
        "run.json",
        serde_json::to_vec_pretty(&run).map_err(|e| ReportError::Format(e.to_string()))?,
    )?;
    let mut csv = csv::Writer::from_writer(Vec::new());
    let fmt = |e: csv::Error| ReportError::Format(e.to_string());
    csv.write_record([
        "index",
        "schedule",
        "accuracy",
        "correct",
        "unsafe_images",
        "accepted",
        "cost",
    ])
    .map_err(fmt)?;
    for r in &outcome.records {
        csv.write_record([
            r.index.to_string(),
            r.schedule.to_string(),
            r.accuracy.map_or(String::new(), |a| format!("{a:.6}")),
            r.correct.map_or(String::new(), |c| c.to_string()),
            r.unsafe_images.map_or(String::new(), |c| c.to_string()),
            r.accepted.map_or(String::new(), |a| a.to_string()),
            format!("{}", r.cost),
        ])
        .map_err(fmt)?;
    }
    write(
        "schedules.csv",
        csv.into_inner()
            .map_err(|e| ReportError::Format(e.to_string()))?,
    )?;
    let mut csv = csv::Writer::from_writer(Vec::new());
    csv.write_record([
        "schedule",
        "cost",
        "val_accuracy",
        "test_accuracy",
        "test_low",
        "test_high",
        "test_unsafe_images",
    ])
    .map_err(fmt)?;
    for f in finalists {
        csv.write_record([
            f.schedule.clone(),
            format!("{}", f.cost),
            format!("{:.6}", f.val_accuracy),
            format!("{:.6}", f.test_accuracy),
            format!("{:.6}", f.test_interval[0]),
            format!("{:.6}", f.test_interval[1]),
            f.test_unsafe_images.to_string(),
        ])
        .map_err(fmt)?;
    }
    write(
        "pareto.csv",
        csv.into_inner()
            .map_err(|e| ReportError::Format(e.to_string()))?,
    )
}

/// The outcome's Pareto front as (cost, validation accuracy in %), cost ascending.
pub fn front_points(outcome: &SearchOutcome) -> Vec<(f64, f64)> {
    outcome
        .pareto
        .iter()
        .filter_map(|&i| {
            let r = &outcome.records[i];
            r.accuracy.map(|a| (r.cost, 100.0 * a))
        })
        .collect()
}

/// The judgement counts at which progress is sampled: up to about 100 evenly spaced ones
/// in `1..=n`, `n` included.
pub fn progress_counts(n: usize) -> Vec<usize> {
    let stride = n.div_ceil(100).max(1);
    (1..=n).filter(|k| k % stride == 0 || *k == n).collect()
}

/// Hypervolume (share of the reference box) of the front found within the first `k`
/// judgements, at [`progress_counts`].
pub fn progress_points(
    outcome: &SearchOutcome,
    batch_safe: bool,
    reference: &Reference,
) -> Vec<(f64, f64)> {
    let counts = progress_counts(outcome.records.len());
    let hv = metrics::hypervolume_at(&outcome.records, batch_safe, reference, &counts);
    counts.iter().map(|&k| k as f64).zip(hv).collect()
}

/// Share of `schedules` that give each cell each degree: one row per degree (as listed).
pub fn degree_shares(schedules: &[&Schedule], degrees: &[usize]) -> Vec<Vec<f64>> {
    let cells = schedules.first().map_or(0, |s| s.entries().len());
    let n = schedules.len().max(1) as f64;
    degrees
        .iter()
        .map(|&d| {
            (0..cells)
                .map(|c| {
                    schedules
                        .iter()
                        .filter(|s| s.entries().get(c) == Some(&Approx::Degree(d)))
                        .count() as f64
                        / n
                })
                .collect()
        })
        .collect()
}

/// Share of `schedules` that lower each (slot, step) below the slot's highest candidate:
/// one row per slot, one column per step.
pub fn lowered_shares(schedules: &[&Schedule], space: &Space) -> Vec<Vec<f64>> {
    let n = schedules.len().max(1) as f64;
    (0..space.slots())
        .map(|slot| {
            let top = Approx::Degree(space.degrees[slot][0]);
            (0..space.steps)
                .map(|t| {
                    schedules
                        .iter()
                        .filter(|s| s.entries().get(t * space.slots() + slot) != Some(&top))
                        .count() as f64
                        / n
                })
                .collect()
        })
        .collect()
}

/// Writes `pareto.svg`, `cells.svg` (the degrees of the schedules a threshold search kept,
/// or else of the Pareto front: for a one-slot cell the share at each degree per step, for
/// gated cells the share lowered below the highest candidate per slot and step) and
/// `progress.svg` (hypervolume against judgements, against `reference`).
pub fn write_plots(
    dir: &Path,
    outcome: &SearchOutcome,
    batch_safe: bool,
    reference: &Reference,
    space: &Space,
) -> Result<(), ReportError> {
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        write_atomic(&path, text.as_bytes()).map_err(|source| ReportError::Io {
            path: path.display().to_string(),
            source,
        })
    };
    let name = outcome.strategy.clone();
    write(
        "pareto.svg",
        svg::chart(
            &format!("{name}: validation Pareto front"),
            "cost",
            "validation accuracy (%)",
            &[svg::Series {
                name: name.clone(),
                points: front_points(outcome),
            }],
            true,
        ),
    )?;
    let kept: Vec<&Schedule> = outcome
        .records
        .iter()
        .filter(|r| r.accepted == Some(true))
        .map(|r| &r.schedule)
        .collect();
    let (what, shown) = if kept.is_empty() {
        (
            "Pareto-front",
            outcome
                .pareto
                .iter()
                .map(|&i| &outcome.records[i].schedule)
                .collect(),
        )
    } else {
        ("kept", kept)
    };
    let map = if space.slots() == 1 {
        // Rows lowest degree first, as presets list their degrees.
        let mut degrees = space.all_degrees();
        degrees.reverse();
        svg::heatmap(
            &format!(
                "{name}: degree per cell over {} {what} schedules",
                shown.len()
            ),
            &degrees
                .iter()
                .map(|d| format!("degree {d}"))
                .collect::<Vec<_>>(),
            &degree_shares(&shown, &degrees),
            "cell (time step); shade = share of the schedules",
        )
    } else {
        let slots: Vec<String> = space
            .cell
            .cell()
            .slots
            .iter()
            .zip(&space.degrees)
            .map(|(s, d)| format!("{} (top {})", s.name, d[0]))
            .collect();
        svg::heatmap(
            &format!(
                "{name}: lowered (slot, step) positions over {} {what} schedules",
                shown.len()
            ),
            &slots,
            &lowered_shares(&shown, space),
            "time step; shade = share of the schedules below the slot's highest degree",
        )
    };
    write("cells.svg", map)?;
    write(
        "progress.svg",
        svg::chart(
            &format!("{name}: hypervolume of the front so far"),
            "judgements",
            &hypervolume_label(reference),
            &[svg::Series {
                name,
                points: progress_points(outcome, batch_safe, reference),
            }],
            true,
        ),
    )
}

/// The y-axis label of hypervolume plots.
pub fn hypervolume_label(r: &Reference) -> String {
    format!(
        "hypervolume (share of cost <= {}, accuracy >= {:.1} %)",
        fmt_cost(r.cost),
        100.0 * r.accuracy
    )
}

/// A cost for labels: four significant digits.
pub fn fmt_cost(c: f64) -> String {
    if c.abs() >= 1000.0 || c == c.round() {
        format!("{c:.0}")
    } else {
        format!(
            "{:.*}",
            (3 - c.abs().log10().floor() as i32).clamp(0, 6) as usize,
            c
        )
    }
}
