//! A source system's record ([`sources::SourceRecord`]) → an [`Intake`] for
//! the pipeline: coordinates converted to WGS-84 at the edge and validated,
//! the source's code, times, refs and raw record carried over.

use super::sources::{Crs, SourceRecord};
use super::{FieldError, Intake};
use crate::domain::{IncidentDetail, NewIncident, Position, Source};
use crate::spatial::crs::Datum;

/// Longest stored text per field (the incidents API uses the same bounds
/// for description and address).
const MAX_TEXT: usize = 4000;
const MAX_ADDRESS: usize = 256;

fn clip(s: Option<String>, max: usize) -> Option<String> {
    s.map(|s| s.replace('\0', ""))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .map(|s| {
            if s.chars().count() > max {
                s.chars().take(max).collect()
            } else {
                s
            }
        })
}

pub fn to_intake(r: SourceRecord) -> Result<Intake, FieldError> {
    let source = Source::parse(r.source.code()).ok_or_else(|| {
        FieldError::new(
            "source",
            format!("{} has no stored source", r.source.code()),
        )
    })?;
    let (position, crs) = match &r.location {
        Some(l) => {
            let datum = match l.crs {
                Crs::Wgs84 => Datum::Wgs84,
                Crs::Gcj02 => Datum::Gcj02,
                Crs::Bd09 => Datum::Bd09,
            };
            let (lon, lat) = datum.to_wgs84(l.lon, l.lat);
            let p = Position::new(lon, lat)
                .map_err(|e| FieldError::new(format!("location.{}", e.field()), e.to_string()))?;
            (Some(p), Some(l.crs.code().to_string()))
        }
        None => (None, None),
    };
    let parties = r
        .parties
        .into_iter()
        .map(|p| super::PartyIn {
            role: p.role,
            name: p.name,
            phone: p.phone,
            id_no: p.id_no,
        })
        .collect();
    let incident = NewIncident {
        source,
        source_id: r.source_id,
        reported_at: r.reported_at,
        position,
        category: None,
        description: clip(r.text, MAX_TEXT),
        address: clip(r.address, MAX_ADDRESS),
        priority: r.priority.filter(|p| (1..=4).contains(p)),
        demo: false,
        detail: IncidentDetail {
            source_category: clip(r.source_category, 64),
            occurred_at: r.occurred_at,
            crs,
            refs: r.refs,
            ..Default::default()
        },
        raw: Some(r.raw),
    };
    Ok(Intake { incident, parties })
}
