//! Encoding through the canonical embedding: `N/2` complex slots `z_j = m(zeta^(5^j))` of a
//! real polynomial `m`, with `zeta = exp(i pi / N)`, computed by the "special" FFT of
//! Cheon-Kim-Kim-Song (HEAAN) in `O(N log N)`. cellwise encodes real slot vectors (imaginary
//! parts zero); rotations by `k` slots are the automorphisms `X -> X^(5^k)`.

use num_complex::Complex64;

use crate::ckks::evaluator::EvalError;
use crate::ckks::math::lanes;
use crate::ckks::math::modular::Modulus;
use crate::ckks::ring::RnsPoly;

/// Largest coefficient magnitude an encoding may produce (it is reduced through `i128`).
const MAX_COEFF: f64 = 1.7e38; // just below 2^127

/// The integer coefficients of an encoded polynomial, once for every prime: 8 bytes each
/// when they fit in an `i64` (the usual case), 16 otherwise.
#[derive(Debug, Clone)]
pub enum Coefficients {
    /// Every coefficient below 2^63 in magnitude.
    Small(Vec<i64>),
    /// Some coefficient of 2^63 or more.
    Wide(Vec<i128>),
}

impl Coefficients {
    /// The residues modulo `m` (coefficient form).
    pub fn residues(&self, m: &Modulus) -> Vec<u64> {
        let mut out = vec![0u64; self.len()];
        self.residues_into(m, &mut out);
        out
    }

    /// The residues modulo `m` into `out` (of the same length).
    pub fn residues_into(&self, m: &Modulus, out: &mut [u64]) {
        match self {
            Coefficients::Small(c) => lanes::reduce_signed(m, c, out),
            Coefficients::Wide(c) => lanes::reduce_signed_wide(m, c, out),
        }
    }

    /// Number of coefficients.
    pub fn len(&self) -> usize {
        match self {
            Coefficients::Small(c) => c.len(),
            Coefficients::Wide(c) => c.len(),
        }
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Precomputed roots of unity and the rotation group for ring degree N.
#[derive(Debug, Clone)]
pub struct Encoder {
    n: usize,
    /// `5^j mod 2N` for `j < N/2`.
    rot_group: Vec<usize>,
    /// `exp(2 pi i k / 2N)` for `k <= 2N`.
    ksi: Vec<Complex64>,
}

impl Encoder {
    /// Tables for ring degree `n` (a power of two).
    pub fn new(n: usize) -> Self {
        let m = 2 * n;
        let mut rot_group = Vec::with_capacity(n / 2);
        let mut g = 1usize;
        for _ in 0..n / 2 {
            rot_group.push(g);
            g = g * 5 % m;
        }
        let ksi = (0..=m)
            .map(|k| Complex64::from_polar(1.0, 2.0 * std::f64::consts::PI * k as f64 / m as f64))
            .collect();
        Self { n, rot_group, ksi }
    }

    /// Number of slots, N/2.
    pub fn slots(&self) -> usize {
        self.n / 2
    }

    /// The integer coefficients `round(scale * m)` of the polynomial whose slots are `values`
    /// (zero-padded), reduced modulo each of `moduli` (coefficient form). Refuses more values
    /// than slots, non-finite values, and coefficients beyond 2^127.
    pub fn encode(
        &self,
        op: &'static str,
        values: &[f64],
        scale: f64,
        moduli: &[Modulus],
    ) -> Result<RnsPoly, EvalError> {
        let level = moduli.len().saturating_sub(1);
        let coeffs = self.coefficients(op, values, scale, level)?;
        let limbs = moduli.iter().map(|m| coeffs.residues(m)).collect();
        Ok(RnsPoly { limbs, ntt: false })
    }

    /// The integer coefficients `round(scale * m)` of the real slot vector `values`
    /// (zero-padded), for an encoding at `level` (named in errors).
    pub fn coefficients(
        &self,
        op: &'static str,
        values: &[f64],
        scale: f64,
        level: usize,
    ) -> Result<Coefficients, EvalError> {
        let complex: Vec<Complex64> = values.iter().map(|&v| Complex64::new(v, 0.0)).collect();
        let bound = (MAX_COEFF, "the encoded coefficients exceed 2^127");
        let coeffs = self.rounded_coefficients(op, &complex, scale, level, bound)?;
        Ok(if coeffs.iter().all(|c| c.unsigned_abs() < 1 << 63) {
            Coefficients::Small(coeffs.into_iter().map(|c| c as i64).collect())
        } else {
            Coefficients::Wide(coeffs)
        })
    }

    /// The integer coefficients `round(scale * m)` of the polynomial whose slots are the
    /// complex `values` (refused beyond 2^120).
    pub fn encode_coefficients(
        &self,
        op: &'static str,
        values: &[Complex64],
        scale: f64,
    ) -> Result<Vec<i128>, EvalError> {
        let bound = (1.3e36, "the encoded coefficients exceed 2^120");
        self.rounded_coefficients(op, values, scale, 0, bound)
    }

    /// `round(scale * m)` for the slots `values` (zero-padded), refusing more values than
    /// slots, non-finite values, and coefficients of magnitude `bound.0` or more (error
    /// `bound.1`, reported at `level`).
    fn rounded_coefficients(
        &self,
        op: &'static str,
        values: &[Complex64],
        scale: f64,
        level: usize,
        bound: (f64, &'static str),
    ) -> Result<Vec<i128>, EvalError> {
        let slots = self.slots();
        if values.len() > slots {
            return Err(EvalError::TooManyValues {
                op,
                got: values.len(),
                slots,
            });
        }
        if values.iter().any(|v| !v.is_finite()) || !scale.is_finite() {
            return Err(EvalError::NotFinite { op });
        }
        let mut u = values.to_vec();
        u.resize(slots, Complex64::new(0.0, 0.0));
        self.special_fft_inv(&mut u);
        let mut coeffs = vec![0i128; self.n];
        for (i, z) in u.iter().enumerate() {
            for (k, x) in [(i, z.re), (i + slots, z.im)] {
                let c = (x * scale).round();
                if c.abs() >= bound.0 || !c.is_finite() {
                    return Err(EvalError::BadScale {
                        op,
                        scale,
                        level,
                        reason: bound.1,
                    });
                }
                coeffs[k] = c as i128;
            }
        }
        Ok(coeffs)
    }

    /// The slots (real parts) of the polynomial with real coefficients `coeffs`, divided by
    /// `scale`.
    pub fn decode(&self, coeffs: &[f64], scale: f64) -> Vec<f64> {
        self.decode_complex(coeffs, scale)
            .iter()
            .map(|z| z.re)
            .collect()
    }

    /// The complex slots of the polynomial with real coefficients `coeffs`, divided by
    /// `scale`.
    pub fn decode_complex(&self, coeffs: &[f64], scale: f64) -> Vec<Complex64> {
        let slots = self.slots();
        let mut u: Vec<Complex64> = (0..slots)
            .map(|i| Complex64::new(coeffs[i] / scale, coeffs[i + slots] / scale))
            .collect();
        self.special_fft(&mut u);
        u
    }

    /// The root of unity butterfly `j` of a forward FFT stage of length `len` multiplies by
    /// (bootstrapping's homomorphic DFT uses the same roots).
    pub(crate) fn twiddle(&self, len: usize, j: usize) -> Complex64 {
        let lenq = len << 2;
        self.ksi[(self.rot_group[j] % lenq) * (2 * self.n / lenq)]
    }

    /// Slots -> coefficient pairs: the inverse of [`Self::special_fft`].
    fn special_fft_inv(&self, vals: &mut [Complex64]) {
        let size = vals.len();
        let m = 2 * self.n;
        let mut len = size;
        while len >= 1 {
            let lenh = len >> 1;
            let lenq = len << 2;
            let gap = m / lenq;
            for i in (0..size).step_by(len) {
                for j in 0..lenh {
                    let idx = (lenq - (self.rot_group[j] % lenq)) * gap;
                    let u = vals[i + j] + vals[i + j + lenh];
                    let v = (vals[i + j] - vals[i + j + lenh]) * self.ksi[idx];
                    vals[i + j] = u;
                    vals[i + j + lenh] = v;
                }
            }
            len >>= 1;
        }
        bit_reverse(vals);
        let inv = 1.0 / size as f64;
        vals.iter_mut().for_each(|v| *v *= inv);
    }

    /// Coefficient pairs `(m_i, m_{i+N/2})` as complex numbers -> slots `m(zeta^(5^j))`.
    fn special_fft(&self, vals: &mut [Complex64]) {
        let size = vals.len();
        bit_reverse(vals);
        let mut len = 2;
        while len <= size {
            let lenh = len >> 1;
            for i in (0..size).step_by(len) {
                for j in 0..lenh {
                    let u = vals[i + j];
                    let v = vals[i + j + lenh] * self.twiddle(len, j);
                    vals[i + j] = u + v;
                    vals[i + j + lenh] = u - v;
                }
            }
            len <<= 1;
        }
    }
}

/// Bit-reversal permutation in place.
pub(crate) fn bit_reverse<T>(vals: &mut [T]) {
    let n = vals.len();
    let bits = n.trailing_zeros();
    if bits == 0 {
        return;
    }
    for i in 0..n {
        let j = i.reverse_bits() >> (usize::BITS - bits);
        if i < j {
            vals.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slot `j` of `m` by direct evaluation at `zeta^(5^j)`.
    fn direct_slots(coeffs: &[f64]) -> Vec<Complex64> {
        let n = coeffs.len();
        let m = 2 * n;
        let mut g = 1usize;
        (0..n / 2)
            .map(|_| {
                let e = g;
                g = g * 5 % m;
                coeffs
                    .iter()
                    .enumerate()
                    .map(|(k, &c)| {
                        let ang = 2.0 * std::f64::consts::PI * ((e * k) % m) as f64 / m as f64;
                        Complex64::from_polar(c, ang)
                    })
                    .sum()
            })
            .collect()
    }

    #[test]
    fn decode_is_the_canonical_embedding_and_encode_inverts_it() {
        let n = 64;
        let enc = Encoder::new(n);
        let coeffs: Vec<f64> = (0..n).map(|i| ((i * 37 % 11) as f64) - 5.0).collect();
        let want = direct_slots(&coeffs);
        let got = enc.decode(&coeffs, 1.0);
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w.re).abs() < 1e-9, "{g} vs {w}");
        }
        // Real slots encode to a real polynomial whose embedding gives them back.
        let values: Vec<f64> = (0..n / 2).map(|i| (i as f64 * 0.37).sin()).collect();
        let m = [Modulus::new((1u64 << 61) - 1)];
        let poly = enc.encode("encode", &values, 2f64.powi(30), &m).unwrap();
        let q = m[0].value;
        let c: Vec<f64> = poly.limbs[0]
            .iter()
            .map(|&x| {
                if x > q / 2 {
                    (x as i128 - q as i128) as f64
                } else {
                    x as f64
                }
            })
            .collect();
        let slots = direct_slots(&c);
        for (v, s) in values.iter().zip(&slots) {
            assert!((s.re / 2f64.powi(30) - v).abs() < 1e-7);
            assert!(s.im.abs() / 2f64.powi(30) < 1e-7);
        }
        let back = enc.decode(&c, 2f64.powi(30));
        for (v, b) in values.iter().zip(&back) {
            assert!((v - b).abs() < 1e-7);
        }
    }

    #[test]
    fn bad_inputs_are_refused() {
        let enc = Encoder::new(16);
        let m = [Modulus::new(97)];
        assert!(matches!(
            enc.encode("encode", &[0.0; 9], 1.0, &m),
            Err(EvalError::TooManyValues { .. })
        ));
        assert!(matches!(
            enc.encode("encode", &[f64::NAN], 1.0, &m),
            Err(EvalError::NotFinite { .. })
        ));
        assert!(matches!(
            enc.encode("encode", &[1.0], 1e40, &m),
            Err(EvalError::BadScale { .. })
        ));
    }
}
