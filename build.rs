//! Records the git commit the binary was built from (`CELLWISE_GIT_HASH`, "unknown" outside
//! a git checkout) so that run outputs can name it; a build from a tree with uncommitted
//! changes to tracked files adds `-dirty`, since its code is not that commit's.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    let hash = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty =
        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    let stamp = if dirty { format!("{hash}-dirty") } else { hash };
    println!("cargo:rustc-env=CELLWISE_GIT_HASH={stamp}");
    // Rerun when HEAD moves (the HEAD file and the branch it points to), when the index
    // changes, and when the sources change (cargo scans these directories).
    for path in [
        git(&["rev-parse", "--git-path", "HEAD"]),
        git(&["rev-parse", "--symbolic-full-name", "HEAD"])
            .and_then(|r| git(&["rev-parse", "--git-path", &r])),
        git(&["rev-parse", "--git-path", "index"]),
    ]
    .into_iter()
    .flatten()
    {
        println!("cargo:rerun-if-changed={path}");
    }
    for dir in [
        "src",
        "problems",
        "strategies",
        "profiles",
        "models",
        "Cargo.toml",
    ] {
        println!("cargo:rerun-if-changed={dir}");
    }
}
