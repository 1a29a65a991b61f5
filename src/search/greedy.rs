//! Greedy descent: from every (slot, step) position at its highest candidate degree,
//! repeatedly take the single-position lowering (one position to its next lower candidate)
//! that loses the least validation accuracy per unit of cost saved, while the result stays
//! within the constraints. A lowering that saves nothing (a gated slot off the depth's
//! critical path, or a step within a bootstrap's levels) ranks after every one that saves;
//! among those the one that loses the least accuracy is taken (ties: the first position in
//! step-major order). The descent ends when no lowering stays within the constraints: it
//! does not restart, and its details say after how many judgements it converged.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{ScheduleSearch, SearchContext, SearchError};
use crate::oracle::Prefixes;
use crate::schedule::{Approx, Schedule};

/// Settings of the greedy search (`strategies/greedy.toml`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GreedyConfig {}

/// Greedy descent.
pub struct Greedy {
    path: Vec<Schedule>,
}

impl Greedy {
    /// A greedy search.
    pub fn new(_config: GreedyConfig) -> Self {
        Self { path: Vec::new() }
    }
}

impl ScheduleSearch for Greedy {
    fn name(&self) -> &str {
        "greedy"
    }

    fn search(&mut self, ctx: &mut SearchContext) -> Result<serde_json::Value, SearchError> {
        let space = ctx.space().clone();
        let mut current = space.top();
        let Some(e) = ctx.evaluate(&current)? else {
            return Ok(json!({}));
        };
        let (mut acc, mut cost) = (e.accuracy, ctx.cost.cost(&current)?);
        self.path.push(current.clone());
        loop {
            // (saves nothing, score, schedule, accuracy, cost) of the best move so far.
            let mut best: Option<(bool, f64, Schedule, f64, f64)> = None;
            // Every single-position lowering, judged as one batch (the same judgements in
            // the same order as one at a time).
            let children: Vec<Schedule> = (0..space.positions())
                .filter_map(|i| {
                    let Approx::Degree(d) = current.entries()[i] else {
                        return None;
                    };
                    let next = space.degrees_at(i).iter().find(|&&x| x < d)?;
                    Some(current.with_entry(i, Approx::Degree(*next)))
                })
                .collect();
            let judged = ctx.evaluate_batch(&children, Prefixes::Keep)?;
            for (child, e) in children.into_iter().zip(judged) {
                let Some(e) = e else {
                    return Ok(self.summary(false));
                };
                let child_cost = ctx.cost.cost(&child)?;
                if !ctx.constraints.admit(&e, child_cost) {
                    continue;
                }
                // Accuracy lost per unit of cost saved; a move that saves nothing ranks last,
                // by the accuracy it loses.
                let saved = cost - child_cost;
                let idle = saved <= 0.0;
                let score = if idle {
                    acc - e.accuracy
                } else {
                    (acc - e.accuracy) / saved
                };
                if best.as_ref().is_none_or(|b| (idle, score) < (b.0, b.1)) {
                    best = Some((idle, score, child, e.accuracy, child_cost));
                }
            }
            let Some((_, _, next, a, c)) = best else {
                let mut summary = self.summary(true);
                summary["stopped"] = format!(
                    "converged after {} judgements: no single lowering of `{current}` stays within the constraints",
                    ctx.judgements()
                )
                .into();
                return Ok(summary);
            };
            (current, acc, cost) = (next, a, c);
            self.path.push(current.clone());
        }
    }
}

impl Greedy {
    fn summary(&self, completed: bool) -> serde_json::Value {
        json!({
            "completed": completed,
            "path": self.path.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        })
    }
}
