//! One definition, every consumer: for each cell (SimpleRNN, GRU, LSTM) and the same random
//! weights, the trainer's forward pass (f32), its loss-and-gradient pass, the oracle's SIMD
//! kernel (f32 and f64) and the f64 reference of encrypted runs compute the same network.
//! A consumer that drifted from `recurrence` (a gate order, a bias, a product) fails here.

use cellwise::approx::Activation;
use cellwise::ckks::poly::Chebyshev;
use cellwise::data::Split;
use cellwise::infer;
use cellwise::model::{Weights, forward, loss_and_gradient};
use cellwise::oracle::{Candidates, Oracle, OracleConfig, Precision};
use cellwise::problem::{DEFAULT_PROBLEM, Problem};
use cellwise::recurrence::CellKind;
use cellwise::schedule::{Approx, Schedule, Shape};
use ndarray::{Array1, Array2, Array3};
use rand::rngs::ChaCha20Rng;
use rand::{RngExt, SeedableRng};

const STEPS: usize = 5;
const WIDTH: usize = 6;
const HIDDEN: usize = 7;
const CLASSES: usize = 4;
const IMAGES: usize = 300;

/// A problem of this cell and shape (the default preset with its model section changed).
fn problem(kind: CellKind) -> Problem {
    let mut p = Problem::load(DEFAULT_PROBLEM).unwrap();
    p.model.cell = kind;
    p.model.hidden = HIDDEN;
    p.model.classes = CLASSES;
    p.model.activation = None;
    p
}

/// Random weights of a cell, with a spread that keeps some pre-activations beyond [-8, 8].
fn weights(kind: CellKind, rng: &mut ChaCha20Rng) -> Weights {
    let g = kind.cell().gate_count();
    let mut m =
        |r: usize, c: usize, s: f32| Array2::from_shape_fn((r, c), |_| rng.random_range(-s..s));
    let kernel = m(WIDTH, g * HIDDEN, 3.0);
    let recurrent_kernel = m(HIDDEN, g * HIDDEN, 1.5);
    let dense_kernel = m(HIDDEN, CLASSES, 1.0);
    let mut v = |n: usize| Array1::from_shape_fn(n, |_| rng.random_range(-0.5f32..0.5));
    Weights {
        cell: kind,
        kernel,
        recurrent_kernel,
        bias: v(g * HIDDEN),
        recurrent_bias: kind.cell().recurrent_bias.then(|| v(g * HIDDEN)),
        dense_kernel,
        dense_bias: v(CLASSES),
    }
}

fn split(rng: &mut ChaCha20Rng) -> Split {
    Split {
        name: "random".into(),
        images: Array3::from_shape_fn((IMAGES, STEPS, WIDTH), |_| rng.random_range(0.0f32..1.0)),
        labels: (0..IMAGES)
            .map(|_| rng.random_range(0..CLASSES as u8))
            .collect(),
    }
}

fn argmax(logits: &Array2<f64>) -> Vec<u8> {
    forward::argmax_rows(logits)
        .into_iter()
        .map(|i| i.min(255) as u8)
        .collect()
}

#[test]
fn every_consumer_computes_the_same_network() {
    for kind in CellKind::ALL {
        let mut rng = ChaCha20Rng::seed_from_u64(17 + kind as u64);
        let w = weights(kind, &mut rng);
        w.validate(None).unwrap();
        let data = split(&mut rng);
        let p = problem(kind);
        let candidates = Candidates::from_problem(&p, None).unwrap();
        let cell = kind.cell();

        // The trainer's forward pass, exact activations (f32).
        let trace = forward::forward_trace(&w, data.images.view());
        let exact32 = forward::argmax_rows(&trace.logits);
        // Its loss-and-gradient pass sees the same logits.
        let (loss, correct, grad) = loss_and_gradient(&w, data.images.view(), &data.labels);
        let (loss_fwd, acc_fwd) = forward::loss_and_accuracy(&trace.logits, &data.labels);
        assert!(
            (loss - loss_fwd).abs() < 1e-4,
            "{kind}: {loss} vs {loss_fwd}"
        );
        assert_eq!(correct as f64 / IMAGES as f64, acc_fwd, "{kind}");
        assert_eq!(grad.recurrent_bias.is_some(), cell.recurrent_bias);

        // The oracle's kernel, exact and with polynomials, in f32 and f64.
        let o32 = Oracle::new(&w, &data, &candidates, &OracleConfig::default()).unwrap();
        let cfg64 = OracleConfig {
            precision: Precision::F64,
            ..OracleConfig::default()
        };
        let o64 = Oracle::new(&w, &data, &candidates, &cfg64).unwrap();
        let shape = Shape {
            cell: kind,
            steps: STEPS,
        };
        let exact = Schedule::uniform(shape, Approx::Exact);
        let e32 = o32.evaluate(&exact).unwrap();
        let agree = e32
            .predictions
            .iter()
            .zip(&exact32)
            .filter(|(a, b)| **a as usize == **b)
            .count();
        assert!(
            agree >= IMAGES - 1,
            "{kind}: oracle f32 vs trainer: {agree}"
        );

        // A mixed schedule: the f64 reference of encrypted runs against the f64 oracle.
        let mixed = Schedule::parse("17 except 7@1 3@3", shape).unwrap();
        let polys: Vec<Chebyshev> = infer::cells_for(&mixed, &candidates).unwrap();
        let reference = infer::reference(&w, data.images.view(), &polys);
        let e64 = o64.evaluate(&mixed).unwrap();
        assert_eq!(
            e64.predictions,
            argmax(&reference.logits),
            "{kind}: oracle f64 vs reference"
        );
        let peak = reference
            .peak_argument
            .iter()
            .cloned()
            .fold(0.0f64, f64::max);
        assert!(
            (peak - e64.peak_argument).abs() <= 1e-9 * peak.max(1.0),
            "{kind}: peaks {peak} vs {}",
            e64.peak_argument
        );
        assert!(
            e64.out_of_domain > 0,
            "{kind}: the test must leave the fit interval"
        );
        // f32 and f64 oracles agree on nearly every image.
        let e32 = o32.evaluate(&mixed).unwrap();
        let same = e32
            .predictions
            .iter()
            .zip(&e64.predictions)
            .filter(|(a, b)| a == b)
            .count();
        assert!(same >= IMAGES - 2, "{kind}: f32 vs f64: {same}");
        // Every slot computes its own function: sigmoid slots never leave (0, 1).
        let sigmoid = cell.slots.iter().any(|s| s.function == Activation::Sigmoid);
        assert_eq!(sigmoid, kind != CellKind::SimpleRnn);
    }
}

/// Swapping two gate blocks of the weights changes what every consumer computes (so the test
/// above would notice a consumer reading gates in another order).
#[test]
fn gate_order_matters() {
    for kind in [CellKind::Gru, CellKind::Lstm] {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let w = weights(kind, &mut rng);
        let data = split(&mut rng);
        let mut swapped = w.clone();
        for m in [&mut swapped.kernel, &mut swapped.recurrent_kernel] {
            let a = m.slice(ndarray::s![.., 0..HIDDEN]).to_owned();
            let b = m.slice(ndarray::s![.., HIDDEN..2 * HIDDEN]).to_owned();
            m.slice_mut(ndarray::s![.., 0..HIDDEN]).assign(&b);
            m.slice_mut(ndarray::s![.., HIDDEN..2 * HIDDEN]).assign(&a);
        }
        let a = forward::logits(&w, data.images.view());
        let b = forward::logits(&swapped, data.images.view());
        let diff = (&a - &b).mapv(f32::abs).sum();
        assert!(diff > 1e-2, "{kind}: swapping gates changed nothing");
    }
}
