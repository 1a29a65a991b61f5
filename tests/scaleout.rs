//! Searches spread over worker processes through a study store give the outputs of an
//! in-process run, byte for byte: with SQLite (the default store) and with PostgreSQL (when
//! `CELLWISE_TEST_POSTGRES` names a server, as `.ci/run` always does), with a worker killed
//! mid-batch, with the driver killed and restarted, and with two studies in one store. Bad
//! stores, schemas, models and batch rows end in one line and leave the store consistent.
//! Self-contained: the runs use the committed MNIST fixture.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use cellwise::data::load_fixture_splits;
use cellwise::model::Weights;
use cellwise::oracle::{Candidates, Oracle, OracleConfig, Prefixes};
use cellwise::problem::{DEFAULT_PROBLEM, Problem};
use cellwise::search::Question;
use cellwise::store::{BatchState, Store, StudySpec, pack};

const RUN_FILES: [&str; 3] = ["run.json", "schedules.csv", "pareto.csv"];

/// The binary, with a data directory that does not exist: nothing may need one.
fn cellwise(scratch: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cellwise"));
    c.env("CELLWISE_DATA_DIR", scratch.join("no-data"));
    c.env_remove("CELLWISE_WORKER_DELAY_MS");
    c
}

fn search_args(strategy: &str, budget: usize, seed: u64, out: &Path) -> Vec<String> {
    let mut args: Vec<String> = [
        "search",
        "--fixture",
        "--strategy",
        strategy,
        "--budget",
        &budget.to_string(),
        "--seed",
        &seed.to_string(),
        "--json",
        "--out",
    ]
    .map(String::from)
    .to_vec();
    args.push(out.display().to_string());
    args
}

fn ok(out: Output) -> Output {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The one line of an expected failure.
fn one_line_error(out: Output) -> String {
    assert!(!out.status.success(), "expected a failure");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.starts_with("note:")).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    lines[0].to_string()
}

fn same_outputs(a: &Path, b: &Path, what: &str) {
    for f in RUN_FILES {
        let (x, y) = (
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
        );
        assert!(x == y, "{what}: {f} differs from the in-process run");
    }
}

/// The in-process reference run.
fn reference(dir: &Path, strategy: &str, budget: usize, seed: u64) -> PathBuf {
    let out = dir.join(format!("ref-{strategy}-{seed}"));
    ok(cellwise(dir)
        .args(search_args(strategy, budget, seed, &out))
        .output()
        .unwrap());
    out
}

/// A fresh database on the test server, or `None` (with a note) when there is none.
fn postgres(db: &str) -> Option<String> {
    let Ok(url) = std::env::var("CELLWISE_TEST_POSTGRES") else {
        // CI always starts a server (.ci/run); only a local run may lack one.
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must set CELLWISE_TEST_POSTGRES (.ci/run starts a server)"
        );
        println!("note: CELLWISE_TEST_POSTGRES is not set: skipping the PostgreSQL case");
        return None;
    };
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {db}"))
        .unwrap();
    client
        .batch_execute(&format!("CREATE DATABASE {db}"))
        .unwrap();
    let base = url.rsplit_once('/').unwrap().0;
    Some(format!("{base}/{db}"))
}

fn progress(dir: &Path, store: &str, study: &str) -> serde_json::Value {
    let out = ok(cellwise(dir)
        .args([
            "study", "show", "--json", "--store", store, "--study", study,
        ])
        .output()
        .unwrap());
    serde_json::from_slice(&out.stdout).unwrap()
}

fn judgements(run: &Path) -> u64 {
    let run: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("run.json")).unwrap()).unwrap();
    run["judgements"].as_u64().unwrap()
}

#[test]
fn three_local_workers_on_sqlite_give_the_in_process_outputs() {
    let dir = tempfile::tempdir().unwrap();
    for (strategy, budget) in [
        ("genetic", 400),
        ("dfs", 400),
        ("random", 300),
        ("greedy", 200),
    ] {
        let a = reference(dir.path(), strategy, budget, 1);
        let b = dir.path().join(format!("workers-{strategy}"));
        ok(cellwise(dir.path())
            .args(search_args(strategy, budget, 1, &b))
            .args(["--workers", "3", "--study", strategy])
            .output()
            .unwrap());
        same_outputs(&a, &b, strategy);
        let store = format!("sqlite:{}", b.join("study.sqlite").display());
        let p = progress(dir.path(), &store, strategy);
        assert_eq!(p["study"]["state"], "done");
        assert_eq!(p["progress"]["workers"].as_array().unwrap().len(), 3);
        // The study keeps its run files: an export is the run directory's files.
        let c = dir.path().join(format!("export-{strategy}"));
        ok(cellwise(dir.path())
            .args([
                "study", "export", "--store", &store, "--study", strategy, "--out",
            ])
            .arg(&c)
            .output()
            .unwrap());
        same_outputs(&a, &c, "export");
    }
}

#[test]
fn three_local_workers_on_postgres_give_the_in_process_outputs() {
    let Some(url) = postgres("cellwise_test_three") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for (strategy, budget) in [("genetic", 400), ("dfs", 400)] {
        let a = reference(dir.path(), strategy, budget, 1);
        let b = dir.path().join(format!("pg-{strategy}"));
        ok(cellwise(dir.path())
            .args(search_args(strategy, budget, 1, &b))
            .args(["--workers", "3", "--store", &url, "--study", strategy])
            .output()
            .unwrap());
        same_outputs(&a, &b, strategy);
        let p = progress(dir.path(), &url, strategy);
        assert_eq!(p["study"]["state"], "done");
    }
}

/// Waits for `child` with a deadline.
fn wait(child: &mut Child, what: &str) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "{what} did not end"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The process ids of `parent`'s children.
fn children(parent: u32) -> Vec<u32> {
    let out = Command::new("ps")
        .args(["-o", "pid=", "--ppid", &parent.to_string()])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect()
}

/// The owner of a claimed batch of the store, if any (read straight from its table).
fn claimed_owner(store: &str) -> Option<String> {
    let sql = "SELECT owner FROM batches WHERE state = 'claimed' AND attempt = 1 \
               AND id > 2 ORDER BY id LIMIT 1";
    if let Some(path) = store.strip_prefix("sqlite:") {
        let db = rusqlite::Connection::open(path).ok()?;
        return db.query_row(sql, [], |r| r.get(0)).ok();
    }
    let mut client = postgres::Client::connect(store, postgres::NoTls).ok()?;
    client.query_opt(sql, &[]).ok()??.get(0)
}

fn killed_worker(store: Option<String>, tag: &str) {
    let dir = tempfile::tempdir().unwrap();
    let budget = 300;
    let a = reference(dir.path(), "genetic", budget, 3);
    let b = dir.path().join("b");
    let store =
        store.unwrap_or_else(|| format!("sqlite:{}", dir.path().join("s.sqlite").display()));
    let mut driver = cellwise(dir.path())
        .args(search_args("genetic", budget, 3, &b))
        .args(["--workers", "3", "--lease-seconds", "1", "--study", tag])
        .args(["--store", &store])
        .env("CELLWISE_WORKER_DELAY_MS", "20")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Kill the worker that holds a claimed batch (each judgement takes 20 ms, so it is
    // mid-batch), once the study has answered a few.
    let start = Instant::now();
    let victim = loop {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no batch was claimed"
        );
        if let Some(owner) = claimed_owner(&store) {
            // Local workers are named local{i}-{driver pid}, started in order.
            let i: usize = owner
                .strip_prefix("local")
                .and_then(|r| r.split('-').next())
                .and_then(|i| i.parse().ok())
                .unwrap();
            let mut workers = children(driver.id());
            workers.sort_unstable();
            assert_eq!(workers.len(), 3, "{workers:?}");
            break workers[i];
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let killed = Command::new("kill")
        .args(["-KILL", &victim.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = wait(&mut driver, "the driver");
    let mut stderr = String::new();
    std::io::Read::read_to_string(driver.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "{stderr}");
    same_outputs(&a, &b, "a worker killed mid-batch");
    let p = progress(dir.path(), &store, tag);
    let progress = &p["progress"];
    assert!(
        progress["reclaimed"].as_i64().unwrap() >= 1,
        "the killed worker held no batch: {p}"
    );
    // Nothing judged twice: every answer was written once, and the memo holds one row per
    // schedule judged (genetic evaluates each of its schedules once).
    let answered: i64 = progress["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["judgements"].as_i64().unwrap())
        .sum();
    assert_eq!(answered, progress["answered"].as_i64().unwrap());
    assert_eq!(progress["answered"].as_u64().unwrap(), judgements(&b));
    assert_eq!(p["memo"]["evaluations"].as_u64().unwrap(), judgements(&b));
}

#[test]
fn a_worker_killed_mid_batch_loses_and_duplicates_nothing() {
    killed_worker(None, "killed-worker");
    if let Some(url) = postgres("cellwise_test_killed_worker") {
        killed_worker(Some(url), "killed-worker");
    }
}

fn killed_driver(store: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let budget = 300;
    let a = reference(dir.path(), "genetic", budget, 5);
    let b = dir.path().join("b");
    let mut args = search_args("genetic", budget, 5, &b);
    args.extend(["--workers", "2"].map(String::from));
    if let Some(url) = &store {
        args.extend(["--store".to_string(), url.clone()]);
    }
    let store = store.unwrap_or_else(|| format!("sqlite:{}", b.join("study.sqlite").display()));
    let mut driver = cellwise(dir.path())
        .args(&args)
        .env("CELLWISE_WORKER_DELAY_MS", "10")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no batch was answered"
        );
        if let Ok(mut s) = Store::open(&store)
            && let Some(study) = s.studies().unwrap().first().cloned()
            && s.progress(study.id).unwrap().answered >= 60
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    driver.kill().unwrap(); // SIGKILL
    driver.wait().unwrap();
    assert!(
        !b.join("run.json").exists(),
        "the run ended before the kill"
    );
    // The same command again: the study is found by its settings and what was judged is
    // taken from the memo.
    ok(cellwise(dir.path()).args(&args).output().unwrap());
    same_outputs(&a, &b, "a driver killed and restarted");
    let mut s = Store::open(&store).unwrap();
    let studies = s.studies().unwrap();
    assert_eq!(studies.len(), 1);
    let (evaluations, _) = s.memo_rows(&studies[0].spec).unwrap();
    assert_eq!(evaluations as u64, judgements(&b));
}

#[test]
fn a_killed_driver_restarts_to_the_identical_result() {
    killed_driver(None);
    if let Some(url) = postgres("cellwise_test_killed_driver") {
        killed_driver(Some(url));
    }
}

fn two_studies(store: &str, dir: &Path) {
    let runs = [("genetic", 300, 7), ("random", 300, 8)];
    let refs: Vec<PathBuf> = runs
        .iter()
        .map(|&(s, budget, seed)| reference(dir, s, budget, seed))
        .collect();
    let mut drivers: Vec<(Child, PathBuf)> = runs
        .iter()
        .map(|&(s, budget, seed)| {
            let out = dir.join(format!("shared-{s}-{seed}"));
            let child = cellwise(dir)
                .args(search_args(s, budget, seed, &out))
                .args(["--workers", "2", "--store", store])
                .stdout(Stdio::null())
                .spawn()
                .unwrap();
            (child, out)
        })
        .collect();
    for ((child, out), reference) in drivers.iter_mut().zip(&refs) {
        assert!(wait(child, "a driver").success());
        same_outputs(reference, out, "two studies in one store");
    }
    let mut s = Store::open(store).unwrap();
    let studies = s.studies().unwrap();
    assert_eq!(studies.len(), 2);
    assert!(studies.iter().all(|s| s.state == "done"));
}

#[test]
fn two_studies_share_one_store_without_interference() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("shared.sqlite").display());
    two_studies(&store, dir.path());
    if let Some(url) = postgres("cellwise_test_two_studies") {
        two_studies(&url, dir.path());
    }
}

/// A study of the fixture's embedded model as a driver would open it, with `fingerprint`.
fn fixture_spec(name: &str, fingerprint: Option<&str>) -> (StudySpec, Oracle) {
    let problem = Problem::load(DEFAULT_PROBLEM).unwrap();
    let weights = Weights::embedded_for(&problem).unwrap();
    let splits = load_fixture_splits(&problem).unwrap();
    let candidates = Candidates::for_model(&problem, &weights, &splits.train).unwrap();
    let oracle = Oracle::new(&weights, &splits.val, &candidates, &OracleConfig::default()).unwrap();
    let spec = StudySpec {
        name: name.into(),
        problem: DEFAULT_PROBLEM.into(),
        problem_name: problem.name.clone(),
        weights: None,
        fingerprint: fingerprint.map_or_else(|| weights.fingerprint(), String::from),
        fixture: true,
        split: format!("fixture:{}/f32", oracle.split()),
        cache_stride: 2,
        memoise: true,
        slots: oracle.space().slots(),
        settings: serde_json::json!({ "strategy": "test" }),
    };
    (spec, oracle)
}

#[test]
fn bad_stores_models_and_rows_end_in_one_line_and_leave_the_store_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| cellwise(dir.path()).args(args).output().unwrap();

    // Unreachable stores.
    let line = one_line_error(run(&[
        "study",
        "list",
        "--store",
        "postgres://nobody@127.0.0.1:1/none",
    ]));
    assert!(line.contains("cannot reach the store"), "{line}");
    let missing = dir.path().join("no-such-dir").join("s.sqlite");
    let line = one_line_error(run(&[
        "worker",
        "--store",
        &format!("sqlite:{}", missing.display()),
    ]));
    assert!(line.contains("does not exist"), "{line}");
    let line = one_line_error(run(&["study", "list", "--store", "mysql://x"]));
    assert!(
        line.contains("neither sqlite:PATH nor postgres://"),
        "{line}"
    );

    // A store of a newer schema is refused untouched.
    let path = dir.path().join("newer.sqlite");
    let url = format!("sqlite:{}", path.display());
    Store::open(&url).unwrap();
    let db = rusqlite::Connection::open(&path).unwrap();
    db.execute(
        "UPDATE cellwise_meta SET value = '99' WHERE key = 'schema_version'",
        [],
    )
    .unwrap();
    let line = one_line_error(run(&["study", "list", "--store", &url]));
    assert!(line.contains("schema version 99, newer than"), "{line}");
    let version: String = db
        .query_row(
            "SELECT value FROM cellwise_meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(version, "99");

    // A worker whose model is not the study's is refused before it registers.
    let url = format!("sqlite:{}", dir.path().join("s.sqlite").display());
    let mut store = Store::open(&url).unwrap();
    let (foreign, _) = fixture_spec("foreign", Some("0123456789abcdef"));
    let study = store.open_study(&foreign).unwrap();
    let line = one_line_error(run(&["worker", "--store", &url, "--study", "foreign"]));
    assert!(line.contains("is not study foreign's"), "{line}");
    assert!(store.progress(study.id).unwrap().workers.is_empty());

    // A damaged batch row fails the batch (the driver reports it) and ends the worker in
    // one line; the driver filing the batch again repairs it.
    let (spec, oracle) = fixture_spec("damaged", None);
    let study = store.open_study(&spec).unwrap();
    let top = pack::pack(&oracle.space().top()).unwrap();
    let batch = pack::pack_batch(&[(top, Question::Evaluate, Prefixes::Keep)]).unwrap();
    let id = store.enqueue(study.id, &batch).unwrap();
    let db = rusqlite::Connection::open(dir.path().join("s.sqlite")).unwrap();
    db.execute(
        "UPDATE batches SET items = '[{\"s\":\"zz\",\"k\":true}]' WHERE id = ?1",
        [id],
    )
    .unwrap();
    let line = one_line_error(run(&["worker", "--store", &url, "--study", "damaged"]));
    assert!(line.contains("damaged"), "{line}");
    assert!(
        matches!(store.batch_state(id).unwrap(), BatchState::Failed(ref why) if why.contains("digest")),
    );
    assert_eq!(store.enqueue(study.id, &batch).unwrap(), id);
    assert_eq!(store.batch_state(id).unwrap(), BatchState::Waiting);
    let out = ok(run(&[
        "worker",
        "--store",
        &url,
        "--study",
        "damaged",
        "--idle-exit",
        "0.5",
    ]));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 batches, 1 judgements"));
    match store.batch_state(id).unwrap() {
        BatchState::Done(replies, _) => {
            let answer = pack::answer(&replies[0]).unwrap();
            let e = oracle.evaluate(&oracle.space().top()).unwrap();
            assert_eq!(
                answer,
                cellwise::search::Answer::Evaluated(pack::judged(
                    e.correct,
                    e.total,
                    e.unsafe_images.len()
                ))
            );
        }
        other => panic!("{other:?}"),
    }
}
