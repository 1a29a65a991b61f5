//! The driver's side: an [`Executor`] that answers from the memo or files the questions as
//! batches of about `target` seconds of work for the workers, and hands the answers back in
//! the order they were asked.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::pack::{self, Packed};
use super::{BatchState, Store, StoreError, Study};
use crate::oracle::Prefixes;
use crate::search::{Answer, Ask, Executor, Judged, Question, SearchError};

/// A question as the driver files it: the packed schedule and the question.
type Key = (String, Question);

/// Most questions in one batch.
pub const MAX_BATCH: usize = 4096;

/// How long the driver sleeps between looks at a batch it waits for.
const POLL: Duration = Duration::from_millis(2);

/// How often the driver runs its liveness check while it waits.
const GUARD_EVERY: Duration = Duration::from_millis(200);

/// What the driver did (for `timing.json` and the benchmark).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct RemoteStats {
    /// Batches filed.
    pub batches: u64,
    /// Questions filed in them.
    pub filed: u64,
    /// Questions answered from the memo without filing.
    pub memo_hits: u64,
    /// Seconds spent waiting for workers.
    pub wait_seconds: f64,
    /// Seconds workers reported for the driver's batches.
    pub worker_seconds: f64,
}

/// The executor that asks the workers of a study.
pub struct Remote<'g> {
    store: Store,
    study: Study,
    /// Full evaluations and decisions known so far, by packed schedule.
    evaluations: HashMap<String, Judged>,
    decisions: HashMap<Key, bool>,
    /// Filed questions not answered yet, and their batch.
    pending: HashMap<Key, i64>,
    /// Filed batches not collected yet, with their questions.
    filed: HashMap<i64, Vec<Key>>,
    /// Estimated worker seconds per question (updated from answered batches).
    per_question: f64,
    /// Worker seconds of work a batch should hold.
    target: f64,
    /// Run while waiting: an error ends the wait (e.g. every local worker has exited).
    guard: Box<dyn FnMut() -> Result<(), String> + 'g>,
    /// Shared with the caller, who reads them after the run.
    stats: Rc<RefCell<RemoteStats>>,
}

fn fail(e: StoreError) -> SearchError {
    SearchError::Executor(e.to_string())
}

impl<'g> Remote<'g> {
    /// A driver for `study` whose batches hold about `target` seconds of work; `guard` runs
    /// while it waits; `stats` receives its counts.
    pub fn new(
        store: Store,
        study: Study,
        target: f64,
        guard: Box<dyn FnMut() -> Result<(), String> + 'g>,
        stats: Rc<RefCell<RemoteStats>>,
    ) -> Self {
        Self {
            store,
            study,
            evaluations: HashMap::new(),
            decisions: HashMap::new(),
            pending: HashMap::new(),
            filed: HashMap::new(),
            per_question: 0.001,
            target,
            guard,
            stats,
        }
    }

    fn known(&self, key: &Key) -> Option<Answer> {
        if let Some(j) = self.evaluations.get(&key.0) {
            return Answer::Evaluated(*j).to(key.1);
        }
        self.decisions.get(key).map(|&accepted| Answer::Decided {
            accepted,
            judged: None,
        })
    }

    fn learn(&mut self, key: &Key, answer: Answer) {
        match answer {
            Answer::Evaluated(j)
            | Answer::Decided {
                judged: Some(j), ..
            } => {
                self.evaluations.insert(key.0.clone(), j);
            }
            Answer::Decided { accepted, .. } => {
                self.decisions.insert(key.clone(), accepted);
            }
        }
    }

    /// Answers what the memo knows and files the rest (questions neither known nor filed).
    fn request(&mut self, asks: &[Ask]) -> Result<(), SearchError> {
        let mut fresh: Vec<(Key, Prefixes)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for ask in asks {
            let key = (pack::pack(&ask.schedule).map_err(fail)?, ask.question);
            if self.known(&key).is_none()
                && !self.pending.contains_key(&key)
                && seen.insert(key.clone())
            {
                fresh.push((key, ask.prefixes));
            }
        }
        if fresh.is_empty() {
            return Ok(());
        }
        let keys: Vec<Key> = fresh.iter().map(|(k, _)| k.clone()).collect();
        let memo = self.store.lookup(&self.study.spec, &keys).map_err(fail)?;
        let mut rest = Vec::new();
        for ((key, prefixes), found) in fresh.into_iter().zip(memo) {
            match found {
                Some(answer) => {
                    self.stats.borrow_mut().memo_hits += 1;
                    self.learn(&key, answer);
                }
                None => rest.push((key, prefixes)),
            }
        }
        let size = ((self.target / self.per_question).ceil() as usize).clamp(1, MAX_BATCH);
        for chunk in rest.chunks(size) {
            let wire: Vec<(String, Question, Prefixes)> = chunk
                .iter()
                .map(|((s, q), p)| (s.clone(), *q, *p))
                .collect();
            let packed: Packed = pack::pack_batch(&wire).map_err(fail)?;
            let id = self.store.enqueue(self.study.id, &packed).map_err(fail)?;
            let keys: Vec<Key> = chunk.iter().map(|(k, _)| k.clone()).collect();
            for k in &keys {
                self.pending.insert(k.clone(), id);
            }
            self.filed.insert(id, keys);
            let mut stats = self.stats.borrow_mut();
            stats.batches += 1;
            stats.filed += chunk.len() as u64;
        }
        Ok(())
    }

    /// Waits until the batch holding `key` is answered and learns its answers. (Answers
    /// are the same whenever they arrive, so the order batches are collected in changes
    /// nothing; the context records them in the order it asked.)
    fn wait_for(&mut self, key: &Key) -> Result<(), SearchError> {
        let Some(&id) = self.pending.get(key) else {
            return Err(SearchError::Executor(format!(
                "the answer to `{}` was neither known nor filed",
                key.0
            )));
        };
        let start = Instant::now();
        let mut guarded = Instant::now();
        loop {
            match self.store.batch_state(id).map_err(fail)? {
                BatchState::Done(replies, seconds) => {
                    let keys = self.filed.remove(&id).unwrap_or_default();
                    if replies.len() != keys.len() {
                        return Err(SearchError::Executor(format!(
                            "batch {id} of study {} has {} answers for {} questions",
                            self.study.spec.name,
                            replies.len(),
                            keys.len()
                        )));
                    }
                    for (k, r) in keys.iter().zip(&replies) {
                        let answer = pack::answer(r).map_err(fail)?;
                        self.learn(k, answer);
                        self.pending.remove(k);
                    }
                    self.stats.borrow_mut().worker_seconds += seconds;
                    let per = seconds / keys.len().max(1) as f64;
                    self.per_question = 0.5 * self.per_question + 0.5 * per.max(1e-6);
                    break;
                }
                BatchState::Failed(why) => {
                    return Err(SearchError::Executor(format!(
                        "batch {id} of study {} failed: {why}",
                        self.study.spec.name
                    )));
                }
                BatchState::Waiting => {
                    if guarded.elapsed() >= GUARD_EVERY {
                        (self.guard)().map_err(SearchError::Executor)?;
                        guarded = Instant::now();
                    }
                    std::thread::sleep(POLL);
                }
            }
        }
        self.stats.borrow_mut().wait_seconds += start.elapsed().as_secs_f64();
        Ok(())
    }
}

impl Executor for Remote<'_> {
    fn answer(&mut self, asks: &[Ask]) -> Result<Vec<Answer>, SearchError> {
        self.request(asks)?;
        let mut out = Vec::with_capacity(asks.len());
        for ask in asks {
            let key = (pack::pack(&ask.schedule).map_err(fail)?, ask.question);
            if self.known(&key).is_none() {
                self.wait_for(&key)?;
            }
            out.push(self.known(&key).ok_or_else(|| {
                SearchError::Executor(format!("batch answers lack `{}`", ask.schedule))
            })?);
        }
        Ok(out)
    }

    fn prefetch(&mut self, asks: &[Ask]) -> Result<(), SearchError> {
        self.request(asks)
    }
}
