//! Adapters in: outside input normalised into domain values.
//!
//! - [`incident_json`]: the `POST /api/v1/incidents` body, field by field.
//! - [`sources`]: the 8 source systems' native records (110, 12345, 信访,
//!   矛调, 四平台, station tasks, sensors, NENA EIDO) → [`sources::SourceRecord`].
//! - [`layer_file`]: GeoJSON layer files for `lianqin import`.
//! - [`normalize`]: a record → the one normalized incident (personal numbers
//!   hashed and masked, address geocoded offline, classified and tagged).
//! - [`Ingest`]: the one pipeline every incident takes (API, per-source push,
//!   file import and demo feed alike): normalize → locate → bounded queue →
//!   batched commit to PostGIS → hand to the live world, which publishes.

pub mod incident_json;
pub mod layer_file;
pub mod normalize;
pub mod osmand;
pub mod records;
pub mod responder_json;
pub mod roster_csv;
pub mod sources;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use tokio::sync::{mpsc, oneshot, Mutex};

pub use crate::domain::Stored;
use crate::domain::{Incident, JurisdictionSummary, NewIncident};
use crate::live::{Snapshot, WorldHandle};
use crate::privacy::Hasher;
use crate::store::{self, StoreError};

/// A request field that was refused, and why. `field` is a path such as
/// `lat` or `[3].reported_at`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// A person named in a record, in clear, as it arrived. Never stored or
/// logged: [`normalize`] turns it into a [`crate::domain::Party`].
#[derive(Clone, PartialEq, Default)]
pub struct PartyIn {
    pub role: String,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub id_no: Option<String>,
}

impl std::fmt::Debug for PartyIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // personal data never reaches a log line, even through {:?}
        f.debug_struct("PartyIn")
            .field("role", &self.role)
            .field("name", &self.name.as_ref().map(|_| "<redacted>"))
            .field("phone", &self.phone.as_ref().map(|_| "<redacted>"))
            .field("id_no", &self.id_no.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// One record on its way in: the incident as parsed (position may be missing
/// when only an address was given) and the people it names.
#[derive(Debug, Clone)]
pub struct Intake {
    pub incident: NewIncident,
    pub parties: Vec<PartyIn>,
}

impl From<NewIncident> for Intake {
    fn from(incident: NewIncident) -> Self {
        Self {
            incident,
            parties: Vec::new(),
        }
    }
}

/// Sizes of the pipeline (`[ingest]` in the settings).
#[derive(Debug, Clone, Copy)]
pub struct PipelineConfig {
    /// Jobs waiting for a commit worker; a push beyond this is refused (503).
    pub queue_jobs: usize,
    /// Rows merged into one transaction at most.
    pub batch_rows: usize,
    /// Commit workers.
    pub workers: usize,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            queue_jobs: 256,
            batch_rows: 5000,
            workers: 2,
        }
    }
}

/// Why a submission was not stored.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The queue is full: the sender should retry after a moment (503 + Retry-After).
    #[error("the ingest queue is full")]
    Busy,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Cumulative time per stage and counts, for `GET /api/v1/stats/ingest` and
/// the benchmark's per-stage breakdown.
#[derive(Debug, Default)]
pub struct PipelineStats {
    pub records: AtomicU64,
    pub created: AtomicU64,
    pub unlocated: AtomicU64,
    pub geocoded: AtomicU64,
    pub refused_busy: AtomicU64,
    pub transactions: AtomicU64,
    pub normalize_ns: AtomicU64,
    pub geocode_ns: AtomicU64,
    pub classify_ns: AtomicU64,
    pub locate_ns: AtomicU64,
    pub queue_ns: AtomicU64,
    pub commit_ns: AtomicU64,
    pub publish_ns: AtomicU64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = PipelineStats)]
pub struct PipelineStatsOut {
    pub records: u64,
    pub created: u64,
    pub unlocated: u64,
    pub geocoded: u64,
    pub refused_busy: u64,
    pub transactions: u64,
    pub queued_jobs: usize,
    pub queue_capacity: usize,
    /// Mean microseconds per record and stage.
    pub us_per_record: std::collections::BTreeMap<&'static str, f64>,
}

fn add_ns(a: &AtomicU64, since: Instant) {
    a.fetch_add(since.elapsed().as_nanos() as u64, Ordering::Relaxed);
}

struct Job {
    rows: Vec<(NewIncident, JurisdictionSummary)>,
    queued: Instant,
    reply: oneshot::Sender<Result<Vec<Stored>, StoreError>>,
}

enum Publisher {
    Live(WorldHandle),
    /// `lianqin ingest` without a server: commit only (a running server shows
    /// the rows after its next start or through the API).
    Offline(Arc<Snapshot>),
}

struct Inner {
    pool: sqlx::PgPool,
    publisher: Publisher,
    normalizer: normalize::Normalizer,
    tx: mpsc::Sender<Job>,
    stats: Arc<PipelineStats>,
    config: PipelineConfig,
}

/// The ingest pipeline. Cheap to clone.
///
/// ```text
/// transport (POST /incidents, POST /ingest/{source}, file import, demo)
///   → normalize + locate (caller's task; CPU, spawn_blocking for big batches)
///   → bounded job queue (try_send: full = 503 + Retry-After; file import and demo wait)
///   → commit worker × N: merges queued jobs up to batch_rows into ONE transaction
///   → live world (publish) → replies
/// ```
/// A job is all-or-nothing: if a merged transaction fails, its jobs are
/// retried one by one so one job's failure cannot fail another's. The commit
/// and the publish run in the worker, so a caller that goes away after
/// submitting cannot leave a committed incident unpublished.
#[derive(Clone)]
pub struct Ingest {
    inner: Arc<Inner>,
}

impl Ingest {
    /// The pipeline of a running server.
    pub fn start(
        pool: sqlx::PgPool,
        world: WorldHandle,
        hasher: Hasher,
        config: PipelineConfig,
    ) -> Self {
        Self::start_with(pool, Publisher::Live(world), hasher, config)
    }

    /// The pipeline of `lianqin ingest`: locates against `snapshot`, commits,
    /// publishes nowhere.
    pub fn start_offline(
        pool: sqlx::PgPool,
        snapshot: Arc<Snapshot>,
        hasher: Hasher,
        config: PipelineConfig,
    ) -> Self {
        Self::start_with(pool, Publisher::Offline(snapshot), hasher, config)
    }

    fn start_with(
        pool: sqlx::PgPool,
        publisher: Publisher,
        hasher: Hasher,
        config: PipelineConfig,
    ) -> Self {
        let (tx, rx) = mpsc::channel(config.queue_jobs.max(1));
        let inner = Arc::new(Inner {
            pool,
            publisher,
            normalizer: normalize::Normalizer::new(hasher),
            tx,
            stats: Arc::new(PipelineStats::default()),
            config,
        });
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..config.workers.max(1) {
            let rx = rx.clone();
            // the worker holds only a weak handle: when every `Ingest` clone is
            // gone, the channel closes and the worker ends
            let weak = Arc::downgrade(&inner);
            tokio::spawn(async move { run_worker(weak, rx).await });
        }
        Self { inner }
    }

    pub fn stats(&self) -> PipelineStatsOut {
        let s = &self.inner.stats;
        let n = s.records.load(Ordering::Relaxed).max(1) as f64;
        let us =
            |a: &AtomicU64| (a.load(Ordering::Relaxed) as f64 / 1000.0 / n * 100.0).round() / 100.0;
        let stages = [
            ("normalize", us(&s.normalize_ns)),
            ("geocode", us(&s.geocode_ns)),
            ("classify", us(&s.classify_ns)),
            ("locate", us(&s.locate_ns)),
            ("queue", us(&s.queue_ns)),
            ("commit", us(&s.commit_ns)),
            ("publish", us(&s.publish_ns)),
        ];
        PipelineStatsOut {
            records: s.records.load(Ordering::Relaxed),
            created: s.created.load(Ordering::Relaxed),
            unlocated: s.unlocated.load(Ordering::Relaxed),
            geocoded: s.geocoded.load(Ordering::Relaxed),
            refused_busy: s.refused_busy.load(Ordering::Relaxed),
            transactions: s.transactions.load(Ordering::Relaxed),
            queued_jobs: self.inner.config.queue_jobs - self.inner.tx.capacity(),
            queue_capacity: self.inner.config.queue_jobs,
            us_per_record: stages.into_iter().collect(),
        }
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        match &self.inner.publisher {
            Publisher::Live(w) => w.snapshot(),
            Publisher::Offline(s) => s.clone(),
        }
    }

    /// Normalizes and locates a batch (pure CPU work).
    pub fn prepare(&self, batch: Vec<Intake>) -> Vec<(NewIncident, JurisdictionSummary)> {
        let snap = self.snapshot();
        let stats = &self.inner.stats;
        batch
            .into_iter()
            .map(|intake| {
                let n = self.inner.normalizer.normalize(intake, &snap, stats);
                let t = Instant::now();
                let j = n
                    .position
                    .map(|p| JurisdictionSummary::from(&snap.index.locate(p)))
                    .unwrap_or_default();
                add_ns(&stats.locate_ns, t);
                (n, j)
            })
            .collect()
    }

    /// Stores a batch atomically (all or nothing) and, after the commit,
    /// publishes the newly created incidents. Returns one entry per input, in
    /// input order. A full queue is [`SubmitError::Busy`] at once.
    pub async fn submit(&self, batch: Vec<Intake>) -> Result<Vec<Stored>, SubmitError> {
        self.submit_inner(batch, false).await
    }

    /// Like [`Ingest::submit`], but waits for room in the queue (file import,
    /// demo feed: backpressure instead of refusal).
    pub async fn submit_wait(&self, batch: Vec<Intake>) -> Result<Vec<Stored>, SubmitError> {
        self.submit_inner(batch, true).await
    }

    async fn submit_inner(
        &self,
        batch: Vec<Intake>,
        wait: bool,
    ) -> Result<Vec<Stored>, SubmitError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        // refuse before spending CPU when the queue is already full
        if !wait && self.inner.tx.capacity() == 0 {
            self.inner
                .stats
                .refused_busy
                .fetch_add(1, Ordering::Relaxed);
            return Err(SubmitError::Busy);
        }
        let rows = if batch.len() > 32 {
            let this = self.clone();
            match tokio::task::spawn_blocking(move || this.prepare(batch)).await {
                Ok(rows) => rows,
                Err(e) => std::panic::resume_unwind(e.into_panic()),
            }
        } else {
            self.prepare(batch)
        };
        let (reply, answer) = oneshot::channel();
        let job = Job {
            rows,
            queued: Instant::now(),
            reply,
        };
        if wait {
            self.inner
                .tx
                .send(job)
                .await
                .map_err(|_| SubmitError::Store(StoreError::Closed))?;
        } else {
            self.inner.tx.try_send(job).map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => {
                    self.inner
                        .stats
                        .refused_busy
                        .fetch_add(1, Ordering::Relaxed);
                    SubmitError::Busy
                }
                mpsc::error::TrySendError::Closed(_) => SubmitError::Store(StoreError::Closed),
            })?;
        }
        match answer.await {
            Ok(r) => r.map_err(SubmitError::Store),
            Err(_) => Err(SubmitError::Store(StoreError::Closed)),
        }
    }
}

async fn run_worker(inner: std::sync::Weak<Inner>, rx: Arc<Mutex<mpsc::Receiver<Job>>>) {
    loop {
        let batch_rows = match inner.upgrade() {
            Some(i) => i.config.batch_rows,
            None => return,
        };
        let jobs = {
            let mut rx = rx.lock().await;
            let Some(first) = rx.recv().await else {
                return;
            };
            let mut rows = first.rows.len();
            let mut jobs = vec![first];
            while rows < batch_rows {
                match rx.try_recv() {
                    Ok(j) => {
                        rows += j.rows.len();
                        jobs.push(j);
                    }
                    Err(_) => break,
                }
            }
            jobs
        };
        let Some(inner) = inner.upgrade() else {
            return;
        };
        commit_jobs(&inner, jobs).await;
    }
}

async fn commit_jobs(inner: &Inner, jobs: Vec<Job>) {
    let stats = &inner.stats;
    for j in &jobs {
        let n = j.rows.len() as u64;
        stats
            .queue_ns
            .fetch_add(j.queued.elapsed().as_nanos() as u64 * n, Ordering::Relaxed);
    }
    let merged: Vec<(NewIncident, JurisdictionSummary)> =
        jobs.iter().flat_map(|j| j.rows.iter().cloned()).collect();
    let t = Instant::now();
    let result = store::incidents::insert_batch(&inner.pool, &merged).await;
    add_ns(&stats.commit_ns, t);
    stats.transactions.fetch_add(1, Ordering::Relaxed);
    match result {
        Ok(mut stored) => {
            publish(inner, &mut stored).await;
            let mut rest = stored.into_iter();
            for j in jobs {
                let mine: Vec<Stored> = rest.by_ref().take(j.rows.len()).collect();
                let _ = j.reply.send(Ok(mine));
            }
        }
        Err(e) if jobs.len() == 1 => {
            let _ = jobs.into_iter().next().map(|j| j.reply.send(Err(e)));
        }
        Err(e) => {
            tracing::warn!(error = %e, jobs = jobs.len(), "merged ingest transaction failed; committing its jobs one by one");
            for j in jobs {
                let t = Instant::now();
                let mut r = store::incidents::insert_batch(&inner.pool, &j.rows).await;
                add_ns(&stats.commit_ns, t);
                stats.transactions.fetch_add(1, Ordering::Relaxed);
                if let Ok(stored) = &mut r {
                    publish(inner, stored).await;
                }
                let _ = j.reply.send(r);
            }
        }
    }
}

/// Publishes the newly created incidents; once the writer has clustered them
/// (and stored the clusters), their `cluster_id` is set in `stored`.
async fn publish(inner: &Inner, stored: &mut [Stored]) {
    let stats = &inner.stats;
    let fresh: Vec<Incident> = stored
        .iter()
        .filter(|s| s.created)
        .map(|s| s.incident.clone())
        .collect();
    stats
        .records
        .fetch_add(stored.len() as u64, Ordering::Relaxed);
    stats
        .created
        .fetch_add(fresh.len() as u64, Ordering::Relaxed);
    stats.unlocated.fetch_add(
        fresh.iter().filter(|i| i.position.is_none()).count() as u64,
        Ordering::Relaxed,
    );
    if fresh.is_empty() {
        return;
    }
    if let Publisher::Live(world) = &inner.publisher {
        // Committed: now publish. If the world has stopped (shutdown), the
        // data is safe in PostGIS and is reloaded on the next start.
        let t = Instant::now();
        let ids: std::collections::HashMap<i64, Option<i64>> =
            world.committed(fresh).await.into_iter().collect();
        add_ns(&stats.publish_ns, t);
        for s in stored.iter_mut() {
            if let Some(c) = ids.get(&s.incident.id) {
                s.incident.cluster_id = *c;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Personal data never reaches a log line through `{:?}`.
    #[test]
    fn debug_output_redacts_people() {
        let p = PartyIn {
            role: "caller".into(),
            name: Some("王建国".into()),
            phone: Some("13805761234".into()),
            id_no: Some("331003198001010019".into()),
        };
        let rec = sources::parse_record(
            sources::SourceSystem::Police110,
            &serde_json::json!({"JJDBH": "J1", "BJSJ": "2026-03-18 08:00:00", "BJDH": "13805761234",
                                "BJRXM": "王建国", "SFDZ": "院桥镇", "BJNR": "我是王建国，电话13805761234"}),
            "2026-03-19T00:00:00Z".parse().unwrap(),
        )
        .unwrap();
        for text in [format!("{p:?}"), format!("{rec:?}")] {
            for clear in ["13805761234", "331003198001010019", "王建国"] {
                assert!(!text.contains(clear), "{clear} in {text}");
            }
        }
    }
}
