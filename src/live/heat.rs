//! The writer's heat part: the [`Heat`] surface behind a lock only the
//! writer writes (readers: `GET /api/v1/heat`, stream snapshots), and the
//! per-cell deltas it publishes at most once per [`HEAT_EVERY`].

use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use h3o::LatLng;

use crate::domain::Incident;
use crate::risk::heat::{self, Heat};

/// Heat deltas reach screens at most this often (≤ 1 Hz).
pub const HEAT_EVERY: Duration = Duration::from_secs(1);

/// One changed cell, both surfaces, at the publish instant.
#[derive(Debug, Clone)]
pub struct HeatItem {
    pub res: u8,
    pub category: Option<Arc<str>>,
    pub h3: u64,
    pub lon: f64,
    pub lat: f64,
    pub live: f64,
    pub risk: f64,
    pub count: u64,
}

/// Read access to the heat surface.
#[derive(Clone)]
pub struct HeatReader(Arc<RwLock<Heat>>);

impl HeatReader {
    /// Runs `f` under the read lock (a closure: never held across `.await`).
    pub fn read<T>(&self, f: impl FnOnce(&Heat) -> T) -> T {
        f(&self.0.read().unwrap_or_else(|p| p.into_inner()))
    }
}

pub(super) struct LiveHeat {
    heat: Arc<RwLock<Heat>>,
}

impl LiveHeat {
    pub(super) fn new(heat: Heat) -> Self {
        Self {
            heat: Arc::new(RwLock::new(heat)),
        }
    }

    pub(super) fn reader(&self) -> HeatReader {
        HeatReader(self.heat.clone())
    }

    pub(super) fn add(&self, incidents: &[Incident]) {
        // the same window as the start-up rebuild, so a restart changes nothing
        let oldest = Utc::now() - chrono::Duration::days(crate::app::HEAT_WINDOW_DAYS);
        let mut h = self.heat.write().unwrap_or_else(|p| p.into_inner());
        for i in incidents.iter().filter(|i| i.reported_at >= oldest) {
            if let Some(cell) = i.position.and_then(heat::cell_r10) {
                h.add(cell, i.reported_at, i.category.as_deref());
            }
        }
    }

    /// Changed cells since the last call, valued at `now`.
    pub(super) fn take_changed(&self, now: DateTime<Utc>) -> Vec<HeatItem> {
        let mut h = self.heat.write().unwrap_or_else(|p| p.into_inner());
        let changed = h.take_changed();
        changed
            .into_iter()
            .map(|(res, category, cell)| {
                let live = h.get(cell, category.as_deref(), heat::Surface::Live, now);
                let risk = h.get(cell, category.as_deref(), heat::Surface::Risk, now);
                let ll = LatLng::from(cell);
                HeatItem {
                    res,
                    category: category.map(Arc::from),
                    h3: u64::from(cell),
                    lon: ll.lng(),
                    lat: ll.lat(),
                    live: live.intensity,
                    risk: risk.intensity,
                    count: live.count,
                }
            })
            .collect()
    }
}
