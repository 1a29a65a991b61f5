//! Criterion benchmarks of the accuracy oracle, one group per cell kind (`mnist-rnn32`,
//! `mnist-gru32`, `mnist-lstm32`, each with its embedded model and its own candidates): a
//! full evaluation of the top schedule on the test split, and one DFS child decision on the
//! validation split. The real MNIST splits are used when fetched (`data::default_data_dir`),
//! else the committed fixture. `cellwise bench oracle` reports the same workloads with
//! same-run ratios against mnist-rnn32 and numpy.

use cellwise::data::{self, Splits};
use cellwise::model::Weights;
use cellwise::oracle::{Candidates, Oracle, OracleConfig};
use cellwise::problem::Problem;
use cellwise::schedule::{Approx, Schedule};
use criterion::{Criterion, criterion_group, criterion_main};

/// One problem per cell kind.
const PROBLEMS: [&str; 3] = ["mnist-rnn32", "mnist-gru32", "mnist-lstm32"];

fn splits(problem: &Problem) -> Splits {
    data::load_splits(problem, &data::default_data_dir())
        .or_else(|_| data::load_fixture_splits(problem))
        .expect("the committed fixture loads")
}

fn oracle(c: &mut Criterion) {
    for name in PROBLEMS {
        let problem = Problem::load(name).expect("embedded preset");
        let splits = splits(&problem);
        let weights = Weights::embedded_for(&problem).expect("embedded model");
        let candidates =
            Candidates::for_model(&problem, &weights, &splits.train).expect("candidates");
        let mut group = c.benchmark_group(name);

        // Full evaluation of the top schedule, cold: no prefix cache, memo cleared.
        let cold = OracleConfig {
            cache_mb: 0,
            ..OracleConfig::default()
        };
        let test = Oracle::new(&weights, &splits.test, &candidates, &cold).expect("oracle");
        let top = test.space().top();
        let label = format!("full evaluation {top}, {} images", splits.test.len());
        group.bench_function(&label, |b| {
            b.iter(|| {
                test.clear_caches();
                test.evaluate(&top).expect("evaluates").correct
            })
        });
        drop(test);

        // One child of the top schedule (one position lowered to a smaller degree), judged
        // against "within 2 points" of the parent, resuming from the parent's prefixes.
        let val = Oracle::new(&weights, &splits.val, &candidates, &OracleConfig::default())
            .expect("oracle");
        let parent = val.evaluate(&top).expect("evaluates").correct;
        let threshold = parent.saturating_sub(splits.val.len() / 50);
        let space = val.space().clone();
        let children: Vec<Schedule> = (0..space.positions())
            .flat_map(|i| space.degrees_at(i)[1..].iter().map(move |&d| (i, d)))
            .map(|(i, d)| top.with_entry(i, Approx::Degree(d)))
            .collect();
        let mut next = 0;
        group.bench_function(
            "DFS child decision (one position lowered, threshold)",
            |b| {
                b.iter(|| {
                    // Each child once per parent: forget the memo (not the parent's prefixes) by
                    // cycling through the children and re-evaluating the parent when they run out.
                    if next == children.len() {
                        val.clear_caches();
                        val.evaluate(&top).expect("evaluates");
                        next = 0;
                    }
                    next += 1;
                    val.accepts(&children[next - 1], threshold, false)
                        .expect("decides")
                })
            },
        );
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = oracle
}
criterion_main!(benches);
