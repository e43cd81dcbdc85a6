//! One rule set, shown on generated inputs: every record the app's form saves, the server
//! accepts; every form it refuses (when all of it could be read) the server refuses too;
//! and every body the server accepts, the app's form saves unchanged. The app side is the
//! real form, store and sync's `to_wire`; the server side reads the record's JSON as a push
//! does and applies it to a real server database.

use std::sync::Arc;

use chrono::{Duration, FixedOffset, NaiveDateTime, TimeZone, Utc};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use sotay::domain::citizen_id::{CidKey, CitizenId, SealKey};
use sotay::domain::rules;
use sotay::domain::validate::{CommonForm, Context, Form, OutreachForm, SignatureForm, TrainingForm, VisitForm};
use sotay::domain::*;
use sotay::protocol::{Applied, DeviceReport};
use sotay::store::{Enrolment, Store};
use sotay_server::compat::PushedHashes;
use sotay_server::db::{Device, ServerDb};
use sotay_server::push::read_record;

use super::common::now;
use super::sync::{demo_reference, COMMUNE};

/// A device enrolled with a server database, both on disk, the device's clock pinned.
struct World {
    _dir: tempfile::TempDir,
    store: Store,
    db: ServerDb,
    device: Device,
    reference: ReferenceData,
    cid_key: CidKey,
    seal_key: SealKey,
}

/// The device's local time: Vietnam's, seven hours ahead of UTC.
fn local_now() -> NaiveDateTime {
    now().with_timezone(&FixedOffset::east_opt(7 * 3600).unwrap()).naive_local()
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let db = super::stores::server_db(dir.path());
    db.put_commune(&demo_reference()).unwrap();
    let code = db.new_enrol_code(COMMUNE, Duration::hours(1), Utc::now()).unwrap();
    let enrolled = db.enrol(&code, "máy thử", Utc::now()).unwrap().unwrap();
    let device = db.device(&enrolled.device_id).unwrap().unwrap();
    let store = Store::open_with_clock(dir.path().join("sotay.db"), Arc::new(now)).unwrap();
    let seal_key = SealKey::from_hex(&enrolled.seal_key).unwrap();
    let enrolment = Enrolment {
        server_url: "http://127.0.0.1:1".into(),
        commune: COMMUNE.into(),
        token: enrolled.token,
        device_id: enrolled.device_id,
        cert_pin: None,
    };
    store.enrol(&enrolment, &seal_key, &enrolled.reference).unwrap();
    let reference = store.reference().unwrap();
    let cid_key = store.cid_key().unwrap();
    World { _dir: dir, store, db, device, reference, cid_key, seal_key }
}

impl World {
    fn ctx(&self) -> Context<'_> {
        Context { now: local_now(), reference: &self.reference, cid_key: &self.cid_key, seal_key: Some(&self.seal_key) }
    }

    /// What the server answers for one stored record, pushed as the app pushes it.
    fn push(&self, record: &Record) -> (Applied, Option<String>) {
        let json = serde_json::to_string(&sotay::sync::to_wire(record)).unwrap();
        let item = read_record(&json).expect("a record the app wrote has an id and a version");
        let answer = self
            .db
            .apply_push_items(
                &self.device,
                &DeviceReport::default(),
                &[item],
                now() + Duration::hours(1),
                PushedHashes::Refused,
            )
            .unwrap()
            .remove(0);
        (answer.result, answer.reason)
    }

    /// A record stamped as the store stamps one (a fresh id, version 1, saved now), without
    /// writing it: for bodies the app would not save.
    fn stamped(&self, hamlet_id: &str, occurred_at: NaiveDateTime, body: Body) -> Record {
        Record {
            meta: Meta {
                id: new_id(),
                hamlet_id: hamlet_id.into(),
                volunteer_id: "v-lan".into(),
                device_id: self.device.id.clone(),
                occurred_at,
                saved_at: now(),
                version: 1,
                voided: false,
                void_reason: None,
                sample: false,
            },
            body,
            sync_state: SyncState::Pending,
            reject_reason: None,
        }
    }
}

// ---- generated form inputs: mostly plausible, often wrong in one way ----------------------

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        24 => "[A-Za-zÀ-ỹ][A-Za-zÀ-ỹ ]{0,20}[A-Za-z]",
        1 => Just(String::new()),
        1 => Just("   ".to_owned()),
        1 => Just("  Nhà A Blúp ".to_owned()),
        1 => Just("Nhà\u{0}A".to_owned()),
        1 => Just("Nhà\u{1b}[2J".to_owned()),
        1 => Just("dòng 1\ndòng 2".to_owned()),
        1 => Just("x".repeat(201)),
    ]
}

fn notes() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => Just(String::new()),
        8 => text(),
        1 => Just("y".repeat(2001)),
        1 => Just(" ghi chú\tcó tab\n".to_owned()),
    ]
}

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        30 => (1u64..100).prop_map(|n| n.to_string()),
        2 => (0u64..150).prop_map(|n| n.to_string()),
        1 => (0u64..2_000_000).prop_map(|n| n.to_string()),
        1 => Just(String::new()),
        1 => Just("ba".to_owned()),
        1 => Just("-1".to_owned()),
        1 => Just(" 12 ".to_owned()),
        1 => Just("99999999999".to_owned()),
    ]
}

fn birth_year() -> impl Strategy<Value = String> {
    prop_oneof![
        20 => (1910u32..2010).prop_map(|n| n.to_string()),
        2 => (1890u32..2025).prop_map(|n| n.to_string()),
        1 => Just("0".to_owned()),
        1 => Just(String::new()),
        1 => Just("19x0".to_owned()),
        1 => Just("70000".to_owned()),
    ]
}

fn common() -> impl Strategy<Value = CommonForm> {
    let hamlet = prop_oneof![
        10 => Just("h-plei".to_owned()),
        10 => Just("h-tdp1".to_owned()),
        1 => Just("h-gone".to_owned()),
        1 => Just(String::new())
    ];
    // Days before (or after) the device's now, and a time as typed.
    let date = prop_oneof![
        40 => (0i64..300).prop_map(|d| (local_now() - Duration::days(d)).format("%Y-%m-%d").to_string()),
        4 => (-2i64..400).prop_map(|d| (local_now() - Duration::days(d)).format("%Y-%m-%d").to_string()),
        1 => Just(String::new()),
        1 => Just("1900-01-01".to_owned()),
        1 => Just("9999-12-31".to_owned()),
        1 => Just("20/11/2026".to_owned()),
    ];
    let time = prop_oneof![
        30 => (0u32..10, 0u32..60).prop_map(|(h, m)| format!("{h:02}:{m:02}")),
        4 => (0u32..24, 0u32..60).prop_map(|(h, m)| format!("{h:02}:{m:02}")),
        1 => Just(String::new()),
        1 => Just("25:00".to_owned()),
    ];
    (hamlet, date, time).prop_map(|(hamlet_id, date, time)| CommonForm { hamlet_id, date, time })
}

fn topics() -> impl Strategy<Value = Vec<Topic>> {
    prop_oneof![8 => proptest::sample::subsequence(Topic::ALL.to_vec(), 1..=3), 1 => Just(Vec::new())]
}

fn visit_form() -> impl Strategy<Value = Form> {
    (common(), text(), number(), topics(), notes()).prop_map(|(common, household, people_helped, topics, notes)| {
        Form::Visit(VisitForm { common, household, people_helped, topics, notes })
    })
}

fn signature_form() -> impl Strategy<Value = Form> {
    let person = (
        text(),
        birth_year(),
        prop_oneof![1 => Just(""), 6 => Just("female"), 6 => Just("male"), 2 => Just("other"), 1 => Just("x")],
    );
    let contact = (
        prop_oneof![Just(String::new()), text()],
        prop_oneof![6 => Just(""), 3 => Just("0905 123 456"), 3 => Just("+84905123456"), 1 => Just("12345")],
        prop_oneof![6 => Just(""), 3 => Just("051180004567"), 3 => Just("051 205 001 234"), 1 => Just("12345"), 1 => Just("999123456789")],
        any::<bool>(),
    );
    let outcome = (
        proptest::option::weighted(0.9, proptest::sample::select(Outcome::ALL.to_vec())),
        prop_oneof![1 => Just(String::new()), 6 => proptest::sample::select(FailureReason::CODES.to_vec()).prop_map(str::to_owned)],
        prop_oneof![1 => Just(""), 4 => Just("VNPT-CA"), 4 => Just("Viettel-CA"), 2 => Just("other")],
        prop_oneof![1 => Just(String::new()), 3 => text()],
    );
    let levels =
        (proptest::sample::select(AccountLevel::ALL.to_vec()), proptest::sample::select(AccountLevel::ALL.to_vec()));
    (common(), any::<bool>(), person, contact, outcome, levels).prop_map(
        |(
            common,
            consent,
            (display_name, birth_year, sex),
            (ethnic_group, phone, cid, keep_last4),
            (outcome, reason, provider, other),
            (before, after),
        )| {
            Form::SignatureHelp(SignatureForm {
                common,
                consent,
                display_name,
                birth_year,
                sex: sex.into(),
                ethnic_group,
                phone: phone.into(),
                citizen_id: cid.into(),
                keep_last4,
                kept_cid: None,
                level_before: before,
                level_after: after,
                outcome,
                failure_reason: reason,
                provider: provider.into(),
                provider_other: other,
                parent_id: String::new(),
            })
        },
    )
}

fn training_form() -> impl Strategy<Value = Form> {
    let counts = prop_oneof![
        12 => (1u32..60).prop_flat_map(|t| (Just(t), 0..=t, 0..=t)),
        2 => (1u32..60).prop_flat_map(|t| (Just(t), 0..=t + 2, 0..=t + 2)),
        1 => (0u32..6000, 0u32..6000, 0u32..6000),
    ];
    (
        common(),
        proptest::sample::select(TrainingKind::ALL.to_vec()),
        topics(),
        counts,
        text(),
        proptest::sample::select(Platform::ALL.to_vec()),
        prop_oneof![Just(String::new()), text()],
    )
        .prop_map(|(common, kind, topics, (total, women, ethnic_minority), trainers, platform, platform_other)| {
            Form::Training(TrainingForm {
                common,
                kind,
                topics,
                total,
                women,
                ethnic_minority,
                trainers,
                platform,
                platform_other,
            })
        })
}

fn outreach_form() -> impl Strategy<Value = Form> {
    (common(), proptest::sample::select(Channel::ALL.to_vec()), number(), number(), notes()).prop_map(
        |(common, channel, quantity, reach, notes)| {
            Form::Outreach(OutreachForm { common, channel, quantity, reach, notes })
        },
    )
}

fn any_form() -> impl Strategy<Value = Form> {
    prop_oneof![visit_form(), signature_form(), training_form(), outreach_form()]
}

/// 600 generated cases each run (a fresh seed every time); `SOTAY_RULES_CASES=30000` shakes
/// out a rare disagreement, as the one between the form's clock and the server's once was.
fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: std::env::var("SOTAY_RULES_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(600),
        failure_persistence: None,
        ..Config::default()
    })
}

#[test]
fn every_record_the_app_saves_the_server_accepts_and_every_form_it_refuses_the_server_refuses() {
    let w = world();
    let (saved, refused, skewed) = (std::cell::Cell::new(0), std::cell::Cell::new(0), std::cell::Cell::new(0));
    runner()
        .run(&any_form(), |form| {
            match form.validate(&w.ctx()) {
                Ok(valid) => {
                    let record = w
                        .store
                        .create(NewRecord {
                            hamlet_id: valid.hamlet_id,
                            volunteer_id: "v-lan".into(),
                            occurred_at: valid.occurred_at,
                            body: valid.body,
                        })
                        .unwrap();
                    let (result, reason) = w.push(&record);
                    prop_assert_eq!(result, Applied::Applied, "saved by the app, refused by the server: {:?}", reason);
                    saved.set(saved.get() + 1);
                }
                Err(problems) => {
                    // All of it could be read: the record it stands for is refused by the
                    // server too, for a field the form marked.
                    let (candidate, unreadable) = form.read(&w.ctx());
                    if unreadable.is_empty() {
                        let at = candidate.occurred_at;
                        let record = w.stamped(&candidate.hamlet_id, at, candidate.body);
                        let (result, reason) = w.push(&record);
                        if result == Applied::Applied && only_the_clock(&problems) && within_any_zone(at) {
                            // The form knows the phone's local time; the server knows only the
                            // save's UTC time, so it takes any zone from UTC−12 to UTC+14 and
                            // accepts a date the form found just outside its own window. It
                            // never refuses what a phone in another zone saved.
                            skewed.set(skewed.get() + 1);
                            return Ok(());
                        }
                        prop_assert_eq!(
                            result,
                            Applied::Rejected,
                            "refused by the form ({:?}), accepted by the server",
                            problems
                        );
                        let reason = reason.unwrap();
                        prop_assert!(
                            problems.iter().any(|p| reason.contains(&format!("({})", p.field))
                                || (p.field == "provider_other" && reason.contains("(provider)"))),
                            "the server names a field the form marked: {:?} / {}",
                            problems,
                            reason
                        );
                        refused.set(refused.get() + 1);
                    }
                }
            }
            Ok(())
        })
        .unwrap();
    // Both sides were exercised, not only one.
    let (saved, refused) = (saved.get(), refused.get());
    assert!(saved >= 40 && refused >= 40, "saved {saved}, refused with all fields read {refused}");
    assert!(skewed.get() * 20 <= refused, "the clock's gap is the exception: {} of {refused}", skewed.get());
}

/// The form refused the record for its date alone: too far ahead of, or behind, the
/// phone's local time.
fn only_the_clock(problems: &[rules::FieldError]) -> bool {
    problems.iter().all(|p| p.field == "date" && matches!(p.problem, rules::Problem::InFuture | rules::Problem::TooOld))
}

/// A local time some time zone (UTC−12 … UTC+14) could have shown when the record was saved,
/// within the rules' slack: what the server must accept.
fn within_any_zone(at: NaiveDateTime) -> bool {
    let utc = now().naive_utc();
    let latest = utc + Duration::hours(14) + Duration::minutes(rules::FUTURE_SLACK_MINUTES);
    let earliest = utc - Duration::hours(12) - Duration::days(rules::MAX_AGE_DAYS);
    (earliest..=latest).contains(&at)
}

// ---- generated bodies: the reverse ---------------------------------------------------------

fn person(seal_key: SealKey, device_key: CidKey) -> impl Strategy<Value = Person> {
    let cid = prop_oneof![
        Just(None),
        (prop_oneof![Just("051180004567"), Just("079205001234")], any::<bool>()).prop_map(move |(cid, last4)| {
            let id = CitizenId::parse(cid).unwrap();
            Some((id.hash(&device_key), device_key.id.clone(), id.seal(&seal_key), last4.then(|| id.last4())))
        }),
    ];
    (
        text(),
        prop_oneof![4 => 1900u16..2015, 1 => Just(0u16), 1 => Just(1880u16), 1 => Just(3000u16)],
        proptest::sample::select(Sex::ALL.to_vec()),
        proptest::option::of(text()),
        prop_oneof![
            Just(None),
            Just(Some("0905123456".to_owned())),
            Just(Some("0905 123 456".to_owned())),
            Just(Some(String::new()))
        ],
        cid,
    )
        .prop_map(|(display_name, birth_year, sex, ethnic_group, phone, cid)| Person {
            display_name,
            birth_year,
            sex,
            ethnic_group,
            phone,
            cid_hash: cid.as_ref().map(|c| c.0.clone()),
            cid_key_id: cid.as_ref().map(|c| c.1.clone()),
            cid_sealed: cid.as_ref().map(|c| c.2.clone()),
            cid_last4: cid.and_then(|c| c.3),
        })
}

fn body(seal_key: SealKey, device_key: CidKey) -> impl Strategy<Value = Body> {
    let count = || prop_oneof![4 => 0u32..200, 1 => 0u32..2_000_000];
    let many_topics = proptest::collection::vec(proptest::sample::select(Topic::ALL.to_vec()), 0..4);
    let visit =
        (text(), count(), many_topics.clone(), notes()).prop_map(|(household, people_helped, topics, notes)| {
            Body::Visit(Visit { household, people_helped, topics, notes })
        });
    let signature = (
        any::<bool>(),
        proptest::option::of(person(seal_key, device_key)),
        proptest::sample::select(Outcome::ALL.to_vec()),
        proptest::option::of(proptest::sample::select(FailureReason::ALL.to_vec())),
        prop_oneof![
            Just(None),
            Just(Some("VNPT-CA".to_owned())),
            Just(Some("other".to_owned())),
            proptest::option::of(text())
        ],
        proptest::sample::select(AccountLevel::ALL.to_vec()),
    )
        .prop_map(|(consent, person, outcome, failure_reason, provider, level)| {
            Body::SignatureHelp(SignatureHelp {
                consent,
                person,
                level_before: level,
                level_after: AccountLevel::Level2,
                outcome,
                failure_reason,
                provider,
                parent_id: None,
            })
        });
    let training = (
        proptest::sample::select(TrainingKind::ALL.to_vec()),
        many_topics,
        count(),
        count(),
        count(),
        text(),
        proptest::sample::select(Platform::ALL.to_vec()),
        proptest::option::of(text()),
    )
        .prop_map(|(kind, topics, total, women, ethnic_minority, trainers, platform, platform_other)| {
            Body::Training(Training { kind, topics, total, women, ethnic_minority, trainers, platform, platform_other })
        });
    let outreach = (proptest::sample::select(Channel::ALL.to_vec()), count(), count(), notes())
        .prop_map(|(channel, quantity, reach, notes)| Body::Outreach(Outreach { channel, quantity, reach, notes }));
    prop_oneof![visit, signature, training, outreach]
}

#[test]
fn every_body_the_server_accepts_the_apps_form_saves_unchanged_and_no_other() {
    let w = world();
    let at = local_now() - Duration::hours(2);
    let at = at - Duration::seconds(at.and_utc().timestamp() % 60);
    let (accepted, refused) = (std::cell::Cell::new(0), std::cell::Cell::new(0));
    runner()
        .run(&body(w.seal_key.clone(), w.cid_key.clone()), |body| {
            let record = w.stamped("h-plei", at, body.clone());
            let (result, reason) = w.push(&record);
            let saved = Form::from_record(&record).validate(&w.ctx()).ok().map(|v| v.body);
            if result == Applied::Applied {
                prop_assert_eq!(saved, Some(body), "accepted by the server, not saved as it is by the app");
                accepted.set(accepted.get() + 1);
            } else {
                prop_assert_ne!(saved, Some(body), "refused by the server ({:?}), saved by the app", reason);
                refused.set(refused.get() + 1);
            }
            Ok(())
        })
        .unwrap();
    let (accepted, refused) = (accepted.get(), refused.get());
    assert!(accepted >= 40 && refused >= 40, "accepted {accepted}, refused {refused}");
}

#[test]
fn a_birth_year_of_zero_saved_by_no_form_is_refused_by_the_server_naming_the_field() {
    let w = world();
    let mut form = Form::blank(RecordKind::SignatureHelp, "h-plei", local_now());
    if let Form::SignatureHelp(f) = &mut form {
        super::common::fill_signature_form(f);
        f.birth_year = "0".into();
    }
    let problems = form.validate(&w.ctx()).unwrap_err();
    assert_eq!(problems.iter().map(|p| p.field).collect::<Vec<_>>(), vec!["birth_year"]);
    let (candidate, unreadable) = form.read(&w.ctx());
    assert!(unreadable.is_empty());
    let (result, reason) = w.push(&w.stamped("h-plei", candidate.occurred_at, candidate.body));
    assert_eq!(result, Applied::Rejected);
    assert!(reason.unwrap().contains("Năm sinh (birth_year)"));
    // Same local clock both sides: the server's window around the save holds the form's.
    let saved_local =
        Utc.from_utc_datetime(&now().naive_utc()).with_timezone(&FixedOffset::east_opt(7 * 3600).unwrap());
    assert_eq!(saved_local.naive_local(), local_now());
}
