//! The paper's depth-first search and its variants.
//!
//! The rule (the paper's): start from every (slot, step) position at its highest candidate
//! degree (the root). A child of a kept schedule lowers one more position that is still at
//! its highest degree to one of its lower candidates (a position with a single candidate is
//! never lowered); the child is kept, and expanded in turn, if its validation accuracy is
//! within the tolerance of its anchor's and at least `floor`. A schedule's *depth* is its
//! number of replacements (positions below their highest degree). For a SimpleRNN a position
//! is a step (the paper's cell).
//!
//! With `n` validation images and `c` the anchor's correct count, a child is kept iff it gets
//! at least `max(c - drop, ceil(floor * n))` right, where `drop` is `floor(p / 100 * n)` for
//! `tolerance = { points = p }` (percentage points: the shipped preset's and the default
//! reading of the paper's "within 2 %") and `floor(q / 100 * c)` for
//! `tolerance = { percent = q }` (q % of the anchor's accuracy). The anchor is the parent
//! (`anchor = "parent"`, the paper's) or the root (`"root"`). `max_replacements` caps the
//! depth: schedules at the cap are kept but not expanded.
//!
//! A child is decided with the oracle's early exit and, if kept, evaluated fully (its
//! accuracy anchors its own children): a kept child costs two judgements, a rejected one one.
//!
//! `order` is the order in which kept schedules are expanded (children of one schedule are
//! always taken in position order — step-major, slots in the cell's order — higher degrees
//! first): `depth-first` (the paper's and the default) expands a kept child at once, before
//! its later siblings; `breadth-first` expands every kept schedule of depth k before any of
//! depth k + 1, in the order they were kept; `best-first` expands next the kept, unexpanded
//! schedule with the highest accuracy (ties: the one kept first).
//!
//! `kept = "first-visit"` (the default, and the committed runs') judges a schedule once, when
//! a kept parent first reaches it. With `anchor = "parent"` that makes the kept set depend on
//! the order even for a complete run: a child first reached from an accurate parent is held
//! to that parent's stricter threshold, and a less accurate parent reached later, which would
//! have kept it, does not judge it again (nor anything below it). `kept = "closure"` is the
//! order-independent definition: a schedule is kept iff some chain of kept parents reaches it
//! with every link within its parent's tolerance. A child rejected at some threshold is
//! judged again when a parent with a lower threshold reaches it, so a complete run keeps the
//! same set in every order. With `anchor = "root"` the threshold does not depend on the
//! parent and both definitions keep the same set.
//!
//! Summary (the strategy's details): `kept_with_lowest_degree` counts the kept schedules with
//! some position at its own lowest candidate, `deepest_kept` is the most replacements of a
//! kept schedule, and `by_depth` says, per depth, how much of it the run covered:
//! `candidates` (schedules of that depth in the whole space), `reached` (distinct children of
//! the kept schedules one depth up: what a complete run would judge there), `judged`
//! (distinct schedules judged), `judgements` (spent there, re-judgements and full
//! evaluations included) and `kept`.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{ScheduleSearch, SearchContext, SearchError};
use crate::oracle::Prefixes;
use crate::schedule::{Approx, Schedule, Space};

/// What a child's accuracy is compared with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Anchor {
    /// The parent's accuracy (the paper's rule).
    Parent,
    /// The all-highest-degree schedule's accuracy.
    Root,
}

/// How far below its anchor a kept child may fall.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", try_from = "ToleranceSetting")]
pub enum Tolerance {
    /// Percentage points of validation accuracy, in [0, 100]
    /// (`tolerance = { points = 2.0 }`).
    Points(f64),
    /// Percent of the anchor's accuracy, in [0, 100] (`tolerance = { percent = 2.0 }`).
    Percent(f64),
}

/// `tolerance` as a preset writes it (a table with one key), so that a bad value is refused
/// naming the setting.
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "tolerance = { points = P } or tolerance = { percent = Q }"
)]
struct ToleranceSetting {
    points: Option<f64>,
    percent: Option<f64>,
}

impl TryFrom<ToleranceSetting> for Tolerance {
    type Error = String;

    fn try_from(t: ToleranceSetting) -> Result<Self, String> {
        match (t.points, t.percent) {
            (Some(p), None) => Ok(Self::Points(p)),
            (None, Some(q)) => Ok(Self::Percent(q)),
            _ => Err("tolerance must give exactly one of points and percent".to_string()),
        }
    }
}

impl Tolerance {
    /// Correct answers a child may lose against an anchor with `anchor_correct` of `n` right.
    pub fn drop(self, anchor_correct: usize, n: usize) -> usize {
        match self {
            Self::Points(p) => (p / 100.0 * n as f64).floor() as usize,
            Self::Percent(q) => (q / 100.0 * anchor_correct as f64).floor() as usize,
        }
    }
}

/// The order in which kept schedules are expanded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Order {
    /// A kept child is expanded at once, before its later siblings (the paper's).
    #[default]
    DepthFirst,
    /// By number of replacements: a whole depth before the next, in the order kept.
    BreadthFirst,
    /// The most accurate kept, unexpanded schedule first (ties: the one kept first).
    BestFirst,
}

/// Which schedules are kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeptRule {
    /// A schedule is judged once, against the first kept parent that reaches it.
    #[default]
    FirstVisit,
    /// A schedule is kept iff some chain of kept parents reaches it (order-independent).
    Closure,
}

/// The largest replacement cap accepted (far beyond any space's number of positions).
pub const MAX_REPLACEMENTS: usize = 100_000;

/// Settings of the DFS (`strategies/dfs*.toml`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DfsConfig {
    /// Allowed accuracy drop against the anchor.
    pub tolerance: Tolerance,
    /// What a child's accuracy is compared with.
    pub anchor: Anchor,
    /// Absolute minimum validation accuracy of a kept schedule, in [0, 1].
    pub floor: f64,
    /// Most replacements of a judged schedule: schedules at the cap are kept but not
    /// expanded (none: no cap).
    #[serde(default)]
    pub max_replacements: Option<usize>,
    /// The order in which kept schedules are expanded (default: depth-first).
    #[serde(default)]
    pub order: Order,
    /// Which schedules are kept (default: first-visit).
    #[serde(default)]
    pub kept: KeptRule,
}

impl DfsConfig {
    /// The paper's rule: within 2 points of the parent, depth-first, first visit, no cap.
    pub fn paper() -> Self {
        Self {
            tolerance: Tolerance::Points(2.0),
            anchor: Anchor::Parent,
            floor: 0.0,
            max_replacements: None,
            order: Order::DepthFirst,
            kept: KeptRule::FirstVisit,
        }
    }

    /// Checks every numeric setting (finite and in range); the error names the setting.
    pub fn validate(&self) -> Result<(), String> {
        let (name, value) = match self.tolerance {
            Tolerance::Points(p) => ("points", p),
            Tolerance::Percent(q) => ("percent", q),
        };
        if !(0.0..=100.0).contains(&value) {
            return Err(format!(
                "tolerance = {{ {name} = {value} }} must be a number in [0, 100]"
            ));
        }
        if !(0.0..=1.0).contains(&self.floor) {
            return Err(format!(
                "floor = {} must be an accuracy in [0, 1]",
                self.floor
            ));
        }
        if let Some(cap) = self.max_replacements
            && !(1..=MAX_REPLACEMENTS).contains(&cap)
        {
            return Err(format!(
                "max_replacements = {cap} must be in 1..={MAX_REPLACEMENTS} (leave it out for no cap)"
            ));
        }
        Ok(())
    }
}

/// The paper's DFS and its variants.
pub struct Dfs {
    config: DfsConfig,
}

impl Dfs {
    /// A DFS with these settings.
    pub fn new(config: DfsConfig) -> Self {
        Self { config }
    }
}

/// A kept schedule.
#[derive(Clone, Debug)]
struct Node {
    schedule: Schedule,
    correct: usize,
    depth: usize,
    /// Order in which it was kept (0 = the root).
    seq: usize,
}

/// What is known of a schedule that was judged.
#[derive(Clone, Copy, Debug)]
enum Seen {
    Kept,
    /// Rejected at this threshold (the lowest it was judged at).
    Rejected(usize),
}

/// Counts at one depth.
#[derive(Clone, Debug, Default)]
struct DepthStats {
    judged: usize,
    judgements: usize,
    kept: usize,
}

/// A node being expanded depth-first: the node, its threshold, its children and the next
/// child.
type Frame = (Node, usize, Vec<(usize, usize)>, usize);

/// The state of one run.
struct Walk<'c, 'a> {
    ctx: &'c mut SearchContext<'a>,
    config: DfsConfig,
    space: Space,
    root_correct: usize,
    seen: HashMap<Schedule, Seen>,
    kept: Vec<Node>,
    stats: Vec<DepthStats>,
}

impl Walk<'_, '_> {
    fn stats_at(&mut self, depth: usize) -> &mut DepthStats {
        if self.stats.len() <= depth {
            self.stats.resize(depth + 1, DepthStats::default());
        }
        &mut self.stats[depth]
    }

    /// The correct answers a child of `node` needs to be kept.
    fn threshold(&self, node: &Node) -> usize {
        let n = self.ctx.oracle.len();
        let reference = match self.config.anchor {
            Anchor::Parent => node.correct,
            Anchor::Root => self.root_correct,
        };
        let floor = (self.config.floor * n as f64).ceil() as usize;
        reference
            .saturating_sub(self.config.tolerance.drop(reference, n))
            .max(floor)
    }

    /// The children of `node` (position, lower degree), in order; none at the cap.
    fn children(&self, node: &Node) -> Vec<(usize, usize)> {
        if self
            .config
            .max_replacements
            .is_some_and(|cap| node.depth >= cap)
        {
            return Vec::new();
        }
        let mut out = Vec::new();
        for i in 0..self.space.positions() {
            let degrees = self.space.degrees_at(i);
            if node.schedule.entries()[i] != Approx::Degree(degrees[0]) {
                continue;
            }
            out.extend(degrees[1..].iter().map(|&d| (i, d)));
        }
        out
    }

    /// Whether a run at `depth` keeps its prefix states: a child at the replacement cap has
    /// no children, so no later schedule reads them.
    fn prefixes_at(&self, depth: usize) -> Prefixes {
        match self.config.max_replacements {
            Some(cap) if depth >= cap => Prefixes::Skip,
            _ => Prefixes::Keep,
        }
    }

    /// Tells the executor the decisions `node`'s children will ask for, as far as they are
    /// not settled yet (workers judge them while the walk goes on; nothing is recorded).
    fn prefetch(
        &mut self,
        node: &Node,
        threshold: usize,
        children: &[(usize, usize)],
    ) -> Result<(), SearchError> {
        let fresh: Vec<Schedule> = children
            .iter()
            .map(|&(i, d)| node.schedule.with_entry(i, Approx::Degree(d)))
            .filter(|c| match self.seen.get(c) {
                None => true,
                Some(Seen::Rejected(at)) => {
                    self.config.kept == KeptRule::Closure && threshold < *at
                }
                Some(Seen::Kept) => false,
            })
            .collect();
        let prefixes = self.prefixes_at(node.depth + 1);
        self.ctx.prefetch_decisions(&fresh, threshold, prefixes)
    }

    /// Judges the child of `parent` that lowers position `i` to degree `d`: `Some(Some(node))`
    /// if it is kept now, `Some(None)` if not (or not judged again), `None` once the budget is
    /// spent.
    fn consider(
        &mut self,
        parent: &Node,
        threshold: usize,
        (i, d): (usize, usize),
    ) -> Result<Option<Option<Node>>, SearchError> {
        let child = parent.schedule.with_entry(i, Approx::Degree(d));
        let first = match self.seen.get(&child) {
            None => true,
            Some(Seen::Rejected(at))
                if self.config.kept == KeptRule::Closure && threshold < *at =>
            {
                false
            }
            Some(_) => return Ok(Some(None)),
        };
        let depth = parent.depth + 1;
        // A child at the replacement cap has no children: no later schedule reads its
        // prefix states.
        let prefixes = self.prefixes_at(depth);
        self.seen.insert(child.clone(), Seen::Rejected(threshold));
        let Some(accepted) = self.ctx.accepts_with(&child, threshold, prefixes)? else {
            return Ok(None);
        };
        let stats = self.stats_at(depth);
        stats.judgements += 1;
        stats.judged += usize::from(first);
        if !accepted {
            return Ok(Some(None));
        }
        let Some(e) = self.ctx.evaluate_with(&child, prefixes)? else {
            return Ok(None);
        };
        let stats = self.stats_at(depth);
        stats.judgements += 1;
        stats.kept += 1;
        self.seen.insert(child.clone(), Seen::Kept);
        let node = Node {
            schedule: child,
            correct: e.correct,
            depth,
            seq: self.kept.len(),
        };
        self.kept.push(node.clone());
        Ok(Some(Some(node)))
    }

    /// Expands from the root in the configured order; false once the budget is spent.
    fn expand_all(&mut self, root: Node) -> Result<bool, SearchError> {
        match self.config.order {
            Order::DepthFirst => {
                // One frame per schedule being expanded: (node, its threshold, its children,
                // the next child).
                let mut stack = vec![self.frame(root)?];
                while let Some((node, threshold, children, next)) = stack.last_mut() {
                    let Some(&child) = children.get(*next) else {
                        stack.pop();
                        continue;
                    };
                    *next += 1;
                    let (node, threshold) = (node.clone(), *threshold);
                    match self.consider(&node, threshold, child)? {
                        None => return Ok(false),
                        Some(Some(kept)) => {
                            let frame = self.frame(kept)?;
                            stack.push(frame);
                        }
                        Some(None) => {}
                    }
                }
            }
            Order::BreadthFirst => {
                let mut queue = VecDeque::from([root]);
                while let Some(node) = queue.pop_front() {
                    let Some(kept) = self.expand_one(&node)? else {
                        return Ok(false);
                    };
                    queue.extend(kept);
                }
            }
            Order::BestFirst => {
                // (correct, Reverse(seq)): the most accurate first, then the one kept first;
                // `seq` indexes `self.kept`.
                let mut heap = BinaryHeap::from([(root.correct, Reverse(root.seq))]);
                while let Some((_, Reverse(seq))) = heap.pop() {
                    let node = self.kept[seq].clone();
                    let Some(kept) = self.expand_one(&node)? else {
                        return Ok(false);
                    };
                    heap.extend(kept.iter().map(|k| (k.correct, Reverse(k.seq))));
                }
            }
        }
        Ok(true)
    }

    fn frame(&mut self, node: Node) -> Result<Frame, SearchError> {
        let threshold = self.threshold(&node);
        let children = self.children(&node);
        self.prefetch(&node, threshold, &children)?;
        Ok((node, threshold, children, 0))
    }

    /// Judges every child of `node`; the ones kept, or `None` once the budget is spent.
    fn expand_one(&mut self, node: &Node) -> Result<Option<Vec<Node>>, SearchError> {
        let threshold = self.threshold(node);
        let mut kept = Vec::new();
        let children = self.children(node);
        self.prefetch(node, threshold, &children)?;
        for child in children {
            match self.consider(node, threshold, child)? {
                None => return Ok(None),
                Some(Some(k)) => kept.push(k),
                Some(None) => {}
            }
        }
        Ok(Some(kept))
    }

    /// Coverage per depth: see the module documentation.
    fn by_depth(&self) -> Vec<serde_json::Value> {
        let candidates = candidates_by_depth(&self.space);
        let cap = self.config.max_replacements.unwrap_or(usize::MAX);
        let deepest = self.kept.iter().map(|k| k.depth).max().unwrap_or(0);
        let last = (deepest + 1).min(cap).min(candidates.len() - 1);
        let mut reached = vec![HashSet::new(); last + 1];
        reached[0].insert(self.space.top());
        for node in self.kept.iter().filter(|k| k.depth < last) {
            for (i, d) in self.children(node) {
                reached[node.depth + 1].insert(node.schedule.with_entry(i, Approx::Degree(d)));
            }
        }
        (0..=last)
            .map(|depth| {
                let s = self.stats.get(depth).cloned().unwrap_or_default();
                json!({
                    "replacements": depth,
                    "candidates": count(candidates[depth]),
                    "reached": reached[depth].len(),
                    "judged": s.judged,
                    "judgements": s.judgements,
                    "kept": s.kept,
                })
            })
            .collect()
    }
}

/// The number of schedules of each depth in the whole space: the elementary symmetric
/// polynomials of the positions' numbers of lower candidates (in f64: a 140-position space
/// has about 10^66 schedules at its widest depth).
fn candidates_by_depth(space: &Space) -> Vec<f64> {
    let mut e = vec![1.0];
    for i in 0..space.positions() {
        let m = (space.degrees_at(i).len() - 1) as f64;
        if m == 0.0 {
            continue;
        }
        e.push(0.0);
        for k in (1..e.len()).rev() {
            e[k] += e[k - 1] * m;
        }
    }
    e
}

/// A count as a JSON integer while f64 holds it exactly, else as a number.
fn count(x: f64) -> serde_json::Value {
    if x < 2f64.powi(53) {
        json!(x as u64)
    } else {
        json!(x)
    }
}

impl ScheduleSearch for Dfs {
    fn name(&self) -> &str {
        "dfs"
    }

    fn search(&mut self, ctx: &mut SearchContext) -> Result<serde_json::Value, SearchError> {
        self.config
            .validate()
            .map_err(|message| SearchError::Config {
                name: "dfs".into(),
                message,
            })?;
        let space = ctx.space().clone();
        let root = space.top();
        let root_correct = match ctx.evaluate(&root)? {
            Some(e) => e.correct,
            None => return Ok(json!({})),
        };
        let mut walk = Walk {
            ctx,
            config: self.config.clone(),
            space: space.clone(),
            root_correct,
            seen: HashMap::from([(root.clone(), Seen::Kept)]),
            kept: Vec::new(),
            stats: vec![DepthStats {
                judged: 1,
                judgements: 1,
                kept: 1,
            }],
        };
        let root = Node {
            schedule: root,
            correct: root_correct,
            depth: 0,
            seq: 0,
        };
        walk.kept.push(root.clone());
        let completed = walk.expand_all(root)?;
        let has_lowest = |s: &Schedule| {
            s.entries().iter().enumerate().any(|(i, c)| {
                let d = space.degrees_at(i);
                d.len() > 1 && *c == Approx::Degree(d[d.len() - 1])
            })
        };
        let mut details = json!({
            "completed": completed,
            "kept": walk.kept.len(),
            "kept_with_lowest_degree": walk.kept.iter().filter(|k| has_lowest(&k.schedule)).count(),
            "deepest_kept": walk.kept.iter().map(|k| k.depth).max().unwrap_or(0),
            "by_depth": walk.by_depth(),
            "kept_schedules": walk.kept.iter().map(|k| k.schedule.to_string()).collect::<Vec<_>>(),
        });
        if completed {
            let cap = match self.config.max_replacements {
                Some(c) => format!(" up to {c} replacements"),
                None => String::new(),
            };
            details["stopped"] = format!(
                "complete after {} judgements: every child of every kept schedule{cap} was judged",
                walk.ctx.judgements()
            )
            .into();
        }
        Ok(details)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recurrence::CellKind;

    #[test]
    fn candidates_per_depth_are_binomials_times_choices() {
        let space = Space::new(CellKind::SimpleRnn, 6, vec![vec![3, 7, 17]]);
        let binomial = [1.0, 6.0, 15.0, 20.0, 15.0, 6.0, 1.0];
        let want: Vec<f64> = (0..=6).map(|k| binomial[k] * 2f64.powi(k as i32)).collect();
        assert_eq!(candidates_by_depth(&space), want);
        assert_eq!(want.iter().sum::<f64>(), 729.0);
        // A position with a single candidate adds no depth: per step one position with one
        // lower candidate and one with two, so 2 x 3 schedules per step and 36 in all.
        let lstm = Space::new(
            CellKind::Lstm,
            2,
            vec![vec![17], vec![17], vec![7, 17], vec![3, 7, 17], vec![17]],
        );
        let by_depth = candidates_by_depth(&lstm);
        assert_eq!(by_depth, vec![1.0, 6.0, 13.0, 12.0, 4.0]);
        assert_eq!(by_depth.iter().sum::<f64>(), 36.0);
    }

    #[test]
    fn settings_are_checked_and_the_variants_parse() {
        let text = "strategy = \"dfs\"\ntolerance = { percent = 2.5 }\nanchor = \"root\"\nfloor = 0.5\nmax_replacements = 3\norder = \"best-first\"\nkept = \"closure\"\n";
        let c = match crate::search::StrategyConfig::from_toml("t", text).unwrap() {
            crate::search::StrategyConfig::Dfs(c) => c,
            other => panic!("{other:?}"),
        };
        assert_eq!(c.tolerance, Tolerance::Percent(2.5));
        assert_eq!(
            (c.anchor, c.max_replacements, c.order, c.kept),
            (Anchor::Root, Some(3), Order::BestFirst, KeptRule::Closure)
        );
        // A bad tolerance is refused naming the setting.
        for (tolerance, message) in [
            (
                "2.0",
                "invalid type: floating point `2.0`, expected tolerance = { points = P } or tolerance = { percent = Q }",
            ),
            (
                "{ points = 2.0, percent = 2.0 }",
                "tolerance must give exactly one of points and percent",
            ),
        ] {
            let text = include_str!("../../strategies/dfs.toml").replace(
                "tolerance = { points = 2.0 }",
                &format!("tolerance = {tolerance}"),
            );
            let e = crate::search::StrategyConfig::from_toml("t", &text).unwrap_err();
            assert_eq!(e.to_string(), format!("strategy preset t: {message}"));
        }
        let mut bad = DfsConfig::paper();
        bad.tolerance = Tolerance::Percent(f64::NAN);
        assert_eq!(
            bad.validate().unwrap_err(),
            "tolerance = { percent = NaN } must be a number in [0, 100]"
        );
        bad = DfsConfig::paper();
        bad.max_replacements = Some(0);
        assert!(
            bad.validate()
                .unwrap_err()
                .starts_with("max_replacements = 0")
        );
        // 2 % of 90 right is 1.8, so 1 may be lost; 2 points of 100 images are 2.
        assert_eq!(Tolerance::Percent(2.0).drop(90, 100), 1);
        assert_eq!(Tolerance::Points(2.0).drop(90, 100), 2);
    }
}
