//! The writer's cluster part: the [`Clusterer`] (pure state, `crate::cluster`)
//! and the road through PostGIS before anything is published.
//!
//! ```text
//! writer: Committed(incidents) ─► clusterer.apply (cluster_id set) ─► StoreJob
//!            ─mpsc(STORE_QUEUE)─► cluster store task: store::clusters::apply (one tx)
//!            ◄─mpsc(DONE_QUEUE)── the job back ─► writer publishes the incidents (with
//!                                 their cluster_id) and the `cluster` events, answers ingest
//! ```
//!
//! The writer awaits room on the store queue (a slow database slows ingest:
//! the same back-pressure as the writer's own queue), and polls the done queue
//! before its commands. No deadlock: the store task only blocks when the done
//! queue is full, and it holds at most `STORE_QUEUE + 1` jobs the writer has
//! not taken back, so `DONE_QUEUE > 2 × STORE_QUEUE + 2` leaves it room.

use std::sync::Arc;

use serde_json::{json, Value};
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};

use crate::cluster::{ActionError, Call, Clusterer, Delta, Summary};
use crate::domain::{Incident, Position};
use crate::store::clusters::Actor;

/// Deltas waiting for the cluster store.
pub const STORE_QUEUE: usize = 64;
/// Stored deltas waiting for the writer (see the module docs).
pub const DONE_QUEUE: usize = 2 * STORE_QUEUE + 8;
/// A cluster is streamed (and in snapshots) from this many members: single
/// calls are the vast majority and already travel as incidents.
pub const STREAM_MIN_MEMBERS: u32 = 2;

/// What to do once a delta is stored.
pub enum After {
    /// publish committed incidents; answer ingest with their cluster ids
    Publish {
        incidents: Vec<Incident>,
        reply: Option<oneshot::Sender<super::ClusterIds>>,
    },
    /// answer a commander's action
    Action {
        reply: oneshot::Sender<Result<ActionOutcome, ActionFailure>>,
        outcome: ActionOutcome,
    },
}

/// A delta on its way to PostGIS and back.
pub struct StoreJob {
    pub delta: Delta,
    pub actor: Option<Actor>,
    pub after: After,
    /// set by the store task
    pub stored: bool,
}

/// A commander's action.
#[derive(Debug, Clone)]
pub enum Action {
    Merge { into: i64, others: Vec<i64> },
    Split { cluster: i64, incidents: Vec<i64> },
}

/// What an action did: the clusters as they are now.
#[derive(Debug, Clone)]
pub struct ActionOutcome {
    pub cluster_id: i64,
    pub new_cluster_id: Option<i64>,
    pub clusters: Vec<Summary>,
}

#[derive(Debug)]
pub enum ActionFailure {
    Refused(ActionError),
    /// the delta could not be stored; nothing is published
    NotStored,
}

/// The writer's clusterer plus the road to the store.
pub struct LiveClusters {
    pub(super) clusterer: Clusterer,
    store: Option<mpsc::Sender<StoreJob>>,
}

/// The other ends of the store road, for the store task and the writer.
pub struct StoreRoad {
    pub jobs: mpsc::Receiver<StoreJob>,
    pub done: mpsc::Sender<StoreJob>,
}

/// Channels for a clusterer that stores: (writer's sender, writer's done
/// receiver, the store task's ends).
pub fn store_channels() -> (mpsc::Sender<StoreJob>, mpsc::Receiver<StoreJob>, StoreRoad) {
    let (jobs_tx, jobs_rx) = mpsc::channel(STORE_QUEUE);
    let (done_tx, done_rx) = mpsc::channel(DONE_QUEUE);
    (
        jobs_tx,
        done_rx,
        StoreRoad {
            jobs: jobs_rx,
            done: done_tx,
        },
    )
}

/// The cluster store task: one transaction per delta, in order. A delta that
/// cannot be stored is not published (its incidents are: they are committed).
/// When the database is away (a transient error, still there after three
/// tries) the delta is **owed**: the next delta first stores the owed ones, in
/// their order and each with its own actor, so PostGIS catches up with memory
/// as soon as the database is back, and their clusters are published with it.
/// A delta refused for what it holds (a non-transient error) is logged and
/// dropped, so it cannot block the ones after it; the owed are given up on
/// past [`MAX_OWED`] memberships. Either way the next start clusters the
/// incidents without a stored membership again.
pub async fn run_store(pool: PgPool, mut road: StoreRoad) {
    let mut owed: Vec<(Delta, Option<Actor>)> = Vec::new();
    let mut owed_members = 0usize;
    while let Some(mut job) = road.jobs.recv().await {
        // the owed first, in order; stop at the first that still fails
        let mut stored_owed: Vec<Delta> = Vec::new();
        let mut blocked = false;
        while let Some((d, actor)) = owed.first() {
            match store_with_retries(&pool, d, actor.as_ref()).await {
                Ok(()) => {
                    let (d, _) = owed.remove(0);
                    owed_members -= d.memberships.len();
                    stored_owed.push(d);
                }
                Err(e) if e.is_transient() => {
                    blocked = true;
                    break;
                }
                Err(e) => {
                    tracing::error!(error = %e, "owed cluster changes refused by the database; dropped");
                    let (d, _) = owed.remove(0);
                    owed_members -= d.memberships.len();
                }
            }
        }
        if !stored_owed.is_empty() {
            tracing::info!(deltas = stored_owed.len(), "owed cluster changes stored");
        }
        let result = if blocked {
            None
        } else {
            Some(store_with_retries(&pool, &job.delta, job.actor.as_ref()).await)
        };
        match result {
            Some(Ok(())) => job.stored = true,
            Some(Err(e)) if !e.is_transient() => {
                tracing::error!(error = %e, "cluster changes refused by the database; not stored, not published");
            }
            _ => {
                let n = job.delta.memberships.len();
                if owed_members + n <= MAX_OWED {
                    tracing::error!(
                        "the database is away: cluster changes owed, stored with the next change"
                    );
                    owed.push((job.delta.clone(), job.actor.clone()));
                    owed_members += n;
                } else {
                    tracing::error!(
                        owed = owed_members,
                        "the database is away and too much is owed; given up until the next start"
                    );
                }
            }
        }
        if job.stored && !stored_owed.is_empty() {
            // screens see the owed clusters' state now (newest version wins)
            let mut clusters: Vec<Summary> =
                stored_owed.into_iter().flat_map(|d| d.clusters).collect();
            clusters.append(&mut job.delta.clusters);
            let mut d = Delta {
                clusters,
                ..Default::default()
            };
            d.compact();
            job.delta.clusters = d.clusters;
        }
        if road.done.send(job).await.is_err() {
            break;
        }
    }
}

async fn store_with_retries(
    pool: &PgPool,
    delta: &Delta,
    actor: Option<&Actor>,
) -> Result<(), crate::store::StoreError> {
    let mut tries = 0;
    loop {
        tries += 1;
        match crate::store::clusters::apply(pool, delta, actor).await {
            Err(e) if tries < 3 && e.is_transient() => {
                tokio::time::sleep(std::time::Duration::from_millis(100 * tries)).await;
            }
            r => return r,
        }
    }
}

/// Memberships a failed store may owe before they are given up on.
pub const MAX_OWED: usize = 200_000;

impl LiveClusters {
    pub fn new(clusterer: Clusterer, store: Option<mpsc::Sender<StoreJob>>) -> Self {
        Self { clusterer, store }
    }

    /// Clusters committed incidents (setting their `cluster_id`); the delta
    /// of all of them.
    pub fn assign(&mut self, incidents: &mut [Incident]) -> Delta {
        let mut delta = Delta::default();
        for i in incidents.iter_mut() {
            let (cluster, d) = self.clusterer.apply(&Call::from_incident(i));
            i.cluster_id = Some(cluster);
            delta.extend(d);
        }
        delta.compact();
        if !delta.moved.is_empty() {
            // a later call of the batch merged an earlier one's cluster away
            for i in incidents.iter_mut() {
                i.cluster_id = self.clusterer.cluster_of(i.id).or(i.cluster_id);
            }
        }
        delta
    }

    pub fn act(&mut self, action: &Action) -> Result<(ActionOutcome, Delta), ActionError> {
        match action {
            Action::Merge { into, others } => {
                let delta = self.clusterer.merge(*into, others)?;
                Ok((
                    ActionOutcome {
                        cluster_id: *into,
                        new_cluster_id: None,
                        clusters: delta.clusters.clone(),
                    },
                    delta,
                ))
            }
            Action::Split { cluster, incidents } => {
                let (new_id, delta) = self.clusterer.split(*cluster, incidents)?;
                Ok((
                    ActionOutcome {
                        cluster_id: *cluster,
                        new_cluster_id: Some(new_id),
                        clusters: delta.clusters.clone(),
                    },
                    delta,
                ))
            }
        }
    }

    /// Hands a job to the store, or back at once when there is none.
    /// `Err(job)`: publish it now (no store, or the store has stopped).
    pub async fn store(&self, job: StoreJob) -> Result<(), StoreJob> {
        match &self.store {
            Some(tx) => tx.send(job).await.map_err(|e| {
                let mut job = e.0;
                job.stored = false;
                job
            }),
            None => {
                let mut job = job;
                job.stored = true;
                Err(job)
            }
        }
    }

    /// The stream Feature of a cluster: its centroid (null for a cluster of
    /// unlocated calls), the summary, `open`, and the hull as `extent`.
    pub fn feature(&self, s: &Summary) -> (Option<Position>, Value) {
        let now = self.clusterer.watermark().unwrap_or_default();
        let position = s.centroid.and_then(|c| Position::new(c[0], c[1]).ok());
        let geometry = match s.centroid {
            Some(c) => json!({"type": "Point", "coordinates": c}),
            None => Value::Null,
        };
        let extent = if s.replaced_by.is_none() {
            self.clusterer
                .extent(s.id)
                .map(|ring| json!({"type": "Polygon", "coordinates": [ring]}))
        } else {
            None
        };
        let mut props = serde_json::to_value(s).expect("summary serialises");
        props["open"] = json!(s.is_open(now));
        props["extent"] = extent.unwrap_or(Value::Null);
        props["repeats"] = json!(s.members.saturating_sub(1));
        (
            position,
            json!({"type": "Feature", "id": s.id, "geometry": geometry, "properties": props}),
        )
    }

    /// Cluster features for a snapshot (≥ [`STREAM_MIN_MEMBERS`], open,
    /// centroid inside the box), newest first, at most `limit`.
    pub fn snapshot(&self, bbox: crate::domain::Bbox, limit: usize) -> Vec<Arc<str>> {
        self.clusterer
            .summaries(
                Some([bbox.west, bbox.south, bbox.east, bbox.north]),
                STREAM_MIN_MEMBERS,
                true,
            )
            .into_iter()
            .take(limit)
            .map(|s| Arc::from(self.feature(s).1.to_string()))
            .collect()
    }
}
