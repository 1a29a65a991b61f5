//! Tests of the engine against the simulator and the plaintext references.

use std::sync::Arc;

use super::ciphertext::Ciphertext;
use super::context::Context;
use super::encryption::{Decryptor, Encryptor};
use super::engine::Engine;
use super::error::CkksError;
use super::keys::{KeyGenerator, SecretKey};
use super::params::ParametersLiteral;
use crate::ckks::circuit_ops::{precision_report, profile_ops};
use crate::ckks::conformance;
use crate::ckks::evaluator::Evaluator;

struct Setup {
    ctx: Arc<Context>,
    sk: SecretKey,
    engine: Engine,
    enc: Encryptor,
    dec: Decryptor,
}

fn setup(preset: &str, steps: &[isize], seed: u64) -> Setup {
    let params = ParametersLiteral::preset(preset).unwrap().build().unwrap();
    let ctx = Context::new(&params).unwrap();
    let mut kg = KeyGenerator::new(&ctx, Some(seed));
    let sk = kg.secret_key();
    let pk = kg.public_key(&sk);
    let keys = kg.evaluation_keys(&sk, steps, true);
    Setup {
        engine: Engine::new(&ctx, keys).unwrap(),
        enc: Encryptor::public(&ctx, &pk, Some(seed + 1)).unwrap(),
        dec: Decryptor::new(&ctx, &sk).unwrap(),
        ctx,
        sk,
    }
}

#[test]
fn galois_permutations_match_coefficient_automorphisms_on_every_prime() {
    let params = ParametersLiteral::preset("test-small")
        .unwrap()
        .build()
        .unwrap();
    let ctx = Context::new(&params).unwrap();
    let ring = ctx.ring();
    let limbs = ring.moduli().len();
    let coeffs: Vec<i64> = (0..ctx.n() as i64)
        .map(|i| (i * 7919) % 1001 - 500)
        .collect();
    let a = ring.from_signed(&coeffs, limbs);
    for g in [5, ctx.galois_element(3), ctx.conjugation_element()] {
        let mut want = ring.automorphism(&a, g);
        ring.to_ntt(&mut want);
        let mut an = a.clone();
        ring.to_ntt(&mut an);
        assert_eq!(ctx.automorphism_ntt(&an, g), want, "g = {g}");
    }
}

#[test]
fn the_engine_conforms_to_the_simulator() {
    let s = setup("test-small", &[1, -1, 3], 7);
    let checks = conformance::check(
        &s.engine,
        |v, l, sc| s.enc.encrypt_values(v, l, sc),
        |ct| s.dec.decrypt_values(ct),
        20.0,
    )
    .unwrap();
    let worst = checks.iter().map(|c| c.bits).fold(f64::INFINITY, f64::min);
    assert!(checks.len() > 20 && worst >= 20.0, "{worst}");
}

#[test]
fn circuits_keep_their_precision_at_every_level() {
    let params = ParametersLiteral::preset("test-small")
        .unwrap()
        .build()
        .unwrap();
    let slots = params.slots();
    let mut steps = Vec::new();
    for op in profile_ops() {
        steps.extend(op.rotation_steps(slots).unwrap());
    }
    let s = setup("test-small", &steps, 11);
    let top = s.engine.top_level();
    let levels: Vec<usize> = (1..=top).collect();
    let report = precision_report(
        &s.engine,
        &levels,
        |v, l, sc| s.enc.encrypt_values(v, l, sc),
        |ct| s.dec.decrypt_values(ct),
    )
    .unwrap();
    assert!(report.iter().any(|p| p.op == "poly_deg17"));
    for p in &report {
        assert!(
            p.bits >= 14.0,
            "{} at level {}: {:.1} bits",
            p.op,
            p.level,
            p.bits
        );
    }
}

#[test]
fn secret_key_encryption_conjugation_and_determinism() {
    let s = setup("test-small", &[1], 3);
    let values: Vec<f64> = (0..100).map(|i| (i as f64 / 17.0).cos()).collect();
    let senc = Encryptor::secret(&s.ctx, &s.sk, Some(5)).unwrap();
    let ct = senc
        .encrypt_values(&values, 3, s.engine.default_scale())
        .unwrap();
    let back = s.dec.decrypt_values(&ct).unwrap();
    assert!(values.iter().zip(&back).all(|(a, b)| (a - b).abs() < 1e-8));
    let conj = s.engine.conjugate(&ct).unwrap();
    let back = s.dec.decrypt_values(&conj).unwrap();
    assert!(values.iter().zip(&back).all(|(a, b)| (a - b).abs() < 1e-6));
    // Same seeds, same keys and ciphertexts.
    let t = setup("test-small", &[1], 3);
    let a = s.enc.encrypt_values(&values, 2, 2f64.powi(30)).unwrap();
    let b = t.enc.encrypt_values(&values, 2, 2f64.powi(30)).unwrap();
    assert_eq!(a.c0, b.c0);
    assert_eq!(a.c1, b.c1);
}

#[test]
fn seeded_and_expanded_keys_switch_alike() {
    let params = ParametersLiteral::preset("test-small")
        .unwrap()
        .build()
        .unwrap();
    let ctx = Context::new(&params).unwrap();
    let mut kg = KeyGenerator::new(&ctx, Some(11));
    let sk = kg.secret_key();
    let pk = kg.public_key(&sk);
    let seeded = kg.evaluation_keys(&sk, &[1, 3], true);
    let mut expanded = seeded.clone();
    expanded.expand_rotations(&ctx, &[1, 3]);
    // Two rotation keys expanded (the relinearisation key always is): b and a of each.
    let key_bytes = params.dnum() * (ctx.q_count() + ctx.p_count()) * ctx.n() * 8;
    assert_eq!(expanded.bytes() - seeded.bytes(), 2 * key_bytes);
    let (a, b) = (
        Engine::new(&ctx, seeded).unwrap(),
        Engine::new(&ctx, expanded).unwrap(),
    );
    let enc = Encryptor::public(&ctx, &pk, Some(12)).unwrap();
    let values: Vec<f64> = (0..64).map(|i| (i as f64 * 0.3).sin()).collect();
    let ct = enc
        .encrypt_values(&values, params.top_level(), params.default_scale())
        .unwrap();
    for step in [1, 3] {
        let (x, y) = (a.rotate(&ct, step).unwrap(), b.rotate(&ct, step).unwrap());
        assert_eq!((&x.c0, &x.c1), (&y.c0, &y.c1), "step {step}");
    }
    let (x, y) = (
        a.mul_relin(&ct, &ct).unwrap(),
        b.mul_relin(&ct, &ct).unwrap(),
    );
    assert_eq!((&x.c0, &x.c1), (&y.c0, &y.c1));
    let dec = Decryptor::new(&ctx, &sk).unwrap();
    let back = dec.decrypt_values(&a.rotate(&ct, 1).unwrap()).unwrap();
    assert!(
        (back[0] - values[1]).abs() < 1e-4,
        "{} vs {}",
        back[0],
        values[1]
    );
}

#[test]
fn operands_of_another_context_are_refused() {
    let s = setup("test-small", &[1], 3);
    let other = setup("test-medium", &[1], 3);
    let ct: Ciphertext = other
        .enc
        .encrypt_values(&[1.0], 2, other.engine.default_scale())
        .unwrap();
    for r in [
        s.engine.add(&ct, &ct),
        s.engine.rotate(&ct, 1),
        s.engine.rescale(&ct),
    ] {
        assert!(matches!(r, Err(CkksError::ContextMismatch { .. })), "{r:?}");
    }
    assert!(matches!(
        s.dec.decrypt_values(&ct),
        Err(CkksError::ContextMismatch { .. })
    ));
    let msg = s.engine.add(&ct, &ct).unwrap_err().to_string();
    assert!(msg.contains("another CKKS context") && !msg.contains('\n'));
}

#[test]
fn missing_keys_and_levels_are_clear_errors() {
    let params = ParametersLiteral::preset("test-small")
        .unwrap()
        .build()
        .unwrap();
    let ctx = Context::new(&params).unwrap();
    let mut kg = KeyGenerator::new(&ctx, Some(1));
    let sk = kg.secret_key();
    let engine = Engine::new(&ctx, Default::default()).unwrap();
    let enc = Encryptor::secret(&ctx, &sk, Some(2)).unwrap();
    let ct = enc
        .encrypt_values(&[0.5], 1, engine.default_scale())
        .unwrap();
    assert!(matches!(
        engine.mul_relin(&ct, &ct),
        Err(CkksError::MissingRelinKey)
    ));
    assert!(matches!(
        engine.conjugate(&ct),
        Err(CkksError::MissingConjugationKey)
    ));
    assert!(engine.rotate(&ct, 0).is_ok());
    assert!(matches!(
        enc.encrypt_values(&[0.5], 99, 1e9),
        Err(CkksError::LevelTooHigh { .. })
    ));
}

#[test]
fn many_digits_and_sparse_secrets_work() {
    // dnum = 6 on test-small (one limb per digit) and a sparse ternary secret.
    let mut lit = ParametersLiteral::preset("test-small").unwrap();
    lit.dnum = 6;
    lit.secret = super::params::SecretDist::SparseTernary { h: 64 };
    let params = lit.build().unwrap();
    let ctx = Context::new(&params).unwrap();
    let mut kg = KeyGenerator::new(&ctx, Some(4));
    let sk = kg.secret_key();
    let pk = kg.public_key(&sk);
    let engine = Engine::new(&ctx, kg.evaluation_keys(&sk, &[5], false)).unwrap();
    let enc = Encryptor::public(&ctx, &pk, Some(5)).unwrap();
    let dec = Decryptor::new(&ctx, &sk).unwrap();
    let v: Vec<f64> = (0..64).map(|i| i as f64 / 64.0 - 0.5).collect();
    let ct = enc.encrypt_values(&v, 5, engine.default_scale()).unwrap();
    let sq = engine
        .rescale(&engine.mul_relin(&ct, &ct).unwrap())
        .unwrap();
    let r = engine.rotate(&sq, 5).unwrap();
    let got = dec.decrypt_values(&r).unwrap();
    for i in 0..59 {
        assert!((got[i] - v[i + 5] * v[i + 5]).abs() < 1e-5, "slot {i}");
    }
}

mod properties {
    use std::sync::OnceLock;

    use proptest::prelude::*;

    use super::*;

    fn shared() -> &'static Setup {
        static SETUP: OnceLock<Setup> = OnceLock::new();
        SETUP.get_or_init(|| setup("test-small", &(1..8).collect::<Vec<_>>(), 21))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(12))]

        /// decrypt(op(encrypt(x))) equals op(x) for random slot vectors, rotation steps and
        /// levels: add, product with relinearisation and rescale, rotation.
        #[test]
        fn encrypted_ops_match_plaintext(
            xs in proptest::collection::vec(-1.0f64..1.0, 1..200),
            ys in proptest::collection::vec(-1.0f64..1.0, 1..200),
            step in 1isize..8,
            level in 1usize..=5,
        ) {
            let s = shared();
            let sc = s.engine.default_scale();
            let a = s.enc.encrypt_values(&xs, level, sc).unwrap();
            let b = s.enc.encrypt_values(&ys, level, sc).unwrap();
            let get = |v: &[f64], i: usize| v.get(i).copied().unwrap_or(0.0);
            let sum = s.dec.decrypt_values(&s.engine.add(&a, &b).unwrap()).unwrap();
            let prod = s.engine.rescale(&s.engine.mul_relin(&a, &b).unwrap()).unwrap();
            let prod = s.dec.decrypt_values(&prod).unwrap();
            let rot = s.dec.decrypt_values(&s.engine.rotate(&a, step).unwrap()).unwrap();
            let slots = s.engine.slots();
            for i in 0..slots {
                prop_assert!((sum[i] - (get(&xs, i) + get(&ys, i))).abs() < 1e-6);
                prop_assert!((prod[i] - get(&xs, i) * get(&ys, i)).abs() < 1e-5);
                let j = (i + step as usize) % slots;
                prop_assert!((rot[i] - get(&xs, j)).abs() < 1e-6);
            }
        }
    }
}

#[test]
fn compact_encodings_expand_to_the_same_plaintexts() {
    let s = setup("test-small", &[], 21);
    let params = s.ctx.params();
    let values: Vec<f64> = (0..params.slots())
        .map(|i| (i as f64 * 0.37).sin() * 3.0)
        .collect();
    let mut wide = 0;
    for level in [0, 1, params.top_level()] {
        // A scale whose coefficients stay below 2^63, and one beyond (the i128 path).
        for scale in [params.default_scale(), 2f64.powi(70)] {
            if s.engine.encode(&values, level, scale).is_err() {
                continue;
            }
            let full = s.engine.encode(&values, level, scale).unwrap();
            let compact = s.engine.encode_compact(&values, level, scale).unwrap();
            wide += matches!(compact.coeffs, super::encoder::Coefficients::Wide(_)) as usize;
            let back = s.engine.expand(&compact).unwrap();
            assert_eq!(back.poly, full.poly, "level {level}, scale {scale:e}");
            assert_eq!((back.level, back.scale), (full.level, full.scale));
        }
    }
    // 2^70 outgrows q_0 alone: the i128 path runs at levels 1 and top.
    assert_eq!(wide, 2, "encodings that took the i128 path");
}

#[test]
fn the_fused_inner_products_equal_products_and_sums() {
    let s = setup("test-small", &[], 23);
    let params = s.ctx.params();
    let level = params.top_level() - 1;
    let scale = params.default_scale();
    let slots = params.slots();
    // 11 terms: one full group of 8 and a partial one.
    let (cts, pts): (Vec<_>, Vec<_>) = (0..11)
        .map(|k| {
            let x: Vec<f64> = (0..slots)
                .map(|i| ((i * (k + 2)) as f64 * 0.11).cos())
                .collect();
            let w: Vec<f64> = (0..slots)
                .map(|i| ((i + k) as f64 * 0.07).sin() * 2.0)
                .collect();
            let ct = s.enc.encrypt_values(&x, level, scale).unwrap();
            let pt = s.engine.encode_compact(&w, level, scale).unwrap();
            (ct, pt)
        })
        .unzip();
    let terms: Vec<_> = cts.iter().zip(&pts).collect();
    let fused = s.engine.dot_compact(&terms).unwrap();
    let mut sum = s
        .engine
        .mul_plain(&cts[0], &s.engine.expand(&pts[0]).unwrap())
        .unwrap();
    for (ct, pt) in cts.iter().zip(&pts).skip(1) {
        let t = s
            .engine
            .mul_plain(ct, &s.engine.expand(pt).unwrap())
            .unwrap();
        sum = s.engine.add(&sum, &t).unwrap();
    }
    assert_eq!((&fused.c0, &fused.c1), (&sum.c0, &sum.c1));
    assert_eq!((fused.level, fused.scale), (sum.level, sum.scale));
    // Terms at two levels are refused.
    let low = s.engine.drop_level(&cts[1], 1).unwrap();
    assert!(
        s.engine
            .dot_compact(&[(&cts[0], &pts[0]), (&low, &pts[1])])
            .is_err()
    );
    assert!(s.engine.dot_compact(&[]).is_err());
    // The same sum over expanded plaintexts, fused by `dot_plain`.
    let expanded: Vec<_> = pts.iter().map(|p| s.engine.expand(p).unwrap()).collect();
    let terms: Vec<_> = cts.iter().zip(&expanded).collect();
    let fused = s.engine.dot_plain(&terms).unwrap();
    assert_eq!((&fused.c0, &fused.c1), (&sum.c0, &sum.c1));
    assert_eq!((fused.level, fused.scale), (sum.level, sum.scale));
    assert!(
        s.engine
            .dot_plain(&[(&cts[0], &expanded[0]), (&low, &expanded[1])])
            .is_err()
    );
    assert!(s.engine.dot_plain(&[]).is_err());
}
