//! Named float arrays as weight files hold them: `.npz` (NumPy's zip of `.npy` arrays) and
//! `.safetensors`, read from bytes. Every size a file announces is checked against the bytes
//! it has before anything is allocated; every value must be finite.

use std::io::{Cursor, Read};

use ndarray::{Array1, Array2, ArrayD, IxDyn, ShapeBuilder};
use ndarray_npy::NpzWriter;
use safetensors::{Dtype, SafeTensors, tensor::TensorView};

/// One array: its shape and its values in C (row-major) order.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Tensor {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

impl Tensor {
    /// The array as a matrix; `name` is used in the error.
    pub fn matrix(&self, name: &str) -> Result<Array2<f32>, String> {
        match self.shape[..] {
            [r, c] => Array2::from_shape_vec((r, c), self.values.clone())
                .map_err(|e| format!("array '{name}': {e}")),
            _ => Err(format!(
                "array '{name}' has shape {:?}, expected 2 dimensions",
                self.shape
            )),
        }
    }

    /// The array as a vector; `name` is used in the error.
    pub fn vector(&self, name: &str) -> Result<Array1<f32>, String> {
        match self.shape[..] {
            [_] => Ok(Array1::from(self.values.clone())),
            _ => Err(format!(
                "array '{name}' has shape {:?}, expected 1 dimension",
                self.shape
            )),
        }
    }
}

/// The arrays of a file, in file order, names unique.
#[derive(Debug, Default)]
pub(super) struct Tensors(Vec<(String, Tensor)>);

impl Tensors {
    /// The names, in file order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(n, _)| n.as_str())
    }

    /// The array called `name`, if any.
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }

    /// The array called `name`, or an error saying it is missing.
    pub fn need(&self, name: &str) -> Result<&Tensor, String> {
        self.get(name)
            .ok_or_else(|| format!("array '{name}' is missing"))
    }

    /// Refuses a file whose names are not exactly `expected` (missing ones first, then
    /// unknown ones, each listed); `what` describes the expected layout.
    pub fn expect_names(&self, expected: &[&str], what: &str) -> Result<(), String> {
        let missing: Vec<&str> = expected
            .iter()
            .copied()
            .filter(|n| self.get(n).is_none())
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "missing {}: {} ({what})",
                plural(missing.len(), "array"),
                missing.join(", ")
            ));
        }
        let unknown: Vec<&str> = self.names().filter(|n| !expected.contains(n)).collect();
        if !unknown.is_empty() {
            return Err(format!(
                "unknown {}: {} ({what})",
                plural(unknown.len(), "array"),
                unknown.join(", ")
            ));
        }
        Ok(())
    }

    fn insert(&mut self, name: String, tensor: Tensor) -> Result<(), String> {
        if self.get(&name).is_some() {
            return Err(format!("array '{name}' appears twice"));
        }
        if let Some(pos) = tensor.values.iter().position(|v| !v.is_finite()) {
            return Err(format!(
                "array '{name}' holds a non-finite value ({}) at flat index {pos}",
                tensor.values[pos]
            ));
        }
        self.0.push((name, tensor));
        Ok(())
    }
}

/// "1 array", "2 arrays".
fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        word.to_string()
    } else {
        format!("{word}s")
    }
}

/// Refuses an array name holding a control character: every message naming the array would
/// carry it (a newline would split the one-line error). Shown escaped, at most 64 characters.
fn check_name(name: &str) -> Result<(), String> {
    if name.chars().any(char::is_control) {
        let shown: String = name.chars().take(64).collect();
        return Err(format!(
            "an array name holds a control character: {shown:?}"
        ));
    }
    Ok(())
}

/// Reads the arrays of `.npz` bytes (stored or deflated, i.e. `np.savez` or
/// `np.savez_compressed`; float32 or float64).
pub(super) fn read_npz(bytes: &[u8]) -> Result<Tensors, String> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| format!("not a readable .npz (zip) file: {e}"))?;
    let mut out = Tensors::default();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| match e {
            zip::result::ZipError::UnsupportedArchive(what) => format!(
                "array {i} of the .npz: {what} (cellwise reads np.savez and np.savez_compressed files: stored or deflated entries)"
            ),
            e => format!("array {i} of the .npz is unreadable: {e}"),
        })?;
        if entry.is_dir() {
            continue;
        }
        let name = entry.name().to_string();
        let name = name.strip_suffix(".npy").unwrap_or(&name).to_string();
        check_name(&name)?;
        let mut data = Vec::new();
        // A stored entry is never larger than the file; the limit guards a lying header.
        (&mut entry)
            .take(bytes.len() as u64)
            .read_to_end(&mut data)
            .map_err(|e| format!("array '{name}' is truncated or corrupt: {e}"))?;
        let tensor = parse_npy(&name, &data)?;
        out.insert(name, tensor)?;
    }
    Ok(out)
}

/// Parses one `.npy` array (format 1.0 to 3.0; `<f4`, `>f4`, `<f8`, `>f8`; C or Fortran
/// order).
fn parse_npy(name: &str, bytes: &[u8]) -> Result<Tensor, String> {
    let corrupt = |what: &str| format!("array '{name}' is truncated or corrupt ({what})");
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(corrupt("no .npy header"));
    }
    let (len, start): (usize, usize) = match bytes[6] {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(corrupt(&format!(".npy format version {v}"))),
    };
    let header = start
        .checked_add(len)
        .and_then(|end| bytes.get(start..end))
        .ok_or_else(|| corrupt("header cut short"))?;
    let header = std::str::from_utf8(header).map_err(|_| corrupt("header is not text"))?;
    let descr = header_value(header, "descr").ok_or_else(|| corrupt("no 'descr'"))?;
    let fortran = match header_value(header, "fortran_order") {
        Some("True") => true,
        Some("False") => false,
        _ => return Err(corrupt("no 'fortran_order'")),
    };
    let shape = header_value(header, "shape")
        .and_then(parse_shape)
        .ok_or_else(|| corrupt("no readable 'shape'"))?;
    let (size, big_endian): (usize, bool) = match descr.trim_matches(|c| c == '\'' || c == '"') {
        "<f4" => (4, false),
        ">f4" => (4, true),
        "<f8" => (8, false),
        ">f8" => (8, true),
        other => {
            return Err(format!(
                "array '{name}' has dtype {other}, expected float32 or float64"
            ));
        }
    };
    let data = &bytes[start + len..];
    let need = shape
        .iter()
        .try_fold(size, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| corrupt(&format!("shape {shape:?} overflows")))?;
    if data.len() != need {
        return Err(format!(
            "array '{name}' is truncated or corrupt: shape {shape:?} needs {need} data bytes, the file has {}",
            data.len()
        ));
    }
    let values = decode(data, size, big_endian);
    let values = if fortran && shape.len() > 1 {
        ArrayD::from_shape_vec(IxDyn(&shape).f(), values)
            .map_err(|e| corrupt(&e.to_string()))?
            .as_standard_layout()
            .iter()
            .copied()
            .collect()
    } else {
        values
    };
    Ok(Tensor { shape, values })
}

/// The raw text of `key`'s value in a `.npy` header dict (`{'descr': '<f4', ...}`).
fn header_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header
        .find(&format!("'{key}'"))
        .or_else(|| header.find(&format!("\"{key}\"")))?;
    let rest = header[at + key.len() + 2..]
        .trim_start()
        .strip_prefix(':')?;
    let rest = rest.trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')')? + 1
    } else {
        rest.find([',', '}'])?
    };
    Some(rest[..end].trim())
}

/// `(28, 96)`, `(12,)`, `()` as dimensions.
fn parse_shape(text: &str) -> Option<Vec<usize>> {
    let inner = text.strip_prefix('(')?.strip_suffix(')')?;
    inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.strip_suffix('L').unwrap_or(s).parse().ok())
        .collect()
}

/// Little- or big-endian float32/float64 bytes as f32 (`data.len()` is a multiple of `size`).
fn decode(data: &[u8], size: usize, big_endian: bool) -> Vec<f32> {
    data.chunks_exact(size)
        .map(|c| match (size, big_endian) {
            (4, false) => f32::from_le_bytes([c[0], c[1], c[2], c[3]]),
            (4, true) => f32::from_be_bytes([c[0], c[1], c[2], c[3]]),
            (_, false) => {
                f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32
            }
            (_, true) => {
                f64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32
            }
        })
        .collect()
}

/// Reads the arrays of `.safetensors` bytes (F32 or F64).
pub(super) fn read_safetensors(bytes: &[u8]) -> Result<Tensors, String> {
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| format!("not a readable safetensors file: {e}"))?;
    let mut out = Tensors::default();
    // By name, so that messages do not depend on the header's hash order.
    let mut entries = st.tensors();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, t) in entries {
        check_name(&name)?;
        let size = match t.dtype() {
            Dtype::F32 => 4,
            Dtype::F64 => 8,
            other => {
                return Err(format!(
                    "array '{name}' has dtype {other:?}, expected F32 or F64"
                ));
            }
        };
        // safetensors has checked that the data is exactly shape x dtype bytes.
        let tensor = Tensor {
            shape: t.shape().to_vec(),
            values: decode(t.data(), size, false),
        };
        out.insert(name, tensor)?;
    }
    Ok(out)
}

/// Serialises named arrays as safetensors bytes (F32, little-endian), in the given order.
pub(super) fn write_safetensors(arrays: &[(&str, Tensor)]) -> Result<Vec<u8>, String> {
    let bytes: Vec<Vec<u8>> = arrays
        .iter()
        .map(|(_, t)| t.values.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let mut views = Vec::with_capacity(arrays.len());
    for ((name, t), data) in arrays.iter().zip(&bytes) {
        let view = TensorView::new(Dtype::F32, t.shape.clone(), data)
            .map_err(|e| format!("array '{name}': {e}"))?;
        views.push((name.to_string(), view));
    }
    safetensors::serialize(views, None).map_err(|e| e.to_string())
}

/// Serialises named arrays as `.npz` bytes (float32, stored), in the given order.
pub(super) fn write_npz(arrays: &[(&str, Tensor)]) -> Result<Vec<u8>, String> {
    let mut npz = NpzWriter::new(Cursor::new(Vec::new()));
    for (name, t) in arrays {
        let a = ArrayD::from_shape_vec(IxDyn(&t.shape), t.values.clone())
            .map_err(|e| format!("array '{name}': {e}"))?;
        npz.add_array(*name, &a)
            .map_err(|e| format!("array '{name}': {e}"))?;
    }
    npz.finish()
        .map(Cursor::into_inner)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(header: &str, data: &[u8]) -> Vec<u8> {
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend((header.len() as u16).to_le_bytes());
        b.extend(header.as_bytes());
        b.extend(data);
        b
    }

    #[test]
    fn names_with_control_characters_are_refused_in_one_line() {
        let t = || Tensor {
            shape: vec![1],
            values: vec![1.0],
        };
        let safetensors = write_safetensors(&[("rnn.\nweight", t())]).unwrap();
        let npz = write_npz(&[("rnn.\nweight", t())]).unwrap();
        for e in [
            read_safetensors(&safetensors).err().unwrap(),
            read_npz(&npz).err().unwrap(),
        ] {
            assert_eq!(
                e,
                "an array name holds a control character: \"rnn.\\nweight\""
            );
        }
    }

    #[test]
    fn npy_headers_and_orders() {
        let data: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let c = parse_npy(
            "a",
            &npy(
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                &data,
            ),
        )
        .unwrap();
        assert_eq!(c.shape, vec![2, 3]);
        assert_eq!(c.values, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let f = parse_npy(
            "a",
            &npy(
                "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
                &data,
            ),
        )
        .unwrap();
        assert_eq!(f.values, vec![1.0, 3.0, 5.0, 2.0, 4.0, 6.0]);
        let e = parse_npy(
            "kernel",
            &npy(
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4), }",
                &data,
            ),
        )
        .unwrap_err();
        assert_eq!(
            e,
            "array 'kernel' is truncated or corrupt: shape [2, 4] needs 32 data bytes, the file has 24"
        );
        let e = parse_npy(
            "k",
            &npy(
                "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }",
                &data,
            ),
        )
        .unwrap_err();
        assert_eq!(e, "array 'k' has dtype <i8, expected float32 or float64");
        let huge = "{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, 8), }";
        assert!(
            parse_npy("k", &npy(huge, &data))
                .unwrap_err()
                .contains("overflows")
        );
    }
}
