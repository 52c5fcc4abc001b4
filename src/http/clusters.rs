//! Repeat-call clusters: list and detail from PostGIS, commander merge/split
//! through the live writer, repeat statistics (issue 7).

use std::collections::HashMap;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::schemas;
use super::{ApiError, AppState};
use crate::cluster::ActionError;
use crate::domain::Bbox;
use crate::live::clusters::{Action, ActionFailure};
use crate::store::clusters::{Actor, ClusterQuery, ClusterRow, RepeatsBy};

const DEFAULT_LIMIT: i64 = 500;
const MAX_LIMIT: i64 = 5_000;
const MAX_MERGE: usize = 50;
const MAX_SPLIT: usize = 500;

fn only(q: &HashMap<String, String>, allowed: &[&str]) -> Result<(), ApiError> {
    match q.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(ApiError::field(
            k.clone(),
            format!("unknown query parameter; expected {}", allowed.join(", ")),
        )),
        None => Ok(()),
    }
}

fn time(
    q: &HashMap<String, String>,
    name: &'static str,
) -> Result<Option<DateTime<Utc>>, ApiError> {
    q.get(name)
        .map(|s| {
            DateTime::parse_from_rfc3339(s)
                .map(|d| d.with_timezone(&Utc))
                .map_err(|e| ApiError::field(name, format!("must be an RFC 3339 timestamp ({e})")))
        })
        .transpose()
}

fn path_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| ApiError::field("id", format!("must be a positive integer id, got {raw:?}")))
}

/// A stored cluster as a Feature (the same shape the stream sends).
pub fn row_feature(r: &ClusterRow) -> Value {
    let s = &r.summary;
    let mut props = serde_json::to_value(s).expect("summary serialises");
    props["open"] = json!(r.open);
    props["extent"] = r.extent.clone().unwrap_or(Value::Null);
    props["repeats"] = json!(s.members.saturating_sub(1));
    let geometry = match s.centroid {
        Some(c) => json!({"type": "Point", "coordinates": c}),
        None => Value::Null,
    };
    json!({"type": "Feature", "id": s.id, "geometry": geometry, "properties": props})
}

#[utoipa::path(
    get,
    path = "/api/v1/clusters",
    tag = "clusters",
    summary = "Repeat-call clusters as GeoJSON (centroid Points; hull in `extent`)",
    description = "From PostGIS; clusters merged away are left out. By default clusters of at least 2 calls, newest last call first. Unknown query parameters are refused.",
    params(
        ("bbox" = Option<String>, Query, description = "w,s,e,n WGS-84; clusters whose centroid is inside"),
        ("since" = Option<DateTime<Utc>>, Query, description = "Clusters whose last call is at or after this"),
        ("until" = Option<DateTime<Utc>>, Query, description = "Clusters whose first call is before this"),
        ("open" = Option<bool>, Query, description = "true: open clusters only; false: closed only"),
        ("min_members" = Option<u32>, Query, description = "At least this many calls (default 2; 1 lists single calls too)"),
        ("family" = Option<String>, Query, description = "Only this category family (e.g. `noise`)"),
        ("limit" = Option<i64>, Query, description = "1–5000, default 500"),
    ),
    responses(
        (status = 200, description = "FeatureCollection of clusters", body = schemas::ClusterCollection, content_type = "application/geo+json"),
        (status = 400, description = "Invalid or unknown query parameter (field names it)", body = schemas::ErrorBody),
    )
)]
pub async fn list_clusters(
    State(st): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    only(
        &q,
        &[
            "bbox",
            "since",
            "until",
            "open",
            "min_members",
            "family",
            "limit",
        ],
    )?;
    let bbox = q
        .get("bbox")
        .map(|b| Bbox::parse(b).map_err(|e| ApiError::field("bbox", e.to_string())))
        .transpose()?;
    let open = match q.get("open").map(String::as_str) {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(o) => {
            return Err(ApiError::field(
                "open",
                format!("must be true or false, got {o:?}"),
            ))
        }
    };
    let min_members = match q.get("min_members") {
        None => 2,
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=1_000_000).contains(n))
            .ok_or_else(|| {
                ApiError::field("min_members", format!("must be an integer ≥ 1, got {v:?}"))
            })?,
    };
    let limit = match q.get("limit") {
        None => DEFAULT_LIMIT,
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| ApiError::field("limit", format!("must be 1–{MAX_LIMIT}, got {v:?}")))?,
    };
    let family = q.get("family").cloned();
    if let Some(f) = &family {
        if !st.cluster_families.iter().any(|n| n == f) {
            return Err(ApiError::field(
                "family",
                format!(
                    "unknown family {f:?}; known: {}",
                    st.cluster_families.join(", ")
                ),
            ));
        }
    }
    let query = ClusterQuery {
        bbox,
        since: time(&q, "since")?,
        until: time(&q, "until")?,
        open,
        min_members,
        family,
        limit,
    };
    let rows = crate::store::clusters::list(&st.pool, &query).await?;
    let features: Vec<Value> = rows.iter().map(row_feature).collect();
    Ok((
        [(header::CONTENT_TYPE, "application/geo+json")],
        Json(json!({"type": "FeatureCollection", "features": features})),
    )
        .into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/clusters/{id}",
    tag = "clusters",
    summary = "One cluster with its members (and why each joined) and its history",
    description = "A cluster merged into another answers with `replaced_by` set (follow it); its members are listed under the survivor.",
    params(("id" = i64, Path, description = "Cluster id (the incident that opened it)")),
    responses(
        (status = 200, description = "The cluster", body = schemas::ClusterDetail),
        (status = 400, description = "Not an id (field `id`)", body = schemas::ErrorBody),
        (status = 404, description = "No such cluster (field `id`)", body = schemas::ErrorBody),
    )
)]
pub async fn get_cluster(
    State(st): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = path_id(&raw)?;
    let (row, members, history) = crate::store::clusters::get(&st.pool, id)
        .await?
        .ok_or_else(|| not_found(id))?;
    Ok(Json(json!({
        "cluster": row_feature(&row),
        "members": members,
        "history": history,
    })))
}

fn not_found(id: i64) -> ApiError {
    ApiError::Refused {
        status: StatusCode::NOT_FOUND,
        error: "not_found",
        field: "id".into(),
        reason: format!("no cluster {id}"),
        extra: Value::Null,
    }
}

fn ids_of(v: &Value, field: &str, max: usize) -> Result<Vec<i64>, ApiError> {
    let list = v
        .get(field)
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::field(field, "is required: an array of ids"))?;
    if list.is_empty() || list.len() > max {
        return Err(ApiError::field(field, format!("must hold 1–{max} ids")));
    }
    list.iter()
        .enumerate()
        .map(|(i, x)| {
            x.as_i64().filter(|n| *n > 0).ok_or_else(|| {
                ApiError::field(format!("{field}[{i}]"), "must be a positive integer id")
            })
        })
        .collect()
}

fn actor_of(v: &Value) -> Result<Actor, ApiError> {
    let text = |k: &str| -> Result<Option<String>, ApiError> {
        match v.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.chars().count() <= 200 => Ok(Some(s.clone())),
            Some(_) => Err(ApiError::field(
                k,
                "must be a string of at most 200 characters",
            )),
        }
    };
    Ok(Actor {
        name: text("actor")?,
        note: text("note")?,
    })
}

fn body_of(body: Result<Json<Value>, JsonRejection>, allowed: &[&str]) -> Result<Value, ApiError> {
    let Json(v) = body?;
    let obj = v
        .as_object()
        .ok_or_else(|| ApiError::field("body", "must be a JSON object"))?;
    if let Some(k) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ApiError::field(
            k.clone(),
            format!("unknown field; expected {}", allowed.join(", ")),
        ));
    }
    Ok(v)
}

async fn act(st: &AppState, action: Action, actor: Actor) -> Result<Json<Value>, ApiError> {
    let outcome = st
        .world
        .cluster_action(action, actor)
        .await
        .ok_or(ApiError::Unavailable("the service is shutting down"))?;
    match outcome {
        Ok(o) => {
            let ids: Vec<i64> = o.clusters.iter().map(|s| s.id).collect();
            // answer from PostGIS: what was stored is what the caller sees
            let mut features = Vec::new();
            for id in ids {
                if let Some((row, _, _)) = crate::store::clusters::get(&st.pool, id).await? {
                    features.push(row_feature(&row));
                }
            }
            Ok(Json(json!({
                "cluster_id": o.cluster_id,
                "new_cluster_id": o.new_cluster_id,
                "clusters": features,
            })))
        }
        Err(ActionFailure::NotStored) => Err(ApiError::Unavailable(
            "the change could not be stored yet (database unavailable): it is not published; if the database \
             is back it is stored with the next change, so check GET /api/v1/clusters/{id} before repeating it",
        )),
        Err(ActionFailure::Refused(e)) => Err(match e {
            ActionError::UnknownCluster(id) => ApiError::Refused {
                status: StatusCode::NOT_FOUND,
                error: "not_found",
                field: "id".into(),
                reason: format!(
                    "cluster {id} is not in the live world (unknown, merged away or past its horizon)"
                ),
                extra: Value::Null,
            },
            ActionError::Replaced(a, b) => ApiError::Refused {
                status: StatusCode::CONFLICT,
                error: "conflict",
                field: "id".into(),
                reason: format!("cluster {a} was merged into cluster {b}"),
                extra: json!({"replaced_by": b}),
            },
            ActionError::NotMember(i, c) => ApiError::Refused {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                error: "invalid_request",
                field: "incidents".into(),
                reason: format!("incident {i} is not a member of cluster {c} (in memory)"),
                extra: Value::Null,
            },
            ActionError::Invalid(reason) => {
                let (field, reason) = reason
                    .split_once(": ")
                    .map(|(f, r)| (f.to_string(), r.to_string()))
                    .unwrap_or(("body".into(), reason));
                ApiError::Refused {
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                    error: "invalid_request",
                    field,
                    reason,
                    extra: Value::Null,
                }
            }
        }),
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/clusters/{id}/merge",
    tag = "clusters",
    summary = "A commander merges other clusters into this one",
    description = "Recorded as REPLACING/REPLACED links (manual, with `actor` and `note`) and in the event log; every member moves; the stream's `clusters` layer updates. Later automatic clustering never undoes it.",
    params(("id" = i64, Path, description = "The cluster that stays")),
    request_body(content = schemas::ClusterMergeRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Merged; the clusters as stored now", body = schemas::ClusterActionAnswer),
        (status = 400, description = "Invalid body (field names it)", body = schemas::ErrorBody),
        (status = 404, description = "A cluster is not in the live world", body = schemas::ErrorBody),
        (status = 409, description = "The cluster was merged into another; `replaced_by` names it", body = schemas::ErrorBody),
        (status = 422, description = "Refused (e.g. the cluster itself in `with`)", body = schemas::ErrorBody),
    )
)]
pub async fn merge_cluster(
    State(st): State<AppState>,
    Path(raw): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = path_id(&raw)?;
    let v = body_of(body, &["with", "actor", "note"])?;
    let others = ids_of(&v, "with", MAX_MERGE)?;
    let actor = actor_of(&v)?;
    act(&st, Action::Merge { into: id, others }, actor).await
}

#[utoipa::path(
    post,
    path = "/api/v1/clusters/{id}/split",
    tag = "clusters",
    summary = "A commander splits members off into a new cluster",
    description = "The new cluster is named by the earliest of the listed incidents; SPLIT/PARENT/CHILD links record it, and the two parts are kept apart from then on (a call near both joins the older part). At least one member must stay.",
    params(("id" = i64, Path, description = "The cluster to split")),
    request_body(content = schemas::ClusterSplitRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Split; both clusters as stored now", body = schemas::ClusterActionAnswer),
        (status = 400, description = "Invalid body (field names it)", body = schemas::ErrorBody),
        (status = 404, description = "The cluster is not in the live world", body = schemas::ErrorBody),
        (status = 409, description = "The cluster was merged into another; `replaced_by` names it", body = schemas::ErrorBody),
        (status = 422, description = "An incident is not a member, or none would stay", body = schemas::ErrorBody),
    )
)]
pub async fn split_cluster(
    State(st): State<AppState>,
    Path(raw): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = path_id(&raw)?;
    let v = body_of(body, &["incidents", "actor", "note"])?;
    let incidents = ids_of(&v, "incidents", MAX_SPLIT)?;
    let actor = actor_of(&v)?;
    act(
        &st,
        Action::Split {
            cluster: id,
            incidents,
        },
        actor,
    )
    .await
}

#[utoipa::path(
    get,
    path = "/api/v1/stats/repeats",
    tag = "clusters",
    summary = "Repeat-call rate by day, township, grid, category or source; top repeat places and callers",
    description = "Counted from the stored clusters over calls reported in [from, to): a call is a repeat when an earlier call (event time) of its cluster exists, also one before `from`. Compare two periods to measure a drop in repeat calls. Days are Asia/Shanghai days.",
    params(
        ("from" = DateTime<Utc>, Query, description = "Start (inclusive), RFC 3339; default 30 days before `to`"),
        ("to" = DateTime<Utc>, Query, description = "End (exclusive), RFC 3339; default now"),
        ("by" = Option<String>, Query, description = "`day` (default), `township`, `grid`, `category` or `source`"),
    ),
    responses(
        (status = 200, description = "Repeat statistics", body = schemas::RepeatStats),
        (status = 400, description = "Invalid or unknown query parameter (field names it)", body = schemas::ErrorBody),
    )
)]
pub async fn stats_repeats(
    State(st): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    only(&q, &["from", "to", "by"])?;
    let to = time(&q, "to")?.unwrap_or_else(Utc::now);
    let from = time(&q, "from")?.unwrap_or(to - chrono::Duration::days(30));
    if from >= to {
        return Err(ApiError::field("from", "must be before `to`"));
    }
    if to - from > chrono::Duration::days(400) {
        return Err(ApiError::field(
            "from",
            "the period may be at most 400 days",
        ));
    }
    let by_name = q.get("by").map(String::as_str).unwrap_or("day");
    let by = RepeatsBy::parse(by_name).ok_or_else(|| {
        ApiError::field(
            "by",
            format!("must be day, township, grid, category or source, got {by_name:?}"),
        )
    })?;
    let r = crate::store::clusters::repeats(&st.pool, from, to, by).await?;
    let mut v = serde_json::to_value(&r).expect("repeats serialise");
    v["from"] = json!(from);
    v["to"] = json!(to);
    v["by"] = json!(by_name);
    Ok(Json(v))
}
