//! Ingest throughput: incidents committed per second through
//! `POST /api/v1/incidents` with arrays of 1, 10, 100, 1000 incidents from 1
//! and 4 concurrent clients, against the floor of what PostgreSQL itself
//! costs: the same rows inserted straight from sqlx with one multi-row
//! `insert … on conflict do nothing` per batch into a copy of the incident
//! table (`like incident including all`: same unique constraint, same
//! GiST/b-tree indexes).
//!
//! `cargo bench --bench ingest_throughput` (env: LIANQIN_TEST_DATABASE_URL,
//! LIANQIN_BENCH_REPS, LIANQIN_BENCH_WINDOW_MS).

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{fmt_rate, median, Server, TempDb};
use lianqin::domain::{JurisdictionSummary, NewIncident, Position, Source};
use lianqin::spatial::JurisdictionIndex;
use rand::{rngs::SmallRng, Rng, SeedableRng};
use sqlx::{PgPool, QueryBuilder};

const BATCHES: [usize; 4] = [1, 10, 100, 1000];
const CLIENTS: [usize; 2] = [1, 4];

fn main() -> anyhow::Result<()> {
    let rt = common::runtime();
    rt.block_on(async {
        let db = TempDb::create("ingest").await?;
        let result = run(&db).await;
        db.drop_db().await?;
        result
    })
}

/// Unique ids across the whole run: every request uses fresh ones.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

fn next_ids(n: usize) -> u64 {
    NEXT_ID.fetch_add(n as u64, Ordering::Relaxed)
}

#[derive(Clone)]
struct Ctx {
    bbox: [f64; 4],
    index: Arc<JurisdictionIndex>,
}

impl Ctx {
    fn point(&self, rng: &mut SmallRng) -> (f64, f64) {
        let [w, s, e, n] = self.bbox;
        (rng.gen_range(w..e), rng.gen_range(s..n))
    }
}

async fn run(db: &TempDb) -> anyhow::Result<()> {
    let reps = common::reps(5);
    let window = Duration::from_millis(
        std::env::var("LIANQIN_BENCH_WINDOW_MS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1500),
    );
    let pool = lianqin::store::connect(&db.url, 8).await?;
    common::migrate_and_import(&pool, &db.name).await?;
    common::print_machine("Ingest throughput (batched POSTs)", Some(&pool)).await;
    sqlx::query("create table incident_raw (like incident including all)")
        .execute(&pool)
        .await?;
    let layers = lianqin::store::layers::load_all(&pool).await?;
    let index = Arc::new(JurisdictionIndex::build(&layers));
    let ctx = Ctx {
        bbox: index.district_bbox().expect("district loaded"),
        index,
    };

    let server = Server::start(&db.url)?;
    let url = format!("http://{}/api/v1/incidents", server.addr);
    let http = reqwest::Client::builder().build()?;

    // warm-up every path
    lianqin_window(&http, &url, &ctx, 10, 2, Duration::from_millis(300)).await?;
    direct_window(&pool, &ctx, 10, 2, Duration::from_millis(300)).await?;
    raw_window(&pool, &ctx, 10, 2, Duration::from_millis(300)).await?;

    println!(
        "Each cell: incidents committed per second over a {} ms window in which every client posts back-to-back (closed loop), median of {reps} repetitions, the three variants interleaved within each repetition.\n",
        window.as_millis()
    );
    println!("| batch size | clients | lianqin `POST /api/v1/incidents` (incidents/s) | lianqin `store::incidents::insert_batch` direct, no HTTP (incidents/s) | raw sqlx multi-row insert (rows/s) | HTTP ÷ raw | direct ÷ raw | HTTP ÷ direct | HTTP requests/s |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for &batch in &BATCHES {
        for &clients in &CLIENTS {
            let (mut ours, mut direct, mut raw, mut reqs) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for _ in 0..reps {
                let r = lianqin_window(&http, &url, &ctx, batch, clients, window).await?;
                ours.push(r);
                reqs.push(r / batch as f64);
                direct.push(direct_window(&pool, &ctx, batch, clients, window).await?);
                raw.push(raw_window(&pool, &ctx, batch, clients, window).await?);
            }
            let (o, d, r) = (median(&ours), median(&direct), median(&raw));
            println!(
                "| {batch} | {clients} | {} | {} | {} | {:.2} | {:.2} | {:.2} | {} |",
                fmt_rate(o),
                fmt_rate(d),
                fmt_rate(r),
                o / r,
                d / r,
                o / d,
                fmt_rate(median(&reqs))
            );
        }
    }
    let stored: i64 = sqlx::query_scalar("select count(*) from incident")
        .fetch_one(&pool)
        .await?;
    let raw_rows: i64 = sqlx::query_scalar("select count(*) from incident_raw")
        .fetch_one(&pool)
        .await?;
    println!(
        "\nRows at the end: incident {stored}, incident_raw {raw_rows} (both grow during the run; raw faster, so its table ends larger). \
         lianqin per request: JSON parse + validation, jurisdiction lookup, one insert statement (incident + event_log via CTE), read-back select, commit, publish to the live world, JSON response. \
         Direct: the same `insert_batch` (insert + event_log CTE, read-back, commit) called in-process with pre-located rows, i.e. lianqin minus HTTP, JSON and the live world. \
         Raw: one multi-row insert, autocommit, nothing else. Server, load generator and PostgreSQL share {} cores.\n",
        common::nproc()
    );
    server.stop();
    pool.close().await;
    Ok(())
}

fn body(ctx: &Ctx, rng: &mut SmallRng, batch: usize) -> String {
    let first = next_ids(batch);
    let mut out = String::with_capacity(batch * 220 + 2);
    out.push('[');
    for k in 0..batch {
        if k > 0 {
            out.push(',');
        }
        let (lon, lat) = ctx.point(rng);
        out.push_str(&common::incident_json(
            &format!("tp-{}", first + k as u64),
            lon,
            lat,
        ));
    }
    out.push(']');
    out
}

/// Runs `clients` closed-loop tasks until `window` ends (each gets its index
/// and the deadline, and returns how many incidents it created); answers
/// incidents created per second.
async fn closed_loop<F, Fut>(clients: usize, window: Duration, client: F) -> anyhow::Result<f64>
where
    F: Fn(usize, Instant) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<u64>> + Send + 'static,
{
    let t0 = Instant::now();
    let deadline = t0 + window;
    let tasks: Vec<_> = (0..clients)
        .map(|c| tokio::spawn(client(c, deadline)))
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await??;
    }
    Ok(total as f64 / t0.elapsed().as_secs_f64())
}

/// Closed-loop clients posting `batch`-sized arrays until `window` ends.
async fn lianqin_window(
    http: &reqwest::Client,
    url: &str,
    ctx: &Ctx,
    batch: usize,
    clients: usize,
    window: Duration,
) -> anyhow::Result<f64> {
    closed_loop(clients, window, |c, deadline| {
        let (http, url, ctx) = (http.clone(), url.to_string(), ctx.clone());
        async move {
            let mut rng = SmallRng::seed_from_u64(c as u64 ^ next_ids(0));
            let mut created = 0u64;
            while Instant::now() < deadline {
                let resp = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body(&ctx, &mut rng, batch))
                    .send()
                    .await?;
                let status = resp.status();
                let text = resp.text().await?;
                anyhow::ensure!(status.is_success(), "POST failed: {status} {text}");
                created += text.matches(r#""created":true"#).count() as u64;
            }
            Ok(created)
        }
    })
    .await
}

/// The peer: the same rows (same columns, same jurisdiction JSON) inserted
/// with one multi-row `insert … on conflict do nothing` per batch.
async fn raw_window(
    pool: &PgPool,
    ctx: &Ctx,
    batch: usize,
    clients: usize,
    window: Duration,
) -> anyhow::Result<f64> {
    closed_loop(clients, window, |c, deadline| {
        let (pool, ctx) = (pool.clone(), ctx.clone());
        async move {
            let mut conn = pool.acquire().await?;
            let mut rng = SmallRng::seed_from_u64(c as u64 ^ next_ids(0) ^ 0xabc);
            let mut created = 0u64;
            while Instant::now() < deadline {
                let first = next_ids(batch);
                let now = chrono::Utc::now();
                let rows: Vec<(String, f64, f64, JurisdictionSummary)> = (0..batch)
                    .map(|k| {
                        let (lon, lat) = ctx.point(&mut rng);
                        let j = ctx
                            .index
                            .locate(Position::new(lon, lat).expect("in range"));
                        (format!("raw-{}", first + k as u64), lon, lat, JurisdictionSummary::from(&j))
                    })
                    .collect();
                let mut q = QueryBuilder::new(
                    "insert into incident_raw (source, source_id, reported_at, category, description, priority, demo, geom, township_code, grid_code, jurisdiction) ",
                );
                q.push_values(&rows, |mut b, (id, lon, lat, j)| {
                    b.push_bind("110")
                        .push_bind(id)
                        .push_bind(now)
                        .push_bind("bench")
                        .push_bind("benchmark incident")
                        .push_bind(2i16)
                        .push_bind(false)
                        .push("ST_SetSRID(ST_MakePoint(")
                        .push_bind_unseparated(*lon)
                        .push_unseparated(", ")
                        .push_bind_unseparated(*lat)
                        .push_unseparated("), 4326)")
                        .push_bind(j.township_code.clone())
                        .push_bind(j.grid_code.clone())
                        .push_bind(serde_json::to_string(j).expect("serialises"))
                        .push_unseparated("::jsonb");
                });
                q.push(" on conflict (source, source_id) do nothing");
                let done = q.build().execute(&mut *conn).await?;
                created += done.rows_affected();
            }
            Ok(created)
        }
    })
    .await
}

/// lianqin's own store call without HTTP: `store::incidents::insert_batch`
/// with rows located in-process, from `clients` concurrent tasks.
async fn direct_window(
    pool: &PgPool,
    ctx: &Ctx,
    batch: usize,
    clients: usize,
    window: Duration,
) -> anyhow::Result<f64> {
    closed_loop(clients, window, |c, deadline| {
        let (pool, ctx) = (pool.clone(), ctx.clone());
        async move {
            let mut rng = SmallRng::seed_from_u64(c as u64 ^ next_ids(0) ^ 0xd1);
            let mut created = 0u64;
            while Instant::now() < deadline {
                let first = next_ids(batch);
                let now = chrono::Utc::now();
                let located: Vec<(NewIncident, JurisdictionSummary)> = (0..batch)
                    .map(|k| {
                        let (lon, lat) = ctx.point(&mut rng);
                        let position = Position::new(lon, lat).expect("in range");
                        let j = JurisdictionSummary::from(&ctx.index.locate(position));
                        let n = NewIncident {
                            source: Source::Police110,
                            source_id: format!("direct-{}", first + k as u64),
                            reported_at: now,
                            position: Some(position),
                            category: Some("bench".into()),
                            description: Some("benchmark incident".into()),
                            address: None,
                            priority: Some(2),
                            demo: false,
                            detail: Default::default(),
                            raw: None,
                        };
                        (n, j)
                    })
                    .collect();
                let stored = lianqin::store::incidents::insert_batch(&pool, &located).await?;
                created += stored.iter().filter(|s| s.created).count() as u64;
            }
            Ok(created)
        }
    })
    .await
}
