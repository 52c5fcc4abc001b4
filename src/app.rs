//! Wiring: pool → PostGIS check → migrations → live world → router →
//! listener. `Application::build` binds its own listener (port 0 in tests)
//! and reports the address; `run_until_stopped` serves until shutdown.

use std::net::SocketAddr;

use axum::serve::ListenerExt;
use chrono::Utc;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Settings;
use crate::http::{router, AppState, Limits};
use crate::live::{Retention, WorldHandle};
use crate::store::{self, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

pub struct Application {
    listener: TcpListener,
    addr: SocketAddr,
    state: AppState,
    web_dir: std::path::PathBuf,
    shutdown_tx: watch::Sender<bool>,
    demo: Option<crate::config::DemoSettings>,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, AppError> {
        let target = store::describe(&settings.database_url);
        let pool = store::connect(&settings.database_url, settings.db_max_connections).await?;
        let postgis = store::migrate(&pool, &target).await?;
        tracing::info!(%target, %postgis, "database ready");
        let layers = store::layers::load_all(&pool).await?;
        let since = Utc::now() - chrono::Duration::hours(settings.recent.max_age_hours);
        let recent =
            store::incidents::recent(&pool, since, settings.recent.max_count as i64).await?;
        tracing::info!(
            townships = layers.townships.len(),
            grids = layers.grids.len(),
            stations = layers.stations.len(),
            posts = layers.posts.len(),
            recent = recent.len(),
            "live world loaded"
        );
        let stream = settings.stream_settings();
        let world = WorldHandle::start(
            layers,
            recent,
            Retention {
                max_age: chrono::Duration::hours(settings.recent.max_age_hours),
                max_count: settings.recent.max_count,
            },
            stream.client_queue,
        );
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let state = AppState::new(pool, world, stream, Limits::default(), shutdown_rx);
        let listener =
            TcpListener::bind(settings.listen)
                .await
                .map_err(|source| AppError::Bind {
                    addr: settings.listen,
                    source,
                })?;
        let addr = listener.local_addr().map_err(|source| AppError::Bind {
            addr: settings.listen,
            source,
        })?;
        Ok(Self {
            listener,
            addr,
            state,
            web_dir: settings.web_dir,
            shutdown_tx,
            demo: settings.demo.enabled.then_some(settings.demo),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until Ctrl-C / SIGTERM.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `stop` resolves, then closes WebSocket sessions and
    /// drains in-flight requests.
    pub async fn run_until(
        self,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let Application {
            listener,
            addr,
            state,
            web_dir,
            shutdown_tx,
            demo,
        } = self;
        if let Some(demo) = demo {
            tokio::spawn(crate::demo::run(
                state.ingest.clone(),
                state.world.clone(),
                demo,
                state.shutdown.clone(),
            ));
        }
        let sessions = state.sessions.clone();
        let app = router(state, Some(web_dir));
        tracing::info!(%addr, "lianqin listening; big screen at http://{addr}/");
        // TCP_NODELAY: stream frames and small JSON answers must leave at
        // once; with Nagle + delayed ACK they waited up to ~40 ms (BENCHMARKS.md).
        let listener = listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "could not set TCP_NODELAY");
            }
        });
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                stop.await;
                let _ = shutdown_tx.send(true);
            })
            .await?;
        // Stream sessions got the shutdown signal; give them a moment to send
        // 1001 "going away" so screens reconnect at once instead of timing out.
        sessions.drained(std::time::Duration::from_secs(3)).await;
        Ok(())
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
