//! Command-line interface: one file per subcommand, each with its own `Args` and `run`.
//!
//! Commands collect what they print in a `String` and hand it to [`print`], the only path to
//! standard output: a closed pipe (`cellwise eval | head -1`) ends the program quietly with
//! success, as ripgrep does, and any other write error (`> /dev/full`) is one line,
//! `error: writing to stdout: ...`, with a non-zero exit.

use std::io::Write;
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
mod scaleout;
mod search;
mod study;
mod train;
mod worker;

/// Cell-by-cell polynomial activation schedules for RNNs under CKKS.
#[derive(Parser)]
#[command(name = "cellwise", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Download and verify a data set (MNIST, Fashion-MNIST, JapaneseVowels).
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
    /// Judge the batches of a study in a store until the study ends (started by
    /// `search --workers`, Slurm or Kubernetes).
    Worker(worker::Args),
    /// The studies of a store: list, show, export, gc.
    Study(study::Args),
}

/// Parses the command line, runs the subcommand and turns any error into one line on
/// stderr and a non-zero exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "{}", usage_error_line(&e.to_string()));
            return ExitCode::from(2);
        }
    };
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
        Command::Worker(a) => worker::run(a),
        Command::Study(a) => study::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader has gone (`| head`): nothing is left to say, and nobody to say it to.
        Err(e) if e.chain().any(|c| c.is::<StdoutClosed>()) => ExitCode::SUCCESS,
        Err(e) => {
            // If stderr is closed too there is nowhere left to report the error; the exit
            // code still says it.
            let _ = writeln!(std::io::stderr(), "error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes joined by ": " on one line ("loading weights: shape of wx ..."),
/// leaving out a cause whose text its parent already shows. Many errors print their source
/// as part of their own message (`"{path}: {source}"`), and anyhow's `{:#}` would repeat it:
/// "x.npz: Is a directory (os error 21): Is a directory (os error 21)".
fn one_line(e: &anyhow::Error) -> String {
    let mut out = String::new();
    let mut parent = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !parent.is_empty() && parent.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
        parent = text;
    }
    // One line, whatever a cause's text holds.
    out.replace('\n', " ")
}

/// clap's usage error on one line: its lines joined, without the usage and "--help"
/// reminders ("error: invalid value 'x' for '--max-cost <MAX_COST>': invalid float literal").
fn usage_error_line(rendered: &str) -> String {
    rendered
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with("Usage:") && !l.starts_with("For more information")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A line of progress or status on stderr (lost if stderr is closed or broken:
/// `eprintln!` would panic there, and a status line is never worth failing for).
pub fn status(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// A note on stderr ([`status`] with `note: `).
pub fn note(text: &str) {
    status(&format!("note: {text}"));
}

/// Standard output was closed by its reader (a broken pipe): the command stops quietly.
#[derive(Debug, thiserror::Error)]
#[error("standard output is closed")]
struct StdoutClosed;

/// Writes a command's output to stdout and flushes it. A broken pipe becomes
/// [`StdoutClosed`] (a quiet, successful end); any other failure is
/// "writing to stdout: ...".
pub fn print(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(StdoutClosed.into()),
        Err(e) => Err(anyhow::Error::new(e).context("writing to stdout")),
    }
}
