//! The encrypted step of every cell, generated from its one definition, computes the same
//! network as the plaintext f64 reference (`infer::reference`) over the simulated evaluator,
//! with bootstraps placed inside steps; and at full size it runs the levels its plans say.

use cellwise::approx::Activation;
use cellwise::ckks::cell::placement::{Planner, StepShape, output_ops, step_ops};
use cellwise::ckks::cell::{CellCircuit, CellMatrices, Refreshers, plan_steps, run_inference};
use cellwise::ckks::evaluator::Evaluator;
use cellwise::ckks::linear::Layout;
use cellwise::ckks::plan::ProfileOp;
use cellwise::ckks::poly::Chebyshev;
use cellwise::ckks::sim::{SimEvaluator, SimParams};
use cellwise::infer;
use cellwise::model::Weights;
use cellwise::recurrence::{Cell, CellKind};
use ndarray::{Array1, Array2, Array3, s};
use rand::rngs::ChaCha20Rng;
use rand::{RngExt, SeedableRng};

const STEPS: usize = 5;
const WIDTH: usize = 6;
const HIDDEN: usize = 8;
const CLASSES: usize = 3;
const IMAGES: usize = 4;

fn weights(kind: CellKind, rng: &mut ChaCha20Rng) -> Weights {
    let g = kind.cell().gate_count();
    let mut m =
        |r: usize, c: usize, s: f32| Array2::from_shape_fn((r, c), |_| rng.random_range(-s..s));
    let kernel = m(WIDTH, g * HIDDEN, 0.8);
    let recurrent_kernel = m(HIDDEN, g * HIDDEN, 0.5);
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

/// Step t's polynomials: degrees cycling through 3, 7, 17 over (slot, step); sigmoid slots on
/// [-8, 8], tanh slots on [-4, 4] (a different slope, so the LSTM's cell state changes
/// factor between steps when its tanh's interval does), shifted intervals on odd steps so
/// the maps' shifts are exercised.
fn polys(cell: &Cell, steps: usize) -> Vec<Vec<Chebyshev>> {
    (0..steps)
        .map(|t| {
            cell.slots
                .iter()
                .enumerate()
                .map(|(s, slot)| {
                    let d = [3, 7, 17][(s + t) % 3];
                    let (lo, hi) = match slot.function {
                        Activation::Sigmoid => (-8.0, 8.0),
                        Activation::Tanh => (-4.0 - t as f64 * 0.5, 4.0 + (t % 2) as f64),
                    };
                    let f = slot.function;
                    Chebyshev::interpolate(move |x| f.eval(x), d, (lo, hi)).unwrap()
                })
                .collect()
        })
        .collect()
}

/// The optimal placement under a price where a bootstrap costs far more than anything else.
fn planner(cell: &'static Cell, top: usize, blocks: usize) -> Planner {
    let price = |op: &str, level: usize| -> Result<f64, String> {
        Ok(if op == "bootstrap" {
            100.0
        } else {
            1.0 + level as f64
        })
    };
    Planner::new(cell, top, blocks, Box::new(price))
}

#[test]
fn every_cell_computes_the_reference_network_with_bootstraps_inside_steps() {
    for kind in CellKind::ALL {
        let cell = kind.cell();
        let mut rng = ChaCha20Rng::seed_from_u64(5 + kind as u64);
        let w = weights(kind, &mut rng);
        let images =
            Array3::from_shape_fn((IMAGES, STEPS, WIDTH), |_| rng.random_range(0.0f32..1.0));
        // The real ring's primes (1 mod 2^17 near 2^42) differ from the scale by 3e-8 and more,
        // so a sum of unequal scales is caught here as the engine would refuse it.
        let params = SimParams::chain(1 << 15, 9, 42, 58).unwrap();
        let top = params.top_level();
        let layout = Layout::new(params.slots, HIDDEN).unwrap();
        let circuit = CellCircuit::new(layout, &CellMatrices::from_weights(&w)).unwrap();
        let ev = SimEvaluator::new(params).with_rotation_keys(circuit.rotation_steps());
        let polys = polys(cell, STEPS);
        let shapes: Vec<StepShape> = polys.iter().map(|p| StepShape::new(cell, p)).collect();
        let placed = planner(cell, top, HIDDEN).optimal(&shapes).unwrap();
        let refreshes = placed.refreshes.clone();
        if kind != CellKind::SimpleRnn {
            assert!(
                refreshes.steps.iter().any(|r| r.ops != 0),
                "{kind}: 9 levels should need a refresh inside some step"
            );
        }
        let plans = plan_steps(&circuit, &polys, &refreshes, ev.params()).unwrap();
        if kind != CellKind::SimpleRnn {
            assert!(
                plans.iter().any(|p| !p.pairs.is_empty()),
                "{kind}: some step should refresh a packed pair"
            );
        }
        let inputs: Vec<_> = (0..STEPS)
            .map(|t| {
                let x = images.slice(s![.., t, ..]).mapv(f64::from);
                ev.encrypt(&layout.pack(x.view()).unwrap(), top, ev.default_scale())
                    .unwrap()
            })
            .collect();
        let mut seen = 0;
        let (logits, records) = run_inference(
            &ev,
            &circuit,
            &plans,
            false,
            &inputs,
            None,
            Refreshers {
                one: &|ct| Ok(ev.bootstrap(ct)),
                pair: &|a, b| Ok(ev.bootstrap_pair(a, b)),
            },
            &mut |_| seen += 1,
        )
        .unwrap();
        assert_eq!(seen, STEPS + 1);
        let boots: usize = records.iter().map(|r| r.bootstraps()).sum();
        assert_eq!(boots, refreshes.bootstraps(cell), "{kind}");
        // The placement's prediction of every step's work is what the circuit ran.
        let sorted = |mut v: Vec<ProfileOp>| {
            v.sort();
            v
        };
        for (t, plan) in plans.iter().enumerate() {
            let predicted = step_ops(
                cell,
                &shapes[t],
                &placed.entries[t],
                &plan.levels,
                plan.refresh,
                (HIDDEN, top),
            );
            assert_eq!(
                sorted(predicted),
                sorted(records[t].ops.clone()),
                "{kind} step {t}"
            );
        }
        assert_eq!(
            sorted(records[STEPS].ops.clone()),
            sorted(output_ops(placed.entries[STEPS][0], HIDDEN)),
        );
        let got = layout.unpack(ev.decrypt(&logits).unwrap(), IMAGES, CLASSES);
        let flat: Vec<Chebyshev> = polys.into_iter().flatten().collect();
        let want = infer::reference(&w, images.view(), &flat).logits;
        let err = (&got - &want).iter().fold(0.0f64, |m, e| m.max(e.abs()));
        assert!(err < 1e-6, "{kind}: max error {err}");
        assert!(
            want.iter().any(|v| v.abs() > 0.1),
            "{kind}: a trivial network"
        );
    }
}
