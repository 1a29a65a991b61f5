//! The MNIST files: their names, their SHA-256 digests, and turning 28 x 28 IDX images
//! (MNIST's and Fashion-MNIST's) into splits.
//!
//! Split rule: `train` is the first 60,000 - V images of the training file and `val` its last
//! V (V = the problem's `data.validation`, 5,000 by default); `test` is the 10,000-image test
//! file. Pixels are divided by 255; row r of an image is time step r.

use std::path::{Path, PathBuf};

use ndarray::Array3;
use sha2::{Digest, Sha256};

use super::idx::{IdxArray, read_idx};
use super::{DataError, Split, Splits};
use crate::problem::Problem;

/// One verified data file (MNIST's, Fashion-MNIST's, JapaneseVowels').
#[derive(Clone, Copy, Debug)]
pub struct DataFile {
    /// File name in the data directory.
    pub name: &'static str,
    /// Expected SHA-256 of its contents, hex.
    pub sha256: &'static str,
}

/// The four files, in the order train images, train labels, test images, test labels.
pub const MNIST_FILES: [DataFile; 4] = [
    DataFile {
        name: "train-images.idx3-ubyte",
        sha256: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    },
    DataFile {
        name: "train-labels.idx1-ubyte",
        sha256: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    },
    DataFile {
        name: "t10k-images.idx3-ubyte",
        sha256: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    },
    DataFile {
        name: "t10k-labels.idx1-ubyte",
        sha256: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
];

/// Hex SHA-256 of a file.
pub fn sha256_file(path: &Path) -> Result<String, DataError> {
    let bytes = std::fs::read(path).map_err(|source| DataError::Io {
        path: path.display().to_string(),
        source,
    })?;
    Ok(hex(&Sha256::digest(&bytes)))
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks that the four files exist in `dir` with the expected digests.
pub fn verify_mnist(dir: &Path) -> Result<(), DataError> {
    check_is_dir(dir)?;
    verify_files(dir, &MNIST_FILES)
}

/// Checks that `files` exist in `dir` with the expected digests.
pub fn verify_files(dir: &Path, files: &[DataFile]) -> Result<(), DataError> {
    for &file in files {
        let path = dir.join(file.name);
        if !path.exists() {
            return Err(DataError::Missing {
                path: path.display().to_string(),
            });
        }
        let found = sha256_file(&path)?;
        if found != file.sha256 {
            return Err(DataError::Checksum {
                path: path.display().to_string(),
                expected: file.sha256.to_string(),
                found,
            });
        }
    }
    Ok(())
}

/// Refuses a data directory that exists but is not a directory (a file, say), which would
/// otherwise surface as "missing files" and then as `create_dir_all`'s "File exists".
pub(super) fn check_is_dir(dir: &Path) -> Result<(), DataError> {
    match std::fs::metadata(dir) {
        Ok(m) if !m.is_dir() => Err(DataError::Invalid(format!(
            "{} is not a directory (the data directory must be a directory for the data files)",
            dir.display()
        ))),
        _ => Ok(()),
    }
}

/// Directory of the committed MNIST fixture.
pub fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mnist-mini")
}

/// Splits of a committed image fixture in `dir` (files named as `files`): the validation
/// split is the last fifth of its training images.
pub(super) fn load_image_fixture(
    problem: &Problem,
    dir: &Path,
    files: &[DataFile; 4],
) -> Result<Splits, DataError> {
    let train_images = read_idx(&dir.join(files[0].name), 3)?;
    let validation = train_images.dims[0] / 5;
    load_images(problem, dir, files, validation)
}

/// The splits of the four IDX files `files` (train images, train labels, test images, test
/// labels) in `dir`, unverified.
pub(super) fn load_images(
    problem: &Problem,
    dir: &Path,
    files: &[DataFile; 4],
    validation: usize,
) -> Result<Splits, DataError> {
    let [ti, tl, si, sl] = files.map(|f| dir.join(f.name));
    let (train_x, train_y) = read_pair(&ti, &tl)?;
    let (test_x, test_y) = read_pair(&si, &sl)?;
    let n_train = train_y.len();
    if validation >= n_train {
        return Err(DataError::Invalid(format!(
            "validation split of {validation} images needs more than the {n_train} training images"
        )));
    }
    let cut = n_train - validation;
    let side = problem.steps();
    let all_train = to_sequences(&train_x, side);
    let test = to_sequences(&test_x, side);
    Ok(Splits {
        train: Split {
            name: "train".into(),
            images: all_train.slice(ndarray::s![..cut, .., ..]).to_owned(),
            labels: train_y[..cut].to_vec(),
        },
        val: Split {
            name: "val".into(),
            images: all_train.slice(ndarray::s![cut.., .., ..]).to_owned(),
            labels: train_y[cut..].to_vec(),
        },
        test: Split {
            name: "test".into(),
            images: test,
            labels: test_y,
        },
    })
}

/// Reads an image file and its label file and checks that they agree.
fn read_pair(images: &Path, labels: &Path) -> Result<(IdxArray, Vec<u8>), DataError> {
    let x = read_idx(images, 3)?;
    let y = read_idx(labels, 1)?;
    if x.dims[1] != 28 || x.dims[2] != 28 {
        return Err(DataError::Invalid(format!(
            "{}: images are {}x{}, expected 28x28",
            images.display(),
            x.dims[1],
            x.dims[2]
        )));
    }
    if x.dims[0] != y.dims[0] {
        return Err(DataError::Invalid(format!(
            "{} has {} images but {} has {} labels",
            images.display(),
            x.dims[0],
            labels.display(),
            y.dims[0]
        )));
    }
    if let Some(pos) = y.data.iter().position(|&l| l > 9) {
        return Err(DataError::Invalid(format!(
            "{}: label {} at index {pos} is not a digit 0-9",
            labels.display(),
            y.data[pos]
        )));
    }
    Ok((x, y.data))
}

/// Turns 28x28 byte images into [n, side, side] sequences of pixels / 255. For side < 28 the
/// border is cropped so that the side divides evenly (28 - 28 % k ... ) and the image is
/// average-pooled with a k x k window, k = 28 / side (e.g. side 6: crop 2 pixels each side
/// to 24x24, pool 4x4).
fn to_sequences(images: &IdxArray, side: usize) -> Array3<f32> {
    let n = images.dims[0];
    let k = 28 / side;
    let offset = (28 - k * side) / 2;
    let inv = 1.0 / (255.0 * (k * k) as f32);
    Array3::from_shape_fn((n, side, side), |(i, r, c)| {
        let base = i * 784;
        let mut sum = 0u32;
        for dr in 0..k {
            let row = offset + r * k + dr;
            for dc in 0..k {
                let col = offset + c * k + dc;
                sum += u32::from(images.data[base + row * 28 + col]);
            }
        }
        sum as f32 * inv
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_loads_as_sequences() {
        use crate::data::load_fixture_splits;
        let p = Problem::load(crate::problem::DEFAULT_PROBLEM).unwrap();
        let s = load_fixture_splits(&p).unwrap();
        assert_eq!(s.train.images.shape()[1..], [28, 28]);
        assert_eq!(s.train.labels.len() + s.val.labels.len(), 500);
        assert_eq!(s.test.labels.len(), 200);
        let max = s.test.images.iter().cloned().fold(0.0f32, f32::max);
        assert!(max <= 1.0 && max > 0.9);
    }

    #[test]
    fn pooling_averages_blocks() {
        let mut data = vec![0u8; 784];
        // Top-left 4x4 block of the cropped 24x24 image (offset 2) is all 255.
        for r in 2..6 {
            for c in 2..6 {
                data[r * 28 + c] = 255;
            }
        }
        data[2 * 28 + 6] = 255; // one pixel of the next block: 1/16
        let img = IdxArray {
            dims: vec![1, 28, 28],
            data,
        };
        let x = to_sequences(&img, 6);
        assert_eq!(x.shape(), [1, 6, 6]);
        assert!((x[[0, 0, 0]] - 1.0).abs() < 1e-6);
        assert!((x[[0, 0, 1]] - 1.0 / 16.0).abs() < 1e-6);
    }
}
