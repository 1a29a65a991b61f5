//! The ground-truth problem `mnist-11x11` (11 steps, 3^11 = 177,147 schedules) and its
//! committed exhaustive fronts (`results/groundtruth/`).
//!
//! Always run (the committed fixture and files only):
//! - exhaustive enumeration computes every node of the prefix tree of schedules about once:
//!   exactly images x (3 + 9 + ... + 3^6) image-steps on mnist-6x6, and within 1 % of
//!   images x (3 + ... + 3^11) on mnist-11x11, against images x 11 x 3^11 without sharing;
//! - on mnist-11x11 (fixture images), every shipped strategy's front is a subset of the
//!   schedules it evaluated fully, each front point has the accuracy and cost the exhaustive
//!   run gives that schedule, and none beats the exhaustive front: its regret against it (the
//!   accuracy missing at the cost of each true front point) is never negative;
//! - the committed `depth/pareto.csv` and `latency/pareto.csv` are the fronts of the committed
//!   `depth/schedules.csv` (every schedule once, its depth and latency recomputed).
//!
//! On MNIST (`--ignored`; `scripts/ci-smoke.sh` runs them after `cellwise fetch`):
//! `committed_fronts_rescore_exactly` re-scores both committed fronts on the validation and
//! test splits and a deterministic sample of `schedules.csv` on validation;
//! `regret_of_every_strategy_against_the_committed_front` runs every shipped strategy and
//! measures its regret against the committed fronts.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use cellwise::cost::{self, CostModel};
use cellwise::data::{Split, default_data_dir, load_fixture_splits, load_splits, verify_mnist};
use cellwise::model::Weights;
use cellwise::oracle::{Candidates, Oracle};
use cellwise::problem::Problem;
use cellwise::schedule::Schedule;
use cellwise::search::{
    Constraints, Record, SearchContext, SearchOutcome, StrategyConfig, pareto_front,
};

const PROBLEM: &str = "mnist-11x11";
/// The latency model of the committed latency front.
const LATENCY: &str = "latency:cellwise-fgb-like-12";
/// Each committed front, by the cost model it was found under.
const FRONTS: [(&str, &str); 2] = [("depth", "depth"), ("latency", LATENCY)];

fn results_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("results/groundtruth")
}

fn open() -> Constraints {
    Constraints {
        min_accuracy: 0.0,
        max_cost: f64::INFINITY,
        batch_safe: false,
    }
}

/// The oracle of `split` for `problem`'s embedded model, configured for `strategy`.
fn oracle(problem: &Problem, split: &Split, strategy: &str) -> Oracle {
    let weights = Weights::embedded_for(problem).expect("embedded model");
    let candidates = Candidates::from_problem(problem, None).unwrap();
    let config = StrategyConfig::load(strategy).unwrap().oracle_config();
    Oracle::new(&weights, split, &candidates, &config).unwrap()
}

fn search(
    problem: &Problem,
    oracle: &Oracle,
    cost: &dyn CostModel,
    strategy: &str,
    budget: usize,
) -> SearchOutcome {
    let ctx = SearchContext::new(problem, oracle, cost, open(), budget, 1).unwrap();
    ctx.run(StrategyConfig::load(strategy).unwrap().build().as_mut())
        .unwrap()
}

/// Images x (c + c^2 + ... + c^steps): the steps computed when every node of the prefix tree
/// of schedules is computed once.
fn prefix_tree_image_steps(images: usize, candidates: u64, steps: u32) -> u64 {
    images as u64 * (1..=steps).map(|k| candidates.pow(k)).sum::<u64>()
}

#[test]
fn exhaustive_enumeration_computes_each_prefix_once() {
    for (name, slack) in [("mnist-6x6", 0.0), (PROBLEM, 0.01)] {
        let problem = Problem::load(name).unwrap();
        let val = load_fixture_splits(&problem).unwrap().val;
        let o = oracle(&problem, &val, "exhaustive");
        let depth = cost::by_name("depth", &problem).unwrap();
        let all = 3usize.pow(problem.steps() as u32);
        let out = search(&problem, &o, depth.as_ref(), "exhaustive", all);
        assert_eq!(out.details["enumerated"], all, "{name}");
        let computed = o.stats().image_steps;
        let bound = prefix_tree_image_steps(val.len(), 3, problem.steps() as u32);
        let naive = (val.len() * problem.steps() * all) as u64;
        println!(
            "{name}: {computed} image-steps for {all} schedules of {} images (prefix tree {bound}, without sharing {naive})",
            val.len()
        );
        assert!(computed >= bound, "{name}: {computed} < {bound}");
        assert!(
            computed as f64 <= bound as f64 * (1.0 + slack),
            "{name}: {computed} image-steps, more than {bound} (+{slack})"
        );
    }
}

/// Accuracy and cost of every schedule of `outcome` that was evaluated fully, by its text.
fn evaluated(outcome: &SearchOutcome) -> HashMap<String, (f64, f64)> {
    outcome
        .records
        .iter()
        .filter_map(|r| r.accuracy.map(|a| (r.schedule.to_string(), (a, r.cost))))
        .collect()
}

/// (cost, accuracy) of a front, cost ascending.
type Front = Vec<(f64, f64)>;

/// The accuracy a strategy misses at the cost of each true front point: the point's accuracy
/// minus the best accuracy the strategy's front reaches at no higher cost (0 where it reaches
/// none). Mean and maximum over the true front.
fn regret(truth: &Front, found: &Front) -> (f64, f64) {
    let gaps: Vec<f64> = truth
        .iter()
        .map(|&(c, a)| {
            let best = found
                .iter()
                .filter(|&&(fc, _)| fc <= c)
                .map(|&(_, fa)| fa)
                .fold(0.0, f64::max);
            a - best
        })
        .collect();
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    let max = gaps.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (mean, max)
}

fn front_of(outcome: &SearchOutcome) -> Front {
    outcome
        .pareto
        .iter()
        .map(|&i| {
            let r = &outcome.records[i];
            (r.cost, r.accuracy.expect("front points are evaluated"))
        })
        .collect()
}

/// Checks `outcome`'s front against the exhaustive evaluations `truth` (accuracy and cost by
/// schedule) and the true front; returns its regret.
fn check_against_truth(
    strategy: &str,
    outcome: &SearchOutcome,
    truth: &HashMap<String, (f64, f64)>,
    true_front: &Front,
) -> (f64, f64) {
    let evaluated = evaluated(outcome);
    assert!(!outcome.pareto.is_empty(), "{strategy}: empty front");
    for &i in &outcome.pareto {
        let r = &outcome.records[i];
        let text = r.schedule.to_string();
        assert!(
            evaluated.contains_key(&text),
            "{strategy}: front schedule {text} was not evaluated"
        );
        assert_eq!(
            Some(&(r.accuracy.unwrap(), r.cost)),
            truth.get(&text),
            "{strategy}: {text} differs from the exhaustive run"
        );
    }
    let found = front_of(outcome);
    for &(fc, fa) in &found {
        assert!(
            true_front.iter().any(|&(c, a)| c <= fc && a >= fa),
            "{strategy}: (cost {fc}, accuracy {fa}) beats the exhaustive front"
        );
    }
    let (mean, max) = regret(true_front, &found);
    assert!(mean >= 0.0, "{strategy}: negative regret {mean}");
    (mean, max)
}

#[test]
fn every_strategys_front_is_evaluated_and_no_better_than_the_exhaustive_one() {
    let problem = Problem::load(PROBLEM).unwrap();
    let val = load_fixture_splits(&problem).unwrap().val;
    let depth = cost::by_name("depth", &problem).unwrap();
    let all = 3usize.pow(problem.steps() as u32);
    let exhaustive = search(
        &problem,
        &oracle(&problem, &val, "exhaustive"),
        depth.as_ref(),
        "exhaustive",
        all,
    );
    let truth = evaluated(&exhaustive);
    assert_eq!(truth.len(), all);
    let true_front = front_of(&exhaustive);
    let shared = oracle(&problem, &val, "dfs");
    for strategy in StrategyConfig::shipped() {
        let out = search(&problem, &shared, depth.as_ref(), strategy, 400);
        let (mean, max) = check_against_truth(strategy, &out, &truth, &true_front);
        println!(
            "{strategy:<12} {:>4} judgements, front {:>3}, regret mean {:.4} max {:.4}",
            out.judgements,
            out.pareto.len(),
            mean,
            max
        );
    }
    // Exhaustive under a budget below the space is a strategy like the others.
    let cut = search(&problem, &shared, depth.as_ref(), "exhaustive", 400);
    assert!(check_against_truth("exhaustive (400)", &cut, &truth, &true_front).1 > 0.0);
}

/// One row of a committed `schedules.csv`.
#[derive(Debug, serde::Deserialize)]
struct Row {
    index: usize,
    schedule: String,
    accuracy: f64,
    correct: usize,
    unsafe_images: usize,
    cost: f64,
}

/// One row of a committed `pareto.csv`.
#[derive(Debug, serde::Deserialize)]
struct FrontRow {
    schedule: String,
    cost: f64,
    val_accuracy: String,
    test_accuracy: String,
}

fn read_csv<T: serde::de::DeserializeOwned>(path: &Path) -> Vec<T> {
    csv::Reader::from_path(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .deserialize()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn committed_schedules() -> Vec<Row> {
    read_csv(&results_dir().join("depth/schedules.csv"))
}

fn committed_front(dir: &str) -> Vec<FrontRow> {
    read_csv(&results_dir().join(dir).join("pareto.csv"))
}

#[test]
fn committed_fronts_are_the_fronts_of_the_committed_schedules() {
    let problem = Problem::load(PROBLEM).unwrap();
    let rows = committed_schedules();
    let all = 3usize.pow(problem.steps() as u32);
    assert_eq!(rows.len(), all);
    let space = problem.space();
    let mut seen = vec![false; all];
    let schedules: Vec<Schedule> = rows
        .iter()
        .enumerate()
        .map(|(i, row)| {
            assert_eq!(row.index, i);
            let s = Schedule::parse(&row.schedule, problem.shape()).unwrap();
            let choices = space.choices(&s).unwrap();
            let rank = choices.iter().fold(0, |r, &c| 3 * r + c);
            assert!(!seen[rank], "{} twice", row.schedule);
            seen[rank] = true;
            assert_eq!(
                row.correct as f64 / 5000.0,
                row.accuracy,
                "{}",
                row.schedule
            );
            s
        })
        .collect();
    for (dir, spec) in FRONTS {
        let model = cost::by_name(spec, &problem).unwrap();
        let records: Vec<Record> = rows
            .iter()
            .zip(&schedules)
            .map(|(row, s)| {
                let cost = model.cost(s).unwrap();
                if dir == "depth" {
                    assert_eq!(cost, row.cost, "{}", row.schedule);
                }
                Record {
                    index: row.index,
                    schedule: s.clone(),
                    accuracy: Some(row.accuracy),
                    correct: Some(row.correct),
                    unsafe_images: Some(row.unsafe_images),
                    accepted: None,
                    cost,
                }
            })
            .collect();
        let front: Vec<(String, f64, String)> = pareto_front(&records, &open())
            .into_iter()
            .map(|i| {
                let r = &records[i];
                (
                    r.schedule.to_string(),
                    r.cost,
                    format!("{:.6}", r.accuracy.unwrap()),
                )
            })
            .collect();
        let committed: Vec<(String, f64, String)> = committed_front(dir)
            .into_iter()
            .map(|r| (r.schedule, r.cost, r.val_accuracy))
            .collect();
        assert_eq!(front, committed, "{dir}");
    }
}

/// The MNIST splits of `problem`, or a panic saying how to get them.
fn mnist(problem: &Problem) -> cellwise::data::Splits {
    let dir = default_data_dir();
    verify_mnist(&dir).unwrap_or_else(|e| {
        panic!(
            "this test needs MNIST in {} (`cellwise fetch`): {e}",
            dir.display()
        )
    });
    load_splits(problem, &dir).unwrap()
}

#[test]
#[ignore = "needs MNIST (`cellwise fetch`); run by scripts/ci-smoke.sh"]
fn committed_fronts_rescore_exactly() {
    let problem = Problem::load(PROBLEM).unwrap();
    let splits = mnist(&problem);
    let val = oracle(&problem, &splits.val, "dfs");
    let test = oracle(&problem, &splits.test, "dfs");
    for (dir, spec) in FRONTS {
        let model = cost::by_name(spec, &problem).unwrap();
        for row in committed_front(dir) {
            let s = Schedule::parse(&row.schedule, problem.shape()).unwrap();
            let v = val.evaluate(&s).unwrap();
            let t = test.evaluate(&s).unwrap();
            assert_eq!(
                (
                    format!("{:.6}", v.accuracy),
                    format!("{:.6}", t.accuracy),
                    model.cost(&s).unwrap()
                ),
                (row.val_accuracy, row.test_accuracy, row.cost),
                "{dir}: {}",
                row.schedule
            );
        }
    }
    // Every 59th schedule of the enumeration (3,003 of them, every step's candidates mixed).
    let rows = committed_schedules();
    for row in rows.iter().step_by(59) {
        let s = Schedule::parse(&row.schedule, problem.shape()).unwrap();
        let e = val.evaluate(&s).unwrap();
        assert_eq!(
            (e.correct, e.unsafe_images.len()),
            (row.correct, row.unsafe_images),
            "{}",
            row.schedule
        );
    }
}

#[test]
#[ignore = "needs MNIST (`cellwise fetch`); run by scripts/ci-smoke.sh"]
fn regret_of_every_strategy_against_the_committed_front() {
    let problem = Problem::load(PROBLEM).unwrap();
    let splits = mnist(&problem);
    let rows = committed_schedules();
    let val = oracle(&problem, &splits.val, "dfs");
    for (dir, spec) in FRONTS {
        let model = cost::by_name(spec, &problem).unwrap();
        let truth: HashMap<String, (f64, f64)> = rows
            .iter()
            .map(|r| {
                let s = Schedule::parse(&r.schedule, problem.shape()).unwrap();
                (r.schedule.clone(), (r.accuracy, model.cost(&s).unwrap()))
            })
            .collect();
        let true_front: Front = committed_front(dir)
            .into_iter()
            .map(|r| (r.cost, r.val_accuracy.parse().unwrap()))
            .collect();
        for strategy in StrategyConfig::shipped() {
            let out = search(&problem, &val, model.as_ref(), strategy, 1000);
            let (mean, max) = check_against_truth(strategy, &out, &truth, &true_front);
            println!(
                "{dir:<8} {strategy:<12} {:>5} judgements, front {:>3}, regret mean {:.4} max {:.4}",
                out.judgements,
                out.pareto.len(),
                mean,
                max
            );
        }
    }
}
