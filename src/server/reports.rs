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
//! transaction (see "running totals" below), so a year's activity over a million records
//! reads tens of thousands of small rows instead of the records.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{Datelike, Days, NaiveDate};
use rusqlite::{params, Connection, OptionalExtension};
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
        let helped = helped_by_hamlet(&self.conn(), commune)?;
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

    /// Activity with business time in `[from, to]` (days, inclusive), from the running totals.
    pub fn activity_report(&self, commune: &str, from: NaiveDate, to: NaiveDate) -> Result<ActivityReport> {
        if to < from {
            return Err(DbError::BadPeriod);
        }
        let reference = reference(self, commune)?;
        let lo = from.format("%Y-%m-%d").to_string();
        let hi = to.format("%Y-%m-%d").to_string();
        let conn = self.conn();

        // Per hamlet and per volunteer; the commune is the sum of its hamlets (each record is
        // in exactly one).
        let mut by_hamlet: BTreeMap<String, ActivityCounts> = BTreeMap::new();
        let mut by_volunteer: BTreeMap<String, ActivityCounts> = BTreeMap::new();
        let mut without_key: HashMap<(bool, String), u32> = HashMap::new();
        let sums = ACTIVITY_SUMS.map(|c| format!("SUM({c})")).join(", ");
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT dim, key, {sums} FROM activity_days WHERE commune = ?1 AND day >= ?2 AND day <= ?3
             GROUP BY dim, key"
        ))?;
        let mut rows = stmt.query(params![commune, lo, hi])?;
        while let Some(r) = rows.next()? {
            let hamlet = r.get_ref(0)?.as_str().map_err(rusqlite::Error::from)? == "hamlet";
            let key: String = r.get(1)?;
            let n = |i: usize| r.get::<_, i64>(2 + i).map(|v| v.max(0) as u32);
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
            };
            without_key.insert((hamlet, key.clone()), n(12)?);
            if hamlet {
                by_hamlet.insert(key, c)
            } else {
                by_volunteer.insert(key, c)
            };
        }
        drop(rows);
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
        }

        // Distinct people among signature sessions: by ID hash, plus one per session without.
        let people = distinct_people(&conn, commune, &lo, &hi)?;
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
        let mut stmt = conn.prepare_cached(
            "SELECT day, kind, outcome, failure_reason, channel, records, signed, quantity, reach FROM activity_choices
             WHERE commune = ?1 AND day >= ?2 AND day <= ?3",
        )?;
        let mut rows = stmt.query(params![commune, lo, hi])?;
        while let Some(r) = rows.next()? {
            let (day, kind): (String, String) = (r.get(0)?, r.get(1)?);
            let (outcome, failure, channel): (String, String, String) = (r.get(2)?, r.get(3)?, r.get(4)?);
            let [count, signed, quantity, reach] = [r.get::<_, i64>(5)?, r.get(6)?, r.get(7)?, r.get(8)?];
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
            let Ok(day) = NaiveDate::parse_from_str(&day, "%Y-%m-%d") else { continue };
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
        }
        drop(rows);

        let mut hamlet_rows: Vec<(String, String, ActivityCounts)> = reference
            .hamlets
            .iter()
            .map(|h| (h.id.clone(), h.name.clone(), by_hamlet.remove(&h.id).unwrap_or_default()))
            .collect();
        // Hamlets no longer in the list: a retired one by its name, anything else by its id.
        let retired: HashMap<String, String> =
            super::communes::retired_hamlets(&conn, commune)?.into_iter().map(|(h, _)| (h.id, h.name)).collect();
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
fn distinct_people(conn: &Connection, commune: &str, lo: &str, hi: &str) -> Result<DistinctPeople> {
    // `people.id` is a rowid, far below 2^40, so (group << 40 | person) keeps both whole.
    const PERSON_BITS: u32 = 40;
    let mut stmt = conn.prepare_cached(
        "SELECT person, hamlet_id, volunteer_id FROM people_days WHERE commune = ?1 AND day >= ?2 AND day <= ?3",
    )?;
    let mut rows = stmt.query(params![commune, lo, hi])?;
    let mut names: [Vec<String>; 2] = Default::default();
    let mut numbers: [HashMap<String, u64>; 2] = Default::default();
    let mut pairs: [Vec<u64>; 2] = Default::default();
    let mut people: Vec<u64> = Vec::new();
    while let Some(r) = rows.next()? {
        let person = r.get::<_, i64>(0)? as u64 & ((1 << PERSON_BITS) - 1);
        people.push(person);
        for g in 0..2 {
            let name = r.get_ref(1 + g)?.as_str().map_err(rusqlite::Error::from)?;
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
    }
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

// ---- running totals -----------------------------------------------------------------------
//
// The reports read running totals, not the records: `apply_push` and `erase` take a
// record's share out of the totals before they change it and put the new share in after, in
// the same transaction (see `Pending`). Migration 4 in `db` backfilled them from the records;
// `ServerDb::totals_mismatches` recomputes them from the records and lists any difference.
//
// - `activity_days`: per day and hamlet, and per day and volunteer, the sums an
//   `ActivityCounts` needs (`no_key` counts signature sessions without an ID hash, each one
//   person).
// - `activity_choices`: per day, kind and choice (outcome, failure reason, channel), for the
//   outcome, reason and channel tables and the chart over time.
// - `people_days`: per day, which person (by `people.id`) had a signature session in which
//   hamlet with which volunteer, for distinct people in any period.
// - `coverage_people` and `coverage_hamlets`: the hamlet of each person's first successful
//   session, and per hamlet the people counted there by the counting rule above.

/// The columns of `records` a share is read from, in the order [`Share::read`] expects.
pub(super) const SHARE_COLUMNS: &str = "kind, hamlet_id, volunteer_id, substr(occurred_at, 1, 10), outcome, \
     failure_reason, channel, person_times, signed, women, minority, quantity, reach, person_key, voided";

/// The sums kept per day and hamlet or volunteer, in the order of [`Share::activity`].
const ACTIVITY_SUMS: [&str; 13] = [
    "records",
    "visits",
    "visit_people",
    "signature_sessions",
    "signed",
    "not_completed",
    "trainings",
    "attendance",
    "women",
    "minority",
    "outreach",
    "person_times",
    "no_key",
];

/// What one stored version of a record adds to the totals.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Share {
    kind: String,
    hamlet_id: String,
    volunteer_id: String,
    day: String,
    outcome: Option<String>,
    failure_reason: Option<String>,
    channel: Option<String>,
    person_times: i64,
    signed: bool,
    women: i64,
    minority: i64,
    quantity: i64,
    reach: i64,
    person_key: Option<String>,
}

impl Share {
    /// A share from a row of [`SHARE_COLUMNS`]; `None` for a voided record, which counts
    /// nowhere.
    pub(super) fn read(r: &rusqlite::Row) -> rusqlite::Result<Option<Share>> {
        if r.get::<_, bool>(14)? {
            return Ok(None);
        }
        Ok(Some(Share {
            kind: r.get(0)?,
            hamlet_id: r.get(1)?,
            volunteer_id: r.get(2)?,
            day: r.get(3)?,
            outcome: r.get(4)?,
            failure_reason: r.get(5)?,
            channel: r.get(6)?,
            person_times: r.get(7)?,
            signed: r.get(8)?,
            women: r.get(9)?,
            minority: r.get(10)?,
            quantity: r.get(11)?,
            reach: r.get(12)?,
            person_key: r.get(13)?,
        }))
    }

    /// The share of the stored record `id`, if it exists and is not voided.
    pub(super) fn stored(conn: &Connection, id: &str) -> Result<Option<Share>> {
        let sql = format!("SELECT {SHARE_COLUMNS} FROM records WHERE id = ?");
        Ok(conn.prepare_cached(&sql)?.query_row([id], Share::read).optional()?.flatten())
    }

    fn is(&self, kind: &str) -> bool {
        self.kind == kind
    }

    /// The [`ACTIVITY_SUMS`] of this record.
    fn activity(&self) -> [i64; 13] {
        let (visit, session, training) = (self.is("visit"), self.is("signature_help"), self.is("training"));
        let n = |b: bool| b as i64;
        let if_ = |b: bool, v: i64| if b { v } else { 0 };
        [
            1,
            n(visit),
            if_(visit, self.person_times),
            n(session),
            n(session && self.signed),
            n(session && self.outcome.as_deref() == Some("not_completed")),
            n(training),
            if_(training, self.person_times),
            if_(training, self.women),
            if_(training, self.minority),
            n(self.is("outreach")),
            self.person_times,
            n(session && self.person_key.is_none()),
        ]
    }
}

/// Changes to the totals within one transaction: gathered by [`Pending::add`] for each share
/// taken out or put in, written by [`Pending::settle`] before the transaction commits.
#[derive(Default)]
pub(super) struct Pending {
    /// (dimension, hamlet or volunteer id, day) → change of each of [`ACTIVITY_SUMS`].
    activity: BTreeMap<(&'static str, String, String), [i64; 13]>,
    /// (day, kind, outcome, failure reason, channel) → change of records, signed, quantity, reach.
    choices: BTreeMap<(String, String, String, String, String), [i64; 4]>,
    /// (day, person, hamlet, volunteer) → change of sessions.
    people: BTreeMap<(String, i64, String, String), i64>,
    /// Hamlet → change of successful sessions without an ID hash.
    without_key: BTreeMap<String, i64>,
    /// People (id → ID hash) whose successful sessions changed: their first one is looked
    /// up again.
    recheck: BTreeMap<i64, String>,
    person_ids: HashMap<String, i64>,
}

impl Pending {
    /// Puts a share in (`sign` 1) or takes it out (`sign` -1).
    pub(super) fn add(&mut self, conn: &Connection, commune: &str, share: &Share, sign: i64) -> Result<()> {
        let sums = share.activity().map(|v| v * sign);
        for (dim, key) in [("hamlet", &share.hamlet_id), ("volunteer", &share.volunteer_id)] {
            let e = self.activity.entry((dim, key.clone(), share.day.clone())).or_default();
            e.iter_mut().zip(sums).for_each(|(a, b)| *a += b);
        }
        let choice = (
            share.day.clone(),
            share.kind.clone(),
            share.outcome.clone().unwrap_or_default(),
            share.failure_reason.clone().unwrap_or_default(),
            share.channel.clone().unwrap_or_default(),
        );
        let e = self.choices.entry(choice).or_default();
        for (a, b) in e.iter_mut().zip([1, share.signed as i64, share.quantity, share.reach]) {
            *a += b * sign;
        }
        if !share.is("signature_help") {
            return Ok(());
        }
        match &share.person_key {
            Some(key) => {
                let person = self.person_id(conn, commune, key)?;
                let at = (share.day.clone(), person, share.hamlet_id.clone(), share.volunteer_id.clone());
                *self.people.entry(at).or_default() += sign;
                if share.signed {
                    self.recheck.insert(person, key.clone());
                }
            }
            None if share.signed => *self.without_key.entry(share.hamlet_id.clone()).or_default() += sign,
            None => {}
        }
        Ok(())
    }

    /// The number standing for an ID hash in the totals (made on first use).
    fn person_id(&mut self, conn: &Connection, commune: &str, key: &str) -> Result<i64> {
        if let Some(id) = self.person_ids.get(key) {
            return Ok(*id);
        }
        let found: Option<i64> = conn
            .prepare_cached("SELECT id FROM people WHERE commune = ? AND person_key = ?")?
            .query_row([commune, key], |r| r.get(0))
            .optional()?;
        let id = match found {
            Some(id) => id,
            None => conn
                .prepare_cached("INSERT INTO people (commune, person_key) VALUES (?, ?) RETURNING id")?
                .query_row([commune, key], |r| r.get(0))?,
        };
        self.person_ids.insert(key.to_owned(), id);
        Ok(id)
    }

    /// Writes the gathered changes, looks up again the first successful session of every
    /// person whose sessions changed, and returns the hamlets whose coverage figure may have
    /// changed.
    pub(super) fn settle(self, conn: &Connection, commune: &str) -> Result<BTreeSet<String>> {
        let columns = ACTIVITY_SUMS.join(", ");
        let values = vec!["?"; ACTIVITY_SUMS.len()].join(", ");
        let updates: Vec<String> = ACTIVITY_SUMS.iter().map(|c| format!("{c} = {c} + excluded.{c}")).collect();
        let mut upsert = conn.prepare_cached(&format!(
            "INSERT INTO activity_days (commune, dim, key, day, {columns}) VALUES (?, ?, ?, ?, {values})
             ON CONFLICT (commune, dim, key, day) DO UPDATE SET {}",
            updates.join(", ")
        ))?;
        let mut empty = conn.prepare_cached(
            "DELETE FROM activity_days WHERE commune = ? AND dim = ? AND key = ? AND day = ? AND records = 0",
        )?;
        for ((dim, key, day), sums) in &self.activity {
            if sums.iter().all(|v| *v == 0) {
                continue;
            }
            let head: [&dyn rusqlite::ToSql; 4] = [&commune, dim, key, day];
            let args: Vec<&dyn rusqlite::ToSql> =
                head.into_iter().chain(sums.iter().map(|v| v as &dyn rusqlite::ToSql)).collect();
            upsert.execute(args.as_slice())?;
            if sums[0] < 0 {
                empty.execute(params![commune, dim, key, day])?;
            }
        }

        let mut upsert = conn.prepare_cached(
            "INSERT INTO activity_choices (commune, day, kind, outcome, failure_reason, channel, records, signed, quantity, reach)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (commune, day, kind, outcome, failure_reason, channel) DO UPDATE SET
                records = records + excluded.records, signed = signed + excluded.signed,
                quantity = quantity + excluded.quantity, reach = reach + excluded.reach",
        )?;
        let mut empty = conn.prepare_cached(
            "DELETE FROM activity_choices WHERE commune = ? AND day = ? AND kind = ? AND outcome = ?
                AND failure_reason = ? AND channel = ? AND records = 0",
        )?;
        for ((day, kind, outcome, reason, channel), [records, signed, quantity, reach]) in &self.choices {
            if [records, signed, quantity, reach].iter().all(|v| **v == 0) {
                continue;
            }
            upsert.execute(params![commune, day, kind, outcome, reason, channel, records, signed, quantity, reach])?;
            if *records < 0 {
                empty.execute(params![commune, day, kind, outcome, reason, channel])?;
            }
        }

        let mut upsert = conn.prepare_cached(
            "INSERT INTO people_days (commune, day, person, hamlet_id, volunteer_id, sessions) VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (commune, day, person, hamlet_id, volunteer_id) DO UPDATE SET sessions = sessions + excluded.sessions",
        )?;
        let mut empty = conn.prepare_cached(
            "DELETE FROM people_days WHERE commune = ? AND day = ? AND person = ? AND hamlet_id = ?
                AND volunteer_id = ? AND sessions = 0",
        )?;
        for ((day, person, hamlet, volunteer), sessions) in &self.people {
            if *sessions != 0 {
                upsert.execute(params![commune, day, person, hamlet, volunteer, sessions])?;
            }
            if *sessions < 0 {
                empty.execute(params![commune, day, person, hamlet, volunteer])?;
            }
        }

        let mut changed: BTreeMap<String, i64> = self.without_key.into_iter().filter(|(_, n)| *n != 0).collect();
        let mut first = conn.prepare_cached(
            "SELECT hamlet_id FROM records WHERE commune = ? AND person_key = ? AND signed = 1 AND voided = 0
             ORDER BY occurred_at, id LIMIT 1",
        )?;
        let mut stored = conn.prepare_cached("SELECT hamlet_id FROM coverage_people WHERE person = ?")?;
        for (person, key) in &self.recheck {
            let now: Option<String> = first.query_row([commune, key.as_str()], |r| r.get(0)).optional()?;
            let before: Option<String> = stored.query_row([person], |r| r.get(0)).optional()?;
            if now == before {
                continue;
            }
            if let Some(h) = before {
                *changed.entry(h).or_default() -= 1;
            }
            match &now {
                Some(h) => {
                    *changed.entry(h.clone()).or_default() += 1;
                    conn.prepare_cached(
                        "INSERT INTO coverage_people (person, hamlet_id) VALUES (?, ?)
                         ON CONFLICT (person) DO UPDATE SET hamlet_id = excluded.hamlet_id",
                    )?
                    .execute(params![person, h])?;
                }
                None => {
                    conn.prepare_cached("DELETE FROM coverage_people WHERE person = ?")?.execute([person])?;
                }
            }
        }
        let mut upsert = conn.prepare_cached(
            "INSERT INTO coverage_hamlets (commune, hamlet_id, helped) VALUES (?, ?, ?)
             ON CONFLICT (commune, hamlet_id) DO UPDATE SET helped = helped + excluded.helped",
        )?;
        let mut empty =
            conn.prepare_cached("DELETE FROM coverage_hamlets WHERE commune = ? AND hamlet_id = ? AND helped = 0")?;
        for (hamlet, n) in &changed {
            if *n != 0 {
                upsert.execute(params![commune, hamlet, n])?;
                empty.execute(params![commune, hamlet])?;
            }
        }
        Ok(changed.into_iter().filter(|(_, n)| *n != 0).map(|(h, _)| h).collect())
    }
}

/// People helped to a signature per hamlet, by the counting rule in the module doc: what the
/// office's coverage report shows and what devices pull. Hamlets with nobody are absent.
pub(super) fn helped_by_hamlet(conn: &Connection, commune: &str) -> Result<BTreeMap<String, u32>> {
    let mut stmt = conn.prepare_cached("SELECT hamlet_id, helped FROM coverage_hamlets WHERE commune = ?")?;
    let rows = stmt.query_map([commune], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    rows.map(|r| r.map(|(h, n)| (h, n.max(0) as u32)).map_err(Into::into)).collect()
}

/// The totals recomputed from the records, one query per table, each giving the rows that
/// table should hold for commune `?1` (compared with `EXCEPT` both ways).
const RECOMPUTED: [(&str, &str, &str); 5] = [
    (
        "activity_days",
        "SELECT dim, key, day, records, visits, visit_people, signature_sessions, signed, not_completed,
                trainings, attendance, women, minority, outreach, person_times, no_key
         FROM activity_days WHERE commune = ?1",
        "SELECT dim, key, day, COUNT(*), SUM(kind = 'visit'), SUM(IIF(kind = 'visit', person_times, 0)),
                SUM(kind = 'signature_help'), SUM(kind = 'signature_help' AND signed = 1),
                SUM(kind = 'signature_help' AND outcome = 'not_completed'), SUM(kind = 'training'),
                SUM(IIF(kind = 'training', person_times, 0)), SUM(IIF(kind = 'training', women, 0)),
                SUM(IIF(kind = 'training', minority, 0)), SUM(kind = 'outreach'), SUM(person_times),
                SUM(kind = 'signature_help' AND person_key IS NULL)
         FROM (SELECT 'hamlet' AS dim, hamlet_id AS key, substr(occurred_at, 1, 10) AS day, * FROM records
               WHERE commune = ?1 AND voided = 0
               UNION ALL
               SELECT 'volunteer', volunteer_id, substr(occurred_at, 1, 10), * FROM records
               WHERE commune = ?1 AND voided = 0)
         GROUP BY dim, key, day",
    ),
    (
        "activity_choices",
        "SELECT day, kind, outcome, failure_reason, channel, records, signed, quantity, reach
         FROM activity_choices WHERE commune = ?1",
        "SELECT substr(occurred_at, 1, 10), kind, COALESCE(outcome, ''), COALESCE(failure_reason, ''),
                COALESCE(channel, ''), COUNT(*), SUM(signed), SUM(quantity), SUM(reach)
         FROM records WHERE commune = ?1 AND voided = 0 GROUP BY 1, 2, 3, 4, 5",
    ),
    (
        "people_days",
        "SELECT d.day, p.person_key, d.hamlet_id, d.volunteer_id, d.sessions
         FROM people_days d JOIN people p ON p.id = d.person WHERE d.commune = ?1",
        "SELECT substr(occurred_at, 1, 10), person_key, hamlet_id, volunteer_id, COUNT(*) FROM records
         WHERE commune = ?1 AND voided = 0 AND kind = 'signature_help' AND person_key IS NOT NULL
         GROUP BY 1, 2, 3, 4",
    ),
    (
        "coverage_people",
        "SELECT p.person_key, c.hamlet_id FROM coverage_people c JOIN people p ON p.id = c.person
         WHERE p.commune = ?1",
        "SELECT person_key, hamlet_id FROM (
            SELECT person_key, hamlet_id, ROW_NUMBER() OVER (PARTITION BY person_key ORDER BY occurred_at, id) AS n
            FROM records WHERE commune = ?1 AND signed = 1 AND voided = 0 AND person_key IS NOT NULL
         ) WHERE n = 1",
    ),
    (
        "coverage_hamlets",
        "SELECT hamlet_id, helped FROM coverage_hamlets WHERE commune = ?1",
        "SELECT hamlet_id, SUM(n) FROM (
            SELECT hamlet_id, COUNT(*) AS n FROM (
                SELECT hamlet_id, ROW_NUMBER() OVER (PARTITION BY person_key ORDER BY occurred_at, id) AS k
                FROM records WHERE commune = ?1 AND signed = 1 AND voided = 0 AND person_key IS NOT NULL
            ) WHERE k = 1 GROUP BY hamlet_id
            UNION ALL
            SELECT hamlet_id, COUNT(*) FROM records
            WHERE commune = ?1 AND signed = 1 AND voided = 0 AND person_key IS NULL GROUP BY hamlet_id
         ) GROUP BY hamlet_id",
    ),
];

impl ServerDb {
    /// Recomputes the report totals of a commune from its records and lists every row that
    /// differs from the running totals (empty when they agree): for tests and for checking a
    /// server's file by hand. Reads every record of the commune.
    pub fn totals_mismatches(&self, commune: &str) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut out = Vec::new();
        for (table, kept, recomputed) in RECOMPUTED {
            for (label, a, b) in
                [("kept but not recomputed", kept, recomputed), ("recomputed but not kept", recomputed, kept)]
            {
                let mut stmt = conn.prepare(&format!("{a} EXCEPT {b}"))?;
                let mut rows = stmt.query([commune])?;
                while let Some(row) = rows.next()? {
                    let cells: Vec<String> = (0..row.as_ref().column_count())
                        .map(|i| match row.get_ref(i) {
                            Ok(v) => format!("{v:?}"),
                            Err(e) => e.to_string(),
                        })
                        .collect();
                    out.push(format!("{table}: {label}: {}", cells.join(", ")));
                }
            }
        }
        Ok(out)
    }
}
