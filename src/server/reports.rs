//! The office's figures: coverage against the target and activity for a period, computed
//! from what devices pushed. Counts only: nothing here carries a name.
//!
//! The counting rule for people: a person with a citizen-ID hash is counted once in the
//! commune, in the hamlet of their first successful session (earliest business time, then
//! id), however many sessions or devices logged them; a successful session without an ID
//! hash counts as one person in its hamlet (there is no way to tell two of them apart).
//! Voided records count nowhere.

use std::collections::BTreeMap;

use chrono::{Datelike, Days, NaiveDate};
use rusqlite::params;
use serde::Serialize;

use super::db::{DbError, Result, ServerDb};
use crate::domain::coverage::Coverage;
use crate::domain::{Commune, FailureReason, Outcome, ReferenceData};

/// One hamlet's (or the commune's) line of the coverage report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CoverageRow {
    pub hamlet_id: String,
    pub name: String,
    pub adult_population: u32,
    pub baseline_signed: u32,
    /// Distinct people helped to a signature (see the module's counting rule).
    pub helped_signed: u32,
    /// Baseline plus helped, never above the population.
    pub signed: u32,
    pub percent: f64,
    /// People still to help before the target is passed.
    pub still_needed: u32,
    pub reached: bool,
}

impl CoverageRow {
    fn new(hamlet_id: &str, name: &str, c: Coverage) -> CoverageRow {
        CoverageRow {
            hamlet_id: hamlet_id.to_owned(),
            name: name.to_owned(),
            adult_population: c.adult_population,
            baseline_signed: c.baseline_signed,
            helped_signed: c.helped_signed,
            signed: c.signed(),
            percent: c.percent(),
            still_needed: c.still_needed(),
            reached: c.reached(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CoverageReport {
    pub commune: Commune,
    pub target_percent: u32,
    /// Hamlets, most still needed first.
    pub rows: Vec<CoverageRow>,
    pub total: CoverageRow,
}

/// Counts of activity for one hamlet, one volunteer or the whole commune.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ActivityCounts {
    pub visits: u32,
    /// People helped at visits (person-times).
    pub visit_people: u32,
    pub signature_sessions: u32,
    /// Distinct people among the signature sessions (the counting rule above, without the
    /// "successful" condition).
    pub signature_people: u32,
    pub signed: u32,
    pub not_completed: u32,
    pub trainings: u32,
    pub attendance: u32,
    pub women: u32,
    pub minority: u32,
    pub outreach: u32,
    /// Person-times (lượt) across visits, signature sessions and trainings.
    pub person_times: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelRow {
    pub channel: String,
    pub activities: u32,
    pub quantity: u64,
    pub reach: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimePoint {
    /// The first day of the bucket (a day, or a week starting Monday for long periods).
    pub start: NaiveDate,
    pub signature_sessions: u32,
    pub signed: u32,
    pub visits: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActivityReport {
    pub commune: Commune,
    pub from: NaiveDate,
    /// Inclusive.
    pub to: NaiveDate,
    pub totals: ActivityCounts,
    /// Every outcome, in `Outcome::ALL` order, with its count.
    pub outcomes: Vec<(Outcome, u32)>,
    /// Every failure reason, in `FailureReason::ALL` order, with its count.
    pub failure_reasons: Vec<(FailureReason, u32)>,
    pub channels: Vec<ChannelRow>,
    /// (hamlet id, name, counts), in the commune's hamlet order.
    pub by_hamlet: Vec<(String, String, ActivityCounts)>,
    /// (volunteer id, name, counts), in the commune's volunteer order, then unknown ids.
    pub by_volunteer: Vec<(String, String, ActivityCounts)>,
    pub weekly: bool,
    pub over_time: Vec<TimePoint>,
}

fn reference(db: &ServerDb, commune: &str) -> Result<ReferenceData> {
    db.commune(commune)
}

impl ServerDb {
    /// Coverage per hamlet and for the commune, against the commune's target.
    pub fn coverage_report(&self, commune: &str) -> Result<CoverageReport> {
        let reference = reference(self, commune)?;
        let mut helped: BTreeMap<String, u32> = BTreeMap::new();
        {
            let conn = self.conn();
            // People with an ID hash, each in the hamlet of their first successful session.
            let mut stmt = conn.prepare_cached(
                "SELECT hamlet_id, COUNT(*) FROM (
                    SELECT hamlet_id, ROW_NUMBER() OVER (PARTITION BY person_key ORDER BY occurred_at, id) AS n
                    FROM records WHERE commune = ?1 AND signed = 1 AND voided = 0 AND person_key IS NOT NULL
                 ) WHERE n = 1 GROUP BY hamlet_id",
            )?;
            for row in stmt.query_map([commune], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
                let (h, n) = row?;
                *helped.entry(h).or_default() += n as u32;
            }
            let mut stmt = conn.prepare_cached(
                "SELECT hamlet_id, COUNT(*) FROM records
                 WHERE commune = ?1 AND signed = 1 AND voided = 0 AND person_key IS NULL GROUP BY hamlet_id",
            )?;
            for row in stmt.query_map([commune], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
                let (h, n) = row?;
                *helped.entry(h).or_default() += n as u32;
            }
        }
        let target = reference.commune.target_percent;
        let mut rows: Vec<CoverageRow> = reference
            .hamlets
            .iter()
            .map(|h| {
                let c = Coverage {
                    adult_population: h.adult_population,
                    baseline_signed: h.baseline_signed,
                    helped_signed: helped.get(&h.id).copied().unwrap_or(0),
                    target_percent: target,
                };
                CoverageRow::new(&h.id, &h.name, c)
            })
            .collect();
        rows.sort_by(|a, b| b.still_needed.cmp(&a.still_needed).then(a.percent.total_cmp(&b.percent)));
        // The commune: sums of the hamlets (each person is in exactly one hamlet), each
        // hamlet already capped at its population, so the total agrees with its rows.
        let total = Coverage {
            adult_population: rows.iter().map(|r| r.adult_population).sum(),
            baseline_signed: rows.iter().map(|r| r.baseline_signed).sum(),
            helped_signed: rows.iter().map(|r| r.signed - r.baseline_signed.min(r.signed)).sum(),
            target_percent: target,
        };
        let total = CoverageRow::new("", &reference.commune.name, total);
        Ok(CoverageReport { commune: reference.commune, target_percent: target, rows, total })
    }

    /// Activity with business time in `[from, to]` (days, inclusive).
    pub fn activity_report(&self, commune: &str, from: NaiveDate, to: NaiveDate) -> Result<ActivityReport> {
        if to < from {
            return Err(DbError::BadPeriod);
        }
        let reference = reference(self, commune)?;
        let lo = from.format("%Y-%m-%d").to_string();
        let hi = (to + Days::new(1)).format("%Y-%m-%d").to_string();
        let conn = self.conn();
        let mut by_hamlet: BTreeMap<String, ActivityCounts> = BTreeMap::new();
        let mut by_volunteer: BTreeMap<String, ActivityCounts> = BTreeMap::new();
        let mut totals = ActivityCounts::default();
        let mut outcomes: BTreeMap<String, u32> = BTreeMap::new();
        let mut failures: BTreeMap<String, u32> = BTreeMap::new();
        let mut channels: BTreeMap<String, ChannelRow> = BTreeMap::new();
        let mut stmt = conn.prepare_cached(
            "SELECT hamlet_id, volunteer_id, kind, outcome, failure_reason, channel,
                    COUNT(*), SUM(person_times), SUM(signed), SUM(women), SUM(minority), SUM(quantity), SUM(reach)
             FROM records WHERE commune = ?1 AND voided = 0 AND occurred_at >= ?2 AND occurred_at < ?3
             GROUP BY hamlet_id, volunteer_id, kind, outcome, failure_reason, channel",
        )?;
        let rows = stmt.query_map(params![commune, lo, hi], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<String>>(5)?,
                [r.get::<_, i64>(6)?, r.get(7)?, r.get(8)?, r.get(9)?, r.get(10)?, r.get(11)?, r.get(12)?],
            ))
        })?;
        for row in rows {
            let (hamlet, volunteer, kind, outcome, failure, channel, n) = row?;
            let [count, people, signed, women, minority, quantity, reach] = n.map(|v| v.max(0) as u64);
            let add = |c: &mut ActivityCounts| {
                let (count, people, signed) = (count as u32, people as u32, signed as u32);
                c.person_times += people;
                match kind.as_str() {
                    "visit" => {
                        c.visits += count;
                        c.visit_people += people;
                    }
                    "signature_help" => {
                        c.signature_sessions += count;
                        c.signed += signed;
                        if outcome.as_deref() == Some("not_completed") {
                            c.not_completed += count;
                        }
                    }
                    "training" => {
                        c.trainings += count;
                        c.attendance += people;
                        c.women += women as u32;
                        c.minority += minority as u32;
                    }
                    "outreach" => c.outreach += count,
                    _ => {}
                }
            };
            add(&mut totals);
            add(by_hamlet.entry(hamlet).or_default());
            add(by_volunteer.entry(volunteer).or_default());
            if let Some(o) = outcome {
                *outcomes.entry(o).or_default() += count as u32;
            }
            if let Some(f) = failure {
                *failures.entry(f).or_default() += count as u32;
            }
            if let Some(ch) = channel {
                let e = channels.entry(ch.clone()).or_insert(ChannelRow {
                    channel: ch,
                    activities: 0,
                    quantity: 0,
                    reach: 0,
                });
                e.activities += count as u32;
                e.quantity += quantity;
                e.reach += reach;
            }
        }
        // Distinct people among signature sessions: by hash, plus one per session without.
        let distinct = |group: &str| -> Result<BTreeMap<String, u32>> {
            let sql = format!(
                "SELECT {group}, COUNT(DISTINCT person_key) + SUM(person_key IS NULL) FROM records
                 WHERE commune = ?1 AND voided = 0 AND kind = 'signature_help' AND occurred_at >= ?2 AND occurred_at < ?3
                 GROUP BY {group}"
            );
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows =
                stmt.query_map(params![commune, lo, hi], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
            rows.map(|r| r.map(|(k, n)| (k, n as u32)).map_err(Into::into)).collect()
        };
        for (h, n) in distinct("hamlet_id")? {
            by_hamlet.entry(h).or_default().signature_people = n;
        }
        for (v, n) in distinct("volunteer_id")? {
            by_volunteer.entry(v).or_default().signature_people = n;
        }
        totals.signature_people = distinct("''")?.values().sum();

        let weekly = (to - from).num_days() > 62;
        let bucket = |d: NaiveDate| if weekly { d - Days::new(d.weekday().num_days_from_monday() as u64) } else { d };
        let mut over_time: BTreeMap<NaiveDate, TimePoint> = BTreeMap::new();
        let mut day = bucket(from);
        while day <= to {
            over_time.insert(day, TimePoint { start: day, signature_sessions: 0, signed: 0, visits: 0 });
            day = day + Days::new(if weekly { 7 } else { 1 });
        }
        let mut stmt = conn.prepare_cached(
            "SELECT substr(occurred_at, 1, 10), kind, COUNT(*), SUM(signed) FROM records
             WHERE commune = ?1 AND voided = 0 AND occurred_at >= ?2 AND occurred_at < ?3 AND kind IN ('visit', 'signature_help')
             GROUP BY 1, 2",
        )?;
        let rows = stmt.query_map(params![commune, lo, hi], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?, r.get::<_, i64>(3)?))
        })?;
        for row in rows {
            let (day, kind, n, signed) = row?;
            let Ok(day) = NaiveDate::parse_from_str(&day, "%Y-%m-%d") else { continue };
            if let Some(p) = over_time.get_mut(&bucket(day)) {
                if kind == "visit" {
                    p.visits += n as u32;
                } else {
                    p.signature_sessions += n as u32;
                    p.signed += signed as u32;
                }
            }
        }

        let mut hamlet_rows: Vec<(String, String, ActivityCounts)> = reference
            .hamlets
            .iter()
            .map(|h| (h.id.clone(), h.name.clone(), by_hamlet.remove(&h.id).unwrap_or_default()))
            .collect();
        hamlet_rows.extend(by_hamlet.into_iter().map(|(id, c)| (id.clone(), id, c)));
        let mut volunteer_rows: Vec<(String, String, ActivityCounts)> = reference
            .volunteers
            .iter()
            .filter_map(|v| by_volunteer.remove(&v.id).map(|c| (v.id.clone(), v.name.clone(), c)))
            .collect();
        volunteer_rows.extend(by_volunteer.into_iter().map(|(id, c)| (id.clone(), id, c)));
        Ok(ActivityReport {
            commune: reference.commune,
            from,
            to,
            totals,
            outcomes: Outcome::ALL.iter().map(|o| (*o, outcomes.get(o.code()).copied().unwrap_or(0))).collect(),
            failure_reasons: FailureReason::ALL
                .iter()
                .map(|f| (*f, failures.get(f.code()).copied().unwrap_or(0)))
                .collect(),
            channels: crate::domain::Channel::ALL
                .iter()
                .map(|c| {
                    channels.remove(c.code()).unwrap_or(ChannelRow {
                        channel: c.code().to_owned(),
                        activities: 0,
                        quantity: 0,
                        reach: 0,
                    })
                })
                .collect(),
            by_hamlet: hamlet_rows,
            by_volunteer: volunteer_rows,
            weekly,
            over_time: over_time.into_values().collect(),
        })
    }
}
