//! The commune's units (đơn vị: its offices, the culture–sports–information centre, the
//! commune police, the community digital technology teams) and their yearly reports to the
//! commune, due by 15/11 unless the office sets another day.
//!
//! Volunteers and devices belong to a unit. A record carries the unit it was made under: the
//! server stamps it when the record first arrives (the volunteer's unit, else the device's),
//! and never changes it when a later version of the record arrives or the volunteer moves.
//! The server does it, not the app, because the app knows nothing of units (older tablets
//! keep working) and the office's assignment is what counts. When a volunteer is first put
//! in a unit, their records that have none yet are given it (units usually come after the
//! campaign has started); records already under a unit keep it.
//!
//! A unit's report holds what it enters (staff and people registered on / who completed
//! courses of binhdanhocvuso.gov.vn or a MOOC, outreach on mass media and at meetings, a
//! narrative) beside the figures drawn from its records ([`UnitFigures`], counts only). Its
//! state: draft → submitted → accepted, or → returned (with a reason) → submitted again. A
//! submitted or accepted report cannot be changed by the unit; only a return reopens it.
//! Timeliness is that of the first submission (a report returned for correction is not
//! made late by the return), by Vietnam's day.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};

use super::sql::{params, Conn, Row};
use super::{now_ts, DbError, Result, ServerDb};

/// Migration 10: units, who belongs to them, the unit of each record, unit accounts, the
/// units' reports and the office's deadline for them.
pub(crate) const MIGRATION: &str = r#"
    CREATE TABLE units (
        id          INTEGER PRIMARY KEY,
        commune     TEXT NOT NULL REFERENCES communes (code),
        code        TEXT NOT NULL,
        name        TEXT NOT NULL,
        kind        TEXT NOT NULL,
        created_at  TEXT NOT NULL,
        UNIQUE (commune, code)
    ) STRICT;
    CREATE TABLE unit_volunteers (
        commune       TEXT NOT NULL,
        volunteer_id  TEXT NOT NULL,
        unit          INTEGER NOT NULL REFERENCES units (id),
        PRIMARY KEY (commune, volunteer_id)
    ) STRICT, WITHOUT ROWID;
    ALTER TABLE devices ADD COLUMN unit INTEGER;
    ALTER TABLE records ADD COLUMN unit INTEGER;
    CREATE INDEX records_by_unit ON records (commune, unit, occurred_at) WHERE unit IS NOT NULL;
    ALTER TABLE accounts ADD COLUMN unit INTEGER;
    CREATE TABLE unit_reports (
        unit                INTEGER NOT NULL REFERENCES units (id),
        year                INTEGER NOT NULL,
        status              TEXT NOT NULL,
        staff_registered    INTEGER NOT NULL,
        staff_completed     INTEGER NOT NULL,
        people_registered   INTEGER NOT NULL,
        people_completed    INTEGER NOT NULL,
        media_items         INTEGER NOT NULL,
        meetings            INTEGER NOT NULL,
        meeting_reach       INTEGER NOT NULL,
        narrative           TEXT NOT NULL,
        updated_at          TEXT NOT NULL,
        first_submitted_at  TEXT,
        submitted_at        TEXT,
        return_reason       TEXT,
        decided_at          TEXT,
        PRIMARY KEY (unit, year)
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE unit_deadlines (
        commune   TEXT NOT NULL,
        year      INTEGER NOT NULL,
        deadline  TEXT NOT NULL,
        PRIMARY KEY (commune, year)
    ) STRICT, WITHOUT ROWID;
"#;

/// The kinds of unit, by code, in the order the office's form lists them.
pub const UNIT_KINDS: [&str; 5] = ["office", "centre", "police", "team", "other"];

/// Longest narrative a unit may write (characters).
pub const MAX_NARRATIVE_CHARS: usize = 4000;

/// A unit as the office lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitRow {
    pub id: i64,
    pub code: String,
    pub name: String,
    /// One of [`UNIT_KINDS`].
    pub kind: String,
}

/// What a unit enters itself in its report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitEntry {
    /// Staff (cán bộ, công chức) registered on binhdanhocvuso.gov.vn or a MOOC.
    pub staff_registered: u32,
    /// Staff who completed a course there.
    pub staff_completed: u32,
    /// People registered.
    pub people_registered: u32,
    /// People who completed a course.
    pub people_completed: u32,
    /// News items and broadcasts on mass media (loa, đài, báo, mạng xã hội).
    pub media_items: u32,
    /// Meetings at which the movement was presented.
    pub meetings: u32,
    /// People reached at those meetings.
    pub meeting_reach: u32,
    pub narrative: String,
}

impl UnitEntry {
    /// The numbers, in the order of the report's form.
    pub fn numbers(&self) -> [u32; 7] {
        [
            self.staff_registered,
            self.staff_completed,
            self.people_registered,
            self.people_completed,
            self.media_items,
            self.meetings,
            self.meeting_reach,
        ]
    }

    fn add(&mut self, o: &UnitEntry) {
        self.staff_registered += o.staff_registered;
        self.staff_completed += o.staff_completed;
        self.people_registered += o.people_registered;
        self.people_completed += o.people_completed;
        self.media_items += o.media_items;
        self.meetings += o.meetings;
        self.meeting_reach += o.meeting_reach;
    }
}

/// Where a unit's report stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportStatus {
    Draft,
    Submitted,
    Returned,
    Accepted,
}

impl ReportStatus {
    pub fn code(self) -> &'static str {
        match self {
            ReportStatus::Draft => "draft",
            ReportStatus::Submitted => "submitted",
            ReportStatus::Returned => "returned",
            ReportStatus::Accepted => "accepted",
        }
    }

    fn from_code(s: &str) -> ReportStatus {
        match s {
            "submitted" => ReportStatus::Submitted,
            "returned" => ReportStatus::Returned,
            "accepted" => ReportStatus::Accepted,
            _ => ReportStatus::Draft,
        }
    }

    /// Whether the commune's report counts this one (submitted or accepted).
    pub fn counts(self) -> bool {
        matches!(self, ReportStatus::Submitted | ReportStatus::Accepted)
    }
}

/// A unit's report for a year (a draft with zeros when it has written nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitReport {
    pub year: i32,
    pub status: ReportStatus,
    pub entry: UnitEntry,
    pub first_submitted_at: Option<DateTime<Utc>>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub return_reason: Option<String>,
}

/// Whether a report reached the office by its deadline (DHIS2's reporting rate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeliness {
    OnTime,
    Late,
    NotSubmitted,
}

impl UnitReport {
    /// On time when first submitted by the end of `deadline` (Vietnam's day).
    pub fn timeliness(&self, deadline: NaiveDate) -> Timeliness {
        match self.first_submitted_at {
            None => Timeliness::NotSubmitted,
            Some(t) if crate::vn_time::vn_day(t) <= deadline => Timeliness::OnTime,
            Some(_) => Timeliness::Late,
        }
    }
}

/// The figures drawn from a unit's records for a period (voided records count nowhere).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitFigures {
    pub visits: u32,
    pub visit_people: u32,
    pub signature_sessions: u32,
    pub signed: u32,
    pub trainings: u32,
    pub attendance: u32,
    pub women: u32,
    pub minority: u32,
    pub outreach: u32,
    pub outreach_reach: u32,
}

/// Why a change to a unit's report was refused (the state it is in does not allow it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportRefusal {
    /// Submitted or accepted: the unit cannot change it until the office returns it.
    Locked,
    /// Only a submitted report can be returned or accepted.
    NotSubmitted,
}

/// 15 November of `year`, the deadline the commune's letter sets.
pub fn default_deadline(year: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, 11, 15).unwrap_or_default()
}

fn parse_ts(s: Option<String>) -> Option<DateTime<Utc>> {
    s.and_then(|s| DateTime::parse_from_rfc3339(&s).ok()).map(|t| t.with_timezone(&Utc))
}

const REPORT_COLUMNS: &str = "year, status, staff_registered, staff_completed, people_registered, people_completed, \
     media_items, meetings, meeting_reach, narrative, first_submitted_at, submitted_at, return_reason";

fn read_report(r: &Row) -> Result<UnitReport> {
    let n = |i: usize| r.get::<i64>(i).map(|v| v.clamp(0, u32::MAX as i64) as u32);
    Ok(UnitReport {
        year: r.get(0)?,
        status: ReportStatus::from_code(r.str(1)?),
        entry: UnitEntry {
            staff_registered: n(2)?,
            staff_completed: n(3)?,
            people_registered: n(4)?,
            people_completed: n(5)?,
            media_items: n(6)?,
            meetings: n(7)?,
            meeting_reach: n(8)?,
            narrative: r.get(9)?,
        },
        first_submitted_at: parse_ts(r.get(10)?),
        submitted_at: parse_ts(r.get(11)?),
        return_reason: r.get(12)?,
    })
}

fn read_unit(r: &Row) -> Result<UnitRow> {
    Ok(UnitRow { id: r.get(0)?, code: r.get(1)?, name: r.get(2)?, kind: r.get(3)? })
}

/// (id, unit) pairs of a `SELECT id, unit … WHERE commune = ?`.
fn id_units(c: &Conn, sql: &str, commune: &str) -> Result<HashMap<String, i64>> {
    let mut out = HashMap::new();
    c.for_each(sql, [commune], |r| {
        out.insert(r.get(0)?, r.get(1)?);
        Ok(())
    })?;
    Ok(out)
}

/// A unit's figures for `[?3, ?4)` of business time (see [`ServerDb::unit_figures`]).
const FIGURES: &str = "SELECT COALESCE(SUM(CASE WHEN kind = 'visit' THEN 1 ELSE 0 END), 0),
        COALESCE(SUM(CASE WHEN kind = 'visit' THEN person_times ELSE 0 END), 0),
        COALESCE(SUM(CASE WHEN kind = 'signature_help' THEN 1 ELSE 0 END), 0),
        COALESCE(SUM(CASE WHEN kind = 'signature_help' AND signed = 1 THEN 1 ELSE 0 END), 0),
        COALESCE(SUM(CASE WHEN kind = 'training' THEN 1 ELSE 0 END), 0),
        COALESCE(SUM(CASE WHEN kind = 'training' THEN person_times ELSE 0 END), 0),
        COALESCE(SUM(CASE WHEN kind = 'training' THEN women ELSE 0 END), 0),
        COALESCE(SUM(CASE WHEN kind = 'training' THEN minority ELSE 0 END), 0),
        COALESCE(SUM(CASE WHEN kind = 'outreach' THEN 1 ELSE 0 END), 0),
        COALESCE(SUM(CASE WHEN kind = 'outreach' THEN reach ELSE 0 END), 0)
     FROM records WHERE commune = ? AND unit = ? AND occurred_at >= ? AND occurred_at < ? AND voided = 0";

fn empty_report(year: i32) -> UnitReport {
    UnitReport {
        year,
        status: ReportStatus::Draft,
        entry: UnitEntry::default(),
        first_submitted_at: None,
        submitted_at: None,
        return_reason: None,
    }
}

impl ServerDb {
    /// Adds a unit to a commune, or renames / re-kinds the unit with that code.
    pub fn put_unit(&self, commune: &str, code: &str, name: &str, kind: &str, now: DateTime<Utc>) -> Result<i64> {
        self.commune(commune)?;
        if !UNIT_KINDS.contains(&kind) {
            return Err(DbError::Refused("unknown unit kind".into()));
        }
        let at = now_ts(now);
        self.write_in(commune, |tx| {
            tx.one(
                "INSERT INTO units (commune, code, name, kind, created_at) VALUES (?, ?, ?, ?, ?)
                 ON CONFLICT (commune, code) DO UPDATE SET name = excluded.name, kind = excluded.kind
                 RETURNING id",
                params![commune, code, name, kind, at],
            )
        })
    }

    /// A commune's units, by code.
    pub fn units(&self, commune: &str) -> Result<Vec<UnitRow>> {
        self.read(|c| {
            c.query_map("SELECT id, code, name, kind FROM units WHERE commune = ? ORDER BY code", [commune], read_unit)
        })
    }

    /// The unit `id` if it is one of `commune`'s (so a commune can never reach another's).
    pub fn unit(&self, commune: &str, id: i64) -> Result<Option<UnitRow>> {
        self.read(|c| {
            c.query_opt(
                "SELECT id, code, name, kind FROM units WHERE commune = ? AND id = ?",
                params![commune, id],
                read_unit,
            )
        })
    }

    /// The commune unit `id` belongs to.
    fn unit_commune(&self, id: i64) -> Result<Option<String>> {
        self.read(|c| c.query_opt("SELECT commune FROM units WHERE id = ?", [id], |r| r.get(0)))
    }

    /// Puts a volunteer of the commune in a unit of the commune (or in none). Their records
    /// that have no unit yet are given it; the number of those is returned.
    pub fn set_volunteer_unit(&self, commune: &str, volunteer: &str, unit: Option<i64>) -> Result<usize> {
        if !self.commune(commune)?.volunteers.iter().any(|v| v.id == volunteer) {
            return Err(DbError::NoVolunteer);
        }
        if let Some(u) = unit {
            self.unit(commune, u)?.ok_or_else(|| DbError::Refused("no such unit".into()))?;
        }
        self.write_in(commune, |tx| {
            Ok(match unit {
                Some(u) => {
                    tx.execute(
                        "INSERT INTO unit_volunteers (commune, volunteer_id, unit) VALUES (?, ?, ?)
                         ON CONFLICT (commune, volunteer_id) DO UPDATE SET unit = excluded.unit",
                        params![commune, volunteer, u],
                    )?;
                    tx.execute(
                        "UPDATE records SET unit = ? WHERE commune = ? AND volunteer_id = ? AND unit IS NULL",
                        params![u, commune, volunteer],
                    )?
                }
                None => {
                    tx.execute(
                        "DELETE FROM unit_volunteers WHERE commune = ? AND volunteer_id = ?",
                        params![commune, volunteer],
                    )?;
                    0
                }
            })
        })
    }

    /// Puts a device of the commune in a unit of the commune (or in none). `false` for a
    /// device that is not the commune's.
    pub fn set_device_unit(&self, commune: &str, device: &str, unit: Option<i64>) -> Result<bool> {
        if let Some(u) = unit {
            self.unit(commune, u)?.ok_or_else(|| DbError::Refused("no such unit".into()))?;
        }
        let n = self.write_in(commune, |tx| {
            tx.execute("UPDATE devices SET unit = ? WHERE id = ? AND commune = ?", params![unit, device, commune])
        })?;
        Ok(n > 0)
    }

    /// Volunteer id → unit id, for the commune's volunteers who have one.
    pub fn volunteer_units(&self, commune: &str) -> Result<HashMap<String, i64>> {
        self.read(|c| id_units(c, "SELECT volunteer_id, unit FROM unit_volunteers WHERE commune = ?", commune))
    }

    /// Device id → unit id, for the commune's devices that have one.
    pub fn device_units(&self, commune: &str) -> Result<HashMap<String, i64>> {
        self.read(|c| id_units(c, "SELECT id, unit FROM devices WHERE commune = ? AND unit IS NOT NULL", commune))
    }

    /// Figures from the unit's records with business time in `[from, to]` (days, inclusive).
    pub fn unit_figures(&self, commune: &str, unit: i64, from: NaiveDate, to: NaiveDate) -> Result<UnitFigures> {
        let lo = from.format("%Y-%m-%d").to_string();
        let hi = format!("{}T99", to.format("%Y-%m-%d"));
        self.read(|c| {
            c.query_row(FIGURES, params![commune, unit, lo, hi], |r| {
                let n = |i: usize| r.get::<i64>(i).map(|v| v.clamp(0, u32::MAX as i64) as u32);
                Ok(UnitFigures {
                    visits: n(0)?,
                    visit_people: n(1)?,
                    signature_sessions: n(2)?,
                    signed: n(3)?,
                    trainings: n(4)?,
                    attendance: n(5)?,
                    women: n(6)?,
                    minority: n(7)?,
                    outreach: n(8)?,
                    outreach_reach: n(9)?,
                })
            })
        })
    }

    /// The unit's report for `year` (an empty draft if it has none).
    pub fn unit_report(&self, unit: i64, year: i32) -> Result<UnitReport> {
        let sql = format!("SELECT {REPORT_COLUMNS} FROM unit_reports WHERE unit = ? AND year = ?");
        Ok(self.read(|c| c.query_opt(&sql, params![unit, year], read_report))?.unwrap_or_else(|| empty_report(year)))
    }

    /// Saves what the unit entered, and with `submit` sends it to the office. Refused while
    /// the report is submitted or accepted.
    pub fn save_unit_report(
        &self,
        unit: i64,
        year: i32,
        entry: &UnitEntry,
        submit: bool,
        now: DateTime<Utc>,
    ) -> Result<std::result::Result<(), ReportRefusal>> {
        let at = now_ts(now);
        let submitted = submit.then_some(at.as_str());
        let [a, b, c, d, e, f, g] = entry.numbers();
        let save = |tx: &Conn| -> Result<std::result::Result<(), ReportRefusal>> {
            let status: Option<String> = tx.query_opt(
                "SELECT status FROM unit_reports WHERE unit = ? AND year = ?",
                params![unit, year],
                |r| r.get(0),
            )?;
            if status.as_deref().map(ReportStatus::from_code).is_some_and(|s| s.counts()) {
                return Ok(Err(ReportRefusal::Locked));
            }
            let new_status = if submit {
                ReportStatus::Submitted
            } else {
                status.as_deref().map(ReportStatus::from_code).unwrap_or(ReportStatus::Draft)
            };
            tx.execute(
                "INSERT INTO unit_reports (unit, year, status, staff_registered, staff_completed, people_registered,
                    people_completed, media_items, meetings, meeting_reach, narrative, updated_at, first_submitted_at,
                    submitted_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13)
                 ON CONFLICT (unit, year) DO UPDATE SET status = ?3, staff_registered = ?4, staff_completed = ?5,
                    people_registered = ?6, people_completed = ?7, media_items = ?8, meetings = ?9, meeting_reach = ?10,
                    narrative = ?11, updated_at = ?12,
                    first_submitted_at = COALESCE(unit_reports.first_submitted_at, ?13),
                    submitted_at = COALESCE(?13, unit_reports.submitted_at)",
                params![unit, year, new_status.code(), a, b, c, d, e, f, g, entry.narrative, at, submitted],
            )?;
            Ok(Ok(()))
        };
        // The unit's commune is locked while its state is read and changed (PostgreSQL).
        match self.unit_commune(unit)? {
            Some(commune) => self.write_in(&commune, save),
            None => self.write(save),
        }
    }

    /// The office sends a submitted report back to the unit for correction, with a reason.
    pub fn return_unit_report(
        &self,
        unit: i64,
        year: i32,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<std::result::Result<(), ReportRefusal>> {
        let at = now_ts(now);
        let n = self.write(|tx| {
            tx.execute(
                "UPDATE unit_reports SET status = 'returned', return_reason = ?, decided_at = ?
                 WHERE unit = ? AND year = ? AND status = 'submitted'",
                params![reason, at, unit, year],
            )
        })?;
        Ok(if n == 1 { Ok(()) } else { Err(ReportRefusal::NotSubmitted) })
    }

    /// The office accepts a submitted report: the unit can no longer change it.
    pub fn accept_unit_report(
        &self,
        unit: i64,
        year: i32,
        now: DateTime<Utc>,
    ) -> Result<std::result::Result<(), ReportRefusal>> {
        let at = now_ts(now);
        let n = self.write(|tx| {
            tx.execute(
                "UPDATE unit_reports SET status = 'accepted', return_reason = NULL, decided_at = ?
                 WHERE unit = ? AND year = ? AND status = 'submitted'",
                params![at, unit, year],
            )
        })?;
        Ok(if n == 1 { Ok(()) } else { Err(ReportRefusal::NotSubmitted) })
    }

    /// Every unit of the commune with its report for `year`, by code.
    pub fn unit_reports(&self, commune: &str, year: i32) -> Result<Vec<(UnitRow, UnitReport)>> {
        let units = self.units(commune)?;
        units
            .into_iter()
            .map(|u| {
                let r = self.unit_report(u.id, year)?;
                Ok((u, r))
            })
            .collect()
    }

    /// The sums of what the units entered in their submitted and accepted reports for
    /// `year`, with how many reports that is and how many units the commune has.
    pub fn units_entered(&self, commune: &str, year: i32) -> Result<(UnitEntry, usize, usize)> {
        let all = self.unit_reports(commune, year)?;
        let mut sum = UnitEntry::default();
        let mut counted = 0;
        for (_, r) in &all {
            if r.status.counts() {
                sum.add(&r.entry);
                counted += 1;
            }
        }
        Ok((sum, counted, all.len()))
    }

    /// The day the units' reports for `year` are due (15/11 unless the office set another).
    pub fn unit_deadline(&self, commune: &str, year: i32) -> Result<NaiveDate> {
        let set: Option<String> = self.read(|c| {
            c.query_opt(
                "SELECT deadline FROM unit_deadlines WHERE commune = ? AND year = ?",
                params![commune, year],
                |r| r.get(0),
            )
        })?;
        Ok(set.and_then(|s| NaiveDate::parse_from_str(&s, "%Y-%m-%d").ok()).unwrap_or_else(|| default_deadline(year)))
    }

    /// Sets the day the units' reports for `year` are due.
    pub fn set_unit_deadline(&self, commune: &str, year: i32, deadline: NaiveDate) -> Result<()> {
        let day = deadline.format("%Y-%m-%d").to_string();
        self.write_in(commune, |tx| {
            tx.execute(
                "INSERT INTO unit_deadlines (commune, year, deadline) VALUES (?, ?, ?)
                 ON CONFLICT (commune, year) DO UPDATE SET deadline = excluded.deadline",
                params![commune, year, day],
            )
        })?;
        Ok(())
    }
}
