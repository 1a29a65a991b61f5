//! A whole encrypted inference of any cell: the steps' plans chained (levels and factors
//! flow from one step to the next) and their evaluation, then the output layer.

use serde::Serialize;

use super::levels::StepRefresh;
use super::pairing;
use super::step::{Refreshers, StepPlan, StepRecord};
use super::{CellCircuit, EncodingCache};
use crate::ckks::evaluator::{EvalError, Evaluator};
use crate::ckks::poly::Chebyshev;
use crate::ckks::sim::{SimEvaluator, SimParams};
use crate::recurrence::Cell;

/// Where an inference refreshes: one [`StepRefresh`] per step, and whether the hidden state is
/// refreshed before the output layer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Refreshes {
    /// Per step.
    pub steps: Vec<StepRefresh>,
    /// Before the output layer.
    pub output: bool,
}

impl Refreshes {
    /// Bootstraps in total for `cell`, packed pairs counted once ([`super::pairing`]).
    pub fn bootstraps(&self, cell: &'static Cell) -> usize {
        self.steps
            .iter()
            .map(|&r| pairing::bootstraps(cell, r))
            .sum::<usize>()
            + usize::from(self.output)
    }
}

/// The plans of every step of an inference on the chain of `sim`: `polys[t]` holds step t's
/// polynomial per slot. Step 0 starts from zero states at the top level; the output layer
/// needs one level of the hidden state. A step or output layer that does not fit is refused,
/// naming the step and slot. Each plan carries the scales a run without packed pairs gives
/// its values (a run over the counting simulator of `sim`), so runs of the plans pack pairs.
pub fn plan_steps(
    circuit: &CellCircuit,
    polys: &[Vec<Chebyshev>],
    refreshes: &Refreshes,
    sim: &SimParams,
) -> Result<Vec<StepPlan>, EvalError> {
    let mut plans = plan_levels(circuit, polys, refreshes, sim.top_level())?;
    let records = simulate(circuit, &plans, refreshes.output, sim.clone(), None)?;
    for (plan, record) in plans.iter_mut().zip(records) {
        plan.scales = Some(record.scales);
    }
    Ok(plans)
}

/// Runs an inference of `plans` over the counting simulator of `sim` (inputs fresh at its top
/// level and default scale, as a client encrypts them), keeping the weight encodings it asks
/// for in `cache` if given. Returns the steps' records.
fn simulate(
    circuit: &CellCircuit,
    plans: &[StepPlan],
    output_refresh: bool,
    sim: SimParams,
    cache: Option<&EncodingCache<SimEvaluator>>,
) -> Result<Vec<StepRecord>, EvalError> {
    let (top, scale, slots) = (sim.top_level(), sim.default_scale, sim.slots);
    let s = SimEvaluator::counting_only(sim);
    let zero = s.encrypt(&vec![0.0; slots], top, scale)?;
    let inputs = vec![zero; plans.len()];
    let one = |ct: &<SimEvaluator as Evaluator>::Ciphertext| Ok(s.bootstrap(ct));
    let pair =
        |a: &<SimEvaluator as Evaluator>::Ciphertext,
         b: &<SimEvaluator as Evaluator>::Ciphertext| Ok(s.bootstrap_pair(a, b));
    let refresh = Refreshers {
        one: &one,
        pair: &pair,
    };
    let (_, records) = run_inference(
        &s,
        circuit,
        plans,
        output_refresh,
        &inputs,
        cache,
        refresh,
        &mut |_| {},
    )?;
    Ok(records)
}

/// The plans of [`plan_steps`] without their scales.
fn plan_levels(
    circuit: &CellCircuit,
    polys: &[Vec<Chebyshev>],
    refreshes: &Refreshes,
    top: usize,
) -> Result<Vec<StepPlan>, EvalError> {
    let cell = circuit.cell();
    if polys.is_empty() || refreshes.steps.len() != polys.len() {
        return Err(EvalError::InvalidInput(format!(
            "{} steps of polynomials and {} of refreshes do not describe one inference",
            polys.len(),
            refreshes.steps.len()
        )));
    }
    let mut levels = vec![top; cell.state.len()];
    let mut factors: Vec<Option<f64>> = (0..cell.state.len())
        .map(|i| (i == 0).then_some(1.0))
        .collect();
    let mut plans = Vec::with_capacity(polys.len());
    for (t, (p, &r)) in polys.iter().zip(&refreshes.steps).enumerate() {
        let plan = StepPlan::new(circuit, t, p, &levels, &factors, r, top)?;
        levels = plan.levels.next_state.clone();
        factors = plan.factors.state_out.iter().map(|&f| Some(f)).collect();
        plans.push(plan);
    }
    let h = if refreshes.output { top } else { levels[0] };
    if h == 0 {
        return Err(EvalError::InvalidInput(format!(
            "the output layer needs a level, but after step {} the hidden state is at level 0",
            polys.len() - 1
        )));
    }
    Ok(plans)
}

/// Runs an inference: `inputs[t]` is step t's input ciphertext (at the top level or at its
/// plan's input level), `plans` from [`plan_steps`], `output_refresh` as in [`Refreshes`].
/// Calls `on_step` after every step and after the output layer (whose record has step index
/// `plans.len()`). Returns the logits and the records.
#[allow(clippy::too_many_arguments)]
pub fn run_inference<E: Evaluator>(
    ev: &E,
    circuit: &CellCircuit,
    plans: &[StepPlan],
    output_refresh: bool,
    inputs: &[E::Ciphertext],
    cache: Option<&EncodingCache<E>>,
    refresh: Refreshers<'_, E>,
    on_step: &mut dyn FnMut(&StepRecord),
) -> Result<(E::Ciphertext, Vec<StepRecord>), E::Error> {
    if inputs.len() != plans.len() || plans.is_empty() {
        return Err(EvalError::InvalidInput(format!(
            "{} inputs and {} step plans do not describe one inference",
            inputs.len(),
            plans.len()
        ))
        .into());
    }
    let cell = circuit.cell();
    // Zero states at the first input's level and scale: x - x is an exact encryption of 0.
    let x0 = &inputs[0];
    let x0 = if ev.level(x0) > plans[0].levels.input {
        ev.drop_level(x0, ev.level(x0) - plans[0].levels.input)?
    } else {
        x0.clone()
    };
    let zero = ev.sub(&x0, &x0)?;
    let mut states: Vec<E::Ciphertext> = vec![zero; cell.state.len()];
    let mut records = Vec::with_capacity(plans.len() + 1);
    for (plan, x) in plans.iter().zip(inputs) {
        let (next, record) = circuit.step(ev, plan, x, &states, cache, refresh)?;
        on_step(&record);
        records.push(record);
        states = next;
    }
    let h = &states[0];
    let refreshed;
    let h = if output_refresh {
        refreshed = (refresh.one)(h)?;
        &refreshed
    } else {
        h
    };
    let (logits, mut record) = circuit.output(ev, h, cache, plans.len())?;
    if output_refresh {
        record.ops.insert(
            0,
            crate::ckks::plan::ProfileOp {
                op: "bootstrap".into(),
                level: ev.level(&states[0]),
                count: 1,
            },
        );
    }
    on_step(&record);
    records.push(record);
    Ok((logits, records))
}

impl CellCircuit {
    /// Encodes into `cache`, for `ev`, every weight transform an inference with `plans` (and
    /// `output_refresh`, as for [`run_inference`]) uses, so that the inference itself encodes
    /// nothing. The levels and scales of the encodings are those of a run of the same
    /// inference over the counting simulator of `sim` (the chain of `ev`, inputs fresh at its
    /// top level and default scale, as a client encrypts them). Returns the encodings made.
    pub fn precompute<E: Evaluator>(
        &self,
        ev: &E,
        cache: &EncodingCache<E>,
        plans: &[StepPlan],
        output_refresh: bool,
        sim: SimParams,
    ) -> Result<usize, E::Error> {
        let keys = EncodingCache::<SimEvaluator>::default();
        simulate(self, plans, output_refresh, sim, Some(&keys))?;
        let before = cache.len();
        for (key, _) in keys.lock().iter() {
            self.encoded(ev, Some(cache), key.clone())?;
        }
        Ok(cache.len() - before)
    }
}
