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
