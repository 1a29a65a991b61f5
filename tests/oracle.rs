//! The oracle against independent references, its early exit and its caches.

use cellwise::approx::Approximation;
use cellwise::data::{Split, load_fixture_splits};
use cellwise::model::{Weights, forward};
use cellwise::oracle::{Candidates, NO_PREDICTION, Oracle, OracleConfig, Precision};
use cellwise::problem::{DEFAULT_PROBLEM, Problem};
use cellwise::schedule::{Approx, Schedule};
use ndarray::Axis;
use rand::rngs::ChaCha20Rng;
use rand::{RngExt, SeedableRng};

fn setup() -> (Problem, Split, Weights, Candidates) {
    let problem = Problem::load(DEFAULT_PROBLEM).unwrap();
    let splits = load_fixture_splits(&problem).unwrap();
    let candidates = Candidates::from_problem(&problem, None).unwrap();
    (
        problem,
        splits.test,
        Weights::embedded_default(),
        candidates,
    )
}

fn random_schedule(rng: &mut ChaCha20Rng, steps: usize, exact: bool) -> Schedule {
    let options = [17, 17, 17, 7, 3];
    Schedule::new(
        (0..steps)
            .map(|_| {
                if exact && rng.random_range(0..4) == 0 {
                    Approx::Exact
                } else {
                    Approx::Degree(options[rng.random_range(0..options.len())])
                }
            })
            .collect(),
    )
}

/// The ndarray forward pass (the trainer's interpreter of the step program) in f64 with the
/// polynomials evaluated by Clenshaw.
fn naive_predictions(w: &Weights, split: &Split, schedule: &Schedule, c: &Candidates) -> Vec<u8> {
    let x = split.images.mapv(|v| v as f64);
    let trace =
        forward::forward_with(
            w,
            &forward::Params::of(w),
            x.view(),
            |slot, t, z| match schedule.get(slot, t) {
                Approx::Exact => forward::exact(c.slots[slot].function, z),
                Approx::Degree(d) => {
                    let a: &Approximation = c.slots[slot].fit(d).unwrap();
                    z.mapv_inplace(|v| a.eval(v))
                }
            },
        );
    trace
        .logits
        .axis_iter(Axis(0))
        .map(|row| {
            let mut best: Option<(usize, f64)> = None;
            for (i, &v) in row.iter().enumerate() {
                if v.is_finite() && best.is_none_or(|(_, b)| v > b) {
                    best = Some((i, v));
                }
            }
            best.map_or(NO_PREDICTION, |(i, _)| i as u8)
        })
        .collect()
}

#[test]
fn f32_f64_and_naive_reference_agree() {
    let (problem, split, w, c) = setup();
    let o32 = Oracle::new(&w, &split, &c, &OracleConfig::default()).unwrap();
    let cfg64 = OracleConfig {
        precision: Precision::F64,
        ..OracleConfig::default()
    };
    let o64 = Oracle::new(&w, &split, &c, &cfg64).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    let (mut agree, mut total) = (0usize, 0usize);
    for _ in 0..12 {
        let s = random_schedule(&mut rng, problem.steps(), true);
        let p32 = &o32.evaluate(&s).unwrap().predictions;
        let p64 = &o64.evaluate(&s).unwrap().predictions;
        let naive = naive_predictions(&w, &split, &s, &c);
        for i in 0..split.len() {
            total += 1;
            agree += usize::from(p32[i] == naive[i] && p64[i] == naive[i]);
        }
    }
    assert!(agree as f64 >= 0.999 * total as f64, "{agree} of {total}");
}

#[test]
fn exact_schedule_matches_the_numpy_reference() {
    let (problem, split, w, c) = setup();
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/reference-predictions.json"),
    )
    .unwrap();
    let reference: serde_json::Value = serde_json::from_str(&text).unwrap();
    let expected: Vec<u8> = reference["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u8)
        .collect();
    let o = Oracle::new(&w, &split, &c, &OracleConfig::default()).unwrap();
    let e = o
        .evaluate(&Schedule::uniform(problem.steps(), Approx::Exact))
        .unwrap();
    assert_eq!(e.predictions, expected);
    let plain: Vec<u8> = forward::argmax_rows(&forward::logits(&w, split.images.view()))
        .iter()
        .map(|&p| p as u8)
        .collect();
    assert_eq!(plain, expected);
}

#[test]
fn accepts_equals_the_full_answer_and_caches_change_nothing() {
    let (problem, split, w, c) = setup();
    let cached = Oracle::new(&w, &split, &c, &OracleConfig::default()).unwrap();
    let fresh_cfg = OracleConfig {
        cache_mb: 0,
        ..OracleConfig::default()
    };
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let parent = Schedule::uniform(problem.steps(), Approx::Degree(17));
    cached.evaluate(&parent).unwrap();
    for round in 0..40 {
        // Children of the parent share its prefixes; random ones mostly do not.
        let s = if round % 2 == 0 {
            let i = rng.random_range(0..problem.steps());
            parent.with(0, i, Approx::Degree([3, 7][rng.random_range(0..2)]))
        } else {
            random_schedule(&mut rng, problem.steps(), false)
        };
        let fresh = Oracle::new(&w, &split, &c, &fresh_cfg).unwrap();
        let full = fresh.evaluate(&s).unwrap();
        let k = rng.random_range(0..=split.len());
        let early = Oracle::new(&w, &split, &c, &fresh_cfg).unwrap();
        assert_eq!(
            early.accepts(&s, k, false).unwrap(),
            full.correct >= k,
            "{s} threshold {k}"
        );
        assert_eq!(cached.accepts(&s, k, false).unwrap(), full.correct >= k);
        let again = cached.evaluate(&s).unwrap();
        assert_eq!(again.predictions, full.predictions);
        assert_eq!(again.out_of_domain_per_step, full.out_of_domain_per_step);
    }
    let stats = cached.stats();
    assert!(stats.prefix_hits > 0, "{stats:?}");
}

/// Without the memo and with a prefix state after every step (exhaustive enumeration's
/// settings) a schedule asked about twice is computed twice, from its longest stored prefix,
/// with the same answer as the default oracle.
#[test]
fn stride_one_without_memo_resumes_after_every_step_and_answers_alike() {
    let (problem, split, w, c) = setup();
    let plain = Oracle::new(&w, &split, &c, &OracleConfig::default()).unwrap();
    let config = OracleConfig {
        cache_stride: 1,
        memoise: false,
        ..OracleConfig::default()
    };
    let o = Oracle::new(&w, &split, &c, &config).unwrap();
    let steps = problem.steps();
    let top = Schedule::uniform(steps, Approx::Degree(17));
    let last = top.with(0, steps - 1, Approx::Degree(3));
    let odd = top.with(0, 5, Approx::Degree(7));
    for s in [&top, &last, &odd, &last] {
        let e = o.evaluate(s).unwrap();
        let reference = plain.evaluate(s).unwrap();
        assert_eq!(e.predictions, reference.predictions, "{s}");
        assert_eq!(e.out_of_domain_per_step, reference.out_of_domain_per_step);
        assert_eq!(e.peak_argument, reference.peak_argument);
    }
    let stats = o.stats();
    assert_eq!((stats.runs, stats.memo_hits, stats.prefix_hits), (4, 0, 3));
    // all-17 from scratch, then one step, 23 steps (after step 5, an odd step that a stride
    // of 2 would not have stored), and one step again.
    let n = split.len() as u64;
    assert_eq!(
        stats.image_steps,
        n * (steps as u64 + 1 + (steps as u64 - 5) + 1)
    );
}

#[test]
fn exploding_polynomials_count_as_wrong_without_panicking() {
    let (problem, split, mut w, c) = setup();
    w.kernel.mapv_inplace(|v| v * 1e4);
    let o = Oracle::new(&w, &split, &c, &OracleConfig::default()).unwrap();
    let e = o
        .evaluate(&Schedule::uniform(problem.steps(), Approx::Degree(17)))
        .unwrap();
    let none = e
        .predictions
        .iter()
        .filter(|&&p| p == NO_PREDICTION)
        .count();
    assert!(none > 0);
    assert!(e.correct <= split.len() - none);
    assert!(e.out_of_domain > 0);
}

#[test]
fn bad_schedules_are_refused() {
    let (_, split, w, c) = setup();
    let o = Oracle::new(&w, &split, &c, &OracleConfig::default()).unwrap();
    let short = Schedule::uniform(3, Approx::Degree(17));
    assert!(
        o.evaluate(&short)
            .unwrap_err()
            .to_string()
            .contains("3 steps")
    );
    let unknown = Schedule::uniform(28, Approx::Degree(5));
    assert!(
        o.accepts(&unknown, 1, false)
            .unwrap_err()
            .to_string()
            .contains("unknown degree 5")
    );
}

#[test]
fn batch_safety_is_reported_and_decided_exactly() {
    let (problem, split, mut w, c) = setup();
    // Larger input weights push some images (not all) beyond the fit interval; three copies
    // of the fixture span two chunks, so the early exit across chunks is exercised.
    w.kernel.mapv_inplace(|v| v * 1.6);
    let n = split.len();
    let images = ndarray::concatenate(
        Axis(0),
        &[
            split.images.view(),
            split.images.view(),
            split.images.view(),
        ],
    )
    .unwrap();
    let labels = [
        split.labels.clone(),
        split.labels.clone(),
        split.labels.clone(),
    ]
    .concat();
    let big = Split {
        name: "tripled".into(),
        images,
        labels,
    };
    let fresh_cfg = OracleConfig {
        cache_mb: 0,
        ..OracleConfig::default()
    };
    let cached = Oracle::new(&w, &big, &c, &OracleConfig::default()).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let mut mixed = 0;
    for round in 0..12 {
        let s = if round == 0 {
            Schedule::uniform(problem.steps(), Approx::Degree(17))
        } else {
            random_schedule(&mut rng, problem.steps(), false)
        };
        let full = Oracle::new(&w, &big, &c, &fresh_cfg)
            .unwrap()
            .evaluate(&s)
            .unwrap();
        let bad = full.unsafe_images.len();
        if bad > 0 && bad < 3 * n {
            mixed += 1;
            assert!(full.peak_argument > cellwise::oracle::SAFE_ARGUMENT);
        }
        // Copies of an image are equally safe.
        for &i in &full.unsafe_images {
            assert!(full.unsafe_images.contains(&((i + n) % (3 * n))));
        }
        for k in [0, full.correct, full.correct + 1] {
            let expected = full.correct >= k && full.is_batch_safe();
            let early = Oracle::new(&w, &big, &c, &fresh_cfg).unwrap();
            assert_eq!(early.accepts(&s, k, true).unwrap(), expected, "{s} {k}");
            assert_eq!(cached.accepts(&s, k, true).unwrap(), expected, "{s} {k}");
            assert_eq!(
                cached.accepts(&s, k, false).unwrap(),
                full.correct >= k,
                "{s} {k}"
            );
        }
        let again = cached.evaluate(&s).unwrap();
        assert_eq!(again.unsafe_images, full.unsafe_images);
        assert_eq!(again.peak_argument, full.peak_argument);
    }
    assert!(mixed > 0, "no schedule had some but not all images unsafe");
}

/// A split of several work items (the fixture's 500 training images, four times).
fn large_split() -> Split {
    let problem = Problem::load(DEFAULT_PROBLEM).unwrap();
    let train = load_fixture_splits(&problem).unwrap().train;
    let views: Vec<_> = (0..4).map(|_| train.images.view()).collect();
    Split {
        name: "tiled".into(),
        images: ndarray::concatenate(Axis(0), &views).unwrap(),
        labels: train.labels.repeat(4),
    }
}

#[test]
fn work_items_keep_their_states_and_resume_exactly() {
    let (problem, _, w, c) = setup();
    let split = large_split();
    assert!(
        split.len() > 3 * 512,
        "the split must span several work items"
    );
    let fresh = |s: &Schedule| {
        let cfg = OracleConfig {
            cache_mb: 0,
            ..OracleConfig::default()
        };
        Oracle::new(&w, &split, &c, &cfg)
            .unwrap()
            .evaluate(s)
            .unwrap()
    };
    let parent = Schedule::uniform(problem.steps(), Approx::Degree(17));
    let cached = Oracle::new(&w, &split, &c, &OracleConfig::default()).unwrap();

    // A run whose states no later schedule reads stores none.
    cached
        .evaluate_with(&parent, cellwise::oracle::Prefixes::Skip)
        .unwrap();
    assert_eq!(cached.stats().cache_bytes, 0);
    cached.clear_caches();

    // A rejection decided early still leaves the states of the items it finished.
    let bad = Schedule::uniform(problem.steps(), Approx::Degree(3));
    assert!(!cached.accepts(&bad, split.len(), false).unwrap());
    let stats = cached.stats();
    assert_eq!(stats.early_exits, 1, "{stats:?}");
    assert!(stats.cache_bytes > 0, "{stats:?}");

    // Schedules resuming from partly cached prefixes score exactly as fresh runs.
    cached.evaluate(&parent).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    for _ in 0..12 {
        let i = rng.random_range(1..problem.steps());
        let base = if rng.random_range(0..2) == 0 {
            &parent
        } else {
            &bad
        };
        let s = base.with(0, i, Approx::Degree([3, 7, 17][rng.random_range(0..3)]));
        let want = fresh(&s);
        let k = want.correct.saturating_sub(rng.random_range(0..40));
        assert!(cached.accepts(&s, k, false).unwrap(), "{s}");
        let got = cached.evaluate(&s).unwrap();
        assert_eq!(got.predictions, want.predictions, "{s}");
        assert_eq!(got.out_of_domain_per_step, want.out_of_domain_per_step);
        assert_eq!(got.unsafe_images, want.unsafe_images);
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(&got.mean_abs_deviation_per_step),
            bits(&want.mean_abs_deviation_per_step),
            "{s}"
        );
    }
    assert!(cached.stats().prefix_hits > 0);
}
