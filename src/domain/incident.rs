//! Incidents: one reported event from one source system, with where it happened.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::{Classification, JurisdictionSummary, Position};

/// The source systems an incident can come from. The wire names are stable
/// identifiers; `label_zh` is what screens show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Source {
    /// 110 接处警 (police emergency calls)
    #[serde(rename = "110")]
    Police110,
    /// 12345 政务服务便民热线
    #[serde(rename = "12345")]
    Hotline12345,
    /// 信访投诉 (petitions and complaints)
    #[serde(rename = "xinfang")]
    Petition,
    /// 矛调平台 (dispute mediation)
    #[serde(rename = "maodiao")]
    Mediation,
    /// 基层治理四平台 / 基层智治 (grid workers' reports)
    #[serde(rename = "grid")]
    Grid,
    /// 站所自建 (station-initiated tasks)
    #[serde(rename = "station")]
    Station,
    /// 物联感知 / 视频告警 (sensor and video-analytics alarms)
    #[serde(rename = "sensor")]
    Sensor,
    /// NENA EIDO documents from another dispatch system
    #[serde(rename = "eido")]
    Eido,
    /// 司法所 / 法律服务 (kept for records stored before the source adapters)
    #[serde(rename = "sifa")]
    Judicial,
    /// any other system
    #[serde(rename = "other")]
    Other,
}

impl Source {
    pub const ALL: [Source; 10] = [
        Source::Police110,
        Source::Hotline12345,
        Source::Petition,
        Source::Mediation,
        Source::Grid,
        Source::Station,
        Source::Sensor,
        Source::Eido,
        Source::Judicial,
        Source::Other,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Source::Police110 => "110",
            Source::Hotline12345 => "12345",
            Source::Petition => "xinfang",
            Source::Mediation => "maodiao",
            Source::Grid => "grid",
            Source::Station => "station",
            Source::Sensor => "sensor",
            Source::Eido => "eido",
            Source::Judicial => "sifa",
            Source::Other => "other",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Source::Police110 => "110接处警",
            Source::Hotline12345 => "12345热线",
            Source::Petition => "信访投诉",
            Source::Mediation => "矛调平台",
            Source::Grid => "基层治理四平台",
            Source::Station => "联勤工作站",
            Source::Sensor => "物联感知",
            Source::Eido => "EIDO",
            Source::Judicial => "司法所",
            Source::Other => "其他",
        }
    }

    /// The wire code only (stored rows, stream filters).
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }

    /// A source named by its code or its Chinese name (`信访` = `xinfang`,
    /// `矛调` = `maodiao`, `四平台` = `grid`, …), as accepted everywhere a
    /// user names a source.
    pub fn parse_name(name: &str) -> Option<Self> {
        let t = name.trim();
        if let Some(s) = Self::parse(t) {
            return Some(s);
        }
        let lower = t.to_ascii_lowercase();
        let aliases: &[(&str, Source)] = &[
            ("110接处警", Source::Police110),
            ("接处警", Source::Police110),
            ("警情", Source::Police110),
            ("12345热线", Source::Hotline12345),
            ("政务热线", Source::Hotline12345),
            ("便民热线", Source::Hotline12345),
            ("信访", Source::Petition),
            ("信访投诉", Source::Petition),
            ("矛调", Source::Mediation),
            ("矛调平台", Source::Mediation),
            ("矛调中心", Source::Mediation),
            ("四平台", Source::Grid),
            ("基层治理四平台", Source::Grid),
            ("基层智治", Source::Grid),
            ("网格", Source::Grid),
            ("联勤工作站", Source::Station),
            ("工作站", Source::Station),
            ("站所", Source::Station),
            ("站所自建", Source::Station),
            ("感知", Source::Sensor),
            ("物联感知", Source::Sensor),
            ("视频告警", Source::Sensor),
            ("传感器", Source::Sensor),
            ("nena-eido", Source::Eido),
            ("司法所", Source::Judicial),
            ("其他", Source::Other),
        ];
        aliases
            .iter()
            .find(|(a, _)| *a == t || *a == lower)
            .map(|(_, s)| *s)
            .or_else(|| Self::parse(&lower))
    }
}

/// A validated incident that has not been stored yet.
#[derive(Debug, Clone, PartialEq)]
pub struct NewIncident {
    pub source: Source,
    /// The record's id in its source system; (source, source_id) is unique.
    pub source_id: String,
    pub reported_at: DateTime<Utc>,
    /// None: the record could not be located (stored, flagged `located: false`).
    pub position: Option<Position>,
    pub category: Option<String>,
    pub description: Option<String>,
    pub address: Option<String>,
    /// 1 (most urgent) to 4.
    pub priority: Option<u8>,
    /// Produced by the demo feed, not by a real source system.
    pub demo: bool,
    pub detail: IncidentDetail,
    /// The source's native record (personal numbers already masked).
    pub raw: Option<Value>,
}

/// A stored incident.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    pub id: i64,
    pub source: Source,
    pub source_id: String,
    pub reported_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub position: Option<Position>,
    pub category: Option<String>,
    pub description: Option<String>,
    pub address: Option<String>,
    pub priority: Option<u8>,
    pub demo: bool,
    pub jurisdiction: JurisdictionSummary,
    pub detail: IncidentDetail,
    /// The repeat-call cluster it belongs to (issue 7; `None` until the live
    /// writer has clustered it, e.g. after an offline `lianqin ingest`).
    pub cluster_id: Option<i64>,
}

/// What the normalizing pipeline adds to an incident beyond the foundation's
/// fields; stored as `incident.detail` (jsonb), with the columns queries
/// filter on copied beside it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct IncidentDetail {
    /// The source system's own category code or name, verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_at: Option<DateTime<Utc>>,
    /// The datum the coordinates arrived in (`wgs84`, `gcj02`, `bd09`);
    /// stored coordinates are always WGS-84.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crs: Option<String>,
    /// Set when the position came from the address (offline gazetteer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geocode: Option<Geocoded>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<Classification>,
    /// Callers, petitioners, parties: masked forms and keyed hashes only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parties: Vec<Party>,
    /// Companies and addresses named in the text, normalized and hashed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entities: Vec<Entity>,
    /// External ids kept for later merge/link (EIDO ids, related call ids).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub refs: Map<String, Value>,
}

/// How an address was located.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Geocoded {
    /// Canonical names matched, e.g. `院桥镇 · 鉴洋湖村`.
    pub matched: String,
    /// `township`, `village`, `station`, `post` or `landmark`.
    pub kind: String,
    pub confidence: f32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// A person named in a record, without anything that identifies them in
/// clear: the keyed hashes let "same person, many calls" be counted.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Party {
    /// `caller`, `petitioner`, `party`, `subject`, `reporter`.
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_masked: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_masked: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_masked: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_hash: Option<String>,
}

/// A company or address named in the text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Entity {
    /// `company` or `address`.
    pub kind: String,
    /// Normalized form (no personal data: company names and place text).
    pub name: String,
    pub hash: String,
}

impl IncidentDetail {
    /// The first caller-like party's phone hash (indexed: repeat callers).
    pub fn caller_hash(&self) -> Option<&str> {
        self.parties
            .iter()
            .find(|p| p.phone_hash.is_some())
            .and_then(|p| p.phone_hash.as_deref())
    }
}

impl Incident {
    fn common_props(&self) -> serde_json::Map<String, Value> {
        let d = &self.detail;
        let c = d.classification.as_ref();
        let v = json!({
            "id": self.id,
            "source": self.source.code(),
            "source_label": self.source.label_zh(),
            "source_id": self.source_id,
            "source_category": d.source_category,
            "reported_at": self.reported_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "received_at": self.received_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "occurred_at": d.occurred_at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            "category": self.category,
            "description": self.description,
            "address": self.address,
            "priority": self.priority,
            "demo": self.demo,
            "located": self.position.is_some(),
            "crs": d.crs,
            "geocode": d.geocode,
            "jurisdiction": self.jurisdiction,
            // flat copies for map styling and filters (MapLibre properties are scalars)
            "leaf_id": c.map(|c| c.leaf_id.as_str()),
            "leaf_name": c.map(|c| c.leaf_name.as_str()),
            "group_id": c.map(|c| c.group_id.as_str()),
            "group_name": c.map(|c| c.group_name.as_str()),
            "lead_department": c.map(|c| c.lead_department.as_str()),
            "tags": c.map(|c| c.tags.as_slice()).unwrap_or(&[]),
            "classification": c,
            "parties": d.parties,
            "entities": d.entities,
            "refs": d.refs,
            "cluster_id": self.cluster_id,
        });
        match v {
            Value::Object(m) => m,
            _ => unreachable!("json! of an object literal is an object"),
        }
    }

    /// The flat JSON record returned by `POST /api/v1/incidents`.
    pub fn to_record(&self, created: bool) -> Value {
        let mut m = self.common_props();
        m.insert("lon".into(), json!(self.position.map(|p| p.lon())));
        m.insert("lat".into(), json!(self.position.map(|p| p.lat())));
        m.insert("created".into(), json!(created));
        Value::Object(m)
    }

    /// An RFC 7946 Feature (Point geometry, or null geometry when the
    /// incident could not be located) with the record as properties.
    pub fn to_feature(&self) -> Value {
        let geometry = match self.position {
            Some(p) => json!({"type": "Point", "coordinates": [p.lon(), p.lat()]}),
            None => Value::Null,
        };
        json!({
            "type": "Feature",
            "id": self.id,
            "geometry": geometry,
            "properties": Value::Object(self.common_props()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_codes_round_trip() {
        for s in Source::ALL {
            assert_eq!(Source::parse(s.code()), Some(s));
            let wire = serde_json::to_value(s).unwrap();
            assert_eq!(wire, json!(s.code()));
        }
        assert_eq!(Source::parse("119"), None);
    }

    #[test]
    fn sources_by_chinese_name() {
        assert_eq!(Source::parse_name("信访"), Some(Source::Petition));
        assert_eq!(Source::parse_name(" 矛调 "), Some(Source::Mediation));
        assert_eq!(Source::parse_name("四平台"), Some(Source::Grid));
        assert_eq!(Source::parse_name("EIDO"), Some(Source::Eido));
        assert_eq!(Source::parse_name("12345热线"), Some(Source::Hotline12345));
        assert_eq!(Source::parse_name("119"), None);
    }
}

/// One stored incident and whether this call created it (false: it was
/// already stored under the same `(source, source_id)`).
#[derive(Debug, Clone)]
pub struct Stored {
    pub incident: Incident,
    pub created: bool,
}
