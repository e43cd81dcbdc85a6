//! Office accounts, sessions and the audit log.
//!
//! Passwords are hashed with argon2 (the crate's default parameters, Argon2id). Repeated
//! wrong passwords lock the name for a time that doubles with each further failure. Failures
//! are counted per name typed, whether an account has that name or not, and a name is
//! answered alike either way (same answers, an argon2 check each time it is not locked), so
//! the lock-out does not tell which names exist. A name's failures are forgotten after a
//! successful login or [`FORGET_FAILURES_HOURS`] without a failure.
//!
//! A login is counted as failed *before* its password is checked ([`ServerDb::begin_login`]),
//! and the success undoes it ([`ServerDb::finish_login`]): tries made at the same moment for
//! one name see each other, so no more than [`FREE_FAILURES`] of them reach the slow check.
//! Names longer than [`MAX_USERNAME_CHARS`] are refused before anything is stored.
//!
//! The audit log holds every login, failed login and office change, and the actions of the
//! command line and of devices enrolling (with the actors [`ACTOR_CLI`] and
//! [`ACTOR_DEVICE`]). A failed login for a name that has no account is written without the
//! name typed (it could be a password typed in the wrong box) and for no commune: every
//! commune's audit page shows those entries.
//! A session is a random 256-bit token in an HttpOnly cookie (only its SHA-256 is stored)
//! with its own CSRF token, and expires after [`SESSION_HOURS`].

use std::cell::RefCell;

use argon2::password_hash::rand_core::OsRng as PhOsRng;
use argon2::password_hash::{Output, PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;

use super::db::sql::{params, Conn};
use super::db::{token_hash, Result, ServerDb};

pub const SESSION_HOURS: i64 = 8;
/// Failures allowed before the name locks.
pub const FREE_FAILURES: i64 = 3;
/// Longest user name an account may have and the login form takes.
pub const MAX_USERNAME_CHARS: usize = 64;
/// Longest password the login form takes (argon2 reads all of it).
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Who the audit log names for what the command line did, for a device's enrolment, and for
/// a failed login with a name that has no account.
pub const ACTOR_CLI: &str = "(command line)";
pub const ACTOR_DEVICE: &str = "(device)";
pub const ACTOR_UNKNOWN: &str = "(no such account)";
/// Hours without a failure after which a name's failures are forgotten (this also bounds how
/// many names tried by guessers are kept).
pub const FORGET_FAILURES_HOURS: i64 = 24;

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A logged-in office user: of a commune, or (with `province`) of every commune of a
/// province, when `commune` is empty, or (with `unit`) of one unit of the commune.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub username: String,
    pub commune: String,
    pub csrf: String,
    pub province: Option<String>,
    /// A unit account's unit (`db::units`): it sees that unit's report only.
    pub unit: Option<i64>,
}

impl Session {
    /// What the audit log files this user's actions under: the commune, or `province:51`.
    pub fn audit_scope(&self) -> String {
        match &self.province {
            Some(p) => province_scope(p),
            None => self.commune.clone(),
        }
    }
}

/// The audit log's name for a province's entries.
pub fn province_scope(province: &str) -> String {
    format!("province:{province}")
}

/// What an office account may see: one commune, every commune of one province, or one unit
/// of a commune (its own report).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Commune(String),
    Province(String),
    Unit { commune: String, unit: i64 },
}

/// An office account as `admin list` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountRow {
    pub username: String,
    pub scope: Scope,
    pub created_at: String,
    pub disabled: bool,
}

/// Why a login failed, told alike for names with and without an account; `Locked` also says
/// when to try again.
#[derive(Debug, Clone, PartialEq)]
pub enum LoginError {
    Wrong,
    Locked { until: DateTime<Utc> },
}

/// A login under way: already counted as a failure, with what its password is checked
/// against. [`ServerDb::finish_login`] settles it.
pub struct LoginAttempt {
    username: String,
    /// The account's password hash and commune, if the name has an account.
    account: Option<(String, String)>,
    /// The lock this attempt brings if its password is wrong.
    locks_until: Option<DateTime<Utc>>,
}

impl LoginAttempt {
    /// Checks the password with argon2: slow and about 19 MiB of memory, so callers bound how
    /// many run at once. A name without an account costs the same, so timing tells nothing.
    pub fn verify(&self, password: &str) -> bool {
        match &self.account {
            Some((hash, _)) => PasswordHash::new(hash).is_ok_and(|h| argon2_verify(password.as_bytes(), &h)),
            None => {
                let mut salt = [0u8; 16];
                rand::rngs::OsRng.fill_bytes(&mut salt);
                let mut out = [0u8; 32];
                let _ = with_argon2_memory(Params::default().block_count(), |memory| {
                    Argon2::default().hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, memory)
                });
                false
            }
        }
    }
}

fn random_hex() -> String {
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    hex::encode(raw)
}

/// Largest argon2 memory a stored hash may ask for (KiB): four times the default, so that
/// a tampered hash cannot make a check take gigabytes.
const MAX_M_COST: u32 = 4 * Params::DEFAULT_M_COST;

thread_local! {
    /// This thread's argon2 working memory, kept from one check to the next. Allocated anew
    /// for every check (as `Argon2::verify_password` does), glibc's heap grew by the whole
    /// 19 MiB each time on the same thread (the blocks are 64-byte aligned, which defeats
    /// reuse of the freed ones): a leak of 19 MiB per login, measured.
    static ARGON2_MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Runs `work` with this thread's argon2 memory, grown to `blocks` blocks if it is smaller.
fn with_argon2_memory<T>(blocks: usize, work: impl FnOnce(&mut [Block]) -> T) -> T {
    ARGON2_MEMORY.with(|memory| {
        let mut memory = memory.borrow_mut();
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        work(&mut memory[..blocks])
    })
}

/// `PasswordVerifier::verify_password` of the argon2 crate, step for step (the stored
/// hash's algorithm, version and parameters, the output compared in constant time by
/// `password_hash::Output`), but on this thread's kept memory.
fn argon2_verify(password: &[u8], stored: &PasswordHash<'_>) -> bool {
    let (Some(salt), Some(expected)) = (&stored.salt, &stored.hash) else { return false };
    let Ok(algorithm) = Algorithm::try_from(stored.algorithm) else { return false };
    let Ok(version) = stored.version.map(Version::try_from).transpose() else { return false };
    let Ok(params) = Params::try_from(stored) else { return false };
    if params.m_cost() > MAX_M_COST {
        return false;
    }
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else { return false };
    let argon2 = Argon2::new(algorithm, version.unwrap_or_default(), params.clone());
    let computed = with_argon2_memory(params.block_count(), |memory| {
        Output::init_with(expected.len(), |out| {
            argon2.hash_password_into_with_memory(password, salt, out, memory).map_err(Into::into)
        })
    });
    computed.is_ok_and(|c| c == *expected)
}

impl ServerDb {
    /// Creates (or resets the password of) an office account for `commune`.
    pub fn put_account(&self, username: &str, password: &str, commune: &str, now: DateTime<Utc>) -> Result<()> {
        self.put_account_for(username, password, &Scope::Commune(commune.to_owned()), now)
    }

    /// Creates (or resets the password and scope of, enabling again) an office account for a
    /// commune on this server or for a province (two digits) of the list of units.
    pub fn put_account_for(&self, username: &str, password: &str, scope: &Scope, now: DateTime<Utc>) -> Result<()> {
        let (commune, province, unit) = match scope {
            Scope::Commune(c) => {
                self.commune(c)?;
                (c.as_str(), None, None)
            }
            Scope::Province(p) => ("", Some(p.as_str()), None),
            Scope::Unit { commune, unit } => {
                self.unit(commune, *unit)?.ok_or_else(|| super::db::DbError::Refused("no such unit".into()))?;
                (commune.as_str(), None, Some(*unit))
            }
        };
        let salt = SaltString::generate(&mut PhOsRng);
        let hash = Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map_err(|_| super::db::DbError::Hash)?
            .to_string();
        self.write(|tx| {
            tx.execute(
                "INSERT INTO accounts (username, password_hash, commune, created_at, province, unit) VALUES (?, ?, ?, ?, ?, ?)
                 ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash,
                    commune = excluded.commune, province = excluded.province, unit = excluded.unit, disabled_at = NULL",
                params![username, hash, commune, ts(now), province, unit],
            )?;
            tx.execute("DELETE FROM login_failures WHERE username = ?", [username])?;
            Ok(())
        })
    }

    /// Disables an account: its sessions end and it can no longer log in (`admin add` with
    /// the same name enables it again with a new password). `false` for no such account.
    pub fn disable_account(&self, username: &str, now: DateTime<Utc>) -> Result<bool> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE accounts SET disabled_at = ? WHERE username = ? AND disabled_at IS NULL",
                params![ts(now), username],
            )?;
            tx.execute("DELETE FROM sessions WHERE username = ?", [username])?;
            Ok(n > 0)
        })
    }

    /// Every office account, by name.
    pub fn accounts(&self) -> Result<Vec<AccountRow>> {
        self.read(|c| {
            c.query_map(
                "SELECT username, commune, province, created_at, disabled_at IS NOT NULL, unit FROM accounts
                 ORDER BY username",
                (),
                |r| {
                    let province: Option<String> = r.get(2)?;
                    let unit: Option<i64> = r.get(5)?;
                    Ok(AccountRow {
                        username: r.get(0)?,
                        scope: match (province, unit) {
                            (Some(p), _) => Scope::Province(p),
                            (None, Some(unit)) => Scope::Unit { commune: r.get(1)?, unit },
                            (None, None) => Scope::Commune(r.get(1)?),
                        },
                        created_at: r.get(3)?,
                        disabled: r.get(4)?,
                    })
                },
            )
        })
    }

    /// Checks a password; on success opens a session and returns (cookie token, session).
    /// The steps a server takes one by one, to bound the checks in between.
    pub fn login(
        &self,
        username: &str,
        password: &str,
        now: DateTime<Utc>,
    ) -> Result<std::result::Result<(String, Session), LoginError>> {
        match self.begin_login(username, now)? {
            Err(locked) => Ok(Err(locked)),
            Ok(attempt) => {
                let ok = attempt.verify(password);
                self.finish_login(attempt, ok, now)
            }
        }
    }

    /// Starts a login for `username`: refused at once while the name is locked; otherwise
    /// counted as a failure now (so that tries at the same moment see it) and returned, with
    /// the stored hash, for [`LoginAttempt::verify`].
    pub fn begin_login(
        &self,
        username: &str,
        now: DateTime<Utc>,
    ) -> Result<std::result::Result<LoginAttempt, LoginError>> {
        // The name's failures, known account or not; old ones are forgotten first.
        let forget_before = ts(now - Duration::hours(FORGET_FAILURES_HOURS));
        self.write(|tx| {
            tx.execute("DELETE FROM login_failures WHERE last_failure < ?", [&forget_before])?;
            // The name's row is taken first (made if new, unchanged if not), so that tries at
            // the same moment for one name take turns from here on PostgreSQL too, each seeing
            // the lock and the count the one before it left (SQLite has one writer anyway).
            tx.execute(
                "INSERT INTO login_failures (username, failures, last_failure) VALUES (?1, 0, ?2)
                 ON CONFLICT (username) DO UPDATE SET failures = login_failures.failures",
                params![username, ts(now)],
            )?;
            // A disabled account is answered as a name without one.
            let account: Option<(String, String)> = tx.query_opt(
                "SELECT password_hash, CASE WHEN province IS NULL THEN commune ELSE 'province:' || province END
                 FROM accounts WHERE username = ? AND disabled_at IS NULL",
                [username],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            // Read with the name's row locked (an upsert that changes nothing), so a try at the
            // same moment on another connection waits for this one and sees the lock it sets.
            let locked_until: Option<String> = tx.one(
                "INSERT INTO login_failures (username, failures, last_failure) VALUES (?1, 0, ?2)
                 ON CONFLICT (username) DO UPDATE SET failures = login_failures.failures
                 RETURNING locked_until",
                params![username, ts(now)],
            )?;
            if let Some(until) =
                locked_until.and_then(|s| DateTime::parse_from_rfc3339(&s).ok()).map(|t| t.with_timezone(&Utc))
            {
                if until > now {
                    audit_failure(tx, username, account.as_ref(), "locked", now)?;
                    return Ok(Err(LoginError::Locked { until }));
                }
            }
            // Counted in SQL, so tries made at the same moment are all counted.
            let failures: i64 = tx.one(
                "INSERT INTO login_failures (username, failures, last_failure) VALUES (?1, 1, ?2)
                 ON CONFLICT (username) DO UPDATE SET failures = login_failures.failures + 1, last_failure = ?2
                 RETURNING failures",
                params![username, ts(now)],
            )?;
            let locks_until = (failures >= FREE_FAILURES).then(|| {
                let secs = 30i64 << (failures - FREE_FAILURES).min(10);
                now + Duration::seconds(secs.min(3600))
            });
            tx.execute(
                "UPDATE login_failures SET locked_until = ? WHERE username = ?",
                params![locks_until.map(ts), username],
            )?;
            Ok(Ok(LoginAttempt { username: username.to_owned(), account, locks_until }))
        })
    }

    /// Settles a login whose password was checked: a failure stays counted (and is audited);
    /// a success forgets the name's failures and opens a session.
    pub fn finish_login(
        &self,
        attempt: LoginAttempt,
        ok: bool,
        now: DateTime<Utc>,
    ) -> Result<std::result::Result<(String, Session), LoginError>> {
        let LoginAttempt { username, account, locks_until } = attempt;
        let Some((_, scope)) = account.as_ref().filter(|_| ok) else {
            self.write(|tx| audit_failure(tx, &username, account.as_ref(), "wrong password", now))?;
            return Ok(Err(match locks_until {
                Some(until) => LoginError::Locked { until },
                None => LoginError::Wrong,
            }));
        };
        let token = random_hex();
        let csrf = random_hex();
        let unit: Option<i64> = self.write(|tx| {
            tx.execute("DELETE FROM login_failures WHERE username = ?", [&username])?;
            tx.execute("DELETE FROM sessions WHERE expires_at < ?", [ts(now)])?;
            tx.execute(
                "INSERT INTO sessions (token_hash, username, csrf, expires_at) VALUES (?, ?, ?, ?)",
                params![token_hash(&token), username, csrf, ts(now + Duration::hours(SESSION_HOURS))],
            )?;
            write_audit(tx, &username, scope, "login", "", now)?;
            tx.one("SELECT unit FROM accounts WHERE username = ?", [&username])
        })?;
        let (commune, province) = match scope.strip_prefix("province:") {
            Some(p) => (String::new(), Some(p.to_owned())),
            None => (scope.clone(), None),
        };
        Ok(Ok((token, Session { username, commune, csrf, province, unit })))
    }

    /// The live session behind a cookie token.
    pub fn session(&self, token: &str, now: DateTime<Utc>) -> Result<Option<Session>> {
        self.read(|c| {
            c.query_opt(
                "SELECT s.username, a.commune, s.csrf, a.province, a.unit FROM sessions s JOIN accounts a ON a.username = s.username
                 WHERE s.token_hash = ? AND s.expires_at > ? AND a.disabled_at IS NULL",
                params![token_hash(token), ts(now)],
                |r| {
                    Ok(Session {
                        username: r.get(0)?,
                        commune: r.get(1)?,
                        csrf: r.get(2)?,
                        province: r.get(3)?,
                        unit: r.get(4)?,
                    })
                },
            )
        })
    }

    pub fn logout(&self, token: &str) -> Result<()> {
        self.write(|tx| tx.execute("DELETE FROM sessions WHERE token_hash = ?", [token_hash(token)]))?;
        Ok(())
    }

    /// Writes who did what, when. `detail` holds no personal data (counts, ids, codes).
    pub fn audit(&self, session: &Session, action: &str, detail: &str, now: DateTime<Utc>) -> Result<()> {
        self.audit_as(&session.username, &session.audit_scope(), action, detail, now)
    }

    /// Writes an audit entry for an actor that has no session (the command line, a device).
    pub fn audit_as(&self, actor: &str, commune: &str, action: &str, detail: &str, now: DateTime<Utc>) -> Result<()> {
        self.write(|tx| write_audit(tx, actor, commune, action, detail, now))
    }

    /// The newest audit entries of a commune, with the ones of no commune (failed logins with
    /// a name that has no account): (time, user, action, detail).
    pub fn audit_log(&self, commune: &str, limit: usize) -> Result<Vec<(String, String, String, String)>> {
        self.read(|c| {
            c.query_map(
                "SELECT at, username, action, detail FROM audit_log WHERE commune IN (?, '') ORDER BY seq DESC LIMIT ?",
                params![commune, limit as i64],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
        })
    }
}

fn write_audit(conn: &Conn, actor: &str, commune: &str, action: &str, detail: &str, now: DateTime<Utc>) -> Result<()> {
    conn.execute(
        "INSERT INTO audit_log (at, username, commune, action, detail) VALUES (?, ?, ?, ?, ?)",
        params![ts(now), actor, commune, action, detail],
    )?;
    Ok(())
}

/// A failed login in the audit log: under the account's name and commune, or, for a name
/// that has no account, without the name typed and for no commune.
fn audit_failure(
    conn: &Conn,
    username: &str,
    account: Option<&(String, String)>,
    why: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    match account {
        Some((_, commune)) => write_audit(conn, username, commune, "login.failed", why, now),
        None => write_audit(conn, ACTOR_UNKNOWN, "", "login.failed", why, now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rss_mib() -> u64 {
        let s = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = s.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() / 1024
    }

    #[test]
    fn the_kept_memory_check_agrees_with_the_argon2_crates_own_verifier() {
        use argon2::password_hash::PasswordVerifier;
        let salt = SaltString::generate(&mut PhOsRng);
        let stored = Argon2::default().hash_password(b"Kon Braih 20/11!", &salt).unwrap().to_string();
        let stored = PasswordHash::new(&stored).unwrap();
        for typed in ["Kon Braih 20/11!", "Kon Braih 20/11", "", "kon braih 20/11!"] {
            let crate_says = Argon2::default().verify_password(typed.as_bytes(), &stored).is_ok();
            assert_eq!(argon2_verify(typed.as_bytes(), &stored), crate_says, "{typed:?}");
        }
        // Another algorithm and other parameters, as read from the stored string.
        let params = Params::new(8 * 1024, 3, 1, Some(24)).unwrap();
        let other = Argon2::new(Algorithm::Argon2i, Version::V0x10, params);
        let stored = other.hash_password(b"mat khau", &salt).unwrap().to_string();
        let stored = PasswordHash::new(&stored).unwrap();
        assert!(argon2_verify(b"mat khau", &stored));
        assert!(!argon2_verify(b"mat khau!", &stored));
    }

    const MEMORY_CHILD: &str = "SOTAY_ARGON2_MEMORY_CHILD";

    /// In a normal run this does nothing. As the child of the test below (alone in its
    /// process, so no other test's memory is counted), it checks passwords on one thread and
    /// prints how much the process grew.
    #[test]
    #[cfg(target_os = "linux")]
    fn argon2_memory_child() {
        if std::env::var_os(MEMORY_CHILD).is_none() {
            return;
        }
        let salt = SaltString::generate(&mut PhOsRng);
        let stored = Argon2::default().hash_password(b"mat khau", &salt).unwrap().to_string();
        let attempt =
            LoginAttempt { username: "canbo".into(), account: Some((stored, "23497".into())), locks_until: None };
        let unknown = LoginAttempt { username: "ai".into(), account: None, locks_until: None };
        assert!(attempt.verify("mat khau"));
        let before = rss_mib();
        for _ in 0..8 {
            assert!(!attempt.verify("sai"));
            assert!(!unknown.verify("sai"));
        }
        println!("GREW {}", rss_mib().saturating_sub(before));
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn checks_on_one_thread_reuse_its_memory_instead_of_growing_by_19_mib_each() {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "accounts::tests::argon2_memory_child", "--nocapture", "--test-threads=1"])
            .env(MEMORY_CHILD, "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let grown: u64 = text
            .split_once("GREW ")
            .and_then(|(_, n)| n.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no figure from the child: {text}"));
        // With the crate's own `verify_password` for the known name, it grew by 171 MiB.
        assert!(grown < 19, "16 checks grew the memory by {grown} MiB");
    }
}
