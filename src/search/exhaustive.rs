//! Exhaustive enumeration, the ground truth on small problems.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{ScheduleSearch, SearchContext, SearchError};

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
        loop {
            let s = space.from_choices(&digits);
            if ctx.evaluate(&s)?.is_none() {
                return Ok(json!({ "completed": false, "enumerated": count }));
            }
            count += 1;
            // Next index vector (odometer, last position fastest).
            let mut i = positions;
            loop {
                if i == 0 {
                    return Ok(json!({
                        "completed": true,
                        "enumerated": count,
                        "stopped": format!("every one of the {count} schedules was evaluated"),
                    }));
                }
                i -= 1;
                digits[i] += 1;
                if digits[i] < space.degrees_at(i).len() {
                    break;
                }
                digits[i] = 0;
            }
        }
    }
}
