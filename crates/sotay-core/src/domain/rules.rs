//! The one rule set a record obeys, wherever it is checked: the app's form runs it before
//! a save ([`super::validate::Form::validate`] turns the form into a record and asks this
//! module), and the server runs it on every pushed record (`protocol::WireRecord::check`).
//! Each answer is a [`FieldError`] naming the field, so the form marks that field and the
//! server names it in its reason; `i18n` words every [`Problem`].
//!
//! What depends on the clock is checked against the device's local time at the save. The
//! form knows it exactly; the server knows only the save's UTC time, so it allows every
//! local time from 12 hours behind to 14 hours ahead of it ([`Rules::saved_at`]): whatever
//! the form accepts, the server accepts.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Timelike, Utc};
use uuid::Uuid;

use super::citizen_id::looks_sealed;
use super::record::*;
use super::reference::{id_ok, ReferenceData};

/// What is wrong with one field. `i18n` words each of these in every language, in this
/// order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    Required,
    NotANumber,
    /// A count above the largest that makes sense for the field.
    TooLarge,
    MustBePositive,
    TooLong,
    BadDate,
    BadTime,
    InFuture,
    TooOld,
    BirthYearRange,
    BadPhone,
    CidNotDigits,
    CidWrongLength,
    CidBadProvince,
    WomenOverTotal,
    MinorityOverTotal,
    FailureReasonRequired,
    UnknownHamlet,
    TopicRequired,
    /// A control character (NUL, ESC, a line break in a one-line field…) in text.
    BadCharacters,
    /// Spaces at the start or the end of a text (the form trims them).
    SpacesAround,
    TopicRepeated,
    /// A value given where the record's other answers allow none (a provider for a session
    /// that did not complete, a failure reason for one that did, a person without consent).
    NotAllowedHere,
    /// A value in a shape the app never writes (a hash that is not hex, four digits that
    /// are not four digits).
    BadFormat,
    /// The device's clock was wrong when the record was saved.
    DeviceClock,
    BadVersion,
    BadId,
    UnknownVolunteer,
    /// The value could not be read: a wrong type, an unknown code or field, a key twice.
    Unreadable,
}

/// A problem attached to the field it belongs to (the form's field name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub problem: Problem,
}

/// Longest one-line text (names, household, trainers, provider).
pub const SHORT_TEXT: usize = 200;
/// Longest notes and void reason.
pub const LONG_TEXT: usize = 2000;
/// People helped at one visit.
pub const PEOPLE_HELPED: (u32, u32) = (1, 100);
/// People at one training or meeting.
pub const ATTENDANCE: (u32, u32) = (1, 5000);
/// Items of one outreach activity (broadcasts, leaflets…).
pub const QUANTITY: (u32, u32) = (1, 100_000);
/// People an outreach activity reached, estimated.
pub const REACH: (u32, u32) = (0, 1_000_000);
/// A person helped is this old at least and at most, in years.
pub const AGE: (i32, i32) = (14, 120);
/// Highest version a record can have: a million edits. A version near 2^63 would freeze
/// the record, since no later version could follow it.
pub const MAX_VERSION: i64 = 1_000_000;
/// Longest key id a hash may name (`commune:CODE:1`, `device:…`).
pub const MAX_KEY_ID_CHARS: usize = 64;
/// How far ahead of the save a record may be dated: a phone clock a little behind.
pub const FUTURE_SLACK_MINUTES: i64 = 10;
/// How far before the save a record may be dated.
pub const MAX_AGE_DAYS: i64 = 366;

/// Nothing happened before the movement began: an earlier date is a wrong clock.
pub fn epoch() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2025, 1, 1).and_then(|d| d.and_hms_opt(0, 0, 0)).unwrap_or_default()
}

/// What the rules need besides the record: the commune's lists and when it was saved.
pub struct Rules<'a> {
    pub reference: &'a ReferenceData,
    /// The device's local time at the save lies between these two.
    pub now_from: NaiveDateTime,
    pub now_to: NaiveDateTime,
}

impl<'a> Rules<'a> {
    /// For a save whose local time is known exactly (the form).
    pub fn at(reference: &'a ReferenceData, now: NaiveDateTime) -> Rules<'a> {
        Rules { reference, now_from: now, now_to: now }
    }

    /// For a save known by its UTC time only (the server): local time anywhere from UTC−12
    /// to UTC+14.
    pub fn saved_at(reference: &'a ReferenceData, saved: DateTime<Utc>) -> Rules<'a> {
        let utc = saved.naive_utc();
        Rules { reference, now_from: utc - Duration::hours(12), now_to: utc + Duration::hours(14) }
    }
}

/// Collects problems, one per field (the first found).
#[derive(Debug, Default)]
pub struct Problems(pub Vec<FieldError>);

impl Problems {
    pub fn add(&mut self, field: &'static str, problem: Problem) {
        if !self.has(field) {
            self.0.push(FieldError { field, problem });
        }
    }

    pub fn has(&self, field: &str) -> bool {
        self.0.iter().any(|e| e.field == field)
    }

    /// A text of at most `max` characters, without control characters (a line break and a
    /// tab only in a multi-line one) and without spaces around it.
    fn text(&mut self, field: &'static str, value: &str, max: usize, multiline: bool) {
        if value.chars().count() > max {
            self.add(field, Problem::TooLong);
        } else if value.chars().any(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\t'))) {
            self.add(field, Problem::BadCharacters);
        } else if value.trim() != value {
            self.add(field, Problem::SpacesAround);
        }
    }

    fn required_text(&mut self, field: &'static str, value: &str, max: usize) {
        if value.trim().is_empty() {
            self.add(field, Problem::Required);
        } else {
            self.text(field, value, max, false);
        }
    }

    fn optional_text(&mut self, field: &'static str, value: &Option<String>, max: usize) {
        if let Some(v) = value {
            if v.is_empty() {
                self.add(field, Problem::BadFormat);
            } else {
                self.text(field, v, max, false);
            }
        }
    }

    fn count(&mut self, field: &'static str, n: u32, (lo, hi): (u32, u32)) {
        if n < lo {
            self.add(field, Problem::MustBePositive);
        } else if n > hi {
            self.add(field, Problem::TooLarge);
        }
    }

    fn topics(&mut self, topics: &[Topic]) {
        let distinct: std::collections::BTreeSet<_> = topics.iter().collect();
        if topics.is_empty() {
            self.add("topics", Problem::TopicRequired);
        } else if distinct.len() != topics.len() {
            self.add("topics", Problem::TopicRepeated);
        }
    }
}

/// Checks who/where/when and the body of a record: the whole rule set of a record as a
/// volunteer makes it. Every problem, at most one per field.
pub fn check_entry(hamlet_id: &str, occurred_at: NaiveDateTime, body: &Body, rules: &Rules) -> Vec<FieldError> {
    let mut p = Problems::default();
    if hamlet_id.is_empty() {
        p.add("hamlet", Problem::Required);
    } else if !id_ok(hamlet_id) || rules.reference.hamlet(hamlet_id).is_none() {
        p.add("hamlet", Problem::UnknownHamlet);
    }
    check_time(&mut p, occurred_at, rules);
    check_body(&mut p, body, rules);
    p.0
}

fn check_time(p: &mut Problems, at: NaiveDateTime, rules: &Rules) {
    if at.nanosecond() >= 1_000_000_000 {
        // A leap second: no phone gives one, and it would sort oddly.
        p.add("time", Problem::BadTime);
    } else if at > rules.now_to + Duration::minutes(FUTURE_SLACK_MINUTES) {
        p.add("date", Problem::InFuture);
    } else if at < epoch() || at < rules.now_from - Duration::days(MAX_AGE_DAYS) {
        p.add("date", Problem::TooOld);
    }
}

/// The body's own rules.
pub fn check_body(p: &mut Problems, body: &Body, rules: &Rules) {
    match body {
        Body::Visit(v) => {
            p.required_text("household", &v.household, SHORT_TEXT);
            p.count("people_helped", v.people_helped, PEOPLE_HELPED);
            p.topics(&v.topics);
            p.text("notes", &v.notes, LONG_TEXT, true);
        }
        Body::SignatureHelp(s) => {
            match (&s.person, s.consent) {
                (Some(person), true) => check_person(p, person, rules),
                (None, true) => p.add("display_name", Problem::Required),
                (Some(_), false) => p.add("consent", Problem::NotAllowedHere),
                (None, false) => {}
            }
            if s.outcome == Outcome::NotCompleted {
                if s.failure_reason.is_none() {
                    p.add("failure_reason", Problem::FailureReasonRequired);
                }
                if s.provider.is_some() {
                    p.add("provider", Problem::NotAllowedHere);
                }
            } else {
                if s.failure_reason.is_some() {
                    p.add("failure_reason", Problem::NotAllowedHere);
                }
                // A success counts toward coverage: it needs the certificate's provider.
                p.required_text("provider", s.provider.as_deref().unwrap_or(""), SHORT_TEXT);
            }
        }
        Body::Training(t) => {
            p.topics(&t.topics);
            p.count("total", t.total, ATTENDANCE);
            if t.women > t.total {
                p.add("women", Problem::WomenOverTotal);
            }
            if t.ethnic_minority > t.total {
                p.add("ethnic_minority", Problem::MinorityOverTotal);
            }
            p.required_text("trainers", &t.trainers, SHORT_TEXT);
            match (t.platform, &t.platform_other) {
                (Platform::Other, other) => {
                    p.required_text("platform_other", other.as_deref().unwrap_or(""), SHORT_TEXT)
                }
                (_, Some(_)) => p.add("platform_other", Problem::NotAllowedHere),
                (_, None) => {}
            }
        }
        Body::Outreach(o) => {
            p.count("quantity", o.quantity, QUANTITY);
            p.count("reach", o.reach, REACH);
            p.text("notes", &o.notes, LONG_TEXT, true);
        }
    }
}

/// The years a person helped may have been born in, for a save at `rules`' time.
pub fn birth_years(rules: &Rules) -> (u16, u16) {
    let lo = rules.now_from.year() - AGE.1;
    let hi = rules.now_to.year() - AGE.0;
    (lo.clamp(0, u16::MAX as i32) as u16, hi.clamp(0, u16::MAX as i32) as u16)
}

fn check_person(p: &mut Problems, person: &Person, rules: &Rules) {
    p.required_text("display_name", &person.display_name, SHORT_TEXT);
    let (lo, hi) = birth_years(rules);
    if !(lo..=hi).contains(&person.birth_year) {
        p.add("birth_year", Problem::BirthYearRange);
    }
    p.optional_text("ethnic_group", &person.ethnic_group, SHORT_TEXT);
    if person.phone.as_deref().is_some_and(|ph| normalise_phone(ph).as_deref() != Some(ph)) {
        p.add("phone", Problem::BadPhone);
    }
    let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let bad_cid = person.cid_hash.as_deref().is_some_and(|h| !hex(h, 64))
        || person.cid_sealed.as_deref().is_some_and(|h| !looks_sealed(h))
        || person.cid_last4.as_deref().is_some_and(|l| l.len() != 4 || !l.bytes().all(|b| b.is_ascii_digit()))
        || person
            .cid_key_id
            .as_deref()
            .is_some_and(|k| k.is_empty() || k.len() > MAX_KEY_ID_CHARS || !k.bytes().all(|b| b.is_ascii_graphic()))
        || person.cid_hash.is_some() != person.cid_key_id.is_some();
    if bad_cid {
        p.add("citizen_id", Problem::BadFormat);
    }
}

/// What a pushed record carries besides who/where/when and the body; the app's store
/// makes these itself, the server checks them.
pub struct Stamp<'a> {
    pub id: Uuid,
    pub version: i64,
    pub volunteer_id: &'a str,
    pub saved_at: DateTime<Utc>,
    pub void_reason: Option<&'a str>,
}

/// Checks a record's stamp against the commune's volunteers and the server's clock
/// (`server_now`): a save dated more than a day ahead of the server is a wrong clock.
pub fn check_stamp(stamp: &Stamp, reference: &ReferenceData, server_now: DateTime<Utc>) -> Vec<FieldError> {
    let mut p = Problems::default();
    if !(1..=MAX_VERSION).contains(&stamp.version) {
        p.add("version", Problem::BadVersion);
    }
    if stamp.id.get_version_num() != 7 {
        p.add("id", Problem::BadId);
    }
    if !id_ok(stamp.volunteer_id) || reference.volunteer(stamp.volunteer_id).is_none() {
        p.add("volunteer", Problem::UnknownVolunteer);
    }
    let saved = stamp.saved_at.naive_utc();
    if saved.nanosecond() >= 1_000_000_000 || saved < epoch() || stamp.saved_at > server_now + Duration::days(1) {
        p.add("saved_at", Problem::DeviceClock);
    }
    if let Some(reason) = stamp.void_reason {
        check_void_reason(&mut p, reason);
    }
    p.0
}

/// A void reason: optional text, multi-line, as long as notes.
pub fn check_void_reason(p: &mut Problems, reason: &str) {
    p.text("void_reason", reason, LONG_TEXT, true);
}

/// Normalises a Vietnamese phone number to `0` and nine digits, or says it is not one.
pub fn normalise_phone(input: &str) -> Option<String> {
    let digits: String = input.chars().filter(|c| !matches!(c, ' ' | '.' | '-')).collect();
    let rest = if let Some(r) = digits.strip_prefix("+84") {
        r.to_owned()
    } else if let Some(r) = digits.strip_prefix('0') {
        r.to_owned()
    } else {
        return None;
    };
    (rest.len() == 9 && rest.bytes().all(|b| b.is_ascii_digit()) && !rest.starts_with('0')).then(|| format!("0{rest}"))
}
