//! NENA EIDO (Emergency Incident Data Object, NENA-STA-021.1a-2022) JSON
//! documents, as exchanged between CAD / PSAP systems.
//!
//! We read the subset that locates and describes the incident:
//! - `incidentComponent` (object, or an array whose first element is used):
//!   `incidentTrackingIdentifier` → source_id (fallback: the document `$id` /
//!   `id`), `incidentTypeCommonRegistryText` → category (fallback
//!   `incidentTypeInternalCode`), `incidentCommonPriorityNumber` (0–10, 10
//!   highest) → priority, `locationReference`, `notesReference`,
//!   `personReference`, `internalIncidentId`.
//! - time: the earliest `callComponent[].callStartTimestamp`, else the
//!   incident's `lastUpdateTimestamp`, else the document's. Both spellings
//!   (`…Timestamp`, `…TimeStamp`) are read.
//! - `locationComponent[]` by `$id`: `locationByValue` as PIDF-LO XML (first
//!   `gml:pos` "lat lon", EPSG:4326; civic address `ca:A1…A6 RD HNO LMK LOC
//!   NAM` joined) or a GeoJSON `Point` object; `locationDescriptionText` as
//!   the address when there is no civic address. Datum **WGS-84**; a
//!   top-level `crs` (local extension) overrides it for CADs that emit
//!   GCJ-02 into PIDF-LO.
//! - `notesComponent[].notesActionComments` (HTML stripped) → text.
//! - `personComponent[]`: `personIncidentRoleRegistryText` → role,
//!   `ncPersonComponent.PersonName` → name, the phone from the
//!   `callbackComponent` its `callBackReference` points at
//!   (`callBackInformationUri` `tel:`/`sip:`; a `+86` prefix is dropped).
//! - refs: `id`, `incidentTrackingIdentifier`, `internalIncidentId`,
//!   `issuingElementIdentification`, `linkedIncidents`
//!   (`linkComponent[].incidentTrackingIdentifier`), `mergedIncidents`,
//!   `agencies` (`agencyComponent[]` ids).
//!
//! Unknown *top-level* members are refused; members inside components that
//! we do not read are tolerated (EIDO components carry many optional parts).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::fields::{
    check_phone, kind, location, shanghai, Rec, Result, MAX_ADDRESS, MAX_SHORT, MAX_TEXT,
};
use super::{Crs, PartyIn, RawLocation, RecordError, SourceRecord, SourceSystem};

const TOP: &[&str] = &[
    "$schema",
    "$id",
    "id",
    "eidoVersion",
    "issuingElementIdentification",
    "sendingSystemIdentifier",
    "lastUpdateTimestamp",
    "lastUpdateTimeStamp",
    "updatedByAgencyReference",
    "updatedByAgentReference",
    "mergeComponent",
    "linkComponent",
    "incidentComponent",
    "callComponent",
    "callbackComponent",
    "dispatchComponent",
    "alarmsSensorsComponent",
    "agencyComponent",
    "agentComponent",
    "notesComponent",
    "additionalDataComponent",
    "locationComponent",
    "personComponent",
    "vehicleComponent",
    "emergencyResourceComponent",
    "crs",
];

pub const DEFAULT_CRS: Crs = Crs::Wgs84;

/// PIDF-LO civic address elements, in the order they are joined (Chinese
/// addresses run from the largest unit to the smallest, unseparated).
const CIVIC: &[&str] = &[
    "A1", "A2", "A3", "A4", "A5", "A6", "RD", "HNO", "LMK", "LOC", "NAM",
];

pub(super) fn parse(obj: &Map<String, Value>, now: DateTime<Utc>) -> Result<SourceRecord> {
    let doc = Rec::new(obj);
    doc.only(TOP)?;

    let incident_obj = match doc.get("incidentComponent") {
        Some(Value::Object(m)) => m,
        Some(Value::Array(a)) => match a.first() {
            Some(Value::Object(m)) => m,
            _ => {
                return Err(doc.err(
                    "incidentComponent",
                    "must be an object or a non-empty array of objects",
                ))
            }
        },
        Some(other) => {
            return Err(doc.err(
                "incidentComponent",
                format!("must be an object, got {}", kind(other)),
            ))
        }
        None => return Err(doc.err("incidentComponent", "is required")),
    };
    let inc = Rec::nested(incident_obj, "incidentComponent.");

    let doc_id = match doc.text("$id", MAX_SHORT * 2)? {
        Some(id) => Some(id),
        None => doc.text("id", MAX_SHORT * 2)?,
    };
    let tracking = inc.text("incidentTrackingIdentifier", 128)?;
    let source_id = match (&tracking, &doc_id) {
        (Some(_), _) => inc.id("incidentTrackingIdentifier")?,
        (None, Some(d)) => d.clone(),
        (None, None) => {
            return Err(inc.err(
                "incidentTrackingIdentifier",
                "is required (or a document $id)",
            ))
        }
    };

    let reported_at = reported_at(&doc, &inc)?;
    // (the future check names the field the time came from)
    let (time_field, t) = reported_at;
    if t > now + chrono::Duration::minutes(super::MAX_FUTURE_SKEW_MIN) {
        return Err(RecordError::new(
            time_field.clone(),
            format!(
                "is in the future ({}); at most {} minutes of clock skew is allowed",
                t.with_timezone(&shanghai()).to_rfc3339(),
                super::MAX_FUTURE_SKEW_MIN
            ),
        ));
    }

    let category = match inc.text("incidentTypeCommonRegistryText", MAX_SHORT)? {
        Some(c) => Some(c),
        None => inc.text("incidentTypeInternalCode", MAX_SHORT)?,
    };
    let priority = match inc.uint("incidentCommonPriorityNumber")? {
        None => None,
        Some(9..=10) => Some(1),
        Some(7..=8) => Some(2),
        Some(4..=6) => Some(3),
        Some(0..=3) => Some(4),
        Some(n) => {
            return Err(inc.err(
                "incidentCommonPriorityNumber",
                format!("must be an integer 0 to 10, got {n}"),
            ))
        }
    };

    let crs = doc.crs("crs", DEFAULT_CRS)?;
    let locations = components(&doc, "locationComponent")?;
    let chosen = pick(&inc, "locationReference", &locations)?;
    let (location, address) = match chosen {
        Some((i, l)) => read_location(&Rec::nested(l, format!("locationComponent[{i}].")), crs)?,
        None => (None, None),
    };
    if location.is_none() && address.is_none() {
        return Err(RecordError::new(
            "location",
            "neither a geodetic position nor a civic address / locationDescriptionText is given \
             in the incident's locationComponent",
        ));
    }

    let notes = components(&doc, "notesComponent")?;
    let note_list = pick_all(&inc, "notesReference", &notes)?;
    let mut texts = Vec::new();
    for (i, n) in note_list {
        let nr = Rec::nested(n, format!("notesComponent[{i}]."));
        if let Some(t) = nr.text("notesActionComments", MAX_TEXT)? {
            let t = strip_html(&t);
            if !t.is_empty() {
                texts.push(t);
            }
        }
    }
    let text = if texts.is_empty() {
        None
    } else {
        Some(texts.join("\n"))
    };

    let callbacks = components(&doc, "callbackComponent")?;
    let mut parties = Vec::new();
    for (i, p) in pick_all(
        &inc,
        "personReference",
        &components(&doc, "personComponent")?,
    )? {
        if let Some(party) = read_person(
            &Rec::nested(p, format!("personComponent[{i}].")),
            &callbacks,
        )? {
            parties.push(party);
        }
    }

    let mut refs = Map::new();
    if let Some(id) = doc_id {
        refs.insert("id".into(), Value::String(id));
    }
    if let Some(t) = tracking {
        refs.insert("incidentTrackingIdentifier".into(), Value::String(t));
    }
    for (key, f) in [
        ("internalIncidentId", &inc),
        ("issuingElementIdentification", &doc),
    ] {
        if let Some(v) = f.text(key, 128)? {
            refs.insert(key.into(), Value::String(v));
        }
    }
    for (key, comp) in [
        ("linkedIncidents", "linkComponent"),
        ("mergedIncidents", "mergeComponent"),
    ] {
        let mut ids = Vec::new();
        for (i, c) in components(&doc, comp)? {
            let cr = Rec::nested(c, format!("{comp}[{i}]."));
            ids.push(Value::String(
                cr.text_req("incidentTrackingIdentifier", 128)?,
            ));
        }
        if !ids.is_empty() {
            refs.insert(key.into(), Value::Array(ids));
        }
    }
    let mut agencies = Vec::new();
    for (i, a) in components(&doc, "agencyComponent")? {
        let ar = Rec::nested(a, format!("agencyComponent[{i}]."));
        if let Some(id) = ar.text("agencyIdentifier", 128)?.or(ar.text("$id", 128)?) {
            agencies.push(Value::String(id));
        }
    }
    if !agencies.is_empty() {
        refs.insert("agencies".into(), Value::Array(agencies));
    }

    Ok(SourceRecord {
        source: SourceSystem::Eido,
        source_id,
        source_category: category,
        occurred_at: None,
        reported_at: t,
        location,
        address,
        text,
        priority,
        parties,
        refs,
        raw: Value::Null,
    })
}

/// The event time and the path it was read from.
fn reported_at(doc: &Rec, inc: &Rec) -> Result<(String, DateTime<Utc>)> {
    let mut earliest: Option<(String, DateTime<Utc>)> = None;
    for (i, c) in components(doc, "callComponent")? {
        let cr = Rec::nested(c, format!("callComponent[{i}]."));
        if let Some(t) = cr.time_any("callStartTimestamp")? {
            if earliest.as_ref().is_none_or(|(_, e)| t < *e) {
                earliest = Some((cr.path("callStartTimestamp"), t));
            }
        }
    }
    if let Some(e) = earliest {
        return Ok(e);
    }
    for r in [inc, doc] {
        for f in ["lastUpdateTimestamp", "lastUpdateTimeStamp"] {
            if let Some(t) = r.time_any(f)? {
                return Ok((r.path(f), t));
            }
        }
    }
    Err(inc.err(
        "lastUpdateTimestamp",
        "is required (or callComponent[].callStartTimestamp, or the document's lastUpdateTimestamp)",
    ))
}

type Components<'a> = Vec<(usize, &'a Map<String, Value>)>;

/// A component list: an array of objects (a single object is taken as one).
fn components<'a>(doc: &Rec<'a>, name: &str) -> Result<Components<'a>> {
    match doc.get(name) {
        None => Ok(Vec::new()),
        Some(Value::Object(m)) => Ok(vec![(0, m)]),
        Some(Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_object()
                    .map(|m| (i, m))
                    .ok_or_else(|| doc.err(&format!("{name}[{i}]"), "must be an object"))
            })
            .collect(),
        Some(other) => Err(doc.err(
            name,
            format!("must be an array of objects, got {}", kind(other)),
        )),
    }
}

/// The reference targets named in `field` of `r` (`{"$ref": id}`, `"id"`,
/// `"$ref:id"` or `"#id"`, one or an array).
fn references(r: &Rec, field: &str) -> Result<Vec<String>> {
    let one = |v: &Value, at: String| -> Result<String> {
        let s = match v {
            Value::String(s) => s.as_str(),
            Value::Object(m) => m.get("$ref").and_then(Value::as_str).unwrap_or(""),
            _ => "",
        };
        let s = s.trim().trim_start_matches("$ref:").trim_start_matches('#');
        if s.is_empty() {
            Err(RecordError::new(
                at,
                "must be a reference {\"$ref\": \"<component $id>\"}",
            ))
        } else {
            Ok(s.to_string())
        }
    };
    match r.get(field) {
        None => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(i, v)| one(v, r.path(&format!("{field}[{i}]"))))
            .collect(),
        Some(v) => Ok(vec![one(v, r.path(field))?]),
    }
}

fn find<'a>(list: &Components<'a>, id: &str) -> Option<(usize, &'a Map<String, Value>)> {
    list.iter()
        .copied()
        .find(|(_, m)| m.get("$id").and_then(Value::as_str).map(str::trim) == Some(id))
}

/// The first referenced component, or the first component when the incident
/// references none. A reference that resolves to nothing is an error.
fn pick<'a>(
    inc: &Rec,
    field: &str,
    list: &Components<'a>,
) -> Result<Option<(usize, &'a Map<String, Value>)>> {
    Ok(pick_all(inc, field, list)?.into_iter().next())
}

/// Every referenced component in reference order, or all of them when the
/// incident references none.
fn pick_all<'a>(inc: &Rec, field: &str, list: &Components<'a>) -> Result<Components<'a>> {
    let refs = references(inc, field)?;
    if refs.is_empty() {
        return Ok(list.clone());
    }
    refs.iter()
        .enumerate()
        .map(|(i, id)| {
            find(list, id).ok_or_else(|| {
                inc.err(
                    &format!("{field}[{i}]"),
                    format!("refers to {id:?}, which no component has as $id"),
                )
            })
        })
        .collect()
}

fn read_location(l: &Rec, crs: Crs) -> Result<(Option<RawLocation>, Option<String>)> {
    let mut point = None;
    let mut civic = None;
    match l.get("locationByValue") {
        None => {}
        Some(Value::String(xml)) => {
            let f = "locationByValue";
            if let Some(srs) = attr(xml, "srsName") {
                if !(srs.ends_with("4326") || srs.ends_with("4979")) {
                    return Err(l.err(
                        f,
                        format!("unsupported srsName {srs:?}; expected EPSG 4326 or 4979"),
                    ));
                }
            }
            if let Some(pos) = elements(xml, "pos").into_iter().next() {
                let nums: Vec<f64> = pos
                    .split_whitespace()
                    .filter_map(|s| s.parse().ok())
                    .collect();
                if nums.len() < 2 || nums.len() != pos.split_whitespace().count() {
                    return Err(l.err(f, format!("gml:pos must be \"lat lon\", got {pos:?}")));
                }
                // PIDF-LO / EPSG:4326 axis order is latitude first
                point =
                    Some(location(nums[1], nums[0], crs).map_err(|(_, reason)| l.err(f, reason))?);
            }
            let parts: Vec<String> = CIVIC
                .iter()
                .filter_map(|tag| elements(xml, tag).into_iter().next())
                .filter(|s| !s.is_empty())
                .collect();
            if !parts.is_empty() {
                let a = parts.concat();
                if a.chars().count() > MAX_ADDRESS {
                    return Err(l.err(
                        f,
                        format!("civic address must be at most {MAX_ADDRESS} characters"),
                    ));
                }
                civic = Some(a);
            }
        }
        Some(Value::Object(g)) => {
            let f = "locationByValue";
            let c = match (g.get("type").and_then(Value::as_str), g.get("coordinates")) {
                (Some("Point"), Some(Value::Array(c))) if c.len() >= 2 => c,
                _ => return Err(l.err(f, "must be PIDF-LO XML text or a GeoJSON Point object")),
            };
            let (Some(lon), Some(lat)) = (c[0].as_f64(), c[1].as_f64()) else {
                return Err(l.err(f, "GeoJSON coordinates must be numbers [lon, lat]"));
            };
            point = Some(location(lon, lat, crs).map_err(|(_, reason)| l.err(f, reason))?);
        }
        Some(other) => {
            return Err(l.err(
                "locationByValue",
                format!("must be PIDF-LO XML text, got {}", kind(other)),
            ))
        }
    }
    let address = match civic {
        Some(a) => Some(a),
        None => l.text("locationDescriptionText", MAX_ADDRESS)?,
    };
    Ok((point, address))
}

fn read_person(p: &Rec, callbacks: &Components) -> Result<Option<PartyIn>> {
    let roles: Vec<String> = match p.get("personIncidentRoleRegistryText") {
        None => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect(),
        Some(other) => {
            return Err(p.err(
                "personIncidentRoleRegistryText",
                format!("must be an array of strings, got {}", kind(other)),
            ))
        }
    };
    let has = |w: &[&str]| {
        roles.iter().any(|r| {
            w.iter()
                .any(|x| r.to_ascii_lowercase().replace(' ', "").contains(x))
        })
    };
    let role = if has(&["caller"]) {
        "caller"
    } else if has(&["reportingparty", "witness", "reporter"]) {
        "reporter"
    } else if has(&["suspect", "subject", "offender"]) {
        "subject"
    } else {
        "party"
    };

    let mut name = None;
    if let Some(Value::Object(person)) = p.get("ncPersonComponent") {
        let pr = Rec::nested(person, p.path("ncPersonComponent."));
        if let Some(Value::Object(n)) = pr.get("PersonName") {
            let nr = Rec::nested(n, pr.path("PersonName."));
            name = match nr.text("PersonFullName", MAX_SHORT)? {
                Some(full) => Some(full),
                None => {
                    let sur = nr.text("PersonSurName", MAX_SHORT)?;
                    let given = nr.text("PersonGivenName", MAX_SHORT)?;
                    match (sur, given) {
                        (Some(s), Some(g)) if s.is_ascii() && g.is_ascii() => {
                            Some(format!("{g} {s}"))
                        }
                        (Some(s), Some(g)) => Some(format!("{s}{g}")),
                        (s, g) => s.or(g),
                    }
                }
            };
        }
    }

    let mut phone = None;
    let targets = references(p, "callBackReference")?;
    if let Some(id) = targets.first() {
        let (i, cb) = find(callbacks, id).ok_or_else(|| {
            p.err(
                "callBackReference",
                format!("refers to {id:?}, which no callbackComponent has as $id"),
            )
        })?;
        let cr = Rec::nested(cb, format!("callbackComponent[{i}]."));
        let uri = match cr.get("callBackInformationUri") {
            Some(Value::Array(a)) => a.first().and_then(Value::as_str).map(str::to_string),
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        };
        if let Some(u) = uri {
            let number = tel_number(&u);
            check_phone(&number).map_err(|r| cr.err("callBackInformationUri", r))?;
            phone = Some(number);
        }
    }
    Ok(super::fields::party(role, name, phone, None))
}

/// `tel:+86-138-5760-1234` → `13857601234`; `sip:+8613857601234@x;user=phone`
/// → `13857601234`; other text as is.
fn tel_number(uri: &str) -> String {
    let u = uri.trim();
    let u = u
        .strip_prefix("tel:")
        .or_else(|| u.strip_prefix("sip:"))
        .unwrap_or(u);
    let u = u.split(['@', ';']).next().unwrap_or(u);
    let compact: String = u.chars().filter(|c| *c != '-' && *c != ' ').collect();
    compact
        .strip_prefix("+86")
        .map(str::to_string)
        .unwrap_or(compact)
}

/// The text content of every element with local name `name` (any prefix).
fn elements(xml: &str, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(lt) = rest.find('<') {
        rest = &rest[lt + 1..];
        let tag_end = rest
            .find(['>', ' ', '/', '\t', '\n', '\r'])
            .unwrap_or(rest.len());
        let tag = &rest[..tag_end];
        let local = tag.rsplit(':').next().unwrap_or(tag);
        if local != name || tag.starts_with('/') {
            continue;
        }
        let Some(gt) = rest.find('>') else { break };
        if rest[..gt].ends_with('/') {
            continue; // <x/>
        }
        let body = &rest[gt + 1..];
        let close = format!("</{tag}>");
        if let Some(end) = body.find(&close) {
            out.push(unescape(body[..end].trim()));
            rest = &body[end + close.len()..];
        } else {
            break;
        }
    }
    out
}

/// The value of the first `name="…"` attribute.
fn attr(xml: &str, name: &str) -> Option<String> {
    let at = xml.find(&format!("{name}="))?;
    let rest = &xml[at + name.len() + 1..];
    let q = rest.chars().next()?;
    if q != '"' && q != '\'' {
        return None;
    }
    let rest = &rest[1..];
    rest.find(q).map(|end| rest[..end].to_string())
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&")
}

/// Notes are HTML5: drop tags (block ends become spaces) and entities.
fn strip_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    unescape(&out)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::super::fields::testing::{now, utc};
    use super::super::{parse_body, parse_record};
    use super::*;
    use serde_json::json;

    const SAMPLE: &str = include_str!("../../../docs/samples/eido.json");
    const BAD: &str = include_str!("../../../docs/samples/bad/eido.json");

    #[test]
    fn sample_parses_fully() {
        let body: Value = serde_json::from_str(SAMPLE).unwrap();
        let v = parse_body(SourceSystem::Eido, &body, now()).unwrap();
        assert!(v.len() >= 3);
        for (i, r) in v.iter().enumerate() {
            assert!(r.is_ok(), "[{i}]: {r:?}");
        }
        let r = v[0].as_ref().unwrap();
        assert_eq!(
            r.source_id,
            "urn:emergency:uid:incidentid:3c1a8e42f0:police.huangyan.tz.zj.cn"
        );
        assert_eq!(r.reported_at, utc("2026-03-19T02:20:33Z"));
        assert_eq!(r.source_category.as_deref(), Some("Fire.Structure"));
        assert_eq!(r.priority, Some(1));
        let loc = r.location.as_ref().unwrap();
        assert_eq!(
            (loc.lon, loc.lat, loc.crs),
            (121.233876, 28.638183, Crs::Wgs84)
        );
        assert_eq!(
            r.address.as_deref(),
            Some("浙江省台州市黄岩区澄江街道横屋村工业区模具厂")
        );
        assert_eq!(
            r.text.as_deref(),
            Some("报警人称模具厂二号车间冒出大量黑烟，疑似起火。\n车间内可能有2名工人未撤出，已通知119。")
        );
        assert_eq!(
            r.parties,
            vec![PartyIn {
                role: "caller".into(),
                name: Some("陈建明".into()),
                phone: Some("13626563377".into()),
                id_no: None,
            }]
        );
        assert_eq!(r.refs["id"], "eido-20260319-0131");
        assert_eq!(r.refs["incidentTrackingIdentifier"], r.source_id.as_str());
        assert_eq!(r.refs["internalIncidentId"], "331003202603190131");
        assert_eq!(
            r.refs["linkedIncidents"],
            json!(["urn:emergency:uid:incidentid:77b0d1aa21:fire.huangyan.tz.zj.cn"])
        );
        assert_eq!(
            r.refs["agencies"],
            json!(["police.huangyan.tz.zj.cn", "fire.huangyan.tz.zj.cn"])
        );
        // the second uses GeoJSON + description only, the third civic only (no position)
        assert!(v.iter().any(|r| r.as_ref().unwrap().location.is_none()));
    }

    #[test]
    fn malformed_documents_name_the_field() {
        let body: Value = serde_json::from_str(BAD).unwrap();
        let v = parse_body(SourceSystem::Eido, &body, now()).unwrap();
        let fields: Vec<String> = v
            .iter()
            .map(|r| r.as_ref().map_or_else(|e| e.field.clone(), |_| "ok".into()))
            .collect();
        assert_eq!(
            fields,
            [
                "incidentComponent.incidentTrackingIdentifier",
                "callComponent[0].callStartTimestamp",
                "locationComponent[0].locationByValue",
                "location",
                "callComponent[0].callStartTimestamp",
                "incidentComponent.locationReference[0]",
                "incidentComponent.incidentCommonPriorityNumber",
                "incidentReport",
                "ok"
            ]
        );
        assert!(v[4].as_ref().unwrap_err().reason.contains("future"));
    }

    #[test]
    fn helpers() {
        assert_eq!(tel_number("tel:+86-138-5760-1234"), "13857601234");
        assert_eq!(
            tel_number("sip:+8613857601234@ims.example;user=phone"),
            "13857601234"
        );
        assert_eq!(tel_number("tel:0576-84701234"), "057684701234");
        assert_eq!(strip_html("<p>a &amp; b</p><p>c</p>"), "a & b c");
        let xml = r#"<presence><gp:geopriv><gp:location-info><gml:Point srsName="urn:ogc:def:crs:EPSG::4326"><gml:pos>28.6 121.2</gml:pos></gml:Point><ca:civicAddress><ca:A1>浙江省</ca:A1><ca:A3/></ca:civicAddress></gp:location-info></gp:geopriv></presence>"#;
        assert_eq!(elements(xml, "pos"), ["28.6 121.2"]);
        assert_eq!(elements(xml, "A1"), ["浙江省"]);
        assert!(elements(xml, "A3").is_empty());
        assert_eq!(
            attr(xml, "srsName").as_deref(),
            Some("urn:ogc:def:crs:EPSG::4326")
        );
        let doc = json!({"incidentComponent":{"incidentTrackingIdentifier":"T","lastUpdateTimestamp":"2026-03-19T10:00:00+08:00"},
                         "locationComponent":[{"$id":"l","locationByValue":xml}],"crs":"gcj02"});
        let r = parse_record(SourceSystem::Eido, &doc, now()).unwrap();
        let l = r.location.unwrap();
        assert_eq!((l.lon, l.lat, l.crs), (121.2, 28.6, Crs::Gcj02));
        assert_eq!(r.address.as_deref(), Some("浙江省"));
    }
}
