//! The forward pass over whole batches (ndarray), interpreting the cell's
//! [`crate::recurrence::StepProgram`]: the trainer's forward pass, the exact reference the
//! oracle is checked against, and — with an activation hook — the f64 reference of encrypted
//! runs.

use ndarray::{Array1, Array2, ArrayView2, ArrayView3, Axis, NdFloat, s};

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

/// The exact activation, elementwise.
pub fn exact<A: NdFloat>(f: Activation, z: &mut Array2<A>) {
    match f {
        Activation::Tanh => z.mapv_inplace(|v| v.tanh()),
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
    mut activate: impl FnMut(usize, usize, &mut Array2<A>),
) -> Trace<A> {
    let cell = w.cell.cell();
    let (n, steps, _) = images.dim();
    let hd = w.hidden();
    let mut state: Vec<Array2<A>> = cell.state.iter().map(|_| Array2::zeros((n, hd))).collect();
    let mut trace = Vec::with_capacity(steps);
    for t in 0..steps {
        let mut input = images.slice(s![.., t, ..]).dot(&p.kernel);
        let mut recurrent = state[0].dot(&p.recurrent_kernel);
        if let Some(rb) = &p.recurrent_bias {
            recurrent += rb;
        }
        let mut ops: Vec<Array2<A>> = Vec::with_capacity(cell.program.ops.len());
        for op in cell.program.ops {
            let read = |v: Value, ops: &[Array2<A>]| -> Array2<A> {
                match v {
                    Value::State(i) => state[i].clone(),
                    Value::Project(g) => {
                        // (x W + h U) + b, the order of earlier versions for a SimpleRNN.
                        let mut z = gate(&input, g, hd).to_owned();
                        z += &gate(&recurrent, g, hd);
                        z += &p.bias.slice(s![g * hd..(g + 1) * hd]);
                        z
                    }
                    Value::ProjectInput(g) => {
                        let mut z = gate(&input, g, hd).to_owned();
                        z += &p.bias.slice(s![g * hd..(g + 1) * hd]);
                        z
                    }
                    Value::ProjectRecurrent(g) => gate(&recurrent, g, hd).to_owned(),
                    Value::Op(k) => ops[k].clone(),
                }
            };
            let value = match *op {
                Op::Add(a, b) => read(a, &ops) + read(b, &ops),
                Op::Mul(a, b) => read(a, &ops) * read(b, &ops),
                Op::OneMinus(a) => read(a, &ops).mapv(|v| A::one() - v),
                Op::Activate { slot, arg } => {
                    let mut z = read(arg, &ops);
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
        // The input projection is kept with its bias folded in, as the backward pass reads it.
        input += &p.bias;
        let state_in = std::mem::replace(&mut state, next);
        trace.push(StepTrace {
            state_in,
            input,
            recurrent,
            ops,
        });
    }
    let logits = state[0].dot(&p.dense_kernel) + &p.dense_bias;
    Trace {
        steps: trace,
        state,
        logits,
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
    forward_trace(w, images).logits
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
        forward_with(w, &p, chunk, |slot, _, z| {
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
