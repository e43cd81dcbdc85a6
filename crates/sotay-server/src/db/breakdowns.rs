//! The breakdowns of signature help the commune's report asks for: successful sessions by
//! the person's sex and ethnic minority, successes without an ID number (each counted as one
//! person, apart from those with one), and VNeID level-2 activations (level before below 2,
//! level after 2). Each is a column of `records` (read from the body once, at push) and a
//! sum of the running totals in `activity_days` (`totals::ACTIVITY_SUMS`), kept by every
//! push and erasure like the others and checked against a recomputation by
//! `ServerDb::totals_mismatches`.
//!
//! A person is of an ethnic minority when their stated ethnic group is neither empty nor
//! "Kinh"; without consent the person's sex and group are not recorded and count as unknown.
//! An erasure keeps the sex and minority columns (they name no one, and the figures
//! reported before the erasure stay as they were), as it keeps a training's attendance.

use crate::domain::{AccountLevel, Body};

/// Migration 11: the columns, and `activity_days` recomputed from the records with them.
pub(crate) const MIGRATION: &str = r#"
    ALTER TABLE records ADD COLUMN person_sex TEXT;
    ALTER TABLE records ADD COLUMN person_minority INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE records ADD COLUMN level2 INTEGER NOT NULL DEFAULT 0;
    UPDATE records SET
        person_sex = json_extract(body, '$.person.sex'),
        person_minority = COALESCE(lower(trim(json_extract(body, '$.person.ethnic_group'))) NOT IN ('', 'kinh'), 0),
        level2 = (json_extract(body, '$.level_after') = 'level2' AND json_extract(body, '$.level_before') != 'level2')
    WHERE kind = 'signature_help';
    ALTER TABLE activity_days ADD COLUMN signed_women INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE activity_days ADD COLUMN signed_men INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE activity_days ADD COLUMN signed_minority INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE activity_days ADD COLUMN signed_no_key INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE activity_days ADD COLUMN level2 INTEGER NOT NULL DEFAULT 0;
    CREATE TEMP TABLE breakdowns AS
        SELECT commune, dim, key, day,
            SUM(kind = 'signature_help' AND signed = 1 AND person_sex IS 'female') AS w,
            SUM(kind = 'signature_help' AND signed = 1 AND person_sex IS 'male') AS m,
            SUM(kind = 'signature_help' AND signed = 1 AND person_minority = 1) AS n,
            SUM(kind = 'signature_help' AND signed = 1 AND person_key IS NULL) AS a,
            SUM(kind = 'signature_help' AND level2 = 1) AS l
        FROM (SELECT 'hamlet' AS dim, hamlet_id AS key, substr(occurred_at, 1, 10) AS day, * FROM records WHERE voided = 0
              UNION ALL
              SELECT 'volunteer', volunteer_id, substr(occurred_at, 1, 10), * FROM records WHERE voided = 0)
        GROUP BY commune, dim, key, day;
    UPDATE activity_days SET signed_women = b.w, signed_men = b.m, signed_minority = b.n, signed_no_key = b.a,
            level2 = b.l
        FROM temp.breakdowns b
        WHERE b.commune = activity_days.commune AND b.dim = activity_days.dim AND b.key = activity_days.key
            AND b.day = activity_days.day;
    DROP TABLE temp.breakdowns;
"#;

/// What a record's body gives the breakdown columns: (sex code, ethnic minority, a level-2
/// activation). Nothing for other kinds.
pub(super) fn person_fields(body: &Body) -> (Option<&'static str>, bool, bool) {
    match body {
        Body::SignatureHelp(s) => {
            let person = s.person.as_ref();
            let minority = person
                .and_then(|p| p.ethnic_group.as_deref())
                .map(|g| g.trim_matches(' ').to_ascii_lowercase())
                .is_some_and(|g| !g.is_empty() && g != "kinh");
            let level2 = s.level_after == AccountLevel::Level2 && s.level_before != AccountLevel::Level2;
            (person.map(|p| p.sex.code()), minority, level2)
        }
        _ => (None, false, false),
    }
}

impl super::ServerDb {
    /// Per hamlet, the successful sessions without an ID number that coverage counts today
    /// (each one person; the rest of a hamlet's figure are people with an ID). Hamlets with
    /// none are absent.
    pub fn anonymous_by_hamlet(&self, commune: &str) -> super::Result<std::collections::BTreeMap<String, u32>> {
        let rows: Vec<(String, i64)> = self.read(|c| {
            c.query_map(
                "SELECT key, SUM(signed_no_key) FROM activity_days WHERE commune = ? AND dim = 'hamlet'
                 GROUP BY key HAVING SUM(signed_no_key) > 0",
                [commune],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
        })?;
        Ok(rows.into_iter().map(|(h, n)| (h, n.max(0) as u32)).collect())
    }
}
