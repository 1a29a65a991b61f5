//! The oracle's inner loop: one chunk of images through the remaining steps of a schedule.

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

/// Images per block: the kernel keeps one image in each lane of a block, so that every
/// operation of a step runs on whole SIMD registers (16 f32 = one AVX-512 register or two
/// AVX2 registers) and per-image quantities (peaks, counts) need no horizontal reductions.
pub const LANES: usize = 16;

/// One value per image of a block.
type Lanes<T> = [T; LANES];

/// Output units per group of the recurrent product: independent accumulator chains per
/// lane that hide the latency of a fused multiply-add.
const PRODUCT_GROUP: usize = 4;

/// Everything about a split that does not depend on the schedule. Per-image arrays are laid
/// out by block: [block][unit][lane], with `blocks() * LANES >= n` (padding lanes are zero
/// inputs whose results are never read).
pub struct Prepared<T> {
    pub n: usize,
    pub steps: usize,
    pub hidden: usize,
    /// x_t Wx + b for every step and image, [steps][blocks][hidden][LANES].
    pub xproj: Vec<T>,
    /// Recurrent weights, [hidden (input)][hidden (output)].
    pub wh: Vec<T>,
    /// Dense weights, [hidden][classes].
    pub wd: Vec<T>,
    pub bd: Vec<T>,
    pub labels: Vec<u8>,
    /// Fit interval, for the out-of-domain count and the peaks.
    pub interval: [T; 2],
    /// Exact-tanh hidden states of the first `dev_images` images,
    /// [steps][dev_blocks][hidden][LANES].
    pub exact_states: Vec<T>,
    pub dev_images: usize,
}

impl<T> Prepared<T> {
    /// Blocks of the split (the last one padded).
    pub fn blocks(&self) -> usize {
        self.n.div_ceil(LANES)
    }

    /// Blocks holding the deviation-sample images.
    pub fn dev_blocks(&self) -> usize {
        self.dev_images.div_ceil(LANES)
    }
}

/// What one chunk of blocks produced.
pub struct ChunkResult<T> {
    pub correct: usize,
    /// Predicted class of each real image of the chunk.
    pub predictions: Vec<u8>,
    /// Out-of-domain pre-activations per step (indexed by absolute step).
    pub ood: Vec<u64>,
    /// Each real image's peak |Chebyshev argument| t = (z - centre) / half-width over the
    /// polynomial cells so far (non-finite: infinite), the steps before `from` included.
    pub peak: Vec<T>,
    /// Sum of |h - h_exact| per step over the chunk's deviation-sample images.
    pub dev: Vec<f64>,
}

/// Where a run copies the state after `step` cells: the chunk's part of a stored prefix,
/// hidden states [blocks][hidden][LANES] and peaks [blocks][LANES].
pub struct Snapshot<'a, T> {
    pub step: usize,
    pub h: &'a mut [T],
    pub peak: &'a mut [T],
}

/// Prediction recorded for an image whose logits are all non-finite (matches no label).
pub const NO_PREDICTION: u8 = u8::MAX;

/// Runs blocks `first..last` from step `from` (with the hidden states and peaks `h0` of
/// those blocks, laid out as in [`Snapshot`], or zeros when `from` is 0) to the end, copying
/// the states into `snapshots` (ascending steps, from < step < steps) on the way.
///
/// Uses AVX-512 or AVX2 code when the CPU has it. Every lane performs the same sequence of
/// IEEE operations (fused multiply-adds included) on every path, so the results are
/// bit-identical whatever the CPU, the thread count or the chunking.
pub fn run_chunk<T: Real>(
    p: &Prepared<T>,
    cells: &[CellFn<T>],
    from: usize,
    h0: Option<(&[T], &[T])>,
    blocks: (usize, usize),
    snapshots: &mut [Snapshot<'_, T>],
) -> ChunkResult<T> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F (which implies AVX2 and FMA), checked just above.
            return unsafe { run_chunk_avx512(p, cells, from, h0, blocks, snapshots) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports AVX2 and FMA, checked just above.
            return unsafe { run_chunk_avx2(p, cells, from, h0, blocks, snapshots) };
        }
    }
    run_chunk_body(p, cells, from, h0, blocks, snapshots)
}

/// Defines `$name`: [`run_chunk_body`] compiled with the target features `$features`.
macro_rules! simd_kernel {
    ($name:ident, $features:literal) => {
        #[doc = concat!("[`run_chunk_body`] compiled for ", $features, ".")]
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $features)]
        fn $name<T: Real>(
            p: &Prepared<T>,
            cells: &[CellFn<T>],
            from: usize,
            h0: Option<(&[T], &[T])>,
            blocks: (usize, usize),
            snapshots: &mut [Snapshot<'_, T>],
        ) -> ChunkResult<T> {
            run_chunk_body(p, cells, from, h0, blocks, snapshots)
        }
    };
}
simd_kernel!(run_chunk_avx512, "avx512f,avx2,fma");
simd_kernel!(run_chunk_avx2, "avx2,fma");

/// The kernel without dispatch (portable; what the SIMD paths compile).
#[inline(always)]
#[allow(clippy::needless_range_loop)] // `t` also indexes the inputs and the counts
pub fn run_chunk_body<T: Real>(
    p: &Prepared<T>,
    cells: &[CellFn<T>],
    from: usize,
    h0: Option<(&[T], &[T])>,
    (first, last): (usize, usize),
    snapshots: &mut [Snapshot<'_, T>],
) -> ChunkResult<T> {
    let hd = p.hidden;
    let block_len = hd * LANES;
    let images = (last * LANES).min(p.n) - first * LANES;
    let mut result = ChunkResult {
        correct: 0,
        predictions: Vec::with_capacity(images),
        ood: vec![0; p.steps],
        peak: Vec::with_capacity(images),
        dev: vec![0.0; p.steps],
    };
    let [lo, hi] = p.interval;
    let half = T::from_f64(0.5);
    let centre = (lo + hi) * half;
    let inv = T::ONE / ((hi - lo) * half);
    let dev_blocks = p.dev_blocks();
    let mut h = vec![[T::ZERO; LANES]; hd];
    let mut z = vec![[T::ZERO; LANES]; hd];
    for b in first..last {
        let local = b - first;
        let valid = (p.n - b * LANES).min(LANES);
        let mut peak = [T::ZERO; LANES];
        match h0 {
            Some((hs, pk)) => {
                load(&mut h, &hs[local * block_len..][..block_len]);
                peak.copy_from_slice(&pk[local * LANES..][..LANES]);
            }
            None => {
                for v in h.iter_mut() {
                    *v = [T::ZERO; LANES];
                }
            }
        }
        let mut next = 0;
        for t in from..p.steps {
            let cell = &cells[t];
            let x = &p.xproj[(t * p.blocks() + b) * block_len..][..block_len];
            recurrent_product(&mut z, &h, &p.wh, x);
            let outside = if matches!(cell, CellFn::Exact) {
                scan::<T, false>(&z, centre, inv, &mut peak)
            } else {
                scan::<T, true>(&z, centre, inv, &mut peak)
            };
            for &c in &outside[..valid] {
                result.ood[t] += u64::from(c);
            }
            activate(&mut z, cell);
            std::mem::swap(&mut h, &mut z);
            if b < dev_blocks {
                let exact = &p.exact_states[(t * dev_blocks + b) * block_len..][..block_len];
                let lanes = (p.dev_images - b * LANES).min(LANES);
                result.dev[t] += deviation(&h, exact, lanes);
            }
            while next < snapshots.len() && snapshots[next].step == t + 1 {
                let s = &mut snapshots[next];
                store(&mut s.h[local * block_len..][..block_len], &h);
                s.peak[local * LANES..][..LANES].copy_from_slice(&peak);
                next += 1;
            }
        }
        let predictions = classify(&h, &p.wd, &p.bd);
        for (l, &pred) in predictions[..valid].iter().enumerate() {
            result.correct += usize::from(pred == p.labels[b * LANES + l]);
        }
        result.predictions.extend_from_slice(&predictions[..valid]);
        result.peak.extend_from_slice(&peak[..valid]);
    }
    result
}

/// Copies a stored block [hidden][LANES] into lane arrays.
#[inline(always)]
fn load<T: Real>(h: &mut [Lanes<T>], src: &[T]) {
    for (v, s) in h.iter_mut().zip(src.chunks_exact(LANES)) {
        v.copy_from_slice(s);
    }
}

/// Copies lane arrays into a stored block [hidden][LANES].
#[inline(always)]
fn store<T: Real>(dst: &mut [T], h: &[Lanes<T>]) {
    for (d, v) in dst.chunks_exact_mut(LANES).zip(h) {
        d.copy_from_slice(v);
    }
}

/// z_j = x_j + sum_k h_k Wh[k][j], summed in ascending k by fused multiply-adds: groups of
/// [`PRODUCT_GROUP`] outputs, then one group of the remainder (the same sum per output).
#[inline(always)]
fn recurrent_product<T: Real>(z: &mut [Lanes<T>], h: &[Lanes<T>], wh: &[T], x: &[T]) {
    let hd = h.len();
    let full = hd / PRODUCT_GROUP * PRODUCT_GROUP;
    for j in (0..full).step_by(PRODUCT_GROUP) {
        product_group::<T, PRODUCT_GROUP>(&mut z[j..j + PRODUCT_GROUP], h, wh, x, j);
    }
    for j in full..hd {
        product_group::<T, 1>(&mut z[j..j + 1], h, wh, x, j);
    }
}

/// Outputs `j..j + G` of [`recurrent_product`].
#[inline(always)]
fn product_group<T: Real, const G: usize>(
    z: &mut [Lanes<T>],
    h: &[Lanes<T>],
    wh: &[T],
    x: &[T],
    j: usize,
) {
    let hd = h.len();
    let mut acc = [[T::ZERO; LANES]; G];
    for (g, a) in acc.iter_mut().enumerate() {
        a.copy_from_slice(&x[(j + g) * LANES..][..LANES]);
    }
    for (k, hk) in h.iter().enumerate() {
        let w = &wh[k * hd + j..][..G];
        for (a, &wg) in acc.iter_mut().zip(w) {
            for l in 0..LANES {
                a[l] = hk[l].mul_add(wg, a[l]);
            }
        }
    }
    z.copy_from_slice(&acc);
}

/// Per lane, how many of the block's pre-activations leave the fit interval (|t| > 1 for
/// t = (z - centre) * inv; NaN counts as outside) and, with `PEAKS`, each lane's peak raised
/// to its largest |t| (a non-finite t makes the peak infinite). Written without masks
/// beyond the count: the maximum is a select, and non-finite values are caught by a
/// running `|t| * 0`, which is 0 unless some |t| was infinite or NaN.
#[inline(always)]
fn scan<T: Real, const PEAKS: bool>(
    z: &[Lanes<T>],
    centre: T,
    inv: T,
    peak: &mut Lanes<T>,
) -> [u32; LANES] {
    let mut count = [0u32; LANES];
    let mut m = *peak;
    let mut poison = [T::ZERO; LANES];
    for v in z {
        for l in 0..LANES {
            let a = ((v[l] - centre) * inv).abs();
            // Negated so that NaN counts as outside.
            #[allow(clippy::neg_cmp_op_on_partial_ord)]
            let outside = !(a <= T::ONE);
            count[l] += u32::from(outside);
            if PEAKS {
                m[l] = if a > m[l] { a } else { m[l] };
                poison[l] = a.mul_add(T::ZERO, poison[l]);
            }
        }
    }
    if PEAKS {
        for l in 0..LANES {
            peak[l] = if poison[l] == T::ZERO {
                m[l]
            } else {
                T::INFINITY
            };
        }
    }
    count
}

/// Applies the cell's activation in place, unit by unit (the units' recurrences are
/// independent, so the CPU overlaps them; grouping them by hand spilled registers on AVX2).
/// Plain loops: an iterator adaptor that the compiler does not inline would be compiled
/// without the caller's SIMD features.
#[inline(always)]
fn activate<T: Real>(z: &mut [Lanes<T>], cell: &CellFn<T>) {
    match cell {
        CellFn::Exact => {
            for v in z.iter_mut() {
                for x in v.iter_mut() {
                    *x = x.tanh();
                }
            }
        }
        CellFn::Poly {
            scale,
            shift,
            coeffs,
        } => {
            for v in z.iter_mut() {
                apply_poly(v, *scale, *shift, coeffs);
            }
        }
        CellFn::OddPoly { scale, shift, odd } => {
            for v in z.iter_mut() {
                apply_odd_poly(v, *scale, *shift, odd);
            }
        }
    }
}

/// Sum over the block's first `lanes` images of |h - h_exact|.
#[inline(always)]
fn deviation<T: Real>(h: &[Lanes<T>], exact: &[T], lanes: usize) -> f64 {
    let mut acc = [0.0f64; LANES];
    for (v, e) in h.iter().zip(exact.chunks_exact(LANES)) {
        for l in 0..LANES {
            acc[l] += (v[l].to_f64() - e[l].to_f64()).abs();
        }
    }
    let mut sum = 0.0;
    for &a in &acc[..lanes] {
        sum += a;
    }
    sum
}

/// Dense(10) and argmax per lane.
#[inline(always)]
fn classify<T: Real>(h: &[Lanes<T>], wd: &[T], bd: &[T]) -> [u8; LANES] {
    let classes = bd.len();
    let mut best = [NO_PREDICTION; LANES];
    let mut best_value = [T::ZERO; LANES];
    for (c, &bias) in bd.iter().enumerate() {
        let mut logit = [bias; LANES];
        for (k, hk) in h.iter().enumerate() {
            let w = wd[k * classes + c];
            for l in 0..LANES {
                logit[l] = hk[l].mul_add(w, logit[l]);
            }
        }
        // The first largest finite logit wins; non-finite logits never do.
        for l in 0..LANES {
            let v = logit[l];
            if v.is_finite() && (best[l] == NO_PREDICTION || v > best_value[l]) {
                best[l] = c as u8;
                best_value[l] = v;
            }
        }
    }
    best
}

/// Evaluates an odd Chebyshev series (see [`CellFn::OddPoly`]) in place on a lane array.
#[inline(always)]
fn apply_odd_poly<T: Real>(z: &mut Lanes<T>, scale: T, shift: T, odd: &[T]) {
    let a0 = odd.first().copied().unwrap_or(T::ZERO);
    let four = T::TWO * T::TWO;
    let minus_two = T::ZERO - T::TWO;
    let mut t = [T::ZERO; LANES];
    let mut two_u = [T::ZERO; LANES];
    for l in 0..LANES {
        t[l] = z[l].mul_add(scale, shift);
        // 2u = 2 (2 t^2 - 1)
        two_u[l] = (t[l] * t[l]).mul_add(four, minus_two);
    }
    let (b1, b2) = clenshaw(&two_u, odd);
    // S = a_0 V_0 + b_1 V_1 - b_2 V_0 with V_1 = 2u - 1; p = t S.
    for l in 0..LANES {
        let s = b1[l].mul_add(two_u[l] - T::ONE, a0 - b2[l]);
        z[l] = t[l] * s;
    }
}

/// Clenshaw's recurrence b_k = y b_{k+1} - b_{k+2} + c_k from the highest coefficient down
/// to k = 1, on a lane array; returns (b_1, b_2).
#[inline(always)]
fn clenshaw<T: Real>(y: &Lanes<T>, coeffs: &[T]) -> (Lanes<T>, Lanes<T>) {
    let mut b1 = [T::ZERO; LANES];
    let mut b2 = [T::ZERO; LANES];
    for &c in coeffs.iter().skip(1).rev() {
        for l in 0..LANES {
            let b0 = y[l].mul_add(b1[l], c - b2[l]);
            b2[l] = b1[l];
            b1[l] = b0;
        }
    }
    (b1, b2)
}

/// Evaluates a Chebyshev series in place on a lane array (Clenshaw).
#[inline(always)]
fn apply_poly<T: Real>(z: &mut Lanes<T>, scale: T, shift: T, coeffs: &[T]) {
    let c0 = coeffs.first().copied().unwrap_or(T::ZERO);
    let mut t = [T::ZERO; LANES];
    let mut two_t = [T::ZERO; LANES];
    for l in 0..LANES {
        t[l] = z[l].mul_add(scale, shift);
        two_t[l] = T::TWO * t[l];
    }
    let (b1, b2) = clenshaw(&two_t, coeffs);
    for l in 0..LANES {
        z[l] = t[l].mul_add(b1[l], c0 - b2[l]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approx::{Activation, Approximation, FitMethod};

    /// Values as lane arrays (zero-padded) and back.
    fn to_lanes(xs: &[f64]) -> Vec<Lanes<f64>> {
        xs.chunks(LANES)
            .map(|c| {
                let mut v = [0.0; LANES];
                v[..c.len()].copy_from_slice(c);
                v
            })
            .collect()
    }

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
            assert!(
                matches!(odd, CellFn::OddPoly { .. }),
                "tanh on a symmetric interval must use the odd form"
            );
            let [lo, hi] = a.interval;
            let general = CellFn::Poly {
                scale: 2.0 / (hi - lo),
                shift: -(lo + hi) / (hi - lo),
                coeffs: a.chebyshev.clone(),
            };
            let xs: Vec<f64> = (0..=400).map(|i| -10.0 + 0.05 * i as f64).collect();
            let mut fast = to_lanes(&xs);
            activate(&mut fast, &odd);
            let mut slow = to_lanes(&xs);
            activate(&mut slow, &general);
            let (fast, slow) = (fast.concat(), slow.concat());
            for ((x, f), g) in xs.iter().zip(&fast).zip(&slow) {
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

    /// A random split of `n` images with `hidden` units (not a multiple of the product group).
    fn random_prepared(n: usize, hidden: usize) -> Prepared<f32> {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand::rngs::ChaCha20Rng::seed_from_u64(5);
        let (steps, classes) = (6, 10usize);
        let blocks = n.div_ceil(LANES);
        let mut r = |len: usize, s: f32| -> Vec<f32> {
            (0..len).map(|_| rng.random_range(-s..s)).collect()
        };
        let dev_images = n / 2;
        Prepared {
            n,
            steps,
            hidden,
            xproj: r(steps * blocks * hidden * LANES, 6.0),
            wh: r(hidden * hidden, 1.0),
            wd: r(hidden * classes, 1.0),
            bd: r(classes, 0.1),
            labels: (0..n).map(|i| (i % classes) as u8).collect(),
            interval: [-8.0, 8.0],
            exact_states: r(steps * dev_images.div_ceil(LANES) * hidden * LANES, 1.0),
            dev_images,
        }
    }

    #[test]
    fn dispatched_kernel_is_bit_identical_to_the_portable_one_and_resumes_exactly() {
        let p = random_prepared(53, 7);
        let fit = |d| {
            let a = Approximation::fit(Activation::Tanh, d, [-8.0, 8.0], &FitMethod::LeastSquares)
                .unwrap();
            CellFn::<f32>::from_chebyshev(&a.chebyshev, a.interval)
        };
        let cells = vec![fit(17), CellFn::Exact, fit(3), fit(7), fit(17), fit(3)];
        let all = (0, p.blocks());
        let fast = run_chunk(&p, &cells, 0, None, all, &mut []);
        let portable = run_chunk_body(&p, &cells, 0, None, all, &mut []);
        assert_eq!(fast.predictions, portable.predictions);
        assert_eq!(fast.ood, portable.ood);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&fast.peak), bits(&portable.peak));
        assert_eq!(fast.dev, portable.dev);
        assert!(
            fast.ood.iter().sum::<u64>() > 0,
            "the test must leave the interval"
        );

        // Snapshot after 3 steps, then resume blocks 1.. from it: same answers for them.
        let len = p.blocks() * p.hidden * LANES;
        let (mut h, mut peak) = (vec![0.0; len], vec![0.0; p.blocks() * LANES]);
        let mut snaps = [Snapshot {
            step: 3,
            h: &mut h,
            peak: &mut peak,
        }];
        let again = run_chunk(&p, &cells, 0, None, all, &mut snaps);
        assert_eq!(again.predictions, fast.predictions);
        let skip = p.hidden * LANES;
        let resumed = run_chunk(
            &p,
            &cells,
            3,
            Some((&h[skip..], &peak[LANES..])),
            (1, p.blocks()),
            &mut [],
        );
        assert_eq!(resumed.predictions, fast.predictions[LANES..]);
        assert_eq!(bits(&resumed.peak), bits(&fast.peak[LANES..]));
        let head = run_chunk(
            &p,
            &cells,
            3,
            Some((&h[..skip], &peak[..LANES])),
            (0, 1),
            &mut [],
        );
        for t in 3..p.steps {
            assert_eq!(head.ood[t] + resumed.ood[t], fast.ood[t]);
        }
    }
}
