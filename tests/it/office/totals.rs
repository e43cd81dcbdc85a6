//! The running totals: a person helped in two hamlets counts once, the totals equal a
//! recomputation after random edits, voids, late arrivals and erasures, and an old server
//! file gets them from its records; devices pull the same figures.

use super::model::*;
use super::*;

/// Each hamlet's coverage figure as devices pull it (the newest logged entry; none is 0).
fn pulled_coverage(db: &ServerDb) -> HashMap<String, u32> {
    let (changes, more) = db.pull(COMMUNE, 0, 1_000_000).unwrap();
    assert!(!more);
    changes
        .into_iter()
        .filter_map(|(_, c)| match c {
            sotay::protocol::Change::Coverage { coverage } => Some((coverage.hamlet_id, coverage.helped_signed)),
            _ => None,
        })
        .collect()
}

/// What devices pull agrees with the office's coverage page, hamlet by hamlet.
fn assert_devices_agree(db: &ServerDb) {
    let office = db.coverage_report(COMMUNE).unwrap();
    let pulled = pulled_coverage(db);
    for row in &office.rows {
        assert_eq!(pulled.get(&row.hamlet_id).copied().unwrap_or(0), row.helped_signed, "{}", row.hamlet_id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_helped_in_two_hamlets_counts_once_in_the_hamlet_of_the_first_success_for_the_office_and_devices() {
    use sotay::sync::engine::BatchSize;
    use sotay::sync::run_once;

    use crate::it::common::{at, new_record, sealed_signature};
    use crate::it::sync::{enrolled_device, start_server};

    let server = start_server().await;
    let a = enrolled_device(&server).await;
    let b = enrolled_device(&server).await;
    let cid = "051203004567";
    let hoa = |store: &sotay::store::Store| sealed_signature(store, "Y Hoa", cid, Outcome::DigitalSignature);
    // Helped to a signature in Plei on one phone, then the same person again in Hoà Bình an
    // hour later on another.
    a.store.create(new_record("h-plei", at(19, 8), hoa(&a.store))).unwrap();
    let later = b.store.create(new_record("h-hoabinh", at(19, 9), hoa(&b.store))).unwrap();
    let sync_all = || async {
        for d in [&a, &b, &a] {
            run_once(&d.store, &mut BatchSize::default()).await.unwrap();
        }
    };
    sync_all().await;
    let figures = |progress: Vec<(Hamlet, sotay::domain::coverage::Coverage)>| -> HashMap<String, u32> {
        progress.into_iter().map(|(h, c)| (h.id, c.helped_signed)).collect()
    };
    let office = |db: &ServerDb| -> HashMap<String, u32> {
        db.coverage_report(COMMUNE).unwrap().rows.into_iter().map(|r| (r.hamlet_id, r.helped_signed)).collect()
    };
    let expected: HashMap<String, u32> = office(&server.db);
    assert_eq!((expected["h-plei"], expected["h-hoabinh"]), (1, 0), "once, where first helped");
    assert_eq!(server.db.coverage_report(COMMUNE).unwrap().total.helped_signed, 1);
    for d in [&a, &b] {
        assert_eq!(figures(d.store.hamlet_progress().unwrap()), expected, "a device shows the office's figures");
    }
    assert_devices_agree(&server.db);

    // The later session is corrected to the morning before: the person moves to Hoà Bình,
    // and both hamlets' figures reach the devices.
    let seq_before = server.db.pull(COMMUNE, 0, 1_000_000).unwrap().0.last().unwrap().0;
    b.store.update(later.meta.id, 1, "v-lan", "h-hoabinh", at(18, 9), hoa(&b.store)).unwrap();
    sync_all().await;
    let expected = office(&server.db);
    assert_eq!((expected["h-plei"], expected["h-hoabinh"]), (0, 1));
    let logged: Vec<String> = server
        .db
        .pull(COMMUNE, seq_before, 1000)
        .unwrap()
        .0
        .into_iter()
        .filter_map(|(_, c)| match c {
            sotay::protocol::Change::Coverage { coverage } => Some(coverage.hamlet_id),
            _ => None,
        })
        .collect();
    assert_eq!(logged.iter().collect::<HashSet<_>>(), HashSet::from([&"h-plei".to_owned(), &"h-hoabinh".to_owned()]));
    for d in [&a, &b] {
        assert_eq!(figures(d.store.hamlet_progress().unwrap()), expected);
    }

    // Voided, the morning session counts nowhere: back to Plei.
    b.store.void(later.meta.id, 2, "v-lan", "ghi nhầm").unwrap();
    sync_all().await;
    let expected = office(&server.db);
    assert_eq!((expected["h-plei"], expected["h-hoabinh"]), (1, 0));
    for d in [&a, &b] {
        assert_eq!(figures(d.store.hamlet_progress().unwrap()), expected);
    }
    assert_devices_agree(&server.db);
    assert_eq!(server.db.totals_mismatches(COMMUNE).unwrap(), Vec::<String>::new());
}

/// The ID hash of a model record's person, if any (the placeholder of an erased one too).
fn model_person(body: &Body) -> Option<String> {
    id_hash(body).map(str::to_owned)
}

#[test]
fn the_running_totals_equal_a_recomputation_after_random_edits_voids_late_arrivals_and_erasures() {
    let mut rng = StdRng::seed_from_u64(0x70_7a_15_11);
    let reference = generated_reference(&mut rng);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.db");
    let store = crate::it::stores::TestStore::new();
    let db = store.open(&path);
    db.put_commune(&reference).unwrap();
    let devices: Vec<(Device, TestKey)> = (1..=4).map(|i| enrol(&db, &format!("Máy tính bảng {i}"))).collect();
    let key = devices[0].1.clone();
    // Few people, so the same person comes back often and their first success moves.
    let people = random_people(&mut rng, 150);
    let mut gen = Generator::new(rng, people, &reference, key.clone());
    let mut model = Model::default();
    let mut erased: HashSet<Uuid> = HashSet::new();
    let (mut moved_days, mut erasures) = (0, 0);
    let periods = [
        (day(2026, 1, 1), day(2026, 12, 31)),
        (day(2026, 3, 1), day(2026, 3, 31)),
        (day(2025, 12, 1), day(2026, 6, 30)),
    ];
    for round in 0..12 {
        let mut pushes: Vec<(usize, WireRecord)> = (0..150).map(|_| (gen.rng.gen_range(0..4), gen.record())).collect();
        // A record edited, or voided, before it was first sent: its versions arrive in one
        // push (the server writes a push's records together, so it must write these apart).
        let fresh: Vec<(usize, WireRecord)> = pushes.clone();
        for (d, r) in fresh {
            match gen.rng.gen_range(0..100) {
                0..=7 => {
                    let next = gen.edit(&r);
                    let after = gen.edit(&next);
                    pushes.extend([(d, next), (d, after)]);
                }
                8..=9 => pushes.push((d, gen.void(&r))),
                10 => pushes.push((d, r.clone())),
                _ => {}
            }
        }
        // Edits, voids, edits of voided records, stale versions and retries of stored ones.
        let stored: Vec<(usize, WireRecord, bool)> =
            model.records.values().map(|f| (f.device, f.record.clone(), f.voided)).collect();
        for (d, r, voided) in stored {
            let mut r = r;
            if erased.contains(&r.id) {
                // The device dropped the person when it pulled the erasure.
                if let Body::SignatureHelp(s) = &mut r.body {
                    (s.person, s.consent) = (None, false);
                }
            }
            match gen.rng.gen_range(0..100) {
                0..=9 => {
                    let next = gen.edit(&r);
                    moved_days += (next.occurred_at.date() != r.occurred_at.date()) as usize;
                    pushes.push((d, next));
                }
                10..=11 => pushes.push((d, gen.void(&r))),
                12 if voided => {
                    let mut next = gen.edit(&r);
                    (next.voided, next.void_reason) = (false, None);
                    pushes.push((d, next));
                }
                13 => pushes.push((d, r.clone())),
                14 if r.version > 1 => pushes.push((d, WireRecord { version: r.version - 1, ..r.clone() })),
                _ => {}
            }
        }
        for (d, (device, _)) in devices.iter().enumerate() {
            let mine: Vec<WireRecord> = pushes.iter().filter(|(x, _)| *x == d).map(|(_, r)| r.clone()).collect();
            for batch in mine.chunks(500) {
                let expected: Vec<Applied> = batch.iter().map(|r| model.apply(d, r)).collect();
                assert_eq!(push(&db, device, batch), expected, "round {round}, device {d}");
            }
        }

        // An office erases a person on request: every session, or only some of them.
        if round % 2 == 1 {
            let live: Vec<String> = model
                .live()
                .filter_map(|r| id_hash(&r.body))
                .filter(|k| !k.starts_with("erased"))
                .map(str::to_owned)
                .collect();
            let hash = live[gen.rng.gen_range(0..live.len())].clone();
            let found: Vec<Uuid> =
                db.find_person(COMMUNE, None, Some(&hash)).unwrap().into_iter().map(|r| r.id).collect();
            assert!(!found.is_empty());
            let chosen: Vec<Uuid> = if round % 4 == 1 {
                found.clone()
            } else {
                found.iter().copied().filter(|_| gen.rng.gen_bool(0.5)).collect()
            };
            let done: HashSet<Uuid> = db.erase(COMMUNE, &chosen, after_every_save()).unwrap().into_iter().collect();
            assert_eq!(done, chosen.iter().copied().collect::<HashSet<_>>());
            erasures += 1;
            // The server keeps the erased sessions one person, under a key of their own (the
            // same one if the person was erased before).
            let placeholder = if chosen.is_empty() {
                String::new()
            } else {
                model.erased_people.entry(hash.clone()).or_insert(format!("erased-{round}")).clone()
            };
            for id in &chosen {
                let f = model.records.get_mut(id).unwrap();
                if let Body::SignatureHelp(s) = &mut f.record.body {
                    let p = s.person.as_mut().unwrap();
                    assert_eq!(p.cid_hash.as_deref(), Some(hash.as_str()));
                    p.cid_hash = Some(placeholder.clone());
                }
                erased.insert(*id);
                model.erased.insert(*id);
            }
            if chosen.len() == found.len() {
                // No record holds the hash any more: neither do the totals.
                assert!(hash.chars().all(|c| c.is_ascii_alphanumeric()), "{hash}");
                let count = |table: &str| {
                    store.sql(&path, &format!("SELECT COUNT(*) FROM {table} WHERE person_key = '{hash}'"))
                };
                assert_eq!((count("people"), count("records")), ("0".into(), "0".into()), "round {round}");
            }
        }

        assert_eq!(db.totals_mismatches(COMMUNE).unwrap(), Vec::<String>::new(), "round {round}");
        assert_eq!(db.coverage_report(COMMUNE).unwrap(), expected_coverage(&model, &reference), "round {round}");
        for (from, to) in periods {
            let report = db.activity_report(COMMUNE, from, to).unwrap();
            assert_eq!(report, expected_activity(&model, &reference, from, to), "round {round}, {from}..{to}");
        }
        assert_devices_agree(&db);
    }
    // The mix did what it should, so the comparisons above mean something.
    assert!(moved_days > 100 && erasures == 6, "{moved_days} moved days, {erasures} erasures");
    assert!(model.records.values().filter(|f| f.voided).count() > 100);
    let signed_people: Vec<String> =
        model.live().filter(|r| succeeded(&r.body)).filter_map(|r| model_person(&r.body)).collect();
    assert!(signed_people.len() > signed_people.iter().collect::<HashSet<_>>().len() + 100, "people helped again");
}

#[test]
fn a_server_file_from_before_the_running_totals_gets_them_from_its_records_and_devices_get_the_new_figures() {
    if crate::it::stores::on_postgres() {
        eprintln!("SQLite's file only: a_server_file_from_before_the_running_totals_gets_them_from_its_records_and_devices_get_the_new_figures runs in the SQLite pass");
        return;
    }
    let mut rng = StdRng::seed_from_u64(0x04_2026);
    let reference = generated_reference(&mut rng);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.db");
    let db = ServerDb::open(&path).unwrap();
    db.put_commune(&reference).unwrap();
    db.put_account(USER, PASSWORD, COMMUNE, Utc::now()).unwrap();
    let (device, key) = enrol(&db, "Máy tính bảng 1");
    let people =
        (0..300).map(|i| (format!("051{:09}", rng.gen_range(0..1_000_000_000u64)), format!("Người {i}"))).collect();
    let mut gen = Generator::new(rng, people, &reference, key);
    let records: Vec<WireRecord> = (0..1500).map(|_| gen.record()).collect();
    push(&db, &device, &records);
    let edits: Vec<WireRecord> =
        records.iter().step_by(7).map(|r| if r.id.as_u128() % 3 == 0 { gen.void(r) } else { gen.edit(r) }).collect();
    push(&db, &device, &edits);
    for _ in 0..2 {
        let _ = db.login("khong-co-ai", "sai", Utc::now()).unwrap();
        let _ = db.login(USER, "sai", Utc::now()).unwrap();
    }
    let year = (day(2026, 1, 1), day(2026, 12, 31));
    let coverage = db.coverage_report(COMMUNE).unwrap();
    let activity = db.activity_report(COMMUNE, year.0, year.1).unwrap();
    drop(db);

    // The file as schema 3 left it: no totals, the old index and lock-out columns, and the
    // coverage devices were told by the old rule (a person in every hamlet they were helped in).
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(crate::it::units::UNDO_MIGRATIONS_10_TO_13).unwrap();
    conn.execute_batch(
        "DROP TABLE people; DROP TABLE activity_days; DROP TABLE activity_choices; DROP TABLE people_days;
         DROP TABLE coverage_people; DROP TABLE coverage_hamlets; DROP TABLE login_failures;
         CREATE INDEX records_signed ON records (commune, hamlet_id, person_key) WHERE signed = 1 AND voided = 0;
         ALTER TABLE accounts ADD COLUMN failed_logins INTEGER NOT NULL DEFAULT 0;
         ALTER TABLE accounts ADD COLUMN locked_until TEXT;
         UPDATE accounts SET failed_logins = 2;
         DELETE FROM change_log WHERE key LIKE 'coverage:%';
         DROP TABLE erased_people; ALTER TABLE records DROP COLUMN erased;
         DROP TABLE device_volunteers; ALTER TABLE change_log DROP COLUMN device;
         ALTER TABLE enrol_codes DROP COLUMN volunteers;
         DROP TABLE coverage_days;
         DROP TABLE retired_hamlets; ALTER TABLE communes DROP COLUMN province; ALTER TABLE communes DROP COLUMN demo;
         ALTER TABLE accounts DROP COLUMN province; ALTER TABLE accounts DROP COLUMN disabled_at;
         PRAGMA user_version = 3;",
    )
    .unwrap();
    let old_rule: Vec<(String, i64)> = conn
        .prepare(
            "SELECT hamlet_id, COUNT(DISTINCT person_key) + COALESCE(SUM(person_key IS NULL), 0) FROM records
             WHERE signed = 1 AND voided = 0 GROUP BY hamlet_id",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    for (hamlet, helped) in &old_rule {
        let change =
            serde_json::json!({"type": "coverage", "coverage": {"hamlet_id": hamlet, "helped_signed": helped}});
        conn.execute(
            "INSERT INTO change_log (commune, key, change) VALUES (?, ?, ?)",
            rusqlite::params![COMMUNE, format!("coverage:{hamlet}"), change.to_string()],
        )
        .unwrap();
    }
    drop(conn);
    let old: HashMap<String, u32> = old_rule.iter().map(|(h, n)| (h.clone(), *n as u32)).collect();

    let db = ServerDb::open(&path).unwrap();
    assert_eq!(db.totals_mismatches(COMMUNE).unwrap(), Vec::<String>::new());
    assert_eq!(db.coverage_report(COMMUNE).unwrap(), coverage);
    assert_eq!(db.activity_report(COMMUNE, year.0, year.1).unwrap(), activity);
    let pulled = pulled_coverage(&db);
    assert!(pulled != old, "the old rule counted people in several hamlets");
    assert_devices_agree(&db);
    // Failures counted before the upgrade still count: the third locks.
    assert!(matches!(db.login(USER, "sai", Utc::now()).unwrap(), Err(LoginError::Locked { .. })));
    // And the totals go on from there.
    let more: Vec<WireRecord> = (0..300).map(|_| gen.record()).collect();
    push(&db, &device, &more);
    assert_eq!(db.totals_mismatches(COMMUNE).unwrap(), Vec::<String>::new());
    assert_devices_agree(&db);
}
