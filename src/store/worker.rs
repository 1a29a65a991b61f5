//! The worker's loop: claim a batch of the study (preferring the prefix it judged last, whose
//! states its oracle's cache holds), judge it with the same oracle calls an in-process run
//! makes, renew the lease while judging, write the answers and the memo in one transaction;
//! exit when the study has ended.

use std::time::{Duration, Instant};

use super::pack;
use super::{Store, StoreError, Study};
use crate::oracle::Oracle;
use crate::search::{Answer, Judged, Question, executor::answer_one};

/// How a worker runs.
pub struct Options {
    /// Unique among the study's workers (owner of its leases).
    pub name: String,
    /// Seconds a claim lasts without renewal; renewed every third of it while judging.
    pub lease: f64,
    /// Exit after this long without an open batch while the study still runs (`None`:
    /// wait for the study to end).
    pub idle_exit: Option<Duration>,
    /// Checked between batches: false ends the worker (its local driver is gone).
    pub alive: Box<dyn Fn() -> bool>,
    /// Added to every judgement (tests use it to catch a worker mid-batch).
    pub delay: Duration,
}

/// What a worker did.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub batches: u64,
    pub judgements: u64,
    pub seconds: f64,
    /// Why it stopped.
    pub ended: String,
}

/// Longest sleep between claims while no batch is open.
const IDLE_POLL: Duration = Duration::from_millis(20);

/// Serves `study` with `oracle` until the study ends; a damaged batch fails (the driver then
/// reports it) and ends the worker with an error naming it.
pub fn serve(
    store: &mut Store,
    study: &Study,
    oracle: &Oracle,
    options: &Options,
) -> Result<Report, StoreError> {
    store.register_worker(study.id, &options.name)?;
    let result = serve_registered(store, study, oracle, options);
    let state = match &result {
        Ok(_) => "ended",
        Err(_) => "failed",
    };
    // The outcome is already decided; a failed bookkeeping write does not change it.
    let _ = store.worker_ended(study.id, &options.name, state);
    result
}

fn serve_registered(
    store: &mut Store,
    study: &Study,
    oracle: &Oracle,
    options: &Options,
) -> Result<Report, StoreError> {
    let mut report = Report::default();
    let mut prefix = String::new();
    let mut idle_since = Instant::now();
    let mut sleep = Duration::from_millis(1);
    // Seconds in store calls since the last completion (empty claims while idle excluded).
    let mut store_time = 0.0;
    loop {
        if !(options.alive)() {
            report.ended = "its driver is gone".into();
            return Ok(report);
        }
        let claiming = Instant::now();
        let Some(batch) = store.claim(study.id, &options.name, options.lease, &prefix)? else {
            let state = store.study(&study.spec.name)?.state;
            if state != "running" {
                report.ended = format!("the study is {state}");
                return Ok(report);
            }
            if options.idle_exit.is_some_and(|t| idle_since.elapsed() >= t) {
                report.ended = "no work came".into();
                return Ok(report);
            }
            std::thread::sleep(sleep);
            sleep = (sleep * 2).min(IDLE_POLL);
            continue;
        };
        sleep = Duration::from_millis(1);
        store_time += claiming.elapsed().as_secs_f64();
        let asks = match pack::unpack_batch(
            &batch.prefix,
            &batch.items,
            &batch.digest,
            study.spec.slots,
        ) {
            Ok(asks) => asks,
            Err(e) => {
                let message = format!("batch {} is damaged ({e})", batch.id);
                store.fail(batch.id, &message)?;
                return Err(StoreError::Invalid(format!(
                    "study {}: {message}",
                    study.spec.name
                )));
            }
        };
        let start = Instant::now();
        let mut renewed = Instant::now();
        let mut replies = Vec::with_capacity(asks.len());
        let mut lost = false;
        for ask in &asks {
            if renewed.elapsed().as_secs_f64() * 3.0 >= options.lease {
                let renewing = Instant::now();
                if !store.renew(batch.id, &options.name, options.lease)? {
                    lost = true;
                    break;
                }
                store_time += renewing.elapsed().as_secs_f64();
                renewed = Instant::now();
            }
            if !options.delay.is_zero() {
                std::thread::sleep(options.delay);
            }
            let mut answer = answer_one(oracle, ask)
                .map_err(|e| StoreError::Invalid(format!("batch {}: {e}", batch.id)))?;
            // An accepted schedule is evaluated next by every strategy that decides (the
            // DFS keeps it): answer that too while its states are at hand.
            if let Answer::Decided {
                accepted: true,
                judged: None,
            } = answer
            {
                let e = oracle
                    .evaluate_with(&ask.schedule, ask.prefixes)
                    .map_err(|e| StoreError::Invalid(format!("batch {}: {e}", batch.id)))?;
                answer = Answer::Decided {
                    accepted: true,
                    judged: Some(Judged {
                        accuracy: e.accuracy,
                        correct: e.correct,
                        unsafe_images: e.unsafe_images.len(),
                    }),
                };
            }
            replies.push(pack::reply(&answer, oracle.len()));
        }
        if lost {
            // Another worker holds the batch now; it answers it.
            continue;
        }
        let seconds = start.elapsed().as_secs_f64();
        let completing = Instant::now();
        let keys: Vec<(String, Question)> = asks
            .iter()
            .map(|a| Ok((pack::pack(&a.schedule)?, a.question)))
            .collect::<Result<_, StoreError>>()?;
        let stored = store.complete(
            study,
            batch.id,
            &options.name,
            &keys,
            &replies,
            seconds,
            store_time,
        )?;
        store_time = completing.elapsed().as_secs_f64();
        if stored {
            report.batches += 1;
            report.judgements += asks.len() as u64;
            report.seconds += seconds;
        }
        prefix = batch.prefix;
        idle_since = Instant::now();
    }
}
