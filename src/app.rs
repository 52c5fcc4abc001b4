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
    #[error("HMAC key file {path}: {source} (set [ingest] key_file or LIANQIN_KEY_FILE)")]
    Key {
        path: std::path::PathBuf,
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
    /// The telemetry flusher; awaited at shutdown so queued batches land.
    flusher: tokio::task::JoinHandle<()>,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, AppError> {
        let target = store::describe(&settings.database_url);
        let pool = store::connect(&settings.database_url, settings.db_max_connections).await?;
        let postgis = store::migrate(&pool, &target).await?;
        tracing::info!(%target, %postgis, "database ready");
        let layers = store::layers::load_all(&pool).await?;
        // clusters before recent incidents: those clustered now carry their id
        let clusterer = restore_clusters(&pool, settings.cluster.clone()).await?;
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
        let dispatch_cfg = settings.dispatch.to_config();
        let ack_timeout = dispatch_cfg.ack_timeout;
        let roster_rows = store::responders::load_all(&pool).await?;
        let open = store::responders::open_assignments(&pool).await?;
        let roster = build_roster(dispatch_cfg, roster_rows, &open);
        tracing::info!(
            responders = roster.len(),
            open_assignments = open.len(),
            "roster loaded"
        );
        let (flush_tx, flush_rx) = tokio::sync::mpsc::channel(crate::live::responders::FLUSH_QUEUE);
        let filled = store::incidents::backfill_h3(&pool).await?;
        if filled > 0 {
            tracing::info!(incidents = filled, "filled in H3 cells of older incidents");
        }
        let heat = build_heat(&pool).await?;
        let (cluster_tx, cluster_done, cluster_road) = crate::live::clusters::store_channels();
        let world = WorldHandle::start_with(
            layers,
            recent,
            Retention {
                max_age: chrono::Duration::hours(settings.recent.max_age_hours),
                max_count: settings.recent.max_count,
            },
            stream.client_queue,
            crate::live::ResponderWorld {
                roster,
                flush: Some(flush_tx),
                heat,
                clusterer,
                cluster_store: Some((cluster_tx, cluster_done)),
            },
        );
        tokio::spawn(crate::live::clusters::run_store(pool.clone(), cluster_road));
        let flusher = tokio::spawn(run_flusher(pool.clone(), world.clone(), flush_rx));
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let dispatcher = crate::dispatcher::Dispatcher::start(
            pool.clone(),
            world.clone(),
            &open,
            ack_timeout,
            shutdown_rx.clone(),
        );
        // train the text classifier now (≈ 0.3 s in release), not on the first record
        let _ = tokio::task::spawn_blocking(|| {
            crate::classify::Classifier::standard();
        })
        .await;
        let key = crate::privacy::load_or_create_key(&settings.ingest.key_file).map_err(|e| {
            AppError::Key {
                path: settings.ingest.key_file.clone(),
                source: e,
            }
        })?;
        let ingest = crate::ingest::Ingest::start(
            pool.clone(),
            world.clone(),
            crate::privacy::Hasher::new(&key),
            settings.ingest.pipeline(),
        );
        let mut state = AppState::new(
            pool,
            world,
            ingest,
            dispatcher,
            stream,
            Limits::default(),
            shutdown_rx,
        );
        state.cluster_families = std::sync::Arc::new(
            settings
                .cluster
                .families
                .iter()
                .map(|f| f.name.clone())
                .collect(),
        );
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
            flusher,
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
            flusher,
        } = self;
        if let Some(demo) = demo {
            tokio::spawn(crate::demo::run(
                state.ingest.clone(),
                state.world.clone(),
                demo.clone(),
                state.shutdown.clone(),
            ));
            tokio::spawn(crate::demo::roster::run(
                state.dispatcher.clone(),
                state.world.clone(),
                demo,
                state.shutdown.clone(),
            ));
        }
        let sessions = state.sessions.clone();
        let (pool, world) = (state.pool.clone(), state.world.clone());
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
        // Telemetry not yet flushed goes to PostGIS now, so a clean restart
        // loses no position (a crash loses at most FLUSH_EVERY of them).
        // (`take_unflushed` also closes the flusher's queue: it ends once the
        // batches it already holds are written — newest fix wins in SQL, so
        // the order of the two writers does not matter.)
        if let Some(batch) = world.take_unflushed().await {
            if !batch.is_empty() {
                if let Err(e) =
                    store::responders::flush_positions(&pool, &batch.latest, &batch.track).await
                {
                    tracing::warn!(error = %e, "final position flush failed");
                }
            }
        }
        if tokio::time::timeout(std::time::Duration::from_secs(10), flusher)
            .await
            .is_err()
        {
            tracing::warn!("position flusher still busy after 10 s; its last batches may be lost");
        }
        Ok(())
    }
}

/// Incidents of the last [`HEAT_WINDOW_DAYS`] warm the heat surface at
/// start-up; older ones are left out of it live too, so a restart changes
/// nothing. A year is 12 half-lives of the 30-day risk surface: what falls
/// out weighs less than 2^-12 of a fresh incident.
pub const HEAT_WINDOW_DAYS: i64 = 365;

/// The heat surface from PostGIS (each incident's stored H3 cell).
async fn build_heat(pool: &sqlx::PgPool) -> Result<crate::risk::heat::Heat, StoreError> {
    let since = Utc::now() - chrono::Duration::days(HEAT_WINDOW_DAYS);
    let rows = store::incidents::heat_rows(pool, since).await?;
    let mut heat = crate::risk::heat::Heat::new(Default::default(), since);
    for (cell, at, category) in &rows {
        if let Ok(c) = h3o::CellIndex::try_from(*cell as u64) {
            heat.add(c, *at, category.as_deref());
        }
    }
    heat.take_changed();
    tracing::info!(
        incidents = rows.len(),
        cells = heat.len(),
        "heat surface rebuilt"
    );
    Ok(heat)
}

/// The in-memory roster from the stored rows, fixes and open assignments.
fn build_roster(
    cfg: crate::dispatch::DispatchConfig,
    rows: Vec<store::responders::StoredResponder>,
    open: &[crate::domain::Assignment],
) -> crate::dispatch::Roster {
    let mut roster = crate::dispatch::Roster::new(cfg, Default::default());
    for row in rows {
        let slot = roster.upsert(row.spec, row.status, row.status_since);
        if let Some(fix) = row.fix {
            roster.restore_fix(slot, fix);
        }
    }
    for a in open {
        if let Some(slot) = roster.slot(&a.responder_id) {
            roster.set_assignment(slot, Some(a.clone()));
        }
    }
    roster
}

/// Incidents without a cluster clustered at start-up at most (the newest).
const UNCLUSTERED_AT_START: i64 = 500_000;

/// Rebuilds the clusterer from PostGIS: the clusters a call can still join
/// and their members, merged in event-time order with the incidents that have
/// no cluster yet (offline `lianqin ingest`, rows from before migration 0006,
/// a crash between commit and cluster store), which are clustered as if they
/// had come live and stored before the server listens.
async fn restore_clusters(
    pool: &sqlx::PgPool,
    cfg: crate::cluster::ClusterConfig,
) -> Result<crate::cluster::Clusterer, StoreError> {
    use crate::cluster::{Clusterer, Delta};
    let mut c = Clusterer::new(cfg);
    let (clusters, members) = store::clusters::load_live(pool, Utc::now()).await?;
    let restored = clusters.len();
    for s in clusters {
        c.restore_cluster(s);
    }
    let pending = store::clusters::unassigned(pool, UNCLUSTERED_AT_START).await?;
    let fresh = pending.len();
    let mut members = members.into_iter().peekable();
    let mut pending = pending.into_iter().peekable();
    let mut delta = Delta::default();
    loop {
        let member_first = match (members.peek(), pending.peek()) {
            (Some((a, _)), Some(b)) => (a.reported_at, a.id) <= (b.reported_at, b.id),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        if member_first {
            let (call, cluster) = members.next().expect("peeked");
            c.restore_member(&call, cluster);
        } else {
            let call = pending.next().expect("peeked");
            delta.extend(c.apply(&call).1);
            if delta.memberships.len() >= 5_000 {
                delta.compact();
                store::clusters::apply(pool, &delta, None).await?;
                delta = Delta::default();
            }
        }
    }
    delta.compact();
    store::clusters::apply(pool, &delta, None).await?;
    c.finish_restore();
    tracing::info!(
        restored,
        clustered_now = fresh,
        calls = c.len(),
        clusters = c.cluster_count(),
        "repeat-call clusters loaded"
    );
    Ok(c)
}

/// Writes telemetry flush batches to PostGIS, one transaction each. A failed
/// flush is logged and counted; the next batch carries newer fixes anyway.
async fn run_flusher(
    pool: sqlx::PgPool,
    world: WorldHandle,
    mut rx: tokio::sync::mpsc::Receiver<crate::live::FlushBatch>,
) {
    use std::sync::atomic::Ordering;
    while let Some(batch) = rx.recv().await {
        let c = world.position_counters();
        match store::responders::flush_positions(&pool, &batch.latest, &batch.track).await {
            Ok(()) => c.flushes.fetch_add(1, Ordering::Relaxed),
            Err(e) => {
                tracing::warn!(error = %e, latest = batch.latest.len(), track = batch.track.len(), "position flush failed");
                c.flush_failures.fetch_add(1, Ordering::Relaxed)
            }
        };
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
