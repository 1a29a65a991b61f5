//! Choosing one schedule from a search's finalists on images the search never saw.
//!
//! A search that judges thousands of schedules on one split and keeps those at its accuracy
//! floor overstates their accuracy there: the finalists are selected on that split's noise.
//! `cellwise search --holdout N` keeps the last N validation images out of the search and
//! scores every finalist and the reference schedule (all-highest) on them. A finalist passes a
//! paired non-inferiority test when the one-sided lower confidence bound of its accuracy
//! difference to the reference, per image on the same images, is at least `-margin`; the
//! cheapest passing finalist is selected. Test accuracy plays no part in the choice.

use serde::Serialize;

/// One-sided 95 % normal quantile.
pub const Z95: f64 = 1.645;

/// The rule: margin (accuracy, e.g. 0.01 for one point) and normal quantile.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Rule {
    pub margin: f64,
    pub z: f64,
}

/// A finalist scored on the held-out images against the reference.
#[derive(Clone, Debug, Serialize)]
pub struct HeldOut {
    pub schedule: String,
    pub cost: f64,
    /// Accuracy on the held-out images.
    pub accuracy: f64,
    /// Mean over images of (this right) - (reference right).
    pub difference: f64,
    /// Standard error of `difference` (sample standard deviation / sqrt(images)).
    pub standard_error: f64,
    /// `difference - z * standard_error`.
    pub lower_bound: f64,
    pub passes: bool,
}

/// The held-out scores of all finalists and the choice.
#[derive(Clone, Debug, Serialize)]
pub struct Selection {
    pub rule: Rule,
    /// Held-out images.
    pub images: usize,
    pub reference: String,
    pub reference_accuracy: f64,
    /// Every finalist, cheapest first.
    pub finalists: Vec<HeldOut>,
    /// The cheapest finalist that passes (`None`: none passes).
    pub selected: Option<String>,
}

/// Scores `finalists` (schedule, cost, whether each held-out image is right) against the
/// reference's correctness on the same images and selects the cheapest that passes `rule`.
/// Every correctness vector must have the reference's length (at least 2 images).
pub fn select(
    rule: Rule,
    reference: (&str, &[bool]),
    finalists: &[(String, f64, Vec<bool>)],
) -> Selection {
    let (reference_name, reference_right) = reference;
    let n = reference_right.len();
    debug_assert!(n >= 2);
    let mut scored: Vec<HeldOut> = finalists
        .iter()
        .map(|(schedule, cost, right)| {
            debug_assert_eq!(right.len(), n);
            let diffs: Vec<f64> = right
                .iter()
                .zip(reference_right)
                .map(|(&f, &r)| f as u8 as f64 - r as u8 as f64)
                .collect();
            let mean = diffs.iter().sum::<f64>() / n as f64;
            let var = diffs.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            let se = (var / n as f64).sqrt();
            let lower = mean - rule.z * se;
            HeldOut {
                schedule: schedule.clone(),
                cost: *cost,
                accuracy: share(right),
                difference: mean,
                standard_error: se,
                lower_bound: lower,
                passes: lower >= -rule.margin,
            }
        })
        .collect();
    scored.sort_by(|a, b| a.cost.total_cmp(&b.cost).then(a.schedule.cmp(&b.schedule)));
    let selected = scored.iter().find(|h| h.passes).map(|h| h.schedule.clone());
    Selection {
        rule,
        images: n,
        reference: reference_name.to_string(),
        reference_accuracy: share(reference_right),
        finalists: scored,
        selected,
    }
}

fn share(right: &[bool]) -> f64 {
    right.iter().filter(|&&r| r).count() as f64 / right.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> Rule {
        Rule {
            margin: 0.01,
            z: Z95,
        }
    }

    /// `wrong` images of `n` wrong, at the start.
    fn right(n: usize, wrong: &[usize]) -> Vec<bool> {
        (0..n).map(|i| !wrong.contains(&i)).collect()
    }

    #[test]
    fn paired_statistics_match_a_hand_computation() {
        // 400 images; the finalist loses images 0..6 and wins image 399 the reference loses.
        let reference = right(400, &[399]);
        let finalist = right(400, &[0, 1, 2, 3, 4, 5]);
        let s = select(
            rule(),
            ("all-17", &reference),
            &[("f".into(), 1.0, finalist)],
        );
        let h = &s.finalists[0];
        // differences: six -1, one +1, the rest 0: mean -5/400.
        assert!((h.difference + 5.0 / 400.0).abs() < 1e-15);
        let mean: f64 = -5.0 / 400.0;
        let var =
            (6.0 * (-1.0 - mean).powi(2) + (1.0 - mean).powi(2) + 393.0 * mean.powi(2)) / 399.0;
        assert!((h.standard_error - (var / 400.0).sqrt()).abs() < 1e-15);
        assert!((h.lower_bound - (mean - Z95 * h.standard_error)).abs() < 1e-15);
        assert!((s.reference_accuracy - 399.0 / 400.0).abs() < 1e-15);
        assert!((h.accuracy - 394.0 / 400.0).abs() < 1e-15);
    }

    #[test]
    fn the_cheapest_passing_finalist_is_selected() {
        let n = 2000;
        let reference = right(n, &[]);
        // cheap: loses 60 of 2000 (3 points): fails; middle: loses 6 (0.3 points): passes;
        // dear: loses none: passes but costs more.
        let lose = |k: usize| right(n, &(0..k).collect::<Vec<_>>());
        let finalists = vec![
            ("dear".to_string(), 3.0, lose(0)),
            ("cheap".to_string(), 1.0, lose(60)),
            ("middle".to_string(), 2.0, lose(6)),
        ];
        let s = select(rule(), ("ref", &reference), &finalists);
        let order: Vec<&str> = s.finalists.iter().map(|h| h.schedule.as_str()).collect();
        assert_eq!(order, ["cheap", "middle", "dear"]);
        assert!(!s.finalists[0].passes);
        assert!(s.finalists[1].passes && s.finalists[2].passes);
        assert_eq!(s.selected.as_deref(), Some("middle"));
    }

    #[test]
    fn nothing_is_selected_when_every_finalist_fails() {
        let n = 500;
        let reference = right(n, &[]);
        let bad = right(n, &(0..50).collect::<Vec<_>>());
        let s = select(rule(), ("ref", &reference), &[("bad".into(), 1.0, bad)]);
        assert_eq!(s.selected, None);
    }
}
