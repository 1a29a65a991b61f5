//! The server-side evaluator: every [`Evaluator`] operation on real RNS-CKKS ciphertexts.
//!
//! An [`Engine`] is built from a [`Context`] and [`EvaluationKeys`] only; it never sees a
//! secret key. Operands from another context are refused with
//! [`CkksError::ContextMismatch`]; levels, scales and rotation keys are checked as the
//! simulator checks them ([`crate::ckks::sim`]), so a circuit that plans on the simulator runs
//! here unchanged.

use std::borrow::Cow;
use std::sync::Arc;

use rayon::prelude::*;

use crate::ckks::evaluator::{EvalError, Evaluator, check_scale, normalize_step, scales_match};
use crate::ckks::math::lanes;
use crate::ckks::math::tally::{Primitive, count};
use crate::ckks::ring::RnsPoly;
use crate::ckks::scheme::ciphertext::{Ciphertext, CompactPlaintext, Plaintext};
use crate::ckks::scheme::context::Context;
use crate::ckks::scheme::encryption::{encode, encode_compact, expand};
use crate::ckks::scheme::error::CkksError;
use crate::ckks::scheme::inner_product::{PlainLimb, inner_product_q};
use crate::ckks::scheme::keys::{EvaluationKeys, SwitchingKey};
use crate::ckks::scheme::keyswitch::{
    add_qp_pair, decompose, key_switch, mod_down, switch_automorphism, switch_qp,
};

/// Evaluates on ciphertexts with evaluation keys.
pub struct Engine {
    ctx: Arc<Context>,
    keys: EvaluationKeys,
}

impl Engine {
    /// An engine over `ctx` holding `keys`.
    pub fn new(ctx: &Arc<Context>, keys: EvaluationKeys) -> Result<Self, CkksError> {
        for k in keys.relin.iter().chain(keys.galois.values()) {
            ctx.check_id("evaluation key", k.context_id)?;
        }
        Ok(Self {
            ctx: ctx.clone(),
            keys,
        })
    }

    /// The context.
    pub fn context(&self) -> &Arc<Context> {
        &self.ctx
    }

    /// Complex conjugation of the slots (the identity on real slot vectors; bootstrapping
    /// and packed pairs use it); needs the conjugation key.
    pub fn conjugate(&self, a: &Ciphertext) -> Result<Ciphertext, CkksError> {
        self.check(a)?;
        let g = self.ctx.conjugation_element();
        let key = self
            .keys
            .galois
            .get(&g)
            .ok_or(CkksError::MissingConjugationKey)?;
        Ok(self.apply_galois(a, g, key))
    }

    /// Multiplies the slots by `i` (the monomial `X^(N/2)`, which is `i` at every slot's
    /// root): no level, no key.
    pub fn mul_by_i(&self, a: &Ciphertext) -> Result<Ciphertext, CkksError> {
        self.check(a)?;
        let ring = self.ctx.ring();
        let n = self.ctx.n();
        let mut mono = vec![0i64; n];
        mono[n / 2] = 1;
        let mut x = ring.from_signed(&mono, a.level + 1);
        ring.to_ntt(&mut x);
        let mut out = a.clone();
        ring.mul_assign(&mut out.c0, &x);
        ring.mul_assign(&mut out.c1, &x);
        Ok(out)
    }

    fn check(&self, a: &Ciphertext) -> Result<(), CkksError> {
        self.ctx.check_id("ciphertext", a.context_id)
    }

    fn check_pair(
        &self,
        op: &'static str,
        a: &Ciphertext,
        b: &Ciphertext,
    ) -> Result<(), CkksError> {
        self.check(a)?;
        self.check(b)?;
        if a.level != b.level {
            return Err(EvalError::LevelMismatch {
                op,
                left: a.level,
                right: b.level,
            }
            .into());
        }
        Ok(())
    }

    /// [`Engine::check_pair`] for operands that are summed: equal scales too.
    fn check_summands(
        &self,
        op: &'static str,
        a: &Ciphertext,
        b: &Ciphertext,
    ) -> Result<(), CkksError> {
        self.check_pair(op, a, b)?;
        if !scales_match(a.scale, b.scale) {
            return Err(EvalError::ScaleMismatch {
                op,
                left: a.scale,
                right: b.scale,
            }
            .into());
        }
        Ok(())
    }

    /// Refuses non-finite or non-positive scales and scales that outgrow `Q_level` (as the
    /// simulator does).
    fn check_scale(&self, op: &'static str, scale: f64, level: usize) -> Result<(), CkksError> {
        Ok(check_scale(op, scale, level, self.ctx.params().q())?)
    }

    /// The Galois element and key of a left rotation by `step`; `None` for the identity.
    pub(crate) fn rotation_key(
        &self,
        step: isize,
    ) -> Result<Option<(usize, &SwitchingKey)>, CkksError> {
        let slots = self.slots();
        let k = normalize_step(step, slots);
        if k == 0 {
            return Ok(None);
        }
        let g = self.ctx.galois_element(k);
        let key = self
            .keys
            .galois
            .get(&g)
            .ok_or(EvalError::MissingRotationKey { step: k, slots })?;
        Ok(Some((g, key)))
    }

    fn apply_galois(&self, a: &Ciphertext, g: usize, key: &SwitchingKey) -> Ciphertext {
        let c1 = self.ctx.automorphism_ntt(&a.c1, g);
        let (k0, k1) = key_switch(&self.ctx, &c1, key);
        let mut c0 = self.ctx.automorphism_ntt(&a.c0, g);
        self.ctx.ring().add_assign(&mut c0, &k0);
        a.with_polys(c0, k1)
    }

    /// Checks the terms of an inner product (ciphertext, plaintext level, scale and context):
    /// at least one, every ciphertext at one level, every plaintext at or above it, every
    /// product at one scale. Returns that level and scale.
    fn check_terms<'a>(
        &self,
        op: &'static str,
        terms: impl Iterator<Item = (&'a Ciphertext, usize, f64, u64)>,
    ) -> Result<(usize, f64), CkksError> {
        let mut first: Option<(usize, f64)> = None;
        for (a, p_level, p_scale, p_context) in terms {
            self.check(a)?;
            self.ctx.check_id("plaintext", p_context)?;
            let (level, scale) = *first.get_or_insert((a.level, a.scale * p_scale));
            if a.level != level {
                return Err(EvalError::LevelMismatch {
                    op,
                    left: a.level,
                    right: level,
                }
                .into());
            }
            if p_level < level {
                return Err(EvalError::OutOfLevels {
                    op,
                    level: p_level,
                    needed: level,
                }
                .into());
            }
            if !scales_match(a.scale * p_scale, scale) {
                return Err(EvalError::ScaleMismatch {
                    op,
                    left: a.scale * p_scale,
                    right: scale,
                }
                .into());
            }
        }
        let (level, scale) =
            first.ok_or_else(|| EvalError::InvalidInput("an inner product of no terms".into()))?;
        self.check_scale(op, scale, level)?;
        Ok((level, scale))
    }

    /// The residues of the integer `k` modulo `q_0..=q_level`.
    fn residues(&self, k: i128, level: usize) -> Vec<u64> {
        self.ctx.ring().moduli()[..=level]
            .iter()
            .map(|m| k.rem_euclid(m.value as i128) as u64)
            .collect()
    }

    /// Rescales one polynomial by its last prime `q_l`: `(a - [a]_{q_l}) / q_l`, with the
    /// centred remainder (rounding division).
    fn rescale_poly(&self, a: &RnsPoly) -> RnsPoly {
        let ring = self.ctx.ring();
        let l = a.limb_count() - 1;
        let ql = *self.ctx.modulus(l);
        let mut last = a.limbs[l].clone();
        ring.table(l).inverse(&mut last);
        let inv = self.ctx.rescale_inv(l);
        count(Primitive::ModMul, l);
        count(Primitive::Add, l);
        let centred: Vec<i64> = last.iter().map(|&v| ql.centered(v)).collect();
        let limbs = a.limbs[..l]
            .par_iter()
            .enumerate()
            .map(|(i, x)| {
                let m = self.ctx.modulus(i);
                let mut r = vec![0u64; x.len()];
                lanes::reduce_signed(m, &centred, &mut r);
                ring.table(i).forward(&mut r);
                // (x - r) / q_l as (r - x) * (-1 / q_l), written over r.
                lanes::sub_mul_const(m, &mut r, x, m.neg(inv[i].value));
                r
            })
            .collect();
        RnsPoly { limbs, ntt: true }
    }
}

/// Integer `round(c * scale)` for constants, refused when not finite or beyond 2^126.
fn integer_of(op: &'static str, c: f64, scale: f64) -> Result<i128, CkksError> {
    let x = (c * scale).round();
    if !x.is_finite() || !c.is_finite() {
        return Err(EvalError::NotFinite { op }.into());
    }
    if x.abs() >= 2f64.powi(126) {
        return Err(EvalError::BadScale {
            op,
            scale,
            level: 0,
            reason: "the encoded constant exceeds 2^126",
        }
        .into());
    }
    Ok(x as i128)
}

impl Evaluator for Engine {
    type Ciphertext = Ciphertext;
    type Plaintext = Plaintext;
    type Compact = CompactPlaintext;
    type Error = CkksError;

    fn slots(&self) -> usize {
        self.ctx.params().slots()
    }

    fn top_level(&self) -> usize {
        self.ctx.params().top_level()
    }

    fn default_scale(&self) -> f64 {
        self.ctx.params().default_scale()
    }

    fn rescale_prime(&self, level: usize) -> u64 {
        self.ctx.params().q()[level]
    }

    fn level(&self, ct: &Ciphertext) -> usize {
        ct.level
    }

    fn scale(&self, ct: &Ciphertext) -> f64 {
        ct.scale
    }

    fn plaintext_level(&self, pt: &Plaintext) -> usize {
        pt.level
    }

    fn plaintext_scale(&self, pt: &Plaintext) -> f64 {
        pt.scale
    }

    fn add(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext, CkksError> {
        self.check_summands("add", a, b)?;
        let ring = self.ctx.ring();
        let (c0, c1) = rayon::join(|| ring.add(&a.c0, &b.c0), || ring.add(&a.c1, &b.c1));
        Ok(Ciphertext { c0, c1, ..*a })
    }

    fn sub(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext, CkksError> {
        self.check_summands("sub", a, b)?;
        let ring = self.ctx.ring();
        let (c0, c1) = rayon::join(|| ring.sub(&a.c0, &b.c0), || ring.sub(&a.c1, &b.c1));
        Ok(Ciphertext { c0, c1, ..*a })
    }

    fn add_const(&self, a: &Ciphertext, c: f64) -> Result<Ciphertext, CkksError> {
        self.check(a)?;
        let k = integer_of("add_const", c, a.scale)?;
        let c0 = self
            .ctx
            .ring()
            .add_residues(&a.c0, &self.residues(k, a.level));
        Ok(a.with_polys(c0, a.c1.clone()))
    }

    fn mul_const(&self, a: &Ciphertext, c: f64, scale: f64) -> Result<Ciphertext, CkksError> {
        self.check(a)?;
        if !c.is_finite() {
            return Err(EvalError::NotFinite { op: "mul_const" }.into());
        }
        self.check_scale("mul_const", scale, a.level)?;
        let out_scale = a.scale * scale;
        self.check_scale("mul_const", out_scale, a.level)?;
        let k = self.residues(integer_of("mul_const", c, scale)?, a.level);
        let ring = self.ctx.ring();
        let (c0, c1) = rayon::join(
            || ring.mul_residues(&a.c0, &k),
            || ring.mul_residues(&a.c1, &k),
        );
        Ok(Ciphertext {
            scale: out_scale,
            ..a.with_polys(c0, c1)
        })
    }

    fn encode(&self, values: &[f64], level: usize, scale: f64) -> Result<Plaintext, CkksError> {
        if level > self.ctx.params().max_level() {
            return Err(CkksError::LevelTooHigh {
                level,
                max: self.ctx.params().max_level(),
            });
        }
        self.check_scale("encode", scale, level)?;
        encode(&self.ctx, "encode", values, level, scale)
    }

    fn encode_compact(
        &self,
        values: &[f64],
        level: usize,
        scale: f64,
    ) -> Result<CompactPlaintext, CkksError> {
        self.check_scale("encode", scale, level)?;
        encode_compact(&self.ctx, "encode", values, level, scale)
    }

    fn expand(&self, c: &CompactPlaintext) -> Result<Plaintext, CkksError> {
        expand(&self.ctx, c)
    }

    fn add_plain(&self, a: &Ciphertext, p: &Plaintext) -> Result<Ciphertext, CkksError> {
        self.check(a)?;
        self.ctx.check_id("plaintext", p.context_id)?;
        if p.level < a.level {
            return Err(EvalError::OutOfLevels {
                op: "add_plain",
                level: p.level,
                needed: a.level,
            }
            .into());
        }
        if !scales_match(a.scale, p.scale) {
            return Err(EvalError::ScaleMismatch {
                op: "add_plain",
                left: a.scale,
                right: p.scale,
            }
            .into());
        }
        let c0 = self.ctx.ring().add(&a.c0, &p.poly);
        Ok(a.with_polys(c0, a.c1.clone()))
    }

    fn mul_plain(&self, a: &Ciphertext, p: &Plaintext) -> Result<Ciphertext, CkksError> {
        self.check(a)?;
        self.ctx.check_id("plaintext", p.context_id)?;
        if p.level < a.level {
            return Err(EvalError::OutOfLevels {
                op: "mul_plain",
                level: p.level,
                needed: a.level,
            }
            .into());
        }
        let scale = a.scale * p.scale;
        self.check_scale("mul_plain", scale, a.level)?;
        let ring = self.ctx.ring();
        let (c0, c1) = rayon::join(|| ring.mul(&a.c0, &p.poly), || ring.mul(&a.c1, &p.poly));
        Ok(Ciphertext {
            scale,
            ..a.with_polys(c0, c1)
        })
    }

    /// Fused ([`inner_product_q`]): per prime, each plaintext's residues are reduced and
    /// transformed as they are used.
    fn dot_compact(
        &self,
        terms: &[(&Ciphertext, &CompactPlaintext)],
    ) -> Result<Ciphertext, CkksError> {
        let (level, scale) = self.check_terms(
            "dot_compact",
            terms
                .iter()
                .map(|&(a, p)| (a, p.level, p.scale, p.context_id)),
        )?;
        // Each plaintext reduced to every prime (its NTT counts itself) as it is used.
        count(Primitive::ModMul, terms.len() * (level + 1));
        let ring = self.ctx.ring();
        let (c0, c1) = inner_product_q(
            &self.ctx,
            level,
            terms.len(),
            |t| terms[t].0,
            |t, i, pt| {
                terms[t].1.coeffs.residues_into(&ring.moduli()[i], pt);
                ring.table(i).forward(pt);
                PlainLimb::Written
            },
        );
        Ok(Ciphertext {
            scale,
            ..terms[0].0.with_polys(c0, c1)
        })
    }

    /// Fused ([`inner_product_q`]): one pass over the terms per prime, each product summed
    /// unreduced, instead of a product and a sum per term.
    fn dot_plain(&self, terms: &[(&Ciphertext, &Plaintext)]) -> Result<Ciphertext, CkksError> {
        let (level, scale) = self.check_terms(
            "dot_plain",
            terms
                .iter()
                .map(|&(a, p)| (a, p.level, p.scale, p.context_id)),
        )?;
        let (c0, c1) = inner_product_q(
            &self.ctx,
            level,
            terms.len(),
            |t| terms[t].0,
            |t, i, _| PlainLimb::Held(&terms[t].1.poly.limbs[i]),
        );
        Ok(Ciphertext {
            scale,
            ..terms[0].0.with_polys(c0, c1)
        })
    }

    fn mul_relin(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext, CkksError> {
        self.check_pair("mul_relin", a, b)?;
        let scale = a.scale * b.scale;
        self.check_scale("mul_relin", scale, a.level)?;
        let key = self
            .keys
            .relin
            .as_deref()
            .ok_or(CkksError::MissingRelinKey)?;
        let ring = self.ctx.ring();
        let [mut d0, mut d1, d2] = ring.tensor((&a.c0, &a.c1), (&b.c0, &b.c1));
        let (k0, k1) = key_switch(&self.ctx, &d2, key);
        ring.add_assign(&mut d0, &k0);
        ring.add_assign(&mut d1, &k1);
        Ok(Ciphertext {
            c0: d0,
            c1: d1,
            level: a.level,
            scale,
            context_id: a.context_id,
        })
    }

    fn rescale(&self, a: &Ciphertext) -> Result<Ciphertext, CkksError> {
        self.check(a)?;
        if a.level == 0 {
            return Err(EvalError::OutOfLevels {
                op: "rescale",
                level: 0,
                needed: 1,
            }
            .into());
        }
        let scale = a.scale / self.rescale_prime(a.level) as f64;
        if scale < 1.0 {
            return Err(EvalError::BadScale {
                op: "rescale",
                scale,
                level: a.level - 1,
                reason: "the scale would drop below 1",
            }
            .into());
        }
        let (c0, c1) = rayon::join(|| self.rescale_poly(&a.c0), || self.rescale_poly(&a.c1));
        Ok(Ciphertext {
            c0,
            c1,
            level: a.level - 1,
            scale,
            context_id: a.context_id,
        })
    }

    fn drop_level(&self, a: &Ciphertext, levels: usize) -> Result<Ciphertext, CkksError> {
        self.check(a)?;
        if levels > a.level {
            return Err(EvalError::OutOfLevels {
                op: "drop_level",
                level: a.level,
                needed: levels,
            }
            .into());
        }
        if levels == 0 {
            return Ok(a.clone());
        }
        self.check_scale("drop_level", a.scale, a.level - levels)?;
        Ok(a.truncated(a.level - levels))
    }

    fn rotate(&self, a: &Ciphertext, step: isize) -> Result<Ciphertext, CkksError> {
        self.check(a)?;
        Ok(match self.rotation_key(step)? {
            Some((g, key)) => self.apply_galois(a, g, key),
            None => a.clone(),
        })
    }

    /// Each rotated term's key switch is left over `Q_level * P` and summed there; one ModDown
    /// pair ends the sum (`ModDown(P x + y) = x + ModDown(y)`, so the terms' `c0`
    /// automorphisms are summed over `Q_level` beside it).
    fn rotate_sum(&self, terms: &[(&Ciphertext, isize)]) -> Result<Ciphertext, CkksError> {
        let Some(&(first, _)) = terms.first() else {
            return Err(EvalError::InvalidInput("a rotation sum of no terms".into()).into());
        };
        for &(a, _) in terms {
            self.check_summands("rotate_sum", first, a)?;
        }
        let ctx = &*self.ctx;
        let ring = ctx.ring();
        let qp = ctx.qp_indices(first.level);
        // Over Q_level: every term's (rotated) c0 and the unrotated terms' c1.
        let (mut sum0, mut sum1): (Option<RnsPoly>, Option<RnsPoly>) = (None, None);
        // Over Q_level * P: the rotated terms' key switches, before their ModDown.
        let mut lazy: Option<[Vec<Vec<u64>>; 2]> = None;
        let add_into = |acc: &mut Option<RnsPoly>, x: Cow<RnsPoly>| match acc {
            Some(s) => ring.add_assign(s, &x),
            None => *acc = Some(x.into_owned()),
        };
        for &(a, step) in terms {
            match self.rotation_key(step)? {
                None => {
                    add_into(&mut sum0, Cow::Borrowed(&a.c0));
                    add_into(&mut sum1, Cow::Borrowed(&a.c1));
                }
                Some((g, key)) => {
                    let part = switch_qp(ctx, &decompose(ctx, &a.c1), Some(g), key);
                    add_qp_pair(ctx, &qp, &mut lazy, part);
                    add_into(&mut sum0, Cow::Owned(ctx.automorphism_ntt(&a.c0, g)));
                }
            }
        }
        if let Some([k0, k1]) = lazy {
            let (m0, m1) = rayon::join(
                || mod_down(ctx, first.level, k0),
                || mod_down(ctx, first.level, k1),
            );
            add_into(&mut sum0, Cow::Owned(m0));
            add_into(&mut sum1, Cow::Owned(m1));
        }
        // Invariant: a term is either unrotated (both sums set) or rotated (`lazy` set).
        let (c0, c1) = sum0.zip(sum1).expect("at least one term");
        Ok(first.with_polys(c0, c1))
    }

    fn rotate_hoisted(
        &self,
        a: &Ciphertext,
        steps: &[isize],
    ) -> Result<Vec<Ciphertext>, CkksError> {
        self.check(a)?;
        let keys = steps
            .iter()
            .map(|&s| self.rotation_key(s))
            .collect::<Result<Vec<_>, _>>()?;
        if keys.iter().all(Option::is_none) {
            return Ok(vec![a.clone(); steps.len()]);
        }
        let dec = decompose(&self.ctx, &a.c1);
        let ring = self.ctx.ring();
        Ok(keys
            .iter()
            .map(|key| {
                let Some((g, key)) = *key else {
                    return a.clone();
                };
                let (k0, k1) = switch_automorphism(&self.ctx, &dec, g, key);
                let mut c0 = self.ctx.automorphism_ntt(&a.c0, g);
                ring.add_assign(&mut c0, &k0);
                a.with_polys(c0, k1)
            })
            .collect())
    }
}
