//! The encrypted computation of a schedule as a chain of *segments*: the pieces between two
//! points where a bootstrap may be placed, each with the levels it consumes and the
//! operations it runs.
//!
//! One RNN step t computes h_t = p_t(x_t Wx + h_{t-1} Wh + b) on a packed ciphertext:
//! - **linear part** (1 level): the recurrent 32x32 diagonal matvec on h_{t-1} (plaintext
//!   diagonals, one rescale), the input projection x_t Wx on the client's encrypted row,
//!   and the bias add. The client encrypts x_t at the hidden state's level, so both
//!   products run at the same level and the projection adds no depth of its own. The
//!   1/8 scaling of the fit interval [-8, 8] onto [-1, 1] is folded into Wx, Wh and b.
//!   Step 0 has h_0 = 0, so only the projection runs.
//! - **polynomial** (ceil(log2(d + 1)) levels for degree d, the minimum depth of a
//!   Chebyshev baby-step giant-step evaluation): 2, 3, 5 levels for degrees 3, 7, 17.
//!
//! After the last step, the output layer Dense(10) is one more matvec (1 level).
//!
//! Bootstraps may go before any step's linear part and before the output layer, and, with
//! [`BootstrapPoints::MidStep`], also between a step's linear part and its polynomial
//! (the pre-activation is an ordinary ciphertext there, scaled into [-1, 1] by the folded
//! 1/8, which is the range CKKS bootstrapping expects).

use crate::schedule::{CellApprox, Schedule};

use super::{CostError, OpCount};

/// Levels the linear part of a step consumes on the hidden state's chain.
pub const LINEAR_DEPTH: usize = 1;

/// Levels the output layer Dense(10) consumes.
pub const OUTPUT_DEPTH: usize = 1;

/// Profile operation: 32x32 diagonal matvec with baby-step giant-step, including its rescale.
pub const OP_MATVEC: &str = "matvec_32";
/// Profile operation: ciphertext addition.
pub const OP_ADD: &str = "add";
/// Profile operation: bootstrapping.
pub const OP_BOOTSTRAP: &str = "bootstrap";

/// Profile operation name of the degree-`degree` polynomial, e.g. `poly_deg17`.
pub fn poly_op(degree: usize) -> String {
    format!("poly_deg{degree}")
}

/// Levels a Chebyshev baby-step giant-step evaluation of a degree-`degree` polynomial
/// consumes: ceil(log2(degree + 1)), the minimum for any evaluation of that degree.
pub fn poly_depth(degree: usize) -> usize {
    // Number of bits of `degree` = ceil(log2(degree + 1)).
    (usize::BITS - degree.leading_zeros()) as usize
}

/// Where bootstraps may be placed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BootstrapPoints {
    /// Only between steps (and before the output layer).
    StepBoundary,
    /// Also between a step's linear part and its polynomial.
    #[default]
    MidStep,
}

/// What a segment computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentKind {
    /// The linear part of step 0 (input projection and bias only: h_0 = 0).
    FirstLinear,
    /// The linear part of a later step (recurrent matvec, input projection, two adds).
    Linear,
    /// The cell's polynomial of this degree.
    Poly(usize),
    /// The output layer Dense(10).
    Output,
}

/// One piece of the circuit between two possible bootstrap points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Step index (number of steps for the output layer).
    pub step: usize,
    /// What it computes.
    pub kind: SegmentKind,
    /// Levels it consumes.
    pub depth: usize,
    /// True if a bootstrap may run right before it.
    pub bootstrap_allowed: bool,
}

impl SegmentKind {
    /// Levels this segment consumes.
    pub fn depth(self) -> usize {
        match self {
            SegmentKind::FirstLinear | SegmentKind::Linear => LINEAR_DEPTH,
            SegmentKind::Poly(d) => poly_depth(d),
            SegmentKind::Output => OUTPUT_DEPTH,
        }
    }

    /// The operations this segment runs when it starts at `level`, by profile name.
    pub fn ops(self, level: usize) -> Vec<OpCount> {
        let op = |op: &str, level: usize, count: usize| OpCount {
            op: op.to_string(),
            level,
            count,
        };
        let below = level.saturating_sub(1);
        match self {
            SegmentKind::FirstLinear => vec![op(OP_MATVEC, level, 1), op(OP_ADD, below, 1)],
            SegmentKind::Linear => vec![op(OP_MATVEC, level, 2), op(OP_ADD, below, 2)],
            SegmentKind::Poly(d) => vec![op(&poly_op(d), level, 1)],
            SegmentKind::Output => vec![op(OP_MATVEC, level, 1), op(OP_ADD, below, 1)],
        }
    }
}

/// The segments of a schedule's encrypted inference, in order: for each step its linear
/// part and its polynomial, then the output layer. Refuses exact cells and any segment (or,
/// with [`BootstrapPoints::StepBoundary`], any step) deeper than `top` levels.
pub fn segments(
    schedule: &Schedule,
    points: BootstrapPoints,
    top: usize,
) -> Result<Vec<Segment>, CostError> {
    let mut out = Vec::with_capacity(2 * schedule.len() + 1);
    for (step, cell) in schedule.cells().iter().enumerate() {
        let degree = match *cell {
            CellApprox::Exact => return Err(CostError::ExactCell { cell: step }),
            CellApprox::Degree(0) => {
                return Err(CostError::Degree {
                    cell: step,
                    degree: 0,
                    reason: "a constant cannot replace the activation".into(),
                });
            }
            CellApprox::Degree(d) => d,
        };
        let linear = if step == 0 {
            SegmentKind::FirstLinear
        } else {
            SegmentKind::Linear
        };
        let poly = SegmentKind::Poly(degree);
        let needed = match points {
            BootstrapPoints::MidStep => poly.depth(),
            BootstrapPoints::StepBoundary => linear.depth() + poly.depth(),
        };
        if needed > top {
            let what = match points {
                BootstrapPoints::MidStep => format!("the degree-{degree} polynomial"),
                BootstrapPoints::StepBoundary => {
                    format!("a step with a degree-{degree} polynomial")
                }
            };
            return Err(CostError::TooDeep {
                what,
                needed,
                available: top,
            });
        }
        out.push(Segment {
            step,
            kind: linear,
            depth: linear.depth(),
            bootstrap_allowed: true,
        });
        out.push(Segment {
            step,
            kind: poly,
            depth: poly.depth(),
            bootstrap_allowed: points == BootstrapPoints::MidStep,
        });
    }
    if OUTPUT_DEPTH > top {
        return Err(CostError::TooDeep {
            what: "the output layer".into(),
            needed: OUTPUT_DEPTH,
            available: top,
        });
    }
    out.push(Segment {
        step: schedule.len(),
        kind: SegmentKind::Output,
        depth: OUTPUT_DEPTH,
        bootstrap_allowed: true,
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimum_chebyshev_depths() {
        let got: Vec<usize> = [1, 2, 3, 4, 7, 8, 15, 16, 17, 31, 32]
            .iter()
            .map(|&d| poly_depth(d))
            .collect();
        assert_eq!(got, [1, 2, 2, 3, 3, 4, 4, 5, 5, 5, 6]);
    }

    #[test]
    fn segments_of_a_schedule() {
        let s = Schedule::new(vec![CellApprox::Degree(17), CellApprox::Degree(3)]);
        let segs = segments(&s, BootstrapPoints::StepBoundary, 9).unwrap();
        let kinds: Vec<_> = segs
            .iter()
            .map(|s| (s.kind, s.depth, s.bootstrap_allowed))
            .collect();
        assert_eq!(
            kinds,
            [
                (SegmentKind::FirstLinear, 1, true),
                (SegmentKind::Poly(17), 5, false),
                (SegmentKind::Linear, 1, true),
                (SegmentKind::Poly(3), 2, false),
                (SegmentKind::Output, 1, true),
            ]
        );
        assert!(segments(&s, BootstrapPoints::MidStep, 9).unwrap()[1].bootstrap_allowed);
    }

    #[test]
    fn too_deep_and_bad_cells_are_refused() {
        let s = Schedule::uniform(3, CellApprox::Degree(17));
        let err = segments(&s, BootstrapPoints::StepBoundary, 5)
            .unwrap_err()
            .to_string();
        assert!(err.contains("needs 6 levels but only 5"), "{err}");
        assert!(segments(&s, BootstrapPoints::MidStep, 5).is_ok());
        let z = Schedule::uniform(3, CellApprox::Degree(0));
        assert!(segments(&z, BootstrapPoints::MidStep, 9).is_err());
    }
}
