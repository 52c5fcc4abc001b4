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

use super::{ApiError, AppState};
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
pub async fn decline(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = path_id(&id)?;
    let change = st.dispatcher.decline(id).await?;
    Ok(Json(change_json(&st, &change)))
}

/// `GET /api/v1/stats/positions`: position ingest counters since start.
pub async fn position_stats(State(st): State<AppState>) -> Json<Value> {
    Json(st.world.position_counters().to_json())
}

/// `GET /api/v1/responders/{id}/track?from=&to=`: the downsampled track.
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
