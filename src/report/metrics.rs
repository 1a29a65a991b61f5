//! How good a search's answers are: the hypervolume of a front inside a reference box, the
//! best schedule under a cost limit, regret against a known true front, and medians and
//! ranges over seeds.
//!
//! All figures use one [`Reference`] point: (the minimum accepted accuracy, the cost of the
//! all-highest schedule). A schedule at most as accurate as the reference, or at least as
//! costly, adds nothing: a front of cheap but useless schedules scores 0, not the area down
//! to accuracy 0.

use std::io::Read;
use std::path::Path;

use serde::Serialize;

use crate::cost::CostModel;
use crate::oracle::Oracle;
use crate::schedule::Schedule;
use crate::search::Record;

use super::ReportError;

/// The corner of the hypervolume box: the box is cost in `[0, cost]` by accuracy in
/// `[accuracy, 1]` (empty, so every hypervolume 0, at accuracy 1).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Reference {
    /// The minimum accepted accuracy (a fraction in `[0, 1]`).
    pub accuracy: f64,
    /// The cost of the all-highest schedule (positive).
    pub cost: f64,
}

impl Reference {
    /// A reference point; refuses an accuracy outside `[0, 1]` or a cost that is not a
    /// positive finite number.
    pub fn new(accuracy: f64, cost: f64) -> Result<Self, String> {
        if !(0.0..=1.0).contains(&accuracy) {
            return Err(format!(
                "the reference accuracy {accuracy} must be in [0, 1]"
            ));
        }
        if !(cost > 0.0 && cost.is_finite()) {
            return Err(format!(
                "the reference cost {cost} must be a positive number (the cost of the all-highest schedule)"
            ));
        }
        Ok(Self { accuracy, cost })
    }

    /// True if a point (cost, accuracy) lies strictly inside the box, i.e. adds area.
    fn inside(&self, cost: f64, accuracy: f64) -> bool {
        cost < self.cost && accuracy > self.accuracy && cost.is_finite() && accuracy.is_finite()
    }
}

/// Hypervolume of some (cost, accuracy) points, minimising cost and maximising accuracy,
/// as the share of the reference box `[0, r.cost] x [r.accuracy, 1]` they dominate (0 to 1).
/// Points outside the box add nothing; dominated points are allowed and add nothing.
pub fn hypervolume(points: impl IntoIterator<Item = (f64, f64)>, r: &Reference) -> f64 {
    let mut inside: Vec<(f64, f64)> = points
        .into_iter()
        .filter(|&(c, a)| r.inside(c, a))
        .collect();
    // Cheapest first; among equal costs the most accurate first.
    inside.sort_by(|x, y| x.0.total_cmp(&y.0).then(y.1.total_cmp(&x.1)));
    let mut area = 0.0;
    let mut below = r.accuracy;
    for (c, a) in inside {
        if a > below {
            area += (r.cost - c) * (a - below);
            below = a;
        }
    }
    if area == 0.0 {
        return 0.0;
    }
    area / (r.cost * (1.0 - r.accuracy))
}

/// The (cost, validation accuracy) of the records with an accuracy, leaving out unsafe ones
/// when `batch_safe` (the points a strategy's validation front is made of).
pub fn record_points(records: &[Record], batch_safe: bool) -> impl Iterator<Item = (f64, f64)> {
    records
        .iter()
        .filter(move |r| !batch_safe || r.unsafe_images.unwrap_or(0) == 0)
        .filter_map(|r| r.accuracy.map(|a| (r.cost, a)))
}

/// The hypervolume of the records judged within the first `k` judgements, for each `k` of
/// `counts` (ascending; a count beyond the records means all of them).
pub fn hypervolume_at(
    records: &[Record],
    batch_safe: bool,
    r: &Reference,
    counts: &[usize],
) -> Vec<f64> {
    // The non-dominated points inside the box so far, cost ascending (accuracy ascending).
    let mut front: Vec<(f64, f64)> = Vec::new();
    let mut seen = 0;
    let mut out = Vec::with_capacity(counts.len());
    for &k in counts {
        let k = k.min(records.len());
        for p in record_points(&records[seen.min(k)..k], batch_safe) {
            if !r.inside(p.0, p.1) || front.iter().any(|q| q.0 <= p.0 && q.1 >= p.1) {
                continue;
            }
            front.retain(|q| !(p.0 <= q.0 && p.1 >= q.1));
            let at = front.partition_point(|q| q.0 < p.0);
            front.insert(at, p);
        }
        seen = seen.max(k);
        out.push(hypervolume(front.iter().copied(), r));
    }
    out
}

/// The record a user would pick under a cost limit: the highest validation accuracy among
/// the records with an accuracy and cost <= `limit` (batch-safe ones only, if asked), the
/// cheaper on ties, then the earlier.
pub fn best_under(records: &[Record], limit: f64, batch_safe: bool) -> Option<&Record> {
    records
        .iter()
        .filter(|r| r.cost <= limit && (!batch_safe || r.unsafe_images.unwrap_or(0) == 0))
        .filter(|r| r.accuracy.is_some())
        .min_by(|x, y| {
            let (ax, ay) = (x.accuracy.unwrap_or(0.0), y.accuracy.unwrap_or(0.0));
            ay.total_cmp(&ax)
                .then(x.cost.total_cmp(&y.cost))
                .then(x.index.cmp(&y.index))
        })
}

/// Median, minimum and maximum of some numbers.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Spread {
    /// The middle value (the mean of the two middle ones for an even count).
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

/// The [`Spread`] of the finite values (none if there is none).
pub fn spread(values: impl IntoIterator<Item = f64>) -> Option<Spread> {
    let mut v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(Spread {
        median: (v[(n - 1) / 2] + v[n / 2]) / 2.0,
        min: v[0],
        max: v[n - 1],
    })
}

/// One point of a true front.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FrontPoint {
    pub schedule: Schedule,
    pub cost: f64,
    /// Validation accuracy.
    pub accuracy: f64,
}

/// The largest true-front file read.
pub const MAX_FRONT_BYTES: u64 = 256 << 20;

/// The true validation front of a problem (e.g. an exhaustive run's), to measure regret
/// against.
#[derive(Clone, Debug)]
pub struct TrueFront {
    /// Where it was read from (for messages).
    pub source: String,
    /// Its non-dominated points, cost ascending.
    pub points: Vec<FrontPoint>,
}

impl TrueFront {
    /// Reads a CSV with a header naming the columns `schedule`, `cost` and `accuracy` or
    /// `val_accuracy` (other columns are ignored): an exhaustive run's `pareto.csv` or
    /// `schedules.csv` (rows without an accuracy, threshold decisions, are skipped). Only the
    /// non-dominated points are kept. Schedules are parsed for `shape`.
    pub fn read(path: &Path, shape: crate::schedule::Shape) -> Result<Self, ReportError> {
        let source = path.display().to_string();
        let bad = |message: String| ReportError::Format(format!("true front {source}: {message}"));
        let file = std::fs::File::open(path).map_err(|e| ReportError::Io {
            path: source.clone(),
            source: e,
        })?;
        let mut text = String::new();
        file.take(MAX_FRONT_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|e| bad(e.to_string()))?;
        if text.len() as u64 > MAX_FRONT_BYTES {
            return Err(bad(format!(
                "larger than the {MAX_FRONT_BYTES} bytes a front file may have"
            )));
        }
        let mut csv = csv::Reader::from_reader(text.as_bytes());
        let header = csv.headers().map_err(|e| bad(e.to_string()))?.clone();
        let column = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| header.iter().position(|h| h == *n))
                .ok_or_else(|| {
                    bad(format!(
                        "no column {} (the header is: {})",
                        names.join(" or "),
                        header.iter().collect::<Vec<_>>().join(",")
                    ))
                })
        };
        let (s, c, a) = (
            column(&["schedule"])?,
            column(&["cost"])?,
            column(&["accuracy", "val_accuracy"])?,
        );
        let mut points = Vec::new();
        for (i, row) in csv.records().enumerate() {
            let line = i + 2;
            let row = row.map_err(|e| bad(format!("line {line}: {e}")))?;
            let field = |k: usize| row.get(k).unwrap_or("").trim();
            if field(a).is_empty() {
                continue;
            }
            let number = |k: usize, what: &str| {
                field(k)
                    .parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite())
                    .ok_or_else(|| {
                        bad(format!(
                            "line {line}: {what} '{}' is not a number",
                            field(k)
                        ))
                    })
            };
            let accuracy = number(a, "accuracy")?;
            if !(0.0..=1.0).contains(&accuracy) {
                return Err(bad(format!(
                    "line {line}: accuracy {accuracy} is not in [0, 1]"
                )));
            }
            let schedule =
                Schedule::parse(field(s), shape).map_err(|e| bad(format!("line {line}: {e}")))?;
            points.push(FrontPoint {
                schedule,
                cost: number(c, "cost")?,
                accuracy,
            });
        }
        let points = non_dominated(points);
        if points.is_empty() {
            return Err(bad("no schedule with an accuracy".into()));
        }
        Ok(Self { source, points })
    }

    /// Checks the front against this problem, model and cost model: every point's cost must
    /// be what `cost` says (same cost model) and its accuracy what `oracle` says to the 6
    /// decimals a CSV holds (same split and weights); the points then take the oracle's exact
    /// accuracies. Refuses a mismatch naming the schedule.
    pub fn verify(&mut self, oracle: &Oracle, cost: &dyn CostModel) -> Result<(), ReportError> {
        let bad =
            |message: String| ReportError::Format(format!("true front {}: {message}", self.source));
        for p in &mut self.points {
            let c = cost.cost(&p.schedule).map_err(|e| bad(e.to_string()))?;
            if (c - p.cost).abs() > 1e-9 * c.abs().max(1.0) {
                return Err(bad(format!(
                    "`{}` costs {c} under the cost model {} but the file says {}: give the --cost it was made with",
                    p.schedule,
                    cost.name(),
                    p.cost
                )));
            }
            let e = oracle
                .evaluate(&p.schedule)
                .map_err(|e| bad(e.to_string()))?;
            if (e.accuracy - p.accuracy).abs() > 1e-6 {
                return Err(bad(format!(
                    "`{}` has validation accuracy {:.6} here but {:.6} in the file: it was made with other weights, data or problem",
                    p.schedule, e.accuracy, p.accuracy
                )));
            }
            p.cost = c;
            p.accuracy = e.accuracy;
        }
        self.points = non_dominated(std::mem::take(&mut self.points));
        Ok(())
    }

    /// Hypervolume of the front.
    pub fn hypervolume(&self, r: &Reference) -> f64 {
        hypervolume(self.points.iter().map(|p| (p.cost, p.accuracy)), r)
    }

    /// The highest accuracy of the front at cost <= `limit`.
    pub fn best_under(&self, limit: f64) -> Option<f64> {
        self.points
            .iter()
            .filter(|p| p.cost <= limit)
            .map(|p| p.accuracy)
            .max_by(f64::total_cmp)
    }
}

/// The points no other point dominates (at most as costly and at least as accurate, better
/// in one), one per (cost, accuracy), cost ascending.
fn non_dominated(mut points: Vec<FrontPoint>) -> Vec<FrontPoint> {
    points.sort_by(|x, y| {
        x.cost
            .total_cmp(&y.cost)
            .then(y.accuracy.total_cmp(&x.accuracy))
    });
    let mut best = f64::NEG_INFINITY;
    points.retain(|p| {
        let keep = p.accuracy > best;
        best = best.max(p.accuracy);
        keep
    });
    points
}

/// A strategy's regret against a true front, on validation: how much hypervolume it misses
/// and, per cost limit, how many accuracy points its best schedule under the limit lies
/// below the true front's best under it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Regret {
    /// The true front's hypervolume minus the strategy's (same reference point; 0 to 1).
    pub hypervolume: f64,
    /// Per cost limit (as given): the true front's best validation accuracy at cost <=
    /// the limit minus the strategy's, or `None` when either has no schedule under it.
    pub accuracy_gaps: Vec<Option<f64>>,
}

/// The regret of a strategy whose validation hypervolume is `hypervolume` and whose best
/// validation accuracies under `limits` are `best` (same order).
pub fn regret(
    truth: &TrueFront,
    r: &Reference,
    hypervolume: f64,
    limits: &[f64],
    best: &[Option<f64>],
) -> Regret {
    Regret {
        hypervolume: truth.hypervolume(r) - hypervolume,
        accuracy_gaps: limits
            .iter()
            .zip(best)
            .map(|(&l, b)| Some(truth.best_under(l)? - (*b)?))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::test_record as rec;

    #[test]
    fn hypervolume_counts_only_the_box() {
        let r = Reference::new(0.5, 10.0).unwrap();
        // (10-2)*(0.6-0.5) + (10-6)*(0.8-0.6) = 0.8 + 0.8 = 1.6 of a box of 10 * 0.5 = 5.
        let pts = [
            (2.0, 0.6),
            (6.0, 0.8),
            (12.0, 0.95),
            (1.0, 0.3),
            (10.0, 0.99),
        ];
        let hv = hypervolume(pts, &r);
        assert!((hv - 1.6 / 5.0).abs() < 1e-12, "{hv}");
        // Dominated points and repeats change nothing; the empty front is 0.
        let more = pts.iter().copied().chain([(7.0, 0.7), (2.0, 0.6)]);
        assert!((hypervolume(more, &r) - hv).abs() < 1e-15);
        assert_eq!(hypervolume([], &r), 0.0);
        // A whole-box point (cost 0, accuracy 1) fills it.
        assert!((hypervolume([(0.0, 1.0)], &r) - 1.0).abs() < 1e-15);
        // Reference accuracy 0 is the old definition divided by the reference cost.
        let zero = Reference::new(0.0, 10.0).unwrap();
        assert!((hypervolume([(2.0, 0.5), (6.0, 0.8)], &zero) - 0.52).abs() < 1e-12);
        let full = Reference::new(1.0, 10.0).unwrap();
        assert_eq!(hypervolume([(0.0, 1.0)], &full), 0.0);
        assert!(Reference::new(1.5, 10.0).is_err() && Reference::new(0.5, 0.0).is_err());
        assert!(Reference::new(f64::NAN, 1.0).is_err());
    }

    #[test]
    fn hypervolume_at_matches_a_fresh_computation_of_each_prefix() {
        let r = Reference::new(0.2, 100.0).unwrap();
        // A deterministic scatter of points, some outside the box, some without accuracy.
        let mut s = 7u64;
        let records: Vec<Record> = (0..300)
            .map(|i| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let a = (s >> 40) as f64 / (1u64 << 24) as f64;
                let c = 120.0 * ((s >> 11) & 0xffff) as f64 / 65536.0;
                rec(i, (i % 7 != 3).then_some(a), c)
            })
            .collect();
        let counts: Vec<usize> = (0..=310).step_by(13).collect();
        let trace = hypervolume_at(&records, false, &r, &counts);
        for (k, hv) in counts.iter().zip(&trace) {
            let fresh = hypervolume(record_points(&records[..(*k).min(300)], false), &r);
            assert!((hv - fresh).abs() < 1e-12, "{k}: {hv} vs {fresh}");
        }
        assert!(trace.windows(2).all(|w| w[0] <= w[1] + 1e-15));
        assert!(trace[trace.len() - 1] > 0.0);
    }

    #[test]
    fn best_under_picks_the_most_accurate_then_the_cheapest() {
        let mut records = vec![
            rec(0, Some(0.9), 10.0),
            rec(1, Some(0.8), 5.0),
            rec(2, Some(0.8), 4.0),
            rec(3, None, 1.0),
            rec(4, Some(0.85), 7.0),
        ];
        assert_eq!(best_under(&records, 10.0, false).unwrap().index, 0);
        assert_eq!(best_under(&records, 6.0, false).unwrap().index, 2);
        assert!(best_under(&records, 1.0, false).is_none());
        records[4].unsafe_images = Some(2);
        assert_eq!(best_under(&records, 8.0, false).unwrap().index, 4);
        assert_eq!(best_under(&records, 8.0, true).unwrap().index, 2);
    }

    #[test]
    fn spread_is_median_min_max() {
        assert_eq!(spread([]), None);
        let s = spread([3.0, 1.0, f64::NAN, 2.0, 10.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.5, 1.0, 10.0));
        assert_eq!(spread([4.0]).unwrap().median, 4.0);
    }

    #[test]
    fn true_fronts_read_pareto_and_schedule_files_and_measure_regret() {
        let dir = tempfile::tempdir().unwrap();
        let shape = crate::schedule::Shape::from(3);
        let pareto = dir.path().join("pareto.csv");
        std::fs::write(
            &pareto,
            "schedule,cost,val_accuracy,test_accuracy\nall-3,3,0.5,0.4\n\"7,3,3\",5,0.7,0.6\n\"7,7,3\",8,0.6,0.9\nall-7,9,0.9,0.8\n",
        )
        .unwrap();
        let front = TrueFront::read(&pareto, shape).unwrap();
        // (7,7,3) is dominated by (7,3,3).
        let costs: Vec<f64> = front.points.iter().map(|p| p.cost).collect();
        assert_eq!(costs, [3.0, 5.0, 9.0]);
        assert_eq!(front.best_under(8.0), Some(0.7));
        assert_eq!(front.best_under(2.0), None);
        let r = Reference::new(0.4, 10.0).unwrap();
        // Own front: no regret; a worse one: positive.
        let own = hypervolume(front.points.iter().map(|p| (p.cost, p.accuracy)), &r);
        let none = regret(&front, &r, own, &[8.0, 2.0], &[Some(0.7), None]);
        assert_eq!(none.hypervolume, 0.0);
        assert_eq!(none.accuracy_gaps, [Some(0.0), None]);
        let worse = regret(&front, &r, 0.1, &[8.0], &[Some(0.5)]);
        assert!(worse.hypervolume > 0.0);
        assert!((worse.accuracy_gaps[0].unwrap() - 0.2).abs() < 1e-12);
        // A schedules.csv: rows without an accuracy are skipped.
        let all = dir.path().join("schedules.csv");
        std::fs::write(
            &all,
            "index,schedule,accuracy,correct,unsafe_images,accepted,cost\n0,all-7,0.9,9,0,,9\n1,all-3,,,,true,3\n",
        )
        .unwrap();
        assert_eq!(TrueFront::read(&all, shape).unwrap().points.len(), 1);
        // Bad files are refused in one line naming the file and the line.
        for (text, needle) in [
            (
                "schedule,cost\nall-7,9\n",
                "no column accuracy or val_accuracy",
            ),
            (
                "schedule,cost,accuracy\nall-7,nine,0.9\n",
                "line 2: cost 'nine' is not a number",
            ),
            (
                "schedule,cost,accuracy\nall-7,9,1.5\n",
                "line 2: accuracy 1.5 is not in [0, 1]",
            ),
            ("schedule,cost,accuracy\nall-9x,9,0.5\n", "line 2:"),
            ("schedule,cost,accuracy\n", "no schedule with an accuracy"),
        ] {
            std::fs::write(&all, text).unwrap();
            let err = TrueFront::read(&all, shape).unwrap_err().to_string();
            assert!(
                err.starts_with("true front ") && err.contains(needle),
                "{err}"
            );
            assert!(!err.contains('\n'), "{err}");
        }
    }
}
