//! `cellwise cost` end to end: the binary prices schedules and refuses bad input in one line.

mod common;

use common::cellwise;

#[test]
fn prices_all_17_with_the_default_problem() {
    let (ok, stdout, stderr) = cellwise(&[
        "cost",
        "--schedule",
        "all-17",
        "--model",
        "bootstraps",
        "--json",
    ]);
    assert!(ok, "{stderr}");
    let b: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(b["bootstraps"], 27);
    assert_eq!(b["depth"], 28 * 6 + 1);
    assert_eq!(b["steps"].as_array().unwrap().len(), 29);
    let (ok, stdout, _) = cellwise(&["cost", "--schedule", "all-7", "--model", "depth"]);
    assert!(ok);
    assert!(stdout.contains("total: 113 levels"), "{stdout}");
    // The default model is latency with the first shipped profile.
    let (ok, stdout, stderr) = cellwise(&["cost", "--schedule", "all-17"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("model latency:cellwise"), "{stdout}");
    assert!(stdout.contains("27 bootstraps"), "{stdout}");
    let (ok, _, stderr) = cellwise(&["cost", "--schedule", "all-3", "--profile", "openfhe"]);
    assert!(ok, "{stderr}");
}

#[test]
fn report_and_options() {
    let (ok, stdout, stderr) = cellwise(&["cost", "--report"]);
    assert!(ok, "{stderr}");
    for needle in [
        "| all-17 | 169 | 27 | 27 |",
        "| all-3 | 85 | 9 | 9 |",
        "Profile `openfhe`",
    ] {
        assert!(stdout.contains(needle), "{needle} missing:\n{stdout}");
    }
    // More levels between bootstraps: all-17 fits two steps per bootstrap.
    let (ok, stdout, _) = cellwise(&[
        "cost",
        "--schedule",
        "all-17",
        "--model",
        "bootstraps",
        "--levels",
        "12",
    ]);
    assert!(ok);
    assert!(stdout.contains("total: 14 bootstraps"), "{stdout}");
    // Latency takes the shipped profile measured at the preset, found by its name...
    let (ok, stdout, stderr) =
        cellwise(&["cost", "--schedule", "all-17", "--preset", "fgb-like-12"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("latency:cellwise-fgb-like-12"), "{stdout}");
    assert!(stdout.contains("| 14 bootstraps"), "{stdout}");
    // ... never by level count: test-boot has fgb-like's 9 levels and its own profile ...
    let (ok, stdout, stderr) = cellwise(&["cost", "--schedule", "all-17", "--preset", "test-boot"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("latency:cellwise-test-boot"), "{stdout}");
    // ... a preset nobody profiled is refused, not priced with another chain's figures ...
    let (ok, _, stderr) = cellwise(&["cost", "--schedule", "all-17", "--preset", "test-medium"]);
    assert!(!ok);
    assert!(
        stderr.contains("no shipped timing profile was measured at preset test-medium"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    // ... and levels the profile was not measured with are refused.
    let (ok, _, stderr) = cellwise(&["cost", "--schedule", "all-17", "--levels", "12"]);
    assert!(!ok);
    assert!(stderr.contains("measured with 9 levels"), "{stderr}");
}

#[test]
fn bad_input_is_one_line_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"format":"something-else/2"}"#).unwrap();
    let bad = bad.to_str().unwrap();
    for (args, expected) in [
        (
            vec!["cost", "--schedule", "all-seventeen"],
            "bad token 'seventeen'",
        ),
        (
            vec!["cost", "--schedule", "all-17", "--model", "speed"],
            "unknown cost model 'speed'",
        ),
        (
            vec![
                "cost",
                "--schedule",
                "all-17",
                "--model",
                "latency",
                "--profile",
                bad,
            ],
            "bad.json",
        ),
        (
            vec![
                "cost",
                "--schedule",
                "all-17",
                "--model",
                "latency",
                "--profile",
                "nope",
            ],
            "unknown profile 'nope'",
        ),
    ] {
        let (ok, _, stderr) = cellwise(&args);
        assert!(!ok, "{args:?}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    }
}

/// `cellwise` with the calibration cache in `cache`.
fn cellwise_cached(cache: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cellwise"))
        .args(args)
        .env("CELLWISE_CACHE_DIR", cache)
        .output()
        .expect("run cellwise");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn calibration_prices_beside_the_profile_and_refuses_what_it_cannot_carry() {
    let cache = tempfile::tempdir().unwrap();
    let args = [
        "cost",
        "--schedule",
        "all-17",
        "--problem",
        "mnist-rnn32-safe",
        "--preset",
        "fgb-like-12",
        "--calibrate",
        "--json",
    ];
    let (ok, stdout, stderr) = cellwise_cached(cache.path(), &args);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("measured in"), "{stderr}");
    let j: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let (shipped, here) = (
        j["shipped"]["total"].as_f64().unwrap(),
        j["calibrated"]["total"].as_f64().unwrap(),
    );
    // Same circuit, another machine's speed: the same bootstraps at a plausible price.
    assert_eq!(j["shipped"]["bootstraps"], j["calibrated"]["bootstraps"]);
    assert!(
        here > 0.2 * shipped && here < 5.0 * shipped,
        "{here} vs {shipped}"
    );
    assert!(
        j["calibrated"]["model"]
            .as_str()
            .unwrap()
            .ends_with("+calibrated")
    );
    for p in ["ntt", "intt", "modmul", "mac", "add", "permute"] {
        assert!(
            j["calibration"]["ms_per_limb"][p].as_f64().unwrap() > 0.0,
            "{p}"
        );
    }
    // The second run reads this machine's cache.
    let (ok, stdout2, stderr) = cellwise_cached(cache.path(), &args);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("cached in"), "{stderr}");
    let j2: serde_json::Value = serde_json::from_str(&stdout2).unwrap();
    assert_eq!(j2["calibrated"]["total"], j["calibrated"]["total"]);

    let fails = |args: &[&str], needle: &str| {
        let (ok, _, stderr) = cellwise_cached(cache.path(), args);
        assert!(!ok, "{args:?} should fail");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(needle), "{needle:?} not in {stderr}");
    };
    fails(
        &[
            "cost",
            "--schedule",
            "all-17",
            "--model",
            "depth",
            "--calibrate",
        ],
        "--calibrate needs the latency model",
    );
    fails(
        &[
            "cost",
            "--schedule",
            "all-17",
            "--profile",
            "cellwise-fgb-like-12",
            "--calibrate",
        ],
        "profile cellwise-fgb-like-12 records no primitive timings",
    );
    fails(
        &["cost", "--schedule", "all-17", "--recalibrate"],
        "--calibrate",
    );
}
