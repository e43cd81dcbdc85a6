//! An independent model of the counting rule for the office's reports: the final state of
//! every record as the protocol says, the coverage and activity it gives, and a generator of
//! a commune's records (hamlets, people, pushes, edits, voids, erasures).

use super::*;

/// What the server should hold for one record: its latest version and whether any applied
/// version voided it (a void always wins, see `ServerDb::apply_push`).
pub(super) struct Final {
    pub(super) device: usize,
    pub(super) record: WireRecord,
    pub(super) voided: bool,
}

/// The final state of every record, kept by applying each push as the protocol says.
#[derive(Default)]
pub(super) struct Model {
    pub(super) records: HashMap<Uuid, Final>,
    /// Records erased on request.
    pub(super) erased: HashSet<Uuid>,
    /// ID hash of an erased person → the placeholder their records count under.
    pub(super) erased_people: HashMap<String, String>,
}

impl Model {
    pub(super) fn apply(&mut self, device: usize, r: &WireRecord) -> Applied {
        match self.records.get_mut(&r.id) {
            None => {
                let mut record = r.clone();
                // A person erased before: a record of theirs that arrives only now is erased
                // too and counts under their placeholder (every test record was saved
                // before any erasure).
                if let Some(placeholder) = id_hash(&record.body).and_then(|h| self.erased_people.get(h)) {
                    set_id_hash(&mut record.body, placeholder.clone());
                    self.erased.insert(r.id);
                }
                self.records.insert(r.id, Final { device, record, voided: r.voided });
                Applied::Applied
            }
            Some(f) if f.device != device => Applied::Rejected,
            Some(f) if r.version == f.record.version => Applied::Duplicate,
            Some(f) if r.version < f.record.version => Applied::Stale,
            Some(f) => {
                f.voided |= r.voided;
                let mut record = r.clone();
                // An erased record stays erased, whatever person a later version names, and
                // keeps counting as its placeholder person (or as no one, if it had no ID).
                if self.erased.contains(&r.id) {
                    if let Body::SignatureHelp(s) = &mut record.body {
                        s.person = match &f.record.body {
                            Body::SignatureHelp(old) if id_hash(&f.record.body).is_some() => old.person.clone(),
                            _ => None,
                        };
                    }
                }
                f.record = record;
                Applied::Applied
            }
        }
    }

    pub(super) fn live(&self) -> impl Iterator<Item = &WireRecord> {
        self.records.values().filter(|f| !f.voided).map(|f| &f.record)
    }
}

/// Replaces the citizen-ID hash of a signature session's person (an erasure's placeholder).
pub(super) fn set_id_hash(body: &mut Body, hash: String) {
    if let Body::SignatureHelp(SignatureHelp { person: Some(p), .. }) = body {
        p.cid_hash = Some(hash);
    }
}

/// The citizen-ID hash of a signature session, if it has one.
pub(super) fn id_hash(body: &Body) -> Option<&str> {
    match body {
        Body::SignatureHelp(SignatureHelp { person: Some(p), .. }) => p.cid_hash.as_deref(),
        _ => None,
    }
}

pub(super) fn succeeded(body: &Body) -> bool {
    matches!(body, Body::SignatureHelp(s) if s.outcome != Outcome::NotCompleted)
}

pub(super) fn coverage_line(id: &str, name: &str, adults: u32, baseline: u32, helped: u32, target: u32) -> CoverageRow {
    let signed = (baseline + helped).min(adults);
    let percent = if adults == 0 { 0.0 } else { 100.0 * signed as f64 / adults as f64 };
    // The target is *more than* target%: the smallest whole count above it.
    let target_count = (adults as u64 * target as u64 / 100 + 1).min(adults as u64) as u32;
    let still_needed = target_count.saturating_sub(signed);
    CoverageRow {
        hamlet_id: id.into(),
        name: name.into(),
        adult_population: adults,
        baseline_signed: baseline,
        helped_signed: helped,
        signed,
        percent,
        still_needed,
        reached: adults > 0 && still_needed == 0,
    }
}

/// Coverage by the counting rule of `server::reports`, in plain Rust.
pub(super) fn expected_coverage(model: &Model, r: &ReferenceData) -> CoverageReport {
    let mut helped: HashMap<&str, u32> = HashMap::new();
    // Each person with an ID: the hamlet of their first successful session (time, then id).
    let mut first: HashMap<&str, (NaiveDateTime, Uuid, &str)> = HashMap::new();
    for rec in model.live().filter(|rec| succeeded(&rec.body)) {
        match id_hash(&rec.body) {
            None => *helped.entry(&rec.hamlet_id).or_default() += 1,
            Some(key) => {
                let candidate = (rec.occurred_at, rec.id, rec.hamlet_id.as_str());
                let e = first.entry(key).or_insert(candidate);
                if (candidate.0, candidate.1) < (e.0, e.1) {
                    *e = candidate;
                }
            }
        }
    }
    for (_, _, hamlet) in first.values() {
        *helped.entry(hamlet).or_default() += 1;
    }
    let target = r.commune.target_percent;
    let mut rows: Vec<CoverageRow> = r
        .hamlets
        .iter()
        .map(|h| {
            let n = helped.get(h.id.as_str()).copied().unwrap_or(0);
            coverage_line(&h.id, &h.name, h.adult_population, h.baseline_signed, n, target)
        })
        .collect();
    rows.sort_by(|a, b| b.still_needed.cmp(&a.still_needed).then(a.percent.total_cmp(&b.percent)));
    let sum = |f: fn(&CoverageRow) -> u32| rows.iter().map(f).sum::<u32>();
    let total = coverage_line(
        "",
        &r.commune.name,
        sum(|r| r.adult_population),
        sum(|r| r.baseline_signed),
        sum(|r| r.helped_signed),
        target,
    );
    CoverageReport {
        commune: r.commune.clone(),
        as_of: sotay_server::asof::vn_today(),
        target_percent: target,
        rows,
        total,
    }
}

/// Counts of one group, with the people behind its signature sessions.
#[derive(Default)]
pub(super) struct Tally {
    pub(super) counts: ActivityCounts,
    pub(super) ids: HashSet<String>,
    pub(super) without_id: u32,
}

impl Tally {
    pub(super) fn add(&mut self, rec: &WireRecord) {
        let c = &mut self.counts;
        match &rec.body {
            Body::Visit(v) => {
                c.visits += 1;
                c.visit_people += v.people_helped;
                c.person_times += v.people_helped;
            }
            Body::SignatureHelp(s) => {
                c.signature_sessions += 1;
                c.person_times += 1;
                if s.outcome == Outcome::NotCompleted {
                    c.not_completed += 1;
                } else {
                    c.signed += 1;
                    // The breakdowns (`db::breakdowns`), in plain Rust.
                    match s.person.as_ref().map(|p| p.sex) {
                        Some(Sex::Female) => c.signed_women += 1,
                        Some(Sex::Male) => c.signed_men += 1,
                        _ => {}
                    }
                    let group = s.person.as_ref().and_then(|p| p.ethnic_group.as_deref()).map(str::trim);
                    if group.is_some_and(|g| !g.is_empty() && !g.eq_ignore_ascii_case("kinh")) {
                        c.signed_minority += 1;
                    }
                    if id_hash(&rec.body).is_none() {
                        c.signed_anonymous += 1;
                    }
                }
                if s.level_after == AccountLevel::Level2 && s.level_before != AccountLevel::Level2 {
                    c.level2_activations += 1;
                }
                match id_hash(&rec.body) {
                    Some(key) => {
                        self.ids.insert(key.to_owned());
                    }
                    None => self.without_id += 1,
                }
            }
            Body::Training(t) => {
                c.trainings += 1;
                c.attendance += t.total;
                c.women += t.women;
                c.minority += t.ethnic_minority;
                c.person_times += t.total;
            }
            Body::Outreach(_) => c.outreach += 1,
        }
    }

    pub(super) fn done(mut self) -> ActivityCounts {
        self.counts.signature_people = self.ids.len() as u32 + self.without_id;
        self.counts
    }
}

/// The activity report for `[from, to]` (days, inclusive), in plain Rust.
pub(super) fn expected_activity(model: &Model, r: &ReferenceData, from: NaiveDate, to: NaiveDate) -> ActivityReport {
    let mut totals = Tally::default();
    let mut hamlets: BTreeMap<String, Tally> = BTreeMap::new();
    let mut volunteers: BTreeMap<String, Tally> = BTreeMap::new();
    let mut outcomes: HashMap<Outcome, u32> = HashMap::new();
    let mut reasons: HashMap<FailureReason, u32> = HashMap::new();
    let mut channels: HashMap<Channel, (u32, u64, u64)> = HashMap::new();
    let weekly = (to - from).num_days() > 62;
    let bucket = |d: NaiveDate| if weekly { d - Days::new(d.weekday().num_days_from_monday() as u64) } else { d };
    let mut over_time: BTreeMap<NaiveDate, TimePoint> = BTreeMap::new();
    let mut d = bucket(from);
    while d <= to {
        over_time.insert(d, TimePoint { start: d, signature_sessions: 0, signed: 0, visits: 0 });
        d = d + Days::new(if weekly { 7 } else { 1 });
    }
    for rec in model.live() {
        let date = rec.occurred_at.date();
        if date < from || date > to {
            continue;
        }
        totals.add(rec);
        hamlets.entry(rec.hamlet_id.clone()).or_default().add(rec);
        volunteers.entry(rec.volunteer_id.clone()).or_default().add(rec);
        let point = over_time.get_mut(&bucket(date)).unwrap();
        match &rec.body {
            Body::Visit(_) => point.visits += 1,
            Body::SignatureHelp(s) => {
                *outcomes.entry(s.outcome).or_default() += 1;
                if let Some(f) = s.failure_reason {
                    *reasons.entry(f).or_default() += 1;
                }
                point.signature_sessions += 1;
                point.signed += succeeded(&rec.body) as u32;
            }
            Body::Outreach(o) => {
                let e = channels.entry(o.channel).or_default();
                e.0 += 1;
                e.1 += o.quantity as u64;
                e.2 += o.reach as u64;
            }
            Body::Training(_) => {}
        }
    }
    let mut by_hamlet: Vec<(String, String, ActivityCounts)> = r
        .hamlets
        .iter()
        .map(|h| (h.id.clone(), h.name.clone(), hamlets.remove(&h.id).map(Tally::done).unwrap_or_default()))
        .collect();
    by_hamlet.extend(hamlets.into_iter().map(|(id, t)| (id.clone(), id, t.done())));
    let mut by_volunteer: Vec<(String, String, ActivityCounts)> = r
        .volunteers
        .iter()
        .filter_map(|v| volunteers.remove(&v.id).map(|t| (v.id.clone(), v.name.clone(), t.done())))
        .collect();
    by_volunteer.extend(volunteers.into_iter().map(|(id, t)| (id.clone(), id, t.done())));
    ActivityReport {
        commune: r.commune.clone(),
        from,
        to,
        totals: totals.done(),
        outcomes: Outcome::ALL.iter().map(|o| (*o, outcomes.get(o).copied().unwrap_or(0))).collect(),
        failure_reasons: FailureReason::ALL.iter().map(|f| (*f, reasons.get(f).copied().unwrap_or(0))).collect(),
        channels: Channel::ALL
            .iter()
            .map(|c| {
                let (activities, quantity, reach) = channels.get(c).copied().unwrap_or_default();
                ChannelRow { channel: c.code().into(), activities, quantity, reach }
            })
            .collect(),
        by_hamlet,
        by_volunteer,
        weekly,
        over_time: over_time.into_values().collect(),
    }
}

pub(super) const HAMLET_NAMES: [&str; 12] = [
    "Thôn Đăk Pờ Kơng",
    "Làng Kon Braih",
    "Thôn Hòa Bình",
    "Làng Plei Rơng",
    "Tổ dân phố 1",
    "Thôn Kon Klor",
    "Làng Đăk Rơ Wa",
    "Thôn Tân Lập",
    "Làng Kon Jơ Ri",
    "Thôn Ia Ly",
    "Làng Plei Kần",
    "Tổ dân phố 2",
];

/// Twelve hamlets of 250 to 420 adults (about 4,000 in all) with baselines, and nine
/// volunteers; `v-cu` leaves the team once its records are in.
pub(super) fn generated_reference(rng: &mut StdRng) -> ReferenceData {
    let mut r = demo_reference();
    r.commune.name = "Xã Đăk Rơ Wa".into();
    r.hamlets = HAMLET_NAMES
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let adults = rng.gen_range(250..=420);
            Hamlet {
                id: format!("h-{:02}", i + 1),
                name: (*name).into(),
                adult_population: adults,
                baseline_signed: rng.gen_range(adults / 10..=adults * 2 / 5),
            }
        })
        .collect();
    let names =
        ["Y Lan", "A Hưng", "Nguyễn Thị Thu", "Trần Văn Minh", "H'Nga", "Y Blir", "Lê Văn Dũng", "Đinh Thị Mai"];
    r.volunteers = names
        .iter()
        .enumerate()
        .map(|(i, n)| Volunteer {
            id: format!("v-{:02}", i + 1),
            name: (*n).into(),
            hamlet_id: Some(format!("h-{:02}", i + 1)),
            lead: i == 0,
        })
        .chain(std::iter::once(Volunteer {
            id: "v-cu".into(),
            name: "A Cũ".into(),
            hamlet_id: Some("h-12".into()),
            lead: false,
        }))
        .collect();
    r
}

/// Generates records of every kind with a fixed seed: people with an ID helped again on
/// other devices and in other hamlets, sessions without an ID or without consent, failures
/// with their reasons, and then edits, voids, retries and stale versions.
/// `n` people with random (well-formed) ID numbers, named "Người i".
pub(super) fn random_people(rng: &mut StdRng, n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| {
            (format!("{:03}{:09}", rng.gen_range(1..=96), rng.gen_range(0..1_000_000_000u64)), format!("Người {i}"))
        })
        .collect()
}

pub(super) struct Generator {
    pub(super) rng: StdRng,
    pub(super) people: Vec<(String, String)>,
    pub(super) hamlets: Vec<String>,
    pub(super) volunteers: Vec<String>,
    pub(super) key: TestKey,
}

impl Generator {
    pub(super) fn new(
        rng: StdRng,
        people: Vec<(String, String)>,
        reference: &ReferenceData,
        key: TestKey,
    ) -> Generator {
        Generator {
            rng,
            people,
            hamlets: reference.hamlets.iter().map(|h| h.id.clone()).collect(),
            volunteers: reference.volunteers.iter().map(|v| v.id.clone()).collect(),
            key,
        }
    }

    pub(super) fn id(&mut self, at: NaiveDateTime) -> Uuid {
        let millis = at.and_utc().timestamp_millis() as u64 + self.rng.gen_range(0..1000);
        uuid::Builder::from_unix_timestamp_millis(millis, &self.rng.gen()).into_uuid()
    }

    /// A business time in 2026 (a few in the last days of 2025), whole seconds, working hours.
    pub(super) fn time(&mut self) -> NaiveDateTime {
        let date = if self.rng.gen_bool(0.02) {
            day(2025, 12, self.rng.gen_range(20..=31))
        } else {
            day(2026, 1, 1) + Days::new(self.rng.gen_range(0..365))
        };
        date.and_hms_opt(self.rng.gen_range(7..19), self.rng.gen_range(0..60), self.rng.gen_range(0..60)).unwrap()
    }

    pub(super) fn hamlet(&mut self) -> String {
        self.hamlets[self.rng.gen_range(0..self.hamlets.len())].clone()
    }

    pub(super) fn volunteer(&mut self) -> String {
        self.volunteers[self.rng.gen_range(0..self.volunteers.len())].clone()
    }

    pub(super) fn person(&mut self, with_id: bool) -> Person {
        let i = self.rng.gen_range(0..self.people.len());
        let (cid, name) = self.people[i].clone();
        let mut p = person(&name, with_id.then_some(cid.as_str()), &self.key);
        p.sex = Sex::ALL[i % Sex::ALL.len()];
        p.ethnic_group = [None, Some("Kinh"), Some("Ba Na"), Some("Xơ Đăng")][(i / 3) % 4].map(Into::into);
        p
    }

    pub(super) fn signature(&mut self) -> Body {
        let who = match self.rng.gen_range(0..100) {
            0..=64 => Some(self.person(true)),
            65..=84 => Some(self.person(false)),
            _ => None,
        };
        let (outcome, reason) = match self.rng.gen_range(0..100) {
            0..=54 => (Outcome::DigitalSignature, None),
            55..=69 => (Outcome::PersonalESignature, None),
            _ => {
                let reasons = FailureReason::ALL;
                (Outcome::NotCompleted, Some(reasons[self.rng.gen_range(0..reasons.len())]))
            }
        };
        let mut body = signature_body(who, outcome, reason);
        // Accounts already at level 2 too (and every sex, Kinh and minority groups or none, in
        // `person`): no further draws, so the mix of records stays what the seed gives.
        if let Body::SignatureHelp(s) = &mut body {
            s.level_before = match s.person.as_ref().map(|p| p.sex) {
                Some(Sex::Female) => AccountLevel::None,
                Some(Sex::Other) => AccountLevel::Level2,
                _ => AccountLevel::Level1,
            };
        }
        body
    }

    pub(super) fn body(&mut self) -> Body {
        match self.rng.gen_range(0..100) {
            0..=24 => Body::Visit(Visit {
                household: format!("Hộ {}", self.rng.gen_range(1..400)),
                people_helped: self.rng.gen_range(1..=6),
                topics: vec![Topic::Vneid],
                notes: String::new(),
            }),
            25..=79 => self.signature(),
            80..=89 => {
                let total = self.rng.gen_range(5..=60);
                Body::Training(Training {
                    kind: TrainingKind::HamletMeeting,
                    topics: vec![Topic::AvoidScams],
                    total,
                    women: self.rng.gen_range(0..=total),
                    ethnic_minority: self.rng.gen_range(0..=total),
                    trainers: "A Hưng".into(),
                    platform: Platform::BinhDanHocVuSo,
                    platform_other: None,
                })
            }
            _ => Body::Outreach(Outreach {
                channel: Channel::ALL[self.rng.gen_range(0..Channel::ALL.len())],
                quantity: self.rng.gen_range(1..=20),
                reach: self.rng.gen_range(0..=800),
                notes: String::new(),
            }),
        }
    }

    pub(super) fn record(&mut self) -> WireRecord {
        let at = self.time();
        let (hamlet, volunteer, body) = (self.hamlet(), self.volunteer(), self.body());
        let id = self.id(at);
        let mut r = wire(id, &hamlet, &volunteer, at, body);
        r.saved_at = saved_after(&r);
        r
    }

    /// The next version of a record as a volunteer edits it: another hamlet, day, outcome
    /// or person.
    pub(super) fn edit(&mut self, r: &WireRecord) -> WireRecord {
        let mut next = r.clone();
        next.version += 1;
        match self.rng.gen_range(0..5) {
            0 => next.hamlet_id = self.hamlet(),
            1 => {
                let shift = self.rng.gen_range(-40i64..=40);
                next.occurred_at += Duration::days(shift);
                // Within a year of the save, as the rule set asks.
                if next.occurred_at < day(2025, 12, 1).and_hms_opt(0, 0, 0).unwrap() {
                    next.occurred_at -= Duration::days(2 * shift);
                }
            }
            2 => next.volunteer_id = self.volunteer(),
            _ => {
                next.body = match &r.body {
                    Body::SignatureHelp(_) => self.signature(),
                    _ => self.body(),
                }
            }
        }
        next.saved_at = saved_after(&next);
        next
    }

    pub(super) fn void(&mut self, r: &WireRecord) -> WireRecord {
        let mut next = r.clone();
        next.version += 1;
        next.voided = true;
        next.void_reason = Some("Ghi trùng".into());
        next
    }
}
