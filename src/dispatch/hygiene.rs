//! Position hygiene: which incoming fixes may replace a responder's latest
//! position. Modelled on Traccar's `FilterHandler` (traccar/traccar
//! `src/main/java/org/traccar/handler/FilterHandler.java`, read @
//! 660777989ba36ab31facdc8940677ea4f74d0837 ("2014 - 2023") and the older
//! 003c056b2d0fe597dc084de72e3c8ec52a00a573 ("2014 - 2018")):
//!
//! | lianqin            | Traccar key             | Traccar rule                                   |
//! |--------------------|-------------------------|------------------------------------------------|
//! | `Future`           | `filter.future`         | `fixTime > now + future`                        |
//! | `Outdated`         | `filter.past`           | `fixTime < now - past`                          |
//! | `Inaccurate`       | `filter.accuracy`       | `accuracy > limit`                              |
//! | `Duplicate`        | `filter.duplicate`      | same `fixTime` as the last position             |
//! | `ImplausibleJump`  | `filter.maxSpeed`       | `knotsFromMps(distance / seconds) > max`        |
//! | `OlderThanLatest`  | (none: lianqin's "newest wins")                          |
//!
//! Differences from Traccar, on purpose:
//! - One rejection, the first that applies, in the order above after
//!   `OlderThanLatest`: absolute checks (future, outdated, inaccurate), then
//!   checks against the latest fix (older, duplicate, jump). Traccar
//!   evaluates all filters and logs every name.
//! - `Duplicate` needs the same timestamp *and* the same place (within
//!   `min_jump_check_m`). Traccar compares only the time (plus attribute
//!   keys). The same timestamp at a clearly different place is an
//!   `ImplausibleJump` with `secs = 0`, which is also what Traccar's
//!   `distance / 0 = ∞ > max` yields.
//! - Jumps: Traccar divides by the raw Δt (milliseconds). Fix timestamps
//!   are whole seconds on most senders, so two fixes "1 s" apart may be
//!   nearly 2 s apart. We divide by `max(Δt, 1 s)` and never flag a move of
//!   at most `min_jump_check_m` (GPS jitter; Traccar has no such floor and
//!   on equal timestamps with equal places computes 0/0 = NaN, which passes).
//! - Traccar's 2018 version also rejected a *reported* speed above the
//!   limit; the 2023 one does not, nor do we (Doppler speed is good data).
//! - Per responder type speed limits (Traccar has one per device/server).
//!
//! `OlderThanLatest` means "not applied as the latest position". The fix may
//! still be true history (a phone flushing its buffer after a dead spot);
//! the caller may keep it for the track, which `check` does not decide.

use chrono::{DateTime, Utc};

use crate::domain::{Fix, ResponderType};
use crate::spatial::geodesy::haversine_m;

/// The filter settings. See [`HygieneRules::default`] for the values and why.
#[derive(Debug, Clone)]
pub struct HygieneRules {
    /// A fix more than this far ahead of `now` is `Future` (phone clock wrong).
    pub max_future: chrono::Duration,
    /// A fix older than this (relative to `now`) is `Outdated`.
    pub max_age: chrono::Duration,
    /// A fix whose reported accuracy radius exceeds this is `Inaccurate`.
    /// `None`: no accuracy filter. Fixes without an accuracy always pass.
    pub max_accuracy_m: Option<f64>,
    /// Highest plausible average speed between two fixes, km/h, per
    /// [`ResponderType::index`].
    pub max_speed_kmh: [f64; ResponderType::COUNT],
    /// Moves up to this distance are never jumps (GPS jitter), metres.
    pub min_jump_check_m: f64,
}

impl HygieneRules {
    /// The speed limit for one responder type, km/h.
    pub fn max_speed_for(&self, kind: ResponderType) -> f64 {
        self.max_speed_kmh[kind.index()]
    }
}

impl Default for HygieneRules {
    /// - `max_future` 5 min: allows ordinary phone clock skew.
    /// - `max_age` 24 h: a day-old fix says nothing about where a responder
    ///   is now; older data belongs to a backfill, not the live position.
    /// - `max_accuracy_m` 500 m: network (cell/Wi-Fi) fixes are often
    ///   1–2 km; for "who is nearest" such a fix misleads more than the
    ///   previous GPS fix does. GPS indoors is typically 20–100 m and passes.
    /// - `max_speed_kmh`: the limits catch GPS glitches (multipath jumps of
    ///   hundreds of metres in seconds, cell fallbacks of kilometres), not
    ///   speeding. Every person may be riding in a vehicle, so even
    ///   pedestrian types allow car speeds:
    ///   - `police` 200, `patrol_car` 200: pursuit on expressways (limit
    ///     120 km/h) with margin;
    ///   - `auxiliary` 160: rides in patrol cars, rarely drives them;
    ///   - `lawyer`, `prosecutor` 160: drive between courts and townships
    ///     on expressways;
    ///   - `fire` 160: engines are slower than patrol cars, but command
    ///     vehicles are not;
    ///   - `grid`, `cadre`, `mediator` 120: township and village work on
    ///     e-bikes, scooters and county roads; 120 still admits a car on
    ///     the expressway;
    ///   - `other` 200: unknown, so the loosest.
    ///
    ///   High-speed rail (300+ km/h) exceeds all of them: a responder on a
    ///   train is rejected until the average speed since their last
    ///   accepted fix drops below the limit, which is also Traccar's
    ///   behaviour.
    /// - `min_jump_check_m` 50 m: phone GPS jitter when standing still.
    fn default() -> Self {
        let mut max_speed_kmh = [200.0; ResponderType::COUNT];
        for (kind, kmh) in [
            (ResponderType::Police, 200.0),
            (ResponderType::PatrolCar, 200.0),
            (ResponderType::Auxiliary, 160.0),
            (ResponderType::Grid, 120.0),
            (ResponderType::Lawyer, 160.0),
            (ResponderType::Prosecutor, 160.0),
            (ResponderType::Cadre, 120.0),
            (ResponderType::Mediator, 120.0),
            (ResponderType::Fire, 160.0),
            (ResponderType::Other, 200.0),
        ] {
            max_speed_kmh[kind.index()] = kmh;
        }
        Self {
            max_future: chrono::Duration::minutes(5),
            max_age: chrono::Duration::hours(24),
            max_accuracy_m: Some(500.0),
            max_speed_kmh,
            min_jump_check_m: 50.0,
        }
    }
}

/// Why a fix was not applied as the responder's latest position.
#[derive(Debug, Clone, PartialEq)]
pub enum Rejection {
    /// `ts` is more than `max_future` ahead of now; `by_secs` = ts − now.
    Future { by_secs: i64 },
    /// `ts` is more than `max_age` behind now; `age_secs` = now − ts.
    Outdated { age_secs: i64 },
    /// `ts` is before the latest accepted fix (`latest`).
    OlderThanLatest { latest: DateTime<Utc> },
    /// Same timestamp and place as the latest accepted fix.
    Duplicate,
    /// Average speed from the latest fix above the type's limit.
    /// `secs` is the real Δt (0 for equal timestamps); `speed_kmh` divides
    /// by `max(secs, 1)`, so it is always finite (see [`check`]).
    ImplausibleJump {
        distance_m: f64,
        secs: f64,
        speed_kmh: f64,
        max_kmh: f64,
    },
    /// Reported accuracy radius above the limit.
    Inaccurate { accuracy_m: f64, max_m: f64 },
}

impl Rejection {
    /// Stable code for counters and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::Future { .. } => "future",
            Rejection::Outdated { .. } => "outdated",
            Rejection::OlderThanLatest { .. } => "older_than_latest",
            Rejection::Duplicate => "duplicate",
            Rejection::ImplausibleJump { .. } => "implausible_jump",
            Rejection::Inaccurate { .. } => "inaccurate",
        }
    }

    /// The request field the rejection is about: `ts` for the time checks,
    /// `lat` for a jump (the position; lianqin names coordinate errors
    /// `lat`/`lon`), `accuracy` for the accuracy check.
    pub fn field(&self) -> &'static str {
        match self {
            Rejection::ImplausibleJump { .. } => "lat",
            Rejection::Inaccurate { .. } => "accuracy",
            Rejection::Future { .. }
            | Rejection::Outdated { .. }
            | Rejection::OlderThanLatest { .. }
            | Rejection::Duplicate => "ts",
        }
    }

    /// Human text with the numbers.
    pub fn reason(&self) -> String {
        match self {
            Rejection::Future { by_secs } => {
                format!("is {by_secs} s in the future (device clock ahead?)")
            }
            Rejection::Outdated { age_secs } => {
                format!("is {age_secs} s old, too old to be a live position")
            }
            Rejection::OlderThanLatest { latest } => format!(
                "is older than the latest accepted fix at {}",
                latest.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
            ),
            Rejection::Duplicate => {
                "repeats the latest accepted fix (same time and place)".to_string()
            }
            Rejection::ImplausibleJump {
                distance_m,
                secs,
                speed_kmh,
                max_kmh,
            } => format!(
                "jumped {distance_m:.0} m in {secs} s ({speed_kmh:.0} km/h, more than the {max_kmh:.0} km/h allowed)"
            ),
            Rejection::Inaccurate { accuracy_m, max_m } => {
                format!("accuracy {accuracy_m} m is worse than the {max_m} m allowed")
            }
        }
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field(), self.reason())
    }
}

impl std::error::Error for Rejection {}

/// Checks a new fix against the responder's latest accepted fix (None for
/// the first). Pure: `now` is a parameter.
///
/// Boundaries are inclusive on the accepting side, as Traccar's strict `>`:
/// exactly `max_future` ahead, exactly `max_age` old, accuracy exactly
/// `max_accuracy_m`, a move of exactly `min_jump_check_m`, or exactly the
/// type's speed limit are all accepted.
pub fn check(
    prev: Option<&Fix>,
    fix: &Fix,
    kind: ResponderType,
    now: DateTime<Utc>,
    rules: &HygieneRules,
) -> Result<(), Rejection> {
    if fix.ts > now + rules.max_future {
        return Err(Rejection::Future {
            by_secs: (fix.ts - now).num_seconds(),
        });
    }
    if fix.ts < now - rules.max_age {
        return Err(Rejection::Outdated {
            age_secs: (now - fix.ts).num_seconds(),
        });
    }
    if let (Some(max_m), Some(accuracy_m)) = (rules.max_accuracy_m, fix.accuracy_m) {
        if accuracy_m > max_m {
            return Err(Rejection::Inaccurate { accuracy_m, max_m });
        }
    }

    let Some(prev) = prev else {
        return Ok(());
    };
    if fix.ts < prev.ts {
        return Err(Rejection::OlderThanLatest { latest: prev.ts });
    }
    let distance_m = haversine_m(
        prev.position.lon(),
        prev.position.lat(),
        fix.position.lon(),
        fix.position.lat(),
    );
    let jitter = distance_m <= rules.min_jump_check_m;
    if fix.ts == prev.ts && jitter {
        return Err(Rejection::Duplicate);
    }
    if jitter {
        return Ok(());
    }
    let secs = (fix.ts - prev.ts).num_milliseconds() as f64 / 1000.0;
    // Timestamps are whole seconds on most senders: a Δt below 1 s (0 for
    // equal timestamps) is treated as 1 s, so the speed stays finite.
    let speed_kmh = distance_m / secs.max(1.0) * 3.6;
    let max_kmh = rules.max_speed_for(kind);
    if speed_kmh > max_kmh {
        return Err(Rejection::ImplausibleJump {
            distance_m,
            secs,
            speed_kmh,
            max_kmh,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Position;
    use chrono::{Duration, TimeZone};

    // Huangyan, 28.65° N: one metre north is 1 / 111_195 degrees.
    const LON: f64 = 121.2571;
    const LAT: f64 = 28.6531;
    const M_PER_DEG_LAT: f64 = 6_371_008.8 * std::f64::consts::PI / 180.0;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 6, 15, 14, 0, 0).unwrap()
    }

    /// A fix `north_m` metres north of the reference point, `secs` after now−1h.
    fn fix_at(north_m: f64, secs: f64) -> Fix {
        Fix {
            position: Position::new(LON, LAT + north_m / M_PER_DEG_LAT).unwrap(),
            ts: now() - Duration::hours(1) + Duration::milliseconds((secs * 1000.0) as i64),
            speed_mps: None,
            heading: None,
            accuracy_m: Some(10.0),
            altitude_m: None,
            battery: None,
        }
    }

    fn rules() -> HygieneRules {
        HygieneRules::default()
    }

    fn ok(prev: Option<&Fix>, fix: &Fix, kind: ResponderType) -> Result<(), Rejection> {
        check(prev, fix, kind, now(), &rules())
    }

    #[test]
    fn first_fix_is_accepted() {
        assert_eq!(ok(None, &fix_at(0.0, 0.0), ResponderType::Grid), Ok(()));
    }

    #[test]
    fn default_values_are_as_documented() {
        let r = rules();
        assert_eq!(r.max_future, Duration::minutes(5));
        assert_eq!(r.max_age, Duration::hours(24));
        assert_eq!(r.max_accuracy_m, Some(500.0));
        assert_eq!(r.min_jump_check_m, 50.0);
        assert_eq!(r.max_speed_for(ResponderType::PatrolCar), 200.0);
        assert_eq!(r.max_speed_for(ResponderType::Grid), 120.0);
        assert_eq!(r.max_speed_for(ResponderType::Fire), 160.0);
        assert!(r.max_speed_kmh.iter().all(|v| *v >= 120.0));
    }

    #[test]
    fn future_rejected_and_boundary_accepted() {
        let mut f = fix_at(0.0, 0.0);
        f.ts = now() + Duration::minutes(5);
        assert_eq!(ok(None, &f, ResponderType::Police), Ok(()));
        f.ts = now() + Duration::minutes(5) + Duration::milliseconds(1);
        assert_eq!(
            ok(None, &f, ResponderType::Police),
            Err(Rejection::Future { by_secs: 300 })
        );
        f.ts = now() + Duration::hours(2);
        let e = ok(None, &f, ResponderType::Police).unwrap_err();
        assert_eq!(e, Rejection::Future { by_secs: 7200 });
        assert_eq!((e.code(), e.field()), ("future", "ts"));
        assert_eq!(e.reason(), "is 7200 s in the future (device clock ahead?)");
        // the future check comes before everything else, even with a prev
        let prev = fix_at(0.0, 0.0);
        assert_eq!(
            ok(Some(&prev), &f, ResponderType::Police)
                .unwrap_err()
                .code(),
            "future"
        );
    }

    #[test]
    fn outdated_rejected_and_boundary_accepted() {
        let mut f = fix_at(0.0, 0.0);
        f.ts = now() - Duration::hours(24);
        assert_eq!(ok(None, &f, ResponderType::Police), Ok(()));
        f.ts = now() - Duration::hours(24) - Duration::seconds(1);
        let e = ok(None, &f, ResponderType::Police).unwrap_err();
        assert_eq!(e, Rejection::Outdated { age_secs: 86_401 });
        assert_eq!((e.code(), e.field()), ("outdated", "ts"));
        assert!(e.reason().contains("86401 s old"), "{}", e.reason());
    }

    #[test]
    fn inaccurate_rejected_and_boundary_accepted() {
        let mut f = fix_at(0.0, 0.0);
        f.accuracy_m = Some(500.0);
        assert_eq!(ok(None, &f, ResponderType::Grid), Ok(()));
        f.accuracy_m = Some(1500.0);
        let e = ok(None, &f, ResponderType::Grid).unwrap_err();
        assert_eq!(
            e,
            Rejection::Inaccurate {
                accuracy_m: 1500.0,
                max_m: 500.0
            }
        );
        assert_eq!((e.code(), e.field()), ("inaccurate", "accuracy"));
        assert_eq!(
            e.reason(),
            "accuracy 1500 m is worse than the 500 m allowed"
        );
        // unknown accuracy passes; no limit configured passes
        f.accuracy_m = None;
        assert_eq!(ok(None, &f, ResponderType::Grid), Ok(()));
        f.accuracy_m = Some(1e6);
        let loose = HygieneRules {
            max_accuracy_m: None,
            ..rules()
        };
        assert_eq!(check(None, &f, ResponderType::Grid, now(), &loose), Ok(()));
    }

    #[test]
    fn older_than_latest() {
        let prev = fix_at(0.0, 60.0);
        let f = fix_at(10.0, 59.0);
        let e = ok(Some(&prev), &f, ResponderType::Grid).unwrap_err();
        assert_eq!(e, Rejection::OlderThanLatest { latest: prev.ts });
        assert_eq!((e.code(), e.field()), ("older_than_latest", "ts"));
        assert_eq!(
            e.reason(),
            "is older than the latest accepted fix at 2025-06-15T13:01:00Z"
        );
        // by a millisecond too
        let mut f = prev;
        f.ts -= Duration::milliseconds(1);
        assert_eq!(
            ok(Some(&prev), &f, ResponderType::Grid).unwrap_err().code(),
            "older_than_latest"
        );
    }

    #[test]
    fn duplicate_same_time_same_place() {
        let prev = fix_at(0.0, 0.0);
        let e = ok(Some(&prev), &prev, ResponderType::Police).unwrap_err();
        assert_eq!(e, Rejection::Duplicate);
        assert_eq!((e.code(), e.field()), ("duplicate", "ts"));
        // same time, re-rounded coordinates within the jitter radius
        let f = Fix {
            position: fix_at(50.0, 0.0).position,
            ..prev
        };
        assert_eq!(
            ok(Some(&prev), &f, ResponderType::Police),
            Err(Rejection::Duplicate)
        );
        // same place, one millisecond later: a new (stationary) fix
        let mut f = prev;
        f.ts += Duration::milliseconds(1);
        assert_eq!(ok(Some(&prev), &f, ResponderType::Police), Ok(()));
    }

    #[test]
    fn same_time_different_place_is_a_jump() {
        let prev = fix_at(0.0, 0.0);
        let f = Fix {
            position: fix_at(500.0, 0.0).position,
            ..prev
        };
        match ok(Some(&prev), &f, ResponderType::PatrolCar).unwrap_err() {
            Rejection::ImplausibleJump {
                distance_m,
                secs,
                speed_kmh,
                max_kmh,
            } => {
                assert!((distance_m - 500.0).abs() < 0.01);
                assert_eq!(secs, 0.0);
                assert!((speed_kmh - 1800.0).abs() < 0.1); // 500 m per (floored) 1 s
                assert_eq!(max_kmh, 200.0);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn jump_rejected_with_numbers() {
        // 2 km in 10 s = 720 km/h
        let prev = fix_at(0.0, 0.0);
        let f = fix_at(2000.0, 10.0);
        let e = ok(Some(&prev), &f, ResponderType::Grid).unwrap_err();
        let Rejection::ImplausibleJump {
            distance_m,
            secs,
            speed_kmh,
            max_kmh,
        } = e
        else {
            panic!("{e:?}")
        };
        assert!((distance_m - 2000.0).abs() < 0.01);
        assert_eq!(secs, 10.0);
        assert!((speed_kmh - 720.0).abs() < 0.01);
        assert_eq!(max_kmh, 120.0);
        assert_eq!((e.code(), e.field()), ("implausible_jump", "lat"));
        assert_eq!(
            e.reason(),
            "jumped 2000 m in 10 s (720 km/h, more than the 120 km/h allowed)"
        );
        assert_eq!(e.to_string(), format!("lat: {}", e.reason()));
    }

    #[test]
    fn speed_limit_boundary_and_per_type() {
        let prev = fix_at(0.0, 0.0);
        // 1000 m in 30 s = 120 km/h exactly (plus float noise of the metre conversion)
        let at_limit = fix_at(1000.0 - 1e-6, 30.0);
        assert_eq!(ok(Some(&prev), &at_limit, ResponderType::Grid), Ok(()));
        let over = fix_at(1001.0, 30.0); // 120.12 km/h
        assert_eq!(
            ok(Some(&prev), &over, ResponderType::Grid)
                .unwrap_err()
                .code(),
            "implausible_jump"
        );
        // the same move is fine for a patrol car
        assert_eq!(ok(Some(&prev), &over, ResponderType::PatrolCar), Ok(()));
        // custom limits apply per type
        let mut r = rules();
        r.max_speed_kmh[ResponderType::PatrolCar.index()] = 100.0;
        assert_eq!(
            check(Some(&prev), &over, ResponderType::PatrolCar, now(), &r)
                .unwrap_err()
                .code(),
            "implausible_jump"
        );
    }

    #[test]
    fn jitter_is_never_a_jump() {
        let prev = fix_at(0.0, 0.0);
        // 50 m in 1 s is 180 km/h, but within the jitter radius
        assert_eq!(
            ok(Some(&prev), &fix_at(50.0, 1.0), ResponderType::Grid),
            Ok(())
        );
        // 60 m in 1 s: a jump for a grid worker (216 km/h)
        assert_eq!(
            ok(Some(&prev), &fix_at(60.0, 1.0), ResponderType::Grid)
                .unwrap_err()
                .code(),
            "implausible_jump"
        );
        // sub-second Δt is floored to 1 s: 55 m in 0.2 s = 198 km/h, under 200
        assert_eq!(
            ok(Some(&prev), &fix_at(55.0, 0.2), ResponderType::PatrolCar),
            Ok(())
        );
    }

    #[test]
    fn slow_long_moves_are_fine() {
        // 300 km in 3 h (100 km/h)
        let prev = fix_at(0.0, 0.0);
        let mut f = fix_at(300_000.0, 0.0);
        f.ts = prev.ts + Duration::hours(3);
        let r = check(Some(&prev), &f, ResponderType::Cadre, f.ts, &rules());
        assert_eq!(r, Ok(()));
    }

    #[test]
    fn rejection_codes_match_mains_counter_order() {
        let all = [
            Rejection::Future { by_secs: 1 },
            Rejection::Outdated { age_secs: 1 },
            Rejection::OlderThanLatest { latest: now() },
            Rejection::Duplicate,
            Rejection::ImplausibleJump {
                distance_m: 1.0,
                secs: 1.0,
                speed_kmh: 1.0,
                max_kmh: 1.0,
            },
            Rejection::Inaccurate {
                accuracy_m: 1.0,
                max_m: 1.0,
            },
        ];
        let codes: Vec<&str> = all.iter().map(Rejection::code).collect();
        // every code has a counter slot, so no rejection goes uncounted
        assert_eq!(codes, crate::live::responders::REJECTION_CODES);
        assert!(all.iter().all(|r| !r.reason().is_empty()));
    }
}
