//! Weight files in and out: `.npz` and `.safetensors` in the Keras layout (also cellwise's
//! earlier SimpleRNN names and PyTorch `state_dict`s, detected by their names), checks of
//! shapes and values, and a fingerprint for outputs. cellwise writes the Keras layout.
//!
//! Reading goes bytes → named arrays ([`tensors`]) → [`Weights`] ([`keras`], [`pytorch`]);
//! every size is checked against the others before it is used.

use std::path::Path;

use super::Weights;
use crate::recurrence::CellKind;

mod check;
mod keras;
mod pytorch;
mod tensors;

use tensors::Tensors;

/// Names of the arrays cellwise writes (the Keras layout), in canonical order.
pub const ARRAY_NAMES: [&str; 5] = keras::KERAS_NAMES;

/// Errors raised while reading, writing or validating weights.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Format { path: String, message: String },
    #[error("{path}: unknown weight file type (expected .npz or .safetensors)")]
    UnknownType { path: String },
    #[error("weights: {0}")]
    Invalid(String),
    /// Valid weights that do not fit what they are used for (e.g. another problem's cell).
    #[error("{0}")]
    Mismatch(String),
}

/// Reads weights from a `.npz` or `.safetensors` file (Keras names, cellwise's earlier
/// names or a PyTorch state_dict) and validates them.
pub fn load_weights(path: &Path) -> Result<Weights, WeightsError> {
    let name = path.display().to_string();
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let read: fn(&[u8]) -> Result<Tensors, String> = match ext.as_deref() {
        Some("npz") => tensors::read_npz,
        Some("safetensors") => tensors::read_safetensors,
        _ => return Err(WeightsError::UnknownType { path: name }),
    };
    let bytes = std::fs::read(path).map_err(|source| WeightsError::Io {
        path: name.clone(),
        source,
    })?;
    parse(&bytes, read).map_err(|message| WeightsError::Format {
        path: name,
        message,
    })
}

/// Parses `.safetensors` bytes (e.g. the embedded default) and validates them.
pub fn weights_from_safetensors_bytes(bytes: &[u8]) -> Result<Weights, WeightsError> {
    parse(bytes, tensors::read_safetensors).map_err(WeightsError::Invalid)
}

/// Parses `.npz` bytes and validates them.
pub fn weights_from_npz_bytes(bytes: &[u8]) -> Result<Weights, WeightsError> {
    parse(bytes, tensors::read_npz).map_err(WeightsError::Invalid)
}

fn parse(bytes: &[u8], read: fn(&[u8]) -> Result<Tensors, String>) -> Result<Weights, String> {
    let weights = interpret(&read(bytes)?)?;
    weights.validate(None).map_err(|e| match e {
        WeightsError::Invalid(m) => m,
        other => other.to_string(),
    })?;
    Ok(weights)
}

/// The layout of a file's arrays, from their names: a PyTorch state_dict, the Keras names
/// or cellwise's earlier ones.
fn interpret(t: &Tensors) -> Result<Weights, String> {
    let has = |names: &[&str]| t.names().any(|n| names.contains(&n));
    if t.names().any(|n| n.ends_with(pytorch::INPUT_WEIGHT)) {
        pytorch::read(t)
    } else if has(&keras::KERAS_NAMES) {
        keras::read(t, keras::KERAS_NAMES)
    } else if has(&keras::LEGACY_NAMES) {
        keras::read(t, keras::LEGACY_NAMES)
    } else if t.names().next().is_none() {
        Err("the file holds no arrays".into())
    } else {
        let found: Vec<&str> = t.names().collect();
        Err(format!(
            "no known weight arrays (found {}); expected the Keras names ({}) or a PyTorch state_dict (*weight_ih_l0, *weight_hh_l0, ...)",
            found.join(", "),
            keras::KERAS_NAMES.join(", ")
        ))
    }
}

/// Serialises weights as safetensors bytes (F32, little-endian, Keras names).
pub fn to_safetensors(w: &Weights) -> Result<Vec<u8>, WeightsError> {
    let arrays = keras::arrays(w).map_err(WeightsError::Invalid)?;
    tensors::write_safetensors(&arrays).map_err(WeightsError::Invalid)
}

/// Writes `STEM.npz` and `STEM.safetensors` (Keras names; each atomically, through a
/// temporary file).
pub fn save_weights(w: &Weights, stem: &Path) -> Result<(), WeightsError> {
    let arrays = keras::arrays(w).map_err(WeightsError::Invalid)?;
    let npz = tensors::write_npz(&arrays).map_err(WeightsError::Invalid)?;
    let st = tensors::write_safetensors(&arrays).map_err(WeightsError::Invalid)?;
    for (ext, bytes) in [("npz", npz), ("safetensors", st)] {
        let path = stem.with_extension(ext);
        crate::fsutil::write_atomic(&path, &bytes).map_err(|source| WeightsError::Io {
            path: path.display().to_string(),
            source,
        })?;
    }
    Ok(())
}

/// "a gru", "an lstm", "a simple-rnn".
fn a_cell(cell: CellKind) -> String {
    match cell {
        CellKind::Lstm => format!("an {cell}"),
        _ => format!("a {cell}"),
    }
}

/// The cell whose recurrent kernel `name` (of shape `shape`) has `blocks` gate columns or
/// rows of `hidden` units each.
fn cell_of(name: &str, shape: &[usize], hidden: usize, blocks: usize) -> Result<CellKind, String> {
    if hidden == 0 {
        return Err(format!("{name} has shape {shape:?}: no hidden units"));
    }
    if blocks.is_multiple_of(hidden)
        && let Some(cell) = CellKind::from_gate_count(blocks / hidden)
    {
        return Ok(cell);
    }
    Err(format!(
        "{name} has shape {shape:?}: {blocks} is not 1, 3 or 4 gate blocks of {hidden} units (SimpleRNN, GRU, LSTM)"
    ))
}

/// "NAME has shape [..], expected WANT (a gru of 4 units)".
fn shape_error(name: &str, found: &[usize], want: &str, cell: CellKind, hidden: usize) -> String {
    format!(
        "{name} has shape {found:?}, expected {want} ({} of {hidden} units)",
        a_cell(cell)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::init::keras_init;
    use rand::SeedableRng;
    use rand::rngs::ChaCha20Rng;

    fn sample() -> Weights {
        keras_init(4, 3, 2, &mut ChaCha20Rng::seed_from_u64(3))
    }

    #[test]
    fn npz_and_safetensors_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let w = sample();
        save_weights(&w, &dir.path().join("m")).unwrap();
        assert_eq!(load_weights(&dir.path().join("m.npz")).unwrap(), w);
        assert_eq!(load_weights(&dir.path().join("m.safetensors")).unwrap(), w);
    }

    #[test]
    fn bad_weights_are_refused() {
        let mut w = sample();
        w.recurrent_kernel[[1, 2]] = f32::NAN;
        let e = w.validate(None).unwrap_err().to_string();
        assert!(
            e.contains("recurrent_kernel") && e.contains("non-finite"),
            "{e}"
        );
        let mut w = sample();
        w.bias = ndarray::Array1::zeros(5);
        assert!(
            w.validate(None)
                .unwrap_err()
                .to_string()
                .contains("bias has shape")
        );
        let w = sample();
        let e = w.validate(Some((28, 32, 10))).unwrap_err().to_string();
        assert!(e.contains("problem needs"), "{e}");
        let e = weights_from_safetensors_bytes(b"garbage")
            .unwrap_err()
            .to_string();
        assert!(e.contains("safetensors"), "{e}");
    }

    #[test]
    fn fingerprint_tracks_values() {
        let w = sample();
        let mut v = w.clone();
        v.dense_bias[0] += 1e-3;
        assert_ne!(w.fingerprint(), v.fingerprint());
        assert_eq!(w.fingerprint(), sample().fingerprint());
    }
}
