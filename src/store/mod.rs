//! PostgreSQL + PostGIS through sqlx. Geometry crosses the boundary as
//! GeoJSON text (`ST_GeomFromGeoJSON` / `ST_AsGeoJSON`) in this module only.

pub mod clusters;
pub mod incidents;
pub mod layers;
pub mod responders;

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};

/// Oldest PostGIS we run on (ST_AsGeoJSON options and GiST behaviour used here).
pub const MIN_POSTGIS: (u32, u32) = (3, 0);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot connect to PostgreSQL at {target}: {source}")]
    Connect { target: String, source: sqlx::Error },
    #[error(
        "PostGIS is not installed on the PostgreSQL server at {target}. Install it (Debian: apt-get install postgresql-<major>-postgis-3) or run deploy/ensure-postgres.sh"
    )]
    PostgisMissing { target: String },
    #[error("PostGIS {found} is too old; lianqin needs {}.{} or newer", MIN_POSTGIS.0, MIN_POSTGIS.1)]
    PostgisTooOld { found: String },
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error while {what}: {source}")]
    Query {
        what: &'static str,
        source: sqlx::Error,
    },
    #[error("layer {layer}: {reason}")]
    Layer { layer: String, reason: String },
    /// The change conflicts with the stored state (answered as 409).
    #[error("conflict on {field}: {reason}")]
    Conflict { field: String, reason: String },
    /// A record the change refers to does not exist (answered as 404).
    #[error("not found: {0}")]
    Missing(String),
    /// The service is shutting down (the ingest pipeline has stopped).
    #[error("the service is shutting down")]
    Closed,
}

impl StoreError {
    /// Temporary shortage (pool exhausted, server out of connections, link
    /// down): the caller may retry, so HTTP answers 503 rather than 500.
    pub fn is_transient(&self) -> bool {
        let e = match self {
            StoreError::Query { source, .. } | StoreError::Connect { source, .. } => source,
            StoreError::Closed => return true,
            _ => return false,
        };
        match e {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
            // 53300 too_many_connections, 57P03 cannot_connect_now, 40001/40P01 serialization/deadlock
            sqlx::Error::Database(d) => matches!(
                d.code().as_deref(),
                Some("53300" | "57P03" | "40001" | "40P01")
            ),
            _ => false,
        }
    }
}

pub(crate) trait Context<T> {
    fn during(self, what: &'static str) -> Result<T, StoreError>;
}

impl<T> Context<T> for Result<T, sqlx::Error> {
    fn during(self, what: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Query { what, source })
    }
}

/// Host/port/database of a URL, without credentials, for messages.
pub fn describe(url: &str) -> String {
    match url.parse::<PgConnectOptions>() {
        Ok(o) => format!(
            "{}:{}/{}",
            o.get_host(),
            o.get_port(),
            o.get_database().unwrap_or("(default)")
        ),
        Err(_) => "(unparseable DATABASE_URL)".into(),
    }
}

/// Connects a pool. `max` connections, 5 s to acquire one.
pub async fn connect(url: &str, max: u32) -> Result<PgPool, StoreError> {
    let target = describe(url);
    let opts: PgConnectOptions = url
        .parse::<PgConnectOptions>()
        .map_err(|source| StoreError::Connect {
            target: target.clone(),
            source,
        })?
        // Prepared statements switch to a generic plan after five runs; ours
        // (unnest batches, bbox queries) were planned against a near-empty
        // incident table and then kept a plan that degraded as it grew
        // (single-row ingest fell from ≈ 780 to ≈ 510/s over 4,000 rows in two
        // A/B rounds; with custom plans it stayed at ≈ 630–700/s).
        // Planning these statements costs microseconds, so always re-plan.
        .options([("plan_cache_mode", "force_custom_plan")])
        .log_statements(tracing::log::LevelFilter::Trace)
        .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_millis(500));
    PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(opts)
        .await
        .map_err(|source| StoreError::Connect { target, source })
}

/// Refuses a server without PostGIS, or with one older than [`MIN_POSTGIS`].
/// Run before migrating so the message is about PostGIS, not a failed `create extension`.
pub async fn check_postgis(pool: &PgPool, target: &str) -> Result<String, StoreError> {
    let installed: Option<String> =
        sqlx::query_scalar("select extversion from pg_extension where extname = 'postgis'")
            .fetch_optional(pool)
            .await
            .during("checking the PostGIS extension")?;
    let version = match installed {
        Some(v) => v,
        None => sqlx::query_scalar::<_, Option<String>>(
            "select default_version from pg_available_extensions where name = 'postgis'",
        )
        .fetch_optional(pool)
        .await
        .during("checking available extensions")?
        .flatten()
        .ok_or_else(|| StoreError::PostgisMissing {
            target: target.to_string(),
        })?,
    };
    if !postgis_recent_enough(&version) {
        return Err(StoreError::PostgisTooOld { found: version });
    }
    Ok(version)
}

/// `"3.3.2"`, `"3.4.0dev"`, `"2.5.5"` → compared by major.minor with [`MIN_POSTGIS`].
pub fn postgis_recent_enough(version: &str) -> bool {
    let mut parts = version.split(['.', '-']).map(|p| {
        let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
        digits.parse::<u32>().unwrap_or(0)
    });
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= MIN_POSTGIS
}

/// Checks PostGIS, then applies `migrations/` (embedded at build time).
pub async fn migrate(pool: &PgPool, target: &str) -> Result<String, StoreError> {
    let version = check_postgis(pool, target).await?;
    sqlx::migrate!("./migrations").run(pool).await?;
    Ok(version)
}

/// `select 1` within `timeout`: the health check's view of the database.
pub async fn ping(pool: &PgPool, timeout: Duration) -> bool {
    matches!(
        tokio::time::timeout(timeout, sqlx::query("select 1").execute(pool)).await,
        Ok(Ok(_))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgis_version_gate() {
        assert!(postgis_recent_enough("3.3.2"));
        assert!(postgis_recent_enough("3.0.0"));
        assert!(postgis_recent_enough("3.5.0dev"));
        assert!(!postgis_recent_enough("2.5.5"));
        assert!(!postgis_recent_enough("garbage"));
    }

    #[test]
    fn describe_hides_credentials() {
        let d = describe("postgres://alice:secret@db.example:6543/lianqin");
        assert_eq!(d, "db.example:6543/lianqin");
        assert!(!d.contains("secret"));
    }
}
