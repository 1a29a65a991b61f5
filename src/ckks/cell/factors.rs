//! Folding every affine map of a step into weights and coefficients, so that no map costs a
//! level.
//!
//! A polynomial evaluates p on t = alpha x + beta (its interval mapped onto [-1, 1]), and
//! multiplying a ciphertext by a constant costs a level. So each value v of a step is carried
//! as a ciphertext holding `f_v * v` for a **factor** f_v chosen such that every argument of
//! an activation already holds `alpha x` (the `beta` is a free constant addition): a
//! projection's factor is folded into its weights, a polynomial's output factor into its
//! coefficients; a sum needs equal factors on both sides, a product multiplies them, `1 - a`
//! keeps a's factor (it is computed as f - f a). In logarithms these are linear equations in
//! the free factors; [`solve`] finds a solution by Gaussian elimination (free variables left at
//! factor 1). The hidden state h keeps factor 1 (the output layer and the recurrent products
//! read it); other carried states (the LSTM's c) carry whatever factor the step leaves them
//! with, and the next step starts from it.

use crate::recurrence::{Cell, Op, Value};

/// The factor of every value of one step (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct StepFactors {
    /// Of each operation's result, in program order.
    pub ops: Vec<f64>,
    /// Of each gate's whole projection x W + h U + b (gates read whole; else 1).
    pub project: Vec<f64>,
    /// Of each gate's input half x W + b (gates read split; else 1).
    pub project_input: Vec<f64>,
    /// Of each gate's recurrent half h U + b' (gates read split; else 1).
    pub project_recurrent: Vec<f64>,
    /// Of each carried state entering the step.
    pub state_in: Vec<f64>,
    /// Of each carried state leaving the step.
    pub state_out: Vec<f64>,
}

impl StepFactors {
    /// The factor of `v`.
    pub fn of(&self, v: Value) -> f64 {
        match v {
            Value::State(i) => self.state_in[i],
            Value::Project(g) => self.project[g],
            Value::ProjectInput(g) => self.project_input[g],
            Value::ProjectRecurrent(g) => self.project_recurrent[g],
            Value::Op(k) => self.ops[k],
        }
    }
}

/// A log-linear expression: constant + sum of coefficient x variable.
#[derive(Clone, Debug)]
struct Expr {
    constant: f64,
    coeffs: Vec<f64>,
}

impl Expr {
    fn constant(c: f64, vars: usize) -> Self {
        Expr {
            constant: c,
            coeffs: vec![0.0; vars],
        }
    }

    fn var(j: usize, vars: usize) -> Self {
        let mut e = Self::constant(0.0, vars);
        e.coeffs[j] = 1.0;
        e
    }

    fn plus(&self, o: &Expr) -> Expr {
        Expr {
            constant: self.constant + o.constant,
            coeffs: self
                .coeffs
                .iter()
                .zip(&o.coeffs)
                .map(|(a, b)| a + b)
                .collect(),
        }
    }

    fn minus(&self, o: &Expr) -> Expr {
        Expr {
            constant: self.constant - o.constant,
            coeffs: self
                .coeffs
                .iter()
                .zip(&o.coeffs)
                .map(|(a, b)| a - b)
                .collect(),
        }
    }

    fn value(&self, x: &[f64]) -> f64 {
        self.constant + self.coeffs.iter().zip(x).map(|(c, v)| c * v).sum::<f64>()
    }
}

/// Factors of one step of `cell` whose activation slots map their arguments with slopes
/// `alphas` (one per slot); `state_in[i]` is the factor state i enters with, or `None` when
/// that state is zero (step 0), which leaves its factor free. State 0 (h) must enter with
/// factor 1 and leaves with factor 1.
pub fn solve(cell: &Cell, alphas: &[f64], state_in: &[Option<f64>]) -> Result<StepFactors, String> {
    let p = &cell.program;
    if alphas.len() != cell.slots.len() || state_in.len() != cell.state.len() {
        return Err(format!(
            "{} slots and {} states expected, got {} maps and {} states",
            cell.slots.len(),
            cell.state.len(),
            alphas.len(),
            state_in.len()
        ));
    }
    if let Some(Some(f)) = state_in.first()
        && (f - 1.0).abs() > 1e-12
    {
        return Err(format!(
            "the hidden state must enter with factor 1, not {f}"
        ));
    }
    if alphas.iter().any(|a| !(a.is_finite() && *a > 0.0)) {
        return Err("every activation's map must have a finite positive slope".into());
    }
    // Variables: each activation's output, each projection, each zero state but h.
    let g = cell.gate_count();
    let mut vars = 0;
    let mut fresh = || {
        vars += 1;
        vars - 1
    };
    let out_var: Vec<usize> = p.ops.iter().map(|_| fresh()).collect();
    let proj_var: Vec<[usize; 3]> = (0..g).map(|_| [fresh(), fresh(), fresh()]).collect();
    let state_var: Vec<Option<usize>> = state_in
        .iter()
        .enumerate()
        .map(|(i, f)| (f.is_none() && i > 0).then(&mut fresh))
        .collect();
    let n = vars;
    let state_expr = |i: usize| match (state_in[i], state_var[i]) {
        (Some(f), _) => Expr::constant(f.ln(), n),
        (None, Some(j)) => Expr::var(j, n),
        (None, None) => Expr::constant(0.0, n),
    };
    let mut exprs: Vec<Expr> = Vec::with_capacity(p.ops.len());
    let value = |v: Value, exprs: &[Expr]| -> Expr {
        match v {
            Value::State(i) => state_expr(i),
            Value::Project(g) => Expr::var(proj_var[g][0], n),
            Value::ProjectInput(g) => Expr::var(proj_var[g][1], n),
            Value::ProjectRecurrent(g) => Expr::var(proj_var[g][2], n),
            Value::Op(k) => exprs[k].clone(),
        }
    };
    // Equations, each `expr = 0`.
    let mut eqs: Vec<Expr> = Vec::new();
    for (k, op) in p.ops.iter().enumerate() {
        let e = match *op {
            Op::Add(a, b) => {
                let (ea, eb) = (value(a, &exprs), value(b, &exprs));
                eqs.push(ea.minus(&eb));
                ea
            }
            Op::Mul(a, b) => value(a, &exprs).plus(&value(b, &exprs)),
            Op::OneMinus(a) => value(a, &exprs),
            Op::Activate { slot, arg } => {
                let mut ea = value(arg, &exprs);
                ea.constant -= alphas[slot].ln();
                eqs.push(ea);
                Expr::var(out_var[k], n)
            }
        };
        exprs.push(e);
    }
    eqs.push(value(p.next_state[0], &exprs));
    let x = solve_linear(&eqs, n).ok_or_else(|| {
        format!(
            "the {} step's activation maps cannot be folded into its weights and coefficients",
            cell.kind
        )
    })?;
    let at = |v: Value| value(v, &exprs).value(&x).exp();
    let factors = StepFactors {
        ops: exprs.iter().map(|e| e.value(&x).exp()).collect(),
        project: (0..g).map(|g| at(Value::Project(g))).collect(),
        project_input: (0..g).map(|g| at(Value::ProjectInput(g))).collect(),
        project_recurrent: (0..g).map(|g| at(Value::ProjectRecurrent(g))).collect(),
        state_in: (0..cell.state.len()).map(|i| at(Value::State(i))).collect(),
        state_out: p.next_state.iter().map(|&v| at(v)).collect(),
    };
    Ok(factors)
}

/// A solution of `eqs` (each `expr = 0`) in `n` unknowns, free unknowns at 0; `None` if the
/// equations are inconsistent.
fn solve_linear(eqs: &[Expr], n: usize) -> Option<Vec<f64>> {
    // Rows [coeffs | -constant].
    let mut rows: Vec<Vec<f64>> = eqs
        .iter()
        .map(|e| {
            let mut r = e.coeffs.clone();
            r.push(-e.constant);
            r
        })
        .collect();
    let mut pivots: Vec<(usize, usize)> = Vec::new();
    let mut r = 0;
    for c in 0..n {
        let Some(best) =
            (r..rows.len()).max_by(|&a, &b| rows[a][c].abs().total_cmp(&rows[b][c].abs()))
        else {
            break;
        };
        if rows[best][c].abs() < 1e-12 {
            continue;
        }
        rows.swap(r, best);
        let piv = rows[r][c];
        for v in rows[r].iter_mut() {
            *v /= piv;
        }
        for i in 0..rows.len() {
            if i != r && rows[i][c] != 0.0 {
                let f = rows[i][c];
                let pivot_row = rows[r].clone();
                for (v, p) in rows[i].iter_mut().zip(&pivot_row) {
                    *v -= f * p;
                }
            }
        }
        pivots.push((r, c));
        r += 1;
    }
    if rows[r..].iter().any(|row| row[n].abs() > 1e-9) {
        return None;
    }
    let mut x = vec![0.0; n];
    for (r, c) in pivots {
        x[c] = rows[r][n];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recurrence::CellKind;

    /// Checks every constraint of the module docs on a solution.
    fn check(cell: &Cell, alphas: &[f64], f: &StepFactors) {
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(b.abs());
        for (k, op) in cell.program.ops.iter().enumerate() {
            match *op {
                Op::Add(a, b) => {
                    assert!(close(f.of(a), f.of(b)), "{}: op {k}", cell.kind);
                    assert!(close(f.ops[k], f.of(a)));
                }
                Op::Mul(a, b) => assert!(close(f.ops[k], f.of(a) * f.of(b))),
                Op::OneMinus(a) => assert!(close(f.ops[k], f.of(a))),
                Op::Activate { slot, arg } => {
                    assert!(close(f.of(arg), alphas[slot]), "{}: slot {slot}", cell.kind)
                }
            }
        }
        assert!(close(f.state_out[0], 1.0));
    }

    #[test]
    fn every_cell_folds_its_maps_for_any_slopes() {
        for kind in CellKind::ALL {
            let cell = kind.cell();
            let mut state: Vec<Option<f64>> = vec![Some(1.0)];
            state.extend((1..cell.state.len()).map(|_| None));
            for step in 0..4 {
                let alphas: Vec<f64> = (0..cell.slots.len())
                    .map(|s| 0.125 * (1.0 + 0.37 * (s + step) as f64))
                    .collect();
                let f = solve(cell, &alphas, &state).unwrap();
                check(cell, &alphas, &f);
                state = f.state_out.iter().map(|&v| Some(v)).collect();
            }
        }
    }

    #[test]
    fn the_lstm_cell_state_carries_the_slope_of_its_tanh() {
        let cell = CellKind::Lstm.cell();
        let c = cell.slot_index("c").unwrap();
        let mut alphas = vec![0.125; 5];
        alphas[c] = 0.25;
        let f = solve(cell, &alphas, &[Some(1.0), None]).unwrap();
        assert!((f.state_out[1] - 0.25).abs() < 1e-12);
    }

    #[test]
    fn inconsistent_inputs_are_refused() {
        let cell = CellKind::Gru.cell();
        assert!(solve(cell, &[1.0, 1.0, 1.0], &[Some(2.0)]).is_err());
        assert!(solve(cell, &[1.0, -1.0, 1.0], &[Some(1.0)]).is_err());
        assert!(solve(cell, &[1.0, 1.0], &[Some(1.0)]).is_err());
    }
}
