//! The one definition of each recurrent cell: what one time step computes, as data.
//!
//! A [`Cell`] names its gates (weight blocks), its activation **slots** (each a place in
//! the step where tanh or sigmoid is applied, and where a schedule may put a polynomial),
//! the state it carries (h, or h and the LSTM's cell state c) and a [`StepProgram`]: a
//! short list of vector operations over H units. Every consumer interprets this program
//! in its own arithmetic — training's forward and reverse pass (ndarray), the oracle's SIMD
//! kernel, the f64 reference — so no consumer holds a second copy of a cell's equations.
//!
//! Words: a **step** is one time step t; a **slot** is an activation site within a step; a
//! schedule assigns an approximation to each (slot, step). The LSTM's c_t is its **cell
//! state**. Gate blocks follow Keras: GRU (z, r, h) with reset_after, LSTM (i, f, c, o).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::approx::Activation;

/// The recurrent cells cellwise knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CellKind {
    /// Keras SimpleRNN: h' = tanh(x W + h U + b).
    SimpleRnn,
    /// Keras GRU (reset_after = true, the Keras 2 default; PyTorch's nn.GRU).
    Gru,
    /// Keras LSTM (PyTorch's nn.LSTM).
    Lstm,
}

impl CellKind {
    /// Every kind, in a fixed order.
    pub const ALL: [CellKind; 3] = [CellKind::SimpleRnn, CellKind::Gru, CellKind::Lstm];

    /// The kind's name as presets and messages spell it.
    pub fn name(self) -> &'static str {
        match self {
            Self::SimpleRnn => "simple-rnn",
            Self::Gru => "gru",
            Self::Lstm => "lstm",
        }
    }

    /// The cell's definition.
    pub fn cell(self) -> &'static Cell {
        match self {
            Self::SimpleRnn => &SIMPLE_RNN,
            Self::Gru => &GRU,
            Self::Lstm => &LSTM,
        }
    }

    /// The kind whose weights have `gates` blocks of H columns (1, 3 or 4).
    pub fn from_gate_count(gates: usize) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.cell().gates.len() == gates)
    }
}

impl fmt::Display for CellKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for CellKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| format!("unknown cell '{s}' (known: simple-rnn, gru, lstm)"))
    }
}

/// An activation site of a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    /// Short name used in schedules (`z`, `r`, `n`, `i`, `f`, `g`, `o`, `c`, `h`).
    pub name: &'static str,
    /// The exact function at this site.
    pub function: Activation,
}

/// An H-vector a step operation reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value {
    /// The carried state `i` as it entered the step (0 is h).
    State(usize),
    /// The whole pre-activation of gate `g`: x W_g + h U_g + b_g (both biases, if the cell
    /// has two). A consumer may sum the terms in any order.
    Project(usize),
    /// The input half of gate `g`: x W_g + b_g (input bias).
    ProjectInput(usize),
    /// The recurrent half of gate `g`: h U_g + b'_g (recurrent bias, GRU only).
    ProjectRecurrent(usize),
    /// The result of operation `k` of the same step (k < the reading operation).
    Op(usize),
}

/// One elementwise operation over H units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// a + b.
    Add(Value, Value),
    /// a * b.
    Mul(Value, Value),
    /// 1 - a.
    OneMinus(Value),
    /// The slot's activation (or the schedule's approximation of it) of `arg`.
    Activate { slot: usize, arg: Value },
}

/// What a cell computes in one step, in order; every result is an H-vector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepProgram {
    pub ops: &'static [Op],
    /// The new carried state, one value per state entry (same order as [`Cell::state`]).
    pub next_state: &'static [Value],
}

/// A recurrent cell: gates, slots, state and the step program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cell {
    pub kind: CellKind,
    /// Gate blocks of the kernels, in column order (Keras's order).
    pub gates: &'static [&'static str],
    /// Activation slots, in the order schedules list them.
    pub slots: &'static [Slot],
    /// Names of the carried state vectors; entry 0 is the hidden state h (read by the
    /// recurrent projections and the output layer).
    pub state: &'static [&'static str],
    /// True when the recurrent projection has its own bias (GRU reset_after).
    pub recurrent_bias: bool,
    pub program: StepProgram,
}

use Activation::{Sigmoid, Tanh};
use Value::{Op as R, Project, ProjectInput, ProjectRecurrent, State};

/// SimpleRNN: h' = tanh(x W + h U + b).
static SIMPLE_RNN: Cell = Cell {
    kind: CellKind::SimpleRnn,
    gates: &["h"],
    slots: &[Slot {
        name: "h",
        function: Tanh,
    }],
    state: &["h"],
    recurrent_bias: false,
    program: StepProgram {
        ops: &[Op::Activate {
            slot: 0,
            arg: Project(0),
        }],
        next_state: &[R(0)],
    },
};

/// GRU, Keras reset_after (PyTorch nn.GRU):
/// z = s(x Wz + h Uz + bz), r = s(x Wr + h Ur + br),
/// n = tanh(x Wh + bh + r * (h Uh + b'h)), h' = z * h + (1 - z) * n.
static GRU: Cell = Cell {
    kind: CellKind::Gru,
    gates: &["z", "r", "h"],
    slots: &[
        Slot {
            name: "z",
            function: Sigmoid,
        },
        Slot {
            name: "r",
            function: Sigmoid,
        },
        Slot {
            name: "n",
            function: Tanh,
        },
    ],
    state: &["h"],
    recurrent_bias: true,
    program: StepProgram {
        ops: &[
            /* 0 z      */
            Op::Activate {
                slot: 0,
                arg: Project(0),
            },
            /* 1 r      */
            Op::Activate {
                slot: 1,
                arg: Project(1),
            },
            /* 2        */ Op::Mul(R(1), ProjectRecurrent(2)),
            /* 3        */ Op::Add(ProjectInput(2), R(2)),
            /* 4 n      */
            Op::Activate { slot: 2, arg: R(3) },
            /* 5        */ Op::Mul(R(0), State(0)),
            /* 6        */ Op::OneMinus(R(0)),
            /* 7        */ Op::Mul(R(6), R(4)),
            /* 8 h'     */ Op::Add(R(5), R(7)),
        ],
        next_state: &[R(8)],
    },
};

/// LSTM (Keras, PyTorch nn.LSTM): i, f, o = s(x W + h U + b), g = tanh(...),
/// c' = f * c + i * g, h' = o * tanh(c').
static LSTM: Cell = Cell {
    kind: CellKind::Lstm,
    gates: &["i", "f", "c", "o"],
    slots: &[
        Slot {
            name: "i",
            function: Sigmoid,
        },
        Slot {
            name: "f",
            function: Sigmoid,
        },
        Slot {
            name: "g",
            function: Tanh,
        },
        Slot {
            name: "o",
            function: Sigmoid,
        },
        Slot {
            name: "c",
            function: Tanh,
        },
    ],
    state: &["h", "c"],
    recurrent_bias: false,
    program: StepProgram {
        ops: &[
            /* 0 i      */
            Op::Activate {
                slot: 0,
                arg: Project(0),
            },
            /* 1 f      */
            Op::Activate {
                slot: 1,
                arg: Project(1),
            },
            /* 2 g      */
            Op::Activate {
                slot: 2,
                arg: Project(2),
            },
            /* 3 o      */
            Op::Activate {
                slot: 3,
                arg: Project(3),
            },
            /* 4        */ Op::Mul(R(1), State(1)),
            /* 5        */ Op::Mul(R(0), R(2)),
            /* 6 c'     */ Op::Add(R(4), R(5)),
            /* 7 tanh c */
            Op::Activate { slot: 4, arg: R(6) },
            /* 8 h'     */ Op::Mul(R(3), R(7)),
        ],
        next_state: &[R(8), R(6)],
    },
};

/// How a step reads gate `g`'s projections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GateUse {
    /// Only as [`Value::Project`] (input and recurrent parts summed).
    Whole,
    /// Only as [`Value::ProjectInput`] and [`Value::ProjectRecurrent`] (kept apart).
    Split,
}

impl Cell {
    /// Number of gate blocks G (kernels have G * H columns).
    pub fn gate_count(&self) -> usize {
        self.gates.len()
    }

    /// Index of the slot named `name`.
    pub fn slot_index(&self, name: &str) -> Option<usize> {
        self.slots.iter().position(|s| s.name == name)
    }

    /// The slot names, comma-separated (for messages).
    pub fn slot_names(&self) -> String {
        let names: Vec<&str> = self.slots.iter().map(|s| s.name).collect();
        names.join(", ")
    }

    /// How the program reads each gate.
    pub fn gate_uses(&self) -> Vec<GateUse> {
        (0..self.gates.len())
            .map(|g| {
                let split = self.program.ops.iter().any(|op| {
                    op_args(op)
                        .iter()
                        .any(|v| matches!(v, ProjectInput(x) | ProjectRecurrent(x) if *x == g))
                });
                if split {
                    GateUse::Split
                } else {
                    GateUse::Whole
                }
            })
            .collect()
    }

    /// The operation that activates each slot (its index in the program).
    pub fn slot_ops(&self) -> Vec<usize> {
        let mut at = vec![usize::MAX; self.slots.len()];
        for (k, op) in self.program.ops.iter().enumerate() {
            if let Op::Activate { slot, .. } = op {
                at[*slot] = k;
            }
        }
        at
    }
}

/// The values an operation reads.
pub fn op_args(op: &Op) -> Vec<Value> {
    match *op {
        Op::Add(a, b) | Op::Mul(a, b) => vec![a, b],
        Op::OneMinus(a) => vec![a],
        Op::Activate { arg, .. } => vec![arg],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every program is well formed: operations read only earlier results, existing gates,
    /// slots and state; each slot is activated exactly once; each gate is read either whole
    /// or split, never both; every operation's result is used.
    #[test]
    fn programs_are_well_formed() {
        for kind in CellKind::ALL {
            let cell = kind.cell();
            assert_eq!(cell.kind, kind);
            let p = &cell.program;
            let check = |v: &Value, k: usize| match *v {
                State(i) => assert!(i < cell.state.len(), "{kind}: state {i}"),
                Project(g) | ProjectInput(g) | ProjectRecurrent(g) => {
                    assert!(g < cell.gate_count(), "{kind}: gate {g}")
                }
                R(j) => assert!(j < k, "{kind}: op {k} reads op {j}"),
            };
            let mut used = vec![false; p.ops.len()];
            for (k, op) in p.ops.iter().enumerate() {
                for v in op_args(op) {
                    check(&v, k);
                    if let R(j) = v {
                        used[j] = true;
                    }
                }
            }
            for v in p.next_state {
                check(v, p.ops.len());
                if let R(j) = v {
                    used[*j] = true;
                }
            }
            assert!(used.iter().all(|u| *u), "{kind}: an unused result");
            assert_eq!(p.next_state.len(), cell.state.len());
            let at = cell.slot_ops();
            assert!(
                at.iter().all(|&k| k < p.ops.len()),
                "{kind}: a slot never used"
            );
            let activations = p
                .ops
                .iter()
                .filter(|op| matches!(op, Op::Activate { .. }))
                .count();
            assert_eq!(activations, cell.slots.len());
            for (g, usage) in cell.gate_uses().into_iter().enumerate() {
                let whole = p.ops.iter().any(|op| op_args(op).contains(&Project(g)));
                assert_eq!(whole, usage == GateUse::Whole, "{kind}: gate {g}");
            }
            assert_eq!(
                cell.recurrent_bias,
                cell.gate_uses().contains(&GateUse::Split)
            );
            assert_eq!(CellKind::from_gate_count(cell.gate_count()), Some(kind));
            assert_eq!(kind.name().parse::<CellKind>(), Ok(kind));
        }
    }
}
