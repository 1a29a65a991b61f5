//! Between Python and the core crate: errors, JSON values, degree-index arrays and the
//! forms a schedule argument may take.

use std::error::Error;
use std::fmt::Display;

use cellwise::data::DataError;
use cellwise::schedule::{Schedule, Space};
use numpy::{
    PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;

use crate::problem;

/// The error and its causes on one line, joined by ": ", leaving out a cause whose text its
/// parent already shows (as `cellwise` prints errors).
pub fn one_line(e: &dyn Error) -> String {
    let mut line = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = cause.source();
    }
    line
}

/// A `ValueError` with the error's one-line message: bad input (a schedule, a name, a
/// setting, a weights file's contents).
pub fn value_error(e: &dyn Error) -> PyErr {
    PyValueError::new_err(one_line(e))
}

/// A `ValueError` with a message.
pub fn value_message(message: impl Display) -> PyErr {
    PyValueError::new_err(message.to_string())
}

/// Data errors: a file that cannot be read or downloaded is an `OSError`, a damaged one a
/// `ValueError`.
pub fn data_error(e: &DataError) -> PyErr {
    match e {
        DataError::Io { .. } | DataError::Missing { .. } | DataError::Fetch(_) => {
            PyOSError::new_err(one_line(e))
        }
        _ => value_error(e),
    }
}

/// A JSON value as the Python object `json.loads` makes of it (dicts, lists, floats, ints,
/// strings, None).
pub fn json_to_py<'py>(py: Python<'py>, value: &serde_json::Value) -> PyResult<Bound<'py, PyAny>> {
    let text = serde_json::to_string(value).map_err(|e| value_error(&e))?;
    py.import("json")?.call_method1("loads", (text,))
}

/// An integer array of degree indices with a trailing (slots, steps) shape: a batch
/// `(n, slots, steps)` when `batch`, one schedule `(slots, steps)` otherwise. Returns the
/// number of schedules and the indices, row-major as given. `what` names the caller in
/// messages.
pub fn index_array(
    obj: &Bound<'_, PyAny>,
    space: &Space,
    batch: bool,
    what: &str,
) -> PyResult<(usize, Vec<i64>)> {
    let py = obj.py();
    let np = py.import("numpy")?;
    let expected = if batch {
        format!(
            "an integer array of shape (n, {}, {}) (schedules, slots, steps) of degree indices",
            space.slots(),
            space.steps
        )
    } else {
        format!(
            "an integer array of shape ({}, {}) (slots, steps) of degree indices",
            space.slots(),
            space.steps
        )
    };
    let array = np.call_method1("asarray", (obj,)).map_err(|e| {
        value_message(format!(
            "{what}: expected {expected}, got something numpy cannot read as an array ({e})"
        ))
    })?;
    let untyped = array.cast::<PyUntypedArray>()?;
    let dtype = untyped.dtype();
    let shape = untyped.shape().to_vec();
    let shape_text = match shape.as_slice() {
        [n] => format!("({n},)"),
        dims => format!(
            "({})",
            dims.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    if !matches!(dtype.kind(), b'i' | b'u') {
        return Err(value_message(format!(
            "{what}: expected {expected}, got dtype {} (give integers: the index of each position's degree among its slot's candidates, 0 = highest)",
            dtype.str()?
        )));
    }
    let tail_ok = shape.len() >= 2 && shape[shape.len() - 2..] == [space.slots(), space.steps];
    if shape.len() != if batch { 3 } else { 2 } || !tail_ok {
        return Err(value_message(format!(
            "{what}: expected {expected}, got shape {shape_text}"
        )));
    }
    let n = if batch { shape[0] } else { 1 };
    let as_i64 = np.call_method1("ascontiguousarray", (array, "int64"))?;
    let typed = as_i64.cast::<PyArrayDyn<i64>>()?.readonly();
    let flat = typed
        .as_slice()
        .map_err(|e| value_message(format!("{what}: {e}")))?
        .to_vec();
    Ok((n, flat))
}

/// The schedules of a batch of indices `(n, slots, steps)` (row-major, as [`index_array`]
/// returns them), each checked against its slots' candidates; an error names the schedule.
pub fn schedules_from_indices(
    n: usize,
    flat: &[i64],
    space: &Space,
    what: &str,
) -> PyResult<Vec<Schedule>> {
    let (slots, steps) = (space.slots(), space.steps);
    let per = slots * steps;
    let mut step_major = vec![0i64; per];
    (0..n)
        .map(|k| {
            let rows = &flat[k * per..(k + 1) * per];
            for s in 0..slots {
                for t in 0..steps {
                    step_major[t * slots + s] = rows[s * steps + t];
                }
            }
            space.try_from_choices(&step_major).map_err(|e| {
                if n == 1 {
                    value_message(format!("{what}: {e}"))
                } else {
                    value_message(format!("{what}: schedule {k} of the batch: {e}"))
                }
            })
        })
        .collect()
}

/// A schedule argument: a `Schedule` of the same problem's shape, its text form (`all-17`,
/// `17 except 7@0,4`, ...) or an integer array `(slots, steps)` of degree indices. Degrees
/// must be the space's candidates; `exact` passes here (the oracle scores it, the cost models
/// refuse it).
pub fn schedule_arg(obj: &Bound<'_, PyAny>, space: &Space, what: &str) -> PyResult<Schedule> {
    let schedule = if let Ok(s) = obj.cast::<problem::Schedule>() {
        s.get().inner.clone()
    } else if let Ok(text) = obj.extract::<String>() {
        Schedule::parse(&text, space.shape()).map_err(|e| value_error(&e))?
    } else {
        let (n, flat) = index_array(obj, space, false, what)?;
        return Ok(schedules_from_indices(n, &flat, space, what)?.remove(0));
    };
    schedule
        .check_shape(space.shape())
        .and_then(|()| schedule.check_degrees(space))
        .map_err(|e| value_error(&e))?;
    Ok(schedule)
}
