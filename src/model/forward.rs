//! The forward pass over whole batches (ndarray), interpreting the cell's
//! [`crate::recurrence::StepProgram`]: the trainer's forward pass, the exact reference the
//! oracle is checked against, and — with an activation hook — the f64 reference of encrypted
//! runs.

use ndarray::{Array1, Array2, ArrayView2, ArrayView3, Axis, CowArray, Ix2, NdFloat, Zip, s};

use super::Weights;
use crate::approx::Activation;
use crate::recurrence::{Op, Value};

/// Every H-vector one step computed, for a batch.
pub struct StepTrace<A> {
    /// The carried state entering the step (h, and c for an LSTM), each [batch, hidden].
    pub state_in: Vec<Array2<A>>,
    /// x_t W + b for every gate, [batch, gates * hidden].
    pub input: Array2<A>,
    /// h U (+ the recurrent bias) for every gate, [batch, gates * hidden].
    pub recurrent: Array2<A>,
    /// The result of each operation of the step program, [batch, hidden].
    pub ops: Vec<Array2<A>>,
}

/// A batch's forward pass: every step's values and the logits.
pub struct Trace<A> {
    pub steps: Vec<StepTrace<A>>,
    /// The carried state after the last step.
    pub state: Vec<Array2<A>>,
    pub logits: Array2<A>,
}

impl<A> Trace<A> {
    /// The hidden state after step t (t = 0..steps).
    pub fn h_after(&self, t: usize) -> &Array2<A> {
        match self.steps.get(t + 1) {
            Some(next) => &next.state_in[0],
            None => &self.state[0],
        }
    }
}

/// Weights converted to the arithmetic of a forward pass.
pub struct Params<A> {
    pub kernel: Array2<A>,
    pub recurrent_kernel: Array2<A>,
    pub bias: Array1<A>,
    pub recurrent_bias: Option<Array1<A>>,
    pub dense_kernel: Array2<A>,
    pub dense_bias: Array1<A>,
}

impl<A: NdFloat> Params<A> {
    /// The weights in `A` (exactly, for f32 and f64).
    pub fn of(w: &Weights) -> Self {
        let c = |v: f32| A::from(v).unwrap_or_else(A::zero);
        Self {
            kernel: w.kernel.mapv(c),
            recurrent_kernel: w.recurrent_kernel.mapv(c),
            bias: w.bias.mapv(c),
            recurrent_bias: w.recurrent_bias.as_ref().map(|b| b.mapv(c)),
            dense_kernel: w.dense_kernel.mapv(c),
            dense_bias: w.dense_bias.mapv(c),
        }
    }
}

/// The floats a forward pass runs in, with their exact tanh.
pub trait Real: NdFloat {
    /// tanh of every value in place.
    fn tanh_in_place(v: &mut [Self]);
}

/// f32: glibc's fdlibm `tanhf`, vectorised ([`super::tanhf`]).
impl Real for f32 {
    fn tanh_in_place(v: &mut [f32]) {
        super::tanhf::tanh_slice(v);
    }
}

/// f64: the platform's `tanh`.
impl Real for f64 {
    fn tanh_in_place(v: &mut [f64]) {
        v.iter_mut().for_each(|x| *x = x.tanh());
    }
}

/// The exact activation, elementwise.
pub fn exact<A: Real>(f: Activation, z: &mut Array2<A>) {
    match f {
        Activation::Tanh => {
            if z.as_slice_memory_order().is_none() {
                *z = z.as_standard_layout().into_owned();
            }
            if let Some(v) = z.as_slice_memory_order_mut() {
                A::tanh_in_place(v);
            }
        }
        Activation::Sigmoid => z.mapv_inplace(|v| A::one() / (A::one() + (-v).exp())),
    }
}

/// Runs the network over `images` [batch, steps, width], keeping every step's values.
/// `activate(slot, step, z)` applies slot `slot`'s activation at step `step` in place (use
/// [`exact`] for the float model).
pub fn forward_with<A: NdFloat>(
    w: &Weights,
    p: &Params<A>,
    images: ArrayView3<'_, A>,
    activate: impl FnMut(usize, usize, &mut Array2<A>),
) -> Trace<A> {
    run(w, p, images, activate, true)
}

/// The logits of [`forward_with`] without keeping the steps' values (what evaluation needs:
/// the same arithmetic, a fraction of the memory).
pub fn logits_with<A: NdFloat>(
    w: &Weights,
    p: &Params<A>,
    images: ArrayView3<'_, A>,
    activate: impl FnMut(usize, usize, &mut Array2<A>),
) -> Array2<A> {
    run(w, p, images, activate, false).logits
}

/// The forward pass; `keep` keeps every step's values in the trace (else its steps are
/// empty).
fn run<A: NdFloat>(
    w: &Weights,
    p: &Params<A>,
    images: ArrayView3<'_, A>,
    mut activate: impl FnMut(usize, usize, &mut Array2<A>),
    keep: bool,
) -> Trace<A> {
    let cell = w.cell.cell();
    let (n, steps, _) = images.dim();
    let hd = w.hidden();
    let mut state: Vec<Array2<A>> = cell.state.iter().map(|_| Array2::zeros((n, hd))).collect();
    let mut trace = Vec::with_capacity(if keep { steps } else { 0 });
    for t in 0..steps {
        let mut input = images.slice(s![.., t, ..]).dot(&p.kernel);
        let mut recurrent = state[0].dot(&p.recurrent_kernel);
        if let Some(rb) = &p.recurrent_bias {
            recurrent += rb;
        }
        let mut ops: Vec<Array2<A>> = Vec::with_capacity(cell.program.ops.len());
        for op in cell.program.ops {
            let step = Operands {
                state: &state,
                input: &input,
                recurrent: &recurrent,
                bias: &p.bias,
                ops: &ops,
                hd,
            };
            let value = match *op {
                Op::Add(a, b) => step.zip(a, b, |x, y| x + y),
                Op::Mul(a, b) => step.zip(a, b, |x, y| x * y),
                Op::OneMinus(a) => step.value(a).mapv(|v| A::one() - v),
                Op::Activate { slot, arg } => {
                    let mut z = step.value(arg).into_owned();
                    activate(slot, t, &mut z);
                    z
                }
            };
            ops.push(value);
        }
        let next: Vec<Array2<A>> = cell
            .program
            .next_state
            .iter()
            .map(|v| match v {
                Value::Op(k) => ops[*k].clone(),
                Value::State(i) => state[*i].clone(),
                _ => unreachable!("next states are results of operations (checked by a test)"),
            })
            .collect();
        let state_in = std::mem::replace(&mut state, next);
        if keep {
            // The input projection is kept with its bias folded in, as the backward pass
            // reads it.
            input += &p.bias;
            trace.push(StepTrace {
                state_in,
                input,
                recurrent,
                ops,
            });
        }
    }
    let logits = state[0].dot(&p.dense_kernel) + &p.dense_bias;
    Trace {
        steps: trace,
        state,
        logits,
    }
}

/// What one step's operations read: the state entering it, its projections and the results
/// so far.
struct Operands<'a, A> {
    state: &'a [Array2<A>],
    /// x_t W (without the bias).
    input: &'a Array2<A>,
    /// h U (+ the recurrent bias).
    recurrent: &'a Array2<A>,
    bias: &'a Array1<A>,
    ops: &'a [Array2<A>],
    hd: usize,
}

impl<'a, A: NdFloat> Operands<'a, A> {
    /// Value `v`: a view of what is stored, or the projection computed (in the order of
    /// earlier versions: (x W + h U) + b, x W + b).
    fn value(&self, v: Value) -> CowArray<'a, A, Ix2> {
        let hd = self.hd;
        let bias = |g: usize| self.bias.slice(s![g * hd..(g + 1) * hd]);
        match v {
            Value::State(i) => self.state[i].view().into(),
            Value::Op(k) => self.ops[k].view().into(),
            Value::ProjectRecurrent(g) => gate(self.recurrent, g, hd).into(),
            Value::Project(g) => Zip::from(gate(self.input, g, hd))
                .and(gate(self.recurrent, g, hd))
                .and_broadcast(bias(g))
                .map_collect(|&x, &h, &b| x + h + b)
                .into(),
            Value::ProjectInput(g) => Zip::from(gate(self.input, g, hd))
                .and_broadcast(bias(g))
                .map_collect(|&x, &b| x + b)
                .into(),
        }
    }

    /// f(a, b) elementwise, in one pass.
    fn zip(&self, a: Value, b: Value, f: impl Fn(A, A) -> A) -> Array2<A> {
        let (a, b) = (self.value(a), self.value(b));
        Zip::from(&a).and(&b).map_collect(|&x, &y| f(x, y))
    }
}

/// Gate block `g` of a [batch, gates * hidden] projection.
fn gate<A>(m: &Array2<A>, g: usize, hd: usize) -> ArrayView2<'_, A> {
    m.slice(s![.., g * hd..(g + 1) * hd])
}

/// The exact float model's forward pass in f32.
pub fn forward_trace(w: &Weights, images: ArrayView3<f32>) -> Trace<f32> {
    let cell = w.cell.cell();
    forward_with(w, &Params::of(w), images, |slot, _, z| {
        exact(cell.slots[slot].function, z)
    })
}

/// Logits of the exact model.
pub fn logits(w: &Weights, images: ArrayView3<f32>) -> Array2<f32> {
    let cell = w.cell.cell();
    logits_with(w, &Params::of(w), images, |slot, _, z| {
        exact(cell.slots[slot].function, z)
    })
}

/// Index of the largest logit of each row (non-finite logits never win; a row without a
/// finite logit predicts `usize::MAX`, which matches no label).
pub fn argmax_rows<A: NdFloat>(logits: &Array2<A>) -> Vec<usize> {
    logits
        .axis_iter(Axis(0))
        .map(|row| {
            let mut best = (usize::MAX, A::neg_infinity());
            for (i, &v) in row.iter().enumerate() {
                if v.is_finite() && (best.0 == usize::MAX || v > best.1) {
                    best = (i, v);
                }
            }
            best.0
        })
        .collect()
}

/// Mean softmax cross-entropy and accuracy of logits against labels.
pub fn loss_and_accuracy(logits: &Array2<f32>, labels: &[u8]) -> (f64, f64) {
    let mut loss = 0.0f64;
    for (row, &y) in logits.axis_iter(Axis(0)).zip(labels) {
        let max = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
        let sum: f64 = row.iter().map(|&v| (v as f64 - max).exp()).sum();
        loss += max + sum.ln() - row[y as usize] as f64;
    }
    let correct = argmax_rows(logits)
        .iter()
        .zip(labels)
        .filter(|(p, y)| **p == **y as usize)
        .count();
    let n = labels.len().max(1) as f64;
    (loss / n, correct as f64 / n)
}

/// Histograms of each slot's exact pre-activations over `images`, in batches of `batch`:
/// for slot s, `bins` equal bins of `intervals[s]` (values outside are not counted).
pub fn slot_histograms(
    w: &Weights,
    images: ArrayView3<f32>,
    intervals: &[[f64; 2]],
    bins: usize,
    batch: usize,
) -> Vec<(Vec<f64>, Vec<f64>)> {
    let cell = w.cell.cell();
    let p = Params::of(w);
    let mut counts = vec![vec![0.0; bins]; intervals.len()];
    let n = images.dim().0;
    for start in (0..n).step_by(batch.max(1)) {
        let chunk = images.slice(s![start..(start + batch).min(n), .., ..]);
        logits_with(w, &p, chunk, |slot, _, z| {
            let [lo, hi] = intervals[slot];
            for &v in z.iter() {
                let v = v as f64;
                if v >= lo && v < hi {
                    counts[slot][(((v - lo) / (hi - lo)) * bins as f64) as usize] += 1.0;
                }
            }
            exact(cell.slots[slot].function, z)
        });
    }
    intervals
        .iter()
        .zip(counts)
        .map(|(&[lo, hi], c)| {
            let edges = (0..=bins)
                .map(|i| lo + (hi - lo) * i as f64 / bins as f64)
                .collect();
            (edges, c)
        })
        .collect()
}
