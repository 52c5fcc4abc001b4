//! 联勤工作站: a task a joint-duty station initiates itself (TAXONOMY §1.6):
//! key-person visits, dispute and hazard screening, joint mediation …
//!
//! - id `task_id`; event time `created_at` (required); `station` (`ST01` …)
//!   required.
//! - category: `task_type` verbatim (重点人员走访, 矛盾排查, 隐患排查, 联合调处 …).
//! - location: `lon`/`lat`, datum `crs`, default **WGS-84** (tasks are placed
//!   on the lianqin console map); `address`.
//! - priority: `priority` 1–4 as given (stations set it themselves), else none.
//! - party: `subject` `{name, id_no, phone}` → role `subject`.
//! - refs: `station`, `due_at` (RFC 3339, +08:00), `related_id`.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::fields::{
    party, require_place, shanghai, Rec, Result, MAX_ADDRESS, MAX_SHORT, MAX_TEXT,
};
use super::{Crs, SourceRecord, SourceSystem};

const FIELDS: &[&str] = &[
    "task_id",
    "station",
    "created_at",
    "task_type",
    "content",
    "address",
    "lon",
    "lat",
    "crs",
    "subject",
    "due_at",
    "priority",
    "related_id",
    "status",
    "assigned_to",
];

const SUBJECT_FIELDS: &[&str] = &["name", "id_no", "phone"];

pub const DEFAULT_CRS: Crs = Crs::Wgs84;

pub(super) fn parse(obj: &Map<String, Value>, now: DateTime<Utc>) -> Result<SourceRecord> {
    let r = Rec::new(obj);
    r.only(FIELDS)?;

    let source_id = r.id("task_id")?;
    let station = r.text_req("station", 16)?;
    let digits = station.strip_prefix("ST").unwrap_or("");
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(r.err(
            "station",
            format!("must be a station code like ST01, got {station:?}"),
        ));
    }
    let reported_at = r.time_req("created_at", now)?;
    let due_at = r.time_any("due_at")?;
    if due_at.is_some_and(|d| d < reported_at) {
        return Err(r.err("due_at", "must not be before created_at"));
    }
    for f in ["status", "assigned_to"] {
        r.text(f, MAX_SHORT)?;
    }

    let crs = r.crs("crs", DEFAULT_CRS)?;
    let location = r.point("lon", "lat", crs)?;
    let address = r.text("address", MAX_ADDRESS)?;
    require_place(&location, &address, "lon/lat", "address")?;

    let priority = match r.uint("priority")? {
        None => None,
        Some(p @ 1..=4) => Some(p as u8),
        Some(p) => return Err(r.err("priority", format!("must be an integer 1 to 4, got {p}"))),
    };

    let mut parties = Vec::new();
    if let Some(s) = r.object("subject")? {
        let p = Rec::nested(&s, "subject.");
        p.only(SUBJECT_FIELDS)?;
        parties.extend(party(
            "subject",
            p.text("name", MAX_SHORT)?,
            p.phone("phone")?,
            p.id_no("id_no")?,
        ));
    }

    let mut refs = Map::new();
    refs.insert("station".into(), Value::String(station));
    if let Some(d) = due_at {
        refs.insert(
            "due_at".into(),
            Value::String(d.with_timezone(&shanghai()).to_rfc3339()),
        );
    }
    if let Some(id) = r.text("related_id", MAX_SHORT)? {
        refs.insert("related_id".into(), Value::String(id));
    }

    Ok(SourceRecord {
        source: SourceSystem::Station,
        source_id,
        source_category: r.text("task_type", MAX_SHORT)?,
        occurred_at: None,
        reported_at,
        location,
        address,
        text: r.text("content", MAX_TEXT)?,
        priority,
        parties,
        refs,
        raw: Value::Null,
    })
}

#[cfg(test)]
mod tests {
    use super::super::fields::testing::{now, utc};
    use super::super::{parse_jsonl, parse_record, PartyIn};
    use super::*;
    use serde_json::json;

    const SAMPLE: &str = include_str!("../../../docs/samples/station.jsonl");
    const BAD: &str = include_str!("../../../docs/samples/bad/station.jsonl");

    #[test]
    fn sample_parses_fully() {
        let v = parse_jsonl(SourceSystem::Station, SAMPLE, now());
        assert!(v.len() >= 6);
        for (line, r) in &v {
            assert!(r.is_ok(), "line {line}: {r:?}");
        }
        let r = v[0].1.as_ref().unwrap();
        assert_eq!(r.source_id, "ST01-T20260318-003");
        assert_eq!(r.reported_at, utc("2026-03-18T01:00:00Z"));
        assert_eq!(r.source_category.as_deref(), Some("重点人员走访"));
        assert_eq!(r.priority, Some(3));
        let loc = r.location.as_ref().unwrap();
        assert_eq!(
            (loc.lon, loc.lat, loc.crs),
            (121.268901, 28.650712, Crs::Wgs84)
        );
        assert_eq!(
            r.parties,
            vec![PartyIn {
                role: "subject".into(),
                name: Some("钟某某".into()),
                phone: Some("13958677120".into()),
                id_no: Some("331003198811063412".into()),
            }]
        );
        assert_eq!(r.refs["station"], "ST01");
        assert_eq!(r.refs["due_at"], "2026-03-20T18:00:00+08:00");
        assert!(v
            .iter()
            .any(|(_, r)| r.as_ref().unwrap().refs.contains_key("related_id")));
        assert!(v
            .iter()
            .any(|(_, r)| r.as_ref().unwrap().location.is_none()));
    }

    #[test]
    fn due_at_may_be_in_the_future_but_not_before_creation() {
        let b = json!({"task_id":"T","station":"ST02","created_at":"2026-03-18 09:00:00",
                       "task_type":"隐患排查","address":"x","due_at":"2026-04-30 18:00:00"});
        assert!(parse_record(SourceSystem::Station, &b, now()).is_ok());
        let mut e = b.clone();
        e["due_at"] = json!("2026-03-18 08:00:00");
        assert_eq!(
            parse_record(SourceSystem::Station, &e, now())
                .unwrap_err()
                .field,
            "due_at"
        );
        e["due_at"] = json!(null);
        e["station"] = json!("东城站");
        assert_eq!(
            parse_record(SourceSystem::Station, &e, now())
                .unwrap_err()
                .field,
            "station"
        );
    }

    #[test]
    fn malformed_records_name_the_field() {
        let v = parse_jsonl(SourceSystem::Station, BAD, now());
        let fields: Vec<String> = v
            .iter()
            .map(|(_, r)| r.as_ref().map_or_else(|e| e.field.clone(), |_| "ok".into()))
            .collect();
        assert_eq!(
            fields,
            [
                "task_id",
                "created_at",
                "lat",
                "location",
                "created_at",
                "priority",
                "subject.id",
                "ok"
            ]
        );
    }
}
