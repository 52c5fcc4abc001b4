//! Typed settings. Precedence: built-in defaults < config file (TOML,
//! unknown keys rejected) < environment < command-line flags.
//!
//! Environment: `DATABASE_URL`, `LIANQIN_LISTEN`, `LIANQIN_WEB_DIR`,
//! `LIANQIN_CONFIG` (path of the file; default `lianqin.toml` if present).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/lianqin";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub database_url: String,
    pub listen: SocketAddr,
    /// Built big screen (`web/dist`).
    pub web_dir: PathBuf,
    /// Pool size: ingest transactions and queries share it.
    pub db_max_connections: u32,
    pub demo: DemoSettings,
    pub stream: StreamConfig,
    pub recent: RecentConfig,
    pub dispatch: DispatchSettings,
    pub ingest: IngestSettings,
    /// `[cluster]`: repeat-call clustering (families, lateness); see
    /// `crate::cluster::params` for the defaults.
    pub cluster: crate::cluster::ClusterConfig,
}

/// `[ingest]`: the one pipeline every source's records take.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestSettings {
    /// The HMAC key for callers' phone and ID numbers: generated here on first
    /// start (mode 0600), kept outside the database. Losing it means new
    /// hashes no longer match old ones. Env `LIANQIN_KEY_FILE`.
    pub key_file: PathBuf,
    /// Jobs (one request or file chunk each) waiting for a commit; beyond
    /// this, pushes are answered 503 + Retry-After.
    pub queue_jobs: usize,
    /// Rows merged into one transaction at most.
    pub batch_rows: usize,
    /// Commit workers (concurrent transactions).
    pub workers: usize,
}

impl Default for IngestSettings {
    fn default() -> Self {
        let d = crate::ingest::PipelineConfig::default();
        Self {
            key_file: PathBuf::from("var/hmac.key"),
            queue_jobs: d.queue_jobs,
            batch_rows: d.batch_rows,
            workers: d.workers,
        }
    }
}

impl IngestSettings {
    pub fn pipeline(&self) -> crate::ingest::PipelineConfig {
        crate::ingest::PipelineConfig {
            queue_jobs: self.queue_jobs,
            batch_rows: self.batch_rows,
            workers: self.workers,
        }
    }
}

/// `[dispatch]`: responders, positions, recommendations, assignments.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DispatchSettings {
    /// A dispatch not acknowledged within this many seconds is offered to the
    /// next closest available responder.
    pub ack_timeout_secs: i64,
    /// A fix older than this is stale (marked; ranked after fresh ones).
    pub stale_after_secs: i64,
    /// Straight-line distance × this = the road distance assumed for ETAs.
    pub detour_factor: f64,
    /// Fixes older than this are refused as outdated.
    pub outdated_after_hours: i64,
    /// Overrides of the ETA speed per responder type (km/h), e.g. `{ grid = 12.0 }`.
    pub speed_kmh: std::collections::BTreeMap<String, f64>,
    /// Overrides of the plausible maximum speed per type (km/h) for the jump filter.
    pub max_speed_kmh: std::collections::BTreeMap<String, f64>,
}

impl Default for DispatchSettings {
    fn default() -> Self {
        let d = crate::dispatch::DispatchConfig::default();
        Self {
            ack_timeout_secs: d.ack_timeout.num_seconds(),
            stale_after_secs: d.stale_after.num_seconds(),
            detour_factor: d.detour_factor,
            outdated_after_hours: d.hygiene.max_age.num_hours(),
            speed_kmh: Default::default(),
            max_speed_kmh: Default::default(),
        }
    }
}

impl DispatchSettings {
    /// The pure configuration, after [`Settings::validate`].
    pub fn to_config(&self) -> crate::dispatch::DispatchConfig {
        use crate::domain::ResponderType;
        let mut c = crate::dispatch::DispatchConfig {
            ack_timeout: chrono::Duration::seconds(self.ack_timeout_secs),
            stale_after: chrono::Duration::seconds(self.stale_after_secs),
            detour_factor: self.detour_factor,
            ..Default::default()
        };
        c.hygiene.max_age = chrono::Duration::hours(self.outdated_after_hours);
        for (k, v) in &self.speed_kmh {
            if let Some(t) = ResponderType::parse(k) {
                c.speed_kmh[t.index()] = *v;
            }
        }
        for (k, v) in &self.max_speed_kmh {
            if let Some(t) = ResponderType::parse(k) {
                c.hygiene.max_speed_kmh[t.index()] = *v;
            }
        }
        c
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DemoSettings {
    pub enabled: bool,
    /// Simulated incidents per minute.
    pub per_minute: f64,
    /// Seed for a reproducible feed; `None` seeds from the clock.
    pub seed: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamConfig {
    pub client_queue: usize,
    pub snapshot_limit: usize,
    pub heartbeat_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecentConfig {
    /// Incidents kept in memory for snapshots: at most this old…
    pub max_age_hours: i64,
    /// …and at most this many.
    pub max_count: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            database_url: DEFAULT_DATABASE_URL.into(),
            listen: DEFAULT_LISTEN.parse().expect("valid default"),
            web_dir: PathBuf::from("web/dist"),
            db_max_connections: 16,
            demo: DemoSettings::default(),
            stream: StreamConfig::default(),
            recent: RecentConfig::default(),
            dispatch: DispatchSettings::default(),
            ingest: IngestSettings::default(),
            cluster: Default::default(),
        }
    }
}

impl Default for DemoSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            per_minute: 30.0,
            seed: None,
        }
    }
}

impl Default for StreamConfig {
    fn default() -> Self {
        let d = crate::realtime::StreamSettings::default();
        Self {
            client_queue: d.client_queue,
            snapshot_limit: d.snapshot_limit,
            heartbeat_secs: d.heartbeat.as_secs(),
        }
    }
}

impl Default for RecentConfig {
    fn default() -> Self {
        Self {
            max_age_hours: 72,
            max_count: 50_000,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("invalid setting: {0}")]
    Invalid(String),
    #[error("environment variable {name}: {reason}")]
    Env { name: &'static str, reason: String },
}

impl Settings {
    /// Defaults, then the config file (explicit path, `LIANQIN_CONFIG`, or
    /// `./lianqin.toml` when it exists), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let env_path = std::env::var_os("LIANQIN_CONFIG").map(PathBuf::from);
        let path = file.map(Path::to_path_buf).or(env_path).or_else(|| {
            let p = PathBuf::from("lianqin.toml");
            p.is_file().then_some(p)
        });
        let mut s = match path {
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                toml::from_str(&text).map_err(|source| ConfigError::Parse { path, source })?
            }
            None => Settings::default(),
        };
        if let Ok(url) = std::env::var("DATABASE_URL") {
            s.database_url = url;
        }
        if let Ok(listen) = std::env::var("LIANQIN_LISTEN") {
            s.listen = listen.parse().map_err(|e| ConfigError::Env {
                name: "LIANQIN_LISTEN",
                reason: format!("{listen:?} is not host:port ({e})"),
            })?;
        }
        if let Some(dir) = std::env::var_os("LIANQIN_WEB_DIR") {
            s.web_dir = PathBuf::from(dir);
        }
        if let Some(f) = std::env::var_os("LIANQIN_KEY_FILE") {
            s.ingest.key_file = PathBuf::from(f);
        }
        s.validate()?;
        Ok(s)
    }

    /// Ranges that keep the service sane (and chrono from overflowing).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |reason: String| Err(ConfigError::Invalid(reason));
        if let Err(e) = self.cluster.validate() {
            return bad(e);
        }
        if !(1..=24 * 366).contains(&self.recent.max_age_hours) {
            return bad(format!(
                "recent.max_age_hours must be 1 to 8784, got {}",
                self.recent.max_age_hours
            ));
        }
        if !(1..=1_000_000).contains(&self.recent.max_count) {
            return bad(format!(
                "recent.max_count must be 1 to 1000000, got {}",
                self.recent.max_count
            ));
        }
        if !(1..=65_536).contains(&self.stream.client_queue) {
            return bad(format!(
                "stream.client_queue must be 1 to 65536, got {}",
                self.stream.client_queue
            ));
        }
        if !(1..=3600).contains(&self.stream.heartbeat_secs) {
            return bad(format!(
                "stream.heartbeat_secs must be 1 to 3600, got {}",
                self.stream.heartbeat_secs
            ));
        }
        if !(self.demo.per_minute.is_finite()
            && self.demo.per_minute > 0.0
            && self.demo.per_minute <= 60_000.0)
        {
            return bad(format!(
                "demo.per_minute must be above 0 and at most 60000, got {}",
                self.demo.per_minute
            ));
        }
        if self.db_max_connections == 0 {
            return bad("db_max_connections must be at least 1".into());
        }
        let i = &self.ingest;
        if !(1..=100_000).contains(&i.queue_jobs) {
            return bad(format!(
                "ingest.queue_jobs must be 1 to 100000, got {}",
                i.queue_jobs
            ));
        }
        if !(1..=100_000).contains(&i.batch_rows) {
            return bad(format!(
                "ingest.batch_rows must be 1 to 100000, got {}",
                i.batch_rows
            ));
        }
        if !(1..=64).contains(&i.workers) {
            return bad(format!("ingest.workers must be 1 to 64, got {}", i.workers));
        }
        let d = &self.dispatch;
        if !(1..=86_400).contains(&d.ack_timeout_secs) {
            return bad(format!(
                "dispatch.ack_timeout_secs must be 1 to 86400, got {}",
                d.ack_timeout_secs
            ));
        }
        if !(1..=86_400).contains(&d.stale_after_secs) {
            return bad(format!(
                "dispatch.stale_after_secs must be 1 to 86400, got {}",
                d.stale_after_secs
            ));
        }
        if !(d.detour_factor.is_finite() && (1.0..=5.0).contains(&d.detour_factor)) {
            return bad(format!(
                "dispatch.detour_factor must be 1 to 5, got {}",
                d.detour_factor
            ));
        }
        if !(1..=24 * 366).contains(&d.outdated_after_hours) {
            return bad(format!(
                "dispatch.outdated_after_hours must be 1 to 8784, got {}",
                d.outdated_after_hours
            ));
        }
        for (table, map, max) in [
            ("speed_kmh", &d.speed_kmh, 300.0),
            ("max_speed_kmh", &d.max_speed_kmh, 1000.0),
        ] {
            for (k, v) in map {
                if crate::domain::ResponderType::parse(k).is_none() {
                    return bad(format!("dispatch.{table}: unknown responder type {k:?}"));
                }
                if !(v.is_finite() && *v >= 1.0 && *v <= max) {
                    return bad(format!("dispatch.{table}.{k} must be 1 to {max}, got {v}"));
                }
            }
        }
        Ok(())
    }

    pub fn stream_settings(&self) -> crate::realtime::StreamSettings {
        crate::realtime::StreamSettings {
            client_queue: self.stream.client_queue.max(1),
            snapshot_limit: self.stream.snapshot_limit,
            heartbeat: std::time::Duration::from_secs(self.stream.heartbeat_secs.max(1)),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_rejects_unknown_keys_and_fills_defaults() {
        let s: Settings =
            toml::from_str("listen = \"0.0.0.0:9000\"\n[demo]\nper_minute = 5.0\n").unwrap();
        assert_eq!(s.listen.port(), 9000);
        assert_eq!(s.demo.per_minute, 5.0);
        assert_eq!(s.stream.client_queue, 8192);
        assert!(toml::from_str::<Settings>("lissten = \"x\"").is_err());
        assert!(s.validate().is_ok());
        let huge: Settings = toml::from_str("[recent]\nmax_age_hours = 9999999999").unwrap();
        assert!(huge
            .validate()
            .unwrap_err()
            .to_string()
            .contains("max_age_hours"));
        let zero: Settings = toml::from_str("[stream]\nclient_queue = 0").unwrap();
        assert!(zero.validate().is_err());
        let fam: Settings = toml::from_str(
            "[cluster]\nlateness_hours = 12\n[[cluster.families]]\nname = \"other\"\nleaves = []\nradius_m = 100\ngap_hours = 1",
        )
        .unwrap();
        assert!(fam.validate().is_ok());
        assert_eq!(fam.cluster.families.len(), 1);
        let bad: Settings = toml::from_str(
            "[[cluster.families]]\nname = \"noise\"\nleaves = [\"02.08\"]\nradius_m = 100\ngap_hours = 1",
        )
        .unwrap();
        assert!(bad.validate().unwrap_err().to_string().contains("other"));
    }
}
