//! Homomorphic modular reduction: `u -> sin(2 pi u) / (2 pi)`, which is `u mod 1` for `u`
//! within a small distance of an integer (Cheon-Han-Kim-Kim-Song; Bossuat et al.).
//!
//! With `r` double-angle steps, `sin(2 pi u) = cos(2 pi 2^r y)` for `y = (u - 1/4) / 2^r`:
//! a polynomial approximates `cos(2 pi 2^r y)`'s "root" `cos(2 pi y)` on `|y| <= a`, then
//! `c <- 2 c^2 - 1` runs `r` times. The input arrives as `t = y / a` (the scaling and the shift
//! are folded into CoeffsToSlots and a free constant addition), so the polynomial costs only
//! its own depth. The fit is a least-squares fit on the points that can occur — `u` within
//! `eps` of an integer `|i| <= K` — plus a light uniform weight over the whole interval that
//! keeps the polynomial bounded between them.

use std::f64::consts::PI;

use crate::approx::chebyshev::{clenshaw, least_squares};
use crate::ckks::evaluator::Evaluator;
use crate::ckks::poly::{Chebyshev, InputMap, PolyOptions, evaluate, poly_depth};
use crate::ckks::scheme::ciphertext::Ciphertext;
use crate::ckks::scheme::engine::Engine;
use crate::ckks::scheme::error::CkksError;

/// Points per integer in the fit.
const POINTS_PER_INTEGER: usize = 24;
/// Weight of the uniform points that keep the polynomial bounded between integers.
const BACKGROUND_WEIGHT: f64 = 1e-16;

/// Settings of the modular reduction.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EvalModConfig {
    /// Integers `|i| <= k` the input may sit near (the modulus-raise overflow bound).
    pub k: usize,
    /// Largest distance from an integer that must come out right (the message over `q_0`).
    pub eps: f64,
    /// Double-angle steps.
    pub double_angles: usize,
    /// Degree of the cosine approximation.
    pub degree: usize,
}

impl EvalModConfig {
    /// Levels consumed: the polynomial's depth plus one per double angle.
    pub fn depth(&self) -> usize {
        poly_depth(self.degree) + self.double_angles
    }
}

/// The fitted reduction.
#[derive(Clone, Debug)]
pub struct EvalMod {
    config: EvalModConfig,
    /// Half-width of the interval of `y`.
    half_width: f64,
    poly: Chebyshev,
}

impl EvalMod {
    /// Fits the cosine polynomial.
    pub fn new(config: EvalModConfig) -> Result<Self, CkksError> {
        let r2 = 2f64.powi(config.double_angles as i32);
        let half_width = (config.k as f64 + 0.25 + 2.0 * config.eps) / r2;
        let target = |t: f64| (2.0 * PI * half_width * t).cos();
        let (mut ts, mut ws) = (Vec::new(), Vec::new());
        let k = config.k as i64;
        for i in -k..=k {
            for p in 0..POINTS_PER_INTEGER {
                let node = (PI * (p as f64 + 0.5) / POINTS_PER_INTEGER as f64).cos();
                let u = i as f64 + config.eps * node;
                ts.push((u - 0.25) / r2 / half_width);
                ws.push(1.0);
            }
        }
        let background = 4 * config.degree + 1;
        for p in 0..background {
            ts.push((PI * (p as f64 + 0.5) / background as f64).cos());
            ws.push(BACKGROUND_WEIGHT);
        }
        let ys: Vec<f64> = ts.iter().map(|&t| target(t)).collect();
        let coeffs = least_squares(&ts, &ys, &ws, config.degree);
        let poly = Chebyshev::new(&coeffs, (-half_width, half_width))?;
        Ok(Self {
            config,
            half_width,
            poly,
        })
    }

    /// The settings.
    pub fn config(&self) -> &EvalModConfig {
        &self.config
    }

    /// Levels the polynomial consumes (its input is folded).
    pub fn poly_depth(&self) -> usize {
        self.poly.depth(InputMap::Folded)
    }

    /// The factor CoeffsToSlots must apply to `u` so that this reduction's input is
    /// `t = (u - 1/4) / (2^r a)`: `1 / (2^r a)`.
    pub fn input_factor(&self) -> f64 {
        1.0 / (2f64.powi(self.config.double_angles as i32) * self.half_width)
    }

    /// The constant to add after CoeffsToSlots: `-1/4 * input_factor`.
    pub fn input_shift(&self) -> f64 {
        -0.25 * self.input_factor()
    }

    /// Plaintext evaluation of the whole reduction on `u` (what the ciphertext computes):
    /// about `sin(2 pi u)`.
    pub fn eval(&self, u: f64) -> f64 {
        let t = u * self.input_factor() + self.input_shift();
        let mut c = clenshaw(self.poly.coeffs(), t);
        for _ in 0..self.config.double_angles {
            c = 2.0 * c * c - 1.0;
        }
        c
    }

    /// Runs the reduction on a ciphertext holding `t`; the polynomial ends at scale
    /// `poly_scale`, each double angle at (about) the scale it starts with times
    /// `scale / q_level`. Output: about `sin(2 pi u)`.
    pub fn apply(
        &self,
        eng: &Engine,
        ct: &Ciphertext,
        poly_scale: f64,
    ) -> Result<Ciphertext, CkksError> {
        let opts = PolyOptions {
            input: InputMap::Folded,
            target_scale: Some(poly_scale),
            log_split: None,
        };
        let (mut c, _) = evaluate(eng, ct, &self.poly, &opts)?;
        for _ in 0..self.config.double_angles {
            let sq = eng.mul_relin(&c, &c)?;
            let twice = eng.add(&sq, &sq)?;
            c = eng.rescale(&eng.add_const(&twice, -1.0)?)?;
        }
        Ok(c)
    }

    /// The scale [`Self::apply`] ends at, given the polynomial's output scale and level and
    /// the rescale primes `q(level)`.
    pub fn output_scale(
        &self,
        poly_scale: f64,
        poly_level: usize,
        q: impl Fn(usize) -> f64,
    ) -> f64 {
        let mut s = poly_scale;
        for i in 0..self.config.double_angles {
            s = s * s / q(poly_level - i);
        }
        s
    }
}

/// Worst error of [`EvalMod::eval`] against `sin(2 pi u)` over the points the fit promises
/// (`u` within `eps` of an integer `|i| <= k`), sampled densely.
pub fn max_error(m: &EvalMod) -> f64 {
    let c = m.config;
    let k = c.k as i64;
    let mut worst: f64 = 0.0;
    for i in -k..=k {
        for p in 0..=200 {
            let u = i as f64 + c.eps * (2.0 * p as f64 / 200.0 - 1.0);
            worst = worst.max((m.eval(u) - (2.0 * PI * u).sin()).abs());
        }
    }
    worst
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_reduction_is_accurate_to_34_bits() {
        let m = EvalMod::new(EvalModConfig {
            k: 12,
            eps: 1.0 / 512.0,
            double_angles: 3,
            degree: 31,
        })
        .unwrap();
        assert!(max_error(&m) < 2f64.powi(-34), "{}", max_error(&m).log2());
    }
}
