//! Client-side operations: encoding into plaintexts, encryption under the public or the
//! secret key, decryption and decoding.

use std::sync::{Arc, Mutex};

use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;
use rayon::prelude::*;

use crate::ckks::math::modular::Modulus;
use crate::ckks::ring::RnsPoly;
use crate::ckks::scheme::ciphertext::{Ciphertext, CompactPlaintext, Plaintext};
use crate::ckks::scheme::context::Context;
use crate::ckks::scheme::error::CkksError;
use crate::ckks::scheme::keys::{PublicKey, SecretKey, sample_error, sample_ternary};
use crate::ckks::scheme::keyswitch::mod_down;
use num_complex::Complex64;

/// Encodes `values` at `level` and `scale` (NTT form over `q_0..=level`).
pub fn encode(
    ctx: &Context,
    op: &'static str,
    values: &[f64],
    level: usize,
    scale: f64,
) -> Result<Plaintext, CkksError> {
    check_level(ctx, level)?;
    let ring = ctx.ring();
    let mut poly = ctx
        .encoder()
        .encode(op, values, scale, &ring.moduli()[..=level])?;
    ring.to_ntt(&mut poly);
    Ok(Plaintext {
        poly,
        level,
        scale,
        context_id: ctx.id(),
    })
}

/// [`encode`] kept compact (see [`CompactPlaintext`]).
pub fn encode_compact(
    ctx: &Context,
    op: &'static str,
    values: &[f64],
    level: usize,
    scale: f64,
) -> Result<CompactPlaintext, CkksError> {
    check_level(ctx, level)?;
    let coeffs = ctx.encoder().coefficients(op, values, scale, level)?;
    Ok(CompactPlaintext {
        coeffs,
        level,
        scale,
        context_id: ctx.id(),
    })
}

/// The plaintext of a compact encoding: its residues over `q_0..=level`, each transformed
/// (limb-parallel); equal to [`encode`] of the same values.
pub fn expand(ctx: &Context, c: &CompactPlaintext) -> Result<Plaintext, CkksError> {
    ctx.check_id("plaintext", c.context_id)?;
    let ring = ctx.ring();
    let limbs = (0..=c.level)
        .into_par_iter()
        .map(|i| {
            let mut limb = c.coeffs.residues(ctx.modulus(i));
            ring.table(i).forward(&mut limb);
            limb
        })
        .collect();
    Ok(Plaintext {
        poly: RnsPoly { limbs, ntt: true },
        level: c.level,
        scale: c.scale,
        context_id: c.context_id,
    })
}

fn check_level(ctx: &Context, level: usize) -> Result<(), CkksError> {
    let max = ctx.params().max_level();
    if level > max {
        return Err(CkksError::LevelTooHigh { level, max });
    }
    Ok(())
}

/// Which key an [`Encryptor`] encrypts under.
#[derive(Debug, Clone)]
enum EncryptionKey {
    Public(PublicKey),
    Secret(SecretKey),
}

/// Encrypts under a public key (`(v b + e0 + m, v a + e1)` with ternary `v`) or a secret
/// key (`(-a s + e + m, a)`), drawing randomness from a seeded or OS-seeded ChaCha20 stream.
pub struct Encryptor {
    ctx: Arc<Context>,
    key: EncryptionKey,
    rng: Mutex<ChaCha20Rng>,
}

impl Encryptor {
    /// A public-key encryptor; `seed` makes encryptions reproducible (tests), `None` seeds
    /// from the OS.
    pub fn public(
        ctx: &Arc<Context>,
        pk: &PublicKey,
        seed: Option<u64>,
    ) -> Result<Self, CkksError> {
        ctx.check_id("public key", pk.context_id)?;
        Ok(Self::with_key(ctx, EncryptionKey::Public(pk.clone()), seed))
    }

    /// A secret-key encryptor (smaller noise; for the key holder).
    pub fn secret(
        ctx: &Arc<Context>,
        sk: &SecretKey,
        seed: Option<u64>,
    ) -> Result<Self, CkksError> {
        ctx.check_id("secret key", sk.context_id)?;
        Ok(Self::with_key(ctx, EncryptionKey::Secret(sk.clone()), seed))
    }

    fn with_key(ctx: &Arc<Context>, key: EncryptionKey, seed: Option<u64>) -> Self {
        let rng = match seed {
            Some(s) => ChaCha20Rng::seed_from_u64(s),
            None => rand::make_rng(),
        };
        Self {
            ctx: ctx.clone(),
            key,
            rng: Mutex::new(rng),
        }
    }

    /// Encrypts a plaintext at its level and scale.
    pub fn encrypt(&self, pt: &Plaintext) -> Result<Ciphertext, CkksError> {
        self.ctx.check_id("plaintext", pt.context_id)?;
        let ring = self.ctx.ring();
        let limbs = pt.level + 1;
        let n = self.ctx.n();
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        let small = |c: &[i64]| {
            let mut p = ring.from_signed(c, limbs);
            ring.to_ntt(&mut p);
            p
        };
        let (mut c0, c1) = match &self.key {
            EncryptionKey::Public(pk) => {
                // (v b + e0, v a + e1) modulo Q_l P, then divided by P (rounding): the
                // noise v e + e0 + e1 s shrinks by P and only the rounding is left.
                let idx = self.ctx.qp_indices(pt.level);
                let v = sample_ternary(&mut rng, n);
                let e0 = sample_error(&mut rng, n);
                let e1 = sample_error(&mut rng, n);
                // One task per prime: lift v, e0, e1, transform, and form both products.
                let (c0, c1): (Vec<Vec<u64>>, Vec<Vec<u64>>) = idx
                    .par_iter()
                    .map(|&i| {
                        let m = self.ctx.modulus(i);
                        let table = ring.table(i);
                        let lift = |c: &[i64]| {
                            let mut x: Vec<u64> = c.iter().map(|&y| m.from_i64(y)).collect();
                            table.forward(&mut x);
                            x
                        };
                        let (vl, mut x0, mut x1) = (lift(&v), lift(&e0), lift(&e1));
                        for (((a0, a1), &y), (&kb, &ka)) in x0
                            .iter_mut()
                            .zip(x1.iter_mut())
                            .zip(&vl)
                            .zip(pk.b.limbs[i].iter().zip(&pk.a.limbs[i]))
                        {
                            *a0 = m.add(*a0, m.mul(y, kb));
                            *a1 = m.add(*a1, m.mul(y, ka));
                        }
                        (x0, x1)
                    })
                    .unzip();
                rayon::join(
                    || mod_down(&self.ctx, pt.level, c0),
                    || mod_down(&self.ctx, pt.level, c1),
                )
            }
            EncryptionKey::Secret(sk) => {
                use rand::RngExt;
                let a = RnsPoly {
                    limbs: ring.moduli()[..limbs]
                        .iter()
                        .map(|m: &Modulus| (0..n).map(|_| rng.random_range(0..m.value)).collect())
                        .collect(),
                    ntt: true,
                };
                let mut c0 = small(&sample_error(&mut rng, n));
                let mut s = sk.s.clone();
                s.truncate(limbs);
                ring.mul_assign(&mut s, &a);
                ring.sub_assign(&mut c0, &s);
                (c0, a)
            }
        };
        ring.add_assign(&mut c0, &pt.poly);
        Ok(Ciphertext {
            c0,
            c1,
            level: pt.level,
            scale: pt.scale,
            context_id: self.ctx.id(),
        })
    }

    /// Encodes and encrypts `values` at `level` and `scale`.
    pub fn encrypt_values(
        &self,
        values: &[f64],
        level: usize,
        scale: f64,
    ) -> Result<Ciphertext, CkksError> {
        self.encrypt(&encode(&self.ctx, "encrypt", values, level, scale)?)
    }
}

/// Decrypts with the secret key and decodes.
pub struct Decryptor {
    ctx: Arc<Context>,
    sk: SecretKey,
}

impl Decryptor {
    /// A decryptor for `sk`.
    pub fn new(ctx: &Arc<Context>, sk: &SecretKey) -> Result<Self, CkksError> {
        ctx.check_id("secret key", sk.context_id)?;
        Ok(Self {
            ctx: ctx.clone(),
            sk: sk.clone(),
        })
    }

    /// `c0 + c1 s` in coefficient form over `q_0..=level`.
    fn phase(&self, ct: &Ciphertext) -> Result<RnsPoly, CkksError> {
        self.ctx.check_id("ciphertext", ct.context_id)?;
        let ring = self.ctx.ring();
        let mut s = self.sk.s.clone();
        s.truncate(ct.level + 1);
        let mut m = ct.c0.clone();
        ring.mul_add_assign(&mut m, &ct.c1, &s);
        ring.to_coeff(&mut m);
        Ok(m)
    }

    /// Decrypts and decodes the slots (real parts).
    pub fn decrypt_values(&self, ct: &Ciphertext) -> Result<Vec<f64>, CkksError> {
        Ok(self.ctx.encoder().decode(&self.coefficients(ct)?, ct.scale))
    }

    /// Decrypts and decodes the complex slots.
    pub fn decrypt_complex(&self, ct: &Ciphertext) -> Result<Vec<Complex64>, CkksError> {
        Ok(self
            .ctx
            .encoder()
            .decode_complex(&self.coefficients(ct)?, ct.scale))
    }

    /// The phase's centred coefficients as `f64`.
    fn coefficients(&self, ct: &Ciphertext) -> Result<Vec<f64>, CkksError> {
        let m = self.phase(ct)?;
        Ok(centered_f64(&self.ctx.ring().moduli()[..=ct.level], &m))
    }
}

/// The centred values of RNS coefficients as `f64`, through a balanced mixed-radix (Garner)
/// representation: `x = v_0 + v_1 q_0 + v_2 q_0 q_1 + ...` with `|v_k| <= q_k / 2`, which
/// represents exactly the centred range and evaluates without cancellation.
fn centered_f64(moduli: &[Modulus], p: &RnsPoly) -> Vec<f64> {
    let l = moduli.len();
    // inv[k][j] = q_j^{-1} mod q_k for j < k.
    let inv: Vec<Vec<u64>> = (0..l)
        .map(|k| {
            (0..k)
                .map(|j| {
                    // Invariant: distinct primes.
                    moduli[k]
                        .inv(moduli[j].value % moduli[k].value)
                        .expect("distinct primes")
                })
                .collect()
        })
        .collect();
    let n = p.limbs[0].len();
    (0..n)
        .into_par_iter()
        .map_init(
            || vec![0i64; l],
            |digits, c| {
                let mut value = 0.0f64;
                let mut radix = 1.0f64;
                for k in 0..l {
                    let m = &moduli[k];
                    // r = (x_k - sum_{j<k} v_j prod_{i<j} q_i) / prod_{j<k} q_j mod q_k, step by step.
                    let mut r = p.limbs[k][c];
                    for j in 0..k {
                        r = m.mul(m.sub(r, m.from_i64(digits[j])), inv[k][j]);
                    }
                    let v = m.centered(r);
                    digits[k] = v;
                    value += v as f64 * radix;
                    radix *= m.value as f64;
                }
                value
            },
        )
        .collect()
}
