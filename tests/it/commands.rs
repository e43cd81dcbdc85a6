//! The command line as an operator meets it: every command has its own `--help`; an unknown
//! command or a user error ends with a non-zero status and one clear line, never a
//! backtrace; `commune add` names a real commune from the list of units and makes its first
//! account; the demo commune goes with everything in it; a retired hamlet leaves coverage
//! and devices but keeps its records; a disabled account can no longer log in.

use std::process::{Command, Output};

use chrono::Utc;
use sotay::domain::*;
use sotay::protocol::{Applied, Change, DeviceReport, WireRecord};
use sotay_server::accounts::ACTOR_CLI;
use sotay_server::db::ServerDb;

use super::stores::TestStore;
use uuid::Uuid;

const PASSWORD: &str = "mat khau dai du 10";

/// A data folder and the store its server keeps its data in.
struct Data {
    dir: tempfile::TempDir,
    store: TestStore,
}

impl Data {
    fn new() -> Data {
        Data { dir: tempfile::tempdir().unwrap(), store: TestStore::new() }
    }

    fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// The server database the commands changed, opened again.
    fn db(&self) -> ServerDb {
        self.store.open(&self.path().join("sotay-server.db"))
    }

    /// A server command on this folder and store.
    fn command(&self) -> Command {
        let mut cmd = Command::new(crate::it::common::server_bin());
        self.store.apply(&mut cmd);
        cmd
    }
}

fn run_in(data: &Data, args: &[&str]) -> Output {
    data.command()
        .args(args)
        .arg("--data")
        .arg(data.path())
        .env("SOTAY_ADMIN_PASSWORD", PASSWORD)
        .env("RUST_BACKTRACE", "full")
        .env_remove("SOTAY_COMMUNE")
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The one line a refused command prints.
fn refused(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    let all = String::from_utf8_lossy(&out.stderr).into_owned();
    // Log lines (a warning about the folder's mode, say) are not the error.
    let lines: Vec<&str> = all.lines().filter(|l| !l.contains(" WARN ") && !l.contains(" INFO ")).collect();
    assert_eq!(lines.len(), 1, "one line: {all}");
    let err = lines[0].to_owned();
    assert!(err.starts_with("sotay-server: "), "{err}");
    assert!(!all.contains("backtrace") && !all.contains("panicked") && !all.contains("src/"), "{all}");
    err
}

#[test]
fn every_command_has_its_help_and_an_unknown_command_or_user_error_fails_in_one_line() {
    let data = Data::new();
    for help in [
        &["--help"][..],
        &["serve", "--help"],
        &["commune", "add", "--help"],
        &["commune", "list", "--help"],
        &["commune", "remove-demo", "--help"],
        &["hamlet", "import", "--help"],
        &["hamlet", "retire", "--help"],
        &["volunteer", "import", "--help"],
        &["admin", "add", "--help"],
        &["admin", "list", "--help"],
        &["admin", "disable", "--help"],
        &["enrol-code", "--help"],
        &["devices", "--help"],
        &["revoke", "--help"],
        &["backup", "--help"],
        &["restore", "--help"],
    ] {
        let text = stdout(&run_in(&data, help));
        assert!(text.contains("Usage: sotay-server"), "{help:?}: {text}");
    }
    let serve = stdout(&run_in(&data, &["serve", "--help"]));
    for option in ["--addr", "--public-url", "--demo", "--tls-cert", "--tls-key", "--tls-pin", "--plain-http", "--data"]
    {
        assert!(serve.contains(option), "serve {option}");
    }
    let enrol = stdout(&run_in(&data, &["enrol-code", "--help"]));
    for option in ["--public-url", "--volunteer", "--hours", "--demo", "--commune"] {
        assert!(enrol.contains(option), "enrol-code {option}");
    }
    // Usage errors: clap's status 2.
    for args in
        [&["frobnicate"][..], &[], &["commune"], &["commune", "add"], &["revoke"], &["enrol-code", "--hours", "x"]]
    {
        let out = run_in(&data, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
    // User errors: one line, status 1, whatever RUST_BACKTRACE says.
    assert!(refused(&run_in(&data, &["devices"])).contains("no commune yet"));
    assert!(refused(&run_in(&data, &["commune", "add", "99999", "--admin", "canbo"]))
        .contains("99999 is not in the list of administrative units"));
    assert!(refused(&run_in(&data, &["commune", "add", "2349x", "--admin", "canbo"])).contains("five digits"));
    assert!(refused(&run_in(&data, &["commune", "remove-demo"])).contains("no demo commune"));
    assert!(refused(&run_in(&data, &["revoke", "no-such-device"])).contains("no device"));
    assert!(refused(&run_in(&data, &["serve", "--plain-http", "--addr", "0.0.0.0:0"])).contains("loopback"));
    assert!(refused(&run_in(&data, &["admin", "add", "tinh", "--province", "99"])).contains("no province 99"));
    let out = data
        .command()
        .args(["admin", "add", "canbo", "--demo", "--data"])
        .arg(data.path())
        .env("SOTAY_ADMIN_PASSWORD", "short")
        .output()
        .unwrap();
    assert!(refused(&out).contains("at least 10 characters"));
}

#[test]
fn commune_add_names_a_real_commune_from_the_list_and_makes_its_first_account() {
    let data = Data::new();
    let out = stdout(&run_in(&data, &["commune", "add", "23497", "--admin", "canbo"]));
    assert!(out.contains("Xã Kon Braih, tỉnh Quảng Ngãi (23497)"), "{out}");
    // A unit the list does not have yet, by name.
    stdout(&run_in(
        &data,
        &["commune", "add", "99001", "--admin", "canbo.moi", "--name", "Xã Mới", "--province", "51"],
    ));
    // The same code twice is refused.
    assert!(refused(&run_in(&data, &["commune", "add", "23497", "--admin", "x"])).contains("already"));
    let list = stdout(&run_in(&data, &["commune", "list"]));
    assert!(list.contains("23497  Xã Kon Braih") && list.contains("99001  Xã Mới") && !list.contains("DEMO"), "{list}");
    let db = data.db();
    let r = db.commune("23497").unwrap();
    assert_eq!((r.commune.name.as_str(), r.commune.province.as_str()), ("Xã Kon Braih", "Quảng Ngãi"));
    assert!(r.hamlets.is_empty() && !r.commune.sample, "a real commune starts empty");
    assert_eq!(db.province_of("23497").unwrap().as_deref(), Some("51"));
    assert!(db.login("canbo", PASSWORD, Utc::now()).unwrap().is_ok());
    let log = db.audit_log("23497", 10).unwrap();
    let added = log.iter().find(|e| e.2 == "commune.add").unwrap();
    assert_eq!((added.1.as_str(), added.3.as_str()), (ACTOR_CLI, "23497 Xã Kon Braih"));
    assert!(log.iter().any(|e| e.1 == ACTOR_CLI && e.2 == "account.put" && e.3 == "canbo"));
    drop(db);
    // With two communes, commands about one need --commune.
    assert!(refused(&run_in(&data, &["devices"])).contains("--commune"));
    stdout(&run_in(&data, &["devices", "--commune", "23497"]));
}

fn push(db: &ServerDb, token: &str, hamlet: &str) -> Applied {
    let device = db.device_by_token(token).unwrap().unwrap();
    let record = WireRecord {
        id: Uuid::now_v7(),
        version: 1,
        hamlet_id: hamlet.into(),
        volunteer_id: "v-lan".into(),
        occurred_at: chrono::NaiveDate::from_ymd_opt(2026, 11, 19).unwrap().and_hms_opt(9, 0, 0).unwrap(),
        saved_at: Utc::now(),
        voided: false,
        void_reason: None,
        body: super::common::signature(None, None, Outcome::DigitalSignature),
    };
    db.apply_push(&device, &DeviceReport::default(), &[record], Utc::now()).unwrap().remove(0).result
}

#[test]
fn the_demo_commune_goes_with_everything_in_it_and_the_real_one_takes_its_code() {
    let data = Data::new();
    stdout(&run_in(&data, &["admin", "add", "canbo.demo", "--demo"]));
    let token = {
        let db = data.db();
        assert_eq!(db.commune_is_demo("23497").unwrap(), Some(true));
        let code = db.new_enrol_code("23497", chrono::Duration::hours(1), Utc::now()).unwrap();
        let e = db.enrol(&code, "máy demo", Utc::now()).unwrap().unwrap();
        assert_eq!(push(&db, &e.token, "h-plei"), Applied::Applied);
        assert!(db.coverage_report("23497").unwrap().total.adult_population > 2000, "the made-up hamlets");
        e.token
    };
    let key_before = data.db().cid_key("23497").unwrap().to_hex();
    assert!(refused(&run_in(&data, &["commune", "add", "23497", "--admin", "canbo"])).contains("remove-demo"));
    let out = stdout(&run_in(&data, &["commune", "remove-demo"]));
    assert!(out.contains("1 records, 1 devices and 1 office accounts"), "{out}");
    for table in [
        "records",
        "record_history",
        "devices",
        "enrol_codes",
        "accounts",
        "change_log",
        "people",
        "activity_days",
        "coverage_hamlets",
        "communes",
    ] {
        let n = data.store.sql(&data.path().join("sotay-server.db"), &format!("SELECT COUNT(*) FROM {table}"));
        assert_eq!(n, "0", "{table}");
    }
    let keys = std::fs::read_to_string(data.path().join("sotay-server.keys")).unwrap();
    assert!(!keys.contains("23497"), "the demo's hashing key is gone");
    stdout(&run_in(&data, &["commune", "add", "23497", "--admin", "canbo"]));
    let db = data.db();
    assert!(db.device_by_token(&token).unwrap().is_none(), "the demo's devices no longer sync");
    assert_ne!(db.cid_key("23497").unwrap().to_hex(), key_before, "a new key for the real commune");
    assert_eq!(db.coverage_report("23497").unwrap().total.adult_population, 0, "no made-up adults");
    assert!(db.login("canbo.demo", PASSWORD, Utc::now()).unwrap().is_err());
    let (_, _, what, detail) =
        db.audit_log("", 10).unwrap().into_iter().find(|e| e.2 == "commune.remove-demo").unwrap();
    assert_eq!(what, "commune.remove-demo");
    assert!(detail.contains("1 records"));
}

#[test]
fn a_retired_hamlet_leaves_coverage_and_devices_but_keeps_its_records() {
    let data = Data::new();
    stdout(&run_in(&data, &["commune", "add", "23497", "--admin", "canbo"]));
    let csv = data.path().join("thon.csv");
    std::fs::write(
        &csv,
        "ma_thon,ten_thon,dan_so_truong_thanh,da_co_chu_ky\nh-plei,Làng Plei Rơng,297,41\nh-cu,Thôn Cũ,100,10\n",
    )
    .unwrap();
    assert!(stdout(&run_in(&data, &["hamlet", "import", csv.to_str().unwrap()])).contains("2"));
    let vcsv = data.path().join("tnv.csv");
    std::fs::write(&vcsv, "ma,ho_ten,thon\nv-lan,Y Lan,h-cu\n").unwrap();
    stdout(&run_in(&data, &["volunteer", "import", vcsv.to_str().unwrap()]));
    let bad = data.path().join("bad.csv");
    std::fs::write(&bad, "ma_thon,ten_thon,dan_so_truong_thanh,da_co_chu_ky\nh-x,Thôn X,10,20\n").unwrap();
    assert!(refused(&run_in(&data, &["hamlet", "import", bad.to_str().unwrap()])).contains("nothing was imported"));
    let token = {
        let db = data.db();
        let code = db.new_enrol_code("23497", chrono::Duration::hours(1), Utc::now()).unwrap();
        let e = db.enrol(&code, "máy", Utc::now()).unwrap().unwrap();
        assert_eq!(push(&db, &e.token, "h-cu"), Applied::Applied);
        e.token
    };
    stdout(&run_in(&data, &["hamlet", "retire", "h-cu"]));
    assert!(refused(&run_in(&data, &["hamlet", "retire", "h-cu"])).contains("no hamlet h-cu"));
    let db = data.db();
    let coverage = db.coverage_report("23497").unwrap();
    assert_eq!(coverage.rows.iter().map(|r| r.hamlet_id.as_str()).collect::<Vec<_>>(), vec!["h-plei"]);
    assert_eq!(coverage.total.adult_population, 297);
    // Devices get the list without it at their next pull.
    let (changes, _) = db.pull("23497", 0, 1000).unwrap();
    let Some(Change::Reference { reference }) =
        changes.iter().rev().map(|(_, c)| c).find(|c| matches!(c, Change::Reference { .. }))
    else {
        panic!("a reference change")
    };
    assert!(reference.hamlet("h-cu").is_none() && reference.hamlet("h-plei").is_some());
    assert_eq!(reference.volunteer("v-lan").unwrap().hamlet_id, None);
    // Its records stay, and one made there before still arrives; the activity names it.
    assert_eq!(db.record_versions("23497").unwrap().len(), 1);
    assert_eq!(push(&db, &token, "h-cu"), Applied::Applied);
    let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 19).unwrap();
    let activity = db.activity_report("23497", day, day).unwrap();
    assert!(activity
        .by_hamlet
        .iter()
        .any(|(id, name, c)| id == "h-cu" && name == "Thôn Cũ" && c.signature_sessions == 2));
    assert_eq!(db.retired_hamlets("23497").unwrap()[0].0.name, "Thôn Cũ");
    // Imported again by its id, it is in use again.
    drop(db);
    stdout(&run_in(&data, &["hamlet", "import", csv.to_str().unwrap()]));
    let db = data.db();
    assert!(db.retired_hamlets("23497").unwrap().is_empty());
    assert!(db.commune("23497").unwrap().hamlet("h-cu").is_some());
}

#[test]
fn admin_accounts_are_listed_and_a_disabled_one_can_no_longer_log_in() {
    let data = Data::new();
    stdout(&run_in(&data, &["commune", "add", "23497", "--admin", "canbo"]));
    stdout(&run_in(&data, &["admin", "add", "so.khcn", "--province", "51"]));
    let list = stdout(&run_in(&data, &["admin", "list"]));
    assert!(list.contains("canbo") && list.contains("commune 23497") && list.contains("province 51"), "{list}");
    let token = {
        let db = data.db();
        let (token, session) = db.login("so.khcn", PASSWORD, Utc::now()).unwrap().unwrap();
        assert_eq!((session.commune.as_str(), session.province.as_deref()), ("", Some("51")));
        token
    };
    stdout(&run_in(&data, &["admin", "disable", "so.khcn"]));
    assert!(stdout(&run_in(&data, &["admin", "list"])).contains("disabled"));
    let db = data.db();
    assert!(db.session(&token, Utc::now()).unwrap().is_none(), "its session ended");
    assert!(db.login("so.khcn", PASSWORD, Utc::now()).unwrap().is_err(), "and it cannot log in");
    drop(db);
    assert!(refused(&run_in(&data, &["admin", "disable", "so.khcn"])).contains("no active account"));
    // Added again, it is enabled with its new password.
    stdout(&run_in(&data, &["admin", "add", "so.khcn", "--province", "51"]));
    let db = data.db();
    assert!(db.login("so.khcn", PASSWORD, Utc::now()).unwrap().is_ok());
}
