//! Repeat-call clustering (issue 7): one event, many calls.
//!
//! Pure state, no I/O: the live writer feeds it each committed incident
//! ([`Clusterer::apply`]) and persists + publishes the [`Delta`] it returns.
//!
//! **The rule.** Two calls are *linked* when they belong to the same category
//! family ([`params`]) and
//! - are within the family's radius (haversine metres) and gap (event time),
//!   and are the same kind: the same leaf, or texts at least
//!   `min_text_similarity` alike (character-bigram Jaccard) — or
//! - come from the same caller (keyed phone hash) within the family's caller
//!   radius and caller gap (unlocated calls: any distance) — or
//! - name the same entity (hashed company or address) within the family's
//!   entity gap, at any distance (in a "same leaf only" family, of the same
//!   leaf).
//!
//! A cluster is a connected component of that link graph. The predicate is
//! symmetric and uses event time only (`reported_at`), so the partition does
//! not depend on arrival order: a month replayed in order, shuffled, or with
//! a late batch from a source system ends in the same clusters (property
//! test below). A call that links two clusters merges them (the older one by
//! first call survives; the other is REPLACED by it). A cluster *closes* when
//! its newest call is older than the family gap (relative to the newest event
//! time seen): nothing can link to it any more except a late call from within
//! its span.
//!
//! Commanders can merge and split by hand ([`Clusterer::merge`],
//! [`Clusterer::split`]); a split records that the two parts must not be
//! merged again automatically (a call linking both joins the older part).
//!
//! Cluster ids are the id of the incident that opened the cluster, so no id
//! allocation is needed and a cluster is named by a real call.

pub mod params;

use std::collections::{BTreeMap, BTreeSet};

// Fx hashing: the keys are incident ids and keyed (HMAC) hashes of our own,
// not attacker-chosen, and SipHash was a fifth of the time per call.
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use params::{ClusterConfig, Family};

use crate::domain::{Incident, Position};
use crate::spatial::{haversine_m, LocalProjection};

/// What the clusterer needs of an incident.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub id: i64,
    pub reported_at: DateTime<Utc>,
    pub position: Option<Position>,
    pub leaf_id: Option<String>,
    pub source: String,
    /// keyed hash of the caller's phone (never the number)
    pub caller: Option<String>,
    /// keyed hashes of company / address entities
    pub entities: Vec<String>,
    /// the (scrubbed) description
    pub text: String,
}

impl Call {
    pub fn from_incident(i: &Incident) -> Self {
        let leaf = i.detail.classification.as_ref().map(|c| c.leaf_id.clone());
        Self {
            id: i.id,
            reported_at: i.reported_at,
            position: i.position,
            leaf_id: leaf,
            source: i.source.code().to_string(),
            caller: i.detail.caller_hash().map(str::to_string),
            entities: i.detail.entities.iter().map(|e| e.hash.clone()).collect(),
            text: i.description.clone().unwrap_or_default(),
        }
    }
}

/// Why a call joined (the link that put it there).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// opened a new cluster
    Opened,
    /// near in space and time, same kind
    Nearby,
    /// the same caller
    SameCaller,
    /// the same company or address
    SameEntity,
    /// put there by a commander
    Manual,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Opened => "opened",
            Reason::Nearby => "nearby",
            Reason::SameCaller => "same_caller",
            Reason::SameEntity => "same_entity",
            Reason::Manual => "manual",
        }
    }
    pub fn parse(s: &str) -> Self {
        match s {
            "nearby" => Reason::Nearby,
            "same_caller" => Reason::SameCaller,
            "same_entity" => Reason::SameEntity,
            "manual" => Reason::Manual,
            _ => Reason::Opened,
        }
    }
}

/// One incident's membership.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Membership {
    pub incident_id: i64,
    pub cluster_id: i64,
    pub reason: Reason,
    /// the member it was linked to (none when it opened the cluster)
    pub matched: Option<i64>,
    /// metres to `matched` (when both are located)
    pub distance_m: Option<f64>,
}

/// EIDO-style link kinds (NENA-STA-021 `linkedIncident` / `mergedIncident`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LinkKind {
    /// `cluster` absorbed `other`
    Replacing,
    /// `cluster` was absorbed into `other`
    Replaced,
    /// `cluster` was split off from `other`
    Split,
    /// `cluster` is the part that stayed when `other` was split off
    Parent,
    Child,
    Related,
}

impl LinkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkKind::Replacing => "REPLACING",
            LinkKind::Replaced => "REPLACED",
            LinkKind::Split => "SPLIT",
            LinkKind::Parent => "PARENT",
            LinkKind::Child => "CHILD",
            LinkKind::Related => "RELATED",
        }
    }
}

/// One history row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Link {
    pub cluster_id: i64,
    pub kind: LinkKind,
    pub other_id: i64,
    /// the incident that caused it (automatic merges), none for manual ones
    pub incident_id: Option<i64>,
    pub manual: bool,
}

/// A cluster as stored and streamed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub id: i64,
    pub family: String,
    pub members: u32,
    pub located: u32,
    pub first_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
    /// last_at + the family gap: open while the newest event time seen is
    /// before this
    pub closes_at: DateTime<Utc>,
    /// until when a (late) call can still link to a member: the latest
    /// member's event time + its family's longest gap + the lateness
    /// allowance (start-up restores the clusters not yet past it)
    pub horizon_at: DateTime<Utc>,
    /// mean of the located members
    pub centroid: Option<[f64; 2]>,
    /// [west, south, east, north] of the located members
    pub bbox: Option<[f64; 4]>,
    /// leaf id → members
    pub categories: BTreeMap<String, u32>,
    /// source code → members
    pub sources: BTreeMap<String, u32>,
    /// distinct callers among the members seen since start-up plus those
    /// restored
    pub callers: u32,
    /// absorbed into this cluster (merged away)
    pub replaced_by: Option<i64>,
    /// a commander merged or split it
    pub manual: bool,
    /// the parts of a split that must not be merged again automatically
    pub apart_from: BTreeSet<i64>,
    /// bumped on every change (the newest version wins when stored)
    pub version: i64,
}

impl Summary {
    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        self.replaced_by.is_none() && self.closes_at > now
    }
}

/// What one call (or one commander action) changed: new memberships, moved
/// memberships, history rows and the new state of every touched cluster.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Delta {
    pub memberships: Vec<Membership>,
    /// (from, to): every member of `from` now belongs to `to`
    pub moved: Vec<(i64, i64)>,
    /// (incident, to) for single incidents moved by a split
    pub reassigned: Vec<(i64, i64)>,
    pub links: Vec<Link>,
    pub clusters: Vec<Summary>,
}

impl Delta {
    pub fn is_empty(&self) -> bool {
        self.memberships.is_empty() && self.moved.is_empty() && self.clusters.is_empty()
    }
    pub fn extend(&mut self, other: Delta) {
        self.memberships.extend(other.memberships);
        self.moved.extend(other.moved);
        self.reassigned.extend(other.reassigned);
        self.links.extend(other.links);
        self.clusters.extend(other.clusters);
    }

    /// Keeps each cluster's last state only (call after [`Delta::extend`]s;
    /// the order of first appearance is kept).
    pub fn compact(&mut self) {
        let mut last: HashMap<i64, usize> =
            HashMap::with_capacity_and_hasher(self.clusters.len(), Default::default());
        for (i, c) in self.clusters.iter().enumerate() {
            last.insert(c.id, i);
        }
        if last.len() == self.clusters.len() {
            return;
        }
        let mut seen = HashSet::with_capacity_and_hasher(last.len(), Default::default());
        let mut out = Vec::with_capacity(last.len());
        for c in &self.clusters {
            if seen.insert(c.id) {
                out.push(self.clusters[last[&c.id]].clone());
            }
        }
        self.clusters = out;
    }
}

/// A refused commander action.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    #[error("cluster {0} is not known (or has been let go from memory)")]
    UnknownCluster(i64),
    #[error("cluster {0} was merged into cluster {1}")]
    Replaced(i64, i64),
    #[error("incident {0} is not a member of cluster {1}")]
    NotMember(i64, i64),
    #[error("{0}")]
    Invalid(String),
}

const MAX_BIGRAMS: usize = 96;
const MAX_HULL_POINTS: usize = 2_000;
const MAX_REPLACED: usize = 200_000;
/// Merge chains beyond the calls in memory before they are compacted (small
/// under test so that every test exercises the compaction).
const COMPACT_SLACK: usize = if cfg!(test) { 8 } else { 1_024 };

#[derive(Debug, Clone)]
struct Entry {
    t: i64,
    pos: Option<(f64, f64)>,
    cell: Option<(i32, i32)>,
    family: usize,
    leaf: Option<String>,
    /// `leaf` interned (0 = none): compared on every candidate
    leaf_key: u32,
    /// local metric coordinates (m) of `pos`, for the cheap pre-check
    xy: Option<[f64; 2]>,
    source: String,
    bigrams: Vec<u64>,
    caller: Option<String>,
    entities: Vec<String>,
    cluster: i64,
    evict_at: i64,
}

/// A call in a grid cell, with what the pre-check needs inline.
#[derive(Debug, Clone, Copy)]
struct GridItem {
    id: i64,
    x: f32,
    y: f32,
    t: i64,
}

#[derive(Debug, Clone)]
struct Cluster {
    s: Summary,
    /// members in memory (ids of members let go are dropped lazily)
    live: Vec<i64>,
    /// how many of `live` are still in memory
    live_n: usize,
    caller_set: HashSet<String>,
    points: Vec<[f64; 2]>,
}

/// The clusterer: calls within the horizon, their clusters, and indexes by
/// place (per family, cells of the family radius), caller and entity.
pub struct Clusterer {
    cfg: ClusterConfig,
    proj: Option<LocalProjection>,
    /// cos(latitude) of the projection's origin: planar x × cos(lat)/cos0 is
    /// metres east–west at lat, wherever the origin happened to be
    cos0: f64,
    cell_m: Vec<f64>,
    entries: HashMap<i64, Entry>,
    grids: Vec<HashMap<(i32, i32), Vec<GridItem>>>,
    /// union-find over cluster keys: an absorbed cluster → the one that
    /// absorbed it (entries keep the key they had; [`Self::root`] resolves
    /// it), so a merge costs the smaller side, not every member's relabel
    parent: HashMap<i64, i64>,
    leaf_keys: HashMap<String, u32>,
    callers: HashMap<String, Vec<i64>>,
    entities: HashMap<String, Vec<i64>>,
    expiry: BTreeSet<(i64, i64)>,
    clusters: HashMap<i64, Cluster>,
    /// clusters merged away since start-up → the one that absorbed them, so a
    /// commander acting on a stale id hears where its calls went (bounded:
    /// forgotten wholesale past [`MAX_REPLACED`], then such ids are unknown)
    replaced: HashMap<i64, i64>,
    /// newest event time seen (µs)
    watermark: i64,
    /// the last version handed out (one counter for all clusters, so a
    /// cluster id reused by a split still moves forward)
    version: i64,
}

fn us(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}
fn from_us(v: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(v).unwrap_or_default()
}

fn bigrams(text: &str) -> Vec<u64> {
    let chars: Vec<char> = text
        .chars()
        .filter(|c| c.is_alphanumeric() && !c.is_ascii_digit() && *c != '*')
        .take(MAX_BIGRAMS * 2)
        .collect();
    let mut v: Vec<u64> = chars
        .windows(2)
        .map(|w| ((w[0] as u64) << 21) | w[1] as u64)
        .collect();
    v.sort_unstable();
    v.dedup();
    v.truncate(MAX_BIGRAMS);
    v
}

/// Jaccard similarity of two sorted sets.
fn jaccard(a: &[u64], b: &[u64]) -> f32 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let (mut i, mut j, mut common) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                common += 1;
                i += 1;
                j += 1;
            }
        }
    }
    common as f32 / (a.len() + b.len() - common) as f32
}

impl Clusterer {
    pub fn new(cfg: ClusterConfig) -> Self {
        let n = cfg.families.len();
        // a cell a little larger than the radius: ±1 cell covers the circle
        // even where the local projection is off by a percent
        let cell_m = cfg.families.iter().map(|f| f.radius_m * 1.05).collect();
        Self {
            cfg,
            proj: None,
            cos0: 1.0,
            cell_m,
            entries: HashMap::default(),
            grids: vec![HashMap::default(); n],
            parent: HashMap::default(),
            leaf_keys: HashMap::default(),
            callers: HashMap::default(),
            entities: HashMap::default(),
            expiry: BTreeSet::new(),
            clusters: HashMap::default(),
            replaced: HashMap::default(),
            watermark: i64::MIN,
            version: 0,
        }
    }

    pub fn config(&self) -> &ClusterConfig {
        &self.cfg
    }

    /// Calls in memory.
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    pub fn cluster_count(&self) -> usize {
        self.clusters.len()
    }
    /// Newest event time seen.
    pub fn watermark(&self) -> Option<DateTime<Utc>> {
        (self.watermark != i64::MIN).then(|| from_us(self.watermark))
    }

    /// The cluster an incident (still in memory) belongs to.
    pub fn cluster_of(&self, incident: i64) -> Option<i64> {
        self.entries.get(&incident).map(|e| self.root(e.cluster))
    }

    pub fn summary(&self, cluster: i64) -> Option<&Summary> {
        self.clusters.get(&cluster).map(|c| &c.s)
    }

    /// Clusters in memory with at least `min_members`, located inside `bbox`
    /// ([w, s, e, n]) when given, open ones only when `open_only`.
    pub fn summaries(
        &self,
        bbox: Option<[f64; 4]>,
        min_members: u32,
        open_only: bool,
    ) -> Vec<&Summary> {
        let now = self.watermark().unwrap_or_default();
        let mut v: Vec<&Summary> = self
            .clusters
            .values()
            .map(|c| &c.s)
            .filter(|s| s.members >= min_members && (!open_only || s.is_open(now)))
            .filter(|s| match (bbox, s.centroid) {
                (None, _) => true,
                (Some(b), Some([x, y])) => x >= b[0] && x <= b[2] && y >= b[1] && y <= b[3],
                (Some(_), None) => false,
            })
            .collect();
        v.sort_by(|a, b| b.last_at.cmp(&a.last_at).then(b.id.cmp(&a.id)));
        v
    }

    /// The convex hull of the located members in memory (GeoJSON ring,
    /// closed); a single point or a segment gives its bbox corners.
    pub fn extent(&self, cluster: i64) -> Option<Vec<[f64; 2]>> {
        use geo::ConvexHull;
        let c = self.clusters.get(&cluster)?;
        if c.points.is_empty() {
            return None;
        }
        let mp: geo::MultiPoint<f64> = c
            .points
            .iter()
            .map(|p| geo::Point::new(p[0], p[1]))
            .collect();
        let hull = mp.convex_hull();
        let ring: Vec<[f64; 2]> = hull.exterior().points().map(|p| [p.x(), p.y()]).collect();
        Some(ring)
    }

    fn make_entry(&mut self, call: &Call, cluster: i64) -> Entry {
        let family = self.cfg.family_of(call.leaf_id.as_deref());
        let pos = call.position.map(|p| (p.lon(), p.lat()));
        let xy = pos.map(|(lon, lat)| self.project(lon, lat));
        let cell = xy.map(|[x, y]| {
            let c = self.cell_m[family];
            ((x / c).floor() as i32, (y / c).floor() as i32)
        });
        let leaf_key = match &call.leaf_id {
            None => 0,
            Some(l) => {
                let next = self.leaf_keys.len() as u32 + 1;
                *self.leaf_keys.entry(l.clone()).or_insert(next)
            }
        };
        let t = us(call.reported_at);
        let f = &self.cfg.families[family];
        let evict_at = t
            .saturating_add(f.max_gap_us())
            .saturating_add(self.cfg.lateness_us());
        let mut entities = call.entities.clone();
        entities.sort();
        entities.dedup();
        Entry {
            t,
            pos,
            cell,
            family,
            leaf: call.leaf_id.clone(),
            leaf_key,
            xy,
            source: call.source.clone(),
            bigrams: bigrams(&call.text),
            caller: call.caller.clone(),
            entities,
            cluster,
            evict_at,
        }
    }

    fn project(&mut self, lon: f64, lat: f64) -> [f64; 2] {
        if self.proj.is_none() {
            // the origin is the first located call (restored or live)
            self.proj = Some(LocalProjection::new(lon, lat));
            self.cos0 = lat.to_radians().cos().max(1e-6);
        }
        self.proj.expect("set").project(lon, lat)
    }

    /// The cluster a key now means (follows merges).
    fn root(&self, mut key: i64) -> i64 {
        while let Some(&p) = self.parent.get(&key) {
            key = p;
        }
        key
    }

    /// Points every entry at its root and forgets the merge chains (O(calls);
    /// amortised by running only when the chains outnumber the calls, and
    /// before a split reuses ids).
    fn compact_parents(&mut self) {
        if self.parent.is_empty() {
            return;
        }
        let parent = std::mem::take(&mut self.parent);
        let root = |mut k: i64| {
            while let Some(&p) = parent.get(&k) {
                k = p;
            }
            k
        };
        for e in self.entries.values_mut() {
            e.cluster = root(e.cluster);
        }
    }

    /// Why `a` and `b` are linked, if they are (symmetric).
    fn link(&self, a: &Entry, b: &Entry) -> Option<(Reason, Option<f64>)> {
        if a.family != b.family {
            return self.link_across(a, b);
        }
        let f = &self.cfg.families[a.family];
        let dt = (a.t - b.t).abs();
        let dist = match (a.pos, b.pos) {
            (Some(p), Some(q)) => Some(haversine_m(p.0, p.1, q.0, q.1)),
            _ => None,
        };
        let same_leaf = a.leaf_key != 0 && a.leaf_key == b.leaf_key;
        // A shared company or address links across days and distance; in a
        // "same leaf only" family (min_text_similarity > 1: chronic nuisances)
        // only calls of the same leaf — a broken lamp and illegal parking at
        // one address are two matters.
        if let Some(gap) = f.entity_gap_us() {
            if dt <= gap
                && (same_leaf || f.min_text_similarity <= 1.0)
                && a.entities
                    .iter()
                    .any(|e| b.entities.binary_search(e).is_ok())
            {
                return Some((Reason::SameEntity, dist));
            }
        }
        let same_caller = a.caller.is_some() && a.caller == b.caller;
        if same_caller && dt <= f.caller_gap_us() && dist.is_none_or(|d| d <= f.caller_radius_m) {
            return Some((Reason::SameCaller, dist));
        }
        let d = dist?;
        if dt > f.gap_us() || d > f.radius_m {
            return None;
        }
        let same_kind = same_leaf || jaccard(&a.bigrams, &b.bigrams) >= f.min_text_similarity;
        same_kind.then_some((Reason::Nearby, Some(d)))
    }

    /// Calls of two families link only by a shared entity, when one family
    /// is a channel (`entity_links_any_family`, within its entity gap) and
    /// the other links by entities itself (symmetric).
    fn link_across(&self, a: &Entry, b: &Entry) -> Option<(Reason, Option<f64>)> {
        let (fa, fb) = (&self.cfg.families[a.family], &self.cfg.families[b.family]);
        let gap = match (fa.entity_links_any_family, fb.entity_links_any_family) {
            (true, true) => fa
                .entity_gap_us()
                .zip(fb.entity_gap_us())
                .map(|(x, y)| x.min(y)),
            (true, false) if fb.entity_gap_us().is_some() => fa.entity_gap_us(),
            (false, true) if fa.entity_gap_us().is_some() => fb.entity_gap_us(),
            _ => None,
        }?;
        let shared = a
            .entities
            .iter()
            .any(|e| b.entities.binary_search(e).is_ok());
        if !shared || (a.t - b.t).abs() > gap {
            return None;
        }
        let dist = match (a.pos, b.pos) {
            (Some(p), Some(q)) => Some(haversine_m(p.0, p.1, q.0, q.1)),
            _ => None,
        };
        Some((Reason::SameEntity, dist))
    }

    /// Candidate calls that could link to `e`: from the 3×3 cells around it
    /// those within the radius (planar, with a margin; `link` decides on the
    /// sphere) and the gap, plus every call of the same caller or entity.
    fn candidates(&self, e: &Entry) -> Vec<i64> {
        let mut out = Vec::new();
        if let (Some((cx, cy)), Some([x, y]), Some((_, lat))) = (e.cell, e.xy, e.pos) {
            let grid = &self.grids[e.family];
            let f = &self.cfg.families[e.family];
            let r = f.radius_m * 1.02 + 1.0;
            let r2 = (r * r) as f32;
            let gap = f.gap_us();
            // metres per planar x unit here; cells east–west enough to cover
            // the radius even far from the projection's origin
            let scale = (lat.to_radians().cos() / self.cos0).max(1e-3);
            let span = ((1.0 / (1.05 * scale)).ceil() as i32).clamp(1, 64);
            let sx = scale as f32;
            let (x, y) = (x as f32, y as f32);
            for dx in -span..=span {
                for dy in -1..=1 {
                    if let Some(v) = grid.get(&(cx + dx, cy + dy)) {
                        out.extend(
                            v.iter()
                                .filter(|g| {
                                    let (ex, ey) = ((g.x - x) * sx, g.y - y);
                                    ex * ex + ey * ey <= r2 && (g.t - e.t).abs() <= gap
                                })
                                .map(|g| g.id),
                        );
                    }
                }
            }
        }
        if let Some(c) = &e.caller {
            if let Some(v) = self.callers.get(c) {
                out.extend_from_slice(v);
            }
        }
        for h in &e.entities {
            if let Some(v) = self.entities.get(h) {
                out.extend_from_slice(v);
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    fn index(&mut self, id: i64, e: Entry) {
        if let (Some(cell), Some([x, y])) = (e.cell, e.xy) {
            self.grids[e.family]
                .entry(cell)
                .or_default()
                .push(GridItem {
                    id,
                    x: x as f32,
                    y: y as f32,
                    t: e.t,
                });
        }
        if let Some(c) = &e.caller {
            self.callers.entry(c.clone()).or_default().push(id);
        }
        for h in &e.entities {
            self.entities.entry(h.clone()).or_default().push(id);
        }
        self.expiry.insert((e.evict_at, id));
        self.entries.insert(id, e);
    }

    fn unindex(&mut self, id: i64) -> Option<Entry> {
        let e = self.entries.remove(&id)?;
        fn drop_from<K: std::hash::Hash + Eq>(m: &mut HashMap<K, Vec<i64>>, k: K, id: i64) {
            if let Some(v) = m.get_mut(&k) {
                v.retain(|x| *x != id);
                if v.is_empty() {
                    m.remove(&k);
                }
            }
        }
        if let Some(cell) = e.cell {
            let grid = &mut self.grids[e.family];
            if let Some(v) = grid.get_mut(&cell) {
                v.retain(|g| g.id != id);
                if v.is_empty() {
                    grid.remove(&cell);
                }
            }
        }
        if let Some(c) = &e.caller {
            drop_from(&mut self.callers, c.clone(), id);
        }
        for h in &e.entities {
            drop_from(&mut self.entities, h.clone(), id);
        }
        self.expiry.remove(&(e.evict_at, id));
        Some(e)
    }

    /// Adds one committed call; returns its cluster and what changed.
    /// A call already known returns its cluster and an empty delta.
    pub fn apply(&mut self, call: &Call) -> (i64, Delta) {
        if let Some(e) = self.entries.get(&call.id) {
            return (self.root(e.cluster), Delta::default());
        }
        let t = us(call.reported_at);
        self.watermark = self.watermark.max(t);
        let entry = self.make_entry(call, call.id);
        // links, best first per cluster: (cluster, reason, matched, distance)
        // one link per cluster is enough: the oldest linked member (candidates
        // come in id order) is the one the membership names
        let mut linked: BTreeMap<i64, (Reason, i64, Option<f64>)> = BTreeMap::new();
        let mut last: Option<(i64, i64)> = None; // (key, root) of the previous candidate
        for b in self.candidates(&entry) {
            let Some(other) = self.entries.get(&b) else {
                continue;
            };
            let root = match last {
                Some((k, r)) if k == other.cluster => r,
                _ => self.root(other.cluster),
            };
            last = Some((other.cluster, root));
            if linked.contains_key(&root) {
                continue;
            }
            if let Some((reason, dist)) = self.link(&entry, other) {
                linked.insert(root, (reason, b, dist));
            }
        }
        let mut delta = Delta::default();
        let id = call.id;
        let target = if linked.is_empty() {
            if self.clusters.contains_key(&id) {
                // the call that opened a live cluster, let go from memory and
                // seen again: it is counted there already
                return (id, Delta::default());
            }
            if self.parent.contains_key(&id) {
                // an id that once named a cluster merged away (a call let go
                // and seen again): no entry may still resolve through it
                self.compact_parents();
            }
            let f = &self.cfg.families[entry.family];
            let s = Summary {
                id,
                family: f.name.clone(),
                members: 0,
                located: 0,
                first_at: call.reported_at,
                last_at: call.reported_at,
                closes_at: call.reported_at,
                horizon_at: call.reported_at,
                centroid: None,
                bbox: None,
                categories: BTreeMap::new(),
                sources: BTreeMap::new(),
                callers: 0,
                replaced_by: None,
                manual: false,
                apart_from: BTreeSet::new(),
                version: 0,
            };
            self.clusters.insert(
                id,
                Cluster {
                    s,
                    live: Vec::new(),
                    live_n: 0,
                    caller_set: HashSet::default(),
                    points: Vec::new(),
                },
            );
            delta.memberships.push(Membership {
                incident_id: id,
                cluster_id: id,
                reason: Reason::Opened,
                matched: None,
                distance_m: None,
            });
            id
        } else {
            // survivor: the oldest by first call; absorb the others unless a
            // commander split them apart
            let mut order: Vec<i64> = linked.keys().copied().collect();
            order.sort_by_key(|c| {
                let s = &self.clusters[c].s;
                (s.first_at, s.id)
            });
            let survivor = order[0];
            let (reason, matched, distance_m) = linked[&survivor];
            for other in order.into_iter().skip(1) {
                if self.clusters[&survivor].s.apart_from.contains(&other)
                    || self.clusters[&other].s.apart_from.contains(&survivor)
                {
                    continue;
                }
                self.absorb(survivor, other, Some(id), false, &mut delta);
            }
            delta.memberships.push(Membership {
                incident_id: id,
                cluster_id: survivor,
                reason,
                matched: Some(matched),
                distance_m,
            });
            survivor
        };
        let mut entry = entry;
        entry.cluster = target;
        self.add_to_cluster(target, call, &entry);
        self.index(id, entry);
        // the delta names the cluster before eviction may let a very late
        // call (and its new cluster) go at once: the store needs the row
        self.touch(target, &mut delta);
        self.evict();
        (target, delta)
    }

    fn add_to_cluster(&mut self, cluster: i64, call: &Call, e: &Entry) {
        let gap = self.cfg.families[e.family].gap_us();
        let c = self.clusters.get_mut(&cluster).expect("cluster exists");
        let s = &mut c.s;
        s.members += 1;
        if call.reported_at < s.first_at {
            s.first_at = call.reported_at;
        }
        if call.reported_at > s.last_at {
            s.last_at = call.reported_at;
        }
        s.closes_at = from_us(us(s.last_at).saturating_add(gap));
        s.horizon_at = s.horizon_at.max(from_us(e.evict_at));
        if let Some((lon, lat)) = e.pos {
            let n = s.located as f64;
            let [cx, cy] = s.centroid.unwrap_or([lon, lat]);
            s.centroid = Some([(cx * n + lon) / (n + 1.0), (cy * n + lat) / (n + 1.0)]);
            s.located += 1;
            let b = s.bbox.unwrap_or([lon, lat, lon, lat]);
            s.bbox = Some([b[0].min(lon), b[1].min(lat), b[2].max(lon), b[3].max(lat)]);
            if c.points.len() < MAX_HULL_POINTS {
                c.points.push([lon, lat]);
            }
        }
        *s.categories
            .entry(
                call.leaf_id
                    .clone()
                    .unwrap_or_else(|| "unclassified".into()),
            )
            .or_default() += 1;
        *s.sources.entry(call.source.clone()).or_default() += 1;
        if let Some(h) = &call.caller {
            if c.caller_set.insert(h.clone()) {
                s.callers += 1;
            }
        }
        c.live.push(call.id);
        c.live_n += 1;
    }

    fn touch(&mut self, cluster: i64, delta: &mut Delta) {
        if let Some(c) = self.clusters.get_mut(&cluster) {
            self.version += 1;
            c.s.version = self.version;
            let s = c.s.clone();
            match delta.clusters.iter_mut().find(|x| x.id == s.id) {
                Some(x) => *x = s,
                None => delta.clusters.push(s),
            }
        }
    }

    /// Moves every member of `other` into `survivor`.
    fn absorb(
        &mut self,
        survivor: i64,
        other: i64,
        incident: Option<i64>,
        manual: bool,
        delta: &mut Delta,
    ) {
        let Some(mut gone) = self.clusters.remove(&other) else {
            return;
        };
        if self.replaced.len() >= MAX_REPLACED {
            self.replaced.clear();
        }
        self.replaced.insert(other, survivor);
        self.parent.insert(other, survivor);
        if self.parent.len() > self.entries.len() + COMPACT_SLACK {
            self.compact_parents();
        }
        let keep = self.clusters.get_mut(&survivor).expect("survivor exists");
        // the larger side's lists stay where they are; the smaller ones move
        if gone.live.len() > keep.live.len() {
            std::mem::swap(&mut keep.live, &mut gone.live);
        }
        let callers_before = keep.caller_set.len();
        if gone.caller_set.len() > keep.caller_set.len() {
            std::mem::swap(&mut keep.caller_set, &mut gone.caller_set);
        }
        let (a, b) = (&mut keep.s, &gone.s);
        let (na, nb) = (a.located as f64, b.located as f64);
        a.centroid = match (a.centroid, b.centroid) {
            (Some(p), Some(q)) => Some([
                (p[0] * na + q[0] * nb) / (na + nb),
                (p[1] * na + q[1] * nb) / (na + nb),
            ]),
            (p, q) => p.or(q),
        };
        a.bbox = match (a.bbox, b.bbox) {
            (Some(p), Some(q)) => Some([
                p[0].min(q[0]),
                p[1].min(q[1]),
                p[2].max(q[2]),
                p[3].max(q[3]),
            ]),
            (p, q) => p.or(q),
        };
        a.located += b.located;
        a.members += b.members;
        a.first_at = a.first_at.min(b.first_at);
        if b.last_at > a.last_at {
            a.last_at = b.last_at;
        }
        a.closes_at = a.closes_at.max(b.closes_at);
        a.horizon_at = a.horizon_at.max(b.horizon_at);
        for (k, v) in &b.categories {
            *a.categories.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &b.sources {
            *a.sources.entry(k.clone()).or_default() += v;
        }
        keep.caller_set.extend(gone.caller_set.drain());
        let fresh = keep.caller_set.len().saturating_sub(callers_before) as u32;
        // restored clusters only know their count; never count below it
        let a = &mut keep.s;
        a.callers = (a.callers + fresh).max(a.callers.max(b.callers));
        a.apart_from.extend(b.apart_from.iter().copied());
        a.manual |= manual;
        let room = MAX_HULL_POINTS.saturating_sub(keep.points.len());
        keep.points.extend(gone.points.iter().take(room));
        keep.live.append(&mut gone.live);
        keep.live_n += gone.live_n;
        gone.s.replaced_by = Some(survivor);
        self.version += 1;
        gone.s.version = self.version;
        delta.moved.push((other, survivor));
        delta.links.push(Link {
            cluster_id: survivor,
            kind: LinkKind::Replacing,
            other_id: other,
            incident_id: incident,
            manual,
        });
        delta.links.push(Link {
            cluster_id: other,
            kind: LinkKind::Replaced,
            other_id: survivor,
            incident_id: incident,
            manual,
        });
        delta.clusters.retain(|x| x.id != other);
        delta.clusters.push(gone.s);
        // the survivor's new state is pushed by the caller's touch()
    }

    /// Lets go of calls past their horizon (and the oldest beyond
    /// `max_calls`); a cluster with no call left in memory is let go too
    /// (it stays in PostGIS).
    fn evict(&mut self) {
        let horizon = self.watermark;
        while let Some(&(at, id)) = self.expiry.first() {
            if at > horizon && self.entries.len() <= self.cfg.max_calls {
                break;
            }
            let Some(e) = self.unindex(id) else { continue };
            let cid = self.root(e.cluster);
            let Some(c) = self.clusters.get_mut(&cid) else {
                continue;
            };
            c.live_n = c.live_n.saturating_sub(1);
            if c.live_n == 0 {
                self.clusters.remove(&cid);
            } else if c.live.len() > 2 * c.live_n + 16 {
                let (entries, parent) = (&self.entries, &self.parent);
                let root = |mut k: i64| {
                    while let Some(&p) = parent.get(&k) {
                        k = p;
                    }
                    k
                };
                c.live
                    .retain(|m| entries.get(m).is_some_and(|x| root(x.cluster) == cid));
            }
        }
    }

    /// Restores a stored cluster (start-up), before its members.
    pub fn restore_cluster(&mut self, s: Summary) {
        self.version = self.version.max(s.version);
        if s.replaced_by.is_some() {
            return;
        }
        self.clusters.insert(
            s.id,
            Cluster {
                s,
                live: Vec::new(),
                live_n: 0,
                caller_set: HashSet::default(),
                points: Vec::new(),
            },
        );
    }

    /// Restores a stored membership (start-up): the call goes back into the
    /// indexes under its stored cluster without changing the cluster's
    /// stored aggregates. A membership whose cluster was not restored is
    /// ignored (false).
    pub fn restore_member(&mut self, call: &Call, cluster: i64) -> bool {
        // a call clustered during the restore may have absorbed it already
        let cluster = self.root(cluster);
        if !self.clusters.contains_key(&cluster) || self.entries.contains_key(&call.id) {
            return false;
        }
        let t = us(call.reported_at);
        self.watermark = self.watermark.max(t);
        let e = self.make_entry(call, cluster);
        let c = self.clusters.get_mut(&cluster).expect("checked");
        if let Some((lon, lat)) = e.pos {
            if c.points.len() < MAX_HULL_POINTS {
                c.points.push([lon, lat]);
            }
        }
        if let Some(h) = &call.caller {
            c.caller_set.insert(h.clone());
        }
        c.live.push(call.id);
        c.live_n += 1;
        self.index(call.id, e);
        true
    }

    /// After restoring: lets go of what is past the horizon.
    pub fn finish_restore(&mut self) {
        self.clusters.retain(|_, c| c.live_n > 0);
        self.evict();
    }

    /// A commander merges `others` into `into`.
    pub fn merge(&mut self, into: i64, others: &[i64]) -> Result<Delta, ActionError> {
        self.check_cluster(into)?;
        if others.is_empty() {
            return Err(ActionError::Invalid(
                "with: name at least one other cluster".into(),
            ));
        }
        for o in others {
            if *o == into {
                return Err(ActionError::Invalid(format!(
                    "with: {o} is the cluster itself"
                )));
            }
            self.check_cluster(*o)?;
        }
        let mut delta = Delta::default();
        for o in others {
            self.clusters
                .get_mut(&into)
                .expect("checked")
                .s
                .apart_from
                .remove(o);
            if let Some(c) = self.clusters.get_mut(o) {
                c.s.apart_from.remove(&into);
            }
            self.absorb(into, *o, None, true, &mut delta);
        }
        if let Some(c) = self.clusters.get_mut(&into) {
            c.s.manual = true;
        }
        self.touch(into, &mut delta);
        Ok(delta)
    }

    /// A commander splits `incidents` off `cluster` into a new cluster (named
    /// by the earliest of them); the two parts are kept apart from then on.
    pub fn split(&mut self, cluster: i64, incidents: &[i64]) -> Result<(i64, Delta), ActionError> {
        self.check_cluster(cluster)?;
        // every entry names its cluster directly from here on (the split
        // may bring back an id that once was merged away)
        self.compact_parents();
        let mut ids: Vec<i64> = incidents.to_vec();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Err(ActionError::Invalid(
                "incidents: name at least one member".into(),
            ));
        }
        for id in &ids {
            match self.entries.get(id) {
                Some(e) if e.cluster == cluster => {}
                _ => return Err(ActionError::NotMember(*id, cluster)),
            }
        }
        let live: Vec<i64> = self.clusters[&cluster]
            .live
            .iter()
            .copied()
            .filter(|m| self.entries.get(m).is_some_and(|e| e.cluster == cluster))
            .collect();
        let staying: Vec<i64> = live.iter().copied().filter(|m| !ids.contains(m)).collect();
        if staying.is_empty() {
            return Err(ActionError::Invalid(
                "incidents: a split must leave at least one member in the cluster".into(),
            ));
        }
        // named by its earliest call whose id names no cluster yet (the
        // cluster's own opening call, or a part split off before, do)
        let mut by_time = ids.clone();
        by_time.sort_by_key(|m| (self.entries[m].t, *m));
        let Some(new_id) = by_time
            .into_iter()
            .find(|m| *m != cluster && !self.clusters.contains_key(m))
        else {
            return Err(ActionError::Invalid(
                "incidents: every call named already names a cluster; split off the others instead"
                    .into(),
            ));
        };
        self.replaced.remove(&new_id);
        // rebuild both parts' aggregates from the members in memory; members
        // already let go from memory stay in the old cluster
        let old = self.clusters.remove(&cluster).expect("checked");
        let family = old.s.family.clone();
        let restored_extra = old.s.members.saturating_sub(live.len() as u32);
        let fresh = |id: i64, s0: &Summary| Cluster {
            s: Summary {
                id,
                family: family.clone(),
                members: 0,
                located: 0,
                first_at: s0.first_at,
                last_at: s0.last_at,
                closes_at: s0.closes_at,
                horizon_at: s0.first_at,
                centroid: None,
                bbox: None,
                categories: BTreeMap::new(),
                sources: BTreeMap::new(),
                callers: 0,
                replaced_by: None,
                manual: true,
                apart_from: s0.apart_from.clone(),
                version: s0.version,
            },
            live: Vec::new(),
            live_n: 0,
            caller_set: HashSet::default(),
            points: Vec::new(),
        };
        let mut a = fresh(cluster, &old.s);
        let mut b = fresh(new_id, &old.s);
        a.s.apart_from.insert(new_id);
        b.s.apart_from.insert(cluster);
        self.clusters.insert(cluster, a);
        self.clusters.insert(new_id, b);
        let mut delta = Delta::default();
        for (target, members) in [(cluster, &staying), (new_id, &ids)] {
            let mut first = true;
            for m in members {
                let e = self.entries.get_mut(m).expect("member in memory");
                e.cluster = target;
                let e = e.clone();
                let call = Self::call_of(*m, &e);
                if first {
                    let c = self.clusters.get_mut(&target).expect("inserted");
                    c.s.first_at = call.reported_at;
                    c.s.last_at = call.reported_at;
                    first = false;
                }
                self.add_to_cluster(target, &call, &e);
                if target == new_id {
                    delta.reassigned.push((*m, new_id));
                }
            }
        }
        if restored_extra > 0 {
            // members only in PostGIS: counted in the part that stays
            self.clusters.get_mut(&cluster).expect("inserted").s.members += restored_extra;
        }
        delta.links.push(Link {
            cluster_id: new_id,
            kind: LinkKind::Split,
            other_id: cluster,
            incident_id: None,
            manual: true,
        });
        delta.links.push(Link {
            cluster_id: cluster,
            kind: LinkKind::Parent,
            other_id: new_id,
            incident_id: None,
            manual: true,
        });
        delta.links.push(Link {
            cluster_id: new_id,
            kind: LinkKind::Child,
            other_id: cluster,
            incident_id: None,
            manual: true,
        });
        self.touch(cluster, &mut delta);
        self.touch(new_id, &mut delta);
        Ok((new_id, delta))
    }

    fn call_of(id: i64, e: &Entry) -> Call {
        Call {
            id,
            reported_at: from_us(e.t),
            position: e.pos.and_then(|(x, y)| Position::new(x, y).ok()),
            leaf_id: e.leaf.clone(),
            source: e.source.clone(),
            caller: e.caller.clone(),
            entities: e.entities.clone(),
            text: String::new(),
        }
    }

    fn check_cluster(&self, id: i64) -> Result<(), ActionError> {
        if self.clusters.contains_key(&id) {
            return Ok(());
        }
        // merged away: follow the chain to the cluster that holds its calls now
        let mut at = id;
        for _ in 0..64 {
            match self.replaced.get(&at) {
                Some(&to) if self.clusters.contains_key(&to) => {
                    return Err(ActionError::Replaced(id, to))
                }
                Some(&to) => at = to,
                None => break,
            }
        }
        Err(ActionError::UnknownCluster(id))
    }
}

#[cfg(test)]
mod tests;
