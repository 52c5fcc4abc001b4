//! The OpenAPI 3.1 document at `GET /openapi.json`, derived from the code:
//! every route's path, method, parameters, bodies and answers come from its
//! handler's `#[utoipa::path]` attribute (collected by `super::router`, so a
//! route cannot exist without its entry); this file adds only the document's
//! info and tags.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa::OpenApi;

use super::schemas;
use super::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "lianqin",
        description = "Real-time geospatial core of the Huangyan joint-duty command center. Coordinates are WGS-84 lon/lat; distances are metres. The WebSocket stream at /api/v1/stream is described in docs/STREAM.md. Every error answer carries `{error, field, reason}` (see the `Error` schema)."
    ),
    tags(
        (name = "meta", description = "Health and this document"),
        (name = "layers", description = "Governance layers and jurisdiction lookup"),
        (name = "incidents", description = "Incidents: ingest, queries, counts"),
        (name = "ingest", description = "Multi-source ingest, classifier, taxonomy"),
        (name = "responders", description = "Roster, positions (incl. the OsmAnd protocol), tracks"),
        (name = "dispatch", description = "Recommendations, assignments, acknowledgements, statuses"),
        (name = "risk", description = "Heat, hotspots, emerging hotspots, forecast on H3 cells"),
        (name = "clusters", description = "Repeat-call clusters: list, detail, merge/split by hand, repeat statistics"),
        (name = "stream", description = "The WebSocket stream (docs/STREAM.md)"),
    ),
    components(schemas(schemas::ErrorBody))
)]
pub struct ApiDoc;

/// The document served: `ApiDoc` merged with the router's collected paths
/// (and the schemas they name), serialised once when the router is built.
pub fn serialise(doc: &utoipa::openapi::OpenApi) -> bytes::Bytes {
    bytes::Bytes::from(serde_json::to_vec(doc).expect("the OpenAPI document serialises"))
}

/// `GET /openapi.json`.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    summary = "This document",
    responses(
        (status = 200, description = "OpenAPI 3.1, derived from the handlers", body = Object),
    )
)]
pub async fn document(State(st): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        st.openapi.clone(),
    )
        .into_response()
}
