//! The OsmAnd protocol as Traccar's server accepts it, so that a phone
//! running Traccar Client (or OsmAnd, GPSLogger, … set to "OsmAnd") reports
//! to lianqin with no change on the phone.
//!
//! Two request shapes, both normalised to a [`Report`] (WGS-84, metres per
//! second, degrees, Unix time):
//!
//! - [`parse_query`]: `GET` or `POST /osmand?id=…&lat=…&lon=…&timestamp=…`
//!   (older Traccar Client, OsmAnd, most third-party senders). Traccar also
//!   reads the same form from a `POST` body when the URI carries no
//!   parameters; the caller passes whichever it has.
//! - [`parse_json`]: the JSON body of Traccar Client 9+
//!   (`Content-Type: application/json`), the Transistorsoft background
//!   geolocation shape `{"location":{…,"coords":{…}},"device_id":"…"}`.
//!
//! Authority: Traccar's `OsmAndProtocolDecoder` and `OsmAndProtocolDecoderTest`
//! (read for this module):
//! - traccar/traccar `src/main/java/org/traccar/protocol/OsmAndProtocolDecoder.java`
//!   @ ec76482c15094a7e04964c67d3011a7e8e1ad6a9 (query form, "2013 - 2020"),
//!   and a 2013–2025 copy of the same file (query + `decodeJson`) found in the
//!   code index without repository attribution;
//! - traccar/traccar `src/test/java/org/traccar/protocol/OsmAndProtocolDecoderTest.java`
//!   @ 24157c0a2eb94fd6b1d6ed6698d6aedb492d288a (`testDecodeJson` + `testDecodeQuery`;
//!   the query cases are identical to those @ 7338b8730949ed027b3f8b31d7dca20687ebbb8b).
//!
//! Query form, as Traccar does it:
//! - Keys are case-sensitive; a key with an empty value is skipped; a
//!   repeated key: the last value wins; unknown keys are ignored (Traccar
//!   stores them as attributes; lianqin has nowhere to keep them).
//! - `id` or `deviceid`: the device id, required.
//! - `lat` + `lon`, or `location=lat,lon` (latitude first).
//! - `timestamp`: an integer below `i32::MAX` (2147483647, exclusive) is
//!   Unix seconds, otherwise Unix milliseconds; a value containing `T` is
//!   ISO-8601; anything else is `yyyy-MM-dd HH:mm:ss`. Missing: `now`.
//! - `speed` in knots (Traccar's default for this protocol; the traccar.org
//!   OsmAnd page says the same), `bearing`/`heading` degrees, `altitude`
//!   metres, `accuracy` metres, `hdop`, `batt` percent.
//! - `crs` (lianqin extension): `wgs84` (default), `gcj02`, `bd09`.
//!
//! JSON form, as Traccar's `decodeJson` does it: `coords.speed` is m/s
//! (Traccar converts it with `knotsFromMps`, i.e. it is m/s on the wire);
//! negative `speed` / `heading` / `accuracy` / `battery.level` mean "unknown"
//! (iOS sends −1) and are dropped; `battery.level` is 0..1 → percent.
//!
//! Where lianqin is stricter than Traccar (on purpose, documented at each
//! spot): a report must carry a position (Traccar falls back to the device's
//! last location); non-finite or out-of-range numbers are refused with a
//! [`FieldError`] naming the field and the bad value.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde_json::{Map, Value};

use crate::domain::{Fix, Position, PositionError};
use crate::ingest::FieldError;
use crate::spatial::crs::Datum;

/// One knot in metres per second (1852 m / 3600 s ≈ 0.514444).
pub const KNOT_MPS: f64 = 1852.0 / 3600.0;

/// Traccar's seconds/milliseconds cut-off: `timestamp < Integer.MAX_VALUE`
/// is seconds (so 2147483647 itself is milliseconds).
const SECONDS_BELOW: i64 = i32::MAX as i64;

/// One report, normalized: WGS-84, metres/second, degrees, Unix time.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub device_id: String,
    pub fix: Fix,
}

/// `GET` or `POST /osmand?…` query string (raw, still percent-encoded; `+`
/// means space; `%3A` etc. decoded). A leading `?` is tolerated.
pub fn parse_query(raw_query: &str, now: DateTime<Utc>) -> Result<Report, FieldError> {
    let raw = raw_query.strip_prefix('?').unwrap_or(raw_query);

    let mut device_id: Option<String> = None;
    let mut ts: Option<DateTime<Utc>> = None;
    // (value, field it came from): `lat`/`lon` or `location`.
    let mut lat: Option<(f64, &'static str)> = None;
    let mut lon: Option<(f64, &'static str)> = None;
    let mut speed_kn: Option<f64> = None;
    let mut heading: Option<(f64, &'static str)> = None;
    let mut altitude: Option<f64> = None;
    let mut accuracy: Option<f64> = None;
    let mut hdop: Option<f64> = None;
    let mut battery: Option<f64> = None;
    let mut datum = Datum::Wgs84;

    for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
        // Traccar: `if (value.isEmpty()) continue;`
        if value.is_empty() {
            continue;
        }
        match key.as_ref() {
            "id" | "deviceid" => device_id = Some(value.into_owned()),
            "timestamp" => ts = Some(parse_timestamp_text("timestamp", &value)?),
            "lat" => lat = Some((number("lat", &value)?, "lat")),
            "lon" => lon = Some((number("lon", &value)?, "lon")),
            "location" => {
                // Traccar: `value.split(",")`, [0] latitude, [1] longitude;
                // further parts are ignored there and here.
                let mut parts = value.split(',');
                let (Some(a), Some(b)) = (parts.next(), parts.next()) else {
                    return Err(FieldError::new(
                        "location",
                        format!("must be latitude,longitude, got {:?}", value.as_ref()),
                    ));
                };
                lat = Some((number("location", a)?, "location"));
                lon = Some((number("location", b)?, "location"));
            }
            "speed" => speed_kn = Some(finite("speed", &value)?),
            "bearing" => heading = Some((finite("bearing", &value)?, "bearing")),
            "heading" => heading = Some((finite("heading", &value)?, "heading")),
            "altitude" => altitude = Some(finite("altitude", &value)?),
            "accuracy" => accuracy = Some(finite("accuracy", &value)?),
            "hdop" => hdop = Some(finite("hdop", &value)?),
            "batt" => battery = Some(finite("batt", &value)?),
            "crs" => datum = parse_datum("crs", &value)?,
            _ => {} // cell, wifi, valid, driverUniqueId, ignition, … : ignored
        }
    }

    let device_id =
        device_id.ok_or_else(|| FieldError::new("id", "is required (id or deviceid)"))?;

    // Stricter than Traccar, which accepts a report without a position (the
    // first request of its query test: cell towers and Wi-Fi only) and
    // copies the device's last location. lianqin has no cell/Wi-Fi
    // geolocation, and a `Fix` must have a position.
    let (lat, lat_field) = lat
        .ok_or_else(|| FieldError::new("lat", "is required (lat and lon, or location=lat,lon)"))?;
    let (lon, lon_field) = lon
        .ok_or_else(|| FieldError::new("lon", "is required (lat and lon, or location=lat,lon)"))?;
    let position = to_position(lon, lat, datum, |e| match e {
        PositionError::Latitude(_) => lat_field,
        PositionError::Longitude(_) => lon_field,
    })?;

    let speed_mps = match speed_kn {
        Some(v) if v < 0.0 => None, // "unknown", as in the JSON form
        Some(v) => Some(v * KNOT_MPS),
        None => None,
    };
    let heading = match heading {
        Some((v, field)) => heading_deg(field, v)?,
        None => None,
    };
    // `accuracy` wins. Only if it is absent, `hdop` is taken as the accuracy
    // in metres. Traccar itself does not map hdop to accuracy (it keeps it as
    // the `hdop` attribute); we do because OsmAnd's `{3}` ("hdop") placeholder
    // carries the Android fix accuracy in metres, and true HDOP values
    // (≈ 1–20) read as metres only ever look *more* accurate, so this can
    // never make the hygiene accuracy filter drop a good fix.
    let accuracy_m = non_negative(accuracy).or(non_negative(hdop));
    let battery = match battery {
        Some(v) => percent("batt", v)?,
        None => None,
    };

    Ok(Report {
        device_id,
        fix: Fix {
            position,
            ts: ts.unwrap_or(now),
            speed_mps,
            heading,
            accuracy_m,
            altitude_m: altitude,
            battery,
        },
    })
}

/// The JSON body of newer Traccar Client versions:
/// `{"location":{"timestamp":"2024-…Z" or ms,"coords":{"latitude","longitude",
/// "accuracy","speed","heading","altitude"},"battery":{"level":0.5,
/// "is_charging":…},"is_moving":…,"odometer":…,"activity":{…},"extras":{…}},
/// "device_id":"…"}`.
///
/// `crs` may be given as a top-level key (or in `location.extras.crs`, which
/// Traccar Client lets a user configure; the top-level key wins).
pub fn parse_json(body: &[u8], now: DateTime<Utc>) -> Result<Report, FieldError> {
    let root: Value = serde_json::from_slice(body)
        .map_err(|e| FieldError::new("body", format!("is not valid JSON: {e}")))?;
    let Value::Object(root) = root else {
        return Err(FieldError::new("body", "must be a JSON object"));
    };

    // Traccar: `root.getString("device_id")`.
    let device_id = match root.get("device_id") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        None | Some(Value::Null) => {
            return Err(FieldError::new("device_id", "is required"));
        }
        Some(Value::String(_)) => return Err(FieldError::new("device_id", "must not be empty")),
        Some(other) => {
            return Err(FieldError::new(
                "device_id",
                format!("must be a string, got {other}"),
            ))
        }
    };

    let location = object(&root, "location", "location")?
        .ok_or_else(|| FieldError::new("location", "is required"))?;

    // Traccar: `DateUtil.parseDate(location.getString("timestamp"))`, i.e.
    // an ISO-8601 string. We also take a number (Unix ms, or seconds by the
    // same magnitude rule as the query form), and a missing timestamp means
    // `now` as in the query form (Traccar would fail the request).
    let ts = match location.get("timestamp") {
        None | Some(Value::Null) => now,
        Some(Value::String(s)) => parse_timestamp_text("location.timestamp", s)?,
        Some(Value::Number(n)) => {
            let v = n
                .as_i64()
                .or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && f.abs() < 9e15)
                        .map(|f| f as i64)
                })
                .ok_or_else(|| {
                    FieldError::new(
                        "location.timestamp",
                        format!("must be an ISO-8601 string or integer Unix time, got {n}"),
                    )
                })?;
            epoch("location.timestamp", v)?
        }
        Some(other) => {
            return Err(FieldError::new(
                "location.timestamp",
                format!("must be an ISO-8601 string or integer Unix time, got {other}"),
            ))
        }
    };

    // Stricter than Traccar, which takes the last location when `coords` is absent.
    let coords = object(location, "coords", "location.coords")?
        .ok_or_else(|| FieldError::new("location.coords", "is required"))?;
    let lat = opt_number(coords, "latitude", "location.coords.latitude")?
        .ok_or_else(|| FieldError::new("location.coords.latitude", "is required"))?;
    let lon = opt_number(coords, "longitude", "location.coords.longitude")?
        .ok_or_else(|| FieldError::new("location.coords.longitude", "is required"))?;

    let datum = match root.get("crs") {
        Some(Value::String(s)) => parse_datum("crs", s)?,
        None | Some(Value::Null) => {
            match object(location, "extras", "location.extras")?.and_then(|x| x.get("crs")) {
                Some(Value::String(s)) => parse_datum("location.extras.crs", s)?,
                None | Some(Value::Null) => Datum::Wgs84,
                Some(other) => {
                    return Err(FieldError::new(
                        "location.extras.crs",
                        format!("must be a string (wgs84, gcj02, bd09), got {other}"),
                    ))
                }
            }
        }
        Some(other) => {
            return Err(FieldError::new(
                "crs",
                format!("must be a string (wgs84, gcj02, bd09), got {other}"),
            ))
        }
    };
    let position = to_position(lon, lat, datum, |e| match e {
        PositionError::Latitude(_) => "location.coords.latitude",
        PositionError::Longitude(_) => "location.coords.longitude",
    })?;

    // Traccar: `if (speed >= 0) setSpeed(knotsFromMps(speed))`: m/s on the wire.
    let speed_mps = non_negative(finite_opt(coords, "speed", "location.coords.speed")?);
    // Traccar: `if (heading >= 0) setCourse(heading)`.
    let heading = match finite_opt(coords, "heading", "location.coords.heading")? {
        Some(v) => heading_deg("location.coords.heading", v)?,
        None => None,
    };
    // Traccar: `if (accuracy >= minAccuracy)`, `osmand.minAccuracy` defaults to 0.
    let accuracy_m = non_negative(finite_opt(coords, "accuracy", "location.coords.accuracy")?);
    let altitude_m = finite_opt(coords, "altitude", "location.coords.altitude")?;

    // Traccar: `if (level >= 0) set(batteryLevel, (int) (level * 100))`.
    // We keep the percentage unrounded except for float noise
    // (0.29 × 100 = 28.999999999999996 → 29, where Traccar's cast gives 28).
    let battery = match object(location, "battery", "location.battery")? {
        Some(b) => match finite_opt(b, "level", "location.battery.level")? {
            Some(level) if level < 0.0 => None,
            Some(level) if level > 1.0 => {
                return Err(FieldError::new(
                    "location.battery.level",
                    format!("must be between 0 and 1, got {level}"),
                ))
            }
            Some(level) => Some((level * 100.0 * 1e6).round() / 1e6),
            None => None,
        },
        None => None,
    };

    Ok(Report {
        device_id,
        fix: Fix {
            position,
            ts,
            speed_mps,
            heading,
            accuracy_m,
            altitude_m,
            battery,
        },
    })
}

// ---------------------------------------------------------------- helpers

/// A number as Java's `Double.parseDouble` reads it (surrounding whitespace
/// allowed). Non-finite values pass: `Position::new` refuses them for lat/lon.
fn number(field: &str, text: &str) -> Result<f64, FieldError> {
    text.trim()
        .parse::<f64>()
        .map_err(|_| FieldError::new(field, format!("must be a number, got {text:?}")))
}

/// A number that must also be finite.
fn finite(field: &str, text: &str) -> Result<f64, FieldError> {
    let v = number(field, text)?;
    if v.is_finite() {
        Ok(v)
    } else {
        Err(FieldError::new(
            field,
            format!("must be a finite number, got {v}"),
        ))
    }
}

fn non_negative(v: Option<f64>) -> Option<f64> {
    v.filter(|v| *v >= 0.0)
}

/// Degrees clockwise from north: negative is "unknown" (−1 from iOS and
/// Android), 360 is north, above 360 is refused.
fn heading_deg(field: &str, v: f64) -> Result<Option<f64>, FieldError> {
    if v < 0.0 {
        Ok(None)
    } else if v > 360.0 {
        Err(FieldError::new(
            field,
            format!("must be between 0 and 360 degrees, got {v}"),
        ))
    } else {
        Ok(Some(v % 360.0))
    }
}

/// Battery percent: negative is "unknown", above 100 is refused.
fn percent(field: &str, v: f64) -> Result<Option<f64>, FieldError> {
    if v < 0.0 {
        Ok(None)
    } else if v > 100.0 {
        Err(FieldError::new(
            field,
            format!("must be a percentage between 0 and 100, got {v}"),
        ))
    } else {
        Ok(Some(v))
    }
}

fn parse_datum(field: &str, text: &str) -> Result<Datum, FieldError> {
    Datum::parse(text.trim()).ok_or_else(|| {
        FieldError::new(
            field,
            format!("must be one of wgs84, gcj02, bd09, got {text:?}"),
        )
    })
}

/// Validates the coordinates as sent (so errors show the client's own
/// numbers), converts them to WGS-84, and builds the `Position`.
fn to_position(
    lon: f64,
    lat: f64,
    datum: Datum,
    field_of: impl Fn(&PositionError) -> &'static str,
) -> Result<Position, FieldError> {
    let err = |e: PositionError| FieldError::new(field_of(&e), e.to_string());
    Position::new(lon, lat).map_err(err)?;
    let (wlon, wlat) = datum.to_wgs84(lon, lat);
    Position::new(wlon, wlat).map_err(err)
}

/// Unix time by Traccar's magnitude rule: below 2147483647 seconds, else ms.
fn epoch(field: &str, v: i64) -> Result<DateTime<Utc>, FieldError> {
    let ms = if v < SECONDS_BELOW {
        v.checked_mul(1000)
    } else {
        Some(v)
    };
    ms.and_then(DateTime::from_timestamp_millis)
        .ok_or_else(|| FieldError::new(field, format!("is out of range, got {v}")))
}

/// Traccar's query `timestamp` rules, in its order: an integer (seconds or
/// milliseconds by magnitude); a value containing `T`: ISO-8601; otherwise
/// `yyyy-MM-dd HH:mm:ss`.
///
/// Choices where Traccar is loose or server-dependent:
/// - ISO-8601 with `Z` or an offset (fractional seconds allowed); without
///   an offset it is read as UTC.
/// - `yyyy-MM-dd HH:mm:ss` (optionally with fractional seconds) is read as
///   UTC. Traccar reads it in the *server's* time zone, which is no contract
///   a client can rely on; UTC is what senders of this form mean in practice.
/// - Not taken: the 12-digit `ddMMyyHHmmss` form that the newest Traccar
///   copy tries first (it would shadow 12-digit Unix milliseconds, i.e.
///   1973–2001, which nobody sends either); decimal Unix seconds
///   (`1377177267.5`), which Traccar refuses too.
fn parse_timestamp_text(field: &str, text: &str) -> Result<DateTime<Utc>, FieldError> {
    let bad = || {
        FieldError::new(
            field,
            format!(
                "must be Unix seconds or milliseconds, ISO-8601, or yyyy-MM-dd HH:mm:ss, got {text:?}"
            ),
        )
    };
    let t = text.trim();
    if let Ok(v) = t.parse::<i64>() {
        return epoch(field, v);
    }
    if t.contains('T') {
        if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
            return Ok(dt.with_timezone(&Utc));
        }
        return NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f")
            .map(|n| Utc.from_utc_datetime(&n))
            .map_err(|_| bad());
    }
    NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f")
        .map(|n| Utc.from_utc_datetime(&n))
        .map_err(|_| bad())
}

fn object<'a>(
    parent: &'a Map<String, Value>,
    key: &str,
    field: &str,
) -> Result<Option<&'a Map<String, Value>>, FieldError> {
    match parent.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(other) => Err(FieldError::new(
            field,
            format!("must be an object, got {other}"),
        )),
    }
}

/// An optional JSON number (`null` counts as absent).
fn opt_number(
    parent: &Map<String, Value>,
    key: &str,
    field: &str,
) -> Result<Option<f64>, FieldError> {
    match parent.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .map(Some)
            .ok_or_else(|| FieldError::new(field, format!("must be a number, got {n}"))),
        Some(other) => Err(FieldError::new(
            field,
            format!("must be a number, got {other}"),
        )),
    }
}

/// An optional JSON number that must be finite (serde_json never yields a
/// non-finite one, but huge literals overflow to infinity on some paths).
fn finite_opt(
    parent: &Map<String, Value>,
    key: &str,
    field: &str,
) -> Result<Option<f64>, FieldError> {
    match opt_number(parent, key, field)? {
        Some(v) if !v.is_finite() => Err(FieldError::new(
            field,
            format!("must be a finite number, got {v}"),
        )),
        v => Ok(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 6, 15, 14, 0, 0).unwrap()
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    /// Traccar's tests pass a request URI (`/?…`); we get the query string.
    fn query(uri: &str) -> Result<Report, FieldError> {
        parse_query(
            uri.strip_prefix("/?").expect("test URI starts with /?"),
            now(),
        )
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    fn err(field: &str, reason: &str) -> FieldError {
        FieldError::new(field, reason)
    }

    // ------------------------------------------------------------------
    // Ported from Traccar OsmAndProtocolDecoderTest.testDecodeQuery
    // (traccar/traccar @ 24157c0a2eb94fd6b1d6ed6698d6aedb492d288a; same
    // eleven requests @ 7338b8730949ed027b3f8b31d7dca20687ebbb8b), in order.
    // ------------------------------------------------------------------

    #[test]
    fn traccar_query_01_cell_and_wifi_without_position() {
        // Traccar: verifyNotNull (it uses the device's last location).
        // lianqin: refused, no position (documented divergence).
        let e = query("/?id=123456&timestamp=1377177267&cell=257,02,16,2224&cell=257,02,16,2223,-90&wifi=00-14-22-01-23-45,-80&wifi=00-1C-B3-09-85-15,-70").unwrap_err();
        assert_eq!(e.field, "lat");
        assert!(e.reason.starts_with("is required"), "{e}");
    }

    #[test]
    fn traccar_query_02_without_id() {
        // Traccar: verifyNull.
        let e = query("/?timestamp=1377177267&lat=60.0&lon=30.0").unwrap_err();
        assert_eq!(e, err("id", "is required (id or deviceid)"));
    }

    #[test]
    fn traccar_query_03_iso_timestamp_percent_encoded() {
        let r = query("/?id=902064&lat=42.06288&lon=-88.23412&timestamp=2016-01-27T18%3A55%3A47Z&hdop=6.0&altitude=224.0&speed=0.0").unwrap();
        assert_eq!(r.device_id, "902064");
        assert_eq!(r.fix.position, Position::new(-88.23412, 42.06288).unwrap());
        assert_eq!(r.fix.ts, utc(2016, 1, 27, 18, 55, 47));
        assert_eq!(r.fix.accuracy_m, Some(6.0)); // hdop, no accuracy given
        assert_eq!(r.fix.altitude_m, Some(224.0));
        assert_eq!(r.fix.speed_mps, Some(0.0));
        assert_eq!(r.fix.heading, None);
        assert_eq!(r.fix.battery, None);
    }

    #[test]
    fn traccar_query_04_millisecond_timestamp() {
        let r = query("/?id=902064&lat=42.06288&lon=-88.23412&timestamp=1442068686579&hdop=6.0&altitude=224.0&speed=0.0").unwrap();
        assert_eq!(r.fix.ts.timestamp_millis(), 1_442_068_686_579);
        assert_eq!(r.fix.accuracy_m, Some(6.0));
    }

    #[test]
    fn traccar_query_05_plus_space_date_and_id_last() {
        let r = query("/?lat=49.60688&lon=6.15788&timestamp=2014-06-04+09%3A10%3A11&altitude=384.7&speed=0.0&id=353861053849681").unwrap();
        assert_eq!(r.device_id, "353861053849681");
        assert_eq!(r.fix.ts, utc(2014, 6, 4, 9, 10, 11));
        assert_eq!(r.fix.position, Position::new(6.15788, 49.60688).unwrap());
        assert_eq!(r.fix.altitude_m, Some(384.7));
    }

    #[test]
    fn traccar_query_06_bearing_altitude_hdop_zero() {
        let r = query("/?id=123456&timestamp=1377177267&lat=60.0&lon=30.0&speed=0.0&bearing=0.0&altitude=0&hdop=0.0").unwrap();
        assert_eq!(r.fix.ts.timestamp(), 1_377_177_267);
        assert_eq!(r.fix.heading, Some(0.0));
        assert_eq!(r.fix.altitude_m, Some(0.0));
        assert_eq!(r.fix.accuracy_m, Some(0.0));
        assert_eq!(r.fix.speed_mps, Some(0.0));
    }

    #[test]
    fn traccar_query_07_minimal() {
        let r = query("/?id=123456&timestamp=1377177267&lat=60.0&lon=30.0").unwrap();
        assert_eq!(r.device_id, "123456");
        assert_eq!(r.fix.position, Position::new(30.0, 60.0).unwrap());
        assert_eq!(
            r.fix.ts,
            DateTime::from_timestamp(1_377_177_267, 0).unwrap()
        );
        assert_eq!(
            (
                r.fix.speed_mps,
                r.fix.heading,
                r.fix.accuracy_m,
                r.fix.altitude_m,
                r.fix.battery
            ),
            (None, None, None, None, None)
        );
    }

    #[test]
    fn traccar_query_08_deviceid_heading_no_timestamp() {
        let r = query(
            "/?lat=60.0&lon=30.0&speed=0.0&heading=0.0&vacc=0&hacc=0&altitude=0&deviceid=123456",
        )
        .unwrap();
        assert_eq!(r.device_id, "123456");
        assert_eq!(r.fix.ts, now()); // missing timestamp → now
        assert_eq!(r.fix.heading, Some(0.0));
        assert_eq!(r.fix.accuracy_m, None); // vacc/hacc are not Traccar keys
    }

    #[test]
    fn traccar_query_09_battery() {
        let r = query("/?id=861001000719969&lat=41.666667&lon=-0.883333&altitude=350.059479&speed=0.000000&batt=87").unwrap();
        assert_eq!(r.fix.battery, Some(87.0));
        assert_eq!(r.fix.altitude_m, Some(350.059479));
        assert_eq!(r.fix.position, Position::new(-0.883333, 41.666667).unwrap());
        assert_eq!(r.fix.ts, now());
    }

    #[test]
    fn traccar_query_10_location_pair() {
        let r = query("/?id=123456&timestamp=1377177267&location=60.0,30.0").unwrap();
        // latitude first
        assert_eq!(r.fix.position, Position::new(30.0, 60.0).unwrap());
    }

    #[test]
    fn traccar_query_11_knots_and_unknown_keys() {
        let r = query("/?id=123456789012345&timestamp=1504763810&lat=40.7232948571&lon=-74.0061408571&bearing=7.19889788244&speed=40&ignition=true&rpm=933&fuel=24").unwrap();
        assert!(
            close(r.fix.speed_mps.unwrap(), 40.0 * 0.514_444_444_444),
            "{:?}",
            r.fix.speed_mps
        );
        assert!((r.fix.speed_mps.unwrap() - 20.5778).abs() < 1e-4);
        assert_eq!(r.fix.heading, Some(7.19889788244));
        assert_eq!(r.fix.ts.timestamp(), 1_504_763_810);
    }

    // ------------------------------------------------------------------
    // Ported from Traccar OsmAndProtocolDecoderTest.testDecodeJson
    // (traccar/traccar @ 24157c0a2eb94fd6b1d6ed6698d6aedb492d288a), in order.
    // ------------------------------------------------------------------

    #[test]
    fn traccar_json_01_android_motionchange() {
        let body = "{\"location\":{\"timestamp\":\"2025-06-15T13:45:12.862Z\",\"coords\":{\"latitude\":37.4219983,\"longitude\":-122.084,\"accuracy\":5,\"speed\":0,\"heading\":-1,\"altitude\":5},\"is_moving\":false,\"odometer\":0,\"event\":\"motionchange\",\"battery\":{\"level\":1,\"is_charging\":false},\"activity\":{\"type\":\"still\"},\"extras\":{},\"_\":\"&id=48241179&lat=37.4219983&lon=-122.084&timestamp=2025-06-15T13:45:12.862Z&\"},\"device_id\":\"48241179\"}";
        let r = parse_json(body.as_bytes(), now()).unwrap();
        assert_eq!(r.device_id, "48241179");
        assert_eq!(r.fix.position, Position::new(-122.084, 37.4219983).unwrap());
        assert_eq!(
            r.fix.ts.timestamp_millis(),
            utc(2025, 6, 15, 13, 45, 12).timestamp_millis() + 862
        );
        assert_eq!(r.fix.accuracy_m, Some(5.0));
        assert_eq!(r.fix.speed_mps, Some(0.0));
        assert_eq!(r.fix.heading, None); // -1: unknown
        assert_eq!(r.fix.altitude_m, Some(5.0));
        assert_eq!(r.fix.battery, Some(100.0));
    }

    #[test]
    fn traccar_json_02_typed_extras() {
        let body = "{\"location\":{\"timestamp\":\"2025-06-15T13:45:12.862Z\",\"coords\":{\"latitude\":37.4219983,\"longitude\":-122.084,\"accuracy\":5,\"speed\":0,\"heading\":-1,\"altitude\":5},\"is_moving\":false,\"odometer\":0,\"event\":\"motionchange\",\"battery\":{\"level\":1,\"is_charging\":false},\"activity\":{\"type\":\"still\"},\"extras\":{\"device_string_test\":\"long_device_id\",\"device_bool_test\":true,\"device_bool_false_test\":false,\"device_integer_test\":1,\"device_double_test\":1.345,\"device_very_long_double_test\":1763636.3442},\"_\":\"&id=48241179&lat=37.4219983&lon=-122.084&timestamp=2025-06-15T13:45:12.862Z&\"},\"device_id\":\"48241179\"}";
        let r = parse_json(body.as_bytes(), now()).unwrap();
        assert_eq!(r.device_id, "48241179");
        assert_eq!(r.fix.position, Position::new(-122.084, 37.4219983).unwrap());
        assert_eq!(r.fix.battery, Some(100.0));
    }

    #[test]
    fn traccar_json_03_ios_unknowns_are_minus_one() {
        let body = "{\"location\":{\"extras\":{},\"mock\":true,\"coords\":{\"speed_accuracy\":-1,\"speed\":-1,\"longitude\":-122.406417,\"ellipsoidal_altitude\":0,\"floor\":null,\"heading_accuracy\":-1,\"latitude\":37.785834000000001,\"accuracy\":5,\"altitude_accuracy\":-1,\"altitude\":0,\"heading\":-1},\"is_moving\":false,\"age\":188,\"odometer\":0,\"uuid\":\"2FB04C65-99CF-42AB-8DD3-EBCB4B108BF8\",\"event\":\"motionchange\",\"battery\":{\"level\":-1,\"is_charging\":false},\"activity\":{\"type\":\"unknown\",\"confidence\":100},\"timestamp\":\"2025-05-09T04:11:30.579Z\"},\"device_id\":\"658765\"}";
        let r = parse_json(body.as_bytes(), now()).unwrap();
        assert_eq!(r.device_id, "658765");
        assert!(close(r.fix.position.lat(), 37.785834));
        assert!(close(r.fix.position.lon(), -122.406417));
        assert_eq!(
            r.fix.ts.timestamp_millis(),
            utc(2025, 5, 9, 4, 11, 30).timestamp_millis() + 579
        );
        assert_eq!(r.fix.speed_mps, None);
        assert_eq!(r.fix.heading, None);
        assert_eq!(r.fix.battery, None);
        assert_eq!(r.fix.accuracy_m, Some(5.0));
        assert_eq!(r.fix.altitude_m, Some(0.0));
    }

    #[test]
    fn traccar_json_04_moving_speed_is_metres_per_second() {
        let body = "{\"location\":{\"event\":\"motionchange\",\"is_moving\":false,\"uuid\":\"0e9a2473-a9a7-4c00-997b-fb97d2154e75\",\"timestamp\":\"2021-07-21T08:06:34.444Z\",\"odometer\":0,\"coords\":{\"latitude\":-6.1148096,\"longitude\":106.6837015,\"accuracy\":3.8,\"speed\":18.67,\"speed_accuracy\":0.26,\"heading\":63,\"heading_accuracy\":0.28,\"altitude\":35.7,\"altitude_accuracy\":3.8},\"activity\":{\"type\":\"still\",\"confidence\":100},\"battery\":{\"is_charging\":false,\"level\":0.79},\"extras\":{}},\"device_id\":\"8737767034\"}";
        let r = parse_json(body.as_bytes(), now()).unwrap();
        assert_eq!(r.device_id, "8737767034");
        assert_eq!(
            r.fix.position,
            Position::new(106.6837015, -6.1148096).unwrap()
        );
        assert_eq!(r.fix.speed_mps, Some(18.67)); // m/s as sent, no knots
        assert_eq!(r.fix.heading, Some(63.0));
        assert_eq!(r.fix.accuracy_m, Some(3.8));
        assert_eq!(r.fix.altitude_m, Some(35.7));
        assert_eq!(r.fix.battery, Some(79.0));
        assert_eq!(
            r.fix.ts.timestamp_millis(),
            utc(2021, 7, 21, 8, 6, 34).timestamp_millis() + 444
        );
    }

    // ------------------------------------------------------------------
    // lianqin's own cases: query form
    // ------------------------------------------------------------------

    #[test]
    fn out_of_range_latitude_names_field_and_value() {
        let e = parse_query("id=a&lat=91&lon=121", now()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "lat: latitude must be a finite number between -90 and 90, got 91"
        );
        let e = parse_query("id=a&lat=28&lon=181", now()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "lon: longitude must be a finite number between -180 and 180, got 181"
        );
        let e = parse_query("id=a&location=91,121", now()).unwrap_err();
        assert_eq!(e.field, "location");
        assert!(e.reason.contains("latitude"), "{e}");
    }

    #[test]
    fn non_finite_and_garbage_numbers_are_refused() {
        let e = parse_query("id=a&lat=NaN&lon=121", now()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "lat: latitude must be a finite number between -90 and 90, got NaN"
        );
        let e = parse_query("id=a&lat=28&lon=inf", now()).unwrap_err();
        assert_eq!(e.field, "lon");
        let e = parse_query("id=a&lat=abc&lon=121", now()).unwrap_err();
        assert_eq!(e, err("lat", "must be a number, got \"abc\""));
        let e = parse_query("id=a&lat=28&lon=121&speed=fast", now()).unwrap_err();
        assert_eq!(e, err("speed", "must be a number, got \"fast\""));
        let e = parse_query("id=a&lat=28&lon=121&speed=Infinity", now()).unwrap_err();
        assert_eq!(e, err("speed", "must be a finite number, got inf"));
        let e = parse_query("id=a&lat=28&lon=121&altitude=NaN", now()).unwrap_err();
        assert_eq!(e.field, "altitude");
        let e = parse_query("id=a&lat=28&lon=121&bearing=361", now()).unwrap_err();
        assert_eq!(e.field, "bearing");
        let e = parse_query("id=a&lat=28&lon=121&batt=101", now()).unwrap_err();
        assert_eq!(e.field, "batt");
    }

    #[test]
    fn missing_or_malformed_position() {
        let e = parse_query("id=a&lat=28.6", now()).unwrap_err();
        assert_eq!(e.field, "lon");
        let e = parse_query("id=a&lon=121", now()).unwrap_err();
        assert_eq!(e.field, "lat");
        let e = parse_query("id=a&location=28.6", now()).unwrap_err();
        assert_eq!(
            e,
            err("location", "must be latitude,longitude, got \"28.6\"")
        );
        let e = parse_query("id=a&location=28.6,x", now()).unwrap_err();
        assert_eq!(e, err("location", "must be a number, got \"x\""));
    }

    #[test]
    fn timestamp_forms_and_magnitude_rule() {
        let ts = |t: &str| {
            parse_query(&format!("id=a&lat=1&lon=1&timestamp={t}"), now()).map(|r| r.fix.ts)
        };
        // Traccar: `timestamp < Integer.MAX_VALUE` → seconds
        assert_eq!(ts("2147483646").unwrap().timestamp(), 2_147_483_646);
        assert_eq!(ts("2147483647").unwrap().timestamp_millis(), 2_147_483_647);
        assert_eq!(
            ts("1718459112862").unwrap().timestamp_millis(),
            1_718_459_112_862
        );
        assert_eq!(ts("0").unwrap().timestamp(), 0);
        assert_eq!(
            ts("2024-03-01T08:00:00%2B08:00").unwrap(),
            utc(2024, 3, 1, 0, 0, 0)
        );
        assert_eq!(
            ts("2024-03-01T08:00:00.250Z").unwrap().timestamp_millis(),
            utc(2024, 3, 1, 8, 0, 0).timestamp_millis() + 250
        );
        assert_eq!(ts("2024-03-01T08:00:00").unwrap(), utc(2024, 3, 1, 8, 0, 0)); // no offset: UTC
        assert_eq!(
            ts("2024-03-01%2008:00:00").unwrap(),
            utc(2024, 3, 1, 8, 0, 0)
        );
        assert_eq!(
            ts("2024-03-01+08%3A00%3A00").unwrap(),
            utc(2024, 3, 1, 8, 0, 0)
        );
        let e = ts("yesterday").unwrap_err();
        assert_eq!(e.field, "timestamp");
        assert!(e.reason.ends_with("got \"yesterday\""), "{e}");
        assert_eq!(ts("1377177267.5").unwrap_err().field, "timestamp");
        assert_eq!(ts("2024-13-01 08:00:00").unwrap_err().field, "timestamp");
        assert_eq!(ts("99999999999999999").unwrap_err().field, "timestamp");
    }

    #[test]
    fn query_details() {
        // leading '?', empty values skipped, last value wins, unknown keys ignored
        let r = parse_query(
            "?id=&deviceid=p1&lat=1&lat=28.6&lon=121.2&speed=&foo=bar",
            now(),
        )
        .unwrap();
        assert_eq!(r.device_id, "p1");
        assert_eq!(r.fix.position, Position::new(121.2, 28.6).unwrap());
        assert_eq!(r.fix.speed_mps, None);
        // percent-encoded id with a space
        let r = parse_query("id=%E6%B0%91%E8%AD%A6+01&lat=28.6&lon=121.2", now()).unwrap();
        assert_eq!(r.device_id, "民警 01");
        // accuracy wins over hdop; negative accuracy/speed/heading/batt: unknown
        let r = parse_query("id=a&lat=1&lon=1&hdop=9&accuracy=4", now()).unwrap();
        assert_eq!(r.fix.accuracy_m, Some(4.0));
        let r = parse_query(
            "id=a&lat=1&lon=1&accuracy=-1&speed=-1&heading=-1&batt=-1",
            now(),
        )
        .unwrap();
        assert_eq!(
            (
                r.fix.accuracy_m,
                r.fix.speed_mps,
                r.fix.heading,
                r.fix.battery
            ),
            (None, None, None, None)
        );
        let r = parse_query("id=a&lat=1&lon=1&heading=360", now()).unwrap();
        assert_eq!(r.fix.heading, Some(0.0));
        // keys are case-sensitive, as in Traccar
        assert_eq!(
            parse_query("ID=a&lat=1&lon=1", now()).unwrap_err().field,
            "id"
        );
        // an empty query
        assert_eq!(parse_query("", now()).unwrap_err().field, "id");
    }

    #[test]
    fn crs_converts_at_the_edge() {
        use crate::spatial::crs::{gcj02_to_bd09, wgs84_to_gcj02};
        use crate::spatial::haversine_m;
        let (lon, lat) = (121.2571, 28.6531); // Huangyan, WGS-84
        let (glon, glat) = wgs84_to_gcj02(lon, lat);
        let (blon, blat) = gcj02_to_bd09(glon, glat);
        let r = parse_query(&format!("id=a&lat={glat}&lon={glon}&crs=gcj02"), now()).unwrap();
        let p = r.fix.position;
        assert!(haversine_m(p.lon(), p.lat(), lon, lat) < 0.01);
        let r = parse_query(&format!("id=a&location={blat},{blon}&crs=BD-09"), now()).unwrap();
        let p = r.fix.position;
        assert!(haversine_m(p.lon(), p.lat(), lon, lat) < 0.5);
        let r = parse_query(&format!("id=a&lat={lat}&lon={lon}&crs=wgs84"), now()).unwrap();
        assert_eq!(r.fix.position, Position::new(lon, lat).unwrap());
        let e = parse_query("id=a&lat=1&lon=1&crs=utm", now()).unwrap_err();
        assert_eq!(
            e,
            err("crs", "must be one of wgs84, gcj02, bd09, got \"utm\"")
        );
    }

    // ------------------------------------------------------------------
    // lianqin's own cases: JSON form
    // ------------------------------------------------------------------

    fn json(v: Value) -> Result<Report, FieldError> {
        parse_json(v.to_string().as_bytes(), now())
    }

    fn base() -> Value {
        serde_json::json!({
            "location": {
                "timestamp": "2025-06-15T13:59:00Z",
                "coords": {"latitude": 28.6531, "longitude": 121.2571, "accuracy": 8,
                           "speed": 1.5, "heading": 90, "altitude": 12},
                "battery": {"level": 0.29, "is_charging": true}
            },
            "device_id": "grid-07"
        })
    }

    #[test]
    fn json_basic_and_battery_rounding() {
        let r = json(base()).unwrap();
        assert_eq!(r.device_id, "grid-07");
        assert_eq!(r.fix.ts, utc(2025, 6, 15, 13, 59, 0));
        assert_eq!(r.fix.speed_mps, Some(1.5));
        assert_eq!(r.fix.battery, Some(29.0)); // Traccar's (int) cast gives 28
    }

    #[test]
    fn json_timestamp_variants() {
        let mut v = base();
        v["location"]["timestamp"] = serde_json::json!(1_749_995_940_000_i64);
        assert_eq!(json(v.clone()).unwrap().fix.ts, utc(2025, 6, 15, 13, 59, 0));
        v["location"]["timestamp"] = serde_json::json!(1_749_995_940_i64);
        assert_eq!(json(v.clone()).unwrap().fix.ts, utc(2025, 6, 15, 13, 59, 0));
        v["location"]["timestamp"] = serde_json::json!("1749995940000");
        assert_eq!(json(v.clone()).unwrap().fix.ts, utc(2025, 6, 15, 13, 59, 0));
        v["location"].as_object_mut().unwrap().remove("timestamp");
        assert_eq!(json(v.clone()).unwrap().fix.ts, now());
        v["location"]["timestamp"] = serde_json::json!("soon");
        assert_eq!(json(v.clone()).unwrap_err().field, "location.timestamp");
        v["location"]["timestamp"] = serde_json::json!(1.5);
        assert_eq!(json(v.clone()).unwrap_err().field, "location.timestamp");
        v["location"]["timestamp"] = serde_json::json!(true);
        assert_eq!(json(v).unwrap_err().field, "location.timestamp");
    }

    #[test]
    fn json_errors_name_the_field() {
        let e = parse_json(b"not json", now()).unwrap_err();
        assert_eq!(e.field, "body");
        assert_eq!(
            parse_json(b"[1,2]", now()).unwrap_err(),
            err("body", "must be a JSON object")
        );
        assert_eq!(parse_json(b"", now()).unwrap_err().field, "body");

        let mut v = base();
        v.as_object_mut().unwrap().remove("device_id");
        assert_eq!(json(v).unwrap_err(), err("device_id", "is required"));
        let mut v = base();
        v["device_id"] = serde_json::json!(42);
        assert_eq!(
            json(v).unwrap_err(),
            err("device_id", "must be a string, got 42")
        );

        let mut v = base();
        v.as_object_mut().unwrap().remove("location");
        assert_eq!(json(v).unwrap_err(), err("location", "is required"));
        let mut v = base();
        v["location"].as_object_mut().unwrap().remove("coords");
        assert_eq!(json(v).unwrap_err(), err("location.coords", "is required"));
        let mut v = base();
        v["location"]["coords"]
            .as_object_mut()
            .unwrap()
            .remove("longitude");
        assert_eq!(
            json(v).unwrap_err(),
            err("location.coords.longitude", "is required")
        );
        let mut v = base();
        v["location"]["coords"]["latitude"] = serde_json::json!("28.6");
        assert_eq!(
            json(v).unwrap_err(),
            err("location.coords.latitude", "must be a number, got \"28.6\"")
        );
        let mut v = base();
        v["location"]["coords"]["latitude"] = serde_json::json!(91);
        assert_eq!(
            json(v).unwrap_err().to_string(),
            "location.coords.latitude: latitude must be a finite number between -90 and 90, got 91"
        );
        let mut v = base();
        v["location"]["coords"]["longitude"] = serde_json::json!(-200.5);
        assert_eq!(json(v).unwrap_err().field, "location.coords.longitude");
        let mut v = base();
        v["location"]["coords"]["speed"] = serde_json::json!("1");
        assert_eq!(json(v).unwrap_err().field, "location.coords.speed");
        let mut v = base();
        v["location"]["coords"]["heading"] = serde_json::json!(400);
        assert_eq!(json(v).unwrap_err().field, "location.coords.heading");
        let mut v = base();
        v["location"]["battery"]["level"] = serde_json::json!(87);
        assert_eq!(
            json(v).unwrap_err(),
            err("location.battery.level", "must be between 0 and 1, got 87")
        );
        let mut v = base();
        v["location"]["battery"] = serde_json::json!(0.5);
        assert_eq!(json(v).unwrap_err().field, "location.battery");
        // huge literal: serde_json refuses it as invalid JSON
        let body = base().to_string().replace("28.6531", "1e400");
        assert_eq!(
            parse_json(body.as_bytes(), now()).unwrap_err().field,
            "body"
        );
    }

    #[test]
    fn json_optional_coords_and_crs() {
        use crate::spatial::crs::wgs84_to_gcj02;
        use crate::spatial::haversine_m;
        let mut v = base();
        let c = v["location"]["coords"].as_object_mut().unwrap();
        c.remove("speed");
        c.remove("heading");
        c.insert("accuracy".into(), Value::Null);
        v["location"].as_object_mut().unwrap().remove("battery");
        let r = json(v).unwrap();
        assert_eq!(
            (
                r.fix.speed_mps,
                r.fix.heading,
                r.fix.accuracy_m,
                r.fix.battery
            ),
            (None, None, None, None)
        );

        let (lon, lat) = (121.2571, 28.6531);
        let (glon, glat) = wgs84_to_gcj02(lon, lat);
        let mut v = base();
        v["location"]["coords"]["latitude"] = serde_json::json!(glat);
        v["location"]["coords"]["longitude"] = serde_json::json!(glon);
        // raw GCJ-02 read as WGS-84 is hundreds of metres off
        let p = json(v.clone()).unwrap().fix.position;
        assert!(haversine_m(p.lon(), p.lat(), lon, lat) > 100.0);
        // in extras
        v["location"]["extras"] = serde_json::json!({"crs": "gcj02"});
        let p = json(v.clone()).unwrap().fix.position;
        assert!(haversine_m(p.lon(), p.lat(), lon, lat) < 0.01);
        // top level wins over extras
        v["crs"] = serde_json::json!("wgs84");
        let p = json(v.clone()).unwrap().fix.position;
        assert!(haversine_m(p.lon(), p.lat(), lon, lat) > 100.0);
        v["crs"] = serde_json::json!("gcj02");
        v["location"]["extras"] = serde_json::json!({});
        let p = json(v.clone()).unwrap().fix.position;
        assert!(haversine_m(p.lon(), p.lat(), lon, lat) < 0.01);
        v["crs"] = serde_json::json!("mars");
        assert_eq!(json(v.clone()).unwrap_err().field, "crs");
        v["crs"] = serde_json::json!(2);
        assert_eq!(json(v).unwrap_err().field, "crs");
    }
}
