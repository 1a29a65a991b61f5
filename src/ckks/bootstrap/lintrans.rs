//! Plaintext-diagonal matrix products on ciphertexts by baby-step giant-step.
//!
//! A [`DiagonalMatrix`] with diagonals `k = s (g n1 + j)` (a common stride `s`) is applied as
//! `sum_g rot_{g n1 s}( sum_j rot_{-g n1 s}(d_k) * rot_{j s}(ct) )`: the baby rotations
//! `rot_{j s}(ct)` share one decomposition (hoisting), each giant step costs one rotation, and
//! the whole product one rescale. [`BsgsPlan`] fixes the split (and so the rotation keys a
//! client must generate) without encoding anything.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use num_complex::Complex64;

use super::dft::DiagonalMatrix;
use crate::ckks::evaluator::Evaluator;
use rayon::prelude::*;

use crate::ckks::math::lanes;
use crate::ckks::math::tally::{Primitive, count};
use crate::ckks::ring::RnsPoly;
use crate::ckks::scheme::ciphertext::Ciphertext;
use crate::ckks::scheme::context::Context;
use crate::ckks::scheme::encoder::Encoder;
use crate::ckks::scheme::engine::Engine;
use crate::ckks::scheme::error::CkksError;
use crate::ckks::scheme::inner_product::{PlainLimb, inner_product};
use crate::ckks::scheme::keyswitch::{add_qp, add_qp_pair, decompose, mod_down, switch_qp};

/// Relative cost of a baby rotation against a giant rotation: with double hoisting a baby
/// rotation is a key-switching inner product and an automorphism over `Q * P`, a giant one
/// adds a ModDown and a decomposition. 0.35 takes 16 baby and 4 giant steps for the 63
/// diagonals of the middle groups at N = 2^16 (8 and 8 at 0.6, tuned for single hoisting):
/// bootstrap 0.94x at `fgb-like`, for 8 more rotation keys.
const BABY_COST: f64 = 0.35;

/// Baby rotations held at once in [`EncodedTransform::apply`].
const BABY_CHUNK: usize = 8;

/// The baby-step giant-step split of one matrix's diagonals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BsgsPlan {
    /// Number of slots.
    n: usize,
    /// Common stride of the diagonals.
    stride: usize,
    /// Baby-step count bound.
    n1: usize,
    /// Per diagonal `k`: (giant index g, baby index j), with `k = stride (g n1 + j)` signed.
    entries: BTreeMap<usize, (isize, usize)>,
}

impl BsgsPlan {
    /// The split minimising rotations (hoisted baby steps weighted by [`BABY_COST`]).
    pub fn new(m: &DiagonalMatrix) -> Self {
        let n = m.n();
        let signed: Vec<(usize, isize)> = m
            .diagonals()
            .keys()
            .map(|&k| {
                (
                    k,
                    if k > n / 2 {
                        k as isize - n as isize
                    } else {
                        k as isize
                    },
                )
            })
            .collect();
        let stride = signed
            .iter()
            .map(|&(_, k)| k.unsigned_abs())
            .filter(|&k| k != 0)
            .fold(0, gcd)
            .max(1);
        let mut best: Option<(f64, Self)> = None;
        let mut n1 = 1;
        while n1 <= n {
            let entries: BTreeMap<usize, (isize, usize)> = signed
                .iter()
                .map(|&(k, s)| {
                    let kk = s / stride as isize;
                    let j = kk.rem_euclid(n1 as isize);
                    (k, ((kk - j) / n1 as isize, j as usize))
                })
                .collect();
            let plan = Self {
                n,
                stride,
                n1,
                entries,
            };
            let cost = BABY_COST * (plan.baby_steps().len() as f64 - 1.0)
                + (plan.giant_steps().len() as f64 - 1.0);
            if best.as_ref().is_none_or(|(c, _)| cost < *c) {
                best = Some((cost, plan));
            }
            n1 *= 2;
        }
        // Invariant: the loop runs at least once (n >= 1).
        best.expect("at least one split").1
    }

    /// Baby rotation steps `j s`, sorted.
    pub fn baby_steps(&self) -> Vec<isize> {
        let mut v: Vec<isize> = self
            .entries
            .values()
            .map(|&(_, j)| (j * self.stride) as isize)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Giant rotation steps `g n1 s`, sorted.
    pub fn giant_steps(&self) -> Vec<isize> {
        let mut v: Vec<isize> = self.entries.values().map(|&(g, _)| self.giant(g)).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    fn giant(&self, g: isize) -> isize {
        g * (self.n1 * self.stride) as isize
    }

    /// Every rotation step the product needs keys for (0 excluded).
    pub fn rotation_steps(&self) -> Vec<isize> {
        let mut v: Vec<isize> = self
            .baby_steps()
            .into_iter()
            .chain(self.giant_steps())
            .filter(|&s| s != 0)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// One diagonal, pre-rotated and encoded, and the baby rotation it multiplies.
struct Diagonal {
    baby: usize,
    form: DiagonalForm,
}

/// How a diagonal's plaintext is kept between uses.
enum DiagonalForm {
    /// The integer coefficients `round(pt_scale * p)`: 16 bytes per coefficient instead of 8
    /// per coefficient *per prime* (12 times less at the top of `fgb-like`), reduced and
    /// transformed to each prime's NTT domain when applied.
    Dense(Vec<i128>),
    /// A diagonal whose slots repeat with a period `P < N/2` (all but one group of the DFT's
    /// butterflies: a stage of length `len` depends on the slot index modulo `len`). Its
    /// plaintext is `q(X^s)` with `s = N / 2P` and `q` of degree `< 2P` (the slots of a
    /// power-of-5 rotation group repeat exactly when the polynomial lies in that subring), so
    /// its NTT evaluations, in `tfhe-ntt`'s bit-reversed order, are constant on runs of `s`:
    /// kept as the `2P` run values per prime, a few kilobytes, and expanded when applied
    /// instead of reduced and transformed.
    Periodic { run: usize, values: Vec<Vec<u64>> },
}

/// The smallest power-of-two period of `d` (up to a relative `1e-12`), `d.len()` if none.
fn slot_period(d: &[Complex64]) -> usize {
    let n = d.len();
    let tol = 1e-12 * d.iter().map(|v| v.norm()).fold(0.0, f64::max);
    let mut p = 1;
    while p < n {
        if (p..n).all(|i| (d[i] - d[i % p]).norm() <= tol) {
            return p;
        }
        p *= 2;
    }
    n
}

/// The form of the diagonal with slots `slots` at `pt_scale` for products over the ring's
/// primes `primes`: periodic where the slots repeat (run values per entry of `primes`), else
/// dense.
fn encode_diagonal(
    ctx: &Context,
    primes: &[usize],
    slots: &[Complex64],
    pt_scale: f64,
) -> Result<DiagonalForm, CkksError> {
    let what = "bootstrap transform";
    let period = slot_period(slots);
    if period == slots.len() {
        return Ok(DiagonalForm::Dense(
            ctx.encoder().encode_coefficients(what, slots, pt_scale)?,
        ));
    }
    // q(Y), Y = X^run: the polynomial of `period` slots in the ring of degree 2 * period.
    let small = Encoder::new(2 * period).encode_coefficients(what, &slots[..period], pt_scale)?;
    let ring = ctx.ring();
    let n = ctx.n();
    let run = n / small.len();
    let mut spread = vec![0i128; n];
    for (k, &c) in small.iter().enumerate() {
        spread[k * run] = c;
    }
    let values = primes
        .par_iter()
        .map(|&i| {
            let mut pt = vec![0u64; n];
            lanes::reduce_signed_wide(&ring.moduli()[i], &spread, &mut pt);
            ring.table(i).forward(&mut pt);
            debug_assert!(
                pt.chunks(run).all(|r| r.iter().all(|&v| v == r[0])),
                "NTT of a periodic diagonal not constant on runs of {run}"
            );
            pt.iter().step_by(run).copied().collect()
        })
        .collect();
    Ok(DiagonalForm::Periodic { run, values })
}

/// A matrix encoded for ciphertexts at one level: per giant step, its pre-rotated diagonals
/// at scale `pt_scale`.
pub struct EncodedTransform {
    ctx: Arc<Context>,
    level: usize,
    pt_scale: f64,
    baby: Vec<isize>,
    giants: Vec<(isize, Vec<Diagonal>)>,
}

impl EncodedTransform {
    /// Encodes `m` for inputs at `level`, every diagonal at scale `pt_scale`. Fails if a
    /// coefficient does not fit in 120 bits (a scale far too large for the chain).
    pub fn new(
        ctx: &Arc<Context>,
        m: &DiagonalMatrix,
        level: usize,
        pt_scale: f64,
    ) -> Result<Self, CkksError> {
        let plan = BsgsPlan::new(m);
        let n = m.n();
        let baby = plan.baby_steps();
        let mut giants: BTreeMap<isize, Vec<Diagonal>> = BTreeMap::new();
        for (k, d) in m.diagonals() {
            let (g, j) = plan.entries[k];
            let shift = plan.giant(g).rem_euclid(n as isize) as usize;
            // p[i] = d[i - G]: rotating the inner sum by G lines it up with diagonal k.
            let rotated: Vec<Complex64> = (0..n).map(|i| d[(i + n - shift) % n]).collect();
            let form = encode_diagonal(ctx, &ctx.qp_indices(level), &rotated, pt_scale)?;
            // Invariant: every baby index of the plan is in `baby`.
            let idx = baby
                .binary_search(&((j * plan.stride) as isize))
                .expect("baby step of the plan");
            giants
                .entry(plan.giant(g))
                .or_default()
                .push(Diagonal { baby: idx, form });
        }
        Ok(Self {
            ctx: ctx.clone(),
            level,
            pt_scale,
            baby,
            giants: giants.into_iter().collect(),
        })
    }

    /// Level the input must be at.
    pub fn level(&self) -> usize {
        self.level
    }

    /// `sum_j diag_j * babies[j - first]` for one giant step over `Q_level * P` (limbs in
    /// [`Context::qp_indices`] order; [`inner_product`]): each dense diagonal reduced and
    /// transformed per prime as it is used, each periodic one expanded from its runs.
    fn inner_sum(
        &self,
        babies: &[[Vec<Vec<u64>>; 2]],
        first: usize,
        diags: &[&Diagonal],
    ) -> [Vec<Vec<u64>>; 2] {
        let ring = self.ctx.ring();
        let qp = self.ctx.qp_indices(self.level);
        // Per limb: each dense diagonal reduced (and transformed: counted by the NTT), each
        // periodic one expanded (a limb written from a table, counted as a permutation).
        let periodic = diags
            .iter()
            .filter(|d| matches!(d.form, DiagonalForm::Periodic { .. }))
            .count();
        count(Primitive::ModMul, (diags.len() - periodic) * qp.len());
        count(Primitive::Permute, periodic * qp.len());
        inner_product(
            &self.ctx,
            &qp,
            diags.len(),
            |t| {
                let [a, b] = &babies[diags[t].baby - first];
                [&a[..], &b[..]]
            },
            |t, k, pt| match &diags[t].form {
                DiagonalForm::Dense(coeffs) => {
                    lanes::reduce_signed_wide(&ring.moduli()[qp[k]], coeffs, pt);
                    ring.table(qp[k]).forward(pt);
                    PlainLimb::Written
                }
                &DiagonalForm::Periodic { run, ref values } => {
                    for (r, &v) in pt.chunks_mut(run).zip(&values[k]) {
                        r.fill(v);
                    }
                    PlainLimb::Written
                }
            },
        )
    }

    /// Adds to `sum` the inner sum of the diagonals in `diags` whose baby steps are in `chunk`
    /// (`babies` holds those rotations, in order).
    fn add_inner_sum(
        &self,
        sum: &mut Option<[Vec<Vec<u64>>; 2]>,
        babies: &[[Vec<Vec<u64>>; 2]],
        chunk: &Range<usize>,
        diags: &[Diagonal],
    ) {
        let diags: Vec<&Diagonal> = diags.iter().filter(|d| chunk.contains(&d.baby)).collect();
        if diags.is_empty() {
            return;
        }
        let part = self.inner_sum(babies, chunk.start, &diags);
        add_qp_pair(&self.ctx, &self.ctx.qp_indices(self.level), sum, part);
    }

    /// Applies the matrix and rescales once: the output is one level down at scale
    /// `scale(ct) * pt_scale / q_level`.
    ///
    /// Double hoisting (Bossuat et al., Eurocrypt 2021): the baby rotations share one
    /// decomposition and stay in `Q_level * P`, scaled by P, without their ModDowns; each
    /// giant step's inner sum is taken there, only its `c1` is brought down to be key
    /// switched, and the giant rotations are summed in `Q_level * P` too, so the whole
    /// product takes one ModDown per giant step's `c1` and one at the end instead of one per
    /// rotation.
    pub fn apply(&self, eng: &Engine, ct: &Ciphertext) -> Result<Ciphertext, CkksError> {
        self.ctx.check_id("ciphertext", ct.context_id)?;
        if ct.level != self.level {
            return Err(crate::ckks::evaluator::EvalError::LevelMismatch {
                op: "bootstrap transform",
                left: ct.level,
                right: self.level,
            }
            .into());
        }
        let ctx = &*self.ctx;
        let qp = ctx.qp_indices(self.level);
        let keys = self
            .baby
            .iter()
            .map(|&s| eng.rotation_key(s))
            .collect::<Result<Vec<_>, _>>()?;
        let dec = keys
            .iter()
            .any(Option::is_some)
            .then(|| decompose(ctx, &ct.c1));
        // The baby rotations are made BABY_CHUNK at a time: each chunk but the last is summed
        // into every giant step's inner sum before the next is made, the last one as each
        // giant step comes (16 baby rotations over Q * P at the top of `fgb-like` would hold
        // half a gigabyte at once).
        let make_babies = |chunk: &Range<usize>| -> Vec<[Vec<Vec<u64>>; 2]> {
            keys[chunk.clone()]
                .iter()
                .map(|key| match (key, &dec) {
                    (Some((g, key)), Some(dec)) => {
                        let [mut k0, k1] = switch_qp(ctx, dec, Some(*g), key);
                        add_times_p(ctx, &mut k0, &ctx.automorphism_ntt(&ct.c0, *g));
                        [k0, k1]
                    }
                    _ => [times_p(ctx, &qp, &ct.c0), times_p(ctx, &qp, &ct.c1)],
                })
                .collect()
        };
        let chunks: Vec<Range<usize>> = (0..keys.len())
            .step_by(BABY_CHUNK)
            .map(|first| first..(first + BABY_CHUNK).min(keys.len()))
            .collect();
        // Invariant: a matrix has at least one diagonal, so at least one baby step.
        let (last, earlier) = chunks.split_last().expect("at least one baby step");
        let mut inner: Vec<Option<[Vec<Vec<u64>>; 2]>> = vec![None; self.giants.len()];
        for chunk in earlier {
            let babies = make_babies(chunk);
            for ((_, diags), sum) in self.giants.iter().zip(&mut inner) {
                self.add_inner_sum(sum, &babies, chunk, diags);
            }
        }
        let babies = make_babies(last);
        drop(dec);
        let mut acc: Option<[Vec<Vec<u64>>; 2]> = None;
        for ((giant, diags), mut sum) in self.giants.iter().zip(inner) {
            self.add_inner_sum(&mut sum, &babies, last, diags);
            // Invariant: every giant step has a diagonal, so some chunk summed it.
            let [u0, u1] = sum.expect("an inner sum per giant step");
            let part = match eng.rotation_key(*giant)? {
                None => [u0, u1],
                Some((g, key)) => {
                    let c1 = mod_down(ctx, self.level, u1);
                    let [mut k0, k1] = switch_qp(ctx, &decompose(ctx, &c1), Some(g), key);
                    let r0 = ctx.automorphism_ntt(
                        &RnsPoly {
                            limbs: u0,
                            ntt: true,
                        },
                        g,
                    );
                    add_qp(ctx, &qp, &mut k0, &r0.limbs);
                    [k0, k1]
                }
            };
            add_qp_pair(ctx, &qp, &mut acc, part);
        }
        // Invariant: a matrix has at least one diagonal.
        let [a0, a1] = acc.expect("non-empty matrix");
        let (c0, c1) = rayon::join(
            || mod_down(ctx, self.level, a0),
            || mod_down(ctx, self.level, a1),
        );
        let out = Ciphertext {
            c0,
            c1,
            level: self.level,
            scale: ct.scale * self.pt_scale,
            context_id: ct.context_id,
        };
        eng.rescale(&out)
    }
}

/// `P a` over `Q_level * P` (limbs in `qp` order; `a` over `q_0..=q_level`, NTT form): the
/// residues modulo P's primes are zero.
fn times_p(ctx: &Context, qp: &[usize], a: &RnsPoly) -> Vec<Vec<u64>> {
    let p_mod_q: Vec<u64> = (0..a.limbs.len()).map(|i| ctx.p_mod_q(i)).collect();
    let mut limbs = ctx.ring().mul_residues(a, &p_mod_q).limbs;
    limbs.resize(qp.len(), vec![0; ctx.n()]);
    limbs
}

/// `acc += P a` on the Q limbs of an `Q_level * P` polynomial (`a` over `q_0..=q_level`, NTT
/// form; P's residues of `P a` are zero).
fn add_times_p(ctx: &Context, acc: &mut [Vec<u64>], a: &RnsPoly) {
    count(Primitive::ModMul, a.limbs.len());
    acc.par_iter_mut()
        .zip(&a.limbs)
        .enumerate()
        .for_each(|(i, (z, x))| lanes::mul_add_const(ctx.modulus(i), z, x, ctx.p_mod_q(i)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ckks::bootstrap::dft::{coeffs_to_slots, slots_to_coeffs};
    use crate::ckks::bootstrap::tests::boot_setup;

    #[test]
    fn the_split_covers_every_diagonal_once() {
        for m in coeffs_to_slots(1 << 10, 3, 1.0) {
            let plan = BsgsPlan::new(&m);
            let n = m.n() as isize;
            for (&k, &(g, j)) in &plan.entries {
                let k2 = (plan.giant(g) + (j * plan.stride) as isize).rem_euclid(n);
                assert_eq!(k2 as usize, k);
            }
            let rot = plan.baby_steps().len() + plan.giant_steps().len();
            assert!(
                rot < m.diagonals().len(),
                "{rot} rotations for {}",
                m.diagonals().len()
            );
        }
    }

    /// Every diagonal of both transforms is encoded once densely and once in the form the
    /// transform keeps: the periodic forms' expanded NTT values are the dense encoding's up to
    /// the rounding of its coefficients, and every group but one is periodic.
    #[test]
    fn periodic_diagonals_expand_to_their_dense_encoding() {
        let setup = boot_setup(1);
        let ctx = &setup.ctx;
        let (ring, n) = (ctx.ring(), ctx.n());
        let scale = 2f64.powi(40);
        // Three Q primes and the special primes P, as the products in Q * P use them.
        let primes = ctx.qp_indices(2);
        let mut periodic_groups = 0;
        let groups = coeffs_to_slots(n, 3, 1.0)
            .into_iter()
            .chain(slots_to_coeffs(n, 3, 1.0));
        for m in groups {
            let mut periodic = 0;
            for d in m.diagonals().values() {
                let dense = ctx.encoder().encode_coefficients("test", d, scale).unwrap();
                let DiagonalForm::Periodic { run, values } =
                    encode_diagonal(ctx, &primes, d, scale).unwrap()
                else {
                    continue;
                };
                periodic += 1;
                assert_eq!(values.len(), primes.len());
                for (&i, values) in primes.iter().zip(&values) {
                    let q = ring.moduli()[i];
                    // Reference: the dense coefficients, NTT'd; the difference is the NTT of
                    // the coefficients' rounding differences (a few units each), so compare
                    // through the inverse transform.
                    let mut expanded: Vec<u64> = values
                        .iter()
                        .flat_map(|&v| std::iter::repeat_n(v, run))
                        .collect();
                    assert_eq!(expanded.len(), n);
                    ring.table(i).inverse(&mut expanded);
                    for (k, (&e, &c)) in expanded.iter().zip(&dense).enumerate() {
                        let e = if e > q.value / 2 {
                            e as i128 - q.value as i128
                        } else {
                            e as i128
                        };
                        assert!((e - c).abs() <= 4, "limb {i} coefficient {k}: {e} vs {c}");
                    }
                }
            }
            if periodic == m.diagonals().len() {
                periodic_groups += 1;
            } else {
                assert_eq!(periodic, 0, "a group is periodic in all diagonals or none");
            }
        }
        assert_eq!(periodic_groups, 4, "two groups of each transform repeat");
    }
}
