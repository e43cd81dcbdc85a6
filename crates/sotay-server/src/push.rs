//! Reading a push record by record: the envelope (API version, device report, the list)
//! must be sound or the whole push is refused, but each record is read on its own, so one
//! the server cannot read (a wrong type, a code or field it does not know, a key twice) is
//! refused alone, with the path of the field in its reason, and the others are applied.
//!
//! Only a record whose `id` and `v` cannot be read at all has no answer of its own (the
//! app matches answers by both): then the whole push is refused with 400, and the app
//! halves its batch until that record is alone.

use serde::Deserialize;
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::domain::rules::Problem;
use crate::protocol::{Applied, DeviceReport, RecordResult, WireRecord};

/// A push as the server reads it first: the records still raw.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushEnvelope {
    pub api_version: u32,
    pub device: DeviceReport,
    pub records: Vec<Box<RawValue>>,
}

/// One pushed record, read or refused.
#[derive(Debug, Clone, PartialEq)]
pub enum PushItem {
    Record(Box<WireRecord>),
    /// Unreadable, with the answer it gets.
    Refused(RecordResult),
}

/// Just what identifies a record version, read leniently to answer an unreadable one.
#[derive(Deserialize)]
struct Ident {
    id: Uuid,
    v: i64,
}

/// A record that cannot be answered on its own: its `id` or `v` is unreadable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unidentifiable {
    /// Its position in the push.
    pub index: usize,
}

/// Reads each record of a push on its own.
pub fn read_records(raw: &[Box<RawValue>]) -> Result<Vec<PushItem>, Unidentifiable> {
    raw.iter().enumerate().map(|(index, r)| read_record(r.get()).ok_or(Unidentifiable { index })).collect()
}

/// Reads one record's JSON; `None` if not even its id and version can be read.
pub fn read_record(json: &str) -> Option<PushItem> {
    // Read plainly first: almost every record is sound, and tracking the path of every
    // field costs time. Only a record that fails is read again, for its path.
    if let Ok(record) = serde_json::from_str::<WireRecord>(json) {
        return Some(PushItem::Record(Box::new(record)));
    }
    let mut de = serde_json::Deserializer::from_str(json);
    let error = match serde_path_to_error::deserialize::<_, WireRecord>(&mut de) {
        Ok(record) => return Some(PushItem::Record(Box::new(record))),
        Err(e) => e,
    };
    let ident: Ident = serde_json::from_str(json).ok()?;
    let mut path = error_path(&error);
    if path == "b" {
        // Inside the body serde reads through a buffer (the body is tagged by its `type`)
        // and loses the path: read the body again, as its kind, to find the field.
        path = body_error_path(json).unwrap_or(path);
    }
    if path.is_empty() {
        path = "record".into();
    }
    let reason = crate::domain::labels::VI.field_path_problem(&path, Problem::Unreadable);
    Some(PushItem::Refused(RecordResult {
        id: ident.id,
        version: ident.v,
        result: Applied::Rejected,
        reason: Some(reason),
    }))
}

/// The path (`b.person.birth_year`) of what is wrong in a record's body, read as the kind
/// its `type` names, without the `type` key; `None` if the body is not an object.
fn body_error_path(record: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Outer<'a> {
        #[serde(borrow)]
        b: &'a RawValue,
    }
    let outer: Outer = serde_json::from_str(record).ok()?;
    let entries: Entries = serde_json::from_str(outer.b.get()).ok()?;
    let kind =
        entries.0.iter().find(|(k, _)| k == "type").and_then(|(_, v)| serde_json::from_str::<String>(v.get()).ok());
    // The same members in the same order (keys twice stay twice), less the tag.
    let mut rest = String::from("{");
    for (key, value) in entries.0.iter().filter(|(k, _)| k != "type") {
        if rest.len() > 1 {
            rest.push(',');
        }
        rest.push_str(&serde_json::to_string(key).ok()?);
        rest.push(':');
        rest.push_str(value.get());
    }
    rest.push('}');
    fn path_of<T: serde::de::DeserializeOwned>(json: &str) -> Option<String> {
        let mut de = serde_json::Deserializer::from_str(json);
        let e = serde_path_to_error::deserialize::<_, T>(&mut de).err()?;
        let path = error_path(&e);
        Some(if path.is_empty() { "b".into() } else { format!("b.{path}") })
    }
    use crate::domain::{Outreach, SignatureHelp, Training, Visit};
    match kind.as_deref() {
        Some("visit") => path_of::<Visit>(&rest),
        Some("signature_help") => path_of::<SignatureHelp>(&rest),
        Some("training") => path_of::<Training>(&rest),
        Some("outreach") => path_of::<Outreach>(&rest),
        _ => Some("b.type".into()),
    }
}

/// Every key a pushed record may have, at any depth: only these are repeated in a reason
/// (any other key is whatever the sender wrote, and a reason never repeats what was sent).
pub const WIRE_KEYS: &[&str] = &[
    "id",
    "v",
    "h",
    "u",
    "at",
    "sv",
    "x",
    "xr",
    "b",
    "type",
    "household",
    "people_helped",
    "topics",
    "notes",
    "consent",
    "person",
    "level_before",
    "level_after",
    "outcome",
    "failure_reason",
    "provider",
    "parent_id",
    "display_name",
    "birth_year",
    "sex",
    "ethnic_group",
    "phone",
    "cid_hash",
    "cid_key_id",
    "cid_sealed",
    "cid_last4",
    "kind",
    "total",
    "women",
    "ethnic_minority",
    "trainers",
    "platform",
    "platform_other",
    "channel",
    "quantity",
    "reach",
];

/// Where a decoding error is, as `b.topics[0]`: known keys and positions only, `?` for a
/// key the record should not have. A key given twice is named from serde's message, which
/// names a field of ours.
fn error_path(e: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let mut out = Vec::new();
    for segment in e.path().iter() {
        match segment {
            serde_path_to_error::Segment::Seq { index } => match out.last_mut() {
                Some(last) => *last = format!("{last}[{index}]"),
                None => out.push(format!("[{index}]")),
            },
            serde_path_to_error::Segment::Map { key } | serde_path_to_error::Segment::Enum { variant: key } => {
                out.push(if WIRE_KEYS.contains(&key.as_str()) { key.clone() } else { "?".into() })
            }
            serde_path_to_error::Segment::Unknown => out.push("?".into()),
        }
    }
    let message = e.inner().to_string();
    if let Some(name) = message.strip_prefix("duplicate field `").and_then(|m| m.split('`').next()) {
        if WIRE_KEYS.contains(&name) {
            // serde reports a key twice at the map that holds it; a person's keys are
            // the person's only.
            const PERSON: &[&str] = &[
                "display_name",
                "birth_year",
                "sex",
                "ethnic_group",
                "phone",
                "cid_hash",
                "cid_key_id",
                "cid_sealed",
                "cid_last4",
            ];
            if PERSON.contains(&name) && out.last().map(String::as_str) != Some("person") {
                out.push("person".into());
            }
            out.push(name.to_owned());
        }
    }
    out.join(".")
}

/// A JSON object's members in order, duplicates kept.
struct Entries<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Entries<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = Entries<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Entries<'de>, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, &'de RawValue>()? {
                    out.push((k, v));
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(Members)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(body: &str) -> String {
        format!(
            r#"{{"id":"0190b3c4-1f2e-7a00-8000-000000000001","v":1,"h":"h-plei","u":"v-lan","at":"2026-11-19T08:00:00","sv":"2026-11-19T01:00:00Z","b":{body}}}"#
        )
    }

    fn reason(json: &str) -> String {
        match read_record(json) {
            Some(PushItem::Refused(r)) => r.reason.unwrap(),
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn a_record_it_cannot_read_is_refused_naming_the_field() {
        let visit = |extra: &str| {
            record(&format!(
                r#"{{"type":"visit","household":"A","people_helped":1,"topics":["vneid"],"notes":""{extra}}}"#
            ))
        };
        assert!(matches!(read_record(&visit("")), Some(PushItem::Record(_))));
        // A key of its own is not repeated back.
        let unknown = reason(&visit(r#","nguyen_van_a":"red""#));
        assert!(unknown.contains("(b.?)") && !unknown.contains("nguyen"), "{unknown}");
        let twice = reason(&visit(r#","notes":"again""#));
        assert!(twice.contains("(b.notes)"), "{twice}");
        let topics = record(r#"{"type":"visit","household":"A","people_helped":1,"topics":["quantum"],"notes":""}"#);
        assert!(reason(&topics).contains("(b.topics[0])"), "{}", reason(&topics));
        // The tag anywhere, as a sorted JSON map writes it.
        let late = record(r#"{"household":"A","notes":"","people_helped":"1","topics":["vneid"],"type":"visit"}"#);
        assert!(reason(&late).contains("(b.people_helped)"), "{}", reason(&late));
        let person = record(
            r#"{"type":"signature_help","consent":true,"person":{"display_name":"A","birth_year":1980,"sex":"female","ethnic_group":null,"phone":null,"cid_hash":null,"cid_key_id":null,"cid_last4":null,"nick":"x"},"level_before":"none","level_after":"level2","outcome":"digital_signature","failure_reason":null,"provider":"VNPT-CA","parent_id":null}"#,
        );
        assert!(reason(&person).contains("(b.person.?)"), "{}", reason(&person));
        let kind = record(r#"{"type":"party"}"#);
        assert!(reason(&kind).contains("(b.type)"), "{}", reason(&kind));
        assert!(
            reason(&record(r#"{"type":"visit"}"#)).contains("Bản ghi")
                || reason(&record(r#"{"type":"visit"}"#)).contains("(b")
        );
        // The stamp too.
        let version = record(r#"{"type":"outreach","channel":"leaflet","quantity":1,"reach":0,"notes":""}"#)
            .replace(r#""v":1"#, r#""v":1,"v":2"#);
        assert!(read_record(&version).is_none() || reason(&version).contains("(v)"));
        // Without an id there is nothing to answer it by.
        assert_eq!(read_record(r#"{"v":1}"#), None);
    }
}
