//! Criterion benchmarks of the accuracy oracle on the real MNIST test/validation splits
//! (falls back to the committed fixture when MNIST has not been fetched).
//! `cellwise bench oracle` reports the same workloads with same-run GEMM and numpy ratios.

use cellwise::data::{self, Splits};
use cellwise::model::Weights;
use cellwise::oracle::{Candidates, Oracle, OracleConfig};
use cellwise::problem::{DEFAULT_PROBLEM, Problem};
use cellwise::schedule::{Approx, Schedule};
use criterion::{Criterion, criterion_group, criterion_main};

fn splits(problem: &Problem) -> Splits {
    data::load_splits(problem, &data::default_data_dir())
        .or_else(|_| data::load_fixture_splits(problem))
        .expect("the committed fixture loads")
}

fn oracle(c: &mut Criterion) {
    let problem = Problem::load(DEFAULT_PROBLEM).expect("embedded preset");
    let splits = splits(&problem);
    let weights = Weights::embedded_default();
    let candidates = Candidates::from_problem(&problem, None).expect("fits");
    let all17 = Schedule::uniform(problem.steps(), Approx::Degree(17));

    let test = Oracle::new(
        &weights,
        &splits.test,
        &candidates,
        &OracleConfig::default(),
    )
    .expect("oracle");
    let label = format!("full evaluation all-17, {} images", splits.test.len());
    c.bench_function(&label, |b| {
        b.iter(|| {
            test.clear_caches();
            test.evaluate(&all17).expect("evaluates").correct
        })
    });

    let val =
        Oracle::new(&weights, &splits.val, &candidates, &OracleConfig::default()).expect("oracle");
    let parent = val.evaluate(&all17).expect("evaluates").correct;
    let threshold = parent.saturating_sub(splits.val.len() / 50);
    let children: Vec<Schedule> = (0..problem.steps())
        .flat_map(|i| [3, 7].map(|d| all17.with(0, i, Approx::Degree(d))))
        .collect();
    let mut next = 0;
    c.bench_function("DFS child decision (one cell lowered, threshold)", |b| {
        b.iter(|| {
            // Each child once per parent: forget the memo (not the parent's prefixes) by
            // cycling through the children and re-evaluating the parent when they run out.
            if next == children.len() {
                val.clear_caches();
                val.evaluate(&all17).expect("evaluates");
                next = 0;
            }
            next += 1;
            val.accepts(&children[next - 1], threshold, false)
                .expect("decides")
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = oracle
}
criterion_main!(benches);
