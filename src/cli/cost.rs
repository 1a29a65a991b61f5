//! `cellwise cost`: price a schedule under a cost model and print its per-step breakdown.
//! A problem with `weighted` fits is priced with its real fits, measured on the training
//! split (`--weights`, `--data-dir`).

use std::path::PathBuf;

use anyhow::Context;

use cellwise::ckks::scheme::params::PRESETS;
use cellwise::cost::placement::MAX_LEVELS;
use cellwise::cost::{
    self, BootstrapPoints, CellFits, CostBreakdown, CostOptions, PlacementPolicy,
};
use cellwise::data;
use cellwise::oracle::Candidates;
use cellwise::problem::{DEFAULT_PROBLEM, Problem};
use cellwise::recurrence::CellKind;
use cellwise::schedule::Schedule;

use super::common::{CalibrateArgs, Kernels, calibrated, splits_for, weights_for};

/// Arguments of `cellwise cost`.
#[derive(clap::Args)]
pub struct Args {
    /// The schedule: `all-17`, `17 except 7@0,4,24`, or one entry per cell separated by
    /// commas; gated cells name slots (`17 except n:7@0-5`, `z:...; r:...; n:...`).
    #[arg(long, required_unless_present = "report")]
    schedule: Option<String>,
    /// Print the markdown tables of results/cost-model.md instead (all-17, all-7, all-3 and
    /// the paper's best under every shipped profile, plus --profile if given).
    #[arg(long, conflicts_with = "schedule")]
    report: bool,
    /// Cost model: latency (seconds, from a timing profile), depth (levels) or bootstraps.
    #[arg(long, default_value = "latency")]
    model: String,
    /// Timing profile of the latency model: a shipped name (cellwise, openfhe, ...) or a path
    /// to a profile JSON; default: the project's shipped profile measured at --preset.
    #[arg(long)]
    profile: Option<String>,
    /// CKKS parameter preset whose shipped profile the latency model uses when --profile
    /// names none (default: fgb-like for a SimpleRNN, fgb-like-12 for GRU and LSTM).
    #[arg(long, conflicts_with = "profile")]
    preset: Option<String>,
    /// Problem preset (name or path to a .toml file).
    #[arg(long, default_value = DEFAULT_PROBLEM)]
    problem: String,
    /// Levels between bootstraps for depth and bootstraps (default 9, fgb-like; at most
    /// 100); latency takes them from its profile.
    #[arg(long)]
    levels: Option<usize>,
    /// Bootstrap placement: optimal (shortest path) or greedy (when the next piece does not fit).
    #[arg(long, value_enum, default_value_t = Placement::Optimal)]
    placement: Placement,
    /// Allow bootstraps only between steps (by default also between a step's linear part
    /// and its polynomial).
    #[arg(long)]
    step_boundary_only: bool,
    /// Print the breakdown as JSON.
    #[arg(long)]
    json: bool,
    /// Weights (.npz/.safetensors) whose pre-activations a `weighted` problem's fits follow;
    /// default: the problem's embedded model. Read only for such problems.
    #[arg(long)]
    weights: Option<PathBuf>,
    /// MNIST directory whose training split a `weighted` problem's fits are measured on
    /// (default: $CELLWISE_DATA_DIR, else ./data; fetched if missing). Read only for such
    /// problems.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Measure a `weighted` problem's fits on the committed MNIST fixture (a few hundred
    /// images) instead of the data directory (tests).
    #[arg(long, hide = true, conflicts_with = "data_dir")]
    fixture: bool,
    #[command(flatten)]
    calibrate: CalibrateArgs,
    /// Coefficient kernels the calibration times (`auto`: the CPU's vector path; `portable`:
    /// scalar code, what a run with `--kernels portable` uses).
    #[arg(long, value_enum, default_value_t = Kernels::Auto)]
    kernels: Kernels,
}

/// `--placement` values.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Placement {
    Optimal,
    Greedy,
}

/// Runs `cellwise cost`.
pub fn run(args: Args) -> anyhow::Result<()> {
    if let Some(levels) = args.levels {
        anyhow::ensure!(
            (1..=MAX_LEVELS).contains(&levels),
            "--levels {levels} is out of range: levels between bootstraps must be 1 to {MAX_LEVELS}"
        );
    }
    let problem = Problem::load(&args.problem).context("loading the problem")?;
    if args.report {
        anyhow::ensure!(
            problem.cell() == CellKind::SimpleRnn,
            "--report prices the encrypted circuit of a simple-rnn; problem {} is a {} (price its schedules with --schedule S)",
            problem.name,
            problem.cell()
        );
        let mut names: Vec<String> = cost::profile::shipped_names()
            .iter()
            .map(|n| n.to_string())
            .collect();
        names.extend(args.profile.clone());
        let profiles = names
            .iter()
            .map(|n| cost::Profile::load(n))
            .collect::<Result<Vec<_>, _>>()
            .context("loading the profiles")?;
        let fits = match measured_candidates(&problem, &args)? {
            Some(c) => CellFits::from_candidates(&problem, &c)?,
            None => CellFits::from_problem(&problem)?,
        };
        return super::print(&cost::report::markdown(&problem, &fits, &profiles)?);
    }
    // clap guarantees a schedule without --report.
    let text = args.schedule.clone().unwrap_or_default();
    let schedule = Schedule::parse(&text, problem.shape())
        .with_context(|| format!("parsing schedule '{text}'"))?;
    let spec = match &args.profile {
        Some(p) => format!("{}:{p}", args.model),
        None => args.model.clone(),
    };
    let preset =
        args.preset
            .as_deref()
            .map(|name| {
                PRESETS.into_iter().find(|p| *p == name).with_context(|| {
                    format!("unknown preset '{name}' (known: {})", PRESETS.join(", "))
                })
            })
            .transpose()?;
    let options = CostOptions {
        levels: args.levels,
        preset,
        points: if args.step_boundary_only {
            BootstrapPoints::StepBoundary
        } else {
            BootstrapPoints::MidStep
        },
        placement: match args.placement {
            Placement::Optimal => PlacementPolicy::Optimal,
            Placement::Greedy => PlacementPolicy::Greedy,
        },
    };
    let spec = cost::Spec::parse(&spec, &problem, &options).context("building the cost model")?;
    args.kernels.apply();
    let calibrated = calibrated(&spec, &args.calibrate)?;
    let candidates = if spec.needs_fits() {
        measured_candidates(&problem, &args)?
    } else {
        None
    };
    let price = |spec: cost::Spec| {
        spec.build(&problem, candidates.as_ref())
            .context("building the cost model")?
            .breakdown(&schedule)
            .with_context(|| format!("pricing schedule '{text}'"))
    };
    let breakdown = price(spec)?;
    let calibrated = calibrated
        .map(|c| Ok::<_, anyhow::Error>((price(c.spec)?, c.record)))
        .transpose()?;
    if args.json {
        let json = match &calibrated {
            Some((here, record)) => serde_json::to_string_pretty(&serde_json::json!({
                "shipped": breakdown,
                "calibrated": here,
                "calibration": record.calibration,
                "factors": record.factors,
            }))?,
            None => serde_json::to_string_pretty(&breakdown)?,
        };
        return super::print(&format!("{json}\n"));
    }
    if schedule.slots() == 1 {
        super::print(&render(&text, &problem.name, &breakdown))?;
    } else {
        super::print(&render_graph(&text, &problem, &schedule, &breakdown))?;
    }
    if let Some((here, record)) = calibrated {
        super::print(&format!(
            "{} | calibrated to this machine ({}, kernels {}; {}): {} {} against the profile's {} {} (x{:.3}), {} bootstraps\n",
            text,
            record.calibration.cpu,
            record.calibration.kernels,
            record.origin,
            total(here.total),
            here.unit,
            total(breakdown.total),
            breakdown.unit,
            here.total / breakdown.total,
            here.bootstraps
        ))?;
    }
    Ok(())
}

/// The candidates of a problem whose fits need data (`weighted`: fitted to the weights'
/// pre-activations on the training split), `None` for one whose own fits serve.
fn measured_candidates(problem: &Problem, args: &Args) -> anyhow::Result<Option<Candidates>> {
    if !problem.fits_need_data() {
        return Ok(None);
    }
    let weights = weights_for(problem, args.weights.as_deref())?;
    let splits = if args.fixture {
        data::load_fixture_splits(problem)?
    } else {
        splits_for(problem, args.data_dir.clone())?
    };
    Ok(Some(Candidates::for_model(
        problem,
        &weights,
        &splits.train,
    )?))
}

/// The breakdown as a text table.
fn render(schedule: &str, problem: &str, b: &CostBreakdown) -> String {
    let mut out = format!(
        "schedule {schedule} | problem {problem} | model {} | {} levels per bootstrap\n",
        b.model, b.levels_per_bootstrap
    );
    out.push_str("step  degree  level in  bootstrap  level out  depth  seconds  operations\n");
    for s in &b.steps {
        let degree = s.degree.map_or("dense".to_string(), |d| d.to_string());
        let boot = match (s.bootstrap_before, s.bootstrap_mid) {
            (true, true) => "before+mid",
            (true, false) => "before",
            (false, true) => "mid",
            (false, false) => "-",
        };
        let seconds = s.seconds.map_or("-".to_string(), |x| format!("{x:.3}"));
        let ops: Vec<String> = s
            .ops
            .iter()
            .map(|o| format!("{}x {}@{}", o.count, o.op, o.level))
            .collect();
        out.push_str(&format!(
            "{:>4}  {degree:>6}  {:>8}  {boot:>9}  {:>9}  {:>5}  {seconds:>7}  {}\n",
            s.step,
            s.level_in,
            s.level_out,
            s.depth,
            ops.join(", ")
        ));
    }
    out.push_str(&format!(
        "total: {} {} | depth {} levels | {} bootstraps\n",
        total(b.total),
        b.unit,
        b.depth,
        b.bootstraps
    ));
    out
}

/// A gated cell's breakdown as a text table: each step's approximation per slot, then for the
/// step-graph `depth` the depth of h entering and leaving it, or for a circuit model the level
/// of h entering and leaving it, the values the placement refreshes and the step's price.
fn render_graph(text: &str, problem: &Problem, schedule: &Schedule, b: &CostBreakdown) -> String {
    let cell = problem.cell().cell();
    let circuit = b.refreshes.as_ref();
    let what = match circuit {
        Some(_) => format!(
            "{} circuit, {} levels per bootstrap",
            cell.kind, b.levels_per_bootstrap
        ),
        None => format!("{} step graph, no bootstraps", cell.kind),
    };
    let mut out = format!(
        "schedule {text} | problem {} | model {} ({what})\n",
        problem.name, b.model
    );
    out.push_str("step");
    for slot in cell.slots {
        out.push_str(&format!("  {:>5}", slot.name));
    }
    out.push_str(match circuit {
        Some(_) => "  h level in  h level out  depth  refreshed\n",
        None => "  h depth in  h depth out  depth\n",
    });
    for s in &b.steps {
        out.push_str(&format!("{:>4}", s.step));
        for slot in 0..cell.slots.len() {
            let a = if s.step < schedule.steps() {
                schedule.get(slot, s.step).to_string()
            } else if slot == 0 {
                "dense".to_string()
            } else {
                String::new()
            };
            out.push_str(&format!("  {a:>5}"));
        }
        out.push_str(&format!(
            "  {:>10}  {:>11}  {:>5}",
            s.level_in, s.level_out, s.depth
        ));
        if let Some(r) = circuit {
            let names = match r.steps.get(s.step) {
                Some(&step) => cellwise::ckks::cell::pairing::names(cell, step).join(", "),
                None if r.output => "h".to_string(),
                None => String::new(),
            };
            out.push_str(&format!("  {names}"));
            if let Some(sec) = s.seconds {
                out.push_str(&format!(" ({sec:.2} s)"));
            }
        }
        out.push('\n');
    }
    match circuit {
        Some(_) => out.push_str(&format!(
            "total: {} {} | depth {} levels | {} bootstraps\n",
            total(b.total),
            b.unit,
            b.depth,
            b.bootstraps
        )),
        None => out.push_str(&format!(
            "total: {} {} | depth {} levels\n",
            total(b.total),
            b.unit,
            b.depth
        )),
    }
    out
}

/// A total as printed: whole counts as integers, seconds to two decimals.
fn total(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value}")
    } else {
        format!("{value:.2}")
    }
}
