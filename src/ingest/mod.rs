//! Adapters in: outside input normalised into domain values.
//!
//! - [`incident_json`]: the `POST /api/v1/incidents` body, field by field.
//! - [`layer_file`]: GeoJSON layer files for `lianqin import`.
//! - [`Ingest`]: the one path every incident takes (API and demo feed alike):
//!   locate → commit to PostGIS → hand to the live world, which publishes.

pub mod incident_json;
pub mod layer_file;
pub mod osmand;
pub mod responder_json;
pub mod roster_csv;

use crate::domain::{Incident, JurisdictionSummary, NewIncident};
use crate::live::WorldHandle;
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

/// The ingest path. Cheap to clone.
#[derive(Clone)]
pub struct Ingest {
    pool: sqlx::PgPool,
    world: WorldHandle,
}

pub use crate::domain::Stored;

impl Ingest {
    pub fn new(pool: sqlx::PgPool, world: WorldHandle) -> Self {
        Self { pool, world }
    }

    /// Stores a batch atomically (all or nothing) and, after the commit,
    /// publishes the newly created incidents to the live world.
    /// Returns one entry per input, in input order.
    ///
    /// The work runs in its own task: if the caller goes away (client
    /// disconnect, request timeout) after the commit, the publish still
    /// happens, so nothing committed can be missing from the stream.
    pub async fn submit(&self, batch: Vec<NewIncident>) -> Result<Vec<Stored>, StoreError> {
        let this = self.clone();
        match tokio::spawn(async move { this.store_and_publish(batch).await }).await {
            Ok(result) => result,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }

    async fn store_and_publish(&self, batch: Vec<NewIncident>) -> Result<Vec<Stored>, StoreError> {
        let index = self.world.snapshot().index.clone();
        let located: Vec<(NewIncident, JurisdictionSummary)> = batch
            .into_iter()
            .map(|n| {
                let j = JurisdictionSummary::from(&index.locate(n.position));
                (n, j)
            })
            .collect();
        let stored = store::incidents::insert_batch(&self.pool, &located).await?;
        let fresh: Vec<Incident> = stored
            .iter()
            .filter(|s| s.created)
            .map(|s| s.incident.clone())
            .collect();
        if !fresh.is_empty() {
            // Committed: now publish. If the world has stopped (shutdown), the
            // data is safe in PostGIS and is reloaded on the next start.
            self.world.committed(fresh).await;
        }
        Ok(stored)
    }
}
