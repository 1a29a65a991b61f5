//! CKKS parameters: a plain [`ParametersLiteral`] validated into immutable [`Parameters`].
//!
//! The modulus chain is `q_0` (first modulus, holds the final message), then `levels` primes
//! of `log_scale` bits consumed by computation, then `bootstrap_levels` primes reserved for a
//! later bootstrap (consumed first after a modulus raise). A fresh ciphertext for computation
//! sits at level `levels`; the chain's maximum level is `levels + bootstrap_levels`. Hybrid key
//! switching splits the `levels + bootstrap_levels + 1` Q-limbs into `dnum` digits of
//! `alpha = ceil(limbs / dnum)` limbs and uses `alpha` special primes P.

use std::sync::Arc;

use crate::ckks::math::primes::{PrimeError, ntt_primes};

/// Smallest supported log2(N).
pub const MIN_LOG_N: u32 = 10;
/// Largest supported log2(N): the 128-bit table below ends at N = 2^16, and one polynomial
/// limb at N = 2^17 is 1 MiB.
pub const MAX_LOG_N: u32 = 16;
/// Most primes, Q and P together, a parameter set may have. The largest 128-bit bound of the
/// table below (log2 QP <= 1772 at N = 2^16) holds at most 1772 / 20 = 88 primes of the
/// smallest supported size (20 bits), so no secure set needs more. The bound is checked before
/// any prime is generated or anything allocated: parameters from a file or a file header that
/// ask for thousands of levels are refused at once (88 limbs at N = 2^16 are 44 MiB per
/// polynomial, the largest context this build will ever set up).
pub const MAX_PRIMES: usize = 88;

/// Maximum log2(QP) for 128-bit classical security with a uniform ternary secret and error
/// of standard deviation 3.2, indexed by log2(N). Sources, row by row:
///
/// - N = 2^13, 2^14, 2^15 (218, 438, 881): the HomomorphicEncryption.org security standard
///   (Albrecht et al., "Homomorphic Encryption Security Standard", 2018: its table of the
///   largest log2 q for the ternary secret distribution, coefficients uniform in {-1, 0, 1},
///   classical 128-bit security).
/// - N = 2^16 (1772): NOT in that standard, whose tables stop at N = 2^15. The figure is
///   OpenFHE's extension of the table (`StdLatticeParm(HEStd_ternary, 65536,
///   HEStd_128_classic, 1772)` in `src/core/lib/lattice/stdlatticeparms.cpp`), added by
///   openfhe-development pull request 439 (2023) after issue 147 ("the standard does not
///   include entries for N = 2^16 ... run estimation using" the lattice-estimator).
///
/// The table holds for uniform ternary secrets only: [`ParametersLiteral::build`] refuses a
/// sparse main secret that claims 128-bit security.
pub fn max_log_qp_128(log_n: u32) -> Option<f64> {
    match log_n {
        13 => Some(218.0),
        14 => Some(438.0),
        15 => Some(881.0),
        16 => Some(1772.0),
        _ => None,
    }
}

/// Distribution of the secret key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub enum SecretDist {
    /// Uniform ternary coefficients in {-1, 0, 1}.
    Ternary,
    /// Ternary with exactly `h` non-zero coefficients.
    SparseTernary {
        /// Hamming weight.
        h: usize,
    },
}

impl SecretDist {
    /// Name used in profiles: `ternary` or `sparse-ternary-h<h>`.
    pub fn name(&self) -> String {
        match self {
            Self::Ternary => "ternary".to_string(),
            Self::SparseTernary { h } => format!("sparse-ternary-h{h}"),
        }
    }
}

/// Why parameters were refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParamError {
    /// The text is not a parameter description (TOML syntax, a missing or unknown key).
    #[error("{0}")]
    Parse(String),
    /// N out of range.
    #[error("ring degree 2^{0} is not supported: log_n must be in {MIN_LOG_N}..={MAX_LOG_N}")]
    RingDegree(u32),
    /// More primes than any supported parameter set needs ([`MAX_PRIMES`]).
    #[error(
        "{what} = {got}: more than the {MAX_PRIMES} primes (Q and P together) a parameter set may have"
    )]
    TooManyPrimes {
        /// The field or count that is too large.
        what: &'static str,
        /// Its value (or the primes it implies).
        got: usize,
    },
    /// A prime size is out of range.
    #[error("{what} of {bits} bits is outside 20..=62")]
    PrimeBits {
        /// Which prime size.
        what: &'static str,
        /// Its size.
        bits: u32,
    },
    /// Too few levels.
    #[error("at least one computation level is needed (got levels = 0)")]
    NoLevels,
    /// dnum out of range.
    #[error("dnum = {dnum} must be between 1 and the number of Q limbs ({limbs})")]
    Dnum {
        /// Requested digits.
        dnum: usize,
        /// Q limbs.
        limbs: usize,
    },
    /// An explicit prime is unusable.
    #[error("modulus {q} is not a prime = 1 mod 2N = {two_n} below 2^62 (or is repeated)")]
    BadPrime {
        /// The prime.
        q: u64,
        /// 2N.
        two_n: u64,
    },
    /// An explicit chain has the wrong length.
    #[error("explicit {what} chain has {got} primes but the parameters need {want}")]
    ChainLength {
        /// Q or P.
        what: &'static str,
        /// Given.
        got: usize,
        /// Needed.
        want: usize,
    },
    /// The scale does not fit in the first modulus.
    #[error(
        "scale 2^{log_scale} exceeds the first modulus (2^{first_mod_bits}); raise first_mod_bits"
    )]
    ScaleTooLarge {
        /// log2 of the scale.
        log_scale: u32,
        /// Bits of q_0.
        first_mod_bits: u32,
    },
    /// Sparse secret weight invalid.
    #[error("sparse secret hamming weight {h} must be in 1..=N = {n}")]
    Hamming {
        /// Weight.
        h: usize,
        /// Ring degree.
        n: usize,
    },
    /// A sparse main secret with parameters that claim 128-bit security.
    #[error(
        "a sparse main secret (h = {h}) is not covered by the 128-bit table, which holds for uniform ternary secrets only: use secret = \"Ternary\" (or pass --insecure)"
    )]
    SparseSecret {
        /// Hamming weight.
        h: usize,
    },
    /// Not 128-bit secure and `insecure` was not set.
    #[error(
        "insecure parameters: log2(QP) = {log_qp:.1} for N = 2^{log_n}, {} (pass --insecure to allow)",
        bound_text(*bound)
    )]
    Insecure {
        /// log2(QP).
        log_qp: f64,
        /// Bound (0 when N has no entry in the table).
        bound: f64,
        /// log2(N).
        log_n: u32,
    },
    /// Prime generation failed.
    #[error(transparent)]
    Primes(#[from] PrimeError),
}

fn bound_text(bound: f64) -> String {
    if bound > 0.0 {
        format!("above the 128-bit bound of {bound}")
    } else {
        "a ring degree the 128-bit table (N = 2^13..2^16) does not cover".to_string()
    }
}

/// Unvalidated parameter description (what presets, configs and the CLI produce). Unknown
/// keys are refused when it is read (a misspelt key must not silently fall back to nothing).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParametersLiteral {
    /// log2 of the ring degree N.
    pub log_n: u32,
    /// log2 of the default scale; computation primes have this many bits.
    pub log_scale: u32,
    /// Levels available for computation.
    pub levels: usize,
    /// Extra levels reserved above the computation levels for a later bootstrap.
    pub bootstrap_levels: usize,
    /// Bits of each bootstrap prime.
    pub bootstrap_bits: u32,
    /// Bits of the first modulus q_0.
    pub first_mod_bits: u32,
    /// Bits of each special prime.
    pub special_bits: u32,
    /// Number of key-switching digits.
    pub dnum: usize,
    /// Secret distribution.
    pub secret: SecretDist,
    /// Accept parameters below 128-bit security.
    pub insecure: bool,
    /// Explicit Q chain (q_0 first); empty = generate deterministically.
    pub q_primes: Vec<u64>,
    /// Explicit P primes; empty = generate deterministically.
    pub p_primes: Vec<u64>,
}

/// Named presets.
pub const PRESETS: [&str; 5] = [
    "fgb-like",
    "fgb-like-12",
    "test-small",
    "test-medium",
    "test-boot",
];

impl ParametersLiteral {
    /// The name of the preset these parameters are (whatever `insecure` says), if any.
    pub fn preset_name(&self) -> Option<&'static str> {
        PRESETS.into_iter().find(|name| {
            Self::preset(name).is_some_and(|p| {
                Self {
                    insecure: self.insecure,
                    ..p
                } == *self
            })
        })
    }

    /// A named preset: `fgb-like` (N = 2^16, 42-bit scale, 9 computation levels plus 14
    /// bootstrap levels of 60 bits, dnum 3, 128-bit secure), `fgb-like-12` (the same with 12
    /// computation levels, room for two degree-17 RNN steps between bootstraps instead of one;
    /// dnum 5 keeps log2 QP at 1768 <= 1772), `test-small` (N = 2^12, 5 levels,
    /// insecure), `test-medium` (N = 2^13, 7 levels, insecure, bootstrap room of 4 levels) or
    /// `test-boot` (the `fgb-like` chain at N = 2^12, insecure: bootstrapping and encrypted
    /// inference tests).
    pub fn preset(name: &str) -> Option<Self> {
        let base = Self {
            log_n: 16,
            log_scale: 42,
            levels: 9,
            bootstrap_levels: 14,
            bootstrap_bits: 60,
            first_mod_bits: 58,
            special_bits: 61,
            dnum: 3,
            secret: SecretDist::Ternary,
            insecure: false,
            q_primes: Vec::new(),
            p_primes: Vec::new(),
        };
        match name {
            "fgb-like" => Some(base),
            "fgb-like-12" => Some(Self {
                levels: 12,
                dnum: 5,
                ..base
            }),
            "test-small" => Some(Self {
                log_n: 12,
                log_scale: 40,
                levels: 5,
                bootstrap_levels: 0,
                first_mod_bits: 55,
                special_bits: 60,
                dnum: 2,
                insecure: true,
                ..base
            }),
            "test-medium" => Some(Self {
                log_n: 13,
                log_scale: 40,
                levels: 7,
                bootstrap_levels: 4,
                bootstrap_bits: 50,
                first_mod_bits: 55,
                special_bits: 60,
                dnum: 3,
                insecure: true,
                ..base
            }),
            "test-boot" => Some(Self {
                log_n: 12,
                insecure: true,
                ..base
            }),
            _ => None,
        }
    }

    /// Reads a parameter description from TOML text (the fields of this type, every one
    /// required, no other key). The error is one line naming the problem.
    pub fn from_toml(text: &str) -> Result<Self, ParamError> {
        toml::from_str(text).map_err(|e| ParamError::Parse(crate::problem::toml_message(text, &e)))
    }

    /// Validates and generates the prime chain. Every size is checked against its bound
    /// ([`MAX_LOG_N`], [`MAX_PRIMES`]) before any prime is generated or anything allocated.
    pub fn build(&self) -> Result<Parameters, ParamError> {
        if !(MIN_LOG_N..=MAX_LOG_N).contains(&self.log_n) {
            return Err(ParamError::RingDegree(self.log_n));
        }
        for (what, bits) in [
            ("scale prime", self.log_scale),
            ("first modulus", self.first_mod_bits),
            ("special prime", self.special_bits),
            ("bootstrap prime", self.bootstrap_bits),
        ] {
            if !(20..=62).contains(&bits) {
                return Err(ParamError::PrimeBits { what, bits });
            }
        }
        if self.levels == 0 {
            return Err(ParamError::NoLevels);
        }
        for (what, got) in [
            ("levels", self.levels),
            ("bootstrap_levels", self.bootstrap_levels),
            ("q_primes", self.q_primes.len()),
            ("p_primes", self.p_primes.len()),
        ] {
            if got > MAX_PRIMES {
                return Err(ParamError::TooManyPrimes { what, got });
            }
        }
        if self.log_scale >= self.first_mod_bits {
            return Err(ParamError::ScaleTooLarge {
                log_scale: self.log_scale,
                first_mod_bits: self.first_mod_bits,
            });
        }
        let n = 1usize << self.log_n;
        if let SecretDist::SparseTernary { h } = self.secret {
            if !(1..=n).contains(&h) {
                return Err(ParamError::Hamming { h, n });
            }
            if !self.insecure {
                return Err(ParamError::SparseSecret { h });
            }
        }
        let limbs = 1 + self.levels + self.bootstrap_levels;
        if self.dnum == 0 || self.dnum > limbs {
            return Err(ParamError::Dnum {
                dnum: self.dnum,
                limbs,
            });
        }
        let alpha = limbs.div_ceil(self.dnum);
        if limbs + alpha > MAX_PRIMES {
            return Err(ParamError::TooManyPrimes {
                what: "Q and P primes",
                got: limbs + alpha,
            });
        }
        let q = if self.q_primes.is_empty() {
            let mut q = ntt_primes(self.first_mod_bits, n, 1, &[])?;
            let scale = ntt_primes(self.log_scale, n, self.levels, &q)?;
            q.extend(scale);
            let boot = ntt_primes(self.bootstrap_bits, n, self.bootstrap_levels, &q)?;
            q.extend(boot);
            q
        } else {
            self.q_primes.clone()
        };
        let p = if self.p_primes.is_empty() {
            ntt_primes(self.special_bits, n, alpha, &q)?
        } else {
            self.p_primes.clone()
        };
        if q.len() != limbs {
            return Err(ParamError::ChainLength {
                what: "Q",
                got: q.len(),
                want: limbs,
            });
        }
        if p.len() != alpha {
            return Err(ParamError::ChainLength {
                what: "P",
                got: p.len(),
                want: alpha,
            });
        }
        let two_n = 2 * n as u64;
        let all: Vec<u64> = q.iter().chain(&p).copied().collect();
        for (i, &x) in all.iter().enumerate() {
            let ok = x < 1 << 62
                && x % two_n == 1
                && tfhe_ntt::prime::is_prime64(x)
                && !all[..i].contains(&x);
            if !ok {
                return Err(ParamError::BadPrime { q: x, two_n });
            }
        }
        let log_q: f64 = q.iter().map(|&x| (x as f64).log2()).sum();
        let log_p: f64 = p.iter().map(|&x| (x as f64).log2()).sum();
        let log_qp = log_q + log_p;
        let bound = max_log_qp_128(self.log_n);
        let secure = self.secret == SecretDist::Ternary && bound.is_some_and(|b| log_qp <= b);
        if !secure && !self.insecure {
            return Err(ParamError::Insecure {
                log_qp,
                bound: bound.unwrap_or(0.0),
                log_n: self.log_n,
            });
        }
        // The id identifies the context: a hash of everything that defines the ring and keys.
        let mut id: u64 = 0xcbf2_9ce4_8422_2325;
        for x in all.iter().copied().chain([n as u64, self.dnum as u64]) {
            for b in x.to_le_bytes() {
                id = (id ^ b as u64).wrapping_mul(0x0100_0000_01b3);
            }
        }
        Ok(Parameters(Arc::new(ParamsInner {
            literal: self.clone(),
            n,
            q,
            p,
            alpha,
            log_q,
            log_p,
            secure,
            id,
        })))
    }
}

#[derive(Debug)]
struct ParamsInner {
    literal: ParametersLiteral,
    n: usize,
    q: Vec<u64>,
    p: Vec<u64>,
    alpha: usize,
    log_q: f64,
    log_p: f64,
    secure: bool,
    id: u64,
}

/// Validated, immutable CKKS parameters (cheap to clone).
#[derive(Debug, Clone)]
pub struct Parameters(Arc<ParamsInner>);

impl PartialEq for Parameters {
    fn eq(&self, other: &Self) -> bool {
        self.0.id == other.0.id && self.0.literal == other.0.literal
    }
}

impl Parameters {
    /// The literal these were built from (with `q_primes`/`p_primes` possibly empty).
    pub fn literal(&self) -> &ParametersLiteral {
        &self.0.literal
    }
    /// Ring degree N.
    pub fn n(&self) -> usize {
        self.0.n
    }
    /// Number of complex slots, N/2.
    pub fn slots(&self) -> usize {
        self.0.n / 2
    }
    /// The Q chain, q_0 first.
    pub fn q(&self) -> &[u64] {
        &self.0.q
    }
    /// The special primes P.
    pub fn p(&self) -> &[u64] {
        &self.0.p
    }
    /// Limbs per key-switching digit (= number of special primes).
    pub fn alpha(&self) -> usize {
        self.0.alpha
    }
    /// Key-switching digits.
    pub fn dnum(&self) -> usize {
        self.0.literal.dnum
    }
    /// Top level for computation (a fresh encryption's level).
    pub fn top_level(&self) -> usize {
        self.0.literal.levels
    }
    /// Highest level of the chain (including bootstrap room).
    pub fn max_level(&self) -> usize {
        self.0.q.len() - 1
    }
    /// Default scale, 2^log_scale.
    pub fn default_scale(&self) -> f64 {
        (self.0.literal.log_scale as f64).exp2()
    }
    /// log2 of the product of the Q primes.
    pub fn log_q(&self) -> f64 {
        self.0.log_q
    }
    /// log2 of the product of the P primes.
    pub fn log_p(&self) -> f64 {
        self.0.log_p
    }
    /// log2(QP).
    pub fn log_qp(&self) -> f64 {
        self.0.log_q + self.0.log_p
    }
    /// True if the main secret is uniform ternary and log2(QP) is within the 128-bit bound of
    /// [`max_log_qp_128`].
    pub fn is_secure(&self) -> bool {
        self.0.secure
    }
    /// Context identifier (hash of N, dnum and all primes): operands from contexts with
    /// different ids are refused.
    pub fn id(&self) -> u64 {
        self.0.id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fgb_like_is_secure_and_shaped_as_documented() {
        let p = ParametersLiteral::preset("fgb-like")
            .unwrap()
            .build()
            .unwrap();
        assert!(p.is_secure());
        assert!(p.log_qp() <= 1772.0);
        assert_eq!(p.n(), 1 << 16);
        assert_eq!(p.top_level(), 9);
        assert_eq!(p.max_level(), 23);
        assert_eq!(p.alpha(), 8);
        assert_eq!(p.p().len(), 8);
        assert!(
            p.q()[1..10]
                .iter()
                .all(|&q| ((q as f64).log2() - 42.0).abs() < 0.01)
        );
        assert!(
            p.q()[10..]
                .iter()
                .all(|&q| ((q as f64).log2() - 60.0).abs() < 0.01)
        );
    }

    #[test]
    fn fgb_like_12_is_secure_with_twelve_levels() {
        let p = ParametersLiteral::preset("fgb-like-12")
            .unwrap()
            .build()
            .unwrap();
        assert!(p.is_secure());
        assert!(p.log_qp() <= 1772.0, "{}", p.log_qp());
        assert_eq!(p.top_level(), 12);
        assert_eq!(p.max_level(), 26);
        assert_eq!(p.alpha(), 6);
    }

    #[test]
    fn presets_build_and_are_deterministic() {
        for name in PRESETS {
            let lit = ParametersLiteral::preset(name).unwrap();
            let (a, b) = (lit.build().unwrap(), lit.build().unwrap());
            assert_eq!(a, b);
            assert_eq!(a.q(), b.q());
        }
        assert!(ParametersLiteral::preset("nope").is_none());
    }

    #[test]
    fn insecure_parameters_need_the_flag() {
        let mut lit = ParametersLiteral::preset("test-medium").unwrap();
        lit.insecure = false;
        let err = lit.build().unwrap_err();
        assert!(matches!(err, ParamError::Insecure { .. }), "{err}");
        assert!(err.to_string().contains("--insecure"));
        lit.insecure = true;
        assert!(!lit.build().unwrap().is_secure());
    }

    #[test]
    fn bad_parameters_are_clear_errors() {
        let base = ParametersLiteral::preset("test-small").unwrap();
        let bad = |f: &dyn Fn(&mut ParametersLiteral)| {
            let mut l = base.clone();
            f(&mut l);
            l.build().unwrap_err()
        };
        assert_eq!(bad(&|l| l.log_n = 17), ParamError::RingDegree(17));
        assert_eq!(bad(&|l| l.levels = 0), ParamError::NoLevels);
        assert!(matches!(bad(&|l| l.dnum = 0), ParamError::Dnum { .. }));
        assert!(matches!(
            bad(&|l| l.log_scale = 63),
            ParamError::PrimeBits { .. }
        ));
        assert!(matches!(
            bad(&|l| l.first_mod_bits = 30),
            ParamError::ScaleTooLarge { .. }
        ));
        let good = base.build().unwrap();
        let mut q = good.q().to_vec();
        q[2] = 97; // prime, but not 1 mod 2N
        assert!(matches!(
            bad(&|l| l.q_primes = q.clone()),
            ParamError::BadPrime { q: 97, .. }
        ));
        assert!(matches!(
            bad(&|l| l.q_primes = good.q()[..2].to_vec()),
            ParamError::ChainLength { .. }
        ));
        assert!(matches!(
            bad(&|l| l.secret = SecretDist::SparseTernary { h: 0 }),
            ParamError::Hamming { .. }
        ));
    }

    #[test]
    fn sizes_are_refused_before_any_prime_is_generated() {
        let base = ParametersLiteral::preset("test-small").unwrap();
        let too_many = |f: &dyn Fn(&mut ParametersLiteral)| {
            let mut l = base.clone();
            f(&mut l);
            let t = std::time::Instant::now();
            let err = l.build().unwrap_err();
            assert!(t.elapsed().as_secs_f64() < 0.1, "{err}");
            assert!(matches!(err, ParamError::TooManyPrimes { .. }), "{err}");
            err.to_string()
        };
        assert!(too_many(&|l| l.levels = 1000).starts_with("levels = 1000"));
        too_many(&|l| l.bootstrap_levels = usize::MAX);
        too_many(&|l| l.q_primes = vec![0; 1000]);
        too_many(&|l| l.p_primes = vec![0; 1000]);
        // Each size within its bound, the chain with its special primes above it.
        too_many(&|l| {
            l.levels = 60;
            l.bootstrap_levels = 20;
            l.dnum = 9;
        });
        let mut at_bound = base.clone();
        at_bound.levels = MAX_PRIMES / 2 - 1;
        at_bound.dnum = at_bound.levels + 1;
        at_bound.build().unwrap();
    }

    #[test]
    fn a_sparse_main_secret_is_never_called_secure() {
        let mut lit = ParametersLiteral::preset("fgb-like").unwrap();
        lit.secret = SecretDist::SparseTernary { h: 192 };
        let err = lit.build().unwrap_err();
        assert_eq!(err, ParamError::SparseSecret { h: 192 });
        assert!(err.to_string().contains("--insecure"), "{err}");
        lit.insecure = true;
        assert!(!lit.build().unwrap().is_secure());
    }

    #[test]
    fn parameter_files_refuse_unknown_keys() {
        let lit = ParametersLiteral::preset("test-small").unwrap();
        let text = toml::to_string(&lit).unwrap();
        assert_eq!(ParametersLiteral::from_toml(&text).unwrap(), lit);
        let err = ParametersLiteral::from_toml(&format!("levelz = 3\n{text}")).unwrap_err();
        assert!(matches!(err, ParamError::Parse(_)), "{err}");
        assert!(err.to_string().contains("levelz"), "{err}");
        assert_eq!(err.to_string().lines().count(), 1, "{err}");
        let err = serde_json::from_str::<SecretDist>(r#"{"SparseTernary": {"h": 64, "w": 1}}"#)
            .unwrap_err();
        assert!(err.to_string().contains("unknown field `w`"), "{err}");
    }
}
