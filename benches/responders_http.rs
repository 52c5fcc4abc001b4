//! k = 5 nearest available police, side by side over the network:
//!
//! 1. lianqin `GET /api/v1/responders/nearest?lon=&lat=&k=5&type=police`
//!    (the shipped server, `common::Server::start`, loaded through its own
//!    API: `POST /api/v1/responders` then `POST /api/v1/responders/positions`,
//!    batches of 1,000);
//! 2. Redis, one GEO key per type × status as a Redis user would keep them
//!    (`GEOADD …:responders:police:available lon lat id`), `GEOSEARCH key
//!    FROMLONLAT lon lat BYRADIUS r km ASC COUNT 5` at r = 1, 2, 5, 10 km, and
//!    the "widen until 5" loop a Redis user needs for a guaranteed answer
//!    (1 → 2 → 5 → 10 → 20 → 50 km, every round trip counted);
//! 3. PostGIS, `bench_responder(id, kind, status, geom)` with a partial GiST
//!    index for the queried (kind, status) (the best a PostGIS user would
//!    do), and a copy `bench_responder_plain` with only the general indexes
//!    (GiST on geom, b-tree on (kind, status)); `order by geom <-> pt limit 5`.
//!
//! Same seeded data for all three: 100,000 responders (police 35 %,
//! patrol_car 10 %, auxiliary 30 %, grid 25 %; 20 % `busy`), Gaussian
//! clusters around the 19 township seats (the generator of
//! `benches/responders_index.rs`). Each cell is a closed loop of 50 workers on
//! 50 keep-alive connections for a fixed window; the cells are interleaved
//! within each repetition; medians over the repetitions. Correctness: every
//! system's 5 ids against a brute-force haversine scan of the generated data.
//!
//! `cargo bench --bench responders_http` (env: LIANQIN_TEST_DATABASE_URL,
//! LIANQIN_BENCH_REDIS_URL (default redis://127.0.0.1:6379/; skipped if
//! unreachable), LIANQIN_BENCH_REPS (default 5), LIANQIN_BENCH_WINDOW_MS
//! (default 1500)). Fixes are stamped at load time and lianqin marks them
//! stale after 5 min; stale fixes still answer, in distance order, so the
//! ids do not change if a long run passes that mark.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{fmt_rate, gauss, median, quantile_sorted, Seat, Server, TempDb};
use futures::StreamExt;
use lianqin::domain::{JurisdictionSummary, Position};
use lianqin::spatial::{haversine_m, JurisdictionIndex};
use rand::{rngs::SmallRng, Rng, SeedableRng};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

const N: usize = 100_000;
const K: usize = 5;
const WORKERS: usize = 50;
const BATCH: usize = 1_000;
const TYPES: [&str; 4] = ["police", "patrol_car", "auxiliary", "grid"];
const TYPE_SHARE: [f64; 4] = [0.35, 0.10, 0.30, 0.25];
const RADII_KM: [f64; 4] = [1.0, 2.0, 5.0, 10.0];
const WIDEN_KM: [f64; 6] = [1.0, 2.0, 5.0, 10.0, 20.0, 50.0];
/// Query points: the urban 东城街道 seat and the mountain 富山乡 seat.
const POINTS: [(&str, f64, f64); 2] = [
    ("urban 东城街道", 121.27106, 28.6473),
    ("mountain 富山乡", 120.8856, 28.53155),
];
/// Random in-district points for the "how often is a radius short" survey.
const SURVEY: usize = 2_000;

const PG_TABLES: [(&str, &str); 2] = [
    (
        "bench_responder",
        "partial GiST `where kind='police' and status='available'` (+ GiST on geom, b-tree (kind,status))",
    ),
    (
        "bench_responder_plain",
        "general indexes only: GiST on geom, b-tree (kind,status)",
    ),
];

fn main() -> anyhow::Result<()> {
    let rt = common::runtime();
    rt.block_on(async {
        let db = TempDb::create("responders_http").await?;
        let result = run(&db).await;
        db.drop_db().await?;
        result
    })
}

// ------------------------------------------------------------------ data

#[derive(Clone)]
struct Resp {
    id: String,
    kind: usize,
    available: bool,
    lon: f64,
    lat: f64,
}

fn make_responders(seats: &[Seat]) -> Vec<Resp> {
    let mut rng = SmallRng::seed_from_u64(42);
    let total_w: f64 = seats.iter().map(|s| s.weight).sum();
    (0..N)
        .map(|i| {
            let mut x: f64 = rng.gen();
            let mut kind = 3;
            for (t, share) in TYPE_SHARE.iter().enumerate() {
                if x < *share {
                    kind = t;
                    break;
                }
                x -= share;
            }
            let available = !rng.gen_bool(0.2);
            let mut w = rng.gen_range(0.0..total_w);
            let s = seats
                .iter()
                .find(|s| {
                    w -= s.weight;
                    w < 0.0
                })
                .unwrap_or(&seats[0]);
            let m_lat = 111_195.0;
            let m_lon = m_lat * s.lat.to_radians().cos();
            Resp {
                id: format!("r{i:06}"),
                kind,
                available,
                lon: s.lon + s.sigma_m * gauss(&mut rng) / m_lon,
                lat: s.lat + s.sigma_m * gauss(&mut rng) / m_lat,
            }
        })
        .collect()
}

fn status(r: &Resp) -> &'static str {
    if r.available {
        "available"
    } else {
        "busy"
    }
}

/// Ground truth: the k nearest available police by haversine (ties by id).
fn brute_force(data: &[Resp], lon: f64, lat: f64) -> Vec<(String, f64)> {
    let mut v: Vec<(f64, &str)> = data
        .iter()
        .filter(|r| r.kind == 0 && r.available)
        .map(|r| (haversine_m(lon, lat, r.lon, r.lat), r.id.as_str()))
        .collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(b.1)));
    v.into_iter()
        .take(K)
        .map(|(d, id)| (id.to_string(), d))
        .collect()
}

// ------------------------------------------------------------------ loading

async fn load_lianqin(base: &str, data: &[Resp]) -> anyhow::Result<(f64, f64)> {
    let http = reqwest::Client::builder().tcp_nodelay(true).build()?;
    let t = Instant::now();
    let bodies: Vec<String> = data
        .chunks(BATCH)
        .map(|c| {
            let items: Vec<serde_json::Value> = c
                .iter()
                .map(|r| {
                    serde_json::json!({"id": r.id, "name": format!("bench {}", r.id),
                                       "type": TYPES[r.kind], "status": status(r)})
                })
                .collect();
            serde_json::Value::Array(items).to_string()
        })
        .collect();
    post_all(
        &http,
        &format!("{base}/api/v1/responders"),
        bodies,
        |code, _| code == 201 || code == 200,
    )
    .await?;
    let roster_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let ts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let bodies: Vec<String> = data
        .chunks(BATCH)
        .map(|c| {
            let items: Vec<serde_json::Value> = c
                .iter()
                .map(|r| serde_json::json!({"id": r.id, "lon": r.lon, "lat": r.lat, "ts": ts}))
                .collect();
            serde_json::Value::Array(items).to_string()
        })
        .collect();
    post_all(
        &http,
        &format!("{base}/api/v1/responders/positions"),
        bodies,
        |code, body| {
            code == 200
                && serde_json::from_str::<serde_json::Value>(body)
                    .ok()
                    .and_then(|v| v["accepted"].as_u64())
                    == Some(BATCH as u64)
        },
    )
    .await?;
    Ok((roster_s, t.elapsed().as_secs_f64()))
}

/// POSTs the bodies, 4 in flight; every answer must pass `ok`.
async fn post_all(
    http: &reqwest::Client,
    url: &str,
    bodies: Vec<String>,
    ok: impl Fn(u16, &str) -> bool,
) -> anyhow::Result<()> {
    let mut answers = futures::stream::iter(bodies.into_iter().map(|b| {
        let req = http
            .post(url)
            .header("content-type", "application/json")
            .body(b);
        async move {
            let r = req.send().await?;
            let code = r.status().as_u16();
            let text = r.text().await?;
            anyhow::Ok((code, text))
        }
    }))
    .buffer_unordered(4);
    while let Some(a) = answers.next().await {
        let (code, text) = a?;
        if !ok(code, &text) {
            let cut: String = text.chars().take(400).collect();
            anyhow::bail!("POST {url}: HTTP {code}: {cut}");
        }
    }
    Ok(())
}

fn redis_key(prefix: &str, kind: &str, status: &str) -> String {
    format!("{prefix}responders:{kind}:{status}")
}

async fn load_redis(
    con: &mut redis::aio::MultiplexedConnection,
    prefix: &str,
    data: &[Resp],
) -> anyhow::Result<f64> {
    let t = Instant::now();
    for kind in TYPES {
        for st in ["available", "busy"] {
            let _: () = redis::cmd("DEL")
                .arg(redis_key(prefix, kind, st))
                .query_async(con)
                .await?;
        }
    }
    // one GEOADD of 1,000 members per (key, chunk), 20 commands per pipeline
    let mut cmds = Vec::new();
    for (t, kind) in TYPES.iter().enumerate() {
        for avail in [true, false] {
            let key = redis_key(prefix, kind, if avail { "available" } else { "busy" });
            let members: Vec<&Resp> = data
                .iter()
                .filter(|r| r.kind == t && r.available == avail)
                .collect();
            for chunk in members.chunks(BATCH) {
                let mut c = redis::cmd("GEOADD");
                c.arg(&key);
                for r in chunk {
                    c.arg(r.lon).arg(r.lat).arg(&r.id);
                }
                cmds.push(c);
            }
        }
    }
    for group in cmds.chunks(20) {
        let mut pipe = redis::pipe();
        for c in group {
            pipe.add_command(c.clone());
        }
        let _: Vec<i64> = pipe.query_async(con).await?;
    }
    Ok(t.elapsed().as_secs_f64())
}

async fn load_postgis(pool: &PgPool, data: &[Resp]) -> anyhow::Result<f64> {
    let t = Instant::now();
    let ids: Vec<&str> = data.iter().map(|r| r.id.as_str()).collect();
    let kinds: Vec<&str> = data.iter().map(|r| TYPES[r.kind]).collect();
    let statuses: Vec<&str> = data.iter().map(status).collect();
    let lons: Vec<f64> = data.iter().map(|r| r.lon).collect();
    let lats: Vec<f64> = data.iter().map(|r| r.lat).collect();
    for (table, _) in PG_TABLES {
        sqlx::query(&format!(
            "create table {table} (id text primary key, kind text not null, status text not null, geom geometry(Point,4326) not null)"
        ))
        .execute(pool)
        .await?;
        sqlx::query(&format!(
            "insert into {table} (id, kind, status, geom)
             select id, kind, status, ST_SetSRID(ST_MakePoint(lon, lat), 4326)
             from unnest($1::text[], $2::text[], $3::text[], $4::float8[], $5::float8[]) as t(id, kind, status, lon, lat)"
        ))
        .bind(&ids)
        .bind(&kinds)
        .bind(&statuses)
        .bind(&lons)
        .bind(&lats)
        .execute(pool)
        .await?;
        sqlx::query(&format!("create index on {table} using gist (geom)"))
            .execute(pool)
            .await?;
        sqlx::query(&format!("create index on {table} (kind, status)"))
            .execute(pool)
            .await?;
    }
    sqlx::query(
        "create index bench_responder_police_available on bench_responder using gist (geom) \
         where kind = 'police' and status = 'available'",
    )
    .execute(pool)
    .await?;
    for (table, _) in PG_TABLES {
        sqlx::query(&format!("vacuum analyze {table}"))
            .execute(pool)
            .await?;
    }
    Ok(t.elapsed().as_secs_f64())
}

// ------------------------------------------------------------------ queries

fn nearest_url(base: &str, lon: f64, lat: f64) -> String {
    format!("{base}/api/v1/responders/nearest?lon={lon}&lat={lat}&k={K}&type=police")
}

/// The same query answering only ids, distances and ETAs (like GEOSEARCH WITHDIST).
fn nearest_ids_url(base: &str, lon: f64, lat: f64) -> String {
    format!("{base}/api/v1/responders/nearest?lon={lon}&lat={lat}&k={K}&type=police&fields=ids")
}

fn pg_sql(table: &str) -> String {
    format!(
        "select id, ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint($1, $2), 4326)::geography) as d \
         from {table} where kind = 'police' and status = 'available' \
         order by geom <-> ST_SetSRID(ST_MakePoint($1, $2), 4326) limit {K}"
    )
}

fn geosearch(key: &str, lon: f64, lat: f64, r_km: f64, withdist: bool) -> redis::Cmd {
    let mut c = redis::cmd("GEOSEARCH");
    c.arg(key)
        .arg("FROMLONLAT")
        .arg(lon)
        .arg(lat)
        .arg("BYRADIUS")
        .arg(r_km)
        .arg("km")
        .arg("ASC")
        .arg("COUNT")
        .arg(K);
    if withdist {
        c.arg("WITHDIST");
    }
    c
}

async fn lianqin_ids(
    http: &reqwest::Client,
    base: &str,
    lon: f64,
    lat: f64,
) -> anyhow::Result<(Vec<(String, f64)>, usize)> {
    let body = http
        .get(nearest_url(base, lon, lat))
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await?;
    let v: serde_json::Value = serde_json::from_slice(&body)?;
    let list = v["candidates"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            (
                c["responder"]["id"].as_str().unwrap_or("?").to_string(),
                c["distance_m"].as_f64().unwrap_or(f64::NAN),
            )
        })
        .collect();
    Ok((list, body.len()))
}

// ------------------------------------------------------------------ closed loops

#[derive(Clone)]
enum Peer {
    Lianqin,
    LianqinIds,
    Redis(f64),
    RedisWiden,
    Pg(usize),
}

impl Peer {
    fn label(&self) -> String {
        match self {
            Peer::Lianqin => {
                "lianqin `GET /api/v1/responders/nearest` (HTTP/1.1, JSON with 5 candidates)".into()
            }
            Peer::LianqinIds => {
                "lianqin `GET …/nearest?fields=ids` (ids + distance + ETA, like WITHDIST)".into()
            }
            Peer::Redis(r) => format!("Redis `GEOSEARCH … BYRADIUS {r} km ASC COUNT 5`"),
            Peer::RedisWiden => "Redis widen until 5: 1 → 2 → 5 → 10 → 20 → 50 km".into(),
            Peer::Pg(t) => format!("PostGIS `<->` KNN, {}", PG_TABLES[*t].1),
        }
    }
}

struct Conns {
    pre_server_tids: HashSet<u32>,
    base: String,
    http: Vec<reqwest::Client>,
    redis: Option<Vec<redis::aio::MultiplexedConnection>>,
    redis_key: String,
    pg: PgPool,
}

#[derive(Default, Clone)]
struct Cell {
    /// Answers per second (a widen answer may take several round trips).
    rate: f64,
    trips_per_answer: f64,
    p50_ms: f64,
    p99_ms: f64,
    short: u64,
    answers: u64,
    errors: u64,
    /// Cores used: lianqin server threads, load generator (rest of this
    /// process), PostgreSQL, Redis, everything else on the machine.
    cpu: [Option<f64>; 5],
}

struct WorkerOut {
    lat_us: Vec<f64>,
    answers: u64,
    trips: u64,
    short: u64,
    errors: u64,
}

async fn window(conns: &Conns, peer: &Peer, lon: f64, lat: f64, dur: Duration) -> Cell {
    let cpu0 = cpu_now(&conns.pre_server_tids);
    let t0 = Instant::now();
    let deadline = t0 + dur;
    let mut tasks = Vec::with_capacity(WORKERS);
    for w in 0..WORKERS {
        let peer = peer.clone();
        let http = conns.http[w].clone();
        let url = match peer {
            Peer::LianqinIds => nearest_ids_url(&conns.base, lon, lat),
            _ => nearest_url(&conns.base, lon, lat),
        };
        let mut redis = conns.redis.as_ref().map(|v| v[w].clone());
        let key = conns.redis_key.clone();
        let pg = conns.pg.clone();
        let sql = match peer {
            Peer::Pg(t) => pg_sql(PG_TABLES[t].0),
            _ => String::new(),
        };
        tasks.push(tokio::spawn(async move {
            let mut out = WorkerOut {
                lat_us: Vec::with_capacity(4096),
                answers: 0,
                trips: 0,
                short: 0,
                errors: 0,
            };
            while Instant::now() < deadline {
                let t = Instant::now();
                let (n, trips, ok) = match &peer {
                    Peer::Lianqin | Peer::LianqinIds => match http.get(url.as_str()).send().await {
                        Ok(r) => {
                            let ok = r.status().as_u16() == 200;
                            match r.bytes().await {
                                Ok(b) => (if ok && b.len() > 2 { K } else { 0 }, 1, ok),
                                Err(_) => (0, 1, false),
                            }
                        }
                        Err(_) => (0, 1, false),
                    },
                    Peer::Redis(r) => {
                        let con = redis.as_mut().expect("redis connected");
                        match geosearch(&key, lon, lat, *r, false)
                            .query_async::<Vec<String>>(con)
                            .await
                        {
                            Ok(v) => (v.len(), 1, true),
                            Err(_) => (0, 1, false),
                        }
                    }
                    Peer::RedisWiden => {
                        let con = redis.as_mut().expect("redis connected");
                        let mut res = (0, 0, true);
                        for r in WIDEN_KM {
                            res.1 += 1;
                            match geosearch(&key, lon, lat, r, false)
                                .query_async::<Vec<String>>(con)
                                .await
                            {
                                Ok(v) => {
                                    res.0 = v.len();
                                    if v.len() >= K {
                                        break;
                                    }
                                }
                                Err(_) => {
                                    res.2 = false;
                                    break;
                                }
                            }
                        }
                        res
                    }
                    Peer::Pg(_) => {
                        match sqlx::query_as::<_, (String, f64)>(&sql)
                            .bind(lon)
                            .bind(lat)
                            .fetch_all(&pg)
                            .await
                        {
                            Ok(v) => (v.len(), 1, true),
                            Err(_) => (0, 1, false),
                        }
                    }
                };
                out.lat_us.push(t.elapsed().as_secs_f64() * 1e6);
                out.trips += trips;
                if ok {
                    out.answers += 1;
                    if n < K {
                        out.short += 1;
                    }
                } else {
                    out.errors += 1;
                }
            }
            out
        }));
    }
    let mut lat_us = Vec::new();
    let mut cell = Cell::default();
    let mut trips = 0;
    for t in tasks {
        let o = t.await.expect("worker panicked");
        lat_us.extend(o.lat_us);
        cell.answers += o.answers;
        cell.short += o.short;
        cell.errors += o.errors;
        trips += o.trips;
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu1 = cpu_now(&conns.pre_server_tids);
    let d: Vec<Option<f64>> = (0..5)
        .map(|i| cpu1[i].zip(cpu0[i]).map(|(a, b)| (a - b) / wall))
        .collect();
    // [process, server threads, postgres, redis, machine]
    cell.cpu[0] = d[1];
    cell.cpu[1] = d[0].zip(d[1]).map(|(p, srv)| (p - srv).max(0.0));
    cell.cpu[2] = d[2];
    cell.cpu[3] = d[3];
    // machine-wide busy time minus ours: other processes (e.g. a build)
    cell.cpu[4] = d[4].map(|m| {
        let ours: f64 = [d[0], d[2], d[3]].iter().flatten().sum();
        (m - ours).max(0.0)
    });
    lat_us.sort_by(f64::total_cmp);
    cell.rate = cell.answers as f64 / wall;
    cell.trips_per_answer = trips as f64 / cell.answers.max(1) as f64;
    cell.p50_ms = quantile_sorted(&lat_us, 0.5) / 1e3;
    cell.p99_ms = quantile_sorted(&lat_us, 0.99) / 1e3;
    cell
}

/// CPU seconds so far: this process, its server threads, PostgreSQL, Redis,
/// the whole machine.
fn cpu_now(pre_server: &HashSet<u32>) -> [Option<f64>; 5] {
    [
        common::process_cpu_secs(),
        server_threads_cpu_secs(pre_server),
        common::postgres_cpu_secs(),
        redis_cpu_secs(),
        machine_busy_secs(),
    ]
}

fn own_tids() -> HashSet<u32> {
    std::fs::read_dir("/proc/self/task")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// CPU seconds of the threads this process started after `pre` was taken
/// (just before `Server::start`): the server thread, its runtime's workers
/// and blocking threads. The load generator's runtime was built before.
fn server_threads_cpu_secs(pre: &HashSet<u32>) -> Option<f64> {
    let mut total = 0.0;
    for tid in own_tids().difference(pre) {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")) else {
            continue;
        };
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let f: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        let ut: f64 = f.get(11).and_then(|s| s.parse().ok()).unwrap_or(0.0);
        let st: f64 = f.get(12).and_then(|s| s.parse().ok()).unwrap_or(0.0);
        total += (ut + st) / 100.0;
    }
    Some(total)
}

/// Busy CPU seconds of the whole machine (all cores), from /proc/stat.
fn machine_busy_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let f: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|s| s.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest is inside user)
    let busy = f.first()? + f.get(1)? + f.get(2)? + f.get(5)? + f.get(6)? + f.get(7)?;
    Some(busy / 100.0)
}

/// CPU seconds used so far by every `redis-server` process.
fn redis_cpu_secs() -> Option<f64> {
    common::processes_cpu_secs("redis-server")
}

// ------------------------------------------------------------------ run

async fn connect_redis(url: &str) -> anyhow::Result<redis::aio::MultiplexedConnection> {
    let client = redis::Client::open(url)?;
    let con = tokio::time::timeout(
        Duration::from_secs(2),
        client.get_multiplexed_async_connection(),
    )
    .await
    .map_err(|_| anyhow::anyhow!("timed out"))??;
    Ok(con)
}

fn ids(v: &[(String, f64)]) -> Vec<&str> {
    v.iter().map(|x| x.0.as_str()).collect()
}

fn fmt_ids(v: &[(String, f64)]) -> String {
    v.iter()
        .map(|(id, d)| format!("{id} {d:.1}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn same_set(a: &[&str], b: &[&str]) -> bool {
    let mut x = a.to_vec();
    let mut y = b.to_vec();
    x.sort_unstable();
    y.sort_unstable();
    x == y
}

fn verdict(truth: &[(String, f64)], got: &[(String, f64)]) -> &'static str {
    let (t, g) = (ids(truth), ids(got));
    if t == g {
        "same ids, same order"
    } else if same_set(&t, &g) {
        "same ids, different order"
    } else {
        "DIFFERENT ids"
    }
}

async fn run(db: &TempDb) -> anyhow::Result<()> {
    let started = Instant::now();
    let reps = common::reps(5);
    let dur = Duration::from_millis(
        std::env::var("LIANQIN_BENCH_WINDOW_MS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1500),
    );
    let setup = lianqin::store::connect(&db.url, 4).await?;
    common::migrate_and_import(&setup, &db.name).await?;
    common::print_machine(
        "Nearest available responders over the network: lianqin HTTP vs Redis GEOSEARCH vs PostGIS KNN",
        Some(&setup),
    )
    .await;

    let seats = common::load_seats();
    for (name, lon, lat) in POINTS {
        let short = name.split_whitespace().last().unwrap_or(name);
        let s = seats
            .iter()
            .find(|s| s.name == short)
            .ok_or_else(|| anyhow::anyhow!("no township {short}"))?;
        anyhow::ensure!(
            (s.lon - lon).abs() < 1e-9 && (s.lat - lat).abs() < 1e-9,
            "{short}: seat moved to ({}, {})",
            s.lon,
            s.lat
        );
    }
    let data = Arc::new(make_responders(&seats));
    let police_avail = data.iter().filter(|r| r.kind == 0 && r.available).count();

    // ---- lianqin, loaded through its own API
    let pre_server_tids = own_tids();
    let server = Server::start(&db.url)?;
    let base = format!("http://{}", server.addr);
    let (roster_s, pos_s) = load_lianqin(&base, &data).await?;
    // let the telemetry flusher write the 100k newest fixes before measuring
    let t = Instant::now();
    loop {
        let n: i64 = sqlx::query_scalar("select count(*) from responder_position")
            .fetch_one(&setup)
            .await?;
        if n as usize >= N || t.elapsed() > Duration::from_secs(30) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let flush_s = t.elapsed().as_secs_f64();

    // ---- Redis
    let redis_url = std::env::var("LIANQIN_BENCH_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379/".into());
    let prefix = format!("lianqin_bench:{}:", std::process::id());
    let mut redis_note = String::new();
    let mut redis_load_s = f64::NAN;
    let redis_conns = match connect_redis(&redis_url).await {
        Ok(mut con) => {
            let info: String = redis::cmd("INFO")
                .arg("server")
                .query_async(&mut con)
                .await?;
            let version = info
                .lines()
                .find_map(|l| l.strip_prefix("redis_version:"))
                .unwrap_or("?")
                .trim()
                .to_string();
            redis_note = format!("Redis {version} at {redis_url}");
            redis_load_s = load_redis(&mut con, &prefix, &data).await?;
            let mut v = Vec::with_capacity(WORKERS);
            for _ in 0..WORKERS {
                v.push(connect_redis(&redis_url).await?);
            }
            Some(v)
        }
        Err(e) => {
            println!("Redis at {redis_url} not reachable ({e}): Redis rows skipped.\n");
            None
        }
    };
    let police_key = redis_key(&prefix, "police", "available");

    // ---- PostGIS
    let pg_load_s = load_postgis(&setup, &data).await?;
    let pg = PgPoolOptions::new()
        .max_connections(WORKERS as u32)
        .min_connections(WORKERS as u32)
        .acquire_timeout(Duration::from_secs(10))
        .connect(&db.url)
        .await?;
    let mut plans = Vec::new();
    for (table, _) in PG_TABLES {
        let sql = pg_sql(table)
            .replace("$1", &POINTS[0].1.to_string())
            .replace("$2", &POINTS[0].2.to_string());
        let rows: Vec<(String,)> = sqlx::query_as(&format!("explain (costs off) {sql}"))
            .fetch_all(&pg)
            .await?;
        let plan: Vec<String> = rows
            .into_iter()
            .map(|r| r.0.trim().trim_start_matches("->  ").to_string())
            .collect();
        plans.push((table, plan.join(" → ")));
    }

    // ---- load generator connections: 50 keep-alive HTTP/1.1 connections
    let mut http = Vec::with_capacity(WORKERS);
    for _ in 0..WORKERS {
        http.push(
            reqwest::Client::builder()
                .tcp_nodelay(true)
                .pool_max_idle_per_host(1)
                .build()?,
        );
    }
    let conns = Conns {
        pre_server_tids,
        base: base.clone(),
        http,
        redis: redis_conns,
        redis_key: police_key.clone(),
        pg,
    };

    println!(
        "{N} responders (police 35 %, patrol_car 10 %, auxiliary 30 %, grid 25 %; 20 % `busy`; {police_avail} available police), seeded Gaussian clusters around the {} township seats. \
         Query: k = {K} nearest available police at {}.\n",
        seats.len(),
        POINTS
            .iter()
            .map(|(n, lon, lat)| format!("{n} ({lon}, {lat})"))
            .collect::<Vec<_>>()
            .join(" and ")
    );
    println!(
        "- load: lianqin roster {roster_s:.1} s + positions {pos_s:.1} s through its HTTP API ({} POSTs of {BATCH}, 4 in flight), newest fixes flushed to PostGIS {flush_s:.1} s later; \
         Redis pipelined `GEOADD` (1,000 members a command) into 8 keys {}; PostGIS `unnest` insert + indexes + `vacuum analyze` of both tables {pg_load_s:.1} s.",
        2 * N / BATCH,
        if redis_load_s.is_finite() {
            format!("{redis_load_s:.2} s")
        } else {
            "skipped".into()
        }
    );
    println!(
        "- load average (1/5/15 min) before measuring: {}",
        std::fs::read_to_string("/proc/loadavg")
            .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|_| "?".into())
    );
    if !redis_note.is_empty() {
        println!("- {redis_note}; keys `{prefix}responders:<type>:<status>` (deleted at the end).");
    }
    for (table, plan) in &plans {
        println!("- PostGIS plan, `{table}`: {plan}");
    }
    println!(
        "- each cell: {WORKERS} workers, each on its own keep-alive connection (lianqin: one reqwest client each; Redis: one connection each; PostGIS: a sqlx pool of {WORKERS}), \
         closed loop (next request when the previous answer is read) for {} ms; cells interleaved within each of {reps} repetitions, after an unreported 300 ms warm-up of each; medians over repetitions.\n",
        dur.as_millis()
    );

    // ---- correctness
    let check_http = reqwest::Client::new();
    println!("### Correctness: the 5 ids (with metres) against a brute-force haversine scan of the generated data\n");
    println!("| point | system | ids (distance m) | vs brute force |");
    println!("|---|---|---|---|");
    let mut mismatches = Vec::new();
    for (name, lon, lat) in POINTS {
        let truth = brute_force(&data, lon, lat);
        println!(
            "| {name} | brute force (haversine, R = 6,371,008.8 m) | {} | – |",
            fmt_ids(&truth)
        );
        let (ours, bytes) = lianqin_ids(&check_http, &base, lon, lat).await?;
        let v = verdict(&truth, &ours);
        if v != "same ids, same order" {
            mismatches.push(format!("lianqin at {name}: {v}"));
        }
        println!(
            "| {name} | lianqin (response body {bytes} bytes) | {} | {v} |",
            fmt_ids(&ours)
        );
        for (i, (table, _)) in PG_TABLES.iter().enumerate() {
            let got: Vec<(String, f64)> = sqlx::query_as(&pg_sql(table))
                .bind(lon)
                .bind(lat)
                .fetch_all(&conns.pg)
                .await?;
            let v = verdict(&truth, &got);
            if i == 0 && !same_set(&ids(&ours), &ids(&got)) {
                mismatches.push(format!("PostGIS `<->` at {name}: {v}"));
            }
            println!(
                "| {name} | PostGIS `order by geom <-> pt` ({table}), d = ST_Distance(geography) | {} | {v} |",
                fmt_ids(&got)
            );
        }
        let exact: Vec<(String, f64)> = sqlx::query_as(&format!(
            "select id, ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint($1, $2), 4326)::geography) as d \
             from bench_responder where kind = 'police' and status = 'available' order by d, id limit {K}"
        ))
        .bind(lon)
        .bind(lat)
        .fetch_all(&conns.pg)
        .await?;
        println!(
            "| {name} | PostGIS `order by ST_Distance(geography)` (spheroid; full scan, not benchmarked) | {} | {} |",
            fmt_ids(&exact),
            verdict(&truth, &exact)
        );
        if let Some(cons) = &conns.redis {
            let mut con = cons[0].clone();
            for r in RADII_KM {
                let got: Vec<(String, f64)> = geosearch(&police_key, lon, lat, r, true)
                    .query_async(&mut con)
                    .await?;
                let got: Vec<(String, f64)> =
                    got.into_iter().map(|(id, km)| (id, km * 1e3)).collect();
                let v = if got.len() < K {
                    format!("{} of 5 returned", got.len())
                } else {
                    let v = verdict(&truth, &got);
                    if !same_set(&ids(&ours), &ids(&got)) {
                        mismatches.push(format!("Redis {r} km at {name}: {v}"));
                    }
                    v.to_string()
                };
                println!(
                    "| {name} | Redis {r} km (WITHDIST; geohash-quantised, R = 6,372,797.6 m) | {} | {v} |",
                    fmt_ids(&got)
                );
            }
        }
    }
    println!();
    if mismatches.is_empty() {
        println!("lianqin's 5 ids equal the brute-force ones in order at both points, equal PostGIS's `<->` set, and equal Redis's wherever Redis returned 5.\n");
    } else {
        println!("**Differences:** {}.\n", mismatches.join("; "));
    }

    // ---- how often is a fixed radius short?
    if let Some(cons) = &conns.redis {
        let layers = common::layers_from_files()?;
        let index = JurisdictionIndex::build(&layers);
        let [w, s, e, n] = index.district_bbox().expect("district loaded");
        let mut rng = SmallRng::seed_from_u64(7);
        let mut pts = Vec::with_capacity(SURVEY);
        while pts.len() < SURVEY {
            let (lon, lat) = (rng.gen_range(w..e), rng.gen_range(s..n));
            let p = Position::new(lon, lat)?;
            if JurisdictionSummary::from(&index.locate(p)).inside {
                pts.push((lon, lat));
            }
        }
        let mut con = cons[0].clone();
        let mut short = Vec::new();
        for r in WIDEN_KM {
            let mut n_short = 0;
            for chunk in pts.chunks(500) {
                let mut pipe = redis::pipe();
                for &(lon, lat) in chunk {
                    pipe.add_command(geosearch(&police_key, lon, lat, r, false));
                }
                let got: Vec<Vec<String>> = pipe.query_async(&mut con).await?;
                n_short += got.iter().filter(|v| v.len() < K).count();
            }
            short.push(n_short);
        }
        // widen: round trips until 5 = 1 + number of radii still short
        let mut trips = vec![0usize; SURVEY];
        let mut still: Vec<usize> = (0..SURVEY).collect();
        for r in WIDEN_KM {
            let mut next = Vec::new();
            for chunk in still.chunks(500) {
                let mut pipe = redis::pipe();
                for &i in chunk {
                    pipe.add_command(geosearch(&police_key, pts[i].0, pts[i].1, r, false));
                }
                let got: Vec<Vec<String>> = pipe.query_async(&mut con).await?;
                for (&i, v) in chunk.iter().zip(got) {
                    trips[i] += 1;
                    if v.len() < K {
                        next.push(i);
                    }
                }
            }
            still = next;
        }
        let mean_trips = trips.iter().sum::<usize>() as f64 / SURVEY as f64;
        let max_trips = trips.iter().max().copied().unwrap_or(0);
        println!(
            "### How often a fixed radius is short (Redis, {SURVEY} seeded points uniform inside the district, not timed)\n"
        );
        println!(
            "| radius | {} |",
            WIDEN_KM.map(|r| format!("{r} km")).join(" | ")
        );
        println!("|---|{}", "---:|".repeat(WIDEN_KM.len()));
        println!(
            "| answers with < 5 available police | {} |",
            short
                .iter()
                .map(|&n| format!("{:.1} % ({n})", 100.0 * n as f64 / SURVEY as f64))
                .collect::<Vec<_>>()
                .join(" | ")
        );
        println!(
            "\nWiden until 5 over these points: {mean_trips:.2} round trips per answer on average, at most {max_trips}; {} points still short at 50 km.\n",
            still.len()
        );
    }

    // ---- measurement
    let mut peers = vec![Peer::Lianqin, Peer::LianqinIds];
    if conns.redis.is_some() {
        peers.extend(RADII_KM.iter().map(|&r| Peer::Redis(r)));
        peers.push(Peer::RedisWiden);
    }
    peers.extend((0..PG_TABLES.len()).map(Peer::Pg));
    for &(_, lon, lat) in &POINTS {
        for p in &peers {
            window(&conns, p, lon, lat, Duration::from_millis(300)).await;
        }
    }
    let mut cells: Vec<Vec<Vec<Cell>>> = vec![vec![Vec::new(); peers.len()]; POINTS.len()];
    for _ in 0..reps {
        for (pi, &(_, lon, lat)) in POINTS.iter().enumerate() {
            for (qi, p) in peers.iter().enumerate() {
                cells[pi][qi].push(window(&conns, p, lon, lat, dur).await);
            }
        }
    }

    let med = |v: &[Cell], f: fn(&Cell) -> f64| median(&v.iter().map(f).collect::<Vec<_>>());
    let cpu = |v: &[Cell], i: usize| {
        let xs: Vec<f64> = v.iter().filter_map(|c| c.cpu[i]).collect();
        if xs.is_empty() {
            "?".to_string()
        } else {
            format!("{:.2}", median(&xs))
        }
    };
    println!("### Throughput and latency ({WORKERS} concurrent connections, closed loop)\n");
    println!("| point | system | answers/s | round trips / answer | p50 ms | p99 ms | answers with < 5 ids | errors | CPU cores: lianqin server / load generator / PostgreSQL / Redis / other processes | serving CPU µs / answer | lianqin ÷ this |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut ratios: Vec<(usize, Peer, f64)> = Vec::new();
    let mut disturbed: Vec<String> = Vec::new();
    for (pi, (name, _, _)) in POINTS.iter().enumerate() {
        let ours = med(&cells[pi][0], |c| c.rate);
        for (qi, p) in peers.iter().enumerate() {
            let v = &cells[pi][qi];
            let rate = med(v, |c| c.rate);
            let answers: u64 = v.iter().map(|c| c.answers).sum();
            let short: u64 = v.iter().map(|c| c.short).sum();
            let errors: u64 = v.iter().map(|c| c.errors).sum();
            ratios.push((pi, p.clone(), ours / rate));
            // CPU of the serving side (lianqin server threads, PostgreSQL or
            // Redis) per answer, median over repetitions
            let serving = match p {
                Peer::Lianqin | Peer::LianqinIds => 0,
                Peer::Pg(_) => 2,
                Peer::Redis(_) | Peer::RedisWiden => 3,
            };
            let us: Vec<f64> = v
                .iter()
                .filter_map(|c| c.cpu[serving].map(|x| x / c.rate * 1e6))
                .collect();
            let others: Vec<f64> = v.iter().filter_map(|c| c.cpu[4]).collect();
            if median(&others) > 0.1 {
                disturbed.push(format!(
                    "{name} / {} ({:.2} cores)",
                    p.label(),
                    median(&others)
                ));
            }
            println!(
                "| {name} | {} | {} | {:.2} | {:.2} | {:.2} | {} | {errors} | {} / {} / {} / {} / {} | {:.0} | {} |",
                p.label(),
                fmt_rate(rate),
                med(v, |c| c.trips_per_answer),
                med(v, |c| c.p50_ms),
                med(v, |c| c.p99_ms),
                if matches!(p, Peer::Lianqin | Peer::LianqinIds) {
                    "–".to_string()
                } else {
                    format!("{:.0} %", 100.0 * short as f64 / answers.max(1) as f64)
                },
                cpu(v, 0),
                cpu(v, 1),
                cpu(v, 2),
                cpu(v, 3),
                cpu(v, 4),
                median(&us),
                if qi == 0 {
                    "1.0×".to_string()
                } else {
                    format!("{:.1}×", ours / rate)
                },
            );
        }
    }
    println!();
    let others_max = cells
        .iter()
        .flatten()
        .flatten()
        .filter_map(|c| c.cpu[4])
        .fold(0.0_f64, f64::max);
    if disturbed.is_empty() {
        println!("Other processes: median ≤ 0.10 cores in every cell (max {others_max:.2} in any one window).\n");
    } else {
        println!(
            "**Other processes took CPU (median > 0.10 cores) in: {}. Those cells are depressed; rerun on a quiet machine.**\n",
            disturbed.join("; ")
        );
    }

    // ---- targets
    println!("### Targets\n");
    println!("| target | point | lianqin ÷ peer | met? |");
    println!("|---|---|---:|---|");
    let target = |what: &str, pick: &dyn Fn(&Peer) -> bool, need: f64| {
        for (pi, (name, _, _)) in POINTS.iter().enumerate() {
            if let Some((_, _, r)) = ratios.iter().find(|(i, p, _)| *i == pi && pick(p)) {
                println!(
                    "| {what} | {name} | {r:.2}× | {} |",
                    if *r >= need { "yes" } else { "**no**" }
                );
            } else {
                println!("| {what} | {name} | – | skipped (Redis not reachable) |");
            }
        }
    };
    target(
        "≥ 1× Redis 1 km",
        &|p| matches!(p, Peer::Redis(r) if *r == 1.0),
        1.0,
    );
    target(
        "≥ 10× Redis 5 km",
        &|p| matches!(p, Peer::Redis(r) if *r == 5.0),
        10.0,
    );
    target(
        "≥ 4× PostGIS (partial GiST, the faster variant)",
        &|p| matches!(p, Peer::Pg(0)),
        4.0,
    );
    println!();

    // ---- the same lianqin queries with wrk (a C load generator) when it is
    // installed: reqwest's own CPU is a large share of each lianqin cell on a
    // 2-core box; wrk's is far smaller, as redis-rs's is for Redis.
    if std::process::Command::new("wrk")
        .arg("--version")
        .output()
        .is_ok()
    {
        println!(
            "### lianqin with wrk (1 thread, {WORKERS} connections, {} s windows × {reps})\n",
            dur.as_secs_f64().ceil().max(1.0)
        );
        println!("| point | system | answers/s (median) | p50 ms | p99 ms | vs Redis 1 km | vs Redis 5 km | vs best PostGIS |");
        println!("|---|---|---:|---:|---:|---:|---:|---:|");
        for (pi, (name, lon, lat)) in POINTS.iter().enumerate() {
            let peer_rate = |pred: &dyn Fn(&Peer) -> bool| {
                peers
                    .iter()
                    .position(pred)
                    .map(|qi| med(&cells[pi][qi], |c| c.rate))
            };
            let r1 = peer_rate(&|p| matches!(p, Peer::Redis(r) if *r == 1.0));
            let r5 = peer_rate(&|p| matches!(p, Peer::Redis(r) if *r == 5.0));
            let pg = (0..PG_TABLES.len())
                .filter_map(|t| peer_rate(&|p| matches!(p, Peer::Pg(x) if *x == t)))
                .fold(0.0, f64::max);
            for (label, url) in [
                (
                    "lianqin `nearest` (full records) via wrk",
                    nearest_url(&conns.base, *lon, *lat),
                ),
                (
                    "lianqin `nearest?fields=ids` via wrk",
                    nearest_ids_url(&conns.base, *lon, *lat),
                ),
            ] {
                let mut rates = Vec::new();
                let (mut p50s, mut p99s) = (Vec::new(), Vec::new());
                for _ in 0..reps {
                    let out = std::process::Command::new("wrk")
                        .args([
                            "-t1",
                            &format!("-c{WORKERS}"),
                            &format!("-d{}s", dur.as_secs_f64().ceil().max(1.0) as u64),
                            "--latency",
                            &url,
                        ])
                        .output()?;
                    let text = String::from_utf8_lossy(&out.stdout).to_string();
                    if let Some(r) = wrk_value(&text, "Requests/sec:") {
                        rates.push(r);
                    }
                    if let Some(v) = wrk_latency(&text, "50%") {
                        p50s.push(v);
                    }
                    if let Some(v) = wrk_latency(&text, "99%") {
                        p99s.push(v);
                    }
                    if text.contains("Non-2xx") {
                        anyhow::bail!("wrk saw non-2xx answers from {url}:\n{text}");
                    }
                }
                let rate = median(&rates);
                let ratio =
                    |x: Option<f64>| x.map_or("–".into(), |x| format!("{:.2}×", rate / x));
                println!(
                    "| {name} | {label} | {} | {:.2} | {:.2} | {} | {} | {:.2}× |",
                    fmt_rate(rate),
                    median(&p50s),
                    median(&p99s),
                    ratio(r1),
                    ratio(r5),
                    rate / pg.max(1e-9)
                );
            }
        }
        println!();
    } else {
        println!("(wrk not installed: `apt-get install wrk` adds a run of the lianqin cells with a C load generator)\n");
    }

    println!(
        "Load generator (one tokio runtime, {} workers), lianqin server (own thread and runtime, same process), Redis and PostgreSQL all share this machine's {} cores: \
         every number here is \"on a shared 2-core box\", and the load generator's own CPU is part of each cell's cost (reqwest + HTTP parsing for lianqin, RESP for Redis, the Postgres wire protocol for PostGIS). \
         lianqin answers more per request than the peers: a JSON body with 5 full candidate records (distance, ETA, jurisdiction of each fix, reasons), not just ids. \
         Redis `COUNT 5 ASC` still collects and sorts every member inside the radius, so its cost grows with the radius and the density. \
         PostGIS `<->` orders by planar distance in degrees (a degree of longitude is {:.0} % of a degree of latitude here), so its 5 may differ from the true 5; the distance column is the spheroid distance. \
         Total bench time {:.0} s.\n",
        common::nproc(),
        common::nproc(),
        100.0 * POINTS[0].2.to_radians().cos(),
        started.elapsed().as_secs_f64()
    );

    // ---- clean up
    if let Some(cons) = &conns.redis {
        let mut con = cons[0].clone();
        for kind in TYPES {
            for st in ["available", "busy"] {
                let _: () = redis::cmd("DEL")
                    .arg(redis_key(&prefix, kind, st))
                    .query_async(&mut con)
                    .await?;
            }
        }
    }
    conns.pg.close().await;
    setup.close().await;
    server.stop();
    Ok(())
}

/// `Requests/sec:   12345.67` from wrk's output.
fn wrk_value(text: &str, key: &str) -> Option<f64> {
    let line = text.lines().find(|l| l.trim_start().starts_with(key))?;
    line.trim_start()[key.len()..].trim().parse().ok()
}

/// A `--latency` percentile line (`  99%    4.20ms`), in ms.
fn wrk_latency(text: &str, pct: &str) -> Option<f64> {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(pct) && l.len() > pct.len())?;
    let v = line[pct.len()..].trim();
    let (num, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic())?);
    let x: f64 = num.parse().ok()?;
    Some(match unit {
        "us" => x / 1000.0,
        "ms" => x,
        "s" => x * 1000.0,
        _ => return None,
    })
}
