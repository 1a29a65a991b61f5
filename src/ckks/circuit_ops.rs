//! The circuit-level operations of the timing profile, packaged so the profiler, the benches
//! and the precision tests time and check exactly the code the plans count: the SimpleRNN's
//! (`matvec_32`, `poly_deg3`, `poly_deg7`, `poly_deg17`, [`super::plan`]) and the gated cells'
//! ([`super::cell`]: the shared baby steps `hoist_32`, the rest of a one- or two-input
//! projection `bsgs_32x1` / `bsgs_32x2`, and polynomials by structure: odd `poly_degD`, odd
//! plus a constant `poly_degD_shifted` (a sigmoid on a symmetric interval), any other
//! `poly_degD_full`).
//!
//! Use: for each [`CircuitOp`] of [`profile_ops`], generate its [`CircuitOp::rotation_steps`]
//! keys; for each level from [`CircuitOp::depth`] to the top, [`CircuitOp::prepare`] it
//! (untimed: weights encoded, inputs chosen), encrypt [`PreparedOp::input`] at that level and
//! the evaluator's default scale, then time [`PreparedOp::run`]. [`PreparedOp::expected`] is
//! the plaintext result and [`precision_bits`] scores a decryption against it.

use ndarray::Array2;

use std::cell::OnceCell;

use super::evaluator::{EvalError, Evaluator};
use super::linear::{BabySteps, EncodedLinear, Layout, Linear, Storage};
use super::poly::{Chebyshev, InputMap, PolyOptions, evaluate};

/// Interval of the profile's tanh fits.
pub const TANH_INTERVAL: (f64, f64) = (-8.0, 8.0);

/// The polynomial the profile's `poly_deg{degree}` times: the tanh interpolant of that degree
/// on [`TANH_INTERVAL`] (odd: no even terms). The cost model prices a cell's real fit as this
/// time plus the operations by which the fit's plan differs.
pub fn profiled_poly(degree: usize) -> Result<Chebyshev, EvalError> {
    Chebyshev::interpolate(f64::tanh, degree, TANH_INTERVAL)
}

/// The structure of a profiled polynomial (see the module docs), which sets its operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolyShape {
    /// Odd: the tanh interpolant on [`TANH_INTERVAL`] ([`profiled_poly`]).
    Odd,
    /// Odd plus a constant: the sigmoid interpolant on [`TANH_INTERVAL`].
    Shifted,
    /// Every term: the sigmoid interpolant on the lopsided interval [-10, 6].
    Full,
}

/// A circuit-level operation of the timing profile.
#[derive(Clone, Debug, PartialEq)]
pub enum CircuitOp {
    /// `blocks x blocks` BSGS diagonal matvec on the unit-major layout, including its rescale
    /// (the recurrent product of one step).
    Matvec {
        /// Unit blocks (32 for the reference RNN).
        blocks: usize,
    },
    /// The baby-step rotations of one ciphertext, hoisted, that every gate's projection of it
    /// shares.
    Hoist {
        /// Unit blocks.
        blocks: usize,
    },
    /// A projection of `inputs` ciphertexts whose baby steps are made: products by the
    /// diagonals, giant-step rotations, rescale, bias.
    Bsgs {
        /// Unit blocks.
        blocks: usize,
        /// Inputs (1 or 2).
        inputs: usize,
    },
    /// A polynomial of this degree and shape, evaluated on the mapped input as the circuits do
    /// (the map folded into the preceding product).
    Poly {
        /// Degree.
        degree: usize,
        /// Which terms it has.
        shape: PolyShape,
    },
}

/// The profile's circuit operations (see the module docs).
pub fn profile_ops() -> Vec<CircuitOp> {
    // The SimpleRNN's operations first, in the order the OpenFHE comparison times them.
    let mut ops = vec![CircuitOp::Matvec { blocks: 32 }];
    let polys = |shape| [3, 7, 17].map(|degree| CircuitOp::Poly { degree, shape });
    ops.extend(polys(PolyShape::Odd));
    // The gated cells' projections at 32 and 64 units (MHEGRU's GRU-64).
    for blocks in [32, 64] {
        ops.push(CircuitOp::Hoist { blocks });
        ops.extend([1, 2].map(|inputs| CircuitOp::Bsgs { blocks, inputs }));
    }
    ops.extend(polys(PolyShape::Shifted));
    ops.extend(polys(PolyShape::Full));
    // A SimpleRNN of 64 units (the keys are hoist_64's).
    ops.push(CircuitOp::Matvec { blocks: 64 });
    ops
}

/// The polynomial a `Poly` operation of `degree` and `shape` times.
fn shaped_poly(degree: usize, shape: PolyShape) -> Result<Chebyshev, EvalError> {
    let sigmoid = |x: f64| 1.0 / (1.0 + (-x).exp());
    match shape {
        PolyShape::Odd => profiled_poly(degree),
        PolyShape::Shifted => Chebyshev::interpolate(sigmoid, degree, TANH_INTERVAL),
        PolyShape::Full => Chebyshev::interpolate(sigmoid, degree, (-10.0, 6.0)),
    }
}

/// Deterministic weights in [-0.5, 0.5) (a fixed linear congruential sequence).
fn weights(n: usize, seed: u64) -> Array2<f64> {
    let mut s = seed;
    Array2::from_shape_fn((n, n), |_| {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    })
}

impl CircuitOp {
    /// Profile name (`matvec_32`, `poly_deg17`, ...).
    pub fn name(&self) -> String {
        match self {
            CircuitOp::Matvec { blocks } => format!("matvec_{blocks}"),
            CircuitOp::Hoist { blocks } => format!("hoist_{blocks}"),
            CircuitOp::Bsgs { blocks, inputs } => format!("bsgs_{blocks}x{inputs}"),
            CircuitOp::Poly { degree, shape } => match shape {
                PolyShape::Odd => format!("poly_deg{degree}"),
                PolyShape::Shifted => format!("poly_deg{degree}_shifted"),
                PolyShape::Full => format!("poly_deg{degree}_full"),
            },
        }
    }

    /// Levels it consumes (the lowest level it can start at).
    pub fn depth(&self) -> usize {
        match self {
            CircuitOp::Matvec { .. } | CircuitOp::Bsgs { .. } => Linear::DEPTH,
            CircuitOp::Hoist { .. } => 0,
            CircuitOp::Poly { degree, .. } => super::poly::poly_depth(*degree),
        }
    }

    fn linear(&self, slots: usize) -> Result<Option<Linear>, EvalError> {
        let (blocks, inputs) = match self {
            CircuitOp::Matvec { blocks } | CircuitOp::Hoist { blocks } => (*blocks, 1),
            CircuitOp::Bsgs { blocks, inputs } => (*blocks, *inputs),
            CircuitOp::Poly { .. } => return Ok(None),
        };
        let layout = Layout::new(slots, blocks)?;
        let ws: Vec<Array2<f64>> = (0..inputs as u64).map(|m| weights(blocks, 1 + m)).collect();
        let views: Vec<_> = ws.iter().map(|w| w.view()).collect();
        let bias = matches!(self, CircuitOp::Bsgs { .. }).then(|| vec![0.125; blocks]);
        Ok(Some(Linear::new(layout, &views, bias.as_deref(), None)?))
    }

    /// Rotation steps whose keys it needs with `slots` slots.
    pub fn rotation_steps(&self, slots: usize) -> Result<Vec<isize>, EvalError> {
        Ok(self
            .linear(slots)?
            .map(|l| l.rotation_steps())
            .unwrap_or_default())
    }

    /// Prepares a run at `level` (encodes the weights for inputs at the default scale).
    pub fn prepare<E: Evaluator>(&self, ev: &E, level: usize) -> Result<PreparedOp<E>, E::Error> {
        let slots = ev.slots();
        if level < self.depth() {
            return Err(EvalError::OutOfLevels {
                op: "circuit operation",
                level,
                needed: self.depth(),
            }
            .into());
        }
        let s = ev.default_scale();
        let kind = match self {
            CircuitOp::Matvec { blocks } | CircuitOp::Bsgs { blocks, .. } => {
                // Invariant: `linear` returns Some for a matvec.
                let lin = self.linear(slots)?.expect("matvec has a linear layer");
                let inputs = lin.inputs();
                // The gated circuits keep their projections compact (`bsgs`); the SimpleRNN
                // its matvec expanded.
                let storage = match self {
                    CircuitOp::Bsgs { .. } => Storage::Compact,
                    _ => Storage::Expanded,
                };
                let enc = lin.encode(ev, level, &vec![s; inputs], s, (1.0, 0.0), storage)?;
                // The inputs are one ciphertext given `inputs` times: x (W_1 + ... ) + b.
                let w = (0..inputs as u64).fold(Array2::zeros((*blocks, *blocks)), |a, m| {
                    a + weights(*blocks, 1 + m)
                });
                let bias = matches!(self, CircuitOp::Bsgs { .. }).then_some(0.125);
                let layout = lin.layout();
                let n1 = lin.bsgs().0;
                if matches!(self, CircuitOp::Matvec { .. }) {
                    Prepared::Matvec { enc, w, bias }
                } else {
                    Prepared::Bsgs {
                        enc,
                        w,
                        bias,
                        inputs,
                        layout,
                        n1,
                        babies: OnceCell::new(),
                    }
                }
            }
            CircuitOp::Hoist { blocks } => Prepared::Hoist {
                layout: Layout::new(slots, *blocks)?,
                n1: self.linear(slots)?.map_or(1, |l| l.bsgs().0),
            },
            CircuitOp::Poly { degree, shape } => Prepared::Poly(shaped_poly(*degree, *shape)?),
        };
        let input = (0..slots)
            .map(|i| ((i as f64 * 0.618_033_988_7).fract() * 2.0 - 1.0) * 0.99)
            .collect();
        Ok(PreparedOp { kind, input, slots })
    }
}

enum Prepared<E: Evaluator> {
    Matvec {
        enc: EncodedLinear<E>,
        w: Array2<f64>,
        bias: Option<f64>,
    },
    Hoist {
        layout: Layout,
        n1: usize,
    },
    Bsgs {
        enc: EncodedLinear<E>,
        w: Array2<f64>,
        bias: Option<f64>,
        inputs: usize,
        layout: Layout,
        n1: usize,
        /// The input's baby steps, made on the first run (not timed: the profiler's first
        /// round is a warm-up).
        babies: OnceCell<BabySteps<E>>,
    },
    Poly(Chebyshev),
}

/// A [`CircuitOp`] ready to run at one level.
pub struct PreparedOp<E: Evaluator> {
    kind: Prepared<E>,
    input: Vec<f64>,
    slots: usize,
}

impl<E: Evaluator> PreparedOp<E> {
    /// The slot values to encrypt as input (in [-1, 1]).
    pub fn input(&self) -> &[f64] {
        &self.input
    }

    /// Runs the operation on a ciphertext of [`PreparedOp::input`] at the prepared level and
    /// the default scale.
    pub fn run(&self, ev: &E, ct: &E::Ciphertext) -> Result<E::Ciphertext, E::Error> {
        match &self.kind {
            Prepared::Matvec { enc, .. } => Ok(enc.apply(ev, &[ct])?.0),
            Prepared::Hoist { layout, n1 } => {
                let all: Vec<usize> = (1..*n1).collect();
                let b = BabySteps::new(ev, *layout, *n1, ct, &all)?;
                // The last rotation, as a ciphertext to check.
                Ok(b.rotated(n1 - 1).cloned().unwrap_or_else(|| ct.clone()))
            }
            Prepared::Bsgs {
                enc,
                inputs,
                layout,
                n1,
                babies,
                ..
            } => {
                if babies.get().is_none() {
                    let all: Vec<usize> = (1..*n1).collect();
                    let _ = babies.set(BabySteps::new(ev, *layout, *n1, ct, &all)?);
                }
                // Invariant: set just above.
                let b = babies.get().expect("baby steps");
                let refs = vec![b; *inputs];
                Ok(enc.apply_rotated(ev, &refs)?.0)
            }
            Prepared::Poly(p) => {
                let opts = PolyOptions {
                    input: InputMap::Folded,
                    target_scale: Some(ev.default_scale()),
                    log_split: None,
                };
                Ok(evaluate(ev, ct, p, &opts)?.0)
            }
        }
    }

    /// The plaintext result of [`PreparedOp::run`] on the input.
    pub fn expected(&self) -> Vec<f64> {
        match &self.kind {
            Prepared::Matvec { w, bias, .. } | Prepared::Bsgs { w, bias, .. } => {
                let blocks = w.nrows();
                let layout = Layout {
                    blocks,
                    batch: self.slots / blocks,
                };
                let x = layout.unpack(&self.input, layout.batch, blocks);
                let y = x.dot(w) + bias.unwrap_or(0.0);
                // Invariant: y has the layout's shape.
                layout
                    .pack(y.view())
                    .expect("matvec output fits the layout")
            }
            Prepared::Hoist { layout, n1 } => {
                let k = (n1 - 1) * layout.batch;
                (0..self.slots)
                    .map(|i| self.input[(i + k) % self.slots])
                    .collect()
            }
            Prepared::Poly(p) => self.input.iter().map(|&t| p.eval_mapped(t)).collect(),
        }
    }
}

/// -log2 of the largest absolute error between `got` and `want` (compared over `want`'s
/// length); infinite when they are equal.
pub fn precision_bits(got: &[f64], want: &[f64]) -> f64 {
    let err = got
        .iter()
        .zip(want)
        .fold(0.0f64, |m, (g, w)| m.max((g - w).abs()));
    -err.log2()
}

/// Precision of one circuit operation on one evaluator.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Precision {
    /// Profile name of the operation.
    pub op: String,
    /// Level it started at.
    pub level: usize,
    /// Bits of precision (-log2 of the largest absolute error against the plaintext result).
    pub bits: f64,
}

/// Runs every [`profile_ops`] operation at each of `levels` (those it fits in) on `ev`, with
/// the engine's `encrypt(values, level, scale)` and `decrypt`, and scores each result
/// against its plaintext reference. The evaluator must hold the ops' rotation keys.
pub fn precision_report<E: Evaluator>(
    ev: &E,
    levels: &[usize],
    encrypt: impl Fn(&[f64], usize, f64) -> Result<E::Ciphertext, E::Error>,
    decrypt: impl Fn(&E::Ciphertext) -> Result<Vec<f64>, E::Error>,
) -> Result<Vec<Precision>, E::Error> {
    let mut out = Vec::new();
    for op in profile_ops() {
        for &level in levels.iter().filter(|&&l| l >= op.depth()) {
            let p = op.prepare(ev, level)?;
            let ct = encrypt(p.input(), level, ev.default_scale())?;
            let got = decrypt(&p.run(ev, &ct)?)?;
            out.push(Precision {
                op: op.name(),
                level,
                bits: precision_bits(&got, &p.expected()),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ckks::sim::{SimEvaluator, SimParams};

    #[test]
    fn profile_ops_run_and_match_their_reference_on_the_simulator() {
        let ev = SimEvaluator::new(SimParams::chain(256, 9, 42, 58).unwrap());
        let names: Vec<String> = profile_ops().iter().map(|o| o.name()).collect();
        assert_eq!(
            names,
            [
                "matvec_32",
                "poly_deg3",
                "poly_deg7",
                "poly_deg17",
                "hoist_32",
                "bsgs_32x1",
                "bsgs_32x2",
                "hoist_64",
                "bsgs_64x1",
                "bsgs_64x2",
                "poly_deg3_shifted",
                "poly_deg7_shifted",
                "poly_deg17_shifted",
                "poly_deg3_full",
                "poly_deg7_full",
                "poly_deg17_full",
                "matvec_64"
            ]
        );
        for op in profile_ops() {
            let ev = SimEvaluator::new(ev.params().clone())
                .with_rotation_keys(op.rotation_steps(256).unwrap());
            for level in op.depth()..=9 {
                let p = op.prepare(&ev, level).unwrap();
                let ct = ev.encrypt(p.input(), level, ev.default_scale()).unwrap();
                let out = p.run(&ev, &ct).unwrap();
                assert_eq!(out.level, level - op.depth());
                let bits = precision_bits(ev.decrypt(&out).unwrap(), &p.expected());
                assert!(bits > 30.0, "{} at level {level}: {bits} bits", op.name());
            }
            if op.depth() > 0 {
                assert!(op.prepare(&ev, op.depth() - 1).is_err());
            }
        }
    }

    #[test]
    fn precision_report_covers_every_op_that_fits() {
        let ev = SimEvaluator::new(SimParams::chain(64, 9, 42, 58).unwrap());
        let rep = precision_report(
            &ev,
            &[9, 4, 1],
            |v, l, s| ev.encrypt(v, l, s),
            |c| Ok(ev.decrypt(c).unwrap_or_default().to_vec()),
        )
        .unwrap();
        let got: Vec<(&str, usize)> = rep
            .iter()
            .filter(|p| {
                ["matvec_32", "poly_deg3", "poly_deg7", "poly_deg17"].contains(&p.op.as_str())
            })
            .map(|p| (p.op.as_str(), p.level))
            .collect();
        assert_eq!(
            got,
            [
                ("matvec_32", 9),
                ("matvec_32", 4),
                ("matvec_32", 1),
                ("poly_deg3", 9),
                ("poly_deg3", 4),
                ("poly_deg7", 9),
                ("poly_deg7", 4),
                ("poly_deg17", 9)
            ]
        );
        // Eight linear operations at every level (matvec_32 and _64, hoist and two bsgs at
        // 32 and 64 units), three shapes of polynomial at the levels they fit (2 + 2 + 1).
        assert_eq!(rep.len(), 8 * 3 + 3 * 5);
        assert!(rep.iter().all(|p| p.bits > 30.0), "{rep:?}");
    }
}
