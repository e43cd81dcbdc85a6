//! PostgreSQL, the province's store: a pool of connections (deadpool-postgres over
//! tokio-postgres) driven by the store's own small runtime, the statements PostgreSQL says
//! its own way ([`SQL`]), how its values become [`ValueRef`]s, and its schema
//! ([`super::pg_schema`]).
//!
//! The rest of the server is synchronous over [`Conn`]: a statement blocks its caller (a
//! `spawn_blocking` thread, the command line, a test) while this runtime does the I/O. A
//! pool with no free connection within its wait answers [`DbError::Busy`] (the API says 503
//! with Retry-After) rather than hanging; a connection PostgreSQL dropped (a restart) is
//! thrown away and a new one made at the next request.

use std::error::Error as StdError;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use rust_decimal::prelude::ToPrimitive;
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};

use super::value::{Dialect, Value, ValueRef};
use super::{DbError, Result};

/// The statements PostgreSQL says its own way.
pub static SQL: Dialect = Dialect {
    unretire_hamlets: "DELETE FROM retired_hamlets WHERE commune = $1
        AND id IN (SELECT h->>'id' FROM jsonb_array_elements(($2::text)::jsonb -> 'hamlets') AS h)",
};

/// The pool and the runtime its connections run on.
pub struct PgStore {
    pool: Pool,
    runtime: Option<tokio::runtime::Runtime>,
}

/// How the pool is sized and how long a request waits for a connection.
#[derive(Debug, Clone, Copy)]
pub struct PoolOptions {
    pub size: usize,
    pub wait: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions { size: 16, wait: Duration::from_secs(5) }
    }
}

impl PgStore {
    /// Connects to `url` (`postgres://user:password@host:port/database`); the first
    /// connection is made here, so a wrong address or password is said at once.
    pub fn connect(url: &str, options: PoolOptions) -> Result<PgStore> {
        let (url, root_cert) = take_param(url, "sslrootcert");
        let mut config: tokio_postgres::Config = url.parse().map_err(|_| DbError::Refused(
            "The PostgreSQL connection string could not be read: write it as postgres://user:password@host:port/database."
                .into(),
        ))?;
        let tls = tls(&mut config, root_cert.as_deref())?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sotay-postgres")
            .enable_all()
            .build()
            .map_err(|e| DbError::Refused(format!("Could not start the PostgreSQL client: {e}")))?;
        let manager_config = ManagerConfig { recycling_method: RecyclingMethod::Fast };
        let manager = match tls {
            Some(tls) => Manager::from_config(config, tls, manager_config),
            None => Manager::from_config(config, tokio_postgres::NoTls, manager_config),
        };
        let pool = {
            let _in = runtime.enter();
            Pool::builder(manager)
                .max_size(options.size.max(1))
                .wait_timeout(Some(options.wait))
                .create_timeout(Some(Duration::from_secs(10)))
                .recycle_timeout(Some(Duration::from_secs(5)))
                .runtime(deadpool_postgres::Runtime::Tokio1)
                .build()
                .map_err(|e| DbError::Refused(format!("Could not make the PostgreSQL pool: {e}")))?
        };
        let store = PgStore { pool, runtime: Some(runtime) };
        store.conn()?.batch("SELECT 1")?;
        Ok(store)
    }

    fn handle(&self) -> &tokio::runtime::Handle {
        self.runtime.as_ref().expect("the runtime lives as long as the store").handle()
    }

    /// A connection from the pool: [`DbError::Busy`] if none is free within the wait.
    pub fn conn(&self) -> Result<PgConn> {
        let handle = self.handle().clone();
        let client = block(&handle, self.pool.get()).map_err(|e| match e {
            deadpool_postgres::PoolError::Timeout(_) => DbError::Busy,
            // PostgreSQL said no (a wrong password, say): its error; it cannot be reached: unavailable.
            deadpool_postgres::PoolError::Backend(e) if e.as_db_error().is_some() => DbError::Pg(e),
            _ => DbError::Unavailable,
        })?;
        Ok(PgConn { client, handle })
    }

    /// How many connections the pool holds and how many are free (for the tests).
    pub fn pool_status(&self) -> (usize, usize) {
        let s = self.pool.status();
        (s.size, s.available)
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // Never blocks, so a store may be dropped anywhere (an async test, say).
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// The connection string without its `name=` parameter, and that parameter's value
/// (tokio-postgres refuses parameters it does not know, such as libpq's `sslrootcert`).
fn take_param(url: &str, name: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else { return (url.to_owned(), None) };
    let mut value = None;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|kv| match kv.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
            Some(v) => {
                value = Some(v.replace("%2F", "/").replace("%2f", "/"));
                false
            }
            None => true,
        })
        .collect();
    let url = if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) };
    (url, value)
}

/// How the connection is protected. PostgreSQL on this machine (127.0.0.1, ::1, `localhost`, a
/// Unix socket) is reached without TLS unless `sslmode=require` says otherwise; on any other
/// machine always with TLS and its certificate verified (against the Mozilla roots, or only
/// the CA in `sslrootcert=FILE`), whatever `sslmode` says but `disable` — the
/// eavesdropper on the way between the two machines reads nothing, and a strip-down to plain
/// text (what libpq's default `prefer` allows) is not possible.
fn tls(
    config: &mut tokio_postgres::Config,
    root_cert: Option<&str>,
) -> Result<Option<tokio_postgres_rustls::MakeRustlsConnect>> {
    use tokio_postgres::config::{Host, SslMode};
    let local = config.get_hosts().iter().all(|h| match h {
        Host::Tcp(name) => name == "localhost" || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback()),
        #[cfg(unix)]
        Host::Unix(_) => true,
    });
    let wanted = match config.get_ssl_mode() {
        SslMode::Disable => false,
        SslMode::Require => true,
        _ => !local,
    };
    if !wanted {
        config.ssl_mode(SslMode::Disable);
        return Ok(None);
    }
    config.ssl_mode(SslMode::Require);
    let mut roots = rustls::RootCertStore::empty();
    match root_cert {
        Some(path) => {
            use rustls_pki_types::pem::PemObject;
            let certs = rustls_pki_types::CertificateDer::pem_file_iter(path)
                .map_err(|_| DbError::Refused(format!("The CA file {path} (sslrootcert) could not be read.")))?;
            for cert in certs {
                let cert =
                    cert.map_err(|_| DbError::Refused(format!("The CA file {path} (sslrootcert) is not PEM.")))?;
                roots
                    .add(cert)
                    .map_err(|_| DbError::Refused(format!("The CA file {path} holds a bad certificate.")))?;
            }
        }
        None => roots.extend(webpki_roots_store()),
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|_| DbError::Refused("TLS could not be set up.".into()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Some(tokio_postgres_rustls::MakeRustlsConnect::new(client)))
}

/// The Mozilla roots (from webpki-roots, through tokio-postgres-rustls).
fn webpki_roots_store() -> Vec<rustls_pki_types::TrustAnchor<'static>> {
    webpki_roots::TLS_SERVER_ROOTS.to_vec()
}

/// Waits for `f` on the calling thread while the store's runtime does the I/O. Out of
/// tokio's cooperative budget: called from a task of another runtime (an async test), the
/// budget of that task would run out after some hundred statements and every pool or
/// statement-cache wait would then answer "not yet" forever.
fn block<F: std::future::Future>(handle: &tokio::runtime::Handle, f: F) -> F::Output {
    let _in = handle.enter();
    futures_executor::block_on(tokio::task::unconstrained(f))
}

/// One connection taken from the pool (given back when dropped).
pub struct PgConn {
    client: deadpool_postgres::Object,
    handle: tokio::runtime::Handle,
}

impl PgConn {
    fn params(values: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
        values.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
    }

    pub(super) fn execute(&self, sql: &str, values: &[Value]) -> Result<usize> {
        block(&self.handle, async {
            let stmt = self.client.prepare_cached(sql).await?;
            Ok(self.client.execute(&stmt, &Self::params(values)).await? as usize)
        })
        .map_err(closed)
    }

    pub(super) fn query(&self, sql: &str, values: &[Value]) -> Result<Vec<tokio_postgres::Row>> {
        block(&self.handle, async {
            let stmt = self.client.prepare_cached(sql).await?;
            Ok(self.client.query(&stmt, &Self::params(values)).await?)
        })
        .map_err(closed)
    }

    pub(super) fn batch(&self, sql: &str) -> Result<()> {
        block(&self.handle, async { Ok(self.client.batch_execute(sql).await?) }).map_err(closed)
    }
}

/// A connection PostgreSQL closed (a restart, a failover) is the database being unavailable
/// for a moment: the pool replaces it at the next request.
fn closed(e: DbError) -> DbError {
    match e {
        DbError::Pg(e) if e.is_closed() => DbError::Unavailable,
        e => e,
    }
}

/// True for an error after which the whole transaction may simply be tried again: a
/// serialization failure or a deadlock PostgreSQL broke.
pub(super) fn retryable(e: &DbError) -> bool {
    use tokio_postgres::error::SqlState;
    matches!(e, DbError::Pg(e) if e.code() == Some(&SqlState::T_R_SERIALIZATION_FAILURE)
        || e.code() == Some(&SqlState::T_R_DEADLOCK_DETECTED))
}

/// Column `i` of a PostgreSQL row as a [`ValueRef`].
pub(super) fn value(r: &tokio_postgres::Row, i: usize) -> Result<ValueRef<'_>> {
    let ty = r.columns().get(i).ok_or(DbError::Column(i, "a column"))?.type_();
    let v = match *ty {
        Type::INT8 => r.try_get::<_, Option<i64>>(i)?.map(ValueRef::Int),
        Type::INT4 => r.try_get::<_, Option<i32>>(i)?.map(|n| ValueRef::Int(n.into())),
        Type::INT2 => r.try_get::<_, Option<i16>>(i)?.map(|n| ValueRef::Int(n.into())),
        Type::BOOL => r.try_get::<_, Option<bool>>(i)?.map(|b| ValueRef::Int(b.into())),
        Type::FLOAT8 => r.try_get::<_, Option<f64>>(i)?.map(ValueRef::Real),
        Type::FLOAT4 => r.try_get::<_, Option<f32>>(i)?.map(|f| ValueRef::Real(f.into())),
        // Sums of integers are NUMERIC in PostgreSQL.
        Type::NUMERIC => r.try_get::<_, Option<rust_decimal::Decimal>>(i)?.map(|d| {
            if d.fract().is_zero() {
                d.to_i64().map_or(ValueRef::Real(d.to_f64().unwrap_or(f64::NAN)), ValueRef::Int)
            } else {
                ValueRef::Real(d.to_f64().unwrap_or(f64::NAN))
            }
        }),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
            r.try_get::<_, Option<&str>>(i)?.map(ValueRef::Text)
        }
        Type::BYTEA => r.try_get::<_, Option<&[u8]>>(i)?.map(ValueRef::Blob),
        _ => return Err(DbError::Column(i, "a type the server reads")),
    };
    Ok(v.unwrap_or(ValueRef::Null))
}

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(n) => match *ty {
                Type::INT8 => n.to_sql(ty, out),
                Type::INT4 => i32::try_from(*n)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*n)?.to_sql(ty, out),
                Type::BOOL => (*n != 0).to_sql(ty, out),
                Type::FLOAT8 => (*n as f64).to_sql(ty, out),
                Type::NUMERIC => rust_decimal::Decimal::from(*n).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR => n.to_string().as_str().to_sql(ty, out),
                _ => Err(format!("an integer cannot be sent as {ty}").into()),
            },
            Value::Real(f) => match *ty {
                Type::FLOAT8 => f.to_sql(ty, out),
                Type::FLOAT4 => (*f as f32).to_sql(ty, out),
                _ => Err(format!("a number cannot be sent as {ty}").into()),
            },
            Value::Text(s) => s.as_str().to_sql(ty, out),
            Value::Blob(b) => b.as_slice().to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}
