//! CKKS bootstrapping: a ciphertext with no levels left becomes one with the computation
//! levels back, the same slots up to a small error.
//!
//! The pipeline (Cheon-Han-Kim-Kim-Song, with Bossuat et al.'s refinements):
//! 1. **Encapsulate and raise** ([`encapsulation`]): switch to an ephemeral sparse secret
//!    over `q_0 p_0`, raise the modulus to the top of the chain, switch back. The phase is now
//!    `m + q_0 I` with a small integer polynomial `I`.
//! 2. **CoeffsToSlots** ([`dft`], [`lintrans`]): the inverse canonical embedding, as a few
//!    grouped FFT stages of plaintext diagonals, puts the coefficients `u = (m + q_0 I) / q_0`
//!    into slots (real and imaginary halves split with one conjugation).
//! 3. **EvalMod** ([`evalmod`]): `sin(2 pi u)`, which is `2 pi m / q_0` up to a tiny error.
//! 4. **SlotsToCoeffs**: the canonical embedding again, scaled so the slots hold the
//!    message at the input's scale.
//!
//! Level budget of the chain's `bootstrap_levels`: CoeffsToSlots' groups, the cosine's depth
//! plus one level per double angle, SlotsToCoeffs' groups ([`BootstrapConfig::depth`]). The
//! output sits at the computation top level. The server needs the rotation keys of
//! [`rotation_steps`], the conjugation key and the [`EncapsulationKeys`]; none of them is
//! secret.

pub mod dft;
pub mod encapsulation;
pub mod evalmod;
pub mod lintrans;

use std::sync::Arc;

use rayon::prelude::*;

pub use encapsulation::{EncapsulationKeys, encapsulation_keys};
pub use evalmod::{EvalMod, EvalModConfig};

use crate::ckks::evaluator::{EvalError, Evaluator};
use crate::ckks::math::tally::Tally;
use crate::ckks::scheme::ciphertext::Ciphertext;
use crate::ckks::scheme::context::Context;
use crate::ckks::scheme::engine::Engine;
use crate::ckks::scheme::error::CkksError;
use crate::ckks::scheme::params::Parameters;
use dft::DiagonalMatrix;
use lintrans::{BsgsPlan, EncodedTransform};

/// How a bootstrap spends its levels.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BootstrapConfig {
    /// Levels (FFT stage groups) of CoeffsToSlots.
    pub cts_depth: usize,
    /// Levels (FFT stage groups) of SlotsToCoeffs.
    pub stc_depth: usize,
    /// log2 of `q_0` over the message's scale during the bootstrap: the input is multiplied
    /// by a power of two (free, at level 0) so that `q_0 / scale` is `2^log_message_ratio`.
    /// Smaller is more precise, but the reduction only works for coefficients up to
    /// `eps * 2^log_message_ratio` (EvalMod's `eps`).
    pub log_message_ratio: u32,
    /// The modular reduction.
    pub eval_mod: EvalModConfig,
}

impl BootstrapConfig {
    /// The default split of `params`' bootstrap levels: EvalMod with K = 12 (sparse-secret
    /// encapsulation), 3 double angles and a degree-31 cosine (8 levels); the remaining
    /// levels go to CoeffsToSlots (one more than SlotsToCoeffs when odd). Parameters that
    /// claim 128-bit security must keep the encapsulation within its published bound
    /// ([`encapsulation::check_security`]).
    pub fn for_params(params: &Parameters) -> Result<Self, CkksError> {
        encapsulation::check_security(params)?;
        let log_message_ratio = 8;
        let eval_mod = EvalModConfig {
            k: 12,
            eps: 2f64.powi(2 - log_message_ratio as i32),
            double_angles: 3,
            degree: 31,
        };
        let budget = params.literal().bootstrap_levels;
        let rest = budget
            .checked_sub(eval_mod.depth())
            .filter(|&r| r >= 2)
            .ok_or_else(|| {
                CkksError::from(EvalError::InvalidInput(format!(
                    "bootstrapping needs at least {} bootstrap levels ({} for EvalMod, 2 for the \
                 transforms), the parameters have {budget}",
                    eval_mod.depth() + 2,
                    eval_mod.depth()
                )))
            })?;
        Ok(Self {
            cts_depth: rest.div_ceil(2),
            stc_depth: rest / 2,
            log_message_ratio,
            eval_mod,
        })
    }

    /// Levels one bootstrap consumes.
    pub fn depth(&self) -> usize {
        self.cts_depth + self.eval_mod.depth() + self.stc_depth
    }
}

/// The matrices of both transforms (factors included), for ring degree `n`.
///
/// The raised ciphertext is read at `raise_scale` (its slots are `Emb(m + q_0 I) /
/// raise_scale`); CoeffsToSlots leaves `(u + i u') * input_factor / 2` with `u = (m + q_0 I) /
/// q_0` (the conjugation split doubles it).
fn transforms(
    n: usize,
    config: &BootstrapConfig,
    eval_mod: &EvalMod,
    (q0, raise_scale, scale): (f64, f64, f64),
) -> (Vec<DiagonalMatrix>, Vec<DiagonalMatrix>) {
    let cts = dft::coeffs_to_slots(
        n,
        config.cts_depth,
        eval_mod.input_factor() / 2.0 * raise_scale / q0,
    );
    // EvalMod leaves 2 pi m / q_0; SlotsToCoeffs scales it back to m / scale.
    let stc = dft::slots_to_coeffs(
        n,
        config.stc_depth,
        q0 / (2.0 * std::f64::consts::PI * scale),
    );
    (cts, stc)
}

/// Every rotation step a bootstrap needs keys for (the conjugation key is needed too).
pub fn rotation_steps(
    params: &Parameters,
    config: &BootstrapConfig,
) -> Result<Vec<isize>, CkksError> {
    let eval_mod = EvalMod::new(config.eval_mod)?;
    let q0 = params.q()[0] as f64;
    let (cts, stc) = transforms(
        params.n(),
        config,
        &eval_mod,
        (q0, q0, params.default_scale()),
    );
    let mut steps: Vec<isize> = cts
        .iter()
        .chain(&stc)
        .flat_map(|m| BsgsPlan::new(m).rotation_steps())
        .collect();
    steps.sort_unstable();
    steps.dedup();
    Ok(steps)
}

/// What one bootstrap did.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct BootstrapReport {
    /// Level after the modulus raise.
    pub raised_level: usize,
    /// Level of the output.
    pub output_level: usize,
    /// Wall seconds of each phase: encapsulation and modulus raise, CoeffsToSlots (with the
    /// real/imaginary split), EvalMod, SlotsToCoeffs.
    pub phase_seconds: [f64; 4],
    /// The limb operations of each phase (process-wide counts: exact when nothing else
    /// computes meanwhile).
    pub phase_tallies: [Tally; 4],
}

/// A server-side bootstrapper: precomputed transforms and the encapsulation keys.
pub struct Bootstrapper {
    ctx: Arc<Context>,
    config: BootstrapConfig,
    keys: EncapsulationKeys,
    eval_mod: EvalMod,
    cts: Vec<EncodedTransform>,
    stc: Vec<EncodedTransform>,
    /// Scale CoeffsToSlots ends at (EvalMod's input), which is also the scale the raised
    /// ciphertext is read at.
    cts_scale: f64,
    /// Scale the cosine polynomial ends at.
    poly_scale: f64,
    /// Power of two the input is multiplied by at level 0.
    scale_up: f64,
}

impl Bootstrapper {
    /// Fits EvalMod and encodes both transforms at the levels they run at.
    pub fn new(
        ctx: &Arc<Context>,
        config: BootstrapConfig,
        keys: EncapsulationKeys,
    ) -> Result<Self, CkksError> {
        keys.check(ctx)?;
        let params = ctx.params();
        let top = params.max_level();
        if config.depth() > params.literal().bootstrap_levels {
            return Err(EvalError::InvalidInput(format!(
                "the bootstrap needs {} levels but the parameters reserve {}",
                config.depth(),
                params.literal().bootstrap_levels
            ))
            .into());
        }
        let q = |l: usize| params.q()[l] as f64;
        let q0 = q(0);
        // The input is scaled up by 2^k at level 0 so that q_0 / scale = 2^log_message_ratio.
        let k =
            (q0 / params.default_scale()).log2().floor() as i64 - config.log_message_ratio as i64;
        let scale_up = 2f64.powi(k.max(0) as i32);
        let reference_scale = params.default_scale() * scale_up;
        let eval_mod = EvalMod::new(config.eval_mod)?;
        // CoeffsToSlots: the raised ciphertext is read at the scale CoeffsToSlots ends at (the
        // prime of EvalMod's first level), so every group's diagonals are encoded at about
        // the size of a prime: the most precision the chain gives.
        let cts_out_level = top - config.cts_depth;
        let cts_scale = q(cts_out_level);
        let (cts_m, stc_m) = transforms(
            params.n(),
            &config,
            &eval_mod,
            (q0, cts_scale, reference_scale),
        );
        let cts = encode_chain(ctx, &cts_m, top, cts_scale, cts_scale)?;
        let poly_level = cts_out_level - eval_mod.poly_depth();
        let poly_scale = q(poly_level);
        let stc_level = poly_level - config.eval_mod.double_angles;
        let stc_in_scale = eval_mod.output_scale(poly_scale, poly_level, q);
        let stc = encode_chain(ctx, &stc_m, stc_level, stc_in_scale, params.default_scale())?;
        Ok(Self {
            ctx: ctx.clone(),
            config,
            keys,
            eval_mod,
            cts,
            stc,
            cts_scale,
            poly_scale,
            scale_up,
        })
    }

    /// The settings.
    pub fn config(&self) -> &BootstrapConfig {
        &self.config
    }

    /// Bootstraps `ct` (any level; its scale is kept): the output is at the computation top
    /// level with the same slots up to the bootstrap's error. The message's polynomial
    /// coefficients must stay below `eps * 2^log_message_ratio` (4 with the defaults; slot
    /// values in [-1, 1] give coefficients far smaller).
    pub fn bootstrap(
        &self,
        eng: &Engine,
        ct: &Ciphertext,
    ) -> Result<(Ciphertext, BootstrapReport), CkksError> {
        self.bootstrap_scaled(eng, ct, self.scale_up)
    }

    /// Bootstraps `a` and `b` (each any level and scale up to twice the default) with one
    /// bootstrap, as the packed pair `a + i b` (the pair's scales need not agree: the pair is
    /// packed as the raw messages, read back at each one's scale). The bootstrap's modulus
    /// headroom is halved for the pair, which halves its output at no cost, so
    /// `y + conj(y)` and `i (conj(y) - y)` are `a` and `b` exactly. Needs the conjugation key
    /// (which every bootstrap needs) and parameters whose `q_0` leaves at least one bit of
    /// headroom above the message ratio.
    pub fn bootstrap_pair(
        &self,
        eng: &Engine,
        a: &Ciphertext,
        b: &Ciphertext,
    ) -> Result<(Ciphertext, Ciphertext), CkksError> {
        if self.scale_up < 2.0 {
            return Err(EvalError::InvalidInput(
                "packed-pair bootstrapping needs q_0 at least twice the scale times the \
                 message ratio; these parameters leave no room"
                    .into(),
            )
            .into());
        }
        // a's scale is checked with the packed pair's, which carries it.
        self.check_scale(b)?;
        let a0 = eng.drop_level(a, a.level)?;
        let mut b0 = eng.drop_level(b, b.level)?;
        // Packed as raw messages: b is read at a's scale inside the pair.
        b0.scale = a0.scale;
        let packed = eng.add(&a0, &eng.mul_by_i(&b0)?)?;
        let (y, _) = self.bootstrap_scaled(eng, &packed, self.scale_up / 2.0)?;
        let conj = eng.conjugate(&y)?;
        let mut ra = eng.add(&y, &conj)?;
        let mut rb = eng.mul_by_i(&eng.sub(&conj, &y)?)?;
        ra.scale = a.scale;
        rb.scale = b.scale;
        Ok((ra, rb))
    }

    /// Refuses an input scale above twice the default scale.
    fn check_scale(&self, ct: &Ciphertext) -> Result<(), CkksError> {
        if ct.scale > 2.0 * self.ctx.params().default_scale() {
            return Err(EvalError::BadScale {
                op: "bootstrap",
                scale: ct.scale,
                level: ct.level,
                reason: "bootstrapping takes scales up to twice the default scale",
            }
            .into());
        }
        Ok(())
    }

    /// [`Bootstrapper::bootstrap`] with the input multiplied by `up` at level 0 (the output
    /// is the input's slots times `up / scale_up`).
    fn bootstrap_scaled(
        &self,
        eng: &Engine,
        ct: &Ciphertext,
        up: f64,
    ) -> Result<(Ciphertext, BootstrapReport), CkksError> {
        self.ctx.check_id("ciphertext", ct.context_id)?;
        self.ctx.check_id("engine", eng.context().id())?;
        let params = self.ctx.params();
        let input_scale = ct.scale;
        self.check_scale(ct)?;
        let mut last = (std::time::Instant::now(), Tally::now());
        let mut lap = move || {
            let now = (std::time::Instant::now(), Tally::now());
            let d = ((now.0 - last.0).as_secs_f64(), now.1.since(last.1));
            last = now;
            d
        };
        let mut low = eng.drop_level(ct, ct.level)?;
        if up > 1.0 {
            low = eng.mul_const(&low, 1.0, up)?;
        }
        let sparse = encapsulation::to_sparse(&self.ctx, &low, &self.keys);
        let top = params.max_level();
        let mut raised = encapsulation::mod_raise(&self.ctx, &sparse, top);
        raised = encapsulation::to_dense(&self.ctx, &raised, &self.keys);
        raised.scale = self.cts_scale;
        let raise = lap();

        // CoeffsToSlots, then split the real and imaginary halves.
        let mut x = raised;
        for t in &self.cts {
            x = t.apply(eng, &x)?;
        }
        debug_assert!(crate::ckks::evaluator::scales_match(
            x.scale,
            self.cts_scale
        ));
        let conj = eng.conjugate(&x)?;
        let shift = self.eval_mod.input_shift();
        let re = eng.add_const(&eng.add(&x, &conj)?, shift)?;
        let im = eng.add_const(&eng.mul_by_i(&eng.sub(&conj, &x)?)?, shift)?;
        let cts = lap();

        // EvalMod on both halves, then recombine: re + i im.
        let (re, im) = rayon::join(
            || self.eval_mod.apply(eng, &re, self.poly_scale),
            || self.eval_mod.apply(eng, &im, self.poly_scale),
        );
        let mut y = eng.add(&re?, &eng.mul_by_i(&im?)?)?;
        let eval_mod = lap();

        for t in &self.stc {
            y = t.apply(eng, &y)?;
        }
        // The slots hold m / (default scale * scale_up) at the default scale: the integer
        // content m / scale_up: read at the input's scale they are the input's slots.
        debug_assert!(crate::ckks::evaluator::scales_match(
            y.scale,
            params.default_scale()
        ));
        y.scale = input_scale;
        let out_level = params.top_level().min(y.level);
        let y = eng.drop_level(&y, y.level - out_level)?;
        let stc = lap();
        let report = BootstrapReport {
            raised_level: top,
            output_level: y.level,
            phase_seconds: [raise.0, cts.0, eval_mod.0, stc.0],
            phase_tallies: [raise.1, cts.1, eval_mod.1, stc.1],
        };
        Ok((y, report))
    }
}

/// Encodes consecutive transforms from `level` down, one level each: every group keeps the
/// scale `scale_in` except the last, which lands on `scale_out`.
fn encode_chain(
    ctx: &Arc<Context>,
    ms: &[DiagonalMatrix],
    level: usize,
    scale_in: f64,
    scale_out: f64,
) -> Result<Vec<EncodedTransform>, CkksError> {
    let q = |l: usize| ctx.params().q()[l] as f64;
    ms.par_iter()
        .enumerate()
        .map(|(g, m)| {
            let l = level - g;
            let pt_scale = if g + 1 == ms.len() {
                scale_out * q(l) / scale_in
            } else {
                q(l)
            };
            EncodedTransform::new(ctx, m, l, pt_scale)
        })
        .collect()
}

#[cfg(test)]
mod tests;
