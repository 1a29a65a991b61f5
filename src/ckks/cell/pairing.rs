//! Packed pairs: two values a step refreshes share one bootstrap.
//!
//! A full-slot bootstrap refreshes a complex message at the cost of a real one, so two real
//! values `a` and `b` can be refreshed together as `a + i b` and taken apart afterwards with
//! one conjugation (`a = (y + conj y) / 2`, `b = i (conj y - y) / 2`, the halving folded into
//! the bootstrap). Two values can share a bootstrap only if both exist before it and neither
//! needs the other's refreshed version: carried states pair with carried states (on entry,
//! when both exist), and operations' results pair with operations' results that are
//! independent of them (neither reads the other, directly or through other values), provided
//! the pairs can still be run in some order (no pair waits on a pair that waits on it).
//!
//! [`pairs`] picks, for a refresh, a largest set of such pairs (ties: the first found in
//! order of the values' indices), so a refresh of `n` values runs `n - pairs` bootstraps.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use super::levels::StepRefresh;
use crate::recurrence::{Cell, Value, op_args};

/// A value a step refreshes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum Refreshed {
    /// Carried state `i`, on entry.
    State(usize),
    /// Operation `k`'s result, right after it is computed.
    Op(usize),
}

/// The pairs of values that share a bootstrap in `refresh` of a `cell` step (see the module
/// docs); every other refreshed value is bootstrapped alone. Remembered per cell and refresh.
pub fn pairs(cell: &'static Cell, refresh: StepRefresh) -> Vec<(Refreshed, Refreshed)> {
    type Memo = HashMap<(usize, StepRefresh), Vec<(Refreshed, Refreshed)>>;
    static MEMO: OnceLock<Mutex<Memo>> = OnceLock::new();
    let key = (cell as *const Cell as usize, refresh);
    let memo = MEMO.get_or_init(|| Mutex::new(HashMap::new()));
    let lock = || {
        memo.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    if let Some(p) = lock().get(&key) {
        return p.clone();
    }
    let found = search(cell, refresh);
    lock().insert(key, found.clone());
    found
}

/// The value paired with `v` in `pairs`, if any.
pub fn partner(pairs: &[(Refreshed, Refreshed)], v: Refreshed) -> Option<Refreshed> {
    pairs.iter().find_map(|&(a, b)| {
        if a == v {
            Some(b)
        } else if b == v {
            Some(a)
        } else {
            None
        }
    })
}

/// The values `refresh` refreshes: carried states, then operations, each in index order.
fn values(cell: &Cell, refresh: StepRefresh) -> impl Iterator<Item = Refreshed> {
    let states = (0..cell.state.len())
        .filter(move |&i| refresh.state(i))
        .map(Refreshed::State);
    let ops = (0..cell.program.ops.len())
        .filter(move |&k| refresh.op(k))
        .map(Refreshed::Op);
    states.chain(ops)
}

/// A refreshed value's name with the cell's words: a carried state by name (`h`, `c`), an
/// activation by slot (`slot o`), another operation by index (`op 6`).
fn name(cell: &Cell, v: Refreshed) -> String {
    match v {
        Refreshed::State(i) => cell.state[i].to_string(),
        Refreshed::Op(k) => match cell.slot_ops().iter().position(|&o| o == k) {
            Some(s) => format!("slot {}", cell.slots[s].name),
            None => format!("op {k}"),
        },
    }
}

/// The names of the values `refresh` refreshes, each packed pair as `a + b` first.
pub fn names(cell: &'static Cell, refresh: StepRefresh) -> Vec<String> {
    let pairs = pairs(cell, refresh);
    let mut out: Vec<String> = pairs
        .iter()
        .map(|&(a, b)| format!("{} + {}", name(cell, a), name(cell, b)))
        .collect();
    out.extend(
        values(cell, refresh)
            .filter(|&v| partner(&pairs, v).is_none())
            .map(|v| name(cell, v)),
    );
    out
}

/// Bootstraps `refresh` runs with its values paired.
pub fn bootstraps(cell: &'static Cell, refresh: StepRefresh) -> usize {
    refresh.count() - pairs(cell, refresh).len()
}

/// For each operation, the operations and states it reads, directly or not (bit `k` for
/// operation `k`, bit `ops + i` for state `i`; a projection reads the hidden state unless it
/// is the input's part alone).
fn reads(cell: &Cell) -> Vec<u64> {
    let ops = cell.program.ops.len();
    let mut out: Vec<u64> = Vec::with_capacity(ops);
    for op in cell.program.ops {
        let mut r = 0u64;
        for v in op_args(op) {
            r |= match v {
                Value::Op(j) => 1 << j | out[j],
                Value::State(i) => 1 << (ops + i),
                Value::Project(_) | Value::ProjectRecurrent(_) => 1 << ops,
                Value::ProjectInput(_) => 0,
            };
        }
        out.push(r);
    }
    out
}

fn search(cell: &Cell, refresh: StepRefresh) -> Vec<(Refreshed, Refreshed)> {
    let mut out: Vec<(Refreshed, Refreshed)> = Vec::new();
    let (mut states, mut ops) = (Vec::new(), Vec::new());
    for v in values(cell, refresh) {
        match v {
            Refreshed::State(i) => states.push(i),
            Refreshed::Op(k) => ops.push(k),
        }
    }
    // Carried states all exist on entry: pair them in order.
    for p in states.chunks_exact(2) {
        out.push((Refreshed::State(p[0]), Refreshed::State(p[1])));
    }
    let reads = reads(cell);
    let mut best = Vec::new();
    let mut current = Vec::new();
    let mut used = vec![false; ops.len()];
    matchings(&ops, &reads, 0, &mut used, &mut current, &mut best);
    out.extend(
        best.into_iter()
            .map(|(a, b)| (Refreshed::Op(a), Refreshed::Op(b))),
    );
    out
}

/// Depth-first over the matchings of `ops` (each either alone or paired with a later
/// independent one), keeping in `best` the first largest one that can run in some order.
fn matchings(
    ops: &[usize],
    reads: &[u64],
    from: usize,
    used: &mut [bool],
    current: &mut Vec<(usize, usize)>,
    best: &mut Vec<(usize, usize)>,
) {
    if best.len() == ops.len() / 2 {
        return;
    }
    let Some(i) = (from..ops.len()).find(|&i| !used[i]) else {
        if current.len() > best.len() && runnable(current, reads) {
            *best = current.clone();
        }
        return;
    };
    // An upper bound: every free value paired.
    let free = used.iter().filter(|u| !**u).count();
    if current.len() + free / 2 <= best.len() {
        return;
    }
    used[i] = true;
    for j in i + 1..ops.len() {
        let (a, b) = (ops[i], ops[j]);
        if used[j] || reads[a] >> b & 1 == 1 || reads[b] >> a & 1 == 1 {
            continue;
        }
        used[j] = true;
        current.push((a, b));
        matchings(ops, reads, i + 1, used, current, best);
        current.pop();
        used[j] = false;
    }
    matchings(ops, reads, i + 1, used, current, best);
    used[i] = false;
}

/// True if the pairs can run in some order: no pair reads (through other values) a member of
/// a pair that reads a member of it.
fn runnable(pairs: &[(usize, usize)], reads: &[u64]) -> bool {
    let n = pairs.len();
    let members = |p: (usize, usize)| (1u64 << p.0) | (1u64 << p.1);
    // after[x] has bit y if pair x needs pair y's refreshed values.
    let after: Vec<u64> = pairs
        .iter()
        .map(|&(a, b)| {
            let r = reads[a] | reads[b];
            (0..n)
                .filter(|&y| r & members(pairs[y]) != 0)
                .fold(0u64, |m, y| m | 1 << y)
        })
        .collect();
    // Kahn's algorithm on the pairs.
    let mut done = 0u64;
    for _ in 0..n {
        match (0..n).find(|&x| done >> x & 1 == 0 && after[x] & !done & !(1 << x) == 0) {
            Some(x) => done |= 1 << x,
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recurrence::CellKind;

    fn refresh(states: u8, ops: &[usize]) -> StepRefresh {
        StepRefresh {
            states,
            ops: ops.iter().fold(0, |m, k| m | 1 << k),
        }
    }

    #[test]
    fn independent_values_pair_and_dependent_ones_do_not() {
        let gru = CellKind::Gru.cell();
        // z (op 0) and n (op 4): n reads r, never z.
        assert_eq!(
            pairs(gru, refresh(0, &[0, 4])),
            vec![(Refreshed::Op(0), Refreshed::Op(4))]
        );
        // r * (h U) (op 2) and h' (op 8): h' reads op 2 through n.
        assert!(pairs(gru, refresh(0, &[2, 8])).is_empty());
        assert_eq!(bootstraps(gru, refresh(1, &[0, 4])), 2);
        let lstm = CellKind::Lstm.cell();
        // h and c on entry share one bootstrap.
        assert_eq!(
            pairs(lstm, refresh(0b11, &[])),
            vec![(Refreshed::State(0), Refreshed::State(1))]
        );
        // o (op 3) and tanh(c') (op 7) are independent; i, f, g (ops 0-2) too.
        assert_eq!(bootstraps(lstm, refresh(0, &[3, 7])), 1);
        assert_eq!(bootstraps(lstm, refresh(0, &[0, 1, 2, 3])), 2);
    }

    #[test]
    fn every_pair_is_independent_and_the_pairing_is_largest() {
        for kind in [CellKind::Gru, CellKind::Lstm] {
            let cell = kind.cell();
            let reads = reads(cell);
            let ops = cell.program.ops.len();
            for mask in 0..1u32 << ops {
                let r = StepRefresh {
                    states: 0,
                    ops: mask,
                };
                let p = pairs(cell, r);
                for &(a, b) in &p {
                    let (Refreshed::Op(a), Refreshed::Op(b)) = (a, b) else {
                        panic!("states paired with operations")
                    };
                    assert!(reads[a] >> b & 1 == 0 && reads[b] >> a & 1 == 0);
                }
                // No single extra pair of unpaired independent values fits, order allowing.
                let unpaired: Vec<usize> = (0..ops)
                    .filter(|&k| mask >> k & 1 == 1)
                    .filter(|&k| {
                        !p.iter()
                            .any(|&(a, b)| a == Refreshed::Op(k) || b == Refreshed::Op(k))
                    })
                    .collect();
                let plain: Vec<(usize, usize)> = p
                    .iter()
                    .map(|&(a, b)| match (a, b) {
                        (Refreshed::Op(a), Refreshed::Op(b)) => (a, b),
                        _ => unreachable!(),
                    })
                    .collect();
                assert!(runnable(&plain, &reads));
                for (x, &a) in unpaired.iter().enumerate() {
                    for &b in &unpaired[x + 1..] {
                        if reads[a] >> b & 1 == 0 && reads[b] >> a & 1 == 0 {
                            let mut more = plain.clone();
                            more.push((a, b));
                            assert!(!runnable(&more, &reads), "{kind} {mask:b}: ({a}, {b})");
                        }
                    }
                }
            }
        }
    }
}
