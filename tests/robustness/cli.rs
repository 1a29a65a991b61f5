//! Command-line cases: output streams, flags, presets, run directories, checkpoints.
//!
//! Every case runs the binary (`CARGO_BIN_EXE_cellwise`) in a scratch directory, with a data
//! directory that does not exist: searches use the committed fixture (`--fixture`), and
//! nothing here needs the network. The parsers of untrusted bytes (IDX files, checkpoints,
//! strategy presets, schedules, problem presets) are also fuzzed with proptest at the end;
//! the case counts there are chosen so that the whole module runs in seconds.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use cellwise::data::idx::{IdxArray, MAX_IDX_DATA_BYTES, encode_idx, parse_idx, read_idx};
use cellwise::report::LOCK_FILE;
use cellwise::search::{Checkpoint, MAX_CHECKPOINT_BYTES, MAX_PRESET_BYTES, StrategyConfig};
use proptest::prelude::*;

/// A scratch directory the binary runs in (so a default `--out` lands there), and its
/// (absent) data directory.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn join(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_cellwise"));
        c.args(args)
            .current_dir(self.path())
            .env("CELLWISE_DATA_DIR", self.join("no-data"))
            .env_remove("RUST_BACKTRACE");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("the binary runs")
    }

    /// Asserts a failure with one line on stderr, `error: ` and `needle` in it; returns it.
    fn fails_with(&self, args: &[&str], needle: &str) -> String {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "{args:?} succeeded: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains(needle),
            "{args:?}: {stderr}"
        );
        stderr
    }
}

/// A short search on the fixture into `out`.
fn fixture_search<'a>(out: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "search",
        "--fixture",
        "--strategy",
        "greedy",
        "--budget",
        "20",
        "--out",
        out,
    ];
    args.extend_from_slice(more);
    args
}

// ---- 1. stdout closed or full ---------------------------------------------------------

/// Runs `args` with stdout a pipe whose reading end is already closed (`cellwise ... | true`
/// where `true` has exited): the first write fails with EPIPE.
fn with_closed_stdout(s: &Scratch, args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    s.command(args)
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

#[test]
fn closed_stdout_ends_quietly() {
    let s = Scratch::new();
    let out = s.join("run").to_string_lossy().into_owned();
    let search = fixture_search(&out, &["--json"]);
    let cases: Vec<&[&str]> = vec![
        &["approx", "--json"],
        &["approx"],
        &["cost", "--schedule", "all-17"],
        &["cost", "--report"],
        &search,
    ];
    for args in cases {
        let o = with_closed_stdout(&s, args);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{args:?}: {:?} {stderr}", o.status);
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
    // `cellwise eval --split val | true`, on the committed fixture.
    let o = with_closed_stdout(&s, &["eval", "--fixture", "--split", "val"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success() && stderr.is_empty(),
        "{:?} {stderr}",
        o.status
    );
}

#[test]
fn full_stdout_is_a_one_line_error() {
    let s = Scratch::new();
    let out = s.join("run").to_string_lossy().into_owned();
    let search = fixture_search(&out, &[]);
    let cases: Vec<&[&str]> = vec![
        &["approx", "--json"],
        &["cost", "--schedule", "all-17", "--json"],
        &["eval", "--fixture", "--split", "val"],
        &search,
    ];
    for args in cases {
        let o = s
            .command(args)
            .stdout(File::create("/dev/full").unwrap())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {stderr}");
        assert_eq!(
            stderr, "error: writing to stdout: No space left on device (os error 28)\n",
            "{args:?}"
        );
    }
}

// ---- 2. bench repetitions -------------------------------------------------------------

#[test]
fn bench_repetitions_are_bounded() {
    let s = Scratch::new();
    s.fails_with(
        &["bench", "oracle", "--repeats", "0"],
        "--repeats 0 is out of range: give 1 to 1000 timed repetitions",
    );
    s.fails_with(
        &["bench", "oracle", "--repeats", "18446744073709551615"],
        "--repeats 18446744073709551615 is out of range",
    );
    s.fails_with(
        &["bench", "oracle", "--dfs-judgements", "0"],
        "--dfs-judgements 0 is out of range",
    );
    // Problems are checked before the data is looked at.
    s.fails_with(
        &[
            "bench",
            "oracle",
            "--problem",
            "mnist-gru32",
            "--problem",
            "nope",
        ],
        "unknown problem preset 'nope'",
    );
}

// ---- 3. levels between bootstraps -----------------------------------------------------

#[test]
fn levels_are_bounded_before_any_work() {
    let s = Scratch::new();
    let start = Instant::now();
    for levels in ["0", "256", "5000", "1000000000000"] {
        for model in ["depth", "bootstraps", "latency"] {
            s.fails_with(
                &[
                    "cost",
                    "--schedule",
                    "all-17",
                    "--model",
                    model,
                    "--levels",
                    levels,
                ],
                &format!(
                    "--levels {levels} is out of range: levels between bootstraps must be 1 to 100"
                ),
            );
        }
    }
    // A profile that claims 1000 levels.
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/cellwise-fgb-like.json");
    let mut profile: serde_json::Value =
        serde_json::from_slice(&std::fs::read(shipped).unwrap()).unwrap();
    profile["params"]["levels"] = 1000.into();
    let path = s.join("levels-1000.json");
    std::fs::write(&path, profile.to_string()).unwrap();
    let path = path.to_string_lossy();
    s.fails_with(
        &["cost", "--schedule", "all-17", "--profile", &path],
        "params.levels 1000 is out of range (1 to 100)",
    );
    s.fails_with(
        &[
            "search",
            "--fixture",
            "--cost",
            &format!("latency:{path}"),
            "--out",
            "run",
        ],
        "params.levels 1000 is out of range (1 to 100)",
    );
    // Refused before planning: --levels 5000 used to plan for minutes.
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "{:?}",
        start.elapsed()
    );
    // The bound itself still prices.
    let o = s.run(&[
        "cost",
        "--schedule",
        "all-17",
        "--model",
        "depth",
        "--levels",
        "100",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

// ---- 4. checkpoints -------------------------------------------------------------------

/// A genuine checkpoint of 40 judgements of anneal on the fixture (as `cellwise search
/// --fixture --strategy anneal --budget 60` writes it), in `dir/checkpoint.json`.
fn write_checkpoint(dir: &Path) -> Checkpoint {
    use cellwise::data::load_fixture_splits;
    use cellwise::model::Weights;
    use cellwise::oracle::{Candidates, Oracle, OracleConfig};
    use cellwise::problem::{DEFAULT_PROBLEM, Problem};
    use cellwise::search::{Constraints, SearchContext};

    let problem = Problem::load(DEFAULT_PROBLEM).unwrap();
    let splits = load_fixture_splits(&problem).unwrap();
    let weights = Weights::embedded_default();
    let candidates = Candidates::for_model(&problem, &weights, &splits.train).unwrap();
    let oracle = Oracle::new(&weights, &splits.val, &candidates, &OracleConfig::default()).unwrap();
    let cost = cellwise::cost::by_name("depth", &problem).unwrap();
    let constraints = Constraints {
        min_accuracy: 0.0,
        max_cost: f64::INFINITY,
        batch_safe: false,
    };
    let mut ctx = SearchContext::new(&problem, &oracle, cost.as_ref(), constraints, 40, 1).unwrap();
    let header = serde_json::json!({"strategy": "anneal", "problem": "mnist-rnn32",
        "weights": null, "budget": 60, "cost": "depth", "min_accuracy": 0.0,
        "max_cost": null, "batch_safe": false, "seed": 1, "fixture": true});
    let path = dir.join("checkpoint.json");
    ctx.checkpoint_every(path.clone(), 40, header);
    ctx.run(StrategyConfig::load("anneal").unwrap().build().as_mut())
        .unwrap();
    Checkpoint::read(&path).unwrap()
}

#[test]
fn edited_checkpoints_are_refused() {
    let s = Scratch::new();
    let dir = s.join("run");
    std::fs::create_dir(&dir).unwrap();
    let cp = write_checkpoint(&dir);
    assert_eq!(cp.records.len(), 40);
    let path = dir.join("checkpoint.json");
    let dir_arg = dir.to_string_lossy().into_owned();
    let resume = ["search", "--resume", dir_arg.as_str()];
    let text = std::fs::read_to_string(&path).unwrap();

    // One accuracy edited in the file (the issue's 0.257 -> 0.99): the digest fails.
    let first = cp.records[0].accuracy.unwrap();
    let needle = format!("\"accuracy\":{first}");
    assert!(text.contains(&needle), "{needle}");
    std::fs::write(&path, text.replacen(&needle, "\"accuracy\":0.99", 1)).unwrap();
    s.fails_with(
        &resume,
        "fails its SHA-256 check: its settings or judgements were changed after it was written",
    );
    // The settings too.
    std::fs::write(&path, text.replacen("\"budget\":60", "\"budget\":61", 1)).unwrap();
    s.fails_with(&resume, "fails its SHA-256 check");

    // Forged with a recomputed digest: an accuracy that does not match its count ...
    let mut forged = cp.clone();
    forged.records[0].accuracy = Some(0.99);
    let reseal = |c: &Checkpoint| {
        let c = Checkpoint::new(c.header.clone(), c.records.clone()).unwrap();
        std::fs::write(&path, serde_json::to_vec(&c).unwrap()).unwrap();
    };
    reseal(&forged);
    s.fails_with(
        &resume,
        "the checkpoint's judgement 0 (`all-17`) records accuracy 0.99 with",
    );
    // ... a consistent but false one, which the oracle re-judges ...
    forged.records[0].correct = Some(99);
    reseal(&forged);
    s.fails_with(
        &resume,
        "the checkpoint's judgement 0 (`all-17`) records 99 right and 0 unsafe, re-judged",
    );
    // ... and a false cost.
    let mut forged = cp.clone();
    forged.records[5].cost -= 10.0;
    reseal(&forged);
    s.fails_with(&resume, "but the cost model gives");

    // The genuine checkpoint resumes.
    reseal(&cp);
    let o = s.run(&resume);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(dir.join("pareto.csv").exists());
}

#[test]
fn oversized_checkpoints_and_presets_are_refused_unread() {
    let s = Scratch::new();
    let dir = s.join("run");
    std::fs::create_dir(&dir).unwrap();
    // Sparse files: their length is all that is looked at.
    File::create(dir.join("checkpoint.json"))
        .unwrap()
        .set_len(MAX_CHECKPOINT_BYTES + 1)
        .unwrap();
    s.fails_with(
        &["search", "--resume", &dir.to_string_lossy()],
        "more than the 1073741824 a checkpoint may have",
    );
    let preset = s.join("big.toml");
    File::create(&preset)
        .unwrap()
        .set_len(MAX_PRESET_BYTES + 1)
        .unwrap();
    s.fails_with(
        &["search", "--strategy", &preset.to_string_lossy()],
        "larger than the 65536 bytes a preset may have",
    );
}

// ---- 5. strategy presets and limits ---------------------------------------------------

#[test]
fn strategy_settings_and_limits_are_validated() {
    let s = Scratch::new();
    let cases = [
        (
            "strategy = \"anneal\"\ninitial_temperature = 4.0\nfinal_temperature = 0.05\npenalty_per_point = inf\n",
            "penalty_per_point = inf must be a finite number in [0, 1e9]",
        ),
        (
            "strategy = \"anneal\"\ninitial_temperature = nan\nfinal_temperature = 0.05\npenalty_per_point = 2.0\n",
            "initial_temperature = NaN must be a finite number in (0, 1e9]",
        ),
        (
            "strategy = \"anneal\"\ninitial_temperature = 1.0\nfinal_temperature = 2.0\npenalty_per_point = 2.0\n",
            "final_temperature = 2 must not exceed initial_temperature = 1",
        ),
        (
            "strategy = \"dfs\"\ntolerance = { points = 2.0 }\nanchor = \"parent\"\nfloor = -inf\n",
            "floor = -inf must be an accuracy in [0, 1]",
        ),
        (
            "strategy = \"dfs\"\ntolerance = { percent = 150.0 }\nanchor = \"parent\"\nfloor = 0.0\n",
            "tolerance = { percent = 150 } must be a number in [0, 100]",
        ),
        (
            "strategy = \"dfs\"\ntolerance = { points = 2.0 }\nanchor = \"parent\"\nfloor = 0.0\nmax_replacements = 0\n",
            "max_replacements = 0 must be in 1..=100000 (leave it out for no cap)",
        ),
        (
            "strategy = \"genetic\"\npopulation = 20\nstop = { generations = 10000000 }\nstall_generations = 50\ninitial_samples = 200\ntournament = 3\ncrossover = 0.5\nmutate_down = 0.5\nmutate_up = 0.3\n",
            "stop = { generations = 10000000 } must be in 0..=1000000",
        ),
        (
            "strategy = \"genetic\"\npopulation = 1000000000000\nstop = \"budget\"\nstall_generations = 50\ninitial_samples = 200\ntournament = 3\ncrossover = 0.5\nmutate_down = 0.5\nmutate_up = 0.3\n",
            "population = 1000000000000 must be in 2..=10000",
        ),
        (
            "strategy = \"genetic\"\npopulation = 20\nstop = \"budget\"\nstall_generations = 50\ninitial_samples = 200\ntournament = 3\ncrossover = nan\nmutate_down = 0.5\nmutate_up = 0.3\n",
            "crossover = NaN must be a probability in [0, 1]",
        ),
        (
            "strategy = \"dp\"\nresolution = 0\nbudgets = 12\ntighten_steps = 6\n",
            "resolution = 0 must be in 1..=100000",
        ),
    ];
    for (i, (toml, message)) in cases.iter().enumerate() {
        let path = s.join(&format!("preset-{i}.toml"));
        std::fs::write(&path, toml).unwrap();
        let path = path.to_string_lossy().into_owned();
        let err = s.fails_with(
            &["search", "--fixture", "--strategy", &path, "--out", "run"],
            message,
        );
        assert!(err.contains(&format!("strategy preset {path}: ")), "{err}");
        s.fails_with(
            &[
                "compare",
                "--strategies",
                &format!("dfs,{path}"),
                "--out",
                "cmp",
            ],
            message,
        );
    }
    // Nothing was created for the refused runs.
    assert!(!s.join("run").exists() && !s.join("cmp").exists());

    s.fails_with(
        &["search", "--fixture", "--max-cost", "NaN"],
        "--max-cost NaN is not a cost limit: give a positive number, or inf for no limit",
    );
    s.fails_with(
        &["search", "--fixture", "--max-cost=-inf"],
        "--max-cost -inf is not a cost limit",
    );
    s.fails_with(
        &["search", "--fixture", "--max-cost", "0"],
        "--max-cost 0 is not a cost limit",
    );
    s.fails_with(
        &["search", "--fixture", "--max-cost", "cheap"],
        "invalid value 'cheap' for '--max-cost <MAX_COST>'",
    );
    s.fails_with(
        &["search", "--fixture", "--min-accuracy", "NaN"],
        "--min-accuracy NaN is not an accuracy: give a number in [0, 1]",
    );
    s.fails_with(
        &["search", "--fixture", "--min-accuracy", "-0.5"],
        "--min-accuracy -0.5 is not an accuracy",
    );
    s.fails_with(
        &["compare", "--min-accuracy", "NaN"],
        "--min-accuracy NaN is not an accuracy",
    );
}

// ---- 6. run-directory locks -----------------------------------------------------------

#[test]
fn a_locked_run_directory_is_refused() {
    let s = Scratch::new();
    let dir = s.join("run");
    std::fs::create_dir(&dir).unwrap();
    // This test process plays the running owner: its pid in the file, the lock held.
    let lock = File::create(dir.join(LOCK_FILE)).unwrap();
    lock.try_lock().unwrap();
    std::fs::write(dir.join(LOCK_FILE), format!("{}\n", std::process::id())).unwrap();
    let out = dir.to_string_lossy().into_owned();
    let expected = format!(
        "run directory {out} is in use by another cellwise run (pid {}); wait for it to finish or choose another directory",
        std::process::id()
    );
    s.fails_with(&fixture_search(&out, &[]), &expected);
    s.fails_with(&["compare", "--out", &out], &expected);
    assert!(!dir.join("run.json").exists());
    drop(lock);
}

#[test]
fn a_stale_lock_is_taken_over_with_a_note() {
    let s = Scratch::new();
    let dir = s.join("run");
    std::fs::create_dir(&dir).unwrap();
    // A pid that has certainly ended: a child that was waited for.
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    std::fs::write(dir.join(LOCK_FILE), format!("{dead}\n")).unwrap();
    let out = dir.to_string_lossy().into_owned();
    let o = s.run(&fixture_search(&out, &[]));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert_eq!(
        stderr.trim(),
        format!(
            "note: run directory {out} was locked by pid {dead}, which ended without releasing it; taking the lock over"
        )
    );
    assert!(dir.join("run.json").exists());
    assert!(
        !dir.join(LOCK_FILE).exists(),
        "the lock is removed at the end"
    );
    // A second run finds no lock and says nothing.
    let o = s.run(&fixture_search(&out, &[]));
    assert!(o.status.success() && o.stderr.is_empty());
}

// ---- 7. problem presets, schedules, sizes and the cost of weighted fits ---------------

/// The default preset with `from` replaced by `to`, written into the scratch directory.
fn edited_problem(s: &Scratch, name: &str, from: &str, to: &str) -> String {
    let text = include_str!("../../problems/mnist-rnn32.toml");
    assert!(text.contains(from), "{from}");
    let path = s.join(name);
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn problem_presets_are_validated_before_any_work() {
    let s = Scratch::new();
    let start = Instant::now();
    let cases = [
        // The issue's three-element interval, read as [-8, 0] before.
        (
            "interval = [-8.0, 8.0]",
            "interval = [-8.0, 0.0, 8.0]",
            "approximation.interval must be [lo, hi], two numbers; it has 3 elements",
        ),
        // Extra elements of another type.
        (
            "interval = [-8.0, 8.0]",
            "interval = [-8.0, 8.0, \"x\"]",
            "invalid type: string \"x\", expected f64 (line 30)",
        ),
        // Finite in f64, but the f32 oracle loses it (100 % out of domain before).
        (
            "interval = [-8.0, 8.0]",
            "interval = [-1e300, 1e300]",
            "approximation.interval [-1e300, 1e300] reaches beyond +-1e6, where the f32 oracle loses the interval",
        ),
        (
            "degrees = [3, 7, 17]",
            "degrees = [3, 3, 3]",
            "slot h: degrees [3, 3, 3] list a degree twice",
        ),
        (
            "degrees = [3, 7, 17]",
            "degrees = [3, 7, 1000]",
            "slot h: degrees [3, 7, 1000] must be a non-empty list of degrees in 1..=255",
        ),
        // Sizes that sized arrays before anything checked them (train aborted allocating).
        (
            "hidden = 32",
            "hidden = 1000000000",
            "hidden 1000000000 must be in 1..=1024",
        ),
        (
            "classes = 10",
            "classes = 5",
            "classes 5 must be in 10..=1024 (mnist's labels are 0 to 9)",
        ),
    ];
    for (i, (from, to, message)) in cases.iter().enumerate() {
        let path = edited_problem(&s, &format!("problem-{i}.toml"), from, to);
        for command in ["eval", "train", "cost"] {
            let mut args = vec![command, "--problem", path.as_str()];
            if command == "cost" {
                args.extend(["--schedule", "all-17"]);
            }
            s.fails_with(&args, message);
        }
    }
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn a_step_set_twice_is_refused() {
    let s = Scratch::new();
    for command in ["eval", "cost"] {
        s.fails_with(
            &[command, "--schedule", "17 except 7@1 3@1"],
            "schedule: bad token '1' at position 16: slot h at step 1 is set twice",
        );
    }
}

#[test]
fn thread_counts_are_bounded() {
    let s = Scratch::new();
    for args in [
        &["search", "--fixture", "--threads", "100000", "--out", "run"][..],
        &["compare", "--threads", "100000", "--out", "cmp"],
        &[
            "infer",
            "--encrypted",
            "--schedule",
            "all-17",
            "--threads",
            "100000",
        ],
    ] {
        s.fails_with(
            args,
            "--threads 100000 is out of range: give 1 to 1024 worker threads",
        );
    }
    s.fails_with(
        &["ckks", "profile", "--threads", "100000"],
        "--threads 100000: must be between 1 and 1024",
    );
}

#[test]
fn weighted_problems_are_priced_with_their_fits() {
    use cellwise::cost::{CostOptions, for_candidates};
    use cellwise::data::load_fixture_splits;
    use cellwise::model::Weights;
    use cellwise::oracle::Candidates;
    use cellwise::problem::Problem;
    use cellwise::schedule::Schedule;

    let s = Scratch::new();
    let text = "17 except 7@0,1,2,3";
    let out = s.run(&[
        "cost",
        "--problem",
        "mnist-rnn32-safe",
        "--fixture",
        "--model",
        "latency",
        "--schedule",
        text,
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The library's model with the fixture's fits: the same breakdown.
    let problem = Problem::load("mnist-rnn32-safe").unwrap();
    let splits = load_fixture_splits(&problem).unwrap();
    let weights = Weights::embedded_for(&problem).unwrap();
    let candidates = Candidates::for_model(&problem, &weights, &splits.train).unwrap();
    let model = for_candidates("latency", &problem, &candidates, &CostOptions::default()).unwrap();
    let schedule = Schedule::parse(text, problem.shape()).unwrap();
    let expected = serde_json::to_value(model.breakdown(&schedule).unwrap()).unwrap();
    assert_eq!(got, expected);
    // Its polynomials have even terms: the primitives show their constant products.
    let even = got["steps"][5]["primitives"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["op"] == "add_const")
        .count();
    assert!(even >= 3, "{}", got["steps"][5]);
    // The gated cells' step-graph depth needs no fits, hence no data.
    let o = s.run(&[
        "cost",
        "--problem",
        "mnist-gru32-safe",
        "--model",
        "depth",
        "--schedule",
        "all-17",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

// ---- 8. messages ----------------------------------------------------------------------

#[test]
fn messages_say_what_is_wrong_once() {
    let s = Scratch::new();
    // An OS error printed once, not once per link of the chain.
    let err = s.fails_with(
        &["cost", "--schedule", "all-17", "--profile", "/"],
        "reading profile /: Is a directory (os error 21)",
    );
    assert_eq!(err.matches("os error 21").count(), 1, "{err}");

    // A data directory that is a file.
    let file = s.join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let file = file.to_string_lossy().into_owned();
    s.fails_with(
        &["eval", "--data-dir", &file],
        &format!(
            "problem mnist-rnn32: data set mnist in data directory {file}: {file} is not a directory (the data directory must be a directory for the data files)"
        ),
    );
    s.fails_with(&["fetch", "--data-dir", &file], "is not a directory");

    // A failed export leaves no temporaries.
    std::fs::create_dir(s.join("w.npz")).unwrap();
    s.fails_with(
        &["export", "--out", "w"],
        "exporting to w: w.npz: is a directory; write to a regular file instead",
    );
    let left: Vec<String> = std::fs::read_dir(s.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");

    // A truncated .npy inside an .npz: said so, not "incorrect descriptor ('<f4')".
    let cut = |name: &str, keep: &dyn Fn(usize) -> usize| -> String {
        use std::io::{Cursor, Read, Write};
        let stem = s.join("whole");
        cellwise::model::save_weights(&cellwise::model::Weights::embedded_default(), &stem)
            .unwrap();
        let bytes = std::fs::read(stem.with_extension("npz")).unwrap();
        let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for i in 0..zip.len() {
            let mut f = zip.by_index(i).unwrap();
            let mut data = Vec::new();
            f.read_to_end(&mut data).unwrap();
            if f.name() == "kernel.npy" {
                data.truncate(keep(data.len()));
            }
            out.start_file(f.name(), stored).unwrap();
            out.write_all(&data).unwrap();
        }
        let path = s.join(name);
        std::fs::write(&path, out.finish().unwrap().into_inner()).unwrap();
        path.to_string_lossy().into_owned()
    };
    let short = cut("short.npz", &|n| n - 8);
    s.fails_with(
        &["eval", "--weights", &short],
        "array 'kernel' is truncated or corrupt: shape [28, 32] needs 3584 data bytes, the file has 3576",
    );
    let header = cut("header.npz", &|_| 30);
    s.fails_with(
        &["eval", "--weights", &header],
        "array 'kernel' is truncated or corrupt (header cut short)",
    );

    s.fails_with(
        &["approx", "--method", "weighted"],
        "fit method 'weighted' needs a problem's measured histogram of pre-activations and is not available in `cellwise approx`",
    );
}

// ---- 9. README ------------------------------------------------------------------------

#[test]
fn the_readme_states_each_embedded_models_parameter_count() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    for name in ["mnist-rnn32", "mnist-gru32", "mnist-lstm32", "mnist-gru64"] {
        let record: serde_json::Value = serde_json::from_slice(
            &std::fs::read(root.join(format!("models/{name}.json"))).unwrap(),
        )
        .unwrap();
        let n = record["parameters"].as_u64().unwrap();
        let with_commas = format!("{},{:03}", n / 1000, n % 1000);
        assert!(
            readme.contains(&format!("`models/{name}.safetensors` ({with_commas}")),
            "README does not state {with_commas} parameters for {name}"
        );
    }
}

// ---- 10. parsers of untrusted bytes ---------------------------------------------------

/// IDX bytes: a header of `rank` dimensions followed by `data`.
fn idx_bytes(kind: u8, rank: u8, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, kind, rank];
    for d in dims {
        b.extend_from_slice(&d.to_be_bytes());
    }
    b.extend_from_slice(data);
    b
}

#[test]
fn a_forged_idx_header_is_refused_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    // 65536 x 65536 x 1 bytes announced (4 GiB), and a sparse file that long: refused by the
    // bound without reading (or allocating) the data.
    let path = dir.path().join("big.idx");
    let header = idx_bytes(8, 3, &[65536, 65536, 1], &[]);
    std::fs::write(&path, &header).unwrap();
    File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(header.len() as u64 + (1u64 << 32))
        .unwrap();
    let err = read_idx(&path, 3).unwrap_err().to_string();
    assert!(
        err.contains(&format!("more than the {MAX_IDX_DATA_BYTES} data bytes")),
        "{err}"
    );
    // Within the bound but longer than the file: refused by the file's length.
    std::fs::write(&path, idx_bytes(8, 3, &[1000, 28, 28], &[0; 10])).unwrap();
    let err = read_idx(&path, 3).unwrap_err().to_string();
    assert!(
        err.contains("need 784000 data bytes but the file has 10"),
        "{err}"
    );
}

proptest! {
    // 512 cases of at most 64 bytes: a few milliseconds.
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Arbitrary bytes: an error or an array whose data is exactly what its header says,
    /// never more than the input.
    #[test]
    fn idx_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64), rank in 0usize..5) {
        if let Ok(a) = parse_idx(&bytes, rank) {
            prop_assert_eq!(a.dims.len(), rank);
            prop_assert_eq!(a.data.len(), a.dims.iter().product::<usize>());
            prop_assert!(a.data.len() <= bytes.len());
        }
    }
}

proptest! {
    // 256 cases, each writing and reading a file of at most a few hundred bytes.
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A valid file with arbitrary header fields and a few bytes flipped or cut, read from
    /// disk: an error, or exactly the announced data.
    #[test]
    fn mutated_idx_files_never_panic(
        dims in prop::collection::vec(0u32..8, 3),
        huge in prop::option::of((0usize..3, any::<u32>())),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        cut in prop::option::of(any::<prop::sample::Index>()),
    ) {
        let n: usize = dims.iter().map(|&d| d as usize).product();
        let mut dims = dims;
        if let Some((i, d)) = huge {
            dims[i] = d;
        }
        let mut bytes = encode_idx(&IdxArray {
            dims: vec![0; 3],
            data: vec![],
        });
        bytes.truncate(4);
        for d in &dims {
            bytes.extend_from_slice(&d.to_be_bytes());
        }
        bytes.extend(std::iter::repeat_n(7u8, n));
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        if let Some(at) = cut {
            let len = at.index(bytes.len() + 1);
            bytes.truncate(len);
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.idx");
        std::fs::write(&path, &bytes).unwrap();
        let from_file = read_idx(&path, 3);
        let from_bytes = parse_idx(&bytes, 3);
        prop_assert_eq!(from_file.is_ok(), from_bytes.is_ok());
        if let Ok(a) = from_file {
            prop_assert_eq!(a.data.len(), a.dims.iter().product::<usize>());
            prop_assert!(a.data.len() <= MAX_IDX_DATA_BYTES);
        }
    }
}

/// A small sealed checkpoint (no oracle needed: the records are only parsed).
fn sample_checkpoint() -> Vec<u8> {
    use cellwise::schedule::{Approx, Schedule};
    use cellwise::search::Record;
    let all17 = Schedule::uniform(28, Approx::Degree(17));
    let records = vec![
        Record {
            index: 0,
            schedule: all17.clone(),
            accuracy: Some(0.93),
            correct: Some(93),
            unsafe_images: Some(0),
            accepted: None,
            cost: 169.0,
        },
        Record {
            index: 1,
            schedule: all17.with_entry(3, Approx::Degree(7)),
            accuracy: None,
            correct: None,
            unsafe_images: None,
            accepted: Some(true),
            cost: 167.0,
        },
    ];
    let cp = Checkpoint::new(serde_json::json!({"strategy": "dfs", "seed": 1}), records).unwrap();
    serde_json::to_vec(&cp).unwrap()
}

proptest! {
    // 256 cases of each kind, on inputs of at most a few kilobytes: well under a second.
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary bytes are never a checkpoint, and never a panic.
    #[test]
    fn checkpoint_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        prop_assert!(Checkpoint::from_json(&bytes, "fuzz").is_err());
    }

    /// A sealed checkpoint with a byte changed, inserted or removed: refused in one line,
    /// unless the change left the content the same (white space, say); then it verifies.
    #[test]
    fn mutated_checkpoints_are_refused_or_unchanged(
        at in any::<prop::sample::Index>(),
        op in 0u8..3,
        value in any::<u8>(),
    ) {
        let good = sample_checkpoint();
        let original = Checkpoint::from_json(&good, "good").unwrap();
        let mut bytes = good.clone();
        let i = at.index(bytes.len());
        match op {
            0 => bytes[i] = value,
            1 => bytes.insert(i, value),
            _ => { bytes.remove(i); }
        }
        match Checkpoint::from_json(&bytes, "fuzz") {
            Ok(cp) => {
                prop_assert_eq!(cp.digest, original.digest);
                prop_assert_eq!(
                    serde_json::to_string(&cp.records).unwrap(),
                    serde_json::to_string(&original.records).unwrap()
                );
            }
            Err(e) => prop_assert_eq!(e.to_string().lines().count(), 1),
        }
    }

    /// Arbitrary text is a preset only if it validates.
    #[test]
    fn preset_text_never_panics(text in "\\PC{0,200}") {
        if let Ok(c) = StrategyConfig::from_toml("fuzz", &text) {
            prop_assert!(c.validate().is_ok());
        }
    }

    /// Every numeric setting of every preset, set to hostile numbers: loaded only when every
    /// value is finite and in range, otherwise one line naming the setting.
    #[test]
    fn preset_numbers_are_checked(
        preset in 0usize..4,
        numbers in prop::collection::vec(hostile_number(), 10),
    ) {
        let (strategy, keys): (&str, &[&str]) = [
            ("anneal", &["initial_temperature", "final_temperature", "penalty_per_point"][..]),
            ("dfs", &["tolerance.points", "floor", "max_replacements"][..]),
            ("dp", &["resolution", "budgets", "tighten_steps"][..]),
            ("genetic", &["population", "stop.generations", "stall_generations", "initial_samples", "tournament", "crossover", "mutate_down", "mutate_up", "mutant_share", "mutant_positions"][..]),
        ][preset];
        let mut text = format!("strategy = \"{strategy}\"\n");
        if strategy == "dfs" {
            text.push_str("anchor = \"parent\"\n");
        }
        for (key, value) in keys.iter().zip(&numbers) {
            text.push_str(&format!("{key} = {value}\n"));
        }
        match StrategyConfig::from_toml("fuzz", &text) {
            Ok(c) => {
                prop_assert!(c.validate().is_ok());
                let v = serde_json::to_value(&c).unwrap();
                for key in keys {
                    // Dotted keys are nested tables (`tolerance.points = 2` is
                    // `tolerance = { points = 2 }`).
                    let x = v.pointer(&format!("/{}", key.replace('.', "/"))).and_then(|x| x.as_f64()).unwrap();
                    prop_assert!((0.0..=1e12).contains(&x), "{} = {}", key, x);
                }
            }
            Err(e) => {
                let e = e.to_string();
                prop_assert_eq!(e.lines().count(), 1);
                prop_assert!(e.starts_with("strategy preset fuzz: "), "{}", e);
            }
        }
    }
}

/// TOML numbers a hostile preset might hold: specials, extremes, negatives, plain values.
fn hostile_number() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("nan".to_string()),
        Just("inf".to_string()),
        Just("-inf".to_string()),
        Just("1e308".to_string()),
        Just("-1".to_string()),
        Just("0".to_string()),
        Just("9223372036854775807".to_string()),
        (0u32..300).prop_map(|n| n.to_string()),
        (0.0f64..2.0).prop_map(|x| format!("{x:?}")),
    ]
}

/// Pieces of the schedule grammar, hostile numbers among them.
fn schedule_token() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "all-", " except ", "except", " ", "@", ",", "-", ":", ";", "exact", "h", "z", "r",
            "n", "i", "f", "g", "o", "c", "q",
        ])
        .prop_map(str::to_string),
        (0u32..40).prop_map(|n| n.to_string()),
        prop::sample::select(vec![
            "18446744073709551615",
            "18446744073709551616",
            "99999999999999999999999",
        ])
        .prop_map(str::to_string),
    ]
}

proptest! {
    // 1,024 cases of a few dozen bytes each, then 512: milliseconds.
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Schedule text built from the grammar's own tokens, for every cell: one line of
    /// error, or a schedule of exactly the problem's shape.
    #[test]
    fn schedule_text_never_panics(
        tokens in prop::collection::vec(schedule_token(), 0..14),
        cell in 0usize..3,
        steps in 1usize..30,
    ) {
        use cellwise::recurrence::CellKind;
        use cellwise::schedule::{Schedule, Shape};
        let cell = [CellKind::SimpleRnn, CellKind::Gru, CellKind::Lstm][cell];
        let text = tokens.concat();
        match Schedule::parse(&text, Shape { cell, steps }) {
            Ok(s) => {
                prop_assert_eq!(s.steps(), steps);
                prop_assert_eq!(s.slots(), cell.cell().slots.len());
            }
            Err(e) => prop_assert_eq!(e.to_string().lines().count(), 1),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Arbitrary text is a schedule or one line of error.
    #[test]
    fn arbitrary_schedule_text_never_panics(text in "\\PC{0,80}") {
        use cellwise::schedule::Schedule;
        if let Err(e) = Schedule::parse(&text, 28) {
            prop_assert_eq!(e.to_string().lines().count(), 1);
        }
    }

    /// A schedule's JSON (the form checkpoints hold) with hostile sizes and arbitrary
    /// entries: a schedule whose entries fill whole steps, or an error.
    #[test]
    fn schedule_json_never_panics(
        slots in prop_oneof![Just("0".to_string()), Just("18446744073709551615".to_string()), (1u32..6).prop_map(|n| n.to_string())],
        entries in prop::collection::vec(prop_oneof![Just("\"exact\"".to_string()), Just("{\"degree\":17}".to_string()), Just("17".to_string()), Just("null".to_string()), Just("-1".to_string())], 0..12),
        cells in any::<bool>(),
    ) {
        use cellwise::schedule::Schedule;
        let list = entries.join(",");
        let json = if cells {
            format!("{{\"cells\":[{list}]}}")
        } else {
            format!("{{\"slots\":{slots},\"entries\":[{list}]}}")
        };
        if let Ok(s) = serde_json::from_str::<Schedule>(&json) {
            prop_assert!(s.slots() >= 1);
            prop_assert_eq!(s.entries().len() % s.slots(), 0);
        }
    }

    /// Arbitrary text is a problem preset only if it validates, and never a panic.
    #[test]
    fn problem_text_never_panics(text in "\\PC{0,200}") {
        use cellwise::problem::Problem;
        if let Err(e) = Problem::from_toml("fuzz", &text) {
            prop_assert_eq!(e.to_string().lines().count(), 1);
        }
    }

    /// Every number of the default preset set to hostile values: loaded only when every
    /// bound holds (sizes, intervals, degrees, rates), otherwise one line.
    #[test]
    fn problem_numbers_are_checked(numbers in prop::collection::vec(hostile_number(), 15)) {
        use cellwise::approx::MAX_DEGREE;
        use cellwise::problem::{MAX_CLASSES, MAX_HIDDEN, MAX_INTERVAL_BOUND, Problem};
        let n = &numbers;
        let text = format!(
            "name = \"fuzz\"\n[data]\ndataset = \"mnist\"\nimage_side = {}\nvalidation = {}\n\
             [model]\nhidden = {}\nclasses = {}\n\
             [training]\nlearning_rate = {}\nbatch_size = {}\nmax_epochs = {}\n\
             early_stopping_patience = {}\nreduce_lr_factor = {}\nreduce_lr_patience = {}\n\
             min_learning_rate = {}\nseed = {}\n\
             [approximation]\ndegrees = [{}]\ninterval = [{}, {}]\nmethod = \"least-squares\"\n",
            n[0], n[1], n[2], n[3], n[4], n[5], n[6], n[7], n[8], n[9], n[10], n[11], n[12],
            n[13], n[14]
        );
        match Problem::from_toml("fuzz", &text) {
            Ok(p) => {
                prop_assert!((1..=28).contains(&p.steps()));
                prop_assert!((1..60_000).contains(&p.data.validation));
                prop_assert!((1..=MAX_HIDDEN).contains(&p.model.hidden));
                prop_assert!((10..=MAX_CLASSES).contains(&p.model.classes));
                for fit in p.slot_fits() {
                    prop_assert!(fit.degrees.iter().all(|d| (1..=MAX_DEGREE).contains(d)));
                    let [lo, hi] = fit.interval;
                    prop_assert!(lo < hi && lo.abs().max(hi.abs()) <= MAX_INTERVAL_BOUND);
                }
                let t = &p.training;
                prop_assert!(t.learning_rate.is_finite() && t.learning_rate > 0.0);
                prop_assert!(t.reduce_lr_factor > 0.0 && t.reduce_lr_factor < 1.0);
            }
            Err(e) => prop_assert_eq!(e.to_string().lines().count(), 1),
        }
    }
}
