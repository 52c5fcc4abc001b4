//! Parsing the incidents API body: one object or an array of them, every
//! field checked with a reason that names it. Nothing is stored unless the
//! whole body is valid.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value};

use super::{FieldError, Intake, PartyIn};
use crate::domain::{NewIncident, Position, Source};
use crate::spatial::crs::Datum;

/// Most incidents accepted in one request.
pub const MAX_BATCH: usize = 1000;
/// Clock skew tolerated for `reported_at` in the future.
pub const MAX_FUTURE_SKEW_MIN: i64 = 5;

const FIELDS: &[&str] = &[
    "source",
    "source_id",
    "reported_at",
    "lon",
    "lat",
    "crs",
    "category",
    "description",
    "address",
    "priority",
    "caller_phone",
    "caller_id_no",
    "caller_name",
];

/// Whether the body was one object or an array (the response mirrors it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    One,
    Many,
}

pub fn parse_body(body: &Value, now: DateTime<Utc>) -> Result<(Shape, Vec<Intake>), FieldError> {
    match body {
        Value::Object(obj) => Ok((Shape::One, vec![parse_one(obj, "", now)?])),
        Value::Array(items) => {
            if items.is_empty() {
                return Err(FieldError::new(
                    "body",
                    "array must contain at least one incident",
                ));
            }
            if items.len() > MAX_BATCH {
                return Err(FieldError::new(
                    "body",
                    format!(
                        "at most {MAX_BATCH} incidents per request, got {}",
                        items.len()
                    ),
                ));
            }
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let prefix = format!("[{i}].");
                let obj = item
                    .as_object()
                    .ok_or_else(|| FieldError::new(format!("[{i}]"), "must be a JSON object"))?;
                out.push(parse_one(obj, &prefix, now)?);
            }
            Ok((Shape::Many, out))
        }
        _ => Err(FieldError::new(
            "body",
            "must be a JSON object or an array of objects",
        )),
    }
}

fn parse_one(
    obj: &Map<String, Value>,
    prefix: &str,
    now: DateTime<Utc>,
) -> Result<Intake, FieldError> {
    let f = |name: &str| format!("{prefix}{name}");
    if let Some(unknown) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(FieldError::new(
            f(unknown),
            format!("unknown field; expected one of {}", FIELDS.join(", ")),
        ));
    }
    let source_text = required_str(obj, "source", prefix)?;
    let source = Source::parse_name(source_text).ok_or_else(|| {
        let known: Vec<&str> = Source::ALL.iter().map(|s| s.code()).collect();
        FieldError::new(
            f("source"),
            format!(
                "unknown source {source_text:?}; expected one of {} (or their Chinese names, e.g. 信访, 矛调, 四平台)",
                known.join(", ")
            ),
        )
    })?;
    let source_id = required_str(obj, "source_id", prefix)?.trim().to_string();
    if source_id.is_empty() || source_id.chars().count() > 128 {
        return Err(FieldError::new(
            f("source_id"),
            "must be 1 to 128 characters",
        ));
    }
    let reported_text = required_str(obj, "reported_at", prefix)?;
    let reported_at = DateTime::parse_from_rfc3339(reported_text)
        .map_err(|e| {
            FieldError::new(
                f("reported_at"),
                format!("must be an RFC 3339 timestamp with offset ({e})"),
            )
        })?
        .with_timezone(&Utc);
    if reported_at > now + Duration::minutes(MAX_FUTURE_SKEW_MIN) {
        return Err(FieldError::new(
            f("reported_at"),
            format!("is in the future ({reported_text}); at most {MAX_FUTURE_SKEW_MIN} minutes of clock skew is allowed"),
        ));
    }
    let address = optional_str(obj, "address", prefix, 256)?;
    let given = |k: &str| !matches!(obj.get(k), None | Some(Value::Null));
    // lon/lat are optional when an address is given: the pipeline geocodes it
    let coords = match (given("lon"), given("lat")) {
        (false, false) if address.is_some() => None,
        (false, false) => {
            return Err(FieldError::new(
                f("lon"),
                "is required (lon and lat, or an address to locate)",
            ))
        }
        _ => Some((
            required_number(obj, "lon", prefix)?,
            required_number(obj, "lat", prefix)?,
        )),
    };
    let datum = match obj.get("crs") {
        None | Some(Value::Null) => Datum::Wgs84,
        Some(Value::String(s)) => Datum::parse(s).ok_or_else(|| {
            FieldError::new(
                f("crs"),
                format!("unknown datum {s:?}; expected wgs84, gcj02 or bd09"),
            )
        })?,
        Some(_) => return Err(FieldError::new(f("crs"), "must be a string")),
    };
    let position = match coords {
        Some((lon, lat)) => {
            // validate the raw value first so the error shows what the client sent
            Position::new(lon, lat).map_err(|e| FieldError::new(f(e.field()), e.to_string()))?;
            let (wlon, wlat) = datum.to_wgs84(lon, lat);
            Some(
                Position::new(wlon, wlat)
                    .map_err(|e| FieldError::new(f(e.field()), e.to_string()))?,
            )
        }
        None => None,
    };
    let caller = PartyIn {
        role: "caller".into(),
        name: optional_str(obj, "caller_name", prefix, 64)?,
        phone: optional_str(obj, "caller_phone", prefix, 32)?,
        id_no: optional_str(obj, "caller_id_no", prefix, 32)?,
    };
    if let Some(p) = &caller.phone {
        if crate::privacy::normalize_phone(p).is_none() {
            return Err(FieldError::new(
                f("caller_phone"),
                "must be a phone number (digits, optionally +86, spaces, dashes)",
            ));
        }
    }
    if let Some(i) = &caller.id_no {
        let ok = (i.len() == 18 || i.len() == 15)
            && i.chars()
                .enumerate()
                .all(|(n, c)| c.is_ascii_digit() || (n == 17 && (c == 'X' || c == 'x')));
        if !ok {
            return Err(FieldError::new(
                f("caller_id_no"),
                "must be an 18-character (or old 15-digit) ID-card number",
            ));
        }
    }
    let parties = if caller.name.is_some() || caller.phone.is_some() || caller.id_no.is_some() {
        vec![caller]
    } else {
        Vec::new()
    };
    let priority = match obj.get("priority") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64() {
            Some(p @ 1..=4) => Some(p as u8),
            _ => {
                return Err(FieldError::new(
                    f("priority"),
                    format!("must be an integer 1 to 4, got {v}"),
                ))
            }
        },
    };
    let incident = NewIncident {
        source,
        source_id,
        reported_at,
        position,
        category: optional_str(obj, "category", prefix, 64)?,
        description: optional_str(obj, "description", prefix, 2000)?,
        address,
        priority,
        demo: false,
        detail: crate::domain::IncidentDetail {
            crs: coords.map(|_| datum.code().to_string()),
            ..Default::default()
        },
        raw: None,
    };
    Ok(Intake { incident, parties })
}

pub(crate) fn required_str<'a>(
    obj: &'a Map<String, Value>,
    name: &str,
    prefix: &str,
) -> Result<&'a str, FieldError> {
    match obj.get(name) {
        None | Some(Value::Null) => Err(FieldError::new(format!("{prefix}{name}"), "is required")),
        Some(Value::String(s)) => no_nul(s, name, prefix).map(|()| s.as_str()),
        Some(_) => Err(FieldError::new(
            format!("{prefix}{name}"),
            "must be a string",
        )),
    }
}

pub(crate) fn required_number(
    obj: &Map<String, Value>,
    name: &str,
    prefix: &str,
) -> Result<f64, FieldError> {
    match obj.get(name) {
        None | Some(Value::Null) => Err(FieldError::new(format!("{prefix}{name}"), "is required")),
        Some(Value::Number(n)) => n
            .as_f64()
            .ok_or_else(|| FieldError::new(format!("{prefix}{name}"), "must be a finite number")),
        Some(other) => Err(FieldError::new(
            format!("{prefix}{name}"),
            format!("must be a number in degrees, got {other}"),
        )),
    }
}

pub(crate) fn optional_str(
    obj: &Map<String, Value>,
    name: &str,
    prefix: &str,
    max_chars: usize,
) -> Result<Option<String>, FieldError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            no_nul(s, name, prefix)?;
            let s = s.trim();
            if s.chars().count() > max_chars {
                Err(FieldError::new(
                    format!("{prefix}{name}"),
                    format!("must be at most {max_chars} characters"),
                ))
            } else if s.is_empty() {
                Ok(None)
            } else {
                Ok(Some(s.to_string()))
            }
        }
        Some(_) => Err(FieldError::new(
            format!("{prefix}{name}"),
            "must be a string",
        )),
    }
}

/// PostgreSQL text cannot hold U+0000; refuse it here rather than fail the insert.
pub(crate) fn no_nul(s: &str, name: &str, prefix: &str) -> Result<(), FieldError> {
    if s.contains('\0') {
        Err(FieldError::new(
            format!("{prefix}{name}"),
            "must not contain NUL (U+0000) characters",
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        "2026-11-29T10:00:00Z".parse().unwrap()
    }

    fn good() -> Value {
        json!({"source":"110","source_id":"A1","reported_at":"2026-11-29T17:59:00+08:00",
               "lon":121.26,"lat":28.65,"category":"治安","description":"有人打架","address":"西城街道"})
    }

    fn err(body: Value) -> FieldError {
        parse_body(&body, now()).unwrap_err()
    }

    #[test]
    fn accepts_one_and_many() {
        let (shape, v) = parse_body(&good(), now()).unwrap();
        assert_eq!(shape, Shape::One);
        assert_eq!(v[0].incident.source, Source::Police110);
        assert_eq!(
            v[0].incident.reported_at,
            "2026-11-29T09:59:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        let (shape, v) = parse_body(&json!([good(), good()]), now()).unwrap();
        assert_eq!((shape, v.len()), (Shape::Many, 2));
    }

    #[test]
    fn names_the_field_and_reason() {
        let mut b = good();
        b["lat"] = json!(91.0);
        let e = err(b);
        assert_eq!(e.field, "lat");
        assert!(e.reason.contains("91"), "{}", e.reason);

        let mut b = good();
        b.as_object_mut().unwrap().remove("source_id");
        assert_eq!(err(b), FieldError::new("source_id", "is required"));

        let mut b = good();
        b["lon"] = json!("121.2");
        assert_eq!(err(b).field, "lon");

        let mut b = good();
        b["reported_at"] = json!("yesterday");
        assert_eq!(err(b).field, "reported_at");

        let mut b = good();
        b["reported_at"] = json!("2026-11-29T12:00:00Z");
        assert!(err(b).reason.contains("future"));

        let mut b = good();
        b["source"] = json!("119");
        assert_eq!(err(b).field, "source");

        let mut b = good();
        b["lng"] = json!(1);
        assert_eq!(err(b).field, "lng");

        let mut b = good();
        b["description"] = json!("a\u{0}b");
        assert_eq!(err(b).field, "description");

        let mut b = good();
        b["source_id"] = json!("x\u{0}");
        assert_eq!(err(b).field, "source_id");

        let mut b = good();
        b["priority"] = json!(7);
        assert_eq!(err(b).field, "priority");

        let mut second = good();
        second["lon"] = json!(200);
        assert_eq!(err(json!([good(), second])).field, "[1].lon");
        assert_eq!(err(json!([])).field, "body");
        assert_eq!(err(json!(3)).field, "body");
        assert_eq!(err(json!([good(), 5])).field, "[1]");
    }

    #[test]
    fn converts_gcj02_at_the_edge() {
        let mut b = good();
        b["crs"] = json!("gcj02");
        let (_, v) = parse_body(&b, now()).unwrap();
        let p = v[0].incident.position.unwrap();
        let d = crate::spatial::haversine_m(121.26, 28.65, p.lon(), p.lat());
        assert!((200.0..800.0).contains(&d), "moved {d} m");
    }

    #[test]
    fn address_instead_of_coordinates_and_callers() {
        let mut b = good();
        let o = b.as_object_mut().unwrap();
        o.remove("lon");
        o.remove("lat");
        o.insert("caller_phone".into(), json!("138 1234 1234"));
        o.insert("source".into(), json!("信访"));
        let (_, v) = parse_body(&b, now()).unwrap();
        assert_eq!(v[0].incident.position, None);
        assert_eq!(v[0].incident.source, Source::Petition);
        assert_eq!(v[0].parties[0].phone.as_deref(), Some("138 1234 1234"));
        b.as_object_mut().unwrap().remove("address");
        assert_eq!(err(b.clone()).field, "lon");
        let mut b = good();
        b["caller_phone"] = json!("call me");
        assert_eq!(err(b).field, "caller_phone");
        let mut b = good();
        b["caller_id_no"] = json!("12345");
        assert_eq!(err(b).field, "caller_id_no");
        let mut b = good();
        b.as_object_mut().unwrap().remove("lat");
        assert_eq!(err(b).field, "lat");
    }

    #[test]
    fn batch_limit() {
        let many: Vec<Value> = (0..=MAX_BATCH).map(|_| good()).collect();
        assert!(err(Value::Array(many)).reason.contains("at most"));
    }
}
