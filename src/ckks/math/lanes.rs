//! The coefficient-wise kernels of one limb: products modulo `q` (plain, accumulated, and the
//! ciphertext tensor), and reductions of wide sums and of signed plaintext coefficients.
//!
//! Each kernel has a portable path (the scalar [`Modulus`] arithmetic) and, where the CPU has
//! AVX-512F and DQ, a path over eight 64-bit lanes: Barrett multiplication from 32-bit
//! partial products, or from the 52-bit IFMA products for moduli below 2^50 where the CPU
//! has IFMA; Shoup folding of the high word for `u128` sums. Every result is the canonical
//! residue in `[0, q)`, so the paths agree bit for bit (tested); [`set_portable`] forces the
//! portable path for A/B measurements.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

#[cfg(target_arch = "x86_64")]
use super::modular::IFMA_LIMIT;
use super::modular::Modulus;

/// The code a kernel runs on this CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelPath {
    /// Scalar code, any CPU.
    Portable,
    /// Eight 64-bit lanes (AVX-512F and DQ).
    Avx512,
    /// As [`KernelPath::Avx512`], with IFMA products for moduli below 2^50.
    Avx512Ifma,
}

impl KernelPath {
    /// Short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            KernelPath::Portable => "portable",
            KernelPath::Avx512 => "avx512",
            KernelPath::Avx512Ifma => "avx512-ifma",
        }
    }
}

static FORCE_PORTABLE: AtomicBool = AtomicBool::new(false);

/// Forces the portable path (`true`) or lets the kernels use what the CPU has (`false`, the
/// default) from the next call on, process-wide.
pub fn set_portable(portable: bool) {
    FORCE_PORTABLE.store(portable, Ordering::Relaxed);
}

/// The best path this CPU supports, whatever [`set_portable`] says.
pub fn detected() -> KernelPath {
    static DETECTED: OnceLock<KernelPath> = OnceLock::new();
    *DETECTED.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            if has!("avx512f") && has!("avx512dq") {
                return if has!("avx512ifma") {
                    KernelPath::Avx512Ifma
                } else {
                    KernelPath::Avx512
                };
            }
        }
        KernelPath::Portable
    })
}

/// The path the kernels take now.
pub fn path() -> KernelPath {
    if FORCE_PORTABLE.load(Ordering::Relaxed) {
        KernelPath::Portable
    } else {
        detected()
    }
}

/// Calls `avx512::$fn52` (52-bit IFMA lanes, for moduli below 2^50 where the CPU has IFMA) or
/// `avx512::$fn64` (64-bit lanes) with `$m` and the arguments on the current path; runs the
/// `$portable` block otherwise.
macro_rules! dispatch {
    ($m:expr, $fn64:ident, $fn52:ident, ($($arg:expr),*), $portable:block) => {{
        #[cfg(target_arch = "x86_64")]
        match path() {
            // SAFETY: `path` reports AVX-512F, DQ and IFMA only where the CPU has them.
            KernelPath::Avx512Ifma if $m.value < IFMA_LIMIT => {
                return unsafe { avx512::$fn52($m, $($arg),*) };
            }
            // SAFETY: `path` reports AVX-512F and DQ only where the CPU has them.
            KernelPath::Avx512 | KernelPath::Avx512Ifma => {
                return unsafe { avx512::$fn64($m, $($arg),*) };
            }
            KernelPath::Portable => {}
        }
        $portable
    }};
}

/// `a[k] = a[k] * b[k] mod q` (inputs below `q`).
pub fn mul_assign(m: &Modulus, a: &mut [u64], b: &[u64]) {
    assert_eq!(a.len(), b.len(), "limb lengths differ");
    dispatch!(m, mul_assign, mul_assign_ifma, (a, b), {
        a.iter_mut().zip(b).for_each(|(u, &v)| *u = m.mul(*u, v));
    })
}

/// `acc[k] = acc[k] + a[k] * b[k] mod q` (inputs below `q`).
pub fn mul_add_assign(m: &Modulus, acc: &mut [u64], a: &[u64], b: &[u64]) {
    assert!(
        acc.len() == a.len() && a.len() == b.len(),
        "limb lengths differ"
    );
    dispatch!(m, mul_add_assign, mul_add_assign_ifma, (acc, a, b), {
        for ((u, &v), &w) in acc.iter_mut().zip(a).zip(b) {
            *u = m.add(*u, m.mul(v, w));
        }
    })
}

/// `a[k] = a[k] * c mod q` (inputs and `c` below `q`).
pub fn mul_const(m: &Modulus, a: &mut [u64], c: u64) {
    debug_assert!(c < m.value);
    dispatch!(m, mul_const, mul_const_ifma, (a, c), {
        let w = m.shoup(c);
        a.iter_mut().for_each(|u| *u = m.mul_shoup(*u, w));
    })
}

/// `acc[k] = acc[k] + a[k] * c mod q` (inputs and `c` below `q`).
pub fn mul_add_const(m: &Modulus, acc: &mut [u64], a: &[u64], c: u64) {
    assert_eq!(acc.len(), a.len(), "limb lengths differ");
    debug_assert!(c < m.value);
    dispatch!(m, mul_add_const, mul_add_const_ifma, (acc, a, c), {
        let w = m.shoup(c);
        for (u, &v) in acc.iter_mut().zip(a) {
            *u = m.add(*u, m.mul_shoup(v, w));
        }
    })
}

/// `a[k] = (a[k] - b[k]) * c mod q` (`c` below `q`; `a` and `b` below `2q`, as a limb may
/// be on its way out of a lazy reduction): the last step of a rounding division (rescale,
/// ModDown).
pub fn sub_mul_const(m: &Modulus, a: &mut [u64], b: &[u64], c: u64) {
    assert_eq!(a.len(), b.len(), "limb lengths differ");
    debug_assert!(c < m.value);
    dispatch!(m, sub_mul_const, sub_mul_const_ifma, (a, b, c), {
        let w = m.shoup(c);
        for (u, &v) in a.iter_mut().zip(b) {
            *u = m.mul_shoup(sub_lazy(m, *u, v), w);
        }
    })
}

/// `a - b mod q` in `[0, q)` for `a, b < 2q` (`q < 2^62`).
#[inline(always)]
fn sub_lazy(m: &Modulus, a: u64, b: u64) -> u64 {
    let q = m.value;
    let d = a + 2 * q - b;
    let d = if d >= 2 * q { d - 2 * q } else { d };
    if d >= q { d - q } else { d }
}

/// `out[k] = round(sum_i src[i][k] w[i])` in `f64`: each product rounded, the sum taken in
/// the order of `src` from zero, rounded half away from zero (`f64::round`), for words below
/// 2^62 and sums between 0 and 2^52 (the count of moduli in an exact basis conversion).
pub fn rounded_weighted_sum(src: &[&[u64]], w: &[f64], out: &mut [u64]) {
    assert!(
        src.len() == w.len() && src.iter().all(|s| s.len() == out.len()),
        "limb lengths differ"
    );
    #[cfg(target_arch = "x86_64")]
    if path() != KernelPath::Portable {
        // SAFETY: the paths other than the portable one are only reported where the CPU has
        // AVX-512F and DQ.
        unsafe { avx512::rounded_weighted_sum(src, w, out) };
        return;
    }
    for (k, o) in out.iter_mut().enumerate() {
        *o = rounded_weighted_sum_at(src, w, k);
    }
}

/// [`rounded_weighted_sum`] of coefficient `k`, in scalar code.
fn rounded_weighted_sum_at(src: &[&[u64]], w: &[f64], k: usize) -> u64 {
    let v = src
        .iter()
        .zip(w)
        .fold(0.0, |v, (s, &w)| v + s[k] as f64 * w);
    v.round() as u64
}

/// The tensor product of one limb: `d = (x0 y0, x0 y1 + x1 y0, x1 y1) mod q` (inputs below
/// `q`).
pub fn tensor(m: &Modulus, x: [&[u64]; 2], y: [&[u64]; 2], d: [&mut [u64]; 3]) {
    let n = x[0].len();
    assert!(
        x[1].len() == n && y.iter().all(|v| v.len() == n) && d.iter().all(|v| v.len() == n),
        "limb lengths differ"
    );
    dispatch!(m, tensor, tensor_ifma, (x, y, d), {
        let [d0, d1, d2] = d;
        for k in 0..n {
            let (u0, u1, v0, v1) = (
                x[0][k] as u128,
                x[1][k] as u128,
                y[0][k] as u128,
                y[1][k] as u128,
            );
            d0[k] = m.reduce_u128(u0 * v0);
            d1[k] = m.reduce_u128(u0 * v1 + u1 * v0);
            d2[k] = m.reduce_u128(u1 * v1);
        }
    })
}

/// `out[k] = sums[k] mod q` for any `u128` sums.
pub fn reduce_wide(m: &Modulus, sums: &[u128], out: &mut [u64]) {
    assert_eq!(sums.len(), out.len(), "limb lengths differ");
    dispatch!(m, reduce_wide, reduce_wide, (sums, out), {
        out.iter_mut()
            .zip(sums)
            .for_each(|(o, &s)| *o = reduce_u128_any(m, s));
    })
}

/// `out[k] = c[k] mod q` (the residue in `[0, q)` of a signed coefficient).
pub fn reduce_signed(m: &Modulus, c: &[i64], out: &mut [u64]) {
    assert_eq!(c.len(), out.len(), "limb lengths differ");
    dispatch!(m, reduce_signed, reduce_signed, (c, out), {
        out.iter_mut().zip(c).for_each(|(o, &c)| *o = m.from_i64(c));
    })
}

/// `out[k] = c[k] mod q` for signed 128-bit coefficients.
pub fn reduce_signed_wide(m: &Modulus, c: &[i128], out: &mut [u64]) {
    assert_eq!(c.len(), out.len(), "limb lengths differ");
    dispatch!(m, reduce_signed_wide, reduce_signed_wide, (c, out), {
        out.iter_mut().zip(c).for_each(|(o, &c)| {
            let r = reduce_u128_any(m, c.unsigned_abs());
            *o = if c < 0 { m.neg(r) } else { r };
        });
    })
}

/// Most products a [`ProductSums`] holds before it folds them: products of operands below
/// 2^62 are below 2^124, so sixteen fit in a `u128`.
pub const MAX_TERMS: usize = 16;

/// Exact sums of coefficient-wise products over a block of one limb (the lazy inner
/// products of key switching, basis conversion and plaintext-ciphertext dot products),
/// reduced modulo `q` only by [`ProductSums::reduce_into`] or [`ProductSums::fold`], which
/// a product beyond [`MAX_TERMS`] calls itself.
///
/// The portable path holds each sum as a `u128`; the AVX-512 path as its low and high words
/// in two arrays, or, with IFMA, `q < 2^50` and operands below 2^50, as the low and high 52-bit
/// halves of the products summed separately (`hi 2^52 + lo`: two fused instructions per
/// eight products). The layout is chosen when the sums are made.
#[derive(Clone, Debug)]
pub struct ProductSums {
    m: Modulus,
    sums: Sums,
    terms: usize,
}

#[derive(Clone, Debug)]
enum Sums {
    Scalar(Vec<u128>),
    /// Vector lanes; `narrow`: 52-bit halves (IFMA).
    #[cfg(target_arch = "x86_64")]
    Lanes {
        lo: Vec<u64>,
        hi: Vec<u64>,
        narrow: bool,
    },
}

impl ProductSums {
    /// Sums over `len` coefficients modulo `m`, all zero. `narrow` says every operand will be
    /// below `m` or below 2^50 (then 52-bit lanes may be used; basis conversion's operands are
    /// below their own primes); otherwise operands may be any value below 2^62.
    pub fn new(m: &Modulus, len: usize, narrow: bool) -> Self {
        let sums = match path() {
            KernelPath::Portable => Sums::Scalar(vec![0; len]),
            #[cfg(target_arch = "x86_64")]
            p => Sums::Lanes {
                lo: vec![0; len],
                hi: vec![0; len],
                narrow: narrow && p == KernelPath::Avx512Ifma && m.value < IFMA_LIMIT,
            },
            #[cfg(not(target_arch = "x86_64"))]
            _ => {
                let _ = (m, narrow);
                Sums::Scalar(vec![0; len])
            }
        };
        Self {
            m: *m,
            sums,
            terms: 0,
        }
    }

    /// Number of coefficients.
    pub fn len(&self) -> usize {
        match &self.sums {
            Sums::Scalar(s) => s.len(),
            #[cfg(target_arch = "x86_64")]
            Sums::Lanes { lo, .. } => lo.len(),
        }
    }

    /// True for an empty block.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Restarts every sum at zero.
    pub fn clear(&mut self) {
        match &mut self.sums {
            Sums::Scalar(s) => s.fill(0),
            #[cfg(target_arch = "x86_64")]
            Sums::Lanes { lo, hi, .. } => {
                lo.fill(0);
                hi.fill(0);
            }
        }
        self.terms = 0;
    }

    /// Restarts every sum at `init` (values below 2^62).
    pub fn set(&mut self, init: &[u64]) {
        assert_eq!(init.len(), self.len(), "limb lengths differ");
        match &mut self.sums {
            Sums::Scalar(s) => s.iter_mut().zip(init).for_each(|(s, &v)| *s = v as u128),
            #[cfg(target_arch = "x86_64")]
            Sums::Lanes { lo, hi, .. } => {
                lo.copy_from_slice(init);
                hi.fill(0);
            }
        }
        self.terms = 1;
    }

    /// Makes room for one more product per coefficient (folding when [`MAX_TERMS`] are held).
    fn add_term(&mut self, len: usize) {
        assert_eq!(len, self.len(), "limb lengths differ");
        if self.terms == MAX_TERMS {
            self.fold();
        }
        self.terms += 1;
    }

    /// `sum[k] += a[k] * b[k]`.
    pub fn mac(&mut self, a: &[u64], b: &[u64]) {
        assert_eq!(a.len(), b.len(), "limb lengths differ");
        self.add_term(a.len());
        match &mut self.sums {
            Sums::Scalar(s) => {
                for (s, (&x, &y)) in s.iter_mut().zip(a.iter().zip(b)) {
                    *s += x as u128 * y as u128;
                }
            }
            // SAFETY: `Lanes` are only made where `path` reported AVX-512F and DQ, and
            // `narrow` ones only where it reported IFMA.
            #[cfg(target_arch = "x86_64")]
            Sums::Lanes { lo, hi, narrow } => unsafe {
                if *narrow {
                    avx512::mac_ifma(lo, hi, a, b)
                } else {
                    avx512::mac(lo, hi, a, b)
                }
            },
        }
    }

    /// `sum[k] += a[k] * c` for a constant `c`.
    pub fn mac_const(&mut self, a: &[u64], c: u64) {
        self.add_term(a.len());
        match &mut self.sums {
            Sums::Scalar(s) => {
                let c = c as u128;
                for (s, &x) in s.iter_mut().zip(a) {
                    *s += x as u128 * c;
                }
            }
            // SAFETY: as in `mac`.
            #[cfg(target_arch = "x86_64")]
            Sums::Lanes { lo, hi, narrow } => unsafe {
                if *narrow {
                    avx512::mac_const_ifma(lo, hi, a, c)
                } else {
                    avx512::mac_const(lo, hi, a, c)
                }
            },
        }
    }

    /// `out[k] = sum[k] mod q`.
    pub fn reduce_into(&self, out: &mut [u64]) {
        assert_eq!(out.len(), self.len(), "limb lengths differ");
        let m = &self.m;
        match &self.sums {
            Sums::Scalar(s) => out
                .iter_mut()
                .zip(s)
                .for_each(|(o, &v)| *o = reduce_u128_any(m, v)),
            // SAFETY: as in `mac`.
            #[cfg(target_arch = "x86_64")]
            Sums::Lanes { lo, hi, narrow } => unsafe {
                if *narrow {
                    avx512::reduce_halves52(m, lo, hi, out)
                } else {
                    avx512::reduce_halves(m, lo, hi, out)
                }
            },
        }
    }

    /// Reduces every sum modulo `q` in place, so [`MAX_TERMS`] - 1 more products fit.
    pub fn fold(&mut self) {
        let mut out = vec![0u64; self.len()];
        self.reduce_into(&mut out);
        self.set(&out);
    }
}

/// Reduces any `u128` (the Barrett reduction of [`Modulus::reduce_u128`] needs `x < 16 q^2`).
fn reduce_u128_any(m: &Modulus, x: u128) -> u64 {
    if x < (m.value as u128 * m.value as u128) << 4 {
        m.reduce_u128(x)
    } else {
        (x % m.value as u128) as u64
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    //! The AVX-512 kernels: eight lanes per step, the tail of a slice by the scalar code.

    use std::arch::x86_64::*;

    use super::super::modular::Modulus;

    const LANES: usize = 8;

    /// Broadcast constants of one modulus.
    #[derive(Clone, Copy)]
    struct Consts {
        q: __m512i,
        two_q: __m512i,
        /// The Barrett constant of the lane width in use.
        barrett: __m512i,
        /// `-q` in 52-bit lanes.
        neg_q52: __m512i,
        shift_lo: __m128i,
        shift_hi: __m128i,
        wrap: __m512i,
        wrap_quotient: __m512i,
        unit_quotient: __m512i,
        wrap52: __m512i,
        wrap52_quotient: __m512i,
        unit_quotient52: __m512i,
    }

    impl Consts {
        /// `width` is 64 or 52: the lanes the products are formed in.
        #[inline]
        #[target_feature(enable = "avx512f")]
        fn new(m: &Modulus, width: u32) -> Self {
            let (barrett, shift_hi) = if width == 52 {
                (m.barrett52, 52 - (m.bits - 1))
            } else {
                (m.barrett64, 64 - (m.bits - 1))
            };
            Self {
                q: _mm512_set1_epi64(m.value as i64),
                two_q: _mm512_set1_epi64(2 * m.value as i64),
                barrett: _mm512_set1_epi64(barrett as i64),
                neg_q52: _mm512_set1_epi64((m.value.wrapping_neg() & ((1 << 52) - 1)) as i64),
                shift_lo: _mm_set_epi64x(0, (m.bits - 1) as i64),
                shift_hi: _mm_set_epi64x(0, shift_hi as i64),
                wrap: _mm512_set1_epi64(m.wrap.value as i64),
                wrap_quotient: _mm512_set1_epi64(m.wrap.quotient as i64),
                unit_quotient: _mm512_set1_epi64(m.unit_quotient as i64),
                wrap52: _mm512_set1_epi64(m.wrap52.value as i64),
                wrap52_quotient: _mm512_set1_epi64(m.wrap52.quotient as i64),
                unit_quotient52: _mm512_set1_epi64(m.unit_quotient52 as i64),
            }
        }
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn load(s: &[u64], i: usize) -> __m512i {
        assert!(i + LANES <= s.len());
        // SAFETY: the eight words at `i` are inside `s` (checked above); unaligned load.
        unsafe { _mm512_loadu_epi64(s.as_ptr().add(i).cast()) }
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn store(s: &mut [u64], i: usize, v: __m512i) {
        assert!(i + LANES <= s.len());
        // SAFETY: the eight words at `i` are inside `s` (checked above); unaligned store.
        unsafe { _mm512_storeu_epi64(s.as_mut_ptr().add(i).cast(), v) }
    }

    /// `vpmuludq`: the 64-bit products of the lanes' low 32-bit halves. Written as assembly
    /// because LLVM recognises the four partial products of [`mul_wide`] as a 128-bit
    /// multiplication and scalarises it (eight `mul` instructions and the extractions, slower
    /// than the scalar code).
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn mul32(a: __m512i, b: __m512i) -> __m512i {
        let r: __m512i;
        // SAFETY: one AVX-512F instruction on registers (the CPU has AVX-512F: this function
        // is only compiled into callers that require it); no memory, stack or flags touched.
        unsafe {
            std::arch::asm!(
                "vpmuludq {r}, {a}, {b}",
                r = lateout(zmm_reg) r,
                a = in(zmm_reg) a,
                b = in(zmm_reg) b,
                options(pure, nomem, nostack, preserves_flags),
            );
        }
        r
    }

    /// The full 128-bit products of the lanes, as (low, high) words.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn mul_wide(a: __m512i, b: __m512i) -> (__m512i, __m512i) {
        let mask = _mm512_set1_epi64(0xffff_ffff);
        let (ah, bh) = (_mm512_srli_epi64::<32>(a), _mm512_srli_epi64::<32>(b));
        let p00 = mul32(a, b);
        let p01 = mul32(a, bh);
        let p10 = mul32(ah, b);
        let p11 = mul32(ah, bh);
        let mid = _mm512_add_epi64(
            _mm512_add_epi64(_mm512_srli_epi64::<32>(p00), _mm512_and_si512(p01, mask)),
            _mm512_and_si512(p10, mask),
        );
        let lo = _mm512_or_si512(_mm512_and_si512(p00, mask), _mm512_slli_epi64::<32>(mid));
        let hi = _mm512_add_epi64(
            _mm512_add_epi64(p11, _mm512_srli_epi64::<32>(p01)),
            _mm512_add_epi64(_mm512_srli_epi64::<32>(p10), _mm512_srli_epi64::<32>(mid)),
        );
        (lo, hi)
    }

    /// `x mod q` for `x < 2q`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn correct(x: __m512i, q: __m512i) -> __m512i {
        _mm512_min_epu64(x, _mm512_sub_epi64(x, q))
    }

    /// `a b mod q` for lanes below `q < 2^62`: Barrett from the 128-bit product with one
    /// correction (the quotient estimate is short by at most one).
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq")]
    fn mul_mod(a: __m512i, b: __m512i, k: &Consts) -> __m512i {
        let (lo, hi) = mul_wide(a, b);
        let c1 = _mm512_or_si512(
            _mm512_srl_epi64(lo, k.shift_lo),
            _mm512_sll_epi64(hi, k.shift_hi),
        );
        let c3 = mul_wide(c1, k.barrett).1;
        correct(_mm512_sub_epi64(lo, _mm512_mullo_epi64(c3, k.q)), k.q)
    }

    /// [`mul_mod`] in 52-bit lanes for `q < 2^50` (IFMA).
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn mul_mod52(a: __m512i, b: __m512i, k: &Consts) -> __m512i {
        let zero = _mm512_setzero_si512();
        let lo = _mm512_madd52lo_epu64(zero, a, b);
        let hi = _mm512_madd52hi_epu64(zero, a, b);
        let c1 = _mm512_or_si512(
            _mm512_srl_epi64(lo, k.shift_lo),
            _mm512_sll_epi64(hi, k.shift_hi),
        );
        let c3 = _mm512_madd52hi_epu64(zero, c1, k.barrett);
        let r = _mm512_and_si512(
            _mm512_madd52lo_epu64(lo, k.neg_q52, c3),
            _mm512_set1_epi64((1 << 52) - 1),
        );
        correct(r, k.q)
    }

    /// `hi 2^64 + lo mod q` for any words: each folded into `[0, 2q)` by a Shoup product
    /// (by `2^64 mod q` and by 1), then their sum (below `4q`) corrected twice.
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq")]
    fn reduce_words(lo: __m512i, hi: __m512i, k: &Consts) -> __m512i {
        let qa = mul_wide(hi, k.wrap_quotient).1;
        let a = _mm512_sub_epi64(_mm512_mullo_epi64(hi, k.wrap), _mm512_mullo_epi64(qa, k.q));
        let qb = mul_wide(lo, k.unit_quotient).1;
        let b = _mm512_sub_epi64(lo, _mm512_mullo_epi64(qb, k.q));
        correct(correct(_mm512_add_epi64(a, b), k.two_q), k.q)
    }

    /// `q - r` where `negate` is set and `r != 0`, else `r`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn negate_where(r: __m512i, negate: __mmask8, k: &Consts) -> __m512i {
        let nonzero = _mm512_test_epi64_mask(r, r);
        _mm512_mask_sub_epi64(r, negate & nonzero, k.q, r)
    }

    /// Defines the 64- and 52-bit lane variants of a product kernel from one body over a
    /// `mul` function.
    macro_rules! product_kernels {
        ($name64:ident, $name52:ident, $width52:literal, |$m:ident, $k:ident, $mul:ident $(, $arg:ident: $ty:ty)*| $body:block) => {
            #[target_feature(enable = "avx512f,avx512dq")]
            pub(super) fn $name64($m: &Modulus $(, $arg: $ty)*) {
                let $k = Consts::new($m, 64);
                let $mul = |a, b| mul_mod(a, b, &$k);
                $body
            }

            #[target_feature(enable = "avx512f,avx512dq,avx512ifma")]
            pub(super) fn $name52($m: &Modulus $(, $arg: $ty)*) {
                let $k = Consts::new($m, $width52);
                let $mul = |a, b| mul_mod52(a, b, &$k);
                $body
            }
        };
    }

    product_kernels!(
        mul_assign,
        mul_assign_ifma,
        52,
        |m, k, mul, a: &mut [u64], b: &[u64]| {
            let body = a.len() / LANES * LANES;
            for i in (0..body).step_by(LANES) {
                store(a, i, mul(load(a, i), load(b, i)));
            }
            a[body..]
                .iter_mut()
                .zip(&b[body..])
                .for_each(|(u, &v)| *u = m.mul(*u, v));
        }
    );

    product_kernels!(
        mul_add_assign,
        mul_add_assign_ifma,
        52,
        |m, k, mul, acc: &mut [u64], a: &[u64], b: &[u64]| {
            let body = acc.len() / LANES * LANES;
            for i in (0..body).step_by(LANES) {
                let s = _mm512_add_epi64(load(acc, i), mul(load(a, i), load(b, i)));
                store(acc, i, correct(s, k.q));
            }
            for ((u, &v), &w) in acc[body..].iter_mut().zip(&a[body..]).zip(&b[body..]) {
                *u = m.add(*u, m.mul(v, w));
            }
        }
    );

    product_kernels!(
        mul_const,
        mul_const_ifma,
        52,
        |m, k, mul, a: &mut [u64], c: u64| {
            let body = a.len() / LANES * LANES;
            let cv = _mm512_set1_epi64(c as i64);
            for i in (0..body).step_by(LANES) {
                store(a, i, mul(load(a, i), cv));
            }
            a[body..].iter_mut().for_each(|u| *u = m.mul(*u, c));
        }
    );

    product_kernels!(
        mul_add_const,
        mul_add_const_ifma,
        52,
        |m, k, mul, acc: &mut [u64], a: &[u64], c: u64| {
            let body = acc.len() / LANES * LANES;
            let cv = _mm512_set1_epi64(c as i64);
            for i in (0..body).step_by(LANES) {
                let s = _mm512_add_epi64(load(acc, i), mul(load(a, i), cv));
                store(acc, i, correct(s, k.q));
            }
            for (u, &v) in acc[body..].iter_mut().zip(&a[body..]) {
                *u = m.add(*u, m.mul(v, c));
            }
        }
    );

    product_kernels!(
        sub_mul_const,
        sub_mul_const_ifma,
        52,
        |m, k, mul, a: &mut [u64], b: &[u64], c: u64| {
            let body = a.len() / LANES * LANES;
            let cv = _mm512_set1_epi64(c as i64);
            for i in (0..body).step_by(LANES) {
                // a + 2q - b is below 4q; two corrections bring it below q.
                let d = _mm512_add_epi64(_mm512_sub_epi64(load(a, i), load(b, i)), k.two_q);
                store(a, i, mul(correct(correct(d, k.two_q), k.q), cv));
            }
            for (u, &v) in a[body..].iter_mut().zip(&b[body..]) {
                *u = m.mul(super::sub_lazy(m, *u, v), c);
            }
        }
    );

    product_kernels!(
        tensor,
        tensor_ifma,
        52,
        |m, k, mul, x: [&[u64]; 2], y: [&[u64]; 2], d: [&mut [u64]; 3]| {
            let [d0, d1, d2] = d;
            let n = d0.len();
            let body = n / LANES * LANES;
            for i in (0..body).step_by(LANES) {
                let (x0, x1, y0, y1) = (load(x[0], i), load(x[1], i), load(y[0], i), load(y[1], i));
                store(d0, i, mul(x0, y0));
                let cross = _mm512_add_epi64(mul(x0, y1), mul(x1, y0));
                store(d1, i, correct(cross, k.q));
                store(d2, i, mul(x1, y1));
            }
            for j in body..n {
                let (u0, u1, v0, v1) = (
                    x[0][j] as u128,
                    x[1][j] as u128,
                    y[0][j] as u128,
                    y[1][j] as u128,
                );
                d0[j] = m.reduce_u128(u0 * v0);
                d1[j] = m.reduce_u128(u0 * v1 + u1 * v0);
                d2[j] = m.reduce_u128(u1 * v1);
            }
        }
    );

    /// `(hi, lo) += a b` as `u128` lanes, `b` read by `b_at` (a slice or a broadcast).
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq")]
    fn mac_with(lo: &mut [u64], hi: &mut [u64], a: &[u64], b_at: impl Fn(usize) -> __m512i) {
        let body = lo.len() / LANES * LANES;
        let one = _mm512_set1_epi64(1);
        for i in (0..body).step_by(LANES) {
            let (plo, phi) = mul_wide(load(a, i), b_at(i));
            let slo = _mm512_add_epi64(load(lo, i), plo);
            let carry = _mm512_cmplt_epu64_mask(slo, plo);
            let shi = _mm512_add_epi64(load(hi, i), phi);
            store(lo, i, slo);
            store(hi, i, _mm512_mask_add_epi64(shi, carry, shi, one));
        }
    }

    /// `lo += low52(a b)`, `hi += high52(a b)` for operands below 2^52, `b` read by `b_at`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn mac_ifma_with(lo: &mut [u64], hi: &mut [u64], a: &[u64], b_at: impl Fn(usize) -> __m512i) {
        let body = lo.len() / LANES * LANES;
        for i in (0..body).step_by(LANES) {
            let (x, y) = (load(a, i), b_at(i));
            store(lo, i, _mm512_madd52lo_epu64(load(lo, i), x, y));
            store(hi, i, _mm512_madd52hi_epu64(load(hi, i), x, y));
        }
    }

    /// The scalar tail of the `u128` lanes.
    fn mac_tail(lo: &mut [u64], hi: &mut [u64], a: &[u64], b: impl Fn(usize) -> u64) {
        for k in lo.len() / LANES * LANES..lo.len() {
            let s = ((hi[k] as u128) << 64 | lo[k] as u128) + a[k] as u128 * b(k) as u128;
            (lo[k], hi[k]) = (s as u64, (s >> 64) as u64);
        }
    }

    /// The scalar tail of the 52-bit halves.
    fn mac_tail52(lo: &mut [u64], hi: &mut [u64], a: &[u64], b: impl Fn(usize) -> u64) {
        for k in lo.len() / LANES * LANES..lo.len() {
            let p = a[k] as u128 * b(k) as u128;
            lo[k] += (p as u64) & ((1 << 52) - 1);
            hi[k] += (p >> 52) as u64;
        }
    }

    #[target_feature(enable = "avx512f,avx512dq")]
    pub(super) fn mac(lo: &mut [u64], hi: &mut [u64], a: &[u64], b: &[u64]) {
        mac_with(lo, hi, a, |i| load(b, i));
        mac_tail(lo, hi, a, |k| b[k]);
    }

    #[target_feature(enable = "avx512f,avx512dq")]
    pub(super) fn mac_const(lo: &mut [u64], hi: &mut [u64], a: &[u64], c: u64) {
        let cv = _mm512_set1_epi64(c as i64);
        mac_with(lo, hi, a, |_| cv);
        mac_tail(lo, hi, a, |_| c);
    }

    #[target_feature(enable = "avx512f,avx512dq,avx512ifma")]
    pub(super) fn mac_ifma(lo: &mut [u64], hi: &mut [u64], a: &[u64], b: &[u64]) {
        mac_ifma_with(lo, hi, a, |i| load(b, i));
        mac_tail52(lo, hi, a, |k| b[k]);
    }

    #[target_feature(enable = "avx512f,avx512dq,avx512ifma")]
    pub(super) fn mac_const_ifma(lo: &mut [u64], hi: &mut [u64], a: &[u64], c: u64) {
        let cv = _mm512_set1_epi64(c as i64);
        mac_ifma_with(lo, hi, a, |_| cv);
        mac_tail52(lo, hi, a, |_| c);
    }

    #[target_feature(enable = "avx512f,avx512dq")]
    pub(super) fn rounded_weighted_sum(src: &[&[u64]], w: &[f64], out: &mut [u64]) {
        let body = out.len() / LANES * LANES;
        let (half, one) = (_mm512_set1_pd(0.5), _mm512_set1_pd(1.0));
        for i in (0..body).step_by(LANES) {
            let mut v = _mm512_setzero_pd();
            for (s, &w) in src.iter().zip(w) {
                let x = _mm512_cvtepu64_pd(load(s, i));
                v = _mm512_add_pd(v, _mm512_mul_pd(x, _mm512_set1_pd(w)));
            }
            // Half away from zero for v >= 0: the integer part, plus one where the fraction
            // (exact) is at least a half.
            let t = _mm512_roundscale_pd::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(v);
            let up = _mm512_cmp_pd_mask::<_CMP_GE_OQ>(_mm512_sub_pd(v, t), half);
            store(
                out,
                i,
                _mm512_cvttpd_epu64(_mm512_mask_add_pd(t, up, t, one)),
            );
        }
        for (k, o) in out.iter_mut().enumerate().skip(body) {
            *o = super::rounded_weighted_sum_at(src, w, k);
        }
    }

    /// `out = (hi 2^64 + lo) mod q`.
    #[target_feature(enable = "avx512f,avx512dq")]
    pub(super) fn reduce_halves(m: &Modulus, lo: &[u64], hi: &[u64], out: &mut [u64]) {
        let k = Consts::new(m, 64);
        let body = out.len() / LANES * LANES;
        for i in (0..body).step_by(LANES) {
            store(out, i, reduce_words(load(lo, i), load(hi, i), &k));
        }
        for j in body..out.len() {
            out[j] = super::reduce_u128_any(m, (hi[j] as u128) << 64 | lo[j] as u128);
        }
    }

    /// `out = (hi 2^52 + lo) mod q` (the sums of [`mac_ifma`], `q < 2^50`), in 52-bit
    /// arithmetic: `lo`'s bits above 52 carried into `hi`, then `hi 2^52` and the low 52 bits
    /// each folded into `[0, 2q)` by a 52-bit Shoup product (by `2^52 mod q` and by 1), their
    /// sum corrected twice. Needs `hi + (lo >> 52) < 2^52`: sixteen high halves of products
    /// below `q^2 < 2^100` are below 2^52 minus the carry (at most 17 * 2^52 / 2^52).
    #[target_feature(enable = "avx512f,avx512dq,avx512ifma")]
    pub(super) fn reduce_halves52(m: &Modulus, lo: &[u64], hi: &[u64], out: &mut [u64]) {
        let k = Consts::new(m, 52);
        let body = out.len() / LANES * LANES;
        let zero = _mm512_setzero_si512();
        let mask = _mm512_set1_epi64((1 << 52) - 1);
        for i in (0..body).step_by(LANES) {
            let (l, h) = (load(lo, i), load(hi, i));
            let low = _mm512_and_si512(l, mask);
            let high = _mm512_add_epi64(h, _mm512_srli_epi64::<52>(l));
            let qa = _mm512_madd52hi_epu64(zero, high, k.wrap52_quotient);
            let a = _mm512_sub_epi64(
                _mm512_madd52lo_epu64(zero, high, k.wrap52),
                _mm512_madd52lo_epu64(zero, qa, k.q),
            );
            let qb = _mm512_madd52hi_epu64(zero, low, k.unit_quotient52);
            let b = _mm512_sub_epi64(low, _mm512_madd52lo_epu64(zero, qb, k.q));
            let s = _mm512_add_epi64(_mm512_and_si512(a, mask), _mm512_and_si512(b, mask));
            store(out, i, correct(correct(s, k.two_q), k.q));
        }
        for j in body..out.len() {
            let v = ((hi[j] as u128) << 52) + lo[j] as u128;
            out[j] = super::reduce_u128_any(m, v);
        }
    }

    /// Low and high words of four `u128` values in each of two registers, as eight lanes each.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn split_words(a: __m512i, b: __m512i) -> (__m512i, __m512i) {
        let lo_idx = _mm512_set_epi64(14, 12, 10, 8, 6, 4, 2, 0);
        let hi_idx = _mm512_set_epi64(15, 13, 11, 9, 7, 5, 3, 1);
        (
            _mm512_permutex2var_epi64(a, lo_idx, b),
            _mm512_permutex2var_epi64(a, hi_idx, b),
        )
    }

    /// The words of eight `u128` (or `i128`) values starting at `i`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn load_wide<T>(s: &[T], i: usize) -> (__m512i, __m512i) {
        const { assert!(size_of::<T>() == 16) };
        assert!(i + LANES <= s.len());
        // SAFETY: the eight 16-byte values at `i` are inside `s` (checked above); unaligned
        // loads of their 128 bytes.
        let (a, b) = unsafe {
            let p = s.as_ptr().add(i).cast::<i64>();
            (_mm512_loadu_epi64(p), _mm512_loadu_epi64(p.add(LANES)))
        };
        split_words(a, b)
    }

    /// One variant only: the Shoup folding works in 64-bit lanes for every modulus.
    #[target_feature(enable = "avx512f,avx512dq")]
    pub(super) fn reduce_wide(m: &Modulus, sums: &[u128], out: &mut [u64]) {
        let k = Consts::new(m, 64);
        let body = out.len() / LANES * LANES;
        for i in (0..body).step_by(LANES) {
            let (lo, hi) = load_wide(sums, i);
            store(out, i, reduce_words(lo, hi, &k));
        }
        for (o, &s) in out[body..].iter_mut().zip(&sums[body..]) {
            *o = super::reduce_u128_any(m, s);
        }
    }

    #[target_feature(enable = "avx512f,avx512dq")]
    pub(super) fn reduce_signed(m: &Modulus, c: &[i64], out: &mut [u64]) {
        let k = Consts::new(m, 64);
        let body = out.len() / LANES * LANES;
        for i in (0..body).step_by(LANES) {
            assert!(i + LANES <= c.len());
            // SAFETY: the eight words at `i` are inside `c` (checked above).
            let v = unsafe { _mm512_loadu_epi64(c.as_ptr().add(i)) };
            let a = _mm512_abs_epi64(v);
            let qb = mul_wide(a, k.unit_quotient).1;
            let r = correct(_mm512_sub_epi64(a, _mm512_mullo_epi64(qb, k.q)), k.q);
            let negative = _mm512_movepi64_mask(v);
            store(out, i, negate_where(r, negative, &k));
        }
        for (o, &v) in out[body..].iter_mut().zip(&c[body..]) {
            *o = m.from_i64(v);
        }
    }

    #[target_feature(enable = "avx512f,avx512dq")]
    pub(super) fn reduce_signed_wide(m: &Modulus, c: &[i128], out: &mut [u64]) {
        let k = Consts::new(m, 64);
        let body = out.len() / LANES * LANES;
        let zero = _mm512_setzero_si512();
        for i in (0..body).step_by(LANES) {
            let (lo, hi) = load_wide(c, i);
            let negative = _mm512_movepi64_mask(hi);
            // |c| of the negative lanes: -(hi 2^64 + lo) = !hi 2^64 + (0 - lo), carrying one
            // into the high word where lo = 0.
            let neg_lo = _mm512_sub_epi64(zero, lo);
            let carry = _mm512_cmpeq_epi64_mask(lo, zero);
            let not_hi = _mm512_xor_si512(hi, _mm512_set1_epi64(-1));
            let neg_hi = _mm512_mask_add_epi64(not_hi, carry, not_hi, _mm512_set1_epi64(1));
            let abs_lo = _mm512_mask_mov_epi64(lo, negative, neg_lo);
            let abs_hi = _mm512_mask_mov_epi64(hi, negative, neg_hi);
            let r = reduce_words(abs_lo, abs_hi, &k);
            store(out, i, negate_where(r, negative, &k));
        }
        for (o, &v) in out[body..].iter_mut().zip(&c[body..]) {
            let r = super::reduce_u128_any(m, v.unsigned_abs());
            *o = if v < 0 { m.neg(r) } else { r };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ckks::math::primes::ntt_primes;
    use rand::rngs::ChaCha20Rng;
    use rand::{RngExt, SeedableRng};

    /// Primes of every width the presets use (and the IFMA boundary), each `= 1 mod 2^17`.
    fn moduli() -> Vec<Modulus> {
        [30u32, 42, 49, 50, 51, 55, 60, 61, 62]
            .iter()
            .map(|&bits| {
                let q = ntt_primes(bits, 1 << 16, 1, &[]).expect("a prime of that size")[0];
                Modulus::new(q)
            })
            .collect()
    }

    /// Runs `check` under the portable path and under the CPU's best path.
    fn on_every_path(mut check: impl FnMut(KernelPath)) {
        let _guard = PATH_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        for portable in [true, false] {
            set_portable(portable);
            check(path());
        }
        set_portable(false);
    }

    /// Tests that switch the path run one at a time.
    static PATH_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn residues(rng: &mut ChaCha20Rng, q: u64, n: usize) -> Vec<u64> {
        let mut v: Vec<u64> = (0..n).map(|_| rng.random_range(0..q)).collect();
        // The extremes, where one missing correction would show.
        v[0] = 0;
        v[1] = q - 1;
        v[2] = q - 1;
        v
    }

    #[test]
    fn products_are_the_exact_residues_on_every_path() {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        on_every_path(|p| {
            for m in moduli() {
                let q = m.value;
                let n = 8 * 37 + 5; // a tail the vector loop leaves to scalar code
                let (a, b, c) = (
                    residues(&mut rng, q, n),
                    residues(&mut rng, q, n),
                    residues(&mut rng, q, n),
                );
                let want: Vec<u64> = (0..n)
                    .map(|k| (a[k] as u128 * b[k] as u128 % q as u128) as u64)
                    .collect();
                let mut got = a.clone();
                mul_assign(&m, &mut got, &b);
                assert_eq!(got, want, "mul_assign, q = {q}, {p:?}");
                let mut acc = c.clone();
                mul_add_assign(&m, &mut acc, &a, &b);
                let want_acc: Vec<u64> = (0..n).map(|k| (c[k] + want[k]) % q).collect();
                assert_eq!(acc, want_acc, "mul_add_assign, q = {q}, {p:?}");
                let c0 = b[3];
                let mut got = a.clone();
                mul_const(&m, &mut got, c0);
                let want_c: Vec<u64> = a
                    .iter()
                    .map(|&v| (v as u128 * c0 as u128 % q as u128) as u64)
                    .collect();
                assert_eq!(got, want_c, "mul_const, q = {q}, {p:?}");
                let mut acc = c.clone();
                mul_add_const(&m, &mut acc, &a, c0);
                let want_ac: Vec<u64> = (0..n).map(|k| (c[k] + want_c[k]) % q).collect();
                assert_eq!(acc, want_ac, "mul_add_const, q = {q}, {p:?}");
                // Operands below 2q, as a lazily reduced limb may be.
                let lazy: Vec<u64> = a
                    .iter()
                    .zip(&b)
                    .map(|(&x, &y)| if x > y { x + q } else { x })
                    .collect();
                let lazy_b: Vec<u64> = b
                    .iter()
                    .map(|&y| if y % 3 == 0 { y + q } else { y })
                    .collect();
                let mut got = lazy.clone();
                sub_mul_const(&m, &mut got, &lazy_b, c0);
                let want_s: Vec<u64> = (0..n)
                    .map(|k| {
                        ((a[k] + q - b[k]) as u128 % q as u128 * c0 as u128 % q as u128) as u64
                    })
                    .collect();
                assert_eq!(got, want_s, "sub_mul_const, q = {q}, {p:?}");
                let (mut d0, mut d1, mut d2) = (vec![0; n], vec![0; n], vec![0; n]);
                tensor(&m, [&a, &b], [&c, &a], [&mut d0, &mut d1, &mut d2]);
                for k in 0..n {
                    let (x0, x1, y0, y1) = (a[k] as u128, b[k] as u128, c[k] as u128, a[k] as u128);
                    let q = q as u128;
                    assert_eq!(d0[k] as u128, x0 * y0 % q, "tensor d0, {p:?}");
                    assert_eq!(d1[k] as u128, (x0 * y1 + x1 * y0) % q, "tensor d1, {p:?}");
                    assert_eq!(d2[k] as u128, x1 * y1 % q, "tensor d2, {p:?}");
                }
            }
        });
    }

    #[test]
    fn product_sums_are_exact_on_every_path() {
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        on_every_path(|p| {
            for m in moduli() {
                let q = m.value;
                let n = 8 * 11 + 7;
                for narrow in [true, false] {
                    // Narrow operands may exceed a small q (up to 2^50).
                    let bound = if narrow { q.max(IFMA_LIMIT) } else { 1 << 62 };
                    let mut sums = ProductSums::new(&m, n, narrow);
                    let init = residues(&mut rng, q, n);
                    sums.set(&init);
                    let mut want: Vec<u128> = init.iter().map(|&v| v as u128).collect();
                    // Two folds' worth of products, the last operands at their bound.
                    for t in 0..2 * MAX_TERMS - 2 {
                        if t == MAX_TERMS - 1 {
                            sums.fold();
                        }
                        let mut a = residues(&mut rng, bound, n);
                        let mut b = residues(&mut rng, bound, n);
                        a[5] = bound - 1;
                        if t % 2 == 1 {
                            // A constant factor (basis conversion's form).
                            let c = b[t];
                            b.fill(c);
                            sums.mac_const(&a, c);
                        } else {
                            sums.mac(&a, &b);
                        }
                        for k in 0..n {
                            want[k] = (want[k] + a[k] as u128 * b[k] as u128) % q as u128;
                        }
                    }
                    let mut out = vec![0u64; n];
                    sums.reduce_into(&mut out);
                    let want: Vec<u64> = want.iter().map(|&v| v as u64).collect();
                    assert_eq!(out, want, "q = {q}, narrow {narrow}, {p:?}");
                    // More products than fit without a fold: the sums fold themselves.
                    let a = vec![bound - 1; n];
                    let terms = 2 * MAX_TERMS + 3;
                    sums.clear();
                    (0..terms).for_each(|_| sums.mac(&a, &a));
                    sums.reduce_into(&mut out);
                    let square = (bound - 1) as u128 * (bound - 1) as u128 % q as u128;
                    let want = (square * terms as u128 % q as u128) as u64;
                    assert!(out.iter().all(|&o| o == want), "auto-fold, q = {q}, {p:?}");
                }
            }
        });
    }

    #[test]
    fn rounded_weighted_sums_match_the_scalar_sum_on_every_path() {
        let mut rng = ChaCha20Rng::seed_from_u64(10);
        let primes: Vec<u64> = moduli().iter().map(|m| m.value).collect();
        let n = 8 * 13 + 5;
        let src: Vec<Vec<u64>> = primes.iter().map(|&q| residues(&mut rng, q, n)).collect();
        let w: Vec<f64> = primes.iter().map(|&q| 1.0 / q as f64).collect();
        let refs: Vec<&[u64]> = src.iter().map(Vec::as_slice).collect();
        let want: Vec<u64> = (0..n)
            .map(|k| {
                let v: f64 = refs.iter().zip(&w).map(|(s, &w)| s[k] as f64 * w).sum();
                v.round() as u64
            })
            .collect();
        // Ties: sums of exactly k + 1/2 round up.
        let halves: Vec<u64> = (0..n as u64).map(|k| 2 * k + 1).collect();
        on_every_path(|p| {
            let mut got = vec![0u64; n];
            rounded_weighted_sum(&refs, &w, &mut got);
            assert_eq!(got, want, "{p:?}");
            rounded_weighted_sum(&[&halves], &[0.5], &mut got);
            let up: Vec<u64> = (1..=n as u64).collect();
            assert_eq!(got, up, "ties, {p:?}");
        });
    }

    #[test]
    fn reductions_are_the_exact_residues_on_every_path() {
        let mut rng = ChaCha20Rng::seed_from_u64(8);
        on_every_path(|p| {
            for m in moduli() {
                let q = m.value;
                let n = 8 * 29 + 3;
                let mut wide: Vec<u128> = (0..n).map(|_| rng.random()).collect();
                wide[0] = 0;
                wide[1] = u128::MAX;
                wide[2] = (q as u128) << 64;
                wide[3] = q as u128 * q as u128 * 16 - 1;
                let mut out = vec![0u64; n];
                reduce_wide(&m, &wide, &mut out);
                for (k, (&o, &w)) in out.iter().zip(&wide).enumerate() {
                    assert_eq!(o as u128, w % q as u128, "reduce_wide[{k}], q = {q}, {p:?}");
                }
                let mut small: Vec<i64> = (0..n).map(|_| rng.random()).collect();
                small[..5].copy_from_slice(&[0, i64::MIN, i64::MAX, -1, -(q as i64)]);
                reduce_signed(&m, &small, &mut out);
                for (&o, &c) in out.iter().zip(&small) {
                    assert_eq!(o as i128, (c as i128).rem_euclid(q as i128), "{c}, {p:?}");
                }
                let mut signed: Vec<i128> = (0..n).map(|_| rng.random()).collect();
                signed[..6].copy_from_slice(&[0, i128::MIN, i128::MAX, -1, -(1 << 64), 1 << 64]);
                reduce_signed_wide(&m, &signed, &mut out);
                for (&o, &c) in out.iter().zip(&signed) {
                    assert_eq!(o as i128, c.rem_euclid(q as i128), "{c}, {p:?}");
                }
            }
        });
    }
}
