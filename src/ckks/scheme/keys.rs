//! Keys: the secret key (ternary or sparse ternary), the public key, and switching keys
//! (relinearisation, rotations, conjugation) for hybrid key switching with `dnum` digits.
//!
//! [`KeyGenerator`] is seeded for tests and reproducible runs, or draws its seed from the OS.
//! The [`EvaluationKeys`] a server needs hold no secret material: the type that evaluates
//! ([`super::engine::Engine`]) can only be built from them.

use std::collections::BTreeMap;
use std::sync::Arc;

use rand::rngs::ChaCha20Rng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;

use crate::ckks::math::keystream::BelowModulus;
use crate::ckks::math::tally::{Primitive, count};
use crate::ckks::ring::RnsPoly;
use crate::ckks::scheme::context::Context;
use crate::ckks::scheme::params::SecretDist;

/// Standard deviation of the error distribution (HE standard).
pub const SIGMA: f64 = 3.2;
/// Errors are cut at this many standard deviations.
const ERROR_BOUND: f64 = 6.0;

/// The secret key `s`, in NTT form over every Q and P prime. Never serialised, never part
/// of [`EvaluationKeys`].
#[derive(Debug, Clone)]
pub struct SecretKey {
    pub(crate) s: RnsPoly,
    pub(crate) context_id: u64,
}

/// The public key `(b, a) = (-a s + e, a)` over every Q and P prime (NTT form): encryption
/// works modulo Q_l P and divides by P, which leaves almost no fresh noise.
#[derive(Debug, Clone)]
pub struct PublicKey {
    pub(crate) b: RnsPoly,
    pub(crate) a: RnsPoly,
    pub(crate) context_id: u64,
}

/// A key switching `s'` to `s`: per digit `j`, `(b_j, a_j)` with `b_j = -a_j s + e_j + g_j`,
/// where the gadget term `g_j` is `P s'` over the primes of digit `j` and zero over every
/// other prime (the RNS form of `P (Q/Q_j) [(Q/Q_j)^{-1}]_{Q_j} s'`). NTT form over every Q
/// and P prime.
///
/// The uniform `a_j` are public and drawn from a 32-byte seed, so files carry only the `b_j`
/// and the seed (as SEAL and Lattigo send keys). In memory a key is either *seeded* (the
/// `a_j` are redrawn limb by limb where a key switch reads them: half the memory, a few
/// percent more time) or *expanded* ([`SwitchingKey::expand`]): the keys a computation uses
/// at every step stay expanded, those only a bootstrap needs stay seeded.
#[derive(Debug, Clone)]
pub struct SwitchingKey {
    /// `b_j` per digit.
    pub(crate) b: Vec<RnsPoly>,
    /// Seed of the `a_j`.
    pub(crate) seed: [u8; 32],
    /// The `a_j`, once expanded.
    pub(crate) a: Option<Vec<RnsPoly>>,
    pub(crate) context_id: u64,
}

impl SwitchingKey {
    /// Draws and keeps the `a_j` (faster key switches, twice the memory).
    pub fn expand(&mut self, ctx: &Context) {
        if self.a.is_none() {
            self.a = Some(
                (0..self.b.len())
                    .map(|j| mask(ctx, &self.seed, j))
                    .collect(),
            );
        }
    }

    /// Draws `a_j` over ring prime `i` (modulus `q`, NTT form, `n` coefficients) a piece at
    /// a time.
    pub(crate) fn mask_draw(&self, j: usize, i: usize, q: u64, n: usize) -> BelowModulus<'_> {
        mask_draw(&self.seed, j, i, q, n)
    }
}

/// The whole mask `a_j` over every Q and P prime.
fn mask(ctx: &Context, seed: &[u8; 32], j: usize) -> RnsPoly {
    let total = ctx.q_count() + ctx.p_count();
    count(Primitive::MaskDraw, total);
    RnsPoly {
        limbs: ctx.ring().moduli()[..total]
            .par_iter()
            .enumerate()
            .map(|(i, m)| {
                let mut limb = vec![0u64; ctx.n()];
                expand_mask(seed, j, i, m.value, &mut limb);
                limb
            })
            .collect(),
        ntt: true,
    }
}

/// The uniform mask of digit `j` over ring prime `i`: ChaCha8 keyed by `seed`, stream
/// `(j, i)`; each word keeps the bits of `q` and is redrawn (from the same stream) while it is
/// not below `q`. ChaCha with 8 rounds keeps a wide margin over the best known attacks
/// (Aumasson, "Too Much Crypto", 2019) and costs about a third of ChaCha20.
fn expand_mask(seed: &[u8; 32], j: usize, i: usize, q: u64, out: &mut [u64]) {
    mask_draw(seed, j, i, q, out.len()).next_words(out);
}

/// [`expand_mask`] a piece at a time, in order: key switching draws each block of a mask
/// where it multiplies it, so a mask never goes through memory.
fn mask_draw(seed: &[u8; 32], j: usize, i: usize, q: u64, n: usize) -> BelowModulus<'_> {
    BelowModulus::new(seed, ((j as u64) << 32) | i as u64, q, n)
}

/// What an evaluating server holds: relinearisation and Galois keys, no secret.
#[derive(Debug, Clone, Default)]
pub struct EvaluationKeys {
    pub(crate) relin: Option<Arc<SwitchingKey>>,
    /// Keys by Galois element.
    pub(crate) galois: BTreeMap<usize, Arc<SwitchingKey>>,
}

impl EvaluationKeys {
    /// True if a relinearisation key is present.
    pub fn has_relin(&self) -> bool {
        self.relin.is_some()
    }

    /// The Galois elements keys are held for.
    pub fn galois_elements(&self) -> impl Iterator<Item = usize> + '_ {
        self.galois.keys().copied()
    }

    /// Expands the keys of the rotations by `steps` (those a computation uses at every
    /// step; keys not held are skipped).
    pub fn expand_rotations(&mut self, ctx: &Context, steps: &[isize]) {
        let slots = ctx.params().slots() as isize;
        for &s in steps {
            let s = s.rem_euclid(slots) as usize;
            if s == 0 {
                continue;
            }
            if let Some(k) = self.galois.get_mut(&ctx.galois_element(s)) {
                Arc::make_mut(k).expand(ctx);
            }
        }
    }

    /// Bytes held by the keys' polynomials.
    pub fn bytes(&self) -> usize {
        let poly = |p: &RnsPoly| p.limbs.iter().map(|l| l.len() * 8).sum::<usize>();
        let key = |k: &SwitchingKey| {
            k.b.iter().map(poly).sum::<usize>() + k.a.iter().flatten().map(poly).sum::<usize>()
        };
        self.relin.iter().map(|k| key(k)).sum::<usize>()
            + self.galois.values().map(|k| key(k)).sum::<usize>()
    }
}

/// Generates keys from a seeded ChaCha20 stream.
pub struct KeyGenerator {
    ctx: Arc<Context>,
    rng: ChaCha20Rng,
}

impl KeyGenerator {
    /// A generator seeded with `seed`: the same seed gives the same keys. `None` seeds from
    /// the operating system.
    pub fn new(ctx: &Arc<Context>, seed: Option<u64>) -> Self {
        let rng = match seed {
            Some(s) => ChaCha20Rng::seed_from_u64(s),
            None => rand::make_rng(),
        };
        Self {
            ctx: ctx.clone(),
            rng,
        }
    }

    /// A fresh secret key of the parameters' distribution.
    pub fn secret_key(&mut self) -> SecretKey {
        let n = self.ctx.n();
        let coeffs = match self.ctx.params().literal().secret {
            SecretDist::Ternary => sample_ternary(&mut self.rng, n),
            SecretDist::SparseTernary { h } => sample_sparse_ternary(&mut self.rng, n, h),
        };
        SecretKey {
            s: self.to_ntt_all(&coeffs),
            context_id: self.ctx.id(),
        }
    }

    /// The public key of `sk` over every Q and P prime.
    pub fn public_key(&mut self, sk: &SecretKey) -> PublicKey {
        let a = self.uniform(self.ctx.q_count() + self.ctx.p_count());
        let e = sample_error(&mut self.rng, self.ctx.n());
        let mut b = self.to_ntt_all(&e);
        let ring = self.ctx.ring();
        let mut s = sk.s.clone();
        ring.mul_assign(&mut s, &a);
        ring.sub_assign(&mut b, &s);
        PublicKey {
            b,
            a,
            context_id: self.ctx.id(),
        }
    }

    /// The relinearisation key (switches `s^2` to `s`), expanded.
    pub fn relin_key(&mut self, sk: &SecretKey) -> SwitchingKey {
        let mut s2 = sk.s.clone();
        self.ctx.ring().mul_assign(&mut s2, &sk.s);
        self.switching_key(&s2, sk, true)
    }

    /// The key of the automorphism `X -> X^g` (switches `s(X^g)` to `s`), seeded.
    pub fn galois_key(&mut self, sk: &SecretKey, g: usize) -> SwitchingKey {
        let sg = self.ctx.automorphism_ntt(&sk.s, g);
        self.switching_key(&sg, sk, false)
    }

    /// Evaluation keys: relinearisation (expanded), rotations by `steps` (left rotations,
    /// reduced mod the slot count; 0 needs no key) and, if asked, conjugation (seeded: see
    /// [`EvaluationKeys::expand_rotations`]).
    pub fn evaluation_keys(
        &mut self,
        sk: &SecretKey,
        steps: &[isize],
        conjugation: bool,
    ) -> EvaluationKeys {
        let slots = self.ctx.params().slots();
        let mut elements: Vec<usize> = steps
            .iter()
            .map(|&s| s.rem_euclid(slots as isize) as usize)
            .filter(|&s| s != 0)
            .map(|s| self.ctx.galois_element(s))
            .collect();
        if conjugation {
            elements.push(self.ctx.conjugation_element());
        }
        elements.sort_unstable();
        elements.dedup();
        let relin = Some(Arc::new(self.relin_key(sk)));
        let galois = elements
            .into_iter()
            .map(|g| (g, Arc::new(self.galois_key(sk, g))))
            .collect();
        EvaluationKeys { relin, galois }
    }

    /// A sparse ternary secret of Hamming weight `h`, NTT form over every prime (the
    /// ephemeral key of sparse-secret encapsulation).
    pub(crate) fn sparse_secret(&mut self, h: usize) -> RnsPoly {
        let coeffs = sample_sparse_ternary(&mut self.rng, self.ctx.n(), h);
        self.to_ntt_all(&coeffs)
    }

    /// Fresh error coefficients.
    pub(crate) fn error(&mut self) -> Vec<i64> {
        sample_error(&mut self.rng, self.ctx.n())
    }

    /// A uniform residue vector modulo `q`.
    pub(crate) fn uniform_mod(&mut self, q: u64) -> Vec<u64> {
        (0..self.ctx.n())
            .map(|_| self.rng.random_range(0..q))
            .collect()
    }

    /// A key switching `s_from` (NTT form over all primes) to `sk`, expanded if asked.
    pub(crate) fn switching_key(
        &mut self,
        s_from: &RnsPoly,
        sk: &SecretKey,
        expanded: bool,
    ) -> SwitchingKey {
        let ctx = self.ctx.clone();
        let nq = ctx.q_count();
        let alpha = ctx.params().alpha();
        let seed: [u8; 32] = self.rng.random();
        let mut masks = Vec::new();
        let b = (0..ctx.params().dnum())
            .map(|j| {
                let a = mask(&ctx, &seed, j);
                let e = sample_error(&mut self.rng, ctx.n());
                let mut b = self.to_ntt_all(&e);
                let ring = ctx.ring();
                // b = e - a s
                b.limbs
                    .par_iter_mut()
                    .zip(a.limbs.par_iter().zip(&sk.s.limbs))
                    .enumerate()
                    .for_each(|(i, (bl, (al, sl)))| {
                        let m = ring.moduli()[i];
                        for ((x, &y), &z) in bl.iter_mut().zip(al).zip(sl) {
                            *x = m.sub(*x, m.mul(y, z));
                        }
                    });
                // + P s_from over the primes of digit j.
                for i in j * alpha..((j + 1) * alpha).min(nq) {
                    let m = ring.moduli()[i];
                    let p = m.shoup(ctx.p_mod_q(i));
                    for (x, &y) in b.limbs[i].iter_mut().zip(&s_from.limbs[i]) {
                        *x = m.add(*x, m.mul_shoup(y, p));
                    }
                }
                if expanded {
                    masks.push(a);
                }
                b
            })
            .collect();
        SwitchingKey {
            b,
            seed,
            a: expanded.then_some(masks),
            context_id: ctx.id(),
        }
    }

    /// A uniform polynomial over the first `limbs` primes (drawn directly in NTT form).
    fn uniform(&mut self, limbs: usize) -> RnsPoly {
        let n = self.ctx.n();
        let moduli = &self.ctx.ring().moduli()[..limbs];
        RnsPoly {
            limbs: moduli
                .iter()
                .map(|m| (0..n).map(|_| self.rng.random_range(0..m.value)).collect())
                .collect(),
            ntt: true,
        }
    }

    /// Small signed coefficients reduced over every prime, in NTT form.
    fn to_ntt_all(&self, coeffs: &[i64]) -> RnsPoly {
        let ring = self.ctx.ring();
        let mut p = ring.from_signed(coeffs, ring.moduli().len());
        ring.to_ntt(&mut p);
        p
    }
}

/// Uniform ternary coefficients.
pub(crate) fn sample_ternary(rng: &mut ChaCha20Rng, n: usize) -> Vec<i64> {
    (0..n).map(|_| rng.random_range(-1i64..=1)).collect()
}

/// Ternary coefficients with exactly `h` non-zeros at uniformly random positions.
fn sample_sparse_ternary(rng: &mut ChaCha20Rng, n: usize, h: usize) -> Vec<i64> {
    let mut idx: Vec<usize> = (0..n).collect();
    let mut out = vec![0i64; n];
    for k in 0..h {
        let j = rng.random_range(k..n);
        idx.swap(k, j);
        out[idx[k]] = if rng.random::<bool>() { 1 } else { -1 };
    }
    out
}

/// Rounded Gaussian coefficients of standard deviation [`SIGMA`], cut at 6 sigma.
pub(crate) fn sample_error(rng: &mut ChaCha20Rng, n: usize) -> Vec<i64> {
    // Invariant: SIGMA is a positive constant.
    let normal = Normal::new(0.0, SIGMA).expect("valid sigma");
    (0..n)
        .map(|_| {
            loop {
                let x: f64 = normal.sample(rng);
                if x.abs() <= ERROR_BOUND * SIGMA {
                    break x.round() as i64;
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ckks::math::keystream;
    use rand::Rng;

    /// Masks are the words the key's seed stood for when the key was made: the generator's
    /// own draws, redrawing each word at or above q as it is met. A prime just above 2^41
    /// redraws about half of the words, so the continuation after the bulk fill is covered.
    #[test]
    fn masks_are_the_generators_draws_on_every_path() {
        let seed: [u8; 32] = std::array::from_fn(|i| i as u8 ^ 0x5a);
        for q in [
            (1u64 << 41) + 21,
            (1 << 42) - 11 * (1 << 17) + 1,
            (1 << 60) - 93,
        ] {
            let bits = u64::MAX >> q.leading_zeros();
            let mut rng = keystream::generator(&seed, (3 << 32) | 7, 0);
            let mut want = vec![0u64; 4096];
            rng.fill(&mut want[..]);
            for v in &mut want {
                let mut x = *v & bits;
                while x >= q {
                    x = rng.next_u64() & bits;
                }
                *v = x;
            }
            for portable in [true, false] {
                crate::ckks::math::lanes::set_portable(portable);
                let mut got = vec![0u64; 4096];
                expand_mask(&seed, 3, 7, q, &mut got);
                // Drawn in pieces, as key switching draws it: the same words.
                let mut pieces = vec![0u64; 4096];
                let mut draw = mask_draw(&seed, 3, 7, q, 4096);
                for (k, piece) in pieces.chunks_mut(256).enumerate() {
                    let cut = if k % 2 == 0 { 8 } else { 200 };
                    let (a, b) = piece.split_at_mut(cut);
                    draw.next_words(a);
                    draw.next_words(b);
                }
                crate::ckks::math::lanes::set_portable(false);
                assert!(pieces == want, "pieces, q {q}, portable {portable}");
                assert!(got == want, "q {q}, portable {portable}");
            }
        }
    }

    #[test]
    fn samplers_have_the_right_support() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let t = sample_ternary(&mut rng, 4096);
        assert!(t.iter().all(|x| (-1..=1).contains(x)));
        assert!(t.iter().filter(|&&x| x == 0).count() > 1000);
        let s = sample_sparse_ternary(&mut rng, 4096, 64);
        assert_eq!(s.iter().filter(|&&x| x != 0).count(), 64);
        let e = sample_error(&mut rng, 4096);
        let var = e.iter().map(|&x| (x * x) as f64).sum::<f64>() / 4096.0;
        assert!((var.sqrt() - SIGMA).abs() < 0.3, "{var}");
        assert!(e.iter().all(|x| x.abs() <= 20));
    }
}
