//! The homomorphic DFT of bootstrapping, as plain complex matrices.
//!
//! The encoder's special FFT ([`crate::ckks::scheme::encoder`]) maps coefficient pairs
//! `v_j = m_j + i m_{j+N/2}` to slots through a bit reversal and `log2(N/2)` butterfly stages;
//! each stage is a matrix with three non-zero diagonals (0 and `+-len/2`). Bootstrapping
//! evaluates the inverse (CoeffsToSlots) and the forward map (SlotsToCoeffs) on ciphertexts as
//! a few *groups* of consecutive stages, each group one plaintext-diagonal matrix product and
//! one level. The bit reversal is never evaluated: CoeffsToSlots leaves the coefficients in
//! bit-reversed slot order, the modular reduction works slot by slot, and SlotsToCoeffs
//! expects exactly that order (Lattigo's and OpenFHE's arrangement).

use std::collections::BTreeMap;

use num_complex::Complex64;

use crate::ckks::scheme::encoder::Encoder;

/// A square matrix over the slots by its non-zero diagonals:
/// `out[i] = sum_k d_k[i] * in[(i + k) mod n]`, so diagonal `k` pairs with a left rotation by
/// `k` slots.
#[derive(Clone, Debug, PartialEq)]
pub struct DiagonalMatrix {
    n: usize,
    diags: BTreeMap<usize, Vec<Complex64>>,
}

impl DiagonalMatrix {
    /// The `n x n` identity.
    pub fn identity(n: usize) -> Self {
        Self {
            n,
            diags: BTreeMap::from([(0, vec![Complex64::new(1.0, 0.0); n])]),
        }
    }

    /// Dimension.
    pub fn n(&self) -> usize {
        self.n
    }

    /// The diagonals by index (rotation step in `0..n`).
    pub fn diagonals(&self) -> &BTreeMap<usize, Vec<Complex64>> {
        &self.diags
    }

    /// Matrix-vector product.
    pub fn apply(&self, v: &[Complex64]) -> Vec<Complex64> {
        let n = self.n;
        let mut out = vec![Complex64::new(0.0, 0.0); n];
        for (&k, d) in &self.diags {
            for (i, o) in out.iter_mut().enumerate() {
                *o += d[i] * v[(i + k) % n];
            }
        }
        out
    }

    /// `self * other` (`other` applied first): diagonal `k + l` gathers `a_k[i] b_l[i + k]`.
    pub fn compose(&self, other: &Self) -> Self {
        let n = self.n;
        let mut diags: BTreeMap<usize, Vec<Complex64>> = BTreeMap::new();
        for (&k, a) in &self.diags {
            for (&l, b) in &other.diags {
                let d = diags
                    .entry((k + l) % n)
                    .or_insert_with(|| vec![Complex64::new(0.0, 0.0); n]);
                for (i, x) in d.iter_mut().enumerate() {
                    *x += a[i] * b[(i + k) % n];
                }
            }
        }
        Self { n, diags }
    }

    /// Multiplies every entry by `c`.
    pub fn scale(&mut self, c: f64) {
        for d in self.diags.values_mut() {
            d.iter_mut().for_each(|x| *x *= c);
        }
    }
}

/// The forward (slots-from-coefficients) stage of length `len` on `n = N/2` slots: in block
/// positions `j < len/2`, `out = in[p] + w_j in[p + len/2]`; in `j >= len/2`,
/// `out = in[p - len/2] - w_j in[p]`.
fn forward_stage(encoder: &Encoder, n: usize, len: usize) -> DiagonalMatrix {
    let h = len / 2;
    let zero = Complex64::new(0.0, 0.0);
    let one = Complex64::new(1.0, 0.0);
    let (mut d0, mut dp, mut dm) = (vec![zero; n], vec![zero; n], vec![zero; n]);
    for p in 0..n {
        let r = p % len;
        if r < h {
            d0[p] = one;
            dp[p] = encoder.twiddle(len, r);
        } else {
            d0[p] = -encoder.twiddle(len, r - h);
            dm[p] = one;
        }
    }
    stage_matrix(n, h, d0, dp, dm)
}

/// The inverse stage of length `len`: in `j < len/2`, `out = in[p] + in[p + len/2]`; in
/// `j >= len/2`, `out = conj(w_j) (in[p - len/2] - in[p])` (without the final `1/n`).
fn inverse_stage(encoder: &Encoder, n: usize, len: usize) -> DiagonalMatrix {
    let h = len / 2;
    let zero = Complex64::new(0.0, 0.0);
    let one = Complex64::new(1.0, 0.0);
    let (mut d0, mut dp, mut dm) = (vec![zero; n], vec![zero; n], vec![zero; n]);
    for p in 0..n {
        let r = p % len;
        if r < h {
            d0[p] = one;
            dp[p] = one;
        } else {
            let w = encoder.twiddle(len, r - h).conj();
            d0[p] = -w;
            dm[p] = w;
        }
    }
    stage_matrix(n, h, d0, dp, dm)
}

fn stage_matrix(
    n: usize,
    h: usize,
    d0: Vec<Complex64>,
    dp: Vec<Complex64>,
    dm: Vec<Complex64>,
) -> DiagonalMatrix {
    let mut diags = BTreeMap::from([(0, d0), (h % n, dp)]);
    let minus = (n - h) % n;
    match diags.get_mut(&minus) {
        // len = n: +h and -h are the same rotation; the two halves do not overlap.
        Some(d) => d.iter_mut().zip(&dm).for_each(|(x, y)| *x += y),
        None => {
            diags.insert(minus, dm);
        }
    }
    DiagonalMatrix { n, diags }
}

/// Splits `stages` stages into `groups` consecutive groups as evenly as possible (earlier
/// groups get the extra stage; at least one group, at most one per stage).
fn split(stages: usize, groups: usize) -> Vec<usize> {
    let groups = groups.clamp(1, stages.max(1));
    (0..groups)
        .map(|g| stages / groups + usize::from(g < stages % groups))
        .collect()
}

/// Stage lengths `2, 4, ..., n` of `n` slots.
fn lengths(n: usize) -> Vec<usize> {
    (1..=n.trailing_zeros()).map(|k| 1usize << k).collect()
}

/// CoeffsToSlots as `groups` matrices in application order: their product is
/// `1/n * T_2 ... T_n` (the encoder's inverse special FFT without the bit reversal) times
/// `factor`. Each group is normalised by its own growth (`2^-stages`) so intermediate values
/// stay the size of the input; `factor` goes into the last group.
pub fn coeffs_to_slots(ring_n: usize, groups: usize, factor: f64) -> Vec<DiagonalMatrix> {
    let encoder = Encoder::new(ring_n);
    let n = ring_n / 2;
    let mut lens = lengths(n);
    lens.reverse(); // applied from len = n down to 2
    let counts = split(lens.len(), groups);
    let mut out = group_stages(
        &lens,
        &counts,
        |len| inverse_stage(&encoder, n, len),
        n,
        true,
    );
    if let Some(last) = out.last_mut() {
        last.scale(factor);
    }
    out
}

/// SlotsToCoeffs as `groups` matrices in application order: their product is
/// `S_n ... S_2` (the encoder's special FFT without the bit reversal) times `factor`, which
/// goes into the first group. The groups mirror [`coeffs_to_slots`]'s (the same stages
/// together), so with equal depths both transforms need the same rotation keys.
pub fn slots_to_coeffs(ring_n: usize, groups: usize, factor: f64) -> Vec<DiagonalMatrix> {
    let encoder = Encoder::new(ring_n);
    let n = ring_n / 2;
    let lens = lengths(n);
    let mut counts = split(lens.len(), groups);
    counts.reverse();
    let mut out = group_stages(
        &lens,
        &counts,
        |len| forward_stage(&encoder, n, len),
        n,
        false,
    );
    if let Some(first) = out.first_mut() {
        first.scale(factor);
    }
    out
}

fn group_stages(
    lens: &[usize],
    counts: &[usize],
    stage: impl Fn(usize) -> DiagonalMatrix,
    n: usize,
    normalize: bool,
) -> Vec<DiagonalMatrix> {
    let mut it = lens.iter();
    counts
        .iter()
        .map(|&count| {
            let mut m = DiagonalMatrix::identity(n);
            for &len in it.by_ref().take(count) {
                m = stage(len).compose(&m);
            }
            if normalize {
                m.scale(0.5f64.powi(count as i32));
            }
            m
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ckks::scheme::encoder::bit_reverse;

    /// Slots of the polynomial with coefficients `c` (length N), by direct evaluation at
    /// `zeta^(5^j)`.
    fn slots_of(c: &[f64]) -> Vec<Complex64> {
        let two_n = 2 * c.len();
        let mut g = 1usize;
        (0..c.len() / 2)
            .map(|_| {
                let e = g;
                g = g * 5 % two_n;
                c.iter()
                    .enumerate()
                    .map(|(k, &x)| {
                        let angle = 2.0 * std::f64::consts::PI * ((e * k) % two_n) as f64;
                        Complex64::from_polar(x, angle / two_n as f64)
                    })
                    .sum()
            })
            .collect()
    }

    fn bit_reversed(v: &[Complex64]) -> Vec<Complex64> {
        let mut v = v.to_vec();
        bit_reverse(&mut v);
        v
    }

    fn product(ms: &[DiagonalMatrix], v: &[Complex64]) -> Vec<Complex64> {
        ms.iter().fold(v.to_vec(), |acc, m| m.apply(&acc))
    }

    #[test]
    fn grouped_stages_are_the_canonical_embedding_and_its_inverse() {
        let ring_n = 64;
        let n = ring_n / 2;
        let coeffs: Vec<f64> = (0..ring_n).map(|i| ((i * 13 % 7) as f64) - 3.0).collect();
        let slots = slots_of(&coeffs);
        let pairs: Vec<Complex64> = (0..n)
            .map(|j| Complex64::new(coeffs[j], coeffs[j + n]))
            .collect();
        for groups in [1, 2, 3, 5] {
            // CoeffsToSlots gives the coefficient pairs in bit-reversed order.
            let cts = coeffs_to_slots(ring_n, groups, 2.0);
            assert_eq!(cts.len(), groups);
            let got = product(&cts, &slots);
            for (g, w) in got.iter().zip(bit_reversed(&pairs)) {
                assert!((g - w * 2.0).norm() < 1e-9, "{groups}: {g} vs {w}");
            }
            // SlotsToCoeffs takes them back to the slots.
            let stc = slots_to_coeffs(ring_n, groups, 0.5);
            let back = product(&stc, &bit_reversed(&pairs));
            for (g, w) in back.iter().zip(&slots) {
                assert!((g - w * 0.5).norm() < 1e-9, "{groups}: {g} vs {w}");
            }
        }
    }

    #[test]
    fn a_group_of_k_stages_has_at_most_2_to_the_k_plus_1_minus_1_diagonals() {
        let cts = coeffs_to_slots(1 << 10, 3, 1.0);
        let counts: Vec<usize> = cts.iter().map(|m| m.diagonals().len()).collect();
        // 9 stages in groups of 3: at most 15 diagonals each.
        assert!(counts.iter().all(|&c| c <= 15), "{counts:?}");
    }
}
