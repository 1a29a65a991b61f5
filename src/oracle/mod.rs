//! The accuracy oracle: one shared, thread-safe scorer of schedules on a data split.
//!
//! - the cell's step program (`crate::recurrence`) is interpreted on blocks of images;
//! - x_t W + b of every gate is computed once per split and shared by every evaluation;
//! - images run in blocks of 16 through one SIMD kernel (`kernel`), in two parallel work
//!   items (rayon);
//! - carried states after a schedule's first steps are kept in a bounded LRU cache, so a
//!   schedule that shares those steps with an earlier one (a DFS child and its parent)
//!   starts from there;
//! - [`Oracle::accepts`] answers "at least `min_correct` right?" and stops as soon as the
//!   answer is certain; it always equals the full evaluation's answer;
//! - whole-schedule results are memoised (unless `OracleConfig::memoise` is off); counters
//!   say what was computed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;

use crate::approx::{Activation, ApproxError, Approximation, FitMethod};
use crate::data::Split;
use crate::model::Weights;
use crate::model::forward::slot_histograms;
use crate::model::inputs::InputProfile;
use crate::problem::Problem;
use crate::recurrence::{CellKind, GateUse};
use crate::schedule::{Approx, Schedule, ScheduleError, Space};

mod cache;
mod gemm;
mod kernel;
mod real;

pub use gemm::matmul;
pub use kernel::NO_PREDICTION;

use cache::{PrefixCache, PrefixState};
use kernel::{LANES, Prepared, SlotFn, SlotMap, Snapshot, pack_recurrent, run_chunk};
use real::Real;

/// Image blocks per work item: the unit of parallel work, of the early exit and of the
/// prefix cache (each item stores and resumes its own states, so a run stopped early keeps
/// what its finished items computed).
const ITEM_BLOCKS: usize = 32;
/// Images on which the mean deviation from the exact model is measured.
pub const DEVIATION_IMAGES: usize = 1024;

/// An image is unsafe for batched CKKS evaluation once a pre-activation entering a
/// polynomial cell lies further than this from the fit interval's centre, in half-widths
/// (|t| > 1.25 for the Chebyshev argument t). There T_16(t) exceeds 2^15, which overflows
/// the levels a polynomial runs at, and the bootstrap that follows turns the overflow into
/// noise in every slot of the ciphertext: one unsafe image costs its whole batch, while in
/// plaintext it only loses itself.
pub const SAFE_ARGUMENT: f64 = 1.25;

/// Errors raised by the oracle.
#[derive(Debug, thiserror::Error)]
pub enum OracleError {
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    #[error(transparent)]
    Approx(#[from] ApproxError),
    #[error("weights: {0}")]
    Weights(String),
    #[error("split '{0}' has no images")]
    EmptySplit(String),
}

/// Arithmetic precision of the forward pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Precision {
    F32,
    F64,
}

/// Oracle settings.
#[derive(Clone, Debug)]
pub struct OracleConfig {
    pub precision: Precision,
    /// Capacity of the prefix cache in MiB (0 disables it).
    pub cache_mb: usize,
    /// A full evaluation stores the hidden states after every `cache_stride`-th step (a
    /// schedule differing at cell i resumes from the last stored step <= i).
    pub cache_stride: usize,
    /// Keep every full evaluation for later questions about the same schedule (off for a
    /// strategy that asks about each schedule once, such as exhaustive enumeration: the
    /// memo would hold every image's prediction of every schedule).
    pub memoise: bool,
}

impl Default for OracleConfig {
    fn default() -> Self {
        Self {
            precision: Precision::F32,
            cache_mb: 256,
            cache_stride: 2,
            memoise: true,
        }
    }
}

/// Whether a run stores the carried states after its steps for later schedules that share
/// them (a schedule that will have no children, such as a DFS node at its replacement cap,
/// spares the copies and keeps the cache for states that will be read).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Prefixes {
    #[default]
    Keep,
    Skip,
}

/// The candidate approximations of one activation slot: one fitted polynomial per degree.
#[derive(Clone, Debug)]
pub struct SlotCandidates {
    /// Slot name.
    pub name: &'static str,
    pub function: Activation,
    pub interval: [f64; 2],
    pub approximations: Vec<Approximation>,
}

impl SlotCandidates {
    /// The candidate degrees, as the problem lists them.
    pub fn degrees(&self) -> Vec<usize> {
        self.approximations.iter().map(|a| a.degree).collect()
    }

    /// The fit of `degree`, if it is a candidate.
    pub fn fit(&self, degree: usize) -> Option<&Approximation> {
        self.approximations.iter().find(|a| a.degree == degree)
    }
}

/// The candidate approximations of a problem, slot by slot.
#[derive(Clone, Debug)]
pub struct Candidates {
    pub cell: CellKind,
    pub slots: Vec<SlotCandidates>,
}

/// Bins of the pre-activation histograms behind `weighted` fits.
pub const HISTOGRAM_BINS: usize = 256;

/// Images (the split's first) on which [`Oracle::input_profile`] measures each position.
pub const PROFILE_IMAGES: usize = 2048;
/// Bins of [`Oracle::input_profile`]'s histograms.
pub const PROFILE_BINS: usize = 512;
/// [`Oracle::input_profile`]'s histograms span each slot's fit interval widened to this many
/// half-widths about its centre (the polynomials' behaviour just outside the interval
/// counts; arguments further out fall in the end bins).
pub const PROFILE_REACH: f64 = 2.0;

impl Candidates {
    /// Fits every slot's candidate degrees by its method; `weighted` slots need the
    /// histogram of their measured pre-activations (one entry per slot, see
    /// [`Candidates::for_model`]).
    pub fn from_problem(
        problem: &Problem,
        histograms: Option<Vec<(Vec<f64>, Vec<f64>)>>,
    ) -> Result<Self, OracleError> {
        let fits = problem.slot_fits();
        let mut slots = Vec::with_capacity(fits.len());
        for (s, fit) in fits.into_iter().enumerate() {
            let method = match (fit.method.as_str(), &histograms) {
                ("weighted", Some(h)) => FitMethod::Weighted {
                    edges: h[s].0.clone(),
                    counts: h[s].1.clone(),
                },
                ("weighted", None) => return Err(ApproxError::EmptyHistogram.into()),
                (name, _) => FitMethod::parse(name)?,
            };
            let approximations = fit
                .degrees
                .iter()
                .map(|&d| Approximation::fit(fit.function, d, fit.interval, &method))
                .collect::<Result<_, _>>()?;
            slots.push(SlotCandidates {
                name: fit.name,
                function: fit.function,
                interval: fit.interval,
                approximations,
            });
        }
        Ok(Self {
            cell: problem.cell(),
            slots,
        })
    }

    /// Fits the problem's candidates for `weights`; a slot with `weighted` fits takes the
    /// histogram of the exact model's pre-activations at that slot on `train`
    /// ([`HISTOGRAM_BINS`] bins of its interval).
    pub fn for_model(
        problem: &Problem,
        weights: &Weights,
        train: &Split,
    ) -> Result<Self, OracleError> {
        let fits = problem.slot_fits();
        let histograms = problem.fits_need_data().then(|| {
            let intervals: Vec<[f64; 2]> = fits.iter().map(|f| f.interval).collect();
            slot_histograms(
                weights,
                train.images.view(),
                &intervals,
                HISTOGRAM_BINS,
                8192,
            )
        });
        Self::from_problem(problem, histograms)
    }

    /// The search space these candidates span over `steps` steps.
    pub fn space(&self, steps: usize) -> Space {
        Space::new(
            self.cell,
            steps,
            self.slots.iter().map(|s| s.degrees()).collect(),
        )
    }
}

/// The score of one schedule on one split.
#[derive(Clone, Debug, Serialize)]
pub struct Evaluation {
    pub schedule: String,
    pub split: String,
    pub correct: usize,
    pub total: usize,
    pub accuracy: f64,
    /// 95 % Wilson score interval of the accuracy.
    pub interval: [f64; 2],
    /// Pre-activations outside the fit interval, all steps.
    pub out_of_domain: u64,
    /// `out_of_domain` / (images x steps x hidden x slots).
    pub out_of_domain_rate: f64,
    pub out_of_domain_per_step: Vec<u64>,
    /// Out-of-domain pre-activations per slot (in the cell's slot order), all steps.
    pub out_of_domain_per_slot: Vec<u64>,
    /// Largest |Chebyshev argument| of a pre-activation at a polynomial (slot, step) over all
    /// images (in half-widths of the slot's fit interval; infinite after an overflow).
    pub peak_argument: f64,
    /// Images whose peak argument exceeds [`SAFE_ARGUMENT`] (ascending): each would spoil
    /// its CKKS batch.
    pub unsafe_images: Vec<usize>,
    /// Mean |h_t - h_t(exact)| per step over the first [`DEVIATION_IMAGES`] images.
    pub mean_abs_deviation_per_step: Vec<f64>,
    /// Predicted class per image ([`NO_PREDICTION`] where no logit is finite).
    #[serde(skip)]
    pub predictions: Vec<u8>,
}

/// What the oracle has done so far.
#[derive(Clone, Debug, Default, Serialize)]
pub struct OracleStats {
    /// Schedules run (fully or until an early exit).
    pub runs: u64,
    /// Answers taken from the memo of whole schedules.
    pub memo_hits: u64,
    /// Runs that started from a cached prefix.
    pub prefix_hits: u64,
    /// Runs stopped early by `accepts`.
    pub early_exits: u64,
    /// Image-steps computed (one image through one cell).
    pub image_steps: u64,
    /// Seconds spent in runs.
    pub seconds: f64,
    /// Bytes held by the prefix cache.
    pub cache_bytes: usize,
}

enum Engine {
    F32(Box<EngineT<f32>>),
    F64(Box<EngineT<f64>>),
}

struct EngineT<T> {
    prepared: Prepared<T>,
    /// Each slot's functions by approximation.
    fns: Vec<HashMap<Approx, SlotFn<T>>>,
    cache: Mutex<PrefixCache<T>>,
    stride: usize,
    /// The work items' block ranges (first, last).
    items: Vec<(usize, usize)>,
}

/// The shared accuracy oracle of one split. `Send + Sync`: share it by reference or `Arc`.
pub struct Oracle {
    engine: Engine,
    split: String,
    space: Space,
    memo: Mutex<HashMap<Schedule, Arc<Evaluation>>>,
    memoise: bool,
    candidates: Candidates,
    /// What [`Oracle::input_profile`] measures on: the weights and the split's first
    /// [`PROFILE_IMAGES`] images with their labels.
    profile_source: (Weights, ndarray::Array3<f32>, Vec<u8>),
    profile: OnceLock<InputProfile>,
    runs: AtomicU64,
    memo_hits: AtomicU64,
    prefix_hits: AtomicU64,
    early_exits: AtomicU64,
    image_steps: AtomicU64,
    nanos: AtomicU64,
}

impl Oracle {
    /// Prepares the oracle of `split` for `weights` and the candidate approximations.
    pub fn new(
        weights: &Weights,
        split: &Split,
        candidates: &Candidates,
        config: &OracleConfig,
    ) -> Result<Self, OracleError> {
        weights
            .validate(Some((
                split.images.dim().2,
                weights.hidden(),
                weights.classes(),
            )))
            .map_err(|e| OracleError::Weights(e.to_string()))?;
        if weights.cell != candidates.cell {
            return Err(OracleError::Weights(format!(
                "the weights are a {}, the problem's candidates are for a {}",
                weights.cell, candidates.cell
            )));
        }
        if split.is_empty() {
            return Err(OracleError::EmptySplit(split.name.clone()));
        }
        let cache_bytes = config.cache_mb << 20;
        let engine = match config.precision {
            Precision::F32 => Engine::F32(Box::new(EngineT::new(
                weights,
                split,
                candidates,
                cache_bytes,
                config.cache_stride,
            ))),
            Precision::F64 => Engine::F64(Box::new(EngineT::new(
                weights,
                split,
                candidates,
                cache_bytes,
                config.cache_stride,
            ))),
        };
        Ok(Self {
            engine,
            split: split.name.clone(),
            space: candidates.space(split.images.dim().1),
            memo: Mutex::new(HashMap::new()),
            memoise: config.memoise,
            candidates: candidates.clone(),
            profile_source: {
                let n = split.len().min(PROFILE_IMAGES);
                (
                    weights.clone(),
                    split.images.slice(ndarray::s![..n, .., ..]).to_owned(),
                    split.labels[..n].to_vec(),
                )
            },
            profile: OnceLock::new(),
            runs: AtomicU64::new(0),
            memo_hits: AtomicU64::new(0),
            prefix_hits: AtomicU64::new(0),
            early_exits: AtomicU64::new(0),
            image_steps: AtomicU64::new(0),
            nanos: AtomicU64::new(0),
        })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        match &self.engine {
            Engine::F32(e) => e.prepared.n,
            Engine::F64(e) => e.prepared.n,
        }
    }

    /// True for an oracle without images (never: `new` refuses empty splits).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of steps a schedule must have.
    pub fn steps(&self) -> usize {
        self.space.steps
    }

    /// The search space: slots, steps and each slot's candidate degrees.
    pub fn space(&self) -> &Space {
        &self.space
    }

    /// Name of the split.
    pub fn split(&self) -> &str {
        &self.split
    }

    /// The candidate approximations the oracle scores.
    pub fn candidates(&self) -> &Candidates {
        &self.candidates
    }

    /// What each (slot, step) position of the exact model sees on the split's first
    /// [`PROFILE_IMAGES`] images: the histogram of its arguments over its fit interval
    /// widened to [`PROFILE_REACH`] half-widths ([`PROFILE_BINS`] bins) and the loss's
    /// sensitivity to its result. Measured once, on first use.
    pub fn input_profile(&self) -> &InputProfile {
        self.profile.get_or_init(|| {
            let ranges: Vec<[f64; 2]> = self
                .candidates
                .slots
                .iter()
                .map(|s| {
                    let [lo, hi] = s.interval;
                    let (centre, half) = ((lo + hi) / 2.0, (hi - lo) / 2.0);
                    [centre - PROFILE_REACH * half, centre + PROFILE_REACH * half]
                })
                .collect();
            let (weights, images, labels) = &self.profile_source;
            InputProfile::measure(weights, images.view(), labels, &ranges, PROFILE_BINS)
        })
    }

    fn check(&self, schedule: &Schedule) -> Result<(), OracleError> {
        schedule.check_shape(self.space.shape())?;
        schedule.check_degrees(&self.space)?;
        Ok(())
    }

    /// Scores a schedule (memoised unless the configuration says otherwise).
    pub fn evaluate(&self, schedule: &Schedule) -> Result<Arc<Evaluation>, OracleError> {
        self.evaluate_with(schedule, Prefixes::Keep)
    }

    /// [`Oracle::evaluate`], keeping or skipping the run's prefix states.
    pub fn evaluate_with(
        &self,
        schedule: &Schedule,
        prefixes: Prefixes,
    ) -> Result<Arc<Evaluation>, OracleError> {
        self.check(schedule)?;
        if let Some(e) = self.lock_memo().get(schedule) {
            self.memo_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Arc::clone(e));
        }
        let outcome = self.run(schedule, None, prefixes);
        let eval = Arc::new(self.finish(schedule, outcome));
        self.remember(schedule, &eval);
        Ok(eval)
    }

    /// True if the schedule classifies at least `min_correct` images right and, when
    /// `batch_safe`, leaves no image unsafe (see [`SAFE_ARGUMENT`]). Stops as soon as the
    /// answer is certain; always equal to the same test on `evaluate(schedule)`.
    pub fn accepts(
        &self,
        schedule: &Schedule,
        min_correct: usize,
        batch_safe: bool,
    ) -> Result<bool, OracleError> {
        self.accepts_with(schedule, min_correct, batch_safe, Prefixes::Keep)
    }

    /// [`Oracle::accepts`], keeping or skipping the run's prefix states.
    pub fn accepts_with(
        &self,
        schedule: &Schedule,
        min_correct: usize,
        batch_safe: bool,
        prefixes: Prefixes,
    ) -> Result<bool, OracleError> {
        self.check(schedule)?;
        let test = |e: &Evaluation| e.correct >= min_correct && (!batch_safe || e.is_batch_safe());
        if let Some(e) = self.lock_memo().get(schedule) {
            self.memo_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(test(e));
        }
        let outcome = self.run(
            schedule,
            Some(Threshold {
                min_correct,
                batch_safe,
            }),
            prefixes,
        );
        if let Some(answer) = outcome.early {
            self.early_exits.fetch_add(1, Ordering::Relaxed);
            return Ok(answer);
        }
        let eval = Arc::new(self.finish(schedule, outcome));
        self.remember(schedule, &eval);
        Ok(test(&eval))
    }

    /// Counters so far.
    pub fn stats(&self) -> OracleStats {
        OracleStats {
            runs: self.runs.load(Ordering::Relaxed),
            memo_hits: self.memo_hits.load(Ordering::Relaxed),
            prefix_hits: self.prefix_hits.load(Ordering::Relaxed),
            early_exits: self.early_exits.load(Ordering::Relaxed),
            image_steps: self.image_steps.load(Ordering::Relaxed),
            seconds: self.nanos.load(Ordering::Relaxed) as f64 * 1e-9,
            cache_bytes: match &self.engine {
                Engine::F32(e) => e.cache_bytes(),
                Engine::F64(e) => e.cache_bytes(),
            },
        }
    }

    /// Forgets memoised results and cached prefixes (for benchmarks of cold evaluations).
    pub fn clear_caches(&self) {
        self.lock_memo().clear();
        match &self.engine {
            Engine::F32(e) => e.clear_cache(),
            Engine::F64(e) => e.clear_cache(),
        }
    }

    fn remember(&self, schedule: &Schedule, eval: &Arc<Evaluation>) {
        if self.memoise {
            self.lock_memo().insert(schedule.clone(), Arc::clone(eval));
        }
    }

    fn lock_memo(&self) -> std::sync::MutexGuard<'_, HashMap<Schedule, Arc<Evaluation>>> {
        // A poisoned memo only means another thread panicked mid-insert; the map is intact.
        self.memo.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn run(
        &self,
        schedule: &Schedule,
        threshold: Option<Threshold>,
        prefixes: Prefixes,
    ) -> RunOutcome {
        let start = Instant::now();
        let outcome = match &self.engine {
            Engine::F32(e) => e.run(schedule.entries(), threshold, prefixes),
            Engine::F64(e) => e.run(schedule.entries(), threshold, prefixes),
        };
        self.runs.fetch_add(1, Ordering::Relaxed);
        if outcome.resumed {
            self.prefix_hits.fetch_add(1, Ordering::Relaxed);
        }
        self.image_steps
            .fetch_add(outcome.image_steps, Ordering::Relaxed);
        self.nanos
            .fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
        outcome
    }

    fn finish(&self, schedule: &Schedule, o: RunOutcome) -> Evaluation {
        let total = o.predictions.len();
        let (steps, hidden) = match &self.engine {
            Engine::F32(e) => (e.prepared.steps, e.prepared.hidden),
            Engine::F64(e) => (e.prepared.steps, e.prepared.hidden),
        };
        let dev_images = total.min(DEVIATION_IMAGES);
        let slots = self.space.slots();
        let out_of_domain: u64 = o.ood.iter().sum();
        Evaluation {
            schedule: schedule.to_string(),
            split: self.split.clone(),
            correct: o.correct,
            total,
            accuracy: o.correct as f64 / total as f64,
            interval: wilson(o.correct, total),
            out_of_domain,
            out_of_domain_rate: out_of_domain as f64 / (total * steps * hidden * slots) as f64,
            out_of_domain_per_step: o.ood.chunks(slots).map(|c| c.iter().sum()).collect(),
            out_of_domain_per_slot: (0..slots)
                .map(|s| o.ood.iter().skip(s).step_by(slots).sum())
                .collect(),
            peak_argument: o.peak_argument,
            unsafe_images: o.unsafe_images,
            mean_abs_deviation_per_step: o
                .dev
                .iter()
                .map(|s| s / (dev_images * hidden) as f64)
                .collect(),
            predictions: o.predictions,
        }
    }
}

impl Evaluation {
    /// True when no image would spoil a CKKS batch (see [`SAFE_ARGUMENT`]).
    pub fn is_batch_safe(&self) -> bool {
        self.unsafe_images.is_empty()
    }
}

/// The question of an `accepts` run.
#[derive(Clone, Copy, Debug)]
struct Threshold {
    min_correct: usize,
    batch_safe: bool,
}

/// The 95 % Wilson score interval of k successes in n trials.
pub fn wilson(k: usize, n: usize) -> [f64; 2] {
    if n == 0 {
        return [0.0, 1.0];
    }
    let (z, n_f) = (1.959_963_985, n as f64);
    let p = k as f64 / n_f;
    let denom = 1.0 + z * z / n_f;
    let centre = (p + z * z / (2.0 * n_f)) / denom;
    let half = z * (p * (1.0 - p) / n_f + z * z / (4.0 * n_f * n_f)).sqrt() / denom;
    [(centre - half).max(0.0), (centre + half).min(1.0)]
}

/// The result of one run (complete unless `early` is set).
struct RunOutcome {
    correct: usize,
    predictions: Vec<u8>,
    /// Out-of-domain counts per (step, slot), [steps][slots].
    ood: Vec<u64>,
    dev: Vec<f64>,
    peak_argument: f64,
    unsafe_images: Vec<usize>,
    /// Whether some work item started from a cached prefix.
    resumed: bool,
    image_steps: u64,
    /// The answer of an `accepts` run that stopped early.
    early: Option<bool>,
}

impl<T: Real> EngineT<T> {
    fn new(
        w: &Weights,
        split: &Split,
        candidates: &Candidates,
        cache_bytes: usize,
        stride: usize,
    ) -> Self {
        let cell = w.cell.cell();
        let (n, steps, width) = split.images.dim();
        let hidden = w.hidden();
        let gw = cell.gate_count() * hidden;
        let uses = cell.gate_uses();
        let conv = |v: &[f32]| v.iter().map(|&x| T::from_f64(x as f64)).collect::<Vec<T>>();
        let flat = |a: &ndarray::Array1<f32>| conv(&a.to_vec());
        let wx = conv(&w.kernel.iter().copied().collect::<Vec<_>>());
        let wh = conv(&w.recurrent_kernel.iter().copied().collect::<Vec<_>>());
        // Gates read whole start from b + b' (the recurrent bias folded into the input
        // projection); split gates keep b' for their recurrent half.
        let mut b = flat(&w.bias);
        let mut rec_init = vec![T::ZERO; gw];
        if let Some(rb) = w.recurrent_bias.as_ref().map(flat) {
            for (j, &v) in rb.iter().enumerate() {
                match uses[j / hidden] {
                    GateUse::Whole => b[j] += v,
                    GateUse::Split => rec_init[j] = v,
                }
            }
        }
        // x_t W + b for all steps, computed [step][image][gates * hidden], then laid out by
        // block.
        let mut xproj = vec![T::ZERO; steps * n * gw];
        xproj
            .par_chunks_mut(n * gw)
            .enumerate()
            .for_each(|(t, out)| {
                let x: Vec<T> = (0..n)
                    .flat_map(|i| (0..width).map(move |c| (i, c)))
                    .map(|(i, c)| T::from_f64(split.images[[i, t, c]] as f64))
                    .collect();
                for row in out.chunks_exact_mut(gw) {
                    row.copy_from_slice(&b);
                }
                matmul(out, &x, &wx, (n, width, gw), true);
            });
        let mut prepared = Prepared {
            n,
            steps,
            hidden,
            cell,
            xproj: by_blocks(&xproj, n, gw),
            rec_init,
            wh: pack_recurrent(&wh, hidden),
            wd: conv(&w.dense_kernel.iter().copied().collect::<Vec<_>>()),
            bd: flat(&w.dense_bias),
            labels: split.labels.clone(),
            maps: candidates
                .slots
                .iter()
                .map(|s| SlotMap::new(s.interval))
                .collect(),
            exact_states: Vec::new(),
            dev_images: 0,
        };
        let dev_images = n.min(DEVIATION_IMAGES);
        prepared.exact_states = kernel::exact_states(&prepared, dev_images.div_ceil(LANES));
        prepared.dev_images = dev_images;
        let fns = candidates
            .slots
            .iter()
            .map(|s| {
                let mut m = HashMap::new();
                m.insert(Approx::Exact, SlotFn::Exact(s.function));
                for a in &s.approximations {
                    m.insert(
                        Approx::Degree(a.degree),
                        SlotFn::from_chebyshev(&a.chebyshev, a.interval),
                    );
                }
                m
            })
            .collect();
        let blocks = prepared.blocks();
        let items = (0..blocks)
            .step_by(ITEM_BLOCKS)
            .map(|b| (b, (b + ITEM_BLOCKS).min(blocks)))
            .collect();
        Self {
            prepared,
            fns,
            cache: Mutex::new(PrefixCache::new(cache_bytes)),
            stride: stride.max(1),
            items,
        }
    }

    fn cache_capacity(&self) -> usize {
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .capacity()
    }

    fn cache_bytes(&self) -> usize {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).bytes()
    }

    fn clear_cache(&self) {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    fn run(
        &self,
        entries: &[Approx],
        threshold: Option<Threshold>,
        prefixes: Prefixes,
    ) -> RunOutcome {
        let p = &self.prepared;
        let slots = self.fns.len();
        let fns: Vec<SlotFn<T>> = entries
            .iter()
            .enumerate()
            .map(|(i, a)| self.fns[i % slots][a].clone())
            .collect();
        let items = &self.items;
        let resumed = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .longest_prefixes(entries, slots, items.len());
        let storing = prefixes == Prefixes::Keep && self.cache_capacity() > 0;
        let images = |(first, last): (usize, usize)| (last * LANES).min(p.n) - first * LANES;
        let state_len = p.state_len();
        let dev_blocks = p.dev_blocks();
        let decided = AtomicBool::new(false);
        let unsafe_seen = AtomicBool::new(false);
        // Right and finished images of the work items done so far, in one word (right << 32
        // | done) so that a thread never sees one count without the other.
        let progress = AtomicU64::new(0);
        let results: Vec<Option<ItemOutcome<T>>> = items
            .par_iter()
            .zip(resumed.par_iter())
            .enumerate()
            .map(|(item, (&(first, last), resumed))| {
                if decided.load(Ordering::SeqCst) {
                    return None;
                }
                let from = resumed.as_ref().map_or(0, |(len, _)| *len);
                // Store the states after every later step (a child of this schedule that
                // differs at step i resumes after step i). A threshold run stores them too:
                // this item's states are exact whether or not the run as a whole stops
                // early.
                let store: Vec<usize> = if storing {
                    (from + 1..p.steps)
                        .filter(|t| t % self.stride == 0)
                        .collect()
                } else {
                    Vec::new()
                };
                let blocks = last - first;
                let mut buffers: Vec<(Vec<T>, Vec<T>)> = {
                    let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
                    store
                        .iter()
                        .map(|_| {
                            (
                                cache.buffer(blocks * state_len),
                                vec![T::ZERO; blocks * LANES],
                            )
                        })
                        .collect()
                };
                let mut snapshots: Vec<Snapshot<'_, T>> = store
                    .iter()
                    .zip(buffers.iter_mut())
                    .map(|(&step, (h, peak))| Snapshot { step, h, peak })
                    .collect();
                let h0 = resumed
                    .as_ref()
                    .map(|(_, st)| (st.h.as_slice(), st.peak.as_slice()));
                let mut r = run_chunk(p, &fns, from, h0, (first, last), &mut snapshots);
                drop(snapshots);
                // The item's counts over all steps: the prefix's from the cache.
                let local_dev = dev_blocks.min(last).saturating_sub(first);
                if let Some((len, st)) = resumed {
                    r.ood[..len * slots].copy_from_slice(&st.ood);
                    r.dev[..len * local_dev].copy_from_slice(&st.dev);
                }
                if !store.is_empty() {
                    let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
                    for (&t, (h, peak)) in store.iter().zip(buffers) {
                        cache.insert(
                            &entries[..t * slots],
                            item,
                            items.len(),
                            PrefixState {
                                h,
                                peak,
                                ood: r.ood[..t * slots].to_vec(),
                                dev: r.dev[..t * local_dev].to_vec(),
                            },
                        );
                    }
                }
                if let Some(Threshold {
                    min_correct: k,
                    batch_safe,
                }) = threshold
                {
                    let add = ((r.correct as u64) << 32) | images((first, last)) as u64;
                    let both = progress.fetch_add(add, Ordering::SeqCst) + add;
                    let (c, d) = ((both >> 32) as usize, (both & 0xffff_ffff) as usize);
                    let spoilt = batch_safe && r.peak.iter().any(|v| v.to_f64() > SAFE_ARGUMENT);
                    if spoilt {
                        unsafe_seen.store(true, Ordering::SeqCst);
                    }
                    // Certain once enough are right (and, if asked, every image so far is
                    // safe and all are done), once too few can be right, or once an image
                    // is unsafe.
                    let enough = c >= k && (!batch_safe || d == p.n);
                    if enough || c + (p.n - d) < k || spoilt {
                        decided.store(true, Ordering::SeqCst);
                    }
                }
                Some(ItemOutcome {
                    result: r,
                    from,
                    local_dev,
                })
            })
            .collect();
        let image_steps: u64 = results
            .iter()
            .zip(items)
            .filter_map(|(r, &c)| r.as_ref().map(|o| (images(c) * (p.steps - o.from)) as u64))
            .sum();
        let resumed = results.iter().flatten().any(|o| o.from > 0);
        if results.iter().any(Option::is_none) {
            // Some work items were skipped: the answer was certain.
            let c: usize = results.iter().flatten().map(|o| o.result.correct).sum();
            let k = threshold.map_or(0, |t| t.min_correct);
            return RunOutcome {
                correct: c,
                predictions: Vec::new(),
                ood: Vec::new(),
                dev: Vec::new(),
                peak_argument: f64::NAN,
                unsafe_images: Vec::new(),
                resumed,
                image_steps,
                early: Some(c >= k && !unsafe_seen.load(Ordering::SeqCst)),
            };
        }
        let results: Vec<ItemOutcome<T>> = results.into_iter().flatten().collect();
        // Out-of-domain counts per (step, slot); deviations summed block by block in order.
        let mut ood = vec![0u64; p.steps * slots];
        let mut dev = vec![0.0f64; p.steps];
        for o in &results {
            for (a, b) in ood.iter_mut().zip(&o.result.ood) {
                *a += b;
            }
            if o.local_dev > 0 {
                for (d, per_block) in dev.iter_mut().zip(o.result.dev.chunks_exact(o.local_dev)) {
                    for v in per_block {
                        *d += v;
                    }
                }
            }
        }
        let peaks = results
            .iter()
            .flat_map(|o| o.result.peak.iter().map(|v| v.to_f64()));
        let mut peak_argument = 0.0f64;
        let mut unsafe_images = Vec::new();
        for (i, v) in peaks.enumerate() {
            let v = if v.is_nan() { f64::INFINITY } else { v };
            peak_argument = peak_argument.max(v);
            if v > SAFE_ARGUMENT {
                unsafe_images.push(i);
            }
        }
        RunOutcome {
            correct: results.iter().map(|o| o.result.correct).sum(),
            predictions: results
                .into_iter()
                .flat_map(|o| o.result.predictions)
                .collect(),
            ood,
            dev,
            peak_argument,
            unsafe_images,
            resumed,
            image_steps,
            early: None,
        }
    }
}

/// What one work item of a run produced.
struct ItemOutcome<T> {
    /// Its counts cover every step (the resumed prefix's taken from the cache).
    result: kernel::ChunkResult<T>,
    /// The step it resumed after (0: from the start).
    from: usize,
    /// Its deviation-sample blocks.
    local_dev: usize,
}

/// [steps][images][width] rows laid out as the kernel's blocks, [blocks][steps][width][LANES]
/// (each block's steps contiguous), padding lanes zero.
fn by_blocks<T: Real>(rows: &[T], images: usize, width: usize) -> Vec<T> {
    let blocks = images.div_ceil(LANES);
    let steps = rows.len() / (images * width).max(1);
    let step_len = width * LANES;
    let mut out = vec![T::ZERO; steps * blocks * step_len];
    for (t, step_rows) in rows.chunks_exact(images * width).enumerate() {
        for (i, row) in step_rows.chunks_exact(width).enumerate() {
            let block = &mut out[((i / LANES) * steps + t) * step_len..][..step_len];
            for (j, &v) in row.iter().enumerate() {
                block[j * LANES + i % LANES] = v;
            }
        }
    }
    out
}
