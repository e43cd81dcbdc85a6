//! Coverage as of a chosen day: what the office knew at the end of that day, Vietnam time.
//!
//! A report for 20/11 printed on 25/11 must give the figures printed on 20/11, so the figure
//! for a day cannot be recomputed from the records (a tablet syncing on 22/11 a session of
//! 19/11, or a record voided on 23/11, would change it). Instead every change of a hamlet's
//! coverage figure (the running totals of `reports`, moved by a push or an erasure) is kept
//! in `coverage_days` on the day the server made it, in the same transaction
//! ([`crate::db::coverage_days::note_coverage`]); the figure as of a day is the sum of its
//! changes up to that day, a few thousand small rows at most for a year. Migration 9 started the log from the records
//! then on the server, each person on the day of their first successful session.
//!
//! What the log does not freeze: hamlets' adult populations and baselines, and the list of
//! hamlets, are the reference data of today.

use std::collections::BTreeSet;

use super::db::coverage_days::helped_as_of;
use super::db::{helped_by_hamlet, Result, ServerDb};
use super::reports::{coverage_of, CoverageReport};
use chrono::NaiveDate;

pub use crate::vn_time::{vietnam, vn_day, vn_time, vn_today};

impl ServerDb {
    /// Coverage per hamlet and for the commune as the office knew it at the end of `day`
    /// (Vietnam time): the same figures whenever it is asked. For today or later it is
    /// the live [`ServerDb::coverage_report`] (which the log sums to).
    pub fn coverage_report_as_of(&self, commune: &str, day: NaiveDate) -> Result<CoverageReport> {
        if day >= vn_today() {
            return self.coverage_report(commune);
        }
        let reference = self.commune(commune)?;
        let helped = self.read(|c| helped_as_of(c, commune, day))?;
        Ok(coverage_of(reference, &helped, day))
    }

    /// Hamlets whose logged coverage (the sum of every day's changes) differs from the
    /// running totals, as "hamlet: logged ≠ kept" (empty when they agree): for the tests.
    pub fn coverage_log_mismatches(&self, commune: &str) -> Result<Vec<String>> {
        let end = NaiveDate::from_ymd_opt(9999, 12, 31).expect("a valid day");
        let (kept, logged) = self.read(|c| Ok((helped_by_hamlet(c, commune)?, helped_as_of(c, commune, end)?)))?;
        let hamlets: BTreeSet<&String> = kept.keys().chain(logged.keys()).collect();
        Ok(hamlets
            .into_iter()
            .filter_map(|h| {
                let (a, b) = (logged.get(h).copied().unwrap_or(0), kept.get(h).copied().unwrap_or(0));
                (a != b).then(|| format!("{h}: {a} ≠ {b}"))
            })
            .collect())
    }
}
