//! Data: MNIST download and verification, the IDX reader, and the train/validation/test
//! splits as sequences (one image row per time step).

use std::path::{Path, PathBuf};

use ndarray::Array3;

mod fetch;
pub mod idx;
mod mnist;

pub use fetch::fetch_mnist;
pub use mnist::{
    MNIST_FILES, fixture_dir, hex, load_fixture_splits, load_splits, sha256_file, verify_mnist,
};

/// Environment variable that overrides the default data directory.
pub const DATA_DIR_ENV: &str = "CELLWISE_DATA_DIR";

/// Errors raised while fetching, verifying or loading data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is missing (run `cellwise fetch`)")]
    Missing { path: String },
    #[error(
        "{path}: SHA-256 {found} does not match the expected {expected} (corrupt download? delete it and run `cellwise fetch`)"
    )]
    Checksum {
        path: String,
        expected: String,
        found: String,
    },
    #[error(transparent)]
    Idx(#[from] idx::IdxError),
    #[error("fetching MNIST: {0}")]
    Fetch(String),
    #[error("{0}")]
    Invalid(String),
}

/// One labelled split of images read as sequences.
#[derive(Clone, Debug)]
pub struct Split {
    /// "train", "val" or "test".
    pub name: String,
    /// Pixels / 255, shaped [images, steps, input width].
    pub images: Array3<f32>,
    /// Class of each image.
    pub labels: Vec<u8>,
}

/// The three splits of a problem.
#[derive(Clone, Debug)]
pub struct Splits {
    pub train: Split,
    pub val: Split,
    pub test: Split,
}

impl Split {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True for a split without images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// The data directory: `$CELLWISE_DATA_DIR` if set, else `./data`.
pub fn default_data_dir() -> PathBuf {
    std::env::var_os(DATA_DIR_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("data"))
}

/// Makes sure the verified MNIST files are in `dir`, downloading them if any is missing.
/// A present file with a wrong digest is an error, not silently replaced.
pub fn ensure_mnist(dir: &Path) -> Result<(), DataError> {
    match verify_mnist(dir) {
        Err(DataError::Missing { .. }) => {
            // One fetch at a time per directory: concurrent runs wait for the first, then
            // find the files there.
            let io = |path: &Path| {
                let path = path.display().to_string();
                move |source| DataError::Io { path, source }
            };
            std::fs::create_dir_all(dir).map_err(io(dir))?;
            let lock_path = dir.join(".fetch.lock");
            let lock = std::fs::File::create(&lock_path).map_err(io(&lock_path))?;
            lock.lock().map_err(io(&lock_path))?;
            match verify_mnist(dir) {
                Err(DataError::Missing { .. }) => fetch_mnist(dir),
                other => other,
            }
        }
        other => other,
    }
}
