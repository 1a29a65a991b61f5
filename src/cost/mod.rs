//! Cost models: what a schedule costs under CKKS.
//!
//! A schedule's price is not its degree sum. Each RNN step consumes levels (its linear part,
//! then the cell's polynomial), bootstraps must be placed where the levels run out, and every
//! operation costs what it costs *at the level it runs at*. All strategies price schedules
//! through one trait, [`CostModel`], picked by name with [`by_name`] or, with the fits a
//! model and its training data give, [`for_candidates`] ([`Spec`] checks a name before
//! those fits exist):
//!
//! | spec | unit | what it counts |
//! |---|---|---|
//! | `depth` | levels | total multiplicative depth of the encrypted inference |
//! | `bootstraps` | bootstraps | minimum number of bootstraps (AutoFHE's cost) |
//! | `latency[:PROFILE]` | s | predicted seconds from a measured timing profile, with the bootstraps placed optimally |
//!
//! The pieces: [`circuit`] turns a schedule into segments (levels consumed, operations),
//! [`placement`] places bootstraps (greedy and optimal), the models in [`models`] price the
//! result, and [`stages`] shows a model step by step to a dynamic programme.

pub mod calibration;
pub mod circuit;
pub mod gated;
pub mod graph_depth;
pub mod latency;
pub mod models;
pub mod placement;
pub mod profile;
pub mod report;
pub mod stages;

use serde::Serialize;

use crate::oracle::Candidates;
use crate::problem::Problem;
use crate::recurrence::CellKind;
use crate::schedule::Schedule;

pub use circuit::{BootstrapPoints, CellFits};
pub use latency::LatencyModel;
pub use models::{BootstrapsModel, DepthModel, PlacementPolicy};
pub use profile::{Profile, ProfileError};
pub use stages::{StageState, Stages};

/// Levels available for computation after a bootstrap (and in a fresh ciphertext) with the
/// `fgb-like` preset, as HEaaN's FGb parameters.
pub const FGB_LEVELS: usize = 9;

/// The preset whose shipped profile prices a SimpleRNN when none is named (the paper's chain).
pub const DEFAULT_PRESET: &str = "fgb-like";

/// The preset whose shipped profile prices gated cells when none is named (the one their
/// circuits' operations were profiled at).
pub const DEFAULT_GATED_PRESET: &str = "fgb-like-12";

/// Errors raised while pricing a schedule or building a cost model.
#[derive(Debug, thiserror::Error)]
pub enum CostError {
    /// `latency` was asked for without a profile at a preset no shipped profile was measured at.
    #[error(
        "no shipped timing profile was measured at preset {preset}: measure one (cellwise ckks profile --preset {preset} --out FILE) and give it as latency:FILE, or use --cost depth or bootstraps"
    )]
    NoProfile {
        /// The preset.
        preset: String,
    },
    /// The spec given to [`by_name`] names no model.
    #[error("unknown cost model '{0}' (known: depth, bootstraps, latency[:PROFILE])")]
    UnknownModel(String),
    /// A model that takes no profile was given one.
    #[error("cost model '{0}' takes no profile (only latency does: latency:PROFILE)")]
    UnexpectedProfile(String),
    /// A cell has no CKKS cost (it is the exact activation).
    #[error(
        "cell {cell} uses the exact activation, which cannot run under CKKS: give it a polynomial degree"
    )]
    ExactCell {
        /// Index of the offending cell.
        cell: usize,
    },
    /// A degree that cannot be evaluated.
    #[error("cell {cell}: degree {degree} is not supported ({reason})")]
    Degree {
        /// Index of the offending cell.
        cell: usize,
        /// The degree asked for.
        degree: usize,
        /// Why it cannot be priced.
        reason: String,
    },
    /// The schedule does not have one cell per step of the problem.
    #[error("schedule has {got} cells but problem '{problem}' has {expected} steps")]
    Length {
        /// Problem name.
        problem: String,
        /// Cells in the schedule.
        got: usize,
        /// Steps of the problem.
        expected: usize,
    },
    /// A circuit model was built for a problem with `weighted` fits without those fits.
    #[error(
        "problem '{0}' has weighted fits, fitted to the training split's pre-activations: its cost model needs those fits (the weights and the data), not a stand-in"
    )]
    NeedsFits(String),
    /// The fits given to a circuit model are not the problem's.
    #[error("the fits given for problem '{problem}' are not its own: {reason}")]
    Candidates {
        /// Problem name.
        problem: String,
        /// What differs.
        reason: String,
    },
    /// Planning the circuit over the simulated evaluator failed.
    #[error("planning the encrypted circuit: {0}")]
    Plan(String),
    /// The timing profile is unusable.
    #[error(transparent)]
    Profile(#[from] ProfileError),
    /// A segment needs more levels than a bootstrap provides.
    #[error("{what} needs {needed} levels but only {available} are available after a bootstrap")]
    TooDeep {
        /// Which part of the circuit.
        what: String,
        /// Levels it consumes.
        needed: usize,
        /// Levels a bootstrap provides.
        available: usize,
    },
}

/// Prices schedules. Implementations precompute what they can so that one call is cheap
/// (a few microseconds): search strategies call it for every schedule they meet.
pub trait CostModel: Send + Sync {
    /// Short name, e.g. `depth` or `latency:cellwise`.
    fn name(&self) -> &str;
    /// Unit of [`CostModel::cost`], e.g. `levels`, `bootstraps`, `s`.
    fn unit(&self) -> &str;
    /// The cost of a schedule (lower is better).
    fn cost(&self, schedule: &Schedule) -> Result<f64, CostError>;
    /// The cost with its per-step account.
    fn breakdown(&self, schedule: &Schedule) -> Result<CostBreakdown, CostError>;
    /// The model as moves between the states of consecutive steps, whose cheapest walk
    /// through a schedule costs [`CostModel::cost`]; `None` if it has no such form.
    fn stages(&self) -> Option<&dyn Stages> {
        None
    }
}

/// A schedule's cost, step by step.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CostBreakdown {
    /// Name of the model that priced it.
    pub model: String,
    /// Unit of `total`.
    pub unit: String,
    /// The cost, as [`CostModel::cost`] returns it.
    pub total: f64,
    /// Levels available after a bootstrap.
    pub levels_per_bootstrap: usize,
    /// Total multiplicative depth (levels consumed, all segments).
    pub depth: usize,
    /// Number of bootstraps in the chosen placement.
    pub bootstraps: usize,
    /// One entry per RNN step, then one for the output layer (`degree` = None).
    pub steps: Vec<StepCost>,
    /// For gated cells' circuit models: where the chosen placement refreshes (what the
    /// server of [`crate::ckks::cell`] takes); `None` for the SimpleRNN's segment models,
    /// whose placement is [`CostBreakdown::bootstrap_segments`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refreshes: Option<crate::ckks::cell::Refreshes>,
}

impl CostBreakdown {
    /// The segments a bootstrap runs right before, in circuit order: the named form of
    /// `bootstrap_before` / `bootstrap_mid` that the CKKS plan and the server take.
    pub fn bootstrap_segments(&self) -> Vec<crate::ckks::plan::SegmentId> {
        use crate::ckks::plan::SegmentId;
        // One entry per step, then the output layer's (see `steps`); a step's degree is not
        // a reliable marker (the step-graph model of gated cells leaves it unset).
        let steps = self.steps.len().saturating_sub(1);
        let mut boots = Vec::new();
        for s in &self.steps {
            if s.step < steps {
                if s.bootstrap_before {
                    boots.push(SegmentId::linear(s.step));
                }
                if s.bootstrap_mid {
                    boots.push(SegmentId::activation(s.step));
                }
            } else if s.bootstrap_before {
                boots.push(SegmentId::output(steps));
            }
        }
        boots
    }
}

/// One step of the encrypted inference (or the final Dense layer).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepCost {
    /// Step index (the output layer has index = number of steps).
    pub step: usize,
    /// The cell's polynomial degree (None for the output layer).
    pub degree: Option<usize>,
    /// Level of the hidden state entering the step.
    pub level_in: usize,
    /// True if a bootstrap runs before the step's linear part.
    pub bootstrap_before: bool,
    /// True if a bootstrap runs between the linear part and the polynomial.
    pub bootstrap_mid: bool,
    /// Level of the hidden state leaving the step.
    pub level_out: usize,
    /// Levels the step consumes (linear part + polynomial).
    pub depth: usize,
    /// Operations the step runs, by profile operation name, with the level each starts at.
    pub ops: Vec<OpCount>,
    /// The same work in primitive operations (`mul_relin`, `rotate`, `rescale`, ...), as
    /// the simulated evaluator counted them.
    pub primitives: Vec<OpCount>,
    /// Predicted seconds of the step including its bootstraps (latency model only).
    pub seconds: Option<f64>,
}

/// How many times one operation runs at one level.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OpCount {
    /// Profile operation name (`matvec_32`, `poly_deg17`, `bootstrap`, ...).
    pub op: String,
    /// Level the operation starts at.
    pub level: usize,
    /// Number of times.
    pub count: usize,
}

/// Choices shared by every model; the defaults are what [`by_name`] uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CostOptions {
    /// Levels available after a bootstrap; `None`: [`FGB_LEVELS`] for `depth` and
    /// `bootstraps`, the profile's `params.levels` for `latency`.
    pub levels: Option<usize>,
    /// Where bootstraps may go (default: also mid-step, before the polynomial).
    pub points: BootstrapPoints,
    /// How they are placed (default: optimal).
    pub placement: PlacementPolicy,
    /// The CKKS parameter preset the circuit runs at: `latency` without a named profile
    /// uses the shipped profile measured at this preset (`None`: `fgb-like` for a SimpleRNN,
    /// `fgb-like-12` for gated cells, the presets their shipped profiles were measured at).
    pub preset: Option<&'static str>,
}

/// What a spec names.
enum SpecKind {
    /// `depth` of a gated cell: its step graph (no circuit, no fits).
    GraphDepth,
    /// `depth` of a SimpleRNN's circuit.
    Depth,
    /// `bootstraps`.
    Bootstraps,
    /// `latency` with its profile.
    Latency(Box<Profile>),
    /// `bootstraps` of a gated cell's circuit.
    GatedBootstraps,
    /// `latency` of a gated cell's circuit, with its profile.
    GatedLatency(Box<Profile>),
}

/// A cost-model spec `MODEL[:PROFILE]` checked against a problem and options, its profile
/// loaded: everything a model needs but the cell's fitted polynomials. Commands parse it
/// first, so that a bad spec is refused before any weights or data are read, and
/// [`Spec::build`] it once the fits exist.
pub struct Spec {
    kind: SpecKind,
    options: CostOptions,
}

impl Spec {
    /// Parses `spec` for `problem`: `depth`, `bootstraps`, `latency` (with
    /// [`profile::default_profile_for`] the options' preset) or `latency:PROFILE` (a shipped
    /// profile's short name or a path to a profile JSON). Gated cells have `depth` only (their
    /// step graph). Levels outside 1..=[`placement::MAX_LEVELS`], and a profile measured with
    /// other levels than `options.levels`, are refused here.
    pub fn parse(spec: &str, problem: &Problem, options: &CostOptions) -> Result<Self, CostError> {
        let (model, profile) = match spec.split_once(':') {
            Some((m, p)) => (m, Some(p)),
            None => (spec, None),
        };
        if let Some(levels) = options.levels
            && !(1..=placement::MAX_LEVELS).contains(&levels)
        {
            return Err(placement::levels_out_of_range(levels));
        }
        let no_profile = |kind: SpecKind| match profile {
            Some(_) => Err(CostError::UnexpectedProfile(model.to_string())),
            None => Ok(kind),
        };
        let circuit = problem.cell() == CellKind::SimpleRnn;
        let kind = match model {
            "depth" if circuit => no_profile(SpecKind::Depth)?,
            "depth" => no_profile(SpecKind::GraphDepth)?,
            "bootstraps" if circuit => no_profile(SpecKind::Bootstraps)?,
            "bootstraps" => no_profile(SpecKind::GatedBootstraps)?,
            "latency" => {
                let profile = match profile {
                    Some(name) => Profile::load(name)?,
                    None => {
                        let preset = options.preset.unwrap_or(if circuit {
                            DEFAULT_PRESET
                        } else {
                            DEFAULT_GATED_PRESET
                        });
                        let op = (!circuit).then(|| format!("hoist_{}", gated::blocks_of(problem)));
                        let name = profile::default_profile_for(preset, op.as_deref()).ok_or_else(
                            || CostError::NoProfile {
                                preset: preset.to_string(),
                            },
                        )?;
                        Profile::load(name)?
                    }
                };
                latency::check_levels(&profile, options)?;
                if circuit {
                    SpecKind::Latency(Box::new(profile))
                } else {
                    SpecKind::GatedLatency(Box::new(profile))
                }
            }
            _ => return Err(CostError::UnknownModel(spec.to_string())),
        };
        Ok(Self {
            kind,
            options: *options,
        })
    }

    /// The timing profile of a `latency` spec.
    pub fn profile(&self) -> Option<&Profile> {
        match &self.kind {
            SpecKind::Latency(p) | SpecKind::GatedLatency(p) => Some(p),
            _ => None,
        }
    }

    /// The same spec with its profile carried to the machine `here` measured
    /// ([`calibration::calibrate`]), and how the figures moved; `None` for a spec without a
    /// profile.
    pub fn calibrated(
        &self,
        here: &calibration::Calibration,
    ) -> Result<Option<(Self, calibration::Factors)>, calibration::CalibrationError> {
        let wrap = |p: Profile| match self.kind {
            SpecKind::GatedLatency(_) => SpecKind::GatedLatency(Box::new(p)),
            _ => SpecKind::Latency(Box::new(p)),
        };
        let Some(profile) = self.profile() else {
            return Ok(None);
        };
        let (p, factors) = calibration::calibrate(profile, here)?;
        Ok(Some((
            Self {
                kind: wrap(p),
                options: self.options,
            },
            factors,
        )))
    }

    /// True if the model plans the encrypted circuit and so needs the cell's fits: a problem
    /// with `weighted` fits must then give them to [`Spec::build`].
    pub fn needs_fits(&self) -> bool {
        !matches!(self.kind, SpecKind::GraphDepth)
    }

    /// Builds the model. A model of the encrypted circuit plans the fits of `candidates`
    /// (for a problem whose fits need data: [`Candidates::for_model`]'s on the training
    /// split), or with `None` the problem's own fits, which a problem with `weighted` fits
    /// refuses ([`CostError::NeedsFits`]). A gated cell's step-graph depth needs no fits.
    pub fn build(
        self,
        problem: &Problem,
        candidates: Option<&Candidates>,
    ) -> Result<Box<dyn CostModel>, CostError> {
        let fits = || match candidates {
            Some(c) => CellFits::from_candidates(problem, c),
            None => CellFits::from_problem(problem),
        };
        let gated_fits = || match candidates {
            Some(c) => gated::SlotFits::from_candidates(problem, c),
            None => gated::SlotFits::from_problem(problem),
        };
        Ok(match self.kind {
            SpecKind::GraphDepth => Box::new(graph_depth::GraphDepthModel::new(problem)),
            SpecKind::Depth => Box::new(DepthModel::new(problem, &fits()?, &self.options)?),
            SpecKind::Bootstraps => {
                Box::new(BootstrapsModel::new(problem, &fits()?, &self.options)?)
            }
            SpecKind::Latency(profile) => Box::new(LatencyModel::new(
                problem,
                &fits()?,
                *profile,
                &self.options,
            )?),
            SpecKind::GatedBootstraps => Box::new(gated::GatedModel::bootstraps(
                problem,
                gated_fits()?,
                self.options.levels.unwrap_or(FGB_LEVELS),
            )),
            SpecKind::GatedLatency(profile) => Box::new(gated::GatedModel::latency(
                problem,
                gated_fits()?,
                *profile,
            )?),
        })
    }
}

/// The cost model `cellwise search` and `cellwise compare` use when none is named: the
/// predicted latency of the project's engine at `fgb-like-12` (12 levels between
/// bootstraps, measured in `profiles/cellwise-fgb-like-12.json`).
pub const DEFAULT_SEARCH_COST: &str = "latency:cellwise-fgb-like-12";

/// [`DEFAULT_SEARCH_COST`] for gated cells: the first profile measured with their circuit's
/// operations, at the same 12 levels (another machine kind: its seconds are not comparable
/// with the SimpleRNN's profile).
pub const DEFAULT_GATED_SEARCH_COST: &str = "latency:cellwise-gated-fgb-like-12";

/// The default search cost model of `problem`'s cell.
pub fn default_search_cost(problem: &Problem) -> &'static str {
    match problem.cell() {
        CellKind::SimpleRnn => DEFAULT_SEARCH_COST,
        _ => DEFAULT_GATED_SEARCH_COST,
    }
}

/// What a search uses when no cost model is named: [`DEFAULT_SEARCH_COST`] where it can
/// price the problem's circuit, else `depth` (the levels consumed), with the reason. The
/// fallback covers the problems without a latency model: a gated cell (no encrypted
/// circuit yet) and a SimpleRNN of a shape the profile was not measured for (such as
/// `mnist-6x6`'s 8 units). Any other failure is an error. `candidates` as for
/// [`Spec::build`].
pub fn default_for_search(
    problem: &Problem,
    candidates: Option<&Candidates>,
) -> Result<(Box<dyn CostModel>, Option<String>), CostError> {
    let options = CostOptions::default();
    let latency = Spec::parse(default_search_cost(problem), problem, &options)
        .and_then(|spec| spec.build(problem, candidates));
    match latency {
        Ok(model) => Ok((model, None)),
        Err(CostError::Profile(ProfileError::MissingOp { name, op, .. })) => {
            let depth = Spec::parse("depth", problem, &options)?.build(problem, candidates)?;
            let why = format!("profile {name} has no timing for its circuit's operation '{op}'");
            Ok((depth, Some(why)))
        }
        Err(e) => Err(e),
    }
}

/// [`by_name_with`] with the default [`CostOptions`].
pub fn by_name(spec: &str, problem: &Problem) -> Result<Box<dyn CostModel>, CostError> {
    by_name_with(spec, problem, &CostOptions::default())
}

/// Builds a cost model from a spec `MODEL[:PROFILE]` (see [`Spec::parse`]) with the
/// problem's own fits: a circuit model of a problem with `weighted` fits is refused
/// (their fits need data: use [`for_candidates`]).
pub fn by_name_with(
    spec: &str,
    problem: &Problem,
    options: &CostOptions,
) -> Result<Box<dyn CostModel>, CostError> {
    Spec::parse(spec, problem, options)?.build(problem, None)
}

/// Builds a cost model from a spec `MODEL[:PROFILE]` (see [`Spec::parse`]) that plans and
/// prices the fits of `candidates`: the ones the oracle scores and the server evaluates.
pub fn for_candidates(
    spec: &str,
    problem: &Problem,
    candidates: &Candidates,
    options: &CostOptions,
) -> Result<Box<dyn CostModel>, CostError> {
    Spec::parse(spec, problem, options)?.build(problem, Some(candidates))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::DEFAULT_PROBLEM;
    use crate::schedule::Approx;

    #[test]
    fn models_by_name() {
        let p = Problem::load(DEFAULT_PROBLEM).unwrap();
        let all17 = Schedule::uniform(28, Approx::Degree(17));
        for (spec, name, unit) in [
            ("depth", "depth", "levels"),
            ("bootstraps", "bootstraps", "bootstraps"),
            ("latency", "latency:cellwise", "s"),
            ("latency:openfhe", "latency:openfhe", "s"),
        ] {
            let m = by_name(spec, &p).unwrap();
            assert_eq!((m.name(), m.unit()), (name, unit));
            assert!(m.cost(&all17).unwrap() > 0.0);
        }
        let err = by_name("nope", &p).err().unwrap().to_string();
        assert!(err.contains("unknown cost model 'nope'"), "{err}");
        let err = by_name("depth:cellwise", &p).err().unwrap().to_string();
        assert!(err.contains("takes no profile"), "{err}");
    }

    #[test]
    fn searches_default_to_latency_where_a_profile_prices_the_circuit() {
        let name = |p: &str| {
            let p = Problem::load(p).unwrap();
            let (m, why) = default_for_search(&p, None).unwrap();
            (m.name().to_string(), why)
        };
        assert_eq!(
            name(DEFAULT_PROBLEM),
            (DEFAULT_SEARCH_COST.to_string(), None)
        );
        let (model, why) = name("mnist-6x6");
        assert_eq!(model, "depth");
        assert!(why.unwrap().contains("matvec_16"));
        assert_eq!(
            name("mnist-gru32"),
            (DEFAULT_GATED_SEARCH_COST.to_string(), None)
        );
        // Fits that need data are still asked for, not replaced by depth.
        let safe = Problem::load("mnist-rnn32-safe").unwrap();
        assert!(matches!(
            default_for_search(&safe, None),
            Err(CostError::NeedsFits(_))
        ));
    }

    #[test]
    fn exact_cells_are_refused() {
        let p = Problem::load(DEFAULT_PROBLEM).unwrap();
        let mut cells = vec![Approx::Degree(17); 28];
        cells[5] = Approx::Exact;
        let m = by_name("depth", &p).unwrap();
        let err = m.cost(&Schedule::new(cells)).unwrap_err().to_string();
        assert!(err.contains("cell 5 uses the exact activation"), "{err}");
    }
}
