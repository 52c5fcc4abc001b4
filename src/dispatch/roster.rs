//! The roster in memory: every responder's record, status, newest fix and
//! open assignment, plus the spatial index over them. Pure: time is a
//! parameter, nothing here does I/O. The live world's writer owns one
//! `Roster` (behind a lock that only the writer takes for writing).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::hygiene::{self, Rejection};
use super::index::{Entry, Filter, Hit, IndexConfig, ResponderIndex, Slot, NO_STATION};
use super::DispatchConfig;
use crate::domain::{
    Assignment, Bbox, Fix, JurisdictionSummary, Position, ResponderSpec, ResponderType, Status,
};
use crate::spatial::JurisdictionIndex;

/// Most distinct skill names (each is one bit of a `u64` in the index).
pub const MAX_SKILLS: usize = 64;

#[derive(Debug, Clone)]
pub struct Responder {
    pub spec: ResponderSpec,
    pub status: Status,
    pub status_since: DateTime<Utc>,
    pub fix: Option<Fix>,
    /// The open (dispatched or acked) assignment, if any.
    pub assignment: Option<Assignment>,
}

/// Why a fix was not applied.
#[derive(Debug, Clone, PartialEq)]
pub enum FixError {
    UnknownResponder(String),
    Rejected(Rejection),
}

/// What a `nearest` query asks for. `None`/empty means "any".
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub kinds: Vec<ResponderType>,
    pub statuses: Vec<Status>,
    pub skill: Option<String>,
    pub station: Option<String>,
    pub exclude: Vec<String>,
}

#[derive(Debug)]
pub struct Roster {
    cfg: DispatchConfig,
    list: Vec<Responder>,
    by_id: HashMap<String, Slot>,
    index: ResponderIndex,
    skills: HashMap<String, u32>,
    stations: HashMap<String, u16>,
}

impl Roster {
    pub fn new(cfg: DispatchConfig, index: IndexConfig) -> Self {
        Self {
            cfg,
            list: Vec::new(),
            by_id: HashMap::new(),
            index: ResponderIndex::new(index),
            skills: HashMap::new(),
            stations: HashMap::new(),
        }
    }

    pub fn config(&self) -> &DispatchConfig {
        &self.cfg
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn slot(&self, id: &str) -> Option<Slot> {
        self.by_id.get(id).copied()
    }

    pub fn get(&self, slot: Slot) -> &Responder {
        &self.list[slot as usize]
    }

    pub fn by_id(&self, id: &str) -> Option<&Responder> {
        self.slot(id).map(|s| self.get(s))
    }

    pub fn slots(&self) -> impl Iterator<Item = Slot> {
        0..self.list.len() as Slot
    }

    /// Skill names that are new to the roster, for a pre-check: the whole
    /// request is refused if it would exceed [`MAX_SKILLS`].
    pub fn unknown_skills<'a>(&self, names: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
        let mut out: Vec<&str> = names.filter(|n| !self.skills.contains_key(*n)).collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    pub fn skill_capacity_left(&self) -> usize {
        MAX_SKILLS - self.skills.len()
    }

    fn skill_bits(&mut self, names: &[String]) -> u64 {
        let mut bits = 0u64;
        for n in names {
            let next = self.skills.len() as u32;
            let bit = match self.skills.get(n) {
                Some(b) => *b,
                None if (next as usize) < MAX_SKILLS => {
                    self.skills.insert(n.clone(), next);
                    next
                }
                None => continue, // refused earlier by the caller's pre-check
            };
            bits |= 1u64 << bit;
        }
        bits
    }

    fn station_id(&mut self, code: Option<&str>) -> u16 {
        match code {
            None => NO_STATION,
            Some(c) => {
                let next = self.stations.len() as u16;
                *self.stations.entry(c.to_string()).or_insert(next)
            }
        }
    }

    /// Inserts or replaces a responder's record. Keeps its fix and open
    /// assignment. Returns its slot.
    pub fn upsert(
        &mut self,
        spec: ResponderSpec,
        status: Status,
        status_since: DateTime<Utc>,
    ) -> Slot {
        let skills = self.skill_bits(&spec.skills);
        let station = self.station_id(spec.station.as_deref());
        let slot = match self.by_id.get(&spec.id) {
            Some(&s) => {
                let r = &mut self.list[s as usize];
                r.spec = spec;
                r.status = status;
                r.status_since = status_since;
                s
            }
            None => {
                let s = self.list.len() as Slot;
                self.by_id.insert(spec.id.clone(), s);
                self.list.push(Responder {
                    spec,
                    status,
                    status_since,
                    fix: None,
                    assignment: None,
                });
                s
            }
        };
        let r = &self.list[slot as usize];
        self.index.upsert(
            slot,
            Entry {
                pos: r.fix.map(|f| f.position),
                kind: r.spec.kind,
                status,
                skills,
                station,
                fix_ms: r.fix.map_or(i64::MIN, |f| f.ts.timestamp_millis()),
            },
        );
        slot
    }

    /// Applies a fix if it passes the hygiene rules (newest wins).
    pub fn apply_fix(&mut self, id: &str, fix: Fix, now: DateTime<Utc>) -> Result<Slot, FixError> {
        let slot = self
            .slot(id)
            .ok_or_else(|| FixError::UnknownResponder(id.to_string()))?;
        let r = &mut self.list[slot as usize];
        hygiene::check(r.fix.as_ref(), &fix, r.spec.kind, now, &self.cfg.hygiene)
            .map_err(FixError::Rejected)?;
        r.fix = Some(fix);
        self.index
            .set_position(slot, fix.position, fix.ts.timestamp_millis());
        Ok(slot)
    }

    /// Restores a stored fix at start-up, without hygiene checks.
    pub fn restore_fix(&mut self, slot: Slot, fix: Fix) {
        self.list[slot as usize].fix = Some(fix);
        self.index
            .set_position(slot, fix.position, fix.ts.timestamp_millis());
    }

    pub fn set_status(&mut self, slot: Slot, status: Status, since: DateTime<Utc>) {
        let r = &mut self.list[slot as usize];
        r.status = status;
        r.status_since = since;
        self.index.set_status(slot, status);
    }

    pub fn set_assignment(&mut self, slot: Slot, a: Option<Assignment>) {
        self.list[slot as usize].assignment = a;
    }

    /// The index filter for a query; `None` when it cannot match anyone
    /// (a skill or station no responder has).
    pub fn filter(&self, q: &Query) -> Option<Filter> {
        let kinds = q.kinds.iter().fold(0u16, |m, k| m | 1 << k.index());
        let statuses = q.statuses.iter().fold(0u8, |m, s| m | 1 << s.index());
        let skills_all = match &q.skill {
            None => 0,
            Some(s) => 1u64 << *self.skills.get(s)?,
        };
        let station = match &q.station {
            None => None,
            Some(s) => Some(*self.stations.get(s)?),
        };
        let exclude = q.exclude.iter().filter_map(|id| self.slot(id)).collect();
        Some(Filter {
            kinds,
            statuses,
            skills_all,
            station,
            exclude,
        })
    }

    /// Fixes older than this instant are stale.
    pub fn fresh_after(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - self.cfg.stale_after
    }

    /// The k nearest matching responders, fresh ones first, each by distance.
    pub fn nearest(&self, at: Position, k: usize, q: &Query, now: DateTime<Utc>) -> Vec<Hit> {
        let mut out = Vec::with_capacity(k);
        if let Some(f) = self.filter(q) {
            self.index.nearest(
                at,
                k,
                &f,
                self.fresh_after(now).timestamp_millis(),
                &mut out,
            );
        }
        out
    }

    /// Slots with a position inside `bbox` matching the query.
    pub fn within(&self, bbox: Bbox, q: &Query) -> Vec<Slot> {
        let mut out = Vec::new();
        if let Some(f) = self.filter(q) {
            self.index
                .within(bbox.west, bbox.south, bbox.east, bbox.north, &f, &mut out);
        }
        out
    }

    /// Slots matching the query regardless of position (for listings).
    pub fn all_matching(&self, q: &Query) -> Vec<Slot> {
        let Some(f) = self.filter(q) else {
            return Vec::new();
        };
        self.slots()
            .filter(|&s| self.index.get(s).is_some_and(|e| f.matches(s, e)))
            .collect()
    }

    /// Straight-line distance × detour factor ÷ the type's speed, seconds.
    pub fn eta_s(&self, kind: ResponderType, distance_m: f64) -> f64 {
        let kmh = self.cfg.speed_kmh[kind.index()].max(1.0);
        distance_m * self.cfg.detour_factor / (kmh / 3.6)
    }

    /// The GeoJSON Feature of one responder (REST list, stream, candidates).
    pub fn feature(&self, slot: Slot, now: DateTime<Utc>) -> Value {
        serde_json::to_value(self.feature_out(slot, now)).expect("a feature serialises")
    }

    /// The Feature as a borrowed, directly serialisable struct (no
    /// `serde_json::Value` tree: building that tree was most of the cost
    /// of a `nearest` answer, BENCHMARKS.md).
    pub fn feature_out(&self, slot: Slot, now: DateTime<Utc>) -> FeatureOut<'_> {
        let r = self.get(slot);
        FeatureOut {
            kind: "Feature",
            id: &r.spec.id,
            geometry: r.fix.map(|f| PointOut {
                kind: "Point",
                coordinates: [f.position.lon(), f.position.lat()],
            }),
            properties: self.props(r, now, self.fresh_after(now)),
        }
    }

    /// The properties of a responder, borrowed.
    pub fn props<'a>(
        &'a self,
        r: &'a Responder,
        now: DateTime<Utc>,
        fresh_after: DateTime<Utc>,
    ) -> PropsOut<'a> {
        PropsOut {
            id: &r.spec.id,
            name: &r.spec.name,
            kind: r.spec.kind.code(),
            type_label: r.spec.kind.label_zh(),
            status: r.status.code(),
            status_label: r.status.label_zh(),
            status_since: Ts(r.status_since),
            skills: &r.spec.skills,
            station: r.spec.station.as_deref(),
            post: r.spec.post.as_deref(),
            department: r.spec.department.as_deref(),
            phone_masked: r.spec.phone_masked.as_deref(),
            shift: r.spec.shift.as_deref(),
            demo: r.spec.demo,
            position: r.fix.map(|f| PositionOut {
                lon: f.position.lon(),
                lat: f.position.lat(),
                ts: Ts(f.ts),
                age_s: (now - f.ts).num_milliseconds().max(0) as f64 / 1000.0,
                speed_mps: f.speed_mps,
                heading: f.heading,
                accuracy_m: f.accuracy_m,
                stale: f.ts < fresh_after,
            }),
            assignment: r.assignment.as_ref().map(|a| AssignmentRef {
                id: a.id,
                incident_id: a.incident_id,
                status: a.status.code(),
                ack_deadline: Ts(a.ack_deadline),
            }),
        }
    }

    /// Candidates for an incident: each hit with distance, ETA and the
    /// reasons for its rank, best first.
    pub fn candidates<'a>(
        &'a self,
        incident: &JurisdictionSummary,
        hits: &[Hit],
        skill: Option<&str>,
        jurisdiction: &JurisdictionIndex,
        now: DateTime<Utc>,
    ) -> Vec<CandidateOut<'a>> {
        let fresh_after = self.fresh_after(now);
        hits.iter()
            .enumerate()
            .map(|(i, h)| {
                let r = self.get(h.slot);
                let fix = r.fix.expect("a hit has a position");
                let eta = self.eta_s(r.spec.kind, h.distance_m);
                let age = (now - fix.ts).num_milliseconds().max(0) as f64 / 1000.0;
                let mut reasons = Vec::with_capacity(4);
                reasons.push(format!("距离 {}", metres_text(h.distance_m)));
                let here = jurisdiction.locate(fix.position);
                let grid = here.grid.map(|g| g.code);
                let township = here.township.map(|t| t.code);
                if grid.is_some() && grid == incident.grid_code {
                    reasons.push("同网格".to_string());
                } else if township.is_some() && township == incident.township_code {
                    reasons.push("同乡镇街道".to_string());
                }
                if r.spec.station.is_some() && r.spec.station == incident.station_code {
                    reasons.push("本站警力".to_string());
                }
                if let Some(s) = skill {
                    reasons.push(format!("技能匹配: {s}"));
                }
                if h.stale {
                    reasons.push(format!(
                        "定位已过期 ({}前), 排在新鲜定位之后",
                        age_text(age)
                    ));
                } else {
                    reasons.push(format!("定位 {}前", age_text(age)));
                }
                CandidateOut {
                    rank: i + 1,
                    responder: self.props(r, now, fresh_after),
                    lon: fix.position.lon(),
                    lat: fix.position.lat(),
                    distance_m: (h.distance_m * 10.0).round() / 10.0,
                    eta_s: eta.round(),
                    stale: h.stale,
                    position_age_s: age,
                    grid_code: grid,
                    township_code: township,
                    reasons,
                }
            })
            .collect()
    }
}

/// RFC 3339 with milliseconds, UTC (`2026-12-02T10:00:00.000Z`).
#[derive(Debug, Clone, Copy)]
pub struct Ts(pub DateTime<Utc>);

impl serde::Serialize for Ts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0.format("%Y-%m-%dT%H:%M:%S%.3fZ"))
    }
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[schema(as = PointGeometry)]
pub struct PointOut {
    #[serde(rename = "type")]
    kind: &'static str,
    coordinates: [f64; 2],
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[schema(as = ResponderFeature)]
pub struct FeatureOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    geometry: Option<PointOut>,
    properties: PropsOut<'a>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[schema(as = ResponderPosition)]
pub struct PositionOut {
    lon: f64,
    lat: f64,
    #[schema(value_type = String, format = DateTime)]
    ts: Ts,
    age_s: f64,
    speed_mps: Option<f64>,
    heading: Option<f64>,
    accuracy_m: Option<f64>,
    stale: bool,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct AssignmentRef {
    id: i64,
    incident_id: i64,
    status: &'static str,
    #[schema(value_type = String, format = DateTime)]
    ack_deadline: Ts,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[schema(as = ResponderProperties)]
pub struct PropsOut<'a> {
    id: &'a str,
    name: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    type_label: &'static str,
    status: &'static str,
    status_label: &'static str,
    #[schema(value_type = String, format = DateTime)]
    status_since: Ts,
    skills: &'a [String],
    station: Option<&'a str>,
    post: Option<&'a str>,
    department: Option<&'a str>,
    phone_masked: Option<&'a str>,
    shift: Option<&'a str>,
    demo: bool,
    position: Option<PositionOut>,
    assignment: Option<AssignmentRef>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[schema(as = ResponderCandidate)]
pub struct CandidateOut<'a> {
    pub rank: usize,
    pub responder: PropsOut<'a>,
    pub lon: f64,
    pub lat: f64,
    pub distance_m: f64,
    pub eta_s: f64,
    pub stale: bool,
    pub position_age_s: f64,
    pub grid_code: Option<String>,
    pub township_code: Option<String>,
    pub reasons: Vec<String>,
}

fn metres_text(m: f64) -> String {
    if m < 1000.0 {
        format!("{} m", m.round())
    } else {
        format!("{:.1} km", m / 1000.0)
    }
}

fn age_text(secs: f64) -> String {
    let s = secs.round() as i64;
    if s < 60 {
        format!("{s} 秒")
    } else if s < 3600 {
        format!("{} 分钟", s / 60)
    } else {
        format!("{} 小时", s / 3600)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::DispatchConfig;

    fn spec(id: &str, kind: ResponderType, skills: &[&str]) -> ResponderSpec {
        ResponderSpec {
            id: id.into(),
            name: id.into(),
            kind,
            skills: skills.iter().map(|s| s.to_string()).collect(),
            station: Some("ST01".into()),
            post: None,
            department: None,
            phone_masked: None,
            shift: None,
            status: None,
            demo: false,
        }
    }

    fn fix(lon: f64, lat: f64, ts: DateTime<Utc>) -> Fix {
        Fix {
            position: Position::new(lon, lat).unwrap(),
            ts,
            speed_mps: None,
            heading: None,
            accuracy_m: Some(10.0),
            altitude_m: None,
            battery: None,
        }
    }

    #[test]
    fn fixes_pass_hygiene_and_newest_wins() {
        let now = Utc::now();
        let mut r = Roster::new(DispatchConfig::default(), Default::default());
        r.upsert(spec("A", ResponderType::Grid, &[]), Status::Available, now);
        assert_eq!(
            r.apply_fix("B", fix(121.27, 28.64, now), now),
            Err(FixError::UnknownResponder("B".into()))
        );
        r.apply_fix(
            "A",
            fix(121.27, 28.64, now - chrono::Duration::seconds(30)),
            now,
        )
        .unwrap();
        // older than the newest: refused, newest kept
        let older = r.apply_fix(
            "A",
            fix(121.2701, 28.64, now - chrono::Duration::seconds(60)),
            now,
        );
        assert!(
            matches!(older, Err(FixError::Rejected(ref x)) if x.code() == "older_than_latest"),
            "{older:?}"
        );
        // 20 km in 10 s for a grid worker on an e-bike: an implausible jump
        let jump = r.apply_fix(
            "A",
            fix(121.47, 28.64, now - chrono::Duration::seconds(20)),
            now,
        );
        assert!(
            matches!(jump, Err(FixError::Rejected(ref x)) if x.code() == "implausible_jump"),
            "{jump:?}"
        );
        r.apply_fix("A", fix(121.2705, 28.6402, now), now).unwrap();
        assert_eq!(r.by_id("A").unwrap().fix.unwrap().position.lon(), 121.2705);
    }

    #[test]
    fn nearest_filters_inside_and_ranks_stale_last() {
        let now = Utc::now();
        let mut r = Roster::new(DispatchConfig::default(), Default::default());
        let q_pt = Position::new(121.27, 28.64).unwrap();
        let add =
            |r: &mut Roster, id: &str, kind, skills: &[&str], lon: f64, age_s: i64, status| {
                r.upsert(spec(id, kind, skills), status, now);
                r.restore_fix(
                    r.slot(id).unwrap(),
                    fix(lon, 28.64, now - chrono::Duration::seconds(age_s)),
                );
            };
        add(
            &mut r,
            "near-stale",
            ResponderType::Police,
            &[],
            121.2705,
            3600,
            Status::Available,
        );
        add(
            &mut r,
            "mid",
            ResponderType::Police,
            &["driving"],
            121.28,
            5,
            Status::Available,
        );
        add(
            &mut r,
            "far",
            ResponderType::Police,
            &[],
            121.42,
            5,
            Status::Available,
        );
        add(
            &mut r,
            "busy",
            ResponderType::Police,
            &[],
            121.2701,
            5,
            Status::Busy,
        );
        add(
            &mut r,
            "grid",
            ResponderType::Grid,
            &[],
            121.2702,
            5,
            Status::Available,
        );
        let q = Query {
            kinds: vec![ResponderType::Police],
            statuses: vec![Status::Available],
            ..Default::default()
        };
        let hits = r.nearest(q_pt, 5, &q, now);
        let ids: Vec<&str> = hits
            .iter()
            .map(|h| r.get(h.slot).spec.id.as_str())
            .collect();
        assert_eq!(
            ids,
            vec!["mid", "far", "near-stale"],
            "fresh by distance, then stale"
        );
        assert!(hits[2].stale && !hits[0].stale);
        // 15 km away is still found when it is the only match
        assert!(hits[1].distance_m > 14_000.0);
        let skilled = Query {
            skill: Some("driving".into()),
            ..q.clone()
        };
        assert_eq!(r.nearest(q_pt, 5, &skilled, now).len(), 1);
        let unknown = Query {
            skill: Some("flying".into()),
            ..q.clone()
        };
        assert!(r.nearest(q_pt, 5, &unknown, now).is_empty());
        // ETA: straight line × detour ÷ speed
        let eta = r.eta_s(ResponderType::Police, 1000.0);
        assert!((eta - 1000.0 * 1.4 / (30.0 / 3.6)).abs() < 1e-9);
    }
}
