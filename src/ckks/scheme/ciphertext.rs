//! Ciphertexts and plaintexts: RNS polynomials in NTT form over `q_0..=q_level`, with their
//! level, scale and the id of the context they belong to.

use crate::ckks::ring::RnsPoly;
use crate::ckks::scheme::encoder::Coefficients;

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

    /// Drops limbs down to `level` (the caller checked `level <= self.level`), copying only
    /// the limbs kept.
    pub(crate) fn truncated(&self, level: usize) -> Ciphertext {
        let keep = |p: &RnsPoly| RnsPoly {
            limbs: p.limbs[..=level].to_vec(),
            ntt: p.ntt,
        };
        Ciphertext {
            level,
            ..self.with_polys(keep(&self.c0), keep(&self.c1))
        }
    }

    /// A ciphertext with this one's level, scale and context but the polynomials given
    /// (nothing is copied).
    pub(crate) fn with_polys(&self, c0: RnsPoly, c1: RnsPoly) -> Ciphertext {
        Ciphertext {
            c0,
            c1,
            level: self.level,
            scale: self.scale,
            context_id: self.context_id,
        }
    }
}

/// An encoded slot vector `round(scale * m)` for a level, kept as its integer coefficients
/// (one residue's memory instead of `level + 1`); [`expand`](crate::ckks::scheme::encryption::expand)
/// makes the [`Plaintext`].
#[derive(Debug, Clone)]
pub struct CompactPlaintext {
    pub(crate) coeffs: Coefficients,
    pub(crate) level: usize,
    pub(crate) scale: f64,
    pub(crate) context_id: u64,
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
