//! Parsing the responders API bodies: roster entries (`POST
//! /api/v1/responders`) and position batches (`POST
//! /api/v1/responders/positions`), every field checked with a reason that
//! names it. Phone numbers are masked here, at the edge: the clear number
//! never goes further.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::incident_json::{optional_str, required_number, required_str, Shape};
use super::FieldError;
use crate::domain::responder::mask_phone;
use crate::domain::{Fix, Position, ResponderSpec, ResponderType, Status};
use crate::spatial::crs::Datum;

/// Most roster entries or positions in one request.
pub const MAX_BATCH: usize = 1000;
/// Most skills per responder.
pub const MAX_SKILLS_EACH: usize = 16;

type Obj = Map<String, Value>;
/// One position item: the responder id and its fix, or why it was refused.
pub type ParsedFix = Result<(String, Fix), FieldError>;

const RESPONDER_FIELDS: &[&str] = &[
    "id",
    "name",
    "type",
    "skills",
    "station",
    "post",
    "department",
    "phone",
    "shift",
    "status",
    "demo",
];

const POSITION_FIELDS: &[&str] = &[
    "id", "lon", "lat", "ts", "speed", "heading", "accuracy", "altitude", "battery", "crs",
];

fn items<'a>(body: &'a Value, what: &str) -> Result<(Shape, Vec<&'a Obj>), FieldError> {
    match body {
        Value::Object(o) => Ok((Shape::One, vec![o])),
        Value::Array(list) => {
            if list.is_empty() {
                return Err(FieldError::new(
                    "body",
                    format!("array must contain at least one {what}"),
                ));
            }
            if list.len() > MAX_BATCH {
                return Err(FieldError::new(
                    "body",
                    format!(
                        "at most {MAX_BATCH} {what}s per request, got {}",
                        list.len()
                    ),
                ));
            }
            list.iter()
                .enumerate()
                .map(|(i, v)| {
                    v.as_object()
                        .ok_or_else(|| FieldError::new(format!("[{i}]"), "must be a JSON object"))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(|v| (Shape::Many, v))
        }
        _ => Err(FieldError::new(
            "body",
            "must be a JSON object or an array of objects",
        )),
    }
}

fn prefix(shape: Shape, i: usize) -> String {
    match shape {
        Shape::One => String::new(),
        Shape::Many => format!("[{i}]."),
    }
}

fn unknown(obj: &Map<String, Value>, known: &[&str], prefix: &str) -> Result<(), FieldError> {
    match obj.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(FieldError::new(
            format!("{prefix}{k}"),
            format!("unknown field; expected one of {}", known.join(", ")),
        )),
        None => Ok(()),
    }
}

/// A responder id: 1–64 characters, no whitespace or control characters
/// (it appears in URLs and device settings).
pub fn check_id(id: &str, field: &str) -> Result<(), FieldError> {
    let n = id.chars().count();
    if n == 0 || n > 64 {
        return Err(FieldError::new(
            field,
            format!("must be 1 to 64 characters, got {n}"),
        ));
    }
    if let Some(c) = id
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || *c == '/')
    {
        return Err(FieldError::new(
            field,
            format!("must not contain whitespace, control characters or '/', found {c:?}"),
        ));
    }
    Ok(())
}

/// The roster body: all entries valid or nothing (ids unique in the batch).
pub fn parse_responders(body: &Value) -> Result<(Shape, Vec<ResponderSpec>), FieldError> {
    let (shape, list) = items(body, "responder")?;
    let mut out = Vec::with_capacity(list.len());
    let mut seen = std::collections::HashMap::new();
    for (i, obj) in list.into_iter().enumerate() {
        let p = prefix(shape, i);
        let spec = parse_responder(obj, &p)?;
        if let Some(first) = seen.insert(spec.id.clone(), i) {
            return Err(FieldError::new(
                format!("{p}id"),
                format!("duplicate id {:?} (also at [{first}])", spec.id),
            ));
        }
        out.push(spec);
    }
    Ok((shape, out))
}

fn parse_responder(obj: &Map<String, Value>, p: &str) -> Result<ResponderSpec, FieldError> {
    unknown(obj, RESPONDER_FIELDS, p)?;
    let id = required_str(obj, "id", p)?.trim().to_string();
    check_id(&id, &format!("{p}id"))?;
    let name = required_str(obj, "name", p)?.trim().to_string();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(FieldError::new(
            format!("{p}name"),
            "must be 1 to 64 characters",
        ));
    }
    let kind_text = required_str(obj, "type", p)?;
    let kind = ResponderType::parse(kind_text).ok_or_else(|| {
        let known: Vec<&str> = ResponderType::ALL.iter().map(|t| t.code()).collect();
        FieldError::new(
            format!("{p}type"),
            format!(
                "unknown type {kind_text:?}; expected one of {}",
                known.join(", ")
            ),
        )
    })?;
    let skills = match obj.get("skills") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => {
            if a.len() > MAX_SKILLS_EACH {
                return Err(FieldError::new(
                    format!("{p}skills"),
                    format!("at most {MAX_SKILLS_EACH} skills, got {}", a.len()),
                ));
            }
            let mut v = Vec::with_capacity(a.len());
            for (j, s) in a.iter().enumerate() {
                let field = format!("{p}skills[{j}]");
                let s = s
                    .as_str()
                    .ok_or_else(|| FieldError::new(field.clone(), "must be a string"))?
                    .trim();
                if s.is_empty() || s.chars().count() > 32 || s.contains(char::is_control) {
                    return Err(FieldError::new(
                        field,
                        "must be 1 to 32 printable characters",
                    ));
                }
                if !v.iter().any(|x: &String| x == s) {
                    v.push(s.to_string());
                }
            }
            v
        }
        Some(_) => {
            return Err(FieldError::new(
                format!("{p}skills"),
                "must be an array of strings",
            ))
        }
    };
    let status = match optional_str(obj, "status", p, 16)? {
        None => None,
        Some(s) => Some(Status::parse(&s).ok_or_else(|| {
            let known: Vec<&str> = Status::ALL.iter().map(|t| t.code()).collect();
            FieldError::new(
                format!("{p}status"),
                format!("unknown status {s:?}; expected one of {}", known.join(", ")),
            )
        })?),
    };
    if status.is_some_and(Status::is_assigned) {
        return Err(FieldError::new(
            format!("{p}status"),
            "a roster entry cannot start dispatched, en_route or on_scene; assign it to an incident instead",
        ));
    }
    let phone = optional_str(obj, "phone", p, 32)?;
    if let Some(ph) = &phone {
        if !ph
            .chars()
            .all(|c| c.is_ascii_digit() || " +-()".contains(c))
            || ph.chars().filter(char::is_ascii_digit).count() < 3
        {
            return Err(FieldError::new(
                format!("{p}phone"),
                "must be a phone number (digits, spaces, + - ( ) only)",
            ));
        }
    }
    let demo = match obj.get("demo") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(FieldError::new(format!("{p}demo"), "must be true or false")),
    };
    Ok(ResponderSpec {
        id,
        name,
        kind,
        skills,
        station: optional_str(obj, "station", p, 64)?,
        post: optional_str(obj, "post", p, 64)?,
        department: optional_str(obj, "department", p, 128)?,
        phone_masked: phone.as_deref().map(mask_phone),
        shift: optional_str(obj, "shift", p, 64)?,
        status,
        demo,
    })
}

fn optional_number(
    obj: &Map<String, Value>,
    name: &str,
    p: &str,
) -> Result<Option<f64>, FieldError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|v| v.is_finite())
            .map(Some)
            .ok_or_else(|| FieldError::new(format!("{p}{name}"), "must be a finite number")),
        Some(other) => Err(FieldError::new(
            format!("{p}{name}"),
            format!("must be a number, got {other}"),
        )),
    }
}

fn ranged(
    v: Option<f64>,
    field: String,
    lo: f64,
    hi: f64,
    unit: &str,
) -> Result<Option<f64>, FieldError> {
    match v {
        Some(x) if !(lo..=hi).contains(&x) => Err(FieldError::new(
            field,
            format!("must be between {lo} and {hi} {unit}, got {x}"),
        )),
        other => Ok(other),
    }
}

/// One position item; hygiene (future, outdated, jumps, …) is the live
/// world's job, this only checks shape and ranges.
pub fn parse_position(obj: &Map<String, Value>, p: &str) -> Result<(String, Fix), FieldError> {
    unknown(obj, POSITION_FIELDS, p)?;
    let id = required_str(obj, "id", p)?.trim().to_string();
    check_id(&id, &format!("{p}id"))?;
    let lon = required_number(obj, "lon", p)?;
    let lat = required_number(obj, "lat", p)?;
    let datum = match optional_str(obj, "crs", p, 16)? {
        None => Datum::Wgs84,
        Some(s) => Datum::parse(&s).ok_or_else(|| {
            FieldError::new(
                format!("{p}crs"),
                format!("unknown datum {s:?}; expected wgs84, gcj02 or bd09"),
            )
        })?,
    };
    let checked = |lon: f64, lat: f64| {
        Position::new(lon, lat)
            .map_err(|e| FieldError::new(format!("{p}{}", e.field()), e.to_string()))
    };
    checked(lon, lat)?;
    let (x, y) = datum.to_wgs84(lon, lat);
    let position = checked(x, y)?;
    let ts_text = required_str(obj, "ts", p)?;
    let ts = DateTime::parse_from_rfc3339(ts_text)
        .map_err(|e| {
            FieldError::new(
                format!("{p}ts"),
                format!("must be an RFC 3339 timestamp with offset ({e})"),
            )
        })?
        .with_timezone(&Utc);
    Ok((
        id,
        Fix {
            position,
            ts,
            speed_mps: ranged(
                optional_number(obj, "speed", p)?,
                format!("{p}speed"),
                0.0,
                150.0,
                "m/s",
            )?,
            heading: ranged(
                optional_number(obj, "heading", p)?,
                format!("{p}heading"),
                0.0,
                360.0,
                "degrees",
            )?,
            accuracy_m: ranged(
                optional_number(obj, "accuracy", p)?,
                format!("{p}accuracy"),
                0.0,
                100_000.0,
                "metres",
            )?,
            altitude_m: ranged(
                optional_number(obj, "altitude", p)?,
                format!("{p}altitude"),
                -1000.0,
                10_000.0,
                "metres",
            )?,
            battery: ranged(
                optional_number(obj, "battery", p)?,
                format!("{p}battery"),
                0.0,
                100.0,
                "percent",
            )?,
        },
    ))
}

/// The positions body: each item parsed on its own (a bad one does not
/// stop the others). Errors carry the item index.
pub fn parse_positions(body: &Value) -> Result<(Shape, Vec<ParsedFix>), FieldError> {
    let (shape, list) = items(body, "position")?;
    Ok((
        shape,
        list.into_iter()
            .enumerate()
            .map(|(i, obj)| parse_position(obj, &prefix(shape, i)))
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn roster_entries_are_checked_and_phones_masked() {
        let (shape, v) = parse_responders(&json!({"id":"P-1","name":"张三","type":"police","phone":"138 1234 5678","skills":["driving","driving"]})).unwrap();
        assert_eq!(shape, Shape::One);
        assert_eq!(v[0].phone_masked.as_deref(), Some("138****5678"));
        assert_eq!(v[0].skills, vec!["driving"]);
        let field = |b: Value| parse_responders(&b).unwrap_err().field;
        assert_eq!(field(json!({"id":"P-1","name":"x","type":"tank"})), "type");
        assert_eq!(field(json!({"id":"P 1","name":"x","type":"police"})), "id");
        assert_eq!(field(json!({"id":"P-1","type":"police"})), "name");
        assert_eq!(
            field(json!({"id":"P-1","name":"x","type":"police","phone":"call me"})),
            "phone"
        );
        assert_eq!(
            field(json!({"id":"P-1","name":"x","type":"police","status":"dispatched"})),
            "status"
        );
        assert_eq!(
            field(json!({"id":"P-1","name":"x","type":"police","colour":"red"})),
            "colour"
        );
        assert_eq!(
            field(
                json!([{"id":"A","name":"x","type":"police"},{"id":"A","name":"y","type":"grid"}])
            ),
            "[1].id"
        );
        assert_eq!(field(json!([])), "body");
    }

    #[test]
    fn positions_are_parsed_one_by_one() {
        let (_, v) = parse_positions(&json!([
            {"id":"P-1","lon":121.27,"lat":28.64,"ts":"2026-12-02T10:00:00Z","speed":3.5},
            {"id":"P-2","lon":121.27,"lat":91,"ts":"2026-12-02T10:00:00Z"},
            {"id":"P-3","lon":121.27,"lat":28.6,"ts":"yesterday"},
            {"id":"P-4","lon":121.27,"lat":28.6,"ts":"2026-12-02T10:00:00Z","heading":400},
            {"id":"P-5","lon":121.2758,"lat":28.6376,"ts":"2026-12-02T10:00:00Z","crs":"gcj02"}
        ]))
        .unwrap();
        assert!(v[0].is_ok());
        assert_eq!(v[1].as_ref().unwrap_err().field, "[1].lat");
        assert_eq!(v[2].as_ref().unwrap_err().field, "[2].ts");
        assert_eq!(v[3].as_ref().unwrap_err().field, "[3].heading");
        let (_, f) = v[4].as_ref().unwrap();
        assert!(
            (f.position.lon() - 121.2758).abs() > 0.003,
            "gcj02 shifted to wgs84"
        );
    }
}
