//! Search strategies against independent definitions, on the committed fixture.

use std::collections::HashSet;

use cellwise::cost;
use cellwise::data::{Split, load_fixture_splits};
use cellwise::model::{Weights, load_weights};
use cellwise::oracle::{Candidates, Oracle, OracleConfig};
use cellwise::problem::{DEFAULT_PROBLEM, Problem};
use cellwise::schedule::{Approx, Schedule};
use cellwise::search::dfs::{DfsConfig, Tolerance};
use cellwise::search::{Constraints, SearchContext, StrategyConfig, pareto_front};

/// The small real problem (6 steps, 729 schedules) with its committed model, on the fixture.
fn small() -> (Problem, Split, Oracle, Weights) {
    let problem = Problem::load("mnist-6x6").unwrap();
    let val = load_fixture_splits(&problem).unwrap().val;
    let c = Candidates::from_problem(&problem, None).unwrap();
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/mnist-6x6.safetensors");
    let w = load_weights(&path).unwrap();
    let oracle = Oracle::new(&w, &val, &c, &OracleConfig::default()).unwrap();
    (problem, val, oracle, w)
}

fn setup() -> (Problem, Split, Oracle) {
    let problem = Problem::load(DEFAULT_PROBLEM).unwrap();
    let val = load_fixture_splits(&problem).unwrap().val;
    let c = Candidates::from_problem(&problem, None).unwrap();
    let oracle = Oracle::new(
        &Weights::embedded_default(),
        &val,
        &c,
        &OracleConfig::default(),
    )
    .unwrap();
    (problem, val, oracle)
}

fn open() -> Constraints {
    Constraints {
        min_accuracy: 0.0,
        max_cost: f64::INFINITY,
        batch_safe: false,
    }
}

/// The DFS definition, written plainly with full evaluations (no early exit, no budget).
fn brute_force_dfs(o: &Oracle, drop: usize) -> HashSet<Schedule> {
    fn expand(
        o: &Oracle,
        node: &Schedule,
        correct: usize,
        drop: usize,
        seen: &mut HashSet<Schedule>,
        kept: &mut HashSet<Schedule>,
    ) {
        for cell in 0..node.steps() {
            if node.get(0, cell) != Approx::Degree(17) {
                continue;
            }
            for d in [7, 3] {
                let child = node.with(0, cell, Approx::Degree(d));
                if !seen.insert(child.clone()) {
                    continue;
                }
                let c = o.evaluate(&child).unwrap().correct;
                if c + drop >= correct {
                    kept.insert(child.clone());
                    expand(o, &child, c, drop, seen, kept);
                }
            }
        }
    }
    let root = Schedule::uniform(o.steps(), Approx::Degree(17));
    let correct = o.evaluate(&root).unwrap().correct;
    let (mut seen, mut kept) = (HashSet::from([root.clone()]), HashSet::from([root.clone()]));
    expand(o, &root, correct, drop, &mut seen, &mut kept);
    kept
}

#[test]
fn dfs_keeps_exactly_what_its_definition_keeps() {
    let (problem, val, oracle, w) = small();
    let depth = cost::by_name("depth", &problem).unwrap();
    // A wide tolerance (10 points) so that the tree is deep on 100 validation images.
    let preset = StrategyConfig::Dfs(DfsConfig {
        tolerance: Tolerance::Points(10.0),
        ..DfsConfig::paper()
    });
    let ctx = SearchContext::new(&problem, &oracle, depth.as_ref(), open(), 1_000_000, 1).unwrap();
    let outcome = ctx.run(preset.build().as_mut()).unwrap();
    assert_eq!(outcome.details["completed"], true);
    let kept: HashSet<Schedule> = outcome.details["kept_schedules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| Schedule::parse(s.as_str().unwrap(), problem.steps()).unwrap())
        .collect();
    let fresh = Oracle::new(
        &w,
        &val,
        &Candidates::from_problem(&problem, None).unwrap(),
        &OracleConfig::default(),
    )
    .unwrap();
    let drop = (0.10 * val.len() as f64).floor() as usize;
    assert_eq!(kept, brute_force_dfs(&fresh, drop));
    assert!(kept.len() > 1);
}

#[test]
fn exhaustive_enumerates_the_small_problem_and_bounds_the_dfs() {
    let (problem, _, oracle, _) = small();
    let depth = cost::by_name("depth", &problem).unwrap();
    let ctx = SearchContext::new(&problem, &oracle, depth.as_ref(), open(), 10_000, 1).unwrap();
    let all = ctx
        .run(StrategyConfig::load("exhaustive").unwrap().build().as_mut())
        .unwrap();
    assert_eq!(all.details["enumerated"], 729);
    let distinct: HashSet<_> = all.records.iter().map(|r| r.schedule.clone()).collect();
    assert_eq!(distinct.len(), 729);
    // No evaluated schedule beats the true front found by exhaustive search.
    let front: Vec<_> = all.pareto.iter().map(|&i| &all.records[i]).collect();
    let ctx = SearchContext::new(&problem, &oracle, depth.as_ref(), open(), 10_000, 1).unwrap();
    let dfs = ctx
        .run(StrategyConfig::load("dfs").unwrap().build().as_mut())
        .unwrap();
    for r in dfs.records.iter().filter(|r| r.accuracy.is_some()) {
        for p in &front {
            let dominates = r.accuracy > p.accuracy && r.cost <= p.cost;
            assert!(!dominates, "{} beats the exhaustive front", r.schedule);
        }
    }
}

#[test]
fn pareto_points_are_non_dominated_and_runs_are_reproducible() {
    let (problem, _, oracle) = setup();
    let depth = cost::by_name("depth", &problem).unwrap();
    let run = |seed| {
        let ctx = SearchContext::new(&problem, &oracle, depth.as_ref(), open(), 60, seed).unwrap();
        ctx.run(StrategyConfig::load("random").unwrap().build().as_mut())
            .unwrap()
    };
    let a = run(3);
    let b = run(3);
    let texts = |o: &cellwise::search::SearchOutcome| {
        o.records
            .iter()
            .map(|r| r.schedule.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(texts(&a), texts(&b));
    assert_ne!(texts(&a), texts(&run(4)));
    assert_eq!(a.judgements, 60);
    for &i in &a.pareto {
        let p = &a.records[i];
        for r in &a.records {
            let better = r.accuracy >= p.accuracy
                && r.cost <= p.cost
                && (r.accuracy > p.accuracy || r.cost < p.cost);
            assert!(!better, "{} dominates {}", r.schedule, p.schedule);
        }
    }
    assert_eq!(pareto_front(&a.records, &open()), a.pareto);
}

#[test]
fn greedy_walks_down_and_bad_configurations_are_refused() {
    let (problem, _, oracle) = setup();
    let depth = cost::by_name("depth", &problem).unwrap();
    let limits = Constraints {
        min_accuracy: 0.9,
        max_cost: f64::INFINITY,
        batch_safe: false,
    };
    let ctx = SearchContext::new(&problem, &oracle, depth.as_ref(), limits, 400, 1).unwrap();
    let outcome = ctx
        .run(StrategyConfig::load("greedy").unwrap().build().as_mut())
        .unwrap();
    let path = outcome.details["path"].as_array().unwrap();
    assert!(path.len() > 1);
    assert!(
        outcome
            .records
            .iter()
            .filter_map(|r| r.cost.into())
            .all(|c: f64| c > 0.0)
    );
    assert!(SearchContext::new(&problem, &oracle, depth.as_ref(), open(), 0, 1).is_err());
    let bad = Constraints {
        min_accuracy: 1.5,
        max_cost: 1.0,
        batch_safe: false,
    };
    assert!(SearchContext::new(&problem, &oracle, depth.as_ref(), bad, 10, 1).is_err());
    let ctx = SearchContext::new(&problem, &oracle, depth.as_ref(), open(), 10, 1).unwrap();
    let err = ctx
        .run(StrategyConfig::load("exhaustive").unwrap().build().as_mut())
        .unwrap_err();
    assert!(err.to_string().contains("more than the limit"), "{err}");
}

#[test]
fn annealing_is_seeded_and_respects_the_budget() {
    let (problem, _, oracle) = setup();
    let depth = cost::by_name("depth", &problem).unwrap();
    let limits = Constraints {
        min_accuracy: 0.8,
        max_cost: f64::INFINITY,
        batch_safe: false,
    };
    let run = |seed| {
        let ctx = SearchContext::new(&problem, &oracle, depth.as_ref(), limits.clone(), 80, seed)
            .unwrap();
        ctx.run(StrategyConfig::load("anneal").unwrap().build().as_mut())
            .unwrap()
    };
    let (a, b) = (run(5), run(5));
    assert_eq!(a.judgements, 80);
    assert_eq!(a.details, b.details);
    let texts = |o: &cellwise::search::SearchOutcome| {
        o.records
            .iter()
            .map(|r| r.schedule.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(texts(&a), texts(&b));
}

#[test]
fn same_seed_same_records_on_one_and_two_threads() {
    let (problem, _, oracle, _) = small();
    let depth = cost::by_name("depth", &problem).unwrap();
    let run = |threads: usize, strategy: &str| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            oracle.clear_caches();
            let ctx =
                SearchContext::new(&problem, &oracle, depth.as_ref(), open(), 300, 9).unwrap();
            let o = ctx
                .run(StrategyConfig::load(strategy).unwrap().build().as_mut())
                .unwrap();
            o.records
                .iter()
                .map(|r| format!("{} {:?} {:?} {}", r.schedule, r.correct, r.accepted, r.cost))
                .collect::<Vec<_>>()
        })
    };
    for strategy in ["dfs", "anneal", "random", "greedy"] {
        assert_eq!(run(1, strategy), run(2, strategy), "{strategy}");
    }
}

/// (cost, accuracy) of the true front of the small problem, by exhaustive enumeration.
fn true_front(problem: &Problem, oracle: &Oracle) -> Vec<(f64, f64)> {
    let model = cost::by_name("depth", problem).unwrap();
    let ctx = SearchContext::new(problem, oracle, model.as_ref(), open(), 1000, 1).unwrap();
    let out = ctx
        .run(StrategyConfig::load("exhaustive").unwrap().build().as_mut())
        .unwrap();
    out.pareto
        .iter()
        .map(|&i| (out.records[i].cost, out.records[i].accuracy.unwrap()))
        .collect()
}

#[test]
fn genetic_and_dp_find_true_front_points_and_are_reproducible() {
    let (problem, _, oracle, _) = small();
    let front = true_front(&problem, &oracle);
    let model = cost::by_name("depth", &problem).unwrap();
    for name in ["genetic", "dp"] {
        let run = |seed| {
            let ctx =
                SearchContext::new(&problem, &oracle, model.as_ref(), open(), 400, seed).unwrap();
            ctx.run(StrategyConfig::load(name).unwrap().build().as_mut())
                .unwrap()
        };
        let (a, b) = (run(3), run(3));
        let sched = |o: &cellwise::search::SearchOutcome| {
            o.records
                .iter()
                .map(|r| r.schedule.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(sched(&a), sched(&b), "{name}: same seed, same records");
        assert!(a.judgements <= 400);
        // Nothing found beats the true front, and a good share of it is found.
        let mut on_front = 0;
        for &i in &a.pareto {
            let (c, acc) = (a.records[i].cost, a.records[i].accuracy.unwrap());
            assert!(
                front.iter().any(|&(fc, fa)| fc <= c && fa >= acc),
                "{name}: ({c}, {acc}) beats the exhaustive front"
            );
            on_front += front.contains(&(c, acc)) as usize;
        }
        let want = if name == "genetic" {
            front.len() / 2
        } else {
            3
        };
        assert!(
            on_front >= want,
            "{name}: {on_front} of {} true front points",
            front.len()
        );
    }
    // The DP reports proxy and real accuracy side by side; a single-cell pick is exact.
    let ctx = SearchContext::new(&problem, &oracle, model.as_ref(), open(), 400, 1).unwrap();
    let out = ctx
        .run(StrategyConfig::load("dp").unwrap().build().as_mut())
        .unwrap();
    let verified = out.details["verified"].as_array().unwrap();
    assert!(!verified.is_empty());
    let first = &verified[0];
    assert_eq!(first["proxy_accuracy"], first["real_accuracy"]);
    // DP is optimal for its proxy: brute force over all 3^6 combinations of the measured
    // sensitivities gives the same least loss for every required saving it verified.
    let sens = out.details["sensitivities"].as_array().unwrap();
    let options: Vec<Vec<(u64, f64)>> = (0..6)
        .map(|cell| {
            let mut o = vec![(0u64, 0.0)];
            for s in sens.iter().filter(|s| s["cell"] == cell) {
                o.push((
                    s["units"].as_f64().unwrap() as u64,
                    s["loss"].as_f64().unwrap(),
                ));
            }
            o
        })
        .collect();
    let acc0 = out.details["all_highest_accuracy"].as_f64().unwrap();
    for v in verified {
        let need = v["required_units"].as_u64().unwrap();
        let mut best = f64::INFINITY;
        for code in 0..3usize.pow(6) {
            let (mut units, mut loss, mut c) = (0, 0.0, code);
            for cell in &options {
                let (u, l) = cell[c % 3];
                units += u;
                loss += l;
                c /= 3;
            }
            if units >= need {
                best = best.min(loss);
            }
        }
        let proxy = v["proxy_accuracy"].as_f64().unwrap();
        assert!(
            (acc0 - best - proxy).abs() < 1e-9,
            "need {need}: {proxy} vs {}",
            acc0 - best
        );
    }
}

/// The genetic preset as shipped before the initial sample became a setting: a preset that
/// does not name `initial` still draws a Latin hypercube.
const GENETIC_BEFORE_SEEDING: &str = r#"
strategy = "genetic"
population = 20
stop = "budget"
stall_generations = 50
initial_samples = 200
tournament = 3
crossover = 0.5
mutate_down = 0.5
mutate_up = 0.3
"#;

#[test]
fn genetic_seeds_its_sample_with_all_highest_and_its_mutants() {
    let (problem, _, oracle, _) = small();
    let model = cost::by_name("bootstraps", &problem).unwrap();
    let run = |preset: &StrategyConfig, seed| {
        oracle.clear_caches();
        let ctx = SearchContext::new(&problem, &oracle, model.as_ref(), open(), 300, seed).unwrap();
        ctx.run(preset.build().as_mut()).unwrap()
    };
    let seeded = StrategyConfig::load("genetic").unwrap();
    let out = run(&seeded, 1);
    let space = oracle.space();
    let initial = &out.details["initial"];
    assert_eq!(initial["kind"], "seeded");
    assert_eq!(
        (&initial["uniform"], &initial["mutants"], &initial["random"]),
        (&3.into(), &100.into(), &97.into())
    );
    // The sample starts with the uniform schedules, all-highest first, then the mutants of
    // all-highest: each lowers 1 to 4 positions (repeats are judged once: of 100 draws on 6
    // positions, 77 are distinct with seed 1).
    let names: Vec<String> = out.records.iter().map(|r| r.schedule.to_string()).collect();
    assert_eq!(names[..3], ["all-17", "all-7", "all-3"]);
    let lowered = |i: usize| {
        space
            .choices(&out.records[i].schedule)
            .unwrap()
            .iter()
            .filter(|&&c| c > 0)
            .count()
    };
    let mutants = (3..out.records.len())
        .take_while(|&i| (1..=4).contains(&lowered(i)))
        .count();
    assert!(mutants >= 60, "{mutants} distinct mutants first");
    // The initial population (the sample's best 20) holds all-highest, the most accurate
    // schedule, and mutants of it.
    let population: Vec<&str> = out.details["initial_population"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(population.len(), 20);
    assert!(population.contains(&"all-17"), "{population:?}");
    let mutant_members = population
        .iter()
        .filter(|s| {
            let s = cellwise::schedule::Schedule::parse(s, 6).unwrap();
            let lowered = space
                .choices(&s)
                .unwrap()
                .iter()
                .filter(|&&c| c > 0)
                .count();
            (1..=4).contains(&lowered)
        })
        .count();
    assert!(mutant_members >= 3, "{population:?}");
    // Same seed, same run; another seed, other mutants.
    let again = run(&seeded, 1);
    assert_eq!(
        names,
        again
            .records
            .iter()
            .map(|r| r.schedule.to_string())
            .collect::<Vec<_>>()
    );
    assert_eq!(out.details, again.details);
    assert_ne!(out.details, run(&seeded, 2).details);
    // Survivors are distinct schedules.
    let front: Vec<&str> = out.details["final_front"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    let distinct: std::collections::HashSet<&&str> = front.iter().collect();
    assert_eq!(distinct.len(), front.len(), "{front:?}");
    // The Latin-hypercube preset, and any preset that does not name `initial`, draw the
    // sample as before: the same run.
    let lhs = run(&StrategyConfig::load("genetic-lhs").unwrap(), 1);
    let before = run(
        &StrategyConfig::from_toml("before", GENETIC_BEFORE_SEEDING).unwrap(),
        1,
    );
    assert_eq!(lhs.details["initial"]["kind"], "latin-hypercube");
    assert_eq!(lhs.details, before.details);
    assert_ne!(lhs.records[0].schedule.to_string(), "all-17");
}
