//! Encrypted GRU and LSTM inference end to end at small insecure parameters (`test-boot`: the
//! `fgb-like` chain at N = 2^12, 64 images per batch) with real bootstraps, on real MNIST
//! images of the committed fixture and the embedded models of the batch-safe presets: in one
//! process through the library (the placement from a cost model's refreshes), and as separate
//! processes exchanging files through the binary (the placement of `--cost depth`, which
//! places none: the fewest bootstraps). Keys without a rotation the circuit needs and steps
//! that do not fit their levels are refused before anything is computed.

mod common;

use cellwise::ckks::bootstrap::{self, BootstrapConfig};
use cellwise::ckks::cell::placement::{Planner, StepShape};
use cellwise::ckks::cell::{CellCircuit, CellMatrices, Refreshes, plan_steps};
use cellwise::ckks::scheme::context::Context;
use cellwise::ckks::scheme::keys::KeyGenerator;
use cellwise::ckks::scheme::params::ParametersLiteral;
use cellwise::cost::{self, CostBreakdown, CostError, CostModel, CostOptions};
use cellwise::data::{self, Splits};
use cellwise::infer::{
    self, Bootstraps, Client, InferError, NetShape, Request, Server, ServerKeys,
};
use cellwise::model::Weights;
use cellwise::oracle::Candidates;
use cellwise::problem::Problem;
use cellwise::recurrence::CellKind;
use cellwise::schedule::Schedule;
use common::cellwise;

fn params() -> ParametersLiteral {
    ParametersLiteral::preset("test-boot").unwrap()
}

/// A problem, its embedded model, the fixture and the fits measured on its training split.
struct Setup {
    problem: Problem,
    weights: Weights,
    splits: Splits,
    candidates: Candidates,
}

fn setup(name: &str) -> Setup {
    let problem = Problem::load(name).unwrap();
    let weights = Weights::embedded_for(&problem).unwrap();
    let splits = data::load_fixture_splits(&problem).unwrap();
    let candidates = Candidates::for_model(&problem, &weights, &splits.train).unwrap();
    Setup {
        problem,
        weights,
        splits,
        candidates,
    }
}

/// A cost model that places refreshes as the gated latency model does (its breakdown's
/// `refreshes`): the step graph's depth, with the optimal placement under a price where a
/// bootstrap costs far more than anything else.
struct Placing {
    depth: Box<dyn CostModel>,
    candidates: Candidates,
    planner: Planner,
    shape: NetShape,
}

impl Placing {
    fn new(s: &Setup) -> Self {
        let options = CostOptions {
            levels: Some(params().levels),
            ..CostOptions::default()
        };
        let depth = cost::for_candidates("depth", &s.problem, &s.candidates, &options).unwrap();
        let price = |op: &str, level: usize| -> Result<f64, String> {
            Ok(if op == "bootstrap" {
                100.0
            } else {
                1.0 + level as f64
            })
        };
        let shape = NetShape::of(&s.problem);
        let planner = Planner::new(
            s.problem.cell().cell(),
            params().levels,
            shape.blocks().unwrap(),
            Box::new(price),
        );
        Placing {
            depth,
            candidates: s.candidates.clone(),
            planner,
            shape,
        }
    }

    fn refreshes(&self, schedule: &Schedule) -> Refreshes {
        let cells = infer::cells_for(schedule, &self.candidates).unwrap();
        let cell = self.shape.cell.cell();
        let shapes: Vec<StepShape> = infer::step_polys(&cells, self.shape)
            .unwrap()
            .iter()
            .map(|p| StepShape::new(cell, p))
            .collect();
        self.planner.optimal(&shapes).unwrap().refreshes
    }
}

impl CostModel for Placing {
    fn name(&self) -> &str {
        "depth+placement"
    }

    fn unit(&self) -> &str {
        self.depth.unit()
    }

    fn cost(&self, schedule: &Schedule) -> Result<f64, CostError> {
        self.depth.cost(schedule)
    }

    fn breakdown(&self, schedule: &Schedule) -> Result<CostBreakdown, CostError> {
        Ok(CostBreakdown {
            refreshes: Some(self.refreshes(schedule)),
            ..self.depth.breakdown(schedule)?
        })
    }
}

/// Runs `schedule` on the first 64 test images of the fixture, encrypted and in plaintext,
/// and checks them against each other and against the server's plan.
fn agrees_with_plaintext(problem: &str, schedule: &str) {
    let s = setup(problem);
    let shape = NetShape::of(&s.problem);
    let (client, keys) = Client::keygen(&params(), shape, Some(5)).unwrap();
    let server = Server::new(keys, &s.weights).unwrap();
    let n = client.batch_capacity();
    assert_eq!(n, 64);
    let cost = Placing::new(&s);
    let schedule = Schedule::parse(schedule, s.problem.space().shape()).unwrap();
    let images = s.splits.test.images.slice(ndarray::s![..n, .., ..]);
    let cells = infer::cells_for(&schedule, &s.candidates).unwrap();
    assert!(
        infer::reference(&s.weights, images, &cells)
            .unsafe_images()
            .is_empty(),
        "{problem} {schedule}: the batch is not safe"
    );
    let req = Request {
        schedule: &schedule,
        candidates: &s.candidates,
        cost: &cost,
        weights: &s.weights,
        images,
        labels: &s.splits.test.labels[..n],
    };
    let mut seen = 0;
    let report = infer::run_schedule(&client, &server, &req, &mut |_| seen += 1).unwrap();
    eprintln!(
        "{problem} {schedule}: agreement {}/{n}, max logit error {:.2e}, {} bootstraps, {:.2} s, accuracy {:.3} (plaintext {:.3})",
        report.agreeing,
        report.max_logit_error,
        report.bootstraps,
        report.server_seconds,
        report.accuracy_encrypted,
        report.accuracy_plaintext
    );
    assert_eq!(seen, 29);
    assert_eq!(report.steps.len(), 29);
    assert!(
        report.agreeing >= n - 1,
        "agreement {}/{n}",
        report.agreeing
    );
    assert!(report.max_logit_error < 1e-3, "{}", report.max_logit_error);
    assert!((report.accuracy_encrypted - report.accuracy_plaintext).abs() <= 1.0 / n as f64);
    assert_eq!(report.encodings_during_run, 0);
    assert_eq!(
        report.prediction_error, None,
        "the depth model predicts no seconds"
    );
    // The server ran the cost model's placement, with the levels its plan gives.
    let refreshes = cost.refreshes(&schedule);
    assert_eq!(report.bootstraps, refreshes.bootstraps(shape.cell.cell()));
    assert!(
        refreshes.steps.iter().any(|r| r.ops != 0),
        "some refresh inside a step"
    );
    let layout = shape.layout(client.context().params().slots()).unwrap();
    let circuit = CellCircuit::new(layout, &CellMatrices::from_weights(&s.weights)).unwrap();
    let polys = infer::step_polys(&cells, shape).unwrap();
    let plans = plan_steps(&circuit, &polys, &refreshes, &server.sim_params()).unwrap();
    if shape.cell == CellKind::Lstm {
        assert!(
            plans.iter().any(|p| !p.pairs.is_empty()),
            "some refresh of a packed pair"
        );
    }
    for (t, plan) in plans.iter().enumerate() {
        let ran = &report.steps[t];
        assert_eq!(
            ran.bootstraps,
            plan.refresh.count() - plan.pairs.len(),
            "step {t}"
        );
        assert_eq!(ran.level_out, plan.levels.next_state[0], "step {t}");
        assert_eq!(ran.degrees.as_deref(), Some(&polys_degrees(&polys[t])[..]));
    }
    let out = &report.steps[28];
    assert_eq!(out.bootstraps, usize::from(refreshes.output));
    assert_eq!(out.degrees, None);

    // Without refreshes the schedule does not fit: refused before computing, naming a step
    // and a slot.
    let none = Bootstraps::Refreshes(Refreshes {
        steps: vec![Default::default(); 28],
        output: false,
    });
    let err = server.prepare(&cells, &none).unwrap_err();
    assert!(matches!(err, InferError::Placement(_)), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("does not fit 9 levels: step ") && text.contains("slot "),
        "{text}"
    );
    assert_eq!(text.lines().count(), 1);
    // A SimpleRNN's placement is not a gated circuit's.
    let segments = Bootstraps::Segments(Vec::new());
    assert!(server.prepare(&cells, &segments).is_err());
}

fn polys_degrees(polys: &[cellwise::ckks::poly::Chebyshev]) -> Vec<usize> {
    polys.iter().map(|p| p.degree()).collect()
}

#[test]
fn an_encrypted_gru_with_bootstraps_agrees_with_plaintext() {
    agrees_with_plaintext("mnist-gru32-safe", "3 except z:7@0-3 n:17@24-27");
}

#[test]
fn an_encrypted_lstm_with_bootstraps_agrees_with_plaintext() {
    agrees_with_plaintext("mnist-lstm32-safe", "3 except c:7@20-27 g:17@27");
}

#[test]
fn keys_lacking_a_rotation_of_the_gated_circuit_are_refused_before_computing() {
    let s = setup("mnist-gru32-safe");
    let shape = NetShape::of(&s.problem);
    let lit = params();
    let built = lit.build().unwrap();
    let ctx = Context::new(&built).unwrap();
    let config = BootstrapConfig::for_params(&built).unwrap();
    let slots = built.slots() as isize;
    let circuit = shape.rotation_steps(built.slots()).unwrap();
    let mut steps: Vec<isize> = bootstrap::rotation_steps(&built, &config)
        .unwrap()
        .iter()
        .map(|r| r.rem_euclid(slots))
        .collect();
    // A rotation the circuit needs and the bootstrap does not.
    let dropped = *circuit
        .iter()
        .find(|r| !steps.contains(&r.rem_euclid(slots)))
        .expect("a rotation of the circuit only");
    steps.extend(circuit.iter().copied().filter(|&r| r != dropped));
    steps.sort_unstable();
    steps.dedup();
    let mut kg = KeyGenerator::new(&ctx, Some(9));
    let sk = kg.secret_key();
    let eval = kg.evaluation_keys(&sk, &steps, true);
    let keys = ServerKeys {
        params: lit.clone(),
        key_set: cellwise::infer::client::key_set_id(&eval),
        shape,
        encapsulation: bootstrap::encapsulation_keys(&mut kg, &ctx, &sk),
        eval,
    };
    let err = Server::new(keys, &s.weights).err().expect("refused");
    let text = err.to_string();
    assert!(
        text.contains("lack 1 of the") && text.contains(&format!("[{dropped}]")),
        "{text}"
    );
    assert!(text.contains("gru circuit"), "{text}");
    // A step deeper than the levels even with every value refreshed is refused with the
    // step and slot.
    let schedule = Schedule::parse("3 except z:17@5", s.problem.space().shape()).unwrap();
    let cells = infer::cells_for(&schedule, &s.candidates).unwrap();
    let err = infer::fewest_bootstraps(&cells, shape, 5).unwrap_err();
    assert!(matches!(err, InferError::Placement(_)), "{err}");
    assert_eq!(
        err.to_string(),
        "step 5, slot z: the degree-17 polynomial needs 5 levels, but its argument is at level 4 (even with every value refreshed)"
    );
    // Weights of another cell than the keys'.
    let (_, keys) = Client::keygen(&params(), shape, Some(3)).unwrap();
    let lstm = Weights::embedded_for(&Problem::load("mnist-lstm32").unwrap()).unwrap();
    let err = Server::new(keys, &lstm).err().expect("refused").to_string();
    assert!(err.contains("lstm"), "{err}");
    assert_eq!(CellKind::Gru, shape.cell);
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

#[test]
fn a_gru_runs_as_two_processes_and_its_keys_fit_no_other_cell() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, s) = (tmp.path().join("client"), tmp.path().join("server"));
    let (c_s, s_s) = (c.to_str().unwrap(), s.to_str().unwrap());
    let problem = "mnist-gru32-safe";
    run(&[
        "infer",
        "keygen",
        "--dir",
        c_s,
        "--problem",
        problem,
        "--preset",
        "test-boot",
        "--insecure",
        "--seed",
        "1",
    ]);
    run(&[
        "infer",
        "encrypt",
        "--dir",
        c_s,
        "--problem",
        problem,
        "--images",
        "16",
        "--fixture",
        "--seed",
        "2",
    ]);
    std::fs::create_dir(&s).unwrap();
    for f in ["server.keys", "inputs.ct"] {
        std::fs::copy(c.join(f), s.join(f)).unwrap();
    }
    let serve = |problem: &str| {
        vec![
            "infer".to_string(),
            "serve".into(),
            "--dir".into(),
            s_s.into(),
            "--problem".into(),
            problem.into(),
            "--schedule".into(),
            "all-3".into(),
            "--cost".into(),
            "depth".into(),
            "--fixture".into(),
            "--insecure".into(),
        ]
    };
    // The GRU's keys serve neither the SimpleRNN nor the LSTM.
    for other in ["mnist-rnn32", "mnist-lstm32"] {
        let args = serve(other);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        fails(&args, "another network shape");
    }
    let args = serve(problem);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(&args);
    assert!(out.contains("16 images"), "{out}");
    std::fs::copy(s.join("logits.ct"), c.join("logits.ct")).unwrap();
    let out = run(&["infer", "decrypt", "--dir", c_s, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let predictions: Vec<u8> = v["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_u64().unwrap() as u8)
        .collect();
    // The plaintext reference of the same fits (the server measured them on the same
    // training split) predicts the same classes.
    let setup = setup(problem);
    let schedule = Schedule::parse("all-3", setup.problem.space().shape()).unwrap();
    let cells = infer::cells_for(&schedule, &setup.candidates).unwrap();
    let images = setup.splits.test.images.slice(ndarray::s![..16, .., ..]);
    let plain = infer::argmax_rows(&infer::reference(&setup.weights, images, &cells).logits);
    assert_eq!(predictions, plain);
}

#[test]
fn a_gated_batch_unsafe_in_plaintext_is_refused_before_encryption() {
    // The paper's fits on [-8, 8]: the GRU's gate pre-activations reach far beyond them.
    let args = [
        "infer",
        "--encrypted",
        "--problem",
        "mnist-gru32",
        "--preset",
        "test-boot",
        "--insecure",
        "--cost",
        "depth",
        "--fixture",
        "--images",
        "16",
        "--seed",
        "1",
        "--schedule",
        "all-17",
    ];
    fails(&args, "6 of the 16 images leave 1.25 half-widths");
    fails(&args, "--allow-unsafe");
}
