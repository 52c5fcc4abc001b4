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

use super::schemas;
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
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "meta",
    summary = "Health: 200 when the database answers and the world is loaded",
    description = "Layer counts, the live world's sequence number, recent incidents and subscribers.",
    responses(
        (status = 200, description = "Healthy", body = schemas::Health),
        (status = 503, description = "Database unreachable or no layers loaded (same body; `hint` says what to do)", body = schemas::Health),
    )
)]
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
#[utoipa::path(
    get,
    path = "/api/v1/layers/{name}",
    tag = "layers",
    summary = "A governance layer as an RFC 7946 FeatureCollection",
    description = "Pre-rendered when the layers are loaded; served as `application/geo+json`.",
    params(
        ("name" = String, Path, description = "The layer: `boundary`, `townships`, `grids`, `stations` or `posts`"),
    ),
    responses(
        (status = 200, description = "FeatureCollection of the layer's features", body = Object, content_type = "application/geo+json"),
        (status = 404, description = "Unknown layer (the reason lists the names)", body = schemas::ErrorBody),
    )
)]
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
#[utoipa::path(
    get,
    path = "/api/v1/locate",
    tag = "layers",
    summary = "Jurisdiction of a point",
    description = "District, township, grid, responsible station and nearest post (haversine metres) of a point, answered from the in-memory index.",
    params(
        ("lon" = f64, Query, description = "Longitude in degrees, -180 to 180"),
        ("lat" = f64, Query, description = "Latitude in degrees, -90 to 90"),
        ("crs" = Option<schemas::Crs>, Query, description = "Datum of lon/lat (default `wgs84`); converted to WGS-84 first"),
    ),
    responses(
        (status = 200, description = "Jurisdiction of the (WGS-84) point", body = schemas::Located),
        (status = 400, description = "Missing or invalid lon, lat or crs (field names it)", body = schemas::ErrorBody),
    )
)]
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
#[utoipa::path(
    post,
    path = "/api/v1/incidents",
    tag = "incidents",
    summary = "Ingest one incident or an array (≤ 1000)",
    description = "Idempotent on (source, source_id); all-or-nothing; answered after the commit. Coordinates in GCJ-02 or BD-09 (`crs`) are converted to WGS-84 at the edge; without lon/lat the `address` is geocoded.",
    request_body(content = schemas::NewIncidents, content_type = "application/json"),
    responses(
        (status = 201, description = "At least one incident was created; the stored records in input order (one object for an object)", body = schemas::IncidentRecords),
        (status = 200, description = "Every incident was already stored (idempotent resend); the stored records", body = schemas::IncidentRecords),
        (status = 400, description = "Invalid input; the field (e.g. `[3].lat`) and the reason", body = schemas::ErrorBody),
        (status = 413, description = "Body larger than the limit", body = schemas::ErrorBody),
        (status = 415, description = "Content-Type is not application/json", body = schemas::ErrorBody),
        (status = 503, description = "Too many ingest requests in flight, the ingest queue is full or the database is busy; retry (Retry-After: 1)", body = schemas::ErrorBody),
    )
)]
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
#[utoipa::path(
    get,
    path = "/api/v1/incidents",
    tag = "incidents",
    summary = "Stored incidents, newest first (by reported_at, then id)",
    description = "From PostGIS. Unknown query parameters are refused. A full page carries `next`: the same query with a `cursor`, so any period [since, until) can be read in full, each incident exactly once.",
    params(
        ("bbox" = Option<String>, Query, description = "w,s,e,n WGS-84 degrees, e.g. `121.2,28.6,121.3,28.7`"),
        ("since" = Option<DateTime<Utc>>, Query, description = "Only incidents reported at or after this RFC 3339 time"),
        ("until" = Option<DateTime<Utc>>, Query, description = "Only incidents reported before this RFC 3339 time (exclusive)"),
        ("cursor" = Option<String>, Query, description = "Continue after the last incident of the previous page (taken from its `next` link; opaque)"),
        ("limit" = Option<i64>, Query, description = "1 to 5000, default 500"),
        ("located" = Option<bool>, Query, description = "`true`: only located incidents; `false`: only unlocated ones (not with bbox)"),
        ("source" = Option<String>, Query, description = "One source, by code or Chinese name"),
    ),
    responses(
        (status = 200, description = "FeatureCollection of incidents", body = schemas::IncidentCollection, content_type = "application/geo+json"),
        (status = 400, description = "Invalid or unknown query parameter (field names it)", body = schemas::ErrorBody),
        (status = 503, description = "Database busy or unreachable; retry", body = schemas::ErrorBody),
    )
)]
pub async fn get_incidents(
    State(st): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    if let Some(k) = q.keys().find(|k| {
        ![
            "bbox", "since", "until", "cursor", "limit", "located", "source",
        ]
        .contains(&k.as_str())
    }) {
        return Err(ApiError::field(
            k.clone(),
            "unknown query parameter; expected bbox, since, until, cursor, limit, located, source",
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
    let time = |name: &'static str| {
        q.get(name)
            .map(|s| {
                DateTime::parse_from_rfc3339(s)
                    .map(|d| d.with_timezone(&Utc))
                    .map_err(|e| {
                        ApiError::field(name, format!("must be an RFC 3339 timestamp ({e})"))
                    })
            })
            .transpose()
    };
    let since = time("since")?;
    let until = time("until")?;
    let cursor = q
        .get("cursor")
        .map(|c| {
            parse_cursor(c).ok_or_else(|| {
                ApiError::field(
                    "cursor",
                    "not a cursor of this API (use the `next` link as given)",
                )
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
            until,
            before: cursor,
            limit,
            located,
            source,
        },
    )
    .await?;
    // a full page may have more after it: the same query, continued after its last row
    let next = match list.last() {
        Some(last) if list.len() as i64 == limit => {
            let mut params: Vec<(String, String)> = q
                .iter()
                .filter(|(k, _)| k.as_str() != "cursor")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            params.sort();
            params.push(("cursor".into(), make_cursor(last.reported_at, last.id)));
            let query: String = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(params)
                .finish();
            Some(format!("/api/v1/incidents?{query}"))
        }
        _ => None,
    };
    let features: Vec<Value> = list.iter().map(|i| i.to_feature()).collect();
    let body = json!({"type": "FeatureCollection", "features": features, "next": next});
    Ok((
        [(header::CONTENT_TYPE, "application/geo+json")],
        body.to_string(),
    )
        .into_response())
}

/// A page cursor: the (reported_at in µs since the epoch, id) of the last row.
fn make_cursor(t: DateTime<Utc>, id: i64) -> String {
    format!("{}_{id}", t.timestamp_micros())
}

fn parse_cursor(c: &str) -> Option<(DateTime<Utc>, i64)> {
    let (t, id) = c.split_once('_')?;
    let t = DateTime::from_timestamp_micros(t.parse().ok()?)?;
    Some((t, id.parse().ok()?))
}

/// China Standard Time (UTC+8, no daylight saving): the command center's day.
const CST_OFFSET_SECS: i32 = 8 * 3600;

/// `GET /api/v1/stats/today`: incidents received since local midnight
/// (Asia/Shanghai), by source, from PostGIS — not from what a screen holds.
#[utoipa::path(
    get,
    path = "/api/v1/stats/today",
    tag = "incidents",
    summary = "Incidents received since midnight Asia/Shanghai, by source",
    description = "Counted in PostGIS, with the highest incident id at that moment.",
    responses(
        (status = 200, description = "Today's counts", body = schemas::StatsToday),
        (status = 503, description = "Database busy or unreachable; retry", body = schemas::ErrorBody),
    )
)]
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
