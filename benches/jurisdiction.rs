//! Point → jurisdiction lookups per second: the in-process
//! `JurisdictionIndex` against PostGIS answering the grid question with its
//! GiST index (per-point queries on 1 and 2 connections, and batched).
//! Also checks, on a sample, that both give the same grid.
//!
//! `cargo bench --bench jurisdiction` (env: LIANQIN_TEST_DATABASE_URL,
//! LIANQIN_BENCH_REPS). Prints Markdown.

mod common;

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

use common::{fmt_rate, median, TempDb};
use lianqin::domain::{Layers, Position};
use lianqin::spatial::JurisdictionIndex;
use rand::{rngs::SmallRng, Rng, SeedableRng};
use sqlx::PgPool;

/// Random points per in-process repetition.
const N: usize = 100_000;
/// Points per repetition for one-query-per-point PostGIS (it is ~1000× slower).
const PG_PER_POINT: usize = 4_000;
/// Points per repetition for batched PostGIS.
const PG_BATCHED: usize = 20_000;
/// Points per batched query.
const BATCH: usize = 1_000;
/// Points checked against PostGIS for correctness.
const CHECK: usize = 5_000;
const SEED: u64 = 0x006c_6961_6e71_696e;

const GRID_ONE: &str =
    "select code from grid where ST_Contains(geom, ST_SetSRID(ST_MakePoint($1, $2), 4326))";
const GRID_BATCH: &str = "select t.ord, g.code
     from unnest($1::float8[], $2::float8[]) with ordinality as t(x, y, ord)
     join grid g on ST_Contains(g.geom, ST_SetSRID(ST_MakePoint(t.x, t.y), 4326))";

fn main() -> anyhow::Result<()> {
    let rt = common::runtime();
    rt.block_on(async {
        let db = TempDb::create("jur").await?;
        let result = run(&db).await;
        db.drop_db().await?;
        result
    })
}

struct Row {
    name: String,
    points: usize,
    rates: Vec<f64>,
}

async fn run(db: &TempDb) -> anyhow::Result<()> {
    let pool = lianqin::store::connect(&db.url, 4).await?;
    common::migrate_and_import(&pool, &db.name).await?;
    common::print_machine("Point → jurisdiction lookups", Some(&pool)).await;
    let reps = common::reps(7);

    let layers = lianqin::store::layers::load_all(&pool).await?;
    let t = Instant::now();
    let index = JurisdictionIndex::build(&layers);
    let build_ms = t.elapsed().as_secs_f64() * 1e3;
    // Same index with only the district and grids loaded: locate() then does
    // just the district test and the grid lookup, the closest public
    // equivalent of PostGIS's single ST_Contains on `grid`.
    let grid_only = JurisdictionIndex::build(&Layers {
        boundary: layers.boundary.clone(),
        grids: layers.grids.clone(),
        ..Layers::default()
    });
    let [w, s, e, n] = index
        .district_bbox()
        .ok_or_else(|| anyhow::anyhow!("no district boundary loaded"))?;
    let mut rng = SmallRng::seed_from_u64(SEED);
    let points: Vec<Position> = (0..N)
        .map(|_| Position::new(rng.gen_range(w..e), rng.gen_range(s..n)).expect("in range"))
        .collect();
    let inside = points.iter().filter(|p| index.locate(**p).inside).count();
    let with_grid = points
        .iter()
        .filter(|p| index.locate(**p).grid.is_some())
        .count();
    println!(
        "Layers: {} district, {} townships, {} grids, {} stations, {} posts; index built in {build_ms:.1} ms.",
        layers.boundary.len(),
        layers.townships.len(),
        layers.grids.len(),
        layers.stations.len(),
        layers.posts.len()
    );
    println!(
        "{N} seeded random points in the district bbox [{w:.4}, {s:.4}, {e:.4}, {n:.4}]: {:.1}% inside the district, {:.1}% in a grid. {reps} repetitions per row; rows interleaved.\n",
        100.0 * inside as f64 / N as f64,
        100.0 * with_grid as f64 / N as f64
    );

    let mut full = Row {
        name:
            "in-process `index.locate(p)` (district+township+grid+station+nearest post), 1 thread"
                .into(),
        points: N,
        rates: vec![],
    };
    let mut grid = Row {
        name: "in-process `locate` on an index of district + grids only, 1 thread".into(),
        points: N,
        rates: vec![],
    };
    let mut pg1 = Row {
        name: "PostGIS, one query per point, 1 connection (sequential)".into(),
        points: PG_PER_POINT,
        rates: vec![],
    };
    let mut pg2 = Row {
        name: "PostGIS, one query per point, 2 connections (concurrent)".into(),
        points: PG_PER_POINT,
        rates: vec![],
    };
    let mut pgb1 = Row {
        name: format!("PostGIS, batched `unnest` of {BATCH} points, 1 connection"),
        points: PG_BATCHED,
        rates: vec![],
    };
    let mut pgb2 = Row {
        name: format!("PostGIS, batched `unnest` of {BATCH} points, 2 connections"),
        points: PG_BATCHED,
        rates: vec![],
    };

    // warm-up: caches, prepared statements, connections
    for p in points.iter().take(10_000) {
        black_box(index.locate(*p));
    }
    per_point(&pool, &points[..200], 2).await?;
    batched(&pool, &points[..BATCH * 2], 2).await?;

    for _ in 0..reps {
        let t = Instant::now();
        for p in &points {
            black_box(index.locate(black_box(*p)));
        }
        full.rates.push(N as f64 / t.elapsed().as_secs_f64());

        let t = Instant::now();
        for p in &points {
            black_box(grid_only.locate(black_box(*p)));
        }
        grid.rates.push(N as f64 / t.elapsed().as_secs_f64());

        pg1.rates
            .push(per_point(&pool, &points[..PG_PER_POINT], 1).await?);
        pg2.rates
            .push(per_point(&pool, &points[..PG_PER_POINT], 2).await?);
        pgb1.rates
            .push(batched(&pool, &points[..PG_BATCHED], 1).await?);
        pgb2.rates
            .push(batched(&pool, &points[..PG_BATCHED], 2).await?);
    }

    let uses_gist = plan_uses_gist(&pool).await?;
    let base = median(&full.rates);
    println!("| variant | points / rep | median lookups/s | min – max | in-process full ÷ this |");
    println!("|---|---:|---:|---:|---:|");
    for r in [&full, &grid, &pg1, &pg2, &pgb1, &pgb2] {
        let m = median(&r.rates);
        let lo = r.rates.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = r.rates.iter().copied().fold(0.0, f64::max);
        println!(
            "| {} | {} | {} | {} – {} | {:.1}× |",
            r.name,
            fmt_rate(r.points as f64),
            fmt_rate(m),
            fmt_rate(lo),
            fmt_rate(hi),
            base / m
        );
    }
    println!(
        "\nPostGIS plans: per-point query uses the GiST index `grid_geom_idx`: {}; batched: {}.",
        yes(uses_gist.0),
        yes(uses_gist.1)
    );
    println!(
        "Per-point PostGIS queries are prepared statements (sqlx caches them per connection) over loopback TCP; each is a full round trip."
    );

    check(&pool, &index, &points[..CHECK]).await?;
    pool.close().await;
    Ok(())
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "NO"
    }
}

/// One `GRID_ONE` per point, split over `conns` connections; lookups/s.
async fn per_point(pool: &PgPool, points: &[Position], conns: usize) -> anyhow::Result<f64> {
    let chunk = points.len().div_ceil(conns);
    let t = Instant::now();
    let mut tasks = Vec::new();
    for part in points.chunks(chunk) {
        let part = part.to_vec();
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = pool.acquire().await?;
            let mut found = 0usize;
            for p in part {
                let code: Option<String> = sqlx::query_scalar(GRID_ONE)
                    .bind(p.lon())
                    .bind(p.lat())
                    .fetch_optional(&mut *conn)
                    .await?;
                found += usize::from(code.is_some());
            }
            Ok::<_, sqlx::Error>(found)
        }));
    }
    for task in tasks {
        black_box(task.await??);
    }
    Ok(points.len() as f64 / t.elapsed().as_secs_f64())
}

/// `GRID_BATCH` over chunks of `BATCH` points on `conns` connections; lookups/s.
async fn batched(pool: &PgPool, points: &[Position], conns: usize) -> anyhow::Result<f64> {
    let chunk = points.len().div_ceil(conns);
    let t = Instant::now();
    let mut tasks = Vec::new();
    for part in points.chunks(chunk) {
        let part = part.to_vec();
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = pool.acquire().await?;
            let mut rows = 0usize;
            for b in part.chunks(BATCH) {
                let (xs, ys): (Vec<f64>, Vec<f64>) = b.iter().map(|p| (p.lon(), p.lat())).unzip();
                let got: Vec<(i64, String)> = sqlx::query_as(GRID_BATCH)
                    .bind(&xs)
                    .bind(&ys)
                    .fetch_all(&mut *conn)
                    .await?;
                rows += got.len();
            }
            Ok::<_, sqlx::Error>(rows)
        }));
    }
    for task in tasks {
        black_box(task.await??);
    }
    Ok(points.len() as f64 / t.elapsed().as_secs_f64())
}

async fn plan_uses_gist(pool: &PgPool) -> anyhow::Result<(bool, bool)> {
    let one: Vec<String> = sqlx::query_scalar(
        "explain select code from grid where ST_Contains(geom, ST_SetSRID(ST_MakePoint(121.1, 28.6), 4326))",
    )
    .fetch_all(pool)
    .await?;
    let xs: Vec<f64> = vec![121.1; BATCH];
    let ys: Vec<f64> = vec![28.6; BATCH];
    let mut tx = pool.begin().await?;
    let many: Vec<String> = sqlx::query_scalar(&format!("explain {GRID_BATCH}"))
        .bind(&xs)
        .bind(&ys)
        .fetch_all(&mut *tx)
        .await?;
    tx.rollback().await?;
    let has = |plan: &[String]| plan.iter().any(|l| l.contains("grid_geom_idx"));
    Ok((has(&one), has(&many)))
}

/// In-process grid code vs PostGIS's `ST_Contains` answer for each point.
async fn check(
    pool: &PgPool,
    index: &JurisdictionIndex,
    points: &[Position],
) -> anyhow::Result<()> {
    let mut pg: Vec<Vec<String>> = vec![Vec::new(); points.len()];
    for (ci, b) in points.chunks(BATCH).enumerate() {
        let (xs, ys): (Vec<f64>, Vec<f64>) = b.iter().map(|p| (p.lon(), p.lat())).unzip();
        let got: Vec<(i64, String)> = sqlx::query_as(GRID_BATCH)
            .bind(&xs)
            .bind(&ys)
            .fetch_all(pool)
            .await?;
        for (ord, code) in got {
            pg[ci * BATCH + ord as usize - 1].push(code);
        }
    }
    let mut kinds: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut examples = Vec::new();
    for (p, pg_codes) in points.iter().zip(&pg) {
        let j = index.locate(*p);
        let ours = j.grid.as_ref().map(|g| g.code.clone());
        let kind = match (&ours, pg_codes.len()) {
            (None, 0) => "agree: no grid",
            (Some(c), 1) if pg_codes[0] == *c => "agree: same grid",
            (Some(c), k) if k > 1 && pg_codes.contains(c) => {
                "agree: PostGIS finds several grids (shared edge), ours is one of them"
            }
            (None, _) if !j.inside => {
                "differ: outside the district boundary, but inside a grid polygon in PostGIS"
            }
            (None, _) => "differ: in-process no grid, PostGIS a grid",
            (Some(_), 0) => "differ: in-process a grid, PostGIS none",
            (Some(_), _) => "differ: different grid codes",
        };
        *kinds.entry(kind).or_default() += 1;
        if kind.starts_with("differ") && examples.len() < 8 {
            examples.push((*p, ours, pg_codes.clone(), kind));
        }
    }
    println!(
        "\n### Correctness: in-process grid vs PostGIS `ST_Contains`, {} points\n",
        points.len()
    );
    println!("| outcome | points |");
    println!("|---|---:|");
    for (k, v) in &kinds {
        println!("| {k} | {v} |");
    }
    if !examples.is_empty() {
        println!(
            "\nFirst differing points (distance to the nearest grid edge per PostGIS, metres):\n"
        );
        for (p, ours, theirs, kind) in examples {
            let d: Option<f64> = sqlx::query_scalar(
                "select min(ST_Distance(ST_Boundary(geom)::geography, ST_SetSRID(ST_MakePoint($1, $2), 4326)::geography))
                 from grid where ST_DWithin(geom, ST_SetSRID(ST_MakePoint($1, $2), 4326), 0.01)",
            )
            .bind(p.lon())
            .bind(p.lat())
            .fetch_one(pool)
            .await?;
            let dd: Option<f64> = sqlx::query_scalar(
                "select min(ST_Distance(ST_Boundary(geom)::geography, ST_SetSRID(ST_MakePoint($1, $2), 4326)::geography)) from district",
            )
            .bind(p.lon())
            .bind(p.lat())
            .fetch_one(pool)
            .await?;
            println!(
                "- ({:.6}, {:.6}) ours {:?} PostGIS {:?} [{kind}]; grid edge {:.2} m, district edge {:.2} m",
                p.lon(),
                p.lat(),
                ours,
                theirs,
                d.unwrap_or(f64::NAN),
                dd.unwrap_or(f64::NAN)
            );
        }
    }
    println!();
    Ok(())
}
