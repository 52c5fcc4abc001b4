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

mod incidents;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::json;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

pub use incidents::RecentIncidents;

use crate::domain::{Bbox, Incident, LayerKind, Layers, Position};
use crate::spatial::JurisdictionIndex;

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
    pub loaded_at: DateTime<Utc>,
}

impl Snapshot {
    pub fn new(layers: Layers) -> Self {
        let index = Arc::new(JurisdictionIndex::build(&layers));
        let layer_json = LayerKind::ALL
            .into_iter()
            .map(|k| {
                (
                    k,
                    bytes::Bytes::from(
                        crate::http::geojson::layer_collection(&layers, k).to_string(),
                    ),
                )
            })
            .collect();
        Self {
            layers: Arc::new(layers),
            index,
            layer_json,
            loaded_at: Utc::now(),
        }
    }
}

/// One event on the stream, serialised once for all clients.
#[derive(Debug)]
pub struct StreamEvent {
    pub seq: u64,
    pub position: Position,
    /// The complete wire message, e.g. `{"type":"incident","seq":7,"feature":{…}}`.
    pub json: Arc<str>,
}

/// What a new subscriber gets, atomically.
pub struct Subscription {
    pub seq: u64,
    pub incidents: Vec<Arc<Incident>>,
    pub events: broadcast::Receiver<Arc<StreamEvent>>,
}

enum Command {
    Committed(Vec<Incident>),
    Subscribe {
        bbox: Bbox,
        limit: usize,
        reply: oneshot::Sender<Subscription>,
    },
    ReplaceLayers(Box<Layers>),
    Stats(oneshot::Sender<WorldStats>),
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct WorldStats {
    pub seq: u64,
    pub recent_incidents: usize,
    pub subscribers: usize,
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
        let (snap_tx, snap_rx) = watch::channel(Arc::new(Snapshot::new(layers)));
        let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_QUEUE);
        let (events, _) = broadcast::channel(client_queue.max(1));
        let seq = Arc::new(AtomicU64::new(0));
        let mut set = RecentIncidents::new(retention);
        for i in recent {
            set.insert(Arc::new(i));
        }
        let writer = Writer {
            incidents: set,
            events,
            snapshot: snap_tx,
            seq: seq.clone(),
        };
        tokio::spawn(writer.run(cmd_rx));
        Self {
            commands: cmd_tx,
            snapshot: snap_rx,
            seq,
        }
    }

    /// The current snapshot (layers and index).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.borrow().clone()
    }

    /// Sequence number of the last published event.
    pub fn seq(&self) -> u64 {
        self.seq.load(Ordering::Acquire)
    }

    /// Hands committed incidents to the writer, which indexes and publishes them.
    pub async fn committed(&self, incidents: Vec<Incident>) {
        if self
            .commands
            .send(Command::Committed(incidents))
            .await
            .is_err()
        {
            tracing::warn!("live world stopped; committed incidents will be loaded at next start");
        }
    }

    /// Subscribes to events inside `bbox`, with the newest `limit` recent incidents there.
    pub async fn subscribe(&self, bbox: Bbox, limit: usize) -> Option<Subscription> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::Subscribe { bbox, limit, reply })
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
    events: broadcast::Sender<Arc<StreamEvent>>,
    snapshot: watch::Sender<Arc<Snapshot>>,
    seq: Arc<AtomicU64>,
}

impl Writer {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        while let Some(cmd) = commands.recv().await {
            match cmd {
                Command::Committed(list) => self.publish(list),
                Command::Subscribe { bbox, limit, reply } => {
                    let sub = Subscription {
                        seq: self.seq.load(Ordering::Acquire),
                        incidents: self.incidents.newest_in(bbox, limit),
                        events: self.events.subscribe(),
                    };
                    let _ = reply.send(sub);
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
                    });
                }
            }
        }
        tracing::debug!("live world writer stopped");
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
            let incident = Arc::new(incident);
            self.incidents.insert(incident.clone());
            let seq = self.seq.load(Ordering::Acquire) + 1;
            let msg = json!({"type": "incident", "seq": seq, "feature": incident.to_feature()});
            let event = Arc::new(StreamEvent {
                seq,
                position: incident.position,
                json: Arc::from(msg.to_string()),
            });
            self.seq.store(seq, Ordering::Release);
            // Err only means "no subscribers right now".
            let _ = self.events.send(event);
        }
        self.incidents.evict(now);
    }
}
