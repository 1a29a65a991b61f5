//! The oracle's inner loop: one chunk of images through the remaining steps of a schedule.

use super::gemm::matmul_acc;
use super::real::Real;

/// The activation of one cell, ready to run.
#[derive(Clone, Debug)]
pub enum CellFn<T> {
    /// Exact tanh.
    Exact,
    /// Chebyshev series: p(x) = sum c_k T_k(x * scale + shift).
    Poly { scale: T, shift: T, coeffs: Vec<T> },
}

/// Everything about a split that does not depend on the schedule.
pub struct Prepared<T> {
    pub n: usize,
    pub steps: usize,
    pub hidden: usize,
    pub classes: usize,
    /// x_t Wx + b for every step and image, [steps][n][hidden].
    pub xproj: Vec<T>,
    pub wh: Vec<T>,
    pub wd: Vec<T>,
    pub bd: Vec<T>,
    pub labels: Vec<u8>,
    /// Fit interval, for the out-of-domain count.
    pub interval: [T; 2],
    /// Exact-tanh hidden states of the first `dev_images` images, [steps][dev_images][hidden].
    pub exact_states: Vec<T>,
    pub dev_images: usize,
}

/// What one chunk produced.
pub struct ChunkResult<T> {
    pub correct: usize,
    pub predictions: Vec<u8>,
    /// Out-of-domain pre-activations per step (indexed by absolute step).
    pub ood: Vec<u64>,
    /// Sum of |h - h_exact| per step over the chunk's deviation-sample images.
    pub dev: Vec<f64>,
    /// Hidden states after the requested steps, in request order.
    pub snapshots: Vec<Vec<T>>,
}

/// Prediction recorded for an image whose logits are all non-finite (matches no label).
pub const NO_PREDICTION: u8 = u8::MAX;

/// Runs images `start..end` from step `from` (with hidden state `h0`, or zeros when `from`
/// is 0) to the end. `snapshot_after` lists step counts t (from < t < steps) after which the
/// hidden state is copied out.
pub fn run_chunk<T: Real>(
    p: &Prepared<T>,
    cells: &[CellFn<T>],
    from: usize,
    h0: Option<&[T]>,
    (start, end): (usize, usize),
    snapshot_after: &[usize],
) -> ChunkResult<T> {
    let (m, hd) = (end - start, p.hidden);
    let mut h: Vec<T> = match h0 {
        Some(s) => s.to_vec(),
        None => vec![T::ZERO; m * hd],
    };
    let mut z = vec![T::ZERO; m * hd];
    let mut ood = vec![0u64; p.steps];
    let mut dev = vec![0.0f64; p.steps];
    let mut snapshots = Vec::with_capacity(snapshot_after.len());
    let [lo, hi] = p.interval;
    for t in from..p.steps {
        let base = (t * p.n + start) * hd;
        z.copy_from_slice(&p.xproj[base..base + m * hd]);
        matmul_acc(&mut z, &h, &p.wh, m, hd, hd);
        ood[t] = z.iter().filter(|&&v| !(v >= lo && v <= hi)).count() as u64;
        match &cells[t] {
            CellFn::Exact => z.iter_mut().for_each(|v| *v = v.tanh()),
            CellFn::Poly {
                scale,
                shift,
                coeffs,
            } => apply_poly(&mut z, *scale, *shift, coeffs),
        }
        std::mem::swap(&mut h, &mut z);
        if start < p.dev_images {
            let k = (p.dev_images.min(end) - start) * hd;
            let exact = &p.exact_states[(t * p.dev_images + start) * hd..][..k];
            dev[t] = h[..k]
                .iter()
                .zip(exact)
                .map(|(a, b)| (a.to_f64() - b.to_f64()).abs())
                .sum();
        }
        if snapshot_after.contains(&(t + 1)) {
            snapshots.push(h.clone());
        }
    }
    let mut logits = Vec::with_capacity(m * p.classes);
    for _ in 0..m {
        logits.extend_from_slice(&p.bd);
    }
    matmul_acc(&mut logits, &h, &p.wd, m, hd, p.classes);
    let predictions: Vec<u8> = logits.chunks_exact(p.classes).map(argmax).collect();
    let correct = predictions
        .iter()
        .zip(&p.labels[start..end])
        .filter(|(a, b)| a == b)
        .count();
    ChunkResult {
        correct,
        predictions,
        ood,
        dev,
        snapshots,
    }
}

/// Index of the largest finite logit; [`NO_PREDICTION`] if none is finite (counted wrong).
fn argmax<T: Real>(row: &[T]) -> u8 {
    let mut best: Option<(usize, T)> = None;
    for (i, &v) in row.iter().enumerate() {
        if v.is_finite() && best.is_none_or(|(_, b)| v > b) {
            best = Some((i, v));
        }
    }
    best.map_or(NO_PREDICTION, |(i, _)| i as u8)
}

/// Evaluates a Chebyshev series in place, in blocks whose inner loop the compiler
/// vectorises (Clenshaw over the coefficients, lanes over the values).
pub fn apply_poly<T: Real>(z: &mut [T], scale: T, shift: T, coeffs: &[T]) {
    const LANES: usize = 64;
    let c0 = coeffs.first().copied().unwrap_or(T::ZERO);
    for block in z.chunks_mut(LANES) {
        let len = block.len();
        let mut t = [T::ZERO; LANES];
        let mut b1 = [T::ZERO; LANES];
        let mut b2 = [T::ZERO; LANES];
        for j in 0..len {
            t[j] = block[j] * scale + shift;
        }
        for &c in coeffs.iter().skip(1).rev() {
            for j in 0..LANES {
                let b0 = T::TWO * t[j] * b1[j] - b2[j] + c;
                b2[j] = b1[j];
                b1[j] = b0;
            }
        }
        for j in 0..len {
            block[j] = t[j] * b1[j] - b2[j] + c0;
        }
    }
}
