//! The communes a server keeps: a real one added from the list of units ([`crate::units`])
//! or by name, the demo commune and its removal with everything in it, the province each
//! belongs to (the province level groups communes by it), and hamlets retired by the office.
//!
//! A retired hamlet leaves the reference data, so devices drop it at their next pull and the
//! coverage report no longer counts it; the server keeps it in `retired_hamlets` so that
//! its records keep its name, and records a device made there before still arrive (nothing
//! is lost). Giving the hamlet back (an import with its id) brings it into use again.
//!
//! SQL for these lives here, beside `db`, `accounts` and `reports`.

use super::sql::{params, Conn};
use super::{log_change_for, DbError, Result, ServerDb};
use crate::domain::{Commune, Hamlet, ReferenceData};
use crate::protocol::Change;
use chrono::{DateTime, Utc};

/// The certificate providers a new commune offers (the office changes the list).
pub const DEFAULT_PROVIDERS: [&str; 5] = ["VNPT-CA", "Viettel-CA", "MISA eSign", "FPT-CA", "BKAV-CA"];

/// A commune as `commune list` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct CommuneRow {
    pub code: String,
    pub name: String,
    /// The province's code (two digits), or empty when unknown.
    pub province: String,
    pub demo: bool,
    pub hamlets: usize,
    pub devices: i64,
    pub records: i64,
    /// The newest sync of any of its devices (RFC 3339), if any.
    pub last_sync: Option<String>,
}

/// What removing the demo commune took with it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Removed {
    pub code: String,
    pub records: usize,
    pub devices: usize,
    pub accounts: usize,
}

/// A new commune's reference data: no hamlet or volunteer yet, the default providers, the
/// 50% target.
pub fn new_reference(code: &str, name: &str, province_name: &str) -> ReferenceData {
    ReferenceData {
        commune: Commune {
            code: code.to_owned(),
            name: name.to_owned(),
            province: crate::units::short_province(province_name).to_owned(),
            target_percent: 50,
            sample: false,
        },
        hamlets: Vec::new(),
        volunteers: Vec::new(),
        providers: DEFAULT_PROVIDERS.iter().map(|p| p.to_string()).collect(),
    }
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Gives every commune without a province the one the list of units names for its code
/// (migration 8). A commune whose code is not in the list keeps an empty province.
pub(crate) fn fill_provinces(tx: &Conn) -> Result<()> {
    let codes: Vec<String> = tx.query_map("SELECT code FROM communes WHERE province = ''", (), |r| r.get(0))?;
    for code in codes {
        if let Some(u) = crate::units::unit(&code) {
            tx.execute("UPDATE communes SET province = ? WHERE code = ?", params![u.province_code, code])?;
        }
    }
    Ok(())
}

impl ServerDb {
    /// Adds a new commune in `province` (two digits); refused if the code is taken (by the
    /// demo too: remove it first). Its hashing key is made in the key file first.
    pub fn add_commune(&self, reference: &ReferenceData, province: &str, demo: bool) -> Result<()> {
        let code = reference.commune.code.clone();
        if let Some(was_demo) = self.commune_is_demo(&code)? {
            return Err(DbError::Refused(if was_demo {
                format!(
                    "the demo commune uses the code {code}: remove it first with `sotay-server commune remove-demo`"
                )
            } else {
                format!("commune {code} is already on this server (`sotay-server commune list`)")
            }));
        }
        // A key left by a commune removed earlier is not reused: the new commune hashes anew.
        self.keys_mut().forget(&code)?;
        self.put_commune(reference)?;
        self.write_in(&code, |tx| {
            tx.execute("UPDATE communes SET province = ?, demo = ? WHERE code = ?", params![province, demo, code])?;
            Ok(())
        })
    }

    /// `Some(demo?)` for a commune on this server, `None` for none.
    pub fn commune_is_demo(&self, code: &str) -> Result<Option<bool>> {
        self.read(|c| c.query_opt("SELECT demo FROM communes WHERE code = ?", [code], |r| r.get(0)))
    }

    /// The province of a commune (two digits; empty when unknown), `None` for no commune.
    pub fn province_of(&self, commune: &str) -> Result<Option<String>> {
        self.read(|c| c.query_opt("SELECT province FROM communes WHERE code = ?", [commune], |r| r.get(0)))
    }

    /// Every commune with its counts, by code; only `province`'s when given.
    /// The codes of a province's communes, in order: what the province's coverage table walks
    /// (without the counts of [`ServerDb::commune_list`], which read every record).
    pub fn province_commune_codes(&self, province: &str) -> Result<Vec<String>> {
        self.read(|c| {
            c.query_map("SELECT code FROM communes WHERE province = ? ORDER BY code", [province], |r| r.get(0))
        })
    }

    pub fn commune_list(&self, province: Option<&str>) -> Result<Vec<CommuneRow>> {
        self.read(|c| {
            c.query_map(
                "SELECT c.code, c.reference, c.province, c.demo,
                    (SELECT COUNT(*) FROM devices d WHERE d.commune = c.code AND d.revoked_at IS NULL),
                    (SELECT COUNT(*) FROM records r WHERE r.commune = c.code),
                    (SELECT MAX(last_seen) FROM devices d WHERE d.commune = c.code)
                 FROM communes c WHERE CAST(?1 AS TEXT) IS NULL OR c.province = ?1 ORDER BY c.code",
                [province],
                |r| {
                    let reference: ReferenceData = serde_json::from_str(r.str(1)?)?;
                    Ok(CommuneRow {
                        code: r.get(0)?,
                        name: reference.commune.name,
                        province: r.get(2)?,
                        demo: r.get(3)?,
                        hamlets: reference.hamlets.len(),
                        devices: r.get(4)?,
                        records: r.get(5)?,
                        last_sync: r.get(6)?,
                    })
                },
            )
        })
    }

    /// The demo commune's code, if the server has one.
    pub fn demo_commune(&self) -> Result<Option<String>> {
        self.read(|c| c.query_opt("SELECT code FROM communes WHERE demo = 1", (), |r| r.get(0)))
    }

    /// Removes the demo commune with everything in it: its records and their history, the
    /// report totals, devices (whose tokens stop working), enrolment codes, office accounts
    /// and their sessions, the change log, and its hashing key. The audit log keeps its
    /// entries (what was done stays known), and the removal is written to it for no commune.
    pub fn remove_demo(&self, actor: &str, now: DateTime<Utc>) -> Result<Option<Removed>> {
        let Some(code) = self.demo_commune()? else { return Ok(None) };
        let removed = self.write_in(&code, |tx| remove_demo_in(tx, &code, actor, now))?;
        self.checkpoint()?;
        self.keys_mut().forget(&code)?;
        Ok(Some(removed))
    }

    /// Retires a hamlet: out of the reference data (devices drop it at their next pull, and
    /// coverage no longer counts it), kept in `retired_hamlets` for its records' sake.
    /// Volunteers of that hamlet keep their place with no hamlet set. `false` when the
    /// commune has no such hamlet in use.
    pub fn retire_hamlet(&self, commune: &str, id: &str, now: DateTime<Utc>) -> Result<bool> {
        self.write_in(commune, |tx| retire_hamlet_in(tx, commune, id, now))
    }

    /// The commune's retired hamlets with when each was retired, by id.
    pub fn retired_hamlets(&self, commune: &str) -> Result<Vec<(Hamlet, String)>> {
        self.read(|c| retired_hamlets(c, commune))
    }
}

/// [`ServerDb::remove_demo`] in its transaction.
fn remove_demo_in(tx: &Conn, code: &str, actor: &str, now: DateTime<Utc>) -> Result<Removed> {
    let count = |sql: &str| tx.one::<i64>(sql, [code]).map(|n| n as usize);
    let removed = Removed {
        code: code.to_owned(),
        records: count("SELECT COUNT(*) FROM records WHERE commune = ?")?,
        devices: count("SELECT COUNT(*) FROM devices WHERE commune = ?")?,
        accounts: count("SELECT COUNT(*) FROM accounts WHERE commune = ?")?,
    };
    for sql in [
        "DELETE FROM record_history WHERE id IN (SELECT id FROM records WHERE commune = ?1)",
        "DELETE FROM coverage_people WHERE person IN (SELECT id FROM people WHERE commune = ?1)",
        "DELETE FROM people_days WHERE commune = ?1",
        "DELETE FROM people WHERE commune = ?1",
        "DELETE FROM records WHERE commune = ?1",
        "DELETE FROM activity_days WHERE commune = ?1",
        "DELETE FROM activity_choices WHERE commune = ?1",
        "DELETE FROM coverage_hamlets WHERE commune = ?1",
        "DELETE FROM erased_people WHERE commune = ?1",
        "DELETE FROM retired_hamlets WHERE commune = ?1",
        "DELETE FROM change_log WHERE commune = ?1",
        "DELETE FROM device_volunteers WHERE device_id IN (SELECT id FROM devices WHERE commune = ?1)",
        "DELETE FROM enrol_codes WHERE commune = ?1",
        "DELETE FROM devices WHERE commune = ?1",
        "DELETE FROM accounts WHERE commune = ?1",
        "DELETE FROM unit_reports WHERE unit IN (SELECT id FROM units WHERE commune = ?1)",
        "DELETE FROM unit_volunteers WHERE commune = ?1",
        "DELETE FROM unit_deadlines WHERE commune = ?1",
        "DELETE FROM units WHERE commune = ?1",
        "DELETE FROM plan_targets WHERE commune = ?1",
        "DELETE FROM plan_milestones WHERE commune = ?1",
        "DELETE FROM communes WHERE code = ?1",
    ] {
        tx.execute(sql, [code])?;
    }
    let detail = format!(
        "{code} (demo): {} records, {} devices, {} accounts",
        removed.records, removed.devices, removed.accounts
    );
    tx.execute(
        "INSERT INTO audit_log (at, username, commune, action, detail) VALUES (?, ?, '', 'commune.remove-demo', ?)",
        params![ts(now), actor, detail],
    )?;
    Ok(removed)
}

/// [`ServerDb::retire_hamlet`] in its transaction.
fn retire_hamlet_in(tx: &Conn, commune: &str, id: &str, now: DateTime<Utc>) -> Result<bool> {
    let json: String = tx
        .query_opt("SELECT reference FROM communes WHERE code = ?", [commune], |r| r.get(0))?
        .ok_or(DbError::NoCommune)?;
    let mut reference: ReferenceData = serde_json::from_str(&json)?;
    let Some(at) = reference.hamlets.iter().position(|h| h.id == id) else { return Ok(false) };
    let hamlet = reference.hamlets.remove(at);
    for v in reference.volunteers.iter_mut().filter(|v| v.hamlet_id.as_deref() == Some(id)) {
        v.hamlet_id = None;
    }
    tx.execute(
        "INSERT INTO retired_hamlets (commune, id, hamlet, retired_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (commune, id) DO UPDATE SET hamlet = excluded.hamlet, retired_at = excluded.retired_at",
        params![commune, id, serde_json::to_string(&hamlet)?, ts(now)],
    )?;
    tx.execute(
        "UPDATE communes SET reference = ? WHERE code = ?",
        params![serde_json::to_string(&reference)?, commune],
    )?;
    log_change_for(tx, commune, None, "reference", &Change::Reference { reference })?;
    Ok(true)
}

/// The commune's retired hamlets with when each was retired, by id.
pub(crate) fn retired_hamlets(conn: &Conn, commune: &str) -> Result<Vec<(Hamlet, String)>> {
    conn.query_map("SELECT hamlet, retired_at FROM retired_hamlets WHERE commune = ? ORDER BY id", [commune], |r| {
        Ok((serde_json::from_str(r.str(0)?)?, r.get(1)?))
    })
}
