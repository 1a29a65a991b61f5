//! RNS polynomials in `Z_Q[X]/(X^N + 1)`: one limb per prime, in coefficient or NTT form,
//! with limb-parallel (rayon, coarse) transforms, arithmetic and Galois automorphisms.

use rayon::prelude::*;

use crate::ckks::math::lanes;
use crate::ckks::math::modular::Modulus;
use crate::ckks::math::ntt::{NttError, NttTable};
use crate::ckks::math::tally::{Primitive, count};

thread_local! {
    /// The calling thread's limb buffers for [`with_scratch_limbs`].
    static SCRATCH: std::cell::RefCell<Vec<Vec<u64>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` on `count` limb buffers of `n` words that the calling thread keeps for its next
/// call, for buffers `f` fills before it reads them: their words on entry are whatever the
/// last call left. Fresh zeroed buffers on every call cost a `memset` of each (the
/// plaintext diagonals of a bootstrap's transforms: megabytes per limb and giant step).
/// `f` must not call this function again.
pub fn with_scratch_limbs<R>(count: usize, n: usize, f: impl FnOnce(&mut [Vec<u64>]) -> R) -> R {
    SCRATCH.with_borrow_mut(|bufs| {
        if bufs.len() < count {
            bufs.resize_with(count, Vec::new);
        }
        for b in &mut bufs[..count] {
            b.resize(n, 0);
        }
        f(&mut bufs[..count])
    })
}

/// Words per block of [`fill_limbs`] (2 KB of stack per limb being built).
pub const FILL_BLOCK: usize = 256;

/// New limbs of `n` words each, written a block at a time: `f(start, blocks)` must write
/// every word of each block (words `start..start + len` of its limb; their contents on entry
/// are unspecified). The blocks live on the stack and are appended to the limbs, so no
/// zeroed `n`-word buffer is made first only to be overwritten (`vec![0; n]` costs a
/// `memset` of 512 KB per limb at N = 2^16), and an out-of-place operation reads its
/// operands once instead of copying one first.
pub fn fill_limbs<const K: usize>(
    n: usize,
    mut f: impl FnMut(usize, [&mut [u64]; K]),
) -> [Vec<u64>; K] {
    let mut out: [Vec<u64>; K] = std::array::from_fn(|_| Vec::with_capacity(n));
    let mut buf = [[0u64; FILL_BLOCK]; K];
    for start in (0..n).step_by(FILL_BLOCK) {
        let len = FILL_BLOCK.min(n - start);
        f(start, buf.each_mut().map(|b| &mut b[..len]));
        for (o, b) in out.iter_mut().zip(&buf) {
            o.extend_from_slice(&b[..len]);
        }
    }
    out
}

/// One limb of `n` words written a block at a time by `f(start, block)` (see [`fill_limbs`]).
pub fn fill_limb(n: usize, mut f: impl FnMut(usize, &mut [u64])) -> Vec<u64> {
    let [limb] = fill_limbs(n, |start, [b]| f(start, b));
    limb
}

/// Precomputed per-prime data for a ring of degree N over a list of primes.
#[derive(Debug, Clone)]
pub struct RingContext {
    n: usize,
    moduli: Vec<Modulus>,
    tables: Vec<NttTable>,
}

impl RingContext {
    /// Builds NTT tables for every prime (each must be NTT-friendly for N).
    pub fn new(n: usize, primes: &[u64]) -> Result<Self, NttError> {
        let tables = primes
            .iter()
            .map(|&q| NttTable::new(n, q))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            n,
            moduli: primes.iter().map(|&q| Modulus::new(q)).collect(),
            tables,
        })
    }

    /// Ring degree.
    pub fn n(&self) -> usize {
        self.n
    }

    /// The moduli, in chain order.
    pub fn moduli(&self) -> &[Modulus] {
        &self.moduli
    }

    /// The NTT plan of the `i`-th prime.
    pub fn table(&self, i: usize) -> &NttTable {
        &self.tables[i]
    }

    /// A zero polynomial over the first `limbs` primes.
    pub fn zero(&self, limbs: usize, ntt: bool) -> RnsPoly {
        RnsPoly {
            limbs: vec![vec![0; self.n]; limbs],
            ntt,
        }
    }

    /// The polynomial with signed integer coefficients `c`, reduced over the first `limbs`
    /// primes (coefficient form).
    pub fn from_signed(&self, c: &[i64], limbs: usize) -> RnsPoly {
        RnsPoly {
            limbs: self.moduli[..limbs]
                .iter()
                .map(|m| c.iter().map(|&x| m.from_i64(x)).collect())
                .collect(),
            ntt: false,
        }
    }

    /// Converts to NTT form in place (no-op if already there).
    pub fn to_ntt(&self, a: &mut RnsPoly) {
        if !a.ntt {
            a.limbs
                .par_iter_mut()
                .zip(&self.tables)
                .for_each(|(l, t)| t.forward(l));
            a.ntt = true;
        }
    }

    /// Converts to coefficient form in place (no-op if already there).
    pub fn to_coeff(&self, a: &mut RnsPoly) {
        if a.ntt {
            a.limbs
                .par_iter_mut()
                .zip(&self.tables)
                .for_each(|(l, t)| t.inverse(l));
            a.ntt = false;
        }
    }

    /// `a += b` (same form, `b` has at least as many limbs as `a`).
    pub fn add_assign(&self, a: &mut RnsPoly, b: &RnsPoly) {
        count(Primitive::Add, a.limbs.len());
        debug_assert_eq!(a.ntt, b.ntt);
        a.limbs
            .par_iter_mut()
            .zip(&b.limbs)
            .zip(&self.moduli)
            .for_each(|((x, y), m)| x.iter_mut().zip(y).for_each(|(u, &v)| *u = m.add(*u, v)));
    }

    /// `a + b` into a new polynomial with `a`'s limbs (one pass, no copy of `a` first).
    pub fn add(&self, a: &RnsPoly, b: &RnsPoly) -> RnsPoly {
        self.zip_with(a, b, |m, x, y| m.add(x, y))
    }

    /// `a - b` into a new polynomial with `a`'s limbs.
    pub fn sub(&self, a: &RnsPoly, b: &RnsPoly) -> RnsPoly {
        self.zip_with(a, b, |m, x, y| m.sub(x, y))
    }

    fn zip_with(
        &self,
        a: &RnsPoly,
        b: &RnsPoly,
        f: impl Fn(&Modulus, u64, u64) -> u64 + Sync,
    ) -> RnsPoly {
        count(Primitive::Add, a.limbs.len());
        debug_assert_eq!(a.ntt, b.ntt);
        let limbs = a
            .limbs
            .par_iter()
            .zip(&b.limbs)
            .zip(&self.moduli)
            .map(|((x, y), m)| x.iter().zip(y).map(|(&u, &v)| f(m, u, v)).collect())
            .collect();
        RnsPoly { limbs, ntt: a.ntt }
    }

    /// `a -= b` (same form).
    pub fn sub_assign(&self, a: &mut RnsPoly, b: &RnsPoly) {
        count(Primitive::Add, a.limbs.len());
        debug_assert_eq!(a.ntt, b.ntt);
        a.limbs
            .par_iter_mut()
            .zip(&b.limbs)
            .zip(&self.moduli)
            .for_each(|((x, y), m)| x.iter_mut().zip(y).for_each(|(u, &v)| *u = m.sub(*u, v)));
    }

    /// `a = -a`.
    pub fn neg_assign(&self, a: &mut RnsPoly) {
        count(Primitive::Add, a.limbs.len());
        a.limbs
            .par_iter_mut()
            .zip(&self.moduli)
            .for_each(|(x, m)| x.iter_mut().for_each(|u| *u = m.neg(*u)));
    }

    /// `a * b` pointwise into a new polynomial with `a`'s limbs (both in NTT form; `b` has
    /// at least as many limbs): one pass, no copy of `a` first.
    pub fn mul(&self, a: &RnsPoly, b: &RnsPoly) -> RnsPoly {
        count(Primitive::ModMul, a.limbs.len());
        debug_assert!(a.ntt && b.ntt);
        let limbs = a
            .limbs
            .par_iter()
            .zip(&b.limbs)
            .zip(&self.moduli)
            .map(|((x, y), m)| {
                fill_limb(self.n, |start, out| {
                    let r = start..start + out.len();
                    out.copy_from_slice(&x[r.clone()]);
                    lanes::mul_assign(m, out, &y[r]);
                })
            })
            .collect();
        RnsPoly { limbs, ntt: true }
    }

    /// `a * c` into a new polynomial, `c[i]` the constant's residue modulo the i-th prime
    /// (any form; one pass, no copy of `a` first).
    pub fn mul_residues(&self, a: &RnsPoly, c: &[u64]) -> RnsPoly {
        count(Primitive::ModMul, a.limbs.len());
        let limbs = a
            .limbs
            .par_iter()
            .zip(c)
            .zip(&self.moduli)
            .map(|((x, &c), m)| {
                fill_limb(self.n, |start, out| {
                    out.copy_from_slice(&x[start..start + out.len()]);
                    lanes::mul_const(m, out, c);
                })
            })
            .collect();
        RnsPoly { limbs, ntt: a.ntt }
    }

    /// `a + c` into a new polynomial, `c[i]` the constant's residue modulo the i-th prime,
    /// added to every word (in NTT form, a constant polynomial is the constant at every
    /// evaluation point).
    pub fn add_residues(&self, a: &RnsPoly, c: &[u64]) -> RnsPoly {
        count(Primitive::Add, a.limbs.len());
        debug_assert!(a.ntt);
        let limbs = a
            .limbs
            .par_iter()
            .zip(c)
            .zip(&self.moduli)
            .map(|((x, &c), m)| x.iter().map(|&u| m.add(u, c)).collect())
            .collect();
        RnsPoly { limbs, ntt: true }
    }

    /// `a *= b` pointwise (both in NTT form).
    pub fn mul_assign(&self, a: &mut RnsPoly, b: &RnsPoly) {
        count(Primitive::ModMul, a.limbs.len());
        debug_assert!(a.ntt && b.ntt);
        a.limbs
            .par_iter_mut()
            .zip(&b.limbs)
            .zip(&self.moduli)
            .for_each(|((x, y), m)| lanes::mul_assign(m, x, y));
    }

    /// The tensor product of `(a0, a1)` and `(b0, b1)` in one pass (NTT form):
    /// `(a0 b0, a0 b1 + a1 b0, a1 b1)`, the middle term reduced once from a `u128` sum.
    pub fn tensor(
        &self,
        (a0, a1): (&RnsPoly, &RnsPoly),
        (b0, b1): (&RnsPoly, &RnsPoly),
    ) -> [RnsPoly; 3] {
        // Four products, three reductions per coefficient.
        count(Primitive::Mac, 4 * a0.limbs.len());
        count(Primitive::ModMul, 3 * a0.limbs.len());
        debug_assert!(a0.ntt && a1.ntt && b0.ntt && b1.ntt);
        let n = a0.limbs.first().map_or(0, Vec::len);
        let limbs: Vec<[Vec<u64>; 3]> = (0..a0.limbs.len())
            .into_par_iter()
            .map(|i| {
                let m = &self.moduli[i];
                let (x0, x1, y0, y1) = (&a0.limbs[i], &a1.limbs[i], &b0.limbs[i], &b1.limbs[i]);
                let (mut d0, mut d1, mut d2) = (vec![0u64; n], vec![0u64; n], vec![0u64; n]);
                lanes::tensor(m, [x0, x1], [y0, y1], [&mut d0, &mut d1, &mut d2]);
                [d0, d1, d2]
            })
            .collect();
        let mut out: [Vec<Vec<u64>>; 3] = Default::default();
        for [d0, d1, d2] in limbs {
            out[0].push(d0);
            out[1].push(d1);
            out[2].push(d2);
        }
        out.map(|limbs| RnsPoly { limbs, ntt: true })
    }

    /// `acc += a * b` pointwise (all in NTT form).
    pub fn mul_add_assign(&self, acc: &mut RnsPoly, a: &RnsPoly, b: &RnsPoly) {
        count(Primitive::ModMul, acc.limbs.len());
        count(Primitive::Add, acc.limbs.len());
        debug_assert!(acc.ntt && a.ntt && b.ntt);
        acc.limbs
            .par_iter_mut()
            .zip(a.limbs.par_iter().zip(&b.limbs))
            .zip(&self.moduli)
            .for_each(|((z, (x, y)), m)| lanes::mul_add_assign(m, z, x, y));
    }

    /// `a *= c` for a per-limb scalar given as an integer (any form).
    pub fn mul_scalar_assign(&self, a: &mut RnsPoly, c: u64) {
        count(Primitive::ModMul, a.limbs.len());
        a.limbs
            .par_iter_mut()
            .zip(&self.moduli)
            .for_each(|(x, m)| lanes::mul_const(m, x, c % m.value));
    }

    /// The Galois automorphism `X -> X^g` (g odd) of a polynomial in coefficient form.
    pub fn automorphism(&self, a: &RnsPoly, g: usize) -> RnsPoly {
        count(Primitive::Permute, a.limbs.len());
        debug_assert!(!a.ntt && g % 2 == 1);
        let n = self.n;
        let mask = 2 * n - 1;
        let limbs = a
            .limbs
            .par_iter()
            .zip(&self.moduli)
            .map(|(x, m)| {
                let mut out = vec![0u64; n];
                for (i, &c) in x.iter().enumerate() {
                    let j = (i * g) & mask;
                    if j < n {
                        out[j] = c;
                    } else {
                        out[j - n] = m.neg(c);
                    }
                }
                out
            })
            .collect();
        RnsPoly { limbs, ntt: false }
    }
}

/// A polynomial in RNS form: `limbs[i]` holds it modulo the i-th prime of its context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RnsPoly {
    /// Residues per prime, each of length N.
    pub limbs: Vec<Vec<u64>>,
    /// True if the limbs hold NTT evaluations, false for coefficients.
    pub ntt: bool,
}

impl RnsPoly {
    /// Number of limbs.
    pub fn limb_count(&self) -> usize {
        self.limbs.len()
    }

    /// Drops the limbs beyond the first `limbs`.
    pub fn truncate(&mut self, limbs: usize) {
        self.limbs.truncate(limbs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ckks::math::primes::ntt_primes;
    use rand::RngExt;
    use rand::SeedableRng;
    use rand::rngs::ChaCha20Rng;

    fn negacyclic(a: &[i64], b: &[i64]) -> Vec<i128> {
        let n = a.len();
        let mut out = vec![0i128; n];
        for (i, &x) in a.iter().enumerate() {
            for (j, &y) in b.iter().enumerate() {
                let p = x as i128 * y as i128;
                if i + j < n {
                    out[i + j] += p;
                } else {
                    out[i + j - n] -= p;
                }
            }
        }
        out
    }

    #[test]
    fn rns_product_matches_integer_negacyclic_product() {
        let n = 64;
        let primes = ntt_primes(45, n, 3, &[]).unwrap();
        let ctx = RingContext::new(n, &primes).unwrap();
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let a: Vec<i64> = (0..n).map(|_| rng.random_range(-1000..1000)).collect();
        let b: Vec<i64> = (0..n).map(|_| rng.random_range(-1000..1000)).collect();
        let want = negacyclic(&a, &b);
        let (mut pa, mut pb) = (ctx.from_signed(&a, 3), ctx.from_signed(&b, 3));
        let orig = pa.clone();
        ctx.to_ntt(&mut pa);
        ctx.to_ntt(&mut pb);
        let mut acc = ctx.zero(3, true);
        ctx.mul_add_assign(&mut acc, &pa, &pb);
        ctx.mul_assign(&mut pa, &pb);
        assert_eq!(acc, pa);
        ctx.to_coeff(&mut pa);
        for (limb, m) in pa.limbs.iter().zip(ctx.moduli()) {
            for (&got, &w) in limb.iter().zip(&want) {
                assert_eq!(m.centered(got) as i128, w);
            }
        }
        let mut s = orig.clone();
        ctx.add_assign(&mut s, &orig);
        ctx.sub_assign(&mut s, &orig);
        assert_eq!(s, orig);
        ctx.neg_assign(&mut s);
        ctx.neg_assign(&mut s);
        assert_eq!(s, orig);
        ctx.mul_scalar_assign(&mut s, 3);
        let three: Vec<i64> = a.iter().map(|x| 3 * x).collect();
        assert_eq!(s, ctx.from_signed(&three, 3));
    }

    #[test]
    fn filled_limbs_hold_every_block_written() {
        // 1000 words: three whole blocks and a partial one.
        let [a, b] = fill_limbs(1000, |start, [x, y]| {
            for (k, (u, v)) in x.iter_mut().zip(y.iter_mut()).enumerate() {
                *u = (start + k) as u64;
                *v = 3 * (start + k) as u64;
            }
        });
        assert_eq!(a, (0..1000).collect::<Vec<u64>>());
        assert_eq!(b, (0..1000).map(|k| 3 * k).collect::<Vec<u64>>());
    }

    #[test]
    fn automorphisms_compose_and_commute_with_products() {
        let n = 32;
        let primes = ntt_primes(40, n, 2, &[]).unwrap();
        let ctx = RingContext::new(n, &primes).unwrap();
        let a: Vec<i64> = (0..n as i64).map(|i| i * 3 - 40).collect();
        let b: Vec<i64> = (0..n as i64).map(|i| 7 - i).collect();
        let (pa, pb) = (ctx.from_signed(&a, 2), ctx.from_signed(&b, 2));
        // sigma_5 after sigma_5^{-1}: 5 * inv = 1 mod 2N.
        let inv = (1..2 * n)
            .step_by(2)
            .find(|g| g * 5 % (2 * n) == 1)
            .unwrap();
        assert_eq!(ctx.automorphism(&ctx.automorphism(&pa, 5), inv), pa);
        // sigma(a * b) = sigma(a) * sigma(b).
        let prod = |x: &RnsPoly, y: &RnsPoly| {
            let (mut x, mut y) = (x.clone(), y.clone());
            ctx.to_ntt(&mut x);
            ctx.to_ntt(&mut y);
            ctx.mul_assign(&mut x, &y);
            ctx.to_coeff(&mut x);
            x
        };
        let g = 2 * n - 1;
        assert_eq!(
            ctx.automorphism(&prod(&pa, &pb), g),
            prod(&ctx.automorphism(&pa, g), &ctx.automorphism(&pb, g))
        );
    }
}
