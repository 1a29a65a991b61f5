//! Scalar arithmetic modulo a prime `q < 2^62`, with Shoup multiplication by precomputed
//! constants (one 64x64 high product and one low product, no division).

/// Moduli below this bound are multiplied in 52-bit lanes (AVX-512 IFMA) by the vector
/// kernels: `a b < 2^100` and one Barrett correction suffices (as in `tfhe-ntt`).
pub(crate) const IFMA_LIMIT: u64 = 1 << 50;

/// A modulus `q < 2^62` with its Barrett and Shoup constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Modulus {
    /// The modulus value.
    pub value: u64,
    /// `floor(2^128 / q)` truncated to its low 128 bits, for Barrett reduction of products.
    barrett: u128,
    /// Bit length of `q`.
    pub(crate) bits: u32,
    /// `floor(2^(bits + 63) / q)`: Barrett constant of the vector kernels' 64-bit lanes.
    pub(crate) barrett64: u64,
    /// `floor(2^(bits + 51) / q)`: Barrett constant of their 52-bit (IFMA) lanes, for
    /// `q < 2^50`; 0 otherwise.
    pub(crate) barrett52: u64,
    /// `2^64 mod q` with its Shoup companion: folds the high word of a `u128` into `[0, 2q)`.
    pub(crate) wrap: ShoupConst,
    /// `floor(2^64 / q)`: the Shoup companion of 1, which reduces a `u64` into `[0, 2q)`.
    pub(crate) unit_quotient: u64,
    /// `2^52 mod q` with its 52-bit Shoup companion `floor(value 2^52 / q)`, and that of 1,
    /// `floor(2^52 / q)`: the IFMA reductions of 52-bit halves, for `q < 2^50` (else 0).
    pub(crate) wrap52: ShoupConst,
    pub(crate) unit_quotient52: u64,
}

/// A constant `w mod q` together with its Shoup companion `floor(w * 2^64 / q)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShoupConst {
    /// The constant, reduced modulo `q`.
    pub value: u64,
    /// `floor(value * 2^64 / q)`.
    pub quotient: u64,
}

impl Modulus {
    /// Wraps `q`; `q` must be odd, at least 3 and below 2^62 (checked by the caller that
    /// generated it: parameters only hold such primes).
    pub fn new(q: u64) -> Self {
        debug_assert!((3..1u64 << 62).contains(&q));
        let bits = 64 - q.leading_zeros();
        let wrap = ((1u128 << 64) % q as u128) as u64;
        Self {
            value: q,
            barrett: u128::MAX / q as u128,
            bits,
            barrett64: ((1u128 << (bits + 63)) / q as u128) as u64,
            barrett52: if q < IFMA_LIMIT {
                ((1u128 << (bits + 51)) / q as u128) as u64
            } else {
                0
            },
            wrap: ShoupConst {
                value: wrap,
                quotient: (((wrap as u128) << 64) / q as u128) as u64,
            },
            unit_quotient: ((1u128 << 64) / q as u128) as u64,
            wrap52: if q < IFMA_LIMIT {
                let r = (1u64 << 52) % q;
                ShoupConst {
                    value: r,
                    quotient: (((r as u128) << 52) / q as u128) as u64,
                }
            } else {
                ShoupConst {
                    value: 0,
                    quotient: 0,
                }
            },
            unit_quotient52: if q < IFMA_LIMIT { (1u64 << 52) / q } else { 0 },
        }
    }

    /// `a + b mod q` for `a, b < q`.
    #[inline(always)]
    pub fn add(&self, a: u64, b: u64) -> u64 {
        let s = a + b;
        if s >= self.value { s - self.value } else { s }
    }

    /// `a - b mod q` for `a, b < q`.
    #[inline(always)]
    pub fn sub(&self, a: u64, b: u64) -> u64 {
        if a >= b { a - b } else { a + self.value - b }
    }

    /// `-a mod q` for `a < q`.
    #[inline(always)]
    pub fn neg(&self, a: u64) -> u64 {
        if a == 0 { 0 } else { self.value - a }
    }

    /// Barrett reduction of a 128-bit value `x < q^2 * 2^4`.
    #[inline(always)]
    pub fn reduce_u128(&self, x: u128) -> u64 {
        // quotient estimate: high 128 bits of x * barrett, computed from 64-bit halves.
        let (xl, xh) = (x as u64 as u128, (x >> 64) as u64 as u128);
        let (bl, bh) = (
            self.barrett as u64 as u128,
            (self.barrett >> 64) as u64 as u128,
        );
        let mid =
            ((xl * bl) >> 64) + ((xl * bh) & u64::MAX as u128) + ((xh * bl) & u64::MAX as u128);
        let qhat = xh * bh + ((xl * bh) >> 64) + ((xh * bl) >> 64) + (mid >> 64);
        let mut r = x.wrapping_sub(qhat.wrapping_mul(self.value as u128)) as u64;
        while r >= self.value {
            r -= self.value;
        }
        r
    }

    /// Reduces any `u64`.
    #[inline(always)]
    pub fn reduce(&self, x: u64) -> u64 {
        x % self.value
    }

    /// `a * b mod q` for `a, b < q`.
    #[inline(always)]
    pub fn mul(&self, a: u64, b: u64) -> u64 {
        self.reduce_u128(a as u128 * b as u128)
    }

    /// Precomputes the Shoup companion of `w`.
    pub fn shoup(&self, w: u64) -> ShoupConst {
        let value = w % self.value;
        ShoupConst {
            value,
            quotient: (((value as u128) << 64) / self.value as u128) as u64,
        }
    }

    /// `a * w mod q` for any `a < 2^64` by a precomputed constant (result in `[0, q)`).
    #[inline(always)]
    pub fn mul_shoup(&self, a: u64, w: ShoupConst) -> u64 {
        let r = self.mul_shoup_lazy(a, w);
        if r >= self.value { r - self.value } else { r }
    }

    /// `a * w mod q` in `[0, 2q)` (lazy variant of [`Self::mul_shoup`]).
    #[inline(always)]
    pub fn mul_shoup_lazy(&self, a: u64, w: ShoupConst) -> u64 {
        let qhat = ((a as u128 * w.quotient as u128) >> 64) as u64;
        a.wrapping_mul(w.value)
            .wrapping_sub(qhat.wrapping_mul(self.value))
    }

    /// `base^exp mod q`.
    pub fn pow(&self, mut base: u64, mut exp: u64) -> u64 {
        let mut acc = 1 % self.value;
        base %= self.value;
        while exp > 0 {
            if exp & 1 == 1 {
                acc = self.mul(acc, base);
            }
            base = self.mul(base, base);
            exp >>= 1;
        }
        acc
    }

    /// Inverse of `a` modulo the prime `q` (Fermat); `None` for `a = 0 mod q`.
    pub fn inv(&self, a: u64) -> Option<u64> {
        let a = a % self.value;
        (a != 0).then(|| self.pow(a, self.value - 2))
    }

    /// Centred representative of `a < q` in `(-q/2, q/2]`.
    #[inline(always)]
    pub fn centered(&self, a: u64) -> i64 {
        if a > self.value / 2 {
            a as i64 - self.value as i64
        } else {
            a as i64
        }
    }

    /// Reduces a signed integer.
    #[inline(always)]
    pub fn from_i64(&self, a: i64) -> u64 {
        let r = a.rem_euclid(self.value as i64);
        r as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngExt;
    use rand::SeedableRng;
    use rand::rngs::ChaCha20Rng;

    const QS: [u64; 3] = [
        (1 << 61) - 1,
        0x3fff_ffff_fff0_0001,
        1_152_921_504_606_584_833,
    ];

    #[test]
    fn barrett_and_shoup_agree_with_u128_remainder() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        for &q in &QS {
            let m = Modulus::new(q);
            for _ in 0..10_000 {
                let a = rng.random_range(0..q);
                let b = rng.random_range(0..q);
                let want = (a as u128 * b as u128 % q as u128) as u64;
                assert_eq!(m.mul(a, b), want);
                assert_eq!(m.mul_shoup(a, m.shoup(b)), want);
                let big: u64 = rng.random();
                assert_eq!(
                    m.mul_shoup(big, m.shoup(b)),
                    (big as u128 * b as u128 % q as u128) as u64
                );
                let x: u128 = rng.random::<u128>() % ((q as u128 * q as u128) << 4);
                assert_eq!(m.reduce_u128(x), (x % q as u128) as u64);
                assert_eq!(m.add(a, b), ((a as u128 + b as u128) % q as u128) as u64);
                assert_eq!(m.add(m.sub(a, b), b), a);
            }
        }
    }

    #[test]
    fn inverse_and_centering() {
        let m = Modulus::new(QS[2]);
        let a = 123_456_789;
        assert_eq!(m.mul(a, m.inv(a).unwrap()), 1);
        assert_eq!(m.inv(0), None);
        assert_eq!(m.centered(m.from_i64(-5)), -5);
        assert_eq!(m.centered(7), 7);
    }
}
