//! The cost model's level accounting must be what the encrypted circuit really consumes:
//! each schedule's breakdown (with the cost model's own bootstrap placement) is replayed by
//! running the whole RNN circuit over the simulated evaluator (`ckks::plan::plan_schedule`)
//! with the bootstraps at the same places, and every step's levels in and out and its
//! profile operations must agree. Degrees 3, 7, 17 and mixed schedules, `fgb-like` shape.

use cellwise::ckks::plan::{self, Placement, PlanConfig};
use cellwise::cost::{BootstrapsModel, CostModel, CostOptions, DepthModel, PlacementPolicy};
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
    let model = BootstrapsModel::new(&problem, &options).unwrap();
    let b = model.breakdown(&schedule(degrees)).unwrap();
    let cells = plan::tanh_cells(degrees, (-8.0, 8.0)).unwrap();
    let cfg = PlanConfig::fgb_like();
    let p = plan::plan_schedule(&cfg, &cells, &Placement::Before(b.bootstrap_segments())).unwrap();
    assert_eq!(p.bootstraps, b.bootstraps, "{degrees:?}");
    assert_eq!(p.depth, b.depth, "{degrees:?}");
    let depth = DepthModel::new(&problem, &options).unwrap();
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
