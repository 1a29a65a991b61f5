//! The encrypted computation of a schedule as a chain of *segments*: the pieces between two
//! points where a bootstrap may be placed, each with the levels it consumes and the
//! operations it runs.
//!
//! Nothing here is a formula: the levels and operations come from the circuit plan
//! ([`crate::ckks::plan`]), i.e. from running the same RNN circuit code the engine runs over
//! the simulated evaluator. [`PlanTable`] runs every segment kind (step 0's linear part, a
//! later step's linear part, the polynomial of each candidate degree, the output layer) at
//! every level where it fits, once, so that pricing a schedule is a table look-up.
//!
//! What the plan does per step (see [`crate::ckks::plan`] for the details): the linear part
//! (1 level: recurrent 32x32 BSGS matvec, input projection on the client's row encrypted at
//! the hidden state's level, bias, with the fit interval's map onto [-1, 1] folded into the
//! weights), then the cell's Chebyshev BSGS polynomial (ceil(log2(d + 1)) levels: 2, 3, 5 for
//! degrees 3, 7, 17). After the last step the output layer Dense(10) takes 1 level.
//!
//! Bootstraps may go before any step's linear part and before the output layer, and, with
//! [`BootstrapPoints::MidStep`] (the default), also between a step's linear part and its
//! polynomial: every segment of the plan ends at the default scale, so segments chain in any
//! order, and the pre-activation there is already mapped into [-1, 1], the range CKKS
//! bootstrapping expects.

use crate::ckks::circuit_ops;
use crate::ckks::plan::{self, PlanConfig};
use crate::ckks::poly::Chebyshev;
use crate::ckks::sim::SimParams;
use crate::oracle::Candidates;
use crate::problem::Problem;
use crate::schedule::{Approx, Schedule};

use super::{CostError, OpCount};

/// Profile operation: bootstrapping.
pub const OP_BOOTSTRAP: &str = "bootstrap";

/// Where bootstraps may be placed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BootstrapPoints {
    /// Only between steps (and before the output layer).
    StepBoundary,
    /// Also between a step's linear part and its polynomial.
    #[default]
    MidStep,
}

/// What a segment computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentKind {
    /// The linear part of step 0 (input projection and bias only: h_0 = 0).
    FirstLinear,
    /// The linear part of a later step (recurrent matvec, input projection, bias).
    Linear,
    /// The cell's polynomial of this degree.
    Poly(usize),
    /// The output layer.
    Output,
}

/// One piece of the circuit between two possible bootstrap points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Step index (number of steps for the output layer).
    pub step: usize,
    /// What it computes.
    pub kind: SegmentKind,
    /// Levels it consumes.
    pub depth: usize,
    /// True if a bootstrap may run right before it.
    pub bootstrap_allowed: bool,
}

/// One segment kind as planned: its depth and, per start level, its operations (`None`
/// below its depth).
#[derive(Clone, Debug, PartialEq)]
struct Planned {
    depth: usize,
    by_level: Vec<Option<PlannedAt>>,
}

/// One segment kind started at one level.
#[derive(Clone, Debug, PartialEq)]
struct PlannedAt {
    /// Profile operations, at the levels they start at.
    ops: Vec<OpCount>,
    /// Primitive operations (as the simulator counts them).
    primitives: Vec<OpCount>,
    /// For a polynomial: its primitives minus those of the polynomial its profile operation
    /// was timed on ([`crate::ckks::circuit_ops::profiled_poly`]); empty otherwise.
    extra: Vec<PrimitiveDelta>,
}

/// How many more (or, negative, fewer) times a primitive operation runs at one level.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrimitiveDelta {
    /// Primitive operation name (`add`, `mul_const`, `mul_relin`, ...).
    pub op: String,
    /// Level the operation starts at.
    pub level: usize,
    /// Difference in the number of times.
    pub count: i64,
}

/// `real` minus `reference`, per (operation, level), without the zeros.
fn difference(real: &[OpCount], reference: &[OpCount]) -> Vec<PrimitiveDelta> {
    let mut out: Vec<PrimitiveDelta> = Vec::new();
    let signed = |c: usize| i64::try_from(c).unwrap_or(i64::MAX);
    for (sign, ops) in [(1, real), (-1, reference)] {
        for o in ops {
            match out.iter_mut().find(|d| d.op == o.op && d.level == o.level) {
                Some(d) => d.count += sign * signed(o.count),
                None => out.push(PrimitiveDelta {
                    op: o.op.clone(),
                    level: o.level,
                    count: sign * signed(o.count),
                }),
            }
        }
    }
    out.retain(|d| d.count != 0);
    out
}

/// Every segment kind of a problem's circuit, planned at every level over the simulator.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanTable {
    problem: String,
    steps: usize,
    top: usize,
    first_linear: Planned,
    linear: Planned,
    output: Planned,
    /// (degree, plan) for each candidate degree of the problem.
    poly: Vec<(usize, Planned)>,
    /// Candidate degrees too deep for `top` levels, with their depth.
    too_deep: Vec<(usize, usize)>,
}

/// The cell's polynomials the circuit is planned with, one per candidate degree: the fits the
/// oracle scores and the encrypted server evaluates. The plan (levels, operations) and the
/// price are those of these polynomials: a `weighted` fit on a lopsided histogram has even
/// terms that an odd least-squares fit lacks, and they cost ciphertext products.
#[derive(Clone, Debug, PartialEq)]
pub struct CellFits {
    /// (candidate degree, its fit), in the problem's order.
    polys: Vec<(usize, Chebyshev)>,
}

impl CellFits {
    /// The fits of `candidates`, which must be `problem`'s: its cell, one activation slot (the
    /// encrypted circuit is a SimpleRNN's), its candidate degrees and fit interval. For a
    /// problem whose fits need data these are [`Candidates::for_model`]'s.
    pub fn from_candidates(problem: &Problem, candidates: &Candidates) -> Result<Self, CostError> {
        let wrong = |reason: String| CostError::Candidates {
            problem: problem.name.clone(),
            reason,
        };
        if candidates.cell != problem.cell() {
            return Err(wrong(format!(
                "they are fits of a {} cell, the problem's is a {}",
                candidates.cell,
                problem.cell()
            )));
        }
        let [slot] = candidates.slots.as_slice() else {
            return Err(wrong(format!(
                "they have {} activation slots, the encrypted circuit evaluates one",
                candidates.slots.len()
            )));
        };
        let Some(fit) = problem.slot_fits().into_iter().next() else {
            return Err(wrong("the problem's cell has no activation slot".into()));
        };
        if slot.degrees() != fit.degrees || slot.interval != fit.interval {
            return Err(wrong(format!(
                "they fit degrees {:?} on {:?}, the problem lists degrees {:?} on {:?}",
                slot.degrees(),
                slot.interval,
                fit.degrees,
                fit.interval
            )));
        }
        let [lo, hi] = slot.interval;
        let polys = slot
            .approximations
            .iter()
            .map(|a| {
                Chebyshev::new(&a.chebyshev, (lo, hi))
                    .map(|c| (a.degree, c))
                    .map_err(|e| CostError::Plan(format!("degree-{} cell: {e}", a.degree)))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { polys })
    }

    /// The problem's own fits, for problems whose fits need no data (least squares,
    /// Chebyshev interpolation). A problem with `weighted` fits is refused
    /// ([`CostError::NeedsFits`]): they exist only with the weights and the training split,
    /// and no stand-in has their operations.
    pub fn from_problem(problem: &Problem) -> Result<Self, CostError> {
        Self::from_candidates(problem, &own_candidates(problem)?)
    }

    /// The fit of `degree`, if it is a candidate.
    pub fn get(&self, degree: usize) -> Option<&Chebyshev> {
        self.polys
            .iter()
            .find(|(d, _)| *d == degree)
            .map(|(_, c)| c)
    }
}

fn profile_ops(ops: Vec<plan::ProfileOp>) -> Vec<OpCount> {
    ops.into_iter()
        .map(|o| OpCount {
            op: o.op,
            level: o.level,
            count: o.count,
        })
        .collect()
}

impl PlanTable {
    /// Plans the circuit of `problem` with `top` levels (fresh ciphertexts and bootstraps
    /// give `top` levels) on the `fgb-like` shape (N = 2^16, 42-bit scale): each segment
    /// kind at each level, the polynomials being `fits`. A candidate degree deeper than `top`
    /// is kept aside and refused when a schedule uses it.
    pub fn new(problem: &Problem, fits: &CellFits, top: usize) -> Result<Self, CostError> {
        let base = SimParams::fgb_like();
        let params = if top == base.top_level() {
            base
        } else {
            SimParams::chain(base.slots, top, 42, 58).map_err(|e| CostError::Plan(e.to_string()))?
        };
        let dims = [
            problem.input_width(),
            problem.model.hidden,
            problem.model.classes,
        ];
        let blocks = dims.iter().max().map_or(1, |m| m.next_power_of_two());
        let cfg = PlanConfig {
            params,
            blocks,
            input_width: problem.input_width(),
            hidden: problem.model.hidden,
            classes: problem.model.classes,
        };
        let run = |kind: &plan::SegmentKind| -> Result<Option<Planned>, CostError> {
            let at_top = match plan::plan_segment(&cfg, kind, top) {
                Ok(p) => p,
                Err(crate::ckks::evaluator::EvalError::OutOfLevels { .. }) => return Ok(None),
                Err(e) => return Err(CostError::Plan(e.to_string())),
            };
            let depth = at_top.level_in - at_top.level_out;
            let by_level = (0..=top)
                .map(|level| {
                    if level < depth {
                        return Ok(None);
                    }
                    let p = plan::plan_segment(&cfg, kind, level)
                        .map_err(|e| CostError::Plan(e.to_string()))?;
                    let primitives = p
                        .primitives
                        .iter()
                        .map(|(op, level, count)| OpCount {
                            op: op.name().to_string(),
                            level,
                            count,
                        })
                        .collect();
                    Ok(Some(PlannedAt {
                        ops: profile_ops(p.ops),
                        primitives,
                        extra: Vec::new(),
                    }))
                })
                .collect::<Result<Vec<_>, CostError>>()?;
            Ok(Some(Planned { depth, by_level }))
        };
        let fixed = |kind: plan::SegmentKind, what: &str| -> Result<Planned, CostError> {
            run(&kind)?.ok_or_else(|| CostError::TooDeep {
                what: what.to_string(),
                needed: top + 1,
                available: top,
            })
        };
        let first_linear = fixed(plan::SegmentKind::FirstLinear, "a step's linear part")?;
        let linear = fixed(plan::SegmentKind::Linear, "a step's linear part")?;
        let output = fixed(plan::SegmentKind::Output, "the output layer")?;
        let mut poly = Vec::new();
        let mut too_deep = Vec::new();
        for (d, c) in &fits.polys {
            let Some(mut p) = run(&plan::SegmentKind::Poly(c.clone()))? else {
                too_deep.push((*d, c.depth(crate::ckks::poly::InputMap::Folded)));
                continue;
            };
            // What the profile's operation for this degree was timed on: the plan's
            // difference to it is what the latency model adds to that time.
            let profiled = circuit_ops::profiled_poly(c.degree())
                .map_err(|e| CostError::Plan(format!("degree-{d} profiled polynomial: {e}")))?;
            let reference = run(&plan::SegmentKind::Poly(profiled))?.ok_or_else(|| {
                CostError::Plan(format!(
                    "degree-{d} profiled polynomial does not fit in {top} levels"
                ))
            })?;
            for (at, r) in p.by_level.iter_mut().zip(&reference.by_level) {
                if let (Some(at), Some(r)) = (at.as_mut(), r) {
                    at.extra = difference(&at.primitives, &r.primitives);
                }
            }
            poly.push((*d, p));
        }
        Ok(Self {
            problem: problem.name.clone(),
            steps: problem.steps(),
            top,
            first_linear,
            linear,
            output,
            poly,
            too_deep,
        })
    }

    /// Levels available after a bootstrap.
    pub fn top(&self) -> usize {
        self.top
    }

    /// Steps of the problem.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// The planned degrees (the problem's candidates that fit in `top` levels).
    pub fn degrees(&self) -> Vec<usize> {
        self.poly.iter().map(|(d, _)| *d).collect()
    }

    fn planned(&self, kind: SegmentKind) -> Option<&Planned> {
        match kind {
            SegmentKind::FirstLinear => Some(&self.first_linear),
            SegmentKind::Linear => Some(&self.linear),
            SegmentKind::Output => Some(&self.output),
            SegmentKind::Poly(d) => self.poly.iter().find(|(e, _)| *e == d).map(|(_, p)| p),
        }
    }

    /// Levels a segment kind consumes (`None` for a degree that was not planned).
    pub fn depth(&self, kind: SegmentKind) -> Option<usize> {
        self.planned(kind).map(|p| p.depth)
    }

    /// The profile operations of a segment kind started at `level` (`None` if not planned
    /// or if it does not fit).
    pub fn ops(&self, kind: SegmentKind, level: usize) -> Option<&[OpCount]> {
        let at = self.planned(kind)?.by_level.get(level)?.as_ref()?;
        Some(&at.ops)
    }

    /// The primitive operations (simulator counts) of a segment kind started at `level`.
    pub fn primitives(&self, kind: SegmentKind, level: usize) -> Option<&[OpCount]> {
        let at = self.planned(kind)?.by_level.get(level)?.as_ref()?;
        Some(&at.primitives)
    }

    /// The primitive operations by which a segment kind started at `level` differs from
    /// what its profile operations were timed on (non-empty only for a polynomial that is not
    /// the profiled tanh interpolant, e.g. a `weighted` fit with even terms).
    pub fn extra_primitives(&self, kind: SegmentKind, level: usize) -> Option<&[PrimitiveDelta]> {
        let at = self.planned(kind)?.by_level.get(level)?.as_ref()?;
        Some(&at.extra)
    }

    /// The segments of a schedule's encrypted inference, in order: for each step its linear
    /// part and its polynomial, then the output layer. Refuses a schedule of the wrong
    /// length, exact cells, degrees that are not candidates of the problem, and any segment
    /// (or, with [`BootstrapPoints::StepBoundary`], any step) deeper than `top` levels.
    pub fn segments(
        &self,
        schedule: &Schedule,
        points: BootstrapPoints,
    ) -> Result<Vec<Segment>, CostError> {
        if schedule.steps() != self.steps || schedule.slots() != 1 {
            return Err(CostError::Length {
                problem: self.problem.clone(),
                got: schedule.steps(),
                expected: self.steps,
            });
        }
        let mut out = Vec::with_capacity(2 * schedule.steps() + 1);
        for (step, c) in schedule.entries().iter().enumerate() {
            let degree = match *c {
                Approx::Exact => return Err(CostError::ExactCell { cell: step }),
                Approx::Degree(d) => d,
            };
            out.extend(self.step_segments(step, degree, points)?);
        }
        out.push(self.output_segment());
        Ok(out)
    }

    /// The two segments of step `step` with a degree-`degree` polynomial: its linear part
    /// (a bootstrap may run before it) and its polynomial (a bootstrap may run before it
    /// with [`BootstrapPoints::MidStep`]). Refuses a degree that is not planned and, with
    /// [`BootstrapPoints::StepBoundary`], a step deeper than `top` levels.
    pub fn step_segments(
        &self,
        step: usize,
        degree: usize,
        points: BootstrapPoints,
    ) -> Result<[Segment; 2], CostError> {
        let poly = SegmentKind::Poly(degree);
        let Some(poly_depth) = self.depth(poly) else {
            return Err(self.unplanned(step, degree));
        };
        let (linear, linear_depth) = if step == 0 {
            (SegmentKind::FirstLinear, self.first_linear.depth)
        } else {
            (SegmentKind::Linear, self.linear.depth)
        };
        if points == BootstrapPoints::StepBoundary && linear_depth + poly_depth > self.top {
            return Err(CostError::TooDeep {
                what: format!("a step with a degree-{degree} polynomial"),
                needed: linear_depth + poly_depth,
                available: self.top,
            });
        }
        Ok([
            Segment {
                step,
                kind: linear,
                depth: linear_depth,
                bootstrap_allowed: true,
            },
            Segment {
                step,
                kind: poly,
                depth: poly_depth,
                bootstrap_allowed: points == BootstrapPoints::MidStep,
            },
        ])
    }

    /// The output layer's segment after the last step (a bootstrap may run before it).
    pub fn output_segment(&self) -> Segment {
        Segment {
            step: self.steps,
            kind: SegmentKind::Output,
            depth: self.output.depth,
            bootstrap_allowed: true,
        }
    }

    fn unplanned(&self, cell: usize, degree: usize) -> CostError {
        if let Some(&(_, needed)) = self.too_deep.iter().find(|(d, _)| *d == degree) {
            return CostError::TooDeep {
                what: format!("the degree-{degree} polynomial"),
                needed,
                available: self.top,
            };
        }
        let known: Vec<String> = self
            .poly
            .iter()
            .map(|(d, _)| d.to_string())
            .chain(self.too_deep.iter().map(|(d, _)| d.to_string()))
            .collect();
        CostError::Degree {
            cell,
            degree,
            reason: format!(
                "not a candidate degree of problem '{}' (candidates: {})",
                self.problem,
                known.join(", ")
            ),
        }
    }
}

/// The candidates a problem fits without data (least squares, Chebyshev interpolation); a
/// problem with `weighted` fits is refused ([`CostError::NeedsFits`]): they exist only with
/// the weights and the training split, and no stand-in has their operations.
pub(super) fn own_candidates(problem: &Problem) -> Result<Candidates, CostError> {
    if problem.fits_need_data() {
        return Err(CostError::NeedsFits(problem.name.clone()));
    }
    Candidates::from_problem(problem, None)
        .map_err(|e| CostError::Plan(format!("fitting the cell: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::DEFAULT_PROBLEM;

    fn table(top: usize) -> PlanTable {
        let p = Problem::load(DEFAULT_PROBLEM).unwrap();
        PlanTable::new(&p, &CellFits::from_problem(&p).unwrap(), top).unwrap()
    }

    #[test]
    fn planned_depths_and_ops() {
        let t = table(9);
        let depths: Vec<_> = [3, 7, 17]
            .iter()
            .map(|&d| t.depth(SegmentKind::Poly(d)).unwrap())
            .collect();
        assert_eq!(depths, [2, 3, 5]);
        assert_eq!(t.depth(SegmentKind::Linear), Some(1));
        assert_eq!(t.depth(SegmentKind::Output), Some(1));
        let ops = t.ops(SegmentKind::Linear, 4).unwrap();
        assert!(ops.contains(&OpCount {
            op: "matvec_32".into(),
            level: 4,
            count: 2
        }));
        assert_eq!(t.ops(SegmentKind::Poly(17), 4), None);
        assert!(
            t.primitives(SegmentKind::Poly(17), 9)
                .unwrap()
                .iter()
                .any(|o| o.op == "mul_relin")
        );
    }

    #[test]
    fn segments_of_a_schedule() {
        let t = table(9);
        let mut degrees = vec![Approx::Degree(17); 28];
        degrees[1] = Approx::Degree(3);
        let s = Schedule::new(degrees);
        let segs = t.segments(&s, BootstrapPoints::StepBoundary).unwrap();
        assert_eq!(segs.len(), 57);
        let kinds: Vec<_> = segs[..4]
            .iter()
            .map(|s| (s.kind, s.depth, s.bootstrap_allowed))
            .collect();
        assert_eq!(
            kinds,
            [
                (SegmentKind::FirstLinear, 1, true),
                (SegmentKind::Poly(17), 5, false),
                (SegmentKind::Linear, 1, true),
                (SegmentKind::Poly(3), 2, false),
            ]
        );
        assert_eq!(segs[56].kind, SegmentKind::Output);
        assert!(t.segments(&s, BootstrapPoints::MidStep).unwrap()[1].bootstrap_allowed);
        let err = t
            .segments(
                &Schedule::uniform(28, Approx::Degree(5)),
                BootstrapPoints::MidStep,
            )
            .unwrap_err()
            .to_string();
        assert!(err.contains("degree 5 is not supported (not a candidate degree of problem 'mnist-rnn32' (candidates: 3, 7, 17))"), "{err}");
        let err = t
            .segments(
                &Schedule::uniform(3, Approx::Degree(17)),
                BootstrapPoints::MidStep,
            )
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("3 cells but problem 'mnist-rnn32' has 28"),
            "{err}"
        );
    }

    #[test]
    fn too_deep_is_refused() {
        let t = table(5);
        let s = Schedule::uniform(28, Approx::Degree(17));
        let err = t
            .segments(&s, BootstrapPoints::StepBoundary)
            .unwrap_err()
            .to_string();
        assert!(err.contains("needs 6 levels but only 5"), "{err}");
        assert!(t.segments(&s, BootstrapPoints::MidStep).is_ok());
        let t = table(4);
        let err = t
            .segments(&s, BootstrapPoints::MidStep)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("the degree-17 polynomial needs 5 levels but only 4"),
            "{err}"
        );
    }
}
