//! The level-counting cost models, `depth` and `bootstraps`, and the machinery every model
//! shares: schedule -> segments -> placement -> per-step breakdown.

use crate::problem::Problem;
use crate::schedule::Schedule;

use super::circuit::{BootstrapPoints, CellFits, OP_BOOTSTRAP, PlanTable, Segment, SegmentKind};
use super::placement::{self, Chain, Placement};
use super::stages::{StageState, Stages, walk};
use super::{CostBreakdown, CostError, CostModel, CostOptions, OpCount, StepCost};

/// How bootstraps are placed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PlacementPolicy {
    /// Bootstrap only when the next piece does not fit ([`placement::greedy`]).
    Greedy,
    /// Cheapest placement ([`placement::optimal`]).
    #[default]
    Optimal,
}

/// What every model needs to know about the circuit: its plan table, bootstrap points and
/// placement policy.
#[derive(Clone, Debug)]
pub struct Circuit {
    table: PlanTable,
    points: BootstrapPoints,
    policy: PlacementPolicy,
}

impl Circuit {
    /// The circuit of `problem` with the cell polynomials `fits`, planned with `top` levels
    /// after a bootstrap (and in a fresh ciphertext), bootstraps allowed at `options.points`
    /// and placed by `options.placement`. Refuses `top` outside 1..=[`placement::MAX_LEVELS`]
    /// before planning anything.
    pub fn new(
        problem: &Problem,
        fits: &CellFits,
        top: usize,
        options: &CostOptions,
    ) -> Result<Self, CostError> {
        if top == 0 || top > placement::MAX_LEVELS {
            return Err(placement::levels_out_of_range(top));
        }
        Ok(Self {
            table: PlanTable::new(problem, fits, top)?,
            points: options.points,
            policy: options.placement,
        })
    }

    /// The planned segment kinds.
    pub fn table(&self) -> &PlanTable {
        &self.table
    }

    /// The schedule's segments (see [`PlanTable::segments`]).
    pub fn segments(&self, schedule: &Schedule) -> Result<Vec<Segment>, CostError> {
        self.table.segments(schedule, self.points)
    }

    /// Places bootstraps (by the policy) for the segment cost `cost(segment, level)` and one
    /// bootstrap's cost.
    pub fn place(
        &self,
        segments: &[Segment],
        bootstrap_cost: f64,
        cost: impl Fn(usize, usize) -> f64,
    ) -> Result<Placement, CostError> {
        let depths: Vec<usize> = segments.iter().map(|s| s.depth).collect();
        let allowed: Vec<bool> = segments.iter().map(|s| s.bootstrap_allowed).collect();
        let chain = Chain {
            top: self.table.top(),
            start: self.table.top(),
            depths: &depths,
            allowed: &allowed,
            bootstrap_cost,
            cost,
        };
        match self.policy {
            PlacementPolicy::Greedy => placement::greedy(&chain),
            PlacementPolicy::Optimal => placement::optimal(&chain),
        }
    }

    /// True if the circuit places bootstraps optimally (the placement a [`Stages`] walk
    /// takes).
    pub fn places_optimally(&self) -> bool {
        self.policy == PlacementPolicy::Optimal
    }

    /// A [`Stages::step`] of the circuit: step `step` with `degrees` (its one slot's) from
    /// `state` (the levels left) at `cost`, with bootstraps costing `bootstrap` and segments
    /// priced by `price(segment, start level)`.
    pub fn stage_step(
        &self,
        step: usize,
        (state, cost): (StageState, f64),
        degrees: &[usize],
        (bootstrap, price): (f64, impl Fn(&Segment, usize) -> f64),
        out: &mut Vec<(StageState, f64)>,
    ) -> Result<(), CostError> {
        let &[degree] = degrees else {
            return Err(CostError::Plan(format!(
                "{} degrees given for a step of a one-slot circuit",
                degrees.len()
            )));
        };
        if step >= self.table.steps() {
            return Err(CostError::Plan(format!(
                "step {step} of a {}-step circuit",
                self.table.steps()
            )));
        }
        let segments = self.table.step_segments(step, degree, self.points)?;
        let to = walk(
            self.table.top(),
            bootstrap,
            &segments,
            price,
            &self.at(state, cost)?,
        );
        out.extend(
            to.iter()
                .enumerate()
                .filter(|(_, c)| c.is_finite())
                .map(|(level, &c)| (level as StageState, c)),
        );
        Ok(())
    }

    /// A [`Stages::finish`] of the circuit: the output layer from `state` at `cost`.
    pub fn stage_finish(
        &self,
        (state, cost): (StageState, f64),
        (bootstrap, price): (f64, impl Fn(&Segment, usize) -> f64),
    ) -> Result<Option<f64>, CostError> {
        let segment = self.table.output_segment();
        let to = walk(
            self.table.top(),
            bootstrap,
            &[segment],
            price,
            &self.at(state, cost)?,
        );
        let least = to.iter().copied().fold(f64::INFINITY, f64::min);
        Ok(least.is_finite().then_some(least))
    }

    /// The walk's costs by level: `cost` at level `state`, unreachable elsewhere.
    fn at(&self, state: StageState, cost: f64) -> Result<Vec<f64>, CostError> {
        let top = self.table.top();
        let level = usize::try_from(state)
            .ok()
            .filter(|&l| l <= top)
            .ok_or_else(|| {
                CostError::Plan(format!(
                    "state {state} is not a level of a {top}-level chain"
                ))
            })?;
        let mut from = vec![f64::INFINITY; top + 1];
        from[level] = cost;
        Ok(from)
    }

    /// The per-step account of a placement. `seconds`, if given, prices one segment at a
    /// level, and the bootstrap.
    pub fn breakdown(
        &self,
        header: (&str, &str, f64),
        segments: &[Segment],
        placement: &Placement,
        seconds: Option<Seconds<'_>>,
    ) -> CostBreakdown {
        let mut steps: Vec<StepCost> = Vec::with_capacity(self.table.steps() + 1);
        let mut level = self.table.top();
        for (i, seg) in segments.iter().enumerate() {
            let starts_step = !matches!(seg.kind, SegmentKind::Poly(_));
            if starts_step {
                steps.push(StepCost {
                    step: seg.step,
                    degree: None,
                    level_in: level,
                    bootstrap_before: false,
                    bootstrap_mid: false,
                    level_out: level,
                    depth: 0,
                    ops: Vec::new(),
                    primitives: Vec::new(),
                    seconds: seconds.as_ref().map(|_| 0.0),
                });
            }
            // Invariant: the first segment starts a step, so `steps` is not empty.
            let step = steps.last_mut().expect("a step was started");
            if placement.bootstrap_before[i] {
                if starts_step {
                    step.bootstrap_before = true;
                } else {
                    step.bootstrap_mid = true;
                }
                add_op(&mut step.ops, OP_BOOTSTRAP, level, 1);
                if let (Some(s), Some(price)) = (step.seconds.as_mut(), &seconds) {
                    *s += price.bootstrap;
                }
            }
            let at = placement.levels_in[i];
            // Invariant: the placement starts every segment at a level where it fits, and
            // every segment kind of the schedule was planned at such levels.
            let planned = self.table.ops(seg.kind, at).expect("planned segment");
            for op in planned {
                add_op(&mut step.ops, &op.op, op.level, op.count);
            }
            let primitives = self
                .table
                .primitives(seg.kind, at)
                .expect("planned segment");
            for op in primitives {
                add_op(&mut step.primitives, &op.op, op.level, op.count);
            }
            if let (Some(s), Some(price)) = (step.seconds.as_mut(), &seconds) {
                *s += (price.segment)(i, at);
            }
            if let SegmentKind::Poly(d) = seg.kind {
                step.degree = Some(d);
            }
            step.depth += seg.depth;
            level = at - seg.depth;
            step.level_out = level;
        }
        CostBreakdown {
            model: header.0.to_string(),
            unit: header.1.to_string(),
            total: header.2,
            levels_per_bootstrap: self.table.top(),
            depth: segments.iter().map(|s| s.depth).sum(),
            bootstraps: placement.bootstraps,
            steps,
            refreshes: None,
        }
    }
}

/// Prices for [`Circuit::breakdown`]: one segment at a level, and one bootstrap.
pub struct Seconds<'a> {
    /// Seconds of segment i starting at a level.
    pub segment: &'a dyn Fn(usize, usize) -> f64,
    /// Seconds of one bootstrap.
    pub bootstrap: f64,
}

fn add_op(ops: &mut Vec<OpCount>, op: &str, level: usize, count: usize) {
    match ops.iter_mut().find(|o| o.op == op && o.level == level) {
        Some(o) => o.count += count,
        None => ops.push(OpCount {
            op: op.to_string(),
            level,
            count,
        }),
    }
}

/// `depth`: the total multiplicative depth of the encrypted inference, in levels: for each
/// step 1 (linear part) + ceil(log2(d + 1)) (polynomial), plus 1 for the output layer.
/// Its breakdown shows the placement with the fewest bootstraps.
pub struct DepthModel {
    circuit: Circuit,
}

impl DepthModel {
    /// The model for a problem with the cell polynomials `fits` and `options.levels`
    /// (default [`super::FGB_LEVELS`]) levels between bootstraps.
    pub fn new(
        problem: &Problem,
        fits: &CellFits,
        options: &CostOptions,
    ) -> Result<Self, CostError> {
        let top = options.levels.unwrap_or(super::FGB_LEVELS);
        Ok(Self {
            circuit: Circuit::new(problem, fits, top, options)?,
        })
    }
}

impl CostModel for DepthModel {
    fn name(&self) -> &str {
        "depth"
    }

    fn unit(&self) -> &str {
        "levels"
    }

    fn cost(&self, schedule: &Schedule) -> Result<f64, CostError> {
        let segments = self.circuit.segments(schedule)?;
        Ok(segments.iter().map(|s| s.depth).sum::<usize>() as f64)
    }

    fn breakdown(&self, schedule: &Schedule) -> Result<CostBreakdown, CostError> {
        let segments = self.circuit.segments(schedule)?;
        let placement = self.circuit.place(&segments, 1.0, |_, _| 0.0)?;
        let total = segments.iter().map(|s| s.depth).sum::<usize>() as f64;
        Ok(self.circuit.breakdown(
            (self.name(), self.unit(), total),
            &segments,
            &placement,
            None,
        ))
    }

    fn stages(&self) -> Option<&dyn Stages> {
        Some(self)
    }
}

/// The depth as a walk: every segment costs its depth, a bootstrap nothing.
impl Stages for DepthModel {
    fn start(&self) -> StageState {
        self.circuit.table().top() as StageState
    }

    fn step(
        &self,
        step: usize,
        state: StageState,
        cost: f64,
        degrees: &[usize],
        out: &mut Vec<(StageState, f64)>,
    ) -> Result<(), CostError> {
        let price = |s: &Segment, _: usize| s.depth as f64;
        self.circuit
            .stage_step(step, (state, cost), degrees, (0.0, price), out)
    }

    fn finish(&self, state: StageState, cost: f64) -> Result<Option<f64>, CostError> {
        let price = |s: &Segment, _: usize| s.depth as f64;
        self.circuit.stage_finish((state, cost), (0.0, price))
    }
}

/// `bootstraps`: the minimum number of bootstraps the schedule needs (AutoFHE's cost).
pub struct BootstrapsModel {
    circuit: Circuit,
}

impl BootstrapsModel {
    /// The model for a problem with the cell polynomials `fits` and `options.levels`
    /// (default [`super::FGB_LEVELS`]) levels between bootstraps.
    pub fn new(
        problem: &Problem,
        fits: &CellFits,
        options: &CostOptions,
    ) -> Result<Self, CostError> {
        let top = options.levels.unwrap_or(super::FGB_LEVELS);
        Ok(Self {
            circuit: Circuit::new(problem, fits, top, options)?,
        })
    }
}

impl CostModel for BootstrapsModel {
    fn name(&self) -> &str {
        "bootstraps"
    }

    fn unit(&self) -> &str {
        "bootstraps"
    }

    fn cost(&self, schedule: &Schedule) -> Result<f64, CostError> {
        let segments = self.circuit.segments(schedule)?;
        Ok(self.circuit.place(&segments, 1.0, |_, _| 0.0)?.cost)
    }

    fn breakdown(&self, schedule: &Schedule) -> Result<CostBreakdown, CostError> {
        let segments = self.circuit.segments(schedule)?;
        let placement = self.circuit.place(&segments, 1.0, |_, _| 0.0)?;
        let total = placement.cost;
        Ok(self.circuit.breakdown(
            (self.name(), self.unit(), total),
            &segments,
            &placement,
            None,
        ))
    }

    /// Greedy placement needs the fewest bootstraps too, so either policy walks the same.
    fn stages(&self) -> Option<&dyn Stages> {
        Some(self)
    }
}

/// The bootstraps as a walk: segments are free, a bootstrap costs 1.
impl Stages for BootstrapsModel {
    fn start(&self) -> StageState {
        self.circuit.table().top() as StageState
    }

    fn step(
        &self,
        step: usize,
        state: StageState,
        cost: f64,
        degrees: &[usize],
        out: &mut Vec<(StageState, f64)>,
    ) -> Result<(), CostError> {
        let price = |_: &Segment, _: usize| 0.0;
        self.circuit
            .stage_step(step, (state, cost), degrees, (1.0, price), out)
    }

    fn finish(&self, state: StageState, cost: f64) -> Result<Option<f64>, CostError> {
        let price = |_: &Segment, _: usize| 0.0;
        self.circuit.stage_finish((state, cost), (1.0, price))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::DEFAULT_PROBLEM;
    use crate::schedule::Approx;

    fn schedule(degrees: &[usize]) -> Schedule {
        Schedule::new(degrees.iter().map(|&d| Approx::Degree(d)).collect())
    }

    #[test]
    fn depth_and_bootstraps_of_uniform_schedules() {
        let p = Problem::load(DEFAULT_PROBLEM).unwrap();
        let fits = CellFits::from_problem(&p).unwrap();
        let depth = DepthModel::new(&p, &fits, &CostOptions::default()).unwrap();
        let boots = BootstrapsModel::new(&p, &fits, &CostOptions::default()).unwrap();
        // (degree, levels per step, bootstraps with 9 levels)
        for (d, per_step, expected_boots) in [(17, 6, 27.0), (7, 4, 13.0), (3, 3, 9.0)] {
            let s = Schedule::uniform(28, Approx::Degree(d));
            assert_eq!(
                depth.cost(&s).unwrap(),
                (28 * per_step + 1) as f64,
                "degree {d}"
            );
            assert_eq!(boots.cost(&s).unwrap(), expected_boots, "degree {d}");
        }
    }

    #[test]
    fn breakdown_accounts_for_every_level() {
        let p = Problem::load(DEFAULT_PROBLEM).unwrap();
        let fits = CellFits::from_problem(&p).unwrap();
        let mut degrees = vec![17; 28];
        degrees[..4].fill(7);
        let s = schedule(&degrees);
        let b = BootstrapsModel::new(&p, &fits, &CostOptions::default())
            .unwrap()
            .breakdown(&s)
            .unwrap();
        assert_eq!(b.steps.len(), 29);
        assert_eq!(b.bootstraps as f64, b.total);
        let mut level = 9;
        let mut boots = 0;
        for step in &b.steps {
            assert_eq!(step.level_in, level);
            let used: usize = step.depth;
            let booted = usize::from(step.bootstrap_before) + usize::from(step.bootstrap_mid);
            boots += booted;
            let counted: usize = step
                .ops
                .iter()
                .filter(|o| o.op == OP_BOOTSTRAP)
                .map(|o| o.count)
                .sum();
            assert_eq!(counted, booted);
            if booted == 0 {
                assert_eq!(step.level_out, step.level_in - used);
            }
            level = step.level_out;
        }
        assert_eq!(boots, b.bootstraps);
        assert_eq!(b.steps[0].degree, Some(7));
        assert_eq!(b.steps[28].degree, None);
        // Four degree-7 cells first: two bootstraps fewer than all-17.
        assert_eq!(b.bootstraps, 25);
        let wrong = schedule(&[17; 27]);
        let err = BootstrapsModel::new(&p, &fits, &CostOptions::default())
            .unwrap()
            .cost(&wrong)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("27 cells but problem 'mnist-rnn32' has 28 steps"),
            "{err}"
        );
    }
}
