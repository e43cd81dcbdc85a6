//! Data protection as an attacker would try it: an erasure that a later push would undo, a
//! tablet or a copied server database used to reverse citizen-ID hashes.

use chrono::Utc;
use sotay::domain::citizen_id::CitizenId;
use sotay::domain::*;
use sotay::protocol::*;
use sotay::sync::engine::BatchSize;
use sotay::sync::run_once;
use sotay_server::db::{PoolOptions, ServerDb};

use super::common::*;
use super::stores::{self, TestStore};
use super::sync::{enrolled_device, start_server, COMMUNE};

const NAME: &str = "Đinh Thị Xuyến";
const PHONE: &str = "0905123456";
const CID: &str = "051180004567";

/// The server database's own files (not the key file beside them), byte for byte; on
/// PostgreSQL, every row of every table of its schema as text.
fn database_bytes(store: &TestStore, dir: &std::path::Path) -> Vec<u8> {
    if let TestStore::Postgres(url) = store {
        return stores::all_rows(url);
    }
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.file_name().unwrap().to_string_lossy().starts_with("server.db") {
            all.extend(std::fs::read(p).unwrap());
        }
    }
    all
}

fn person(r: &Body) -> Option<&Person> {
    match r {
        Body::SignatureHelp(s) => s.person.as_ref(),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_persons_details_never_come_back_whatever_a_device_sends_later() {
    let server = start_server().await;
    let a = enrolled_device(&server).await;
    // A second tablet that made a record of the same person and then stayed offline for weeks.
    let b = enrolled_device(&server).await;
    let offline = b
        .store
        .create(new_record("h-plei", at(19, 7), sealed_signature(&b.store, NAME, CID, Outcome::DigitalSignature)))
        .unwrap();

    let body = sealed_signature(&a.store, NAME, CID, Outcome::DigitalSignature);
    let sealed = person(&body).unwrap().cid_sealed.clone().unwrap();
    let rec = a.store.create(new_record("h-plei", at(19, 8), body.clone())).unwrap();
    run_once(&a.store, &mut BatchSize::default()).await.unwrap();
    let coverage_before = server.db.coverage_report(COMMUNE).unwrap();
    // Tablet A corrects the record (version 2, the person still on it) but has not synced.
    a.store.update(rec.meta.id, 1, "v-lan", "h-plei", at(19, 9), body.clone()).unwrap();

    // Save times travel in whole seconds: let the erasure happen in a later second.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    // The office erases the person on request.
    assert_eq!(server.db.erase(COMMUNE, &[rec.meta.id], Utc::now()).unwrap(), vec![rec.meta.id]);

    // A pushes before it pulls: version 2 arrives with the name and phone…
    run_once(&a.store, &mut BatchSize::default()).await.unwrap();
    let (row, history) = server.db.record(COMMUNE, rec.meta.id).unwrap().unwrap();
    assert_eq!(row.version, 2, "the edit itself is kept");
    assert!(person(&row.body).is_none(), "…but not the person");
    assert!(history.iter().all(|h| person(&h.record.body).is_none()));
    // …and A learns of the erasure at that same sync.
    assert!(person(&a.store.get(rec.meta.id).unwrap().unwrap().body).is_none());
    assert!(a.store.outbox(10).unwrap().is_empty());

    // A stale version and a re-send of what is stored, both with the person, change nothing.
    let enrolment = a.store.enrolment().unwrap().unwrap();
    let client = sotay::sync::Client::new(&server.url).unwrap();
    let mut old = sotay::sync::to_wire(&rec);
    for (version, expected) in [(1, Applied::Stale), (2, Applied::Duplicate)] {
        old.version = version;
        let req = PushRequest { api_version: API_VERSION, device: DeviceReport::default(), records: vec![old.clone()] };
        let answer = client.push(&enrolment.commune, &enrolment.token, &req).await.unwrap();
        assert_eq!(answer.results[0].result, expected);
    }
    // Version 3 sent by a device that never pulled: applied, without the person.
    old.version = 3;
    let req = PushRequest { api_version: API_VERSION, device: DeviceReport::default(), records: vec![old.clone()] };
    let answer = client.push(&enrolment.commune, &enrolment.token, &req).await.unwrap();
    assert_eq!(answer.results[0].result, Applied::Applied);
    assert!(person(&server.db.record(COMMUNE, rec.meta.id).unwrap().unwrap().0.body).is_none());

    // B comes back weeks later with its own record of the person, made before the erasure:
    // kept without the person, and B erases it at that same sync.
    run_once(&b.store, &mut BatchSize::default()).await.unwrap();
    assert!(person(&server.db.record(COMMUNE, offline.meta.id).unwrap().unwrap().0.body).is_none());
    assert!(person(&b.store.get(offline.meta.id).unwrap().unwrap().body).is_none());

    // The person still counts once, as before.
    assert_eq!(server.db.coverage_report(COMMUNE).unwrap(), coverage_before);
    assert_eq!(server.db.totals_mismatches(COMMUNE).unwrap(), Vec::<String>::new());
    // Nothing of them in the server's files, byte for byte (the scan works: another name is).
    let files = server.store.stored_bytes(server.data_dir());
    for needle in [NAME, PHONE, &sealed, &sotay::domain::fold::fold(NAME)] {
        assert!(!contains(&files, needle), "the server's files hold {needle:?}");
    }
    assert!(contains(&files, "v-lan"), "the scan itself works");
    // A person helped again after the erasure, with their consent anew, is recorded as usual.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let body = sealed_signature(&a.store, NAME, CID, Outcome::DigitalSignature);
    let again = a.store.create(new_record("h-plei", at(20, 8), body)).unwrap();
    run_once(&a.store, &mut BatchSize::default()).await.unwrap();
    let kept = server.db.record(COMMUNE, again.meta.id).unwrap().unwrap().0;
    assert_eq!(person(&kept.body).map(|p| p.display_name.as_str()), Some(NAME));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_tablet_and_no_copy_of_the_server_database_holds_the_key_that_reverses_an_id_hash() {
    let server = start_server().await;
    let device = enrolled_device(&server).await;
    let body = sealed_signature(&device.store, NAME, CID, Outcome::DigitalSignature);
    let sealed = person(&body).unwrap().cid_sealed.clone().unwrap();
    let rec = device.store.create(new_record("h-plei", at(19, 8), body)).unwrap();
    run_once(&device.store, &mut BatchSize::default()).await.unwrap();

    // The server hashed the sealed number under the commune's key and dropped the sealed bytes.
    let key = server.db.cid_key(COMMUNE).unwrap();
    let hash = CitizenId::parse(CID).unwrap().hash(&key);
    let stored = server.db.record(COMMUNE, rec.meta.id).unwrap().unwrap().0;
    let p = person(&stored.body).unwrap().clone();
    assert_eq!(p.cid_hash.as_deref(), Some(hash.as_str()));
    assert_eq!(p.cid_sealed, None);
    assert_eq!(p.cid_last4, None, "the last four digits only when the person asks");

    // The tablet: its store holds no commune key and no server-side hash, only its own.
    let conn = raw_conn(&device.dir.path().join("sotay.db"));
    let everything: Vec<String> = conn
        .prepare(
            "SELECT value FROM settings UNION ALL SELECT body FROM records UNION ALL SELECT body FROM record_history",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(everything.iter().all(|v| !v.contains(&key.to_hex()) && !v.contains(&hash)), "a tablet can reverse hashes");
    assert!(everything.iter().any(|v| v.contains(&sealed)), "the tablet keeps the sealed number to send again");

    // The server's database files hold neither the key nor the sealed bytes; the key file
    // beside them is readable by its owner only.
    let db_bytes = database_bytes(&server.store, server.data_dir());
    assert!(contains(&db_bytes, &hash), "the scan itself works");
    assert!(!contains(&db_bytes, &key.to_hex()), "the database holds the hashing key");
    assert!(!contains(&db_bytes, &sealed));
    let key_file = server.data_dir().join("server.keys");
    assert!(contains(&std::fs::read(&key_file).unwrap(), &key.to_hex()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777, 0o600);
    }

    // A copy of the database without the key file does not open with fresh keys (which
    // would count everyone again): it is refused, and says why.
    let copy = tempfile::tempdir().unwrap();
    let opened = match &server.store {
        TestStore::Sqlite => {
            server.db.checkpoint().unwrap();
            std::fs::copy(server.data_dir().join("server.db"), copy.path().join("server.db")).unwrap();
            ServerDb::open(copy.path().join("server.db"))
        }
        // The same database with the key file of another data folder.
        TestStore::Postgres(url) => {
            ServerDb::open_postgres(url, copy.path().join("server.keys"), PoolOptions::default())
        }
    };
    match opened {
        Err(e) => assert!(sotay_server::db_error_kind(&e).contains("key file is missing")),
        Ok(_) => panic!("a database without its key file opened"),
    }
    assert!(!copy.path().join("server.keys").exists());
}

#[test]
fn a_server_database_from_before_gives_its_hashing_key_to_the_key_file_and_keeps_its_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.db");
    let store = TestStore::new();
    let old_key = "4b".repeat(32);
    {
        let db = store.open(&path);
        db.put_commune(&super::sync::demo_reference()).unwrap();
    }
    // What an older server left: the key in the database, no key file.
    store.sql(&path, &format!("UPDATE communes SET cid_key_id = 'commune:23497:1', cid_key = '{old_key}'"));
    std::fs::remove_file(dir.path().join("server.keys")).unwrap();
    let db = store.open(&path);
    assert_eq!(db.cid_key(COMMUNE).unwrap().to_hex(), old_key, "the hashes already stored stay valid");
    db.checkpoint().unwrap();
    drop(db);
    let bytes = database_bytes(&store, dir.path());
    assert!(!contains(&bytes, &old_key), "the key is gone from the database file");
    assert!(contains(&std::fs::read(dir.path().join("server.keys")).unwrap(), &old_key));
    // And it stays where it is at the next start.
    assert_eq!(store.open(&path).cid_key(COMMUNE).unwrap().to_hex(), old_key);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hash_pushed_by_a_device_is_refused_and_a_sealed_number_that_does_not_open_too() {
    let server = start_server().await;
    let device = enrolled_device(&server).await;
    let enrolment = device.store.enrolment().unwrap().unwrap();
    let client = sotay::sync::Client::new(&server.url).unwrap();
    let mut hashed = sealed_signature(&device.store, NAME, CID, Outcome::DigitalSignature);
    if let Body::SignatureHelp(s) = &mut hashed {
        s.person.as_mut().unwrap().cid_sealed = None;
    }
    let mut bad_seal = sealed_signature(&device.store, NAME, CID, Outcome::DigitalSignature);
    if let Body::SignatureHelp(s) = &mut bad_seal {
        let p = s.person.as_mut().unwrap();
        (p.cid_hash, p.cid_key_id) = (None, None);
        // Sealed to another server's key.
        p.cid_sealed =
            Some(CitizenId::parse(CID).unwrap().seal(sotay::domain::citizen_id::OpenKey::generate().seal_key()));
    }
    let records: Vec<WireRecord> = [hashed, bad_seal]
        .into_iter()
        .map(|body| {
            let r = device.store.create(new_record("h-plei", at(19, 8), body)).unwrap();
            let mut w = sotay::sync::to_wire(&r);
            w.body = r.body.clone();
            if let Body::SignatureHelp(s) = &mut w.body {
                let p = s.person.as_mut().unwrap();
                if p.cid_sealed.is_some() {
                    (p.cid_hash, p.cid_key_id) = (None, None);
                }
            }
            w
        })
        .collect();
    let req = PushRequest { api_version: API_VERSION, device: DeviceReport::default(), records };
    let answer = client.push(&enrolment.commune, &enrolment.token, &req).await.unwrap();
    for r in &answer.results {
        assert_eq!(r.result, Applied::Rejected);
        assert!(r.reason.as_deref().unwrap().contains("citizen_id"));
    }
}
