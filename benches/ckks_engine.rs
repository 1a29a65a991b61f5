//! The CKKS engine's primitives at full size (`fgb-like`, N = 2^16) at the top level 9:
//! the limb primitives `cellwise ckks roofline` sums (NTT, modular product, addition,
//! automorphism; the product and the multiply-accumulate on the portable and the vector path) and the operations `cellwise ckks profile` times, here under criterion's
//! statistics.
//!
//! `cargo bench --bench ckks_engine` (about 4.5 GB of keys; `CELLWISE_BENCH_PRESET=test-small`
//! runs the same at N = 2^12 in seconds).

use std::hint::black_box;

use cellwise::ckks::circuit_ops::profile_ops;
use cellwise::ckks::evaluator::Evaluator;
use cellwise::ckks::math::keystream;
use cellwise::ckks::math::lanes::{self, ProductSums};
use cellwise::ckks::scheme::context::Context;
use cellwise::ckks::scheme::encryption::{Decryptor, Encryptor};
use cellwise::ckks::scheme::engine::Engine;
use cellwise::ckks::scheme::keys::KeyGenerator;
use cellwise::ckks::scheme::params::ParametersLiteral;
use criterion::{Criterion, criterion_group, criterion_main};

/// As in the binary (see src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn bench(c: &mut Criterion) {
    cellwise::allocator::keep_freed_pages();
    let preset = std::env::var("CELLWISE_BENCH_PRESET").unwrap_or_else(|_| "fgb-like".into());
    let mut lit = ParametersLiteral::preset(&preset).expect("known preset");
    lit.insecure = true; // the test presets are insecure by design; fgb-like is secure anyway
    let params = lit.build().expect("parameters");
    let ctx = Context::new(&params).expect("context");
    let slots = params.slots();
    let mut steps: Vec<isize> = (1..=31).collect();
    for op in profile_ops() {
        steps.extend(op.rotation_steps(slots).expect("steps"));
    }
    let mut kg = KeyGenerator::new(&ctx, Some(1));
    let sk = kg.secret_key();
    let pk = kg.public_key(&sk);
    let engine = Engine::new(&ctx, kg.evaluation_keys(&sk, &steps, false)).expect("engine");
    let enc = Encryptor::public(&ctx, &pk, Some(2)).expect("encryptor");
    let dec = Decryptor::new(&ctx, &sk).expect("decryptor");
    let top = engine.top_level();
    let scale = engine.default_scale();
    let values: Vec<f64> = (0..slots).map(|i| (i as f64 * 0.001).sin() * 0.5).collect();
    let ct = enc.encrypt_values(&values, top, scale).expect("encrypt");
    let pt = engine.encode(&values, top, scale).expect("encode");
    let hoist: Vec<isize> = (1..=31).collect();

    let mut g = c.benchmark_group(format!("ring_{preset}"));
    let ring = ctx.ring();
    let mut limb = ring.zero(1, false);
    limb.limbs[0] = (0..params.n() as u64).collect();
    g.bench_function("ntt_forward_inverse_1_limb", |b| {
        b.iter(|| {
            ring.to_ntt(&mut limb);
            ring.to_coeff(&mut limb);
        })
    });
    // The roofline's other limb primitives (`cellwise ckks roofline`): the pointwise modular
    // product and sum of one limb in the NTT domain.
    let mut a = ring.zero(1, false);
    a.limbs[0] = (0..params.n() as u64).collect();
    a.ntt = true;
    let b1 = a.clone();
    g.bench_function("modmul_1_limb", |b| {
        b.iter(|| ring.mul_assign(black_box(&mut a), &b1))
    });
    g.bench_function("add_1_limb", |b| {
        b.iter(|| ring.add_assign(black_box(&mut a), &b1))
    });
    // The coefficient kernels on the portable path and on the CPU's vector path, side by
    // side (`ckks::math::lanes`): the modular product, and five exact multiply-accumulates
    // per coefficient then one reduction, over blocks of 256 (key switching's inner product).
    let m = ring.moduli()[0];
    let mut out = vec![0u64; params.n()];
    for portable in [true, false] {
        lanes::set_portable(portable);
        let path = lanes::path().name();
        g.bench_function(format!("modmul_1_limb_{path}"), |b| {
            b.iter(|| ring.mul_assign(black_box(&mut a), &b1))
        });
        g.bench_function(format!("mac5_reduce_1_limb_{path}"), |b| {
            let mut sums = ProductSums::new(&m, 256, true);
            b.iter(|| {
                for (start, o) in (0..params.n()).step_by(256).zip(out.chunks_mut(256)) {
                    sums.clear();
                    for _ in 0..5 {
                        sums.mac(
                            &a.limbs[0][start..start + 256],
                            &b1.limbs[0][start..start + 256],
                        );
                    }
                    sums.reduce_into(black_box(o));
                }
            })
        });
        // A seeded key mask's keystream over one limb (`ckks::math::keystream`), drawn on
        // every key switch.
        g.bench_function(format!("mask_keystream_1_limb_{path}"), |b| {
            b.iter(|| keystream::fill(&[7; 32], 3, black_box(&mut out)))
        });
    }
    lanes::set_portable(false);
    let mut wide = ring.zero(10, false);
    for l in wide.limbs.iter_mut() {
        *l = (0..params.n() as u64).collect();
    }
    wide.ntt = true;
    let g5 = ctx.galois_element(1);
    g.bench_function("automorphism_ntt_10_limbs", |b| {
        b.iter(|| black_box(ctx.automorphism_ntt(&wide, g5)))
    });
    g.finish();

    let mut g = c.benchmark_group(format!("ckks_{preset}_level{top}"));
    g.sample_size(10);
    g.bench_function("encode", |b| {
        b.iter(|| black_box(engine.encode(&values, top, scale).expect("encode")))
    });
    g.bench_function("encrypt", |b| {
        b.iter(|| black_box(enc.encrypt_values(&values, top, scale).expect("encrypt")))
    });
    g.bench_function("decrypt", |b| {
        b.iter(|| black_box(dec.decrypt_values(&ct).expect("decrypt")))
    });
    g.bench_function("add", |b| {
        b.iter(|| black_box(engine.add(&ct, &ct).expect("add")))
    });
    g.bench_function("mul_plain_rescale", |b| {
        b.iter(|| {
            let r = engine.mul_plain(&ct, &pt).expect("mul_plain");
            black_box(engine.rescale(&r).expect("rescale"))
        })
    });
    g.bench_function("mul_relin_rescale", |b| {
        b.iter(|| {
            let r = engine.mul_relin(&ct, &ct).expect("mul_relin");
            black_box(engine.rescale(&r).expect("rescale"))
        })
    });
    g.bench_function("rotate", |b| {
        b.iter(|| black_box(engine.rotate(&ct, 1).expect("rotate")))
    });
    g.bench_function("hoisted_rotate_31", |b| {
        b.iter(|| black_box(engine.rotate_hoisted(&ct, &hoist).expect("hoisted")))
    });
    for op in profile_ops() {
        let p = op.prepare(&engine, top).expect("prepare");
        let input = enc.encrypt_values(p.input(), top, scale).expect("encrypt");
        g.bench_function(op.name(), |b| {
            b.iter(|| black_box(p.run(&engine, &input).expect("run")))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
