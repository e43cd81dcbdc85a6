//! What one push knows of the stored records it touches, read in a few queries before its
//! records are applied rather than in one per record (on PostgreSQL each is a round trip),
//! and kept up to date as the push applies them (a push may carry two versions of a record).
//! The push locks its commune first (`write_in`), so nothing else changes these rows
//! meanwhile.

use std::collections::HashMap;

use super::many;
use super::sql::{Conn, Value};
use super::totals::{Share, SHARE_COLUMNS};
use super::Result;

/// A stored record, as a push needs it.
#[derive(Clone)]
pub(super) struct Stored {
    pub(super) version: i64,
    pub(super) voided: bool,
    pub(super) device: String,
    pub(super) erased: bool,
    pub(super) person_key: Option<String>,
    /// The breakdown it was counted under (an erased record keeps it, `breakdowns`).
    pub(super) sex: Option<String>,
    pub(super) person_minority: bool,
    /// What it adds to the totals (`None` when voided).
    pub(super) share: Option<Share>,
}

#[derive(Default)]
pub(super) struct Known {
    records: HashMap<String, Stored>,
    /// An erased person's ID hash → (the key that replaced it, when they were erased).
    erased: HashMap<String, (String, String)>,
}

impl Known {
    /// The stored records `ids` (those that exist) and the erasures of the people
    /// `person_keys` (those erased) of commune `commune`.
    pub(super) fn read(tx: &Conn, commune: &str, ids: &[String], person_keys: &[String]) -> Result<Known> {
        let mut known = Known::default();
        let head = format!(
            "SELECT id, version, voided, device_id, erased, person_key, person_sex, person_minority, {SHARE_COLUMNS}
             FROM records WHERE id IN ("
        );
        many::query_rows(tx, [&head, "?", ")"], 1, many::texts(ids.iter().map(String::as_str)), &[], |r| {
            let stored = Stored {
                version: r.get(1)?,
                voided: r.get(2)?,
                device: r.get(3)?,
                erased: r.get(4)?,
                person_key: r.get(5)?,
                sex: r.get(6)?,
                person_minority: r.get(7)?,
                share: Share::read_at(r, 8)?,
            };
            known.records.insert(r.get(0)?, stored);
            Ok(())
        })?;
        many::query_rows(
            tx,
            [
                "SELECT person_key, replaced_by, erased_at FROM erased_people WHERE person_key IN (",
                "?",
                ") AND commune = ?",
            ],
            1,
            many::texts(person_keys.iter().map(String::as_str)),
            &[Value::Text(commune.to_owned())],
            |r| {
                known.erased.insert(r.get(0)?, (r.get(1)?, r.get(2)?));
                Ok(())
            },
        )?;
        Ok(known)
    }

    /// The stored record `id`, as this push left it so far.
    pub(super) fn record(&self, id: &str) -> Option<&Stored> {
        self.records.get(id)
    }

    /// Record `id` as this push has just stored it.
    pub(super) fn stored(&mut self, id: String, stored: Stored) {
        self.records.insert(id, stored);
    }

    /// The key that replaced the hash of an erased person, for a record of theirs saved
    /// (`saved`, RFC 3339 as stored) before the erasure.
    pub(super) fn erased_before(&self, person_key: &str, saved: &str) -> Option<&str> {
        self.erased.get(person_key).filter(|(_, at)| at.as_str() > saved).map(|(by, _)| by.as_str())
    }
}
