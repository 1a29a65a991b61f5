//! The levels of one encrypted step: a max-plus walk over the step's program.
//!
//! Each value's level is the level it is produced at: a projection one below the hidden
//! state's (the inputs are encrypted at that level), an activation its argument's minus the
//! polynomial's depth, a product one below the lower operand, a sum the lower operand's,
//! `1 - a` a's. A value the placement refreshes (bootstraps) is at the top level afterwards.
//! The server's circuit ([`super::step`]) produces exactly these levels (tested), so the cost
//! model and the placement search can use this walk without running a circuit.

use serde::Serialize;

use crate::recurrence::{Cell, Op, Value};

/// Where one step refreshes (bootstraps) its values: carried states as they enter the step,
/// and operations' results right after they are computed. Bit i of `states` is state i, bit k
/// of `ops` is operation k.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct StepRefresh {
    /// Carried states refreshed on entry.
    pub states: u8,
    /// Operation results refreshed after they are computed.
    pub ops: u32,
}

impl StepRefresh {
    /// No refresh.
    pub const NONE: StepRefresh = StepRefresh { states: 0, ops: 0 };

    /// True if state `i` is refreshed on entry.
    pub fn state(&self, i: usize) -> bool {
        self.states >> i & 1 == 1
    }

    /// True if operation `k`'s result is refreshed.
    pub fn op(&self, k: usize) -> bool {
        self.ops >> k & 1 == 1
    }

    /// Values this refresh refreshes (its bootstraps if none share one: see
    /// [`super::pairing::bootstraps`]).
    pub fn count(&self) -> usize {
        (self.states.count_ones() + self.ops.count_ones()) as usize
    }
}

/// The levels of one step's values.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StepLevels {
    /// Each carried state after its entry refresh (if any).
    pub states: Vec<usize>,
    /// The level inputs are encrypted at (the hidden state's).
    pub input: usize,
    /// Each operation's result (after its refresh, if any).
    pub ops: Vec<usize>,
    /// Each operation's result before its refresh.
    pub ops_computed: Vec<usize>,
    /// Each carried state leaving the step.
    pub next_state: Vec<usize>,
}

impl StepLevels {
    /// The level of `v`.
    pub fn of(&self, v: Value) -> usize {
        match v {
            Value::State(i) => self.states[i],
            Value::Project(_) | Value::ProjectInput(_) | Value::ProjectRecurrent(_) => {
                self.input - 1
            }
            Value::Op(k) => self.ops[k],
        }
    }

    /// Levels consumed on the longest path from the entering states to the leaving ones, the
    /// step's depth when nothing is refreshed.
    pub fn depth(&self) -> usize {
        let lowest = self.next_state.iter().min().copied().unwrap_or(self.input);
        self.input.saturating_sub(lowest)
    }
}

/// Why a step does not fit its levels.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LevelError {
    /// A polynomial needs more levels than its argument has.
    #[error(
        "step {step}, slot {slot}: the degree-{degree} polynomial needs {needed} levels, but its argument is at level {level}"
    )]
    Activation {
        step: usize,
        slot: &'static str,
        degree: usize,
        needed: usize,
        level: usize,
    },
    /// A product or projection has no level left.
    #[error("step {step}: {what} needs a level, but its operands are at level 0")]
    NoLevel { step: usize, what: String },
}

/// Walks step `step` of `cell` (see the module docs): `degrees[s]` and `depths[s]` are slot s's
/// polynomial degree and depth, `entry` the carried states' levels, `top` the level after a
/// refresh.
pub fn step_levels(
    cell: &Cell,
    step: usize,
    degrees: &[usize],
    depths: &[usize],
    entry: &[usize],
    refresh: StepRefresh,
    top: usize,
) -> Result<StepLevels, LevelError> {
    let states: Vec<usize> = entry
        .iter()
        .enumerate()
        .map(|(i, &l)| if refresh.state(i) { top } else { l })
        .collect();
    let input = states[0];
    if input == 0 {
        return Err(LevelError::NoLevel {
            step,
            what: "the gates' projections".into(),
        });
    }
    let mut ops = Vec::with_capacity(cell.program.ops.len());
    let mut computed = Vec::with_capacity(cell.program.ops.len());
    for (k, op) in cell.program.ops.iter().enumerate() {
        let at = |v: Value, ops: &[usize]| match v {
            Value::State(i) => states[i],
            Value::Project(_) | Value::ProjectInput(_) | Value::ProjectRecurrent(_) => input - 1,
            Value::Op(j) => ops[j],
        };
        let level = match *op {
            Op::Add(a, b) => at(a, &ops).min(at(b, &ops)),
            Op::OneMinus(a) => at(a, &ops),
            Op::Mul(a, b) => {
                let m = at(a, &ops).min(at(b, &ops));
                if m == 0 {
                    return Err(LevelError::NoLevel {
                        step,
                        what: format!("the product of operation {k}"),
                    });
                }
                m - 1
            }
            Op::Activate { slot, arg } => {
                let l = at(arg, &ops);
                if l < depths[slot] {
                    return Err(LevelError::Activation {
                        step,
                        slot: cell.slots[slot].name,
                        degree: degrees[slot],
                        needed: depths[slot],
                        level: l,
                    });
                }
                l - depths[slot]
            }
        };
        computed.push(level);
        ops.push(if refresh.op(k) { top } else { level });
    }
    let next_state = cell
        .program
        .next_state
        .iter()
        .map(|&v| match v {
            Value::State(i) => states[i],
            Value::Op(k) => ops[k],
            _ => input - 1,
        })
        .collect();
    Ok(StepLevels {
        states,
        input,
        ops,
        ops_computed: computed,
        next_state,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recurrence::CellKind;

    #[test]
    fn gru_and_lstm_depths_at_degree_17() {
        // GRU: h -> projection 1 -> r 5 -> r * (h Uh) 1 -> n 5 -> (1 - z) n 1: 13 levels.
        let gru = CellKind::Gru.cell();
        let l = step_levels(gru, 0, &[17; 3], &[5; 3], &[20], StepRefresh::NONE, 20).unwrap();
        assert_eq!(l.depth(), 13);
        // LSTM: h -> projection 1 -> i, g 5 -> i g 1 -> tanh(c) 5 -> o tanh(c) 1: 13 levels
        // for h; c leaves after 7.
        let lstm = CellKind::Lstm.cell();
        let l = step_levels(lstm, 0, &[17; 5], &[5; 5], &[20, 20], StepRefresh::NONE, 20).unwrap();
        assert_eq!(l.next_state, vec![7, 13]);
        assert_eq!(l.depth(), 13);
        // SimpleRNN: projection and polynomial.
        let rnn = CellKind::SimpleRnn.cell();
        let l = step_levels(rnn, 0, &[7], &[3], &[9], StepRefresh::NONE, 9).unwrap();
        assert_eq!(l.next_state, vec![5]);
    }

    #[test]
    fn a_refresh_restarts_from_the_top_and_a_short_step_is_named() {
        let gru = CellKind::Gru.cell();
        // Refreshing n's argument (operation 3) lets an all-17 GRU step run on 9 levels.
        let r = StepRefresh {
            states: 1,
            ops: 1 << 3,
        };
        let l = step_levels(gru, 4, &[17; 3], &[5; 3], &[2], r, 9).unwrap();
        assert_eq!(l.ops[3], 9);
        assert_eq!(l.next_state, vec![2]);
        let e = step_levels(gru, 4, &[17; 3], &[5; 3], &[9], StepRefresh::NONE, 9).unwrap_err();
        assert_eq!(
            e.to_string(),
            "step 4, slot n: the degree-17 polynomial needs 5 levels, but its argument is at level 2"
        );
    }
}
