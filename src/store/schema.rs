//! The store's schema, versioned: `cellwise_meta.schema_version` says which of
//! [`MIGRATIONS`] have run. Opening a store runs the missing ones in one transaction (so
//! concurrent openers do not race: SQLite's write lock, PostgreSQL's advisory lock) and
//! refuses a store whose version is newer than this program's.

use super::sql::{Dialect, Value};
use super::{Store, StoreError};

/// The schema version this program writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Each version's statements (`{id}`, `{now}`: see [`Dialect::rewrite`]).
const MIGRATIONS: &[&str] = &["
CREATE TABLE studies (
    id {id},
    name TEXT NOT NULL UNIQUE,
    spec TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    problem TEXT NOT NULL,
    split TEXT NOT NULL,
    state TEXT NOT NULL,
    created DOUBLE PRECISION NOT NULL,
    updated DOUBLE PRECISION NOT NULL,
    outputs TEXT
);
CREATE TABLE batches (
    id {id},
    study BIGINT NOT NULL REFERENCES studies (id) ON DELETE CASCADE,
    digest TEXT NOT NULL,
    prefix TEXT NOT NULL,
    items TEXT NOT NULL,
    size BIGINT NOT NULL,
    state TEXT NOT NULL,
    owner TEXT,
    lease_until DOUBLE PRECISION,
    attempt BIGINT NOT NULL,
    answers TEXT,
    error TEXT,
    seconds DOUBLE PRECISION,
    created DOUBLE PRECISION NOT NULL,
    finished DOUBLE PRECISION,
    UNIQUE (study, digest)
);
CREATE INDEX batches_open ON batches (study, state, id);
CREATE TABLE evaluations (
    fingerprint TEXT NOT NULL,
    problem TEXT NOT NULL,
    split TEXT NOT NULL,
    schedule TEXT NOT NULL,
    correct BIGINT NOT NULL,
    images BIGINT NOT NULL,
    unsafe_images BIGINT NOT NULL,
    study BIGINT NOT NULL,
    created DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (fingerprint, problem, split, schedule)
);
CREATE TABLE decisions (
    fingerprint TEXT NOT NULL,
    problem TEXT NOT NULL,
    split TEXT NOT NULL,
    schedule TEXT NOT NULL,
    min_correct BIGINT NOT NULL,
    batch_safe BIGINT NOT NULL,
    accepted BIGINT NOT NULL,
    study BIGINT NOT NULL,
    created DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (fingerprint, problem, split, schedule, min_correct, batch_safe)
);
CREATE TABLE workers (
    study BIGINT NOT NULL REFERENCES studies (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    started DOUBLE PRECISION NOT NULL,
    seen DOUBLE PRECISION NOT NULL,
    batches BIGINT NOT NULL DEFAULT 0,
    judgements BIGINT NOT NULL DEFAULT 0,
    seconds DOUBLE PRECISION NOT NULL DEFAULT 0,
    store_seconds DOUBLE PRECISION NOT NULL DEFAULT 0,
    state TEXT NOT NULL,
    PRIMARY KEY (study, name)
);
"];

/// Brings the store's schema to [`SCHEMA_VERSION`].
pub fn migrate(store: &mut Store) -> Result<(), StoreError> {
    let dialect = store.sql.dialect();
    store.transaction(|s| {
        if dialect == Dialect::Postgres {
            // One migrator at a time (released at the end of the transaction).
            s.query("SELECT pg_advisory_xact_lock(7238190412)::text", &[])?;
        }
        s.sql.batch(
            "CREATE TABLE IF NOT EXISTS cellwise_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        )?;
        let rows = s.query(
            "SELECT value FROM cellwise_meta WHERE key = 'schema_version'",
            &[],
        )?;
        let found = match rows.first() {
            Some(r) => r[0]
                .text("schema version")?
                .parse::<i64>()
                .map_err(|e| StoreError::Corrupt(format!("schema version: {e}")))?,
            None => 0,
        };
        if found > SCHEMA_VERSION {
            return Err(StoreError::Newer {
                found,
                supported: SCHEMA_VERSION,
            });
        }
        for sql in &MIGRATIONS[found as usize..] {
            s.sql.batch(&dialect.rewrite(sql))?;
        }
        if found < SCHEMA_VERSION {
            s.exec(
                "DELETE FROM cellwise_meta WHERE key = 'schema_version'",
                &[],
            )?;
            s.exec(
                "INSERT INTO cellwise_meta (key, value) VALUES ('schema_version', $1)",
                &[Value::from(SCHEMA_VERSION.to_string())],
            )?;
        }
        Ok(())
    })
}
