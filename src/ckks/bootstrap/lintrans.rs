//! Plaintext-diagonal matrix products on ciphertexts by baby-step giant-step.
//!
//! A [`DiagonalMatrix`] with diagonals `k = s (g n1 + j)` (a common stride `s`) is applied as
//! `sum_g rot_{g n1 s}( sum_j rot_{-g n1 s}(d_k) * rot_{j s}(ct) )`: the baby rotations
//! `rot_{j s}(ct)` share one decomposition (hoisting), each giant step costs one rotation, and
//! the whole product one rescale. [`BsgsPlan`] fixes the split (and so the rotation keys a
//! client must generate) without encoding anything.

use std::collections::BTreeMap;
use std::sync::Arc;

use num_complex::Complex64;

use super::dft::DiagonalMatrix;
use crate::ckks::evaluator::Evaluator;
use rayon::prelude::*;

use crate::ckks::math::lanes;
use crate::ckks::math::tally::{Primitive, count};
use crate::ckks::scheme::ciphertext::Ciphertext;
use crate::ckks::scheme::context::Context;
use crate::ckks::scheme::encoder::Encoder;
use crate::ckks::scheme::engine::Engine;
use crate::ckks::scheme::error::CkksError;
use crate::ckks::scheme::inner_product::{PlainLimb, inner_product};

/// Relative cost of a hoisted baby rotation against a giant rotation (the decomposition is
/// shared, the inner product is not).
const BABY_COST: f64 = 0.6;

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

/// The form of the diagonal with slots `slots` at `pt_scale` for ciphertexts with `limbs`
/// primes: periodic where the slots repeat, else dense.
fn encode_diagonal(
    ctx: &Context,
    limbs: usize,
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
    let values = (0..limbs)
        .into_par_iter()
        .map(|i| {
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
            let form = encode_diagonal(ctx, level + 1, &rotated, pt_scale)?;
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

    /// `sum_j diag_j * babies[j]` for one giant step ([`inner_product`]): each dense
    /// diagonal reduced and transformed per prime as it is used, each periodic one expanded
    /// from its runs.
    fn inner_sum(&self, babies: &[Ciphertext], diags: &[Diagonal]) -> Ciphertext {
        let ring = self.ctx.ring();
        // Per limb: each dense diagonal reduced (and transformed: counted by the NTT), each
        // periodic one expanded (a limb written from a table, counted as a permutation).
        let limbs = self.level + 1;
        let periodic = diags
            .iter()
            .filter(|d| matches!(d.form, DiagonalForm::Periodic { .. }))
            .count();
        count(Primitive::ModMul, (diags.len() - periodic) * limbs);
        count(Primitive::Permute, periodic * limbs);
        let (c0, c1) = inner_product(
            &self.ctx,
            self.level,
            diags.len(),
            |t| &babies[diags[t].baby],
            |t, i, pt| match &diags[t].form {
                DiagonalForm::Dense(coeffs) => {
                    lanes::reduce_signed_wide(&ring.moduli()[i], coeffs, pt);
                    ring.table(i).forward(pt);
                    PlainLimb::Written
                }
                &DiagonalForm::Periodic { run, ref values } => {
                    for (r, &v) in pt.chunks_mut(run).zip(&values[i]) {
                        r.fill(v);
                    }
                    PlainLimb::Written
                }
            },
        );
        Ciphertext {
            c0,
            c1,
            level: self.level,
            scale: babies[0].scale * self.pt_scale,
            context_id: babies[0].context_id,
        }
    }

    /// Applies the matrix and rescales once: the output is one level down at scale
    /// `scale(ct) * pt_scale / q_level`.
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
        let babies = eng.rotate_hoisted(ct, &self.baby)?;
        let mut acc: Option<Ciphertext> = None;
        for (giant, diags) in &self.giants {
            let inner = self.inner_sum(&babies, diags);
            let rotated = eng.rotate(&inner, *giant)?;
            acc = Some(match acc {
                None => rotated,
                Some(a) => eng.add(&a, &rotated)?,
            });
        }
        // Invariant: a matrix has at least one diagonal.
        eng.rescale(&acc.expect("non-empty matrix"))
    }
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
        let limbs = 3;
        let mut periodic_groups = 0;
        let groups = coeffs_to_slots(n, 3, 1.0)
            .into_iter()
            .chain(slots_to_coeffs(n, 3, 1.0));
        for m in groups {
            let mut periodic = 0;
            for d in m.diagonals().values() {
                let dense = ctx.encoder().encode_coefficients("test", d, scale).unwrap();
                let DiagonalForm::Periodic { run, values } =
                    encode_diagonal(ctx, limbs, d, scale).unwrap()
                else {
                    continue;
                };
                periodic += 1;
                for (i, values) in values.iter().enumerate() {
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
