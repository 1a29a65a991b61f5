//! Bootstrapping end to end at a small insecure ring degree.

use std::sync::Arc;

use rand::rngs::ChaCha20Rng;
use rand::{RngExt, SeedableRng};

use super::*;
use crate::ckks::scheme::encryption::{Decryptor, Encryptor};
use crate::ckks::scheme::keys::KeyGenerator;
use crate::ckks::scheme::params::ParametersLiteral;

pub(crate) struct BootSetup {
    pub ctx: Arc<Context>,
    pub engine: Engine,
    pub boot: Bootstrapper,
    pub enc: Encryptor,
    pub dec: Decryptor,
}

pub(crate) fn boot_setup(seed: u64) -> BootSetup {
    let params = ParametersLiteral::preset("test-boot")
        .unwrap()
        .build()
        .unwrap();
    let ctx = Context::new(&params).unwrap();
    let config = BootstrapConfig::for_params(&params).unwrap();
    let mut kg = KeyGenerator::new(&ctx, Some(seed));
    let sk = kg.secret_key();
    let pk = kg.public_key(&sk);
    let steps = rotation_steps(&params, &config).unwrap();
    let keys = kg.evaluation_keys(&sk, &steps, true);
    let enc_keys = encapsulation_keys(&mut kg, &ctx, &sk);
    BootSetup {
        engine: Engine::new(&ctx, keys).unwrap(),
        boot: Bootstrapper::new(&ctx, config, enc_keys).unwrap(),
        enc: Encryptor::public(&ctx, &pk, Some(seed + 1)).unwrap(),
        dec: Decryptor::new(&ctx, &sk).unwrap(),
        ctx,
    }
}

fn max_error(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).fold(0.0, |m, (x, y)| m.max((x - y).abs()))
}

#[test]
fn bootstrap_restores_the_levels_with_16_bits_on_uniform_inputs() {
    let s = boot_setup(7);
    let slots = s.ctx.params().slots();
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let values: Vec<f64> = (0..slots).map(|_| rng.random_range(-1.0..1.0)).collect();
    let scale = s.ctx.params().default_scale();
    let ct = s.enc.encrypt_values(&values, 0, scale).unwrap();
    let (out, report) = s.boot.bootstrap(&s.engine, &ct).unwrap();
    assert_eq!(out.level(), s.ctx.params().top_level());
    assert_eq!(report.output_level, out.level());
    assert_eq!(out.scale(), scale);
    let got = s.dec.decrypt_values(&out).unwrap();
    let err = max_error(&got, &values);
    eprintln!("bootstrap max error 2^{:.2}", err.log2());
    assert!(err < 2f64.powi(-16), "max error 2^{:.2}", err.log2());
    // The output computes on: a product after the bootstrap is still right.
    let sq = s
        .engine
        .rescale(&s.engine.mul_relin(&out, &out).unwrap())
        .unwrap();
    let got = s.dec.decrypt_values(&sq).unwrap();
    let want: Vec<f64> = values.iter().map(|v| v * v).collect();
    assert!(max_error(&got, &want) < 2f64.powi(-15));
}

#[test]
fn a_packed_pair_comes_back_apart_at_its_own_scales_and_levels() {
    let s = boot_setup(5);
    let slots = s.ctx.params().slots();
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let a: Vec<f64> = (0..slots).map(|_| rng.random_range(-1.0..1.0)).collect();
    let b: Vec<f64> = (0..slots).map(|_| rng.random_range(-1.0..1.0)).collect();
    let scale = s.ctx.params().default_scale();
    // Different levels and scales, as two values of a step are.
    let ca = s.enc.encrypt_values(&a, 2, scale).unwrap();
    let cb = s.enc.encrypt_values(&b, 0, scale * 1.37).unwrap();
    let (ra, rb) = s.boot.bootstrap_pair(&s.engine, &ca, &cb).unwrap();
    let top = s.ctx.params().top_level();
    assert_eq!((ra.level(), rb.level()), (top, top));
    assert_eq!((ra.scale(), rb.scale()), (scale, scale * 1.37));
    let (ea, eb) = (
        max_error(&s.dec.decrypt_values(&ra).unwrap(), &a),
        max_error(&s.dec.decrypt_values(&rb).unwrap(), &b),
    );
    eprintln!(
        "pair bootstrap max errors 2^{:.2}, 2^{:.2}",
        ea.log2(),
        eb.log2()
    );
    assert!(ea.max(eb) < 2f64.powi(-15), "2^{:.2}", ea.max(eb).log2());
    // The single bootstrap's error on the same values, for comparison (same bound).
    let (single, _) = s.boot.bootstrap(&s.engine, &ca).unwrap();
    let es = max_error(&s.dec.decrypt_values(&single).unwrap(), &a);
    assert!(es < 2f64.powi(-16), "2^{:.2}", es.log2());
}

#[test]
fn multiplying_by_i_and_conjugating_act_on_complex_slots() {
    let s = boot_setup(11);
    let values: Vec<f64> = (0..64).map(|i| (i as f64 * 0.1).sin()).collect();
    let ct = s
        .enc
        .encrypt_values(&values, 1, s.ctx.params().default_scale())
        .unwrap();
    let x = s.engine.mul_by_i(&ct).unwrap();
    let y = s.engine.conjugate(&x).unwrap();
    let (gx, gy) = (
        s.dec.decrypt_complex(&x).unwrap(),
        s.dec.decrypt_complex(&y).unwrap(),
    );
    for (i, v) in values.iter().enumerate() {
        assert!(
            gx[i].re.abs() < 1e-6 && (gx[i].im - v).abs() < 1e-6,
            "{i}: {}",
            gx[i]
        );
        assert!(
            gy[i].re.abs() < 1e-6 && (gy[i].im + v).abs() < 1e-6,
            "{i}: {}",
            gy[i]
        );
    }
}

/// Full-size run (`cargo test --release -- --ignored fgb_like_bootstrap --nocapture`).
#[test]
#[ignore]
fn fgb_like_bootstrap() {
    let t0 = std::time::Instant::now();
    let params = ParametersLiteral::preset("fgb-like")
        .unwrap()
        .build()
        .unwrap();
    let ctx = Context::new(&params).unwrap();
    let config = BootstrapConfig::for_params(&params).unwrap();
    let steps = rotation_steps(&params, &config).unwrap();
    eprintln!("config {config:?}: {} rotation keys", steps.len());
    let mut kg = KeyGenerator::new(&ctx, Some(1));
    let sk = kg.secret_key();
    let pk = kg.public_key(&sk);
    let keys = kg.evaluation_keys(&sk, &steps, true);
    let enc_keys = encapsulation_keys(&mut kg, &ctx, &sk);
    eprintln!(
        "keys {:.1} s, rss {:?}",
        t0.elapsed().as_secs_f64(),
        crate::sysinfo::peak_rss_mb()
    );
    let mut expanded = keys.clone();
    let t1 = std::time::Instant::now();
    let engine = Engine::new(&ctx, keys).unwrap();
    let boot = Bootstrapper::new(&ctx, config, enc_keys).unwrap();
    eprintln!(
        "precompute {:.1} s, rss {:?}",
        t1.elapsed().as_secs_f64(),
        crate::sysinfo::peak_rss_mb()
    );
    let enc = Encryptor::public(&ctx, &pk, Some(2)).unwrap();
    let dec = Decryptor::new(&ctx, &sk).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let values: Vec<f64> = (0..params.slots())
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let ct = enc
        .encrypt_values(&values, 0, params.default_scale())
        .unwrap();
    for _ in 0..2 {
        let t2 = std::time::Instant::now();
        let (out, report) = boot.bootstrap(&engine, &ct).unwrap();
        let secs = t2.elapsed().as_secs_f64();
        let got = dec.decrypt_values(&out).unwrap();
        let err = max_error(&got, &values);
        eprintln!(
            "bootstrap {secs:.2} s (raise, CtS, EvalMod, StC: {:.2?}), level {}, max error 2^{:.2}, rss {:?}",
            report.phase_seconds,
            report.output_level,
            err.log2(),
            crate::sysinfo::peak_rss_mb()
        );
        assert_eq!(report.output_level, params.top_level());
        assert!(err < 2f64.powi(-16));
    }
    // Seeded keys (as above) against expanded ones, interleaved in this run.
    expanded.expand_rotations(&ctx, &steps);
    let conj = ctx.conjugation_element();
    if let Some(k) = expanded.galois.get_mut(&conj) {
        Arc::make_mut(k).expand(&ctx);
    }
    let full = Engine::new(&ctx, expanded).unwrap();
    let (mut seeded_s, mut expanded_s) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        for (eng, out) in [(&engine, &mut seeded_s), (&full, &mut expanded_s)] {
            let t = std::time::Instant::now();
            boot.bootstrap(eng, &ct).unwrap();
            out.push(t.elapsed().as_secs_f64());
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (a, b) = (median(&mut seeded_s), median(&mut expanded_s));
    eprintln!(
        "bootstrap median: seeded keys {a:.2} s, expanded keys {b:.2} s, ratio {:.3}",
        a / b
    );
}
