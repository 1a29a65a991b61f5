//! Keras default initialisers for every cell: Glorot-uniform kernels (the whole [in, G * H]
//! matrix, as Keras draws it), an orthogonal recurrent kernel on [H, G * H], zero biases
//! except the LSTM's forget gate (`unit_forget_bias`: 1), and a Glorot-uniform Dense head.
//!
//! Draw order: input kernel, recurrent kernel, Dense kernel. For a SimpleRNN the recurrent
//! kernel is square and the draws and arithmetic are those of every earlier version, so a
//! seed gives the same weights bit for bit.

use ndarray::{Array1, Array2};
use rand::RngExt;
use rand_distr::{Distribution, StandardNormal};

use super::Weights;
use crate::recurrence::CellKind;

/// Keras-initialised SimpleRNN weights for `input` inputs, `hidden` units and `classes`
/// outputs (the shortcut of [`keras_init_cell`] for [`CellKind::SimpleRnn`]).
pub fn keras_init<R: rand::Rng>(
    input: usize,
    hidden: usize,
    classes: usize,
    rng: &mut R,
) -> Weights {
    keras_init_cell(CellKind::SimpleRnn, input, hidden, classes, rng)
}

/// Keras-initialised weights of a `cell` with `input` inputs, `hidden` units and `classes`
/// outputs.
pub fn keras_init_cell<R: rand::Rng>(
    cell: CellKind,
    input: usize,
    hidden: usize,
    classes: usize,
    rng: &mut R,
) -> Weights {
    let def = cell.cell();
    let width = def.gate_count() * hidden;
    let kernel = glorot_uniform(input, width, rng);
    let recurrent_kernel = orthogonal(hidden, width, rng);
    let mut bias = Array1::zeros(width);
    if cell == CellKind::Lstm {
        // unit_forget_bias: the forget gate's block (gate order i, f, c, o) starts at 1.
        let f = def
            .gates
            .iter()
            .position(|g| *g == "f")
            .expect("the LSTM has a forget gate"); // invariant of the static cell definition
        bias.slice_mut(ndarray::s![f * hidden..(f + 1) * hidden])
            .fill(1.0);
    }
    Weights {
        cell,
        kernel,
        recurrent_kernel,
        bias,
        recurrent_bias: def.recurrent_bias.then(|| Array1::zeros(width)),
        dense_kernel: glorot_uniform(hidden, classes, rng),
        dense_bias: Array1::zeros(classes),
    }
}

/// Uniform on [-l, l] with l = sqrt(6 / (fan_in + fan_out)), drawn in row-major order.
fn glorot_uniform<R: rand::Rng>(fan_in: usize, fan_out: usize, rng: &mut R) -> Array2<f32> {
    let limit = (6.0 / (fan_in + fan_out) as f64).sqrt();
    Array2::from_shape_fn((fan_in, fan_out), |_| {
        rng.random_range(-limit..limit) as f32
    })
}

/// Keras's `Orthogonal` on a [rows, cols] matrix: a standard normal matrix of shape
/// (max, min) (drawn in row-major order), Q of its reduced QR decomposition with column
/// signs fixed by the signs of R's diagonal, transposed when rows < cols (then the rows are
/// orthonormal, else the columns).
fn orthogonal<R: rand::Rng>(rows: usize, cols: usize, rng: &mut R) -> Array2<f32> {
    let (m, k) = (rows.max(cols), rows.min(cols));
    let a = Array2::<f64>::from_shape_fn((m, k), |_| StandardNormal.sample(rng));
    // Modified Gram-Schmidt on the columns; r_jj > 0 by construction, so the sign fix is
    // already applied.
    let mut q = a;
    for j in 0..k {
        for l in 0..j {
            let dot: f64 = (0..m).map(|i| q[[i, l]] * q[[i, j]]).sum();
            for i in 0..m {
                q[[i, j]] -= dot * q[[i, l]];
            }
        }
        let norm: f64 = (0..m).map(|i| q[[i, j]] * q[[i, j]]).sum::<f64>().sqrt();
        for i in 0..m {
            q[[i, j]] /= norm;
        }
    }
    let q = if rows < cols { q.reversed_axes() } else { q };
    q.as_standard_layout().mapv(|v| v as f32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::ChaCha20Rng;

    #[test]
    fn recurrent_kernel_is_orthogonal_and_seeded() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let w = keras_init(28, 32, 10, &mut rng);
        let qtq = w.recurrent_kernel.t().dot(&w.recurrent_kernel);
        for i in 0..32 {
            for j in 0..32 {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((qtq[[i, j]] - want).abs() < 1e-5);
            }
        }
        let limit = (6.0f32 / 60.0).sqrt();
        assert!(w.kernel.iter().all(|v| v.abs() <= limit));
        let again = keras_init(28, 32, 10, &mut ChaCha20Rng::seed_from_u64(1));
        assert_eq!(w, again);
    }

    /// The SimpleRNN's initial weights are those of the version that trained the embedded
    /// model (a fingerprint of seed 42's draws, recorded before the gated cells came).
    #[test]
    fn simple_rnn_draws_are_unchanged() {
        let w = keras_init(28, 32, 10, &mut ChaCha20Rng::seed_from_u64(42));
        assert_eq!(w.fingerprint(), "43b35453a10e42b9");
    }

    /// Gated cells: Glorot limits over [in, G * H], rows of the recurrent kernel orthonormal,
    /// Keras's biases, valid shapes, the same weights for the same seed.
    #[test]
    fn gated_cells_follow_keras() {
        for (cell, g) in [(CellKind::Gru, 3), (CellKind::Lstm, 4)] {
            let w = keras_init_cell(cell, 28, 8, 10, &mut ChaCha20Rng::seed_from_u64(5));
            w.validate(Some((28, 8, 10))).unwrap();
            let limit = (6.0f32 / (28 + g * 8) as f32).sqrt();
            assert!(w.kernel.iter().all(|v| v.abs() <= limit));
            let max = w.kernel.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            assert!(max > 0.9 * limit, "{cell}: kernel limit {max} of {limit}");
            let qqt = w.recurrent_kernel.dot(&w.recurrent_kernel.t());
            for i in 0..8 {
                for j in 0..8 {
                    let want = if i == j { 1.0 } else { 0.0 };
                    assert!((qqt[[i, j]] - want).abs() < 1e-5, "{cell} [{i}, {j}]");
                }
            }
            let ones: Vec<usize> = (0..g * 8).filter(|&i| w.bias[i] != 0.0).collect();
            match cell {
                CellKind::Lstm => {
                    assert_eq!(ones, (8..16).collect::<Vec<_>>());
                    assert!(ones.iter().all(|&i| w.bias[i] == 1.0));
                }
                _ => assert!(ones.is_empty()),
            }
            let rb = w.recurrent_bias.as_ref();
            assert_eq!(rb.is_some(), cell == CellKind::Gru);
            assert!(rb.is_none_or(|b| b.iter().all(|v| *v == 0.0)));
            assert!(w.dense_bias.iter().all(|v| *v == 0.0));
            let again = keras_init_cell(cell, 28, 8, 10, &mut ChaCha20Rng::seed_from_u64(5));
            assert_eq!(w, again);
        }
    }
}
