//! `search` and `search_run` (a strategy preset run as `cellwise search` runs it, in memory),
//! `hypervolume` (the project's metric) and `strategies` (the shipped presets).

use std::path::PathBuf;

use cellwise::oracle::{Oracle, OracleConfig};
use cellwise::report::{self, Finalist, Reference};
use cellwise::search::{Constraints, SearchContext, StrategyConfig};
use pyo3::exceptions::{PyImportError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use serde_json::json;

use crate::convert::{json_to_py, value_error, value_message};
use crate::problem::{Problem, ProblemState};

/// The settings of a search, as `cellwise search` takes them.
struct Settings {
    problem: std::sync::Arc<ProblemState>,
    weights: Option<PathBuf>,
    budget: usize,
    cost: Option<String>,
    min_accuracy: f64,
    max_cost: f64,
    batch_safe: bool,
    seed: u64,
}

/// The settings a search takes, in the order the docstring lists them.
const SETTINGS: &[&str] = &[
    "problem",
    "weights",
    "budget",
    "cost",
    "min_accuracy",
    "max_cost",
    "batch_safe",
    "seed",
];

impl Settings {
    /// Reads keyword settings; an unknown one is a `TypeError` (as for any Python function),
    /// a bad value a `ValueError` with the CLI's message.
    fn from_kwargs(kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let mut s = Settings {
            problem: Problem::open(cellwise::problem::DEFAULT_PROBLEM, None)?.state,
            weights: None,
            budget: 5000,
            cost: None,
            min_accuracy: 0.0,
            max_cost: f64::INFINITY,
            batch_safe: false,
            seed: 1,
        };
        let Some(kwargs) = kwargs else {
            return Ok(s);
        };
        for (key, value) in kwargs.iter() {
            let key: String = key.extract()?;
            let none = value.is_none();
            match key.as_str() {
                "problem" => s.problem = Problem::from_arg(&value)?,
                "weights" if none => s.weights = None,
                "weights" => s.weights = Some(value.extract()?),
                "budget" => s.budget = value.extract()?,
                "cost" if none => s.cost = None,
                "cost" => s.cost = Some(value.extract()?),
                "min_accuracy" => s.min_accuracy = value.extract()?,
                "max_cost" => s.max_cost = value.extract()?,
                "batch_safe" => s.batch_safe = value.extract()?,
                "seed" => s.seed = value.extract()?,
                other => {
                    return Err(PyTypeError::new_err(format!(
                        "search() got an unexpected keyword argument '{other}' (settings: {})",
                        SETTINGS.join(", ")
                    )));
                }
            }
        }
        if !(0.0..=1.0).contains(&s.min_accuracy) {
            return Err(value_message(format!(
                "min_accuracy {} is not an accuracy: give a number in [0, 1]",
                s.min_accuracy
            )));
        }
        // NaN is refused with the negative numbers and zero.
        if s.max_cost.is_nan() || s.max_cost <= 0.0 {
            return Err(value_message(format!(
                "max_cost {} is not a cost limit: give a positive number, or inf for no limit",
                s.max_cost
            )));
        }
        Ok(s)
    }
}

/// Runs the strategy on the validation split and scores its front on test, as `cellwise
/// search` does (without a run directory); the result as JSON.
fn run(strategy: &str, s: &Settings) -> PyResult<(serde_json::Value, Vec<Finalist>)> {
    let config = StrategyConfig::load(strategy).map_err(|e| value_error(&e))?;
    let state = &s.problem;
    let problem = &state.problem;
    let model = state.model(s.weights.as_deref())?;
    let (cost_model, note) = crate::cost::build(state, s.cost.as_deref(), s.weights.clone())?;
    let splits = state.splits()?;
    let oracle = |split, config: &OracleConfig| {
        Oracle::new(&model.weights, split, &model.candidates, config).map_err(|e| value_error(&e))
    };
    let val = oracle(&splits.val, &config.oracle_config())?;
    let top = val.space().top();
    let reference = Reference::new(
        s.min_accuracy,
        cost_model.cost(&top).map_err(|e| value_error(&e))?,
    )
    .map_err(value_message)?;
    let constraints = Constraints {
        min_accuracy: s.min_accuracy,
        max_cost: s.max_cost,
        batch_safe: s.batch_safe,
    };
    let ctx = SearchContext::new(
        problem,
        &val,
        cost_model.as_ref(),
        constraints,
        s.budget,
        s.seed,
    )
    .map_err(|e| value_error(&e))?;
    let outcome = ctx
        .run(config.build().as_mut())
        .map_err(|e| value_error(&e))?;
    let no_cache = OracleConfig {
        cache_mb: 0,
        ..OracleConfig::default()
    };
    let test = oracle(&splits.test, &no_cache)?;
    let finals = report::finalists(&outcome, &test).map_err(|e| value_error(&e))?;
    let (hv_val, hv_test) = report::front_hypervolumes(&finals, &reference);
    let records: Vec<serde_json::Value> = outcome
        .records
        .iter()
        .map(|r| {
            json!({
                "schedule": r.schedule.to_string(),
                "accuracy": r.accuracy,
                "correct": r.correct,
                "unsafe_images": r.unsafe_images,
                "accepted": r.accepted,
                "cost": r.cost,
            })
        })
        .collect();
    let result = json!({
        "strategy": outcome.strategy,
        "problem": problem.name,
        "weights": model.weights.fingerprint(),
        "cost_model": cost_model.name(),
        "cost_unit": cost_model.unit(),
        "cost_note": note,
        "budget": s.budget,
        "seed": s.seed,
        "min_accuracy": s.min_accuracy,
        "max_cost": s.max_cost.is_finite().then_some(s.max_cost),
        "batch_safe": s.batch_safe,
        "judgements": outcome.judgements,
        "stopped": outcome.stopped,
        "seconds": outcome.seconds,
        "reference": { "schedule": top.to_string(), "accuracy": reference.accuracy, "cost": reference.cost },
        "hypervolume": { "validation": hv_val, "test": hv_test },
        "records": records,
    });
    Ok((result, finals))
}

/// The keys of a front's rows, in order: [`Finalist`]'s fields.
const FRONT_COLUMNS: [&str; 6] = [
    "schedule",
    "cost",
    "val_accuracy",
    "test_accuracy",
    "test_interval",
    "test_unsafe_images",
];

/// The front as a list of dicts keyed by [`FRONT_COLUMNS`] in order (`json_to_py` would
/// sort the keys).
fn front_rows<'py>(py: Python<'py>, finals: &[Finalist]) -> PyResult<Bound<'py, PyList>> {
    let rows = PyList::empty(py);
    for f in finals {
        let row = PyDict::new(py);
        let [schedule, cost, val, test, interval, unsafe_images] = FRONT_COLUMNS;
        row.set_item(schedule, &f.schedule)?;
        row.set_item(cost, f.cost)?;
        row.set_item(val, f.val_accuracy)?;
        row.set_item(test, f.test_accuracy)?;
        row.set_item(interval, f.test_interval.to_vec())?;
        row.set_item(unsafe_images, f.test_unsafe_images)?;
        rows.append(row)?;
    }
    Ok(rows)
}

/// Runs a search strategy as ``cellwise search`` does, in memory, and returns everything
/// about the run as a dict: ``front`` (the non-dominated judged schedules within the
/// constraints, cheapest first, each with ``schedule``, ``cost``, ``val_accuracy``,
/// ``test_accuracy``, ``test_interval``, ``test_unsafe_images``), ``hypervolume``
/// (``validation`` and ``test``, inside the box cost <= the all-highest schedule's, accuracy
/// >= ``min_accuracy``), ``reference``, ``judgements``, ``stopped`` (why it ended before its
/// budget, else ``None``), ``seconds``, ``cost_model``, ``records`` (every judgement in
/// order) and the settings.
///
/// ``strategy``: a shipped preset (``cellwise.strategies()``) or a ``.toml`` preset file.
/// Settings (keywords): ``problem`` (a ``Problem`` or preset name; default ``mnist-rnn32``),
/// ``weights`` (default: the embedded model), ``budget`` (judgements, default 5000),
/// ``cost`` (a cost model name; default as ``cellwise search``), ``min_accuracy`` (default
/// 0), ``max_cost`` (default no limit), ``batch_safe`` (default False), ``seed`` (default
/// 1). The GIL is released while it runs; the search runs to its end (a smaller budget
/// bounds it).
#[pyfunction]
#[pyo3(signature = (strategy, **settings))]
pub fn search_run<'py>(
    py: Python<'py>,
    strategy: &str,
    settings: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let settings = Settings::from_kwargs(settings)?;
    let (result, finals) = py.detach(|| run(strategy, &settings))?;
    let run = json_to_py(py, &result)?;
    run.set_item("front", front_rows(py, &finals)?)?;
    Ok(run)
}

/// Runs a search strategy (see ``search_run`` for the settings) and returns its front: a
/// list of dicts, cheapest first, each with ``schedule``, ``cost``, ``val_accuracy``,
/// ``test_accuracy``, ``test_interval`` and ``test_unsafe_images``. With ``frame=True`` it
/// is a pandas ``DataFrame`` instead (``ImportError`` if pandas is not installed).
#[pyfunction]
#[pyo3(signature = (strategy, *, frame=false, **settings))]
pub fn search<'py>(
    py: Python<'py>,
    strategy: &str,
    frame: bool,
    settings: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let pandas = if frame {
        Some(py.import("pandas").map_err(|_| {
            PyImportError::new_err(
                "search(frame=True) needs pandas: pip install pandas (or call search() for a list of dicts)",
            )
        })?)
    } else {
        None
    };
    let settings = Settings::from_kwargs(settings)?;
    let (_, finals) = py.detach(|| run(strategy, &settings))?;
    let front = front_rows(py, &finals)?;
    match pandas {
        Some(pd) => {
            let kwargs = PyDict::new(py);
            kwargs.set_item("columns", FRONT_COLUMNS.to_vec())?;
            pd.call_method("DataFrame", (front,), Some(&kwargs))
        }
        None => Ok(front.into_any()),
    }
}

/// The project's hypervolume of a front: the share of the box cost in ``[0,
/// reference_cost]`` by accuracy in ``[min_accuracy, 1]`` that the ``(cost, accuracy)``
/// points dominate (0 to 1; points outside the box add nothing). ``reference_cost`` is the
/// cost of the all-highest schedule, as ``search_run`` reports under ``reference``.
#[pyfunction]
pub fn hypervolume(
    points: &Bound<'_, PyAny>,
    min_accuracy: f64,
    reference_cost: f64,
) -> PyResult<f64> {
    let r = Reference::new(min_accuracy, reference_cost).map_err(value_message)?;
    let mut pts = Vec::new();
    for p in points.try_iter()? {
        let (c, a): (f64, f64) = p?.extract().map_err(|_| {
            value_message("hypervolume: every point must be a (cost, accuracy) pair of numbers")
        })?;
        pts.push((c, a));
    }
    Ok(cellwise::report::metrics::hypervolume(pts, &r))
}

/// The names of the shipped strategy presets.
#[pyfunction]
pub fn strategies<'py>(py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
    PyList::new(py, StrategyConfig::shipped())
}
