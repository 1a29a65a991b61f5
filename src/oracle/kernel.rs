//! The oracle's inner loop: one chunk of images through the remaining steps of a schedule,
//! interpreting the cell's [`StepProgram`] on blocks of [`LANES`] images.

use super::real::Real;
use crate::approx::Activation;
use crate::recurrence::{Cell, GateUse, Op, StepProgram, Value};

/// The activation of one (slot, step), ready to run.
#[derive(Clone, Debug)]
pub enum SlotFn<T> {
    /// The exact function.
    Exact(Activation),
    /// Chebyshev series: p(x) = sum c_k T_k(x * scale + shift).
    Poly { scale: T, shift: T, coeffs: Vec<T> },
    /// A constant plus an odd Chebyshev series (every even coefficient but the constant
    /// zero: tanh on a symmetric interval, constant 0; sigmoid, constant 1/2):
    /// p(x) = c + sum a_k T_{2k+1}(t), t = x * scale + shift, evaluated in half the
    /// operations as c + t * sum a_k V_k(2t^2 - 1), where V_0 = 1, V_1 = 2u - 1 and
    /// V_{k+1} = 2u V_k - V_{k-1} (so that T_{2k+1}(t) = t V_k(2t^2 - 1)).
    OddPoly {
        scale: T,
        shift: T,
        constant: T,
        odd: Vec<T>,
    },
}

impl<T: Real> SlotFn<T> {
    /// The slot function of a Chebyshev series on [lo, hi], using the odd form when every
    /// even coefficient but the constant is negligible (below 1e-12 of the largest; a
    /// negligible constant is dropped too).
    pub fn from_chebyshev(coeffs: &[f64], [lo, hi]: [f64; 2]) -> Self {
        let scale = T::from_f64(2.0 / (hi - lo));
        let shift = T::from_f64(-(lo + hi) / (hi - lo));
        let largest = coeffs.iter().fold(0.0f64, |m, c| m.max(c.abs()));
        let negligible = |c: f64| c.abs() <= 1e-12 * largest;
        let even_vanish = coeffs.iter().step_by(2).skip(1).all(|&c| negligible(c));
        if even_vanish && shift.to_f64() == 0.0 && coeffs.len() > 1 {
            let odd = coeffs
                .iter()
                .skip(1)
                .step_by(2)
                .map(|&c| T::from_f64(c))
                .collect();
            // fma(t, s, -0) rounds exactly as t * s (signed zeros included).
            let constant = if negligible(coeffs[0]) {
                T::ZERO * (T::ZERO - T::ONE)
            } else {
                T::from_f64(coeffs[0])
            };
            Self::OddPoly {
                scale,
                shift,
                constant,
                odd,
            }
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

/// Where a fit's argument t = (z - centre) * inv lies, for the out-of-domain counts and the
/// peaks of one slot.
#[derive(Clone, Copy, Debug)]
pub struct SlotMap<T> {
    pub centre: T,
    pub inv: T,
}

impl<T: Real> SlotMap<T> {
    /// The map of the fit interval [lo, hi] onto [-1, 1].
    pub fn new([lo, hi]: [f64; 2]) -> Self {
        let (lo, hi) = (T::from_f64(lo), T::from_f64(hi));
        let half = T::from_f64(0.5);
        Self {
            centre: (lo + hi) * half,
            inv: T::ONE / ((hi - lo) * half),
        }
    }
}

/// Everything about a split that does not depend on the schedule. Per-image arrays are laid
/// out by block: [block][unit][lane], with `blocks() * LANES >= n` (padding lanes are zero
/// inputs whose results are never read).
pub struct Prepared<T> {
    pub n: usize,
    pub steps: usize,
    pub hidden: usize,
    /// The cell whose step program the kernel runs.
    pub cell: &'static Cell,
    /// The input projection of every gate, step and image: x_t W_g + b_g, plus the recurrent
    /// bias for gates read whole, [blocks][steps][gates * hidden][LANES] (a block reads its
    /// steps in order, so its inputs stream sequentially from memory).
    pub xproj: Vec<T>,
    /// Initial value of the recurrent projection of each gate unit: the recurrent bias for
    /// gates read split, zero otherwise, [gates * hidden].
    pub rec_init: Vec<T>,
    /// Recurrent kernel, [hidden (input)][gates * hidden (output)], as [`pack_recurrent`]
    /// lays it out.
    pub wh: Vec<T>,
    /// Dense weights, [hidden][classes].
    pub wd: Vec<T>,
    pub bd: Vec<T>,
    pub labels: Vec<u8>,
    /// Each slot's fit interval map, for the out-of-domain counts and the peaks.
    pub maps: Vec<SlotMap<T>>,
    /// Exact-model hidden states of the first `dev_images` images,
    /// [dev_blocks][steps][hidden][LANES].
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

    /// Values of one image block's carried state (every state vector), [state][hidden][LANES].
    pub fn state_len(&self) -> usize {
        self.cell.state.len() * self.hidden * LANES
    }
}

/// What one chunk of blocks produced.
pub struct ChunkResult<T> {
    pub correct: usize,
    /// Predicted class of each real image of the chunk.
    pub predictions: Vec<u8>,
    /// Out-of-domain pre-activations per (step, slot), [steps][slots] (absolute steps).
    pub ood: Vec<u64>,
    /// Each real image's peak |Chebyshev argument| t = (z - centre) / half-width over the
    /// polynomial slots so far (non-finite: infinite), the steps before `from` included.
    pub peak: Vec<T>,
    /// Sum of |h - h_exact| over the images of each of the chunk's deviation-sample blocks
    /// (the blocks below [`Prepared::dev_blocks`]) after each step, [steps][those blocks]
    /// (zero before `from`): summed by the caller block by block in order, so the total does
    /// not depend on the chunking.
    pub dev: Vec<f64>,
}

/// Where a run copies the state after `step` steps: the chunk's part of a stored prefix,
/// carried states [blocks][state][hidden][LANES] and peaks [blocks][LANES].
pub struct Snapshot<'a, T> {
    pub step: usize,
    pub h: &'a mut [T],
    pub peak: &'a mut [T],
}

/// Prediction recorded for an image whose logits are all non-finite (matches no label).
pub const NO_PREDICTION: u8 = u8::MAX;

/// Runs blocks `first..last` from step `from` (with the carried states and peaks `h0` of
/// those blocks, laid out as in [`Snapshot`], or zeros when `from` is 0) to the end, copying
/// the states into `snapshots` (ascending steps, from < step < steps) on the way.
/// `fns[t * slots + s]` is slot s's function at step t.
///
/// Uses AVX-512 or AVX2 code when the CPU has it. Every lane performs the same sequence of
/// IEEE operations (fused multiply-adds included) on every path, so the results are
/// bit-identical whatever the CPU, the thread count or the chunking.
pub fn run_chunk<T: Real>(
    p: &Prepared<T>,
    fns: &[SlotFn<T>],
    from: usize,
    h0: Option<(&[T], &[T])>,
    blocks: (usize, usize),
    snapshots: &mut [Snapshot<'_, T>],
) -> ChunkResult<T> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F (which implies AVX2 and FMA), checked just above.
            return unsafe { run_chunk_avx512(p, fns, from, h0, blocks, snapshots) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports AVX2 and FMA, checked just above.
            return unsafe { run_chunk_avx2(p, fns, from, h0, blocks, snapshots) };
        }
    }
    run_chunk_body(p, fns, from, h0, blocks, snapshots)
}

/// Defines `$name`: [`run_chunk_body`] compiled with the target features `$features`.
macro_rules! simd_kernel {
    ($name:ident, $features:literal) => {
        #[doc = concat!("[`run_chunk_body`] compiled for ", $features, ".")]
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $features)]
        fn $name<T: Real>(
            p: &Prepared<T>,
            fns: &[SlotFn<T>],
            from: usize,
            h0: Option<(&[T], &[T])>,
            blocks: (usize, usize),
            snapshots: &mut [Snapshot<'_, T>],
        ) -> ChunkResult<T> {
            run_chunk_body(p, fns, from, h0, blocks, snapshots)
        }
    };
}
simd_kernel!(run_chunk_avx512, "avx512f,avx2,fma");
simd_kernel!(run_chunk_avx2, "avx2,fma");

/// The registers of one block's step: every H-vector the step program reads or writes,
/// except the gates' input halves, which are read from the input projections in place.
/// Register ids: the carried states in two banks (current and next, swapped after each
/// step), the projections of all gates (one register of gates * hidden vectors), then one
/// per operation. An operation whose result is a next state writes straight into the next
/// bank.
struct Registers<T> {
    regs: Vec<Vec<Lanes<T>>>,
    /// Index of the current state bank (0 or 1).
    bank: usize,
    states: usize,
    /// Register of each operation's result, for each bank parity.
    op_reg: [Vec<usize>; 2],
    /// Whether each gate is read whole (its product starts from the input projection) or
    /// split (from its recurrent bias, `rec_init`).
    whole: Vec<bool>,
    /// The recurrent bias of split gates' units in every lane, [gates * hidden].
    rec_init: Vec<Lanes<T>>,
    /// Per slot, the out-of-domain counts of the last step.
    counts: Vec<[u32; LANES]>,
}

impl<T: Real> Registers<T> {
    fn new(p: &Prepared<T>) -> Self {
        let cell = p.cell;
        let (states, ops) = (cell.state.len(), cell.program.ops.len());
        let first_op = 2 * states + 1;
        let op_reg = [0, 1].map(|bank: usize| {
            (0..ops)
                .map(|k| {
                    match cell
                        .program
                        .next_state
                        .iter()
                        .position(|v| *v == Value::Op(k))
                    {
                        // The next bank of a step run with current bank `bank`.
                        Some(i) => (1 - bank) * states + i,
                        None => first_op + k,
                    }
                })
                .collect()
        });
        let mut regs = vec![vec![[T::ZERO; LANES]; p.hidden]; first_op + ops];
        regs[2 * states] = vec![[T::ZERO; LANES]; cell.gate_count() * p.hidden];
        Self {
            regs,
            bank: 0,
            states,
            op_reg,
            whole: cell
                .gate_uses()
                .iter()
                .map(|u| *u == GateUse::Whole)
                .collect(),
            rec_init: p.rec_init.iter().map(|&v| [v; LANES]).collect(),
            counts: vec![[0; LANES]; cell.slots.len()],
        }
    }

    /// The register holding a value this step (not for [`Value::ProjectInput`]).
    fn of(&self, v: Value) -> usize {
        match v {
            Value::State(i) => self.bank * self.states + i,
            Value::Project(_) | Value::ProjectRecurrent(_) | Value::ProjectInput(_) => {
                2 * self.states
            }
            Value::Op(k) => self.op_reg[self.bank][k],
        }
    }

    /// The current hidden state h.
    fn h(&self) -> &[Lanes<T>] {
        &self.regs[self.bank * self.states]
    }

    /// Loads a stored block state ([state][hidden][LANES]) into the current bank.
    fn load(&mut self, src: &[T]) {
        let hd = self.regs[0].len();
        for (i, part) in src.chunks_exact(hd * LANES).enumerate() {
            let reg = &mut self.regs[self.bank * self.states + i];
            reg.as_flattened_mut().copy_from_slice(part);
        }
    }

    /// Zeroes the current bank (h_0 = 0, c_0 = 0).
    fn clear(&mut self) {
        for i in 0..self.states {
            for v in self.regs[self.bank * self.states + i].iter_mut() {
                *v = [T::ZERO; LANES];
            }
        }
    }

    /// Copies the current bank into a stored block state.
    fn store(&self, dst: &mut [T]) {
        let hd = self.regs[0].len();
        for (i, part) in dst.chunks_exact_mut(hd * LANES).enumerate() {
            part.copy_from_slice(self.regs[self.bank * self.states + i].as_flattened());
        }
    }
}

/// The kernel without dispatch (portable; what the SIMD paths compile).
#[inline(always)]
pub fn run_chunk_body<T: Real>(
    p: &Prepared<T>,
    fns: &[SlotFn<T>],
    from: usize,
    h0: Option<(&[T], &[T])>,
    (first, last): (usize, usize),
    snapshots: &mut [Snapshot<'_, T>],
) -> ChunkResult<T> {
    let hd = p.hidden;
    let slots = p.cell.slots.len();
    let state_len = p.state_len();
    let block_len = hd * LANES;
    let images = (last * LANES).min(p.n) - first * LANES;
    let mut result = ChunkResult {
        correct: 0,
        predictions: Vec::with_capacity(images),
        ood: vec![0; p.steps * slots],
        peak: Vec::with_capacity(images),
        dev: Vec::new(),
    };
    let dev_blocks = p.dev_blocks();
    let local_dev = dev_blocks.min(last).saturating_sub(first);
    result.dev = vec![0.0; p.steps * local_dev];
    let mut r = Registers::new(p);
    for b in first..last {
        let local = b - first;
        let valid = (p.n - b * LANES).min(LANES);
        let mut peak = [T::ZERO; LANES];
        match h0 {
            Some((hs, pk)) => {
                r.load(&hs[local * state_len..][..state_len]);
                peak.copy_from_slice(&pk[local * LANES..][..LANES]);
            }
            None => r.clear(),
        }
        let mut next = 0;
        for t in from..p.steps {
            let step_fns = &fns[t * slots..][..slots];
            step(p, &mut r, step_fns, t, b, &mut peak);
            for (s, c) in r.counts.iter().enumerate() {
                let n: u64 = c[..valid].iter().map(|&v| u64::from(v)).sum();
                result.ood[t * slots + s] += n;
            }
            if b < dev_blocks {
                let exact = &p.exact_states[(b * p.steps + t) * block_len..][..block_len];
                let lanes = (p.dev_images - b * LANES).min(LANES);
                result.dev[t * local_dev + local] = deviation(r.h(), exact, lanes);
            }
            while next < snapshots.len() && snapshots[next].step == t + 1 {
                let s = &mut snapshots[next];
                r.store(&mut s.h[local * state_len..][..state_len]);
                s.peak[local * LANES..][..LANES].copy_from_slice(&peak);
                next += 1;
            }
        }
        let predictions = classify(r.h(), &p.wd, &p.bd);
        for (l, &pred) in predictions[..valid].iter().enumerate() {
            result.correct += usize::from(pred == p.labels[b * LANES + l]);
        }
        result.predictions.extend_from_slice(&predictions[..valid]);
        result.peak.extend_from_slice(&peak[..valid]);
    }
    result
}

/// One step of one block: the recurrent projections, then the cell's program; leaves the
/// new carried state in the current bank and returns, per slot, how many of each lane's
/// pre-activations left the slot's fit interval.
#[inline(always)]
fn step<T: Real>(
    p: &Prepared<T>,
    r: &mut Registers<T>,
    fns: &[SlotFn<T>],
    t: usize,
    b: usize,
    peak: &mut Lanes<T>,
) {
    let hd = p.hidden;
    let width = p.cell.gates.len() * hd;
    let x = &p.xproj[(b * p.steps + t) * width * LANES..][..width * LANES];
    let x: &[Lanes<T>] = x.as_chunks().0;
    #[cfg(target_arch = "x86_64")]
    if t + 1 < p.steps {
        let next = p.xproj[(b * p.steps + t + 1) * width * LANES..].as_ptr();
        for i in (0..width * LANES).step_by(64 / std::mem::size_of::<T>()) {
            // SAFETY: prefetching has no effect on memory; the address lies in xproj.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                    next.add(i).cast::<i8>(),
                )
            };
        }
    }
    // Gates read whole start from x W + b (+ b'); split gates from their recurrent bias.
    let proj = 2 * r.states;
    let mut gates_out = std::mem::take(&mut r.regs[proj]);
    let h = &r.regs[r.bank * r.states];
    for (g, &whole) in r.whole.iter().enumerate() {
        let init = if whole { x } else { &r.rec_init };
        recurrent_product(
            &mut gates_out[g * hd..][..hd],
            h,
            &p.wh[g * hd * hd..][..hd * hd],
            &init[g * hd..][..hd],
        );
    }
    r.regs[proj] = gates_out;
    let mut counts = std::mem::take(&mut r.counts);
    let program: &StepProgram = &p.cell.program;
    for (k, op) in program.ops.iter().enumerate() {
        let out_reg = r.of(Value::Op(k));
        let mut out = std::mem::take(&mut r.regs[out_reg]);
        let read = |v: Value| -> &[Lanes<T>] { vector(r, x, v, hd) };
        match *op {
            Op::Add(a, c) => zip_into(&mut out, read(a), read(c), |x, y| x + y),
            Op::Mul(a, c) => zip_into(&mut out, read(a), read(c), |x, y| x * y),
            Op::OneMinus(a) => {
                let (o, v) = (out.as_flattened_mut(), read(a).as_flattened());
                let n = o.len().min(v.len());
                let (o, v) = (&mut o[..n], &v[..n]);
                for i in 0..n {
                    o[i] = T::ONE - v[i];
                }
            }
            Op::Activate { slot, arg } => {
                let z = read(arg);
                let m = p.maps[slot];
                counts[slot] = if matches!(fns[slot], SlotFn::Exact(_)) {
                    scan::<T, false>(z, m.centre, m.inv, peak)
                } else {
                    scan::<T, true>(z, m.centre, m.inv, peak)
                };
                activate(&mut out, z, &fns[slot]);
            }
        }
        r.regs[out_reg] = out;
    }
    r.counts = counts;
    r.bank = 1 - r.bank;
}

/// The H-vector of a value (the register that holds it this step; a gate's input half is
/// read from the step's input projections `x`).
#[inline(always)]
fn vector<'a, T: Real>(
    r: &'a Registers<T>,
    x: &'a [Lanes<T>],
    v: Value,
    hd: usize,
) -> &'a [Lanes<T>] {
    match v {
        Value::ProjectInput(g) => &x[g * hd..][..hd],
        Value::Project(g) | Value::ProjectRecurrent(g) => &r.regs[r.of(v)][g * hd..][..hd],
        _ => &r.regs[r.of(v)],
    }
}

/// out = f(a, b) elementwise, as one flat loop: written per lane array, LLVM vectorised the
/// loop over units instead, with gathers and scatters (a GRU step spent 40 % of its time in
/// its additions and products).
#[inline(always)]
fn zip_into<T: Real>(out: &mut [Lanes<T>], a: &[Lanes<T>], b: &[Lanes<T>], f: impl Fn(T, T) -> T) {
    let (out, a, b) = (out.as_flattened_mut(), a.as_flattened(), b.as_flattened());
    let n = out.len().min(a.len()).min(b.len());
    let (out, a, b) = (&mut out[..n], &a[..n], &b[..n]);
    for i in 0..n {
        out[i] = f(a[i], b[i]);
    }
}

/// The recurrent kernel, [hidden (input)][gates * hidden (output)], rearranged for
/// [`recurrent_product`]: gate by gate ([hidden * hidden] values each), the gate's outputs
/// in groups of [`PRODUCT_GROUP`] (then single outputs for the remainder), each group's
/// weights [input][output in the group]; the group starting at the gate's output j begins
/// at j * hidden within the gate.
pub fn pack_recurrent<T: Copy>(wh: &[T], hd: usize) -> Vec<T> {
    let width = wh.len() / hd.max(1);
    let full = hd / PRODUCT_GROUP * PRODUCT_GROUP;
    let mut out = Vec::with_capacity(wh.len());
    for gate in 0..width / hd.max(1) {
        let mut group = |j: usize, size: usize| {
            for k in 0..hd {
                let row = &wh[k * width + gate * hd + j..][..size];
                out.extend_from_slice(row);
            }
        };
        for j in (0..full).step_by(PRODUCT_GROUP) {
            group(j, PRODUCT_GROUP);
        }
        for j in full..hd {
            group(j, 1);
        }
    }
    out
}

/// One gate's z_j = init_j + sum_k h_k Wh[k][j], summed in ascending k by fused
/// multiply-adds: groups of [`PRODUCT_GROUP`] outputs, then single outputs for the
/// remainder (the same sum per output). `wp` is the gate's part of [`pack_recurrent`].
#[inline(always)]
fn recurrent_product<T: Real>(z: &mut [Lanes<T>], h: &[Lanes<T>], wp: &[T], init: &[Lanes<T>]) {
    let hd = h.len();
    let full = z.len() / PRODUCT_GROUP * PRODUCT_GROUP;
    let (z_groups, z_rest) = z.split_at_mut(full);
    let (w_groups, w_rest) = wp.split_at(full * hd);
    let (i_groups, i_rest) = init.split_at(full);
    for ((zg, wg), ig) in z_groups
        .chunks_exact_mut(PRODUCT_GROUP)
        .zip(w_groups.chunks_exact(PRODUCT_GROUP * hd))
        .zip(i_groups.chunks_exact(PRODUCT_GROUP))
    {
        product_group::<T, PRODUCT_GROUP>(zg, h, wg.as_chunks().0, ig);
    }
    for ((zg, wg), ig) in z_rest
        .chunks_exact_mut(1)
        .zip(w_rest.chunks_exact(hd))
        .zip(i_rest.chunks_exact(1))
    {
        product_group::<T, 1>(zg, h, wg.as_chunks().0, ig);
    }
}

/// G outputs of [`recurrent_product`]: `w` holds their weights per input, [hidden][G].
#[inline(always)]
fn product_group<T: Real, const G: usize>(
    z: &mut [Lanes<T>],
    h: &[Lanes<T>],
    w: &[[T; G]],
    init: &[Lanes<T>],
) {
    let mut acc = [[T::ZERO; LANES]; G];
    acc.copy_from_slice(init);
    for (hk, wk) in h.iter().zip(w) {
        for (a, &wg) in acc.iter_mut().zip(wk) {
            for l in 0..LANES {
                a[l] = hk[l].mul_add(wg, a[l]);
            }
        }
    }
    z.copy_from_slice(&acc);
}

/// Per lane, how many of the vector's pre-activations leave the fit interval (|t| > 1 for
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

/// Applies the slot's activation in place, unit by unit (the units' recurrences are
/// independent, so the CPU overlaps them; grouping them by hand spilled registers on AVX2).
/// Plain loops: an iterator adaptor that the compiler does not inline would be compiled
/// without the caller's SIMD features.
#[inline(always)]
fn activate<T: Real>(out: &mut [Lanes<T>], z: &[Lanes<T>], f: &SlotFn<T>) {
    match f {
        SlotFn::Exact(Activation::Tanh) => {
            for (o, v) in out.iter_mut().zip(z) {
                for l in 0..LANES {
                    o[l] = v[l].tanh();
                }
            }
        }
        SlotFn::Exact(Activation::Sigmoid) => {
            for (o, v) in out.iter_mut().zip(z) {
                for l in 0..LANES {
                    o[l] = T::ONE / (T::ONE + (T::ZERO - v[l]).exp());
                }
            }
        }
        SlotFn::Poly {
            scale,
            shift,
            coeffs,
        } => {
            for (o, v) in out.iter_mut().zip(z) {
                apply_poly(o, v, *scale, *shift, coeffs);
            }
        }
        SlotFn::OddPoly {
            scale,
            shift,
            constant,
            odd,
        } => {
            for (o, v) in out.iter_mut().zip(z) {
                apply_odd_poly(o, v, *scale, *shift, *constant, odd);
            }
        }
    }
}

/// The exact model's hidden state after every step for blocks `0..blocks` (one chunk, from
/// step 0), [blocks][steps][hidden][LANES]: the deviation reference.
pub fn exact_states<T: Real>(p: &Prepared<T>, blocks: usize) -> Vec<T> {
    let slots = p.cell.slots.len();
    let fns: Vec<SlotFn<T>> = (0..p.steps * slots)
        .map(|i| SlotFn::Exact(p.cell.slots[i % slots].function))
        .collect();
    let block_len = p.hidden * LANES;
    let mut out = vec![T::ZERO; p.steps * blocks * block_len];
    let mut r = Registers::new(p);
    let mut peak = [T::ZERO; LANES];
    for b in 0..blocks {
        r.clear();
        for t in 0..p.steps {
            step(p, &mut r, &fns[t * slots..][..slots], t, b, &mut peak);
            let dst = &mut out[(b * p.steps + t) * block_len..][..block_len];
            for (d, v) in dst.chunks_exact_mut(LANES).zip(r.h()) {
                d.copy_from_slice(v);
            }
        }
    }
    out
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

/// Classes whose logits are summed side by side (independent accumulator chains).
const CLASS_GROUP: usize = 4;

/// Dense(10) and argmax per lane.
#[inline(always)]
fn classify<T: Real>(h: &[Lanes<T>], wd: &[T], bd: &[T]) -> [u8; LANES] {
    let classes = bd.len();
    let mut best = [NO_PREDICTION; LANES];
    let mut best_value = [T::ZERO; LANES];
    // The first largest finite logit wins; non-finite logits never do.
    let mut pick = |c: usize, logit: &Lanes<T>| {
        for l in 0..LANES {
            let v = logit[l];
            if v.is_finite() && (best[l] == NO_PREDICTION || v > best_value[l]) {
                best[l] = c as u8;
                best_value[l] = v;
            }
        }
    };
    let full = classes / CLASS_GROUP * CLASS_GROUP;
    for c in (0..full).step_by(CLASS_GROUP) {
        let logits = logit_group::<T, CLASS_GROUP>(h, wd, &bd[c..c + CLASS_GROUP], c);
        for (g, logit) in logits.iter().enumerate() {
            pick(c + g, logit);
        }
    }
    for c in full..classes {
        let [logit] = logit_group::<T, 1>(h, wd, &bd[c..c + 1], c);
        pick(c, &logit);
    }
    best
}

/// The logits of classes `c..c + G`: bias + sum_k h_k Wd[k][class], in ascending k by fused
/// multiply-adds (the same sum per class whatever the grouping).
#[inline(always)]
fn logit_group<T: Real, const G: usize>(
    h: &[Lanes<T>],
    wd: &[T],
    bias: &[T],
    c: usize,
) -> [Lanes<T>; G] {
    let classes = wd.len() / h.len().max(1);
    let mut acc = [[T::ZERO; LANES]; G];
    for (a, &b) in acc.iter_mut().zip(bias) {
        *a = [b; LANES];
    }
    for (hk, row) in h.iter().zip(wd.chunks_exact(classes)) {
        let w = &row[c..c + G];
        for (a, &wg) in acc.iter_mut().zip(w) {
            for l in 0..LANES {
                a[l] = hk[l].mul_add(wg, a[l]);
            }
        }
    }
    acc
}

/// Evaluates a constant plus an odd Chebyshev series (see [`SlotFn::OddPoly`]) at the lanes
/// of `z` into `out`.
#[inline(always)]
fn apply_odd_poly<T: Real>(
    out: &mut Lanes<T>,
    z: &Lanes<T>,
    scale: T,
    shift: T,
    constant: T,
    odd: &[T],
) {
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
    // S = a_0 V_0 + b_1 V_1 - b_2 V_0 with V_1 = 2u - 1; p = c + t S (t S alone for c = 0,
    // the odd fits' rounding since they were introduced).
    for l in 0..LANES {
        let s = b1[l].mul_add(two_u[l] - T::ONE, a0 - b2[l]);
        out[l] = t[l].mul_add(s, constant);
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

/// Evaluates a Chebyshev series at the lanes of `z` into `out` (Clenshaw).
#[inline(always)]
fn apply_poly<T: Real>(out: &mut Lanes<T>, z: &Lanes<T>, scale: T, shift: T, coeffs: &[T]) {
    let c0 = coeffs.first().copied().unwrap_or(T::ZERO);
    let mut t = [T::ZERO; LANES];
    let mut two_t = [T::ZERO; LANES];
    for l in 0..LANES {
        t[l] = z[l].mul_add(scale, shift);
        two_t[l] = T::TWO * t[l];
    }
    let (b1, b2) = clenshaw(&two_t, coeffs);
    for l in 0..LANES {
        out[l] = t[l].mul_add(b1[l], c0 - b2[l]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approx::{Approximation, FitMethod};
    use crate::recurrence::CellKind;

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
            let odd = SlotFn::<f64>::from_chebyshev(&a.chebyshev, a.interval);
            assert!(
                matches!(odd, SlotFn::OddPoly { .. }),
                "tanh on a symmetric interval must use the odd form"
            );
            let [lo, hi] = a.interval;
            let general = SlotFn::Poly {
                scale: 2.0 / (hi - lo),
                shift: -(lo + hi) / (hi - lo),
                coeffs: a.chebyshev.clone(),
            };
            assert_same_function(&odd, &general, &a);
        }
        // Sigmoid is 1/2 plus an odd function: the odd form with a constant.
        for degree in [3, 7, 17] {
            let s = Approximation::fit(
                Activation::Sigmoid,
                degree,
                [-8.0, 8.0],
                &FitMethod::LeastSquares,
            )
            .unwrap();
            let odd = SlotFn::<f64>::from_chebyshev(&s.chebyshev, s.interval);
            assert!(
                matches!(odd, SlotFn::OddPoly { constant, .. } if (constant - 0.5).abs() < 1e-12),
                "sigmoid on a symmetric interval must use the odd form plus 1/2"
            );
            let general = SlotFn::Poly {
                scale: 2.0 / 16.0,
                shift: 0.0,
                coeffs: s.chebyshev.clone(),
            };
            assert_same_function(&odd, &general, &s);
        }
        // A fit on an interval that is not symmetric keeps the general form.
        let s = Approximation::fit(
            Activation::Sigmoid,
            7,
            [-8.0, 6.0],
            &FitMethod::LeastSquares,
        )
        .unwrap();
        assert!(matches!(
            SlotFn::<f32>::from_chebyshev(&s.chebyshev, s.interval),
            SlotFn::Poly { .. }
        ));
    }

    /// Both slot functions agree with each other and with the fit on [-10, 10].
    fn assert_same_function(fast: &SlotFn<f64>, slow: &SlotFn<f64>, a: &Approximation) {
        let xs: Vec<f64> = (0..=400).map(|i| -10.0 + 0.05 * i as f64).collect();
        let input = to_lanes(&xs);
        let mut f = vec![[0.0; LANES]; input.len()];
        activate(&mut f, &input, fast);
        let mut g = vec![[0.0; LANES]; input.len()];
        activate(&mut g, &input, slow);
        let (f, g) = (f.concat(), g.concat());
        for ((x, f), g) in xs.iter().zip(&f).zip(&g) {
            assert!(
                (f - g).abs() <= 1e-9 * g.abs().max(1.0),
                "degree {} at {x}: {f} vs {g}",
                a.degree
            );
            assert!((g - a.eval(*x)).abs() <= 1e-9 * g.abs().max(1.0));
        }
    }

    /// A random split of `n` images with `hidden` units (not a multiple of the product
    /// group) for `cell`.
    fn random_prepared(n: usize, hidden: usize, kind: CellKind) -> Prepared<f32> {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand::rngs::ChaCha20Rng::seed_from_u64(5);
        let cell = kind.cell();
        let (steps, classes) = (6, 10usize);
        let blocks = n.div_ceil(LANES);
        let gw = cell.gate_count() * hidden;
        let mut r = |len: usize, s: f32| -> Vec<f32> {
            (0..len).map(|_| rng.random_range(-s..s)).collect()
        };
        let dev_images = n / 2;
        Prepared {
            n,
            steps,
            hidden,
            cell,
            xproj: r(steps * blocks * gw * LANES, 6.0),
            rec_init: r(gw, 0.5),
            wh: pack_recurrent(&r(hidden * gw, 1.0), hidden),
            wd: r(hidden * classes, 1.0),
            bd: r(classes, 0.1),
            labels: (0..n).map(|i| (i % classes) as u8).collect(),
            maps: cell
                .slots
                .iter()
                .map(|_| SlotMap::new([-3.0, 3.0]))
                .collect(),
            exact_states: r(steps * dev_images.div_ceil(LANES) * hidden * LANES, 1.0),
            dev_images,
        }
    }

    #[test]
    fn dispatched_kernel_is_bit_identical_to_the_portable_one_and_resumes_exactly() {
        for kind in CellKind::ALL {
            let p = random_prepared(53, 7, kind);
            let cell = kind.cell();
            let fit = |f, d| {
                let a = Approximation::fit(f, d, [-8.0, 8.0], &FitMethod::LeastSquares).unwrap();
                SlotFn::<f32>::from_chebyshev(&a.chebyshev, a.interval)
            };
            let degrees = [17, 0, 3, 7, 17, 3];
            let fns: Vec<SlotFn<f32>> = (0..p.steps * cell.slots.len())
                .map(|i| {
                    let f = cell.slots[i % cell.slots.len()].function;
                    match degrees[(i + i / 3) % degrees.len()] {
                        0 => SlotFn::Exact(f),
                        d => fit(f, d),
                    }
                })
                .collect();
            let all = (0, p.blocks());
            let fast = run_chunk(&p, &fns, 0, None, all, &mut []);
            let portable = run_chunk_body(&p, &fns, 0, None, all, &mut []);
            assert_eq!(fast.predictions, portable.predictions, "{kind}");
            assert_eq!(fast.ood, portable.ood);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&fast.peak), bits(&portable.peak));
            assert_eq!(fast.dev, portable.dev);
            assert!(
                fast.ood.iter().sum::<u64>() > 0,
                "the test must leave the interval"
            );

            // Snapshot after 3 steps, then resume blocks 1.. from it: same answers for them.
            let len = p.blocks() * p.state_len();
            let (mut h, mut peak) = (vec![0.0; len], vec![0.0; p.blocks() * LANES]);
            let mut snaps = [Snapshot {
                step: 3,
                h: &mut h,
                peak: &mut peak,
            }];
            let again = run_chunk(&p, &fns, 0, None, all, &mut snaps);
            assert_eq!(again.predictions, fast.predictions);
            let skip = p.state_len();
            let resumed = run_chunk(
                &p,
                &fns,
                3,
                Some((&h[skip..], &peak[LANES..])),
                (1, p.blocks()),
                &mut [],
            );
            assert_eq!(resumed.predictions, fast.predictions[LANES..], "{kind}");
            assert_eq!(bits(&resumed.peak), bits(&fast.peak[LANES..]));
            let head = run_chunk(
                &p,
                &fns,
                3,
                Some((&h[..skip], &peak[..LANES])),
                (0, 1),
                &mut [],
            );
            let slots = cell.slots.len();
            for i in 3 * slots..p.steps * slots {
                assert_eq!(head.ood[i] + resumed.ood[i], fast.ood[i]);
            }
        }
    }
}
