//! What several integration tests share: running the binary.

use std::process::Command;

/// Runs `cellwise args` and returns (success, stdout, stderr).
pub fn cellwise(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cellwise"))
        .args(args)
        .output()
        .expect("run cellwise");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
