//! Keras default initialisers: Glorot-uniform kernels, orthogonal recurrent kernel, zero
//! biases.

use ndarray::{Array1, Array2};
use rand::RngExt;
use rand_distr::{Distribution, StandardNormal};

use super::Weights;

/// Keras-initialised weights for `input` inputs, `hidden` units and `classes` outputs.
pub fn keras_init<R: rand::Rng>(
    input: usize,
    hidden: usize,
    classes: usize,
    rng: &mut R,
) -> Weights {
    Weights {
        cell: crate::recurrence::CellKind::SimpleRnn,
        kernel: glorot_uniform(input, hidden, rng),
        recurrent_kernel: orthogonal(hidden, rng),
        bias: Array1::zeros(hidden),
        recurrent_bias: None,
        dense_kernel: glorot_uniform(hidden, classes, rng),
        dense_bias: Array1::zeros(classes),
    }
}

/// Uniform on [-l, l] with l = sqrt(6 / (fan_in + fan_out)).
fn glorot_uniform<R: rand::Rng>(fan_in: usize, fan_out: usize, rng: &mut R) -> Array2<f32> {
    let limit = (6.0 / (fan_in + fan_out) as f64).sqrt();
    Array2::from_shape_fn((fan_in, fan_out), |_| {
        rng.random_range(-limit..limit) as f32
    })
}

/// A random orthogonal matrix: Q of the QR decomposition of a standard normal matrix, with
/// column signs fixed by the signs of R's diagonal (as Keras does).
fn orthogonal<R: rand::Rng>(n: usize, rng: &mut R) -> Array2<f32> {
    let a = Array2::<f64>::from_shape_fn((n, n), |_| StandardNormal.sample(rng));
    // Modified Gram-Schmidt on the columns; r_jj > 0 by construction, so the sign fix is
    // already applied.
    let mut q = a.clone();
    for j in 0..n {
        for k in 0..j {
            let dot: f64 = (0..n).map(|i| q[[i, k]] * q[[i, j]]).sum();
            for i in 0..n {
                q[[i, j]] -= dot * q[[i, k]];
            }
        }
        let norm: f64 = (0..n).map(|i| q[[i, j]] * q[[i, j]]).sum::<f64>().sqrt();
        for i in 0..n {
            q[[i, j]] /= norm;
        }
    }
    q.mapv(|v| v as f32)
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
}
