//! Shared helpers: a temp store with a pinned clock, and records of each kind.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use sotay::domain::citizen_id::{CidKey, CitizenId};
use sotay::domain::sample::sample_reference;
use sotay::domain::*;
use sotay::store::Store;

/// A connection to a store file with its key (from the key file beside it), for tests that
/// reach under the store: the file cannot be read without it.
pub fn raw_conn(path: &std::path::Path) -> rusqlite::Connection {
    use sotay::store::KeyStore;
    let key = sotay::store::KeyFile::beside(path).load().unwrap().expect("a key file beside the store");
    let c = rusqlite::Connection::open(path).unwrap();
    key.unlock(&c).unwrap();
    c
}

/// Every byte of every file in `dir` (a store, its WAL and shared memory, temporary files),
/// for scans that must not find a person's details.
pub fn raw_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            all.extend(std::fs::read(p).unwrap());
        }
    }
    all
}

/// True if `needle`'s UTF-8 bytes occur in `haystack`.
pub fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 3, 0, 0).unwrap()
}

pub fn at(day: u32, hour: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 11, day).unwrap().and_hms_opt(hour, 0, 0).unwrap()
}

pub struct TempStore {
    pub dir: tempfile::TempDir,
    pub store: Store,
}

impl TempStore {
    pub fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("sotay.db")
    }

    pub fn reopen(self) -> TempStore {
        let TempStore { dir, store } = self;
        drop(store);
        let store = Store::open_with_clock(dir.path().join("sotay.db"), Arc::new(now)).unwrap();
        TempStore { dir, store }
    }
}

/// A store on the sample commune (practice mode), clock pinned to [`now`].
pub fn sample_store() -> TempStore {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with_clock(dir.path().join("sotay.db"), Arc::new(now)).unwrap();
    TempStore { dir, store }
}

/// A store whose records are real (queued to send), as after enrolment.
pub fn live_store() -> TempStore {
    let t = sample_store();
    let mut reference = sample_reference();
    reference.commune.sample = false;
    reference.commune.name = "Xã Kon Braih".into();
    t.store.replace_reference(&reference).unwrap();
    t
}

pub fn visit(household: &str, people: u32) -> Body {
    Body::Visit(Visit {
        household: household.into(),
        people_helped: people,
        topics: vec![Topic::Vneid],
        notes: String::new(),
    })
}

pub fn signature(name: Option<&str>, cid: Option<&str>, outcome: Outcome) -> Body {
    let key = CidKey::new("commune:test", b"commune-key".to_vec());
    Body::SignatureHelp(SignatureHelp {
        consent: name.is_some(),
        person: name.map(|n| Person {
            display_name: n.into(),
            birth_year: 1980,
            sex: Sex::Female,
            ethnic_group: Some("Xơ Đăng".into()),
            phone: Some("0905123456".into()),
            cid_hash: cid.map(|c| CitizenId::parse(c).unwrap().hash(&key)),
            cid_key_id: cid.map(|_| key.id.clone()),
            cid_sealed: None,
            cid_last4: cid.map(|c| CitizenId::parse(c).unwrap().last4()),
        }),
        level_before: AccountLevel::Level1,
        level_after: AccountLevel::Level2,
        outcome,
        failure_reason: (outcome == Outcome::NotCompleted).then_some(FailureReason::NoNfc),
        provider: (outcome != Outcome::NotCompleted).then(|| "VNPT-CA".into()),
        parent_id: None,
    })
}

/// A signature session with consent as the app's form saves it on an enrolled device: the ID
/// number hashed under the device's own key and sealed to the server's key.
pub fn sealed_signature(store: &Store, name: &str, cid: &str, outcome: Outcome) -> Body {
    let mut body = signature(Some(name), None, outcome);
    if let Body::SignatureHelp(s) = &mut body {
        let id = CitizenId::parse(cid).unwrap();
        let key = store.cid_key().unwrap();
        let p = s.person.as_mut().unwrap();
        p.cid_hash = Some(id.hash(&key));
        p.cid_key_id = Some(key.id.clone());
        p.cid_sealed = Some(id.seal(&store.seal_key().unwrap().expect("an enrolled store")));
    }
    body
}

/// A signature session with consent as a device pushes it: no ID hash, the ID number only
/// sealed (`cid_sealed`, to the key named `cid_key_id`), as the server receives it.
pub fn pushed_signature(name: &str, cid_key_id: Option<String>, cid_sealed: Option<String>) -> Body {
    let mut body = signature(Some(name), None, Outcome::DigitalSignature);
    if let Body::SignatureHelp(SignatureHelp { person: Some(p), .. }) = &mut body {
        (p.cid_key_id, p.cid_sealed) = (cid_key_id, cid_sealed);
    }
    body
}

pub fn training(total: u32) -> Body {
    Body::Training(Training {
        kind: TrainingKind::HamletMeeting,
        topics: vec![Topic::AvoidScams],
        total,
        women: total / 2,
        ethnic_minority: total / 3,
        trainers: "A Hưng".into(),
        platform: Platform::BinhDanHocVuSo,
        platform_other: None,
    })
}

pub fn outreach() -> Body {
    Body::Outreach(Outreach {
        channel: Channel::Loudspeaker,
        quantity: 3,
        reach: 400,
        notes: "Phát loa buổi sáng".into(),
    })
}

pub fn new_record(hamlet: &str, occurred_at: NaiveDateTime, body: Body) -> NewRecord {
    NewRecord { hamlet_id: hamlet.into(), volunteer_id: "v-lan".into(), occurred_at, body }
}

/// The commune server's binary. It is another package of the workspace, so Cargo names its
/// path only to that package's tests: it is found beside this test binary
/// (`target/<profile>/sotay-server`, which `cargo test` for the workspace builds), or at
/// `SOTAY_SERVER_BIN`.
pub fn server_bin() -> &'static str {
    static BIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(bin) = std::env::var("SOTAY_SERVER_BIN") {
            return bin;
        }
        let exe = std::env::current_exe().unwrap();
        let profile = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>/deps");
        let bin = profile.join(format!("sotay-server{}", std::env::consts::EXE_SUFFIX));
        assert!(bin.exists(), "{} is missing: build it with `cargo build -p sotay-server`", bin.display());
        bin.display().to_string()
    })
}

/// Every `.rs` file below `dir`, added to `out`.
pub fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// A signature form filled as a volunteer does for "Y Hoa" with consent (born 1980, a woman,
/// a digital signature from VNPT-CA).
pub fn fill_signature_form(s: &mut sotay::domain::validate::SignatureForm) {
    s.consent = true;
    s.display_name = "Y Hoa".into();
    s.birth_year = "1980".into();
    s.sex = "female".into();
    s.outcome = Some(Outcome::DigitalSignature);
    s.provider = "VNPT-CA".into();
}
