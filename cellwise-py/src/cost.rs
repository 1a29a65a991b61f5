//! `CostModel`: the price of a schedule under CKKS (depth, bootstraps or predicted latency).

use std::path::PathBuf;
use std::sync::Arc;

use cellwise::cost::{self, CostOptions};
use cellwise::schedule::Space;
use numpy::PyArray1;
use pyo3::prelude::*;

use crate::convert::{index_array, json_to_py, schedule_arg, schedules_from_indices, value_error};
use crate::oracle::Oracle;
use crate::problem::{Problem, ProblemState};

/// A cost model by name: ``depth`` (levels consumed), ``bootstraps``, ``latency`` or
/// ``latency:PROFILE`` (predicted seconds from a measured timing profile), or ``None`` for
/// what ``cellwise search`` uses by default (``latency:cellwise-fgb-like-12`` where that
/// profile prices the problem's circuit, else ``depth``; ``note`` then says why).
///
/// ``CostModel(name=None, problem=None, *, oracle=None, weights=None)``: ``problem`` is a
/// ``Problem`` or a preset name (default: the oracle's problem, else ``mnist-rnn32``). A
/// model of the encrypted circuit prices the problem's fitted polynomials; for a problem with
/// ``weighted`` fits those are the oracle's (or, without one, fitted for ``weights``, default
/// the embedded model, on the training split). Raises ``ValueError`` with the core's message
/// for an unknown model or one that cannot price the problem.
#[pyclass(frozen, module = "cellwise")]
pub struct CostModel {
    model: Arc<dyn cost::CostModel>,
    space: Space,
    note: Option<String>,
}

#[pymethods]
impl CostModel {
    #[new]
    #[pyo3(signature = (name=None, problem=None, *, oracle=None, weights=None))]
    fn new(
        py: Python<'_>,
        name: Option<&str>,
        problem: Option<&Bound<'_, PyAny>>,
        oracle: Option<&Oracle>,
        weights: Option<PathBuf>,
    ) -> PyResult<Self> {
        let state: Arc<ProblemState> = match (problem, oracle) {
            (Some(p), _) => Problem::from_arg(p)?,
            (None, Some(o)) => Arc::clone(&o.problem),
            (None, None) => Problem::open(cellwise::problem::DEFAULT_PROBLEM, None)?.state,
        };
        if let Some(o) = oracle
            && o.problem.problem != state.problem
        {
            return Err(crate::convert::value_message(format!(
                "the oracle scores problem {}, the cost model is for problem {}",
                o.problem.problem.name, state.problem.name
            )));
        }
        let weights = oracle.map_or(weights, |o| o.weights.clone());
        let (model, note) = py.detach(|| build(&state, name, weights))?;
        Ok(Self {
            model,
            space: state.space.clone(),
            note,
        })
    }

    /// The model's name, e.g. ``depth`` or ``latency:cellwise-fgb-like-12``.
    #[getter]
    fn name(&self) -> String {
        self.model.name().to_string()
    }

    /// The unit of its costs: ``levels``, ``bootstraps`` or ``s``.
    #[getter]
    fn unit(&self) -> String {
        self.model.unit().to_string()
    }

    /// Why the default fell back to ``depth`` (``None`` otherwise).
    #[getter]
    fn note(&self) -> Option<String> {
        self.note.clone()
    }

    /// The cost of a schedule (a ``Schedule``, its text form or a ``(slots, steps)`` index
    /// array); lower is better.
    fn cost(&self, schedule: &Bound<'_, PyAny>) -> PyResult<f64> {
        let s = schedule_arg(schedule, &self.space, "cost")?;
        self.model.cost(&s).map_err(|e| value_error(&e))
    }

    /// The costs of a batch ``(n, slots, steps)`` of degree indices (as
    /// ``Oracle.evaluate_batch`` takes it), as a float64 array.
    fn cost_batch<'py>(
        &self,
        py: Python<'py>,
        indices: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let (n, flat) = index_array(indices, &self.space, true, "cost_batch")?;
        let schedules = schedules_from_indices(n, &flat, &self.space, "cost_batch")?;
        let model = Arc::clone(&self.model);
        let costs = py.detach(move || {
            schedules
                .iter()
                .map(|s| model.cost(s))
                .collect::<Result<Vec<f64>, _>>()
        });
        Ok(PyArray1::from_vec(py, costs.map_err(|e| value_error(&e))?))
    }

    /// The cost with its per-step account (as ``cellwise cost --json``): ``total``,
    /// ``depth``, ``bootstraps``, and per step the levels in and out, where bootstraps run,
    /// the operations and (latency) the predicted seconds.
    fn breakdown<'py>(
        &self,
        py: Python<'py>,
        schedule: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let s = schedule_arg(schedule, &self.space, "breakdown")?;
        let b = self.model.breakdown(&s).map_err(|e| value_error(&e))?;
        json_to_py(py, &serde_json::to_value(b).map_err(|e| value_error(&e))?)
    }

    fn __repr__(&self) -> String {
        format!("CostModel({:?})", self.model.name())
    }
}

/// The model `name` names (`None`: the search default, with the reason of a fallback) for
/// the problem, with the fits of `weights` where the problem's need data.
pub fn build(
    state: &ProblemState,
    name: Option<&str>,
    weights: Option<PathBuf>,
) -> PyResult<(Arc<dyn cost::CostModel>, Option<String>)> {
    let problem = &state.problem;
    let spec = name
        .map(|n| cost::Spec::parse(n, problem, &CostOptions::default()))
        .transpose()
        .map_err(|e| value_error(&e))?;
    let needs_fits = problem.fits_need_data() && spec.as_ref().is_none_or(|s| s.needs_fits());
    let model = if needs_fits {
        Some(state.model(weights.as_deref())?)
    } else {
        None
    };
    let candidates = model.as_ref().map(|m| &m.candidates);
    let (model, note) = match spec {
        Some(spec) => (spec.build(problem, candidates), None),
        None => match cost::default_for_search(problem, candidates) {
            Ok((m, why)) => (Ok(m), why),
            Err(e) => (Err(e), None),
        },
    };
    Ok((Arc::from(model.map_err(|e| value_error(&e))?), note))
}
