//! Polynomial evaluation in the Chebyshev basis at minimum depth, with exact scale management.
//!
//! A polynomial is given by its Chebyshev coefficients on an interval [a, b]:
//! p(x) = sum_i c_i T_i(t) with t = (2x - a - b) / (b - a). [`evaluate`] computes it on a
//! ciphertext in `ceil(log2(d + 1))` levels for degree d ([`poly_depth`]), plus one level for
//! the map x -> t unless that map is the identity, a pure shift, or folded into a preceding
//! plaintext product by the caller ([`InputMap::Folded`]; [`Chebyshev::affine`] gives the map
//! to fold).
//!
//! # Algorithm (baby-step giant-step, Paterson-Stockmeyer style)
//! The polynomial is split recursively, p = q * T_K + r with K the largest power of two <= deg p
//! (using T_j T_K = (T_{j+K} + T_{|j-K|}) / 2), until a piece has degree below the baby-step
//! bound 2^l and every Chebyshev power it uses is shallow enough: such a *leaf* is a plain
//! linear combination sum_i c_i T_i (scalar products only). The quotient of a split must be
//! ready one level above the split's output, so the deepest chain of quotients splits further
//! down than the rest: this is what keeps the depth minimal while most of the polynomial still
//! uses the cheap baby steps. `l` is chosen to minimise the ciphertext multiplications
//! ([`PolyPlan`]). Powers are generated on demand at minimum depth: T_2j = 2 T_j^2 - 1 and
//! T_{a+b} = 2 T_a T_b - T_{a-b} (a the largest power of two below the index).
//!
//! # Scales
//! Every ciphertext sum is formed at exactly equal scales: a node asked for output level λ and
//! scale S multiplies each T_i by its coefficient encoded at scale S * q_{λ+1} / scale(T_i),
//! so the terms share the scale S * q_{λ+1} and one rescale lands on (λ, S); a split asks its
//! quotient for scale S * q_{λ+1} / scale(T_K), and adds its remainder before the rescale
//! (both are at S * q_{λ+1}), so a split and its remainder share one rescale; likewise
//! T_{a+b} subtracts T_{a-b} from the product before its one rescale. The output scale is a
//! caller's choice (by default the input's scale), so a degree-17 evaluation ends at a scale
//! of the caller's choosing, with no drift.

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::evaluator::{EvalError, Evaluator};

/// Relative size under which a coefficient counts as zero (far below any CKKS precision). Odd
/// fits such as tanh on a symmetric interval then skip their even powers.
pub const ZERO_COEFF: f64 = 1e-12;

/// Levels a minimum-depth evaluation of a degree-`degree` polynomial consumes:
/// ceil(log2(degree + 1)) (0 for a constant).
pub fn poly_depth(degree: usize) -> usize {
    (usize::BITS - degree.leading_zeros()) as usize
}

/// A polynomial in the Chebyshev basis of an interval [a, b].
#[derive(Clone, Debug, PartialEq)]
pub struct Chebyshev {
    coeffs: Vec<f64>,
    interval: (f64, f64),
}

impl Chebyshev {
    /// Validates the coefficients c_0..c_d and the interval (a < b, all finite). Trailing
    /// coefficients below [`ZERO_COEFF`] times the largest are dropped, others that small are
    /// set to zero; a polynomial that is then constant is refused.
    pub fn new(coeffs: &[f64], interval: (f64, f64)) -> Result<Self, EvalError> {
        let (a, b) = interval;
        if !(a.is_finite() && b.is_finite() && a < b) {
            return Err(EvalError::InvalidInput(format!(
                "polynomial interval [{a}, {b}] must be finite with a < b"
            )));
        }
        if coeffs.iter().any(|c| !c.is_finite()) {
            return Err(EvalError::InvalidInput(
                "polynomial coefficients must be finite".into(),
            ));
        }
        let max = coeffs.iter().fold(0.0f64, |m, c| m.max(c.abs()));
        let mut coeffs: Vec<f64> = coeffs
            .iter()
            .map(|&c| if c.abs() <= ZERO_COEFF * max { 0.0 } else { c })
            .collect();
        while coeffs.len() > 1 && coeffs[coeffs.len() - 1] == 0.0 {
            coeffs.pop();
        }
        if coeffs.len() < 2 {
            return Err(EvalError::InvalidInput(
                "polynomial has degree 0 after dropping negligible coefficients: a constant cannot be evaluated as an activation".into(),
            ));
        }
        Ok(Chebyshev { coeffs, interval })
    }

    /// The Chebyshev interpolant of `f` at the `degree + 1` Chebyshev nodes of `interval` (a
    /// near-minimax fit; the project's least-squares fits come from `crate::approx` and have
    /// the same structure, e.g. odd for tanh on a symmetric interval).
    pub fn interpolate(
        f: impl Fn(f64) -> f64,
        degree: usize,
        interval: (f64, f64),
    ) -> Result<Self, EvalError> {
        let (a, b) = interval;
        let n = degree + 1;
        let fx: Vec<f64> = (0..n)
            .map(|j| {
                let t = (std::f64::consts::PI * (j as f64 + 0.5) / n as f64).cos();
                f(0.5 * (b - a) * t + 0.5 * (a + b))
            })
            .collect();
        let coeffs: Vec<f64> = (0..n)
            .map(|k| {
                let sum: f64 = fx
                    .iter()
                    .enumerate()
                    .map(|(j, y)| {
                        y * (std::f64::consts::PI * k as f64 * (j as f64 + 0.5) / n as f64).cos()
                    })
                    .sum();
                sum * if k == 0 { 1.0 } else { 2.0 } / n as f64
            })
            .collect();
        Self::new(&coeffs, interval)
    }

    /// Degree.
    pub fn degree(&self) -> usize {
        self.coeffs.len() - 1
    }

    /// Coefficients c_0..c_d.
    pub fn coeffs(&self) -> &[f64] {
        &self.coeffs
    }

    /// The interval [a, b].
    pub fn interval(&self) -> (f64, f64) {
        self.interval
    }

    /// The map x -> t = alpha * x + beta onto [-1, 1], as (alpha, beta).
    pub fn affine(&self) -> (f64, f64) {
        let (a, b) = self.interval;
        (2.0 / (b - a), -(a + b) / (b - a))
    }

    /// p(x) by Clenshaw's recurrence (the plaintext reference).
    pub fn eval(&self, x: f64) -> f64 {
        let (alpha, beta) = self.affine();
        self.eval_mapped(alpha * x + beta)
    }

    /// sum_i c_i T_i(t) for t already in [-1, 1] coordinates.
    pub fn eval_mapped(&self, t: f64) -> f64 {
        let (mut b1, mut b2) = (0.0, 0.0);
        for &c in self.coeffs[1..].iter().rev() {
            let b0 = 2.0 * t * b1 - b2 + c;
            b2 = b1;
            b1 = b0;
        }
        t * b1 - b2 + self.coeffs[0]
    }

    /// Levels [`evaluate`] consumes with this input map.
    pub fn depth(&self, input: InputMap) -> usize {
        poly_depth(self.degree()) + usize::from(self.map_level(input))
    }

    /// True if mapping the input onto [-1, 1] costs a level (a scaling is needed).
    fn map_level(&self, input: InputMap) -> bool {
        input == InputMap::Apply && self.affine().0 != 1.0
    }
}

/// What the input ciphertext holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum InputMap {
    /// x on the polynomial's interval: the evaluator maps it onto [-1, 1] (one level unless
    /// the map is a pure shift).
    #[default]
    Apply,
    /// t = alpha * x + beta already (see [`Chebyshev::affine`]), e.g. folded into the weights
    /// of the plaintext product that produced the input.
    Folded,
}

/// Options of [`evaluate`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PolyOptions {
    /// What the input holds.
    pub input: InputMap,
    /// Scale of the output (default: the input's scale).
    pub target_scale: Option<f64>,
    /// log2 of the baby-step bound (default: the one that minimises ciphertext
    /// multiplications, see [`PolyPlan::best`]).
    pub log_split: Option<usize>,
}

/// What an evaluation did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PolyReport {
    /// Degree evaluated.
    pub degree: usize,
    /// Level of the input.
    pub level_in: usize,
    /// Level of the output.
    pub level_out: usize,
    /// Levels consumed (`level_in - level_out`).
    pub levels: usize,
    /// log2 of the baby-step bound used.
    pub log_split: usize,
    /// Ciphertext-ciphertext multiplications.
    pub mul_relin: usize,
}

/// A node of the evaluation tree.
#[derive(Clone, Debug, PartialEq)]
enum Node {
    /// A constant (only as the quotient or remainder of a split).
    Const(f64),
    /// sum_i c_i T_i with c_0 added after the rescale.
    Leaf(Vec<f64>),
    /// q * T_giant + r.
    Split {
        giant: usize,
        q: Box<Node>,
        r: Box<Node>,
    },
}

/// Depth of the Chebyshev power T_i at minimum depth.
fn power_depth(i: usize) -> usize {
    // ceil(log2 i) = number of bits of i - 1.
    poly_depth(i.saturating_sub(1))
}

/// Index of the highest non-zero coefficient (0 if none).
fn degree_of(c: &[f64]) -> usize {
    c.iter().rposition(|&x| x != 0.0).unwrap_or(0)
}

/// Builds the tree of a polynomial that must be ready `budget` levels below the input.
fn build(c: &[f64], budget: usize, log_split: usize) -> Node {
    let deg = degree_of(c);
    if deg == 0 {
        return Node::Const(c.first().copied().unwrap_or(0.0));
    }
    let shallow = (1..=deg).all(|i| c[i] == 0.0 || power_depth(i) < budget);
    if deg < 1 << log_split && shallow {
        return Node::Leaf(c[..=deg].to_vec());
    }
    // Largest power of two <= deg; deg < 2K and, as deg <= 2^budget - 1, log2 K < budget.
    let k = 1usize << (usize::BITS - 1 - deg.leading_zeros());
    let mut q = vec![0.0; deg - k + 1];
    let mut r = c[..k].to_vec();
    q[0] = c[k];
    for j in k + 1..=deg {
        q[j - k] = 2.0 * c[j];
        r[2 * k - j] -= c[j];
    }
    Node::Split {
        giant: k,
        q: Box::new(build(&q, budget - 1, log_split)),
        r: Box::new(build(&r, budget, log_split)),
    }
}

/// The powers T_i (i >= 2) that generating `target` needs, added to `set`.
fn close_powers(target: usize, set: &mut BTreeMap<usize, ()>) {
    if target < 2 || set.contains_key(&target) {
        return;
    }
    set.insert(target, ());
    for dep in power_deps(target) {
        close_powers(dep, set);
    }
}

/// How T_i is generated: T_2j from T_j, T_{a+b} from T_a, T_b and T_{a-b}.
fn power_deps(i: usize) -> Vec<usize> {
    if i.is_multiple_of(2) {
        vec![i / 2]
    } else {
        let a = 1usize << (usize::BITS - 1 - (i - 1).leading_zeros());
        vec![a, i - a, 2 * a - i]
    }
}

/// The evaluation plan of a polynomial: its tree and the Chebyshev powers it needs.
#[derive(Clone, Debug, PartialEq)]
pub struct PolyPlan {
    root: Node,
    powers: Vec<usize>,
    splits_with_product: usize,
    log_split: usize,
    depth: usize,
}

impl PolyPlan {
    /// The plan with baby-step bound 2^`log_split` (clamped to 1..=depth).
    pub fn new(poly: &Chebyshev, log_split: usize) -> Self {
        let depth = poly_depth(poly.degree());
        let log_split = log_split.clamp(1, depth);
        let root = build(poly.coeffs(), depth, log_split);
        let mut set = BTreeMap::new();
        let mut splits_with_product = 0;
        let mut stack = vec![&root];
        while let Some(n) = stack.pop() {
            match n {
                Node::Const(_) => {}
                Node::Leaf(c) => {
                    for (i, &ci) in c.iter().enumerate().skip(2) {
                        if ci != 0.0 {
                            close_powers(i, &mut set);
                        }
                    }
                }
                Node::Split { giant, q, r } => {
                    close_powers(*giant, &mut set);
                    if !matches!(**q, Node::Const(_)) {
                        splits_with_product += 1;
                    }
                    stack.push(q);
                    stack.push(r);
                }
            }
        }
        PolyPlan {
            root,
            powers: set.into_keys().collect(),
            splits_with_product,
            log_split,
            depth,
        }
    }

    /// The plan with the fewest ciphertext multiplications (ties: the smaller baby-step bound).
    pub fn best(poly: &Chebyshev) -> Self {
        let depth = poly_depth(poly.degree());
        (1..=depth)
            .map(|l| Self::new(poly, l))
            .min_by_key(|p| p.mul_relin())
            // Invariant: depth >= 1 for a non-constant polynomial, so the range is non-empty.
            .expect("at least one split")
    }

    /// Ciphertext multiplications (power generation plus split products).
    pub fn mul_relin(&self) -> usize {
        self.powers.len() + self.splits_with_product
    }

    /// log2 of the baby-step bound.
    pub fn log_split(&self) -> usize {
        self.log_split
    }

    /// Levels the polynomial part consumes.
    pub fn depth(&self) -> usize {
        self.depth
    }
}

/// The Chebyshev powers of the input, generated on demand at minimum depth.
struct Powers<'e, E: Evaluator> {
    ev: &'e E,
    t: BTreeMap<usize, E::Ciphertext>,
}

impl<E: Evaluator> Powers<'_, E> {
    /// `T_i`, computed (with the powers it needs) on first use and kept.
    fn get(&mut self, i: usize) -> Result<&E::Ciphertext, E::Error> {
        if !self.t.contains_key(&i) {
            let out = self.make(i)?;
            self.t.insert(i, out);
        }
        Ok(&self.t[&i])
    }

    /// Computes `T_i` from the powers of its product rule: `2 T_a T_b - T_{a-b}`.
    fn make(&mut self, i: usize) -> Result<E::Ciphertext, E::Error> {
        let ev = self.ev;
        let deps = power_deps(i);
        let (a, b) = if deps.len() == 1 {
            (deps[0], deps[0])
        } else {
            (deps[0], deps[1])
        };
        for k in [a, b, a - b] {
            if k > 0 {
                self.get(k)?;
            }
        }
        let (ta, tb) = (&self.t[&a], &self.t[&b]);
        let level = ev.level(ta).min(ev.level(tb));
        let (ta, tb) = (drop_to(ev, ta, level)?, drop_to(ev, tb, level)?);
        let prod = ev.mul_relin(&ta, &tb)?;
        let twice = ev.add(&prod, &prod)?;
        if a == b {
            ev.add_const(&ev.rescale(&twice)?, -1.0)
        } else {
            // T_{a-b} brought to the product's level and scale by one exact-scale product,
            // and subtracted before the single rescale.
            let low = drop_to(ev, &self.t[&(a - b)], level)?;
            let low = ev.mul_const(&low, 1.0, ev.scale(&twice) / ev.scale(&low))?;
            ev.rescale(&ev.sub(&twice, &low)?)
        }
    }
}

/// `ct` at `level` (at or below its own): borrowed when it is there already.
fn drop_to<'c, E: Evaluator>(
    ev: &E,
    ct: &'c E::Ciphertext,
    level: usize,
) -> Result<Cow<'c, E::Ciphertext>, E::Error> {
    let l = ev.level(ct);
    if l < level {
        return Err(EvalError::OutOfLevels {
            op: "drop_level",
            level: l,
            needed: level,
        }
        .into());
    }
    Ok(if l == level {
        Cow::Borrowed(ct)
    } else {
        Cow::Owned(ev.drop_level(ct, l - level)?)
    })
}

/// Evaluates the node at output level `level` and scale `scale`. Constants are not
/// evaluated here (their caller folds them in).
fn run<E: Evaluator>(
    pw: &mut Powers<'_, E>,
    node: &Node,
    level: usize,
    scale: f64,
) -> Result<E::Ciphertext, E::Error> {
    let (ct, c0) = run_unrescaled(pw, node, level, scale)?;
    let out = pw.ev.rescale(&ct)?;
    if c0 != 0.0 {
        pw.ev.add_const(&out, c0)
    } else {
        Ok(out)
    }
}

/// The node's value before [`run`]'s final rescale: a ciphertext at level `level + 1` and
/// scale `scale * q_{level+1}`, and the constant term to add after the rescale. A split adds
/// its remainder in this form to its product, so both share one rescale.
fn run_unrescaled<E: Evaluator>(
    pw: &mut Powers<'_, E>,
    node: &Node,
    level: usize,
    scale: f64,
) -> Result<(E::Ciphertext, f64), E::Error> {
    let ev = pw.ev;
    match node {
        Node::Const(_) => Err(EvalError::InvalidInput(
            "internal: a constant node has no ciphertext".into(),
        )
        .into()),
        Node::Leaf(c) => {
            let q = ev.rescale_prime(level + 1) as f64;
            let mut acc: Option<E::Ciphertext> = None;
            for (i, &ci) in c.iter().enumerate().skip(1) {
                if ci == 0.0 {
                    continue;
                }
                let ti = drop_to(ev, pw.get(i)?, level + 1)?;
                let term = ev.mul_const(&ti, ci, scale * q / ev.scale(&ti))?;
                acc = Some(match acc {
                    None => term,
                    Some(a) => ev.add(&a, &term)?,
                });
            }
            // Invariant: a leaf has degree >= 1, so it has a non-zero term.
            let acc = acc.expect("leaf with a non-constant term");
            Ok((acc, c[0]))
        }
        Node::Split { giant, q, r } => {
            let qi = ev.rescale_prime(level + 1) as f64;
            // Dropping levels keeps the scale.
            let tk_scale = ev.scale(pw.get(*giant)?);
            let prod = match &**q {
                Node::Const(c) => {
                    let tk = drop_to(ev, pw.get(*giant)?, level + 1)?;
                    ev.mul_const(&tk, *c, scale * qi / tk_scale)?
                }
                q => {
                    let qv = run(pw, q, level + 1, scale * qi / tk_scale)?;
                    let tk = drop_to(ev, pw.get(*giant)?, level + 1)?;
                    ev.mul_relin(&qv, &tk)?
                }
            };
            match &**r {
                Node::Const(c) => Ok((prod, *c)),
                r => {
                    let (rv, c0) = run_unrescaled(pw, r, level, scale)?;
                    Ok((ev.add(&prod, &rv)?, c0))
                }
            }
        }
    }
}

/// Evaluates `poly` on the ciphertext `x` (see the module docs); returns the result and a
/// report of the levels and multiplications used. Fails with [`EvalError::OutOfLevels`] if
/// `x` has fewer levels than [`Chebyshev::depth`].
pub fn evaluate<E: Evaluator>(
    ev: &E,
    x: &E::Ciphertext,
    poly: &Chebyshev,
    opts: &PolyOptions,
) -> Result<(E::Ciphertext, PolyReport), E::Error> {
    let level_in = ev.level(x);
    let depth = poly.depth(opts.input);
    if level_in < depth {
        return Err(EvalError::OutOfLevels {
            op: "polynomial evaluation",
            level: level_in,
            needed: depth,
        }
        .into());
    }
    let target_scale = opts.target_scale.unwrap_or_else(|| ev.scale(x));
    let plan = match opts.log_split {
        Some(l) => PolyPlan::new(poly, l),
        None => PolyPlan::best(poly),
    };
    let t1 = match opts.input {
        InputMap::Folded => x.clone(),
        InputMap::Apply => {
            let (alpha, beta) = poly.affine();
            let t = if poly.map_level(opts.input) {
                let q = ev.rescale_prime(level_in) as f64;
                ev.rescale(&ev.mul_const(x, alpha, q)?)?
            } else {
                x.clone()
            };
            if beta != 0.0 {
                ev.add_const(&t, beta)?
            } else {
                t
            }
        }
    };
    let start = ev.level(&t1);
    let level_out = start - plan.depth();
    let mut pw = Powers {
        ev,
        t: BTreeMap::from([(1, t1)]),
    };
    let out = run(&mut pw, &plan.root, level_out, target_scale)?;
    let report = PolyReport {
        degree: poly.degree(),
        level_in,
        level_out: ev.level(&out),
        levels: level_in - ev.level(&out),
        log_split: plan.log_split(),
        mul_relin: plan.mul_relin(),
    };
    Ok((out, report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ckks::sim::{SimEvaluator, SimOp, SimParams};

    fn sim() -> SimEvaluator {
        SimEvaluator::new(SimParams::chain(64, 9, 42, 58).unwrap())
    }

    fn inputs(n: usize, a: f64, b: f64) -> Vec<f64> {
        (0..n)
            .map(|i| a + (b - a) * (i as f64 + 0.5) / n as f64)
            .collect()
    }

    /// Deterministic pseudo-random coefficients decaying like a smooth function's.
    fn coeffs(d: usize, seed: u64) -> Vec<f64> {
        let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        (0..=d)
            .map(|i| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let u = (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
                u / (1.0 + i as f64)
            })
            .collect()
    }

    #[test]
    fn power_depths_are_minimal() {
        let got: Vec<usize> = (1..=17).map(power_depth).collect();
        assert_eq!(got, [0, 1, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4, 5]);
    }

    #[test]
    fn clenshaw_matches_the_definition() {
        let p = Chebyshev::new(&[0.5, -1.0, 0.25, 2.0], (-2.0, 6.0)).unwrap();
        for x in inputs(7, -2.0, 6.0) {
            let t = (2.0 * x - 4.0) / 8.0;
            let direct = 0.5 - t + 0.25 * (2.0 * t * t - 1.0) + 2.0 * (4.0 * t * t * t - 3.0 * t);
            assert!((p.eval(x) - direct).abs() < 1e-12);
        }
    }

    #[test]
    fn evaluation_equals_clenshaw_at_minimum_depth() {
        let ev = sim();
        for d in 1..=33 {
            for (input, (a, b)) in [
                (InputMap::Apply, (-8.0, 8.0)),
                (InputMap::Folded, (-8.0, 8.0)),
                (InputMap::Apply, (-1.0, 1.0)),
                (InputMap::Apply, (0.0, 2.0)),
            ] {
                let p = Chebyshev::new(&coeffs(d, d as u64), (a, b)).unwrap();
                let xs = inputs(64, a, b);
                let held: Vec<f64> = match input {
                    InputMap::Apply => xs.clone(),
                    InputMap::Folded => {
                        let (al, be) = p.affine();
                        xs.iter().map(|x| al * x + be).collect()
                    }
                };
                let ct = ev.encrypt(&held, 9, ev.default_scale()).unwrap();
                let opts = PolyOptions {
                    input,
                    ..Default::default()
                };
                let (out, rep) = evaluate(&ev, &ct, &p, &opts).unwrap();
                assert_eq!(rep.levels, p.depth(input), "degree {d} {input:?} [{a},{b}]");
                assert_eq!(rep.level_out, 9 - rep.levels);
                assert!((out.scale / ct.scale - 1.0).abs() < 1e-9);
                let got = ev.decrypt(&out).unwrap();
                for (x, y) in xs.iter().zip(got) {
                    let want = p.eval(*x);
                    assert!((want - y).abs() < 1e-8, "degree {d}: {want} vs {y}");
                }
            }
        }
    }

    #[test]
    fn every_split_gives_the_same_depth_and_the_best_the_fewest_products() {
        let ev = SimEvaluator::counting_only(SimParams::chain(64, 9, 42, 58).unwrap());
        for d in [3, 7, 17, 31] {
            let p = Chebyshev::new(&coeffs(d, 7), (-8.0, 8.0)).unwrap();
            let ct = ev.encrypt(&[0.0], 9, ev.default_scale()).unwrap();
            let best = PolyPlan::best(&p).mul_relin();
            for l in 1..=poly_depth(d) {
                ev.take_counts();
                let opts = PolyOptions {
                    log_split: Some(l),
                    ..Default::default()
                };
                let (_, rep) = evaluate(&ev, &ct, &p, &opts).unwrap();
                assert_eq!(rep.levels, poly_depth(d) + 1);
                assert_eq!(ev.counts().total(SimOp::MulRelin), rep.mul_relin);
                assert!(best <= rep.mul_relin);
            }
        }
    }

    #[test]
    fn documented_depths_for_the_tanh_degrees() {
        let ev = SimEvaluator::counting_only(SimParams::fgb_like());
        for (d, folded, mapped) in [(3, 2, 3), (7, 3, 4), (17, 5, 6)] {
            // Odd coefficients only, as a tanh fit on a symmetric interval.
            let c: Vec<f64> = (0..=d)
                .map(|i| if i % 2 == 1 { 1.0 / i as f64 } else { 0.0 })
                .collect();
            let p = Chebyshev::new(&c, (-8.0, 8.0)).unwrap();
            let ct = ev.encrypt(&[0.0], 9, ev.default_scale()).unwrap();
            let run = |input| {
                let opts = PolyOptions {
                    input,
                    ..Default::default()
                };
                evaluate(&ev, &ct, &p, &opts).unwrap().1.levels
            };
            assert_eq!(run(InputMap::Folded), folded);
            assert_eq!(run(InputMap::Apply), mapped);
        }
    }

    #[test]
    fn tanh_interpolants_are_odd_and_accurate() {
        for (d, tol) in [(3, 0.5), (7, 0.25), (17, 0.04)] {
            let p = Chebyshev::interpolate(f64::tanh, d, (-8.0, 8.0)).unwrap();
            assert_eq!(p.degree(), d);
            assert!(p.coeffs().iter().step_by(2).all(|&c| c == 0.0));
            let err = inputs(1000, -8.0, 8.0)
                .iter()
                .map(|&x| (p.eval(x) - x.tanh()).abs())
                .fold(0.0, f64::max);
            assert!(err < tol, "degree {d}: {err}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        #[test]
        fn sparse_polynomials_at_minimum_depth(
            terms in proptest::collection::vec((proptest::bool::ANY, -2.0f64..2.0), 2..41),
            split in 0usize..7,
        ) {
            let mut c: Vec<f64> = terms.iter().map(|&(keep, v)| if keep { v } else { 0.0 }).collect();
            let last = c.len() - 1;
            c[last] = 1.0;
            let p = Chebyshev::new(&c, (-3.0, 5.0)).unwrap();
            let ev = sim();
            let xs = inputs(64, -3.0, 5.0);
            let ct = ev.encrypt(&xs, 9, ev.default_scale()).unwrap();
            let opts = PolyOptions { log_split: (split > 0).then_some(split), ..Default::default() };
            let (out, rep) = evaluate(&ev, &ct, &p, &opts).unwrap();
            proptest::prop_assert_eq!(rep.levels, poly_depth(last) + 1);
            for (x, y) in xs.iter().zip(ev.decrypt(&out).unwrap()) {
                proptest::prop_assert!((p.eval(*x) - y).abs() < 1e-7);
            }
        }
    }

    #[test]
    fn bad_inputs_are_refused() {
        assert!(Chebyshev::new(&[1.0, 2.0], (1.0, 1.0)).is_err());
        assert!(Chebyshev::new(&[1.0, f64::NAN], (0.0, 1.0)).is_err());
        assert!(Chebyshev::new(&[1.0, 1e-20], (0.0, 1.0)).is_err());
        let ev = sim();
        let p = Chebyshev::new(&coeffs(17, 1), (-8.0, 8.0)).unwrap();
        let ct = ev.encrypt(&[0.5], 5, ev.default_scale()).unwrap();
        let err = evaluate(&ev, &ct, &p, &PolyOptions::default()).unwrap_err();
        assert!(
            matches!(err, EvalError::OutOfLevels { needed: 6, .. }),
            "{err}"
        );
    }
}
