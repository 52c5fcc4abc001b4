//! Responder, position, recommendation and assignment handlers.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::schemas;
use super::{ApiError, AppState};
use crate::dispatch::roster::FeatureOut;
use crate::dispatch::{FixError, Query as RosterQuery};
use crate::domain::{Bbox, DutyChange, Fix, JurisdictionSummary, Position, ResponderType, Status};
use crate::ingest::incident_json::Shape;
use crate::ingest::{osmand, responder_json};
use crate::spatial::crs::Datum;

fn path_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| ApiError::field("id", format!("must be a positive integer id, got {raw:?}")))
}

/// Most candidates one query may ask for.
pub const MAX_K: usize = 100;

fn json_body(st: &AppState, body: Result<Json<Value>, JsonRejection>) -> Result<Value, ApiError> {
    body.map(|Json(v)| v).map_err(|r| match ApiError::from(r) {
        ApiError::TooLarge { .. } => ApiError::TooLarge {
            limit: st.limits.body_bytes,
        },
        other => other,
    })
}

fn only(q: &HashMap<String, String>, allowed: &[&str]) -> Result<(), ApiError> {
    match q.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(ApiError::field(
            k.clone(),
            format!("unknown query parameter; expected {}", allowed.join(", ")),
        )),
        None => Ok(()),
    }
}

fn list_of<T>(
    q: &HashMap<String, String>,
    name: &str,
    parse: impl Fn(&str) -> Option<T>,
    known: &[&str],
) -> Result<Vec<T>, ApiError> {
    let Some(raw) = q.get(name) else {
        return Ok(Vec::new());
    };
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            parse(s).ok_or_else(|| {
                ApiError::field(
                    name,
                    format!("unknown value {s:?}; expected one of {}", known.join(", ")),
                )
            })
        })
        .collect()
}

fn type_codes() -> Vec<&'static str> {
    ResponderType::ALL.iter().map(|t| t.code()).collect()
}

fn status_codes() -> Vec<&'static str> {
    Status::ALL.iter().map(|t| t.code()).collect()
}

/// `type=`, `status=`, `skill=`, `station=` → a roster query.
fn roster_query(
    q: &HashMap<String, String>,
    default_status: Option<Status>,
) -> Result<RosterQuery, ApiError> {
    let kinds = list_of(q, "type", ResponderType::parse, &type_codes())?;
    let statuses = match q.get("status").map(String::as_str) {
        Some("any") => Vec::new(),
        Some(_) => list_of(q, "status", Status::parse, &status_codes())?,
        None => default_status.into_iter().collect(),
    };
    let text = |name: &str| {
        q.get(name)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    Ok(RosterQuery {
        kinds,
        statuses,
        skill: text("skill"),
        station: text("station"),
        exclude: Vec::new(),
    })
}

fn k_param(q: &HashMap<String, String>) -> Result<usize, ApiError> {
    match q.get("k") {
        None => Ok(5),
        Some(s) => match s.parse::<usize>() {
            Ok(k) if (1..=MAX_K).contains(&k) => Ok(k),
            _ => Err(ApiError::field(
                "k",
                format!("must be an integer from 1 to {MAX_K}, got {s:?}"),
            )),
        },
    }
}

fn number(q: &HashMap<String, String>, name: &str) -> Result<f64, ApiError> {
    let raw = q
        .get(name)
        .ok_or_else(|| ApiError::field(name, "is required"))?;
    raw.trim()
        .parse::<f64>()
        .map_err(|_| ApiError::field(name, format!("must be a number in degrees, got {raw:?}")))
}

fn point(q: &HashMap<String, String>) -> Result<Position, ApiError> {
    let (lon, lat) = (number(q, "lon")?, number(q, "lat")?);
    let datum = match q.get("crs") {
        None => Datum::Wgs84,
        Some(s) => Datum::parse(s).ok_or_else(|| {
            ApiError::field(
                "crs",
                format!("unknown datum {s:?}; expected wgs84, gcj02 or bd09"),
            )
        })?,
    };
    Position::new(lon, lat).map_err(|e| ApiError::field(e.field(), e.to_string()))?;
    let (x, y) = datum.to_wgs84(lon, lat);
    Position::new(x, y).map_err(|e| ApiError::field(e.field(), e.to_string()))
}

/// `POST /api/v1/responders`: one entry or an array (≤ 1,000), upsert by id.
#[utoipa::path(
    post,
    path = "/api/v1/responders",
    tag = "responders",
    summary = "Upsert roster entries by id (one object or an array ≤ 1000); all or nothing",
    description = "An explicit `status` sets it (409 while the responder is on an open assignment); phone numbers are stored only masked. The roster may name at most 64 distinct skills.",
    request_body(content = schemas::NewResponders, content_type = "application/json"),
    responses(
        (status = 201, description = "At least one responder was created; their Features with `created`", body = schemas::RespondersUpserted),
        (status = 200, description = "All existed and were updated", body = schemas::RespondersUpserted),
        (status = 400, description = "Invalid entry (field names it, e.g. `[2].type`)", body = schemas::ErrorBody),
        (status = 409, description = "A status would overwrite one owned by an open assignment", body = schemas::ErrorBody),
        (status = 413, description = "Body larger than the limit", body = schemas::ErrorBody),
        (status = 415, description = "Content-Type is not application/json", body = schemas::ErrorBody),
        (status = 503, description = "Database busy or unreachable; retry", body = schemas::ErrorBody),
    )
)]
pub async fn post_responders(
    State(st): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let body = json_body(&st, body)?;
    let (shape, specs) = responder_json::parse_responders(&body)?;
    let (fresh, left) = st.world.roster().read(|r| {
        (
            r.unknown_skills(
                specs
                    .iter()
                    .flat_map(|s| s.skills.iter().map(String::as_str)),
            )
            .len(),
            r.skill_capacity_left(),
        )
    });
    if fresh > left {
        return Err(ApiError::field(
            "skills",
            format!(
                "the roster may name at most {} distinct skills; this request adds {fresh} new ones and only {left} are left",
                crate::dispatch::roster::MAX_SKILLS
            ),
        ));
    }
    // an explicit status must not overwrite one that belongs to an open assignment
    if let Some((i, reason)) = st.world.roster().read(|r| {
        specs.iter().enumerate().find_map(|(i, s)| {
            let a = r.by_id(&s.id)?.assignment.as_ref()?;
            let want = s.status?;
            Some((i, format!(
                "{} is on assignment {} to incident {}; {} cannot be set by a roster upsert (use POST /api/v1/responders/{}/status or decline the assignment)",
                s.id, a.id, a.incident_id, want.code(), s.id
            )))
        })
    }) {
        let field = match shape {
            Shape::One => "status".to_string(),
            Shape::Many => format!("[{i}].status"),
        };
        return Err(ApiError::Store(crate::store::StoreError::Conflict { field, reason }));
    }
    let stored = st.dispatcher.upsert(specs).await?;
    let any_created = stored.iter().any(|s| s.created);
    let now = Utc::now();
    let records: Vec<Value> = st.world.roster().read(|r| {
        stored
            .iter()
            .map(|s| {
                let mut f = match r.slot(&s.spec.id) {
                    Some(slot) => r.feature(slot, now),
                    None => json!({"id": s.spec.id}),
                };
                f["created"] = json!(s.created);
                f
            })
            .collect()
    });
    let body = match shape {
        Shape::One => records.into_iter().next().unwrap_or(Value::Null),
        Shape::Many => Value::Array(records),
    };
    let status = if any_created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(body)).into_response())
}

/// `GET /api/v1/responders?bbox=&type=&status=&skill=&station=`.
#[utoipa::path(
    get,
    path = "/api/v1/responders",
    tag = "responders",
    summary = "Responders as GeoJSON Features",
    description = "Geometry null without a fix; with the last position and its age. Unknown query parameters are refused.",
    params(
        ("bbox" = Option<String>, Query, description = "w,s,e,n WGS-84; only responders with a position inside"),
        ("type" = Option<String>, Query, description = "Comma list of responder types (e.g. `police,patrol_car`)"),
        ("status" = Option<String>, Query, description = "Comma list of statuses, or `any` (default: any)"),
        ("skill" = Option<String>, Query, description = "Only responders with this skill"),
        ("station" = Option<String>, Query, description = "Only responders of this station code"),
    ),
    responses(
        (status = 200, description = "FeatureCollection of responders", body = schemas::ResponderCollection, content_type = "application/geo+json"),
        (status = 400, description = "Invalid or unknown query parameter (field names it)", body = schemas::ErrorBody),
    )
)]
pub async fn list_responders(
    State(st): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    only(&q, &["bbox", "type", "status", "skill", "station"])?;
    let rq = roster_query(&q, None)?;
    let bbox = q
        .get("bbox")
        .map(|b| Bbox::parse(b).map_err(|e| ApiError::field("bbox", e.to_string())))
        .transpose()?;
    let now = Utc::now();
    let features = st.world.roster().read(|r| {
        let slots = match bbox {
            Some(b) => r.within(b, &rq),
            None => r.all_matching(&rq),
        };
        let features: Vec<crate::dispatch::roster::FeatureOut> =
            slots.into_iter().map(|s| r.feature_out(s, now)).collect();
        serde_json::to_string(&features).expect("features serialise")
    });
    Ok((
        [(header::CONTENT_TYPE, "application/geo+json")],
        format!(r#"{{"type":"FeatureCollection","features":{features}}}"#),
    )
        .into_response())
}

fn unknown_responder(id: &str) -> ApiError {
    ApiError::Refused {
        status: StatusCode::NOT_FOUND,
        error: "not_found",
        field: "id".into(),
        reason: format!("no responder {id:?}; add it with POST /api/v1/responders"),
        extra: Value::Null,
    }
}

/// `GET /api/v1/responders/{id}`.
#[utoipa::path(
    get,
    path = "/api/v1/responders/{id}",
    tag = "responders",
    summary = "One responder as a Feature",
    params(("id" = String, Path, description = "Responder id")),
    responses(
        (status = 200, description = "The responder", body = FeatureOut),
        (status = 404, description = "Unknown responder (field `id`)", body = schemas::ErrorBody),
    )
)]
pub async fn get_responder(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let now = Utc::now();
    st.world
        .roster()
        .read(|r| r.slot(&id).map(|s| r.feature(s, now)))
        .map(Json)
        .ok_or_else(|| unknown_responder(&id))
}

fn change_json(st: &AppState, change: &DutyChange) -> Value {
    let now = Utc::now();
    let responders: Vec<Value> = st.world.roster().read(|r| {
        change
            .statuses
            .iter()
            .filter_map(|s| r.slot(&s.responder_id).map(|slot| r.feature(slot, now)))
            .collect()
    });
    json!({
        "assignments": change.assignments.iter().map(|a| a.to_json()).collect::<Vec<_>>(),
        "responders": responders,
    })
}

/// `POST /api/v1/responders/{id}/status` with `{"status": "..."}`.
#[utoipa::path(
    post,
    path = "/api/v1/responders/{id}/status",
    tag = "dispatch",
    summary = "Set a responder's status",
    description = "`available` clears an open assignment, `en_route`/`on_scene` acknowledge a dispatched one, `busy`/`off_duty` are refused (409) while one is open; `dispatched` only by assigning.",
    params(("id" = String, Path, description = "Responder id")),
    request_body(content = schemas::StatusRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The assignments and responders the change touched", body = schemas::DutyChange),
        (status = 400, description = "Missing, unknown or refused status; unknown field", body = schemas::ErrorBody),
        (status = 404, description = "Unknown responder (field `id`)", body = schemas::ErrorBody),
        (status = 409, description = "Conflicts with the open assignment, named in reason", body = schemas::ErrorBody),
        (status = 415, description = "Content-Type is not application/json", body = schemas::ErrorBody),
        (status = 503, description = "Database busy or unreachable; retry", body = schemas::ErrorBody),
    )
)]
pub async fn post_status(
    State(st): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = json_body(&st, body)?;
    let obj = body
        .as_object()
        .ok_or_else(|| ApiError::field("body", "must be a JSON object {\"status\": …}"))?;
    if let Some(k) = obj.keys().find(|k| k.as_str() != "status") {
        return Err(ApiError::field(k.clone(), "unknown field; expected status"));
    }
    let text = obj
        .get("status")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::field("status", "is required (a string)"))?;
    let status = Status::parse(text).ok_or_else(|| {
        ApiError::field(
            "status",
            format!(
                "unknown status {text:?}; expected one of {}",
                status_codes().join(", ")
            ),
        )
    })?;
    if status == Status::Dispatched {
        return Err(ApiError::field(
            "status",
            "dispatched is set by assigning: POST /api/v1/incidents/{id}/assign",
        ));
    }
    if st.world.roster().read(|r| r.slot(&id).is_none()) {
        return Err(unknown_responder(&id));
    }
    let change = st.dispatcher.set_status(id, status).await?;
    Ok(Json(change_json(&st, &change)))
}

fn fix_refusal(id: &str, e: &FixError, field_prefix: &str) -> ApiError {
    match e {
        FixError::UnknownResponder(_) => ApiError::Refused {
            status: StatusCode::NOT_FOUND,
            error: "unknown_responder",
            field: format!("{field_prefix}id"),
            reason: format!(
                "no responder {id:?}; add it to the roster first (POST /api/v1/responders)"
            ),
            extra: Value::Null,
        },
        FixError::Rejected(r) => ApiError::Refused {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            error: "position_rejected",
            field: format!("{field_prefix}{}", r.field()),
            reason: r.reason(),
            extra: json!({"code": r.code()}),
        },
    }
}

/// `POST /api/v1/responders/positions`: an array (or one object) of fixes.
/// Each is checked on its own; the answer lists what was refused. When
/// nothing was accepted the answer is a 4xx naming the first refusal.
#[utoipa::path(
    post,
    path = "/api/v1/responders/positions",
    tag = "responders",
    summary = "Position fixes (one object or an array ≤ 1000)",
    description = "Validated, de-duplicated, newest wins per responder, Traccar-like filters (future > 5 min, outdated, duplicate, older than latest, implausible jump by type, inaccurate). Telemetry: flushed to PostGIS within 1 s. When no fix is accepted the answer is the first refusal's status, with `code` and the whole `rejected` list.",
    request_body(content = schemas::PositionFixes, content_type = "application/json"),
    responses(
        (status = 200, description = "At least one fix was accepted; the refused ones are listed", body = schemas::PositionsAnswer),
        (status = 400, description = "Invalid body or (when nothing was accepted) the first invalid fix", body = schemas::ErrorBody),
        (status = 404, description = "Nothing accepted: the first refusal named an unknown responder (`unknown_responder`, field id)", body = schemas::ErrorBody),
        (status = 413, description = "Body larger than the limit", body = schemas::ErrorBody),
        (status = 415, description = "Content-Type is not application/json", body = schemas::ErrorBody),
        (status = 422, description = "Nothing accepted: the first refusal was a position filter (`position_rejected`, `code` names it)", body = schemas::ErrorBody),
        (status = 503, description = "The live world is shutting down", body = schemas::ErrorBody),
    )
)]
pub async fn post_positions(
    State(st): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let body = json_body(&st, body)?;
    let (shape, parsed) = responder_json::parse_positions(&body)?;
    let mut rejected: Vec<Value> = Vec::new();
    let mut first_err: Option<ApiError> = None;
    let mut valid: Vec<(usize, String, Fix)> = Vec::with_capacity(parsed.len());
    for (i, p) in parsed.into_iter().enumerate() {
        match p {
            Ok((id, fix)) => valid.push((i, id, fix)),
            Err(e) => {
                st.world
                    .position_counters()
                    .invalid
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                rejected.push(
                    json!({"index": i, "field": e.field, "reason": e.reason, "code": "invalid"}),
                );
                first_err.get_or_insert(ApiError::Field(e));
            }
        }
    }
    let fixes: Vec<(String, Fix)> = valid.iter().map(|(_, id, f)| (id.clone(), *f)).collect();
    let results = if fixes.is_empty() {
        Vec::new()
    } else {
        st.world
            .positions(fixes)
            .await
            .ok_or(ApiError::Unavailable("live world is shutting down"))?
    };
    let mut accepted = 0usize;
    for ((i, id, _), res) in valid.iter().zip(&results) {
        match res {
            Ok(()) => accepted += 1,
            Err(e) => {
                let prefix = match shape {
                    Shape::One => String::new(),
                    Shape::Many => format!("[{i}]."),
                };
                let err = fix_refusal(id, e, &prefix);
                if let ApiError::Refused {
                    field,
                    reason,
                    extra,
                    ..
                } = &err
                {
                    rejected.push(
                        json!({"index": i, "id": id, "field": field, "reason": reason,
                        "code": extra.get("code").cloned().unwrap_or(json!("unknown_responder"))}),
                    );
                }
                first_err.get_or_insert(err);
            }
        }
    }
    rejected.sort_by_key(|v| v["index"].as_u64());
    if accepted == 0 {
        if let Some(e) = first_err {
            return Err(match e {
                ApiError::Refused {
                    status,
                    error,
                    field,
                    reason,
                    extra,
                } => ApiError::Refused {
                    status,
                    error,
                    field,
                    reason,
                    extra: json!({"code": extra.get("code"), "rejected": rejected}),
                },
                other => other,
            });
        }
    }
    Ok(Json(json!({"accepted": accepted, "rejected": rejected})).into_response())
}

/// `GET|POST /osmand?id=…&lat=…&lon=…&timestamp=…` (and the JSON body of
/// newer Traccar Client versions): the OsmAnd protocol as Traccar's server
/// accepts it, so a phone running Traccar Client reports with no change.
/// 200 on success (and for an exact resend of the stored fix, so a client
/// whose answer was lost does not retry it forever); 400 on a malformed
/// report, 404 for an unknown device id, 422 for a fix the filters refuse.
#[utoipa::path(
    method(get, post),
    path = "/osmand",
    tag = "responders",
    summary = "OsmAnd protocol as Traccar's server accepts it",
    description = "So Traccar Client reports unchanged. GET or POST with the query string; POST also with a form body, or Traccar Client's JSON body ({location:{timestamp, coords:{latitude, longitude, accuracy, speed, heading, altitude}, battery:{level}}, device_id}). Body at most 64 KiB.",
    params(
        ("id" = Option<String>, Query, description = "Device (responder) id; `deviceid` also accepted"),
        ("lat" = Option<f64>, Query, description = "Latitude (or `location=lat,lon`)"),
        ("lon" = Option<f64>, Query, description = "Longitude"),
        ("location" = Option<String>, Query, description = "`lat,lon` instead of lat and lon"),
        ("timestamp" = Option<String>, Query, description = "Seconds or milliseconds since the epoch, or ISO 8601"),
        ("speed" = Option<f64>, Query, description = "Knots"),
        ("bearing" = Option<f64>, Query, description = "Degrees; `heading` also accepted"),
        ("altitude" = Option<f64>, Query, description = "Metres"),
        ("accuracy" = Option<f64>, Query, description = "Metres (or `hdop`)"),
        ("batt" = Option<f64>, Query, description = "Battery percent"),
        ("crs" = Option<schemas::Crs>, Query, description = "Datum of lat/lon (extension; default `wgs84`)"),
    ),
    request_body(
        description = "POST only, optional: a form body with the same keys, or Traccar Client's JSON",
        content(("application/x-www-form-urlencoded"), ("application/json")),
    ),
    responses(
        (status = 200, description = "Accepted (or an exact resend of the stored fix: `accepted: 0, duplicate: true`)", body = schemas::OsmandAnswer),
        (status = 400, description = "Malformed report (field names it)", body = schemas::ErrorBody),
        (status = 404, description = "Unknown device id (`unknown_responder`, field id)", body = schemas::ErrorBody),
        (status = 413, description = "Body larger than 64 KiB"),
        (status = 422, description = "Refused by a position filter (`position_rejected`; `code` names it)", body = schemas::ErrorBody),
        (status = 503, description = "The live world is shutting down", body = schemas::ErrorBody),
    )
)]
pub async fn osmand(
    State(st): State<AppState>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let now = Utc::now();
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let report = if method == Method::POST && is_json && !body.is_empty() {
        osmand::parse_json(&body, now)?
    } else {
        let q = query.unwrap_or_default();
        // Older clients POST the same key=value form as the body.
        let text = if q.is_empty() && method == Method::POST {
            std::str::from_utf8(&body)
                .map_err(|_| ApiError::field("body", "must be UTF-8 form data"))?
                .to_string()
        } else {
            q
        };
        osmand::parse_query(&text, now)?
    };
    let id = report.device_id.clone();
    let results = st
        .world
        .positions(vec![(id.clone(), report.fix)])
        .await
        .ok_or(ApiError::Unavailable("live world is shutting down"))?;
    match results.into_iter().next() {
        Some(Ok(())) => Ok((StatusCode::OK, Json(json!({"accepted": 1}))).into_response()),
        Some(Err(FixError::Rejected(r))) if r.code() == "duplicate" => Ok((
            StatusCode::OK,
            Json(json!({"accepted": 0, "duplicate": true})),
        )
            .into_response()),
        Some(Err(e)) => Err(fix_refusal(&id, &e, "")),
        None => Err(ApiError::Unavailable("no answer from the live world")),
    }
}

/// `GET /api/v1/responders/nearest?lon=&lat=&k=&type=&skill=&station=&status=`.
#[utoipa::path(
    get,
    path = "/api/v1/responders/nearest",
    tag = "dispatch",
    summary = "The k nearest matching responders",
    description = "Default status available; fresh fixes first then stale, each by haversine distance; with ETA and the reasons for the rank. Unknown query parameters are refused.",
    params(
        ("lon" = f64, Query, description = "Longitude in degrees"),
        ("lat" = f64, Query, description = "Latitude in degrees"),
        ("crs" = Option<schemas::Crs>, Query, description = "Datum of lon/lat (default `wgs84`)"),
        ("k" = Option<usize>, Query, description = "1 to 100, default 5"),
        ("type" = Option<String>, Query, description = "Comma list of responder types"),
        ("skill" = Option<String>, Query, description = "Required skill"),
        ("station" = Option<String>, Query, description = "Station code"),
        ("status" = Option<String>, Query, description = "Comma list of statuses, or `any` (default `available`)"),
        ("fields" = Option<String>, Query, description = "`full` (default) or `ids`: only {id, distance_m, eta_s, stale} per candidate"),
    ),
    responses(
        (status = 200, description = "{lon, lat, k, candidates} (fields=ids: {candidates: [{id, distance_m, eta_s, stale}]})", body = schemas::Nearest),
        (status = 400, description = "Missing or invalid parameter (field names it)", body = schemas::ErrorBody),
    )
)]
pub async fn nearest(
    State(st): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    only(
        &q,
        &[
            "lon", "lat", "crs", "k", "type", "skill", "station", "status", "fields",
        ],
    )?;
    let at = point(&q)?;
    let k = k_param(&q)?;
    let rq = roster_query(&q, Some(Status::Available))?;
    let lean = match q.get("fields").map(String::as_str) {
        None | Some("full") => false,
        Some("ids") => true,
        Some(other) => {
            return Err(ApiError::field(
                "fields",
                format!("must be full or ids, got {other:?}"),
            ))
        }
    };
    let now = Utc::now();
    if lean {
        // ids, distances and ETAs only: for thin clients (and a like-for-like
        // comparison with a GEOSEARCH … WITHDIST answer, BENCHMARKS.md)
        #[derive(serde::Serialize)]
        struct Lean<'a> {
            id: &'a str,
            distance_m: f64,
            eta_s: f64,
            stale: bool,
        }
        let body = st.world.roster().read(|r| {
            let hits = r.nearest(at, k, &rq, now);
            let list: Vec<Lean> = hits
                .iter()
                .map(|h| {
                    let x = r.get(h.slot);
                    Lean {
                        id: &x.spec.id,
                        distance_m: (h.distance_m * 10.0).round() / 10.0,
                        eta_s: r.eta_s(x.spec.kind, h.distance_m).round(),
                        stale: h.stale,
                    }
                })
                .collect();
            let mut out = Vec::with_capacity(64 + 80 * list.len());
            out.extend_from_slice(br#"{"candidates":"#);
            serde_json::to_writer(&mut out, &list).expect("candidates serialise");
            out.push(b'}');
            out
        });
        return Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response());
    }
    let snap = st.world.snapshot();
    let j = JurisdictionSummary::from(&snap.index.locate(at));
    #[derive(serde::Serialize)]
    struct Out<'a> {
        lon: f64,
        lat: f64,
        k: usize,
        candidates: Vec<crate::dispatch::roster::CandidateOut<'a>>,
    }
    // serialised under the read lock, straight from borrowed structs
    let body = st.world.roster().read(|r| {
        let hits = r.nearest(at, k, &rq, now);
        let out = Out {
            lon: at.lon(),
            lat: at.lat(),
            k,
            candidates: r.candidates(&j, &hits, rq.skill.as_deref(), &snap.index, now),
        };
        serde_json::to_vec(&out).expect("candidates serialise")
    });
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

async fn incident(st: &AppState, id: i64) -> Result<crate::domain::Incident, ApiError> {
    crate::store::incidents::get(&st.pool, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no incident {id}")))
}

/// `GET /api/v1/incidents/{id}/candidates?k=5&type=&skill=&station=&status=`.
#[utoipa::path(
    get,
    path = "/api/v1/incidents/{id}/candidates",
    tag = "dispatch",
    summary = "Recommended responders for an incident",
    description = "k nearest matching (default available), with distance (m), ETA (straight line × detour factor ÷ speed per type) and reasons.",
    params(
        ("id" = i64, Path, description = "Incident id (a positive integer)"),
        ("k" = Option<usize>, Query, description = "1 to 100, default 5"),
        ("type" = Option<String>, Query, description = "Comma list of responder types"),
        ("skill" = Option<String>, Query, description = "Required skill"),
        ("station" = Option<String>, Query, description = "Station code"),
        ("status" = Option<String>, Query, description = "Comma list of statuses, or `any` (default `available`)"),
    ),
    responses(
        (status = 200, description = "The incident and its candidates", body = schemas::Candidates),
        (status = 400, description = "Invalid id or query parameter (field names it)", body = schemas::ErrorBody),
        (status = 404, description = "Unknown incident", body = schemas::ErrorBody),
        (status = 409, description = "The incident has no location (`not_located`)", body = schemas::ErrorBody),
        (status = 503, description = "Database busy or unreachable; retry", body = schemas::ErrorBody),
    )
)]
pub async fn candidates(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let id = path_id(&id)?;
    only(&q, &["k", "type", "skill", "station", "status"])?;
    let k = k_param(&q)?;
    let rq = roster_query(&q, Some(Status::Available))?;
    let inc = incident(&st, id).await?;
    let Some(position) = inc.position else {
        return Err(ApiError::Refused {
            status: StatusCode::CONFLICT,
            error: "not_located",
            field: "id".into(),
            reason: format!("incident {id} has no location (located: false): nobody can be ranked by distance to it"),
            extra: Value::Null,
        });
    };
    let snap = st.world.snapshot();
    let now = Utc::now();
    let list: Vec<Value> = st.world.roster().read(|r| {
        let hits = r.nearest(position, k, &rq, now);
        r.candidates(
            &inc.jurisdiction,
            &hits,
            rq.skill.as_deref(),
            &snap.index,
            now,
        )
        .iter()
        .map(|c| serde_json::to_value(c).expect("a candidate serialises"))
        .collect()
    });
    Ok(Json(json!({
        "incident": {"id": inc.id, "lon": position.lon(), "lat": position.lat(),
                     "priority": inc.priority, "category": inc.category, "jurisdiction": inc.jurisdiction},
        "candidates": list,
        "eta_model": format!("straight-line distance × {} ÷ a speed per type", st.world.roster().read(|r| r.config().detour_factor)),
    })))
}

/// `POST /api/v1/incidents/{id}/assign` with `{"responders": ["id", …]}`.
#[utoipa::path(
    post,
    path = "/api/v1/incidents/{id}/assign",
    tag = "dispatch",
    summary = "Dispatch responders to an incident (all or nothing)",
    description = "Committed with event-log rows before the answer; an unacknowledged dispatch is re-offered to the next closest available responder after the ack timeout.",
    params(("id" = i64, Path, description = "Incident id (a positive integer)")),
    request_body(content = schemas::AssignRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The new assignments and the dispatched responders", body = schemas::DutyChange),
        (status = 400, description = "Invalid id or body (field names it)", body = schemas::ErrorBody),
        (status = 404, description = "Unknown incident or responder (field names it)", body = schemas::ErrorBody),
        (status = 409, description = "A responder is not available or already assigned; reason names the current assignment", body = schemas::ErrorBody),
        (status = 415, description = "Content-Type is not application/json", body = schemas::ErrorBody),
        (status = 503, description = "Database busy or unreachable; retry", body = schemas::ErrorBody),
    )
)]
pub async fn assign(
    State(st): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let id = path_id(&id)?;
    let body = json_body(&st, body)?;
    let obj = body
        .as_object()
        .ok_or_else(|| ApiError::field("body", "must be a JSON object {\"responders\": [ids]}"))?;
    if let Some(k) = obj
        .keys()
        .find(|k| !["responders", "by"].contains(&k.as_str()))
    {
        return Err(ApiError::field(
            k.clone(),
            "unknown field; expected responders, by",
        ));
    }
    let list = obj
        .get("responders")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::field("responders", "is required (an array of responder ids)"))?;
    if list.is_empty() || list.len() > 20 {
        return Err(ApiError::field(
            "responders",
            "must list 1 to 20 responder ids",
        ));
    }
    let mut ids: Vec<String> = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        let field = format!("responders[{i}]");
        let s = v
            .as_str()
            .ok_or_else(|| ApiError::field(field.clone(), "must be a string"))?;
        responder_json::check_id(s, &field)?;
        if ids.iter().any(|x| x == s) {
            return Err(ApiError::field(field, format!("{s} is listed twice")));
        }
        ids.push(s.to_string());
    }
    let by = match obj.get("by") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.chars().count() <= 64 => Some(s.clone()),
        Some(_) => {
            return Err(ApiError::field(
                "by",
                "must be a string of at most 64 characters",
            ))
        }
    };
    if let Some((i, missing)) = st.world.roster().read(|r| {
        ids.iter()
            .enumerate()
            .find(|(_, id)| r.slot(id).is_none())
            .map(|(i, id)| (i, id.clone()))
    }) {
        return Err(ApiError::Refused {
            status: StatusCode::NOT_FOUND,
            error: "not_found",
            field: format!("responders[{i}]"),
            reason: format!("no responder {missing:?}"),
            extra: Value::Null,
        });
    }
    let change = st.dispatcher.assign(id, ids, by).await?;
    Ok((StatusCode::CREATED, Json(change_json(&st, &change))).into_response())
}

/// `GET /api/v1/incidents/{id}/assignments`: every assignment, oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/incidents/{id}/assignments",
    tag = "dispatch",
    summary = "Every assignment of an incident, oldest first",
    description = "Re-offers carry `replaces`. An incident without assignments (or an unknown id) answers an empty list.",
    params(("id" = i64, Path, description = "Incident id (a positive integer)")),
    responses(
        (status = 200, description = "The assignments", body = schemas::IncidentAssignments),
        (status = 400, description = "Invalid id", body = schemas::ErrorBody),
        (status = 503, description = "Database busy or unreachable; retry", body = schemas::ErrorBody),
    )
)]
pub async fn incident_assignments(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = path_id(&id)?;
    let list = crate::store::responders::incident_assignments(&st.pool, id).await?;
    Ok(Json(json!({
        "incident_id": id,
        "assignments": list.iter().map(|a| a.to_json()).collect::<Vec<_>>(),
    })))
}

/// `POST /api/v1/assignments/{id}/ack`.
#[utoipa::path(
    post,
    path = "/api/v1/assignments/{id}/ack",
    tag = "dispatch",
    summary = "Acknowledge a dispatch: assignment acked, responder en_route",
    params(("id" = i64, Path, description = "Assignment id (a positive integer)")),
    responses(
        (status = 200, description = "The assignment and the responder", body = schemas::DutyChange),
        (status = 400, description = "Invalid id", body = schemas::ErrorBody),
        (status = 404, description = "Unknown assignment", body = schemas::ErrorBody),
        (status = 409, description = "Not dispatched any more", body = schemas::ErrorBody),
        (status = 503, description = "Database busy or unreachable; retry", body = schemas::ErrorBody),
    )
)]
pub async fn ack(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = path_id(&id)?;
    let change = st.dispatcher.ack(id).await?;
    Ok(Json(change_json(&st, &change)))
}

/// `POST /api/v1/assignments/{id}/decline`: frees the responder and offers
/// the incident to the next candidate.
#[utoipa::path(
    post,
    path = "/api/v1/assignments/{id}/decline",
    tag = "dispatch",
    summary = "Decline a dispatch",
    description = "The responder is available again; the incident is offered to the next closest available responder of the same type.",
    params(("id" = i64, Path, description = "Assignment id (a positive integer)")),
    responses(
        (status = 200, description = "The declined assignment, any re-offer, and the responders", body = schemas::DutyChange),
        (status = 400, description = "Invalid id", body = schemas::ErrorBody),
        (status = 404, description = "Unknown assignment", body = schemas::ErrorBody),
        (status = 409, description = "Not open any more", body = schemas::ErrorBody),
        (status = 503, description = "Database busy or unreachable; retry", body = schemas::ErrorBody),
    )
)]
pub async fn decline(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = path_id(&id)?;
    let change = st.dispatcher.decline(id).await?;
    Ok(Json(change_json(&st, &change)))
}

/// `GET /api/v1/stats/positions`: position ingest counters since start.
#[utoipa::path(
    get,
    path = "/api/v1/stats/positions",
    tag = "responders",
    summary = "Position ingest counters since start",
    description = "Accepted, rejected by filter, unknown responder, invalid, dropped track points, flushes.",
    responses(
        (status = 200, description = "Counters", body = schemas::PositionStats),
    )
)]
pub async fn position_stats(State(st): State<AppState>) -> Json<Value> {
    Json(st.world.position_counters().to_json())
}

/// `GET /api/v1/responders/{id}/track?from=&to=`: the downsampled track.
#[utoipa::path(
    get,
    path = "/api/v1/responders/{id}/track",
    tag = "responders",
    summary = "The downsampled track as a LineString Feature with times",
    description = "One point per 30 s or 100 m, from PostGIS.",
    params(
        ("id" = String, Path, description = "Responder id"),
        ("from" = Option<DateTime<Utc>>, Query, description = "RFC 3339; default 24 hours before `to`"),
        ("to" = Option<DateTime<Utc>>, Query, description = "RFC 3339; default now"),
    ),
    responses(
        (status = 200, description = "The track", body = schemas::Track),
        (status = 400, description = "Invalid or unknown query parameter", body = schemas::ErrorBody),
        (status = 404, description = "Unknown responder (field `id`)", body = schemas::ErrorBody),
        (status = 503, description = "Database busy or unreachable; retry", body = schemas::ErrorBody),
    )
)]
pub async fn track(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    only(&q, &["from", "to"])?;
    let time = |name: &str, default: DateTime<Utc>| -> Result<DateTime<Utc>, ApiError> {
        match q.get(name) {
            None => Ok(default),
            Some(s) => DateTime::parse_from_rfc3339(s)
                .map(|d| d.with_timezone(&Utc))
                .map_err(|e| ApiError::field(name, format!("must be an RFC 3339 timestamp ({e})"))),
        }
    };
    let now = Utc::now();
    let (from, to) = (
        time("from", now - chrono::Duration::hours(24))?,
        time("to", now)?,
    );
    if st.world.roster().read(|r| r.slot(&id).is_none()) {
        return Err(unknown_responder(&id));
    }
    let points = crate::store::responders::track(&st.pool, &id, from, to).await?;
    let coords: Vec<Value> = points
        .iter()
        .map(|f| json!([f.position.lon(), f.position.lat()]))
        .collect();
    let times: Vec<String> = points
        .iter()
        .map(|f| f.ts.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .collect();
    Ok(Json(json!({
        "type": "Feature",
        "id": id,
        "geometry": {"type": "LineString", "coordinates": coords},
        "properties": {"times": times, "from": from, "to": to},
    })))
}
