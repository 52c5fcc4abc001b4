//! axum adapter: router, shared state, handlers. `router(state)` is all a
//! test needs to drive the API in-process.

mod api;
mod clusters;
pub mod error;
pub mod ingest;
pub use crate::wire::geojson;
mod openapi;
mod responders;
mod risk;
mod schemas;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State, WebSocketUpgrade};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::sync::{watch, Semaphore};
use tower_http::services::ServeDir;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

pub use error::ApiError;

use crate::ingest::Ingest;
use crate::live::WorldHandle;
use crate::realtime::StreamSettings;

/// Request limits; each has a reason.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest request body: 1,000 incidents of ~1 KiB fit comfortably.
    pub body_bytes: usize,
    /// Ingest requests in flight at once; more are shed with 503 so the
    /// database pool is not queued into timeouts.
    pub ingest_concurrency: usize,
    /// Longest a (non-WebSocket) request may take.
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            body_bytes: 2 * 1024 * 1024,
            ingest_concurrency: 64,
            request_timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub pool: sqlx::PgPool,
    pub world: WorldHandle,
    pub ingest: Ingest,
    pub dispatcher: crate::dispatcher::Dispatcher,
    pub stream: StreamSettings,
    pub limits: Limits,
    pub shutdown: watch::Receiver<bool>,
    pub(crate) ingest_permits: Arc<Semaphore>,
    /// Open WebSocket sessions (shutdown waits for their close frames).
    pub sessions: crate::realtime::Sessions,
    /// The serialised OpenAPI document (set by `router`).
    pub(crate) openapi: bytes::Bytes,
    /// Names of the configured cluster families (`GET /clusters?family=`).
    pub cluster_families: Arc<Vec<String>>,
}

impl AppState {
    pub fn new(
        pool: sqlx::PgPool,
        world: WorldHandle,
        ingest: Ingest,
        dispatcher: crate::dispatcher::Dispatcher,
        stream: StreamSettings,
        limits: Limits,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        Self {
            ingest,
            dispatcher,
            pool,
            world,
            stream,
            limits,
            shutdown,
            ingest_permits: Arc::new(Semaphore::new(limits.ingest_concurrency)),
            sessions: Default::default(),
            openapi: bytes::Bytes::new(),
            cluster_families: Arc::new(
                crate::cluster::ClusterConfig::default()
                    .families
                    .into_iter()
                    .map(|f| f.name)
                    .collect(),
            ),
        }
    }
}

/// The whole HTTP surface. `web_dir` holds the built big screen (web/dist).
pub fn router(mut state: AppState, web_dir: Option<PathBuf>) -> Router {
    let (app, doc) = routes(&state.limits).split_for_parts();
    state.openapi = openapi::serialise(&doc);
    let app = match web_dir {
        Some(dir) if dir.join("index.html").is_file() => app.fallback_service(ServeDir::new(dir)),
        other => {
            tracing::warn!(dir = ?other, "web/dist not built; `/` explains how to build it");
            app.route("/", get(web_missing))
        }
    };
    app.layer(TraceLayer::new_for_http()).with_state(state)
}

/// Every API route with its OpenAPI entry: `routes!` takes each route's
/// path and methods from the handler's `#[utoipa::path]` attribute, so a
/// route cannot be added without documenting it (and
/// `tests/api/health.rs` checks that each documented route answers).
/// One `routes!` per path; a layer on it applies to all its methods.
fn routes(limits: &Limits) -> OpenApiRouter<AppState> {
    let api = OpenApiRouter::new()
        .routes(routes!(api::healthz))
        .routes(routes!(openapi::document))
        .routes(routes!(api::layer))
        .routes(routes!(api::locate))
        .routes(routes!(api::stats_today))
        .routes(routes!(ingest::stats_ingest))
        .routes(routes!(ingest::get_taxonomy))
        .routes(routes!(ingest::post_classify).layer(DefaultBodyLimit::max(64 * 1024)))
        .routes(routes!(ingest::post_ingest).layer(DefaultBodyLimit::max(limits.body_bytes)))
        .routes(
            routes!(api::post_incidents, api::get_incidents)
                .layer(DefaultBodyLimit::max(limits.body_bytes)),
        )
        .routes(
            routes!(responders::post_responders, responders::list_responders)
                .layer(DefaultBodyLimit::max(limits.body_bytes)),
        )
        .routes(routes!(responders::post_positions).layer(DefaultBodyLimit::max(limits.body_bytes)))
        .routes(routes!(responders::nearest))
        .routes(routes!(responders::get_responder))
        .routes(routes!(responders::post_status))
        .routes(routes!(responders::track))
        .routes(routes!(responders::osmand).layer(DefaultBodyLimit::max(64 * 1024)))
        .routes(routes!(responders::candidates))
        .routes(routes!(responders::assign))
        .routes(routes!(responders::incident_assignments))
        .routes(routes!(responders::ack))
        .routes(routes!(responders::decline))
        .routes(routes!(responders::position_stats))
        .routes(routes!(risk::heat))
        .routes(routes!(risk::hotspots))
        .routes(routes!(risk::emerging))
        .routes(routes!(risk::forecast))
        .routes(routes!(clusters::list_clusters))
        .routes(routes!(clusters::get_cluster))
        .routes(routes!(clusters::merge_cluster))
        .routes(routes!(clusters::split_cluster))
        .routes(routes!(clusters::stats_repeats))
        .fallback(api::not_found)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ));
    // the stream stays outside the request timeout
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(stream))
        .merge(api)
}

async fn web_missing() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Html("<!doctype html><meta charset=utf-8><title>lianqin</title><p>The big screen is not built. Run <code>bash deploy/ensure-web.sh</code> (or <code>cd web &amp;&amp; npm ci &amp;&amp; npm run build</code>) and restart.</p>"),
    )
        .into_response()
}

/// `GET /api/v1/stream`: upgrade to the WebSocket protocol in docs/STREAM.md.
/// Browsers send `Origin`; a page from another site must not read the feed
/// (cross-site WebSocket hijacking). Non-browser clients send none.
#[utoipa::path(
    get,
    path = "/api/v1/stream",
    tag = "stream",
    summary = "WebSocket upgrade: subscribe to a bbox, get a snapshot then live events",
    description = "The protocol (subscribe at most once a second, snapshot, bbox-filtered incident, responder and heat deltas, heartbeat, resync on lag, 1001 on shutdown) is described in docs/STREAM.md. Frames from the client are at most 64 KiB. A browser's `Origin` must match the server's host.",
    responses(
        (status = 101, description = "Switching protocols; the WebSocket session begins"),
        (status = 400, description = "Not a WebSocket upgrade request"),
        (status = 403, description = "`Origin` does not match this server's host", body = schemas::ErrorBody),
    )
)]
async fn stream(State(st): State<AppState>, headers: HeaderMap, ws: WebSocketUpgrade) -> Response {
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let origin_host = origin
            .to_str()
            .ok()
            .and_then(|o| o.split_once("://"))
            .map(|(_, rest)| rest.trim_end_matches('/'));
        if origin_host != Some(host) {
            return ApiError::Forbidden("WebSocket Origin does not match this server's host")
                .into_response();
        }
    }
    ws.max_message_size(64 * 1024)
        .max_frame_size(64 * 1024)
        .on_upgrade(move |socket| {
            crate::realtime::serve_socket(socket, st.world, st.stream, st.shutdown, st.sessions)
        })
}
