//! The encrypted step of every recurrent cell, interpreted from its one definition
//! ([`crate::recurrence`]): no cell's equations are written here.
//!
//! # Packing and projections
//! As for the SimpleRNN ([`super::plan`]): unit-major blocks, 32 units x 1024 images per
//! ciphertext at N = 2^16, one ciphertext per H-vector. Each gate g has its own projection: a
//! gate read whole computes x W_g + h U_g + b_g as one two-input BSGS matvec (one level, the
//! giant steps shared by both inputs); a gate read split (the GRU's candidate) computes x W_g +
//! b_g and h U_g + b'_g apart. The baby-step rotations of x and of h are made once per step and
//! shared by every gate ([`super::linear::BabySteps`]).
//!
//! # Maps, scales, levels
//! Every activation's map onto [-1, 1] is folded into weights and coefficients
//! ([`factors`]); every sum meets at exactly equal scales because the producers of a product's
//! operands (projections and polynomials, whose output scale is free) are asked for the scale
//! that lands the product where its consumer needs it ([`step`]); the levels are the max-plus
//! walk of [`levels`], which the circuit reproduces exactly. Values may be refreshed
//! (bootstrapped) on entry (carried states) or right after they are computed
//! ([`StepRefresh`]); two independent values share one bootstrap as a packed pair
//! ([`pairing`]).

pub mod factors;
pub mod inference;
pub mod levels;
pub mod pairing;
pub mod placement;
pub mod step;

use std::sync::{Arc, Mutex};

use ndarray::{Array2, ArrayView2, s};

use super::evaluator::{EvalError, Evaluator, scales_match};
use super::linear::{EncodedLinear, Layout, Linear, Storage};
use crate::recurrence::{Cell, CellKind, GateUse};

pub use factors::StepFactors;
pub use inference::{Refreshes, plan_steps, run_inference};
pub use levels::{LevelError, StepLevels, StepRefresh, step_levels};
pub use pairing::Refreshed;
pub use step::{Refresh, RefreshPair, Refreshers, StepPlan, StepRecord, StepScales, poly_op_name};

/// The weights of a recurrent cell + Dense network in Keras layout, as `f64`.
#[derive(Clone, Debug, PartialEq)]
pub struct CellMatrices {
    /// The cell.
    pub kind: CellKind,
    /// Input kernel [input_width, G * hidden].
    pub wx: Array2<f64>,
    /// Recurrent kernel [hidden, G * hidden].
    pub wh: Array2<f64>,
    /// Input bias [G * hidden].
    pub b: Vec<f64>,
    /// Recurrent bias [G * hidden] (GRU reset_after only).
    pub rb: Option<Vec<f64>>,
    /// Output kernel [hidden, classes].
    pub wd: Array2<f64>,
    /// Output bias [classes].
    pub bd: Vec<f64>,
}

impl CellMatrices {
    /// From the crate's trained weights.
    pub fn from_weights(w: &crate::model::Weights) -> Self {
        let v = |a: &ndarray::Array1<f32>| a.iter().map(|&v| f64::from(v)).collect();
        CellMatrices {
            kind: w.cell,
            wx: w.kernel.mapv(f64::from),
            wh: w.recurrent_kernel.mapv(f64::from),
            b: v(&w.bias),
            rb: w.recurrent_bias.as_ref().map(v),
            wd: w.dense_kernel.mapv(f64::from),
            bd: v(&w.dense_bias),
        }
    }

    /// Placeholder weights (all ones) of the given shape, for planning: operation counts do
    /// not depend on weight values.
    pub fn ones(kind: CellKind, input_width: usize, hidden: usize, classes: usize) -> Self {
        let g = kind.cell().gate_count();
        CellMatrices {
            kind,
            wx: Array2::ones((input_width, g * hidden)),
            wh: Array2::ones((hidden, g * hidden)),
            b: vec![1.0; g * hidden],
            rb: kind.cell().recurrent_bias.then(|| vec![1.0; g * hidden]),
            wd: Array2::ones((hidden, classes)),
            bd: vec![1.0; classes],
        }
    }
}

/// One gate's projections.
#[derive(Clone, Debug, PartialEq)]
enum Gate {
    /// x W + h U + b (+ b'), one two-input transform.
    Whole(Linear),
    /// x W + b and h U + b', apart.
    Split { input: Linear, recurrent: Linear },
}

/// Which transform an encoding belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layer {
    /// Gate g's whole projection.
    Whole(usize),
    /// Gate g's input half.
    Input(usize),
    /// Gate g's recurrent half.
    Recurrent(usize),
    /// The output layer.
    Dense,
}

/// The encrypted network of one cell kind: its projections, the output layer and the step
/// (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct CellCircuit {
    cell: &'static Cell,
    layout: Layout,
    gates: Vec<Gate>,
    dense: Linear,
    input_width: usize,
    hidden: usize,
    classes: usize,
}

impl CellCircuit {
    /// The circuit of `w` with `layout` (blocks >= every dimension).
    pub fn new(layout: Layout, w: &CellMatrices) -> Result<Self, EvalError> {
        let cell = w.kind.cell();
        let g = cell.gate_count();
        let (input_width, hidden, classes) = (w.wx.nrows(), w.wh.nrows(), w.wd.ncols());
        let bad = |m: String| Err(EvalError::InvalidInput(format!("{} weights: {m}", w.kind)));
        if w.wx.ncols() != g * hidden
            || w.wh.ncols() != g * hidden
            || w.b.len() != g * hidden
            || w.wd.nrows() != hidden
            || w.bd.len() != classes
        {
            return bad(format!(
                "inconsistent shapes wx {:?}, wh {:?}, b {}, wd {:?}, bd {} for {g} gates",
                w.wx.dim(),
                w.wh.dim(),
                w.b.len(),
                w.wd.dim(),
                w.bd.len()
            ));
        }
        match (&w.rb, cell.recurrent_bias) {
            (Some(rb), true) if rb.len() == g * hidden => {}
            (None, false) => {}
            _ => return bad("the recurrent bias does not match the cell".into()),
        }
        let block =
            |m: &Array2<f64>, j: usize| m.slice(s![.., j * hidden..(j + 1) * hidden]).to_owned();
        let part = |v: &[f64], j: usize| v[j * hidden..(j + 1) * hidden].to_vec();
        let lin = |ms: &[ArrayView2<f64>], b: Option<&[f64]>| Linear::new(layout, ms, b, None);
        let gates = cell
            .gate_uses()
            .into_iter()
            .enumerate()
            .map(|(j, usage)| {
                let (wx, wh) = (block(&w.wx, j), block(&w.wh, j));
                let b = part(&w.b, j);
                let rb = w.rb.as_ref().map(|rb| part(rb, j));
                Ok(match usage {
                    GateUse::Whole => {
                        let bias: Vec<f64> = match &rb {
                            Some(rb) => b.iter().zip(rb).map(|(a, c)| a + c).collect(),
                            None => b,
                        };
                        Gate::Whole(lin(&[wx.view(), wh.view()], Some(&bias))?)
                    }
                    GateUse::Split => Gate::Split {
                        input: lin(&[wx.view()], Some(&b))?,
                        recurrent: lin(&[wh.view()], rb.as_deref())?,
                    },
                })
            })
            .collect::<Result<Vec<_>, EvalError>>()?;
        Ok(CellCircuit {
            cell,
            layout,
            gates,
            dense: lin(&[w.wd.view()], Some(&w.bd))?,
            input_width,
            hidden,
            classes,
        })
    }

    /// The cell.
    pub fn cell(&self) -> &'static Cell {
        self.cell
    }

    /// The packing layout.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// (input width, hidden units, classes).
    pub fn shape(&self) -> (usize, usize, usize) {
        (self.input_width, self.hidden, self.classes)
    }

    fn linears(&self) -> impl Iterator<Item = &Linear> {
        self.gates
            .iter()
            .flat_map(|g| match g {
                Gate::Whole(l) => vec![l],
                Gate::Split { input, recurrent } => vec![input, recurrent],
            })
            .chain(std::iter::once(&self.dense))
    }

    /// Rotation steps whose keys a whole inference needs, sorted.
    pub fn rotation_steps(&self) -> Vec<isize> {
        let mut s: Vec<isize> = self.linears().flat_map(Linear::rotation_steps).collect();
        s.sort_unstable();
        s.dedup();
        s
    }

    /// The transform of `layer`.
    pub(crate) fn linear(&self, layer: Layer) -> &Linear {
        match (layer, &self.gates.get(layer.gate())) {
            (Layer::Dense, _) => &self.dense,
            (Layer::Whole(_), Some(Gate::Whole(l))) => l,
            (Layer::Input(_), Some(Gate::Split { input, .. })) => input,
            (Layer::Recurrent(_), Some(Gate::Split { recurrent, .. })) => recurrent,
            // Invariant: step plans name layers from the cell's own gate uses.
            _ => unreachable!("layer {layer:?} does not exist in this circuit"),
        }
    }

    /// Name of the matvec profile operations of this layout (`32` for 32 blocks).
    pub fn blocks(&self) -> usize {
        self.layout.blocks
    }
}

impl Layer {
    fn gate(self) -> usize {
        match self {
            Layer::Whole(g) | Layer::Input(g) | Layer::Recurrent(g) => g,
            Layer::Dense => usize::MAX,
        }
    }
}

/// What an encoding depends on.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct EncodingKey {
    /// The transform.
    pub layer: Layer,
    /// Level of its inputs.
    pub level: usize,
    /// Scales of its inputs.
    pub in_scales: Vec<f64>,
    /// Scale of its output.
    pub out_scale: f64,
    /// The map (factor, shift) folded in.
    pub affine: (f64, f64),
}

impl EncodingKey {
    fn matches(&self, o: &EncodingKey) -> bool {
        self.layer == o.layer
            && self.level == o.level
            && self.affine == o.affine
            && self.in_scales.len() == o.in_scales.len()
            && self
                .in_scales
                .iter()
                .zip(&o.in_scales)
                .all(|(a, b)| scales_match(*a, *b))
            && scales_match(self.out_scale, o.out_scale)
    }
}

/// Weight encodings made once and reused across steps and inferences (what a server
/// precomputes). Plans pass none, so they count every encoding.
pub struct EncodingCache<E: Evaluator> {
    entries: Mutex<Vec<(EncodingKey, Arc<EncodedLinear<E>>)>>,
}

impl<E: Evaluator> Default for EncodingCache<E> {
    fn default() -> Self {
        Self {
            entries: Mutex::new(Vec::new()),
        }
    }
}

impl<E: Evaluator> EncodingCache<E> {
    /// Encoded transforms held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True if nothing is cached yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(EncodingKey, Arc<EncodedLinear<E>>)>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl CellCircuit {
    /// The transform `key` names, encoded as it says; from `cache` if given (made there on
    /// first use).
    pub(crate) fn encoded<E: Evaluator>(
        &self,
        ev: &E,
        cache: Option<&EncodingCache<E>>,
        key: EncodingKey,
    ) -> Result<Arc<EncodedLinear<E>>, E::Error> {
        let encode = || {
            self.linear(key.layer).encode(
                ev,
                key.level,
                &key.in_scales,
                key.out_scale,
                key.affine,
                Storage::Compact,
            )
        };
        let Some(cache) = cache else {
            return Ok(Arc::new(encode()?));
        };
        if let Some((_, e)) = cache.lock().iter().find(|(k, _)| k.matches(&key)) {
            return Ok(e.clone());
        }
        let e = Arc::new(encode()?);
        cache.lock().push((key, e.clone()));
        Ok(e)
    }
}
