//! Fused sums of ciphertext x plaintext products whose plaintexts are made per prime as they
//! are used (the engine's `dot_compact` over compactly stored weights, the bootstrap's
//! diagonal transforms): per limb, the products are summed in `u128` over up to
//! [`LAZY_TERMS`] terms before one reduction, so no product is reduced or stored alone.

use std::ops::Range;

use rayon::prelude::*;

use crate::ckks::math::lanes::ProductSums;
use crate::ckks::math::tally::{Primitive, count};
use crate::ckks::ring::{FILL_BLOCK, RnsPoly, fill_limbs, with_scratch_limbs};
use crate::ckks::scheme::ciphertext::Ciphertext;
use crate::ckks::scheme::context::Context;

/// Products summed in `u128` before one reduction: each is below `q^2 < 2^122`, so the
/// running value (below `q`) plus 8 of them stays below `2^4 q^2`, where the Barrett
/// reduction holds.
pub const LAZY_TERMS: usize = 8;

/// Where [`inner_product`] finds a term's plaintext limb.
pub enum PlainLimb<'a> {
    /// A limb the caller holds.
    Held(&'a [u64]),
    /// The buffer it was given, every word of which it wrote.
    Written,
}

/// `(sum_t a_t * pt_t, sum_t b_t * pt_t)` over the ring's primes `primes` (NTT form, one
/// output limb per entry), where `ct(t)` gives term `t`'s two polynomials `[a_t, b_t]` as
/// limbs in the order of `primes` (at least as many) and `plaintext(t, k, buf)` gives the NTT
/// residues of its plaintext modulo the `k`-th of `primes`: a limb it holds, or `buf` after
/// writing every word of it (the buffer's contents on entry are unspecified). Counts the
/// products and reductions; the caller counts what making a plaintext costs.
pub fn inner_product<'a>(
    ctx: &Context,
    primes: &[usize],
    terms: usize,
    ct: impl Fn(usize) -> [&'a [Vec<u64>]; 2] + Sync,
    plaintext: impl Fn(usize, usize, &mut [u64]) -> PlainLimb<'a> + Sync,
) -> [Vec<Vec<u64>>; 2] {
    let limbs = primes.len();
    let n = ctx.n();
    if terms == 0 {
        return [vec![vec![0; n]; limbs], vec![vec![0; n]; limbs]];
    }
    count(Primitive::Mac, 2 * terms * limbs);
    count(Primitive::ModMul, 2 * terms.div_ceil(LAZY_TERMS) * limbs);
    let halves: Vec<[Vec<u64>; 2]> = primes
        .par_iter()
        .enumerate()
        .map(|(k, &i)| {
            let m = *ctx.modulus(i);
            let sum = ProductSums::new(&m, FILL_BLOCK.min(n), true);
            let mut sums = [sum.clone(), sum];
            with_scratch_limbs(LAZY_TERMS.min(terms), n, |pts| {
                let mut out: Option<[Vec<u64>; 2]> = None;
                for first in (0..terms).step_by(LAZY_TERMS) {
                    let group = first..(first + LAZY_TERMS).min(terms);
                    let pts: Vec<&[u64]> = group
                        .clone()
                        .zip(pts.iter_mut())
                        .map(|(t, pt)| match plaintext(t, k, pt) {
                            PlainLimb::Held(x) => x,
                            PlainLimb::Written => &pt[..],
                        })
                        .collect();
                    let mac = |sums: &mut [ProductSums; 2], r: Range<usize>| {
                        for (t, pt) in group.clone().zip(&pts) {
                            let [a, b] = ct(t);
                            sums[0].mac(&a[k][r.clone()], &pt[r.clone()]);
                            sums[1].mac(&b[k][r.clone()], &pt[r.clone()]);
                        }
                    };
                    match &mut out {
                        None => {
                            out = Some(fill_limbs(n, |start, [o0, o1]| {
                                sums.iter_mut().for_each(ProductSums::clear);
                                mac(&mut sums, start..start + o0.len());
                                sums[0].reduce_into(o0);
                                sums[1].reduce_into(o1);
                            }));
                        }
                        Some([a0, a1]) => {
                            for start in (0..n).step_by(FILL_BLOCK) {
                                let r = start..(start + FILL_BLOCK).min(n);
                                sums[0].set(&a0[r.clone()]);
                                sums[1].set(&a1[r.clone()]);
                                mac(&mut sums, r.clone());
                                sums[0].reduce_into(&mut a0[r.clone()]);
                                sums[1].reduce_into(&mut a1[r]);
                            }
                        }
                    }
                }
                // Invariant: terms > 0, so the first group made the limbs.
                out.expect("at least one term")
            })
        })
        .collect();
    let (mut c0, mut c1) = (Vec::with_capacity(limbs), Vec::with_capacity(limbs));
    for [a, b] in halves {
        c0.push(a);
        c1.push(b);
    }
    [c0, c1]
}

/// [`inner_product`] of ciphertexts over `q_0..=level`, as ciphertext polynomials
/// (`plaintext(t, i, buf)` for the `i`-th prime).
pub fn inner_product_q<'a>(
    ctx: &Context,
    level: usize,
    terms: usize,
    ct: impl Fn(usize) -> &'a Ciphertext + Sync,
    plaintext: impl Fn(usize, usize, &mut [u64]) -> PlainLimb<'a> + Sync,
) -> (RnsPoly, RnsPoly) {
    let primes: Vec<usize> = (0..=level).collect();
    let [c0, c1] = inner_product(
        ctx,
        &primes,
        terms,
        |t| {
            let a = ct(t);
            [&a.c0.limbs[..], &a.c1.limbs[..]]
        },
        plaintext,
    );
    (
        RnsPoly {
            limbs: c0,
            ntt: true,
        },
        RnsPoly {
            limbs: c1,
            ntt: true,
        },
    )
}
