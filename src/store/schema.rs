//! The store's schema as an append-only list of migrations keyed by `user_version`.
//!
//! Never edit or delete a migration that has shipped: add one. Each runs in its own
//! transaction together with the `user_version` bump, so a crash leaves the file at one
//! version or the next, never between. `tests/fixtures/schema_v1.sql` is a frozen copy of
//! what migration 1 made, for the upgrade tests.

use super::*;

pub const MIGRATIONS: &[&str] = &[
    // 1: records, their history and outbox, reference data, drafts, settings.
    r#"
    CREATE TABLE settings (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) STRICT;

    CREATE TABLE hamlets (
        id               TEXT PRIMARY KEY,
        name             TEXT NOT NULL,
        adult_population INTEGER NOT NULL CHECK (adult_population >= 0),
        baseline_signed  INTEGER NOT NULL CHECK (baseline_signed >= 0),
        position         INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE volunteers (
        id        TEXT PRIMARY KEY,
        name      TEXT NOT NULL,
        hamlet_id TEXT,
        position  INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE providers (
        name     TEXT PRIMARY KEY,
        position INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE records (
        id            TEXT PRIMARY KEY,
        kind          TEXT NOT NULL,
        hamlet_id     TEXT NOT NULL,
        volunteer_id  TEXT NOT NULL,
        device_id     TEXT NOT NULL,
        occurred_at   TEXT NOT NULL,
        saved_at      TEXT NOT NULL,
        version       INTEGER NOT NULL CHECK (version >= 1),
        voided        INTEGER NOT NULL DEFAULT 0,
        void_reason   TEXT,
        sample        INTEGER NOT NULL,
        body          TEXT NOT NULL,
        search_text   TEXT NOT NULL,
        person_times  INTEGER NOT NULL,
        signed        INTEGER NOT NULL,
        person_key    TEXT,
        parent_id     TEXT,
        sync_state    TEXT NOT NULL,
        reject_reason TEXT
    ) STRICT;
    CREATE INDEX records_by_time ON records (sample, occurred_at DESC);
    CREATE INDEX records_by_hamlet ON records (sample, hamlet_id, occurred_at DESC);
    CREATE INDEX records_signed ON records (sample, hamlet_id, person_key) WHERE signed = 1 AND voided = 0;
    CREATE INDEX records_by_state ON records (sync_state);

    CREATE TABLE record_history (
        record_id    TEXT NOT NULL REFERENCES records (id) ON DELETE CASCADE,
        version      INTEGER NOT NULL,
        saved_at     TEXT NOT NULL,
        volunteer_id TEXT NOT NULL,
        voided       INTEGER NOT NULL,
        hamlet_id    TEXT NOT NULL,
        occurred_at  TEXT NOT NULL,
        body         TEXT NOT NULL,
        PRIMARY KEY (record_id, version)
    ) STRICT;

    -- One row per record with something unsent: the version to send next.
    CREATE TABLE outbox (
        record_id TEXT PRIMARY KEY REFERENCES records (id) ON DELETE CASCADE,
        version   INTEGER NOT NULL,
        queued_at TEXT NOT NULL
    ) STRICT;

    CREATE TABLE drafts (
        key        TEXT PRIMARY KEY,
        kind       TEXT NOT NULL,
        record_id  TEXT,
        form       TEXT NOT NULL,
        updated_at TEXT NOT NULL
    ) STRICT;
    "#,
    // 2: finding the people helped at a visit or meeting; search matches whole words and
    // word starts, so the search text is wrapped in spaces.
    r#"
    CREATE INDEX records_by_parent ON records (parent_id) WHERE parent_id IS NOT NULL;
    UPDATE records SET search_text = ' ' || search_text || ' ';
    "#,
    // 3: the commune-wide coverage the server reports, per hamlet (counts only).
    r#"
    CREATE TABLE server_coverage (
        hamlet_id     TEXT PRIMARY KEY,
        helped_signed INTEGER NOT NULL
    ) STRICT;
    "#,
    // 4: indexes that answer the list and the home screen without reading table rows:
    // the list's order with the search text inside (a search that matches little reads
    // only the index), and the sync-state counts.
    r#"
    DROP INDEX records_by_time;
    CREATE INDEX records_by_time ON records (sample, occurred_at DESC, id DESC, search_text);
    DROP INDEX records_by_state;
    CREATE INDEX records_by_state ON records (sample, sync_state);
    "#,
    // 5: volunteers' PINs (argon2 hashes, with the count of wrong tries in a row) and the
    // team lead who can unblock them. PINs live apart from `volunteers`, which is rewritten
    // whenever the office's reference data arrives.
    r#"
    ALTER TABLE volunteers ADD COLUMN lead INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE pins (
        volunteer_id    TEXT PRIMARY KEY,
        hash            TEXT NOT NULL,
        failures        INTEGER NOT NULL DEFAULT 0,
        last_failure_at TEXT
    ) STRICT;
    "#,
    // 6: the home screen's tallies answered from an index alone: opening the app then reads
    // a few hundred small index pages instead of a month of whole records (each page read
    // from the encrypted file costs a decryption).
    r#"
    CREATE INDEX records_tallies ON records (sample, occurred_at, voided, kind, person_times, signed);
    "#,
    // 7: fewer pages written per save, since each page written to the encrypted file is
    // encrypted and authenticated, and fewer read by the home screen and search.
    // - The queue and the history become one b-tree each (WITHOUT ROWID, keyed by their own
    //   keys, instead of a table plus an index on its key), and the history keeps only
    //   replaced versions (the current one is the record): saving a new record writes none.
    // - The list's index carries hamlet, volunteer, kind and sync state, so every list
    //   filter is answered from it; the hamlet and sync-state indexes go, and a save no
    //   longer writes to them. It runs oldest first (the list reads it backwards): a new
    //   record lands at its right edge, where SQLite appends without rebalancing pages. The queue itself counts what waits; the few refused records get a small
    //   index of their own.
    // - Partial indexes carry the columns of their own condition: without them SQLite reads
    //   each row's table entry to check it (a whole record, decrypted, per person counted).
    //   `person_key` keeps 64 bits of the ID hash (`PERSON_KEY_DIGITS`), so the distinct
    //   count of people reads an index a third the size.
    // - The search text holds a record's own words only; its hamlet's, volunteer's and
    //   label's words are matched through ids (`subtype`: the training kind or channel).
    //   Each record gets a sketch of its words (`domain::fold::word_sketch`) that lets a
    //   search pass over records without comparing text. `after_migration` fills both in.
    r#"
    CREATE TABLE outbox_v7 (
        record_id TEXT PRIMARY KEY REFERENCES records (id) ON DELETE CASCADE,
        version   INTEGER NOT NULL,
        queued_at TEXT NOT NULL
    ) STRICT, WITHOUT ROWID;
    INSERT INTO outbox_v7 (record_id, version, queued_at) SELECT record_id, version, queued_at FROM outbox;
    DROP TABLE outbox;
    ALTER TABLE outbox_v7 RENAME TO outbox;

    CREATE TABLE record_history_v7 (
        record_id    TEXT NOT NULL REFERENCES records (id) ON DELETE CASCADE,
        version      INTEGER NOT NULL,
        saved_at     TEXT NOT NULL,
        volunteer_id TEXT NOT NULL,
        voided       INTEGER NOT NULL,
        hamlet_id    TEXT NOT NULL,
        occurred_at  TEXT NOT NULL,
        body         TEXT NOT NULL,
        PRIMARY KEY (record_id, version)
    ) STRICT, WITHOUT ROWID;
    INSERT INTO record_history_v7
        SELECT h.record_id, h.version, h.saved_at, h.volunteer_id, h.voided, h.hamlet_id, h.occurred_at, h.body
        FROM record_history h JOIN records r ON r.id = h.record_id WHERE h.version < r.version;
    DROP TABLE record_history;
    ALTER TABLE record_history_v7 RENAME TO record_history;

    DROP INDEX records_by_time;
    DROP INDEX records_by_hamlet;
    DROP INDEX records_by_state;
    ALTER TABLE records ADD COLUMN search_sig INTEGER NOT NULL DEFAULT -1;
    ALTER TABLE records ADD COLUMN subtype INTEGER;
    CREATE INDEX records_by_time ON records
        (sample, occurred_at, id, hamlet_id, volunteer_id, kind, subtype, sync_state, search_sig, search_text);
    CREATE INDEX records_refused ON records (sample, sync_state) WHERE sync_state = 'rejected';
    DROP INDEX records_signed;
    UPDATE records SET person_key = substr(person_key, 1, 16) WHERE person_key IS NOT NULL;
    CREATE INDEX records_signed ON records (sample, hamlet_id, person_key, signed, voided)
        WHERE signed = 1 AND voided = 0;
    "#,
    // 8: a record's training kind or outreach channel (`subtype`) as its code, like every
    // other stored choice, instead of its position in the app's list: reordering a list
    // must never change what stored records mean. The positions below are the lists'
    // order when migration 7 stored them.
    r#"
    DROP INDEX records_by_time;
    ALTER TABLE records ADD COLUMN subtype_code TEXT;
    UPDATE records SET subtype_code = CASE kind
        WHEN 'training' THEN CASE subtype
            WHEN 0 THEN 'class' WHEN 1 THEN 'hamlet_meeting' WHEN 2 THEN 'focused_support' END
        WHEN 'outreach' THEN CASE subtype
            WHEN 0 THEN 'loudspeaker' WHEN 1 THEN 'leaflet' WHEN 2 THEN 'poster'
            WHEN 3 THEN 'social_media' WHEN 4 THEN 'web_article' WHEN 5 THEN 'meeting_item' END
        END;
    ALTER TABLE records DROP COLUMN subtype;
    ALTER TABLE records RENAME COLUMN subtype_code TO subtype;
    CREATE INDEX records_by_time ON records
        (sample, occurred_at, id, hamlet_id, volunteer_id, kind, subtype, sync_state, search_sig, search_text);
    "#,
    // 9: the records' own words in a full-text index (FTS5), so that a search matching few
    // records finds them from the index instead of reading the list's whole index
    // (`search.rs`). Contentless: it keeps no copy of the text, only the index, with the
    // first one to six letters of each word indexed too (a query word matches the start of
    // a word, and FTS5 reads a prefix without its own index by merging every word's list
    // in full, which for "nguyen" is a third of the records). Triggers keep it in the same transaction as every write to
    // `records`; existing records are filled in. A replaced or deleted record's words are
    // taken out with FTS5's `delete` command, given the old text (`records.search_text`),
    // and `secure-delete` makes that remove them from the index's pages at once, so an
    // erased name does not linger in it. (A `contentless_delete` table would only mark the
    // row deleted and keep its words.)
    r#"
    CREATE VIRTUAL TABLE record_words USING fts5 (
        words, content = '', tokenize = 'unicode61 remove_diacritics 0', prefix = '1 2 3 4 5 6'
    );
    INSERT INTO record_words (record_words, rank) VALUES ('secure-delete', 1);
    INSERT INTO record_words (rowid, words) SELECT rowid, search_text FROM records;
    CREATE TRIGGER record_words_insert AFTER INSERT ON records BEGIN
        INSERT INTO record_words (rowid, words) VALUES (new.rowid, new.search_text);
    END;
    CREATE TRIGGER record_words_update AFTER UPDATE OF search_text ON records
    WHEN old.search_text IS NOT new.search_text BEGIN
        INSERT INTO record_words (record_words, rowid, words) VALUES ('delete', old.rowid, old.search_text);
        INSERT INTO record_words (rowid, words) VALUES (new.rowid, new.search_text);
    END;
    CREATE TRIGGER record_words_delete AFTER DELETE ON records BEGIN
        INSERT INTO record_words (record_words, rowid, words) VALUES ('delete', old.rowid, old.search_text);
    END;
    "#,
];

/// A record's `subtype` as migration 7 stored it: the position of its training kind or
/// outreach channel in the lists of that time (migration 8 turns it into the code).
pub fn subtype_index_v7(body: &crate::domain::Body) -> Option<i64> {
    const TRAINING_KINDS_V7: [&str; 3] = ["class", "hamlet_meeting", "focused_support"];
    const CHANNELS_V7: [&str; 6] = ["loudspeaker", "leaflet", "poster", "social_media", "web_article", "meeting_item"];
    let (list, code): (&[&str], _) = match body {
        crate::domain::Body::Training(t) => (&TRAINING_KINDS_V7, t.kind.code()),
        crate::domain::Body::Outreach(o) => (&CHANNELS_V7, o.channel.code()),
        _ => return None,
    };
    list.iter().position(|c| *c == code).map(|i| i as i64)
}

/// Brings the schema up to date, one migration per transaction.
pub(super) fn migrate(conn: &mut Connection) -> Result<()> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let latest = schema::MIGRATIONS.len() as i64;
    if current > latest {
        return Err(StoreError::TooNew(current));
    }
    for (i, sql) in schema::MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        after_migration(&tx, i as i64 + 1)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// The part of a migration SQL cannot do, in the same transaction.
pub(super) fn after_migration(tx: &Transaction, version: i64) -> Result<()> {
    if version == 7 {
        // Search text of the records' own words, label subtypes and word sketches for the
        // records saved before them.
        let rows: Vec<(i64, String)> = tx
            .prepare("SELECT rowid, body FROM records")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut update =
            tx.prepare("UPDATE records SET search_text = ?, search_sig = ?, subtype = ? WHERE rowid = ?")?;
        for (rowid, body) in rows {
            let body: Body = serde_json::from_str(&body)?;
            let text = own_search_text(&body);
            update.execute(params![text, word_sketch(&text), schema::subtype_index_v7(&body), rowid])?;
        }
    }
    Ok(())
}

/// The schema version this build writes.
pub fn schema_version() -> i64 {
    schema::MIGRATIONS.len() as i64
}
