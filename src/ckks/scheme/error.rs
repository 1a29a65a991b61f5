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
    /// The bootstrap's sparse-secret encapsulation is outside the published 128-bit bound
    /// while the parameters claim 128-bit security.
    #[error(
        "the bootstrap's ephemeral secret (h = {h}) over q_0 p_0 = 2^{log_q0p0:.1} at N = 2^{log_n} is outside the published 128-bit bound ({bound}); pass --insecure to allow"
    )]
    InsecureEncapsulation {
        /// Hamming weight of the ephemeral secret.
        h: usize,
        /// log2(q_0 p_0).
        log_q0p0: f64,
        /// log2(N).
        log_n: u32,
        /// The bound, as text.
        bound: String,
    },
    /// A level above the chain's maximum was asked for.
    #[error("level {level} is above the maximum level {max} of this parameter set")]
    LevelTooHigh {
        /// Level asked for.
        level: usize,
        /// Highest level of the chain.
        max: usize,
    },
}
