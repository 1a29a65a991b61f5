//! `cellwise search` killed with SIGKILL mid-run and resumed from its checkpoint gives
//! byte-identical outputs to an uninterrupted run; corrupt or foreign checkpoints are refused
//! in one line. Uses the real MNIST data (fetched into $CELLWISE_DATA_DIR or ./data if
//! missing, as the CI smoke check does).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cellwise::schedule::Schedule;
use cellwise::search::{CHECKPOINT_FORMAT, Checkpoint, Record};

fn cellwise() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cellwise"));
    let data = std::env::var_os("CELLWISE_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("data"));
    c.env("CELLWISE_DATA_DIR", data);
    c
}

const RUN: [&str; 8] = [
    "search",
    "--strategy",
    "anneal",
    "--budget",
    "1500",
    "--checkpoint-every",
    "100",
    "--json",
];

#[test]
fn a_killed_search_resumes_to_identical_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let out = cellwise().args(RUN).arg("--out").arg(&a).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!a.join("checkpoint.json").exists());

    let mut child = cellwise()
        .args(RUN)
        .arg("--out")
        .arg(&b)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !b.join("checkpoint.json").exists() {
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "no checkpoint appeared"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        !b.join("run.json").exists(),
        "the run finished before it was killed"
    );

    let out = cellwise()
        .arg("search")
        .arg("--resume")
        .arg(&b)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
        assert!(x == y, "{f} differs after resuming");
    }
}

#[test]
fn bad_checkpoints_are_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let resume = |text: &str| {
        std::fs::write(dir.path().join("checkpoint.json"), text).unwrap();
        let out = cellwise()
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
    // A checkpoint whose first judgement is not what greedy asks for first (all-17).
    let foreign = Checkpoint {
        format: CHECKPOINT_FORMAT.into(),
        header: serde_json::json!({"strategy": "greedy", "problem": "mnist-rnn32",
            "weights": null, "budget": 50, "cost": "depth", "min_accuracy": 0.0,
            "max_cost": null, "seed": 1}),
        records: vec![Record {
            index: 0,
            schedule: Schedule::parse("all-3", 28).unwrap(),
            accuracy: Some(0.5),
            correct: Some(2500),
            unsafe_images: Some(0),
            accepted: None,
            cost: 85.0,
        }],
    };
    assert!(resume(&serde_json::to_string(&foreign).unwrap()).contains("does not match"));
    let missing = cellwise()
        .args(["search", "--resume"])
        .arg(dir.path().join("nowhere"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&missing.stderr).contains("reading checkpoint"));
}
