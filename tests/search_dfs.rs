//! Every variant of the DFS (orders x tolerance kinds x anchors x replacement caps x kept
//! rules) against a brute-force definition on the small real problem (mnist-6x6: 6 steps,
//! 729 schedules, on the committed fixture); the order-independent rule keeps the same set in
//! every order; a budgeted run reports its coverage depth by depth.

use std::collections::{HashMap, HashSet, VecDeque};

use cellwise::cost;
use cellwise::data::load_fixture_splits;
use cellwise::model::load_weights;
use cellwise::oracle::{Candidates, Oracle, OracleConfig};
use cellwise::problem::Problem;
use cellwise::schedule::{Approx, Schedule};
use cellwise::search::dfs::{Anchor, DfsConfig, KeptRule, Order, Tolerance};
use cellwise::search::{Constraints, SearchContext, SearchOutcome, StrategyConfig};

/// The small problem and a validation oracle on the fixture.
fn small() -> (Problem, Oracle) {
    let problem = Problem::load("mnist-6x6").unwrap();
    let val = load_fixture_splits(&problem).unwrap().val;
    let c = Candidates::from_problem(&problem, None).unwrap();
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/mnist-6x6.safetensors");
    let w = load_weights(&path).unwrap();
    let oracle = Oracle::new(&w, &val, &c, &OracleConfig::default()).unwrap();
    (problem, oracle)
}

fn open() -> Constraints {
    Constraints {
        min_accuracy: 0.0,
        max_cost: f64::INFINITY,
        batch_safe: false,
    }
}

fn run(problem: &Problem, oracle: &Oracle, config: &DfsConfig, budget: usize) -> SearchOutcome {
    let model = cost::by_name("depth", problem).unwrap();
    oracle.clear_caches();
    let ctx = SearchContext::new(problem, oracle, model.as_ref(), open(), budget, 1).unwrap();
    ctx.run(StrategyConfig::Dfs(config.clone()).build().as_mut())
        .unwrap()
}

fn kept_list(problem: &Problem, out: &SearchOutcome) -> Vec<Schedule> {
    out.details["kept_schedules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| Schedule::parse(s.as_str().unwrap(), problem.shape()).unwrap())
        .collect()
}

/// The definitions, written plainly: full evaluations (memoised), no early exit, no budget.
struct Definition<'o> {
    oracle: &'o Oracle,
    config: DfsConfig,
    memo: HashMap<Schedule, usize>,
    root: Schedule,
    root_correct: usize,
}

impl<'o> Definition<'o> {
    fn new(oracle: &'o Oracle, config: &DfsConfig) -> Self {
        let root = oracle.space().top();
        let root_correct = oracle.evaluate(&root).unwrap().correct;
        Self {
            oracle,
            config: config.clone(),
            memo: HashMap::new(),
            root,
            root_correct,
        }
    }

    fn correct(&mut self, s: &Schedule) -> usize {
        if let Some(&c) = self.memo.get(s) {
            return c;
        }
        let c = self.oracle.evaluate(s).unwrap().correct;
        self.memo.insert(s.clone(), c);
        c
    }

    fn depth(&self, s: &Schedule) -> usize {
        s.entries()
            .iter()
            .zip(self.root.entries())
            .filter(|(a, b)| a != b)
            .count()
    }

    /// Correct answers a child of a parent with `parent_correct` right must reach.
    fn threshold(&self, parent_correct: usize) -> usize {
        let n = self.oracle.len() as f64;
        let reference = match self.config.anchor {
            Anchor::Parent => parent_correct,
            Anchor::Root => self.root_correct,
        };
        let drop = match self.config.tolerance {
            Tolerance::Points(p) => (p / 100.0 * n).floor() as usize,
            Tolerance::Percent(q) => (q / 100.0 * reference as f64).floor() as usize,
        };
        let floor = (self.config.floor * n).ceil() as usize;
        reference.saturating_sub(drop).max(floor)
    }

    /// The children of `s`, in position order, higher degrees first; none at the cap.
    fn children(&self, s: &Schedule) -> Vec<Schedule> {
        if let Some(cap) = self.config.max_replacements
            && self.depth(s) >= cap
        {
            return Vec::new();
        }
        let space = self.oracle.space();
        let mut out = Vec::new();
        for i in 0..space.positions() {
            let d = space.degrees_at(i);
            if s.entries()[i] == Approx::Degree(d[0]) {
                for &lower in &d[1..] {
                    out.push(s.with_entry(i, Approx::Degree(lower)));
                }
            }
        }
        out
    }

    /// First visit, depth-first: the kept schedules in the order they are kept.
    fn depth_first(&mut self) -> Vec<Schedule> {
        fn expand(
            def: &mut Definition,
            node: &Schedule,
            seen: &mut HashSet<Schedule>,
        ) -> Vec<Schedule> {
            let t = {
                let c = def.correct(node);
                def.threshold(c)
            };
            let mut kept = Vec::new();
            for child in def.children(node) {
                if !seen.insert(child.clone()) {
                    continue;
                }
                if def.correct(&child) >= t {
                    kept.push(child.clone());
                    kept.extend(expand(def, &child, seen));
                }
            }
            kept
        }
        let root = self.root.clone();
        let mut seen = HashSet::from([root.clone()]);
        let mut kept = vec![root.clone()];
        kept.extend(expand(self, &root, &mut seen));
        kept
    }

    /// First visit, breadth-first.
    fn breadth_first(&mut self) -> Vec<Schedule> {
        let mut seen = HashSet::from([self.root.clone()]);
        let mut kept = vec![self.root.clone()];
        let mut queue = VecDeque::from([self.root.clone()]);
        while let Some(node) = queue.pop_front() {
            let c = self.correct(&node);
            let t = self.threshold(c);
            for child in self.children(&node) {
                if seen.insert(child.clone()) && self.correct(&child) >= t {
                    kept.push(child.clone());
                    queue.push_back(child);
                }
            }
        }
        kept
    }

    /// First visit, best-first: the most accurate open schedule next, ties by kept first.
    fn best_first(&mut self) -> Vec<Schedule> {
        let mut seen = HashSet::from([self.root.clone()]);
        let mut kept = vec![self.root.clone()];
        let mut open: Vec<usize> = vec![0];
        while !open.is_empty() {
            let mut pick = 0;
            for k in 1..open.len() {
                let (a, b) = (
                    self.correct(&kept[open[k]]),
                    self.correct(&kept[open[pick]]),
                );
                if a > b || (a == b && open[k] < open[pick]) {
                    pick = k;
                }
            }
            let node = kept[open.swap_remove(pick)].clone();
            let c = self.correct(&node);
            let t = self.threshold(c);
            for child in self.children(&node) {
                if seen.insert(child.clone()) && self.correct(&child) >= t {
                    open.push(kept.len());
                    kept.push(child);
                }
            }
        }
        kept
    }

    /// The closure: a schedule is kept iff a chain of kept parents reaches it, each link
    /// within its parent's tolerance (a fixed point, no order).
    fn closure(&mut self) -> HashSet<Schedule> {
        let mut kept = HashSet::from([self.root.clone()]);
        loop {
            let mut grown = false;
            let parents: Vec<Schedule> = kept.iter().cloned().collect();
            for p in parents {
                let c = self.correct(&p);
                let t = self.threshold(c);
                for child in self.children(&p) {
                    if !kept.contains(&child) && self.correct(&child) >= t {
                        kept.insert(child);
                        grown = true;
                    }
                }
            }
            if !grown {
                return kept;
            }
        }
    }
}

/// C(6, k) * 2^k: the schedules of mnist-6x6 that lower exactly k steps.
fn candidates(k: usize) -> u64 {
    let binomial = [1, 6, 15, 20, 15, 6, 1];
    binomial[k] * (1 << k)
}

#[test]
fn every_dfs_variant_keeps_what_its_definition_keeps() {
    let (problem, oracle) = small();
    let n = oracle.len();
    assert!(n >= 50, "{n} validation images");
    // Wide tolerances so that the trees are deep on the fixture's 100 validation images (the
    // closure keeps 76 and 37 schedules with the parent anchor, 6 with the root's).
    let tolerances = [Tolerance::Points(15.0), Tolerance::Percent(20.0)];
    let mut closures: HashMap<String, HashSet<Schedule>> = HashMap::new();
    let mut order_dependent = 0;
    for tolerance in tolerances {
        for anchor in [Anchor::Parent, Anchor::Root] {
            for cap in [None, Some(2)] {
                let base = DfsConfig {
                    tolerance,
                    anchor,
                    max_replacements: cap,
                    ..DfsConfig::paper()
                };
                let closure = Definition::new(&oracle, &base).closure();
                assert!(closure.len() > 5, "{base:?}: {} kept", closure.len());
                for kept_rule in [KeptRule::FirstVisit, KeptRule::Closure] {
                    for order in [Order::DepthFirst, Order::BreadthFirst, Order::BestFirst] {
                        let config = DfsConfig {
                            order,
                            kept: kept_rule,
                            ..base.clone()
                        };
                        let label = format!("{config:?}");
                        let out = run(&problem, &oracle, &config, 1_000_000);
                        assert_eq!(out.details["completed"], true, "{label}");
                        assert!(!out.budget_exhausted, "{label}");
                        let why = out.stopped.clone().unwrap();
                        assert!(why.starts_with("complete after"), "{label}: {why}");
                        let got = kept_list(&problem, &out);
                        let set: HashSet<Schedule> = got.iter().cloned().collect();
                        assert_eq!(set.len(), got.len(), "{label}: a schedule kept twice");
                        let mut def = Definition::new(&oracle, &config);
                        if kept_rule == KeptRule::FirstVisit {
                            let want = match order {
                                Order::DepthFirst => def.depth_first(),
                                Order::BreadthFirst => def.breadth_first(),
                                Order::BestFirst => def.best_first(),
                            };
                            // The same schedules, kept in the same order.
                            assert_eq!(got, want, "{label}");
                            assert!(set.is_subset(&closure), "{label}");
                            if set != closure {
                                order_dependent += 1;
                                assert_eq!(anchor, Anchor::Parent, "{label}");
                            }
                        } else {
                            assert_eq!(set, closure, "{label}");
                            let key = format!("{tolerance:?} {anchor:?} {cap:?}");
                            let first = closures.entry(key).or_insert_with(|| set.clone());
                            assert_eq!(*first, set, "{label}: the closure depends on the order");
                        }
                        check_depths(&out, &set, &def, cap, &label);
                    }
                }
            }
        }
    }
    assert_eq!(closures.len(), 8);
    // On this problem the first-visit rule does lose schedules with the parent anchor.
    assert!(order_dependent > 0);
}

/// The per-depth coverage of a complete run: every reached child was judged, the counts
/// match the kept set, and the judgements add up.
fn check_depths(
    out: &SearchOutcome,
    kept: &HashSet<Schedule>,
    def: &Definition,
    cap: Option<usize>,
    label: &str,
) {
    let rows = out.details["by_depth"].as_array().unwrap();
    let deepest = kept.iter().map(|s| def.depth(s)).max().unwrap();
    assert_eq!(out.details["deepest_kept"], deepest, "{label}");
    assert_eq!(
        rows.len(),
        (deepest + 1).min(cap.unwrap_or(6)).min(6) + 1,
        "{label}"
    );
    let mut judgements = 0;
    for (k, row) in rows.iter().enumerate() {
        assert_eq!(row["replacements"], k, "{label}");
        assert_eq!(row["candidates"], candidates(k), "{label}");
        let kept_here = kept.iter().filter(|s| def.depth(s) == k).count();
        assert_eq!(row["kept"], kept_here, "{label} depth {k}");
        let reached: HashSet<Schedule> = if k == 0 {
            HashSet::from([def.root.clone()])
        } else {
            kept.iter()
                .filter(|s| def.depth(s) == k - 1)
                .flat_map(|s| def.children(s))
                .collect()
        };
        assert_eq!(row["reached"], reached.len(), "{label} depth {k}");
        assert_eq!(row["judged"], reached.len(), "{label} depth {k}");
        judgements += row["judgements"].as_u64().unwrap() as usize;
    }
    assert_eq!(judgements, out.judgements, "{label}");
}

#[test]
fn a_budgeted_run_reports_its_coverage_by_depth() {
    let (problem, oracle) = small();
    let wide = DfsConfig {
        tolerance: Tolerance::Points(15.0),
        kept: KeptRule::Closure,
        ..DfsConfig::paper()
    };
    for order in [Order::DepthFirst, Order::BreadthFirst, Order::BestFirst] {
        let config = DfsConfig {
            order,
            ..wide.clone()
        };
        let out = run(&problem, &oracle, &config, 40);
        assert!(out.budget_exhausted && out.stopped.is_none(), "{order:?}");
        assert_eq!(out.details["completed"], false, "{order:?}");
        let rows = out.details["by_depth"].as_array().unwrap();
        let field = |row: &serde_json::Value, key: &str| row[key].as_u64().unwrap();
        let total: u64 = rows.iter().map(|r| field(r, "judgements")).sum();
        assert_eq!(total, 40, "{order:?}");
        for row in rows {
            assert!(
                field(row, "kept") <= field(row, "judged"),
                "{order:?} {row}"
            );
            assert!(
                field(row, "judged") <= field(row, "reached"),
                "{order:?} {row}"
            );
            assert!(
                field(row, "reached") <= field(row, "candidates"),
                "{order:?} {row}"
            );
        }
        let judged_depths: Vec<usize> = (0..rows.len())
            .filter(|&k| field(&rows[k], "judged") > 0)
            .collect();
        let last = *judged_depths.last().unwrap();
        if order == Order::BreadthFirst {
            // Every depth above the last one judged was covered completely.
            for row in &rows[..last] {
                assert_eq!(field(row, "judged"), field(row, "reached"), "{row}");
            }
        }
        if order == Order::DepthFirst {
            // The paper's order dives: 40 judgements reach below depth 2 without covering
            // depth 1.
            assert!(last > 2, "{rows:?}");
            assert!(
                field(&rows[1], "judged") < field(&rows[1], "reached"),
                "{rows:?}"
            );
        }
    }
}

#[test]
fn the_shipped_dfs_presets_are_the_documented_variants() {
    let paper = match StrategyConfig::load("dfs").unwrap() {
        StrategyConfig::Dfs(c) => c,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        serde_json::to_value(&paper).unwrap(),
        serde_json::to_value(DfsConfig::paper()).unwrap()
    );
    for (name, order) in [
        ("dfs-bfs", Order::BreadthFirst),
        ("dfs-best", Order::BestFirst),
    ] {
        let StrategyConfig::Dfs(c) = StrategyConfig::load(name).unwrap() else {
            panic!("{name}");
        };
        assert_eq!((c.order, c.kept), (order, KeptRule::Closure), "{name}");
        assert_eq!(c.tolerance, Tolerance::Points(2.0), "{name}");
        assert!(!StrategyConfig::load(name).unwrap().is_seeded());
    }
}
