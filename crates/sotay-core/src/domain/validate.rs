//! Turning what a volunteer typed into a record, or saying what is wrong, field by field.
//!
//! Each form is a plain struct of the raw inputs (strings, ticks, choices), so a half-filled
//! form can be kept as a draft exactly as typed. [`Form::validate`] first reads the form
//! into the record it stands for (a number that is not a number, a date that is not a
//! date, a choice not made cannot even be read: those are the only problems found here),
//! then asks the one rule set, [`super::rules`], which the server runs on every push too.
//! Nothing invalid becomes a record, and nothing the form saves is refused by the server.
//! The citizen-ID number is the one input a draft never keeps (`#[serde(skip)]`).

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use uuid::Uuid;

use super::citizen_id::{CidKey, CitizenId, CitizenIdError, SealKey};
use super::record::*;
use super::reference::ReferenceData;
pub use super::rules::{normalise_phone, FieldError, Problem, MAX_KEY_ID_CHARS};
use super::rules::{Problems, Rules};

pub use super::form::*;

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

/// Reading a form's raw inputs: only what cannot be read at all is a problem here.
struct Reader(Problems);

impl Reader {
    fn add(&mut self, field: &'static str, problem: Problem) {
        self.0.add(field, problem);
    }

    /// A whole number as typed; empty, not a number, or beyond `u32`, says so.
    fn number(&mut self, field: &'static str, value: &str) -> u32 {
        let v = value.trim();
        if v.is_empty() {
            self.add(field, Problem::Required);
            return 0;
        }
        if !v.bytes().all(|b| b.is_ascii_digit()) {
            self.add(field, Problem::NotANumber);
            return 0;
        }
        match v.parse::<u32>() {
            Ok(n) => n,
            Err(_) => {
                self.add(field, Problem::TooLarge);
                0
            }
        }
    }

    fn common(&mut self, c: &CommonForm, ctx: &Context) -> (String, NaiveDateTime) {
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
        (c.hamlet_id.clone(), at)
    }
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
                    outcome: Some(s.outcome),
                    failure_reason: s.failure_reason.map(|r| r.code().to_owned()).unwrap_or_default(),
                    // A provider literally named "other" is typed under "other".
                    provider: s
                        .provider
                        .as_ref()
                        .map(|p| if p == OTHER { OTHER.to_owned() } else { p.clone() })
                        .unwrap_or_default(),
                    provider_other: s.provider.clone().filter(|p| p == OTHER).unwrap_or_default(),
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

    /// Checks every field with the one rule set; gives the record to save or every
    /// problem found, at most one per field.
    pub fn validate(&self, ctx: &Context) -> Result<Valid, Vec<FieldError>> {
        let (valid, problems) = self.read(ctx);
        let mut problems = Problems(problems);
        let rules = Rules::at(ctx.reference, ctx.now);
        for e in super::rules::check_entry(&valid.hamlet_id, valid.occurred_at, &valid.body, &rules) {
            let field = match (self, e.field) {
                // The provider typed under "other" is checked as the provider.
                (Form::SignatureHelp(f), "provider") if f.provider == OTHER => "provider_other",
                (_, field) => field,
            };
            problems.add(field, e.problem);
        }
        if let Form::SignatureHelp(SignatureForm { outcome: None, .. }) = self {
            // Until an outcome is chosen its follow-up questions are not asked.
            problems.0.retain(|e| !matches!(e.field, "failure_reason" | "provider" | "provider_other"));
        }
        if problems.0.is_empty() {
            Ok(valid)
        } else {
            Err(problems.0)
        }
    }

    /// The record the form stands for, as far as it can be read, and what could not be read
    /// (a number that is not one, a choice not made). With nothing unreadable, this is the
    /// record [`Form::validate`] hands the rule set.
    pub fn read(&self, ctx: &Context) -> (Valid, Vec<FieldError>) {
        let mut r = Reader(Problems::default());
        let (hamlet_id, occurred_at) = r.common(self.common(), ctx);
        let body = match self {
            Form::Visit(f) => Body::Visit(Visit {
                household: f.household.trim().to_owned(),
                people_helped: r.number("people_helped", &f.people_helped),
                topics: f.topics.clone(),
                notes: f.notes.trim().to_owned(),
            }),
            Form::SignatureHelp(f) => {
                let person = if f.consent { Some(person(&mut r, f, ctx)) } else { None };
                let outcome = f.outcome.unwrap_or_else(|| {
                    r.add("outcome", Problem::Required);
                    Outcome::DigitalSignature
                });
                let completed = outcome != Outcome::NotCompleted;
                let failure_reason = if completed {
                    None
                } else {
                    let reason = FailureReason::from_code(&f.failure_reason);
                    if reason.is_none() {
                        r.add("failure_reason", Problem::FailureReasonRequired);
                    }
                    reason
                };
                let provider = match f.provider.as_str() {
                    _ if !completed => None,
                    OTHER => Some(f.provider_other.trim().to_owned()),
                    "" => None,
                    chosen => Some(chosen.to_owned()),
                };
                Body::SignatureHelp(SignatureHelp {
                    consent: f.consent,
                    person,
                    level_before: f.level_before,
                    level_after: f.level_after,
                    outcome,
                    failure_reason,
                    provider,
                    parent_id: Uuid::parse_str(&f.parent_id).ok(),
                })
            }
            Form::Training(f) => Body::Training(Training {
                kind: f.kind,
                topics: f.topics.clone(),
                total: f.total,
                women: f.women,
                ethnic_minority: f.ethnic_minority,
                trainers: f.trainers.trim().to_owned(),
                platform: f.platform,
                platform_other: (f.platform == Platform::Other).then(|| f.platform_other.trim().to_owned()),
            }),
            Form::Outreach(f) => Body::Outreach(Outreach {
                channel: f.channel,
                quantity: r.number("quantity", &f.quantity),
                reach: r.number("reach", &f.reach),
                notes: f.notes.trim().to_owned(),
            }),
        };
        (Valid { hamlet_id, occurred_at, body }, r.0 .0)
    }
}

/// The provider choice that means "typed below".
pub const OTHER: &str = "other";

fn person(r: &mut Reader, f: &SignatureForm, ctx: &Context) -> Person {
    let birth_year = match f.birth_year.trim() {
        "" => {
            r.add("birth_year", Problem::Required);
            0
        }
        y if !y.bytes().all(|b| b.is_ascii_digit()) => {
            r.add("birth_year", Problem::NotANumber);
            0
        }
        y => y.parse::<u16>().unwrap_or_else(|_| {
            r.add("birth_year", Problem::BirthYearRange);
            0
        }),
    };
    let sex = Sex::from_code(&f.sex).unwrap_or_else(|| {
        r.add("sex", Problem::Required);
        Sex::Other
    });
    let phone = if f.phone.trim().is_empty() {
        None
    } else {
        let p = normalise_phone(&f.phone);
        if p.is_none() {
            r.add("phone", Problem::BadPhone);
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
                r.add(
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
    let ethnic_group = f.ethnic_group.trim();
    Person {
        display_name: f.display_name.trim().to_owned(),
        birth_year,
        sex,
        ethnic_group: (!ethnic_group.is_empty()).then(|| ethnic_group.to_owned()),
        phone,
        cid_hash,
        cid_key_id,
        cid_sealed,
        cid_last4,
    }
}

/// Where the citizen-ID number typed disagrees with the birth year or sex given: the 4th
/// digit encodes the century and sex, the 5th and 6th the year. A warning, not a refusal:
/// a person may state another sex than their card's, but a mistyped number would count
/// them as someone else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CidWarning {
    /// The number says this birth year.
    BirthYear(u16),
    /// The number says this sex.
    Sex(Sex),
}

/// The warnings for a signature form, if its citizen-ID number reads as one.
pub fn cid_warnings(f: &SignatureForm) -> Vec<CidWarning> {
    let Ok(id) = CitizenId::parse(&f.citizen_id) else { return Vec::new() };
    let (year, female) = id.birth();
    let mut out = Vec::new();
    if let Ok(typed) = f.birth_year.trim().parse::<u16>() {
        if f.birth_year.trim().len() == 4 && typed != year {
            out.push(CidWarning::BirthYear(year));
        }
    }
    let card = if female { Sex::Female } else { Sex::Male };
    if Sex::from_code(&f.sex).is_some_and(|s| s != Sex::Other && s != card) {
        out.push(CidWarning::Sex(card));
    }
    out
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
        f.outcome = Some(Outcome::DigitalSignature);
        f.provider = "VNPT-CA".into();
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
            outcome: Some(Outcome::PersonalESignature),
            provider: OTHER.into(),
            provider_other: " Bkav ".into(),
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
        assert_eq!(person.birth_year, 1980);
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
            outcome: Some(Outcome::NotCompleted),
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

    fn signature_ctx_form(now: NaiveDateTime) -> SignatureForm {
        SignatureForm {
            common: Form::blank(RecordKind::SignatureHelp, "h-plei", now).common().clone(),
            consent: true,
            display_name: "Y Hoa".into(),
            birth_year: "1980".into(),
            sex: "female".into(),
            outcome: Some(Outcome::DigitalSignature),
            provider: "VNPT-CA".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_birth_year_of_zero_or_out_of_range_is_refused_as_the_server_would() {
        let (now, r, k) = ctx_parts();
        let ctx = Context { now, reference: &r, cid_key: &k, seal_key: None };
        for (year, problem) in [
            ("0", Problem::BirthYearRange),
            ("1880", Problem::BirthYearRange),
            ("1905", Problem::BirthYearRange),
            ("2013", Problem::BirthYearRange),
            ("99999", Problem::BirthYearRange),
            ("", Problem::Required),
            ("19a0", Problem::NotANumber),
        ] {
            let f = SignatureForm { birth_year: year.into(), ..signature_ctx_form(now) };
            assert_eq!(problems(Form::SignatureHelp(f).validate(&ctx)), vec![("birth_year", problem)], "{year:?}");
        }
        for year in ["1906", "2012", " 1980 "] {
            let f = SignatureForm { birth_year: year.into(), ..signature_ctx_form(now) };
            assert!(Form::SignatureHelp(f).validate(&ctx).is_ok(), "{year:?}");
        }
    }

    #[test]
    fn a_signature_session_needs_a_chosen_outcome_and_a_success_needs_a_provider() {
        let (now, r, k) = ctx_parts();
        let ctx = Context { now, reference: &r, cid_key: &k, seal_key: None };
        // Nothing is chosen on a new form, so nothing is counted by default.
        let blank = match Form::blank(RecordKind::SignatureHelp, "h-plei", now) {
            Form::SignatureHelp(f) => f,
            _ => unreachable!(),
        };
        assert_eq!(blank.outcome, None);
        assert!(!blank.keep_last4);
        assert_eq!(problems(Form::SignatureHelp(blank.clone()).validate(&ctx)), vec![("outcome", Problem::Required)]);
        let success = SignatureForm { outcome: Some(Outcome::DigitalSignature), ..blank.clone() };
        assert_eq!(
            problems(Form::SignatureHelp(success.clone()).validate(&ctx)),
            vec![("provider", Problem::Required)]
        );
        let other = SignatureForm { provider: OTHER.into(), provider_other: "  ".into(), ..success.clone() };
        assert_eq!(problems(Form::SignatureHelp(other).validate(&ctx)), vec![("provider_other", Problem::Required)]);
        assert!(Form::SignatureHelp(SignatureForm { provider: "VNPT-CA".into(), ..success }).validate(&ctx).is_ok());
        // A provider picked before switching to "not completed" is not kept.
        let failed = SignatureForm {
            outcome: Some(Outcome::NotCompleted),
            failure_reason: "no_nfc".into(),
            provider: "VNPT-CA".into(),
            ..blank
        };
        match Form::SignatureHelp(failed).validate(&ctx).unwrap().body {
            Body::SignatureHelp(s) => assert_eq!((s.provider, s.failure_reason), (None, Some(FailureReason::NoNfc))),
            _ => unreachable!(),
        }
    }

    #[test]
    fn control_characters_in_text_are_refused_by_the_form_too() {
        let (now, r, k) = ctx_parts();
        let ctx = Context { now, reference: &r, cid_key: &k, seal_key: None };
        for (bad, field) in [("Nhà\u{0}A", "household"), ("Nhà\u{1b}[2J", "household")] {
            let f = Form::Visit(VisitForm {
                common: Form::blank(RecordKind::Visit, "h-plei", now).common().clone(),
                household: bad.into(),
                people_helped: "1".into(),
                topics: vec![Topic::Vneid],
                notes: "dòng 1\ndòng 2".into(),
            });
            assert_eq!(problems(f.validate(&ctx)), vec![(field, Problem::BadCharacters)]);
        }
    }

    #[test]
    fn the_id_number_is_checked_against_the_birth_year_and_sex_with_a_warning() {
        let (now, _, _) = ctx_parts();
        // 4th digit 1: born in the 1900s, female; 5th–6th: 80.
        let f = SignatureForm { citizen_id: "051180004567".into(), ..signature_ctx_form(now) };
        assert!(cid_warnings(&f).is_empty());
        let year = SignatureForm { birth_year: "1981".into(), ..f.clone() };
        assert_eq!(cid_warnings(&year), vec![CidWarning::BirthYear(1980)]);
        let sex = SignatureForm { sex: "male".into(), ..f.clone() };
        assert_eq!(cid_warnings(&sex), vec![CidWarning::Sex(Sex::Female)]);
        // A half-typed year or number warns of nothing yet.
        assert!(cid_warnings(&SignatureForm { birth_year: "19".into(), ..f.clone() }).is_empty());
        assert!(cid_warnings(&SignatureForm { citizen_id: "05118".into(), ..f }).is_empty());
    }

    #[test]
    fn phone_numbers_are_normalised() {
        assert_eq!(normalise_phone("+84 905 123 456").as_deref(), Some("0905123456"));
        assert_eq!(normalise_phone("0905.123.456").as_deref(), Some("0905123456"));
        assert_eq!(normalise_phone("905123456"), None);
        assert_eq!(normalise_phone("0005123456"), None);
    }
}
