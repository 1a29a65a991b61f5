//! Ciphertexts and plaintexts: RNS polynomials in NTT form over `q_0..=q_level`, with their
//! level, scale and the id of the context they belong to.

use crate::ckks::ring::RnsPoly;

/// A CKKS ciphertext `(c0, c1)` with `c0 + c1 s ≈ scale * m`.
#[derive(Debug, Clone)]
pub struct Ciphertext {
    pub(crate) c0: RnsPoly,
    pub(crate) c1: RnsPoly,
    pub(crate) level: usize,
    pub(crate) scale: f64,
    pub(crate) context_id: u64,
}

impl Ciphertext {
    /// Level (limbs - 1).
    pub fn level(&self) -> usize {
        self.level
    }

    /// Scale.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// Id of the context it belongs to.
    pub fn context_id(&self) -> u64 {
        self.context_id
    }

    /// Drops limbs down to `level` (the caller checked `level <= self.level`).
    pub(crate) fn truncated(&self, level: usize) -> Ciphertext {
        let mut out = self.clone();
        out.c0.truncate(level + 1);
        out.c1.truncate(level + 1);
        out.level = level;
        out
    }
}

/// An encoded slot vector `round(scale * m)` in NTT form.
#[derive(Debug, Clone)]
pub struct Plaintext {
    pub(crate) poly: RnsPoly,
    pub(crate) level: usize,
    pub(crate) scale: f64,
    pub(crate) context_id: u64,
}

impl Plaintext {
    /// Level.
    pub fn level(&self) -> usize {
        self.level
    }

    /// Scale.
    pub fn scale(&self) -> f64 {
        self.scale
    }
}
