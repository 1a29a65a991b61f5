//! Backpropagation through time for any cell + Dense under softmax cross-entropy, by
//! running the cell's step program backwards.

use ndarray::{Array2, ArrayView2, ArrayView3, Axis, CowArray, Ix2, s};

use super::Weights;
use super::forward::{Params, StepTrace, argmax_rows, exact, forward_with};
use crate::approx::Activation;
use crate::recurrence::{Op, Value};

/// Batches at least this large are split into two fixed halves computed in parallel.
const SPLIT_AT: usize = 64;

/// Mean cross-entropy of a batch, the number of its images classified correctly, and the
/// gradient of the loss with respect to every weight (in the shapes of the weights).
///
/// A large batch is split into two fixed halves whose sums are added in a fixed order, so
/// the result does not depend on the number of threads.
pub fn loss_and_gradient(w: &Weights, x: ArrayView3<f32>, y: &[u8]) -> (f64, usize, Weights) {
    let n = y.len();
    if n < SPLIT_AT {
        return half_loss_and_gradient(w, x, y, n);
    }
    let mid = n / 2;
    let ((l1, c1, g1), (l2, c2, g2)) = rayon::join(
        || half_loss_and_gradient(w, x.slice(s![..mid, .., ..]), &y[..mid], n),
        || half_loss_and_gradient(w, x.slice(s![mid.., .., ..]), &y[mid..], n),
    );
    let grad = Weights {
        cell: g1.cell,
        kernel: g1.kernel + g2.kernel,
        recurrent_kernel: g1.recurrent_kernel + g2.recurrent_kernel,
        bias: g1.bias + g2.bias,
        recurrent_bias: g1.recurrent_bias.zip(g2.recurrent_bias).map(|(a, b)| a + b),
        dense_kernel: g1.dense_kernel + g2.dense_kernel,
        dense_bias: g1.dense_bias + g2.dense_bias,
    };
    (l1 + l2, c1 + c2, grad)
}

/// The share of images `x` in the loss and gradient of a batch of `n` images: the forward
/// pass, then the step program run backwards (reverse-mode differentiation of each
/// operation), step by step.
fn half_loss_and_gradient(
    w: &Weights,
    x: ArrayView3<f32>,
    y: &[u8],
    n: usize,
) -> (f64, usize, Weights) {
    backward(w, x, y, n, |_, _, _| {}, |_, _, _| {})
}

/// [`loss_and_gradient`] of one batch (not split) that also shows every activation's
/// argument, `on_input(slot, step, z)` before it is applied, and the gradient of the batch's
/// mean loss with respect to its result, `on_output_gradient(slot, step, d)` ([batch,
/// hidden]; row i is 1/batch of image i's own gradient).
pub fn observed_loss_and_gradient(
    w: &Weights,
    x: ArrayView3<f32>,
    y: &[u8],
    on_input: impl FnMut(usize, usize, &Array2<f32>),
    on_output_gradient: impl FnMut(usize, usize, &Array2<f32>),
) -> (f64, usize, Weights) {
    backward(w, x, y, y.len(), on_input, on_output_gradient)
}

/// The share of images `x` in the loss and gradient of a batch of `n` images, observed as
/// [`observed_loss_and_gradient`] says.
fn backward(
    w: &Weights,
    x: ArrayView3<f32>,
    y: &[u8],
    n: usize,
    mut on_input: impl FnMut(usize, usize, &Array2<f32>),
    mut on_output_gradient: impl FnMut(usize, usize, &Array2<f32>),
) -> (f64, usize, Weights) {
    let cell = w.cell.cell();
    let steps = x.dim().1;
    let hd = w.hidden();
    let p = Params::<f32>::of(w);
    let trace = forward_with(w, &p, x, |slot, t, z| {
        on_input(slot, t, z);
        exact(cell.slots[slot].function, z)
    });
    let correct = argmax_rows(&trace.logits)
        .iter()
        .zip(y)
        .filter(|(p, l)| **p == **l as usize)
        .count();
    // Softmax cross-entropy: d loss / d logits = (softmax - onehot) / n.
    let mut dlogits = trace.logits.clone();
    let mut loss = 0.0f64;
    for (mut row, &label) in dlogits.axis_iter_mut(Axis(0)).zip(y) {
        let max = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        row.mapv_inplace(|v| (v - max).exp());
        let sum: f32 = row.sum();
        loss -= ((row[label as usize] / sum) as f64).ln();
        row.mapv_inplace(|v| v / sum / n as f32);
        row[label as usize] -= 1.0 / n as f32;
    }
    let h_last = &trace.state[0];
    let dense_kernel = h_last.t().dot(&dlogits);
    let dense_bias = dlogits.sum_axis(Axis(0));
    let mut g = w.mapv(|_| 0.0);
    g.dense_kernel = dense_kernel;
    g.dense_bias = dense_bias;
    let batch = x.dim().0;
    let zeros = || Array2::<f32>::zeros((batch, hd));
    let mut dstate: Vec<Array2<f32>> = cell.state.iter().map(|_| zeros()).collect();
    dstate[0] = dlogits.dot(&w.dense_kernel.t());
    let program = &cell.program;
    for t in (0..steps).rev() {
        let st = &trace.steps[t];
        let mut dops: Vec<Option<Array2<f32>>> = vec![None; program.ops.len()];
        let mut dprev: Vec<Array2<f32>> = cell.state.iter().map(|_| zeros()).collect();
        let width = cell.gate_count() * hd;
        let mut dinput = Array2::<f32>::zeros((batch, width));
        let mut drec = Array2::<f32>::zeros((batch, width));
        let mut grads = Grads {
            ops: &mut dops,
            prev: &mut dprev,
            input: &mut dinput,
            recurrent: &mut drec,
            hd,
        };
        for (v, d) in program.next_state.iter().zip(dstate) {
            grads.add(*v, d.into());
        }
        for (k, op) in program.ops.iter().enumerate().rev() {
            let Some(d) = grads.ops[k].take() else {
                continue;
            };
            match *op {
                Op::Add(a, b) => {
                    grads.add(a, d.view().into());
                    grads.add(b, d.into());
                }
                Op::Mul(a, b) => {
                    grads.add(a, (&d * &value(st, b, hd)).into());
                    grads.add(b, (d * &value(st, a, hd)).into());
                }
                Op::OneMinus(a) => grads.add(a, (-d).into()),
                Op::Activate { slot, arg } => {
                    on_output_gradient(slot, t, &d);
                    let out = &st.ops[k];
                    let mut d = d;
                    match cell.slots[slot].function {
                        Activation::Tanh => d.zip_mut_with(out, |d, &y| *d *= 1.0 - y * y),
                        Activation::Sigmoid => d.zip_mut_with(out, |d, &y| *d *= y * (1.0 - y)),
                    }
                    grads.add(arg, d.into());
                }
            }
        }
        g.kernel += &x.slice(s![.., t, ..]).t().dot(&dinput);
        g.bias += &dinput.sum_axis(Axis(0));
        g.recurrent_kernel += &st.state_in[0].t().dot(&drec);
        if let Some(rb) = g.recurrent_bias.as_mut() {
            *rb += &drec.sum_axis(Axis(0));
        }
        dprev[0] += &drec.dot(&w.recurrent_kernel.t());
        dstate = dprev;
    }
    (loss / n as f64, correct, g)
}

/// The value a step read (for the derivative of a product): a view of what the trace
/// stores, or the sum of the two projections.
fn value(st: &StepTrace<f32>, v: Value, hd: usize) -> CowArray<'_, f32, Ix2> {
    match v {
        Value::State(i) => st.state_in[i].view().into(),
        Value::Project(g) => (&block(&st.input, g, hd) + &block(&st.recurrent, g, hd)).into(),
        Value::ProjectInput(g) => block(&st.input, g, hd).into(),
        Value::ProjectRecurrent(g) => block(&st.recurrent, g, hd).into(),
        Value::Op(k) => st.ops[k].view().into(),
    }
}

/// Gate block `g` of a [batch, gates * hidden] projection.
fn block(m: &Array2<f32>, g: usize, hd: usize) -> ArrayView2<'_, f32> {
    m.slice(s![.., g * hd..(g + 1) * hd])
}

/// Gradients of one step's values being accumulated.
struct Grads<'a> {
    ops: &'a mut [Option<Array2<f32>>],
    prev: &'a mut [Array2<f32>],
    input: &'a mut Array2<f32>,
    recurrent: &'a mut Array2<f32>,
    hd: usize,
}

impl Grads<'_> {
    /// Adds `d` to the gradient of value `v` (the first gradient of an operation's result is
    /// kept as it is).
    fn add(&mut self, v: Value, d: CowArray<'_, f32, Ix2>) {
        let hd = self.hd;
        let block = |m: &mut Array2<f32>, g: usize| {
            let mut b = m.slice_mut(s![.., g * hd..(g + 1) * hd]);
            b += &d;
        };
        match v {
            Value::State(i) => self.prev[i] += &d,
            Value::Project(g) => {
                block(self.input, g);
                block(self.recurrent, g);
            }
            Value::ProjectInput(g) => block(self.input, g),
            Value::ProjectRecurrent(g) => block(self.recurrent, g),
            Value::Op(k) => match &mut self.ops[k] {
                Some(acc) => *acc += &d,
                slot => *slot = Some(d.into_owned()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::init::{keras_init, keras_init_cell};
    use crate::recurrence::CellKind;
    use ndarray::Array3;
    use rand::rngs::ChaCha20Rng;
    use rand::{RngExt, SeedableRng};

    /// Finite differences (central, in f64 loss) agree with the analytic gradient of every
    /// weight of every cell (the GRU's recurrent bias included), with biases made non-zero.
    #[test]
    fn gradient_matches_finite_differences() {
        for cell in CellKind::ALL {
            let mut rng = ChaCha20Rng::seed_from_u64(7);
            let mut w = keras_init_cell(cell, 5, 4, 3, &mut rng);
            w.bias.mapv_inplace(|_| rng.random_range(-0.5..0.5));
            if let Some(b) = w.recurrent_bias.as_mut() {
                b.mapv_inplace(|_| rng.random_range(-0.5..0.5));
            }
            w.dense_bias.mapv_inplace(|_| rng.random_range(-0.5..0.5));
            let x = Array3::from_shape_fn((4, 4, 5), |_| rng.random_range(0.0f32..1.0));
            let y = [0u8, 2, 1, 2];
            let (_, _, g) = loss_and_gradient(&w, x.view(), &y);
            let eps = 1e-2f32;
            let loss_at = |w: &Weights| loss_and_gradient(w, x.view(), &y).0;
            let grads: Vec<Vec<f32>> = g.arrays_ref().iter().map(|a| a.to_vec()).collect();
            let mut checked = 0;
            for (a, analytic) in grads.iter().enumerate() {
                for (i, &analytic) in analytic.iter().enumerate() {
                    let mut plus = w.clone();
                    plus.arrays_mut()[a][i] += eps;
                    let mut minus = w.clone();
                    minus.arrays_mut()[a][i] -= eps;
                    let numeric = (loss_at(&plus) - loss_at(&minus)) / (2.0 * eps as f64);
                    let err = (numeric - analytic as f64).abs();
                    assert!(
                        err <= 2e-3 + 2e-2 * numeric.abs(),
                        "{cell} array {a} [{i}]: numeric {numeric} vs analytic {analytic}"
                    );
                    checked += 1;
                }
            }
            assert_eq!(checked, w.parameter_count(), "{cell}");
            let arrays = if cell == CellKind::Gru { 6 } else { 5 };
            assert_eq!(grads.len(), arrays, "{cell}");
        }
    }

    /// The two-halves split gives the gradient of the whole batch.
    #[test]
    fn split_batches_give_the_whole_gradient() {
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let w = keras_init(5, 6, 3, &mut rng);
        let x = Array3::from_shape_fn((70, 3, 5), |_| rng.random_range(0.0f32..1.0));
        let y: Vec<u8> = (0..70).map(|i| (i % 3) as u8).collect();
        let (l, c, g) = loss_and_gradient(&w, x.view(), &y);
        let (l0, c0, g0) = half_loss_and_gradient(&w, x.view(), &y, 70);
        assert!((l - l0).abs() < 1e-6 && c == c0);
        for (a, b) in g
            .recurrent_kernel
            .iter()
            .zip(g0.recurrent_kernel.iter())
            .chain(g.kernel.iter().zip(g0.kernel.iter()))
        {
            assert!((a - b).abs() < 1e-6);
        }
    }
}
