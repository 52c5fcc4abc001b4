//! Dispatch: responders, their positions and the nearest available ones.
//! Pure logic over domain values; the live world holds a [`Roster`] and
//! feeds it commands, `store` persists it, `http` reads it.
//!
//! - [`index`]: the moving-responder index (uniform metric grid per type).
//! - [`hygiene`]: position filters (future, outdated, duplicate, jumps).
//! - [`roster`]: records + newest fix + open assignment per responder; queries.

pub mod hygiene;
pub mod index;
pub mod roster;

use chrono::Duration;

pub use roster::{FixError, Query, Responder, Roster};

use crate::domain::ResponderType;

/// Average straight-line travel speeds used for ETAs until a road graph
/// exists, km/h, by [`ResponderType::index`]. Urban-average figures: officers
/// and auxiliaries respond by car or e-bike, grid workers by e-bike, lawyers,
/// prosecutors, cadres and mediators by car in no hurry.
pub const DEFAULT_SPEED_KMH: [f64; ResponderType::COUNT] = [
    30.0, // police
    40.0, // patrol_car
    20.0, // auxiliary
    15.0, // grid
    25.0, // lawyer
    25.0, // prosecutor
    15.0, // cadre
    20.0, // mediator
    40.0, // fire
    20.0, // other
];

/// Roads are longer than straight lines: a typical circuity factor for
/// Chinese county road networks (urban ≈ 1.3, mountain valleys ≈ 1.5).
pub const DEFAULT_DETOUR_FACTOR: f64 = 1.4;

#[derive(Debug, Clone)]
pub struct DispatchConfig {
    /// A fix older than this is stale: marked, and ranked after fresh ones.
    pub stale_after: Duration,
    pub detour_factor: f64,
    pub speed_kmh: [f64; ResponderType::COUNT],
    /// A dispatch not acknowledged within this time is offered to the next
    /// closest available responder.
    pub ack_timeout: Duration,
    pub hygiene: hygiene::HygieneRules,
    /// Track downsampling: keep a point when this much time has passed…
    pub track_every: Duration,
    /// …or the responder moved this far since the last kept point.
    pub track_min_move_m: f64,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        Self {
            stale_after: Duration::minutes(5),
            detour_factor: DEFAULT_DETOUR_FACTOR,
            speed_kmh: DEFAULT_SPEED_KMH,
            ack_timeout: Duration::seconds(60),
            hygiene: hygiene::HygieneRules::default(),
            track_every: Duration::seconds(30),
            track_min_move_m: 100.0,
        }
    }
}
