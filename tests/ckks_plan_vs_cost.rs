//! The cost model's level accounting must be what the encrypted circuit really consumes:
//! each schedule's breakdown (with the cost model's own bootstrap placement) is replayed by
//! running the whole RNN circuit over the simulated evaluator (`ckks::plan::plan_schedule`)
//! with the bootstraps at the same places, and every step's levels in and out and its
//! profile operations must agree. Degrees 3, 7, 17 and mixed schedules, `fgb-like` shape.
//! A `weighted` fit with even terms is planned and priced as it is, not as an odd stand-in.

use cellwise::ckks::plan::{self, Placement, PlanConfig};
use cellwise::ckks::poly::Chebyshev;
use cellwise::cost::{
    self, BootstrapsModel, CellFits, CostModel, CostOptions, DepthModel, PlacementPolicy,
};
use cellwise::oracle::Candidates;
use cellwise::problem::{DEFAULT_PROBLEM, Problem};
use cellwise::schedule::{Approx, Schedule};

fn schedule(degrees: &[usize]) -> Schedule {
    Schedule::new(degrees.iter().map(|&d| Approx::Degree(d)).collect())
}

/// Segment indices (0 = linear part of step 0, 2t + 1 = polynomial of step t, 2 * steps =
/// output) right before which the breakdown bootstraps.
fn sorted_ops(ops: impl Iterator<Item = (String, usize, usize)>) -> Vec<(String, usize, usize)> {
    let mut merged: Vec<(String, usize, usize)> = Vec::new();
    for (op, level, count) in ops {
        match merged.iter_mut().find(|m| m.0 == op && m.1 == level) {
            Some(m) => m.2 += count,
            None => merged.push((op, level, count)),
        }
    }
    merged.sort();
    merged
}

fn check_against_simulator(degrees: &[usize], policy: PlacementPolicy) {
    let problem = Problem::load(DEFAULT_PROBLEM).unwrap();
    let options = CostOptions {
        placement: policy,
        ..CostOptions::default()
    };
    let fits = CellFits::from_problem(&problem).unwrap();
    let model = BootstrapsModel::new(&problem, &fits, &options).unwrap();
    let b = model.breakdown(&schedule(degrees)).unwrap();
    let cells = plan::tanh_cells(degrees, (-8.0, 8.0)).unwrap();
    let cfg = PlanConfig::fgb_like();
    let p = plan::plan_schedule(&cfg, &cells, &Placement::Before(b.bootstrap_segments())).unwrap();
    assert_eq!(p.bootstraps, b.bootstraps, "{degrees:?}");
    assert_eq!(p.depth, b.depth, "{degrees:?}");
    let depth = DepthModel::new(&problem, &fits, &options).unwrap();
    assert_eq!(depth.cost(&schedule(degrees)).unwrap(), p.depth as f64);
    for step in &b.steps {
        let segs: Vec<_> = p
            .segments
            .iter()
            .filter(|s| s.id.step == step.step)
            .collect();
        let first = segs.first().unwrap();
        let last = segs.last().unwrap();
        let level_in = if first.bootstrap_before {
            cfg.params.top_level()
        } else {
            first.level_in
        };
        // The breakdown's level_in is before any bootstrap; the simulator's is after it.
        if !step.bootstrap_before {
            assert_eq!(step.level_in, level_in, "step {} of {degrees:?}", step.step);
        }
        assert_eq!(
            step.level_out, last.level_out,
            "step {} of {degrees:?}",
            step.step
        );
        assert_eq!(
            step.depth,
            segs.iter().map(|s| s.level_in - s.level_out).sum::<usize>()
        );
        let mine = sorted_ops(
            step.ops
                .iter()
                .filter(|o| o.op != "bootstrap")
                .map(|o| (o.op.clone(), o.level, o.count)),
        );
        let sim = sorted_ops(
            segs.iter()
                .flat_map(|s| s.ops.iter())
                .map(|o| (o.op.clone(), o.level, o.count)),
        );
        assert_eq!(mine, sim, "step {} of {degrees:?}", step.step);
    }
    if policy == PlacementPolicy::Greedy {
        let g = plan::plan_schedule(&cfg, &cells, &Placement::Greedy).unwrap();
        let theirs: Vec<_> = g
            .segments
            .iter()
            .filter(|s| s.bootstrap_before)
            .map(|s| s.id)
            .collect();
        assert_eq!(
            theirs,
            b.bootstrap_segments(),
            "greedy placement of {degrees:?}"
        );
    }
}

#[test]
fn level_accounting_matches_the_simulated_circuit() {
    let mut best = [17usize; 28];
    best[..4].fill(7);
    let mut mixed = [17usize; 28];
    for (i, d) in mixed.iter_mut().enumerate() {
        *d = [3, 7, 17][(i * 7 + 3) % 3];
    }
    for degrees in [[3usize; 28], [7; 28], [17; 28], best, mixed] {
        for policy in [PlacementPolicy::Optimal, PlacementPolicy::Greedy] {
            check_against_simulator(&degrees, policy);
        }
    }
}

/// The safe problem's `weighted` fits under a lopsided histogram of pre-activations (all
/// mass right of 0, as a model whose units lean positive gives): a fit with even terms.
fn lopsided_candidates(problem: &Problem) -> Candidates {
    let [lo, hi] = problem.slot_fits()[0].interval;
    let bins = 256;
    let edges: Vec<f64> = (0..=bins)
        .map(|i| lo + (hi - lo) * i as f64 / bins as f64)
        .collect();
    let counts: Vec<f64> = edges
        .windows(2)
        .map(|e| {
            let x = 0.5 * (e[0] + e[1]);
            (-((x - 3.0) / 2.0).powi(2)).exp() * 1e4
        })
        .collect();
    Candidates::from_problem(problem, Some(vec![(edges, counts)])).unwrap()
}

/// A step's primitives without bootstraps, merged and sorted.
fn step_primitives(
    ops: impl Iterator<Item = (String, usize, usize)>,
) -> Vec<(String, usize, usize)> {
    sorted_ops(ops.filter(|o| o.0 != "bootstrap"))
}

#[test]
fn weighted_fits_are_planned_and_priced_as_they_are() {
    let safe = Problem::load("mnist-rnn32-safe").unwrap();
    // Built from the problem alone, a weighted problem's circuit model is refused: no
    // stand-in has its fits' operations.
    for spec in ["depth", "bootstraps", "latency"] {
        let err = cost::by_name(spec, &safe).err().unwrap().to_string();
        assert_eq!(
            err,
            "problem 'mnist-rnn32-safe' has weighted fits, fitted to the training split's pre-activations: its cost model needs those fits (the weights and the data), not a stand-in"
        );
    }
    let candidates = lopsided_candidates(&safe);
    let fit17 = candidates.slots[0].fit(17).unwrap();
    let cell17 = Chebyshev::new(&fit17.chebyshev, (-16.0, 16.0)).unwrap();
    assert!(
        cell17.coeffs().iter().step_by(2).any(|&c| c != 0.0),
        "the lopsided fit has even terms: {:?}",
        cell17.coeffs()
    );

    // Every step's primitives are those of the CKKS plan over the same polynomials, with
    // the bootstraps where the cost model put them.
    let model =
        cost::for_candidates("bootstraps", &safe, &candidates, &CostOptions::default()).unwrap();
    let mut degrees = [17usize; 28];
    degrees[..4].fill(7);
    degrees[9] = 3;
    let b = model.breakdown(&schedule(&degrees)).unwrap();
    let cells: Vec<Chebyshev> = degrees
        .iter()
        .map(|&d| {
            let fit = candidates.slots[0].fit(d).unwrap();
            Chebyshev::new(&fit.chebyshev, (-16.0, 16.0)).unwrap()
        })
        .collect();
    let cfg = PlanConfig::fgb_like();
    let p = plan::plan_schedule(&cfg, &cells, &Placement::Before(b.bootstrap_segments())).unwrap();
    assert_eq!((p.bootstraps, p.depth), (b.bootstraps, b.depth));
    for step in &b.steps {
        let mine = step_primitives(
            step.primitives
                .iter()
                .map(|o| (o.op.clone(), o.level, o.count)),
        );
        let sim = step_primitives(
            p.segments
                .iter()
                .filter(|s| s.id.step == step.step)
                .flat_map(|s| s.primitives.iter())
                .map(|(op, level, count)| (op.name().to_string(), level, count)),
        );
        assert_eq!(mine, sim, "step {}", step.step);
    }

    // The least-squares stand-in the cost model used before has fewer operations ...
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("problems/mnist-rnn32-safe.toml"),
    )
    .unwrap();
    let stand_in = Problem::from_toml(
        "stand-in",
        &text.replace("method = \"weighted\"", "method = \"least-squares\""),
    )
    .unwrap();
    let old = cost::by_name("bootstraps", &stand_in)
        .unwrap()
        .breakdown(&schedule(&degrees))
        .unwrap();
    let count = |b: &cost::CostBreakdown, op: &str| -> usize {
        b.steps
            .iter()
            .flat_map(|s| &s.primitives)
            .filter(|o| o.op == op)
            .map(|o| o.count)
            .sum()
    };
    for op in ["add_const", "mul_const"] {
        assert!(count(&b, op) > count(&old, op), "{op}");
    }
    // ... the same ciphertext products, levels and bootstraps ...
    assert_eq!(count(&b, "mul_relin"), count(&old, "mul_relin"));
    assert_eq!((old.depth, old.bootstraps), (b.depth, b.bootstraps));
    // ... and a higher latency: the real fit pays for its extra terms (a fraction of a
    // per cent here).
    let all17 = Schedule::uniform(28, Approx::Degree(17));
    let real = cost::for_candidates("latency", &safe, &candidates, &CostOptions::default())
        .unwrap()
        .cost(&all17)
        .unwrap();
    let stand_in = cost::by_name("latency", &stand_in)
        .unwrap()
        .cost(&all17)
        .unwrap();
    assert!(real > stand_in, "{real} vs {stand_in}");
    assert!(real < stand_in * 1.01, "{real} vs {stand_in}");
}
