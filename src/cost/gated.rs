//! `bootstraps` and `latency[:PROFILE]` for gated cells: the encrypted circuit of
//! [`crate::ckks::cell`], its refreshes placed optimally over (step, levels of the carried
//! states) by [`crate::ckks::cell::placement::Planner`].
//!
//! A step's operations are the ones the circuit records ([`step_ops`], tested equal), each
//! priced at the level it runs at: from a timing profile (`latency`; an operation the profile
//! lacks is refused by name, never guessed) or as 1 per bootstrap and 0 otherwise
//! (`bootstraps`). The polynomials are the problem's fits ([`SlotFits`]), so a sigmoid's
//! constant term and a fit's even terms are priced as the operations they are.

use std::collections::HashMap;
use std::sync::Mutex;

use super::profile::Profile;
use super::stages::{StageState, Stages};
use super::{CostBreakdown, CostError, CostModel, OpCount, StepCost};
use crate::ckks::cell::placement::{Planner, StepShape, output_ops, step_ops};
use crate::ckks::poly::Chebyshev;
use crate::oracle::Candidates;
use crate::problem::Problem;
use crate::recurrence::Cell;
use crate::schedule::{Approx, Schedule};

/// Each slot's candidate polynomials: (degree, fit), in the problem's order.
#[derive(Clone, Debug, PartialEq)]
pub struct SlotFits {
    slots: Vec<Vec<(usize, Chebyshev)>>,
}

impl SlotFits {
    /// The fits of `candidates`, which must be `problem`'s cell's.
    pub fn from_candidates(problem: &Problem, candidates: &Candidates) -> Result<Self, CostError> {
        if candidates.cell != problem.cell() {
            return Err(CostError::Candidates {
                problem: problem.name.clone(),
                reason: format!(
                    "they are fits of a {} cell, the problem's is a {}",
                    candidates.cell,
                    problem.cell()
                ),
            });
        }
        let slots = candidates
            .slots
            .iter()
            .map(|s| {
                let [lo, hi] = s.interval;
                s.approximations
                    .iter()
                    .map(|a| {
                        Chebyshev::new(&a.chebyshev, (lo, hi))
                            .map(|c| (a.degree, c))
                            .map_err(|e| {
                                CostError::Plan(format!("slot {} degree {}: {e}", s.name, a.degree))
                            })
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { slots })
    }

    /// The problem's own fits (refused for `weighted` fits, which need data).
    pub fn from_problem(problem: &Problem) -> Result<Self, CostError> {
        Self::from_candidates(problem, &super::circuit::own_candidates(problem)?)
    }

    /// The fit of `degree` in `slot`.
    pub fn get(&self, slot: usize, degree: usize) -> Option<&Chebyshev> {
        self.slots
            .get(slot)?
            .iter()
            .find(|(d, _)| *d == degree)
            .map(|(_, c)| c)
    }
}

/// What a gated circuit model counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unit {
    Bootstraps,
    Seconds,
}

/// A gated cell's circuit model (see the module docs).
pub struct GatedModel {
    name: String,
    unit: Unit,
    cell: &'static Cell,
    steps: usize,
    blocks: usize,
    fits: SlotFits,
    planner: Planner,
    shapes: Mutex<HashMap<Vec<usize>, StepShape>>,
}

/// Unit blocks of the packing: the smallest power of two holding every dimension.
pub fn blocks_of(problem: &Problem) -> usize {
    let m = &problem.model;
    problem
        .input_width()
        .max(m.hidden)
        .max(m.classes)
        .next_power_of_two()
}

impl GatedModel {
    /// `bootstraps` with `levels` levels after a bootstrap.
    pub fn bootstraps(problem: &Problem, fits: SlotFits, levels: usize) -> Self {
        let price = |op: &str, _: usize| Ok(if op == "bootstrap" { 1.0 } else { 0.0 });
        Self::new(
            "bootstraps".into(),
            Unit::Bootstraps,
            problem,
            fits,
            Planner::new(
                problem.cell().cell(),
                levels,
                blocks_of(problem),
                Box::new(price),
            ),
        )
    }

    /// `latency:NAME` from `profile` (its levels between bootstraps). Every operation the
    /// problem's circuit can run must be in the profile, else the model is refused naming the
    /// first one missing.
    pub fn latency(problem: &Problem, fits: SlotFits, profile: Profile) -> Result<Self, CostError> {
        let blocks = blocks_of(problem);
        let top = profile.params.levels;
        let cell = problem.cell().cell();
        // Every operation name the circuit can record, checked before any schedule is priced.
        let mut needed = vec![
            "bootstrap".to_string(),
            format!("hoist_{blocks}"),
            format!("bsgs_{blocks}x1"),
            "add".into(),
            "mul_relin_rescale".into(),
            "add_const".into(),
            "negate".into(),
        ];
        if cell
            .gate_uses()
            .contains(&crate::recurrence::GateUse::Whole)
        {
            needed.push(format!("bsgs_{blocks}x2"));
        }
        for slot in &fits.slots {
            for (_, p) in slot {
                needed.push(crate::ckks::cell::poly_op_name(p));
            }
        }
        for op in &needed {
            let have = if op == "bootstrap" {
                profile.bootstrap_seconds().is_some()
            } else {
                profile.seconds(op, top).is_some()
            };
            if !have {
                return Err(profile.missing(op).into());
            }
        }
        let name = format!("latency:{}", profile.name);
        let price = move |op: &str, level: usize| -> Result<f64, String> {
            let s = if op == "bootstrap" {
                profile.bootstrap_seconds()
            } else {
                profile.seconds(op, level)
            };
            s.ok_or_else(|| profile.missing(op).to_string())
        };
        Ok(Self::new(
            name,
            Unit::Seconds,
            problem,
            fits,
            Planner::new(cell, top, blocks, Box::new(price)),
        ))
    }

    fn new(name: String, unit: Unit, problem: &Problem, fits: SlotFits, planner: Planner) -> Self {
        GatedModel {
            name,
            unit,
            cell: problem.cell().cell(),
            steps: problem.steps(),
            blocks: blocks_of(problem),
            fits,
            planner,
            shapes: Mutex::new(HashMap::new()),
        }
    }

    /// Step `t`'s degrees, one per slot.
    fn degrees(&self, schedule: &Schedule, t: usize) -> Result<Vec<usize>, CostError> {
        (0..self.cell.slots.len())
            .map(|s| match schedule.get(s, t) {
                Approx::Degree(d) => Ok(d),
                Approx::Exact => Err(CostError::ExactCell { cell: t }),
            })
            .collect()
    }

    fn shape(&self, t: usize, degrees: &[usize]) -> Result<StepShape, CostError> {
        let mut shapes = self
            .shapes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(s) = shapes.get(degrees) {
            return Ok(s.clone());
        }
        let polys = degrees
            .iter()
            .enumerate()
            .map(|(s, &d)| {
                self.fits
                    .get(s, d)
                    .cloned()
                    .ok_or_else(|| CostError::Degree {
                        cell: t,
                        degree: d,
                        reason: format!("not a candidate of slot {}", self.cell.slots[s].name),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let shape = StepShape::new(self.cell, &polys);
        shapes.insert(degrees.to_vec(), shape.clone());
        Ok(shape)
    }

    fn shapes_of(&self, schedule: &Schedule) -> Result<Vec<StepShape>, CostError> {
        if schedule.steps() != self.steps || schedule.slots() != self.cell.slots.len() {
            return Err(CostError::Plan(format!(
                "the schedule covers {} steps x {} slots, the problem {} x {}",
                schedule.steps(),
                schedule.slots(),
                self.steps,
                self.cell.slots.len()
            )));
        }
        (0..self.steps)
            .map(|t| self.shape(t, &self.degrees(schedule, t)?))
            .collect()
    }

    fn unit_name(&self) -> &'static str {
        match self.unit {
            Unit::Bootstraps => "bootstraps",
            Unit::Seconds => "s",
        }
    }
}

/// A state's key: the carried states' levels, one byte each.
fn key(levels: &[usize]) -> StageState {
    levels.iter().rev().fold(0u64, |k, &l| k << 8 | l as u64)
}

fn unkey(k: StageState, n: usize) -> Vec<usize> {
    (0..n).map(|i| (k >> (8 * i) & 0xff) as usize).collect()
}

impl CostModel for GatedModel {
    fn name(&self) -> &str {
        &self.name
    }

    fn unit(&self) -> &str {
        self.unit_name()
    }

    fn cost(&self, schedule: &Schedule) -> Result<f64, CostError> {
        let shapes = self.shapes_of(schedule)?;
        Ok(self
            .planner
            .optimal(&shapes)
            .map_err(CostError::Plan)?
            .total)
    }

    fn breakdown(&self, schedule: &Schedule) -> Result<CostBreakdown, CostError> {
        let shapes = self.shapes_of(schedule)?;
        let placed = self.planner.optimal(&shapes).map_err(CostError::Plan)?;
        let top = self.planner.top();
        let mut steps = Vec::with_capacity(self.steps + 1);
        let mut depth = 0;
        for (t, shape) in shapes.iter().enumerate() {
            let entry = &placed.entries[t];
            let refresh = placed.refreshes.steps[t];
            let levels = crate::ckks::cell::step_levels(
                self.cell,
                t,
                &shape.degrees,
                &shape.depths,
                entry,
                refresh,
                top,
            )
            .map_err(|e| CostError::Plan(e.to_string()))?;
            // Levels the step consumes on its critical path, refreshes aside (the step
            // graph's depth, as `depth` counts it).
            let high = vec![usize::from(u16::MAX); entry.len()];
            let step_depth = crate::ckks::cell::step_levels(
                self.cell,
                t,
                &shape.degrees,
                &shape.depths,
                &high,
                crate::ckks::cell::StepRefresh::NONE,
                usize::from(u16::MAX),
            )
            .map_err(|e| CostError::Plan(e.to_string()))?
            .depth();
            depth += step_depth;
            let ops = step_ops(
                self.cell,
                shape,
                entry,
                &levels,
                refresh,
                (self.blocks, top),
            );
            steps.push(StepCost {
                step: t,
                degree: None,
                level_in: levels.input,
                bootstrap_before: refresh.states != 0,
                bootstrap_mid: refresh.ops != 0,
                level_out: levels.next_state[0],
                depth: step_depth,
                ops: counts(ops),
                primitives: Vec::new(),
                seconds: (self.unit == Unit::Seconds).then_some(placed.costs[t]),
            });
        }
        let h = placed.entries[self.steps][0];
        let out_level = if placed.refreshes.output { top } else { h };
        let mut ops = output_ops(out_level, self.blocks);
        if placed.refreshes.output {
            ops.push(crate::ckks::plan::ProfileOp {
                op: "bootstrap".into(),
                level: h,
                count: 1,
            });
        }
        steps.push(StepCost {
            step: self.steps,
            degree: None,
            level_in: h,
            bootstrap_before: placed.refreshes.output,
            bootstrap_mid: false,
            level_out: out_level - 1,
            depth: 1,
            ops: counts(ops),
            primitives: Vec::new(),
            seconds: (self.unit == Unit::Seconds).then_some(placed.costs[self.steps]),
        });
        Ok(CostBreakdown {
            model: self.name.clone(),
            unit: self.unit_name().into(),
            total: placed.total,
            levels_per_bootstrap: top,
            depth: depth + 1,
            bootstraps: placed.refreshes.bootstraps(self.cell),
            steps,
            refreshes: Some(placed.refreshes),
        })
    }

    fn stages(&self) -> Option<&dyn Stages> {
        Some(self)
    }
}

fn counts(ops: Vec<crate::ckks::plan::ProfileOp>) -> Vec<OpCount> {
    let mut out: Vec<OpCount> = ops
        .into_iter()
        .map(|o| OpCount {
            op: o.op,
            level: o.level,
            count: o.count,
        })
        .collect();
    out.sort_by(|a, b| (&a.op, a.level).cmp(&(&b.op, b.level)));
    out
}

impl Stages for GatedModel {
    fn start(&self) -> StageState {
        key(&self.planner.start())
    }

    fn step(
        &self,
        step: usize,
        state: StageState,
        cost: f64,
        degrees: &[usize],
        out: &mut Vec<(StageState, f64)>,
    ) -> Result<(), CostError> {
        let shape = self.shape(step, degrees)?;
        let entry = unkey(state, self.cell.state.len());
        for o in self
            .planner
            .options(step, &shape, &entry)
            .map_err(CostError::Plan)?
            .iter()
        {
            out.push((key(&o.exit), cost + o.cost));
        }
        Ok(())
    }

    fn finish(&self, state: StageState, cost: f64) -> Result<Option<f64>, CostError> {
        let h = unkey(state, self.cell.state.len())[0];
        Ok(self
            .planner
            .finish(h)
            .map_err(CostError::Plan)?
            .map(|(price, _)| cost + price))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(problem: &Problem, d: usize) -> Schedule {
        Schedule::uniform(problem.shape(), Approx::Degree(d))
    }

    #[test]
    fn bootstraps_of_gated_cells_and_the_stages_walk() {
        for name in ["mnist-gru32", "mnist-lstm32"] {
            let p = Problem::load(name).unwrap();
            let m = GatedModel::bootstraps(&p, SlotFits::from_problem(&p).unwrap(), 9);
            let b17 = m.cost(&all(&p, 17)).unwrap();
            let b3 = m.cost(&all(&p, 3)).unwrap();
            assert!(b17 > b3 && b3 > 0.0, "{name}: {b17} vs {b3}");
            // Every all-17 step needs 13 levels on the critical path: at least one refresh per
            // step with 9 levels.
            assert!(b17 >= p.steps() as f64, "{name}: {b17}");
            let bd = m.breakdown(&all(&p, 17)).unwrap();
            assert_eq!(bd.bootstraps as f64, b17);
            assert_eq!(
                bd.refreshes.as_ref().unwrap().bootstraps(m.cell),
                bd.bootstraps
            );
            // The cheapest walk through the stages costs exactly `cost`.
            let s = all(&p, 7);
            let mut states = vec![(m.start(), 0.0)];
            for t in 0..p.steps() {
                let degrees = vec![7; p.cell().cell().slots.len()];
                let mut next: Vec<(StageState, f64)> = Vec::new();
                for (st, c) in states {
                    m.step(t, st, c, &degrees, &mut next).unwrap();
                }
                next.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
                next.dedup_by_key(|x| x.0);
                states = next;
            }
            let best = states
                .iter()
                .filter_map(|&(st, c)| m.finish(st, c).unwrap())
                .fold(f64::INFINITY, f64::min);
            assert_eq!(best, m.cost(&s).unwrap(), "{name}");
        }
    }
}
