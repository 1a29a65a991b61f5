//! Simulated annealing over schedules: a move changes one random (slot, step) position to
//! another of its candidate degrees (a drawn position with a single candidate is skipped);
//! the energy is the cost plus a penalty per accuracy point below the minimum (a schedule
//! that breaks required batch safety is charged as if it had lost every point); worse moves
//! are taken with probability exp(-delta / temperature), the temperature falling
//! geometrically over the budget.

use rand::rngs::ChaCha20Rng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Judged, ScheduleSearch, SearchContext, SearchError};
use crate::schedule::{Approx, Schedule};

/// Settings of the annealing (`strategies/anneal.toml`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AnnealConfig {
    /// Starting temperature, in energy units (the cost model's unit), in (0, 1e9].
    pub initial_temperature: f64,
    /// Final temperature, reached when the budget is spent, in (0, initial_temperature].
    pub final_temperature: f64,
    /// Energy added per accuracy point below the minimum accuracy, in [0, 1e9].
    pub penalty_per_point: f64,
}

/// The largest temperature and penalty: costs are at most thousands of units (seconds,
/// levels), so 1e9 is far beyond any useful setting while energies stay finite.
const MAX_SETTING: f64 = 1e9;

impl AnnealConfig {
    /// Checks every setting (finite and in range); the error names the setting.
    pub fn validate(&self) -> Result<(), String> {
        for (name, t) in [
            ("initial_temperature", self.initial_temperature),
            ("final_temperature", self.final_temperature),
        ] {
            if !(t > 0.0 && t <= MAX_SETTING) {
                return Err(format!(
                    "{name} = {t} must be a finite number in (0, {MAX_SETTING:e}]"
                ));
            }
        }
        if self.final_temperature > self.initial_temperature {
            return Err(format!(
                "final_temperature = {} must not exceed initial_temperature = {}",
                self.final_temperature, self.initial_temperature
            ));
        }
        if !(0.0..=MAX_SETTING).contains(&self.penalty_per_point) {
            return Err(format!(
                "penalty_per_point = {} must be a finite number in [0, {MAX_SETTING:e}]",
                self.penalty_per_point
            ));
        }
        Ok(())
    }
}

/// Simulated annealing.
pub struct Anneal {
    config: AnnealConfig,
}

impl Anneal {
    /// An annealing search with these settings.
    pub fn new(config: AnnealConfig) -> Self {
        Self { config }
    }

    fn energy(&self, ctx: &SearchContext, cost: f64, judged: &Judged) -> f64 {
        let shortfall = if ctx.constraints.safe_enough(judged.unsafe_images) {
            (ctx.constraints.min_accuracy - judged.accuracy).max(0.0) * 100.0
        } else {
            100.0
        };
        cost + self.config.penalty_per_point * shortfall
    }
}

impl ScheduleSearch for Anneal {
    fn name(&self) -> &str {
        "anneal"
    }

    fn search(&mut self, ctx: &mut SearchContext) -> Result<serde_json::Value, SearchError> {
        let c = &self.config;
        c.validate().map_err(|message| SearchError::Config {
            name: "anneal".into(),
            message,
        })?;
        let mut rng = ChaCha20Rng::seed_from_u64(ctx.seed);
        let space = ctx.space().clone();
        let movable = (0..space.positions()).any(|i| space.degrees_at(i).len() > 1);
        let total = ctx.remaining().max(1) as f64;
        let mut current = space.top();
        let Some(e) = ctx.evaluate(&current)? else {
            return Ok(json!({}));
        };
        let mut energy = self.energy(ctx, ctx.cost.cost(&current)?, &e);
        let (mut best, mut best_energy, mut accepted) = (current.clone(), energy, 0usize);
        while ctx.remaining() > 0 && movable {
            let step = 1.0 - ctx.remaining() as f64 / total;
            let temperature =
                c.initial_temperature * (c.final_temperature / c.initial_temperature).powf(step);
            let i = rng.random_range(0..space.positions());
            let Approx::Degree(d) = current.entries()[i] else {
                continue;
            };
            let others: Vec<usize> = space
                .degrees_at(i)
                .iter()
                .copied()
                .filter(|&x| x != d)
                .collect();
            if others.is_empty() {
                continue;
            }
            let next: Schedule =
                current.with_entry(i, Approx::Degree(others[rng.random_range(0..others.len())]));
            let Some(e) = ctx.evaluate(&next)? else {
                break;
            };
            let candidate = self.energy(ctx, ctx.cost.cost(&next)?, &e);
            let delta = candidate - energy;
            if delta <= 0.0 || rng.random::<f64>() < (-delta / temperature).exp() {
                (current, energy) = (next, candidate);
                accepted += 1;
                if energy < best_energy {
                    (best, best_energy) = (current.clone(), energy);
                }
            }
        }
        let mut details = json!({ "best": best.to_string(), "best_energy": best_energy, "accepted_moves": accepted });
        if !movable {
            details["stopped"] = "no position has a second candidate degree to move to".into();
        }
        Ok(details)
    }
}
