//! Backups taken while the server serves and devices push, restored into a new folder: the
//! database passes SQLite's integrity check, holds every record the server had acknowledged
//! before the backup started, and its reports agree with its records; a backup taken once the
//! pushes stop restores to the very same reports. The backup is useless without its
//! passphrase, and a restore never overwrites a data folder.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::NaiveDate;
use sotay::store::Store;
use sotay_server::db::ServerDb;
use sotay_server::{router, AppState};

use super::sync::{demo_reference, drain, make_records, COMMUNE};

const PASSPHRASE: &str = "sao lưu hằng ngày của xã";

fn cli(args: &[&str], passphrase: &str) -> std::process::Output {
    Command::new(crate::it::common::server_bin())
        .args(args)
        .env("SOTAY_BACKUP_PASSPHRASE", passphrase)
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap()
}

fn ok(out: std::process::Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn reports(db: &ServerDb) -> (String, String) {
    let (from, to) = (NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(), NaiveDate::from_ymd_opt(2026, 11, 30).unwrap());
    (
        format!("{:?}", db.coverage_report(COMMUNE).unwrap()),
        format!("{:?}", db.activity_report(COMMUNE, from, to).unwrap()),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_devices_push_restores_whole_with_every_acknowledged_record() {
    if super::stores::on_postgres() {
        eprintln!("SQLite's file only: a_backup_taken_while_devices_push_restores_whole_with_every_acknowledged_record runs in the SQLite pass");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let db = ServerDb::open(data.join("sotay-server.db")).unwrap();
    db.put_commune(&demo_reference()).unwrap();
    let state = AppState::new(db).with_rate_limit(100_000, std::time::Duration::from_secs(60));
    let db = state.db.clone();
    let (addr, server) = super::sync::serve_router(router(state)).await;
    let url = format!("http://{addr}");

    // Two tablets push batches without pause until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let mut pushers = Vec::new();
    let mut devices = Vec::new();
    for n in 0..2 {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path().join("sotay.db")).unwrap());
        let code = db.new_enrol_code(COMMUNE, chrono::Duration::hours(1), chrono::Utc::now()).unwrap();
        sotay::sync::enrol(&store, &url, &code, &format!("máy {n}")).await.unwrap();
        store.set_current_volunteer("v-lan").unwrap();
        let stop = stop.clone();
        let pushing = store.clone();
        pushers.push(tokio::spawn(async move {
            let mut round = 0;
            while !stop.load(Ordering::SeqCst) {
                let s = pushing.clone();
                tokio::task::spawn_blocking(move || make_records(&s, 20, &format!("d{n}r{round}"))).await.unwrap();
                drain(&pushing, &Default::default()).await;
                round += 1;
            }
        }));
        devices.push((dir, store));
    }
    while db.record_versions(COMMUNE).unwrap().len() < 120 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // What the server had acknowledged when the backup started.
    let acknowledged = db.record_versions(COMMUNE).unwrap();
    let file = root.path().join("sotay-2026-11-20.age");
    let args: Vec<String> =
        vec!["backup".into(), file.display().to_string(), "--data".into(), data.display().to_string()];
    let out = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        cli(&args, PASSPHRASE)
    })
    .await
    .unwrap();
    ok(out);
    let after = db.record_versions(COMMUNE).unwrap().len();
    assert!(after > acknowledged.len(), "the devices kept pushing while the backup ran");

    // Restored into a new folder: whole, with every acknowledged record at least as new.
    let restored = root.path().join("restored");
    ok(cli(&["restore", file.to_str().unwrap(), "--data", restored.to_str().unwrap()], PASSPHRASE));
    let check: String = rusqlite::Connection::open(restored.join("sotay-server.db"))
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let copy = ServerDb::open(restored.join("sotay-server.db")).unwrap();
    let kept: std::collections::HashMap<_, _> =
        copy.record_versions(COMMUNE).unwrap().into_iter().map(|(id, v, x)| (id, (v, x))).collect();
    for (id, version, voided) in &acknowledged {
        let (v, x) = kept.get(id).unwrap_or_else(|| panic!("acknowledged record {id} missing from the backup"));
        assert!(*v >= *version && (*x || !voided), "{id}: {v} < {version}");
    }
    assert!(copy.totals_mismatches(COMMUNE).unwrap().is_empty(), "the reports agree with the records");
    assert_eq!(copy.cid_key(COMMUNE).unwrap().to_hex(), db.cid_key(COMMUNE).unwrap().to_hex(), "with its key");

    // Once the pushes stop, a backup restores to the same records and the same reports.
    stop.store(true, Ordering::SeqCst);
    for p in pushers {
        p.await.unwrap();
    }
    let file2 = root.path().join("sotay-2026-11-21.age");
    ok(cli(&["backup", file2.to_str().unwrap(), "--data", data.to_str().unwrap()], PASSPHRASE));
    let restored2 = root.path().join("restored2");
    ok(cli(&["restore", file2.to_str().unwrap(), "--data", restored2.to_str().unwrap()], PASSPHRASE));
    let copy2 = ServerDb::open(restored2.join("sotay-server.db")).unwrap();
    assert_eq!(copy2.record_versions(COMMUNE).unwrap(), db.record_versions(COMMUNE).unwrap());
    assert_eq!(reports(&copy2), reports(&db));

    // Without the passphrase the backup opens nowhere; a restore never overwrites a folder.
    let wrong = cli(
        &["restore", file2.to_str().unwrap(), "--data", root.path().join("x").to_str().unwrap()],
        "not the passphrase",
    );
    assert_eq!(wrong.status.code(), Some(1));
    let err = String::from_utf8_lossy(&wrong.stderr);
    assert!(err.contains("wrong passphrase") && err.lines().count() == 1 && !err.contains("backtrace"), "{err}");
    let over = cli(&["restore", file2.to_str().unwrap(), "--data", restored.to_str().unwrap()], PASSPHRASE);
    assert!(!over.status.success() && String::from_utf8_lossy(&over.stderr).contains("already holds a database"));
    let raw = std::fs::read(&file2).unwrap();
    assert!(raw.starts_with(b"age-encryption.org/v1\n-> scrypt "), "an age file encrypted to a passphrase");
    assert!(!raw.windows(13).any(|w| w == b"SQLite format"), "no plain database inside");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file2).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(&restored2).unwrap().permissions().mode() & 0o777, 0o700);
    }
    server.abort();
    drop(devices);
}
