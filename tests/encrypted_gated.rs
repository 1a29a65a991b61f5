//! Encrypted GRU and LSTM inference end to end at `test-boot` (exploratory timing).

use std::time::Instant;

use cellwise::ckks::scheme::params::ParametersLiteral;
use cellwise::cost::{self, CostOptions};
use cellwise::data;
use cellwise::infer::{self, Client, NetShape, Request, Server};
use cellwise::model::Weights;
use cellwise::oracle::Candidates;
use cellwise::problem::Problem;
use cellwise::schedule::Schedule;

fn shape(p: &Problem) -> NetShape {
    NetShape {
        cell: p.cell(),
        steps: p.steps(),
        input_width: p.input_width(),
        hidden: p.model.hidden,
        classes: p.model.classes,
    }
}

fn one(problem: &str, schedule: &str, n: usize) {
    let params = ParametersLiteral::preset("test-boot").unwrap();
    let problem = Problem::load(problem).unwrap();
    let weights = Weights::embedded_for(&problem).unwrap();
    let splits = data::load_fixture_splits(&problem).unwrap();
    let candidates = Candidates::for_model(&problem, &weights, &splits.train).unwrap();
    let t = Instant::now();
    let (client, keys) = Client::keygen(&params, shape(&problem), Some(5)).unwrap();
    let server = Server::new(keys, &weights).unwrap();
    eprintln!("keys+server {:.1}", t.elapsed().as_secs_f64());
    let options = CostOptions {
        levels: Some(params.levels),
        ..CostOptions::default()
    };
    let cost = cost::for_candidates("depth", &problem, &candidates, &options).unwrap();
    let schedule = Schedule::parse(schedule, problem.space().shape()).unwrap();
    let req = Request {
        schedule: &schedule,
        candidates: &candidates,
        cost: cost.as_ref(),
        weights: &weights,
        images: splits.test.images.slice(ndarray::s![..n, .., ..]),
        labels: &splits.test.labels[..n],
    };
    let t = Instant::now();
    let report = infer::run_schedule(&client, &server, &req, &mut |r| eprintln!("{r:?}")).unwrap();
    eprintln!(
        "{} {}: agree {}/{n} err {:.2e} boots {} server {:.1}s prepare {:.1}s total {:.1}s enc during {}",
        problem.name, schedule, report.agreeing, report.max_logit_error, report.bootstraps,
        report.server_seconds, report.prepare_seconds, t.elapsed().as_secs_f64(), report.encodings_during_run
    );
}

#[test]
fn gru() {
    one("mnist-gru32-safe", "all-3", 64);
}

#[test]
fn lstm() {
    one("mnist-lstm32-safe", "all-3", 64);
}
