//! What only PostgreSQL has to prove (these tests always run on it, and fail saying so when
//! it is not there): a commune moving up from SQLite (`sotay-server migrate --to`) with its
//! tablets syncing on without enrolling again; a PostgreSQL restarted in the middle of
//! pushes; a pool with no free connection answering 503 with Retry-After; a serialization
//! failure tried again; and pulls that skip nothing while many devices push at once.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sotay::store::Store;
use sotay::sync::Options;
use sotay_server::db::{PoolOptions, ServerDb};
use sotay_server::{router, AppState};

use super::common::*;
use super::stores::{fresh_postgres, psql};
use super::sync::{demo_reference, device_state, drain, make_records, server_state, COMMUNE};

/// The router over `db` on 127.0.0.1, and its address.
async fn serve(db: ServerDb) -> (String, Arc<ServerDb>, tokio::task::JoinHandle<()>) {
    let state = AppState::new(db);
    let db = state.db.clone();
    let (addr, task) = super::sync::serve_router(router(state)).await;
    (format!("http://{addr}"), db, task)
}

/// A device enrolled with the server at `url` whose database is `db`.
async fn enrol(db: &ServerDb, url: &str, volunteer: &str) -> (Arc<Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path().join("sotay.db")).unwrap());
    let code = db.new_enrol_code(COMMUNE, chrono::Duration::hours(1), chrono::Utc::now()).unwrap();
    sotay::sync::enrol(&store, url, &code, "máy thử").await.unwrap();
    store.set_current_volunteer(volunteer).unwrap();
    (store, dir)
}

/// A device setting, read under the store (the store's file needs its key file).
fn setting(store_dir: &Path, key: &str) -> Option<String> {
    let c = raw_conn(&store_dir.join("sotay.db"));
    c.query_row("SELECT value FROM settings WHERE key = ?", [key], |r| r.get(0)).ok()
}

/// Every change a commune's devices pull: (number, change as JSON).
fn changes(db: &ServerDb) -> Vec<(i64, String)> {
    let (all, more) = db.pull(COMMUNE, 0, 1_000_000).unwrap();
    assert!(!more);
    all.into_iter().map(|(seq, c)| (seq, serde_json::to_string(&c).unwrap())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commune_moves_up_to_postgres_and_its_tablets_keep_syncing() {
    let data = tempfile::tempdir().unwrap();
    let db = ServerDb::open(data.path().join("sotay-server.db")).unwrap();
    db.put_commune(&demo_reference()).unwrap();
    let (url, db, task) = serve(db).await;
    let (lan, lan_dir) = enrol(&db, &url, "v-lan").await;
    let (hung, hung_dir) = enrol(&db, &url, "v-hung").await;
    make_records(&lan, 120, "lan");
    make_records(&hung, 80, "hung");
    drain(&lan, &Options::default()).await;
    drain(&hung, &Options::default()).await;
    // An erasure, which devices pull, and which must stick after the move.
    let erased = device_state(&lan).into_keys().next().unwrap();
    db.erase(COMMUNE, &[erased], chrono::Utc::now()).unwrap();
    drain(&lan, &Options::default()).await;
    let before = server_state(&db);
    let history = db.history_count(COMMUNE).unwrap();
    let log = changes(&db);
    let coverage = db.coverage_report(COMMUNE).unwrap();
    let cursor: i64 = setting(lan_dir.path(), "pull_cursor").unwrap().parse().unwrap();
    assert!(cursor > 0 && before.len() == 200, "{cursor} {}", before.len());
    // The commune server stops.
    task.abort();
    let _ = task.await;
    drop(db);

    let url_pg = fresh_postgres();
    let out = std::process::Command::new(server_bin())
        .args(["migrate", "--to", &url_pg, "--data"])
        .arg(data.path())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}{}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("records") && said.contains("moved communes 23497"), "{said}");

    let pg = ServerDb::open_postgres(&url_pg, data.path().join("sotay-server.keys"), PoolOptions::default()).unwrap();
    assert_eq!(server_state(&pg), before);
    assert_eq!(pg.history_count(COMMUNE).unwrap(), history);
    assert_eq!(changes(&pg), log, "the change log keeps its numbers");
    assert_eq!(pg.coverage_report(COMMUNE).unwrap(), coverage);
    assert_eq!(pg.totals_mismatches(COMMUNE).unwrap(), Vec::<String>::new());
    // Moving again is refused and changes nothing.
    let again = std::process::Command::new(server_bin())
        .args(["migrate", "--to", &url_pg, "--data"])
        .arg(data.path())
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already in the PostgreSQL database"));
    assert_eq!(server_state(&pg), before);

    // The tablets are pointed at the province's server (its address, as DNS would) and go on:
    // new records, edits and voids of old ones (sealed ID numbers too), with the same token.
    let (url, pg, _task) = serve(pg).await;
    for dir in [&lan_dir, &hung_dir] {
        raw_conn(&dir.path().join("sotay.db"))
            .execute("UPDATE settings SET value = ? WHERE key = 'server_url'", [&url])
            .unwrap();
    }
    make_records(&lan, 60, "lan2");
    make_records(&hung, 40, "hung2");
    drain(&lan, &Options::default()).await;
    drain(&hung, &Options::default()).await;
    let mut expected: HashMap<_, _> = device_state(&lan);
    expected.extend(device_state(&hung));
    expected.remove(&erased);
    let mut now = server_state(&pg);
    assert!(now.remove(&erased).is_some(), "the erased record stays erased, not gone");
    assert_eq!(now, expected, "nothing lost, nothing doubled");
    assert_eq!(now.len(), 299);
    assert_eq!(pg.totals_mismatches(COMMUNE).unwrap(), Vec::<String>::new());
    // Lan pulls what Hung's push changed too.
    sotay::sync::run_once(&lan, &mut sotay::sync::engine::BatchSize::default()).await.unwrap();
    let after: i64 = setting(lan_dir.path(), "pull_cursor").unwrap().parse().unwrap();
    let log = changes(&pg);
    assert!(after > cursor, "the cursor continues: {cursor} → {after}");
    assert_eq!(after, log.last().unwrap().0, "the device has pulled everything");
    assert!(log.iter().any(|(seq, _)| *seq > cursor), "new changes are numbered after the old ones");
}

/// A PostgreSQL server of this test's own (scripts/postgres.sh), stopped when dropped.
struct OwnPostgres {
    state: std::path::PathBuf,
    url: String,
    data: String,
    bin: String,
    _dir: tempfile::TempDir,
}

impl OwnPostgres {
    fn start() -> OwnPostgres {
        super::stores::postgres_url(); // says clearly when PostgreSQL is not there
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("pg.state");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/postgres.sh");
        let out =
            std::process::Command::new("bash").arg(script).arg("start").env("SOTAY_PG_STATE", &state).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let vars: HashMap<String, String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("export ")?.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
            .collect();
        OwnPostgres {
            state,
            url: vars["SOTAY_TEST_POSTGRES"].clone(),
            data: vars["SOTAY_TEST_PGDATA"].clone(),
            bin: vars["SOTAY_TEST_PGBIN"].clone(),
            _dir: dir,
        }
    }

    /// `pg_ctl restart` (fast: open connections are cut).
    fn restart(&self) {
        let pg_ctl = format!("{}/pg_ctl", self.bin);
        let mut cmd = if rustix_is_root() {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--", &pg_ctl]);
            c
        } else {
            std::process::Command::new(&pg_ctl)
        };
        // With its own log file: the server it starts must not hold this test's pipes open.
        let log = Path::new(&self.data).with_file_name("restart.log");
        let status = cmd
            .args(["-D", &self.data, "-m", "fast", "-w", "-l"])
            .arg(&log)
            .arg("restart")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "pg_ctl restart failed (see {})", log.display());
    }
}

fn rustix_is_root() -> bool {
    std::process::Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/postgres.sh");
        let _ = std::process::Command::new("bash").arg(script).arg("stop").env("SOTAY_PG_STATE", &self.state).output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_in_the_middle_of_pushes_loses_and_doubles_nothing() {
    let pg = OwnPostgres::start();
    let keys = tempfile::tempdir().unwrap();
    let db = ServerDb::open_postgres(&pg.url, keys.path().join("k.keys"), PoolOptions::default()).unwrap();
    db.put_commune(&demo_reference()).unwrap();
    let (url, db, _task) = serve(db).await;
    let mut devices = Vec::new();
    for v in ["v-lan", "v-hung", "v-lan"] {
        let (store, dir) = enrol(&db, &url, v).await;
        make_records(&store, 400, v);
        devices.push((store, dir));
    }
    // Pushes in small batches while PostgreSQL restarts twice under them.
    let pushing: Vec<_> = devices
        .iter()
        .map(|(store, _)| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut batch = sotay::sync::engine::BatchSize::default();
                let mut failures = 0;
                for _ in 0..400 {
                    match sotay::sync::run_once_with(&store, &mut batch, &Options::default()).await {
                        Ok(_) if store.outbox(1).unwrap().is_empty() => break,
                        Ok(_) => {}
                        Err(_) => {
                            failures += 1;
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
                failures
            })
        })
        .collect();
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        pg.restart();
    }
    let mut failures = 0;
    for p in pushing {
        failures += p.await.unwrap();
    }
    for (store, _) in &devices {
        drain(store, &Options::default()).await;
    }
    let mut expected = HashMap::new();
    for (store, _) in &devices {
        expected.extend(device_state(store));
    }
    assert_eq!(server_state(&db), expected, "nothing acknowledged lost, nothing doubled");
    assert_eq!(db.totals_mismatches(COMMUNE).unwrap(), Vec::<String>::new());
    eprintln!("pushes that failed while PostgreSQL restarted: {failures}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_with_no_free_connection_answers_503_with_retry_after() {
    let url_pg = fresh_postgres();
    let keys = tempfile::tempdir().unwrap();
    let options = PoolOptions { size: 1, wait: Duration::from_millis(300) };
    let db = ServerDb::open_postgres(&url_pg, keys.path().join("k.keys"), options).unwrap();
    db.put_commune(&demo_reference()).unwrap();
    let (url, db, _task) = serve(db).await;
    let (store, _dir) = enrol(&db, &url, "v-lan").await;
    let token = sotay_server_token(&store);
    // Another program holds the commune's row: the server's one connection waits on it.
    let (base, options_q) = url_pg.split_once("?options=").unwrap();
    let schema = options_q.rsplit("%3D").next().unwrap().to_owned();
    let holder = std::process::Command::new(format!(
        "{}/psql",
        std::env::var("SOTAY_TEST_PGBIN").unwrap_or_else(|_| "/usr/lib/postgresql/15/bin".into())
    ))
    .args([base, "-X", "-q", "-v", "ON_ERROR_STOP=1"])
    .args(["-c", &format!("BEGIN; SELECT 1 FROM {schema}.communes FOR UPDATE; SELECT pg_sleep(3); COMMIT;")])
    .stdout(std::process::Stdio::null())
    .spawn()
    .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let push = |body: &'static str| {
        let url = url.clone();
        let token = token.clone();
        async move {
            reqwest::Client::new()
                .post(format!("{url}/api/v1/c/{COMMUNE}/push"))
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    let empty = r#"{"api_version":2,"device":{"queued":0,"app_version":"test"},"records":[]}"#;
    let first = tokio::spawn(push(empty));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    let second = push(empty).await;
    assert_eq!(second.status(), 503, "{:?}", second.text().await);
    assert!(started.elapsed() < Duration::from_secs(2), "answered without hanging");
    assert_eq!(second.headers().get("retry-after").unwrap(), "5");
    let first = first.await.unwrap();
    assert_eq!(first.status(), 200, "the push that waited for the lock goes through");
    let mut holder = holder;
    holder.wait().unwrap();
    assert_eq!(db.pool_status().unwrap().0, 1);
}

/// The device's bearer token, read under its store.
fn sotay_server_token(store: &Store) -> String {
    store.enrolment().unwrap().unwrap().token
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serialization_failure_is_tried_again_and_the_push_is_applied_once() {
    let url_pg = fresh_postgres();
    let keys = tempfile::tempdir().unwrap();
    let db = ServerDb::open_postgres(&url_pg, keys.path().join("k.keys"), PoolOptions::default()).unwrap();
    db.put_commune(&demo_reference()).unwrap();
    // The first time anything is written to the history, PostgreSQL reports a serialization
    // failure (a sequence is not rolled back, so the second try passes).
    psql(
        &url_pg,
        "CREATE SEQUENCE fail_once;
         CREATE FUNCTION fail_first() RETURNS trigger AS $$
         BEGIN
           IF nextval('fail_once') = 1 THEN
             RAISE EXCEPTION 'injected' USING ERRCODE = 'serialization_failure';
           END IF;
           RETURN NEW;
         END $$ LANGUAGE plpgsql;
         CREATE TRIGGER fail_first BEFORE INSERT ON record_history FOR EACH ROW EXECUTE FUNCTION fail_first();",
    );
    let (url, db, _task) = serve(db).await;
    let (store, _dir) = enrol(&db, &url, "v-lan").await;
    make_records(&store, 30, "x");
    let report = sotay::sync::run_once(&store, &mut sotay::sync::engine::BatchSize::default()).await.unwrap();
    assert!(store.outbox(1).unwrap().is_empty(), "{report:?}");
    assert_eq!(server_state(&db), device_state(&store));
    assert_eq!(psql(&url_pg, "SELECT nextval('fail_once')"), "32", "one failed try, then 30 rows written once");
    assert_eq!(db.history_count(COMMUNE).unwrap(), 30);
    assert_eq!(db.totals_mismatches(COMMUNE).unwrap(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_skip_nothing_while_many_devices_push_at_once() {
    let url_pg = fresh_postgres();
    let keys = tempfile::tempdir().unwrap();
    let db = ServerDb::open_postgres(&url_pg, keys.path().join("k.keys"), PoolOptions::default()).unwrap();
    db.put_commune(&demo_reference()).unwrap();
    let (url, db, _task) = serve(db).await;
    let mut devices = Vec::new();
    for i in 0..6 {
        let (store, dir) = enrol(&db, &url, if i % 2 == 0 { "v-lan" } else { "v-hung" }).await;
        make_records(&store, 150, &format!("d{i}"));
        devices.push((store, dir));
    }
    // A reader follows the change log with its cursor while the devices push, and keeps
    // every entry it was given.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (db, stop) = (db.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut seen = std::collections::HashSet::new();
            let mut cursor = 0;
            loop {
                let done = stop.load(std::sync::atomic::Ordering::SeqCst);
                let (batch, more) = db.pull(COMMUNE, cursor, 50).unwrap();
                for (seq, change) in batch {
                    assert!(seq > cursor);
                    cursor = seq;
                    seen.insert((seq, serde_json::to_string(&change).unwrap()));
                }
                if done && !more {
                    return seen;
                }
                #[allow(clippy::disallowed_methods)] // a plain thread, polling on purpose
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let pushes: Vec<_> = devices
        .iter()
        .map(|(store, _)| {
            let store = store.clone();
            tokio::spawn(async move { drain(&store, &Options::default()).await })
        })
        .collect();
    for p in pushes {
        p.await.unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = tokio::task::spawn_blocking(move || reader.join().unwrap()).await.unwrap();
    // Every entry the log holds now was handed to the reader when it passed its number: a
    // change committed after a higher number was read would be missing here.
    let all = changes(&db);
    assert!(all.len() > 5, "{}", all.len());
    let missed: Vec<_> = all.iter().filter(|e| !seen.contains(*e)).collect();
    assert!(missed.is_empty(), "the reader's cursor passed {} changes: {missed:?}", missed.len());
    let mut expected = HashMap::new();
    for (store, _) in &devices {
        expected.extend(device_state(store));
    }
    assert_eq!(server_state(&db), expected);
    assert_eq!(db.totals_mismatches(COMMUNE).unwrap(), Vec::<String>::new());
}

/// Runs a shell command as PostgreSQL's user (`postgres` when this test runs as root).
fn as_postgres(script: &str) {
    let mut cmd = if rustix_is_root() {
        let mut c = std::process::Command::new("runuser");
        c.args(["-u", "postgres", "--", "sh", "-c", script]);
        c
    } else {
        let mut c = std::process::Command::new("sh");
        c.args(["-c", script]);
        c
    };
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_on_another_machine_is_reached_over_verified_tls_only() {
    let pg = OwnPostgres::start();
    // A CA of the province's own, and PostgreSQL's certificate for 127.0.0.1 signed by it.
    let dir = Path::new(&pg.data).to_owned();
    as_postgres(&format!(
        "cd {d} && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=tinh-ca -keyout ca.key -out ca.crt 2>/dev/null \
         && openssl req -newkey rsa:2048 -nodes -subj /CN=db.tinh -keyout server.key -out server.csr 2>/dev/null \
         && printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext \
         && openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile san.ext -out server.crt 2>/dev/null \
         && chmod 600 server.key \
         && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=other-ca -keyout other.key -out other.crt 2>/dev/null",
        d = dir.display()
    ));
    let superuser = pg.url.replace("//sotay@", "//postgres@");
    psql(&superuser, "ALTER SYSTEM SET ssl = on");
    psql(&superuser, "SELECT pg_reload_conf()");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let keys = tempfile::tempdir().unwrap();
    let open = |query: &str| {
        let url = format!("{}?application_name=sotay-tls&{query}", pg.url);
        ServerDb::open_postgres(&url, keys.path().join("k.keys"), PoolOptions::default())
    };
    // Verified against the province's CA: the connection is encrypted.
    let db = open(&format!("sslmode=require&sslrootcert={}", dir.join("ca.crt").display())).unwrap();
    db.put_commune(&demo_reference()).unwrap();
    let ssl = psql(
        &pg.url,
        "SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'sotay-tls'",
    );
    assert_eq!(ssl, "t");
    drop(db);
    // A certificate no trusted CA signed is refused: against another CA, and against the
    // public roots (what a man in the middle would show).
    assert!(open(&format!("sslmode=require&sslrootcert={}", dir.join("other.crt").display())).is_err());
    assert!(open("sslmode=require").is_err());
}
