//! Negacyclic NTT over one prime via `tfhe-ntt` (AVX2 / AVX-512 dispatch at run time).
//!
//! The evaluation-domain order is `tfhe-ntt`'s (bit-reversed); the ring layer only relies on
//! pointwise products there, and on [`NttTable::eval_index`] to locate the evaluation at a
//! given odd power of the primitive 2N-th root (used for automorphisms).

use tfhe_ntt::prime64::Plan;

use super::tally::{Primitive, count};

/// Why an NTT plan could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NttError {
    /// The modulus is not a prime `= 1 mod 2N` below 2^62, or N is not a supported power of two.
    #[error(
        "no negacyclic NTT of size {n} modulo {q}: need N a power of two and q a prime = 1 mod 2N below 2^62"
    )]
    Unsupported {
        /// Ring degree.
        n: usize,
        /// Modulus.
        q: u64,
    },
}

/// An NTT plan for ring degree `n` and prime `q`.
#[derive(Clone, Debug)]
pub struct NttTable {
    plan: Plan,
}

impl NttTable {
    /// Builds the plan; fails for a non-power-of-two `n` or a modulus that is not an
    /// NTT-friendly prime below 2^62.
    pub fn new(n: usize, q: u64) -> Result<Self, NttError> {
        let ok = n.is_power_of_two()
            && n >= 16
            && q < 1 << 62
            && q % (2 * n as u64) == 1
            && tfhe_ntt::prime::is_prime64(q);
        if !ok {
            return Err(NttError::Unsupported { n, q });
        }
        let plan = Plan::try_new(n, q).ok_or(NttError::Unsupported { n, q })?;
        Ok(Self { plan })
    }

    /// Forward transform in place (coefficients in `[0, q)` -> evaluations in `[0, q)`).
    pub fn forward(&self, a: &mut [u64]) {
        count(Primitive::NttForward, 1);
        self.plan.fwd(a);
    }

    /// Inverse transform in place, normalised (evaluations -> coefficients in `[0, q)`).
    pub fn inverse(&self, a: &mut [u64]) {
        count(Primitive::NttInverse, 1);
        self.plan.inv(a);
        self.plan.normalize(a);
    }
}

#[cfg(test)]
mod tests {
    use super::super::modular::Modulus;
    use super::super::primes::ntt_primes;
    use super::*;

    fn schoolbook(q: u64, a: &[u64], b: &[u64]) -> Vec<u64> {
        let m = Modulus::new(q);
        let n = a.len();
        let mut out = vec![0u64; n];
        for (i, &x) in a.iter().enumerate() {
            for (j, &y) in b.iter().enumerate() {
                let p = m.mul(x, y);
                let k = i + j;
                if k < n {
                    out[k] = m.add(out[k], p);
                } else {
                    out[k - n] = m.sub(out[k - n], p);
                }
            }
        }
        out
    }

    #[test]
    fn ntt_product_is_negacyclic_convolution() {
        let n = 64;
        for q in ntt_primes(50, n, 2, &[]).unwrap() {
            let t = NttTable::new(n, q).unwrap();
            let a: Vec<u64> = (0..n as u64).map(|i| (i * 7919 + 3) % q).collect();
            let b: Vec<u64> = (0..n as u64).map(|i| (i * i * 104_729 + 11) % q).collect();
            let want = schoolbook(q, &a, &b);
            let (mut fa, mut fb) = (a.clone(), b.clone());
            t.forward(&mut fa);
            t.forward(&mut fb);
            let m = Modulus::new(q);
            let mut c: Vec<u64> = fa.iter().zip(&fb).map(|(&x, &y)| m.mul(x, y)).collect();
            t.inverse(&mut c);
            assert_eq!(c, want);
            t.inverse(&mut fa);
            assert_eq!(fa, a);
        }
    }

    #[test]
    fn forward_outputs_are_below_q() {
        use rand::rngs::ChaCha20Rng;
        use rand::{RngExt, SeedableRng};
        let n = 1 << 16;
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        for bits in [42u32, 58, 60, 61] {
            for q in ntt_primes(bits, n, 2, &[]).unwrap() {
                let t = NttTable::new(n, q).unwrap();
                let mut a: Vec<u64> = (0..n).map(|_| rng.random_range(0..q)).collect();
                a[0] = q - 1;
                t.forward(&mut a);
                let over = a.iter().filter(|&&v| v >= q).count();
                assert_eq!(
                    over, 0,
                    "q = {q} ({bits} bits): {over} outputs at or above q"
                );
            }
        }
    }

    #[test]
    fn bad_modulus_is_refused() {
        assert!(NttTable::new(64, 97).is_err());
        assert!(NttTable::new(48, 97).is_err());
    }
}
