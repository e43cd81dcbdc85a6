//! `docs/openapi.json` held to the Rust types and the rule set: every code list is the
//! list's codes, every object's properties are the type's serde fields, its required ones
//! exactly those serde cannot do without, unknown fields refused where it says so, and every
//! bound and length it gives is the rule set's (one inside is taken, one outside refused,
//! naming the field).

use serde_json::{json, Value};
use sotay::domain::*;
use sotay::protocol::*;

use super::sync::demo_reference;

fn doc() -> Value {
    serde_json::from_str(sotay_server::OPENAPI).unwrap()
}

fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    let s = &doc["components"]["schemas"][name];
    assert!(s.is_object(), "schema {name} is in the document");
    s
}

#[test]
fn every_code_list_in_the_document_is_the_lists_codes() {
    let doc = doc();
    for (name, codes) in [
        ("Topic", Topic::CODES),
        ("Sex", Sex::CODES),
        ("AccountLevel", AccountLevel::CODES),
        ("Outcome", Outcome::CODES),
        ("FailureReason", FailureReason::CODES),
        ("TrainingKind", TrainingKind::CODES),
        ("Platform", Platform::CODES),
        ("Channel", Channel::CODES),
    ] {
        assert_eq!(schema(&doc, name)["enum"], json!(codes), "{name}");
    }
    let kinds: Vec<&str> =
        schema(&doc, "Body")["discriminator"]["mapping"].as_object().unwrap().keys().map(|k| k.as_str()).collect();
    let mut codes = RecordKind::CODES.to_vec();
    codes.sort();
    assert_eq!(kinds, codes);
    let errors: Vec<ErrorCode> =
        serde_json::from_value(schema(&doc, "ErrorBody")["properties"]["error"]["enum"].clone()).unwrap();
    assert!(errors.contains(&ErrorCode::MethodNotAllowed) && errors.contains(&ErrorCode::UnsupportedEncoding));
    assert_eq!(schema(&doc, "Health")["properties"]["api_version"]["enum"], json!([API_VERSION]));
}

/// A record of each kind with every field present, as JSON.
fn records() -> Vec<(&'static str, Value)> {
    let record = |body: Value| {
        json!({"id": uuid::Uuid::now_v7(), "v": 2, "h": "h-plei", "u": "v-lan", "at": "2026-11-19T08:00:00",
            "sv": "2026-11-19T03:00:00Z", "x": false, "xr": "nhầm", "b": body})
    };
    vec![
        (
            "Visit",
            record(
                json!({"type": "visit", "household": "Nhà A", "people_helped": 2, "topics": ["vneid"], "notes": "ghi chú"}),
            ),
        ),
        (
            "SignatureHelp",
            record(json!({"type": "signature_help", "consent": true,
                "person": {"display_name": "Y Hoa", "birth_year": 1980, "sex": "female", "ethnic_group": "Ba Na",
                    "phone": "0905123456", "cid_hash": null, "cid_key_id": null, "cid_sealed": "A".repeat(71), "cid_last4": "4567"},
                "level_before": "none", "level_after": "level2", "outcome": "digital_signature", "failure_reason": null,
                "provider": "VNPT-CA", "parent_id": uuid::Uuid::now_v7()})),
        ),
        (
            "Training",
            record(
                json!({"type": "training", "kind": "class", "topics": ["vneid", "avoid_scams"], "total": 10, "women": 4,
                "ethnic_minority": 3, "trainers": "Y Lan", "platform": "other", "platform_other": "Zalo"}),
            ),
        ),
        (
            "Outreach",
            record(json!({"type": "outreach", "channel": "poster", "quantity": 3, "reach": 200, "notes": ""})),
        ),
    ]
}

/// Checks one object schema against JSON `sample` that `reads` decodes: the same keys,
/// required exactly where removing the key fails, unknown keys refused where it says so.
fn holds(doc: &Value, name: &str, sample: &Value, reads: &dyn Fn(&Value) -> bool) {
    let s = schema(doc, name);
    assert!(reads(sample), "{name}: the sample reads");
    let props: Vec<&String> = s["properties"].as_object().unwrap().keys().collect();
    let mut keys: Vec<&String> = sample.as_object().unwrap().keys().collect();
    let mut sorted = props.clone();
    sorted.sort();
    keys.sort();
    assert_eq!(sorted, keys, "{name}: the document's properties are the type's fields");
    let required: Vec<&str> = s["required"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    for key in &props {
        let mut without = sample.clone();
        without.as_object_mut().unwrap().remove(key.as_str());
        assert_eq!(!reads(&without), required.contains(&key.as_str()), "{name}.{key}: required as serde needs it");
    }
    let mut unknown = sample.clone();
    unknown["zz_unknown"] = json!(1);
    assert_eq!(s["additionalProperties"], json!(false), "{name} says it refuses unknown fields");
    assert!(!reads(&unknown), "{name} refuses an unknown field");
}

fn reads<T: serde::de::DeserializeOwned>() -> impl Fn(&Value) -> bool {
    |v: &Value| serde_json::from_value::<T>(v.clone()).is_ok()
}

/// `reads` for a part of a record: put back where `at` points in `record`.
fn reads_in(record: Value, at: &'static str) -> impl Fn(&Value) -> bool {
    move |part: &Value| {
        let mut whole = record.clone();
        *whole.pointer_mut(at).unwrap() = part.clone();
        serde_json::from_value::<WireRecord>(whole).is_ok()
    }
}

#[test]
fn every_object_in_the_document_has_the_types_fields_and_required_ones() {
    let doc = doc();
    for (name, record) in records() {
        holds(&doc, "WireRecord", &record, &reads::<WireRecord>());
        holds(&doc, name, &record["b"], &reads_in(record.clone(), "/b"));
        if name == "SignatureHelp" {
            holds(&doc, "Person", &record["b"]["person"], &reads_in(record.clone(), "/b/person"));
        }
    }
    let push = json!({"api_version": 2, "device": {"queued": 0, "app_version": "0.1.0"}, "records": []});
    holds(&doc, "PushRequest", &push, &reads::<PushRequest>());
    holds(&doc, "DeviceReport", &push["device"], &reads::<DeviceReport>());
    holds(
        &doc,
        "EnrolRequest",
        &json!({"api_version": 2, "code": "ABCD-EFGH", "device_name": "Máy"}),
        &reads::<EnrolRequest>(),
    );
    let result = json!({"id": uuid::Uuid::now_v7(), "v": 1, "r": "rejected", "reason": "…"});
    holds(&doc, "RecordResult", &result, &reads::<RecordResult>());
    let page = json!({"changes": [[1, {"type": "erase", "id": uuid::Uuid::now_v7()}]], "cursor": 1, "more": false});
    holds(
        &doc,
        "PushResponse",
        &json!({"api_version": 2, "server_time": chrono::Utc::now(), "results": [result], "pull": page}),
        &reads::<PushResponse>(),
    );
    holds(&doc, "PushPull", &page, &reads::<PushPull>());
    holds(&doc, "ErrorBody", &json!({"api_version": 2, "error": "not_found", "message": "x"}), &reads::<ErrorBody>());
    let reference = serde_json::to_value(demo_reference()).unwrap();
    let changes = [
        ("ReferenceChange", json!({"type": "reference", "reference": reference})),
        ("CoverageChange", json!({"type": "coverage", "coverage": {"hamlet_id": "h-plei", "helped_signed": 3}})),
        ("EraseChange", json!({"type": "erase", "id": uuid::Uuid::now_v7()})),
        ("AssignmentChange", json!({"type": "assignment", "volunteers": ["v-lan"]})),
        (
            "PinCodeChange",
            json!({"type": "pin_code", "volunteer_id": "v-lan", "hash": "$argon2id$…", "expires_at": chrono::Utc::now()}),
        ),
    ];
    for (name, change) in &changes {
        holds(&doc, name, change, &reads::<Change>());
    }
    holds(&doc, "HamletCoverage", &changes[1].1["coverage"], &reads::<HamletCoverage>());
    let pull = json!({"api_version": 2, "server_time": chrono::Utc::now(), "changes": [[1, changes[1].1]], "cursor": 1, "more": false});
    holds(&doc, "PullResponse", &pull, &reads::<PullResponse>());
}

/// The rule set's answer for a record: the fields it refuses.
fn refused(record: &Value) -> Vec<&'static str> {
    match serde_json::from_value::<WireRecord>(record.clone()) {
        Ok(r) => r.check(&demo_reference(), chrono::Utc::now()).iter().map(|e| e.field).collect(),
        Err(_) => vec!["(unreadable)"],
    }
}

#[test]
fn every_bound_and_length_in_the_document_is_the_rule_sets() {
    let doc = doc();
    let records = records();
    let of = |kind: &str| records.iter().find(|(k, _)| *k == kind).unwrap().1.clone();
    // (schema, property, the record it is tried in, where in it, the rule set's field).
    let numbers = [
        ("Visit", "people_helped", "Visit", "/b/people_helped", "people_helped"),
        ("Training", "total", "Training", "/b/total", "total"),
        ("Outreach", "quantity", "Outreach", "/b/quantity", "quantity"),
        ("Outreach", "reach", "Outreach", "/b/reach", "reach"),
        ("WireRecord", "v", "Visit", "/v", "version"),
    ];
    let mut tried = 0;
    for (name, prop, kind, at, field) in numbers {
        let s = &schema(&doc, name)["properties"][prop];
        let (lo, hi) = (s["minimum"].as_i64().unwrap(), s["maximum"].as_i64().unwrap());
        for (value, ok) in [(lo, true), (hi, true), (lo - 1, false), (hi + 1, false)] {
            let mut r = of(kind);
            *r.pointer_mut(at).unwrap() = json!(value);
            if name == "Training" {
                // Women and ethnic minority are at most the total.
                r["b"]["women"] = json!(0);
                r["b"]["ethnic_minority"] = json!(0);
            }
            let refused = refused(&r);
            let named = refused.contains(&field) || (refused == ["(unreadable)"] && value < 0);
            assert_eq!(!named, ok, "{name}.{prop} = {value}: refused {refused:?}");
            tried += 1;
        }
    }
    // Women and ethnic minority go up to the total's own maximum.
    let total_max = schema(&doc, "Training")["properties"]["total"]["maximum"].clone();
    for prop in ["women", "ethnic_minority"] {
        assert_eq!(schema(&doc, "Training")["properties"][prop]["maximum"], total_max, "{prop}");
    }
    let texts = [
        ("Visit", "household", "Visit", "/b/household", "household"),
        ("Visit", "notes", "Visit", "/b/notes", "notes"),
        ("Outreach", "notes", "Outreach", "/b/notes", "notes"),
        ("Training", "trainers", "Training", "/b/trainers", "trainers"),
        ("Training", "platform_other", "Training", "/b/platform_other", "platform_other"),
        ("SignatureHelp", "provider", "SignatureHelp", "/b/provider", "provider"),
        ("Person", "display_name", "SignatureHelp", "/b/person/display_name", "display_name"),
        ("Person", "ethnic_group", "SignatureHelp", "/b/person/ethnic_group", "ethnic_group"),
        ("WireRecord", "xr", "Visit", "/xr", "void_reason"),
    ];
    for (name, prop, kind, at, field) in texts {
        let s = &schema(&doc, name)["properties"][prop];
        let max = s["maxLength"].as_u64().unwrap() as usize;
        let min = s["minLength"].as_u64().unwrap_or(0) as usize;
        let mut cases = vec![
            ("ắ".repeat(max), true),
            ("ắ".repeat(max + 1), false),
            (" a".into(), false),
            ("a\u{1b}b".into(), false),
        ];
        if min == 1 {
            cases.push((String::new(), false));
        }
        for (value, ok) in cases {
            let mut r = of(kind);
            *r.pointer_mut(at).unwrap() = json!(value);
            if at == "/xr" {
                // A void reason is checked on a void.
                r["x"] = json!(true);
            }
            let refused = refused(&r);
            assert_eq!(
                !refused.contains(&field),
                ok,
                "{name}.{prop} of {} chars: refused {refused:?}",
                value.chars().count()
            );
            tried += 1;
        }
    }
    // Each topic once, at least one, at most all of them.
    let topics = &schema(&doc, "Visit")["properties"]["topics"];
    assert_eq!((topics["minItems"].as_u64(), topics["maxItems"].as_u64()), (Some(1), Some(Topic::ALL.len() as u64)));
    assert_eq!(topics["uniqueItems"], json!(true));
    for (list, ok) in [(json!([]), false), (json!(["vneid", "vneid"]), false), (json!(Topic::CODES), true)] {
        let mut r = of("Visit");
        r["b"]["topics"] = list.clone();
        assert_eq!(!refused(&r).contains(&"topics"), ok, "{list}");
    }
    assert!(tried >= 50, "{tried} cases");
}

#[test]
fn every_route_documents_its_errors_with_a_json_body() {
    let doc = doc();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            for status in ["405", "408", "500"] {
                assert!(responses.contains_key(status), "{method} {path} documents {status}");
            }
            for (status, r) in responses {
                assert!(r["headers"]["x-sotay-api"].is_object(), "{method} {path} {status}: the version header");
                if status.starts_with('4') || status.starts_with('5') {
                    assert_eq!(r["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/ErrorBody");
                }
            }
            if op.get("security").is_some() {
                for status in ["400", "401", "403", "404", "426", "429"] {
                    assert!(responses.contains_key(status), "{method} {path} documents {status}");
                }
            }
            if op.get("requestBody").is_some() {
                assert!(responses.contains_key("413") && responses.contains_key("415"), "{method} {path}");
                let params: Vec<&str> =
                    op["parameters"].as_array().unwrap().iter().map(|p| p["$ref"].as_str().unwrap_or("")).collect();
                assert!(params.contains(&"#/components/parameters/ContentEncoding"), "{method} {path} declares gzip");
            }
        }
    }
    let gzip = &doc["components"]["parameters"]["ContentEncoding"];
    assert_eq!((gzip["in"].as_str(), gzip["schema"]["enum"][0].as_str()), (Some("header"), Some("gzip")));
    let pull = &doc["paths"]["/api/v1/c/{commune}/pull"]["get"]["parameters"];
    let limit = pull.as_array().unwrap().iter().find(|p| p["name"] == "limit").unwrap();
    assert_eq!(
        (limit["schema"]["minimum"].as_u64(), limit["schema"]["maximum"].as_u64()),
        (Some(1), Some(MAX_PULL_LIMIT as u64))
    );
}
