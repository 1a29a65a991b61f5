//! Sparse-secret encapsulation (Bossuat, Troncoso-Pastoriza, Hubaux, ACNS 2022) and the
//! modulus raise.
//!
//! Raising a ciphertext `(c0, c1)` from `q_0` to the whole chain turns its phase into
//! `m + q_0 I` with `I` of the size of `c1 s / q_0`: about `sqrt(h / 12)` standard deviations
//! for a secret of Hamming weight `h`, which decides how wide the modular reduction must be.
//! With the dense ternary secret (`h ~ 2N/3`) that is hundreds. Encapsulation switches the
//! level-0 ciphertext to an ephemeral sparse secret `s'` (weight 32) first, over the small
//! modulus `q_0 p_0` only, where a sparse secret is still secure; raises; and switches back to
//! the dense secret over the whole chain with an ordinary switching key. `I` then stays below
//! 12 with overwhelming probability (7 standard deviations).

use std::io::{Read, Write};
use std::sync::Arc;

use crate::ckks::ring::RnsPoly;
use crate::ckks::scheme::ciphertext::Ciphertext;
use crate::ckks::scheme::context::Context;
use crate::ckks::scheme::error::CkksError;
use crate::ckks::scheme::keys::{KeyGenerator, SecretKey, SwitchingKey};
use crate::ckks::scheme::keyswitch::key_switch;
use crate::ckks::scheme::params::Parameters;
use crate::ckks::scheme::wire::{WireError, WireReader, WireWriter};

/// Hamming weight of the ephemeral sparse secret.
pub const SPARSE_WEIGHT: usize = 32;

/// Ring degree (log2 N) of the published security figure for the ephemeral secret.
pub const SPARSE_LOG_N: u32 = 16;

/// Largest log2(q_0 p_0) at which the ephemeral secret (Hamming weight [`SPARSE_WEIGHT`], ring
/// degree 2^[`SPARSE_LOG_N`]) keeps 128-bit security, as published with the implementation of
/// sparse-secret encapsulation by its authors: Lattigo's bootstrapping parameters
/// (tuneinsight/lattigo v4, `ckks/bootstrapping/parameters_literal.go` at commit 0a0ed6e2,
/// field `EphemeralSecretWeight`: "by default set to 32, which ensure over 128-bit security
/// for an evaluation key of modulus 121 bits"; the defaults documented there are for 2^15
/// slots, N = 2^16), which refers to Bossuat, Troncoso-Pastoriza and Hubaux, "Bootstrapping
/// for approximate homomorphic encryption with negligible failure-probability by using
/// sparse-secret encapsulation", ACNS 2022 (ePrint 2022/024) for the construction and its
/// security. The dense-to-sparse key is an
/// RLWE sample under the sparse secret modulo `q_0 p_0` only; every other key and ciphertext
/// is under the dense ternary secret, covered by
/// [`crate::ckks::scheme::params::max_log_qp_128`]. At `fgb-like`, `q_0 p_0` is a 58-bit and a
/// 61-bit prime: about 2^119, inside the bound. The bound only falls with a smaller N or a
/// larger modulus, so other ring degrees have no published figure here and are refused.
pub const SPARSE_MAX_LOG_Q0P0: f64 = 121.0;

/// Refuses parameters that claim 128-bit security ([`Parameters::is_secure`]) while the
/// encapsulation's sparse instance is outside the published bound ([`SPARSE_MAX_LOG_Q0P0`]
/// at N = 2^[`SPARSE_LOG_N`]). Parameters accepted as insecure are not checked.
pub fn check_security(params: &Parameters) -> Result<(), CkksError> {
    if !params.is_secure() {
        return Ok(());
    }
    let (q0, p0) = (params.q()[0], params.p()[0]);
    let log_q0p0 = (q0 as f64).log2() + (p0 as f64).log2();
    let log_n = params.n().trailing_zeros();
    if log_n == SPARSE_LOG_N && log_q0p0 <= SPARSE_MAX_LOG_Q0P0 {
        return Ok(());
    }
    Err(CkksError::InsecureEncapsulation {
        h: SPARSE_WEIGHT,
        log_q0p0,
        log_n,
        bound: format!("log2 q_0 p_0 <= {SPARSE_MAX_LOG_Q0P0} at N = 2^{SPARSE_LOG_N}"),
    })
}

/// The two switching keys of encapsulation; no secret material.
#[derive(Clone, Debug)]
pub struct EncapsulationKeys {
    /// Dense to sparse over `(q_0, p_0)`: `[b, a]`, each two NTT limbs.
    to_sparse: [RnsPoly; 2],
    /// Sparse to dense over the whole chain.
    to_dense: Arc<SwitchingKey>,
    context_id: u64,
}

/// Ring index of `p_0`, the first special prime.
fn p0_index(ctx: &Context) -> usize {
    ctx.q_count()
}

/// Generates the encapsulation keys of `sk` with a fresh sparse secret.
pub fn encapsulation_keys(
    kg: &mut KeyGenerator,
    ctx: &Arc<Context>,
    sk: &SecretKey,
) -> EncapsulationKeys {
    let sparse = kg.sparse_secret(SPARSE_WEIGHT);
    let ring = ctx.ring();
    let (iq, ip) = (0, p0_index(ctx));
    // b = -a s' + e + p_0 s (mod q_0), b = -a s' + e (mod p_0).
    let e = kg.error();
    let limbs = [iq, ip];
    let a: Vec<Vec<u64>> = limbs
        .iter()
        .map(|&i| kg.uniform_mod(ctx.modulus(i).value))
        .collect();
    let b: Vec<Vec<u64>> = limbs
        .iter()
        .zip(&a)
        .map(|(&i, al)| {
            let m = ctx.modulus(i);
            let mut el: Vec<u64> = e.iter().map(|&x| m.from_i64(x)).collect();
            ring.table(i).forward(&mut el);
            let p0 = ctx.modulus(ip).value % m.value;
            el.iter()
                .zip(al)
                .zip(&sparse.limbs[i])
                .zip(&sk.s.limbs[i])
                .map(|(((&e, &a), &s1), &s)| {
                    let v = m.sub(e, m.mul(a, s1));
                    if i == iq { m.add(v, m.mul(p0, s)) } else { v }
                })
                .collect()
        })
        .collect();
    let to_dense = kg.switching_key(&sparse, sk, false);
    let two = |v: Vec<Vec<u64>>| RnsPoly {
        limbs: v,
        ntt: true,
    };
    EncapsulationKeys {
        to_sparse: [two(b), two(a)],
        to_dense: Arc::new(to_dense),
        context_id: ctx.id(),
    }
}

impl EncapsulationKeys {
    /// Refuses keys of another context.
    pub fn check(&self, ctx: &Context) -> Result<(), CkksError> {
        ctx.check_id("encapsulation key", self.context_id)?;
        ctx.check_id("encapsulation key", self.to_dense.context_id)
    }

    /// Writes the keys in the [`crate::ckks::scheme::wire`] format.
    pub fn write<W: Write>(&self, w: &mut WireWriter<W>) -> Result<(), WireError> {
        w.poly(&self.to_sparse[0])?;
        w.poly(&self.to_sparse[1])?;
        w.switching_key(&self.to_dense)
    }

    /// Reads keys of `ctx` written by [`EncapsulationKeys::write`].
    pub fn read<R: Read>(r: &mut WireReader<R>, ctx: &Context) -> Result<Self, WireError> {
        let primes = [0, p0_index(ctx)];
        Ok(Self {
            to_sparse: [r.poly(ctx, &primes)?, r.poly(ctx, &primes)?],
            to_dense: Arc::new(r.switching_key(ctx)?),
            context_id: ctx.id(),
        })
    }
}

/// Coefficients of one NTT limb, centred.
fn centered_coeffs(ctx: &Context, limb: &[u64], i: usize) -> Vec<i64> {
    let mut x = limb.to_vec();
    ctx.ring().table(i).inverse(&mut x);
    let m = ctx.modulus(i);
    x.iter().map(|&v| m.centered(v)).collect()
}

/// The NTT limb of small signed coefficients modulo ring prime `i`.
fn limb_of(ctx: &Context, c: &[i64], i: usize) -> Vec<u64> {
    let m = ctx.modulus(i);
    let mut x: Vec<u64> = c.iter().map(|&v| m.from_i64(v)).collect();
    ctx.ring().table(i).forward(&mut x);
    x
}

/// Switches a level-0 ciphertext from the dense secret to the sparse one (key switching over
/// `q_0 p_0` with a single digit).
pub(crate) fn to_sparse(ctx: &Context, ct: &Ciphertext, keys: &EncapsulationKeys) -> Ciphertext {
    let (iq, ip) = (0, p0_index(ctx));
    let (mq, mp) = (ctx.modulus(iq), ctx.modulus(ip));
    let c1 = &ct.c1.limbs[0];
    let c1_p = limb_of(ctx, &centered_coeffs(ctx, c1, iq), ip);
    // Invariant: q_0 and p_0 are distinct primes.
    let p0_inv = mq.shoup(mq.inv(mp.value % mq.value).expect("distinct primes"));
    let product = |key: &RnsPoly| -> Vec<u64> {
        let uq: Vec<u64> = c1
            .iter()
            .zip(&key.limbs[0])
            .map(|(&x, &k)| mq.mul(x, k))
            .collect();
        let up: Vec<u64> = c1_p
            .iter()
            .zip(&key.limbs[1])
            .map(|(&x, &k)| mp.mul(x, k))
            .collect();
        // ModDown by p_0 with rounding: (u - [u]_{p_0}) / p_0 mod q_0.
        let r = limb_of(ctx, &centered_coeffs(ctx, &up, ip), iq);
        uq.iter()
            .zip(&r)
            .map(|(&u, &v)| mq.mul_shoup(mq.sub(u, v), p0_inv))
            .collect()
    };
    let (u0, u1) = rayon::join(
        || product(&keys.to_sparse[0]),
        || product(&keys.to_sparse[1]),
    );
    let c0: Vec<u64> = ct.c0.limbs[0]
        .iter()
        .zip(&u0)
        .map(|(&a, &b)| mq.add(a, b))
        .collect();
    Ciphertext {
        c0: RnsPoly {
            limbs: vec![c0],
            ntt: true,
        },
        c1: RnsPoly {
            limbs: vec![u1],
            ntt: true,
        },
        level: 0,
        scale: ct.scale,
        context_id: ct.context_id,
    }
}

/// Raises a level-0 ciphertext to `level`: the centred residues mod `q_0` become residues
/// mod every `q_i`, so the phase becomes `m + q_0 I` for a small integer polynomial `I`.
pub(crate) fn mod_raise(ctx: &Context, ct: &Ciphertext, level: usize) -> Ciphertext {
    let raise = |p: &RnsPoly| -> RnsPoly {
        let ring = ctx.ring();
        let mut out = ring.from_signed(&centered_coeffs(ctx, &p.limbs[0], 0), level + 1);
        ring.to_ntt(&mut out);
        out
    };
    let (c0, c1) = rayon::join(|| raise(&ct.c0), || raise(&ct.c1));
    Ciphertext {
        c0,
        c1,
        level,
        scale: ct.scale,
        context_id: ct.context_id,
    }
}

/// Switches a raised ciphertext from the sparse secret back to the dense one.
pub(crate) fn to_dense(ctx: &Context, ct: &Ciphertext, keys: &EncapsulationKeys) -> Ciphertext {
    let (k0, k1) = key_switch(ctx, &ct.c1, &keys.to_dense);
    let mut c0 = ct.c0.clone();
    ctx.ring().add_assign(&mut c0, &k0);
    Ciphertext {
        c0,
        c1: k1,
        ..ct.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ckks::scheme::params::ParametersLiteral;

    fn params(name: &str, f: impl Fn(&mut ParametersLiteral)) -> Parameters {
        let mut lit = ParametersLiteral::preset(name).unwrap();
        f(&mut lit);
        lit.build().unwrap()
    }

    #[test]
    fn the_secure_presets_keep_the_sparse_secret_within_the_published_bound() {
        for name in ["fgb-like", "fgb-like-12"] {
            let p = params(name, |_| {});
            let log = (p.q()[0] as f64).log2() + (p.p()[0] as f64).log2();
            assert!(log <= SPARSE_MAX_LOG_Q0P0 && log > 118.0, "{name}: {log}");
            check_security(&p).unwrap();
        }
    }

    #[test]
    fn a_sparse_secret_outside_the_bound_is_refused_unless_insecure() {
        // q_0 p_0 of 62 + 62 bits at N = 2^16, the whole chain still within 1772 bits.
        let wide = params("fgb-like", |l| {
            l.first_mod_bits = 62;
            l.special_bits = 62;
            l.levels = 8;
        });
        assert!(wide.is_secure());
        let err = check_security(&wide).unwrap_err();
        assert!(
            matches!(err, CkksError::InsecureEncapsulation { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("121"), "{err}");
        // No published figure at N = 2^15.
        let small = params("fgb-like", |l| {
            l.log_n = 15;
            l.bootstrap_levels = 10;
            l.levels = 2;
            l.dnum = 13;
        });
        assert!(small.is_secure(), "{}", small.log_qp());
        assert!(check_security(&small).is_err());
        // Insecure parameters are not checked.
        check_security(&params("test-boot", |_| {})).unwrap();
    }
}
