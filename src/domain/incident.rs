//! Incidents: one reported event from one source system, with where it happened.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{JurisdictionSummary, Position};

/// The source systems an incident can come from. The wire names are stable
/// identifiers; `label_zh` is what screens show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
    /// 司法所 / 法律服务
    #[serde(rename = "sifa")]
    Judicial,
    /// any other system
    #[serde(rename = "other")]
    Other,
}

impl Source {
    pub const ALL: [Source; 8] = [
        Source::Police110,
        Source::Hotline12345,
        Source::Petition,
        Source::Mediation,
        Source::Grid,
        Source::Station,
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
            Source::Station => "站所自建",
            Source::Judicial => "司法所",
            Source::Other => "其他",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }
}

/// A validated incident that has not been stored yet.
#[derive(Debug, Clone, PartialEq)]
pub struct NewIncident {
    pub source: Source,
    /// The record's id in its source system; (source, source_id) is unique.
    pub source_id: String,
    pub reported_at: DateTime<Utc>,
    pub position: Position,
    pub category: Option<String>,
    pub description: Option<String>,
    pub address: Option<String>,
    /// 1 (most urgent) to 4.
    pub priority: Option<u8>,
    /// Produced by the demo feed, not by a real source system.
    pub demo: bool,
}

/// A stored incident.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    pub id: i64,
    pub source: Source,
    pub source_id: String,
    pub reported_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub position: Position,
    pub category: Option<String>,
    pub description: Option<String>,
    pub address: Option<String>,
    pub priority: Option<u8>,
    pub demo: bool,
    pub jurisdiction: JurisdictionSummary,
}

impl Incident {
    fn common_props(&self) -> serde_json::Map<String, Value> {
        let v = json!({
            "id": self.id,
            "source": self.source.code(),
            "source_label": self.source.label_zh(),
            "source_id": self.source_id,
            "reported_at": self.reported_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "received_at": self.received_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "category": self.category,
            "description": self.description,
            "address": self.address,
            "priority": self.priority,
            "demo": self.demo,
            "jurisdiction": self.jurisdiction,
        });
        match v {
            Value::Object(m) => m,
            _ => unreachable!("json! of an object literal is an object"),
        }
    }

    /// The flat JSON record returned by `POST /api/v1/incidents`.
    pub fn to_record(&self, created: bool) -> Value {
        let mut m = self.common_props();
        m.insert("lon".into(), json!(self.position.lon()));
        m.insert("lat".into(), json!(self.position.lat()));
        m.insert("created".into(), json!(created));
        Value::Object(m)
    }

    /// An RFC 7946 Feature (Point geometry) with the record as properties.
    pub fn to_feature(&self) -> Value {
        json!({
            "type": "Feature",
            "id": self.id,
            "geometry": {"type": "Point", "coordinates": [self.position.lon(), self.position.lat()]},
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
}

/// One stored incident and whether this call created it (false: it was
/// already stored under the same `(source, source_id)`).
#[derive(Debug, Clone)]
pub struct Stored {
    pub incident: Incident,
    pub created: bool,
}
