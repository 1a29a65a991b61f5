//! The precomputed state every CKKS object of one parameter set shares: the ring over all
//! Q and P primes, the encoder, and the constants of rescaling, basis conversion and Galois
//! automorphisms.
//!
//! Limb layout: the ring's primes are `q_0 .. q_{L}` followed by `p_0 .. p_{alpha-1}`. A
//! ciphertext at level `l` holds the limbs of `q_0 .. q_l`; a key-switching intermediate
//! holds those plus every P limb.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rayon::prelude::*;

use crate::ckks::math::modular::{Modulus, ShoupConst};
use crate::ckks::math::tally::{Primitive, count};
use crate::ckks::ring::{RingContext, RnsPoly};
use crate::ckks::scheme::encoder::Encoder;
use crate::ckks::scheme::error::CkksError;
use crate::ckks::scheme::params::Parameters;

/// Shared, immutable-after-construction state of one parameter set.
#[derive(Debug)]
pub struct Context {
    params: Parameters,
    ring: RingContext,
    encoder: Encoder,
    /// `rescale_inv[l][i] = q_l^{-1} mod q_i` for `i < l`.
    rescale_inv: Vec<Vec<ShoupConst>>,
    /// `p_inv[i] = P^{-1} mod q_i`.
    p_inv: Vec<ShoupConst>,
    /// `p_mod_q[i] = P mod q_i`.
    p_mod_q: Vec<u64>,
    /// Exponent (odd, mod 2N) of the evaluation point at each NTT output position.
    ntt_exponents: Vec<usize>,
    /// Position of each odd exponent in the NTT output (`usize::MAX` for even exponents).
    ntt_position: Vec<usize>,
    galois_perms: Mutex<HashMap<usize, Arc<Vec<u32>>>>,
}

impl Context {
    /// Builds the context of validated parameters.
    pub fn new(params: &Parameters) -> Result<Arc<Self>, CkksError> {
        let primes: Vec<u64> = params.q().iter().chain(params.p()).copied().collect();
        let ring = RingContext::new(params.n(), &primes)?;
        let nq = params.q().len();
        let m = ring.moduli();
        let rescale_inv = (0..nq)
            .map(|l| {
                (0..l)
                    .map(|i| {
                        // Invariant: distinct primes are invertible modulo each other.
                        let inv = m[i].inv(m[l].value).expect("distinct primes");
                        m[i].shoup(inv)
                    })
                    .collect()
            })
            .collect();
        let p_mod_q: Vec<u64> = (0..nq)
            .map(|i| {
                params
                    .p()
                    .iter()
                    .fold(1u64, |acc, &p| m[i].mul(acc, p % m[i].value))
            })
            .collect();
        let p_inv = (0..nq)
            .map(|i| m[i].shoup(m[i].inv(p_mod_q[i]).expect("distinct primes")))
            .collect();
        let (ntt_exponents, ntt_position) = ntt_order(&ring);
        Ok(Arc::new(Self {
            params: params.clone(),
            encoder: Encoder::new(params.n()),
            ring,
            rescale_inv,
            p_inv,
            p_mod_q,
            ntt_exponents,
            ntt_position,
            galois_perms: Mutex::new(HashMap::new()),
        }))
    }

    /// The parameters.
    pub fn params(&self) -> &Parameters {
        &self.params
    }

    /// The ring over all Q and P primes.
    pub fn ring(&self) -> &RingContext {
        &self.ring
    }

    /// The slot encoder.
    pub fn encoder(&self) -> &Encoder {
        &self.encoder
    }

    /// The context id (see [`Parameters::id`]).
    pub fn id(&self) -> u64 {
        self.params.id()
    }

    /// Ring degree N.
    pub fn n(&self) -> usize {
        self.params.n()
    }

    /// Number of Q primes.
    pub fn q_count(&self) -> usize {
        self.params.q().len()
    }

    /// Number of P primes.
    pub fn p_count(&self) -> usize {
        self.params.p().len()
    }

    /// Ring indices of the limbs of a key-switching intermediate at `level`: `q_0..=q_level`
    /// then every P prime.
    pub fn qp_indices(&self, level: usize) -> Vec<usize> {
        (0..=level)
            .chain(self.q_count()..self.q_count() + self.p_count())
            .collect()
    }

    /// `q_l^{-1} mod q_i` for `i < l`.
    pub fn rescale_inv(&self, l: usize) -> &[ShoupConst] {
        &self.rescale_inv[l]
    }

    /// `P^{-1} mod q_i`.
    pub fn p_inv(&self, i: usize) -> ShoupConst {
        self.p_inv[i]
    }

    /// `P mod q_i`.
    pub fn p_mod_q(&self, i: usize) -> u64 {
        self.p_mod_q[i]
    }

    /// Checks that an operand's context id is this context's.
    pub fn check_id(&self, what: &'static str, id: u64) -> Result<(), CkksError> {
        if id != self.id() {
            return Err(CkksError::ContextMismatch {
                what,
                expected: self.id(),
                got: id,
            });
        }
        Ok(())
    }

    /// The Galois element `5^step mod 2N` of a left rotation by `step` slots.
    pub fn galois_element(&self, step: usize) -> usize {
        let two_n = 2 * self.n();
        let mut g = 1usize;
        for _ in 0..step % (self.n() / 2) {
            g = g * 5 % two_n;
        }
        g
    }

    /// The Galois element of complex conjugation, `2N - 1`.
    pub fn conjugation_element(&self) -> usize {
        2 * self.n() - 1
    }

    /// The permutation of NTT evaluations that applies `X -> X^g`: output position `i` takes
    /// input position `perm[i]`. The same for every prime (evaluations are ordered by the
    /// exponent of the root, whatever the root).
    pub fn galois_perm(&self, g: usize) -> Arc<Vec<u32>> {
        let mut cache = self.galois_perms.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .entry(g)
            .or_insert_with(|| {
                let mask = 2 * self.n() - 1;
                Arc::new(
                    self.ntt_exponents
                        .iter()
                        .map(|&e| self.ntt_position[(e * g) & mask] as u32)
                        .collect(),
                )
            })
            .clone()
    }

    /// Applies `X -> X^g` to a polynomial in NTT form (limbs over any primes).
    pub fn automorphism_ntt(&self, a: &RnsPoly, g: usize) -> RnsPoly {
        debug_assert!(a.ntt);
        count(Primitive::Permute, a.limbs.len());
        let perm = self.galois_perm(g);
        let limbs = a
            .limbs
            .par_iter()
            .map(|x| perm.iter().map(|&j| x[j as usize]).collect())
            .collect();
        RnsPoly { limbs, ntt: true }
    }

    /// The modulus of ring index `i`.
    pub fn modulus(&self, i: usize) -> &Modulus {
        &self.ring.moduli()[i]
    }
}

/// The exponent of the root behind each NTT output position, and its inverse map. The NTT of
/// the polynomial `X` lists the evaluation points themselves; their exponents are read off
/// against the powers of the point at position 0 (any primitive 2N-th root serves as base:
/// the permutations derived from the exponents do not depend on it).
fn ntt_order(ring: &RingContext) -> (Vec<usize>, Vec<usize>) {
    let n = ring.n();
    let m = ring.moduli()[0];
    let mut x = vec![0u64; n];
    x[1] = 1;
    ring.table(0).forward(&mut x);
    // x[i] = psi_i, each a primitive 2N-th root; all are odd powers of psi = x[0].
    let psi = x[0];
    let mut power_of = HashMap::with_capacity(2 * n);
    let mut p = 1u64;
    for e in 0..2 * n {
        power_of.insert(p, e);
        p = m.mul(p, psi);
    }
    // Exponents relative to x[0]'s root; x[0] itself has exponent 1 in its own base.
    let exponents: Vec<usize> = x
        .iter()
        .map(|r| *power_of.get(r).expect("NTT points are powers of one root"))
        .collect();
    let mut position = vec![usize::MAX; 2 * n];
    for (i, &e) in exponents.iter().enumerate() {
        position[e] = i;
    }
    (exponents, position)
}
