//! The device store's search: case, diacritics and Bahnar letters folded, word starts,
//! people ranked first, the full-text index kept, filled for old stores and emptied by
//! erasure and wipe, and rare names found among many common ones.

use sotay::domain::*;
use sotay::store::{Filter, Store};
use uuid::Uuid;

use super::common::*;

#[test]
fn search_ignores_case_diacritics_and_bahnar_letters() {
    let t = sample_store();
    t.store
        .create(new_record("h-hoabinh", at(18, 8), signature(Some("Nguyễn Thị Hoà"), None, Outcome::DigitalSignature)))
        .unwrap();
    t.store
        .create(new_record("h-hoabinh", at(18, 9), signature(Some("Lê Văn Hòa"), None, Outcome::DigitalSignature)))
        .unwrap();
    t.store.create(new_record("h-dakpokong", at(18, 10), visit("Nhà ông A Blúp", 2))).unwrap();
    let names = |q: &str| -> Vec<String> {
        let mut v: Vec<String> = t
            .store
            .search(&Filter { text: q.into(), ..Default::default() })
            .unwrap()
            .into_iter()
            .map(|r| match r.body {
                Body::SignatureHelp(s) => s.person.unwrap().display_name,
                Body::Visit(v) => v.household,
                _ => String::new(),
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(names("nguyen"), vec!["Nguyễn Thị Hoà"]);
    assert_eq!(names("NGUYỄN thi"), vec!["Nguyễn Thị Hoà"]);
    assert_eq!(names("hoa"), vec!["Lê Văn Hòa", "Nguyễn Thị Hoà"]);
    assert_eq!(names("dak po kong"), vec!["Nhà ông A Blúp"]);
    assert_eq!(names("blup"), vec!["Nhà ông A Blúp"]);
    assert!(names("zzz").is_empty());
    // LIKE wildcards typed by a person are matched literally.
    assert!(names("%").is_empty());
}

#[test]
fn with_the_apps_labels_search_finds_what_the_list_shows() {
    let t = sample_store();
    let store = t.store.with_search_labels(sotay::i18n::search_labels);
    store.create(new_record("h-plei", at(19, 8), outreach())).unwrap();
    store.create(new_record("h-plei", at(19, 9), training(10))).unwrap();
    let hits = |q: &str| store.search(&Filter { text: q.into(), ..Default::default() }).unwrap().len();
    assert_eq!(hits("loa truyen thanh"), 1);
    assert_eq!(hits("loudspeaker"), 1);
    assert_eq!(hits("tap huan"), 1);
    assert_eq!(hits("long ghep sinh hoat thon"), 1);
}

#[test]
fn people_helped_at_a_visit_are_found_from_it() {
    let t = live_store();
    let v = t.store.create(new_record("h-plei", at(19, 8), visit("Nhà A", 2))).unwrap();
    for name in ["Y Hoa", "A Thiên"] {
        let mut body = signature(Some(name), None, Outcome::DigitalSignature);
        if let Body::SignatureHelp(s) = &mut body {
            s.parent_id = Some(v.meta.id);
        }
        t.store.create(new_record("h-plei", at(19, 9), body)).unwrap();
    }
    t.store.create(new_record("h-plei", at(19, 9), signature(Some("Khác"), None, Outcome::DigitalSignature))).unwrap();
    let children = t.store.children(v.meta.id).unwrap();
    assert_eq!(children.len(), 2);
    assert!(children.iter().all(|c| c.body.parent_id() == Some(v.meta.id)));
}

#[test]
fn query_words_match_word_starts_whatever_their_length() {
    let t = sample_store().store.with_search_labels(sotay::i18n::search_labels);
    t.create(new_record("h-dakpokong", at(19, 8), training(10))).unwrap(); // "Lồng ghép sinh hoạt thôn"
    t.create(new_record("h-dakpokong", at(19, 9), signature(Some("Nguyễn Thị Hoà"), None, Outcome::DigitalSignature)))
        .unwrap();
    let hits = |q: &str| t.search(&Filter { text: q.into(), ..Default::default() }).unwrap().len();
    assert_eq!(hits("hoa"), 2, "hoa begins Hoà and hoạt");
    assert_eq!(hits("hoat"), 1);
    assert_eq!(hits("ngu"), 1, "ngu begins Nguyễn");
    assert_eq!(hits("ng"), 1);
    assert_eq!(hits("guyen"), 0, "only word starts match");
    assert_eq!(hits("thi hoa"), 1);
}

#[test]
fn search_ranks_people_before_label_and_volunteer_matches() {
    let t = sample_store();
    let store = t.store.with_search_labels(sotay::i18n::search_labels);
    let made = |hamlet: &str, hour: u32, volunteer: &str, body: Body| {
        let mut new = new_record(hamlet, at(19, hour), body);
        new.volunteer_id = volunteer.into();
        store.create(new).unwrap()
    };
    // Newest first within each part: the name matches are older than the others. (Not in
    // a "Làng": "lan" begins that hamlet word.)
    let dinh = made("h-dakpokong", 8, "v-hung", visit("Nhà bà Đinh Thị Thanh", 2));
    let lan = made("h-dakpokong", 9, "v-hung", signature(Some("Y Lan Niê"), None, Outcome::DigitalSignature));
    made("h-dakpokong", 10, "v-lan", visit("Nhà ông A Ƀlúp", 1)); // "Thăm hộ gia đình"
    made("h-dakpokong", 11, "v-lan", outreach()); // "Loa truyền thanh"
    made("h-dakpokong", 12, "v-lan", training(10));
    let ranked = |q: &str| {
        let f = store.search_ranked(&Filter { text: q.into(), ..Default::default() }).unwrap();
        let ids = |v: &[Record]| v.iter().map(|r| r.meta.id).collect::<Vec<_>>();
        (ids(&f.by_name), f.by_label.len())
    };
    // "dinh" is a name here, and a word of every household visit's label.
    assert_eq!(ranked("dinh"), (vec![dinh.meta.id], 1));
    // "thanh": the person first, the loudspeaker (truyền thanh) after.
    assert_eq!(ranked("thanh"), (vec![dinh.meta.id], 1));
    // "lan": the person called Lan first, what the volunteer Y Lan recorded after.
    assert_eq!(ranked("lan"), (vec![lan.meta.id], 3));
    // The Bahnar ƀ folds to b.
    assert_eq!(ranked("blup").0.len(), 1);
    // `search` gives the same records, names first.
    let all = store.search(&Filter { text: "lan".into(), ..Default::default() }).unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(all[0].meta.id, lan.meta.id);
    // The limit holds across both parts.
    let limited = store.search_ranked(&Filter { text: "lan".into(), limit: 2, ..Default::default() }).unwrap();
    assert_eq!((limited.by_name.len(), limited.by_label.len()), (1, 1));
}

#[test]
fn search_finds_exactly_the_records_whose_words_match() {
    // Search skips records by their word sketch and matches hamlet, volunteer and label
    // words through ids; it must find exactly what comparing each record's whole text (its
    // own words, hamlet, volunteer and label) finds. Random names, random query word starts.
    use rand::{Rng, SeedableRng};
    let t = live_store();
    let store = t.store.with_search_labels(sotay::i18n::search_labels);
    let words = [
        "Nguyễn", "Thị", "Hoà", "Hòa", "Hạnh", "Bùi", "Kim", "Y", "Blir", "H'Nga", "A", "Rơ", "Đinh", "Văn", "Plei",
        "Lan",
    ];
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let hamlets = ["h-plei", "h-dakpokong", "h-tdp1"];
    for i in 0..300 {
        let name: Vec<&str> = (0..rng.gen_range(1..4)).map(|_| words[rng.gen_range(0..words.len())]).collect();
        let body = match i % 4 {
            0 => visit(&name.join(" "), 1),
            1 => training(10),
            _ => signature(Some(&name.join(" ")), None, Outcome::DigitalSignature),
        };
        let mut new = new_record(hamlets[i % 3], at(19, 8), body);
        new.volunteer_id = ["v-lan", "v-hung", "v-thu"][i % 3].into();
        store.create(new).unwrap();
    }
    // The office renames a hamlet: its records are found by the new name at once.
    let mut reference = store.reference().unwrap();
    reference.hamlets.iter_mut().find(|h| h.id == "h-tdp1").unwrap().name = "Thôn Kơ Xia".into();
    store.replace_reference(&reference).unwrap();
    let all = store.search(&Filter { limit: 1000, ..Default::default() }).unwrap();
    let whole_text = |r: &Record| {
        let fold = sotay::domain::fold::fold;
        format!(
            " {} {} {} {} ",
            fold(&reference.hamlet_name(&r.meta.hamlet_id)),
            fold(&reference.volunteer_name(&r.meta.volunteer_id)),
            fold(&sotay::i18n::search_labels(r.body.kind(), r.body.subtype())),
            fold(&r.body.search_words())
        )
    };
    let by_text = |terms: &[String]| -> usize {
        all.iter()
            .filter(|r| {
                let text = whole_text(r);
                terms.iter().all(|term| text.contains(&format!(" {term}")))
            })
            .count()
    };
    let mut queries: Vec<Vec<String>> =
        [vec!["xia"], vec!["ko", "xia"], vec!["plei"], vec!["y", "lan"], vec!["tap", "huan"], vec!["signature"]]
            .iter()
            .map(|q| q.iter().map(|w| w.to_string()).collect())
            .collect();
    for _ in 0..200 {
        queries.push(
            (0..rng.gen_range(1..3))
                .map(|_| {
                    let w = sotay::domain::fold::fold(words[rng.gen_range(0..words.len())]);
                    let len = rng.gen_range(1..=w.chars().count());
                    w.chars().take(len).collect()
                })
                .collect(),
        );
    }
    let mut matched = 0;
    for query in &queries {
        let expected = by_text(query);
        let text = query.join(" ");
        let found = store.search_ranked(&Filter { text, limit: 1000, ..Default::default() }).unwrap();
        assert_eq!(found.by_name.len() + found.by_label.len(), expected, "{query:?}");
        // The name matches hold every query word in their own words; the others do not.
        let own = |r: &Record| format!(" {} ", sotay::domain::fold::fold(&r.body.search_words()));
        let all_own = |r: &Record| query.iter().all(|term| own(r).contains(&format!(" {term}")));
        assert!(found.by_name.iter().all(all_own), "{query:?}");
        assert!(!found.by_label.iter().any(all_own), "{query:?}");
        matched += usize::from(expected > 0);
    }
    assert!(matched > 50, "most queries match something ({matched})");
    assert_eq!(by_text(&["xia".to_string()]), 100, "the renamed hamlet's records");
}

/// The words in the store's full-text index (its main index; the prefix entries go with
/// them), read under the key as anyone holding the file and key could.
fn indexed_words(path: &std::path::Path) -> Vec<String> {
    let c = raw_conn(path);
    c.execute_batch("CREATE VIRTUAL TABLE temp.indexed USING fts5vocab(main, record_words, row)").unwrap();
    let terms = c
        .prepare("SELECT term FROM temp.indexed")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    terms
}

/// Every byte of the full-text index's own table, under the key.
fn index_bytes(path: &std::path::Path) -> Vec<u8> {
    let c = raw_conn(path);
    let blocks: Vec<Vec<u8>> = c
        .prepare("SELECT block FROM record_words_data")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    blocks.concat()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn a_rare_name_is_found_among_many_common_ones_and_common_names_fill_the_page() {
    // More records share "Nguyễn" than the full-text index hands over one by one, so that
    // search reads the list newest first; "Qưzxa" is rare and read through the index. Both
    // find exactly what matches, newest first, practice and real records apart.
    let t = live_store();
    for i in 0..450u32 {
        let name = format!("Nguyễn Văn {i}");
        t.store.create(new_record("h-plei", at(1 + i % 28, 8 + i % 10), visit(&name, 1))).unwrap();
    }
    let rare: Vec<Uuid> = (0..3)
        .map(|i| {
            let name = format!("Nguyễn Qưzxa {i}");
            t.store
                .create(new_record("h-plei", at(10 + i, 9), signature(Some(&name), None, Outcome::DigitalSignature)))
                .unwrap()
                .meta
                .id
        })
        .collect();
    let found =
        |q: &str, limit: usize| t.store.search(&Filter { text: q.into(), limit, ..Default::default() }).unwrap();
    let ids = |v: Vec<Record>| v.into_iter().map(|r| r.meta.id).collect::<Vec<_>>();
    assert_eq!(ids(found("quzxa", 100)), rare.iter().rev().copied().collect::<Vec<_>>(), "newest first");
    assert_eq!(ids(found("ngu quz", 100)).len(), 3);
    assert_eq!(found("nguyen", 100).len(), 100, "a full page of the common name");
    assert_eq!(found("nguyen", 1000).len(), 453);
    assert_eq!(found("van 44", 1000).len(), 11, "44 and 440 to 449");
    assert!(found("zzzz", 100).is_empty());
    let filtered =
        t.store.search(&Filter { text: "quzxa".into(), kind: Some(RecordKind::Visit), ..Default::default() });
    assert!(filtered.unwrap().is_empty(), "the filter's other choices hold on the index's way too");
}

#[test]
fn a_store_made_before_the_full_text_index_gets_it_filled_and_its_records_are_found() {
    let t = live_store();
    let old = t.store.create(new_record("h-plei", at(19, 8), visit("Nhà ông A Ƀlúp", 2))).unwrap();
    let path = t.path();
    let dir = t.dir;
    drop(t.store);
    {
        // Back to today's schema before the index (version 8, as the previous release
        // left every store): no index, no triggers.
        let c = raw_conn(&path);
        c.execute_batch(
            "DROP TRIGGER record_words_insert; DROP TRIGGER record_words_update; DROP TRIGGER record_words_delete;
             DROP TABLE record_words; PRAGMA user_version = 8;",
        )
        .unwrap();
    }
    let store = Store::open_with_clock(&path, std::sync::Arc::new(now)).unwrap();
    let hits = |q: &str| store.search(&Filter { text: q.into(), ..Default::default() }).unwrap();
    assert_eq!(hits("blup").iter().map(|r| r.meta.id).collect::<Vec<_>>(), vec![old.meta.id]);
    assert_eq!(hits("nha ong a").len(), 1);
    assert!(indexed_words(&path).contains(&"blup".to_string()));
    let new = store.create(new_record("h-plei", at(19, 9), visit("Nhà ông A Ƀlúp", 1))).unwrap();
    assert_eq!(hits("blup").len(), 2, "and what is saved after it too ({})", new.meta.id);
    let version: i64 = raw_conn(&path).query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version, sotay::store::schema_version());
    drop(dir);
}

#[test]
fn an_erased_persons_name_leaves_the_search_index_at_once() {
    let t = live_store();
    let record = t
        .store
        .create(new_record("h-plei", at(19, 8), signature(Some("Qưzxa Hmưih"), None, Outcome::DigitalSignature)))
        .unwrap();
    let hits = |q: &str| t.store.search(&Filter { text: q.into(), ..Default::default() }).unwrap().len();
    assert_eq!(hits("quzxa hmuih"), 1);
    assert!(indexed_words(&t.path()).contains(&"quzxa".to_string()));
    assert!(contains(&index_bytes(&t.path()), "quzxa"), "the index holds the name before");
    t.store.apply_pull(&[sotay::store::Pulled::Erase(record.meta.id)], 1).unwrap();
    assert_eq!(hits("quzxa"), 0);
    assert_eq!(hits("hmu"), 0);
    let words = indexed_words(&t.path());
    assert!(!words.iter().any(|w| w.starts_with("quz") || w.starts_with("hmu")), "{words:?}");
    let bytes = index_bytes(&t.path());
    assert!(!contains(&bytes, "quzxa") && !contains(&bytes, "zxa") && !contains(&bytes, "muih"));
}

#[test]
fn after_a_revocations_wipe_search_finds_no_erased_name_and_the_index_holds_none() {
    let t = live_store();
    let sent = t
        .store
        .create(new_record("h-plei", at(19, 8), signature(Some("Qưzxa Hmưih"), None, Outcome::DigitalSignature)))
        .unwrap();
    let unsent = t.store.create(new_record("h-plei", at(19, 9), visit("Nhà Ƀlúp", 1))).unwrap();
    t.store.settle_push(&[sotay::store::Settled::Sent { id: sent.meta.id, version: 1 }]).unwrap();
    let hits = |q: &str| t.store.search(&Filter { text: q.into(), ..Default::default() }).unwrap().len();
    assert_eq!(hits("quzxa"), 1);
    let wiped = t.store.wipe_after_revocation().unwrap();
    assert_eq!((wiped.erased, wiped.kept_unsent), (1, 1));
    assert_eq!(hits("quzxa"), 0);
    assert_eq!(hits("hmuih"), 0);
    assert_eq!(hits("blup"), 1, "unsent records are kept, and found ({})", unsent.meta.id);
    let words = indexed_words(&t.path());
    assert!(!words.iter().any(|w| w.starts_with("quz") || w.starts_with("hmu")), "{words:?}");
    let bytes = index_bytes(&t.path());
    assert!(!contains(&bytes, "quzxa") && !contains(&bytes, "zxa") && !contains(&bytes, "muih"));
}
