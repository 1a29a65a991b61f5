//! CKKS circuits: the cost of *planning* an encrypted inference by running the circuit code
//! over the simulated evaluator (what the cost model tabulates), at the `fgb-like` shape.
//!
//! `cargo bench --bench ckks_circuits`. Groups: `plan_segment` (one segment started at the top
//! level: linear part of a step, the degree-3/7/17 tanh cells, the output layer) and
//! `plan_schedule` (all 28 steps of all-17 and all-3 with greedy bootstraps).

use std::hint::black_box;

use cellwise::ckks::plan::{self, Placement, PlanConfig, SegmentKind};
use criterion::{Criterion, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let cfg = PlanConfig::fgb_like();
    let top = cfg.params.top_level();
    let mut group = c.benchmark_group("plan_segment");
    let mut kinds = vec![
        ("linear".to_string(), SegmentKind::Linear),
        ("output".to_string(), SegmentKind::Output),
    ];
    for cell in plan::tanh_cells(&[3, 7, 17], (-8.0, 8.0)).expect("tanh cells") {
        kinds.push((
            format!("poly_deg{}", cell.degree()),
            SegmentKind::Poly(cell),
        ));
    }
    for (name, kind) in &kinds {
        group.bench_function(name, |b| {
            b.iter(|| black_box(plan::plan_segment(&cfg, black_box(kind), top).expect("plan")))
        });
    }
    group.finish();
    let mut group = c.benchmark_group("plan_schedule");
    group.sample_size(20);
    for d in [17usize, 3] {
        let cells = plan::tanh_cells(&[d; 28], (-8.0, 8.0)).expect("tanh cells");
        group.bench_function(format!("all_{d}"), |b| {
            b.iter(|| {
                black_box(plan::plan_schedule(
                    &cfg,
                    black_box(&cells),
                    &Placement::Greedy,
                ))
                .expect("plan")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
