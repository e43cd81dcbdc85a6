//! A save that returned is on disk: a real process saving records is killed with SIGKILL at
//! random moments, many times, and every record it reported saved is found on reopening.
//!
//! The child is this same test binary, re-run with an environment variable that turns
//! [`durability_child_saves_until_killed`] into a save loop.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use rand::Rng;
use sotay::store::Store;
use uuid::Uuid;

use super::common::*;

const CHILD_ENV: &str = "SOTAY_KILL_CHILD_DB";

/// In a normal run this does nothing. As the child, it saves and edits records forever,
/// printing each one only after the store said it was saved.
#[test]
fn durability_child_saves_until_killed() {
    let Some(path) = std::env::var_os(CHILD_ENV) else { return };
    let store = Store::open(path).unwrap();
    let mut mine: Vec<(Uuid, i64)> = Vec::new();
    let mut i = 0u64;
    loop {
        i += 1;
        if i.is_multiple_of(3) && !mine.is_empty() {
            let k = (i as usize / 3) % mine.len();
            let (id, version) = mine[k];
            let r = store.update(id, version, "v-lan", "h-plei", at(19, 9), visit(&format!("Nhà sửa {i}"), 2)).unwrap();
            mine[k].1 = r.meta.version;
            println!("SAVED {id} {}", r.meta.version);
        } else {
            let r = store.create(new_record("h-plei", at(19, 8), visit(&format!("Nhà số {i}"), 1))).unwrap();
            mine.push((r.meta.id, 1));
            println!("SAVED {} 1", r.meta.id);
        }
        use std::io::Write;
        std::io::stdout().flush().unwrap();
    }
}

#[test]
// The parent blocks on purpose: it is choosing the instant of the kill.
#[allow(clippy::disallowed_methods)]
fn records_reported_saved_survive_sigkill_every_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sotay.db");
    // Real (non-practice) records, so the outbox is exercised too.
    drop(live_store_at(&path));
    let exe = std::env::current_exe().unwrap();
    let mut rng = rand::thread_rng();
    let mut expected: std::collections::HashMap<Uuid, i64> = std::collections::HashMap::new();
    let rounds = 40;
    for _ in 0..rounds {
        let mut child = Command::new(&exe)
            .args(["--exact", "it::durability::durability_child_saves_until_killed", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel::<(Uuid, i64)>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.strip_prefix("SAVED ") {
                    let mut parts = rest.split(' ');
                    let id = Uuid::parse_str(parts.next().unwrap()).unwrap();
                    let v: i64 = parts.next().unwrap().parse().unwrap();
                    if tx.send((id, v)).is_err() {
                        break;
                    }
                }
            }
        });
        // Wait for a random number of saves, then kill at a random instant, often in the
        // middle of the next transaction.
        let wait_for = rng.gen_range(1..25);
        let mut seen = 0;
        while seen < wait_for {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok((id, v)) => {
                    expected.insert(id, v);
                    seen += 1;
                }
                Err(e) => panic!("child stopped saving: {e:?}"),
            }
        }
        std::thread::sleep(Duration::from_micros(rng.gen_range(0..3000)));
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        reader.join().unwrap();
        // Lines printed before the kill were saved before it too.
        for (id, v) in rx.try_iter() {
            expected.insert(id, v);
        }
    }
    let store = Store::open(&path).unwrap();
    assert!(expected.len() >= rounds);
    println!("{} records and edits reported saved across {rounds} kills", expected.len());
    for (id, version) in &expected {
        let r = store.get(*id).unwrap().unwrap_or_else(|| panic!("record {id} reported saved is missing"));
        assert!(r.meta.version >= *version, "record {id} lost version {version}");
        assert_eq!(store.history(*id).unwrap().len() as i64, r.meta.version);
        // Its words reached the search index in the same transaction.
        let sotay::domain::Body::Visit(v) = &r.body else { panic!("a visit") };
        let found =
            store.search(&sotay::store::Filter { text: v.household.clone(), limit: 100_000, ..Default::default() });
        assert!(found.unwrap().iter().any(|f| f.meta.id == *id), "record {id} is not found by its words");
    }
    // Every record is either queued or acknowledged; none fell out of the outbox.
    let queued = store.outbox(100_000).unwrap();
    let n: usize = store.search(&sotay::store::Filter { limit: 100_000, ..Default::default() }).unwrap().len();
    assert_eq!(queued.len(), n);
}

fn live_store_at(path: &std::path::Path) -> Store {
    let store = Store::open(path).unwrap();
    let mut reference = sotay::domain::sample::sample_reference();
    reference.commune.sample = false;
    store.replace_reference(&reference).unwrap();
    store
}

#[test]
fn a_crash_message_names_the_place_not_the_data() {
    // Capture what the app's panic hook would print for a panic carrying personal data.
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = seen.clone();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| sink.lock().unwrap().push_str(&sotay::platform::panic_report(info))));
    let result = std::thread::spawn(|| {
        let name = "Hơ Giang Thử Nghiệm 0905123456";
        panic!("could not save {name}");
    })
    .join();
    std::panic::set_hook(previous);
    assert!(result.is_err());
    let seen = seen.lock().unwrap().clone();
    assert!(seen.contains("tests/it/durability.rs:"), "{seen}");
    assert!(!seen.contains("Giang") && !seen.contains("0905123456"), "{seen}");
}
