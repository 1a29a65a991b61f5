//! The server: built from [`ServerKeys`] and the model's weights only, it runs the RNN
//! circuit with the schedule's polynomials and bootstraps where the placement puts them.

use std::sync::Arc;
use std::time::Instant;

use crate::ckks::bootstrap::{BootstrapConfig, Bootstrapper};
use crate::ckks::evaluator::{EvalError, Evaluator};
use crate::ckks::plan::{
    Part, Placement, PlanConfig, RnnCircuit, RnnMatrices, SegmentId, SegmentKind, WeightCache,
    plan_schedule,
};
use crate::ckks::poly::Chebyshev;
use crate::ckks::scheme::ciphertext::Ciphertext;
use crate::ckks::scheme::context::Context;
use crate::ckks::scheme::engine::Engine;
use crate::ckks::sim::SimParams;

use super::InferError;
use super::client::{EncryptedBatch, NetShape, ServerKeys};

/// One step of an inference as it ran (the output layer is the step after the last).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct StepReport {
    /// Step index (number of steps for the output layer).
    pub step: usize,
    /// The cell's degree (None for the output layer).
    pub degree: Option<usize>,
    /// Level of the hidden state entering the step.
    pub level_in: usize,
    /// Level leaving it.
    pub level_out: usize,
    /// Bootstraps run in the step (before its linear part and before its polynomial).
    pub bootstraps: usize,
    /// Seconds of those bootstraps.
    pub bootstrap_seconds: f64,
    /// Seconds of the whole step, bootstraps included.
    pub seconds: f64,
}

/// Refreshes a ciphertext's levels (a bootstrap).
pub type Refresh<'a, E> = dyn Fn(
        &<E as Evaluator>::Ciphertext,
    ) -> Result<<E as Evaluator>::Ciphertext, <E as Evaluator>::Error>
    + 'a;

/// One inference of the RNN circuit over any evaluator.
pub struct CircuitRun<'a, E: Evaluator> {
    /// The circuit.
    pub circuit: &'a RnnCircuit,
    /// One ciphertext per step.
    pub inputs: &'a [E::Ciphertext],
    /// One polynomial per step.
    pub cells: &'a [Chebyshev],
    /// Refresh right before these segments (see [`SegmentId`]; never before step 0's linear
    /// part, which has no state to refresh).
    pub boots: &'a [SegmentId],
    /// Weight encodings to reuse (None: encode in place).
    pub cache: Option<&'a WeightCache<E>>,
    /// The bootstrap.
    pub refresh: &'a Refresh<'a, E>,
}

/// Checks that every bootstrap point names a segment of an inference of `steps` steps and
/// has a state to refresh.
fn check_boots(boots: &[SegmentId], steps: usize) -> Result<(), String> {
    for b in boots {
        let exists = match b.part {
            Part::Linear | Part::Activation => b.step < steps,
            Part::Output => b.step == steps,
        };
        if !exists {
            return Err(format!(
                "a bootstrap before {b}: an inference of {steps} steps has no such segment"
            ));
        }
        if *b == SegmentId::linear(0) {
            return Err("a bootstrap before step 0 has nothing to refresh".into());
        }
    }
    Ok(())
}

/// Runs `run` on `ev`, calling `on_step` after every step; returns the logits and the steps'
/// reports.
pub fn run_circuit<E: Evaluator>(
    ev: &E,
    run: &CircuitRun<'_, E>,
    on_step: &mut dyn FnMut(&StepReport),
) -> Result<(E::Ciphertext, Vec<StepReport>), E::Error> {
    let CircuitRun {
        circuit,
        inputs,
        cells,
        boots,
        cache,
        refresh,
    } = *run;
    let steps = cells.len();
    if inputs.len() != steps || steps == 0 {
        return Err(EvalError::InvalidInput(format!(
            "{} inputs and {} cells do not describe one inference",
            inputs.len(),
            steps,
        ))
        .into());
    }
    check_boots(boots, steps).map_err(EvalError::InvalidInput)?;
    let mut state: Option<E::Ciphertext> = None;
    let mut reports = Vec::with_capacity(steps + 1);
    for t in 0..=steps {
        let start = Instant::now();
        let mut report = StepReport {
            step: t,
            degree: cells.get(t).map(Chebyshev::degree),
            level_in: state.as_ref().map_or(ev.top_level(), |s| ev.level(s)),
            level_out: 0,
            bootstraps: 0,
            bootstrap_seconds: 0.0,
            seconds: 0.0,
        };
        let mut refreshed = |ct: E::Ciphertext, id: SegmentId| -> Result<E::Ciphertext, E::Error> {
            if !boots.contains(&id) {
                return Ok(ct);
            }
            let b = Instant::now();
            let out = refresh(&ct)?;
            report.bootstraps += 1;
            report.bootstrap_seconds += b.elapsed().as_secs_f64();
            Ok(out)
        };
        let out = if t < steps {
            let h = state
                .take()
                .map(|s| refreshed(s, SegmentId::linear(t)))
                .transpose()?;
            let (pre, _) = circuit.linear(ev, &inputs[t], h.as_ref(), &cells[t], cache)?;
            let pre = refreshed(pre, SegmentId::activation(t))?;
            circuit.activation(ev, &pre, &cells[t])?.0
        } else {
            // Invariant: steps >= 1, so the loop set a state before the output layer.
            let h = refreshed(
                state.take().expect("a hidden state"),
                SegmentId::output(steps),
            )?;
            circuit.output(ev, &h, cache)?.0
        };
        report.level_out = ev.level(&out);
        report.seconds = start.elapsed().as_secs_f64();
        on_step(&report);
        reports.push(report);
        state = Some(out);
    }
    // Invariant: the last iteration stored the logits.
    Ok((state.expect("logits"), reports))
}

/// What the server did for one batch.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ServerRun {
    /// Seconds from the first input to the logits.
    pub seconds: f64,
    /// Bootstraps run.
    pub bootstraps: usize,
    /// Seconds spent bootstrapping.
    pub bootstrap_seconds: f64,
    /// Weight encodings made during the run (0 after [`Server::prepare`]).
    pub encodings_during_run: usize,
    /// Per step.
    pub steps: Vec<StepReport>,
}

/// The evaluating party. It holds evaluation keys only: there is no way to give it a secret
/// key.
pub struct Server {
    ctx: Arc<Context>,
    engine: Engine,
    boot: Bootstrapper,
    circuit: RnnCircuit,
    shape: NetShape,
    key_set: u64,
    cache: WeightCache<Engine>,
}

impl Server {
    /// A server for `keys` (their parameters must be valid) evaluating the network `weights`.
    pub fn new(keys: ServerKeys, weights: &RnnMatrices) -> Result<Self, InferError> {
        let params = keys.params.build()?;
        let ctx = Context::new(&params)?;
        let shape = keys.shape;
        let dims = (weights.wx.nrows(), weights.wh.nrows(), weights.wd.ncols());
        if dims != (shape.input_width, shape.hidden, shape.classes) {
            return Err(InferError::Invalid(format!(
                "the weights are {} inputs x {} units x {} classes, the keys were made for {} x {} x {}",
                dims.0, dims.1, dims.2, shape.input_width, shape.hidden, shape.classes
            )));
        }
        let config = BootstrapConfig::for_params(&params)?;
        let circuit = RnnCircuit::new(shape.layout(params.slots())?, weights, None)?;
        // The circuit rotates at every step: its keys are expanded; the bootstrap's stay
        // seeded (half their memory).
        let mut eval = keys.eval;
        eval.expand_rotations(&ctx, &circuit.rotation_steps());
        let engine = Engine::new(&ctx, eval)?;
        let boot = Bootstrapper::new(&ctx, config, keys.encapsulation)?;
        Ok(Server {
            ctx,
            engine,
            boot,
            circuit,
            shape,
            key_set: keys.key_set,
            cache: WeightCache::default(),
        })
    }

    /// The context.
    pub fn context(&self) -> &Arc<Context> {
        &self.ctx
    }

    /// The key set the server's keys belong to.
    pub fn key_set(&self) -> u64 {
        self.key_set
    }

    /// The network shape.
    pub fn shape(&self) -> NetShape {
        self.shape
    }

    /// Checks that `cells` with bootstraps before the segments flagged in `boots` fit the
    /// levels (planning the circuit over the simulator) and encodes every weight matrix at
    /// the levels the inference will use, so the timed run only computes.
    pub fn prepare(&self, cells: &[Chebyshev], boots: &[SegmentId]) -> Result<(), InferError> {
        let p = self.ctx.params();
        let cfg = PlanConfig {
            params: SimParams {
                slots: p.slots(),
                default_scale: p.default_scale(),
                primes: p.q()[..=p.top_level()].to_vec(),
            },
            blocks: self.shape.blocks()?,
            input_width: self.shape.input_width,
            hidden: self.shape.hidden,
            classes: self.shape.classes,
        };
        check_boots(boots, cells.len()).map_err(InferError::Invalid)?;
        let plan = plan_schedule(&cfg, cells, &Placement::Before(boots.to_vec())).map_err(|e| {
            let names: Vec<String> = boots.iter().map(|b| b.to_string()).collect();
            let with = if names.is_empty() {
                "without bootstraps".to_string()
            } else {
                format!("with bootstraps before {}", names.join(", "))
            };
            InferError::Placement(format!(
                "{with} the schedule does not fit {} levels: {e}",
                p.top_level()
            ))
        })?;
        for seg in &plan.segments {
            let level = seg.level_in;
            match seg.kind {
                SegmentKind::FirstLinear | SegmentKind::Linear => self.circuit.precompute_linear(
                    &self.engine,
                    &self.cache,
                    level,
                    &cells[seg.id.step],
                    seg.kind == SegmentKind::Linear,
                )?,
                SegmentKind::Output => {
                    self.circuit
                        .precompute_output(&self.engine, &self.cache, level)?
                }
                SegmentKind::Poly(_) => {}
            }
        }
        Ok(())
    }

    /// Runs one batch: the steps with `cells`, bootstrapping before the segments flagged in
    /// `boots` (see [`run_circuit`]), then the output layer. Returns the logits.
    pub fn infer(
        &self,
        batch: &EncryptedBatch,
        cells: &[Chebyshev],
        boots: &[SegmentId],
        on_step: &mut dyn FnMut(&StepReport),
    ) -> Result<(Ciphertext, ServerRun), InferError> {
        if batch.key_set != self.key_set {
            return Err(InferError::KeySet {
                what: "the encrypted inputs",
                expected: self.key_set,
                found: batch.key_set,
            });
        }
        for ct in &batch.inputs {
            self.ctx.check_id("input ciphertext", ct.context_id())?;
        }
        let encodings = self.cache.len();
        let start = Instant::now();
        let refresh = |ct: &Ciphertext| self.boot.bootstrap(&self.engine, ct).map(|(c, _)| c);
        let run = CircuitRun {
            circuit: &self.circuit,
            inputs: &batch.inputs,
            cells,
            boots,
            cache: Some(&self.cache),
            refresh: &refresh,
        };
        let (logits, steps) = run_circuit(&self.engine, &run, on_step)?;
        let run = ServerRun {
            seconds: start.elapsed().as_secs_f64(),
            bootstraps: steps.iter().map(|s| s.bootstraps).sum(),
            bootstrap_seconds: steps.iter().map(|s| s.bootstrap_seconds).sum(),
            encodings_during_run: self.cache.len() - encodings,
            steps,
        };
        Ok((logits, run))
    }
}
