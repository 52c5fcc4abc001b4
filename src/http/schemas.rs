//! Doc-only shapes for `/openapi.json`: JSON bodies that the handlers build
//! with `json!` (or read field by field from a `Value`) and so have no Rust
//! type of their own. Each mirrors what its handler really sends or
//! accepts — keep them in step when a handler changes. Types that exist
//! (`Jurisdiction`, `Classification`, `FeatureOut`, `HeatOut`, …) derive
//! `ToSchema` where they are defined.
//!
//! Nothing constructs these types: they exist for their `ToSchema` impl
//! (hence no dead-code or enum-size concerns).
#![allow(dead_code, clippy::large_enum_variant)]

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::dispatch::roster::{CandidateOut, FeatureOut, PointOut};
use crate::domain::{
    Classification, Entity, Geocoded, Jurisdiction, JurisdictionSummary, Party, ResponderType,
    Source, Status,
};

/// The body of every error answer (`ApiError`). 4xx answers name the field
/// and the reason; some add keys (e.g. `code` and `rejected` for refused
/// positions). 500 and 503 carry only `error` and `reason`.
#[derive(Serialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// e.g. `invalid_request`, `not_found`, `conflict`, `payload_too_large`,
    /// `unsupported_media_type`, `unavailable`, `internal`
    #[schema(example = "invalid_request")]
    pub error: String,
    #[schema(example = "lat")]
    pub field: Option<String>,
    #[schema(example = "latitude must be a finite number between -90 and 90, got 91")]
    pub reason: String,
}

/// Datum of the given coordinates; converted to WGS-84 on arrival.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Crs {
    Wgs84,
    Gcj02,
    Bd09,
}

// ---- health ---------------------------------------------------------------

/// `GET /healthz`.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok` or `unavailable`
    pub status: String,
    /// `ok` or `unreachable`
    pub database: String,
    pub world: HealthWorld,
    /// Set when no boundary layer is loaded.
    pub hint: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct HealthWorld {
    pub loaded: bool,
    /// Features per layer (`boundary`, `townships`, `grids`, `stations`, `posts`).
    pub layers: BTreeMap<String, u64>,
    pub loaded_at: DateTime<Utc>,
    pub seq: Option<u64>,
    pub recent_incidents: Option<u64>,
    pub subscribers: Option<u64>,
}

// ---- locate ---------------------------------------------------------------

/// `GET /api/v1/locate`: the jurisdiction of the (WGS-84) point.
#[derive(Serialize, ToSchema)]
pub struct Located {
    /// WGS-84 longitude (after `crs` conversion).
    pub lon: f64,
    /// WGS-84 latitude (after `crs` conversion).
    pub lat: f64,
    #[serde(flatten)]
    pub jurisdiction: Jurisdiction,
}

// ---- incidents ------------------------------------------------------------

/// One incident as `POST /api/v1/incidents` accepts it (unknown fields are refused).
#[derive(Serialize, ToSchema)]
pub struct NewIncident {
    /// A source code (`110`, `12345`, `xinfang`, `maodiao`, `grid`, `station`,
    /// `sensor`, `eido`, `sifa`, `other`) or its Chinese name (`信访`, `矛调`, `四平台`, …).
    pub source: String,
    /// 1 to 128 characters; `(source, source_id)` is unique.
    pub source_id: String,
    /// RFC 3339 with offset; at most 5 minutes in the future.
    pub reported_at: DateTime<Utc>,
    /// Required with `lat` unless an `address` is given (then geocoded).
    #[schema(minimum = -180, maximum = 180)]
    pub lon: Option<f64>,
    #[schema(minimum = -90, maximum = 90)]
    pub lat: Option<f64>,
    /// Default `wgs84`.
    pub crs: Option<Crs>,
    #[schema(max_length = 64)]
    pub category: Option<String>,
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    #[schema(max_length = 256)]
    pub address: Option<String>,
    #[schema(minimum = 1, maximum = 4)]
    pub priority: Option<u8>,
    /// Stored only masked and hashed.
    #[schema(max_length = 32)]
    pub caller_phone: Option<String>,
    /// 18- (or old 15-) character ID-card number; stored only masked and hashed.
    #[schema(max_length = 32)]
    pub caller_id_no: Option<String>,
    #[schema(max_length = 64)]
    pub caller_name: Option<String>,
}

/// One incident object, or an array of 1 to 1,000.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum NewIncidents {
    One(NewIncident),
    Many(Vec<NewIncident>),
}

/// The properties every stored incident carries (record and Feature alike).
#[derive(Serialize, ToSchema)]
pub struct IncidentProperties {
    pub id: i64,
    pub source: Source,
    pub source_label: String,
    pub source_id: String,
    pub source_category: Option<String>,
    pub reported_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub occurred_at: Option<DateTime<Utc>>,
    pub category: Option<String>,
    pub description: Option<String>,
    pub address: Option<String>,
    pub priority: Option<u8>,
    pub demo: bool,
    /// False when the record could not be located (no geometry).
    pub located: bool,
    /// The datum the coordinates arrived in.
    pub crs: Option<String>,
    pub geocode: Option<Geocoded>,
    pub jurisdiction: JurisdictionSummary,
    pub leaf_id: Option<String>,
    pub leaf_name: Option<String>,
    pub group_id: Option<String>,
    pub group_name: Option<String>,
    pub lead_department: Option<String>,
    pub tags: Vec<String>,
    pub classification: Option<Classification>,
    pub parties: Vec<Party>,
    pub entities: Vec<Entity>,
    /// External ids kept for later linking.
    #[schema(value_type = Object)]
    pub refs: Value,
    /// The repeat-call cluster (the id of the incident that opened it); null
    /// until the live writer has clustered it.
    pub cluster_id: Option<i64>,
}

/// A stored incident as `POST /api/v1/incidents` answers it.
#[derive(Serialize, ToSchema)]
pub struct IncidentRecord {
    #[serde(flatten)]
    pub properties: IncidentProperties,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    /// False when this `(source, source_id)` was already stored.
    pub created: bool,
}

/// One record for one object, an array for an array (input order).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum IncidentRecords {
    One(IncidentRecord),
    Many(Vec<IncidentRecord>),
}

/// An incident as an RFC 7946 Feature (null geometry when not located).
#[derive(Serialize, ToSchema)]
pub struct IncidentFeature {
    /// `Feature`
    #[serde(rename = "type")]
    pub kind: String,
    pub id: i64,
    pub geometry: Option<PointOut>,
    pub properties: IncidentProperties,
}

/// `GET /api/v1/incidents`: newest first.
#[derive(Serialize, ToSchema)]
pub struct IncidentCollection {
    /// `FeatureCollection`
    #[serde(rename = "type")]
    pub kind: String,
    pub features: Vec<IncidentFeature>,
    /// When the page is full: the URL of the next page (same query + `cursor`), else null.
    pub next: Option<String>,
}

/// `GET /api/v1/stats/today`.
#[derive(Serialize, ToSchema)]
pub struct StatsToday {
    /// The local (Asia/Shanghai) date, `YYYY-MM-DD`.
    pub day: String,
    /// `Asia/Shanghai`
    pub timezone: String,
    /// Local midnight.
    pub since: DateTime<Utc>,
    pub total: i64,
    /// Every source code, 0 when none arrived.
    pub by_source: BTreeMap<String, i64>,
    /// The highest incident id at that moment (0 when none is stored).
    pub max_id: i64,
}

// ---- multi-source ingest and classifier ---------------------------------

/// One record of a `POST /api/v1/ingest/{source}` answer. Accepted records
/// (`created`, `duplicate`) carry the stored id and what the pipeline found;
/// `rejected` ones carry `field` and `reason` only.
#[derive(Serialize, ToSchema)]
pub struct IngestResult {
    pub index: usize,
    /// `created`, `duplicate` or `rejected`
    pub status: String,
    pub id: Option<i64>,
    pub source_id: Option<String>,
    pub located: Option<bool>,
    pub geocode: Option<Geocoded>,
    pub township_code: Option<String>,
    pub grid_code: Option<String>,
    pub leaf_id: Option<String>,
    pub leaf_name: Option<String>,
    pub group_name: Option<String>,
    pub confidence: Option<f32>,
    pub tags: Option<Vec<String>>,
    pub lead_department: Option<String>,
    pub field: Option<String>,
    pub reason: Option<String>,
}

/// `POST /api/v1/ingest/{source}`.
#[derive(Serialize, ToSchema)]
pub struct IngestAnswer {
    pub source: String,
    pub source_label: String,
    /// created + duplicates
    pub accepted: usize,
    pub created: usize,
    pub duplicates: usize,
    pub rejected: usize,
    /// One per input record, in input order.
    pub results: Vec<IngestResult>,
}

/// `POST /api/v1/classify` (unknown fields are refused).
#[derive(Serialize, ToSchema)]
pub struct ClassifyRequest {
    /// Non-empty, at most 4,000 characters.
    pub text: String,
    /// A source system (code or Chinese name).
    pub source: Option<String>,
    /// The source's own category code or name.
    pub source_category: Option<String>,
    /// When it was reported (RFC 3339); the local hour feeds the `night` tag.
    pub at: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
pub struct TaxonomyLeaf {
    pub id: String,
    pub name: String,
    pub name_en: String,
    pub lead: String,
    pub assist: String,
    pub deadline: String,
}

#[derive(Serialize, ToSchema)]
pub struct TaxonomyGroup {
    pub id: String,
    pub name: String,
    pub name_en: String,
    /// False for the group the text model never chooses (source codes only).
    pub from_text: bool,
    pub leaves: Vec<TaxonomyLeaf>,
}

#[derive(Serialize, ToSchema)]
pub struct TaxonomyTag {
    pub code: String,
    pub label: String,
}

#[derive(Serialize, ToSchema)]
pub struct TaxonomySource {
    pub code: String,
    pub label: String,
    /// Names accepted for the source.
    pub names: Vec<String>,
}

/// `GET /api/v1/taxonomy`.
#[derive(Serialize, ToSchema)]
pub struct TaxonomyOut {
    pub groups: Vec<TaxonomyGroup>,
    pub tags: Vec<TaxonomyTag>,
    pub sources: Vec<TaxonomySource>,
}

// ---- responders -----------------------------------------------------------

/// A roster entry as `POST /api/v1/responders` accepts it (unknown fields are refused).
#[derive(Serialize, ToSchema)]
pub struct NewResponder {
    #[schema(min_length = 1, max_length = 64)]
    pub id: String,
    #[schema(min_length = 1, max_length = 64)]
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ResponderType,
    /// At most 16, each 1 to 32 characters.
    pub skills: Option<Vec<String>>,
    pub station: Option<String>,
    pub post: Option<String>,
    pub department: Option<String>,
    /// Stored only masked, e.g. `138****1234`.
    pub phone: Option<String>,
    pub shift: Option<String>,
    /// `available`, `busy` or `off_duty` (409 while on an open assignment).
    pub status: Option<Status>,
    pub demo: Option<bool>,
}

/// One roster entry or an array of 1 to 1,000.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum NewResponders {
    One(NewResponder),
    Many(Vec<NewResponder>),
}

/// A responder Feature with whether this request created it.
#[derive(Serialize, ToSchema)]
pub struct ResponderUpserted {
    #[serde(flatten)]
    pub feature: FeatureOut<'static>,
    pub created: bool,
}

/// One Feature for one object, an array for an array.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum RespondersUpserted {
    One(ResponderUpserted),
    Many(Vec<ResponderUpserted>),
}

/// `GET /api/v1/responders`.
#[derive(Serialize, ToSchema)]
pub struct ResponderCollection {
    /// `FeatureCollection`
    #[serde(rename = "type")]
    pub kind: String,
    pub features: Vec<FeatureOut<'static>>,
}

/// A position fix (unknown fields are refused).
#[derive(Serialize, ToSchema)]
pub struct PositionFix {
    /// Responder id.
    pub id: String,
    pub lon: f64,
    pub lat: f64,
    /// When the device took the fix (RFC 3339 with offset).
    pub ts: DateTime<Utc>,
    /// m/s, 0 to 150.
    pub speed: Option<f64>,
    /// Degrees, 0 to 360.
    pub heading: Option<f64>,
    /// Metres.
    pub accuracy: Option<f64>,
    /// Metres.
    pub altitude: Option<f64>,
    /// Percent.
    pub battery: Option<f64>,
    pub crs: Option<Crs>,
}

/// One fix or an array of 1 to 1,000.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum PositionFixes {
    One(PositionFix),
    Many(Vec<PositionFix>),
}

#[derive(Serialize, ToSchema)]
pub struct PositionRejected {
    pub index: usize,
    /// Absent for fixes that did not parse.
    pub id: Option<String>,
    pub field: String,
    pub reason: String,
    /// `invalid`, `unknown_responder` or a filter: `future`, `outdated`,
    /// `older_than_latest`, `duplicate`, `implausible_jump`, `inaccurate`.
    pub code: String,
}

/// `POST /api/v1/responders/positions`.
#[derive(Serialize, ToSchema)]
pub struct PositionsAnswer {
    pub accepted: usize,
    pub rejected: Vec<PositionRejected>,
}

/// `GET|POST /osmand`.
#[derive(Serialize, ToSchema)]
pub struct OsmandAnswer {
    /// 1, or 0 for an exact resend of the stored fix.
    pub accepted: u8,
    /// True for an exact resend.
    pub duplicate: Option<bool>,
}

/// `GET /api/v1/responders/nearest` (default `fields=full`).
#[derive(Serialize, ToSchema)]
pub struct NearestFull {
    pub lon: f64,
    pub lat: f64,
    pub k: usize,
    pub candidates: Vec<CandidateOut<'static>>,
}

#[derive(Serialize, ToSchema)]
pub struct NearestId {
    pub id: String,
    pub distance_m: f64,
    pub eta_s: f64,
    pub stale: bool,
}

/// `GET /api/v1/responders/nearest?fields=ids`.
#[derive(Serialize, ToSchema)]
pub struct NearestIds {
    pub candidates: Vec<NearestId>,
}

#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum Nearest {
    Full(NearestFull),
    Ids(NearestIds),
}

#[derive(Serialize, ToSchema)]
pub struct LineString {
    /// `LineString`
    #[serde(rename = "type")]
    pub kind: String,
    pub coordinates: Vec<[f64; 2]>,
}

#[derive(Serialize, ToSchema)]
pub struct TrackProperties {
    /// One time per coordinate.
    pub times: Vec<DateTime<Utc>>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// `GET /api/v1/responders/{id}/track`.
#[derive(Serialize, ToSchema)]
pub struct Track {
    /// `Feature`
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    pub geometry: LineString,
    pub properties: TrackProperties,
}

/// `POST /api/v1/responders/{id}/status`.
#[derive(Serialize, ToSchema)]
pub struct StatusRequest {
    /// `dispatched` is refused (set by assigning).
    pub status: Status,
}

/// `GET /api/v1/stats/positions`: counters since start.
#[derive(Serialize, ToSchema)]
pub struct PositionStats {
    pub accepted: u64,
    /// By filter code.
    pub rejected: BTreeMap<String, u64>,
    pub unknown_responder: u64,
    pub invalid: u64,
    pub track_points_dropped: u64,
    pub flushes: u64,
    pub flush_failures: u64,
}

// ---- dispatch -------------------------------------------------------------

/// An assignment record.
#[derive(Serialize, ToSchema)]
pub struct Assignment {
    pub id: i64,
    pub incident_id: i64,
    pub responder_id: String,
    /// `dispatched`, `acked`, `declined`, `timed_out` or `cleared`
    pub status: String,
    pub status_label: String,
    pub created_at: DateTime<Utc>,
    pub ack_deadline: DateTime<Utc>,
    pub acked_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// The assignment this one re-offers.
    pub replaces: Option<i64>,
    pub reason: Option<String>,
}

/// What a committed duty change did: the assignments it touched and the
/// responders whose status changed, as Features.
#[derive(Serialize, ToSchema)]
pub struct DutyChange {
    pub assignments: Vec<Assignment>,
    pub responders: Vec<FeatureOut<'static>>,
}

/// `GET /api/v1/incidents/{id}/assignments`.
#[derive(Serialize, ToSchema)]
pub struct IncidentAssignments {
    pub incident_id: i64,
    /// Oldest first.
    pub assignments: Vec<Assignment>,
}

/// `POST /api/v1/incidents/{id}/assign` (unknown fields are refused).
#[derive(Serialize, ToSchema)]
pub struct AssignRequest {
    /// 1 to 20 distinct responder ids.
    #[schema(min_items = 1, max_items = 20)]
    pub responders: Vec<String>,
    /// Who dispatched (at most 64 characters).
    pub by: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CandidateIncident {
    pub id: i64,
    pub lon: f64,
    pub lat: f64,
    pub priority: Option<u8>,
    pub category: Option<String>,
    pub jurisdiction: JurisdictionSummary,
}

/// `GET /api/v1/incidents/{id}/candidates`.
#[derive(Serialize, ToSchema)]
pub struct Candidates {
    pub incident: CandidateIncident,
    pub candidates: Vec<CandidateOut<'static>>,
    pub eta_model: String,
}

// ---- risk -----------------------------------------------------------------

#[derive(Serialize, ToSchema)]
pub struct HotspotCell {
    pub h3: String,
    pub lon: f64,
    pub lat: f64,
    pub count: u64,
    pub z: f64,
    pub p: f64,
    pub p_fdr: f64,
    /// -3 to 3 (99/95/90 % cold … hot; 0 not significant).
    pub bin: i8,
}

#[derive(Serialize, ToSchema)]
pub struct TopPlace {
    /// An H3 res-10 cell.
    pub h3: String,
    pub lon: f64,
    pub lat: f64,
    pub count: u32,
    pub address: Option<String>,
    pub categories: Vec<String>,
}

/// `GET /api/v1/hotspots`.
#[derive(Serialize, ToSchema)]
pub struct Hotspots {
    pub res: u8,
    pub k: u32,
    pub weights: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub category: Option<String>,
    pub n_cells: usize,
    pub n_incidents: u64,
    /// Study cells per bin, `-3` to `3`.
    pub bins: BTreeMap<String, usize>,
    /// Cells with incidents or a non-zero bin (every study cell with `all`).
    pub cells: Vec<HotspotCell>,
    /// Up to 20 res-10 cells with at least 2 incidents.
    pub top_places: Vec<TopPlace>,
}

#[derive(Serialize, ToSchema)]
pub struct Period {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct EmergingCell {
    pub h3: String,
    pub lon: f64,
    pub lat: f64,
    /// e.g. `new_hot`, `intensifying_hot`, `persistent_cold`, `no_pattern`
    pub class: String,
    pub trend_z: f64,
    pub trend_p: f64,
    /// The FDR bin per period.
    pub bins: Vec<i8>,
    /// Incidents per period.
    pub counts: Vec<u64>,
}

/// `GET /api/v1/hotspots/emerging`.
#[derive(Serialize, ToSchema)]
pub struct Emerging {
    pub res: u8,
    pub k: u32,
    pub step_days: i64,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub rules: String,
    pub periods: Vec<Period>,
    /// Study cells per class.
    pub classes: BTreeMap<String, u64>,
    /// Cells with a pattern (every study cell with `all`).
    pub cells: Vec<EmergingCell>,
}

#[derive(Serialize, ToSchema)]
pub struct ForecastCell {
    pub h3: String,
    pub lon: f64,
    pub lat: f64,
    /// Expected incidents in the next `days`.
    pub score: f64,
    /// Incidents in the last `days`.
    pub count: u64,
}

/// `GET /api/v1/forecast`.
#[derive(Serialize, ToSchema)]
pub struct Forecast {
    pub model: String,
    pub res: u8,
    pub days: i64,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub n_cells: usize,
    /// Highest score first; cells with a score above 0 (every study cell with `all`).
    pub cells: Vec<ForecastCell>,
}

// ---- repeat-call clusters ----------------------------------------------------

/// A cluster's properties (stream and API alike).
#[derive(Serialize, ToSchema)]
pub struct ClusterProperties {
    /// The id of the incident that opened it.
    pub id: i64,
    /// Category family (`noise`, `traffic`, `wage_debt`, `dispute`, …).
    pub family: String,
    pub members: u32,
    /// members − 1: the calls after the first
    pub repeats: u32,
    pub located: u32,
    pub first_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
    /// last call + the family gap
    pub closes_at: DateTime<Utc>,
    pub horizon_at: DateTime<Utc>,
    /// Open while no quiet period has ended it.
    pub open: bool,
    /// [lon, lat] mean of the located members
    pub centroid: Option<[f64; 2]>,
    /// [west, south, east, north]
    pub bbox: Option<[f64; 4]>,
    /// Convex hull of the located members (GeoJSON Polygon; a Point or LineString for one or two places).
    #[schema(value_type = Object)]
    pub extent: Value,
    /// leaf id → members
    pub categories: BTreeMap<String, u32>,
    /// source code → members
    pub sources: BTreeMap<String, u32>,
    /// distinct callers
    pub callers: u32,
    /// Set when merged into another cluster.
    pub replaced_by: Option<i64>,
    /// A commander merged or split it.
    pub manual: bool,
    /// Split parts that automatic clustering keeps apart from this one.
    pub apart_from: Vec<i64>,
    pub version: i64,
}

/// A cluster as a Feature (centroid Point; null when no member is located).
#[derive(Serialize, ToSchema)]
pub struct ClusterFeature {
    /// `Feature`
    #[serde(rename = "type")]
    pub kind: String,
    pub id: i64,
    pub geometry: Option<PointOut>,
    pub properties: ClusterProperties,
}

/// `GET /api/v1/clusters`: newest last call first.
#[derive(Serialize, ToSchema)]
pub struct ClusterCollection {
    /// `FeatureCollection`
    #[serde(rename = "type")]
    pub kind: String,
    pub features: Vec<ClusterFeature>,
}

/// A cluster's members and history rows are the store's own types (one
/// definition for the answer and its schema).
pub use crate::store::clusters::{LinkOut as ClusterLink, MemberOut as ClusterMember};

/// `GET /api/v1/clusters/{id}`.
#[derive(Serialize, ToSchema)]
pub struct ClusterDetail {
    pub cluster: ClusterFeature,
    /// event-time order, at most 2,000
    pub members: Vec<ClusterMember>,
    pub history: Vec<ClusterLink>,
}

/// `POST /api/v1/clusters/{id}/merge`.
#[derive(Serialize, ToSchema)]
pub struct ClusterMergeRequest {
    /// clusters to merge into this one (1–50)
    pub with: Vec<i64>,
    /// who decided (recorded in the history and the event log)
    pub actor: Option<String>,
    pub note: Option<String>,
}

/// `POST /api/v1/clusters/{id}/split`.
#[derive(Serialize, ToSchema)]
pub struct ClusterSplitRequest {
    /// members to move into a new cluster (1–500; at least one must stay)
    pub incidents: Vec<i64>,
    pub actor: Option<String>,
    pub note: Option<String>,
}

/// The answer to a merge or split: the clusters as they are now.
#[derive(Serialize, ToSchema)]
pub struct ClusterActionAnswer {
    pub cluster_id: i64,
    /// the new cluster of a split
    pub new_cluster_id: Option<i64>,
    pub clusters: Vec<ClusterFeature>,
}

#[derive(Serialize, ToSchema)]
pub struct RepeatRow {
    pub key: String,
    pub calls: i64,
    pub repeats: i64,
    pub rate: f64,
}

#[derive(Serialize, ToSchema)]
pub struct RepeatLocation {
    pub cluster_id: i64,
    pub family: String,
    pub calls: i64,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    /// the address of the call that opened the cluster
    pub address: Option<String>,
    pub township_code: Option<String>,
    pub first_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct RepeatCaller {
    /// masked; the number itself is never stored
    pub caller_masked: Option<String>,
    pub calls: i64,
    pub clusters: i64,
    pub last_at: DateTime<Utc>,
}

/// `GET /api/v1/stats/repeats`.
#[derive(Serialize, ToSchema)]
pub struct RepeatStats {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// `day`, `township`, `grid`, `category` or `source`
    pub by: String,
    pub calls: i64,
    /// calls that joined a cluster an earlier call had opened
    pub repeats: i64,
    pub rate: f64,
    /// calls with no cluster yet (stored offline, clustered at the next start)
    pub unclustered: i64,
    pub rows: Vec<RepeatRow>,
    pub top_locations: Vec<RepeatLocation>,
    pub top_callers: Vec<RepeatCaller>,
}
