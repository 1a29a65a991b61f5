//! Hybrid key switching (Han-Ki): decompose a polynomial into `dnum` digits of `alpha` Q
//! limbs, extend each digit to Q_l * P by fast basis conversion (ModUp), take the inner
//! product with a [`SwitchingKey`], and divide by P (ModDown).
//!
//! [`Decomposed`] is the ModUp result in NTT form. Rotations share it (hoisting): an
//! automorphism permutes its NTT evaluations, so one decomposition serves every step; the
//! permutation is folded into the inner product's reads.

use rayon::prelude::*;

use crate::ckks::math::keystream::BelowModulus;
use crate::ckks::math::lanes::{self, ProductSums};
use crate::ckks::math::modular::{IFMA_LIMIT, Modulus, ShoupConst};
use crate::ckks::math::tally::{Primitive, count};
use crate::ckks::ring::RnsPoly;
use crate::ckks::scheme::context::Context;
use crate::ckks::scheme::keys::SwitchingKey;

/// Coefficients processed together in the accumulation loops (stack buffers of u128).
const BLOCK: usize = 256;

/// Fast (approximate) conversion of residues from a source basis `B` to target primes:
/// `y_t = sum_i [x_i (B/b_i)^{-1}]_{b_i} (B/b_i) mod t`, exact up to a small multiple of B.
///
/// With `exact`, the multiple of B is removed: `u = round(sum_i y_i / b_i)` (in `f64`) is the
/// number of times B was counted, so the targets receive the centred representative of
/// `x mod B` (Halevi-Polyakov-Shoup). ModDown uses this to divide by P with rounding.
struct BasisConversion {
    /// `(B/b_i)^{-1} mod b_i`, per source.
    hat_inv: Vec<ShoupConst>,
    /// `(B/b_i) mod t`, per target then source.
    hat_mod: Vec<Vec<u64>>,
    /// For exact conversion: `1 / b_i` per source and `-B mod t` per target.
    exact: Option<(Vec<f64>, Vec<u64>)>,
}

impl BasisConversion {
    fn new(ctx: &Context, sources: &[usize], targets: &[usize], exact: bool) -> Self {
        let hat_inv = sources
            .iter()
            .map(|&i| {
                let m = ctx.modulus(i);
                let hat = sources
                    .iter()
                    .filter(|&&k| k != i)
                    .fold(1u64, |acc, &k| m.mul(acc, ctx.modulus(k).value % m.value));
                // Invariant: distinct primes.
                m.shoup(m.inv(hat).expect("distinct primes"))
            })
            .collect();
        let hat_mod = targets
            .iter()
            .map(|&t| {
                let m = ctx.modulus(t);
                sources
                    .iter()
                    .map(|&i| {
                        sources
                            .iter()
                            .filter(|&&k| k != i)
                            .fold(1u64, |acc, &k| m.mul(acc, ctx.modulus(k).value % m.value))
                    })
                    .collect()
            })
            .collect();
        let exact = exact.then(|| {
            let inv_b = sources
                .iter()
                .map(|&i| 1.0 / ctx.modulus(i).value as f64)
                .collect();
            let neg_b = targets
                .iter()
                .map(|&t| {
                    let m = ctx.modulus(t);
                    let b = sources
                        .iter()
                        .fold(1u64, |acc, &k| m.mul(acc, ctx.modulus(k).value % m.value));
                    m.neg(b)
                })
                .collect();
            (inv_b, neg_b)
        });
        Self {
            hat_inv,
            hat_mod,
            exact,
        }
    }

    /// Converts source limbs (coefficient form, in source order) to the targets' moduli.
    fn convert(
        &self,
        src: &[&[u64]],
        src_moduli: &[Modulus],
        target_moduli: &[Modulus],
    ) -> Vec<Vec<u64>> {
        let (ns, nt) = (src.len(), target_moduli.len());
        count(Primitive::ModMul, ns + nt);
        count(Primitive::Mac, ns * nt);
        if self.exact.is_some() {
            // The f64 pass over the sources and the correction per target.
            count(Primitive::Mac, ns);
            count(Primitive::ModMul, nt);
        }
        let ys: Vec<Vec<u64>> = src
            .par_iter()
            .zip(&self.hat_inv)
            .zip(src_moduli)
            .map(|((x, &w), m)| {
                let mut y = x.to_vec();
                lanes::mul_const(m, &mut y, w.value);
                y
            })
            .collect();
        let n = src.first().map_or(0, |x| x.len());
        let narrow = src_moduli.iter().all(|s| s.value < IFMA_LIMIT);
        // How many times B was counted, per coefficient (exact conversion only).
        let overflow: Option<Vec<u64>> = self.exact.as_ref().map(|(inv_b, _)| {
            let mut u = vec![0u64; n];
            u.par_chunks_mut(4096).enumerate().for_each(|(c, u)| {
                let start = c * 4096;
                let src: Vec<&[u64]> = ys.iter().map(|y| &y[start..start + u.len()]).collect();
                lanes::rounded_weighted_sum(&src, inv_b, u);
            });
            u
        });
        self.hat_mod
            .par_iter()
            .zip(target_moduli)
            .enumerate()
            .map(|(ti, (h, m))| {
                let mut out = vec![0u64; n];
                // The sources' residues are below their own primes, not this one: 52-bit lanes
                // where every source prime is below 2^50.
                let mut acc = ProductSums::new(m, BLOCK.min(n), narrow);
                for (start, o) in (0..n).step_by(BLOCK).zip(out.chunks_mut(BLOCK)) {
                    acc.clear();
                    for (y, &h) in ys.iter().zip(h) {
                        acc.mac_const(&y[start..start + o.len()], h);
                    }
                    acc.reduce_into(o);
                }
                if let (Some(u), Some((_, neg_b))) = (&overflow, &self.exact) {
                    // The counts are below the number of sources, so below q.
                    lanes::mul_add_const(m, &mut out, u, neg_b[ti]);
                }
                out
            })
            .collect()
    }
}

/// A polynomial at `level` decomposed into digits, each extended to Q_level * P (NTT form;
/// limbs ordered as [`Context::qp_indices`]). A digit's residues modulo its own primes are the
/// polynomial's, so they are read from it, not copied.
pub struct Decomposed<'a> {
    level: usize,
    /// Limbs per digit.
    alpha: usize,
    source: &'a RnsPoly,
    /// Per digit, its residues modulo the other primes of Q_level * P.
    converted: Vec<Vec<Vec<u64>>>,
}

impl Decomposed<'_> {
    /// Digits.
    fn len(&self) -> usize {
        self.converted.len()
    }

    /// Digit `k`'s limb at position `pos` of [`Context::qp_indices`].
    fn limb(&self, k: usize, pos: usize) -> &[u64] {
        let own = k * self.alpha..((k + 1) * self.alpha).min(self.level + 1);
        if own.contains(&pos) {
            &self.source.limbs[pos]
        } else if pos < own.start {
            &self.converted[k][pos]
        } else {
            &self.converted[k][pos - own.len()]
        }
    }
}

/// ModUp: decomposes `d` (NTT form, limbs `q_0..=q_level`).
pub fn decompose<'a>(ctx: &Context, d: &'a RnsPoly) -> Decomposed<'a> {
    let level = d.limb_count() - 1;
    let alpha = ctx.params().alpha();
    let ring = ctx.ring();
    let mut coeff = d.clone();
    ring.to_coeff(&mut coeff);
    let qp = ctx.qp_indices(level);
    let converted = (0..=level)
        .step_by(alpha)
        .map(|start| {
            let digit: Vec<usize> = (start..(start + alpha).min(level + 1)).collect();
            let targets: Vec<usize> = qp.iter().copied().filter(|i| !digit.contains(i)).collect();
            let conv = BasisConversion::new(ctx, &digit, &targets, false);
            let src: Vec<&[u64]> = digit.iter().map(|&i| coeff.limbs[i].as_slice()).collect();
            let src_m: Vec<Modulus> = digit.iter().map(|&i| *ctx.modulus(i)).collect();
            let tgt_m: Vec<Modulus> = targets.iter().map(|&i| *ctx.modulus(i)).collect();
            let mut converted = conv.convert(&src, &src_m, &tgt_m);
            converted
                .par_iter_mut()
                .zip(&targets)
                .for_each(|(x, &t)| ring.table(t).forward(x));
            converted
        })
        .collect();
    Decomposed {
        level,
        alpha,
        source: d,
        converted,
    }
}

/// Inner product of a decomposition (permuted by the Galois element `g` if given: this is
/// the decomposition of `σ_g(d)`) with a switching key, then ModDown: returns `(c0, c1)` over
/// `q_0..=q_level` (NTT form) with `c0 + c1 s ≈ d' s'`.
fn switch(
    ctx: &Context,
    dec: &Decomposed,
    g: Option<usize>,
    key: &SwitchingKey,
) -> (RnsPoly, RnsPoly) {
    let [c0, c1] = switch_qp(ctx, dec, g, key);
    rayon::join(
        || mod_down(ctx, dec.level, c0),
        || mod_down(ctx, dec.level, c1),
    )
}

/// [`switch`] before its ModDown: `(c0, c1)` over `Q_level * P` (NTT form, limbs in
/// [`Context::qp_indices`] order) with `c0 + c1 s ≈ P d' s'`. Sums of such pairs share one
/// ModDown (double hoisting).
pub(crate) fn switch_qp(
    ctx: &Context,
    dec: &Decomposed,
    g: Option<usize>,
    key: &SwitchingKey,
) -> [Vec<Vec<u64>>; 2] {
    let qp = ctx.qp_indices(dec.level);
    let n = ctx.n();
    let perm = g.map(|g| ctx.galois_perm(g));
    // Per Q_level * P limb: two products per digit, two reductions, each digit's gather if
    // permuted, each digit's mask drawn if the key is seeded.
    let limbs = qp.len();
    count(Primitive::Mac, 2 * dec.len() * limbs);
    count(Primitive::ModMul, 2 * limbs);
    if perm.is_some() {
        count(Primitive::Permute, dec.len() * limbs);
    }
    if key.a.is_none() {
        count(Primitive::MaskDraw, dec.len() * limbs);
    }
    let acc: Vec<[Vec<u64>; 2]> = qp
        .par_iter()
        .enumerate()
        .map(|(pos, &i)| {
            let m = ctx.modulus(i);
            let d: Vec<&[u64]> = (0..dec.len()).map(|k| dec.limb(k, pos)).collect();
            let kb: Vec<&[u64]> = key.b.iter().map(|b| b.limbs[i].as_slice()).collect();
            // The key's masks over this prime for the digits in use: held if expanded, else
            // drawn block by block as they are used.
            let ka: Option<Vec<&[u64]>> = key
                .a
                .as_ref()
                .map(|a| a[..d.len()].iter().map(|p| p.limbs[i].as_slice()).collect());
            let mut draws: Vec<BelowModulus> = match &ka {
                Some(_) => Vec::new(),
                None => (0..d.len())
                    .map(|j| key.mask_draw(j, i, m.value, n))
                    .collect(),
            };
            let (mut o0, mut o1) = (vec![0u64; n], vec![0u64; n]);
            let mut acc0 = ProductSums::new(m, BLOCK.min(n), true);
            let mut acc1 = acc0.clone();
            let (mut gathered, mut drawn) = ([0u64; BLOCK], [0u64; BLOCK]);
            for start in (0..n).step_by(BLOCK) {
                let r = start..start + BLOCK.min(n - start);
                acc0.clear();
                acc1.clear();
                for (j, (dj, bj)) in d.iter().zip(&kb).enumerate() {
                    let x: &[u64] = match &perm {
                        Some(p) => {
                            let x = &mut gathered[..r.len()];
                            x.iter_mut()
                                .zip(&p[r.clone()])
                                .for_each(|(v, &k)| *v = dj[k as usize]);
                            x
                        }
                        None => &dj[r.clone()],
                    };
                    let aj: &[u64] = match &ka {
                        Some(ka) => &ka[j][r.clone()],
                        None => {
                            draws[j].next_words(&mut drawn[..r.len()]);
                            &drawn[..r.len()]
                        }
                    };
                    acc0.mac(x, &bj[r.clone()]);
                    acc1.mac(x, aj);
                }
                acc0.reduce_into(&mut o0[r.clone()]);
                acc1.reduce_into(&mut o1[r]);
            }
            [o0, o1]
        })
        .collect();
    let (mut c0, mut c1) = (Vec::with_capacity(qp.len()), Vec::with_capacity(qp.len()));
    for [a, b] in acc {
        c0.push(a);
        c1.push(b);
    }
    [c0, c1]
}

/// `a += b` limb by limb over the primes `qp` (polynomials over `Q_level * P` in
/// [`Context::qp_indices`] order).
pub(crate) fn add_qp(ctx: &Context, qp: &[usize], a: &mut [Vec<u64>], b: &[Vec<u64>]) {
    count(Primitive::Add, qp.len());
    a.par_iter_mut().zip(b).zip(qp).for_each(|((x, y), &i)| {
        let m = ctx.modulus(i);
        x.iter_mut().zip(y).for_each(|(u, &v)| *u = m.add(*u, v));
    });
}

/// `sum += part` for pairs of polynomials over `Q_level * P` (see [`add_qp`]); an empty sum
/// takes `part` itself.
pub(crate) fn add_qp_pair(
    ctx: &Context,
    qp: &[usize],
    sum: &mut Option<[Vec<Vec<u64>>; 2]>,
    part: [Vec<Vec<u64>>; 2],
) {
    match sum {
        None => *sum = Some(part),
        Some([s0, s1]) => {
            add_qp(ctx, qp, s0, &part[0]);
            add_qp(ctx, qp, s1, &part[1]);
        }
    }
}

/// Divides a polynomial over Q_level * P (NTT form, limbs in [`Context::qp_indices`] order)
/// by P, rounding, leaving `q_0..=q_level`.
pub(crate) fn mod_down(ctx: &Context, level: usize, mut limbs: Vec<Vec<u64>>) -> RnsPoly {
    let ring = ctx.ring();
    let nq = ctx.q_count();
    let p_idx: Vec<usize> = (nq..nq + ctx.p_count()).collect();
    let mut p_part = limbs.split_off(level + 1);
    p_part
        .par_iter_mut()
        .zip(&p_idx)
        .for_each(|(x, &i)| ring.table(i).inverse(x));
    let q_idx: Vec<usize> = (0..=level).collect();
    let conv = BasisConversion::new(ctx, &p_idx, &q_idx, true);
    let src: Vec<&[u64]> = p_part.iter().map(|x| x.as_slice()).collect();
    let src_m: Vec<Modulus> = p_idx.iter().map(|&i| *ctx.modulus(i)).collect();
    let tgt_m: Vec<Modulus> = q_idx.iter().map(|&i| *ctx.modulus(i)).collect();
    let converted = conv.convert(&src, &src_m, &tgt_m);
    count(Primitive::ModMul, limbs.len());
    count(Primitive::Add, limbs.len());
    limbs
        .par_iter_mut()
        .zip(converted)
        .enumerate()
        .for_each(|(i, (x, mut c))| {
            let m = ctx.modulus(i);
            ring.table(i).forward(&mut c);
            lanes::sub_mul_const(m, x, &c, ctx.p_inv(i).value);
        });
    RnsPoly { limbs, ntt: true }
}

/// Key switching of one polynomial: `decompose` then `switch`.
pub fn key_switch(ctx: &Context, d: &RnsPoly, key: &SwitchingKey) -> (RnsPoly, RnsPoly) {
    switch(ctx, &decompose(ctx, d), None, key)
}

/// Key switching of `σ_g(d)` from a decomposition of `d` (hoisted rotation).
pub fn switch_automorphism(
    ctx: &Context,
    dec: &Decomposed,
    g: usize,
    key: &SwitchingKey,
) -> (RnsPoly, RnsPoly) {
    switch(ctx, dec, Some(g), key)
}
