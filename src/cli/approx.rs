//! `cellwise approx`: fit polynomial approximations and report their errors.

use std::fmt::Write;

use cellwise::approx::{Activation, Approximation, FitMethod};
use serde_json::json;

/// Arguments of `cellwise approx`.
#[derive(clap::Args)]
pub struct Args {
    /// Function to approximate: tanh or sigmoid.
    #[arg(long = "fn", default_value = "tanh")]
    function: String,
    /// Comma-separated degrees.
    #[arg(long, default_value = "3,7,17", value_delimiter = ',')]
    degrees: Vec<usize>,
    /// Fit interval as LO,HI (write `--interval=-8,8` for a negative LO).
    #[arg(long, default_value = "-8,8")]
    interval: String,
    /// Fit method: least-squares (uniform grid, the paper's) or chebyshev (interpolation).
    /// Weighted fits need measured pre-activations: set `method = "weighted"` in a problem.
    #[arg(long, default_value = "least-squares")]
    method: String,
    /// Print JSON (with coefficients in both bases).
    #[arg(long)]
    json: bool,
}

/// Runs `cellwise approx`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let function = Activation::parse(&args.function)?;
    let method = FitMethod::parse(&args.method)?;
    let interval = parse_interval(&args.interval)?;
    let fits = args
        .degrees
        .iter()
        .map(|&d| Approximation::fit(function, d, interval, &method))
        .collect::<Result<Vec<_>, _>>()?;
    if args.json {
        return super::print(&format!(
            "{}\n",
            serde_json::to_string_pretty(&json!(fits))?
        ));
    }
    let mut out = String::new();
    writeln!(
        out,
        "{} on [{}, {}], {} fit",
        args.function,
        interval[0],
        interval[1],
        method.name()
    )?;
    writeln!(
        out,
        "{:>6} {:>12} {:>12}",
        "degree", "max error", "rms error"
    )?;
    for a in &fits {
        writeln!(
            out,
            "{:>6} {:>12.4e} {:>12.4e}",
            a.degree, a.max_error, a.rms_error
        )?;
    }
    super::print(&out)
}

/// Parses "LO,HI".
fn parse_interval(text: &str) -> anyhow::Result<[f64; 2]> {
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    let [lo, hi] = parts[..] else {
        anyhow::bail!("bad interval '{text}': expected LO,HI such as -8,8");
    };
    let num = |s: &str| {
        s.parse::<f64>()
            .map_err(|_| anyhow::anyhow!("bad interval '{text}': '{s}' is not a number"))
    };
    Ok([num(lo)?, num(hi)?])
}
