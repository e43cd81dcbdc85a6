//! Which volunteers may use which device, and the one-time codes that let a volunteer choose
//! a first PIN on an enrolled device.
//!
//! A tablet found in a hamlet must open for no one: the device offers only the volunteers
//! the office assigned to it, and a first PIN there needs a team lead's PIN or a one-time
//! code the office printed for that volunteer and that device. Both reach only their device
//! through change-log entries addressed to it (`db::log_change_for`). A code is eight
//! letters on paper; the device receives only its argon2id hash (the same slow hash as
//! PINs, so the entries other people could read give nothing to a guesser), and it expires.
//! An enrolment code can carry the volunteers of the device it enrols and their PIN codes,
//! so one sheet from the office sets up a tablet.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::sql::{params, Conn};
use super::{code_hash, log_change_for, random_code, DbError, Result, ServerDb};
use crate::domain::pin;
use crate::protocol::Change;

/// How long a PIN code from the office stays valid.
pub const PIN_CODE_DAYS: i64 = 7;

/// A new enrolment code with the first-PIN codes of the volunteers it assigns.
#[derive(Debug, Clone, PartialEq)]
pub struct EnrolCode {
    pub code: String,
    /// (volunteer id, one-time PIN code), in the order given.
    pub pin_codes: Vec<(String, String)>,
}

/// What an enrolment code keeps for the device it will enrol.
#[derive(Serialize, Deserialize)]
struct Planned {
    volunteer_id: String,
    pin_hash: String,
    expires_at: DateTime<Utc>,
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl ServerDb {
    /// Makes a one-time enrolment code for `commune`, valid for `valid_for`, whose device
    /// will be assigned `volunteers`, each with a one-time code for their first PIN there.
    pub fn new_enrol_code_for(
        &self,
        commune: &str,
        valid_for: Duration,
        now: DateTime<Utc>,
        volunteers: &[String],
    ) -> Result<EnrolCode> {
        let reference = self.commune(commune)?;
        if volunteers.iter().any(|v| reference.volunteer(v).is_none()) {
            return Err(DbError::NoVolunteer);
        }
        let code = random_code();
        let mut pin_codes = Vec::new();
        let mut planned = Vec::new();
        for v in volunteers {
            if pin_codes.iter().any(|(id, _)| id == v) {
                continue;
            }
            let pin_code = random_code();
            planned.push(Planned {
                volunteer_id: v.clone(),
                pin_hash: pin::hash(&normal(&pin_code)),
                expires_at: now + Duration::days(PIN_CODE_DAYS),
            });
            pin_codes.push((v.clone(), pin_code));
        }
        let planned = serde_json::to_string(&planned)?;
        self.write_in(commune, |tx| {
            tx.execute(
                "INSERT INTO enrol_codes (code_hash, commune, created_at, expires_at, volunteers) VALUES (?, ?, ?, ?, ?)",
                params![code_hash(&code), commune, ts(now), ts(now + valid_for), planned],
            )
        })?;
        Ok(EnrolCode { code, pin_codes })
    }

    /// Makes `volunteers` the ones `device` offers (replacing what it offered before).
    pub fn assign(&self, commune: &str, device: &str, volunteers: &[String]) -> Result<()> {
        let reference = self.commune(commune)?;
        if volunteers.iter().any(|v| reference.volunteer(v).is_none()) {
            return Err(DbError::NoVolunteer);
        }
        self.write_in(commune, |tx| {
            device_of(tx, commune, device)?;
            replace_assignment(tx, commune, device, volunteers)
        })
    }

    /// A one-time code that lets `volunteer` choose a first PIN on `device`, valid for
    /// [`PIN_CODE_DAYS`]; a newer code for the same pair replaces an older one.
    pub fn new_pin_code(&self, commune: &str, device: &str, volunteer: &str, now: DateTime<Utc>) -> Result<String> {
        if self.commune(commune)?.volunteer(volunteer).is_none() {
            return Err(DbError::NoVolunteer);
        }
        let code = random_code();
        let hash = pin::hash(&normal(&code));
        self.write_in(commune, |tx| {
            device_of(tx, commune, device)?;
            log_pin_code(tx, commune, device, volunteer, hash.clone(), now + Duration::days(PIN_CODE_DAYS))
        })?;
        Ok(code)
    }

    /// Device id → the volunteers assigned to it, for the office's devices page.
    pub fn assignments(&self, commune: &str) -> Result<HashMap<String, Vec<String>>> {
        let mut out: HashMap<String, Vec<String>> = HashMap::new();
        self.read(|c| {
            c.for_each(
                "SELECT a.device_id, a.volunteer_id FROM device_volunteers a JOIN devices d ON d.id = a.device_id
                 WHERE d.commune = ? ORDER BY a.device_id, a.volunteer_id",
                [commune],
                |r| {
                    out.entry(r.get(0)?).or_default().push(r.get(1)?);
                    Ok(())
                },
            )
        })?;
        Ok(out)
    }
}

/// Codes are compared as typed, ignoring case, spaces and dashes.
pub fn normal(code: &str) -> String {
    code.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).collect()
}

/// The device must exist in this commune.
fn device_of(tx: &Conn, commune: &str, device: &str) -> Result<()> {
    let found: Option<String> = tx.query_opt("SELECT commune FROM devices WHERE id = ?", [device], |r| r.get(0))?;
    match found {
        Some(c) if c == commune => Ok(()),
        _ => Err(DbError::NoDevice),
    }
}

fn replace_assignment(tx: &Conn, commune: &str, device: &str, volunteers: &[String]) -> Result<()> {
    tx.execute("DELETE FROM device_volunteers WHERE device_id = ?", [device])?;
    let mut kept: Vec<String> = Vec::new();
    for v in volunteers {
        if !kept.contains(v) {
            tx.execute("INSERT INTO device_volunteers (device_id, volunteer_id) VALUES (?, ?)", params![device, v])?;
            kept.push(v.clone());
        }
    }
    log_change_for(tx, commune, Some(device), &format!("assign:{device}"), &Change::Assignment { volunteers: kept })
}

fn log_pin_code(
    tx: &Conn,
    commune: &str,
    device: &str,
    volunteer: &str,
    hash: String,
    expires_at: DateTime<Utc>,
) -> Result<()> {
    let change = Change::PinCode { volunteer_id: volunteer.to_owned(), hash, expires_at };
    log_change_for(tx, commune, Some(device), &format!("pincode:{device}:{volunteer}"), &change)
}

/// Called by `enrol` in its transaction: the new device gets the volunteers and PIN codes
/// its enrolment code carried.
pub(crate) fn on_enrol(tx: &Conn, commune: &str, device: &str, code_hash: &str) -> Result<()> {
    let json: String = tx.one("SELECT volunteers FROM enrol_codes WHERE code_hash = ?", [code_hash])?;
    let planned: Vec<Planned> = serde_json::from_str(&json)?;
    if planned.is_empty() {
        return Ok(());
    }
    let volunteers: Vec<String> = planned.iter().map(|p| p.volunteer_id.clone()).collect();
    replace_assignment(tx, commune, device, &volunteers)?;
    for p in planned {
        log_pin_code(tx, commune, device, &p.volunteer_id, p.pin_hash, p.expires_at)?;
    }
    Ok(())
}
