//! Building weight files in memory, and the fixtures' paths.

use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};

use safetensors::{Dtype, tensor::TensorView};

/// A named array: name, shape, values.
pub type Named = (String, Vec<usize>, Vec<f32>);

/// The fixture directory of the framework models.
pub fn gated_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gated")
}

/// The stems of the five framework fixtures.
pub const STEMS: [&str; 5] = [
    "keras-gru",
    "keras-lstm",
    "torch-rnn",
    "torch-gru",
    "torch-lstm",
];

/// Safetensors bytes of `arrays` (F32).
pub fn safetensors_of(arrays: &[Named]) -> Vec<u8> {
    let data: Vec<Vec<u8>> = arrays
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views = arrays.iter().zip(&data).map(|((n, s, _), d)| {
        (
            n.clone(),
            TensorView::new(Dtype::F32, s.clone(), d).unwrap(),
        )
    });
    safetensors::serialize(views, None).unwrap()
}

/// The arrays of a safetensors fixture, sorted by name.
pub fn arrays_of(stem: &str) -> Vec<Named> {
    let bytes = std::fs::read(gated_dir().join(format!("{stem}.safetensors"))).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut out: Vec<Named> = st
        .tensors()
        .into_iter()
        .map(|(n, t)| {
            let v = t
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            (n, t.shape().to_vec(), v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The entries (name, bytes) of an .npz fixture, in file order.
pub fn npz_entries(stem: &str) -> Vec<(String, Vec<u8>)> {
    let bytes = std::fs::read(gated_dir().join(format!("{stem}.npz"))).unwrap();
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    (0..zip.len())
        .map(|i| {
            let mut f = zip.by_index(i).unwrap();
            let mut data = Vec::new();
            f.read_to_end(&mut data).unwrap();
            (f.name().to_string(), data)
        })
        .collect()
}

/// .npz bytes (stored) of `entries`.
pub fn npz_of(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, data) in entries {
        zip.start_file(name.as_str(), options).unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap().into_inner()
}
