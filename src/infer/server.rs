//! The server: built from [`ServerKeys`] and the model's weights only, it runs the network's
//! circuit (the SimpleRNN's [`RnnCircuit`], a gated cell's [`CellCircuit`]) with the
//! schedule's polynomials and bootstraps where the placement puts them.

use std::cell::Cell;
use std::sync::Arc;
use std::time::Instant;

use crate::ckks::bootstrap::{self, BootstrapConfig, Bootstrapper};
use crate::ckks::cell::{
    CellCircuit, CellMatrices, EncodingCache, Refreshers, Refreshes, StepPlan, plan_steps,
};
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
use crate::model::Weights;
use crate::recurrence::CellKind;

use super::client::{EncryptedBatch, NetShape, ServerKeys};
use super::{Bootstraps, InferError, step_polys};

/// One step of an inference as it ran (the output layer is the step after the last).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct StepReport {
    /// Step index (number of steps for the output layer).
    pub step: usize,
    /// A SimpleRNN cell's degree (None for the output layer and gated cells).
    pub degree: Option<usize>,
    /// A gated cell's degree per slot (None otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub degrees: Option<Vec<usize>>,
    /// Level of the hidden state entering the step.
    pub level_in: usize,
    /// Level leaving it (of the logits after the output layer).
    pub level_out: usize,
    /// Bootstraps run in the step (SimpleRNN: before its linear part and before its
    /// polynomial; gated cells: wherever its refreshes are).
    pub bootstraps: usize,
    /// Seconds of those bootstraps.
    pub bootstrap_seconds: f64,
    /// Seconds of the whole step, bootstraps included.
    pub seconds: f64,
    /// The cost model's prediction of `seconds`, when it predicts seconds (set by
    /// [`super::run_schedule`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predicted_seconds: Option<f64>,
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
            degrees: None,
            level_in: state.as_ref().map_or(ev.top_level(), |s| ev.level(s)),
            level_out: 0,
            bootstraps: 0,
            bootstrap_seconds: 0.0,
            seconds: 0.0,
            predicted_seconds: None,
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

/// The circuit a server runs and the weight encodings it keeps.
enum Network {
    /// A SimpleRNN.
    Rnn {
        circuit: RnnCircuit,
        cache: WeightCache<Engine>,
    },
    /// A gated cell.
    Gated {
        circuit: CellCircuit,
        cache: EncodingCache<Engine>,
    },
}

/// The evaluating party. It holds evaluation keys only: there is no way to give it a secret
/// key.
pub struct Server {
    ctx: Arc<Context>,
    engine: Engine,
    boot: Bootstrapper,
    network: Network,
    shape: NetShape,
    key_set: u64,
}

/// The rotation steps among `steps` that `keys` hold no key for.
fn missing_rotations(ctx: &Context, keys: &ServerKeys, steps: &[isize]) -> Vec<isize> {
    let slots = ctx.params().slots() as isize;
    let held: std::collections::BTreeSet<usize> = keys.eval.galois_elements().collect();
    steps
        .iter()
        .copied()
        .filter(|&s| {
            let s = s.rem_euclid(slots) as usize;
            s != 0 && !held.contains(&ctx.galois_element(s))
        })
        .collect()
}

impl Server {
    /// A server for `keys` (their parameters must be valid) evaluating the network `weights`,
    /// of the cell and shape the keys were made for. Keys lacking a rotation the circuit or
    /// the bootstrap needs are refused here, before anything is computed.
    pub fn new(keys: ServerKeys, weights: &Weights) -> Result<Self, InferError> {
        let params = keys.params.build()?;
        let ctx = Context::new(&params)?;
        let shape = keys.shape;
        if weights.cell != shape.cell {
            return Err(InferError::Invalid(format!(
                "the weights are a {}'s, the keys were made for a {}",
                weights.cell, shape.cell
            )));
        }
        let dims = (
            weights.kernel.nrows(),
            weights.recurrent_kernel.nrows(),
            weights.dense_kernel.ncols(),
        );
        if dims != (shape.input_width, shape.hidden, shape.classes) {
            return Err(InferError::Invalid(format!(
                "the weights are {} inputs x {} units x {} classes, the keys were made for {} x {} x {}",
                dims.0, dims.1, dims.2, shape.input_width, shape.hidden, shape.classes
            )));
        }
        let config = BootstrapConfig::for_params(&params)?;
        let layout = shape.layout(params.slots())?;
        let (network, steps) = match shape.cell {
            CellKind::SimpleRnn => {
                let circuit = RnnCircuit::new(layout, &RnnMatrices::from_weights(weights), None)?;
                let steps = circuit.rotation_steps();
                let cache = WeightCache::default();
                (Network::Rnn { circuit, cache }, steps)
            }
            _ => {
                let circuit = CellCircuit::new(layout, &CellMatrices::from_weights(weights))?;
                let steps = circuit.rotation_steps();
                let cache = EncodingCache::default();
                (Network::Gated { circuit, cache }, steps)
            }
        };
        let mut needed = steps.clone();
        needed.extend(bootstrap::rotation_steps(&params, &config)?);
        let missing = missing_rotations(&ctx, &keys, &needed);
        if !missing.is_empty() {
            return Err(InferError::Invalid(format!(
                "the server keys lack {} of the {} rotation keys the {} circuit and its bootstrap need (steps {missing:?}): make the keys for this problem (infer keygen --problem ...)",
                missing.len(),
                needed.len(),
                shape.cell
            )));
        }
        // The circuit rotates at every step: its keys are expanded; the bootstrap's stay
        // seeded (half their memory).
        let mut eval = keys.eval;
        eval.expand_rotations(&ctx, &steps);
        let engine = Engine::new(&ctx, eval)?;
        let boot = Bootstrapper::new(&ctx, config, keys.encapsulation)?;
        Ok(Server {
            ctx,
            engine,
            boot,
            network,
            shape,
            key_set: keys.key_set,
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

    /// Levels for computation after a bootstrap (and in a fresh ciphertext).
    pub fn top_level(&self) -> usize {
        self.ctx.params().top_level()
    }

    /// The simulated parameters of the server's chain (for planning).
    pub fn sim_params(&self) -> SimParams {
        let p = self.ctx.params();
        SimParams {
            slots: p.slots(),
            default_scale: p.default_scale(),
            primes: p.q()[..=p.top_level()].to_vec(),
        }
    }

    /// Checks that `cells` (one polynomial per (slot, step), step-major) with bootstraps
    /// where `placement` puts them fit the levels, and encodes every weight matrix at the
    /// levels and scales the inference will use, so the timed run only computes.
    pub fn prepare(&self, cells: &[Chebyshev], placement: &Bootstraps) -> Result<(), InferError> {
        match (&self.network, placement) {
            (Network::Rnn { circuit, cache }, Bootstraps::Segments(boots)) => {
                self.prepare_rnn(circuit, cache, cells, boots)
            }
            (Network::Gated { circuit, cache }, Bootstraps::Refreshes(refreshes)) => {
                let plans = self.plans(circuit, cells, refreshes)?;
                circuit.precompute(
                    &self.engine,
                    cache,
                    &plans,
                    refreshes.output,
                    self.sim_params(),
                )?;
                Ok(())
            }
            _ => Err(self.wrong_placement()),
        }
    }

    fn wrong_placement(&self) -> InferError {
        InferError::Invalid(format!(
            "a {} circuit takes {}",
            self.shape.cell,
            match self.shape.cell {
                CellKind::SimpleRnn => "bootstraps before segments",
                _ => "refreshes per step",
            }
        ))
    }

    fn prepare_rnn(
        &self,
        circuit: &RnnCircuit,
        cache: &WeightCache<Engine>,
        cells: &[Chebyshev],
        boots: &[SegmentId],
    ) -> Result<(), InferError> {
        let cfg = PlanConfig {
            params: self.sim_params(),
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
                self.top_level()
            ))
        })?;
        for seg in &plan.segments {
            let level = seg.level_in;
            match seg.kind {
                SegmentKind::FirstLinear | SegmentKind::Linear => circuit.precompute_linear(
                    &self.engine,
                    cache,
                    level,
                    &cells[seg.id.step],
                    seg.kind == SegmentKind::Linear,
                )?,
                SegmentKind::Output => circuit.precompute_output(&self.engine, cache, level)?,
                SegmentKind::Poly(_) => {}
            }
        }
        Ok(())
    }

    /// The step plans of a gated inference; a step that does not fit is refused, naming the
    /// step and slot.
    fn plans(
        &self,
        circuit: &CellCircuit,
        cells: &[Chebyshev],
        refreshes: &Refreshes,
    ) -> Result<Vec<StepPlan>, InferError> {
        let polys = step_polys(cells, self.shape)?;
        plan_steps(circuit, &polys, refreshes, &self.sim_params()).map_err(|e| {
            InferError::Placement(format!(
                "with {} bootstraps placed the schedule does not fit {} levels: {e}",
                refreshes.bootstraps(circuit.cell()),
                self.top_level()
            ))
        })
    }

    /// Runs one batch: the steps with `cells` (as for [`Server::prepare`]), bootstrapping
    /// where `placement` says, then the output layer. Returns the logits.
    pub fn infer(
        &self,
        batch: &EncryptedBatch,
        cells: &[Chebyshev],
        placement: &Bootstraps,
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
        let encodings = self.encodings();
        // A gated inference's plans (a run over the counting simulator) before the clock.
        let plans = match (&self.network, placement) {
            (Network::Gated { circuit, .. }, Bootstraps::Refreshes(refreshes)) => {
                self.plans(circuit, cells, refreshes)?
            }
            _ => Vec::new(),
        };
        let start = Instant::now();
        let (logits, steps) = match (&self.network, placement) {
            (Network::Rnn { circuit, cache }, Bootstraps::Segments(boots)) => {
                let refresh =
                    |ct: &Ciphertext| self.boot.bootstrap(&self.engine, ct).map(|(c, _)| c);
                let run = CircuitRun {
                    circuit,
                    inputs: &batch.inputs,
                    cells,
                    boots,
                    cache: Some(cache),
                    refresh: &refresh,
                };
                run_circuit(&self.engine, &run, on_step)?
            }
            (Network::Gated { circuit, cache }, Bootstraps::Refreshes(refreshes)) => {
                let run = GatedRun {
                    circuit,
                    cache,
                    plans: &plans,
                    output_refresh: refreshes.output,
                    slots: circuit.cell().slots.len(),
                    cells,
                };
                self.run_gated(&run, &batch.inputs, on_step)?
            }
            _ => return Err(self.wrong_placement()),
        };
        let run = ServerRun {
            seconds: start.elapsed().as_secs_f64(),
            bootstraps: steps.iter().map(|s| s.bootstraps).sum(),
            bootstrap_seconds: steps.iter().map(|s| s.bootstrap_seconds).sum(),
            encodings_during_run: self.encodings() - encodings,
            steps,
        };
        Ok((logits, run))
    }

    /// Weight encodings held.
    fn encodings(&self) -> usize {
        match &self.network {
            Network::Rnn { cache, .. } => cache.len(),
            Network::Gated { cache, .. } => cache.len(),
        }
    }

    /// A gated inference on the engine, bootstrapping with the server's bootstrapper, timed
    /// step by step.
    fn run_gated(
        &self,
        run: &GatedRun<'_>,
        inputs: &[Ciphertext],
        on_step: &mut dyn FnMut(&StepReport),
    ) -> Result<(Ciphertext, Vec<StepReport>), InferError> {
        let boot_seconds = Cell::new(0.0);
        let one = |ct: &Ciphertext| {
            timed(&boot_seconds, || {
                self.boot.bootstrap(&self.engine, ct).map(|(c, _)| c)
            })
        };
        let pair = |a: &Ciphertext, b: &Ciphertext| {
            timed(&boot_seconds, || {
                self.boot.bootstrap_pair(&self.engine, a, b)
            })
        };
        let refresh = Refreshers {
            one: &one,
            pair: &pair,
        };
        let top = self.top_level();
        let mut reports = Vec::with_capacity(run.plans.len() + 1);
        let mut start = Instant::now();
        let mut h_in = top;
        let (logits, _) = crate::ckks::cell::run_inference(
            &self.engine,
            run.circuit,
            run.plans,
            run.output_refresh,
            inputs,
            Some(run.cache),
            refresh,
            &mut |record| {
                let t = record.step;
                let (degrees, level_out) = match run.plans.get(t) {
                    Some(plan) => (
                        Some(
                            run.cells[t * run.slots..(t + 1) * run.slots]
                                .iter()
                                .map(Chebyshev::degree)
                                .collect(),
                        ),
                        plan.levels.next_state[0],
                    ),
                    None => (None, if run.output_refresh { top } else { h_in } - 1),
                };
                let report = StepReport {
                    step: t,
                    degree: None,
                    degrees,
                    level_in: h_in,
                    level_out,
                    bootstraps: record.bootstraps(),
                    bootstrap_seconds: boot_seconds.replace(0.0),
                    seconds: start.elapsed().as_secs_f64(),
                    predicted_seconds: None,
                };
                start = Instant::now();
                h_in = level_out;
                on_step(&report);
                reports.push(report);
            },
        )?;
        Ok((logits, reports))
    }
}

/// Runs `f`, adding its wall seconds to `total`.
fn timed<T>(total: &Cell<f64>, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let out = f();
    total.set(total.get() + t.elapsed().as_secs_f64());
    out
}

/// One gated inference's fixed parts.
struct GatedRun<'a> {
    circuit: &'a CellCircuit,
    cache: &'a EncodingCache<Engine>,
    plans: &'a [StepPlan],
    output_refresh: bool,
    /// Slots per step.
    slots: usize,
    /// One polynomial per (slot, step), step-major.
    cells: &'a [Chebyshev],
}
