//! `depth` for any cell, from its step program: the multiplicative depth of the critical
//! path through all steps, without bootstraps. A max-plus over each step's graph: a matvec
//! projection takes 1 level after the state it reads, a slot's polynomial of degree d takes
//! ceil(log2(d + 1)) levels after its argument, a product of two ciphertexts 1 level after
//! the deeper factor; additions and 1 - x take none. The output layer adds 1.
//!
//! For a SimpleRNN this is the [`super::DepthModel`]'s sum (a test checks it); for gated
//! cells it sees that a slot off the critical path (GRU's z) saves no levels. The encrypted
//! circuits of gated cells, their bootstrap placement and latency come with the CKKS side.

use super::stages::{StageState, Stages};
use super::{CostBreakdown, CostError, CostModel, StepCost};
use crate::ckks::poly::poly_depth;
use crate::problem::Problem;
use crate::recurrence::{Cell, Op, Value};
use crate::schedule::{Approx, Schedule};

/// Levels of a ciphertext-plaintext matvec (with its rescale), as in the SimpleRNN plan.
const MATVEC_DEPTH: usize = 1;

/// The step-graph depth model.
pub struct GraphDepthModel {
    cell: &'static Cell,
    steps: usize,
}

impl GraphDepthModel {
    /// The model of a problem's cell.
    pub fn new(problem: &Problem) -> Self {
        Self {
            cell: problem.cell().cell(),
            steps: problem.steps(),
        }
    }

    /// The depth of each state after each step, and of the logits.
    fn run(&self, schedule: &Schedule) -> Result<(Vec<Vec<usize>>, usize), CostError> {
        if schedule.steps() != self.steps || schedule.slots() != self.cell.slots.len() {
            return Err(CostError::Plan(format!(
                "the schedule covers {} steps x {} slots, the problem {} x {}",
                schedule.steps(),
                schedule.slots(),
                self.steps,
                self.cell.slots.len()
            )));
        }
        let mut state = vec![0usize; self.cell.state.len()];
        let mut per_step = Vec::with_capacity(self.steps);
        for t in 0..self.steps {
            state = self.step_depths(t, &state, |slot| schedule.get(slot, t))?;
            per_step.push(state.clone());
        }
        Ok((per_step, state[0] + MATVEC_DEPTH))
    }

    /// The depth of each carried state after step `t`, from their depths before it, the
    /// slots' approximations being `approx(slot)`.
    fn step_depths(
        &self,
        t: usize,
        state: &[usize],
        approx: impl Fn(usize) -> Approx,
    ) -> Result<Vec<usize>, CostError> {
        let program = &self.cell.program;
        let mut ops = Vec::with_capacity(program.ops.len());
        let depth = |v: Value, ops: &[usize]| match v {
            Value::State(i) => state[i],
            Value::Project(_) | Value::ProjectRecurrent(_) => state[0] + MATVEC_DEPTH,
            Value::ProjectInput(_) => MATVEC_DEPTH,
            Value::Op(k) => ops[k],
        };
        for op in program.ops {
            let d = match *op {
                Op::Add(a, b) => depth(a, &ops).max(depth(b, &ops)),
                Op::Mul(a, b) => depth(a, &ops).max(depth(b, &ops)) + 1,
                Op::OneMinus(a) => depth(a, &ops),
                Op::Activate { slot, arg } => match approx(slot) {
                    Approx::Degree(d) => depth(arg, &ops) + poly_depth(d),
                    Approx::Exact => return Err(CostError::ExactCell { cell: t }),
                },
            };
            ops.push(d);
        }
        Ok(program.next_state.iter().map(|v| depth(*v, &ops)).collect())
    }

    /// The carried states' depths packed into a [`StageState`] (16 bits each).
    fn pack(&self, depths: &[usize]) -> Result<StageState, CostError> {
        depths.iter().enumerate().try_fold(0, |key, (i, &d)| {
            let d = u16::try_from(d).map_err(|_| {
                CostError::Plan(format!(
                    "a depth of {d} levels is beyond the step walk's range"
                ))
            })?;
            Ok(key | StageState::from(d) << (16 * i))
        })
    }

    fn unpack(&self, key: StageState) -> Vec<usize> {
        (0..self.cell.state.len())
            .map(|i| ((key >> (16 * i)) & 0xffff) as usize)
            .collect()
    }
}

/// The step-graph depth as a walk whose state is the depth of every carried state (at most
/// four of 16 bits each): a step costs nothing, the end costs the logits' depth.
impl Stages for GraphDepthModel {
    fn start(&self) -> StageState {
        0
    }

    fn step(
        &self,
        step: usize,
        state: StageState,
        cost: f64,
        degrees: &[usize],
        out: &mut Vec<(StageState, f64)>,
    ) -> Result<(), CostError> {
        if degrees.len() != self.cell.slots.len() || step >= self.steps {
            return Err(CostError::Plan(format!(
                "step {step} with {} degrees, the problem has {} steps of {} slots",
                degrees.len(),
                self.steps,
                self.cell.slots.len()
            )));
        }
        let next = self.step_depths(step, &self.unpack(state), |slot| {
            Approx::Degree(degrees[slot])
        })?;
        out.push((self.pack(&next)?, cost));
        Ok(())
    }

    fn finish(&self, state: StageState, cost: f64) -> Result<Option<f64>, CostError> {
        Ok(Some(cost + (self.unpack(state)[0] + MATVEC_DEPTH) as f64))
    }
}

impl CostModel for GraphDepthModel {
    fn name(&self) -> &str {
        "depth"
    }

    fn unit(&self) -> &str {
        "levels"
    }

    fn cost(&self, schedule: &Schedule) -> Result<f64, CostError> {
        Ok(self.run(schedule)?.1 as f64)
    }

    fn breakdown(&self, schedule: &Schedule) -> Result<CostBreakdown, CostError> {
        let (per_step, total) = self.run(schedule)?;
        let mut before = 0;
        let mut steps: Vec<StepCost> = per_step
            .iter()
            .enumerate()
            .map(|(t, s)| {
                let step = StepCost {
                    step: t,
                    degree: None,
                    level_in: before,
                    bootstrap_before: false,
                    bootstrap_mid: false,
                    level_out: s[0],
                    depth: s[0] - before,
                    ops: Vec::new(),
                    primitives: Vec::new(),
                    seconds: None,
                };
                before = s[0];
                step
            })
            .collect();
        steps.push(StepCost {
            step: self.steps,
            degree: None,
            level_in: before,
            bootstrap_before: false,
            bootstrap_mid: false,
            level_out: total,
            depth: total - before,
            ops: Vec::new(),
            primitives: Vec::new(),
            seconds: None,
        });
        Ok(CostBreakdown {
            model: self.name().into(),
            unit: self.unit().into(),
            total: total as f64,
            levels_per_bootstrap: 0,
            depth: total,
            bootstraps: 0,
            steps,
            refreshes: None,
        })
    }

    fn stages(&self) -> Option<&dyn Stages> {
        (self.cell.state.len() <= 4).then_some(self as &dyn Stages)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::{DEFAULT_PROBLEM, Problem};
    use crate::schedule::Shape;

    /// On a SimpleRNN the graph gives the plan-based depth model's totals.
    #[test]
    fn equals_the_plan_depth_on_a_simple_rnn() {
        let p = Problem::load(DEFAULT_PROBLEM).unwrap();
        let plan = super::super::by_name("depth", &p).unwrap();
        let graph = GraphDepthModel::new(&p);
        for text in [
            "all-17",
            "all-3",
            "17 except 7@0,4,24 3@9",
            "7 except 3@1,2 17@27",
        ] {
            let s = Schedule::parse(text, 28).unwrap();
            assert_eq!(graph.cost(&s).unwrap(), plan.cost(&s).unwrap(), "{text}");
        }
    }

    /// GRU: z is off the critical path (lowering it saves no level), n is on it.
    #[test]
    fn gru_z_is_off_the_critical_path() {
        let mut p = Problem::load(DEFAULT_PROBLEM).unwrap();
        p.model.cell = crate::recurrence::CellKind::Gru;
        let m = GraphDepthModel::new(&p);
        let shape = Shape {
            cell: p.cell(),
            steps: 28,
        };
        let all = m
            .cost(&Schedule::uniform(shape, Approx::Degree(17)))
            .unwrap();
        let z = Schedule::parse("17 except z:3@*", shape).unwrap();
        let n = Schedule::parse("17 except n:3@*", shape).unwrap();
        assert_eq!(m.cost(&z).unwrap(), all);
        assert!(m.cost(&n).unwrap() < all);
    }
}
