//! The oracle's inner loop: one chunk of images through the remaining steps of a schedule.

use super::gemm::matmul;
use super::real::Real;

/// The activation of one cell, ready to run.
#[derive(Clone, Debug)]
pub enum CellFn<T> {
    /// Exact tanh.
    Exact,
    /// Chebyshev series: p(x) = sum c_k T_k(x * scale + shift).
    Poly { scale: T, shift: T, coeffs: Vec<T> },
    /// An odd Chebyshev series (every even coefficient zero, as for tanh on a symmetric
    /// interval): p(x) = sum a_k T_{2k+1}(t), t = x * scale + shift, evaluated in half the
    /// operations as t * sum a_k V_k(2t^2 - 1), where V_0 = 1, V_1 = 2u - 1 and
    /// V_{k+1} = 2u V_k - V_{k-1} (so that T_{2k+1}(t) = t V_k(2t^2 - 1)).
    OddPoly { scale: T, shift: T, odd: Vec<T> },
}

impl<T: Real> CellFn<T> {
    /// The cell function of a Chebyshev series on [lo, hi], using the odd form when every
    /// even coefficient is negligible (below 1e-12 of the largest).
    pub fn from_chebyshev(coeffs: &[f64], [lo, hi]: [f64; 2]) -> Self {
        let scale = T::from_f64(2.0 / (hi - lo));
        let shift = T::from_f64(-(lo + hi) / (hi - lo));
        let largest = coeffs.iter().fold(0.0f64, |m, c| m.max(c.abs()));
        let even_vanish = coeffs.iter().step_by(2).all(|c| c.abs() <= 1e-12 * largest);
        if even_vanish && shift.to_f64() == 0.0 && coeffs.len() > 1 {
            let odd = coeffs
                .iter()
                .skip(1)
                .step_by(2)
                .map(|&c| T::from_f64(c))
                .collect();
            Self::OddPoly { scale, shift, odd }
        } else {
            let coeffs = coeffs.iter().map(|&c| T::from_f64(c)).collect();
            Self::Poly {
                scale,
                shift,
                coeffs,
            }
        }
    }
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
    /// Each image's peak |Chebyshev argument| t = (z - centre) / half-width over the
    /// polynomial cells so far (non-finite: infinite), the steps before `from` included.
    pub peak: Vec<T>,
    /// Sum of |h - h_exact| per step over the chunk's deviation-sample images.
    pub dev: Vec<f64>,
    /// Hidden states and peaks after the requested steps, in request order.
    pub snapshots: Vec<(Vec<T>, Vec<T>)>,
}

/// Prediction recorded for an image whose logits are all non-finite (matches no label).
pub const NO_PREDICTION: u8 = u8::MAX;

/// Runs images `start..end` from step `from` (with the hidden states and peaks `h0`, or
/// zeros when `from` is 0) to the end. `snapshot_after` lists
/// step counts t (from < t < steps) after which the hidden state and the peaks are copied out.
///
/// Uses AVX2 code when the CPU has it (same arithmetic, wider vectors: results are identical).
pub fn run_chunk<T: Real>(
    p: &Prepared<T>,
    cells: &[CellFn<T>],
    from: usize,
    h0: Option<(&[T], &[T])>,
    range: (usize, usize),
    snapshot_after: &[usize],
) -> ChunkResult<T> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { run_chunk_avx2(p, cells, from, h0, range, snapshot_after) };
    }
    run_chunk_body(p, cells, from, h0, range, snapshot_after)
}

/// [`run_chunk_body`] compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn run_chunk_avx2<T: Real>(
    p: &Prepared<T>,
    cells: &[CellFn<T>],
    from: usize,
    h0: Option<(&[T], &[T])>,
    range: (usize, usize),
    snapshot_after: &[usize],
) -> ChunkResult<T> {
    run_chunk_body(p, cells, from, h0, range, snapshot_after)
}

#[inline(always)]
fn run_chunk_body<T: Real>(
    p: &Prepared<T>,
    cells: &[CellFn<T>],
    from: usize,
    h0: Option<(&[T], &[T])>,
    (start, end): (usize, usize),
    snapshot_after: &[usize],
) -> ChunkResult<T> {
    let (m, hd) = (end - start, p.hidden);
    let (mut h, mut peak): (Vec<T>, Vec<T>) = match h0 {
        Some((s, pk)) => (s.to_vec(), pk.to_vec()),
        None => (vec![T::ZERO; m * hd], vec![T::ZERO; m]),
    };
    let mut z = vec![T::ZERO; m * hd];
    let mut ood = vec![0u64; p.steps];
    let mut dev = vec![0.0f64; p.steps];
    let mut snapshots = Vec::with_capacity(snapshot_after.len());
    let [lo, hi] = p.interval;
    for t in from..p.steps {
        let base = (t * p.n + start) * hd;
        // z = h Wh, then z += x_t Wx + b (precomputed), counting what leaves the interval.
        matmul(&mut z, &h, &p.wh, (m, hd, hd), false);
        ood[t] = add_and_count_outside(&mut z, &p.xproj[base..base + m * hd], lo, hi);
        if !matches!(cells[t], CellFn::Exact) {
            raise_peaks(&mut peak, &z, hd, lo, hi);
        }
        match &cells[t] {
            CellFn::Exact => z.iter_mut().for_each(|v| *v = v.tanh()),
            CellFn::Poly {
                scale,
                shift,
                coeffs,
            } => apply_poly(&mut z, *scale, *shift, coeffs),
            CellFn::OddPoly { scale, shift, odd } => apply_odd_poly(&mut z, *scale, *shift, odd),
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
            snapshots.push((h.clone(), peak.clone()));
        }
    }
    let mut logits = Vec::with_capacity(m * p.classes);
    for _ in 0..m {
        logits.extend_from_slice(&p.bd);
    }
    matmul(&mut logits, &h, &p.wd, (m, hd, p.classes), true);
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
        peak,
        dev,
        snapshots,
    }
}

/// Raises each image's peak to the largest |t| of its row of `z`, t = (z - centre) /
/// half-width of [lo, hi] (a non-finite value makes the peak infinite). Lane-wise maxima and
/// counts, so that the loop vectorises (a float max reduction would not, without fast-math).
#[inline(always)]
fn raise_peaks<T: Real>(peak: &mut [T], z: &[T], hd: usize, lo: T, hi: T) {
    const W: usize = 8;
    let half = T::from_f64(0.5);
    let centre = (lo + hi) * half;
    let inv = T::ONE / ((hi - lo) * half);
    for (pk, row) in peak.iter_mut().zip(z.chunks_exact(hd)) {
        let mut m = [T::ZERO; W];
        let mut bad = [0u32; W];
        let blocks = row.chunks_exact(W);
        let rest = blocks.remainder();
        for block in blocks {
            for j in 0..W {
                let a = ((block[j] - centre) * inv).abs();
                bad[j] += u32::from(!(a >= T::ZERO && a <= T::MAX));
                m[j] = if a > m[j] { a } else { m[j] };
            }
        }
        for (j, &v) in rest.iter().enumerate() {
            let a = ((v - centre) * inv).abs();
            bad[j] += u32::from(!(a >= T::ZERO && a <= T::MAX));
            m[j] = if a > m[j] { a } else { m[j] };
        }
        let best = m.iter().fold(*pk, |acc, &v| if v > acc { v } else { acc });
        *pk = if bad.iter().any(|&b| b > 0) {
            T::INFINITY
        } else {
            best
        };
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

/// `z += x`; returns how many of the sums fall outside [lo, hi] (NaN counts as outside).
#[inline(always)]
fn add_and_count_outside<T: Real>(z: &mut [T], x: &[T], lo: T, hi: T) -> u64 {
    let mut outside = 0u64;
    for (zs, xs) in z.chunks_mut(LANES).zip(x.chunks(LANES)) {
        let mut count = 0u32;
        for (v, &xv) in zs.iter_mut().zip(xs) {
            *v += xv;
            count += u32::from(!(*v >= lo && *v <= hi));
        }
        outside += u64::from(count);
    }
    outside
}

/// Values per block of the vectorised loops: four AVX2 registers of f32, i.e. four
/// independent Clenshaw chains to hide the latency of each step.
const LANES: usize = 32;

/// Evaluates an odd Chebyshev series in place (see [`CellFn::OddPoly`]), vectorised like
/// [`apply_poly`].
#[inline(always)]
pub fn apply_odd_poly<T: Real>(z: &mut [T], scale: T, shift: T, odd: &[T]) {
    let a0 = odd.first().copied().unwrap_or(T::ZERO);
    for block in z.chunks_mut(LANES) {
        let len = block.len();
        let mut t = [T::ZERO; LANES];
        let mut two_u = [T::ZERO; LANES];
        let mut b1 = [T::ZERO; LANES];
        let mut b2 = [T::ZERO; LANES];
        for j in 0..len {
            t[j] = block[j] * scale + shift;
            two_u[j] = T::TWO * (T::TWO * t[j] * t[j] - T::ONE);
        }
        for &a in odd.iter().skip(1).rev() {
            for j in 0..LANES {
                let b0 = two_u[j] * b1[j] - (b2[j] - a);
                b2[j] = b1[j];
                b1[j] = b0;
            }
        }
        // S = a_0 V_0 + b_1 V_1 - b_2 V_0 with V_1 = 2u - 1.
        for j in 0..len {
            block[j] = t[j] * (a0 + b1[j] * (two_u[j] - T::ONE) - b2[j]);
        }
    }
}

/// Evaluates a Chebyshev series in place, in blocks whose inner loop the compiler
/// vectorises (Clenshaw over the coefficients, lanes over the values).
#[inline(always)]
pub fn apply_poly<T: Real>(z: &mut [T], scale: T, shift: T, coeffs: &[T]) {
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
                let b0 = T::TWO * t[j] * b1[j] - (b2[j] - c);
                b2[j] = b1[j];
                b1[j] = b0;
            }
        }
        for j in 0..len {
            block[j] = t[j] * b1[j] - b2[j] + c0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approx::{Activation, Approximation, FitMethod};

    #[test]
    fn odd_form_equals_the_general_series() {
        for degree in [3, 7, 17] {
            let a = Approximation::fit(
                Activation::Tanh,
                degree,
                [-8.0, 8.0],
                &FitMethod::LeastSquares,
            )
            .unwrap();
            let odd = CellFn::<f64>::from_chebyshev(&a.chebyshev, a.interval);
            let CellFn::OddPoly { scale, shift, odd } = odd else {
                panic!("tanh on a symmetric interval must use the odd form");
            };
            let xs: Vec<f64> = (0..=400).map(|i| -10.0 + 0.05 * i as f64).collect();
            let mut fast = xs.clone();
            apply_odd_poly(&mut fast, scale, shift, &odd);
            let mut general = xs.clone();
            apply_poly(&mut general, scale, shift, &a.chebyshev);
            for ((x, f), g) in xs.iter().zip(&fast).zip(&general) {
                assert!(
                    (f - g).abs() <= 1e-9 * g.abs().max(1.0),
                    "degree {degree} at {x}: {f} vs {g}"
                );
                assert!((g - a.eval(*x)).abs() <= 1e-9 * g.abs().max(1.0));
            }
        }
        // Sigmoid is not odd: the general form is kept.
        let s = Approximation::fit(
            Activation::Sigmoid,
            7,
            [-8.0, 8.0],
            &FitMethod::LeastSquares,
        )
        .unwrap();
        assert!(matches!(
            CellFn::<f32>::from_chebyshev(&s.chebyshev, s.interval),
            CellFn::Poly { .. }
        ));
    }
}
