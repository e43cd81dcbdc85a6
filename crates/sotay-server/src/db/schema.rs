//! SQLite's schema and its file: the append-only migrations, keyed by `user_version` (never
//! edit one that has shipped: add one), and [`open`]: one file in the data folder, WAL with
//! `synchronous=FULL` (a push is acknowledged only after its transaction is on disk, so a
//! server killed after answering has kept what it acknowledged), brought up to date.

use std::collections::BTreeSet;
use std::path::Path;

use rusqlite::Connection;

use super::sql::Conn;
use super::{communes, totals, DbError, Result};

pub(super) const MIGRATIONS: &[&str] = &[
    r#"
    CREATE TABLE communes (
        code        TEXT PRIMARY KEY,
        reference   TEXT NOT NULL,
        cid_key_id  TEXT NOT NULL,
        cid_key     TEXT NOT NULL
    ) STRICT;

    CREATE TABLE devices (
        id            TEXT PRIMARY KEY,
        commune       TEXT NOT NULL REFERENCES communes (code),
        name          TEXT NOT NULL,
        token_hash    TEXT NOT NULL UNIQUE,
        enrolled_at   TEXT NOT NULL,
        revoked_at    TEXT,
        last_seen     TEXT,
        queued        INTEGER,
        app_version   TEXT
    ) STRICT;

    CREATE TABLE enrol_codes (
        code_hash   TEXT PRIMARY KEY,
        commune     TEXT NOT NULL REFERENCES communes (code),
        created_at  TEXT NOT NULL,
        expires_at  TEXT NOT NULL,
        used_by     TEXT
    ) STRICT;

    CREATE TABLE records (
        id            TEXT PRIMARY KEY,
        commune       TEXT NOT NULL,
        device_id     TEXT NOT NULL,
        kind          TEXT NOT NULL,
        hamlet_id     TEXT NOT NULL,
        volunteer_id  TEXT NOT NULL,
        occurred_at   TEXT NOT NULL,
        saved_at      TEXT NOT NULL,
        received_at   TEXT NOT NULL,
        version       INTEGER NOT NULL,
        voided        INTEGER NOT NULL,
        void_reason   TEXT,
        body          TEXT NOT NULL,
        person_times  INTEGER NOT NULL,
        signed        INTEGER NOT NULL,
        person_key    TEXT
    ) STRICT;
    CREATE INDEX records_signed ON records (commune, hamlet_id, person_key) WHERE signed = 1 AND voided = 0;
    CREATE INDEX records_by_time ON records (commune, occurred_at);

    CREATE TABLE record_history (
        id           TEXT NOT NULL,
        version      INTEGER NOT NULL,
        device_id    TEXT NOT NULL,
        received_at  TEXT NOT NULL,
        voided       INTEGER NOT NULL,
        record       TEXT NOT NULL,
        PRIMARY KEY (id, version)
    ) STRICT;

    -- What devices pull, in commit order. Only the newest coverage entry per hamlet and
    -- the newest reference entry per commune are kept: a device that missed the older ones
    -- needs only the newest.
    CREATE TABLE change_log (
        seq      INTEGER PRIMARY KEY AUTOINCREMENT,
        commune  TEXT NOT NULL,
        key      TEXT NOT NULL,
        change   TEXT NOT NULL
    ) STRICT;
    CREATE UNIQUE INDEX change_log_key ON change_log (commune, key);
"#,
    // 2: the fields reports count, as columns (reading them out of JSON for a million records
    // is too slow), office accounts, sessions and the audit log.
    r#"
    ALTER TABLE records ADD COLUMN outcome TEXT;
    ALTER TABLE records ADD COLUMN failure_reason TEXT;
    ALTER TABLE records ADD COLUMN women INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE records ADD COLUMN minority INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE records ADD COLUMN channel TEXT;
    ALTER TABLE records ADD COLUMN quantity INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE records ADD COLUMN reach INTEGER NOT NULL DEFAULT 0;
    UPDATE records SET
        outcome = json_extract(body, '$.outcome'),
        failure_reason = json_extract(body, '$.failure_reason'),
        women = COALESCE(json_extract(body, '$.women'), 0),
        minority = COALESCE(json_extract(body, '$.ethnic_minority'), 0),
        channel = json_extract(body, '$.channel'),
        quantity = COALESCE(json_extract(body, '$.quantity'), 0),
        reach = COALESCE(json_extract(body, '$.reach'), 0);
    CREATE INDEX records_people ON records (commune, person_key, occurred_at, id) WHERE signed = 1 AND voided = 0;
    CREATE INDEX records_by_kind ON records (commune, kind, occurred_at);

    CREATE TABLE accounts (
        username      TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,
        commune       TEXT NOT NULL,
        created_at    TEXT NOT NULL,
        failed_logins INTEGER NOT NULL DEFAULT 0,
        locked_until  TEXT
    ) STRICT;

    CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY,
        username   TEXT NOT NULL REFERENCES accounts (username) ON DELETE CASCADE,
        csrf       TEXT NOT NULL,
        expires_at TEXT NOT NULL
    ) STRICT;

    CREATE TABLE audit_log (
        seq      INTEGER PRIMARY KEY AUTOINCREMENT,
        at       TEXT NOT NULL,
        username TEXT NOT NULL,
        commune  TEXT NOT NULL,
        action   TEXT NOT NULL,
        detail   TEXT NOT NULL
    ) STRICT;
"#,
    // 3: the coverage report's first-session query answered from the index alone.
    r#"
    DROP INDEX records_people;
    CREATE INDEX records_people ON records (commune, person_key, occurred_at, id, hamlet_id) WHERE signed = 1 AND voided = 0;
"#,
    // 4: running totals for the reports, kept by every push and erasure in its own
    // transaction (see `reports`), backfilled here from the records. Coverage is counted by
    // the office's rule (a person in the hamlet of their first successful session), so the
    // old per-hamlet index is no longer needed.
    r#"
    CREATE TABLE people (
        id          INTEGER PRIMARY KEY,
        commune     TEXT NOT NULL,
        person_key  TEXT NOT NULL,
        UNIQUE (commune, person_key)
    ) STRICT;

    CREATE TABLE activity_days (
        commune             TEXT NOT NULL,
        dim                 TEXT NOT NULL,
        key                 TEXT NOT NULL,
        day                 TEXT NOT NULL,
        records             INTEGER NOT NULL,
        visits              INTEGER NOT NULL,
        visit_people        INTEGER NOT NULL,
        signature_sessions  INTEGER NOT NULL,
        signed              INTEGER NOT NULL,
        not_completed       INTEGER NOT NULL,
        trainings           INTEGER NOT NULL,
        attendance          INTEGER NOT NULL,
        women               INTEGER NOT NULL,
        minority            INTEGER NOT NULL,
        outreach            INTEGER NOT NULL,
        person_times        INTEGER NOT NULL,
        no_key              INTEGER NOT NULL,
        PRIMARY KEY (commune, dim, key, day)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE activity_choices (
        commune         TEXT NOT NULL,
        day             TEXT NOT NULL,
        kind            TEXT NOT NULL,
        outcome         TEXT NOT NULL,
        failure_reason  TEXT NOT NULL,
        channel         TEXT NOT NULL,
        records         INTEGER NOT NULL,
        signed          INTEGER NOT NULL,
        quantity        INTEGER NOT NULL,
        reach           INTEGER NOT NULL,
        PRIMARY KEY (commune, day, kind, outcome, failure_reason, channel)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE people_days (
        commune       TEXT NOT NULL,
        day           TEXT NOT NULL,
        person        INTEGER NOT NULL,
        hamlet_id     TEXT NOT NULL,
        volunteer_id  TEXT NOT NULL,
        sessions      INTEGER NOT NULL,
        PRIMARY KEY (commune, day, person, hamlet_id, volunteer_id)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE coverage_people (
        person     INTEGER PRIMARY KEY,
        hamlet_id  TEXT NOT NULL
    ) STRICT;

    CREATE TABLE coverage_hamlets (
        commune    TEXT NOT NULL,
        hamlet_id  TEXT NOT NULL,
        helped     INTEGER NOT NULL,
        PRIMARY KEY (commune, hamlet_id)
    ) STRICT, WITHOUT ROWID;

    INSERT INTO people (commune, person_key)
        SELECT DISTINCT commune, person_key FROM records WHERE voided = 0 AND person_key IS NOT NULL;

    INSERT INTO activity_days
        SELECT commune, dim, key, day, COUNT(*), SUM(kind = 'visit'), SUM(IIF(kind = 'visit', person_times, 0)),
            SUM(kind = 'signature_help'), SUM(kind = 'signature_help' AND signed = 1),
            SUM(kind = 'signature_help' AND outcome = 'not_completed'), SUM(kind = 'training'),
            SUM(IIF(kind = 'training', person_times, 0)), SUM(IIF(kind = 'training', women, 0)),
            SUM(IIF(kind = 'training', minority, 0)), SUM(kind = 'outreach'), SUM(person_times),
            SUM(kind = 'signature_help' AND person_key IS NULL)
        FROM (SELECT 'hamlet' AS dim, hamlet_id AS key, substr(occurred_at, 1, 10) AS day, * FROM records WHERE voided = 0
              UNION ALL
              SELECT 'volunteer', volunteer_id, substr(occurred_at, 1, 10), * FROM records WHERE voided = 0)
        GROUP BY commune, dim, key, day;

    INSERT INTO activity_choices
        SELECT commune, substr(occurred_at, 1, 10), kind, COALESCE(outcome, ''), COALESCE(failure_reason, ''),
            COALESCE(channel, ''), COUNT(*), SUM(signed), SUM(quantity), SUM(reach)
        FROM records WHERE voided = 0 GROUP BY 1, 2, 3, 4, 5, 6;

    INSERT INTO people_days
        SELECT r.commune, substr(r.occurred_at, 1, 10), p.id, r.hamlet_id, r.volunteer_id, COUNT(*)
        FROM records r JOIN people p ON p.commune = r.commune AND p.person_key = r.person_key
        WHERE r.voided = 0 AND r.kind = 'signature_help'
        GROUP BY 1, 2, 3, 4, 5;

    INSERT INTO coverage_people
        SELECT p.id, f.hamlet_id FROM (
            SELECT commune, person_key, hamlet_id,
                ROW_NUMBER() OVER (PARTITION BY commune, person_key ORDER BY occurred_at, id) AS n
            FROM records WHERE signed = 1 AND voided = 0 AND person_key IS NOT NULL
        ) f JOIN people p ON p.commune = f.commune AND p.person_key = f.person_key
        WHERE f.n = 1;

    INSERT INTO coverage_hamlets
        SELECT commune, hamlet_id, SUM(n) FROM (
            SELECT p.commune, c.hamlet_id, COUNT(*) AS n FROM coverage_people c JOIN people p ON p.id = c.person
            GROUP BY 1, 2
            UNION ALL
            SELECT commune, hamlet_id, COUNT(*) FROM records
            WHERE signed = 1 AND voided = 0 AND person_key IS NULL GROUP BY 1, 2
        ) GROUP BY 1, 2;

    DROP INDEX records_signed;
"#,
    // 5: failed logins counted per name typed, whether an account has that name or not, so
    // the lock-out does not tell which names exist (see `accounts`).
    r#"
    CREATE TABLE login_failures (
        username      TEXT PRIMARY KEY,
        failures      INTEGER NOT NULL,
        locked_until  TEXT,
        last_failure  TEXT NOT NULL
    ) STRICT;
    CREATE INDEX login_failures_by_time ON login_failures (last_failure);
    INSERT INTO login_failures (username, failures, locked_until, last_failure)
        SELECT username, failed_logins, locked_until, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
        FROM accounts WHERE failed_logins > 0;
    ALTER TABLE accounts DROP COLUMN failed_logins;
    ALTER TABLE accounts DROP COLUMN locked_until;
"#,
    // 6: erasures stick. An erased record keeps the mark, and an erased person's ID hash is
    // remembered for a while with the key their records count under now, so whatever a
    // device sends later never brings their details back (see `erase`). The communes'
    // hashing keys move out of the database into the key file (`keys`): `cid_key` is
    // emptied once the key file holds them.
    r#"
    ALTER TABLE records ADD COLUMN erased INTEGER NOT NULL DEFAULT 0;
    UPDATE records SET erased = 1 WHERE EXISTS (
        SELECT 1 FROM change_log c WHERE c.commune = records.commune AND c.key = 'erase:' || records.id);
    CREATE TABLE erased_people (
        commune      TEXT NOT NULL,
        person_key   TEXT NOT NULL,
        replaced_by  TEXT NOT NULL,
        erased_at    TEXT NOT NULL,
        PRIMARY KEY (commune, person_key)
    ) STRICT, WITHOUT ROWID;
"#,
    // 7: a found tablet opens for no one. The office assigns volunteers to each device (the
    // device offers only those) and gives one-time codes for a first PIN; both reach only
    // their device, through change-log entries addressed to it (`device`). An enrolment
    // code can carry the volunteers (and their PIN codes) for the device it enrols.
    r#"
    ALTER TABLE change_log ADD COLUMN device TEXT;
    CREATE TABLE device_volunteers (
        device_id     TEXT NOT NULL REFERENCES devices (id),
        volunteer_id  TEXT NOT NULL,
        PRIMARY KEY (device_id, volunteer_id)
    ) STRICT, WITHOUT ROWID;
    ALTER TABLE enrol_codes ADD COLUMN volunteers TEXT NOT NULL DEFAULT '[]';
"#,
    // 8: going live. Each commune knows its province (the province level groups communes by
    // it; filled from the list of units after this runs) and whether it is the demo, which
    // `commune remove-demo` deletes with everything in it (an older server named it
    // "... (demo)"). Office accounts are for a commune or, with `province` set, for every
    // commune of a province (`commune` is then empty), and can be disabled. A hamlet the
    // office retires leaves the reference data (devices and coverage) and is kept here, so
    // its records keep its name.
    r#"
    ALTER TABLE communes ADD COLUMN province TEXT NOT NULL DEFAULT '';
    ALTER TABLE communes ADD COLUMN demo INTEGER NOT NULL DEFAULT 0;
    UPDATE communes SET demo = 1 WHERE json_extract(reference, '$.commune.name') LIKE '%(demo)';
    ALTER TABLE accounts ADD COLUMN province TEXT;
    ALTER TABLE accounts ADD COLUMN disabled_at TEXT;
    CREATE TABLE retired_hamlets (
        commune     TEXT NOT NULL,
        id          TEXT NOT NULL,
        hamlet      TEXT NOT NULL,
        retired_at  TEXT NOT NULL,
        PRIMARY KEY (commune, id)
    ) STRICT, WITHOUT ROWID;
"#,
    // 9: coverage as of a day (`asof`): each change of a hamlet's figure, on the day the
    // server made it.
    super::coverage_days::MIGRATION,
    // 10: the commune's units, their members, the unit of each record, unit accounts and the
    // units' reports (`db::units`).
    super::units::MIGRATION,
    // 11: the breakdowns of signature help by sex, ethnic minority, ID or none, and VNeID
    // level-2 activations (`db::breakdowns`).
    super::breakdowns::MIGRATION,
    // 12: the commune's plan: targets per hamlet and unit, and a timeline (`db::plan`).
    super::plan::MIGRATION,
    // 13: each commune numbers its own changes (`log_change_for`), from its counter in
    // `change_counters` (a small row of its own: the commune's row holds its reference data,
    // which an update would write again each time), so PostgreSQL can number them in commit
    // order and a province's database can take in a commune's file with its numbers. Every
    // commune's counter starts above every number a device has seen, so cursors continue.
    r#"
    CREATE TABLE change_counters (
        commune  TEXT PRIMARY KEY,
        seq      INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;
    INSERT INTO change_counters (commune, seq) SELECT code, (SELECT COALESCE(MAX(seq), 0) FROM change_log) FROM communes;
    CREATE TABLE change_log_by_commune (
        commune  TEXT NOT NULL,
        seq      INTEGER NOT NULL,
        key      TEXT NOT NULL,
        change   TEXT NOT NULL,
        device   TEXT,
        PRIMARY KEY (commune, seq)
    ) STRICT, WITHOUT ROWID;
    INSERT INTO change_log_by_commune SELECT commune, seq, key, change, device FROM change_log;
    DROP TABLE change_log;
    ALTER TABLE change_log_by_commune RENAME TO change_log;
    CREATE UNIQUE INDEX change_log_key ON change_log (commune, key);
"#,
];

/// The schema version whose migration starts the running totals: once it has run, every
/// hamlet's coverage is logged again by the office's counting rule.
const TOTALS_VERSION: usize = 4;

/// The schema version that gives communes their province, filled from the list of units.
const PROVINCES_VERSION: usize = 8;

/// Opens (or creates) the database file and runs the migrations it has not had.
pub(super) fn open(path: &Path) -> Result<Connection> {
    let mut conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.set_prepared_statement_cache_capacity(256);
    let _: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON;")?;
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > MIGRATIONS.len() as i64 {
        return Err(DbError::TooNew(current));
    }
    let mut relog_coverage = false;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        relog_coverage |= i + 1 == TOTALS_VERSION;
        if i + 1 == PROVINCES_VERSION {
            communes::fill_provinces(&Conn::lite(&tx))?;
        }
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    if relog_coverage {
        // Devices were told each hamlet's figure by the old rule (a person in every hamlet
        // they were helped in): tell them every figure that differs, once the change log
        // has all its columns.
        let tx = conn.transaction()?;
        let c = Conn::lite(&tx);
        let codes: Vec<String> = c.query_map("SELECT code FROM communes", (), |r| r.get(0))?;
        for commune in codes {
            let mut hamlets: BTreeSet<String> = totals::helped_by_hamlet(&c, &commune)?.into_keys().collect();
            let logged: Vec<String> = c.query_map(
                "SELECT key FROM change_log WHERE commune = ? AND key LIKE 'coverage:%'",
                [&commune],
                |r| r.get(0),
            )?;
            hamlets.extend(logged.into_iter().map(|k| k["coverage:".len()..].to_owned()));
            totals::log_coverage(&c, &commune, &hamlets)?;
        }
        tx.commit()?;
    }
    Ok(conn)
}
