//! Encrypted inference end to end at small insecure parameters (`test-boot`: the `fgb-like`
//! chain at N = 2^12, 64 images per batch) with real bootstraps, on real MNIST images of the
//! committed fixture and the embedded model: in one process through the library, and as
//! separate processes exchanging files through the binary.

mod common;

use std::path::Path;

use cellwise::ckks::scheme::params::ParametersLiteral;
use cellwise::cost::{self, CostOptions};
use cellwise::data;
use cellwise::infer::{self, Bootstraps, Client, InferError, NetShape, Request, Server};
use cellwise::model::Weights;
use cellwise::oracle::{Candidates, SAFE_ARGUMENT};
use cellwise::problem::{DEFAULT_PROBLEM, Problem};
use cellwise::schedule::Schedule;
use common::cellwise;

fn params() -> ParametersLiteral {
    ParametersLiteral::preset("test-boot").unwrap()
}

#[test]
fn encrypted_predictions_agree_with_the_plaintext_oracle() {
    let problem = Problem::load(DEFAULT_PROBLEM).unwrap();
    let weights = Weights::embedded_default();
    let splits = data::load_fixture_splits(&problem).unwrap();
    let (client, keys) = Client::keygen(&params(), NetShape::of(&problem), Some(5)).unwrap();
    let server = Server::new(keys, &weights).unwrap();
    let n = client.batch_capacity();
    assert_eq!(n, 64);
    let candidates = Candidates::from_problem(&problem, None).unwrap();
    // Priced with test-boot's own profile, found by the preset's name.
    let options = CostOptions {
        levels: Some(params().levels),
        preset: params().preset_name(),
        ..CostOptions::default()
    };
    assert_eq!(options.preset, Some("test-boot"));
    let cost = cost::by_name_with("latency", &problem, &options).unwrap();
    assert!(
        cost.name().contains("cellwise-test-boot"),
        "{}",
        cost.name()
    );
    // Every candidate degree, bootstraps both between steps and mid-step.
    let schedule = Schedule::parse("7 except 3@0,1,2,3,4,5 17@26,27", 28).unwrap();
    let images = splits.test.images.slice(ndarray::s![..n, .., ..]);
    let req = Request {
        schedule: &schedule,
        candidates: &candidates,
        cost: cost.as_ref(),
        weights: &weights,
        images,
        labels: &splits.test.labels[..n],
    };
    let mut seen = 0;
    let report = infer::run_schedule(&client, &server, &req, &mut |_| seen += 1).unwrap();
    eprintln!(
        "agreement {}/{n}, max logit error {:.2e}, {} bootstraps, {:.2} s",
        report.agreeing, report.max_logit_error, report.bootstraps, report.server_seconds
    );
    assert_eq!(seen, 29);
    assert_eq!(report.steps.len(), 29);
    assert!(
        report.agreeing >= n - 1,
        "agreement {}/{n}",
        report.agreeing
    );
    assert!(report.max_logit_error < 1e-2, "{}", report.max_logit_error);
    let planned = cost.breakdown(&schedule).unwrap();
    assert_eq!(report.bootstraps, planned.bootstraps);
    assert!(report.bootstraps >= 8);
    assert_eq!(report.encodings_during_run, 0);
    // Levels chain as the cost model planned them.
    for (ran, plan) in report.steps.iter().zip(&planned.steps) {
        assert_eq!(ran.level_out, plan.level_out, "step {}", ran.step);
        assert_eq!(ran.predicted_seconds, plan.seconds, "step {}", ran.step);
        assert!(ran.predicted_seconds.is_some());
    }
    assert!((report.accuracy_encrypted - report.accuracy_plaintext).abs() <= 1.0 / n as f64);

    // Without its bootstraps the schedule does not fit: refused before computing.
    let cells = infer::cells_for(&schedule, &candidates).unwrap();
    let none = Bootstraps::Segments(Vec::new());
    let err = server.prepare(&cells, &none).unwrap_err();
    assert!(matches!(err, InferError::Placement(_)), "{err}");
    assert!(err.to_string().contains("does not fit 9 levels"), "{err}");
    // Inputs of another key set are refused.
    let (other, _) = Client::keygen(&params(), NetShape::of(&problem), Some(6)).unwrap();
    let batch = other.encrypt(images).unwrap();
    let boots = infer::placement_for(cost.as_ref(), &schedule, &cells, NetShape::of(&problem), 9)
        .unwrap()
        .0;
    let err = server
        .infer(&batch, &cells, &boots, &mut |_| {})
        .err()
        .unwrap();
    assert!(matches!(err, InferError::KeySet { .. }), "{err}");
    // Test image 70 leaves the fit interval under four leading degree-7 cells: its plaintext
    // hidden state diverges (degree 17 outside [-8, 8]), which under CKKS corrupts its whole
    // batch at the next bootstrap; the report flags it.
    let paper = Schedule::parse("17 except 7@0,1,2,3", 28).unwrap();
    let cells = infer::cells_for(&paper, &candidates).unwrap();
    let batch = splits.test.images.slice(ndarray::s![64..128, .., ..]);
    let r = infer::reference(&weights, batch, &cells);
    let unsafe_images: Vec<usize> = (0..64)
        .filter(|&i| r.peak_argument[i] > SAFE_ARGUMENT)
        .collect();
    assert_eq!(unsafe_images, [6], "{:?}", r.peak_argument);
    assert!(r.peak_argument[6] > 1e30);
    // The exact activation cannot run encrypted.
    let exact = Schedule::parse("all-exact", 28).unwrap();
    assert!(infer::cells_for(&exact, &candidates).is_err());
}

fn run(args: &[&str]) -> String {
    let (ok, stdout, stderr) = cellwise(args);
    assert!(ok, "cellwise {args:?}: {stderr}");
    stdout
}

fn fails(args: &[&str], needle: &str) {
    let (ok, _, stderr) = cellwise(args);
    assert!(!ok, "cellwise {args:?} should fail");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains(needle), "{needle:?} not in {stderr}");
}

fn flip_byte(path: &Path, at: usize) {
    let mut b = std::fs::read(path).unwrap();
    let i = at.min(b.len() - 1);
    b[i] ^= 0x10;
    std::fs::write(path, b).unwrap();
}

#[test]
fn two_processes_exchange_files_and_refuse_bad_ones() {
    let tmp = tempfile::tempdir().unwrap();
    // Clients a and b; the server's directory s (it must never see a secret key).
    let (a, b, s) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("s"),
    );
    let (a_s, b_s, s_s) = (
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        s.to_str().unwrap(),
    );
    let keygen = |dir: &str, seed: &str| {
        run(&[
            "infer",
            "keygen",
            "--dir",
            dir,
            "--preset",
            "test-boot",
            "--insecure",
            "--seed",
            seed,
        ])
    };
    assert!(keygen(a_s, "1").contains("key set"));
    keygen(b_s, "2");
    let encrypt = |dir: &str| {
        run(&[
            "infer",
            "encrypt",
            "--dir",
            dir,
            "--images",
            "16",
            "--fixture",
            "--seed",
            "3",
        ])
    };
    encrypt(a_s);
    encrypt(b_s);
    std::fs::create_dir(&s).unwrap();
    for f in ["server.keys", "inputs.ct"] {
        std::fs::copy(a.join(f), s.join(f)).unwrap();
    }
    let serve = ["infer", "serve", "--dir", s_s, "--schedule", "all-3"];
    fails(&serve, "--insecure");
    let serve: Vec<&str> = serve.iter().copied().chain(["--insecure"]).collect();
    assert!(run(&serve).contains("16 images"));
    std::fs::copy(s.join("logits.ct"), a.join("logits.ct")).unwrap();
    let out = run(&["infer", "decrypt", "--dir", a_s]);
    assert!(out.contains("16 images of test[0..16]"), "{out}");

    // Logits decrypted with another key set's secret key are refused.
    std::fs::copy(a.join("logits.ct"), b.join("logits.ct")).unwrap();
    fails(&["infer", "decrypt", "--dir", b_s], "other keys");
    // Inputs of another key set.
    std::fs::copy(b.join("inputs.ct"), s.join("inputs.ct")).unwrap();
    fails(&serve, "other keys");
    // Inputs where keys belong, logits where inputs belong.
    std::fs::copy(s.join("server.keys"), s.join("inputs.ct")).unwrap();
    fails(&serve, "expected ciphertexts");
    std::fs::copy(a.join("logits.ct"), s.join("inputs.ct")).unwrap();
    fails(&serve, "holds logit ciphertexts, expected input");
    // A damaged key file, a truncated one.
    std::fs::copy(b.join("inputs.ct"), s.join("inputs.ct")).unwrap();
    let keys = s.join("server.keys");
    let len = std::fs::metadata(&keys).unwrap().len() as usize;
    flip_byte(&keys, len / 2);
    fails(&serve, "server.keys");
    let bytes = std::fs::read(b.join("server.keys")).unwrap();
    std::fs::write(&keys, &bytes[..bytes.len() / 3]).unwrap();
    fails(&serve, "truncated");
    // Keys of parameters without room for a bootstrap.
    let c = tmp.path().join("c");
    fails(
        &[
            "infer",
            "keygen",
            "--dir",
            c.to_str().unwrap(),
            "--preset",
            "test-small",
            "--insecure",
        ],
        "bootstrap levels",
    );
    fails(
        &["infer", "--schedule", "all-17", "--preset", "test-boot"],
        "--encrypted",
    );
}

#[test]
fn a_batch_unsafe_in_plaintext_is_refused_before_encryption() {
    // Test image 70 diverges under four leading degree-7 cells (see above).
    let args = [
        "infer",
        "--encrypted",
        "--preset",
        "test-boot",
        "--insecure",
        "--fixture",
        "--offset",
        "64",
        "--images",
        "16",
        "--seed",
        "1",
        "--schedule",
        "17 except 7@0,1,2,3",
    ];
    fails(&args, "image 70 of the split");
    fails(&args, "--allow-unsafe");
}

/// A SimpleRNN of 64 units (`mnist-rnn64`'s embedded model): 64 unit blocks, so half the
/// images per ciphertext (32 at `test-boot`), and the 64 x 64 BSGS matvec. Every candidate
/// degree and bootstraps where the cost model places them; the cost model prices the same
/// circuit (bootstraps and levels as run), and the latency model prices its matvec from the
/// gated profile's 64-unit halves.
#[test]
fn an_encrypted_rnn64_agrees_with_the_plaintext_oracle() {
    let problem = Problem::load("mnist-rnn64").unwrap();
    let weights = Weights::embedded_for(&problem).unwrap();
    assert_eq!(weights.hidden(), 64);
    let splits = data::load_fixture_splits(&problem).unwrap();
    let (client, keys) = Client::keygen(&params(), NetShape::of(&problem), Some(7)).unwrap();
    let server = Server::new(keys, &weights).unwrap();
    let n = client.batch_capacity();
    assert_eq!(n, 32);
    let candidates = Candidates::from_problem(&problem, None).unwrap();
    let options = CostOptions {
        levels: Some(params().levels),
        ..CostOptions::default()
    };
    let cost = cost::by_name_with("depth", &problem, &options).unwrap();
    let schedule = Schedule::parse("7 except 3@0,1,2,3,4,5 17@26,27", 28).unwrap();
    // Two batches: the fixture's first 64 test images.
    let mut agreeing = 0;
    for b in 0..2 {
        let images = splits
            .test
            .images
            .slice(ndarray::s![b * n..(b + 1) * n, .., ..]);
        let req = Request {
            schedule: &schedule,
            candidates: &candidates,
            cost: cost.as_ref(),
            weights: &weights,
            images,
            labels: &splits.test.labels[b * n..(b + 1) * n],
        };
        let report = infer::run_schedule(&client, &server, &req, &mut |_| {}).unwrap();
        eprintln!(
            "rnn64 batch {b}: agreement {}/{n}, max logit error {:.2e}, {} bootstraps, {:.2} s",
            report.agreeing, report.max_logit_error, report.bootstraps, report.server_seconds
        );
        assert!(report.max_logit_error < 1e-2, "{}", report.max_logit_error);
        let planned = cost.breakdown(&schedule).unwrap();
        assert_eq!(report.bootstraps, planned.bootstraps);
        assert_eq!(report.encodings_during_run, 0);
        for (ran, plan) in report.steps.iter().zip(&planned.steps) {
            assert_eq!(ran.level_out, plan.level_out, "step {}", ran.step);
        }
        agreeing += report.agreeing;
    }
    assert_eq!(agreeing, 2 * n, "every prediction agrees");
    // The gated profile's 64-unit operations price the SimpleRNN-64's matvec.
    let latency = cost::by_name("latency:cellwise-gated-fgb-like-12", &problem).unwrap();
    let b = latency
        .breakdown(&Schedule::parse("all-17", 28).unwrap())
        .unwrap();
    assert!(b.bootstraps > 0 && b.total > 0.0, "{b:?}");
}

/// `infer --calibrate`: the shipped test-boot profile carried to this machine prices the same
/// run beside the profile's own prediction, and the run record names the calibration.
#[test]
fn a_calibrated_prediction_is_reported_beside_the_profiles() {
    let cache = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cellwise"))
        .args([
            "infer",
            "--encrypted",
            "--preset",
            "test-boot",
            "--insecure",
            "--fixture",
            "--images",
            "16",
            "--seed",
            "1",
            "--schedule",
            "all-3",
            "--calibrate",
            "--json",
        ])
        .env("CELLWISE_CACHE_DIR", cache.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let r = &j["reports"][0];
    let (shipped, calibrated) = (
        r["predicted"].as_f64().unwrap(),
        r["calibrated"]["predicted"].as_f64().unwrap(),
    );
    assert!(calibrated > 0.2 * shipped && calibrated < 5.0 * shipped);
    assert_eq!(r["calibrated"]["bootstraps"], r["bootstraps"]);
    let measured = r["server_seconds"].as_f64().unwrap();
    let error = r["calibrated"]["prediction_error"].as_f64().unwrap();
    assert!((error - (measured - calibrated) / calibrated).abs() < 1e-9);
    assert_eq!(j["calibration"]["calibration"]["preset"], "test-boot");
    assert!(
        j["calibration"]["origin"]
            .as_str()
            .unwrap()
            .starts_with("measured")
    );
    assert!(j["kernels"].is_string());
}
