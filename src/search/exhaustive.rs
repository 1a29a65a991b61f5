//! Exhaustive enumeration, the ground truth on small problems.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{ScheduleSearch, SearchContext, SearchError};
use crate::oracle::Prefixes;
use crate::schedule::Space;

/// Largest number of schedules enumerated.
pub const MAX_SCHEDULES: f64 = 1e6;

/// Settings of the exhaustive search (`strategies/exhaustive.toml`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExhaustiveConfig {}

/// Every schedule, in lexicographic order of the positions' candidate indices (step-major,
/// the last position fastest). Consecutive schedules share their longest possible prefix of
/// steps, so with a prefix state stored after every step
/// ([`super::StrategyConfig::oracle_config`]) the oracle computes each node of the prefix
/// tree about once: per image about `c (c^s - 1) / (c - 1)` steps for `c` candidates per
/// step over `s` steps instead of `s c^s` (3^11 schedules: 265,719 steps against 1,948,617).
pub struct Exhaustive;

impl Exhaustive {
    /// An exhaustive search.
    pub fn new(_config: ExhaustiveConfig) -> Self {
        Self
    }
}

impl ScheduleSearch for Exhaustive {
    fn name(&self) -> &str {
        "exhaustive"
    }

    fn search(&mut self, ctx: &mut SearchContext) -> Result<serde_json::Value, SearchError> {
        let space = ctx.space().clone();
        let positions = space.positions();
        let size: f64 = (0..positions)
            .map(|i| space.degrees_at(i).len() as f64)
            .product();
        if size > MAX_SCHEDULES {
            return Err(SearchError::Invalid(format!(
                "exhaustive: the candidates of {positions} (slot, step) positions make {size:.3e} schedules, more than the limit of {MAX_SCHEDULES:.0e}"
            )));
        }
        let mut digits = vec![0usize; positions];
        let mut count = 0usize;
        let mut wrapped = false;
        while !wrapped {
            // A block in lexicographic order, judged as one batch (the same judgements in the
            // same order as one at a time).
            let mut block = Vec::with_capacity(BLOCK);
            while block.len() < BLOCK && !wrapped {
                block.push(space.from_choices(&digits));
                wrapped = next_index(&mut digits, &space);
            }
            for judged in ctx.evaluate_batch(&block, Prefixes::Keep)? {
                if judged.is_none() {
                    return Ok(json!({ "completed": false, "enumerated": count }));
                }
                count += 1;
            }
        }
        Ok(json!({
            "completed": true,
            "enumerated": count,
            "stopped": format!("every one of the {count} schedules was evaluated"),
        }))
    }
}

/// Schedules enumerated and judged as one batch.
const BLOCK: usize = 256;

/// Advances the index vector (an odometer, last position fastest); true once it wraps
/// around past the last schedule.
fn next_index(digits: &mut [usize], space: &Space) -> bool {
    for i in (0..digits.len()).rev() {
        digits[i] += 1;
        if digits[i] < space.degrees_at(i).len() {
            return false;
        }
        digits[i] = 0;
    }
    true
}
