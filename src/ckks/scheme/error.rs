//! The engine's error type.

use crate::ckks::evaluator::EvalError;
use crate::ckks::math::ntt::NttError;
use crate::ckks::scheme::params::ParamError;

/// Why a CKKS engine operation was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CkksError {
    /// A failure every evaluator shares (levels, scales, rotation keys, bad values).
    #[error(transparent)]
    Eval(#[from] EvalError),
    /// The parameters were refused.
    #[error(transparent)]
    Params(#[from] ParamError),
    /// An NTT plan could not be built.
    #[error(transparent)]
    Ntt(#[from] NttError),
    /// An operand (ciphertext, plaintext or key) belongs to another parameter set.
    #[error(
        "{what} belongs to another CKKS context (id {got:016x}, this context is {expected:016x})"
    )]
    ContextMismatch {
        /// What was given.
        what: &'static str,
        /// This context's id.
        expected: u64,
        /// The operand's id.
        got: u64,
    },
    /// The evaluation keys hold no relinearisation key.
    #[error("no relinearisation key: generate the evaluation keys with one")]
    MissingRelinKey,
    /// The evaluation keys hold no conjugation key.
    #[error("no conjugation key: generate the evaluation keys with one")]
    MissingConjugationKey,
    /// A level above the chain's maximum was asked for.
    #[error("level {level} is above the maximum level {max} of this parameter set")]
    LevelTooHigh {
        /// Level asked for.
        level: usize,
        /// Highest level of the chain.
        max: usize,
    },
}
