//! End-to-end tests of the HTTP API and the WebSocket stream against a real
//! PostgreSQL + PostGIS, one fresh database per test (see `helpers`).

mod clusters;
mod dispatch;
mod event_log;
mod health;
mod helpers;
mod incidents;
mod ingest;
mod layers;
mod locate;
mod responders;
mod restart;
mod risk;
mod stream;
