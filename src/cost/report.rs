//! The tables of results/cost-model.md, computed: `cellwise cost --report`.
//!
//! Reference schedules: all-17, all-7, all-3 and the paper's most reduced schedule (four
//! degree-7 cells, 24 degree-17; the paper does not say which cells: cells 0-3 here, and
//! separately the four cells that are cheapest under each model, found exhaustively).

use std::fmt::Write;

use crate::problem::Problem;
use crate::schedule::{Approx, Schedule};

use super::{
    BootstrapPoints, BootstrapsModel, CellFits, CostError, CostModel, CostOptions, DepthModel,
    LatencyModel, PlacementPolicy, Profile,
};

/// The paper's all-17 latency (HEaaN FGb, one thread), seconds.
pub const PAPER_ALL17_SECONDS: f64 = 628.03;
/// The paper's latency of its most reduced schedule (0, 4, 24), seconds.
pub const PAPER_BEST_SECONDS: f64 = 581.23;

/// The schedule with degree `low` at `cells` and `high` elsewhere.
pub fn with_cells(steps: usize, high: usize, low: usize, cells: &[usize]) -> Schedule {
    let mut s = vec![Approx::Degree(high); steps];
    for &c in cells {
        s[c] = Approx::Degree(low);
    }
    Schedule::new(s)
}

/// The `count` cells that, lowered from 17 to 7, make the schedule cheapest under `model`
/// (exhaustive; ties go to the lexicographically first set).
pub fn cheapest_cells(
    model: &dyn CostModel,
    steps: usize,
    count: usize,
) -> Result<(Vec<usize>, f64), CostError> {
    let mut cells: Vec<usize> = (0..count).collect();
    let mut best = (cells.clone(), f64::INFINITY);
    if count > steps {
        return Ok(best);
    }
    loop {
        let c = model.cost(&with_cells(steps, 17, 7, &cells))?;
        if c < best.1 {
            best = (cells.clone(), c);
        }
        // Next combination in lexicographic order.
        let Some(i) = (0..count).rev().find(|&i| cells[i] < steps - count + i) else {
            return Ok(best);
        };
        cells[i] += 1;
        for j in i + 1..count {
            cells[j] = cells[j - 1] + 1;
        }
    }
}

fn cells_label(cells: &[usize]) -> String {
    cells
        .iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// The markdown tables of the cost-model report for `problem` with the cell polynomials
/// `fits` under `profiles`.
pub fn markdown(
    problem: &Problem,
    fits: &CellFits,
    profiles: &[Profile],
) -> Result<String, CostError> {
    let steps = problem.steps();
    let best_cells: Vec<usize> = (0..4).collect();
    let schedules = [
        (
            "all-17".to_string(),
            Schedule::uniform(steps, Approx::Degree(17)),
        ),
        (
            "all-7".to_string(),
            Schedule::uniform(steps, Approx::Degree(7)),
        ),
        (
            "all-3".to_string(),
            Schedule::uniform(steps, Approx::Degree(3)),
        ),
        (
            format!("17 except 7@{}", cells_label(&best_cells)),
            with_cells(steps, 17, 7, &best_cells),
        ),
    ];
    let mut out = String::new();
    let w = &mut out;
    // `write!` into a String cannot fail.
    let _ = writeln!(w, "### Levels and bootstraps (no profile needed)\n");
    let _ = writeln!(
        w,
        "| schedule | depth (levels) | bootstraps, mid-step allowed | bootstraps, step boundary only |"
    );
    let _ = writeln!(w, "|---|---|---|---|");
    let depth = DepthModel::new(problem, fits, &CostOptions::default())?;
    let boots = BootstrapsModel::new(problem, fits, &CostOptions::default())?;
    let boundary = BootstrapsModel::new(
        problem,
        fits,
        &CostOptions {
            points: BootstrapPoints::StepBoundary,
            ..CostOptions::default()
        },
    )?;
    for (label, s) in &schedules {
        let _ = writeln!(
            w,
            "| {label} | {} | {} | {} |",
            depth.cost(s)?,
            boots.cost(s)?,
            boundary.cost(s)?
        );
    }
    for profile in profiles {
        let _ = writeln!(
            w,
            "\n### Profile `{}`: {} {}, {}, {} thread(s), {}\n",
            profile.name,
            profile.engine,
            profile.engine_version,
            profile.cpu,
            profile.threads,
            profile.date
        );
        let _ = writeln!(
            w,
            "bootstrap {:.2} s ({}); matvec_32 at the top level {:.3} s; poly_deg17 at level {} {:.3} s\n",
            profile.bootstrap_seconds().unwrap_or(f64::NAN),
            profile.source("bootstrap"),
            profile
                .seconds("matvec_32", profile.params.levels)
                .unwrap_or(f64::NAN),
            profile.params.levels - 1,
            profile
                .seconds("poly_deg17", profile.params.levels - 1)
                .unwrap_or(f64::NAN),
        );
        let optimal = LatencyModel::new(problem, fits, profile.clone(), &CostOptions::default())?;
        let greedy = LatencyModel::new(
            problem,
            fits,
            profile.clone(),
            &CostOptions {
                placement: PlacementPolicy::Greedy,
                ..CostOptions::default()
            },
        )?;
        let _ = writeln!(
            w,
            "| schedule | latency, optimal placement (s) | bootstraps | of which bootstrapping (s) | greedy placement (s) | ratio to all-17 |"
        );
        let _ = writeln!(w, "|---|---|---|---|---|---|");
        let all17 = optimal.cost(&schedules[0].1)?;
        for (label, s) in &schedules {
            let b = optimal.breakdown(s)?;
            let boot_seconds = b.bootstraps as f64 * profile.bootstrap_seconds().unwrap_or(0.0);
            let _ = writeln!(
                w,
                "| {label} | {:.2} | {} | {:.2} | {:.2} | {:.4} |",
                b.total,
                b.bootstraps,
                boot_seconds,
                greedy.cost(s)?,
                b.total / all17
            );
        }
        let (cells, cheapest) = cheapest_cells(&optimal, steps, 4)?;
        let _ = writeln!(
            w,
            "\nCheapest four degree-7 cells under this profile: {} -> {:.2} s (ratio {:.4}; paper {:.4}).",
            cells_label(&cells),
            cheapest,
            cheapest / all17,
            PAPER_BEST_SECONDS / PAPER_ALL17_SECONDS
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::profile::tests::sample_json;
    use crate::problem::DEFAULT_PROBLEM;

    #[test]
    fn cheapest_cells_is_exhaustive() {
        let p = Problem::load(DEFAULT_PROBLEM).unwrap();
        let fits = CellFits::from_problem(&p).unwrap();
        let m = BootstrapsModel::new(&p, &fits, &CostOptions::default()).unwrap();
        let (cells, c) = cheapest_cells(&m, 28, 4).unwrap();
        assert_eq!(cells.len(), 4);
        // With mid-step bootstraps each degree-7 cell fits its polynomial (3 levels) in
        // the 3 levels a degree-17 step leaves after its bootstrap: one bootstrap saved each.
        assert_eq!(c, 23.0);
        assert!(m.cost(&with_cells(28, 17, 7, &cells)).unwrap() == c);
        assert_eq!(m.cost(&with_cells(28, 17, 7, &[3, 20])).unwrap(), 25.0);
        // Between steps only, degree-7 cells save a bootstrap only in adjacent pairs.
        let boundary = BootstrapsModel::new(
            &p,
            &fits,
            &CostOptions {
                points: BootstrapPoints::StepBoundary,
                ..CostOptions::default()
            },
        )
        .unwrap();
        assert_eq!(
            boundary.cost(&with_cells(28, 17, 7, &[3, 20])).unwrap(),
            27.0
        );
        assert_eq!(
            boundary
                .cost(&with_cells(28, 17, 7, &[0, 1, 2, 3]))
                .unwrap(),
            25.0
        );
    }

    #[test]
    fn report_has_every_schedule_and_profile() {
        let p = Problem::load(DEFAULT_PROBLEM).unwrap();
        let profile = Profile::from_json("sample", &sample_json()).unwrap();
        let fits = CellFits::from_problem(&p).unwrap();
        let md = markdown(&p, &fits, &[profile]).unwrap();
        for needle in [
            "| all-17 | 169 | 27 |",
            "| all-3 |",
            "17 except 7@0,1,2,3",
            "Profile `sample`",
            "Cheapest four",
        ] {
            assert!(md.contains(needle), "{needle} missing in\n{md}");
        }
    }
}
