//! Every strategy spends its budget or says why not, and `cellwise compare` reports the
//! judgements each row used, flags rows that stopped early, runs deterministic strategies
//! once and seeded ones once per seed (median and range).

mod common;

use cellwise::cost;
use cellwise::data::load_fixture_splits;
use cellwise::model::{Weights, load_weights};
use cellwise::oracle::{Candidates, Oracle, OracleConfig};
use cellwise::problem::{DEFAULT_PROBLEM, Problem};
use cellwise::search::{Constraints, SearchContext, SearchOutcome, StrategyConfig};

fn oracle_for(problem: &Problem, weights: &Weights) -> Oracle {
    let val = load_fixture_splits(problem).unwrap().val;
    let c = Candidates::from_problem(problem, None).unwrap();
    Oracle::new(weights, &val, &c, &OracleConfig::default()).unwrap()
}

fn open() -> Constraints {
    Constraints {
        min_accuracy: 0.0,
        max_cost: f64::INFINITY,
        batch_safe: false,
    }
}

fn run(problem: &Problem, oracle: &Oracle, strategy: &str, budget: usize) -> SearchOutcome {
    let model = cost::by_name("depth", problem).unwrap();
    let ctx = SearchContext::new(problem, oracle, model.as_ref(), open(), budget, 1).unwrap();
    ctx.run(StrategyConfig::load(strategy).unwrap().build().as_mut())
        .unwrap()
}

const ALL: [&str; 12] = [
    "dfs",
    "dfs-bfs",
    "dfs-best",
    "dfs-cap4",
    "genetic",
    "genetic-lhs",
    "dp",
    "dp-levels",
    "greedy",
    "anneal",
    "random",
    "exhaustive",
];

#[test]
fn on_a_small_space_every_strategy_spends_its_budget_or_says_why() {
    // 729 schedules and a budget of 2,000: only a strategy that judges schedules again can
    // spend it all; every other one must say why it ended.
    let problem = Problem::load("mnist-6x6").unwrap();
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/mnist-6x6.safetensors");
    let oracle = oracle_for(&problem, &load_weights(&path).unwrap());
    for strategy in ALL {
        let out = run(&problem, &oracle, strategy, 2000);
        assert_eq!(out.judgements, out.records.len(), "{strategy}");
        match &out.stopped {
            None => assert!(out.budget_exhausted, "{strategy}"),
            Some(why) => {
                assert!(!out.budget_exhausted, "{strategy}");
                assert_eq!(out.details["stopped"], why.as_str(), "{strategy}");
                assert!(
                    !why.contains("without giving a reason"),
                    "{strategy}: {why}"
                );
                let expected = match strategy {
                    "greedy" | "dp" | "dp-levels" | "genetic" | "genetic-lhs" => "converged after",
                    "random" | "exhaustive" => "every one of the 729 schedules",
                    _ => "complete after",
                };
                assert!(why.contains(expected), "{strategy}: {why}");
                if why.starts_with("converged after") || why.starts_with("complete after") {
                    assert!(
                        why.contains(&format!("after {} judgements", out.judgements)),
                        "{strategy}: {why} ({} judgements)",
                        out.judgements
                    );
                }
            }
        }
    }
}

#[test]
fn genetic_runs_generations_until_the_budget_is_spent() {
    let problem = Problem::load(DEFAULT_PROBLEM).unwrap();
    let oracle = oracle_for(&problem, &Weights::embedded_default());
    // 200 initial samples and 20 per generation: AutoFHE's 10 generations would stop at 400.
    let out = run(&problem, &oracle, "genetic", 700);
    assert!(out.budget_exhausted && out.stopped.is_none());
    assert_eq!(out.judgements, 700);
    assert!(
        out.details["generations"].as_u64().unwrap() >= 20,
        "{}",
        out.details
    );
    // A fixed number of generations stops early and says so.
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("strategies/genetic.toml"),
    )
    .unwrap()
    .replace("stop = \"budget\"", "stop = { generations = 2 }");
    let preset = StrategyConfig::from_toml("two-generations", &text).unwrap();
    let model = cost::by_name("depth", &problem).unwrap();
    let ctx = SearchContext::new(&problem, &oracle, model.as_ref(), open(), 700, 1).unwrap();
    let out = ctx.run(preset.build().as_mut()).unwrap();
    assert!(out.judgements <= 240, "{}", out.judgements);
    let why = out.stopped.unwrap();
    assert!(why.starts_with("stopped after 2 generations"), "{why}");
}

#[test]
fn compare_reports_judgements_and_early_stops_and_runs_deterministic_strategies_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cmp");
    let out_arg = out.display().to_string();
    // Greedy cannot keep 99 % on the fixture: it converges after its first round.
    let (ok, stdout, stderr) = common::cellwise(&[
        "compare",
        "--fixture",
        "--strategies",
        "dfs,greedy,random",
        "--budget",
        "40",
        "--seeds",
        "3",
        "--min-accuracy",
        "0.99",
        "--out",
        &out_arg,
    ]);
    assert!(ok, "{stderr}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("compare.json")).unwrap()).unwrap();
    let runs = doc["runs"].as_array().unwrap();
    let count = |name: &str| runs.iter().filter(|r| r["strategy"] == name).count();
    assert_eq!((count("dfs"), count("greedy"), count("random")), (1, 1, 3));
    for r in runs {
        let j = r["judgements"].as_u64().unwrap();
        assert!(j <= 40, "{r}");
        assert_eq!(r["budget_exhausted"] == true, j == 40, "{r}");
        assert_eq!(r["stopped"].is_string(), j < 40, "{r}");
        assert_eq!(r["seed"].is_null(), r["strategy"] != "random", "{r}");
    }
    let greedy = runs.iter().find(|r| r["strategy"] == "greedy").unwrap();
    let why = greedy["stopped"].as_str().unwrap();
    assert!(why.starts_with("converged after 29 judgements"), "{why}");
    let summary = doc["summary"].as_array().unwrap();
    assert_eq!(summary.len(), 3);
    let random = summary.iter().find(|s| s["strategy"] == "random").unwrap();
    assert_eq!(random["runs"], 3);
    assert_eq!(random["judgements"]["median"], 40.0);
    let hv = &random["hypervolume"];
    assert!(hv["min"].as_f64() <= hv["median"].as_f64());
    assert!(hv["median"].as_f64() <= hv["max"].as_f64());
    // The table: one row per strategy with the judgements used and the reason for an early
    // stop.
    let row = stdout
        .lines()
        .find(|l| l.starts_with("| greedy | 1 | 29 | converged after 29 judgements"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(row.contains("stays within the constraints"), "{row}");
    assert!(stdout.contains("| dfs | 1 | 40 | no |"), "{stdout}");
    assert!(stdout.contains("| random | 3 | 40 | no |"), "{stdout}");
}
