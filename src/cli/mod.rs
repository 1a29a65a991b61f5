//! Command-line interface: one file per subcommand, each with its own `Args` and `run`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod approx;
mod bench;
mod ckks;
mod common;
mod compare;
mod cost;
mod eval;
mod export;
mod fetch;
mod infer;
mod search;
mod train;

/// Cell-by-cell polynomial activation schedules for RNNs under CKKS.
#[derive(Parser)]
#[command(name = "cellwise", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Download and verify MNIST into the data directory.
    Fetch(fetch::Args),
    /// Train the float model of a problem preset.
    Train(train::Args),
    /// Score schedules with the accuracy oracle (fetches data if needed).
    Eval(eval::Args),
    /// Fit polynomial approximations of tanh or sigmoid and report their errors.
    Approx(approx::Args),
    /// Write model weights as .npz and .safetensors.
    Export(export::Args),
    /// Run a built-in benchmark.
    Bench(bench::Args),
    /// Price a schedule under a cost model.
    Cost(cost::Args),
    /// The project's CKKS engine: timing profile.
    Ckks(ckks::Args),
    /// Run one search strategy.
    Search(search::Args),
    /// Compare search strategies on equal budgets and several seeds.
    Compare(compare::Args),
    /// Run schedules end to end under CKKS (client and server, in one process or as files).
    Infer(infer::Args),
}

/// Parses the command line, runs the subcommand and turns any error into one line on
/// stderr and a non-zero exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Fetch(a) => fetch::run(a),
        Command::Train(a) => train::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Approx(a) => approx::run(a),
        Command::Export(a) => export::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Cost(a) => cost::run(a),
        Command::Ckks(a) => ckks::run(a),
        Command::Search(a) => search::run(a),
        Command::Compare(a) => compare::run(a),
        Command::Infer(a) => infer::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` joins the context chain on one line: "loading weights: shape of wx ...".
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
