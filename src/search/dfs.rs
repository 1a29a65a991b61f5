//! The paper's depth-first search.
//!
//! Start from every (slot, step) position at its highest candidate degree. A child lowers
//! one more position that is still at its highest degree to each of its lower candidates
//! (positions step-major, slots in the cell's order within a step, higher degrees first; a
//! position with a single candidate is never lowered); it is kept, and expanded in turn, if
//! its validation accuracy is within `tolerance_points` of its parent's (the paper's rule;
//! `anchor = "root"` measures from the all-highest schedule instead) and at least `floor`.
//! A schedule reached again by another path is not judged twice. For a SimpleRNN a position
//! is a step (the paper's cell).
//!
//! Summary: `kept_with_lowest_degree` counts the kept schedules with some position at its
//! own lowest candidate, `max_replacements` the most positions a kept schedule lowers.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{ScheduleSearch, SearchContext, SearchError};
use crate::schedule::{Approx, Schedule};

/// What a child's accuracy is compared with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Anchor {
    /// The parent's accuracy (the paper's rule).
    Parent,
    /// The all-highest-degree schedule's accuracy.
    Root,
}

/// Settings of the DFS (`strategies/dfs.toml`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DfsConfig {
    /// Allowed accuracy drop in percentage points, in [0, 100].
    pub tolerance_points: f64,
    /// What a child's accuracy is compared with.
    pub anchor: Anchor,
    /// Absolute minimum validation accuracy of a kept schedule, in [0, 1].
    pub floor: f64,
}

impl DfsConfig {
    /// Checks every numeric setting (finite and in range); the error names the setting.
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=100.0).contains(&self.tolerance_points) {
            return Err(format!(
                "tolerance_points = {} must be a number of points in [0, 100]",
                self.tolerance_points
            ));
        }
        if !(0.0..=1.0).contains(&self.floor) {
            return Err(format!(
                "floor = {} must be an accuracy in [0, 1]",
                self.floor
            ));
        }
        Ok(())
    }
}

/// The paper's DFS.
pub struct Dfs {
    config: DfsConfig,
    visited: HashSet<Schedule>,
    kept: Vec<Schedule>,
}

impl Dfs {
    /// A DFS with these settings.
    pub fn new(config: DfsConfig) -> Self {
        Self {
            config,
            visited: HashSet::new(),
            kept: Vec::new(),
        }
    }

    /// Expands `node` (fully evaluated, `correct` right); false once the budget is spent.
    fn expand(
        &mut self,
        ctx: &mut SearchContext,
        node: &Schedule,
        correct: usize,
        root_correct: usize,
    ) -> Result<bool, SearchError> {
        let n = ctx.oracle.len() as f64;
        let drop = (self.config.tolerance_points / 100.0 * n).floor() as usize;
        let reference = match self.config.anchor {
            Anchor::Parent => correct,
            Anchor::Root => root_correct,
        };
        let floor = (self.config.floor * n).ceil() as usize;
        let threshold = reference.saturating_sub(drop).max(floor);
        let space = ctx.space().clone();
        for i in 0..space.positions() {
            let degrees = space.degrees_at(i);
            if node.entries()[i] != Approx::Degree(degrees[0]) {
                continue;
            }
            for &d in &degrees[1..] {
                let child = node.with_entry(i, Approx::Degree(d));
                if !self.visited.insert(child.clone()) {
                    continue;
                }
                let Some(accepted) = ctx.accepts(&child, threshold)? else {
                    return Ok(false);
                };
                if !accepted {
                    continue;
                }
                let Some(e) = ctx.evaluate(&child)? else {
                    return Ok(false);
                };
                self.kept.push(child.clone());
                if !self.expand(ctx, &child, e.correct, root_correct)? {
                    return Ok(false);
                }
            }
        }
        Ok(true)
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
        self.visited.insert(root.clone());
        let root_correct = match ctx.evaluate(&root)? {
            Some(e) => e.correct,
            None => return Ok(json!({})),
        };
        self.kept.push(root.clone());
        let completed = self.expand(ctx, &root, root_correct, root_correct)?;
        let replacements = |s: &Schedule| {
            s.entries()
                .iter()
                .zip(root.entries())
                .filter(|(c, r)| c != r)
                .count()
        };
        let has_lowest = |s: &Schedule| {
            s.entries().iter().enumerate().any(|(i, c)| {
                let d = space.degrees_at(i);
                d.len() > 1 && *c == Approx::Degree(d[d.len() - 1])
            })
        };
        Ok(json!({
            "completed": completed,
            "kept": self.kept.len(),
            "kept_with_lowest_degree": self.kept.iter().filter(|s| has_lowest(s)).count(),
            "max_replacements": self.kept.iter().map(replacements).max().unwrap_or(0),
            "kept_schedules": self.kept.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        }))
    }
}
