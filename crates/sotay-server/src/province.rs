//! The province level: every commune of one province on this server, side by side and
//! rolled up, counts only. Since 1 July 2025 communes report straight to the province, whose
//! department of science and technology collects their figures.
//!
//! Each commune's line is that commune's own coverage report total (its hamlets, its target);
//! the province's total sums the communes' adults, baselines and people helped and measures
//! them against the movement's target of [`PROVINCE_TARGET`]%. People are counted once per
//! commune: ID hashes are keyed per commune, so a person helped in two communes counts in
//! both (as each commune reports them). Nothing here reads another province's communes: the
//! callers pass the province of the session, and every commune asked for by code is checked
//! against it ([`ServerDb::commune_in_province`]).

use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::communes::CommuneRow;
use super::db::{Result, ServerDb};
use super::reports::{ActivityCounts, CoverageReport, CoverageRow};
use crate::domain::coverage::Coverage;
use crate::domain::Commune;

/// The movement's target the province total is measured against (each commune keeps its own).
pub const PROVINCE_TARGET: u32 = 50;

/// Activity of every commune of a province for a period.
#[derive(Debug, Clone, PartialEq)]
pub struct ProvinceActivity {
    pub province: String,
    pub province_name: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// (commune code, name, counts), by code.
    pub rows: Vec<(String, String, ActivityCounts)>,
    pub total: ActivityCounts,
}

/// The province's name as the list of units gives it, or its code.
pub fn province_name(province: &str) -> String {
    super::units::province(province).map(str::to_owned).unwrap_or_else(|| format!("Tỉnh {province}"))
}

fn add(total: &mut ActivityCounts, c: &ActivityCounts) {
    total.visits += c.visits;
    total.visit_people += c.visit_people;
    total.signature_sessions += c.signature_sessions;
    total.signature_people += c.signature_people;
    total.signed += c.signed;
    total.not_completed += c.not_completed;
    total.trainings += c.trainings;
    total.attendance += c.attendance;
    total.women += c.women;
    total.minority += c.minority;
    total.outreach += c.outreach;
    total.person_times += c.person_times;
    total.signed_women += c.signed_women;
    total.signed_men += c.signed_men;
    total.signed_minority += c.signed_minority;
    total.signed_anonymous += c.signed_anonymous;
    total.level2_activations += c.level2_activations;
}

impl ServerDb {
    /// True when `commune` is on this server and in `province`: the one check between a
    /// province account and a commune code taken from an address.
    pub fn commune_in_province(&self, commune: &str, province: &str) -> Result<bool> {
        Ok(self.province_of(commune)?.is_some_and(|p| p == province))
    }

    /// Coverage of every commune of the province, most still needed first, with the
    /// province's total: a [`CoverageReport`] whose rows are communes (`hamlet_id` is the
    /// commune's code) and whose `commune` is the province.
    pub fn province_coverage(&self, province: &str) -> Result<CoverageReport> {
        self.province_coverage_as_of(province, None)
    }

    /// [`ServerDb::province_coverage`] as the communes knew it at the end of `day` (see
    /// `asof`), or today with `None`.
    pub fn province_coverage_as_of(&self, province: &str, day: Option<NaiveDate>) -> Result<CoverageReport> {
        let mut rows = Vec::new();
        let as_of = day.unwrap_or_else(super::asof::vn_today);
        for code in self.province_commune_codes(province)? {
            let r = match day {
                Some(day) => self.coverage_report_as_of(&code, day)?,
                None => self.coverage_report(&code)?,
            };
            let mut line = r.total;
            line.hamlet_id = code;
            line.name = r.commune.name;
            rows.push(line);
        }
        rows.sort_by(|a, b| {
            b.still_needed
                .cmp(&a.still_needed)
                .then(a.percent.total_cmp(&b.percent))
                .then(a.hamlet_id.cmp(&b.hamlet_id))
        });
        let name = province_name(province);
        let total = Coverage {
            adult_population: rows.iter().map(|r| r.adult_population).sum(),
            baseline_signed: rows.iter().map(|r| r.baseline_signed).sum(),
            helped_signed: rows.iter().map(|r| r.signed - r.baseline_signed.min(r.signed)).sum(),
            target_percent: PROVINCE_TARGET,
        };
        let total = CoverageRow {
            hamlet_id: String::new(),
            name: name.clone(),
            adult_population: total.adult_population,
            baseline_signed: total.baseline_signed,
            helped_signed: total.helped_signed,
            signed: total.signed(),
            percent: total.percent(),
            still_needed: total.still_needed(),
            reached: total.reached(),
        };
        let commune = Commune {
            code: province.to_owned(),
            name,
            province: province.to_owned(),
            target_percent: PROVINCE_TARGET,
            sample: false,
        };
        Ok(CoverageReport { commune, as_of, target_percent: PROVINCE_TARGET, rows, total })
    }

    /// Activity of every commune of the province with business time in `[from, to]`.
    pub fn province_activity(&self, province: &str, from: NaiveDate, to: NaiveDate) -> Result<ProvinceActivity> {
        let mut rows = Vec::new();
        let mut total = ActivityCounts::default();
        for c in self.commune_list(Some(province))? {
            let r = self.activity_report(&c.code, from, to)?;
            add(&mut total, &r.totals);
            rows.push((c.code, r.commune.name, r.totals));
        }
        Ok(ProvinceActivity {
            province: province.to_owned(),
            province_name: province_name(province),
            from,
            to,
            rows,
            total,
        })
    }

    /// The province's communes none of whose devices has synced in the last `days` days
    /// (or ever), longest silent first.
    pub fn quiet_communes(&self, province: &str, days: i64, now: DateTime<Utc>) -> Result<Vec<CommuneRow>> {
        let since = (now - Duration::days(days)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mut quiet: Vec<CommuneRow> = self
            .commune_list(Some(province))?
            .into_iter()
            .filter(|c| c.last_sync.as_deref().is_none_or(|t| t < since.as_str()))
            .collect();
        quiet.sort_by(|a, b| a.last_sync.cmp(&b.last_sync).then(a.code.cmp(&b.code)));
        Ok(quiet)
    }
}
