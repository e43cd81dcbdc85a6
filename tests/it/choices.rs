//! Every choice of every list, walked through save → push → server → export. The form
//! saves it, the store keeps its code (in the body, and a training kind or channel in the
//! list's `subtype` column), the wire carries the same code, the server stores it and reads
//! it back as the same choice, and the office's activity figures and their XLSX and CSV
//! count it under its own label (outcomes, failure reasons and channels by name; record
//! kinds in the totals). Topics, sexes, account levels, training kinds and platforms are in
//! no export: their walk ends in the server's stored record.

use std::io::Cursor;

use calamine::{open_workbook_from_rs, Data, Reader, Xlsx};
use chrono::{Duration, Local};
use sotay::domain::validate::{Context, Form};
use sotay::domain::*;
use sotay::sync::engine::BatchSize;
use sotay::sync::run_once;
use uuid::Uuid;

use super::common::raw_conn;
use super::sync::{enrolled_device, start_server, COMMUNE};

/// One form per choice: the list's name, the choice's code, and the form that makes it.
fn forms(now: chrono::NaiveDateTime) -> Vec<(&'static str, &'static str, Form)> {
    let blank = |kind| Form::blank(kind, "h-plei", now);
    let mut out = Vec::new();
    let signature = |f: &mut dyn FnMut(&mut sotay::domain::validate::SignatureForm)| {
        let mut form = blank(RecordKind::SignatureHelp);
        if let Form::SignatureHelp(s) = &mut form {
            super::common::fill_signature_form(s);
            f(s);
        }
        form
    };
    for topic in Topic::ALL {
        let mut form = blank(RecordKind::Visit);
        if let Form::Visit(v) = &mut form {
            v.household = "Nhà A".into();
            v.topics = vec![*topic];
        }
        out.push(("Topic", topic.code(), form));
    }
    for sex in Sex::ALL {
        out.push(("Sex", sex.code(), signature(&mut |s| s.sex = sex.code().into())));
    }
    for level in AccountLevel::ALL {
        out.push((
            "AccountLevel",
            level.code(),
            signature(&mut |s| {
                s.level_before = *level;
                s.level_after = *level;
            }),
        ));
    }
    for outcome in Outcome::ALL {
        out.push((
            "Outcome",
            outcome.code(),
            signature(&mut |s| {
                s.outcome = Some(*outcome);
                s.failure_reason = FailureReason::Other.code().into();
            }),
        ));
    }
    for reason in FailureReason::ALL {
        out.push((
            "FailureReason",
            reason.code(),
            signature(&mut |s| {
                s.outcome = Some(Outcome::NotCompleted);
                s.failure_reason = reason.code().into();
            }),
        ));
    }
    for kind in TrainingKind::ALL {
        out.push(("TrainingKind", kind.code(), training(blank(RecordKind::Training), *kind, Platform::Mooc)));
    }
    for platform in Platform::ALL {
        out.push(("Platform", platform.code(), training(blank(RecordKind::Training), TrainingKind::Class, *platform)));
    }
    for channel in Channel::ALL {
        let mut form = blank(RecordKind::Outreach);
        if let Form::Outreach(o) = &mut form {
            o.channel = *channel;
            o.quantity = "2".into();
            o.reach = "50".into();
        }
        out.push(("Channel", channel.code(), form));
    }
    out
}

fn training(mut form: Form, kind: TrainingKind, platform: Platform) -> Form {
    if let Form::Training(t) = &mut form {
        t.kind = kind;
        t.platform = platform;
        t.platform_other = "Zalo".into();
        t.topics = vec![Topic::Vneid];
        t.total = 10;
        t.trainers = "Y Lan".into();
    }
    form
}

/// The choice of list `list` a body holds, as its code.
fn choice_in(list: &str, body: &Body) -> Option<&'static str> {
    match (list, body) {
        ("Topic", Body::Visit(v)) => v.topics.first().map(|t| t.code()),
        ("Sex", Body::SignatureHelp(s)) => s.person.as_ref().map(|p| p.sex.code()),
        ("AccountLevel", Body::SignatureHelp(s)) => Some(s.level_before.code()),
        ("Outcome", Body::SignatureHelp(s)) => Some(s.outcome.code()),
        ("FailureReason", Body::SignatureHelp(s)) => s.failure_reason.map(|f| f.code()),
        ("TrainingKind", Body::Training(t)) => Some(t.kind.code()),
        ("Platform", Body::Training(t)) => Some(t.platform.code()),
        ("Channel", Body::Outreach(o)) => Some(o.channel.code()),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_choice_of_every_list_keeps_its_code_from_the_form_to_the_office_exports() {
    let server = start_server().await;
    let device = enrolled_device(&server).await;
    let store = &device.store;
    let now = Local::now().naive_local() - Duration::hours(1);
    let now = now - Duration::seconds(now.and_utc().timestamp() % 60);
    let reference = store.reference().unwrap();
    let (cid_key, seal_key) = (store.cid_key().unwrap(), store.seal_key().unwrap());
    let ctx = Context { now, reference: &reference, cid_key: &cid_key, seal_key: seal_key.as_ref() };

    // 1. Saved through the form.
    let mut walked: Vec<(&str, &str, Uuid)> = Vec::new();
    for (list, code, form) in forms(now) {
        let valid = form.validate(&ctx).unwrap_or_else(|e| panic!("{list} {code}: {e:?}"));
        let record = store
            .create(NewRecord {
                hamlet_id: valid.hamlet_id,
                volunteer_id: "v-lan".into(),
                occurred_at: valid.occurred_at,
                body: valid.body,
            })
            .unwrap();
        walked.push((list, code, record.meta.id));
    }
    let lists = ["Topic", "Sex", "AccountLevel", "Outcome", "FailureReason", "TrainingKind", "Platform", "Channel"];
    let all: usize = [
        Topic::CODES.len(),
        Sex::CODES.len(),
        AccountLevel::CODES.len(),
        Outcome::CODES.len(),
        FailureReason::CODES.len(),
        TrainingKind::CODES.len(),
        Platform::CODES.len(),
        Channel::CODES.len(),
    ]
    .iter()
    .sum();
    assert_eq!(walked.len(), all, "one record per choice of {lists:?}");

    // 2. The store keeps the code: in the body, and as the list's subtype.
    let conn = raw_conn(&device.dir.path().join("sotay.db"));
    for (list, code, id) in &walked {
        let (body, subtype): (String, Option<String>) = conn
            .query_row("SELECT body, subtype FROM records WHERE id = ?", [id.to_string()], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert!(body.contains(&format!("\"{code}\"")), "{list} {code} stored as its code: {body}");
        if matches!(*list, "TrainingKind" | "Channel") {
            assert_eq!(subtype.as_deref(), Some(*code), "{list}'s subtype is its code");
        }
        // 3. And the wire carries the same code.
        let record = store.get(*id).unwrap().unwrap();
        let wire = serde_json::to_string(&sotay::sync::to_wire(&record)).unwrap();
        assert!(wire.contains(&format!("\"{code}\"")), "{list} {code} on the wire: {wire}");
    }

    // 4. Pushed, and the server holds the same choice.
    let report = run_once(store, &mut BatchSize::default()).await.unwrap();
    assert_eq!((report.sent, report.rejected), (walked.len(), 0));
    for (list, code, id) in &walked {
        let (row, _) = server.db.record(COMMUNE, *id).unwrap().unwrap_or_else(|| panic!("{list} {code} on the server"));
        assert_eq!(choice_in(list, &row.body), Some(*code), "{list} {code} read back on the server");
        assert_eq!(row.body, store.get(*id).unwrap().unwrap().body, "{list} {code}: the same body");
    }

    // 5. The office's figures and their exports count each outcome, reason and channel
    //    under its own label, and each kind in the totals.
    let bodies: Vec<Body> = walked.iter().map(|(_, _, id)| store.get(*id).unwrap().unwrap().body).collect();
    let day = now.date();
    let activity = server.db.activity_report(COMMUNE, day, day).unwrap();
    let t = &sotay_server::i18n::office::VI;
    let xlsx = sotay_server::export::activity_xlsx(&activity, t).unwrap();
    let mut book: Xlsx<_> = open_workbook_from_rs(Cursor::new(xlsx)).unwrap();
    let sheet = book.worksheet_range(t.sheet_activity).unwrap();
    let count_of = |label: &str| -> f64 {
        let row = sheet
            .rows()
            .find(|r| matches!(r.first(), Some(Data::String(s)) if s == label))
            .unwrap_or_else(|| panic!("a row for {label:?} in the XLSX"));
        match row.get(1) {
            Some(Data::Float(n)) => *n,
            Some(Data::Int(n)) => *n as f64,
            other => panic!("a count for {label}: {other:?}"),
        }
    };
    for outcome in Outcome::ALL {
        let n = bodies.iter().filter(|b| matches!(b, Body::SignatureHelp(s) if s.outcome == *outcome)).count();
        assert!(n >= 1);
        assert_eq!(activity.outcomes.iter().find(|(o, _)| o == outcome).unwrap().1 as usize, n, "{outcome:?}");
        // "Chưa hoàn thành" is also a total's label: the outcome table's row is the later one.
        let label = t.labels.outcomes[outcome.index()];
        if *outcome != Outcome::NotCompleted {
            assert_eq!(count_of(label), n as f64, "{outcome:?} in the XLSX");
        }
    }
    for reason in FailureReason::ALL {
        let n =
            bodies.iter().filter(|b| matches!(b, Body::SignatureHelp(s) if s.failure_reason == Some(*reason))).count();
        assert!(n >= 1);
        assert_eq!(activity.failure_reasons.iter().find(|(r, _)| r == reason).unwrap().1 as usize, n, "{reason:?}");
        assert_eq!(count_of(t.labels.failure_reasons[reason.index()]), n as f64, "{reason:?} in the XLSX");
    }
    for channel in Channel::ALL {
        let row = activity.channels.iter().find(|c| c.channel == channel.code()).unwrap();
        assert_eq!(row.activities, 1, "{channel:?}");
        assert_eq!(count_of(t.labels.channels[channel.index()]), 1.0, "{channel:?} in the XLSX");
    }
    let kinds = |k: RecordKind| bodies.iter().filter(|b| b.kind() == k).count() as u32;
    assert_eq!(activity.totals.visits, kinds(RecordKind::Visit));
    assert_eq!(activity.totals.signature_sessions, kinds(RecordKind::SignatureHelp));
    assert_eq!(activity.totals.trainings, kinds(RecordKind::Training));
    assert_eq!(activity.totals.outreach, kinds(RecordKind::Outreach));
    let csv = String::from_utf8(sotay_server::export::activity_csv(&activity, t).unwrap()).unwrap();
    let total_line = csv.lines().last().unwrap();
    let expected = sotay_server::export::counts(&activity.totals).map(|n| n.to_string()).join(";");
    assert!(total_line.ends_with(&expected), "{total_line} / {expected}");
}
