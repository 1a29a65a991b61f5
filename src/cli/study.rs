//! `cellwise study`: the studies of a store — list, show (progress, memo, throughput per
//! worker), export (a finished study's run files) and gc.

use std::fmt::Write;
use std::path::PathBuf;

use anyhow::Context;
use cellwise::store::Store;
use serde_json::json;

use super::scaleout::RUN_FILES;

/// Arguments of `cellwise study`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Op,
}

#[derive(clap::Subcommand)]
enum Op {
    /// Every study of the store: state, model, progress.
    List {
        /// Study store: sqlite:PATH or postgres://USER@HOST:PORT/DB.
        #[arg(long)]
        store: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// One study: batches by state, judgements, memo rows, throughput per worker.
    Show {
        #[arg(long)]
        store: String,
        #[arg(long)]
        study: String,
        #[arg(long)]
        json: bool,
    },
    /// Writes a finished study's run.json, schedules.csv and pareto.csv into a run directory.
    Export {
        #[arg(long)]
        store: String,
        #[arg(long)]
        study: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Deletes the batches and workers of ended studies (the memo and the run files stay)
    /// and reopens batches whose lease expired.
    Gc {
        #[arg(long)]
        store: String,
        /// Also delete this study (its memo rows stay: they are the model's, not the study's).
        #[arg(long)]
        drop: Option<String>,
    },
}

/// Runs `cellwise study`.
pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Op::List { store, json } => list(&store, json),
        Op::Show { store, study, json } => show(&store, &study, json),
        Op::Export { store, study, out } => export(&store, &study, out),
        Op::Gc { store, drop } => gc(&store, drop.as_deref()),
    }
}

fn list(url: &str, as_json: bool) -> anyhow::Result<()> {
    let mut store = Store::open(url)?;
    let mut rows = Vec::new();
    for s in store.studies()? {
        let p = store.progress(s.id)?;
        rows.push(json!({
            "name": s.spec.name,
            "state": s.state,
            "problem": s.spec.problem_name,
            "model": s.spec.fingerprint,
            "strategy": s.spec.settings["strategy"],
            "filed": p.filed,
            "answered": p.answered,
            "workers": p.workers.len(),
        }));
    }
    if as_json {
        return super::print(&format!("{}\n", serde_json::to_string_pretty(&rows)?));
    }
    let mut text = String::new();
    writeln!(
        text,
        "{:<28} {:<8} {:<14} {:<12} {:>9} {:>9} {:>7}",
        "study", "state", "problem", "strategy", "answered", "filed", "workers"
    )?;
    for r in &rows {
        writeln!(
            text,
            "{:<28} {:<8} {:<14} {:<12} {:>9} {:>9} {:>7}",
            r["name"].as_str().unwrap_or(""),
            r["state"].as_str().unwrap_or(""),
            r["problem"].as_str().unwrap_or(""),
            r["strategy"].as_str().unwrap_or(""),
            r["answered"].as_i64().unwrap_or(0),
            r["filed"].as_i64().unwrap_or(0),
            r["workers"].as_u64().unwrap_or(0)
        )?;
    }
    super::print(&text)
}

fn show(url: &str, name: &str, as_json: bool) -> anyhow::Result<()> {
    let mut store = Store::open(url)?;
    let study = store.study(name)?;
    let progress = store.progress(study.id)?;
    let (evaluations, decisions) = store.memo_rows(&study.spec)?;
    if as_json {
        let out = json!({
            "study": study,
            "progress": progress,
            "memo": { "evaluations": evaluations, "decisions": decisions },
        });
        return super::print(&format!("{}\n", serde_json::to_string_pretty(&out)?));
    }
    let mut text = String::new();
    writeln!(
        text,
        "study {} ({}): problem {}, model {}, split {}",
        study.spec.name,
        study.state,
        study.spec.problem_name,
        study.spec.fingerprint,
        study.spec.split
    )?;
    let counts: Vec<String> = progress
        .batches
        .iter()
        .map(|(state, n)| format!("{n} {state}"))
        .collect();
    writeln!(
        text,
        "batches: {} ({} reclaimed after an expired lease); questions answered {} of {} filed in {:.1} worker-seconds",
        counts.join(", "),
        progress.reclaimed,
        progress.answered,
        progress.filed,
        progress.worker_seconds
    )?;
    writeln!(
        text,
        "memo of this model and split: {evaluations} evaluations, {decisions} decisions"
    )?;
    writeln!(
        text,
        "{:<36} {:<8} {:>8} {:>11} {:>10} {:>10} {:>10}",
        "worker", "state", "batches", "judgements", "judging s", "store s", "per s"
    )?;
    for w in &progress.workers {
        writeln!(
            text,
            "{:<36} {:<8} {:>8} {:>11} {:>10.1} {:>10.2} {:>10.1}",
            w.name,
            w.state,
            w.batches,
            w.judgements,
            w.seconds,
            w.store_seconds,
            w.judgements as f64 / w.wall.max(1e-9)
        )?;
    }
    super::print(&text)
}

fn export(url: &str, name: &str, out: PathBuf) -> anyhow::Result<()> {
    let mut store = Store::open(url)?;
    let study = store.study(name)?;
    let Some(text) = store.outputs(study.id)? else {
        anyhow::bail!(
            "study {name} is {} and has no run files yet (a study has them once its driver finished)",
            study.state
        );
    };
    let files: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text)
        .with_context(|| format!("study {name}: its run files are damaged"))?;
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    for file in RUN_FILES {
        let body = files[file]
            .as_str()
            .with_context(|| format!("study {name}: its run files lack {file}"))?;
        cellwise::fsutil::write_atomic(&out.join(file), body.as_bytes())
            .with_context(|| format!("writing {}", out.join(file).display()))?;
    }
    super::print(&format!(
        "study {name}: {} written to {}\n",
        RUN_FILES.join(", "),
        out.display()
    ))
}

fn gc(url: &str, drop: Option<&str>) -> anyhow::Result<()> {
    let mut store = Store::open(url)?;
    let id = drop.map(|n| store.study(n).map(|s| s.id)).transpose()?;
    let (deleted, reopened) = store.gc(id)?;
    super::print(&format!(
        "deleted {deleted} batches of ended studies{}; reopened {reopened} batches with expired leases\n",
        drop.map_or(String::new(), |n| format!(" and study {n}"))
    ))
}
