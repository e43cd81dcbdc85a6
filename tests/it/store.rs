//! The store's contract: durable saves with history and outbox, versions, voids, search,
//! filters, tallies, coverage, drafts, sync states, and clear errors that destroy nothing
//! (search itself: `search.rs`).

use chrono::NaiveDate;
use sotay::domain::validate::{Form, SignatureForm};
use sotay::domain::*;
use sotay::store::{Filter, Store, StoreError};

use super::common::*;

#[test]
fn every_kind_round_trips_through_the_store() {
    let t = live_store();
    for body in [
        visit("Nhà ông A Blúp", 3),
        signature(Some("Y Hoa"), Some("051203004567"), Outcome::DigitalSignature),
        training(20),
        outreach(),
    ] {
        let saved = t.store.create(new_record("h-plei", at(19, 8), body.clone())).unwrap();
        let got = t.store.get(saved.meta.id).unwrap().unwrap();
        assert_eq!(got, saved);
        assert_eq!(got.body, body);
        assert_eq!(got.meta.version, 1);
        assert_eq!(got.sync_state, SyncState::Pending);
        assert_eq!(got.meta.id.get_version_num(), 7);
    }
}

#[test]
fn a_saved_record_is_queued_with_its_history() {
    let t = live_store();
    let r = t.store.create(new_record("h-plei", at(19, 8), visit("Nhà bà Y Nhi", 2))).unwrap();
    assert_eq!(t.store.outbox(10).unwrap(), vec![(r.meta.id, 1)]);
    assert_eq!(t.store.history(r.meta.id).unwrap().len(), 1);
    assert_eq!(t.store.outbox_summary().unwrap().pending, 1);
}

#[test]
fn practice_records_never_enter_the_outbox() {
    let t = sample_store();
    let r = t.store.create(new_record("h-plei", at(19, 8), outreach())).unwrap();
    assert!(r.meta.sample);
    assert_eq!(r.sync_state, SyncState::Practice);
    assert!(t.store.outbox(10).unwrap().is_empty());
}

#[test]
fn editing_raises_the_version_keeps_history_and_requeues() {
    let t = live_store();
    let r = t.store.create(new_record("h-plei", at(19, 8), visit("Nhà A", 1))).unwrap();
    t.store.mark_sent(r.meta.id, 1).unwrap();
    assert_eq!(t.store.get(r.meta.id).unwrap().unwrap().sync_state, SyncState::Sent);
    assert!(t.store.outbox(10).unwrap().is_empty());

    let r2 = t.store.update(r.meta.id, 1, "v-hung", "h-konbraih", at(19, 9), visit("Nhà A (sửa)", 4)).unwrap();
    assert_eq!(r2.meta.version, 2);
    assert_eq!(r2.meta.volunteer_id, "v-hung");
    assert_eq!(r2.sync_state, SyncState::Pending);
    assert_eq!(t.store.outbox(10).unwrap(), vec![(r.meta.id, 2)]);
    let history = t.store.history(r.meta.id).unwrap();
    assert_eq!(history.iter().map(|h| h.version).collect::<Vec<_>>(), vec![2, 1]);
    assert_eq!(history[1].body, visit("Nhà A", 1));
}

#[test]
fn saving_over_a_version_not_seen_is_a_conflict_and_changes_nothing() {
    let t = live_store();
    let r = t.store.create(new_record("h-plei", at(19, 8), visit("Nhà A", 1))).unwrap();
    t.store.update(r.meta.id, 1, "v-lan", "h-plei", at(19, 8), visit("Nhà B", 1)).unwrap();
    let err = t.store.update(r.meta.id, 1, "v-lan", "h-plei", at(19, 8), visit("Nhà C", 1)).unwrap_err();
    assert!(matches!(err, StoreError::Conflict));
    assert_eq!(t.store.get(r.meta.id).unwrap().unwrap().body, visit("Nhà B", 1));
    assert_eq!(t.store.history(r.meta.id).unwrap().len(), 2);
}

#[test]
fn a_voided_record_stays_visible_and_its_void_is_queued() {
    let t = live_store();
    let r = t.store.create(new_record("h-plei", at(19, 8), outreach())).unwrap();
    t.store.mark_sent(r.meta.id, 1).unwrap();
    let v = t.store.void(r.meta.id, 1, "v-lan", "ghi nhầm").unwrap();
    assert!(v.meta.voided);
    assert_eq!(v.meta.void_reason.as_deref(), Some("ghi nhầm"));
    assert_eq!(t.store.outbox(10).unwrap(), vec![(r.meta.id, 2)]);
    let listed = t.store.search(&Filter::default()).unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].meta.voided);
    // Voided records leave the tallies.
    let tallies = t.store.tallies(at(1, 0).date(), at(21, 0).date()).unwrap();
    assert_eq!(tallies.outreach, 0);
}

#[test]
fn an_acknowledgement_of_an_older_version_keeps_the_newer_one_queued() {
    let t = live_store();
    let r = t.store.create(new_record("h-plei", at(19, 8), visit("Nhà A", 1))).unwrap();
    t.store.update(r.meta.id, 1, "v-lan", "h-plei", at(19, 8), visit("Nhà A", 2)).unwrap();
    t.store.mark_sent(r.meta.id, 1).unwrap();
    assert_eq!(t.store.outbox(10).unwrap(), vec![(r.meta.id, 2)]);
    assert_eq!(t.store.get(r.meta.id).unwrap().unwrap().sync_state, SyncState::Pending);
    t.store.mark_rejected(r.meta.id, 2, "Thôn không tồn tại").unwrap();
    let got = t.store.get(r.meta.id).unwrap().unwrap();
    assert_eq!(got.sync_state, SyncState::Rejected);
    assert_eq!(got.reject_reason.as_deref(), Some("Thôn không tồn tại"));
    assert_eq!(t.store.outbox_summary().unwrap().rejected, 1);
}

#[test]
fn filters_narrow_by_hamlet_kind_date_and_sync_state() {
    let t = live_store();
    let a = t.store.create(new_record("h-plei", at(10, 8), visit("A", 1))).unwrap();
    t.store.create(new_record("h-plei", at(15, 8), outreach())).unwrap();
    t.store.create(new_record("h-tdp1", at(19, 8), visit("C", 1))).unwrap();
    t.store.mark_sent(a.meta.id, 1).unwrap();
    let count = |f: Filter| t.store.search(&f).unwrap().len();
    assert_eq!(count(Filter { hamlet_id: Some("h-plei".into()), ..Default::default() }), 2);
    assert_eq!(count(Filter { kind: Some(RecordKind::Visit), ..Default::default() }), 2);
    let d = |day| NaiveDate::from_ymd_opt(2026, 11, day).unwrap();
    assert_eq!(count(Filter { from: Some(d(15)), ..Default::default() }), 2);
    assert_eq!(count(Filter { to: Some(d(15)), ..Default::default() }), 2, "the end date is inclusive");
    assert_eq!(count(Filter { from: Some(d(11)), to: Some(d(18)), ..Default::default() }), 1);
    assert_eq!(count(Filter { sync_state: Some(SyncState::Sent), ..Default::default() }), 1);
    assert_eq!(count(Filter { sync_state: Some(SyncState::Pending), ..Default::default() }), 2);
    // Newest business time first.
    let list = t.store.search(&Filter::default()).unwrap();
    assert!(list.windows(2).all(|w| w[0].meta.occurred_at >= w[1].meta.occurred_at));
}

#[test]
fn tallies_count_person_times_and_coverage_counts_each_person_once() {
    let t = live_store();
    let cid = "051203004567";
    t.store.create(new_record("h-plei", at(20, 1), visit("A", 3))).unwrap();
    t.store.create(new_record("h-plei", at(20, 2), training(12))).unwrap();
    // The same person helped twice (two devices or two visits) counts once.
    t.store
        .create(new_record("h-plei", at(20, 2), signature(Some("Y Hoa"), Some(cid), Outcome::DigitalSignature)))
        .unwrap();
    t.store
        .create(new_record("h-plei", at(19, 2), signature(Some("Y Hoa"), Some(cid), Outcome::PersonalESignature)))
        .unwrap();
    // Without an ID hash, each successful session counts once.
    t.store.create(new_record("h-plei", at(19, 3), signature(None, None, Outcome::DigitalSignature))).unwrap();
    t.store.create(new_record("h-plei", at(19, 4), signature(None, None, Outcome::NotCompleted))).unwrap();
    let voided =
        t.store.create(new_record("h-plei", at(19, 5), signature(None, None, Outcome::DigitalSignature))).unwrap();
    t.store.void(voided.meta.id, 1, "v-lan", "").unwrap();

    let today = t.store.tallies(at(20, 0).date(), at(21, 0).date()).unwrap();
    assert_eq!(
        (today.visits, today.trainings, today.attendance, today.signature_sessions, today.signed),
        (1, 1, 12, 1, 1)
    );
    assert_eq!(today.person_times, 3 + 12 + 1);
    let month = t.store.tallies(at(1, 0).date(), at(21, 0).date()).unwrap();
    assert_eq!((month.signature_sessions, month.signed), (4, 3));

    let progress = t.store.hamlet_progress().unwrap();
    let (_, plei) = progress.iter().find(|(h, _)| h.id == "h-plei").unwrap();
    assert_eq!(plei.helped_signed, 2, "one person by hash plus one without a hash");
    assert_eq!(plei.signed(), 41 + 2);
    let (_, other) = progress.iter().find(|(h, _)| h.id == "h-tdp1").unwrap();
    assert_eq!(other.helped_signed, 0);
    // The count keys on 64 bits of the ID hash; the record keeps the whole hash.
    let keys: Vec<String> = raw_conn(&t.path())
        .prepare("SELECT person_key FROM records WHERE person_key IS NOT NULL")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(keys.len(), 2);
    assert!(keys.iter().all(|k| k.len() == 16), "{keys:?}");
    let whole = t.store.search(&Filter { text: "y hoa".into(), ..Default::default() }).unwrap()[0]
        .body
        .person_key()
        .unwrap()
        .to_owned();
    assert_eq!(whole.len(), 64);
    assert!(whole.starts_with(&keys[0]));
}

#[test]
fn the_citizen_id_number_is_never_written_in_clear() {
    let t = live_store();
    let cid = "051203004567";
    let ctx_key = t.store.cid_key().unwrap();
    let reference = t.store.reference().unwrap();
    let mut form = Form::blank(RecordKind::SignatureHelp, "h-plei", at(20, 9));
    if let Form::SignatureHelp(f) = &mut form {
        *f = SignatureForm {
            common: f.common.clone(),
            consent: true,
            display_name: "Y Hoa".into(),
            birth_year: "1980".into(),
            sex: "female".into(),
            citizen_id: cid.into(),
            keep_last4: false,
            outcome: Some(Outcome::DigitalSignature),
            provider: "VNPT-CA".into(),
            ..Default::default()
        };
    }
    // The half-typed form goes to a draft first, then the record is saved.
    t.store.save_draft("new:signature_help", None, &form).unwrap();
    let valid = form
        .validate(&sotay::domain::validate::Context {
            now: at(20, 10),
            reference: &reference,
            cid_key: &ctx_key,
            seal_key: None,
        })
        .unwrap();
    let r = t.store.create(new_record(&valid.hamlet_id, valid.occurred_at, valid.body)).unwrap();
    let draft = t.store.draft("new:signature_help").unwrap().unwrap();
    if let Form::SignatureHelp(f) = draft.form {
        assert!(f.citizen_id.is_empty(), "a draft forgets the typed number");
    }
    let person = match r.body {
        Body::SignatureHelp(s) => s.person.unwrap(),
        _ => unreachable!(),
    };
    assert!(person.cid_hash.is_some());
    assert_eq!(person.cid_last4, None);
    let bytes = raw_bytes(t.dir.path());
    // The file is encrypted, so the name is not in its bytes either; through the key it is.
    assert!(!contains(&bytes, "Y Hoa"));
    let body: String = raw_conn(&t.path()).query_row("SELECT body FROM records", [], |r| r.get(0)).unwrap();
    assert!(body.contains("Y Hoa"), "the record is there, under the key");
    assert!(!body.contains(cid));
    assert!(!contains(&bytes, cid));
    assert!(!contains(&bytes, "0512 0300 4567"));
}

#[test]
fn drafts_survive_reopening_and_can_be_discarded() {
    let t = sample_store();
    let mut form = Form::blank(RecordKind::Outreach, "h-plei", at(20, 9));
    if let Form::Outreach(o) = &mut form {
        o.notes = "Phát tờ rơi ở chợ".into();
    }
    t.store.save_draft("new:outreach", None, &form).unwrap();
    let t = t.reopen();
    let drafts = t.store.drafts().unwrap();
    assert_eq!(drafts.len(), 1);
    assert_eq!(drafts[0].form, form);
    t.store.discard_draft("new:outreach").unwrap();
    assert!(t.store.drafts().unwrap().is_empty());
}

#[test]
fn settings_and_device_identity_persist() {
    let t = sample_store();
    let device = t.store.device_id().unwrap();
    let key = t.store.cid_key().unwrap().id;
    assert!(key.starts_with("device:"));
    t.store.set_current_volunteer("v-thu").unwrap();
    let t = t.reopen();
    assert_eq!(t.store.device_id().unwrap(), device);
    assert_eq!(t.store.cid_key().unwrap().id, key);
    assert_eq!(t.store.current_volunteer().unwrap().as_deref(), Some("v-thu"));
}

#[test]
fn a_file_that_is_not_a_database_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sotay.db");
    let junk = b"this is a photo, not a database, and it must survive".repeat(200);
    std::fs::write(&path, &junk).unwrap();
    let err = Store::open(&path).err().unwrap();
    assert!(matches!(err, StoreError::Corrupt), "{err:?}");
    assert_eq!(std::fs::read(&path).unwrap(), junk);
}

#[test]
fn a_directory_in_place_of_the_file_cannot_be_opened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sotay.db");
    std::fs::create_dir(&path).unwrap();
    assert!(matches!(Store::open(&path).err().unwrap(), StoreError::CannotOpen));
}

#[test]
fn a_store_from_a_newer_app_is_refused_without_changes() {
    let t = sample_store();
    let path = t.path();
    t.store.create(new_record("h-plei", at(19, 8), outreach())).unwrap();
    drop(t.store);
    {
        let c = raw_conn(&path);
        c.pragma_update(None, "user_version", 99).unwrap();
    }
    let err = Store::open(&path).err().unwrap();
    assert!(matches!(err, StoreError::TooNew(99)));
    let c = raw_conn(&path);
    let n: i64 = c.query_row("SELECT COUNT(*) FROM records", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 1);
}

#[test]
fn a_locked_database_gives_a_clear_error_and_loses_nothing() {
    let t = live_store();
    let kept = t.store.create(new_record("h-plei", at(19, 8), outreach())).unwrap();
    let other = raw_conn(&t.path());
    other.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let err = t.store.create(new_record("h-plei", at(19, 9), outreach())).unwrap_err();
    assert!(matches!(err, StoreError::Locked), "{err:?}");
    other.execute_batch("ROLLBACK").unwrap();
    assert!(t.store.get(kept.meta.id).unwrap().is_some());
    assert_eq!(t.store.search(&Filter::default()).unwrap().len(), 1);
    t.store.create(new_record("h-plei", at(19, 9), outreach())).unwrap();
}

#[test]
fn a_full_disk_gives_a_clear_error_and_loses_nothing() {
    let t = live_store();
    let kept = t.store.create(new_record("h-plei", at(19, 8), outreach())).unwrap();
    let pages: u32 = raw_conn(&t.path()).query_row("PRAGMA page_count", [], |r| r.get(0)).unwrap();
    t.store.limit_size_for_tests(pages).unwrap();
    let mut saw_full = false;
    for i in 0..200 {
        let long = format!("Nhà số {i} {}", "x".repeat(1500));
        match t.store.create(new_record("h-plei", at(19, 9), visit(&long, 1))) {
            Ok(_) => continue,
            Err(StoreError::DiskFull) => {
                saw_full = true;
                break;
            }
            Err(e) => panic!("expected DiskFull, got {e:?}"),
        }
    }
    assert!(saw_full);
    let before = t.store.search(&Filter { limit: 1000, ..Default::default() }).unwrap().len();
    let t = t.reopen();
    assert!(t.store.get(kept.meta.id).unwrap().is_some());
    assert_eq!(t.store.search(&Filter { limit: 1000, ..Default::default() }).unwrap().len(), before);
    let i18n = sotay::i18n::Lang::Vi.strings().store_error(&StoreError::DiskFull);
    assert!(i18n.contains("Bộ nhớ máy đã đầy"));
}

#[test]
fn a_frozen_version_1_store_opens_and_keeps_its_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sotay.db");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(include_str!("../fixtures/schema_v1.sql")).unwrap();
    }
    let store = Store::open(&path).unwrap();
    let records = store.search(&Filter::default()).unwrap();
    assert_eq!(records.len(), 2);
    assert!(records.iter().any(|r| matches!(&r.body, Body::Visit(v) if v.household == "Nhà ông A Blúp")));
    assert_eq!(store.outbox(10).unwrap().len(), 2);
    assert_eq!(store.outbox_summary().unwrap().pending, 2);
    assert_eq!(store.device_id().unwrap(), "0192f000-0000-7000-8000-000000000001");
    // Migration 7: the history row that repeated the current version is gone, so the
    // history shows each version once; the old records got word sketches search uses.
    let visit = records.iter().find(|r| matches!(r.body, Body::Visit(_))).unwrap();
    assert_eq!(store.history(visit.meta.id).unwrap().len(), 1);
    let found = |q: &str| store.search(&Filter { text: q.into(), ..Default::default() }).unwrap().len();
    assert_eq!(found("blup"), 1);
    assert_eq!(found("nha ong a"), 1);
    assert_eq!(found("zzz"), 0);
    let edited = store.update(visit.meta.id, 1, "v-lan", "h-plei", visit.meta.occurred_at, visit.body.clone()).unwrap();
    let versions: Vec<i64> = store.history(edited.meta.id).unwrap().iter().map(|h| h.version).collect();
    assert_eq!(versions, vec![2, 1]);
    let version: i64 = raw_conn(&path).query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version, sotay::store::schema_version());
}

#[test]
fn an_old_stores_training_kinds_and_channels_become_their_codes_and_are_still_found() {
    // Migration 7 stored a training kind or channel as its position in the app's list;
    // migration 8 stores the code, so that reordering a list changes no stored record.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sotay.db");
    let rows = [
        (
            "0192f000-0000-7000-8000-0000000000b1",
            "training",
            r#"{"type": "training", "kind": "focused_support", "topics": ["vneid"], "total": 9, "women": 4, "ethnic_minority": 2, "trainers": "Y Lan", "platform": "binh_dan_hoc_vu_so", "platform_other": null}"#,
        ),
        (
            "0192f000-0000-7000-8000-0000000000b2",
            "outreach",
            r#"{"type": "outreach", "channel": "web_article", "quantity": 1, "reach": 40, "notes": ""}"#,
        ),
    ];
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(include_str!("../fixtures/schema_v1.sql")).unwrap();
        for (id, kind, body) in rows {
            c.execute(
                "INSERT INTO records VALUES (?1, ?2, 'h-plei', 'v-lan', '0192f000-0000-7000-8000-000000000001',
                 '2026-11-18T10:00:00', '2026-11-18T03:00:00.000000Z', 1, 0, NULL, 0, ?3, ' ', 9, 0, NULL, NULL,
                 'pending', NULL)",
                rusqlite::params![id, kind, body],
            )
            .unwrap();
        }
    }
    let store = Store::open(&path).unwrap().with_search_labels(sotay::i18n::search_labels);
    let stored: Vec<(String, Option<String>)> = raw_conn(&path)
        .prepare("SELECT kind, subtype FROM records WHERE kind IN ('training', 'outreach') ORDER BY kind")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        stored,
        vec![("outreach".into(), Some("web_article".into())), ("training".into(), Some("focused_support".into()))]
    );
    let hits = |q: &str| store.search(&Filter { text: q.into(), ..Default::default() }).unwrap().len();
    assert_eq!(hits("ho tro tap trung"), 1, "the training kind's label finds it");
    assert_eq!(hits("web article"), 1, "the channel's label finds it");
    assert_eq!(hits("loa truyen thanh"), 0);
    // The platform's older spelling still reads, and is written as the code from now on.
    let training = store.get("0192f000-0000-7000-8000-0000000000b1".parse().unwrap()).unwrap().unwrap();
    assert!(matches!(&training.body, Body::Training(t) if t.platform == Platform::BinhDanHocVuSo));
    let edited =
        store.update(training.meta.id, 1, "v-lan", "h-plei", training.meta.occurred_at, training.body).unwrap();
    let body: String = raw_conn(&path)
        .query_row("SELECT body FROM records WHERE id = ?", [edited.meta.id.to_string()], |r| r.get(0))
        .unwrap();
    assert!(body.contains(r#""platform":"binhdanhocvuso""#), "{body}");
}
