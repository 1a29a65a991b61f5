//! The knapsack baseline of Lee et al.-style dynamic programming (preset `dp`; the level- and
//! bootstrap-aware programme is [`super::dp_levels`]). Each (slot, step) position's
//! sensitivity to each lower candidate degree is measured with the oracle (the accuracy lost
//! when only that position is lowered from the all-highest schedule), and so is the cost it
//! saves. Assuming
//! both add up over positions, the schedule that loses the least accuracy for a required
//! saving is a multiple-choice knapsack, solved exactly by dynamic programming over the saving
//! in integer units. The picks for a sweep of cost budgets are then verified with the real
//! oracle, and the budget is tightened by bisection between the cheapest verified pick that
//! meets the minimum accuracy and the next budget that failed. Proxy and real figures are
//! reported side by side. The search then ends (it does not refine further) and its details
//! say after how many judgements it converged.
//!
//! Savings add up exactly for a SimpleRNN under `depth` (one slot per step, depths add). In a
//! gated cell the depth is a maximum over parallel paths: lowering one slot alone saves
//! nothing where a parallel path stays as deep (GRU's z, for one), so the proxy sees no
//! saving there and the knapsack lowers only positions that shorten the critical path alone.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{ScheduleSearch, SearchContext, SearchError};
use crate::schedule::Approx;

/// Settings of the DP search (`strategies/dp.toml`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DpConfig {
    /// Integer units the largest possible saving is divided into (the knapsack's
    /// resolution), 1 to 100,000.
    pub resolution: usize,
    /// Cost budgets swept evenly between the all-highest and the all-lowest schedule, 1 to
    /// 10,000.
    pub budgets: usize,
    /// Bisection steps that tighten the budget after the sweep, 0 to 64.
    pub tighten_steps: usize,
}

impl DpConfig {
    /// Checks every setting against its range; the error names the setting. The knapsack
    /// keeps (resolution + 1) states per cell, so the resolution bounds its memory (100,000
    /// units: a few tens of MB for 28 cells); 64 bisection steps exhaust any resolution.
    pub fn validate(&self) -> Result<(), String> {
        for (name, value, lo, hi) in [
            ("resolution", self.resolution, 1, 100_000),
            ("budgets", self.budgets, 1, 10_000),
            ("tighten_steps", self.tighten_steps, 0, 64),
        ] {
            if !(lo..=hi).contains(&value) {
                return Err(format!("{name} = {value} must be in {lo}..={hi}"));
            }
        }
        Ok(())
    }
}

/// Sensitivity-and-knapsack search.
pub struct Dp {
    config: DpConfig,
}

impl Dp {
    /// A DP search.
    pub fn new(config: DpConfig) -> Self {
        Self { config }
    }
}

/// One option of one position: the degree index (into its candidates, highest first), the
/// accuracy it loses and the cost it saves when alone.
#[derive(Clone, Copy, Debug)]
struct Choice {
    degree: usize,
    loss: f64,
    saving: f64,
}

/// Exact multiple-choice knapsack: per position one option (option 0 = keep the highest
/// degree: no loss, no saving), total saving in units >= `need`, least total loss. Returns the
/// option index per position, or `None` if the saving cannot be reached.
fn knapsack(options: &[Vec<(usize, f64)>], need: usize) -> Option<Vec<usize>> {
    // best[j] = least loss with saving units >= j (capped at need) over the cells so far;
    // back[c][j] = (option, previous state) that reached state j after cell c.
    let inf = f64::INFINITY;
    let mut best = vec![inf; need + 1];
    best[0] = 0.0;
    let mut back: Vec<Vec<(usize, usize)>> = Vec::with_capacity(options.len());
    for cell in options {
        let mut next = vec![inf; need + 1];
        let mut from = vec![(0usize, 0usize); need + 1];
        for (j, &b) in best.iter().enumerate() {
            if b == inf {
                continue;
            }
            for (o, &(units, loss)) in cell.iter().enumerate() {
                let k = (j + units).min(need);
                if b + loss < next[k] {
                    next[k] = b + loss;
                    from[k] = (o, j);
                }
            }
        }
        back.push(from);
        best = next;
    }
    if best[need] == inf {
        return None;
    }
    let mut out = vec![0usize; options.len()];
    let mut j = need;
    for c in (0..options.len()).rev() {
        let (o, prev) = back[c][j];
        out[c] = o;
        j = prev;
    }
    Some(out)
}

impl ScheduleSearch for Dp {
    fn name(&self) -> &str {
        "dp"
    }

    fn search(&mut self, ctx: &mut SearchContext) -> Result<serde_json::Value, SearchError> {
        let cfg = self.config.clone();
        cfg.validate().map_err(|message| SearchError::Config {
            name: "dp".into(),
            message,
        })?;
        let space = ctx.space().clone();
        let top = space.top();
        let cells = space.positions();
        let Some(e) = ctx.evaluate(&top)? else {
            return Ok(json!({}));
        };
        let (acc0, cost0) = (e.accuracy, ctx.cost.cost(&top)?);
        // Sensitivities: one evaluation per (position, lower degree).
        let mut choices: Vec<Vec<Choice>> = Vec::with_capacity(cells);
        for cell in 0..cells {
            let mut row = vec![Choice {
                degree: 0,
                loss: 0.0,
                saving: 0.0,
            }];
            for (d, &deg) in space.degrees_at(cell).iter().enumerate().skip(1) {
                let s = top.with_entry(cell, Approx::Degree(deg));
                let Some(e) = ctx.evaluate(&s)? else {
                    return Ok(json!({ "stopped": "budget spent while measuring sensitivities" }));
                };
                row.push(Choice {
                    degree: d,
                    loss: (acc0 - e.accuracy).max(0.0),
                    saving: (cost0 - ctx.cost.cost(&s)?).max(0.0),
                });
            }
            choices.push(row);
        }
        let max_saving: f64 = choices
            .iter()
            .map(|r| r.iter().map(|c| c.saving).fold(0.0, f64::max))
            .sum();
        if max_saving <= 0.0 {
            return Ok(json!({ "stopped": "no cell lowering saves cost" }));
        }
        let unit = max_saving / cfg.resolution as f64;
        // Savings are rounded down: the knapsack never promises more than the proxy gives.
        let options: Vec<Vec<(usize, f64)>> = choices
            .iter()
            .map(|r| {
                r.iter()
                    .map(|c| ((c.saving / unit).floor() as usize, c.loss))
                    .collect()
            })
            .collect();
        let schedule_of = |picks: &[usize]| {
            let choice: Vec<usize> = picks
                .iter()
                .enumerate()
                .map(|(cell, &o)| choices[cell][o].degree)
                .collect();
            space.from_choices(&choice)
        };
        let mut verified = Vec::new();
        let constraints = ctx.constraints.clone();
        let mut verify = |ctx: &mut SearchContext,
                          need: usize|
         -> Result<Option<bool>, SearchError> {
            let Some(picks) = knapsack(&options, need) else {
                return Ok(Some(false));
            };
            let s = schedule_of(&picks);
            let proxy_loss: f64 = picks
                .iter()
                .enumerate()
                .map(|(c, &o)| choices[c][o].loss)
                .sum();
            let proxy_saving: f64 = picks
                .iter()
                .enumerate()
                .map(|(c, &o)| choices[c][o].saving)
                .sum();
            let Some(e) = ctx.evaluate(&s)? else {
                return Ok(None);
            };
            let cost = ctx.cost.cost(&s)?;
            verified.push(json!({
                "schedule": s.to_string(),
                "required_saving": need as f64 * unit,
            "required_units": need,
                "proxy_accuracy": acc0 - proxy_loss,
                "real_accuracy": e.accuracy,
                "proxy_cost": cost0 - proxy_saving,
                "real_cost": cost,
            }));
            Ok(Some(
                e.accuracy >= constraints.min_accuracy && constraints.safe_enough(e.unsafe_images),
            ))
        };
        // Sweep, then bisect between the largest saving that verified and the next that failed.
        let mut ok_need = 0usize;
        let mut bad_need: Option<usize> = None;
        for b in 1..=cfg.budgets {
            let need = cfg.resolution * b / cfg.budgets;
            match verify(ctx, need)? {
                None => return Ok(json!({ "verified": verified, "stopped": "budget spent" })),
                Some(true) => ok_need = need,
                Some(false) => {
                    bad_need = Some(need);
                    break;
                }
            }
        }
        let mut steps = 0;
        let mut spent = false;
        while let Some(bad) = bad_need {
            if steps == cfg.tighten_steps || bad <= ok_need + 1 {
                break;
            }
            let mid = (ok_need + bad) / 2;
            match verify(ctx, mid)? {
                None => {
                    spent = true;
                    break;
                }
                Some(true) => ok_need = mid,
                Some(false) => bad_need = Some(mid),
            }
            steps += 1;
        }
        // One entry per (position, lower degree): `cell` (the step) for one-slot cells,
        // `slot` and `step` otherwise.
        let space = &space;
        let sensitivities: Vec<serde_json::Value> = choices
            .iter()
            .enumerate()
            .flat_map(|(i, row)| {
                row.iter().skip(1).map(move |c| {
                    let mut entry = json!({ "degree": space.degrees_at(i)[c.degree], "loss": c.loss,
                            "saving": c.saving, "units": (c.saving / unit).floor() });
                    if space.slots() == 1 {
                        entry["cell"] = i.into();
                    } else {
                        entry["slot"] = space.cell.cell().slots[space.slot_of(i)].name.into();
                        entry["step"] = (i / space.slots()).into();
                    }
                    entry
                })
            })
            .collect();
        let mut details = json!({
            "sensitivities": sensitivities,
            "all_highest_accuracy": acc0,
            "all_highest_cost": cost0,
            "saving_unit": unit,
            "best_verified_saving": ok_need as f64 * unit,
            "verified": verified,
        });
        if !spent {
            let end = match bad_need {
                Some(bad) => format!(
                    "the bisection between savings {} (verified) and {} (failed) ended",
                    ok_need as f64 * unit,
                    bad as f64 * unit
                ),
                None => "every swept budget verified".to_string(),
            };
            details["stopped"] =
                format!("converged after {} judgements: {end}", ctx.judgements()).into();
        }
        Ok(details)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Brute force over every combination of options.
    fn brute(options: &[Vec<(usize, f64)>], need: usize) -> Option<f64> {
        let mut best: Option<f64> = None;
        let mut idx = vec![0usize; options.len()];
        loop {
            let units: usize = idx.iter().zip(options).map(|(&i, o)| o[i].0).sum();
            let loss: f64 = idx.iter().zip(options).map(|(&i, o)| o[i].1).sum();
            if units >= need && best.is_none_or(|b| loss < b) {
                best = Some(loss);
            }
            let mut c = 0;
            loop {
                if c == options.len() {
                    return best;
                }
                idx[c] += 1;
                if idx[c] < options[c].len() {
                    break;
                }
                idx[c] = 0;
                c += 1;
            }
        }
    }

    #[test]
    fn knapsack_is_exact() {
        let options = vec![
            vec![(0, 0.0), (3, 0.010), (5, 0.030)],
            vec![(0, 0.0), (2, 0.001), (6, 0.050)],
            vec![(0, 0.0), (4, 0.004), (7, 0.020)],
            vec![(0, 0.0), (1, 0.0), (2, 0.002)],
        ];
        for need in 0..=20 {
            let got = knapsack(&options, need).map(|p| {
                p.iter()
                    .enumerate()
                    .map(|(c, &o)| options[c][o].1)
                    .sum::<f64>()
            });
            let want = brute(&options, need);
            match (got, want) {
                (Some(g), Some(w)) => assert!((g - w).abs() < 1e-12, "need {need}: {g} vs {w}"),
                (None, None) => {}
                other => panic!("need {need}: {other:?}"),
            }
            if let Some(p) = knapsack(&options, need) {
                let units: usize = p.iter().enumerate().map(|(c, &o)| options[c][o].0).sum();
                assert!(units >= need);
            }
        }
    }
}
