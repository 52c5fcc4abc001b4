//! The live world: one writer task owns the in-memory state (layers, the
//! jurisdiction index, recent incidents) and is the only publisher of stream
//! events. Everyone else holds a [`WorldHandle`]:
//!
//! - reads of layers and the index go through an `Arc<Snapshot>` from a
//!   `watch` channel (no lock on the request path);
//! - changes are messages to the writer over a bounded `mpsc` (capacity
//!   [`COMMAND_QUEUE`]): when it is full, ingest waits, which is the
//!   back-pressure we want (PostGIS has already committed, so nothing is lost);
//! - subscriptions are messages too, so the writer hands out the snapshot,
//!   its sequence number and the event receiver atomically: no event can fall
//!   between a client's snapshot and its first delta, and none is sent twice.

pub mod clusters;
pub mod heat;
mod incidents;
pub mod responders;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::json;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

pub use heat::{HeatItem, HeatReader};
pub use incidents::RecentIncidents;
pub use responders::{FeatureItem, FlushBatch, PositionCounters, RosterReader};

use crate::dispatch::{FixError, Roster};
use crate::domain::{
    Bbox, DutyChange, Fix, Incident, LayerKind, Layers, Position, ResponderSpec, Status,
};
use crate::spatial::JurisdictionIndex;
use responders::LiveResponders;

/// Commands waiting for the writer. Ingest blocks (async) when full.
pub const COMMAND_QUEUE: usize = 1024;

/// Read-only view of the world, swapped whole when layers change.
#[derive(Debug)]
pub struct Snapshot {
    pub layers: Arc<Layers>,
    pub index: Arc<JurisdictionIndex>,
    /// Each layer pre-rendered as a GeoJSON FeatureCollection.
    /// (`Bytes` so serving a layer is a reference-count bump, not a copy.)
    pub layer_json: HashMap<LayerKind, bytes::Bytes>,
    /// The offline geocoder's gazetteer, built from the same layers (and the
    /// landmarks of `geodata/src/places.csv`).
    pub gazetteer: Arc<crate::geocode::Gazetteer>,
    pub loaded_at: DateTime<Utc>,
}

/// Landmarks for the gazetteer (name, kind, lon, lat, …; rows without
/// coordinates are skipped).
const LANDMARKS_CSV: &str = include_str!("../../geodata/src/places.csv");

impl Snapshot {
    pub fn new(layers: Layers) -> Self {
        use crate::geocode::{landmarks_from_csv, places_from_feature_collection, PlaceKind};
        let index = Arc::new(JurisdictionIndex::build(&layers));
        let mut places = landmarks_from_csv(LANDMARKS_CSV);
        let mut layer_json = HashMap::new();
        for k in LayerKind::ALL {
            let fc = crate::wire::geojson::layer_collection(&layers, k);
            let kind = match k {
                LayerKind::Townships => Some(PlaceKind::Township),
                LayerKind::Grids => Some(PlaceKind::Village),
                LayerKind::Stations => Some(PlaceKind::Station),
                LayerKind::Posts => Some(PlaceKind::Post),
                _ => None,
            };
            if let Some(kind) = kind {
                places.extend(places_from_feature_collection(kind, &fc));
            }
            layer_json.insert(k, bytes::Bytes::from(fc.to_string()));
        }
        Self {
            layers: Arc::new(layers),
            index,
            layer_json,
            gazetteer: Arc::new(crate::geocode::Gazetteer::new(places)),
            loaded_at: Utc::now(),
        }
    }
}

/// The stream layers a client can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    Incidents,
    /// Responder features and assignment messages.
    Responders,
    /// Heat-cell deltas.
    Heat,
    /// Repeat-call clusters (≥ 2 members), each message the whole cluster.
    Clusters,
}

/// One event on the stream.
#[derive(Debug)]
pub struct StreamEvent {
    pub seq: u64,
    pub topic: Topic,
    pub body: EventBody,
}

#[derive(Debug)]
pub enum EventBody {
    /// A complete wire message (serialised once for all clients), e.g.
    /// `{"type":"incident","seq":7,"feature":{…}}`, for clients whose box
    /// holds `position` (all of the topic's clients when `None`).
    One {
        position: Option<Position>,
        json: Arc<str>,
    },
    /// Responder features, each for clients whose box holds its new or its
    /// last published position (or every client when it has none); the
    /// session wraps its share as `{"type":"responders","seq":N,"features":[…]}`.
    Features(Vec<FeatureItem>),
    /// Changed heat cells (all resolutions and groups) valued at `at`; each
    /// session keeps those of its resolution, category and box.
    Heat {
        at: DateTime<Utc>,
        items: Vec<HeatItem>,
    },
}

/// What a new subscriber gets, atomically.
pub struct Subscription {
    pub seq: u64,
    /// The newest recent incidents inside the box, as pre-serialised Features.
    pub incidents: Vec<Arc<str>>,
    /// Responder features inside the box (when the responders layer was asked for).
    pub responders: Option<Vec<Arc<str>>>,
    /// Open assignments (with the responders layer).
    pub assignments: Vec<serde_json::Value>,
    /// The heat surface and what to read of it (with the heat layer);
    /// the subscriber builds its snapshot from it after subscribing.
    pub heat: Option<(HeatReader, HeatWant)>,
    /// Open clusters (≥ 2 members) inside the box (with the clusters layer).
    pub clusters: Option<Vec<Arc<str>>>,
    pub events: broadcast::Receiver<Arc<StreamEvent>>,
}

/// What a heat subscriber watches.
#[derive(Debug, Clone, PartialEq)]
pub struct HeatWant {
    pub res: u8,
    pub surface: crate::risk::heat::Surface,
    pub category: Option<String>,
}

/// One heat cell on the wire.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[schema(as = HeatCell)]
pub struct HeatCellOut {
    pub h3: String,
    pub lon: f64,
    pub lat: f64,
    pub intensity: f64,
    pub count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boundary: Option<Vec<[f64; 2]>>,
}

/// The heat snapshot/REST body for a box: `{res, surface, category,
/// half_life_s, at, max_intensity, cells}` (serialised straight from structs).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[schema(as = Heat)]
pub struct HeatOut {
    pub res: u8,
    pub surface: &'static str,
    pub category: Option<String>,
    pub half_life_s: i64,
    pub at: String,
    pub max_intensity: f64,
    pub cells: Vec<HeatCellOut>,
}

impl HeatOut {
    /// Keeps the cells `keep` accepts, and the maximum over them.
    pub fn retain(&mut self, keep: impl Fn(&HeatCellOut) -> bool) {
        self.cells.retain(|c| keep(c));
        self.max_intensity = self.cells.iter().map(|c| c.intensity).fold(0.0, f64::max);
    }
}

pub fn heat_body(
    heat: &crate::risk::heat::Heat,
    bbox: Bbox,
    want: &HeatWant,
    at: DateTime<Utc>,
    boundary: bool,
) -> HeatOut {
    let cells = heat.cells_in(bbox, want.res, want.category.as_deref(), want.surface, at);
    let mut out = HeatOut {
        res: want.res,
        surface: want.surface.code(),
        category: want.category.clone(),
        half_life_s: heat.half_life(want.surface).num_seconds(),
        at: at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        max_intensity: 0.0,
        cells: cells
            .iter()
            .map(|c| HeatCellOut {
                h3: c.cell.to_string(),
                lon: c.lon,
                lat: c.lat,
                intensity: c.intensity,
                count: c.count,
                boundary: boundary.then(|| {
                    c.cell
                        .boundary()
                        .iter()
                        .map(|p| [p.lng(), p.lat()])
                        .collect()
                }),
            })
            .collect(),
    };
    out.retain(|_| true);
    out
}

/// Result of one position in a batch.
pub type FixResult = Result<(), FixError>;

/// Each committed incident's id and cluster.
pub type ClusterIds = Vec<(i64, Option<i64>)>;

enum Command {
    Committed(Vec<Incident>, Option<oneshot::Sender<ClusterIds>>),
    Subscribe {
        bbox: Bbox,
        limit: usize,
        responders: bool,
        heat: Option<HeatWant>,
        clusters: bool,
        reply: oneshot::Sender<Subscription>,
    },
    Cluster {
        action: clusters::Action,
        actor: crate::store::clusters::Actor,
        reply: oneshot::Sender<Result<clusters::ActionOutcome, clusters::ActionFailure>>,
    },
    ReplaceLayers(Box<Layers>),
    Stats(oneshot::Sender<WorldStats>),
    Upserted(
        Vec<(ResponderSpec, Status, DateTime<Utc>)>,
        oneshot::Sender<()>,
    ),
    Positions {
        fixes: Vec<(String, Fix)>,
        reply: oneshot::Sender<Vec<FixResult>>,
    },
    Duty(DutyChange, oneshot::Sender<()>),
    TakeUnflushed(oneshot::Sender<FlushBatch>),
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct WorldStats {
    pub seq: u64,
    pub recent_incidents: usize,
    pub subscribers: usize,
    pub responders: usize,
    /// calls and clusters the clusterer holds in memory
    pub cluster_calls: usize,
    pub clusters: usize,
}

/// Retention of the in-memory recent-incident set.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub max_age: chrono::Duration,
    pub max_count: usize,
}

/// Handle to the live world. Cheap to clone.
#[derive(Clone)]
pub struct WorldHandle {
    commands: mpsc::Sender<Command>,
    snapshot: watch::Receiver<Arc<Snapshot>>,
    seq: Arc<AtomicU64>,
    roster: RosterReader,
    counters: Arc<PositionCounters>,
    heat: HeatReader,
}

/// What the writer starts with besides layers and incidents.
pub struct ResponderWorld {
    pub roster: Roster,
    /// Where telemetry flush batches go (`None`: nowhere, e.g. in unit tests).
    pub flush: Option<mpsc::Sender<FlushBatch>>,
    /// The heat surface rebuilt from PostGIS.
    pub heat: crate::risk::heat::Heat,
    /// The clusterer restored from PostGIS.
    pub clusterer: crate::cluster::Clusterer,
    /// The road to the cluster store and back (`None`: clusters are not
    /// stored, e.g. in unit tests).
    pub cluster_store: Option<(
        mpsc::Sender<clusters::StoreJob>,
        mpsc::Receiver<clusters::StoreJob>,
    )>,
}

impl WorldHandle {
    /// Starts the writer with the given layers and recent incidents.
    /// `client_queue` is each subscriber's bounded queue (see `realtime`).
    pub fn start(
        layers: Layers,
        recent: Vec<Incident>,
        retention: Retention,
        client_queue: usize,
    ) -> Self {
        Self::start_with(
            layers,
            recent,
            retention,
            client_queue,
            ResponderWorld {
                roster: Roster::new(Default::default(), Default::default()),
                flush: None,
                heat: crate::risk::heat::Heat::new(Default::default(), Utc::now()),
                clusterer: crate::cluster::Clusterer::new(Default::default()),
                cluster_store: None,
            },
        )
    }

    /// [`WorldHandle::start`] with a loaded roster and a telemetry flusher.
    pub fn start_with(
        layers: Layers,
        recent: Vec<Incident>,
        retention: Retention,
        client_queue: usize,
        responders: ResponderWorld,
    ) -> Self {
        let (snap_tx, snap_rx) = watch::channel(Arc::new(Snapshot::new(layers)));
        let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_QUEUE);
        let (events, _) = broadcast::channel(client_queue.max(1));
        let seq = Arc::new(AtomicU64::new(0));
        let mut set = RecentIncidents::new(retention);
        for i in recent {
            set.insert(Arc::new(i));
        }
        let counters = Arc::new(PositionCounters::default());
        let live = LiveResponders::new(responders.roster, counters.clone(), responders.flush);
        let roster = live.reader();
        let heat = heat::LiveHeat::new(responders.heat);
        let heat_reader = heat.reader();
        let (store_tx, done_rx) = match responders.cluster_store {
            Some((tx, rx)) => (Some(tx), Some(rx)),
            None => (None, None),
        };
        let writer = Writer {
            incidents: set,
            responders: live,
            heat,
            clusters: clusters::LiveClusters::new(responders.clusterer, store_tx),
            done: done_rx,
            events,
            snapshot: snap_tx,
            seq: seq.clone(),
        };
        tokio::spawn(writer.run(cmd_rx));
        Self {
            commands: cmd_tx,
            snapshot: snap_rx,
            seq,
            roster,
            counters,
            heat: heat_reader,
        }
    }

    /// Read access to the heat surface.
    pub fn heat(&self) -> &HeatReader {
        &self.heat
    }

    /// Read access to the roster (the lock is held only inside the closure).
    pub fn roster(&self) -> &RosterReader {
        &self.roster
    }

    pub fn position_counters(&self) -> &PositionCounters {
        &self.counters
    }

    /// Roster rows just committed: index them and publish. Returns once
    /// the writer has applied them (so an answer built afterwards shows them).
    pub async fn responders_upserted(&self, rows: Vec<(ResponderSpec, Status, DateTime<Utc>)>) {
        let (tx, rx) = oneshot::channel();
        if self
            .commands
            .send(Command::Upserted(rows, tx))
            .await
            .is_err()
            || rx.await.is_err()
        {
            tracing::warn!("live world stopped; roster changes will be loaded at next start");
        }
    }

    /// Applies position fixes (telemetry: flushed to PostGIS within a
    /// second). One result per fix, in order; `None` if the world stopped.
    pub async fn positions(&self, fixes: Vec<(String, Fix)>) -> Option<Vec<FixResult>> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::Positions { fixes, reply })
            .await
            .ok()?;
        rx.await.ok()
    }

    /// A committed change of statuses/assignments: apply and publish at
    /// once. Returns once the writer has applied it.
    pub async fn duty(&self, change: DutyChange) {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Duty(change, tx)).await.is_err() || rx.await.is_err() {
            tracing::warn!("live world stopped; duty change will be loaded at next start");
        }
    }

    /// Takes every fix not yet flushed (for a final flush at shutdown).
    pub async fn take_unflushed(&self) -> Option<FlushBatch> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::TakeUnflushed(reply))
            .await
            .ok()?;
        rx.await.ok()
    }

    /// The current snapshot (layers and index).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.borrow().clone()
    }

    /// Sequence number of the last published event.
    pub fn seq(&self) -> u64 {
        self.seq.load(Ordering::Acquire)
    }

    /// Hands committed incidents to the writer, which clusters them, stores
    /// the clusters, then indexes and publishes them. Answers each incident's
    /// cluster once that is stored (empty if the world has stopped).
    pub async fn committed(&self, incidents: Vec<Incident>) -> ClusterIds {
        let (reply, rx) = oneshot::channel();
        if self
            .commands
            .send(Command::Committed(incidents, Some(reply)))
            .await
            .is_err()
        {
            tracing::warn!("live world stopped; committed incidents will be loaded at next start");
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// A commander merges or splits clusters: applied, stored, published.
    /// `None` if the world has stopped.
    pub async fn cluster_action(
        &self,
        action: clusters::Action,
        actor: crate::store::clusters::Actor,
    ) -> Option<Result<clusters::ActionOutcome, clusters::ActionFailure>> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::Cluster {
                action,
                actor,
                reply,
            })
            .await
            .ok()?;
        rx.await.ok()
    }

    /// Subscribes to events inside `bbox`, with the newest `limit` recent
    /// incidents there (and the responders there, if `responders`).
    pub async fn subscribe(
        &self,
        bbox: Bbox,
        limit: usize,
        responders: bool,
    ) -> Option<Subscription> {
        self.subscribe_with(bbox, limit, responders, None, false)
            .await
    }

    /// [`WorldHandle::subscribe`], with the heat layer when `heat` is given.
    pub async fn subscribe_with(
        &self,
        bbox: Bbox,
        limit: usize,
        responders: bool,
        heat: Option<HeatWant>,
        clusters: bool,
    ) -> Option<Subscription> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::Subscribe {
                bbox,
                limit,
                responders,
                heat,
                clusters,
                reply,
            })
            .await
            .ok()?;
        rx.await.ok()
    }

    /// Swaps in new layers (rebuilds the index off the request path).
    pub async fn replace_layers(&self, layers: Layers) {
        let _ = self
            .commands
            .send(Command::ReplaceLayers(Box::new(layers)))
            .await;
    }

    pub async fn stats(&self) -> Option<WorldStats> {
        let (reply, rx) = oneshot::channel();
        self.commands.send(Command::Stats(reply)).await.ok()?;
        rx.await.ok()
    }
}

struct Writer {
    incidents: RecentIncidents,
    responders: LiveResponders,
    heat: heat::LiveHeat,
    clusters: clusters::LiveClusters,
    /// stored cluster deltas coming back from the store task
    done: Option<mpsc::Receiver<clusters::StoreJob>>,
    events: broadcast::Sender<Arc<StreamEvent>>,
    snapshot: watch::Sender<Arc<Snapshot>>,
    seq: Arc<AtomicU64>,
}

impl Writer {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let mut publish = tokio::time::interval(responders::PUBLISH_EVERY);
        publish.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut flush = tokio::time::interval(responders::FLUSH_EVERY);
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut heat_tick = tokio::time::interval(heat::HEAT_EVERY);
        heat_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let cmd = tokio::select! {
                biased;
                // stored deltas first: the store task must never wait long
                job = async {
                    match &mut self.done {
                        Some(rx) => rx.recv().await,
                        None => std::future::pending().await,
                    }
                } => {
                    match job {
                        Some(job) => self.after_store(job),
                        None => self.done = None,
                    }
                    continue;
                }
                cmd = commands.recv() => match cmd {
                    Some(c) => c,
                    None => break,
                },
                _ = publish.tick() => {
                    let items = self.responders.take_moved(Utc::now());
                    self.emit_features(items);
                    continue;
                }
                _ = flush.tick() => {
                    self.responders.flush();
                    continue;
                }
                _ = heat_tick.tick() => {
                    let now = Utc::now();
                    let items = self.heat.take_changed(now);
                    if !items.is_empty() {
                        let seq = self.next_seq();
                        self.emit(seq, Topic::Heat, EventBody::Heat { at: now, items });
                    }
                    continue;
                }
            };
            match cmd {
                Command::Committed(mut list, reply) => {
                    let delta = self.clusters.assign(&mut list);
                    // every committed incident warms its cells, backfills included
                    // (heat is by event time; the surface decides how much is left)
                    self.heat.add(&list);
                    let job = clusters::StoreJob {
                        delta,
                        actor: None,
                        after: clusters::After::Publish {
                            incidents: list,
                            reply,
                        },
                        stored: false,
                    };
                    if let Err(job) = self.clusters.store(job).await {
                        self.after_store(job);
                    }
                }
                Command::Cluster {
                    action,
                    actor,
                    reply,
                } => match self.clusters.act(&action) {
                    Ok((outcome, delta)) => {
                        let job = clusters::StoreJob {
                            delta,
                            actor: Some(actor),
                            after: clusters::After::Action { reply, outcome },
                            stored: false,
                        };
                        if let Err(job) = self.clusters.store(job).await {
                            self.after_store(job);
                        }
                    }
                    Err(e) => {
                        let _ = reply.send(Err(clusters::ActionFailure::Refused(e)));
                    }
                },
                Command::Subscribe {
                    bbox,
                    limit,
                    responders,
                    heat,
                    clusters,
                    reply,
                } => {
                    // the heat snapshot is built by the subscriber, off the
                    // writer (deltas carry absolute values, so a delta that
                    // overlaps the snapshot is harmless)
                    let heat = heat.map(|w| (self.heat.reader(), w));
                    let (features, assignments) = if responders {
                        let (f, a) = self.responders.snapshot(bbox, Utc::now());
                        (Some(f), a)
                    } else {
                        (None, Vec::new())
                    };
                    let sub = Subscription {
                        seq: self.seq.load(Ordering::Acquire),
                        incidents: self.incidents.newest_features_in(bbox, limit),
                        responders: features,
                        assignments,
                        heat,
                        clusters: clusters.then(|| self.clusters.snapshot(bbox, limit)),
                        events: self.events.subscribe(),
                    };
                    let _ = reply.send(sub);
                }
                Command::Upserted(rows, done) => {
                    let items = self.responders.upserted(rows, Utc::now());
                    self.emit_features(items);
                    let _ = done.send(());
                }
                Command::Positions { fixes, reply } => {
                    let _ = reply.send(self.responders.positions(fixes, Utc::now()));
                }
                Command::Duty(change, done) => {
                    let (items, assignments) = self.responders.duty(&change, Utc::now());
                    self.emit_features(items);
                    for a in assignments {
                        let seq = self.next_seq();
                        let msg = json!({"type": "assignment", "seq": seq, "assignment": a});
                        self.emit(
                            seq,
                            Topic::Responders,
                            EventBody::One {
                                position: None,
                                json: Arc::from(msg.to_string()),
                            },
                        );
                    }
                    let _ = done.send(());
                }
                Command::TakeUnflushed(reply) => {
                    let _ = reply.send(self.responders.take_final());
                }
                Command::ReplaceLayers(layers) => {
                    let snap = tokio::task::spawn_blocking(move || Snapshot::new(*layers)).await;
                    match snap {
                        Ok(s) => {
                            self.snapshot.send_replace(Arc::new(s));
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "rebuilding the world snapshot failed")
                        }
                    }
                }
                Command::Stats(reply) => {
                    let _ = reply.send(WorldStats {
                        seq: self.seq.load(Ordering::Acquire),
                        recent_incidents: self.incidents.len(),
                        subscribers: self.events.receiver_count(),
                        responders: self.responders.reader().read(|r| r.len()),
                        cluster_calls: self.clusters.clusterer.len(),
                        clusters: self.clusters.clusterer.cluster_count(),
                    });
                }
            }
        }
        tracing::debug!("live world writer stopped");
    }

    fn next_seq(&self) -> u64 {
        self.seq.load(Ordering::Acquire) + 1
    }

    /// Publishes one event with sequence number `seq` (= `next_seq()`).
    fn emit(&self, seq: u64, topic: Topic, body: EventBody) {
        self.seq.store(seq, Ordering::Release);
        // Err only means "no subscribers right now".
        let _ = self.events.send(Arc::new(StreamEvent { seq, topic, body }));
    }

    fn emit_features(&self, items: Vec<FeatureItem>) {
        if items.is_empty() {
            return;
        }
        let seq = self.next_seq();
        self.emit(seq, Topic::Responders, EventBody::Features(items));
    }

    /// A cluster delta is stored (or there is no store): publish what waited
    /// for it.
    fn after_store(&mut self, job: clusters::StoreJob) {
        let delta = &job.delta;
        if !delta.moved.is_empty() || !delta.reassigned.is_empty() {
            self.incidents.recluster(&delta.moved, &delta.reassigned);
        }
        if job.stored && !delta.reassigned.is_empty() {
            // a split moved single calls: screens get their incident Features
            // again (with the new cluster_id) before the clusters themselves
            let ids: Vec<i64> = delta.reassigned.iter().map(|(i, _)| *i).collect();
            for id in ids {
                if let Some((position, feature)) = self.incidents.held(id) {
                    self.emit_incident(position, &feature);
                }
            }
        }
        match job.after {
            clusters::After::Publish { incidents, reply } => {
                let ids: ClusterIds = incidents.iter().map(|i| (i.id, i.cluster_id)).collect();
                self.publish(incidents);
                if job.stored {
                    self.emit_clusters(&job.delta);
                }
                if let Some(r) = reply {
                    let _ = r.send(ids);
                }
            }
            clusters::After::Action { reply, outcome } => {
                if job.stored {
                    self.emit_clusters(&job.delta);
                    let _ = reply.send(Ok(outcome));
                } else {
                    let _ = reply.send(Err(clusters::ActionFailure::NotStored));
                }
            }
        }
    }

    /// One `cluster` message per changed cluster screens show (≥ 2
    /// members, or changed by hand, or a shown one merged away).
    fn emit_clusters(&self, delta: &crate::cluster::Delta) {
        for s in &delta.clusters {
            // a single call's cluster is news only when it is merged away
            // (screens follow `replaced_by` for that call's badge)
            if s.members < clusters::STREAM_MIN_MEMBERS && !s.manual && s.replaced_by.is_none() {
                continue;
            }
            let (position, feature) = self.clusters.feature(s);
            self.emit_feature(Topic::Clusters, "cluster", position, &feature.to_string());
        }
    }

    /// One `incident` message with the next sequence number.
    fn emit_incident(&self, position: Option<Position>, feature: &str) {
        self.emit_feature(Topic::Incidents, "incident", position, feature);
    }

    /// `{"type":kind,"seq":N,"feature":…}` with the next sequence number.
    fn emit_feature(&self, topic: Topic, kind: &str, position: Option<Position>, feature: &str) {
        let seq = self.next_seq();
        let msg = format!(r#"{{"type":"{kind}","seq":{seq},"feature":{feature}}}"#);
        self.emit(
            seq,
            topic,
            EventBody::One {
                position,
                json: Arc::from(msg),
            },
        );
    }

    fn publish(&mut self, list: Vec<Incident>) {
        let now = Utc::now();
        for incident in list {
            // A backfilled record older than the retention window is stored
            // (GET /api/v1/incidents has it) but not streamed: a snapshot
            // would not contain it either, so screens stay consistent.
            if !self.incidents.retains(incident.reported_at, now) {
                continue;
            }
            let position = incident.position;
            let feature = self.incidents.insert(Arc::new(incident));
            self.emit_incident(position, &feature);
        }
        self.incidents.evict(now);
    }
}
