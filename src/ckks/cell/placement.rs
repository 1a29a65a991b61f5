//! Optimal bootstrap placement for any cell, over the extended state of its carried values.
//!
//! A step starts from the levels of its carried states (h, or h and c) and may refresh any
//! of them on entry and any operation's result right after it is computed
//! ([`StepRefresh`]). What it leaves for the next step is again the levels of the carried
//! states, so the placement is a shortest path over (step, levels of the carried states):
//! [`Planner::options`] lists, for one step and one entry state, the cheapest refresh
//! reaching each exit state (every refresh set is tried: at most 2^11 for an LSTM), and
//! [`Planner::optimal`] chains the steps by dynamic programming and ends with the output
//! layer (refreshing h first if that is cheaper or needed). A refresh costs a bootstrap at the
//! level it starts from; every other operation costs its price at the level it runs at
//! ([`step_ops`], the operations the circuit runs, tested equal to what it records).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use super::inference::Refreshes;
use super::levels::{StepLevels, StepRefresh, step_levels};
use super::pairing::{self, Refreshed};
use super::step::{poly_op_name, shift_absorber};
use crate::ckks::plan::ProfileOp;
use crate::ckks::poly::{Chebyshev, InputMap};
use crate::recurrence::{Cell, Op, Value};

/// What the placement needs to know of one step's polynomials.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StepShape {
    /// Degree per slot.
    pub degrees: Vec<usize>,
    /// Levels per slot's polynomial.
    pub depths: Vec<usize>,
    /// Profile operation per slot's polynomial ([`poly_op_name`]).
    pub poly_ops: Vec<String>,
    /// Per slot: true if its map's shift is added to the argument (`add_const`).
    pub shifted: Vec<bool>,
}

impl StepShape {
    /// The shape of one step with `polys` (one per slot, as fitted).
    pub fn new(cell: &Cell, polys: &[Chebyshev]) -> Self {
        StepShape {
            degrees: polys.iter().map(Chebyshev::degree).collect(),
            depths: polys.iter().map(|p| p.depth(InputMap::Folded)).collect(),
            poly_ops: polys.iter().map(poly_op_name).collect(),
            shifted: polys
                .iter()
                .enumerate()
                .map(|(s, p)| p.affine().1 != 0.0 && shift_absorber(cell, s).is_none())
                .collect(),
        }
    }
}

/// Adds `count` of `op` at `level` to `ops` (merged with an entry already there).
pub(super) fn push(ops: &mut Vec<ProfileOp>, op: String, level: usize, count: usize) {
    if count == 0 {
        return;
    }
    match ops.iter_mut().find(|o| o.op == op && o.level == level) {
        Some(o) => o.count += count,
        None => ops.push(ProfileOp { op, level, count }),
    }
}

/// The operations of a packed pair's refresh ([`pairing`]) whose lower member is at `level`:
/// one bootstrap, the packing at level 0 (both dropped there, as the bootstrap would) and
/// the unpacking at `top`.
pub fn push_pair(ops: &mut Vec<ProfileOp>, level: usize, top: usize) {
    push(ops, "bootstrap".into(), level, 1);
    push(ops, "pair_pack".into(), 0, 1);
    push(ops, "pair_unpack".into(), top, 1);
}

/// The profile operations of one step whose states entered at `entry` and whose levels are
/// `levels` (with `refresh`; paired as [`pairing::pairs`] says, `top` levels after a
/// refresh), `blocks` the layout's unit blocks: what [`super::CellCircuit::step`] records.
pub fn step_ops(
    cell: &'static Cell,
    shape: &StepShape,
    entry: &[usize],
    levels: &StepLevels,
    refresh: StepRefresh,
    (blocks, top): (usize, usize),
) -> Vec<ProfileOp> {
    let mut ops = Vec::new();
    let pairs = pairing::pairs(cell, refresh);
    let paired = |v: Refreshed| pairing::partner(&pairs, v).is_some();
    for (i, &l) in entry.iter().enumerate() {
        if refresh.state(i) && !paired(Refreshed::State(i)) {
            push(&mut ops, "bootstrap".into(), l, 1);
        }
    }
    for &(a, b) in &pairs {
        let at = |v: Refreshed| match v {
            Refreshed::State(i) => entry[i],
            Refreshed::Op(k) => levels.ops_computed[k],
        };
        push_pair(&mut ops, at(a).min(at(b)), top);
    }
    let input = levels.input;
    push(&mut ops, format!("hoist_{blocks}"), input, 2);
    for usage in cell.gate_uses() {
        match usage {
            crate::recurrence::GateUse::Whole => {
                push(&mut ops, format!("bsgs_{blocks}x2"), input, 1)
            }
            crate::recurrence::GateUse::Split => {
                push(&mut ops, format!("bsgs_{blocks}x1"), input, 2)
            }
        }
    }
    let at = |v: Value| levels.of(v);
    for (k, op) in cell.program.ops.iter().enumerate() {
        match *op {
            Op::Add(a, b) => push(&mut ops, "add".into(), at(a).min(at(b)), 1),
            Op::OneMinus(a) => {
                push(&mut ops, "negate".into(), at(a), 1);
                push(&mut ops, "add_const".into(), at(a), 1);
            }
            Op::Mul(a, b) => push(&mut ops, "mul_relin_rescale".into(), at(a).min(at(b)), 1),
            Op::Activate { slot, arg } => {
                if shape.shifted[slot] {
                    push(&mut ops, "add_const".into(), at(arg), 1);
                }
                push(&mut ops, shape.poly_ops[slot].clone(), at(arg), 1);
            }
        }
        if refresh.op(k) && !paired(Refreshed::Op(k)) {
            push(&mut ops, "bootstrap".into(), levels.ops_computed[k], 1);
        }
    }
    ops
}

/// The profile operations of the output layer on h at `level`.
pub fn output_ops(level: usize, blocks: usize) -> Vec<ProfileOp> {
    vec![
        ProfileOp {
            op: format!("hoist_{blocks}"),
            level,
            count: 1,
        },
        ProfileOp {
            op: format!("bsgs_{blocks}x1"),
            level,
            count: 1,
        },
    ]
}

/// The price of a profile operation at a level (an error names what is missing).
pub type Price = dyn Fn(&str, usize) -> Result<f64, String> + Send + Sync;

/// One way through a step.
#[derive(Clone, Debug, PartialEq)]
pub struct StepOption {
    /// What it refreshes.
    pub refresh: StepRefresh,
    /// The carried states' levels leaving the step.
    pub exit: Vec<usize>,
    /// Its price, bootstraps included.
    pub cost: f64,
}

/// Each step shape's options per entry state.
type Memo = HashMap<(StepShape, Vec<usize>), Arc<Vec<StepOption>>>;

/// One step of the dynamic programme: state -> (cost so far, previous state, option index).
type Layer = BTreeMap<Vec<usize>, (f64, Vec<usize>, usize)>;

/// Prices and places refreshes for one cell and parameter shape, remembering each step
/// shape's options per entry state.
pub struct Planner {
    cell: &'static Cell,
    top: usize,
    blocks: usize,
    price: Box<Price>,
    memo: Mutex<Memo>,
}

/// An optimal placement and its price.
#[derive(Clone, Debug, PartialEq)]
pub struct Placed {
    /// Where to refresh.
    pub refreshes: Refreshes,
    /// Each step's entry state, then the hidden state's level before the output layer.
    pub entries: Vec<Vec<usize>>,
    /// Each step's price, then the output layer's (its refresh included).
    pub costs: Vec<f64>,
    /// The total (the sum of `costs`, in that order).
    pub total: f64,
}

impl Planner {
    /// A planner for `cell` with `top` levels after a refresh, `blocks` unit blocks and
    /// `price` per profile operation.
    pub fn new(cell: &'static Cell, top: usize, blocks: usize, price: Box<Price>) -> Self {
        Planner {
            cell,
            top,
            blocks,
            price,
            memo: Mutex::new(HashMap::new()),
        }
    }

    /// The cell.
    pub fn cell(&self) -> &'static Cell {
        self.cell
    }

    /// Levels after a refresh.
    pub fn top(&self) -> usize {
        self.top
    }

    fn cost(&self, ops: &[ProfileOp]) -> Result<f64, String> {
        let mut total = 0.0;
        for o in ops {
            total += (self.price)(&o.op, o.level)? * o.count as f64;
        }
        Ok(total)
    }

    /// For step `step` of `shape` entered at `entry`: the cheapest refresh reaching each exit
    /// state (ties: fewer bootstraps, then the lower masks), sorted by exit state. An error
    /// names the step and slot that cannot fit even with every value refreshed.
    pub fn options(
        &self,
        step: usize,
        shape: &StepShape,
        entry: &[usize],
    ) -> Result<Arc<Vec<StepOption>>, String> {
        let key = (shape.clone(), entry.to_vec());
        if let Some(o) = self.lock().get(&key) {
            return Ok(o.clone());
        }
        let (states, ops) = (self.cell.state.len(), self.cell.program.ops.len());
        let mut best: BTreeMap<Vec<usize>, (f64, usize, StepRefresh)> = BTreeMap::new();
        let mut last_error = None;
        for mask in 0..1u64 << (states + ops) {
            let refresh = StepRefresh {
                states: (mask & ((1 << states) - 1)) as u8,
                ops: (mask >> states) as u32,
            };
            let levels = match step_levels(
                self.cell,
                step,
                &shape.degrees,
                &shape.depths,
                entry,
                refresh,
                self.top,
            ) {
                Ok(l) => l,
                Err(e) => {
                    last_error = Some(e);
                    continue;
                }
            };
            let cost = self.cost(&step_ops(
                self.cell,
                shape,
                entry,
                &levels,
                refresh,
                (self.blocks, self.top),
            ))?;
            let rank = (cost, pairing::bootstraps(self.cell, refresh), refresh);
            match best.get(&levels.next_state) {
                Some(b) if (b.0, b.1, b.2) <= rank => {}
                _ => {
                    best.insert(levels.next_state, rank);
                }
            }
        }
        if best.is_empty() {
            return Err(last_error.map_or_else(
                || format!("step {step} cannot run"),
                |e| format!("{e} (even with every value refreshed)"),
            ));
        }
        let options = Arc::new(
            best.into_iter()
                .map(|(exit, (cost, _, refresh))| StepOption {
                    refresh,
                    exit,
                    cost,
                })
                .collect::<Vec<_>>(),
        );
        self.lock().insert(key, options.clone());
        Ok(options)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Memo> {
        self.memo
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The state before step 0 (zero states at the top level).
    pub fn start(&self) -> Vec<usize> {
        vec![self.top; self.cell.state.len()]
    }

    /// The cheapest end from the hidden state at `h`: the output layer there, or a refresh and
    /// the output layer at the top. Returns (price, refresh?); `None` if neither runs.
    pub fn finish(&self, h: usize) -> Result<Option<(f64, bool)>, String> {
        let refreshed =
            (self.price)("bootstrap", h)? + self.cost(&output_ops(self.top, self.blocks))?;
        if h == 0 {
            return Ok(Some((refreshed, true)));
        }
        let direct = self.cost(&output_ops(h, self.blocks))?;
        Ok(Some(if refreshed < direct {
            (refreshed, true)
        } else {
            (direct, false)
        }))
    }

    /// The cheapest placement for a whole inference of `shapes` (one per step).
    pub fn optimal(&self, shapes: &[StepShape]) -> Result<Placed, String> {
        if shapes.is_empty() {
            return Err("an inference needs at least one step".into());
        }
        let mut layers: Vec<Layer> = Vec::new();
        let mut frontier: BTreeMap<Vec<usize>, f64> = BTreeMap::from([(self.start(), 0.0)]);
        for (t, shape) in shapes.iter().enumerate() {
            let mut next = Layer::new();
            for (entry, &cost) in &frontier {
                for (i, o) in self.options(t, shape, entry)?.iter().enumerate() {
                    let c = cost + o.cost;
                    match next.get(&o.exit) {
                        Some(b) if b.0 <= c => {}
                        _ => {
                            next.insert(o.exit.clone(), (c, entry.clone(), i));
                        }
                    }
                }
            }
            frontier = next.iter().map(|(k, v)| (k.clone(), v.0)).collect();
            layers.push(next);
        }
        let mut end: Option<(f64, Vec<usize>, f64, bool)> = None;
        for (state, &cost) in &frontier {
            if let Some((price, refresh)) = self.finish(state[0])? {
                let total = cost + price;
                if end.as_ref().is_none_or(|e| total < e.0) {
                    end = Some((total, state.clone(), price, refresh));
                }
            }
        }
        // Invariant: `options` never returns an empty list and `finish` always ends.
        let (total, mut state, out_price, out_refresh) = end.expect("an end state");
        let h_out = state[0];
        let mut steps = vec![StepRefresh::NONE; shapes.len()];
        let mut entries = vec![Vec::new(); shapes.len()];
        let mut costs = vec![0.0; shapes.len()];
        for t in (0..shapes.len()).rev() {
            let (_, prev, i) = layers[t][&state].clone();
            let o = &self.options(t, &shapes[t], &prev)?[i];
            steps[t] = o.refresh;
            costs[t] = o.cost;
            entries[t] = prev.clone();
            state = prev;
        }
        entries.push(vec![h_out]);
        costs.push(out_price);
        // The same additions in the same order as the walk, so the same float.
        let total_again = {
            let mut c = 0.0;
            for x in &costs[..shapes.len()] {
                c += x;
            }
            c + out_price
        };
        debug_assert_eq!(total, total_again);
        Ok(Placed {
            refreshes: Refreshes {
                steps,
                output: out_refresh,
            },
            entries,
            costs,
            total,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recurrence::CellKind;

    fn planner(kind: CellKind, top: usize) -> Planner {
        // Prices that make levels matter: a product costs more at higher levels, a bootstrap
        // costs a lot.
        Planner::new(
            kind.cell(),
            top,
            8,
            Box::new(|op: &str, level: usize| {
                let l = level as f64 + 1.0;
                Ok(match op {
                    "bootstrap" => 40.0,
                    "pair_pack" | "pair_unpack" => 0.5,
                    o if o.starts_with("poly") => 3.0 * l,
                    "mul_relin_rescale" => l,
                    o if o.starts_with("bsgs") || o.starts_with("hoist") => 2.0 * l,
                    _ => 0.1 * l,
                })
            }),
        )
    }

    fn shape(cell: &Cell, degrees: &[usize]) -> StepShape {
        let polys: Vec<Chebyshev> = cell
            .slots
            .iter()
            .zip(degrees)
            .map(|(s, &d)| {
                let f = s.function;
                Chebyshev::interpolate(move |x| f.eval(x), d, (-8.0, 8.0)).unwrap()
            })
            .collect();
        StepShape::new(cell, &polys)
    }

    /// Every combination of refreshes of a short chain, priced step by step.
    fn brute_force(p: &Planner, shapes: &[StepShape]) -> f64 {
        let cell = p.cell;
        let masks = 1u64 << (cell.state.len() + cell.program.ops.len());
        let mut best = f64::INFINITY;
        let mut stack: Vec<(usize, Vec<usize>, f64)> = vec![(0, p.start(), 0.0)];
        while let Some((t, entry, cost)) = stack.pop() {
            if t == shapes.len() {
                if let Some((price, _)) = p.finish(entry[0]).unwrap() {
                    best = best.min(cost + price);
                }
                continue;
            }
            for mask in 0..masks {
                let r = StepRefresh {
                    states: (mask & ((1 << cell.state.len()) - 1)) as u8,
                    ops: (mask >> cell.state.len()) as u32,
                };
                let s = &shapes[t];
                if let Ok(l) = step_levels(cell, t, &s.degrees, &s.depths, &entry, r, p.top) {
                    let c = p
                        .cost(&step_ops(cell, s, &entry, &l, r, (p.blocks, p.top)))
                        .unwrap();
                    stack.push((t + 1, l.next_state, cost + c));
                }
            }
        }
        best
    }

    #[test]
    fn the_dynamic_programme_equals_brute_force_on_short_chains() {
        for kind in [CellKind::Gru, CellKind::Lstm] {
            let cell = kind.cell();
            let n = cell.slots.len();
            for (top, degrees) in [
                (9, vec![vec![3; n], vec![17; n]]),
                (7, vec![vec![7; n], vec![3; n]]),
                (
                    12,
                    vec![(0..n).map(|s| [3, 7, 17][s % 3]).collect(), vec![17; n]],
                ),
            ] {
                let p = planner(kind, top);
                let shapes: Vec<StepShape> = degrees.iter().map(|d| shape(cell, d)).collect();
                let placed = p.optimal(&shapes).unwrap();
                let brute = brute_force(&p, &shapes);
                assert!(
                    (placed.total - brute).abs() < 1e-9,
                    "{kind} top {top}: dp {} brute force {brute}",
                    placed.total
                );
                assert_eq!(placed.costs.iter().sum::<f64>(), placed.total);
            }
        }
    }

    #[test]
    fn a_polynomial_deeper_than_the_levels_is_named() {
        let p = planner(CellKind::Gru, 4);
        let s = shape(CellKind::Gru.cell(), &[17, 3, 3]);
        let e = p.optimal(&[s]).unwrap_err();
        assert!(
            e.contains("step 0, slot z: the degree-17 polynomial needs 5 levels"),
            "{e}"
        );
    }
}
