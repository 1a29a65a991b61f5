//! Backpropagation through time for the SimpleRNN + Dense model under softmax
//! cross-entropy.

use ndarray::{Array1, Array2, ArrayView3, Axis, s};

use super::RnnWeights;
use super::forward::{argmax_rows, forward_trace};

/// Batches at least this large are split into two fixed halves computed in parallel.
const SPLIT_AT: usize = 64;

/// Mean cross-entropy of a batch, the number of its images classified correctly, and the
/// gradient of the loss with respect to every weight (in the shapes of the weights).
///
/// A large batch is split into two fixed halves whose sums are added in a fixed order, so
/// the result does not depend on the number of threads.
pub fn loss_and_gradient(w: &RnnWeights, x: ArrayView3<f32>, y: &[u8]) -> (f64, usize, RnnWeights) {
    let n = y.len();
    if n < SPLIT_AT {
        return half_loss_and_gradient(w, x, y, n);
    }
    let mid = n / 2;
    let ((l1, c1, g1), (l2, c2, g2)) = rayon::join(
        || half_loss_and_gradient(w, x.slice(s![..mid, .., ..]), &y[..mid], n),
        || half_loss_and_gradient(w, x.slice(s![mid.., .., ..]), &y[mid..], n),
    );
    let grad = RnnWeights {
        wx: g1.wx + g2.wx,
        wh: g1.wh + g2.wh,
        b: g1.b + g2.b,
        wd: g1.wd + g2.wd,
        bd: g1.bd + g2.bd,
    };
    (l1 + l2, c1 + c2, grad)
}

/// The share of images `x` in the loss and gradient of a batch of `n` images.
fn half_loss_and_gradient(
    w: &RnnWeights,
    x: ArrayView3<f32>,
    y: &[u8],
    n: usize,
) -> (f64, usize, RnnWeights) {
    let steps = x.dim().1;
    let trace = forward_trace(w, x);
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
    let h_last = &trace.states[steps - 1];
    let wd = h_last.t().dot(&dlogits);
    let bd = dlogits.sum_axis(Axis(0));
    let mut dh = dlogits.dot(&w.wd.t());
    let mut wx = Array2::<f32>::zeros(w.wx.raw_dim());
    let mut wh = Array2::<f32>::zeros(w.wh.raw_dim());
    let mut b = Array1::<f32>::zeros(w.b.raw_dim());
    for t in (0..steps).rev() {
        let h = &trace.states[t];
        // dz = dh * (1 - h^2)
        let mut dz = dh;
        dz.zip_mut_with(h, |d, &hv| *d *= 1.0 - hv * hv);
        wx += &x.slice(s![.., t, ..]).t().dot(&dz);
        if t > 0 {
            wh += &trace.states[t - 1].t().dot(&dz);
        }
        b += &dz.sum_axis(Axis(0));
        dh = dz.dot(&w.wh.t());
    }
    (loss / n as f64, correct, RnnWeights { wx, wh, b, wd, bd })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::init::keras_init;
    use ndarray::Array3;
    use rand::rngs::ChaCha20Rng;
    use rand::{RngExt, SeedableRng};

    /// Finite differences (central, in f64 loss) agree with the analytic gradient.
    #[test]
    fn gradient_matches_finite_differences() {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let mut w = keras_init(5, 6, 3, &mut rng);
        w.b.mapv_inplace(|_| rng.random_range(-0.5..0.5));
        w.bd.mapv_inplace(|_| rng.random_range(-0.5..0.5));
        let x = Array3::from_shape_fn((4, 4, 5), |_| rng.random_range(0.0f32..1.0));
        let y = [0u8, 2, 1, 2];
        let (_, _, g) = loss_and_gradient(&w, x.view(), &y);
        let eps = 1e-2f32;
        let loss_at = |w: &RnnWeights| loss_and_gradient(w, x.view(), &y).0;
        let mut checked = 0;
        for name in ["wx", "wh", "b", "wd", "bd"] {
            let len = pick(&mut w.clone(), name).len();
            for i in 0..len {
                let mut plus = w.clone();
                pick(&mut plus, name)[i] += eps;
                let mut minus = w.clone();
                pick(&mut minus, name)[i] -= eps;
                let numeric = (loss_at(&plus) - loss_at(&minus)) / (2.0 * eps as f64);
                let analytic = pick(&mut g.clone(), name)[i] as f64;
                let err = (numeric - analytic).abs();
                assert!(
                    err <= 2e-3 + 2e-2 * numeric.abs(),
                    "{name}[{i}]: numeric {numeric} vs analytic {analytic}"
                );
                checked += 1;
            }
        }
        assert_eq!(checked, 5 * 6 + 36 + 6 + 18 + 3);
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
        for (a, b) in
            g.wh.iter()
                .zip(g0.wh.iter())
                .chain(g.wx.iter().zip(g0.wx.iter()))
        {
            assert!((a - b).abs() < 1e-6);
        }
    }

    fn pick<'a>(w: &'a mut RnnWeights, name: &str) -> ndarray::ArrayViewMut1<'a, f32> {
        match name {
            "wx" => w.wx.view_mut().into_shape_with_order(30).unwrap(),
            "wh" => w.wh.view_mut().into_shape_with_order(36).unwrap(),
            "b" => w.b.view_mut(),
            "wd" => w.wd.view_mut().into_shape_with_order(18).unwrap(),
            _ => w.bd.view_mut(),
        }
    }
}
