//! `Problem` (a preset with its search space, data and fitted candidates, loaded once) and
//! `Schedule` (a schedule of one problem's shape, with its text form).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use cellwise::data::{self, DataError, Splits};
use cellwise::model::{Weights, WeightsError, load_weights};
use cellwise::oracle::Candidates;
use cellwise::schedule::{Approx, Space};
use numpy::PyArray2;
use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;

use crate::convert::{
    data_error, index_array, one_line, schedules_from_indices, value_error, value_message,
};

/// A model of a problem: its weights and the candidate fits the oracle scores with them.
pub struct Model {
    pub weights: Weights,
    pub candidates: Candidates,
}

/// What a `Problem` holds: the preset, and what is loaded from it on first use.
pub struct ProblemState {
    pub problem: cellwise::problem::Problem,
    pub space: Space,
    data_dir: PathBuf,
    splits: Mutex<Option<Arc<Splits>>>,
    /// Weights and fits by weights file (`None`: the embedded model).
    models: Mutex<HashMap<Option<PathBuf>, Arc<Model>>>,
}

impl ProblemState {
    /// The problem's splits, read from the data directory (its data set fetched first if missing)
    /// on the first call.
    pub fn splits(&self) -> PyResult<Arc<Splits>> {
        let mut slot = self.splits.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = slot.as_ref() {
            return Ok(Arc::clone(s));
        }
        let dir = &self.data_dir;
        data::ensure(self.problem.dataset(), dir).map_err(|e| {
            let message = format!("data directory {}: {}", dir.display(), one_line(&e));
            match e {
                DataError::Io { .. } | DataError::Missing { .. } | DataError::Fetch(_) => {
                    PyOSError::new_err(message)
                }
                _ => value_message(message),
            }
        })?;
        let splits = Arc::new(data::load_splits(&self.problem, dir).map_err(|e| data_error(&e))?);
        *slot = Some(Arc::clone(&splits));
        Ok(splits)
    }

    /// The weights of `path` (`None`: the embedded model of the problem) with the candidate
    /// fits for them (a problem with `weighted` fits measures them on the training split),
    /// built on the first call for each path.
    pub fn model(&self, path: Option<&Path>) -> PyResult<Arc<Model>> {
        let key = path.map(Path::to_path_buf);
        if let Some(m) = self.lock_models().get(&key) {
            return Ok(Arc::clone(m));
        }
        let (weights, source) = match path {
            Some(p) => (
                load_weights(p).map_err(|e| weights_error(&e))?,
                p.display().to_string(),
            ),
            None => (
                Weights::embedded_for(&self.problem).ok_or_else(|| {
                    value_message(format!(
                        "problem {} has no embedded model: train one (cellwise train --problem {0} --out STEM) and pass weights=\"STEM.safetensors\"",
                        self.problem.name
                    ))
                })?,
                "the embedded default model".to_string(),
            ),
        };
        weights
            .check_against(&self.problem)
            .map_err(|e| value_message(format!("{source}: {}", one_line(&e))))?;
        let splits = self.splits()?;
        let candidates = Candidates::for_model(&self.problem, &weights, &splits.train)
            .map_err(|e| value_error(&e))?;
        let model = Arc::new(Model {
            weights,
            candidates,
        });
        self.lock_models().insert(key, Arc::clone(&model));
        Ok(model)
    }

    fn lock_models(&self) -> std::sync::MutexGuard<'_, HashMap<Option<PathBuf>, Arc<Model>>> {
        self.models.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A weights file that cannot be read is an `OSError`, one with bad contents a `ValueError`.
fn weights_error(e: &WeightsError) -> PyErr {
    match e {
        WeightsError::Io { .. } => PyOSError::new_err(one_line(e)),
        _ => value_error(e),
    }
}

/// A problem preset: the data, the network, and the candidate polynomials of each
/// activation slot (its search space of schedules).
///
/// ``Problem.load("mnist-rnn32")`` takes a shipped preset's name or a path to a ``.toml``
/// preset. The data (MNIST, fetched into the data directory if missing) and each model's
/// fits are loaded on first use and shared by every ``Oracle`` and ``CostModel`` made from
/// this object.
#[pyclass(frozen, module = "cellwise")]
pub struct Problem {
    pub state: Arc<ProblemState>,
}

impl Problem {
    /// Loads a preset (no data yet).
    pub fn open(name: &str, data_dir: Option<PathBuf>) -> PyResult<Self> {
        let problem = cellwise::problem::Problem::load(name).map_err(|e| value_error(&e))?;
        Ok(Self {
            state: Arc::new(ProblemState {
                space: problem.space(),
                problem,
                data_dir: data_dir.unwrap_or_else(data::default_data_dir),
                splits: Mutex::new(None),
                models: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// A problem argument: a `Problem`, or a preset's name or path (loaded with the default
    /// data directory).
    pub fn from_arg(obj: &Bound<'_, PyAny>) -> PyResult<Arc<ProblemState>> {
        if let Ok(p) = obj.cast::<Problem>() {
            return Ok(Arc::clone(&p.get().state));
        }
        let name: String = obj.extract().map_err(|_| {
            value_message(format!(
                "problem: expected a cellwise.Problem or a preset name, got {}",
                obj.get_type()
                    .name()
                    .map_or_else(|_| "?".to_string(), |n| n.to_string())
            ))
        })?;
        Ok(Self::open(&name, None)?.state)
    }

    fn schedule(&self, inner: cellwise::schedule::Schedule) -> Schedule {
        Schedule {
            inner,
            space: self.state.space.clone(),
        }
    }
}

#[pymethods]
impl Problem {
    /// Loads a problem preset by name (``mnist-rnn32``, ``mnist-gru32-safe``, ...) or from a
    /// ``.toml`` file. ``data_dir``: where MNIST is (or is fetched to); default
    /// ``$CELLWISE_DATA_DIR``, else ``./data``. Raises ``ValueError`` for an unknown or bad
    /// preset.
    #[staticmethod]
    #[pyo3(signature = (name, data_dir=None))]
    fn load(name: &str, data_dir: Option<PathBuf>) -> PyResult<Self> {
        Self::open(name, data_dir)
    }

    /// The preset's name.
    #[getter]
    fn name(&self) -> String {
        self.state.problem.name.clone()
    }

    /// One line for humans.
    #[getter]
    fn description(&self) -> String {
        self.state.problem.description.clone()
    }

    /// The recurrent cell: ``simple-rnn``, ``gru`` or ``lstm``.
    #[getter]
    fn cell(&self) -> &'static str {
        self.state.problem.cell().name()
    }

    /// Time steps (image rows).
    #[getter]
    fn steps(&self) -> usize {
        self.state.space.steps
    }

    /// The activation slots of one step, in order (``["h"]`` for a SimpleRNN; ``z``, ``r``,
    /// ``n`` for a GRU; ``i``, ``f``, ``g``, ``o``, ``c`` for an LSTM).
    #[getter]
    fn slots(&self) -> Vec<&'static str> {
        self.state
            .problem
            .cell()
            .cell()
            .slots
            .iter()
            .map(|s| s.name)
            .collect()
    }

    /// Each slot's candidate degrees, highest first: a degree index ``i`` of slot ``s``
    /// means ``degrees[s][i]``.
    #[getter]
    fn degrees(&self) -> Vec<Vec<usize>> {
        self.state.space.degrees.clone()
    }

    /// ``(slots, steps)``: the shape of one schedule's index array.
    #[getter]
    fn shape(&self) -> (usize, usize) {
        (self.state.space.slots(), self.state.space.steps)
    }

    /// Parses a schedule's text form: ``all-17``, ``17,7,...`` (one entry per step, one-slot
    /// cells), ``17 except 7@0,4 3@9``, ``17 except z:7@* n:3@0-9``, ``z:17,...; r:...``.
    /// Raises ``ValueError`` with the parser's message.
    fn parse(&self, text: &str) -> PyResult<Schedule> {
        let s = cellwise::schedule::Schedule::parse(text, self.state.space.shape())
            .map_err(|e| value_error(&e))?;
        s.check_degrees(&self.state.space)
            .map_err(|e| value_error(&e))?;
        Ok(self.schedule(s))
    }

    /// The schedule of an integer array ``(slots, steps)`` of degree indices (0 = the slot's
    /// highest degree). Raises ``ValueError`` for another shape, a non-integer dtype or an
    /// index out of range.
    fn schedule_from_indices(&self, indices: &Bound<'_, PyAny>) -> PyResult<Schedule> {
        let space = &self.state.space;
        let (n, flat) = index_array(indices, space, false, "schedule_from_indices")?;
        let s = schedules_from_indices(n, &flat, space, "schedule_from_indices")?.remove(0);
        Ok(self.schedule(s))
    }

    /// Every slot at its highest degree (``all-17`` for the paper's fits).
    fn top(&self) -> Schedule {
        self.schedule(self.state.space.top())
    }

    /// Every slot at its lowest degree.
    fn bottom(&self) -> Schedule {
        self.schedule(self.state.space.bottom())
    }

    fn __repr__(&self) -> String {
        let p = &self.state.problem;
        format!(
            "Problem({:?}, cell={}, steps={}, degrees={:?})",
            p.name,
            p.cell(),
            self.state.space.steps,
            self.state.space.degrees
        )
    }
}

/// A schedule: the approximation of every (slot, step) of one problem's shape. Made by
/// ``Problem.parse``, ``Problem.schedule_from_indices``, ``Problem.top``/``bottom``;
/// ``str()`` gives the shortest text form that parses back to it.
#[pyclass(frozen, eq, hash, module = "cellwise")]
pub struct Schedule {
    pub inner: cellwise::schedule::Schedule,
    space: Space,
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        self.inner == other.inner
    }
}

impl std::hash::Hash for Schedule {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.inner.hash(state);
    }
}

#[pymethods]
impl Schedule {
    /// Slots per step.
    #[getter]
    fn slots(&self) -> usize {
        self.inner.slots()
    }

    /// Time steps.
    #[getter]
    fn steps(&self) -> usize {
        self.inner.steps()
    }

    /// The degree of each (slot, step) as a list per slot (``None`` for ``exact``).
    #[getter]
    fn degrees(&self) -> Vec<Vec<Option<usize>>> {
        (0..self.inner.slots())
            .map(|s| {
                self.inner
                    .slot(s)
                    .into_iter()
                    .map(|a| match a {
                        Approx::Exact => None,
                        Approx::Degree(d) => Some(d),
                    })
                    .collect()
            })
            .collect()
    }

    /// The degree indices as an int64 array ``(slots, steps)`` (0 = the slot's highest
    /// degree), the form ``Oracle.evaluate_batch`` takes. Raises ``ValueError`` for a
    /// schedule with ``exact`` entries.
    fn indices<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<i64>>> {
        let choices = self.space.choices(&self.inner).ok_or_else(|| {
            value_message(format!(
                "schedule {}: exact entries have no degree index",
                self.inner
            ))
        })?;
        let (slots, steps) = (self.inner.slots(), self.inner.steps());
        let rows: Vec<Vec<i64>> = (0..slots)
            .map(|s| (0..steps).map(|t| choices[t * slots + s] as i64).collect())
            .collect();
        PyArray2::from_vec2(py, &rows).map_err(value_message)
    }

    fn __str__(&self) -> String {
        self.inner.to_string()
    }

    fn __repr__(&self) -> String {
        format!("Schedule({:?})", self.inner.to_string())
    }
}
