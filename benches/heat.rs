//! Live H3 heat vs PostGIS, side by side: `cargo bench --bench heat`.
//!
//! 1M seeded incidents (Gaussian clusters around the 19 real township seats
//! of `geodata/townships.geojson`, urban-weighted as in
//! `benches/responders_index.rs`; event times uniform over the last 30 days;
//! 20 categories, Zipf-weighted). Four parts:
//!
//! 1. in-process `Heat::add` (4 resolutions × (all + category)) per incident,
//!    into a fresh surface and into a warm one; `cell_r10` alongside;
//! 2. the incidents `COPY`'d straight into `incident` of a bench database
//!    (`h3_r10` from `lianqin::risk::heat::cell_r10`), the shipped server
//!    started on it (start-up rebuilds the heat; timed), then
//!    `GET /api/v1/heat` for an urban 5 × 5 km viewport at res 9 and the
//!    district at res 8, 8 concurrent keep-alive connections;
//! 3. PostGIS peers on the same rows, same box, same time window, same
//!    1-day-half-life decayed sum, 8 connections: (a) `group by h3_r10` +
//!    parent cells in Rust, (b) `ST_SnapToGrid` squares, (c)
//!    `ST_HexagonGrid` hexagons — interleaved with lianqin in every
//!    repetition; correctness of lianqin against (a);
//! 4. Gi* over the district's res-9 cells: in-process `gi_star`, the HTTP
//!    `GET /api/v1/hotspots` end to end, and PySAL esda (if the tools/pysal venv
//!    exists) on its reference input.
//!
//! Env: LIANQIN_TEST_DATABASE_URL, LIANQIN_BENCH_REPS (default 5),
//! LIANQIN_BENCH_HEAT_N (incidents, default 1,000,000).

mod common;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use common::{draw_pos, load_seats, median, quantile_sorted, Server, TempDb};
use geo::BoundingRect;
use h3o::{CellIndex, LatLng, Resolution};
use lianqin::domain::{Bbox, JurisdictionSummary, Position};
use lianqin::risk::heat::{cell_r10, Heat, HeatConfig, Surface};
use lianqin::risk::hotspots::{self, Weighting};
use lianqin::spatial::JurisdictionIndex;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

const CONNS: usize = 8;
const DAYS: i64 = 30;
const M_PER_DEG_LAT: f64 = 111_195.0;
const CATEGORIES: [&str; 20] = [
    "治安",
    "盗窃",
    "交通",
    "求助",
    "纠纷",
    "诈骗",
    "火情",
    "城市管理",
    "环境",
    "劳动保障",
    "市场监管",
    "信访",
    "矛盾纠纷",
    "安全隐患",
    "重点人员",
    "联勤任务",
    "法律服务",
    "噪音扰民",
    "非法营运",
    "其他",
];
/// Urban viewport: 5 × 5 km around this point.
const URBAN: (f64, f64) = (121.26, 28.64);
const URBAN_HALF_M: f64 = 2_500.0;
/// Requests per connection per repetition (lianqin), and the peers' cap.
const LQ_PER_CONN: usize = 50;
/// Requests per repetition on a single connection (service time without queueing).
const LQ_SINGLE: usize = 100;
const PEER_PER_CONN: usize = 4;
/// A peer cell stops starting new queries after this (each connection runs ≥ 1).
const PEER_WINDOW: Duration = Duration::from_millis(2_500);
/// Repetitions that run peer (c): its district query takes ~10 s of CPU, so
/// it runs in the first two repetitions only (it is never the best peer).
const HEX_REPS: usize = 2;
/// A Python with numpy, scipy, libpysal and esda: `$LIANQIN_PYSAL_PYTHON`,
/// else `tools/pysal/.venv/bin/python` (`python3 -m venv tools/pysal/.venv &&
/// tools/pysal/.venv/bin/pip install numpy scipy libpysal esda h3`); skipped if absent.
fn pysal_py() -> String {
    std::env::var("LIANQIN_PYSAL_PYTHON").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/tools/pysal/.venv/bin/python").to_string()
    })
}
const PYSAL_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tools/pysal/bench_pysal.py");
const PYSAL_INPUT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tools/pysal/input_10k.csv");

// ------------------------------------------------------------------ data

struct Inc {
    pos: Position,
    at: DateTime<Utc>,
    cat: u8,
    r10: CellIndex,
}

/// `n` incidents, event times (whole ms) uniform in (now − 30 d + 30 min, now − 1 s).
fn generate(n: usize, now: DateTime<Utc>) -> Vec<Inc> {
    let seats = load_seats();
    let total_w: f64 = seats.iter().map(|s| s.weight).sum();
    let zipf: Vec<f64> = (0..CATEGORIES.len())
        .map(|i| 1.0 / (i as f64 + 1.0).powf(0.8))
        .collect();
    let zsum: f64 = zipf.iter().sum();
    let mut rng = SmallRng::seed_from_u64(20_261_201);
    let now_ms = now.timestamp_millis();
    let span_ms = DAYS * 86_400_000 - 30 * 60_000;
    (0..n)
        .map(|_| {
            let pos = draw_pos(&mut rng, &seats, total_w);
            let at_ms = now_ms - rng.gen_range(1_000..span_ms);
            let mut x = rng.gen_range(0.0..zsum);
            let cat = zipf
                .iter()
                .position(|w| {
                    x -= w;
                    x < 0.0
                })
                .unwrap_or(0) as u8;
            Inc {
                pos,
                at: DateTime::from_timestamp_millis(at_ms).expect("valid time"),
                cat,
                r10: cell_r10(pos).expect("valid cell"),
            }
        })
        .collect()
}

// ------------------------------------------------------------------ helpers

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn now_ms() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).expect("now")
}

fn f1(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.1}")
    } else {
        "n/a".into()
    }
}

fn f2(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.2}")
    } else {
        "n/a".into()
    }
}

fn thousands(n: u64) -> String {
    common::fmt_rate(n as f64)
}

fn bbox_str(b: Bbox) -> String {
    format!("{:.4},{:.4},{:.4},{:.4}", b.west, b.south, b.east, b.north)
}

fn res_of(r: u8) -> Resolution {
    Resolution::try_from(r).expect("resolution 0..=15")
}

fn centre(c: CellIndex) -> Position {
    let ll = LatLng::from(c);
    Position::new(ll.lng(), ll.lat()).expect("H3 centres are valid")
}

/// `b` grown by `m` metres on every side.
fn grow(b: Bbox, m: f64) -> Bbox {
    let mid = (b.south + b.north) / 2.0;
    let dlat = m / M_PER_DEG_LAT;
    let dlon = m / (M_PER_DEG_LAT * mid.to_radians().cos());
    Bbox::new(b.west - dlon, b.south - dlat, b.east + dlon, b.north + dlat).expect("grown bbox")
}

#[derive(Clone, Copy)]
struct Viewport {
    name: &'static str,
    bbox: Bbox,
    res: u8,
}

impl Viewport {
    /// Points of cells whose centre is in the box lie within this margin of it.
    fn margin_m(&self) -> f64 {
        2.0 * res_of(self.res).edge_length_m()
    }
    /// Side of a square of the res's mean cell area (metres).
    fn square_m(&self) -> f64 {
        (res_of(self.res).area_km2() * 1e6).sqrt()
    }
    /// Edge of a regular hexagon of the res's mean cell area (metres).
    fn hex_edge_m(&self) -> f64 {
        (res_of(self.res).area_km2() * 1e6 / (1.5 * 3f64.sqrt())).sqrt()
    }
    fn mid_lat(&self) -> f64 {
        (self.bbox.south + self.bbox.north) / 2.0
    }
}

// ------------------------------------------------------------------ load generator

/// Closed loop: `conns` tasks each run `per_conn` calls of `f` (a peer cell
/// stops starting new ones after `window`; every task runs at least one).
/// Returns the latencies (ms) and the cell's wall time.
async fn closed_loop<F, Fut>(
    conns: usize,
    per_conn: usize,
    window: Option<Duration>,
    f: F,
) -> anyhow::Result<(Vec<f64>, Duration)>
where
    F: Fn() -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(conns);
    for _ in 0..conns {
        let f = f.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per_conn);
            for i in 0..per_conn {
                if i > 0 && window.is_some_and(|w| start.elapsed() > w) {
                    break;
                }
                let t = Instant::now();
                f().await?;
                lat.push(ms(t.elapsed()));
            }
            anyhow::Ok(lat)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    Ok((all, start.elapsed()))
}

#[derive(Default, Clone)]
struct Cell {
    p50: Vec<f64>,
    p99: Vec<f64>,
    rate: Vec<f64>,
    n: usize,
}

impl Cell {
    fn push(&mut self, mut lat: Vec<f64>, wall: Duration) {
        lat.sort_by(f64::total_cmp);
        self.p50.push(quantile_sorted(&lat, 0.5));
        self.p99.push(quantile_sorted(&lat, 0.99));
        self.rate.push(lat.len() as f64 / wall.as_secs_f64());
        self.n += lat.len();
    }
    fn p50(&self) -> f64 {
        median(&self.p50)
    }
    fn p99(&self) -> f64 {
        median(&self.p99)
    }
}

// ------------------------------------------------------------------ PostGIS peers

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Peer {
    H3Column,
    SnapGrid,
    HexGrid,
}

impl Peer {
    const ALL: [Peer; 3] = [Peer::H3Column, Peer::SnapGrid, Peer::HexGrid];
    fn label(self) -> &'static str {
        match self {
            Peer::H3Column => "PostGIS (a) `group by h3_r10` + parents in Rust",
            Peer::SnapGrid => "PostGIS (b) `ST_SnapToGrid` squares",
            Peer::HexGrid => "PostGIS (c) `ST_HexagonGrid` ⋈ points",
        }
    }
}

/// Decayed weight, 1-day half-life (lianqin's live surface), at $5.
const DECAY: &str =
    "power(2::float8, extract(epoch from (reported_at - $5::timestamptz))::float8 / 86400.0)";
/// The server's heat window (`app::HEAT_WINDOW_DAYS`: 365 days since 1976526, 90 before).
fn window() -> String {
    format!(
        "reported_at > $5::timestamptz - interval '{} days'",
        lianqin::app::HEAT_WINDOW_DAYS
    )
}

fn sql_h3() -> String {
    let window = window();
    format!(
        "select h3_r10, count(*), sum({DECAY}) from incident
         where geom && ST_MakeEnvelope($1, $2, $3, $4, 4326) and {window}
           and h3_r10 is not null and h3_r10 <> 0
         group by h3_r10"
    )
}

fn sql_snap() -> String {
    let window = window();
    format!(
        "select ST_X(g), ST_Y(g), count(*), sum(w) from (
             select ST_SnapToGrid(geom, $6, $7) as g, {DECAY} as w from incident
             where geom && ST_MakeEnvelope($1, $2, $3, $4, 4326) and {window}) s
         group by 1, 2"
    )
}

fn sql_hex(srid: i32) -> String {
    let window = window();
    format!(
        "with hex as materialized (
             select h.i, h.j, ST_Transform(h.geom, 4326) as g, ST_Transform(ST_Centroid(h.geom), 4326) as c
             from ST_HexagonGrid($6, ST_Transform(ST_MakeEnvelope($1, $2, $3, $4, 4326), {srid})) h
         ), kept as (
             select i, j, g from hex where ST_X(c) between $1 and $3 and ST_Y(c) between $2 and $4
         )
         select kept.i, kept.j, count(*), sum({DECAY})
         from kept join incident p on ST_Intersects(kept.g, p.geom)
         where {window}
         group by kept.i, kept.j"
    )
}

struct PeerSql {
    h3: String,
    snap: String,
    hex: String,
    /// Projected CRS for the hexagons and its scale (CRS units per metre).
    srid: i32,
    scale: f64,
}

/// One peer answer: bins kept (centre in the box), incidents in them,
/// and for (a) the res-r cells.
struct PeerOut {
    bins: usize,
    incidents: i64,
    cells: HashMap<CellIndex, (i64, f64)>,
}

async fn peer_query(
    pool: &PgPool,
    sql: &PeerSql,
    peer: Peer,
    vp: Viewport,
    at: DateTime<Utc>,
) -> anyhow::Result<PeerOut> {
    let b = vp.bbox;
    let mut out = PeerOut {
        bins: 0,
        incidents: 0,
        cells: HashMap::new(),
    };
    match peer {
        Peer::H3Column => {
            // rows of the box grown by the margin; keep parents whose centre is in the box
            let g = grow(b, vp.margin_m());
            let rows: Vec<(i64, i64, Option<f64>)> = sqlx::query_as(&sql.h3)
                .bind(g.west)
                .bind(g.south)
                .bind(g.east)
                .bind(g.north)
                .bind(at)
                .fetch_all(pool)
                .await?;
            let r = res_of(vp.res);
            for (c, n, s) in rows {
                let Some(p) = CellIndex::try_from(c as u64).ok().and_then(|c| c.parent(r)) else {
                    continue;
                };
                if b.contains(centre(p)) {
                    let e = out.cells.entry(p).or_insert((0, 0.0));
                    e.0 += n;
                    e.1 += s.unwrap_or(0.0);
                }
            }
            out.bins = out.cells.len();
            out.incidents = out.cells.values().map(|v| v.0).sum();
        }
        Peer::SnapGrid => {
            let side = vp.square_m();
            let g = grow(b, side / 2.0 + 1.0);
            let sx = side / (M_PER_DEG_LAT * vp.mid_lat().to_radians().cos());
            let sy = side / M_PER_DEG_LAT;
            let rows: Vec<(f64, f64, i64, Option<f64>)> = sqlx::query_as(&sql.snap)
                .bind(g.west)
                .bind(g.south)
                .bind(g.east)
                .bind(g.north)
                .bind(at)
                .bind(sx)
                .bind(sy)
                .fetch_all(pool)
                .await?;
            for (x, y, n, _s) in rows {
                if Position::new(x, y).is_ok_and(|p| b.contains(p)) {
                    out.bins += 1;
                    out.incidents += n;
                }
            }
        }
        Peer::HexGrid => {
            let rows: Vec<(i32, i32, i64, Option<f64>)> = sqlx::query_as(&sql.hex)
                .bind(b.west)
                .bind(b.south)
                .bind(b.east)
                .bind(b.north)
                .bind(at)
                .bind(vp.hex_edge_m() * sql.scale)
                .fetch_all(pool)
                .await?;
            out.bins = rows.len();
            out.incidents = rows.iter().map(|r| r.2).sum();
        }
    }
    Ok(out)
}

// ------------------------------------------------------------------ study cells (as the server)

/// Every res-`res` cell whose centre is in `b` and inside the district: the
/// same lattice walk as the (private) `study_cells` of `src/http/risk.rs`.
fn study_cells(index: &JurisdictionIndex, b: Bbox, res: u8) -> Vec<CellIndex> {
    let r = res_of(res);
    let edge_m = r.edge_length_m();
    let mid = (b.south + b.north) / 2.0;
    let dlat = edge_m / 111_320.0;
    let dlon = edge_m / (111_320.0 * mid.to_radians().cos().max(0.01));
    let nx = ((b.east - b.west) / dlon).ceil() as usize + 1;
    let ny = ((b.north - b.south) / dlat).ceil() as usize + 1;
    let mut set = std::collections::HashSet::new();
    for iy in 0..ny {
        let lat = (b.south + iy as f64 * dlat).min(b.north);
        for ix in 0..nx {
            let lon = (b.west + ix as f64 * dlon).min(b.east);
            if let Ok(ll) = LatLng::new(lat, lon) {
                set.insert(ll.to_cell(r));
            }
        }
    }
    let mut cells: Vec<CellIndex> = set
        .into_iter()
        .filter(|c| {
            let p = centre(*c);
            b.contains(p) && index.locate(p).inside
        })
        .collect();
    cells.sort_unstable();
    cells
}

fn bins_of(stats: &[hotspots::GiStar]) -> [usize; 7] {
    let mut out = [0; 7];
    for g in stats {
        out[(g.bin + 3) as usize] += 1;
    }
    out
}

// ------------------------------------------------------------------ main

fn main() -> anyhow::Result<()> {
    common::with_temp_db("heat", |db| Box::pin(run(db)))
}

async fn run(db: &TempDb) -> anyhow::Result<()> {
    let wall = Instant::now();
    let n: usize = std::env::var("LIANQIN_BENCH_HEAT_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n: &usize| n >= 1_000)
        .unwrap_or(1_000_000);
    let reps = common::reps(5);
    let pool = PgPoolOptions::new()
        .max_connections(CONNS as u32 + 1)
        .acquire_timeout(Duration::from_secs(60))
        .connect(&db.url)
        .await?;
    common::migrate_and_import(&pool, &db.name).await?;
    common::print_machine("Heat: live H3 surface vs PostGIS", Some(&pool)).await;
    println!(
        "Machine note: {} vCPU, shared by the load generator, the lianqin server (own runtime, same process) and PostgreSQL; \
         the host is shared and noisy (load average at start {}). Figures are medians over {reps} repetitions; the compared \
         variants are interleaved within each repetition.\n",
        common::nproc(),
        std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|s| s.split_whitespace().next().map(str::to_string))
            .unwrap_or_else(|| "?".into())
    );

    let layers = common::layers_from_files()?;
    let index = JurisdictionIndex::build(&layers);
    let district = layers
        .boundary
        .first()
        .and_then(|d| d.geometry.bounding_rect())
        .map(|r| Bbox::new(r.min().x, r.min().y, r.max().x, r.max().y))
        .ok_or_else(|| anyhow::anyhow!("no district boundary"))??;
    let urban = grow(
        Bbox::new(URBAN.0, URBAN.1, URBAN.0 + 1e-9, URBAN.1 + 1e-9)?,
        URBAN_HALF_M,
    );
    // boxes rounded to 4 decimals: exactly what the HTTP requests send
    let round = |b: Bbox| Bbox::parse(&bbox_str(b)).expect("bbox");
    let viewports = [
        Viewport {
            name: "urban 5 × 5 km, res 9",
            bbox: round(urban),
            res: 9,
        },
        Viewport {
            name: "district, res 8",
            bbox: round(district),
            res: 8,
        },
    ];

    // ---------------------------------------------------------- 1. Heat::add
    let gen_now = now_ms();
    let t = Instant::now();
    let incs = generate(n, gen_now);
    let gen_s = t.elapsed().as_secs_f64();
    let inside = incs.iter().filter(|i| index.locate(i.pos).inside).count();
    let in_urban = incs
        .iter()
        .filter(|i| viewports[0].bbox.contains(i.pos))
        .count();
    println!("### 1. Incremental heat update per incident (in-process, 1 thread)\n");
    println!(
        "{} incidents generated in {gen_s:.1} s (seed fixed): {:.1} % inside the district, {:.1} % in the urban viewport; \
         event times uniform over the last {DAYS} days; {} categories (Zipf 0.8; the top one {:.1} %). \
         Surface: `Heat::new(HeatConfig::default(), now − {} d)` as `app::build_heat` does; \
         each `add` touches 4 resolutions × (all + its category) = 8 aggregates.\n",
        thousands(n as u64),
        100.0 * inside as f64 / n as f64,
        100.0 * in_urban as f64 / n as f64,
        CATEGORIES.len(),
        100.0 * incs.iter().filter(|i| i.cat == 0).count() as f64 / n as f64,
        lianqin::app::HEAT_WINDOW_DAYS,
    );
    let epoch = gen_now - chrono::Duration::days(lianqin::app::HEAT_WINDOW_DAYS);
    let cfg = HeatConfig::default();
    let add_all = |h: &mut Heat| {
        let t = Instant::now();
        for i in &incs {
            h.add(i.r10, i.at, Some(CATEGORIES[i.cat as usize]));
        }
        t.elapsed().as_nanos() as f64 / n as f64
    };
    let mut r10_ns = Vec::new();
    let mut fresh_ns = Vec::new();
    let mut heat = Heat::new(cfg, epoch);
    for rep in 0..reps {
        let t = Instant::now();
        let mut acc = 0u64;
        for i in &incs {
            acc = acc.wrapping_add(cell_r10(i.pos).map_or(0, u64::from));
        }
        std::hint::black_box(acc);
        r10_ns.push(t.elapsed().as_nanos() as f64 / n as f64);
        let mut h = Heat::new(cfg, epoch);
        fresh_ns.push(add_all(&mut h));
        if rep + 1 == reps {
            heat = h;
        }
    }
    heat.take_changed();
    let keys = heat.len();
    let now = Utc::now();
    let res_cells: Vec<usize> = [7u8, 8, 9, 10]
        .iter()
        .map(|&r| {
            heat.cells_in(Bbox::world(), r, None, Surface::Live, now)
                .len()
        })
        .collect();

    // in-process cells_in (the work behind GET /heat, without HTTP or JSON)
    let mut inproc: Vec<Vec<f64>> = vec![Vec::new(); viewports.len()];
    let mut inproc_cells = vec![0usize; viewports.len()];
    for _ in 0..reps {
        for (k, vp) in viewports.iter().enumerate() {
            let mut v = Vec::new();
            for _ in 0..15 {
                let t = Instant::now();
                let c = heat.cells_in(vp.bbox, vp.res, None, Surface::Live, Utc::now());
                v.push(ms(t.elapsed()));
                inproc_cells[k] = c.len();
            }
            inproc[k].push(median(&v));
        }
    }
    // warm: the same incidents again into the surface that already holds them
    let mut warm_ns = Vec::new();
    for _ in 0..reps {
        heat.take_changed();
        warm_ns.push(add_all(&mut heat));
    }
    drop(heat);

    println!(
        "| operation | incidents / rep | median ns / incident | min–max ns | median incidents/s |"
    );
    println!("|---|---:|---:|---:|---:|");
    for (label, v) in [
        ("`cell_r10(position)` (h3o `to_cell`, res 10; done once at ingest)", &r10_ns),
        ("`Heat::add` into a fresh surface (1M adds from empty, map growth included ≈ start-up rebuild CPU)", &fresh_ns),
        ("`Heat::add` into a warm surface (every key exists: the live steady state)", &warm_ns),
    ] {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(0.0, f64::max);
        println!(
            "| {label} | {} | **{}** | {}–{} | {} |",
            thousands(n as u64),
            f1(median(v)),
            f1(lo),
            f1(hi),
            common::fmt_rate(1e9 / median(v))
        );
    }
    println!(
        "\nThe surface holds {} aggregates (res 7–10 × (all + 20 categories)); cells with incidents, all categories: \
         res 7 {}, res 8 {}, res 9 {}, res 10 {}.\n",
        thousands(keys as u64),
        thousands(res_cells[0] as u64),
        thousands(res_cells[1] as u64),
        thousands(res_cells[2] as u64),
        thousands(res_cells[3] as u64)
    );

    // ---------------------------------------------------------- 2. load, start
    let summary_probe = serde_json::from_str::<JurisdictionSummary>("{}").is_ok();
    let t = Instant::now();
    let indexes = copy_in(&pool, &incs, &index).await?;
    let load_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let since = Utc::now() - chrono::Duration::days(lianqin::app::HEAT_WINDOW_DAYS);
    let rows = lianqin::store::incidents::heat_rows(&pool, since).await?;
    let heat_rows_s = t.elapsed().as_secs_f64();
    let heat_rows_n = rows.len();
    drop(rows);
    let t = Instant::now();
    let server = Server::start(&db.url)?;
    let startup_s = t.elapsed().as_secs_f64();
    let base = format!("http://{}", server.addr);

    println!(
        "### 2. Loading {} incidents and starting the shipped server\n",
        thousands(n as u64)
    );
    println!("| step | time |");
    println!("|---|---:|");
    println!(
        "| `COPY incident (source, source_id, reported_at, category, geom, jurisdiction, h3_r10) from stdin`, {} rows (the {} secondary indexes dropped first, rebuilt after; `vacuum analyze`) | {load_s:.1} s |",
        thousands(n as u64),
        indexes
    );
    println!("| `store::incidents::heat_rows` alone (the start-up query: {} rows of (h3_r10, reported_at, category)) | {heat_rows_s:.2} s |", thousands(heat_rows_n as u64));
    println!(
        "| `Heat::add` of those rows alone (part 1, fresh surface) | {:.2} s |",
        median(&fresh_ns) * n as f64 / 1e9
    );
    println!("| **server start-up** (`Application::build` on this database until it listens: migrate no-op, layers, 50k recent incidents, roster, H3 backfill no-op, **heat rebuild**) | **{startup_s:.1} s** |");
    println!(
        "\nRows: source '110', source_id `bench-<i>`, `jurisdiction` = `{{\"inside\": <bool>}}` (from `JurisdictionIndex::locate`), \
         not `'{{}}'`: {} — the server's start-up read of recent incidents decodes `jurisdiction` into `JurisdictionSummary`, whose \
         `inside` has no default.\n",
        if summary_probe { "`'{}'` would also decode" } else { "`'{}'` does not decode (checked in this run)" }
    );

    // ---------------------------------------------------------- 3. viewports
    let srid: Option<i32> =
        sqlx::query_scalar("select srid from spatial_ref_sys where srid = 32651")
            .fetch_optional(&pool)
            .await?;
    let (srid, scale) = match srid {
        Some(s) => (s, 1.0),
        None => (3857, 1.0 / URBAN.1.to_radians().cos()),
    };
    let sql = Arc::new(PeerSql {
        h3: sql_h3(),
        snap: sql_snap(),
        hex: sql_hex(srid),
        srid,
        scale,
    });
    let http = reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(CONNS * 2)
        .build()?;
    let urls: Vec<Arc<String>> = viewports
        .iter()
        .map(|vp| {
            Arc::new(format!(
                "{base}/api/v1/heat?bbox={}&res={}&surface=live",
                bbox_str(vp.bbox),
                vp.res
            ))
        })
        .collect();
    // the boxes as sent (4 decimals) are the boxes the peers use

    // correctness: same instant for both (at ≈ now, so lianqin answers from the live surface)
    let mut checks = Vec::new();
    let mut sizes: HashMap<(usize, &'static str), (usize, i64)> = HashMap::new();
    for (k, vp) in viewports.iter().enumerate() {
        let at = now_ms();
        let body: serde_json::Value = http
            .get(format!("{}&at={}", urls[k], rfc(at)))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let peer = peer_query(&pool, &sql, Peer::H3Column, *vp, at).await?;
        let cells = body["cells"].as_array().cloned().unwrap_or_default();
        let mut mism = 0usize;
        let mut max_rel = 0.0f64;
        let mut total = 0i64;
        for c in &cells {
            let Some(cell) = c["h3"].as_str().and_then(|s| s.parse::<CellIndex>().ok()) else {
                mism += 1;
                continue;
            };
            let count = c["count"].as_i64().unwrap_or(-1);
            let inten = c["intensity"].as_f64().unwrap_or(f64::NAN);
            total += count;
            match peer.cells.get(&cell) {
                Some((pc, ps)) if *pc == count => {
                    let rel = (inten - ps).abs() / ps.abs().max(1e-300);
                    max_rel = max_rel.max(rel);
                }
                _ => mism += 1,
            }
        }
        let mine: std::collections::HashSet<CellIndex> = cells
            .iter()
            .filter_map(|c| c["h3"].as_str().and_then(|s| s.parse().ok()))
            .collect();
        let only_peer = peer.cells.keys().filter(|c| !mine.contains(c)).count();
        sizes.insert((k, "lianqin"), (cells.len(), total));
        checks.push((
            vp.name,
            cells.len(),
            peer.cells.len(),
            mism,
            only_peer,
            total,
            peer.incidents,
            max_rel,
        ));
        for p in [Peer::SnapGrid, Peer::HexGrid] {
            let o = peer_query(&pool, &sql, p, *vp, at).await?;
            sizes.insert((k, p.label()), (o.bins, o.incidents));
        }
        sizes.insert((k, Peer::H3Column.label()), (peer.bins, peer.incidents));
    }

    // warm-up (unreported): connections, caches; every peer once
    for (k, vp) in viewports.iter().enumerate() {
        let (c, u) = (http.clone(), urls[k].clone());
        closed_loop(CONNS, 10, None, move || http_get(c.clone(), u.clone())).await?;
        for p in Peer::ALL {
            peer_query(&pool, &sql, p, *vp, Utc::now()).await?;
        }
    }
    let mut lq: Vec<Cell> = vec![Cell::default(); viewports.len()];
    let mut lq1: Vec<Cell> = vec![Cell::default(); viewports.len()];
    let mut peers: Vec<Vec<Cell>> = vec![vec![Cell::default(); Peer::ALL.len()]; viewports.len()];
    let t3 = Instant::now();
    for rep in 0..reps {
        for (k, vp) in viewports.iter().enumerate() {
            let (c, u) = (http.clone(), urls[k].clone());
            let (lat, w) = closed_loop(CONNS, LQ_PER_CONN, None, move || {
                http_get(c.clone(), u.clone())
            })
            .await?;
            lq[k].push(lat, w);
            let (c, u) = (http.clone(), urls[k].clone());
            let (lat, w) =
                closed_loop(1, LQ_SINGLE, None, move || http_get(c.clone(), u.clone())).await?;
            lq1[k].push(lat, w);
            for (j, p) in Peer::ALL.into_iter().enumerate() {
                if p == Peer::HexGrid && rep >= HEX_REPS {
                    continue;
                }
                let (pool, sql, vp) = (pool.clone(), sql.clone(), *vp);
                let (lat, w) = closed_loop(CONNS, PEER_PER_CONN, Some(PEER_WINDOW), move || {
                    let (pool, sql) = (pool.clone(), sql.clone());
                    async move { peer_query(&pool, &sql, p, vp, Utc::now()).await.map(|_| ()) }
                })
                .await?;
                eprintln!(
                    "[heat] {} / {:?}: {} queries in {:.1} s",
                    vp.name,
                    p,
                    lat.len(),
                    w.as_secs_f64()
                );
                peers[k][j].push(lat, w);
            }
        }
    }
    let t3 = t3.elapsed().as_secs_f64();

    println!(
        "### 3. Viewport heat query over HTTP vs PostGIS peers, {} incidents loaded\n",
        thousands(n as u64)
    );
    println!(
        "Closed loop, {CONNS} concurrent connections per cell (lianqin: keep-alive HTTP, {LQ_PER_CONN} requests each per repetition; \
         PostGIS: a pool of {CONNS}, up to {PEER_PER_CONN} queries each, no new query after {:.1} s; peer (c) only in the first {HEX_REPS} repetitions). Latency = request start → last byte \
         (lianqin) / → rows decoded and aggregated in Rust (peers). p50 and p99 per repetition, then the median over {reps} repetitions; \
         the {} cells interleaved in every repetition ({t3:.0} s in all). lianqin: `GET /api/v1/heat?bbox=…&res=…&surface=live` \
         (the live surface, half-life 24 h). Peers: the same box, the same window as the server's heat (`reported_at > now − {} days`), the same decayed sum \
         Σ 2^(−age/1 d) in float8 (`{}`), `now()` bound from Rust.\n",
        PEER_WINDOW.as_secs_f64(),
        viewports.len() * (2 + Peer::ALL.len()),
        lianqin::app::HEAT_WINDOW_DAYS,
        DECAY.replace("$5::timestamptz", "now")
    );
    println!("| viewport | variant | cells / bins | incidents in them | requests | p50 (ms) | p99 (ms) | req/s | p50 ÷ lianqin p50 | p99 ÷ lianqin p99 |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut verdicts = Vec::new();
    for (k, vp) in viewports.iter().enumerate() {
        let b = bbox_str(vp.bbox);
        let (lc, li) = sizes.get(&(k, "lianqin")).copied().unwrap_or_default();
        println!(
            "| {} `{b}` | **lianqin HTTP** | {} | {} | {} | **{}** | **{}** | {} | 1.0× | 1.0× |",
            vp.name,
            thousands(lc as u64),
            thousands(li as u64),
            thousands(lq[k].n as u64),
            f2(lq[k].p50()),
            f2(lq[k].p99()),
            common::fmt_rate(median(&lq[k].rate)),
        );
        println!(
            "| | lianqin HTTP, 1 connection ({LQ_SINGLE} sequential requests per repetition) | {} | | {} | {} | {} | {} | | |",
            thousands(lc as u64),
            thousands(lq1[k].n as u64),
            f2(lq1[k].p50()),
            f2(lq1[k].p99()),
            common::fmt_rate(median(&lq1[k].rate)),
        );
        println!(
            "| | lianqin in-process `Heat::cells_in` (no HTTP/JSON, 1 thread, before the server started) | {} | | {} | {} | | | | |",
            thousands(inproc_cells[k] as u64),
            15 * reps,
            f2(median(&inproc[k])),
        );
        let mut best = f64::INFINITY;
        let mut best99 = f64::INFINITY;
        let mut best_label = "";
        for (j, p) in Peer::ALL.into_iter().enumerate() {
            let c = &peers[k][j];
            let (bins, inc) = sizes.get(&(k, p.label())).copied().unwrap_or_default();
            if c.p50() < best {
                best = c.p50();
                best99 = c.p99();
                best_label = p.label();
            }
            println!(
                "| | {} | {} | {} | {} | {} | {} | {} | **{}×** | {}× |",
                p.label(),
                thousands(bins as u64),
                thousands(inc.max(0) as u64),
                c.n,
                f1(c.p50()),
                f1(c.p99()),
                f1(median(&c.rate)),
                f1(c.p50() / lq[k].p50()),
                f1(c.p99() / lq[k].p99()),
            );
        }
        verdicts.push((
            vp.name,
            best / lq[k].p50(),
            best99 / lq[k].p99(),
            best_label,
            lq[k].p99(),
        ));
    }
    println!();
    println!(
        "- Peer SQL. (a) `{}` over the box grown by 2 edge lengths of the target res (res 9: {:.0} m, res 8: {:.0} m), then in Rust each \
         res-10 row's parent at the target res is kept iff the parent's **centre** is inside the box — exactly lianqin's rule \
         (`Heat::cells_in` keeps cells whose centre is in the box, with all of their incidents, also those just outside it). \
         (b) `ST_SnapToGrid(geom, sx, sy)` squares of the res's mean cell area (res 9 {:.0} m, res 8 {:.0} m a side, in degrees at the box's \
         latitude), grouped by the snapped x, y; squares whose centre (the snapped node) is in the box are kept. \
         (c) `ST_HexagonGrid(edge, ST_Transform(box, {}))` hexagons of the res's mean cell area (edge res 9 {:.0} m, res 8 {:.0} m), \
         kept iff the centroid is in the box, transformed back to 4326 once (`with … as materialized`; inlined, PostgreSQL re-transformed the hexagon for every candidate row) and joined with `ST_Intersects(hex, geom)` (nested loop of GiST index scans on `incident.geom`). PostgreSQL runs with its defaults (JIT on, 2 parallel workers per gather allowed).",
        sql.h3.split_whitespace().collect::<Vec<_>>().join(" ").replace("$5::timestamptz", "$now"),
        viewports[0].margin_m(),
        viewports[1].margin_m(),
        viewports[0].square_m(),
        viewports[1].square_m(),
        sql.srid,
        viewports[0].hex_edge_m(),
        viewports[1].hex_edge_m(),
    );
    for (name, lc, pc, mism, only_peer, li, pi, rel) in &checks {
        println!(
            "- **Correctness, {name}** (lianqin `…&at=T` and peer (a) at the same T): lianqin {} cells / {} incidents, peer (a) {} cells / {} incidents; \
             cells missing or with a different count: **{}** (+{} only in the peer); decayed sums: max relative difference **{:.1e}** (target ≤ 1e-6).",
            thousands(*lc as u64),
            thousands(*li as u64),
            thousands(*pc as u64),
            thousands(*pi as u64),
            mism,
            only_peer,
            rel
        );
    }
    println!(
        "- Where lianqin's time goes: `Heat::cells_in` alone, in-process on an idle machine, takes {} ms (urban res 9) and {} ms (district res 8), \
         and the 1-connection HTTP p50 is {} / {} ms: `cells_in` walks all {} aggregates of the surface (every resolution and category) and \
         computes the centre of each of the {} res-9 (or {} res-8) cells with incidents, whatever the box. With {CONNS} connections on {} cores \
         the rest is queueing (closed loop: latency ≈ {CONNS} ÷ throughput).",
        f2(median(&inproc[0])),
        f2(median(&inproc[1])),
        f2(lq1[0].p50()),
        f2(lq1[1].p50()),
        thousands(keys as u64),
        thousands(res_cells[2] as u64),
        thousands(res_cells[1] as u64),
        common::nproc(),
    );
    for (name, ratio, ratio99, label, p99) in &verdicts {
        println!(
            "- **{name}:** best PostGIS variant = {label}; it is **{ratio:.1}×** slower at p50 ({ratio99:.1}× at p99) — target ≥ 10×: **{}**; lianqin p99 {p99:.2} ms — target ≤ 5 ms: **{}**.",
            if *ratio >= 10.0 { "met" } else { "not met" },
            if *p99 <= 5.0 { "met" } else { "not met" }
        );
    }
    println!();

    // ---------------------------------------------------------- 4. Gi*
    let t_to = now_ms();
    let t_from = t_to - chrono::Duration::days(DAYS);
    let cells = study_cells(&index, district, 9);
    let pos: HashMap<CellIndex, usize> = cells.iter().enumerate().map(|(i, c)| (*c, i)).collect();
    let mut x = vec![0.0; cells.len()];
    for i in &incs {
        if i.at >= t_from && i.at < t_to {
            if let Some(j) = i.r10.parent(Resolution::Nine).and_then(|p| pos.get(&p)) {
                x[*j] += 1.0;
            }
        }
    }
    let input: Vec<(CellIndex, f64)> = cells.iter().copied().zip(x.iter().copied()).collect();
    let sum_x: f64 = x.iter().sum();
    let zeros = x.iter().filter(|v| **v == 0.0).count();
    drop(incs);
    let mut gi_ms: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut gi_bins = [[0usize; 7]; 2];
    let mut http_ms: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut http_check: [Option<(u64, f64, [usize; 7])>; 2] = [None, None];
    let mut counts_ms = Vec::new();
    for _ in 0..reps {
        for (ki, k) in [1u32, 2].into_iter().enumerate() {
            for _ in 0..3 {
                let t = Instant::now();
                let g = hotspots::gi_star(&input, k, Weighting::Binary)?;
                gi_ms[ki].push(ms(t.elapsed()));
                gi_bins[ki] = bins_of(&g);
            }
            let url = format!(
                "{base}/api/v1/hotspots?res=9&from={}&to={}&k={k}",
                rfc(t_from),
                rfc(t_to)
            );
            let t = Instant::now();
            let body: serde_json::Value = http
                .get(&url)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            http_ms[ki].push(ms(t.elapsed()));
            let mut bins = [0usize; 7];
            for (b, slot) in bins.iter_mut().enumerate() {
                *slot = body["bins"][(b as i64 - 3).to_string()]
                    .as_u64()
                    .unwrap_or(0) as usize;
            }
            http_check[ki] = Some((
                body["n_cells"].as_u64().unwrap_or(0),
                body["n_incidents"].as_f64().unwrap_or(f64::NAN),
                bins,
            ));
        }
        let t = Instant::now();
        let rows = lianqin::store::incidents::cell_counts(
            &pool,
            grow(district, 2.0 * Resolution::Nine.edge_length_m()),
            t_from,
            t_to,
            None,
        )
        .await?;
        counts_ms.push(ms(t.elapsed()));
        std::hint::black_box(rows.len());
    }
    server.stop();
    pool.close().await;

    // lianqin and PySAL on PySAL's reference input (same cells, same counts)
    let ref_input: Option<Vec<(CellIndex, f64)>> =
        std::fs::read_to_string(PYSAL_INPUT).ok().map(|t| {
            t.lines()
                .skip(1)
                .filter_map(|l| {
                    let (c, v) = l.split_once(',')?;
                    Some((c.trim().parse().ok()?, v.trim().parse().ok()?))
                })
                .collect()
        });
    let mut ref_ms: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    if let Some(inp) = &ref_input {
        for _ in 0..11 {
            for (ki, k) in [1u32, 2].into_iter().enumerate() {
                let t = Instant::now();
                std::hint::black_box(hotspots::gi_star(inp, k, Weighting::Binary)?);
                ref_ms[ki].push(ms(t.elapsed()));
            }
        }
    }
    let pysal = run_pysal();

    println!(
        "### 4. Gi* over the district at res 9, one month of {} incidents\n",
        thousands(n as u64)
    );
    println!(
        "Study cells: every res-9 cell whose centre is in the district bbox and inside the district ({} cells, {} of them zero; {} incidents \
         counted in [{}, {})), found with the same lattice walk as the server. `gi_star(…, k, Weighting::Binary)` includes the k-ring \
         neighbour lists (h3o), z, p, BH-FDR and bins. HTTP: `GET /api/v1/hotspots?res=9&from=…&to=…&k=…` (no bbox: the district), \
         one connection, sequential; it reads the (h3_r10, reported_at) rows of the box from PostGIS and also builds the top-20 places.\n",
        thousands(cells.len() as u64),
        thousands(zeros as u64),
        thousands(sum_x as u64),
        rfc(t_from),
        rfc(t_to),
    );
    println!("| what | cells | k = 1 median (ms) | k = 2 median (ms) | runs each |");
    println!("|---|---:|---:|---:|---:|");
    println!(
        "| lianqin `hotspots::gi_star` in-process, district res-9 counts | {} | **{}** | **{}** | {} |",
        thousands(cells.len() as u64),
        f2(median(&gi_ms[0])),
        f2(median(&gi_ms[1])),
        gi_ms[0].len()
    );
    println!(
        "| lianqin HTTP `GET /api/v1/hotspots` end to end | {} | **{}** | **{}** | {reps} |",
        thousands(cells.len() as u64),
        f1(median(&http_ms[0])),
        f1(median(&http_ms[1])),
    );
    println!(
        "| … of which the PostGIS read alone (`store::incidents::cell_counts` over the district box grown by 2 res-9 edges, as the server does) | | {} | (same query) | {reps} |",
        f1(median(&counts_ms)),
    );
    match &ref_input {
        Some(inp) => println!(
            "| lianqin `gi_star` on PySAL's input (`{PYSAL_INPUT}`) | {} | {} | {} | 11 |",
            thousands(inp.len() as u64),
            f2(median(&ref_ms[0])),
            f2(median(&ref_ms[1])),
        ),
        None => {
            println!("| lianqin `gi_star` on PySAL's input | skipped (no {PYSAL_INPUT}) | | | |")
        }
    }
    match &pysal {
        Ok(p) => {
            let get = |key: &str, what: &str| {
                p.get(&(key.to_string(), what.to_string()))
                    .copied()
                    .unwrap_or(f64::NAN)
            };
            println!(
                "| PySAL esda `G_Local(y, w, transform='B', star=True, permutations=0)` (this run) | {} | {} | {} | 11 |",
                ref_input.as_ref().map_or("?".into(), |i| thousands(i.len() as u64)),
                f1(get("k1_B", "g")),
                f1(get("k2_B", "g")),
            );
            println!(
                "| … plus PySAL's neighbour lists (`h3.grid_disk`, once) + `W` build | | {} + {} | {} + {} | 1 / 11 |",
                f1(get("k1_B", "nb")),
                f1(get("k1_B", "w")),
                f1(get("k2_B", "nb")),
                f1(get("k2_B", "w")),
            );
            println!(
                "| PySAL esda, `transform='R'` (esda's default) | | {} | {} | 11 |",
                f1(get("k1_R", "g")),
                f1(get("k2_R", "g")),
            );
        }
        Err(why) => println!("| PySAL esda `G_Local` | skipped ({why}) | | | |"),
    }
    println!();
    for (ki, k) in [1, 2].into_iter().enumerate() {
        if let Some((nc, ni, bins)) = http_check[ki] {
            println!(
                "- **Correctness, k = {k}:** HTTP n_cells {} / n_incidents {} / bins −3…+3 {:?}; in-process {} / {} / {:?}: **{}**.",
                thousands(nc),
                thousands(ni as u64),
                bins,
                thousands(cells.len() as u64),
                thousands(sum_x as u64),
                gi_bins[ki],
                if nc as usize == cells.len() && ni == sum_x && bins == gi_bins[ki] { "identical" } else { "DIFFERENT" }
            );
        }
    }
    if pysal.is_ok() {
        println!(
            "- PySAL ran from this bench (`{} {PYSAL_SCRIPT}`, median of 11 runs per cell, after the lianqin server stopped) on its \
             reference input: 9,919 res-9 cells (grid_disk radius 57 around 121.26 E 28.64 N) with seeded gamma-Poisson counts — \
             the same size as the district, not the same counts; lianqin's `gi_star` is timed on that same file in the row above it. \
             (The script also rewrites its own `pysal_z.json`.)",
            pysal_py()
        );
    }
    println!(
        "- Gi* ratio on the same input, k = 1: PySAL G_Local ÷ lianqin gi_star = **{}×** (k = 2: {}×).",
        pysal.as_ref().map_or("n/a".into(), |p| f1(p.get(&("k1_B".into(), "g".into())).copied().unwrap_or(f64::NAN) / median(&ref_ms[0]))),
        pysal.as_ref().map_or("n/a".into(), |p| f1(p.get(&("k2_B".into(), "g".into())).copied().unwrap_or(f64::NAN) / median(&ref_ms[1]))),
    );
    println!(
        "\nWall time of this bench: {:.0} s.\n",
        wall.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn http_get(c: reqwest::Client, url: Arc<String>) -> anyhow::Result<()> {
    let r = c.get(url.as_str()).send().await?;
    anyhow::ensure!(r.status().is_success(), "GET {url}: {}", r.status());
    std::hint::black_box(r.bytes().await?);
    Ok(())
}

/// Bulk load: drop the secondary indexes of `incident`, COPY, rebuild them
/// with their own definitions, `vacuum analyze`. Returns how many were rebuilt.
async fn copy_in(pool: &PgPool, incs: &[Inc], index: &JurisdictionIndex) -> anyhow::Result<usize> {
    let defs: Vec<(String, String)> = sqlx::query_as(
        "select indexname::text, indexdef from pg_indexes where schemaname = 'public' and tablename = 'incident'
           and indexname not in ('incident_pkey', 'incident_source_key')",
    )
    .fetch_all(pool)
    .await?;
    for (name, _) in &defs {
        sqlx::query(&format!("drop index {name}"))
            .execute(pool)
            .await?;
    }
    let mut conn = pool.acquire().await?;
    let mut copy = conn
        .copy_in_raw("copy incident (source, source_id, reported_at, category, geom, jurisdiction, h3_r10) from stdin")
        .await?;
    let mut buf = String::with_capacity(8 << 20);
    for (i, inc) in incs.iter().enumerate() {
        use std::fmt::Write;
        let inside = index.locate(inc.pos).inside;
        let _ = writeln!(
            buf,
            "110\tbench-{i}\t{}\t{}\tSRID=4326;POINT({} {})\t{{\"inside\":{inside}}}\t{}",
            rfc(inc.at),
            CATEGORIES[inc.cat as usize],
            inc.pos.lon(),
            inc.pos.lat(),
            u64::from(inc.r10) as i64
        );
        if buf.len() > (8 << 20) - 512 {
            copy.send(std::mem::take(&mut buf).into_bytes()).await?;
            buf.reserve(8 << 20);
        }
    }
    if !buf.is_empty() {
        copy.send(buf.into_bytes()).await?;
    }
    let rows = copy.finish().await?;
    anyhow::ensure!(
        rows as usize == incs.len(),
        "COPY stored {rows} rows of {}",
        incs.len()
    );
    drop(conn);
    for (_, def) in &defs {
        sqlx::query(def).execute(pool).await?;
    }
    sqlx::query("vacuum analyze incident").execute(pool).await?;
    Ok(defs.len())
}

type PySal = HashMap<(String, String), f64>;

/// Runs tools/pysal/bench_pysal.py; (key, "nb" | "w" | "g") → ms.
fn run_pysal() -> Result<PySal, String> {
    if !std::path::Path::new(&pysal_py()).exists() || !std::path::Path::new(PYSAL_SCRIPT).exists() {
        return Err(format!("no {}", pysal_py()));
    }
    let out = std::process::Command::new(pysal_py())
        .arg(PYSAL_SCRIPT)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", pysal_py()))?;
    if !out.status.success() {
        return Err(format!(
            "{PYSAL_SCRIPT} failed: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ));
    }
    // "k1_B: n=9919 h3 neighbour lists 79.3 ms (once), W build median 4.4 ms, G_Local median 364.4 ms"
    let mut m = HashMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let num_before = |marker: &str| -> Option<f64> {
            let after = rest.split(marker).nth(1)?;
            after.split_whitespace().next()?.parse().ok()
        };
        for (what, marker) in [
            ("nb", "neighbour lists "),
            ("w", "W build median "),
            ("g", "G_Local median "),
        ] {
            if let Some(v) = num_before(marker) {
                m.insert((key.trim().to_string(), what.to_string()), v);
            }
        }
    }
    if m.is_empty() {
        return Err("no timings in the script's output".into());
    }
    Ok(m)
}
