//! The comparison's figures of merit: hypervolume inside the reference box (minimum accepted
//! accuracy, cost of the all-highest schedule), regret against the exhaustive front of
//! `mnist-6x6` (729 schedules), and the latency cost model as the searches' default.

mod common;

use std::path::Path;

use cellwise::cost;
use cellwise::problem::{DEFAULT_PROBLEM, Problem};
use cellwise::schedule::{Approx, Schedule};

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn run_ok(args: &[&str]) -> (String, String) {
    let (ok, stdout, stderr) = common::cellwise(args);
    assert!(ok, "{args:?}: {stderr}");
    (stdout, stderr)
}

#[test]
fn regret_against_the_exhaustive_front_is_zero_for_exhaustive_and_never_negative() {
    let dir = tempfile::tempdir().unwrap();
    let exhaustive = dir.path().join("exhaustive");
    let cmp = dir.path().join("cmp");
    let (ex, cmp_arg) = (exhaustive.display().to_string(), cmp.display().to_string());
    run_ok(&[
        "search",
        "--fixture",
        "--problem",
        "mnist-6x6",
        "--strategy",
        "exhaustive",
        "--budget",
        "729",
        "--cost",
        "depth",
        "--out",
        &ex,
    ]);
    let front = exhaustive.join("pareto.csv").display().to_string();
    // Budgets below the 729 schedules leave the sampling strategies short of the front.
    run_ok(&[
        "compare",
        "--fixture",
        "--problem",
        "mnist-6x6",
        "--cost",
        "depth",
        "--strategies",
        "exhaustive,greedy,random,anneal",
        "--budget",
        "729",
        "--seeds",
        "2",
        "--min-accuracy",
        "0.5",
        "--true-front",
        &front,
        "--out",
        &cmp_arg,
    ]);
    run_ok(&[
        "compare",
        "--fixture",
        "--problem",
        "mnist-6x6",
        "--cost",
        "depth",
        "--strategies",
        "random,genetic",
        "--budget",
        "60",
        "--seeds",
        "2",
        "--min-accuracy",
        "0.5",
        "--true-front",
        &front,
        "--out",
        &format!("{cmp_arg}-small"),
    ]);
    let mut runs = Vec::new();
    for doc in
        [cmp.clone(), dir.path().join("cmp-small")].map(|d| read_json(&d.join("compare.json")))
    {
        let truth = doc["true_front"]["hypervolume"].as_f64().unwrap();
        assert!(truth > 0.0);
        for r in doc["runs"].as_array().unwrap() {
            runs.push((truth, r.clone()));
        }
    }
    let mut positive = 0;
    for (truth, r) in &runs {
        let regret = r["regret"]["hypervolume"].as_f64().unwrap();
        let hv = r["hypervolume"].as_f64().unwrap();
        assert_eq!(regret, truth - hv, "{r}");
        assert!(regret >= 0.0, "{r}");
        for gap in r["regret"]["accuracy_gaps"].as_array().unwrap() {
            assert!(gap.is_null() || gap.as_f64().unwrap() >= 0.0, "{r}");
        }
        if r["strategy"] == "exhaustive" {
            assert_eq!(regret, 0.0, "{r}");
            let gaps = r["regret"]["accuracy_gaps"].as_array().unwrap();
            assert!(gaps.iter().all(|g| g.as_f64() == Some(0.0)), "{r}");
        }
        if regret > 0.0 {
            positive += 1;
        }
    }
    // The small budgets (and greedy, which stops early) miss part of the front.
    assert!(positive >= 2, "{positive} runs with positive regret");
    let summary = read_json(&cmp.join("compare.json"))["summary"].clone();
    let ex = summary
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["strategy"] == "exhaustive")
        .unwrap();
    assert_eq!(ex["regret"]["max"], 0.0);
    let md = std::fs::read_to_string(cmp.join("README.md")).unwrap();
    assert!(md.contains("Regret against the true front"), "{md}");
    assert!(
        md.contains("| exhaustive | 0.0000 | 0.00 | 0.00 | 0.00 | 0.00 |"),
        "{md}"
    );
    for plot in ["pareto.svg", "progress.svg", "progress-seconds.svg"] {
        let svg = std::fs::read_to_string(cmp.join(plot)).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("anneal"), "{plot}");
    }
    let bands = std::fs::read_to_string(cmp.join("progress.svg")).unwrap();
    assert_eq!(bands.matches("<polyline").count(), 4);
    assert_eq!(bands.matches("<polygon").count(), 4);

    // A front that misses points: the verification passes (every point is real), and the
    // strategy that beats it says so.
    let text = std::fs::read_to_string(exhaustive.join("pareto.csv")).unwrap();
    let partial = dir.path().join("partial.csv");
    let lines: Vec<&str> = text.lines().collect();
    std::fs::write(
        &partial,
        format!("{}\n{}\n", lines[0], lines[lines.len() - 1]),
    )
    .unwrap();
    let (_, stderr) = run_ok(&[
        "compare",
        "--fixture",
        "--problem",
        "mnist-6x6",
        "--cost",
        "depth",
        "--strategies",
        "exhaustive",
        "--budget",
        "729",
        "--min-accuracy",
        "0.5",
        "--true-front",
        &partial.display().to_string(),
        "--out",
        &format!("{cmp_arg}-partial"),
    ]);
    assert!(
        stderr.contains("note: exhaustive seed 1 beats the true front"),
        "{stderr}"
    );

    // A front priced by another cost model is refused before anything runs.
    let (ok, _, stderr) = common::cellwise(&[
        "compare",
        "--fixture",
        "--problem",
        "mnist-6x6",
        "--cost",
        "bootstraps",
        "--strategies",
        "greedy",
        "--budget",
        "10",
        "--min-accuracy",
        "0.5",
        "--true-front",
        &front,
        "--out",
        &format!("{cmp_arg}-boot"),
    ]);
    assert!(!ok);
    let error: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(error.len(), 1, "{stderr}");
    assert!(
        error[0].starts_with("error: true front ")
            && error[0].contains("give the --cost it was made with"),
        "{stderr}"
    );
}

#[test]
fn schedules_below_the_reference_accuracy_add_no_hypervolume() {
    // Random lowers a third of the cells to degree 3: cheap schedules far below 90 %, which a
    // reference point at accuracy 0 rewarded with the largest hypervolume.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cmp");
    let out_arg = out.display().to_string();
    run_ok(&[
        "compare",
        "--fixture",
        "--strategies",
        "dfs,random",
        "--budget",
        "200",
        "--seeds",
        "2",
        "--cost",
        "depth",
        "--out",
        &out_arg,
    ]);
    let doc = read_json(&out.join("compare.json"));
    assert_eq!(doc["reference"]["accuracy"], 0.9);
    let hv = |name: &str| {
        doc["summary"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["strategy"] == name)
            .unwrap()["hypervolume"]["max"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(hv("random"), 0.0);
    assert!(hv("dfs") > 0.0);
    for r in doc["runs"].as_array().unwrap() {
        assert_eq!(r["under_limits"].as_array().unwrap().len(), 4, "{r}");
        // The test front is the validation front's schedules scored on test.
        for p in r["front"].as_array().unwrap() {
            assert!(p["val_accuracy"].as_f64().unwrap() >= 0.9, "{r}");
        }
    }
}

#[test]
fn searches_default_to_the_measured_latency_model() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let out_arg = out.display().to_string();
    let (_, stderr) = run_ok(&[
        "search",
        "--fixture",
        "--strategy",
        "greedy",
        "--budget",
        "30",
        "--out",
        &out_arg,
    ]);
    assert!(!stderr.contains("note: cost model"), "{stderr}");
    let run = read_json(&out.join("run.json"));
    assert_eq!(run["cost_model"], cost::DEFAULT_SEARCH_COST);
    let problem = Problem::load(DEFAULT_PROBLEM).unwrap();
    let latency = cost::by_name(cost::DEFAULT_SEARCH_COST, &problem).unwrap();
    let top = latency
        .cost(&Schedule::uniform(28, Approx::Degree(17)))
        .unwrap();
    assert_eq!(run["metrics"]["reference"]["cost"].as_f64(), Some(top));
    assert_eq!(run["metrics"]["reference"]["accuracy"], 0.0);
    let hv = run["metrics"]["hypervolume"]["validation"]
        .as_f64()
        .unwrap();
    assert!(hv > 0.0 && hv <= 1.0, "{hv}");
    // Wall times go to timing.json, sampled, ending at the last judgement.
    let timing = read_json(&out.join("timing.json"));
    let elapsed = timing["elapsed"].as_array().unwrap();
    assert_eq!(elapsed.last().unwrap()[0], run["judgements"]);
    assert!(
        std::fs::read_to_string(out.join("run.json"))
            .unwrap()
            .find("elapsed")
            .is_none()
    );

    // No profile for mnist-6x6's 8 units: depth, with a note saying why.
    let small = dir.path().join("small");
    let (_, stderr) = run_ok(&[
        "search",
        "--fixture",
        "--problem",
        "mnist-6x6",
        "--strategy",
        "greedy",
        "--budget",
        "10",
        "--out",
        &small.display().to_string(),
    ]);
    assert!(
        stderr.contains("note: cost model depth") && stderr.contains("matvec_16"),
        "{stderr}"
    );
    assert_eq!(read_json(&small.join("run.json"))["cost_model"], "depth");
}

/// `--holdout N` keeps the last N validation images out of the search: every judgement
/// counts the other images only, the held-out accuracy of all-highest makes up the rest of
/// its whole-split accuracy, and the selected finalist is the cheapest that passes the
/// non-inferiority rule on the held-out images.
#[test]
fn holdout_images_stay_out_of_the_search_and_select_the_cheapest_noninferior_finalist() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("held");
    let preds = dir.path().join("preds.json");
    let (out_arg, preds_arg) = (out.display().to_string(), preds.display().to_string());
    // The fixture's validation split has 100 images: 60 searched, 40 held out.
    let holdout = 40;
    run_ok(&[
        "search",
        "--fixture",
        "--problem",
        "mnist-6x6",
        "--strategy",
        "exhaustive",
        "--budget",
        "729",
        "--cost",
        "depth",
        "--holdout",
        &holdout.to_string(),
        "--margin",
        "0.05",
        "--out",
        &out_arg,
    ]);
    let run = read_json(&out.join("run.json"));
    let sel = &run["selection"];
    assert_eq!(sel["images"], holdout);
    let top = sel["reference"].as_str().unwrap().to_string();

    // The whole validation split, scored by `eval`.
    run_ok(&[
        "eval",
        "--fixture",
        "--problem",
        "mnist-6x6",
        "--split",
        "val",
        "--schedule",
        &top,
        "--predictions",
        &preds_arg,
    ]);
    let p = read_json(&preds);
    let labels = p["labels"].as_array().unwrap();
    let n = labels.len();
    let predictions = p["schedules"][0]["predictions"].as_array().unwrap();
    let right =
        |range: std::ops::Range<usize>| range.filter(|&i| predictions[i] == labels[i]).count();
    let searched = n - holdout;
    // The search judged all-highest on the first n - holdout images only.
    let judged = read_csv(&out.join("schedules.csv"));
    let row = judged
        .iter()
        .find(|r| r[1] == top)
        .expect("all-highest judged");
    let correct: usize = row[3].parse().unwrap();
    assert_eq!(correct, right(0..searched));
    let held = sel["reference_accuracy"].as_f64().unwrap();
    assert!((held - right(searched..n) as f64 / holdout as f64).abs() < 1e-12);

    // selection.csv: cheapest first, and the selected one the first that passes.
    let rows = read_csv(&out.join("selection.csv"));
    assert_eq!(rows.len(), run["finalists"].as_array().unwrap().len());
    let costs: Vec<f64> = rows.iter().map(|r| r[1].parse().unwrap()).collect();
    assert!(costs.windows(2).all(|w| w[0] <= w[1]));
    let first_pass = rows.iter().position(|r| r[6] == "true");
    let selected = rows.iter().position(|r| r[7] == "true");
    assert_eq!(first_pass, selected);
    assert!(
        selected.is_some(),
        "all-highest itself passes at a 5-point margin"
    );
    assert_eq!(
        sel["selected"].as_str(),
        selected.map(|i| rows[i][0].as_str())
    );
    for r in &rows {
        let lower: f64 = r[5].parse().unwrap();
        assert_eq!(r[6] == "true", lower >= -0.05);
    }
}

/// The rows of a CSV file after its header, as strings.
fn read_csv(path: &Path) -> Vec<Vec<String>> {
    csv::Reader::from_path(path)
        .unwrap()
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect()
}

#[test]
fn a_holdout_that_leaves_too_few_images_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r").display().to_string();
    let (ok, _, stderr) = common::cellwise(&[
        "search",
        "--fixture",
        "--problem",
        "mnist-6x6",
        "--holdout",
        "100000",
        "--out",
        &out,
    ]);
    assert!(!ok);
    assert!(stderr.contains("--holdout 100000 does not fit"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}
