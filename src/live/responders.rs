//! The live world's responder part, driven by the writer task:
//! applies roster upserts, position batches and committed duty changes to
//! the [`Roster`], coalesces position updates for the stream (one
//! `responders` message per [`PUBLISH_EVERY`], carrying only each moved
//! responder's newest state), and hands the newest fixes plus downsampled
//! track points to the telemetry flusher once per [`FLUSH_EVERY`].
//!
//! Locking: the roster sits in an `Arc<RwLock<_>>`. Only the writer task
//! takes the write lock (short, synchronous sections, never across an
//! `.await`); HTTP readers take the read lock for microseconds. Rejected:
//! routing every query through the writer's queue (a query would wait
//! behind a 1,000-fix batch and a position storm would starve reads).

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::dispatch::index::Slot;
use crate::dispatch::{FixError, Roster};
use crate::domain::{Assignment, DutyChange, Fix, Position, ResponderSpec, Status};
use crate::spatial::haversine_m;

/// Position updates reach screens at most this often per responder (≤ 4 Hz).
pub const PUBLISH_EVERY: Duration = Duration::from_millis(250);
/// Newest fixes reach PostGIS at most this late.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Track points waiting for the flusher, at most (beyond: oldest dropped, counted).
pub const MAX_PENDING_TRACK: usize = 200_000;
/// Flush batches waiting for the flusher task.
pub const FLUSH_QUEUE: usize = 4;

/// One flush for PostGIS: newest fix per responder, and track points.
#[derive(Debug, Default)]
pub struct FlushBatch {
    pub latest: Vec<(String, Fix)>,
    pub track: Vec<(String, Fix)>,
}

impl FlushBatch {
    pub fn is_empty(&self) -> bool {
        self.latest.is_empty() && self.track.is_empty()
    }
}

/// Counters of position ingest, by outcome (exposed at `/api/v1/stats/positions`).
#[derive(Debug, Default)]
pub struct PositionCounters {
    pub accepted: AtomicU64,
    pub unknown_responder: AtomicU64,
    pub rejected: [AtomicU64; REJECTION_CODES.len()],
    pub invalid: AtomicU64,
    pub track_dropped: AtomicU64,
    pub flushes: AtomicU64,
    pub flush_failures: AtomicU64,
}

/// Rejection reason codes, in counter order.
pub const REJECTION_CODES: [&str; 6] = [
    "future",
    "outdated",
    "older_than_latest",
    "duplicate",
    "implausible_jump",
    "inaccurate",
];

impl PositionCounters {
    pub fn count_rejection(&self, code: &str) {
        if let Some(i) = REJECTION_CODES.iter().position(|c| *c == code) {
            self.rejected[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn to_json(&self) -> Value {
        let rejected: serde_json::Map<String, Value> = REJECTION_CODES
            .iter()
            .zip(&self.rejected)
            .map(|(c, n)| (c.to_string(), json!(n.load(Ordering::Relaxed))))
            .collect();
        json!({
            "accepted": self.accepted.load(Ordering::Relaxed),
            "rejected": rejected,
            "unknown_responder": self.unknown_responder.load(Ordering::Relaxed),
            "invalid": self.invalid.load(Ordering::Relaxed),
            "track_points_dropped": self.track_dropped.load(Ordering::Relaxed),
            "flushes": self.flushes.load(Ordering::Relaxed),
            "flush_failures": self.flush_failures.load(Ordering::Relaxed),
        })
    }
}

/// A responder feature for the stream, with where it was last published so
/// a client whose box it just left still hears of it.
#[derive(Debug, Clone)]
pub struct FeatureItem {
    pub now: Option<Position>,
    pub before: Option<Position>,
    pub json: Arc<str>,
}

/// Read access to the roster for request handlers.
#[derive(Clone)]
pub struct RosterReader(Arc<RwLock<Roster>>);

impl RosterReader {
    /// Runs `f` under the read lock. Closures cannot `.await`, so the lock
    /// is never held across one.
    pub fn read<T>(&self, f: impl FnOnce(&Roster) -> T) -> T {
        f(&self.lock())
    }

    fn lock(&self) -> RwLockReadGuard<'_, Roster> {
        // A panic while writing leaves the roster as it was between two
        // complete updates (each update is applied field by field, but all
        // are infallible); serving it is better than refusing every read.
        self.0.read().unwrap_or_else(|p| p.into_inner())
    }
}

pub(super) struct LiveResponders {
    roster: Arc<RwLock<Roster>>,
    /// Slots whose position changed since the last publish.
    moved: HashSet<Slot>,
    /// Last published position per slot.
    published: Vec<Option<Position>>,
    /// Newest fix per slot not yet flushed.
    unflushed: HashSet<Slot>,
    track: Vec<(String, Fix)>,
    last_track: Vec<Option<Fix>>,
    pub(super) counters: Arc<PositionCounters>,
    flush_tx: Option<mpsc::Sender<FlushBatch>>,
    held: Option<FlushBatch>,
}

impl LiveResponders {
    pub(super) fn new(
        roster: Roster,
        counters: Arc<PositionCounters>,
        flush_tx: Option<mpsc::Sender<FlushBatch>>,
    ) -> Self {
        let n = roster.len();
        let published = roster
            .slots()
            .map(|s| roster.get(s).fix.map(|f| f.position))
            .collect();
        let last_track = roster.slots().map(|s| roster.get(s).fix).collect();
        let _ = n;
        Self {
            roster: Arc::new(RwLock::new(roster)),
            moved: HashSet::new(),
            published,
            unflushed: HashSet::new(),
            track: Vec::new(),
            last_track,
            counters,
            flush_tx,
            held: None,
        }
    }

    pub(super) fn reader(&self) -> RosterReader {
        RosterReader(self.roster.clone())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Roster> {
        self.roster.write().unwrap_or_else(|p| p.into_inner())
    }

    fn grow(&mut self, n: usize) {
        if self.published.len() < n {
            self.published.resize(n, None);
            self.last_track.resize(n, None);
        }
    }

    /// Roster rows committed by an upsert. Returns their stream items.
    pub(super) fn upserted(
        &mut self,
        rows: Vec<(ResponderSpec, Status, DateTime<Utc>)>,
        now: DateTime<Utc>,
    ) -> Vec<FeatureItem> {
        let slots: Vec<Slot> = {
            let mut r = self.write();
            rows.into_iter()
                .map(|(spec, status, since)| r.upsert(spec, status, since))
                .collect()
        };
        let n = self.reader().read(|r| r.len());
        self.grow(n);
        self.items(&slots, now)
    }

    /// Applies a batch of fixes (newest wins, hygiene rules), one result each.
    pub(super) fn positions(
        &mut self,
        fixes: Vec<(String, Fix)>,
        now: DateTime<Utc>,
    ) -> Vec<Result<(), FixError>> {
        let mut out = Vec::with_capacity(fixes.len());
        let mut applied: Vec<(Slot, Fix)> = Vec::with_capacity(fixes.len());
        {
            let mut r = self.write();
            for (id, fix) in fixes {
                match r.apply_fix(&id, fix, now) {
                    Ok(slot) => {
                        applied.push((slot, fix));
                        out.push(Ok(()));
                    }
                    Err(e) => out.push(Err(e)),
                }
            }
        }
        let c = &self.counters;
        for res in &out {
            match res {
                Ok(()) => c.accepted.fetch_add(1, Ordering::Relaxed),
                Err(FixError::UnknownResponder(_)) => {
                    c.unknown_responder.fetch_add(1, Ordering::Relaxed)
                }
                Err(FixError::Rejected(rej)) => {
                    c.count_rejection(rej.code());
                    0
                }
            };
        }
        if !applied.is_empty() {
            let (every, min_move) = self
                .reader()
                .read(|r| (r.config().track_every, r.config().track_min_move_m));
            for (slot, fix) in applied {
                self.moved.insert(slot);
                self.unflushed.insert(slot);
                let keep = match self.last_track[slot as usize] {
                    None => true,
                    Some(prev) => {
                        fix.ts - prev.ts >= every
                            || haversine_m(
                                prev.position.lon(),
                                prev.position.lat(),
                                fix.position.lon(),
                                fix.position.lat(),
                            ) >= min_move
                    }
                };
                if keep {
                    self.last_track[slot as usize] = Some(fix);
                    let id = self.reader().read(|r| r.get(slot).spec.id.clone());
                    self.track.push((id, fix));
                }
            }
            if self.track.len() > MAX_PENDING_TRACK {
                let drop = self.track.len() - MAX_PENDING_TRACK;
                self.track.drain(..drop);
                c.track_dropped.fetch_add(drop as u64, Ordering::Relaxed);
            }
        }
        out
    }

    /// A committed duty change: statuses and assignments applied at once.
    /// Returns the responder items and the assignment messages' bodies.
    pub(super) fn duty(
        &mut self,
        change: &DutyChange,
        now: DateTime<Utc>,
    ) -> (Vec<FeatureItem>, Vec<Value>) {
        let mut slots = Vec::new();
        let mut assignments = Vec::new();
        {
            let mut r = self.write();
            for s in &change.statuses {
                if let Some(slot) = r.slot(&s.responder_id) {
                    r.set_status(slot, s.status, s.since);
                    slots.push(slot);
                }
            }
            for a in &change.assignments {
                if let Some(slot) = r.slot(&a.responder_id) {
                    let open = a.status.is_open().then(|| a.clone());
                    // a closed assignment clears only if it is the one held
                    let held = r.get(slot).assignment.as_ref().map(|h| h.id);
                    if open.is_some() || held == Some(a.id) {
                        r.set_assignment(slot, open);
                    }
                    if !slots.contains(&slot) {
                        slots.push(slot);
                    }
                }
                assignments.push(assignment_json(&r, a));
            }
        }
        // a status change supersedes any coalesced position for these slots
        for s in &slots {
            self.moved.remove(s);
        }
        (self.items(&slots, now), assignments)
    }

    fn items(&mut self, slots: &[Slot], now: DateTime<Utc>) -> Vec<FeatureItem> {
        let roster = self.roster.read().unwrap_or_else(|p| p.into_inner());
        slots
            .iter()
            .map(|&s| {
                let now_pos = roster.get(s).fix.map(|f| f.position);
                let before = std::mem::replace(&mut self.published[s as usize], now_pos);
                FeatureItem {
                    now: now_pos,
                    before,
                    json: Arc::from(
                        serde_json::to_string(&roster.feature_out(s, now))
                            .expect("a feature serialises"),
                    ),
                }
            })
            .collect()
    }

    /// The coalesced position updates since the last call.
    pub(super) fn take_moved(&mut self, now: DateTime<Utc>) -> Vec<FeatureItem> {
        if self.moved.is_empty() {
            return Vec::new();
        }
        let mut slots: Vec<Slot> = self.moved.drain().collect();
        slots.sort_unstable();
        self.items(&slots, now)
    }

    /// Hands the newest unflushed fixes and pending track points to the
    /// flusher. If it is still busy, they wait for the next tick (the
    /// newest fix per responder is kept; nothing grows without bound).
    pub(super) fn flush(&mut self) {
        let Some(tx) = self.flush_tx.clone() else {
            self.unflushed.clear();
            self.track.clear();
            return;
        };
        let batch = match self.held.take() {
            Some(held) => {
                // merge: the held batch's newest fixes are superseded by ours
                let mut b = self.take_batch();
                let ids: HashSet<String> = b.latest.iter().map(|(id, _)| id.clone()).collect();
                b.latest
                    .extend(held.latest.into_iter().filter(|(id, _)| !ids.contains(id)));
                let mut track = held.track;
                track.append(&mut b.track);
                // the flusher is behind: the newest fixes above still win, and
                // at most MAX_PENDING_TRACK track points wait (oldest dropped)
                if track.len() > MAX_PENDING_TRACK {
                    let drop = track.len() - MAX_PENDING_TRACK;
                    track.drain(..drop);
                    self.counters
                        .track_dropped
                        .fetch_add(drop as u64, Ordering::Relaxed);
                }
                b.track = track;
                b
            }
            None => self.take_batch(),
        };
        if batch.is_empty() {
            return;
        }
        match tx.try_send(batch) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(b)) => self.held = Some(b),
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    /// Everything unflushed, for the final flush at shutdown; the flusher's
    /// channel is closed so it ends once it has written what it holds.
    pub(super) fn take_final(&mut self) -> FlushBatch {
        let b = self.take_batch();
        self.flush_tx = None;
        b
    }

    /// Everything unflushed, now.
    pub(super) fn take_batch(&mut self) -> FlushBatch {
        let roster = self.roster.read().unwrap_or_else(|p| p.into_inner());
        let mut latest: Vec<(String, Fix)> = self
            .unflushed
            .drain()
            .filter_map(|s| {
                let r = roster.get(s);
                r.fix.map(|f| (r.spec.id.clone(), f))
            })
            .collect();
        latest.sort_by(|a, b| a.0.cmp(&b.0));
        let mut batch = FlushBatch {
            latest,
            track: std::mem::take(&mut self.track),
        };
        if let Some(held) = self.held.take() {
            let ids: HashSet<String> = batch.latest.iter().map(|(id, _)| id.clone()).collect();
            batch
                .latest
                .extend(held.latest.into_iter().filter(|(id, _)| !ids.contains(id)));
            batch.track.extend(held.track);
        }
        batch
    }

    /// Stream items for a snapshot: responders with a position inside `bbox`,
    /// and the open assignments.
    pub(super) fn snapshot(
        &self,
        bbox: crate::domain::Bbox,
        now: DateTime<Utc>,
    ) -> (Vec<Arc<str>>, Vec<Value>) {
        let roster = self.roster.read().unwrap_or_else(|p| p.into_inner());
        // off-duty responders are included: the screen decides what to hide
        let q = crate::dispatch::Query::default();
        let features = roster
            .within(bbox, &q)
            .into_iter()
            .map(|s| {
                Arc::from(
                    serde_json::to_string(&roster.feature_out(s, now))
                        .expect("a feature serialises"),
                )
            })
            .collect();
        let assignments = roster
            .slots()
            .filter_map(|s| roster.get(s).assignment.as_ref())
            .map(|a| assignment_json(&roster, a))
            .collect();
        (features, assignments)
    }
}

fn assignment_json(roster: &Roster, a: &Assignment) -> Value {
    let mut v = a.to_json();
    v["responder_name"] = json!(roster.by_id(&a.responder_id).map(|r| r.spec.name.clone()));
    v
}
