//! The CKKS engine at full size and through the binary: tanh of degree 17 at `fgb-like`
//! keeps >= 20 bits against the plaintext polynomial, and the levels the engine consumes for
//! the problem's degree-3/7/17 cells are the cost model's; `ckks profile` writes a profile
//! the cost model reads; bad parameters end in one line.

mod common;

use common::cellwise;

use cellwise::approx::{Activation, Approximation, FitMethod};
use cellwise::ckks::circuit_ops::{CircuitOp, PolyShape, precision_bits};
use cellwise::ckks::evaluator::Evaluator;
use cellwise::ckks::poly::{Chebyshev, InputMap, PolyOptions, evaluate};
use cellwise::ckks::scheme::context::Context;
use cellwise::ckks::scheme::encryption::{Decryptor, Encryptor};
use cellwise::ckks::scheme::engine::Engine;
use cellwise::ckks::scheme::keys::KeyGenerator;
use cellwise::ckks::scheme::params::ParametersLiteral;
use cellwise::cost::circuit::{CellFits, PlanTable, SegmentKind};
use cellwise::cost::profile::Profile;
use cellwise::problem::{DEFAULT_PROBLEM, Problem};

#[test]
fn tanh_degree_17_at_fgb_like_keeps_20_bits() {
    let params = ParametersLiteral::preset("fgb-like")
        .unwrap()
        .build()
        .unwrap();
    assert!(params.is_secure());
    let ctx = Context::new(&params).unwrap();
    let mut kg = KeyGenerator::new(&ctx, Some(17));
    let sk = kg.secret_key();
    let pk = kg.public_key(&sk);
    let engine = Engine::new(&ctx, kg.evaluation_keys(&sk, &[], false)).unwrap();
    let enc = Encryptor::public(&ctx, &pk, Some(18)).unwrap();
    let dec = Decryptor::new(&ctx, &sk).unwrap();
    let op = CircuitOp::Poly {
        degree: 17,
        shape: PolyShape::Odd,
    };
    let top = engine.top_level();
    let prepared = op.prepare(&engine, top).unwrap();
    let ct = enc
        .encrypt_values(prepared.input(), top, engine.default_scale())
        .unwrap();
    let out = prepared.run(&engine, &ct).unwrap();
    assert_eq!(top - engine.level(&out), op.depth());
    let got = dec.decrypt_values(&out).unwrap();
    let bits = precision_bits(&got, &prepared.expected());
    assert!(bits >= 20.0, "{bits:.1} bits");

    // The cost model's level accounting is what the engine consumes for the problem's own
    // cells (least-squares tanh fits on [-8, 8], evaluated as the RNN plan does).
    let problem = Problem::load(DEFAULT_PROBLEM).unwrap();
    let table = PlanTable::new(&problem, &CellFits::from_problem(&problem).unwrap(), top).unwrap();
    for degree in [3usize, 7, 17] {
        let fit = Approximation::fit(
            Activation::Tanh,
            degree,
            problem.slot_fits()[0].interval,
            &FitMethod::LeastSquares,
        )
        .unwrap();
        let [lo, hi] = problem.slot_fits()[0].interval;
        let cell = Chebyshev::new(&fit.chebyshev, (lo, hi)).unwrap();
        let opts = PolyOptions {
            input: InputMap::Folded,
            target_scale: Some(engine.default_scale()),
            log_split: None,
        };
        let (out, _) = evaluate(&engine, &ct, &cell, &opts).unwrap();
        assert_eq!(
            Some(top - engine.level(&out)),
            table.depth(SegmentKind::Poly(degree)),
            "degree {degree}"
        );
    }
}

#[test]
fn profile_at_small_parameters_is_a_valid_cost_profile() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("p.json");
    let (ok, stdout, stderr) = cellwise(&[
        "ckks",
        "profile",
        "--preset",
        "test-small",
        "--insecure",
        "--samples",
        "1",
        "--levels",
        "0,5",
        "--json",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    let p = Profile::from_json("written", &std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(p.engine, "cellwise");
    for op in [
        "keygen",
        "encode",
        "encrypt",
        "decrypt",
        "add",
        "mul_relin_rescale",
        "mul_plain_rescale",
        "rotate",
        "hoisted_rotate_31",
        "matvec_32",
        "poly_deg17",
    ] {
        assert!(p.seconds(op, 5).is_some(), "{op} missing");
    }
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let precision = json["precision"].as_array().unwrap();
    let deg17 = precision.iter().find(|e| e["op"] == "poly_deg17").unwrap();
    assert_eq!(deg17["levels_consumed"], 5);
    assert!(deg17["bits"].as_f64().unwrap() >= 15.0);
}

#[test]
fn profile_with_a_bootstrap_is_a_valid_cost_profile() {
    // The bootstrap's key generation and setup run on the bootstrap levels, above the
    // computation top level: the profile must still validate.
    let (ok, stdout, stderr) = cellwise(&[
        "ckks",
        "profile",
        "--preset",
        "test-boot",
        "--insecure",
        "--samples",
        "1",
        "--levels",
        "9",
        "--bootstrap-samples",
        "1",
        "--json",
    ]);
    assert!(ok, "{stderr}");
    let p = Profile::from_json("written", &stdout).unwrap();
    assert!(p.bootstrap_seconds().is_some_and(|s| s > 0.0));
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let ops = json["ops"].as_array().unwrap();
    for op in ["keygen_bootstrap", "bootstrap_setup"] {
        assert!(ops.iter().any(|o| o["op"] == op), "{op} missing");
    }
}

#[test]
fn bad_parameters_end_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let base = "log_scale = 40\nlevels = 3\nbootstrap_levels = 0\nbootstrap_bits = 50\n\
                first_mod_bits = 55\nspecial_bits = 60\ndnum = 2\nsecret = \"Ternary\"\n\
                insecure = false\np_primes = []\n";
    let not_ntt = write(
        "q.toml",
        &format!("log_n = 12\n{base}q_primes = [97, 193, 257, 449]\n"),
    );
    let too_big = write("n.toml", &format!("log_n = 17\n{base}q_primes = []\n"));
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--preset", "test-small"], "pass --insecure"),
        (vec!["--preset", "nope"], "unknown preset 'nope'"),
        (
            vec!["--params", &not_ntt, "--insecure"],
            "not a prime = 1 mod 2N",
        ),
        (vec!["--params", &too_big], "ring degree 2^17"),
        (
            vec!["--preset", "test-small", "--insecure", "--levels", "9"],
            "above the top level",
        ),
    ];
    for (extra, want) in cases {
        let mut args = vec!["ckks", "profile"];
        args.extend(extra.iter());
        let (ok, _, stderr) = cellwise(&args);
        assert!(!ok, "{args:?} succeeded");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    }
}
