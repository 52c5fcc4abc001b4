//! # lianqin (联勤)
//!
//! The real-time geospatial core of a joint-duty command center.
//!
//! ## Layout
//! Pure core (no I/O):
//! - [`domain`]: validated positions, incidents, governance layers, jurisdictions.
//! - [`spatial`]: metric distances, GCJ-02/BD-09 at the edge, prepared point-in-polygon, R-tree jurisdiction index.
//!
//! Adapters:
//! - [`ingest`]: turns outside input (API JSON, GeoJSON layer files) into domain values with field-level errors.
//! - [`store`]: PostgreSQL + PostGIS through sqlx; migrations, layers, incidents, the event log.
//! - [`live`]: the single writer that owns the in-memory world and publishes snapshots and events.
//! - [`realtime`]: the WebSocket stream protocol; per-client bounded queues and resync.
//! - [`http`]: axum routes, `ApiError`, OpenAPI document.
//! - [`demo`]: the simulated feed behind `serve --demo`.
//! - [`app`], [`config`], [`cli`]: wiring, settings, command line.

// the hand-written OpenAPI document is one large `json!` literal
#![recursion_limit = "512"]

pub mod app;
pub mod classify;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod demo;
pub mod dispatch;
pub mod dispatcher;
pub mod domain;
pub mod geocode;
pub mod http;
pub mod ingest;
pub mod live;
pub mod privacy;
pub mod realtime;
pub mod risk;
pub mod spatial;
pub mod store;
pub mod wire;
