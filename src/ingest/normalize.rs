//! One record → the one normalized incident, whatever the transport:
//!
//! 1. personal data: parties' phone and ID numbers become keyed hashes plus
//!    masked forms; free text, address and the raw record are scrubbed of
//!    anything that looks like a mobile or ID number;
//! 2. location: a record with an address and no coordinates is geocoded
//!    offline against the gazetteer of the current layers; one that cannot be
//!    located keeps `position: None` (stored, `located: false`);
//! 3. classification: the source's own category code when it maps to the
//!    taxonomy, else the text model; rule tags; the lead department;
//! 4. entities: companies named in the text and the address, normalized and hashed.
//!
//! Pure CPU work; time per stage goes to [`PipelineStats`].

use std::sync::atomic::Ordering;
use std::time::Instant;

use chrono::Timelike;

use super::{Intake, PipelineStats};
use crate::classify::Classifier;
use crate::domain::{Classification, Geocoded, NewIncident, Position};
use crate::live::Snapshot;
use crate::privacy::{self, Hasher};

/// Asia/Shanghai (no daylight saving) for the night-time tag.
const CHINA_OFFSET_H: i64 = 8;

pub struct Normalizer {
    hasher: Hasher,
}

impl Normalizer {
    pub fn new(hasher: Hasher) -> Self {
        Self { hasher }
    }

    pub fn hasher(&self) -> &Hasher {
        &self.hasher
    }

    pub fn normalize(&self, intake: Intake, snap: &Snapshot, stats: &PipelineStats) -> NewIncident {
        let t0 = Instant::now();
        let Intake {
            incident: mut n,
            parties,
        } = intake;
        // 1. personal data
        n.detail.parties = parties
            .iter()
            .map(|p| {
                self.hasher.party(
                    &p.role,
                    p.name.as_deref(),
                    p.phone.as_deref(),
                    p.id_no.as_deref(),
                )
            })
            .collect();
        n.description = n.description.as_deref().map(privacy::scrub_text);
        n.address = n.address.as_deref().map(privacy::scrub_text);
        n.raw = n.raw.as_ref().map(|r| privacy::scrub_json(r, &self.hasher));

        // 2. location
        if n.position.is_none() {
            if let Some(addr) = n.address.as_deref() {
                let t = Instant::now();
                let hit = snap.gazetteer.geocode(addr);
                stats
                    .geocode_ns
                    .fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
                if let Some(m) = hit.and_then(|m| Some((Position::new(m.lon, m.lat).ok()?, m))) {
                    let (p, m) = m;
                    n.position = Some(p);
                    n.detail.crs = Some("wgs84".into());
                    n.detail.geocode = Some(Geocoded {
                        matched: m.matched,
                        kind: serde_json::to_value(m.kind)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_string))
                            .unwrap_or_default(),
                        confidence: m.confidence,
                        code: m.code,
                    });
                    stats.geocoded.fetch_add(1, Ordering::Relaxed);
                }
            }
        }

        // 3. classification
        let t = Instant::now();
        let c = self.classify(&n);
        stats
            .classify_ns
            .fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
        if n.category.is_none() {
            n.category = Some(c.leaf_name.clone());
        }
        n.detail.classification = Some(c);

        // 4. entities
        n.detail.entities =
            privacy::entities(&self.hasher, n.description.as_deref(), n.address.as_deref());
        let total = t0.elapsed().as_nanos() as u64;
        stats.normalize_ns.fetch_add(total, Ordering::Relaxed);
        n
    }

    fn classify(&self, n: &NewIncident) -> Classification {
        let text = match (&n.description, &n.category) {
            (Some(d), _) => d.clone(),
            (None, Some(c)) => c.clone(),
            (None, None) => String::new(),
        };
        // the source's own code, or the free-text category of the incidents API
        let code = n
            .detail
            .source_category
            .as_deref()
            .or(n.category.as_deref());
        let at = n.detail.occurred_at.unwrap_or(n.reported_at);
        let hour = ((at.hour() as i64 + CHINA_OFFSET_H) % 24) as u32;
        let c = Classifier::standard().classify(&text, Some(n.source.code()), code, Some(hour));
        Classification {
            leaf_id: c.leaf_id,
            leaf_name: c.leaf_name,
            group_id: c.group_id,
            group_name: c.group_name,
            confidence: c.confidence,
            runners_up: c
                .runners_up
                .into_iter()
                .map(|r| crate::domain::Candidate {
                    leaf_id: r.leaf_id,
                    leaf_name: r.leaf_name,
                    confidence: r.confidence,
                })
                .collect(),
            tags: c.tags,
            lead_department: c.lead_department,
            method: match c.method {
                crate::classify::Method::SourceCode => crate::domain::Method::SourceCode,
                crate::classify::Method::Model => crate::domain::Method::Model,
            },
        }
    }
}
