//! The backend across machines: a PostgreSQL database through the synchronous `postgres`
//! client (no TLS: put the database on a trusted network or behind a tunnel).

use std::str::FromStr;
use std::time::Duration;

use postgres::types::Type;

use super::StoreError;
use super::sql::{Dialect, Row, Sql, Value};

/// How long connecting may take unless the URL sets `connect_timeout`.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection to a PostgreSQL store.
pub struct Postgres {
    client: postgres::Client,
}

fn err(e: postgres::Error) -> StoreError {
    // The driver's Display of a server error is only "db error"; its source has the text.
    let text = match std::error::Error::source(&e) {
        Some(source) => format!("{e}: {source}"),
        None => e.to_string(),
    };
    StoreError::Backend(text)
}

impl Postgres {
    /// Connects to `url` (`postgres://user@host:port/db`).
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        let mut config = postgres::Config::from_str(url)
            .map_err(|e| StoreError::Unreachable(format!("bad URL: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let mut client = config
            .connect(postgres::NoTls)
            .map_err(|e| StoreError::Unreachable(err(e).to_string()))?;
        // A commit lost in a server crash only costs a recomputation (the memo and answers
        // are idempotent, an unanswered batch's lease expires), so commits need not wait for
        // the disk: this session's commits are not flushed one by one.
        client
            .batch_execute("SET synchronous_commit TO off")
            .map_err(err)?;
        Ok(Self { client })
    }
}

fn params(values: &[Value]) -> Vec<Box<dyn postgres::types::ToSql + Sync>> {
    values
        .iter()
        .map(|v| -> Box<dyn postgres::types::ToSql + Sync> {
            match v {
                Value::Null => Box::new(None::<String>),
                Value::Int(i) => Box::new(*i),
                Value::Real(x) => Box::new(*x),
                Value::Text(t) => Box::new(t.clone()),
            }
        })
        .collect()
}

fn cell(row: &postgres::Row, i: usize) -> Result<Value, StoreError> {
    let ty = row.columns()[i].type_().clone();
    let v = if ty == Type::INT8 {
        row.try_get::<_, Option<i64>>(i)
            .map_err(err)?
            .map(Value::Int)
    } else if ty == Type::INT4 {
        row.try_get::<_, Option<i32>>(i)
            .map_err(err)?
            .map(|x| Value::Int(x.into()))
    } else if ty == Type::FLOAT8 {
        row.try_get::<_, Option<f64>>(i)
            .map_err(err)?
            .map(Value::Real)
    } else if ty == Type::NUMERIC {
        return Err(StoreError::Backend(format!(
            "column {} is NUMERIC; the store's queries cast to BIGINT or DOUBLE PRECISION",
            row.columns()[i].name()
        )));
    } else {
        row.try_get::<_, Option<String>>(i)
            .map_err(err)?
            .map(Value::Text)
    };
    Ok(v.unwrap_or(Value::Null))
}

impl Sql for Postgres {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn exec(&mut self, sql: &str, values: &[Value]) -> Result<u64, StoreError> {
        let boxed = params(values);
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
            boxed.iter().map(|b| b.as_ref()).collect();
        self.client.execute(sql, &refs).map_err(err)
    }

    fn query(&mut self, sql: &str, values: &[Value]) -> Result<Vec<Row>, StoreError> {
        let boxed = params(values);
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
            boxed.iter().map(|b| b.as_ref()).collect();
        let rows = self.client.query(sql, &refs).map_err(err)?;
        rows.iter()
            .map(|row| (0..row.len()).map(|i| cell(row, i)).collect())
            .collect()
    }

    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        self.client.batch_execute(sql).map_err(err)
    }

    fn begin(&mut self) -> Result<(), StoreError> {
        self.client.batch_execute("BEGIN").map_err(err)
    }
}
