//! The province before deadline day: 100 communes of one province, 20 devices each, and
//! the records they had already pushed, loaded through `ServerDb::apply_push` in batches
//! of 500 so every running total, coverage log and change log entry is the real one.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sotay_server::units::{short_province, units, Unit};

use super::records::Gen;
use super::*;

/// Gia Lai: 135 communes and wards in the 2025 list, the first 100 of them by code.
pub const PROVINCE: &str = "52";
pub const COMMUNES: usize = 100;
pub const DEVICES_PER_COMMUNE: usize = 20;
/// ID numbers sealed once per store and drawn from by every record (the server still
/// opens each one it receives; sealing each afresh would only slow the generator down).
const SEALED_POOL: usize = 4_000;

/// An enrolled device: what `apply_push` takes and the token the HTTP API wants.
pub struct Member {
    pub device: Device,
    pub token: String,
}

pub struct Province {
    /// Commune codes, by code.
    pub communes: Vec<String>,
    /// [`DEVICES_PER_COMMUNE`] devices per commune, in the order of `communes`.
    pub members: Vec<Member>,
    /// Sealed ID numbers for this server's key.
    pub sealed: Vec<String>,
    pub secs: f64,
}

/// The first [`COMMUNES`] units of [`PROVINCE`].
pub fn units_of_province() -> Vec<&'static Unit> {
    let list: Vec<&Unit> = units().iter().filter(|u| u.province_code == PROVINCE).take(COMMUNES).collect();
    assert_eq!(list.len(), COMMUNES, "province {PROVINCE} has {COMMUNES} communes in the list");
    list
}

/// The shared generator's commune (sample hamlets and a team of volunteers) under the
/// unit's code and name, so every commune accepts the generator's records.
pub fn reference_for(unit: &Unit) -> ReferenceData {
    let mut r = records::reference();
    r.commune.code = unit.code.into();
    r.commune.name = unit.name.into();
    r.commune.province = short_province(unit.province_name).into();
    r
}

/// Puts the communes on the server and enrols their devices, `threads` at a time.
pub fn set_up(db: &ServerDb, threads: usize) -> Province {
    let started = Instant::now();
    let list = units_of_province();
    for u in &list {
        db.put_commune(&reference_for(u)).expect("commune");
    }
    let next = AtomicUsize::new(0);
    let mut members: Vec<(usize, Vec<Member>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let c = next.fetch_add(1, Ordering::Relaxed);
                        if c >= list.len() {
                            break mine;
                        }
                        let devices = (0..DEVICES_PER_COMMUNE).map(|i| enrol(db, list[c].code, i + 1)).collect();
                        mine.push((c, devices));
                    }
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("enrol thread")).collect()
    });
    members.sort_by_key(|(c, _)| *c);
    let seal_key = {
        let code = db.new_enrol_code(list[0].code, chrono::Duration::hours(1), Utc::now()).expect("code");
        let e = db.enrol(&code, "khoá", Utc::now()).expect("enrol").expect("enrolled");
        SealKey::from_hex(&e.seal_key).expect("sealing key")
    };
    let mut gen = Gen::new(0x5ea1, CidKey::generate_device_key());
    let sealed = (0..SEALED_POOL)
        .map(|_| {
            let number = format!("064{:09}", gen.below(1_000_000_000));
            CitizenId::parse(&number).expect("generated ID").seal(&seal_key)
        })
        .collect();
    Province {
        communes: list.iter().map(|u| u.code.to_owned()).collect(),
        members: members.into_iter().flat_map(|(_, m)| m).collect(),
        sealed,
        secs: started.elapsed().as_secs_f64(),
    }
}

fn enrol(db: &ServerDb, commune: &str, n: usize) -> Member {
    let code = db.new_enrol_code(commune, chrono::Duration::hours(1), Utc::now()).expect("code");
    let e = db.enrol(&code, &format!("Máy tính bảng {n}"), Utc::now()).expect("enrol").expect("enrolled");
    let device = db.device_by_token(&e.token).expect("device").expect("device found");
    Member { device, token: e.token }
}

pub struct Loaded {
    pub records: usize,
    pub pushes: usize,
    pub secs: f64,
    pub push_times: Vec<Duration>,
}

/// Pushes `total` records spread evenly over every device, in batches of
/// [`MAX_BATCH_RECORDS`], `threads` communes at a time.
pub fn load(db: &ServerDb, p: &Province, total: usize, threads: usize) -> Loaded {
    let started = Instant::now();
    let per_commune = total / p.communes.len();
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let step = (total / 10).max(1);
    let now = Local::now().naive_local();
    let mut push_times: Vec<Duration> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut times = Vec::new();
                    loop {
                        let c = next.fetch_add(1, Ordering::Relaxed);
                        if c >= p.communes.len() {
                            break times;
                        }
                        let mut gen = Gen::new(0xdead_0000 + c as u64, CidKey::generate_device_key());
                        let members = &p.members[c * DEVICES_PER_COMMUNE..(c + 1) * DEVICES_PER_COMMUNE];
                        for (i, m) in members.iter().enumerate() {
                            let mut left =
                                per_commune / DEVICES_PER_COMMUNE + usize::from(i < per_commune % DEVICES_PER_COMMUNE);
                            let mut last_visit = None;
                            while left > 0 {
                                let n = left.min(MAX_BATCH_RECORDS);
                                let batch: Vec<WireRecord> = (0..n)
                                    .map(|_| {
                                        let at = gen.occurred_at(now);
                                        gen.wire(at, &p.sealed, &mut last_visit)
                                    })
                                    .collect();
                                left -= n;
                                let report = DeviceReport { queued: left as u32, app_version: "bench".into() };
                                let t = Instant::now();
                                let results = db.apply_push(&m.device, &report, &batch, Utc::now()).expect("push");
                                times.push(t.elapsed());
                                let refused = results.iter().find(|r| r.result != Applied::Applied);
                                assert!(refused.is_none(), "every record applies: {refused:?}");
                                let before = done.fetch_add(n, Ordering::Relaxed);
                                if (before + n) / step > before / step {
                                    eprintln!(
                                        "  loaded {} of {total} records in {:.0} s",
                                        before + n,
                                        started.elapsed().as_secs_f64()
                                    );
                                }
                            }
                        }
                    }
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("load thread")).collect()
    });
    let pushes = push_times.len();
    push_times.shrink_to_fit();
    Loaded { records: done.into_inner(), pushes, secs: started.elapsed().as_secs_f64(), push_times }
}
