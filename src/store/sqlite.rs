//! The embedded backend: one SQLite file (rusqlite with SQLite compiled in), in WAL mode so
//! readers never wait for the writer; writers wait for each other up to [`BUSY_WAIT`].

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::types::ValueRef;

use super::StoreError;
use super::sql::{Dialect, Row, Sql, Value};

/// How long a statement waits for another process's write lock.
pub const BUSY_WAIT: Duration = Duration::from_secs(60);

/// A connection to a store file.
pub struct Sqlite {
    conn: rusqlite::Connection,
}

fn err(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl Sqlite {
    /// Opens (creating if missing) the store file at `path`; its directory must exist.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.is_dir()
        {
            return Err(StoreError::Unreachable(format!(
                "directory {} does not exist",
                dir.display()
            )));
        }
        let started = Instant::now();
        loop {
            match Self::connect(path) {
                Ok((_, mode)) if !mode.eq_ignore_ascii_case("wal") => {
                    return Err(StoreError::Unreachable(format!(
                        "{} cannot use write-ahead logging (journal mode {mode})",
                        path.display()
                    )));
                }
                Ok((conn, _)) => return Ok(Self { conn }),
                // Switching a new file to WAL takes an exclusive lock, and SQLite answers
                // a process that loses that race "locked" at once, without its busy handler.
                Err(e) if is_busy(&e) && started.elapsed() < BUSY_WAIT => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => return Err(StoreError::Unreachable(e.to_string())),
            }
        }
    }

    /// One attempt at opening `path` with the store's settings, asking for WAL mode; returns
    /// the connection and the journal mode SQLite granted.
    fn connect(path: &Path) -> rusqlite::Result<(rusqlite::Connection, String)> {
        let conn = rusqlite::Connection::open(path)?;
        conn.busy_timeout(BUSY_WAIT)?;
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        conn.execute_batch("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;")?;
        Ok((conn, mode))
    }
}

/// Whether SQLite refused for a lock another connection holds.
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

fn params(values: &[Value]) -> Vec<rusqlite::types::Value> {
    values
        .iter()
        .map(|v| match v {
            Value::Null => rusqlite::types::Value::Null,
            Value::Int(i) => rusqlite::types::Value::Integer(*i),
            Value::Real(x) => rusqlite::types::Value::Real(*x),
            Value::Text(t) => rusqlite::types::Value::Text(t.clone()),
        })
        .collect()
}

impl Sql for Sqlite {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn exec(&mut self, sql: &str, values: &[Value]) -> Result<u64, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(err)?;
        let n = stmt
            .execute(rusqlite::params_from_iter(params(values)))
            .map_err(err)?;
        Ok(n as u64)
    }

    fn query(&mut self, sql: &str, values: &[Value]) -> Result<Vec<Row>, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(err)?;
        let columns = stmt.column_count();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params(values)))
            .map_err(err)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(err)? {
            let mut r = Vec::with_capacity(columns);
            for i in 0..columns {
                r.push(match row.get_ref(i).map_err(err)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(i) => Value::Int(i),
                    ValueRef::Real(x) => Value::Real(x),
                    ValueRef::Text(t) | ValueRef::Blob(t) => {
                        Value::Text(String::from_utf8_lossy(t).into_owned())
                    }
                });
            }
            out.push(r);
        }
        Ok(out)
    }

    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        self.conn.execute_batch(sql).map_err(err)
    }

    fn begin(&mut self) -> Result<(), StoreError> {
        self.conn.execute_batch("BEGIN IMMEDIATE").map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Barrier};

    /// Several processes opening a store file that does not exist yet race to switch it to
    /// write-ahead logging; SQLite answers the losers "database is locked" at once, without
    /// its busy handler, so `open` must wait and retry rather than fail.
    #[test]
    fn simultaneous_first_opens_all_succeed() {
        for round in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let path = Arc::new(dir.path().join(format!("race-{round}.sqlite")));
            let barrier = Arc::new(Barrier::new(8));
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    let (path, barrier) = (Arc::clone(&path), Arc::clone(&barrier));
                    std::thread::spawn(move || {
                        barrier.wait();
                        let mut s = Sqlite::open(&path)?;
                        s.batch("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
                    })
                })
                .collect();
            for h in handles {
                if let Err(e) = h.join().unwrap() {
                    panic!("round {round}: {e}");
                }
            }
        }
    }
}
