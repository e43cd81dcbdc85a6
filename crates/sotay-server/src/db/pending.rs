//! The changes one transaction makes to the running totals (`totals`): a push or an
//! erasure takes each stored share out and puts each new one in ([`Pending::add`], no
//! database work), then writes the sums of those changes, table by table, in a few
//! statements of many rows ([`Pending::settle`], `many`), and looks up again, for the people
//! whose successful sessions changed, the hamlet of their first one.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::many;
use super::sql::{params, Conn, Row, Value};
use super::totals::{Share, ACTIVITY_SUMS, SUMS};
use super::Result;

/// Changes to the totals within one transaction: gathered by [`Pending::add`] for each share
/// taken out or put in, written by [`Pending::settle`] before the transaction commits, each
/// table in a few statements of many rows ([`super::many`]).
#[derive(Default)]
pub(super) struct Pending {
    /// (dimension, hamlet or volunteer id, day) → change of each of [`ACTIVITY_SUMS`].
    activity: BTreeMap<(&'static str, String, String), [i64; SUMS]>,
    /// (day, kind, outcome, failure reason, channel) → change of records, signed, quantity, reach.
    choices: BTreeMap<(String, String, String, String, String), [i64; 4]>,
    /// (day, person's ID hash, hamlet, volunteer) → change of sessions.
    people: BTreeMap<(String, String, String, String), i64>,
    /// Hamlet → change of successful sessions without an ID hash.
    without_key: BTreeMap<String, i64>,
    /// The ID hashes of people whose successful sessions changed: their first one is looked
    /// up again.
    recheck: BTreeSet<String>,
}

impl Pending {
    /// Puts a share in (`sign` 1) or takes it out (`sign` -1).
    pub(super) fn add(&mut self, share: &Share, sign: i64) {
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
            return;
        }
        match &share.person_key {
            Some(key) => {
                let at = (share.day.clone(), key.clone(), share.hamlet_id.clone(), share.volunteer_id.clone());
                *self.people.entry(at).or_default() += sign;
                if share.signed {
                    self.recheck.insert(key.clone());
                }
            }
            None if share.signed => *self.without_key.entry(share.hamlet_id.clone()).or_default() += sign,
            None => {}
        }
    }

    /// Writes the gathered changes, looks up again the first successful session of every
    /// person whose sessions changed, and returns the hamlets whose coverage figure may have
    /// changed.
    pub(super) fn settle(self, conn: &Conn, commune: &str) -> Result<BTreeSet<String>> {
        let text = |v: &str| Value::Text(v.to_owned());
        let columns = ACTIVITY_SUMS.join(", ");
        let updates: Vec<String> =
            ACTIVITY_SUMS.iter().map(|c| format!("{c} = activity_days.{c} + excluded.{c}")).collect();
        let (mut rows, mut emptied) = (Vec::new(), Vec::new());
        for ((dim, key, day), sums) in &self.activity {
            if sums.iter().all(|v| *v == 0) {
                continue;
            }
            rows.extend([commune, *dim, key.as_str(), day.as_str()].map(text));
            rows.extend(sums.iter().map(|v| Value::Int(*v)));
            if sums[0] < 0 {
                emptied.push((dim, key, day));
            }
        }
        many::execute_rows(
            conn,
            [
                &format!("INSERT INTO activity_days (commune, dim, key, day, {columns}) VALUES"),
                &many::row_of(4 + SUMS),
                &format!("ON CONFLICT (commune, dim, key, day) DO UPDATE SET {}", updates.join(", ")),
            ],
            4 + SUMS,
            rows,
            &[],
        )?;
        let empty = "DELETE FROM activity_days WHERE commune = ? AND dim = ? AND key = ? AND day = ? AND records = 0";
        for (dim, key, day) in emptied {
            conn.execute(empty, params![commune, dim, key, day])?;
        }

        let (mut rows, mut emptied) = (Vec::new(), Vec::new());
        for (choice @ (day, kind, outcome, reason, channel), sums) in &self.choices {
            if sums.iter().all(|v| *v == 0) {
                continue;
            }
            rows.extend([commune, day, kind, outcome, reason, channel].map(text));
            rows.extend(sums.iter().map(|v| Value::Int(*v)));
            if sums[0] < 0 {
                emptied.push(choice);
            }
        }
        many::execute_rows(
            conn,
            [
                "INSERT INTO activity_choices (commune, day, kind, outcome, failure_reason, channel, records, signed,
                    quantity, reach) VALUES",
                &many::row_of(10),
                "ON CONFLICT (commune, day, kind, outcome, failure_reason, channel) DO UPDATE SET
                    records = activity_choices.records + excluded.records,
                    signed = activity_choices.signed + excluded.signed,
                    quantity = activity_choices.quantity + excluded.quantity,
                    reach = activity_choices.reach + excluded.reach",
            ],
            10,
            rows,
            &[],
        )?;
        let empty = "DELETE FROM activity_choices WHERE commune = ? AND day = ? AND kind = ? AND outcome = ?
                AND failure_reason = ? AND channel = ? AND records = 0";
        for (day, kind, outcome, reason, channel) in emptied {
            conn.execute(empty, params![commune, day, kind, outcome, reason, channel])?;
        }

        let keys: BTreeSet<&str> =
            self.people.keys().map(|k| k.1.as_str()).chain(self.recheck.iter().map(String::as_str)).collect();
        let person_ids = person_ids(conn, commune, &keys)?;
        let (mut rows, mut emptied) = (Vec::new(), Vec::new());
        for ((day, key, hamlet, volunteer), sessions) in &self.people {
            let person = numbered(&person_ids, key)?;
            if *sessions != 0 {
                rows.extend([text(commune), text(day), Value::Int(person), text(hamlet), text(volunteer)]);
                rows.push(Value::Int(*sessions));
            }
            if *sessions < 0 {
                emptied.push((day, person, hamlet, volunteer));
            }
        }
        many::execute_rows(
            conn,
            [
                "INSERT INTO people_days (commune, day, person, hamlet_id, volunteer_id, sessions) VALUES",
                &many::row_of(6),
                "ON CONFLICT (commune, day, person, hamlet_id, volunteer_id)
                 DO UPDATE SET sessions = people_days.sessions + excluded.sessions",
            ],
            6,
            rows,
            &[],
        )?;
        let empty = "DELETE FROM people_days WHERE commune = ? AND day = ? AND person = ? AND hamlet_id = ?
                AND volunteer_id = ? AND sessions = 0";
        for (day, person, hamlet, volunteer) in emptied {
            conn.execute(empty, params![commune, day, person, hamlet, volunteer])?;
        }

        let mut changed: BTreeMap<String, i64> = self.without_key.into_iter().filter(|(_, n)| *n != 0).collect();
        for (before, now) in first_sessions(conn, commune, &self.recheck, &person_ids)? {
            if let Some(h) = before {
                *changed.entry(h).or_default() -= 1;
            }
            if let Some(h) = now {
                *changed.entry(h).or_default() += 1;
            }
        }
        let changed: Vec<(String, i64)> = changed.into_iter().filter(|(_, n)| *n != 0).collect();
        let rows = changed.iter().flat_map(|(h, n)| [text(commune), text(h), Value::Int(*n)]).collect();
        many::execute_rows(
            conn,
            [
                "INSERT INTO coverage_hamlets (commune, hamlet_id, helped) VALUES",
                &many::row_of(3),
                "ON CONFLICT (commune, hamlet_id) DO UPDATE SET helped = coverage_hamlets.helped + excluded.helped",
            ],
            3,
            rows,
            &[],
        )?;
        let hamlets: Vec<Value> = changed.iter().map(|(h, _)| text(h)).collect();
        many::execute_rows(
            conn,
            ["DELETE FROM coverage_hamlets WHERE hamlet_id IN (", "?", ") AND commune = ? AND helped = 0"],
            1,
            hamlets,
            &[text(commune)],
        )?;
        Ok(changed.into_iter().map(|(h, _)| h).collect())
    }
}

/// The number standing for each ID hash of `keys` in the totals (made on first use).
fn person_ids(conn: &Conn, commune: &str, keys: &BTreeSet<&str>) -> Result<HashMap<String, i64>> {
    let mut ids = HashMap::new();
    let mut note = |r: &Row| {
        ids.insert(r.get(0)?, r.get(1)?);
        Ok(())
    };
    many::query_rows(
        conn,
        ["SELECT person_key, id FROM people WHERE person_key IN (", "?", ") AND commune = ?"],
        1,
        many::texts(keys.iter().copied()),
        &[Value::Text(commune.to_owned())],
        &mut note,
    )?;
    let missing: Vec<&str> = keys.iter().copied().filter(|k| !ids.contains_key(*k)).collect();
    let rows = missing.iter().flat_map(|k| [commune, k]).map(|v| Value::Text(v.to_owned())).collect();
    let mut note = |r: &Row| {
        ids.insert(r.get(0)?, r.get(1)?);
        Ok(())
    };
    many::query_rows(
        conn,
        ["INSERT INTO people (commune, person_key) VALUES", &many::row_of(2), "RETURNING person_key, id"],
        2,
        rows,
        &[],
        &mut note,
    )?;
    Ok(ids)
}

/// The number of ID hash `key` ([`person_ids`] numbered every one a push touches).
fn numbered(person_ids: &HashMap<String, i64>, key: &str) -> Result<i64> {
    person_ids.get(key).copied().ok_or(super::DbError::NoRow)
}

/// For each person of `keys` (an ID hash, numbered in `person_ids`), the hamlet of their
/// first successful session as `coverage_people` held it and as the records now say,
/// `coverage_people` brought up to date; only the people for whom they differ.
fn first_sessions(
    conn: &Conn,
    commune: &str,
    keys: &BTreeSet<String>,
    person_ids: &HashMap<String, i64>,
) -> Result<Vec<(Option<String>, Option<String>)>> {
    let mut now: HashMap<String, String> = HashMap::new();
    many::query_rows(
        conn,
        [
            "SELECT person_key, hamlet_id FROM (
                SELECT person_key, hamlet_id,
                       ROW_NUMBER() OVER (PARTITION BY person_key ORDER BY occurred_at, id) AS n
                FROM records WHERE person_key IN (",
            "?",
            ") AND commune = ? AND signed = 1 AND voided = 0) AS f WHERE n = 1",
        ],
        1,
        many::texts(keys.iter().map(String::as_str)),
        &[Value::Text(commune.to_owned())],
        |r| {
            now.insert(r.get(0)?, r.get(1)?);
            Ok(())
        },
    )?;
    let mut before: HashMap<i64, String> = HashMap::new();
    many::query_rows(
        conn,
        ["SELECT person, hamlet_id FROM coverage_people WHERE person IN (", "?", ")"],
        1,
        keys.iter().map(|k| numbered(person_ids, k).map(Value::Int)).collect::<Result<_>>()?,
        &[],
        |r| {
            before.insert(r.get(0)?, r.get(1)?);
            Ok(())
        },
    )?;
    let (mut set, mut gone, mut differ) = (Vec::new(), Vec::new(), Vec::new());
    for key in keys {
        let person = numbered(person_ids, key)?;
        let (was, is) = (before.remove(&person), now.remove(key));
        if was == is {
            continue;
        }
        match &is {
            Some(h) => set.extend([Value::Int(person), Value::Text(h.clone())]),
            None => gone.push(Value::Int(person)),
        }
        differ.push((was, is));
    }
    many::execute_rows(
        conn,
        [
            "INSERT INTO coverage_people (person, hamlet_id) VALUES",
            &many::row_of(2),
            "ON CONFLICT (person) DO UPDATE SET hamlet_id = excluded.hamlet_id",
        ],
        2,
        set,
        &[],
    )?;
    many::execute_rows(conn, ["DELETE FROM coverage_people WHERE person IN (", "?", ")"], 1, gone, &[])?;
    Ok(differ)
}
