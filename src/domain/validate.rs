//! Turning what a volunteer typed into a record, or saying what is wrong, field by field.
//!
//! Each form is a plain struct of the raw inputs (strings, ticks, choices), so a half-filled
//! form can be kept as a draft exactly as typed. [`Form::validate`] either gives the
//! record's who/where/when and body, or a list of [`FieldError`]s; nothing invalid becomes a
//! record. The citizen-ID number is the one input a draft never keeps (`#[serde(skip)]`).

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::citizen_id::{looks_sealed, CidKey, CitizenId, CitizenIdError, SealKey};
use super::record::*;
use super::reference::ReferenceData;

/// What is wrong with one field. `i18n` words each of these in every language.
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
}

/// A problem attached to the field it belongs to (the field's form name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub problem: Problem,
}

const SHORT_TEXT: usize = 200;
const LONG_TEXT: usize = 2000;

/// Who/where/when every form shares.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CommonForm {
    pub hamlet_id: String,
    /// `YYYY-MM-DD`, as an `<input type=date>` gives it.
    pub date: String,
    /// `HH:MM`.
    pub time: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VisitForm {
    pub common: CommonForm,
    pub household: String,
    pub people_helped: String,
    pub topics: Vec<Topic>,
    pub notes: String,
}

/// A citizen-ID hash already on a record being edited; kept unless a new number is typed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeptCid {
    pub hash: String,
    pub key_id: String,
    #[serde(default)]
    pub sealed: Option<String>,
    pub last4: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignatureForm {
    pub common: CommonForm,
    pub consent: bool,
    pub display_name: String,
    pub birth_year: String,
    pub sex: String,
    pub ethnic_group: String,
    pub phone: String,
    /// The number as typed. Never written to a draft, the store, a log or an error.
    #[serde(skip)]
    pub citizen_id: String,
    pub keep_last4: bool,
    pub kept_cid: Option<KeptCid>,
    pub level_before: AccountLevel,
    pub level_after: AccountLevel,
    pub outcome: Outcome,
    pub failure_reason: String,
    pub provider: String,
    pub provider_other: String,
    pub parent_id: String,
}

impl Default for SignatureForm {
    fn default() -> Self {
        SignatureForm {
            common: CommonForm::default(),
            consent: false,
            display_name: String::new(),
            birth_year: String::new(),
            sex: String::new(),
            ethnic_group: String::new(),
            phone: String::new(),
            citizen_id: String::new(),
            keep_last4: false,
            kept_cid: None,
            level_before: AccountLevel::None,
            level_after: AccountLevel::Level2,
            outcome: Outcome::DigitalSignature,
            failure_reason: String::new(),
            provider: String::new(),
            provider_other: String::new(),
            parent_id: String::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingForm {
    pub common: CommonForm,
    pub kind: TrainingKind,
    pub topics: Vec<Topic>,
    pub total: u32,
    pub women: u32,
    pub ethnic_minority: u32,
    pub trainers: String,
    pub platform: Platform,
    pub platform_other: String,
}

impl Default for TrainingForm {
    fn default() -> Self {
        TrainingForm {
            common: CommonForm::default(),
            kind: TrainingKind::HamletMeeting,
            topics: Vec::new(),
            total: 0,
            women: 0,
            ethnic_minority: 0,
            trainers: String::new(),
            platform: Platform::BinhDanHocVuSo,
            platform_other: String::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutreachForm {
    pub common: CommonForm,
    pub channel: Channel,
    pub quantity: String,
    pub reach: String,
    pub notes: String,
}

impl Default for OutreachForm {
    fn default() -> Self {
        OutreachForm {
            common: CommonForm::default(),
            channel: Channel::Loudspeaker,
            quantity: String::new(),
            reach: String::new(),
            notes: String::new(),
        }
    }
}

/// Any of the four forms, as kept in a draft. Forms are few and short-lived, so the size
/// difference between variants costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Form {
    Visit(VisitForm),
    SignatureHelp(SignatureForm),
    Training(TrainingForm),
    Outreach(OutreachForm),
}

/// What validation needs besides the form: the clock, the reference data, the device's
/// own hashing key, and (once enrolled) the server's key ID numbers are sealed to.
pub struct Context<'a> {
    pub now: NaiveDateTime,
    pub reference: &'a ReferenceData,
    pub cid_key: &'a CidKey,
    pub seal_key: Option<&'a SealKey>,
}

/// A valid form: who/where/when plus the body.
#[derive(Debug, Clone, PartialEq)]
pub struct Valid {
    pub hamlet_id: String,
    pub occurred_at: NaiveDateTime,
    pub body: Body,
}

struct Errors(Vec<FieldError>);

impl Errors {
    fn add(&mut self, field: &'static str, problem: Problem) {
        self.0.push(FieldError { field, problem });
    }

    fn text(&mut self, field: &'static str, value: &str, required: bool, max: usize) -> String {
        let v = value.trim();
        if required && v.is_empty() {
            self.add(field, Problem::Required);
        } else if v.chars().count() > max {
            self.add(field, Problem::TooLong);
        }
        v.to_owned()
    }

    fn optional_text(&mut self, field: &'static str, value: &str) -> Option<String> {
        let v = self.text(field, value, false, SHORT_TEXT);
        (!v.is_empty()).then_some(v)
    }

    fn count(&mut self, field: &'static str, value: &str, min: u32, max: u32) -> u32 {
        let v = value.trim();
        if v.is_empty() {
            self.add(field, Problem::Required);
            return 0;
        }
        match v.parse::<u64>() {
            Err(_) => {
                self.add(field, Problem::NotANumber);
                0
            }
            Ok(n) if n < min as u64 => {
                self.add(field, Problem::MustBePositive);
                0
            }
            Ok(n) if n > max as u64 => {
                self.add(field, Problem::TooLarge);
                0
            }
            Ok(n) => n as u32,
        }
    }

    fn common(&mut self, c: &CommonForm, ctx: &Context) -> (String, NaiveDateTime) {
        if c.hamlet_id.is_empty() {
            self.add("hamlet", Problem::Required);
        } else if ctx.reference.hamlet(&c.hamlet_id).is_none() {
            self.add("hamlet", Problem::UnknownHamlet);
        }
        let date = match NaiveDate::parse_from_str(c.date.trim(), "%Y-%m-%d") {
            Ok(d) => Some(d),
            Err(_) => {
                self.add("date", if c.date.trim().is_empty() { Problem::Required } else { Problem::BadDate });
                None
            }
        };
        let time = if c.time.trim().is_empty() {
            Some(NaiveTime::MIN)
        } else {
            match NaiveTime::parse_from_str(c.time.trim(), "%H:%M") {
                Ok(t) => Some(t),
                Err(_) => {
                    self.add("time", Problem::BadTime);
                    None
                }
            }
        };
        let at = match (date, time) {
            (Some(d), Some(t)) => d.and_time(t),
            _ => ctx.now,
        };
        if date.is_some() {
            // A few minutes of slack for a phone clock that runs a little behind.
            if at > ctx.now + chrono::Duration::minutes(10) {
                self.add("date", Problem::InFuture);
            } else if at < ctx.now - chrono::Duration::days(366) {
                self.add("date", Problem::TooOld);
            }
        }
        (c.hamlet_id.clone(), at)
    }

    fn done(self, hamlet_id: String, occurred_at: NaiveDateTime, body: Body) -> Result<Valid, Vec<FieldError>> {
        if self.0.is_empty() {
            Ok(Valid { hamlet_id, occurred_at, body })
        } else {
            Err(self.0)
        }
    }
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

impl Form {
    pub fn kind(&self) -> RecordKind {
        match self {
            Form::Visit(_) => RecordKind::Visit,
            Form::SignatureHelp(_) => RecordKind::SignatureHelp,
            Form::Training(_) => RecordKind::Training,
            Form::Outreach(_) => RecordKind::Outreach,
        }
    }

    /// An empty form of `kind`, starting in `hamlet_id` at `now`.
    pub fn blank(kind: RecordKind, hamlet_id: &str, now: NaiveDateTime) -> Form {
        let common = CommonForm {
            hamlet_id: hamlet_id.to_owned(),
            date: now.format("%Y-%m-%d").to_string(),
            time: now.format("%H:%M").to_string(),
        };
        match kind {
            RecordKind::Visit => Form::Visit(VisitForm { common, people_helped: "1".into(), ..Default::default() }),
            RecordKind::SignatureHelp => Form::SignatureHelp(SignatureForm { common, ..Default::default() }),
            RecordKind::Training => Form::Training(TrainingForm { common, ..Default::default() }),
            RecordKind::Outreach => Form::Outreach(OutreachForm { common, ..Default::default() }),
        }
    }

    pub fn common(&self) -> &CommonForm {
        match self {
            Form::Visit(f) => &f.common,
            Form::SignatureHelp(f) => &f.common,
            Form::Training(f) => &f.common,
            Form::Outreach(f) => &f.common,
        }
    }

    pub fn common_mut(&mut self) -> &mut CommonForm {
        match self {
            Form::Visit(f) => &mut f.common,
            Form::SignatureHelp(f) => &mut f.common,
            Form::Training(f) => &mut f.common,
            Form::Outreach(f) => &mut f.common,
        }
    }

    /// The form a stored record is edited in, filled with its values.
    pub fn from_record(record: &Record) -> Form {
        let at = record.meta.occurred_at;
        let common = CommonForm {
            hamlet_id: record.meta.hamlet_id.clone(),
            date: at.format("%Y-%m-%d").to_string(),
            time: at.format("%H:%M").to_string(),
        };
        match &record.body {
            Body::Visit(v) => Form::Visit(VisitForm {
                common,
                household: v.household.clone(),
                people_helped: v.people_helped.to_string(),
                topics: v.topics.clone(),
                notes: v.notes.clone(),
            }),
            Body::SignatureHelp(s) => {
                let p = s.person.as_ref();
                Form::SignatureHelp(SignatureForm {
                    common,
                    consent: s.consent,
                    display_name: p.map(|p| p.display_name.clone()).unwrap_or_default(),
                    birth_year: p.map(|p| p.birth_year.to_string()).unwrap_or_default(),
                    sex: p.map(|p| p.sex.code().to_owned()).unwrap_or_default(),
                    ethnic_group: p.and_then(|p| p.ethnic_group.clone()).unwrap_or_default(),
                    phone: p.and_then(|p| p.phone.clone()).unwrap_or_default(),
                    citizen_id: String::new(),
                    keep_last4: p.is_some_and(|p| p.cid_last4.is_some()),
                    kept_cid: p.and_then(|p| {
                        Some(KeptCid {
                            hash: p.cid_hash.clone()?,
                            key_id: p.cid_key_id.clone().unwrap_or_default(),
                            sealed: p.cid_sealed.clone(),
                            last4: p.cid_last4.clone(),
                        })
                    }),
                    level_before: s.level_before,
                    level_after: s.level_after,
                    outcome: s.outcome,
                    failure_reason: s.failure_reason.map(|r| r.code().to_owned()).unwrap_or_default(),
                    provider: s.provider.clone().unwrap_or_default(),
                    provider_other: String::new(),
                    parent_id: s.parent_id.map(|u| u.to_string()).unwrap_or_default(),
                })
            }
            Body::Training(t) => Form::Training(TrainingForm {
                common,
                kind: t.kind,
                topics: t.topics.clone(),
                total: t.total,
                women: t.women,
                ethnic_minority: t.ethnic_minority,
                trainers: t.trainers.clone(),
                platform: t.platform,
                platform_other: t.platform_other.clone().unwrap_or_default(),
            }),
            Body::Outreach(o) => Form::Outreach(OutreachForm {
                common,
                channel: o.channel,
                quantity: o.quantity.to_string(),
                reach: o.reach.to_string(),
                notes: o.notes.clone(),
            }),
        }
    }

    /// Checks every field; gives the record to save or every problem found.
    pub fn validate(&self, ctx: &Context) -> Result<Valid, Vec<FieldError>> {
        let mut e = Errors(Vec::new());
        match self {
            Form::Visit(f) => {
                let (h, at) = e.common(&f.common, ctx);
                let body = Body::Visit(Visit {
                    household: e.text("household", &f.household, true, SHORT_TEXT),
                    people_helped: e.count("people_helped", &f.people_helped, 1, 100),
                    topics: f.topics.clone(),
                    notes: e.text("notes", &f.notes, false, LONG_TEXT),
                });
                if f.topics.is_empty() {
                    e.add("topics", Problem::TopicRequired);
                }
                e.done(h, at, body)
            }
            Form::SignatureHelp(f) => {
                let (h, at) = e.common(&f.common, ctx);
                let person = if f.consent { Some(person(&mut e, f, ctx)) } else { None };
                let failure_reason = if f.outcome == Outcome::NotCompleted {
                    let r = FailureReason::from_code(&f.failure_reason);
                    if r.is_none() {
                        e.add("failure_reason", Problem::FailureReasonRequired);
                    }
                    r
                } else {
                    None
                };
                let provider = if f.provider == "other" {
                    Some(e.text("provider_other", &f.provider_other, true, SHORT_TEXT))
                } else {
                    (!f.provider.is_empty()).then(|| f.provider.clone())
                };
                let parent_id = Uuid::parse_str(&f.parent_id).ok();
                let body = Body::SignatureHelp(SignatureHelp {
                    consent: f.consent,
                    person,
                    level_before: f.level_before,
                    level_after: f.level_after,
                    outcome: f.outcome,
                    failure_reason,
                    provider,
                    parent_id,
                });
                e.done(h, at, body)
            }
            Form::Training(f) => {
                let (h, at) = e.common(&f.common, ctx);
                if f.total == 0 {
                    e.add("total", Problem::MustBePositive);
                } else if f.total > 5000 {
                    e.add("total", Problem::TooLarge);
                }
                if f.women > f.total {
                    e.add("women", Problem::WomenOverTotal);
                }
                if f.ethnic_minority > f.total {
                    e.add("ethnic_minority", Problem::MinorityOverTotal);
                }
                if f.topics.is_empty() {
                    e.add("topics", Problem::TopicRequired);
                }
                let platform_other = if f.platform == Platform::Other {
                    Some(e.text("platform_other", &f.platform_other, true, SHORT_TEXT))
                } else {
                    None
                };
                let body = Body::Training(Training {
                    kind: f.kind,
                    topics: f.topics.clone(),
                    total: f.total,
                    women: f.women,
                    ethnic_minority: f.ethnic_minority,
                    trainers: e.text("trainers", &f.trainers, true, SHORT_TEXT),
                    platform: f.platform,
                    platform_other,
                });
                e.done(h, at, body)
            }
            Form::Outreach(f) => {
                let (h, at) = e.common(&f.common, ctx);
                let body = Body::Outreach(Outreach {
                    channel: f.channel,
                    quantity: e.count("quantity", &f.quantity, 1, 100_000),
                    reach: e.count("reach", &f.reach, 0, 1_000_000),
                    notes: e.text("notes", &f.notes, false, LONG_TEXT),
                });
                e.done(h, at, body)
            }
        }
    }
}

fn person(e: &mut Errors, f: &SignatureForm, ctx: &Context) -> Person {
    let display_name = e.text("display_name", &f.display_name, true, SHORT_TEXT);
    let year = ctx.now.year();
    let birth_year = e.count("birth_year", &f.birth_year, 0, u32::MAX);
    if birth_year != 0 && !((year - 120) as u32..=(year - 14) as u32).contains(&birth_year) {
        e.add("birth_year", Problem::BirthYearRange);
    }
    let sex = Sex::from_code(&f.sex).unwrap_or_else(|| {
        e.add("sex", Problem::Required);
        Sex::Other
    });
    let phone = if f.phone.trim().is_empty() {
        None
    } else {
        let p = normalise_phone(&f.phone);
        if p.is_none() {
            e.add("phone", Problem::BadPhone);
        }
        p
    };
    let (cid_hash, cid_key_id, cid_sealed, cid_last4) = if f.citizen_id.trim().is_empty() {
        match &f.kept_cid {
            Some(k) => (
                Some(k.hash.clone()),
                Some(k.key_id.clone()),
                k.sealed.clone(),
                k.last4.clone().filter(|_| f.keep_last4),
            ),
            None => (None, None, None, None),
        }
    } else {
        match CitizenId::parse(&f.citizen_id) {
            Ok(id) => (
                Some(id.hash(ctx.cid_key)),
                Some(ctx.cid_key.id.clone()),
                ctx.seal_key.map(|k| id.seal(k)),
                f.keep_last4.then(|| id.last4()),
            ),
            Err(err) => {
                e.add(
                    "citizen_id",
                    match err {
                        CitizenIdError::NotDigits => Problem::CidNotDigits,
                        CitizenIdError::WrongLength => Problem::CidWrongLength,
                        CitizenIdError::BadProvince => Problem::CidBadProvince,
                    },
                );
                (None, None, None, None)
            }
        }
    };
    Person {
        display_name,
        birth_year: birth_year.min(u16::MAX as u32) as u16,
        sex,
        ethnic_group: e.optional_text("ethnic_group", &f.ethnic_group),
        phone,
        cid_hash,
        cid_key_id,
        cid_sealed,
        cid_last4,
    }
}

/// Longest key id a hash may name (`commune:CODE:1`, `device:…`).
pub const MAX_KEY_ID_CHARS: usize = 64;

/// Checks a record body that arrives from elsewhere (the server checks every push): the
/// same limits the forms enforce, without the clock, and a cap on every string and list.
/// Gives the offending field's name.
pub fn check_body(body: &Body) -> Result<(), &'static str> {
    /// Each topic at most once: a list no longer than there are topics.
    fn topics(list: &[Topic]) -> Result<(), &'static str> {
        let distinct: std::collections::BTreeSet<_> = list.iter().map(|t| t.code()).collect();
        if list.len() > Topic::ALL.len() || distinct.len() != list.len() {
            return Err("topics");
        }
        Ok(())
    }
    fn text(s: &str, field: &'static str, max: usize) -> Result<(), &'static str> {
        if s.chars().count() > max || s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
            return Err(field);
        }
        Ok(())
    }
    fn range(n: u32, field: &'static str, lo: u32, hi: u32) -> Result<(), &'static str> {
        if n < lo || n > hi {
            return Err(field);
        }
        Ok(())
    }
    match body {
        Body::Visit(v) => {
            text(&v.household, "household", SHORT_TEXT)?;
            if v.household.trim().is_empty() {
                return Err("household");
            }
            range(v.people_helped, "people_helped", 1, 100)?;
            topics(&v.topics)?;
            text(&v.notes, "notes", LONG_TEXT)
        }
        Body::SignatureHelp(s) => {
            if s.consent != s.person.is_some() {
                return Err("consent");
            }
            if (s.outcome == Outcome::NotCompleted) != s.failure_reason.is_some() {
                return Err("failure_reason");
            }
            if let Some(p) = &s.provider {
                text(p, "provider", SHORT_TEXT)?;
            }
            if let Some(p) = &s.person {
                text(&p.display_name, "display_name", SHORT_TEXT)?;
                range(p.birth_year as u32, "birth_year", 1880, 2100)?;
                if let Some(g) = &p.ethnic_group {
                    text(g, "ethnic_group", SHORT_TEXT)?;
                }
                if p.phone.as_deref().is_some_and(|ph| normalise_phone(ph).as_deref() != Some(ph)) {
                    return Err("phone");
                }
                if p.cid_hash.as_ref().is_some_and(|h| h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit())) {
                    return Err("citizen_id");
                }
                if p.cid_last4.as_ref().is_some_and(|l| l.len() != 4 || !l.bytes().all(|b| b.is_ascii_digit())) {
                    return Err("citizen_id");
                }
                if p.cid_sealed.as_deref().is_some_and(|h| !looks_sealed(h)) {
                    return Err("citizen_id");
                }
                if p.cid_key_id
                    .as_ref()
                    .is_some_and(|k| k.len() > MAX_KEY_ID_CHARS || !k.bytes().all(|b| b.is_ascii_graphic()))
                {
                    return Err("citizen_id");
                }
            }
            Ok(())
        }
        Body::Training(t) => {
            range(t.total, "total", 1, 5000)?;
            range(t.women, "women", 0, t.total)?;
            range(t.ethnic_minority, "ethnic_minority", 0, t.total)?;
            topics(&t.topics)?;
            text(&t.trainers, "trainers", SHORT_TEXT)?;
            if let Some(o) = &t.platform_other {
                text(o, "platform_other", SHORT_TEXT)?;
            }
            Ok(())
        }
        Body::Outreach(o) => {
            range(o.quantity, "quantity", 1, 100_000)?;
            range(o.reach, "reach", 0, 1_000_000)?;
            text(&o.notes, "notes", LONG_TEXT)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::sample::sample_reference;

    fn ctx_parts() -> (NaiveDateTime, ReferenceData, CidKey) {
        let now = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap().and_hms_opt(9, 30, 0).unwrap();
        (now, sample_reference(), CidKey::new("device:test", b"k".to_vec()))
    }

    fn problems(r: Result<Valid, Vec<FieldError>>) -> Vec<(&'static str, Problem)> {
        r.unwrap_err().into_iter().map(|e| (e.field, e.problem)).collect()
    }

    #[test]
    fn a_complete_visit_is_valid() {
        let (now, r, k) = ctx_parts();
        let ctx = Context { now, reference: &r, cid_key: &k, seal_key: None };
        let mut f = Form::blank(RecordKind::Visit, "h-konbraih", now);
        if let Form::Visit(v) = &mut f {
            v.household = "Nhà ông A Blúp".into();
            v.topics = vec![Topic::Vneid];
        }
        let valid = f.validate(&ctx).unwrap();
        assert_eq!(valid.body.person_times(), 1);
        assert_eq!(valid.occurred_at, now);
    }

    #[test]
    fn a_visit_reports_each_bad_field() {
        let (now, r, k) = ctx_parts();
        let ctx = Context { now, reference: &r, cid_key: &k, seal_key: None };
        let f = Form::Visit(VisitForm {
            common: CommonForm { hamlet_id: "nowhere".into(), date: "2026-12-31".into(), time: "25:00".into() },
            household: "  ".into(),
            people_helped: "ba".into(),
            topics: vec![],
            notes: String::new(),
        });
        let p = problems(f.validate(&ctx));
        assert!(p.contains(&("hamlet", Problem::UnknownHamlet)));
        assert!(p.contains(&("time", Problem::BadTime)));
        assert!(p.contains(&("household", Problem::Required)));
        assert!(p.contains(&("people_helped", Problem::NotANumber)));
        assert!(p.contains(&("topics", Problem::TopicRequired)));
    }

    #[test]
    fn a_future_date_is_refused() {
        let (now, r, k) = ctx_parts();
        let ctx = Context { now, reference: &r, cid_key: &k, seal_key: None };
        let mut f = Form::blank(RecordKind::Outreach, "h-plei", now);
        if let Form::Outreach(o) = &mut f {
            o.common.date = "2026-11-22".into();
            o.quantity = "2".into();
            o.reach = "300".into();
        }
        assert_eq!(problems(f.validate(&ctx)), vec![("date", Problem::InFuture)]);
    }

    #[test]
    fn without_consent_no_personal_detail_is_kept() {
        let (now, r, k) = ctx_parts();
        let ctx = Context { now, reference: &r, cid_key: &k, seal_key: None };
        let mut f = SignatureForm {
            common: Form::blank(RecordKind::SignatureHelp, "h-plei", now).common().clone(),
            ..Default::default()
        };
        f.display_name = "Y Hoa".into();
        f.citizen_id = "051203004567".into();
        let valid = Form::SignatureHelp(f).validate(&ctx).unwrap();
        match valid.body {
            Body::SignatureHelp(s) => {
                assert!(!s.consent);
                assert!(s.person.is_none());
            }
            _ => unreachable!(),
        }
    }

    #[test]
    fn with_consent_the_id_becomes_a_hash_and_last_four_digits() {
        let (now, r, k) = ctx_parts();
        let ctx = Context { now, reference: &r, cid_key: &k, seal_key: None };
        let f = SignatureForm {
            common: Form::blank(RecordKind::SignatureHelp, "h-plei", now).common().clone(),
            consent: true,
            display_name: "Y Hoa".into(),
            birth_year: "1980".into(),
            sex: "female".into(),
            phone: "0905 123 456".into(),
            citizen_id: "051203004567".into(),
            keep_last4: true,
            ..Default::default()
        };
        let server = crate::domain::citizen_id::OpenKey::generate();
        let ctx = Context { seal_key: Some(server.seal_key()), ..ctx };
        let valid = Form::SignatureHelp(f.clone()).validate(&ctx).unwrap();
        let person = match valid.body {
            Body::SignatureHelp(s) => s.person.unwrap(),
            _ => unreachable!(),
        };
        assert_eq!(person.phone.as_deref(), Some("0905123456"));
        assert_eq!(person.cid_last4.as_deref(), Some("4567"));
        assert_eq!(person.cid_hash.unwrap(), CitizenId::parse("051203004567").unwrap().hash(&k));
        let sealed = person.cid_sealed.expect("sealed for the server");
        let commune_key = CidKey::new("commune:1", b"c".to_vec());
        assert_eq!(
            server.open(&sealed).unwrap().hash(&commune_key),
            CitizenId::parse("051203004567").unwrap().hash(&commune_key)
        );
        // Unless the person asks, the last four digits are not kept.
        let unasked = SignatureForm { keep_last4: false, ..f.clone() };
        assert!(!SignatureForm::default().keep_last4);
        match Form::SignatureHelp(unasked).validate(&ctx).unwrap().body {
            Body::SignatureHelp(s) => assert_eq!(s.person.unwrap().cid_last4, None),
            _ => unreachable!(),
        }
        // The draft of the same form forgets the number.
        let draft = serde_json::to_string(&Form::SignatureHelp(f)).unwrap();
        assert!(!draft.contains("051203004567"));
    }

    #[test]
    fn signature_form_checks_id_phone_year_and_failure_reason() {
        let (now, r, k) = ctx_parts();
        let ctx = Context { now, reference: &r, cid_key: &k, seal_key: None };
        let f = SignatureForm {
            common: Form::blank(RecordKind::SignatureHelp, "h-plei", now).common().clone(),
            consent: true,
            display_name: "Y Hoa".into(),
            birth_year: "2020".into(),
            sex: String::new(),
            phone: "12345".into(),
            citizen_id: "12345".into(),
            outcome: Outcome::NotCompleted,
            ..Default::default()
        };
        let p = problems(Form::SignatureHelp(f).validate(&ctx));
        for expected in [
            ("birth_year", Problem::BirthYearRange),
            ("sex", Problem::Required),
            ("phone", Problem::BadPhone),
            ("citizen_id", Problem::CidWrongLength),
            ("failure_reason", Problem::FailureReasonRequired),
        ] {
            assert!(p.contains(&expected), "{expected:?} missing from {p:?}");
        }
    }

    #[test]
    fn training_attendance_cannot_exceed_the_total() {
        let (now, r, k) = ctx_parts();
        let ctx = Context { now, reference: &r, cid_key: &k, seal_key: None };
        let f = Form::Training(TrainingForm {
            common: Form::blank(RecordKind::Training, "h-plei", now).common().clone(),
            total: 10,
            women: 11,
            ethnic_minority: 12,
            topics: vec![Topic::AvoidScams],
            trainers: "Y Lan".into(),
            ..Default::default()
        });
        assert_eq!(
            problems(f.validate(&ctx)),
            vec![("women", Problem::WomenOverTotal), ("ethnic_minority", Problem::MinorityOverTotal)]
        );
    }

    #[test]
    fn phone_numbers_are_normalised() {
        assert_eq!(normalise_phone("+84 905 123 456").as_deref(), Some("0905123456"));
        assert_eq!(normalise_phone("0905.123.456").as_deref(), Some("0905123456"));
        assert_eq!(normalise_phone("905123456"), None);
        assert_eq!(normalise_phone("0005123456"), None);
    }
}
