//! The level- and bootstrap-aware DP (`dp-levels`) on the small real problem mnist-6x6
//! (729 schedules, committed model, fixture images): its proxy front is the brute-force
//! Pareto set of the same proxy under the same cost model (depth, bootstraps with few
//! levels, latency), for every cost limit; the search respects its budget and constraints,
//! reports proxy and real accuracy side by side, and is deterministic.

use cellwise::cost::{
    self, CellFits, CostModel, CostOptions, LatencyModel, PlacementPolicy, Profile,
};
use cellwise::data::load_fixture_splits;
use cellwise::model::load_weights;
use cellwise::oracle::{Candidates, Oracle, OracleConfig};
use cellwise::problem::Problem;
use cellwise::search::dp_levels::{Proxy, ProxyPoint, proxy_front};
use cellwise::search::{Constraints, SearchContext, SearchOutcome, StrategyConfig};

fn small() -> (Problem, Oracle) {
    let problem = Problem::load("mnist-6x6").unwrap();
    let val = load_fixture_splits(&problem).unwrap().val;
    let c = Candidates::from_problem(&problem, None).unwrap();
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/mnist-6x6.safetensors");
    let oracle = Oracle::new(
        &load_weights(&path).unwrap(),
        &val,
        &c,
        &OracleConfig::default(),
    )
    .unwrap();
    (problem, oracle)
}

fn open() -> Constraints {
    Constraints {
        min_accuracy: 0.0,
        max_cost: f64::INFINITY,
        batch_safe: false,
    }
}

/// The shipped 12-level profile with a price for the 16-slot matvec mnist-6x6's 8 units use
/// (half the 32-slot one's, at each level): a latency model whose bootstraps and per-level
/// prices matter.
fn latency_6x6(problem: &Problem) -> LatencyModel {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/cellwise-fgb-like-12.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let ops = json["ops"].as_array_mut().unwrap();
    let halves: Vec<serde_json::Value> = ops
        .iter()
        .filter(|o| o["op"] == "matvec_32")
        .map(|o| {
            let mut h = o.clone();
            h["op"] = "matvec_16".into();
            h["median"] = (o["median"].as_f64().unwrap() / 2.0).into();
            h
        })
        .collect();
    ops.extend(halves);
    let profile = Profile::from_json("test-12", &json.to_string()).unwrap();
    let fits = CellFits::from_problem(problem).unwrap();
    LatencyModel::new(problem, &fits, profile, &CostOptions::default()).unwrap()
}

/// Every schedule of the space as candidate indices.
fn every_schedule(positions: usize, k: usize) -> Vec<Vec<usize>> {
    let mut all = vec![Vec::new()];
    for _ in 0..positions {
        all = all
            .into_iter()
            .flat_map(|c: Vec<usize>| {
                (0..k).map(move |i| {
                    let mut c = c.clone();
                    c.push(i);
                    c
                })
            })
            .collect();
    }
    all
}

/// The brute-force Pareto set of (cost, proxy) within `max_cost`: cheapest first, each point
/// strictly below every cheaper one's proxy.
fn brute_front(points: &[(f64, f64)], max_cost: f64) -> Vec<(f64, f64)> {
    let mut p: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|&(c, _)| c <= max_cost)
        .collect();
    p.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let mut front = Vec::new();
    let mut best = f64::INFINITY;
    for (c, x) in p {
        if x < best {
            best = x;
            front.push((c, x));
        }
    }
    front
}

#[test]
fn the_proxy_front_is_the_brute_force_front_under_every_cost_model() {
    let (problem, oracle) = small();
    let space = oracle.space().clone();
    let proxy = Proxy::new(oracle.input_profile(), oracle.candidates(), &space).unwrap();
    let few_levels = CostOptions {
        levels: Some(6),
        ..CostOptions::default()
    };
    let greedy = CostOptions {
        placement: PlacementPolicy::Greedy,
        ..few_levels
    };
    let models: Vec<Box<dyn CostModel>> = vec![
        cost::by_name("depth", &problem).unwrap(),
        cost::by_name("bootstraps", &problem).unwrap(),
        cost::by_name_with("bootstraps", &problem, &few_levels).unwrap(),
        cost::by_name_with("bootstraps", &problem, &greedy).unwrap(),
        Box::new(latency_6x6(&problem)),
    ];
    let all = every_schedule(space.positions(), 3);
    assert_eq!(all.len(), 729);
    for model in &models {
        let points: Vec<(f64, f64)> = all
            .iter()
            .map(|c| (model.cost(&space.from_choices(c)).unwrap(), proxy.of(c)))
            .collect();
        let (lo, hi) = points
            .iter()
            .fold((f64::INFINITY, 0.0f64), |(lo, hi), &(c, _)| {
                (lo.min(c), hi.max(c))
            });
        for max_cost in [f64::INFINITY, (lo + hi) / 2.0, lo] {
            let front: Vec<ProxyPoint> =
                proxy_front(model.stages().unwrap(), &space, &proxy, max_cost).unwrap();
            let got: Vec<(f64, f64)> = front.iter().map(|p| (p.cost, p.proxy)).collect();
            let want = brute_front(&points, max_cost);
            assert!(
                want.len() >= 2 || max_cost == lo,
                "{}: a trivial front",
                model.name()
            );
            // Bit for bit: the DP adds the same costs and proxies in the same order.
            assert_eq!(got, want, "{} under {max_cost}", model.name());
            for p in &front {
                let s = space.from_choices(&p.choices);
                assert_eq!(model.cost(&s).unwrap(), p.cost, "{} {s}", model.name());
                assert_eq!(proxy.of(&p.choices), p.proxy, "{} {s}", model.name());
            }
        }
    }
    // The levels matter: with 6 levels a step of degree 17 (1 + 5 levels) fills them, so
    // the bootstraps front differs from the depth front.
    let depth = proxy_front(models[0].stages().unwrap(), &space, &proxy, f64::INFINITY).unwrap();
    let boots = proxy_front(models[2].stages().unwrap(), &space, &proxy, f64::INFINITY).unwrap();
    assert_ne!(
        depth.iter().map(|p| &p.choices).collect::<Vec<_>>(),
        boots.iter().map(|p| &p.choices).collect::<Vec<_>>()
    );
}

fn run(
    problem: &Problem,
    oracle: &Oracle,
    model: &dyn CostModel,
    constraints: Constraints,
    budget: usize,
    preset: &str,
) -> SearchOutcome {
    oracle.clear_caches();
    let ctx = SearchContext::new(problem, oracle, model, constraints, budget, 1).unwrap();
    ctx.run(StrategyConfig::load(preset).unwrap().build().as_mut())
        .unwrap()
}

#[test]
fn dp_levels_respects_budget_and_constraints_and_is_deterministic() {
    let (problem, oracle) = small();
    let model = cost::by_name("bootstraps", &problem).unwrap();
    // Small budgets are spent exactly.
    for budget in [1, 7, 30] {
        let out = run(
            &problem,
            &oracle,
            model.as_ref(),
            open(),
            budget,
            "dp-levels",
        );
        assert_eq!(out.judgements, budget);
        assert!(out.budget_exhausted && out.stopped.is_none());
    }
    // A cost limit: nothing above it is judged; an accuracy floor and batch safety: the
    // front holds only schedules that meet them.
    let all17 = model.cost(&oracle.space().top()).unwrap();
    let limits = Constraints {
        min_accuracy: 0.4,
        max_cost: all17 - 1.0,
        batch_safe: true,
    };
    let out = run(
        &problem,
        &oracle,
        model.as_ref(),
        limits.clone(),
        200,
        "dp-levels",
    );
    assert!(out.judgements <= 200 && !out.records.is_empty());
    for r in &out.records {
        assert!(r.cost <= limits.max_cost, "{} costs {}", r.schedule, r.cost);
    }
    assert!(!out.pareto.is_empty());
    for &i in &out.pareto {
        let r = &out.records[i];
        assert!(r.accuracy.unwrap() >= 0.4 && r.unsafe_images == Some(0));
    }
    // Deterministic: the same records and details twice.
    let a = run(&problem, &oracle, model.as_ref(), open(), 2000, "dp-levels");
    let b = run(&problem, &oracle, model.as_ref(), open(), 2000, "dp-levels");
    let schedules = |o: &SearchOutcome| {
        o.records
            .iter()
            .map(|r| r.schedule.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(schedules(&a), schedules(&b));
    assert_eq!(a.details, b.details);
    // It converges on the small space (every neighbour of its front judged) and says so.
    let why = a.stopped.clone().unwrap();
    assert!(
        why.starts_with(&format!("converged after {} judgements", a.judgements)),
        "{why}"
    );
    // Proxy and real accuracy side by side, one row per proxy-front schedule, each judged at
    // the cost the DP gave it.
    let verified = a.details["verified"].as_array().unwrap();
    assert_eq!(
        verified.len() as u64,
        a.details["proxy_front"].as_u64().unwrap()
    );
    for v in verified {
        let r = a
            .records
            .iter()
            .find(|r| r.schedule.to_string() == v["schedule"])
            .unwrap();
        assert_eq!(v["accuracy"].as_f64(), r.accuracy);
        assert_eq!(v["dp_cost"], v["cost"]);
        assert!(v["proxy"].as_f64().unwrap() > 0.0);
    }
    let rho = a.details["proxy_vs_real"]["spearman_proxy_vs_error"]
        .as_f64()
        .unwrap();
    assert!((-1.0..=1.0).contains(&rho));
    // Without refinement it ends once the proxy front is verified.
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("strategies/dp-levels.toml"),
    )
    .unwrap()
    .replace("refine = true", "refine = false");
    let preset = StrategyConfig::from_toml("no-refine", &text).unwrap();
    let ctx = SearchContext::new(&problem, &oracle, model.as_ref(), open(), 2000, 1).unwrap();
    let out = ctx.run(preset.build().as_mut()).unwrap();
    assert_eq!(out.judgements, verified.len());
    assert!(out.stopped.unwrap().contains("(refine = false)"));
}

#[test]
fn a_model_without_stages_is_refused_in_one_line() {
    let problem = Problem::load(cellwise::problem::DEFAULT_PROBLEM).unwrap();
    let val = load_fixture_splits(&problem).unwrap().val;
    let c = Candidates::from_problem(&problem, None).unwrap();
    let oracle = Oracle::new(
        &cellwise::model::Weights::embedded_default(),
        &val,
        &c,
        &OracleConfig::default(),
    )
    .unwrap();
    let greedy = CostOptions {
        placement: PlacementPolicy::Greedy,
        ..CostOptions::default()
    };
    let model = cost::by_name_with("latency", &problem, &greedy).unwrap();
    let ctx = SearchContext::new(&problem, &oracle, model.as_ref(), open(), 10, 1).unwrap();
    let err = ctx
        .run(StrategyConfig::load("dp-levels").unwrap().build().as_mut())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("does not offer") && !err.contains('\n'),
        "{err}"
    );
}
