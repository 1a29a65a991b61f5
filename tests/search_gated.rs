//! Every search strategy on small gated problems (GRU and LSTM with random weights, on the
//! committed fixture): budgets, constraints and seeds are respected, no strategy beats the
//! exhaustive front of a tiny (slot, step) space, checkpoints round-trip and resume to the
//! same records, `cells.svg` becomes a slot-by-step map, and the command line refuses cost
//! models without gated circuits in one line.

mod common;

use std::collections::HashSet;

use cellwise::cost::{self, CostModel};
use cellwise::data::load_fixture_splits;
use cellwise::model::Weights;
use cellwise::oracle::{Candidates, Oracle, OracleConfig};
use cellwise::problem::Problem;
use cellwise::report::write_plots;
use cellwise::schedule::{Approx, Schedule};
use cellwise::search::dfs::{DfsConfig, Tolerance};
use cellwise::search::{
    Checkpoint, Constraints, Record, SearchContext, SearchOutcome, StrategyConfig,
};
use ndarray::{Array1, Array2};
use rand::rngs::ChaCha20Rng;
use rand::{RngExt, SeedableRng};

/// Strategies that run on any space (exhaustive needs a small one).
const STRATEGIES: [&str; 7] = [
    "dfs",
    "genetic",
    "dp",
    "dp-levels",
    "greedy",
    "anneal",
    "random",
];

/// A problem preset's text: `cell` with 4 units on `side` x `side` images (`side` steps);
/// `approximation` is the body of its `[approximation]` table.
fn problem_toml(cell: &str, side: usize, approximation: &str) -> String {
    format!(
        r#"name = "test-{cell}-{side}"
[data]
dataset = "mnist"
image_side = {side}
validation = 100
[model]
cell = "{cell}"
hidden = 4
classes = 10
[training]
learning_rate = 1e-3
batch_size = 32
max_epochs = 1
early_stopping_patience = 1
reduce_lr_factor = 0.1
reduce_lr_patience = 1
min_learning_rate = 1e-5
seed = 1
[approximation]
interval = [-8.0, 8.0]
method = "least-squares"
{approximation}
"#
    )
}

/// Every slot may take degree 3, 7 or 17.
const THREE_DEGREES: &str = "degrees = [3, 7, 17]";

/// Random weights of the problem's cell (uniform; wide enough that the degrees change
/// predictions: with seed 4 the tiny spaces below have fronts of 3 and 4 points).
fn random_weights(problem: &Problem, seed: u64) -> Weights {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let cell = problem.cell().cell();
    let (i, h, c) = (
        problem.input_width(),
        problem.model.hidden,
        problem.model.classes,
    );
    let g = cell.gate_count() * h;
    let mut matrix = |rows, cols, scale: f64| {
        Array2::from_shape_fn((rows, cols), |_| rng.random_range(-scale..scale) as f32)
    };
    let (kernel, recurrent_kernel, dense_kernel) =
        (matrix(i, g, 4.0), matrix(h, g, 2.0), matrix(h, c, 3.0));
    let mut vector =
        |n, scale: f64| Array1::from_shape_fn(n, |_| rng.random_range(-scale..scale) as f32);
    let (bias, dense_bias) = (vector(g, 0.5), vector(c, 0.5));
    let recurrent_bias = cell.recurrent_bias.then(|| vector(g, 0.5));
    Weights {
        cell: problem.cell(),
        kernel,
        recurrent_kernel,
        bias,
        recurrent_bias,
        dense_kernel,
        dense_bias,
    }
}

/// The problem and its validation oracle on the fixture.
fn setup(cell: &str, side: usize, approximation: &str) -> (Problem, Oracle) {
    let problem =
        Problem::from_toml("test", &problem_toml(cell, side, approximation)).expect("problem");
    let val = load_fixture_splits(&problem).expect("fixture").val;
    let candidates = Candidates::from_problem(&problem, None).expect("candidates");
    let weights = random_weights(&problem, 4);
    let oracle =
        Oracle::new(&weights, &val, &candidates, &OracleConfig::default()).expect("oracle");
    (problem, oracle)
}

fn open() -> Constraints {
    Constraints {
        min_accuracy: 0.0,
        max_cost: f64::INFINITY,
        batch_safe: false,
    }
}

fn run(
    problem: &Problem,
    oracle: &Oracle,
    model: &dyn CostModel,
    constraints: &Constraints,
    strategy: &str,
    budget: usize,
    seed: u64,
) -> SearchOutcome {
    let ctx = SearchContext::new(problem, oracle, model, constraints.clone(), budget, seed)
        .expect("context");
    ctx.run(StrategyConfig::load(strategy).unwrap().build().as_mut())
        .unwrap_or_else(|e| panic!("{strategy}: {e}"))
}

/// Everything a record says, as text (schedules in their JSON form).
fn fingerprint(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| serde_json::to_string(r).unwrap())
        .collect()
}

#[test]
fn every_strategy_respects_budget_constraints_and_seed_on_gru_and_lstm() {
    for cell in ["gru", "lstm"] {
        let (problem, oracle) = setup(cell, 6, THREE_DEGREES);
        let model = cost::by_name("depth", &problem).unwrap();
        let space = oracle.space().clone();
        assert_eq!(space.positions(), 6 * space.slots());
        let (top, bottom) = (
            model.cost(&space.top()).unwrap(),
            model.cost(&space.bottom()).unwrap(),
        );
        assert!(bottom < top, "{cell}: {bottom} vs {top}");
        let limits = Constraints {
            min_accuracy: 0.05,
            max_cost: ((top + bottom) / 2.0).floor(),
            batch_safe: false,
        };
        for strategy in STRATEGIES {
            let budget = 120;
            let a = run(
                &problem,
                &oracle,
                model.as_ref(),
                &limits,
                strategy,
                budget,
                3,
            );
            assert!(a.judgements <= budget, "{cell} {strategy}");
            assert_eq!(a.judgements, a.records.len());
            assert!(a.judgements > 1, "{cell} {strategy}: {}", a.judgements);
            for r in &a.records {
                r.schedule.check_shape(problem.shape()).unwrap();
                r.schedule.check_degrees(&space).unwrap();
            }
            for &i in &a.pareto {
                let r = &a.records[i];
                let acc = r.accuracy.unwrap();
                assert!(
                    acc >= limits.min_accuracy && r.cost <= limits.max_cost,
                    "{cell} {strategy}: {} ({acc}, {}) breaks the constraints",
                    r.schedule,
                    r.cost
                );
            }
            oracle.clear_caches();
            let b = run(
                &problem,
                &oracle,
                model.as_ref(),
                &limits,
                strategy,
                budget,
                3,
            );
            assert_eq!(
                fingerprint(&a.records),
                fingerprint(&b.records),
                "{cell} {strategy}: same seed, same records"
            );
            assert_eq!(a.details, b.details, "{cell} {strategy}");
            if strategy == "dp" {
                // One sensitivity per (slot, step, lower degree), named by slot and step.
                let sens = a.details["sensitivities"].as_array().unwrap();
                assert_eq!(sens.len(), 2 * space.positions(), "{cell}");
                let slots = problem.cell().cell().slots;
                for (k, e) in sens.iter().enumerate() {
                    let i = k / 2;
                    assert_eq!(e["slot"], slots[i % slots.len()].name, "{cell}");
                    assert_eq!(e["step"], i / slots.len(), "{cell}");
                    assert!(e.get("cell").is_none());
                }
            }
        }
        // Seeded strategies depend on the seed.
        for strategy in ["genetic", "anneal", "random"] {
            let a = run(&problem, &oracle, model.as_ref(), &open(), strategy, 60, 1);
            let b = run(&problem, &oracle, model.as_ref(), &open(), strategy, 60, 2);
            assert_ne!(
                fingerprint(&a.records),
                fingerprint(&b.records),
                "{strategy}"
            );
        }
        // 3^(6 x slots) schedules are too many to enumerate.
        let ctx = SearchContext::new(&problem, &oracle, model.as_ref(), open(), 10, 1).unwrap();
        let err = ctx
            .run(StrategyConfig::load("exhaustive").unwrap().build().as_mut())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("(slot, step) positions") && err.contains("limit"),
            "{err}"
        );
    }
}

/// The DFS definition over (slot, step) positions, with full evaluations (no early exit, no
/// budget): a child lowers one more position still at its highest candidate.
fn brute_force_dfs(oracle: &Oracle, drop: usize) -> HashSet<Schedule> {
    fn expand(
        oracle: &Oracle,
        node: &Schedule,
        correct: usize,
        drop: usize,
        seen: &mut HashSet<Schedule>,
        kept: &mut HashSet<Schedule>,
    ) {
        let space = oracle.space();
        for i in 0..space.positions() {
            let degrees = space.degrees_at(i);
            if node.entries()[i] != Approx::Degree(degrees[0]) {
                continue;
            }
            for &d in &degrees[1..] {
                let child = node.with_entry(i, Approx::Degree(d));
                if !seen.insert(child.clone()) {
                    continue;
                }
                let c = oracle.evaluate(&child).unwrap().correct;
                if c + drop >= correct {
                    kept.insert(child.clone());
                    expand(oracle, &child, c, drop, seen, kept);
                }
            }
        }
    }
    let root = oracle.space().top();
    let correct = oracle.evaluate(&root).unwrap().correct;
    let (mut seen, mut kept) = (HashSet::from([root.clone()]), HashSet::from([root.clone()]));
    expand(oracle, &root, correct, drop, &mut seen, &mut kept);
    kept
}

#[test]
fn dfs_keeps_exactly_what_its_definition_keeps_over_slot_step_positions() {
    // 3 steps; GRU: 3^9 schedules; LSTM: i and f fixed at 17 (never lowered), 3^9 as well.
    let lstm_slots = "degrees = [3, 7, 17]\n[approximation.slots.i]\ndegrees = [17]\n[approximation.slots.f]\ndegrees = [17]";
    for (cell, approximation) in [("gru", THREE_DEGREES), ("lstm", lstm_slots)] {
        let (problem, oracle) = setup(cell, 3, approximation);
        let model = cost::by_name("depth", &problem).unwrap();
        let preset = StrategyConfig::Dfs(DfsConfig {
            tolerance: Tolerance::Points(3.0),
            ..DfsConfig::paper()
        });
        let ctx =
            SearchContext::new(&problem, &oracle, model.as_ref(), open(), 1_000_000, 1).unwrap();
        let out = ctx.run(preset.build().as_mut()).unwrap();
        assert_eq!(out.details["completed"], true, "{cell}");
        let kept: HashSet<Schedule> = out.details["kept_schedules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| Schedule::parse(s.as_str().unwrap(), problem.shape()).unwrap())
            .collect();
        oracle.clear_caches();
        let want = brute_force_dfs(&oracle, 3);
        assert_eq!(kept, want, "{cell}");
        assert!(kept.len() > 5, "{cell}: {} kept", kept.len());
        // The summary counts per position: a kept schedule "has the lowest degree" when some
        // position is at its own lowest candidate (i and f have one: never lowered).
        let space = oracle.space();
        let lowest = kept
            .iter()
            .filter(|s| {
                (0..space.positions()).any(|i| {
                    let d = space.degrees_at(i);
                    d.len() > 1 && s.entries()[i] == Approx::Degree(d[d.len() - 1])
                })
            })
            .count();
        assert_eq!(out.details["kept_with_lowest_degree"], lowest, "{cell}");
        let most = kept
            .iter()
            .map(|s| {
                s.entries()
                    .iter()
                    .zip(space.top().entries())
                    .filter(|(a, b)| a != b)
                    .count()
            })
            .max()
            .unwrap();
        assert_eq!(out.details["deepest_kept"], most, "{cell}");
    }
}

/// (cost, accuracy) of the records that no other record dominates, by definition.
fn front_by_definition(records: &[Record]) -> HashSet<(u64, u64)> {
    let points: Vec<(f64, f64)> = records
        .iter()
        .filter_map(|r| r.accuracy.map(|a| (r.cost, a)))
        .collect();
    points
        .iter()
        .filter(|&&(c, a)| {
            !points
                .iter()
                .any(|&(c2, a2)| c2 <= c && a2 >= a && (c2 < c || a2 > a))
        })
        .map(|&(c, a)| (c.to_bits(), a.to_bits()))
        .collect()
}

#[test]
fn no_strategy_beats_the_exhaustive_front_of_a_tiny_gated_space() {
    // 3 steps; GRU: every slot 3 or 7 (2^9 schedules); LSTM: i and f fixed at 7, g, o and
    // c 3 or 7 (2^9 as well, and positions with a single candidate).
    let lstm_slots = "degrees = [3, 7]\n[approximation.slots.i]\ndegrees = [7]\n[approximation.slots.f]\ndegrees = [7]";
    for (cell, approximation) in [("gru", "degrees = [3, 7]"), ("lstm", lstm_slots)] {
        let (problem, oracle) = setup(cell, 3, approximation);
        let model = cost::by_name("depth", &problem).unwrap();
        let all = run(
            &problem,
            &oracle,
            model.as_ref(),
            &open(),
            "exhaustive",
            1000,
            1,
        );
        assert_eq!(all.details["completed"], true, "{cell}");
        assert_eq!(all.details["enumerated"], 512, "{cell}");
        let distinct: HashSet<&Schedule> = all.records.iter().map(|r| &r.schedule).collect();
        assert_eq!(distinct.len(), 512, "{cell}");
        let front: Vec<(f64, f64)> = all
            .pareto
            .iter()
            .map(|&i| (all.records[i].cost, all.records[i].accuracy.unwrap()))
            .collect();
        let mine: HashSet<(u64, u64)> = front
            .iter()
            .map(|&(c, a)| (c.to_bits(), a.to_bits()))
            .collect();
        assert_eq!(mine, front_by_definition(&all.records), "{cell}");
        assert!(front.len() > 1, "{cell}: a one-point front tests little");
        for strategy in STRATEGIES {
            let out = run(&problem, &oracle, model.as_ref(), &open(), strategy, 200, 5);
            for r in &out.records {
                let Some(acc) = r.accuracy else { continue };
                assert!(
                    front.iter().any(|&(fc, fa)| fc <= r.cost && fa >= acc),
                    "{cell} {strategy}: {} ({}, {acc}) beats the exhaustive front",
                    r.schedule,
                    r.cost
                );
            }
        }
    }
}

#[test]
fn gated_checkpoints_round_trip_and_resume_to_the_same_records() {
    let (problem, oracle) = setup("gru", 6, THREE_DEGREES);
    let model = cost::by_name("depth", &problem).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let deep_dfs = StrategyConfig::Dfs(DfsConfig {
        tolerance: Tolerance::Points(20.0),
        ..DfsConfig::paper()
    });
    for (strategy, preset) in [
        ("dfs", deep_dfs),
        ("genetic", StrategyConfig::load("genetic").unwrap()),
        ("anneal", StrategyConfig::load("anneal").unwrap()),
    ] {
        let path = dir.path().join(format!("{strategy}.json"));
        let header = serde_json::json!({ "strategy": strategy });
        oracle.clear_caches();
        let mut ctx =
            SearchContext::new(&problem, &oracle, model.as_ref(), open(), 150, 4).unwrap();
        ctx.checkpoint_every(path.clone(), 40, header.clone());
        let whole = ctx.run(preset.build().as_mut()).unwrap();
        let saved = whole.judgements / 40 * 40;
        assert!(saved >= 80, "{strategy}: {} judgements", whole.judgements);
        // The last checkpoint holds the first `saved` judgements, gated schedules in their
        // {slots, entries} form.
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(r#""slots":3"#), "{strategy}");
        let cp: Checkpoint = serde_json::from_str(&text).unwrap();
        assert_eq!(cp.header, header);
        assert_eq!(
            fingerprint(&cp.records),
            fingerprint(&whole.records[..saved]),
            "{strategy}"
        );
        oracle.clear_caches();
        let mut ctx =
            SearchContext::new(&problem, &oracle, model.as_ref(), open(), 150, 4).unwrap();
        ctx.resume_from(cp.records).unwrap();
        let resumed = ctx.run(preset.build().as_mut()).unwrap();
        assert_eq!(
            fingerprint(&resumed.records),
            fingerprint(&whole.records),
            "{strategy}"
        );
        assert_eq!(resumed.details, whole.details, "{strategy}");
        assert_eq!(resumed.pareto, whole.pareto, "{strategy}");
    }
}

#[test]
fn cells_svg_is_a_slot_by_step_map_for_gated_cells() {
    let (problem, oracle) = setup("lstm", 6, THREE_DEGREES);
    let model = cost::by_name("depth", &problem).unwrap();
    let out = run(&problem, &oracle, model.as_ref(), &open(), "dfs", 100, 1);
    let dir = tempfile::tempdir().unwrap();
    let reference = cellwise::report::Reference::new(0.0, 1.0).unwrap();
    write_plots(dir.path(), &out, false, &reference, oracle.space()).unwrap();
    let svg = std::fs::read_to_string(dir.path().join("cells.svg")).unwrap();
    assert_eq!(svg.matches("<rect x=").count(), 5 * 6, "5 slots x 6 steps");
    for slot in ["i", "f", "g", "o", "c"] {
        assert!(svg.contains(&format!(">{slot} (top 17)<")), "{slot}");
    }
    assert!(svg.contains("share of the schedules below the slot's highest degree"));
}

/// A gated problem preset in a temporary directory (for the command line).
fn problem_file(dir: &std::path::Path, cell: &str) -> String {
    let path = dir.join(format!("{cell}.toml"));
    std::fs::write(&path, problem_toml(cell, 6, THREE_DEGREES)).unwrap();
    path.display().to_string()
}

#[test]
fn the_command_line_prices_gated_schedules_and_refuses_missing_profile_ops_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let gru = problem_file(dir.path(), "gru");
    let (ok, out, err) = common::cellwise(&[
        "cost",
        "--problem",
        &gru,
        "--model",
        "depth",
        "--schedule",
        "17 except n:3@0-2 z:3@*",
    ]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].contains("gru step graph"), "{out}");
    assert!(
        lines[1].starts_with("step")
            && lines[1].contains("z")
            && lines[1].contains("n")
            && lines[1].contains("h depth in"),
        "{out}"
    );
    // Steps 0..5, the dense layer, the total.
    assert_eq!(lines.len(), 2 + 6 + 1 + 1, "{out}");
    assert!(
        lines[2]
            .split_whitespace()
            .take(4)
            .eq(["0", "3", "17", "3"]),
        "{out}"
    );
    assert!(lines[8].contains("dense"), "{out}");
    assert!(lines[9].starts_with("total: "), "{out}");
    // A one-slot list is no GRU schedule.
    let (ok, _, err) = common::cellwise(&[
        "cost",
        "--problem",
        &gru,
        "--model",
        "depth",
        "--schedule",
        "17,17,17,17,17,17",
    ]);
    assert!(
        !ok && err.trim().lines().count() == 1 && err.contains("3 slots"),
        "{err}"
    );
    // The circuit models price the gated circuit: `bootstraps` needs no profile; `latency`
    // needs the circuit's operations in its profile, and one it lacks is refused in one line
    // naming it, never guessed.
    let (ok, out, err) = common::cellwise(&[
        "cost",
        "--problem",
        &gru,
        "--model",
        "bootstraps",
        "--schedule",
        "all-17",
    ]);
    assert!(ok, "{err}");
    assert!(out.lines().next().unwrap().contains("gru circuit"), "{out}");
    assert!(out.contains("bootstraps"), "{out}");
    let (ok, _, err) = common::cellwise(&["cost", "--problem", &gru, "--schedule", "all-17"]);
    assert!(!ok && err.trim().lines().count() == 1, "{err}");
    assert!(err.contains("has no timing for operation 'hoist_"), "{err}");
    let (ok, _, err) = common::cellwise(&["cost", "--problem", &gru, "--report"]);
    assert!(!ok && err.trim().lines().count() == 1, "{err}");
    assert!(
        err.contains("--report prices the encrypted circuit of a simple-rnn"),
        "{err}"
    );
}

/// dp-levels on gated cells: its proxy front (the step graph's depth as moves between the
/// carried states' depths, one choice per step for all its slots) is the brute-force Pareto
/// set of the same proxy and depth over every schedule of a 2-step space (GRU 3^6, LSTM 3^10).
#[test]
fn dp_levels_proxy_front_is_the_brute_force_front_on_gated_cells() {
    use cellwise::search::dp_levels::{Proxy, proxy_front};
    for cell in ["gru", "lstm"] {
        let (problem, oracle) = setup(cell, 2, THREE_DEGREES);
        let model = cost::by_name("depth", &problem).unwrap();
        let space = oracle.space().clone();
        let proxy = Proxy::new(oracle.input_profile(), oracle.candidates(), &space).unwrap();
        let mut points = Vec::new();
        let mut choices = vec![0usize; space.positions()];
        loop {
            let s = space.from_choices(&choices);
            points.push((model.cost(&s).unwrap(), proxy.of(&choices)));
            // The next schedule, odometer-style.
            let mut i = 0;
            while i < choices.len() && choices[i] == 2 {
                choices[i] = 0;
                i += 1;
            }
            if i == choices.len() {
                break;
            }
            choices[i] += 1;
        }
        assert_eq!(points.len(), 3usize.pow(space.positions() as u32));
        points.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        let mut want = Vec::new();
        let mut best = f64::INFINITY;
        for (c, p) in points {
            if p < best {
                best = p;
                want.push((c, p));
            }
        }
        let front = proxy_front(model.stages().unwrap(), &space, &proxy, f64::INFINITY).unwrap();
        let got: Vec<(f64, f64)> = front.iter().map(|p| (p.cost, p.proxy)).collect();
        assert_eq!(got, want, "{cell}");
        assert!(got.len() >= 3, "{cell}: {got:?}");
        for p in &front {
            let s = space.from_choices(&p.choices);
            assert_eq!(model.cost(&s).unwrap(), p.cost, "{cell} {s}");
        }
    }
}
