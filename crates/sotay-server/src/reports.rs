//! The office's figures: coverage against the target and activity for a period, computed
//! from what devices pushed. Counts only: nothing here carries a name.
//!
//! The counting rule for people: a person with a citizen-ID hash is counted once in the
//! commune, in the hamlet of their first successful session (earliest business time, then
//! id), however many sessions or devices logged them; a successful session without an ID
//! hash counts as one person in its hamlet (there is no way to tell two of them apart).
//! Voided records count nowhere. Devices pull the same per-hamlet figure
//! ([`helped_by_hamlet`]).
//!
//! Both reports read running totals that every push and erasure keeps in its own
//! transaction (`db::totals`), so a year's activity over a million records
//! reads tens of thousands of small rows instead of the records.

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, Days, NaiveDate};
use serde::Serialize;

use super::db::sql::{params, Conn};
use super::db::{helped_by_hamlet, DbError, Result, ServerDb, ACTIVITY_SUMS};
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
    /// The day the figures are as of ("Số liệu tính đến ngày"), Vietnam time (see `asof`).
    pub as_of: NaiveDate,
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
    /// Successful signature sessions by the person's sex (unknown without consent), of an
    /// ethnic minority, and without an ID number (`db::breakdowns`).
    pub signed_women: u32,
    pub signed_men: u32,
    pub signed_minority: u32,
    pub signed_anonymous: u32,
    /// Sessions that took a VNeID account to level 2 from below.
    pub level2_activations: u32,
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
        let helped = self.read(|c| helped_by_hamlet(c, commune))?;
        Ok(coverage_of(reference, &helped, crate::vn_time::vn_today()))
    }
}

/// The coverage report of a commune's hamlets given the people helped in each.
pub(super) fn coverage_of(
    reference: ReferenceData,
    helped: &BTreeMap<String, u32>,
    as_of: NaiveDate,
) -> CoverageReport {
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
    CoverageReport { commune: reference.commune, as_of, target_percent: target, rows, total }
}

impl ServerDb {
    /// Activity with business time in `[from, to]` (days, inclusive), from the running totals.
    pub fn activity_report(&self, commune: &str, from: NaiveDate, to: NaiveDate) -> Result<ActivityReport> {
        if to < from {
            return Err(DbError::BadPeriod);
        }
        let reference = reference(self, commune)?;
        let lo = from.format("%Y-%m-%d").to_string();
        let hi = to.format("%Y-%m-%d").to_string();
        self.read(|conn| {
            // Per hamlet and per volunteer; the commune is the sum of its hamlets (each record is
            // in exactly one).
            let mut by_hamlet: BTreeMap<String, ActivityCounts> = BTreeMap::new();
            let mut by_volunteer: BTreeMap<String, ActivityCounts> = BTreeMap::new();
            let mut without_key: HashMap<(bool, String), u32> = HashMap::new();
            let sums = ACTIVITY_SUMS.map(|c| format!("SUM({c})")).join(", ");
            let sql = format!(
                "SELECT dim, key, {sums} FROM activity_days WHERE commune = ?1 AND day >= ?2 AND day <= ?3
                 GROUP BY dim, key"
            );
            conn.for_each(&sql, params![commune, lo, hi], |r| {
                let hamlet = r.str(0)? == "hamlet";
                let key: String = r.get(1)?;
                let n = |i: usize| r.get::<i64>(2 + i).map(|v| v.max(0) as u32);
                let c = ActivityCounts {
                    visits: n(1)?,
                    visit_people: n(2)?,
                    signature_sessions: n(3)?,
                    signature_people: 0,
                    signed: n(4)?,
                    not_completed: n(5)?,
                    trainings: n(6)?,
                    attendance: n(7)?,
                    women: n(8)?,
                    minority: n(9)?,
                    outreach: n(10)?,
                    person_times: n(11)?,
                    signed_women: n(13)?,
                    signed_men: n(14)?,
                    signed_minority: n(15)?,
                    signed_anonymous: n(16)?,
                    level2_activations: n(17)?,
                };
                without_key.insert((hamlet, key.clone()), n(12)?);
                if hamlet {
                    by_hamlet.insert(key, c)
                } else {
                    by_volunteer.insert(key, c)
                };
                Ok(())
            })?;
            let mut totals = ActivityCounts::default();
            for c in by_hamlet.values() {
                totals.visits += c.visits;
                totals.visit_people += c.visit_people;
                totals.signature_sessions += c.signature_sessions;
                totals.signed += c.signed;
                totals.not_completed += c.not_completed;
                totals.trainings += c.trainings;
                totals.attendance += c.attendance;
                totals.women += c.women;
                totals.minority += c.minority;
                totals.outreach += c.outreach;
                totals.person_times += c.person_times;
                totals.signed_women += c.signed_women;
                totals.signed_men += c.signed_men;
                totals.signed_minority += c.signed_minority;
                totals.signed_anonymous += c.signed_anonymous;
                totals.level2_activations += c.level2_activations;
            }

            // Distinct people among signature sessions: by ID hash, plus one per session without.
            let people = distinct_people(conn, commune, &lo, &hi)?;
            totals.signature_people = people.total;
            for ((hamlet, key), n) in without_key {
                if hamlet {
                    totals.signature_people += n;
                }
                let map = if hamlet { &mut by_hamlet } else { &mut by_volunteer };
                let by_id = if hamlet { &people.by_hamlet } else { &people.by_volunteer };
                if let Some(c) = map.get_mut(&key) {
                    c.signature_people = n + by_id.get(&key).copied().unwrap_or(0);
                }
            }

            // Outcomes, reasons, channels and the chart, per day and choice.
            let weekly = (to - from).num_days() > 62;
            let bucket = |d: NaiveDate| if weekly { d - Days::new(d.weekday().num_days_from_monday() as u64) } else { d };
            let mut over_time: BTreeMap<NaiveDate, TimePoint> = BTreeMap::new();
            let mut day = bucket(from);
            while day <= to {
                over_time.insert(day, TimePoint { start: day, signature_sessions: 0, signed: 0, visits: 0 });
                day = day + Days::new(if weekly { 7 } else { 1 });
            }
            let mut outcomes: BTreeMap<String, u32> = BTreeMap::new();
            let mut failures: BTreeMap<String, u32> = BTreeMap::new();
            let mut channels: BTreeMap<String, ChannelRow> = BTreeMap::new();
            conn.for_each(
                "SELECT day, kind, outcome, failure_reason, channel, records, signed, quantity, reach FROM activity_choices
                 WHERE commune = ?1 AND day >= ?2 AND day <= ?3",
                params![commune, lo, hi],
                |r| {
                let (day, kind): (String, String) = (r.get(0)?, r.get(1)?);
                let (outcome, failure, channel): (String, String, String) = (r.get(2)?, r.get(3)?, r.get(4)?);
                let [count, signed, quantity, reach] = [r.get::<i64>(5)?, r.get(6)?, r.get(7)?, r.get(8)?];
                let (count, signed) = (count.max(0) as u32, signed.max(0) as u32);
                if !outcome.is_empty() {
                    *outcomes.entry(outcome).or_default() += count;
                }
                if !failure.is_empty() {
                    *failures.entry(failure).or_default() += count;
                }
                if !channel.is_empty() {
                    let e = channels.entry(channel.clone()).or_insert(ChannelRow {
                        channel,
                        activities: 0,
                        quantity: 0,
                        reach: 0,
                    });
                    e.activities += count;
                    e.quantity += quantity.max(0) as u64;
                    e.reach += reach.max(0) as u64;
                }
                let Ok(day) = NaiveDate::parse_from_str(&day, "%Y-%m-%d") else { return Ok(()) };
                if let Some(p) = over_time.get_mut(&bucket(day)) {
                    match kind.as_str() {
                        "visit" => p.visits += count,
                        "signature_help" => {
                            p.signature_sessions += count;
                            p.signed += signed;
                        }
                        _ => {}
                    }
                }
                Ok(())
            })?;

            let mut hamlet_rows: Vec<(String, String, ActivityCounts)> = reference
                .hamlets
                .iter()
                .map(|h| (h.id.clone(), h.name.clone(), by_hamlet.remove(&h.id).unwrap_or_default()))
                .collect();
            // Hamlets no longer in the list: a retired one by its name, anything else by its id.
            let retired: HashMap<String, String> =
                super::communes::retired_hamlets(conn, commune)?.into_iter().map(|(h, _)| (h.id, h.name)).collect();
            hamlet_rows.extend(by_hamlet.into_iter().map(|(id, c)| {
                let name = retired.get(&id).cloned().unwrap_or_else(|| id.clone());
                (id, name, c)
            }));
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
        })
    }
}

/// Distinct people with an ID hash among the signature sessions of a period: in the commune,
/// per hamlet and per volunteer.
struct DistinctPeople {
    total: u32,
    by_hamlet: HashMap<String, u32>,
    by_volunteer: HashMap<String, u32>,
}

/// One pass over the period's `people_days`: people are numbers, hamlets and volunteers get
/// small numbers as they come, and sorting (group, person) pairs, packed in one `u64` each,
/// counts each person once per group.
fn distinct_people(conn: &Conn, commune: &str, lo: &str, hi: &str) -> Result<DistinctPeople> {
    // `people.id` is a rowid, far below 2^40, so (group << 40 | person) keeps both whole.
    const PERSON_BITS: u32 = 40;
    let mut names: [Vec<String>; 2] = Default::default();
    let mut numbers: [HashMap<String, u64>; 2] = Default::default();
    let mut pairs: [Vec<u64>; 2] = Default::default();
    let mut people: Vec<u64> = Vec::new();
    let sql = "SELECT person, hamlet_id, volunteer_id FROM people_days WHERE commune = ?1 AND day >= ?2 AND day <= ?3";
    conn.for_each(sql, params![commune, lo, hi], |r| {
        let person = r.get::<i64>(0)? as u64 & ((1 << PERSON_BITS) - 1);
        people.push(person);
        for g in 0..2 {
            let name = r.str(1 + g)?;
            let n = match numbers[g].get(name) {
                Some(n) => *n,
                None => {
                    let n = names[g].len() as u64;
                    names[g].push(name.to_owned());
                    numbers[g].insert(name.to_owned(), n);
                    n
                }
            };
            pairs[g].push(n << PERSON_BITS | person);
        }
        Ok(())
    })?;
    people.sort_unstable();
    people.dedup();
    let [by_hamlet, by_volunteer] = [0, 1].map(|g| {
        let pairs = &mut pairs[g];
        pairs.sort_unstable();
        pairs.dedup();
        let mut counts = vec![0u32; names[g].len()];
        for pair in pairs.iter() {
            counts[(pair >> PERSON_BITS) as usize] += 1;
        }
        names[g].iter().cloned().zip(counts).collect::<HashMap<String, u32>>()
    });
    Ok(DistinctPeople { total: people.len() as u32, by_hamlet, by_volunteer })
}
