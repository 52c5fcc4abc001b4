//! TEMPORARY hygiene with the final API (replaced by the Traccar-like filters).
use chrono::{DateTime, Utc};
use crate::domain::{Fix, ResponderType};
use crate::spatial::geodesy::haversine_m;

#[derive(Debug, Clone)]
pub struct HygieneRules { pub max_future: chrono::Duration, pub max_age: chrono::Duration, pub max_accuracy_m: Option<f64>, pub max_speed_kmh: [f64; ResponderType::COUNT], pub min_jump_check_m: f64 }
impl Default for HygieneRules { fn default() -> Self { Self { max_future: chrono::Duration::minutes(5), max_age: chrono::Duration::hours(24), max_accuracy_m: None, max_speed_kmh: [200.0; ResponderType::COUNT], min_jump_check_m: 50.0 } } }

#[derive(Debug, Clone, PartialEq)]
pub enum Rejection { Future { by_secs: i64 }, Outdated { age_secs: i64 }, OlderThanLatest { latest: DateTime<Utc> }, Duplicate, ImplausibleJump { distance_m: f64, secs: f64, speed_kmh: f64, max_kmh: f64 }, Inaccurate { accuracy_m: f64, max_m: f64 } }
impl Rejection {
    pub fn code(&self) -> &'static str { match self { Rejection::Future{..} => "future", Rejection::Outdated{..} => "outdated", Rejection::OlderThanLatest{..} => "older_than_latest", Rejection::Duplicate => "duplicate", Rejection::ImplausibleJump{..} => "implausible_jump", Rejection::Inaccurate{..} => "inaccurate" } }
    pub fn field(&self) -> &'static str { match self { Rejection::ImplausibleJump{..} => "lat", Rejection::Inaccurate{..} => "accuracy", _ => "ts" } }
    pub fn reason(&self) -> String { format!("{self:?}") }
}
pub fn check(prev: Option<&Fix>, fix: &Fix, kind: ResponderType, now: DateTime<Utc>, rules: &HygieneRules) -> Result<(), Rejection> {
    if fix.ts > now + rules.max_future { return Err(Rejection::Future { by_secs: (fix.ts - now).num_seconds() }); }
    if fix.ts < now - rules.max_age { return Err(Rejection::Outdated { age_secs: (now - fix.ts).num_seconds() }); }
    if let Some(p) = prev {
        if fix.ts == p.ts && fix.position == p.position { return Err(Rejection::Duplicate); }
        if fix.ts < p.ts { return Err(Rejection::OlderThanLatest { latest: p.ts }); }
        let d = haversine_m(p.position.lon(), p.position.lat(), fix.position.lon(), fix.position.lat());
        let secs = (fix.ts - p.ts).num_milliseconds() as f64 / 1000.0;
        let max = rules.max_speed_kmh[kind.index()];
        if d > rules.min_jump_check_m { let v = if secs > 0.0 { d / secs * 3.6 } else { f64::INFINITY }; if v > max { return Err(Rejection::ImplausibleJump { distance_m: d, secs, speed_kmh: v, max_kmh: max }); } }
    }
    Ok(())
}
