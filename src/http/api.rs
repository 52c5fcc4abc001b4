//! REST handlers.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::{ApiError, AppState};
use crate::domain::{Bbox, LayerKind, Position};
use crate::ingest::incident_json::{self, Shape};
use crate::spatial::crs::Datum;
use crate::store::incidents::IncidentQuery;

pub const DEFAULT_LIMIT: i64 = 500;
pub const MAX_LIMIT: i64 = 5000;

pub async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {}", uri.path()))
}

/// `GET /healthz`: 200 when the database answers and the world is loaded.
pub async fn healthz(State(st): State<AppState>) -> Response {
    let db = crate::store::ping(&st.pool, Duration::from_secs(2)).await;
    let stats = tokio::time::timeout(Duration::from_secs(2), st.world.stats())
        .await
        .ok()
        .flatten();
    let snap = st.world.snapshot();
    let counts: serde_json::Map<String, Value> = LayerKind::ALL
        .iter()
        .map(|k| (k.name().to_string(), json!(snap.layers.count(*k))))
        .collect();
    let world_loaded = stats.is_some() && !snap.layers.boundary.is_empty();
    let ok = db && world_loaded;
    let body = json!({
        "status": if ok { "ok" } else { "unavailable" },
        "database": if db { "ok" } else { "unreachable" },
        "world": {
            "loaded": world_loaded,
            "layers": counts,
            "loaded_at": snap.loaded_at.to_rfc3339(),
            "seq": stats.as_ref().map(|s| s.seq),
            "recent_incidents": stats.as_ref().map(|s| s.recent_incidents),
            "subscribers": stats.as_ref().map(|s| s.subscribers),
        },
        "hint": if snap.layers.boundary.is_empty() { Some("no boundary layer: run `lianqin import geodata/*.geojson`, then restart") } else { None },
    });
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// `GET /api/v1/layers/{name}`.
pub async fn layer(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let kind = LayerKind::parse(&name).ok_or_else(|| {
        let names: Vec<&str> = LayerKind::ALL.iter().map(|k| k.name()).collect();
        ApiError::NotFound(format!(
            "unknown layer {name:?}; expected one of {}",
            names.join(", ")
        ))
    })?;
    let snap = st.world.snapshot();
    let body = snap
        .layer_json
        .get(&kind)
        .cloned()
        .unwrap_or_else(|| Bytes::from_static(b"{}"));
    Ok(([(header::CONTENT_TYPE, "application/geo+json")], body).into_response())
}

fn number(q: &HashMap<String, String>, name: &str) -> Result<f64, ApiError> {
    let raw = q
        .get(name)
        .ok_or_else(|| ApiError::field(name, "is required"))?;
    raw.trim()
        .parse::<f64>()
        .map_err(|_| ApiError::field(name, format!("must be a number in degrees, got {raw:?}")))
}

/// `GET /api/v1/locate?lon=&lat=[&crs=gcj02]`.
pub async fn locate(
    State(st): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let lon = number(&q, "lon")?;
    let lat = number(&q, "lat")?;
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
    let p = Position::new(x, y).map_err(|e| ApiError::field(e.field(), e.to_string()))?;
    let j = st.world.snapshot().index.locate(p);
    let mut v = serde_json::to_value(&j).expect("jurisdiction serialises");
    v["lon"] = json!(p.lon());
    v["lat"] = json!(p.lat());
    Ok(Json(v))
}

/// `POST /api/v1/incidents`: one object or an array. Answers after the commit.
pub async fn post_incidents(
    State(st): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(|r| match ApiError::from(r) {
        ApiError::TooLarge { .. } => ApiError::TooLarge {
            limit: st.limits.body_bytes,
        },
        other => other,
    })?;
    let (shape, batch) = incident_json::parse_body(&body, Utc::now())?;
    let _permit = st
        .ingest_permits
        .try_acquire()
        .map_err(|_| ApiError::Unavailable("too many ingest requests in flight; retry shortly"))?;
    let stored = st.ingest.submit(batch).await?;
    let any_created = stored.iter().any(|s| s.created);
    let records: Vec<Value> = stored
        .iter()
        .map(|s| s.incident.to_record(s.created))
        .collect();
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

/// `GET /api/v1/incidents?bbox=w,s,e,n&since=RFC3339&limit=N&located=&source=`, newest first.
pub async fn get_incidents(
    State(st): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    if let Some(k) = q
        .keys()
        .find(|k| !["bbox", "since", "limit", "located", "source"].contains(&k.as_str()))
    {
        return Err(ApiError::field(
            k.clone(),
            "unknown query parameter; expected bbox, since, limit, located, source",
        ));
    }
    let located = match q.get("located").map(String::as_str) {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(other) => {
            return Err(ApiError::field(
                "located",
                format!("must be true or false, got {other:?}"),
            ))
        }
    };
    let source = q
        .get("source")
        .map(|s| {
            crate::domain::Source::parse_name(s)
                .ok_or_else(|| ApiError::field("source", format!("unknown source {s:?}")))
        })
        .transpose()?;
    let bbox = q
        .get("bbox")
        .map(|b| Bbox::parse(b).map_err(|e| ApiError::field("bbox", e.to_string())))
        .transpose()?;
    let since = q
        .get("since")
        .map(|s| {
            DateTime::parse_from_rfc3339(s)
                .map(|d| d.with_timezone(&Utc))
                .map_err(|e| {
                    ApiError::field("since", format!("must be an RFC 3339 timestamp ({e})"))
                })
        })
        .transpose()?;
    let limit = match q.get("limit") {
        None => DEFAULT_LIMIT,
        Some(l) => match l.parse::<i64>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                return Err(ApiError::field(
                    "limit",
                    format!("must be an integer from 1 to {MAX_LIMIT}, got {l:?}"),
                ))
            }
        },
    };
    if bbox.is_some() && located == Some(false) {
        return Err(ApiError::field(
            "located",
            "located=false cannot be combined with bbox (unlocated incidents have no position)",
        ));
    }
    let list = crate::store::incidents::query(
        &st.pool,
        &IncidentQuery {
            bbox,
            since,
            limit,
            located,
            source,
        },
    )
    .await?;
    let features: Vec<Value> = list.iter().map(|i| i.to_feature()).collect();
    let body = json!({"type": "FeatureCollection", "features": features});
    Ok((
        [(header::CONTENT_TYPE, "application/geo+json")],
        body.to_string(),
    )
        .into_response())
}

/// China Standard Time (UTC+8, no daylight saving): the command center's day.
const CST_OFFSET_SECS: i32 = 8 * 3600;

/// `GET /api/v1/stats/today`: incidents received since local midnight
/// (Asia/Shanghai), by source, from PostGIS — not from what a screen holds.
pub async fn stats_today(State(st): State<AppState>) -> Result<Json<Value>, ApiError> {
    let tz = chrono::FixedOffset::east_opt(CST_OFFSET_SECS).expect("valid offset");
    let now_local = Utc::now().with_timezone(&tz);
    let midnight = now_local
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .and_then(|m| m.and_local_timezone(tz).single())
        .expect("midnight exists in a fixed offset")
        .with_timezone(&Utc);
    let (rows, max_id) = crate::store::incidents::counts_since(&st.pool, midnight).await?;
    let mut by_source = serde_json::Map::new();
    for s in crate::domain::Source::ALL {
        by_source.insert(s.code().to_string(), json!(0));
    }
    let mut total = 0;
    for (source, n) in rows {
        total += n;
        by_source.insert(source, json!(n));
    }
    Ok(Json(json!({
        "day": now_local.date_naive().to_string(),
        "timezone": "Asia/Shanghai",
        "since": midnight.to_rfc3339(),
        "total": total,
        "by_source": by_source,
        "max_id": max_id,
    })))
}
