//! The dispatch path: roster upserts, status changes, assignments,
//! acknowledgements, declines and acknowledgement timeouts. Every change is
//! committed to PostGIS (with its event-log row) first, then handed to the
//! live world, which applies and publishes it. Like [`crate::ingest::Ingest`],
//! each operation runs in its own task so a dropped request cannot leave a
//! committed change unpublished.
//!
//! Timers: each dispatched assignment has an `ack_deadline` stored with it.
//! One timer task keeps the pending deadlines; when one passes, the
//! assignment is closed as `timed_out` and — in the same transaction — the
//! incident is offered to the next closest available responder of the same
//! type who has not been tried for it. At start-up every open `dispatched`
//! assignment is scheduled again (overdue ones fire at once), so timers
//! survive a restart. A decline re-offers the same way.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use sqlx::PgPool;
use tokio::sync::{mpsc, watch};

use crate::dispatch::Query;
use crate::domain::{Assignment, AssignmentStatus, DutyChange, ResponderSpec, Status};
use crate::live::WorldHandle;
use crate::store::responders::{self, StoredResponder};
use crate::store::StoreError;

/// Deadlines waiting for the timer task (a full queue makes the caller wait).
pub const TIMER_QUEUE: usize = 1024;
/// Candidates considered when re-offering an incident.
pub const REOFFER_CANDIDATES: usize = 5;

#[derive(Clone)]
pub struct Dispatcher {
    pool: PgPool,
    world: WorldHandle,
    timers: mpsc::Sender<(DateTime<Utc>, i64)>,
    ack_timeout: Duration,
    /// Held across commit + publish of every record change, so the live
    /// world applies changes in commit order (two racing status changes of
    /// one responder could otherwise commit A, B and publish B, A, leaving
    /// memory on the older state). Record changes are few per second;
    /// position telemetry does not take this path.
    serial: std::sync::Arc<tokio::sync::Mutex<()>>,
}

async fn detached<T: Send + 'static>(
    fut: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    match tokio::spawn(fut).await {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

impl Dispatcher {
    /// Starts the timer task and schedules the open `dispatched` assignments.
    pub fn start(
        pool: PgPool,
        world: WorldHandle,
        open: &[Assignment],
        ack_timeout: Duration,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        let (tx, rx) = mpsc::channel(TIMER_QUEUE);
        let initial: BTreeSet<(DateTime<Utc>, i64)> = open
            .iter()
            .filter(|a| a.status == AssignmentStatus::Dispatched)
            .map(|a| (a.ack_deadline, a.id))
            .collect();
        let d = Self {
            pool,
            world,
            timers: tx,
            ack_timeout,
            serial: Default::default(),
        };
        tokio::spawn(d.clone().run_timers(rx, initial, shutdown));
        d
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn ack_timeout(&self) -> Duration {
        self.ack_timeout
    }

    async fn run_timers(
        self,
        mut rx: mpsc::Receiver<(DateTime<Utc>, i64)>,
        mut pending: BTreeSet<(DateTime<Utc>, i64)>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            let next = pending.first().copied();
            let sleep = match next {
                Some((at, _)) => (at - Utc::now()).to_std().unwrap_or_default(),
                None => std::time::Duration::from_secs(3600),
            };
            tokio::select! {
                _ = shutdown.changed() => return,
                msg = rx.recv() => match msg {
                    Some(entry) => { pending.insert(entry); }
                    None => return,
                },
                _ = tokio::time::sleep(sleep), if next.is_some() => {
                    let Some((at, id)) = pending.pop_first() else { continue };
                    if at > Utc::now() {
                        // woke early (clock adjustment): keep waiting
                        pending.insert((at, id));
                        continue;
                    }
                    let this = self.clone();
                    tokio::spawn(async move {
                        if let Err(e) = this.reoffer(id, AssignmentStatus::TimedOut, "not acknowledged in time").await {
                            tracing::warn!(assignment = id, error = %e, "acknowledgement timeout could not be processed; retrying in 5 s");
                            let _ = this.timers.send((Utc::now() + Duration::seconds(5), id)).await;
                        }
                    });
                }
            }
        }
    }

    async fn publish(&self, change: &DutyChange) {
        for a in &change.assignments {
            if a.status == AssignmentStatus::Dispatched {
                let _ = self.timers.send((a.ack_deadline, a.id)).await;
            }
        }
        self.world.duty(change.clone()).await;
    }

    /// Upserts roster rows, then indexes and publishes them.
    pub async fn upsert(
        &self,
        specs: Vec<ResponderSpec>,
    ) -> Result<Vec<StoredResponder>, StoreError> {
        let this = self.clone();
        detached(async move {
            let _order = this.serial.lock().await;
            let stored = responders::upsert(&this.pool, &specs).await?;
            this.world
                .responders_upserted(
                    stored
                        .iter()
                        .map(|s| (s.spec.clone(), s.status, s.status_since))
                        .collect(),
                )
                .await;
            Ok(stored)
        })
        .await
    }

    pub async fn set_status(&self, id: String, status: Status) -> Result<DutyChange, StoreError> {
        let this = self.clone();
        detached(async move {
            let _order = this.serial.lock().await;
            let change = responders::set_status(&this.pool, &id, status).await?;
            this.publish(&change).await;
            Ok(change)
        })
        .await
    }

    pub async fn assign(
        &self,
        incident_id: i64,
        ids: Vec<String>,
        by: Option<String>,
    ) -> Result<DutyChange, StoreError> {
        let this = self.clone();
        detached(async move {
            let _order = this.serial.lock().await;
            let deadline = Utc::now() + this.ack_timeout;
            let change =
                responders::assign(&this.pool, incident_id, &ids, deadline, by.as_deref()).await?;
            this.publish(&change).await;
            Ok(change)
        })
        .await
    }

    pub async fn ack(&self, id: i64) -> Result<DutyChange, StoreError> {
        let this = self.clone();
        detached(async move {
            let _order = this.serial.lock().await;
            let change = responders::ack(&this.pool, id).await?;
            this.publish(&change).await;
            Ok(change)
        })
        .await
    }

    /// Declined: the responder is free again and the incident goes to the next candidate.
    pub async fn decline(&self, id: i64) -> Result<DutyChange, StoreError> {
        let this = self.clone();
        detached(async move {
            this.reoffer(id, AssignmentStatus::Declined, "declined")
                .await?
                .ok_or_else(|| StoreError::Conflict {
                    field: "status".into(),
                    reason: format!("assignment {id} is no longer open"),
                })
        })
        .await
    }

    /// Closes assignment `id` as `close_as` and offers its incident to the
    /// next closest available responder of the same type not yet tried
    /// (in commit order with every other record change).
    async fn reoffer(
        &self,
        id: i64,
        close_as: AssignmentStatus,
        reason: &str,
    ) -> Result<Option<DutyChange>, StoreError> {
        let _order = self.serial.lock().await;
        self.reoffer_in_order(id, close_as, reason).await
    }

    async fn reoffer_in_order(
        &self,
        id: i64,
        close_as: AssignmentStatus,
        reason: &str,
    ) -> Result<Option<DutyChange>, StoreError> {
        let a = responders::assignment(&self.pool, id)
            .await?
            .ok_or_else(|| StoreError::Missing(format!("no assignment {id}")))?;
        let incident = crate::store::incidents::get(&self.pool, a.incident_id).await?;
        let tried = responders::tried(&self.pool, a.incident_id).await?;
        let next: Vec<String> = match incident {
            Some(crate::domain::Incident {
                position: Some(position),
                ..
            }) => self.world.roster().read(|r| {
                let kind = r.by_id(&a.responder_id).map(|x| x.spec.kind);
                let q = Query {
                    kinds: kind.into_iter().collect(),
                    statuses: vec![Status::Available],
                    exclude: tried.clone(),
                    ..Default::default()
                };
                r.nearest(position, REOFFER_CANDIDATES, &q, Utc::now())
                    .iter()
                    .map(|h| r.get(h.slot).spec.id.clone())
                    .collect()
            }),
            // gone, or not located: nobody to offer it to by distance
            _ => Vec::new(),
        };
        let deadline = Utc::now() + self.ack_timeout;
        let change =
            responders::close_and_reoffer(&self.pool, id, close_as, reason, &next, deadline)
                .await?;
        if let Some(c) = &change {
            if close_as == AssignmentStatus::TimedOut {
                let to = c.assignments.get(1).map(|n| n.responder_id.as_str());
                tracing::info!(assignment = id, incident = a.incident_id, from = %a.responder_id, to = ?to, "acknowledgement timed out; re-offered");
            }
            self.publish(c).await;
        }
        Ok(change)
    }
}
