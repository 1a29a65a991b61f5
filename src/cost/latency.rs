//! `latency`: predicted seconds of the encrypted inference from a timing profile, with the
//! bootstraps placed to minimise that latency.
//!
//! Every segment's seconds at every level are precomputed when the model is built (the
//! sum of its operations' profile times, see [`SegmentKind::ops`]), so pricing a schedule is
//! a table look-up inside a (segment, level) shortest path of about 57 x 10 states.
//!
//! A polynomial's profile operation (`poly_deg17`, ...) was timed on the odd tanh
//! interpolant of its degree ([`crate::ckks::circuit_ops::profiled_poly`]). The cell's real
//! fit is priced as that time plus the primitive operations by which its plan differs
//! ([`super::circuit::PlanTable::extra_primitives`], priced by `primitive_seconds`): a
//! `weighted` fit's even terms add additions and products by constants, not ciphertext
//! products. A least-squares tanh fit on a symmetric interval has the interpolant's
//! structure, so nothing is added.

use crate::problem::Problem;
use crate::schedule::Schedule;

use super::circuit::{CellFits, OP_BOOTSTRAP, Segment, SegmentKind};
use super::models::{Circuit, Seconds};
use super::profile::{Profile, ProfileError};
use super::stages::{StageState, Stages};
use super::{CostBreakdown, CostError, CostModel, CostOptions};

/// Seconds of one kind of segment at each level 0..=top (NaN where it cannot start: fewer
/// levels than it consumes; the placement never starts it there).
type LevelTable = Vec<f64>;

/// Seconds of one primitive operation (as the simulator names them) from the profile's
/// operations: a ciphertext product as `mul_relin_rescale`, a plaintext one as
/// `mul_plain_rescale`, additions and products by constants as `add`, rotations as `rotate`;
/// rescales (timed with the product they follow), level drops and encodings (precomputed) as
/// nothing.
fn primitive_seconds(profile: &Profile, op: &str, level: usize) -> Result<f64, ProfileError> {
    let timed = match op {
        "mul_relin" => "mul_relin_rescale",
        "mul_plain" => "mul_plain_rescale",
        "add" | "sub" | "add_const" | "mul_const" | "add_plain" => "add",
        "rotate" | "hoisted_rotate" => "rotate",
        "rescale" | "drop_level" | "encode" | "hoisted_decompose" => return Ok(0.0),
        OP_BOOTSTRAP => {
            return profile
                .bootstrap_seconds()
                .ok_or_else(|| profile.missing(OP_BOOTSTRAP));
        }
        other => {
            return Err(ProfileError::Invalid {
                name: profile.name.clone(),
                message: format!("no price for the primitive operation '{other}'"),
            });
        }
    };
    profile
        .seconds(timed, level)
        .ok_or_else(|| profile.missing(timed))
}

/// Seconds of a circuit operation of the plan at `level`: the profile's figure; for a
/// `matvec_B` the profile lacks, its two halves as the gated circuits' operations time them,
/// `hoist_B` (the hoisted baby steps) plus `bsgs_Bx1` (diagonal products, giant steps,
/// rescale, and a bias addition the matvec does not make). The same `Linear` code runs in
/// both, so a profile measured with the gated operations at 64 units prices a SimpleRNN of
/// 64 units; in `cellwise-gated-fgb-like-12` the sum is within -4 % to +13 % of the measured
/// `matvec_32` at the same levels (separate timings of the two halves, each a median).
/// `None` if neither is there.
pub fn circuit_op_seconds(profile: &Profile, op: &str, level: usize) -> Option<f64> {
    if let Some(s) = profile.seconds(op, level) {
        return Some(s);
    }
    let blocks = op.strip_prefix("matvec_")?;
    Some(
        profile.seconds(&format!("hoist_{blocks}"), level)?
            + profile.seconds(&format!("bsgs_{blocks}x1"), level)?,
    )
}

/// Refuses a profile measured with other levels between bootstraps than `options.levels`
/// (if given).
pub fn check_levels(profile: &Profile, options: &CostOptions) -> Result<(), CostError> {
    let top = profile.params.levels;
    match options.levels.filter(|&l| l != top) {
        Some(levels) => Err(ProfileError::Invalid {
            name: profile.name.clone(),
            message: format!(
                "measured with {top} levels between bootstraps, not the {levels} asked for"
            ),
        }
        .into()),
        None => Ok(()),
    }
}

/// The `latency` model.
pub struct LatencyModel {
    name: String,
    circuit: Circuit,
    profile: Profile,
    first_linear: LevelTable,
    linear: LevelTable,
    output: LevelTable,
    /// Indexed by degree; None where the profile has no polynomial of that degree.
    poly: Vec<Option<LevelTable>>,
    bootstrap: f64,
}

impl LatencyModel {
    /// The model of `problem` with the cell polynomials `fits`, priced with `profile`; levels
    /// between bootstraps and the top level come from the profile's parameters
    /// (`options.levels`, if given, must agree).
    /// Refuses a profile that lacks an operation of the circuit (the linear parts, the
    /// polynomial of a candidate degree, the output layer) or the bootstrap.
    pub fn new(
        problem: &Problem,
        fits: &CellFits,
        profile: Profile,
        options: &CostOptions,
    ) -> Result<Self, CostError> {
        check_levels(&profile, options)?;
        let top = profile.params.levels;
        let circuit = Circuit::new(problem, fits, top, options)?;
        let bootstrap = profile
            .bootstrap_seconds()
            .ok_or_else(|| profile.missing(OP_BOOTSTRAP))?;
        let plan = circuit.table();
        let table = |kind: SegmentKind| -> Result<LevelTable, ProfileError> {
            (0..=top)
                .map(|level| {
                    let Some(ops) = plan.ops(kind, level) else {
                        return Ok(f64::NAN);
                    };
                    let timed = ops.iter().try_fold(0.0, |acc, o| {
                        let s = circuit_op_seconds(&profile, &o.op, o.level)
                            .ok_or_else(|| profile.missing(&o.op))?;
                        Ok(acc + s * o.count as f64)
                    })?;
                    let extra = plan.extra_primitives(kind, level).unwrap_or_default();
                    let total = extra.iter().try_fold(timed, |acc, d| {
                        Ok::<_, ProfileError>(
                            acc + primitive_seconds(&profile, &d.op, d.level)? * d.count as f64,
                        )
                    })?;
                    // Fewer primitives than the profiled polynomial cannot make it free.
                    Ok(total.max(0.0))
                })
                .collect()
        };
        let first_linear = table(SegmentKind::FirstLinear)?;
        let linear = table(SegmentKind::Linear)?;
        let output = table(SegmentKind::Output)?;
        let degrees = plan.degrees();
        let mut poly = vec![None; degrees.iter().max().map_or(0, |m| m + 1)];
        for d in degrees {
            poly[d] = Some(table(SegmentKind::Poly(d))?);
        }
        Ok(Self {
            name: format!("latency:{}", profile.name),
            circuit,
            profile,
            first_linear,
            linear,
            output,
            poly,
            bootstrap,
        })
    }

    /// The profile the model prices with.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// Seconds of segment `i` of `segments` starting at `level`.
    fn seconds(&self, segments: &[Segment], i: usize, level: usize) -> f64 {
        self.seconds_of(segments[i].kind, level)
    }

    /// Seconds of a segment of `kind` starting at `level`.
    fn seconds_of(&self, kind: SegmentKind, level: usize) -> f64 {
        let table = match kind {
            SegmentKind::FirstLinear => &self.first_linear,
            SegmentKind::Linear => &self.linear,
            SegmentKind::Output => &self.output,
            // Invariant: segments only holds planned degrees, and every planned degree has a
            // table (built in `new`).
            SegmentKind::Poly(d) => self.poly[d].as_ref().expect("planned degree"),
        };
        table[level]
    }

    fn priced(
        &self,
        schedule: &Schedule,
    ) -> Result<(Vec<Segment>, super::placement::Placement), CostError> {
        let segments = self.circuit.segments(schedule)?;
        let placement = self.circuit.place(&segments, self.bootstrap, |i, level| {
            self.seconds(&segments, i, level)
        })?;
        Ok((segments, placement))
    }
}

impl CostModel for LatencyModel {
    fn name(&self) -> &str {
        &self.name
    }

    fn unit(&self) -> &str {
        "s"
    }

    fn cost(&self, schedule: &Schedule) -> Result<f64, CostError> {
        Ok(self.priced(schedule)?.1.cost)
    }

    fn breakdown(&self, schedule: &Schedule) -> Result<CostBreakdown, CostError> {
        let (segments, placement) = self.priced(schedule)?;
        let price = |i: usize, level: usize| self.seconds(&segments, i, level);
        let seconds = Seconds {
            segment: &price,
            bootstrap: self.bootstrap,
        };
        Ok(self.circuit.breakdown(
            (self.name(), self.unit(), placement.cost),
            &segments,
            &placement,
            Some(seconds),
        ))
    }

    /// With the optimal placement only: greedy placement may cost more than the cheapest walk.
    fn stages(&self) -> Option<&dyn Stages> {
        self.circuit
            .places_optimally()
            .then_some(self as &dyn Stages)
    }
}

/// The latency as a walk: every segment costs its seconds at its level, a bootstrap its own.
impl Stages for LatencyModel {
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
        let price = |s: &Segment, level: usize| self.seconds_of(s.kind, level);
        self.circuit
            .stage_step(step, (state, cost), degrees, (self.bootstrap, price), out)
    }

    fn finish(&self, state: StageState, cost: f64) -> Result<Option<f64>, CostError> {
        let price = |s: &Segment, level: usize| self.seconds_of(s.kind, level);
        self.circuit
            .stage_finish((state, cost), (self.bootstrap, price))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::profile::tests::sample_json;
    use crate::problem::DEFAULT_PROBLEM;
    use crate::schedule::Approx;

    fn model() -> LatencyModel {
        let p = Problem::load(DEFAULT_PROBLEM).unwrap();
        let profile = Profile::from_json("sample", &sample_json()).unwrap();
        let fits = CellFits::from_problem(&p).unwrap();
        LatencyModel::new(&p, &fits, profile, &CostOptions::default()).unwrap()
    }

    #[test]
    fn breakdown_adds_up_and_matches_cost() {
        let m = model();
        let s = Schedule::uniform(28, Approx::Degree(17));
        let b = m.breakdown(&s).unwrap();
        assert_eq!(b.total, m.cost(&s).unwrap());
        let sum: f64 = b.steps.iter().map(|s| s.seconds.unwrap()).sum();
        assert!((sum - b.total).abs() < 1e-9, "{sum} vs {}", b.total);
        assert_eq!(b.bootstraps, 27);
        assert_eq!(m.name(), "latency:sample");
        // Bootstraps dominate (20 s each) and lowering cells saves bootstraps.
        let all7 = m.cost(&Schedule::uniform(28, Approx::Degree(7))).unwrap();
        assert!(all7 < b.total);
    }

    #[test]
    fn missing_ops_are_refused() {
        let p = Problem::load(DEFAULT_PROBLEM).unwrap();
        let fits = CellFits::from_problem(&p).unwrap();
        for (from, to) in [
            ("\"bootstrap\"", "\"bootstrapp\""),
            ("\"matvec_32\"", "\"matvec\""),
            ("\"poly_deg7\"", "\"poly_deg8\""),
        ] {
            let json = sample_json().replace(from, to);
            let profile = Profile::from_json("broken", &json).unwrap();
            let err = LatencyModel::new(&p, &fits, profile, &CostOptions::default())
                .err()
                .unwrap()
                .to_string();
            assert!(
                err.contains(&format!(
                    "no timing for operation {}",
                    from.replace('"', "'")
                )),
                "{err}"
            );
        }
        let profile = Profile::from_json("sample", &sample_json()).unwrap();
        let options = CostOptions {
            levels: Some(8),
            ..CostOptions::default()
        };
        let err = LatencyModel::new(&p, &fits, profile, &options)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("measured with 9 levels"), "{err}");
    }
}
