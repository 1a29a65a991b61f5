//! A cost model seen step by step, for dynamic programmes over (step, state).
//!
//! A schedule's price is not a sum of per-step prices: a step's polynomial costs what it
//! costs at the level it starts at, and a bootstrap (placed where the levels run out, or
//! earlier when that is cheaper) resets the levels. What a step leaves for the next is a
//! small *state*: the levels left before the next bootstrap for the circuit models
//! (`depth`, `bootstraps`, `latency`), the depth of each carried state for the step-graph
//! `depth` of gated cells. [`Stages`] exposes the model as moves between such states, so a
//! dynamic programme can choose degrees and see bootstraps at the same time.
//!
//! The moves are the model's own: for every schedule, the cheapest walk from
//! [`Stages::start`] through its steps to [`Stages::finish`] costs exactly
//! [`super::CostModel::cost`] (the same additions in the same order as the optimal
//! placement's shortest path, so the same float). Costs never decrease along a walk.

use super::CostError;
use super::circuit::Segment;

/// A state between two steps, as an opaque key: equal keys are the same state.
pub type StageState = u64;

/// A cost model as moves between the states of consecutive steps.
pub trait Stages: Sync {
    /// The state before the first step.
    fn start(&self) -> StageState;

    /// Appends to `out` every state that step `step` with `degrees` (one per slot, in the
    /// cell's slot order) reaches from `state`, with the least total cost of reaching it
    /// when the walk so far cost `cost`.
    fn step(
        &self,
        step: usize,
        state: StageState,
        cost: f64,
        degrees: &[usize],
        out: &mut Vec<(StageState, f64)>,
    ) -> Result<(), CostError>;

    /// The least total cost of ending (the output layer) from `state` after the last step
    /// when the walk so far cost `cost`; `None` if no walk ends from there.
    fn finish(&self, state: StageState, cost: f64) -> Result<Option<f64>, CostError>;
}

/// The cheapest cost of being at each level (index; infinite: unreachable) after running
/// `segments` from the costs `from`, with `top` levels after a bootstrap that costs
/// `bootstrap`, a segment costing `price(segment, level it starts at)`. The moves and
/// additions of [`super::placement::optimal`]: run the next segment at the current level, or
/// bootstrap from the cheapest level (where allowed) and run it at `top`.
pub fn walk(
    top: usize,
    bootstrap: f64,
    segments: &[Segment],
    price: impl Fn(&Segment, usize) -> f64,
    from: &[f64],
) -> Vec<f64> {
    let mut best = from.to_vec();
    let mut next = vec![f64::INFINITY; top + 1];
    for seg in segments {
        next.fill(f64::INFINITY);
        let d = seg.depth;
        for level in d..=top {
            if best[level].is_finite() {
                let v = best[level] + price(seg, level);
                if v < next[level - d] {
                    next[level - d] = v;
                }
            }
        }
        if seg.bootstrap_allowed && d <= top {
            let cheapest = best.iter().copied().fold(f64::INFINITY, f64::min);
            if cheapest.is_finite() {
                let v = cheapest + bootstrap + price(seg, top);
                if v < next[top - d] {
                    next[top - d] = v;
                }
            }
        }
        std::mem::swap(&mut best, &mut next);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::circuit::SegmentKind;
    use crate::cost::placement::{Chain, optimal};
    use crate::cost::{CostModel, CostOptions, PlacementPolicy, by_name, by_name_with};
    use crate::problem::{DEFAULT_PROBLEM, Problem};
    use crate::schedule::{Approx, Schedule, Shape};
    use proptest::prelude::*;
    use rand::rngs::ChaCha20Rng;
    use rand::{RngExt, SeedableRng};

    /// The cheapest walk through a schedule's steps (every state kept with its least cost).
    fn cheapest_walk(stages: &dyn Stages, schedule: &Schedule) -> f64 {
        let mut states = vec![(stages.start(), 0.0)];
        for t in 0..schedule.steps() {
            let degrees: Vec<usize> = (0..schedule.slots())
                .map(|slot| match schedule.get(slot, t) {
                    Approx::Degree(d) => d,
                    Approx::Exact => unreachable!(),
                })
                .collect();
            let mut out = Vec::new();
            for &(s, c) in &states {
                stages.step(t, s, c, &degrees, &mut out).unwrap();
            }
            out.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
            out.dedup_by_key(|x| x.0);
            states = out;
        }
        states
            .iter()
            .filter_map(|&(s, c)| stages.finish(s, c).unwrap())
            .fold(f64::INFINITY, f64::min)
    }

    fn random_schedule(rng: &mut ChaCha20Rng, shape: Shape, degrees: &[usize]) -> Schedule {
        let slots = shape.cell.cell().slots.len();
        let entries = (0..shape.steps * slots)
            .map(|_| Approx::Degree(degrees[rng.random_range(0..degrees.len())]))
            .collect();
        Schedule::from_entries(slots, entries).unwrap()
    }

    /// Every model with stages walks every schedule at exactly its cost.
    #[test]
    fn the_cheapest_walk_costs_what_the_model_says() {
        let p = Problem::load(DEFAULT_PROBLEM).unwrap();
        let profile =
            crate::cost::Profile::from_json("sample", &crate::cost::profile::tests::sample_json())
                .unwrap();
        let fits = crate::cost::CellFits::from_problem(&p).unwrap();
        let latency =
            crate::cost::LatencyModel::new(&p, &fits, profile.clone(), &CostOptions::default())
                .unwrap();
        let mut models: Vec<Box<dyn CostModel>> = vec![
            by_name("depth", &p).unwrap(),
            by_name("bootstraps", &p).unwrap(),
            Box::new(latency),
            by_name("latency:openfhe", &p).unwrap(),
        ];
        for points in [
            crate::cost::BootstrapPoints::StepBoundary,
            crate::cost::BootstrapPoints::MidStep,
        ] {
            let options = CostOptions {
                levels: Some(12),
                points,
                placement: PlacementPolicy::Greedy,
                preset: None,
            };
            models.push(by_name_with("bootstraps", &p, &options).unwrap());
        }
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let shape = Shape {
            cell: p.cell(),
            steps: 28,
        };
        for m in &models {
            let stages = m.stages().unwrap();
            for k in 0..40 {
                let s = match k {
                    0 => Schedule::uniform(shape, Approx::Degree(17)),
                    1 => Schedule::uniform(shape, Approx::Degree(3)),
                    _ => random_schedule(&mut rng, shape, &[3, 7, 17]),
                };
                let want = m.cost(&s).unwrap();
                assert_eq!(
                    cheapest_walk(stages, &s).to_bits(),
                    want.to_bits(),
                    "{} {s}",
                    m.name()
                );
            }
        }
        // A latency placed greedily may cost more than the cheapest walk: no stages.
        let greedy = CostOptions {
            placement: PlacementPolicy::Greedy,
            ..CostOptions::default()
        };
        let fits_latency = crate::cost::LatencyModel::new(&p, &fits, profile, &greedy).unwrap();
        assert!(fits_latency.stages().is_none());
        // Gated cells: the step graph's depth.
        for cell in [
            crate::recurrence::CellKind::Gru,
            crate::recurrence::CellKind::Lstm,
        ] {
            let mut g = p.clone();
            g.model.cell = cell;
            let m = by_name("depth", &g).unwrap();
            let shape = Shape { cell, steps: 28 };
            for _ in 0..20 {
                let s = random_schedule(&mut rng, shape, &[3, 7, 17]);
                assert_eq!(
                    cheapest_walk(m.stages().unwrap(), &s),
                    m.cost(&s).unwrap(),
                    "{cell} {s}"
                );
            }
        }
    }

    proptest! {
        /// Walking the segments one at a time gives the optimal placement's cost, bit for bit.
        #[test]
        fn walking_equals_the_optimal_placement(
            top in 3usize..8,
            segs in prop::collection::vec((1usize..=3, any::<bool>(), 0.0..5.0f64, 0.0..2.0f64), 1..10),
            boot in 0.0..20.0f64,
        ) {
            let depths: Vec<usize> = segs.iter().map(|s| s.0).collect();
            let mut allowed: Vec<bool> = segs.iter().map(|s| s.1).collect();
            allowed[0] = true;
            let cost = |i: usize, level: usize| segs[i].2 + segs[i].3 * level as f64;
            let chain = Chain { top, start: top, depths: &depths, allowed: &allowed,
                                bootstrap_cost: boot, cost };
            let segments: Vec<Segment> = (0..segs.len())
                .map(|i| Segment { step: i, kind: SegmentKind::Linear, depth: depths[i],
                                   bootstrap_allowed: allowed[i] })
                .collect();
            let mut state = vec![f64::INFINITY; top + 1];
            state[top] = 0.0;
            for (i, seg) in segments.iter().enumerate() {
                state = walk(top, boot, std::slice::from_ref(seg), |_, l| cost(i, l), &state);
            }
            let walked = state.iter().copied().fold(f64::INFINITY, f64::min);
            match optimal(&chain) {
                Ok(p) => prop_assert_eq!(walked.to_bits(), p.cost.to_bits()),
                Err(_) => prop_assert!(walked.is_infinite()),
            }
        }
    }
}
