//! `cellwise search` killed with SIGKILL mid-run and resumed from its checkpoint gives
//! byte-identical outputs to an uninterrupted run; corrupt or foreign checkpoints are refused
//! in one line. Self-contained: the runs use the committed MNIST fixture (`--fixture`, kept
//! in the checkpoint's settings, so the resumed run uses it too) and no data directory.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cellwise::cost;
use cellwise::data::load_fixture_splits;
use cellwise::model::Weights;
use cellwise::oracle::{Candidates, Oracle, OracleConfig};
use cellwise::problem::{DEFAULT_PROBLEM, Problem};
use cellwise::schedule::Schedule;
use cellwise::search::{Checkpoint, Record};

/// The binary, with a data directory that does not exist: nothing may need one.
fn cellwise(scratch: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cellwise"));
    c.env("CELLWISE_DATA_DIR", scratch.join("no-data"));
    c
}

const BUDGET: usize = 1500;

fn run_args(strategy: &str) -> Vec<String> {
    [
        "search",
        "--fixture",
        "--strategy",
        strategy,
        "--budget",
        &BUDGET.to_string(),
        "--json",
    ]
    .map(String::from)
    .to_vec()
}

/// Strategies whose killed runs are resumed: annealing, the seeded genetic search and the
/// level-aware DP (whose details carry its proxy front and refinement).
const RESUMED: [&str; 3] = ["anneal", "genetic", "dp-levels"];

#[test]
fn a_killed_search_resumes_to_identical_outputs() {
    for strategy in RESUMED {
        killed_and_resumed(strategy);
    }
}

fn killed_and_resumed(strategy: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let out = cellwise(dir.path())
        .args(run_args(strategy))
        .arg("--out")
        .arg(&a)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!a.join("checkpoint.json").exists());
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let full = summary["judgements"].as_u64().unwrap() as usize;
    assert_eq!(full, BUDGET, "{strategy} spends its whole budget");

    // A checkpoint after every judgement (each written and synced: milliseconds apiece, so
    // the whole run takes seconds), killed as soon as the first one appears.
    let mut child = cellwise(dir.path())
        .args(run_args(strategy))
        .args(["--checkpoint-every", "1", "--out"])
        .arg(&b)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !b.join("checkpoint.json").exists() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no checkpoint appeared"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        !b.join("run.json").exists(),
        "the run finished before it was killed"
    );
    let saved = Checkpoint::read(&b.join("checkpoint.json")).unwrap();
    assert!(
        !saved.records.is_empty() && saved.records.len() < full,
        "the kill landed after {} of {full} judgements",
        saved.records.len()
    );

    let out = cellwise(dir.path())
        .arg("search")
        .arg("--resume")
        .arg(&b)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // The killed run's lock file names a pid that no longer runs: taken over with a note.
    assert!(stderr.contains("taking the lock over"), "{stderr}");
    for f in [
        "run.json",
        "schedules.csv",
        "pareto.csv",
        "pareto.svg",
        "cells.svg",
        "progress.svg",
    ] {
        let (x, y) = (
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
        );
        assert!(x == y, "{strategy}: {f} differs after resuming");
    }
    assert!(!b.join("checkpoint.json").exists());
    assert!(!b.join(cellwise::report::LOCK_FILE).exists());
}

#[test]
fn bad_checkpoints_are_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let resume = |text: &str| {
        std::fs::write(dir.path().join("checkpoint.json"), text).unwrap();
        let out = cellwise(dir.path())
            .arg("search")
            .arg("--resume")
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        err
    };
    assert!(resume("{ not json").contains("corrupt"));
    assert!(resume(r#"{"format":"other/9","header":{},"records":[]}"#).contains("format"));
    // A sealed checkpoint whose first judgement (all-3, judged truthfully) is not what greedy
    // asks for first (all-17).
    let problem = Problem::load(DEFAULT_PROBLEM).unwrap();
    let splits = load_fixture_splits(&problem).unwrap();
    let weights = Weights::embedded_default();
    let candidates = Candidates::for_model(&problem, &weights, &splits.train).unwrap();
    let oracle = Oracle::new(&weights, &splits.val, &candidates, &OracleConfig::default()).unwrap();
    let all3 = Schedule::parse("all-3", 28).unwrap();
    let e = oracle.evaluate(&all3).unwrap();
    let foreign = Checkpoint::new(
        serde_json::json!({"strategy": "greedy", "problem": "mnist-rnn32",
            "weights": null, "budget": 50, "cost": "depth", "min_accuracy": 0.0,
            "max_cost": null, "seed": 1, "fixture": true}),
        vec![Record {
            index: 0,
            schedule: all3.clone(),
            accuracy: Some(e.accuracy),
            correct: Some(e.correct),
            unsafe_images: Some(e.unsafe_images.len()),
            accepted: None,
            cost: cost::by_name("depth", &problem)
                .unwrap()
                .cost(&all3)
                .unwrap(),
        }],
    )
    .unwrap();
    let err = resume(&serde_json::to_string(&foreign).unwrap());
    assert!(err.contains("does not match"), "{err}");
    let missing = cellwise(dir.path())
        .args(["search", "--resume"])
        .arg(dir.path().join("nowhere"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&missing.stderr).contains("reading checkpoint"));
}

/// Replaying the first judgements of a run (as `--resume` does from a checkpoint) and
/// continuing gives the uninterrupted run's records and details, for the seeded genetic
/// search, its Latin-hypercube preset and the level-aware DP (under latency, whose
/// bootstraps the DP walks).
#[test]
fn genetic_and_dp_levels_resume_to_the_same_run() {
    use cellwise::search::{Constraints, SearchContext, SearchOutcome, StrategyConfig};
    let problem = Problem::load(DEFAULT_PROBLEM).unwrap();
    let val = load_fixture_splits(&problem).unwrap().val;
    let candidates = Candidates::from_problem(&problem, None).unwrap();
    let oracle = Oracle::new(
        &Weights::embedded_default(),
        &val,
        &candidates,
        &OracleConfig::default(),
    )
    .unwrap();
    let model = cost::by_name("latency", &problem).unwrap();
    let open = Constraints {
        min_accuracy: 0.0,
        max_cost: f64::INFINITY,
        batch_safe: false,
    };
    for preset in ["genetic", "genetic-lhs", "dp-levels"] {
        let run = |replay: Option<Vec<Record>>| -> SearchOutcome {
            oracle.clear_caches();
            let mut ctx =
                SearchContext::new(&problem, &oracle, model.as_ref(), open.clone(), 300, 2)
                    .unwrap();
            if let Some(records) = replay {
                ctx.resume_from(records).unwrap();
            }
            ctx.run(StrategyConfig::load(preset).unwrap().build().as_mut())
                .unwrap()
        };
        let whole = run(None);
        assert_eq!(whole.judgements, 300, "{preset}");
        for cut in [1, 120, 299] {
            let resumed = run(Some(whole.records[..cut].to_vec()));
            let text = |o: &SearchOutcome| serde_json::to_string(&o.records).unwrap();
            assert_eq!(text(&resumed), text(&whole), "{preset} resumed after {cut}");
            assert_eq!(
                resumed.details, whole.details,
                "{preset} resumed after {cut}"
            );
        }
    }
}
