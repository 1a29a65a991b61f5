//! The few SQL operations the store needs, behind one trait that SQLite and PostgreSQL
//! implement: statements with numbered parameters (`$1`, `$2`, ...), rows of plain values,
//! and transactions. Each backend rewrites the two spots where the dialects differ (see
//! [`Dialect`]), so every query of the store is written once.

use super::StoreError;

/// A parameter or column value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

impl Value {
    /// The integer, or an error naming `what`.
    pub fn int(&self, what: &str) -> Result<i64, StoreError> {
        match self {
            Value::Int(i) => Ok(*i),
            other => Err(StoreError::Corrupt(format!(
                "{what} is {other:?}, not an integer"
            ))),
        }
    }

    /// The number (integers widen), or an error naming `what`.
    pub fn real(&self, what: &str) -> Result<f64, StoreError> {
        match self {
            Value::Real(x) => Ok(*x),
            Value::Int(i) => Ok(*i as f64),
            other => Err(StoreError::Corrupt(format!(
                "{what} is {other:?}, not a number"
            ))),
        }
    }

    /// The text, or an error naming `what`.
    pub fn text(&self, what: &str) -> Result<String, StoreError> {
        match self {
            Value::Text(t) => Ok(t.clone()),
            other => Err(StoreError::Corrupt(format!(
                "{what} is {other:?}, not text"
            ))),
        }
    }

    /// The text, `None` for NULL.
    pub fn opt_text(&self, what: &str) -> Result<Option<String>, StoreError> {
        match self {
            Value::Null => Ok(None),
            v => v.text(what).map(Some),
        }
    }
}

impl From<i64> for Value {
    fn from(x: i64) -> Self {
        Value::Int(x)
    }
}

impl From<f64> for Value {
    fn from(x: f64) -> Self {
        Value::Real(x)
    }
}

impl From<&str> for Value {
    fn from(x: &str) -> Self {
        Value::Text(x.to_string())
    }
}

impl From<String> for Value {
    fn from(x: String) -> Self {
        Value::Text(x)
    }
}

impl From<Option<String>> for Value {
    fn from(x: Option<String>) -> Self {
        x.map_or(Value::Null, Value::Text)
    }
}

/// A row of values, in the order of the query's columns.
pub type Row = Vec<Value>;

/// Where the dialects differ in the store's SQL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// `sql` for this dialect: `{now}` becomes the database clock in seconds since the Unix
    /// epoch (one clock for every worker, whatever their machines' clocks say), `{id}` the
    /// type of an auto-numbered primary key, `{lock}` PostgreSQL's row lock for claims
    /// (`FOR UPDATE SKIP LOCKED`; SQLite serialises writers instead).
    pub fn rewrite(self, sql: &str) -> String {
        match self {
            Dialect::Sqlite => sql
                .replace("{now}", "((julianday('now') - 2440587.5) * 86400.0)")
                .replace("{id}", "INTEGER PRIMARY KEY AUTOINCREMENT")
                .replace("{lock}", "")
                .replace('$', "?"),
            Dialect::Postgres => sql
                .replace(
                    "{now}",
                    "(extract(epoch from clock_timestamp())::double precision)",
                )
                .replace("{id}", "BIGSERIAL PRIMARY KEY")
                .replace("{lock}", "FOR UPDATE SKIP LOCKED"),
        }
    }
}

/// A connection to a database.
pub trait Sql {
    /// The dialect its SQL is written in.
    fn dialect(&self) -> Dialect;
    /// Runs a statement (already rewritten); the rows it changed.
    fn exec(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError>;
    /// Runs a query (already rewritten); its rows.
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError>;
    /// Runs statements without parameters (schema changes).
    fn batch(&mut self, sql: &str) -> Result<(), StoreError>;
    /// Starts a transaction that takes the write lock at once (SQLite's `IMMEDIATE`).
    fn begin(&mut self) -> Result<(), StoreError>;
}
