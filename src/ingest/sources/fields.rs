//! Strict access to the fields of one native record, shared by the adapters.
//!
//! Native systems are messy in predictable ways, so every accessor is
//! tolerant of *representation* and strict about *meaning*:
//! - `null`, `""` and all-whitespace count as absent (CSV cells, BF_110
//!   exports and most Chinese DB dumps write empty columns that way);
//! - text fields take strings or integers (ids and phones are often numbers);
//!   numeric fields take numbers or numeric strings (CSV cells are strings);
//! - anything else that is present and cannot be read is an error that names
//!   the field and says why: nothing is silently dropped.

use chrono::{DateTime, Duration, FixedOffset, NaiveDateTime, TimeZone, Utc};
use serde_json::{Map, Value};

use super::{Crs, PartyIn, RawLocation, RecordError, MAX_FUTURE_SKEW_MIN};

pub type Result<T> = std::result::Result<T, RecordError>;

/// Longest source id (as in the incidents API).
pub const MAX_ID: usize = 128;
/// Longest free-text field (报警内容, 信访事项 …).
pub const MAX_TEXT: usize = 4000;
/// Longest address.
pub const MAX_ADDRESS: usize = 256;
/// Longest short field (names, codes, categories, unit names).
pub const MAX_SHORT: usize = 64;

/// China Standard Time. China has no DST, so a fixed offset is exact.
pub fn shanghai() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("+08:00 is a valid offset")
}

/// One record (or a nested object of it) with the path prefix used in errors.
pub struct Rec<'a> {
    obj: &'a Map<String, Value>,
    prefix: String,
}

impl<'a> Rec<'a> {
    pub fn new(obj: &'a Map<String, Value>) -> Self {
        Self {
            obj,
            prefix: String::new(),
        }
    }

    /// A nested object whose errors read `prefix` + field (e.g. `当事人[0].电话`).
    pub fn nested(obj: &'a Map<String, Value>, prefix: impl Into<String>) -> Self {
        Self {
            obj,
            prefix: prefix.into(),
        }
    }

    /// The error path of `f`.
    pub fn path(&self, f: &str) -> String {
        format!("{}{f}", self.prefix)
    }

    pub fn err(&self, f: &str, reason: impl Into<String>) -> RecordError {
        RecordError::new(self.path(f), reason)
    }

    /// Refuses any field not in `known`.
    pub fn only(&self, known: &[&str]) -> Result<()> {
        match self.obj.keys().find(|k| !known.contains(&k.as_str())) {
            None => Ok(()),
            Some(k) => Err(self.err(
                k,
                format!("unknown field; expected one of {}", known.join(", ")),
            )),
        }
    }

    /// The value of `f`, or `None` if absent, `null` or blank.
    pub fn get(&self, f: &str) -> Option<&'a Value> {
        match self.obj.get(f) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(v) => Some(v),
        }
    }

    /// A trimmed text of at most `max` characters (strings or integers).
    pub fn text(&self, f: &str, max: usize) -> Result<Option<String>> {
        let s = match self.get(f) {
            None => return Ok(None),
            Some(Value::String(s)) => s.trim().to_string(),
            Some(Value::Number(n)) if n.is_i64() || n.is_u64() => n.to_string(),
            Some(other) => {
                return Err(self.err(f, format!("must be a string, got {}", kind(other))))
            }
        };
        if s.contains('\0') {
            return Err(self.err(f, "must not contain NUL (U+0000) characters"));
        }
        let n = s.chars().count();
        if n > max {
            return Err(self.err(f, format!("must be at most {max} characters, got {n}")));
        }
        Ok(Some(s))
    }

    pub fn text_req(&self, f: &str, max: usize) -> Result<String> {
        self.text(f, max)?.ok_or_else(|| self.err(f, "is required"))
    }

    /// The record's own id: required, 1 to 128 characters, no control characters.
    pub fn id(&self, f: &str) -> Result<String> {
        let s = self
            .text(f, MAX_ID)?
            .ok_or_else(|| self.err(f, "is required"))?;
        if s.chars().any(char::is_control) {
            return Err(self.err(f, "must not contain control characters"));
        }
        Ok(s)
    }

    /// A finite number (JSON number or numeric string).
    pub fn number(&self, f: &str) -> Result<Option<f64>> {
        let v = match self.get(f) {
            None => return Ok(None),
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
            Some(_) => None,
        };
        match v {
            Some(x) if x.is_finite() => Ok(Some(x)),
            _ => Err(self.err(f, format!("must be a finite number, got {}", self.show(f)))),
        }
    }

    /// A non-negative integer (JSON number or digit string).
    pub fn uint(&self, f: &str) -> Result<Option<u64>> {
        let v = match self.get(f) {
            None => return Ok(None),
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
            Some(_) => None,
        };
        v.map(Some).ok_or_else(|| {
            self.err(
                f,
                format!("must be a non-negative integer, got {}", self.show(f)),
            )
        })
    }

    /// A yes/no flag: `true`/`false`, `1`/`0`, `是`/`否`, `Y`/`N`, `yes`/`no`.
    pub fn flag(&self, f: &str) -> Result<Option<bool>> {
        let v = match self.get(f) {
            None => return Ok(None),
            Some(Value::Bool(b)) => Some(*b),
            Some(Value::Number(n)) => match n.as_u64() {
                Some(0) => Some(false),
                Some(1) => Some(true),
                _ => None,
            },
            Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
                "是" | "1" | "y" | "yes" | "true" => Some(true),
                "否" | "0" | "n" | "no" | "false" => Some(false),
                _ => None,
            },
            Some(_) => None,
        };
        v.map(Some).ok_or_else(|| {
            self.err(
                f,
                format!("must be 是/否 (or true/false, 1/0), got {}", self.show(f)),
            )
        })
    }

    /// A time in any accepted text format ([`parse_time`]); future times
    /// beyond the allowed skew are refused.
    pub fn time(&self, f: &str, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
        let Some(t) = self.time_any(f)? else {
            return Ok(None);
        };
        self.not_future(f, t, now)?;
        Ok(Some(t))
    }

    pub fn time_req(&self, f: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
        self.time(f, now)?.ok_or_else(|| self.err(f, "is required"))
    }

    /// A time with no future bound (deadlines such as `due_at`).
    pub fn time_any(&self, f: &str) -> Result<Option<DateTime<Utc>>> {
        let s = match self.get(f) {
            None => return Ok(None),
            Some(Value::String(s)) => s.trim(),
            Some(other) => {
                return Err(self.err(
                    f,
                    format!("must be a date-time string, got {}", kind(other)),
                ))
            }
        };
        parse_time(s).map(Some).map_err(|r| self.err(f, r))
    }

    pub fn not_future(&self, f: &str, t: DateTime<Utc>, now: DateTime<Utc>) -> Result<()> {
        if t > now + Duration::minutes(MAX_FUTURE_SKEW_MIN) {
            return Err(self.err(
                f,
                format!(
                    "is in the future ({}); at most {MAX_FUTURE_SKEW_MIN} minutes of clock skew is allowed",
                    t.with_timezone(&shanghai()).to_rfc3339()
                ),
            ));
        }
        Ok(())
    }

    /// The datum named in `f`, or `default` when absent.
    pub fn crs(&self, f: &str, default: Crs) -> Result<Crs> {
        match self.text(f, MAX_SHORT)? {
            None => Ok(default),
            Some(s) => Crs::parse(&s).ok_or_else(|| {
                self.err(
                    f,
                    format!("unknown coordinate system {s:?}; expected wgs84, gcj02 or bd09"),
                )
            }),
        }
    }

    /// A point from two fields. Both absent → `None`; one alone is an error;
    /// `0, 0` is the "no fix" sentinel of many terminals and counts as absent.
    pub fn point(&self, lon_f: &str, lat_f: &str, crs: Crs) -> Result<Option<RawLocation>> {
        let lon = self.number(lon_f)?;
        let lat = self.number(lat_f)?;
        match (lon, lat) {
            (None, None) => Ok(None),
            (Some(_), None) => Err(self.err(lat_f, format!("is required when {lon_f} is given"))),
            (None, Some(_)) => Err(self.err(lon_f, format!("is required when {lat_f} is given"))),
            (Some(lon), Some(lat)) if lon == 0.0 && lat == 0.0 => Ok(None),
            (Some(lon), Some(lat)) => {
                location(lon, lat, crs)
                    .map(Some)
                    .map_err(|(which, reason)| {
                        self.err(if which == "lon" { lon_f } else { lat_f }, reason)
                    })
            }
        }
    }

    /// A phone number as written (digits with optional `+`, `-`, spaces, parentheses).
    pub fn phone(&self, f: &str) -> Result<Option<String>> {
        let Some(s) = self.text(f, 32)? else {
            return Ok(None);
        };
        check_phone(&s).map_err(|r| self.err(f, r))?;
        Ok(Some(s))
    }

    /// A 居民身份证号码: 18 characters (17 digits + digit or X) or the old
    /// 15-digit form. Lower-case `x` is upper-cased. The checksum is not
    /// verified: a mistyped ID must not cost us the whole record.
    pub fn id_no(&self, f: &str) -> Result<Option<String>> {
        let Some(s) = self.text(f, 32)? else {
            return Ok(None);
        };
        let s = s.to_ascii_uppercase();
        let b = s.as_bytes();
        let ok = match b.len() {
            18 => {
                b[..17].iter().all(u8::is_ascii_digit) && (b[17].is_ascii_digit() || b[17] == b'X')
            }
            15 => b.iter().all(u8::is_ascii_digit),
            _ => false,
        };
        if ok {
            Ok(Some(s))
        } else {
            Err(self.err(
                f,
                "must be an 18-character 居民身份证号码 (17 digits and a digit or X) or the old 15-digit form",
            ))
        }
    }

    /// A nested object. CSV cells may carry it as JSON text.
    pub fn object(&self, f: &str) -> Result<Option<Map<String, Value>>> {
        match self.json_value(f)? {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(other) => Err(self.err(f, format!("must be an object, got {}", kind(&other)))),
        }
    }

    /// A nested array. CSV cells may carry it as JSON text.
    pub fn array(&self, f: &str) -> Result<Option<Vec<Value>>> {
        match self.json_value(f)? {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(other) => Err(self.err(f, format!("must be an array, got {}", kind(&other)))),
        }
    }

    fn json_value(&self, f: &str) -> Result<Option<Value>> {
        match self.get(f) {
            None => Ok(None),
            Some(Value::String(s)) => {
                let t = s.trim();
                if t.starts_with('{') || t.starts_with('[') {
                    serde_json::from_str(t)
                        .map(Some)
                        .map_err(|e| self.err(f, format!("is not valid JSON ({e})")))
                } else {
                    Err(self.err(f, "must be an object or array (JSON text in CSV cells)"))
                }
            }
            Some(v) => Ok(Some(v.clone())),
        }
    }

    /// A short rendering of the value of `f` for error messages.
    fn show(&self, f: &str) -> String {
        match self.obj.get(f) {
            Some(Value::String(s)) => format!("{:?}", truncate(s, 40)),
            Some(v) => truncate(&v.to_string(), 40),
            None => "nothing".into(),
        }
    }
}

/// Maps a native level text to a priority through `table` (exact match after
/// trimming); unknown values are an error listing the accepted ones.
pub fn level(rec: &Rec, f: &str, table: &[(&str, u8)]) -> Result<Option<u8>> {
    let Some(s) = rec.text(f, MAX_SHORT)? else {
        return Ok(None);
    };
    table
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(&s))
        .map(|&(_, p)| Some(p))
        .ok_or_else(|| {
            let known: Vec<&str> = table.iter().map(|(k, _)| *k).collect();
            rec.err(
                f,
                format!("unknown value {s:?}; expected one of {}", known.join(", ")),
            )
        })
}

/// Range-checks a point. The error names `lon` or `lat`.
pub fn location(
    lon: f64,
    lat: f64,
    crs: Crs,
) -> std::result::Result<RawLocation, (&'static str, String)> {
    if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
        return Err((
            "lon",
            format!("longitude must be within -180..180, got {lon}"),
        ));
    }
    if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
        return Err(("lat", format!("latitude must be within -90..90, got {lat}")));
    }
    Ok(RawLocation { lon, lat, crs })
}

/// Every record needs coordinates or an address; the error names `location`.
pub fn require_place(
    location: &Option<RawLocation>,
    address: &Option<String>,
    coords: &str,
    addr: &str,
) -> Result<()> {
    if location.is_none() && address.is_none() {
        return Err(RecordError::new(
            "location",
            format!("neither coordinates ({coords}) nor an address ({addr}) is given"),
        ));
    }
    Ok(())
}

pub fn check_phone(s: &str) -> std::result::Result<(), String> {
    let digits = s.chars().filter(char::is_ascii_digit).count();
    let allowed = s.char_indices().all(|(i, c)| {
        c.is_ascii_digit() || matches!(c, '-' | ' ' | '(' | ')') || (c == '+' && i == 0)
    });
    if allowed && (3..=20).contains(&digits) {
        Ok(())
    } else {
        Err("must be a phone number (3 to 20 digits; +, -, spaces and parentheses allowed)".into())
    }
}

/// Names that mean "no name given".
const NO_NAME: &[&str] = &["匿名", "不详", "未知", "无", "-"];

/// A party, or `None` if it has no name, phone or ID number. Placeholder
/// names (匿名, 不详, 未知, 无) count as no name.
pub fn party(
    role: &str,
    name: Option<String>,
    phone: Option<String>,
    id_no: Option<String>,
) -> Option<PartyIn> {
    let name = name.filter(|n| !NO_NAME.contains(&n.as_str()));
    if name.is_none() && phone.is_none() && id_no.is_none() {
        return None;
    }
    Some(PartyIn {
        role: role.to_string(),
        name,
        phone,
        id_no,
    })
}

/// Joins the present text parts with a newline.
pub fn join_text(parts: &[Option<String>]) -> Option<String> {
    let v: Vec<&str> = parts.iter().flatten().map(String::as_str).collect();
    if v.is_empty() {
        None
    } else {
        Some(v.join("\n"))
    }
}

/// Earliest accepted instant: records before 2000 are typing or unit errors
/// (a Unix time in the wrong unit, a `1900-01-01` placeholder).
fn earliest() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0)
        .single()
        .expect("valid date")
}

/// Local (+08:00) formats without an offset, tried in order.
const LOCAL_FORMATS: &[&str] = &[
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d %H:%M:%S%.f",
    "%Y/%m/%d %H:%M",
];

/// Reads a date-time:
/// - ISO-8601 / RFC 3339 with an offset (`2026-03-01T08:30:00+08:00`, `…Z`,
///   `…+0800`, a space instead of `T`);
/// - without an offset, as Asia/Shanghai local time (+08:00):
///   `YYYY-MM-DD HH:MM[:SS[.f]]`, `YYYY-MM-DDTHH:MM:SS`,
///   `YYYY/MM/DD HH:MM[:SS]` (month/day may be one digit), `YYYYMMDDHHMMSS`.
pub fn parse_time(s: &str) -> std::result::Result<DateTime<Utc>, String> {
    let s = s.trim();
    let t = parse_time_inner(s).ok_or_else(|| {
        format!(
            "unreadable date-time {:?}; expected ISO-8601 with offset, \
             YYYY-MM-DD HH:MM:SS, YYYY/MM/DD HH:MM[:SS] or YYYYMMDDHHMMSS (local times are +08:00)",
            truncate(s, 40)
        )
    })?;
    if t < earliest() {
        return Err(format!(
            "{s:?} is before 2000-01-01: not a plausible record time"
        ));
    }
    Ok(t)
}

fn parse_time_inner(s: &str) -> Option<DateTime<Utc>> {
    if s.len() == 14 && s.bytes().all(|b| b.is_ascii_digit()) {
        let n = NaiveDateTime::parse_from_str(s, "%Y%m%d%H%M%S").ok()?;
        return local(n);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z"] {
        if let Ok(t) = DateTime::parse_from_str(s, f) {
            return Some(t.with_timezone(&Utc));
        }
    }
    LOCAL_FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .and_then(local)
}

fn local(n: NaiveDateTime) -> Option<DateTime<Utc>> {
    shanghai()
        .from_local_datetime(&n)
        .single()
        .map(|t| t.with_timezone(&Utc))
}

/// Unix seconds or milliseconds (values of 10^11 and above are milliseconds:
/// that is the year 5138 in seconds and 1973 in milliseconds).
pub fn unix_time(v: f64) -> std::result::Result<DateTime<Utc>, String> {
    if !v.is_finite() || v < 0.0 {
        return Err(format!("must be a non-negative Unix time, got {v}"));
    }
    let ms = if v >= 1e11 { v } else { v * 1000.0 };
    let t = DateTime::<Utc>::from_timestamp_millis(ms.round() as i64)
        .ok_or_else(|| format!("Unix time {v} is out of range"))?;
    if t < earliest() {
        return Err(format!("Unix time {v} is before 2000-01-01: wrong unit?"));
    }
    Ok(t)
}

pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n).collect();
        t.push('…');
        t
    }
}

/// Test helpers shared by the adapters' tests.
#[cfg(test)]
pub(crate) mod testing {
    use chrono::{DateTime, Utc};

    /// "Now" for every sample-based test: after all sample records.
    pub fn now() -> DateTime<Utc> {
        "2026-03-20T12:00:00+08:00".parse().unwrap()
    }

    pub fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::utc;
    use super::*;
    use serde_json::json;

    #[test]
    fn time_formats() {
        let want = utc("2026-03-01T00:30:05Z");
        for s in [
            "2026-03-01T08:30:05+08:00",
            "2026-03-01T00:30:05Z",
            "2026-03-01 08:30:05+08:00",
            "2026-03-01T08:30:05+0800",
            "2026-03-01 08:30:05",
            "2026-03-01 08:30:05.0",
            "2026-03-01T08:30:05",
            "2026/03/01 08:30:05",
            "2026/3/1 8:30:05",
            "20260301083005",
            " 2026-03-01 08:30:05 ",
        ] {
            assert_eq!(parse_time(s), Ok(want), "{s}");
        }
        assert_eq!(
            parse_time("2026/03/01 08:30"),
            Ok(utc("2026-03-01T00:30:00Z"))
        );
        assert_eq!(
            parse_time("2026-03-01 08:30"),
            Ok(utc("2026-03-01T00:30:00Z"))
        );
        for bad in [
            "2026-03-01",
            "yesterday",
            "2026-13-01 08:00:00",
            "20260301",
            "1900-01-01 00:00:00",
            "2026-02-30 08:00:00",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unix_times() {
        assert_eq!(unix_time(1772325005.0), Ok(utc("2026-03-01T00:30:05Z")));
        assert_eq!(
            unix_time(1772325005123.0),
            Ok(utc("2026-03-01T00:30:05.123Z"))
        );
        assert!(unix_time(17723250.0).is_err());
        assert!(unix_time(-1.0).is_err());
    }

    #[test]
    fn accessors() {
        let v = json!({"a":" x ","n":"12.5","i":12,"e":"","z":null,"b":"是","p":"0576-84123456",
                       "id":"33100319800101123x","bad":[1],"o":"{\"k\":1}"});
        let r = Rec::new(v.as_object().unwrap());
        assert_eq!(r.text("a", 5).unwrap().as_deref(), Some("x"));
        assert_eq!(r.text("i", 5).unwrap().as_deref(), Some("12"));
        assert_eq!(r.text("e", 5).unwrap(), None);
        assert_eq!(r.text("z", 5).unwrap(), None);
        assert!(r.text("bad", 5).is_err());
        assert_eq!(r.text_req("e", 5).unwrap_err().reason, "is required");
        assert_eq!(r.number("n").unwrap(), Some(12.5));
        assert_eq!(r.number("i").unwrap(), Some(12.0));
        assert!(r.number("a").is_err());
        assert_eq!(r.flag("b").unwrap(), Some(true));
        assert_eq!(r.phone("p").unwrap().as_deref(), Some("0576-84123456"));
        assert!(r.phone("a").is_err());
        assert_eq!(
            r.id_no("id").unwrap().as_deref(),
            Some("33100319800101123X")
        );
        assert!(r.id_no("p").is_err());
        assert_eq!(r.object("o").unwrap().unwrap()["k"], 1);
        assert!(r.object("a").is_err());
        assert!(r.only(&["a"]).is_err());
    }

    #[test]
    fn points() {
        let v = json!({"x":"121.26","y":28.65,"zx":0,"zy":"0","bad":91,"one":1});
        let r = Rec::new(v.as_object().unwrap());
        let p = r.point("x", "y", Crs::Gcj02).unwrap().unwrap();
        assert_eq!((p.lon, p.lat, p.crs), (121.26, 28.65, Crs::Gcj02));
        assert_eq!(r.point("zx", "zy", Crs::Gcj02).unwrap(), None);
        assert_eq!(r.point("nx", "ny", Crs::Gcj02).unwrap(), None);
        assert_eq!(r.point("x", "bad", Crs::Gcj02).unwrap_err().field, "bad");
        assert!(r.point("bad", "y", Crs::Gcj02).is_ok()); // 91 is a fine longitude
        assert_eq!(
            r.point("one", "missing", Crs::Gcj02).unwrap_err().field,
            "missing"
        );
    }
}
