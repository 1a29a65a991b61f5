//! Cost evaluation speed: one schedule priced by each model (target <= 10 us per schedule).
//!
//! `cargo bench --bench cost`. The schedules are 64 random degree-{3, 7, 17} schedules of the
//! default problem (ChaCha20, seed 7), priced in turn.

use std::hint::black_box;

use cellwise::cost::{self, CostModel};
use cellwise::problem::{DEFAULT_PROBLEM, Problem};
use cellwise::schedule::{Approx, Schedule};
use criterion::{Criterion, criterion_group, criterion_main};
use rand::rngs::ChaCha20Rng;
use rand::{RngExt, SeedableRng};

fn schedules(steps: usize) -> Vec<Schedule> {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let degrees = [3, 7, 17];
    (0..64)
        .map(|_| {
            Schedule::new(
                (0..steps)
                    .map(|_| Approx::Degree(degrees[rng.random_range(0..degrees.len())]))
                    .collect(),
            )
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let problem = Problem::load(DEFAULT_PROBLEM).expect("default problem");
    let schedules = schedules(problem.steps());
    let mut specs: Vec<String> = vec!["depth".into(), "bootstraps".into()];
    specs.extend(
        cost::profile::shipped_names()
            .iter()
            .map(|p| format!("latency:{p}")),
    );
    let models: Vec<Box<dyn CostModel>> = specs
        .iter()
        .map(|spec| cost::by_name(spec, &problem).expect("model"))
        .collect();
    let mut group = c.benchmark_group("cost_per_schedule");
    for model in &models {
        let mut i = 0;
        group.bench_function(model.name(), |b| {
            b.iter(|| {
                i = (i + 1) % schedules.len();
                black_box(model.cost(black_box(&schedules[i])).expect("priced"))
            })
        });
        group.bench_function(format!("{} breakdown", model.name()), |b| {
            b.iter(|| {
                i = (i + 1) % schedules.len();
                black_box(model.breakdown(black_box(&schedules[i])).expect("priced"))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
