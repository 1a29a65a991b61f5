//! Python bindings of cellwise (the `cellwise` Python module, built by maturin).
//!
//! The core crate knows nothing of Python; this crate wraps it:
//! - `problem`: `Problem` (a preset, its search space and, loaded on first use, its data)
//!   and `Schedule` (text forms both ways, degree indices);
//! - `oracle`: `Oracle` (scores on a split: one schedule, or a numpy batch with the GIL
//!   released and Ctrl-C honoured between slices of work);
//! - `cost`: `CostModel` (the cost of one schedule or a batch, and its per-step account);
//! - `search`: `search` and `search_run` (a strategy preset run as `cellwise search` runs
//!   it, the front scored on test), `hypervolume` (the project's metric), `strategies`;
//! - `convert`: schedule arguments, index arrays, JSON values and errors (one line, as the
//!   CLI prints them: `ValueError` for bad input, `OSError` for files and downloads).

use pyo3::prelude::*;

mod convert;
mod cost;
mod oracle;
mod problem;
mod search;

/// cellwise: cell-by-cell polynomial activation schedules for recurrent networks under CKKS
/// homomorphic encryption. The accuracy oracle, the cost models and the search strategies of
/// the Rust crate, from Python.
#[pymodule(name = "cellwise")]
fn cellwise_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<problem::Problem>()?;
    m.add_class::<problem::Schedule>()?;
    m.add_class::<oracle::Oracle>()?;
    m.add_class::<cost::CostModel>()?;
    m.add_function(wrap_pyfunction!(search::search, m)?)?;
    m.add_function(wrap_pyfunction!(search::search_run, m)?)?;
    m.add_function(wrap_pyfunction!(search::hypervolume, m)?)?;
    m.add_function(wrap_pyfunction!(search::strategies, m)?)?;
    m.add_function(wrap_pyfunction!(oracle::time_rust_evaluate, m)?)?;
    Ok(())
}
