//! The study store: searches spread over worker processes through a database, SQLite (one
//! file, the default) or PostgreSQL (across machines).
//!
//! A **study** is one search run: its settings and the model it judges (problem, weights
//! fingerprint, split). The driver (the strategy's process, [`Remote`]) files its questions
//! as **batches** (packed schedules, the prefix they share, a digest sealing the row, state,
//! lease owner and expiry, attempts); workers ([`worker`]) claim batches, renew their lease
//! while they judge, and write the answers back in one transaction together with the
//! **memo**: every evaluation and decision keyed by (model fingerprint, problem, split,
//! schedule), written once (`ON CONFLICT DO NOTHING`), and consulted before anything is
//! filed, so no judgement made by any run, strategy or worker is made again. The driver
//! consumes answers in the order it asked, so the run's records are those of an in-process
//! run, whatever the number and speed of the workers. A claim whose lease expired (a worker
//! killed mid-batch) goes to the next worker; a batch is answered once.

use std::fmt;

use serde::{Deserialize, Serialize};

pub mod driver;
pub mod pack;
mod postgres;
mod schema;
pub mod sql;
mod sqlite;
pub mod worker;

pub use driver::Remote;
pub use schema::SCHEMA_VERSION;

use crate::search::{Answer, Question};
use pack::{Packed, Reply};
use sql::{Row, Sql, Value};

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be opened or reached (the message names the store first).
    #[error("cannot reach the store {0}")]
    Unreachable(String),
    /// A database error.
    #[error("{0}")]
    Backend(String),
    /// The store's schema is newer than this program's.
    #[error(
        "the store has schema version {found}, newer than the {supported} this cellwise knows: use a newer cellwise"
    )]
    Newer { found: i64, supported: i64 },
    /// A row does not hold what it should.
    #[error("corrupted row: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Invalid(String),
}

/// What a study judges and how: everything a worker needs to rebuild the driver's oracle.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StudySpec {
    /// Unique in the store.
    pub name: String,
    /// The problem preset's name or path, as the driver was given it.
    pub problem: String,
    /// The problem's name (memo key).
    pub problem_name: String,
    /// The weights file the driver read (`None`: the embedded model).
    pub weights: Option<String>,
    /// The model's fingerprint (memo key; a worker's model must have it).
    pub fingerprint: String,
    /// The committed MNIST fixture instead of a data directory.
    pub fixture: bool,
    /// The split and arithmetic (memo key), e.g. `validation/f32` or
    /// `fixture:validation/f32`.
    pub split: String,
    /// The oracle's prefix-state stride and memo setting (speed only).
    pub cache_stride: usize,
    pub memoise: bool,
    /// Slots per step of the problem's cell (to unpack schedules).
    pub slots: usize,
    /// The run's settings (opaque here; the driver's own record of what it runs).
    pub settings: serde_json::Value,
}

/// A study in the store.
#[derive(Clone, Debug, Serialize)]
pub struct Study {
    pub id: i64,
    pub spec: StudySpec,
    /// `running`, `done` or `failed`.
    pub state: String,
    pub created: f64,
    pub updated: f64,
}

/// A claimed batch.
#[derive(Clone, Debug)]
pub struct Claimed {
    pub id: i64,
    pub prefix: String,
    pub items: String,
    pub digest: String,
    pub attempt: i64,
}

/// Where a batch is.
#[derive(Clone, Debug, PartialEq)]
pub enum BatchState {
    Waiting,
    /// Its replies, in item order, and the seconds the worker took.
    Done(Vec<Reply>, f64),
    Failed(String),
}

/// Counts of one study's batches and workers (`cellwise study show`).
#[derive(Clone, Debug, Serialize)]
pub struct Progress {
    pub batches: std::collections::BTreeMap<String, i64>,
    /// Questions in answered batches.
    pub answered: i64,
    /// Questions filed.
    pub filed: i64,
    /// Batches that were claimed more than once (a lease expired).
    pub reclaimed: i64,
    /// Seconds workers spent on answered batches.
    pub worker_seconds: f64,
    pub workers: Vec<WorkerRow>,
}

/// One worker of a study.
#[derive(Clone, Debug, Serialize)]
pub struct WorkerRow {
    pub name: String,
    pub state: String,
    pub batches: i64,
    pub judgements: i64,
    /// Seconds spent judging.
    pub seconds: f64,
    /// Seconds spent in store calls (claims, renewals, completions).
    pub store_seconds: f64,
    /// Wall seconds from its start to its last sign of life.
    pub wall: f64,
}

/// Batches claimed this many times without an answer fail (a batch that kills its workers).
pub const MAX_ATTEMPTS: i64 = 5;

/// A store URL with any password hidden (for messages).
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &creds[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// A connection to a study store.
pub struct Store {
    sql: Box<dyn Sql>,
    url: String,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Store({})", self.url)
    }
}

impl Store {
    /// Opens `sqlite:PATH` (the file is created if missing) or `postgres://...`
    /// (`postgresql://` too), creating or migrating the schema; a store of a newer schema
    /// is refused untouched.
    pub fn open(url: &str) -> Result<Self, StoreError> {
        Self::connect(url).map_err(|e| match e {
            StoreError::Unreachable(why) => {
                StoreError::Unreachable(format!("{}: {why}", redact(url)))
            }
            e => e,
        })
    }

    fn connect(url: &str) -> Result<Self, StoreError> {
        let sql: Box<dyn Sql> = if let Some(path) = url.strip_prefix("sqlite:") {
            if path.is_empty() {
                return Err(StoreError::Invalid(
                    "sqlite: needs a path (sqlite:runs/study.sqlite)".into(),
                ));
            }
            Box::new(sqlite::Sqlite::open(std::path::Path::new(path))?)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Box::new(postgres::Postgres::connect(url)?)
        } else {
            return Err(StoreError::Invalid(format!(
                "store '{}' is neither sqlite:PATH nor postgres://...",
                redact(url)
            )));
        };
        let mut store = Self {
            sql,
            url: redact(url),
        };
        schema::migrate(&mut store)?;
        Ok(store)
    }

    /// The URL (password hidden).
    pub fn url(&self) -> &str {
        &self.url
    }

    fn exec(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        let sql = self.sql.dialect().rewrite(sql);
        self.sql.exec(&sql, params)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        let sql = self.sql.dialect().rewrite(sql);
        self.sql.query(&sql, params)
    }

    /// Runs `f` in one transaction: all of it or nothing.
    fn transaction<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.sql.begin()?;
        match f(self) {
            Ok(t) => {
                self.sql.batch("COMMIT")?;
                Ok(t)
            }
            Err(e) => {
                // The error that matters is `e`; a failed rollback ends the connection's
                // transaction anyway.
                let _ = self.sql.batch("ROLLBACK");
                Err(e)
            }
        }
    }

    fn study_from(row: &Row) -> Result<Study, StoreError> {
        let spec: StudySpec = serde_json::from_str(&row[1].text("study spec")?)
            .map_err(|e| StoreError::Corrupt(format!("study spec: {e}")))?;
        Ok(Study {
            id: row[0].int("study id")?,
            spec,
            state: row[2].text("study state")?,
            created: row[3].real("study created")?,
            updated: row[4].real("study updated")?,
        })
    }

    /// The study of this spec's name, created if missing; an existing one must have the same
    /// spec (a restarted driver of the same run). A finished study is reopened, and the
    /// batches an earlier driver filed that no worker has claimed are withdrawn (the new
    /// driver files what it still needs; the memo answers what was judged).
    pub fn open_study(&mut self, spec: &StudySpec) -> Result<Study, StoreError> {
        let text = serde_json::to_string(spec).map_err(|e| StoreError::Invalid(e.to_string()))?;
        self.transaction(|s| {
            let created = s.exec(
                "INSERT INTO studies (name, spec, fingerprint, problem, split, state, created, updated)
                 VALUES ($1, $2, $3, $4, $5, 'running', {now}, {now})
                 ON CONFLICT (name) DO NOTHING",
                &[
                    spec.name.as_str().into(),
                    text.as_str().into(),
                    spec.fingerprint.as_str().into(),
                    spec.problem_name.as_str().into(),
                    spec.split.as_str().into(),
                ],
            )?;
            let study = s.study(&spec.name)?;
            if study.spec != *spec {
                return Err(StoreError::Invalid(format!(
                    "study {} exists with other settings (model {}, {}): name this run's study differently (--study)",
                    spec.name, study.spec.fingerprint, study.spec.settings
                )));
            }
            s.exec(
                "UPDATE studies SET state = 'running', updated = {now} WHERE id = $1",
                &[study.id.into()],
            )?;
            if created == 0 {
                s.exec(
                    "DELETE FROM batches WHERE study = $1 AND state = 'pending'",
                    &[study.id.into()],
                )?;
            }
            s.study(&spec.name)
        })
    }

    /// The study called `name`.
    pub fn study(&mut self, name: &str) -> Result<Study, StoreError> {
        let rows = self.query(
            "SELECT id, spec, state, created, updated FROM studies WHERE name = $1",
            &[name.into()],
        )?;
        match rows.first() {
            Some(row) => Self::study_from(row),
            None => Err(StoreError::Invalid(format!(
                "store {} has no study '{name}' (cellwise study list --store {0})",
                self.url
            ))),
        }
    }

    /// Every study, oldest first.
    pub fn studies(&mut self) -> Result<Vec<Study>, StoreError> {
        let rows = self.query(
            "SELECT id, spec, state, created, updated FROM studies ORDER BY id",
            &[],
        )?;
        rows.iter().map(Self::study_from).collect()
    }

    /// Marks a study ended (`done` or `failed`), with its run files (`outputs`: JSON of file
    /// name to contents) when done; its workers then exit.
    pub fn end_study(
        &mut self,
        id: i64,
        state: &str,
        outputs: Option<String>,
    ) -> Result<(), StoreError> {
        self.exec(
            "UPDATE studies SET state = $2, outputs = $3, updated = {now} WHERE id = $1",
            &[id.into(), state.into(), outputs.into()],
        )?;
        Ok(())
    }

    /// A study's run files (file name to contents) as its driver left them.
    pub fn outputs(&mut self, id: i64) -> Result<Option<String>, StoreError> {
        let rows = self.query("SELECT outputs FROM studies WHERE id = $1", &[id.into()])?;
        rows.first()
            .map_or(Ok(None), |r| r[0].opt_text("study outputs"))
    }

    /// The memo's answers to `asks` (packed schedules and questions) for `study`'s model.
    pub fn lookup(
        &mut self,
        study: &StudySpec,
        asks: &[(String, Question)],
    ) -> Result<Vec<Option<Answer>>, StoreError> {
        let mut out = vec![None; asks.len()];
        let schedules: Vec<&str> = asks.iter().map(|(s, _)| s.as_str()).collect();
        let mut images = std::collections::HashMap::new();
        for r in self.memo_of(
            study,
            "schedule, correct, images, unsafe_images",
            "evaluations",
            &schedules,
        )? {
            images.insert(
                r[0].text("memo schedule")?,
                (
                    r[1].int("memo correct")?,
                    r[2].int("memo images")?,
                    r[3].int("memo unsafe images")?,
                ),
            );
        }
        let mut undecided = Vec::new();
        for (i, (s, q)) in asks.iter().enumerate() {
            match images.get(s) {
                Some(&(c, n, u)) => {
                    let reply = Reply {
                        d: None,
                        c: Some(c as usize),
                        n: Some(n as usize),
                        u: Some(u as usize),
                    };
                    out[i] = pack::answer(&reply)?.to(*q);
                }
                None if *q != Question::Evaluate => undecided.push(i),
                None => {}
            }
        }
        let schedules: Vec<&str> = undecided.iter().map(|&i| asks[i].0.as_str()).collect();
        let mut decided = std::collections::HashMap::new();
        for r in self.memo_of(
            study,
            "schedule, min_correct, batch_safe, accepted",
            "decisions",
            &schedules,
        )? {
            decided.insert(
                (
                    r[0].text("memo schedule")?,
                    r[1].int("memo threshold")?,
                    r[2].int("memo batch safety")? != 0,
                ),
                r[3].int("memo decision")? != 0,
            );
        }
        for i in undecided {
            if let Some((t, safe)) = pack::threshold(asks[i].1)
                && let Some(&accepted) = decided.get(&(asks[i].0.clone(), t as i64, safe))
            {
                out[i] = Some(Answer::Decided {
                    accepted,
                    judged: None,
                });
            }
        }
        Ok(out)
    }

    /// The memo rows (`columns` of `table`) of `schedules` for `study`'s model, problem and
    /// split, asked [`LOOKUP_CHUNK`] schedules at a time.
    fn memo_of(
        &mut self,
        study: &StudySpec,
        columns: &str,
        table: &str,
        schedules: &[&str],
    ) -> Result<Vec<Row>, StoreError> {
        let mut rows = Vec::new();
        for chunk in schedules.chunks(LOOKUP_CHUNK) {
            let mut params = memo_key(study).to_vec();
            let marks: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 4)).collect();
            params.extend(chunk.iter().map(|&s| Value::from(s)));
            rows.extend(self.query(
                &format!(
                    "SELECT {columns} FROM {table}
                     WHERE fingerprint = $1 AND problem = $2 AND split = $3 AND schedule IN ({})",
                    marks.join(", ")
                ),
                &params,
            )?);
        }
        Ok(rows)
    }

    /// Files a batch for `study`: its id. The same batch filed again (a restarted driver)
    /// is the same row; a failed one is filed afresh with the driver's contents, which
    /// repairs a damaged row.
    pub fn enqueue(&mut self, study: i64, batch: &Packed) -> Result<i64, StoreError> {
        self.transaction(|s| {
            s.exec(
                "INSERT INTO batches (study, digest, prefix, items, size, state, attempt, created)
                 VALUES ($1, $2, $3, $4, $5, 'pending', 0, {now})
                 ON CONFLICT (study, digest) DO NOTHING",
                &[
                    study.into(),
                    batch.digest.as_str().into(),
                    batch.prefix.as_str().into(),
                    batch.items.as_str().into(),
                    (batch.size as i64).into(),
                ],
            )?;
            let rows = s.query(
                "SELECT id, state FROM batches WHERE study = $1 AND digest = $2",
                &[study.into(), batch.digest.as_str().into()],
            )?;
            let row = rows
                .first()
                .ok_or_else(|| StoreError::Backend("a filed batch is missing".into()))?;
            let id = row[0].int("batch id")?;
            if row[1].text("batch state")? == "failed" {
                s.exec(
                    "UPDATE batches SET prefix = $2, items = $3, size = $4, state = 'pending',
                     attempt = 0, owner = NULL, error = NULL WHERE id = $1",
                    &[
                        id.into(),
                        batch.prefix.as_str().into(),
                        batch.items.as_str().into(),
                        (batch.size as i64).into(),
                    ],
                )?;
            }
            Ok(id)
        })
    }

    /// Where batch `id` is.
    pub fn batch_state(&mut self, id: i64) -> Result<BatchState, StoreError> {
        let rows = self.query(
            "SELECT state, answers, error, seconds FROM batches WHERE id = $1",
            &[id.into()],
        )?;
        let row = rows
            .first()
            .ok_or_else(|| StoreError::Corrupt(format!("batch {id} is gone")))?;
        match row[0].text("batch state")?.as_str() {
            "done" => {
                let text = row[1].text("batch answers")?;
                let replies: Vec<Reply> = serde_json::from_str(&text)
                    .map_err(|e| StoreError::Corrupt(format!("answers of batch {id}: {e}")))?;
                Ok(BatchState::Done(replies, row[3].real("batch seconds")?))
            }
            "failed" => Ok(BatchState::Failed(
                row[2].opt_text("batch error")?.unwrap_or_default(),
            )),
            _ => Ok(BatchState::Waiting),
        }
    }

    /// Registers (or renews) worker `name` of a study.
    pub fn register_worker(&mut self, study: i64, name: &str) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO workers (study, name, started, seen, state) VALUES ($1, $2, {now}, {now}, 'working')
             ON CONFLICT (study, name) DO UPDATE SET seen = {now}, state = 'working'",
            &[study.into(), name.into()],
        )?;
        Ok(())
    }

    /// Marks worker `name` as ended.
    pub fn worker_ended(&mut self, study: i64, name: &str, state: &str) -> Result<(), StoreError> {
        self.exec(
            "UPDATE workers SET seen = {now}, state = $3 WHERE study = $1 AND name = $2",
            &[study.into(), name.into(), state.into()],
        )?;
        Ok(())
    }

    /// Claims the next open batch of a study for `lease` seconds (a pending one, or one
    /// whose lease expired), preferring one whose prefix is `prefer`; `None` if none is
    /// open. A batch claimed [`MAX_ATTEMPTS`] times without an answer fails instead.
    pub fn claim(
        &mut self,
        study: i64,
        worker: &str,
        lease: f64,
        prefer: &str,
    ) -> Result<Option<Claimed>, StoreError> {
        self.transaction(|s| {
            let rows = s.query(
                "SELECT id, prefix, items, digest, attempt, owner FROM batches
                 WHERE study = $1 AND (state = 'pending' OR (state = 'claimed' AND lease_until < {now}))
                 ORDER BY CASE WHEN prefix = $2 THEN 0 ELSE 1 END, id LIMIT 1 {lock}",
                &[study.into(), prefer.into()],
            )?;
            let Some(row) = rows.first() else {
                return Ok(None);
            };
            let id = row[0].int("batch id")?;
            let attempt = row[4].int("batch attempt")?;
            if attempt >= MAX_ATTEMPTS {
                let last = row[5].opt_text("batch owner")?.unwrap_or_default();
                s.exec(
                    "UPDATE batches SET state = 'failed', error = $2 WHERE id = $1",
                    &[
                        id.into(),
                        format!("claimed {attempt} times without an answer (last by {last})").into(),
                    ],
                )?;
                return Ok(None);
            }
            s.exec(
                "UPDATE batches SET state = 'claimed', owner = $2, lease_until = {now} + $3,
                 attempt = attempt + 1 WHERE id = $1",
                &[id.into(), worker.into(), lease.into()],
            )?;
            Ok(Some(Claimed {
                id,
                prefix: row[1].text("batch prefix")?,
                items: row[2].text("batch items")?,
                digest: row[3].text("batch digest")?,
                attempt: attempt + 1,
            }))
        })
    }

    /// Renews `worker`'s lease on a batch; false if it is no longer the worker's (its lease
    /// expired and another worker claimed it, or it was answered).
    pub fn renew(&mut self, batch: i64, worker: &str, lease: f64) -> Result<bool, StoreError> {
        let n = self.exec(
            "UPDATE batches SET lease_until = {now} + $3
             WHERE id = $1 AND owner = $2 AND state = 'claimed'",
            &[batch.into(), worker.into(), lease.into()],
        )?;
        Ok(n == 1)
    }

    /// Writes a batch's answers and the memo rows they make, in one transaction; false if
    /// the batch had been answered already (by a worker that took over an expired lease),
    /// in which case nothing is counted twice. `seconds` is the judging time,
    /// `store_seconds` the worker's time in store calls since its last completion.
    #[allow(clippy::too_many_arguments)]
    pub fn complete(
        &mut self,
        study: &Study,
        batch: i64,
        worker: &str,
        asks: &[(String, Question)],
        replies: &[Reply],
        seconds: f64,
        store_seconds: f64,
    ) -> Result<bool, StoreError> {
        let text =
            serde_json::to_string(replies).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let key = &study.spec;
        self.transaction(|s| {
            let n = s.exec(
                "UPDATE batches SET state = 'done', answers = $2, seconds = $3, owner = $4,
                 finished = {now} WHERE id = $1 AND state IN ('pending', 'claimed')",
                &[batch.into(), text.as_str().into(), seconds.into(), worker.into()],
            )?;
            if n == 0 {
                return Ok(false);
            }
            for ((schedule, question), r) in asks.iter().zip(replies) {
                let memo = [
                    Value::from(key.fingerprint.as_str()),
                    key.problem_name.as_str().into(),
                    key.split.as_str().into(),
                    schedule.as_str().into(),
                ];
                if let (Some(c), Some(n), Some(u)) = (r.c, r.n, r.u) {
                    let mut params = memo.to_vec();
                    params.extend([
                        (c as i64).into(),
                        (n as i64).into(),
                        (u as i64).into(),
                        study.id.into(),
                    ]);
                    s.exec(
                        "INSERT INTO evaluations (fingerprint, problem, split, schedule, correct, images,
                         unsafe_images, study, created) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, {now})
                         ON CONFLICT DO NOTHING",
                        &params,
                    )?;
                }
                if let (Some(accepted), Some((t, safe))) = (r.d, pack::threshold(*question)) {
                    let mut params = memo.to_vec();
                    params.extend([
                        (t as i64).into(),
                        i64::from(safe).into(),
                        i64::from(accepted).into(),
                        study.id.into(),
                    ]);
                    s.exec(
                        "INSERT INTO decisions (fingerprint, problem, split, schedule, min_correct,
                         batch_safe, accepted, study, created) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, {now})
                         ON CONFLICT DO NOTHING",
                        &params,
                    )?;
                }
            }
            s.exec(
                "UPDATE workers SET batches = batches + 1, judgements = judgements + $3,
                 seconds = seconds + $4, store_seconds = store_seconds + $5, seen = {now}
                 WHERE study = $1 AND name = $2",
                &[
                    study.id.into(),
                    worker.into(),
                    (asks.len() as i64).into(),
                    seconds.into(),
                    store_seconds.into(),
                ],
            )?;
            Ok(true)
        })
    }

    /// Marks a batch failed with `message` (a damaged row); its driver reports it.
    pub fn fail(&mut self, batch: i64, message: &str) -> Result<(), StoreError> {
        self.exec(
            "UPDATE batches SET state = 'failed', error = $2 WHERE id = $1 AND state <> 'done'",
            &[batch.into(), message.into()],
        )?;
        Ok(())
    }

    /// A study's batches, answers and workers.
    pub fn progress(&mut self, study: i64) -> Result<Progress, StoreError> {
        let mut batches = std::collections::BTreeMap::new();
        let (mut answered, mut filed, mut worker_seconds) = (0, 0, 0.0);
        for r in self.query(
            "SELECT state, COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT),
             CAST(COALESCE(SUM(seconds), 0) AS DOUBLE PRECISION)
             FROM batches WHERE study = $1 GROUP BY state ORDER BY state",
            &[study.into()],
        )? {
            let state = r[0].text("batch state")?;
            let size = r[2].int("batch size")?;
            filed += size;
            if state == "done" {
                answered = size;
                worker_seconds = r[3].real("batch seconds")?;
            }
            batches.insert(state, r[1].int("batch count")?);
        }
        let reclaimed = self.query(
            "SELECT COUNT(*) FROM batches WHERE study = $1 AND attempt > 1",
            &[study.into()],
        )?[0][0]
            .int("count")?;
        let workers = self
            .query(
                "SELECT name, state, batches, judgements, seconds, store_seconds, seen - started FROM workers
                 WHERE study = $1 ORDER BY name",
                &[study.into()],
            )?
            .iter()
            .map(|r| {
                Ok(WorkerRow {
                    name: r[0].text("worker name")?,
                    state: r[1].text("worker state")?,
                    batches: r[2].int("worker batches")?,
                    judgements: r[3].int("worker judgements")?,
                    seconds: r[4].real("worker seconds")?,
                    store_seconds: r[5].real("worker store seconds")?,
                    wall: r[6].real("worker wall")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Progress {
            batches,
            answered,
            filed,
            reclaimed,
            worker_seconds,
            workers,
        })
    }

    /// Memo rows (evaluations, decisions) of a study's model.
    pub fn memo_rows(&mut self, spec: &StudySpec) -> Result<(i64, i64), StoreError> {
        let key = memo_key(spec);
        let mut count = |table: &str| -> Result<i64, StoreError> {
            self.query(
                &format!(
                    "SELECT COUNT(*) FROM {table} WHERE fingerprint = $1 AND problem = $2 AND split = $3"
                ),
                &key,
            )?[0][0]
                .int("count")
        };
        Ok((count("evaluations")?, count("decisions")?))
    }

    /// Deletes the batches and workers of ended studies (the memo and the studies' run files
    /// stay), and reopens batches of running studies whose lease expired; with `drop`, also
    /// that study itself. Counts of deleted batches and reopened ones.
    pub fn gc(&mut self, drop: Option<i64>) -> Result<(u64, u64), StoreError> {
        self.transaction(|s| {
            let mut deleted = s.exec(
                "DELETE FROM batches WHERE study IN (SELECT id FROM studies WHERE state <> 'running')",
                &[],
            )?;
            s.exec(
                "DELETE FROM workers WHERE study IN (SELECT id FROM studies WHERE state <> 'running')",
                &[],
            )?;
            if let Some(id) = drop {
                deleted += s.exec("DELETE FROM batches WHERE study = $1", &[id.into()])?;
                s.exec("DELETE FROM workers WHERE study = $1", &[id.into()])?;
                s.exec("DELETE FROM studies WHERE id = $1", &[id.into()])?;
            }
            let reopened = s.exec(
                "UPDATE batches SET state = 'pending', owner = NULL
                 WHERE state = 'claimed' AND lease_until < {now}",
                &[],
            )?;
            Ok((deleted, reopened))
        })
    }
}

/// Schedules per memo query (bound parameters stay far below every backend's limit).
const LOOKUP_CHUNK: usize = 500;

/// What the memo is keyed by besides the schedule: the study's model fingerprint, problem and
/// split (`$1`, `$2`, `$3` of every memo query).
fn memo_key(spec: &StudySpec) -> [Value; 3] {
    [
        spec.fingerprint.as_str().into(),
        spec.problem_name.as_str().into(),
        spec.split.as_str().into(),
    ]
}
