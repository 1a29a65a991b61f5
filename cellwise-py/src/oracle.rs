//! `Oracle`: the accuracy oracle of one split, for one schedule or a numpy batch.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cellwise::oracle::{Evaluation, OracleConfig, Precision};
use cellwise::schedule::Schedule;
use numpy::PyArray1;
use pyo3::prelude::*;

use crate::convert::{
    index_array, json_to_py, schedule_arg, schedules_from_indices, value_error, value_message,
};
use crate::problem::{Problem, ProblemState};

/// How long a batch runs with the GIL released before it re-attaches to check for signals
/// (Ctrl-C) and let other Python threads in: a few schedules' worth.
const SLICE: Duration = Duration::from_millis(50);

/// The shared accuracy oracle of one split (``"val"`` or ``"test"``): scores schedules on
/// every image of the split, memoising whole schedules and caching the hidden states of
/// shared prefixes.
///
/// ``Oracle(problem, split="val", weights=None)``: ``problem`` is a ``Problem`` or a preset
/// name; ``weights`` a ``.safetensors``/``.npz`` file (default: the problem's embedded model);
/// ``precision`` ``"f32"`` (the default, as ``cellwise eval``) or ``"f64"``; ``memoise``
/// keeps every full evaluation for later questions about the same schedule. Building it
/// reads the data (fetching MNIST if missing) and, for ``weighted`` fits, measures them on
/// the training split.
#[pyclass(frozen, module = "cellwise")]
pub struct Oracle {
    pub oracle: Arc<cellwise::oracle::Oracle>,
    pub problem: Arc<ProblemState>,
    pub weights: Option<PathBuf>,
    fingerprint: String,
}

#[pymethods]
impl Oracle {
    #[new]
    #[pyo3(signature = (problem, split="val", weights=None, *, precision="f32", memoise=true))]
    fn new(
        py: Python<'_>,
        problem: &Bound<'_, PyAny>,
        split: &str,
        weights: Option<PathBuf>,
        precision: &str,
        memoise: bool,
    ) -> PyResult<Self> {
        let state = Problem::from_arg(problem)?;
        let precision = match precision {
            "f32" => Precision::F32,
            "f64" => Precision::F64,
            other => {
                return Err(value_message(format!(
                    "precision '{other}': give \"f32\" or \"f64\""
                )));
            }
        };
        if !matches!(split, "val" | "test") {
            return Err(value_message(format!(
                "split '{split}': give \"val\" or \"test\""
            )));
        }
        let config = OracleConfig {
            precision,
            memoise,
            ..OracleConfig::default()
        };
        let (oracle, fingerprint) = py.detach(|| -> PyResult<_> {
            let model = state.model(weights.as_deref())?;
            let splits = state.splits()?;
            let data = if split == "val" {
                &splits.val
            } else {
                &splits.test
            };
            let oracle =
                cellwise::oracle::Oracle::new(&model.weights, data, &model.candidates, &config)
                    .map_err(|e| value_error(&e))?;
            Ok((oracle, model.weights.fingerprint()))
        })?;
        Ok(Self {
            oracle: Arc::new(oracle),
            problem: state,
            weights,
            fingerprint,
        })
    }

    /// The split's name (``val`` or ``test``).
    #[getter]
    fn split(&self) -> String {
        self.oracle.split().to_string()
    }

    /// The problem it scores.
    #[getter]
    fn problem(&self) -> Problem {
        Problem {
            state: Arc::clone(&self.problem),
        }
    }

    /// The weights' fingerprint (as ``cellwise eval --json`` prints it).
    #[getter]
    fn weights(&self) -> String {
        self.fingerprint.clone()
    }

    /// Images in the split.
    fn __len__(&self) -> usize {
        self.oracle.len()
    }

    /// Scores one schedule (a ``Schedule``, its text form, or a ``(slots, steps)`` array
    /// of degree indices) on the whole split. Returns the dict ``cellwise eval --json``
    /// prints for it: ``accuracy``, ``correct``, ``total``, ``interval`` (95 % Wilson),
    /// out-of-domain counts, ``peak_argument``, ``unsafe_images`` (the images that would
    /// spoil their CKKS batch), ``mean_abs_deviation_per_step``, ``problem``, ``weights``.
    /// The GIL is released while it runs.
    fn evaluate<'py>(
        &self,
        py: Python<'py>,
        schedule: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let s = schedule_arg(schedule, self.oracle.space(), "evaluate")?;
        let oracle = Arc::clone(&self.oracle);
        let eval = py
            .detach(move || oracle.evaluate(&s))
            .map_err(|e| value_error(&e))?;
        json_to_py(py, &self.row(&eval)?)
    }

    /// Scores a batch: ``indices`` is an integer array ``(n, slots, steps)`` whose entry
    /// ``[k, s, t]`` is the index of schedule ``k``'s degree at slot ``s``, step ``t`` among
    /// the slot's candidates (``Problem.degrees``; 0 = highest). Returns three arrays of
    /// length ``n``: accuracies (float64), correct counts and unsafe-image counts (int64),
    /// equal to ``n`` calls of ``evaluate``. Every schedule is checked before any runs
    /// (``ValueError`` naming the first bad one, or a wrong shape or dtype); the GIL is
    /// released while they run, and Ctrl-C (``KeyboardInterrupt``) stops the batch within
    /// about 50 ms.
    #[allow(clippy::type_complexity)]
    fn evaluate_batch<'py>(
        &self,
        py: Python<'py>,
        indices: &Bound<'py, PyAny>,
    ) -> PyResult<(
        Bound<'py, PyArray1<f64>>,
        Bound<'py, PyArray1<i64>>,
        Bound<'py, PyArray1<i64>>,
    )> {
        let space = self.oracle.space();
        let (n, flat) = index_array(indices, space, true, "evaluate_batch")?;
        let schedules = schedules_from_indices(n, &flat, space, "evaluate_batch")?;
        let mut accuracy = Vec::with_capacity(n);
        let mut correct = Vec::with_capacity(n);
        let mut unsafe_images = Vec::with_capacity(n);
        let mut next = 0;
        while next < n {
            let slice = py.detach(|| evaluate_slice(&self.oracle, &schedules[next..], SLICE))?;
            for e in &slice {
                accuracy.push(e.accuracy);
                correct.push(e.correct as i64);
                unsafe_images.push(e.unsafe_images.len() as i64);
            }
            next += slice.len();
            py.check_signals()?;
        }
        Ok((
            PyArray1::from_vec(py, accuracy),
            PyArray1::from_vec(py, correct),
            PyArray1::from_vec(py, unsafe_images),
        ))
    }

    /// True if the schedule classifies at least ``min_correct`` images right (and, with
    /// ``batch_safe``, leaves no image unsafe for batched CKKS). Stops as soon as the answer
    /// is certain; always equal to the same test on ``evaluate``.
    #[pyo3(signature = (schedule, min_correct, batch_safe=false))]
    fn accepts(
        &self,
        py: Python<'_>,
        schedule: &Bound<'_, PyAny>,
        min_correct: i64,
        batch_safe: bool,
    ) -> PyResult<bool> {
        let s = schedule_arg(schedule, self.oracle.space(), "accepts")?;
        let min_correct = usize::try_from(min_correct).map_err(|_| {
            value_message(format!(
                "accepts: min_correct {min_correct} must be a count of images (0 or more)"
            ))
        })?;
        let oracle = Arc::clone(&self.oracle);
        py.detach(move || oracle.accepts(&s, min_correct, batch_safe))
            .map_err(|e| value_error(&e))
    }

    /// What the oracle has done so far: runs, memo hits, prefix-cache hits, early exits,
    /// image-steps computed, seconds, cache bytes.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let stats = serde_json::to_value(self.oracle.stats()).map_err(|e| value_error(&e))?;
        json_to_py(py, &stats)
    }

    /// Forgets memoised results and cached prefix states (for timing cold evaluations).
    fn clear_caches(&self) {
        self.oracle.clear_caches();
    }

    fn __repr__(&self) -> String {
        format!(
            "Oracle({:?}, split={:?}, images={}, weights={:?})",
            self.problem.problem.name,
            self.oracle.split(),
            self.oracle.len(),
            self.fingerprint
        )
    }
}

impl Oracle {
    /// The row `cellwise eval --json` prints for an evaluation.
    fn row(&self, eval: &Evaluation) -> PyResult<serde_json::Value> {
        let mut v = serde_json::to_value(eval).map_err(|e| value_error(&e))?;
        v["weights"] = self.fingerprint.clone().into();
        v["problem"] = self.problem.problem.name.clone().into();
        Ok(v)
    }
}

/// Evaluates `schedules` in order until all are done or `slice` has passed (at least one).
fn evaluate_slice(
    oracle: &cellwise::oracle::Oracle,
    schedules: &[Schedule],
    slice: Duration,
) -> PyResult<Vec<Arc<Evaluation>>> {
    let start = Instant::now();
    let mut out = Vec::new();
    for s in schedules {
        out.push(oracle.evaluate(s).map_err(|e| value_error(&e))?);
        if start.elapsed() >= slice {
            break;
        }
    }
    Ok(out)
}

/// For the binding-overhead benchmark (``scripts/bench-python-binding.py``): the seconds a
/// plain Rust loop of ``Oracle::evaluate`` takes over the schedules of ``indices`` (read
/// and checked before the clock starts), keeping each accuracy, correct count and unsafe
/// count as ``evaluate_batch`` does. Not part of the API.
#[pyfunction]
#[pyo3(name = "_time_rust_evaluate")]
pub fn time_rust_evaluate(
    py: Python<'_>,
    oracle: &Oracle,
    indices: &Bound<'_, PyAny>,
) -> PyResult<f64> {
    let space = oracle.oracle.space();
    let (n, flat) = index_array(indices, space, true, "_time_rust_evaluate")?;
    let schedules = schedules_from_indices(n, &flat, space, "_time_rust_evaluate")?;
    let inner = Arc::clone(&oracle.oracle);
    py.detach(move || {
        let start = Instant::now();
        let mut kept = Vec::with_capacity(n);
        for s in &schedules {
            let e = inner.evaluate(s).map_err(|e| value_error(&e))?;
            kept.push((e.accuracy, e.correct as i64, e.unsafe_images.len() as i64));
        }
        let seconds = start.elapsed().as_secs_f64();
        std::hint::black_box(kept);
        Ok(seconds)
    })
}
