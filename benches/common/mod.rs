//! Shared helpers for the benches: a throw-away database with the real
//! geodata imported, machine facts, medians, Markdown output.
//!
//! Each bench includes this with `mod common;`; not every bench uses every
//! helper, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use lianqin::domain::{LayerKind, Layers};
use lianqin::ingest::layer_file;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Maintenance-database URL: `LIANQIN_TEST_DATABASE_URL`, else the local default.
pub fn admin_url() -> String {
    std::env::var("LIANQIN_TEST_DATABASE_URL")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_ADMIN_URL.to_string())
}

/// `url` with its database name replaced by `db` (query string kept).
pub fn url_with_db(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let after_scheme = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_end = base[after_scheme..]
        .find('/')
        .map(|i| after_scheme + i)
        .unwrap_or(base.len());
    let mut out = format!("{}/{}", &base[..host_end], db);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A database created for one bench run; call [`TempDb::drop_db`] at the end.
pub struct TempDb {
    pub name: String,
    pub url: String,
    admin: String,
}

impl TempDb {
    /// `create database lianqin_bench_<tag>_<pid>` (dropped first if a
    /// previous run with the same pid left it behind).
    pub async fn create(tag: &str) -> anyhow::Result<Self> {
        let admin = admin_url();
        let name = format!("lianqin_bench_{tag}_{}", std::process::id());
        let pool = admin_pool(&admin).await?;
        sqlx::query(&format!("drop database if exists {name} with (force)"))
            .execute(&pool)
            .await?;
        sqlx::query(&format!("create database {name}"))
            .execute(&pool)
            .await?;
        pool.close().await;
        Ok(Self {
            url: url_with_db(&admin, &name),
            name,
            admin,
        })
    }

    pub async fn drop_db(self) -> anyhow::Result<()> {
        let pool = admin_pool(&self.admin).await?;
        sqlx::query(&format!(
            "drop database if exists {} with (force)",
            self.name
        ))
        .execute(&pool)
        .await?;
        pool.close().await;
        Ok(())
    }
}

async fn admin_pool(url: &str) -> anyhow::Result<PgPool> {
    PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .connect(url)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot connect to the admin database {} ({e}); is PostgreSQL running? try `bash deploy/ensure-postgres.sh`",
                lianqin::store::describe(url)
            )
        })
}

/// Reads the real layer files in `geodata/` (no database).
pub fn read_geodata() -> anyhow::Result<Vec<(LayerKind, layer_file::LayerData)>> {
    let mut out = Vec::new();
    for (kind, file) in [
        (LayerKind::Boundary, "boundary"),
        (LayerKind::Townships, "townships"),
        (LayerKind::Grids, "grids"),
        (LayerKind::Stations, "stations"),
        (LayerKind::Posts, "posts"),
    ] {
        let path = repo_root().join(format!("geodata/{file}.geojson"));
        let text = std::fs::read_to_string(&path)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        let data = layer_file::parse(kind, &text)
            .map_err(|e| anyhow::anyhow!("parsing {}: {e}", path.display()))?;
        out.push((kind, data));
    }
    Ok(out)
}

/// Layers straight from the files, for benches that need no database.
pub fn layers_from_files() -> anyhow::Result<Layers> {
    let mut layers = Layers::default();
    for (kind, data) in read_geodata()? {
        match (kind, data) {
            (LayerKind::Boundary, layer_file::LayerData::Areas(a)) => layers.boundary = a,
            (LayerKind::Townships, layer_file::LayerData::Areas(a)) => layers.townships = a,
            (LayerKind::Grids, layer_file::LayerData::Areas(a)) => layers.grids = a,
            (LayerKind::Stations, layer_file::LayerData::Sites(s)) => layers.stations = s,
            (LayerKind::Posts, layer_file::LayerData::Sites(s)) => layers.posts = s,
            (k, _) => anyhow::bail!("layer {} has the wrong geometry kind", k.name()),
        }
    }
    Ok(layers)
}

/// Migrates `pool` and imports every geodata layer the way `lianqin import` does.
pub async fn migrate_and_import(pool: &PgPool, target: &str) -> anyhow::Result<String> {
    let postgis = lianqin::store::migrate(pool, target).await?;
    for (kind, data) in read_geodata()? {
        lianqin::store::layers::replace_layer(pool, kind, &data).await?;
    }
    // fresh tables: give the planner real statistics
    sqlx::query("analyze").execute(pool).await?;
    Ok(postgis)
}

/// Median of the samples (mean of the middle two for an even count).
pub fn median(samples: &[f64]) -> f64 {
    let mut v: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Value at quantile `q` (0..=1) of already-sorted samples (nearest rank).
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Thousands separators for a rate.
pub fn fmt_rate(x: f64) -> String {
    if !x.is_finite() {
        return "n/a".into();
    }
    let n = x.round() as u64;
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

pub fn nproc() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Prints the machine facts block; `pool` (if any) adds server versions.
pub async fn print_machine(bench: &str, pool: Option<&PgPool>) {
    println!("## {bench}\n");
    println!(
        "- date (UTC): {}",
        chrono::Utc::now().format("%Y-%m-%d %H:%M")
    );
    println!("- nproc: {}; CPU: {}", nproc(), cpu_model());
    if let Some(pool) = pool {
        let pg: String = sqlx::query_scalar("show server_version")
            .fetch_one(pool)
            .await
            .unwrap_or_else(|_| "?".into());
        let gis: String = sqlx::query_scalar("select postgis_lib_version()")
            .fetch_one(pool)
            .await
            .unwrap_or_else(|_| "?".into());
        let geos: String = sqlx::query_scalar("select postgis_geos_version()")
            .fetch_one(pool)
            .await
            .unwrap_or_else(|_| "?".into());
        println!("- PostgreSQL {pg}; PostGIS {gis} (GEOS {geos})");
    }
    println!(
        "- build: {} profile",
        if cfg!(debug_assertions) {
            "DEBUG (numbers meaningless: use `cargo bench`)"
        } else {
            "release"
        }
    );
    println!();
}

/// Repetitions: `LIANQIN_BENCH_REPS` or the default.
pub fn reps(default: usize) -> usize {
    std::env::var("LIANQIN_BENCH_REPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n: &usize| n >= 1)
        .unwrap_or(default)
}

/// Runs `run` against a fresh `lianqin_bench_<tag>_<pid>` database on a fresh
/// runtime, and drops the database afterwards whatever `run` returned.
pub fn with_temp_db<F>(tag: &str, run: F) -> anyhow::Result<()>
where
    F: for<'a> FnOnce(
        &'a TempDb,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = anyhow::Result<()>> + 'a>,
    >,
{
    runtime().block_on(async {
        let db = TempDb::create(tag).await?;
        let result = run(&db).await;
        if let Err(e) = db.drop_db().await {
            eprintln!("dropping the bench database: {e}");
        }
        result
    })
}

/// A multi-thread runtime with as many workers as cores (the server's shape).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A lianqin server running in its own thread and tokio runtime (so the
/// load generator's runtime and the server's do not share workers; they
/// still share the machine's cores).
pub struct Server {
    pub addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// `Application::build` + `run_until` on 127.0.0.1:0 against
    /// `database_url`: the shipped server (TCP_NODELAY on accepted sockets
    /// since bc26534).
    pub fn start(database_url: &str) -> anyhow::Result<Self> {
        let settings = lianqin::config::Settings {
            database_url: database_url.to_string(),
            listen: "127.0.0.1:0".parse().expect("valid addr"),
            web_dir: PathBuf::from("/nonexistent/lianqin-bench-web"),
            ..lianqin::config::Settings::default()
        };
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("lianqin-server".into())
            .spawn(move || {
                let rt = runtime();
                rt.block_on(async move {
                    match lianqin::app::Application::build(settings).await {
                        Ok(app) => {
                            let _ = addr_tx.send(Ok(app.local_addr()));
                            let stop = async move {
                                let _ = stop_rx.await;
                            };
                            if let Err(e) = app.run_until(stop).await {
                                eprintln!("server error: {e}");
                            }
                        }
                        Err(e) => {
                            let _ = addr_tx.send(Err(anyhow::anyhow!("server build: {e}")));
                        }
                    }
                });
                // background tasks (the world writer, idle sockets) end with the runtime
                rt.shutdown_timeout(Duration::from_secs(2));
            })?;
        let addr = addr_rx.recv()??;
        Ok(Self {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// One incident body for `POST /api/v1/incidents`, as a JSON object literal.
pub fn incident_json(source_id: &str, lon: f64, lat: f64) -> String {
    format!(
        r#"{{"source":"110","source_id":"{source_id}","reported_at":"{}","lon":{lon:.6},"lat":{lat:.6},"category":"bench","description":"benchmark incident","priority":2}}"#,
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    )
}

/// CPU seconds (user + system) this process has used, from /proc/self/stat.
pub fn process_cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // fields after the parenthesised command name; utime, stime are 14, 15
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ut: f64 = f.get(11)?.parse().ok()?;
    let st: f64 = f.get(12)?.parse().ok()?;
    Some((ut + st) / 100.0) // USER_HZ is 100 on Linux
}

/// CPU seconds used so far by every process whose command name starts with
/// `prefix` (`None` when there is none), for attributing load.
pub fn processes_cpu_secs(prefix: &str) -> Option<f64> {
    let mut total = 0.0;
    let mut found = false;
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if !stat[open + 1..close].starts_with(prefix) {
            continue;
        }
        let f: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        let ut: f64 = f.get(11).and_then(|s| s.parse().ok()).unwrap_or(0.0);
        let st: f64 = f.get(12).and_then(|s| s.parse().ok()).unwrap_or(0.0);
        total += (ut + st) / 100.0;
        found = true;
    }
    found.then_some(total)
}

/// CPU seconds used so far by all `postgres` processes (for attributing load).
pub fn postgres_cpu_secs() -> Option<f64> {
    Some(processes_cpu_secs("postgres").unwrap_or(0.0))
}

// ------------------------------------------------------------------ synthetic positions

/// A township seat and how densely points cluster around it.
pub struct Seat {
    pub name: String,
    pub lon: f64,
    pub lat: f64,
    pub weight: f64,
    pub sigma_m: f64,
}

/// The 19 real township seats of `geodata/townships.geojson` (`$TOWNSHIPS`
/// overrides the file), weighted: the 4 urban subdistricts heavy and
/// compact, other 街道 medium, eastern 镇 lighter, 乡 and western 镇 light and wide.
pub fn load_seats() -> Vec<Seat> {
    let path = std::env::var("TOWNSHIPS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_root().join("geodata/townships.geojson"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let v: serde_json::Value = serde_json::from_str(&text).expect("townships GeoJSON");
    let urban = ["东城街道", "西城街道", "南城街道", "北城街道"];
    v["features"]
        .as_array()
        .expect("features")
        .iter()
        .map(|f| {
            let p = &f["properties"];
            let name = p["name"].as_str().expect("name").to_string();
            let kind = p["kind"].as_str().expect("kind");
            let lon = p["seat_lon"].as_f64().expect("seat_lon");
            let lat = p["seat_lat"].as_f64().expect("seat_lat");
            let (weight, sigma_m) = if urban.contains(&name.as_str()) {
                (12.0, 1_200.0)
            } else if kind == "街道" {
                (6.0, 2_000.0)
            } else if kind == "镇" && lon > 121.13 {
                (4.0, 2_500.0)
            } else {
                (1.3, 3_500.0)
            };
            Seat {
                name,
                lon,
                lat,
                weight,
                sigma_m,
            }
        })
        .collect()
}

/// A standard normal draw (Box–Muller).
pub fn gauss(rng: &mut rand::rngs::SmallRng) -> f64 {
    use rand::Rng;
    let u: f64 = rng.gen_range(1e-12..1.0);
    let v: f64 = rng.gen();
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// A point from the weighted Gaussian clusters (`total_w` = Σ weights).
pub fn draw_pos(
    rng: &mut rand::rngs::SmallRng,
    seats: &[Seat],
    total_w: f64,
) -> lianqin::domain::Position {
    use rand::Rng;
    let mut x = rng.gen_range(0.0..total_w);
    let s = seats
        .iter()
        .find(|s| {
            x -= s.weight;
            x < 0.0
        })
        .unwrap_or(&seats[0]);
    let m_per_deg_lat = 111_195.0;
    let m_per_deg_lon = m_per_deg_lat * s.lat.to_radians().cos();
    lianqin::domain::Position::new(
        s.lon + s.sigma_m * gauss(rng) / m_per_deg_lon,
        s.lat + s.sigma_m * gauss(rng) / m_per_deg_lat,
    )
    .expect("valid position")
}
