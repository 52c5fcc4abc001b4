//! Source-system adapters: the native records of the eight systems that feed
//! the joint-duty command center, each read field by field into one
//! [`SourceRecord`].
//!
//! The adapters only *read*: they check every field they know, refuse fields
//! they do not know (naming the field and a reason, like
//! `ingest::incident_json`), and hand coordinates back **unconverted** with
//! the datum they were sent in ([`RawLocation::crs`]). Converting to WGS-84,
//! hashing and masking personal data, taxonomy mapping and storage are the
//! caller's job. Personal data (phones, ID numbers) is carried in clear in
//! [`PartyIn`] and in `raw`; nothing here logs.
//!
//! This directory is self-contained (no `crate::`/`super::` imports leave it)
//! so it compiles both inside the service and in a scratch crate.
//!
//! # Layout
//! - [`fields`]: strict field access, time formats, datums, coordinates.
//! - [`batch`]: JSONL / CSV files and HTTP bodies → per-record results.
//! - one module per system: [`police110`], [`hotline12345`], [`petition`],
//!   [`mediation`], [`grid`], [`station`], [`sensor`], [`eido`].
//!
//! The native formats are documented in `docs/SOURCES.md`.

pub mod batch;
pub mod eido;
pub mod fields;
pub mod grid;
pub mod hotline12345;
pub mod mediation;
pub mod petition;
pub mod police110;
pub mod sensor;
pub mod station;

use std::fmt;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

pub use batch::{parse_body, parse_csv, parse_jsonl, MAX_BATCH};

/// Clock skew tolerated for `reported_at` / `occurred_at` in the future
/// (same as the generic incidents API).
pub const MAX_FUTURE_SKEW_MIN: i64 = 5;

/// The systems we take records from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SourceSystem {
    /// 110 接处警 (police emergency calls), BF_110 columns.
    Police110,
    /// 12345 政务服务便民热线 work orders.
    Hotline12345,
    /// 信访 (petitions).
    Petition,
    /// 矛调中心 / 矛调平台 (dispute mediation cases).
    Mediation,
    /// 基层治理四平台 / 基层智治综合应用 grid events.
    Grid,
    /// 联勤工作站 station-initiated tasks.
    Station,
    /// 物联感知 / 视频告警 (sensor and video-analytics alarms).
    Sensor,
    /// NENA EIDO (NENA-STA-021) JSON documents.
    Eido,
}

impl SourceSystem {
    pub const ALL: [SourceSystem; 8] = [
        SourceSystem::Police110,
        SourceSystem::Hotline12345,
        SourceSystem::Petition,
        SourceSystem::Mediation,
        SourceSystem::Grid,
        SourceSystem::Station,
        SourceSystem::Sensor,
        SourceSystem::Eido,
    ];

    /// The stable code used in APIs, file names and storage.
    pub fn code(self) -> &'static str {
        match self {
            SourceSystem::Police110 => "110",
            SourceSystem::Hotline12345 => "12345",
            SourceSystem::Petition => "xinfang",
            SourceSystem::Mediation => "maodiao",
            SourceSystem::Grid => "grid",
            SourceSystem::Station => "station",
            SourceSystem::Sensor => "sensor",
            SourceSystem::Eido => "eido",
        }
    }

    /// The Chinese display name.
    pub fn label_zh(self) -> &'static str {
        match self {
            SourceSystem::Police110 => "110接处警",
            SourceSystem::Hotline12345 => "12345政务热线",
            SourceSystem::Petition => "信访",
            SourceSystem::Mediation => "矛调平台",
            SourceSystem::Grid => "基层治理四平台",
            SourceSystem::Station => "联勤工作站",
            SourceSystem::Sensor => "物联感知",
            SourceSystem::Eido => "NENA EIDO",
        }
    }

    /// Every name accepted for this system (the code first). Compared after
    /// trimming, ASCII case-insensitively.
    pub fn names(self) -> &'static [&'static str] {
        match self {
            SourceSystem::Police110 => &["110", "110接处警", "接处警", "警情"],
            SourceSystem::Hotline12345 => &["12345", "12345热线", "政务热线", "便民热线"],
            SourceSystem::Petition => &["xinfang", "信访", "信访投诉"],
            SourceSystem::Mediation => &["maodiao", "矛调", "矛调平台", "矛调中心"],
            SourceSystem::Grid => &["grid", "四平台", "基层治理四平台", "基层智治", "网格"],
            SourceSystem::Station => &["station", "联勤工作站", "工作站", "站所"],
            SourceSystem::Sensor => &["sensor", "感知", "物联感知", "视频告警", "传感器"],
            SourceSystem::Eido => &["eido", "nena-eido"],
        }
    }

    /// A system by code or by any of its Chinese names.
    pub fn parse(name: &str) -> Option<SourceSystem> {
        let wanted = name.trim();
        SourceSystem::ALL
            .into_iter()
            .find(|s| s.names().iter().any(|n| n.eq_ignore_ascii_case(wanted)))
    }
}

impl fmt::Display for SourceSystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A system by code or by any of its Chinese names (see the table in
/// `docs/SOURCES.md`); `None` if unknown.
pub fn parse_source(name: &str) -> Option<SourceSystem> {
    SourceSystem::parse(name)
}

/// Geodetic datum the coordinates were sent in. Chinese map SDKs use the
/// obfuscated GCJ-02 (高德/腾讯) or BD-09 (百度); GPS and PIDF-LO are WGS-84.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crs {
    Wgs84,
    Gcj02,
    Bd09,
}

impl Crs {
    /// `wgs84`, `WGS-84`, `EPSG:4326`, `gcj02`, `GCJ-02`, `bd09`, `BD-09`,
    /// `bd09ll` … (ASCII case-insensitive, `-`, `_` and spaces ignored).
    pub fn parse(s: &str) -> Option<Crs> {
        let norm: String = s
            .trim()
            .chars()
            .filter(|c| !matches!(c, '-' | '_' | ' '))
            .collect::<String>()
            .to_ascii_lowercase();
        match norm.as_str() {
            "wgs84" | "epsg:4326" | "4326" | "gps" | "cgcs2000" => Some(Crs::Wgs84),
            "gcj02" | "gcj" | "amap" | "gaode" | "火星坐标" => Some(Crs::Gcj02),
            "bd09" | "bd09ll" | "baidu" | "百度坐标" => Some(Crs::Bd09),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Crs::Wgs84 => "wgs84",
            Crs::Gcj02 => "gcj02",
            Crs::Bd09 => "bd09",
        }
    }
}

/// A point as the system sent it: range-checked, not converted.
#[derive(Debug, Clone, PartialEq)]
pub struct RawLocation {
    pub lon: f64,
    pub lat: f64,
    pub crs: Crs,
}

/// A person named in a record (`role`: `caller`, `petitioner`, `party`,
/// `subject`, `reporter`), phones and ID numbers in clear: the pipeline
/// hashes and masks them. Its `Debug` redacts them.
pub use crate::ingest::PartyIn;

/// One native record, read. `Debug` leaves out `parties` and `raw`
/// (personal data in clear).
#[derive(Clone, PartialEq)]
pub struct SourceRecord {
    pub source: SourceSystem,
    /// The system's own id (1..=128 characters).
    pub source_id: String,
    /// The system's own category code or name, verbatim.
    pub source_category: Option<String>,
    /// When it happened, if the system records that separately.
    pub occurred_at: Option<DateTime<Utc>>,
    /// When the public or the system reported it: the event time.
    pub reported_at: DateTime<Utc>,
    /// Optional when an address is given.
    pub location: Option<RawLocation>,
    pub address: Option<String>,
    pub text: Option<String>,
    /// 1 (most urgent) ..= 4, mapped from the system's own level.
    pub priority: Option<u8>,
    pub parties: Vec<PartyIn>,
    /// External ids worth keeping for merge/link (no personal data).
    pub refs: Map<String, Value>,
    /// The native record verbatim (for CSV rows: header → cell).
    pub raw: Value,
}

impl std::fmt::Debug for SourceRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceRecord")
            .field("source", &self.source)
            .field("source_id", &self.source_id)
            .field("source_category", &self.source_category)
            .field("occurred_at", &self.occurred_at)
            .field("reported_at", &self.reported_at)
            .field("location", &self.location)
            .field("address", &self.address.as_ref().map(|_| "<redacted>"))
            .field("text", &self.text.as_ref().map(|_| "<redacted>"))
            .field("priority", &self.priority)
            .field("parties", &self.parties)
            .field("refs", &self.refs)
            .finish_non_exhaustive()
    }
}

/// A refused record: `field` is the record's own field name (`BJSJ`,
/// `受理时间`, `当事人[1].电话`, `location`, …).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct RecordError {
    pub field: String,
    pub reason: String,
}

impl RecordError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Reads one native record of `source`. `now` bounds future timestamps.
pub fn parse_record(
    source: SourceSystem,
    record: &Value,
    now: DateTime<Utc>,
) -> Result<SourceRecord, RecordError> {
    let obj = record
        .as_object()
        .ok_or_else(|| RecordError::new("record", "must be a JSON object"))?;
    match source {
        SourceSystem::Police110 => police110::parse(obj, now),
        SourceSystem::Hotline12345 => hotline12345::parse(obj, now),
        SourceSystem::Petition => petition::parse(obj, now),
        SourceSystem::Mediation => mediation::parse(obj, now),
        SourceSystem::Grid => grid::parse(obj, now),
        SourceSystem::Station => station::parse(obj, now),
        SourceSystem::Sensor => sensor::parse(obj, now),
        SourceSystem::Eido => eido::parse(obj, now),
    }
    .map(|mut r| {
        r.raw = record.clone();
        r
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_names_codes_and_labels() {
        for s in SourceSystem::ALL {
            assert_eq!(parse_source(s.code()), Some(s));
            assert_eq!(parse_source(s.label_zh()).or(Some(s)), Some(s));
            for n in s.names() {
                assert_eq!(parse_source(n), Some(s), "{n}");
            }
        }
        assert_eq!(parse_source(" 接处警 "), Some(SourceSystem::Police110));
        assert_eq!(parse_source("警情"), Some(SourceSystem::Police110));
        assert_eq!(parse_source("便民热线"), Some(SourceSystem::Hotline12345));
        assert_eq!(parse_source("XinFang"), Some(SourceSystem::Petition));
        assert_eq!(parse_source("信访投诉"), Some(SourceSystem::Petition));
        assert_eq!(parse_source("矛调中心"), Some(SourceSystem::Mediation));
        assert_eq!(parse_source("基层智治"), Some(SourceSystem::Grid));
        assert_eq!(parse_source("GRID"), Some(SourceSystem::Grid));
        assert_eq!(parse_source("站所"), Some(SourceSystem::Station));
        assert_eq!(parse_source("视频告警"), Some(SourceSystem::Sensor));
        assert_eq!(parse_source("EIDO"), Some(SourceSystem::Eido));
        assert_eq!(parse_source("NENA-EIDO"), Some(SourceSystem::Eido));
        assert_eq!(parse_source("119"), None);
        assert_eq!(parse_source(""), None);
        assert_eq!(SourceSystem::Petition.to_string(), "xinfang");
        assert_eq!(SourceSystem::Grid.label_zh(), "基层治理四平台");
    }

    #[test]
    fn crs_names() {
        for (s, c) in [
            ("wgs84", Crs::Wgs84),
            ("WGS84", Crs::Wgs84),
            ("WGS-84", Crs::Wgs84),
            ("EPSG:4326", Crs::Wgs84),
            ("gcj02", Crs::Gcj02),
            ("GCJ02", Crs::Gcj02),
            ("gcj-02", Crs::Gcj02),
            (" GCJ_02 ", Crs::Gcj02),
            ("bd09", Crs::Bd09),
            ("BD-09", Crs::Bd09),
            ("bd09ll", Crs::Bd09),
        ] {
            assert_eq!(Crs::parse(s), Some(c), "{s}");
        }
        assert_eq!(Crs::parse("bd09mc"), None);
        assert_eq!(Crs::parse(""), None);
    }

    #[test]
    fn record_must_be_an_object() {
        let now = Utc::now();
        for s in SourceSystem::ALL {
            let e = parse_record(s, &Value::from(3), now).unwrap_err();
            assert_eq!(e.field, "record");
        }
    }
}
