//! Fashion-MNIST from Debian's `dataset-fashion-mnist` package: `apt-get download` fetches the
//! `.deb` (no root needed where apt's package lists exist), [`super::deb`] reads it without
//! installing, and each IDX file is decompressed (Debian re-compresses them with gzip, so
//! the compressed bytes vary) and checked against the SHA-256 of its decompressed bytes.
//! The files go to `DATA_DIR/fashion-mnist/` under Debian's names without `.gz`.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use super::DataError;
use super::deb::{gunzip, read_package_files};
use super::mnist::{DataFile, check_is_dir, hex, verify_files};

/// Subdirectory of the data directory that holds the files.
pub const FASHION_DIR: &str = "fashion-mnist";

/// The Debian package that ships them.
pub const FASHION_PACKAGE: &str = "dataset-fashion-mnist";

/// Where the package installs them.
const IN_PACKAGE: &str = "usr/share/datasets/fashion-mnist/";

/// The four files (train images, train labels, test images, test labels) with the SHA-256
/// of their decompressed bytes (computed from `dataset-fashion-mnist`
/// 0.0~git20200523.55506a9-1; equal to Zalando's originals once decompressed).
pub const FASHION_FILES: [DataFile; 4] = [
    DataFile {
        name: "train-images-idx3-ubyte",
        sha256: "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    },
    DataFile {
        name: "train-labels-idx1-ubyte",
        sha256: "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    },
    DataFile {
        name: "t10k-images-idx3-ubyte",
        sha256: "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    },
    DataFile {
        name: "t10k-labels-idx1-ubyte",
        sha256: "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
];

/// The directory of the Fashion-MNIST files under a data directory.
pub fn fashion_dir(dir: &Path) -> PathBuf {
    dir.join(FASHION_DIR)
}

/// Checks that the four files exist under `dir` with the expected digests.
pub fn verify_fashion(dir: &Path) -> Result<(), DataError> {
    check_is_dir(dir)?;
    verify_files(&fashion_dir(dir), &FASHION_FILES)
}

/// Writes the four verified files under `dir` from the package `deb`, or from a package
/// `apt-get download` fetches when `deb` is `None`.
pub fn fetch_fashion(dir: &Path, deb: Option<&Path>) -> Result<(), DataError> {
    check_is_dir(dir)?;
    let out = fashion_dir(dir);
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| DataError::Io { path, source }
    };
    std::fs::create_dir_all(&out).map_err(io(&out))?;
    let work = dir.join(".fetch-fashion");
    let downloaded;
    let deb = match deb {
        Some(deb) => deb,
        None => {
            downloaded = apt_download(&work)?;
            &downloaded
        }
    };
    let wanted: Vec<String> = FASHION_FILES
        .iter()
        .map(|f| format!("{IN_PACKAGE}{}.gz", f.name))
        .collect();
    let wanted: Vec<&str> = wanted.iter().map(String::as_str).collect();
    let packed = read_package_files(deb, &wanted)?;
    for ((file, gz), inner) in FASHION_FILES.iter().zip(&packed).zip(&wanted) {
        let bytes = gunzip(gz, inner).map_err(|problem| DataError::Damaged {
            path: deb.display().to_string(),
            problem,
        })?;
        let found = hex(&Sha256::digest(&bytes));
        if found != file.sha256 {
            return Err(DataError::Checksum {
                path: format!("{} ({inner}, decompressed)", deb.display()),
                expected: file.sha256.to_string(),
                found,
            });
        }
        let path = out.join(file.name);
        crate::fsutil::write_atomic(&path, &bytes).map_err(io(&path))?;
    }
    verify_fashion(dir)?;
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

/// What to do where apt cannot fetch the package.
fn by_hand() -> String {
    format!(
        "download {FASHION_PACKAGE}_0.0~git20200523.55506a9-1_all.deb from https://packages.debian.org/bookworm/all/{FASHION_PACKAGE}/download (any release of the package holds the same files) and run `cellwise fetch --dataset fashion-mnist --deb FILE`"
    )
}

/// `apt-get download PACKAGE` into `work`; the path of the `.deb`.
fn apt_download(work: &Path) -> Result<PathBuf, DataError> {
    let _ = std::fs::remove_dir_all(work);
    std::fs::create_dir_all(work).map_err(|source| DataError::Io {
        path: work.display().to_string(),
        source,
    })?;
    let out = Command::new("apt-get")
        .args(["download", "-q", FASHION_PACKAGE])
        .current_dir(work)
        .output()
        .map_err(|e| {
            DataError::Fetch(format!(
                "cannot run apt-get ({e}): apt is needed to download Debian's {FASHION_PACKAGE}; or {}",
                by_hand()
            ))
        })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr
            .lines()
            .rev()
            .find(|l| l.starts_with("E:"))
            .or_else(|| stderr.lines().last())
            .unwrap_or("")
            .trim();
        return Err(DataError::Fetch(format!(
            "apt-get download {FASHION_PACKAGE} failed ({last}); run `apt-get update` if the package is unknown, or {}",
            by_hand()
        )));
    }
    std::fs::read_dir(work)
        .ok()
        .and_then(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|e| e == "deb"))
        })
        .ok_or_else(|| {
            DataError::Fetch(format!(
                "apt-get left no .deb in {}; {}",
                work.display(),
                by_hand()
            ))
        })
}
