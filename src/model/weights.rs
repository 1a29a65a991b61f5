//! Weight files: `.npz` and `.safetensors` with the Keras layout (`wx`, `wh`, `b`, `wd`,
//! `bd`), validation and a fingerprint for outputs.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;

use ndarray::{Array1, Array2, ArrayD, Ix1, Ix2};
use ndarray_npy::{NpzReader, NpzWriter};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use sha2::{Digest, Sha256};

use super::Weights;
use crate::recurrence::CellKind;

/// Names of the arrays, in canonical order.
pub const ARRAY_NAMES: [&str; 5] = ["wx", "wh", "b", "wd", "bd"];

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
}

impl Weights {
    /// Input width.
    pub fn input_width(&self) -> usize {
        self.kernel.nrows()
    }

    /// Hidden units.
    pub fn hidden(&self) -> usize {
        self.recurrent_kernel.nrows()
    }

    /// Output classes.
    pub fn classes(&self) -> usize {
        self.dense_kernel.ncols()
    }

    /// Number of parameters.
    pub fn parameter_count(&self) -> usize {
        self.arrays_ref().iter().map(|a| a.len()).sum()
    }

    /// Checks shapes against each other (and, if given, against a problem's input width,
    /// hidden size and classes) and that every value is finite.
    pub fn validate(&self, expect: Option<(usize, usize, usize)>) -> Result<(), WeightsError> {
        let g = self.cell.cell().gate_count();
        let (i, h, c) = (
            self.kernel.nrows(),
            self.recurrent_kernel.nrows(),
            self.dense_kernel.ncols(),
        );
        let mut shapes = vec![
            ("kernel", self.kernel.shape().to_vec(), vec![i, g * h]),
            (
                "recurrent_kernel",
                self.recurrent_kernel.shape().to_vec(),
                vec![h, g * h],
            ),
            ("bias", self.bias.shape().to_vec(), vec![g * h]),
            (
                "dense_kernel",
                self.dense_kernel.shape().to_vec(),
                vec![h, c],
            ),
            ("dense_bias", self.dense_bias.shape().to_vec(), vec![c]),
        ];
        match (&self.recurrent_bias, self.cell.cell().recurrent_bias) {
            (Some(b), true) => shapes.push(("recurrent_bias", b.shape().to_vec(), vec![g * h])),
            (None, false) => {}
            (Some(_), false) => {
                return Err(WeightsError::Invalid(format!(
                    "a {} has no recurrent bias",
                    self.cell
                )));
            }
            (None, true) => {
                return Err(WeightsError::Invalid(format!(
                    "a {} needs a recurrent bias",
                    self.cell
                )));
            }
        }
        for (name, found, want) in shapes {
            if found != want {
                return Err(WeightsError::Invalid(format!(
                    "{name} has shape {found:?}, expected {want:?} (a {} of {h} units on {i} inputs)",
                    self.cell
                )));
            }
        }
        if let Some((ei, eh, ec)) = expect
            && (ei, eh, ec) != (i, h, c)
        {
            return Err(WeightsError::Invalid(format!(
                "input width x hidden x classes is {i}x{h}x{c}, the problem needs {ei}x{eh}x{ec}"
            )));
        }
        for (name, values) in self.arrays() {
            if let Some(pos) = values.iter().position(|v| !v.is_finite()) {
                return Err(WeightsError::Invalid(format!(
                    "{name} holds a non-finite value ({}) at flat index {pos}",
                    values[pos]
                )));
            }
        }
        Ok(())
    }

    /// The arrays as flat slices with their names, in canonical order.
    fn arrays(&self) -> Vec<(&'static str, Vec<f32>)> {
        let mut out = vec![
            ("kernel", self.kernel.iter().copied().collect()),
            (
                "recurrent_kernel",
                self.recurrent_kernel.iter().copied().collect(),
            ),
            ("bias", self.bias.to_vec()),
        ];
        if let Some(b) = &self.recurrent_bias {
            out.push(("recurrent_bias", b.to_vec()));
        }
        out.push(("dense_kernel", self.dense_kernel.iter().copied().collect()));
        out.push(("dense_bias", self.dense_bias.to_vec()));
        out
    }

    /// The shapes of [`Weights::arrays`], in the same order.
    fn shapes(&self) -> Vec<Vec<usize>> {
        let mut out = vec![
            self.kernel.shape().to_vec(),
            self.recurrent_kernel.shape().to_vec(),
            self.bias.shape().to_vec(),
        ];
        if let Some(b) = &self.recurrent_bias {
            out.push(b.shape().to_vec());
        }
        out.push(self.dense_kernel.shape().to_vec());
        out.push(self.dense_bias.shape().to_vec());
        out
    }

    /// First 16 hex digits of the SHA-256 of the shapes and little-endian values (a gated
    /// cell's name first; a SimpleRNN's fingerprint is what earlier versions computed).
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        if self.cell != CellKind::SimpleRnn {
            h.update(self.cell.name().as_bytes());
        }
        let shapes = self.shapes();
        for (shape, (_, values)) in shapes.iter().zip(self.arrays()) {
            for d in shape.iter() {
                h.update((*d as u64).to_le_bytes());
            }
            for v in values {
                h.update(v.to_le_bytes());
            }
        }
        crate::data::hex(&h.finalize()[..8])
    }
}

/// Reads weights from a `.npz` or `.safetensors` file and validates them.
pub fn load_weights(path: &Path) -> Result<Weights, WeightsError> {
    let name = path.display().to_string();
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let weights = match ext {
        "npz" => read_npz(path)?,
        "safetensors" => {
            let bytes = std::fs::read(path).map_err(|source| WeightsError::Io {
                path: name.clone(),
                source,
            })?;
            from_safetensors(&bytes).map_err(|message| WeightsError::Format {
                path: name.clone(),
                message,
            })?
        }
        _ => return Err(WeightsError::UnknownType { path: name }),
    };
    weights.validate(None).map_err(|e| WeightsError::Format {
        path: name,
        message: e.to_string(),
    })?;
    Ok(weights)
}

fn read_npz(path: &Path) -> Result<Weights, WeightsError> {
    let name = path.display().to_string();
    let fmt = |message: String| WeightsError::Format {
        path: name.clone(),
        message,
    };
    let file = File::open(path).map_err(|source| WeightsError::Io {
        path: name.clone(),
        source,
    })?;
    let mut npz = NpzReader::new(file).map_err(|e| fmt(format!("not a readable .npz: {e}")))?;
    let mut arrays: HashMap<&str, ArrayD<f32>> = HashMap::new();
    for key in ARRAY_NAMES {
        // Accept float32 and float64 arrays (numpy's default).
        let a = match npz.by_name::<ndarray::OwnedRepr<f32>, ndarray::IxDyn>(key) {
            Ok(a) => a,
            Err(_) => npz
                .by_name::<ndarray::OwnedRepr<f64>, ndarray::IxDyn>(key)
                .map(|a| a.mapv(|v| v as f32))
                .map_err(|e| fmt(format!("array '{key}' missing or not float32/float64: {e}")))?,
        };
        arrays.insert(key, a);
    }
    assemble(arrays).map_err(fmt)
}

fn from_safetensors(bytes: &[u8]) -> Result<Weights, String> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| format!("not a safetensors file: {e}"))?;
    let mut arrays: HashMap<&str, ArrayD<f32>> = HashMap::new();
    for key in ARRAY_NAMES {
        let t = st
            .tensor(key)
            .map_err(|_| format!("array '{key}' is missing"))?;
        let values: Vec<f32> = match t.dtype() {
            Dtype::F32 => t
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            Dtype::F64 => t
                .data()
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f32)
                .collect(),
            other => {
                return Err(format!(
                    "array '{key}' has dtype {other:?}, expected F32 or F64"
                ));
            }
        };
        let a = ArrayD::from_shape_vec(t.shape().to_vec(), values)
            .map_err(|e| format!("array '{key}': {e}"))?;
        arrays.insert(key, a);
    }
    assemble(arrays)
}

fn assemble(mut arrays: HashMap<&str, ArrayD<f32>>) -> Result<Weights, String> {
    let mut take2 = |k: &str| -> Result<Array2<f32>, String> {
        let a = arrays.remove(k).ok_or(format!("array '{k}' is missing"))?;
        let shape = a.shape().to_vec();
        a.into_dimensionality::<Ix2>()
            .map_err(|_| format!("array '{k}' has shape {shape:?}, expected 2 dimensions"))
    };
    let wx = take2("wx")?;
    let wh = take2("wh")?;
    let wd = take2("wd")?;
    let mut take1 = |k: &str| -> Result<Array1<f32>, String> {
        let a = arrays.remove(k).ok_or(format!("array '{k}' is missing"))?;
        let shape = a.shape().to_vec();
        a.into_dimensionality::<Ix1>()
            .map_err(|_| format!("array '{k}' has shape {shape:?}, expected 1 dimension"))
    };
    let b = take1("b")?;
    let bd = take1("bd")?;
    // Fortran-ordered inputs become C order, which the rest of the crate relies on.
    let c = |a: Array2<f32>| a.as_standard_layout().into_owned();
    Ok(Weights {
        cell: CellKind::SimpleRnn,
        kernel: c(wx),
        recurrent_kernel: c(wh),
        bias: b,
        recurrent_bias: None,
        dense_kernel: c(wd),
        dense_bias: bd,
    })
}

/// Serialises weights as safetensors bytes (F32, little-endian).
pub fn to_safetensors(w: &Weights) -> Result<Vec<u8>, WeightsError> {
    let arrays: Vec<(&str, Vec<f32>)> = w
        .arrays()
        .into_iter()
        .zip(ARRAY_NAMES)
        .map(|((_, v), name)| (name, v))
        .collect();
    let shapes = w.shapes();
    let bytes: Vec<Vec<u8>> = arrays
        .iter()
        .map(|(_, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let mut views = Vec::new();
    for (((name, _), shape), data) in arrays.iter().zip(shapes).zip(&bytes) {
        let view = TensorView::new(Dtype::F32, shape, data)
            .map_err(|e| WeightsError::Invalid(format!("{name}: {e}")))?;
        views.push((name.to_string(), view));
    }
    safetensors::serialize(views, None).map_err(|e| WeightsError::Invalid(e.to_string()))
}

/// Parses safetensors bytes (e.g. the embedded default) and validates them.
pub fn weights_from_safetensors_bytes(bytes: &[u8]) -> Result<Weights, WeightsError> {
    let w = from_safetensors(bytes).map_err(WeightsError::Invalid)?;
    w.validate(None)?;
    Ok(w)
}

/// Writes `STEM.npz` and `STEM.safetensors` (each atomically, through a temporary file).
pub fn save_weights(w: &Weights, stem: &Path) -> Result<(), WeightsError> {
    let npz_path = stem.with_extension("npz");
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| WeightsError::Io { path, source }
    };
    let tmp = npz_path.with_extension("npz.tmp");
    {
        let file = File::create(&tmp).map_err(io(&tmp))?;
        let mut npz = NpzWriter::new(file);
        let err = |e: ndarray_npy::WriteNpzError| WeightsError::Invalid(e.to_string());
        npz.add_array("wx", &w.kernel).map_err(err)?;
        npz.add_array("wh", &w.recurrent_kernel).map_err(err)?;
        npz.add_array("b", &w.bias).map_err(err)?;
        npz.add_array("wd", &w.dense_kernel).map_err(err)?;
        npz.add_array("bd", &w.dense_bias).map_err(err)?;
        npz.finish().map_err(err)?;
    }
    std::fs::rename(&tmp, &npz_path).map_err(io(&npz_path))?;
    let st_path = stem.with_extension("safetensors");
    crate::fsutil::write_atomic(&st_path, &to_safetensors(w)?).map_err(io(&st_path))?;
    Ok(())
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
