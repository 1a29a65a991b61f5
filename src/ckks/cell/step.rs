//! One encrypted step of any cell, and a whole inference, over any [`Evaluator`].
//!
//! [`StepPlan`] fixes everything that does not depend on ciphertexts: each slot's polynomial
//! with its output factor folded into the coefficients ([`super::factors`]), where each map's
//! shift is added, the levels ([`super::levels`]) and the refresh. [`CellCircuit::step`] then
//! evaluates the program on demand from the carried states: a value is computed when a
//! consumer first asks for it, at the scale the consumer asks for when the value's producer
//! can choose its output scale (a projection or a polynomial, or a sum, difference or product
//! of such). A product's fixed operand is computed first and the other is asked for the scale
//! that lands the product, after its rescale, where its consumer wants it; a sum's operands are
//! asked for equal scales; carried states leave at the default scale. So every addition meets
//! equal scales exactly and no constant multiplication costs a level.

use super::factors::{self, StepFactors};
use super::levels::{StepLevels, StepRefresh, step_levels};
use super::pairing::{self, Refreshed};
use super::placement::{push, push_pair};
use super::{CellCircuit, EncodingCache, EncodingKey, Layer};
use crate::ckks::evaluator::{EvalError, Evaluator, scales_match};
use crate::ckks::linear::BabySteps;
use crate::ckks::plan::ProfileOp;
use crate::ckks::poly::{Chebyshev, InputMap, PolyOptions, evaluate};
use crate::recurrence::{Op, Value};

/// Refreshes a ciphertext's levels (a bootstrap), keeping its scale.
pub type Refresh<'a, E> = dyn Fn(
        &<E as Evaluator>::Ciphertext,
    ) -> Result<<E as Evaluator>::Ciphertext, <E as Evaluator>::Error>
    + 'a;

/// Refreshes two ciphertexts with one bootstrap (a packed pair, [`super::pairing`]), keeping
/// each one's scale.
pub type RefreshPair<'a, E> = dyn Fn(
        &<E as Evaluator>::Ciphertext,
        &<E as Evaluator>::Ciphertext,
    ) -> Result<
        (<E as Evaluator>::Ciphertext, <E as Evaluator>::Ciphertext),
        <E as Evaluator>::Error,
    > + 'a;

/// How a circuit refreshes: one value, or a packed pair.
pub struct Refreshers<'a, E: Evaluator> {
    /// One value per bootstrap.
    pub one: &'a Refresh<'a, E>,
    /// Two values per bootstrap.
    pub pair: &'a RefreshPair<'a, E>,
}

impl<E: Evaluator> Clone for Refreshers<'_, E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E: Evaluator> Copy for Refreshers<'_, E> {}

/// The scale of each value of one step as a run without packed pairs produced it: a run with
/// pairs computes some values earlier than their consumers ask for them, and asks for these.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StepScales {
    /// Per operation.
    pub ops: Vec<Option<f64>>,
    /// Per gate: its (whole, input, recurrent) projections.
    pub projections: Vec<[Option<f64>; 3]>,
}

/// The profile name of evaluating `p` (`poly_deg7` for an odd series such as tanh on a
/// symmetric interval, `poly_deg7_shifted` for an odd series plus a constant such as the
/// sigmoid's, `poly_deg7_full` otherwise).
pub fn poly_op_name(p: &Chebyshev) -> String {
    let c = p.coeffs();
    let even_higher = c.iter().skip(2).step_by(2).any(|&v| v != 0.0);
    let suffix = match (even_higher, c[0] != 0.0) {
        (false, false) => "",
        (false, true) => "_shifted",
        (true, _) => "_full",
    };
    format!("poly_deg{}{suffix}", p.degree())
}

/// Everything about one step that does not depend on ciphertexts.
#[derive(Clone, Debug, PartialEq)]
pub struct StepPlan {
    /// Step index.
    pub step: usize,
    /// Per slot: the polynomial as evaluated (the slot's output factor folded in).
    polys: Vec<Chebyshev>,
    /// Per slot: the map's shift, unless a projection's bias absorbs it.
    shifts: Vec<f64>,
    /// Per gate: the shift added to its (whole, input, recurrent) projection.
    projection_shifts: Vec<[f64; 3]>,
    /// The factors of the step's values.
    pub factors: StepFactors,
    /// The levels of the step's values.
    pub levels: StepLevels,
    /// What the step refreshes.
    pub refresh: StepRefresh,
    /// The refreshed values that share a bootstrap ([`pairing::pairs`]).
    pub pairs: Vec<(Refreshed, Refreshed)>,
    /// Levels after a refresh.
    pub top: usize,
    /// The values' scales in a run without pairs ([`super::inference::plan_steps`] records
    /// them): with them a run packs pairs, without it refreshes one value per bootstrap.
    pub scales: Option<StepScales>,
}

/// The projection (gate, part: 0 whole, 1 input, 2 recurrent) whose bias absorbs the map's
/// shift of `slot`: one read only once, on the activation argument's tree of sums. `None`: the
/// shift is added to the argument (`add_const`).
pub fn shift_absorber(cell: &crate::recurrence::Cell, slot: usize) -> Option<(usize, usize)> {
    let program = &cell.program;
    let Op::Activate { arg, .. } = program.ops[cell.slot_ops()[slot]] else {
        unreachable!("slot_ops names activations")
    };
    let mut stack = vec![arg];
    while let Some(v) = stack.pop() {
        if uses(program, v) != 1 {
            continue;
        }
        match v {
            Value::Project(g) => return Some((g, 0)),
            Value::ProjectInput(g) => return Some((g, 1)),
            Value::ProjectRecurrent(g) => return Some((g, 2)),
            Value::Op(j) => {
                if let Op::Add(a, b) = program.ops[j] {
                    stack.extend([b, a]);
                }
            }
            Value::State(_) => {}
        }
    }
    None
}

/// How often `v` is read by the program (its next states included).
fn uses(program: &crate::recurrence::StepProgram, v: Value) -> usize {
    program
        .ops
        .iter()
        .flat_map(crate::recurrence::op_args)
        .chain(program.next_state.iter().copied())
        .filter(|&u| u == v)
        .count()
}

impl StepPlan {
    /// The plan of step `step` of `circuit` with one polynomial per slot (as fitted, on its
    /// interval), carried states entering at `entry_levels` with `entry_factors` (`None`: a
    /// zero state, step 0), refreshing `refresh`, `top` levels after a refresh. A step that
    /// does not fit its levels is refused with a message naming the step and slot.
    pub fn new(
        circuit: &CellCircuit,
        step: usize,
        polys: &[Chebyshev],
        entry_levels: &[usize],
        entry_factors: &[Option<f64>],
        refresh: StepRefresh,
        top: usize,
    ) -> Result<Self, EvalError> {
        let cell = circuit.cell;
        if polys.len() != cell.slots.len() || entry_levels.len() != cell.state.len() {
            return Err(EvalError::InvalidInput(format!(
                "step {step}: a {} step needs {} polynomials and {} states, got {} and {}",
                cell.kind,
                cell.slots.len(),
                cell.state.len(),
                polys.len(),
                entry_levels.len()
            )));
        }
        let alphas: Vec<f64> = polys.iter().map(|p| p.affine().0).collect();
        let factors = factors::solve(cell, &alphas, entry_factors)
            .map_err(|e| EvalError::InvalidInput(format!("step {step}: {e}")))?;
        let degrees: Vec<usize> = polys.iter().map(Chebyshev::degree).collect();
        let depths: Vec<usize> = polys.iter().map(|p| p.depth(InputMap::Folded)).collect();
        let levels = step_levels(cell, step, &degrees, &depths, entry_levels, refresh, top)
            .map_err(|e| EvalError::InvalidInput(e.to_string()))?;
        let mut shifts = vec![0.0; cell.slots.len()];
        let mut projection_shifts = vec![[0.0; 3]; cell.gate_count()];
        let mut scaled = Vec::with_capacity(polys.len());
        let slot_ops = cell.slot_ops();
        for (slot, p) in polys.iter().enumerate() {
            let k = slot_ops[slot];
            let out: Vec<f64> = p.coeffs().iter().map(|c| c * factors.ops[k]).collect();
            scaled.push(Chebyshev::new(&out, p.interval())?);
            let beta = p.affine().1;
            if beta == 0.0 {
                continue;
            }
            match shift_absorber(cell, slot) {
                Some((g, part)) => projection_shifts[g][part] += beta,
                None => shifts[slot] = beta,
            }
        }
        Ok(StepPlan {
            step,
            polys: scaled,
            shifts,
            projection_shifts,
            factors,
            levels,
            refresh,
            pairs: pairing::pairs(cell, refresh),
            top,
            scales: None,
        })
    }

    /// The value refreshed in one bootstrap with `v`: its pair's other member in a run that
    /// packs pairs (the plan has recorded scales), else none.
    fn packed_partner(&self, v: Refreshed) -> Option<Refreshed> {
        self.scales.as_ref()?;
        pairing::partner(&self.pairs, v)
    }
}

/// What one step (or the output layer) ran.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct StepRecord {
    /// Step index (the number of steps for the output layer).
    pub step: usize,
    /// The work in profile operations at the level each started at, bootstraps included.
    pub ops: Vec<ProfileOp>,
    /// Weight encodings (precomputable, so apart from `ops`).
    pub encodings: Vec<ProfileOp>,
    /// The scale of each value the step computed.
    #[serde(skip)]
    pub scales: StepScales,
}

impl StepRecord {
    fn new(step: usize) -> Self {
        StepRecord {
            step,
            ops: Vec::new(),
            encodings: Vec::new(),
            scales: StepScales::default(),
        }
    }

    /// Bootstraps run.
    pub fn bootstraps(&self) -> usize {
        self.ops
            .iter()
            .filter(|o| o.op == "bootstrap")
            .map(|o| o.count)
            .sum()
    }
}

/// The state of one step's evaluation.
struct Run<'a, E: Evaluator> {
    ev: &'a E,
    circuit: &'a CellCircuit,
    plan: &'a StepPlan,
    cache: Option<&'a EncodingCache<E>>,
    refresh: Refreshers<'a, E>,
    x: &'a E::Ciphertext,
    states: Vec<E::Ciphertext>,
    babies: Option<(BabySteps<E>, BabySteps<E>)>,
    projections: Vec<[Option<E::Ciphertext>; 3]>,
    ops: Vec<Option<E::Ciphertext>>,
    record: StepRecord,
}

impl<E: Evaluator> Run<'_, E> {
    fn program(&self) -> &'static crate::recurrence::StepProgram {
        &self.circuit.cell.program
    }

    fn projection(&self, v: Value) -> Option<(usize, usize)> {
        match v {
            Value::Project(g) => Some((g, 0)),
            Value::ProjectInput(g) => Some((g, 1)),
            Value::ProjectRecurrent(g) => Some((g, 2)),
            _ => None,
        }
    }

    fn computed(&self, v: Value) -> Option<&E::Ciphertext> {
        match v {
            Value::State(i) => Some(&self.states[i]),
            Value::Op(k) => self.ops[k].as_ref(),
            _ => {
                let (g, part) = self.projection(v)?;
                self.projections[g][part].as_ref()
            }
        }
    }

    /// True if `v`'s scale can still be chosen by its consumer.
    fn adaptable(&self, v: Value) -> bool {
        if self.computed(v).is_some() {
            return false;
        }
        match v {
            Value::State(_) => false,
            Value::Op(k) => match self.program().ops[k] {
                Op::Activate { .. } => true,
                Op::Add(a, b) => self.adaptable(a) && self.adaptable(b),
                Op::OneMinus(a) => self.adaptable(a),
                Op::Mul(a, b) => self.adaptable(a) || self.adaptable(b),
            },
            _ => true,
        }
    }

    /// `v`, computed on first use at scale `want` if it is adaptable (default scale if
    /// `None`); a fixed value must already have the scale asked for.
    fn get(&mut self, v: Value, want: Option<f64>) -> Result<E::Ciphertext, E::Error> {
        if let Some(ct) = self.computed(v) {
            if let Some(w) = want
                && !scales_match(self.ev.scale(ct), w)
            {
                return Err(EvalError::ScaleMismatch {
                    op: "cell step (a value reused at another scale)",
                    left: self.ev.scale(ct),
                    right: w,
                }
                .into());
            }
            return Ok(ct.clone());
        }
        let want = self.recorded(v).or(want);
        let want_or_default = want.unwrap_or_else(|| self.ev.default_scale());
        match v {
            Value::Op(k) => {
                let ct = self.compute_op(k, want)?;
                let ct = if !self.plan.refresh.op(k) {
                    ct
                } else if let Some(Refreshed::Op(j)) = self.plan.packed_partner(Refreshed::Op(k)) {
                    // Independent of k (pairing), so not computed yet: compute it at the
                    // scale the run without pairs gave it and refresh both at once.
                    let other = self.compute_op(j, self.recorded(Value::Op(j)))?;
                    let level = self.ev.level(&ct).min(self.ev.level(&other));
                    push_pair(&mut self.record.ops, level, self.plan.top);
                    let (ct, other) = (self.refresh.pair)(&ct, &other)?;
                    self.check_level(Value::Op(j), &other, self.plan.levels.ops[j])?;
                    self.ops[j] = Some(other);
                    ct
                } else {
                    let level = self.ev.level(&ct);
                    push(&mut self.record.ops, "bootstrap".into(), level, 1);
                    (self.refresh.one)(&ct)?
                };
                self.check_level(v, &ct, self.plan.levels.ops[k])?;
                self.ops[k] = Some(ct.clone());
                Ok(ct)
            }
            Value::State(_) => unreachable!("states are always computed"),
            _ => {
                let ct = self.project(v, want_or_default)?;
                self.check_level(v, &ct, self.plan.levels.input - 1)?;
                Ok(ct)
            }
        }
    }

    /// The scale the run without pairs gave `v` (paired runs only).
    fn recorded(&self, v: Value) -> Option<f64> {
        let scales = self.plan.scales.as_ref()?;
        match v {
            Value::Op(k) => scales.ops.get(k).copied().flatten(),
            Value::State(_) => None,
            _ => {
                let (g, part) = self.projection(v)?;
                scales.projections.get(g).and_then(|p| p[part])
            }
        }
    }

    /// The scale of every value computed so far.
    fn scales(&self) -> StepScales {
        let scale = |c: &Option<E::Ciphertext>| c.as_ref().map(|c| self.ev.scale(c));
        StepScales {
            ops: self.ops.iter().map(scale).collect(),
            projections: self
                .projections
                .iter()
                .map(|p| [scale(&p[0]), scale(&p[1]), scale(&p[2])])
                .collect(),
        }
    }

    fn check_level(&self, v: Value, ct: &E::Ciphertext, want: usize) -> Result<(), E::Error> {
        let got = self.ev.level(ct);
        if got != want {
            return Err(EvalError::InvalidInput(format!(
                "step {}: {v:?} came out at level {got}, the plan says {want}",
                self.plan.step
            ))
            .into());
        }
        Ok(())
    }

    fn drop_to(&self, ct: E::Ciphertext, level: usize) -> Result<E::Ciphertext, E::Error> {
        let l = self.ev.level(&ct);
        if l > level {
            self.ev.drop_level(&ct, l - level)
        } else {
            Ok(ct)
        }
    }

    fn compute_op(&mut self, k: usize, want: Option<f64>) -> Result<E::Ciphertext, E::Error> {
        let ev = self.ev;
        let levels = &self.plan.levels;
        match self.program().ops[k] {
            Op::Add(a, b) => {
                let (first, second) = if self.adaptable(a) && !self.adaptable(b) {
                    (b, a)
                } else {
                    (a, b)
                };
                let f = self.get(first, want)?;
                let s = self.get(second, Some(ev.scale(&f)))?;
                let level = levels.of(a).min(levels.of(b));
                let (f, s) = (self.drop_to(f, level)?, self.drop_to(s, level)?);
                push(&mut self.record.ops, "add".into(), level, 1);
                ev.add(&f, &s)
            }
            Op::OneMinus(a) => {
                let c = self.get(a, want)?;
                let level = ev.level(&c);
                let neg = ev.mul_const(&c, -1.0, 1.0)?;
                push(&mut self.record.ops, "negate".into(), level, 1);
                push(&mut self.record.ops, "add_const".into(), level, 1);
                ev.add_const(&neg, self.plan.factors.ops[k])
            }
            Op::Mul(a, b) => {
                let (fixed, adapted) = if self.adaptable(a) && !self.adaptable(b) {
                    (b, a)
                } else {
                    (a, b)
                };
                let level = levels.of(a).min(levels.of(b));
                let f = self.get(fixed, None)?;
                let q = ev.rescale_prime(level) as f64;
                // Asked for no scale, the product still lands at the default scale: a value
                // read by several consumers (an LSTM's c', read by its tanh and carried) must
                // meet the one that asks for the default later.
                let target = Some(want.unwrap_or_else(|| ev.default_scale()) * q / ev.scale(&f));
                let o = if self.adaptable(adapted) {
                    self.get(adapted, target)?
                } else {
                    self.get(adapted, None)?
                };
                let (f, o) = (self.drop_to(f, level)?, self.drop_to(o, level)?);
                push(&mut self.record.ops, "mul_relin_rescale".into(), level, 1);
                let out = ev.rescale(&ev.mul_relin(&f, &o)?)?;
                if let Some(w) = want
                    && !scales_match(ev.scale(&out), w)
                {
                    return Err(EvalError::ScaleMismatch {
                        op: "cell step product (both operands fixed)",
                        left: ev.scale(&out),
                        right: w,
                    }
                    .into());
                }
                Ok(out)
            }
            Op::Activate { slot, arg } => {
                let t = self.get(arg, None)?;
                let t = if self.plan.shifts[slot] != 0.0 {
                    push(&mut self.record.ops, "add_const".into(), ev.level(&t), 1);
                    ev.add_const(&t, self.plan.shifts[slot])?
                } else {
                    t
                };
                let poly = &self.plan.polys[slot];
                let opts = PolyOptions {
                    input: InputMap::Folded,
                    target_scale: Some(want.unwrap_or_else(|| ev.default_scale())),
                    log_split: None,
                };
                push(&mut self.record.ops, poly_op_name(poly), ev.level(&t), 1);
                Ok(evaluate(ev, &t, poly, &opts)?.0)
            }
        }
    }

    /// The baby-step rotations of x and h, made on first use.
    fn babies(&mut self) -> Result<(), E::Error> {
        if self.babies.is_some() {
            return Ok(());
        }
        let lin = self.circuit.linear(Layer::Dense);
        let (n1, _) = lin.bsgs();
        let all: Vec<usize> = (1..n1).collect();
        let layout = self.circuit.layout;
        let level = self.plan.levels.input;
        let x = self.drop_to(self.x.clone(), level)?;
        let name = format!("hoist_{}", self.circuit.blocks());
        push(&mut self.record.ops, name.clone(), level, 2);
        let bx = BabySteps::new(self.ev, layout, n1, &x, &all)?;
        let bh = BabySteps::new(self.ev, layout, n1, &self.states[0], &all)?;
        self.babies = Some((bx, bh));
        Ok(())
    }

    fn project(&mut self, v: Value, out_scale: f64) -> Result<E::Ciphertext, E::Error> {
        // Invariant: `get` calls this for projections only.
        let (g, part) = self.projection(v).expect("a projection");
        self.babies()?;
        let (layer, factor) = match part {
            0 => (Layer::Whole(g), self.plan.factors.project[g]),
            1 => (Layer::Input(g), self.plan.factors.project_input[g]),
            _ => (Layer::Recurrent(g), self.plan.factors.project_recurrent[g]),
        };
        let shift = self.plan.projection_shifts[g][part];
        let level = self.plan.levels.input;
        // Invariant: `babies` just made them.
        let (bx, bh) = self.babies.as_ref().expect("baby steps");
        let inputs: Vec<&BabySteps<E>> = match part {
            0 => vec![bx, bh],
            1 => vec![bx],
            _ => vec![bh],
        };
        let scales: Vec<f64> = inputs.iter().map(|b| self.ev.scale(b.input())).collect();
        let key = EncodingKey {
            layer,
            level,
            in_scales: scales,
            out_scale,
            affine: (factor, shift),
        };
        let enc = self.circuit.encoded(self.ev, self.cache, key)?;
        let (out, _) = enc.apply_rotated(self.ev, &inputs)?;
        for (l, n) in enc.encodings() {
            push(&mut self.record.encodings, "encode".into(), l, n);
        }
        let name = format!("bsgs_{}x{}", self.circuit.blocks(), inputs.len());
        push(&mut self.record.ops, name, level, 1);
        self.projections[g][part] = Some(out.clone());
        Ok(out)
    }
}

impl CellCircuit {
    /// One step: `x` (at the plan's input level or above), the carried `states` as they
    /// entered (before the plan's entry refreshes) at the default scale. Returns the states
    /// leaving the step, at the default scale.
    pub fn step<E: Evaluator>(
        &self,
        ev: &E,
        plan: &StepPlan,
        x: &E::Ciphertext,
        states: &[E::Ciphertext],
        cache: Option<&EncodingCache<E>>,
        refresh: Refreshers<'_, E>,
    ) -> Result<(Vec<E::Ciphertext>, StepRecord), E::Error> {
        let cell = self.cell;
        if states.len() != cell.state.len() {
            return Err(EvalError::InvalidInput(format!(
                "step {}: a {} step carries {} states, got {}",
                plan.step,
                cell.kind,
                cell.state.len(),
                states.len()
            ))
            .into());
        }
        let mut record = StepRecord::new(plan.step);
        let mut refreshed: Vec<Option<E::Ciphertext>> = vec![None; states.len()];
        for i in 0..states.len() {
            if refreshed[i].is_some() || !plan.refresh.state(i) {
                continue;
            }
            if let Some(Refreshed::State(j)) = plan.packed_partner(Refreshed::State(i)) {
                let level = ev.level(&states[i]).min(ev.level(&states[j]));
                push_pair(&mut record.ops, level, plan.top);
                let (a, b) = (refresh.pair)(&states[i], &states[j])?;
                refreshed[i] = Some(a);
                refreshed[j] = Some(b);
            } else {
                push(&mut record.ops, "bootstrap".into(), ev.level(&states[i]), 1);
                refreshed[i] = Some((refresh.one)(&states[i])?);
            }
        }
        let entered: Vec<E::Ciphertext> = refreshed
            .into_iter()
            .zip(states)
            .map(|(r, s)| r.unwrap_or_else(|| s.clone()))
            .collect();
        for (i, s) in entered.iter().enumerate() {
            if ev.level(s) != plan.levels.states[i] {
                return Err(EvalError::InvalidInput(format!(
                    "step {}: state {} entered at level {}, the plan says {}",
                    plan.step,
                    cell.state[i],
                    ev.level(s),
                    plan.levels.states[i]
                ))
                .into());
            }
        }
        if ev.level(x) < plan.levels.input {
            return Err(EvalError::LevelMismatch {
                op: "cell step (input below the hidden state)",
                left: ev.level(x),
                right: plan.levels.input,
            }
            .into());
        }
        let mut run = Run {
            ev,
            circuit: self,
            plan,
            cache,
            refresh,
            x,
            states: entered,
            babies: None,
            projections: vec![[None, None, None]; cell.gate_count()],
            ops: vec![None; cell.program.ops.len()],
            record,
        };
        let default = ev.default_scale();
        let mut out = Vec::with_capacity(cell.state.len());
        for &v in cell.program.next_state {
            out.push(run.get(v, Some(default))?);
        }
        run.record.scales = run.scales();
        Ok((out, run.record))
    }

    /// The output layer: logits = h Wd + bd on the hidden state `h` (factor 1), one level,
    /// at the default scale.
    pub fn output<E: Evaluator>(
        &self,
        ev: &E,
        h: &E::Ciphertext,
        cache: Option<&EncodingCache<E>>,
        step: usize,
    ) -> Result<(E::Ciphertext, StepRecord), E::Error> {
        let level = ev.level(h);
        let key = EncodingKey {
            layer: Layer::Dense,
            level,
            in_scales: vec![ev.scale(h)],
            out_scale: ev.default_scale(),
            affine: (1.0, 0.0),
        };
        let enc = self.encoded(ev, cache, key)?;
        let mut record = StepRecord::new(step);
        let (out, rep) = enc.apply(ev, &[h])?;
        for (l, n) in enc.encodings() {
            push(&mut record.encodings, "encode".into(), l, n);
        }
        let blocks = self.blocks();
        push(&mut record.ops, format!("hoist_{blocks}"), level, 1);
        push(&mut record.ops, format!("bsgs_{blocks}x1"), level, 1);
        debug_assert_eq!(rep.level_out + 1, level);
        Ok((out, record))
    }
}
