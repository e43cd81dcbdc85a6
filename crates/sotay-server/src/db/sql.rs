//! The one way the server's code speaks SQL, to either store: [`Conn`] runs a statement on
//! SQLite (rusqlite) or PostgreSQL (tokio-postgres, through the pool in [`super::postgres`])
//! with parameters as [`Value`]s and rows read by [`FromValue`]. The shared code writes its
//! SQL once, in the portable subset both engines read the same way (`?` or `?N`
//! placeholders, which PostgreSQL receives as `$N`; `ON CONFLICT … DO UPDATE`; `RETURNING`;
//! `CASE` rather than `IIF`; no boolean sums); what one engine says differently lives in that
//! engine's module ([`super::sqlite`], [`super::postgres`]), reached through [`Conn::sql`].
//!
//! On PostgreSQL a statement is run by blocking the calling thread on the driver's future
//! (the connections themselves run on the store's own runtime), so the store keeps one
//! synchronous interface that handlers reach through `AppState::blocking`, as with SQLite.

use std::borrow::Cow;

pub use super::value::{params, Dialect, Engine, FromValue, Params, ToValue, Value, ValueRef};
use super::{DbError, Result};

/// One row of a result.
pub struct Row<'a>(RowKind<'a>);

enum RowKind<'a> {
    Lite(&'a rusqlite::Row<'a>),
    Pg(&'a tokio_postgres::Row),
}

impl Row<'_> {
    /// The value of column `i` (from 0) as a `T`.
    pub fn get<T: FromValue>(&self, i: usize) -> Result<T> {
        let v = self.value(i)?;
        T::from_value(v).ok_or(DbError::Column(i, T::WANTED))
    }

    /// The text of column `i`, borrowed from the row.
    pub fn str(&self, i: usize) -> Result<&str> {
        match self.value(i)? {
            ValueRef::Text(s) => Ok(s),
            _ => Err(DbError::Column(i, "text")),
        }
    }

    /// How many columns the row has.
    pub fn len(&self) -> usize {
        match &self.0 {
            RowKind::Lite(r) => r.as_ref().column_count(),
            RowKind::Pg(r) => r.len(),
        }
    }

    /// True for a row without columns.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value of column `i`, borrowed.
    pub fn value(&self, i: usize) -> Result<ValueRef<'_>> {
        match &self.0 {
            RowKind::Lite(r) => Ok(match r.get_ref(i)? {
                rusqlite::types::ValueRef::Null => ValueRef::Null,
                rusqlite::types::ValueRef::Integer(n) => ValueRef::Int(n),
                rusqlite::types::ValueRef::Real(f) => ValueRef::Real(f),
                rusqlite::types::ValueRef::Text(t) => {
                    ValueRef::Text(std::str::from_utf8(t).map_err(|_| DbError::Column(i, "UTF-8 text"))?)
                }
                rusqlite::types::ValueRef::Blob(b) => ValueRef::Blob(b),
            }),
            RowKind::Pg(r) => super::postgres::value(r, i),
        }
    }
}

/// A connection (or the transaction open on it) to either store.
pub struct Conn<'a>(ConnKind<'a>);

enum ConnKind<'a> {
    Lite(&'a rusqlite::Connection),
    Pg(&'a super::postgres::PgConn),
}

impl<'a> Conn<'a> {
    pub(super) fn lite(c: &'a rusqlite::Connection) -> Conn<'a> {
        Conn(ConnKind::Lite(c))
    }

    pub(super) fn pg(c: &'a super::postgres::PgConn) -> Conn<'a> {
        Conn(ConnKind::Pg(c))
    }

    pub fn engine(&self) -> Engine {
        match self.0 {
            ConnKind::Lite(_) => Engine::Sqlite,
            ConnKind::Pg(_) => Engine::Postgres,
        }
    }

    /// The statements this engine says its own way.
    pub fn sql(&self) -> &'static Dialect {
        match self.0 {
            ConnKind::Lite(_) => &super::sqlite::SQL,
            ConnKind::Pg(_) => &super::postgres::SQL,
        }
    }

    /// Runs a statement; the number of rows it changed.
    pub fn execute(&self, sql: &str, params: impl Params) -> Result<usize> {
        let values = params.values();
        match self.0 {
            ConnKind::Lite(c) => {
                Ok(c.prepare_cached(sql)?.execute(rusqlite::params_from_iter(values.iter().map(Lite)))?)
            }
            ConnKind::Pg(c) => c.execute(&pg_sql(sql), &values),
        }
    }

    /// Runs statements separated by `;`, without parameters (schemas, `BEGIN`).
    pub fn batch(&self, sql: &str) -> Result<()> {
        match self.0 {
            ConnKind::Lite(c) => Ok(c.execute_batch(sql)?),
            ConnKind::Pg(c) => c.batch(sql),
        }
    }

    /// Calls `f` on each row, in order.
    pub fn for_each(&self, sql: &str, params: impl Params, mut f: impl FnMut(&Row) -> Result<()>) -> Result<()> {
        let values = params.values();
        match self.0 {
            ConnKind::Lite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                let mut rows = stmt.query(rusqlite::params_from_iter(values.iter().map(Lite)))?;
                while let Some(r) = rows.next()? {
                    f(&Row(RowKind::Lite(r)))?;
                }
                Ok(())
            }
            ConnKind::Pg(c) => {
                for r in c.query(&pg_sql(sql), &values)? {
                    f(&Row(RowKind::Pg(&r)))?;
                }
                Ok(())
            }
        }
    }

    /// Each row read by `f`.
    pub fn query_map<T>(&self, sql: &str, params: impl Params, mut f: impl FnMut(&Row) -> Result<T>) -> Result<Vec<T>> {
        let mut out = Vec::new();
        self.for_each(sql, params, |r| {
            out.push(f(r)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// The first row read by `f`, if there is one.
    /// (SQLite stops at that row; PostgreSQL's rows arrive whole.)
    pub fn query_opt<T>(&self, sql: &str, params: impl Params, f: impl FnOnce(&Row) -> Result<T>) -> Result<Option<T>> {
        let values = params.values();
        match self.0 {
            ConnKind::Lite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                let mut rows = stmt.query(rusqlite::params_from_iter(values.iter().map(Lite)))?;
                rows.next()?.map(|r| f(&Row(RowKind::Lite(r)))).transpose()
            }
            ConnKind::Pg(c) => c.query(&pg_sql(sql), &values)?.first().map(|r| f(&Row(RowKind::Pg(r)))).transpose(),
        }
    }

    /// The first row read by `f`; [`DbError::NoRow`] if there is none.
    pub fn query_row<T>(&self, sql: &str, params: impl Params, f: impl FnOnce(&Row) -> Result<T>) -> Result<T> {
        self.query_opt(sql, params, f)?.ok_or(DbError::NoRow)
    }

    /// The first column of the first row.
    pub fn one<T: FromValue>(&self, sql: &str, params: impl Params) -> Result<T> {
        self.query_row(sql, params, |r| r.get(0))
    }
}

/// A parameter as rusqlite binds it, borrowed: text and bytes are not copied again.
struct Lite<'a>(&'a Value);

impl rusqlite::ToSql for Lite<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::ValueRef as R;
        Ok(rusqlite::types::ToSqlOutput::Borrowed(match self.0 {
            Value::Null => R::Null,
            Value::Int(i) => R::Integer(*i),
            Value::Real(f) => R::Real(*f),
            Value::Text(s) => R::Text(s.as_bytes()),
            Value::Blob(b) => R::Blob(b),
        }))
    }
}

/// The statement with its placeholders as PostgreSQL numbers them: `?` becomes the next
/// `$N`, `?N` becomes `$N`. Text in quotes is left alone.
pub fn pg_sql(sql: &str) -> Cow<'_, str> {
    if !sql.contains('?') {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len() + 8);
    let mut next = 0;
    let mut chars = sql.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => {
                quote = None;
                out.push(c);
            }
            (Some(_), c) => out.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                out.push(c);
            }
            (None, '?') => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                if digits.is_empty() {
                    next += 1;
                    out.push_str(&format!("${next}"));
                } else {
                    next = next.max(digits.parse().unwrap_or(0));
                    out.push('$');
                    out.push_str(&digits);
                }
            }
            (None, c) => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_numbered() {
        assert_eq!(pg_sql("SELECT a FROM t WHERE b = ? AND c = ?"), "SELECT a FROM t WHERE b = $1 AND c = $2");
        assert_eq!(
            pg_sql("UPDATE t SET a = ?2 WHERE b = ?1 AND c = ?2"),
            "UPDATE t SET a = $2 WHERE b = $1 AND c = $2"
        );
        assert_eq!(pg_sql("SELECT '?' || ? FROM t"), "SELECT '?' || $1 FROM t");
        assert_eq!(pg_sql("SELECT 1"), "SELECT 1");
    }
}
