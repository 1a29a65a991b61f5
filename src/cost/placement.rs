//! Bootstrap placement over a chain of segments.
//!
//! The chain starts at `start` levels (a fresh ciphertext); segment i consumes `depths[i]`
//! levels and costs `cost(i, level)` when it starts at `level` (cheaper at lower levels:
//! fewer RNS limbs). A bootstrap, allowed right before the segments marked so, costs
//! `bootstrap_cost` and brings the ciphertext back to `top` levels.
//!
//! - [`greedy`] bootstraps only when the levels left do not cover the segments up to the
//!   next point where a bootstrap is allowed (the usual "bootstrap when the next step does
//!   not fit"). It minimises the number of bootstraps, not the latency.
//! - [`optimal`] is a shortest path over (segment, level) states, as Orion places
//!   bootstraps between layers: with per-level costs it may bootstrap earlier than needed
//!   when running the following segments at higher levels is cheaper overall.

use super::CostError;

/// The most levels between bootstraps a cost model accepts (`--levels`, a profile's
/// `params.levels`). No 128-bit CKKS parameter set of the engine's ring degrees
/// (N <= 2^16, log2 QP <= 1772) has more than about 70 levels of primes of 25 bits or more,
/// so 100 leaves room for what-if pricing; planning the circuit costs time linear in the
/// levels (0.25 s at 100, minutes at 5,000), and the optimal placement stores a level in a
/// byte. Larger values are refused before any work.
pub const MAX_LEVELS: usize = 100;

/// The error for a level count outside 1..=[`MAX_LEVELS`].
pub fn levels_out_of_range(levels: usize) -> CostError {
    CostError::Plan(format!(
        "{levels} levels between bootstraps is out of range (1 to {MAX_LEVELS})"
    ))
}

/// The inputs of a placement problem, with the segment cost function `F`.
pub struct Chain<'a, F: Fn(usize, usize) -> f64> {
    /// Levels available after a bootstrap.
    pub top: usize,
    /// Levels of the ciphertext before the first segment (a fresh encryption).
    pub start: usize,
    /// Levels each segment consumes.
    pub depths: &'a [usize],
    /// Whether a bootstrap may run right before each segment.
    pub allowed: &'a [bool],
    /// Cost of one bootstrap.
    pub bootstrap_cost: f64,
    /// Cost of segment i when it starts at a level.
    pub cost: F,
}

/// Where the bootstraps go and what the chain then costs.
#[derive(Clone, Debug, PartialEq)]
pub struct Placement {
    /// True if a bootstrap runs right before segment i.
    pub bootstrap_before: Vec<bool>,
    /// Level at which segment i starts (after its bootstrap, if any).
    pub levels_in: Vec<usize>,
    /// Level left after the last segment.
    pub level_out: usize,
    /// Number of bootstraps.
    pub bootstraps: usize,
    /// Total cost: segments plus bootstraps.
    pub cost: f64,
}

fn check<F: Fn(usize, usize) -> f64>(chain: &Chain<'_, F>) -> Result<(), CostError> {
    assert_eq!(
        chain.depths.len(),
        chain.allowed.len(),
        "one bootstrap flag per segment (invariant of the callers)"
    );
    // Levels are small (tens); the DP stores them in a byte.
    if chain.top == 0 || chain.top > MAX_LEVELS {
        return Err(levels_out_of_range(chain.top));
    }
    if chain.start > chain.top {
        return Err(CostError::Plan(format!(
            "a fresh ciphertext's {} levels exceed the {} a bootstrap gives",
            chain.start, chain.top
        )));
    }
    for (i, &d) in chain.depths.iter().enumerate() {
        if d > chain.top {
            return Err(CostError::TooDeep {
                what: format!("segment {i}"),
                needed: d,
                available: chain.top,
            });
        }
    }
    Ok(())
}

fn infeasible(i: usize, top: usize) -> CostError {
    CostError::TooDeep {
        what: format!("the segments from {i} to the next bootstrap point"),
        needed: top + 1,
        available: top,
    }
}

/// Bootstraps only when the levels left do not cover the segments up to the next point
/// where a bootstrap is allowed.
pub fn greedy<F: Fn(usize, usize) -> f64>(chain: &Chain<'_, F>) -> Result<Placement, CostError> {
    check(chain)?;
    let n = chain.depths.len();
    let mut placement = Placement {
        bootstrap_before: vec![false; n],
        levels_in: vec![0; n],
        level_out: 0,
        bootstraps: 0,
        cost: 0.0,
    };
    let mut level = chain.start;
    for i in 0..n {
        if chain.allowed[i] {
            let group: usize = chain.depths[i]
                + (i + 1..n)
                    .take_while(|&j| !chain.allowed[j])
                    .map(|j| chain.depths[j])
                    .sum::<usize>();
            if group > chain.top {
                return Err(infeasible(i, chain.top));
            }
            if level < group {
                placement.bootstrap_before[i] = true;
                placement.bootstraps += 1;
                placement.cost += chain.bootstrap_cost;
                level = chain.top;
            }
        } else if level < chain.depths[i] {
            return Err(infeasible(i, chain.top));
        }
        placement.levels_in[i] = level;
        placement.cost += (chain.cost)(i, level);
        level -= chain.depths[i];
    }
    placement.level_out = level;
    Ok(placement)
}

/// How a DP state was reached: the level before the segment, and whether a bootstrap ran.
#[derive(Clone, Copy)]
struct Back {
    from: u8,
    booted: bool,
}

/// A DP value: the cost, then the sum of (segments - i) over the bootstraps placed before
/// segment i. The second key breaks exact ties (count models, where every segment is free)
/// towards bootstrapping as late as possible: among placements with the fewest bootstraps,
/// greedy's k-th bootstrap is at least as late as any other's, so it alone minimises the key.
type Value = (f64, usize);

const UNREACHED: Value = (f64::INFINITY, usize::MAX);

fn better(a: Value, b: Value) -> bool {
    a.0 < b.0 || (a.0 == b.0 && a.1 < b.1)
}

/// The cheapest placement: a shortest path over (segment, level) states. Exact ties prefer
/// bootstrapping later.
pub fn optimal<F: Fn(usize, usize) -> f64>(chain: &Chain<'_, F>) -> Result<Placement, CostError> {
    check(chain)?;
    let n = chain.depths.len();
    let width = chain.top + 1;
    let mut best = vec![UNREACHED; width];
    let mut next = vec![UNREACHED; width];
    let mut back = vec![
        Back {
            from: 0,
            booted: false
        };
        n * width
    ];
    best[chain.start] = (0.0, 0);
    let argmin = |values: &[Value]| {
        values.iter().enumerate().fold(
            (0, UNREACHED),
            |acc, (l, &v)| if better(v, acc.1) { (l, v) } else { acc },
        )
    };
    for i in 0..n {
        let d = chain.depths[i];
        next.fill(UNREACHED);
        let row = &mut back[i * width..(i + 1) * width];
        for level in d..width {
            if best[level].0.is_finite() {
                let v = (best[level].0 + (chain.cost)(i, level), best[level].1);
                if better(v, next[level - d]) {
                    next[level - d] = v;
                    row[level - d] = Back {
                        from: level as u8,
                        booted: false,
                    };
                }
            }
        }
        if chain.allowed[i] {
            let (from, cheapest) = argmin(&best);
            if cheapest.0.is_finite() {
                let v = (
                    cheapest.0 + chain.bootstrap_cost + (chain.cost)(i, chain.top),
                    cheapest.1 + (n - i),
                );
                if better(v, next[chain.top - d]) {
                    next[chain.top - d] = v;
                    row[chain.top - d] = Back {
                        from: from as u8,
                        booted: true,
                    };
                }
            }
        }
        std::mem::swap(&mut best, &mut next);
    }
    let (level_out, (cost, _)) = argmin(&best);
    if !cost.is_finite() {
        return Err(infeasible(0, chain.top));
    }
    let mut placement = Placement {
        bootstrap_before: vec![false; n],
        levels_in: vec![0; n],
        level_out,
        bootstraps: 0,
        cost,
    };
    let mut level = level_out;
    for i in (0..n).rev() {
        let b = back[i * width + level];
        placement.bootstrap_before[i] = b.booted;
        placement.levels_in[i] = level + chain.depths[i];
        placement.bootstraps += usize::from(b.booted);
        level = b.from as usize;
    }
    Ok(placement)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every subset of the allowed bootstrap points, priced; the cheapest feasible one.
    fn brute_force<F: Fn(usize, usize) -> f64>(chain: &Chain<'_, F>) -> Option<f64> {
        let points: Vec<usize> = (0..chain.depths.len())
            .filter(|&i| chain.allowed[i])
            .collect();
        let mut best: Option<f64> = None;
        for mask in 0u32..(1 << points.len()) {
            let mut level = chain.start;
            let mut cost = 0.0;
            let mut feasible = true;
            for (i, &d) in chain.depths.iter().enumerate() {
                if let Some(k) = points.iter().position(|&p| p == i)
                    && mask & (1 << k) != 0
                {
                    level = chain.top;
                    cost += chain.bootstrap_cost;
                }
                if level < d {
                    feasible = false;
                    break;
                }
                cost += (chain.cost)(i, level);
                level -= d;
            }
            if feasible {
                best = Some(best.map_or(cost, |b: f64| b.min(cost)));
            }
        }
        best
    }

    /// Re-prices a placement from scratch, checking its levels.
    fn replay<F: Fn(usize, usize) -> f64>(chain: &Chain<'_, F>, p: &Placement) -> f64 {
        let mut level = chain.start;
        let mut cost = 0.0;
        for (i, &d) in chain.depths.iter().enumerate() {
            if p.bootstrap_before[i] {
                assert!(chain.allowed[i]);
                level = chain.top;
                cost += chain.bootstrap_cost;
            }
            assert_eq!(p.levels_in[i], level);
            assert!(level >= d);
            cost += (chain.cost)(i, level);
            level -= d;
        }
        assert_eq!(p.level_out, level);
        assert_eq!(
            p.bootstraps,
            p.bootstrap_before.iter().filter(|&&b| b).count()
        );
        cost
    }

    /// A random segment: depth, bootstrap allowed before it, cost base and slope per level.
    type RandomSegment = (usize, bool, f64, f64);

    fn chain_strategy() -> impl Strategy<Value = (usize, Vec<RandomSegment>, f64)> {
        (3usize..8).prop_flat_map(|top| {
            (
                Just(top),
                prop::collection::vec((1..=top, any::<bool>(), 0.0..5.0f64, 0.0..2.0f64), 1..10),
                0.0..20.0f64,
            )
        })
    }

    proptest! {
        #[test]
        fn optimal_equals_brute_force_and_beats_greedy((top, segs, boot) in chain_strategy()) {
            let depths: Vec<usize> = segs.iter().map(|s| s.0).collect();
            let mut allowed: Vec<bool> = segs.iter().map(|s| s.1).collect();
            allowed[0] = true;
            // Cost grows with the level (more limbs), with a per-segment base and slope.
            let cost = |i: usize, level: usize| segs[i].2 + segs[i].3 * level as f64;
            let chain = Chain { top, start: top, depths: &depths, allowed: &allowed,
                                bootstrap_cost: boot, cost };
            match brute_force(&chain) {
                None => {
                    prop_assert!(optimal(&chain).is_err());
                    prop_assert!(greedy(&chain).is_err());
                }
                Some(truth) => {
                    let opt = optimal(&chain).unwrap();
                    prop_assert!((opt.cost - truth).abs() < 1e-9, "{} vs {}", opt.cost, truth);
                    prop_assert!((replay(&chain, &opt) - opt.cost).abs() < 1e-9);
                    let gr = greedy(&chain).unwrap();
                    prop_assert!((replay(&chain, &gr) - gr.cost).abs() < 1e-9);
                    prop_assert!(opt.cost <= gr.cost + 1e-9);
                    // With free segments and unit bootstraps, greedy needs the fewest.
                    let count = Chain { top, start: top, depths: &depths, allowed: &allowed,
                                        bootstrap_cost: 1.0, cost: |_: usize, _: usize| 0.0 };
                    prop_assert_eq!(greedy(&count).unwrap().bootstraps as f64,
                                    optimal(&count).unwrap().cost);
                    // Ties break towards late bootstraps: exactly greedy's placement.
                    prop_assert_eq!(greedy(&count).unwrap(), optimal(&count).unwrap());
                }
            }
        }
    }

    #[test]
    fn early_bootstrap_pays_when_low_levels_are_dear() {
        // Two segments of depth 2 from 4 levels: greedy runs both without bootstrapping.
        // If running at level 2 is very expensive, the optimum bootstraps before the second.
        let depths = [2, 2];
        let allowed = [true, true];
        let chain = Chain {
            top: 4,
            start: 4,
            depths: &depths,
            allowed: &allowed,
            bootstrap_cost: 1.0,
            cost: |_: usize, level: usize| if level == 2 { 10.0 } else { 0.0 },
        };
        let g = greedy(&chain).unwrap();
        assert_eq!((g.bootstraps, g.cost), (0, 10.0));
        let o = optimal(&chain).unwrap();
        assert_eq!((o.bootstraps, o.cost), (1, 1.0));
        assert_eq!(o.bootstrap_before, [false, true]);
        assert_eq!(o.levels_in, [4, 4]);
        assert_eq!(o.level_out, 2);
    }

    #[test]
    fn impossible_chains_are_refused() {
        let depths = [3, 3];
        let allowed = [true, false];
        let chain = Chain {
            top: 5,
            start: 5,
            depths: &depths,
            allowed: &allowed,
            bootstrap_cost: 1.0,
            cost: |_: usize, _: usize| 0.0,
        };
        assert!(greedy(&chain).is_err());
        assert!(optimal(&chain).is_err());
        let deep = [6];
        let chain = Chain {
            depths: &deep,
            allowed: &[true],
            ..chain
        };
        let err = optimal(&chain).unwrap_err().to_string();
        assert!(err.contains("needs 6 levels but only 5"), "{err}");
    }
}
