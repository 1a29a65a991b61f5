//! End-to-end encrypted inference of a schedule: a [`Client`] that holds the secret key
//! (key generation, packing and encryption of images, decryption of logits), a [`Server`]
//! that holds only [`ServerKeys`] (the network's circuit with the schedule's polynomials:
//! the SimpleRNN's [`crate::ckks::plan::RnnCircuit`] or a gated cell's
//! [`crate::ckks::cell::CellCircuit`], bootstraps where the cost model's placement puts them,
//! [`placement_for`]), the file format of the two-process
//! mode ([`files`]), and [`run_schedule`], which runs one batch and checks it against the
//! plaintext oracle and the cost model's prediction ([`InferenceReport`]).

pub mod client;
pub mod files;
pub mod server;

use std::time::Instant;

use ndarray::{Array2, ArrayView3};
use serde::Serialize;

use crate::ckks::cell::Refreshes;
use crate::ckks::cell::placement::{Planner, StepShape};
use crate::ckks::evaluator::EvalError;
use crate::ckks::plan::SegmentId;
use crate::ckks::poly::Chebyshev;
use crate::ckks::scheme::error::CkksError;
use crate::ckks::scheme::params::ParamError;
use crate::ckks::scheme::wire::WireError;
use crate::cost::{CostBreakdown, CostError, CostModel};
use crate::data::Split;
use crate::model::Weights;
use crate::model::forward::{Params, forward_with};
use crate::oracle::{
    Candidates, NO_PREDICTION, Oracle, OracleConfig, OracleError, Precision, SAFE_ARGUMENT,
};
use crate::recurrence::CellKind;
use crate::schedule::{Approx, Schedule};

pub use client::{Client, EncryptedBatch, NetShape, ServerKeys};
pub use server::{CircuitRun, Server, ServerRun, StepReport, run_circuit};

/// Why an encrypted inference was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum InferError {
    /// The CKKS engine refused an operation or the parameters.
    #[error(transparent)]
    Ckks(#[from] CkksError),
    /// A file was refused.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// The cost model could not price or place the schedule.
    #[error(transparent)]
    Cost(#[from] CostError),
    /// The plaintext oracle failed.
    #[error(transparent)]
    Oracle(#[from] OracleError),
    /// The bootstraps do not leave enough levels for a segment.
    #[error("{0}")]
    Placement(String),
    /// Ciphertexts of another key set.
    #[error(
        "{what} were made with other keys (key set {found:016x}, the server's is {expected:016x})"
    )]
    KeySet {
        /// What was given.
        what: &'static str,
        /// The server's key set.
        expected: u64,
        /// The given key set.
        found: u64,
    },
    /// Anything else that makes the request impossible.
    #[error("{0}")]
    Invalid(String),
}

impl From<EvalError> for InferError {
    fn from(e: EvalError) -> Self {
        InferError::Ckks(e.into())
    }
}

impl From<ParamError> for InferError {
    fn from(e: ParamError) -> Self {
        InferError::Ckks(e.into())
    }
}

/// One Chebyshev polynomial per (slot, step), step-major: the oracle's own fit of each
/// entry's degree.
pub fn cells_for(
    schedule: &Schedule,
    candidates: &Candidates,
) -> Result<Vec<Chebyshev>, InferError> {
    let slots = candidates.slots.len();
    if schedule.slots() != slots {
        return Err(InferError::Invalid(format!(
            "the schedule has {} slots per step, the problem's cell {slots}",
            schedule.slots()
        )));
    }
    schedule
        .entries()
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let (step, slot) = (i / slots, &candidates.slots[i % slots]);
            let Approx::Degree(d) = *c else {
                return Err(InferError::Invalid(format!(
                    "slot {} at step {step} uses the exact activation, which cannot run under CKKS",
                    slot.name
                )));
            };
            let a = slot.fit(d).ok_or_else(|| {
                InferError::Invalid(format!(
                    "slot {} at step {step}: degree {d} is not a candidate (candidates: {:?})",
                    slot.name,
                    slot.degrees()
                ))
            })?;
            let [lo, hi] = slot.interval;
            Ok(Chebyshev::new(&a.chebyshev, (lo, hi))?)
        })
        .collect()
}

/// Where an inference bootstraps.
#[derive(Clone, Debug, PartialEq)]
pub enum Bootstraps {
    /// The SimpleRNN circuit: right before these segments.
    Segments(Vec<SegmentId>),
    /// A gated cell's circuit: each step's refreshes and the output layer's.
    Refreshes(Refreshes),
}

/// Where the cost model bootstraps `schedule` (whose polynomials are `cells`, as
/// [`cells_for`] gives them) on a network of `shape` with `top` levels after a bootstrap, with
/// the model's account of it. A SimpleRNN takes the model's segments; a gated cell the model's
/// refreshes ([`CostBreakdown::refreshes`]), or, from a model that places none (the step
/// graph's `depth`), [`fewest_bootstraps`].
pub fn placement_for(
    cost: &dyn CostModel,
    schedule: &Schedule,
    cells: &[Chebyshev],
    shape: NetShape,
    top: usize,
) -> Result<(Bootstraps, CostBreakdown), InferError> {
    let breakdown = cost.breakdown(schedule)?;
    let placement = match (shape.cell, &breakdown.refreshes) {
        (CellKind::SimpleRnn, _) => Bootstraps::Segments(breakdown.bootstrap_segments()),
        (_, Some(r)) => Bootstraps::Refreshes(r.clone()),
        (_, None) => Bootstraps::Refreshes(fewest_bootstraps(cells, shape, top)?),
    };
    Ok((placement, breakdown))
}

/// The optimal refresh placement of a gated cell's inference under a price that puts the
/// fewest bootstraps first, then the least work (each operation priced 1 + its level). A step
/// that cannot fit even with every value refreshed is refused, naming the step and slot.
pub fn fewest_bootstraps(
    cells: &[Chebyshev],
    shape: NetShape,
    top: usize,
) -> Result<Refreshes, InferError> {
    let cell = shape.cell.cell();
    let steps = step_polys(cells, shape)?;
    let shapes: Vec<StepShape> = steps.iter().map(|p| StepShape::new(cell, p)).collect();
    let price = |op: &str, level: usize| -> Result<f64, String> {
        Ok(if op == "bootstrap" {
            1e9
        } else {
            1.0 + level as f64
        })
    };
    let planner = Planner::new(cell, top, shape.blocks()?, Box::new(price));
    let placed = planner.optimal(&shapes).map_err(InferError::Placement)?;
    Ok(placed.refreshes)
}

/// `cells` (one per (slot, step), step-major) as one list per step.
pub fn step_polys(cells: &[Chebyshev], shape: NetShape) -> Result<Vec<Vec<Chebyshev>>, InferError> {
    let slots = shape.cell.cell().slots.len();
    if cells.len() != shape.steps * slots {
        return Err(InferError::Invalid(format!(
            "{} polynomials for {} steps of a {} ({slots} slots per step)",
            cells.len(),
            shape.steps,
            shape.cell
        )));
    }
    Ok(cells.chunks(slots).map(<[Chebyshev]>::to_vec).collect())
}

/// The same network and polynomials in plaintext `f64`.
pub struct Reference {
    /// Logits [images, classes].
    pub logits: Array2<f64>,
    /// Each image's peak |t| over all steps: the largest pre-activation in half-widths of
    /// its cell's fit interval (infinite once non-finite), as the oracle measures it.
    pub peak_argument: Vec<f64>,
}

impl Reference {
    /// The images (index in the batch, peak |t|) beyond [`SAFE_ARGUMENT`]: under CKKS each
    /// spoils every image of its ciphertext at the next bootstrap.
    pub fn unsafe_images(&self) -> Vec<(usize, f64)> {
        self.peak_argument
            .iter()
            .enumerate()
            .filter(|(_, m)| **m > SAFE_ARGUMENT)
            .map(|(i, &m)| (i, m))
            .collect()
    }
}

/// Runs the network in plaintext `f64` on `images` with `polys`, one per (slot, step),
/// step-major (as [`cells_for`] gives them), interpreting the cell's step program.
pub fn reference(w: &Weights, images: ArrayView3<f32>, polys: &[Chebyshev]) -> Reference {
    let n = images.dim().0;
    let slots = w.cell.cell().slots.len();
    let mut peak_argument = vec![0.0f64; n];
    let x = images.mapv(f64::from);
    let trace = forward_with(w, &Params::of(w), x.view(), |slot, t, z| {
        let poly = &polys[t * slots + slot];
        let (alpha, beta) = poly.affine();
        for (m, row) in peak_argument.iter_mut().zip(z.rows()) {
            *m = row.iter().fold(*m, |a, &v| {
                let arg = (alpha * v + beta).abs();
                if arg.is_finite() {
                    a.max(arg)
                } else {
                    f64::INFINITY
                }
            });
        }
        z.mapv_inplace(|v| poly.eval(v));
    });
    Reference {
        logits: trace.logits,
        peak_argument,
    }
}

/// The predicted class of each row (the largest finite logit; [`NO_PREDICTION`] if none).
pub fn argmax_rows(logits: &Array2<f64>) -> Vec<u8> {
    logits
        .rows()
        .into_iter()
        .map(|r| {
            r.iter()
                .enumerate()
                .filter(|(_, v)| v.is_finite())
                .fold(None, |best: Option<(usize, f64)>, (i, &v)| match best {
                    Some((_, b)) if b >= v => best,
                    _ => Some((i, v)),
                })
                .map_or(NO_PREDICTION, |(i, _)| i as u8)
        })
        .collect()
}

/// One schedule's encrypted batch, checked.
#[derive(Clone, Debug, Serialize)]
pub struct InferenceReport {
    /// The schedule.
    pub schedule: String,
    /// Images in the batch.
    pub images: usize,
    /// Images a batch can hold.
    pub batch_capacity: usize,
    /// Encrypted predictions equal to the plaintext oracle's (f64, same polynomials).
    pub agreeing: usize,
    /// `agreeing / images`.
    pub agreement: f64,
    /// Accuracy of the encrypted predictions.
    pub accuracy_encrypted: f64,
    /// Accuracy of the plaintext oracle on the same images.
    pub accuracy_plaintext: f64,
    /// Largest |encrypted logit - plaintext f64 logit|.
    pub max_logit_error: f64,
    /// Images (index in the batch) whose plaintext pre-activations leave
    /// [`SAFE_ARGUMENT`] half-widths of the fit interval, with their peak |t|. Under CKKS such
    /// an image's values keep growing, and once they overflow the modulus at a bootstrap the
    /// whole ciphertext (every image) is lost.
    pub unsafe_images: Vec<(usize, f64)>,
    /// Measured seconds of the server's work for the batch.
    pub server_seconds: f64,
    /// `server_seconds / images`, in milliseconds.
    pub ms_per_image: f64,
    /// The cost model that placed the bootstraps and predicted the latency.
    pub cost_model: String,
    /// Its prediction (in its unit; seconds for `latency`).
    pub predicted: f64,
    /// (measured - predicted) / predicted, when the model predicts seconds.
    pub prediction_error: Option<f64>,
    /// The prediction of the profile calibrated to this machine (`infer --calibrate`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibrated: Option<CalibratedPrediction>,
    /// Bootstraps run (as placed by the cost model; see [`placement_for`]).
    pub bootstraps: usize,
    /// Seconds spent bootstrapping.
    pub bootstrap_seconds: f64,
    /// Seconds to encode the weights at the levels used (before the timed run).
    pub prepare_seconds: f64,
    /// Seconds to pack and encrypt the batch (client).
    pub encrypt_seconds: f64,
    /// Seconds to decrypt and decode the logits (client).
    pub decrypt_seconds: f64,
    /// Weight encodings made inside the timed run (0 expected).
    pub encodings_during_run: usize,
    /// Peak resident memory of the process so far, MB.
    pub peak_rss_mb: Option<f64>,
    /// Per step.
    pub steps: Vec<StepReport>,
}

/// A second prediction of a run: the latency model with its profile calibrated to the
/// machine at hand (`cost::calibration`), pricing the same schedule.
#[derive(Clone, Debug, Serialize)]
pub struct CalibratedPrediction {
    /// The calibrated cost model's name.
    pub cost_model: String,
    /// Its prediction, seconds.
    pub predicted: f64,
    /// (measured - predicted) / predicted.
    pub prediction_error: f64,
    /// The bootstraps its placement needs.
    pub bootstraps: usize,
}

impl CalibratedPrediction {
    /// `model`'s price of `report`'s schedule against the report's measured seconds.
    pub fn of(
        model: &dyn CostModel,
        schedule: &Schedule,
        report: &InferenceReport,
    ) -> Result<Self, InferError> {
        let b = model.breakdown(schedule)?;
        Ok(Self {
            cost_model: model.name().to_string(),
            predicted: b.total,
            prediction_error: (report.server_seconds - b.total) / b.total,
            bootstraps: b.bootstraps,
        })
    }
}

/// What [`run_schedule`] needs besides the client and the server.
pub struct Request<'a> {
    /// The schedule.
    pub schedule: &'a Schedule,
    /// The candidate fits (the oracle's).
    pub candidates: &'a Candidates,
    /// Places the bootstraps and predicts the latency.
    pub cost: &'a dyn CostModel,
    /// The model's weights (for the plaintext references).
    pub weights: &'a Weights,
    /// The images ([images, steps, width]) and their labels.
    pub images: ArrayView3<'a, f32>,
    /// Labels of the images.
    pub labels: &'a [u8],
}

/// Encrypts one batch, runs it on the server with the cost model's bootstrap placement
/// ([`placement_for`]), decrypts, and compares with the plaintext oracle (f64, the same
/// polynomials) and the cost model.
pub fn run_schedule(
    client: &Client,
    server: &Server,
    req: &Request<'_>,
    on_step: &mut dyn FnMut(&StepReport),
) -> Result<InferenceReport, InferError> {
    let n = req.images.dim().0;
    if req.labels.len() != n {
        return Err(InferError::Invalid(format!(
            "{n} images but {} labels",
            req.labels.len()
        )));
    }
    let cells = cells_for(req.schedule, req.candidates)?;
    let (placement, breakdown) = placement_for(
        req.cost,
        req.schedule,
        &cells,
        server.shape(),
        server.top_level(),
    )?;

    let t = Instant::now();
    server.prepare(&cells, &placement)?;
    let prepare_seconds = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let batch = client.encrypt(req.images)?;
    let encrypt_seconds = t.elapsed().as_secs_f64();
    let predicted_seconds = |step: usize| {
        breakdown
            .steps
            .get(step)
            .and_then(|s| s.seconds)
            .filter(|_| breakdown.unit == "s")
    };
    let mut on_step = |r: &StepReport| {
        on_step(&StepReport {
            predicted_seconds: predicted_seconds(r.step),
            ..r.clone()
        })
    };
    let (logits_ct, mut run) = server.infer(&batch, &cells, &placement, &mut on_step)?;
    for s in &mut run.steps {
        s.predicted_seconds = predicted_seconds(s.step);
    }
    let t = Instant::now();
    let logits = client.decrypt(&logits_ct, n)?;
    let decrypt_seconds = t.elapsed().as_secs_f64();

    let reference = reference(req.weights, req.images, &cells);
    let unsafe_images = reference.unsafe_images();
    let max_logit_error = (&logits - &reference.logits).iter().fold(0.0f64, |m, e| {
        if e.is_nan() {
            f64::INFINITY
        } else {
            m.max(e.abs())
        }
    });
    let split = Split {
        name: "batch".into(),
        images: req.images.to_owned(),
        labels: req.labels.to_vec(),
    };
    let config = OracleConfig {
        precision: Precision::F64,
        cache_mb: 0,
        ..OracleConfig::default()
    };
    let oracle = Oracle::new(req.weights, &split, req.candidates, &config)?;
    let plain = oracle.evaluate(req.schedule)?;
    let predicted = argmax_rows(&logits);
    let agreeing = predicted
        .iter()
        .zip(&plain.predictions)
        .filter(|(a, b)| a == b)
        .count();
    let correct = predicted
        .iter()
        .zip(req.labels)
        .filter(|(a, b)| a == b)
        .count();
    let prediction_error =
        (req.cost.unit() == "s").then(|| (run.seconds - breakdown.total) / breakdown.total);
    Ok(InferenceReport {
        schedule: req.schedule.to_string(),
        images: n,
        batch_capacity: client.batch_capacity(),
        agreeing,
        agreement: agreeing as f64 / n as f64,
        accuracy_encrypted: correct as f64 / n as f64,
        accuracy_plaintext: plain.accuracy,
        max_logit_error,
        unsafe_images,
        server_seconds: run.seconds,
        ms_per_image: 1e3 * run.seconds / n as f64,
        cost_model: req.cost.name().to_string(),
        predicted: breakdown.total,
        prediction_error,
        calibrated: None,
        bootstraps: run.bootstraps,
        bootstrap_seconds: run.bootstrap_seconds,
        prepare_seconds,
        encrypt_seconds,
        decrypt_seconds,
        encodings_during_run: run.encodings_during_run,
        peak_rss_mb: crate::sysinfo::peak_rss_mb(),
        steps: run.steps,
    })
}
