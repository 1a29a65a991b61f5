//! A simulated CKKS evaluator: ciphertexts are (level, scale, exact slot values), and every
//! operation is counted at the level it ran at.
//!
//! It refuses what the engine refuses (out of levels, mismatched levels or scales, missing
//! rotation keys, oversized slot vectors, a scale that outgrows the modulus), so a circuit
//! that runs here runs on the engine with the same levels and the same operations. Slot
//! values are tracked in `f64` with the engine's encoding rounding (constants and plaintexts
//! become `round(v * scale) / scale`) and no noise: this is the plaintext reference the
//! circuits' tests compare against. [`SimEvaluator::counting_only`] skips the values for fast
//! planning at full size.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use super::evaluator::{EvalError, Evaluator, check_scale, normalize_step, scales_match};

/// The primitive operations the simulator counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SimOp {
    /// Ciphertext addition.
    Add,
    /// Ciphertext subtraction.
    Sub,
    /// Addition of a constant.
    AddConst,
    /// Multiplication by a constant.
    MulConst,
    /// Encoding of a slot vector.
    Encode,
    /// Addition of a plaintext.
    AddPlain,
    /// Multiplication by a plaintext.
    MulPlain,
    /// Ciphertext multiplication with relinearisation.
    MulRelin,
    /// Rescale.
    Rescale,
    /// Level drop.
    DropLevel,
    /// A single rotation (its own decomposition and key switch).
    Rotate,
    /// The shared decomposition of a hoisted rotation batch (one per batch).
    HoistedDecompose,
    /// One rotation inside a hoisted batch (key switch on the shared decomposition).
    HoistedRotate,
    /// A simulated bootstrap (see [`SimEvaluator::bootstrap`]); counted at the level of its
    /// input.
    Bootstrap,
}

impl SimOp {
    /// Every counted operation, in a fixed order.
    pub const ALL: [SimOp; 14] = [
        SimOp::Add,
        SimOp::Sub,
        SimOp::AddConst,
        SimOp::MulConst,
        SimOp::Encode,
        SimOp::AddPlain,
        SimOp::MulPlain,
        SimOp::MulRelin,
        SimOp::Rescale,
        SimOp::DropLevel,
        SimOp::Rotate,
        SimOp::HoistedDecompose,
        SimOp::HoistedRotate,
        SimOp::Bootstrap,
    ];

    /// Snake-case name (as serialised).
    pub fn name(self) -> &'static str {
        match self {
            SimOp::Add => "add",
            SimOp::Sub => "sub",
            SimOp::AddConst => "add_const",
            SimOp::MulConst => "mul_const",
            SimOp::Encode => "encode",
            SimOp::AddPlain => "add_plain",
            SimOp::MulPlain => "mul_plain",
            SimOp::MulRelin => "mul_relin",
            SimOp::Rescale => "rescale",
            SimOp::DropLevel => "drop_level",
            SimOp::Rotate => "rotate",
            SimOp::HoistedDecompose => "hoisted_decompose",
            SimOp::HoistedRotate => "hoisted_rotate",
            SimOp::Bootstrap => "bootstrap",
        }
    }
}

/// Operation counts keyed by (operation, level the operation started at).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpCounts(BTreeMap<(SimOp, usize), usize>);

impl OpCounts {
    /// Adds `n` occurrences of `op` at `level`.
    pub fn record(&mut self, op: SimOp, level: usize, n: usize) {
        if n > 0 {
            *self.0.entry((op, level)).or_insert(0) += n;
        }
    }

    /// Occurrences of `op` at `level`.
    pub fn get(&self, op: SimOp, level: usize) -> usize {
        self.0.get(&(op, level)).copied().unwrap_or(0)
    }

    /// Occurrences of `op` at any level.
    pub fn total(&self, op: SimOp) -> usize {
        self.0
            .iter()
            .filter(|((o, _), _)| *o == op)
            .map(|(_, n)| n)
            .sum()
    }

    /// All (operation, level, count) triples, ordered by operation then level.
    pub fn iter(&self) -> impl Iterator<Item = (SimOp, usize, usize)> + '_ {
        self.0.iter().map(|(&(op, level), &n)| (op, level, n))
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &OpCounts) {
        for (op, level, n) in other.iter() {
            self.record(op, level, n);
        }
    }

    /// True if nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Shape of the simulated parameter set.
#[derive(Clone, Debug, PartialEq)]
pub struct SimParams {
    /// Number of slots (N / 2).
    pub slots: usize,
    /// Scale of fresh ciphertexts.
    pub default_scale: f64,
    /// The RNS primes q_0, q_1, ..., q_top; `rescale` at level l divides by q_l. The top
    /// level is `primes.len() - 1`.
    pub primes: Vec<u64>,
}

impl SimParams {
    /// A chain shaped like the engine's: `levels` primes of about `log_scale` bits that are
    /// 1 mod 2N (generated deterministically, alternating just above and just below
    /// 2^log_scale so scales stay near the default), over a base prime of `log_q0` bits.
    pub fn chain(
        slots: usize,
        levels: usize,
        log_scale: u32,
        log_q0: u32,
    ) -> Result<Self, EvalError> {
        if !slots.is_power_of_two() || !(1..=1 << 20).contains(&slots) {
            return Err(EvalError::InvalidInput(format!(
                "slot count {slots} is not a power of two in 1..=2^20"
            )));
        }
        if !(20..=61).contains(&log_scale) || !(log_scale..=61).contains(&log_q0) {
            return Err(EvalError::InvalidInput(format!(
                "log scale {log_scale} / base prime {log_q0} bits must lie in 20..=61 with the base prime at least the scale"
            )));
        }
        let two_n = 4 * slots as u64;
        let mut used = BTreeSet::new();
        let mut primes = vec![ntt_prime_below(1 << log_q0, two_n, &used)];
        used.insert(primes[0]);
        let (mut up, mut down) = (1u64 << log_scale, 1u64 << log_scale);
        for i in 0..levels {
            let p = if i % 2 == 0 {
                let p = ntt_prime_above(up, two_n, &used);
                up = p;
                p
            } else {
                let p = ntt_prime_below(down, two_n, &used);
                down = p;
                p
            };
            used.insert(p);
            primes.push(p);
        }
        Ok(SimParams {
            slots,
            default_scale: 2f64.powi(log_scale as i32),
            primes,
        })
    }

    /// The shape of the `fgb-like` preset: N = 2^16 (32,768 slots), 9 levels of 42 bits over
    /// a 58-bit base prime.
    pub fn fgb_like() -> Self {
        // Invariant: the arguments are in range.
        Self::chain(1 << 15, 9, 42, 58).expect("fgb-like chain parameters are valid")
    }

    /// Top level (levels available for computation).
    pub fn top_level(&self) -> usize {
        self.primes.len() - 1
    }
}

/// A simulated ciphertext.
#[derive(Clone, Debug, PartialEq)]
pub struct SimCiphertext {
    /// Level.
    pub level: usize,
    /// Scale.
    pub scale: f64,
    /// The message in every slot (exact arithmetic plus encoding rounding), or `None` in
    /// counting-only mode.
    pub values: Option<Vec<f64>>,
}

/// A simulated plaintext.
#[derive(Clone, Debug, PartialEq)]
pub struct SimPlaintext {
    /// Level.
    pub level: usize,
    /// Scale.
    pub scale: f64,
    /// Encoded values (rounded to the scale), or `None` in counting-only mode.
    pub values: Option<Vec<f64>>,
}

/// The simulated evaluator. Counts are kept behind a mutex so the evaluator is shared by
/// reference like the engine's.
#[derive(Debug)]
pub struct SimEvaluator {
    params: SimParams,
    track_values: bool,
    rotation_keys: Option<BTreeSet<usize>>,
    counts: Mutex<OpCounts>,
}

impl SimEvaluator {
    /// A simulator that tracks slot values and has every rotation key.
    pub fn new(params: SimParams) -> Self {
        SimEvaluator {
            params,
            track_values: true,
            rotation_keys: None,
            counts: Mutex::new(OpCounts::default()),
        }
    }

    /// A simulator that only tracks levels and scales (and counts): fast at full size.
    pub fn counting_only(params: SimParams) -> Self {
        SimEvaluator {
            track_values: false,
            ..Self::new(params)
        }
    }

    /// Restricts rotations to these steps (reduced mod slots), as an engine with only these
    /// rotation keys.
    pub fn with_rotation_keys(mut self, steps: impl IntoIterator<Item = isize>) -> Self {
        let slots = self.params.slots;
        self.rotation_keys = Some(
            steps
                .into_iter()
                .map(|s| normalize_step(s, slots))
                .collect(),
        );
        self
    }

    /// The parameters.
    pub fn params(&self) -> &SimParams {
        &self.params
    }

    /// A fresh ciphertext at `level` and `scale` holding `values` (zero-padded), as if the
    /// client had encrypted them. Not counted.
    pub fn encrypt(
        &self,
        values: &[f64],
        level: usize,
        scale: f64,
    ) -> Result<SimCiphertext, EvalError> {
        self.check_level("encrypt", level)?;
        self.check_scale("encrypt", scale, level)?;
        let values = self.encode_values("encrypt", values, scale)?;
        Ok(SimCiphertext {
            level,
            scale,
            values,
        })
    }

    /// A simulated bootstrap: the same values and scale at the top level, as the engine's
    /// bootstrap that leaves `top_level` levels for computation. Counted as
    /// [`SimOp::Bootstrap`] at the input's level.
    pub fn bootstrap(&self, ct: &SimCiphertext) -> SimCiphertext {
        self.count(SimOp::Bootstrap, ct.level, 1);
        SimCiphertext {
            level: self.params.top_level(),
            scale: ct.scale,
            values: ct.values.clone(),
        }
    }

    /// A simulated packed-pair bootstrap ([`crate::ckks::cell::pairing`]): both values and
    /// scales at the top level, counted as one [`SimOp::Bootstrap`] at the lower input level.
    pub fn bootstrap_pair(
        &self,
        a: &SimCiphertext,
        b: &SimCiphertext,
    ) -> (SimCiphertext, SimCiphertext) {
        self.count(SimOp::Bootstrap, a.level.min(b.level), 1);
        let top = self.params.top_level();
        let refreshed = |ct: &SimCiphertext| SimCiphertext {
            level: top,
            scale: ct.scale,
            values: ct.values.clone(),
        };
        (refreshed(a), refreshed(b))
    }

    /// The slot values of a ciphertext (`None` in counting-only mode).
    pub fn decrypt<'a>(&self, ct: &'a SimCiphertext) -> Option<&'a [f64]> {
        ct.values.as_deref()
    }

    /// The operations counted so far.
    pub fn counts(&self) -> OpCounts {
        self.lock().clone()
    }

    /// Returns the operations counted so far and starts counting afresh.
    pub fn take_counts(&self) -> OpCounts {
        std::mem::take(&mut *self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, OpCounts> {
        // A poisoned lock only means a panic elsewhere; the counts are still consistent.
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn count(&self, op: SimOp, level: usize, n: usize) {
        self.lock().record(op, level, n);
    }

    fn check_level(&self, op: &'static str, level: usize) -> Result<(), EvalError> {
        if level > self.params.top_level() {
            return Err(EvalError::InvalidInput(format!(
                "{op}: level {level} is above the top level {}",
                self.params.top_level()
            )));
        }
        Ok(())
    }

    fn check_scale(&self, op: &'static str, scale: f64, level: usize) -> Result<(), EvalError> {
        check_scale(op, scale, level, &self.params.primes)
    }

    fn encode_values(
        &self,
        op: &'static str,
        values: &[f64],
        scale: f64,
    ) -> Result<Option<Vec<f64>>, EvalError> {
        if values.len() > self.params.slots {
            return Err(EvalError::TooManyValues {
                op,
                got: values.len(),
                slots: self.params.slots,
            });
        }
        if values.iter().any(|v| !v.is_finite()) {
            return Err(EvalError::NotFinite { op });
        }
        if !self.track_values {
            return Ok(None);
        }
        let mut out: Vec<f64> = values.iter().map(|&v| quantize(v, scale)).collect();
        out.resize(self.params.slots, 0.0);
        Ok(Some(out))
    }

    fn same_shape(
        &self,
        op: &'static str,
        a: &SimCiphertext,
        b: &SimCiphertext,
    ) -> Result<(), EvalError> {
        if a.level != b.level {
            return Err(EvalError::LevelMismatch {
                op,
                left: a.level,
                right: b.level,
            });
        }
        if !scales_match(a.scale, b.scale) {
            return Err(EvalError::ScaleMismatch {
                op,
                left: a.scale,
                right: b.scale,
            });
        }
        Ok(())
    }
}

/// The message an integer encoding `round(v * scale)` carries.
fn quantize(v: f64, scale: f64) -> f64 {
    (v * scale).round() / scale
}

fn zip_with(
    a: &Option<Vec<f64>>,
    b: &Option<Vec<f64>>,
    f: impl Fn(f64, f64) -> f64,
) -> Option<Vec<f64>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.iter().zip(b).map(|(&x, &y)| f(x, y)).collect()),
        _ => None,
    }
}

impl Evaluator for SimEvaluator {
    type Ciphertext = SimCiphertext;
    type Plaintext = SimPlaintext;
    type Compact = SimPlaintext;
    type Error = EvalError;

    fn slots(&self) -> usize {
        self.params.slots
    }

    fn top_level(&self) -> usize {
        self.params.top_level()
    }

    fn default_scale(&self) -> f64 {
        self.params.default_scale
    }

    fn rescale_prime(&self, level: usize) -> u64 {
        self.params.primes[level.min(self.params.top_level())]
    }

    fn level(&self, ct: &SimCiphertext) -> usize {
        ct.level
    }

    fn scale(&self, ct: &SimCiphertext) -> f64 {
        ct.scale
    }

    fn plaintext_level(&self, pt: &SimPlaintext) -> usize {
        pt.level
    }

    fn plaintext_scale(&self, pt: &SimPlaintext) -> f64 {
        pt.scale
    }

    fn add(&self, a: &SimCiphertext, b: &SimCiphertext) -> Result<SimCiphertext, EvalError> {
        self.same_shape("add", a, b)?;
        self.count(SimOp::Add, a.level, 1);
        Ok(SimCiphertext {
            level: a.level,
            scale: a.scale,
            values: zip_with(&a.values, &b.values, |x, y| x + y),
        })
    }

    fn sub(&self, a: &SimCiphertext, b: &SimCiphertext) -> Result<SimCiphertext, EvalError> {
        self.same_shape("sub", a, b)?;
        self.count(SimOp::Sub, a.level, 1);
        Ok(SimCiphertext {
            level: a.level,
            scale: a.scale,
            values: zip_with(&a.values, &b.values, |x, y| x - y),
        })
    }

    fn add_const(&self, a: &SimCiphertext, c: f64) -> Result<SimCiphertext, EvalError> {
        if !c.is_finite() {
            return Err(EvalError::NotFinite { op: "add_const" });
        }
        self.count(SimOp::AddConst, a.level, 1);
        let c = quantize(c, a.scale);
        Ok(SimCiphertext {
            values: a.values.as_ref().map(|v| v.iter().map(|x| x + c).collect()),
            ..a.clone()
        })
    }

    fn mul_const(&self, a: &SimCiphertext, c: f64, scale: f64) -> Result<SimCiphertext, EvalError> {
        if !c.is_finite() {
            return Err(EvalError::NotFinite { op: "mul_const" });
        }
        self.check_scale("mul_const", scale, a.level)?;
        let out_scale = a.scale * scale;
        self.check_scale("mul_const", out_scale, a.level)?;
        self.count(SimOp::MulConst, a.level, 1);
        let c = quantize(c, scale);
        Ok(SimCiphertext {
            level: a.level,
            scale: out_scale,
            values: a.values.as_ref().map(|v| v.iter().map(|x| x * c).collect()),
        })
    }

    fn encode(&self, values: &[f64], level: usize, scale: f64) -> Result<SimPlaintext, EvalError> {
        self.check_level("encode", level)?;
        self.check_scale("encode", scale, level)?;
        let values = self.encode_values("encode", values, scale)?;
        self.count(SimOp::Encode, level, 1);
        Ok(SimPlaintext {
            level,
            scale,
            values,
        })
    }

    fn encode_compact(
        &self,
        values: &[f64],
        level: usize,
        scale: f64,
    ) -> Result<SimPlaintext, EvalError> {
        self.encode(values, level, scale)
    }

    fn expand(&self, c: &SimPlaintext) -> Result<SimPlaintext, EvalError> {
        Ok(c.clone())
    }

    fn add_plain(&self, a: &SimCiphertext, p: &SimPlaintext) -> Result<SimCiphertext, EvalError> {
        if p.level < a.level {
            return Err(EvalError::LevelMismatch {
                op: "add_plain",
                left: a.level,
                right: p.level,
            });
        }
        if !scales_match(a.scale, p.scale) {
            return Err(EvalError::ScaleMismatch {
                op: "add_plain",
                left: a.scale,
                right: p.scale,
            });
        }
        self.count(SimOp::AddPlain, a.level, 1);
        Ok(SimCiphertext {
            values: zip_with(&a.values, &p.values, |x, y| x + y),
            ..a.clone()
        })
    }

    fn mul_plain(&self, a: &SimCiphertext, p: &SimPlaintext) -> Result<SimCiphertext, EvalError> {
        if p.level < a.level {
            return Err(EvalError::LevelMismatch {
                op: "mul_plain",
                left: a.level,
                right: p.level,
            });
        }
        let scale = a.scale * p.scale;
        self.check_scale("mul_plain", scale, a.level)?;
        self.count(SimOp::MulPlain, a.level, 1);
        Ok(SimCiphertext {
            level: a.level,
            scale,
            values: zip_with(&a.values, &p.values, |x, y| x * y),
        })
    }

    fn mul_relin(&self, a: &SimCiphertext, b: &SimCiphertext) -> Result<SimCiphertext, EvalError> {
        if a.level != b.level {
            return Err(EvalError::LevelMismatch {
                op: "mul_relin",
                left: a.level,
                right: b.level,
            });
        }
        let scale = a.scale * b.scale;
        self.check_scale("mul_relin", scale, a.level)?;
        self.count(SimOp::MulRelin, a.level, 1);
        Ok(SimCiphertext {
            level: a.level,
            scale,
            values: zip_with(&a.values, &b.values, |x, y| x * y),
        })
    }

    fn rescale(&self, a: &SimCiphertext) -> Result<SimCiphertext, EvalError> {
        if a.level == 0 {
            return Err(EvalError::OutOfLevels {
                op: "rescale",
                level: 0,
                needed: 1,
            });
        }
        let scale = a.scale / self.params.primes[a.level] as f64;
        if scale < 1.0 {
            return Err(EvalError::BadScale {
                op: "rescale",
                scale,
                level: a.level - 1,
                reason: "the scale would drop below 1",
            });
        }
        self.count(SimOp::Rescale, a.level, 1);
        Ok(SimCiphertext {
            level: a.level - 1,
            scale,
            values: a.values.clone(),
        })
    }

    fn drop_level(&self, a: &SimCiphertext, levels: usize) -> Result<SimCiphertext, EvalError> {
        if levels > a.level {
            return Err(EvalError::OutOfLevels {
                op: "drop_level",
                level: a.level,
                needed: levels,
            });
        }
        if levels == 0 {
            return Ok(a.clone());
        }
        self.check_scale("drop_level", a.scale, a.level - levels)?;
        self.count(SimOp::DropLevel, a.level, 1);
        Ok(SimCiphertext {
            level: a.level - levels,
            ..a.clone()
        })
    }

    fn rotate(&self, a: &SimCiphertext, step: isize) -> Result<SimCiphertext, EvalError> {
        let k = self.check_rotation(step)?;
        if k == 0 {
            return Ok(a.clone());
        }
        self.count(SimOp::Rotate, a.level, 1);
        Ok(SimCiphertext {
            values: a.values.as_ref().map(|v| rotated(v, k)),
            ..a.clone()
        })
    }

    fn rotate_hoisted(
        &self,
        a: &SimCiphertext,
        steps: &[isize],
    ) -> Result<Vec<SimCiphertext>, EvalError> {
        let ks = steps
            .iter()
            .map(|&s| self.check_rotation(s))
            .collect::<Result<Vec<_>, _>>()?;
        let nonzero = ks.iter().filter(|&&k| k != 0).count();
        if nonzero > 0 {
            self.count(SimOp::HoistedDecompose, a.level, 1);
            self.count(SimOp::HoistedRotate, a.level, nonzero);
        }
        Ok(ks
            .into_iter()
            .map(|k| SimCiphertext {
                values: a.values.as_ref().map(|v| rotated(v, k)),
                ..a.clone()
            })
            .collect())
    }
}

impl SimEvaluator {
    fn check_rotation(&self, step: isize) -> Result<usize, EvalError> {
        let k = normalize_step(step, self.params.slots);
        if k != 0
            && let Some(keys) = &self.rotation_keys
            && !keys.contains(&k)
        {
            return Err(EvalError::MissingRotationKey {
                step: k,
                slots: self.params.slots,
            });
        }
        Ok(k)
    }
}

/// Left rotation: slot i receives slot i + k.
fn rotated(v: &[f64], k: usize) -> Vec<f64> {
    let mut out = v.to_vec();
    out.rotate_left(k % v.len().max(1));
    out
}

fn mul_mod(a: u64, b: u64, m: u64) -> u64 {
    ((a as u128 * b as u128) % m as u128) as u64
}

fn pow_mod(mut b: u64, mut e: u64, m: u64) -> u64 {
    let mut r = 1 % m;
    b %= m;
    while e > 0 {
        if e & 1 == 1 {
            r = mul_mod(r, b, m);
        }
        b = mul_mod(b, b, m);
        e >>= 1;
    }
    r
}

/// Deterministic Miller-Rabin for 64-bit integers.
fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    const BASES: [u64; 12] = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37];
    for p in BASES {
        if n.is_multiple_of(p) {
            return n == p;
        }
    }
    let (mut d, mut s) = (n - 1, 0);
    while d.is_multiple_of(2) {
        d /= 2;
        s += 1;
    }
    'bases: for a in BASES {
        let mut x = pow_mod(a, d, n);
        if x == 1 || x == n - 1 {
            continue;
        }
        for _ in 1..s {
            x = mul_mod(x, x, n);
            if x == n - 1 {
                continue 'bases;
            }
        }
        return false;
    }
    true
}

/// The largest prime < `bound` that is 1 mod `two_n` and not in `used`.
fn ntt_prime_below(bound: u64, two_n: u64, used: &BTreeSet<u64>) -> u64 {
    let mut p = (bound - 1) / two_n * two_n + 1;
    while !is_prime(p) || used.contains(&p) {
        p -= two_n;
    }
    p
}

/// The smallest prime > `bound` that is 1 mod `two_n` and not in `used`.
fn ntt_prime_above(bound: u64, two_n: u64, used: &BTreeSet<u64>) -> u64 {
    let mut p = bound / two_n * two_n + 1;
    while p <= bound || !is_prime(p) || used.contains(&p) {
        p += two_n;
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> SimEvaluator {
        SimEvaluator::new(SimParams::chain(8, 3, 30, 40).unwrap())
    }

    #[test]
    fn chain_primes_are_ntt_friendly_and_distinct() {
        let p = SimParams::fgb_like();
        assert_eq!(p.top_level(), 9);
        let set: BTreeSet<_> = p.primes.iter().collect();
        assert_eq!(set.len(), p.primes.len());
        for &q in &p.primes {
            assert!(is_prime(q) && q % (1 << 17) == 1, "{q}");
        }
        for &q in &p.primes[1..] {
            assert!(((q as f64).log2() - 42.0).abs() < 0.01);
        }
        assert!(!is_prime(561) && is_prime(1_000_000_007));
    }

    #[test]
    fn refuses_what_the_engine_refuses() {
        let ev = small();
        let s = ev.default_scale();
        let a = ev.encrypt(&[1.0, 2.0], 3, s).unwrap();
        let b = ev.encrypt(&[1.0], 2, s).unwrap();
        assert!(matches!(
            ev.add(&a, &b),
            Err(EvalError::LevelMismatch { .. })
        ));
        let c = ev.mul_const(&a, 2.0, 2.0).unwrap();
        assert!(matches!(
            ev.add(&a, &c),
            Err(EvalError::ScaleMismatch { .. })
        ));
        let mut x = a.clone();
        for _ in 0..3 {
            x = ev.rescale(&ev.mul_const(&x, 1.0, s).unwrap()).unwrap();
        }
        assert_eq!(x.level, 0);
        assert!(matches!(ev.rescale(&x), Err(EvalError::OutOfLevels { .. })));
        assert!(matches!(
            ev.encrypt(&[0.0; 9], 3, s),
            Err(EvalError::TooManyValues { .. })
        ));
        assert!(matches!(
            ev.add_const(&a, f64::NAN),
            Err(EvalError::NotFinite { .. })
        ));
        let keyed = small().with_rotation_keys([1, -2]);
        assert!(keyed.rotate(&a, 1).is_ok() && keyed.rotate(&a, 6).is_ok());
        assert!(matches!(
            keyed.rotate(&a, 2),
            Err(EvalError::MissingRotationKey { step: 2, .. })
        ));
        // Squaring a 30-bit scale three times outgrows a 40 + 3 * 30-bit modulus.
        let sq = ev.mul_relin(&a, &a).unwrap();
        let sq = ev.mul_relin(&sq, &sq).unwrap();
        assert!(matches!(
            ev.mul_relin(&sq, &sq),
            Err(EvalError::BadScale { .. })
        ));
    }

    #[test]
    fn values_and_counts() {
        let ev = small();
        let s = ev.default_scale();
        let a = ev.encrypt(&[1.0, 2.0, 3.0], 3, s).unwrap();
        let r = ev.rotate_hoisted(&a, &[0, 1, -1]).unwrap();
        assert_eq!(r[1].values.as_ref().unwrap()[..3], [2.0, 3.0, 0.0]);
        assert_eq!(r[2].values.as_ref().unwrap()[..2], [0.0, 1.0]);
        let p = ev.encode(&[0.5, 0.5, 0.5], 3, s).unwrap();
        let m = ev.rescale(&ev.mul_plain(&a, &p).unwrap()).unwrap();
        let below = ev.encode(&[1.0], 1, m.scale).unwrap();
        assert!(matches!(
            ev.add_plain(&m, &below),
            Err(EvalError::LevelMismatch { .. })
        ));
        let low = ev.encode(&[1.0], 2, s).unwrap();
        assert!(matches!(
            ev.add_plain(&m, &low),
            Err(EvalError::ScaleMismatch { .. })
        ));
        let back = ev.encode(&[1.0], 2, m.scale).unwrap();
        let sum = ev.add_plain(&m, &back).unwrap().values.unwrap()[0];
        assert!((sum - 1.5).abs() < 1e-8, "{sum}");
        assert_eq!(m.level, 2);
        assert!((m.scale - s * s / ev.rescale_prime(3) as f64).abs() < 1e-6);
        assert_eq!(m.values.as_ref().unwrap()[..3], [0.5, 1.0, 1.5]);
        let c = ev.counts();
        assert_eq!(c.get(SimOp::HoistedDecompose, 3), 1);
        assert_eq!(c.get(SimOp::HoistedRotate, 3), 2);
        assert_eq!(c.get(SimOp::Rescale, 3), 1);
        assert_eq!(c.total(SimOp::MulPlain), 1);
        assert!(!ev.take_counts().is_empty() && ev.counts().is_empty());
        let fast = SimEvaluator::counting_only(SimParams::chain(8, 3, 30, 40).unwrap());
        let a = fast.encrypt(&[1.0], 3, s).unwrap();
        assert!(fast.decrypt(&fast.add(&a, &a).unwrap()).is_none());
        assert_eq!(fast.counts().get(SimOp::Add, 3), 1);
    }
}
