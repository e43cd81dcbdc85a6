//! What the benches share: a generator of realistic records (Vietnamese, Bahnar and Xơ
//! Đăng names, the four kinds in field proportions, citizen-ID hashes), deterministic from
//! a seed, for the commune of [`reference`]. Included by each bench with `#[path]`.

#![allow(dead_code)]

use super::*;
use sotay::protocol::WireRecord;

/// A commune that is not the sample one, so records queue to the outbox like real ones:
/// the sample hamlets with a real-sized team of volunteers.
pub fn reference() -> ReferenceData {
    let mut r = sample_reference();
    r.commune.name = "Xã Kon Braih".into();
    r.commune.sample = false;
    let extra = [
        ("v-hnga", "H'Nga", "h-konbraih"),
        ("v-blir", "Y Blir", "h-plei"),
        ("v-dung", "Lê Văn Dũng", "h-hoabinh"),
        ("v-hoa", "Phạm Thị Hoà", "h-tdp1"),
        ("v-ro", "A Rơ", "h-plei"),
        ("v-mai", "Đinh Thị Mai", "h-dakpokong"),
    ];
    for (id, name, hamlet) in extra {
        r.volunteers.push(Volunteer { id: id.into(), name: name.into(), hamlet_id: Some(hamlet.into()), lead: false });
    }
    r
}

pub struct Gen {
    state: u64,
    cid_key: CidKey,
    /// The server key ID numbers are sealed to, as on an enrolled device.
    seal_key: Option<sotay::domain::citizen_id::SealKey>,
    reference: Rc<ReferenceData>,
}

const SURNAMES: &[&str] = &[
    "Nguyễn", "Nguyễn", "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ",
    "Ngô", "Đinh",
];
const MIDDLE_F: &[&str] = &["Thị", "Thị", "Thị", "Ngọc", "Thu", "Kim"];
const MIDDLE_M: &[&str] = &["Văn", "Văn", "Hữu", "Đức", "Minh", "Quang"];
const GIVEN_F: &[&str] = &["Hoa", "Hoà", "Lan", "Hương", "Mai", "Thảo", "Hằng", "Nhung", "Trang", "Yến", "Ánh", "Hạnh"];
const GIVEN_M: &[&str] = &["Hùng", "Dũng", "Tuấn", "Bình", "Hải", "Phúc", "Nam", "Sơn", "Thắng", "Hoà", "Long", "Khoa"];
/// Bahnar and Xơ Đăng names as they are written on ID cards.
const MINORITY_F: &[&str] = &["Y Hiên", "Y Nhung", "Y Bia", "H'Nga", "Y Phương", "Y Thơm", "Y Lan", "Y Hoa"];
const MINORITY_M: &[&str] = &["A Hưng", "A Thuột", "A Blưn", "A Rơ", "A Kiên", "A Đức", "A Phiên", "Đinh Văn Rơh"];
const ETHNIC: &[&str] = &["Ba Na", "Ba Na", "Xơ Đăng", "Xơ Đăng", "Hrê", "Giẻ Triêng"];
const VISIT_NOTES: &[&str] = &[
    "",
    "",
    "Cài VNeID, kích hoạt mức 2",
    "Hướng dẫn thanh toán không dùng tiền mặt",
    "Cảnh báo lừa đảo qua điện thoại",
    "Nộp hồ sơ trên Cổng dịch vụ công",
    "Hẹn quay lại khi có điện thoại mới",
    "Cả nhà cùng học, con cháu hỗ trợ ông bà",
];
const OUTREACH_NOTES: &[&str] = &[
    "Phát thanh trên loa thôn buổi sáng",
    "Phát tờ rơi tại nhà văn hoá",
    "Dán áp phích ở chợ",
    "Đăng bài trên nhóm Zalo thôn",
    "Lồng ghép trong họp thôn",
];

impl Gen {
    pub fn new(seed: u64, cid_key: CidKey) -> Gen {
        Gen { state: seed, cid_key, seal_key: None, reference: Rc::new(reference()) }
    }

    /// Seals each ID number to `key` too, as an enrolled device's form does.
    pub fn sealing(mut self, key: Option<sotay::domain::citizen_id::SealKey>) -> Gen {
        self.seal_key = key;
        self
    }

    pub fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// 0..n
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// A working-hours time on one of the last [`DAYS`] days, never in the future.
    pub fn occurred_at(&mut self, now: NaiveDateTime) -> NaiveDateTime {
        let day = now.date() - Days::new(self.below(DAYS));
        let time = NaiveTime::from_hms_opt(7 + self.below(11) as u32, self.below(60) as u32, 0).unwrap_or_default();
        let at = day.and_time(time);
        if at > now {
            at - chrono::Duration::days(1)
        } else {
            at
        }
    }

    /// A person's name; `minority` picks a Bahnar/Xơ Đăng name.
    pub fn name(&mut self, female: bool, minority: bool) -> String {
        match (minority, female) {
            (true, true) => self.pick(MINORITY_F).to_string(),
            (true, false) => self.pick(MINORITY_M).to_string(),
            (false, f) => {
                let surname = self.pick(SURNAMES);
                let middle = self.pick(if f { MIDDLE_F } else { MIDDLE_M });
                let given = self.pick(if f { GIVEN_F } else { GIVEN_M });
                format!("{surname} {middle} {given}")
            }
        }
    }

    pub fn topics(&mut self) -> Vec<Topic> {
        let mut topics: Vec<Topic> = Topic::ALL.iter().copied().filter(|_| self.chance(25)).collect();
        if topics.is_empty() {
            topics.push(*self.pick(Topic::ALL));
        }
        topics
    }

    /// One record: 35% visits, 45% signature help, 10% trainings, 10% outreach. The
    /// hamlet decides the volunteer and how likely a minority name is.
    pub fn record(&mut self, at: NaiveDateTime, last_visit: &mut Option<Uuid>) -> NewRecord {
        let reference = Rc::clone(&self.reference);
        let hamlet = self.pick(&reference.hamlets).id.clone();
        let team: Vec<&Volunteer> =
            reference.volunteers.iter().filter(|v| v.hamlet_id.as_deref() == Some(&hamlet)).collect();
        let volunteer = if team.is_empty() || self.chance(10) {
            self.pick(&reference.volunteers).id.clone()
        } else {
            self.pick(&team).id.clone()
        };
        let minority_share = match hamlet.as_str() {
            "h-dakpokong" | "h-konbraih" | "h-plei" => 80,
            "h-hoabinh" => 30,
            _ => 10,
        };
        let roll = self.below(100);
        let body = if roll < 35 {
            let female = self.chance(50);
            let minority = self.chance(minority_share);
            let head = self.name(female, minority);
            Body::Visit(Visit {
                household: format!("Hộ {} {head}", if female { "bà" } else { "ông" }),
                people_helped: 1 + self.below(4) as u32,
                topics: self.topics(),
                notes: self.pick(VISIT_NOTES).to_string(),
            })
        } else if roll < 80 {
            let consent = self.chance(85);
            let person = consent.then(|| {
                let female = self.chance(52);
                let minority = self.chance(minority_share);
                let number = format!("051{:09}", self.below(1_000_000_000));
                let cid = CitizenId::parse(&number).expect("generated citizen ID");
                Person {
                    display_name: self.name(female, minority),
                    birth_year: 1950 + self.below(56) as u16,
                    sex: if female { Sex::Female } else { Sex::Male },
                    ethnic_group: Some(if minority { self.pick(ETHNIC).to_string() } else { "Kinh".into() }),
                    phone: self.chance(70).then(|| format!("09{:08}", self.below(100_000_000))),
                    cid_hash: Some(cid.hash(&self.cid_key)),
                    cid_key_id: Some(self.cid_key.id.clone()),
                    cid_sealed: self.seal_key.as_ref().map(|k| cid.seal(k)),
                    cid_last4: self.chance(60).then(|| cid.last4()),
                }
            });
            let outcome = match self.below(100) {
                0..75 => Outcome::DigitalSignature,
                75..85 => Outcome::PersonalESignature,
                _ => Outcome::NotCompleted,
            };
            let failure_reason = (outcome == Outcome::NotCompleted).then(|| *self.pick(FailureReason::ALL));
            let provider = (outcome != Outcome::NotCompleted).then(|| self.pick(&reference.providers).clone());
            Body::SignatureHelp(SignatureHelp {
                consent,
                person,
                level_before: *self.pick(&[AccountLevel::None, AccountLevel::Level1, AccountLevel::Level2]),
                level_after: AccountLevel::Level2,
                outcome,
                failure_reason,
                provider,
                parent_id: if self.chance(30) { *last_visit } else { None },
            })
        } else if roll < 90 {
            let total = 5 + self.below(60) as u32;
            let women = self.below(total as u64 + 1) as u32;
            let trainers: Vec<String> = (0..1 + self.below(2))
                .map(|_| reference.volunteer_name(&self.pick(&reference.volunteers).id.clone()))
                .collect();
            Body::Training(Training {
                kind: *self.pick(TrainingKind::ALL),
                topics: self.topics(),
                total,
                women,
                ethnic_minority: (total as u64 * minority_share / 100) as u32,
                trainers: trainers.join(", "),
                platform: *self.pick(&[Platform::BinhDanHocVuSo, Platform::BinhDanHocVuSo, Platform::Mooc]),
                platform_other: None,
            })
        } else {
            Body::Outreach(Outreach {
                channel: *self.pick(Channel::ALL),
                quantity: 1 + self.below(50) as u32,
                reach: 20 + self.below(400) as u32,
                notes: self.pick(OUTREACH_NOTES).to_string(),
            })
        };
        NewRecord { hamlet_id: hamlet, volunteer_id: volunteer, occurred_at: at, body }
    }

    /// One record as an enrolled device pushes it: version 1, just saved, its ID number
    /// sealed (drawn from `sealed` when that is not empty, else as this generator seals),
    /// the device's own hash left on the device.
    pub fn wire(&mut self, at: NaiveDateTime, sealed: &[String], last_visit: &mut Option<Uuid>) -> WireRecord {
        let new = self.record(at, last_visit);
        let id = Uuid::now_v7();
        if matches!(new.body, Body::Visit(_)) {
            *last_visit = Some(id);
        }
        let mut body = new.body;
        if let Body::SignatureHelp(SignatureHelp { person: Some(p), .. }) = &mut body {
            if p.cid_hash.is_some() && !sealed.is_empty() {
                p.cid_sealed = Some(sealed[self.below(sealed.len() as u64) as usize].clone());
            }
            (p.cid_hash, p.cid_key_id) = (None, None);
        }
        WireRecord {
            id,
            version: 1,
            hamlet_id: new.hamlet_id,
            volunteer_id: new.volunteer_id,
            occurred_at: new.occurred_at,
            saved_at: chrono::Utc::now(),
            voided: false,
            void_reason: None,
            body,
        }
    }
}
