//! The operation set CKKS circuits are written against.
//!
//! Circuits ([`super::poly`], [`super::linear`], [`super::plan`]) are generic over an
//! [`Evaluator`]: the real RNS-CKKS engine implements it over ciphertexts, and
//! [`super::sim::SimEvaluator`] implements it over *simulated* ciphertexts (level, scale and
//! exact slot values), counting every operation at the level it ran at. Running the same
//! circuit code over both is what keeps the cost model's predicted depth and operation counts
//! from drifting from what the engine executes (Lattigo's `polynomial_evaluator_sim.go` idea).
//!
//! # Conventions every implementation follows
//! - **Levels count down.** A fresh ciphertext is at [`Evaluator::top_level`]; `rescale` takes
//!   a ciphertext from level `l` to `l - 1` and divides its scale by the prime
//!   [`Evaluator::rescale_prime`]`(l)`; level 0 cannot be rescaled.
//! - **Scales are explicit.** No operation rescales on its own. `mul_relin` multiplies the
//!   scales, `mul_const` multiplies by the scale the constant is encoded at, `mul_plain` by
//!   the plaintext's scale; `add`, `sub` need equal scales ([`scales_match`]) and equal
//!   levels, otherwise they fail with [`EvalError::ScaleMismatch`] or
//!   [`EvalError::LevelMismatch`]. `drop_level` keeps the scale.
//! - **Slots are real.** A slot vector shorter than [`Evaluator::slots`] is zero-padded; a
//!   longer one is refused.
//! - **Rotation.** `rotate(ct, k)` moves slot `i + k` (mod slots) to slot `i` (a left
//!   rotation for positive `k`); it needs the rotation key of `k mod slots`, otherwise
//!   [`EvalError::MissingRotationKey`]. Rotation by 0 is the identity and needs no key.
//!
//! Engines report their own error type ([`Evaluator::Error`]); it must convert from
//! [`EvalError`], which circuits use for the failures they detect themselves.

use std::fmt::Debug;

/// Relative tolerance under which two scales count as equal for `add` and `sub`.
///
/// Scales are tracked as `f64`; exact scale management (see [`super::poly`]) makes operands'
/// scales agree up to floating-point rounding, far below this.
pub const SCALE_TOLERANCE: f64 = 1e-9;

/// True if two scales are equal up to [`SCALE_TOLERANCE`] (relative).
pub fn scales_match(a: f64, b: f64) -> bool {
    (a - b).abs() <= SCALE_TOLERANCE * a.abs().max(b.abs())
}

/// Failures common to every evaluator and to the circuits written against it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// The operation needs more levels than the ciphertext has left.
    #[error(
        "out of levels: {op} needs a ciphertext at level >= {needed}, but it is at level {level}"
    )]
    OutOfLevels {
        /// Operation name.
        op: &'static str,
        /// Level of the operand.
        level: usize,
        /// Minimum level the operation needs.
        needed: usize,
    },
    /// Two operands are at different levels.
    #[error("{op}: operands are at different levels ({left} and {right}); drop_level first")]
    LevelMismatch {
        /// Operation name.
        op: &'static str,
        /// Level of the first operand.
        left: usize,
        /// Level of the second operand.
        right: usize,
    },
    /// Two operands of an addition have different scales.
    #[error(
        "{op}: operands have different scales (2^{:.6} and 2^{:.6})",
        left.log2(),
        right.log2()
    )]
    ScaleMismatch {
        /// Operation name.
        op: &'static str,
        /// Scale of the first operand.
        left: f64,
        /// Scale of the second operand.
        right: f64,
    },
    /// A scale or constant is not a finite positive number, or the scale outgrows the modulus.
    #[error("{op}: bad scale 2^{:.3} at level {level} ({reason})", scale.log2())]
    BadScale {
        /// Operation name.
        op: &'static str,
        /// The offending scale.
        scale: f64,
        /// Level it was used at.
        level: usize,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A constant or slot value is NaN or infinite.
    #[error("{op}: value is not finite")]
    NotFinite {
        /// Operation name.
        op: &'static str,
    },
    /// A slot vector has more values than there are slots.
    #[error("{op}: {got} values do not fit in {slots} slots")]
    TooManyValues {
        /// Operation name.
        op: &'static str,
        /// Values given.
        got: usize,
        /// Slots available.
        slots: usize,
    },
    /// No rotation key was generated for this step.
    #[error("no rotation key for step {step} (mod {slots} slots)")]
    MissingRotationKey {
        /// The rotation step asked for (reduced mod slots, in 0..slots).
        step: usize,
        /// Number of slots.
        slots: usize,
    },
    /// A circuit was given an input it cannot evaluate (bad interval, empty polynomial, ...).
    #[error("{0}")]
    InvalidInput(String),
}

/// The operations of an RNS-CKKS evaluator that circuits use. See the module docs for the
/// level, scale and rotation conventions.
pub trait Evaluator {
    /// A ciphertext (or, in the simulator, a simulated one).
    type Ciphertext: Clone + Debug;
    /// A slot vector encoded at a given level and scale, ready for [`Evaluator::mul_plain`].
    type Plaintext: Debug;
    /// A slot vector encoded for a given level and scale but kept compact (its integer
    /// coefficients once, not a residue per prime in NTT form), made ready for use by
    /// [`Evaluator::expand`].
    type Compact: Debug;
    /// The engine's error type.
    type Error: std::error::Error + From<EvalError> + Send + Sync + 'static;

    /// Number of slots (N / 2).
    fn slots(&self) -> usize;
    /// Level of a fresh ciphertext: the levels available for computation.
    fn top_level(&self) -> usize;
    /// The default scale of fresh ciphertexts (about 2^log_scale).
    fn default_scale(&self) -> f64;
    /// The prime `rescale` divides by when it takes a ciphertext from `level` to `level - 1`
    /// (`level` in `1..=top_level`).
    fn rescale_prime(&self, level: usize) -> u64;

    /// Level of a ciphertext.
    fn level(&self, ct: &Self::Ciphertext) -> usize;
    /// Scale of a ciphertext.
    fn scale(&self, ct: &Self::Ciphertext) -> f64;
    /// Level of an encoded plaintext.
    fn plaintext_level(&self, pt: &Self::Plaintext) -> usize;
    /// Scale of an encoded plaintext.
    fn plaintext_scale(&self, pt: &Self::Plaintext) -> f64;

    /// `a + b`; equal levels and scales.
    fn add(
        &self,
        a: &Self::Ciphertext,
        b: &Self::Ciphertext,
    ) -> Result<Self::Ciphertext, Self::Error>;
    /// `a - b`; equal levels and scales.
    fn sub(
        &self,
        a: &Self::Ciphertext,
        b: &Self::Ciphertext,
    ) -> Result<Self::Ciphertext, Self::Error>;
    /// `a + c` in every slot; `c` is encoded at `a`'s scale, which is kept.
    fn add_const(&self, a: &Self::Ciphertext, c: f64) -> Result<Self::Ciphertext, Self::Error>;
    /// `a * c` in every slot, with `c` encoded as the integer `round(c * scale)`: the result
    /// has scale `scale(a) * scale` and is not rescaled. `scale = 1` multiplies by an integer
    /// exactly without consuming a level's worth of scale.
    fn mul_const(
        &self,
        a: &Self::Ciphertext,
        c: f64,
        scale: f64,
    ) -> Result<Self::Ciphertext, Self::Error>;
    /// Encodes a slot vector at `level` and `scale` (zero-padded to the slot count).
    fn encode(
        &self,
        values: &[f64],
        level: usize,
        scale: f64,
    ) -> Result<Self::Plaintext, Self::Error>;
    /// [`Evaluator::encode`], kept compact until [`Evaluator::expand`]: the memory of one
    /// residue instead of `level + 1`, for the work of reducing and transforming it at each
    /// use.
    fn encode_compact(
        &self,
        values: &[f64],
        level: usize,
        scale: f64,
    ) -> Result<Self::Compact, Self::Error>;
    /// The plaintext a compact encoding stands for (equal to [`Evaluator::encode`] of the same
    /// values, level and scale).
    fn expand(&self, c: &Self::Compact) -> Result<Self::Plaintext, Self::Error>;
    /// `sum_k a_k * p_k` for compact plaintexts (as [`Evaluator::mul_plain`] of each expanded
    /// `p_k`, then [`Evaluator::add`]: the same result). Every `a_k` must be at one level,
    /// every product at one scale; at least one term.
    fn dot_compact(
        &self,
        terms: &[(&Self::Ciphertext, &Self::Compact)],
    ) -> Result<Self::Ciphertext, Self::Error> {
        let expanded = terms
            .iter()
            .map(|&(a, c)| Ok((a, self.expand(c)?)))
            .collect::<Result<Vec<_>, Self::Error>>()?;
        let terms: Vec<(&Self::Ciphertext, &Self::Plaintext)> =
            expanded.iter().map(|(a, p)| (*a, p)).collect();
        self.dot_plain(&terms)
    }
    /// `sum_k a_k * p_k` (as [`Evaluator::mul_plain`] of each term, then [`Evaluator::add`]:
    /// the same result, which an engine may compute in one fused pass). Every `a_k` must be
    /// at one level, every product at one scale; at least one term.
    fn dot_plain(
        &self,
        terms: &[(&Self::Ciphertext, &Self::Plaintext)],
    ) -> Result<Self::Ciphertext, Self::Error> {
        let mut acc: Option<Self::Ciphertext> = None;
        for (a, p) in terms {
            let term = self.mul_plain(a, p)?;
            acc = Some(match acc {
                None => term,
                Some(s) => self.add(&s, &term)?,
            });
        }
        acc.ok_or_else(|| EvalError::InvalidInput("an inner product of no terms".into()).into())
    }
    /// `a + p` slot-wise; `p` must be at a level >= `a`'s and at `a`'s scale
    /// ([`scales_match`]), otherwise [`EvalError::ScaleMismatch`]. The scale is kept.
    fn add_plain(
        &self,
        a: &Self::Ciphertext,
        p: &Self::Plaintext,
    ) -> Result<Self::Ciphertext, Self::Error>;
    /// `a * p` slot-wise; `p` must be at a level >= `a`'s. The result has scale
    /// `scale(a) * plaintext_scale(p)` at `a`'s level and is not rescaled.
    fn mul_plain(
        &self,
        a: &Self::Ciphertext,
        p: &Self::Plaintext,
    ) -> Result<Self::Ciphertext, Self::Error>;
    /// `a * b` slot-wise with relinearisation; equal levels. Scales multiply; no rescale.
    fn mul_relin(
        &self,
        a: &Self::Ciphertext,
        b: &Self::Ciphertext,
    ) -> Result<Self::Ciphertext, Self::Error>;
    /// Divides by `rescale_prime(level)` and drops one level; refused at level 0.
    fn rescale(&self, a: &Self::Ciphertext) -> Result<Self::Ciphertext, Self::Error>;
    /// Drops `levels` levels without changing the scale.
    fn drop_level(
        &self,
        a: &Self::Ciphertext,
        levels: usize,
    ) -> Result<Self::Ciphertext, Self::Error>;
    /// Rotates the slots left by `step` (slot `i` receives slot `i + step` mod slots).
    fn rotate(&self, a: &Self::Ciphertext, step: isize) -> Result<Self::Ciphertext, Self::Error>;
    /// `sum_k rot(a_k, s_k)` (as [`Evaluator::rotate`] of each term, then [`Evaluator::add`]:
    /// equal in value, which an engine may compute with one key-switching ModDown for the
    /// whole sum instead of one per rotation). Every `a_k` at one level and scale; at least
    /// one term.
    fn rotate_sum(
        &self,
        terms: &[(&Self::Ciphertext, isize)],
    ) -> Result<Self::Ciphertext, Self::Error> {
        let mut acc: Option<Self::Ciphertext> = None;
        for &(a, step) in terms {
            let term = self.rotate(a, step)?;
            acc = Some(match acc {
                None => term,
                Some(s) => self.add(&s, &term)?,
            });
        }
        acc.ok_or_else(|| EvalError::InvalidInput("a rotation sum of no terms".into()).into())
    }
    /// Rotations of `a` by every step in `steps`, sharing one key-switching decomposition of
    /// `a` (hoisting); the output is in the order of `steps`. Equal in value to calling
    /// [`Evaluator::rotate`] for each step.
    fn rotate_hoisted(
        &self,
        a: &Self::Ciphertext,
        steps: &[isize],
    ) -> Result<Vec<Self::Ciphertext>, Self::Error>;
}

/// The scale check every evaluator applies: refuses non-finite or non-positive scales and
/// scales that outgrow `Q_level`, whose primes are `primes[..=level]`.
pub fn check_scale(
    op: &'static str,
    scale: f64,
    level: usize,
    primes: &[u64],
) -> Result<(), EvalError> {
    let bad = |reason| EvalError::BadScale {
        op,
        scale,
        level,
        reason,
    };
    if !scale.is_finite() || scale <= 0.0 {
        return Err(bad("not a finite positive number"));
    }
    let log_q: f64 = primes[..=level].iter().map(|&q| (q as f64).log2()).sum();
    if scale.log2() >= log_q - 1.0 {
        return Err(bad("it outgrows the ciphertext modulus at this level"));
    }
    Ok(())
}

/// Reduces a rotation step to `0..slots` (the key that rotation needs).
pub fn normalize_step(step: isize, slots: usize) -> usize {
    step.rem_euclid(slots as isize) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_tolerance_is_relative() {
        let s = 2f64.powi(42);
        assert!(scales_match(s, s * (1.0 + 1e-12)));
        assert!(!scales_match(s, s * (1.0 + 1e-6)));
        assert!(!scales_match(s, 2.0 * s));
    }

    #[test]
    fn steps_normalize_into_slot_range() {
        assert_eq!(normalize_step(-1, 8), 7);
        assert_eq!(normalize_step(9, 8), 1);
        assert_eq!(normalize_step(0, 8), 0);
    }

    #[test]
    fn errors_read_as_one_line() {
        let e = EvalError::ScaleMismatch {
            op: "add",
            left: 2f64.powi(40),
            right: 2f64.powi(41),
        };
        let msg = e.to_string();
        assert!(msg.contains("2^40.000000") && !msg.contains('\n'), "{msg}");
    }
}
