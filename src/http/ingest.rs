//! Multi-source ingest over HTTP: `POST /api/v1/ingest/{source}` (one native
//! record or a batch; good records land, bad ones are answered with index,
//! field and reason), `POST /api/v1/classify` (try the classifier, store
//! nothing), `GET /api/v1/taxonomy`, `GET /api/v1/stats/ingest`.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Timelike, Utc};
use serde_json::{json, Map, Value};

use super::schemas;
use super::{ApiError, AppState};
use crate::classify::{Classifier, Taxonomy, TAGS};
use crate::domain::Classification;
use crate::ingest::sources::{self, SourceSystem};
use crate::ingest::{records, FieldError, Intake};

fn body_of(st: &AppState, body: Result<Json<Value>, JsonRejection>) -> Result<Value, ApiError> {
    body.map(|Json(v)| v).map_err(|r| match ApiError::from(r) {
        ApiError::TooLarge { .. } => ApiError::TooLarge {
            limit: st.limits.body_bytes,
        },
        other => other,
    })
}

fn source_of(name: &str) -> Result<SourceSystem, ApiError> {
    sources::parse_source(name).ok_or_else(|| {
        let known: Vec<String> = SourceSystem::ALL
            .iter()
            .map(|s| format!("{} ({})", s.code(), s.label_zh()))
            .collect();
        ApiError::Refused {
            status: StatusCode::NOT_FOUND,
            error: "unknown_source",
            field: "source".into(),
            reason: format!(
                "unknown source {name:?}; expected one of {}",
                known.join(", ")
            ),
            extra: Value::Null,
        }
    })
}

/// `POST /api/v1/ingest/{source}`.
#[utoipa::path(
    post,
    path = "/api/v1/ingest/{source}",
    tag = "ingest",
    summary = "Ingest one native record or a batch from a source system",
    description = "The body is the source system's own record shape (one object or an array; see `GET /api/v1/taxonomy` for the sources). Each record is normalized, geocoded when it has no coordinates, classified and located; good records are stored, bad ones are answered with index, field and reason.",
    params(
        ("source" = String, Path, description = "The source system, by code or name (e.g. `110`, `12345`, `xinfang`, `eido`)"),
    ),
    request_body(content = Object, description = "One native record or an array of them", content_type = "application/json"),
    responses(
        (status = 201, description = "At least one record was created", body = schemas::IngestAnswer),
        (status = 200, description = "Records were accepted but all were already stored", body = schemas::IngestAnswer),
        (status = 422, description = "No record was accepted; `results` gives each refusal", body = schemas::IngestAnswer),
        (status = 400, description = "The body is not a record or an array of records", body = schemas::ErrorBody),
        (status = 404, description = "Unknown source (`unknown_source`; the reason lists them)", body = schemas::ErrorBody),
        (status = 413, description = "Body larger than the limit", body = schemas::ErrorBody),
        (status = 415, description = "Content-Type is not application/json", body = schemas::ErrorBody),
        (status = 503, description = "Too many ingest requests in flight, the queue is full or the database is busy; retry", body = schemas::ErrorBody),
    )
)]
pub async fn post_ingest(
    State(st): State<AppState>,
    Path(source): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let system = source_of(&source)?;
    let body = body_of(&st, body)?;
    let parsed = sources::parse_body(system, &body, Utc::now())
        .map_err(|e| ApiError::Field(FieldError::new(e.field, e.reason)))?;
    // per index: Ok(position in the accepted batch) or the refusal
    let mut slots: Vec<Result<usize, FieldError>> = Vec::with_capacity(parsed.len());
    let mut good: Vec<Intake> = Vec::new();
    for r in parsed {
        let r = r
            .map_err(|e| FieldError::new(e.field, e.reason))
            .and_then(records::to_intake);
        match r {
            Ok(intake) => {
                slots.push(Ok(good.len()));
                good.push(intake);
            }
            Err(e) => slots.push(Err(e)),
        }
    }
    let stored = if good.is_empty() {
        Vec::new()
    } else {
        let _permit = st.ingest_permits.try_acquire().map_err(|_| {
            ApiError::Unavailable("too many ingest requests in flight; retry shortly")
        })?;
        st.ingest.submit(good).await?
    };
    let (mut created, mut duplicates, mut rejected) = (0usize, 0usize, 0usize);
    let results: Vec<Value> = slots
        .into_iter()
        .enumerate()
        .map(|(index, slot)| match slot {
            Ok(k) => {
                let s = &stored[k];
                if s.created {
                    created += 1;
                } else {
                    duplicates += 1;
                }
                let i = &s.incident;
                let c = i.detail.classification.as_ref();
                json!({
                    "index": index,
                    "status": if s.created { "created" } else { "duplicate" },
                    "id": i.id,
                    "source_id": i.source_id,
                    "located": i.position.is_some(),
                    "geocode": i.detail.geocode,
                    "township_code": i.jurisdiction.township_code,
                    "grid_code": i.jurisdiction.grid_code,
                    "leaf_id": c.map(|c| &c.leaf_id),
                    "leaf_name": c.map(|c| &c.leaf_name),
                    "group_name": c.map(|c| &c.group_name),
                    "confidence": c.map(|c| c.confidence),
                    "tags": c.map(|c| &c.tags),
                    "lead_department": c.map(|c| &c.lead_department),
                })
            }
            Err(e) => {
                rejected += 1;
                json!({"index": index, "status": "rejected", "field": e.field, "reason": e.reason})
            }
        })
        .collect();
    let status = if created + duplicates == 0 {
        StatusCode::UNPROCESSABLE_ENTITY
    } else if created > 0 {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let body = json!({
        "source": system.code(),
        "source_label": system.label_zh(),
        "accepted": created + duplicates,
        "created": created,
        "duplicates": duplicates,
        "rejected": rejected,
        "results": results,
    });
    Ok((status, Json(body)).into_response())
}

/// `POST /api/v1/classify` `{"text": …, "source": …, "source_category": …, "at": …}`.
#[utoipa::path(
    post,
    path = "/api/v1/classify",
    tag = "ingest",
    summary = "Classify a text (stores nothing)",
    description = "The taxonomy leaf, confidence, runners-up, rule tags and lead department the pipeline would give. Body at most 64 KiB.",
    request_body(content = schemas::ClassifyRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The classification", body = Classification),
        (status = 400, description = "Missing or invalid field (field names it)", body = schemas::ErrorBody),
        (status = 404, description = "Unknown source (`unknown_source`)", body = schemas::ErrorBody),
        (status = 413, description = "Body larger than 64 KiB", body = schemas::ErrorBody),
        (status = 415, description = "Content-Type is not application/json", body = schemas::ErrorBody),
    )
)]
pub async fn post_classify(
    State(st): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = body_of(&st, body)?;
    let obj = body
        .as_object()
        .ok_or_else(|| ApiError::field("body", "must be a JSON object with a `text`"))?;
    const FIELDS: &[&str] = &["text", "source", "source_category", "at"];
    if let Some(k) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(ApiError::field(
            k.as_str(),
            format!("unknown field; expected one of {}", FIELDS.join(", ")),
        ));
    }
    let text = match obj.get("text") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.as_str(),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err(ApiError::field("text", "is required (a non-empty string)"))
        }
        Some(_) => return Err(ApiError::field("text", "must be a string")),
    };
    if text.chars().count() > 4000 {
        return Err(ApiError::field("text", "must be at most 4000 characters"));
    }
    let source = match obj.get("source") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(source_of(s)?),
        Some(_) => return Err(ApiError::field("source", "must be a string")),
    };
    let code = match obj.get("source_category") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => return Err(ApiError::field("source_category", "must be a string")),
    };
    let hour = match obj.get("at") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            let t = DateTime::parse_from_rfc3339(s).map_err(|e| {
                ApiError::field("at", format!("must be an RFC 3339 timestamp ({e})"))
            })?;
            Some(t.with_timezone(&Utc).hour())
        }
        Some(_) => return Err(ApiError::field("at", "must be a string")),
    }
    .map(|h| (h + 8) % 24);
    let c = Classifier::standard().classify(text, source.map(|s| s.code()), code, hour);
    Ok(Json(
        serde_json::to_value(c).expect("a classification serialises"),
    ))
}

/// `GET /api/v1/taxonomy`: groups with their leaves, tags, source names.
#[utoipa::path(
    get,
    path = "/api/v1/taxonomy",
    tag = "ingest",
    summary = "The incident taxonomy: groups with their leaves, rule tags, source systems",
    responses(
        (status = 200, description = "The taxonomy", body = schemas::TaxonomyOut),
    )
)]
pub async fn get_taxonomy() -> Json<Value> {
    let t = Taxonomy::standard();
    let groups: Vec<Value> = t
        .groups()
        .iter()
        .map(|g| {
            let leaves: Vec<Value> = t
                .leaves()
                .iter()
                .filter(|l| l.group_id == g.id)
                .map(|l| {
                    json!({"id": l.id, "name": l.name, "name_en": l.name_en,
                           "lead": l.lead, "assist": l.assist, "deadline": l.deadline})
                })
                .collect();
            json!({"id": g.id, "name": g.name, "name_en": g.name_en,
                   "from_text": g.id.as_str() != "15", "leaves": leaves})
        })
        .collect();
    let tags: Vec<Value> = TAGS
        .iter()
        .map(|(code, label)| json!({"code": code, "label": label}))
        .collect();
    let srcs: Vec<Value> = SourceSystem::ALL
        .iter()
        .map(|s| json!({"code": s.code(), "label": s.label_zh(), "names": s.names()}))
        .collect();
    let mut m = Map::new();
    m.insert("groups".into(), Value::Array(groups));
    m.insert("tags".into(), Value::Array(tags));
    m.insert("sources".into(), Value::Array(srcs));
    Json(Value::Object(m))
}

/// `GET /api/v1/stats/ingest`: pipeline counters and time per stage.
#[utoipa::path(
    get,
    path = "/api/v1/stats/ingest",
    tag = "ingest",
    summary = "Ingest pipeline counters since start and mean time per record and stage",
    responses(
        (status = 200, description = "Counters", body = crate::ingest::PipelineStatsOut),
    )
)]
pub async fn stats_ingest(State(st): State<AppState>) -> Json<Value> {
    Json(serde_json::to_value(st.ingest.stats()).expect("stats serialise"))
}
