//! Level- and bootstrap-aware dynamic programming in the manner of Lee et al.'s optimized
//! layerwise approximation (OLA).
//!
//! 1. **Proxy.** Each (slot, step) position's error under each candidate degree is
//!    estimated on that position's real inputs: the mean squared error of the fit (each
//!    point's error capped at the function's range, 2 for tanh and 1 for sigmoid: a value
//!    that far off is lost whatever it is) under the histogram of the pre-activations the
//!    exact model feeds the position ([`crate::oracle::Oracle::input_profile`], arguments
//!    up to twice the fit interval's half-width, so that a fit's growth just outside its
//!    interval counts). As OLA does, the errors are weighted by each position's
//!    sensitivity G = E|dL/dy|^2 (backpropagation through time) and summed: the proxy
//!    estimates the variance the approximations add to the loss ([`Proxy`]).
//! 2. **Dynamic programme.** Over (step, state, cost): the state is what the cost model
//!    carries from one step to the next ([`crate::cost::Stages`]): for the circuit models
//!    the levels left before the next bootstrap, so the programme sees that a cheaper
//!    polynomial saves a bootstrap only where it lets the levels reach further, and that a
//!    bootstrap resets them. The cost dimension is kept exactly: per state, the Pareto set of
//!    (cost so far, proxy so far) over every choice of degrees of the steps so far, which is
//!    OLA's table over cost budgets for every budget at once, without rounding costs to
//!    units. Costs are the model's own moves, so each proxy-front schedule costs exactly
//!    what the model says ([`proxy_front`]).
//! 3. **Verification.** The proxy-front schedules are judged by the real oracle, coarse to
//!    fine along the front (its two ends, then midpoints), and their proxy and real
//!    accuracy are reported side by side with the rank correlation between the two.
//! 4. **Refinement** (`refine = true`). While budget remains, the one-position neighbours
//!    of the verified front (each position moved to each other candidate) are judged, the
//!    front points taking turns, each offering its neighbours best proxy first, until the
//!    budget is spent or every neighbour of the front has been judged.
//!
//! The sensitivity knapsack of [`super::dp`] is the simpler baseline: it measures each
//! position's accuracy loss with the oracle and assumes savings add up.

use std::collections::{HashMap, HashSet, VecDeque};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Constraints, ScheduleSearch, SearchContext, SearchError};
use crate::approx::Activation;
use crate::cost::{StageState, Stages};
use crate::model::inputs::InputProfile;
use crate::oracle::Candidates;
use crate::schedule::Space;

/// Settings of the level-aware DP (`strategies/dp-levels.toml`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DpLevelsConfig {
    /// After verifying the proxy front, judge one-position neighbours of the verified
    /// front until the budget is spent or none is left.
    pub refine: bool,
}

/// The most labels (Pareto points of all states) the programme keeps over all steps: each
/// is a few tens of bytes, and a problem that needs more should shrink its space first.
pub const MAX_LABELS: usize = 20_000_000;

/// The level- and bootstrap-aware DP.
pub struct DpLevels {
    config: DpLevelsConfig,
}

impl DpLevels {
    /// A level-aware DP search.
    pub fn new(config: DpLevelsConfig) -> Self {
        Self { config }
    }
}

/// Lee et al.'s proxy of the loss a schedule adds: the sum over (slot, step) positions of
/// the position's sensitivity times its fit's mean squared error on its inputs.
#[derive(Clone, Debug)]
pub struct Proxy {
    slots: usize,
    /// Per position, per candidate (highest first): the mean squared error on its inputs.
    errors: Vec<Vec<f64>>,
    /// Per position: the sensitivity.
    sensitivities: Vec<f64>,
}

impl Proxy {
    /// The proxy of `space` from `profile` (one entry per position of the space) and the
    /// fits of `candidates`.
    pub fn new(
        profile: &InputProfile,
        candidates: &Candidates,
        space: &Space,
    ) -> Result<Self, SearchError> {
        if profile.positions.len() != space.positions()
            || candidates.slots.len() != space.slots()
            || profile.ranges.len() != space.slots()
        {
            return Err(SearchError::Invalid(format!(
                "the input profile has {} positions of {} slots, the space {} of {}",
                profile.positions.len(),
                profile.ranges.len(),
                space.positions(),
                space.slots()
            )));
        }
        // Per slot, per candidate: (capped error)^2 at each bin centre.
        let per_slot: Vec<Vec<Vec<f64>>> = candidates
            .slots
            .iter()
            .enumerate()
            .map(|(slot, sc)| {
                let cap = match sc.function {
                    Activation::Tanh => 2.0,
                    Activation::Sigmoid => 1.0,
                };
                let centres = profile.centres(slot);
                space
                    .degrees_at(slot)
                    .iter()
                    .map(|&d| {
                        let fit = sc.fit(d).ok_or_else(|| {
                            SearchError::Invalid(format!(
                                "slot {} has no degree-{d} fit among the oracle's candidates",
                                sc.name
                            ))
                        })?;
                        Ok(centres
                            .iter()
                            .map(|&x| {
                                let e = (fit.eval(x) - sc.function.eval(x)).abs();
                                if e.is_finite() { e.min(cap) } else { cap }.powi(2)
                            })
                            .collect())
                    })
                    .collect::<Result<_, SearchError>>()
            })
            .collect::<Result<_, _>>()?;
        let errors = (0..space.positions())
            .map(|i| {
                let counts = &profile.positions[i].counts;
                let total: f64 = counts.iter().sum();
                per_slot[space.slot_of(i)]
                    .iter()
                    .map(|sq| {
                        if total > 0.0 {
                            counts.iter().zip(sq).map(|(c, s)| c * s).sum::<f64>() / total
                        } else {
                            0.0
                        }
                    })
                    .collect()
            })
            .collect();
        Ok(Self {
            slots: space.slots(),
            errors,
            sensitivities: profile.positions.iter().map(|p| p.sensitivity).collect(),
        })
    }

    /// The proxy term of one position with its `choice`-th candidate (0 = highest).
    pub fn term(&self, position: usize, choice: usize) -> f64 {
        self.sensitivities[position] * self.errors[position][choice]
    }

    /// The terms of step `step`'s slots with their `choices`, added in slot order.
    pub fn step(&self, step: usize, choices: &[usize]) -> f64 {
        choices.iter().enumerate().fold(0.0, |acc, (slot, &c)| {
            acc + self.term(step * self.slots + slot, c)
        })
    }

    /// The proxy of a schedule given as candidate indices: the steps' sums added in order
    /// (the order of the dynamic programme's additions, so the same float).
    pub fn of(&self, choices: &[usize]) -> f64 {
        choices
            .chunks(self.slots)
            .enumerate()
            .fold(0.0, |acc, (t, c)| acc + self.step(t, c))
    }
}

/// A schedule of the proxy front: its candidate indices, proxy and cost.
#[derive(Clone, Debug, PartialEq)]
pub struct ProxyPoint {
    pub choices: Vec<usize>,
    pub proxy: f64,
    pub cost: f64,
}

/// A Pareto point of one state: how it was reached and what it has cost.
#[derive(Clone, Copy, Debug)]
struct Label {
    state: StageState,
    cost: f64,
    proxy: f64,
    /// Index of the label it extends in the previous layer.
    prev: usize,
    /// The step's choice (index into the step's combinations).
    combo: usize,
}

/// Every combination of one candidate per slot of a step, the first slot changing slowest.
fn combinations(space: &Space) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new()];
    for slot in 0..space.slots() {
        let k = space.degrees_at(slot).len();
        out = out
            .into_iter()
            .flat_map(|c| {
                (0..k).map(move |i| {
                    let mut c = c.clone();
                    c.push(i);
                    c
                })
            })
            .collect();
    }
    out
}

/// Keeps, per state, the labels no other label of that state beats in both cost and
/// proxy (one per (cost, proxy) pair; ties go to the earlier label), ordered by state then
/// cost.
fn prune(mut labels: Vec<Label>) -> Vec<Label> {
    labels.sort_by(|a, b| {
        a.state
            .cmp(&b.state)
            .then(a.cost.total_cmp(&b.cost))
            .then(a.proxy.total_cmp(&b.proxy))
            .then(a.prev.cmp(&b.prev))
            .then(a.combo.cmp(&b.combo))
    });
    let mut kept: Vec<Label> = Vec::with_capacity(labels.len());
    let mut best = f64::INFINITY;
    for l in labels {
        if kept.last().is_none_or(|k| k.state != l.state) {
            best = f64::INFINITY;
        }
        if l.proxy < best {
            best = l.proxy;
            kept.push(l);
        }
    }
    kept
}

/// The proxy front of `space` under the cost model `stages`: every schedule within
/// `max_cost` that no other beats in both cost and proxy, one per (cost, proxy) pair,
/// cheapest first. The dynamic programme over (step, state) keeps each state's Pareto set
/// of (cost, proxy); it errs once more than [`MAX_LABELS`] labels are kept.
pub fn proxy_front(
    stages: &dyn Stages,
    space: &Space,
    proxy: &Proxy,
    max_cost: f64,
) -> Result<Vec<ProxyPoint>, SearchError> {
    let combos = combinations(space);
    let degrees: Vec<Vec<usize>> = combos
        .iter()
        .map(|c| {
            c.iter()
                .enumerate()
                .map(|(slot, &i)| space.degrees_at(slot)[i])
                .collect()
        })
        .collect();
    let mut layers: Vec<Vec<Label>> = vec![vec![Label {
        state: stages.start(),
        cost: 0.0,
        proxy: 0.0,
        prev: 0,
        combo: 0,
    }]];
    let mut total = 1usize;
    let mut out = Vec::new();
    for t in 0..space.steps {
        let step_proxy: Vec<f64> = combos.iter().map(|c| proxy.step(t, c)).collect();
        let mut next = Vec::new();
        for (li, l) in layers[t].iter().enumerate() {
            for (ci, d) in degrees.iter().enumerate() {
                out.clear();
                stages.step(t, l.state, l.cost, d, &mut out)?;
                let p = l.proxy + step_proxy[ci];
                next.extend(out.iter().filter(|&&(_, cost)| cost <= max_cost).map(
                    |&(state, cost)| Label {
                        state,
                        cost,
                        proxy: p,
                        prev: li,
                        combo: ci,
                    },
                ));
            }
        }
        let next = prune(next);
        total += next.len();
        if total > MAX_LABELS {
            return Err(SearchError::Invalid(format!(
                "the dynamic programme kept more than {MAX_LABELS} (cost, proxy) labels by step {t}; shrink the space (fewer candidates or steps)"
            )));
        }
        layers.push(next);
    }
    let mut ends = Vec::new();
    for (li, l) in layers[space.steps].iter().enumerate() {
        if let Some(cost) = stages.finish(l.state, l.cost)?
            && cost <= max_cost
        {
            ends.push((cost, l.proxy, li));
        }
    }
    ends.sort_by(|a, b| {
        a.0.total_cmp(&b.0)
            .then(a.1.total_cmp(&b.1))
            .then(a.2.cmp(&b.2))
    });
    let mut front = Vec::new();
    let mut best = f64::INFINITY;
    for (cost, p, li) in ends {
        if p < best {
            best = p;
            let mut choices = vec![0usize; space.positions()];
            let mut at = li;
            for t in (0..space.steps).rev() {
                let l = layers[t + 1][at];
                let slots = space.slots();
                choices[t * slots..(t + 1) * slots].copy_from_slice(&combos[l.combo]);
                at = l.prev;
            }
            front.push(ProxyPoint {
                choices,
                proxy: p,
                cost,
            });
        }
    }
    Ok(front)
}

/// Indices 0..m in coarse-to-fine order: the last, the first, then midpoints of the gaps,
/// breadth first.
fn coarse_to_fine(m: usize) -> Vec<usize> {
    let mut order = Vec::with_capacity(m);
    if m == 0 {
        return order;
    }
    order.push(m - 1);
    if m > 1 {
        order.push(0);
    }
    let mut gaps = VecDeque::from([(0, m - 1)]);
    while let Some((a, b)) = gaps.pop_front() {
        if b - a >= 2 {
            let mid = (a + b) / 2;
            order.push(mid);
            gaps.push_back((a, mid));
            gaps.push_back((mid, b));
        }
    }
    order
}

/// A judged schedule.
#[derive(Clone, Debug)]
struct Point {
    choices: Vec<usize>,
    accuracy: f64,
    cost: f64,
    unsafe_images: usize,
    /// Judged while refining (not on the proxy front).
    refined: bool,
}

/// The judged schedules of a run.
struct Judgements {
    points: Vec<Point>,
    index: HashMap<Vec<usize>, usize>,
}

impl Judgements {
    /// Judges a schedule once (a repeat costs no budget); `None` once the budget is spent.
    fn judge(
        &mut self,
        ctx: &mut SearchContext,
        choices: &[usize],
        refined: bool,
    ) -> Result<Option<usize>, SearchError> {
        if let Some(&i) = self.index.get(choices) {
            return Ok(Some(i));
        }
        let schedule = ctx.space().from_choices(choices);
        let Some(e) = ctx.evaluate(&schedule)? else {
            return Ok(None);
        };
        let cost = ctx.cost.cost(&schedule)?;
        self.points.push(Point {
            choices: choices.to_vec(),
            accuracy: e.accuracy,
            cost,
            unsafe_images: e.unsafe_images,
            refined,
        });
        self.index.insert(choices.to_vec(), self.points.len() - 1);
        Ok(Some(self.points.len() - 1))
    }

    /// The points no other admissible point beats (cheapest first), as
    /// [`super::pareto_front`] defines them; with no admissible point, the front without
    /// the accuracy floor.
    fn front(&self, constraints: &Constraints) -> Vec<usize> {
        let of = |c: &Constraints| {
            let mut idx: Vec<usize> = (0..self.points.len())
                .filter(|&i| {
                    let p = &self.points[i];
                    p.accuracy >= c.min_accuracy
                        && p.cost <= c.max_cost
                        && c.safe_enough(p.unsafe_images)
                })
                .collect();
            idx.sort_by(|&a, &b| {
                let (x, y) = (&self.points[a], &self.points[b]);
                x.cost
                    .total_cmp(&y.cost)
                    .then(y.accuracy.total_cmp(&x.accuracy))
                    .then(a.cmp(&b))
            });
            let mut best = f64::NEG_INFINITY;
            idx.retain(|&i| {
                let keep = self.points[i].accuracy > best;
                if keep {
                    best = self.points[i].accuracy;
                }
                keep
            });
            idx
        };
        let front = of(constraints);
        if front.is_empty() {
            of(&Constraints {
                min_accuracy: 0.0,
                ..constraints.clone()
            })
        } else {
            front
        }
    }
}

/// Spearman's rank correlation of two equally long lists (average ranks for ties); `None`
/// below two points or without spread.
fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    fn ranks(v: &[f64]) -> Vec<f64> {
        let mut order: Vec<usize> = (0..v.len()).collect();
        order.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
        let mut r = vec![0.0; v.len()];
        let mut i = 0;
        while i < order.len() {
            let mut j = i;
            while j + 1 < order.len() && v[order[j + 1]] == v[order[i]] {
                j += 1;
            }
            for &k in &order[i..=j] {
                r[k] = (i + j) as f64 / 2.0;
            }
            i = j + 1;
        }
        r
    }
    if x.len() < 2 || x.len() != y.len() {
        return None;
    }
    let (rx, ry) = (ranks(x), ranks(y));
    let mean = (x.len() - 1) as f64 / 2.0;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in rx.iter().zip(&ry) {
        sxy += (a - mean) * (b - mean);
        sxx += (a - mean) * (a - mean);
        syy += (b - mean) * (b - mean);
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

impl DpLevels {
    /// Refinement rounds: the one-position neighbours of the current front, front points
    /// taking turns (cheapest first), each offering its neighbours best proxy first.
    /// Returns (rounds, whether the budget ran out).
    fn refine(
        ctx: &mut SearchContext,
        run: &mut Judgements,
        proxy: &Proxy,
    ) -> Result<(usize, bool), SearchError> {
        let space = ctx.space().clone();
        let constraints = ctx.constraints.clone();
        let mut rounds = 0;
        loop {
            let mut offered: HashSet<Vec<usize>> = HashSet::new();
            let mut queues: Vec<Vec<Vec<usize>>> = Vec::new();
            for b in run.front(&constraints) {
                let base = run.points[b].choices.clone();
                let mut mine: Vec<(f64, Vec<usize>)> = Vec::new();
                for pos in 0..space.positions() {
                    for c in 0..space.degrees_at(pos).len() {
                        if c == base[pos] {
                            continue;
                        }
                        let mut n = base.clone();
                        n[pos] = c;
                        if run.index.contains_key(&n) || offered.contains(&n) {
                            continue;
                        }
                        if ctx.cost.cost(&space.from_choices(&n))? > constraints.max_cost {
                            continue;
                        }
                        offered.insert(n.clone());
                        mine.push((proxy.of(&n), n));
                    }
                }
                // Stable: equal proxies keep the order of generation.
                mine.sort_by(|a, b| a.0.total_cmp(&b.0));
                queues.push(mine.into_iter().map(|(_, n)| n).collect());
            }
            if queues.iter().all(|q| q.is_empty()) {
                return Ok((rounds, false));
            }
            rounds += 1;
            let longest = queues.iter().map(Vec::len).max().unwrap_or(0);
            for k in 0..longest {
                for q in &queues {
                    if let Some(n) = q.get(k)
                        && run.judge(ctx, n, true)?.is_none()
                    {
                        return Ok((rounds, true));
                    }
                }
            }
        }
    }
}

impl ScheduleSearch for DpLevels {
    fn name(&self) -> &str {
        "dp-levels"
    }

    fn search(&mut self, ctx: &mut SearchContext) -> Result<serde_json::Value, SearchError> {
        let space = ctx.space().clone();
        let (model, oracle) = (ctx.cost, ctx.oracle);
        let stages = model.stages().ok_or_else(|| {
            SearchError::Invalid(format!(
                "dp-levels walks the cost model step by step, which cost model '{}' does not offer (use depth, bootstraps, or latency with the optimal placement)",
                model.name()
            ))
        })?;
        let profile = oracle.input_profile();
        let proxy = Proxy::new(profile, oracle.candidates(), &space)?;
        let front = proxy_front(stages, &space, &proxy, ctx.constraints.max_cost)?;
        let mut run = Judgements {
            points: Vec::new(),
            index: HashMap::new(),
        };
        let mut spent = false;
        let mut verified = Vec::new();
        for i in coarse_to_fine(front.len()) {
            match run.judge(ctx, &front[i].choices, false)? {
                Some(j) => verified.push((i, j)),
                None => {
                    spent = true;
                    break;
                }
            }
        }
        verified.sort_unstable();
        let (mut rounds, before) = (0, ctx.judgements());
        if !spent && self.config.refine {
            (rounds, spent) = Self::refine(ctx, &mut run, &proxy)?;
        }
        let final_front = run.front(&ctx.constraints);
        let (proxies, errors): (Vec<f64>, Vec<f64>) = verified
            .iter()
            .map(|&(i, j)| (front[i].proxy, 1.0 - run.points[j].accuracy))
            .unzip();
        let positions: Vec<serde_json::Value> = (0..space.positions())
            .map(|i| {
                let errors: serde_json::Map<String, serde_json::Value> = space
                    .degrees_at(i)
                    .iter()
                    .zip(&proxy.errors[i])
                    .map(|(d, e)| (d.to_string(), json!(e)))
                    .collect();
                let mut entry = json!({
                    "position": space.position_name(i),
                    "sensitivity": proxy.sensitivities[i],
                    "mean_square_error": errors,
                });
                let counts = &profile.positions[i].counts;
                let total: f64 = counts.iter().sum();
                let [lo, hi] = oracle.candidates().slots[space.slot_of(i)].interval;
                let inside: f64 = profile
                    .centres(space.slot_of(i))
                    .iter()
                    .zip(counts)
                    .filter(|(x, _)| (lo..=hi).contains(*x))
                    .map(|(_, c)| c)
                    .sum();
                entry["outside_interval"] = json!(if total > 0.0 {
                    1.0 - inside / total
                } else {
                    0.0
                });
                entry
            })
            .collect();
        let mut details = json!({
            "proxy": "sum over (slot, step) of G * E[e^2]: G = E|dL/dy|^2 of the exact model (backpropagation through time), e the fit's error (capped at the function's range) under the position's pre-activation histogram",
            "profile_images": profile.images,
            "positions": positions,
            "proxy_front": front.len(),
            "verified": verified.iter().map(|&(i, j)| {
                let p = &run.points[j];
                json!({
                    "schedule": space.from_choices(&front[i].choices).to_string(),
                    "proxy": front[i].proxy,
                    "accuracy": p.accuracy,
                    "dp_cost": front[i].cost,
                    "cost": p.cost,
                    "unsafe_images": p.unsafe_images,
                })
            }).collect::<Vec<_>>(),
            "proxy_vs_real": {
                "points": proxies.len(),
                "spearman_proxy_vs_error": spearman(&proxies, &errors),
            },
            "refinement": {
                "rounds": rounds,
                "judgements": ctx.judgements() - before,
                "front_points": final_front.iter().filter(|&&i| run.points[i].refined).count(),
            },
            "front_points": final_front.len(),
        });
        if !spent {
            let judged = ctx.judgements();
            details["stopped"] = if front.is_empty() {
                format!("converged after {judged} judgements: no schedule is within the cost limit")
            } else if self.config.refine {
                format!(
                    "converged after {judged} judgements: every one of the {} proxy-front schedules and every one-position neighbour of the verified front was judged",
                    front.len()
                )
            } else {
                format!(
                    "converged after {judged} judgements: every one of the {} proxy-front schedules was verified (refine = false)",
                    front.len()
                )
            }
            .into();
        }
        Ok(details)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coarse_to_fine_visits_each_index_once_ends_first() {
        for m in 0..40 {
            let o = coarse_to_fine(m);
            let mut sorted = o.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..m).collect::<Vec<_>>(), "{m}");
            if m >= 3 {
                assert_eq!(&o[..3], &[m - 1, 0, (m - 1) / 2]);
            }
        }
    }

    #[test]
    fn spearman_of_known_lists() {
        let x = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(spearman(&x, &[10.0, 20.0, 30.0, 40.0]), Some(1.0));
        assert_eq!(spearman(&x, &[4.0, 3.0, 2.0, 1.0]), Some(-1.0));
        assert_eq!(spearman(&x, &[1.0, 1.0, 1.0, 1.0]), None);
        let tied = spearman(&[1.0, 1.0, 2.0], &[1.0, 2.0, 3.0]).unwrap();
        assert!((tied - 0.866_025_403_784_438_6).abs() < 1e-12, "{tied}");
    }

    #[test]
    fn pruning_keeps_each_states_pareto_set() {
        let l = |state, cost, proxy, prev| Label {
            state,
            cost,
            proxy,
            prev,
            combo: 0,
        };
        let kept = prune(vec![
            l(1, 2.0, 5.0, 0),
            l(0, 3.0, 1.0, 1),
            l(1, 1.0, 6.0, 2),
            l(1, 3.0, 5.0, 3), // beaten by (2, 5) in state 1
            l(0, 1.0, 4.0, 4),
            l(1, 2.0, 5.0, 5), // the same point as label 0: the earlier one stays
            l(1, 4.0, 2.0, 6),
        ]);
        let got: Vec<(u64, usize)> = kept.iter().map(|k| (k.state, k.prev)).collect();
        assert_eq!(got, [(0, 4), (0, 1), (1, 2), (1, 0), (1, 6)]);
    }
}
