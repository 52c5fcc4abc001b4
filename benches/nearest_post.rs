//! Nearest police post: in-process `index.nearest_post` against Redis
//! `GEOSEARCH key FROMLONLAT lon lat BYRADIUS … ASC COUNT 1` over the same
//! posts. Redis is the real peer; if it is not reachable the Redis rows are
//! skipped, not failed. No database needed: the layers come from the files.
//!
//! `cargo bench --bench nearest_post` (env: LIANQIN_BENCH_REDIS_URL, default
//! redis://127.0.0.1:6379/, LIANQIN_BENCH_REPS).

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use common::{fmt_rate, median};
use lianqin::domain::Position;
use lianqin::spatial::{haversine_m, JurisdictionIndex};
use rand::{rngs::SmallRng, Rng, SeedableRng};

const N: usize = 100_000;
const REDIS_SEQ: usize = 5_000;
const REDIS_PIPE: usize = 50_000;
const PIPE: usize = 1_000;
const CHECK: usize = 5_000;

fn main() -> anyhow::Result<()> {
    common::runtime().block_on(run())
}

async fn run() -> anyhow::Result<()> {
    common::print_machine("Nearest police post", None).await;
    let reps = common::reps(7);
    let layers = common::layers_from_files()?;
    let index = JurisdictionIndex::build(&layers);
    let [w, s, e, n] = index.district_bbox().expect("district loaded");
    let mut rng = SmallRng::seed_from_u64(21);
    let points: Vec<Position> = (0..N)
        .map(|_| Position::new(rng.gen_range(w..e), rng.gen_range(s..n)).expect("in range"))
        .collect();
    println!(
        "{} posts; {N} seeded random points in the district bbox; {reps} repetitions, interleaved.\n",
        layers.posts.len()
    );

    let mut ours = Vec::new();
    // warm-up
    for p in points.iter().take(10_000) {
        black_box(index.nearest_post(*p));
    }

    let url = std::env::var("LIANQIN_BENCH_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379/".into());
    let key = format!("lianqin_bench:{}:posts", std::process::id());
    let redis = match connect(&url).await {
        Ok(c) => Some(c),
        Err(e) => {
            println!("Redis at {url} not reachable ({e}): Redis rows skipped.\n");
            None
        }
    };
    let (mut seq, mut piped) = (Vec::new(), Vec::new());
    if let Some(mut con) = redis.clone() {
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
        println!("Redis {version} at {url}.\n");
        let _: () = redis::cmd("DEL").arg(&key).query_async(&mut con).await?;
        for p in &layers.posts {
            let _: i64 = redis::cmd("GEOADD")
                .arg(&key)
                .arg(p.point.x())
                .arg(p.point.y())
                .arg(&p.code)
                .query_async(&mut con)
                .await?;
        }
        geosearch_seq(&mut con, &key, &points[..200]).await?;
    }

    for _ in 0..reps {
        let t = Instant::now();
        for p in &points {
            black_box(index.nearest_post(black_box(*p)));
        }
        ours.push(N as f64 / t.elapsed().as_secs_f64());
        if let Some(mut con) = redis.clone() {
            let t = Instant::now();
            geosearch_seq(&mut con, &key, &points[..REDIS_SEQ]).await?;
            seq.push(REDIS_SEQ as f64 / t.elapsed().as_secs_f64());
            let t = Instant::now();
            geosearch_pipe(&mut con, &key, &points[..REDIS_PIPE]).await?;
            piped.push(REDIS_PIPE as f64 / t.elapsed().as_secs_f64());
        }
    }

    let base = median(&ours);
    println!("| variant | points / rep | median lookups/s | in-process ÷ this |");
    println!("|---|---:|---:|---:|");
    println!(
        "| in-process `index.nearest_post(p)` (R-tree + haversine re-rank), 1 thread | {} | {} | 1.0× |",
        fmt_rate(N as f64),
        fmt_rate(base)
    );
    if redis.is_some() {
        for (name, pts, r) in [
            (
                "Redis `GEOSEARCH … ASC COUNT 1`, one command per point, 1 connection",
                REDIS_SEQ,
                &seq,
            ),
            (
                &*format!("Redis `GEOSEARCH`, pipelined {PIPE} per round trip, 1 connection"),
                REDIS_PIPE,
                &piped,
            ),
        ] {
            let m = median(r);
            println!(
                "| {name} | {} | {} | {:.1}× |",
                fmt_rate(pts as f64),
                fmt_rate(m),
                base / m
            );
        }
    } else {
        println!("| Redis `GEOSEARCH` | – | skipped: Redis not reachable | – |");
    }

    if let Some(mut con) = redis {
        // agreement: Redis stores geohash-quantised coordinates (~0.6 m), so
        // points almost equidistant from two posts may legitimately differ
        let (mut same, mut tie, mut differ) = (0, 0, 0);
        let got = geosearch_pipe(&mut con, &key, &points[..CHECK]).await?;
        for (p, theirs) in points[..CHECK].iter().zip(got) {
            let o = index.nearest_post(*p).expect("posts loaded");
            match theirs.first() {
                Some(code) if *code == o.code => same += 1,
                Some(code) => {
                    let post = layers
                        .posts
                        .iter()
                        .find(|s| s.code == *code)
                        .expect("known");
                    let d = haversine_m(p.lon(), p.lat(), post.point.x(), post.point.y());
                    if (d - o.distance_m).abs() < 2.0 {
                        tie += 1
                    } else {
                        differ += 1
                    }
                }
                None => differ += 1,
            }
        }
        println!(
            "\nAgreement on {CHECK} points: {same} same post, {tie} different post within 2 m of a tie, {differ} real disagreements."
        );
        let _: () = redis::cmd("DEL").arg(&key).query_async(&mut con).await?;
    }
    println!();
    Ok(())
}

async fn connect(url: &str) -> anyhow::Result<redis::aio::MultiplexedConnection> {
    let client = redis::Client::open(url)?;
    let con = tokio::time::timeout(
        Duration::from_secs(2),
        client.get_multiplexed_async_connection(),
    )
    .await
    .map_err(|_| anyhow::anyhow!("timed out"))??;
    Ok(con)
}

fn geosearch(key: &str, p: &Position) -> redis::Cmd {
    let mut c = redis::cmd("GEOSEARCH");
    c.arg(key)
        .arg("FROMLONLAT")
        .arg(p.lon())
        .arg(p.lat())
        .arg("BYRADIUS")
        .arg(500)
        .arg("km")
        .arg("ASC")
        .arg("COUNT")
        .arg(1);
    c
}

async fn geosearch_seq(
    con: &mut redis::aio::MultiplexedConnection,
    key: &str,
    points: &[Position],
) -> anyhow::Result<()> {
    for p in points {
        let r: Vec<String> = geosearch(key, p).query_async(con).await?;
        black_box(r);
    }
    Ok(())
}

async fn geosearch_pipe(
    con: &mut redis::aio::MultiplexedConnection,
    key: &str,
    points: &[Position],
) -> anyhow::Result<Vec<Vec<String>>> {
    let mut out = Vec::with_capacity(points.len());
    for chunk in points.chunks(PIPE) {
        let mut pipe = redis::pipe();
        for p in chunk {
            pipe.add_command(geosearch(key, p));
        }
        let r: Vec<Vec<String>> = pipe.query_async(con).await?;
        out.extend(r);
    }
    Ok(out)
}
