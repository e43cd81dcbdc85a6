//! A lost tablet exposes no one: the store is encrypted at rest, its key is kept apart, a
//! wrong or missing key is a clear error that changes nothing, a plain store from before
//! encryption is encrypted once without losing a record, PINs slow down and block, and a
//! revoked device erases what the server already has.

use std::sync::Arc;

use sotay::domain::*;
use sotay::store::key::{DbKey, KeyFile, KeyStore, MemoryKey};
use sotay::store::{Filter, PinCheck, PinState, Settled, Store, StoreError};

use super::common::*;

const NAME: &str = "Hơ Giang Thử Nghiệm";
const PHONE: &str = "0905123456";
const CID: &str = "051203004567";

/// What must never be readable in the raw files: the name (as typed and as search folds
/// it), the phone, the ID number and its last four digits.
fn personal_needles() -> Vec<String> {
    vec![
        NAME.to_owned(),
        sotay::domain::fold::fold(NAME),
        "Giang".to_owned(),
        PHONE.to_owned(),
        CID.to_owned(),
        CID[8..].to_owned(),
    ]
}

fn assert_no_personal_data(dir: &std::path::Path) {
    let bytes = raw_bytes(dir);
    assert!(bytes.len() > 4096, "the scan read the files");
    for needle in personal_needles() {
        assert!(!contains(&bytes, &needle), "{needle:?} is readable in the raw files");
    }
}

fn person_record(t: &TempStore, outcome: Outcome) -> Record {
    let body = match signature(Some(NAME), Some(CID), outcome) {
        Body::SignatureHelp(mut s) => {
            let p = s.person.as_mut().unwrap();
            p.phone = Some(PHONE.into());
            Body::SignatureHelp(s)
        }
        _ => unreachable!(),
    };
    t.store.create(new_record("h-plei", at(19, 8), body)).unwrap()
}

fn person_of(r: &Record) -> Option<Person> {
    match &r.body {
        Body::SignatureHelp(s) => s.person.clone(),
        _ => None,
    }
}

#[test]
fn the_store_its_wal_and_temporary_files_hold_no_personal_data() {
    let t = live_store();
    let r = person_record(&t, Outcome::DigitalSignature);
    assert_eq!(person_of(&t.store.get(r.meta.id).unwrap().unwrap()).unwrap().cid_last4.as_deref(), Some(&CID[8..]));
    // While the app runs: the WAL holds the newest pages.
    assert!(t.dir.path().join("sotay.db-wal").exists());
    let hits = t.store.search(&Filter { text: "giang".into(), limit: 10, ..Default::default() }).unwrap();
    assert_eq!(hits.len(), 1, "search still finds the person through the key");
    assert_no_personal_data(t.dir.path());
    // After a restart too.
    let t = t.reopen();
    assert_eq!(person_of(&t.store.get(r.meta.id).unwrap().unwrap()).unwrap().display_name, NAME);
    assert_no_personal_data(t.dir.path());
}

#[test]
fn the_file_cannot_be_opened_without_the_key() {
    let t = live_store();
    person_record(&t, Outcome::DigitalSignature);
    let path = t.path();
    let header = std::fs::read(&path).unwrap()[..16].to_vec();
    assert_ne!(&header, b"SQLite format 3\0", "not a plain SQLite file");
    let plain = rusqlite::Connection::open(&path).unwrap();
    let err = plain.query_row("SELECT count(*) FROM records", [], |r| r.get::<_, i64>(0)).unwrap_err();
    assert_eq!(err.sqlite_error_code(), Some(rusqlite::ErrorCode::NotADatabase), "{err}");
    // The key file is the owner's only.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(KeyFile::beside(&path).path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn a_wrong_key_is_a_clear_error_and_destroys_nothing() {
    let t = live_store();
    let r = person_record(&t, Outcome::DigitalSignature);
    let path = t.path();
    drop(t.store);
    let before = std::fs::read(&path).unwrap();
    let wrong = MemoryKey::with(DbKey::generate());
    let err = Store::open_with_keys(&path, &wrong, Arc::new(now)).err().unwrap();
    assert!(matches!(err, StoreError::WrongKey), "{err:?}");
    let words = sotay::i18n::Lang::Vi.strings().store_error(&err);
    assert!(words.contains("Khoá giải mã") && words.contains("vẫn còn nguyên"), "{words}");
    assert_eq!(std::fs::read(&path).unwrap(), before, "the file is untouched");
    // A missing key is refused too, and does not make a new store over the old one.
    let keyfile = KeyFile::beside(&path);
    let kept_key = keyfile.load().unwrap().unwrap();
    std::fs::remove_file(keyfile.path()).unwrap();
    let err = Store::open(&path).err().unwrap();
    assert!(matches!(err, StoreError::KeyUnavailable(_)), "{err:?}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert!(!keyfile.path().exists(), "no new key was made for an existing store");
    // With the right key back, everything is there.
    keyfile.save(&kept_key).unwrap();
    let store = Store::open(&path).unwrap();
    assert_eq!(person_of(&store.get(r.meta.id).unwrap().unwrap()).unwrap().display_name, NAME);
}

#[test]
fn a_plain_store_from_before_encryption_is_encrypted_once_without_losing_a_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sotay.db");
    {
        // The frozen schema of the first release, with a record of a person in it.
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(include_str!("../fixtures/schema_v1.sql")).unwrap();
        let mut stmt = c.prepare("SELECT id, body FROM records").unwrap();
        let rows: Vec<(String, String)> =
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 2);
        assert!(contains(&std::fs::read(&path).unwrap(), "A Blúp"), "the old file is readable");
    }
    // A crash in an earlier try left a half-written encrypted copy behind.
    std::fs::write(dir.path().join("sotay.db.encrypting"), b"half a file").unwrap();
    let store = Store::open_with_clock(&path, Arc::new(now)).unwrap();
    let records = store.search(&Filter::default()).unwrap();
    assert_eq!(records.len(), 2);
    assert!(records.iter().any(|r| matches!(&r.body, Body::Visit(v) if v.household == "Nhà ông A Blúp")));
    assert_eq!(store.outbox(10).unwrap().len(), 2, "queued records stay queued");
    assert_eq!(store.device_id().unwrap(), "0192f000-0000-7000-8000-000000000001");
    drop(store);
    assert!(!dir.path().join("sotay.db.encrypting").exists());
    let bytes = raw_bytes(dir.path());
    assert!(!contains(&bytes, "A Blúp"), "the plain copy is gone");
    assert_ne!(&std::fs::read(&path).unwrap()[..16], b"SQLite format 3\0");
    // Opening again does not encrypt twice or lose anything.
    let store = Store::open(&path).unwrap();
    assert_eq!(store.search(&Filter::default()).unwrap().len(), 2);
    assert_eq!(raw_conn(&path).query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0)).unwrap(), {
        sotay::store::schema_version()
    });
}

#[test]
fn a_store_encrypted_with_sqlciphers_default_settings_is_converted_once() {
    // The first encrypted version wrote HMAC-SHA512 pages (SQLCipher's default); the app
    // now writes HMAC-SHA256 ones. Such a store opens, keeps everything, and is rewritten.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sotay.db");
    let id = {
        let t = live_store();
        let r = person_record(&t, Outcome::DigitalSignature);
        let old_path = t.path();
        drop(t.store);
        let c = raw_conn(&old_path);
        c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
        let key = KeyFile::beside(&old_path).load().unwrap().unwrap();
        // Export to a file under the defaults only (no app settings), as that version did.
        let target = path.to_str().unwrap();
        c.execute_batch(&format!("ATTACH DATABASE '{target}' AS old KEY {};", key.pragma_value())).unwrap();
        c.query_row("SELECT sqlcipher_export('old')", [], |_| Ok(())).unwrap();
        let version: i64 = c.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        c.execute_batch(&format!("PRAGMA old.user_version = {version}; DETACH DATABASE old;")).unwrap();
        KeyFile::beside(&path).save(&key).unwrap();
        r.meta.id
    };
    let opens_with_defaults = |path: &std::path::Path| {
        let key = KeyFile::beside(path).load().unwrap().unwrap();
        let c = rusqlite::Connection::open(path).unwrap();
        let _ = c.query_row(&format!("PRAGMA key = {}", key.pragma_value()), [], |_| Ok(()));
        c.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0)).is_ok()
    };
    assert!(opens_with_defaults(&path), "the old store is under the default settings");
    let store = Store::open_with_clock(&path, Arc::new(now)).unwrap();
    assert_eq!(person_of(&store.get(id).unwrap().unwrap()).unwrap().display_name, NAME);
    assert_eq!(store.outbox(10).unwrap().len(), 1, "queued records stay queued");
    drop(store);
    assert!(!opens_with_defaults(&path), "rewritten under the app's settings");
    assert!(!dir.path().join("sotay.db.encrypting").exists());
    let bytes = raw_bytes(dir.path());
    assert!(personal_needles().iter().all(|n| !contains(&bytes, n)));
    // And the next start opens it directly, with everything.
    let store = Store::open(&path).unwrap();
    assert_eq!(person_of(&store.get(id).unwrap().unwrap()).unwrap().display_name, NAME);
}

#[test]
fn pins_slow_down_block_and_are_unblocked_by_the_team_lead() {
    let clock = Arc::new(std::sync::Mutex::new(now()));
    let c = clock.clone();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sotay.db");
    let store = Store::open_with_clock(&path, Arc::new(move || *c.lock().unwrap())).unwrap();
    let advance = |secs: i64| *clock.lock().unwrap() += chrono::Duration::seconds(secs);
    assert_eq!(store.pin_state("v-lan").unwrap(), PinState::NotSet);
    assert_eq!(store.check_pin("v-lan", "240681").unwrap(), PinCheck::NotSet);
    store.set_pin("v-lan", "240681").unwrap();
    store.set_pin("v-thu", "573920").unwrap(); // the sample commune's team lead
    let hash: String =
        raw_conn(&path).query_row("SELECT hash FROM pins WHERE volunteer_id = 'v-lan'", [], |r| r.get(0)).unwrap();
    assert!(hash.starts_with("$argon2id$") && !hash.contains("240681"));
    assert_eq!(store.check_pin("v-lan", "240681").unwrap(), PinCheck::Right);
    for n in 1..=2 {
        assert_eq!(store.check_pin("v-lan", "000001").unwrap(), PinCheck::Wrong { failures: n, wait_secs: 0 });
    }
    assert_eq!(store.check_pin("v-lan", "000001").unwrap(), PinCheck::Wrong { failures: 3, wait_secs: 5 });
    // Too soon: even the right PIN is not checked.
    assert_eq!(store.check_pin("v-lan", "240681").unwrap(), PinCheck::Wait { secs: 5 });
    advance(5);
    assert_eq!(store.pin_state("v-lan").unwrap(), PinState::Ready { failures: 3 });
    // Restarting the app does not reset the count.
    drop(store);
    let c = clock.clone();
    let store = Store::open_with_clock(&path, Arc::new(move || *c.lock().unwrap())).unwrap();
    let mut failures = 3;
    while failures < sotay::domain::pin::BLOCK_AFTER - 1 {
        failures += 1;
        let check = store.check_pin("v-lan", "000001").unwrap();
        assert_eq!(check, PinCheck::Wrong { failures, wait_secs: sotay::domain::pin::wait_secs(failures) });
        advance(sotay::domain::pin::wait_secs(failures) as i64);
    }
    assert_eq!(store.check_pin("v-lan", "000001").unwrap(), PinCheck::Blocked);
    advance(3600);
    assert_eq!(store.check_pin("v-lan", "240681").unwrap(), PinCheck::Blocked, "waiting does not unblock");
    // Only a team lead, with the lead's own right PIN, unblocks.
    assert_eq!(store.unblock_pin("v-lan", "v-hung", "573920").unwrap(), PinCheck::NotSet, "not a lead");
    assert!(matches!(store.unblock_pin("v-lan", "v-thu", "111000").unwrap(), PinCheck::Wrong { .. }));
    assert_eq!(store.pin_state("v-lan").unwrap(), PinState::Blocked);
    assert_eq!(store.unblock_pin("v-lan", "v-thu", "573920").unwrap(), PinCheck::Right);
    assert_eq!(store.pin_state("v-lan").unwrap(), PinState::NotSet, "the volunteer chooses a new PIN");
}

#[test]
fn revocation_erases_what_the_server_has_and_keeps_what_it_does_not() {
    let t = live_store();
    let sent = person_record(&t, Outcome::DigitalSignature);
    let sent_then_edited = person_record(&t, Outcome::NotCompleted);
    let unsent = person_record(&t, Outcome::PersonalESignature);
    // The sent record was corrected once before it was sent: its first version, with the
    // person's details, sits in its history.
    t.store.update(sent.meta.id, 1, "v-lan", "h-plei", at(19, 7), sent.body.clone()).unwrap();
    assert_eq!(t.store.history(sent.meta.id).unwrap().len(), 2);
    t.store
        .settle_push(&[
            Settled::Sent { id: sent.meta.id, version: 2 },
            Settled::Sent { id: sent_then_edited.meta.id, version: 1 },
        ])
        .unwrap();
    // Edited after it was sent: the newer version is not on the server yet.
    let mut body = sent_then_edited.body.clone();
    if let Body::SignatureHelp(s) = &mut body {
        s.level_after = AccountLevel::Level1;
    }
    t.store.update(sent_then_edited.meta.id, 1, "v-lan", "h-plei", at(19, 9), body).unwrap();

    let wiped = t.store.wipe_after_revocation().unwrap();
    assert_eq!((wiped.erased, wiped.kept_unsent), (1, 2));
    let erased = t.store.get(sent.meta.id).unwrap().unwrap();
    assert_eq!(person_of(&erased), None);
    assert_eq!(erased.body.signed(), sent.body.signed(), "the counts stay");
    for h in t.store.history(sent.meta.id).unwrap() {
        assert!(!format!("{:?}", h.body).contains("Giang"), "history is erased too");
    }
    assert_eq!(person_of(&t.store.get(unsent.meta.id).unwrap().unwrap()).unwrap().display_name, NAME);
    assert!(person_of(&t.store.get(sent_then_edited.meta.id).unwrap().unwrap()).is_some());
    assert_eq!(t.store.outbox(10).unwrap().len(), 2, "unsent records stay queued");
    assert!(t.store.search(&Filter { text: "giang".into(), limit: 10, ..Default::default() }).unwrap().len() == 2);
    // Under the key, the erased record's details are gone from every table.
    let c = raw_conn(&t.path());
    let bodies: Vec<String> = c
        .prepare(
            "SELECT body FROM records WHERE id = ?1 UNION ALL SELECT body FROM record_history WHERE record_id = ?1",
        )
        .unwrap()
        .query_map([sent.meta.id.to_string()], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(bodies.len(), 2, "the record and its replaced version");
    assert!(bodies.iter().all(|b| !b.contains("Giang") && !b.contains(PHONE)));
    // Said once, remembered; a second call erases nothing more.
    assert_eq!(t.store.revocation().unwrap().unwrap(), wiped);
    let again = t.store.wipe_after_revocation().unwrap();
    assert_eq!((again.erased, again.at), (1, wiped.at));
    let words = sotay::i18n::Lang::Vi.strings().revoked_wiped(&wiped);
    assert!(words.contains("1 bản ghi") && words.contains("2 bản ghi chưa gửi"), "{words}");
}

#[test]
fn revocation_also_erases_refused_records_and_deletes_drafts() {
    let t = live_store();
    let refused = person_record(&t, Outcome::DigitalSignature);
    t.store
        .settle_push(&[Settled::Rejected {
            id: refused.meta.id,
            version: 1,
            reason: "Ô “birth_year” có giá trị không hợp lệ.".into(),
        }])
        .unwrap();
    assert_eq!(t.store.get(refused.meta.id).unwrap().unwrap().sync_state, SyncState::Rejected);
    // A draft holds a typed name and phone even before the consent box is ticked.
    let mut form = sotay::domain::validate::Form::blank(RecordKind::SignatureHelp, "h-plei", at(19, 10));
    if let sotay::domain::validate::Form::SignatureHelp(f) = &mut form {
        f.display_name = NAME.into();
        f.phone = PHONE.into();
    }
    t.store.save_draft("new:signature_help", None, &form).unwrap();
    let unsent = person_record(&t, Outcome::PersonalESignature);

    let wiped = t.store.wipe_after_revocation().unwrap();
    assert_eq!((wiped.erased, wiped.rejected_erased, wiped.drafts_deleted, wiped.kept_unsent), (0, 1, 1, 1));
    assert_eq!(person_of(&t.store.get(refused.meta.id).unwrap().unwrap()), None);
    assert!(t.store.drafts().unwrap().is_empty());
    assert!(person_of(&t.store.get(unsent.meta.id).unwrap().unwrap()).is_some(), "unsent records are kept");
    // Under the key, nothing of the refused record or the draft is left.
    let c = raw_conn(&t.path());
    let texts: Vec<String> = c
        .prepare(
            "SELECT body FROM records WHERE id = ?1 UNION ALL SELECT body FROM record_history WHERE record_id = ?1
             UNION ALL SELECT form FROM drafts",
        )
        .unwrap()
        .query_map([refused.meta.id.to_string()], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(texts.iter().all(|b| !b.contains("Giang") && !b.contains(PHONE)), "{texts:?}");
    // Home says all of it.
    let words = sotay::i18n::Lang::Vi.strings().revoked_wiped(&wiped);
    assert!(words.contains("1 bản ghi bị từ chối") && words.contains("1 bản nháp"), "{words}");
}

/// The key of the frozen stores in `tests/fixtures/store_sqlcipher_4.6.1*.sqlcipher`.
const FROZEN_KEY: [u8; 32] = [
    11, 48, 85, 122, 159, 196, 233, 14, 51, 88, 125, 162, 199, 236, 17, 54, 91, 128, 165, 202, 239, 20, 57, 94, 131,
    168, 205, 242, 23, 60, 97, 134,
];

/// Opens a copy of a frozen store written by SQLCipher 4.6.1 (rusqlite 0.37, the last
/// release before SQLCipher's own provider was used again), with its key.
///
/// Both were made with the app of that time: `Store::open_with_keys` with [`FROZEN_KEY`],
/// a visit to "Nhà ông A Blúp" and a signature help for [`NAME`] (no ID number) saved on
/// the sample commune, closed, `VACUUM`ed; the `_defaults` one is the same store exported
/// with `sqlcipher_export` under SQLCipher's default settings (HMAC-SHA512), as the first
/// encrypted version wrote its stores.
fn open_frozen(fixture: &[u8]) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sotay.db");
    std::fs::write(&path, fixture).unwrap();
    let store = Store::open_with_keys(&path, &MemoryKey::with(DbKey::from_bytes(FROZEN_KEY)), Arc::new(now)).unwrap();
    (dir, store)
}

fn assert_frozen_records(store: &Store, dir: &std::path::Path) {
    let records = store.search(&Filter::default()).unwrap();
    assert_eq!(records.len(), 2);
    assert!(records.iter().any(|r| matches!(&r.body, Body::Visit(v) if v.household == "Nhà ông A Blúp")));
    assert!(records.iter().any(|r| person_of(r).is_some_and(|p| p.display_name == NAME)));
    assert_eq!(store.search(&Filter { text: "giang".into(), ..Default::default() }).unwrap().len(), 1);
    assert!(!contains(&raw_bytes(dir), "A Blúp"), "still encrypted");
}

#[test]
fn a_store_written_by_the_previous_sqlcipher_opens_with_everything_in_it() {
    let fixture = include_bytes!("../fixtures/store_sqlcipher_4.6.1.sqlcipher");
    let (dir, store) = open_frozen(fixture);
    assert_frozen_records(&store, dir.path());
    // Opened directly under the app's settings: the file was not rewritten.
    drop(store);
    let c = rusqlite::Connection::open(dir.path().join("sotay.db")).unwrap();
    DbKey::from_bytes(FROZEN_KEY).unlock(&c).unwrap();
    assert_eq!(c.query_row("SELECT count(*) FROM records", [], |r| r.get::<_, i64>(0)).unwrap(), 2);
    // The same salt (the file's first 16 bytes): not re-encrypted into a new file. (The
    // rest of the first page changes: the frozen store is at schema 7, and migration 8
    // writes to it in place.)
    let salt = &std::fs::read(dir.path().join("sotay.db")).unwrap()[..16];
    assert_eq!(salt, &fixture[..16], "the same salt: not re-encrypted");
}

#[test]
fn a_store_written_by_the_previous_sqlcipher_under_its_defaults_is_converted_once() {
    let (dir, store) = open_frozen(include_bytes!("../fixtures/store_sqlcipher_4.6.1_defaults.sqlcipher"));
    assert_frozen_records(&store, dir.path());
    drop(store);
    // Rewritten under the app's settings: SQLCipher's defaults no longer open it.
    let c = rusqlite::Connection::open(dir.path().join("sotay.db")).unwrap();
    c.query_row(&format!("PRAGMA key = {}", DbKey::from_bytes(FROZEN_KEY).pragma_value()), [], |_| Ok(())).unwrap();
    assert!(c.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0)).is_err());
}

#[test]
fn the_store_runs_on_a_sqlite_with_the_cve_2025_6965_fix_under_sqlciphers_own_provider() {
    let t = live_store();
    person_record(&t, Outcome::DigitalSignature);
    let c = raw_conn(&t.path());
    let version: String = c.query_row("SELECT sqlite_version()", [], |r| r.get(0)).unwrap();
    let parts: Vec<u32> = version.split('.').map(|p| p.parse().unwrap()).collect();
    assert!(parts >= vec![3, 50, 2], "SQLite {version} predates the fix for CVE-2025-6965 (3.50.2)");
    assert_eq!(rusqlite::version(), version, "the store's SQLite is the one linked in");
    let cipher: String = c.query_row("PRAGMA cipher_version", [], |r| r.get(0)).unwrap();
    assert!(cipher.starts_with("4."), "SQLCipher {cipher}");
    let provider: String = c.query_row("PRAGMA cipher_provider", [], |r| r.get(0)).unwrap();
    assert_eq!(provider, "openssl");
    let hmac: String = c.query_row("PRAGMA cipher_hmac_algorithm", [], |r| r.get(0)).unwrap();
    assert_eq!(hmac, "HMAC_SHA256", "the app's settings (store::key::CIPHER_SETTINGS)");
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
#[test]
fn a_key_file_is_written_through_a_fresh_temporary_file_readable_by_its_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let keyfile = KeyFile::beside(&dir.path().join("sotay.db"));
    let tmp = dir.path().join("sotay.db.key.tmp");
    // A temporary file left behind (by a crash, or by someone else), readable by everyone.
    std::fs::write(&tmp, "left over").unwrap();
    std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let key = DbKey::generate();
    keyfile.save(&key).unwrap();
    assert_eq!(mode(keyfile.path()), 0o600, "the key is never readable by others");
    assert_eq!(keyfile.load().unwrap(), Some(key));
    assert!(!tmp.exists());
    // A link at the temporary name is not followed: the file it points to stays as it was.
    let elsewhere = dir.path().join("elsewhere");
    std::fs::write(&elsewhere, "not a key").unwrap();
    std::os::unix::fs::symlink(&elsewhere, &tmp).unwrap();
    let key = DbKey::generate();
    keyfile.save(&key).unwrap();
    assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "not a key");
    assert_eq!(mode(keyfile.path()), 0o600);
    assert_eq!(keyfile.load().unwrap(), Some(key));
    assert!(!tmp.exists());
}

#[cfg(unix)]
#[test]
fn the_durable_write_of_key_files_replaces_the_file_whole_or_not_at_all() {
    use sotay::store::key::{write_private_file, KeyError};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sotay.db.key.wrapped");
    write_private_file(&path, b"first").unwrap();
    write_private_file(&path, b"second, longer").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"second, longer");
    assert_eq!(mode(&path), 0o600);
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["sotay.db.key.wrapped"], "no temporary file is left");
    // A folder that is not there: an error, and nothing written.
    let missing = dir.path().join("no such folder").join("sotay.db.key");
    assert!(matches!(write_private_file(&missing, b"x"), Err(KeyError::Unwritable)));
    assert!(!missing.parent().unwrap().exists());
}

#[test]
fn the_android_wrapped_key_has_the_readmes_name_and_an_older_install_keeps_its_key() {
    use sotay::platform::WrappedKeyFile;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sotay.db");
    let file = WrappedKeyFile::beside(&db);
    assert_eq!(file.path(), dir.path().join("sotay.db.key.wrapped"));
    assert!(include_str!("../../README.md").contains("`sotay.db.key.wrapped`"), "the README names the file");
    assert_eq!(file.read().unwrap(), None);
    // The first Android versions wrote `sotay.db.wrapped`: still read, and moved to the new name.
    assert_eq!(file.legacy_path(), dir.path().join("sotay.db.wrapped"));
    std::fs::write(file.legacy_path(), b"wrapped bytes").unwrap();
    assert_eq!(file.read().unwrap().as_deref(), Some(&b"wrapped bytes"[..]));
    assert!(!file.legacy_path().exists());
    assert_eq!(std::fs::read(file.path()).unwrap(), b"wrapped bytes");
    assert_eq!(file.read().unwrap().as_deref(), Some(&b"wrapped bytes"[..]));
    // A new key is written durably under the new name (the shared helper).
    let other = WrappedKeyFile::beside(&dir.path().join("other.db"));
    other.write(b"sealed").unwrap();
    assert_eq!(other.read().unwrap().as_deref(), Some(&b"sealed"[..]));
    #[cfg(unix)]
    assert_eq!(mode(other.path()), 0o600);
    assert!(!dir.path().join("other.db.key.wrapped.tmp").exists());
}
