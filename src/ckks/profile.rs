//! Timing profile of the project engine: every primitive the cost model prices, at every
//! level where it fits, timed round-robin (so that load from other processes spreads evenly
//! over operations and levels) as the median of `samples` runs after one warm-up round. The
//! round follows `scripts/bench-openfhe.py`'s order (levels from the top down, per level the
//! same operations in the same sequence), so each operation finds the caches as the one
//! before it left them in both engines: a one-limb `add` after a polynomial is memory-bound
//! and measured 0.2 ms alone but 0.5 ms after another level's heaviest task.
//!
//! The operations and their inputs are those of the OpenFHE measurement
//! (`scripts/bench-openfhe.py`): squaring for `mul_relin_rescale`, rotation by one slot,
//! 31 hoisted rotations by 1..=31, the RNN's 32x32 BSGS matvec and the tanh polynomials of
//! [`crate::ckks::circuit_ops`]. The same circuits also report their precision in bits.

use std::time::Instant;

use crate::ckks::circuit_ops::{precision_bits, profile_ops};
use crate::ckks::evaluator::Evaluator;
use crate::ckks::math::tally::{PRIMITIVES, Primitive, Tally};
use crate::ckks::roofline;
use crate::ckks::scheme::context::Context;
use crate::ckks::scheme::encryption::{Decryptor, Encryptor};
use crate::ckks::scheme::engine::Engine;
use crate::ckks::scheme::error::CkksError;
use crate::ckks::scheme::keys::KeyGenerator;
use crate::ckks::scheme::params::Parameters;

/// One timed operation.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Timing {
    /// Profile operation name (see the profile format in profiles/README.md).
    pub op: String,
    /// Level the operation starts at.
    pub level: usize,
    /// Median milliseconds.
    pub median_ms: f64,
    /// Timed repetitions.
    pub samples: usize,
    /// Levels the operation consumed (circuits only).
    pub levels_consumed: Option<usize>,
    /// Precision of the result in bits against the plaintext result (where checked).
    pub bits: Option<f64>,
    /// Limb primitives one run performed (the engine's own counts; for the operations a
    /// circuit runs, not for key generation and the client's work).
    pub counts: Option<Tally>,
}

/// Everything a profile run measured.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Measurements {
    /// The timings, in a fixed order.
    pub timings: Vec<Timing>,
    /// Peak resident memory of the process (VmHWM), MB, if the OS reports it.
    pub peak_rss_mb: Option<f64>,
    /// Peak resident memory right after the bootstrap measurement (which runs first), MB.
    pub bootstrap_peak_rss_mb: Option<f64>,
    /// Milliseconds per limb of each primitive on one thread, measured first
    /// ([`roofline::primitive_times`] on [`roofline::calibration_limbs`]), in
    /// [`Primitive::ALL`] order: what a calibration compares another machine with.
    pub primitive_ms: [f64; PRIMITIVES],
    /// The limbs (chain indices) the primitives were timed on.
    pub primitive_limbs: Vec<usize>,
}

/// What to measure.
#[derive(Clone, Debug)]
pub struct ProfileConfig {
    /// Timed repetitions per operation (after one warm-up).
    pub samples: usize,
    /// Levels to measure (each operation at those of them where it fits).
    pub levels: Vec<usize>,
    /// Seed of keys and encryptions.
    pub seed: u64,
    /// Timed bootstraps (0: no bootstrap measurement). Needs parameters with bootstrap
    /// levels.
    pub bootstrap_samples: usize,
}

/// Rounds per primitive in each snapshot of the primitives' times.
const PRIMITIVE_SAMPLES: usize = 15;

type Task<'a> = (
    String,
    usize,
    Option<usize>,
    Box<dyn Fn() -> Result<(), CkksError> + 'a>,
);

/// Measures the engine at `params`; `progress` receives one line per finished stage.
pub fn measure(
    params: &Parameters,
    cfg: &ProfileConfig,
    progress: &dyn Fn(&str),
) -> Result<Measurements, CkksError> {
    let ctx = Context::new(params)?;
    // The primitives are timed at the start, after the bootstrap and after every level, and
    // each one's median over those snapshots is recorded: one snapshot is a second of a run
    // of minutes, and the machine's speed drifts by several per cent within one.
    let primitive_limbs = roofline::calibration_limbs(&ctx);
    let mut snapshots = Vec::new();
    let mut snapshot = || {
        snapshots.push(roofline::primitive_times(
            &ctx,
            PRIMITIVE_SAMPLES,
            &primitive_limbs,
        ))
    };
    snapshot();
    let slots = params.slots();
    let mut steps: Vec<isize> = (1..=31).collect();
    for op in profile_ops() {
        steps.extend(op.rotation_steps(slots)?);
    }
    let mut timings = Vec::new();
    let mut record = |op: &str, level, ms, samples, consumed, bits, counts| {
        progress(&format!("{op:>18} level {level}: {ms:10.3} ms"));
        timings.push(Timing {
            op: op.to_string(),
            level,
            median_ms: ms,
            samples,
            levels_consumed: consumed,
            bits,
            counts,
        });
    };
    let top = params.top_level();
    let s = cfg.samples;

    // Key generation: secret + public key (as OpenFHE's KeyGen), then the evaluation keys.
    let keygen = median_ms(s, || {
        let mut kg = KeyGenerator::new(&ctx, Some(cfg.seed));
        let sk = kg.secret_key();
        kg.public_key(&sk);
        Ok(())
    })?;
    record("keygen", top, keygen, s, None, None, None);
    let mut kg = KeyGenerator::new(&ctx, Some(cfg.seed));
    let sk = kg.secret_key();
    let pk = kg.public_key(&sk);
    // Bootstrapping first, so that its keys are freed before the leveled keys exist.
    let mut bootstrap_peak_rss_mb = None;
    if cfg.bootstrap_samples > 0 {
        for t in measure_bootstrap(&ctx, &mut kg, &sk, &pk, cfg, progress)? {
            record(
                &t.op,
                t.level,
                t.median_ms,
                t.samples,
                t.levels_consumed,
                t.bits,
                t.counts,
            );
        }
        bootstrap_peak_rss_mb = crate::sysinfo::peak_rss_mb();
        snapshot();
    }
    let t = Instant::now();
    let relin = kg.relin_key(&sk);
    record("keygen_relin", top, ms_since(t), 1, None, None, None);
    let t = Instant::now();
    let mut keys = kg.evaluation_keys(&sk, &steps, true);
    let per_key = ms_since(t) / (keys.galois_elements().count() + 1) as f64;
    record("keygen_rotation", top, per_key, 1, None, None, None);
    // Leveled operations use expanded keys, as the inference server's circuit does.
    keys.expand_rotations(&ctx, &steps);
    drop(relin);
    let engine = Engine::new(&ctx, keys)?;
    let enc = Encryptor::public(&ctx, &pk, Some(cfg.seed + 1))?;
    let dec = Decryptor::new(&ctx, &sk)?;
    let values: Vec<f64> = (0..slots)
        .map(|i| ((i as f64 * 0.618_033_988_7).fract() - 0.5) * 0.99)
        .collect();
    let scale = engine.default_scale();

    // Client operations at the top level.
    record(
        "encode",
        top,
        median_ms(s, || engine.encode(&values, top, scale).map(drop))?,
        s,
        None,
        None,
        None,
    );
    let ct_top = enc.encrypt_values(&values, top, scale)?;
    // Encryption of an encoded plaintext (encoding is timed above), as OpenFHE's Encrypt.
    let pt_top = engine.encode(&values, top, scale)?;
    record(
        "encrypt",
        top,
        median_ms(s, || enc.encrypt(&pt_top).map(drop))?,
        s,
        None,
        None,
        None,
    );
    let back = dec.decrypt_values(&ct_top)?;
    record(
        "decrypt",
        top,
        median_ms(s, || dec.decrypt_values(&ct_top).map(drop))?,
        s,
        None,
        Some(precision_bits(&back, &values)),
        None,
    );
    progress("client operations done; preparing the level-by-level tasks");

    // Server operations level by level from the top down, round-robin within a level: the
    // operations in the order of scripts/bench-openfhe.py, so that every task follows the same
    // task (and finds the caches in the same state) in both engines. One level's encoded
    // weights at a time: all levels' at once (the 64-unit projections among them) outgrow the
    // memory of a 24 GB machine at N = 2^16.
    let mut levels = cfg.levels.clone();
    levels.sort_unstable_by(|a, b| b.cmp(a));
    levels.dedup();
    let hoist: Vec<isize> = (1..=31).collect();
    let engine = &engine;
    for &level in &levels {
        let pt = (level >= 1)
            .then(|| engine.encode(&values, level, scale))
            .transpose()?;
        let c = enc.encrypt_values(&values, level, scale)?;
        let mut prepared = Vec::new();
        for op in profile_ops() {
            if level >= op.depth() {
                let p = op.prepare(engine, level)?;
                let ct = enc.encrypt_values(p.input(), level, scale)?;
                prepared.push((op, p, ct));
            }
        }
        let c = &c;
        let mut tasks: Vec<Task> = Vec::new();
        let mut checked = Vec::new();
        tasks.push((
            "add".into(),
            level,
            None,
            Box::new(move || engine.add(c, c).map(drop)),
        ));
        tasks.push((
            "add_const".into(),
            level,
            None,
            Box::new(move || engine.add_const(c, 0.5).map(drop)),
        ));
        tasks.push((
            "negate".into(),
            level,
            None,
            Box::new(move || engine.mul_const(c, -1.0, 1.0).map(drop)),
        ));
        // A packed pair's packing before its bootstrap and unpacking after it
        // (`ckks::cell::pairing`).
        tasks.push((
            "pair_pack".into(),
            level,
            None,
            Box::new(move || engine.add(c, &engine.mul_by_i(c)?).map(drop)),
        ));
        tasks.push((
            "pair_unpack".into(),
            level,
            None,
            Box::new(move || {
                let conj = engine.conjugate(c)?;
                engine.add(c, &conj)?;
                engine.mul_by_i(&engine.sub(&conj, c)?).map(drop)
            }),
        ));
        if let Some(p) = &pt {
            tasks.push((
                "mul_relin_rescale".into(),
                level,
                None,
                Box::new(move || engine.rescale(&engine.mul_relin(c, c)?).map(drop)),
            ));
            tasks.push((
                "mul_plain_rescale".into(),
                level,
                None,
                Box::new(move || engine.rescale(&engine.mul_plain(c, p)?).map(drop)),
            ));
            tasks.push((
                "rotate".into(),
                level,
                None,
                Box::new(move || engine.rotate(c, 1).map(drop)),
            ));
            let hoist = &hoist;
            tasks.push((
                "hoisted_rotate_31".into(),
                level,
                None,
                Box::new(move || engine.rotate_hoisted(c, hoist).map(drop)),
            ));
        }
        for (op, p, ct) in &prepared {
            let out = p.run(engine, ct)?;
            let consumed = level - engine.level(&out);
            let bits = precision_bits(&dec.decrypt_values(&out)?, &p.expected());
            checked.push((op.name(), consumed, bits));
            tasks.push((
                op.name(),
                level,
                Some(consumed),
                Box::new(move || p.run(engine, ct).map(drop)),
            ));
        }
        let mut times = vec![Vec::with_capacity(s); tasks.len()];
        let mut counts = vec![Tally::default(); tasks.len()];
        for round in 0..=s {
            for (i, (_, _, _, f)) in tasks.iter().enumerate() {
                let (t, c) = (Instant::now(), Tally::now());
                f()?;
                if round > 0 {
                    times[i].push(ms_since(t));
                } else {
                    counts[i] = Tally::now().since(c);
                }
            }
        }
        progress(&format!("level {level}: {s} rounds done"));
        snapshot();
        for (((op, level, consumed, _), ts), c) in tasks.iter().zip(times).zip(counts) {
            let bits = checked.iter().find(|(o, _, _)| o == op).map(|c| c.2);
            record(op, *level, median(ts), s, *consumed, bits, Some(c));
        }
    }
    let primitive_ms: [f64; PRIMITIVES] =
        std::array::from_fn(|p| median(snapshots.iter().map(|t| t[p]).collect()));
    for p in Primitive::ALL {
        progress(&format!(
            "{:>18}: {:.4} ms per limb (median of {} snapshots)",
            p.name(),
            primitive_ms[p as usize],
            snapshots.len()
        ));
    }
    Ok(Measurements {
        timings,
        peak_rss_mb: crate::sysinfo::peak_rss_mb(),
        bootstrap_peak_rss_mb,
        primitive_ms,
        primitive_limbs,
    })
}

/// Bootstrap key generation (rotation, conjugation and encapsulation keys), the bootstrapper's
/// precomputation, and the median bootstrap of a level-0 ciphertext of uniform values in
/// [-1, 1] (precision in bits against them; levels consumed = the bootstrap's budget).
fn measure_bootstrap(
    ctx: &std::sync::Arc<Context>,
    kg: &mut KeyGenerator,
    sk: &crate::ckks::scheme::keys::SecretKey,
    pk: &crate::ckks::scheme::keys::PublicKey,
    cfg: &ProfileConfig,
    progress: &dyn Fn(&str),
) -> Result<Vec<Timing>, CkksError> {
    use crate::ckks::bootstrap::{
        BootstrapConfig, Bootstrapper, encapsulation_keys, rotation_steps,
    };
    use rand::{RngExt, SeedableRng};
    let params = ctx.params();
    let config = BootstrapConfig::for_params(params)?;
    let timing = |op: &str, level, median_ms, samples, levels_consumed, bits, counts| Timing {
        op: op.to_string(),
        level,
        median_ms,
        samples,
        levels_consumed,
        bits,
        counts,
    };
    let t = Instant::now();
    let steps = rotation_steps(params, &config)?;
    let keys = kg.evaluation_keys(sk, &steps, true);
    let enc_keys = encapsulation_keys(kg, ctx, sk);
    let keygen = ms_since(t);
    progress(&format!(
        "bootstrap keys ({} rotations): {keygen:.0} ms",
        steps.len()
    ));
    let t = Instant::now();
    let boot = Bootstrapper::new(ctx, config, enc_keys)?;
    let setup = ms_since(t);
    let engine = Engine::new(ctx, keys)?;
    let enc = Encryptor::public(ctx, pk, Some(cfg.seed + 2))?;
    let dec = Decryptor::new(ctx, sk)?;
    let mut rng = rand::rngs::ChaCha20Rng::seed_from_u64(cfg.seed + 3);
    let values: Vec<f64> = (0..params.slots())
        .map(|_| rng.random_range(-1.0..=1.0))
        .collect();
    let ct = enc.encrypt_values(&values, 0, params.default_scale())?;
    let c0 = Tally::now();
    let (out, _) = boot.bootstrap(&engine, &ct)?;
    let counts = Tally::now().since(c0);
    let bits = precision_bits(&dec.decrypt_values(&out)?, &values);
    let mut times = Vec::with_capacity(cfg.bootstrap_samples);
    for i in 0..cfg.bootstrap_samples {
        let t = Instant::now();
        boot.bootstrap(&engine, &ct)?;
        times.push(ms_since(t));
        progress(&format!(
            "bootstrap {} of {}: {:.0} ms",
            i + 1,
            cfg.bootstrap_samples,
            times[i]
        ));
    }
    let top = params.max_level();
    Ok(vec![
        timing("keygen_bootstrap", top, keygen, 1, None, None, None),
        timing("bootstrap_setup", top, setup, 1, None, None, None),
        timing(
            "bootstrap",
            0,
            median(times),
            cfg.bootstrap_samples,
            Some(config.depth()),
            Some(bits),
            Some(counts),
        ),
    ])
}

fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        0.5 * (xs[n / 2 - 1] + xs[n / 2])
    }
}

/// Median of `samples` timed runs of `f` after one warm-up run.
fn median_ms(samples: usize, f: impl Fn() -> Result<(), CkksError>) -> Result<f64, CkksError> {
    f()?;
    let mut ts = Vec::with_capacity(samples);
    for _ in 0..samples {
        let t = Instant::now();
        f()?;
        ts.push(ms_since(t));
    }
    Ok(median(ts))
}
