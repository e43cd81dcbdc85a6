//! The commune's plan (Kế hoạch) for a year: targets per hamlet and per unit — people helped
//! to a signature, trainings, outreach activities — and a timeline of dated tasks. The
//! office's plan page keeps them; the coverage and activity pages set them against what was
//! done (`office::plan`).

use std::collections::BTreeMap;

use super::sql::params;
use super::{DbError, Result, ServerDb};
use chrono::NaiveDate;

/// Migration 12: targets and the timeline.
pub(crate) const MIGRATION: &str = r#"
    CREATE TABLE plan_targets (
        commune    TEXT NOT NULL,
        year       INTEGER NOT NULL,
        scope      TEXT NOT NULL,
        key        TEXT NOT NULL,
        helped     INTEGER NOT NULL,
        trainings  INTEGER NOT NULL,
        outreach   INTEGER NOT NULL,
        PRIMARY KEY (commune, year, scope, key)
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE plan_milestones (
        id       INTEGER PRIMARY KEY,
        commune  TEXT NOT NULL,
        year     INTEGER NOT NULL,
        day      TEXT NOT NULL,
        task     TEXT NOT NULL
    ) STRICT;
    CREATE INDEX plan_milestones_by_year ON plan_milestones (commune, year, day);
"#;

/// Longest task text of the timeline (characters).
pub const MAX_TASK_CHARS: usize = 300;

/// One target: people helped to a signature, trainings, outreach activities.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Target {
    pub helped: u32,
    pub trainings: u32,
    pub outreach: u32,
}

/// What a target is set for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanFor {
    Hamlet(String),
    Unit(i64),
}

/// A year's targets: per hamlet id, and per unit id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Targets {
    pub hamlets: BTreeMap<String, Target>,
    pub units: BTreeMap<i64, Target>,
}

impl Targets {
    pub fn is_empty(&self) -> bool {
        self.hamlets.is_empty() && self.units.is_empty()
    }
}

/// A dated task of the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Milestone {
    pub id: i64,
    pub day: NaiveDate,
    pub task: String,
}

impl ServerDb {
    /// Sets (or, with all zeros, removes) the target of a hamlet or unit of the commune.
    pub fn set_target(&self, commune: &str, year: i32, of: &PlanFor, target: Target) -> Result<()> {
        let (scope, key) = match of {
            PlanFor::Hamlet(h) => {
                if self.commune(commune)?.hamlet(h).is_none() {
                    return Err(DbError::Refused("no such hamlet".into()));
                }
                ("hamlet", h.clone())
            }
            PlanFor::Unit(u) => {
                self.unit(commune, *u)?.ok_or_else(|| DbError::Refused("no such unit".into()))?;
                ("unit", u.to_string())
            }
        };
        self.write_in(commune, |tx| {
            if target == Target::default() {
                tx.execute(
                    "DELETE FROM plan_targets WHERE commune = ? AND year = ? AND scope = ? AND key = ?",
                    params![commune, year, scope, key],
                )?;
            } else {
                tx.execute(
                    "INSERT INTO plan_targets (commune, year, scope, key, helped, trainings, outreach)
                     VALUES (?, ?, ?, ?, ?, ?, ?)
                     ON CONFLICT (commune, year, scope, key) DO UPDATE SET helped = excluded.helped,
                        trainings = excluded.trainings, outreach = excluded.outreach",
                    params![commune, year, scope, key, target.helped, target.trainings, target.outreach],
                )?;
            }
            Ok(())
        })
    }

    /// The commune's targets for `year`.
    pub fn targets(&self, commune: &str, year: i32) -> Result<Targets> {
        let mut out = Targets::default();
        self.read(|c| {
            c.for_each(
                "SELECT scope, key, helped, trainings, outreach FROM plan_targets WHERE commune = ? AND year = ?",
                params![commune, year],
                |r| {
                    let n = |i: usize| r.get::<i64>(i).map(|v| v.clamp(0, u32::MAX as i64) as u32);
                    let t = Target { helped: n(2)?, trainings: n(3)?, outreach: n(4)? };
                    let key: String = r.get(1)?;
                    match r.str(0)? {
                        "hamlet" => {
                            out.hamlets.insert(key, t);
                        }
                        _ => {
                            if let Ok(u) = key.parse() {
                                out.units.insert(u, t);
                            }
                        }
                    }
                    Ok(())
                },
            )
        })?;
        Ok(out)
    }

    /// Adds a dated task to the year's timeline.
    pub fn add_milestone(&self, commune: &str, year: i32, day: NaiveDate, task: &str) -> Result<i64> {
        let day = day.format("%Y-%m-%d").to_string();
        self.write_in(commune, |tx| {
            tx.one(
                "INSERT INTO plan_milestones (commune, year, day, task) VALUES (?, ?, ?, ?) RETURNING id",
                params![commune, year, day, task],
            )
        })
    }

    /// Removes a task of the commune's timeline; `false` if it has no such task.
    pub fn remove_milestone(&self, commune: &str, id: i64) -> Result<bool> {
        let n = self.write_in(commune, |tx| {
            tx.execute("DELETE FROM plan_milestones WHERE commune = ? AND id = ?", params![commune, id])
        })?;
        Ok(n > 0)
    }

    /// The year's timeline, by day.
    pub fn milestones(&self, commune: &str, year: i32) -> Result<Vec<Milestone>> {
        self.read(|c| {
            c.query_map(
                "SELECT id, day, task FROM plan_milestones WHERE commune = ? AND year = ? ORDER BY day, id",
                params![commune, year],
                |r| {
                    Ok(Milestone {
                        id: r.get(0)?,
                        day: NaiveDate::parse_from_str(r.str(1)?, "%Y-%m-%d").unwrap_or_default(),
                        task: r.get(2)?,
                    })
                },
            )
        })
    }
}
