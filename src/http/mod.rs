//! axum adapter: router, shared state, handlers. `router(state)` is all a
//! test needs to drive the API in-process.

mod api;
pub mod error;
pub mod ingest;
pub use crate::wire::geojson;
mod openapi;
mod responders;
mod risk;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State, WebSocketUpgrade};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::{watch, Semaphore};
use tower_http::services::ServeDir;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

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
        }
    }
}

/// The whole HTTP surface. `web_dir` holds the built big screen (web/dist).
pub fn router(state: AppState, web_dir: Option<PathBuf>) -> Router {
    let api = Router::new()
        .route("/healthz", get(api::healthz))
        .route("/openapi.json", get(openapi::document))
        .route("/api/v1/layers/{name}", get(api::layer))
        .route("/api/v1/locate", get(api::locate))
        .route("/api/v1/stats/today", get(api::stats_today))
        .route("/api/v1/stats/ingest", get(ingest::stats_ingest))
        .route("/api/v1/taxonomy", get(ingest::get_taxonomy))
        .route(
            "/api/v1/classify",
            post(ingest::post_classify).layer(DefaultBodyLimit::max(64 * 1024)),
        )
        .route(
            "/api/v1/ingest/{source}",
            post(ingest::post_ingest).layer(DefaultBodyLimit::max(state.limits.body_bytes)),
        )
        .route(
            "/api/v1/incidents",
            post(api::post_incidents)
                .get(api::get_incidents)
                .layer(DefaultBodyLimit::max(state.limits.body_bytes)),
        )
        .route(
            "/api/v1/responders",
            post(responders::post_responders)
                .get(responders::list_responders)
                .layer(DefaultBodyLimit::max(state.limits.body_bytes)),
        )
        .route(
            "/api/v1/responders/positions",
            post(responders::post_positions).layer(DefaultBodyLimit::max(state.limits.body_bytes)),
        )
        .route("/api/v1/responders/nearest", get(responders::nearest))
        .route("/api/v1/responders/{id}", get(responders::get_responder))
        .route(
            "/api/v1/responders/{id}/status",
            post(responders::post_status),
        )
        .route("/api/v1/responders/{id}/track", get(responders::track))
        .route(
            "/osmand",
            get(responders::osmand)
                .post(responders::osmand)
                .layer(DefaultBodyLimit::max(64 * 1024)),
        )
        .route(
            "/api/v1/incidents/{id}/candidates",
            get(responders::candidates),
        )
        .route("/api/v1/incidents/{id}/assign", post(responders::assign))
        .route(
            "/api/v1/incidents/{id}/assignments",
            get(responders::incident_assignments),
        )
        .route("/api/v1/assignments/{id}/ack", post(responders::ack))
        .route(
            "/api/v1/assignments/{id}/decline",
            post(responders::decline),
        )
        .route("/api/v1/stats/positions", get(responders::position_stats))
        .route("/api/v1/heat", get(risk::heat))
        .route("/api/v1/hotspots", get(risk::hotspots))
        .route("/api/v1/hotspots/emerging", get(risk::emerging))
        .route("/api/v1/forecast", get(risk::forecast))
        .fallback(api::not_found)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            state.limits.request_timeout,
        ));
    let app = Router::new()
        .route("/api/v1/stream", get(stream))
        .merge(api);
    let app = match web_dir {
        Some(dir) if dir.join("index.html").is_file() => app.fallback_service(ServeDir::new(dir)),
        other => {
            tracing::warn!(dir = ?other, "web/dist not built; `/` explains how to build it");
            app.route("/", get(web_missing))
        }
    };
    app.layer(TraceLayer::new_for_http()).with_state(state)
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
