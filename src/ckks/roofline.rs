//! The engine against the limit of the machine. In one run: the time of each primitive limb
//! operation ([`Primitive`]: forward and inverse NTT of one limb, a modular multiplication,
//! a lazy `u128` multiply-accumulate, an addition and a permutation over one limb), then, per
//! high-level operation and level, how many of each it performed (the engine's own counts,
//! [`Tally`]) and its measured median time. The operation's *achievable* time is the sum of its
//! primitives' times divided by the worker threads (limb-parallel work scales at best that
//! way); the fraction `achievable / measured` says how close the operation is to its parts.
//! Work no primitive counts (memory copies, the encoder's FFT, the encapsulation's own loops)
//! shows as a lower fraction.

use std::time::Instant;

use rand::{RngExt, SeedableRng};

use crate::ckks::bootstrap::{BootstrapConfig, Bootstrapper, encapsulation_keys, rotation_steps};
use crate::ckks::circuit_ops::profile_ops;
use crate::ckks::evaluator::Evaluator;
use crate::ckks::math::keystream::BelowModulus;
use crate::ckks::math::lanes::{self, ProductSums};
use crate::ckks::math::tally::{PRIMITIVES, Primitive, Tally};
use crate::ckks::ring::{FILL_BLOCK, RnsPoly};
use crate::ckks::scheme::context::Context;
use crate::ckks::scheme::encryption::Encryptor;
use crate::ckks::scheme::engine::Engine;
use crate::ckks::scheme::error::CkksError;
use crate::ckks::scheme::keys::KeyGenerator;
use crate::ckks::scheme::params::Parameters;

/// Names of the bootstrap's phases, as in [`crate::ckks::bootstrap::BootstrapReport`].
const PHASES: [&str; 4] = [
    "bootstrap:raise",
    "bootstrap:coeffs_to_slots",
    "bootstrap:eval_mod",
    "bootstrap:slots_to_coeffs",
];

/// What to measure.
#[derive(Clone, Debug)]
pub struct RooflineConfig {
    /// Timed repetitions per operation (median, after one warm-up).
    pub samples: usize,
    /// Levels to measure the leveled operations at.
    pub levels: Vec<usize>,
    /// Timed bootstraps (0: none).
    pub bootstrap_samples: usize,
    /// Seed of keys and encryptions.
    pub seed: u64,
}

/// One operation at one level.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Row {
    /// Operation (profile names; `bootstrap:PHASE` for the bootstrap's phases).
    pub op: String,
    /// Level it starts at.
    pub level: usize,
    /// Median measured milliseconds.
    pub measured_ms: f64,
    /// Sum of its primitives' times over the threads, milliseconds.
    pub achievable_ms: f64,
    /// `achievable_ms / measured_ms`.
    pub fraction: f64,
    /// Limb operations per primitive (in [`Primitive::ALL`] order).
    pub counts: Tally,
}

/// A roofline run.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Roofline {
    /// Worker threads of the run.
    pub threads: usize,
    /// Milliseconds per limb of each primitive on one thread (in [`Primitive::ALL`] order).
    pub primitive_ms: [f64; PRIMITIVES],
    /// The operations.
    pub rows: Vec<Row>,
}

impl Roofline {
    fn row(&self, op: &str, level: usize, measured_ms: f64, counts: Tally) -> Row {
        let work: f64 = Primitive::ALL
            .iter()
            .map(|&p| counts.get(p) as f64 * self.primitive_ms[p as usize])
            .sum();
        let achievable_ms = work / self.threads as f64;
        Row {
            op: op.to_string(),
            level,
            measured_ms,
            achievable_ms,
            fraction: achievable_ms / measured_ms,
            counts,
        }
    }
}

/// Measures the primitives and the operations at `params`; `progress` gets a line per row.
pub fn measure(
    params: &Parameters,
    cfg: &RooflineConfig,
    progress: &dyn Fn(&str),
) -> Result<Roofline, CkksError> {
    let ctx = Context::new(params)?;
    let mut roof = Roofline {
        threads: rayon::current_num_threads(),
        primitive_ms: primitive_times(&ctx, cfg.samples.max(5), &[0]),
        rows: Vec::new(),
    };
    for p in Primitive::ALL {
        progress(&format!(
            "{:>8}: {:.4} ms per limb",
            p.name(),
            roof.primitive_ms[p as usize]
        ));
    }
    let push = |roof: &mut Roofline, row: Row| {
        progress(&format!(
            "{:>26} level {:2}: {:10.3} ms measured, {:10.3} achievable ({:.2})",
            row.op, row.level, row.measured_ms, row.achievable_ms, row.fraction
        ));
        roof.rows.push(row);
    };
    let mut kg = KeyGenerator::new(&ctx, Some(cfg.seed));
    let sk = kg.secret_key();
    let pk = kg.public_key(&sk);
    let enc = Encryptor::public(&ctx, &pk, Some(cfg.seed + 1))?;
    let mut rng = rand::rngs::ChaCha20Rng::seed_from_u64(cfg.seed + 2);
    let values: Vec<f64> = (0..params.slots())
        .map(|_| rng.random_range(-1.0..=1.0))
        .collect();

    if cfg.bootstrap_samples > 0 {
        let config = BootstrapConfig::for_params(params)?;
        let steps = rotation_steps(params, &config)?;
        let engine = Engine::new(&ctx, kg.evaluation_keys(&sk, &steps, true))?;
        let boot = Bootstrapper::new(&ctx, config, encapsulation_keys(&mut kg, &ctx, &sk))?;
        let ct = enc.encrypt_values(&values, 0, params.default_scale())?;
        boot.bootstrap(&engine, &ct)?;
        let mut runs = Vec::with_capacity(cfg.bootstrap_samples);
        for k in 0..cfg.bootstrap_samples {
            let (t0, c0) = (Instant::now(), Tally::now());
            let (_, report) = boot.bootstrap(&engine, &ct)?;
            let ms = ms_since(t0);
            progress(&format!("bootstrap sample {}: {ms:.1} ms", k + 1));
            runs.push((ms, Tally::now().since(c0), report));
        }
        let total = median(runs.iter().map(|r| r.0).collect());
        let row = roof.row("bootstrap", 0, total, runs[0].1);
        push(&mut roof, row);
        for (k, phase) in PHASES.iter().enumerate() {
            let ms = median(runs.iter().map(|r| r.2.phase_seconds[k] * 1e3).collect());
            let row = roof.row(phase, 0, ms, runs[0].2.phase_tallies[k]);
            push(&mut roof, row);
        }
    }

    let slots = params.slots();
    let mut steps: Vec<isize> = (1..=31).collect();
    for op in profile_ops() {
        steps.extend(op.rotation_steps(slots)?);
    }
    let mut keys = kg.evaluation_keys(&sk, &steps, true);
    keys.expand_rotations(&ctx, &steps);
    let engine = Engine::new(&ctx, keys)?;
    let hoisted: Vec<isize> = (1..=31).collect();
    for &level in cfg.levels.iter().rev() {
        let ct = enc.encrypt_values(&values, level, params.default_scale())?;
        let mut timed = |name: &str, f: &dyn Fn() -> Result<(), CkksError>| {
            let (ms, counts) = time_and_count(cfg.samples, f)?;
            let row = roof.row(name, level, ms, counts);
            push(&mut roof, row);
            Ok::<(), CkksError>(())
        };
        if level >= 1 {
            timed("mul_relin_rescale", &|| {
                engine.rescale(&engine.mul_relin(&ct, &ct)?).map(drop)
            })?;
        }
        timed("rotate", &|| engine.rotate(&ct, 1).map(drop))?;
        timed("hoisted_rotate_31", &|| {
            engine.rotate_hoisted(&ct, &hoisted).map(drop)
        })?;
        for op in profile_ops() {
            if op.depth() > level {
                continue;
            }
            let prepared = op.prepare(&engine, level)?;
            let input = enc.encrypt_values(prepared.input(), level, params.default_scale())?;
            timed(&op.name(), &|| prepared.run(&engine, &input).map(drop))?;
        }
    }
    Ok(roof)
}

/// The median time of `f` over `samples` runs after a warm-up, and the limb operations of one
/// run.
fn time_and_count(
    samples: usize,
    f: &dyn Fn() -> Result<(), CkksError>,
) -> Result<(f64, Tally), CkksError> {
    f()?;
    let c0 = Tally::now();
    f()?;
    let counts = Tally::now().since(c0);
    let mut ts = Vec::with_capacity(samples);
    for _ in 0..samples {
        let t = Instant::now();
        f()?;
        ts.push(ms_since(t));
    }
    Ok((median(ts), counts))
}

/// The limbs a calibration times its primitives on ([`primitive_times`]): the first
/// computation prime (below 2^50 at the `fgb-like` presets, the IFMA path) and the top
/// prime of the chain (a bootstrap prime there, the 64-bit lanes), so that both kernel
/// paths a run takes weigh in.
pub fn calibration_limbs(ctx: &Context) -> Vec<usize> {
    let top = ctx.params().max_level();
    let mut limbs = vec![1.min(top), top];
    limbs.dedup();
    limbs
}

/// Milliseconds per limb of each primitive on one thread (in [`Primitive::ALL`] order): for
/// each limb index of `limbs`, the median of `samples` rounds over that prime (round-robin
/// over the primitives, each sample repeating one for at least 2 ms); the mean over `limbs`.
/// The mask draw is the mean over every prime of the chain, whatever the limb.
pub fn primitive_times(ctx: &Context, samples: usize, limbs: &[usize]) -> [f64; PRIMITIVES] {
    // A pass thrown away first: right after start-up the first pass ran at up to half speed.
    if let Some(&j) = limbs.first() {
        primitive_times_at(ctx, 1, j);
    }
    let mut sum = [0.0; PRIMITIVES];
    for &j in limbs {
        let t = primitive_times_at(ctx, samples, j);
        sum.iter_mut().zip(t).for_each(|(s, t)| *s += t);
    }
    sum.map(|s| s / limbs.len().max(1) as f64)
}

/// Seed of the mask the draw primitive times.
const MASK_SEED: [u8; 32] = [7; 32];

fn primitive_times_at(ctx: &Context, samples: usize, j: usize) -> [f64; PRIMITIVES] {
    // Each sample repeats a primitive for at least this long, so that timer resolution and
    // short stalls do not move the median.
    const SAMPLE_MS: f64 = 2.0;
    let n = ctx.n();
    let m = *ctx.modulus(j);
    let limb = |seed: u64| -> Vec<u64> {
        let mut rng = rand::rngs::ChaCha20Rng::seed_from_u64(seed);
        (0..n).map(|_| rng.random_range(0..m.value)).collect()
    };
    let (mut a, mut c, b) = (limb(1), limb(1), limb(2));
    let (mut x, mut z) = (limb(3), limb(3));
    let y = limb(4);
    let table = ctx.ring().table(j);
    let g = ctx.galois_element(1);
    let permuted = RnsPoly {
        limbs: vec![b.clone()],
        ntt: true,
    };
    let chain = &ctx.ring().moduli()[..ctx.q_count() + ctx.p_count()];
    let mut work: [Box<dyn FnMut() + '_>; PRIMITIVES] = [
        Box::new(|| table.forward(&mut x)),
        Box::new(|| table.inverse(&mut z)),
        Box::new(|| lanes::mul_assign(&m, &mut a, &b)),
        Box::new(|| {
            // The key switch's inner loop: exact sums of products over blocks of 256, one
            // product added per coefficient (the operands below this prime).
            let block = n.min(256);
            let mut acc = ProductSums::new(&m, block, true);
            for (start, xs) in (0..n).step_by(block).zip(y.chunks(block)) {
                acc.mac(xs, &b[start..start + block]);
                if start % (8 * block) == 0 {
                    acc.clear();
                }
            }
            std::hint::black_box(&acc);
        }),
        Box::new(|| {
            c.iter_mut().zip(&b).for_each(|(u, &v)| *u = m.add(*u, v));
        }),
        Box::new(|| {
            std::hint::black_box(ctx.automorphism_ntt(&permuted, g));
        }),
        Box::new(|| {
            // A seeded key switch's draw, a block at a time into a buffer on the stack, over
            // every prime of the chain: its cost depends on the prime (one just above a power
            // of two redraws half its words, one just below almost none), and key switching
            // draws over all of them.
            let mut block = [0u64; FILL_BLOCK];
            for (i, q) in chain.iter().enumerate() {
                let mut draw = BelowModulus::new(&MASK_SEED, i as u64, q.value, n);
                for start in (0..n).step_by(FILL_BLOCK) {
                    draw.next_words(&mut block[..FILL_BLOCK.min(n - start)]);
                    std::hint::black_box(&block);
                }
            }
        }),
    ];
    // Repetitions per sample, from one timed call after a warm-up call.
    let reps: Vec<usize> = work
        .iter_mut()
        .map(|f| {
            f();
            let t = Instant::now();
            f();
            (SAMPLE_MS / ms_since(t).max(1e-6)).ceil().clamp(4.0, 1e5) as usize
        })
        .collect();
    // Round-robin over the primitives, so that a slow spell of the machine touches them all.
    let mut times = vec![Vec::with_capacity(samples); work.len()];
    for _ in 0..samples {
        for ((f, &r), ts) in work.iter_mut().zip(&reps).zip(&mut times) {
            let t = Instant::now();
            (0..r).for_each(|_| f());
            ts.push(ms_since(t) / r as f64);
        }
    }
    let mut out = [0.0; PRIMITIVES];
    for (o, ts) in out.iter_mut().zip(times) {
        *o = median(ts);
    }
    // The draw ran once per prime.
    out[Primitive::MaskDraw as usize] /= chain.len() as f64;
    out
}

fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => xs[n / 2],
        _ => 0.5 * (xs[n / 2 - 1] + xs[n / 2]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ckks::scheme::params::ParametersLiteral;

    #[test]
    fn counts_follow_the_operations_and_fractions_are_finite() {
        let mut lit = ParametersLiteral::preset("test-small").unwrap();
        lit.insecure = true;
        let params = lit.build().unwrap();
        let cfg = RooflineConfig {
            samples: 1,
            levels: vec![2, params.top_level()],
            bootstrap_samples: 0,
            seed: 5,
        };
        let roof = measure(&params, &cfg, &|_| {}).unwrap();
        let get = |op: &str, level: usize| {
            roof.rows
                .iter()
                .find(|r| r.op == op && r.level == level)
                .unwrap_or_else(|| panic!("{op} at {level}"))
        };
        let top = params.top_level();
        // A rotation at level l: one inverse NTT of the digit source, key switching over
        // Q_l * P, a permutation of both halves.
        let (low, high) = (get("rotate", 2), get("rotate", top));
        for p in Primitive::ALL {
            assert!(low.counts.get(p) <= high.counts.get(p), "{}", p.name());
        }
        assert!(high.counts.get(Primitive::NttForward) > 0);
        assert!(high.counts.get(Primitive::Permute) >= 2 * (top as u64 + 1));
        // 31 hoisted rotations share one decomposition: fewer NTTs than 31 rotations.
        let hoisted = get("hoisted_rotate_31", top);
        assert!(
            hoisted.counts.get(Primitive::NttInverse) < 31 * high.counts.get(Primitive::NttInverse)
        );
        for r in &roof.rows {
            assert!(r.measured_ms > 0.0 && r.achievable_ms > 0.0, "{r:?}");
            assert!(r.fraction.is_finite(), "{r:?}");
        }
    }
}
