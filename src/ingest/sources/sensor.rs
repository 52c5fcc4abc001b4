//! 物联感知 / 视频告警: one alarm from an IoT device or a video-analytics
//! camera, as pushed by the sensing platform.
//!
//! - id `alarm_id`; event time `ts` (Unix seconds or milliseconds, or any
//!   accepted date-time text), also used as occurred_at: a device alarms
//!   when it detects.
//! - category: `alarm_type` verbatim (one of [`ALARMS`]).
//! - priority: by alarm type (see [`ALARMS`]).
//! - location: `lon`/`lat`, datum `crs`, default **WGS-84** (surveyed device
//!   positions / device GPS); `location_desc` as address.
//! - text: a Chinese sentence composed from type, place and reading, e.g.
//!   `烟感告警：东城街道百花社区劳动北路118号3单元楼道检测到烟雾（设备 YG-…）`.
//! - refs: `device_id`, `device_type`, `confidence`, `snapshot_url`.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::fields::{parse_time, require_place, unix_time, Rec, Result, MAX_ADDRESS, MAX_SHORT};
use super::{Crs, SourceRecord, SourceSystem};

const FIELDS: &[&str] = &[
    "alarm_id",
    "device_id",
    "device_type",
    "alarm_type",
    "ts",
    "lon",
    "lat",
    "crs",
    "location_desc",
    "confidence",
    "snapshot_url",
    "value",
    "unit",
];

pub const DEFAULT_CRS: Crs = Crs::Wgs84;

/// Alarm type → (Chinese label, what was detected, priority).
pub const ALARMS: &[(&str, &str, &str, u8)] = &[
    ("fire", "火情告警", "检测到明火", 1),
    ("gas_leak", "燃气泄漏告警", "检测到可燃气体浓度超限", 1),
    ("smoke", "烟感告警", "检测到烟雾", 2),
    (
        "electrical_fire",
        "电气火灾告警",
        "检测到线路温度或剩余电流异常",
        2,
    ),
    ("lift_trapped", "电梯困人告警", "检测到电梯困人", 2),
    ("flood", "积水告警", "检测到路面积水", 2),
    ("water_level", "水位告警", "检测到水位超过警戒值", 2),
    ("fight", "打架斗殴告警", "检测到疑似打架斗殴", 2),
    ("intrusion", "入侵告警", "检测到人员闯入", 3),
    ("crowd", "人员聚集告警", "检测到人员异常聚集", 3),
    ("high_throw", "高空抛物告警", "检测到高空抛物", 3),
    ("device_tamper", "设备防拆告警", "检测到设备被拆卸或遮挡", 4),
];

const DEVICE_TYPES: &[&str] = &[
    "smoke_detector",
    "camera",
    "gas_detector",
    "lift",
    "water_level",
    "electrical_monitor",
    "door_sensor",
    "infrared",
];

pub(super) fn parse(obj: &Map<String, Value>, now: DateTime<Utc>) -> Result<SourceRecord> {
    let r = Rec::new(obj);
    r.only(FIELDS)?;

    let source_id = r.id("alarm_id")?;
    let device_id = r.text_req("device_id", MAX_SHORT)?;
    let device_type = r.text("device_type", MAX_SHORT)?;
    if let Some(t) = &device_type {
        if !DEVICE_TYPES.contains(&t.as_str()) {
            return Err(r.err(
                "device_type",
                format!(
                    "unknown device type {t:?}; expected one of {}",
                    DEVICE_TYPES.join(", ")
                ),
            ));
        }
    }
    let alarm_type = r.text_req("alarm_type", MAX_SHORT)?;
    let &(_, label, detected, priority) =
        ALARMS.iter().find(|a| a.0 == alarm_type).ok_or_else(|| {
            let known: Vec<&str> = ALARMS.iter().map(|a| a.0).collect();
            r.err(
                "alarm_type",
                format!(
                    "unknown alarm type {alarm_type:?}; expected one of {}",
                    known.join(", ")
                ),
            )
        })?;

    let ts = timestamp(&r)?;
    r.not_future("ts", ts, now)?;

    let crs = r.crs("crs", DEFAULT_CRS)?;
    let location = r.point("lon", "lat", crs)?;
    let address = r.text("location_desc", MAX_ADDRESS)?;
    require_place(&location, &address, "lon/lat", "location_desc")?;

    let confidence = r.number("confidence")?;
    if let Some(c) = confidence {
        if !(0.0..=1.0).contains(&c) {
            return Err(r.err("confidence", format!("must be within 0..1, got {c}")));
        }
    }
    let snapshot = r.text("snapshot_url", 512)?;
    if let Some(u) = &snapshot {
        if !(u.starts_with("http://") || u.starts_with("https://"))
            || u.contains(char::is_whitespace)
        {
            return Err(r.err("snapshot_url", "must be an http(s) URL"));
        }
    }
    let value = r.number("value")?;
    let unit = r.text("unit", 16)?;

    let place = address
        .clone()
        .unwrap_or_else(|| format!("设备 {device_id} 所在位置"));
    let reading = match (value, &unit) {
        (Some(v), Some(u)) => format!("，读数 {v} {u}"),
        (Some(v), None) => format!("，读数 {v}"),
        _ => String::new(),
    };
    let text = format!("{label}：{place}{detected}（设备 {device_id}{reading}）");

    let mut refs = Map::new();
    refs.insert("device_id".into(), Value::String(device_id));
    if let Some(t) = device_type {
        refs.insert("device_type".into(), Value::String(t));
    }
    if let Some(c) = confidence {
        refs.insert("confidence".into(), Value::from(c));
    }
    if let Some(u) = snapshot {
        refs.insert("snapshot_url".into(), Value::String(u));
    }

    Ok(SourceRecord {
        source: SourceSystem::Sensor,
        source_id,
        source_category: Some(alarm_type),
        occurred_at: Some(ts),
        reported_at: ts,
        location,
        address,
        text: Some(text),
        priority: Some(priority),
        parties: Vec::new(),
        refs,
        raw: Value::Null,
    })
}

/// `ts`: a JSON number or a digit string is Unix time (s or ms) — except a
/// 14-digit string, which is `YYYYMMDDHHMMSS`; other text is a date-time.
fn timestamp(r: &Rec) -> Result<DateTime<Utc>> {
    let t = match r.get("ts") {
        None => return Err(r.err("ts", "is required")),
        Some(Value::Number(n)) => n
            .as_f64()
            .ok_or_else(|| r.err("ts", "must be a number"))
            .and_then(|v| unix_time(v).map_err(|e| r.err("ts", e)))?,
        Some(Value::String(s)) => {
            let s = s.trim();
            if s.len() != 14 && !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                let v: f64 = s.parse().map_err(|_| r.err("ts", "unreadable number"))?;
                unix_time(v).map_err(|e| r.err("ts", e))?
            } else {
                parse_time(s).map_err(|e| r.err("ts", e))?
            }
        }
        Some(_) => return Err(r.err("ts", "must be a Unix time or a date-time string")),
    };
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::super::fields::testing::{now, utc};
    use super::super::{parse_jsonl, parse_record};
    use super::*;
    use serde_json::json;

    const SAMPLE: &str = include_str!("../../../docs/samples/sensor.jsonl");
    const BAD: &str = include_str!("../../../docs/samples/bad/sensor.jsonl");

    #[test]
    fn sample_parses_fully() {
        let v = parse_jsonl(SourceSystem::Sensor, SAMPLE, now());
        assert!(v.len() >= 6);
        for (line, r) in &v {
            assert!(r.is_ok(), "line {line}: {r:?}");
        }
        let r = v[0].1.as_ref().unwrap();
        assert_eq!(r.source_id, "ALM-20260318-000123");
        assert_eq!(r.reported_at, utc("2026-03-18T02:41:23Z"));
        assert_eq!(r.occurred_at, Some(r.reported_at));
        assert_eq!(r.source_category.as_deref(), Some("smoke"));
        assert_eq!(r.priority, Some(2));
        let loc = r.location.as_ref().unwrap();
        assert_eq!(
            (loc.lon, loc.lat, loc.crs),
            (121.269011, 28.650389, Crs::Wgs84)
        );
        assert_eq!(
            r.text.as_deref(),
            Some("烟感告警：东城街道百花社区劳动北路118号3单元2楼楼道检测到烟雾（设备 YG-331003-00123）")
        );
        assert!(r.parties.is_empty());
        assert_eq!(r.refs["device_id"], "YG-331003-00123");
        // ms, ISO and the camera with confidence + snapshot
        assert!(v
            .iter()
            .any(|(_, r)| r.as_ref().unwrap().refs.contains_key("snapshot_url")));
        assert!(v
            .iter()
            .any(|(_, r)| r.as_ref().unwrap().priority == Some(1)));
    }

    #[test]
    fn timestamp_forms() {
        let base = json!({"alarm_id":"A","device_id":"D","alarm_type":"smoke","location_desc":"x"});
        let at = |ts: Value| {
            let mut b = base.clone();
            b["ts"] = ts;
            parse_record(SourceSystem::Sensor, &b, now()).map(|r| r.reported_at)
        };
        let want = utc("2026-03-18T02:41:23Z");
        assert_eq!(at(json!(1773801683)), Ok(want));
        assert_eq!(at(json!(1773801683000_u64)), Ok(want));
        assert_eq!(at(json!("1773801683")), Ok(want));
        assert_eq!(at(json!("2026-03-18T10:41:23+08:00")), Ok(want));
        assert_eq!(at(json!("20260318104123")), Ok(want));
        assert_eq!(at(json!("2026-03-18 10:41:23")), Ok(want));
        assert_eq!(at(json!(17738016)).unwrap_err().field, "ts");
        assert_eq!(at(json!(true)).unwrap_err().field, "ts");
        assert!(at(json!(1893456000)).unwrap_err().reason.contains("future"));
    }

    #[test]
    fn malformed_records_name_the_field() {
        let v = parse_jsonl(SourceSystem::Sensor, BAD, now());
        let fields: Vec<String> = v
            .iter()
            .map(|(_, r)| r.as_ref().map_or_else(|e| e.field.clone(), |_| "ok".into()))
            .collect();
        assert_eq!(
            fields,
            [
                "alarm_id",
                "ts",
                "lat",
                "location",
                "ts",
                "alarm_type",
                "confidence",
                "ok"
            ]
        );
    }
}
