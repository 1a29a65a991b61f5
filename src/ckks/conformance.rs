//! A conformance check for [`Evaluator`] implementations: runs every operation of the trait
//! on an engine and on the simulator ([`SimEvaluator`], built with the engine's slots, primes
//! and default scale) and requires the same levels, the same scales, the same slot values (up
//! to the engine's noise) and the same refusals. An engine whose implementation passes runs
//! the circuits of [`super::poly`], [`super::linear`] and [`super::plan`] exactly as planned.
//!
//! Use it from the engine's tests:
//! `conformance::check(&ev, |v, level, scale| encrypt(v, level, scale), |ct| decrypt(ct), 20.0)`.
//! The engine must hold rotation keys for steps 1, -1 and 3 and none for step 2.

use super::evaluator::{EvalError, Evaluator, scales_match};
use super::sim::{SimCiphertext, SimEvaluator, SimParams};

/// One check that passed, with its precision in bits (infinite for pure level/scale checks).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// -log2 of the largest slot error against the simulator.
    pub bits: f64,
}

/// Why an engine does not conform.
#[derive(Debug, thiserror::Error)]
pub enum ConformanceError {
    /// An operation that must succeed failed.
    #[error("{check}: the engine failed: {message}")]
    Failed {
        /// The check.
        check: String,
        /// The engine's error.
        message: String,
    },
    /// An operation that must be refused was accepted.
    #[error("{check}: the engine accepted what it must refuse")]
    Accepted {
        /// The check.
        check: String,
    },
    /// Level, scale or values differ from the simulator.
    #[error("{check}: {what}")]
    Differs {
        /// The check.
        check: String,
        /// What differs.
        what: String,
    },
}

struct Checker<'a, E: Evaluator, D> {
    ev: &'a E,
    sim: SimEvaluator,
    decrypt: D,
    min_bits: f64,
    passed: Vec<Check>,
}

impl<E, D> Checker<'_, E, D>
where
    E: Evaluator,
    D: Fn(&E::Ciphertext) -> Result<Vec<f64>, E::Error>,
{
    fn ok<T>(&self, check: &str, r: Result<T, E::Error>) -> Result<T, ConformanceError> {
        r.map_err(|e| ConformanceError::Failed {
            check: check.into(),
            message: e.to_string(),
        })
    }

    fn compare(
        &mut self,
        check: &str,
        ct: &E::Ciphertext,
        want: &SimCiphertext,
    ) -> Result<(), ConformanceError> {
        let differs = |what: String| ConformanceError::Differs {
            check: check.into(),
            what,
        };
        if self.ev.level(ct) != want.level {
            return Err(differs(format!(
                "level {} but the simulator says {}",
                self.ev.level(ct),
                want.level
            )));
        }
        if !scales_match(self.ev.scale(ct), want.scale) {
            return Err(differs(format!(
                "scale 2^{:.6} but the simulator says 2^{:.6}",
                self.ev.scale(ct).log2(),
                want.scale.log2()
            )));
        }
        let got = self.ok(check, (self.decrypt)(ct))?;
        // Invariant: the checker's simulator tracks values.
        let want = want.values.as_ref().expect("simulator tracks values");
        let err = got
            .iter()
            .zip(want)
            .fold(0.0f64, |m, (g, w)| m.max((g - w).abs()));
        let bits = -err.log2();
        if got.len() < want.len() || bits < self.min_bits {
            return Err(differs(format!(
                "{bits:.1} bits of precision against the simulator, below {:.1} (or too few slots: {})",
                self.min_bits,
                got.len()
            )));
        }
        self.passed.push(Check {
            name: check.into(),
            bits,
        });
        Ok(())
    }

    fn refused<T>(&mut self, check: &str, r: Result<T, E::Error>) -> Result<(), ConformanceError> {
        if r.is_ok() {
            return Err(ConformanceError::Accepted {
                check: check.into(),
            });
        }
        self.passed.push(Check {
            name: check.into(),
            bits: f64::INFINITY,
        });
        Ok(())
    }
}

/// Checks `ev` against the simulator (see the module docs); returns the passed checks or the
/// first failure. `min_bits` is the precision every result must keep against the simulator.
pub fn check<E: Evaluator>(
    ev: &E,
    encrypt: impl Fn(&[f64], usize, f64) -> Result<E::Ciphertext, E::Error>,
    decrypt: impl Fn(&E::Ciphertext) -> Result<Vec<f64>, E::Error>,
    min_bits: f64,
) -> Result<Vec<Check>, ConformanceError> {
    let top = ev.top_level();
    let params = SimParams {
        slots: ev.slots(),
        default_scale: ev.default_scale(),
        primes: (0..=top).map(|l| ev.rescale_prime(l)).collect(),
    };
    let mut c = Checker {
        ev,
        sim: SimEvaluator::new(params),
        decrypt,
        min_bits,
        passed: Vec::new(),
    };
    let n = ev.slots();
    let s = ev.default_scale();
    let xs: Vec<f64> = (0..n)
        .map(|i| ((i * 37 % 101) as f64 / 50.0) - 1.0)
        .collect();
    let ys: Vec<f64> = (0..n)
        .map(|i| ((i * 53 % 97) as f64 / 48.0) - 1.0)
        .collect();
    let sim_err = |e: EvalError| ConformanceError::Failed {
        check: "simulator".into(),
        message: e.to_string(),
    };
    let a = c.ok("encrypt", encrypt(&xs, top, s))?;
    let b = c.ok("encrypt", encrypt(&ys, top, s))?;
    let sa = c.sim.encrypt(&xs, top, s).map_err(sim_err)?;
    let sb = c.sim.encrypt(&ys, top, s).map_err(sim_err)?;
    c.compare("encrypt/decrypt", &a, &sa)?;

    let r = c.ok("add", ev.add(&a, &b))?;
    c.compare("add", &r, &c.sim.add(&sa, &sb).map_err(sim_err)?)?;
    let r = c.ok("sub", ev.sub(&a, &b))?;
    c.compare("sub", &r, &c.sim.sub(&sa, &sb).map_err(sim_err)?)?;
    let r = c.ok("add_const", ev.add_const(&a, 0.375))?;
    c.compare(
        "add_const",
        &r,
        &c.sim.add_const(&sa, 0.375).map_err(sim_err)?,
    )?;
    let r = c.ok("negation", ev.mul_const(&a, -1.0, 1.0))?;
    let want = c.sim.mul_const(&sa, -1.0, 1.0).map_err(sim_err)?;
    c.compare("mul_const by -1 at scale 1 (negation, 1 - z)", &r, &want)?;
    let r = c.ok("mul_const at scale 1", ev.mul_const(&a, 3.0, 1.0))?;
    let want = c.sim.mul_const(&sa, 3.0, 1.0).map_err(sim_err)?;
    c.compare("mul_const at scale 1 (exact integer)", &r, &want)?;
    let q = ev.rescale_prime(top) as f64;
    let r = c.ok("mul_const", ev.mul_const(&a, -0.7, q))?;
    let r = c.ok("rescale", ev.rescale(&r))?;
    let want = c.sim.mul_const(&sa, -0.7, q).map_err(sim_err)?;
    let want = c.sim.rescale(&want).map_err(sim_err)?;
    c.compare("mul_const at scale q_top then rescale", &r, &want)?;

    let p = c.ok("encode", ev.encode(&ys, top, s))?;
    let sp = c.sim.encode(&ys, top, s).map_err(sim_err)?;
    let r = c.ok("mul_plain", ev.mul_plain(&a, &p))?;
    let r = c.ok("rescale", ev.rescale(&r))?;
    let want = c.sim.mul_plain(&sa, &sp).map_err(sim_err)?;
    let want = c.sim.rescale(&want).map_err(sim_err)?;
    c.compare("mul_plain then rescale", &r, &want)?;
    let p2 = c.ok("encode", ev.encode(&ys, top - 1, ev.scale(&r)))?;
    let sp2 = c.sim.encode(&ys, top - 1, want.scale).map_err(sim_err)?;
    let r2 = c.ok("add_plain", ev.add_plain(&r, &p2))?;
    c.compare(
        "add_plain",
        &r2,
        &c.sim.add_plain(&want, &sp2).map_err(sim_err)?,
    )?;

    let r = c.ok("mul_relin", ev.mul_relin(&a, &b))?;
    let r = c.ok("rescale", ev.rescale(&r))?;
    let want = c.sim.mul_relin(&sa, &sb).map_err(sim_err)?;
    let want = c.sim.rescale(&want).map_err(sim_err)?;
    c.compare("mul_relin then rescale", &r, &want)?;
    let d = c.ok("drop_level", ev.drop_level(&a, 2))?;
    c.compare(
        "drop_level by 2",
        &d,
        &c.sim.drop_level(&sa, 2).map_err(sim_err)?,
    )?;

    for step in [1isize, -1, 3] {
        let r = c.ok("rotate", ev.rotate(&d, step))?;
        let want = c
            .sim
            .rotate(&c.sim.drop_level(&sa, 2).map_err(sim_err)?, step);
        c.compare(
            &format!("rotate by {step} (slot i receives slot i + step)"),
            &r,
            &want.map_err(sim_err)?,
        )?;
    }
    let steps = [1isize, 3, -1, 0];
    let rs = c.ok("rotate_hoisted", ev.rotate_hoisted(&a, &steps))?;
    if rs.len() != steps.len() {
        return Err(ConformanceError::Differs {
            check: "rotate_hoisted".into(),
            what: format!("{} outputs for {} steps", rs.len(), steps.len()),
        });
    }
    let want = c.sim.rotate_hoisted(&sa, &steps).map_err(sim_err)?;
    for ((r, w), step) in rs.iter().zip(&want).zip(steps) {
        c.compare(&format!("rotate_hoisted step {step}"), r, w)?;
    }

    let r = c.ok(
        "rotate_sum",
        ev.rotate_sum(&[(&a, 1), (&b, -1), (&a, 0), (&b, 3)]),
    )?;
    let want = c
        .sim
        .rotate_sum(&[(&sa, 1), (&sb, -1), (&sa, 0), (&sb, 3)])
        .map_err(sim_err)?;
    c.compare("rotate_sum of steps 1, -1, 0 and 3", &r, &want)?;

    // Refusals.
    let low = c.ok("drop_level", ev.drop_level(&b, 1))?;
    c.refused(
        "rotate_sum at different levels",
        ev.rotate_sum(&[(&a, 1), (&low, 3)]),
    )?;
    c.refused("rotate_sum of no terms", ev.rotate_sum(&[]))?;
    c.refused("add at different levels", ev.add(&a, &low))?;
    c.refused("mul_relin at different levels", ev.mul_relin(&a, &low))?;
    let doubled = c.ok("mul_const", ev.mul_const(&b, 1.0, 2.0))?;
    c.refused("add at different scales", ev.add(&a, &doubled))?;
    c.refused("sub at different scales", ev.sub(&a, &doubled))?;
    let bottom = c.ok("drop_level", ev.drop_level(&a, top))?;
    c.refused("rescale at level 0", ev.rescale(&bottom))?;
    c.refused("drop below level 0", ev.drop_level(&a, top + 1))?;
    c.refused("rotate without its key (step 2)", ev.rotate(&a, 2))?;
    c.refused(
        "encode of more values than slots",
        ev.encode(&vec![0.0; n + 1], top, s),
    )?;
    c.refused("add_const of NaN", ev.add_const(&a, f64::NAN))?;
    Ok(c.passed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ckks::sim::SimParams;

    #[test]
    fn the_simulator_conforms_and_deviations_are_caught() {
        let params = SimParams::chain(16, 3, 40, 50).unwrap();
        let ev = SimEvaluator::new(params.clone()).with_rotation_keys([1, -1, 3]);
        let checks = check(
            &ev,
            |v, l, s| ev.encrypt(v, l, s),
            |ct| Ok(ev.decrypt(ct).unwrap_or_default().to_vec()),
            40.0,
        )
        .unwrap();
        assert!(checks.len() > 20);
        // An engine whose results disagree with the simulator (here: shifted slots at level 1)
        // is caught at the first such result.
        let wrong = check(
            &ev,
            |v, l, s| ev.encrypt(v, l, s),
            |ct| {
                let mut v = ev.decrypt(ct).unwrap_or_default().to_vec();
                if ct.values.is_some() && ct.level == 1 {
                    v.rotate_right(1);
                }
                Ok(v)
            },
            40.0,
        )
        .unwrap_err();
        assert!(wrong.to_string().contains("drop_level by 2"), "{wrong}");
        // An engine that accepts a missing rotation key is caught.
        let keyless = SimEvaluator::new(params);
        let err = check(
            &keyless,
            |v, l, s| keyless.encrypt(v, l, s),
            |ct| Ok(keyless.decrypt(ct).unwrap_or_default().to_vec()),
            40.0,
        )
        .unwrap_err();
        assert!(matches!(err, ConformanceError::Accepted { .. }), "{err}");
    }
}
