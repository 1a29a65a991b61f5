//! The encrypted RNN circuit, and its *plan*: levels and operation counts obtained by running
//! that same circuit over the simulated evaluator, so a cost model built on the plan cannot
//! drift from what the engine executes.
//!
//! # The circuit ([`RnnCircuit`], generic over any [`Evaluator`])
//! Hidden states, inputs and logits are packed unit-major, many images per ciphertext
//! ([`Layout`]: 32 units x 1024 images at N = 2^16). Step t, with the cell's polynomial p_t on
//! [lo, hi] and its map t = alpha z + beta onto [-1, 1] folded into the weights:
//! 1. **linear segment** ([`RnnCircuit::linear`], 1 level): u = alpha (x_t Wx + b) + beta and,
//!    for t > 0, v = alpha h_{t-1} Wh, each a 32x32 BSGS diagonal matvec (`matvec_32`) with its
//!    own rescale; then u + v. The client encrypts x_t at the hidden state's level.
//! 2. **polynomial segment** ([`RnnCircuit::activation`], ceil(log2(d + 1)) levels): h_t = p_t
//!    evaluated in the Chebyshev basis on the already mapped input (no extra level).
//!
//! After the last step, the **output segment** ([`RnnCircuit::output`], 1 level) computes
//! logits = h Wd + bd. Every segment ends at the evaluator's default scale, so segments can be
//! chained (and bootstraps placed) in any order.
//!
//! # The plan API (for the cost model)
//! - [`PlanConfig`]: the parameter shape ([`SimParams`], e.g. `SimParams::fgb_like()`) and the
//!   network shape; [`PlanConfig::fgb_like`] for the reference problem.
//! - [`plan_segment`]`(cfg, kind, level)` -> [`SegmentPlan`]: one segment started at `level`:
//!   levels in and out, primitive operation counts per level ([`OpCounts`] of [`SimOp`]), and
//!   the same work in the timing profile's operation names ([`ProfileOp`]: `matvec_32`,
//!   `add`, `poly_deg17`, ... at the level each starts at), and separately the weight
//!   encodings (`encode`, precomputable per level). A segment that does not fit in
//!   `level` levels is refused ([`EvalError::OutOfLevels`]). Cheap enough to tabulate for every
//!   (kind, level).
//! - [`plan_schedule`]`(cfg, cells, placement)` -> [`SchedulePlan`]: a whole inference (one
//!   [`Chebyshev`] per step), segments in order [linear 0, poly 0, linear 1, ..., output], with
//!   bootstraps (simulated: back to the top level) placed greedily or where the caller says.
//!   [`tanh_cells`] builds tanh cells of given degrees on an interval.
//!
//! The plan runs with placeholder weights (all ones: every diagonal non-zero, like trained
//! weights) because operation counts do not depend on weight values.

use std::sync::{Arc, Mutex};

use ndarray::{Array2, ArrayView2};

use super::evaluator::{EvalError, Evaluator, scales_match};
use super::linear::{EncodedLinear, Layout, Linear, Storage};
use super::poly::{Chebyshev, InputMap, PolyOptions, evaluate};
use super::sim::{OpCounts, SimEvaluator, SimOp, SimParams};

/// The weights of a SimpleRNN + Dense network in Keras layout, as `f64`.
#[derive(Clone, Debug, PartialEq)]
pub struct RnnMatrices {
    /// Input kernel [input_width, hidden].
    pub wx: Array2<f64>,
    /// Recurrent kernel [hidden, hidden].
    pub wh: Array2<f64>,
    /// Cell bias [hidden].
    pub b: Vec<f64>,
    /// Output kernel [hidden, classes].
    pub wd: Array2<f64>,
    /// Output bias [classes].
    pub bd: Vec<f64>,
}

impl RnnMatrices {
    /// From the crate's trained weights.
    pub fn from_weights(w: &crate::model::Weights) -> Self {
        RnnMatrices {
            wx: w.kernel.mapv(f64::from),
            wh: w.recurrent_kernel.mapv(f64::from),
            b: w.bias.iter().map(|&v| f64::from(v)).collect(),
            wd: w.dense_kernel.mapv(f64::from),
            bd: w.dense_bias.iter().map(|&v| f64::from(v)).collect(),
        }
    }

    /// Placeholder weights (all ones) of the given shape, for planning.
    pub fn ones(input_width: usize, hidden: usize, classes: usize) -> Self {
        RnnMatrices {
            wx: Array2::ones((input_width, hidden)),
            wh: Array2::ones((hidden, hidden)),
            b: vec![1.0; hidden],
            wd: Array2::ones((hidden, classes)),
            bd: vec![1.0; classes],
        }
    }
}

/// An operation in the timing profile's vocabulary, at the level it starts at.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct ProfileOp {
    /// Profile operation name (`matvec_32`, `add`, `poly_deg17`, ...).
    pub op: String,
    /// Level the operation starts at.
    pub level: usize,
    /// How many times.
    pub count: usize,
}

fn push_op(ops: &mut Vec<ProfileOp>, op: String, level: usize) {
    push_ops(ops, op, level, 1);
}

fn push_ops(ops: &mut Vec<ProfileOp>, op: String, level: usize, count: usize) {
    if count == 0 {
        return;
    }
    match ops.iter_mut().find(|o| o.op == op && o.level == level) {
        Some(o) => o.count += count,
        None => ops.push(ProfileOp { op, level, count }),
    }
}

/// Records the plaintext encodings of a linear layer as `encode` operations.
fn push_encodings<E: Evaluator>(ops: &mut Vec<ProfileOp>, enc: &super::linear::EncodedLinear<E>) {
    for (level, count) in enc.encodings() {
        push_ops(ops, "encode".into(), level, count);
    }
}

/// What a segment did.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SegmentReport {
    /// Level of the input.
    pub level_in: usize,
    /// Level of the output.
    pub level_out: usize,
    /// The work in profile operations.
    pub ops: Vec<ProfileOp>,
    /// Plaintext encodings of weights (profile op `encode`), which depend only on the weights
    /// and the level: a server can precompute them, so they are kept out of `ops`.
    pub encodings: Vec<ProfileOp>,
}

/// The encrypted RNN: its linear layers and the circuit of each segment (see module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct RnnCircuit {
    layout: Layout,
    wx: Linear,
    wh: Linear,
    wd: Linear,
    hidden: usize,
    classes: usize,
}

impl RnnCircuit {
    /// The circuit of `w` with `layout` (blocks >= every dimension).
    pub fn new(layout: Layout, w: &RnnMatrices, n1: Option<usize>) -> Result<Self, EvalError> {
        let (hidden, classes) = (w.wh.nrows(), w.wd.ncols());
        if w.wh.ncols() != hidden || w.wx.ncols() != hidden || w.wd.nrows() != hidden {
            return Err(EvalError::InvalidInput(format!(
                "RNN weights: inconsistent shapes wx {:?}, wh {:?}, wd {:?}",
                w.wx.dim(),
                w.wh.dim(),
                w.wd.dim()
            )));
        }
        let lin = |m: ArrayView2<f64>, b: Option<&[f64]>| Linear::new(layout, &[m], b, n1);
        Ok(RnnCircuit {
            layout,
            wx: lin(w.wx.view(), Some(&w.b))?,
            wh: lin(w.wh.view(), None)?,
            wd: lin(w.wd.view(), Some(&w.bd))?,
            hidden,
            classes,
        })
    }

    /// The packing layout.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Hidden units.
    pub fn hidden(&self) -> usize {
        self.hidden
    }

    /// Output classes.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Rotation steps whose keys the whole inference needs, sorted.
    pub fn rotation_steps(&self) -> Vec<isize> {
        let mut s: Vec<isize> = [&self.wx, &self.wh, &self.wd]
            .iter()
            .flat_map(|l| l.rotation_steps())
            .collect();
        s.sort_unstable();
        s.dedup();
        s
    }

    fn matvec_name(&self) -> String {
        format!("matvec_{}", self.layout.blocks)
    }

    /// The linear segment of a step: alpha (x Wx + b + h Wh) + beta with (alpha, beta) the
    /// map of `cell`'s interval onto [-1, 1]; `h = None` at step 0 (h_0 = 0). `x` is dropped
    /// to `h`'s level; the output is one level lower, at the default scale. Weight encodings
    /// come from `cache` if given (made there on first use), else are made for this call.
    pub fn linear<E: Evaluator>(
        &self,
        ev: &E,
        x: &E::Ciphertext,
        h: Option<&E::Ciphertext>,
        cell: &Chebyshev,
        cache: Option<&WeightCache<E>>,
    ) -> Result<(E::Ciphertext, SegmentReport), E::Error> {
        let (alpha, beta) = cell.affine();
        let level = h.map_or(ev.level(x), |h| ev.level(h));
        if ev.level(x) < level {
            return Err(EvalError::LevelMismatch {
                op: "RNN step (input below the hidden state)",
                left: ev.level(x),
                right: level,
            }
            .into());
        }
        let x = ev.drop_level(x, ev.level(x) - level)?;
        let out_scale = ev.default_scale();
        let mut ops = Vec::new();
        let mut encodings = Vec::new();
        let ex = self.encoded(
            ev,
            cache,
            Layer::Input,
            level,
            (ev.scale(&x), out_scale),
            (alpha, beta),
        )?;
        let (u, _) = ex.apply(ev, &[&x])?;
        push_encodings(&mut encodings, &ex);
        push_op(&mut ops, self.matvec_name(), level);
        push_op(&mut ops, "add".into(), level - 1);
        let out = match h {
            None => u,
            Some(h) => {
                let eh = self.encoded(
                    ev,
                    cache,
                    Layer::Recurrent,
                    level,
                    (ev.scale(h), out_scale),
                    (alpha, 0.0),
                )?;
                let (v, _) = eh.apply(ev, &[h])?;
                push_encodings(&mut encodings, &eh);
                push_op(&mut ops, self.matvec_name(), level);
                push_op(&mut ops, "add".into(), level - 1);
                ev.add(&u, &v)?
            }
        };
        let report = SegmentReport {
            level_in: level,
            level_out: ev.level(&out),
            ops,
            encodings,
        };
        Ok((out, report))
    }

    /// One layer's weights encoded for `level`, (input, output) `scales` and `affine` map,
    /// from `cache` if given.
    fn encoded<E: Evaluator>(
        &self,
        ev: &E,
        cache: Option<&WeightCache<E>>,
        layer: Layer,
        level: usize,
        scales: (f64, f64),
        affine: (f64, f64),
    ) -> Result<Arc<EncodedLinear<E>>, E::Error> {
        let linear = match layer {
            Layer::Input => &self.wx,
            Layer::Recurrent => &self.wh,
            Layer::Output => &self.wd,
        };
        let encode = || linear.encode(ev, level, &[scales.0], scales.1, affine, Storage::Expanded);
        let Some(cache) = cache else {
            return Ok(Arc::new(encode()?));
        };
        let key = CacheKey {
            layer,
            level,
            scales,
            affine,
        };
        let mut entries = cache
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, e)) = entries.iter().find(|(k, _)| k.matches(&key)) {
            return Ok(e.clone());
        }
        let e = Arc::new(encode()?);
        entries.push((key, e.clone()));
        Ok(e)
    }

    /// The polynomial segment: `cell` on the mapped pre-activation (from
    /// [`RnnCircuit::linear`]), ending at the default scale.
    pub fn activation<E: Evaluator>(
        &self,
        ev: &E,
        t: &E::Ciphertext,
        cell: &Chebyshev,
    ) -> Result<(E::Ciphertext, SegmentReport), E::Error> {
        let opts = PolyOptions {
            input: InputMap::Folded,
            target_scale: Some(ev.default_scale()),
            log_split: None,
        };
        let (h, rep) = evaluate(ev, t, cell, &opts)?;
        let report = SegmentReport {
            level_in: rep.level_in,
            level_out: rep.level_out,
            ops: vec![ProfileOp {
                op: format!("poly_deg{}", rep.degree),
                level: rep.level_in,
                count: 1,
            }],
            encodings: Vec::new(),
        };
        Ok((h, report))
    }

    /// Encodes into `cache` the weights of a linear segment of `cell` started at `level` on
    /// inputs at the default scale: the input projection and, if `recurrent` (steps after the
    /// first), the recurrent matrix.
    pub fn precompute_linear<E: Evaluator>(
        &self,
        ev: &E,
        cache: &WeightCache<E>,
        level: usize,
        cell: &Chebyshev,
        recurrent: bool,
    ) -> Result<(), E::Error> {
        let (alpha, beta) = cell.affine();
        let scales = (ev.default_scale(), ev.default_scale());
        self.encoded(ev, Some(cache), Layer::Input, level, scales, (alpha, beta))?;
        if recurrent {
            self.encoded(
                ev,
                Some(cache),
                Layer::Recurrent,
                level,
                scales,
                (alpha, 0.0),
            )?;
        }
        Ok(())
    }

    /// Encodes into `cache` the output layer's weights for `level` (input at the default
    /// scale).
    pub fn precompute_output<E: Evaluator>(
        &self,
        ev: &E,
        cache: &WeightCache<E>,
        level: usize,
    ) -> Result<(), E::Error> {
        let scales = (ev.default_scale(), ev.default_scale());
        self.encoded(ev, Some(cache), Layer::Output, level, scales, (1.0, 0.0))?;
        Ok(())
    }

    /// The output segment: logits = h Wd + bd (1 level); weights from `cache` as in
    /// [`RnnCircuit::linear`].
    pub fn output<E: Evaluator>(
        &self,
        ev: &E,
        h: &E::Ciphertext,
        cache: Option<&WeightCache<E>>,
    ) -> Result<(E::Ciphertext, SegmentReport), E::Error> {
        let level = ev.level(h);
        let enc = self.encoded(
            ev,
            cache,
            Layer::Output,
            level,
            (ev.scale(h), ev.default_scale()),
            (1.0, 0.0),
        )?;
        let (out, _) = enc.apply(ev, &[h])?;
        let mut ops = Vec::new();
        let mut encodings = Vec::new();
        push_encodings(&mut encodings, &enc);
        push_op(&mut ops, self.matvec_name(), level);
        push_op(&mut ops, "add".into(), level - 1);
        Ok((
            out,
            SegmentReport {
                level_in: level,
                level_out: level - 1,
                ops,
                encodings,
            },
        ))
    }
}

/// The three weight matrices of the circuit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layer {
    Input,
    Recurrent,
    Output,
}

/// What an encoding depends on.
#[derive(Clone, Copy, Debug, PartialEq)]
struct CacheKey {
    layer: Layer,
    level: usize,
    /// (input, output) scales.
    scales: (f64, f64),
    affine: (f64, f64),
}

impl CacheKey {
    /// Same layer, level and map, and scales equal up to rounding.
    fn matches(&self, other: &CacheKey) -> bool {
        self.layer == other.layer
            && self.level == other.level
            && self.affine == other.affine
            && scales_match(self.scales.0, other.scales.0)
            && scales_match(self.scales.1, other.scales.1)
    }
}

/// Weight encodings made once per (layer, level, scales, map) and reused across steps and
/// inferences: what a server precomputes (plans report encodings apart from the work for
/// this reason). Plans pass no cache, so they count every encoding.
pub struct WeightCache<E: Evaluator> {
    entries: Mutex<Vec<(CacheKey, Arc<EncodedLinear<E>>)>>,
}

impl<E: Evaluator> Default for WeightCache<E> {
    fn default() -> Self {
        Self {
            entries: Mutex::new(Vec::new()),
        }
    }
}

impl<E: Evaluator> WeightCache<E> {
    /// Encoded layers held.
    pub fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    /// True if nothing is cached yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Parameter and network shape of a plan.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanConfig {
    /// The CKKS parameter shape.
    pub params: SimParams,
    /// Unit blocks of the layout (a power of two >= every network dimension).
    pub blocks: usize,
    /// Input width (pixels per step).
    pub input_width: usize,
    /// Hidden units.
    pub hidden: usize,
    /// Output classes.
    pub classes: usize,
}

impl PlanConfig {
    /// The reference problem (28 pixels per step, 32 units, 10 classes) on the `fgb-like`
    /// shape: 32 blocks x 1024 images, 9 levels of 42 bits.
    pub fn fgb_like() -> Self {
        PlanConfig {
            params: SimParams::fgb_like(),
            blocks: 32,
            input_width: 28,
            hidden: 32,
            classes: 10,
        }
    }

    fn circuit(&self) -> Result<RnnCircuit, EvalError> {
        let layout = Layout::new(self.params.slots, self.blocks)?;
        let w = RnnMatrices::ones(self.input_width, self.hidden, self.classes);
        RnnCircuit::new(layout, &w, None)
    }
}

/// The part of a step a segment computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Part {
    /// The linear part (projections, bias, the map onto the polynomial's interval).
    Linear,
    /// The activation polynomial.
    Activation,
    /// The Dense output layer (after the last step).
    Output,
}

/// A segment's name: its step and part (the output layer's step is the number of steps).
/// Bootstrap placements name the segments they refresh before.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct SegmentId {
    pub step: usize,
    pub part: Part,
}

impl SegmentId {
    /// The linear part of `step`.
    pub fn linear(step: usize) -> Self {
        Self {
            step,
            part: Part::Linear,
        }
    }

    /// The activation of `step`.
    pub fn activation(step: usize) -> Self {
        Self {
            step,
            part: Part::Activation,
        }
    }

    /// The output layer after `steps` steps.
    pub fn output(steps: usize) -> Self {
        Self {
            step: steps,
            part: Part::Output,
        }
    }
}

impl std::fmt::Display for SegmentId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.part {
            Part::Linear => write!(f, "linear@{}", self.step),
            Part::Activation => write!(f, "activation@{}", self.step),
            Part::Output => f.write_str("output"),
        }
    }
}

/// The kind of a segment.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub enum SegmentKind {
    /// Linear part of step 0 (input projection and bias only).
    FirstLinear,
    /// Linear part of a later step (input projection, recurrent matvec, bias).
    Linear,
    /// The cell's polynomial.
    Poly(#[serde(skip)] Chebyshev),
    /// Dense output layer.
    Output,
}

/// One segment of the plan.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SegmentPlan {
    /// Which segment.
    pub id: SegmentId,
    /// What it computes.
    pub kind: SegmentKind,
    /// Polynomial degree (poly segments only).
    pub degree: Option<usize>,
    /// True if a (simulated) bootstrap ran right before it.
    pub bootstrap_before: bool,
    /// Level it starts at.
    pub level_in: usize,
    /// Level it ends at.
    pub level_out: usize,
    /// The work in profile operations.
    pub ops: Vec<ProfileOp>,
    /// Weight encodings (profile op `encode`; precomputable, so not in `ops`).
    pub encodings: Vec<ProfileOp>,
    /// Primitive operations per level (as the simulator counted them).
    #[serde(serialize_with = "ser_counts")]
    pub primitives: OpCounts,
}

fn ser_counts<S: serde::Serializer>(c: &OpCounts, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(None)?;
    for (op, level, count) in c.iter() {
        seq.serialize_element(&ProfileOp {
            op: op.name().to_string(),
            level,
            count,
        })?;
    }
    seq.end()
}

/// Runs one segment of `kind` started at `level` over the simulator (counting only).
pub fn plan_segment(
    cfg: &PlanConfig,
    kind: &SegmentKind,
    level: usize,
) -> Result<SegmentPlan, EvalError> {
    let circuit = cfg.circuit()?;
    let ev = SimEvaluator::counting_only(cfg.params.clone());
    let ct = ev.encrypt(&[], level, ev.default_scale())?;
    let id = match kind {
        SegmentKind::FirstLinear | SegmentKind::Linear => SegmentId::linear(0),
        SegmentKind::Poly(_) => SegmentId::activation(0),
        SegmentKind::Output => SegmentId::output(0),
    };
    Ok(run_segment(&circuit, &ev, kind, id, &ct, &ct)?.1)
}

/// A linear segment needs a cell for its interval; the ops do not depend on it.
fn identity_cell() -> Chebyshev {
    // Invariant: T_1 on [-1, 1] is a valid degree-1 polynomial.
    Chebyshev::new(&[0.0, 1.0], (-1.0, 1.0)).expect("identity polynomial")
}

fn run_segment(
    circuit: &RnnCircuit,
    ev: &SimEvaluator,
    kind: &SegmentKind,
    id: SegmentId,
    x: &super::sim::SimCiphertext,
    state: &super::sim::SimCiphertext,
) -> Result<(super::sim::SimCiphertext, SegmentPlan), EvalError> {
    ev.take_counts();
    let (ct, rep, degree) = match kind {
        SegmentKind::FirstLinear => {
            let (c, r) = circuit.linear(ev, x, None, &identity_cell(), None)?;
            (c, r, None)
        }
        SegmentKind::Linear => {
            let (c, r) = circuit.linear(ev, x, Some(state), &identity_cell(), None)?;
            (c, r, None)
        }
        SegmentKind::Poly(cell) => {
            let (c, r) = circuit.activation(ev, state, cell)?;
            (c, r, Some(cell.degree()))
        }
        SegmentKind::Output => {
            let (c, r) = circuit.output(ev, state, None)?;
            (c, r, None)
        }
    };
    let plan = SegmentPlan {
        id,
        kind: kind.clone(),
        degree,
        bootstrap_before: false,
        level_in: rep.level_in,
        level_out: rep.level_out,
        ops: rep.ops,
        encodings: rep.encodings,
        primitives: ev.take_counts(),
    };
    Ok((ct, plan))
}

/// Where a schedule's bootstraps go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Bootstrap right before a segment that does not fit in the levels left.
    Greedy,
    /// Bootstrap right before these segments; a segment that then does not fit is an error.
    Before(Vec<SegmentId>),
}

/// The plan of a whole inference.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SchedulePlan {
    /// Segments in order.
    pub segments: Vec<SegmentPlan>,
    /// Number of bootstraps.
    pub bootstraps: usize,
    /// Levels consumed by computation (sum over segments).
    pub depth: usize,
    /// Rotation steps the inference needs keys for.
    pub rotation_steps: Vec<isize>,
}

impl SchedulePlan {
    /// Profile operations summed over all segments (bootstraps included as `bootstrap` at
    /// the level they start at), sorted by name then level.
    pub fn total_ops(&self) -> Vec<ProfileOp> {
        let mut ops = Vec::new();
        for s in &self.segments {
            if s.bootstrap_before {
                push_op(&mut ops, "bootstrap".into(), s.primitives_bootstrap_level());
            }
            for o in &s.ops {
                for _ in 0..o.count {
                    push_op(&mut ops, o.op.clone(), o.level);
                }
            }
        }
        ops.sort();
        ops
    }
}

impl SegmentPlan {
    fn primitives_bootstrap_level(&self) -> usize {
        self.primitives
            .iter()
            .find(|(op, _, _)| *op == SimOp::Bootstrap)
            .map_or(0, |(_, level, _)| level)
    }
}

/// Tanh cells (Chebyshev interpolants) of the given degrees on `interval`.
pub fn tanh_cells(degrees: &[usize], interval: (f64, f64)) -> Result<Vec<Chebyshev>, EvalError> {
    degrees
        .iter()
        .map(|&d| Chebyshev::interpolate(f64::tanh, d, interval))
        .collect()
}

/// Runs a whole inference (one cell per step) over the simulator, bootstrapping as
/// `placement` says. Fresh inputs are encrypted at the hidden state's level.
pub fn plan_schedule(
    cfg: &PlanConfig,
    cells: &[Chebyshev],
    placement: &Placement,
) -> Result<SchedulePlan, EvalError> {
    if cells.is_empty() {
        return Err(EvalError::InvalidInput(
            "a schedule needs at least one cell".into(),
        ));
    }
    let circuit = cfg.circuit()?;
    let ev = SimEvaluator::counting_only(cfg.params.clone());
    let top = ev.top_level();
    let mut kinds = Vec::with_capacity(2 * cells.len() + 1);
    for (t, cell) in cells.iter().enumerate() {
        kinds.push((
            SegmentId::linear(t),
            if t == 0 {
                SegmentKind::FirstLinear
            } else {
                SegmentKind::Linear
            },
            1,
        ));
        kinds.push((
            SegmentId::activation(t),
            SegmentKind::Poly(cell.clone()),
            cell.depth(InputMap::Folded),
        ));
    }
    kinds.push((SegmentId::output(cells.len()), SegmentKind::Output, 1));
    let mut state = ev.encrypt(&[], top, ev.default_scale())?;
    let mut segments = Vec::with_capacity(kinds.len());
    let mut bootstraps = 0;
    for (id, kind, depth) in kinds {
        let boot = match placement {
            Placement::Greedy => state.level < depth,
            Placement::Before(list) => list.contains(&id),
        };
        if depth > top {
            return Err(EvalError::OutOfLevels {
                op: "segment (even after a bootstrap)",
                level: top,
                needed: depth,
            });
        }
        ev.take_counts();
        if boot {
            state = ev.bootstrap(&state);
            bootstraps += 1;
        }
        let boot_counts = ev.take_counts();
        let x = ev.encrypt(&[], state.level, ev.default_scale())?;
        let (next, mut plan) = run_segment(&circuit, &ev, &kind, id, &x, &state)?;
        plan.bootstrap_before = boot;
        plan.primitives.merge(&boot_counts);
        segments.push(plan);
        state = next;
    }
    let depth = segments.iter().map(|s| s.level_in - s.level_out).sum();
    Ok(SchedulePlan {
        segments,
        bootstraps,
        depth,
        rotation_steps: circuit.rotation_steps(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ckks::poly::poly_depth;

    #[test]
    fn segment_levels_and_ops_at_fgb_like() {
        let cfg = PlanConfig::fgb_like();
        for (d, depth) in [(3, 2), (7, 3), (17, 5)] {
            let cell = tanh_cells(&[d], (-8.0, 8.0)).unwrap().remove(0);
            let p = plan_segment(&cfg, &SegmentKind::Poly(cell), 9).unwrap();
            assert_eq!((p.level_in, p.level_out), (9, 9 - depth));
            assert_eq!(p.ops[0].op, format!("poly_deg{d}"));
            assert!(p.primitives.total(SimOp::MulRelin) > 0);
        }
        let lin = plan_segment(&cfg, &SegmentKind::Linear, 4).unwrap();
        assert_eq!((lin.level_in, lin.level_out), (4, 3));
        let names: Vec<_> = lin
            .ops
            .iter()
            .map(|o| (o.op.as_str(), o.level, o.count))
            .collect();
        assert_eq!(names, [("matvec_32", 4, 2), ("add", 3, 2)]);
        // Every encoding the simulator saw is reported, at its level.
        let enc: Vec<_> = lin
            .encodings
            .iter()
            .map(|o| (o.op.as_str(), o.level, o.count))
            .collect();
        assert_eq!(enc, [("encode", 4, 64), ("encode", 3, 1)]);
        for (op, level, n) in lin.primitives.iter() {
            if op == SimOp::Encode {
                assert!(
                    lin.encodings
                        .iter()
                        .any(|o| o.level == level && o.count == n)
                );
            }
        }
        assert_eq!(lin.primitives.get(SimOp::HoistedRotate, 4), 14);
        assert_eq!(lin.primitives.get(SimOp::Rotate, 4), 6);
        assert_eq!(lin.primitives.get(SimOp::MulPlain, 4), 64);
        let first = plan_segment(&cfg, &SegmentKind::FirstLinear, 9).unwrap();
        assert_eq!(first.primitives.total(SimOp::MulPlain), 32);
        assert!(plan_segment(&cfg, &SegmentKind::Linear, 0).is_err());
        let cell = tanh_cells(&[17], (-8.0, 8.0)).unwrap().remove(0);
        assert!(matches!(
            plan_segment(&cfg, &SegmentKind::Poly(cell), 4),
            Err(EvalError::OutOfLevels { needed: 5, .. })
        ));
    }

    #[test]
    fn greedy_schedule_plan() {
        let cfg = PlanConfig::fgb_like();
        let degrees = [17usize; 28];
        let cells = tanh_cells(&degrees, (-8.0, 8.0)).unwrap();
        let plan = plan_schedule(&cfg, &cells, &Placement::Greedy).unwrap();
        assert_eq!(plan.segments.len(), 57);
        assert_eq!(plan.depth, 28 * (1 + poly_depth(17)) + 1);
        // Levels chain: each segment starts where the previous ended or at the top after a
        // bootstrap.
        let mut level = 9;
        for s in &plan.segments {
            if s.bootstrap_before {
                level = 9;
            }
            assert_eq!(s.level_in, level);
            level = s.level_out;
        }
        // 9 levels hold one degree-17 step plus the next linear part: 6 + 1, then a bootstrap
        // before each polynomial from step 1 on.
        assert_eq!(plan.bootstraps, 27);
        let total = plan.total_ops();
        let count =
            |op: &str| -> usize { total.iter().filter(|o| o.op == op).map(|o| o.count).sum() };
        assert_eq!(count("poly_deg17"), 28);
        assert_eq!(count("matvec_32"), 2 * 27 + 1 + 1);
        assert_eq!(count("bootstrap"), 27);
        assert_eq!(plan.rotation_steps.len(), 10);
    }

    #[test]
    fn explicit_placement_is_checked() {
        let cfg = PlanConfig::fgb_like();
        let cells = tanh_cells(&[3, 3, 3, 3], (-8.0, 8.0)).unwrap();
        // 4 steps of 1 + 2 levels and the output: 13 levels, so one bootstrap is needed.
        assert!(plan_schedule(&cfg, &cells, &Placement::Before(vec![])).is_err());
        let plan =
            plan_schedule(&cfg, &cells, &Placement::Before(vec![SegmentId::linear(3)])).unwrap();
        assert_eq!(plan.bootstraps, 1);
        assert_eq!(plan.segments.last().unwrap().level_out, 9 - 4);
        let greedy = plan_schedule(&cfg, &cells, &Placement::Greedy).unwrap();
        assert_eq!(greedy.bootstraps, 1);
    }

    #[test]
    fn the_circuit_computes_the_rnn() {
        // Small layout, real values: compare with a plaintext forward pass of the same cells.
        let params = SimParams::chain(8 * 4, 9, 45, 58).unwrap();
        let layout = Layout::new(params.slots, 8).unwrap();
        let mut s = 11u64;
        let mut rnd = |r: usize, c: usize| {
            Array2::from_shape_fn((r, c), |_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 0.8
            })
        };
        let w = RnnMatrices {
            wx: rnd(6, 8),
            wh: rnd(8, 8),
            b: rnd(1, 8).into_raw_vec_and_offset().0,
            wd: rnd(8, 3),
            bd: rnd(1, 3).into_raw_vec_and_offset().0,
        };
        let xs: Vec<Array2<f64>> = (0..3).map(|_| rnd(4, 6)).collect();
        let circuit = RnnCircuit::new(layout, &w, None).unwrap();
        let ev = SimEvaluator::new(params).with_rotation_keys(circuit.rotation_steps());
        let cells = tanh_cells(&[3, 7, 17], (-4.0, 4.0)).unwrap();
        let sc = ev.default_scale();
        let mut h: Option<crate::ckks::sim::SimCiphertext> = None;
        let mut hp = Array2::<f64>::zeros((4, 8));
        for (t, cell) in cells.iter().enumerate() {
            let level = h.as_ref().map_or(9, |h| h.level);
            let level = if level < 1 + cell.depth(InputMap::Folded) {
                h = h.map(|c| ev.bootstrap(&c));
                9
            } else {
                level
            };
            let x = ev
                .encrypt(&layout.pack(xs[t].view()).unwrap(), level, sc)
                .unwrap();
            let (pre, _) = circuit.linear(&ev, &x, h.as_ref(), cell, None).unwrap();
            let (next, _) = circuit.activation(&ev, &pre, cell).unwrap();
            h = Some(next);
            let z = xs[t].dot(&w.wx) + hp.dot(&w.wh) + ndarray::Array1::from(w.b.clone());
            hp = z.mapv(|v| cell.eval(v));
        }
        let (logits, rep) = circuit.output(&ev, h.as_ref().unwrap(), None).unwrap();
        assert_eq!(rep.level_out + 1, rep.level_in);
        let want = hp.dot(&w.wd) + ndarray::Array1::from(w.bd.clone());
        let got = layout.unpack(ev.decrypt(&logits).unwrap(), 4, 3);
        let err = (&got - &want).iter().fold(0.0f64, |m, e| m.max(e.abs()));
        assert!(err < 1e-6, "max error {err}");
    }
}
