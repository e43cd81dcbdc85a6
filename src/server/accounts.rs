//! Office accounts, sessions and the audit log.
//!
//! Passwords are hashed with argon2 (the crate's default parameters, Argon2id). Repeated
//! wrong passwords lock the name for a time that doubles with each further failure. Failures
//! are counted per name typed, whether an account has that name or not, and a name is
//! answered alike either way (same answers, an argon2 check each time it is not locked), so
//! the lock-out does not tell which names exist. A name's failures are forgotten after a
//! successful login or [`FORGET_FAILURES_HOURS`] without a failure.
//! A session is a random 256-bit token in an HttpOnly cookie (only its SHA-256 is stored)
//! with its own CSRF token, and expires after [`SESSION_HOURS`].

use argon2::password_hash::rand_core::OsRng as PhOsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use rusqlite::{params, OptionalExtension};

use super::db::{token_hash, Result, ServerDb};

pub const SESSION_HOURS: i64 = 8;
/// Failures allowed before the name locks.
const FREE_FAILURES: i64 = 3;
/// Hours without a failure after which a name's failures are forgotten (this also bounds how
/// many names tried by guessers are kept).
pub const FORGET_FAILURES_HOURS: i64 = 24;

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A logged-in office user.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub username: String,
    pub commune: String,
    pub csrf: String,
}

/// Why a login failed, told alike for names with and without an account; `Locked` also says
/// when to try again.
#[derive(Debug, Clone, PartialEq)]
pub enum LoginError {
    Wrong,
    Locked { until: DateTime<Utc> },
}

fn random_hex() -> String {
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    hex::encode(raw)
}

impl ServerDb {
    /// Creates (or resets the password of) an office account for `commune`.
    pub fn put_account(&self, username: &str, password: &str, commune: &str, now: DateTime<Utc>) -> Result<()> {
        self.commune(commune)?;
        let salt = SaltString::generate(&mut PhOsRng);
        let hash = Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map_err(|_| super::db::DbError::Hash)?
            .to_string();
        self.conn().execute(
            "INSERT INTO accounts (username, password_hash, commune, created_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash,
                commune = excluded.commune",
            params![username, hash, commune, ts(now)],
        )?;
        self.conn().execute("DELETE FROM login_failures WHERE username = ?", [username])?;
        Ok(())
    }

    /// Checks a password; on success opens a session and returns (cookie token, session).
    pub fn login(
        &self,
        username: &str,
        password: &str,
        now: DateTime<Utc>,
    ) -> Result<std::result::Result<(String, Session), LoginError>> {
        // The name's failures, known account or not; old ones are forgotten first.
        let forget_before = ts(now - Duration::hours(FORGET_FAILURES_HOURS));
        self.conn().execute("DELETE FROM login_failures WHERE last_failure < ?", [&forget_before])?;
        let locked_until: Option<String> = self
            .conn()
            .query_row("SELECT locked_until FROM login_failures WHERE username = ?", [username], |r| r.get(0))
            .optional()?
            .flatten();
        if let Some(until) =
            locked_until.and_then(|s| DateTime::parse_from_rfc3339(&s).ok()).map(|t| t.with_timezone(&Utc))
        {
            if until > now {
                return Ok(Err(LoginError::Locked { until }));
            }
        }
        let found: Option<(String, String)> = self
            .conn()
            .query_row("SELECT password_hash, commune FROM accounts WHERE username = ?", [username], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        let ok = match &found {
            Some((hash, _)) => PasswordHash::new(hash)
                .map(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
                .unwrap_or(false),
            None => {
                // Spend the same effort as a real check, so timing does not reveal the name.
                let _ = Argon2::default().hash_password(password.as_bytes(), &SaltString::generate(&mut PhOsRng));
                false
            }
        };
        let Some((_, commune)) = found.filter(|_| ok) else {
            // Counted in SQL, so tries made at the same moment are all counted.
            let conn = self.conn();
            let failures: i64 = conn.query_row(
                "INSERT INTO login_failures (username, failures, last_failure) VALUES (?1, 1, ?2)
                 ON CONFLICT (username) DO UPDATE SET failures = failures + 1, last_failure = ?2
                 RETURNING failures",
                params![username, ts(now)],
                |r| r.get(0),
            )?;
            let locked = (failures >= FREE_FAILURES).then(|| {
                let secs = 30i64 << (failures - FREE_FAILURES).min(10);
                now + Duration::seconds(secs.min(3600))
            });
            conn.execute(
                "UPDATE login_failures SET locked_until = ? WHERE username = ?",
                params![locked.map(ts), username],
            )?;
            return Ok(Err(match locked {
                Some(until) => LoginError::Locked { until },
                None => LoginError::Wrong,
            }));
        };
        let token = random_hex();
        let csrf = random_hex();
        let conn = self.conn();
        conn.execute("DELETE FROM login_failures WHERE username = ?", [username])?;
        conn.execute("DELETE FROM sessions WHERE expires_at < ?", [ts(now)])?;
        conn.execute(
            "INSERT INTO sessions (token_hash, username, csrf, expires_at) VALUES (?, ?, ?, ?)",
            params![token_hash(&token), username, csrf, ts(now + Duration::hours(SESSION_HOURS))],
        )?;
        Ok(Ok((token, Session { username: username.to_owned(), commune, csrf })))
    }

    /// The live session behind a cookie token.
    pub fn session(&self, token: &str, now: DateTime<Utc>) -> Result<Option<Session>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT s.username, a.commune, s.csrf FROM sessions s JOIN accounts a ON a.username = s.username
                 WHERE s.token_hash = ? AND s.expires_at > ?",
                params![token_hash(token), ts(now)],
                |r| Ok(Session { username: r.get(0)?, commune: r.get(1)?, csrf: r.get(2)? }),
            )
            .optional()?)
    }

    pub fn logout(&self, token: &str) -> Result<()> {
        self.conn().execute("DELETE FROM sessions WHERE token_hash = ?", [token_hash(token)])?;
        Ok(())
    }

    /// Writes who did what, when. `detail` holds no personal data (counts, ids, codes).
    pub fn audit(&self, session: &Session, action: &str, detail: &str, now: DateTime<Utc>) -> Result<()> {
        self.conn().execute(
            "INSERT INTO audit_log (at, username, commune, action, detail) VALUES (?, ?, ?, ?, ?)",
            params![ts(now), session.username, session.commune, action, detail],
        )?;
        Ok(())
    }

    /// The newest audit entries of a commune: (time, user, action, detail).
    pub fn audit_log(&self, commune: &str, limit: usize) -> Result<Vec<(String, String, String, String)>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT at, username, action, detail FROM audit_log WHERE commune = ? ORDER BY seq DESC LIMIT ?",
        )?;
        let rows =
            stmt.query_map(params![commune, limit as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        rows.collect::<rusqlite::Result<_>>().map_err(Into::into)
    }
}
