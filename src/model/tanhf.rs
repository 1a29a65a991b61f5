//! The float model's exact tanh in f32: glibc's `tanhf` (fdlibm's algorithm, through
//! fdlibm's `expm1f`, as glibc 2.36 ships it for x86-64) written without branches, so that a
//! slice of them compiles to SIMD code.
//!
//! Every IEEE operation of the scalar library code is done in the same order on the same
//! operands, and the branches become selects, so the results are the library's bit for bit
//! (checked on all 2^32 inputs against this machine's libm, and on a table of recorded values
//! everywhere). Training spent a third of its time in libm's `tanhf` (LSTM: two tanh slots per
//! step); this is 8 lanes at a time. Consequence: the trainer's tanh no longer depends on the
//! platform's libm (glibc 2.41 and later ship a different, correctly rounded, `tanhf`).

/// fdlibm's constants (bit patterns as glibc 2.36's libm holds them).
const INVLN2: f32 = f32::from_bits(0x3fb8_aa3b);
const LN2_HI: f32 = f32::from_bits(0x3f31_7180);
const LN2_LO: f32 = f32::from_bits(0x3717_f7d1);
const Q1: f32 = f32::from_bits(0xbd08_8889);
const Q2: f32 = f32::from_bits(0x3ad0_0d01);
const Q3: f32 = f32::from_bits(0xb8a6_70cd);
const Q4: f32 = f32::from_bits(0x3686_7e54);
const Q5: f32 = f32::from_bits(0xb457_edbb);
const TINY: f32 = f32::from_bits(0x0da2_4260);

/// tanh of every value in place.
pub fn tanh_slice(v: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, the only target feature `tanh_avx2` enables.
        unsafe { tanh_avx2(v) };
        return;
    }
    tanh_each(v);
}

/// [`tanh_each`] compiled for AVX2 (8 lanes); AVX2 adds no fused operations, so the
/// arithmetic is the same.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn tanh_avx2(v: &mut [f32]) {
    tanh_each(v);
}

/// In blocks of 32, so that four vectors are in flight (one lane's dependency chain is
/// long), then the rest.
#[inline(always)]
fn tanh_each(v: &mut [f32]) {
    let mut blocks = v.chunks_exact_mut(32);
    for block in &mut blocks {
        for x in block.iter_mut() {
            *x = tanhf(*x);
        }
    }
    for x in blocks.into_remainder() {
        *x = tanhf(*x);
    }
}

/// fdlibm's `tanhf`, branch-free.
#[inline(always)]
pub fn tanhf(x: f32) -> f32 {
    let ix = x.to_bits() & 0x7fff_ffff;
    let negative = x.is_sign_negative();
    let ax = f32::from_bits(ix);
    // 1 <= |x| < 22: 1 - 2 / (expm1(2|x|) + 2); 2^-55 <= |x| < 1: -t / (t + 2) with
    // t = expm1(-2|x|).
    let large = ix >= 0x3f80_0000;
    let t = expm1f(if large { ax + ax } else { ax * -2.0 });
    // One division for both forms.
    let q = if large { 2.0 } else { -t } / (t + 2.0);
    let z = if large { 1.0 - q } else { q };
    let z = if ix > 0x41af_ffff { 1.0 - TINY } else { z };
    let r = if negative { -z } else { z };
    // |x| < 2^-55 (zeros included): x (1 + x).
    let r = if ix <= 0x23ff_ffff { (1.0 + x) * x } else { r };
    // inf: 1 / x +- 1 = +-1; NaN: 1 / x + 1 is x quieted, as x + x is.
    if ix > 0x7f80_0000 {
        x + x
    } else if ix == 0x7f80_0000 {
        1.0f32.copysign(x)
    } else {
        r
    }
}

/// fdlibm's `expm1f` on the arguments [`tanhf`] gives it (finite, -2 < x < 0 or x >= 2;
/// for x >= 27 ln 2 or infinite or NaN the value is unused), branch-free.
#[inline(always)]
fn expm1f(x: f32) -> f32 {
    let hx = x.to_bits() & 0x7fff_ffff;
    let negative = x.is_sign_negative();
    // Argument reduction: x = k ln2 + xr + c for |x| > ln2 / 2. fdlibm converts
    // x / ln2 +- 1/2 to an integer (toward zero) and back; for the |k| < 2^22 used here that
    // is `trunc`, and adding 1.5 * 2^23 puts k in the low bits (float-to-int conversions do
    // not vectorise).
    let tb = (INVLN2 * x + 0.5f32.copysign(x)).trunc();
    let kb = ((tb + 12_582_912.0).to_bits() as i32).wrapping_sub(0x4b40_0000);
    let (hi, lo, k) = if hx > 0x3f85_1591 {
        (x - tb * LN2_HI, tb * LN2_LO, kb)
    } else if negative {
        (x + LN2_HI, -LN2_LO, -1)
    } else {
        (x - LN2_HI, LN2_LO, 1)
    };
    let reduced = hx > 0x3eb1_7218;
    let xr = if reduced { hi - lo } else { x };
    let c = (hi - xr) - lo;
    let k = if reduced { k } else { 0 };
    // The rational approximation on the reduced argument.
    let hfx = xr * 0.5;
    let hxs = xr * hfx;
    let r1 = ((((Q5 * hxs + Q4) * hxs + Q3) * hxs + Q2) * hxs + Q1) * hxs + 1.0;
    let t = 3.0 - hfx * r1;
    let e = (r1 - t) / (6.0 - t * xr) * hxs;
    // Reconstruction by k.
    let at_zero = xr - (e * xr - hxs);
    let e = ((e - c) * xr - c) - hxs;
    let at_minus_one = (xr - e) * 0.5 - 0.5;
    let at_one = if xr < -0.25 {
        -2.0 * (e - (xr + 0.5))
    } else {
        (xr - e) + (xr - e) + 1.0
    };
    let k_bits = (k as u32) << 23;
    let two_to_minus_k = f32::from_bits((0x7f_i32.wrapping_sub(k) as u32) << 23);
    let scale = |y: f32| f32::from_bits(y.to_bits().wrapping_add(k_bits));
    let far = scale(1.0 - (e - xr)) - 1.0;
    let mid = scale((xr - (e + two_to_minus_k)) + 1.0);
    let near = scale((1.0 - two_to_minus_k) - (e - xr));
    let r = match k {
        0 => at_zero,
        -1 => at_minus_one,
        1 => at_one,
        2..=22 => near,
        23..=56 => mid,
        _ => far,
    };
    if hx < 0x3300_0000 { x } else { r }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// glibc 2.36's tanhf on x86-64, recorded: (input bits, output bits), covering every
    /// branch (tiny, |x| < 1 with k = 0, -1, -2, -3 in expm1f, |x| >= 1 with k from 3 to 63,
    /// |x| >= 22, zeros, infinities, NaN, subnormals).
    const RECORDED: &[(u32, u32)] = &[
        (0x00000000, 0x00000000),
        (0x80000000, 0x80000000),
        (0x1e3ce508, 0x1e3ce508),
        (0xa3f907f3, 0xa3f907f3),
        (0x240a59c0, 0x240a59c0),
        (0x3089705f, 0x3089705f),
        (0x330dbbe2, 0x330dbbe3),
        (0x3727c5ac, 0x3727c5ac),
        (0x3dcccccd, 0x3dcc1ebc),
        (0xbe99999a, 0xbe9526ed),
        (0x3e2e147b, 0x3e2c6c15),
        (0x3ecccccd, 0x3ec288ac),
        (0xbf000000, 0xbeec9a9f),
        (0x3f0ccccd, 0x3f002218),
        (0x3f333333, 0x3f1ab7d8),
        (0xbf4f5c29, 0xbf2b6a45),
        (0x3f733333, 0x3f3d626d),
        (0x3f7fbe77, 0x3f42dc49),
        (0x3f800000, 0x3f42f7d6),
        (0xbfc00000, 0xbf67b7cc),
        (0x40200000, 0x3f7c92c1),
        (0x40a00000, 0x3f7ffa0d),
        (0xc1000000, 0xbf7ffffc),
        (0x411b3333, 0x3f800000),
        (0x41400000, 0x3f800000),
        (0x41700000, 0x3f800000),
        (0xc19f3333, 0xbf800000),
        (0x41af3333, 0x3f800000),
        (0x41b00000, 0x3f800000),
        (0xc2c80000, 0xbf800000),
        (0x7f800000, 0x3f800000),
        (0xff800000, 0xbf800000),
        (0x000116c2, 0x000116c2),
        (0x7fc00000, 0x7fc00000),
    ];

    #[test]
    fn matches_the_recorded_library_values() {
        for &(x, want) in RECORDED {
            let got = tanhf(f32::from_bits(x)).to_bits();
            assert_eq!(got, want, "tanhf({:e} = {x:#010x})", f32::from_bits(x));
        }
    }

    /// The slice version (SIMD where available) equals the scalar one, at any length.
    #[test]
    fn slices_equal_scalars() {
        let xs: Vec<f32> = (0..1037u32)
            .map(|i| f32::from_bits(i.wrapping_mul(0x9E37_79B9)))
            .chain((0..2000).map(|i| (i as f32 - 1000.0) / 37.0))
            .collect();
        let mut v = xs.clone();
        tanh_slice(&mut v);
        for (x, y) in xs.iter().zip(&v) {
            assert_eq!(y.to_bits(), tanhf(*x).to_bits(), "{x:e}");
        }
    }

    /// Within one unit in the last place of the platform's tanh everywhere on a grid (any
    /// libm is this close), and equal to it where the platform's libm is glibc's fdlibm one.
    #[test]
    fn close_to_the_platform_tanh() {
        for i in (0..u32::MAX).step_by(4099) {
            let x = f32::from_bits(i);
            let (a, b) = (tanhf(x), x.tanh());
            if a.is_nan() || b.is_nan() {
                assert!(a.is_nan() && b.is_nan(), "{x:e}");
                continue;
            }
            let ulps = (a.to_bits() as i64 - b.to_bits() as i64).abs();
            assert!(ulps <= 1, "tanh({x:e}): {a:e} vs {b:e}");
        }
    }

    /// Every one of the 2^32 inputs against this machine's libm (about a minute on two
    /// cores): run with `--ignored` on a glibc before 2.41.
    #[test]
    #[ignore]
    fn every_input_matches_glibc_fdlibm() {
        use rayon::prelude::*;
        let bad: Vec<u32> = (0..=u32::MAX)
            .into_par_iter()
            .filter(|&i| {
                let x = f32::from_bits(i);
                let (a, b) = (tanhf(x), x.tanh());
                a.to_bits() != b.to_bits() && !(a.is_nan() && b.is_nan())
            })
            .take_any(20)
            .collect();
        assert!(bad.is_empty(), "differs at {bad:x?}");
    }
}
