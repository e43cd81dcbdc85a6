//! The server's data folder holds personal data, so it is its owner's only: created 0700,
//! the database, its WAL and shared-memory files and anything else written there 0600, and
//! a folder left readable by an earlier version is tightened when the server starts.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use sotay_server::db::ServerDb;
use sotay_server::folder;

use super::stores::{on_postgres, TestStore};
use super::sync::{demo_reference, COMMUNE};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Every entry of the folder with its mode.
fn modes(dir: &Path) -> Vec<(String, u32)> {
    let mut all: Vec<(String, u32)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), mode(&p)))
        .collect();
    all.sort();
    all
}

#[test]
fn the_server_makes_a_new_data_folder_0700_with_its_files_0600() {
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("sotay-data");
    let mut cmd = Command::new(crate::it::common::server_bin());
    TestStore::new().apply(&mut cmd);
    let out = cmd
        .args(["add-admin", "--demo", "canbo.thu"])
        .arg("--data")
        .arg(&data)
        .env("SOTAY_ADMIN_PASSWORD", "mat khau dai du 10")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(mode(&data), 0o700);
    let files = modes(&data);
    // On PostgreSQL the folder keeps the key file; the data is in the database.
    let kept = if on_postgres() { "sotay-server.keys" } else { "sotay-server.db" };
    assert!(files.iter().any(|(n, _)| n == kept), "{files:?}");
    assert!(files.iter().all(|(_, m)| *m == 0o600), "{files:?}");
}

#[test]
fn an_old_readable_data_folder_is_tightened_when_the_server_opens_it() {
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("sotay-data");
    std::fs::create_dir(&data).unwrap();
    let store = TestStore::new();
    {
        // As an earlier version left it: made under umask 022.
        let db = store.open(&data.join("sotay-server.db"));
        db.put_commune(&demo_reference()).unwrap();
        std::fs::write(data.join("backup-notes.txt"), "lưu trữ").unwrap();
        let files = ["sotay-server.db", "sotay-server.keys", "backup-notes.txt"].map(|f| data.join(f));
        for p in files.into_iter().filter(|p| p.exists()) {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut cmd = Command::new(crate::it::common::server_bin());
    store.apply(&mut cmd);
    let out = cmd.args(["devices", "--commune", COMMUNE]).arg("--data").arg(&data).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(mode(&data), 0o700);
    let files = modes(&data);
    assert!(files.iter().all(|(_, m)| *m == 0o600), "{files:?}");
}

#[test]
fn the_wal_and_shared_memory_files_take_the_databases_private_mode_whatever_the_umask() {
    if on_postgres() {
        eprintln!("SQLite's file only: the_wal_and_shared_memory_files_take_the_databases_private_mode_whatever_the_umask runs in the SQLite pass");
        return;
    }
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("data");
    // Under this test process's own umask (022 here), not the server binary's.
    let (path, tightened) = folder::prepare(&data).unwrap();
    assert_eq!(tightened, 0, "a new folder is made private, not tightened afterwards");
    let db = ServerDb::open(&path).unwrap();
    db.put_commune(&demo_reference()).unwrap();
    let files = modes(&data);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.contains(&"sotay-server.db-wal") && names.contains(&"sotay-server.db-shm"), "{names:?}");
    assert_eq!(mode(&data), 0o700);
    assert!(files.iter().all(|(_, m)| *m == 0o600), "{files:?}");
}
