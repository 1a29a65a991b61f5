//! The budget-matched random baseline: schedules drawn uniformly (each (slot, step)
//! position's candidate independently, a seeded generator), each evaluated once.

use std::collections::HashSet;

use rand::rngs::ChaCha20Rng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{ScheduleSearch, SearchContext, SearchError};
use crate::oracle::Prefixes;

/// Schedules drawn and judged as one batch.
const BLOCK: usize = 1024;

/// Settings of the random search (`strategies/random.toml`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RandomConfig {}

/// Uniform random sampling.
pub struct RandomSearch;

impl RandomSearch {
    /// A random search.
    pub fn new(_config: RandomConfig) -> Self {
        Self
    }
}

impl ScheduleSearch for RandomSearch {
    fn name(&self) -> &str {
        "random"
    }

    fn search(&mut self, ctx: &mut SearchContext) -> Result<serde_json::Value, SearchError> {
        let mut rng = ChaCha20Rng::seed_from_u64(ctx.seed);
        let space = ctx.space().clone();
        let size: f64 = (0..space.positions())
            .map(|i| space.degrees_at(i).len() as f64)
            .product();
        let mut seen = HashSet::new();
        while ctx.remaining() > 0 && (seen.len() as f64) < size {
            // A block of new schedules, judged as one batch: the same draws and judgements
            // as one at a time, since every new schedule is judged while budget remains.
            let mut block = Vec::new();
            while block.len() < ctx.remaining().min(BLOCK) && (seen.len() as f64) < size {
                let choice: Vec<usize> = (0..space.positions())
                    .map(|i| rng.random_range(0..space.degrees_at(i).len()))
                    .collect();
                let s = space.from_choices(&choice);
                if seen.insert(s.clone()) {
                    block.push(s);
                }
            }
            ctx.evaluate_batch(&block, Prefixes::Keep)?;
        }
        let mut details = json!({ "sampled": seen.len() });
        if ctx.remaining() > 0 {
            details["stopped"] = format!(
                "every one of the {} schedules of the space was sampled",
                seen.len()
            )
            .into();
        }
        Ok(details)
    }
}
